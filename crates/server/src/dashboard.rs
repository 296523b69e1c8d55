//! The web dashboard, served by the same binary on the same port under `/ui/`: HTML rendered
//! on the server (maud), charts drawn on the server as SVG, and live parts over server-sent
//! events with a little JavaScript of our own (`dashboard/assets`, embedded). Pages read state
//! directly; every change goes through the management API (`/api/`), which takes the session
//! cookie plus its CSRF token, so each change has one implementation.
//!
//! Who may see it: with an admin key configured, whoever signs in with it; without one, only
//! this machine (a loopback peer naming a loopback host, which also defeats DNS rebinding).

pub mod accounts;
mod chart;
mod connect;
mod keys;
mod layout;
pub(crate) mod live;
pub mod overview;
mod providers;
mod requests;
mod routing;
pub mod session;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use maud::Markup;

use crate::http::client_auth;
use crate::http::respond::{self, Body};
use crate::state::app::App;
use session::Session;

/// What a page handler hands back: its markup, or an error page's status and message.
type Page = Result<Markup, (u16, String)>;

/// Answers a request under `/ui/`.
pub async fn dispatch(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/ui/assets/style.css" => return asset("text/css; charset=utf-8", layout::STYLE),
        "/ui/assets/app.js" => return asset("text/javascript; charset=utf-8", layout::SCRIPT),
        _ => {}
    }
    let signing_in = app.snapshot().config.admin_key.is_some();
    if !signing_in && !this_machine(req.headers(), peer) {
        return text(
            403,
            "The dashboard serves only this machine until an admin key is configured (server.admin_key_env).",
        );
    }
    if signing_in && path == "/ui/login" {
        return match *req.method() {
            Method::POST => login(&app, req).await,
            _ => html(200, layout::login(None)),
        };
    }
    let (session, new_cookie) = match app.ui_sessions.find(req.headers()) {
        Some(s) => (s, None),
        None if signing_in => {
            return match *req.method() {
                Method::GET | Method::HEAD => redirect("/ui/login", None),
                _ => text(401, "sign in first"),
            };
        }
        // Without an admin key this machine is trusted: it gets a session (for the CSRF
        // token its actions carry) without signing in.
        None => {
            let (id, s) = app.ui_sessions.start();
            (s, Some(session::set_cookie(&id)))
        }
    };
    let mut res = route(app, req, &path, &session, signing_in).await;
    if let Some(cookie) = new_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(SET_COOKIE, cookie);
    }
    res
}

async fn route(
    app: Arc<App>,
    req: Request<Incoming>,
    path: &str,
    session: &Session,
    signed_in: bool,
) -> Response<Body> {
    if *req.method() == Method::POST && path == "/ui/logout" {
        return logout(&app, req, session).await;
    }
    if *req.method() != Method::GET {
        return text(
            405,
            "the dashboard's pages take GET; changes go through /api/",
        );
    }
    let query = req.uri().query().map(str::to_owned);
    let query = query.as_deref();
    let (title, active, body) = match path.trim_end_matches('/') {
        "" | "/ui" => ("Overview", "/ui/", overview::page(&app, query).await),
        "/ui/requests" => ("Requests", "/ui/requests", requests::log(&app, query).await),
        "/ui/live" => return live::stream(&app),
        p if p.starts_with("/ui/requests/") => {
            let id = p.trim_start_matches("/ui/requests/").to_owned();
            ("Request", "/ui/requests", requests::one(&app, &id).await)
        }
        "/ui/providers" => ("Providers", "/ui/providers", providers::page(&app).await),
        "/ui/accounts" => ("Accounts", "/ui/accounts", accounts::page(&app).await),
        "/ui/routing" => ("Routing", "/ui/routing", routing::page(&app, query).await),
        "/ui/keys" => ("Client keys", "/ui/keys", keys::page(&app).await),
        "/ui/settings" => ("Settings", "/ui/settings", settings::page(&app).await),
        "/ui/connect" => (
            "Connect",
            "/ui/connect",
            Ok(connect::page(&app, req.headers())),
        ),
        _ => (
            "Not found",
            "",
            Err((404, format!("no dashboard page at {path}"))),
        ),
    };
    match body {
        Ok(markup) => html(
            200,
            layout::page(title, active, &session.csrf, signed_in, markup),
        ),
        Err((status, message)) => {
            let markup = maud::html! { p.status-bad role="alert" { (message) } };
            html(
                status,
                layout::page(title, active, &session.csrf, signed_in, markup),
            )
        }
    }
}

/// `POST /ui/login` with the admin key from the form.
async fn login(app: &App, req: Request<Incoming>) -> Response<Body> {
    #[derive(serde::Deserialize)]
    struct Form {
        key: String,
    }
    let form: Option<Form> = read_form(req).await;
    let good = match (&app.snapshot().config.admin_key, form) {
        (Some(admin), Some(f)) => admin.matches(f.key.trim().as_bytes()),
        _ => false,
    };
    if !good {
        tracing::warn!("dashboard sign-in refused: wrong admin key");
        return html(401, layout::login(Some("That is not the admin key.")));
    }
    let (id, _) = app.ui_sessions.start();
    redirect("/ui/", Some(session::set_cookie(&id)))
}

/// `POST /ui/logout`, with the CSRF token as a form field.
async fn logout(app: &App, req: Request<Incoming>, session: &Session) -> Response<Body> {
    #[derive(serde::Deserialize)]
    struct Form {
        csrf: String,
    }
    let headers = req.headers().clone();
    let form: Option<Form> = read_form(req).await;
    if !session.csrf_matches(form.as_ref().map(|f| f.csrf.as_str())) {
        return text(
            403,
            "the form's CSRF token is missing or stale; reload the page",
        );
    }
    app.ui_sessions.end(&headers);
    let to = if app.snapshot().config.admin_key.is_some() {
        "/ui/login"
    } else {
        "/ui/"
    };
    redirect(to, Some(session::clear_cookie()))
}

async fn read_form<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Option<T> {
    let body = Limited::new(req.into_body(), 16 * 1024)
        .collect()
        .await
        .ok()?;
    serde_urlencoded::from_bytes(&body.to_bytes()).ok()
}

/// A loopback peer that also names a loopback host: a page from another site that a DNS
/// trick pointed at 127.0.0.1 still names its own host, and is refused.
fn this_machine(headers: &http::HeaderMap, peer: SocketAddr) -> bool {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    client_auth::is_local(peer.ip()) && matches!(name, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

fn html(status: u16, markup: Markup) -> Response<Body> {
    let mut res = respond::bytes(status, "text/html; charset=utf-8", markup.into_string());
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn text(status: u16, message: &'static str) -> Response<Body> {
    respond::bytes(status, "text/plain; charset=utf-8", message)
}

fn asset(content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut res = respond::bytes(200, content_type, body);
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    res
}

fn redirect(to: &'static str, cookie: Option<String>) -> Response<Body> {
    let mut res = respond::bytes(303, "text/plain; charset=utf-8", "");
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(SET_COOKIE, v);
    }
    let _ = CONTENT_TYPE;
    res
}
