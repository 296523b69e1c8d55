//! The proxy path: read and check the client's request, resolve its model, translate it,
//! try the provider's accounts in turn, and answer in the client's format.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::collect::Collector;
use switchyard_hub::usage::{self, estimate_prompt_tokens, estimate_tokens};
use switchyard_hub::{ApiError, Decoder, ErrorKind, Format, Pipeline, TranslateCtx, Usage};
use switchyard_provider::Failure;

use crate::app::{Account, App, Provider};
use crate::call::Call;
use crate::debug_log::{folder_name, headers_json, request_json};
use crate::respond::{self, Body};
use crate::stream_body::{StreamBody, StreamSetup};
use crate::{client_auth, credentials, models};

/// Upper bound on a non-streaming upstream answer held in memory.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// What the route knows before the body is read.
pub struct Route {
    pub client: Format,
    pub kind: RouteKind,
    /// The model named in the path (Gemini routes), which the body does not carry.
    pub path_model: Option<String>,
    /// Streaming decided by the path (Gemini's `:streamGenerateContent`).
    pub path_stream: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
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
    route: Route,
) -> Response<Body> {
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
            call.succeed(status, usage, Some(ttfb));
            respond::bytes(status, "application/json", body)
        }
        Ok(Outcome::Failed(err, res)) => {
            call.fail(&err, Usage::default(), None);
            res
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
    route: Route,
) -> Result<Outcome, ApiError> {
    let (parts, body) = req.into_parts();
    call.row.client_key = client_auth::authenticate(&app.config.client_keys, &parts.headers, peer)?;

    let raw = read_body(body, &parts.headers, app.config.body_limit).await?;
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

    let target = models::resolve(app, &requested)?;
    if route.kind == RouteKind::CountTokens {
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
    let provider = app
        .providers
        .get(target.provider)
        .ok_or_else(|| ApiError::internal("resolved provider is missing"))?;
    call.row.provider = Some(provider.name.clone());
    call.row.upstream_model = Some(target.model.clone());

    let upstream_stream = stream || provider.executor.always_streams();
    let mut pipeline = Pipeline::new(
        &app.registry,
        route.client,
        provider.executor.format_for(&target.model),
        stream,
        upstream_stream,
    )?;
    let mut ctx = TranslateCtx::new(
        route.client,
        pipeline.provider,
        target.model.clone(),
        upstream_stream,
    );
    ctx.client_wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(t) = &mut call.trace {
        t.folder = folder_name(
            route.client.as_str(),
            pipeline.provider.as_str(),
            &target.model,
            &call.id,
        );
    }
    let prompt_estimate = estimate_prompt_tokens(&body);

    let hub = pipeline.request_to_hub(body, &mut ctx)?;
    if let Some(t) = &mut call.trace {
        t.json("2_req_hub.json", &hub);
    }
    // Kept only for providers that may ask for the request in another format.
    let hub_again = provider.executor.learns_format().then(|| hub.clone());
    let provider_body = pipeline.request_to_provider(hub, &mut ctx)?;

    let deadline = Instant::now() + app.config.timeouts.total;
    let (account, res) = match attempt(
        app,
        call,
        provider,
        &target.model,
        provider_body,
        upstream_stream,
        deadline,
    )
    .await
    {
        Ok(ok) => ok,
        Err(failure) => {
            let Some((again, body)) = credentials::retarget(
                app,
                provider,
                &pipeline,
                &mut ctx,
                hub_again,
                stream,
                upstream_stream,
            ) else {
                return Ok(failed(call, &pipeline, failure));
            };
            pipeline = again;
            let retried = attempt(
                app,
                call,
                provider,
                &target.model,
                body,
                upstream_stream,
                deadline,
            );
            match retried.await {
                Ok(ok) => ok,
                Err(failure) => return Ok(failed(call, &pipeline, failure)),
            }
        }
    };
    call.row.account = Some(account.name.clone());

    if stream {
        return Ok(Outcome::Stream(StreamSetup {
            upstream: res.into_body(),
            decoder: provider.executor.decoder(),
            pipeline,
            ctx,
            prompt_estimate,
            timeouts: app.config.timeouts,
            deadline,
        }));
    }

    let status = res.status().as_u16();
    let bytes = read_upstream(res.into_body(), app.config.timeouts.idle, deadline).await?;
    if upstream_stream {
        // The provider only streams; the client asked for one answer.
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
    if let Some(t) = &mut call.trace {
        t.raw("4_res_provider.json", bytes.to_vec());
    }
    let provider_json: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_gateway(format!("upstream sent a body that is not JSON: {e}"))
    })?;
    let reported = usage::from_response(pipeline.provider, &provider_json);
    let hub = pipeline.response_to_hub(provider_json, &ctx)?;
    let usage = reported.unwrap_or_else(|| Usage {
        prompt_tokens: prompt_estimate,
        completion_tokens: estimate_tokens(bytes.len()),
        estimated: true,
        ..Usage::default()
    });
    if let Some(t) = &mut call.trace {
        t.json("5_res_hub.json", &hub);
    }
    // Same format on both sides: the upstream's bytes go out untouched.
    let body = if pipeline.is_passthrough() {
        bytes
    } else {
        Bytes::from(pipeline.response_to_client(hub, &ctx)?.to_string())
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
/// length is declared, and as soon as they arrive if not.
async fn read_body(body: Incoming, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
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
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::invalid_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// Checks the fields every request of the route's format needs; returns (model, stream).
fn check_body(body: &Value, route: &Route) -> Result<(String, bool), ApiError> {
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
        (Format::Claude, RouteKind::Generate) => &["messages", "max_tokens"],
        (Format::Claude, RouteKind::CountTokens) => &["messages"],
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

/// Tries the provider's accounts in turn until one answers with success, or every one has
/// failed in a way another account could not fix.
async fn attempt<'a>(
    app: &App,
    call: &mut Call,
    provider: &'a Provider,
    model: &str,
    body: Value,
    stream: bool,
    deadline: Instant,
) -> Result<(&'a Account, Response<Incoming>), Failure> {
    let mut first: Option<Failure> = None;
    for account in provider.rotation() {
        let credential = match credentials::fresh(app, provider, account).await {
            Ok(c) => c,
            Err(failure) => {
                first.get_or_insert(failure);
                continue;
            }
        };
        let req = provider
            .executor
            .build(body.clone(), model, stream, &credential)
            .map_err(|e| Failure {
                error: e,
                upstream_body: None,
                fallback: false,
                retry_after: None,
            })?;
        if let Some(t) = &mut call.trace {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            t.json(
                "3_req_provider.json",
                &request_json(req.method.as_str(), &req.url, &req.headers, body),
            );
        }
        let sent = send(app, req, deadline).await;
        // A refused token may only be stale: renewed once, the request goes again.
        let sent = credentials::again_after_401(app, provider, account, &credential, sent, |c| {
            let req = provider.executor.build(body.clone(), model, stream, &c);
            async move {
                match req {
                    Ok(req) => send(app, req, deadline).await,
                    Err(e) => Err(Failure {
                        error: e,
                        upstream_body: None,
                        fallback: false,
                        retry_after: None,
                    }),
                }
            }
        })
        .await;
        let failure = match sent {
            Ok(res) if res.status().is_success() => return Ok((account, res)),
            Ok(res) => {
                let status = res.status().as_u16();
                let headers = res.headers().clone();
                if let Some(t) = &mut call.trace {
                    t.json("4_res_provider_headers.json", &headers_json(&headers));
                }
                let body = read_upstream(res.into_body(), app.config.timeouts.idle, deadline)
                    .await
                    .unwrap_or_default();
                provider.executor.classify(model, status, &headers, body)
            }
            Err(f) => f,
        };
        tracing::warn!(
            request_id = %call.id, provider = %provider.name, account = %account.name,
            status = failure.error.status, "upstream attempt failed: {}", failure.error.message
        );
        // A request-scoped error (a malformed request, say) is the answer: another account
        // would say the same. Of account-scoped ones, the first is worth showing, not
        // merely the last.
        if !failure.fallback {
            return Err(failure);
        }
        first.get_or_insert(failure);
    }
    Err(first.unwrap_or_else(|| Failure {
        error: ApiError::new(
            503,
            ErrorKind::Upstream,
            format!("provider `{}` has no usable account", provider.name),
        )
        .with_code("no_account"),
        upstream_body: None,
        fallback: false,
        retry_after: None,
    }))
}

async fn send(
    app: &App,
    req: switchyard_provider::UpstreamRequest,
    deadline: Instant,
) -> Result<Response<Incoming>, Failure> {
    let mut builder = Request::builder().method(req.method).uri(&req.url);
    if let Some(h) = builder.headers_mut() {
        *h = req.headers;
    }
    let req = builder
        .body(Full::new(req.body))
        .map_err(|e| Failure::connection(format!("invalid upstream request: {e}")))?;
    let wait = app
        .config
        .timeouts
        .first_byte
        .min(deadline.saturating_duration_since(Instant::now()));
    match tokio::time::timeout(wait, app.client.send(req)).await {
        Ok(Ok(res)) => Ok(res),
        Ok(Err(e)) => Err(Failure::connection(format!(
            "cannot reach the upstream: {}",
            error_chain(&e)
        ))),
        Err(_) => Err(Failure::timeout(format!(
            "upstream sent no answer within {} ms",
            wait.as_millis()
        ))),
    }
}

/// Reads a whole upstream body with the idle and total timeouts.
async fn read_upstream(
    body: Incoming,
    idle: Duration,
    deadline: Instant,
) -> Result<Bytes, ApiError> {
    let mut body = Limited::new(body, MAX_UPSTREAM_BODY);
    let mut buf = Vec::new();
    loop {
        let wait = idle.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => {
                return Err(ApiError::new(
                    504,
                    ErrorKind::Timeout,
                    "upstream stopped sending its answer",
                ));
            }
            Ok(None) => return Ok(buf.into()),
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_gateway(format!(
                    "upstream answer broke off: {e}"
                )));
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// The response for a request every account failed: the upstream's own status and body
/// when the client speaks the provider's format, else the error in the client's format.
fn failed(call: &mut Call, pipeline: &Pipeline, failure: Failure) -> Outcome {
    if let (Some(t), Some(body)) = (&mut call.trace, &failure.upstream_body) {
        t.raw("4_res_provider.json", body.to_vec());
    }
    let mut res = match &failure.upstream_body {
        Some(body)
            if pipeline.is_passthrough() && serde_json::from_slice::<Value>(body).is_ok() =>
        {
            respond::bytes(failure.error.status, "application/json", body.clone())
        }
        _ => respond::error(&failure.error, pipeline.client),
    };
    if let Some(after) = failure.retry_after
        && let Ok(v) = http::HeaderValue::from_str(&after.as_secs().to_string())
    {
        res.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    Outcome::Failed(failure.error, res)
}

/// An error and its causes on one line: hyper's top-level errors say little on their own.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
