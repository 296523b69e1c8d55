//! One try on one account: the request built with the account's credential, sent, and its
//! answer judged (an error status, a body that is not JSON, a stream that breaks or
//! carries an error before its first byte are the upstream's failure, and nothing has yet
//! reached the client).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_auth::Credential;
use switchyard_hub::usage;
use switchyard_hub::{ApiError, Operation, Pipeline, TranslateError, Usage};
use switchyard_provider::{ClientHeaders, Failure, UpstreamRequest};

use crate::config::Timeouts;
use crate::request::record::Call;
use crate::state::app::{Account, App, Provider};
use crate::state::credentials;
use crate::state::debug_log::{headers_json, request_json, scrub};

/// Upper bound on a non-streaming upstream answer held in memory.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// A successful upstream answer, as far as it was read before committing to the upstream.
pub enum Answer {
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
pub enum Parsed {
    /// Passthrough: the usage the body reports (its bytes go out untouched).
    Usage(Option<Usage>),
    /// Translated: the body as JSON.
    Json(Value),
}

/// Everything one try needs besides the body: where it goes, with what, and how long it may
/// take.
pub struct Attempt<'a> {
    pub app: &'a App,
    pub provider: &'a Provider,
    pub account: &'a Account,
    pub model: &'a str,
    pub pipeline: &'a Pipeline,
    /// What the upstream is asked for (an endpoint's operation, or chat).
    pub op: Operation,
    /// Whether the upstream is asked for a stream.
    pub stream: bool,
    pub session: Option<&'a str>,
    /// The client's headers, when the body goes out in the client's own format.
    pub forwarded: Option<&'a ClientHeaders>,
    pub deadline: Instant,
    /// The timeouts of the snapshot the request started with.
    pub timeouts: Timeouts,
    /// Sent to the provider's token-counting endpoint.
    pub count: bool,
}

impl Attempt<'_> {
    /// Sends `body` (already in the provider's format) and judges the answer.
    pub async fn run(&self, call: &mut Call, body: Value) -> Result<Answer, Failure> {
        let credential = credentials::fresh(self.app, self.provider, self.account).await?;
        // Kept only for the debug trace: a binary body (Cursor's protobuf) is shown as the
        // translated request it was encoded from, which says more than its bytes would.
        let shown = call.is_traced().then(|| body.clone());
        // Kept only when a 401 may be answered by renewing the credential and sending again.
        let again = credential.refresh_token().is_some().then(|| body.clone());
        let req = self.build(body, &credential)?;
        call.trace_json_with("3_req_provider.json", || {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_else(
                |_| serde_json::json!({"binary_body_bytes": req.body.len(), "encoded_from": shown}),
            );
            request_json(req.method.as_str(), &req.url, &req.headers, body)
        });
        call.upstream_asked();
        let sent = send(self.app, req, self.timeouts.first_byte, self.deadline).await;
        // A refused token may only be stale: renewed once, the request goes again.
        let sent = credentials::again_after_401(
            self.app,
            self.provider,
            self.account,
            &credential,
            sent,
            |renewed| {
                let req = match again {
                    Some(body) => self.build(body, &renewed),
                    None => Err(Failure::request(ApiError::internal(
                        "no request kept to send again",
                    ))),
                };
                async move { send(self.app, req?, self.timeouts.first_byte, self.deadline).await }
            },
        )
        .await;
        let res = sent?;
        if !res.status().is_success() {
            return Err(self.refused(call, res, &credential).await);
        }
        if !self.stream {
            return self.whole(call, res).await;
        }
        self.first_bytes(res).await
    }

    /// The request for this account's `credential`, with the session and client headers.
    fn build(&self, body: Value, credential: &Credential) -> Result<UpstreamRequest, Failure> {
        let executor = &self.provider.executor;
        let built = if self.count {
            executor.build_count(body, self.model, credential)
        } else {
            executor.build_for(self.op, body, self.model, self.stream, credential)
        };
        let mut req = built.map_err(Failure::request)?;
        if let Some(s) = self.session {
            executor.add_session(s, &mut req.headers);
        }
        if let Some(h) = self.forwarded {
            executor.forward(h, &mut req.headers);
        }
        Ok(req)
    }

    /// An error status: the upstream's answer read and classified by its executor.
    async fn refused(
        &self,
        call: &mut Call,
        res: Response<Incoming>,
        credential: &Credential,
    ) -> Failure {
        let status = res.status().as_u16();
        call.trace_json_with("4_res_provider_headers.json", || {
            headers_json(res.headers())
        });
        let headers = res.headers().clone();
        let body = read_upstream(res.into_body(), self.timeouts.idle, self.deadline)
            .await
            .unwrap_or_default();
        let mut failure = self
            .provider
            .executor
            .classify(self.model, credential, status, &headers, body);
        // Some upstreams quote the key they were sent in their errors; the client, the
        // server log and the usage row must not see it. The account's credential may have
        // been renewed by the retry after a 401, so both are hidden.
        hide_credentials(&mut failure, &[credential, &self.account.credential.get()]);
        failure
    }

    /// A whole answer, read and parsed before committing to this upstream.
    async fn whole(&self, call: &mut Call, res: Response<Incoming>) -> Result<Answer, Failure> {
        let status = res.status().as_u16();
        let body = read_upstream(res.into_body(), self.timeouts.idle, self.deadline).await?;
        call.upstream_done();
        let parsed = parse_whole(self.pipeline, &body).map_err(|e| {
            Failure::connection(format!(
                "upstream answered {status} with a body that is not JSON: {e}"
            ))
        })?;
        Ok(Answer::Whole {
            status,
            body,
            parsed,
        })
    }

    /// A stream's first bytes. Nothing has reached the client yet, so a stream that breaks
    /// before its first byte can still fail over to another account.
    async fn first_bytes(&self, mut res: Response<Incoming>) -> Result<Answer, Failure> {
        let wait = self
            .timeouts
            .first_byte
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let first = tokio::time::timeout(wait, first_data(&mut res))
            .await
            .map_err(|_| {
                Failure::timeout(format!(
                    "upstream sent no stream data within {} ms",
                    wait.as_millis()
                ))
            })??;
        // An error the provider puts in its first frame (Kiro's throttling exception,
        // Cursor's exhausted quota) is as good as an error status: nothing has gone out, so
        // fail over. So is a first event that cannot be read at all (not JSON, a broken
        // frame).
        let mut probe = self.provider.executor.decoder();
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
}

/// The first non-empty data frame of an upstream stream.
async fn first_data(res: &mut Response<Incoming>) -> Result<Bytes, Failure> {
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
    req: UpstreamRequest,
    first_byte: Duration,
    deadline: Instant,
) -> Result<Response<Incoming>, Failure> {
    let mut builder = Request::builder().method(req.method).uri(&req.url);
    if let Some(h) = builder.headers_mut() {
        *h = req.headers;
    }
    let req = builder
        .body(Full::new(req.body))
        .map_err(|e| Failure::connection(format!("invalid upstream request: {e}")))?;
    let wait = first_byte.min(deadline.saturating_duration_since(Instant::now()));
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
pub(super) fn hide_credentials(failure: &mut Failure, credentials: &[&Credential]) {
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
pub async fn read_upstream(
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
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
