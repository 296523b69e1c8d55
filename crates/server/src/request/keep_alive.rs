//! SSE keep-alive while a stream waits for its upstream. A streaming request whose provider
//! is slow to send its first byte (a long prompt, a thinking model, a queue upstream) would
//! leave the client with no response at all, and clients and load balancers drop a
//! connection that stays silent (60 s is common). Past `timeouts.keepalive_ms` without an
//! answer the stream is committed to: the client gets its 200 and SSE headers, then a
//! comment (`: keep-alive`, which every SSE reader skips) each interval until the upstream
//! answers. Failover goes on meanwhile; a failure that ends the request then reaches the
//! client as its format's error event instead of an error status.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use switchyard_hub::{ApiError, Format, Usage};
use tokio::time::Sleep;

use crate::http::respond::{self, Body};
use crate::http::stream_body::StreamBody;
use crate::request::answer::Outcome;
use crate::request::record::Call;
use crate::state::app::Snapshot;

/// The comment sent while waiting.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The request being delivered, with its call handed back at the end.
pub type Answering = Pin<Box<dyn Future<Output = (Result<Outcome, ApiError>, Call)> + Send>>;

/// Answers as usual when the upstream answers within `every`; past it, commits to a stream
/// that keeps the client's connection alive until the upstream answers.
pub async fn answer(
    live: &Snapshot,
    client: Format,
    mut answering: Answering,
    every: Duration,
) -> Response<Body> {
    tokio::select! {
        (outcome, call) = &mut answering => super::respond(live, call, client, outcome),
        () = tokio::time::sleep(every) => {
            tracing::debug!("upstream slow to answer a stream: sending keep-alives every {} ms", every.as_millis());
            respond::sse(
                KeepAliveBody {
                    state: State::Waiting(answering),
                    client,
                    tick: Box::pin(tokio::time::sleep(Duration::ZERO)),
                    every,
                }
                .map_err(|never| match never {}).boxed_unsync(),
            )
        }
    }
}

enum State {
    Waiting(Answering),
    Streaming(Box<StreamBody>),
    /// The request ended without a stream: its error event, sent once.
    Last(Option<Bytes>),
}

struct KeepAliveBody {
    state: State,
    client: Format,
    tick: Pin<Box<Sleep>>,
    every: Duration,
}

impl KeepAliveBody {
    /// What follows the keep-alives, once the request is answered.
    fn settle(&self, outcome: Result<Outcome, ApiError>, call: Call) -> State {
        let err = match outcome {
            Ok(Outcome::Stream(setup)) => {
                return State::Streaming(Box::new(StreamBody::new(*setup, call)));
            }
            Ok(Outcome::Failed(err, _)) | Err(err) => err,
            // A streaming request always gets a stream from its upstream.
            Ok(Outcome::Json { .. }) => {
                ApiError::internal("a streaming request was answered with a whole body")
            }
        };
        let mut buf = Vec::new();
        err.stream_end(self.client).encode(&mut buf);
        call.fail(&err, Usage::default(), None);
        State::Last(Some(Bytes::from(buf)))
    }
}

impl HttpBody for KeepAliveBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Waiting(answering) => match answering.as_mut().poll(cx) {
                    Poll::Ready((outcome, call)) => this.state = this.settle(outcome, call),
                    Poll::Pending => {
                        if this.tick.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        let next = tokio::time::Instant::now() + this.every;
                        this.tick.as_mut().reset(next);
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE)))));
                    }
                },
                State::Streaming(body) => return Pin::new(body.as_mut()).poll_frame(cx),
                State::Last(last) => return Poll::Ready(last.take().map(|b| Ok(Frame::data(b)))),
            }
        }
    }
}
