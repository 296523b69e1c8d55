//! Golden and round-trip tests across the crate: recorded streams through the decoder and
//! the stream stage, hub requests through the translator and the executor.

use std::collections::BTreeMap;

use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};
use switchyard_auth::{Credential, Secret};
use switchyard_hub::stream::run_stage;
use switchyard_hub::{
    ApiError, Decoder, ErrorKind, Format, StreamEvent, TranslateCtx, TranslateError,
};
use switchyard_provider::{Executor, ProviderSettings};

use crate::checksum::{client_key, session_id, time_cipher};
use crate::decoder::CursorDecoder;
use crate::executor::{CursorExecutor, finish_request};
use crate::framing::{self, FLAG_COMPRESSED, FLAG_END_STREAM};
use crate::proto::{self, StreamUnifiedChatRequestWithTools, StreamUnifiedChatResponseWithTools};
use crate::request::{build, hub_to_cursor};
use crate::stream::cursor_stream_to_hub;

const TEXT_AND_TOOLS: &[u8] = include_bytes!("../tests/fixtures/text_and_tools.bin");
const EXHAUSTED: &[u8] = include_bytes!("../tests/fixtures/exhausted.bin");
const TEXT_AND_TOOLS_EXPECTED: &str =
    include_str!("../tests/fixtures/text_and_tools.expected.json");
const REQUEST_AGENT: &str = include_str!("../tests/fixtures/request_agent.json");
const REQUEST_AGENT_EXPECTED: &str = include_str!("../tests/fixtures/request_agent.expected.json");

/// Every event of `bytes` fed in two pieces cut at `cut`, then the end of the body.
fn decode(bytes: &[u8], cut: usize) -> Result<Vec<StreamEvent>, TranslateError> {
    let mut d = CursorDecoder::default();
    let mut events = Vec::new();
    let cut = cut.min(bytes.len());
    for piece in [&bytes[..cut], &bytes[cut..]] {
        d.push(piece);
        while let Some(ev) = d.next_event() {
            events.push(ev?);
        }
    }
    events.extend(d.finish()?);
    Ok(events)
}

fn ctx_with_tools(tools: &[&str]) -> TranslateCtx {
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "claude-4-sonnet", true);
    for t in tools {
        ctx.tool_names.insert(t, &format!("mcp_custom_{t}"));
    }
    ctx
}

/// The deltas and finish reasons of hub chunks (ids and times vary per stream).
fn deltas(chunks: &[StreamEvent]) -> Vec<Value> {
    chunks
        .iter()
        .filter(|c| c.data.get("usage").is_none())
        .map(|c| {
            assert_eq!(c.data["object"], "chat.completion.chunk");
            assert_eq!(c.data["model"], "claude-4-sonnet");
            assert_eq!(c.data["id"], chunks[0].data["id"]);
            json!({"delta": c.data["choices"][0]["delta"], "finish_reason": c.data["choices"][0]["finish_reason"]})
        })
        .collect()
}

#[test]
fn recorded_stream_becomes_hub_chunks() {
    let events = decode(TEXT_AND_TOOLS, 0).unwrap();
    let names: Vec<_> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "thinking",
            "text",
            "text",
            "text",
            "tool_call",
            "tool_call",
            "tool_call",
            "tool_call"
        ]
    );
    assert_eq!(events[4].data["id"], "call_1");
    assert_eq!(events[4].data["model_call_id"], "m1");
    assert_eq!(events[4].data["last"], false);
    assert_eq!(events[5].data["mcp_name"], "read_file");

    let mut ctx = ctx_with_tools(&["Bash", "read_file"]);
    ctx.prompt_estimate = 40;
    let mut stage = cursor_stream_to_hub(&ctx);
    let chunks = run_stage(stage.as_mut(), events).unwrap();
    let expected: Value = serde_json::from_str(TEXT_AND_TOOLS_EXPECTED).unwrap();
    assert_eq!(Value::Array(deltas(&chunks)), expected);
    // Then one usage chunk, estimated: "Let me look." + "Hello, world" + both calls' names
    // and arguments = 12 + 12 + 25 + 20 bytes = 69 bytes -> 18 tokens.
    let usage = chunks.last().unwrap();
    assert_eq!(usage.data["choices"], json!([]));
    assert_eq!(
        usage.data["usage"],
        json!({"prompt_tokens": 40, "completion_tokens": 18, "total_tokens": 58, "estimated": true})
    );
    let u = switchyard_hub::Usage::from_openai(&usage.data["usage"]).unwrap();
    assert!(u.estimated);
}

#[test]
fn every_split_of_the_stream_gives_the_same_events() {
    let whole = decode(TEXT_AND_TOOLS, 0).unwrap();
    for cut in 0..=TEXT_AND_TOOLS.len() {
        assert_eq!(decode(TEXT_AND_TOOLS, cut).unwrap(), whole, "cut at {cut}");
    }
    // One byte at a time: each event is ready as soon as its frame is.
    let mut d = CursorDecoder::default();
    let mut events = Vec::new();
    for b in TEXT_AND_TOOLS {
        d.push(std::slice::from_ref(b));
        while let Some(ev) = d.next_event() {
            events.push(ev.unwrap());
        }
    }
    assert_eq!(d.finish().unwrap(), None);
    assert_eq!(events, whole);
}

#[test]
fn events_come_out_frame_by_frame() {
    // The first frame alone gives its event before anything else has arrived.
    let first_len = 5 + u32::from_be_bytes(TEXT_AND_TOOLS[1..5].try_into().unwrap()) as usize;
    let mut d = CursorDecoder::default();
    d.push(&TEXT_AND_TOOLS[..first_len]);
    let ev = d.next_event().unwrap().unwrap();
    assert_eq!(ev.event.as_deref(), Some("thinking"));
    assert!(d.next_event().is_none());
}

#[test]
fn resource_exhausted_is_a_429_after_the_text_before_it() {
    let mut d = CursorDecoder::default();
    d.push(EXHAUSTED);
    let first = d.next_event().unwrap().unwrap();
    assert_eq!(first.data["text"], "Hi");
    let Some(Err(TranslateError::Upstream(err))) = d.next_event() else {
        panic!("expected an upstream error");
    };
    assert_eq!(err.status, 429);
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(err.code, Some("resource_exhausted"));
    assert_eq!(
        err.message,
        "Cursor: Too many requests: You have used up your fast requests."
    );
    // The stream is over: nothing more, and no second error at the end.
    assert!(d.next_event().is_none());
    assert_eq!(d.finish(), Ok(None));
}

fn end_stream_error(error: Value) -> ApiError {
    let mut bytes = Vec::new();
    framing::encode(
        FLAG_END_STREAM,
        json!({ "error": error }).to_string().as_bytes(),
        &mut bytes,
    )
    .unwrap();
    match decode(&bytes, 0) {
        Err(TranslateError::Upstream(e)) => e,
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

#[test]
fn connect_error_codes_map_to_statuses() {
    let e = end_stream_error(json!({"code": "unauthenticated", "message": "Not logged in"}));
    assert_eq!((e.status, e.kind), (401, ErrorKind::Authentication));
    assert_eq!(e.message, "Cursor: Not logged in");
    let e = end_stream_error(json!({"code": "permission_denied"}));
    assert_eq!(
        (e.status, e.message.as_str()),
        (403, "Cursor: permission denied")
    );
    let e = end_stream_error(json!({"code": "invalid_argument", "message": "bad model"}));
    assert_eq!(e.status, 400);
    let e = end_stream_error(json!({"code": "unavailable"}));
    assert_eq!(e.status, 503);
    let e = end_stream_error(json!({"code": "something_new"}));
    assert_eq!((e.status, e.kind), (502, ErrorKind::Upstream));
    // Through the hub error conversion the status survives.
    let api: ApiError = TranslateError::Upstream(e.clone()).into();
    assert_eq!(api, e);
}

#[test]
fn a_json_error_in_a_data_frame_is_an_error() {
    let mut bytes = Vec::new();
    let body = json!({"error": {"code": "resource_exhausted", "message": "slow down"}});
    framing::encode(0, body.to_string().as_bytes(), &mut bytes).unwrap();
    match decode(&bytes, 0) {
        Err(TranslateError::Upstream(e)) => assert_eq!(e.status, 429),
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_streams_are_errors() {
    // Cut anywhere before the end-of-stream frame: an error, never a silent short answer.
    for end in 0..TEXT_AND_TOOLS.len() {
        assert!(
            matches!(
                decode(&TEXT_AND_TOOLS[..end], end),
                Err(TranslateError::BadUpstream(_))
            ),
            "truncated at {end}"
        );
    }
    // Data after the end of the stream.
    let mut bytes = TEXT_AND_TOOLS.to_vec();
    framing::encode(0, b"", &mut bytes).unwrap();
    assert!(decode(&bytes, 0).is_err());
    // Not protobuf.
    let mut bytes = Vec::new();
    framing::encode(0, &[0xff, 0xff, 0xff], &mut bytes).unwrap();
    assert!(
        matches!(decode(&bytes, 0), Err(TranslateError::BadUpstream(m)) if m.contains("protobuf"))
    );
    // An end-of-stream message that is not JSON.
    let mut bytes = Vec::new();
    framing::encode(FLAG_END_STREAM, b"nope", &mut bytes).unwrap();
    assert!(decode(&bytes, 0).is_err());
    // An oversized length fails on the header alone.
    let mut d = CursorDecoder::default();
    d.push(&[0, 0x7f, 0xff, 0xff, 0xff]);
    assert!(matches!(
        d.next_event(),
        Some(Err(TranslateError::BadUpstream(_)))
    ));
    assert!(d.next_event().is_none());
}

#[test]
fn tool_call_without_a_last_fragment_goes_out_at_the_end() {
    let ctx = ctx_with_tools(&["Bash"]);
    let mut stage = cursor_stream_to_hub(&ctx);
    let events = vec![
        StreamEvent::named(
            "tool_call",
            json!({"id": "c9", "name": "mcp_custom_Bash", "args": "{\"a\":", "last": false}),
        ),
        StreamEvent::named(
            "tool_call",
            json!({"id": "c9", "args": "1}", "last": false}),
        ),
    ];
    let chunks = run_stage(stage.as_mut(), events).unwrap();
    let d = deltas(&chunks);
    assert_eq!(d[1]["delta"]["tool_calls"][0]["function"]["name"], "Bash");
    assert_eq!(
        d[2]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":1}"
    );
    assert_eq!(d.last().unwrap()["finish_reason"], "tool_calls");
}

#[test]
fn unknown_tool_names_lose_only_the_mcp_prefix() {
    let ctx = ctx_with_tools(&[]);
    let mut stage = cursor_stream_to_hub(&ctx);
    let events = vec![StreamEvent::named(
        "tool_call",
        json!({"id": "c1", "name": "mcp_custom_Other", "args": "", "mcp_args": "{\"x\":2}", "last": true}),
    )];
    let chunks = run_stage(stage.as_mut(), events).unwrap();
    let d = deltas(&chunks);
    assert_eq!(d[1]["delta"]["tool_calls"][0]["function"]["name"], "Other");
    // No fragments: the arguments from the MCP parameters.
    assert_eq!(
        d[2]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"x\":2}"
    );
}

#[test]
fn text_only_stream_stops_and_fail_is_one_error() {
    let ctx = ctx_with_tools(&[]);
    let mut stage = cursor_stream_to_hub(&ctx);
    let chunks = run_stage(
        stage.as_mut(),
        vec![StreamEvent::named("text", json!({"text": "ok"}))],
    )
    .unwrap();
    assert_eq!(deltas(&chunks).last().unwrap()["finish_reason"], "stop");

    let mut stage = cursor_stream_to_hub(&ctx);
    let mut out = Vec::new();
    let err = ApiError::new(429, ErrorKind::RateLimited, "quota");
    stage.fail(&err, &mut out);
    stage.fail(&err, &mut out);
    stage.finish(&mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data["error"]["type"], "rate_limit_error");
}

// ------------------------------------------------------------------------------------------
// Requests

fn fixed_ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("00000000-0000-4000-8000-{n:012}")
    }
}

#[test]
fn agent_request_matches_the_golden_file() {
    let hub: Value = serde_json::from_str(REQUEST_AGENT).unwrap();
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "claude-4-sonnet", true);
    let out = hub_to_cursor(hub.clone(), &mut ctx).unwrap();
    assert_eq!(
        ctx.prompt_estimate,
        switchyard_hub::usage::estimate_prompt_tokens(&hub)
    );
    assert!(ctx.prompt_estimate > 0);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/request_agent.expected.json"
        );
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_str(REQUEST_AGENT_EXPECTED).unwrap();
    assert_eq!(out, expected);
    // The tool names Cursor will use map back to the client's.
    assert_eq!(ctx.tool_names.client_name("mcp_custom_Bash"), "Bash");
    assert_eq!(
        ctx.tool_names.client_name("mcp_custom_mcp__fs__read"),
        "mcp__fs__read"
    );
}

#[test]
fn agent_request_semantics() {
    let hub: Value = serde_json::from_str(REQUEST_AGENT).unwrap();
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "claude-4-sonnet", true);
    let msg = build(&hub, &mut ctx).unwrap();
    let req = msg.request.unwrap();
    assert_eq!(
        req.instruction.unwrap().instruction.as_deref(),
        Some("You are terse.\n\nPrefer tools.")
    );
    assert_eq!(req.conversation.len(), 3);
    let roles: Vec<i32> = req.conversation.iter().map(|m| m.role).collect();
    assert_eq!(roles, [1, 2, 1]);
    assert_eq!(
        req.conversation[2].text.as_deref(),
        Some("Thanks. Now summarise.")
    );
    // Both results sit on the assistant turn, in the order of its calls.
    let results = &req.conversation[1].tool_results;
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].tool_call_id, "call_2");
    assert_eq!(results[1].tool_name, "mcp_custom_mcp__fs__read");
    assert_eq!(results[1].tool_index, 2);
    assert_eq!(
        results[1]
            .result
            .as_ref()
            .unwrap()
            .mcp_result
            .as_ref()
            .unwrap()
            .result,
        "hello"
    );
    assert_eq!(results[0].tool_call_id, "call_1");
    assert_eq!(results[0].model_call_id.as_deref(), Some("m1"));
    assert_eq!(results[0].raw_args, "{\"command\":\"ls\"}");
    assert_eq!(results[0].tool_index, 1);
    assert_eq!(
        results[0]
            .result
            .as_ref()
            .unwrap()
            .mcp_result
            .as_ref()
            .unwrap()
            .result,
        "a.txt\nb.txt"
    );
    // Only the last message says which tools are supported.
    assert_eq!(req.conversation[2].supported_tools, [1]);
    assert!(req.conversation[0].supported_tools.is_empty());
    assert_eq!(req.mcp_tools.len(), 2);
    assert_eq!(req.unified_mode, Some(proto::UnifiedMode::Agent as i32));
    assert_eq!(req.unified_mode_name.as_deref(), Some("Agent"));
    assert_eq!(req.thinking_level, Some(proto::ThinkingLevel::High as i32));
    assert_eq!(req.should_disable_tools, Some(false));
}

#[test]
fn ask_mode_without_tools_or_with_tool_choice_none() {
    for body in [
        json!({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium"}),
        json!({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium",
               "tools": [{"type": "function", "function": {"name": "x"}}], "tool_choice": "none"}),
    ] {
        let mut ctx = ctx_with_tools(&[]);
        let req = build(&body, &mut ctx).unwrap().request.unwrap();
        assert_eq!(req.unified_mode, Some(proto::UnifiedMode::Chat as i32));
        assert_eq!(req.unified_mode_name.as_deref(), Some("Ask"));
        assert_eq!(req.is_agentic, Some(false));
        assert_eq!(req.should_disable_tools, Some(true));
        assert!(req.mcp_tools.is_empty() && req.supported_tools.is_empty());
        assert_eq!(
            req.thinking_level,
            Some(proto::ThinkingLevel::Medium as i32)
        );
        assert_eq!(req.instruction.unwrap().instruction, None);
    }
}

#[test]
fn requests_cursor_cannot_take_are_refused_clearly() {
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]}),
            "`image_url` parts are not supported",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]}),
            "does not answer a tool call",
        ),
        (
            json!({"messages": [{"role": "system", "content": "only a system prompt"}]}),
            "at least one user message",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search"}]}),
            "only function tools",
        ),
        (
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
            "role `wizard`",
        ),
        (json!({"messages": "x"}), "`messages` must be an array"),
        (
            json!({"messages": [{"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
                {"role": "tool", "tool_call_id": "c", "content": "1"},
                {"role": "tool", "tool_call_id": "c", "content": "2"}]}),
            "answered twice",
        ),
    ];
    for (body, want) in cases {
        let mut ctx = ctx_with_tools(&[]);
        match build(&body, &mut ctx) {
            Err(TranslateError::InvalidRequest(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn unanswered_tool_calls_still_travel() {
    let body = json!({"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": ""}}]},
        {"role": "user", "content": "never mind"}
    ]});
    let req = build(&body, &mut ctx_with_tools(&[]))
        .unwrap()
        .request
        .unwrap();
    let r = &req.conversation[1].tool_results[0];
    assert_eq!(r.raw_args, "{}");
    assert_eq!(
        r.result
            .as_ref()
            .unwrap()
            .mcp_result
            .as_ref()
            .unwrap()
            .result,
        ""
    );
}

fn settings(options: &[(&str, &str)]) -> ProviderSettings {
    ProviderSettings {
        name: "cursor".into(),
        base_url: "https://api2.cursor.sh".into(),
        user_agent: Some("switchyard/0.1.0".into()),
        headers: Default::default(),
        options: options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn finish_request_fills_ids_model_and_metadata() {
    let hub: Value = serde_json::from_str(REQUEST_AGENT).unwrap();
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "ignored", true);
    let msg = build(&hub, &mut ctx).unwrap();
    let meta = proto::Metadata {
        os: "linux".into(),
        arch: "x64".into(),
        version: "v20.18.0".into(),
        cwd: "/".into(),
        timestamp: "2026-01-01T00:00:00.000Z".into(),
    };
    let bytes = finish_request(msg, "gpt-5", meta.clone(), fixed_ids());
    let req = StreamUnifiedChatRequestWithTools::decode(bytes.as_slice())
        .unwrap()
        .request
        .unwrap();
    assert_eq!(req.model.unwrap().model_name.as_deref(), Some("gpt-5"));
    let ids: Vec<&str> = req
        .conversation
        .iter()
        .map(|m| m.bubble_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "00000000-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000002",
            "00000000-0000-4000-8000-000000000003"
        ]
    );
    let listed: Vec<(&str, i32)> = req
        .message_ids
        .iter()
        .map(|m| (m.message_id.as_str(), m.role))
        .collect();
    assert_eq!(listed, [(ids[0], 1), (ids[1], 2), (ids[2], 1)]);
    assert_eq!(
        req.conversation_id.as_deref(),
        Some("00000000-0000-4000-8000-000000000004")
    );
    assert_eq!(req.metadata, Some(meta));
}

#[test]
fn executor_builds_a_connect_request() {
    let exec = CursorExecutor::new(settings(&[
        ("machine_id", "machine-from-options"),
        ("client_version", "9.9.9"),
    ]));
    assert!(exec.always_streams());
    assert_eq!(exec.format(), Format::Cursor);
    let hub: Value = serde_json::from_str(REQUEST_AGENT).unwrap();
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "claude-4-sonnet", true);
    let body = hub_to_cursor(hub, &mut ctx).unwrap();
    let cred = Credential::ApiKey(Secret::new("user_01::tok-abc"));
    let before = crate::executor::now_ms();
    let req = exec.build(body, "claude-4-sonnet", true, &cred).unwrap();
    let after = crate::executor::now_ms();

    assert_eq!(
        req.url,
        "https://api2.cursor.sh/aiserver.v1.ChatService/StreamUnifiedChatWithTools"
    );
    let h = |k: &str| req.headers[k].to_str().unwrap().to_owned();
    assert_eq!(h("content-type"), "application/connect+proto");
    assert_eq!(h("connect-protocol-version"), "1");
    assert_eq!(h("authorization"), "Bearer tok-abc");
    assert!(req.headers["authorization"].is_sensitive());
    assert_eq!(h("x-client-key"), client_key("tok-abc"));
    assert_eq!(h("x-session-id"), session_id("tok-abc"));
    assert_eq!(h("x-cursor-client-version"), "9.9.9");
    assert_eq!(h("user-agent"), "connect-es/1.6.1");
    let checksum = h("x-cursor-checksum");
    assert!(checksum.ends_with("machine-from-options"));
    assert!(
        checksum.starts_with(&time_cipher(before)) || checksum.starts_with(&time_cipher(after))
    );
    assert_eq!(checksum.len(), 8 + "machine-from-options".len());

    // One uncompressed frame holding the whole message.
    let body = &req.body[..];
    assert_eq!(body[0], 0);
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    assert_eq!(len, body.len() - 5);
    let msg = StreamUnifiedChatRequestWithTools::decode(&body[5..]).unwrap();
    let r = msg.request.unwrap();
    assert_eq!(
        r.model.unwrap().model_name.as_deref(),
        Some("claude-4-sonnet")
    );
    assert_eq!(r.message_ids.len(), 3);
    assert!(uuid::Uuid::parse_str(r.conversation_id.as_deref().unwrap()).is_ok());
    let meta = r.metadata.unwrap();
    assert!(
        meta.timestamp.ends_with('Z') && meta.timestamp.len() == 24,
        "{}",
        meta.timestamp
    );
}

#[test]
fn machine_id_comes_from_the_credential_then_options_then_the_token() {
    let hub = json!({"messages": [{"role": "user", "content": "hi"}]});
    let body = || {
        let mut ctx = ctx_with_tools(&[]);
        hub_to_cursor(hub.clone(), &mut ctx).unwrap()
    };
    let oauth = Credential::OAuth {
        access: Secret::new("tok-1"),
        refresh: None,
        expires_at: None,
        extra: BTreeMap::from([("machine_id".to_owned(), "imported-id".to_owned())]),
    };
    let exec = CursorExecutor::new(settings(&[("machine_id", "configured-id")]));
    let req = exec.build(body(), "m", true, &oauth).unwrap();
    assert!(
        req.headers["x-cursor-checksum"]
            .to_str()
            .unwrap()
            .ends_with("imported-id")
    );
    let req = exec
        .build(body(), "m", true, &Credential::ApiKey(Secret::new("tok-1")))
        .unwrap();
    assert!(
        req.headers["x-cursor-checksum"]
            .to_str()
            .unwrap()
            .ends_with("configured-id")
    );
    let exec = CursorExecutor::new(settings(&[]));
    let req = exec
        .build(body(), "m", true, &Credential::ApiKey(Secret::new("tok-1")))
        .unwrap();
    assert!(
        req.headers["x-cursor-checksum"]
            .to_str()
            .unwrap()
            .ends_with(&crate::checksum::sha256_hex("tok-1"))
    );
}

#[test]
fn executor_refuses_empty_tokens_and_untranslated_bodies() {
    let exec = CursorExecutor::new(settings(&[]));
    let err = exec
        .build(json!({}), "m", true, &Credential::ApiKey(Secret::new("")))
        .unwrap_err();
    assert_eq!(err.status, 401);
    let err = exec
        .build(
            json!({"request": 5}),
            "m",
            true,
            &Credential::ApiKey(Secret::new("t")),
        )
        .unwrap_err();
    assert_eq!(err.status, 500);
}

// ------------------------------------------------------------------------------------------
// Property tests: no input makes the decoder, the stage or the translator panic.

fn response_frame(rng: &[u8], text: &str, compress: bool) -> Vec<u8> {
    let msg = StreamUnifiedChatResponseWithTools {
        tool_call: (rng.first().copied().unwrap_or(0) % 2 == 0).then(|| {
            proto::ClientSideToolV2Call {
                tool_call_id: format!("c{}", rng.get(1).copied().unwrap_or(0) % 3),
                name: "mcp_custom_t".into(),
                raw_args: text.to_owned(),
                is_last: rng.get(2).copied().unwrap_or(0) % 2 == 0,
                ..Default::default()
            }
        }),
        response: Some(proto::StreamUnifiedChatResponse {
            text: text.to_owned(),
            thinking: None,
        }),
    };
    let payload = msg.encode_to_vec();
    let mut out = Vec::new();
    if compress {
        framing::encode(FLAG_COMPRESSED, &framing::tests::gzip(&payload), &mut out).unwrap();
    } else {
        framing::encode(0, &payload, &mut out).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn garbage_never_panics_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                        cut in 0usize..400) {
        let _ = decode(&bytes, cut);
    }

    #[test]
    fn corrupted_streams_never_panic(flip in 0usize..426, bit in 0u8..8, cut in 0usize..426) {
        let mut bytes = TEXT_AND_TOOLS.to_vec();
        if let Some(b) = bytes.get_mut(flip) {
            *b ^= 1 << bit;
        }
        if let Ok(events) = decode(&bytes, cut) {
            let ctx = ctx_with_tools(&["Bash"]);
            let mut stage = cursor_stream_to_hub(&ctx);
            let _ = run_stage(stage.as_mut(), events);
        }
    }

    #[test]
    fn generated_streams_round_trip_at_any_split(
        frames in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 3), "[a-z{}\":]{0,12}", any::<bool>()), 0..8),
        cut in 0usize..2000,
    ) {
        let mut bytes = Vec::new();
        for (rng, text, compress) in &frames {
            bytes.extend(response_frame(rng, text, *compress));
        }
        framing::encode(FLAG_END_STREAM, b"{}", &mut bytes).unwrap();
        let whole = decode(&bytes, 0).unwrap();
        prop_assert_eq!(&decode(&bytes, cut).unwrap(), &whole);
        let ctx = ctx_with_tools(&["t"]);
        let mut stage = cursor_stream_to_hub(&ctx);
        let chunks = run_stage(stage.as_mut(), whole).unwrap();
        let finish = chunks.iter().filter(|c| !c.data["choices"][0]["finish_reason"].is_null()).count();
        prop_assert_eq!(finish, 1);
        prop_assert!(chunks.last().is_some_and(|c| c.data["usage"]["estimated"] == true));
    }

    #[test]
    fn arbitrary_events_never_panic_the_stage(events in proptest::collection::vec(
        (prop_oneof![Just("text"), Just("thinking"), Just("tool_call"), Just("other")],
         proptest::option::of("[a-z]{0,3}"), proptest::option::of("[a-z{}]{0,6}"), any::<bool>()), 0..12)) {
        let ctx = ctx_with_tools(&["a"]);
        let mut stage = cursor_stream_to_hub(&ctx);
        let input: Vec<StreamEvent> = events
            .into_iter()
            .map(|(name, id, text, last)| {
                StreamEvent::named(name, json!({"id": id, "text": text, "args": text, "name": id, "last": last}))
            })
            .collect();
        let _ = run_stage(stage.as_mut(), input);
    }

    #[test]
    fn arbitrary_requests_never_panic_the_translator(
        roles in proptest::collection::vec(prop_oneof![Just("user"), Just("assistant"), Just("tool"), Just("system"), Just("x")], 0..6),
        ids in proptest::collection::vec("[ab]", 0..6),
        with_tools in any::<bool>(),
    ) {
        let messages: Vec<Value> = roles
            .iter()
            .zip(ids.iter().chain(std::iter::repeat(&String::from("a"))))
            .map(|(role, id)| match *role {
                "assistant" => json!({"role": role, "content": null, "tool_calls": [{"id": id, "function": {"name": "t", "arguments": 5}}]}),
                "tool" => json!({"role": role, "tool_call_id": id, "content": [{"type": "text", "text": "r"}]}),
                _ => json!({"role": role, "content": [{"type": "text", "text": "x"}, 7]}),
            })
            .collect();
        let mut body = json!({"messages": messages});
        if with_tools {
            body["tools"] = json!([{"type": "function", "function": {"name": "t", "parameters": "bad"}}]);
        }
        let mut ctx = ctx_with_tools(&[]);
        let _ = hub_to_cursor(body, &mut ctx);
    }
}

/// The key bytes of field `n` with wire type `wire`, as a varint.
fn key(n: u32, wire: u32) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(u64::from(n << 3 | wire), &mut out);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// A call frame as Cursor sends it, written by hand: 48 is the index (varint), 49 the model
// call id (string). With the Result's numbering this frame failed to decode.
#[test]
fn a_call_frame_numbers_index_48_and_model_call_id_49() {
    let mut call = Vec::new();
    prost::encoding::string::encode(3, &"call_7".to_owned(), &mut call);
    prost::encoding::string::encode(9, &"mcp_custom_Bash".to_owned(), &mut call);
    prost::encoding::string::encode(10, &"{}".to_owned(), &mut call);
    call.extend(key(48, 0));
    call.push(3);
    call.extend(key(49, 2));
    call.extend([2, b'm', b'9']);
    let mut payload = Vec::new();
    prost::encoding::bytes::encode(1, &call, &mut payload);

    let msg = StreamUnifiedChatResponseWithTools::decode(&payload[..]).unwrap();
    let decoded = msg.tool_call.unwrap();
    assert_eq!(decoded.tool_index, Some(3));
    assert_eq!(decoded.model_call_id.as_deref(), Some("m9"));

    let mut stream = Vec::new();
    framing::encode(0, &payload, &mut stream).unwrap();
    framing::encode(FLAG_END_STREAM, b"{}", &mut stream).unwrap();
    let events = decode(&stream, 3).unwrap();
    assert_eq!(events[0].event.as_deref(), Some("tool_call"));
    assert_eq!(events[0].data["id"], "call_7");
    assert_eq!(events[0].data["model_call_id"], "m9");
}

// A tool result repeats the call it answers: the call keeps the call's numbering (48 index
// varint, 49 model call id string), the result its own (48 model call id, 49 index).
#[test]
fn tool_results_number_the_call_and_the_result_each_their_own_way() {
    let hub: Value = serde_json::from_str(REQUEST_AGENT).unwrap();
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "claude-4-sonnet", true);
    let msg = build(&hub, &mut ctx).unwrap();
    let result = &msg.request.unwrap().conversation[1].tool_results[0];
    assert_eq!(result.model_call_id.as_deref(), Some("m1"));

    let call = result.tool_call.as_ref().unwrap().encode_to_vec();
    assert!(contains(&call, &[key(48, 0), vec![1]].concat()), "{call:?}");
    assert!(
        contains(&call, &[key(49, 2), vec![2, b'm', b'1']].concat()),
        "{call:?}"
    );
    let res = result.result.as_ref().unwrap().encode_to_vec();
    assert!(
        contains(&res, &[key(48, 2), vec![2, b'm', b'1']].concat()),
        "{res:?}"
    );
    assert!(contains(&res, &[key(49, 0), vec![1]].concat()), "{res:?}");
}
