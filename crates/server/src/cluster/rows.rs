//! The whole cluster's requests in every instance's live tail, and per-minute figures for
//! the cluster. Each instance still writes its own full usage rows to its own database; what
//! it shares is the short form the live tail shows: appended to a capped Redis stream (the
//! cluster's recent requests, for tools that read Redis) and published on the events
//! channel, from which every other instance's open live-tail pages receive it. The same
//! task adds each row to its minute's counters (requests, errors, tokens, cost) in a Redis
//! hash, which `/api/cluster/minutes` reads back for the overview.
//!
//! Off the request path: a task takes rows from the usage writer's broadcast, in batches of
//! what arrives within 100 ms, and sends each batch in one round trip. Rows recorded while Redis is
//! away are not sent (the live tail is live; every row is in its instance's database).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{Cluster, ClusterError, Envelope, Event, PREFIX, channel};
use crate::state::usage_store::UsageRow;

/// How many recent rows the stream keeps (approximately: trimmed in whole nodes).
const STREAM_LEN: u32 = 10_000;
/// How long a minute's counters stay in Redis.
const MINUTE_TTL_SECS: u64 = 2 * 86_400;
/// The most rows sent in one round trip.
const BATCH: usize = 200;
/// How long the first row of a batch waits for others: the live tail is this much later,
/// and under load a round trip carries many rows instead of one.
const LINGER: std::time::Duration = std::time::Duration::from_millis(100);

fn stream_key() -> String {
    format!("{PREFIX}requests")
}

fn minute_key(minute: i64) -> String {
    format!("{PREFIX}minute:{minute}")
}

/// One row as the live tail shows it, with the instance that served it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SharedRow {
    pub row: serde_json::Value,
}

/// Rows from the other instances, for the live-tail pages open here.
pub struct Remote {
    tx: broadcast::Sender<Bytes>,
}

impl Default for Remote {
    fn default() -> Self {
        Remote {
            tx: broadcast::channel(1024).0,
        }
    }
}

/// The counters of one minute of the cluster's requests.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Minute {
    /// The minute's start, in epoch milliseconds.
    pub ts_ms: i64,
    pub requests: u64,
    pub errors: u64,
    pub tokens: u64,
    pub cost_usd: f64,
}

impl Cluster {
    /// The other instances' rows as live-tail events, from now on.
    pub fn watch_rows(&self) -> broadcast::Receiver<Bytes> {
        self.rows.tx.subscribe()
    }

    /// Sends this instance's rows to the others while it lives.
    pub(super) async fn share_rows(&'static self) {
        let Some(mut rx) = self.app().map(|app| app.usage.watch()) else {
            return;
        };
        loop {
            let first = match rx.recv().await {
                Ok(row) => row,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // Rows that arrive within LINGER of the first go in the same round trip: one
            // per row would cost every request a Redis write here and a wake-up in every
            // other instance (measured: about 80 µs at the median on a 2-core machine).
            let mut batch = vec![first];
            let until = tokio::time::Instant::now() + LINGER;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Ok(row)) => batch.push(row),
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                }
            }
            if !self.link.is_up() {
                continue;
            }
            if let Err(e) = self.send_rows(&batch).await {
                self.link.failed(&e);
            }
        }
    }

    async fn send_rows(&self, rows: &[std::sync::Arc<UsageRow>]) -> Result<(), ClusterError> {
        let mut pipe = redis::pipe();
        let mut minutes: BTreeMap<i64, Minute> = BTreeMap::new();
        for row in rows {
            let mut data = crate::dashboard::live::row_json(row);
            data["instance"] = serde_json::Value::String(self.id.clone());
            pipe.cmd("XADD")
                .arg(stream_key())
                .arg("MAXLEN")
                .arg("~")
                .arg(STREAM_LEN)
                .arg("*")
                .arg("row")
                .arg(data.to_string())
                .ignore();
            let text = serde_json::to_string(&Envelope {
                seq: 0,
                from: self.id.clone(),
                event: Event::Row(SharedRow { row: data }),
            })?;
            pipe.cmd("PUBLISH").arg(channel()).arg(text).ignore();
            let m = minutes.entry(row.ts_ms.div_euclid(60_000)).or_default();
            m.requests += 1;
            m.errors += u64::from(row.status >= 400);
            m.tokens += row.usage.prompt_tokens + row.usage.completion_tokens;
            m.cost_usd += row.cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
        }
        for (minute, m) in &minutes {
            let key = minute_key(*minute);
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg("requests")
                .arg(m.requests)
                .ignore();
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg("errors")
                .arg(m.errors)
                .ignore();
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg("tokens")
                .arg(m.tokens)
                .ignore();
            if m.cost_usd > 0.0 {
                pipe.cmd("HINCRBYFLOAT")
                    .arg(&key)
                    .arg("cost_usd")
                    .arg(m.cost_usd)
                    .ignore();
            }
            pipe.cmd("EXPIRE").arg(&key).arg(MINUTE_TTL_SECS).ignore();
        }
        self.link.run_pipe::<()>(pipe).await
    }

    /// A row another instance served: to the live-tail pages open here.
    pub(super) fn apply_row(&self, row: SharedRow) {
        if self.rows.tx.receiver_count() == 0 {
            return;
        }
        let frame = format!("event: request\ndata: {}\n\n", row.row);
        let _ = self.rows.tx.send(Bytes::from(frame));
    }

    /// The cluster's counters for each of the last `count` minutes (the current one last).
    pub async fn minutes(&self, count: u32) -> Result<Vec<Minute>, ClusterError> {
        let now = crate::routing::epoch_ms(switchyard_hub::clock::now()).div_euclid(60_000);
        let first = now - i64::from(count.max(1)) + 1;
        let mut pipe = redis::pipe();
        for minute in first..=now {
            pipe.cmd("HGETALL").arg(minute_key(minute));
        }
        let hashes: Vec<BTreeMap<String, String>> = self.link.run_pipe(pipe).await?;
        Ok((first..=now)
            .zip(hashes)
            .map(|(minute, h)| {
                let int = |k: &str| h.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                Minute {
                    ts_ms: minute * 60_000,
                    requests: int("requests"),
                    errors: int("errors"),
                    tokens: int("tokens"),
                    cost_usd: h
                        .get("cost_usd")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0),
                }
            })
            .collect())
    }
}
