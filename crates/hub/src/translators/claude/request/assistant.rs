//! Claude assistant turns -> hub assistant messages. One hub message carries at most one
//! thinking block, so a turn with several becomes several consecutive hub messages.

use serde_json::{Value, json};

use super::to_hub::{content_blocks, message, text_part};
use super::{block_type, required_str};
use crate::chat::{Content, FunctionCall, Message, Part, ToolCall};
use crate::error::TranslateError;
use crate::translators::claude::str_of;

/// One hub assistant message in the making: at most one thinking block, then text and calls.
#[derive(Default)]
struct Segment {
    reasoning: Option<String>,
    signature: Option<String>,
    redacted: Option<String>,
    texts: Vec<Part>,
    tool_calls: Vec<ToolCall>,
}

impl Segment {
    fn is_empty(&self) -> bool {
        self.reasoning.is_none()
            && self.redacted.is_none()
            && self.texts.is_empty()
            && self.tool_calls.is_empty()
    }

    fn flush_if_nonempty(&mut self, out: &mut Vec<Message>) {
        if !self.is_empty() {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        let seg = std::mem::take(self);
        if seg.is_empty() {
            return;
        }
        let keep_parts = seg
            .texts
            .iter()
            .any(|p| p.extra.contains_key("cache_control"));
        let content = if keep_parts {
            Some(Content::Parts(seg.texts))
        } else if seg.texts.is_empty() && !seg.tool_calls.is_empty() {
            None
        } else {
            Some(Content::Text(
                seg.texts.iter().filter_map(|p| p.text.as_deref()).collect(),
            ))
        };
        let mut msg = message("assistant", content);
        msg.reasoning_content = seg.reasoning.map(Some);
        if let Some(s) = seg.signature {
            msg.extra
                .insert("reasoning_signature".into(), Value::String(s));
        }
        if let Some(d) = seg.redacted {
            msg.extra
                .insert("redacted_reasoning".into(), Value::String(d));
        }
        if !seg.tool_calls.is_empty() {
            msg.tool_calls = Some(Some(seg.tool_calls));
        }
        out.push(msg);
    }
}

pub(super) fn assistant_to_hub(
    content: &Value,
    path: &str,
    out: &mut Vec<Message>,
) -> Result<(), TranslateError> {
    let Some(blocks) = content_blocks(content, "assistant", path, out)? else {
        return Ok(());
    };
    let mut seg = Segment::default();
    for (j, b) in blocks.iter().enumerate() {
        block_to_hub(b, &format!("{path}[{j}]"), &mut seg, out)?;
    }
    seg.flush(out);
    Ok(())
}

fn block_to_hub(
    b: &Value,
    p: &str,
    seg: &mut Segment,
    out: &mut Vec<Message>,
) -> Result<(), TranslateError> {
    match block_type(b, p)? {
        "thinking" => {
            seg.flush_if_nonempty(out);
            seg.reasoning = Some(required_str(b, "thinking", p)?.to_owned());
            seg.signature = str_of(b, "signature")
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
        }
        "redacted_thinking" => {
            seg.flush_if_nonempty(out);
            seg.redacted = Some(required_str(b, "data", p)?.to_owned());
        }
        "text" => seg.texts.push(text_part(required_str(b, "text", p)?, b)),
        "tool_use" => seg.tool_calls.push(tool_use_to_hub(b, p)?),
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
    Ok(())
}

fn tool_use_to_hub(b: &Value, p: &str) -> Result<ToolCall, TranslateError> {
    let id = required_str(b, "id", p)?;
    let name = required_str(b, "name", p)?;
    let arguments = match b.get("input") {
        Some(input) => input.to_string(),
        None => json!({}).to_string(),
    };
    Ok(ToolCall {
        function: Some(FunctionCall {
            arguments: Some(arguments),
            name: Some(name.to_owned()),
            ..FunctionCall::default()
        }),
        id: Some(id.to_owned()),
        kind: Some("function".to_owned()),
        ..ToolCall::default()
    })
}
