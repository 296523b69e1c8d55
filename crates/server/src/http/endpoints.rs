//! The endpoint table: which path speaks which client format, and the few answered here
//! (health, metrics, model lists, the accounts report and reset).

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use switchyard_hub::{ApiError, ErrorKind, Format};

use crate::http::respond::{self, Body};
use crate::http::{client_auth, reset};
use crate::request::resolve;
use crate::request::{self, Endpoint, EndpointKind};
use crate::state::app::App;

pub async fn dispatch(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if method == Method::POST
        && let Some(endpoint) = proxied(&path)
    {
        return request::handle(app, req, peer, endpoint).await;
    }
    match (path.as_str(), &method) {
        ("/health", &Method::GET) => respond::json(200, &json!({"status": "ok"})),
        ("/metrics", &Method::GET) => {
            match client_auth::authorize_metrics(&app.config, req.headers(), peer) {
                Ok(()) => respond::bytes(200, "text/plain; version=0.0.4", app.metrics.render()),
                Err(e) => respond::error(&e, Format::OpenAi),
            }
        }
        // Claude Code pre-connects with `HEAD /` and ignores the answer.
        ("/", &Method::HEAD | &Method::GET) => respond::json(200, &json!({"name": "switchyard"})),
        ("/v1/models" | "/models", &Method::GET) => {
            // The Anthropic SDKs list models at the same path, in their own shape.
            let claude = req.headers().contains_key("anthropic-version");
            let format = if claude {
                Format::Claude
            } else {
                Format::OpenAi
            };
            match client_auth::authenticate(&app.config.client_keys, req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&app, format)),
                Err(e) => respond::error(&e, format),
            }
        }
        ("/v1beta/models", &Method::GET) => {
            match client_auth::authenticate(&app.config.client_keys, req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&app, Format::Gemini)),
                Err(e) => respond::error(&e, Format::Gemini),
            }
        }
        (p, &Method::POST) if p.starts_with("/v1beta/models/") => {
            match gemini_route(p.trim_start_matches("/v1beta/models/")) {
                Some(route) => request::handle(app, req, peer, route).await,
                None => respond::error(
                    &ApiError::not_found(format!("no Gemini method at {p}; use :generateContent, :streamGenerateContent or :countTokens"))
                        .with_code("unknown_route"),
                    Format::Gemini,
                ),
            }
        }
        ("/api/accounts", &Method::GET) => match admin(&app, req.headers()) {
            Ok(()) => respond::json(200, &app.accounts_report()),
            Err(e) => respond::error(&e, Format::OpenAi),
        },
        ("/api/accounts/reset", &Method::POST) => match admin(&app, req.headers()) {
            Ok(()) => reset::handle(app, req, peer).await,
            Err(e) => respond::error(&e, Format::OpenAi),
        },
        ("/health" | "/v1/models" | "/models" | "/v1beta/models" | "/api/accounts", _) => {
            not_allowed("GET")
        }
        ("/api/accounts/reset", _) => not_allowed("POST"),
        (
            "/v1/chat/completions"
            | "/chat/completions"
            | "/v1/responses"
            | "/responses"
            | "/v1/messages"
            | "/v1/messages/count_tokens",
            _,
        ) => not_allowed("POST"),
        _ => respond::error(
            &ApiError::not_found(format!("no route for {method} {path}"))
                .with_code("unknown_route"),
            Format::OpenAi,
        ),
    }
}

/// The proxied endpoints (POST): which path speaks which client format. Gemini's, which
/// carry the model in the path, are read by `gemini_route`; `/v1/providers/{name}/...`
/// pins a provider (tools that pick the provider in the URL), and
/// `/openai/deployments/{name}/chat/completions` is Azure OpenAI's shape (clients that only
/// offer an Azure base URL), the deployment naming the model.
fn proxied(path: &str) -> Option<Endpoint> {
    if let Some(rest) = path.strip_prefix("/v1/providers/") {
        let (provider, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("v1/").unwrap_or(rest);
        let mut endpoint = match rest.strip_prefix("v1beta/models/") {
            Some(gemini) => gemini_route(gemini)?,
            None => proxied(&format!("/v1/{rest}"))?,
        };
        endpoint.pinned = Some(percent_decoded(provider)?);
        return Some(endpoint);
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        let deployment = rest.strip_suffix("/chat/completions")?;
        return Some(Endpoint {
            client: Format::OpenAi,
            kind: EndpointKind::Generate,
            path_model: Some(percent_decoded(deployment)?).filter(|d| !d.is_empty()),
            path_stream: None,
            pinned: None,
        });
    }
    let (client, kind) = match path {
        "/v1/chat/completions" | "/chat/completions" => (Format::OpenAi, EndpointKind::Generate),
        "/v1/responses" | "/responses" => (Format::Responses, EndpointKind::Generate),
        "/v1/messages" => (Format::Claude, EndpointKind::Generate),
        "/v1/messages/count_tokens" => (Format::Claude, EndpointKind::CountTokens),
        _ => return None,
    };
    Some(Endpoint {
        client,
        kind,
        path_model: None,
        path_stream: None,
        pinned: None,
    })
}

/// A path segment with its `%XX` escapes decoded (a model or provider name may carry a `/`
/// or a space); `None` when it is not UTF-8 once decoded.
fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|h| (*h as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Admin routes take only the admin key, and only when one is configured.
fn admin(app: &App, headers: &http::HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &app.config.admin_key else {
        return Err(ApiError::new(
            403,
            ErrorKind::PermissionDenied,
            "the admin API is off: set server.admin_key_env",
        ));
    };
    let presented = client_auth::bearer(headers)
        .or_else(|| headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii()));
    match presented {
        Some(p) if key.matches(p) => Ok(()),
        _ => Err(ApiError::new(
            401,
            ErrorKind::Authentication,
            "admin key required",
        )),
    }
}

/// `{model}:{method}` of a Gemini path.
fn gemini_route(rest: &str) -> Option<Endpoint> {
    let (model, method) = rest.rsplit_once(':')?;
    let (kind, stream) = match method {
        "generateContent" => (EndpointKind::Generate, false),
        "streamGenerateContent" => (EndpointKind::Generate, true),
        "countTokens" => (EndpointKind::CountTokens, false),
        _ => return None,
    };
    Some(Endpoint {
        client: Format::Gemini,
        kind,
        path_model: Some(model.to_owned()),
        path_stream: Some(stream),
        pinned: None,
    })
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let err = ApiError::new(
        405,
        ErrorKind::InvalidRequest,
        format!("method not allowed; use {allow}"),
    )
    .with_code("method_not_allowed");
    let mut res = respond::error(&err, Format::OpenAi);
    res.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_paths_name_model_and_method() {
        let r = gemini_route("gemini-2.5-flash:streamGenerateContent").unwrap();
        assert_eq!(r.path_model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(r.path_stream, Some(true));
        assert!(matches!(
            gemini_route("m:countTokens").unwrap().kind,
            EndpointKind::CountTokens
        ));
        assert!(gemini_route("m:embed").is_none());
        assert!(gemini_route("no-method").is_none());
    }

    #[test]
    fn provider_and_azure_paths_pin_a_provider_or_name_the_model() {
        let e = proxied("/v1/providers/my%20openai/chat/completions").unwrap();
        assert_eq!(
            (e.client, e.pinned.as_deref()),
            (Format::OpenAi, Some("my openai"))
        );
        let e = proxied("/v1/providers/an/v1/messages/count_tokens").unwrap();
        assert_eq!(
            (e.client, e.kind),
            (Format::Claude, EndpointKind::CountTokens)
        );
        assert_eq!(
            proxied("/v1/providers/re/responses").unwrap().client,
            Format::Responses
        );
        let e = proxied("/v1/providers/ge/v1beta/models/gemini-2.5-flash:streamGenerateContent")
            .unwrap();
        assert_eq!(
            (e.client, e.pinned.as_deref(), e.path_stream),
            (Format::Gemini, Some("ge"), Some(true))
        );
        assert!(proxied("/v1/providers/x/embeddings").is_none());
        assert!(proxied("/v1/providers/x").is_none());
        let e = proxied("/openai/deployments/fake/gpt-test/chat/completions").unwrap();
        assert_eq!(
            (e.client, e.path_model.as_deref()),
            (Format::OpenAi, Some("fake/gpt-test"))
        );
        assert_eq!(
            proxied("/openai/deployments/a%2Fb/chat/completions")
                .unwrap()
                .path_model
                .as_deref(),
            Some("a/b")
        );
        assert!(
            proxied("/openai/deployments//chat/completions")
                .unwrap()
                .path_model
                .is_none()
        );
        assert!(proxied("/openai/deployments/x/embeddings").is_none());
    }
}
