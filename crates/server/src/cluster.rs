//! Cluster mode: several instances behind one load balancer share what would otherwise make
//! them work against each other (account cooldowns, per-key request rates, accounts' daily
//! and concurrency caps, OAuth refreshes, management changes) through one Redis server.
//!
//! The hot path never waits on Redis in the common case: cooldowns arrive by subscription
//! and are applied to each instance's own accounts, request rates are served from a leased
//! slice of the key's allowance, and what an instance publishes goes through a queue. When
//! Redis is down or unreachable every instance keeps serving on its own state; when it
//! returns, each publishes what it holds and reads what the others published.
//!
//! The cluster lives in one process-wide cell rather than in the `App`: one process serves
//! one configuration, and the hooks into the request path stay one branch on an `Option`
//! (nothing is added to the `App`), so single-machine mode pays nothing more.

mod caps;
mod changes;
mod cooldowns;
mod counters;
mod leases;
mod link;
mod rows;
mod seal;
mod sessions;
mod tokens;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use switchyard_hub::ApiError;

use crate::routing::limits::Limits;
use crate::state::app::{Account, App};

pub use caps::{Refused, Slot};
pub use changes::Topic;
pub use rows::Minute;

/// Why cluster mode could not do something; never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
    #[error("redis is unreachable")]
    Down,
    #[error(
        "cannot seal or open a shared value (is SWITCHYARD_CLUSTER_KEY the same on every instance?)"
    )]
    Seal,
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot read or write the database: {0}")]
    Database(String),
}

/// Every key and channel this cluster uses starts with this.
const PREFIX: &str = "switchyard:";

/// The channel every instance publishes its events on and listens to.
fn channel() -> String {
    format!("{PREFIX}events")
}

/// What one instance tells the others.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// A management table's sequence number (see `changes`), 0 for other events. First, so
    /// the script that numbers a table finds it first.
    #[serde(default)]
    seq: u64,
    /// The instance that sent it (so it ignores its own).
    from: String,
    #[serde(flatten)]
    event: Event,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    /// An account's cooldown, backoff or set-aside state.
    Health(cooldowns::SharedHealth),
    /// A management change: the whole stored table of one topic, as the sender holds it.
    Change(changes::Snapshot),
    /// A session's account (session affinity).
    Session(sessions::SharedSession),
    /// A request another instance served, for the live tail.
    Row(rows::SharedRow),
}

/// What the publisher task does next, queued by the request path without waiting.
enum Outgoing {
    Health(cooldowns::SharedHealth),
    Change(Topic),
    Reset(Vec<(String, String)>),
    Session(sessions::SharedSession),
}

/// This instance's part of the cluster.
pub struct Cluster {
    /// Random per process: events carry it so an instance skips its own.
    id: String,
    link: link::Link,
    app: OnceLock<Weak<App>>,
    outbox: tokio::sync::mpsc::Sender<Outgoing>,
    /// What [`Cluster::start`] takes to run the publisher.
    inbox: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Outgoing>>>,
    health: cooldowns::Seen,
    leases: leases::Leases,
    /// Accounts' daily and concurrency caps, held across the cluster.
    caps: caps::Caps,
    sealer: Option<seal::Sealer>,
    /// Events sent and applied, and publications dropped while Redis was away.
    sent: AtomicU64,
    applied: AtomicU64,
    dropped: AtomicU64,
    /// Rate checks served on local state because Redis was away.
    local_fallbacks: AtomicU64,
    warned_no_key: AtomicBool,
    /// The sequence number of each management table this instance holds.
    tables_applied: std::sync::Mutex<std::collections::HashMap<Topic, u64>>,
    /// Topics changed here while Redis could not be told.
    pending: std::sync::Mutex<std::collections::BTreeSet<Topic>>,
    /// This instance's name in the shared counters (stable across restarts).
    counter_id: String,
    /// Times the counters were exchanged with the others.
    counter_syncs: AtomicU64,
    /// The token and dollar counters the others reported last time.
    #[expect(
        clippy::type_complexity,
        reason = "two lists, read and written together"
    )]
    others_known: std::sync::Mutex<(Vec<String>, Vec<(crate::routing::budgets::Scope, String)>)>,
    sessions: sessions::Sent,
    rows: rows::Remote,
    /// What the others served through each account today (requests, tokens) as of the last
    /// exchange, for `GET /api/accounts`; the day it is for first.
    #[expect(
        clippy::type_complexity,
        reason = "one day's counts by account, read and written together"
    )]
    accounts_today: std::sync::Mutex<(i64, std::collections::HashMap<String, (u64, u64)>)>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The cluster, when this instance runs in cluster mode.
#[inline]
pub fn active() -> Option<&'static Cluster> {
    CLUSTER.get()
}

/// The tasks cluster mode runs; [`stop`] ends them before the writers drain.
pub struct Running(tokio::task::JoinSet<()>);

/// Ends cluster mode's tasks (they hold the `App` only weakly, but may be mid-write).
pub async fn stop(running: Option<Running>) {
    if let Some(mut r) = running {
        r.0.shutdown().await;
    }
}

/// Starts cluster mode when the config names a Redis server: connects (in the background:
/// a Redis that is down at start-up only means local state until it comes), subscribes,
/// and starts the publisher. Returns `None` in single-machine mode.
pub fn start(app: &Arc<App>) -> Option<Running> {
    let url = app.snapshot().config.redis_url.clone()?;
    let link = match link::Link::new(&url) {
        Ok(link) => link,
        Err(e) => {
            tracing::error!("cluster mode is off: {e}");
            return None;
        }
    };
    let sealer = match seal::Sealer::from_env() {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tracing::error!(
                "SWITCHYARD_CLUSTER_KEY: {e}; OAuth tokens and accounts are not shared"
            );
            None
        }
        None => {
            tracing::warn!(
                "SWITCHYARD_CLUSTER_KEY is not set: OAuth tokens and accounts are not shared between instances (cooldowns, limits, aliases, combos and keys are)"
            );
            None
        }
    };
    let (outbox, inbox) = tokio::sync::mpsc::channel(4096);
    let cluster = Cluster {
        id: uuid::Uuid::new_v4().simple().to_string(),
        link,
        app: OnceLock::new(),
        outbox,
        inbox: std::sync::Mutex::new(Some(inbox)),
        health: cooldowns::Seen::default(),
        leases: leases::Leases::default(),
        caps: caps::Caps::default(),
        sealer,
        sent: AtomicU64::new(0),
        applied: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        local_fallbacks: AtomicU64::new(0),
        warned_no_key: AtomicBool::new(false),
        tables_applied: std::sync::Mutex::default(),
        pending: std::sync::Mutex::default(),
        counter_id: counters::counter_id(&app.snapshot().config.database),
        counter_syncs: AtomicU64::new(0),
        others_known: std::sync::Mutex::default(),
        sessions: sessions::Sent::default(),
        rows: rows::Remote::default(),
        accounts_today: std::sync::Mutex::default(),
    };
    if CLUSTER.set(cluster).is_err() {
        tracing::error!("cluster mode was started twice; the first one stays");
    }
    let cluster = CLUSTER.get()?;
    let _ = cluster.app.set(Arc::downgrade(app));
    let inbox = cluster
        .inbox
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(link::supervise(cluster));
    tasks.spawn(cluster.publish(inbox));
    tasks.spawn(cluster.share_counters());
    tasks.spawn(cluster.share_rows());
    tracing::info!(redis = %link::redacted(&url), "cluster mode: sharing state through redis");
    Some(Running(tasks))
}

impl Cluster {
    fn app(&self) -> Option<Arc<App>> {
        self.app.get().and_then(Weak::upgrade)
    }

    /// Queues `what` for the publisher; when the queue is full (Redis slow or away) it is
    /// dropped: the next (re)connection publishes the whole state again.
    fn queue(&self, what: Outgoing) {
        if let Err(e) = self.outbox.try_send(what) {
            if let Outgoing::Change(topic) = e.into_inner() {
                self.pend(topic);
            }
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs what the request path queued, in order, while the instance lives.
    async fn publish(&'static self, mut inbox: tokio::sync::mpsc::Receiver<Outgoing>) {
        while let Some(next) = inbox.recv().await {
            let changed = match next {
                Outgoing::Change(topic) => Some(topic),
                _ => None,
            };
            if !self.link.is_up() {
                if let Some(topic) = changed {
                    self.pend(topic);
                }
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let done = match next {
                Outgoing::Health(h) => self.publish_health(&h).await,
                Outgoing::Change(topic) => self.publish_change(topic).await,
                Outgoing::Reset(accounts) => self.publish_reset(accounts).await,
                Outgoing::Session(s) => self.send_event(Event::Session(s)).await,
            };
            match done {
                Ok(()) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if let Some(topic) = changed {
                        self.pend(topic);
                    }
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    self.link.failed(&e);
                }
            }
        }
    }

    async fn send_event(&self, event: Event) -> Result<(), ClusterError> {
        let text = serde_json::to_string(&Envelope {
            seq: 0,
            from: self.id.clone(),
            event,
        })?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel()).arg(text);
        self.link.run::<i64>(cmd).await.map(|_| ())
    }

    /// Applies one event from another instance.
    fn receive(&self, payload: &[u8]) {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(payload) else {
            tracing::warn!("cluster: an event that is not ours was ignored");
            return;
        };
        if envelope.from == self.id {
            return;
        }
        let Some(app) = self.app() else { return };
        match envelope.event {
            Event::Health(h) => self.apply_health(&app, &h),
            Event::Session(s) => self.apply_session(&app, &s),
            Event::Row(row) => {
                // Not counted as applied: rows are many and change no state.
                self.apply_row(row);
                return;
            }
            Event::Change(snapshot) => {
                if let Some(topic) = snapshot.topic()
                    && !self.note_applied(topic, envelope.seq)
                {
                    return;
                }
                let cluster = CLUSTER.get();
                tokio::spawn(async move {
                    if let Some(c) = cluster {
                        c.apply_change(app, snapshot).await;
                    }
                });
            }
        }
        self.applied.fetch_add(1, Ordering::Relaxed);
    }

    /// Admits one request from key `id` under `limits`, its requests per minute counted
    /// across the cluster (from a leased slice); the other limits are this instance's.
    pub async fn admit(
        &self,
        app: &App,
        id: &str,
        limits: &Limits,
        now: SystemTime,
        offset: i32,
    ) -> Result<(), ApiError> {
        let Some(rpm) = limits.requests_per_minute else {
            return app.limits.admit(id, limits, now, offset);
        };
        let rest = Limits {
            requests_per_minute: None,
            ..*limits
        };
        app.limits.admit(id, &rest, now, offset)?;
        match self.leases.admit(self, id, rpm, now).await {
            Some(answer) => answer,
            None => {
                // Redis is away: this instance's own count, as in single-machine mode.
                self.local_fallbacks.fetch_add(1, Ordering::Relaxed);
                let only_rpm = Limits {
                    requests_per_minute: Some(rpm),
                    tokens_per_day: None,
                    tokens_per_month: None,
                };
                app.limits.admit(id, &only_rpm, now, offset)
            }
        }
    }

    /// Tells the others that `account`'s routing state changed (called where the state is
    /// queued for saving, only when what routing decides by changed).
    pub fn account_changed(&self, account: &Account) {
        if let Some(shared) = self.health.outgoing(account) {
            self.queue(Outgoing::Health(shared));
        }
    }

    /// Tells the others that the management API changed `action`'s topic (called where the
    /// change is audited).
    pub fn managed(&self, action: &str, after: Option<&serde_json::Value>) {
        if action == "account.reset" {
            let accounts = changes::reset_accounts(after);
            if !accounts.is_empty() {
                self.queue(Outgoing::Reset(accounts));
            }
            return;
        }
        if let Some(topic) = Topic::of(action) {
            self.queue(Outgoing::Change(topic));
        }
    }

    /// The cluster's part of `/health`.
    pub fn health(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": "redis",
            "status": if self.link.is_up() { "connected" } else { "down" },
            "instance": self.id,
            "since_ms": self.link.since_ms(),
            "last_error": self.link.last_error(),
            "tokens_shared": self.sealer.is_some(),
        })
    }

    /// The cluster's metrics, in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let up = u8::from(self.link.is_up());
        format!(
            "# HELP switchyard_cluster_connected Whether this instance reaches the cluster's redis (1) or serves on local state (0).\n\
             # TYPE switchyard_cluster_connected gauge\n\
             switchyard_cluster_connected {up}\n\
             # HELP switchyard_cluster_reconnects Times the connection to redis was (re)established.\n\
             # TYPE switchyard_cluster_reconnects counter\n\
             switchyard_cluster_reconnects_total {}\n\
             # HELP switchyard_cluster_events_sent Events this instance published.\n\
             # TYPE switchyard_cluster_events_sent counter\n\
             switchyard_cluster_events_sent_total {}\n\
             # HELP switchyard_cluster_events_applied Events from other instances applied here.\n\
             # TYPE switchyard_cluster_events_applied counter\n\
             switchyard_cluster_events_applied_total {}\n\
             # HELP switchyard_cluster_events_dropped Events not published because redis was away (the state is published again on reconnection).\n\
             # TYPE switchyard_cluster_events_dropped counter\n\
             switchyard_cluster_events_dropped_total {}\n\
             # HELP switchyard_cluster_counter_syncs Times this instance exchanged its token and dollar counters with the others.\n\
             # TYPE switchyard_cluster_counter_syncs counter\n\
             switchyard_cluster_counter_syncs_total {}\n\
             # HELP switchyard_cluster_local_rate_checks Request-rate checks served on local state because redis was away.\n\
             # TYPE switchyard_cluster_local_rate_checks counter\n\
             switchyard_cluster_local_rate_checks_total {}\n",
            self.link.connects(),
            self.sent.load(Ordering::Relaxed),
            self.applied.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.counter_syncs.load(Ordering::Relaxed),
            self.local_fallbacks.load(Ordering::Relaxed),
        )
    }
}

/// `/health`'s body: the cluster's status beside the instance's own.
pub fn health_body() -> serde_json::Value {
    match active() {
        None => serde_json::json!({"status": "ok"}),
        Some(c) => serde_json::json!({"status": "ok", "cluster": c.health()}),
    }
}

/// `text` (the instance's metrics) with the cluster's put before the closing `# EOF`.
pub fn with_metrics(text: String) -> String {
    let Some(c) = active() else { return text };
    match text.strip_suffix("# EOF\n") {
        Some(head) => format!("{head}{}# EOF\n", c.metrics()),
        None => format!("{text}{}", c.metrics()),
    }
}
