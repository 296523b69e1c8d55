//! The life of a proxied request: read and check the client's request, resolve its model
//! (`resolve`), have it delivered (`deliver`), and answer in the client's format; `record`
//! keeps its usage row and debug trace.

pub mod deliver;
pub mod record;
pub mod resolve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::collect::Collector;
use switchyard_hub::usage::{self, estimate_prompt_tokens, estimate_tokens};
use switchyard_hub::{ApiError, Decoder, ErrorKind, Format, Pipeline, TranslateCtx, Usage};
use switchyard_provider::{ClientHeaders, Failure};

use crate::http::client_auth;
use crate::http::respond::{self, Body};
use crate::http::stream_body::{StreamBody, StreamSetup};
use crate::request::deliver::{Answer, Delivered, Parsed, Undelivered, deliver, read_upstream};
use crate::request::record::{CLIENT_CLOSED, Call};
use crate::state::app::App;
use crate::state::debug_log::request_json;

/// What the route knows before the body is read.
pub struct Endpoint {
    pub client: Format,
    pub kind: EndpointKind,
    /// The model named in the path (Gemini routes), which the body does not carry.
    pub path_model: Option<String>,
    /// Streaming decided by the path (Gemini's `:streamGenerateContent`).
    pub path_stream: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    /// Generate an answer upstream.
    Generate,
    /// Count a request's tokens, answered here.
    CountTokens,
}

/// How the request ends, decided by [`run`]; [`handle`] turns it into a response and a row.
enum Outcome {
    Stream(StreamSetup),
    Json {
        status: u16,
        body: Bytes,
        usage: Usage,
    },
    /// An error, with the response to send (an upstream's own body, or ours rendered).
    Failed(ApiError, Response<Body>),
}

pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    route: Endpoint,
) -> Response<Body> {
    // Backpressure: while the usage writer is behind (a slow disk), a request that will
    // write a row waits for room in its queue; on a kept-alive connection that is after the
    // previous answer was delivered. Health checks and metrics do not wait.
    app.usage.room().await;
    let mut call = Call::new(app.clone(), route.client);
    let client = route.client;
    let id = call.id.clone();
    let res = match run(&app, &mut call, req, peer, route).await {
        Ok(Outcome::Stream(setup)) => respond::sse(StreamBody::new(setup, call).boxed_unsync()),
        Ok(Outcome::Json {
            status,
            body,
            usage,
        }) => {
            let ttfb = call.elapsed_ms();
            let overhead = call.overhead();
            call.succeed(status, usage, Some(ttfb));
            let res = respond::bytes(status, "application/json", body);
            match overhead.filter(|_| app.config.overhead_header) {
                Some(o) => respond::with_header(
                    res,
                    "x-switchyard-overhead-us",
                    &o.as_micros().to_string(),
                ),
                None => res,
            }
        }
        Ok(Outcome::Failed(err, res)) => {
            call.fail(&err, Usage::default(), None);
            res
        }
        // The client left before its request was whole: recorded as cancelled, and the
        // answer goes nowhere.
        Err(err) if err.status == CLIENT_CLOSED => {
            drop(call);
            respond::error(&ApiError::invalid_request(err.message), client)
        }
        Err(err) => {
            call.fail(&err, Usage::default(), None);
            respond::error(&err, client)
        }
    };
    respond::with_request_id(res, &id)
}

async fn run(
    app: &App,
    call: &mut Call,
    req: Request<Incoming>,
    peer: SocketAddr,
    route: Endpoint,
) -> Result<Outcome, ApiError> {
    let (parts, body) = req.into_parts();
    call.row.client_key = client_auth::authenticate(&app.config.client_keys, &parts.headers, peer)?;
    if let Some(key) = call
        .row
        .client_key
        .as_ref()
        .and_then(|id| app.config.client_keys.iter().find(|k| &k.id == id))
    {
        app.limits
            .admit(key, SystemTime::now(), app.config.routing.day_offset_secs)?;
    }

    let raw = read_body(
        body,
        &parts.headers,
        app.config.body_limit,
        app.config.timeouts.client_body,
    )
    .await?;
    let mut body: Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::invalid_request(format!("request body is not valid JSON: {e}")))?;
    if let Some(t) = &mut call.trace {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let req = request_json(parts.method.as_str(), target, &parts.headers, body.clone());
        t.json("1_req_client.json", &req);
    }

    if route.client == Format::OpenAi && is_responses_body(&body) {
        // Cursor sends Responses-style `input[]` to the chat completions endpoint and reads
        // the answer as chat completions: only the request needs translating.
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut ctx = TranslateCtx::new(Format::Responses, Format::OpenAi, model, false);
        body = app.registry.request(Format::Responses, Format::OpenAi)?(body, &mut ctx)?;
    }
    let (requested, stream) = check_body(&body, &route)?;
    call.row.requested_model = requested.clone();
    call.row.stream = stream;

    let resolved = resolve::resolve(app, &requested)?;
    call.row.combo = resolved.combo.clone();
    if route.kind == EndpointKind::CountTokens {
        let tokens = estimate_prompt_tokens(&body);
        let usage = Usage {
            prompt_tokens: tokens,
            estimated: true,
            ..Usage::default()
        };
        let answer = match route.client {
            Format::Gemini => serde_json::json!({"totalTokens": tokens}),
            _ => serde_json::json!({"input_tokens": tokens}),
        };
        return Ok(Outcome::Json {
            status: 200,
            body: Bytes::from(answer.to_string()),
            usage,
        });
    }
    let client_wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Used only when the provider reports no usage; the body's size is a fair guess and
    // costs nothing, where walking a large body would cost every request.
    let prompt_estimate = estimate_tokens(raw.len());
    let session = session_id(&parts.headers, &app.config.routing.session_header);
    let client_headers = ClientHeaders::from_request(route.client, &parts.headers);
    let deadline = Instant::now() + app.config.timeouts.total;

    let delivered = match deliver(
        app,
        call,
        &route,
        &resolved.targets,
        body,
        stream,
        session.as_deref(),
        &client_headers,
        deadline,
    )
    .await
    {
        Ok(d) => d,
        Err(Undelivered::Request(e)) => return Err(e),
        Err(Undelivered::Failed(failure, pipeline)) => {
            return Ok(failed(call, &pipeline, *failure));
        }
    };
    let Delivered {
        pipeline,
        mut ctx,
        provider,
        slot,
        answer,
    } = delivered;
    ctx.client_wants_usage = client_wants_usage;

    let (status, bytes, parsed) = match answer {
        Answer::Stream { res, first } if stream => {
            return Ok(Outcome::Stream(StreamSetup {
                upstream: res.into_body(),
                first: Some(first),
                decoder: provider.executor.decoder(),
                pipeline,
                ctx,
                prompt_estimate,
                idle: app.config.timeouts.idle,
                deadline,
                slot,
            }));
        }
        Answer::Stream { res, first } => {
            // The provider only streams; the client asked for one answer.
            let status = res.status().as_u16();
            let rest = read_upstream(res.into_body(), app.config.timeouts.idle, deadline)
                .await
                .map_err(|f| f.error)?;
            call.upstream_span.1 = Some(Instant::now());
            drop(slot);
            let bytes = Bytes::from([first, rest].concat());
            if let Some(t) = &mut call.trace {
                t.raw("4_res_provider.sse", bytes.to_vec());
            }
            let hub = collect_stream(&pipeline, &ctx, provider.executor.decoder(), &bytes)?;
            let usage = hub
                .get("usage")
                .and_then(Usage::from_openai)
                .unwrap_or_else(|| Usage {
                    prompt_tokens: prompt_estimate,
                    completion_tokens: estimate_tokens(hub.to_string().len()),
                    estimated: true,
                    ..Usage::default()
                });
            if let Some(t) = &mut call.trace {
                t.json("5_res_hub.json", &hub);
            }
            let body = Bytes::from(pipeline.response_to_client(hub, &ctx)?.to_string());
            if let Some(t) = &mut call.trace {
                t.raw("6_res_client.json", body.to_vec());
            }
            return Ok(Outcome::Json {
                status,
                body,
                usage,
            });
        }
        Answer::Whole {
            status,
            body,
            parsed,
        } => (status, body, parsed),
    };
    drop(slot);
    if let Some(t) = &mut call.trace {
        t.raw("4_res_provider.json", bytes.to_vec());
    }
    let estimate = |reported: Option<Usage>| {
        reported.unwrap_or_else(|| Usage {
            prompt_tokens: prompt_estimate,
            completion_tokens: estimate_tokens(bytes.len()),
            estimated: true,
            ..Usage::default()
        })
    };
    let (body, usage) = match parsed {
        // Same format on both sides: the upstream's bytes go out untouched, and only the
        // usage is read from them.
        Parsed::Usage(reported) => {
            let usage = estimate(reported);
            if let Some(t) = &mut call.trace {
                t.raw("5_res_hub.json", bytes.to_vec());
            }
            (bytes, usage)
        }
        Parsed::Json(provider_json) => {
            let usage = estimate(usage::from_response(pipeline.provider, &provider_json));
            let hub = pipeline.response_to_hub(provider_json, &ctx)?;
            if let Some(t) = &mut call.trace {
                t.json("5_res_hub.json", &hub);
            }
            (
                Bytes::from(pipeline.response_to_client(hub, &ctx)?.to_string()),
                usage,
            )
        }
    };
    if let Some(t) = &mut call.trace {
        t.raw("6_res_client.json", body.to_vec());
    }
    Ok(Outcome::Json {
        status,
        body,
        usage,
    })
}

/// The client's conversation id, from the configured header or the ones clients send on
/// their own (Claude Code, Codex).
fn session_id(headers: &HeaderMap, configured: &str) -> Option<String> {
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

/// Decodes a whole provider stream into hub chunks and collects them into one hub answer.
fn collect_stream(
    pipeline: &Pipeline,
    ctx: &TranslateCtx,
    mut decoder: Box<dyn Decoder>,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    let mut to_hub = pipeline.stream_to_hub(ctx);
    let mut events = Vec::new();
    decoder.push(bytes);
    while let Some(ev) = decoder.next_event() {
        events.push(ev?);
    }
    events.extend(decoder.finish()?);
    let mut hub = Vec::new();
    match to_hub.as_mut() {
        Some(stage) => {
            for ev in events {
                stage.push(ev, &mut hub)?;
            }
            stage.finish(&mut hub)?;
        }
        None => hub = events,
    }
    let mut collector = Collector::default();
    for chunk in &hub {
        collector.push(&chunk.data);
    }
    Ok(collector.finish())
}

/// Reads the client's body, refusing more than `limit` bytes before reading them if the
/// length is declared, and as soon as they arrive if not. A body that pauses longer than
/// `pause` is given up (408); a client that goes away mid-body is recorded as such (499).
async fn read_body(
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
fn client_went_away(e: &(dyn std::error::Error + 'static)) -> bool {
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

/// Checks the fields every request of the route's format needs; returns (model, stream).
fn check_body(body: &Value, route: &Endpoint) -> Result<(String, bool), ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid_request("request body must be a JSON object"))?;
    let model = match &route.path_model {
        Some(m) => m.clone(),
        None => match obj.get("model") {
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(ApiError::invalid_request("`model` must be a string")),
            None => return Err(ApiError::invalid_request("missing required field `model`")),
        },
    };
    let stream = match (route.path_stream, obj.get("stream")) {
        (Some(s), _) => s,
        (None, None | Some(Value::Null)) => false,
        (None, Some(Value::Bool(b))) => *b,
        (None, Some(_)) => return Err(ApiError::invalid_request("`stream` must be a boolean")),
    };
    // The field that tells each format's bodies apart; a body for another route fails here.
    let required: &[&str] = match (route.client, route.kind) {
        (Format::OpenAi, _) => &["messages"],
        (Format::Claude, EndpointKind::Generate) => &["messages", "max_tokens"],
        (Format::Claude, EndpointKind::CountTokens) => &["messages"],
        (Format::Responses, _) => &["input"],
        (Format::Gemini, _) => &["contents"],
        _ => &[],
    };
    for field in required {
        let Some(v) = obj.get(*field) else {
            return Err(ApiError::invalid_request(format!(
                "missing required field `{field}` for a {} request",
                route.client
            )));
        };
        let ok = match *field {
            "max_tokens" => v.as_u64().is_some_and(|n| n > 0),
            "input" => v.is_string() || v.as_array().is_some_and(|a| !a.is_empty()),
            _ => v.as_array().is_some_and(|a| !a.is_empty()),
        };
        if !ok {
            let want = match *field {
                "max_tokens" => "a positive integer",
                "input" => "a string or a non-empty array",
                _ => "a non-empty array",
            };
            return Err(ApiError::invalid_request(format!(
                "`{field}` must be {want}"
            )));
        }
    }
    if route.client == Format::OpenAi
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

/// The response for a request every account failed: the upstream's own status and body
/// when the client speaks the provider's format, else the error in the client's format.
fn failed(call: &mut Call, pipeline: &Pipeline, failure: Failure) -> Outcome {
    if let (Some(t), Some(body)) = (&mut call.trace, &failure.upstream_body) {
        t.raw("4_res_provider.json", body.to_vec());
    }
    let mut error = failure.error;
    if let Some(after) = failure.retry_after {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        error.retry_after = Some(secs.max(1));
    }
    let res = match &failure.upstream_body {
        Some(body)
            if pipeline.is_passthrough() && serde_json::from_slice::<Value>(body).is_ok() =>
        {
            respond::with_retry_after(
                respond::bytes(error.status, "application/json", body.clone()),
                error.retry_after,
            )
        }
        _ => respond::error(&error, pipeline.client),
    };
    Outcome::Failed(error, res)
}
