//! Getting a request answered: each target in turn, each of its accounts in the order the
//! strategy gives, one attempt at a time, with what every failure costs its account.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::usage;
use switchyard_hub::{ApiError, ErrorKind, Format, Pipeline, TranslateCtx, TranslateError, Usage};
use switchyard_provider::failure::FailureClass;
use switchyard_provider::{ClientHeaders, Failure};

use crate::request::Endpoint;
use crate::request::record::Call;
use crate::request::resolve::Target;
use crate::routing::day_number;
use crate::routing::select::{self, Want};
use crate::state::app::{Account, App, InFlight, Provider};
use crate::state::credentials;
use crate::state::debug_log::{folder_name, headers_json, request_json, scrub};

/// Upper bound on a non-streaming upstream answer held in memory.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// An upstream that answered with success, and what is needed to read its answer.
pub(crate) struct Delivered<'a> {
    pub pipeline: Pipeline,
    pub ctx: TranslateCtx,
    pub provider: &'a Provider,
    pub slot: InFlight,
    pub answer: Answer,
}

/// A successful upstream answer, as far as it was read before committing to the upstream.
pub(crate) enum Answer {
    /// A stream, with its first bytes: read before committing, so a stream that breaks
    /// before its first byte can still fail over.
    Stream {
        res: Response<Incoming>,
        first: Bytes,
    },
    /// A whole answer, read and parsed before committing: a body that breaks off, never
    /// comes or is not JSON is the upstream's failure, and nothing has reached the client.
    Whole {
        status: u16,
        body: Bytes,
        parsed: Parsed,
    },
}

/// What checking a whole answer already produced, so it is parsed once.
pub(crate) enum Parsed {
    /// Passthrough: the usage the body reports (its bytes go out untouched).
    Usage(Option<Usage>),
    /// Translated: the body as JSON.
    Json(Value),
}

pub(crate) enum Undelivered {
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
pub(crate) async fn deliver<'a>(
    app: &'a App,
    call: &mut Call,
    route: &Endpoint,
    targets: &[Target],
    mut body: Value,
    stream: bool,
    session: Option<&str>,
    client_headers: &ClientHeaders,
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
                app,
                call,
                route,
                provider,
                target,
                format,
                this,
                stream,
                session,
                client_headers,
                deadline,
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
            app.usage
                .record_learned(&provider.name, &target.model, learned.as_str());
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
    route: &Endpoint,
    provider: &'a Provider,
    target: &Target,
    format: Format,
    body: Value,
    stream: bool,
    session: Option<&str>,
    client_headers: &ClientHeaders,
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
    let forwarded = client_headers.for_format(pipeline.provider);

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
            &pipeline,
            upstream_stream,
            session,
            forwarded,
            deadline,
        )
        .await;
        let failure = match result {
            Ok(answer) => {
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
                    answer,
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
            // Every account here would refuse it alike; this refusal says why.
            FailureClass::NotServed => {
                return Ok(TargetTried::Failed(Box::new(failure), pipeline));
            }
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

/// One try on one account: the request built with its credential, sent, and judged.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    app: &App,
    call: &mut Call,
    provider: &Provider,
    account: &Account,
    model: &str,
    body: Value,
    pipeline: &Pipeline,
    stream: bool,
    session: Option<&str>,
    forwarded: Option<&ClientHeaders>,
    deadline: Instant,
) -> Result<Answer, Failure> {
    let credential = credentials::fresh(app, provider, account).await?;
    // Kept only for the debug trace: a binary body (Cursor's protobuf) is shown as the
    // translated request it was encoded from, which says more than its bytes would.
    let shown = call.trace.as_ref().map(|_| body.clone());
    // Kept only when a 401 may be answered by renewing the credential and sending again.
    let again = credential.refresh_token().is_some().then(|| body.clone());
    let build = |body: Value, credential: &switchyard_auth::Credential| {
        let mut req = provider
            .executor
            .build(body, model, stream, credential)
            .map_err(Failure::request)?;
        if let Some(s) = session {
            provider.executor.add_session(s, &mut req.headers);
        }
        if let Some(h) = forwarded {
            provider.executor.forward(h, &mut req.headers);
        }
        Ok::<_, Failure>(req)
    };
    let req = build(body, &credential)?;
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
            Some(body) => build(body, &renewed),
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
        let mut failure = provider
            .executor
            .classify(model, &credential, status, &headers, body);
        // Some upstreams quote the key they were sent in their errors; the client, the
        // server log and the usage row must not see it. The account's credential may have
        // been renewed by the retry after a 401, so both are hidden.
        hide_credentials(&mut failure, &[&credential, &account.credential.get()]);
        return Err(failure);
    }
    if !stream {
        let status = res.status().as_u16();
        let body = read_upstream(res.into_body(), app.config.timeouts.idle, deadline).await?;
        call.upstream_span.1 = Some(Instant::now());
        let parsed = parse_whole(pipeline, &body).map_err(|e| {
            Failure::connection(format!(
                "upstream answered {status} with a body that is not JSON: {e}"
            ))
        })?;
        return Ok(Answer::Whole {
            status,
            body,
            parsed,
        });
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
    // So is a first event that cannot be read at all (not JSON, a broken frame).
    let mut probe = provider.executor.decoder();
    probe.push(&first);
    match probe.next_event() {
        Some(Err(TranslateError::Upstream(error))) => return Err(Failure::from_error(error)),
        Some(Err(TranslateError::BadUpstream(why))) => {
            return Err(Failure::connection(format!(
                "upstream stream is malformed: {why}"
            )));
        }
        _ => {}
    }
    Ok(Answer::Stream { res, first })
}

/// Parses a whole answer as far as delivering it needs: passthrough only reads its usage
/// (which still checks that the whole body is JSON), a translation needs all of it.
fn parse_whole(pipeline: &Pipeline, body: &[u8]) -> Result<Parsed, serde_json::Error> {
    if pipeline.is_passthrough() {
        usage::from_response_bytes(pipeline.provider, body).map(Parsed::Usage)
    } else {
        serde_json::from_slice(body).map(Parsed::Json)
    }
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
pub(crate) async fn read_upstream(
    body: Incoming,
    idle: Duration,
    deadline: Instant,
) -> Result<Bytes, Failure> {
    let mut body = Limited::new(body, MAX_UPSTREAM_BODY);
    let mut buf = Vec::new();
    loop {
        let wait = idle.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(Failure::timeout("upstream stopped sending its answer")),
            Ok(None) => return Ok(buf.into()),
            Ok(Some(Err(e))) => {
                return Err(Failure::connection(format!(
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
