use serde_json::{Value, json};

use crate::format::Format;

/// What went wrong, in terms every client format has a word for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    /// The upstream failed (5xx, connection failure, broken stream).
    Upstream,
    Timeout,
    Overloaded,
    Internal,
}

impl ErrorKind {
    /// The short class recorded in the usage table.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::PermissionDenied => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind an upstream HTTP status most likely means.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            402 | 403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            529 => ErrorKind::Overloaded,
            _ => ErrorKind::Upstream,
        }
    }

    /// The `type` OpenAI's error bodies (and the formats that borrow its shape) give `self`.
    pub const fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Upstream | ErrorKind::Internal => "api_error",
        }
    }
}

/// How a format shapes an error: the body of a failed answer and, for a stream that breaks
/// after it began, the event that reports it and the event that ends the stream. Each
/// format declares its own in its [`crate::wire::WireFormat`].
#[derive(Clone, Copy, Debug)]
pub struct ErrorShape {
    pub body: fn(&ApiError) -> Value,
    /// `None`: the body, sent as a plain data event.
    pub stream_event: Option<fn(&ApiError) -> crate::stream::StreamEvent>,
    /// `None`: the stream event. A Responses client (Codex) ignores a bare `error` event
    /// and waits for `response.*` to end the turn, so its format ends on `response.failed`.
    pub stream_end: Option<fn(&ApiError) -> crate::stream::StreamEvent>,
}

impl ErrorShape {
    /// OpenAI's error body, also used by the formats that borrow its shape.
    pub const OPENAI: ErrorShape = ErrorShape {
        body: openai_body,
        stream_event: None,
        stream_end: None,
    };
}

fn openai_body(e: &ApiError) -> Value {
    json!({
        "error": {
            "message": e.message,
            "type": e.kind.openai_type(),
            "param": Value::Null,
            "code": e.code,
        },
    })
}

/// An error on its way to a client: status, kind and a message that is safe to show.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{status} {}: {message}", kind.as_str())]
pub struct ApiError {
    pub status: u16,
    pub kind: ErrorKind,
    pub message: String,
    /// A machine-readable code, e.g. `model_not_found`.
    pub code: Option<&'static str>,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorKind::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, ErrorKind::Internal, message)
    }

    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, ErrorKind::Upstream, message)
    }

    /// The error body in `format`'s own shape.
    pub fn body(&self, format: Format) -> Value {
        (crate::wire::errors(format).body)(self)
    }
}

impl ApiError {
    /// The error as a stream event in `format`, for a stream that breaks after it began.
    pub fn stream_event(&self, format: Format) -> crate::stream::StreamEvent {
        let shape = crate::wire::errors(format);
        match shape.stream_event {
            Some(event) => event(self),
            None => crate::stream::StreamEvent::hub((shape.body)(self)),
        }
    }

    /// The error as the last event of a stream in `format`: what a client waiting for its
    /// format's terminal event takes as the end.
    pub fn stream_end(&self, format: Format) -> crate::stream::StreamEvent {
        match crate::wire::errors(format).stream_end {
            Some(end) => end(self),
            None => self.stream_event(format),
        }
    }
}

/// A translation failure. Request-side failures are the client's; response-side ones the
/// provider's.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TranslateError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("no {kind} translator from {from} to {to}")]
    Missing {
        kind: &'static str,
        from: Format,
        to: Format,
    },
    #[error("upstream sent a malformed response: {0}")]
    BadUpstream(String),
    /// The upstream reported an error inside a stream it had begun with a success status
    /// (an AWS event-stream exception frame, a Connect error frame): it keeps the status and
    /// kind the upstream meant, so throttling stays a rate-limit error (429) and the account
    /// can be cooled down, instead of becoming a generic 502.
    #[error("{}", .0.message)]
    Upstream(ApiError),
}

impl TranslateError {
    /// The client sent something no translation can carry (a 400 in the client's format).
    pub fn invalid(message: impl Into<String>) -> Self {
        TranslateError::InvalidRequest(message.into())
    }

    /// The upstream sent something that is not what its format promises (a 502).
    pub fn bad_upstream(message: impl Into<String>) -> Self {
        TranslateError::BadUpstream(message.into())
    }
}

impl From<TranslateError> for ApiError {
    fn from(e: TranslateError) -> Self {
        match e {
            TranslateError::InvalidRequest(m) => ApiError::invalid_request(m),
            TranslateError::Missing { .. } => {
                ApiError::new(501, ErrorKind::InvalidRequest, e.to_string())
                    .with_code("unsupported_format_pair")
            }
            TranslateError::BadUpstream(_) => ApiError::bad_gateway(e.to_string()),
            TranslateError::Upstream(err) => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_each_format() {
        let e = ApiError::not_found("model `x` not found").with_code("model_not_found");
        let o = e.body(Format::OpenAi);
        assert_eq!(o["error"]["type"], "not_found_error");
        assert_eq!(o["error"]["code"], "model_not_found");
        let c = e.body(Format::Claude);
        assert_eq!(c["type"], "error");
        assert_eq!(c["error"]["type"], "not_found_error");
        let g = e.body(Format::Gemini);
        assert_eq!(g["error"]["status"], "NOT_FOUND");
        assert_eq!(g["error"]["code"], 404);
    }

    #[test]
    fn upstream_errors_keep_their_status_and_kind() {
        let e = TranslateError::Upstream(ApiError::new(429, ErrorKind::RateLimited, "throttled"));
        assert_eq!(e.to_string(), "throttled");
        let api = ApiError::from(e);
        assert_eq!((api.status, api.kind), (429, ErrorKind::RateLimited));
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Upstream);
        assert_eq!(ErrorKind::from_status(401), ErrorKind::Authentication);
    }
}
