//! Fake subscription backends, each a strict gate in front of the plain API fake of its
//! wire format: it checks what the real backend checks (path, bearer token against the fake
//! OAuth server, required headers, body rules) and forwards what passes, so the answers are
//! the plain fakes' well-formed ones.
//!
//! - [`FakeClaudeCode`]: Anthropic with a Claude Code login (`?beta=true`, bearer token, the
//!   `oauth-2025-04-20` beta flag); a request that is not Claude Code's own (its system
//!   prompt does not open with Claude Code's identity) gets the bare 429 "Error".
//! - [`FakeCodex`]: the ChatGPT backend's `/backend-api/codex/responses` (streams only, stores
//!   nothing, wants `instructions`, refuses sampling parameters, `system` input items, item
//!   references and server item ids, takes only the `priority` and `default` service tiers;
//!   `#usage-limit` in the input gets the
//!   `usage_limit_reached` 429).
//! - [`FakeCopilot`]: the Copilot token exchange, `/chat/completions` and `/responses`, with
//!   models that only one of the two serves; a request with an image needs
//!   `Copilot-Vision-Request: true`.
//! - [`FakeCodeAssist`]: `cloudcode-pa` `v1internal` (loadCodeAssist, onboardUser, the
//!   generate methods in their envelope).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::fake_anthropic::FakeAnthropic;
use crate::fake_gemini::FakeGemini;
use crate::fake_oauth::OAuthState;
use crate::fake_openai::FakeOpenAi;
use crate::fake_responses::FakeResponses;
use crate::server::{FakeBody, full, serve};

/// One request as a gate received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct Log {
    seen: Mutex<Vec<Seen>>,
}

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .count()
    }
}

async fn read(log: &Log, req: Request<Incoming>) -> (http::request::Parts, Bytes, Value) {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    log.seen.lock().unwrap().push(Seen {
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: json.clone(),
    });
    (parts, bytes, json)
}

fn header<'a>(parts: &'a http::request::Parts, name: &str) -> &'a str {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn bearer(parts: &http::request::Parts) -> &str {
    header(parts, "authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("")
}

/// Sends the request on to a plain fake and streams its answer back.
async fn forward(url: String, headers: &[(&str, &str)], body: Bytes) -> Response<FakeBody> {
    let client = crate::http_client::client();
    let mut b = Request::post(&url).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let Ok(req) = b.body(Full::new(body)) else {
        return full(500, "text/plain", "bad forward");
    };
    match client.request(req).await {
        Ok(res) => {
            let (parts, body) = res.into_parts();
            Response::from_parts(parts, body.map_err(std::io::Error::other).boxed_unsync())
        }
        Err(e) => full(502, "text/plain", format!("inner fake unreachable: {e}")),
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct FakeClaudeCode {
    pub addr: SocketAddr,
    pub inner: FakeAnthropic,
    pub log: Arc<Log>,
}

impl FakeClaudeCode {
    pub async fn start(oauth: Arc<OAuthState>) -> FakeClaudeCode {
        let inner = FakeAnthropic::start().await;
        let log = Arc::new(Log::default());
        let (l, url) = (log.clone(), inner.root_url());
        let addr = serve(move |req| claude_code(l.clone(), oauth.clone(), url.clone(), req)).await;
        FakeClaudeCode { addr, inner, log }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

fn claude_error(status: u16, kind: &str, message: &str) -> Response<FakeBody> {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    full(status, "application/json", body.to_string())
}

async fn claude_code(
    log: Arc<Log>,
    oauth: Arc<OAuthState>,
    inner: String,
    req: Request<Incoming>,
) -> Response<FakeBody> {
    let (parts, bytes, json) = read(&log, req).await;
    if parts.uri.path() != "/v1/messages" {
        return claude_error(404, "not_found_error", "Not Found");
    }
    if parts.uri.query() != Some("beta=true") {
        return claude_error(
            400,
            "invalid_request_error",
            "Claude Code requests use ?beta=true",
        );
    }
    let token = bearer(&parts);
    if !header(&parts, "anthropic-beta")
        .split(',')
        .any(|b| b.trim() == "oauth-2025-04-20")
    {
        return claude_error(
            401,
            "authentication_error",
            "OAuth authentication is currently not supported.",
        );
    }
    if !oauth.valid(token) {
        return claude_error(401, "authentication_error", "Invalid bearer token");
    }
    if header(&parts, "x-app").is_empty()
        || !header(&parts, "user-agent").starts_with("claude-cli/")
    {
        return claude_error(
            400,
            "invalid_request_error",
            "This credential is only authorized for use with Claude Code and cannot be used for other API requests.",
        );
    }
    // What users of other clients on a subscription report: a 429 that names no limit.
    if !is_claude_code(&json) {
        return claude_error(429, "rate_limit_error", "Error");
    }
    forward(
        format!("{inner}/v1/messages"),
        &[
            ("x-api-key", "sk-inner-key"),
            ("anthropic-version", header(&parts, "anthropic-version")),
            ("anthropic-beta", header(&parts, "anthropic-beta")),
        ],
        bytes,
    )
    .await
}

/// The lines Claude Code's system prompt opens with (the interactive CLI, and `-p` / the
/// Agent SDK), after its billing block.
pub const CLAUDE_CODE_IDENTITY: &[&str] = &[
    "You are Claude Code, Anthropic's official CLI for Claude.",
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
];

/// Whether a Messages body is Claude Code's own: its first system text (past the billing
/// block) starts with Claude Code's identity line.
fn is_claude_code(body: &Value) -> bool {
    let texts: Vec<&str> = match body.get("system") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(blocks)) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => Vec::new(),
    };
    texts
        .into_iter()
        .find(|t| !t.starts_with("x-anthropic-billing-header:"))
        .is_some_and(|t| CLAUDE_CODE_IDENTITY.iter().any(|i| t.starts_with(i)))
}

// ---------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct FakeCodex {
    pub addr: SocketAddr,
    pub inner: FakeResponses,
    pub log: Arc<Log>,
}

impl FakeCodex {
    /// `account_id` is the ChatGPT account every request must name.
    pub async fn start(oauth: Arc<OAuthState>, account_id: &str) -> FakeCodex {
        let inner = FakeResponses::start().await;
        let log = Arc::new(Log::default());
        let (l, url, acct) = (log.clone(), inner.base_url(), account_id.to_owned());
        let addr =
            serve(move |req| codex(l.clone(), oauth.clone(), url.clone(), acct.clone(), req)).await;
        FakeCodex { addr, inner, log }
    }

    /// The base URL to configure: `…/backend-api/codex`.
    pub fn base_url(&self) -> String {
        format!("http://{}/backend-api/codex", self.addr)
    }
}

const CODEX_REJECTED: &[&str] = &[
    "temperature",
    "top_p",
    "max_output_tokens",
    "max_tokens",
    "frequency_penalty",
    "presence_penalty",
    "metadata",
    "user",
    "stream_options",
];

fn detail(status: u16, text: &str) -> Response<FakeBody> {
    full(
        status,
        "application/json",
        json!({"detail": text}).to_string(),
    )
}

async fn codex(
    log: Arc<Log>,
    oauth: Arc<OAuthState>,
    inner: String,
    account: String,
    req: Request<Incoming>,
) -> Response<FakeBody> {
    let (parts, bytes, body) = read(&log, req).await;
    if parts.uri.path() != "/backend-api/codex/responses" {
        return detail(404, "Not Found");
    }
    if !oauth.valid(bearer(&parts)) {
        let body = json!({"error": {"message": "Your authentication token has expired. Please try signing in again.", "type": "invalid_request_error", "code": "token_expired"}});
        return full(401, "application/json", body.to_string());
    }
    if header(&parts, "chatgpt-account-id") != account {
        return detail(
            403,
            "chatgpt-account-id is missing or does not match the token",
        );
    }
    if header(&parts, "originator").is_empty() {
        return detail(400, "originator header is required");
    }
    let Some(obj) = body.as_object() else {
        return detail(400, "body must be a JSON object");
    };
    if obj.get("stream") != Some(&Value::Bool(true)) {
        return detail(400, "Stream must be set to true");
    }
    if obj.get("store") != Some(&Value::Bool(false)) {
        return detail(400, "Store must be set to false");
    }
    if !obj.get("instructions").is_some_and(Value::is_string) {
        return detail(400, "Instructions are required");
    }
    if let Some(k) = CODEX_REJECTED.iter().find(|k| obj.contains_key(**k)) {
        return detail(400, &format!("Unsupported parameter: {k}"));
    }
    // `priority` (Codex's fast mode) and `default` are served; any other tier is refused.
    if let Some(tier) = obj.get("service_tier")
        && !matches!(tier.as_str(), Some("priority" | "default"))
    {
        let shown = tier
            .as_str()
            .map_or_else(|| tier.to_string(), str::to_owned);
        return detail(400, &format!("Unsupported service_tier: {shown}"));
    }
    if obj
        .get("input")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return detail(400, "Input must be a list");
    }
    // With `store: false` nothing a client could point back to exists: no system role either.
    for item in obj["input"].as_array().into_iter().flatten() {
        if item.get("role").and_then(Value::as_str) == Some("system") {
            return detail(400, "System messages are not allowed");
        }
        let id = item.get("id").and_then(Value::as_str).unwrap_or("");
        if item["type"] == "item_reference" || id.starts_with("rs_") || id.starts_with("msg_") {
            let e = json!({"error": {"message": format!("Item with id '{id}' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input."),
                "type": "invalid_request_error", "param": "input", "code": null}});
            return full(404, "application/json", e.to_string());
        }
    }
    if body.to_string().contains("#usage-limit") {
        let now = crate::wall_clock()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let e = json!({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
            "plan_type": "plus", "resets_at": now + 600, "resets_in_seconds": 600}});
        return full(429, "application/json", e.to_string());
    }
    forward(
        format!("{inner}/responses"),
        &[("authorization", "Bearer sk-inner-key")],
        bytes,
    )
    .await
}

// ---------------------------------------------------------------------------------------

pub struct CopilotState {
    github: Arc<OAuthState>,
    /// Copilot tokens issued, with their expiry.
    tokens: Mutex<Vec<(String, SystemTime)>>,
    /// Lifetime of the next Copilot tokens, in seconds.
    pub ttl: AtomicU64,
    pub exchanges: AtomicUsize,
    /// Models served only on `/responses`, and only on `/chat/completions`.
    pub responses_only: Mutex<HashSet<String>>,
    pub chat_only: Mutex<HashSet<String>>,
    n: AtomicU64,
}

impl CopilotState {
    pub fn valid(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .unwrap()
            .iter()
            .any(|(t, at)| t == token && *at > crate::wall_clock())
    }

    pub fn last_token(&self) -> Option<String> {
        self.tokens.lock().unwrap().last().map(|(t, _)| t.clone())
    }
}

#[derive(Clone)]
pub struct FakeCopilot {
    pub addr: SocketAddr,
    pub chat: FakeOpenAi,
    pub responses: FakeResponses,
    pub state: Arc<CopilotState>,
    pub log: Arc<Log>,
}

impl FakeCopilot {
    pub async fn start(github: Arc<OAuthState>) -> FakeCopilot {
        let chat = FakeOpenAi::start().await;
        let responses = FakeResponses::start().await;
        let state = Arc::new(CopilotState {
            github,
            tokens: Mutex::default(),
            ttl: AtomicU64::new(1800),
            exchanges: AtomicUsize::new(0),
            responses_only: Mutex::new(["gpt-5-codex".to_owned()].into()),
            chat_only: Mutex::new(["claude-sonnet-4".to_owned()].into()),
            n: AtomicU64::new(0),
        });
        let log = Arc::new(Log::default());
        let (s, l, c, r) = (
            state.clone(),
            log.clone(),
            chat.base_url(),
            responses.base_url(),
        );
        let addr = serve(move |req| copilot(s.clone(), l.clone(), c.clone(), r.clone(), req)).await;
        FakeCopilot {
            addr,
            chat,
            responses,
            state,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Whether a chat or Responses body holds an image part anywhere (`image_url`, `input_image`).
fn has_image(v: &Value) -> bool {
    match v {
        Value::Object(o) => {
            matches!(
                o.get("type").and_then(Value::as_str),
                Some("image_url" | "input_image")
            ) || o.values().any(has_image)
        }
        Value::Array(a) => a.iter().any(has_image),
        _ => false,
    }
}

fn gh_error(status: u16, message: &str, code: Option<&str>) -> Response<FakeBody> {
    let body =
        json!({"error": {"message": message, "code": code, "type": "invalid_request_error"}});
    full(status, "application/json", body.to_string())
}

async fn copilot(
    state: Arc<CopilotState>,
    log: Arc<Log>,
    chat: String,
    responses: String,
    req: Request<Incoming>,
) -> Response<FakeBody> {
    let (parts, bytes, body) = read(&log, req).await;
    let path = parts.uri.path().to_owned();
    if path == "/user" {
        let gh = header(&parts, "authorization")
            .strip_prefix("token ")
            .unwrap_or("");
        return if state.github.valid(gh) {
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
        };
    }
    for h in ["editor-version", "editor-plugin-version"] {
        if header(&parts, h).is_empty() {
            return gh_error(400, &format!("missing {h} header"), None);
        }
    }
    if path == "/copilot_internal/v2/token" {
        let gh = header(&parts, "authorization")
            .strip_prefix("token ")
            .unwrap_or("");
        if !state.github.valid(gh) {
            return full(
                401,
                "application/json",
                json!({"message": "Bad credentials"}).to_string(),
            );
        }
        state.exchanges.fetch_add(1, Ordering::SeqCst);
        let n = state.n.fetch_add(1, Ordering::SeqCst) + 1;
        let ttl = state.ttl.load(Ordering::SeqCst);
        let at = crate::wall_clock() + Duration::from_secs(ttl);
        let exp = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let token = format!("tid=fake{n};exp={exp};sku=free_limited;8kp=1:fakecopilotsig{n}");
        state.tokens.lock().unwrap().push((token.clone(), at));
        let host = header(&parts, "host").to_owned();
        let body = json!({"token": token, "expires_at": exp, "refresh_in": ttl.saturating_sub(60),
            "endpoints": {"api": format!("http://{host}")}, "sku": "free_limited_copilot"});
        return full(200, "application/json", body.to_string());
    }
    if !state.valid(bearer(&parts)) {
        return full(401, "text/plain", "unauthorized: token expired");
    }
    if header(&parts, "copilot-integration-id").is_empty() {
        return gh_error(400, "missing copilot-integration-id", None);
    }
    if has_image(&body) && header(&parts, "copilot-vision-request") != "true" {
        return gh_error(
            400,
            "missing required Copilot-Vision-Request header for vision requests",
            None,
        );
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match path.as_str() {
        "/models" if parts.method == http::Method::GET => {
            full(200, "application/json", copilot_models().to_string())
        }
        "/models" => gh_error(405, "Method Not Allowed", None),
        "/chat/completions" => {
            if state.responses_only.lock().unwrap().contains(&model) {
                return gh_error(
                    400,
                    &format!(
                        "model \"{model}\" is not accessible via the /chat/completions endpoint"
                    ),
                    Some("unsupported_api_for_model"),
                );
            }
            forward(
                format!("{chat}/chat/completions"),
                &[("authorization", "Bearer sk-inner-key")],
                bytes,
            )
            .await
        }
        "/responses" => {
            if state.chat_only.lock().unwrap().contains(&model) {
                return gh_error(
                    400,
                    &format!("model {model} does not support Responses API."),
                    None,
                );
            }
            forward(
                format!("{responses}/responses"),
                &[("authorization", "Bearer sk-inner-key")],
                bytes,
            )
            .await
        }
        _ => gh_error(404, "Not Found", None),
    }
}

/// The models the Copilot fake lists: (id, name, vendor, context window, max output).
pub const COPILOT_MODELS: [(&str, &str, &str, u64, u64); 3] = [
    (
        "claude-sonnet-4",
        "Claude Sonnet 4",
        "Anthropic",
        216_000,
        16_000,
    ),
    (
        "copilot-fake-unpriced",
        "Fake internal model",
        "GitHub",
        64_000,
        4_096,
    ),
    ("gpt-4.1", "GPT-4.1", "Azure OpenAI", 128_000, 16_384),
];

/// `GET /models` on the Copilot API: `data[]` with each model's `capabilities.limits`
/// (`max_context_window_tokens`, `max_output_tokens`, `max_prompt_tokens`) and what it
/// `supports`, as GitHub's answer has them.
fn copilot_models() -> Value {
    let data: Vec<Value> = COPILOT_MODELS
        .iter()
        .map(|(id, name, vendor, context, output)| {
            json!({
                "id": id, "name": name, "object": "model", "vendor": vendor, "version": id,
                "preview": false, "model_picker_enabled": true,
                "capabilities": {
                    "family": id, "object": "model_capabilities", "type": "chat",
                    "tokenizer": "o200k_base",
                    "limits": {"max_context_window_tokens": context,
                        "max_output_tokens": output, "max_prompt_tokens": context - output},
                    "supports": {"streaming": true, "tool_calls": true, "parallel_tool_calls": true}
                }
            })
        })
        .collect();
    json!({"object": "list", "data": data})
}

// ---------------------------------------------------------------------------------------

pub struct CodeAssistState {
    google: Arc<OAuthState>,
    /// The account's project, once it has one.
    pub project: Mutex<Option<String>>,
    pub onboard_calls: AtomicUsize,
}

#[derive(Clone)]
pub struct FakeCodeAssist {
    pub addr: SocketAddr,
    pub inner: FakeGemini,
    pub state: Arc<CodeAssistState>,
    pub log: Arc<Log>,
}

impl FakeCodeAssist {
    /// `project`: the account's project, or `None` for one that must be onboarded.
    pub async fn start(google: Arc<OAuthState>, project: Option<&str>) -> FakeCodeAssist {
        let inner = FakeGemini::start().await;
        let state = Arc::new(CodeAssistState {
            google,
            project: Mutex::new(project.map(str::to_owned)),
            onboard_calls: AtomicUsize::new(0),
        });
        let log = Arc::new(Log::default());
        let (s, l, url) = (state.clone(), log.clone(), inner.base_url());
        let addr = serve(move |req| code_assist(s.clone(), l.clone(), url.clone(), req)).await;
        FakeCodeAssist {
            addr,
            inner,
            state,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn google_error(status: u16, message: &str) -> Response<FakeBody> {
    let s = match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        _ => "INVALID_ARGUMENT",
    };
    let body = json!({"error": {"code": status, "message": message, "status": s}});
    full(status, "application/json", body.to_string())
}

async fn code_assist(
    state: Arc<CodeAssistState>,
    log: Arc<Log>,
    gemini: String,
    req: Request<Incoming>,
) -> Response<FakeBody> {
    let (parts, _, body) = read(&log, req).await;
    if !state.google.valid(bearer(&parts)) {
        return google_error(401, "Request had invalid authentication credentials.");
    }
    let method = parts
        .uri
        .path()
        .strip_prefix("/v1internal:")
        .unwrap_or("")
        .to_owned();
    match method.as_str() {
        "loadCodeAssist" => {
            let project = state.project.lock().unwrap().clone();
            let body = match project {
                Some(p) => {
                    json!({"currentTier": {"id": "standard-tier"}, "cloudaicompanionProject": p})
                }
                None => json!({"allowedTiers": [{"id": "standard-tier", "isDefault": true}]}),
            };
            full(200, "application/json", body.to_string())
        }
        "onboardUser" => {
            if !body.get("tierId").is_some_and(Value::is_string) {
                return google_error(400, "tierId is required");
            }
            // A long-running operation: not done on the first look.
            if state.onboard_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return full(
                    200,
                    "application/json",
                    json!({"name": "operations/onboard-1", "done": false}).to_string(),
                );
            }
            *state.project.lock().unwrap() = Some("proj-onboarded".into());
            let body = json!({"name": "operations/onboard-1", "done": true,
                "response": {"cloudaicompanionProject": {"id": "proj-onboarded", "name": "Onboarded"}}});
            full(200, "application/json", body.to_string())
        }
        "generateContent" | "streamGenerateContent" => {
            let stream = method == "streamGenerateContent";
            if stream && parts.uri.query() != Some("alt=sse") {
                return google_error(400, "streamGenerateContent needs alt=sse here");
            }
            let Some(obj) = body.as_object() else {
                return google_error(400, "body must be an object");
            };
            if let Some(k) = obj
                .keys()
                .find(|k| !["model", "project", "user_prompt_id", "request"].contains(&k.as_str()))
            {
                return google_error(
                    400,
                    &format!(
                        "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
                    ),
                );
            }
            let model = obj.get("model").and_then(Value::as_str).unwrap_or("");
            if model.is_empty() {
                return google_error(400, "model is required");
            }
            let project = state.project.lock().unwrap().clone();
            if project.is_none() || obj.get("project").and_then(Value::as_str) != project.as_deref()
            {
                return google_error(403, "The caller does not have permission (project)");
            }
            let Some(request) = obj.get("request").filter(|r| r.is_object()) else {
                return google_error(400, "request is required");
            };
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            let res = forward(
                format!("{gemini}/models/{model}:{method}"),
                &[("x-goog-api-key", "sk-inner-key")],
                Bytes::from(request.to_string()),
            )
            .await;
            let (parts, body) = res.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let wrapped = if !parts.status.is_success() {
                text.into_owned()
            } else if stream {
                // The Gemini API ends its event lines with CRLF, as SSE allows.
                text.replace("\r\n", "\n")
                    .split("\n\n")
                    .filter_map(|ev| ev.strip_prefix("data: "))
                    .map(|d| format!("data: {}\n\n", json!({"response": serde_json::from_str::<Value>(d).unwrap_or(Value::Null), "traceId": "t1"})))
                    .collect()
            } else {
                json!({"response": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null), "traceId": "t1"}).to_string()
            };
            let ct = if stream && parts.status.is_success() {
                "text/event-stream"
            } else {
                "application/json"
            };
            full(parts.status.as_u16(), ct, wrapped)
        }
        // Gemini CLI's count: `{"request": {"model": "models/…", "contents"}}`, no project,
        // answered `{"totalTokens"}`.
        "countTokens" => {
            let Some(obj) = body.as_object() else {
                return google_error(400, "body must be an object");
            };
            if let Some(k) = obj.keys().find(|k| *k != "request") {
                return google_error(
                    400,
                    &format!(
                        "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
                    ),
                );
            }
            let Some(request) = obj.get("request").and_then(Value::as_object) else {
                return google_error(400, "request is required");
            };
            if let Some(k) = request
                .keys()
                .find(|k| !["model", "contents"].contains(&k.as_str()))
            {
                return google_error(
                    400,
                    &format!(
                        "Invalid JSON payload received. Unknown name \"{k}\" at 'request': Cannot find field."
                    ),
                );
            }
            let Some(model) = request
                .get("model")
                .and_then(Value::as_str)
                .and_then(|m| m.strip_prefix("models/"))
            else {
                return google_error(400, "request.model must be models/{model}");
            };
            let contents = request.get("contents").cloned().unwrap_or(Value::Null);
            let res = forward(
                format!("{gemini}/models/{model}:countTokens"),
                &[("x-goog-api-key", "sk-inner-key")],
                Bytes::from(json!({"contents": contents}).to_string()),
            )
            .await;
            let (parts, body) = res.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let inner: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if !parts.status.is_success() {
                return full(parts.status.as_u16(), "application/json", inner.to_string());
            }
            let body = json!({"totalTokens": inner["totalTokens"]});
            full(200, "application/json", body.to_string())
        }
        _ => google_error(404, "Method not found."),
    }
}
