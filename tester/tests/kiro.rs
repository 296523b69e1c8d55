//! End to end: the real binary with a `kiro` provider pointed at the fake Kiro endpoint,
//! driven by OpenAI-format and Anthropic-format clients. The fake answers in binary AWS
//! event-stream frames it encodes itself, and refuses what Kiro refuses.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use switchyard_tester::fake_kiro::{
    self, AFTER_TOOL, CONTEXT_PERCENT, FakeKiro, INPUT_TOKENS, OUTPUT_TOKENS, TOOL_COMMAND,
};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{next_data, request, send, sse_data};

const ACCESS_TOKEN: &str = "kiro-access-token-0001";
const PROFILE: &str = "arn:aws:codewhisperer:us-east-1:123456789012:profile/TEST";

async fn setup() -> (FakeKiro, Proxy) {
    let fake = FakeKiro::start().await;
    let config = format!(
        r#"
[[providers]]
name = "kiro"
kind = "kiro"
base_url = "{}"
models = ["claude-sonnet-4.5", "claude-sonnet-4-5"]
[providers.options]
profile_arn = "{PROFILE}"
"model.fast" = "claude-haiku-4.5"
[[providers.accounts]]
name = "a"
api_key = "{ACCESS_TOKEN}"
"#,
        fake.base_url()
    );
    let proxy = Proxy::start(&config, &[]);
    (fake, proxy)
}

async fn post(proxy: &Proxy, path: &str, body: &Value) -> switchyard_tester::http_client::Reply {
    request(
        "POST",
        &proxy.url(path),
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string(),
    )
    .await
}

fn bash_tool() -> Value {
    json!({"type": "function", "function": {"name": "Bash", "description": "Run a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}})
}

/// The chunks of an OpenAI SSE text, `[DONE]` left out.
fn chunks(text: &str) -> Vec<Value> {
    sse_data(text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn content_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_stream_arrives_while_kiro_holds_it_open() {
    let (fake, _proxy) = setup().await;
    let proxy = _proxy;
    let body = json!({"model": "kiro/claude-sonnet-4.5", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "#hold #chunks=4"}]});
    let res = send(
        "POST",
        &proxy.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut stream = res.into_body();
    let mut seen = String::new();
    // The fake sent one content frame and waits: its text must already be here.
    while content_of(&chunks(&seen)).is_empty() {
        let data = next_data(&mut stream).await.expect("stream ended early");
        seen.push_str(std::str::from_utf8(&data).unwrap());
    }
    assert_eq!(fake.state.completed_streams.load(Ordering::SeqCst), 0);
    assert!(!seen.contains("[DONE]"));
    fake.release();
    while let Some(data) = next_data(&mut stream).await {
        seen.push_str(std::str::from_utf8(&data).unwrap());
    }
    assert_eq!(sse_data(&seen).last().unwrap(), "[DONE]");
    let all = chunks(&seen);
    assert_eq!(content_of(&all), "Hello from the fake");
    assert_eq!(all[0]["choices"][0]["delta"]["role"], "assistant");
    let finishes: Vec<&Value> = all
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&json!("stop")]);
    let usage = &all.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], INPUT_TOKENS);
    assert_eq!(usage["completion_tokens"], OUTPUT_TOKENS);

    // What reached Kiro: the shape it wants, with the account's token and the options.
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/generateAssistantResponse");
    assert_eq!(
        req.headers["authorization"],
        format!("Bearer {ACCESS_TOKEN}").as_str()
    );
    assert_eq!(req.headers["accept"], fake_kiro::EVENT_STREAM);
    assert!(req.headers.contains_key("x-amz-user-agent"));
    assert_eq!(req.body["profileArn"], PROFILE);
    let cur = &req.body["conversationState"]["currentMessage"]["userInputMessage"];
    assert_eq!(cur["modelId"], "claude-sonnet-4.5");
    assert_eq!(cur["content"], "be brief\n\n#hold #chunks=4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_non_stream_tool_round_trip() {
    let (fake, proxy) = setup().await;
    // The mapped name `claude-sonnet-4-5` reaches Kiro as `claude-sonnet-4.5`.
    let first = json!({"model": "claude-sonnet-4-5", "tools": [bash_tool()],
        "messages": [{"role": "user", "content": "list files #tool=Bash"}]});
    let res = post(&proxy, "/v1/chat/completions", &first).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let answer = res.json();
    assert_eq!(answer["object"], "chat.completion");
    let msg = &answer["choices"][0]["message"];
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let call = &msg["tool_calls"][0];
    assert_eq!(call["function"]["name"], "Bash");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"command": TOOL_COMMAND}));
    assert_eq!(answer["usage"]["prompt_tokens"], INPUT_TOKENS);

    let id = call["id"].as_str().unwrap();
    let second = json!({"model": "claude-sonnet-4-5", "tools": [bash_tool()],
        "messages": [
            {"role": "user", "content": "list files #tool=Bash"},
            msg.clone(),
            {"role": "tool", "tool_call_id": id, "content": "switchyard-tool-ok"}]});
    let res = post(&proxy, "/v1/chat/completions", &second).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        format!("{AFTER_TOOL}switchyard-tool-ok")
    );
    let seen = &fake.requests()[1].body["conversationState"];
    assert_eq!(
        seen["history"][1]["assistantResponseMessage"]["toolUses"][0]["toolUseId"],
        id
    );
    assert_eq!(
        seen["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]["toolUseId"],
        id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_stream_tool_call_and_estimated_usage() {
    let (_fake, mut proxy) = setup().await;
    let body = json!({"model": "kiro/fast", "stream": true, "tools": [bash_tool()],
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "#tool=Bash #nometrics"}]});
    let res = post(&proxy, "/v1/chat/completions", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let all = chunks(&res.text());
    let calls: Vec<&Value> = all
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "Bash");
    assert_eq!(calls[0]["index"], 0);
    assert!(calls.len() >= 3, "arguments arrive in fragments: {calls:?}");
    let args: String = calls
        .iter()
        .filter_map(|c| c.pointer("/function/arguments").and_then(Value::as_str))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"command": TOOL_COMMAND})
    );
    // Only a context percentage came: usage is estimated from it, and says so.
    let usage = &all.last().unwrap()["usage"];
    assert_eq!(
        usage["prompt_tokens"],
        (CONTEXT_PERCENT * 2000.0).round() as u64
    );
    assert_eq!(usage["estimated"], true);
    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let (prompt, estimated): (i64, bool) = conn
        .query_row(
            "SELECT prompt_tokens, tokens_estimated FROM usage ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(prompt, 1000);
    assert!(estimated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_streams_and_round_trips_a_tool() {
    let (fake, proxy) = setup().await;
    let tools = json!([{"name": "Bash", "description": "Run a command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}]);
    let body = json!({"model": "kiro/claude-sonnet-4.5", "max_tokens": 256, "stream": true,
        "system": "You are Claude Code.", "tools": tools,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "#tool=Bash"}]}]});
    let res = post(&proxy, "/v1/messages", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let text = res.text();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.iter().filter(|n| **n == "message_stop").count(), 1);
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let tool_use = events
        .iter()
        .find(|e| e["type"] == "content_block_start" && e["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    assert_eq!(tool_use["content_block"]["name"], "Bash");
    let tool_id = tool_use["content_block"]["id"].as_str().unwrap().to_owned();
    let input: String = events
        .iter()
        .filter_map(|e| e.pointer("/delta/partial_json").and_then(Value::as_str))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"command": TOOL_COMMAND})
    );
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    // The result goes back, not streamed this time.
    let body = json!({"model": "kiro/claude-sonnet-4.5", "max_tokens": 256,
        "system": "You are Claude Code.", "tools": tools,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "#tool=Bash"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "Bash",
                "input": {"command": TOOL_COMMAND}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                "content": "switchyard-tool-ok"}]}]});
    let res = post(&proxy, "/v1/messages", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let msg = res.json();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_eq!(
        msg["content"][0]["text"],
        format!("{AFTER_TOOL}switchyard-tool-ok")
    );
    assert_eq!(msg["usage"]["input_tokens"], INPUT_TOKENS);
    let seen = &fake.requests()[1].body["conversationState"];
    let first_user = seen["history"][0]["userInputMessage"]["content"]
        .as_str()
        .unwrap();
    assert!(
        first_user.starts_with("You are Claude Code."),
        "{first_user}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_becomes_a_rate_limit_error_in_each_client_format() {
    let (_fake, proxy) = setup().await;
    // Inside the stream: an exception frame after the first text.
    let res = post(
        &proxy,
        "/v1/chat/completions",
        &json!({"model": "kiro/claude-sonnet-4.5", "messages": [{"role": "user", "content": "#throttle"}]}),
    )
    .await;
    assert_eq!(res.status, 429, "{}", res.text());
    assert_eq!(res.json()["error"]["type"], "rate_limit_error");

    let res = post(
        &proxy,
        "/v1/messages",
        &json!({"model": "kiro/claude-sonnet-4.5", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "#throttle"}]}),
    )
    .await;
    let text = res.text();
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let err = events.iter().find(|e| e["type"] == "error").expect(&text);
    assert_eq!(err["error"]["type"], "rate_limit_error");
    assert!(!text.contains("message_stop"));

    // Before the stream: an HTTP 429.
    let res = post(
        &proxy,
        "/v1/chat/completions",
        &json!({"model": "kiro/claude-sonnet-4.5", "messages": [{"role": "user", "content": "#status=429"}]}),
    )
    .await;
    assert_eq!(res.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_kiro_would_refuse_is_refused_before_sending() {
    let (fake, proxy) = setup().await;
    let cases = [
        (
            json!({"model": "kiro/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
            "model.gpt-4o",
        ),
        (
            json!({"model": "kiro/claude-sonnet-4.5", "tools": [bash_tool()], "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
            "answers no tool call",
        ),
    ];
    for (body, needle) in cases {
        let res = post(&proxy, "/v1/chat/completions", &body).await;
        assert_eq!(res.status, 400, "{}", res.text());
        let msg = res.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "{msg}");
    }
    assert!(fake.requests().is_empty(), "nothing reached Kiro");
    // Merged turns, placeholders, schema fixes: what does reach it passes its checks.
    let body = json!({"model": "kiro/claude-sonnet-4.5", "tools": [
            {"type": "function", "function": {"name": "Noop", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": ""}]});
    let res = post(&proxy, "/v1/chat/completions", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.requests().len(), 1);
}

// The fake itself, driven with raw bytes: strict where Kiro is, frames that decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refuses_improperly_formed_requests() {
    let fake = FakeKiro::start().await;
    let url = format!("{}/generateAssistantResponse", fake.base_url());
    let user = |content: &str| json!({"content": content, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"});
    let state = |history: Value, current: Value| {
        json!({"conversationState": {"chatTriggerType": "MANUAL", "conversationId": "c-1",
            "history": history, "currentMessage": {"userInputMessage": current}}})
    };
    let spec = |required: bool, desc: &str| {
        let mut schema = json!({"type": "object", "properties": {}});
        if required {
            schema["required"] = json!([]);
        }
        json!({"toolSpecification": {"name": "T", "description": desc, "inputSchema": {"json": schema}}})
    };
    let mut with_tools = user("x");
    with_tools["userInputMessageContext"] = json!({"tools": [spec(true, "d")],
        "toolResults": [{"toolUseId": "nope", "status": "success", "content": [{"text": "r"}]}]});
    let mut no_required = user("x");
    no_required["userInputMessageContext"] = json!({"tools": [spec(false, "d")]});
    let mut empty_desc = user("x");
    empty_desc["userInputMessageContext"] = json!({"tools": [spec(true, "")]});
    let mut bad_model = user("x");
    bad_model["modelId"] = json!("gpt-4o");
    let cases = [
        (
            state(json!([{"userInputMessage": user("a")}]), user("b")),
            "alternate",
        ),
        (state(json!([]), with_tools), "matches no toolUse"),
        (state(json!([]), no_required), "required"),
        (state(json!([]), empty_desc), "empty description"),
        (state(json!([]), user("")), "content is empty"),
        (
            json!({"conversationState": {"currentMessage": {"userInputMessage": user("x")}}}),
            "chatTriggerType",
        ),
        (state(json!([]), bad_model), "INVALID_MODEL_ID"),
    ];
    for (body, reason) in cases {
        let res = request(
            "POST",
            &url,
            &[
                ("authorization", "Bearer t"),
                ("content-type", "application/json"),
                ("x-amz-target", fake_kiro::TARGET),
            ],
            body.to_string(),
        )
        .await;
        assert_eq!(res.status, 400, "{body}");
        let err = res.json();
        assert!(
            err["reason"].as_str().unwrap().contains(reason),
            "{err} for {body}"
        );
        if reason != "INVALID_MODEL_ID" {
            assert_eq!(err["message"], "Improperly formed request.");
        }
    }

    let ok = state(json!([]), user("#chunks=2"));
    let res = request(
        "POST",
        &url,
        &[
            ("authorization", "Bearer t"),
            ("content-type", "application/json"),
            ("x-amz-target", fake_kiro::TARGET),
        ],
        ok.to_string(),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["content-type"], fake_kiro::EVENT_STREAM);
    let frames = fake_kiro::decode_frames(&res.body).unwrap();
    let kinds: Vec<&str> = frames
        .iter()
        .map(|(h, _)| {
            h.iter()
                .find(|(k, _)| k == ":event-type")
                .map(|(_, v)| v.as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "assistantResponseEvent",
            "assistantResponseEvent",
            "meteringEvent",
            "contextUsageEvent",
            "metricsEvent",
            "messageStopEvent"
        ]
    );
    let revoked = request(
        "POST",
        &url,
        &[
            ("authorization", "Bearer revoked-1"),
            ("content-type", "application/json"),
            ("x-amz-target", fake_kiro::TARGET),
        ],
        ok.to_string(),
    )
    .await;
    assert_eq!(revoked.status, 403);

    // Without the operation named, or naming another, the request is refused.
    for target in [
        None,
        Some("AmazonCodeWhispererStreamingService.SendMessage"),
    ] {
        let mut headers = vec![
            ("authorization", "Bearer t"),
            ("content-type", "application/json"),
        ];
        headers.extend(target.map(|t| ("x-amz-target", t)));
        let res = request("POST", &url, &headers, ok.to_string()).await;
        assert_eq!(res.status, 400, "{target:?}");
        assert_eq!(
            res.headers["x-amzn-errortype"], "UnknownOperationException",
            "{target:?}"
        );
    }
}

// Issue 12 item 10: the proxy names the operation in `X-Amz-Target` as the service's other
// clients do; the fake refuses a request without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_name_the_operation_in_x_amz_target() {
    let (fake, proxy) = setup().await;
    let body = json!({"model": "kiro/claude-sonnet-4.5",
        "messages": [{"role": "user", "content": "hi #chunks=1"}]});
    let res = post(&proxy, "/v1/chat/completions", &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let req = &fake.requests()[0];
    assert_eq!(req.headers["x-amz-target"], fake_kiro::TARGET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refresh_services_rotate_tokens() {
    let auth = fake_kiro::FakeKiroAuth::start().await;
    auth.grant("r-0");
    let post = |url: String, body: Value| async move {
        request(
            "POST",
            &url,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    };
    let res = post(auth.social_url(), json!({"refreshToken": "r-0"})).await;
    assert_eq!(res.status, 200);
    let next = res.json()["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(res.json()["profileArn"], fake_kiro::PROFILE_ARN);
    // Single use: the old one is gone.
    let res = post(auth.social_url(), json!({"refreshToken": "r-0"})).await;
    assert_eq!(res.status, 401);

    let oidc = auth.oidc_url().replace("{region}", "us-east-1");
    let body = |token: &str, secret: &str| {
        json!({"clientId": fake_kiro::OIDC_CLIENT_ID,
        "clientSecret": secret, "refreshToken": token, "grantType": "refresh_token"})
    };
    let res = post(oidc.clone(), body(&next, "wrong")).await;
    assert_eq!(res.json()["error"], "invalid_client");
    let res = post(oidc.clone(), body(&next, fake_kiro::OIDC_CLIENT_SECRET)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["tokenType"], "Bearer");
    let res = post(oidc, body(&next, fake_kiro::OIDC_CLIENT_SECRET)).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["error"], "invalid_grant");
}
