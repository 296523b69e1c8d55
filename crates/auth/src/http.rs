//! The HTTP seam: flows here send requests through [`HttpSend`], which the provider crate's
//! pooled TLS client implements (tests use a plain one). [`OAuthHttp`] adapts it to the
//! `oauth2` crate.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

pub type HttpResult = Result<http::Response<Vec<u8>>, std::io::Error>;
pub type HttpFuture<'a> = Pin<Box<dyn Future<Output = HttpResult> + Send + 'a>>;

/// Sends one request and reads the whole answer.
pub trait HttpSend: Send + Sync {
    fn send(&self, request: http::Request<Vec<u8>>) -> HttpFuture<'_>;
}

/// `HttpSend` as an `oauth2` HTTP client, smoothing two quirks real token endpoints have:
/// an error answered with status 200 (GitHub) is shown to the crate as the 400 the RFC
/// specifies, and a token answer without the `token_type` the crate requires gets `Bearer`.
pub struct OAuthHttp<'a>(pub &'a dyn HttpSend);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = std::io::Error;
    type Future = HttpFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let res = self.0.send(request).await?;
            Ok(normalize_token_answer(res))
        })
    }
}

fn normalize_token_answer(res: http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
    if res.status() != http::StatusCode::OK {
        return res;
    }
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(res.body()) else {
        return res;
    };
    let (mut parts, _) = res.into_parts();
    if obj.get("error").is_some_and(Value::is_string) && !obj.contains_key("access_token") {
        parts.status = http::StatusCode::BAD_REQUEST;
    } else if obj.contains_key("access_token") && !obj.contains_key("token_type") {
        obj.insert("token_type".into(), Value::String("Bearer".into()));
    }
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&Value::Object(obj)).unwrap_or_default();
    http::Response::from_parts(parts, body)
}

/// A POST of `body` as JSON.
pub fn json_request(
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, crate::AuthError> {
    let mut b = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(serde_json::to_vec(body).unwrap_or_default())
        .map_err(|e| crate::AuthError::Invalid(format!("bad request to {url}: {e}")))
}

/// A POST of `pairs` as `application/x-www-form-urlencoded`.
pub fn form_request(
    url: &str,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, crate::AuthError> {
    let body = oauth2::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut b = http::Request::post(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into_bytes())
        .map_err(|e| crate::AuthError::Invalid(format!("bad request to {url}: {e}")))
}

/// The answer's body as JSON (`Null` when it is not JSON).
pub fn body_json(res: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(res.body()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sent_with_200_become_400_and_token_type_is_filled_in() {
        let res = http::Response::new(br#"{"error":"authorization_pending"}"#.to_vec());
        assert_eq!(normalize_token_answer(res).status(), 400);
        let res = http::Response::new(br#"{"access_token":"t","expires_in":5}"#.to_vec());
        let fixed = normalize_token_answer(res);
        assert_eq!(fixed.status(), 200);
        assert_eq!(body_json(&fixed)["token_type"], "Bearer");
    }
}
