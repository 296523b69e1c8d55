//! The life of a proxied request, in phases: `intake` (who is calling, their limits, the
//! body read and checked), `resolve` (the model string to targets), `deliver` (each target
//! and account in turn, one `attempt` each, until an upstream answers), `answer` (the
//! client answered in its own format) and `record` (the usage row and debug trace every
//! request leaves, however it ends). Bodies that pass through untranslated (audio, image
//! edits) take the same phases in `media`.

pub mod answer;
pub mod attempt;
pub mod deliver;
pub mod hygiene;
pub mod intake;
pub mod keep_alive;
pub mod media;
pub mod probe;
pub mod record;
pub mod resolve;
pub mod video;
mod walk;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::usage::{estimate_prompt_tokens, estimate_tokens};
use switchyard_hub::{ApiError, Format, Operation, Usage};
use switchyard_provider::ClientHeaders;

use crate::http::respond::{self, Body};
use crate::http::stream_body::StreamBody;
use crate::state::app::{App, Snapshot};
use answer::{Outcome, Reply};
use deliver::{Delivery, Undelivered};
use record::{CLIENT_CLOSED, Call};

/// A request's body: still to read from the connection, or already read.
pub enum ClientBody {
    Incoming(Incoming),
    Read(bytes::Bytes),
}

/// What the endpoint knows before the body is read.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// What the model is asked to do (chat, embeddings...).
    pub op: Operation,
    pub client: Format,
    pub kind: EndpointKind,
    /// The model named in the path (Gemini routes), which the body does not carry.
    pub path_model: Option<String>,
    /// Streaming decided by the path (Gemini's `:streamGenerateContent`).
    pub path_stream: Option<bool>,
    /// The provider named in the path (`/v1/providers/{name}/...`): the model string is
    /// looked up within it only.
    pub pinned: Option<String>,
    /// Whether the format's registration serves this route over a WebSocket too (Codex's
    /// Responses transport).
    pub websocket: bool,
}

/// What an endpoint asks for; each format declares it with its routes.
pub use switchyard_hub::wire::RouteKind as EndpointKind;

/// Serves one proxied request: [`prepare`] reads and checks it, [`deliver`] gets it
/// answered, and [`respond`] turns how that ended into the response and the usage row. A
/// stream whose upstream is slow to answer is committed to early (see [`keep_alive`]).
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Response<Body> {
    // Every phase's future is boxed where it starts, so this future (which hyper moves into
    // place for every request, a copy of its whole size) holds pointers, not the phases:
    // unboxed, the rare routes and the delivery inlined here made it ~9.5 KB.
    if endpoint.op == Operation::Videos {
        return Box::pin(video::handle(app, req, peer, endpoint)).await;
    }
    if endpoint.op.raw_body() {
        return Box::pin(media::handle(app, req, peer, endpoint)).await;
    }
    let (parts, body) = req.into_parts();
    Box::pin(handle_parts(
        app,
        parts,
        ClientBody::Incoming(body),
        peer,
        endpoint,
    ))
    .await
}

/// [`handle`] for a request whose body may already be in hand (a message from a
/// WebSocket): the same phases, limits, usage row and debug log.
pub async fn handle_parts(
    app: Arc<App>,
    parts: http::request::Parts,
    body: ClientBody,
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
    let prepared = Box::pin(prepare(&app, &live, &mut call, parts, body, peer, endpoint)).await;
    let res = match prepared {
        Ok(Prepared::Answered(outcome)) => respond::with_header(
            respond(&live, call, client, Ok(outcome)),
            TOKEN_COUNT_HEADER,
            "estimated",
        ),
        Ok(Prepared::Deliver(job)) if job.count => {
            let (outcome, call) = Box::pin(deliver(app.clone(), live.clone(), call, job)).await;
            let res = respond(&live, call, client, outcome);
            respond::with_header(res, TOKEN_COUNT_HEADER, "provider")
        }
        Ok(Prepared::Deliver(job)) => {
            let every = live.config.timeouts.keepalive.filter(|_| job.reply.stream);
            let answering = Box::pin(deliver(app.clone(), live.clone(), call, job));
            match every {
                Some(every) => keep_alive::answer(&live, client, answering, every).await,
                None => {
                    let (outcome, call) = answering.await;
                    respond(&live, call, client, outcome)
                }
            }
        }
        Err(err) => respond(&live, call, client, Err(err)),
    };
    respond::with_request_id(res, &id)
}

/// How a request ended, as the response and its usage row.
fn respond(
    live: &Snapshot,
    call: Call,
    client: Format,
    outcome: Result<Outcome, ApiError>,
) -> Response<Body> {
    match outcome {
        Ok(Outcome::Stream(setup)) => respond::sse(
            StreamBody::new(*setup, call)
                .map_err(|never| match never {})
                .boxed_unsync(),
        ),
        Ok(Outcome::Json {
            status,
            body,
            usage,
        }) => {
            let mut call = call;
            if client == Format::Responses
                && status == 200
                && call.keeps_answer()
                && let Ok(response) = serde_json::from_slice::<Value>(&body)
            {
                call.responded(&response);
            }
            let ttfb = call.elapsed_ms();
            let overhead = call.overhead();
            let cost = call.succeed(status, usage, Some(ttfb));
            let mut res = respond::bytes(status, "application/json", body);
            if live.config.cost_header {
                res = respond::with_header(res, COST_HEADER, &cost_text(cost));
            }
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
    }
}

/// The response header of a token count that says where the number came from: `provider`
/// (the target's own counting endpoint) or `estimated` (a local guess, for providers
/// without one).
pub const TOKEN_COUNT_HEADER: &str = "x-switchyard-token-count";

/// The response header with a non-streaming answer's cost, when `server.cost_header` is on.
pub const COST_HEADER: &str = "x-switchyard-cost-usd";

/// A cost as the header and the stream comment give it: dollars to a millionth of a cent,
/// or `unknown` for a model with no price.
pub fn cost_text(cost: Option<f64>) -> String {
    cost.map_or_else(|| "unknown".to_owned(), |c| format!("{c:.8}"))
}

/// A request read and checked: answered already (a token count), or to deliver upstream.
enum Prepared {
    Answered(Outcome),
    Deliver(Job),
}

/// What delivering a request needs, owned, so that it can outlive the handler's first
/// answer (a keep-alive stream) as the body's own future.
struct Job {
    client: Format,
    body: Value,
    targets: Vec<resolve::Target>,
    reply: Reply,
    session: Option<String>,
    client_headers: ClientHeaders,
    /// A token count for the targets' own counting endpoints.
    count: bool,
}

/// The phases before any upstream is asked; each returns early with the error that ends
/// the request.
async fn prepare(
    app: &App,
    live: &Snapshot,
    call: &mut Call,
    parts: http::request::Parts,
    body: ClientBody,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Result<Prepared, ApiError> {
    intake::admit(app, live, call, &parts.headers, peer).await?;
    let intake = intake::read(app, live, call, &parts, body, &endpoint).await?;
    call.requested(&intake.model, intake.stream);
    call.operation(endpoint.op);
    if endpoint.client == Format::Responses
        && endpoint.op == Operation::Chat
        && endpoint.kind == EndpointKind::Generate
        && let Some(pending) = crate::state::responses::Pending::of(&intake.body)
    {
        call.continues(pending);
    }
    let mut resolved = match &endpoint.pinned {
        Some(provider) => resolve::resolve_pinned(live, provider, &intake.model)?,
        None => resolve::resolve(live, &intake.model)?,
    };
    let count = endpoint.kind == EndpointKind::CountTokens;
    turn_round_robin(app, &mut resolved, &intake.model, count);
    call.resolved(resolved.combo);
    if count {
        // Counted by the first targets that have a counting endpoint; estimated here only
        // when none has.
        resolved.targets.retain(|t| {
            live.providers
                .get(t.provider)
                .is_some_and(|p| p.executor.counts_tokens())
        });
        if resolved.targets.is_empty() {
            return Ok(Prepared::Answered(answer::count_tokens(
                endpoint.client,
                &intake.body,
            )));
        }
    }
    deliver::keep_serving(
        live,
        &mut resolved.targets,
        endpoint.op,
        &intake.model,
        parts.uri.path(),
    )?;
    // A chat body is mostly prompt, so its size is a fair guess that costs nothing; the
    // other bodies are small and walked for their text.
    let prompt_estimate = if endpoint.op.via_chat() {
        estimate_tokens(intake.size)
    } else {
        estimate_prompt_tokens(&intake.body)
    };
    if resolved.strategy != crate::config::TargetStrategy::Order {
        let need = crate::routing::targets::Need::of(&intake.body, prompt_estimate);
        crate::routing::targets::order(
            &mut resolved.targets,
            resolved.strategy,
            &need,
            &live.providers,
            &live.config.catalogue,
            &app.latencies,
            switchyard_hub::clock::now(),
        );
    }
    let reply = Reply {
        op: endpoint.op,
        stream: intake.stream,
        // Two lookups, not `pointer`: it copies each path segment to unescape it.
        client_wants_usage: intake
            .body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        prompt_estimate,
        idle: live.config.timeouts.idle,
        deadline: Instant::now() + live.config.timeouts.total,
    };
    Ok(Prepared::Deliver(Job {
        client: endpoint.client,
        body: intake.body,
        targets: resolved.targets,
        reply,
        session: intake::session_id(&parts.headers, &live.config.routing.session_header),
        client_headers: ClientHeaders::from_request(endpoint.client, &parts.headers),
        count,
    }))
}

/// A round-robin combo turns before the call takes its name; a token count is not a turn,
/// so it goes where the next turn will and leaves the combo where it stands.
fn turn_round_robin(app: &App, resolved: &mut resolve::Resolved, model: &str, count: bool) {
    if resolved.strategy != crate::config::TargetStrategy::RoundRobin {
        return;
    }
    // A wildcard has no combo name; the model string stands for it.
    let name = resolved.combo.as_deref().unwrap_or(model);
    let start = if count {
        app.rotations.peek(name, resolved.targets.len())
    } else {
        app.rotations.take(name, resolved.targets.len())
    };
    resolved.targets.rotate_left(start);
}

/// Delivers the request upstream and answers it; the call comes back with the outcome, so
/// whoever awaits this (the handler, or a keep-alive body) records it.
async fn deliver(
    app: Arc<App>,
    live: Arc<Snapshot>,
    mut call: Call,
    job: Job,
) -> (Result<Outcome, ApiError>, Call) {
    let Job {
        client,
        body,
        targets,
        reply,
        session,
        client_headers,
        count,
    } = job;
    let delivery = Delivery {
        app: &app,
        live: &live,
        client,
        op: reply.op,
        stream: reply.stream,
        session: session.as_deref(),
        client_headers: &client_headers,
        deadline: reply.deadline,
        count,
    };
    // Boxed each, so this future is the larger of the two rather than both side by side.
    let delivered = Box::pin(delivery.deliver(&mut call, &targets, body)).await;
    let outcome = match delivered {
        Ok(delivered) if count => answer::counted(client, delivered),
        Ok(delivered) => Box::pin(answer::answer(&mut call, delivered, &reply)).await,
        Err(Undelivered::Request(e)) => Err(e),
        Err(Undelivered::Failed(failure, pipeline)) => {
            Ok(answer::failed(&mut call, &pipeline, *failure))
        }
    };
    (outcome, call)
}
