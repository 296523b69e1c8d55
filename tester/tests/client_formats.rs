//! End to end: Anthropic, Responses and Gemini clients in front of an OpenAI-format provider,
//! and what each gets for bad input — always an error in its own format.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{request, sse_data};

async fn setup() -> (FakeOpenAi, Proxy) {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        r#"
[[providers]]
name = "fake"
base_url = "{}"
models = ["gpt-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-key-0001"

[aliases]
gm = "fake/gpt-test"
"#,
        fake.base_url()
    );
    let proxy = Proxy::start(&config, &[]);
    (fake, proxy)
}

async fn post(
    proxy: &Proxy,
    path: &str,
    body: impl Into<bytes::Bytes>,
) -> switchyard_tester::http_client::Reply {
    request(
        "POST",
        &proxy.url(path),
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        body,
    )
    .await
}

fn claude_error(v: &Value) -> (&str, &str) {
    assert_eq!(v["type"], "error", "{v}");
    (
        v["error"]["type"].as_str().unwrap(),
        v["error"]["message"].as_str().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_format_round_trips_through_an_openai_provider() {
    let (fake, _proxy) = setup().await;
    let proxy = _proxy;

    let res = post(
        &proxy,
        "/v1/messages",
        json!({"model": "fake/gpt-test", "max_tokens": 64,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let msg = res.json();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["content"][0]["text"], "Hello from the fake");
    assert_eq!(msg["stop_reason"], "end_turn");
    // The provider saw a chat completions request with the system prompt first.
    let seen = &fake.requests()[0].body;
    assert_eq!(seen["messages"][0]["role"], "system");
    assert_eq!(seen["model"], "gpt-test");

    let res = post(
        &proxy,
        "/v1/messages",
        json!({"model": "fake/gpt-test", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "#chunks=3"}]})
        .to_string(),
    )
    .await;
    let text = res.text();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.iter().filter(|n| **n == "message_stop").count(), 1);
    assert_eq!(
        names.iter().filter(|n| **n == "content_block_stop").count(),
        1
    );

    let res = post(
        &proxy,
        "/v1/responses",
        json!({"model": "fake/gpt-test", "input": "hi", "store": false}).to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let r = res.json();
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");

    let res = post(
        &proxy,
        "/v1/responses",
        json!({"model": "fake/gpt-test", "input": "#chunks=2", "stream": true}).to_string(),
    )
    .await;
    let events: Vec<Value> = sse_data(&res.text())
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "response.created");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "response.completed")
            .count(),
        1
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "response.output_item.done")
    );

    let res = post(
        &proxy,
        "/v1beta/models/gm:generateContent",
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["candidates"][0]["content"]["parts"][0]["text"],
        "Hello from the fake"
    );

    let res = post(
        &proxy,
        "/v1beta/models/gm:streamGenerateContent?alt=sse",
        json!({"contents": [{"role": "user", "parts": [{"text": "#chunks=2"}]}]}).to_string(),
    )
    .await;
    let chunks = sse_data(&res.text());
    let last: Value = serde_json::from_str(chunks.last().unwrap()).unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 11);

    let res = post(&proxy, "/v1/messages/count_tokens", json!({"model": "fake/gpt-test", "messages": [{"role": "user", "content": "count these words please"}]}).to_string()).await;
    assert!(res.json()["input_tokens"].as_u64().unwrap() > 0);
    let res = post(
        &proxy,
        "/v1beta/models/gm:countTokens",
        json!({"contents": [{"parts": [{"text": "count me"}]}]}).to_string(),
    )
    .await;
    assert!(res.json()["totalTokens"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_in_the_clients_own_format() {
    let (_fake, proxy) = setup().await;
    // Anthropic shape.
    for (body, needle) in [
        ("{\"model\":".to_owned(), "not valid JSON"),
        (json!({"model": "fake/gpt-test", "messages": [{"role": "user", "content": "x"}]}).to_string(), "max_tokens"),
        (json!({"model": "fake/gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}).to_string(), "content[0]"),
        (json!({"model": "nope/x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}).to_string(), "nope/x"),
    ] {
        let res = post(&proxy, "/v1/messages", body).await;
        assert!(res.status.is_client_error(), "{}", res.text());
        let v = res.json();
        let (_, message) = claude_error(&v);
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // OpenAI shape for Responses.
    for (body, needle) in [
        (json!({"model": "fake/gpt-test"}).to_string(), "input"),
        (
            json!({"model": "fake/gpt-test", "input": [{"type": "teleport"}]}).to_string(),
            "teleport",
        ),
    ] {
        let res = post(&proxy, "/v1/responses", body).await;
        assert_eq!(res.status, 400, "{}", res.text());
        let v = res.json();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
    // Gemini shape.
    let res = post(
        &proxy,
        "/v1beta/models/gm:generateContent",
        json!({"contents": []}).to_string(),
    )
    .await;
    assert_eq!(res.status, 400);
    let v = res.json();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(v["error"]["code"], 400);
    let res = post(&proxy, "/v1beta/models/gm:generateAnswer", "{}").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_ends_with_an_error_event_in_the_clients_format() {
    let (_fake, proxy) = setup().await;
    let res = post(
        &proxy,
        "/v1/messages",
        json!({"model": "fake/gpt-test", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "#reset #chunks=5"}]})
        .to_string(),
    )
    .await;
    let text = res.text();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.last(), Some(&"error"), "{text}");
    assert!(!names.contains(&"message_stop"));

    let res = post(
        &proxy,
        "/v1/responses",
        json!({"model": "fake/gpt-test", "input": "#reset #chunks=5", "stream": true}).to_string(),
    )
    .await;
    let events: Vec<Value> = sse_data(&res.text())
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{last}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "response.completed")
            .count(),
        0
    );

    let res = post(
        &proxy,
        "/v1beta/models/gm:streamGenerateContent?alt=sse",
        json!({"contents": [{"role": "user", "parts": [{"text": "#reset #chunks=5"}]}]})
            .to_string(),
    )
    .await;
    let chunks = sse_data(&res.text());
    let last: Value = serde_json::from_str(chunks.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
}
