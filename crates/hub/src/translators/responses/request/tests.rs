//! The typed Responses -> hub translation against the hub JSON the former JSON translator
//! wrote for the same requests (the expected values below are its output, checked by hand).

#![expect(
    clippy::too_many_lines,
    reason = "one rich request and its whole expected translation read best side by side"
)]

use serde_json::{Value, json};

use super::super::{is_custom, namespace_of};
use crate::chat::ToolChoice;
use crate::ctx::TranslateCtx;
use crate::format::Format;
use crate::pipeline::Pipeline;
use crate::provenance::wrap_text;
use crate::registry::Registry;
use crate::step::{HubRequest, RequestStep, parse_chat};

fn client_ctx() -> TranslateCtx {
    TranslateCtx::new(Format::Responses, Format::Claude, "claude-sonnet-5", true)
}

/// A request with every kind of thing a Responses client sends: instructions, developer and
/// user messages with images, files and audio, function, custom, namespaced and shell calls
/// with string, part and failure outputs, reasoning (signed, redacted, wrapped text of this
/// provider and of another), hosted tools and their history, a proxy-written compaction
/// summary, `additional_tools`, and the options the hub keeps or drops.
fn rich_request() -> Value {
    json!({
        "model": "gpt-5.5",
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "developer", "content": [
                {"type": "input_text", "text": "rule one"}, {"type": "input_text", "text": "rule two"}]},
            {"role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                {"type": "input_image", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "input_image", "file_id": "file-img"},
                {"type": "input_file", "filename": "r.pdf", "file_data": "data:application/pdf;base64,JVBE", "extra": 1},
                {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "plan"}],
             "encrypted_content": "EqQBsig=="},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Running.", "annotations": []},
                {"type": "refusal", "refusal": "not that"}]},
            {"type": "function_call", "call_id": "call_1", "name": "exec", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "spawn", "namespace": "agents",
             "arguments": {"task": "lint"}},
            {"type": "function_call", "id": "fc_3", "name": "noargs"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a\nb"},
            {"type": "function_call_output", "call_id": "call_2", "output": [
                {"type": "input_text", "text": "started"},
                {"type": "input_image", "image_url": "data:image/png;base64,BBBB"}]},
            {"type": "function_call_output", "call_id": "fc_3", "output": {"content": "failed", "success": false}},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "switchyard.redacted:UkVE"},
            {"type": "custom_tool_call", "call_id": "call_4", "name": "apply_patch", "input": "*** Begin Patch\n"},
            {"type": "local_shell_call", "call_id": "call_5", "action": {"type": "exec", "command": ["ls"]}},
            {"type": "custom_tool_call_output", "call_id": "call_4", "output": [{"type": "input_text", "text": "Done"}]},
            {"type": "local_shell_call_output", "call_id": "call_5", "output": 7},
            {"type": "reasoning", "id": "rs_3", "summary": [],
             "encrypted_content": wrap_text("own thoughts", Format::Claude)},
            {"type": "message", "role": "assistant", "content": "Okay."},
            {"type": "reasoning", "id": "rs_4", "summary": [{"type": "summary_text", "text": "theirs"}],
             "encrypted_content": wrap_text("their thoughts", Format::Gemini)},
            {"type": "compaction", "encrypted_content": super::super::compaction::wrap("the story so far")},
            {"type": "additional_tools", "tools": [
                {"type": "function", "name": "late", "parameters": {"type": "object"}},
                {"type": "function", "name": "exec"}]},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "mid"}]},
            {"type": "message", "role": "user", "content": "thanks"}
        ],
        "tools": [
            {"type": "function", "name": "exec", "description": "Run", "strict": true,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "function", "function": {"name": "chatty", "description": 5}},
            {"type": "custom", "name": "apply_patch", "description": "Patch",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
            {"type": "custom", "name": "free"},
            {"type": "namespace", "name": "agents", "tools": [
                {"type": "function", "name": "spawn", "parameters": {"type": "object"}},
                {"type": "custom", "name": "agent_patch"},
                {"type": "mcp"}]},
            {"type": "web_search_preview", "search_context_size": "low"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "tool_search"}
        ],
        "tool_choice": {"type": "function", "name": "spawn", "namespace": "agents"},
        "parallel_tool_calls": false,
        "reasoning": {"effort": "high", "summary": "auto"},
        "max_output_tokens": 4096,
        "temperature": 1,
        "top_p": 0.5,
        "text": {"format": {"type": "json_schema", "name": "out", "strict": true, "description": null,
                            "schema": {"type": "object"}}, "verbosity": "low"},
        "prompt_cache_key": "pck",
        "service_tier": "flex",
        "include": ["reasoning.encrypted_content"],
        "store": false,
        "metadata": {"k": "v"},
        "truncation": "auto",
        "user": "u1",
        "stream": true
    })
}

/// What the JSON translator wrote for [`rich_request`].
fn rich_hub() -> Value {
    json!({
        "max_tokens": 4096,
        "messages": [
            {"content": "Be brief.", "role": "system"},
            {
                "content": [{"text": "rule one", "type": "text"}, {"text": "rule two", "type": "text"}],
                "role": "system"
            },
            {
                "content": [
                    {"text": "look", "type": "text"},
                    {
                        "image_url": {"detail": "low", "url": "https://example.com/a.png"},
                        "type": "image_url"
                    },
                    {"image_url": {"url": "data:image/png;base64,AAAA"}, "type": "image_url"},
                    {"file": {"file_id": "file-img"}, "type": "file"},
                    {
                        "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "r.pdf"},
                        "type": "file"
                    },
                    {"input_audio": {"data": "UklG", "format": "wav"}, "type": "input_audio"}
                ],
                "role": "user"
            },
            {
                "content": "Running.",
                "reasoning_content": "plan",
                "reasoning_signature": "EqQBsig==",
                "refusal": "not that",
                "role": "assistant",
                "tool_calls": [
                    {
                        "function": {"arguments": "{\"cmd\":\"ls\"}", "name": "exec"},
                        "id": "call_1",
                        "type": "function"
                    },
                    {
                        "function": {"arguments": "{\"task\":\"lint\"}", "name": "agents__spawn"},
                        "id": "call_2",
                        "type": "function"
                    },
                    {
                        "function": {"arguments": "{}", "name": "noargs"},
                        "id": "fc_3",
                        "type": "function"
                    }
                ]
            },
            {"content": "a\nb", "role": "tool", "tool_call_id": "call_1"},
            {
                "content": [
                    {"text": "started", "type": "text"},
                    {"image_url": {"url": "data:image/png;base64,BBBB"}, "type": "image_url"}
                ],
                "role": "tool",
                "tool_call_id": "call_2"
            },
            {"content": "failed", "role": "tool", "tool_call_id": "fc_3"},
            {
                "content": null,
                "redacted_reasoning": "UkVE",
                "role": "assistant",
                "tool_calls": [
                    {
                        "function": {"arguments": "{\"input\":\"*** Begin Patch\\n\"}", "name": "apply_patch"},
                        "id": "call_4",
                        "type": "function"
                    },
                    {
                        "function": {
                            "arguments": "{\"command\":[\"ls\"],\"type\":\"exec\"}",
                            "name": "local_shell"
                        },
                        "id": "call_5",
                        "type": "function"
                    }
                ]
            },
            {"content": "Done", "role": "tool", "tool_call_id": "call_4"},
            {"content": "7", "role": "tool", "tool_call_id": "call_5"},
            {"content": "Okay.", "reasoning_content": "own thoughts", "role": "assistant"},
            {
                "content": "Earlier turns of this conversation were compacted. Summary of the conversation so far:\n\nthe story so far",
                "role": "system"
            },
            {"content": "mid", "role": "system"},
            {"content": "thanks", "role": "user"}
        ],
        "model": "gpt-5.5",
        "parallel_tool_calls": false,
        "prompt_cache_key": "pck",
        "reasoning_effort": "high",
        "response_format": {"json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}, "type": "json_schema"},
        "service_tier": "flex",
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 1,
        "tool_choice": {"function": {"name": "agents__spawn"}, "type": "function"},
        "tools": [
            {
                "function": {
                    "description": "Run",
                    "name": "exec",
                    "parameters": {"properties": {"cmd": {"type": "string"}}, "type": "object"},
                    "strict": true
                },
                "type": "function"
            },
            {
                "function": {"name": "chatty", "parameters": {"properties": {}, "type": "object"}},
                "type": "function"
            },
            {
                "function": {
                    "description": "Patch",
                    "name": "apply_patch",
                    "parameters": {
                        "additionalProperties": false,
                        "properties": {
                            "input": {
                                "description": "The raw input of the tool, passed on verbatim. It must follow this lark grammar:\nstart: x",
                                "type": "string"
                            }
                        },
                        "required": ["input"],
                        "type": "object"
                    }
                },
                "type": "function"
            },
            {
                "function": {
                    "name": "free",
                    "parameters": {
                        "additionalProperties": false,
                        "properties": {
                            "input": {
                                "description": "The raw input of the tool, passed on verbatim as free-form text.",
                                "type": "string"
                            }
                        },
                        "required": ["input"],
                        "type": "object"
                    }
                },
                "type": "function"
            },
            {
                "function": {"name": "agents__spawn", "parameters": {"type": "object"}},
                "type": "function"
            },
            {
                "function": {
                    "name": "agent_patch",
                    "parameters": {
                        "additionalProperties": false,
                        "properties": {
                            "input": {
                                "description": "The raw input of the tool, passed on verbatim as free-form text.",
                                "type": "string"
                            }
                        },
                        "required": ["input"],
                        "type": "object"
                    }
                },
                "type": "function"
            },
            {
                "hosted": {
                    "from": "responses",
                    "kind": "web_search",
                    "tool": {"search_context_size": "low", "type": "web_search_preview"}
                },
                "type": "hosted"
            },
            {
                "hosted": {
                    "from": "responses",
                    "kind": "file_search",
                    "tool": {"type": "file_search", "vector_store_ids": ["vs_1"]}
                },
                "type": "hosted"
            },
            {"function": {"name": "late", "parameters": {"type": "object"}}, "type": "function"}
        ],
        "top_p": 0.5
    })
}

/// The typed translation is the very request the pipeline parsed from the JSON translator's
/// output, and serialises to that output.
#[test]
fn rich_request_translates_as_the_json_translator_did() {
    let mut ctx = client_ctx();
    let typed = super::responses_into_hub(rich_request(), &mut ctx).unwrap();
    assert_eq!(typed, parse_chat(rich_hub()).unwrap());
    let json = HubRequest::Chat(Box::new(typed)).into_value().unwrap();
    assert_eq!(json, rich_hub());

    assert!(ctx.carry_reasoning, "include asks for encrypted reasoning");
    assert!(ctx.client_wants_usage, "a stream always reports usage");
    assert!(is_custom(&ctx.tool_names, "apply_patch"));
    assert!(is_custom(&ctx.tool_names, "agent_patch"));
    assert_eq!(
        namespace_of(&ctx.tool_names, "agents__spawn"),
        Some(("agents".to_owned(), "spawn".to_owned()))
    );
}

/// Each form of `tool_choice` -> its hub form, as the JSON translator wrote it.
#[test]
fn tool_choice_forms_translate_as_the_json_translator_did() {
    let named = |name: &str| json!({"type": "function", "function": {"name": name}});
    let cases = [
        (json!("auto"), json!("auto")),
        (json!("none"), json!("none")),
        (json!("required"), json!("required")),
        (json!({"type": "function", "name": "f"}), named("f")),
        (
            json!({"type": "custom", "name": "apply_patch"}),
            named("apply_patch"),
        ),
        (
            json!({"type": "function", "name": "spawn", "namespace": "agents"}),
            named("agents__spawn"),
        ),
        (
            json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]}),
            json!("required"),
        ),
        (
            json!({"type": "allowed_tools", "mode": "auto", "tools": []}),
            json!("auto"),
        ),
        (json!({"type": "web_search_preview"}), json!("auto")),
    ];
    for (choice, expected) in cases {
        let body = json!({"input": "hi", "tool_choice": choice,
            "tools": [{"type": "function", "name": "f"}]});
        let typed = super::responses_into_hub(body, &mut client_ctx()).unwrap();
        let want: ToolChoice = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(typed.tool_choice.as_ref(), Some(&want), "{choice}");
        let json = HubRequest::Chat(Box::new(typed)).into_value().unwrap();
        assert_eq!(json["tool_choice"], expected, "{choice}");
    }
    for (choice, needle) in [
        (json!("sometimes"), "not one of auto, none, required"),
        (json!({"type": "function"}), "needs a `name`"),
        (json!(5), "string or an object"),
    ] {
        let body = json!({"input": "hi", "tool_choice": choice,
            "tools": [{"type": "function", "name": "f"}]});
        let err = super::responses_into_hub(body, &mut client_ctx()).unwrap_err();
        assert!(err.to_string().contains(needle), "{choice}: {err}");
    }
    // Without tools there is no choice to make (and none is checked).
    let body = json!({"input": "hi", "tool_choice": "sometimes", "parallel_tool_calls": true});
    let typed = super::responses_into_hub(body, &mut client_ctx()).unwrap();
    assert_eq!(typed.tool_choice, None);
    assert_eq!(typed.parallel_tool_calls, None);
}

/// A compaction request keeps its tools but calls none of them.
#[test]
fn compaction_keeps_the_tools_and_chooses_none() {
    let body = json!({"input": [{"role": "user", "content": "hi"}, {"type": "compaction_trigger"}],
        "tools": [{"type": "function", "name": "f"}], "tool_choice": "required"});
    let mut ctx = client_ctx();
    let typed = super::responses_into_hub(body, &mut ctx).unwrap();
    assert!(ctx.compaction);
    assert_eq!(typed.tool_choice, Some(ToolChoice::Mode("none".to_owned())));
    assert_eq!(typed.tools.map(|t| t.len()), Some(1));
    assert_eq!(typed.messages.len(), 2);
}

/// The registered Responses -> hub step builds the typed hub, and a Claude provider gets the
/// body it got from the JSON translator's hub request.
#[test]
fn responses_reach_claude_without_hub_json() {
    let registry = Registry::load().unwrap();
    let into = registry.request(Format::Responses, Format::OpenAi).unwrap();
    assert!(matches!(into, RequestStep::IntoHub(_)));
    let pipeline = Pipeline::new(&registry, Format::Responses, Format::Claude, true, true).unwrap();
    let mut ctx = client_ctx();
    let typed = pipeline
        .request_to_hub(for_claude(rich_request()), &mut ctx)
        .unwrap();
    assert!(matches!(typed, HubRequest::Chat(_)));
    let via_typed = pipeline.request_to_provider(typed, &mut ctx).unwrap();
    let mut json_ctx = client_ctx();
    super::responses_into_hub(for_claude(rich_request()), &mut json_ctx).unwrap();
    let via_json = pipeline
        .request_to_provider(HubRequest::Json(for_claude(rich_hub())), &mut json_ctx)
        .unwrap();
    assert_eq!(via_typed, via_json);
    let last_tool = via_typed["tools"].as_array().and_then(|t| t.last());
    assert_eq!(
        last_tool,
        Some(&json!({"type": "web_search_20250305", "name": "web_search"})),
        "the hosted web search reaches Claude in its form"
    );
}

/// A request (Responses or hub) without what Claude refuses: the file search tool, files
/// given by id and audio.
fn for_claude(mut body: Value) -> Value {
    if let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut) {
        tools.retain(|t| t["type"] != "file_search" && t["hosted"]["kind"] != "file_search");
    }
    let refused = |p: &Value| {
        p.get("file_id").is_some()
            || p["file"].get("file_id").is_some()
            || p["type"] == "input_audio"
    };
    for key in ["input", "messages"] {
        for item in body[key].as_array_mut().into_iter().flatten() {
            if let Some(parts) = item.get_mut("content").and_then(Value::as_array_mut) {
                parts.retain(|p| !refused(p));
            }
        }
    }
    body
}
