//! A minimal hyper server that fakes share: bind 127.0.0.1:0 (or another address), route every
//! request to a handler.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

pub type FakeBody = UnsyncBoxBody<Bytes, std::io::Error>;

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<FakeBody> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|e: Infallible| match e {})
                .boxed_unsync(),
        )
        .unwrap()
}

/// Serves `handler` on a fresh loopback port until the runtime stops.
pub async fn serve<H, F>(handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<FakeBody>> + Send + 'static,
{
    serve_on("127.0.0.1:0", handler).await
}

/// Serves `handler` on `bind` (a fresh port when it ends in `:0`) until the runtime stops.
/// Containers on a bridge network reach the host through its bridge address, not loopback,
/// so the container tests bind `0.0.0.0:0`.
pub async fn serve_on<H, F>(bind: &str, handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<FakeBody>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}
