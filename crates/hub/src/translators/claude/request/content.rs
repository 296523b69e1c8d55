//! Typed hub message content -> Claude blocks: text, images, files, assistant turns with
//! their thinking and tool calls, tool results.

use serde_json::{Map, Value, json};

use super::tools::{claude_tool_id, claude_tool_name};
use super::{copy_cache_control, required};
use crate::chat::{Content, Extra, Message, Part};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::translators::claude::str_of;

fn claude_text_block(text: &str, extra: Option<&Extra>) -> Option<Value> {
    // Anthropic refuses empty and whitespace-only text blocks.
    if text.trim().is_empty() {
        return None;
    }
    let mut block = Map::new();
    block.insert("type".into(), json!("text"));
    block.insert("text".into(), json!(text));
    if let Some(extra) = extra {
        copy_cache_control(extra, &mut block);
    }
    Some(Value::Object(block))
}

/// A part's text (`text`, or `refusal` for a refusal part), required.
fn part_text<'a>(p: &'a Part, key: &str, path: &str) -> Result<&'a str, TranslateError> {
    let text = match key {
        "text" => p.text.as_deref(),
        _ => p.extra_str(key),
    };
    required(text, &format!("{path}.{key}"))
}

pub(super) fn hub_system_blocks(
    content: Option<&Content>,
    path: &str,
) -> Result<Vec<Value>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(s)) => Ok(claude_text_block(s, None).into_iter().collect()),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let pp = format!("{path}[{j}]");
                if p.kind != "text" {
                    return Err(TranslateError::invalid(format!(
                        "{pp}: system and developer messages may only contain text"
                    )));
                }
                out.extend(claude_text_block(
                    part_text(p, "text", &pp)?,
                    Some(&p.extra),
                ));
            }
            Ok(out)
        }
    }
}

/// `data:<media>;base64,<data>` -> (media, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((media, data))
}

fn hub_image_block(part: &Part, path: &str) -> Result<Value, TranslateError> {
    let url = match part.extra.get("image_url") {
        Some(Value::String(u)) => u.as_str(),
        Some(obj @ Value::Object(_)) => {
            required(str_of(obj, "url"), &format!("{path}.image_url.url"))?
        }
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
    copy_cache_control(&part.extra, &mut block);
    Ok(Value::Object(block))
}

fn hub_file_block(part: &Part, path: &str) -> Result<Value, TranslateError> {
    let file = part
        .extra
        .get("file")
        .filter(|f| f.is_object())
        .ok_or_else(|| {
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
    copy_cache_control(&part.extra, &mut block);
    Ok(Value::Object(block))
}

pub(super) fn hub_user_blocks(
    content: Option<&Content>,
    path: &str,
) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(Content::Text(s)) => return Ok(claude_text_block(s, None).into_iter().collect()),
        Some(Content::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let pp = format!("{path}[{j}]");
        match p.kind.as_str() {
            k @ ("text" | "refusal") => {
                out.extend(claude_text_block(part_text(p, k, &pp)?, Some(&p.extra)));
            }
            "image_url" => out.push(hub_image_block(p, &pp)?),
            "file" => out.push(hub_file_block(p, &pp)?),
            other => {
                return Err(TranslateError::invalid(format!(
                    "{pp}.type: `{other}` content cannot be sent to this provider"
                )));
            }
        }
    }
    Ok(out)
}

pub(super) fn hub_assistant_blocks(
    m: &Message,
    path: &str,
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    // Only a signed thinking block can be replayed; unsigned reasoning (from another provider)
    // would be refused, so it is left out.
    let own = m
        .extra_str("reasoning_signature")
        .filter(|s| !s.is_empty())
        .and_then(|s| crate::provenance::for_provider(s, ctx.client, ctx.provider));
    if let Some(sig) = own {
        let text = crate::chat::set(&m.reasoning_content)
            .map(String::as_str)
            .or_else(|| m.extra_str("reasoning"))
            .unwrap_or("");
        out.push(json!({"type": "thinking", "thinking": text, "signature": sig}));
    }
    if let Some(data) = m.extra_str("redacted_reasoning").filter(|d| !d.is_empty()) {
        out.push(json!({"type": "redacted_thinking", "data": data}));
    }
    out.extend(hub_assistant_text_blocks(
        m.content(),
        &format!("{path}.content"),
    )?);
    for (k, call) in m.tool_calls().iter().enumerate() {
        let cp = format!("{path}.tool_calls[{k}]");
        match call.kind.as_deref() {
            Some("function") | None => {}
            Some(other) => {
                return Err(TranslateError::invalid(format!(
                    "{cp}.type: `{other}` tool calls cannot be sent to this provider"
                )));
            }
        }
        let id = required(call.id.as_deref(), &format!("{cp}.id"))?;
        let f = call
            .function
            .as_ref()
            .ok_or_else(|| TranslateError::invalid(format!("{cp}.function: required")))?;
        let name = required(f.name.as_deref(), &format!("{cp}.function.name"))?;
        out.push(json!({
            "type": "tool_use",
            "id": claude_tool_id(id),
            "name": claude_tool_name(name, ctx),
            "input": arguments_to_input(f.arguments.as_deref()),
        }));
    }
    Ok(out)
}

/// A call's JSON arguments as the `input` object Anthropic wants (`{}` when they are not one).
fn arguments_to_input(args: Option<&str>) -> Value {
    match args.map(serde_json::from_str::<Value>) {
        Some(Ok(v @ Value::Object(_))) => v,
        _ => json!({}),
    }
}

/// Assistant content: text and refusal parts only.
fn hub_assistant_text_blocks(
    content: Option<&Content>,
    path: &str,
) -> Result<Vec<Value>, TranslateError> {
    let Some(Content::Parts(parts)) = content else {
        return hub_user_blocks(content, path);
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let pp = format!("{path}[{j}]");
        match p.kind.as_str() {
            k @ ("text" | "refusal") => {
                out.extend(claude_text_block(part_text(p, k, &pp)?, Some(&p.extra)));
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

pub(super) fn hub_tool_result(m: &Message, path: &str) -> Result<Value, TranslateError> {
    let id = required(m.tool_call_id.as_deref(), &format!("{path}.tool_call_id"))?;
    let mut block = Map::new();
    block.insert("type".into(), json!("tool_result"));
    block.insert("tool_use_id".into(), json!(claude_tool_id(id)));
    match m.content() {
        None => {}
        Some(Content::Text(s)) if !s.is_empty() => {
            block.insert("content".into(), json!(s));
        }
        Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => tool_result_parts(parts, path, &mut block)?,
    }
    Ok(Value::Object(block))
}

/// A tool result's parts: text joined into one string, or blocks when there is an image.
fn tool_result_parts(
    parts: &[Part],
    path: &str,
    block: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    let mut inner = Vec::with_capacity(parts.len());
    let mut all_text = true;
    for (j, p) in parts.iter().enumerate() {
        let pp = format!("{path}.content[{j}]");
        copy_cache_control(&p.extra, block);
        match p.kind.as_str() {
            "text" => {
                let text = part_text(p, "text", &pp)?;
                if !text.is_empty() {
                    inner.push(json!({"type": "text", "text": text}));
                }
            }
            "image_url" => {
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
    Ok(())
}
