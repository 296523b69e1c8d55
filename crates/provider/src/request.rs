//! Pieces every executor's upstream request shares.

use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use switchyard_auth::Secret;
use switchyard_hub::ApiError;

use crate::executor::{ProviderSettings, UpstreamRequest};

/// Content type, accept, identity encoding, user agent and the provider's extra headers.
pub fn base_headers(settings: &ProviderSettings, stream: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    // Compressed SSE would have to be buffered to be decoded; plain bytes stream as they come.
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Some(ua) = &settings.user_agent
        && let Ok(v) = HeaderValue::from_str(ua)
    {
        headers.insert(USER_AGENT, v);
    }
    for (name, value) in &settings.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    headers
}

/// A header value carrying a secret, flagged so HTTP/2 never indexes it and logs skip it.
pub fn secret_value(prefix: &str, secret: &Secret) -> Result<HeaderValue, ApiError> {
    let mut v = HeaderValue::from_str(&format!("{prefix}{}", secret.expose())).map_err(|_| {
        ApiError::internal("account credential contains characters not allowed in a header")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A GET of `url` (a model list), with no body.
pub fn get(url: String, mut headers: HeaderMap) -> UpstreamRequest {
    headers.remove(CONTENT_TYPE);
    UpstreamRequest {
        method: Method::GET,
        url,
        headers,
        body: bytes::Bytes::new(),
    }
}

/// A JSON POST of `body` to `url`.
pub fn post_json(
    url: String,
    headers: HeaderMap,
    body: &Value,
) -> Result<UpstreamRequest, ApiError> {
    let body = serde_json::to_vec(body)
        .map_err(|e| ApiError::internal(format!("could not encode request: {e}")))?;
    Ok(UpstreamRequest {
        method: Method::POST,
        url,
        headers,
        body: body.into(),
    })
}

/// The body as an object, to set the fields an executor owns.
pub fn object_mut(body: &mut Value) -> Result<&mut serde_json::Map<String, Value>, ApiError> {
    body.as_object_mut()
        .ok_or_else(|| ApiError::invalid_request("request body must be a JSON object"))
}
