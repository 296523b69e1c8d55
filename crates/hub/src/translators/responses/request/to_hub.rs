//! Responses request -> hub: the request's own fields, tools and tool choice, text format.

use serde_json::{Map, Value, json};

use super::*;
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;

pub(in crate::translators::responses) fn responses_to_hub(
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
pub(super) fn messages_to_hub(
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
pub(super) fn insert_options_to_hub(
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
pub(super) struct Tools {
    list: Vec<Value>,
    seen: Vec<String>,
}

impl Tools {
    pub(super) fn add_all(
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

    pub(super) fn push(&mut self, name: String, tool: Value) {
        if !self.seen.contains(&name) {
            self.seen.push(name);
            self.list.push(tool);
        }
    }

    pub(super) fn function(
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

    pub(super) fn custom(
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

pub(super) fn tool_choice_to_hub(choice: &Value) -> Result<Option<Value>, TranslateError> {
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

pub(super) fn text_format_to_hub(format: &Value) -> Result<Option<Value>, TranslateError> {
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
