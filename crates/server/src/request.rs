//! The life of a proxied request, in phases: `intake` (who is calling, their limits, the
//! body read and checked), `resolve` (the model string to targets), `deliver` (each target
//! and account in turn, one `attempt` each, until an upstream answers), `answer` (the
//! client answered in its own format) and `record` (the usage row and debug trace every
//! request leaves, however it ends).

pub mod answer;
pub mod attempt;
pub mod deliver;
pub mod intake;
pub mod record;
pub mod resolve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::usage::estimate_tokens;
use switchyard_hub::{ApiError, Format, Usage};
use switchyard_provider::ClientHeaders;

use crate::http::respond::{self, Body};
use crate::http::stream_body::StreamBody;
use crate::state::app::{App, Snapshot};
use answer::{Outcome, Reply};
use deliver::{Delivery, Undelivered};
use record::{CLIENT_CLOSED, Call};

/// What the endpoint knows before the body is read.
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

/// Serves one proxied request: [`run`] decides how it ends, and this turns that into the
/// response and the request's usage row.
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Response<Body> {
    // Backpressure: while the usage writer is behind (a slow disk), a request that will
    // write a row waits for room in its queue; on a kept-alive connection that is after the
    // previous answer was delivered. Health checks and metrics do not wait.
    app.usage.room().await;
    // The one load of the live configuration: everything below uses this snapshot, so a
    // reconfiguration while the request runs changes nothing for it.
    let live = app.snapshot();
    let mut call = Call::new(app.clone(), &live, endpoint.client);
    let client = endpoint.client;
    let id = call.id().to_owned();
    let res = match run(&app, &live, &mut call, req, peer, endpoint).await {
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
            match overhead.filter(|_| live.config.overhead_header) {
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

/// The phases in order; each returns early with the error that ends the request.
async fn run(
    app: &App,
    live: &Snapshot,
    call: &mut Call,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Result<Outcome, ApiError> {
    let (parts, body) = req.into_parts();
    intake::admit(app, live, call, &parts.headers, peer)?;
    let intake = intake::read(app, live, call, &parts, body, &endpoint).await?;
    call.requested(&intake.model, intake.stream);
    let resolved = resolve::resolve(live, &intake.model)?;
    call.resolved(resolved.combo);
    if endpoint.kind == EndpointKind::CountTokens {
        return Ok(answer::count_tokens(endpoint.client, &intake.body));
    }
    let reply = Reply {
        stream: intake.stream,
        client_wants_usage: intake
            .body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        prompt_estimate: estimate_tokens(intake.size),
        idle: live.config.timeouts.idle,
        deadline: Instant::now() + live.config.timeouts.total,
    };
    let session = intake::session_id(&parts.headers, &live.config.routing.session_header);
    let client_headers = ClientHeaders::from_request(endpoint.client, &parts.headers);
    let delivery = Delivery {
        app,
        live,
        client: endpoint.client,
        stream: intake.stream,
        session: session.as_deref(),
        client_headers: &client_headers,
        deadline: reply.deadline,
    };
    match delivery.deliver(call, &resolved.targets, intake.body).await {
        Ok(delivered) => answer::answer(call, delivered, &reply).await,
        Err(Undelivered::Request(e)) => Err(e),
        Err(Undelivered::Failed(failure, pipeline)) => {
            Ok(answer::failed(call, &pipeline, *failure))
        }
    }
}
