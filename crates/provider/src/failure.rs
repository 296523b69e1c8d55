//! What an upstream failure means for what happens next.

use std::time::Duration;

use switchyard_hub::{ApiError, ErrorKind};

/// A failed attempt, classified.
#[derive(Clone, Debug)]
pub struct Failure {
    pub error: ApiError,
    /// The upstream's own error body, passed through to the client when it has one.
    pub upstream_body: Option<bytes::Bytes>,
    /// Whether trying another account or target can help.
    pub fallback: bool,
    /// The provider's own hint of when to try again.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// An HTTP error answer from the upstream.
    pub fn from_status(status: u16, body: bytes::Bytes, retry_after: Option<Duration>) -> Self {
        let kind = ErrorKind::from_status(status);
        let message = upstream_message(&body)
            .unwrap_or_else(|| format!("upstream answered with status {status}"));
        Failure {
            error: ApiError::new(status, kind, message),
            upstream_body: Some(body),
            // A malformed request fails the same way everywhere; anything about the
            // account, its limits or the provider's health may not.
            fallback: matches!(status, 401 | 402 | 403 | 408 | 429 | 500..=599),
            retry_after,
        }
    }

    /// The upstream could not be reached or broke before answering.
    pub fn connection(message: impl Into<String>) -> Self {
        Failure {
            error: ApiError::bad_gateway(message),
            upstream_body: None,
            fallback: true,
            retry_after: None,
        }
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Failure {
            error: ApiError::new(504, ErrorKind::Timeout, message),
            upstream_body: None,
            fallback: true,
            retry_after: None,
        }
    }
}

/// The human message inside an upstream error body, in any of the common shapes.
fn upstream_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))?;
    msg.as_str().map(str::to_owned)
}

/// Reads a `Retry-After` header given in seconds.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let f = Failure::from_status(
            429,
            bytes::Bytes::from_static(b"{\"error\":{\"message\":\"slow down\"}}"),
            None,
        );
        assert!(f.fallback);
        assert_eq!(f.error.message, "slow down");
        assert_eq!(f.error.kind, ErrorKind::RateLimited);
        let f = Failure::from_status(400, bytes::Bytes::from_static(b"not json"), None);
        assert!(!f.fallback);
        assert_eq!(f.error.message, "upstream answered with status 400");
    }
}
