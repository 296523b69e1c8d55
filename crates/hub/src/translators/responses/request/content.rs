//! Responses content parts -> hub content. Texts and payloads are taken out of the client's
//! body, not copied: it is dropped once translated.

use serde_json::{Map, Value, json};

use crate::chat::{Content, Part};
use crate::error::TranslateError;

/// A content part in hub form. `assistant` allows output parts only as text.
pub(super) fn part_to_hub(part: &mut Value, at: &str) -> Result<Part, TranslateError> {
    let ty = part.get("type").and_then(Value::as_str).unwrap_or_default();
    Ok(match ty {
        "input_text" | "output_text" | "text" => text_part(take_str(part, "text")),
        "refusal" => text_part(take_str(part, "refusal")),
        "input_image" => image_to_hub(part, at)?,
        "input_file" => file_to_hub(part, at)?,
        "input_audio" => payload_part(
            "input_audio",
            part.get_mut("input_audio")
                .map_or_else(|| json!({}), Value::take),
        ),
        other => {
            return Err(TranslateError::invalid(format!(
                "{at}: unsupported content part type `{other}`"
            )));
        }
    })
}

/// The string at `key`, taken out of `v` (empty when it is not a string).
pub(super) fn take_str(v: &mut Value, key: &str) -> String {
    v.get_mut(key).and_then(take_string).unwrap_or_default()
}

/// `v`'s string, taken out of it.
pub(super) fn take_string(v: &mut Value) -> Option<String> {
    match v {
        Value::String(s) => Some(std::mem::take(s)),
        _ => None,
    }
}

fn str_field<'v>(part: &'v Value, key: &str) -> &'v str {
    part.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn text_part(text: String) -> Part {
    Part {
        text: Some(text),
        kind: "text".to_owned(),
        extra: Map::new(),
    }
}

/// A hub part whose payload sits under its kind's own key (`image_url`, `file`...).
fn payload_part(kind: &str, payload: Value) -> Part {
    let mut extra = Map::new();
    extra.insert(kind.to_owned(), payload);
    Part {
        text: None,
        kind: kind.to_owned(),
        extra,
    }
}

fn image_to_hub(part: &mut Value, at: &str) -> Result<Part, TranslateError> {
    let url = match part.get_mut("image_url") {
        Some(o @ Value::Object(_)) => o.get_mut("url").and_then(take_string),
        Some(s) => take_string(s),
        None => None,
    };
    match (url, part.get("file_id").and_then(Value::as_str)) {
        (Some(url), _) => {
            let mut image = Map::new();
            image.insert("url".into(), url.into());
            if let Some(d) = part.get("detail").filter(|d| d.is_string()) {
                image.insert("detail".into(), d.clone());
            }
            Ok(payload_part("image_url", Value::Object(image)))
        }
        // The hub has no image-by-file-id; the chat `file` part carries the id.
        (None, Some(file_id)) => Ok(payload_part("file", json!({ "file_id": file_id }))),
        (None, None) => Err(TranslateError::invalid(format!(
            "{at}: an input_image needs an `image_url` or a `file_id`"
        ))),
    }
}

fn file_to_hub(part: &mut Value, at: &str) -> Result<Part, TranslateError> {
    let mut file = Map::new();
    for key in ["file_data", "file_id", "filename", "file_url"] {
        if let Some(v) = part.get_mut(key).filter(|v| v.is_string()) {
            file.insert(key.into(), v.take());
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
    Ok(payload_part("file", Value::Object(file)))
}

pub(super) fn parts_to_hub(parts: &mut [Value], at: &str) -> Result<Vec<Part>, TranslateError> {
    parts
        .iter_mut()
        .enumerate()
        .map(|(i, p)| part_to_hub(p, &format!("{at}.content[{i}]")))
        .collect()
}

/// User, system or developer content: a string stays a string, one text part becomes a
/// string, anything else a list of hub parts.
pub(super) fn user_content_to_hub(
    content: &mut Value,
    at: &str,
) -> Result<Content, TranslateError> {
    match content {
        Value::String(s) => Ok(Content::Text(std::mem::take(s))),
        Value::Null => Ok(Content::Text(String::new())),
        Value::Array(parts) => Ok(collapse(parts_to_hub(parts, at)?)),
        _ => Err(TranslateError::invalid(format!(
            "{at}: `content` must be a string or an array of content parts"
        ))),
    }
}

/// One text part becomes a plain string; anything else stays a part list.
pub(super) fn collapse(mut parts: Vec<Part>) -> Content {
    if let [only] = parts.as_mut_slice()
        && only.kind == "text"
        && let Some(text) = only.text.take()
    {
        return Content::Text(text);
    }
    Content::Parts(parts)
}

/// Assistant content: (text, refusal).
pub(super) fn assistant_content_to_hub(
    content: &mut Value,
    at: &str,
) -> Result<(String, String), TranslateError> {
    match content {
        Value::String(s) => Ok((std::mem::take(s), String::new())),
        Value::Null => Ok((String::new(), String::new())),
        Value::Array(parts) => {
            let mut text = String::new();
            let mut refusal = String::new();
            for (i, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str) {
                    Some("output_text" | "input_text" | "text") => {
                        text.push_str(str_field(p, "text"));
                    }
                    Some("refusal") => refusal.push_str(str_field(p, "refusal")),
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
pub(super) fn tool_output_to_hub(
    output: Option<&mut Value>,
    at: &str,
) -> Result<Content, TranslateError> {
    Ok(match output {
        None | Some(Value::Null) => Content::Text(String::new()),
        Some(Value::String(s)) => Content::Text(std::mem::take(s)),
        Some(Value::Array(parts)) => collapse(parts_to_hub(parts, &format!("{at}.output"))?),
        // Old Codex failure form `{"content": "...", "success": false}`.
        Some(o @ Value::Object(_)) => match o.get("content").and_then(Value::as_str) {
            Some(s) => Content::Text(s.to_owned()),
            None => Content::Text(o.to_string()),
        },
        Some(other) => Content::Text(other.to_string()),
    })
}
