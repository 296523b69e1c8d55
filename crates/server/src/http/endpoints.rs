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
            match client_auth::authorize_metrics(&app.snapshot().config, req.headers(), peer) {
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
            let live = app.snapshot();
            match client_auth::authenticate(&live.config.client_keys, req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&live, format)),
                Err(e) => respond::error(&e, format),
            }
        }
        ("/v1beta/models", &Method::GET) => {
            let live = app.snapshot();
            match client_auth::authenticate(&live.config.client_keys, req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&live, Format::Gemini)),
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
/// carry the model in the path, are read by `gemini_route`.
fn proxied(path: &str) -> Option<Endpoint> {
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
    })
}

/// Admin routes take only the admin key, and only when one is configured.
fn admin(app: &App, headers: &http::HeaderMap) -> Result<(), ApiError> {
    let live = app.snapshot();
    let Some(key) = &live.config.admin_key else {
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
}
