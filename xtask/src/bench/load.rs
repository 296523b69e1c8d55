//! The load generator: one HTTP/1.1 connection per concurrent requester, no shared pool,
//! so the generator spends little of the cores it shares with what it measures.
//!
//! Three shapes: one request at a time (latency), closed loop at a concurrency (the most
//! requests per second), and open loop at a fixed rate, where each request's latency counts
//! from when it was due, so a slow answer that holds up later requests shows in their
//! latency too (no coordinated omission).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    pub body: Bytes,
}

/// One connection; requests on it go one after another.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(Conn {
            send,
            host: addr.to_string(),
        })
    }

    /// One request; returns (time to the first body byte, total time), both from `since`.
    pub async fn request(
        &mut self,
        t: &Target,
        since: Instant,
    ) -> Result<(Duration, Duration), String> {
        self.request_as(t, since, None).await
    }

    /// [`Conn::request`] with a client key (`Authorization: Bearer`).
    pub async fn request_as(
        &mut self,
        t: &Target,
        since: Instant,
        key: Option<&str>,
    ) -> Result<(Duration, Duration), String> {
        self.send.ready().await.map_err(|e| e.to_string())?;
        let mut req = http::Request::post(t.path.as_str())
            .header("host", self.host.as_str())
            .header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        let req = req
            .body(Full::new(t.body.clone()))
            .map_err(|e| e.to_string())?;
        let res = self
            .send
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let mut body = res.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let mut first = None;
        while let Some(frame) = body.frame().await {
            frame.map_err(|e| e.to_string())?;
            first.get_or_insert_with(|| since.elapsed());
        }
        let total = since.elapsed();
        Ok((first.unwrap_or(total), total))
    }
}

impl Conn {
    /// A GET with `headers`; returns the status and the whole body.
    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Bytes), String> {
        self.send.ready().await.map_err(|e| e.to_string())?;
        let mut req = http::Request::get(path).header("host", self.host.as_str());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let res = self
            .send
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }

    /// Any request with `headers` and `body`; returns the status, headers and whole body.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, http::HeaderMap, Bytes), String> {
        self.send.ready().await.map_err(|e| e.to_string())?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.host.as_str());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let res = self
            .send
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, parts.headers, body))
    }
}

/// Closed loop: `c` connections, each sending its next request as soon as the last is
/// answered, for `dur`. Returns (requests answered, seconds).
pub async fn closed_loop(t: &Target, c: usize, dur: Duration) -> Result<(u64, f64), String> {
    let mut conns = Vec::with_capacity(c);
    for _ in 0..c {
        conns.push(Conn::open(t.addr).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (t, stop, done) = (t.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if conn.request(&t, Instant::now()).await.is_err() {
                        return;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    Ok((n, elapsed))
}

/// Open loop: requests due at `rate` per second for `dur`, evenly spaced, sent on whichever
/// of `c` connections is free. Returns each request's latency in microseconds, counted from
/// when it was due, and how many failed.
///
/// The calling thread paces the requests with the OS's sleep, which is finer than tokio's
/// millisecond timer: with that, requests would leave in bursts at each tick.
pub fn open_loop(
    rt: &tokio::runtime::Runtime,
    t: &Target,
    rate: u32,
    c: usize,
    dur: Duration,
) -> Result<(Vec<f64>, u64), String> {
    let (free_tx, mut free_rx) = tokio::sync::mpsc::channel::<Conn>(c);
    rt.block_on(async {
        for _ in 0..c {
            let conn = Conn::open(t.addr).await?;
            let _ = free_tx.send(conn).await;
        }
        Ok::<_, String>(())
    })?;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<f64, String>>();
    let total = (f64::from(rate) * dur.as_secs_f64()) as u64;
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now();
    for i in 0..total {
        let due = start + every.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            #[expect(
                clippy::disallowed_methods,
                reason = "open-loop pacing on the calling thread, not a runtime worker; requests reach the runtime through a channel"
            )]
            std::thread::sleep(wait);
        }
        let Some(mut conn) = free_rx.blocking_recv() else {
            break;
        };
        let (t, free_tx, done_tx) = (t.clone(), free_tx.clone(), done_tx.clone());
        rt.spawn(async move {
            let result = conn.request(&t, due).await;
            let _ = done_tx.send(result.map(|(_, total)| total.as_secs_f64() * 1e6));
            if !conn.send.is_closed() {
                let _ = free_tx.send(conn).await;
            } else if let Ok(fresh) = Conn::open(t.addr).await {
                let _ = free_tx.send(fresh).await;
            }
        });
    }
    drop(done_tx);
    let (mut latencies, mut failed) = (Vec::with_capacity(total as usize), 0);
    rt.block_on(async {
        while let Some(r) = done_rx.recv().await {
            match r {
                Ok(us) => latencies.push(us),
                Err(_) => failed += 1,
            }
        }
    });
    Ok((latencies, failed))
}
