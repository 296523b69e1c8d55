//! Request bodies: Anthropic Messages <-> hub chat completions.

use serde_json::{Map, Value, json};

use super::{
    MIN_THINKING_BUDGET, ThinkingMode, arguments_to_input, budget_to_effort, claude_effort_to_hub,
    effort_to_budget, effort_to_claude, fnv1a, str_of, thinking_mode, u64_of,
};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;

/// `max_tokens` when the hub request names none (Anthropic requires it).
const DEFAULT_MAX_TOKENS: u64 = 8192;
/// `max_tokens` when the hub request names none but asks for reasoning: room to think and answer.
const DEFAULT_MAX_TOKENS_THINKING: u64 = 32000;

// ------------------------------------------------------------------------------------------
// Claude -> hub
// ------------------------------------------------------------------------------------------

pub(super) fn claude_request_to_hub(
    body: Value,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let Value::Object(req) = body else {
        return Err(TranslateError::invalid(
            "request body must be a JSON object",
        ));
    };
    let mut out = Map::new();

    let model = match req.get("model") {
        Some(Value::String(m)) => m.clone(),
        None | Some(Value::Null) => ctx.model.clone(),
        Some(_) => return Err(TranslateError::invalid("model: must be a string")),
    };
    out.insert("model".into(), Value::String(model));

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
    out.insert("messages".into(), Value::Array(messages));

    insert_sampling_to_hub(&mut out, &req)?;
    // Claude Code sends a JSON document (device and session ids) here; only a short opaque id
    // is worth forwarding as the hub's end-user id.
    if let Some(user) = req
        .get("metadata")
        .and_then(|m| str_of(m, "user_id"))
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.starts_with('{'))
    {
        out.insert("user".into(), Value::String(user.to_owned()));
    }
    insert_tools_to_hub(&mut out, &req)?;

    let output_config = req.get("output_config").filter(|v| !v.is_null());
    if let Some(effort) = reasoning_effort_to_hub(req.get("thinking"), output_config)? {
        out.insert("reasoning_effort".into(), Value::String(effort.into()));
    }
    let format = req
        .get("output_format")
        .filter(|v| !v.is_null())
        .or_else(|| {
            output_config
                .and_then(|o| o.get("format"))
                .filter(|v| !v.is_null())
        });
    if let Some(format) = format {
        out.insert("response_format".into(), output_format_to_hub(format)?);
    }

    Ok(Value::Object(out))
}

/// `max_tokens`, `temperature`, `top_p`, `stop_sequences` and `stream`, each checked; a
/// stream asks for usage in its last chunk.
fn insert_sampling_to_hub(
    out: &mut Map<String, Value>,
    req: &Map<String, Value>,
) -> Result<(), TranslateError> {
    match req.get("max_tokens") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let n = v.as_u64().ok_or_else(|| {
                TranslateError::invalid("max_tokens: must be a non-negative integer")
            })?;
            out.insert("max_completion_tokens".into(), json!(n));
        }
    }
    for key in ["temperature", "top_p"] {
        match req.get(key) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Number(_)) => {
                out.insert(key.into(), v.clone());
            }
            Some(_) => return Err(TranslateError::invalid(format!("{key}: must be a number"))),
        }
    }
    match req.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(seqs)) => {
            let mut stop = Vec::with_capacity(seqs.len());
            for (i, s) in seqs.iter().enumerate() {
                let s = s.as_str().ok_or_else(|| {
                    TranslateError::invalid(format!("stop_sequences[{i}]: must be a string"))
                })?;
                stop.push(Value::String(s.to_owned()));
            }
            if !stop.is_empty() {
                out.insert("stop".into(), Value::Array(stop));
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "stop_sequences: must be an array of strings",
            ));
        }
    }
    match req.get("stream") {
        Some(Value::Bool(true)) => {
            out.insert("stream".into(), Value::Bool(true));
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
        None | Some(Value::Null | Value::Bool(false)) => {}
        Some(_) => return Err(TranslateError::invalid("stream: must be a boolean")),
    }
    Ok(())
}

/// `tools` and `tool_choice` (with its parallel switch); a choice without tools is checked
/// and dropped.
fn insert_tools_to_hub(
    out: &mut Map<String, Value>,
    req: &Map<String, Value>,
) -> Result<(), TranslateError> {
    let tools = match req.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(t) => tools_to_hub(t)?,
    };
    if let Some(tc) = req.get("tool_choice").filter(|v| !v.is_null()) {
        let (choice, parallel) = tool_choice_to_hub(tc)?;
        if !tools.is_empty() {
            out.insert("tool_choice".into(), choice);
            if let Some(p) = parallel {
                out.insert("parallel_tool_calls".into(), Value::Bool(p));
            }
        }
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    Ok(())
}

fn block_type<'a>(block: &'a Value, path: &str) -> Result<&'a str, TranslateError> {
    if !block.is_object() {
        return Err(TranslateError::invalid(format!(
            "{path}: must be a content block object"
        )));
    }
    str_of(block, "type").ok_or_else(|| TranslateError::invalid(format!("{path}.type: required")))
}

fn required_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, TranslateError> {
    str_of(v, key)
        .ok_or_else(|| TranslateError::invalid(format!("{path}.{key}: required, must be a string")))
}

/// A hub text part, keeping the block's `cache_control`.
fn text_part(text: &str, block: &Value) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), json!("text"));
    part.insert("text".into(), json!(text));
    copy_cache_control(block, &mut part);
    Value::Object(part)
}

fn copy_cache_control(from: &Value, to: &mut Map<String, Value>) {
    if let Some(cc) = from.get("cache_control").filter(|v| !v.is_null()) {
        to.insert("cache_control".into(), cc.clone());
    }
}

/// One plain text part becomes a plain string; anything else stays a part list.
fn collapse_parts(parts: Vec<Value>) -> Value {
    if let [part] = parts.as_slice()
        && str_of(part, "type") == Some("text")
        && part.get("cache_control").is_none()
        && let Some(text) = str_of(part, "text")
    {
        return Value::String(text.to_owned());
    }
    Value::Array(parts)
}

/// Top-level `system` or a mid-conversation `{"role":"system"}` message -> a hub system message.
fn system_to_hub(system: &Value, path: &str) -> Result<Option<Value>, TranslateError> {
    let content = match system {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => Value::String(s.clone()),
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
    Ok(Some(json!({"role": "system", "content": content})))
}

fn message_to_hub(m: &Value, i: usize, out: &mut Vec<Value>) -> Result<(), TranslateError> {
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
fn content_blocks<'v>(
    content: &'v Value,
    role: &str,
    path: &str,
    out: &mut Vec<Value>,
) -> Result<Option<&'v Vec<Value>>, TranslateError> {
    match content {
        Value::String(s) => {
            out.push(json!({"role": role, "content": s}));
            Ok(None)
        }
        Value::Array(blocks) => Ok(Some(blocks)),
        Value::Null => Err(TranslateError::invalid(format!("{path}: required"))),
        _ => Err(TranslateError::invalid(format!(
            "{path}: must be a string or an array of content blocks"
        ))),
    }
}

fn user_to_hub(content: &Value, path: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
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
        out.push(json!({"role": "user", "content": collapse_parts(attachments)}));
    }
    Ok(())
}

fn image_to_part(b: &Value, path: &str) -> Result<Value, TranslateError> {
    let source = b.get("source").filter(|s| s.is_object()).ok_or_else(|| {
        TranslateError::invalid(format!("{path}.source: required, must be an object"))
    })?;
    let sp = format!("{path}.source");
    let url = match str_of(source, "type") {
        Some("base64") => {
            let media = required_str(source, "media_type", &sp)?;
            let data = required_str(source, "data", &sp)?;
            format!("data:{media};base64,{data}")
        }
        Some("url") => required_str(source, "url", &sp)?.to_owned(),
        Some("file") => {
            return Err(TranslateError::invalid(format!(
                "{sp}: Files API sources cannot be forwarded to this provider; send the image as base64 or url"
            )));
        }
        Some(other) => {
            return Err(TranslateError::invalid(format!(
                "{sp}.type: unsupported image source `{other}`"
            )));
        }
        None => return Err(TranslateError::invalid(format!("{sp}.type: required"))),
    };
    let mut part = Map::new();
    part.insert("type".into(), json!("image_url"));
    part.insert("image_url".into(), json!({"url": url}));
    copy_cache_control(b, &mut part);
    Ok(Value::Object(part))
}

fn document_to_parts(b: &Value, path: &str) -> Result<Vec<Value>, TranslateError> {
    let source = b.get("source").filter(|s| s.is_object()).ok_or_else(|| {
        TranslateError::invalid(format!("{path}.source: required, must be an object"))
    })?;
    let sp = format!("{path}.source");
    match str_of(source, "type") {
        Some("base64") => {
            let media = str_of(source, "media_type").unwrap_or("application/pdf");
            let data = required_str(source, "data", &sp)?;
            let filename = str_of(b, "title").unwrap_or("document.pdf");
            let mut part = Map::new();
            part.insert("type".into(), json!("file"));
            part.insert(
                "file".into(),
                json!({"filename": filename, "file_data": format!("data:{media};base64,{data}")}),
            );
            copy_cache_control(b, &mut part);
            Ok(vec![Value::Object(part)])
        }
        Some("text") => Ok(vec![text_part(required_str(source, "data", &sp)?, b)]),
        Some("content") => match source.get("content") {
            Some(Value::String(s)) => Ok(vec![text_part(s, b)]),
            Some(Value::Array(items)) => {
                let mut parts = Vec::with_capacity(items.len());
                for (k, item) in items.iter().enumerate() {
                    let ip = format!("{sp}.content[{k}]");
                    match block_type(item, &ip)? {
                        "text" => parts.push(text_part(required_str(item, "text", &ip)?, item)),
                        "image" => parts.push(image_to_part(item, &ip)?),
                        other => {
                            return Err(TranslateError::invalid(format!(
                                "{ip}.type: unsupported document content block `{other}`"
                            )));
                        }
                    }
                }
                Ok(parts)
            }
            _ => Err(TranslateError::invalid(format!(
                "{sp}.content: required, must be a string or an array of blocks"
            ))),
        },
        Some("url") => Err(TranslateError::invalid(format!(
            "{sp}: url documents cannot be forwarded to this provider; send the PDF as base64"
        ))),
        Some("file") => Err(TranslateError::invalid(format!(
            "{sp}: Files API sources cannot be forwarded to this provider; send the document as base64"
        ))),
        Some(other) => Err(TranslateError::invalid(format!(
            "{sp}.type: unsupported document source `{other}`"
        ))),
        None => Err(TranslateError::invalid(format!("{sp}.type: required"))),
    }
}

/// A `tool_result` block -> a hub tool message, plus any attachments it carried.
fn tool_result_to_hub(b: &Value, path: &str) -> Result<(Value, Vec<Value>), TranslateError> {
    let id = required_str(b, "tool_use_id", path)?;
    let mut texts: Vec<&str> = Vec::new();
    let mut attachments = Vec::new();
    match b.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => texts.push(s),
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let ip = format!("{path}.content[{k}]");
                match block_type(item, &ip)? {
                    "text" => texts.push(required_str(item, "text", &ip)?),
                    "image" => attachments.push(image_to_part(item, &ip)?),
                    "document" => attachments.extend(document_to_parts(item, &ip)?),
                    // A pointer that makes the Anthropic server load a deferred tool definition;
                    // every tool definition is forwarded up front, so it carries nothing here.
                    "tool_reference" => {}
                    other => {
                        return Err(TranslateError::invalid(format!(
                            "{ip}.type: unsupported tool result content block `{other}`"
                        )));
                    }
                }
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(format!(
                "{path}.content: must be a string or an array of content blocks"
            )));
        }
    }
    let mut text = texts.join("\n");
    // The hub has no error flag on tool messages; say it in the text the model reads.
    if b.get("is_error").and_then(Value::as_bool) == Some(true) {
        text = if text.is_empty() {
            "Error".to_owned()
        } else {
            format!("Error: {text}")
        };
    }
    let content = if b.get("cache_control").is_some_and(|c| !c.is_null()) {
        json!([text_part(&text, b)])
    } else {
        Value::String(text)
    };
    Ok((
        json!({"role": "tool", "tool_call_id": id, "content": content}),
        attachments,
    ))
}

/// One hub assistant message in the making: at most one thinking block, then text and calls.
#[derive(Default)]
struct Segment {
    reasoning: Option<String>,
    signature: Option<String>,
    redacted: Option<String>,
    texts: Vec<Value>,
    tool_calls: Vec<Value>,
}

impl Segment {
    fn is_empty(&self) -> bool {
        self.reasoning.is_none()
            && self.redacted.is_none()
            && self.texts.is_empty()
            && self.tool_calls.is_empty()
    }

    fn flush(&mut self, out: &mut Vec<Value>) {
        let seg = std::mem::take(self);
        if seg.is_empty() {
            return;
        }
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        let keep_parts = seg.texts.iter().any(|p| p.get("cache_control").is_some());
        let content = if keep_parts {
            Value::Array(seg.texts)
        } else if seg.texts.is_empty() && !seg.tool_calls.is_empty() {
            Value::Null
        } else {
            Value::String(
                seg.texts
                    .iter()
                    .filter_map(|p| str_of(p, "text"))
                    .collect::<String>(),
            )
        };
        msg.insert("content".into(), content);
        if let Some(r) = seg.reasoning {
            msg.insert("reasoning_content".into(), Value::String(r));
        }
        if let Some(s) = seg.signature {
            msg.insert("reasoning_signature".into(), Value::String(s));
        }
        if let Some(d) = seg.redacted {
            msg.insert("redacted_reasoning".into(), Value::String(d));
        }
        if !seg.tool_calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(seg.tool_calls));
        }
        out.push(Value::Object(msg));
    }
}

fn assistant_to_hub(
    content: &Value,
    path: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let Some(blocks) = content_blocks(content, "assistant", path, out)? else {
        return Ok(());
    };
    let mut seg = Segment::default();
    for (j, b) in blocks.iter().enumerate() {
        let p = format!("{path}[{j}]");
        match block_type(b, &p)? {
            "thinking" => {
                seg.flush_if_nonempty(out);
                seg.reasoning = Some(required_str(b, "thinking", &p)?.to_owned());
                seg.signature = str_of(b, "signature")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
            }
            "redacted_thinking" => {
                seg.flush_if_nonempty(out);
                seg.redacted = Some(required_str(b, "data", &p)?.to_owned());
            }
            "text" => seg.texts.push(text_part(required_str(b, "text", &p)?, b)),
            "tool_use" => {
                let id = required_str(b, "id", &p)?;
                let name = required_str(b, "name", &p)?;
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                seg.tool_calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            // Server-side tool traffic (web search, code execution, MCP connector, ...) has no
            // hub form and only matters to the Anthropic server that ran it.
            "server_tool_use"
            | "web_search_tool_result"
            | "web_fetch_tool_result"
            | "code_execution_tool_result"
            | "bash_code_execution_tool_result"
            | "text_editor_code_execution_tool_result"
            | "tool_search_tool_result"
            | "mcp_tool_use"
            | "mcp_tool_result"
            | "container_upload" => {}
            t @ ("tool_result" | "image" | "document") => {
                return Err(TranslateError::invalid(format!(
                    "{p}.type: `{t}` blocks are not allowed in assistant messages"
                )));
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "{p}.type: unsupported content block type `{other}`"
                )));
            }
        }
    }
    seg.flush(out);
    Ok(())
}

impl Segment {
    fn flush_if_nonempty(&mut self, out: &mut Vec<Value>) {
        if !self.is_empty() {
            self.flush(out);
        }
    }
}

fn bash_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The bash command to run."},
            "restart": {"type": "boolean", "description": "Restart the bash session."}
        }
    })
}

fn text_editor_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {"type": "string"},
            "file_text": {"type": "string"},
            "old_str": {"type": "string"},
            "new_str": {"type": "string"},
            "insert_line": {"type": "integer"},
            "insert_text": {"type": "string"},
            "view_range": {"type": "array", "items": {"type": "integer"}}
        },
        "required": ["command", "path"]
    })
}

/// Client tools become hub function tools. Anthropic's versioned client tools with a fixed
/// schema (bash, text editor) become functions with that schema; server tools (web search,
/// web fetch, code execution) travel as hub `hosted` tools (`crate::hosted`); others (tool
/// search, memory, ...) are left out.
fn tools_to_hub(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let Value::Array(tools) = tools else {
        return Err(TranslateError::invalid("tools: must be an array"));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        if !t.is_object() {
            return Err(TranslateError::invalid(format!(
                "{path}: must be an object"
            )));
        }
        let (name, description, parameters) = match str_of(t, "type") {
            None | Some("custom") => {
                let name = required_str(t, "name", &path)?;
                let schema = match t.get("input_schema") {
                    Some(s @ Value::Object(_)) => s.clone(),
                    None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
                    Some(_) => {
                        return Err(TranslateError::invalid(format!("{path}.input_schema: must be an object")));
                    }
                };
                (name, str_of(t, "description").map(str::to_owned), schema)
            }
            Some(ty) if ty.starts_with("bash_") => (
                str_of(t, "name").unwrap_or("bash"),
                Some("Run a command in a persistent bash shell session.".to_owned()),
                bash_schema(),
            ),
            Some(ty) if ty.starts_with("text_editor_") => (
                str_of(t, "name").unwrap_or("str_replace_based_edit_tool"),
                Some(
                    "View, create and edit text files. Commands: view, create, str_replace, insert, undo_edit."
                        .to_owned(),
                ),
                text_editor_schema(),
            ),
            Some(_) => {
                if let Some(hosted) = crate::hosted::to_hub(Format::Claude, t) {
                    out.push(hosted);
                }
                continue;
            }
        };
        if name.is_empty() {
            return Err(TranslateError::invalid(format!(
                "{path}.name: must not be empty"
            )));
        }
        let mut function = Map::new();
        function.insert("name".into(), json!(name));
        if let Some(d) = description {
            function.insert("description".into(), Value::String(d));
        }
        function.insert("parameters".into(), parameters);
        if t.get("strict").and_then(Value::as_bool) == Some(true) {
            function.insert("strict".into(), Value::Bool(true));
        }
        let mut tool = Map::new();
        tool.insert("type".into(), json!("function"));
        tool.insert("function".into(), Value::Object(function));
        copy_cache_control(t, &mut tool);
        out.push(Value::Object(tool));
    }
    Ok(out)
}

fn tool_choice_to_hub(tc: &Value) -> Result<(Value, Option<bool>), TranslateError> {
    if !tc.is_object() {
        return Err(TranslateError::invalid("tool_choice: must be an object"));
    }
    let choice = match str_of(tc, "type") {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = required_str(tc, "name", "tool_choice")?;
            json!({"type": "function", "function": {"name": name}})
        }
        Some(other) => {
            return Err(TranslateError::invalid(format!(
                "tool_choice.type: unsupported value `{other}` (expected auto, any, tool or none)"
            )));
        }
        None => return Err(TranslateError::invalid("tool_choice.type: required")),
    };
    let parallel = match tc.get("disable_parallel_tool_use") {
        Some(Value::Bool(true)) => Some(false),
        _ => None,
    };
    Ok((choice, parallel))
}

fn reasoning_effort_to_hub(
    thinking: Option<&Value>,
    output_config: Option<&Value>,
) -> Result<Option<&'static str>, TranslateError> {
    let effort = match output_config.and_then(|o| o.get("effort")) {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) => Some(claude_effort_to_hub(e).ok_or_else(|| {
            TranslateError::invalid(format!(
                "output_config.effort: unsupported value `{e}` (expected low, medium, high or max)"
            ))
        })?),
        Some(_) => {
            return Err(TranslateError::invalid(
                "output_config.effort: must be a string",
            ));
        }
    };
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(effort);
    };
    match str_of(thinking, "type") {
        Some("enabled") => {
            let budget = u64_of(thinking, "budget_tokens").unwrap_or(MIN_THINKING_BUDGET);
            Ok(Some(budget_to_effort(budget)))
        }
        // Anthropic's default effort is high.
        Some("adaptive") => Ok(Some(effort.unwrap_or("high"))),
        Some("disabled") => Ok(None),
        Some(other) => Err(TranslateError::invalid(format!(
            "thinking.type: unsupported value `{other}` (expected enabled, adaptive or disabled)"
        ))),
        None => Err(TranslateError::invalid("thinking.type: required")),
    }
}

fn output_format_to_hub(format: &Value) -> Result<Value, TranslateError> {
    match str_of(format, "type") {
        Some("json_schema") => {
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    TranslateError::invalid("output_format.schema: required, must be an object")
                })?;
            Ok(json!({
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": true},
            }))
        }
        Some(other) => Err(TranslateError::invalid(format!(
            "output_format.type: unsupported value `{other}` (expected json_schema)"
        ))),
        None => Err(TranslateError::invalid("output_format.type: required")),
    }
}

// ------------------------------------------------------------------------------------------
// hub -> Claude
// ------------------------------------------------------------------------------------------

/// One Anthropic turn being assembled; consecutive hub messages of the same role merge into it.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

pub(super) fn hub_request_to_claude(
    body: Value,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let Value::Object(req) = body else {
        return Err(TranslateError::invalid(
            "request body must be a JSON object",
        ));
    };
    let model = if ctx.model.is_empty() {
        str_of_map(&req, "model")
            .ok_or_else(|| TranslateError::invalid("model: required, must be a string"))?
            .to_owned()
    } else {
        ctx.model.clone()
    };

    if req.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(TranslateError::invalid(
            "n: this provider returns one choice per request; n must be 1",
        ));
    }

    let tools = match req.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(t) => hub_tools_to_claude(t, ctx)?,
    };
    let (mut system, turns) = hub_messages_to_claude(&req, !tools.is_empty(), ctx)?;

    let mut out = Map::new();
    out.insert("model".into(), Value::String(model.clone()));
    // Tool choice first: forcing a tool rules out thinking.
    let forced_tool = insert_tools_to_claude(&mut out, &req, tools, ctx)?;

    let effort = reasoning_effort(&req)?;
    let explicit_max = u64_of_map(&req, "max_completion_tokens").or(u64_of_map(&req, "max_tokens"));
    let mut output_config = Map::new();
    let thinking_on = match effort {
        Some(effort) if !forced_tool && !last_tool_turn_lacks_thinking(&turns) => {
            insert_thinking(&mut out, &mut output_config, &model, effort, explicit_max)
        }
        _ => false,
    };
    let max_tokens = explicit_max.unwrap_or(if thinking_on {
        DEFAULT_MAX_TOKENS_THINKING
    } else {
        DEFAULT_MAX_TOKENS
    });
    out.insert("max_tokens".into(), json!(max_tokens));

    insert_sampling_to_claude(&mut out, &req, thinking_on);
    let stop = stop_sequences(&req);
    if !stop.is_empty() {
        out.insert("stop_sequences".into(), Value::Array(stop));
    }
    apply_response_format(&req, &mut output_config, &mut system)?;
    if !output_config.is_empty() {
        out.insert("output_config".into(), Value::Object(output_config));
    }
    if !system.is_empty() {
        out.insert("system".into(), system_value(system));
    }

    out.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|t| json!({"role": t.role, "content": t.blocks}))
                .collect(),
        ),
    );

    if let Some(user) = str_of_map(&req, "user").filter(|u| !u.is_empty()) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
    }
    let mut out = Value::Object(out);
    crate::provenance::thinking_off_without_signed_turn(&mut out);
    Ok(out)
}

/// Hub `messages` -> the Anthropic system blocks and the alternating user/assistant turns.
/// Without tools, tool calls and results in the history become text.
fn hub_messages_to_claude(
    req: &Map<String, Value>,
    has_tools: bool,
    ctx: &mut TranslateCtx,
) -> Result<(Vec<Value>, Vec<Turn>), TranslateError> {
    let Some(Value::Array(hub_messages)) = req.get("messages") else {
        return Err(TranslateError::invalid(
            "messages: required, must be an array of messages",
        ));
    };
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in hub_messages.iter().enumerate() {
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
            "system" | "developer" => system.extend(hub_system_blocks(content, &path)?),
            "user" => push_turn(&mut turns, "user", hub_user_blocks(content, &path)?),
            "assistant" => push_turn(
                &mut turns,
                "assistant",
                hub_assistant_blocks(m, &format!("messages[{i}]"), ctx)?,
            ),
            "tool" => push_turn(
                &mut turns,
                "user",
                vec![hub_tool_result(m, &format!("messages[{i}]"))?],
            ),
            "function" => {
                return Err(TranslateError::invalid(format!(
                    "messages[{i}].role: legacy `function` messages are not supported; use `tool` messages"
                )));
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "messages[{i}].role: unsupported role `{other}`"
                )));
            }
        }
    }
    for turn in &mut turns {
        if turn.role == "user" {
            // Anthropic wants a turn's tool results before anything else in it.
            let (mut results, rest): (Vec<Value>, Vec<Value>) = std::mem::take(&mut turn.blocks)
                .into_iter()
                .partition(|b| str_of(b, "type") == Some("tool_result"));
            results.extend(rest);
            turn.blocks = results;
        }
    }
    trim_final_assistant(&mut turns);
    if !has_tools {
        tool_blocks_to_text(&mut turns);
    }
    if turns.is_empty() {
        return Err(TranslateError::invalid(
            "messages: at least one user or assistant message with content is required",
        ));
    }
    Ok((system, turns))
}

/// Inserts `tools` and the matching `tool_choice`; returns whether a tool is forced.
fn insert_tools_to_claude(
    out: &mut Map<String, Value>,
    req: &Map<String, Value>,
    tools: Vec<Value>,
    ctx: &mut TranslateCtx,
) -> Result<bool, TranslateError> {
    if tools.is_empty() {
        return Ok(false);
    }
    let mut forced_tool = false;
    let parallel = req.get("parallel_tool_calls").and_then(Value::as_bool);
    if let Some(mut choice) = hub_tool_choice(req.get("tool_choice"), ctx)? {
        forced_tool = matches!(str_of(&choice, "type"), Some("any" | "tool"));
        if parallel == Some(false)
            && let Some(obj) = choice.as_object_mut()
            && obj.get("type").and_then(Value::as_str) != Some("none")
        {
            obj.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
        out.insert("tool_choice".into(), choice);
    } else if parallel == Some(false) {
        out.insert(
            "tool_choice".into(),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        );
    }
    out.insert("tools".into(), Value::Array(tools));
    Ok(forced_tool)
}

/// The hub `reasoning_effort`, checked; `none` and absent are `None`.
fn reasoning_effort(req: &Map<String, Value>) -> Result<Option<&str>, TranslateError> {
    match req.get("reasoning_effort") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(e)) => match e.as_str() {
            "none" => Ok(None),
            "minimal" | "low" | "medium" | "high" | "xhigh" | "max" => Ok(Some(e.as_str())),
            other => Err(TranslateError::invalid(format!(
                "reasoning_effort: unsupported value `{other}` (expected none, minimal, low, medium, high or xhigh)"
            ))),
        },
        Some(_) => Err(TranslateError::invalid(
            "reasoning_effort: must be a string",
        )),
    }
}

/// Turns thinking on the way `model` takes it (adaptive with an effort, or a token budget
/// below `max_tokens`); returns whether it is on.
fn insert_thinking(
    out: &mut Map<String, Value>,
    output_config: &mut Map<String, Value>,
    model: &str,
    effort: &str,
    explicit_max: Option<u64>,
) -> bool {
    match thinking_mode(model) {
        ThinkingMode::Adaptive => {
            out.insert("thinking".into(), json!({"type": "adaptive"}));
            output_config.insert("effort".into(), json!(effort_to_claude(effort)));
            true
        }
        ThinkingMode::Budget => {
            let max = explicit_max.unwrap_or(DEFAULT_MAX_TOKENS_THINKING);
            // budget_tokens must be at least 1024 and below max_tokens.
            if max > MIN_THINKING_BUDGET {
                let budget = effort_to_budget(effort).min(max - 1);
                out.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
                true
            } else {
                false
            }
        }
        ThinkingMode::Unsupported => false,
    }
}

/// Sampling: Anthropic's temperature range is 0..=1; with thinking on only the defaults are
/// allowed (top_p >= 0.95), and recent models refuse temperature and top_p together.
fn insert_sampling_to_claude(
    out: &mut Map<String, Value>,
    req: &Map<String, Value>,
    thinking_on: bool,
) {
    let temperature = req.get("temperature").and_then(Value::as_f64);
    let top_p = req.get("top_p").and_then(Value::as_f64);
    if !thinking_on && let Some(t) = temperature {
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = top_p
        && ((thinking_on && p >= 0.95) || (!thinking_on && temperature.is_none()))
    {
        out.insert("top_p".into(), json!(p.clamp(0.0, 1.0)));
    }
}

/// Hub `stop` (a string or an array) -> `stop_sequences`, without the whitespace-only ones
/// Anthropic refuses.
fn stop_sequences(req: &Map<String, Value>) -> Vec<Value> {
    let stop: Vec<Value> = match req.get("stop") {
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| Value::String(s.to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    stop.into_iter()
        .filter(|s| s.as_str().is_some_and(|s| !s.trim().is_empty()))
        .collect()
}

/// Hub `response_format`: a JSON schema goes in `output_config.format`; JSON-object mode has
/// no Anthropic switch and becomes a system instruction.
fn apply_response_format(
    req: &Map<String, Value>,
    output_config: &mut Map<String, Value>,
    system: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let Some(rf) = req.get("response_format").filter(|rf| !rf.is_null()) else {
        return Ok(());
    };
    match str_of(rf, "type") {
        Some("json_schema") => {
            let schema = rf
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    TranslateError::invalid(
                        "response_format.json_schema.schema: required, must be an object",
                    )
                })?;
            output_config.insert(
                "format".into(),
                json!({"type": "json_schema", "schema": schema}),
            );
        }
        Some("json_object") => system.push(json!({
            "type": "text",
            "text": "Respond with a single valid JSON object and nothing else.",
        })),
        Some("text") | None => {}
        Some(other) => {
            return Err(TranslateError::invalid(format!(
                "response_format.type: unsupported value `{other}`"
            )));
        }
    }
    Ok(())
}

/// The `system` field: a plain string when it is one text block without cache control,
/// else the blocks.
fn system_value(system: Vec<Value>) -> Value {
    let plain = system.len() == 1
        && system
            .first()
            .is_some_and(|b| b.get("cache_control").is_none());
    match system.first().and_then(|b| str_of(b, "text")) {
        Some(text) if plain => Value::String(text.to_owned()),
        _ => Value::Array(system),
    }
}

fn str_of_map<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn u64_of_map(m: &Map<String, Value>, key: &str) -> Option<u64> {
    m.get(key).and_then(Value::as_u64)
}

fn push_turn(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.blocks.extend(blocks),
        _ => turns.push(Turn { role, blocks }),
    }
}

fn is_valid_claude_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn sanitize_claude_name(name: &str, max: usize) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix = format!("_{:08x}", fnv1a(name.as_bytes()) & 0xffff_ffff);
    if clean.is_empty() || clean.len() + suffix.len() > max {
        clean.truncate(max.saturating_sub(suffix.len()));
    }
    clean.push_str(&suffix);
    clean
}

/// The name a tool goes upstream under: Anthropic requires `^[a-zA-Z0-9_-]{1,128}$`. Renames
/// are recorded so the response side restores the client's exact name.
fn claude_tool_name(name: &str, ctx: &mut TranslateCtx) -> String {
    let mapped = ctx.tool_names.provider_name(name);
    if mapped != name || is_valid_claude_name(name, 128) {
        return mapped.to_owned();
    }
    let clean = sanitize_claude_name(name, 128);
    ctx.tool_names.insert(name, &clean);
    clean
}

/// Anthropic tool-use ids must match `^[a-zA-Z0-9_-]+$`; ids minted by other providers may not.
/// The rewrite is deterministic, so a `tool_use` and its `tool_result` keep matching.
fn claude_tool_id(id: &str) -> String {
    if is_valid_claude_name(id, usize::MAX) {
        id.to_owned()
    } else {
        sanitize_claude_name(id, usize::MAX)
    }
}

fn hub_tools_to_claude(
    tools: &Value,
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let Value::Array(tools) = tools else {
        return Err(TranslateError::invalid("tools: must be an array"));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        match str_of(t, "type") {
            Some("function") | None => {}
            Some(other) => {
                return Err(TranslateError::invalid(format!(
                    "{path}.type: `{other}` tools cannot be sent to this provider; only function tools are supported"
                )));
            }
        }
        let f = t.get("function").filter(|f| f.is_object()).ok_or_else(|| {
            TranslateError::invalid(format!("{path}.function: required, must be an object"))
        })?;
        let name = required_str(f, "name", &format!("{path}.function"))?;
        let mut schema = match f.get("parameters") {
            Some(s @ Value::Object(_)) => s.clone(),
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(_) => {
                return Err(TranslateError::invalid(format!(
                    "{path}.function.parameters: must be an object"
                )));
            }
        };
        if let Some(obj) = schema.as_object_mut()
            && !obj.contains_key("type")
        {
            obj.insert("type".into(), json!("object"));
        }
        let mut tool = Map::new();
        tool.insert("name".into(), Value::String(claude_tool_name(name, ctx)));
        if let Some(d) = str_of(f, "description").filter(|d| !d.is_empty()) {
            tool.insert("description".into(), json!(d));
        }
        tool.insert("input_schema".into(), schema);
        copy_cache_control(t, &mut tool);
        out.push(Value::Object(tool));
    }
    Ok(out)
}

fn hub_tool_choice(
    choice: Option<&Value>,
    ctx: &mut TranslateCtx,
) -> Result<Option<Value>, TranslateError> {
    match choice {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Some(json!({"type": "auto"}))),
            "required" => Ok(Some(json!({"type": "any"}))),
            "none" => Ok(Some(json!({"type": "none"}))),
            other => Err(TranslateError::invalid(format!(
                "tool_choice: unsupported value `{other}` (expected auto, required or none)"
            ))),
        },
        Some(obj @ Value::Object(_)) => {
            let name = obj
                .get("function")
                .and_then(|f| str_of(f, "name"))
                .ok_or_else(|| TranslateError::invalid("tool_choice.function.name: required"))?;
            Ok(Some(
                json!({"type": "tool", "name": claude_tool_name(name, ctx)}),
            ))
        }
        Some(_) => Err(TranslateError::invalid(
            "tool_choice: must be a string or an object",
        )),
    }
}

fn claude_text_block(text: &str, part: &Value) -> Option<Value> {
    // Anthropic refuses empty and whitespace-only text blocks.
    if text.trim().is_empty() {
        return None;
    }
    let mut block = Map::new();
    block.insert("type".into(), json!("text"));
    block.insert("text".into(), json!(text));
    copy_cache_control(part, &mut block);
    Some(Value::Object(block))
}

fn hub_system_blocks(content: &Value, path: &str) -> Result<Vec<Value>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(claude_text_block(s, &Value::Null).into_iter().collect()),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let pp = format!("{path}[{j}]");
                match str_of(p, "type") {
                    Some("text") => out.extend(claude_text_block(required_str(p, "text", &pp)?, p)),
                    _ => {
                        return Err(TranslateError::invalid(format!(
                            "{pp}: system and developer messages may only contain text"
                        )));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(TranslateError::invalid(format!(
            "{path}: must be a string or an array of content parts"
        ))),
    }
}

/// `data:<media>;base64,<data>` -> (media, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((media, data))
}

fn hub_image_block(part: &Value, path: &str) -> Result<Value, TranslateError> {
    let url = match part.get("image_url") {
        Some(Value::String(u)) => u.as_str(),
        Some(obj @ Value::Object(_)) => required_str(obj, "url", &format!("{path}.image_url"))?,
        _ => {
            return Err(TranslateError::invalid(format!(
                "{path}.image_url: required"
            )));
        }
    };
    let source = if let Some((media, data)) = parse_data_url(url) {
        json!({"type": "base64", "media_type": media, "data": data})
    } else if url.starts_with("https://") || url.starts_with("http://") {
        json!({"type": "url", "url": url})
    } else {
        return Err(TranslateError::invalid(format!(
            "{path}.image_url.url: must be a base64 data URL or an http(s) URL"
        )));
    };
    let mut block = Map::new();
    block.insert("type".into(), json!("image"));
    block.insert("source".into(), source);
    copy_cache_control(part, &mut block);
    Ok(Value::Object(block))
}

fn hub_file_block(part: &Value, path: &str) -> Result<Value, TranslateError> {
    let file = part.get("file").filter(|f| f.is_object()).ok_or_else(|| {
        TranslateError::invalid(format!("{path}.file: required, must be an object"))
    })?;
    let Some(data_url) = str_of(file, "file_data") else {
        return Err(TranslateError::invalid(format!(
            "{path}.file: only inline `file_data` can be sent to this provider, not file ids"
        )));
    };
    let (media, data) = parse_data_url(data_url).ok_or_else(|| {
        TranslateError::invalid(format!(
            "{path}.file.file_data: must be a base64 data URL (data:<type>;base64,...)"
        ))
    })?;
    let mut block = Map::new();
    if media.starts_with("image/") {
        block.insert("type".into(), json!("image"));
    } else if media == "application/pdf" {
        block.insert("type".into(), json!("document"));
        if let Some(name) = str_of(file, "filename").filter(|n| !n.is_empty()) {
            block.insert("title".into(), json!(name));
        }
    } else {
        return Err(TranslateError::invalid(format!(
            "{path}.file: `{media}` files cannot be sent to this provider (PDF and images only)"
        )));
    }
    block.insert(
        "source".into(),
        json!({"type": "base64", "media_type": media, "data": data}),
    );
    copy_cache_control(part, &mut block);
    Ok(Value::Object(block))
}

fn hub_user_blocks(content: &Value, path: &str) -> Result<Vec<Value>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(claude_text_block(s, &Value::Null).into_iter().collect()),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let pp = format!("{path}[{j}]");
                match str_of(p, "type") {
                    Some("text") => out.extend(claude_text_block(required_str(p, "text", &pp)?, p)),
                    Some("refusal") => {
                        out.extend(claude_text_block(required_str(p, "refusal", &pp)?, p));
                    }
                    Some("image_url") => out.push(hub_image_block(p, &pp)?),
                    Some("file") => out.push(hub_file_block(p, &pp)?),
                    Some(other) => {
                        return Err(TranslateError::invalid(format!(
                            "{pp}.type: `{other}` content cannot be sent to this provider"
                        )));
                    }
                    None => return Err(TranslateError::invalid(format!("{pp}.type: required"))),
                }
            }
            Ok(out)
        }
        _ => Err(TranslateError::invalid(format!(
            "{path}: must be a string or an array of content parts"
        ))),
    }
}

fn hub_assistant_blocks(
    m: &Value,
    path: &str,
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    // Only a signed thinking block can be replayed; unsigned reasoning (from another provider)
    // would be refused, so it is left out.
    let own = str_of(m, "reasoning_signature")
        .filter(|s| !s.is_empty())
        .and_then(|s| crate::provenance::for_provider(s, ctx.client, ctx.provider));
    if let Some(sig) = own {
        let text = str_of(m, "reasoning_content")
            .or_else(|| str_of(m, "reasoning"))
            .unwrap_or("");
        out.push(json!({"type": "thinking", "thinking": text, "signature": sig}));
    }
    if let Some(data) = str_of(m, "redacted_reasoning").filter(|d| !d.is_empty()) {
        out.push(json!({"type": "redacted_thinking", "data": data}));
    }
    let content = m.get("content").unwrap_or(&Value::Null);
    out.extend(hub_assistant_text_blocks(
        content,
        &format!("{path}.content"),
    )?);
    match m.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (k, call) in calls.iter().enumerate() {
                let cp = format!("{path}.tool_calls[{k}]");
                match str_of(call, "type") {
                    Some("function") | None => {}
                    Some(other) => {
                        return Err(TranslateError::invalid(format!(
                            "{cp}.type: `{other}` tool calls cannot be sent to this provider"
                        )));
                    }
                }
                let id = required_str(call, "id", &cp)?;
                let f = call
                    .get("function")
                    .ok_or_else(|| TranslateError::invalid(format!("{cp}.function: required")))?;
                let name = required_str(f, "name", &format!("{cp}.function"))?;
                out.push(json!({
                    "type": "tool_use",
                    "id": claude_tool_id(id),
                    "name": claude_tool_name(name, ctx),
                    "input": arguments_to_input(f.get("arguments")),
                }));
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(format!(
                "{path}.tool_calls: must be an array"
            )));
        }
    }
    Ok(out)
}

/// Assistant content: text and refusal parts only.
fn hub_assistant_text_blocks(content: &Value, path: &str) -> Result<Vec<Value>, TranslateError> {
    match content {
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let pp = format!("{path}[{j}]");
                match str_of(p, "type") {
                    Some("text") => out.extend(claude_text_block(required_str(p, "text", &pp)?, p)),
                    Some("refusal") => {
                        out.extend(claude_text_block(required_str(p, "refusal", &pp)?, p));
                    }
                    _ => {
                        return Err(TranslateError::invalid(format!(
                            "{pp}: assistant content may only contain text"
                        )));
                    }
                }
            }
            Ok(out)
        }
        other => hub_user_blocks(other, path),
    }
}

fn hub_tool_result(m: &Value, path: &str) -> Result<Value, TranslateError> {
    let id = required_str(m, "tool_call_id", path)?;
    let mut block = Map::new();
    block.insert("type".into(), json!("tool_result"));
    block.insert("tool_use_id".into(), json!(claude_tool_id(id)));
    match m.get("content").unwrap_or(&Value::Null) {
        Value::Null => {}
        Value::String(s) => {
            if !s.is_empty() {
                block.insert("content".into(), json!(s));
            }
        }
        Value::Array(parts) => {
            let mut inner = Vec::with_capacity(parts.len());
            let mut all_text = true;
            for (j, p) in parts.iter().enumerate() {
                let pp = format!("{path}.content[{j}]");
                if let Some(cc) = p.get("cache_control").filter(|c| !c.is_null()) {
                    block.insert("cache_control".into(), cc.clone());
                }
                match str_of(p, "type") {
                    Some("text") => {
                        let text = required_str(p, "text", &pp)?;
                        if !text.is_empty() {
                            inner.push(json!({"type": "text", "text": text}));
                        }
                    }
                    Some("image_url") => {
                        all_text = false;
                        let mut img = hub_image_block(p, &pp)?;
                        if let Some(obj) = img.as_object_mut() {
                            obj.remove("cache_control");
                        }
                        inner.push(img);
                    }
                    _ => {
                        return Err(TranslateError::invalid(format!(
                            "{pp}: tool results may only contain text and images"
                        )));
                    }
                }
            }
            if all_text {
                let text: Vec<&str> = inner.iter().filter_map(|b| str_of(b, "text")).collect();
                if !text.is_empty() {
                    block.insert("content".into(), json!(text.join("\n")));
                }
            } else {
                block.insert("content".into(), Value::Array(inner));
            }
        }
        _ => {
            return Err(TranslateError::invalid(format!(
                "{path}.content: must be a string or an array of content parts"
            )));
        }
    }
    Ok(Value::Object(block))
}

/// Anthropic refuses a final assistant (prefill) turn that ends in whitespace.
fn trim_final_assistant(turns: &mut Vec<Turn>) {
    let Some(last) = turns.last_mut() else { return };
    if last.role != "assistant" {
        return;
    }
    if let Some(block) = last.blocks.last_mut()
        && str_of(block, "type") == Some("text")
        && let Some(Value::String(text)) = block.get_mut("text")
    {
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
    }
    last.blocks.retain(|b| {
        str_of(b, "type") != Some("text") || str_of(b, "text").is_some_and(|t| !t.is_empty())
    });
    if last.blocks.is_empty() {
        turns.pop();
    }
}

/// Anthropic refuses `tool_use` / `tool_result` blocks in a request that defines no tools (an
/// OpenAI client may drop its tools on a final turn); such history is replayed as text.
fn tool_blocks_to_text(turns: &mut [Turn]) {
    for turn in turns {
        for block in &mut turn.blocks {
            let text = match str_of(block, "type") {
                Some("tool_use") => format!(
                    "[called tool `{}` with input {}]",
                    str_of(block, "name").unwrap_or(""),
                    block.get("input").cloned().unwrap_or(Value::Null)
                ),
                Some("tool_result") => {
                    let content = match block.get("content") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Array(items)) => items
                            .iter()
                            .filter_map(|b| str_of(b, "text"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                        _ => String::new(),
                    };
                    format!(
                        "[result of tool call {}]\n{content}",
                        str_of(block, "tool_use_id").unwrap_or("")
                    )
                }
                _ => continue,
            };
            *block = json!({"type": "text", "text": text});
        }
    }
}

/// With thinking on, Anthropic requires the assistant turn whose tool calls are being answered
/// to start with a thinking block. History from elsewhere (or an unsigned replay) has none, and
/// then thinking must stay off for this request.
fn last_tool_turn_lacks_thinking(turns: &[Turn]) -> bool {
    let mut iter = turns.iter().rev();
    let Some(last) = iter.next() else {
        return false;
    };
    if last.role != "user"
        || !last
            .blocks
            .iter()
            .any(|b| str_of(b, "type") == Some("tool_result"))
    {
        return false;
    }
    let Some(assistant) = iter.next().filter(|t| t.role == "assistant") else {
        return false;
    };
    !assistant
        .blocks
        .first()
        .is_some_and(|b| matches!(str_of(b, "type"), Some("thinking" | "redacted_thinking")))
}
