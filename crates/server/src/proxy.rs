//! The proxy path: read and check the client's request, resolve its model, translate it,
//! try the provider's accounts in turn, and answer in the client's format.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::collect::Collector;
use switchyard_hub::usage::{self, estimate_prompt_tokens, estimate_tokens};
use switchyard_hub::{
    ApiError, Decoder, ErrorKind, Format, Pipeline, TranslateCtx, TranslateError, Usage,
};
use switchyard_provider::Failure;
use switchyard_provider::failure::FailureClass;

use crate::app::{Account, App, InFlight, Provider};
use crate::call::Call;
use crate::debug_log::{folder_name, headers_json, request_json, scrub};
use crate::models::Target;
use crate::respond::{self, Body};
use crate::routing::day_number;
use crate::routing::select::{self, Want};
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
    if let Some(key) = call
        .row
        .client_key
        .as_ref()
        .and_then(|id| app.config.client_keys.iter().find(|k| &k.id == id))
    {
        app.limits
            .admit(key, SystemTime::now(), app.config.routing.day_offset_secs)?;
    }

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

    let resolved = models::resolve(app, &requested)?;
    call.row.combo = resolved.combo.clone();
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
    let client_wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Used only when the provider reports no usage; the body's size is a fair guess and
    // costs nothing, where walking a large body would cost every request.
    let prompt_estimate = estimate_tokens(raw.len());
    let session = session_id(&parts.headers, &app.config.routing.session_header);
    let deadline = Instant::now() + app.config.timeouts.total;

    let delivered = match deliver(
        app,
        call,
        &route,
        &resolved.targets,
        body,
        stream,
        session.as_deref(),
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
        res,
        first,
    } = delivered;
    ctx.client_wants_usage = client_wants_usage;
    let upstream_stream = ctx.stream;

    if stream {
        return Ok(Outcome::Stream(StreamSetup {
            upstream: res.into_body(),
            first,
            decoder: provider.executor.decoder(),
            pipeline,
            ctx,
            prompt_estimate,
            timeouts: app.config.timeouts,
            deadline,
            slot,
        }));
    }

    let status = res.status().as_u16();
    let rest = read_upstream(res.into_body(), app.config.timeouts.idle, deadline).await?;
    call.upstream_span.1 = Some(Instant::now());
    let bytes = match first {
        Some(first) => [first, rest].concat().into(),
        None => rest,
    };
    drop(slot);
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
    let not_json = |e: serde_json::Error| {
        ApiError::bad_gateway(format!("upstream sent a body that is not JSON: {e}"))
    };
    let estimate = |reported: Option<Usage>| {
        reported.unwrap_or_else(|| Usage {
            prompt_tokens: prompt_estimate,
            completion_tokens: estimate_tokens(bytes.len()),
            estimated: true,
            ..Usage::default()
        })
    };
    let (body, usage) = if pipeline.is_passthrough() {
        // Same format on both sides: the upstream's bytes go out untouched, and only the
        // usage is read from them.
        let usage =
            estimate(usage::from_response_bytes(pipeline.provider, &bytes).map_err(not_json)?);
        if let Some(t) = &mut call.trace {
            t.raw("5_res_hub.json", bytes.to_vec());
        }
        (bytes, usage)
    } else {
        let provider_json: Value = serde_json::from_slice(&bytes).map_err(not_json)?;
        let usage = estimate(usage::from_response(pipeline.provider, &provider_json));
        let hub = pipeline.response_to_hub(provider_json, &ctx)?;
        if let Some(t) = &mut call.trace {
            t.json("5_res_hub.json", &hub);
        }
        (
            Bytes::from(pipeline.response_to_client(hub, &ctx)?.to_string()),
            usage,
        )
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

/// An upstream that answered with success, and what is needed to read its answer.
struct Delivered<'a> {
    pipeline: Pipeline,
    ctx: TranslateCtx,
    provider: &'a Provider,
    slot: InFlight,
    res: Response<Incoming>,
    /// For streams: the first bytes, read before committing to this upstream so a stream
    /// that breaks before its first byte can still fail over.
    first: Option<Bytes>,
}

enum Undelivered {
    /// The request itself is wrong (bad translation input, say): nothing was tried.
    Request(ApiError),
    /// Every target and account failed; the first meaningful failure.
    Failed(Box<Failure>, Pipeline),
}

impl From<ApiError> for Undelivered {
    fn from(e: ApiError) -> Self {
        Undelivered::Request(e)
    }
}

impl From<switchyard_hub::TranslateError> for Undelivered {
    fn from(e: switchyard_hub::TranslateError) -> Self {
        Undelivered::Request(e.into())
    }
}

/// Tries each target in order and, within it, each account the strategy offers, until one
/// answers with success. What each failure costs its account is recorded on the way.
#[allow(clippy::too_many_arguments)]
async fn deliver<'a>(
    app: &'a App,
    call: &mut Call,
    route: &Route,
    targets: &[Target],
    mut body: Value,
    stream: bool,
    session: Option<&str>,
    deadline: Instant,
) -> Result<Delivered<'a>, Undelivered> {
    let mut first_failure: Option<(Failure, Pipeline)> = None;
    for (index, target) in targets.iter().enumerate() {
        let provider = app
            .providers
            .get(target.provider)
            .ok_or_else(|| ApiError::internal("resolved provider is missing"))?;
        call.row.target_index = index as u32;
        call.row.provider = Some(provider.name.clone());
        call.row.upstream_model = Some(target.model.clone());
        // A provider may learn from an answer that this model lives on another endpoint
        // (Copilot); the target is then tried once more in the new format.
        let mut format = provider.executor.format_for(&target.model);
        for _ in 0..2 {
            // The client's body is translated anew for each target; only the last use of
            // it may take it instead of a copy.
            let last = index + 1 == targets.len() && !provider.executor.learns_format();
            let this = if last {
                std::mem::take(&mut body)
            } else {
                body.clone()
            };
            let tried = try_target(
                app, call, route, provider, target, format, this, stream, session, deadline,
            )
            .await?;
            match tried {
                TargetTried::Delivered(d) => return Ok(*d),
                TargetTried::Failed(failure, pipeline) => {
                    first_failure.get_or_insert((*failure, pipeline));
                }
                TargetTried::Unavailable(failure, pipeline) => {
                    first_failure.get_or_insert((*failure, pipeline));
                }
                TargetTried::Stop(failure, pipeline) => {
                    return Err(Undelivered::Failed(failure, pipeline));
                }
            }
            let learned = provider.executor.format_for(&target.model);
            if learned == format {
                break;
            }
            format = learned;
        }
    }
    let (mut failure, pipeline) =
        first_failure.ok_or_else(|| ApiError::internal("no target to try"))?;
    // When every account on every target is cooling down, say when the first one is back.
    if let Some(until) = earliest_free(app, targets) {
        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
        failure.retry_after = Some(wait.max(Duration::from_secs(1)));
    }
    Err(Undelivered::Failed(Box::new(failure), pipeline))
}

/// How one target went.
enum TargetTried<'a> {
    Delivered(Box<Delivered<'a>>),
    /// Every account failed (or the prompt is too long for this model): the first failure.
    Failed(Box<Failure>, Pipeline),
    /// No account could take the request at all.
    Unavailable(Box<Failure>, Pipeline),
    /// The request itself is wrong: no other target is tried.
    Stop(Box<Failure>, Pipeline),
}

/// Translates the request for one target and tries its accounts in the strategy's order.
#[allow(clippy::too_many_arguments)]
async fn try_target<'a>(
    app: &'a App,
    call: &mut Call,
    route: &Route,
    provider: &'a Provider,
    target: &Target,
    format: Format,
    body: Value,
    stream: bool,
    session: Option<&str>,
    deadline: Instant,
) -> Result<TargetTried<'a>, Undelivered> {
    let upstream_stream = stream || provider.executor.always_streams();
    let pipeline = Pipeline::new(&app.registry, route.client, format, stream, upstream_stream)?;
    let mut ctx = TranslateCtx::new(
        route.client,
        pipeline.provider,
        target.model.clone(),
        upstream_stream,
    );
    let hub = pipeline.request_to_hub(body, &mut ctx)?;
    if let Some(t) = &mut call.trace {
        t.folder = folder_name(
            route.client.as_str(),
            pipeline.provider.as_str(),
            &target.model,
            &call.id,
        );
        t.json("2_req_hub.json", &hub);
    }
    let provider_body = pipeline.request_to_provider(hub, &mut ctx)?;

    let now = SystemTime::now();
    let routing = &app.config.routing;
    let order = select::order(
        provider,
        &Want {
            model: &target.model,
            pin: target.account.as_deref(),
            preferred: session.and_then(|s| app.session_account(s, provider.index)),
            now,
            today: day_number(now, routing.day_offset_secs),
            day_offset_secs: routing.day_offset_secs,
            sticky_limit: routing.sticky_limit,
        },
    );
    let mut first: Option<Failure> = None;
    let mut provider_body = Some(provider_body);
    let count = order.accounts.len();
    for (i, account) in order.accounts.into_iter().enumerate() {
        let Some(slot) = account.acquire() else {
            continue;
        };
        // Each attempt consumes a body; the last takes the original instead of a copy.
        let this = if i + 1 == count {
            provider_body.take()
        } else {
            provider_body.clone()
        };
        let Some(this) = this else { break };
        call.row.attempts += 1;
        call.row.account = Some(account.name.clone());
        account.lock_health().day_requests += 1;
        let result = attempt(
            app,
            call,
            provider,
            &account,
            &target.model,
            this,
            upstream_stream,
            deadline,
        )
        .await;
        let failure = match result {
            Ok((res, first)) => {
                account.lock_health().on_success(&target.model);
                app.save_account(&account);
                if let Some(s) = session {
                    app.remember_session(s, provider.index, account.index);
                }
                call.account = Some(account.clone());
                return Ok(TargetTried::Delivered(Box::new(Delivered {
                    pipeline,
                    ctx,
                    provider,
                    slot,
                    res,
                    first,
                })));
            }
            Err(failure) => failure,
        };
        let penalty = account.lock_health().on_failure(
            &failure,
            &target.model,
            provider.per_model_limits,
            routing,
            SystemTime::now(),
        );
        if penalty.cooldown.is_some() {
            app.metrics.cooldown(&provider.name, &account.name);
        }
        app.save_account(&account);
        tracing::warn!(
            request_id = %call.id, provider = %provider.name, account = %account.name,
            model = %target.model, status = failure.error.status, class = failure.class.as_str(),
            cooldown_ms = penalty.cooldown.map(|d| d.as_millis() as u64), disabled = penalty.disabled,
            "upstream attempt failed: {}", failure.error.message
        );
        match failure.class {
            // The provider now wants this model in another format: not the request's fault.
            FailureClass::Request if provider.executor.format_for(&target.model) != format => {
                return Ok(TargetTried::Failed(
                    Box::new(first.unwrap_or(failure)),
                    pipeline,
                ));
            }
            // The request is the problem: another account would say the same.
            FailureClass::Request => return Ok(TargetTried::Stop(Box::new(failure), pipeline)),
            // Another model (the next target) may take a longer prompt.
            FailureClass::ContextOverflow => {
                return Ok(TargetTried::Failed(
                    Box::new(first.unwrap_or(failure)),
                    pipeline,
                ));
            }
            _ => {
                first.get_or_insert(failure);
            }
        }
    }
    Ok(match first {
        Some(f) => TargetTried::Failed(Box::new(f), pipeline),
        None => TargetTried::Unavailable(
            Box::new(unavailable(provider, &target.model, order.earliest_free)),
            pipeline,
        ),
    })
}

/// The failure for a target none of whose accounts could take the request.
fn unavailable(provider: &Provider, model: &str, earliest: Option<SystemTime>) -> Failure {
    let accounts = provider.accounts();
    let (status, kind, what) = if accounts.is_empty() {
        (503, ErrorKind::Upstream, "has no usable account")
    } else if accounts.iter().all(|a| a.credential.needs_login()) {
        (
            503,
            ErrorKind::Authentication,
            "needs a new login for every account (run `switchyard login` or `switchyard import`)",
        )
    } else if earliest.is_some() {
        (
            429,
            ErrorKind::RateLimited,
            "has every account cooling down or at its limit",
        )
    } else {
        (503, ErrorKind::Overloaded, "has every account busy")
    };
    let message = format!("provider `{}` {what} for `{model}`", provider.name);
    Failure {
        error: ApiError::new(status, kind, message).with_code("no_account_available"),
        upstream_body: None,
        class: FailureClass::RateLimit,
        retry_after: earliest.and_then(|t| t.duration_since(SystemTime::now()).ok()),
    }
}

/// When the first account of any target frees up, if none can take a request now.
fn earliest_free(app: &App, targets: &[Target]) -> Option<SystemTime> {
    let now = SystemTime::now();
    let mut earliest: Option<SystemTime> = None;
    for t in targets {
        let provider = app.providers.get(t.provider)?;
        for a in provider.accounts().iter() {
            if t.account.as_deref().is_some_and(|p| p != a.name) {
                continue;
            }
            match a.lock_health().check(&t.model, now) {
                Ok(()) => return None,
                Err(why) => {
                    let until = why.until()?;
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                }
            }
        }
    }
    earliest
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

/// One try on one account: the request built with its credential, sent, and judged.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    app: &App,
    call: &mut Call,
    provider: &Provider,
    account: &Account,
    model: &str,
    body: Value,
    stream: bool,
    deadline: Instant,
) -> Result<(Response<Incoming>, Option<Bytes>), Failure> {
    let credential = credentials::fresh(app, provider, account).await?;
    // Kept only for the debug trace: a binary body (Cursor's protobuf) is shown as the
    // translated request it was encoded from, which says more than its bytes would.
    let shown = call.trace.as_ref().map(|_| body.clone());
    // Kept only when a 401 may be answered by renewing the credential and sending again.
    let again = credential.refresh_token().is_some().then(|| body.clone());
    let req = provider
        .executor
        .build(body, model, stream, &credential)
        .map_err(Failure::request)?;
    if let Some(t) = &mut call.trace {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_else(
            |_| serde_json::json!({"binary_body_bytes": req.body.len(), "encoded_from": shown}),
        );
        t.json(
            "3_req_provider.json",
            &request_json(req.method.as_str(), &req.url, &req.headers, body),
        );
    }
    call.upstream_span = (Some(Instant::now()), None);
    let sent = send(app, req, deadline).await;
    // A refused token may only be stale: renewed once, the request goes again.
    let sent = credentials::again_after_401(app, provider, account, &credential, sent, |renewed| {
        let req = match again {
            Some(body) => provider
                .executor
                .build(body, model, stream, &renewed)
                .map_err(Failure::request),
            None => Err(Failure::request(ApiError::internal(
                "no request kept to send again",
            ))),
        };
        async move { send(app, req?, deadline).await }
    })
    .await;
    let mut res = sent?;
    if !res.status().is_success() {
        let status = res.status().as_u16();
        if let Some(t) = &mut call.trace {
            t.json("4_res_provider_headers.json", &headers_json(res.headers()));
        }
        let headers = res.headers().clone();
        let body = read_upstream(res.into_body(), app.config.timeouts.idle, deadline)
            .await
            .unwrap_or_default();
        let mut failure = provider.executor.classify(model, status, &headers, body);
        // Some upstreams quote the key they were sent in their errors; the client, the
        // server log and the usage row must not see it. The account's credential may have
        // been renewed by the retry after a 401, so both are hidden.
        hide_credentials(&mut failure, &[&credential, &account.credential.get()]);
        return Err(failure);
    }
    if !stream {
        return Ok((res, None));
    }
    // Nothing has reached the client yet, so a stream that breaks before its first byte
    // can still fail over to another account.
    let wait = app
        .config
        .timeouts
        .first_byte
        .min(deadline.saturating_duration_since(Instant::now()));
    let first = tokio::time::timeout(wait, async {
        loop {
            match res.body_mut().frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(data),
                    _ => continue,
                },
                Some(Err(e)) => {
                    return Err(Failure::connection(format!(
                        "upstream stream broke before its first byte: {e}"
                    )));
                }
                None => {
                    return Err(Failure::connection(
                        "upstream stream ended before its first byte",
                    ));
                }
            }
        }
    })
    .await
    .map_err(|_| {
        Failure::timeout(format!(
            "upstream sent no stream data within {} ms",
            wait.as_millis()
        ))
    })??;
    // An error the provider puts in its first frame (Kiro's throttling exception, Cursor's
    // exhausted quota) is as good as an error status: nothing has gone out, so fail over.
    let mut probe = provider.executor.decoder();
    probe.push(&first);
    if let Some(Err(TranslateError::Upstream(error))) = probe.next_event() {
        return Err(Failure::from_error(error));
    }
    Ok((res, Some(first)))
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

/// Masks every token of `credentials` in an upstream failure's message and body.
fn hide_credentials(failure: &mut Failure, credentials: &[&switchyard_auth::Credential]) {
    let secrets: Vec<String> = credentials
        .iter()
        .flat_map(|c| [Some(c.token()), c.refresh_token()])
        .flatten()
        .map(|s| s.expose())
        // Too short to be a real key, and masking it would mangle ordinary text.
        .filter(|s| s.len() >= 8)
        .map(str::to_owned)
        .collect();
    if secrets.is_empty() {
        return;
    }
    if secrets
        .iter()
        .any(|s| failure.error.message.contains(s.as_str()))
    {
        failure.error.message =
            String::from_utf8_lossy(&scrub(failure.error.message.as_bytes(), &secrets))
                .into_owned();
    }
    if let Some(body) = &failure.upstream_body {
        let bytes = body.as_ref();
        if secrets
            .iter()
            .any(|s| memchr::memmem::find(bytes, s.as_bytes()).is_some())
        {
            failure.upstream_body = Some(Bytes::from(scrub(bytes, &secrets)));
        }
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
