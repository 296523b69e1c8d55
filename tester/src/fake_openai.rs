//! A fake OpenAI-compatible chat completions provider, written from OpenAI's public wire
//! format with raw JSON. It is strict where the real API is strict, and scriptable from the
//! last user message:
//!
//! - `#chunks=N` stream N content chunks (default 3); `#delay=MS` between chunks
//! - `#hold` stream one chunk, then wait for [`FakeOpenAi::release`]
//! - `#wait` send the headers, then nothing until [`FakeOpenAi::release`]
//! - `#cut` end the stream cleanly after the first content chunk: no finish reason, no
//!   `[DONE]`
//! - `#status=CODE` fail with that status (`#retry-after=S` adds the header)
//! - `#reset` stream two chunks, then break the connection
//! - `#nousage` never send usage, even when asked
//! - `#tool=NAME` call the first declared tool named exactly NAME (streamed as `tool_calls`
//!   deltas with the arguments in fragments, `finish_reason: "tool_calls"`); the arguments
//!   fill the tool's required properties, a `command`/`cmd` string with [`TOOL_COMMAND`]
//! - `#think` send reasoning first, as `reasoning_content` (the field DeepSeek, vLLM and
//!   other OpenAI-compatible servers use), see [`REASONING`]
//!
//! When the last message is a `tool` result, the answer is `after tool: <its content>`.
//! Directives are read from the last user message, text parts included.
//!
//! An account key that starts with `sk-revoked` is refused with 401.
//!
//! Beside chat it serves `/v1/embeddings`, `/v1/completions` and `/v1/images/generations`
//! (see [`endpoints`]), and speech, transcriptions, translations and image edits (see
//! [`media`]), with the same keys and scripted faults.

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

use crate::server::{FakeBody, full, serve_on};

pub mod endpoints;
pub mod media;

pub const PROMPT_TOKENS: u64 = 11;
pub const COMPLETION_TOKENS: u64 = 7;
/// Prompt tokens every answer reports as read from the prompt cache.
pub const CACHED_TOKENS: u64 = 3;
pub const REPLY: &str = "Hello from the fake";
/// The reasoning text `#think` sends.
pub const REASONING: &str = "Thinking it over in the fake";
/// What a `#tool` call asks a shell-like tool to run.
pub const TOOL_COMMAND: &str = "echo switchyard-tool-ok";
/// The id of every tool call the fake makes.
pub const TOOL_CALL_ID: &str = "call_fake_tool_1";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Value,
}

/// A failure scripted for one account key: each request with that key takes the next one;
/// when none are left, the key is served normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and an OpenAI error body, with extra headers.
    Status(u16, Vec<(&'static str, String)>),
    /// Answer with this status and exactly this body.
    Body(u16, String),
    /// Answer 200 with this `Content-Encoding` and these bytes, whatever encoding the
    /// request accepted (a misbehaving upstream or a middlebox that compresses anyway).
    Encoded(&'static str, Vec<u8>),
    /// Answer 200 with JSON headers and a declared length, then never send the body.
    HeadersOnly,
    /// Stream exactly these `data:` payloads, whatever they are, then end the body.
    Events(Vec<String>),
    /// Accept, then close the connection before any byte of the body.
    ResetBeforeFirstByte,
    /// Stream two events, then close the connection (speech: its first frame of audio,
    /// then a broken body).
    ResetAfterFirstByte,
    /// Speech: send the first frame of audio, then nothing until [`FakeOpenAi::release`].
    HoldAfterFirstFrame,
    /// Wait this long before answering at all.
    Stall(Duration),
    /// Serve this request normally (to interleave faults with successes).
    Pass,
}

#[derive(Default)]
pub struct State {
    pub requests: Mutex<Vec<Recorded>>,
    faults: Mutex<std::collections::HashMap<String, std::collections::VecDeque<Fault>>>,
    release: Notify,
    /// Streams whose reader went away before the fake finished writing.
    pub cancelled: AtomicUsize,
    pub completed_streams: AtomicUsize,
    /// Jobs of `/v1/videos`.
    pub videos: crate::fake_videos::Jobs,
    /// Requests being answered now (from the request's arrival until its answer is
    /// built), and the most there ever were at once: a concurrency cap is seen here.
    pub in_flight: AtomicUsize,
    pub most_in_flight: AtomicUsize,
}

/// Counts one request in [`State::in_flight`] while it lives.
struct Answering(Arc<State>);

impl Answering {
    fn new(state: &Arc<State>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Answering(state.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl FakeOpenAi {
    pub async fn start() -> FakeOpenAi {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts the fake on `bind` (e.g. `0.0.0.0:0`, for a client inside a container).
    pub async fn start_on(bind: &str) -> FakeOpenAi {
        let state = Arc::new(State::default());
        let s = state.clone();
        let addr = serve_on(bind, move |req| handle(s.clone(), req)).await;
        FakeOpenAi { addr, state }
    }

    /// The base URL to configure, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn release(&self) {
        self.state.release.notify_one();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Queues faults for requests made with account key `key`.
    pub fn script(&self, key: &str, faults: impl IntoIterator<Item = Fault>) {
        self.state
            .faults
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .extend(faults);
    }

    /// The account key of every request received, in order.
    pub fn keys_seen(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|r| {
                r.headers
                    .get("authorization")?
                    .to_str()
                    .ok()?
                    .strip_prefix("Bearer ")
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// The error `type` OpenAI gives a status: a client error is the caller's fault
/// (`invalid_request_error`), except a rate limit; anything else is the server's.
fn scripted_kind(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response<FakeBody> {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    full(status, "application/json", body.to_string())
}

/// The Videos API (see [`crate::fake_videos`]), with the keys chat takes.
async fn videos(state: &State, parts: http::request::Parts, body: Incoming) -> Response<FakeBody> {
    let key = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = parts.uri.path().to_owned();
    state.requests.lock().unwrap().push(Recorded {
        path: path.clone(),
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    if key.is_empty() || key.starts_with("sk-revoked") {
        return error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    let query = parts.uri.query().unwrap_or("");
    match (&parts.method, path.strip_prefix("/v1/videos/")) {
        (&http::Method::POST, None) => {
            crate::fake_videos::openai_create(&state.videos, &key, &content_type, &bytes)
        }
        (&http::Method::GET, Some(rest)) => {
            crate::fake_videos::openai_get(&state.videos, &key, rest, query)
        }
        _ => error(405, "Method not allowed", "invalid_request_error", None),
    }
}

/// The models `GET /v1/models` lists.
pub const LISTED_MODELS: [&str; 3] = ["gpt-4.1", "gpt-4.1-mini", "ft:gpt-4.1:acme::fake01"];

/// `GET /v1/models`, in OpenAI's list shape (no limits: OpenAI's list gives none).
fn list_models(parts: &http::request::Parts) -> Response<FakeBody> {
    if parts.method != http::Method::GET {
        return error(405, "Method not allowed", "invalid_request_error", None);
    }
    let key = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if key.is_empty() || key.starts_with("sk-revoked") {
        return error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    let data: Vec<Value> = LISTED_MODELS
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_744_316_542, "owned_by": "system"}))
        .collect();
    full(
        200,
        "application/json",
        json!({"object": "list", "data": data}).to_string(),
    )
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path == "/v1/models" {
        return list_models(&parts);
    }
    if path == "/v1/videos" || path.starts_with("/v1/videos/") {
        return videos(&state, parts, body).await;
    }
    if path != "/v1/chat/completions"
        && !endpoints::PATHS.contains(&path.as_str())
        && !media::PATHS.contains(&path.as_str())
    {
        return error(
            404,
            &format!("Unknown request URL: {} {path}", parts.method),
            "invalid_request_error",
            Some("unknown_url"),
        );
    }
    if parts.method != http::Method::POST {
        return error(405, "Method not allowed", "invalid_request_error", None);
    }
    let _answering = Answering::new(&state);
    let key = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let multipart =
        media::is_multipart(&path).then(|| media::parse_multipart(&content_type, &bytes));
    let parsed: Result<Value, String> = match &multipart {
        Some(Ok(form)) => Ok(media::recorded(form)),
        Some(Err(e)) => Err(e.clone()),
        None => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
    };
    if let Ok(v) = &parsed {
        state.requests.lock().unwrap().push(Recorded {
            path: path.clone(),
            headers: parts.headers.clone(),
            body: v.clone(),
        });
    }
    let fault = state
        .faults
        .lock()
        .unwrap()
        .get_mut(&key)
        .and_then(|q| q.pop_front());
    let mut reset_after_first = false;
    let mut hold_after_first = false;
    match fault {
        Some(Fault::Status(code, headers)) => {
            let mut res = error(
                code,
                &format!("scripted failure {code}"),
                scripted_kind(code),
                None,
            );
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            return res;
        }
        Some(Fault::Body(code, body)) => return full(code, "application/json", body),
        Some(Fault::Encoded(encoding, bytes)) => {
            let mut res = full(200, "application/json", bytes);
            res.headers_mut()
                .insert("content-encoding", encoding.parse().unwrap());
            return res;
        }
        Some(Fault::Events(events)) => {
            let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            return full(200, "text/event-stream", body);
        }
        Some(Fault::HeadersOnly) => {
            let (tx, body) = Channel::<Bytes, std::io::Error>::new(1);
            // The sender is kept (and so the body open) until the test's runtime ends.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(600)).await;
                drop(tx);
            });
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("content-length", "400")
                .body(body.boxed_unsync())
                .unwrap();
        }
        Some(Fault::ResetBeforeFirstByte) => {
            let (tx, body) = Channel::<Bytes, std::io::Error>::new(1);
            tx.abort(std::io::Error::other(
                "scripted reset before the first byte",
            ));
            return Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .body(body.boxed_unsync())
                .unwrap();
        }
        Some(Fault::ResetAfterFirstByte) => reset_after_first = true,
        Some(Fault::HoldAfterFirstFrame) => hold_after_first = true,
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        Some(Fault::Pass) | None => {}
    }
    if key.is_empty() {
        return error(
            401,
            "You didn't provide an API key.",
            "invalid_request_error",
            None,
        );
    }
    if key.starts_with("sk-revoked") {
        return error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    if let Some(form) = multipart {
        return match form.and_then(|f| media::multipart(&path, &f)) {
            Ok(res) => res,
            Err(msg) => error(400, &msg, "invalid_request_error", None),
        };
    }
    if !content_type.starts_with("application/json") {
        return error(
            400,
            "Invalid content type; expected application/json",
            "invalid_request_error",
            None,
        );
    }
    let Ok(body) = parsed else {
        return error(
            400,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    if path == "/v1/audio/speech" {
        let mode = if reset_after_first {
            media::SpeechMode::BreakAfterFirst
        } else if hold_after_first {
            media::SpeechMode::HoldAfterFirst(state.clone())
        } else {
            media::SpeechMode::Whole
        };
        return match media::speech(&body, mode) {
            Ok(res) => res,
            Err(msg) => error(400, &msg, "invalid_request_error", None),
        };
    }
    if path != "/v1/chat/completions" {
        return match endpoints::answer(&path, &body) {
            Ok(res) => res,
            Err(msg) => error(400, &msg, "invalid_request_error", None),
        };
    }
    if let Err(msg) = validate(&body) {
        return error(400, &msg, "invalid_request_error", None);
    }

    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let script = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    let directive = |name: &str| -> Option<String> {
        script.split_whitespace().find_map(|w| {
            let w = w.strip_prefix('#')?;
            match w.split_once('=') {
                Some((k, v)) if k == name => Some(v.to_owned()),
                None if w == name => Some(String::new()),
                _ => None,
            }
        })
    };
    if let Some(code) = directive("status").and_then(|c| c.parse::<u16>().ok()) {
        let mut res = error(
            code,
            &format!("scripted failure {code}"),
            scripted_kind(code),
            None,
        );
        if let Some(after) = directive("retry-after") {
            res.headers_mut()
                .insert("retry-after", after.parse().unwrap());
        }
        return res;
    }

    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let usage = json!({
        "prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS}, "completion_tokens_details": {"reasoning_tokens": 0}
    });
    let no_usage = directive("nousage").is_some();
    let reasoning = directive("think").map(|_| REASONING.to_owned());
    let after_tool = messages
        .last()
        .filter(|m| m["role"] == "tool")
        .map(|m| format!("after tool: {}", text_of(&m["content"]).trim()));
    let tool_call = match (&after_tool, directive("tool")) {
        (None, Some(name)) => match tool_call_for(&body, &name) {
            Ok(call) => Some(call),
            Err(msg) => return error(400, &msg, "invalid_request_error", None),
        },
        _ => None,
    };
    if !stream {
        let mut message = json!({"role": "assistant", "content": REPLY, "refusal": null});
        let mut finish = "stop";
        if let Some(text) = &after_tool {
            message["content"] = json!(text);
        }
        if let Some((name, args)) = &tool_call {
            message["content"] = Value::Null;
            message["tool_calls"] = json!([{"id": TOOL_CALL_ID, "type": "function",
                "function": {"name": name, "arguments": args}}]);
            finish = "tool_calls";
        }
        if let Some(r) = &reasoning {
            message["reasoning_content"] = json!(r);
        }
        let mut reply = json!({
            "id": "chatcmpl-fake1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage, "system_fingerprint": "fp_fake"
        });
        if no_usage {
            reply.as_object_mut().unwrap().remove("usage");
        }
        return full(200, "application/json", reply.to_string());
    }

    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        && !no_usage;
    let chunks: usize = directive("chunks")
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let delay = Duration::from_millis(directive("delay").and_then(|n| n.parse().ok()).unwrap_or(0));
    let hold = directive("hold").is_some();
    let wait = directive("wait").is_some();
    let cut = directive("cut").is_some();
    let reset = directive("reset").is_some() || reset_after_first;

    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(4);
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            let mut c = json!({"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                "system_fingerprint": "fp_fake", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
            // With include_usage, every chunk carries `"usage": null` until the last.
            if include_usage {
                c["usage"] = Value::Null;
            }
            Bytes::from(format!("data: {c}\n\n"))
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        if let Some(r) = &reasoning {
            let (a, b) = r.split_at(r.len() / 2);
            for piece in [a, b] {
                events.push(chunk(json!({"reasoning_content": piece}), Value::Null));
            }
        }
        let finish = if let Some((name, args)) = &tool_call {
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": TOOL_CALL_ID, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in fragments(args, 3) {
                events.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
            "tool_calls"
        } else if let Some(text) = &after_tool {
            for piece in fragments(text, 2) {
                events.push(chunk(json!({"content": piece}), Value::Null));
            }
            "stop"
        } else {
            for i in 0..chunks {
                events.push(chunk(json!({"content": format!("tok{i} ")}), Value::Null));
            }
            "stop"
        };
        events.push(chunk(json!({}), json!(finish)));
        if include_usage {
            let u = json!({"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                "choices": [], "usage": usage});
            events.push(Bytes::from(format!("data: {u}\n\n")));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));

        if wait {
            state.release.notified().await;
        }
        for (i, ev) in events.into_iter().enumerate() {
            if cut && i == 2 {
                break;
            }
            if reset && i == 3 {
                // Let the events already sent reach the wire: an abort drops unflushed data,
                // and the point is a stream that breaks after its first bytes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                tx.abort(std::io::Error::other("scripted reset"));
                return;
            }
            if tx.send_data(ev).await.is_err() {
                state.cancelled.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if hold && i == 1 {
                state.release.notified().await;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        state.completed_streams.fetch_add(1, Ordering::SeqCst);
        // Keep the sender until the reader has taken everything, to notice a reader that
        // goes away early.
        drop(tx);
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(body.boxed_unsync())
        .unwrap()
}

/// The text of a message's `content`: a string, or the text of its parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `s` cut into `n` pieces on character boundaries (fewer when it is short).
fn fragments(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The name and JSON arguments of a call to the first declared tool named exactly `name`.
fn tool_call_for(body: &Value, name: &str) -> Result<(String, String), String> {
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let Some(tool) = tools.iter().find(|t| t["function"]["name"] == name) else {
        let declared: Vec<&str> = tools
            .iter()
            .filter_map(|t| t["function"]["name"].as_str())
            .collect();
        return Err(format!(
            "#tool={name}: no tool of that name was declared (declared: {declared:?})"
        ));
    };
    let schema = &tool["function"]["parameters"];
    let mut args = serde_json::Map::new();
    for key in schema["required"].as_array().into_iter().flatten() {
        let Some(key) = key.as_str() else { continue };
        let prop = &schema["properties"][key];
        let value = match prop["type"].as_str().unwrap_or("string") {
            "string" if matches!(key, "command" | "cmd") => json!(TOOL_COMMAND),
            "string" => json!(prop["enum"][0].as_str().unwrap_or("x")),
            "integer" | "number" => json!(1),
            "boolean" => json!(false),
            "array" => json!([]),
            "object" => json!({}),
            _ => Value::Null,
        };
        args.insert(key.to_owned(), value);
    }
    Ok((name.to_owned(), Value::Object(args).to_string()))
}

/// The checks OpenAI's API makes before it answers.
/// The completion limits OpenAI's API enforces, from its public model pages, for the models
/// tests name (by id prefix); other models are not limited here.
const OUTPUT_LIMITS: [(&str, u64); 3] = [
    ("gpt-4.1", 32_768),
    ("gpt-4o", 16_384),
    ("o4-mini", 100_000),
];

/// The most completion tokens `model` may be asked for, when this fake knows it.
pub fn output_limit(model: &str) -> Option<u64> {
    OUTPUT_LIMITS
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, limit)| *limit)
}

fn validate(body: &Value) -> Result<(), String> {
    let obj = body
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {}
        _ => return Err("you must provide a model parameter".into()),
    }
    if let Some(Value::String(model)) = obj.get("model")
        && let Some(limit) = output_limit(model)
    {
        for field in ["max_tokens", "max_completion_tokens"] {
            if let Some(n) = obj.get(field).and_then(Value::as_u64)
                && n > limit
            {
                return Err(format!(
                    "{field} is too large: {n}. This model supports at most {limit} completion tokens, whereas you provided {n}."
                ));
            }
        }
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("Missing required parameter: 'messages'.")?;
    if messages.is_empty() {
        return Err(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.".into(),
        );
    }
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "system" | "developer" | "user" | "assistant" | "tool") {
            return Err(format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'. (messages[{i}].role)"
            ));
        }
        if role == "tool" && !m.get("tool_call_id").is_some_and(Value::is_string) {
            return Err(format!(
                "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'. (messages[{i}])"
            ));
        }
    }
    validate_tool_turns(messages)?;
    for (i, tool) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if tool["type"] != "function" {
            return Err(format!(
                "Invalid value: {}. Supported values are: 'function' and 'custom'. (tools[{i}].type)",
                tool["type"]
            ));
        }
        let name = tool["function"]["name"].as_str().unwrap_or("");
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
            ));
        }
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if obj.contains_key("stream_options") && !stream {
        return Err(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.".into(),
        );
    }
    Ok(())
}

/// OpenAI refuses a conversation whose tool calls and tool results do not pair up.
fn validate_tool_turns(messages: &[Value]) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or("");
            let Some(pos) = open.iter().position(|o| o == id) else {
                return Err(format!(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages[{i}])"
                ));
            };
            open.remove(pos);
            continue;
        }
        if !open.is_empty() {
            return Err(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                open.join(", ")
            ));
        }
        if role == "assistant" {
            open = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect();
        }
    }
    Ok(())
}
