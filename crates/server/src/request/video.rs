//! Long-running video generation: OpenAI's `POST /v1/videos`, `GET /v1/videos/{id}` and
//! `GET /v1/videos/{id}/content`, and Gemini's Veo (`:predictLongRunning`, then the
//! operation polled: `GET` on the Developer API, `:fetchPredictOperation` on Vertex AI,
//! which is what google-genai's `generate_videos` speaks), each served by an OpenAI-style or
//! a Veo upstream ([`wire`] maps between them).
//!
//! Starting a job is a request like any other (client key, model resolution, combos,
//! account order, cooldowns, fallback, debug trace); the job it starts is a row in the
//! database ([`jobs`]) that names the provider and account that started it, which alone poll
//! it, so it survives a restart: [`poll_open_jobs`] goes on polling after one, and a client
//! may ask for its job then. Each job writes one usage row when it ends, counting seconds
//! of video.

pub mod jobs;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Map, Value};
use switchyard_auth::Credential;
use switchyard_hub::{ApiError, ErrorKind, Format, Operation, Usage};
use switchyard_provider::{Failure, UpstreamRequest};

use crate::http::respond::{self, Body};
use crate::request::attempt::{error_chain, hide_credentials, read_upstream};
use crate::request::deliver::{self, Delivery};
use crate::request::media::multipart;
use crate::request::record::Call;
use crate::request::resolve::{self, Target};
use crate::request::walk::{Walk, WalkTargets};
use crate::request::{Endpoint, EndpointKind, intake};
use crate::state::app::{Account, App, Provider, Snapshot};
use crate::state::credentials;
use crate::state::debug_log::request_json;
use jobs::{Job, Status};
use wire::{Ask, Polled};

/// How often open jobs are polled upstream when no client asks (Veo's guide polls every
/// 10 s; a client's own poll asks at once).
const POLL_EVERY: Duration = Duration::from_secs(5);

/// The client's format for a video job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    OpenAi,
    /// The Gemini Developer API (`/v1beta/models/...`).
    Gemini,
    /// Vertex AI (`/v1beta1/publishers/google/models/...`), google-genai's way.
    Vertex,
}

impl Client {
    fn as_str(self) -> &'static str {
        match self {
            Client::OpenAi => "openai",
            Client::Gemini => "gemini",
            Client::Vertex => "vertex",
        }
    }

    fn parse(s: &str) -> Client {
        match s {
            "gemini" => Client::Gemini,
            "vertex" => Client::Vertex,
            _ => Client::OpenAi,
        }
    }

    /// The format its error bodies take.
    fn format(self) -> Format {
        match self {
            Client::OpenAi => Format::OpenAi,
            Client::Gemini | Client::Vertex => Format::Gemini,
        }
    }
}

/// Serves a POST to a video endpoint: a job started, or (Vertex) one polled.
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Response<Body> {
    let client = match endpoint.client {
        Format::Gemini if req.uri().path().starts_with("/v1beta1/") => Client::Vertex,
        Format::Gemini => Client::Gemini,
        _ => Client::OpenAi,
    };
    if endpoint.kind == EndpointKind::Poll {
        return match fetch_operation(&app, req, peer).await {
            Ok(res) => res,
            Err(e) => respond::error(&e, client.format()),
        };
    }
    app.usage.room().await;
    let live = app.snapshot();
    let mut call = Call::new(app.clone(), &live, client.format());
    let id = call.id().to_owned();
    let res = match start(&app, &live, &mut call, req, peer, &endpoint, client).await {
        Ok(res) => {
            let placeholder = Call::detached(app.clone());
            std::mem::replace(&mut call, placeholder).hand_over();
            res
        }
        Err(err) => {
            let res = respond::error(&err, client.format());
            call.fail(&err, Usage::default(), None);
            res
        }
    };
    respond::with_request_id(res, &id)
}

/// Reads the client's create body into an [`Ask`].
fn take(
    client: Client,
    headers: &HeaderMap,
    raw: &Bytes,
    path_model: Option<&str>,
) -> Result<Ask, ApiError> {
    match client {
        Client::OpenAi => wire::ask_from_openai(openai_fields(headers, raw)?),
        Client::Gemini | Client::Vertex => {
            let model = path_model
                .filter(|m| !m.is_empty())
                .ok_or_else(|| ApiError::invalid_request("the path names no model"))?;
            // google-genai's Vertex paths name the model `publishers/google/models/{id}`.
            let model = model.rsplit("/models/").next().unwrap_or(model);
            let body: Value = serde_json::from_slice(raw).map_err(|e| {
                ApiError::invalid_request(format!("request body is not valid JSON: {e}"))
            })?;
            wire::ask_from_gemini(model.to_owned(), body)
        }
    }
}

/// The fields of an OpenAI create body: a JSON object, or a multipart form's text fields
/// (the openai SDK sends a form); a file (an `input_reference` upload) is refused.
fn openai_fields(headers: &HeaderMap, raw: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = multipart::boundary(content_type) else {
        return match serde_json::from_slice(raw) {
            Ok(Value::Object(obj)) => Ok(obj),
            Ok(_) => Err(ApiError::invalid_request(
                "request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::invalid_request(format!(
                "request body is not valid JSON: {e}"
            ))),
        };
    };
    let scanned = multipart::scan(raw, &boundary, true).map_err(ApiError::invalid_request)?;
    let mut fields = Map::new();
    for part in &scanned.parts {
        if part.filename.is_some() {
            return Err(ApiError::invalid_request(format!(
                "`{}`: file uploads are not taken for videos; give `input_reference` as an object with an `image_url` in a JSON body",
                part.name
            )));
        }
        let text = part.text(raw).ok_or_else(|| {
            ApiError::invalid_request(format!("`{}` is not UTF-8 text", part.name))
        })?;
        fields.insert(part.name.clone(), Value::String(text.to_owned()));
    }
    Ok(fields)
}

async fn start(
    app: &Arc<App>,
    live: &Arc<Snapshot>,
    call: &mut Call,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: &Endpoint,
    client: Client,
) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    call.operation(Operation::Videos);
    intake::admit(app, live, call, &parts.headers, peer).await?;
    let raw = intake::read_body(
        body,
        &parts.headers,
        live.config.body_limit,
        live.config.timeouts.client_body,
    )
    .await?;
    let ask = take(client, &parts.headers, &raw, endpoint.path_model.as_deref())?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    call.trace_json_with("1_req_client.json", || {
        request_json(parts.method.as_str(), path, &parts.headers, ask.own.clone())
    });
    call.requested(&ask.model, false);
    let mut resolved = match &endpoint.pinned {
        Some(provider) => resolve::resolve_pinned(live, provider, &ask.model)?,
        None => resolve::resolve(live, &ask.model)?,
    };
    call.resolved(resolved.combo.clone());
    deliver::keep_serving(
        live,
        &mut resolved.targets,
        Operation::Videos,
        &ask.model,
        Operation::Videos.openai_path(),
    )?;
    let client_headers =
        switchyard_provider::ClientHeaders::from_request(client.format(), &parts.headers);
    let delivery = Delivery {
        app,
        live,
        client: client.format(),
        op: Operation::Videos,
        stream: false,
        count: false,
        session: None,
        client_headers: &client_headers,
        deadline: Instant::now() + live.config.timeouts.total,
    };
    let started = begin(&delivery, call, &resolved.targets, &ask, client)
        .await
        .map_err(failure_error)?;
    let job = started.into_job(&ask, client, call.client_key());
    jobs::insert(app, job.clone()).await?;
    tracing::info!(job = %job.id, provider = %job.provider, account = %job.account, "video job started");
    Ok(answer_job(&job, client, None, &parts.headers))
}

/// An upstream failure as the error the client gets.
fn failure_error(failure: Failure) -> ApiError {
    let mut error = failure.error;
    if let Some(after) = failure.retry_after {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        error.retry_after = Some(secs.max(1));
    }
    error
}

/// A job the upstream took.
struct Started {
    provider: String,
    account: String,
    model: String,
    upstream_openai: bool,
    polled: Polled,
}

impl Started {
    fn into_job(self, ask: &Ask, client: Client, client_key: Option<&str>) -> Job {
        let now = chrono::Utc::now().timestamp_millis();
        let id = format!(
            "video_{}",
            uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
                .into_uuid()
                .simple()
        );
        Job {
            id,
            client_key: client_key.map(str::to_owned),
            client_format: client.as_str().to_owned(),
            requested_model: ask.model.clone(),
            provider: self.provider,
            account: self.account,
            upstream_model: self.model,
            upstream_format: if self.upstream_openai {
                "openai"
            } else {
                "gemini"
            }
            .to_owned(),
            upstream_id: self.polled.id.clone().unwrap_or_default(),
            prompt: ask.prompt.clone(),
            seconds: wire::seconds_for(ask, self.upstream_openai, self.polled.seconds),
            size: wire::size_for(ask, self.upstream_openai),
            status: self.polled.status,
            progress: self.polled.progress,
            video_uri: self.polled.video_uri,
            error: self.polled.error,
            created_ms: now,
            updated_ms: now,
            completed_ms: None,
        }
    }
}

/// Video jobs' part of the shared walk: each target gets the create body in its upstream's
/// format, and an account took the job once it answered with the job's id.
struct VideoWalk<'w> {
    delivery: &'w Delivery<'w>,
    ask: &'w Ask,
    client: Client,
}

/// The create body for one target, and whether its upstream speaks OpenAI's video API.
struct VideoBody {
    body: Value,
    upstream_openai: bool,
}

impl Walk for VideoWalk<'_> {
    type Prepared = VideoBody;
    type Done = Started;

    async fn attempt(
        &mut self,
        call: &mut Call,
        provider: &Provider,
        account: &Arc<Account>,
        target: &Target,
        prepared: &mut VideoBody,
        _last: bool,
    ) -> Result<Started, Failure> {
        let polled = start_on(
            self.delivery,
            call,
            provider,
            account,
            &target.model,
            &prepared.body,
        )
        .await?;
        if polled.id.is_none() {
            return Err(Failure::request(ApiError::bad_gateway(
                "the upstream took the video job but gave no id for it",
            )));
        }
        Ok(Started {
            provider: provider.name.clone(),
            account: account.name.clone(),
            model: target.model.clone(),
            upstream_openai: prepared.upstream_openai,
            polled,
        })
    }
}

impl WalkTargets for VideoWalk<'_> {
    fn serves(&self, provider: &Provider) -> bool {
        provider.executor.serves(Operation::Videos).is_some()
    }

    fn prepare(
        &mut self,
        call: &mut Call,
        provider: &Provider,
        target: &Target,
    ) -> Result<VideoBody, Failure> {
        let format = provider
            .executor
            .serves(Operation::Videos)
            .unwrap_or(Format::OpenAi);
        let upstream_openai = format != Format::Gemini;
        call.trace_folder(format, &target.model);
        let body = if upstream_openai {
            wire::openai_body(self.ask, self.client == Client::OpenAi, &target.model)
        } else {
            wire::gemini_body(self.ask, self.client != Client::OpenAi, &target.model)
        }
        .map_err(Failure::request)?;
        Ok(VideoBody {
            body,
            upstream_openai,
        })
    }
}

/// Tries each target and each of its accounts in the strategy's order until an upstream
/// takes the job.
async fn begin(
    delivery: &Delivery<'_>,
    call: &mut Call,
    targets: &[Target],
    ask: &Ask,
    client: Client,
) -> Result<Started, Failure> {
    let mut walk = VideoWalk {
        delivery,
        ask,
        client,
    };
    // The slot is freed at once: the job runs upstream, not on this connection.
    let (started, _slot) = delivery.walk_targets(call, targets, &mut walk).await?;
    Ok(started)
}

/// One start on one account: the create request, its answer read.
async fn start_on(
    delivery: &Delivery<'_>,
    call: &mut Call,
    provider: &Provider,
    account: &Account,
    model: &str,
    body: &Value,
) -> Result<Polled, Failure> {
    let app = delivery.app;
    let credential = credentials::fresh(app, provider, account).await?;
    let build = |cred: &Credential| {
        provider
            .executor
            .build_for(Operation::Videos, body.clone(), model, false, cred)
            .map_err(Failure::request)
    };
    let req = build(&credential)?;
    call.trace_json_with("3_req_provider.json", || {
        request_json(
            req.method.as_str(),
            &req.url,
            &req.headers,
            serde_json::from_slice(&req.body).unwrap_or(Value::Null),
        )
    });
    call.upstream_asked();
    let live = delivery.live;
    let sent = send(app, req, live.config.timeouts.first_byte).await;
    let sent = credentials::again_after_401(app, provider, account, &credential, sent, |renewed| {
        let req = build(&renewed);
        async move { send(app, req?, live.config.timeouts.first_byte).await }
    })
    .await;
    let answer = read(app, live, provider, account, model, &credential, sent?).await?;
    call.upstream_done();
    call.trace_json("4_res_provider.json", &answer);
    if provider.executor.serves(Operation::Videos) == Some(Format::Gemini) {
        wire::from_gemini(&answer)
    } else {
        wire::from_openai(&answer)
    }
    .map_err(Failure::request)
}

async fn send(
    app: &App,
    req: UpstreamRequest,
    wait: Duration,
) -> Result<Response<Incoming>, Failure> {
    let mut builder = Request::builder().method(req.method).uri(&req.url);
    if let Some(h) = builder.headers_mut() {
        *h = req.headers;
    }
    let req = builder
        .body(Full::new(req.body))
        .map_err(|e| Failure::connection(format!("invalid upstream request: {e}")))?;
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

/// Reads a JSON answer whole, or classifies an error answer as the provider's failure.
async fn read(
    app: &App,
    live: &Snapshot,
    provider: &Provider,
    account: &Account,
    model: &str,
    credential: &Credential,
    res: Response<Incoming>,
) -> Result<Value, Failure> {
    let _ = app;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let deadline = Instant::now() + live.config.timeouts.total;
    let body = read_upstream(res.into_body(), live.config.timeouts.idle, deadline).await?;
    if !(200..300).contains(&status) {
        let mut failure = provider
            .executor
            .classify(model, credential, status, &headers, body);
        hide_credentials(&mut failure, &[credential, &account.credential.get()]);
        return Err(failure);
    }
    serde_json::from_slice(&body).map_err(|e| {
        Failure::request(ApiError::bad_gateway(format!(
            "the upstream's video answer is not JSON: {e}"
        )))
    })
}

/// The answer to a start or a poll, in the client's format. A done Vertex job carries the
/// video (`video_b64`).
fn answer_job(
    job: &Job,
    client: Client,
    video_b64: Option<String>,
    headers: &HeaderMap,
) -> Response<Body> {
    let body = match client {
        Client::OpenAi => wire::openai_object(job),
        Client::Gemini => wire::gemini_operation(job, &download_url(job, headers)),
        Client::Vertex => wire::vertex_operation(job, video_b64),
    };
    respond::json(200, &body)
}

/// Where a Gemini client downloads a finished job's video: this proxy's files route, on the
/// host the client reached it by.
fn download_url(job: &Job, headers: &HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!(
        "{scheme}://{host}/v1beta/files/{}:download?alt=media",
        job.id
    )
}

/// Whether `path` (a GET) is a video route: a job's status or its content.
pub fn is_get_route(path: &str) -> bool {
    path.starts_with("/v1/videos/")
        || path.starts_with("/videos/")
        || (path.starts_with("/v1beta/files/") && path.ends_with(":download"))
        || (path.starts_with("/v1beta/models/") && path.contains("/operations/"))
        || path.starts_with("/v1beta/operations/")
}

/// Serves a GET of a video route (see [`is_get_route`]).
pub async fn get(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let (client, id, content) = if let Some(rest) = path
        .strip_prefix("/v1/videos/")
        .or_else(|| path.strip_prefix("/videos/"))
    {
        match rest.strip_suffix("/content") {
            Some(id) => (Client::OpenAi, id.to_owned(), true),
            None => (Client::OpenAi, rest.to_owned(), false),
        }
    } else if let Some(file) = path.strip_prefix("/v1beta/files/") {
        let id = file.strip_suffix(":download").unwrap_or(file);
        (Client::Gemini, id.to_owned(), true)
    } else {
        let id = wire::id_of_operation(&path)
            .or_else(|| path.strip_prefix("/v1beta/operations/"))
            .unwrap_or_default();
        (Client::Gemini, id.to_owned(), false)
    };
    let headers = req.headers().clone();
    let served = async {
        let key = app.client_keys.authenticate(&headers, peer)?;
        let job = find(&app, &id, key.as_ref().map(|k| k.id.as_str())).await?;
        let job = refresh(&app, job).await?;
        if content {
            content_of(&app, &job, client).await
        } else {
            Ok(answer_job(&job, client, None, &headers))
        }
    };
    match served.await {
        Ok(res) => res,
        Err(e) => respond::error(&e, client.format()),
    }
}

/// google-genai's Vertex poll: `POST {model}:fetchPredictOperation` with `operationName`.
async fn fetch_operation(
    app: &Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let key = app.client_keys.authenticate(&parts.headers, peer)?;
    let live = app.snapshot();
    let raw = intake::read_body(
        body,
        &parts.headers,
        live.config.body_limit,
        live.config.timeouts.client_body,
    )
    .await?;
    let asked: Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::invalid_request(format!("request body is not valid JSON: {e}")))?;
    let name = asked
        .get("operationName")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request("missing required field `operationName`"))?;
    let id = wire::id_of_operation(name)
        .ok_or_else(|| ApiError::not_found(format!("no operation `{name}`")))?;
    let job = find(app, id, key.as_ref().map(|k| k.id.as_str())).await?;
    let job = refresh(app, job).await?;
    let video = if job.status == Status::Completed {
        let res = upstream_content(app, &job).await?;
        let deadline = Instant::now() + live.config.timeouts.total;
        let bytes = read_upstream(res.into_body(), live.config.timeouts.idle, deadline)
            .await
            .map_err(failure_error)?;
        Some(base64::engine::general_purpose::STANDARD.encode(&bytes))
    } else {
        None
    };
    Ok(answer_job(&job, Client::Vertex, video, &parts.headers))
}

/// The job `id` as the client key `key` sees it: another key's job is not found.
async fn find(app: &Arc<App>, id: &str, key: Option<&str>) -> Result<Job, ApiError> {
    let not_found =
        || ApiError::not_found(format!("no video job `{id}`")).with_code("video_not_found");
    if id.is_empty() || id.len() > 128 {
        return Err(not_found());
    }
    match jobs::load(app, id).await? {
        Some(job) if job.client_key.as_deref() == key => Ok(job),
        _ => Err(not_found()),
    }
}

/// The provider and account that started `job`, as configured now.
fn owner(live: &Snapshot, job: &Job) -> Result<(Arc<Provider>, Arc<Account>), ApiError> {
    let gone = || {
        ApiError::new(
            503,
            ErrorKind::Upstream,
            format!(
                "the account that started video job `{}` ({}/{}) is not configured now; only it can poll the job",
                job.id, job.provider, job.account
            ),
        )
    };
    let provider = live.provider(&job.provider).ok_or_else(gone)?.clone();
    let account = provider
        .accounts()
        .iter()
        .find(|a| a.name == job.account)
        .cloned()
        .ok_or_else(gone)?;
    Ok((provider, account))
}

/// A GET on the job's upstream with its own account.
async fn upstream_get(
    app: &Arc<App>,
    job: &Job,
    target: &str,
) -> Result<(Response<Incoming>, Arc<Provider>, Arc<Account>, Credential), ApiError> {
    let live = app.snapshot();
    let (provider, account) = owner(&live, job)?;
    let credential = credentials::fresh(app, &provider, &account)
        .await
        .map_err(failure_error)?;
    let build = |cred: &Credential| {
        provider
            .executor
            .job_fetching()
            .ok_or_else(|| {
                ApiError::invalid_request(format!("this provider cannot fetch `{target}`"))
                    .with_code("unsupported_endpoint")
            })
            .and_then(|f| f.build_fetch(target, cred))
            .map_err(Failure::request)
    };
    let first_byte = live.config.timeouts.first_byte;
    let sent = send(app, build(&credential).map_err(failure_error)?, first_byte).await;
    let sent =
        credentials::again_after_401(app, &provider, &account, &credential, sent, |renewed| {
            let req = build(&renewed);
            async move { send(app, req?, first_byte).await }
        })
        .await
        .map_err(failure_error)?;
    Ok((sent, provider, account, credential))
}

/// Polls `job` upstream unless it is done, saving what changed; the poll that sees it end
/// writes its usage row.
async fn refresh(app: &Arc<App>, mut job: Job) -> Result<Job, ApiError> {
    if job.status.is_done() {
        return Ok(job);
    }
    let target = if job.upstream_format == "openai" {
        format!("videos/{}", job.upstream_id)
    } else {
        job.upstream_id.clone()
    };
    let (res, provider, account, credential) = upstream_get(app, &job, &target).await?;
    let live = app.snapshot();
    let status = res.status().as_u16();
    let polled = match read(
        app,
        &live,
        &provider,
        &account,
        &job.upstream_model,
        &credential,
        res,
    )
    .await
    {
        Ok(answer) if job.upstream_format == "openai" => wire::from_openai(&answer)?,
        Ok(answer) => wire::from_gemini(&answer)?,
        // The upstream no longer knows the job: it is over.
        Err(_) if status == 404 => Polled {
            status: Status::Failed,
            progress: 0,
            video_uri: None,
            error: Some("the provider no longer knows this job".into()),
            seconds: None,
            id: None,
        },
        Err(failure) => return Err(failure_error(failure)),
    };
    let now = chrono::Utc::now().timestamp_millis();
    job.status = polled.status;
    job.progress = if polled.status == Status::Completed {
        100
    } else {
        polled.progress.max(job.progress)
    };
    job.video_uri = polled.video_uri.or(job.video_uri);
    job.error = polled.error;
    if let Some(s) = polled.seconds {
        job.seconds = s;
    }
    job.updated_ms = now;
    if job.status.is_done() {
        job.completed_ms = Some(now);
    }
    if jobs::save(app, job.clone()).await? {
        record(app, &job);
    }
    Ok(job)
}

/// The usage row of a job that ended.
fn record(app: &Arc<App>, job: &Job) {
    let live = app.snapshot();
    let mut call = Call::new(
        app.clone(),
        &live,
        Client::parse(&job.client_format).format(),
    );
    call.authenticated(job.client_key.clone());
    call.requested(&job.requested_model, false);
    call.operation(Operation::Videos);
    call.targeting(0, &job.provider, &job.upstream_model);
    call.attempting(&job.account);
    tracing::info!(job = %job.id, status = job.status.as_str(), "video job ended");
    match job.status {
        Status::Completed => {
            call.video_seconds(job.seconds);
            call.succeed(200, Usage::default(), None);
        }
        _ => {
            let message = job
                .error
                .clone()
                .unwrap_or_else(|| "the video failed".into());
            call.fail(
                &ApiError::new(502, ErrorKind::Upstream, message),
                Usage::default(),
                None,
            );
        }
    }
}

/// The upstream's answer with the finished job's video.
async fn upstream_content(app: &Arc<App>, job: &Job) -> Result<Response<Incoming>, ApiError> {
    let target = match (job.upstream_format.as_str(), &job.video_uri) {
        ("openai", _) => format!("videos/{}/content", job.upstream_id),
        (_, Some(uri)) => uri.clone(),
        (_, None) => return Err(ApiError::bad_gateway("the provider gave no video address")),
    };
    let (res, provider, account, credential) = upstream_get(app, job, &target).await?;
    if res.status().is_success() {
        return Ok(res);
    }
    let live = app.snapshot();
    match read(
        app,
        &live,
        &provider,
        &account,
        &job.upstream_model,
        &credential,
        res,
    )
    .await
    {
        Err(failure) => Err(failure_error(failure)),
        Ok(_) => Err(ApiError::bad_gateway("the provider did not send the video")),
    }
}

/// The finished job's video, streamed from the upstream as it comes.
async fn content_of(app: &Arc<App>, job: &Job, client: Client) -> Result<Response<Body>, ApiError> {
    match job.status {
        Status::Completed => {}
        Status::Failed => {
            return Err(ApiError::invalid_request(format!(
                "video job `{}` failed: it has no content",
                job.id
            ))
            .with_code("video_failed"));
        }
        _ => {
            let what = match client {
                Client::OpenAi => "GET /v1/videos/{id}",
                _ => "the operation",
            };
            return Err(ApiError::invalid_request(format!(
                "video job `{}` is not ready yet ({}, {}%); poll {what} until it completes",
                job.id,
                job.status.as_str(),
                job.progress
            ))
            .with_code("video_not_ready"));
        }
    }
    let res = upstream_content(app, job).await?;
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("video/mp4"));
    let length = res.headers().get(http::header::CONTENT_LENGTH).cloned();
    let body = res.into_body().map_err(Into::into).boxed_unsync();
    let mut out = Response::new(body);
    out.headers_mut().insert(CONTENT_TYPE, content_type);
    if let Some(length) = length {
        out.headers_mut()
            .insert(http::header::CONTENT_LENGTH, length);
    }
    Ok(out)
}

/// Polls every open job now and then, so jobs end (and write their rows) with no client
/// asking, and a restart picks up where the last process left off.
pub async fn poll_open_jobs(app: Arc<App>) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let open = match jobs::open_jobs(&app).await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!("cannot read open video jobs: {}", e.message);
                continue;
            }
        };
        for job in open {
            let id = job.id.clone();
            if let Err(e) = refresh(&app, job).await {
                tracing::debug!(job = %id, "video job poll failed: {}", e.message);
            }
        }
    }
}
