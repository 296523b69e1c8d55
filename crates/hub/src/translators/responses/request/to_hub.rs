//! Responses request -> the typed hub request: the request's own fields, the conversation,
//! and the options the hub keeps (tools in `tools.rs`, items in `items.rs`).

use serde_json::{Map, Value, json};

use super::*;
use crate::chat::{ChatRequest, Content};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;

pub(in crate::translators::responses) fn responses_into_hub(
    body: Value,
    ctx: &mut TranslateCtx,
) -> Result<ChatRequest, TranslateError> {
    let Value::Object(mut req) = body else {
        return Err(TranslateError::invalid(
            "the request body must be a JSON object",
        ));
    };
    refuse_stored_state(&req)?;
    let mut tools = Tools::default();
    if let Some(list) = req.get_mut("tools").filter(|t| !t.is_null()) {
        let list = list
            .as_array_mut()
            .ok_or_else(|| TranslateError::invalid("`tools` must be an array"))?;
        tools.add_all(list, "tools", ctx)?;
    }
    let mut out = ChatRequest {
        model: req.get_mut("model").and_then(take_string),
        // Items may add tools (`additional_tools`) and start a compaction, so the
        // conversation comes before the tools are settled.
        messages: messages_to_hub(&mut req, &mut tools, ctx)?,
        ..ChatRequest::default()
    };
    tools_to_hub(&mut out, tools, &req, ctx)?;
    options_to_hub(&mut out, &req, ctx)?;
    Ok(out)
}

/// Fields that need responses the proxy does not keep.
fn refuse_stored_state(req: &Map<String, Value>) -> Result<(), TranslateError> {
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
    Ok(())
}

/// The tools, with their choice and parallel switch; without tools neither is sent.
fn tools_to_hub(
    out: &mut ChatRequest,
    tools: Tools,
    req: &Map<String, Value>,
    ctx: &TranslateCtx,
) -> Result<(), TranslateError> {
    if tools.list.is_empty() {
        return Ok(());
    }
    out.tools = Some(tools.list);
    if ctx.compaction {
        // The summary is the answer: the tools stay (the prompt keeps its cache) but
        // none is called.
        out.tool_choice = Some(crate::chat::ToolChoice::Mode("none".to_owned()));
    } else if let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null()) {
        out.tool_choice = Some(tool_choice_to_hub(choice)?);
    }
    out.parallel_tool_calls = req.get("parallel_tool_calls").and_then(Value::as_bool);
    Ok(())
}

/// `instructions` (a string, or input items) and `input` -> the hub messages, which must not
/// be empty.
fn messages_to_hub(
    req: &mut Map<String, Value>,
    tools: &mut Tools,
    ctx: &mut TranslateCtx,
) -> Result<Vec<crate::chat::Message>, TranslateError> {
    let mut conv = Conversation::default();
    match req.get_mut("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if !s.is_empty() {
                conv.push(message("system", Content::Text(std::mem::take(s))));
            }
        }
        Some(Value::Array(items)) => conv.items(items, "instructions", tools, ctx)?,
        Some(_) => return Err(TranslateError::invalid("`instructions` must be a string")),
    }
    match req.get_mut("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => conv.push(message("user", Content::Text(std::mem::take(s)))),
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

/// Reasoning effort, token limit, sampling, text format, cache key, service tier and
/// streaming.
fn options_to_hub(
    out: &mut ChatRequest,
    req: &Map<String, Value>,
    ctx: &mut TranslateCtx,
) -> Result<(), TranslateError> {
    out.reasoning_effort = req
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    out.max_tokens = req.get("max_output_tokens").and_then(Value::as_u64);
    let number = |key: &str| match req.get(key) {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    };
    out.temperature = number("temperature");
    out.top_p = number("top_p");
    if let Some(format) = req.get("text").and_then(|t| t.get("format")) {
        out.response_format = text_format_to_hub(format)?;
    }
    // The hub names neither; they travel as the client sent them. Chat completions and the
    // Responses API take the same tiers (`auto`, `default`, `flex`, `priority`); executors
    // whose backend refuses the field remove it.
    for key in ["prompt_cache_key", "service_tier"] {
        if let Some(v) = req.get(key).filter(|v| v.is_string()) {
            out.extra.insert(key.into(), v.clone());
        }
    }
    stream_to_hub(out, req, ctx);
    Ok(())
}

/// `stream` (always sent), and the reasoning and usage the client will want back.
fn stream_to_hub(out: &mut ChatRequest, req: &Map<String, Value>, ctx: &mut TranslateCtx) {
    // The proxy stores nothing, so `store` does not matter: asking for encrypted reasoning
    // is what a client that replays its own history does.
    ctx.carry_reasoning = req
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|inc| inc.iter().any(|i| i == "reasoning.encrypted_content"));
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    out.stream = Some(stream);
    if stream {
        // A Responses client always gets usage in `response.completed`.
        out.stream_options = Some(json!({ "include_usage": true }));
        ctx.client_wants_usage = true;
    }
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
