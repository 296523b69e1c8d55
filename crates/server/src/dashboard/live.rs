//! The live tail: one server-sent event stream per open request-log page, fed by the usage
//! sink's broadcast of rows as they are recorded (no polling, nothing per tab on the request
//! path while no page is open). In cluster mode the other instances' rows come in too (see
//! `crate::cluster`), so every instance's page shows the whole cluster's requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::http::respond::{self, Body};
use crate::state::app::App;
use crate::state::usage_store::UsageRow;

/// A comment often enough that proxies and browsers keep the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn stream(app: &Arc<App>) -> Response<Body> {
    let rx = app.usage.watch();
    let remote = crate::cluster::active().map(crate::cluster::Cluster::watch_rows);
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let state = (rx, remote, tick);
    let events = futures_util::stream::unfold(state, |(mut rx, mut remote, mut tick)| async move {
        let others = async {
            match remote.as_mut() {
                Some(r) => match r.recv().await {
                    Err(RecvError::Closed) => std::future::pending().await,
                    other => other,
                },
                None => std::future::pending().await,
            }
        };
        let bytes = tokio::select! {
            r = rx.recv() => match r {
                Ok(row) => event(&row),
                Err(RecvError::Lagged(n)) => Bytes::from(format!(": {n} rows skipped\n\n")),
                Err(RecvError::Closed) => return None,
            },
            r = others => match r {
                Ok(frame) => frame,
                Err(RecvError::Lagged(n)) => Bytes::from(format!(": {n} cluster rows skipped\n\n")),
                Err(RecvError::Closed) => Bytes::new(),
            },
            _ = tick.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok::<_, Infallible>(Frame::data(bytes)), (rx, remote, tick)))
    });
    respond::sse(
        StreamBody::new(events)
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

/// One row as the page's script shows it.
fn event(row: &UsageRow) -> Bytes {
    Bytes::from(format!("event: request\ndata: {}\n\n", row_json(row)))
}

/// One row's fields the live tail shows (also what cluster mode shares).
pub(crate) fn row_json(row: &UsageRow) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp_millis(row.ts_ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    json!({
        "request_id": row.request_id,
        "time": time,
        "client_format": row.client_format,
        "provider": row.provider,
        "account": row.account,
        "model": row.requested_model,
        "status": row.status,
        "tokens": row.usage.prompt_tokens + row.usage.completion_tokens,
        "latency_ms": row.latency_ms,
    })
}
