//! hub -> Responses request: the request's own fields, tools, and the messages as input
//! items.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::*;
use crate::chat::{ChatRequest, Content, Message};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;

/// Function names a Responses provider accepts: `^[a-zA-Z0-9_-]{1,64}$`.
#[derive(Default)]
pub(super) struct Renamer {
    provider_to_hub: HashMap<String, String>,
}

impl Renamer {
    pub(super) fn name(&mut self, hub: &str, ctx: &mut TranslateCtx) -> String {
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

pub(in crate::translators::responses) fn hub_to_responses(
    req: ChatRequest,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let mut renamer = Renamer::default();
    let mut out = Map::new();
    let model = if ctx.model.is_empty() {
        req.model.clone().map_or(Value::Null, Value::String)
    } else {
        Value::String(ctx.model.clone())
    };
    out.insert("model".into(), model);

    // Tools first, so renames are known before the history names them.
    let tools = function_tools(&req, &mut renamer, ctx)?;
    let (instructions, input) = messages_to_input(&req.messages, &mut renamer, ctx)?;
    if !instructions.is_empty() {
        out.insert("instructions".into(), instructions.join("\n\n").into());
    }
    out.insert("input".into(), Value::Array(input));

    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = &req.tool_choice {
            out.insert(
                "tool_choice".into(),
                tool_choice_from_hub(choice, &mut renamer, ctx),
            );
        }
        if let Some(p) = req.parallel_tool_calls {
            out.insert("parallel_tool_calls".into(), p.into());
        }
    }
    insert_options(&mut out, &req, ctx);
    Ok(Value::Object(out))
}

/// Hub function tools -> Responses function tools (flat: name, parameters and strict on the
/// tool itself), names made acceptable by `renamer`. Other tool types are skipped.
pub(super) fn function_tools(
    req: &ChatRequest,
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let mut tools = Vec::new();
    for tool in req.tools.as_deref().unwrap_or_default() {
        if tool.kind != "function" {
            continue;
        }
        let Some(f) = &tool.function else {
            continue;
        };
        let mut t = Map::new();
        t.insert("type".into(), "function".into());
        t.insert("name".into(), renamer.name(&f.name, ctx).into());
        if let Some(d) = &f.description {
            t.insert("description".into(), d.clone().into());
        }
        t.insert(
            "parameters".into(),
            crate::chat::set(&f.parameters)
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
        );
        t.insert("strict".into(), f.strict.unwrap_or(false).into());
        tools.push(Value::Object(t));
    }
    Ok(tools)
}

/// Hub messages -> the non-empty leading system/developer texts (the `instructions`) and the
/// `input` items; later system messages stay in place as developer messages.
pub(super) fn messages_to_input(
    messages: &[Message],
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Result<(Vec<String>, Vec<Value>), TranslateError> {
    let mut instructions: Vec<String> = Vec::new();
    let mut input: Vec<Value> = Vec::new();
    let mut leading = true;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m.role.as_str();
        let content = m.content();
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
                let call_id = m.tool_call_id.as_deref().ok_or_else(|| {
                    TranslateError::invalid(format!("{at}: a tool message needs `tool_call_id`"))
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
pub(super) fn insert_options(out: &mut Map<String, Value>, req: &ChatRequest, ctx: &TranslateCtx) {
    if let Some(effort) = req.reasoning_effort.as_deref() {
        out.insert(
            "reasoning".into(),
            json!({ "effort": effort, "summary": "auto" }),
        );
        if effort != "none" {
            out.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
    }
    if let Some(max) = req.max_completion_tokens.or(req.max_tokens) {
        out.insert("max_output_tokens".into(), max.into());
    }
    for (key, v) in [("temperature", &req.temperature), ("top_p", &req.top_p)] {
        if let Some(v) = v {
            out.insert(key.into(), Value::Number(v.clone()));
        }
    }
    let mut text = Map::new();
    if let Some(format) = req.response_format.as_ref().and_then(text_format_from_hub) {
        text.insert("format".into(), format);
    }
    let string = |key: &str| req.extra.get(key).filter(|v| v.is_string()).cloned();
    if let Some(v) = string("verbosity") {
        text.insert("verbosity".into(), v);
    }
    if !text.is_empty() {
        out.insert("text".into(), Value::Object(text));
    }
    if let Some(key) = string("prompt_cache_key") {
        out.insert("prompt_cache_key".into(), key);
    }
    // Chat completions and the Responses API take the same tiers (`auto`, `default`,
    // `flex`, `priority`); executors whose backend refuses the field remove it.
    if let Some(tier) = string("service_tier") {
        out.insert("service_tier".into(), tier);
    }
    out.insert("stream".into(), req.stream.unwrap_or(ctx.stream).into());
    out.insert("store".into(), false.into());
}

/// Plain text of hub content (a string or text parts).
pub(super) fn text_of(content: Option<&Content>) -> String {
    match content {
        Some(Content::Text(s)) => s.clone(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n\n"),
        None => String::new(),
    }
}
