//! Inputs shared by the micro-benchmarks of the hub and the provider crates (included with
//! `#[path]`), so every translator is measured on the same Claude Code-sized request.

use serde_json::{Value, json};
use switchyard_hub::{Format, Registry, TranslateCtx};

/// A request the size Claude Code sends deep into a session (~120 KB): the recorded request
/// plus a long system prompt, 16 more tools and 40 tool-using turns.
pub fn claude_code_large() -> Value {
    let mut req: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/claude/claude_code_request.json"
    ))
    .unwrap();
    let prose = "Follow the repository's conventions, read before you write, keep changes small \
                 and explain what you did. ";
    req["system"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "text", "text": prose.repeat(120)}));
    let tools = req["tools"].as_array_mut().unwrap();
    for i in 0..16 {
        tools.push(json!({
            "name": format!("Tool{i}"),
            "description": format!("Tool number {i}. {}", prose.repeat(12)),
            "input_schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "An absolute path"},
                    "pattern": {"type": "string", "description": "A glob or regular expression"},
                    "limit": {"type": "integer", "minimum": 1},
                    "mode": {"type": "string", "enum": ["content", "files", "count"]},
                    "flags": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["path"],
                "additionalProperties": false
            }
        }));
    }
    let code = "fn main() {\n    println!(\"hello, world\");\n}\n".repeat(30);
    let messages = req["messages"].as_array_mut().unwrap();
    for i in 0..40 {
        let id = format!("toolu_bench_{i:04}");
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": format!("Step {i}: reading the next file.")},
            {"type": "tool_use", "id": id, "name": "Read", "input": {"file_path": format!("/src/file_{i}.rs")}}
        ]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": code}
        ]}));
    }
    messages.push(json!({"role": "user", "content": "Now fix the failing test."}));
    req
}

/// [`claude_code_large`] in the hub format, as a provider-bound translator receives it.
pub fn hub_large(registry: &Registry) -> Value {
    let f = registry.request(Format::Claude, Format::OpenAi).unwrap();
    let mut ctx = TranslateCtx::new(Format::Claude, Format::OpenAi, "bench-model", true);
    f.apply_json(claude_code_large(), &mut ctx).unwrap()
}
