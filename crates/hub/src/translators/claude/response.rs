//! Whole (non-streaming) responses: Anthropic `message` <-> hub `chat.completion`.

use serde_json::{Map, Value, json};

use super::{
    ClaudeUsage, arguments_to_input, claude_message_id, finish_to_stop_reason,
    stop_reason_to_finish, str_of,
};
use crate::clock::now_secs;
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;

/// The message of an Anthropic `error` body, if `body` is one.
fn claude_error_message(body: &Value) -> Option<String> {
    if str_of(body, "type") != Some("error") {
        return None;
    }
    let err = body.get("error");
    let kind = err.and_then(|e| str_of(e, "type")).unwrap_or("error");
    let msg = err.and_then(|e| str_of(e, "message")).unwrap_or("");
    Some(format!("{kind}: {msg}"))
}

pub(super) fn claude_response_to_hub(
    body: Value,
    ctx: &TranslateCtx,
) -> Result<Value, TranslateError> {
    if let Some(msg) = claude_error_message(&body) {
        return Err(TranslateError::bad_upstream(msg));
    }
    let Some(Value::Array(blocks)) = body.get("content") else {
        return Err(TranslateError::bad_upstream(
            "Anthropic message has no `content` array",
        ));
    };
    let message = message_from_blocks(blocks, ctx)?;
    let has_tools = message.contains_key("tool_calls");

    let finish = match str_of(&body, "stop_reason") {
        Some(r) => stop_reason_to_finish(r),
        None if has_tools => "tool_calls",
        None => "stop",
    };
    let usage = body
        .get("usage")
        .map(ClaudeUsage::from_claude)
        .unwrap_or_default();
    Ok(json!({
        "id": str_of(&body, "id").unwrap_or(""),
        "object": "chat.completion",
        "created": now_secs(),
        "model": str_of(&body, "model").unwrap_or(&ctx.model),
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish,
        }],
        "usage": usage.to_hub(),
    }))
}

/// Anthropic content blocks -> the hub assistant message: text, reasoning (with its
/// signature when it can be replayed), redacted reasoning and tool calls.
fn message_from_blocks(
    blocks: &[Value],
    ctx: &TranslateCtx,
) -> Result<Map<String, Value>, TranslateError> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut signatures: Vec<&str> = Vec::new();
    let mut thinking_blocks = 0usize;
    let mut redacted: Vec<&str> = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match str_of(block, "type") {
            Some("text") => text.push_str(str_of(block, "text").unwrap_or("")),
            Some("thinking") => {
                thinking_blocks += 1;
                reasoning.push_str(str_of(block, "thinking").unwrap_or(""));
                if let Some(sig) = str_of(block, "signature").filter(|s| !s.is_empty()) {
                    signatures.push(sig);
                }
            }
            Some("redacted_thinking") => {
                if let Some(d) = str_of(block, "data") {
                    redacted.push(d);
                }
            }
            Some("tool_use") => {
                let id = str_of(block, "id")
                    .ok_or_else(|| TranslateError::bad_upstream("tool_use block without an id"))?;
                let name = str_of(block, "name")
                    .ok_or_else(|| TranslateError::bad_upstream("tool_use block without a name"))?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {
                        "name": ctx.tool_names.client_name(name),
                        "arguments": input.to_string(),
                    },
                }));
            }
            // Server tool traffic and anything newer has no hub form.
            _ => {}
        }
    }

    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !tool_calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    message.insert("content".into(), content);
    if thinking_blocks > 0 {
        message.insert("reasoning_content".into(), Value::String(reasoning));
    }
    // A signature belongs to exactly one thinking block; with several blocks (or a mix with
    // redacted ones) the joined text could not be replayed, so no signature is passed on.
    if thinking_blocks == 1
        && redacted.is_empty()
        && let [sig] = signatures.as_slice()
    {
        message.insert("reasoning_signature".into(), json!(sig));
    }
    if thinking_blocks == 0
        && let [data] = redacted.as_slice()
    {
        message.insert("redacted_reasoning".into(), json!(data));
    }
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    Ok(message)
}

/// Text of a hub message `content` (string or text/refusal parts).
fn hub_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| str_of(p, "text").or_else(|| str_of(p, "refusal")))
            .collect(),
        _ => String::new(),
    }
}

pub(super) fn hub_response_to_claude(
    body: Value,
    ctx: &TranslateCtx,
) -> Result<Value, TranslateError> {
    if let Some(err) = body.get("error").filter(|e| !e.is_null()) {
        let msg = str_of(err, "message").unwrap_or("upstream error");
        return Err(TranslateError::bad_upstream(msg.to_owned()));
    }
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| TranslateError::bad_upstream("chat completion has no choices"))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| TranslateError::bad_upstream("chat completion choice has no message"))?;
    let id = claude_message_id(str_of(&body, "id"));

    let mut content = Vec::new();
    let reasoning = str_of(message, "reasoning_content")
        .or_else(|| str_of(message, "reasoning"))
        .unwrap_or("");
    let signature = str_of(message, "reasoning_signature")
        .filter(|s| !s.is_empty())
        .map(|s| crate::provenance::to_client(s, ctx.provider, ctx.client))
        .unwrap_or_default();
    if !reasoning.is_empty() || !signature.is_empty() {
        content.push(json!({"type": "thinking", "thinking": reasoning, "signature": signature}));
    }
    if let Some(data) = str_of(message, "redacted_reasoning").filter(|d| !d.is_empty()) {
        content.push(json!({"type": "redacted_thinking", "data": data}));
    }
    let mut text = hub_text(message.get("content"));
    if let Some(refusal) = str_of(message, "refusal") {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let mut has_tools = false;
    if let Some(Value::Array(calls)) = message.get("tool_calls") {
        for (k, call) in calls.iter().enumerate() {
            let f = call.get("function").unwrap_or(&Value::Null);
            let tool_id = str_of(call, "id").filter(|s| !s.is_empty()).map_or_else(
                || format!("toolu_{}_{k}", id.trim_start_matches("msg_")),
                str::to_owned,
            );
            content.push(json!({
                "type": "tool_use",
                "id": tool_id,
                "name": str_of(f, "name").unwrap_or(""),
                "input": arguments_to_input(f.get("arguments")),
            }));
            has_tools = true;
        }
    }

    let stop_reason = match str_of(choice, "finish_reason") {
        Some("stop") | None if has_tools => "tool_use",
        Some(f) => finish_to_stop_reason(f),
        None => "end_turn",
    };
    let usage = body
        .get("usage")
        .filter(|u| u.is_object())
        .map(ClaudeUsage::from_hub)
        .unwrap_or_default();
    Ok(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": str_of(&body, "model").unwrap_or(&ctx.model),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": Value::Null,
        "usage": usage.to_claude(),
    }))
}
