//! A fake OpenAI Responses API (`POST /v1/responses`), written from OpenAI's public wire
//! format with raw JSON. It is strict where the real API is strict (see [`validate`]) and
//! answers with the real error shape `{"error":{"message","type","param","code"}}`.
//!
//! Scriptable from the text of the last user message, when nothing but tool outputs follows
//! it, with the directives of [`crate::fake_anthropic`]: `#chunks=N`, `#delay=MS`, `#hold`, `#wait`, `#cut`,
//! `#status=CODE`, `#retry-after=S`, `#reset`, `#tool=NAME` (a `function_call` with
//! [`TOOL_ARGS`], streamed as several `response.function_call_arguments.delta` fragments)
//! and `#think` (a reasoning item with a summary, plus `encrypted_content`
//! [`ENCRYPTED_CONTENT`] when `include` asks for `reasoning.encrypted_content`).
//!
//! When `function_call_output` items follow the last user message, the answer is
//! `after tool: <output>`. A forcing `tool_choice` (`required` or a named function) always
//! gets a tool call. The fake stores nothing: `previous_response_id`, `item_reference` and
//! reasoning items without `encrypted_content` are refused as the real API refuses unknown
//! ids. An account key that starts with `sk-revoked` is refused with 401.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{Value, json};

pub use crate::fake_anthropic::{AFTER_TOOL, REPLY, TOOL_ARGS};
use crate::fake_anthropic::{
    Answer, FakeState, Frame, Recorded, Script, TOOL_ARGS_FRAGMENTS, ToolAsk, decide, header,
    is_json, receive, split_text, sse_event, stream_frames, type_name,
};
use crate::server::{FakeBody, full, serve};

pub const INPUT_TOKENS: u64 = 17;
pub const CACHED_TOKENS: u64 = 4;
pub const OUTPUT_TOKENS: u64 = 8;
/// Reported in `output_tokens_details` when the answer holds a reasoning item, else 0.
pub const REASONING_TOKENS: u64 = 3;
/// The only `encrypted_content` the fake issues, and so the only one it accepts back.
pub const ENCRYPTED_CONTENT: &str = "enc-fake-1";
/// The compaction summary the fake issues (and the only one it can "decrypt").
pub const COMPACTION_CONTENT: &str = "cmp-enc-fake-1";
pub const REASONING_SUMMARY: &str = "**Thinking**\n\nLet me think about that.";
const CREATED_AT: u64 = 1_700_000_000;

#[derive(Clone)]
pub struct FakeResponses {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl FakeResponses {
    pub async fn start() -> FakeResponses {
        let state = Arc::new(FakeState::default());
        let s = state.clone();
        let addr = serve(move |req| handle(s.clone(), req)).await;
        FakeResponses { addr, state }
    }

    /// The base URL to configure, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn release(&self) {
        self.state.release();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests()
    }
}

/// A refusal: status, message, and the `param` / `code` the real API names.
#[derive(Debug)]
pub struct Reject {
    pub status: u16,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

fn bad(message: impl Into<String>, param: impl Into<String>, code: &'static str) -> Reject {
    let param = param.into();
    Reject {
        status: 400,
        message: message.into(),
        param: (!param.is_empty()).then_some(param),
        code: (!code.is_empty()).then_some(code),
    }
}

fn missing(param: &str) -> Reject {
    bad(
        format!("Missing required parameter: '{param}'."),
        param,
        "missing_required_parameter",
    )
}

fn invalid_type(param: &str, expected: &str, got: &Value) -> Reject {
    bad(
        format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            article(type_name(got))
        ),
        param,
        "invalid_type",
    )
}

fn article(kind: &str) -> String {
    match kind {
        "null" => "null".into(),
        "array" | "object" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

fn invalid_value(param: &str, value: &str, supported: &[&str]) -> Reject {
    let list = match supported {
        [] => String::new(),
        [one] => format!("'{one}'"),
        [one, two] => format!("'{one}' and '{two}'"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|s| format!("'{s}'")).collect();
            format!("{}, and '{last}'", init.join(", "))
        }
    };
    bad(
        format!("Invalid value: '{value}'. Supported values are: {list}."),
        param,
        "invalid_value",
    )
}

fn error(
    status: u16,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response<FakeBody> {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    full(status, "application/json", body.to_string())
}

async fn handle(state: Arc<FakeState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, parsed) = receive(&state.requests, req).await;
    let path = parts.uri.path();
    if path != "/v1/responses" {
        return error(
            404,
            &format!("Invalid URL ({} {path})", parts.method),
            "invalid_request_error",
            None,
            None,
        );
    }
    if parts.method != http::Method::POST {
        return error(
            405,
            "Method not allowed",
            "invalid_request_error",
            None,
            None,
        );
    }
    let key = header(&parts, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if key.is_empty() {
        return error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
            None,
        );
    }
    if key.starts_with("sk-revoked") {
        return error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        );
    }
    if !is_json(&parts) {
        return error(
            400,
            "Invalid content type; expected application/json",
            "invalid_request_error",
            None,
            None,
        );
    }
    let Ok(body) = parsed else {
        return error(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            "invalid_request_error",
            None,
            None,
        );
    };
    if let Err(r) = validate(&body) {
        return error(
            r.status,
            &r.message,
            "invalid_request_error",
            r.param.as_deref(),
            r.code,
        );
    }

    let turn = last_user_turn(&body);
    let script = Script::new(turn.text.clone());
    if let Some(code) = script.status() {
        let (kind, code_name) = match code {
            429 => ("requests", Some("rate_limit_exceeded")),
            400..=499 => ("invalid_request_error", None),
            _ => ("server_error", None),
        };
        let mut res = error(
            code,
            &format!("scripted failure {code}"),
            kind,
            None,
            code_name,
        );
        if let Some(after) = script.retry_after() {
            res.headers_mut().insert("retry-after", after);
        }
        return res;
    }

    let compacting = body["input"]
        .as_array()
        .and_then(|items| items.last())
        .is_some_and(|item| item["type"] == "compaction_trigger");
    if compacting {
        return compaction_answer(state, &script, &body);
    }

    let think = script.has("think");
    let encrypted = body["include"]
        .as_array()
        .is_some_and(|i| i.iter().any(|v| v == "reasoning.encrypted_content"));
    let answer = choose_answer(&body, &script, &turn);
    let n = state.next_id();
    let ids = Ids {
        response: format!("resp_fake_{n}"),
        reasoning: format!("rs_fake_{n}"),
        message: format!("msg_fake_{n}"),
        call: format!("fc_fake_{n}"),
        call_id: format!("call_fake_{n}"),
    };
    let usage = json!({
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": if think { REASONING_TOKENS } else { 0 }},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS
    });

    let reasoning_item = |summary: Value| {
        let mut item = json!({"id": ids.reasoning, "type": "reasoning", "summary": summary});
        if encrypted {
            item["encrypted_content"] = json!(ENCRYPTED_CONTENT);
        }
        item
    };
    let summary_done = json!([{"type": "summary_text", "text": REASONING_SUMMARY}]);
    let text_part = |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    let message_item = |status: &str, content: Value| json!({"id": ids.message, "type": "message", "status": status, "role": "assistant", "content": content});
    let call_item = |status: &str, arguments: &str, name: &str| {
        json!({"id": ids.call, "type": "function_call", "status": status, "arguments": arguments,
            "call_id": ids.call_id, "name": name})
    };
    let mut output = Vec::new();
    if think {
        output.push(reasoning_item(summary_done.clone()));
    }
    match &answer {
        Answer::Text(pieces) => output.push(message_item(
            "completed",
            json!([text_part(&pieces.concat())]),
        )),
        Answer::Tool { name } => output.push(call_item("completed", TOOL_ARGS, name)),
    }

    let stream = body["stream"].as_bool().unwrap_or(false);
    if !stream {
        let reply = response_object(&body, &ids.response, "completed", json!(output), usage);
        return full(200, "application/json", reply.to_string());
    }

    let mut ev = Events::default();
    ev.push(
        "response.created",
        json!({"response": response_object(&body, &ids.response, "in_progress", json!([]), Value::Null)}),
        false,
    );
    ev.push(
        "response.in_progress",
        json!({"response": response_object(&body, &ids.response, "in_progress", json!([]), Value::Null)}),
        false,
    );
    let mut index = 0;
    if think {
        let at = |extra: Value| {
            let mut v =
                json!({"item_id": ids.reasoning, "output_index": index, "summary_index": 0});
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        ev.push(
            "response.output_item.added",
            json!({"output_index": index, "item": reasoning_item(json!([]))}),
            false,
        );
        ev.push(
            "response.reasoning_summary_part.added",
            at(json!({"part": {"type": "summary_text", "text": ""}})),
            false,
        );
        for piece in split_text(REASONING_SUMMARY, 2) {
            ev.push(
                "response.reasoning_summary_text.delta",
                at(json!({"delta": piece})),
                true,
            );
        }
        ev.push(
            "response.reasoning_summary_text.done",
            at(json!({"text": REASONING_SUMMARY})),
            false,
        );
        ev.push(
            "response.reasoning_summary_part.done",
            at(json!({"part": {"type": "summary_text", "text": REASONING_SUMMARY}})),
            false,
        );
        ev.push(
            "response.output_item.done",
            json!({"output_index": index, "item": output[index]}),
            false,
        );
        index += 1;
    }
    match &answer {
        Answer::Text(pieces) => {
            let text = pieces.concat();
            let at = |extra: Value| {
                let mut v =
                    json!({"item_id": ids.message, "output_index": index, "content_index": 0});
                if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                    v.extend(extra.clone());
                }
                v
            };
            ev.push(
                "response.output_item.added",
                json!({"output_index": index, "item": message_item("in_progress", json!([]))}),
                false,
            );
            ev.push(
                "response.content_part.added",
                at(json!({"part": text_part("")})),
                false,
            );
            for piece in pieces {
                ev.push(
                    "response.output_text.delta",
                    at(json!({"delta": piece, "logprobs": []})),
                    true,
                );
            }
            ev.push(
                "response.output_text.done",
                at(json!({"text": text, "logprobs": []})),
                false,
            );
            ev.push(
                "response.content_part.done",
                at(json!({"part": text_part(&text)})),
                false,
            );
        }
        Answer::Tool { name } => {
            ev.push(
                "response.output_item.added",
                json!({"output_index": index, "item": call_item("in_progress", "", name)}),
                false,
            );
            for piece in TOOL_ARGS_FRAGMENTS {
                ev.push(
                    "response.function_call_arguments.delta",
                    json!({"item_id": ids.call, "output_index": index, "delta": piece}),
                    true,
                );
            }
            ev.push(
                "response.function_call_arguments.done",
                json!({"item_id": ids.call, "output_index": index, "name": name, "arguments": TOOL_ARGS}),
                false,
            );
        }
    }
    ev.push(
        "response.output_item.done",
        json!({"output_index": index, "item": output[index]}),
        false,
    );
    ev.push(
        "response.completed",
        json!({"response": response_object(&body, &ids.response, "completed", json!(output), usage)}),
        false,
    );
    stream_frames(
        state,
        &script,
        ev.frames,
        "text/event-stream; charset=utf-8",
    )
}

/// A request whose input ends with `compaction_trigger` is answered, as OpenAI answers it,
/// with exactly one `compaction` item carrying the (here fixed) encrypted summary.
fn compaction_answer(state: Arc<FakeState>, script: &Script, body: &Value) -> Response<FakeBody> {
    let n = state.next_id();
    let id = format!("resp_fake_{n}");
    let item = json!({"id": format!("cmp_fake_{n}"), "type": "compaction",
        "encrypted_content": COMPACTION_CONTENT});
    let usage = json!({"input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS});
    if !body["stream"].as_bool().unwrap_or(false) {
        let reply = response_object(body, &id, "completed", json!([item]), usage);
        return full(200, "application/json", reply.to_string());
    }
    let mut ev = Events::default();
    let empty = response_object(body, &id, "in_progress", json!([]), Value::Null);
    ev.push("response.created", json!({"response": empty}), false);
    ev.push(
        "response.output_item.added",
        json!({"output_index": 0, "item": item}),
        false,
    );
    ev.push(
        "response.output_item.done",
        json!({"output_index": 0, "item": item}),
        false,
    );
    let done = response_object(body, &id, "completed", json!([item]), usage);
    ev.push("response.completed", json!({"response": done}), false);
    stream_frames(state, script, ev.frames, "text/event-stream; charset=utf-8")
}

struct Ids {
    response: String,
    reasoning: String,
    message: String,
    call: String,
    call_id: String,
}

/// Streamed events, each carrying its `type` and the next `sequence_number`.
#[derive(Default)]
struct Events {
    seq: u64,
    frames: Vec<Frame>,
}

impl Events {
    fn push(&mut self, kind: &str, mut data: Value, delta: bool) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.frames.push(Frame {
            bytes: sse_event(kind, &data),
            delta,
        });
    }
}

fn response_object(body: &Value, id: &str, status: &str, output: Value, usage: Value) -> Value {
    let or = |key: &str, default: Value| body.get(key).cloned().unwrap_or(default);
    json!({
        "id": id, "object": "response", "created_at": CREATED_AT, "status": status,
        "background": false, "error": null, "incomplete_details": null,
        "instructions": or("instructions", Value::Null),
        "max_output_tokens": or("max_output_tokens", Value::Null),
        "model": body["model"], "output": output,
        "parallel_tool_calls": or("parallel_tool_calls", json!(true)),
        "previous_response_id": null,
        "prompt_cache_key": or("prompt_cache_key", Value::Null),
        "reasoning": {
            "effort": body.pointer("/reasoning/effort").cloned().unwrap_or(Value::Null),
            "summary": body.pointer("/reasoning/summary").cloned().unwrap_or(Value::Null)
        },
        "service_tier": "default",
        "store": or("store", json!(true)),
        "temperature": or("temperature", json!(1.0)),
        "text": or("text", json!({"format": {"type": "text"}})),
        "tool_choice": or("tool_choice", json!("auto")),
        "tools": or("tools", json!([])),
        "top_p": or("top_p", json!(1.0)),
        "truncation": or("truncation", json!("disabled")),
        "usage": usage,
        "user": null,
        "metadata": or("metadata", json!({}))
    })
}

/// The script text, or the tool outputs that follow the last user message.
#[derive(Debug, Default)]
struct UserTurn {
    text: String,
    tool_outputs: Vec<String>,
}

fn item_type(item: &Value) -> &str {
    match item.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if item.get("role").is_some() => "message",
        None => "",
    }
}

fn last_user_turn(body: &Value) -> UserTurn {
    let items = match &body["input"] {
        Value::String(s) => {
            return UserTurn {
                text: s.clone(),
                tool_outputs: Vec::new(),
            };
        }
        Value::Array(items) => items,
        _ => return UserTurn::default(),
    };
    let last_user = items
        .iter()
        .rposition(|i| item_type(i) == "message" && i["role"] == "user");
    let after = last_user.map_or(0, |i| i + 1);
    let tool_outputs: Vec<String> = items[after..]
        .iter()
        .filter(|i| {
            matches!(
                item_type(i),
                "function_call_output" | "custom_tool_call_output"
            )
        })
        .map(|i| content_text(&i["output"]))
        .collect();
    if !tool_outputs.is_empty() {
        return UserTurn {
            text: String::new(),
            tool_outputs,
        };
    }
    UserTurn {
        text: last_user.map_or(String::new(), |i| content_text(&items[i]["content"])),
        tool_outputs,
    }
}

fn content_text(content: &Value) -> String {
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
    let choice = &body["tool_choice"];
    let names: Vec<&str> = if choice == "none" {
        Vec::new()
    } else {
        body["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter(|t| t["type"] == "function")
                    .filter_map(|t| t["name"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    };
    let ask = ToolAsk {
        names,
        forced: (choice["type"] == "function")
            .then(|| choice["name"].as_str())
            .flatten(),
        required: choice == "required",
    };
    decide(&ask, script, &turn.tool_outputs)
}

const TOP_LEVEL: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "store",
    "include",
    "stream",
    "stream_options",
    "prompt_cache_key",
    "prompt_cache_retention",
    "text",
    "client_metadata",
    "metadata",
    "temperature",
    "top_p",
    "top_logprobs",
    "max_output_tokens",
    "max_tool_calls",
    "previous_response_id",
    "truncation",
    "user",
    "service_tier",
    "background",
    "prompt",
    "safety_identifier",
    "conversation",
    "context_management",
];

const INCLUDABLE: &[&str] = &[
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "message.input_image.image_url",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
    "web_search_call.action.sources",
    "web_search_call.results",
];

const TOOL_TYPES: &[&str] = &[
    "function",
    "custom",
    "file_search",
    "web_search",
    "web_search_preview",
    "web_search_2025_08_26",
    "web_search_preview_2025_03_11",
    "computer",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    "tool_search",
    "namespace",
];

const ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "tool_search_call",
    "tool_search_output",
    "compaction",
    "compaction_summary",
    "context_compaction",
    "compaction_trigger",
];

fn is_tool_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The checks OpenAI's Responses API makes before it answers.
pub fn validate(body: &Value) -> Result<(), Reject> {
    let obj = body.as_object().ok_or_else(|| {
        bad(
            "Invalid type for request body: expected an object.",
            "",
            "invalid_type",
        )
    })?;
    if let Some(k) = obj.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(bad(
            format!("Unknown parameter: '{k}'."),
            k.as_str(),
            "unknown_parameter",
        ));
    }
    match obj.get("model") {
        None | Some(Value::Null) => return Err(missing("model")),
        Some(Value::String(m)) if !m.is_empty() => {}
        Some(other) => return Err(invalid_type("model", "a string", other)),
    }
    for key in ["stream", "store", "parallel_tool_calls", "background"] {
        if let Some(v) = obj.get(key)
            && !v.is_boolean()
            && !v.is_null()
        {
            return Err(invalid_type(key, "a boolean", v));
        }
    }
    if obj.contains_key("stream_options")
        && !obj.get("stream").and_then(Value::as_bool).unwrap_or(false)
    {
        return Err(bad(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "invalid_value",
        ));
    }
    if let Some(v) = obj.get("instructions")
        && !v.is_string()
        && !v.is_null()
    {
        return Err(invalid_type("instructions", "a string", v));
    }
    for (key, max) in [("temperature", 2.0), ("top_p", 1.0)] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            let x = v
                .as_f64()
                .ok_or_else(|| invalid_type(key, "a decimal", v))?;
            if x > max {
                return Err(bad(
                    format!(
                        "Invalid '{key}': decimal above maximum value. Expected a value <= {max}, but got {x} instead."
                    ),
                    key,
                    "decimal_above_max_value",
                ));
            }
            if x < 0.0 {
                return Err(bad(
                    format!(
                        "Invalid '{key}': decimal below minimum value. Expected a value >= 0, but got {x} instead."
                    ),
                    key,
                    "decimal_below_min_value",
                ));
            }
        }
    }
    if let Some(id) = obj.get("previous_response_id").and_then(Value::as_str) {
        return Err(bad(
            format!("Previous response with id '{id}' not found."),
            "previous_response_id",
            "previous_response_not_found",
        ));
    }
    if let Some(effort) = body.pointer("/reasoning/effort").and_then(Value::as_str) {
        const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh"];
        if !EFFORTS.contains(&effort) {
            return Err(invalid_value("reasoning.effort", effort, EFFORTS));
        }
    }
    if let Some(summary) = body.pointer("/reasoning/summary").and_then(Value::as_str) {
        const SUMMARIES: &[&str] = &["auto", "concise", "detailed", "none"];
        if !SUMMARIES.contains(&summary) {
            return Err(invalid_value("reasoning.summary", summary, SUMMARIES));
        }
    }
    if let Some(include) = obj.get("include").filter(|v| !v.is_null()) {
        let include = include
            .as_array()
            .ok_or_else(|| invalid_type("include", "an array", include))?;
        for (i, v) in include.iter().enumerate() {
            let s = v.as_str().unwrap_or("");
            if !INCLUDABLE.contains(&s) {
                return Err(invalid_value(&format!("include[{i}]"), s, INCLUDABLE));
            }
        }
    }
    let mut function_names = HashSet::new();
    if let Some(tools) = obj.get("tools").filter(|v| !v.is_null()) {
        let tools = tools
            .as_array()
            .ok_or_else(|| invalid_type("tools", "an array", tools))?;
        for (i, t) in tools.iter().enumerate() {
            let param = format!("tools[{i}]");
            let t = t
                .as_object()
                .ok_or_else(|| invalid_type(&param, "an object", t))?;
            let kind = t
                .get("type")
                .ok_or_else(|| missing(&format!("{param}.type")))?
                .as_str()
                .unwrap_or("");
            if !TOOL_TYPES.contains(&kind) {
                return Err(invalid_value(&format!("{param}.type"), kind, TOOL_TYPES));
            }
            if kind == "function" || kind == "custom" {
                let name = t
                    .get("name")
                    .ok_or_else(|| missing(&format!("{param}.name")))?;
                let name = name
                    .as_str()
                    .ok_or_else(|| invalid_type(&format!("{param}.name"), "a string", name))?;
                if !is_tool_name(name) {
                    return Err(bad(
                        format!(
                            "Invalid '{param}.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                        ),
                        format!("{param}.name"),
                        "invalid_value",
                    ));
                }
                if kind == "function" {
                    if let Some(p) = t.get("parameters").filter(|p| !p.is_null())
                        && !p.is_object()
                    {
                        return Err(invalid_type(&format!("{param}.parameters"), "an object", p));
                    }
                    const FIELDS: &[&str] = &[
                        "type",
                        "name",
                        "description",
                        "parameters",
                        "strict",
                        "defer_loading",
                    ];
                    if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                        return Err(bad(
                            format!("Unknown parameter: '{param}.{k}'."),
                            format!("{param}.{k}"),
                            "unknown_parameter",
                        ));
                    }
                    function_names.insert(name);
                }
            }
        }
    }
    match obj.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if !matches!(s.as_str(), "none" | "auto" | "required") {
                return Err(invalid_value(
                    "tool_choice",
                    s,
                    &["none", "auto", "required"],
                ));
            }
        }
        Some(Value::Object(c)) => {
            if c.get("type").and_then(Value::as_str) == Some("function") {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                if !function_names.contains(name) {
                    return Err(bad(
                        format!("Tool choice '{name}' not found in 'tools' parameter."),
                        "tool_choice",
                        "",
                    ));
                }
            }
        }
        Some(other) => return Err(invalid_type("tool_choice", "an object", other)),
    }

    let store = obj.get("store").and_then(Value::as_bool).unwrap_or(true);
    match obj.get("input") {
        None | Some(Value::Null) => Err(missing("input")),
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(items)) => check_items(items, store),
        Some(other) => Err(invalid_type(
            "input",
            "one of a string or array of input items",
            other,
        )),
    }
}

fn check_items(items: &[Value], store: bool) -> Result<(), Reject> {
    let mut calls = HashSet::new();
    let mut custom_calls = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let param = format!("input[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| invalid_type(&param, "an object", item))?;
        let kind = item_type(item);
        if kind.is_empty() {
            return Err(missing(&format!("{param}.type")));
        }
        if !ITEM_TYPES.contains(&kind) {
            return Err(invalid_value(&format!("{param}.type"), kind, ITEM_TYPES));
        }
        let string = |field: &str| -> Result<&str, Reject> {
            let v = obj
                .get(field)
                .ok_or_else(|| missing(&format!("{param}.{field}")))?;
            v.as_str()
                .ok_or_else(|| invalid_type(&format!("{param}.{field}"), "a string", v))
        };
        let id_prefix = |prefix: &str| -> Result<(), Reject> {
            match obj.get("id").and_then(Value::as_str) {
                Some(id) if !id.starts_with(prefix) => Err(bad(
                    format!(
                        "Invalid '{param}.id': '{id}'. Expected an ID that begins with '{prefix}'."
                    ),
                    format!("{param}.id"),
                    "invalid_value",
                )),
                _ => Ok(()),
            }
        };
        match kind {
            "message" => {
                let role = string("role")?;
                const ROLES: &[&str] = &["assistant", "system", "developer", "user"];
                if !ROLES.contains(&role) {
                    return Err(invalid_value(&format!("{param}.role"), role, ROLES));
                }
                id_prefix("msg")?;
                let content = obj
                    .get("content")
                    .ok_or_else(|| missing(&format!("{param}.content")))?;
                match content {
                    Value::String(_) => {}
                    Value::Array(parts) => {
                        let allowed: &[&str] = if role == "assistant" {
                            &["output_text", "refusal"]
                        } else {
                            &["input_text", "input_image", "input_file"]
                        };
                        for (j, p) in parts.iter().enumerate() {
                            let pparam = format!("{param}.content[{j}]");
                            let ptype = p["type"].as_str().unwrap_or("");
                            if !allowed.contains(&ptype) {
                                return Err(invalid_value(&pparam, ptype, allowed));
                            }
                            let needs = match ptype {
                                "input_text" | "output_text" => Some("text"),
                                "refusal" => Some("refusal"),
                                _ => None,
                            };
                            if let Some(field) = needs
                                && !p[field].is_string()
                            {
                                return Err(missing(&format!("{pparam}.{field}")));
                            }
                        }
                    }
                    other => {
                        return Err(invalid_type(
                            &format!("{param}.content"),
                            "one of a string or array of content parts",
                            other,
                        ));
                    }
                }
            }
            "function_call" => {
                let call_id = string("call_id")?;
                string("name")?;
                string("arguments")?;
                id_prefix("fc")?;
                calls.insert(call_id.to_owned());
            }
            "custom_tool_call" => {
                let call_id = string("call_id")?;
                string("name")?;
                string("input")?;
                id_prefix("ctc")?;
                custom_calls.insert(call_id.to_owned());
            }
            "function_call_output" | "custom_tool_call_output" => {
                let call_id = string("call_id")?;
                match obj.get("output") {
                    None => return Err(missing(&format!("{param}.output"))),
                    Some(Value::String(_) | Value::Array(_)) => {}
                    Some(other) => {
                        return Err(invalid_type(
                            &format!("{param}.output"),
                            "one of a string or array of content parts",
                            other,
                        ));
                    }
                }
                let (seen, what) = if kind == "function_call_output" {
                    (&calls, "function call output")
                } else {
                    (&custom_calls, "custom tool call output")
                };
                if !seen.contains(call_id) {
                    return Err(bad(
                        format!("No tool call found for {what} with call_id {call_id}."),
                        "input",
                        "",
                    ));
                }
            }
            "compaction_trigger" if i + 1 != items.len() => {
                return Err(bad(
                    format!("Invalid '{param}': a compaction_trigger must be the last input item."),
                    param.clone(),
                    "invalid_value",
                ));
            }
            "compaction" | "compaction_summary" | "context_compaction"
                if obj.get("encrypted_content").and_then(Value::as_str)
                    != Some(COMPACTION_CONTENT) =>
            {
                return Err(bad(
                    format!("The encrypted content for {param} could not be verified."),
                    "",
                    "invalid_encrypted_content",
                ));
            }
            "reasoning" => {
                id_prefix("rs")?;
                let summary = obj
                    .get("summary")
                    .ok_or_else(|| missing(&format!("{param}.summary")))?;
                if !summary.is_array() {
                    return Err(invalid_type(
                        &format!("{param}.summary"),
                        "an array",
                        summary,
                    ));
                }
                let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
                match obj.get("encrypted_content").and_then(Value::as_str) {
                    Some(ENCRYPTED_CONTENT) => {}
                    Some(_) => {
                        return Err(bad(
                            format!("The encrypted content for item {id} could not be verified."),
                            "",
                            "invalid_encrypted_content",
                        ));
                    }
                    None if !store => return Err(not_persisted(id)),
                    // With store on, the fake "persisted" exactly the items it issued.
                    None if !id.starts_with("rs_fake_") => return Err(not_found(id)),
                    None => {}
                }
            }
            "item_reference" => {
                let id = string("id")?;
                return Err(if store {
                    not_found(id)
                } else {
                    not_persisted(id)
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn not_found(id: &str) -> Reject {
    Reject {
        status: 404,
        message: format!("Item with id '{id}' not found."),
        param: Some("input".into()),
        code: None,
    }
}

fn not_persisted(id: &str) -> Reject {
    Reject {
        status: 404,
        message: format!(
            "Item with id '{id}' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input."
        ),
        param: Some("input".into()),
        code: None,
    }
}
