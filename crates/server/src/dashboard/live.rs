//! The live tail: one server-sent event stream per open request-log page, fed by the usage
//! sink's broadcast of rows as they are recorded (no polling, nothing per tab on the request
//! path while no page is open).

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
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let events = futures_util::stream::unfold((rx, tick), |(mut rx, mut tick)| async move {
        let bytes = tokio::select! {
            r = rx.recv() => match r {
                Ok(row) => event(&row),
                Err(RecvError::Lagged(n)) => Bytes::from(format!(": {n} rows skipped\n\n")),
                Err(RecvError::Closed) => return None,
            },
            _ = tick.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok::<_, Infallible>(Frame::data(bytes)), (rx, tick)))
    });
    respond::sse(
        StreamBody::new(events)
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

/// One row as the page's script shows it.
fn event(row: &UsageRow) -> Bytes {
    let time = chrono::DateTime::from_timestamp_millis(row.ts_ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let data = json!({
        "request_id": row.request_id,
        "time": time,
        "client_format": row.client_format,
        "provider": row.provider,
        "account": row.account,
        "model": row.requested_model,
        "status": row.status,
        "tokens": row.usage.prompt_tokens + row.usage.completion_tokens,
        "latency_ms": row.latency_ms,
    });
    Bytes::from(format!("event: request\ndata: {data}\n\n"))
}
