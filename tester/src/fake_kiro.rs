//! A fake Kiro (AWS CodeWhisperer streaming) endpoint, `POST /generateAssistantResponse`,
//! written from the public wire facts with raw JSON, and answering in AWS event-stream
//! frames encoded here by hand from the specification:
//!
//! ```text
//! [u32 total length][u32 headers length][u32 CRC32 of those 8 bytes]
//! [headers: u8 name length, name, u8 type (7 = string), u16 value length, value]...
//! [payload][u32 CRC32 of everything before]
//! ```
//!
//! It validates like Kiro (see [`validate`]): what Kiro refuses with 400 "Improperly formed
//! request." it refuses the same way, putting the precise rule in `reason` (Kiro itself says
//! nothing more) so tests can tell which rule broke. Unknown model ids get Kiro's "Invalid
//! model" answer.
//!
//! Scriptable from the current user message's text:
//!
//! - `#chunks=N` split the reply over N `assistantResponseEvent`s (default 3); `#delay=MS`
//! - `#hold` send the first content frame, then wait for [`FakeKiro::release`]
//! - `#tool=NAME` call the declared tool NAME: `toolUseEvent`s with the input in fragments,
//!   the required string properties filled (`command`/`cmd` with [`TOOL_COMMAND`])
//! - `#status=CODE` fail with that HTTP status and an AWS JSON error body
//! - `#throttle` send one content frame, then a `ThrottlingException` exception frame
//! - `#reset` break the connection after the second content frame
//! - `#nometrics` leave out `metricsEvent` (only `contextUsageEvent` reports usage)
//! - `#think` start with `reasoningContentEvent`s: [`THINKING`] in two pieces, then its
//!   [`SIGNATURE`]
//!
//! Every request must carry `X-Amz-Target:` [`TARGET`] (else 400 `UnknownOperationException`),
//! as the service's other clients all send it.
//!
//! A current message carrying `toolResults` is answered `after tool: <first result text>`.
//! A bearer token starting with `revoked` is refused with 403, as Kiro refuses a bad token.
//!
//! [`FakeKiroAuth`] fakes the two refresh services: Kiro's social `POST /refreshToken` and
//! AWS SSO OIDC `POST /{region}/token` (configure `oidc_token_url` as
//! `http://<addr>/{region}/token`). Refresh tokens are single-use: each refresh rotates it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use crate::fake_anthropic::{
    FakeState, Frame, Recorded, Script, header, receive, reply_text, split_text, stream_frames,
};
use crate::server::{FakeBody, full, serve};

pub const INPUT_TOKENS: u64 = 1234;
pub const OUTPUT_TOKENS: u64 = 56;
/// `contextUsagePercentage` of every answer: 0.5 % of a 200k window is 1000 tokens.
pub const CONTEXT_PERCENT: f64 = 0.5;
pub const TOOL_COMMAND: &str = "echo switchyard-tool-ok";
pub const AFTER_TOOL: &str = "after tool: ";
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
/// The `X-Amz-Target` every request must carry.
pub const TARGET: &str = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse";
pub const THINKING: &str = "Let me think about that.";
pub const SIGNATURE: &str = "sig-kiro-fake-1";

/// The model ids the fake serves, as Kiro lists them.
pub const MODELS: [&str; 6] = [
    "auto",
    "claude-sonnet-4.5",
    "claude-sonnet-4",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-sonnet-5",
];

// ---------------------------------------------------------------------------------------
// Event-stream encoding, from the specification.

/// One event-stream frame with string headers.
pub fn encode_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut hdr = Vec::new();
    for (name, value) in headers {
        hdr.push(name.len() as u8);
        hdr.extend_from_slice(name.as_bytes());
        hdr.push(7);
        hdr.extend_from_slice(&(value.len() as u16).to_be_bytes());
        hdr.extend_from_slice(value.as_bytes());
    }
    let total = 12 + hdr.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(hdr.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An `event` frame of type `kind` with a JSON payload.
pub fn event_frame(kind: &str, payload: &Value) -> Vec<u8> {
    encode_frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// An `exception` frame, as AWS sends for errors after the stream began.
pub fn exception_frame(kind: &str, message: &str) -> Vec<u8> {
    encode_frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

/// One decoded event-stream frame: its (name, value) headers and its payload.
pub type DecodedFrame = (Vec<(String, String)>, Vec<u8>);

/// Decodes whole frames (for tests of the fake itself): (headers, payload) per frame.
pub fn decode_frames(mut bytes: &[u8]) -> Result<Vec<DecodedFrame>, String> {
    let mut out = Vec::new();
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    while !bytes.is_empty() {
        if bytes.len() < 16 {
            return Err("short frame".into());
        }
        let total = be(&bytes[0..4]);
        let hlen = be(&bytes[4..8]);
        if crc32fast::hash(&bytes[..8]) as usize != be(&bytes[8..12]) {
            return Err("prelude crc".into());
        }
        if total < 16 || total > bytes.len() || hlen > total - 16 {
            return Err("bad length".into());
        }
        let frame = &bytes[..total];
        if crc32fast::hash(&frame[..total - 4]) as usize != be(&frame[total - 4..]) {
            return Err("message crc".into());
        }
        let mut h = &frame[12..12 + hlen];
        let mut headers = Vec::new();
        while !h.is_empty() {
            let n = h[0] as usize;
            let name = String::from_utf8_lossy(&h[1..1 + n]).into_owned();
            if h[1 + n] != 7 {
                return Err("non-string header".into());
            }
            let vlen = u16::from_be_bytes([h[2 + n], h[3 + n]]) as usize;
            let value = String::from_utf8_lossy(&h[4 + n..4 + n + vlen]).into_owned();
            headers.push((name, value));
            h = &h[4 + n + vlen..];
        }
        out.push((headers, frame[12 + hlen..total - 4].to_vec()));
        bytes = &bytes[total..];
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The generate endpoint.

#[derive(Clone)]
pub struct FakeKiro {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl FakeKiro {
    pub async fn start() -> FakeKiro {
        let state = Arc::new(FakeState::default());
        let s = state.clone();
        let addr = serve(move |req| handle(s.clone(), req)).await;
        FakeKiro { addr, state }
    }

    /// The base URL to configure (the fake serves `/generateAssistantResponse` under it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn release(&self) {
        self.state.release();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests()
    }
}

fn aws_error(status: u16, kind: &str, message: &str, reason: Option<&str>) -> Response<FakeBody> {
    let mut res = full(
        status,
        "application/json",
        json!({"message": message, "reason": reason}).to_string(),
    );
    res.headers_mut()
        .insert("x-amzn-errortype", kind.parse().unwrap());
    res
}

fn malformed(reason: &str) -> Response<FakeBody> {
    aws_error(
        400,
        "ValidationException",
        "Improperly formed request.",
        Some(reason),
    )
}

async fn handle(state: Arc<FakeState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, parsed) = receive(&state.requests, req).await;
    if parts.uri.path() != "/generateAssistantResponse" {
        return aws_error(404, "UnknownOperationException", "Not Found", None);
    }
    if parts.method != http::Method::POST {
        return aws_error(405, "UnknownOperationException", "Method Not Allowed", None);
    }
    let token = header(&parts, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.is_empty() {
        return aws_error(
            403,
            "AccessDeniedException",
            "Missing authentication token",
            None,
        );
    }
    if token.starts_with("revoked") {
        return aws_error(
            403,
            "AccessDeniedException",
            "The bearer token included in the request is invalid.",
            None,
        );
    }
    if header(&parts, "x-amz-target") != Some(TARGET) {
        return aws_error(
            400,
            "UnknownOperationException",
            "X-Amz-Target must name AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
            None,
        );
    }
    if !header(&parts, "content-type").is_some_and(|v| v.starts_with("application/json")) {
        return aws_error(
            415,
            "UnsupportedMediaTypeException",
            "Unsupported Media Type",
            None,
        );
    }
    let Ok(body) = parsed else {
        return aws_error(
            400,
            "SerializationException",
            "Failed to parse the request body",
            None,
        );
    };
    if let Err(reason) = validate(&body) {
        if reason == "INVALID_MODEL_ID" {
            return aws_error(
                400,
                "ValidationException",
                "Invalid model. Please select a different model to continue.",
                Some("INVALID_MODEL_ID"),
            );
        }
        return malformed(&reason);
    }

    let current = &body["conversationState"]["currentMessage"]["userInputMessage"];
    let script = Script::new(current["content"].as_str().unwrap_or_default());
    if let Some(code) = script.status() {
        let kind = match code {
            429 => "ThrottlingException",
            403 => "AccessDeniedException",
            400 => "ValidationException",
            _ => "InternalServerException",
        };
        let mut res = aws_error(code, kind, &format!("scripted failure {code}"), None);
        if let Some(after) = script.retry_after() {
            res.headers_mut().insert("retry-after", after);
        }
        return res;
    }

    let n = state.next_id();
    let mut frames: Vec<Frame> = Vec::new();
    let push = |frames: &mut Vec<Frame>, bytes: Vec<u8>, delta: bool| {
        frames.push(Frame {
            bytes: Bytes::from(bytes),
            delta,
        });
    };
    let result = current
        .pointer("/userInputMessageContext/toolResults/0/content/0/text")
        .and_then(Value::as_str);
    let tool = script.get("tool");
    let mut output = String::new();
    if script.has("think") {
        for piece in split_text(THINKING, 2) {
            push(
                &mut frames,
                event_frame("reasoningContentEvent", &json!({"text": piece})),
                true,
            );
        }
        push(
            &mut frames,
            event_frame("reasoningContentEvent", &json!({"signature": SIGNATURE})),
            false,
        );
    }
    if let (Some(name), None) = (&tool, result) {
        let tools = current
            .pointer("/userInputMessageContext/tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(spec) = tools
            .iter()
            .find(|t| t["toolSpecification"]["name"] == name.as_str())
        else {
            return malformed(&format!("#tool={name}: no such tool declared"));
        };
        let input = tool_input(&spec["toolSpecification"]["inputSchema"]["json"]).to_string();
        let id = format!("tooluse_fake_{n}");
        push(
            &mut frames,
            event_frame("assistantResponseEvent", &json!({"content": "Running it."})),
            true,
        );
        for piece in split_text(&input, 3) {
            push(
                &mut frames,
                event_frame(
                    "toolUseEvent",
                    &json!({"name": name, "toolUseId": id, "input": piece}),
                ),
                true,
            );
        }
        push(
            &mut frames,
            event_frame(
                "toolUseEvent",
                &json!({"name": name, "toolUseId": id, "stop": true}),
            ),
            false,
        );
        output.push_str(&input);
    } else {
        let text = match result {
            Some(r) => format!("{AFTER_TOOL}{}", r.trim()),
            None => reply_text(script.chunks()),
        };
        let pieces = if result.is_some() {
            split_text(&text, 2)
        } else {
            split_text(&text, script.chunks())
        };
        for (i, piece) in pieces.iter().enumerate() {
            push(
                &mut frames,
                event_frame("assistantResponseEvent", &json!({"content": piece})),
                true,
            );
            if i == 0 && script.has("throttle") {
                push(
                    &mut frames,
                    exception_frame("ThrottlingException", "Rate exceeded"),
                    false,
                );
                return stream_frames(state, &script, frames, EVENT_STREAM);
            }
        }
        output.push_str(&text);
    }
    push(
        &mut frames,
        event_frame(
            "meteringEvent",
            &json!({"unit": "credit", "unitPlural": "credits", "usage": 0.02}),
        ),
        false,
    );
    push(
        &mut frames,
        event_frame(
            "contextUsageEvent",
            &json!({"contextUsagePercentage": CONTEXT_PERCENT}),
        ),
        false,
    );
    if !script.has("nometrics") {
        push(
            &mut frames,
            event_frame(
                "metricsEvent",
                &json!({"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS}),
            ),
            false,
        );
    }
    push(
        &mut frames,
        event_frame("messageStopEvent", &json!({})),
        false,
    );
    stream_frames(state, &script, frames, EVENT_STREAM)
}

/// An input for a tool: its required properties filled by type.
fn tool_input(schema: &Value) -> Value {
    let mut args = Map::new();
    for key in schema["required"].as_array().into_iter().flatten() {
        let Some(key) = key.as_str() else { continue };
        let prop = &schema["properties"][key];
        let value = match prop["type"].as_str().unwrap_or("string") {
            "string" if matches!(key, "command" | "cmd") => json!(TOOL_COMMAND),
            "string" => json!("x"),
            "integer" | "number" => json!(1),
            "boolean" => json!(false),
            "array" => json!([]),
            "object" => json!({}),
            _ => Value::Null,
        };
        args.insert(key.to_owned(), value);
    }
    Value::Object(args)
}

fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

fn nonempty_str(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.trim().is_empty())
}

/// What Kiro refuses. `Err` holds the rule broken; `INVALID_MODEL_ID` is Kiro's own reason.
pub fn validate(body: &Value) -> Result<(), String> {
    let obj = body.as_object().ok_or("body is not an object")?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "conversationState" | "profileArn" | "inferenceConfig"
        ) {
            return Err(format!("unknown field {key}"));
        }
    }
    if let Some(arn) = obj.get("profileArn")
        && !arn
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:codewhisperer:"))
    {
        return Err("profileArn is not a CodeWhisperer profile ARN".into());
    }
    if let Some(ic) = obj.get("inferenceConfig") {
        let ic = ic.as_object().ok_or("inferenceConfig is not an object")?;
        for (k, v) in ic {
            let ok = match k.as_str() {
                "maxTokens" => v.as_u64().is_some_and(|n| n > 0),
                "temperature" | "topP" => v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)),
                _ => false,
            };
            if !ok {
                return Err(format!("inferenceConfig.{k} is invalid"));
            }
        }
    }
    let cs = obj
        .get("conversationState")
        .and_then(Value::as_object)
        .ok_or("conversationState is missing")?;
    if !matches!(
        cs.get("chatTriggerType").and_then(Value::as_str),
        Some("MANUAL" | "DIAGNOSTIC" | "INLINE_CHAT")
    ) {
        return Err("conversationState.chatTriggerType is missing or invalid".into());
    }
    if !cs.get("conversationId").is_some_and(nonempty_str) {
        return Err("conversationState.conversationId is missing".into());
    }
    let current = cs
        .get("currentMessage")
        .and_then(|c| c.get("userInputMessage"))
        .ok_or("conversationState.currentMessage.userInputMessage is missing")?;
    let history = match cs.get("history") {
        None => Vec::new(),
        Some(Value::Array(h)) => h.clone(),
        Some(_) => return Err("conversationState.history is not an array".into()),
    };
    let declares_tools = current
        .pointer("/userInputMessageContext/tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());

    // (is_user, message) in order, current last.
    let mut turns: Vec<(bool, &Value, String)> = Vec::new();
    for (i, entry) in history.iter().enumerate() {
        let e = entry
            .as_object()
            .ok_or(format!("history[{i}] is not an object"))?;
        if e.len() != 1 {
            return Err(format!("history[{i}] must hold exactly one message"));
        }
        if let Some(m) = e.get("userInputMessage") {
            turns.push((true, m, format!("history[{i}]")));
        } else if let Some(m) = e.get("assistantResponseMessage") {
            turns.push((false, m, format!("history[{i}]")));
        } else {
            return Err(format!("history[{i}] has an unknown message type"));
        }
    }
    turns.push((true, current, "currentMessage".into()));

    let mut open: Vec<String> = Vec::new();
    for (n, (user, m, at)) in turns.iter().enumerate() {
        if *user != (n % 2 == 0) {
            return Err(format!(
                "{at}: history must alternate user and assistant, starting with user"
            ));
        }
        if !m.get("content").is_some_and(nonempty_str) {
            return Err(format!("{at}.content is empty"));
        }
        if *user {
            let model = m.get("modelId").and_then(Value::as_str).unwrap_or("");
            if !MODELS.contains(&model) {
                return Err("INVALID_MODEL_ID".into());
            }
            if !matches!(
                m.get("origin").and_then(Value::as_str),
                Some("AI_EDITOR" | "CLI")
            ) {
                return Err(format!("{at}.origin is missing or invalid"));
            }
            for (j, img) in m
                .get("images")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let fmt = img["format"].as_str().unwrap_or("");
                if !matches!(fmt, "png" | "jpeg" | "gif" | "webp") {
                    return Err(format!("{at}.images[{j}].format is invalid"));
                }
                if !img["source"]["bytes"].as_str().is_some_and(is_base64) {
                    return Err(format!("{at}.images[{j}].source.bytes is not base64"));
                }
            }
            let ctx = m.get("userInputMessageContext");
            if let Some(c) = ctx {
                for k in c
                    .as_object()
                    .ok_or(format!("{at}.userInputMessageContext"))?
                    .keys()
                {
                    if !matches!(k.as_str(), "tools" | "toolResults") {
                        return Err(format!("{at}.userInputMessageContext.{k} is unknown"));
                    }
                }
            }
            let results = ctx
                .and_then(|c| c.get("toolResults"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !results.is_empty() && !declares_tools {
                return Err(format!(
                    "{at}: toolResults are sent but the current message declares no tools"
                ));
            }
            for (j, r) in results.iter().enumerate() {
                let id = r["toolUseId"].as_str().unwrap_or("");
                let Some(pos) = open.iter().position(|o| o == id) else {
                    return Err(format!(
                        "{at}.toolResults[{j}]: toolUseId {id:?} matches no toolUse of the previous message"
                    ));
                };
                open.remove(pos);
                if !matches!(r["status"].as_str(), Some("success" | "error")) {
                    return Err(format!("{at}.toolResults[{j}].status is invalid"));
                }
                let content_ok = r["content"].as_array().is_some_and(|c| {
                    !c.is_empty()
                        && c.iter().all(|p| {
                            p.get("text").is_some_and(Value::is_string) || p.get("json").is_some()
                        })
                });
                if !content_ok {
                    return Err(format!("{at}.toolResults[{j}].content is invalid"));
                }
            }
            if let Some(id) = open.first() {
                return Err(format!("{at}: toolUse {id:?} has no toolResult"));
            }
            if let Some(tools) = ctx.and_then(|c| c.get("tools")) {
                if !at.starts_with("currentMessage") {
                    return Err(format!("{at}: tools may only be on the current message"));
                }
                let tools = tools.as_array().ok_or("tools is not an array")?;
                let mut names = HashMap::new();
                for (j, t) in tools.iter().enumerate() {
                    let spec = t
                        .get("toolSpecification")
                        .ok_or(format!("tools[{j}].toolSpecification is missing"))?;
                    let name = spec["name"].as_str().unwrap_or("");
                    if name.is_empty() || names.insert(name.to_owned(), ()).is_some() {
                        return Err(format!("tools[{j}].name is empty or repeated"));
                    }
                    if !nonempty_str(&spec["description"]) {
                        return Err(format!("tools[{j}] ({name}) has an empty description"));
                    }
                    let schema = &spec["inputSchema"]["json"];
                    if !schema.is_object() {
                        return Err(format!("tools[{j}] ({name}).inputSchema.json is missing"));
                    }
                    if !schema["required"].is_array() {
                        return Err(format!(
                            "tools[{j}] ({name}).inputSchema.json has no `required` array"
                        ));
                    }
                }
            }
        } else {
            open.clear();
            for (j, u) in m
                .get("toolUses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if !declares_tools {
                    return Err(format!(
                        "{at}: toolUses are sent but the current message declares no tools"
                    ));
                }
                let id = u["toolUseId"].as_str().unwrap_or("");
                if id.is_empty() || !nonempty_str(&u["name"]) || !u["input"].is_object() {
                    return Err(format!("{at}.toolUses[{j}] is incomplete"));
                }
                open.push(id.to_owned());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The refresh services.

#[derive(Default)]
pub struct AuthState {
    /// Refresh token -> how many times it has been handed out (each is single-use).
    valid: Mutex<HashMap<String, usize>>,
    pub requests: Mutex<Vec<Recorded>>,
    pub refreshes: AtomicUsize,
    issued: AtomicUsize,
    /// `expiresIn` of issued tokens in seconds; 0 means an hour.
    pub ttl: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct FakeKiroAuth {
    pub addr: SocketAddr,
    pub state: Arc<AuthState>,
}

/// The OIDC client the fake knows.
pub const OIDC_CLIENT_ID: &str = "fake-client-id";
pub const OIDC_CLIENT_SECRET: &str = "fake-client-secret";
/// The profile the social refresh reports.
pub const PROFILE_ARN: &str = "arn:aws:codewhisperer:us-east-1:123456789012:profile/FAKE";

impl FakeKiroAuth {
    pub async fn start() -> FakeKiroAuth {
        let state = Arc::new(AuthState::default());
        let s = state.clone();
        let addr = serve(move |req| auth_handle(s.clone(), req)).await;
        FakeKiroAuth { addr, state }
    }

    /// Makes `token` a refresh token the fake accepts (once).
    pub fn grant(&self, token: &str) {
        self.state.valid.lock().unwrap().insert(token.to_owned(), 0);
    }

    pub fn social_url(&self) -> String {
        format!("http://{}/refreshToken", self.addr)
    }

    /// With `{region}` left in, as the `oidc_token_url` option takes it.
    pub fn oidc_url(&self) -> String {
        format!("http://{}/{{region}}/token", self.addr)
    }
}

async fn auth_handle(state: Arc<AuthState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, parsed) = receive(&state.requests, req).await;
    let parsed = parsed.unwrap_or(Value::Null);
    let oauth_error = |status: u16, code: &str, text: &str| {
        full(
            status,
            "application/json",
            json!({"error": code, "error_description": text}).to_string(),
        )
    };
    if parts.method != http::Method::POST {
        return oauth_error(405, "invalid_request", "method not allowed");
    }
    let path = parts.uri.path().to_owned();
    let oidc = path.ends_with("/token");
    if !(oidc || path == "/refreshToken") {
        return oauth_error(404, "invalid_request", "not found");
    }
    if !parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        return oauth_error(
            400,
            "invalid_request",
            "content-type must be application/json",
        );
    }
    if oidc {
        if parsed["grantType"] != "refresh_token" {
            return oauth_error(
                400,
                "unsupported_grant_type",
                "grantType must be refresh_token",
            );
        }
        if parsed["clientId"] != OIDC_CLIENT_ID || parsed["clientSecret"] != OIDC_CLIENT_SECRET {
            return oauth_error(401, "invalid_client", "Invalid client");
        }
    }
    let token = parsed["refreshToken"].as_str().unwrap_or("").to_owned();
    let fresh = state.valid.lock().unwrap().remove(&token).is_some();
    if !fresh {
        return if oidc {
            oauth_error(400, "invalid_grant", "Invalid refresh token provided")
        } else {
            full(
                401,
                "application/json",
                json!({"message": "Invalid refresh token", "reason": "INVALID_TOKEN"}).to_string(),
            )
        };
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
    state.refreshes.fetch_add(1, Ordering::SeqCst);
    let next_refresh = format!("fake-refresh-{n}");
    state.valid.lock().unwrap().insert(next_refresh.clone(), 0);
    let mut answer = json!({
        "accessToken": format!("fake-access-{n}"),
        "refreshToken": next_refresh,
        "expiresIn": match state.ttl.load(Ordering::SeqCst) {
            0 => 3600,
            t => t,
        },
    });
    if oidc {
        answer["tokenType"] = json!("Bearer");
    } else {
        answer["profileArn"] = json!(PROFILE_ARN);
    }
    full(200, "application/json", answer.to_string())
}
