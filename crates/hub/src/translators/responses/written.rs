//! The Responses stream's objects written straight to JSON text (no `Value`): the response
//! snapshot of the opening and terminal events, message items and their content parts.
//!
//! Keys go in the sorted order a `Value` writes them (`serde_json`'s `Map` is sorted), so
//! each writer gives the very bytes of the `Value` builder it stands for in `response.rs`
//! (`response_object`, `output_text`); the tests hold them to that.

use crate::stream::JsonObject;

/// The parts of a `response` object that vary; `incomplete`, `error`, `output` and `usage`
/// are compact JSON (`null` when absent).
pub(super) struct ResponseText<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub status: &'a str,
    pub incomplete: &'a str,
    pub error: &'a str,
    pub output: &'a str,
    pub usage: &'a str,
}

/// `response_object` as text.
pub(super) fn response(p: &ResponseText<'_>) -> String {
    JsonObject::with_capacity(p.output.len() + p.usage.len() + 560)
        .raw("background", "false")
        .uint("created_at", p.created)
        .raw("error", p.error)
        .str("id", p.id)
        .raw("incomplete_details", p.incomplete)
        .raw("instructions", "null")
        .raw("max_output_tokens", "null")
        .raw("metadata", "{}")
        .str("model", p.model)
        .str("object", "response")
        .raw("output", p.output)
        .raw("parallel_tool_calls", "true")
        .raw("previous_response_id", "null")
        .raw("reasoning", r#"{"effort":null,"summary":null}"#)
        .str("status", p.status)
        .raw("store", "false")
        .raw("temperature", "null")
        .raw("text", r#"{"format":{"type":"text"}}"#)
        .str("tool_choice", "auto")
        .raw("tools", "[]")
        .raw("top_p", "null")
        .str("truncation", "disabled")
        .raw("usage", p.usage)
        .finish()
}

/// A message content part: `output_text` or, with `refusal`, a `refusal` part.
pub(super) fn part(refusal: bool, text: &str) -> String {
    let mut json = JsonObject::with_capacity(text.len() + 72);
    if refusal {
        json.str("refusal", text).str("type", "refusal");
    } else {
        json.raw("annotations", "[]")
            .raw("logprobs", "[]")
            .str("text", text)
            .str("type", "output_text");
    }
    json.finish()
}

/// An assistant `message` item; `content` is its parts' JSON array.
pub(super) fn message(id: &str, status: &str, content: &str) -> String {
    JsonObject::with_capacity(content.len() + 96)
        .raw("content", content)
        .str("id", id)
        .str("role", "assistant")
        .str("status", status)
        .str("type", "message")
        .finish()
}

/// A JSON array of objects already written.
pub(super) fn array<'a>(objects: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, object) in objects.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(object);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::response::{ResponseParts, output_text, response_object};
    use super::*;

    /// Text that needs escaping, so a writer that skipped it would show.
    const AWKWARD: &str = "a \"quote\"\\ line\nbreak \u{e9}\u{1} </script>";

    #[test]
    fn a_part_is_what_its_value_writes() {
        for text in ["", AWKWARD] {
            assert_eq!(part(false, text), output_text(text).to_string());
            let refusal = json!({ "type": "refusal", "refusal": text });
            assert_eq!(part(true, text), refusal.to_string());
        }
    }

    #[test]
    fn a_message_is_what_its_value_writes() {
        let parts = [part(false, AWKWARD), part(true, "no")];
        let content = array(parts.iter().map(String::as_str));
        let value = json!({
            "id": "msg_\"1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [output_text(AWKWARD), { "type": "refusal", "refusal": "no" }],
        });
        assert_eq!(message("msg_\"1", "completed", &content), value.to_string());
        assert_eq!(array(std::iter::empty()), "[]");
    }

    #[test]
    fn a_response_is_what_its_value_writes() {
        let item = json!({ "id": "fc_1", "type": "function_call", "arguments": "{\"a\":1}" });
        let usage = json!({ "input_tokens": 3, "output_tokens": 4, "total_tokens": 7 });
        let error = json!({ "code": "server_error", "message": AWKWARD });
        let incomplete = json!({ "reason": "max_output_tokens" });
        let cases = [
            (vec![], Value::Null, Value::Null, Value::Null),
            (vec![item.clone(), item], usage, error, incomplete),
        ];
        for (output, usage, error, incomplete) in cases {
            let value = response_object(ResponseParts {
                id: "resp_\"x",
                created: 1_700_000_000,
                model: AWKWARD,
                status: "incomplete",
                incomplete: incomplete.clone(),
                error: error.clone(),
                output: output.clone(),
                usage: usage.clone(),
            });
            let output = Value::Array(output).to_string();
            let text = response(&ResponseText {
                id: "resp_\"x",
                created: 1_700_000_000,
                model: AWKWARD,
                status: "incomplete",
                incomplete: &incomplete.to_string(),
                error: &error.to_string(),
                output: &output,
                usage: &usage.to_string(),
            });
            assert_eq!(text, value.to_string());
        }
    }
}
