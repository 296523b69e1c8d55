//! The route table: which path speaks which client format.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use switchyard_hub::{ApiError, ErrorKind, Format};

use crate::app::App;
use crate::client_auth;
use crate::models;
use crate::proxy::{self, Route};
use crate::respond::{self, Body};

pub async fn dispatch(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path();
    let method = req.method();
    match (path, method) {
        ("/health", &Method::GET) => respond::json(200, &json!({"status": "ok"})),
        ("/v1/chat/completions" | "/chat/completions", &Method::POST) => {
            let route = Route {
                client: Format::OpenAi,
                path_model: None,
                path_stream: None,
            };
            proxy::handle(app, req, peer, route).await
        }
        ("/v1/models" | "/models", &Method::GET) => {
            match client_auth::authenticate(&app.config.client_keys, req.headers(), peer) {
                Ok(_) => respond::json(200, &models::list(&app)),
                Err(e) => respond::error(&e, Format::OpenAi),
            }
        }
        ("/health" | "/v1/models" | "/models", _) => not_allowed("GET"),
        ("/v1/chat/completions" | "/chat/completions", _) => not_allowed("POST"),
        _ => respond::error(
            &ApiError::not_found(format!("no route for {method} {path}"))
                .with_code("unknown_route"),
            Format::OpenAi,
        ),
    }
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
