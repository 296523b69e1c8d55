//! The endpoints whose bodies pass through instead of being translated
//! ([`Operation::raw_body`]): `/v1/audio/speech` (JSON in, audio bytes streamed back as they
//! come), `/v1/audio/transcriptions`, `/v1/audio/translations` and `/v1/images/edits`
//! (multipart uploads streamed upstream, see [`upload`]). They go through the same client
//! keys, model resolution, account order, cooldowns, fallback, usage row and debug trace as
//! chat; only the body is handled apart, since the hub has nothing to translate.

pub mod multipart;
pub mod passthrough;
pub mod upload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};
use switchyard_hub::{ApiError, Format, Operation, Usage};
use switchyard_provider::{ClientHeaders, Failure, UpstreamRequest};

use crate::http::respond::{self, Body};
use crate::request::attempt::{error_chain, hide_credentials, read_upstream};
use crate::request::deliver::{self, Delivery};
use crate::request::record::{CLIENT_CLOSED, Call};
use crate::request::resolve::{self, Target};
use crate::request::walk::{Walk, WalkTargets};
use crate::request::{Endpoint, intake};
use crate::state::app::{Account, App, InFlight, Provider, Snapshot};
use crate::state::credentials;
use crate::state::debug_log::{headers_json, request_json};
use passthrough::Passthrough;
use upload::Upload;

/// Response formats `/v1/audio/speech` takes.
const SPEECH_FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

/// Serves one request to a pass-through endpoint (see the module header).
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Response<Body> {
    app.usage.room().await;
    let live = app.snapshot();
    let mut call = Call::new(app.clone(), &live, Format::OpenAi);
    let id = call.id().to_owned();
    let res = match serve(&app, &live, &mut call, req, peer, &endpoint).await {
        Ok(Served::Streaming(res)) => res,
        Ok(Served::Whole(res, status, usage)) => {
            let ttfb = call.elapsed_ms();
            call.succeed(status, usage, Some(ttfb));
            res
        }
        Err(err) if err.status() == CLIENT_CLOSED => {
            drop(call);
            respond::error(
                &ApiError::invalid_request(err.error.message),
                Format::OpenAi,
            )
        }
        Err(err) => {
            let res = match err.upstream_body.as_ref() {
                // The upstream speaks the client's format: its own error body goes back.
                Some(body) if serde_json::from_slice::<Value>(body).is_ok() => {
                    respond::with_retry_after(
                        respond::bytes(err.error.status, "application/json", body.clone()),
                        err.error.retry_after,
                    )
                }
                _ => respond::error(&err.error, Format::OpenAi),
            };
            call.fail(&err.error, Usage::default(), None);
            res
        }
    };
    respond::with_request_id(res, &id)
}

/// How a served request answers: a stream that writes the row when it ends, or a whole
/// answer whose row is written now.
enum Served {
    Streaming(Response<Body>),
    Whole(Response<Body>, u16, Usage),
}

/// A request that ended in an error, with the upstream's own body when it gave one.
struct Refusal {
    error: ApiError,
    upstream_body: Option<Bytes>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            upstream_body: None,
        }
    }
}

impl Refusal {
    fn from_failure(failure: Failure) -> Self {
        let mut error = failure.error;
        if let Some(after) = failure.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            error.retry_after = Some(secs.max(1));
        }
        Refusal {
            error,
            upstream_body: failure.upstream_body,
        }
    }

    const fn status(&self) -> u16 {
        self.error.status
    }
}

/// What the client sent, read as far as routing it needs.
struct Taken {
    model: String,
    /// The body before the model is named anew for a target.
    body: Received,
    /// What the debug trace shows of the request (a multipart body's fields, not its file).
    shown: Value,
    /// Characters to speak (speech).
    characters: u64,
    /// The upload's length in seconds, from its WAV header (transcriptions).
    wav_seconds: Option<f64>,
}

enum Received {
    Json(serde_json::Map<String, Value>),
    Multipart {
        content_type: HeaderValue,
        head: upload::Head,
        boundary: String,
    },
}

impl Taken {
    /// The body for `model`: the client's, with the model named anew.
    fn for_model(&self, model: &str) -> Result<Upload, ApiError> {
        match &self.body {
            Received::Json(obj) => {
                let mut obj = obj.clone();
                obj.insert("model".into(), Value::String(model.to_owned()));
                let bytes = Bytes::from(Value::Object(obj).to_string());
                let head = upload::Head {
                    bytes: bytes.clone(),
                    rest: None,
                    declared: None,
                };
                Ok(Upload::new(
                    HeaderValue::from_static("application/json"),
                    &head,
                    bytes,
                ))
            }
            Received::Multipart {
                content_type,
                head,
                boundary,
            } => {
                let scanned = multipart::scan(&head.bytes, boundary, head.rest.is_none())
                    .map_err(ApiError::invalid_request)?;
                let part = scanned
                    .field("model")
                    .ok_or_else(|| ApiError::internal("the model field went missing"))?;
                let bytes = multipart::replace(&head.bytes, part, model.as_bytes())
                    .ok_or_else(|| ApiError::internal("the model field went missing"))?;
                Ok(Upload::new(content_type.clone(), head, bytes.into()))
            }
        }
    }
}

async fn serve(
    app: &Arc<App>,
    live: &Snapshot,
    call: &mut Call,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: &Endpoint,
) -> Result<Served, Refusal> {
    let (parts, body) = req.into_parts();
    intake::admit(app, live, call, &parts.headers, peer).await?;
    let taken = match endpoint.op {
        Operation::Speech => take_speech(live, &parts, body).await?,
        op => take_multipart(live, &parts, body, op).await?,
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    call.trace_json_with("1_req_client.json", || {
        request_json(
            parts.method.as_str(),
            path,
            &parts.headers,
            taken.shown.clone(),
        )
    });
    call.requested(&taken.model, false);
    call.operation(endpoint.op);
    call.characters(taken.characters);
    let mut resolved = match &endpoint.pinned {
        Some(provider) => resolve::resolve_pinned(live, provider, &taken.model)?,
        None => resolve::resolve(live, &taken.model)?,
    };
    call.resolved(resolved.combo);
    deliver::keep_serving(
        live,
        &mut resolved.targets,
        endpoint.op,
        &taken.model,
        parts.uri.path(),
    )?;
    let client_headers = ClientHeaders::from_request(Format::OpenAi, &parts.headers);
    let deadline = Instant::now() + live.config.timeouts.total;
    let delivery = Delivery {
        app,
        live,
        client: Format::OpenAi,
        op: endpoint.op,
        stream: false,
        count: false,
        session: None,
        client_headers: &client_headers,
        deadline,
    };
    let media = Media {
        delivery: &delivery,
        op: endpoint.op,
    };
    let (res, slot) = media
        .deliver(call, &resolved.targets, &taken)
        .await
        .map_err(Refusal::from_failure)?;
    answer(live, call, endpoint.op, &taken, res, slot, deadline).await
}

/// Reads a speech request: JSON with `model`, `input` (the text) and `voice`.
async fn take_speech(
    live: &Snapshot,
    parts: &http::request::Parts,
    body: Incoming,
) -> Result<Taken, ApiError> {
    let raw = intake::read_body(
        body,
        &parts.headers,
        live.config.body_limit,
        live.config.timeouts.client_body,
    )
    .await?;
    let value: Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::invalid_request(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid_request(
            "request body must be a JSON object",
        ));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(ApiError::invalid_request("`model` must be a string")),
        None => return Err(ApiError::invalid_request("missing required field `model`")),
    };
    let characters = match obj.get("input") {
        Some(Value::String(t)) if !t.is_empty() => t.chars().count() as u64,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "`input` must be a non-empty string",
            ));
        }
        None => return Err(ApiError::invalid_request("missing required field `input`")),
    };
    if !obj.contains_key("voice") {
        return Err(ApiError::invalid_request("missing required field `voice`"));
    }
    if let Some(f) = obj.get("response_format")
        && !f.as_str().is_some_and(|f| SPEECH_FORMATS.contains(&f))
    {
        return Err(ApiError::invalid_request(format!(
            "`response_format` must be one of {}",
            SPEECH_FORMATS.join(", ")
        )));
    }
    if obj.get("stream").is_some_and(|s| s != &Value::Bool(false)) {
        return Err(ApiError::invalid_request(
            "`stream` is not supported for speech: the audio is streamed as it comes",
        ));
    }
    Ok(Taken {
        model,
        shown: Value::Object(obj.clone()),
        body: Received::Json(obj),
        characters,
        wav_seconds: None,
    })
}

/// Reads the head of a multipart upload: its `model` field (which must come before a file
/// too large to hold) and the start of its `file`.
async fn take_multipart(
    live: &Snapshot,
    parts: &http::request::Parts,
    body: Incoming,
    op: Operation,
) -> Result<Taken, ApiError> {
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""));
    let boundary = content_type
        .to_str()
        .ok()
        .and_then(multipart::boundary)
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "{} takes a multipart/form-data body (with a boundary)",
                op.openai_path()
            ))
        })?;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let head = upload::read_head(
        body,
        declared,
        live.config.body_limit,
        live.config.timeouts.client_body,
    )
    .await?;
    let whole = head.rest.is_none();
    let scanned =
        multipart::scan(&head.bytes, &boundary, whole).map_err(ApiError::invalid_request)?;
    let model = match scanned.field("model") {
        Some(p) => p
            .text(&head.bytes)
            .filter(|m| !m.trim().is_empty())
            .map(|m| m.trim().to_owned())
            .ok_or_else(|| ApiError::invalid_request("`model` must be a non-empty string"))?,
        None if whole || scanned.complete => {
            return Err(ApiError::invalid_request("missing required field `model`"));
        }
        None => {
            return Err(ApiError::invalid_request(format!(
                "the `model` field must come before the file in an upload larger than {} bytes",
                upload::HEAD_BYTES
            )));
        }
    };
    let file_field = if op == Operation::ImageEdits {
        "image"
    } else {
        "file"
    };
    let file = scanned
        .parts
        .iter()
        .find(|p| p.name == file_field || p.name == "image[]");
    if file.is_none() && (whole || scanned.complete) {
        return Err(ApiError::invalid_request(format!(
            "missing required field `{file_field}`"
        )));
    }
    let wav_seconds = file
        .filter(|_| op != Operation::ImageEdits)
        .and_then(|f| multipart::wav_seconds(f.content(&head.bytes)));
    let fields: serde_json::Map<String, Value> = scanned
        .parts
        .iter()
        .map(|p| {
            let shown = match (&p.filename, p.text(&head.bytes)) {
                (None, Some(text)) => Value::String(text.to_owned()),
                _ => json!({
                    "filename": p.filename,
                    "content_type": p.content_type,
                    "bytes_seen": p.content(&head.bytes).len(),
                }),
            };
            (p.name.clone(), shown)
        })
        .collect();
    Ok(Taken {
        model,
        shown: json!({"multipart": fields, "streamed": !whole, "declared_length": declared}),
        body: Received::Multipart {
            content_type,
            head,
            boundary,
        },
        characters: 0,
        wav_seconds,
    })
}

/// The delivery loop for pass-through bodies: chat's account order, health and budgets.
struct Media<'a> {
    delivery: &'a Delivery<'a>,
    op: Operation,
}

/// The pass-through endpoints' part of the shared walk: each target gets the upload with
/// its model named, and an upload that went upstream is not sent to another account.
struct MediaWalk<'m> {
    media: &'m Media<'m>,
    taken: &'m Taken,
}

impl Walk for MediaWalk<'_> {
    type Prepared = Upload;
    type Done = Response<Incoming>;

    async fn attempt(
        &mut self,
        call: &mut Call,
        provider: &Provider,
        account: &Arc<Account>,
        target: &Target,
        upload: &mut Upload,
        _last: bool,
    ) -> Result<Response<Incoming>, Failure> {
        self.media
            .attempt(call, provider, account, &target.model, upload)
            .await
    }

    fn may_go_on(&self, upload: &Upload) -> bool {
        !upload.spent()
    }
}

impl WalkTargets for MediaWalk<'_> {
    fn serves(&self, provider: &Provider) -> bool {
        provider.executor.serves(self.media.op).is_some()
    }

    fn prepare(
        &mut self,
        call: &mut Call,
        _provider: &Provider,
        target: &Target,
    ) -> Result<Upload, Failure> {
        call.trace_folder(Format::OpenAi, &target.model);
        self.taken
            .for_model(&target.model)
            .map_err(Failure::request)
    }
}

impl<'a> Media<'a> {
    /// Tries each target and each of its accounts in the strategy's order until one
    /// answers with success.
    async fn deliver(
        &self,
        call: &mut Call,
        targets: &[Target],
        taken: &Taken,
    ) -> Result<(Response<Incoming>, InFlight), Failure> {
        let mut walk = MediaWalk { media: self, taken };
        self.delivery.walk_targets(call, targets, &mut walk).await
    }

    /// One try on one account.
    async fn attempt(
        &self,
        call: &mut Call,
        provider: &Provider,
        account: &Account,
        model: &str,
        upload: &Upload,
    ) -> Result<Response<Incoming>, Failure> {
        let app = self.delivery.app;
        let live = self.delivery.live;
        let credential = credentials::fresh(app, provider, account).await?;
        let req = self.build(provider, model, upload, &credential)?;
        call.trace_json_with("3_req_provider.json", || {
            let body = if upload.is_whole() && upload.content_type == "application/json" {
                serde_json::from_slice(&upload.head).unwrap_or(Value::Null)
            } else {
                json!({"bytes_before_streaming": upload.head.len(), "whole": upload.is_whole()})
            };
            request_json(req.method.as_str(), &req.url, &req.headers, body)
        });
        call.upstream_asked();
        let sent = self.send(req, upload).await;
        let sent =
            credentials::again_after_401(app, provider, account, &credential, sent, |renewed| {
                let req = self.build(provider, model, upload, &renewed);
                async move { self.send(req?, upload).await }
            })
            .await;
        let res = sent?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        call.trace_json_with("4_res_provider_headers.json", || {
            headers_json(res.headers())
        });
        let headers = res.headers().clone();
        let body = read_upstream(
            res.into_body(),
            live.config.timeouts.idle,
            self.delivery.deadline,
        )
        .await
        .unwrap_or_default();
        call.trace_raw("4_res_provider.json", || body.to_vec());
        let mut failure = provider
            .executor
            .classify(model, &credential, status, &headers, body);
        hide_credentials(&mut failure, &[&credential, &account.credential.get()]);
        Err(failure)
    }

    fn build(
        &self,
        provider: &Provider,
        model: &str,
        upload: &Upload,
        credential: &switchyard_auth::Credential,
    ) -> Result<UpstreamRequest, Failure> {
        provider
            .executor
            .build_raw(self.op, model, &upload.content_type, credential)
            .map_err(Failure::request)
    }

    /// Sends the request with the upload as its body. A whole body waits for the first
    /// byte as chat does; a streamed one has until the total deadline, since the upstream
    /// answers only once it has the whole file.
    async fn send(
        &self,
        req: UpstreamRequest,
        upload: &Upload,
    ) -> Result<Response<Incoming>, Failure> {
        let app = self.delivery.app;
        let live = self.delivery.live;
        let body = upload.body().ok_or_else(|| {
            Failure::request(ApiError::bad_gateway(
                "the upload already went upstream once and cannot be sent again",
            ))
        })?;
        let mut builder = Request::builder().method(req.method).uri(&req.url);
        if let Some(h) = builder.headers_mut() {
            *h = req.headers;
        }
        let req = builder
            .body(body)
            .map_err(|e| Failure::connection(format!("invalid upstream request: {e}")))?;
        let left = self
            .delivery
            .deadline
            .saturating_duration_since(Instant::now());
        let wait = if upload.is_whole() {
            live.config.timeouts.first_byte.min(left)
        } else {
            left
        };
        match tokio::time::timeout(wait, app.client.send_upload(req)).await {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(match upload.client_fault() {
                Some(fault) => Failure::request(fault),
                None => {
                    Failure::connection(format!("cannot reach the upstream: {}", error_chain(&e)))
                }
            }),
            Err(_) => Err(Failure::timeout(format!(
                "upstream sent no answer within {} ms",
                wait.as_millis()
            ))),
        }
    }
}

/// Answers the client: speech streamed as it comes, the others read whole (a transcript or
/// edited images are small) so their usage can be read.
async fn answer(
    live: &Snapshot,
    call: &mut Call,
    op: Operation,
    taken: &Taken,
    res: Response<Incoming>,
    slot: InFlight,
    deadline: Instant,
) -> Result<Served, Refusal> {
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    call.trace_json_with("4_res_provider_headers.json", || {
        headers_json(res.headers())
    });
    if op == Operation::Speech {
        let length = res.headers().get(CONTENT_LENGTH).cloned();
        // The row is written by the body when the audio ends; this placeholder call takes
        // the real one's place here and records nothing.
        let placeholder = Call::detached(call.app().clone());
        let mut owned = std::mem::replace(call, placeholder);
        owned.upstream_done();
        let body = Passthrough::new(
            res.into_body(),
            owned,
            slot,
            (status, Usage::default()),
            live.config.timeouts.idle,
            deadline,
        );
        let mut out = Response::new(body.boxed_unsync());
        *out.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        out.headers_mut().insert(CONTENT_TYPE, content_type);
        if let Some(length) = length {
            out.headers_mut().insert(CONTENT_LENGTH, length);
        }
        return Ok(Served::Streaming(out));
    }
    let body = read_upstream(res.into_body(), live.config.timeouts.idle, deadline)
        .await
        .map_err(Refusal::from_failure)?;
    drop(slot);
    call.upstream_done();
    call.trace_raw("6_res_client.json", || body.to_vec());
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut usage = Usage::default();
    if let Some(u) = parsed.as_ref().and_then(|v| v.get("usage")) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        usage.prompt_tokens = n("input_tokens");
        usage.completion_tokens = n("output_tokens");
    }
    match op {
        Operation::ImageEdits => {
            let images = parsed
                .as_ref()
                .and_then(|v| v.get("data"))
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            call.images(images as u64);
        }
        _ => {
            // verbose_json says how long the audio was; newer models report it as usage.
            let reported = parsed.as_ref().and_then(|v| {
                v.get("duration")
                    .and_then(Value::as_f64)
                    .or_else(|| v.pointer("/usage/seconds").and_then(Value::as_f64))
            });
            if let Some(seconds) = reported.or(taken.wav_seconds) {
                call.audio_seconds(seconds);
            }
        }
    }
    let mut out = respond::bytes(status, "application/json", body);
    out.headers_mut().insert(CONTENT_TYPE, content_type);
    Ok(Served::Whole(out, status, usage))
}
