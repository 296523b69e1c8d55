//! The management API under `/api/`: what the dashboard and scripts use to operate a running
//! server. Admin key only (as a Bearer or `x-api-key`; refused while none is configured),
//! JSON in and out, errors in the OpenAI error shape, every change written to the audit log,
//! and described by an OpenAPI document generated from the handlers' types
//! (`GET /api/openapi.json`).
//!
//! Adding an endpoint: a handler in its own module (`api/<topic>.rs`) annotated with
//! `#[utoipa::path]`, an arm (and its 405 arm) in [`route`], and its path in
//! [`openapi::ApiDoc`]. Handlers return [`Answer`]; a change calls [`audit::record`].

pub mod account_add;
pub mod accounts;
pub mod audit;
pub mod body;
pub mod catalogue;
pub mod keys;
pub mod logins;
pub mod models;
pub mod openapi;
pub mod preview;
pub mod providers;
pub mod reference;
pub mod reset;
pub mod routes;
pub mod settings;
pub mod usage;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use rusqlite::Connection;
use serde::Serialize;
use switchyard_hub::{ApiError, ErrorKind, Format};

use crate::dashboard::session::CSRF_HEADER;
use crate::http::client_auth;
use crate::http::respond::{self, Body};
use crate::state::app::App;
use crate::state::usage_store;

/// A secret as management answers show it (the same mask the debug logs use).
pub use switchyard_auth::mask;

/// A handler's result: its response, or an error answered in the OpenAI error shape.
pub type Answer = Result<Response<Body>, ApiError>;

/// Who asked for a change, as the audit log names them: the admin key's id, or `cli`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

/// Answers a request under `/api/`.
pub async fn dispatch(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path
        .strip_prefix("/api")
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let answer = if segments == ["openapi.json"] {
        // The document describes the API; it holds nothing secret, and validators and
        // generators fetch it without a key.
        match *req.method() {
            Method::GET => Ok(openapi::document()),
            _ => Ok(not_allowed("GET")),
        }
    } else {
        match admin(&app, &req, peer) {
            Ok(actor) => route(app, req, peer, actor, &segments).await,
            Err(e) => Err(e),
        }
    };
    answer.unwrap_or_else(|e| respond::error(&e, Format::OpenAi))
}

/// The route table: path segments after `/api`, then the method.
async fn route(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    actor: Actor,
    segments: &[&str],
) -> Answer {
    let method = req.method().clone();
    match (segments, method) {
        (["accounts"], Method::GET) => accounts::list(app).await,
        (["accounts"], Method::POST) => account_add::create(app, req, actor).await,
        (["accounts"], _) => Ok(not_allowed("GET, POST")),
        (["accounts", "reset"], Method::POST) => reset::handle(app, req, peer, actor).await,
        (["accounts", "reset"], _) => Ok(not_allowed("POST")),
        (["routing", "preview"], Method::GET) => preview::handle(&app, req.uri().query()),
        (["routing", "preview"], _) => Ok(not_allowed("GET")),
        (["accounts", "import"], Method::POST) => logins::import(app, req, actor).await,
        (["accounts", "import"], _) => Ok(not_allowed("POST")),
        (["accounts", p, a], Method::GET) => {
            accounts::get(app, &accounts::decode(p), &accounts::decode(a)).await
        }
        (["accounts", p, a], Method::DELETE) => {
            accounts::remove(app, actor, &accounts::decode(p), &accounts::decode(a)).await
        }
        (["accounts", _, _], _) => Ok(not_allowed("GET, DELETE")),
        (["accounts", p, a, "enable"], Method::POST) => {
            accounts::enable(app, actor, &accounts::decode(p), &accounts::decode(a)).await
        }
        (["accounts", p, a, "disable"], Method::POST) => {
            accounts::disable(app, actor, &accounts::decode(p), &accounts::decode(a)).await
        }
        (["accounts", _, _, "enable" | "disable"], _) => Ok(not_allowed("POST")),
        (["logins"], Method::POST) => logins::start(app, req, actor).await,
        (["logins"], _) => Ok(not_allowed("POST")),
        (["logins", id], Method::GET) => logins::get(id),
        (["logins", _], _) => Ok(not_allowed("GET")),
        (["logins", id, "complete"], Method::POST) => logins::complete(app, req, id).await,
        (["logins", _, "complete"], _) => Ok(not_allowed("POST")),
        (["aliases"], Method::GET) => routes::list_aliases(app).await,
        (["aliases"], Method::POST) => routes::create_alias(app, req, actor).await,
        (["aliases"], _) => Ok(not_allowed("GET, POST")),
        (["aliases", name], Method::GET) => routes::get_alias(app, &accounts::decode(name)).await,
        (["aliases", name], Method::PUT) => {
            routes::update_alias(app, req, actor, accounts::decode(name)).await
        }
        (["aliases", name], Method::DELETE) => {
            routes::delete_alias(app, actor, accounts::decode(name)).await
        }
        (["aliases", _], _) => Ok(not_allowed("GET, PUT, DELETE")),
        (["combos"], Method::GET) => routes::list_combos(app).await,
        (["combos"], Method::POST) => routes::create_combo(app, req, actor).await,
        (["combos"], _) => Ok(not_allowed("GET, POST")),
        (["combos", name], Method::GET) => routes::get_combo(app, &accounts::decode(name)).await,
        (["combos", name], Method::PUT) => {
            routes::update_combo(app, req, actor, accounts::decode(name)).await
        }
        (["combos", name], Method::DELETE) => {
            routes::delete_combo(app, actor, accounts::decode(name)).await
        }
        (["combos", _], _) => Ok(not_allowed("GET, PUT, DELETE")),
        (["combos", name, "order"], Method::POST) => {
            routes::reorder_combo(app, req, actor, accounts::decode(name)).await
        }
        (["combos", _, "order"], _) => Ok(not_allowed("POST")),
        (
            [
                "providers" | "settings" | "audit" | "keys" | "usage" | "requests" | "models",
                ..,
            ],
            _,
        ) => route_config(app, req, actor, segments).await,
        (_, method) => Err(ApiError::not_found(format!(
            "no management route for {method} {}; see GET /api/openapi.json",
            req.uri().path()
        ))
        .with_code("unknown_route")),
    }
}

/// The second half of the route table: providers, settings, audit, client keys and usage.
async fn route_config(
    app: Arc<App>,
    req: Request<Incoming>,
    actor: Actor,
    segments: &[&str],
) -> Answer {
    let method = req.method().clone();
    match (segments, method) {
        (["providers"], Method::GET) => providers::list(app).await,
        (["providers"], Method::POST) => providers::create(app, req, actor).await,
        (["providers"], _) => Ok(not_allowed("GET, POST")),
        (["providers", name], Method::GET) => providers::get(app, &accounts::decode(name)).await,
        (["providers", name], Method::PUT) => {
            providers::update(app, req, actor, accounts::decode(name)).await
        }
        (["providers", name], Method::PATCH) => {
            providers::patch(app, req, actor, accounts::decode(name)).await
        }
        (["providers", name], Method::DELETE) => {
            providers::delete(app, actor, accounts::decode(name)).await
        }
        (["providers", _], _) => Ok(not_allowed("GET, PUT, PATCH, DELETE")),
        (["providers", name, "test"], Method::POST) => {
            providers::test(app, &accounts::decode(name), req.uri().query()).await
        }
        (["providers", _, "test"], _) => Ok(not_allowed("POST")),
        (["providers", name, "models"], Method::GET) => {
            models::stored(app, &accounts::decode(name)).await
        }
        (["providers", _, "models"], _) => Ok(not_allowed("GET")),
        (["providers", name, "models", "refresh"], Method::POST) => {
            models::refresh(app, actor, &accounts::decode(name)).await
        }
        (["providers", _, "models", "refresh"], _) => Ok(not_allowed("POST")),
        (["models"], Method::GET) => catalogue::list(app).await,
        (["models"], _) => Ok(not_allowed("GET")),
        (["models", id], Method::GET) => catalogue::get(app, &accounts::decode(id)).await,
        (["models", id], Method::PUT) => {
            catalogue::put(app, req, actor, accounts::decode(id)).await
        }
        (["models", id], Method::DELETE) => {
            catalogue::delete(app, actor, accounts::decode(id)).await
        }
        (["models", _], _) => Ok(not_allowed("GET, PUT, DELETE")),
        (["settings"], Method::GET) => settings::get(app).await,
        (["settings"], Method::PATCH) => settings::update(app, req, actor).await,
        (["settings"], _) => Ok(not_allowed("GET, PATCH")),
        (["audit"], Method::GET) => audit::list(app, req.uri().query()).await,
        (["audit"], _) => Ok(not_allowed("GET")),
        (["keys"], Method::GET) => keys::list(app).await,
        (["keys"], Method::POST) => keys::create(app, req, actor).await,
        (["keys"], _) => Ok(not_allowed("GET, POST")),
        (["keys", id], Method::GET) => keys::read(app, (*id).to_owned()).await,
        (["keys", id], Method::PATCH) => keys::update(app, req, actor, (*id).to_owned()).await,
        (["keys", id], Method::DELETE) => keys::delete(app, actor, (*id).to_owned()).await,
        (["keys", _], _) => Ok(not_allowed("GET, PATCH, DELETE")),
        (["keys", id, "revoke"], Method::POST) => keys::revoke(app, actor, (*id).to_owned()).await,
        (["keys", _, "revoke"], _) => Ok(not_allowed("POST")),
        (["usage", "aggregate"], Method::GET) => usage::aggregate(app, req.uri().query()).await,
        (["usage", "cluster"], Method::GET) => usage::cluster_minutes(req.uri().query()).await,
        (["requests"], Method::GET) => usage::requests(app, req.uri().query()).await,
        (["requests", id], Method::GET) => usage::request(app, id).await,
        (["requests", id, "debug"], Method::GET) => usage::debug_list(app, id).await,
        (["requests", id, "debug", file], Method::GET) => usage::debug_file(app, id, file).await,
        (
            ["usage", "aggregate"]
            | ["requests"]
            | ["requests", _]
            | ["requests", _, "debug"]
            | ["requests", _, "debug", _],
            _,
        ) => Ok(not_allowed("GET")),
        (_, method) => Err(ApiError::not_found(format!(
            "no management route for {method} {}; see GET /api/openapi.json",
            req.uri().path()
        ))
        .with_code("unknown_route")),
    }
}

/// Admin routes take the admin key, and only when one is configured; or a dashboard
/// session, whose changes carry its CSRF token (the session cookie alone, which a browser
/// sends by itself, never authorizes a change).
fn admin(app: &App, req: &Request<Incoming>, peer: SocketAddr) -> Result<Actor, ApiError> {
    let headers = req.headers();
    let presented = client_auth::bearer(headers)
        .or_else(|| headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii()));
    if presented.is_none()
        && let Some(session) = app.ui_sessions.find(headers)
    {
        let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let reading = matches!(*req.method(), Method::GET | Method::HEAD);
        // Without an admin key only this machine holds sessions; re-check in case the
        // cookie travelled.
        let trusted = app.snapshot().config.admin_key.is_some() || client_auth::is_local(peer.ip());
        return if trusted && (reading || session.csrf_matches(csrf)) {
            Ok(Actor("dashboard".into()))
        } else {
            Err(ApiError::new(
                403,
                ErrorKind::PermissionDenied,
                "the dashboard's CSRF token is missing or stale; reload the page",
            ))
        };
    }
    let Some(key) = &app.snapshot().config.admin_key else {
        return Err(ApiError::new(
            403,
            ErrorKind::PermissionDenied,
            "the admin API is off: set server.admin_key_env",
        ));
    };
    match presented {
        Some(p) if key.matches(p) => Ok(Actor("admin".into())),
        _ => Err(ApiError::new(
            401,
            ErrorKind::Authentication,
            "admin key required",
        )),
    }
}

/// A JSON answer.
pub fn ok(status: u16, value: &impl Serialize) -> Answer {
    let body = serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(respond::bytes(status, "application/json", body))
}

/// The 405 for a known path asked with the wrong method, naming the one it takes.
pub fn not_allowed(allow: &'static str) -> Response<Body> {
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

/// Runs `f` on a connection to the database, off the serving thread: management reads and
/// writes may take milliseconds (an aggregate over a million rows, far more), which a
/// serving thread must not spend while it carries requests.
pub async fn with_db<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let path = app.snapshot().config.database.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = usage_store::open(&path)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the database task failed: {e}")))?
    .map_err(|e| ApiError::internal(format!("database: {e}")))
}
