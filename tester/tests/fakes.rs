//! The Anthropic, Responses and Gemini fakes, exercised directly over HTTP: what they accept,
//! what they refuse (with the real API's status and error shape), and the shape of their
//! streams. These prove the fakes faithful before any proxy test relies on them.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::{self as anthropic, FakeAnthropic};
use switchyard_tester::fake_gemini::{self as gemini, FakeGemini};
use switchyard_tester::fake_responses::{self as responses, FakeResponses};
use switchyard_tester::http_client::{Reply, next_data, post_json, request, send};

/// `(event name, data)` of each SSE event; takes `\n` and `\r\n` line ends.
fn sse_events(text: &str) -> Vec<(Option<String>, Value)> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|ev| !ev.trim().is_empty())
        .map(|ev| {
            let mut name = None;
            let mut data = Vec::new();
            for line in ev.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            let data = serde_json::from_str(&data.join("\n"))
                .unwrap_or_else(|e| panic!("bad event data ({e}): {ev}"));
            (name, data)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Anthropic

const ANTHROPIC_VERSION: &str = "2023-06-01";

async fn messages(fake: &FakeAnthropic, body: &Value) -> Reply {
    messages_with(fake, body, &[]).await
}

async fn messages_with(fake: &FakeAnthropic, body: &Value, extra: &[(&str, &str)]) -> Reply {
    let mut headers = vec![
        ("x-api-key", "sk-ant-test"),
        ("anthropic-version", ANTHROPIC_VERSION),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    request(
        "POST",
        &format!("{}/messages?beta=true", fake.base_url()),
        &headers,
        body.to_string(),
    )
    .await
}

fn claude(text: &str) -> Value {
    json!({"model": "claude-test", "max_tokens": 1024, "messages": [{"role": "user", "content": text}]})
}

fn claude_tools() -> Value {
    json!([
        {"name": "Read", "description": "read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        {"name": "Bash", "description": "run", "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
    ])
}

#[track_caller]
fn assert_anthropic_error(reply: &Reply, status: u16, kind: &str, needle: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn anthropic_answers_a_message_and_records_it() {
    let fake = FakeAnthropic::start().await;
    let reply = messages(&fake, &claude("hello")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-test");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": anthropic::REPLY}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["input_tokens"], anthropic::INPUT_TOKENS);
    assert_eq!(v["usage"]["output_tokens"], anthropic::OUTPUT_TOKENS);
    assert_eq!(
        v["usage"]["cache_read_input_tokens"],
        anthropic::CACHE_READ_INPUT_TOKENS
    );
    assert_eq!(
        v["usage"]["cache_creation_input_tokens"],
        anthropic::CACHE_CREATION_INPUT_TOKENS
    );
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/messages");
    assert_eq!(recorded[0].query.as_deref(), Some("beta=true"));
    assert_eq!(recorded[0].headers["x-api-key"], "sk-ant-test");
    assert_eq!(recorded[0].body["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn anthropic_auth_is_x_api_key_or_bearer() {
    let fake = FakeAnthropic::start().await;
    let url = format!("{}/messages", fake.base_url());
    let body = claude("hi").to_string();
    let bearer = request(
        "POST",
        &url,
        &[
            ("authorization", "Bearer sk-ant-oat-1"),
            ("anthropic-version", "2026-10-21"),
            ("content-type", "application/json"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(bearer.status, 200, "{}", bearer.text());

    let none = request(
        "POST",
        &url,
        &[
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "application/json"),
        ],
        body.clone(),
    )
    .await;
    assert_anthropic_error(&none, 401, "authentication_error", "x-api-key");

    let revoked = request(
        "POST",
        &url,
        &[
            ("x-api-key", "sk-revoked-1"),
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_anthropic_error(&revoked, 401, "authentication_error", "invalid");
}

#[tokio::test]
async fn anthropic_requires_version_header_and_json() {
    let fake = FakeAnthropic::start().await;
    let url = format!("{}/messages", fake.base_url());
    let no_version = request(
        "POST",
        &url,
        &[("x-api-key", "k"), ("content-type", "application/json")],
        claude("hi").to_string(),
    )
    .await;
    assert_anthropic_error(
        &no_version,
        400,
        "invalid_request_error",
        "anthropic-version",
    );
    let text = request(
        "POST",
        &url,
        &[
            ("x-api-key", "k"),
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "text/plain"),
        ],
        claude("hi").to_string(),
    )
    .await;
    assert_anthropic_error(&text, 400, "invalid_request_error", "content-type");
    let broken = request(
        "POST",
        &url,
        &[
            ("x-api-key", "k"),
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "application/json"),
        ],
        "{not json",
    )
    .await;
    assert_anthropic_error(&broken, 400, "invalid_request_error", "valid JSON");
}

#[tokio::test]
async fn anthropic_rejects_malformed_top_level_fields() {
    let fake = FakeAnthropic::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}),
            "model: Field required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "m", "max_tokens": "10", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Input should be a valid integer",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": []}),
            "messages",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": "hi"}),
            "messages: Input should be a valid list",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}], "n": 2}),
            "n: Extra inputs are not permitted",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]}),
            "temperature: Input should be less than or equal to 1",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "system": [{"type": "image", "source": {}}], "messages": [{"role": "user", "content": "x"}]}),
            "system.0.type",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "system": 5, "messages": [{"role": "user", "content": "x"}]}),
            "system",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "metadata": {"session": "x"}, "messages": [{"role": "user", "content": "x"}]}),
            "metadata.session: Extra inputs are not permitted",
        ),
    ];
    for (body, needle) in cases {
        let reply = messages(&fake, &body).await;
        assert_anthropic_error(&reply, 400, "invalid_request_error", needle);
    }
    // Accepted: system as a string or text blocks, temperature at its bound, metadata.user_id.
    let mut ok = claude("hi");
    ok["system"] =
        json!([{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]);
    ok["temperature"] = json!(1.0);
    ok["metadata"] = json!({"user_id": "{\"device_id\":\"d\"}"});
    assert_eq!(messages(&fake, &ok).await.status, 200);
}

#[tokio::test]
async fn anthropic_rejects_bad_roles_and_empty_content() {
    let fake = FakeAnthropic::start().await;
    let with = |msgs: Value| json!({"model": "m", "max_tokens": 10, "messages": msgs});
    let system = with(json!([
        {"role": "user", "content": "a"},
        {"role": "system", "content": "be nice"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"}
    ]));
    let reply = messages(&fake, &system).await;
    assert_anthropic_error(
        &reply,
        400,
        "invalid_request_error",
        "Unexpected role \"system\"",
    );
    // Claude Code's mid-conversation system messages are allowed under their beta.
    let reply = messages_with(
        &fake,
        &system,
        &[(
            "anthropic-beta",
            "claude-code-20250219,mid-conversation-system-2026-04-07",
        )],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!([{"role": "tool", "content": "x"}])),
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            with(json!([{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}])),
            "first message must use the \"user\" role",
        ),
        (
            with(json!([{"role": "user", "content": ""}])),
            "all messages must have non-empty content",
        ),
        (
            with(json!([{"role": "user", "content": []}])),
            "all messages must have non-empty content",
        ),
        (
            with(json!([{"role": "user", "content": [{"type": "text", "text": ""}]}])),
            "text content blocks must be non-empty",
        ),
        (
            with(json!([{"role": "user", "content": [{"type": "text", "text": "x", "index": 0}]}])),
            "messages.0.content.0.text.index: Extra inputs are not permitted",
        ),
        (
            with(json!([{"role": "user", "content": [{"type": "input_text", "text": "x"}]}])),
            "Input tag 'input_text'",
        ),
        (
            with(json!([{"role": "user", "content": "x", "name": "bob"}])),
            "messages.0.name: Extra inputs are not permitted",
        ),
        (
            with(
                json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "prefill "}]),
            ),
            "trailing whitespace",
        ),
    ];
    for (body, needle) in cases {
        let reply = messages(&fake, &body).await;
        assert_anthropic_error(&reply, 400, "invalid_request_error", needle);
    }
    // Consecutive same-role turns are merged, not refused; a final assistant prefill is fine.
    let merged = with(json!([
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "Sure"}
    ]));
    assert_eq!(messages(&fake, &merged).await.status, 200);
}

#[tokio::test]
async fn anthropic_pairs_tool_use_with_tool_result() {
    let fake = FakeAnthropic::start().await;
    let with = |msgs: Value| json!({"model": "m", "max_tokens": 10, "tools": claude_tools(), "messages": msgs});
    let use_block =
        json!({"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"cmd": "ls"}});
    let orphan = with(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [use_block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "x"}]}
    ]));
    assert_anthropic_error(
        &messages(&fake, &orphan).await,
        400,
        "invalid_request_error",
        "unexpected `tool_use_id` found in `tool_result` blocks: toolu_2",
    );
    let no_previous = with(json!([
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}
    ]));
    assert_anthropic_error(
        &messages(&fake, &no_previous).await,
        400,
        "invalid_request_error",
        "unexpected `tool_use_id`",
    );
    let unanswered = with(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [use_block]},
        {"role": "user", "content": "never mind"}
    ]));
    assert_anthropic_error(
        &messages(&fake, &unanswered).await,
        400,
        "invalid_request_error",
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
    );
    let bad_id = with(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call.1:x", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call.1:x", "content": "x"}]}
    ]));
    assert_anthropic_error(
        &messages(&fake, &bad_id).await,
        400,
        "invalid_request_error",
        "String should match pattern",
    );
    let string_input = with(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": "{\"cmd\":\"ls\"}"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}
    ]));
    assert_anthropic_error(
        &messages(&fake, &string_input).await,
        400,
        "invalid_request_error",
        "tool_use.input: Input should be a valid dictionary",
    );
    // A pending tool_use as the very last turn is fine (nothing answers it yet).
    let pending = with(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [use_block]}
    ]));
    assert_eq!(messages(&fake, &pending).await.status, 200);
}

#[tokio::test]
async fn anthropic_validates_tools_and_tool_choice() {
    let fake = FakeAnthropic::start().await;
    let with = |tools: Value| json!({"model": "m", "max_tokens": 10, "tools": tools, "messages": [{"role": "user", "content": "x"}]});
    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!([{"name": "Bash"}])),
            "tools.0.custom.input_schema: Field required",
        ),
        (
            with(json!([{"input_schema": {"type": "object"}}])),
            "tools.0.custom.name: Field required",
        ),
        (
            with(json!([{"name": "bad name", "input_schema": {"type": "object"}}])),
            "String should match pattern",
        ),
        (
            with(json!([{"name": "Bash", "input_schema": {"type": "string"}}])),
            "input_schema.type: Input should be 'object'",
        ),
        (
            with(json!([{"type": "function", "function": {"name": "Bash", "parameters": {}}}])),
            "Input tag 'function'",
        ),
        (
            with(
                json!([{"name": "Bash", "input_schema": {"type": "object"}}, {"name": "Bash", "input_schema": {"type": "object"}}]),
            ),
            "Tool names must be unique",
        ),
        (
            with(json!([{"name": "Bash", "input_schema": {"type": "object"}, "parameters": {}}])),
            "tools.0.custom.parameters: Extra inputs are not permitted",
        ),
    ];
    for (body, needle) in cases {
        assert_anthropic_error(
            &messages(&fake, &body).await,
            400,
            "invalid_request_error",
            needle,
        );
    }
    let mut server_tool = with(claude_tools());
    server_tool["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 5}));
    assert_eq!(messages(&fake, &server_tool).await.status, 200);

    let mut bad_choice = with(claude_tools());
    bad_choice["tool_choice"] = json!({"type": "required"});
    assert_anthropic_error(
        &messages(&fake, &bad_choice).await,
        400,
        "invalid_request_error",
        "tool_choice",
    );
    let mut forced = with(claude_tools());
    forced["tool_choice"] = json!({"type": "tool", "name": "Bash"});
    let reply = messages(&fake, &forced).await;
    assert_eq!(reply.json()["content"][0]["name"], "Bash");
    assert_eq!(reply.json()["stop_reason"], "tool_use");
}

#[tokio::test]
async fn anthropic_validates_thinking() {
    let fake = FakeAnthropic::start().await;
    let with = |thinking: Value, max_tokens: u64| json!({"model": "m", "max_tokens": max_tokens, "thinking": thinking, "messages": [{"role": "user", "content": "x"}]});
    assert_anthropic_error(
        &messages(
            &fake,
            &with(json!({"type": "enabled", "budget_tokens": 512}), 4096),
        )
        .await,
        400,
        "invalid_request_error",
        "greater than or equal to 1024",
    );
    assert_anthropic_error(
        &messages(&fake, &with(json!({"type": "enabled"}), 4096)).await,
        400,
        "invalid_request_error",
        "budget_tokens: Field required",
    );
    let over = with(json!({"type": "enabled", "budget_tokens": 4096}), 4096);
    assert_anthropic_error(
        &messages(&fake, &over).await,
        400,
        "invalid_request_error",
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    );
    // Interleaved thinking lets the budget exceed max_tokens.
    let reply = messages_with(
        &fake,
        &over,
        &[("anthropic-beta", "interleaved-thinking-2025-05-14")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_anthropic_error(
        &messages(&fake, &with(json!({"type": "on"}), 4096)).await,
        400,
        "invalid_request_error",
        "Input tag 'on'",
    );
    let mut hot = with(json!({"type": "adaptive"}), 4096);
    hot["temperature"] = json!(0.5);
    assert_anthropic_error(
        &messages(&fake, &hot).await,
        400,
        "invalid_request_error",
        "`temperature` may only be set to 1 when thinking is enabled",
    );
    let mut forced = with(json!({"type": "enabled", "budget_tokens": 1024}), 4096);
    forced["tools"] = claude_tools();
    forced["tool_choice"] = json!({"type": "any"});
    assert_anthropic_error(
        &messages(&fake, &forced).await,
        400,
        "invalid_request_error",
        "Thinking may not be enabled when tool_choice forces tool use",
    );
    for ok in [
        with(json!({"type": "adaptive"}), 64000),
        with(json!({"type": "disabled"}), 100),
    ] {
        assert_eq!(messages(&fake, &ok).await.status, 200);
    }
    // Enabled thinking always thinks first, as the real model does.
    let reply = messages(
        &fake,
        &with(json!({"type": "enabled", "budget_tokens": 31999}), 32000),
    )
    .await;
    let v = reply.json();
    assert_eq!(v["content"][0]["type"], "thinking");
    assert_eq!(v["content"][0]["signature"], anthropic::SIGNATURE);
    assert_eq!(v["content"][1]["type"], "text");
}

#[tokio::test]
async fn anthropic_checks_echoed_thinking_blocks() {
    let fake = FakeAnthropic::start().await;
    let conversation = |first_block: Value| {
        json!({
            "model": "m", "max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 31999},
            "tools": claude_tools(),
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [first_block, {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"cmd": "ls"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}]}
            ]
        })
    };
    let good = conversation(
        json!({"type": "thinking", "thinking": "hmm", "signature": anthropic::SIGNATURE}),
    );
    let reply = messages(&fake, &good).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["content"][1]["text"], "after tool: a.txt");

    let forged = conversation(json!({"type": "thinking", "thinking": "hmm", "signature": "other"}));
    assert_anthropic_error(
        &messages(&fake, &forged).await,
        400,
        "invalid_request_error",
        "Invalid `signature` in `thinking` block",
    );
    let unsigned = conversation(json!({"type": "thinking", "thinking": "hmm"}));
    assert_anthropic_error(
        &messages(&fake, &unsigned).await,
        400,
        "invalid_request_error",
        "signature: Field required",
    );
    // Dropping the thinking block from the turn whose tool call is answered is refused.
    let dropped = conversation(json!({"type": "text", "text": "Let me look."}));
    assert_anthropic_error(
        &messages(&fake, &dropped).await,
        400,
        "invalid_request_error",
        "Expected `thinking` or `redacted_thinking`, but found `text`",
    );
}

#[tokio::test]
async fn anthropic_caps_cache_control_blocks_at_four() {
    let fake = FakeAnthropic::start().await;
    let block =
        |t: &str| json!({"type": "text", "text": t, "cache_control": {"type": "ephemeral"}});
    let body = json!({
        "model": "m", "max_tokens": 10,
        "system": [block("a"), block("b"), block("c")],
        "messages": [{"role": "user", "content": [block("d"), block("e")]}]
    });
    assert_anthropic_error(
        &messages(&fake, &body).await,
        400,
        "invalid_request_error",
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    );
}

fn assert_anthropic_stream(events: &[(Option<String>, Value)]) {
    let names: Vec<&str> = events
        .iter()
        .map(|(n, _)| n.as_deref().expect("every event is named"))
        .collect();
    for (name, data) in events {
        assert_eq!(data["type"], name.as_deref().unwrap(), "{data}");
    }
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert_eq!(names[names.len() - 2], "message_delta");
    assert_eq!(names.iter().filter(|n| **n == "ping").count(), 1);
    // Blocks open and close in index order, deltas only inside an open block.
    let mut open: Option<u64> = None;
    let mut next = 0;
    for (name, data) in events {
        match name.as_deref().unwrap() {
            "content_block_start" => {
                assert!(open.is_none(), "block opened inside another");
                assert_eq!(data["index"], next);
                open = Some(next);
                next += 1;
            }
            "content_block_delta" => assert_eq!(Some(data["index"].as_u64().unwrap()), open),
            "content_block_stop" => {
                assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                open = None;
            }
            _ => {}
        }
    }
    assert!(open.is_none(), "a block was left open");
    let start = &events[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert!(start["stop_reason"].is_null());
    let usage = &events[events.len() - 2].1["usage"];
    assert_eq!(usage["input_tokens"], anthropic::INPUT_TOKENS);
    assert_eq!(usage["output_tokens"], anthropic::OUTPUT_TOKENS);
    assert_eq!(
        usage["cache_read_input_tokens"],
        anthropic::CACHE_READ_INPUT_TOKENS
    );
    assert_eq!(
        usage["cache_creation_input_tokens"],
        anthropic::CACHE_CREATION_INPUT_TOKENS
    );
}

fn deltas<'a>(events: &'a [(Option<String>, Value)], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(_, d)| d["type"] == "content_block_delta" && d["delta"]["type"] == kind)
        .map(|(_, d)| &d["delta"])
        .collect()
}

#[tokio::test]
async fn anthropic_streams_the_real_event_sequence() {
    let fake = FakeAnthropic::start().await;
    let mut body = claude("hello #chunks=5");
    body["stream"] = json!(true);
    let reply = messages(&fake, &body).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&reply.text());
    assert_anthropic_stream(&events);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        &names[..3],
        &["message_start", "content_block_start", "ping"]
    );
    let text: Vec<&str> = deltas(&events, "text_delta")
        .iter()
        .map(|d| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(text.len(), 5);
    assert_eq!(text.concat(), anthropic::REPLY);
    assert_eq!(
        events[events.len() - 2].1["delta"]["stop_reason"],
        "end_turn"
    );
    assert_eq!(fake.state.completed_streams.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn anthropic_streams_thinking_then_a_fragmented_tool_call() {
    let fake = FakeAnthropic::start().await;
    let body = json!({
        "model": "m", "max_tokens": 100, "stream": true, "tools": claude_tools(),
        "messages": [{"role": "user", "content": [{"type": "text", "text": "run it #think #tool=Bash"}]}]
    });
    let events = sse_events(&messages(&fake, &body).await.text());
    assert_anthropic_stream(&events);
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("content_block_start"))
        .map(|(_, d)| &d["content_block"])
        .collect();
    assert_eq!(starts[0]["type"], "thinking");
    assert_eq!(starts[1]["type"], "tool_use");
    assert_eq!(starts[1]["name"], "Bash");
    assert_eq!(starts[1]["input"], json!({}));
    let id = starts[1]["id"].as_str().unwrap();
    assert!(id.starts_with("toolu_"));
    let thinking: String = deltas(&events, "thinking_delta")
        .iter()
        .map(|d| d["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thinking, anthropic::THINKING);
    let sig = deltas(&events, "signature_delta");
    assert_eq!(sig.len(), 1);
    assert_eq!(sig[0]["signature"], anthropic::SIGNATURE);
    let fragments: Vec<&str> = deltas(&events, "input_json_delta")
        .iter()
        .map(|d| d["partial_json"].as_str().unwrap())
        .collect();
    assert!(fragments.len() >= 3, "{fragments:?}");
    assert!(
        fragments
            .iter()
            .all(|f| serde_json::from_str::<Value>(f).is_err())
    );
    let args: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(args, json!({"cmd": "echo hi"}));
    assert_eq!(
        events[events.len() - 2].1["delta"]["stop_reason"],
        "tool_use"
    );
}

#[tokio::test]
async fn anthropic_tool_directive_is_exact_and_falls_back_to_the_first_tool() {
    let fake = FakeAnthropic::start().await;
    let ask = |text: &str| {
        json!({"model": "m", "max_tokens": 100, "tools": claude_tools(),
            "messages": [{"role": "user", "content": text}]})
    };
    let exact = messages(&fake, &ask("#tool=Bash")).await.json();
    assert_eq!(exact["content"][0]["name"], "Bash");
    assert_eq!(exact["content"][0]["input"], json!({"cmd": "echo hi"}));
    let case = messages(&fake, &ask("#tool=bash")).await.json();
    assert_eq!(case["content"][0]["name"], "Read");
    let no_tools = messages(&fake, &claude("#tool=Bash")).await.json();
    assert_eq!(no_tools["content"][0]["type"], "text");
    // Ids differ from turn to turn, so a long conversation keeps them unique.
    let again = messages(&fake, &ask("#tool=Bash")).await.json();
    assert_ne!(again["content"][0]["id"], exact["content"][0]["id"]);
}

#[tokio::test]
async fn anthropic_round_trips_a_tool_result() {
    let fake = FakeAnthropic::start().await;
    let first = json!({"model": "m", "max_tokens": 100, "tools": claude_tools(),
        "messages": [{"role": "user", "content": "#tool=Bash"}]});
    let answer = messages(&fake, &first).await.json();
    let call = answer["content"][0].clone();
    let second = json!({"model": "m", "max_tokens": 100, "tools": claude_tools(), "stream": true,
    "messages": [
        {"role": "user", "content": "#tool=Bash"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": [{"type": "text", "text": "hi"}], "is_error": false, "cache_control": {"type": "ephemeral"}}]}
    ]});
    let events = sse_events(&messages(&fake, &second).await.text());
    assert_anthropic_stream(&events);
    let text: String = deltas(&events, "text_delta")
        .iter()
        .map(|d| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "after tool: hi");
}

#[tokio::test]
async fn anthropic_scripted_failures_use_the_real_error_types() {
    let fake = FakeAnthropic::start().await;
    let reply = messages(&fake, &claude("#status=429 #retry-after=7")).await;
    assert_anthropic_error(&reply, 429, "rate_limit_error", "scripted");
    assert_eq!(reply.headers["retry-after"], "7");
    let reply = messages(&fake, &claude("#status=529")).await;
    assert_anthropic_error(&reply, 529, "overloaded_error", "scripted");
    let reply = messages(&fake, &claude("#status=500")).await;
    assert_anthropic_error(&reply, 500, "api_error", "scripted");
}

#[tokio::test]
async fn anthropic_hold_pauses_the_stream_until_released() {
    let fake = FakeAnthropic::start().await;
    let mut body = claude("#hold");
    body["stream"] = json!(true);
    let res = send(
        "POST",
        &format!("{}/messages", fake.base_url()),
        &[
            ("x-api-key", "k"),
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await;
    let mut body = res.into_body();
    let mut seen = String::new();
    while !seen.contains("text_delta") {
        let data = next_data(&mut body).await.unwrap();
        seen.push_str(&String::from_utf8_lossy(&data));
    }
    assert!(!seen.contains("message_stop"));
    assert!(
        tokio::time::timeout(
            Duration::from_millis(200),
            http_body_util::BodyExt::frame(&mut body)
        )
        .await
        .is_err(),
        "the stream went on without a release"
    );
    fake.release();
    while let Some(data) = next_data(&mut body).await {
        seen.push_str(&String::from_utf8_lossy(&data));
    }
    assert!(seen.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

#[tokio::test]
async fn anthropic_reset_breaks_the_stream() {
    let fake = FakeAnthropic::start().await;
    let mut body = claude("#reset");
    body["stream"] = json!(true);
    let res = send(
        "POST",
        &format!("{}/messages", fake.base_url()),
        &[
            ("x-api-key", "k"),
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await;
    let collected = http_body_util::BodyExt::collect(res.into_body()).await;
    assert!(collected.is_err(), "the stream ended cleanly");
}

#[tokio::test]
async fn anthropic_counts_tokens() {
    let fake = FakeAnthropic::start().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    let reply = request(
        "POST",
        &format!("{}/messages/count_tokens", fake.base_url()),
        &[
            ("x-api-key", "k"),
            ("anthropic-version", ANTHROPIC_VERSION),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(
        reply.json(),
        json!({"input_tokens": anthropic::INPUT_TOKENS})
    );
}

// ---------------------------------------------------------------------------------------
// Responses

async fn create(fake: &FakeResponses, body: &Value) -> Reply {
    post_json(&format!("{}/responses", fake.base_url()), "sk-test", body).await
}

fn resp(input: Value) -> Value {
    json!({"model": "gpt-test", "input": input})
}

fn function_tools() -> Value {
    json!([
        {"type": "function", "name": "read_file", "parameters": {"type": "object", "properties": {}}, "strict": false},
        {"type": "function", "name": "exec_command", "description": "run", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}, "strict": false},
    ])
}

#[track_caller]
fn assert_openai_error(reply: &Reply, status: u16, needle: &str) -> Value {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    let v = reply.json();
    let err = &v["error"];
    assert_eq!(err["type"], "invalid_request_error", "{v}");
    for key in ["message", "type", "param", "code"] {
        assert!(err.get(key).is_some(), "{key} missing in {v}");
    }
    let message = err["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    err.clone()
}

#[tokio::test]
async fn responses_answers_with_a_response_object() {
    let fake = FakeResponses::start().await;
    let reply = create(&fake, &resp(json!("hello"))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-test");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["content"][0]["type"], "output_text");
    assert_eq!(output[0]["content"][0]["text"], responses::REPLY);
    let usage = &v["usage"];
    assert_eq!(usage["input_tokens"], responses::INPUT_TOKENS);
    assert_eq!(usage["output_tokens"], responses::OUTPUT_TOKENS);
    assert_eq!(
        usage["input_tokens_details"]["cached_tokens"],
        responses::CACHED_TOKENS
    );
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(
        usage["total_tokens"],
        responses::INPUT_TOKENS + responses::OUTPUT_TOKENS
    );
    let recorded = fake.requests();
    assert_eq!(recorded[0].path, "/v1/responses");
    assert_eq!(recorded[0].body["input"], "hello");
}

#[tokio::test]
async fn responses_requires_bearer_auth() {
    let fake = FakeResponses::start().await;
    let url = format!("{}/responses", fake.base_url());
    let none = request(
        "POST",
        &url,
        &[("content-type", "application/json")],
        resp(json!("x")).to_string(),
    )
    .await;
    assert_openai_error(&none, 401, "You didn't provide an API key");
    let revoked = post_json(&url, "sk-revoked-9", &resp(json!("x"))).await;
    let err = assert_openai_error(&revoked, 401, "Incorrect API key");
    assert_eq!(err["code"], "invalid_api_key");
}

#[tokio::test]
async fn responses_rejects_malformed_requests() {
    let fake = FakeResponses::start().await;
    let user = |t: &str| json!({"role": "user", "content": t});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"input": "x"}),
            "Missing required parameter: 'model'.",
            "model",
        ),
        (
            json!({"model": "m"}),
            "Missing required parameter: 'input'.",
            "input",
        ),
        (
            json!({"model": "m", "input": "x", "messages": []}),
            "Unknown parameter: 'messages'.",
            "messages",
        ),
        (
            json!({"model": "m", "input": "x", "temperature": 3}),
            "decimal above maximum value",
            "temperature",
        ),
        (
            json!({"model": "m", "input": {"role": "user"}}),
            "Invalid type for 'input'",
            "input",
        ),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "Invalid value: 'tool'.",
            "input[0].role",
        ),
        (
            json!({"model": "m", "input": [{"type": "tool_result", "content": "x"}]}),
            "Invalid value: 'tool_result'.",
            "input[0].type",
        ),
        (
            json!({"model": "m", "input": [user("x"), {"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "hi"}]}]}),
            "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
            "input[1].content[0]",
        ),
        (
            json!({"model": "m", "input": [{"type": "message", "role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
            "Invalid value: 'text'.",
            "input[0].content[0]",
        ),
        (
            json!({"model": "m", "input": [user("x"), {"type": "function_call", "id": "call_1", "call_id": "call_1", "name": "f", "arguments": "{}"}]}),
            "Expected an ID that begins with 'fc'.",
            "input[1].id",
        ),
        (
            json!({"model": "m", "input": [user("x"), {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": {"a": 1}}]}),
            "Invalid type for 'input[1].arguments': expected a string, but got an object instead.",
            "input[1].arguments",
        ),
        (
            json!({"model": "m", "input": "x", "include": ["reasoning.summary"]}),
            "Invalid value: 'reasoning.summary'.",
            "include[0]",
        ),
        (
            json!({"model": "m", "input": "x", "reasoning": {"effort": "max"}}),
            "Invalid value: 'max'.",
            "reasoning.effort",
        ),
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_123"}),
            "Previous response with id 'resp_123' not found.",
            "previous_response_id",
        ),
        (
            json!({"model": "m", "input": "x", "stream_options": {"include_obfuscation": false}}),
            "stream_options",
            "stream_options",
        ),
    ];
    for (body, needle, param) in cases {
        let err = assert_openai_error(&create(&fake, &body).await, 400, needle);
        assert_eq!(err["param"], param, "{err}");
    }
}

#[tokio::test]
async fn responses_validates_tools() {
    let fake = FakeResponses::start().await;
    let with = |tools: Value| json!({"model": "m", "input": "x", "tools": tools});
    // The chat-completions tool shape is the classic mistake.
    let chat_shape =
        with(json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]));
    let err = assert_openai_error(
        &create(&fake, &chat_shape).await,
        400,
        "Missing required parameter: 'tools[0].name'.",
    );
    assert_eq!(err["code"], "missing_required_parameter");
    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!([{"type": "function", "name": "f", "parameters": "{}"}])),
            "Invalid type for 'tools[0].parameters'",
        ),
        (
            with(json!([{"type": "function", "name": "bad name"}])),
            "does not match pattern",
        ),
        (
            with(json!([{"type": "python", "name": "f"}])),
            "Invalid value: 'python'.",
        ),
        (
            with(json!([{"name": "f"}])),
            "Missing required parameter: 'tools[0].type'.",
        ),
    ];
    for (body, needle) in cases {
        assert_openai_error(&create(&fake, &body).await, 400, needle);
    }
    // What Codex sends is accepted.
    let codex = json!({
        "model": "gpt-5.5", "stream": true, "store": false, "parallel_tool_calls": true,
        "tool_choice": "auto", "reasoning": {"effort": "medium"}, "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "thread-1", "text": {"verbosity": "low"}, "client_metadata": {"x": "y"},
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "base prompt"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "run", "strict": false,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
            {"type": "custom", "name": "apply_patch", "description": "patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
            {"type": "tool_search", "execution": "client"},
            {"type": "web_search", "external_web_access": false, "search_content_types": ["text", "image"]}
        ]
    });
    let reply = create(&fake, &codex).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn responses_pairs_function_call_outputs_with_calls() {
    let fake = FakeResponses::start().await;
    let orphan = resp(json!([
        {"role": "user", "content": "x"},
        {"type": "function_call_output", "call_id": "call_9", "output": "hi"}
    ]));
    let err = assert_openai_error(
        &create(&fake, &orphan).await,
        400,
        "No tool call found for function call output with call_id call_9.",
    );
    assert_eq!(err["param"], "input");
    // The call must come earlier, not later.
    let late = resp(json!([
        {"role": "user", "content": "x"},
        {"type": "function_call_output", "call_id": "call_1", "output": "hi"},
        {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{}"}
    ]));
    assert_openai_error(&create(&fake, &late).await, 400, "No tool call found");
    let custom = resp(json!([
        {"role": "user", "content": "x"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "done"}
    ]));
    assert_openai_error(
        &create(&fake, &custom).await,
        400,
        "No tool call found for custom tool call output",
    );
}

#[tokio::test]
async fn responses_checks_reasoning_items() {
    let fake = FakeResponses::start().await;
    let with = |item: Value, store: bool| json!({"model": "m", "store": store, "input": [{"role": "user", "content": "x"}, item, {"role": "user", "content": "y"}]});
    let forged = with(
        json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "abc"}),
        false,
    );
    let err = assert_openai_error(&create(&fake, &forged).await, 400, "could not be verified");
    assert_eq!(err["code"], "invalid_encrypted_content");
    let unstored = with(
        json!({"type": "reasoning", "id": "rs_1", "summary": []}),
        false,
    );
    assert_openai_error(
        &create(&fake, &unstored).await,
        404,
        "Items are not persisted when `store` is set to false",
    );
    let no_summary = with(
        json!({"type": "reasoning", "id": "rs_1", "encrypted_content": responses::ENCRYPTED_CONTENT}),
        false,
    );
    assert_openai_error(
        &create(&fake, &no_summary).await,
        400,
        "Missing required parameter: 'input[1].summary'.",
    );
    let reference = with(json!({"type": "item_reference", "id": "msg_1"}), true);
    assert_openai_error(
        &create(&fake, &reference).await,
        404,
        "Item with id 'msg_1' not found.",
    );
    let echoed = with(
        json!({"type": "reasoning", "id": "rs_fake_1", "summary": [], "encrypted_content": responses::ENCRYPTED_CONTENT}),
        false,
    );
    assert_eq!(create(&fake, &echoed).await.status, 200);
}

#[tokio::test]
async fn responses_think_yields_a_reasoning_item() {
    let fake = FakeResponses::start().await;
    let mut body = resp(json!("#think"));
    let plain = create(&fake, &body).await.json();
    let item = &plain["output"][0];
    assert_eq!(item["type"], "reasoning");
    assert!(item["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(item["summary"][0]["type"], "summary_text");
    assert_eq!(item["summary"][0]["text"], responses::REASONING_SUMMARY);
    assert!(item.get("encrypted_content").is_none());
    assert_eq!(plain["output"][1]["type"], "message");
    assert_eq!(
        plain["usage"]["output_tokens_details"]["reasoning_tokens"],
        responses::REASONING_TOKENS
    );
    body["include"] = json!(["reasoning.encrypted_content"]);
    let encrypted = create(&fake, &body).await.json();
    assert_eq!(
        encrypted["output"][0]["encrypted_content"],
        responses::ENCRYPTED_CONTENT
    );
}

fn assert_responses_stream(events: &[(Option<String>, Value)]) {
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(
            data["type"],
            name.as_deref().expect("named event"),
            "{data}"
        );
        assert_eq!(data["sequence_number"], i as u64, "{data}");
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(&names[..2], &["response.created", "response.in_progress"]);
    assert_eq!(names.last(), Some(&"response.completed"));
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    let done = &events[events.len() - 1].1["response"];
    assert_eq!(done["status"], "completed");
    // Every item added is done, in output_index order, and the final output lists them.
    let added: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("response.output_item.added"))
        .map(|(_, d)| d)
        .collect();
    let finished: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("response.output_item.done"))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(added.len(), finished.len());
    for (i, (a, d)) in added.iter().zip(&finished).enumerate() {
        assert_eq!(a["output_index"], i as u64);
        assert_eq!(d["output_index"], i as u64);
        assert_eq!(a["item"]["id"], d["item"]["id"]);
        assert_eq!(done["output"][i], d["item"]);
    }
    assert_eq!(done["output"].as_array().unwrap().len(), finished.len());
    assert_eq!(done["usage"]["input_tokens"], responses::INPUT_TOKENS);
}

fn of_type<'a>(events: &'a [(Option<String>, Value)], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(_, d)| d["type"] == kind)
        .map(|(_, d)| d)
        .collect()
}

#[tokio::test]
async fn responses_streams_the_real_event_sequence() {
    let fake = FakeResponses::start().await;
    let mut body = resp(
        json!([{"role": "user", "content": [{"type": "input_text", "text": "hi #chunks=4"}]}]),
    );
    body["stream"] = json!(true);
    let reply = create(&fake, &body).await;
    assert_eq!(reply.status, 200);
    let events = sse_events(&reply.text());
    assert_responses_stream(&events);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let text: String = of_type(&events, "response.output_text.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, responses::REPLY);
    assert_eq!(
        of_type(&events, "response.output_text.done")[0]["text"],
        responses::REPLY
    );
    assert_eq!(
        of_type(&events, "response.content_part.added")[0]["part"]["text"],
        ""
    );
}

#[tokio::test]
async fn responses_streams_reasoning_and_a_fragmented_function_call() {
    let fake = FakeResponses::start().await;
    let body = json!({"model": "m", "stream": true, "tools": function_tools(),
        "include": ["reasoning.encrypted_content"],
        "input": [{"role": "user", "content": "go #think #tool=exec_command"}]});
    let events = sse_events(&create(&fake, &body).await.text());
    assert_responses_stream(&events);
    let summary: String = of_type(&events, "response.reasoning_summary_text.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(summary, responses::REASONING_SUMMARY);
    assert_eq!(
        of_type(&events, "response.reasoning_summary_part.added").len(),
        1
    );
    assert_eq!(
        of_type(&events, "response.reasoning_summary_part.done").len(),
        1
    );
    assert_eq!(
        of_type(&events, "response.reasoning_summary_text.done")[0]["text"],
        responses::REASONING_SUMMARY
    );
    let done = &events[events.len() - 1].1["response"]["output"];
    assert_eq!(done[0]["type"], "reasoning");
    assert_eq!(done[0]["encrypted_content"], responses::ENCRYPTED_CONTENT);
    let call = &done[1];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "exec_command");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    assert!(call["call_id"].as_str().unwrap().starts_with("call_"));
    let fragments: Vec<&str> = of_type(&events, "response.function_call_arguments.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert!(fragments.len() >= 3);
    assert_eq!(fragments.concat(), responses::TOOL_ARGS);
    let args_done = of_type(&events, "response.function_call_arguments.done");
    assert_eq!(args_done[0]["arguments"], responses::TOOL_ARGS);
    assert_eq!(call["arguments"], responses::TOOL_ARGS);
    let added = of_type(&events, "response.output_item.added");
    assert_eq!(added[1]["item"]["arguments"], "");
    assert_eq!(added[1]["item"]["status"], "in_progress");
}

#[tokio::test]
async fn responses_round_trips_a_function_call_like_codex() {
    let fake = FakeResponses::start().await;
    let prompt = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run #think #tool=exec_command"}]});
    let first = json!({"model": "m", "store": false, "tools": function_tools(),
        "include": ["reasoning.encrypted_content"], "input": [prompt]});
    let output = create(&fake, &first).await.json()["output"].clone();
    let call_id = output[1]["call_id"].clone();
    let mut input = vec![prompt];
    input.extend(output.as_array().unwrap().iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": call_id, "output": "Process exited with code 0\nOutput:\nhi\n"}));
    let second = json!({"model": "m", "store": false, "stream": true, "tools": function_tools(),
        "include": ["reasoning.encrypted_content"], "input": input});
    let reply = create(&fake, &second).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = sse_events(&reply.text());
    assert_responses_stream(&events);
    let text = &of_type(&events, "response.output_text.done")[0]["text"];
    assert_eq!(
        text,
        "after tool: Process exited with code 0\nOutput:\nhi\n"
    );
}

#[tokio::test]
async fn responses_scripted_failure() {
    let fake = FakeResponses::start().await;
    let reply = create(&fake, &resp(json!("#status=429 #retry-after=3"))).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "3");
    assert_eq!(reply.json()["error"]["code"], "rate_limit_exceeded");
    let reply = create(&fake, &resp(json!("#status=503"))).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"]["type"], "server_error");
}

// ---------------------------------------------------------------------------------------
// Gemini

async fn generate(fake: &FakeGemini, model: &str, method: &str, body: &Value) -> Reply {
    request(
        "POST",
        &format!("{}/models/{model}:{method}", fake.base_url()),
        &[
            ("x-goog-api-key", "AIza-test"),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

fn gem(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn gem_tools() -> Value {
    json!([{"functionDeclarations": [
        {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}},
        {"name": "run_shell", "description": "run", "parameters": {"type": "OBJECT", "properties": {"cmd": {"type": "STRING"}}, "required": ["cmd"]}}
    ]}])
}

#[track_caller]
fn assert_google_error(reply: &Reply, code: u16, status: &str, needle: &str) -> Value {
    assert_eq!(reply.status.as_u16(), code, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["error"]["status"], status, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    v
}

#[tokio::test]
async fn gemini_generates_content() {
    let fake = FakeGemini::start().await;
    let reply = generate(&fake, "gemini-2.5-flash", "generateContent", &gem("hello")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let v = reply.json();
    let candidate = &v["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": gemini::REPLY}])
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    let usage = &v["usageMetadata"];
    assert_eq!(usage["promptTokenCount"], gemini::PROMPT_TOKEN_COUNT);
    assert_eq!(
        usage["candidatesTokenCount"],
        gemini::CANDIDATES_TOKEN_COUNT
    );
    assert_eq!(
        usage["cachedContentTokenCount"],
        gemini::CACHED_CONTENT_TOKEN_COUNT
    );
    assert_eq!(
        usage["totalTokenCount"],
        gemini::PROMPT_TOKEN_COUNT + gemini::CANDIDATES_TOKEN_COUNT
    );
    assert!(usage.get("thoughtsTokenCount").is_none());
    let recorded = fake.requests();
    assert_eq!(
        recorded[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(recorded[0].headers["x-goog-api-key"], "AIza-test");
}

#[tokio::test]
async fn gemini_auth_by_header_query_or_bearer() {
    let fake = FakeGemini::start().await;
    let url = format!("{}/models/g:generateContent", fake.base_url());
    let body = gem("hi").to_string();
    let json_ct = ("content-type", "application/json");
    let by_query = request(
        "POST",
        &format!("{url}?key=AIza-q"),
        &[json_ct],
        body.clone(),
    )
    .await;
    assert_eq!(by_query.status, 200);
    let by_bearer = request(
        "POST",
        &url,
        &[json_ct, ("authorization", "Bearer ya29.token")],
        body.clone(),
    )
    .await;
    assert_eq!(by_bearer.status, 200);
    let none = request("POST", &url, &[json_ct], body.clone()).await;
    assert_google_error(&none, 403, "PERMISSION_DENIED", "unregistered callers");
    let revoked = request(
        "POST",
        &url,
        &[json_ct, ("x-goog-api-key", "sk-revoked-2")],
        body,
    )
    .await;
    let v = assert_google_error(&revoked, 400, "INVALID_ARGUMENT", "API key not valid");
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
}

#[tokio::test]
async fn gemini_rejects_bad_contents() {
    let fake = FakeGemini::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"contents": []}), "contents is not specified"),
        (json!({}), "contents is not specified"),
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "Please use a valid role: user, model.",
        ),
        (
            json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}),
            "Please use a valid role",
        ),
        (
            json!({"contents": [{"role": "user", "parts": []}]}),
            "contents.parts must not be empty",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{}]}]}),
            "required oneof field 'data'",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}]}),
            "Oneof field 'data' is already set",
        ),
        (
            json!({"contents": [{"role": "model", "parts": [{"text": "x", "thoughtSignature": "not base64!"}]}, {"role": "user", "parts": [{"text": "y"}]}]}),
            "Base64 decoding failed",
        ),
    ];
    for (body, needle) in cases {
        assert_google_error(
            &generate(&fake, "g", "generateContent", &body).await,
            400,
            "INVALID_ARGUMENT",
            needle,
        );
    }
    // A content without a role is the user's.
    let no_role = json!({"contents": [{"parts": [{"text": "x"}]}]});
    assert_eq!(
        generate(&fake, "g", "generateContent", &no_role)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn gemini_rejects_unknown_fields_but_takes_both_spellings() {
    let fake = FakeGemini::start().await;
    let mut top = gem("x");
    top["max_tokens"] = json!(10);
    let v = assert_google_error(
        &generate(&fake, "g", "generateContent", &top).await,
        400,
        "INVALID_ARGUMENT",
        "Invalid JSON payload received. Unknown name \"max_tokens\": Cannot find field.",
    );
    assert_eq!(
        v["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x", "type": "text"}]}]}),
            "Unknown name \"type\" at 'contents[0].parts[0]'",
        ),
        (
            json!({"contents": [{"role": "user", "content": "x", "parts": [{"text": "x"}]}]}),
            "Unknown name \"content\" at 'contents[0]'",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"max_tokens": 5}}),
            "Unknown name \"max_tokens\" at 'generation_config'",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "additionalProperties": false}}]}]}),
            "Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters'",
        ),
        (
            json!({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string", "$schema": "x"}}}}]}]}),
            "Unknown name \"$schema\"",
        ),
    ];
    for (body, needle) in cases {
        assert_google_error(
            &generate(&fake, "g", "generateContent", &body).await,
            400,
            "INVALID_ARGUMENT",
            needle,
        );
    }
    // snake_case as the SDK sends some fields, and full JSON Schema under parametersJsonSchema.
    let snake = json!({
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {"max_output_tokens": 100, "temperature": 0.2, "thinking_config": {"include_thoughts": true, "thinking_budget": 1024}},
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"$schema": "x", "type": "object", "additionalProperties": false}}]}],
        "tool_config": {"function_calling_config": {"mode": "AUTO"}}
    });
    let reply = generate(&fake, "g", "generateContent", &snake).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn gemini_checks_function_names() {
    let fake = FakeGemini::start().await;
    let with = |name: &str| {
        let mut b = gem("x");
        b["tools"] = json!([{"functionDeclarations": [{"name": name}]}]);
        b
    };
    for bad in ["1abc", "has space", "a/b", "", &"x".repeat(65)] {
        assert_google_error(
            &generate(&fake, "g", "generateContent", &with(bad)).await,
            400,
            "INVALID_ARGUMENT",
            "Invalid function name",
        );
    }
    for good in ["_ok", "mcp__srv__tool", "ns.tool:v1-x", &"y".repeat(64)] {
        let reply = generate(&fake, "g", "generateContent", &with(good)).await;
        assert_eq!(reply.status, 200, "{good}: {}", reply.text());
    }
}

#[tokio::test]
async fn gemini_pairs_function_responses_with_calls() {
    let fake = FakeGemini::start().await;
    let call = json!({"role": "model", "parts": [{"functionCall": {"name": "run_shell", "args": {"cmd": "ls"}}}]});
    let response = |name: &str| json!({"role": "user", "parts": [{"functionResponse": {"name": name, "response": {"output": "a.txt"}}}]});
    let user = json!({"role": "user", "parts": [{"text": "go"}]});
    let with = |contents: Value| json!({"contents": contents, "tools": gem_tools()});
    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!([user, call, response("read_file")])),
            "has no matching function call",
        ),
        (
            with(json!([user, response("run_shell")])),
            "has no matching function call",
        ),
        (
            with(
                json!([user, call, response("run_shell"), {"role": "model", "parts": [{"text": "ok"}]}, response("run_shell")]),
            ),
            "function response turn comes immediately after a function call turn",
        ),
        (
            with(json!([call, response("run_shell")])),
            "function call turn comes immediately after a user turn",
        ),
        (
            with(json!([user, call, {"role": "user", "parts": [
                {"functionResponse": {"name": "run_shell", "response": {"output": "a"}}},
                {"functionResponse": {"name": "run_shell", "response": {"output": "b"}}}
            ]}])),
            "number of function response parts is equal to the number of function call parts",
        ),
        (
            with(
                json!([user, call, {"role": "user", "parts": [{"functionResponse": {"name": "run_shell", "response": "a.txt"}}]}]),
            ),
            "google.protobuf.Struct",
        ),
        (
            with(
                json!([user, {"role": "model", "parts": [{"functionCall": {"name": "run_shell", "args": "{\"cmd\":\"ls\"}"}}]}, response("run_shell")]),
            ),
            "function_call.args",
        ),
    ];
    for (body, needle) in cases {
        assert_google_error(
            &generate(&fake, "gemini-2.5-flash", "generateContent", &body).await,
            400,
            "INVALID_ARGUMENT",
            needle,
        );
    }
    let reply = generate(
        &fake,
        "gemini-2.5-flash",
        "generateContent",
        &with(json!([user, call, response("run_shell")])),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["candidates"][0]["content"]["parts"][0]["text"],
        "after tool: a.txt"
    );
}

#[tokio::test]
async fn gemini_3_requires_the_thought_signature_back() {
    let fake = FakeGemini::start().await;
    let body = |sig: Option<&str>| {
        let mut part = json!({"functionCall": {"name": "run_shell", "args": {"cmd": "ls"}}});
        if let Some(sig) = sig {
            part["thoughtSignature"] = json!(sig);
        }
        json!({"tools": gem_tools(), "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": [part]},
            {"role": "user", "parts": [{"functionResponse": {"name": "run_shell", "response": {"output": "x"}}}]}
        ]})
    };
    assert_google_error(
        &generate(
            &fake,
            "gemini-3-pro-preview",
            "generateContent",
            &body(None),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "Function call is missing a thought_signature",
    );
    assert_google_error(
        &generate(
            &fake,
            "gemini-3-pro-preview",
            "generateContent",
            &body(Some("b3RoZXI=")),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
        "Corrupted thought signature",
    );
    for ok in [
        generate(
            &fake,
            "gemini-3-pro-preview",
            "generateContent",
            &body(Some(gemini::THOUGHT_SIGNATURE)),
        )
        .await,
        generate(
            &fake,
            "gemini-3-pro-preview",
            "generateContent",
            &body(Some("skip_thought_signature_validator")),
        )
        .await,
        generate(&fake, "gemini-2.5-flash", "generateContent", &body(None)).await,
    ] {
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
}

#[tokio::test]
async fn gemini_think_and_tool_parts() {
    let fake = FakeGemini::start().await;
    let mut body = gem("go #think #tool=run_shell");
    body["tools"] = gem_tools();
    let v = generate(&fake, "gemini-3-pro-preview", "generateContent", &body)
        .await
        .json();
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(parts[0]["text"], gemini::THINKING);
    assert_eq!(parts[0]["thoughtSignature"], gemini::THOUGHT_SIGNATURE);
    assert_eq!(
        parts[1]["functionCall"],
        json!({"name": "run_shell", "args": {"cmd": "echo hi"}})
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        v["usageMetadata"]["thoughtsTokenCount"],
        gemini::THOUGHTS_TOKEN_COUNT
    );
    assert_eq!(
        v["usageMetadata"]["totalTokenCount"],
        gemini::PROMPT_TOKEN_COUNT + gemini::CANDIDATES_TOKEN_COUNT + gemini::THOUGHTS_TOKEN_COUNT
    );
    // Echoing the answer back with its signature and a response completes the round trip.
    let model_turn = v["candidates"][0]["content"].clone();
    body["contents"].as_array_mut().unwrap().extend([
        model_turn,
        json!({"role": "user", "parts": [{"functionResponse": {"name": "run_shell", "response": {"result": "hi"}}}]}),
    ]);
    let reply = generate(&fake, "gemini-3-pro-preview", "generateContent", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["candidates"][0]["content"]["parts"][0]["text"],
        "after tool: hi"
    );
    // The exact, case-sensitive name, else the first declaration.
    let mut other = gem("#tool=RUN_SHELL");
    other["tools"] = gem_tools();
    let v = generate(&fake, "g", "generateContent", &other).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "read_file"
    );
}

#[tokio::test]
async fn gemini_streams_sse_without_done() {
    let fake = FakeGemini::start().await;
    let reply = request(
        "POST",
        &format!(
            "{}/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            fake.base_url()
        ),
        &[
            ("x-goog-api-key", "k"),
            ("content-type", "application/json"),
        ],
        gem("hi #chunks=4 #think").to_string(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = reply.text();
    assert!(!text.contains("[DONE]"));
    assert!(!text.contains("event:"));
    let events = sse_events(&text);
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|(name, _)| name.is_none()));
    assert_eq!(
        events[0].1["candidates"][0]["content"]["parts"][0]["thought"],
        true
    );
    let mut streamed = String::new();
    for (i, (_, chunk)) in events.iter().enumerate() {
        let last = i + 1 == events.len();
        assert_eq!(chunk["candidates"][0]["content"]["role"], "model");
        assert_eq!(chunk["modelVersion"], "gemini-2.5-flash");
        let usage = &chunk["usageMetadata"];
        assert_eq!(usage["promptTokenCount"], gemini::PROMPT_TOKEN_COUNT);
        assert_eq!(usage.get("candidatesTokenCount").is_some(), last);
        assert_eq!(chunk["candidates"][0].get("finishReason").is_some(), last);
        if i > 0 {
            streamed.push_str(
                chunk["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap(),
            );
        }
    }
    assert_eq!(streamed, gemini::REPLY);
    let last = &events[4].1;
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"]["thoughtsTokenCount"],
        gemini::THOUGHTS_TOKEN_COUNT
    );
}

#[tokio::test]
async fn gemini_streams_a_json_array_without_alt_sse() {
    let fake = FakeGemini::start().await;
    let mut body = gem("#tool=run_shell");
    body["tools"] = gem_tools();
    let reply = generate(&fake, "g", "streamGenerateContent", &body).await;
    assert_eq!(reply.status, 200);
    let chunks: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(chunks.len(), 1);
    let part = &chunks[0]["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "run_shell");
    assert_eq!(part["functionCall"]["args"], json!({"cmd": "echo hi"}));
    assert_eq!(part["thoughtSignature"], gemini::THOUGHT_SIGNATURE);

    let text = generate(&fake, "g", "streamGenerateContent", &gem("#chunks=3")).await;
    let chunks: Vec<Value> = serde_json::from_slice(&text.body).unwrap();
    assert_eq!(chunks.len(), 3);
}

#[tokio::test]
async fn gemini_scripted_failures_and_unknown_methods() {
    let fake = FakeGemini::start().await;
    let reply = generate(
        &fake,
        "g",
        "generateContent",
        &gem("#status=429 #retry-after=5"),
    )
    .await;
    let v = assert_google_error(&reply, 429, "RESOURCE_EXHAUSTED", "scripted");
    assert_eq!(v["error"]["details"][0]["retryDelay"], "5s");
    assert_eq!(reply.headers["retry-after"], "5");
    let reply = generate(&fake, "g", "generateContent", &gem("#status=503")).await;
    assert_google_error(&reply, 503, "UNAVAILABLE", "scripted");
    let reply = generate(&fake, "g", "embedText", &gem("x")).await;
    assert_google_error(&reply, 404, "NOT_FOUND", "is not supported for embedText");
}

#[tokio::test]
async fn gemini_tool_config_modes() {
    let fake = FakeGemini::start().await;
    let mut none = gem("#tool=run_shell");
    none["tools"] = gem_tools();
    none["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let v = generate(&fake, "g", "generateContent", &none).await.json();
    assert!(v["candidates"][0]["content"]["parts"][0]["text"].is_string());
    let mut any = gem("plain");
    any["tools"] = gem_tools();
    any["toolConfig"] =
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["run_shell"]}});
    let v = generate(&fake, "g", "generateContent", &any).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "run_shell"
    );
    let mut bad = gem("x");
    bad["toolConfig"] = json!({"functionCallingConfig": {"mode": "REQUIRED"}});
    assert_google_error(
        &generate(&fake, "g", "generateContent", &bad).await,
        400,
        "INVALID_ARGUMENT",
        "mode",
    );
}
