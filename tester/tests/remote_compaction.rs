//! Codex's remote compaction through the proxy: a request ending with
//! `{"type":"compaction_trigger"}` is passed through to a Responses provider (which answers
//! with its encrypted `compaction` item) and summarised by any other provider into the one
//! `compaction` item Codex expects; that item, sent back on the next turn, reaches an
//! Anthropic provider as a system turn and a Responses provider as a developer message,
//! never as content it cannot decrypt.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use http::StatusCode;
use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_responses::{COMPACTION_CONTENT, FakeResponses};
use switchyard_tester::harness::{Proxy, scratch_dir};
use switchyard_tester::http_client::{request, sse_data};

const KEY: &str = "sk-client-compaction-0001";

async fn post(proxy: &Proxy, body: &Value) -> (StatusCode, Vec<Value>) {
    let reply = request(
        "POST",
        &proxy.url("/v1/responses"),
        &[
            ("authorization", &format!("Bearer {KEY}")),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await;
    let events = sse_data(&reply.text())
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    (reply.status, events)
}

/// The items of `response.output_item.done` events.
fn done_items(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| e["item"].clone())
        .collect()
}

/// A Codex-shaped turn: streamed, stateless, with a function tool.
fn codex(model: &str, input: Value) -> Value {
    json!({"model": model, "stream": true, "store": false,
        "include": ["reasoning.encrypted_content"], "input": input,
        "tools": [{"type": "function", "name": "exec_command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}],
        "tool_choice": "auto", "parallel_tool_calls": true})
}

fn history() -> Value {
    json!([
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the failing test"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Fixed it."}]},
    ])
}

fn with_trigger() -> Value {
    let mut h = history();
    h.as_array_mut()
        .unwrap()
        .push(json!({"type": "compaction_trigger"}));
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_compaction_is_passed_through_or_summarised() {
    let claude = FakeAnthropic::start().await;
    let responses = FakeResponses::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "compaction"
key = "{KEY}"

[[providers]]
name = "an"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"

[[providers]]
name = "or"
kind = "openai-responses"
base_url = "{responses}"
models = ["gpt-think"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-responses-0001"

[aliases]
m_claude = "an/claude-test"
m_responses = "or/gpt-think"
"#,
        claude = claude.base_url(),
        responses = responses.base_url(),
    );
    let proxy = Proxy::start_in(scratch_dir("remote-compaction"), &config, &[]);

    // A Responses provider gets the trigger itself and answers with its own item.
    let (status, events) = post(&proxy, &codex("m_responses", with_trigger())).await;
    assert_eq!(status, StatusCode::OK);
    let items = done_items(&events);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["encrypted_content"], COMPACTION_CONTENT);
    let sent = responses.requests().last().unwrap().body.clone();
    assert_eq!(
        sent["input"].as_array().unwrap().last().unwrap()["type"],
        "compaction_trigger"
    );

    // Anthropic has no compaction: it is asked for a summary, which comes back as the one
    // compaction item, before response.completed.
    let (status, events) = post(&proxy, &codex("m_claude", with_trigger())).await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    let items = done_items(&events);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["type"], "compaction");
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let asked = claude.requests().last().unwrap().body.clone();
    let last = asked["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last.to_string().contains("handoff summary"), "{last}");
    assert_eq!(asked["tool_choice"]["type"], "none", "{asked}");
    let summary_item = items[0].clone();

    // Codex's next turn keeps the item: Anthropic reads the summary in its system prompt,
    // the Responses provider as a developer message (it could not decrypt the item).
    let mut next = history();
    let list = next.as_array_mut().unwrap();
    list.push(summary_item);
    list.push(json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "now run it"}]}));
    let (status, _) = post(&proxy, &codex("m_claude", next.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let asked = claude.requests().last().unwrap().body.clone();
    assert!(
        asked["system"].to_string().contains("compacted"),
        "{}",
        asked["system"]
    );
    let (status, events) = post(&proxy, &codex("m_responses", next)).await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    let sent = responses.requests().last().unwrap().body.clone();
    assert_eq!(sent["input"][2]["role"], "developer", "{}", sent["input"]);
}
