//! The client's upload on its way upstream. Its first bytes are read here (to find the
//! model and rewrite it for each target); a body that ends within them is held and can be
//! sent to any number of accounts, while a longer one is streamed: the rest is pulled from
//! the client only as the upstream takes it, so memory stays flat however large the file.
//! A streamed rest can go upstream once: an attempt that fails before taking any of it
//! hands it on to the next account, one that took some of it ends the request.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use switchyard_hub::{ApiError, ErrorKind};
use switchyard_provider::client::UploadBody;

use crate::request::intake::client_went_away;
use crate::request::record::CLIENT_CLOSED;

/// How much of a body is read before it is routed: enough for the small fields that
/// clients put before the file and for a short recording whole (so it can fail over to
/// another account), small enough that many uploads at once stay cheap.
pub const HEAD_BYTES: usize = 2 * 1024 * 1024;

/// What is left of a streamed body, shared by the attempts that may send it.
pub struct Rest {
    body: Option<Incoming>,
    /// An attempt has pulled from it: it cannot be sent again.
    started: bool,
    /// Bytes read so far, the head included, against the body limit.
    read: u64,
    limit: u64,
    too_large: bool,
    client_left: bool,
}

/// The first bytes of a body and what follows them.
pub struct Head {
    pub bytes: Bytes,
    /// `None` when `bytes` is the whole body.
    pub rest: Option<Arc<Mutex<Rest>>>,
    /// The whole body's declared length, when the client declared one.
    pub declared: Option<u64>,
}

/// Reads the first [`HEAD_BYTES`] of `body` (more if one frame carries more), within the
/// body limit and the client's pause limit.
pub async fn read_head(
    mut body: Incoming,
    declared: Option<u64>,
    limit: usize,
    pause: Duration,
) -> Result<Head, ApiError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit as u64));
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut ended = false;
    while buf.len() < HEAD_BYTES {
        let frame = tokio::time::timeout(pause, body.frame())
            .await
            .map_err(|_| {
                ApiError::new(
                    408,
                    ErrorKind::Timeout,
                    format!(
                        "the request body stopped arriving: nothing for {} ms",
                        pause.as_millis()
                    ),
                )
            })?;
        match frame {
            None => {
                ended = true;
                break;
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    if buf.len() > limit {
                        return Err(too_large(limit as u64));
                    }
                }
            }
            Some(Err(e)) if client_went_away(&e) => return Err(client_left()),
            Some(Err(e)) => {
                return Err(ApiError::invalid_request(format!(
                    "could not read the request body: {e}"
                )));
            }
        }
    }
    let read = buf.len() as u64;
    Ok(Head {
        bytes: buf.into(),
        rest: (!ended).then(|| {
            Arc::new(Mutex::new(Rest {
                body: Some(body),
                started: false,
                read,
                limit: limit as u64,
                too_large: false,
                client_left: false,
            }))
        }),
        declared,
    })
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        413,
        ErrorKind::PayloadTooLarge,
        format!("request body is larger than the {limit}-byte limit"),
    )
}

fn client_left() -> ApiError {
    ApiError::new(
        CLIENT_CLOSED,
        ErrorKind::InvalidRequest,
        "the client closed the connection before sending its whole body",
    )
}

/// The body as it goes to one target: its head (rewritten for the target's model) and the
/// shared rest.
pub struct Upload {
    pub content_type: HeaderValue,
    pub head: Bytes,
    /// The length of the client's head, before the rewrite.
    client_head_len: u64,
    rest: Option<Arc<Mutex<Rest>>>,
    declared: Option<u64>,
}

fn lock(rest: &Mutex<Rest>) -> MutexGuard<'_, Rest> {
    rest.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Upload {
    pub fn new(content_type: HeaderValue, client: &Head, head: Bytes) -> Self {
        Upload {
            content_type,
            head,
            client_head_len: client.bytes.len() as u64,
            rest: client.rest.clone(),
            declared: client.declared,
        }
    }

    /// Whether the body is held whole (and so can go to any number of accounts).
    pub fn is_whole(&self) -> bool {
        self.rest.is_none()
    }

    /// Whether the streamed rest already went upstream once (and so cannot again).
    pub fn spent(&self) -> bool {
        self.rest.as_deref().is_some_and(|r| lock(r).started)
    }

    /// A body to send; `None` when the streamed rest already went upstream once.
    pub fn body(&self) -> Option<UploadBody> {
        if self.spent() {
            return None;
        }
        let len = match &self.rest {
            None => Some(self.head.len() as u64),
            Some(_) => self
                .declared
                .and_then(|d| d.checked_sub(self.client_head_len))
                .map(|tail| tail + self.head.len() as u64),
        };
        Some(
            Sending {
                head: Some(self.head.clone()),
                rest: self.rest.clone(),
                len,
                sent: 0,
            }
            .boxed(),
        )
    }

    /// Why sending failed when it was the client's doing (a body over the limit, a client
    /// that left mid-upload), rather than the upstream's.
    pub fn client_fault(&self) -> Option<ApiError> {
        let rest = lock(self.rest.as_deref()?);
        if rest.too_large {
            Some(too_large(rest.limit))
        } else if rest.client_left {
            Some(client_left())
        } else {
            None
        }
    }
}

/// One attempt's body: the head, then the rest pulled from the client as it is asked for.
struct Sending {
    head: Option<Bytes>,
    rest: Option<Arc<Mutex<Rest>>>,
    /// The exact length, when known, so the upstream gets a `Content-Length`.
    len: Option<u64>,
    sent: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl http_body::Body for Sending {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(head) = self.head.take().filter(|h| !h.is_empty()) {
            self.sent += head.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        let Some(shared) = self.rest.clone() else {
            return Poll::Ready(None);
        };
        let mut rest = lock(&shared);
        rest.started = true;
        let Some(body) = rest.body.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(body).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                rest.body = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    // Trailers are not forwarded; ask again for data.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                };
                rest.read += data.len() as u64;
                if rest.read > rest.limit {
                    rest.too_large = true;
                    rest.body = None;
                    return Poll::Ready(Some(Err("request body over the limit".into())));
                }
                drop(rest);
                self.sent += data.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(e))) => {
                rest.client_left = client_went_away(&e);
                rest.body = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.len {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.sent)),
            None => SizeHint::default(),
        }
    }
}
