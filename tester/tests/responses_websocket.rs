//! The Responses API over a WebSocket (what Codex speaks when its provider supports it),
//! driven with a plain WebSocket client: `GET /v1/responses` upgraded, `response.create`
//! messages in, the stream's events out as text messages, one usage row per response, the
//! next turn continuing the last with `previous_response_id`, and bad input answered with
//! an `error` message in the Responses shape while the socket stays usable.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const KEY: &str = "sk-client-websocket-0001";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn config(base: &str) -> String {
    format!(
        r#"
[debug_logs]
enabled = true

[[client_keys]]
id = "ws"
key = "{KEY}"

[[providers]]
name = "chat"
base_url = "{base}"
models = ["m"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-ws-0001"
"#
    )
}

async fn connect(proxy: &Proxy, key: Option<&str>) -> Result<Socket, Box<dyn std::error::Error>> {
    let mut req = format!("ws://{}/v1/responses", proxy.addr).into_client_request()?;
    if let Some(key) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse()?);
    }
    let (socket, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(socket)
}

/// The messages of one answer: up to a terminal event or an `error` message.
async fn answer(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("no message within 30 s")
            .expect("the socket closed")
            .unwrap();
        let Message::Text(text) = next else {
            continue;
        };
        let event: Value = serde_json::from_str(text.as_str()).unwrap();
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        events.push(event);
        if matches!(
            kind.as_str(),
            "response.completed" | "response.failed" | "error"
        ) {
            return events;
        }
    }
}

async fn create(socket: &mut Socket, body: Value) -> Vec<Value> {
    socket.send(Message::text(body.to_string())).await.unwrap();
    answer(socket).await
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn rows(proxy: &Proxy) -> Vec<(String, i64, Option<String>)> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT client_format, status, provider FROM usage ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_over_a_websocket_stream_continue_and_fail_in_the_responses_shape() {
    let fake = FakeOpenAi::start().await;
    let mut proxy = Proxy::start(&config(&fake.base_url()), &[]);

    // Without the client key the upgrade is refused, as a POST would be.
    assert!(connect(&proxy, None).await.is_err());
    assert!(connect(&proxy, Some("sk-wrong")).await.is_err());

    let mut socket = connect(&proxy, Some(KEY)).await.unwrap();
    let first = create(
        &mut socket,
        json!({"type": "response.create", "model": "chat/m", "input": "hello there"}),
    )
    .await;
    let k = kinds(&first);
    for want in [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ] {
        assert!(k.contains(&want), "no {want} in {k:?}");
    }
    let done = first.last().unwrap();
    let text = done["response"]["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!text.is_empty(), "{done}");
    assert!(done["response"]["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let first_id = done["response"]["id"].as_str().unwrap().to_owned();

    // The next turn sends only its new input and names the last response, as Codex does
    // on a socket: the provider, which stores nothing, gets the whole conversation.
    let second = create(
        &mut socket,
        json!({"type": "response.create", "model": "chat/m", "previous_response_id": first_id,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and again"}]}]}),
    )
    .await;
    assert_eq!(
        second.last().unwrap()["type"],
        "response.completed",
        "{second:?}"
    );
    let sent = fake.requests().last().unwrap().body.clone();
    let messages = sent["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{sent}");
    assert!(
        messages[1]["content"].to_string().contains(text.trim()),
        "{sent}"
    );

    // Bad input: the error message of a POST, in the Responses shape, and the socket lives.
    let bad = create(
        &mut socket,
        json!({"type": "response.create", "model": "chat/m"}),
    )
    .await;
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["type"], "error");
    assert_eq!(bad[0]["status"], 400);
    assert_eq!(bad[0]["error"]["type"], "invalid_request_error");
    assert!(
        bad[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input"),
        "{bad:?}"
    );
    let unknown = create(
        &mut socket,
        json!({"type": "response.create", "model": "chat/m", "input": "x", "previous_response_id": "resp_never"}),
    )
    .await;
    assert_eq!(unknown[0]["status"], 400, "{unknown:?}");
    assert_eq!(unknown[0]["error"]["code"], "previous_response_not_found");
    let odd = create(&mut socket, json!({"type": "session.update"})).await;
    assert_eq!(odd[0]["type"], "error");
    assert_eq!(odd[0]["error"]["code"], "unknown_message_type");
    socket.send(Message::text("not json")).await.unwrap();
    assert_eq!(answer(&mut socket).await[0]["status"], 400);

    let third = create(
        &mut socket,
        json!({"type": "response.create", "model": "chat/m", "input": "still here"}),
    )
    .await;
    assert_eq!(third.last().unwrap()["type"], "response.completed");
    socket.close(None).await.unwrap();

    proxy.stop();
    let rows = rows(&proxy);
    let statuses: Vec<i64> = rows.iter().map(|r| r.1).collect();
    // One row per response.create that reached intake; the unknown message type and the
    // non-JSON message are not requests.
    assert_eq!(statuses, [200, 200, 400, 400, 200], "{rows:?}");
    assert!(rows.iter().all(|r| r.0 == "responses"), "{rows:?}");
    assert_eq!(rows[0].2.as_deref(), Some("chat"));
    let log = proxy.stderr();
    assert_eq!(
        log.matches("responses turn over websocket").count(),
        5,
        "{log}"
    );
    // The debug log of a turn is the POST path's: the client's request, the provider's.
    let folders: Vec<_> = std::fs::read_dir(proxy.logs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        folders
            .iter()
            .any(|f| f.join("1_req_client.json").exists() && f.join("3_req_provider.json").exists()),
        "{folders:?}"
    );
}
