//! End to end: streams that reach every SSE client whole. A provider slow to send its first
//! byte gets the client its headers and `: keep-alive` comments meanwhile; a provider that
//! ends a stream without its last event gets the client an error in its own format instead
//! of a stream that simply stops (which Claude Code and Codex show as nothing at all).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_responses::FakeResponses;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{next_data, send, sse_data};

struct Fakes {
    anthropic: FakeAnthropic,
    openai: FakeOpenAi,
    responses: FakeResponses,
    gemini: FakeGemini,
}

async fn setup(keepalive_ms: u64) -> (Fakes, Proxy) {
    setup_with(keepalive_ms, 120_000).await
}

async fn setup_with(keepalive_ms: u64, first_byte_ms: u64) -> (Fakes, Proxy) {
    let fakes = Fakes {
        anthropic: FakeAnthropic::start().await,
        openai: FakeOpenAi::start().await,
        responses: FakeResponses::start().await,
        gemini: FakeGemini::start().await,
    };
    let config = format!(
        r#"
[timeouts]
keepalive_ms = {keepalive_ms}
first_byte_ms = {first_byte_ms}

[[providers]]
name = "an"
kind = "claude"
base_url = "{}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-ant-upstream-0001"

[[providers]]
name = "oa"
base_url = "{}"
models = ["gpt-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-key-0001"

[[providers]]
name = "re"
kind = "openai-responses"
base_url = "{}"
models = ["gpt-resp-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-key-0002"

[[providers]]
name = "ge"
kind = "gemini"
base_url = "{}"
models = ["gemini-2.5-flash"]
[[providers.accounts]]
name = "a"
api_key = "gemini-upstream-key-0001"
"#,
        fakes.anthropic.base_url(),
        fakes.openai.base_url(),
        fakes.responses.base_url(),
        fakes.gemini.base_url(),
    );
    (fakes, Proxy::start(&config, &[]))
}

/// A streaming request in `client`'s format for `model`, saying `text`: its path and body.
fn streaming(client: &str, model: &str, text: &str) -> (String, Value) {
    match client {
        "openai" => (
            "/v1/chat/completions".into(),
            json!({"model": model, "stream": true, "messages": [{"role": "user", "content": text}]}),
        ),
        "claude" => (
            "/v1/messages".into(),
            json!({"model": model, "stream": true, "max_tokens": 64,
                   "messages": [{"role": "user", "content": text}]}),
        ),
        "responses" => (
            "/v1/responses".into(),
            json!({"model": model, "stream": true, "input": text}),
        ),
        "gemini" => (
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
            json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
        ),
        other => panic!("no client format {other}"),
    }
}

async fn open(
    proxy: &Proxy,
    client: &str,
    model: &str,
    text: &str,
) -> http::Response<hyper::body::Incoming> {
    let (path, body) = streaming(client, model, text);
    let res = send(
        "POST",
        &proxy.url(&path),
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(res.status(), 200, "{client} -> {model}");
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res
}

async fn read_all(body: &mut hyper::body::Incoming, seen: &mut String) {
    while let Some(data) = next_data(body).await {
        // Gemini ends its events with CRLF pairs; the checks read LF.
        seen.push_str(&std::str::from_utf8(&data).unwrap().replace("\r\n", "\n"));
    }
}

/// Whether the stream ended on `client`'s normal last event.
fn ended_normally(client: &str, text: &str) -> bool {
    match client {
        "openai" => sse_data(text).last().is_some_and(|d| d == "[DONE]"),
        "claude" => text.contains("event: message_stop"),
        "responses" => text.contains("event: response.completed"),
        "gemini" => text.contains("\"finishReason\""),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_first_byte_gets_keep_alive_comments_in_every_sse_client_format() {
    let (fakes, proxy) = setup(50).await;
    // Claude in front of Anthropic is passthrough; the others are translated.
    for client in ["claude", "openai", "responses", "gemini"] {
        let res = open(&proxy, client, "an/claude-test", "#wait hi").await;
        let mut body = res.into_body();
        // The fake has sent nothing: the headers came anyway, and comments follow.
        let mut seen = String::new();
        while seen.matches(": keep-alive\n\n").count() < 2 {
            let data = next_data(&mut body).await.expect("stream ended early");
            seen.push_str(std::str::from_utf8(&data).unwrap());
        }
        assert!(sse_data(&seen).is_empty(), "{client}: {seen}");
        fakes.anthropic.release();
        read_all(&mut body, &mut seen).await;
        assert!(ended_normally(client, &seen), "{client}: {seen}");
        assert!(seen.contains("Hello"), "{client}: {seen}");
    }
    // A provider that answers at once gets no comment.
    let res = open(&proxy, "openai", "oa/gpt-test", "hi").await;
    let mut seen = String::new();
    read_all(&mut res.into_body(), &mut seen).await;
    assert!(!seen.contains("keep-alive"), "{seen}");
    assert!(ended_normally("openai", &seen), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_keep_alives_ends_the_stream_with_the_clients_error() {
    // The fake never sends a byte: after the keep-alives, the first-byte timeout ends the
    // request, and the client, which already has its 200, gets the error as its format's
    // last event.
    let (fakes, proxy) = setup_with(50, 400).await;
    for client in ["responses", "claude", "openai"] {
        let res = open(&proxy, client, "an/claude-test", "#wait hi").await;
        let mut seen = String::new();
        read_all(&mut res.into_body(), &mut seen).await;
        assert!(seen.starts_with(": keep-alive\n\n"), "{client}: {seen}");
        let last: Value = serde_json::from_str(sse_data(&seen).last().unwrap()).unwrap();
        let message = match client {
            "responses" => {
                assert_eq!(last["type"], "response.failed", "{seen}");
                &last["response"]["error"]["message"]
            }
            "claude" => {
                assert_eq!(last["type"], "error", "{seen}");
                &last["error"]["message"]
            }
            _ => &last["error"]["message"],
        };
        assert!(
            message.as_str().unwrap().contains("no stream data"),
            "{client}: {seen}"
        );
    }
    drop(fakes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_short_ends_with_an_error_in_the_clients_format() {
    let (fakes, proxy) = setup(60_000).await;
    let cases = [
        // Passthrough: the same format both sides.
        ("claude", "an/claude-test"),
        ("openai", "oa/gpt-test"),
        ("responses", "re/gpt-resp-test"),
        ("gemini", "ge/gemini-2.5-flash"),
        // Translated.
        ("claude", "oa/gpt-test"),
        ("openai", "an/claude-test"),
        ("responses", "an/claude-test"),
        ("gemini", "re/gpt-resp-test"),
        ("claude", "ge/gemini-2.5-flash"),
    ];
    for (client, model) in cases {
        let res = open(&proxy, client, model, "#cut #chunks=4").await;
        let mut seen = String::new();
        read_all(&mut res.into_body(), &mut seen).await;
        let last: Value = serde_json::from_str(
            sse_data(&seen)
                .iter()
                .rev()
                .find(|d| *d != "[DONE]")
                .unwrap(),
        )
        .unwrap();
        let message = match client {
            "claude" => {
                assert!(seen.contains("event: error"), "{client} <- {model}: {seen}");
                assert!(!seen.contains("event: message_stop"), "{seen}");
                assert_eq!(last["type"], "error", "{seen}");
                last["error"]["message"].as_str().unwrap().to_owned()
            }
            "responses" => {
                assert!(
                    seen.contains("event: response.failed"),
                    "{client} <- {model}: {seen}"
                );
                assert!(!seen.contains("event: response.completed"), "{seen}");
                assert_eq!(last["type"], "response.failed", "{seen}");
                assert_eq!(last["response"]["status"], "failed", "{seen}");
                last["response"]["error"]["message"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            _ => {
                assert!(
                    !seen.contains("finish_reason\":\"stop") && !seen.contains("\"finishReason\":"),
                    "{client} <- {model}: {seen}"
                );
                last["error"]["message"].as_str().unwrap().to_owned()
            }
        };
        assert!(
            message.contains("without"),
            "{client} <- {model}: {message}"
        );
    }
    // A stream that ends normally is left alone.
    for (client, model) in cases {
        let res = open(&proxy, client, model, "#chunks=4").await;
        let mut seen = String::new();
        read_all(&mut res.into_body(), &mut seen).await;
        assert!(ended_normally(client, &seen), "{client} <- {model}: {seen}");
        assert!(!seen.contains("without"), "{client} <- {model}: {seen}");
    }
    drop(fakes);
}
