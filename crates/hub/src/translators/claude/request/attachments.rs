//! Claude images, documents and tool results -> hub parts and tool messages.

use serde_json::{Value, json};

use super::to_hub::{message, text_part};
use super::{block_type, cache_control_to_extra, required_str};
use crate::chat::{Content, Message, Part};
use crate::error::TranslateError;
use crate::translators::claude::str_of;

pub(super) fn image_to_part(b: &Value, path: &str) -> Result<Part, TranslateError> {
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
    let mut extra = cache_control_to_extra(b);
    extra.insert("image_url".into(), json!({"url": url}));
    Ok(Part {
        text: None,
        kind: "image_url".to_owned(),
        extra,
    })
}

pub(super) fn document_to_parts(b: &Value, path: &str) -> Result<Vec<Part>, TranslateError> {
    let source = b.get("source").filter(|s| s.is_object()).ok_or_else(|| {
        TranslateError::invalid(format!("{path}.source: required, must be an object"))
    })?;
    let sp = format!("{path}.source");
    match str_of(source, "type") {
        Some("base64") => {
            let media = str_of(source, "media_type").unwrap_or("application/pdf");
            let data = required_str(source, "data", &sp)?;
            let filename = str_of(b, "title").unwrap_or("document.pdf");
            let mut extra = cache_control_to_extra(b);
            extra.insert(
                "file".into(),
                json!({"filename": filename, "file_data": format!("data:{media};base64,{data}")}),
            );
            Ok(vec![Part {
                text: None,
                kind: "file".to_owned(),
                extra,
            }])
        }
        Some("text") => Ok(vec![text_part(required_str(source, "data", &sp)?, b)]),
        Some("content") => document_content(b, source, &sp),
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

/// A `content` document source: a string or text and image blocks.
fn document_content(b: &Value, source: &Value, sp: &str) -> Result<Vec<Part>, TranslateError> {
    match source.get("content") {
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
    }
}

/// A `tool_result` block -> a hub tool message, plus any attachments it carried.
pub(super) fn tool_result_to_hub(
    b: &Value,
    path: &str,
) -> Result<(Message, Vec<Part>), TranslateError> {
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
        Content::Parts(vec![text_part(&text, b)])
    } else {
        Content::Text(text)
    };
    let mut msg = message("tool", Some(content));
    msg.tool_call_id = Some(id.to_owned());
    Ok((msg, attachments))
}
