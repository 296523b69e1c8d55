//! hub message content -> Responses input parts and items, tool choice and text format.

use serde_json::{Map, Value, json};

use super::*;
use crate::chat::{Content, Message, Part, ToolChoice};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;

pub(super) fn input_part(part: &Part, at: &str) -> Result<Value, TranslateError> {
    Ok(match part.kind.as_str() {
        "text" => json!({
            "type": "input_text",
            "text": part.text.as_deref().unwrap_or_default(),
        }),
        "image_url" => {
            let image = part.extra.get("image_url");
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
            if let Some(file) = part.extra.get("file").and_then(Value::as_object) {
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
            "input_audio": part.extra.get("input_audio").cloned().unwrap_or_else(|| json!({})),
        }),
        other => {
            return Err(TranslateError::invalid(format!(
                "{at}: unsupported content part type `{other}`"
            )));
        }
    })
}

pub(super) fn input_parts(content: Option<&Content>, at: &str) -> Result<Value, TranslateError> {
    match content {
        Some(Content::Text(s)) => Ok(json!([{ "type": "input_text", "text": s }])),
        None => Ok(json!([])),
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| input_part(p, &format!("{at}.content[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

/// An assistant message's reasoning (only encrypted reasoning this provider produced can be
/// replayed; plain reasoning text is of no use to it), text and refusal, and tool calls.
pub(super) fn assistant_items(
    m: &Message,
    input: &mut Vec<Value>,
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Result<(), TranslateError> {
    reasoning_items(m, input, ctx);
    let text = text_of(m.content());
    let refusal = m.extra_str("refusal").filter(|s| !s.is_empty());
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
    for call in m.tool_calls() {
        let name = call.name().unwrap_or_default();
        let arguments = call.arguments().unwrap_or("{}");
        let call_id = call
            .id
            .as_deref()
            .ok_or_else(|| TranslateError::invalid("an assistant tool call needs an `id`"))?;
        input.push(json!({
            "type": "function_call",
            "call_id": call_id,
            "name": renamer.name(name, ctx),
            "arguments": arguments,
        }));
    }
    Ok(())
}

fn reasoning_items(m: &Message, input: &mut Vec<Value>, ctx: &TranslateCtx) {
    let own = m
        .extra_str("reasoning_signature")
        .and_then(|s| crate::provenance::for_provider(s, ctx.client, ctx.provider));
    let Some(pairs) = own.as_deref().and_then(parse_provider_signature) else {
        return;
    };
    let text = crate::chat::set(&m.reasoning_content)
        .map(String::as_str)
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

pub(super) fn tool_output_from_hub(
    content: Option<&Content>,
    at: &str,
) -> Result<Value, TranslateError> {
    match content {
        Some(Content::Parts(parts)) => {
            if parts.iter().all(|p| p.kind == "text") {
                Ok(Value::String(text_of(content)))
            } else {
                input_parts(content, at)
            }
        }
        Some(Content::Text(s)) => Ok(Value::String(s.clone())),
        None => Ok(json!("")),
    }
}

pub(super) fn tool_choice_from_hub(
    choice: &ToolChoice,
    renamer: &mut Renamer,
    ctx: &mut TranslateCtx,
) -> Value {
    let named = match choice {
        ToolChoice::Mode(s) => return Value::String(s.clone()),
        ToolChoice::Named(named) => named,
    };
    match named.kind.as_deref() {
        Some("function") => match named.function.as_ref().and_then(|f| f.name.as_deref()) {
            Some(name) => json!({ "type": "function", "name": renamer.name(name, ctx) }),
            None => json!("required"),
        },
        Some("allowed_tools") => {
            let spec = named.extra.get("allowed_tools");
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
    }
}

pub(super) fn text_format_from_hub(rf: &Value) -> Option<Value> {
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
