//! The fake OpenAI chat completions provider on its own: the tool, reasoning and pairing
//! behaviour the end-to-end tests rely on.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, REASONING, TOOL_CALL_ID, TOOL_COMMAND};
use switchyard_tester::http_client::{post_json, sse_data};

fn url(fake: &FakeOpenAi) -> String {
    format!("{}/chat/completions", fake.base_url())
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "Read", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
        {"type": "function", "function": {"name": "Run_Cmd", "parameters": {"type": "object",
            "properties": {"cmd": {"type": "string"}, "timeout": {"type": "integer"}}, "required": ["cmd", "timeout"]}}}
    ])
}

fn chunks(text: &str) -> Vec<Value> {
    sse_data(text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_directive_streams_a_fragmented_call_of_the_named_tool() {
    let fake = FakeOpenAi::start().await;
    let body = json!({"model": "m", "stream": true, "tools": tools(),
        "messages": [{"role": "user", "content": [{"type": "text", "text": "please #tool=Run_Cmd"}]}]});
    let res = post_json(&url(&fake), "sk-test", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let chunks = chunks(&res.text());
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert!(calls.len() >= 3, "{chunks:?}");
    assert_eq!(calls[0]["id"], TOOL_CALL_ID);
    assert_eq!(calls[0]["function"]["name"], "Run_Cmd");
    let args: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    let args: Value = serde_json::from_str(&args).unwrap();
    assert_eq!(args, json!({"cmd": TOOL_COMMAND, "timeout": 1}));
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "tool_calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_result_is_answered_and_reasoning_comes_first() {
    let fake = FakeOpenAi::start().await;
    let body = json!({"model": "m", "tools": tools(), "messages": [
        {"role": "user", "content": "#think #tool=Run_Cmd"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "Run_Cmd", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "the output\n"}
    ]});
    let res = post_json(&url(&fake), "sk-test", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let message = &res.json()["choices"][0]["message"];
    assert_eq!(message["content"], "after tool: the output");
    assert_eq!(message["reasoning_content"], REASONING);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let res = post_json(&url(&fake), "sk-test", &streamed).await;
    let chunks = chunks(&res.text());
    let field = |name: &str| -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"][name].as_str())
            .collect()
    };
    assert_eq!(field("reasoning_content"), REASONING);
    assert_eq!(field("content"), "after tool: the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_tools_and_unpaired_tool_turns_are_refused() {
    let fake = FakeOpenAi::start().await;
    let res = post_json(
        &url(&fake),
        "sk-test",
        &json!({"model": "m", "tools": tools(), "messages": [{"role": "user", "content": "#tool=run_cmd"}]}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("Run_Cmd"), "{}", res.text());

    let res = post_json(
        &url(&fake),
        "sk-test",
        &json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "y"}
        ]}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("c1"), "{}", res.text());

    let res = post_json(
        &url(&fake),
        "sk-test",
        &json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "nope", "content": "y"}
        ]}),
    )
    .await;
    assert_eq!(res.status, 400);

    let res = post_json(
        &url(&fake),
        "sk-test",
        &json!({"model": "m", "tools": [{"type": "function", "function": {"name": "bad name"}}],
            "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("pattern"), "{}", res.text());
}
