//! A fake Anthropic Messages API (`POST /v1/messages`, also `?beta=true`, and
//! `POST /v1/messages/count_tokens`), written from Anthropic's public wire format with raw
//! JSON. It is strict where the real API is strict (see [`validate`]) and answers with the
//! real error shape `{"type":"error","error":{"type":...,"message":...}}`.
//!
//! Scriptable from the text blocks of the last user turn:
//!
//! - `#chunks=N` split the text over N `text_delta`s (default 3); `#delay=MS` between events
//! - `#hold` stream up to the first delta, then wait for [`FakeAnthropic::release`]
//! - `#wait` send the headers, then nothing until [`FakeAnthropic::release`] (a slow first
//!   byte)
//! - `#cut` end the stream cleanly after the first delta, without the closing events (a
//!   provider that stops short of `message_stop`)
//! - `#status=CODE` fail with that status (`#retry-after=S` adds the header)
//! - `#reset` stream two deltas, then break the connection
//! - `#tool=NAME` answer with a `tool_use` of the declared tool named exactly NAME (else the
//!   first declared custom tool) with input [`TOOL_ARGS`], streamed as several
//!   `input_json_delta` fragments
//! - `#think` start with a thinking block signed [`SIGNATURE`]
//!
//! As the real model does, a request with `thinking: {"type":"enabled"}` always gets a
//! thinking block first, and a forcing `tool_choice` (`any` / `tool`) always gets a tool call.
//! A last user turn holding `tool_result` blocks is answered `after tool: <output>`.
//! An account key that starts with `sk-revoked` is refused with 401.
//!
//! This file also holds the scaffolding that the Responses and Gemini fakes share with it:
//! [`Recorded`], [`FakeState`], the directive parser and the stream writer.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, channel::Channel};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::server::{FakeBody, full, serve};

pub const INPUT_TOKENS: u64 = 21;
pub const OUTPUT_TOKENS: u64 = 9;
pub const CACHE_READ_INPUT_TOKENS: u64 = 5;
pub const CACHE_CREATION_INPUT_TOKENS: u64 = 2;
pub const REPLY: &str = "Hello from the fake";
pub const THINKING: &str = "Let me think about that.";
/// The only thinking signature the fake issues, and so the only one it accepts back.
pub const SIGNATURE: &str = "sig-fake-1";
/// The arguments of every scripted tool call.
pub const TOOL_ARGS: &str = r#"{"cmd":"echo hi"}"#;
/// [`TOOL_ARGS`] cut inside the key and inside the value, the way real streams cut it.
pub const TOOL_ARGS_FRAGMENTS: [&str; 3] = ["{\"cm", "d\":\"ech", "o hi\"}"];
/// The prefix of the answer to a tool result.
pub const AFTER_TOOL: &str = "after tool: ";

// ---------------------------------------------------------------------------------------
// Scaffolding shared by the fakes written from public formats.

/// One request as a fake received it. `body` is `Null` when the body was not JSON.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct FakeState {
    pub requests: Mutex<Vec<Recorded>>,
    release: Notify,
    /// Streams whose reader went away before the fake finished writing.
    pub cancelled: AtomicUsize,
    pub completed_streams: AtomicUsize,
    ids: AtomicUsize,
    /// Veo jobs, when this state is a Gemini fake's.
    pub videos: crate::fake_videos::Jobs,
}

impl FakeState {
    pub fn release(&self) {
        self.release.notify_one();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// A number unique within this fake, so ids differ across turns of one conversation.
    pub(crate) fn next_id(&self) -> usize {
        self.ids.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Reads the whole request and records it in `log`.
pub(crate) async fn receive(
    log: &Mutex<Vec<Recorded>>,
    req: Request<Incoming>,
) -> (http::request::Parts, Result<Value, serde_json::Error>) {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
    log.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: parsed.as_ref().cloned().unwrap_or(Value::Null),
    });
    (parts, parsed)
}

pub(crate) fn header<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn is_json(parts: &http::request::Parts) -> bool {
    header(parts, "content-type").is_some_and(|v| v.starts_with("application/json"))
}

/// The `#name` / `#name=value` directives of a script text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Script {
    text: String,
}

impl Script {
    pub(crate) fn new(text: impl Into<String>) -> Script {
        Script { text: text.into() }
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.text.split_whitespace().find_map(|w| {
            let w = w.strip_prefix('#')?;
            match w.split_once('=') {
                Some((k, v)) if k == name => Some(v.to_owned()),
                None if w == name => Some(String::new()),
                _ => None,
            }
        })
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn chunks(&self) -> usize {
        self.get("chunks")
            .and_then(|n| n.parse().ok())
            .unwrap_or(3usize)
            .max(1)
    }

    pub(crate) fn status(&self) -> Option<u16> {
        self.get("status")
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (400..=599).contains(c))
    }

    pub(crate) fn retry_after(&self) -> Option<http::HeaderValue> {
        self.get("retry-after").and_then(|v| v.parse().ok())
    }
}

/// The default text for `#chunks=N`: [`REPLY`], padded with dots when N exceeds its length
/// so that every chunk carries one character at least.
pub fn reply_text(chunks: usize) -> String {
    let len = REPLY.chars().count();
    let mut text = REPLY.to_owned();
    text.extend(std::iter::repeat_n('.', chunks.saturating_sub(len)));
    text
}

/// `text` cut into `n` non-empty pieces of near-equal length (fewer if it is shorter).
pub(crate) fn split_text(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    (0..n)
        .map(|i| {
            chars[i * chars.len() / n..(i + 1) * chars.len() / n]
                .iter()
                .collect()
        })
        .collect()
}

/// What the fake model decided to say.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Text(Vec<String>),
    Tool { name: String },
}

/// One piece of a streamed body; `delta` marks the pieces that `#hold` and `#reset` count.
pub(crate) struct Frame {
    pub(crate) bytes: Bytes,
    pub(crate) delta: bool,
}

pub(crate) fn sse_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Writes `frames` as a streamed body, honouring `#hold`, `#wait`, `#cut`, `#delay` and
/// `#reset`.
pub(crate) fn stream_frames(
    state: Arc<FakeState>,
    script: &Script,
    frames: Vec<Frame>,
    content_type: &str,
) -> Response<FakeBody> {
    let hold = script.has("hold");
    let wait = script.has("wait");
    let cut = script.has("cut");
    let reset = script.has("reset");
    let delay = Duration::from_millis(
        script
            .get("delay")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    );
    let deltas: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.delta)
        .map(|(i, _)| i)
        .collect();
    let hold_after = deltas.first().copied();
    let reset_after = deltas.get(1).or(deltas.last()).copied();
    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(4);
    tokio::spawn(async move {
        if wait {
            state.release.notified().await;
        }
        for (i, frame) in frames.into_iter().enumerate() {
            if tx.send_data(frame.bytes).await.is_err() {
                state.cancelled.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if cut && Some(i) == hold_after {
                break;
            }
            if reset && Some(i) == reset_after {
                tx.abort(std::io::Error::other("scripted reset"));
                return;
            }
            if hold && Some(i) == hold_after {
                state.release.notified().await;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        state.completed_streams.fetch_add(1, Ordering::SeqCst);
        drop(tx);
    });
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(body.boxed_unsync())
        .unwrap()
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------
// The Anthropic fake.

#[derive(Clone)]
pub struct FakeAnthropic {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl FakeAnthropic {
    pub async fn start() -> FakeAnthropic {
        let state = Arc::new(FakeState::default());
        let s = state.clone();
        let addr = serve(move |req| handle(s.clone(), req)).await;
        FakeAnthropic { addr, state }
    }

    /// The base URL to configure as a provider, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The root, as `ANTHROPIC_BASE_URL` and the SDKs take it.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn release(&self) {
        self.state.release();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests()
    }
}

fn error(status: u16, kind: &str, message: &str) -> Response<FakeBody> {
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_fake"
    });
    full(status, "application/json", body.to_string())
}

fn kind_for(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The models `GET /v1/models` lists: (id, display name, input limit, output limit).
pub const LISTED_MODELS: [(&str, &str, u64, u64); 3] = [
    (
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        200_000,
        64_000,
    ),
    (
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        200_000,
        64_000,
    ),
    ("claude-fake-unpriced-1", "Claude Fake", 100_000, 8_192),
];

/// `GET /v1/models`: Anthropic's paged list (`limit`, 1 to 1000, default 20; `after_id`).
fn list_models(parts: &http::request::Parts) -> Response<FakeBody> {
    if parts.method != http::Method::GET {
        return error(405, "invalid_request_error", "Method Not Allowed");
    }
    let key = header(parts, "x-api-key")
        .or_else(|| header(parts, "authorization").and_then(|v| v.strip_prefix("Bearer ")))
        .unwrap_or("");
    if key.is_empty() || key.starts_with("sk-revoked") {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    if header(parts, "anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let query = parts.uri.query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return error(
                400,
                "invalid_request_error",
                "limit: Input should be less than or equal to 1000",
            );
        }
    };
    let start = match param("after_id") {
        None => 0,
        Some(after) => match LISTED_MODELS.iter().position(|m| m.0 == after) {
            Some(i) => i + 1,
            None => return error(400, "invalid_request_error", "after_id: unknown model id"),
        },
    };
    let page: Vec<Value> = LISTED_MODELS
        .iter()
        .skip(start)
        .take(limit)
        .map(|(id, name, input, output)| {
            json!({"type": "model", "id": id, "display_name": name,
                "created_at": "2025-09-29T00:00:00Z", "max_input_tokens": input, "max_tokens": output})
        })
        .collect();
    let body = json!({
        "data": page,
        "has_more": start + page.len() < LISTED_MODELS.len(),
        "first_id": page.first().map(|m| m["id"].clone()),
        "last_id": page.last().map(|m| m["id"].clone()),
    });
    full(200, "application/json", body.to_string())
}

async fn handle(state: Arc<FakeState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, parsed) = receive(&state.requests, req).await;
    let path = parts.uri.path();
    if path == "/v1/models" {
        return list_models(&parts);
    }
    let count_tokens = match path {
        "/v1/messages" => false,
        "/v1/messages/count_tokens" => true,
        _ => return error(404, "not_found_error", "Not Found"),
    };
    if parts.method != http::Method::POST {
        return error(405, "invalid_request_error", "Method Not Allowed");
    }
    let key = header(&parts, "x-api-key")
        .or_else(|| header(&parts, "authorization").and_then(|v| v.strip_prefix("Bearer ")))
        .unwrap_or("");
    if key.is_empty() {
        return error(401, "authentication_error", "x-api-key header is required");
    }
    if key.starts_with("sk-revoked") {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    if header(&parts, "anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    if !is_json(&parts) {
        return error(
            400,
            "invalid_request_error",
            "content-type: must be application/json",
        );
    }
    let Ok(body) = parsed else {
        return error(
            400,
            "invalid_request_error",
            "There was an error parsing the body of your request. Please check that it is valid JSON.",
        );
    };
    let beta = header(&parts, "anthropic-beta").unwrap_or("");
    if let Err(msg) = validate(&body, beta, count_tokens) {
        return error(400, "invalid_request_error", &msg);
    }
    if count_tokens {
        return full(
            200,
            "application/json",
            json!({"input_tokens": INPUT_TOKENS}).to_string(),
        );
    }

    let turn = last_user_turn(&body);
    let script = Script::new(turn.text.clone());
    if let Some(code) = script.status() {
        let mut res = error(code, kind_for(code), &format!("scripted failure {code}"));
        if let Some(after) = script.retry_after() {
            res.headers_mut().insert("retry-after", after);
        }
        return res;
    }

    let thinking_type = body
        .pointer("/thinking/type")
        .and_then(Value::as_str)
        .unwrap_or("disabled");
    let think = script.has("think") || thinking_type == "enabled";
    let answer = choose_answer(&body, &script, &turn);
    let n = state.next_id();
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let stop_reason = match answer {
        Answer::Tool { .. } => "tool_use",
        Answer::Text(_) => "end_turn",
    };
    let tool_id = format!("toolu_fake_{n}");

    if !stream {
        let mut content = Vec::new();
        if think {
            content.push(json!({"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}));
        }
        match &answer {
            Answer::Text(pieces) => {
                content.push(json!({"type": "text", "text": pieces.concat()}));
            }
            Answer::Tool { name } => content.push(json!({
                "type": "tool_use", "id": tool_id, "name": name,
                "input": serde_json::from_str::<Value>(TOOL_ARGS).unwrap()
            })),
        }
        let reply = json!({
            "id": format!("msg_fake_{n}"), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage(OUTPUT_TOKENS)
        });
        let mut res = full(200, "application/json", reply.to_string());
        res.headers_mut()
            .insert("request-id", format!("req_fake_{n}").parse().unwrap());
        return res;
    }

    let frame = |name: &str, data: Value, delta: bool| Frame {
        bytes: sse_event(name, &data),
        delta,
    };
    let mut frames = vec![frame(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_fake_{n}"), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1)
        }}),
        false,
    )];
    let mut index = 0;
    let mut pinged = false;
    let mut open = |frames: &mut Vec<Frame>, index: usize, block: Value| {
        frames.push(frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
            false,
        ));
        // The real API pings once, right after the first block opens.
        if !pinged {
            pinged = true;
            frames.push(frame("ping", json!({"type": "ping"}), false));
        }
    };
    let delta = |index: usize, delta: Value| {
        frame(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
            true,
        )
    };
    let stop = |index: usize| {
        frame(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
            false,
        )
    };
    if think {
        open(
            &mut frames,
            index,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        );
        for piece in split_text(THINKING, 2) {
            frames.push(delta(
                index,
                json!({"type": "thinking_delta", "thinking": piece}),
            ));
        }
        frames.push(delta(
            index,
            json!({"type": "signature_delta", "signature": SIGNATURE}),
        ));
        frames.push(stop(index));
        index += 1;
    }
    match &answer {
        Answer::Text(pieces) => {
            open(&mut frames, index, json!({"type": "text", "text": ""}));
            for piece in pieces {
                frames.push(delta(index, json!({"type": "text_delta", "text": piece})));
            }
        }
        Answer::Tool { name } => {
            open(
                &mut frames,
                index,
                json!({"type": "tool_use", "id": tool_id, "name": name, "input": {}}),
            );
            frames.push(delta(
                index,
                json!({"type": "input_json_delta", "partial_json": ""}),
            ));
            for piece in TOOL_ARGS_FRAGMENTS {
                frames.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": piece}),
                ));
            }
        }
    }
    frames.push(stop(index));
    frames.push(frame(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {
            "input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS,
            "cache_read_input_tokens": CACHE_READ_INPUT_TOKENS,
            "cache_creation_input_tokens": CACHE_CREATION_INPUT_TOKENS
        }}),
        false,
    ));
    frames.push(frame(
        "message_stop",
        json!({"type": "message_stop"}),
        false,
    ));
    let mut res = stream_frames(state, &script, frames, "text/event-stream; charset=utf-8");
    res.headers_mut()
        .insert("request-id", format!("req_fake_{n}").parse().unwrap());
    res
}

fn usage(output_tokens: u64) -> Value {
    json!({
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": CACHE_CREATION_INPUT_TOKENS,
        "cache_read_input_tokens": CACHE_READ_INPUT_TOKENS,
        "cache_creation": {"ephemeral_5m_input_tokens": CACHE_CREATION_INPUT_TOKENS, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard"
    })
}

/// The text and tool outputs of the last user turn (consecutive user messages count as one
/// turn, as the real API merges them).
#[derive(Debug, Default)]
struct UserTurn {
    text: String,
    tool_outputs: Vec<String>,
}

fn last_user_turn(body: &Value) -> UserTurn {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let conversation: Vec<&Value> = messages.iter().filter(|m| m["role"] != "system").collect();
    let Some(last_user) = conversation.iter().rposition(|m| m["role"] == "user") else {
        return UserTurn::default();
    };
    let first = conversation[..last_user]
        .iter()
        .rposition(|m| m["role"] != "user")
        .map_or(0, |i| i + 1);
    let mut turn = UserTurn::default();
    let mut texts = Vec::new();
    for m in &conversation[first..=last_user] {
        match &m["content"] {
            Value::String(s) => texts.push(s.clone()),
            Value::Array(blocks) => {
                for b in blocks {
                    match b["type"].as_str() {
                        Some("text") => texts.push(b["text"].as_str().unwrap_or("").to_owned()),
                        Some("tool_result") => turn.tool_outputs.push(block_text(&b["content"])),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    turn.text = texts.join("\n");
    turn
}

fn block_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn choose_answer(body: &Value, script: &Script, turn: &UserTurn) -> Answer {
    let choice = body.pointer("/tool_choice/type").and_then(Value::as_str);
    let names: Vec<&str> = match choice {
        Some("none") => Vec::new(),
        _ => body["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter(|t| t.get("input_schema").is_some())
                    .filter_map(|t| t["name"].as_str())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let forced = match choice {
        Some("tool") => body.pointer("/tool_choice/name").and_then(Value::as_str),
        _ => None,
    };
    let ask = ToolAsk {
        names,
        forced,
        required: choice == Some("any"),
    };
    decide(&ask, script, &turn.tool_outputs)
}

/// The tools a request offers and what it asks of them, read from its format's own fields.
pub(crate) struct ToolAsk<'a> {
    /// Callable tools by name; empty when none is offered or tools are switched off.
    pub(crate) names: Vec<&'a str>,
    /// The tool the request names outright.
    pub(crate) forced: Option<&'a str>,
    /// Some tool must be called.
    pub(crate) required: bool,
}

/// Every fake model's one rule: the tool the request names; else, when the script wants a
/// tool on a fresh user turn or a call is required, the scripted tool (or the first
/// offered); else text, echoing the tool outputs after a tool turn.
pub(crate) fn decide(ask: &ToolAsk, script: &Script, tool_outputs: &[String]) -> Answer {
    let wanted = script.get("tool");
    if !ask.names.is_empty() {
        if let Some(name) = ask.forced {
            return Answer::Tool {
                name: name.to_owned(),
            };
        }
        if (tool_outputs.is_empty() && wanted.is_some()) || ask.required {
            let name = wanted
                .as_deref()
                .and_then(|w| ask.names.iter().find(|n| **n == w))
                .unwrap_or(&ask.names[0]);
            return Answer::Tool {
                name: (*name).to_owned(),
            };
        }
    }
    if !tool_outputs.is_empty() {
        let text = format!("{AFTER_TOOL}{}", tool_outputs.join("\n"));
        return Answer::Text(split_text(&text, script.chunks()));
    }
    Answer::Text(split_text(&reply_text(script.chunks()), script.chunks()))
}

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_k",
    "top_p",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
    "output_format",
    "inference_geo",
];

const COUNT_TOKENS_TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
    "context_management",
    "output_config",
    "output_format",
];

/// The fields each content block may carry; blocks not listed are checked for `type` only.
fn block_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "text" => &["type", "text", "cache_control", "citations"],
        "image" => &["type", "source", "cache_control"],
        "document" => &[
            "type",
            "source",
            "cache_control",
            "citations",
            "context",
            "title",
        ],
        "tool_use" => &["type", "id", "name", "input", "cache_control", "caller"],
        "tool_result" => &[
            "type",
            "tool_use_id",
            "content",
            "is_error",
            "cache_control",
        ],
        "thinking" => &["type", "thinking", "signature"],
        "redacted_thinking" => &["type", "data"],
        _ => return None,
    })
}

const OTHER_BLOCKS: &[&str] = &[
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "tool_reference",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
];

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_tool_name(s: &str) -> bool {
    is_id(s) && s.len() <= 128
}

/// A versioned Anthropic-defined tool type such as `web_search_20250305` or `bash_20250124`.
/// Anthropic's versioned tools (client tools with a fixed schema and server tools), by the
/// name before their date; any other `type` is refused, as the API refuses it.
const VERSIONED_TOOLS: &[&str] = &[
    "bash",
    "text_editor",
    "computer",
    "memory",
    "web_search",
    "web_fetch",
    "code_execution",
    "tool_search_tool_regex",
    "tool_search_tool_bm25",
];

fn is_versioned_tool(kind: &str) -> bool {
    kind.rsplit_once('_').is_some_and(|(base, date)| {
        VERSIONED_TOOLS.contains(&base)
            && date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The checks of the web search server tool: its fixed name, its own fields, and one
/// domain list at most.
fn check_web_search(
    i: usize,
    kind: &str,
    t: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    if t.get("name").and_then(Value::as_str) != Some("web_search") {
        return Err(format!(
            "tools.{i}.{kind}.name: Input should be 'web_search'"
        ));
    }
    const FIELDS: &[&str] = &[
        "type",
        "name",
        "allowed_domains",
        "blocked_domains",
        "user_location",
        "max_uses",
        "cache_control",
        "allowed_callers",
        "defer_loading",
        "strict",
    ];
    if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "tools.{i}.{kind}.{k}: Extra inputs are not permitted"
        ));
    }
    if t.contains_key("allowed_domains") && t.contains_key("blocked_domains") {
        return Err("Cannot specify both allowed_domains and blocked_domains.".into());
    }
    Ok(())
}

/// The checks Anthropic's API makes before it answers; the message is the real one's.
/// The output limits Anthropic's API enforces, from its public model pages, for the models
/// tests name (by id prefix, so dated ids match); other models are not limited here.
const OUTPUT_LIMITS: [(&str, i64); 5] = [
    ("claude-3-haiku", 4_096),
    ("claude-3-5-haiku", 8_192),
    ("claude-opus-4-1", 32_000),
    ("claude-haiku-4-5", 64_000),
    ("claude-sonnet-4-5", 64_000),
];

/// The most output tokens `model` may be asked for, when this fake knows it.
pub fn output_limit(model: &str) -> Option<i64> {
    OUTPUT_LIMITS
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, limit)| *limit)
}

pub fn validate(body: &Value, beta: &str, count_tokens: bool) -> Result<(), String> {
    let obj = body
        .as_object()
        .ok_or("Input should be a valid dictionary")?;
    let known = if count_tokens {
        COUNT_TOKENS_TOP_LEVEL
    } else {
        TOP_LEVEL
    };
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{k}: Extra inputs are not permitted"));
    }
    // Fields of beta features do not exist for a request that does not name the beta.
    let flags: Vec<&str> = beta.split(',').map(str::trim).collect();
    if obj.contains_key("context_management") && !flags.contains(&"context-management-2025-06-27") {
        return Err("context_management: Extra inputs are not permitted".into());
    }
    if obj
        .get("output_config")
        .and_then(|o| o.get("effort"))
        .is_some()
        && !flags.contains(&"effort-2025-11-24")
    {
        return Err("output_config.effort: Extra inputs are not permitted".into());
    }
    match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {}
        Some(Value::String(_)) => {
            return Err("model: String should have at least 1 character".into());
        }
        None => return Err("model: Field required".into()),
        Some(_) => return Err("model: Input should be a valid string".into()),
    }
    let max_tokens = if count_tokens {
        None
    } else {
        let m = obj.get("max_tokens").ok_or("max_tokens: Field required")?;
        let m = m
            .as_i64()
            .ok_or("max_tokens: Input should be a valid integer")?;
        if m < 1 {
            return Err("max_tokens: Input should be greater than or equal to 1".into());
        }
        if let Some(Value::String(model)) = obj.get("model")
            && let Some(limit) = output_limit(model)
            && m > limit
        {
            return Err(format!(
                "max_tokens: {m} > {limit}, which is the maximum allowed number of output tokens for {model}"
            ));
        }
        Some(m)
    };
    if let Some(s) = obj.get("stream")
        && !s.is_boolean()
    {
        return Err("stream: Input should be a valid boolean".into());
    }
    let mut cache_controls = 0usize;
    if let Some(system) = obj.get("system") {
        match system {
            Value::String(_) => {}
            Value::Array(blocks) => {
                for (i, b) in blocks.iter().enumerate() {
                    if b["type"] != "text" {
                        return Err(format!("system.{i}.type: Input should be 'text'"));
                    }
                    check_block(&format!("system.{i}"), b, "text")?;
                    cache_controls += usize::from(b.get("cache_control").is_some());
                }
            }
            _ => return Err("system: Input should be a valid string".into()),
        }
    }
    for (name, max) in [("temperature", 1.0), ("top_p", 1.0)] {
        if let Some(v) = obj.get(name) {
            let v = v
                .as_f64()
                .ok_or(format!("{name}: Input should be a valid number"))?;
            if v < 0.0 {
                return Err(format!(
                    "{name}: Input should be greater than or equal to 0"
                ));
            }
            if v > max {
                return Err(format!(
                    "{name}: Input should be less than or equal to {max}"
                ));
            }
        }
    }
    if let Some(v) = obj.get("top_k")
        && v.as_u64().is_none()
    {
        return Err("top_k: Input should be a valid integer".into());
    }
    if let Some(stops) = obj.get("stop_sequences")
        && !stops
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
    {
        return Err("stop_sequences: Input should be a valid list of strings".into());
    }
    if let Some(meta) = obj.get("metadata") {
        let meta = meta
            .as_object()
            .ok_or("metadata: Input should be a valid dictionary")?;
        if let Some(k) = meta.keys().find(|k| *k != "user_id") {
            return Err(format!("metadata.{k}: Extra inputs are not permitted"));
        }
        if meta
            .get("user_id")
            .is_some_and(|u| !u.is_string() && !u.is_null())
        {
            return Err("metadata.user_id: Input should be a valid string".into());
        }
    }

    let thinking = match obj.get("thinking") {
        None => "disabled",
        Some(t) => {
            let kind = t["type"].as_str().unwrap_or("");
            match kind {
                "enabled" => {
                    let budget = t
                        .get("budget_tokens")
                        .ok_or("thinking.enabled.budget_tokens: Field required")?
                        .as_i64()
                        .ok_or("thinking.enabled.budget_tokens: Input should be a valid integer")?;
                    if budget < 1024 {
                        return Err("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into());
                    }
                    // Interleaved thinking lets the budget span several turns, so it may
                    // exceed one turn's max_tokens.
                    if let Some(max) = max_tokens
                        && budget >= max
                        && !beta.contains("interleaved-thinking-2025-05-14")
                    {
                        return Err("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size".into());
                    }
                    "enabled"
                }
                "adaptive" => "adaptive",
                "disabled" => "disabled",
                other => {
                    return Err(format!(
                        "thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"
                    ));
                }
            }
        }
    };
    if thinking != "disabled" {
        if obj
            .get("temperature")
            .and_then(Value::as_f64)
            .is_some_and(|t| t != 1.0)
        {
            return Err("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility".into());
        }
        if obj.contains_key("top_k") {
            return Err("`top_k` is not supported when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility".into());
        }
    }

    let mut tool_names = HashSet::new();
    if let Some(tools) = obj.get("tools") {
        let tools = tools
            .as_array()
            .ok_or("tools: Input should be a valid list")?;
        for (i, t) in tools.iter().enumerate() {
            let t = t
                .as_object()
                .ok_or(format!("tools.{i}: Input should be a valid dictionary"))?;
            let kind = t.get("type").and_then(Value::as_str).unwrap_or("custom");
            let name = if kind == "custom" {
                let name = t
                    .get("name")
                    .ok_or(format!("tools.{i}.custom.name: Field required"))?
                    .as_str()
                    .ok_or(format!(
                        "tools.{i}.custom.name: Input should be a valid string"
                    ))?;
                if !is_tool_name(name) {
                    return Err(format!(
                        "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
                    ));
                }
                let schema = t
                    .get("input_schema")
                    .ok_or(format!("tools.{i}.custom.input_schema: Field required"))?;
                if !schema.is_object() {
                    return Err(format!(
                        "tools.{i}.custom.input_schema: Input should be a valid dictionary"
                    ));
                }
                if schema["type"] != "object" {
                    return Err(format!(
                        "tools.{i}.custom.input_schema.type: Input should be 'object'"
                    ));
                }
                const FIELDS: &[&str] = &[
                    "type",
                    "name",
                    "description",
                    "input_schema",
                    "cache_control",
                    "strict",
                    "defer_loading",
                    "input_examples",
                    "allowed_callers",
                    "eager_input_streaming",
                ];
                if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                    return Err(format!(
                        "tools.{i}.custom.{k}: Extra inputs are not permitted"
                    ));
                }
                name
            } else if is_versioned_tool(kind) {
                if kind.starts_with("web_search_") {
                    check_web_search(i, kind, t)?;
                }
                t.get("name")
                    .and_then(Value::as_str)
                    .ok_or(format!("tools.{i}.{kind}.name: Field required"))?
            } else {
                return Err(format!(
                    "tools.{i}: Input tag '{kind}' found using 'type' does not match any of the expected tags"
                ));
            };
            if !tool_names.insert(name) {
                return Err("tools: Tool names must be unique.".into());
            }
            cache_controls += usize::from(t.contains_key("cache_control"));
        }
    }
    if let Some(choice) = obj.get("tool_choice") {
        let kind = choice["type"].as_str().unwrap_or("");
        match kind {
            "auto" | "none" => {}
            "any" | "tool" => {
                if kind == "tool" && !choice["name"].is_string() {
                    return Err("tool_choice.tool.name: Field required".into());
                }
                if tool_names.is_empty() {
                    return Err(
                        "tool_choice: tool_choice may only be specified while providing tools."
                            .into(),
                    );
                }
                if thinking != "disabled" {
                    return Err(
                        "Thinking may not be enabled when tool_choice forces tool use.".into(),
                    );
                }
            }
            other => {
                return Err(format!(
                    "tool_choice: Input tag '{other}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
                ));
            }
        }
    }

    let messages = obj.get("messages").ok_or("messages: Field required")?;
    let messages = messages
        .as_array()
        .ok_or("messages: Input should be a valid list")?;
    if messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    let mid_conversation_system = beta.contains("mid-conversation-system");
    let last = messages.len() - 1;
    for (i, m) in messages.iter().enumerate() {
        let m = m
            .as_object()
            .ok_or(format!("messages.{i}: Input should be a valid dictionary"))?;
        if let Some(k) = m.keys().find(|k| *k != "role" && *k != "content") {
            return Err(format!("messages.{i}.{k}: Extra inputs are not permitted"));
        }
        let role = m
            .get("role")
            .ok_or(format!("messages.{i}.role: Field required"))?
            .as_str()
            .unwrap_or("");
        match role {
            "user" | "assistant" => {}
            "system" if mid_conversation_system => {}
            "system" => {
                return Err("messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.".into());
            }
            _ => {
                return Err(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                ));
            }
        }
        let content = m
            .get("content")
            .ok_or(format!("messages.{i}.content: Field required"))?;
        let prefill = i == last && role == "assistant";
        let empty = || {
            format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )
        };
        match content {
            Value::String(s) => {
                if s.is_empty() && !prefill {
                    return Err(empty());
                }
                if prefill && s.ends_with(char::is_whitespace) {
                    return Err(
                        "messages: final assistant content cannot end with trailing whitespace"
                            .into(),
                    );
                }
            }
            Value::Array(blocks) => {
                if blocks.is_empty() && !prefill {
                    return Err(empty());
                }
                for (j, b) in blocks.iter().enumerate() {
                    let path = format!("messages.{i}.content.{j}");
                    let kind = b
                        .get("type")
                        .and_then(Value::as_str)
                        .ok_or(format!("{path}.type: Field required"))?;
                    if role == "system" && kind != "text" {
                        return Err(format!("{path}.type: Input should be 'text'"));
                    }
                    check_block(&path, b, kind)?;
                    match kind {
                        "tool_use" | "thinking" | "redacted_thinking" if role != "assistant" => {
                            return Err(format!(
                                "{path}: `{kind}` blocks are only allowed in assistant messages"
                            ));
                        }
                        "tool_result" if role != "user" => {
                            return Err(format!(
                                "{path}: `tool_result` blocks are only allowed in user messages"
                            ));
                        }
                        _ => {}
                    }
                    if prefill
                        && j + 1 == blocks.len()
                        && kind == "text"
                        && b["text"]
                            .as_str()
                            .is_some_and(|t| t.ends_with(char::is_whitespace))
                    {
                        return Err(
                            "messages: final assistant content cannot end with trailing whitespace"
                                .into(),
                        );
                    }
                    cache_controls += usize::from(b.get("cache_control").is_some());
                    if let Some(inner) = b["content"].as_array() {
                        cache_controls += inner
                            .iter()
                            .filter(|c| c.get("cache_control").is_some())
                            .count();
                    }
                }
            }
            _ => {
                return Err(format!(
                    "messages.{i}.content: Input should be a valid string or a valid list"
                ));
            }
        }
    }
    if cache_controls > 4 {
        return Err(format!(
            "A maximum of 4 blocks with cache_control may be provided. Found {cache_controls}."
        ));
    }
    check_turns(messages, thinking)
}

/// Field-level checks of one content block.
fn check_block(path: &str, b: &Value, kind: &str) -> Result<(), String> {
    let obj = b
        .as_object()
        .ok_or(format!("{path}: Input should be a valid dictionary"))?;
    let Some(fields) = block_fields(kind) else {
        if OTHER_BLOCKS.contains(&kind) {
            return Ok(());
        }
        return Err(format!(
            "{path}: Input tag '{kind}' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use', 'web_search_tool_result'"
        ));
    };
    if let Some(k) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(format!("{path}.{kind}.{k}: Extra inputs are not permitted"));
    }
    let string = |field: &str| -> Result<&str, String> {
        obj.get(field)
            .ok_or(format!("{path}.{kind}.{field}: Field required"))?
            .as_str()
            .ok_or(format!(
                "{path}.{kind}.{field}: Input should be a valid string"
            ))
    };
    match kind {
        "text" => {
            let text = string("text")?;
            let section = path.split('.').next().unwrap_or("messages");
            if text.is_empty() {
                return Err(format!("{section}: text content blocks must be non-empty"));
            }
            if text.trim().is_empty() {
                return Err(format!(
                    "{section}: text content blocks must contain non-whitespace text"
                ));
            }
        }
        "tool_use" => {
            if !is_id(string("id")?) {
                return Err(format!(
                    "{path}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                ));
            }
            string("name")?;
            if !obj.get("input").is_some_and(Value::is_object) {
                return Err(format!(
                    "{path}.tool_use.input: Input should be a valid dictionary"
                ));
            }
        }
        "tool_result" => {
            if !is_id(string("tool_use_id")?) {
                return Err(format!(
                    "{path}.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                ));
            }
            match obj.get("content") {
                None | Some(Value::String(_)) => {}
                Some(Value::Array(parts)) => {
                    for (k, p) in parts.iter().enumerate() {
                        let inner = p["type"].as_str().unwrap_or("");
                        if !matches!(inner, "text" | "image" | "document" | "search_result") {
                            return Err(format!(
                                "{path}.tool_result.content.{k}: Input tag '{inner}' found using 'type' does not match any of the expected tags: 'text', 'image', 'search_result', 'document'"
                            ));
                        }
                        if inner == "text" && !p["text"].is_string() {
                            return Err(format!(
                                "{path}.tool_result.content.{k}.text: Field required"
                            ));
                        }
                    }
                }
                Some(_) => {
                    return Err(format!(
                        "{path}.tool_result.content: Input should be a valid string or a valid list"
                    ));
                }
            }
        }
        "thinking" => {
            string("thinking")?;
            if string("signature")? != SIGNATURE {
                return Err(format!("{path}: Invalid `signature` in `thinking` block"));
            }
        }
        "redacted_thinking" => {
            string("data")?;
            // The fake never redacts, so no redacted data can be its own.
            return Err(format!(
                "{path}: Invalid `data` in `redacted_thinking` block"
            ));
        }
        "image" | "document" if !obj.get("source").is_some_and(Value::is_object) => {
            return Err(format!("{path}.{kind}.source: Field required"));
        }
        _ => {}
    }
    Ok(())
}

/// Conversation-level rules: the first turn is the user's, every `tool_use` is answered in
/// the next turn and every `tool_result` answers the previous one. Consecutive messages of
/// one role form one turn, as the real API merges them.
fn check_turns(messages: &[Value], thinking: &str) -> Result<(), String> {
    struct Turn<'a> {
        role: &'a str,
        blocks: Vec<(usize, usize, &'a Value)>,
    }
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role == "system" {
            continue;
        }
        if turns.last().is_none_or(|t| t.role != role) {
            turns.push(Turn {
                role,
                blocks: Vec::new(),
            });
        }
        if let (Some(turn), Some(blocks)) = (turns.last_mut(), m["content"].as_array()) {
            turn.blocks
                .extend(blocks.iter().enumerate().map(|(j, b)| (i, j, b)));
        }
    }
    if turns.first().is_some_and(|t| t.role != "user") {
        return Err("messages: first message must use the \"user\" role".into());
    }
    let ids_of = |turn: &Turn, kind: &str, field: &str| -> Vec<(usize, usize, String)> {
        turn.blocks
            .iter()
            .filter(|(_, _, b)| b["type"] == kind)
            .filter_map(|(i, j, b)| b[field].as_str().map(|id| (*i, *j, id.to_owned())))
            .collect()
    };
    // Results that answer nothing are reported before calls left unanswered.
    let mut seen_uses = HashSet::new();
    for (t, turn) in turns.iter().enumerate() {
        if turn.role == "assistant" {
            for (i, j, id) in ids_of(turn, "tool_use", "id") {
                if !seen_uses.insert(id) {
                    return Err(format!(
                        "messages.{i}.content.{j}: `tool_use` ids must be unique"
                    ));
                }
            }
            continue;
        }
        let offered: HashSet<String> = t
            .checked_sub(1)
            .map(|p| {
                ids_of(&turns[p], "tool_use", "id")
                    .into_iter()
                    .map(|(_, _, id)| id)
                    .collect()
            })
            .unwrap_or_default();
        for (i, j, id) in ids_of(turn, "tool_result", "tool_use_id") {
            if !offered.contains(&id) {
                return Err(format!(
                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                ));
            }
        }
    }
    for pair in turns.windows(2) {
        let [assistant, next] = pair else { continue };
        if assistant.role != "assistant" {
            continue;
        }
        let answered: HashSet<String> = ids_of(next, "tool_result", "tool_use_id")
            .into_iter()
            .map(|(_, _, id)| id)
            .collect();
        let missing: Vec<(usize, usize, String)> = ids_of(assistant, "tool_use", "id")
            .into_iter()
            .filter(|(_, _, id)| !answered.contains(id))
            .collect();
        if let Some((i, _, _)) = missing.first() {
            let ids: Vec<&str> = missing.iter().map(|(_, _, id)| id.as_str()).collect();
            return Err(format!(
                "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                ids.join(", ")
            ));
        }
    }
    // With thinking on, the assistant turn whose tool calls are being answered must start
    // with its thinking block, echoed back.
    if thinking == "enabled"
        && let [.., assistant, user] = turns.as_slice()
        && assistant.role == "assistant"
        && user.role == "user"
        && user
            .blocks
            .iter()
            .any(|(_, _, b)| b["type"] == "tool_result")
        && let Some((i, _, first)) = assistant.blocks.first()
        && !matches!(
            first["type"].as_str(),
            Some("thinking" | "redacted_thinking")
        )
    {
        return Err(format!(
            "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
            first["type"].as_str().unwrap_or("")
        ));
    }
    Ok(())
}
