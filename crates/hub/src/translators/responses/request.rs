//! Requests: Responses -> hub (a client such as Codex) and hub -> Responses (a provider).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{
    REDACTED_PREFIX, custom_args, flat_name, mark_custom, mark_namespace, parse_provider_signature,
};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;

/// History items of hosted tools the hub cannot express; they are left out.
const DROPPED_ITEMS: &[&str] = &[
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "tool_search_call",
    "tool_search_output",
];

// ---------------------------------------------------------------------------------------------
// Responses -> hub
// ---------------------------------------------------------------------------------------------

pub(super) fn responses_to_hub(
    body: Value,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let Value::Object(req) = body else {
        return Err(TranslateError::invalid(
            "the request body must be a JSON object",
        ));
    };
    for key in ["previous_response_id", "conversation"] {
        if req.get(key).is_some_and(|v| !v.is_null()) {
            return Err(TranslateError::invalid(format!(
                "`{key}` is not supported: this proxy stores no responses; send the whole \
                 conversation in `input`"
            )));
        }
    }
    if req.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(TranslateError::invalid(
            "`background` responses are not supported by this proxy",
        ));
    }

    let mut out = Map::new();
    if let Some(model) = req.get("model").filter(|m| m.is_string()) {
        out.insert("model".into(), model.clone());
    }

    let mut tools = Tools::default();
    if let Some(list) = req.get("tools").filter(|t| !t.is_null()) {
        let list = list
            .as_array()
            .ok_or_else(|| TranslateError::invalid("`tools` must be an array"))?;
        tools.add_all(list, "tools", ctx)?;
    }

    let messages = messages_to_hub(&req, &mut tools, ctx)?;
    out.insert("messages".into(), Value::Array(messages));

    let has_tools = !tools.list.is_empty();
    if has_tools {
        out.insert("tools".into(), Value::Array(tools.list));
        if ctx.compaction {
            // The summary is the answer: the tools stay (the prompt keeps its cache) but
            // none is called.
            out.insert("tool_choice".into(), "none".into());
        } else if let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null())
            && let Some(choice) = tool_choice_to_hub(choice)?
        {
            out.insert("tool_choice".into(), choice);
        }
        if let Some(p) = req.get("parallel_tool_calls").filter(|p| p.is_boolean()) {
            out.insert("parallel_tool_calls".into(), p.clone());
        }
    }

    insert_options_to_hub(&mut out, &req, ctx)?;
    Ok(Value::Object(out))
}

/// `instructions` (a string, or input items) and `input` -> the hub messages, which must not
/// be empty.
fn messages_to_hub(
    req: &Map<String, Value>,
    tools: &mut Tools,
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let mut conv = Conversation::default();
    match req.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if !s.is_empty() {
                conv.push(json!({ "role": "system", "content": s }));
            }
        }
        Some(Value::Array(items)) => conv.items(items, "instructions", tools, ctx)?,
        Some(_) => return Err(TranslateError::invalid("`instructions` must be a string")),
    }
    match req.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => conv.push(json!({ "role": "user", "content": s })),
        Some(Value::Array(items)) => conv.items(items, "input", tools, ctx)?,
        Some(_) => {
            return Err(TranslateError::invalid(
                "`input` must be a string or an array of input items",
            ));
        }
    }
    let messages = conv.finish();
    if messages.is_empty() {
        return Err(TranslateError::invalid(
            "`input` is empty: there is nothing to send to the model",
        ));
    }
    Ok(messages)
}

/// Reasoning effort, token limit, sampling, text format, cache key and streaming (a stream
/// always asks for usage: a Responses client gets it in `response.completed`).
fn insert_options_to_hub(
    out: &mut Map<String, Value>,
    req: &Map<String, Value>,
    ctx: &mut TranslateCtx,
) -> Result<(), TranslateError> {
    if let Some(effort) = req
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
    {
        out.insert("reasoning_effort".into(), effort.into());
    }
    if let Some(max) = req.get("max_output_tokens").and_then(Value::as_u64) {
        out.insert("max_tokens".into(), max.into());
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = req.get(key).filter(|v| v.is_number()) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(format) = req.get("text").and_then(|t| t.get("format"))
        && let Some(rf) = text_format_to_hub(format)?
    {
        out.insert("response_format".into(), rf);
    }
    if let Some(key) = req.get("prompt_cache_key").filter(|k| k.is_string()) {
        out.insert("prompt_cache_key".into(), key.clone());
    }
    // Chat completions and the Responses API take the same tiers (`auto`, `default`,
    // `flex`, `priority`); executors whose backend refuses the field remove it.
    if let Some(tier) = req.get("service_tier").filter(|t| t.is_string()) {
        out.insert("service_tier".into(), tier.clone());
    }
    // The proxy stores nothing, so `store` does not matter: asking for encrypted reasoning
    // is what a client that replays its own history does.
    ctx.carry_reasoning = req
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|inc| inc.iter().any(|i| i == "reasoning.encrypted_content"));
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    out.insert("stream".into(), stream.into());
    if stream {
        // A Responses client always gets usage in `response.completed`.
        out.insert("stream_options".into(), json!({ "include_usage": true }));
        ctx.client_wants_usage = true;
    }
    Ok(())
}

/// Function tools for the hub, from Responses `tools` (and `additional_tools` items).
#[derive(Default)]
struct Tools {
    list: Vec<Value>,
    seen: Vec<String>,
}

impl Tools {
    fn add_all(
        &mut self,
        list: &[Value],
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        for (i, tool) in list.iter().enumerate() {
            let at = format!("{at}[{i}]");
            let Some(ty) = tool.get("type").and_then(Value::as_str) else {
                return Err(TranslateError::invalid(format!(
                    "{at}: a tool needs a `type`"
                )));
            };
            match ty {
                "function" => self.function(tool, None, &at, ctx)?,
                "custom" => self.custom(tool, &at, ctx)?,
                "namespace" => {
                    let ns = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
                        TranslateError::invalid(format!("{at}: a namespace tool needs a `name`"))
                    })?;
                    let inner = tool
                        .get("tools")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    for (j, t) in inner.iter().enumerate() {
                        let at = format!("{at}.tools[{j}]");
                        match t.get("type").and_then(Value::as_str) {
                            Some("function") => self.function(t, Some(ns), &at, ctx)?,
                            Some("custom") => self.custom(t, &at, ctx)?,
                            _ => {}
                        }
                    }
                }
                // Hosted tools the proxy can route (web search, file search, code
                // interpreter, image generation) travel as hub `hosted` tools; the rest
                // (tool_search, mcp, ...) have no hub form.
                _ => {
                    if let Some(hosted) = crate::hosted::to_hub(Format::Responses, tool) {
                        self.list.push(hosted);
                    }
                }
            }
        }
        Ok(())
    }

    fn push(&mut self, name: String, tool: Value) {
        if !self.seen.contains(&name) {
            self.seen.push(name);
            self.list.push(tool);
        }
    }

    fn function(
        &mut self,
        tool: &Value,
        ns: Option<&str>,
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        // Chat-style `{"type":"function","function":{...}}` is accepted too.
        let def = tool
            .get("function")
            .filter(|f| f.is_object())
            .unwrap_or(tool);
        let name = def
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}: a function tool needs a `name`"))
            })?;
        let name = match ns {
            Some(ns) => {
                let flat = flat_name(ns, name);
                mark_namespace(&mut ctx.tool_names, &flat, ns, name);
                flat
            }
            None => name.to_owned(),
        };
        let mut f = Map::new();
        f.insert("name".into(), name.clone().into());
        if let Some(d) = def.get("description").filter(|d| d.is_string()) {
            f.insert("description".into(), d.clone());
        }
        let params = def
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
        f.insert("parameters".into(), params);
        if let Some(s) = def.get("strict").filter(|s| s.is_boolean()) {
            f.insert("strict".into(), s.clone());
        }
        self.push(name, json!({ "type": "function", "function": f }));
        Ok(())
    }

    fn custom(
        &mut self,
        tool: &Value,
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}: a custom tool needs a `name`"))
            })?;
        mark_custom(&mut ctx.tool_names, name);
        let format = tool.get("format");
        let input_description = match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
            Some("grammar") => {
                let syntax = format
                    .and_then(|f| f.get("syntax"))
                    .and_then(Value::as_str)
                    .unwrap_or("lark");
                let definition = format
                    .and_then(|f| f.get("definition"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                format!(
                    "The raw input of the tool, passed on verbatim. It must follow this \
                     {syntax} grammar:\n{definition}"
                )
            }
            _ => "The raw input of the tool, passed on verbatim as free-form text.".to_owned(),
        };
        let mut f = Map::new();
        f.insert("name".into(), name.into());
        if let Some(d) = tool.get("description").filter(|d| d.is_string()) {
            f.insert("description".into(), d.clone());
        }
        f.insert(
            "parameters".into(),
            json!({
                "type": "object",
                "properties": {
                    "input": { "type": "string", "description": input_description },
                },
                "required": ["input"],
                "additionalProperties": false,
            }),
        );
        self.push(
            name.to_owned(),
            json!({ "type": "function", "function": f }),
        );
        Ok(())
    }
}

fn tool_choice_to_hub(choice: &Value) -> Result<Option<Value>, TranslateError> {
    Ok(match choice {
        Value::String(s) => match s.as_str() {
            "auto" | "none" | "required" => Some(choice.clone()),
            other => {
                return Err(TranslateError::invalid(format!(
                    "`tool_choice` `{other}` is not one of auto, none, required"
                )));
            }
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") | Some("custom") => {
                let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                    TranslateError::invalid("`tool_choice` of type function needs a `name`")
                })?;
                let name = match o.get("namespace").and_then(Value::as_str) {
                    Some(ns) => flat_name(ns, name),
                    None => name.to_owned(),
                };
                Some(json!({ "type": "function", "function": { "name": name } }))
            }
            // The hub has no allowed-tools subset; keep its mode.
            Some("allowed_tools") => match o.get("mode").and_then(Value::as_str) {
                Some("required") => Some(json!("required")),
                _ => Some(json!("auto")),
            },
            // A hosted tool that was dropped.
            _ => Some(json!("auto")),
        },
        _ => {
            return Err(TranslateError::invalid(
                "`tool_choice` must be a string or an object",
            ));
        }
    })
}

fn text_format_to_hub(format: &Value) -> Result<Option<Value>, TranslateError> {
    Ok(match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    TranslateError::invalid("`text.format` of type json_schema needs a `schema`")
                })?;
            let mut js = Map::new();
            js.insert(
                "name".into(),
                format
                    .get("name")
                    .filter(|n| n.is_string())
                    .cloned()
                    .unwrap_or_else(|| json!("response")),
            );
            js.insert("schema".into(), schema.clone());
            for key in ["strict", "description"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    js.insert(key.into(), v.clone());
                }
            }
            Some(json!({ "type": "json_schema", "json_schema": js }))
        }
        Some("json_object") => Some(json!({ "type": "json_object" })),
        _ => None,
    })
}

/// One hub assistant message being assembled from consecutive Responses items.
#[derive(Default)]
struct AssistantTurn {
    text: Vec<String>,
    refusal: Vec<String>,
    reasoning: Option<String>,
    signature: Option<String>,
    redacted: Option<String>,
    tool_calls: Vec<Value>,
}

impl AssistantTurn {
    fn is_empty(&self) -> bool {
        self.text.is_empty()
            && self.refusal.is_empty()
            && self.tool_calls.is_empty()
            && self.reasoning.is_none()
            && self.signature.is_none()
            && self.redacted.is_none()
    }

    fn into_message(self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), "assistant".into());
        let content = if self.text.is_empty() {
            Value::Null
        } else {
            Value::String(self.text.join("\n\n"))
        };
        m.insert("content".into(), content);
        if !self.refusal.is_empty() {
            m.insert("refusal".into(), self.refusal.join("\n\n").into());
        }
        if let Some(r) = self.reasoning {
            m.insert("reasoning_content".into(), r.into());
        }
        if let Some(s) = self.signature {
            m.insert("reasoning_signature".into(), s.into());
        }
        if let Some(r) = self.redacted {
            m.insert("redacted_reasoning".into(), r.into());
        }
        if !self.tool_calls.is_empty() {
            m.insert("tool_calls".into(), Value::Array(self.tool_calls));
        }
        Value::Object(m)
    }
}

#[derive(Default)]
struct Conversation {
    messages: Vec<Value>,
    turn: Option<AssistantTurn>,
}

impl Conversation {
    fn flush(&mut self) {
        if let Some(turn) = self.turn.take()
            && !turn.is_empty()
        {
            self.messages.push(turn.into_message());
        }
    }

    fn push(&mut self, message: Value) {
        self.flush();
        self.messages.push(message);
    }

    fn turn(&mut self) -> &mut AssistantTurn {
        self.turn.get_or_insert_with(AssistantTurn::default)
    }

    /// A reasoning item opens a new assistant message unless the current one is still empty.
    fn reasoning_turn(&mut self) -> &mut AssistantTurn {
        if self.turn.as_ref().is_some_and(|t| !t.is_empty()) {
            self.flush();
        }
        self.turn()
    }

    fn finish(mut self) -> Vec<Value> {
        self.flush();
        self.messages
    }

    fn items(
        &mut self,
        items: &[Value],
        field: &str,
        tools: &mut Tools,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        for (i, item) in items.iter().enumerate() {
            let at = format!("{field}[{i}]");
            if !item.is_object() {
                return Err(TranslateError::invalid(format!("{at} must be an object")));
            }
            let ty = item.get("type").and_then(Value::as_str);
            match ty {
                Some("message") | None => self.message(item, &at)?,
                Some("function_call") => {
                    let call_id = call_id(item, &at)?;
                    let name = item.get("name").and_then(Value::as_str).ok_or_else(|| {
                        TranslateError::invalid(format!("{at}: a function_call needs a `name`"))
                    })?;
                    let name = match item.get("namespace").and_then(Value::as_str) {
                        Some(ns) if !ns.is_empty() => flat_name(ns, name),
                        _ => name.to_owned(),
                    };
                    let arguments = match item.get("arguments") {
                        Some(Value::String(s)) => s.clone(),
                        None | Some(Value::Null) => "{}".to_owned(),
                        Some(other) => other.to_string(),
                    };
                    self.turn()
                        .tool_calls
                        .push(tool_call(call_id, &name, arguments));
                }
                Some("custom_tool_call") => {
                    let call_id = call_id(item, &at)?;
                    let name = item.get("name").and_then(Value::as_str).ok_or_else(|| {
                        TranslateError::invalid(format!("{at}: a custom_tool_call needs a `name`"))
                    })?;
                    let input = item
                        .get("input")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.turn()
                        .tool_calls
                        .push(tool_call(call_id, name, custom_args(input)));
                }
                Some("local_shell_call") => {
                    let call_id = call_id(item, &at)?;
                    let action = item.get("action").cloned().unwrap_or_else(|| json!({}));
                    self.turn().tool_calls.push(tool_call(
                        call_id,
                        "local_shell",
                        action.to_string(),
                    ));
                }
                Some(
                    "function_call_output" | "custom_tool_call_output" | "local_shell_call_output",
                ) => {
                    let call_id = call_id(item, &at)?;
                    let content = tool_output_to_hub(item.get("output"), &at)?;
                    self.push(json!({
                        "role": "tool",
                        "tool_call_id": call_id,
                        "content": content,
                    }));
                }
                Some("reasoning") => self.reasoning(item, ctx.provider),
                Some("compaction_trigger") => {
                    ctx.compaction = true;
                    self.push(json!({"role": "user", "content": super::compaction::PROMPT}));
                }
                // A summary the proxy wrote is a system turn; OpenAI's own is encrypted and
                // no other provider can read it.
                Some(t) if super::compaction::ITEMS.contains(&t) => {
                    if let Some(summary) = super::compaction::summary(item) {
                        self.push(json!({"role": "system",
                            "content": super::compaction::system_text(&summary)}));
                    }
                }
                Some("additional_tools") => {
                    if let Some(list) = item.get("tools").and_then(Value::as_array) {
                        tools.add_all(list, &format!("{at}.tools"), ctx)?;
                    }
                }
                Some("item_reference") => {
                    return Err(TranslateError::invalid(format!(
                        "{at}: `item_reference` is not supported: this proxy stores no \
                         responses; send the referenced item itself"
                    )));
                }
                Some(t) if DROPPED_ITEMS.contains(&t) => {}
                Some(other) => {
                    return Err(TranslateError::invalid(format!(
                        "{at}: unsupported item type `{other}`"
                    )));
                }
            }
        }
        Ok(())
    }

    fn message(&mut self, item: &Value, at: &str) -> Result<(), TranslateError> {
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(format!("{at}: a message needs a `role`")))?;
        let content = item.get("content").unwrap_or(&Value::Null);
        match role {
            "user" => {
                let content = user_content_to_hub(content, at)?;
                self.push(json!({ "role": "user", "content": content }));
            }
            "system" | "developer" => {
                let content = user_content_to_hub(content, at)?;
                self.push(json!({ "role": "system", "content": content }));
            }
            "assistant" => {
                let (text, refusal) = assistant_content_to_hub(content, at)?;
                let turn = self.turn();
                if !text.is_empty() {
                    turn.text.push(text);
                }
                if !refusal.is_empty() {
                    turn.refusal.push(refusal);
                }
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "{at}: unsupported message role `{other}` (expected user, assistant, system \
                     or developer)"
                )));
            }
        }
        Ok(())
    }

    fn reasoning(&mut self, item: &Value, provider: Format) {
        let texts = |key: &str| -> String {
            item.get(key)
                .and_then(Value::as_array)
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n\n")
                })
                .unwrap_or_default()
        };
        let summary = texts("summary");
        let text = if summary.is_empty() {
            texts("content")
        } else {
            summary
        };
        let encrypted = item
            .get("encrypted_content")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if let Some(data) = encrypted.and_then(|e| e.strip_prefix(REDACTED_PREFIX)) {
            self.reasoning_turn().redacted = Some(data.to_owned());
            return;
        }
        // Reasoning text the proxy wrapped (no provider signed it) goes back only to a
        // provider of the origin that wrote it, never to another.
        let (text, encrypted) = match encrypted.map(|e| crate::provenance::carried(e, provider)) {
            Some(crate::provenance::Carried::Foreign) => return,
            Some(crate::provenance::Carried::OwnText(own)) if text.is_empty() => (own, None),
            Some(crate::provenance::Carried::OwnText(_)) => (text, None),
            _ => (text, encrypted),
        };
        if text.is_empty() && encrypted.is_none() {
            return;
        }
        let turn = self.reasoning_turn();
        turn.reasoning = Some(text);
        turn.signature = encrypted.map(str::to_owned);
    }
}

fn call_id(item: &Value, at: &str) -> Result<String, TranslateError> {
    item.get("call_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            item.get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_owned)
        .ok_or_else(|| TranslateError::invalid(format!("{at}: a `call_id` is required")))
}

fn tool_call(id: String, name: &str, arguments: String) -> Value {
    json!({
        "id": id,
        "type": "function",
        "function": { "name": name, "arguments": arguments },
    })
}

/// A content part in hub form. `assistant` allows output parts only as text.
fn part_to_hub(part: &Value, at: &str) -> Result<Value, TranslateError> {
    let ty = part.get("type").and_then(Value::as_str).unwrap_or_default();
    Ok(match ty {
        "input_text" | "output_text" | "text" => json!({
            "type": "text",
            "text": part.get("text").and_then(Value::as_str).unwrap_or_default(),
        }),
        "refusal" => json!({
            "type": "text",
            "text": part.get("refusal").and_then(Value::as_str).unwrap_or_default(),
        }),
        "input_image" => {
            let url = match part.get("image_url") {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(o @ Value::Object(_)) => o.get("url").and_then(Value::as_str),
                _ => None,
            };
            match (url, part.get("file_id").and_then(Value::as_str)) {
                (Some(url), _) => {
                    let mut image = Map::new();
                    image.insert("url".into(), url.into());
                    if let Some(d) = part.get("detail").filter(|d| d.is_string()) {
                        image.insert("detail".into(), d.clone());
                    }
                    json!({ "type": "image_url", "image_url": image })
                }
                // The hub has no image-by-file-id; the chat `file` part carries the id.
                (None, Some(file_id)) => json!({ "type": "file", "file": { "file_id": file_id } }),
                (None, None) => {
                    return Err(TranslateError::invalid(format!(
                        "{at}: an input_image needs an `image_url` or a `file_id`"
                    )));
                }
            }
        }
        "input_file" => {
            let mut file = Map::new();
            for key in ["file_data", "file_id", "filename", "file_url"] {
                if let Some(v) = part.get(key).filter(|v| v.is_string()) {
                    file.insert(key.into(), v.clone());
                }
            }
            if !["file_data", "file_id", "file_url"]
                .iter()
                .any(|k| file.contains_key(*k))
            {
                return Err(TranslateError::invalid(format!(
                    "{at}: an input_file needs `file_data`, `file_id` or `file_url`"
                )));
            }
            json!({ "type": "file", "file": file })
        }
        "input_audio" => json!({
            "type": "input_audio",
            "input_audio": part.get("input_audio").cloned().unwrap_or_else(|| json!({})),
        }),
        other => {
            return Err(TranslateError::invalid(format!(
                "{at}: unsupported content part type `{other}`"
            )));
        }
    })
}

fn parts_to_hub(parts: &[Value], at: &str) -> Result<Vec<Value>, TranslateError> {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| part_to_hub(p, &format!("{at}.content[{i}]")))
        .collect()
}

/// User, system or developer content: a string stays a string, one text part becomes a
/// string, anything else an array of hub parts.
fn user_content_to_hub(content: &Value, at: &str) -> Result<Value, TranslateError> {
    match content {
        Value::String(_) => Ok(content.clone()),
        Value::Null => Ok(json!("")),
        Value::Array(parts) => {
            let parts = parts_to_hub(parts, at)?;
            Ok(collapse(parts))
        }
        _ => Err(TranslateError::invalid(format!(
            "{at}: `content` must be a string or an array of content parts"
        ))),
    }
}

fn collapse(parts: Vec<Value>) -> Value {
    if let [only] = parts.as_slice()
        && only.get("type").and_then(Value::as_str) == Some("text")
        && let Some(text) = only.get("text")
    {
        return text.clone();
    }
    Value::Array(parts)
}

/// Assistant content: (text, refusal).
fn assistant_content_to_hub(content: &Value, at: &str) -> Result<(String, String), TranslateError> {
    match content {
        Value::String(s) => Ok((s.clone(), String::new())),
        Value::Null => Ok((String::new(), String::new())),
        Value::Array(parts) => {
            let mut text = String::new();
            let mut refusal = String::new();
            for (i, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str) {
                    Some("output_text" | "input_text" | "text") => {
                        text.push_str(p.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                    Some("refusal") => {
                        refusal
                            .push_str(p.get("refusal").and_then(Value::as_str).unwrap_or_default());
                    }
                    other => {
                        return Err(TranslateError::invalid(format!(
                            "{at}.content[{i}]: unsupported assistant content part type `{}`",
                            other.unwrap_or("(none)")
                        )));
                    }
                }
            }
            Ok((text, refusal))
        }
        _ => Err(TranslateError::invalid(format!(
            "{at}: `content` must be a string or an array of content parts"
        ))),
    }
}

/// A function call output for the hub tool message.
fn tool_output_to_hub(output: Option<&Value>, at: &str) -> Result<Value, TranslateError> {
    Ok(match output {
        None | Some(Value::Null) => json!(""),
        Some(Value::String(_)) => output.cloned().unwrap_or_default(),
        Some(Value::Array(parts)) => collapse(parts_to_hub(parts, &format!("{at}.output"))?),
        // Old Codex failure form `{"content": "...", "success": false}`.
        Some(o @ Value::Object(_)) => match o.get("content").and_then(Value::as_str) {
            Some(s) => json!(s),
            None => json!(o.to_string()),
        },
        Some(other) => json!(other.to_string()),
    })
}

// ---------------------------------------------------------------------------------------------
// hub -> Responses
// ---------------------------------------------------------------------------------------------

/// Function names a Responses provider accepts: `^[a-zA-Z0-9_-]{1,64}$`.
#[derive(Default)]
struct Renamer {
    provider_to_hub: HashMap<String, String>,
}

impl Renamer {
    fn name(&mut self, hub: &str, ctx: &mut TranslateCtx) -> String {
        let known = ctx.tool_names.provider_name(hub);
        if known != hub {
            return known.to_owned();
        }
        let mut base: String = hub
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if base.is_empty() {
            base = "tool".to_owned();
        }
        let mut candidate = base.clone();
        let mut n = 2u32;
        while self
            .provider_to_hub
            .get(&candidate)
            .is_some_and(|owner| owner != hub)
        {
            let suffix = format!("_{n}");
            let keep = 64usize.saturating_sub(suffix.len());
            candidate = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            n += 1;
        }
        self.provider_to_hub
            .insert(candidate.clone(), hub.to_owned());
        if candidate != hub {
            ctx.tool_names.insert(hub, &candidate);
        }
        candidate
    }
}

pub(super) fn hub_to_responses(
    hub: Value,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let Value::Object(req) = hub else {
        return Err(TranslateError::invalid(
            "the request body must be a JSON object",
        ));
    };
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::invalid("`messages` must be an array"))?;
    let mut renamer = Renamer::default();
    let mut out = Map::new();
    let model = if ctx.model.is_empty() {
        req.get("model").cloned().unwrap_or(Value::Null)
    } else {
        Value::String(ctx.model.clone())
    };
    out.insert("model".into(), model);

    // Tools first, so renames are known before the history names them.
    let tools = function_tools(&req, &mut renamer, ctx)?;
    let (instructions, input) = messages_to_input(messages, &mut renamer, ctx)?;
    if !instructions.is_empty() {
        out.insert("instructions".into(), instructions.join("\n\n").into());
    }
    out.insert("input".into(), Value::Array(input));

    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null()) {
            out.insert(
                "tool_choice".into(),
                tool_choice_from_hub(choice, &mut renamer, ctx),
            );
        }
        if let Some(p) = req.get("parallel_tool_calls").filter(|p| p.is_boolean()) {
            out.insert("parallel_tool_calls".into(), p.clone());
        }
    }
    insert_options(&mut out, &req, ctx);
    Ok(Value::Object(out))
}

/// Hub function tools -> Responses function tools (flat: name, parameters and strict on the
/// tool itself), names made acceptable by `renamer`. Other tool types are skipped.
fn function_tools(
    req: &Map<String, Value>,
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let mut tools = Vec::new();
    let Some(list) = req.get("tools").and_then(Value::as_array) else {
        return Ok(tools);
    };
    for tool in list {
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            continue;
        }
        let Some(f) = tool.get("function") else {
            continue;
        };
        let Some(name) = f.get("name").and_then(Value::as_str) else {
            return Err(TranslateError::invalid("a function tool needs a `name`"));
        };
        let mut t = Map::new();
        t.insert("type".into(), "function".into());
        t.insert("name".into(), renamer.name(name, ctx).into());
        if let Some(d) = f.get("description").filter(|d| d.is_string()) {
            t.insert("description".into(), d.clone());
        }
        t.insert(
            "parameters".into(),
            f.get("parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
        );
        t.insert(
            "strict".into(),
            f.get("strict")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .into(),
        );
        tools.push(Value::Object(t));
    }
    Ok(tools)
}

/// Hub messages -> the non-empty leading system/developer texts (the `instructions`) and the
/// `input` items; later system messages stay in place as developer messages.
fn messages_to_input(
    messages: &[Value],
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Result<(Vec<String>, Vec<Value>), TranslateError> {
    let mut instructions: Vec<String> = Vec::new();
    let mut input: Vec<Value> = Vec::new();
    let mut leading = true;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" if leading => instructions.push(text_of(content)),
            "system" | "developer" => input.push(json!({
                "type": "message",
                "role": "developer",
                "content": input_parts(content, &at)?,
            })),
            "user" => input.push(json!({
                "type": "message",
                "role": "user",
                "content": input_parts(content, &at)?,
            })),
            "assistant" => assistant_items(m, &mut input, renamer, ctx)?,
            "tool" => {
                let call_id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        TranslateError::invalid(format!(
                            "{at}: a tool message needs `tool_call_id`"
                        ))
                    })?;
                input.push(json!({
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": tool_output_from_hub(content, &at)?,
                }));
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "{at}: unsupported message role `{other}`"
                )));
            }
        }
        if !matches!(role, "system" | "developer") {
            leading = false;
        }
    }
    instructions.retain(|s| !s.is_empty());
    Ok((instructions, input))
}

/// Reasoning, token limit, sampling, text format and verbosity, cache key, and the
/// `stream`/`store` switches (never stored: the proxy keeps no server-side state).
fn insert_options(out: &mut Map<String, Value>, req: &Map<String, Value>, ctx: &TranslateCtx) {
    if let Some(effort) = req.get("reasoning_effort").and_then(Value::as_str) {
        out.insert(
            "reasoning".into(),
            json!({ "effort": effort, "summary": "auto" }),
        );
        if effort != "none" {
            out.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
    }
    if let Some(max) = req
        .get("max_completion_tokens")
        .and_then(Value::as_u64)
        .or_else(|| req.get("max_tokens").and_then(Value::as_u64))
    {
        out.insert("max_output_tokens".into(), max.into());
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = req.get(key).filter(|v| v.is_number()) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut text = Map::new();
    if let Some(format) = req.get("response_format").and_then(text_format_from_hub) {
        text.insert("format".into(), format);
    }
    if let Some(v) = req.get("verbosity").filter(|v| v.is_string()) {
        text.insert("verbosity".into(), v.clone());
    }
    if !text.is_empty() {
        out.insert("text".into(), Value::Object(text));
    }
    if let Some(key) = req.get("prompt_cache_key").filter(|k| k.is_string()) {
        out.insert("prompt_cache_key".into(), key.clone());
    }
    // Chat completions and the Responses API take the same tiers (`auto`, `default`,
    // `flex`, `priority`); executors whose backend refuses the field remove it.
    if let Some(tier) = req.get("service_tier").filter(|t| t.is_string()) {
        out.insert("service_tier".into(), tier.clone());
    }
    out.insert(
        "stream".into(),
        req.get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(ctx.stream)
            .into(),
    );
    out.insert("store".into(), false.into());
}

/// Plain text of hub content (a string or text parts).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

fn input_part(part: &Value, at: &str) -> Result<Value, TranslateError> {
    let ty = part.get("type").and_then(Value::as_str).unwrap_or_default();
    Ok(match ty {
        "text" => json!({
            "type": "input_text",
            "text": part.get("text").and_then(Value::as_str).unwrap_or_default(),
        }),
        "image_url" => {
            let image = part.get("image_url");
            let url = match image {
                Some(Value::String(s)) => Some(s.as_str()),
                Some(o) => o.get("url").and_then(Value::as_str),
                None => None,
            }
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}: an image_url part needs a `url`"))
            })?;
            let detail = image
                .and_then(|i| i.get("detail"))
                .and_then(Value::as_str)
                .unwrap_or("auto");
            json!({ "type": "input_image", "image_url": url, "detail": detail })
        }
        "file" => {
            let mut f = Map::new();
            f.insert("type".into(), "input_file".into());
            if let Some(file) = part.get("file").and_then(Value::as_object) {
                for key in ["file_data", "file_id", "filename", "file_url"] {
                    if let Some(v) = file.get(key).filter(|v| v.is_string()) {
                        f.insert(key.into(), v.clone());
                    }
                }
            }
            Value::Object(f)
        }
        "input_audio" => json!({
            "type": "input_audio",
            "input_audio": part.get("input_audio").cloned().unwrap_or_else(|| json!({})),
        }),
        other => {
            return Err(TranslateError::invalid(format!(
                "{at}: unsupported content part type `{other}`"
            )));
        }
    })
}

fn input_parts(content: &Value, at: &str) -> Result<Value, TranslateError> {
    match content {
        Value::String(s) => Ok(json!([{ "type": "input_text", "text": s }])),
        Value::Null => Ok(json!([])),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| input_part(p, &format!("{at}.content[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(TranslateError::invalid(format!(
            "{at}: `content` must be a string or an array of parts"
        ))),
    }
}

fn assistant_items(
    m: &Value,
    input: &mut Vec<Value>,
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Result<(), TranslateError> {
    // Only encrypted reasoning this provider produced can be replayed; plain reasoning text
    // is of no use to it.
    let own = m
        .get("reasoning_signature")
        .and_then(Value::as_str)
        .and_then(|s| crate::provenance::for_provider(s, ctx.client, ctx.provider));
    if let Some(pairs) = own.as_deref().and_then(parse_provider_signature) {
        let text = m
            .get("reasoning_content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for (k, (id, enc)) in pairs.into_iter().enumerate() {
            let summary = if k == 0 && !text.is_empty() {
                json!([{ "type": "summary_text", "text": text }])
            } else {
                json!([])
            };
            let mut item = Map::new();
            item.insert("type".into(), "reasoning".into());
            if !id.is_empty() {
                item.insert("id".into(), id.into());
            }
            item.insert("summary".into(), summary);
            item.insert("encrypted_content".into(), enc.into());
            input.push(Value::Object(item));
        }
    }
    let text = text_of(m.get("content").unwrap_or(&Value::Null));
    let refusal = m
        .get("refusal")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if !text.is_empty() || refusal.is_some() {
        let mut parts = Vec::new();
        if !text.is_empty() {
            parts.push(json!({ "type": "output_text", "text": text, "annotations": [] }));
        }
        if let Some(r) = refusal {
            parts.push(json!({ "type": "refusal", "refusal": r }));
        }
        input.push(json!({ "type": "message", "role": "assistant", "content": parts }));
    }
    if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            let f = call.get("function");
            let name = f
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let arguments = match f.and_then(|f| f.get("arguments")) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "{}".to_owned(),
                Some(other) => other.to_string(),
            };
            let call_id = call
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| TranslateError::invalid("an assistant tool call needs an `id`"))?;
            input.push(json!({
                "type": "function_call",
                "call_id": call_id,
                "name": renamer.name(name, ctx),
                "arguments": arguments,
            }));
        }
    }
    Ok(())
}

fn tool_output_from_hub(content: &Value, at: &str) -> Result<Value, TranslateError> {
    match content {
        Value::Array(parts) => {
            let all_text = parts
                .iter()
                .all(|p| p.get("type").and_then(Value::as_str) == Some("text"));
            if all_text {
                Ok(Value::String(text_of(content)))
            } else {
                input_parts(content, at)
            }
        }
        Value::String(_) => Ok(content.clone()),
        Value::Null => Ok(json!("")),
        other => Ok(json!(other.to_string())),
    }
}

fn tool_choice_from_hub(choice: &Value, renamer: &mut Renamer, ctx: &mut TranslateCtx) -> Value {
    match choice {
        Value::String(_) => choice.clone(),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                match o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                {
                    Some(name) => json!({ "type": "function", "name": renamer.name(name, ctx) }),
                    None => json!("required"),
                }
            }
            Some("allowed_tools") => {
                let spec = o.get("allowed_tools");
                let mode = spec
                    .and_then(|s| s.get("mode"))
                    .and_then(Value::as_str)
                    .unwrap_or("auto");
                let tools: Vec<Value> = spec
                    .and_then(|s| s.get("tools"))
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| {
                        t.get("function")
                            .and_then(|f| f.get("name"))
                            .and_then(Value::as_str)
                    })
                    .map(|name| json!({ "type": "function", "name": renamer.name(name, ctx) }))
                    .collect();
                json!({ "type": "allowed_tools", "mode": mode, "tools": tools })
            }
            _ => json!("auto"),
        },
        _ => json!("auto"),
    }
}

fn text_format_from_hub(rf: &Value) -> Option<Value> {
    match rf.get("type").and_then(Value::as_str)? {
        "json_schema" => {
            let js = rf.get("json_schema")?;
            let mut f = Map::new();
            f.insert("type".into(), "json_schema".into());
            f.insert(
                "name".into(),
                js.get("name")
                    .filter(|n| n.is_string())
                    .cloned()
                    .unwrap_or_else(|| json!("response")),
            );
            f.insert(
                "schema".into(),
                js.get("schema").cloned().unwrap_or_else(|| json!({})),
            );
            for key in ["strict", "description"] {
                if let Some(v) = js.get(key).filter(|v| !v.is_null()) {
                    f.insert(key.into(), v.clone());
                }
            }
            Some(Value::Object(f))
        }
        "json_object" => Some(json!({ "type": "json_object" })),
        "text" => Some(json!({ "type": "text" })),
        _ => None,
    }
}
