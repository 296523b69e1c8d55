//! Taking a request in: who is calling and whether their limits allow it, the body read
//! within its size and time limits, parsed and checked for the fields its format needs.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::{ApiError, ErrorKind, Format, Operation, TranslateCtx};

use crate::request::record::{CLIENT_CLOSED, Call};
use crate::request::{ClientBody, Endpoint, EndpointKind};
use crate::routing::budgets::Scope;
use crate::state::app::{App, Snapshot};
use crate::state::debug_log::request_json;

/// A request's body, read, parsed and checked.
pub struct Intake {
    pub body: Value,
    /// The body's size in bytes, from which its prompt tokens are guessed when the
    /// provider reports none.
    pub size: usize,
    /// The model the client asked for (from the body, or from the path on Gemini's routes).
    pub model: String,
    pub stream: bool,
}

/// Authenticates the caller and admits it under its key's limits.
pub async fn admit(
    app: &App,
    live: &Snapshot,
    call: &mut Call,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    let key = app.client_keys.authenticate(headers, peer)?;
    call.authenticated(key.as_ref().map(|k| k.id.clone()));
    if let Some(key) = key {
        let now = switchyard_hub::clock::now();
        let offset = live.config.routing.day_offset_secs;
        app.budgets
            .check(Scope::Key, &key.id, &key.budget, now, offset)?;
        match crate::cluster::active() {
            Some(cluster) => {
                cluster
                    .admit(app, &key.id, &key.limits, now, offset)
                    .await?
            }
            None => app.limits.admit(&key.id, &key.limits, now, offset)?,
        }
    }
    Ok(())
}

/// Reads, parses and checks the body (see [`Intake`]).
pub async fn read(
    app: &App,
    live: &Snapshot,
    call: &mut Call,
    parts: &Parts,
    body: ClientBody,
    endpoint: &Endpoint,
) -> Result<Intake, ApiError> {
    let limit = live.config.body_limit;
    let raw = match body {
        ClientBody::Incoming(body) => {
            read_body(
                body,
                &parts.headers,
                limit,
                live.config.timeouts.client_body,
            )
            .await?
        }
        ClientBody::Read(raw) if raw.len() > limit => {
            return Err(ApiError::new(
                413,
                ErrorKind::PayloadTooLarge,
                format!("request body is larger than the {limit}-byte limit"),
            ));
        }
        ClientBody::Read(raw) => raw,
    };
    let mut body: Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::invalid_request(format!("request body is not valid JSON: {e}")))?;
    call.trace_json_with("1_req_client.json", || {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        request_json(parts.method.as_str(), target, &parts.headers, body.clone())
    });
    if endpoint.client == Format::OpenAi
        && endpoint.op == Operation::Chat
        && is_responses_body(&body)
    {
        body = responses_to_chat(app, body)?;
    }
    if endpoint.client == Format::Gemini && endpoint.kind == EndpointKind::CountTokens {
        body = unwrap_count(body);
    }
    let (model, stream) = check_body(&body, endpoint)?;
    Ok(Intake {
        body,
        size: raw.len(),
        model,
        stream,
    })
}

/// A Gemini count body names its contents directly or wraps a whole generate request in
/// `generateContentRequest`; the generate request is what gets counted (and translated).
fn unwrap_count(mut body: Value) -> Value {
    match body.get_mut("generateContentRequest").map(Value::take) {
        Some(inner @ Value::Object(_)) => inner,
        _ => body,
    }
}

/// Cursor sends Responses-style `input[]` to the chat completions endpoint and reads the
/// answer as chat completions: only the request needs translating.
fn responses_to_chat(app: &App, body: Value) -> Result<Value, ApiError> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut ctx = TranslateCtx::new(Format::Responses, Format::OpenAi, model, false);
    Ok(app
        .registry
        .request(Format::Responses, Format::OpenAi)?
        .apply_json(body, &mut ctx)?)
}

/// The client's conversation id, from the configured header or the ones clients send on
/// their own (Claude Code, Codex).
pub fn session_id(headers: &HeaderMap, configured: &str) -> Option<String> {
    [
        configured,
        "x-claude-code-session-id",
        "session-id",
        "session_id",
    ]
    .iter()
    .find_map(|h| headers.get(*h))
    .and_then(|v| v.to_str().ok())
    .filter(|v| !v.is_empty() && v.len() <= 200)
    .map(str::to_owned)
}

/// Reads the client's body, refusing more than `limit` bytes before reading them if the
/// length is declared, and as soon as they arrive if not. A body that pauses longer than
/// `pause` is given up (408); a client that goes away mid-body is recorded as such (499).
pub(super) async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limit: usize,
    pause: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            ErrorKind::PayloadTooLarge,
            format!("request body is larger than the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Limited::new(body, limit);
    // Most bodies come in one frame, which is then handed on without a copy.
    let mut first: Option<Bytes> = None;
    let mut more: Vec<u8> = Vec::new();
    loop {
        // A frame already at hand is taken without arming the timer.
        let frame = match tokio::time::timeout(pause, body.frame()).await {
            Ok(frame) => frame,
            Err(_) => {
                return Err(ApiError::new(
                    408,
                    ErrorKind::Timeout,
                    format!(
                        "the request body stopped arriving: nothing for {} ms",
                        pause.as_millis()
                    ),
                ));
            }
        };
        match frame {
            None => break,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                match &first {
                    None => first = Some(data),
                    Some(f) => {
                        if more.is_empty() {
                            more.extend_from_slice(f);
                        }
                        more.extend_from_slice(&data);
                    }
                }
            }
            Some(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return Err(too_large());
            }
            Some(Err(e)) if client_went_away(e.as_ref()) => {
                return Err(ApiError::new(
                    CLIENT_CLOSED,
                    ErrorKind::InvalidRequest,
                    "the client closed the connection before sending its whole body",
                ));
            }
            Some(Err(e)) => {
                return Err(ApiError::invalid_request(format!(
                    "could not read the request body: {e}"
                )));
            }
        }
    }
    Ok(if more.is_empty() {
        first.unwrap_or_default()
    } else {
        more.into()
    })
}

/// Whether reading a body failed because the client hung up (end of file or reset before
/// the body was complete), rather than because what it sent was malformed.
pub(super) fn client_went_away(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        cause = c.source();
    }
    false
}

/// Checks the fields every request of the endpoint's format needs; returns (model, stream).
fn check_body(body: &Value, endpoint: &Endpoint) -> Result<(String, bool), ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid_request("request body must be a JSON object"))?;
    let model = match &endpoint.path_model {
        Some(m) => m.clone(),
        None => match obj.get("model") {
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(ApiError::invalid_request("`model` must be a string")),
            None => return Err(ApiError::invalid_request("missing required field `model`")),
        },
    };
    let stream = match (endpoint.path_stream, obj.get("stream")) {
        (Some(s), _) => s,
        (None, None | Some(Value::Null)) => false,
        (None, Some(Value::Bool(b))) => *b,
        (None, Some(_)) => return Err(ApiError::invalid_request("`stream` must be a boolean")),
    };
    if stream && !endpoint.op.via_chat() {
        return Err(ApiError::invalid_request(format!(
            "`stream` is not supported for {}",
            endpoint.op
        )));
    }
    // The field that tells each format's bodies apart; a body for another endpoint fails here.
    let required: &[&str] = match (endpoint.client, endpoint.kind, endpoint.op) {
        (Format::OpenAi, _, Operation::Embeddings) => &["input"],
        (Format::OpenAi | Format::Completions, _, Operation::Images | Operation::Completions) => {
            &["prompt"]
        }
        (Format::Gemini, _, Operation::Embeddings) if !obj.contains_key("requests") => &["content"],
        (Format::Gemini, _, Operation::Embeddings) => &["requests"],
        (Format::Gemini, _, Operation::Images) => &["instances"],
        (Format::OpenAi, _, _) => &["messages"],
        (Format::Claude, EndpointKind::Generate, _) => &["messages", "max_tokens"],
        (Format::Claude, EndpointKind::CountTokens, _) => &["messages"],
        (Format::Responses, _, _) => &["input"],
        (Format::Gemini, _, _) => &["contents"],
        _ => &[],
    };
    for field in required {
        let Some(v) = obj.get(*field) else {
            return Err(ApiError::invalid_request(format!(
                "missing required field `{field}` for a {} request",
                endpoint.client
            )));
        };
        // A turn that continues a stored response may bring no new items (Codex over a
        // WebSocket, after a warm-up).
        let continues = obj
            .get("previous_response_id")
            .is_some_and(Value::is_string);
        let ok = match *field {
            "max_tokens" => v.as_u64().is_some_and(|n| n > 0),
            "input" if continues && v.as_array().is_some() => true,
            "input" | "prompt" if endpoint.op != Operation::Images => {
                v.as_str()
                    .is_some_and(|t| !t.is_empty() || *field == "prompt")
                    || v.as_array().is_some_and(|a| !a.is_empty())
            }
            "prompt" => v.as_str().is_some_and(|t| !t.is_empty()),
            "content" => v.is_object(),
            _ => v.as_array().is_some_and(|a| !a.is_empty()),
        };
        if !ok {
            let want = match *field {
                "max_tokens" => "a positive integer",
                "input" | "prompt" if endpoint.op != Operation::Images => {
                    "a string or a non-empty array"
                }
                "prompt" => "a non-empty string",
                "content" => "an object",
                _ => "a non-empty array",
            };
            return Err(ApiError::invalid_request(format!(
                "`{field}` must be {want}"
            )));
        }
    }
    if endpoint.client == Format::OpenAi
        && let Some(m) = obj.get("messages").and_then(Value::as_array)
    {
        for (i, msg) in m.iter().enumerate() {
            if !msg.get("role").is_some_and(Value::is_string) {
                return Err(ApiError::invalid_request(format!(
                    "messages[{i}].role must be a string"
                )));
            }
        }
    }
    Ok((model, stream))
}

/// A Responses-API body (`input`, no `messages`).
fn is_responses_body(body: &Value) -> bool {
    body.get("input").is_some() && body.get("messages").is_none()
}
