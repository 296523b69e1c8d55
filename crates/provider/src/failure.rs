//! What an upstream failure means for what happens next.

use std::time::Duration;

use switchyard_hub::{ApiError, ErrorKind};

/// What kind of failure it was, which decides what happens next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// The request itself is wrong: every account would say the same, so it goes back to
    /// the client and no account is blamed.
    Request,
    /// The prompt does not fit this model: another combo target may take it.
    ContextOverflow,
    /// This provider will not serve this kind of request on any account (a subscription
    /// login that serves only its own client's traffic): the next target may, and no
    /// account is blamed.
    NotServed,
    /// The credential was refused.
    Auth,
    /// A rate or quota limit: the account cools down for the hint, or a backoff.
    RateLimit,
    /// The provider is unwell (5xx, timeout, reset): try another account, then target.
    Transient,
}

impl FailureClass {
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::Request => "request",
            FailureClass::ContextOverflow => "context_overflow",
            FailureClass::NotServed => "not_served",
            FailureClass::Auth => "auth",
            FailureClass::RateLimit => "rate_limit",
            FailureClass::Transient => "transient",
        }
    }
}

/// A failed attempt, classified.
#[derive(Clone, Debug)]
pub struct Failure {
    pub error: ApiError,
    /// The upstream's own error body, passed through to the client when it has one.
    pub upstream_body: Option<bytes::Bytes>,
    pub class: FailureClass,
    /// The provider's own hint of when to try again.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// An HTTP error answer from the upstream, with the reset hint its headers give.
    pub fn from_response(status: u16, headers: &http::HeaderMap, body: bytes::Bytes) -> Self {
        let hint = reset_hint(headers, &body);
        Self::from_status(status, body, hint)
    }

    /// An HTTP error answer from the upstream.
    pub fn from_status(status: u16, body: bytes::Bytes, retry_after: Option<Duration>) -> Self {
        let message = upstream_message(&body)
            .unwrap_or_else(|| format!("upstream answered with status {status}"));
        let lower = String::from_utf8_lossy(&body).to_ascii_lowercase();
        let quota = QUOTA_WORDS.iter().any(|w| lower.contains(w));
        let class = match status {
            400 | 413 | 422 if CONTEXT_WORDS.iter().any(|w| lower.contains(w)) => {
                FailureClass::ContextOverflow
            }
            401 | 403 => FailureClass::Auth,
            402 | 429 => FailureClass::RateLimit,
            // Some providers report an exhausted quota as a 400 or 404.
            400 | 404 if quota => FailureClass::RateLimit,
            408 | 409 | 425 | 500..=599 => FailureClass::Transient,
            _ => FailureClass::Request,
        };
        let kind = match class {
            FailureClass::RateLimit => ErrorKind::RateLimited,
            _ => ErrorKind::from_status(status),
        };
        Failure {
            error: ApiError::new(status, kind, message),
            upstream_body: Some(body),
            class,
            retry_after: retry_after.or_else(|| body_reset_hint(&lower)),
        }
    }

    /// The upstream could not be reached or broke before answering.
    pub fn connection(message: impl Into<String>) -> Self {
        Failure {
            error: ApiError::bad_gateway(message),
            upstream_body: None,
            class: FailureClass::Transient,
            retry_after: None,
        }
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Failure {
            error: ApiError::new(504, ErrorKind::Timeout, message),
            upstream_body: None,
            class: FailureClass::Transient,
            retry_after: None,
        }
    }

    /// An error the upstream reported inside a stream it began with success (a Kiro
    /// exception frame, a Cursor end-of-stream error), classified by what it means.
    pub fn from_error(error: ApiError) -> Self {
        let class = match error.kind {
            ErrorKind::RateLimited => FailureClass::RateLimit,
            ErrorKind::Authentication | ErrorKind::PermissionDenied => FailureClass::Auth,
            ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge | ErrorKind::NotFound => {
                FailureClass::Request
            }
            ErrorKind::Upstream
            | ErrorKind::Timeout
            | ErrorKind::Overloaded
            | ErrorKind::Internal => FailureClass::Transient,
        };
        let retry_after = error.retry_after.map(Duration::from_secs);
        Failure {
            error,
            upstream_body: None,
            class,
            retry_after,
        }
    }

    /// A failure of ours or of the request before anything was sent.
    pub fn request(error: ApiError) -> Self {
        Failure {
            error,
            upstream_body: None,
            class: FailureClass::Request,
            retry_after: None,
        }
    }

    /// Whether another account or target might succeed where this one failed.
    pub fn fallback(&self) -> bool {
        self.class != FailureClass::Request
    }
}

/// Words with which providers say a prompt is longer than the model takes.
const CONTEXT_WORDS: [&str; 6] = [
    "context_length_exceeded",
    "context length",
    "context window",
    "prompt is too long",
    "maximum context",
    "too many tokens",
];

/// Words with which providers say a quota, not the request, is the problem.
const QUOTA_WORDS: [&str; 5] = [
    "insufficient_quota",
    "quota exceeded",
    "usage_limit_reached",
    "resource_exhausted",
    "rate limit",
];

/// The human message inside an upstream error body, in any of the common shapes.
fn upstream_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))?;
    msg.as_str().map(str::to_owned)
}

/// The provider's hint of when to try again, from its headers: `Retry-After` (seconds),
/// `x-ratelimit-reset*` (`6m0s`, `1.5s`, `20ms` or seconds), `retry-after-ms`.
pub fn reset_hint(headers: &http::HeaderMap, body: &[u8]) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    if let Some(v) = header("retry-after")
        && let Some(d) = parse_duration(v)
    {
        return Some(d);
    }
    // Several reset headers (requests, tokens): the latest one is when both allow again.
    let resets = [
        "x-ratelimit-reset",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    ]
    .iter()
    .filter_map(|h| header(h).and_then(parse_duration))
    .max();
    resets.or_else(|| body_reset_hint(&String::from_utf8_lossy(body).to_ascii_lowercase()))
}

/// Hints in an error body: Codex's `resets_at` / `resets_in_seconds`, or text such as
/// "reset after 2h7m23s" and "try again in 20s".
fn body_reset_hint(lower: &str) -> Option<Duration> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(lower) {
        let err = v.get("error").unwrap_or(&v);
        if let Some(secs) = err
            .get("resets_in_seconds")
            .and_then(serde_json::Value::as_f64)
        {
            return Some(Duration::from_secs_f64(secs.max(0.0)));
        }
        if let Some(at) = err.get("resets_at").and_then(serde_json::Value::as_u64) {
            let now = switchyard_hub::clock::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            return Some(Duration::from_secs(at.saturating_sub(now)));
        }
    }
    for marker in ["reset after ", "try again in ", "retry after ", "retry in "] {
        if let Some(at) = lower.find(marker) {
            let rest = lower.get(at + marker.len()..).unwrap_or_default();
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            if let Some(d) = parse_duration(token.trim_end_matches('.')) {
                return Some(d);
            }
        }
    }
    None
}

/// "30" (seconds), "1.5s", "20ms", "6m0s", "2h7m23s".
fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        // A large number is an epoch timestamp, not a delay.
        if secs > 1_000_000_000.0 {
            let now = switchyard_hub::clock::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            return Some(Duration::from_secs_f64((secs - now).max(0.0)));
        }
        return (secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let value: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * unit;
        any = true;
    }
    (any && num.is_empty()).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(status: u16, body: &str) -> Failure {
        Failure::from_status(status, bytes::Bytes::from(body.to_owned()), None)
    }

    #[test]
    fn classifies_statuses_and_bodies() {
        let f = fail(429, "{\"error\":{\"message\":\"slow down\"}}");
        assert_eq!(f.class, FailureClass::RateLimit);
        assert_eq!(f.error.message, "slow down");
        assert_eq!(f.error.kind, ErrorKind::RateLimited);
        let f = fail(400, "not json");
        assert_eq!(f.class, FailureClass::Request);
        assert!(!f.fallback());
        assert_eq!(f.error.message, "upstream answered with status 400");
        assert_eq!(
            fail(400, "{\"error\":{\"code\":\"context_length_exceeded\"}}").class,
            FailureClass::ContextOverflow
        );
        assert_eq!(fail(401, "").class, FailureClass::Auth);
        assert_eq!(fail(503, "").class, FailureClass::Transient);
        assert_eq!(
            fail(
                400,
                "{\"error\":{\"message\":\"Quota exceeded for model\"}}"
            )
            .class,
            FailureClass::RateLimit
        );
    }

    #[test]
    fn reads_reset_hints() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(reset_hint(&h, b""), Some(Duration::from_secs(7)));
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-reset-requests", "1.5s".parse().unwrap());
        h.insert("x-ratelimit-reset-tokens", "6m0s".parse().unwrap());
        assert_eq!(reset_hint(&h, b""), Some(Duration::from_secs(360)));
        let none = http::HeaderMap::new();
        assert_eq!(
            reset_hint(
                &none,
                b"{\"error\":{\"type\":\"usage_limit_reached\",\"resets_in_seconds\":90}}"
            ),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            reset_hint(&none, b"quota hit, reset after 2h7m23s"),
            Some(Duration::from_secs(7643))
        );
        assert_eq!(
            reset_hint(&none, b"Please try again in 20ms."),
            Some(Duration::from_millis(20))
        );
        assert_eq!(reset_hint(&none, b"nothing here"), None);
    }
}
