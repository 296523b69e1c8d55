//! Claude Messages request -> the typed hub request: the request's own fields, system and
//! user messages (assistant turns in `assistant.rs`, attachments in `attachments.rs`).

use serde_json::{Map, Value, json};

use super::assistant::assistant_to_hub;
use super::attachments::{document_to_parts, image_to_part, tool_result_to_hub};
use super::thinking::{output_format_to_hub, reasoning_effort_to_hub};
use super::tools::{tool_choice_to_hub, tools_to_hub};
use super::{block_type, cache_control_to_extra, required_str};
use crate::chat::{ChatRequest, Content, Message, Part, Stop};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::translators::claude::str_of;

pub(in crate::translators::claude) fn claude_request_to_hub(
    body: Value,
    ctx: &mut TranslateCtx,
) -> Result<ChatRequest, TranslateError> {
    let Value::Object(req) = body else {
        return Err(TranslateError::invalid(
            "request body must be a JSON object",
        ));
    };
    let model = match req.get("model") {
        Some(Value::String(m)) => m.clone(),
        None | Some(Value::Null) => ctx.model.clone(),
        Some(_) => return Err(TranslateError::invalid("model: must be a string")),
    };
    let mut out = ChatRequest {
        model: Some(model),
        messages: messages_to_hub(&req)?,
        ..ChatRequest::default()
    };
    sampling_to_hub(&mut out, &req)?;
    // Claude Code sends a JSON document (device and session ids) here; only a short opaque id
    // is worth forwarding as the hub's end-user id.
    out.user = req
        .get("metadata")
        .and_then(|m| str_of(m, "user_id"))
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.starts_with('{'))
        .map(str::to_owned);
    tools_and_choice_to_hub(&mut out, &req)?;

    let output_config = req.get("output_config").filter(|v| !v.is_null());
    out.reasoning_effort =
        reasoning_effort_to_hub(req.get("thinking"), output_config)?.map(str::to_owned);
    let format = req
        .get("output_format")
        .filter(|v| !v.is_null())
        .or_else(|| {
            output_config
                .and_then(|o| o.get("format"))
                .filter(|v| !v.is_null())
        });
    if let Some(format) = format {
        out.response_format = Some(output_format_to_hub(format)?);
    }
    Ok(out)
}

/// The top-level `system` and the conversation, as hub messages.
fn messages_to_hub(req: &Map<String, Value>) -> Result<Vec<Message>, TranslateError> {
    let mut messages = Vec::new();
    if let Some(system) = req.get("system")
        && let Some(m) = system_to_hub(system, "system")?
    {
        messages.push(m);
    }
    let Some(Value::Array(claude_messages)) = req.get("messages") else {
        return Err(TranslateError::invalid(
            "messages: required, must be an array of messages",
        ));
    };
    for (i, m) in claude_messages.iter().enumerate() {
        message_to_hub(m, i, &mut messages)?;
    }
    Ok(messages)
}

/// `max_tokens`, `temperature`, `top_p`, `stop_sequences` and `stream`, each checked; a
/// stream asks for usage in its last chunk.
fn sampling_to_hub(out: &mut ChatRequest, req: &Map<String, Value>) -> Result<(), TranslateError> {
    match req.get("max_tokens") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let n = v.as_u64().ok_or_else(|| {
                TranslateError::invalid("max_tokens: must be a non-negative integer")
            })?;
            out.max_completion_tokens = Some(n);
        }
    }
    out.temperature = number(req, "temperature")?;
    out.top_p = number(req, "top_p")?;
    out.stop = stop_to_hub(req.get("stop_sequences"))?;
    match req.get("stream") {
        Some(Value::Bool(true)) => {
            out.stream = Some(true);
            out.stream_options = Some(json!({"include_usage": true}));
        }
        None | Some(Value::Null | Value::Bool(false)) => {}
        Some(_) => return Err(TranslateError::invalid("stream: must be a boolean")),
    }
    Ok(())
}

fn number(
    req: &Map<String, Value>,
    key: &str,
) -> Result<Option<serde_json::Number>, TranslateError> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.clone())),
        Some(_) => Err(TranslateError::invalid(format!("{key}: must be a number"))),
    }
}

fn stop_to_hub(seqs: Option<&Value>) -> Result<Option<Stop>, TranslateError> {
    match seqs {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(seqs)) => {
            let mut stop = Vec::with_capacity(seqs.len());
            for (i, s) in seqs.iter().enumerate() {
                let s = s.as_str().ok_or_else(|| {
                    TranslateError::invalid(format!("stop_sequences[{i}]: must be a string"))
                })?;
                stop.push(s.to_owned());
            }
            Ok((!stop.is_empty()).then_some(Stop::Many(stop)))
        }
        Some(_) => Err(TranslateError::invalid(
            "stop_sequences: must be an array of strings",
        )),
    }
}

/// `tools` and `tool_choice` (with its parallel switch); a choice without tools is checked
/// and dropped.
fn tools_and_choice_to_hub(
    out: &mut ChatRequest,
    req: &Map<String, Value>,
) -> Result<(), TranslateError> {
    let tools = match req.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(t) => tools_to_hub(t)?,
    };
    if let Some(tc) = req.get("tool_choice").filter(|v| !v.is_null()) {
        let (choice, parallel) = tool_choice_to_hub(tc)?;
        if !tools.is_empty() {
            out.tool_choice = Some(choice);
            out.parallel_tool_calls = parallel;
        }
    }
    if !tools.is_empty() {
        out.tools = Some(tools);
    }
    Ok(())
}

/// A hub text part, keeping the block's `cache_control`.
pub(super) fn text_part(text: &str, block: &Value) -> Part {
    Part {
        text: Some(text.to_owned()),
        kind: "text".to_owned(),
        extra: cache_control_to_extra(block),
    }
}

/// A hub message of `role` with `content`.
pub(super) fn message(role: &str, content: Option<Content>) -> Message {
    Message {
        role: role.to_owned(),
        content: Some(content),
        ..Message::default()
    }
}

/// One plain text part becomes a plain string; anything else stays a part list.
pub(super) fn collapse_parts(mut parts: Vec<Part>) -> Content {
    if let [part] = parts.as_mut_slice()
        && part.kind == "text"
        && !part.extra.contains_key("cache_control")
        && let Some(text) = part.text.take()
    {
        return Content::Text(text);
    }
    Content::Parts(parts)
}

/// Top-level `system` or a mid-conversation `{"role":"system"}` message -> a hub system message.
fn system_to_hub(system: &Value, path: &str) -> Result<Option<Message>, TranslateError> {
    let content = match system {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => Content::Text(s.clone()),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match block_type(b, &p)? {
                    "text" => parts.push(text_part(required_str(b, "text", &p)?, b)),
                    other => {
                        return Err(TranslateError::invalid(format!(
                            "{p}.type: system content must be text blocks, got `{other}`"
                        )));
                    }
                }
            }
            if parts.is_empty() {
                return Ok(None);
            }
            collapse_parts(parts)
        }
        _ => {
            return Err(TranslateError::invalid(format!(
                "{path}: must be a string or an array of text blocks"
            )));
        }
    };
    Ok(Some(message("system", Some(content))))
}

fn message_to_hub(m: &Value, i: usize, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    if !m.is_object() {
        return Err(TranslateError::invalid(format!(
            "messages[{i}]: must be an object"
        )));
    }
    let role = str_of(m, "role").ok_or_else(|| {
        TranslateError::invalid(format!("messages[{i}].role: required, must be a string"))
    })?;
    let path = format!("messages[{i}].content");
    let content = m.get("content").unwrap_or(&Value::Null);
    match role {
        "system" => {
            if let Some(msg) = system_to_hub(content, &path)? {
                out.push(msg);
            }
            Ok(())
        }
        "user" => user_to_hub(content, &path, out),
        "assistant" => assistant_to_hub(content, &path, out),
        other => Err(TranslateError::invalid(format!(
            "messages[{i}].role: unsupported role `{other}` (expected user, assistant or system)"
        ))),
    }
}

/// A message's content as blocks. Plain string content becomes one hub message of `role`
/// right away, and `None` says there is nothing more to do.
pub(super) fn content_blocks<'v>(
    content: &'v Value,
    role: &str,
    path: &str,
    out: &mut Vec<Message>,
) -> Result<Option<&'v Vec<Value>>, TranslateError> {
    match content {
        Value::String(s) => {
            out.push(message(role, Some(Content::Text(s.clone()))));
            Ok(None)
        }
        Value::Array(blocks) => Ok(Some(blocks)),
        Value::Null => Err(TranslateError::invalid(format!("{path}: required"))),
        _ => Err(TranslateError::invalid(format!(
            "{path}: must be a string or an array of content blocks"
        ))),
    }
}

fn user_to_hub(content: &Value, path: &str, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    let Some(blocks) = content_blocks(content, "user", path, out)? else {
        return Ok(());
    };
    let mut tool_messages = Vec::new();
    // Attachments of tool results: hub (OpenAI) tool messages carry text only, so images and
    // documents move to a user message right after the tool messages.
    let mut attachments = Vec::new();
    let mut parts = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let p = format!("{path}[{j}]");
        match block_type(b, &p)? {
            "tool_result" => {
                let (msg, extra) = tool_result_to_hub(b, &p)?;
                tool_messages.push(msg);
                attachments.extend(extra);
            }
            "text" => parts.push(text_part(required_str(b, "text", &p)?, b)),
            "image" => parts.push(image_to_part(b, &p)?),
            "document" => parts.extend(document_to_parts(b, &p)?),
            t @ ("tool_use" | "thinking" | "redacted_thinking") => {
                return Err(TranslateError::invalid(format!(
                    "{p}.type: `{t}` blocks are only allowed in assistant messages"
                )));
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "{p}.type: unsupported content block type `{other}`"
                )));
            }
        }
    }
    out.extend(tool_messages);
    attachments.extend(parts);
    if !attachments.is_empty() {
        out.push(message("user", Some(collapse_parts(attachments))));
    }
    Ok(())
}
