//! End to end: the real binary with a `cursor` provider pointed at the fake Cursor (Connect
//! framing and protobuf written by hand), driven by an OpenAI client, and by an Anthropic
//! client for a tool round trip.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::AFTER_TOOL;
use switchyard_tester::fake_cursor::{FakeCursor, REPLY, THINKING, TOOL_ARGS};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{next_data, post_json, request, send, sse_data};

const CLIENT_KEY: &str = "sk-client-cursor-0001";
const TOKEN: &str = "cursor-access-token-0001";
const MACHINE_ID: &str = "6f1c9a3e5b7d4c2a8e0f1b3d5c7a9e2f4b6d8c0a1e3f5b7d9c2a4e6f8b0d1c3e";
const MODEL: &str = "claude-4-sonnet";

fn config(base_url: &str) -> String {
    format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

# Failures here are about what the client sees, not about cooling the one account.
[routing]
backoff_base_ms = 1
backoff_max_ms = 1

[[providers]]
name = "cursor"
kind = "cursor"
base_url = "{base_url}"
models = ["{MODEL}"]
[providers.options]
machine_id = "{MACHINE_ID}"
client_version = "3.1.0"
[[providers.accounts]]
name = "main"
api_key_env = "CURSOR_TOKEN"
"#
    )
}

async fn setup(token: &str) -> (FakeCursor, Proxy) {
    let fake = FakeCursor::start().await;
    let proxy = Proxy::start(&config(&fake.base_url()), &[("CURSOR_TOKEN", token)]);
    (fake, proxy)
}

fn chat(text: &str, stream: bool) -> Value {
    json!({"model": format!("cursor/{MODEL}"), "stream": stream,
           "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]})
}

fn shell_tool() -> Value {
    json!([{"type": "function", "function": {"name": "run_shell", "description": "Run a command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}}])
}

fn chunks(text: &str) -> Vec<Value> {
    sse_data(text)
        .into_iter()
        .filter(|d| d != "[DONE]")
        .map(|d| serde_json::from_str(&d).unwrap())
        .collect()
}

fn content_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_reaches_the_client_while_cursor_holds_it_open() {
    let (fake, _proxy) = setup(TOKEN).await;
    let proxy = _proxy;
    let auth = format!("Bearer {CLIENT_KEY}");
    let res = send(
        "POST",
        &proxy.url("/v1/chat/completions"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        chat("#hold #chunks=3", true).to_string(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let first_piece: String = REPLY.chars().take(REPLY.chars().count() / 3).collect();
    // The fake sent its first text frame and now waits: it must already be here.
    let mut seen = String::new();
    while !content_of(&chunks(&seen)).starts_with(&first_piece) {
        let data = next_data(&mut body).await.expect("stream ended early");
        seen.push_str(std::str::from_utf8(&data).unwrap());
    }
    assert!(!seen.contains("[DONE]"));
    assert!(!seen.contains("finish_reason\":\"stop"));
    fake.release();
    while let Some(data) = next_data(&mut body).await {
        seen.push_str(std::str::from_utf8(&data).unwrap());
    }
    let events = sse_data(&seen);
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = chunks(&seen);
    assert_eq!(content_of(&chunks), REPLY);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );

    // What Cursor received, decoded by the fake's own hand-written parser.
    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        r.path,
        "/aiserver.v1.ChatService/StreamUnifiedChatWithTools"
    );
    assert_eq!(r.body["model"], MODEL);
    assert_eq!(r.body["machine_id"], MACHINE_ID);
    assert_eq!(r.body["token"], TOKEN);
    assert_eq!(r.body["instruction"], "be brief");
    assert_eq!(r.body["mode_name"], "Ask");
    assert_eq!(r.body["messages"][0]["text"], "#hold #chunks=3");
    assert_eq!(r.headers["x-cursor-client-version"], "3.1.0");
    assert_eq!(r.headers["connect-protocol-version"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_clients_get_one_answer_with_reasoning() {
    let (fake, mut proxy) = setup(TOKEN).await;
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("hello #chunks=5", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["model"], MODEL);

    let mut thinking = chat("think first", false);
    thinking["reasoning_effort"] = json!("high");
    let res = post_json(&proxy.url("/v1/chat/completions"), CLIENT_KEY, &thinking).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["choices"][0]["message"]["reasoning_content"], THINKING);
    assert_eq!(body["choices"][0]["message"]["content"], REPLY);
    assert_eq!(fake.requests()[1].body["thinking_level"], 2);

    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let (provider, status, estimated): (String, i64, bool) = conn
        .query_row(
            "SELECT provider, status, tokens_estimated FROM usage ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((provider.as_str(), status), ("cursor", 200));
    // Cursor reports no usage: it is estimated, and flagged.
    assert!(estimated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_round_trip_streaming_and_not() {
    let (fake, _proxy) = setup(TOKEN).await;
    let proxy = _proxy;
    let url = proxy.url("/v1/chat/completions");

    // Not streaming: the call comes back whole under the client's tool name.
    let mut body = chat("list files #tool=run_shell", false);
    body["tools"] = shell_tool();
    let res = post_json(&url, CLIENT_KEY, &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let answer = res.json();
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "run_shell");
    assert_eq!(call["function"]["arguments"], TOOL_ARGS);
    let call_id = call["id"].as_str().unwrap().to_owned();
    assert!(
        call_id.starts_with("call_fake_") && call_id.contains("__mc_model_"),
        "{call_id}"
    );
    let seen = &fake.requests()[0].body;
    assert_eq!(seen["mode_name"], "Agent");
    assert_eq!(seen["tools"][0]["name"], "run_shell");
    assert_eq!(seen["tools"][0]["server"], "custom");
    assert_eq!(seen["tools"][0]["parameters"]["required"][0], "cmd");

    // The result goes back; the fake checks it answers the call it made, model call id
    // included, and replies with it.
    let mut messages = body["messages"].as_array().unwrap().clone();
    messages.push(choice["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "hi\n"}));
    let follow_up =
        json!({"model": format!("cursor/{MODEL}"), "messages": messages, "tools": shell_tool()});
    let res = post_json(&url, CLIENT_KEY, &follow_up).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        format!("{AFTER_TOOL}hi\n")
    );
    let seen = &fake.requests()[1].body;
    let result = &seen["messages"][1]["tool_results"][0];
    assert_eq!(result["name"], "mcp_custom_run_shell");
    assert_eq!(result["raw_args"], TOOL_ARGS);
    assert_eq!(result["result"], "hi\n");
    assert!(
        result["model_call_id"]
            .as_str()
            .unwrap()
            .starts_with("model_")
    );

    // Streaming: the call arrives as one tool call, name first, then its arguments.
    let mut body = chat("#tool=run_shell", true);
    body["tools"] = shell_tool();
    let res = post_json(&url, CLIENT_KEY, &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let chunks = chunks(&res.text());
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "run_shell");
    assert_eq!(calls[0]["index"], 0);
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, TOOL_ARGS);
    assert!(calls.iter().all(|c| c["index"] == 0));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(fake.calls_issued(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_tool_round_trip_through_cursor() {
    let (fake, _proxy) = setup(TOKEN).await;
    let proxy = _proxy;
    let tools = json!([{"name": "Bash", "description": "Run a command",
        "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}]);
    let post = |body: Value| {
        let url = proxy.url("/v1/messages");
        async move {
            request(
                "POST",
                &url,
                &[
                    ("x-api-key", CLIENT_KEY),
                    ("anthropic-version", "2023-06-01"),
                    ("content-type", "application/json"),
                ],
                body.to_string(),
            )
            .await
        }
    };
    let first = json!({"model": format!("cursor/{MODEL}"), "max_tokens": 256, "tools": tools,
        "messages": [{"role": "user", "content": "#tool=Bash"}]});
    let res = post(first.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let msg = res.json();
    assert_eq!(msg["stop_reason"], "tool_use");
    let block = msg["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(block["name"], "Bash");
    assert_eq!(
        block["input"],
        serde_json::from_str::<Value>(TOOL_ARGS).unwrap()
    );
    let id = block["id"].as_str().unwrap();
    // Anthropic ids allow only [A-Za-z0-9_-]: the model call id rides along inside that.
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id}"
    );

    let mut second = first.clone();
    second["stream"] = json!(true);
    second["messages"] = json!([
        {"role": "user", "content": "#tool=Bash"},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "done"}]}
    ]);
    let res = post(second).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let text = res.text();
    assert!(text.contains("event: message_stop"), "{text}");
    let said: String = sse_data(&text)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(said, format!("{AFTER_TOOL}done"));
    assert_eq!(
        fake.requests()[1].body["messages"][1]["tool_results"][0]["result"],
        "done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_errors_keep_their_meaning() {
    let (_fake, mut proxy) = setup(TOKEN).await;
    let url = proxy.url("/v1/chat/completions");

    // An HTTP error before any stream (first: a quota error below cools the one account).
    let res = post_json(&url, CLIENT_KEY, &chat("#status=503", false)).await;
    assert_eq!(res.status, 503, "{}", res.text());

    // resource_exhausted in the end-of-stream message: a 429 for a JSON client...
    let res = post_json(&url, CLIENT_KEY, &chat("#exhausted", false)).await;
    assert_eq!(res.status, 429, "{}", res.text());
    let err = res.json();
    assert_eq!(err["error"]["type"], "rate_limit_error");
    assert_eq!(err["error"]["code"], "resource_exhausted");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Too many requests"),
        "{err}"
    );
    // ...and for a streaming one too: the error came in Cursor's first frame, before any
    // byte went to the client, so it is answered (and could have failed over) as a status.
    let res = post_json(&url, CLIENT_KEY, &chat("#exhausted", true)).await;
    assert_eq!(res.status, 429, "{}", res.text());
    let text = res.text();
    assert!(text.contains("rate_limit_error"), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");

    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let classes: Vec<(i64, Option<String>)> = conn
        .prepare("SELECT status, error_class FROM usage ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(classes[0].0, 503);
    assert_eq!(classes[1], (429, Some("rate_limited".into())));
    assert_eq!(classes[2], (429, Some("rate_limited".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_login_is_an_authentication_error() {
    let (_fake, proxy) = setup("revoked-token-0001").await;
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("hi", false),
    )
    .await;
    assert_eq!(res.status, 401, "{}", res.text());
    let err = res.json();
    assert_eq!(err["error"]["type"], "authentication_error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_show_the_request_and_hide_token_and_machine_id() {
    let fake = FakeCursor::start().await;
    let mut proxy = Proxy::start(
        &config(&fake.base_url()),
        &[("CURSOR_TOKEN", TOKEN), ("SWITCHYARD_DEBUG_LOGS", "1")],
    );
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("hi", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    proxy.stop();
    let folder = std::fs::read_dir(proxy.logs_dir())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(folder.join("3_req_provider.json")).unwrap();
    let req: Value = serde_json::from_str(&text).unwrap();
    // The protobuf body is shown as the request it was encoded from.
    assert!(req["body"]["binary_body_bytes"].as_u64().unwrap() > 5);
    assert_eq!(
        req["body"]["encoded_from"]["request"]["conversation"][0]["text"],
        "hi"
    );
    assert!(
        !text.contains(TOKEN) && !text.contains(MACHINE_ID),
        "{text}"
    );
    assert!(
        std::fs::metadata(folder.join("4_res_provider.sse"))
            .unwrap()
            .len()
            > 0
    );
}

/// The fake is strict: a request the proxy sent, replayed with one thing wrong, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refuses_what_cursor_refuses() {
    let (fake, proxy) = setup(TOKEN).await;
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("hi", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = fake.raw_bodies()[0].clone();
    let sent = fake.requests()[0].headers.clone();
    let headers: Vec<(String, String)> = sent
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let url = format!(
        "{}/aiserver.v1.ChatService/StreamUnifiedChatWithTools",
        fake.base_url()
    );
    let replay = |change: &'static str, body: bytes::Bytes| {
        let mut headers = headers.clone();
        let url = url.clone();
        async move {
            for (k, v) in &mut headers {
                match (change, k.as_str()) {
                    ("client-key", "x-client-key") => *v = "0".repeat(64),
                    ("checksum-time", "x-cursor-checksum") => {
                        // The time part of a 2023 checksum: it no longer decodes to now.
                        *v = format!("Vfb45Bi9{}", &v[8..]);
                    }
                    ("content-type", "content-type") => *v = "application/proto".into(),
                    _ => {}
                }
            }
            let h: Vec<(&str, &str)> = headers
                .iter()
                .filter(|(k, _)| k != "content-length")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            request("POST", &url, &h, body).await
        }
    };
    // Unchanged, the replay is answered.
    let ok = replay("none", body.clone()).await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.body.ends_with(b"\x02\x00\x00\x00\x02{}"),
        "{:?}",
        ok.body
    );

    let error_of = |r: &switchyard_tester::http_client::Reply| -> Value {
        assert_eq!(r.status, 200);
        assert_eq!(r.body[0], 0x02, "{:?}", r.body);
        serde_json::from_slice::<Value>(&r.body[5..]).unwrap()["error"].clone()
    };
    let e = error_of(&replay("client-key", body.clone()).await);
    assert_eq!(e["code"], "permission_denied");
    let e = error_of(&replay("checksum-time", body.clone()).await);
    assert_eq!(e["code"], "permission_denied");
    assert!(e["message"].as_str().unwrap().contains("not now"), "{e}");
    assert_eq!(replay("content-type", body.clone()).await.status, 415);

    // A compressed request frame, a frame length that disagrees with the body, and a
    // conversation with no message ids.
    let mut compressed = body.to_vec();
    compressed[0] = 0x01;
    let e = error_of(&replay("none", compressed.into()).await);
    assert!(
        e["message"].as_str().unwrap().contains("uncompressed"),
        "{e}"
    );
    let mut short = body.to_vec();
    short.push(0);
    let e = error_of(&replay("none", short.into()).await);
    assert!(e["message"].as_str().unwrap().contains("one frame"), "{e}");
    // The validator alone: a request without the `1: request` wrapper.
    let wrapped = &body[5..];
    assert!(switchyard_tester::fake_cursor::validate(&body).is_ok());
    // Strip the wrapper: its tag byte, then its length varint.
    let mut pos = 1;
    while wrapped[pos] & 0x80 != 0 {
        pos += 1;
    }
    let inner = &wrapped[pos + 1..];
    let mut unwrapped = vec![0u8];
    unwrapped.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    unwrapped.extend_from_slice(inner);
    assert!(switchyard_tester::fake_cursor::validate(&unwrapped).is_err());
}

// Issue 12 item 8: the checksum's time bytes as Cursor's JavaScript client computes them
// (`t >> 40` and `t >> 32` shift by 8 and 0). The fake refuses any other packing, so a
// plain 48-bit packing would be answered `permission_denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checksum_time_is_packed_as_cursors_client_packs_it() {
    let (fake, proxy) = setup(TOKEN).await;
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("hi", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = fake.requests()[0].headers["x-cursor-checksum"]
        .to_str()
        .unwrap()
        .to_owned();
    let (t, machine) = switchyard_tester::fake_cursor::read_checksum(&sent).unwrap();
    assert_eq!(machine, MACHINE_ID);
    let now = switchyard_tester::wall_clock()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        / 1_000_000;
    assert!(t.abs_diff(now) <= 1, "{t} vs {now}");
}

// Issue 12 item 9: Cursor numbers a call's index 48 (varint) and model call id 49 (string),
// the reverse of a result. The fake sends calls that way (a proxy with the result's numbering
// fails the stream with "invalid wire type") and checks both numberings in the tool result
// sent back; the old numbering on the call, replayed, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_keep_cursors_field_numbers_both_ways() {
    let (fake, proxy) = setup(TOKEN).await;
    let url = proxy.url("/v1/chat/completions");
    let mut body = chat("#tool=run_shell", false);
    body["tools"] = shell_tool();
    let res = post_json(&url, CLIENT_KEY, &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let message = res.json()["choices"][0]["message"].clone();
    let call_id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    assert!(call_id.contains("__mc_model_"), "{call_id}");

    let mut messages = body["messages"].as_array().unwrap().clone();
    messages.push(message);
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "ok"}));
    let follow_up =
        json!({"model": format!("cursor/{MODEL}"), "messages": messages, "tools": shell_tool()});
    let res = post_json(&url, CLIENT_KEY, &follow_up).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        format!("{AFTER_TOOL}ok")
    );

    // The call inside the result: 48 = index 1 as a varint (key 0x80 0x03), then 49 = the
    // model call id as a string (key 0x8a 0x03). Give it the result's numbering instead (49
    // varint 0x88 0x03, 48 string 0x82 0x03, same lengths) and replay it.
    let sent = fake.raw_bodies()[1].to_vec();
    let at = sent
        .windows(5)
        .position(|w| w == [0x80, 0x03, 0x01, 0x8a, 0x03])
        .expect("the call's index and model call id");
    let mut swapped = sent.clone();
    swapped[at] = 0x88;
    swapped[at + 3] = 0x82;
    let headers: Vec<(String, String)> = fake.requests()[1]
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != "content-length")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let target = format!(
        "{}{}",
        fake.base_url(),
        switchyard_tester::fake_cursor::PATH
    );
    let ok = request("POST", &target, &h, sent).await;
    assert!(
        ok.body.ends_with(b"\x02\x00\x00\x00\x02{}"),
        "{:?}",
        ok.body
    );
    let refused = request("POST", &target, &h, swapped).await;
    let error: Value = serde_json::from_slice(&refused.body[5..]).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("field 48 must be a varint"),
        "{error}"
    );
}
