//! An upstream answer handed to the client frame by frame as it arrives (speech audio),
//! never collected, with the request's usage row written when it ends: a success once the
//! upstream's last byte went out, a failure if the upstream broke off or went quiet past
//! the idle limit, a cancellation if the client left first. A failure ends the body with an
//! error, so the server aborts the response (no final chunk, or a reset) and the client
//! sees the audio was cut instead of taking it for whole.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use switchyard_hub::{ApiError, ErrorKind, Usage};
use tokio::time::Sleep;

use crate::http::respond::BoxError;
use crate::request::record::Call;
use crate::state::app::InFlight;

pub struct Passthrough {
    upstream: Incoming,
    /// Taken when the row is written.
    call: Option<Call>,
    /// The account's in-flight slot, held until the answer ends.
    slot: Option<InFlight>,
    usage: Usage,
    status: u16,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    total_timer: Pin<Box<Sleep>>,
    ttfb_ms: f64,
}

impl Passthrough {
    pub fn new(
        upstream: Incoming,
        call: Call,
        slot: InFlight,
        (status, usage): (u16, Usage),
        idle: Duration,
        deadline: Instant,
    ) -> Self {
        let ttfb_ms = call.elapsed_ms();
        Passthrough {
            upstream,
            call: Some(call),
            slot: Some(slot),
            usage,
            status,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            total_timer: Box::pin(tokio::time::sleep_until(deadline.into())),
            ttfb_ms,
        }
    }

    /// Records the failure and gives the error that aborts the client's response.
    fn fail(&mut self, message: String) -> BoxError {
        if let Some(mut call) = self.call.take() {
            call.upstream_done();
            call.fail(
                &ApiError::new(502, ErrorKind::Upstream, message.clone()),
                self.usage,
                Some(self.ttfb_ms),
            );
        }
        self.slot = None;
        message.into()
    }
}

impl http_body::Body for Passthrough {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.call.is_none() {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let wake = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(wake);
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => {
                    let err = this.fail(format!("upstream answer broke off: {e}"));
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    if let Some(mut call) = this.call.take() {
                        call.upstream_done();
                        call.succeed(this.status, this.usage, Some(this.ttfb_ms));
                    }
                    this.slot = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        if this.idle_timer.as_mut().poll(cx).is_ready() {
            let ms = this.idle.as_millis();
            let err = this.fail(format!("upstream sent nothing for {ms} ms"));
            return Poll::Ready(Some(Err(err)));
        }
        if this.total_timer.as_mut().poll(cx).is_ready() {
            let err = this.fail("upstream answer took longer than the total time limit".into());
            return Poll::Ready(Some(Err(err)));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.call.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.upstream.size_hint()
    }
}

impl Drop for Passthrough {
    fn drop(&mut self) {
        // The client left before the end: the usage of what was asked still counts.
        if let Some(call) = self.call.take() {
            call.cancel(self.usage, Some(self.ttfb_ms));
        }
    }
}
