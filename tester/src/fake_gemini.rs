//! A fake Gemini API v1beta (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent`, and `:embedContent`, `:batchEmbedContents` and Imagen's
//! `:predict` in [`endpoints`]), written from Google's public wire format with raw JSON. It is
//! strict where the real API is strict (see [`validate`]) and answers with the real error
//! shape `{"error":{"code","message","status"}}`.
//!
//! `:streamGenerateContent?alt=sse` streams `data: <GenerateContentResponse>\n\n` events
//! (no `[DONE]`); without `alt=sse` it streams one JSON array of the same responses, as the
//! real API does. Every streamed response carries `usageMetadata`, complete on the last one
//! only (earlier ones count the prompt alone), as the real API does.
//!
//! Auth: `x-goog-api-key`, `?key=`, or `Authorization: Bearer` (OAuth). A missing key gets
//! 403 `PERMISSION_DENIED`; a key starting `sk-revoked` gets the real API's 400
//! `API_KEY_INVALID`.
//!
//! Scriptable from the text parts of the last user content with the directives of
//! [`crate::fake_anthropic`]: `#chunks=N`, `#delay=MS`, `#hold`, `#wait`, `#cut`, `#status=CODE`,
//! `#retry-after=S`, `#reset`, `#tool=NAME` (one whole `functionCall` with args
//! [`TOOL_ARGS`], carrying a `thoughtSignature`) and `#think` (a `thought: true` part with
//! `thoughtSignature` [`THOUGHT_SIGNATURE`] first). A last user content holding
//! `functionResponse` parts is answered `after tool: <output>`. `toolConfig` mode `ANY` always
//! gets a tool call, `NONE` never does.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

pub use crate::fake_anthropic::{AFTER_TOOL, REPLY, THINKING, TOOL_ARGS};
use crate::fake_anthropic::{
    Answer, FakeState, Frame, Recorded, Script, ToolAsk, decide, header, receive, stream_frames,
};
use crate::server::{FakeBody, full, serve};

pub mod endpoints;

/// Counts the cached tokens too, as Gemini's prompt count does.
pub const PROMPT_TOKEN_COUNT: u64 = 13;
pub const CANDIDATES_TOKEN_COUNT: u64 = 6;
/// Reported only when the answer thought (`#think`).
pub const THOUGHTS_TOKEN_COUNT: u64 = 4;
pub const CACHED_CONTENT_TOKEN_COUNT: u64 = 3;
/// The only thought signature the fake issues (base64 of `sig-fake`).
pub const THOUGHT_SIGNATURE: &str = "c2lnLWZha2U=";
/// The values Google documents for skipping signature validation on Gemini 3.
const SIGNATURE_BYPASSES: &[&str] = &[
    "skip_thought_signature_validator",
    "context_engineering_is_the_way_to_go",
];

#[derive(Clone)]
pub struct FakeGemini {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl FakeGemini {
    pub async fn start() -> FakeGemini {
        let state = Arc::new(FakeState::default());
        let s = state.clone();
        let addr = serve(move |req| handle(s.clone(), req)).await;
        FakeGemini { addr, state }
    }

    /// The base URL to configure, ending in `/v1beta`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// The root, as the google-genai SDK's `base_url` takes it.
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

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "NOT_IMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// The GETs of a Veo job: its operation, and its video's bytes.
fn veo_get(
    state: &FakeState,
    parts: &http::request::Parts,
    param: &dyn Fn(&str) -> Option<String>,
) -> Response<FakeBody> {
    let key = header(parts, "x-goog-api-key")
        .map(str::to_owned)
        .or_else(|| param("key"))
        .unwrap_or_default();
    if key.is_empty() {
        return error(403, "Method doesn't allow unregistered callers.", None);
    }
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    if let Some(id) = path
        .strip_prefix("/v1beta/files/")
        .and_then(|f| f.strip_suffix(":download"))
    {
        return crate::fake_videos::veo_download(&state.videos, &key, id, query);
    }
    match path
        .strip_prefix("/v1beta/models/")
        .and_then(|r| r.split_once("/operations/"))
    {
        Some((model, id)) => {
            let host = header(parts, "host").unwrap_or("127.0.0.1");
            let base = format!("http://{host}/v1beta");
            crate::fake_videos::veo_operation(&state.videos, &key, model, id, &base)
        }
        None => error(
            404,
            &format!("Requested entity was not found. ({path})"),
            None,
        ),
    }
}

fn error(code: u16, message: &str, details: Option<Value>) -> Response<FakeBody> {
    let mut err = json!({"code": code, "message": message, "status": status_name(code)});
    if let Some(details) = details {
        err["details"] = details;
    }
    full(
        code,
        "application/json; charset=UTF-8",
        json!({ "error": err }).to_string(),
    )
}

/// A 400 refusal: the message, and the `details` the real API adds to some.
#[derive(Debug)]
pub struct Reject {
    pub message: String,
    pub details: Option<Value>,
}

impl From<String> for Reject {
    fn from(message: String) -> Reject {
        Reject {
            message,
            details: None,
        }
    }
}

/// `:countTokens`: `contents`, or a whole `generateContentRequest` naming its model (never
/// both), checked as strictly as generateContent. The count is one token per word of every
/// text in the contents and the system instruction, so a test can tell what was counted.
fn count_tokens(body: &Value, model: &str) -> Result<u64, Reject> {
    let obj = object(body, "")?;
    known_fields(obj, &["contents", "generateContentRequest"], "")?;
    let request = match (obj.get("contents"), obj.get("generateContentRequest")) {
        (Some(_), Some(_)) => {
            return Err(
                "* CountTokensRequest: contents and generate_content_request cannot both be set\n"
                    .to_owned()
                    .into(),
            );
        }
        (Some(_), None) => body.clone(),
        (None, Some(inner)) => {
            let mut inner = object(inner, "generate_content_request")?.clone();
            match inner.remove("model") {
                Some(Value::String(m)) if m == format!("models/{model}") => {}
                Some(_) => {
                    return Err(
                        "* CountTokensRequest.generate_content_request.model: does not match the model in the URL\n"
                            .to_owned()
                            .into(),
                    );
                }
                None => {
                    return Err(
                        "* CountTokensRequest.generate_content_request.model: model is required\n"
                            .to_owned()
                            .into(),
                    );
                }
            }
            Value::Object(inner)
        }
        (None, None) => {
            return Err(
                "* CountTokensRequest: contents or generate_content_request is required\n"
                    .to_owned()
                    .into(),
            );
        }
    };
    validate(&request, model)?;
    let mut texts = Vec::new();
    for key in ["contents", "systemInstruction"] {
        if let Some(v) = request.get(key) {
            texts_in(v, &mut texts);
        }
    }
    Ok(texts
        .iter()
        .map(|t| t.split_whitespace().count() as u64)
        .sum())
}

/// Every `text` string under `v`.
fn texts_in<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("text", Value::String(t)) => out.push(t),
                    _ => texts_in(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| texts_in(v, out)),
        _ => {}
    }
}

/// A semantic error, worded the way the real API words field errors.
fn field_error(path: &str, message: &str) -> Reject {
    format!("* GenerateContentRequest.{path}: {message}\n").into()
}

/// The models `models.list` answers: (id, display name, input limit, output limit).
pub const LISTED_MODELS: [(&str, &str, u64, u64); 3] = [
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, 65_536),
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536),
    ("gemini-fake-unpriced", "Gemini Fake", 32_768, 8_192),
];

/// `GET /v1beta/models` (`models.list`): pages of `pageSize` (default 50, at most 1000)
/// linked by `nextPageToken`.
fn list_models(
    parts: &http::request::Parts,
    param: &dyn Fn(&str) -> Option<String>,
) -> Response<FakeBody> {
    if parts.method != http::Method::GET {
        return error(404, "Method not found.", None);
    }
    let key = header(parts, "x-goog-api-key")
        .map(str::to_owned)
        .or_else(|| param("key"))
        .unwrap_or_default();
    if key.is_empty() {
        return error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            None,
        );
    }
    let size = param("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(50)
        .min(1000);
    let start = match param("pageToken") {
        None => 0,
        Some(t) => match t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return error(400, "Invalid page token.", None),
        },
    };
    let models: Vec<Value> = LISTED_MODELS
        .iter()
        .skip(start)
        .take(size)
        .map(|(id, name, input, output)| {
            json!({"name": format!("models/{id}"), "version": "001", "displayName": name,
                "inputTokenLimit": input, "outputTokenLimit": output,
                "supportedGenerationMethods": ["generateContent", "countTokens"]})
        })
        .collect();
    let mut body = json!({"models": models});
    if start + size < LISTED_MODELS.len() {
        body["nextPageToken"] = json!(format!("page-{}", start + size));
    }
    full(200, "application/json; charset=UTF-8", body.to_string())
}

async fn handle(state: Arc<FakeState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, parsed) = receive(&state.requests, req).await;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    if path == "/v1beta/models" {
        return list_models(&parts, &param);
    }
    if parts.method == http::Method::GET
        && (path.starts_with("/v1beta/files/") || path.contains("/operations/"))
    {
        return veo_get(&state, &parts, &param);
    }
    let Some((model, method)) = path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return error(
            404,
            &format!("Requested entity was not found. ({path})"),
            None,
        );
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "countTokens" | "predictLongRunning" => false,
        m if endpoints::METHODS.contains(&m) => false,
        _ => {
            return error(
                404,
                &format!(
                    "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
                ),
                None,
            );
        }
    };
    if parts.method != http::Method::POST {
        return error(404, "Method not found.", None);
    }
    let key = header(&parts, "x-goog-api-key")
        .map(str::to_owned)
        .or_else(|| param("key"))
        .or_else(|| {
            header(&parts, "authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    if key.is_empty() {
        return error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            None,
        );
    }
    if key.starts_with("sk-revoked") {
        return error(
            400,
            "API key not valid. Please pass a valid API key.",
            Some(json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}
            }])),
        );
    }
    let Ok(body) = parsed else {
        return error(
            400,
            "Invalid JSON payload received. Unexpected token.",
            None,
        );
    };
    if method == "predictLongRunning" {
        return crate::fake_videos::veo_start(&state.videos, &key, model, &body);
    }
    if method == "countTokens" {
        return match count_tokens(&body, model) {
            Ok(total) => full(
                200,
                "application/json; charset=UTF-8",
                json!({"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}).to_string(),
            ),
            Err(r) => error(400, &r.message, r.details),
        };
    }
    if endpoints::METHODS.contains(&method) {
        return match endpoints::answer(model, method, &body) {
            Ok(answer) => full(200, "application/json; charset=UTF-8", answer.to_string()),
            Err((code, message)) => error(code, &message, None),
        };
    }
    if let Err(r) = validate(&body, model) {
        return error(400, &r.message, r.details);
    }

    let turn = last_user_turn(&body);
    let script = Script::new(turn.text.clone());
    if let Some(code) = script.status() {
        let details = script.get("retry-after").map(|s| {
            json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{s}s")}])
        });
        let mut res = error(code, &format!("scripted failure {code}"), details);
        if let Some(after) = script.retry_after() {
            res.headers_mut().insert("retry-after", after);
        }
        return res;
    }

    let think = script.has("think");
    let answer = choose_answer(&body, &script, &turn);
    let response_id = format!("fake-response-{}", state.next_id());
    let mut usage = json!({
        "promptTokenCount": PROMPT_TOKEN_COUNT,
        "candidatesTokenCount": CANDIDATES_TOKEN_COUNT,
        "totalTokenCount": PROMPT_TOKEN_COUNT + CANDIDATES_TOKEN_COUNT,
        "cachedContentTokenCount": CACHED_CONTENT_TOKEN_COUNT,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKEN_COUNT}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": CACHED_CONTENT_TOKEN_COUNT}]
    });
    if think {
        usage["thoughtsTokenCount"] = json!(THOUGHTS_TOKEN_COUNT);
        usage["totalTokenCount"] =
            json!(PROMPT_TOKEN_COUNT + CANDIDATES_TOKEN_COUNT + THOUGHTS_TOKEN_COUNT);
    }
    let thought_part =
        json!({"text": THINKING, "thought": true, "thoughtSignature": THOUGHT_SIGNATURE});
    let call_part = |name: &str| {
        json!({
            "functionCall": {"name": name, "args": serde_json::from_str::<Value>(TOOL_ARGS).unwrap()},
            "thoughtSignature": THOUGHT_SIGNATURE
        })
    };
    let response = |parts: Vec<Value>, last: bool| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        let usage = if last {
            candidate["finishReason"] = json!("STOP");
            usage.clone()
        } else {
            json!({
                "promptTokenCount": PROMPT_TOKEN_COUNT,
                "totalTokenCount": PROMPT_TOKEN_COUNT,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKEN_COUNT}]
            })
        };
        json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": response_id})
    };

    if !stream {
        let mut parts = Vec::new();
        if think {
            parts.push(thought_part);
        }
        match &answer {
            Answer::Text(pieces) => parts.push(json!({"text": pieces.concat()})),
            Answer::Tool { name } => parts.push(call_part(name)),
        }
        return full(
            200,
            "application/json; charset=UTF-8",
            response(parts, true).to_string(),
        );
    }

    let mut chunks = Vec::new();
    if think {
        chunks.push(response(vec![thought_part], false));
    }
    match &answer {
        Answer::Text(pieces) => {
            for (i, piece) in pieces.iter().enumerate() {
                chunks.push(response(
                    vec![json!({"text": piece})],
                    i + 1 == pieces.len(),
                ));
            }
        }
        Answer::Tool { name } => chunks.push(response(vec![call_part(name)], true)),
    }
    if param("alt").as_deref() == Some("sse") {
        let frames = chunks
            .iter()
            .map(|c| Frame {
                bytes: Bytes::from(format!("data: {c}\r\n\r\n")),
                delta: true,
            })
            .collect();
        return stream_frames(state, &script, frames, "text/event-stream");
    }
    let last = chunks.len() - 1;
    let frames = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let before = if i == 0 { "[" } else { ",\r\n" };
            let after = if i == last { "]" } else { "" };
            Frame {
                bytes: Bytes::from(format!("{before}{c}{after}")),
                delta: true,
            }
        })
        .collect();
    stream_frames(state, &script, frames, "application/json; charset=UTF-8")
}

/// The script text, or the function responses, of the last user content.
#[derive(Debug, Default)]
struct UserTurn {
    text: String,
    tool_outputs: Vec<String>,
}

fn is_user(content: &Value) -> bool {
    content
        .get("role")
        .and_then(Value::as_str)
        .is_none_or(|r| r == "user")
}

fn last_user_turn(body: &Value) -> UserTurn {
    let mut turn = UserTurn::default();
    let Some(content) = body["contents"]
        .as_array()
        .and_then(|c| c.iter().rev().find(|c| is_user(c)))
    else {
        return turn;
    };
    let mut texts = Vec::new();
    for part in content["parts"].as_array().into_iter().flatten() {
        if let Some(t) = part["text"].as_str() {
            texts.push(t);
        }
        let response = part
            .get("functionResponse")
            .or_else(|| part.get("function_response"));
        if let Some(r) = response {
            let r = &r["response"];
            let text = ["output", "result", "content"]
                .iter()
                .find_map(|k| r[*k].as_str().map(str::to_owned))
                .unwrap_or_else(|| r.to_string());
            turn.tool_outputs.push(text);
        }
    }
    turn.text = texts.join("\n");
    turn
}

fn declarations(body: &Value) -> Vec<&Value> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t.get("functionDeclarations")
                .or_else(|| t.get("function_declarations"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect()
}

fn choose_answer(body: &Value, script: &Script, turn: &UserTurn) -> Answer {
    let config = body
        .get("toolConfig")
        .or_else(|| body.get("tool_config"))
        .and_then(|c| {
            c.get("functionCallingConfig")
                .or_else(|| c.get("function_calling_config"))
        });
    let mode = config.and_then(|c| c["mode"].as_str()).unwrap_or("AUTO");
    let names: Vec<&str> = if mode == "NONE" {
        Vec::new()
    } else {
        declarations(body)
            .into_iter()
            .filter_map(|d| d["name"].as_str())
            .collect()
    };
    let allowed = config
        .and_then(|c| {
            c.get("allowedFunctionNames")
                .or_else(|| c.get("allowed_function_names"))
        })
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    // ANY with allowed names and nothing scripted calls the first allowed one.
    let forced = (mode == "ANY" && script.get("tool").is_none())
        .then_some(allowed)
        .flatten();
    let ask = ToolAsk {
        names,
        forced,
        required: mode == "ANY",
    };
    decide(&ask, script, &turn.tool_outputs)
}

// Field names in camelCase; the real API also takes each in snake_case.
const REQUEST: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
];
const CONTENT: &[&str] = &["role", "parts"];
const PART: &[&str] = &[
    "text",
    "inlineData",
    "functionCall",
    "functionResponse",
    "fileData",
    "executableCode",
    "codeExecutionResult",
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
    "mediaResolution",
];
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "functionCall",
    "functionResponse",
    "fileData",
    "executableCode",
    "codeExecutionResult",
];
const FUNCTION_CALL: &[&str] = &["id", "name", "args"];
const FUNCTION_RESPONSE: &[&str] = &[
    "id",
    "name",
    "response",
    "willContinue",
    "scheduling",
    "parts",
];
const GENERATION_CONFIG: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
];
const THINKING_CONFIG: &[&str] = &["includeThoughts", "thinkingBudget", "thinkingLevel"];
const TOOL: &[&str] = &[
    "functionDeclarations",
    "googleSearchRetrieval",
    "codeExecution",
    "googleSearch",
    "urlContext",
    "computerUse",
    "fileSearch",
    "googleMaps",
];
const FUNCTION_DECLARATION: &[&str] = &[
    "name",
    "description",
    "behavior",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
];
/// The OpenAPI subset Gemini's `Schema` takes: JSON Schema keywords such as
/// `additionalProperties` or `$schema` are unknown fields there (`parametersJsonSchema` takes
/// full JSON Schema instead).
const SCHEMA: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
const TOOL_CONFIG: &[&str] = &["functionCallingConfig", "retrievalConfig"];
const FUNCTION_CALLING_CONFIG: &[&str] = &["mode", "allowedFunctionNames"];
const SAFETY_SETTING: &[&str] = &["category", "threshold"];

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of a field given in either spelling.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.get(&snake(name)))
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, Reject> {
    v.as_object().ok_or_else(|| {
        format!(
            "Invalid JSON payload received. Invalid value at '{at}' (type.googleapis.com/google.protobuf.Struct), {v}"
        )
        .into()
    })
}

fn known_fields(obj: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), Reject> {
    let Some(k) = obj.keys().find(|k| !known.contains(&camel(k).as_str())) else {
        return Ok(());
    };
    let message = if at.is_empty() {
        format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot find field.")
    } else {
        format!("Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field.")
    };
    Err(Reject {
        details: Some(json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": at, "description": message}]
        }])),
        message,
    })
}

fn is_function_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// What protobuf's JSON mapping accepts for a `bytes` field: standard or URL-safe base64,
/// padded or not.
fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && body.len() % 4 != 1
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

fn check_schema(schema: &Value, at: &str) -> Result<(), Reject> {
    let obj = object(schema, at)?;
    known_fields(obj, SCHEMA, at)?;
    if let Some(props) = field(obj, "properties") {
        for (name, p) in object(props, &format!("{at}.properties"))? {
            check_schema(p, &format!("{at}.properties[{name}].value"))?;
        }
    }
    if let Some(items) = field(obj, "items") {
        check_schema(items, &format!("{at}.items"))?;
    }
    if let Some(any) = field(obj, "anyOf").and_then(Value::as_array) {
        for (i, s) in any.iter().enumerate() {
            check_schema(s, &format!("{at}.any_of[{i}]"))?;
        }
    }
    Ok(())
}

fn check_content(content: &Value, at: &str) -> Result<(), Reject> {
    let obj = object(content, at)?;
    known_fields(obj, CONTENT, at)?;
    if let Some(role) = field(obj, "role").and_then(Value::as_str)
        && !role.is_empty()
        && role != "user"
        && role != "model"
    {
        return Err("Please use a valid role: user, model.".to_owned().into());
    }
    let parts = field(obj, "parts").and_then(Value::as_array);
    if parts.is_none_or(Vec::is_empty) {
        return Err(field_error(
            &format!("{at}.parts"),
            "contents.parts must not be empty.",
        ));
    }
    for (j, part) in parts.into_iter().flatten().enumerate() {
        let at = format!("{at}.parts[{j}]");
        let p = object(part, &at)?;
        known_fields(p, PART, &at)?;
        let data: Vec<&str> = PART_DATA
            .iter()
            .copied()
            .filter(|d| field(p, d).is_some())
            .collect();
        match data.as_slice() {
            [] => {
                return Err(field_error(
                    &format!("{at}.data"),
                    "required oneof field 'data' must have one initialized field",
                ));
            }
            [_] => {}
            [first, second, ..] => {
                return Err(format!(
                    "Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '{second}' (already set: '{first}') at '{at}'."
                )
                .into());
            }
        }
        if let Some(t) = field(p, "text")
            && !t.is_string()
        {
            return Err(format!(
                "Invalid JSON payload received. Invalid value at '{at}.text' (TYPE_STRING), {t}"
            )
            .into());
        }
        if let Some(t) = field(p, "thought")
            && !t.is_boolean()
        {
            return Err(format!(
                "Invalid JSON payload received. Invalid value at '{at}.thought' (TYPE_BOOL), {t}"
            )
            .into());
        }
        if let Some(sig) = field(p, "thoughtSignature") {
            let ok = sig.as_str().is_some_and(is_base64);
            if !ok {
                return Err(format!(
                    "Invalid value at '{at}.thought_signature' (TYPE_BYTES), Base64 decoding failed for {sig}"
                )
                .into());
            }
        }
        if let Some(call) = field(p, "functionCall") {
            let at = format!("{at}.function_call");
            let call = object(call, &at)?;
            known_fields(call, FUNCTION_CALL, &at)?;
            if !field(call, "name").is_some_and(Value::is_string) {
                return Err(field_error(&format!("{at}.name"), "Name cannot be empty."));
            }
            if let Some(args) = field(call, "args") {
                object(args, &format!("{at}.args"))?;
            }
        }
        if let Some(resp) = field(p, "functionResponse") {
            let at = format!("{at}.function_response");
            let resp = object(resp, &at)?;
            known_fields(resp, FUNCTION_RESPONSE, &at)?;
            if !field(resp, "name").is_some_and(Value::is_string) {
                return Err(field_error(&format!("{at}.name"), "Name cannot be empty."));
            }
            let response = field(resp, "response")
                .ok_or_else(|| field_error(&format!("{at}.response"), "response is required"))?;
            object(response, &format!("{at}.response"))?;
        }
    }
    Ok(())
}

/// The checks the Gemini API makes before it answers.
/// The output limits Google's API enforces, from its public model pages, for the models
/// tests name (by id prefix); other models are not limited here.
const OUTPUT_LIMITS: [(&str, u64); 3] = [
    ("gemini-2.0-flash", 8_192),
    ("gemini-2.5-", 65_536),
    ("gemini-3", 65_536),
];

/// The most output tokens `model` may be asked for, when this fake knows it.
pub fn output_limit(model: &str) -> Option<u64> {
    OUTPUT_LIMITS
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map(|(_, limit)| *limit)
}

pub fn validate(body: &Value, model: &str) -> Result<(), Reject> {
    let obj = object(body, "")?;
    known_fields(obj, REQUEST, "")?;
    if let Some(system) = field(obj, "systemInstruction") {
        check_content(system, "system_instruction")?;
    }
    if let Some(config) = field(obj, "generationConfig") {
        let c = object(config, "generation_config")?;
        known_fields(c, GENERATION_CONFIG, "generation_config")?;
        if let Some(t) = field(c, "temperature")
            && !t.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t))
        {
            return Err(field_error(
                "generation_config.temperature",
                "must be in the range [0.0, 2.0]",
            ));
        }
        if let Some(n) = field(c, "maxOutputTokens").and_then(Value::as_u64)
            && let Some(limit) = output_limit(model)
            && n > limit
        {
            return Err(Reject::from(format!(
                "Unable to submit request because it has a maxOutputTokens value of {n} but the supported range is from 1 (inclusive) to {} (exclusive). Update the value and try again.",
                limit + 1
            )));
        }
        if let Some(thinking) = field(c, "thinkingConfig") {
            let at = "generation_config.thinking_config";
            known_fields(object(thinking, at)?, THINKING_CONFIG, at)?;
        }
    }
    if let Some(settings) = field(obj, "safetySettings").and_then(Value::as_array) {
        for (i, s) in settings.iter().enumerate() {
            let at = format!("safety_settings[{i}]");
            known_fields(object(s, &at)?, SAFETY_SETTING, &at)?;
        }
    }
    if let Some(config) = field(obj, "toolConfig") {
        let c = object(config, "tool_config")?;
        known_fields(c, TOOL_CONFIG, "tool_config")?;
        if let Some(f) = field(c, "functionCallingConfig") {
            let at = "tool_config.function_calling_config";
            let f = object(f, at)?;
            known_fields(f, FUNCTION_CALLING_CONFIG, at)?;
            const MODES: &[&str] = &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"];
            if let Some(mode) = field(f, "mode")
                && !mode.as_str().is_some_and(|m| MODES.contains(&m))
            {
                return Err(format!(
                    "Invalid JSON payload received. Invalid value at '{at}.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {mode}"
                )
                .into());
            }
        }
    }
    if let Some(tools) = field(obj, "tools") {
        let tools = tools.as_array().ok_or_else(|| {
            Reject::from("Invalid JSON payload received. Expected an array for 'tools'.".to_owned())
        })?;
        for (t, tool) in tools.iter().enumerate() {
            let at = format!("tools[{t}]");
            let tool = object(tool, &at)?;
            known_fields(tool, TOOL, &at)?;
            let decls = field(tool, "functionDeclarations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for (f, decl) in decls.enumerate() {
                let at = format!("{at}.function_declarations[{f}]");
                let d = object(decl, &at)?;
                known_fields(d, FUNCTION_DECLARATION, &at)?;
                let name = field(d, "name").and_then(Value::as_str).unwrap_or("");
                if !is_function_name(name) {
                    return Err(field_error(
                        &format!("{at}.name"),
                        "Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.",
                    ));
                }
                if let Some(schema) = field(d, "parameters") {
                    check_schema(schema, &format!("{at}.parameters"))?;
                }
            }
        }
    }

    let contents = field(obj, "contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| field_error("contents", "contents is not specified"))?;
    for (i, c) in contents.iter().enumerate() {
        check_content(c, &format!("contents[{i}]"))?;
    }
    check_function_turns(contents, model)
}

fn parts_of(content: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

fn call_name(part: &Map<String, Value>) -> Option<&str> {
    field(part, "functionCall")
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
}

fn response_name(part: &Map<String, Value>) -> Option<&str> {
    field(part, "functionResponse")
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
}

/// Function calls and their responses must pair up turn by turn, and on Gemini 3 the calls
/// of the current turn must carry back the thought signature they came with.
fn check_function_turns(contents: &[Value], model: &str) -> Result<(), Reject> {
    let mut called = HashSet::new();
    for (i, content) in contents.iter().enumerate() {
        let calls: Vec<&str> = parts_of(content).filter_map(call_name).collect();
        let responses: Vec<(usize, &str)> = parts_of(content)
            .enumerate()
            .filter_map(|(j, p)| response_name(p).map(|n| (j, n)))
            .collect();
        let previous = i.checked_sub(1).map(|p| &contents[p]);
        if !calls.is_empty() {
            if previous.is_none_or(|p| !is_user(p)) {
                return Err("Please ensure that function call turn comes immediately after a user turn or after a function response turn.".to_owned().into());
            }
            called.extend(calls.iter().copied());
        }
        if responses.is_empty() {
            continue;
        }
        if let Some((j, name)) = responses.iter().find(|(_, n)| !called.contains(n)) {
            return Err(field_error(
                &format!("contents[{i}].parts[{j}].function_response.name"),
                &format!(
                    "function response `{name}` has no matching function call in an earlier turn"
                ),
            ));
        }
        let previous_calls: Vec<&str> = previous
            .filter(|p| !is_user(p))
            .map(|p| parts_of(p).filter_map(call_name).collect())
            .unwrap_or_default();
        if previous_calls.is_empty() {
            return Err("Please ensure that function response turn comes immediately after a function call turn.".to_owned().into());
        }
        if previous_calls.len() != responses.len() {
            return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.".to_owned().into());
        }
    }
    if model.starts_with("gemini-3") {
        let current = contents
            .iter()
            .rposition(|c| is_user(c) && parts_of(c).any(|p| field(p, "text").is_some()))
            .unwrap_or(0);
        for (i, content) in contents.iter().enumerate().skip(current) {
            let first_call = parts_of(content)
                .enumerate()
                .find(|(_, p)| call_name(p).is_some());
            let Some((j, part)) = first_call else {
                continue;
            };
            match field(part, "thoughtSignature").and_then(Value::as_str) {
                None => {
                    return Err(format!(
                        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                        call_name(part).unwrap_or(""),
                        j + 1
                    )
                    .into());
                }
                Some(sig) if sig != THOUGHT_SIGNATURE && !SIGNATURE_BYPASSES.contains(&sig) => {
                    return Err(field_error(
                        &format!("contents[{i}].parts[{j}].thought_signature"),
                        "Corrupted thought signature.",
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
