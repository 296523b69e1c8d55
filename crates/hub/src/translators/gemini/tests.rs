//! Fixture-driven and property tests for the Gemini translators. Fixtures under
//! `tests/fixtures/gemini/` are written from the public wire formats (Gemini REST v1beta,
//! OpenAI chat completion chunks), not from this code.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{request, response, stream};
use crate::ctx::TranslateCtx;
use crate::error::{ApiError, ErrorKind, TranslateError};
use crate::format::Format;
use crate::stream::{StreamEvent, StreamStage, parse_sse_text, run_stage};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gemini/",
            $name
        ))
    };
}

fn json_fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn provider_ctx(model: &str, stream: bool) -> TranslateCtx {
    TranslateCtx::new(Format::OpenAi, Format::Gemini, model, stream)
}

fn client_ctx(model: &str, stream: bool) -> TranslateCtx {
    TranslateCtx::new(Format::Gemini, Format::OpenAi, model, stream)
}

fn gemini_to_hub(ctx: &TranslateCtx, sse: &str) -> Vec<Value> {
    let mut stage = stream::gemini_stream_to_hub(ctx);
    let events = parse_sse_text(sse).unwrap();
    let out = run_stage(stage.as_mut(), events).unwrap();
    assert!(out.iter().all(|e| e.event.is_none()));
    out.into_iter().map(|e| e.data.into_value()).collect()
}

fn hub_to_gemini(ctx: &TranslateCtx, sse: &str) -> Vec<Value> {
    let mut stage = stream::hub_stream_to_gemini(ctx);
    let events = parse_sse_text(sse).unwrap();
    let out = run_stage(stage.as_mut(), events).unwrap();
    assert!(out.iter().all(|e| e.event.is_none()));
    out.into_iter().map(|e| e.data.into_value()).collect()
}

fn deltas(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta"))
        .collect()
}

fn joined(chunks: &[Value], key: &str) -> String {
    deltas(chunks)
        .iter()
        .filter_map(|d| d.get(key).and_then(Value::as_str))
        .collect()
}

fn finish_chunks(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter(|c| {
            c.pointer("/choices/0/finish_reason")
                .is_some_and(|f| !f.is_null())
        })
        .collect()
}

/// Reassembles hub tool calls from stream deltas: (id, name, arguments, extra_content).
fn assembled_calls(chunks: &[Value]) -> Vec<(String, String, String, Value)> {
    let mut calls: Vec<(String, String, String, Value)> = Vec::new();
    for d in deltas(chunks) {
        for tc in d
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if calls.len() <= i {
                assert_eq!(calls.len(), i, "tool call indices are dense");
                assert!(
                    tc.get("id").is_some(),
                    "the first delta of a call has its id"
                );
                calls.push((
                    tc["id"].as_str().unwrap().to_owned(),
                    tc["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                    tc.get("extra_content").cloned().unwrap_or(Value::Null),
                ));
            } else {
                assert!(tc.get("id").is_none(), "a call's id is sent once");
            }
            if let Some(a) = tc.pointer("/function/arguments").and_then(Value::as_str) {
                calls[i].2.push_str(a);
            }
        }
    }
    calls
}

// ---------------------------------------------------------------------------------------
// Gemini provider stream -> hub

#[test]
fn text_stream_to_hub() {
    let ctx = provider_ctx("gemini-2.5-flash", true);
    let chunks = gemini_to_hub(&ctx, fixture!("stream_text.sse"));
    let first = &chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["id"], "chatcmpl-mXsDaYrKEfyPz7IP0ZXUqAc");
    assert_eq!(first["model"], "gemini-2.5-flash");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        deltas(&chunks)
            .iter()
            .filter(|d| d.get("role").is_some())
            .count(),
        1
    );
    assert_eq!(joined(&chunks, "content"), "Hello there, how can I help?");
    let finishes = finish_chunks(&chunks);
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 8, "completion_tokens": 29, "total_tokens": 37,
               "prompt_tokens_details": {"cached_tokens": 2},
               "completion_tokens_details": {"reasoning_tokens": 20}})
    );
    assert_eq!(
        chunks.iter().filter(|c| c.get("usage").is_some()).count(),
        1
    );
}

#[test]
fn parallel_tool_call_stream_to_hub_restores_names() {
    let mut ctx = provider_ctx("gemini-3-pro-preview", true);
    ctx.tool_names
        .insert("mcp/srv/Read File", "mcp__srv__read_file");
    let chunks = gemini_to_hub(&ctx, fixture!("stream_tools.sse"));
    assert!(joined(&chunks, "reasoning_content").starts_with("**Planning the lookups**"));
    assert_eq!(
        joined(&chunks, "reasoning_signature"),
        "CiQB0e2Kb1sigPARIS=="
    );
    let calls = assembled_calls(&chunks);
    assert_eq!(calls.len(), 2);
    let seed = super::hash8("r-tools-1");
    assert_eq!(calls[0].0, format!("call_{seed}_0"));
    assert_eq!(calls[0].1, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].2).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        calls[0].3,
        json!({"google": {"thought_signature": "CiQB0e2Kb1sigPARIS=="}})
    );
    assert_eq!(calls[1].0, format!("call_{seed}_1"));
    assert_eq!(calls[1].1, "mcp/srv/Read File");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[1].2).unwrap(),
        json!({"path": "/tmp/a b.txt", "opts": {"lines": [1, 2]}})
    );
    assert_eq!(calls[1].3, Value::Null);
    let finishes = finish_chunks(&chunks);
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["choices"][0]["finish_reason"], "tool_calls");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 90);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 50);
}

#[test]
fn thinking_stream_to_hub() {
    let ctx = provider_ctx("gemini-2.5-pro", true);
    let chunks = gemini_to_hub(&ctx, fixture!("stream_thinking.sse"));
    assert_eq!(
        joined(&chunks, "reasoning_content"),
        "Let me think about 17 * 23. 17*20 = 340, 17*3 = 51."
    );
    assert_eq!(
        joined(&chunks, "reasoning_signature"),
        "EuYBCuMBAdHtim9THINK"
    );
    assert_eq!(joined(&chunks, "content"), "17 × 23 = 391.");
    // The signature comes with the last thought, before any answer text.
    let sig_at = chunks
        .iter()
        .position(|c| c.pointer("/choices/0/delta/reasoning_signature").is_some())
        .unwrap();
    let text_at = chunks
        .iter()
        .position(|c| c.pointer("/choices/0/delta/content").is_some())
        .unwrap();
    assert!(sig_at < text_at);
    assert_eq!(
        finish_chunks(&chunks)[0]["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        json!(107)
    );
}

#[test]
fn safety_stop_stream_to_hub() {
    let ctx = provider_ctx("gemini-2.5-flash", true);
    let chunks = gemini_to_hub(&ctx, fixture!("stream_safety.sse"));
    assert_eq!(joined(&chunks, "content"), "I cannot");
    assert_eq!(
        finish_chunks(&chunks)[0]["choices"][0]["finish_reason"],
        "content_filter"
    );
}

#[test]
fn gemini_stream_error_event_and_fail() {
    let ctx = provider_ctx("gemini-2.5-flash", true);
    let mut stage = stream::gemini_stream_to_hub(&ctx);
    let mut out = Vec::new();
    let err = stage
        .push(
            StreamEvent::hub(
                json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
            ),
            &mut out,
        )
        .unwrap_err();
    assert!(matches!(err, TranslateError::BadUpstream(m) if m.contains("overloaded")));
    stage.fail(
        &ApiError::new(503, ErrorKind::Upstream, "overloaded"),
        &mut out,
    );
    stage.fail(&ApiError::internal("again"), &mut out);
    stage.finish(&mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data["error"]["message"], "overloaded");
    assert_eq!(out[0].data["error"]["type"], "api_error");
}

#[test]
fn empty_gemini_stream_still_finishes_once() {
    let ctx = provider_ctx("gemini-2.5-flash", true);
    let mut stage = stream::gemini_stream_to_hub(&ctx);
    let mut out = Vec::new();
    stage.finish(&mut out).unwrap();
    stage.finish(&mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data["choices"][0]["finish_reason"], "stop");
    assert_eq!(out[0].data["choices"][0]["delta"]["role"], "assistant");
}

// ---------------------------------------------------------------------------------------
// hub stream -> Gemini client

#[test]
fn hub_tool_stream_to_gemini_buffers_calls_until_finish() {
    let ctx = client_ctx("gpt-5.5", true);
    let chunks = hub_to_gemini(&ctx, fixture!("hub_stream_tools.sse"));
    assert_eq!(
        chunks,
        vec![
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking both."}]}, "index": 0}],
                   "modelVersion": "gpt-5.5", "responseId": "chatcmpl-AbC1"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_Paris1"}},
                        {"functionCall": {"name": "Get-Weather.v2", "args": {"city": "Rome"}, "id": "call_Rome2"}}
                    ]}, "finishReason": "STOP", "index": 0}],
                   "modelVersion": "gpt-5.5", "responseId": "chatcmpl-AbC1",
                   "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 18, "totalTokenCount": 80,
                                     "thoughtsTokenCount": 12, "cachedContentTokenCount": 10}}),
        ]
    );
}

#[test]
fn hub_thinking_stream_to_gemini() {
    let ctx = client_ctx("claude-sonnet-5", true);
    let chunks = hub_to_gemini(&ctx, fixture!("hub_stream_thinking.sse"));
    let parts: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .collect();
    assert_eq!(
        parts,
        vec![
            &json!({"text": "The user wants ", "thought": true}),
            &json!({"text": "a haiku.", "thought": true}),
            &json!({"text": "", "thought": true, "thoughtSignature": "c3dpdGNoeWFyZC1zaWc6RXJVQkNrWUlCeGdDS2tCLWNsYXVkZS1zaWc="}),
            &json!({"text": "Autumn wind"}),
            &json!({"text": ""}),
        ]
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["modelVersion"], "claude-sonnet-5");
    assert!(last.get("usageMetadata").is_none());
    assert_eq!(
        chunks
            .iter()
            .filter(|c| c["candidates"][0].get("finishReason").is_some())
            .count(),
        1
    );
}

#[test]
fn hub_to_gemini_fail_emits_one_error_and_nothing_after() {
    let ctx = client_ctx("m", true);
    let mut stage = stream::hub_stream_to_gemini(&ctx);
    let mut out = Vec::new();
    let events = parse_sse_text(fixture!("hub_stream_tools.sse")).unwrap();
    for ev in events.into_iter().take(4) {
        stage.push(ev, &mut out).unwrap();
    }
    let before = out.len();
    stage.fail(
        &ApiError::new(429, ErrorKind::RateLimited, "slow down"),
        &mut out,
    );
    stage.fail(&ApiError::internal("twice"), &mut out);
    stage.finish(&mut out).unwrap();
    assert_eq!(out.len(), before + 1);
    assert_eq!(
        out.last().unwrap().data,
        json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}})
    );
    // After a normal close, fail adds nothing.
    let mut stage = stream::hub_stream_to_gemini(&ctx);
    let mut out = run_stage(
        stage.as_mut(),
        parse_sse_text(fixture!("hub_stream_thinking.sse")).unwrap(),
    )
    .unwrap();
    let n = out.len();
    stage.fail(&ApiError::internal("late"), &mut out);
    stage.finish(&mut out).unwrap();
    assert_eq!(out.len(), n);
}

#[test]
fn gemini_stream_through_hub_back_to_gemini() {
    // A Gemini provider stream relayed to a Gemini-speaking client through the hub.
    let mut ctx = TranslateCtx::new(Format::Gemini, Format::Gemini, "gemini-3-pro-preview", true);
    ctx.tool_names
        .insert("mcp/srv/Read File", "mcp__srv__read_file");
    let mut up = stream::gemini_stream_to_hub(&ctx);
    let mut down = stream::hub_stream_to_gemini(&ctx);
    let hub = run_stage(
        up.as_mut(),
        parse_sse_text(fixture!("stream_tools.sse")).unwrap(),
    )
    .unwrap();
    let out = run_stage(down.as_mut(), hub).unwrap();
    let last = &out.last().unwrap().data;
    let parts = &last["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["functionCall"]["name"], "get_weather");
    assert_eq!(parts[0]["functionCall"]["args"], json!({"city": "Paris"}));
    assert_eq!(parts[0]["thoughtSignature"], "CiQB0e2Kb1sigPARIS==");
    assert_eq!(parts[1]["functionCall"]["name"], "mcp/srv/Read File");
    assert!(parts[1].get("thoughtSignature").is_none());
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 50);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 40);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 210);
}

// ---------------------------------------------------------------------------------------
// Requests and whole responses

#[test]
fn genai_sdk_request_to_hub_matches_golden() {
    let mut ctx = TranslateCtx::new(Format::Gemini, Format::Claude, "claude-sonnet-5", true);
    let hub =
        request::gemini_request_to_hub(json_fixture(fixture!("request_genai_sdk.json")), &mut ctx)
            .unwrap();
    assert_eq!(hub, json_fixture(fixture!("request_genai_sdk.hub.json")));
}

#[test]
fn claude_code_hub_request_to_gemini_matches_golden() {
    let mut ctx = TranslateCtx::new(Format::Claude, Format::Gemini, "gemini-3-pro-preview", true);
    let out = request::hub_request_to_gemini(
        json_fixture(fixture!("hub_request_claude_code.json")),
        &mut ctx,
    )
    .unwrap();
    assert_eq!(
        out,
        json_fixture(fixture!("hub_request_claude_code.gemini.json"))
    );
    assert_eq!(
        ctx.tool_names.client_name("mcp__my_server__query"),
        "mcp__my server__query"
    );
    assert_eq!(ctx.tool_names.client_name("Bash"), "Bash");
}

#[test]
fn tool_response_round_trips_through_hub() {
    let mut ctx = TranslateCtx::new(
        Format::Gemini,
        Format::Gemini,
        "gemini-3-pro-preview",
        false,
    );
    ctx.tool_names.insert("mcp/fs/Read", "mcp__fs__read_file");
    let original = json_fixture(fixture!("response_tools.json"));
    let hub = response::gemini_response_to_hub(original.clone(), &ctx).unwrap();
    let msg = &hub["choices"][0]["message"];
    assert_eq!(hub["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["content"], "I'll look around.");
    assert_eq!(msg["reasoning_signature"], "CiIBVKhc7sigBASH");
    assert_eq!(msg["tool_calls"][1]["function"]["name"], "mcp/fs/Read");
    assert_eq!(
        hub["usage"],
        json!({"prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300,
               "prompt_tokens_details": {"cached_tokens": 1500},
               "completion_tokens_details": {"reasoning_tokens": 240}})
    );

    // hub -> Gemini client: the same parts come back (plus the hub ids), names as the
    // client knows them.
    let back = response::hub_response_to_gemini(hub.clone(), &ctx).unwrap();
    let parts = back["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap();
    let orig_parts = original["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap();
    assert_eq!(parts.len(), orig_parts.len());
    assert_eq!(parts[0], orig_parts[0]);
    assert_eq!(parts[1], orig_parts[1]);
    assert_eq!(parts[2]["thoughtSignature"], "CiIBVKhc7sigBASH");
    assert_eq!(
        parts[2]["functionCall"]["args"],
        json!({"command": "ls -la"})
    );
    assert_eq!(parts[3]["functionCall"]["name"], "mcp/fs/Read");
    assert!(parts[3].get("thoughtSignature").is_none());
    assert_eq!(back["usageMetadata"], {
        let mut m = original["usageMetadata"].clone();
        m.as_object_mut().unwrap().remove("promptTokensDetails");
        m
    });

    // Replaying the hub message upstream puts every signature back where it came from.
    let replay = json!({"messages": [
        {"role": "user", "content": "go"},
        msg,
        {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "a\nb"},
        {"role": "tool", "tool_call_id": msg["tool_calls"][1]["id"], "content": "# readme"}
    ]});
    let mut ctx2 = provider_ctx("gemini-3-pro-preview", false);
    let up = request::hub_request_to_gemini(replay, &mut ctx2).unwrap();
    let model_parts = &up["contents"][1]["parts"];
    assert_eq!(model_parts[2]["thoughtSignature"], "CiIBVKhc7sigBASH");
    assert!(model_parts[0].get("thoughtSignature").is_none());
    assert!(model_parts[3].get("thoughtSignature").is_none());
    assert_eq!(
        up["contents"][2]["parts"][1]["functionResponse"],
        json!({"name": "mcp_fs_Read", "response": {"result": "# readme"}})
    );
}

#[test]
fn signature_survives_a_client_that_keeps_only_reasoning_signature() {
    // Claude clients keep `reasoning_signature` (thinking.signature) but drop
    // `extra_content`; the signature must still land on the first function call.
    let ctx = provider_ctx("gemini-3-pro-preview", false);
    let hub = response::gemini_response_to_hub(json_fixture(fixture!("response_tools.json")), &ctx)
        .unwrap();
    let mut msg = hub["choices"][0]["message"].clone();
    for call in msg["tool_calls"].as_array_mut().unwrap() {
        call.as_object_mut().unwrap().remove("extra_content");
    }
    let body = json!({"messages": [{"role": "user", "content": "go"}, msg]});
    let mut ctx2 = provider_ctx("gemini-3-pro-preview", false);
    let up = request::hub_request_to_gemini(body, &mut ctx2).unwrap();
    let parts = &up["contents"][1]["parts"];
    assert_eq!(parts[2]["thoughtSignature"], "CiIBVKhc7sigBASH");
    assert!(parts[0].get("thoughtSignature").is_none());
}

#[test]
fn both_pairs_are_registered_with_every_function() {
    let ours = crate::wire::lookup(Format::Gemini).unwrap();
    let registry = crate::registry::Registry::from_formats([ours]).unwrap();
    for (from, to) in [
        (Format::Gemini, Format::OpenAi),
        (Format::OpenAi, Format::Gemini),
    ] {
        assert!(registry.request(from, to).is_ok());
        assert!(registry.response(from, to).is_ok());
        assert!(registry.stream(from, to).is_ok());
    }
    assert_eq!(registry.pairs().len(), 2);
}

#[test]
fn hub_stream_signature_lands_on_the_first_function_call() {
    let ctx = client_ctx("claude-sonnet-5", true);
    let chunk = |delta: Value, finish: Value| {
        StreamEvent::hub(json!({"id": "msg_1", "model": "claude-sonnet-5",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
    };
    let events = vec![
        chunk(
            json!({"role": "assistant", "reasoning_content": "need ls"}),
            Value::Null,
        ),
        chunk(json!({"reasoning_signature": "SIG-A"}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function",
            "function": {"name": "Bash", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"command\":\"ls\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        StreamEvent::hub(
            json!({"id": "msg_1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
        ),
    ];
    let mut stage = stream::hub_stream_to_gemini(&ctx);
    let out = run_stage(stage.as_mut(), events).unwrap();
    let last = &out.last().unwrap().data;
    assert_eq!(
        last["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "Bash", "args": {"command": "ls"}, "id": "toolu_1"},
                "thoughtSignature": "c3dpdGNoeWFyZC1zaWc6U0lHLUE="}])
    );
    assert_eq!(
        last["usageMetadata"],
        json!({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7})
    );
    // The Gemini client echoes that turn back: the hub message gets the signature both on
    // the call and as the message's reasoning signature.
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [{"text": "need ls", "thought": true}, last["candidates"][0]["content"]["parts"][0].clone()]},
        {"role": "user", "parts": [{"functionResponse": {"id": "toolu_1", "name": "Bash", "response": {"output": "a"}}}]}
    ]});
    let mut ctx = TranslateCtx::new(Format::Gemini, Format::Claude, "claude-sonnet-5", false);
    let hub = request::gemini_request_to_hub(body, &mut ctx).unwrap();
    assert_eq!(
        hub["messages"][1],
        json!({"role": "assistant", "content": null, "reasoning_content": "need ls",
               "reasoning_signature": "SIG-A", "tool_calls": [{"id": "toolu_1", "type": "function",
               "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"},
               "extra_content": {"google": {"thought_signature": "SIG-A"}}}]})
    );
    assert_eq!(
        hub["messages"][2],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "a"})
    );
}

// ---------------------------------------------------------------------------------------
// Property tests: arbitrary JSON never panics any translator.

const KEYS: &[&str] = &[
    "candidates",
    "content",
    "parts",
    "text",
    "thought",
    "thoughtSignature",
    "functionCall",
    "functionResponse",
    "name",
    "args",
    "id",
    "response",
    "finishReason",
    "index",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
    "cachedContentTokenCount",
    "role",
    "contents",
    "systemInstruction",
    "tools",
    "functionDeclarations",
    "parameters",
    "parametersJsonSchema",
    "parameters_json_schema",
    "toolConfig",
    "functionCallingConfig",
    "mode",
    "allowedFunctionNames",
    "generationConfig",
    "thinkingConfig",
    "thinkingBudget",
    "thinkingLevel",
    "responseSchema",
    "responseJsonSchema",
    "responseMimeType",
    "inlineData",
    "fileData",
    "mimeType",
    "data",
    "fileUri",
    "promptFeedback",
    "blockReason",
    "error",
    "message",
    "messages",
    "choices",
    "delta",
    "tool_calls",
    "function",
    "arguments",
    "finish_reason",
    "usage",
    "reasoning_content",
    "reasoning_signature",
    "tool_call_id",
    "type",
    "properties",
    "items",
    "anyOf",
    "$ref",
    "$defs",
    "required",
    "enum",
    "const",
    "allOf",
    "response_format",
    "json_schema",
    "schema",
    "tool_choice",
    "image_url",
    "url",
    "extra_content",
    "google",
    "thought_signature",
    "stop",
    "reasoning_effort",
    "model",
    "modelVersion",
    "responseId",
];

const WORDS: &[&str] = &[
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "model",
    "user",
    "assistant",
    "tool",
    "system",
    "function",
    "object",
    "string",
    "OBJECT",
    "ANY",
    "AUTO",
    "NONE",
    "null",
    "json_schema",
    "json_object",
    "application/json",
    "data:image/png;base64,AAAA",
    "https://x/y.png",
    "#/$defs/a",
    "{\"a\":1}",
    "{",
    "high",
    "low",
    "",
    "\u{1F600}",
    "a b/c",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
                        1 => "[a-z_]{0,6}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn run_events(stage: &mut dyn StreamStage, events: &[Value], fail_at: Option<usize>) {
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        if fail_at == Some(i) {
            stage.fail(&ApiError::internal("boom"), &mut out);
        }
        let _ = stage.push(StreamEvent::hub(ev.clone()), &mut out);
    }
    let _ = stage.finish(&mut out);
    stage.fail(&ApiError::internal("late"), &mut out);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn stream_stages_never_panic(events in prop::collection::vec(arb_json(), 0..8), fail_at in prop::option::of(0usize..8)) {
        let mut ctx = provider_ctx("gemini-3-flash", true);
        ctx.tool_names.insert("a b", "a_b");
        run_events(stream::gemini_stream_to_hub(&ctx).as_mut(), &events, fail_at);
        run_events(stream::hub_stream_to_gemini(&ctx).as_mut(), &events, fail_at);
    }

    #[test]
    fn request_and_response_translators_never_panic(body in arb_json()) {
        let mut ctx = provider_ctx("gemini-3-pro-preview", false);
        let _ = request::hub_request_to_gemini(body.clone(), &mut ctx);
        let _ = request::gemini_request_to_hub(body.clone(), &mut ctx);
        let _ = response::gemini_response_to_hub(body.clone(), &ctx);
        let _ = response::hub_response_to_gemini(body.clone(), &ctx);
        let mut ctx = provider_ctx("gemini-2.5-flash", true);
        let _ = request::hub_request_to_gemini(body, &mut ctx);
    }

    #[test]
    fn shaped_requests_never_panic(messages in prop::collection::vec(arb_json(), 0..6), tools in prop::collection::vec(arb_json(), 0..3), contents in prop::collection::vec(arb_json(), 0..6)) {
        let mut ctx = provider_ctx("gemini-3-pro-preview", false);
        let _ = request::hub_request_to_gemini(json!({"messages": messages, "tools": tools}), &mut ctx);
        let _ = request::gemini_request_to_hub(json!({"contents": contents, "tools": tools}), &mut ctx);
        let _ = response::gemini_response_to_hub(json!({"candidates": contents}), &ctx);
        let _ = response::hub_response_to_gemini(json!({"choices": messages}), &ctx);
    }

    #[test]
    fn sanitized_names_are_valid_and_reversible(names in prop::collection::vec(".{0,80}", 1..6)) {
        let tools: Vec<Value> = names.iter().map(|n| json!({"type": "function", "function": {"name": n}})).collect();
        let mut ctx = provider_ctx("gemini-2.5-flash", false);
        let out = request::hub_request_to_gemini(json!({"messages": [], "tools": tools}), &mut ctx).unwrap();
        let decls = out["tools"][0]["functionDeclarations"].as_array().unwrap();
        let mut seen = std::collections::HashSet::new();
        for (decl, original) in decls.iter().zip(&names) {
            let sent = decl["name"].as_str().unwrap();
            prop_assert!(super::is_valid_name(sent), "{sent:?}");
            prop_assert_eq!(ctx.tool_names.client_name(sent), original.as_str());
            seen.insert((sent.to_owned(), original.clone()));
        }
        // Distinct client names never share a Gemini name.
        let sent_names: std::collections::HashSet<_> = seen.iter().map(|(s, _)| s).collect();
        let originals: std::collections::HashSet<_> = seen.iter().map(|(_, o)| o).collect();
        prop_assert_eq!(sent_names.len(), originals.len());
    }
}

#[test]
fn foreign_signatures_become_base64_and_come_back_unchanged() {
    use super::{signature_from_gemini, signature_to_gemini};
    for foreign in ["sig-fake-1", "rs_fake_58|enc-fake-1"] {
        let wire = signature_to_gemini(foreign);
        assert!(super::is_base64(&wire), "{wire}");
        assert_eq!(signature_from_gemini(&wire), foreign);
    }
    // Gemini's own signatures pass untouched both ways.
    assert_eq!(signature_to_gemini("c2lnLWZha2U="), "c2lnLWZha2U=");
    assert_eq!(signature_from_gemini("c2lnLWZha2U="), "c2lnLWZha2U=");
}

#[test]
fn a_streamed_message_carries_its_signature_once() {
    let ctx = provider_ctx("gemini-2.5-flash", true);
    let mut stage = stream::gemini_stream_to_hub(&ctx);
    let chunk = serde_json::json!({"candidates": [{"index": 0, "content": {"role": "model", "parts": [
        {"text": "hmm", "thought": true, "thoughtSignature": "c2lnLWZha2U="},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2lnLWZha2U="}
    ]}, "finishReason": "STOP"}]});
    let out =
        crate::stream::run_stage(stage.as_mut(), vec![crate::stream::StreamEvent::hub(chunk)])
            .unwrap();
    let sigs: Vec<&str> = out
        .iter()
        .filter_map(|e| {
            e.data
                .pointer("/choices/0/delta/reasoning_signature")
                .and_then(serde_json::Value::as_str)
        })
        .collect();
    assert_eq!(sigs, ["c2lnLWZha2U="]);
}
