//! A fake OAuth 2.0 authorization server, written from RFC 6749 / 7636 / 8628 and the
//! providers' documented quirks, strict the way real ones are:
//!
//! - `GET /authorize` checks the client, `response_type=code`, an S256 `code_challenge` and
//!   a `state`, then redirects (302) to the `redirect_uri` with a one-time code.
//! - `POST /token` (and GitHub's `/login/oauth/access_token`) takes the body style the
//!   provider takes (form or JSON; the other is refused), checks the client (and secret),
//!   and serves `authorization_code` (PKCE verifier checked against the challenge),
//!   `refresh_token` (rotation with reuse detection: a spent refresh token revokes its whole
//!   family and is answered `invalid_grant`, or OpenAI's `refresh_token_reused`) and the
//!   device grant (`authorization_pending` until approved, `slow_down` when polled early).
//! - `POST /device/code` (and `/login/device/code`) starts a device authorization.
//! - `GET /device` (and `/login/device`) is the page a person enters the device code on;
//!   posting the code approves it, as [`OAuthState::approve`] does.
//! - `GET /user` answers GitHub's user lookup for a valid token.
//!
//! Provider fakes ask [`OAuthState::valid`] whether a bearer token is live, so an expired or
//! revoked access token gets their 401.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::server::{FakeBody, full, serve};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyStyle {
    Form,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// RFC errors: `{"error": "invalid_grant", "error_description": ...}`, `token_type` sent.
    Rfc,
    /// OpenAI's auth server: errors as `{"error": {"code", "message"}}`, spent refresh tokens
    /// answered `refresh_token_reused`, no `token_type`, JWT access and id tokens.
    OpenAi,
    /// GitHub: device-flow answers (errors included) come with status 200.
    GitHub,
}

#[derive(Clone, Debug)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub body: BodyStyle,
    pub flavor: Flavor,
    /// Lifetime of issued access tokens, in seconds.
    pub access_ttl: u64,
    /// Whether a refresh returns a new refresh token and spends the old one.
    pub rotate: bool,
    /// How long each refresh takes, so concurrent refreshes overlap.
    pub refresh_delay: Duration,
    /// Claims put in id tokens (and, for OpenAI, the account id).
    pub id_claims: Value,
}

impl OAuthConfig {
    pub fn new(client_id: &str, body: BodyStyle, flavor: Flavor) -> Self {
        OAuthConfig {
            client_id: client_id.into(),
            client_secret: None,
            body,
            flavor,
            access_ttl: 3600,
            rotate: true,
            refresh_delay: Duration::ZERO,
            id_claims: json!({"email": "user@example.com"}),
        }
    }
}

#[derive(Debug)]
struct RefreshEntry {
    family: u64,
    spent: bool,
}

#[derive(Debug)]
struct Device {
    user_code: String,
    approved: bool,
    interval: u64,
    last_poll: Option<Instant>,
    slow_down_once: bool,
}

pub struct OAuthState {
    pub config: Mutex<OAuthConfig>,
    codes: Mutex<HashMap<String, (String, String)>>,
    access: Mutex<HashMap<String, (u64, SystemTime)>>,
    refresh: Mutex<HashMap<String, RefreshEntry>>,
    revoked: Mutex<HashSet<u64>>,
    devices: Mutex<HashMap<String, Device>>,
    next: AtomicU64,
    /// `refresh_token` grants received, good or bad.
    pub refresh_calls: AtomicUsize,
    in_flight: AtomicUsize,
    /// The most refresh grants ever handled at once.
    pub max_in_flight: AtomicUsize,
    /// Every request's path, grant type and body as received.
    pub requests: Mutex<Vec<(String, Value)>>,
}

impl OAuthState {
    fn n(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn cfg(&self) -> OAuthConfig {
        self.config.lock().unwrap().clone()
    }

    /// Issues a token pair of a new family, as a login would; `ttl` may be negative for one
    /// that has already expired. Returns (access, refresh, id token, expires at).
    pub fn issue(&self, ttl: i64) -> (String, String, String, SystemTime) {
        let family = self.n();
        let (access, at) = self.new_access(family, ttl);
        let refresh = self.new_refresh(family);
        (access, refresh, self.id_token(), at)
    }

    fn new_access(&self, family: u64, ttl: i64) -> (String, SystemTime) {
        let n = self.n();
        let at = if ttl >= 0 {
            crate::wall_clock() + Duration::from_secs(ttl as u64)
        } else {
            crate::wall_clock() - Duration::from_secs(ttl.unsigned_abs())
        };
        let token = if self.cfg().flavor == Flavor::OpenAi {
            let exp = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            jwt(&json!({"exp": exp, "n": n}))
        } else {
            format!("at-{family}-{n}-fakeaccess")
        };
        self.access
            .lock()
            .unwrap()
            .insert(token.clone(), (family, at));
        (token, at)
    }

    fn new_refresh(&self, family: u64) -> String {
        let token = format!("rt-{family}-{}-fakerefresh", self.n());
        self.refresh.lock().unwrap().insert(
            token.clone(),
            RefreshEntry {
                family,
                spent: false,
            },
        );
        token
    }

    /// Every token issued so far, for tests that look for leaked secrets.
    pub fn issued(&self) -> Vec<String> {
        let mut all: Vec<String> = self.access.lock().unwrap().keys().cloned().collect();
        all.extend(self.refresh.lock().unwrap().keys().cloned());
        all.extend(self.devices.lock().unwrap().keys().cloned());
        all
    }

    /// The newest access token issued.
    pub fn last_access(&self) -> Option<String> {
        let access = self.access.lock().unwrap();
        access
            .iter()
            .max_by_key(|(t, _)| {
                t.split('-')
                    .nth(2)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .map(|(t, _)| t.clone())
    }

    /// The newest live refresh token.
    pub fn last_refresh(&self) -> Option<String> {
        let table = self.refresh.lock().unwrap();
        table
            .iter()
            .filter(|(_, e)| !e.spent)
            .max_by_key(|(t, _)| {
                t.split('-')
                    .nth(2)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .map(|(t, _)| t.clone())
    }

    pub fn id_token(&self) -> String {
        jwt(&self.cfg().id_claims)
    }

    /// Whether `token` is a live access token.
    pub fn valid(&self, token: &str) -> bool {
        let access = self.access.lock().unwrap();
        let Some((family, at)) = access.get(token) else {
            return false;
        };
        *at > crate::wall_clock() && !self.revoked.lock().unwrap().contains(family)
    }

    /// Kills one access token, as a server-side revocation does.
    pub fn revoke_access(&self, token: &str) {
        self.access.lock().unwrap().remove(token);
    }

    /// Kills a refresh token's whole family.
    pub fn revoke_refresh(&self, token: &str) {
        if let Some(e) = self.refresh.lock().unwrap().get(token) {
            self.revoked.lock().unwrap().insert(e.family);
        }
    }

    /// Approves the device authorization showing `user_code`.
    pub fn approve(&self, user_code: &str) -> bool {
        let mut devices = self.devices.lock().unwrap();
        let mut found = false;
        for d in devices.values_mut().filter(|d| d.user_code == user_code) {
            d.approved = true;
            found = true;
        }
        found
    }

    /// Makes the next poll of every pending device authorization answer `slow_down`.
    pub fn slow_down_next(&self) {
        for d in self.devices.lock().unwrap().values_mut() {
            d.slow_down_once = true;
        }
    }

    pub fn set_access_ttl(&self, secs: u64) {
        self.config.lock().unwrap().access_ttl = secs;
    }
}

/// An unsigned JWT carrying `claims` (the proxy reads claims; it does not verify them).
pub fn jwt(claims: &Value) -> String {
    format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.fakesig",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[derive(Clone)]
pub struct FakeOAuth {
    pub addr: SocketAddr,
    pub state: Arc<OAuthState>,
}

impl FakeOAuth {
    pub async fn start(config: OAuthConfig) -> FakeOAuth {
        let state = Arc::new(OAuthState {
            config: Mutex::new(config),
            codes: Mutex::default(),
            access: Mutex::default(),
            refresh: Mutex::default(),
            revoked: Mutex::default(),
            devices: Mutex::default(),
            next: AtomicU64::new(0),
            refresh_calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            requests: Mutex::default(),
        });
        let s = state.clone();
        let addr = serve(move |req| handle(s.clone(), req)).await;
        FakeOAuth { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn error(state: &OAuthState, status: u16, code: &str, description: &str) -> Response<FakeBody> {
    let cfg = state.cfg();
    let (status, body) = match cfg.flavor {
        Flavor::OpenAi => (
            status,
            json!({"error": {"code": code, "message": description, "type": "invalid_request_error", "param": null}}),
        ),
        Flavor::GitHub => (
            200,
            json!({"error": code, "error_description": description}),
        ),
        Flavor::Rfc => (
            status,
            json!({"error": code, "error_description": description}),
        ),
    };
    full(status, "application/json", body.to_string())
}

fn tokens(state: &OAuthState, access: &str, refresh: Option<&str>) -> Response<FakeBody> {
    let cfg = state.cfg();
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access));
    if cfg.flavor != Flavor::OpenAi {
        body.insert("token_type".into(), json!("bearer"));
    }
    if cfg.flavor != Flavor::GitHub {
        body.insert("expires_in".into(), json!(cfg.access_ttl));
    }
    if let Some(r) = refresh {
        body.insert("refresh_token".into(), json!(r));
    }
    match cfg.flavor {
        Flavor::OpenAi => {
            body.insert("id_token".into(), json!(state.id_token()));
        }
        Flavor::GitHub => {
            body.insert("scope".into(), json!("read:user"));
        }
        Flavor::Rfc => {
            body.insert(
                "account".into(),
                json!({"uuid": "acc-uuid-1", "email_address": cfg.id_claims["email"]}),
            );
        }
    }
    full(200, "application/json", Value::Object(body).to_string())
}

async fn handle(state: Arc<OAuthState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let ct = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form(q.as_bytes()))
        .unwrap_or_default();
    match (parts.method.as_str(), path.as_str()) {
        ("GET", "/authorize") => authorize(&state, &query),
        // The page a person enters the device code on (GitHub's `/login/device`): a form,
        // and its post approves the pending authorization showing that code.
        ("GET", "/device" | "/login/device") => full(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Device activation</title>\
             <link rel=\"icon\" href=\"data:,\"></head><body><h1>Device activation</h1>\
             <form method=\"post\"><label for=\"user_code\">Code</label> \
             <input id=\"user_code\" name=\"user_code\" required> <button type=\"submit\">Continue</button></form></body></html>",
        ),
        ("POST", "/device" | "/login/device") => {
            let code = form(&bytes).get("user_code").cloned().unwrap_or_default();
            let (status, text) = if state.approve(code.trim()) {
                (200, "Device approved: you may close this window.")
            } else {
                (400, "That code is not pending.")
            };
            full(
                status,
                "text/html; charset=utf-8",
                format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Device activation</title><link rel=\"icon\" href=\"data:,\"></head><body><p id=\"result\">{text}</p></body></html>"
                ),
            )
        }
        ("GET", "/user") => {
            let token = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("token "))
                .unwrap_or("");
            if state.valid(token) {
                full(
                    200,
                    "application/json",
                    json!({"login": "octocat", "id": 1}).to_string(),
                )
            } else {
                full(
                    401,
                    "application/json",
                    json!({"message": "Bad credentials"}).to_string(),
                )
            }
        }
        ("POST", "/device/code" | "/login/device/code") => {
            let p = form(&bytes);
            if p.get("client_id") != Some(&state.cfg().client_id) {
                return error(
                    &state,
                    400,
                    "incorrect_client_credentials",
                    "unknown client_id",
                );
            }
            let n = state.n();
            let device_code = format!("dc-{n}-fakedevice");
            let user_code = format!("USER-{n:04}");
            state.devices.lock().unwrap().insert(
                device_code.clone(),
                Device {
                    user_code: user_code.clone(),
                    approved: false,
                    interval: 1,
                    last_poll: None,
                    slow_down_once: false,
                },
            );
            let body = json!({"device_code": device_code, "user_code": user_code,
                "verification_uri": format!("http://{}/device", parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost")),
                "expires_in": 900, "interval": 1});
            full(200, "application/json", body.to_string())
        }
        ("POST", "/token" | "/login/oauth/access_token") => {
            let params: HashMap<String, String> = match state.cfg().body {
                BodyStyle::Form if ct.starts_with("application/x-www-form-urlencoded") => {
                    form(&bytes)
                }
                BodyStyle::Json if ct.starts_with("application/json") => {
                    match serde_json::from_slice::<Map<String, Value>>(&bytes) {
                        Ok(m) => m
                            .into_iter()
                            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                            .collect(),
                        Err(_) => return error(&state, 400, "invalid_request", "body is not JSON"),
                    }
                }
                _ => {
                    return error(
                        &state,
                        400,
                        "invalid_request",
                        &format!("unsupported content type {ct:?}"),
                    );
                }
            };
            state.requests.lock().unwrap().push((
                path.clone(),
                serde_json::to_value(&params).unwrap_or(Value::Null),
            ));
            token(&state, &params).await
        }
        _ => full(
            404,
            "application/json",
            json!({"error": "not_found"}).to_string(),
        ),
    }
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(bytes);
    text.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn authorize(state: &OAuthState, q: &HashMap<String, String>) -> Response<FakeBody> {
    let cfg = state.cfg();
    let bad = |m: &str| full(400, "text/plain", m.to_owned());
    if q.get("client_id") != Some(&cfg.client_id) {
        return bad("unknown client_id");
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return bad("response_type must be code");
    }
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return bad("code_challenge_method must be S256");
    }
    let Some(challenge) = q.get("code_challenge").filter(|c| c.len() >= 43) else {
        return bad("code_challenge is required");
    };
    let Some(redirect) = q.get("redirect_uri") else {
        return bad("redirect_uri is required");
    };
    let Some(st) = q.get("state").filter(|s| !s.is_empty()) else {
        return bad("state is required");
    };
    let code = format!("code-{}-fake", state.n());
    state
        .codes
        .lock()
        .unwrap()
        .insert(code.clone(), (challenge.clone(), redirect.clone()));
    let location = format!("{redirect}?code={}&state={}", encode(&code), encode(st));
    Response::builder()
        .status(302)
        .header("location", location)
        .body(full(200, "text/plain", "").into_body())
        .unwrap()
}

async fn token(state: &OAuthState, p: &HashMap<String, String>) -> Response<FakeBody> {
    let cfg = state.cfg();
    if p.get("client_id") != Some(&cfg.client_id) {
        return error(state, 401, "invalid_client", "unknown client_id");
    }
    if cfg.client_secret.is_some() && p.get("client_secret") != cfg.client_secret.as_ref() {
        return error(state, 401, "invalid_client", "bad client_secret");
    }
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = p
                .get("code")
                .and_then(|c| state.codes.lock().unwrap().remove(c))
            else {
                return error(state, 400, "invalid_grant", "unknown or used code");
            };
            if p.get("redirect_uri") != Some(&redirect) {
                return error(state, 400, "invalid_grant", "redirect_uri differs");
            }
            let verifier = p.get("code_verifier").map(String::as_str).unwrap_or("");
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
                return error(state, 400, "invalid_grant", "code_verifier does not match");
            }
            let family = state.n();
            let (access, _) = state.new_access(family, cfg.access_ttl as i64);
            let refresh = state.new_refresh(family);
            tokens(state, &access, Some(&refresh))
        }
        Some("refresh_token") => {
            state.refresh_calls.fetch_add(1, Ordering::SeqCst);
            let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(cfg.refresh_delay).await;
            let res = refresh_grant(state, &cfg, p);
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            res
        }
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let mut devices = state.devices.lock().unwrap();
            let Some(d) = p.get("device_code").and_then(|c| devices.get_mut(c)) else {
                return error(state, 400, "invalid_grant", "unknown device_code");
            };
            let early = d
                .last_poll
                .is_some_and(|t| t.elapsed() < Duration::from_secs(d.interval));
            d.last_poll = Some(Instant::now());
            if d.slow_down_once || early {
                d.slow_down_once = false;
                let body = json!({"error": "slow_down", "error_description": "too fast", "interval": d.interval});
                let status = if cfg.flavor == Flavor::GitHub {
                    200
                } else {
                    400
                };
                return full(status, "application/json", body.to_string());
            }
            if !d.approved {
                return error(state, 400, "authorization_pending", "waiting for the user");
            }
            let device_code = p.get("device_code").cloned().unwrap_or_default();
            devices.remove(&device_code);
            drop(devices);
            let family = state.n();
            let (access, _) = state.new_access(family, cfg.access_ttl as i64);
            // GitHub's OAuth-app tokens do not expire and come without a refresh token.
            let refresh = (cfg.flavor != Flavor::GitHub).then(|| state.new_refresh(family));
            tokens(state, &access, refresh.as_deref())
        }
        _ => error(state, 400, "unsupported_grant_type", "unknown grant_type"),
    }
}

fn refresh_grant(
    state: &OAuthState,
    cfg: &OAuthConfig,
    p: &HashMap<String, String>,
) -> Response<FakeBody> {
    let token = p.get("refresh_token").cloned().unwrap_or_default();
    let mut table = state.refresh.lock().unwrap();
    let Some(entry) = table.get_mut(&token) else {
        return error(state, 400, "invalid_grant", "unknown refresh token");
    };
    let family = entry.family;
    if state.revoked.lock().unwrap().contains(&family) {
        return error(state, 400, "invalid_grant", "refresh token revoked");
    }
    if entry.spent {
        // Reuse of a rotated token: the family is compromised (RFC 9700 §4.14.2).
        state.revoked.lock().unwrap().insert(family);
        return match cfg.flavor {
            Flavor::OpenAi => error(
                state,
                401,
                "refresh_token_reused",
                "Your refresh token has already been used to generate a new access token. Please try signing in again.",
            ),
            _ => error(state, 400, "invalid_grant", "refresh token already used"),
        };
    }
    if cfg.rotate {
        entry.spent = true;
    }
    drop(table);
    let (access, _) = state.new_access(family, cfg.access_ttl as i64);
    let refresh = cfg.rotate.then(|| state.new_refresh(family));
    tokens(state, &access, refresh.as_deref())
}
