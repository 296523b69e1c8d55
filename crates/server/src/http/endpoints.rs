//! The endpoint table: which path speaks which client format (each format declares its
//! paths in its registration, [`switchyard_hub::wire`]), the URL shapes that wrap them
//! (a pinned provider, Azure's deployments), and the few answered here (health, metrics,
//! model lists); the management API under `/api/` is [`crate::api`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use switchyard_hub::wire::{self, DeploymentPath, ModelPath, Route};
use switchyard_hub::{ApiError, Format};

use crate::api::{self, not_allowed};
use crate::dashboard;
use crate::http::respond::{self, Body};
use crate::http::{client_auth, websocket};
use crate::request::resolve;
use crate::request::{self, Endpoint};
use crate::state::app::App;

/// The management API's and dashboard's futures are boxed where they start: inline, the
/// largest of them would set the size of every proxied request's future too.
pub async fn dispatch(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if method == Method::POST
        && let Some(endpoint) = proxied(&path)
    {
        return request::handle(app, req, peer, endpoint).await;
    }
    // Codex's Responses API over a WebSocket: the same path, upgraded, where the format's
    // registration offers it.
    if method == Method::GET
        && websocket::wants_upgrade(req.headers())
        && let Some(endpoint) = proxied(&path).filter(|e| e.websocket)
    {
        return websocket::upgrade(app, req, peer, endpoint);
    }
    if method == Method::GET && request::video::is_get_route(&path) {
        return Box::pin(request::video::get(app, req, peer)).await;
    }
    // Paths that name the model (Gemini's `{model}:{method}`, Vertex AI's).
    if method == Method::POST
        && let Some((client, paths, rest)) = model_path(&path)
    {
        return match model_route(client, paths, rest) {
            Some(route) => request::handle(app, req, peer, route).await,
            None => respond::error(
                &ApiError::not_found(format!(
                    "no {} method at {path}; {}",
                    paths.api, paths.served
                ))
                .with_code("unknown_route"),
                client,
            ),
        };
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
        (p, _) if p == "/ui" || p.starts_with("/ui/") => {
            Box::pin(dashboard::dispatch(app, req, peer)).await
        }
        // Model lists, in the shape of the format whose registration lists at the path (the
        // Anthropic SDKs list at OpenAI's, and say so with a header).
        (p, &Method::GET) if let Some(format) = model_list(p, req.headers()) => {
            match app.client_keys.authenticate(req.headers(), peer) {
                Ok(_) => respond::json(200, &resolve::list(&app.snapshot(), format)),
                Err(e) => respond::error(&e, format),
            }
        }
        (p, _) if p == "/api" || p.starts_with("/api/") => {
            Box::pin(api::dispatch(app, req, peer)).await
        }
        ("/health", _) => not_allowed("GET"),
        (p, _) if model_list(p, req.headers()).is_some() => not_allowed("GET"),
        // Every proxied endpoint is a POST.
        (p, _) if proxied(p).is_some() => not_allowed("POST"),
        _ => respond::error(
            &ApiError::not_found(format!("no route for {method} {path}"))
                .with_code("unknown_route"),
            Format::OpenAi,
        ),
    }
}

/// The format whose clients list models at `path` (GET), from the formats' registrations.
fn model_list(path: &str, headers: &http::HeaderMap) -> Option<Format> {
    wire::model_list(path, |h| headers.contains_key(h))
}

/// The proxied endpoints (POST): which path speaks which client format, from the formats'
/// registrations. `/v1/providers/{name}/...` pins a provider (tools that pick the provider
/// in the URL), and a format's deployment paths name the model as a deployment (Azure
/// OpenAI's `/openai/deployments/{name}/chat/completions`, for clients that only offer an
/// Azure base URL). Paths that name the model are [`model_path`]'s, reached here only
/// under a pinned provider.
fn proxied(path: &str) -> Option<Endpoint> {
    if let Some(rest) = path.strip_prefix("/v1/providers/") {
        let (provider, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("v1/").unwrap_or(rest);
        let under = format!("/{rest}");
        let mut endpoint = match model_path(&under).filter(|(_, paths, _)| paths.pinnable) {
            Some((client, paths, rest)) => model_route(client, paths, rest)?,
            None => proxied(&format!("/v1/{rest}"))?,
        };
        endpoint.pinned = Some(percent_decoded(provider)?);
        return Some(endpoint);
    }
    if let Some((client, paths, rest)) = deployment_path(path) {
        let deployment = rest.strip_suffix(paths.suffix)?;
        return Some(Endpoint {
            client,
            kind: paths.kind,
            op: paths.op,
            path_model: Some(percent_decoded(deployment)?).filter(|d| !d.is_empty()),
            path_stream: None,
            pinned: None,
            websocket: false,
        });
    }
    static FIXED: LazyLock<HashMap<&'static str, (Format, &'static Route)>> = LazyLock::new(|| {
        let mut table = HashMap::new();
        for w in wire::all() {
            for route in w.routes.paths {
                for path in route.paths {
                    table.insert(*path, (w.format, route));
                }
            }
        }
        table
    });
    let &(client, route) = FIXED.get(path)?;
    Some(Endpoint {
        client,
        kind: route.kind,
        op: route.op,
        path_model: None,
        path_stream: None,
        pinned: None,
        websocket: route.websocket,
    })
}

/// A path `{prefix}{deployment}{suffix}` of a registered format: the format, its
/// deployment paths and what follows the prefix.
fn deployment_path(path: &str) -> Option<(Format, &'static DeploymentPath, &str)> {
    wire::all().iter().find_map(|w| {
        w.routes
            .deployment_paths
            .iter()
            .find_map(|paths| Some((w.format, paths, path.strip_prefix(paths.prefix)?)))
    })
}

/// A path `{prefix}{model}:{method}` of a registered format: the format, its model paths
/// and what follows the prefix.
fn model_path(path: &str) -> Option<(Format, &'static ModelPath, &str)> {
    wire::all().iter().find_map(|w| {
        w.routes
            .model_paths
            .iter()
            .find_map(|paths| Some((w.format, paths, path.strip_prefix(paths.prefix)?)))
    })
}

/// `{model}:{method}` after one of `paths`' prefix.
fn model_route(client: Format, paths: &ModelPath, rest: &str) -> Option<Endpoint> {
    let (model, method) = rest.rsplit_once(':')?;
    let method = paths.methods.iter().find(|m| m.name == method)?;
    Some(Endpoint {
        client,
        kind: method.kind,
        op: method.op,
        path_model: Some(model.to_owned()),
        path_stream: Some(method.stream),
        pinned: None,
        websocket: false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::EndpointKind;
    use switchyard_hub::Operation;

    /// The size of the future an async fn returns, read from its type (no value needed).
    fn future_size<A, B, C, F: std::future::Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn future_size4<A, B, C, D, F: std::future::Future>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// hyper moves every request's handler future into place (a memcpy of its whole size
    /// per request: ~10 KB, ~10,000 instructions, before it was cut): the handler keeps its large
    /// phases behind boxes so the future it hands hyper stays small.
    #[test]
    fn the_request_handler_future_stays_small() {
        let dispatch = future_size(dispatch);
        let handle = future_size4(request::handle);
        println!("future sizes: dispatch {dispatch} B, request::handle {handle} B");
        assert!(dispatch <= 2048, "dispatch's future is {dispatch} bytes");
    }

    /// `{model}:{method}` of a Gemini path.
    fn gemini_route(rest: &str) -> Option<Endpoint> {
        model_route(Format::Gemini, model_path("/v1beta/models/")?.1, rest)
    }

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

    #[test]
    fn websockets_and_model_lists_come_from_the_registrations() {
        assert!(proxied("/v1/responses").unwrap().websocket);
        assert!(proxied("/v1/providers/re/responses").unwrap().websocket);
        assert!(!proxied("/v1/chat/completions").unwrap().websocket);
        assert!(!proxied("/v1/messages").unwrap().websocket);
        let mut h = http::HeaderMap::new();
        assert_eq!(model_list("/v1/models", &h), Some(Format::OpenAi));
        assert_eq!(model_list("/v1beta/models", &h), Some(Format::Gemini));
        assert_eq!(model_list("/v1/embeddings", &h), None);
        h.insert(
            "anthropic-version",
            http::HeaderValue::from_static("2023-06-01"),
        );
        assert_eq!(model_list("/models", &h), Some(Format::Claude));
        assert_eq!(model_list("/v1beta/models", &h), Some(Format::Gemini));
    }
}
