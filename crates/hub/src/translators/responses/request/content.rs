//! Responses content parts -> hub content.

use serde_json::{Map, Value, json};

use crate::error::TranslateError;

/// A content part in hub form. `assistant` allows output parts only as text.
pub(super) fn part_to_hub(part: &Value, at: &str) -> Result<Value, TranslateError> {
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

pub(super) fn parts_to_hub(parts: &[Value], at: &str) -> Result<Vec<Value>, TranslateError> {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| part_to_hub(p, &format!("{at}.content[{i}]")))
        .collect()
}

/// User, system or developer content: a string stays a string, one text part becomes a
/// string, anything else an array of hub parts.
pub(super) fn user_content_to_hub(content: &Value, at: &str) -> Result<Value, TranslateError> {
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

pub(super) fn collapse(parts: Vec<Value>) -> Value {
    if let [only] = parts.as_slice()
        && only.get("type").and_then(Value::as_str) == Some("text")
        && let Some(text) = only.get("text")
    {
        return text.clone();
    }
    Value::Array(parts)
}

/// Assistant content: (text, refusal).
pub(super) fn assistant_content_to_hub(
    content: &Value,
    at: &str,
) -> Result<(String, String), TranslateError> {
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
pub(super) fn tool_output_to_hub(
    output: Option<&Value>,
    at: &str,
) -> Result<Value, TranslateError> {
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
