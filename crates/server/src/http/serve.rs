//! The listener: accepts connections (HTTP/1.1 and HTTP/2) and serves them until a
//! shutdown signal, then lets open requests finish. It bounds what clients can hold: the
//! number of open connections, and how long one may stay silent before its request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::busy_poll::BusyPoll;
use crate::http::endpoints;
use crate::state::app::App;

/// Connections the kernel queues for `accept`. The default (128, the standard library's)
/// drops a burst's SYNs beyond it and each dropped client waits a second to try again:
/// 2,000 clients connecting at once took 13 s to get in. The kernel caps it at its own
/// `somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// One listening socket per serving thread, all on the same port (`SO_REUSEPORT`): the
/// kernel spreads new connections across them, so a connection stays on the thread that
/// accepted it.
pub fn listeners(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    if count <= 1 {
        return Ok(vec![listener(addr, false)?]);
    }
    // Another process serving the port with SO_REUSEPORT would let these sockets join its
    // group and share its connections unnoticed; a plain bind first proves the port is free
    // (and picks the port when asked for port 0).
    let addr = {
        let probe = socket(addr)?;
        probe.bind(&addr.into())?;
        probe
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("no socket address"))?
    };
    (0..count).map(|_| listener(addr, true)).collect()
}

fn socket(addr: SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    Ok(socket)
}

fn listener(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    let socket = socket(addr)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG as i32)?;
    Ok(socket.into())
}

pub async fn run(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    // Process-level settings: every snapshot carries those the process started with.
    let started = app.snapshot();
    let header_timeout = started.config.timeouts.client_header;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that trickles its headers (slowloris), or keeps a connection idle between
    // requests, is cut off instead of holding a connection open for ever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let busy = BusyPoll::new(started.config.busy_poll);
    tokio::spawn(busy.clone().run());
    let open = app.open_connections.clone();
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut refusing = false;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors, typically: back off instead of spinning, so
                    // requests on open connections still get the CPU.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if !std::mem::replace(&mut refusing, true) {
                tracing::warn!(
                    "{} client connections are open (server.max_connections): refusing more with 503 until some close",
                    started.config.max_connections
                );
            }
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                tokio::spawn(refuse(stream, slot));
            }
            continue;
        };
        if std::mem::take(&mut refusing) {
            tracing::info!("accepting client connections again");
        }
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let busy = busy.clone();
        // Whether a request has come in on this connection: one that has sent none when
        // the header timeout passes is closed, which hyper's own timer does not cover
        // before it knows the protocol (a connection that sends nothing at all).
        let asked = Arc::new(AtomicBool::new(false));
        let asked_here = asked.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            let busy = busy.clone();
            asked_here.store(true, Ordering::Relaxed);
            // A request in: poll while the upstream is asked, and after the answer for
            // the client's next request on this connection.
            busy.touch();
            async move {
                let res = endpoints::dispatch(app, req, peer).await;
                busy.touch();
                Ok::<_, std::convert::Infallible>(res)
            }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = &mut conn => ended,
                () = tokio::time::sleep(header_timeout) => {
                    if !asked.load(Ordering::Relaxed) {
                        tracing::debug!("connection from {peer} sent no request within {} ms; closed", header_timeout.as_millis());
                        return;
                    }
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
    tracing::info!("shutting down; waiting up to 10 s for open requests");
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

/// Connections being refused at once; beyond it a connection is closed without a word, so
/// a flood of them costs no more than this many small tasks.
const MAX_REFUSALS: usize = 64;

/// What a connection beyond `server.max_connections` is told before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 56\r\nretry-after: 1\r\nconnection: close\r\n\r\nswitchyard: too many open connections, try again later.\n";

/// Answers a connection over the limit with a 503 and closes it. What the client has sent
/// is read (briefly) first: closing a socket with unread data resets it, and the client
/// would see a reset instead of the answer.
async fn refuse(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
