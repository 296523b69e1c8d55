//! Building responses: JSON bodies, SSE bodies, and errors in the client's own format.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use switchyard_hub::{ApiError, Format};

/// Why a response body broke off: hyper then aborts the connection (a reset, or a chunked
/// body left without its last chunk), so a client never takes a cut answer for a whole one.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub const REQUEST_ID: &str = "x-request-id";

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn bytes(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(full(body));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

pub fn json(status: u16, value: &Value) -> Response<Body> {
    bytes(status, "application/json", value.to_string())
}

pub fn error(err: &ApiError, format: Format) -> Response<Body> {
    with_retry_after(json(err.status, &err.body(format)), err.retry_after)
}

pub fn with_retry_after(mut res: Response<Body>, secs: Option<u64>) -> Response<Body> {
    if let Some(v) = secs.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        res.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    res
}

pub fn sse(body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

pub fn with_request_id(res: Response<Body>, id: &str) -> Response<Body> {
    with_header(res, REQUEST_ID, id)
}

pub fn with_header(mut res: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
    res
}
