//! The Responses API over a WebSocket, as Codex speaks it when its provider has
//! `supports_websockets`: `GET /v1/responses` with an upgrade, then one
//! `{"type": "response.create", ...}` text message per turn, answered with the events the
//! SSE stream carries, one JSON text message each. Answering the upgrade with 405 cost Codex
//! retries and seconds before it fell back to HTTP.
//!
//! Each `response.create` becomes the same request a `POST /v1/responses` is (client key,
//! limits, routing, failover, usage row, debug log), with the upgrade's headers and the
//! message as its body; its SSE answer is sent back event by event. Messages on one socket
//! are served in order. An error is one `{"type": "error", "status", "error"}` message, the
//! shape Codex reads, and the socket stays open for the next turn.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use switchyard_hub::sse::SseParser;
use switchyard_hub::{ApiError, Format};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::http::respond::{self, Body};
use crate::request::{self, ClientBody, Endpoint};
use crate::state::app::App;
use crate::state::responses::Pending;

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Whether the request asks to become a WebSocket.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has_token(UPGRADE, "websocket") && has_token(CONNECTION, "upgrade")
}

/// Accepts the upgrade (after the client key is checked) and serves the socket on its own
/// task; answers with the error, in the Responses shape, when it cannot.
pub fn upgrade(
    app: Arc<App>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Response<Body> {
    if let Err(e) = app.client_keys.authenticate(req.headers(), peer) {
        return respond::error(&e, Format::Responses);
    }
    let headers = req.headers();
    if headers
        .get("sec-websocket-version")
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut res = respond::error(
            &ApiError::invalid_request("only WebSocket version 13 is supported")
                .with_code("unsupported_websocket_version"),
            Format::Responses,
        );
        res.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("13"));
        return res;
    }
    let Some(key) = headers.get("sec-websocket-key") else {
        return respond::error(
            &ApiError::invalid_request("the WebSocket upgrade has no Sec-WebSocket-Key"),
            Format::Responses,
        );
    };
    let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
        return respond::error(
            &ApiError::invalid_request("the Sec-WebSocket-Key is not usable"),
            Format::Responses,
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (mut parts, _) = req.into_parts();
    parts.headers = turn_headers(&parts.headers);
    let message_limit = app.snapshot().config.body_limit;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let mut config = WebSocketConfig::default();
                config.max_message_size = Some(message_limit);
                config.max_frame_size = Some(message_limit);
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                serve(app, socket, parts, peer, endpoint).await;
            }
            Err(e) => tracing::debug!("websocket upgrade did not complete: {e}"),
        }
    });
    // No `Sec-WebSocket-Extensions` in the answer: permessage-deflate, which Codex offers,
    // is declined, and the client then sends plain frames.
    let mut res = Response::new(respond::full(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert("sec-websocket-accept", accept);
    res
}

/// The upgrade's headers as each turn's request carries them: the client key, Codex's
/// session and turn headers stay; what belonged to the handshake goes.
fn turn_headers(upgrade: &HeaderMap) -> HeaderMap {
    let mut headers = upgrade.clone();
    for name in [CONNECTION, UPGRADE, CONTENT_LENGTH] {
        headers.remove(name);
    }
    let handshake: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("sec-websocket-"))
        .cloned()
        .collect();
    for name in handshake {
        headers.remove(name);
    }
    // `openai-beta: responses_websockets=…` is about this socket; an upstream asked over
    // HTTP must not see it.
    if headers
        .get("openai-beta")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("responses_websockets"))
    {
        headers.remove("openai-beta");
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// Serves the socket's messages one at a time until the client closes it.
async fn serve(
    app: Arc<App>,
    mut socket: Socket,
    parts: http::request::Parts,
    peer: SocketAddr,
    endpoint: Endpoint,
) {
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                let e = ApiError::invalid_request(
                    "binary messages are not supported: send each request as JSON text",
                );
                if send_error(&mut socket, &e).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            // Pings are answered by the protocol layer.
            Ok(_) => continue,
        };
        let sent = match parse(text.as_str()) {
            Ok(Turn::Create(body)) => turn(&app, &mut socket, &parts, peer, &endpoint, body).await,
            Ok(Turn::Warmup(body)) => warmup(&app, &mut socket, &body).await,
            Ok(Turn::Ignored) => Ok(()),
            Err(e) => send_error(&mut socket, &e).await,
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = socket.close(None).await;
}

/// What one client message asks for.
enum Turn {
    /// A response to generate: the body a `POST /v1/responses` would carry.
    Create(Value),
    /// `generate: false`: Codex warming the connection up with its request before the
    /// user's turn; nothing is generated, but the response's id can be continued.
    Warmup(Value),
    /// A message that needs no answer (`response.processed`, Codex's acknowledgement).
    Ignored,
}

fn parse(text: &str) -> Result<Turn, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid_request(format!("the message is not valid JSON: {e}")))?;
    let Value::Object(mut body) = value else {
        return Err(ApiError::invalid_request(
            "the message must be a JSON object",
        ));
    };
    match body.remove("type") {
        Some(Value::String(t)) if t == "response.create" => {}
        Some(Value::String(t)) if t == "response.processed" => return Ok(Turn::Ignored),
        Some(Value::String(t)) => {
            return Err(ApiError::invalid_request(format!(
                "unknown message type `{t}`: send `response.create`"
            ))
            .with_code("unknown_message_type"));
        }
        _ => {
            return Err(ApiError::invalid_request(
                "the message has no `type`: send `{\"type\": \"response.create\", ...}`",
            ));
        }
    }
    // Transport fields of the HTTP body: over a socket the answer is always a stream.
    body.remove("background");
    body.insert("stream".into(), Value::Bool(true));
    let generate = body.remove("generate");
    Ok(match generate {
        Some(Value::Bool(false)) => Turn::Warmup(Value::Object(body)),
        _ => Turn::Create(Value::Object(body)),
    })
}

/// Runs one `response.create` as a `POST /v1/responses` and sends its answer back.
async fn turn(
    app: &Arc<App>,
    socket: &mut Socket,
    parts: &http::request::Parts,
    peer: SocketAddr,
    endpoint: &Endpoint,
    body: Value,
) -> Result<(), ()> {
    let mut turn_parts = http::Request::new(()).into_parts().0;
    turn_parts.method = parts.method.clone();
    turn_parts.uri = parts.uri.clone();
    turn_parts.version = parts.version;
    turn_parts.headers = parts.headers.clone();
    let raw = Bytes::from(body.to_string());
    let res = request::handle_parts(
        app.clone(),
        turn_parts,
        ClientBody::Read(raw),
        peer,
        endpoint.clone(),
    )
    .await;
    let request_id = res
        .headers()
        .get(respond::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = res.status().as_u16();
    let is_stream = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    tracing::info!(request_id = %request_id, status, "responses turn over websocket");
    let mut body = res.into_body();
    if !is_stream {
        // An error answered before any event: its body is the Responses error shape.
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            json!({"error": {"message": String::from_utf8_lossy(&bytes), "type": "server_error"}})
        });
        let error = parsed.get("error").cloned().unwrap_or(parsed);
        return send(
            socket,
            json!({"type": "error", "status": status, "error": error}),
        )
        .await;
    }
    let mut parser = SseParser::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            // The answer broke off after its head: say so on this socket, which stays open.
            Err(e) => {
                let error = json!({"type": "server_error", "message": format!("the answer broke off: {e}")});
                return send(
                    socket,
                    json!({"type": "error", "status": 502, "error": error}),
                )
                .await;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        parser.push(&data);
        while let Some(event) = parser.next_event() {
            forward(socket, event).await?;
        }
    }
    if let Some(event) = parser.finish() {
        forward(socket, event).await?;
    }
    Ok(())
}

/// Sends one SSE event's data as a text message; keep-alive comments and `[DONE]` have no
/// WebSocket counterpart.
async fn forward(
    socket: &mut Socket,
    event: Result<switchyard_hub::sse::SseEvent, switchyard_hub::sse::SseError>,
) -> Result<(), ()> {
    let Ok(event) = event else {
        return Ok(());
    };
    if event.is_done() || event.data.trim_ascii().is_empty() {
        return Ok(());
    }
    socket.send(Message::text(event.data)).await.map_err(|_| ())
}

/// Answers a warm-up here: a completed response with no output, whose id (kept with the
/// request's input) the next turn may continue from.
async fn warmup(app: &App, socket: &mut Socket, body: &Value) -> Result<(), ()> {
    let id = format!("resp_{}", uuid::Uuid::new_v4().simple());
    if let Some(pending) = Pending::of(body) {
        app.responses.remember(&id, "", pending, Vec::new());
    }
    let response = |status: &str| {
        json!({
            "id": id,
            "object": "response",
            "created_at": switchyard_hub::clock::now_secs(),
            "status": status,
            "model": body.get("model").cloned().unwrap_or(Value::Null),
            "output": [],
            "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0}},
        })
    };
    send(
        socket,
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress")}),
    )
    .await?;
    send(
        socket,
        json!({"type": "response.completed", "sequence_number": 1, "response": response("completed")}),
    )
    .await
}

async fn send_error(socket: &mut Socket, e: &ApiError) -> Result<(), ()> {
    let body = e.body(Format::Responses);
    let error = body.get("error").cloned().unwrap_or(body);
    send(
        socket,
        json!({"type": "error", "status": e.status, "error": error}),
    )
    .await
}

async fn send(socket: &mut Socket, value: Value) -> Result<(), ()> {
    socket
        .send(Message::text(value.to_string()))
        .await
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_message_becomes_a_streamed_post_body() {
        let Turn::Create(body) =
            parse(r#"{"type":"response.create","model":"m","input":"hi","stream":false}"#).unwrap()
        else {
            panic!("not a create");
        };
        assert_eq!(body, json!({"model": "m", "input": "hi", "stream": true}));
        assert!(matches!(
            parse(r#"{"type":"response.create","model":"m","input":[],"generate":false}"#),
            Ok(Turn::Warmup(_))
        ));
        assert!(matches!(
            parse(r#"{"type":"response.processed","response_id":"r"}"#),
            Ok(Turn::Ignored)
        ));
        assert_eq!(parse(r#"{"type":"nope"}"#).err().unwrap().status, 400);
        assert_eq!(parse("[1]").err().unwrap().status, 400);
        assert_eq!(parse("{").err().unwrap().status, 400);
    }

    #[test]
    fn handshake_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert("sec-websocket-key", HeaderValue::from_static("k"));
        h.insert(
            "openai-beta",
            HeaderValue::from_static("responses_websockets=2026-02-06"),
        );
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        assert!(wants_upgrade(&h));
        let t = turn_headers(&h);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t["authorization"], "Bearer x");
        assert_eq!(t[CONTENT_TYPE], "application/json");
    }
}
