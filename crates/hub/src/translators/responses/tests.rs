//! Tests for the Responses translators, against fixtures written from the public wire formats
//! (`crates/hub/tests/fixtures/responses/`).

#![expect(
    clippy::too_many_lines,
    reason = "a test that lists a whole request and checks every part of its translation reads best in one place; the 100-line limit is for production code"
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::stream::InputDecoder;
use super::{REDACTED_PREFIX, is_custom, mark_custom, namespace_of};
use crate::ctx::TranslateCtx;
use crate::error::{ApiError, ErrorKind, TranslateError};
use crate::format::Format;
use crate::stream::{StreamEvent, StreamStage, parse_sse_text, run_stage};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/responses/", $name))
    };
}

fn json_fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// A Codex client in front of some non-Responses provider.
fn client_ctx() -> TranslateCtx {
    TranslateCtx::new(Format::Responses, Format::Claude, "claude-sonnet-5", true)
}

/// Some non-Responses client in front of a Responses provider: a chat client, whose
/// untagged signatures (the fixtures' Responses `id|encrypted` pairs) have no presumed origin.
/// A JSON hub request into Responses, parsed as the pipeline parses it.
fn hub_json_to_responses(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    super::request::hub_to_responses(crate::step::parse_chat(body)?, ctx)
}

fn provider_ctx() -> TranslateCtx {
    TranslateCtx::new(Format::OpenAi, Format::Responses, "gpt-5.5", true)
}

/// The ctx after translating the Codex fixture (custom and namespace tools remembered).
fn codex_ctx() -> (Value, TranslateCtx) {
    let mut ctx = client_ctx();
    let hub =
        super::request::responses_to_hub(json_fixture(fixture!("codex_request.json")), &mut ctx)
            .unwrap();
    (hub, ctx)
}

fn run(stage: &mut dyn StreamStage, sse: &str) -> Vec<StreamEvent> {
    run_stage(stage, parse_sse_text(sse).unwrap()).unwrap()
}

fn types(events: &[StreamEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.data["type"].as_str().unwrap())
        .collect()
}

/// Every client event is named like its `type` and numbered 0, 1, 2, ...
fn check_envelope(events: &[StreamEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event.as_deref(), e.data["type"].as_str(), "event {i}");
        assert_eq!(e.data["sequence_number"], json!(i), "event {i}");
    }
}

fn of_type<'a>(events: &'a [StreamEvent], ty: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e.data["type"] == ty)
        .map(|e| &*e.data)
        .collect()
}

/// What a hub stream adds up to.
#[derive(Debug, Default)]
struct HubSum {
    roles: usize,
    content: String,
    reasoning: String,
    refusal: String,
    signatures: Vec<String>,
    redacted: Vec<String>,
    /// index -> (id, name, arguments)
    tools: BTreeMap<u64, (String, String, String)>,
    finishes: Vec<String>,
    usage: Vec<Value>,
    errors: Vec<Value>,
}

fn sum_hub(events: &[StreamEvent]) -> HubSum {
    let mut s = HubSum::default();
    for e in events {
        assert!(e.event.is_none(), "hub chunks carry no event name");
        let d: &Value = &e.data;
        if d.get("error").is_some() {
            s.errors.push(d.clone());
            continue;
        }
        assert_eq!(d["object"], "chat.completion.chunk");
        if let Some(u) = d.get("usage").filter(|u| !u.is_null()) {
            assert_eq!(
                d["choices"],
                json!([]),
                "usage rides on a chunk without choices"
            );
            s.usage.push(u.clone());
        }
        for c in d["choices"].as_array().unwrap() {
            let delta = &c["delta"];
            if delta.get("role").is_some() {
                s.roles += 1;
            }
            let text = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or_default();
            s.content.push_str(text("content"));
            s.reasoning.push_str(text("reasoning_content"));
            s.refusal.push_str(text("refusal"));
            if let Some(sig) = delta.get("reasoning_signature").and_then(Value::as_str) {
                s.signatures.push(sig.to_owned());
            }
            if let Some(r) = delta.get("redacted_reasoning").and_then(Value::as_str) {
                s.redacted.push(r.to_owned());
            }
            for tc in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let idx = tc["index"].as_u64().unwrap();
                let entry = s.tools.entry(idx).or_insert_with(|| {
                    assert_eq!(tc["type"], "function", "first sight names the call");
                    (
                        tc["id"].as_str().unwrap().to_owned(),
                        tc["function"]["name"].as_str().unwrap().to_owned(),
                        String::new(),
                    )
                });
                entry
                    .2
                    .push_str(tc["function"]["arguments"].as_str().unwrap_or_default());
            }
            if let Some(f) = c.get("finish_reason").and_then(Value::as_str) {
                s.finishes.push(f.to_owned());
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Requests: Responses -> hub
// ---------------------------------------------------------------------------------------------

#[test]
fn codex_request_becomes_hub_messages() {
    let (hub, ctx) = codex_ctx();
    let m = hub["messages"].as_array().unwrap();
    let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "system",
            "system",
            "user",
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
            "user"
        ]
    );
    // Developer messages are system messages; one text part collapses to a string.
    assert_eq!(
        m[0]["content"],
        "You are Codex, a coding agent based on GPT-5. You and the user share the same workspace."
    );
    assert_eq!(m[1]["content"].as_array().unwrap().len(), 2);
    assert_eq!(
        m[1]["content"][1]["text"],
        "<skills_instructions>none</skills_instructions>"
    );
    assert_eq!(m[3]["content"], "run echo and then patch hello.txt");

    // Reasoning + function call fold into one assistant message; the signature is kept.
    assert_eq!(m[4]["content"], Value::Null);
    assert_eq!(m[4]["reasoning_content"], "Thinking about running echo");
    assert_eq!(m[4]["reasoning_signature"], "EqQBCkYIBxgCKkBsig+/==");
    assert_eq!(
        m[4]["tool_calls"],
        json!([{
            "id": "call_E1cho", "type": "function",
            "function": {
                "name": "exec_command",
                "arguments": "{\"cmd\":\"echo codex-tool-ok\",\"workdir\":\"/work/demo\"}"
            }
        }])
    );
    assert_eq!(m[5]["tool_call_id"], "call_E1cho");
    assert!(
        m[5]["content"]
            .as_str()
            .unwrap()
            .ends_with("Output:\ncodex-tool-ok\n")
    );

    // Redacted thinking and the custom tool call (input wrapped as {"input": ...}).
    assert_eq!(m[6]["redacted_reasoning"], "RlJFREFDVEVE");
    assert!(m[6].get("reasoning_signature").is_none());
    let call = &m[6]["tool_calls"][0];
    assert_eq!(call["id"], "call_P4tch");
    assert_eq!(call["function"]["name"], "apply_patch");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        args,
        json!({"input": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"})
    );
    assert_eq!(m[7]["tool_call_id"], "call_P4tch");

    // Namespaced call flattened; array output keeps its image.
    assert_eq!(
        m[8]["tool_calls"][0]["function"]["name"],
        "multi_agent_v1__spawn_agent"
    );
    assert_eq!(
        m[9]["content"],
        json!([
            {"type": "text", "text": "agent started"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        ])
    );
    assert_eq!(m[10]["content"], "Done: echoed and patched.");
    assert_eq!(m[11]["content"], "thanks, now summarize");

    // Tools: function + custom + namespace kept, web search carried as a hosted tool,
    // tool_search dropped.
    let hosted: Vec<&Value> = hub["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "hosted")
        .collect();
    assert_eq!(hosted.len(), 1);
    assert_eq!(hosted[0]["hosted"]["kind"], "web_search");
    let names: Vec<&str> = hub["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "function")
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "write_stdin",
            "apply_patch",
            "multi_agent_v1__spawn_agent"
        ]
    );
    let patch = &hub["tools"][2]["function"];
    assert_eq!(patch["parameters"]["required"], json!(["input"]));
    assert_eq!(patch["parameters"]["properties"]["input"]["type"], "string");
    assert!(
        patch["parameters"]["properties"]["input"]["description"]
            .as_str()
            .unwrap()
            .contains("start: begin_patch hunk+ end_patch")
    );
    assert_eq!(hub["tools"][0]["function"]["strict"], false);

    assert_eq!(hub["model"], "gpt-5.5");
    assert_eq!(hub["tool_choice"], "auto");
    assert_eq!(hub["parallel_tool_calls"], true);
    assert_eq!(hub["reasoning_effort"], "medium");
    assert_eq!(hub["stream"], true);
    assert_eq!(hub["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        hub["prompt_cache_key"],
        "019a8c1e-7b2d-7f10-9c3e-5d4f3a2b1c0d"
    );
    for gone in [
        "input",
        "instructions",
        "store",
        "include",
        "text",
        "client_metadata",
        "reasoning",
    ] {
        assert!(hub.get(gone).is_none(), "{gone} must not reach the hub");
    }

    assert!(ctx.client_wants_usage);
    assert!(is_custom(&ctx.tool_names, "apply_patch"));
    assert!(!is_custom(&ctx.tool_names, "exec_command"));
    assert_eq!(
        namespace_of(&ctx.tool_names, "multi_agent_v1__spawn_agent"),
        Some(("multi_agent_v1".to_owned(), "spawn_agent".to_owned()))
    );
    // The private marks never rename a real tool.
    assert_eq!(ctx.tool_names.provider_name("apply_patch"), "apply_patch");
    assert_eq!(ctx.tool_names.client_name("apply_patch"), "apply_patch");
}

#[test]
fn sdk_request_with_images_files_and_structured_output() {
    let mut ctx = client_ctx();
    let hub = super::request::responses_to_hub(
        json_fixture(fixture!("sdk_multimodal_request.json")),
        &mut ctx,
    )
    .unwrap();
    let m = hub["messages"].as_array().unwrap();
    assert_eq!(
        m[0],
        json!({"role": "system", "content": "Answer in JSON."})
    );
    assert_eq!(
        m[1]["content"],
        json!([
            {"type": "text", "text": "Compare these."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg==", "detail": "auto"}},
            {"type": "file", "file": {"file_id": "file-img123"}},
            {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
            {"type": "file", "file": {"file_id": "file-pdf456"}}
        ])
    );
    assert_eq!(m[2], json!({"role": "assistant", "content": "Sure."}));
    assert_eq!(m[3], json!({"role": "user", "content": "Go on."}));
    assert_eq!(
        hub["tools"][1]["hosted"]["tool"]["type"], "file_search",
        "file_search carried as a hosted tool"
    );
    assert_eq!(hub["tools"][0]["function"]["strict"], true);
    assert_eq!(
        hub["tool_choice"],
        json!({"type": "function", "function": {"name": "lookup"}})
    );
    assert_eq!(hub["max_tokens"], 2048);
    assert_eq!(hub["temperature"], 0.2);
    assert_eq!(hub["top_p"], 0.9);
    assert_eq!(
        hub["response_format"],
        json!({"type": "json_schema", "json_schema": {
            "name": "comparison", "strict": true,
            "schema": {"type": "object", "properties": {"winner": {"type": "string"}},
                       "required": ["winner"], "additionalProperties": false}
        }})
    );
    assert_eq!(hub["stream"], false);
    assert!(hub.get("stream_options").is_none());
    assert!(hub.get("metadata").is_none());
    assert!(hub.get("store").is_none());
}

#[test]
fn string_input_and_json_object_format() {
    let mut ctx = client_ctx();
    let hub = super::request::responses_to_hub(
        json!({"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}},
               "tools": [{"type": "web_search"}], "tool_choice": "required"}),
        &mut ctx,
    )
    .unwrap();
    assert_eq!(hub["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(hub["response_format"], json!({"type": "json_object"}));
    // Every tool was hosted: for a provider without web search it is refused, by name.
    assert_eq!(
        hub["tools"][0]["hosted"]["tool"],
        json!({"type": "web_search"})
    );
    let mut hub = hub;
    let err = crate::hosted::take_for(Format::named("kiro"), &mut hub).unwrap_err();
    assert!(err.to_string().contains("`web_search`"), "{err}");
}

#[test]
fn each_reasoning_item_starts_an_assistant_message() {
    let mut ctx = client_ctx();
    let hub = super::request::responses_to_hub(
        json!({"input": [
            {"role": "user", "content": "q"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "a"}], "encrypted_content": "S1"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "first"}]},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "S2"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": {"content": "failed", "success": false}}
        ]}),
        &mut ctx,
    )
    .unwrap();
    let m = hub["messages"].as_array().unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m[1]["reasoning_signature"], "S1");
    assert_eq!(m[1]["content"], "first");
    assert_eq!(m[2]["reasoning_content"], "");
    assert_eq!(m[2]["reasoning_signature"], "S2");
    assert_eq!(m[2]["tool_calls"][0]["id"], "c1");
    assert_eq!(m[3]["content"], "failed");
}

#[test]
fn bad_requests_name_the_problem() {
    let cases = [
        (json!([]), "JSON object"),
        (
            json!({"input": [{"type": "mystery_item"}]}),
            "input[0]: unsupported item type `mystery_item`",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "item_reference",
        ),
        (
            json!({"input": "hi", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_video", "url": "x"}]}]}),
            "input[0].content[0]: unsupported content part type `input_video`",
        ),
        (
            json!({"input": [{"type": "function_call_output", "output": "x"}]}),
            "call_id",
        ),
        (
            json!({"input": [{"role": "tool", "content": "x"}]}),
            "role `tool`",
        ),
        (json!({"input": []}), "empty"),
        (json!({"input": 5}), "`input`"),
        (
            json!({"input": "x", "tools": [{"type": "function"}]}),
            "tools[0]",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}),
            "image_url",
        ),
    ];
    for (body, needle) in cases {
        let err = super::request::responses_to_hub(body.clone(), &mut client_ctx()).unwrap_err();
        let TranslateError::InvalidRequest(msg) = &err else {
            panic!("{body}: expected InvalidRequest, got {err:?}");
        };
        assert!(msg.contains(needle), "{body}: `{msg}` lacks `{needle}`");
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: hub -> Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn service_tier_crosses_the_hub_both_ways() {
    let mut ctx = client_ctx();
    let hub = super::request::responses_to_hub(
        json!({"model": "m", "input": "hi", "service_tier": "priority"}),
        &mut ctx,
    )
    .unwrap();
    assert_eq!(hub["service_tier"], "priority");
    let mut ctx = provider_ctx();
    let req = hub_json_to_responses(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "service_tier": "flex"}),
        &mut ctx,
    )
    .unwrap();
    assert_eq!(req["service_tier"], "flex");
    let req = hub_json_to_responses(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "service_tier": 3}),
        &mut ctx,
    )
    .unwrap();
    assert!(req.get("service_tier").is_none());
}

#[test]
fn hub_request_becomes_responses_request() {
    let mut ctx = provider_ctx();
    let req = hub_json_to_responses(json_fixture(fixture!("hub_request.json")), &mut ctx).unwrap();
    assert_eq!(req["model"], "gpt-5.5");
    assert_eq!(req["instructions"], "You are Claude Code.\n\nBe concise.");
    assert_eq!(req["store"], false);
    assert_eq!(req["stream"], true);
    let input = req["input"].as_array().unwrap();
    let kinds: Vec<String> = input
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i.get("role").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message:user",
            "reasoning:",
            "reasoning:",
            "message:assistant",
            "function_call:",
            "function_call:",
            "function_call_output:",
            "function_call_output:",
            "message:assistant",
            "message:developer",
            "message:user"
        ]
    );
    assert_eq!(
        input[0]["content"],
        json!([
            {"type": "input_text", "text": "What is in this image?"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
            {"type": "input_image", "image_url": "https://example.com/dog.jpg", "detail": "auto"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}
        ])
    );
    // Encrypted reasoning replays with the item ids it was bound to.
    assert_eq!(
        input[1],
        json!({"type": "reasoning", "id": "rs_abc123",
               "summary": [{"type": "summary_text", "text": "Check the image."}],
               "encrypted_content": "gAAAAABenc1=="})
    );
    assert_eq!(input[2]["id"], "rs_def456");
    assert_eq!(input[2]["summary"], json!([]));
    assert_eq!(
        input[3]["content"],
        json!([{"type": "output_text", "text": "Let me look.", "annotations": []}])
    );
    // An invalid function name is renamed, recorded, and used for history and tool_choice.
    assert_eq!(input[4]["name"], "mcp__srv__Read_File");
    assert_eq!(input[4]["call_id"], "call_1");
    assert_eq!(input[4]["arguments"], "{\"path\":\"a.txt\"}");
    assert!(
        input[4].get("id").is_none(),
        "no server ids with store=false"
    );
    assert_eq!(input[5]["name"], "Bash");
    assert_eq!(
        input[6],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "file body"})
    );
    assert_eq!(input[7]["output"], "a.txt\n\nb.txt");
    // A foreign signature (not `<id>|<encrypted>`) is not replayed.
    assert_eq!(input[8]["content"][0]["text"], "Older turn");
    assert_eq!(
        input[9]["content"],
        json!([{"type": "input_text", "text": "Mid-conversation reminder."}])
    );

    assert_eq!(
        req["tools"],
        json!([
            {"type": "function", "name": "mcp__srv__Read_File", "description": "Read a file",
             "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
             "strict": false},
            {"type": "function", "name": "Bash", "description": "Run bash",
             "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
             "strict": true}
        ])
    );
    assert_eq!(
        req["tool_choice"],
        json!({"type": "function", "name": "mcp__srv__Read_File"})
    );
    assert_eq!(req["parallel_tool_calls"], false);
    assert_eq!(
        req["reasoning"],
        json!({"effort": "high", "summary": "auto"})
    );
    assert_eq!(req["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(req["max_output_tokens"], 4096);
    assert_eq!(req["temperature"], 0.5);
    assert_eq!(req["top_p"], 0.95);
    assert_eq!(
        req["text"]["format"],
        json!({"type": "json_schema", "name": "answer", "strict": true,
               "schema": {"type": "object", "properties": {"a": {"type": "string"}}}})
    );
    for gone in [
        "messages",
        "stop",
        "stream_options",
        "max_completion_tokens",
        "reasoning_effort",
    ] {
        assert!(req.get(gone).is_none(), "{gone} is not a Responses field");
    }
    assert_eq!(
        ctx.tool_names.client_name("mcp__srv__Read_File"),
        "mcp__srv__Read File"
    );
    assert_eq!(ctx.tool_names.client_name("Bash"), "Bash");
}

#[test]
fn hub_request_errors_are_invalid_requests() {
    for body in [
        json!({"model": "m"}),
        json!({"messages": [{"role": "wizard", "content": "x"}]}),
        json!({"messages": [{"role": "tool", "content": "x"}]}),
        json!({"messages": [{"role": "user", "content": [{"type": "video"}]}]}),
    ] {
        let err = hub_json_to_responses(body.clone(), &mut provider_ctx()).unwrap_err();
        assert!(matches!(err, TranslateError::InvalidRequest(_)), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Whole responses
// ---------------------------------------------------------------------------------------------

#[test]
fn upstream_response_becomes_hub_response() {
    let mut ctx = provider_ctx();
    ctx.tool_names.insert("get weather", "get_weather");
    let hub =
        super::response::responses_to_hub(json_fixture(fixture!("upstream_response.json")), &ctx)
            .unwrap();
    assert_eq!(hub["object"], "chat.completion");
    assert_eq!(hub["model"], "gpt-5.5-2026-09-01");
    assert_eq!(hub["created"], 1741476542);
    let choice = &hub["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let m = &choice["message"];
    assert_eq!(m["content"], "Let me check the weather.");
    assert_eq!(m["reasoning_content"], "**Checking the weather tool**");
    assert_eq!(
        m["reasoning_signature"],
        "rs_67ccd2bf0a2881909a8a8ec13f0d58d0|gAAAAABnzNK_encrypted=="
    );
    assert_eq!(
        m["tool_calls"],
        json!([{"id": "call_12345xyz", "type": "function",
                "function": {"name": "get weather", "arguments": "{\"location\":\"Paris, France\"}"}}])
    );
    assert_eq!(
        hub["usage"],
        json!({"prompt_tokens": 328, "completion_tokens": 52, "total_tokens": 380,
               "prompt_tokens_details": {"cached_tokens": 128},
               "completion_tokens_details": {"reasoning_tokens": 32}})
    );
}

#[test]
fn incomplete_and_failed_upstream_responses() {
    let ctx = provider_ctx();
    let hub = super::response::responses_to_hub(
        json!({"id": "r", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
               "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Once"}]}]}),
        &ctx,
    )
    .unwrap();
    assert_eq!(hub["choices"][0]["finish_reason"], "length");
    assert_eq!(hub["choices"][0]["message"]["content"], "Once");

    let err = super::response::responses_to_hub(
        json!({"status": "failed", "error": {"code": "server_error", "message": "boom"}, "output": []}),
        &ctx,
    )
    .unwrap_err();
    assert_eq!(
        err,
        TranslateError::BadUpstream("server_error: boom".into())
    );
    assert!(matches!(
        super::response::responses_to_hub(json!({"status": "completed"}), &ctx),
        Err(TranslateError::BadUpstream(_))
    ));
}

#[test]
fn hub_response_becomes_responses_object() {
    let (_, ctx) = codex_ctx();
    let r = super::response::hub_to_responses(json_fixture(fixture!("hub_response.json")), &ctx)
        .unwrap();
    assert_eq!(r["object"], "response");
    assert!(r["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(r["status"], "completed");
    assert_eq!(r["incomplete_details"], Value::Null);
    assert_eq!(r["model"], "claude-sonnet-5");
    assert_eq!(r["created_at"], 1741570283);
    let out = r["output"].as_array().unwrap();
    let kinds: Vec<&str> = out.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "reasoning",
            "message",
            "function_call",
            "custom_tool_call",
            "function_call"
        ]
    );
    assert!(out[0]["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(
        out[0]["summary"],
        json!([{"type": "summary_text", "text": "Need to run echo, then patch."}])
    );
    assert_eq!(
        out[0]["encrypted_content"],
        "switchyard-sig:anthropic:EqQBCkYIBxgCKkBsig+/=="
    );
    assert!(out[1]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        out[1]["content"][0]["text"],
        "I'll run it and patch the file."
    );
    assert_eq!(out[1]["content"][0]["type"], "output_text");
    assert!(out[2]["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(out[2]["call_id"], "toolu_01Exec");
    assert_eq!(out[2]["name"], "exec_command");
    assert_eq!(out[2]["arguments"], "{\"cmd\":\"echo hi\"}");
    assert_eq!(out[3]["call_id"], "toolu_02Patch");
    assert_eq!(out[3]["name"], "apply_patch");
    assert_eq!(out[3]["input"], "*** Begin Patch\n*** End Patch");
    assert_eq!(out[4]["namespace"], "multi_agent_v1");
    assert_eq!(out[4]["name"], "spawn_agent");
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 1117, "input_tokens_details": {"cached_tokens": 1024},
               "output_tokens": 46, "output_tokens_details": {"reasoning_tokens": 12},
               "total_tokens": 1163})
    );

    let cut = super::response::hub_to_responses(
        json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Once"},
               "finish_reason": "length"}]}),
        &ctx,
    )
    .unwrap();
    assert_eq!(cut["status"], "incomplete");
    assert_eq!(
        cut["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(cut["usage"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Streams: hub -> Responses (what Codex and the openai SDK read)
// ---------------------------------------------------------------------------------------------

#[test]
fn reasoning_and_text_stream_to_codex() {
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let ev = run(stage.as_mut(), fixture!("hub_reasoning_text.sse"));
    check_envelope(&ev);
    assert_eq!(
        types(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let created = &ev[0].data["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["object"], "response");
    assert_eq!(created["model"], "claude-sonnet-5");
    let rid = created["id"].as_str().unwrap();
    assert!(rid.starts_with("resp_"));

    let rs_added = &ev[2].data;
    assert_eq!(rs_added["output_index"], 0);
    assert_eq!(rs_added["item"]["type"], "reasoning");
    let rs_id = rs_added["item"]["id"].as_str().unwrap();
    assert!(rs_id.starts_with("rs_"));
    assert_eq!(ev[4].data["item_id"], rs_id);
    assert_eq!(ev[4].data["summary_index"], 0);
    assert_eq!(ev[6].data["text"], "The user greets me. Reply briefly.");
    let rs_done = &ev[8].data["item"];
    assert_eq!(
        rs_done["encrypted_content"],
        "switchyard-sig:anthropic:EqQBCkYIBxgCKkBsig+/=="
    );
    assert_eq!(
        rs_done["summary"],
        json!([{"type": "summary_text", "text": "The user greets me. Reply briefly."}])
    );

    let msg_added = &ev[9].data;
    assert_eq!(msg_added["output_index"], 1);
    assert_eq!(msg_added["item"]["role"], "assistant");
    assert_eq!(msg_added["item"]["status"], "in_progress");
    let msg_id = msg_added["item"]["id"].as_str().unwrap();
    assert!(msg_id.starts_with("msg_"));
    assert_eq!(ev[10].data["content_index"], 0);
    assert_eq!(ev[10].data["part"]["type"], "output_text");
    assert_eq!(ev[11].data["delta"], "Hello");
    assert_eq!(ev[11].data["item_id"], msg_id);
    assert_eq!(ev[13].data["text"], "Hello, world! ✓");
    assert_eq!(ev[15].data["item"]["status"], "completed");

    let done = &ev[16].data["response"];
    assert_eq!(done["id"], rid);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"].as_array().unwrap().len(), 2);
    assert_eq!(done["output"][1]["content"][0]["text"], "Hello, world! ✓");
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 2048, "input_tokens_details": {"cached_tokens": 1900},
               "output_tokens": 57, "output_tokens_details": {"reasoning_tokens": 20},
               "total_tokens": 2105})
    );
}

#[test]
fn parallel_tool_calls_stream_to_codex() {
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let ev = run(stage.as_mut(), fixture!("hub_parallel_tools.sse"));
    check_envelope(&ev);
    let added = of_type(&ev, "response.output_item.added");
    assert_eq!(added.len(), 2, "no message item for a null content");
    assert_eq!(added[0]["item"]["type"], "function_call");
    assert_eq!(added[0]["item"]["call_id"], "call_AbC123");
    assert_eq!(added[0]["item"]["name"], "exec_command");
    assert_eq!(added[0]["item"]["arguments"], "");
    assert_eq!(added[1]["output_index"], 1);
    assert_eq!(
        added[1]["item"]["name"], "mcp__srv__Read File",
        "names byte-exact"
    );
    let fc0 = added[0]["item"]["id"].as_str().unwrap();
    assert!(fc0.starts_with("fc_"));

    let deltas = of_type(&ev, "response.function_call_arguments.delta");
    assert_eq!(deltas.len(), 4);
    let args0: String = deltas
        .iter()
        .filter(|d| d["item_id"] == fc0)
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(args0, "{\"cmd\":\"echo hi\"}");
    let dones = of_type(&ev, "response.function_call_arguments.done");
    assert_eq!(dones[1]["arguments"], "{\"path\": \"README.md\"}");
    assert_eq!(dones[1]["name"], "mcp__srv__Read File");
    let item_dones = of_type(&ev, "response.output_item.done");
    assert_eq!(item_dones.len(), 2);
    assert_eq!(item_dones[0]["item"]["status"], "completed");
    assert_eq!(item_dones[0]["item"]["arguments"], "{\"cmd\":\"echo hi\"}");

    assert_eq!(types(&ev).last(), Some(&"response.completed"));
    assert_eq!(of_type(&ev, "response.completed").len(), 1);
    let resp = &ev.last().unwrap().data["response"];
    assert_eq!(resp["output"].as_array().unwrap().len(), 2);
    assert_eq!(resp["usage"]["input_tokens"], 180);
    assert_eq!(resp["usage"]["output_tokens"], 44);
}

#[test]
fn custom_tool_call_streams_its_raw_input() {
    let (_, ctx) = codex_ctx();
    let mut stage = super::stream::hub_to_responses(&ctx);
    let ev = run(stage.as_mut(), fixture!("hub_custom_tool.sse"));
    check_envelope(&ev);
    let expected =
        "*** Begin Patch\n*** Update File: a.py\n-x = \"old\"\n+x = été 🚀\n*** End Patch";

    let added = of_type(&ev, "response.output_item.added");
    assert_eq!(added[0]["item"]["type"], "message");
    assert_eq!(added[1]["item"]["type"], "custom_tool_call");
    assert_eq!(added[1]["item"]["call_id"], "toolu_01ApplyPatchXyz");
    assert_eq!(added[1]["item"]["name"], "apply_patch");
    assert!(added[1]["item"]["id"].as_str().unwrap().starts_with("ctc_"));
    // The message was closed before the call opened.
    let t = types(&ev);
    let msg_done = t
        .iter()
        .position(|t| *t == "response.output_item.done")
        .unwrap();
    let call_added = t
        .iter()
        .rposition(|t| *t == "response.output_item.added")
        .unwrap();
    assert!(msg_done < call_added);

    let deltas = of_type(&ev, "response.custom_tool_call_input.delta");
    assert!(deltas.len() >= 4, "the input streams as it arrives");
    let streamed: String = deltas
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, expected);
    let done = of_type(&ev, "response.custom_tool_call_input.done");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["input"], expected);
    assert!(of_type(&ev, "response.function_call_arguments.delta").is_empty());
    let resp = &ev.last().unwrap().data["response"];
    assert_eq!(resp["status"], "completed");
    assert_eq!(resp["output"][1]["type"], "custom_tool_call");
    assert_eq!(resp["output"][1]["input"], expected);
    assert_eq!(resp["output"][1]["status"], "completed");
}

#[test]
fn length_ends_with_response_incomplete() {
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let ev = run(stage.as_mut(), fixture!("hub_length.sse"));
    check_envelope(&ev);
    assert!(of_type(&ev, "response.completed").is_empty());
    assert_eq!(of_type(&ev, "response.incomplete").len(), 1);
    let resp = &ev.last().unwrap().data;
    assert_eq!(resp["type"], "response.incomplete");
    assert_eq!(resp["response"]["status"], "incomplete");
    assert_eq!(
        resp["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(resp["response"]["usage"]["total_tokens"], 12);
}

#[test]
fn fail_ends_with_response_failed_once() {
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let mut out = Vec::new();
    let events = parse_sse_text(fixture!("hub_reasoning_text.sse")).unwrap();
    for e in events.into_iter().take(5) {
        stage.push(e, &mut out).unwrap();
    }
    let err = ApiError::new(429, ErrorKind::RateLimited, "slow down: try again in 2s");
    stage.fail(&err, &mut out);
    stage.fail(&err, &mut out);
    stage.finish(&mut out).unwrap();
    check_envelope(&out);
    assert_eq!(of_type(&out, "response.failed").len(), 1);
    assert!(of_type(&out, "response.completed").is_empty());
    let last = &out.last().unwrap().data;
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code": "rate_limit_exceeded", "message": "slow down: try again in 2s"})
    );

    // Failing before anything arrived still gives a well-formed stream.
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let mut out = Vec::new();
    stage.fail(
        &ApiError::bad_gateway("upstream closed").with_code("server_error"),
        &mut out,
    );
    check_envelope(&out);
    assert_eq!(
        types(&out),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    assert_eq!(out[2].data["response"]["error"]["code"], "server_error");
}

#[test]
fn finish_closes_everything_exactly_once() {
    // No usage chunk: the terminal event waits for finish().
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let mut out = Vec::new();
    for chunk in [
        json!({"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]}),
        json!({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ] {
        stage.push(StreamEvent::hub(chunk), &mut out).unwrap();
    }
    assert!(of_type(&out, "response.completed").is_empty());
    assert_eq!(of_type(&out, "response.output_item.done").len(), 1);
    stage.finish(&mut out).unwrap();
    stage.finish(&mut out).unwrap();
    stage
        .push(
            StreamEvent::hub(json!({"choices": [{"index": 0, "delta": {"content": "late"}}]})),
            &mut out,
        )
        .unwrap();
    check_envelope(&out);
    assert_eq!(of_type(&out, "response.completed").len(), 1);
    assert_eq!(types(&out).last(), Some(&"response.completed"));
    assert_eq!(out.last().unwrap().data["response"]["usage"], Value::Null);

    // An empty hub stream is still a complete Responses stream.
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let out = run_stage(stage.as_mut(), Vec::new()).unwrap();
    assert_eq!(
        types(&out),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
    assert_eq!(out[2].data["response"]["output"], json!([]));
}

#[test]
fn signature_only_and_redacted_reasoning_items() {
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let chunks = vec![
        json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_signature": "SIG-ONLY"}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"redacted_reasoning": "REDACTED-DATA"}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": "second"}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"reasoning_signature": "SIG-2"}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": "third"}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"refusal": "I can't"}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 1, "completion_tokens": 2}}),
    ];
    let out = run_stage(
        stage.as_mut(),
        chunks.into_iter().map(StreamEvent::hub).collect(),
    )
    .unwrap();
    check_envelope(&out);
    let output = out.last().unwrap().data["response"]["output"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(output.len(), 5);
    assert_eq!(output[0]["summary"], json!([]));
    assert_eq!(
        output[0]["encrypted_content"],
        "switchyard-sig:anthropic:SIG-ONLY"
    );
    assert_eq!(
        output[1]["encrypted_content"],
        format!("{REDACTED_PREFIX}REDACTED-DATA")
    );
    assert_eq!(output[2]["summary"][0]["text"], "second");
    assert_eq!(
        output[2]["encrypted_content"],
        "switchyard-sig:anthropic:SIG-2"
    );
    // Reasoning after a signed item is a new item.
    assert_eq!(output[3]["summary"][0]["text"], "third");
    assert!(output[3].get("encrypted_content").is_none());
    assert_eq!(
        output[4]["content"],
        json!([{"type": "refusal", "refusal": "I can't"}])
    );
    assert_eq!(of_type(&out, "response.refusal.done").len(), 1);
    let usage = &out.last().unwrap().data["response"]["usage"];
    assert_eq!(usage["total_tokens"], 3);

    // Codex echoes those items next turn; they come back as the same hub extensions.
    let echoed: Vec<Value> = std::iter::once(json!({"role": "user", "content": "q"}))
        .chain(output.iter().cloned())
        .collect();
    let hub =
        super::request::responses_to_hub(json!({"input": echoed}), &mut client_ctx()).unwrap();
    let m = hub["messages"].as_array().unwrap();
    // Still tagged in the hub: only the provider's translator unwraps it, for its own family.
    assert_eq!(
        m[1]["reasoning_signature"],
        "switchyard-sig:anthropic:SIG-ONLY"
    );
    assert_eq!(m[1]["reasoning_content"], "");
    assert_eq!(m[2]["redacted_reasoning"], "REDACTED-DATA");
    assert_eq!(m[3]["reasoning_content"], "second");
    assert_eq!(
        m[3]["reasoning_signature"],
        "switchyard-sig:anthropic:SIG-2"
    );
    assert_eq!(m[4]["reasoning_content"], "third");
    assert_eq!(m[4]["refusal"], "I can't");
}

// ---------------------------------------------------------------------------------------------
// Streams: Responses provider -> hub
// ---------------------------------------------------------------------------------------------

#[test]
fn upstream_reasoning_and_text_stream_to_hub() {
    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let ev = run(stage.as_mut(), fixture!("upstream_reasoning_text.sse"));
    let s = sum_hub(&ev);
    assert_eq!(s.roles, 1);
    assert_eq!(
        ev[0].data["choices"][0]["delta"],
        json!({"role": "assistant"})
    );
    assert_eq!(ev[0].data["id"], "resp_68a1f0c2b3d4819");
    assert_eq!(ev[0].data["model"], "gpt-5.5-2026-09-01");
    assert_eq!(
        s.reasoning,
        "**Greeting the user**\n\nThe user wants a short hello.\n\nKeep it to one line."
    );
    assert_eq!(
        s.signatures,
        ["rs_68a1f0c3a1b2c3d4|gAAAAABpH8xQ-kN2w0TzYQ1v3l0s9XxQbY0ZKc2yq4mXQ=="]
    );
    assert_eq!(s.content, "Hi there — héllo 👋");
    assert_eq!(s.finishes, ["stop"]);
    assert_eq!(
        s.usage,
        [
            json!({"prompt_tokens": 1320, "completion_tokens": 96, "total_tokens": 1416,
                "prompt_tokens_details": {"cached_tokens": 1152},
                "completion_tokens_details": {"reasoning_tokens": 64}})
        ]
    );
    assert!(
        ev.last().unwrap().data.get("usage").is_some(),
        "usage is last"
    );
}

#[test]
fn upstream_parallel_tool_calls_stream_to_hub() {
    let mut ctx = provider_ctx();
    ctx.tool_names.insert("Read File", "Read_File");
    let mut stage = super::stream::responses_to_hub(&ctx);
    let ev = run(stage.as_mut(), fixture!("upstream_parallel_tools.sse"));
    let s = sum_hub(&ev);
    assert_eq!(s.tools.len(), 2);
    assert_eq!(
        s.tools[&0],
        (
            "call_Wq3kLr7PzA1".into(),
            "get_weather".into(),
            "{\"location\":\"Paris, FR\"}".into()
        )
    );
    assert_eq!(
        s.tools[&1],
        (
            "call_Ym8vTq2NcB4".into(),
            "Read File".into(),
            "{\"path\":\"/etc/hosts\"}".into()
        )
    );
    assert_eq!(s.finishes, ["tool_calls"]);
    assert_eq!(s.usage[0]["total_tokens"], 251);
    // Fragments are passed on as they came, not re-chunked.
    let fragments = ev
        .iter()
        .filter(|e| {
            e.data["choices"][0]["delta"]["tool_calls"][0]["function"]
                .get("name")
                .is_none()
                && e.data["choices"][0]["delta"].get("tool_calls").is_some()
        })
        .count();
    assert_eq!(fragments, 5);
}

#[test]
fn upstream_custom_tool_stream_to_hub() {
    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let ev = run(stage.as_mut(), fixture!("upstream_custom_tool.sse"));
    let s = sum_hub(&ev);
    let (id, name, args) = &s.tools[&0];
    assert_eq!((id.as_str(), name.as_str()), ("call_Pt9Qa2", "apply_patch"));
    let args: Value = serde_json::from_str(args).unwrap();
    assert_eq!(
        args,
        json!({"input": "*** Begin Patch\n*** Add File: hello.txt\n+say \"hi\"\n*** End Patch"})
    );
    assert_eq!(s.finishes, ["tool_calls"]);
}

#[test]
fn upstream_incomplete_failed_and_truncated_streams() {
    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let s = sum_hub(&run(stage.as_mut(), fixture!("upstream_incomplete.sse")));
    assert_eq!(s.content, "Once upon a");
    assert_eq!(s.finishes, ["length"]);
    assert_eq!(s.usage[0]["completion_tokens"], 3);

    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let err = run_stage(
        stage.as_mut(),
        parse_sse_text(fixture!("upstream_failed.sse")).unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        TranslateError::BadUpstream(
            "server_error: The model failed to generate a response.".into()
        )
    );

    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let events: Vec<StreamEvent> = parse_sse_text(fixture!("upstream_reasoning_text.sse"))
        .unwrap()
        .into_iter()
        .take(10)
        .collect();
    assert!(matches!(
        run_stage(stage.as_mut(), events),
        Err(TranslateError::BadUpstream(m)) if m.contains("response.completed")
    ));

    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let mut out = Vec::new();
    stage.fail(&ApiError::bad_gateway("reset"), &mut out);
    stage.fail(&ApiError::bad_gateway("reset"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data["error"]["message"], "reset");
}

#[test]
fn upstream_items_without_deltas_are_not_lost_or_doubled() {
    let events = vec![
        json!({"type": "response.created", "response": {"id": "resp_x", "model": "m", "created_at": 5}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_1", "type": "message", "content": []}}),
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hel"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "Hello"}]}}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"}}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "why"}], "encrypted_content": "E"}}),
        json!({"type": "response.completed", "response": {"id": "resp_x", "status": "completed"}}),
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "after the end"}),
    ];
    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let ev = run_stage(
        stage.as_mut(),
        events.into_iter().map(StreamEvent::hub).collect(),
    )
    .unwrap();
    let s = sum_hub(&ev);
    assert_eq!(s.content, "Hello");
    assert_eq!(s.reasoning, "why");
    assert_eq!(s.signatures, ["rs_1|E"]);
    assert_eq!(
        s.tools[&0],
        ("call_1".into(), "f".into(), "{\"a\":1}".into())
    );
    assert_eq!(s.finishes, ["tool_calls"]);
    assert!(s.usage.is_empty());
    assert_eq!(ev[0].data["created"], 5);
}

#[test]
fn provider_signature_round_trips_into_the_next_request() {
    // Responses provider -> hub (stream) -> hub request -> Responses provider.
    let mut stage = super::stream::responses_to_hub(&provider_ctx());
    let s = sum_hub(&run(
        stage.as_mut(),
        fixture!("upstream_reasoning_text.sse"),
    ));
    let hub = json!({"model": "x", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": s.content, "reasoning_content": s.reasoning,
         "reasoning_signature": s.signatures.join(" ")},
        {"role": "user", "content": "again"}
    ]});
    let req = hub_json_to_responses(hub, &mut provider_ctx()).unwrap();
    assert_eq!(
        req["input"][1],
        json!({"type": "reasoning", "id": "rs_68a1f0c3a1b2c3d4",
               "summary": [{"type": "summary_text",
                            "text": "**Greeting the user**\n\nThe user wants a short hello.\n\nKeep it to one line."}],
               "encrypted_content": "gAAAAABpH8xQ-kN2w0TzYQ1v3l0s9XxQbY0ZKc2yq4mXQ=="})
    );
}

#[test]
fn hub_stream_survives_a_round_trip_through_responses_events() {
    for sse in [
        fixture!("hub_reasoning_text.sse"),
        fixture!("hub_parallel_tools.sse"),
        fixture!("hub_length.sse"),
    ] {
        let original = sum_hub(&parse_sse_text(sse).unwrap());
        let mut to = super::stream::hub_to_responses(&client_ctx());
        let events = run(to.as_mut(), sse);
        let mut back = super::stream::responses_to_hub(&provider_ctx());
        let again = sum_hub(&run_stage(back.as_mut(), events).unwrap());
        assert_eq!(again.content, original.content);
        assert_eq!(again.reasoning, original.reasoning);
        assert_eq!(again.tools, original.tools);
        assert_eq!(again.finishes, original.finishes);
        assert_eq!(again.usage.len(), 1);
        assert_eq!(
            again.usage[0]["total_tokens"],
            original.usage[0]["total_tokens"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The custom-input decoder
// ---------------------------------------------------------------------------------------------

#[test]
fn decoder_handles_split_escapes_and_gives_up_on_other_shapes() {
    let mut d = InputDecoder::default();
    let mut args = String::new();
    let mut got = String::new();
    for frag in [
        "{ \"in",
        "put\" :\t\"a\\",
        "u00",
        "e9\\ud83d",
        "\\ude80\\",
        "\"b\"}",
    ] {
        args.push_str(frag);
        got.push_str(&d.feed(&args));
    }
    assert_eq!(got, "a\u{e9}\u{1F680}\"b");
    assert_eq!(d.sent, got);

    let mut d = InputDecoder::default();
    assert_eq!(d.feed("{\"other\":\"x\",\"input\":\"y\"}"), "");
    assert_eq!(
        super::custom_input("{\"other\":\"x\",\"input\":\"y\"}"),
        "y"
    );
    assert_eq!(super::custom_input("not json"), "not json");
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

const EMPTY_OBJECT: &str = "{}";

const KEYS: &[&str] = &[
    "type",
    "delta",
    "item",
    "response",
    "choices",
    "tool_calls",
    "index",
    "id",
    "call_id",
    "name",
    "arguments",
    "input",
    "content",
    "text",
    "summary",
    "encrypted_content",
    "output_index",
    "item_id",
    "status",
    "usage",
    "finish_reason",
    "reasoning_content",
    "reasoning_signature",
    "redacted_reasoning",
    "role",
    "function",
    "output",
    "summary_index",
    "incomplete_details",
    "reason",
    "error",
    "message",
    "model",
    "created",
    "input_tokens",
    "prompt_tokens",
    "refusal",
    "messages",
    "tools",
    "tool_choice",
    "instructions",
    "format",
    "parameters",
    "namespace",
    "reasoning",
    "effort",
    "stream",
    "max_output_tokens",
    "image_url",
    "file_id",
    "file",
    "detail",
    "response_format",
    "json_schema",
    "schema",
    "tool_call_id",
    "max_tokens",
    "additional_tools",
];

const WORDS: &[&str] = &[
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.output_item.done",
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.custom_tool_call_input.delta",
    "response.custom_tool_call_input.done",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    "response.completed",
    "response.incomplete",
    "response.done",
    "response.failed",
    "error",
    "message",
    "function_call",
    "custom_tool_call",
    "reasoning",
    "function_call_output",
    "custom_tool_call_output",
    "local_shell_call",
    "namespace",
    "user",
    "assistant",
    "developer",
    "system",
    "tool",
    "input_text",
    "output_text",
    "input_image",
    "input_file",
    "image_url",
    "file",
    "text",
    "refusal",
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "completed",
    "incomplete",
    "failed",
    "function",
    "custom",
    "auto",
    "required",
    "allowed_tools",
    "json_schema",
    "json_object",
    "apply_patch",
    "exec_command",
    "{\"input\":\"a\\",
    "{\"input\": \"\\ud83d",
    "{\"input\":\"x\"}",
    "rs_1|enc",
    "switchyard.redacted:zz",
    "",
    "é",
    "\u{1F680}",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let word = prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned()));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..4).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        word,
        ".{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..7).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn arb_event() -> impl Strategy<Value = StreamEvent> {
    (prop::option::of(prop::sample::select(WORDS)), arb_json()).prop_map(|(name, data)| {
        StreamEvent {
            event: name.map(std::borrow::Cow::Borrowed),
            data: data.into(),
        }
    })
}

/// A ctx with a custom and a namespace tool, so those paths are reachable.
fn marked_ctx() -> TranslateCtx {
    let mut ctx = client_ctx();
    mark_custom(&mut ctx.tool_names, "apply_patch");
    super::mark_namespace(&mut ctx.tool_names, "ns__f", "ns", "f");
    ctx
}

/// One step of a generated hub stream.
#[derive(Debug, Clone)]
enum Step {
    Text(String),
    Reasoning(String),
    Signature(String),
    Redacted(String),
    /// Next fragment of tool `n` (of the tools generated with the stream).
    Tool(usize),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        ".{1,8}".prop_map(Step::Text),
        ".{1,8}".prop_map(Step::Reasoning),
        "[A-Za-z0-9+/=]{1,12}".prop_map(Step::Signature),
        "[A-Za-z0-9]{1,8}".prop_map(Step::Redacted),
        (0usize..3).prop_map(Step::Tool),
    ]
}

/// (name, full arguments, cut points) of up to three tools.
fn arb_tools() -> impl Strategy<Value = Vec<(String, String, Vec<usize>)>> {
    prop::collection::vec(
        (
            prop::sample::select(
                &["exec_command", "apply_patch", "mcp__x__Read File", "ns__f"][..],
            ),
            ".{0,24}",
            prop::collection::vec(0usize..64, 0..6),
        )
            .prop_map(|(name, payload, cuts)| {
                let args = if name == "apply_patch" {
                    json!({ "input": payload }).to_string()
                } else {
                    json!({ "k": payload }).to_string()
                };
                (name.to_owned(), args, cuts)
            }),
        0..3,
    )
}

/// Splits `s` at char boundaries near the given byte offsets.
fn split(s: &str, cuts: &[usize]) -> Vec<String> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (s.len() + 1))
        .filter(|c| s.is_char_boundary(*c))
        .collect();
    points.push(0);
    points.push(s.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .filter_map(|w| s.get(w[0]..w[1]).map(str::to_owned))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn stream_stages_never_panic(events in prop::collection::vec(arb_event(), 0..24), fail_at in 0usize..30) {
        for make in [super::stream::hub_to_responses, super::stream::responses_to_hub] {
            let mut stage = make(&marked_ctx());
            let mut out = Vec::new();
            for (i, e) in events.iter().cloned().enumerate() {
                if i == fail_at {
                    stage.fail(&ApiError::bad_gateway("cut"), &mut out);
                }
                let _ = stage.push(e, &mut out);
            }
            let _ = stage.finish(&mut out);
            stage.fail(&ApiError::internal("late"), &mut out);
        }
    }

    #[test]
    fn client_stream_is_always_well_formed(events in prop::collection::vec(arb_json(), 0..16)) {
        let mut stage = super::stream::hub_to_responses(&marked_ctx());
        let out = run_stage(stage.as_mut(), events.into_iter().map(StreamEvent::hub).collect()).unwrap();
        check_envelope(&out);
        let t = types(&out);
        prop_assert_eq!(t.first().copied(), Some("response.created"));
        let terminal = t.iter().filter(|t| matches!(**t, "response.completed" | "response.incomplete")).count();
        prop_assert_eq!(terminal, 1);
        prop_assert!(matches!(t.last().copied(), Some("response.completed" | "response.incomplete")));
        prop_assert_eq!(of_type(&out, "response.output_item.added").len(), of_type(&out, "response.output_item.done").len());
    }

    #[test]
    fn translators_never_panic(body in arb_json()) {
        let _ = super::request::responses_to_hub(body.clone(), &mut marked_ctx());
        let _ = hub_json_to_responses(body.clone(), &mut marked_ctx());
        let _ = super::response::responses_to_hub(body.clone(), &marked_ctx());
        let _ = super::response::hub_to_responses(body, &marked_ctx());
    }

    #[test]
    fn translators_never_panic_on_plausible_bodies(items in prop::collection::vec(arb_json(), 0..6), tools in prop::collection::vec(arb_json(), 0..3)) {
        let body = json!({"model": "m", "input": items.clone(), "tools": tools.clone(), "instructions": "x"});
        let _ = super::request::responses_to_hub(body, &mut marked_ctx());
        let hub = json!({"model": "m", "messages": items.clone(), "tools": tools, "tool_choice": "auto"});
        let _ = hub_json_to_responses(hub, &mut marked_ctx());
        let resp = json!({"id": "r", "status": "completed", "output": items.clone()});
        let _ = super::response::responses_to_hub(resp, &marked_ctx());
        let hub_resp = json!({"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": items}, "finish_reason": "stop"}]});
        let _ = super::response::hub_to_responses(hub_resp, &marked_ctx());
    }

    #[test]
    fn decoder_streams_any_input_at_any_split(input in ".{0,40}", cuts in prop::collection::vec(0usize..200, 0..8), spaced in any::<bool>()) {
        let args = if spaced {
            format!("{{ \"input\" : {} }}", Value::String(input.clone()))
        } else {
            json!({ "input": input }).to_string()
        };
        let mut d = InputDecoder::default();
        let mut so_far = String::new();
        let mut got = String::new();
        for frag in split(&args, &cuts) {
            so_far.push_str(&frag);
            got.push_str(&d.feed(&so_far));
        }
        prop_assert_eq!(got, input);
    }

    #[test]
    fn generated_hub_streams_translate_faithfully(
        steps in prop::collection::vec(arb_step(), 0..16),
        tools in arb_tools(),
        finish in prop::sample::select(&["stop", "tool_calls", "length"][..]),
        with_usage in any::<bool>(),
    ) {
        let ctx = marked_ctx();
        // Build the hub chunks.
        let mut fragments: Vec<Vec<String>> = tools.iter().map(|(_, a, c)| split(a, c)).collect();
        let mut next = vec![0usize; tools.len()];
        let mut chunks = vec![json!({"id": "chatcmpl-gen", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]})];
        let mut text = String::new();
        let mut reasoning = String::new();
        let delta = |d: Value| json!({"id": "chatcmpl-gen", "model": "m", "choices": [{"index": 0, "delta": d}]});
        let push_tool = |t: usize, chunks: &mut Vec<Value>, next: &mut Vec<usize>, fragments: &mut Vec<Vec<String>>| {
            let Some(frags) = fragments.get(t) else { return };
            let k = next[t];
            if k == 0 {
                chunks.push(delta(json!({"tool_calls": [{"index": t, "id": format!("call_{t}"), "type": "function",
                    "function": {"name": tools[t].0, "arguments": ""}}]})));
            }
            if let Some(f) = frags.get(k) {
                chunks.push(delta(json!({"tool_calls": [{"index": t, "function": {"arguments": f}}]})));
                next[t] = k + 1;
            } else if k == 0 {
                next[t] = 1;
            }
        };
        for step in &steps {
            match step {
                Step::Text(s) => { text.push_str(s); chunks.push(delta(json!({"content": s}))); }
                Step::Reasoning(s) => { reasoning.push_str(s); chunks.push(delta(json!({"reasoning_content": s}))); }
                Step::Signature(s) => chunks.push(delta(json!({"reasoning_signature": s}))),
                Step::Redacted(s) => chunks.push(delta(json!({"redacted_reasoning": s}))),
                Step::Tool(t) => push_tool(*t, &mut chunks, &mut next, &mut fragments),
            }
        }
        // Finish every tool.
        for t in 0..tools.len() {
            while next[t] < fragments[t].len().max(1) {
                push_tool(t, &mut chunks, &mut next, &mut fragments);
            }
        }
        chunks.push(json!({"id": "chatcmpl-gen", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}));
        if with_usage {
            chunks.push(json!({"id": "chatcmpl-gen", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}));
        }

        let mut to = super::stream::hub_to_responses(&ctx);
        let out = run_stage(to.as_mut(), chunks.into_iter().map(StreamEvent::hub).collect()).unwrap();
        check_envelope(&out);
        let t = types(&out);
        let terminal = if finish == "length" { "response.incomplete" } else { "response.completed" };
        prop_assert_eq!(t.iter().filter(|x| **x == terminal).count(), 1);
        prop_assert_eq!(t.last().copied(), Some(terminal));
        let added = of_type(&out, "response.output_item.added");
        let done = of_type(&out, "response.output_item.done");
        prop_assert_eq!(added.len(), done.len());
        for (i, a) in added.iter().enumerate() {
            prop_assert_eq!(&a["output_index"], &json!(i));
            let id = a["item"]["id"].as_str().unwrap();
            let matching: Vec<_> = done.iter().filter(|d| d["item"]["id"] == id).collect();
            prop_assert_eq!(matching.len(), 1);
            prop_assert_eq!(&matching[0]["output_index"], &json!(i));
        }
        // Deltas add up to what the done events and the final output say.
        let final_output = out.last().unwrap().data["response"]["output"].as_array().unwrap().clone();
        prop_assert_eq!(final_output.len(), added.len());
        for item in &final_output {
            let id = item["id"].as_str().unwrap();
            let sum = |ty: &str| -> String {
                of_type(&out, ty).iter().filter(|d| d["item_id"] == id).map(|d| d["delta"].as_str().unwrap()).collect()
            };
            match item["type"].as_str().unwrap() {
                "message" => prop_assert_eq!(sum("response.output_text.delta"), item["content"][0]["text"].as_str().unwrap()),
                "reasoning" => prop_assert_eq!(sum("response.reasoning_summary_text.delta"), item["summary"].get(0).map(|s| s["text"].as_str().unwrap()).unwrap_or("")),
                "custom_tool_call" => prop_assert_eq!(sum("response.custom_tool_call_input.delta"), item["input"].as_str().unwrap()),
                "function_call" => {
                    let streamed = sum("response.function_call_arguments.delta");
                    let args = item["arguments"].as_str().unwrap();
                    let normalized_empty = streamed.is_empty() && args == EMPTY_OBJECT;
                    prop_assert!(streamed == args || normalized_empty);
                }
                other => prop_assert!(false, "unexpected item {other}"),
            }
        }
        // And back to the hub: the same text, reasoning and (JSON-equal) arguments.
        let mut back = super::stream::responses_to_hub(&ctx);
        let s = sum_hub(&run_stage(back.as_mut(), out).unwrap());
        prop_assert_eq!(s.content, text);
        prop_assert_eq!(s.reasoning, reasoning);
        prop_assert_eq!(s.tools.len(), tools.len());
        for (k, (name, args, _)) in tools.iter().enumerate() {
            // Responses has no tool index: calls are renumbered in the order they opened.
            let got = s.tools.values().find(|t| t.0 == format!("call_{k}")).unwrap();
            prop_assert_eq!(&got.1, name);
            let a: Value = serde_json::from_str(&got.2).unwrap();
            let b: Value = serde_json::from_str(args).unwrap();
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(s.finishes.len(), 1);
        prop_assert_eq!(s.usage.len(), usize::from(with_usage));
    }
}

/// A stateless Responses client (`include: ["reasoning.encrypted_content"]`) in front of a
/// chat provider whose reasoning is unsigned text: every reasoning item still carries
/// `encrypted_content`, which goes back as reasoning only to a provider of the same origin.
#[test]
fn unsigned_reasoning_is_carried_for_a_stateless_client_and_replayed_to_its_origin_only() {
    let request = json!({"model": "m", "store": false, "include": ["reasoning.encrypted_content"],
        "input": "hi", "stream": false});
    let mut ctx = TranslateCtx::new(Format::Responses, Format::OpenAi, "deepseek", false);
    super::request::responses_to_hub(request, &mut ctx).unwrap();
    assert!(ctx.carry_reasoning);
    let hub = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "deepseek",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "4", "reasoning_content": "two and two"}}]});
    let out = super::response::hub_to_responses(hub, &ctx).unwrap();
    let item = &out["output"][0];
    assert_eq!(item["type"], "reasoning");
    let enc = item["encrypted_content"].as_str().unwrap().to_owned();
    assert!(enc.starts_with("switchyard-text:openai-chat:"), "{enc}");

    // Streamed, the reasoning item is closed with the same wrapping.
    let mut stage = super::stream::hub_to_responses(&ctx);
    let chunks = [
        json!({"id": "c", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "two and two"}}]}),
        json!({"id": "c", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": "stop"}]}),
    ];
    let events = run_stage(
        stage.as_mut(),
        chunks.into_iter().map(StreamEvent::hub).collect(),
    )
    .unwrap();
    let done = events
        .iter()
        .find(|e| {
            e.data["type"] == "response.output_item.done" && e.data["item"]["type"] == "reasoning"
        })
        .unwrap();
    assert_eq!(done.data["item"]["encrypted_content"], enc.as_str());

    // Without `include`, nothing is added (as before).
    let mut plain = TranslateCtx::new(Format::Responses, Format::OpenAi, "deepseek", false);
    super::request::responses_to_hub(json!({"model": "m", "input": "hi"}), &mut plain).unwrap();
    assert!(!plain.carry_reasoning);

    // Sent back: the reasoning text for a provider of the same origin, nothing for another.
    let turn = |provider: Format| {
        let body = json!({"model": "m", "input": [
            {"type": "message", "role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": enc},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
            {"type": "message", "role": "user", "content": "and 3+3?"}]});
        let mut ctx = TranslateCtx::new(Format::Responses, provider, "m", false);
        super::request::responses_to_hub(body, &mut ctx).unwrap()
    };
    let same = turn(Format::OpenAi);
    assert_eq!(same["messages"][1]["reasoning_content"], "two and two");
    assert!(same["messages"][1].get("reasoning_signature").is_none());
    let other = turn(Format::Claude);
    assert!(other["messages"][1].get("reasoning_content").is_none());
    assert!(other["messages"][1].get("reasoning_signature").is_none());
    assert_eq!(other["messages"][1]["content"], "4");
}

/// Codex's remote compaction in front of a provider without it: the trigger asks for a
/// summary (no tool call), the answer comes back as the one `compaction` item Codex expects,
/// and that item sent back is a system turn for any provider, a passed-through Responses
/// one included.
#[test]
fn compaction_trigger_is_summarised_for_other_providers() {
    let request = json!({"model": "m", "stream": true, "input": [
        {"type": "message", "role": "user", "content": "fix the bug"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
        {"type": "compaction_trigger"}],
        "tools": [{"type": "function", "name": "exec", "parameters": {"type": "object"}}],
        "tool_choice": "auto"});
    let mut ctx = client_ctx();
    let hub = super::request::responses_to_hub(request, &mut ctx).unwrap();
    assert!(ctx.compaction);
    let messages = hub["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["role"], "user");
    assert!(
        messages.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("handoff summary")
    );
    assert_eq!(hub["tool_choice"], "none");

    // Not streamed: one compaction item.
    let answer = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
            "content": "The user wants the bug fixed; it is fixed."}}]});
    let out = super::response::hub_to_responses(answer, &ctx).unwrap();
    let output = out["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "compaction");
    let enc = output[0]["encrypted_content"].as_str().unwrap().to_owned();
    assert!(enc.starts_with("switchyard-compaction:"));

    // Streamed: no message item, one compaction item done before response.completed.
    let mut stage = super::stream::hub_to_responses(&ctx);
    let chunks = [
        json!({"id": "c", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "The user wants the bug fixed; "}}]}),
        json!({"id": "c", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"content": "it is fixed."}, "finish_reason": "stop"}]}),
    ];
    let events = run_stage(
        stage.as_mut(),
        chunks.into_iter().map(StreamEvent::hub).collect(),
    )
    .unwrap();
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e.data["type"] == "response.output_item.done")
        .map(|e| &e.data["item"])
        .collect();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["type"], "compaction");
    assert_eq!(done[0]["encrypted_content"], enc.as_str());
    assert_eq!(types(&events).last(), Some(&"response.completed"));

    // Sent back (after Codex's retained user messages): a system turn with the summary;
    // OpenAI's own encrypted summary is left out.
    let next = json!({"model": "m", "input": [
        {"type": "message", "role": "user", "content": "fix the bug"},
        {"type": "compaction", "encrypted_content": enc},
        {"type": "context_compaction", "encrypted_content": "gAAAAopaque"},
        {"type": "message", "role": "user", "content": "go on"}]});
    let mut ctx = client_ctx();
    let hub = super::request::responses_to_hub(next.clone(), &mut ctx).unwrap();
    assert!(!ctx.compaction);
    let m = hub["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[1]["role"], "system");
    assert!(
        m[1]["content"]
            .as_str()
            .unwrap()
            .ends_with("The user wants the bug fixed; it is fixed.")
    );

    let mut passthrough = next;
    super::compaction::own_items_to_messages(&mut passthrough);
    assert_eq!(passthrough["input"][1]["role"], "developer");
    assert_eq!(passthrough["input"][2]["type"], "context_compaction");
}

/// Events the stage writes as text are the bytes their `Value` writes, and both opening
/// events carry the one snapshot, numbered in turn.
#[test]
fn written_events_are_what_their_value_writes() {
    let mut stage = super::stream::hub_to_responses(&client_ctx());
    let ev = run(stage.as_mut(), fixture!("hub_reasoning_text.sse"));
    let mut texts = 0;
    for e in &ev {
        if let Some(text) = e.data.text() {
            texts += 1;
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(text, value.to_string());
        }
    }
    assert!(
        texts >= 4,
        "the opening events and the deltas are written as text"
    );
    let (created, in_progress) = (&ev[0], &ev[1]);
    assert!(created.data.text().is_some() && in_progress.data.text().is_some());
    assert_eq!(created.data["response"], in_progress.data["response"]);
    assert_eq!(created.data["response"]["status"], "in_progress");
    assert_eq!(created.data["sequence_number"], 0);
    assert_eq!(in_progress.data["sequence_number"], 1);
    assert_eq!(in_progress.data["type"], "response.in_progress");
}

/// The events a text stream is made of are all written as text, each the bytes its `Value`
/// writes, and the terminal response's output is the very items the stream closed.
#[test]
fn a_streams_events_are_written_as_their_value_writes() {
    let fixtures = [
        fixture!("hub_reasoning_text.sse"),
        fixture!("hub_length.sse"),
        fixture!("hub_parallel_tools.sse"),
        fixture!("hub_custom_tool.sse"),
    ];
    for fixture in fixtures {
        let mut stage = super::stream::hub_to_responses(&client_ctx());
        let ev = run(stage.as_mut(), fixture);
        for e in &ev {
            let name = e.event.as_deref().unwrap_or_default();
            let written = matches!(
                name,
                "response.output_item.added"
                    | "response.output_item.done"
                    | "response.content_part.added"
                    | "response.content_part.done"
                    | "response.output_text.delta"
                    | "response.output_text.done"
                    | "response.completed"
                    | "response.incomplete"
            );
            let Some(text) = e.data.text() else {
                assert!(!written, "{name} is written as text");
                continue;
            };
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(text, value.to_string(), "{name}");
            assert_eq!(value["type"], name);
        }
        let done: Vec<Value> = of_type(&ev, "response.output_item.done")
            .iter()
            .map(|d| d["item"].clone())
            .collect();
        let last = ev.last().unwrap();
        assert!(!done.is_empty());
        assert_eq!(last.data["response"]["output"], Value::Array(done));
        assert_eq!(
            last.data["sequence_number"].as_u64(),
            Some(ev.len() as u64 - 1)
        );
    }
}
