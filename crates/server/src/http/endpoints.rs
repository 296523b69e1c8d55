//! The endpoint table: which path speaks which client format, and the few answered here
//! (health, metrics, model lists); the management API under `/api/` is [`crate::api`].

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use switchyard_hub::{ApiError, Format, Operation};

use crate::api::{self, not_allowed};
use crate::dashboard;
use crate::http::respond::{self, Body};
use crate::http::{client_auth, websocket};
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
    // Codex's Responses API over a WebSocket: the same path, upgraded.
    if method == Method::GET
        && websocket::wants_upgrade(req.headers())
        && let Some(endpoint) = proxied(&path)
            .filter(|e| e.client == Format::Responses && e.kind == EndpointKind::Generate)
    {
        return websocket::upgrade(app, req, peer, endpoint);
    }
    if method == Method::GET && request::video::is_get_route(&path) {
        return request::video::get(app, req, peer).await;
    }
    match (path.as_str(), &method) {
        ("/health", &Method::GET) => respond::json(200, &crate::cluster::health_body()),
        ("/metrics", &Method::GET) => {
            match client_auth::authorize_metrics(
                &app.snapshot().config,
                app.client_keys.any(),
                req.headers(),
                peer,
            ) {
                Ok(()) => respond::bytes(200, "text/plain; version=0.0.4", app.metrics.render()),
                Err(e) => respond::error(&e, Format::OpenAi),
            }
        }
        // Claude Code pre-connects with `HEAD /` and ignores the answer; a browser is sent on
        // to the dashboard.
        ("/", &Method::GET) if wants_html(req.headers()) => {
            let mut res = respond::bytes(303, "text/plain; charset=utf-8", "");
            res.headers_mut().insert(
                http::header::LOCATION,
                http::HeaderValue::from_static("/ui/"),
            );
            res
        }
        ("/", &Method::HEAD | &Method::GET) => respond::json(200, &json!({"name": "switchyard"})),
        (p, _) if p == "/ui" || p.starts_with("/ui/") => dashboard::dispatch(app, req, peer).await,
        ("/v1/models" | "/models", &Method::GET) => {
            // The Anthropic SDKs list models at the same path, in their own shape.
            let claude = req.headers().contains_key("anthropic-version");
            let format = if claude {
                Format::Claude
            } else {
                Format::OpenAi
            };
            match app.client_keys.authenticate(req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&app.snapshot(), format)),
                Err(e) => respond::error(&e, format),
            }
        }
        ("/v1beta/models", &Method::GET) => {
            match app.client_keys.authenticate(req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&app.snapshot(), Format::Gemini)),
                Err(e) => respond::error(&e, Format::Gemini),
            }
        }
        // google-genai's `generate_images` speaks only Vertex AI; in express mode (an API
        // key, no project) it posts to this path, with a Gemini body.
        (p, &Method::POST) if p.starts_with(VERTEX_MODELS) => {
            match gemini_route(p.trim_start_matches(VERTEX_MODELS))
                .filter(|r| matches!(r.op, Operation::Images | Operation::Videos))
            {
                Some(route) => request::handle(app, req, peer, route).await,
                None => respond::error(
                    &ApiError::not_found(format!(
                        "no Vertex method at {p}; only :predict (Imagen), :predictLongRunning and :fetchPredictOperation (Veo) are served"
                    ))
                    .with_code("unknown_route"),
                    Format::Gemini,
                ),
            }
        }
        (p, &Method::POST) if p.starts_with("/v1beta/models/") => {
            match gemini_route(p.trim_start_matches("/v1beta/models/")) {
                Some(route) => request::handle(app, req, peer, route).await,
                None => respond::error(
                    &ApiError::not_found(format!("no Gemini method at {p}; use :generateContent, :streamGenerateContent, :countTokens, :embedContent, :batchEmbedContents, :predict or :predictLongRunning"))
                        .with_code("unknown_route"),
                    Format::Gemini,
                ),
            }
        }
        (p, _) if p == "/api" || p.starts_with("/api/") => api::dispatch(app, req, peer).await,
        ("/health" | "/v1/models" | "/models" | "/v1beta/models", _) => not_allowed("GET"),
        // Every proxied endpoint is a POST.
        (p, _) if proxied(p).is_some() => not_allowed("POST"),
        _ => respond::error(
            &ApiError::not_found(format!("no route for {method} {path}"))
                .with_code("unknown_route"),
            Format::OpenAi,
        ),
    }
}

/// Where Vertex AI's publisher models live, as google-genai's express mode addresses them.
const VERTEX_MODELS: &str = "/v1beta1/publishers/google/models/";

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
            op: Operation::Chat,
            path_model: Some(percent_decoded(deployment)?).filter(|d| !d.is_empty()),
            path_stream: None,
            pinned: None,
        });
    }
    use EndpointKind::{CountTokens, Generate};
    let (client, kind, op) = match path {
        "/v1/chat/completions" | "/chat/completions" => (Format::OpenAi, Generate, Operation::Chat),
        "/v1/responses" | "/responses" => (Format::Responses, Generate, Operation::Chat),
        "/v1/messages" => (Format::Claude, Generate, Operation::Chat),
        "/v1/messages/count_tokens" => (Format::Claude, CountTokens, Operation::Chat),
        "/v1/embeddings" | "/embeddings" => (Format::OpenAi, Generate, Operation::Embeddings),
        "/v1/completions" | "/completions" => {
            (Format::Completions, Generate, Operation::Completions)
        }
        "/v1/images/generations" | "/images/generations" => {
            (Format::OpenAi, Generate, Operation::Images)
        }
        "/v1/images/edits" | "/images/edits" => (Format::OpenAi, Generate, Operation::ImageEdits),
        "/v1/audio/speech" | "/audio/speech" => (Format::OpenAi, Generate, Operation::Speech),
        "/v1/audio/transcriptions" | "/audio/transcriptions" => {
            (Format::OpenAi, Generate, Operation::Transcriptions)
        }
        "/v1/audio/translations" | "/audio/translations" => {
            (Format::OpenAi, Generate, Operation::Translations)
        }
        "/v1/videos" | "/videos" => (Format::OpenAi, Generate, Operation::Videos),
        _ => return None,
    };
    Some(Endpoint {
        client,
        kind,
        op,
        path_model: None,
        path_stream: None,
        pinned: None,
    })
}

/// A browser asking for a page (an SDK or a probe asks for JSON or anything).
fn wants_html(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A path segment with its `%XX` escapes decoded (a model or provider name may carry a `/`
/// or a space); `None` when it is not UTF-8 once decoded.
fn percent_decoded(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// `{model}:{method}` of a Gemini path.
fn gemini_route(rest: &str) -> Option<Endpoint> {
    let (model, method) = rest.rsplit_once(':')?;
    let (kind, op, stream) = match method {
        "generateContent" => (EndpointKind::Generate, Operation::Chat, false),
        "streamGenerateContent" => (EndpointKind::Generate, Operation::Chat, true),
        "countTokens" => (EndpointKind::CountTokens, Operation::Chat, false),
        "embedContent" | "batchEmbedContents" => {
            (EndpointKind::Generate, Operation::Embeddings, false)
        }
        "predict" => (EndpointKind::Generate, Operation::Images, false),
        "predictLongRunning" => (EndpointKind::Generate, Operation::Videos, false),
        "fetchPredictOperation" => (EndpointKind::Poll, Operation::Videos, false),
        _ => return None,
    };
    Some(Endpoint {
        client: Format::Gemini,
        kind,
        op,
        path_model: Some(model.to_owned()),
        path_stream: Some(stream),
        pinned: None,
    })
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
        assert_eq!(
            gemini_route("text-embedding-004:batchEmbedContents")
                .unwrap()
                .op,
            Operation::Embeddings
        );
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
        assert_eq!(
            proxied("/v1/providers/x/audio/speech").unwrap().op,
            Operation::Speech
        );
        assert!(proxied("/v1/providers/x/audio/other").is_none());
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
