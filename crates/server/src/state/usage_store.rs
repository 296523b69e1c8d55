//! The usage table: one row per request, written by a background thread so the request path
//! never waits on disk, plus the accounts' routing state, kept as state (the newest of each
//! account) rather than as a stream of events.
//!
//! Memory is bounded by construction: queued rows are counted in bytes against a budget, and a
//! request is admitted ([`UsageSink::room`]) only while the queue is under it, so the queue
//! holds at most the budget plus one row per request in flight (rows those requests hold
//! anyway). Nothing waits in a task of its own. The writer takes the whole queue at each turn
//! and writes it in one transaction with cached statements, adding the batch's per-hour sums
//! to the `usage_hourly` rollup once per hour and group (not once per row, as the trigger it
//! replaced did), so it keeps up with any rate the disk allows.
//!
//! Durability: a row is in the database at most [`GATHER`] plus one [`NAP`] (55 ms) after it
//! was queued, plus the time its transaction takes. At low rates the writer gathers rows for
//! that long (group commit: a commit costs SQLite ~40,000 instructions whatever it holds, more
//! than the row's insert); a full batch ([`GATHER_ROWS`]), a queue at its byte budget or a
//! closing queue commits at once, so under load nothing waits. What a crash (`kill -9`) loses is therefore the rows of the
//! last ~55 ms plus the batch being written, within the bound the crash test holds it to
//! (~100 ms of rows at the measured rate): committed transactions are in the WAL, which
//! survives the process.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use rusqlite::{Connection, params};
use switchyard_hub::Usage;
use tokio::sync::Notify;

mod keys;
mod queries;
pub mod reports;
mod resets;
mod schema;

pub use keys::{data_version, insert_key, load_key, load_keys, revoke_key, update_key};
pub use queries::{
    StoredRoutes, cost_since, load_account_states, load_learned_formats, load_model_overrides,
    load_overrides, load_providers, load_routes, remove_model_override, remove_provider,
    remove_route, save_model_override, save_overrides, save_provider, save_route, summary,
    tokens_by_key_since,
};
pub use resets::{ResetScope, apply_pending_resets, forget_resets, pending_resets, request_reset};
pub use schema::open;

/// Bytes of queued rows beyond which new requests wait for the writer. About 6,000 rows:
/// some 50 ms of the writer's work on an ordinary disk, so a crash loses little, and far more
/// than it falls behind in normal running.
pub const QUEUE_BYTES: usize = 2 << 20;
/// How often account state that changed only in its counters is saved. A change of cooldown
/// or failure status is saved with the next batch.
const STATE_EVERY: Duration = Duration::from_secs(1);
/// With nothing queued the writer looks again after this long, a few times, before it parks;
/// under load it therefore never needs waking, so recording a row costs no system call.
const NAP: Duration = Duration::from_millis(5);
const NAPS_BEFORE_PARK: u32 = 20;
/// How long the writer gathers rows after it first sees one before it commits them, when fewer
/// than [`GATHER_ROWS`] are queued: at a request every few milliseconds each row would
/// otherwise commit alone. Half of the ~100 ms of rows a crash may lose (see the module's doc).
pub const GATHER: Duration = Duration::from_millis(50);
/// Rows that commit at once without gathering more: the commit's fixed cost is small beside
/// this many inserts, and under load the queue reaches it within a nap.
const GATHER_ROWS: usize = 64;
/// At most one "writer is behind" warning this often.
const WARN_EVERY_MS: i64 = 10_000;

#[derive(Debug, Clone, Default)]
pub struct UsageRow {
    pub ts_ms: i64,
    pub request_id: String,
    pub client_key: Option<String>,
    pub client_format: &'static str,
    pub provider: Option<String>,
    pub account: Option<String>,
    pub requested_model: String,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub error_class: Option<&'static str>,
    pub usage: Usage,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    /// The combo the requested model named, if any.
    pub combo: Option<String>,
    /// Which target of the resolved list answered (or failed last).
    pub target_index: u32,
    /// Upstream attempts made, across accounts and targets.
    pub attempts: u32,
    /// What the request asked for (chat, embeddings, images...).
    pub operation: switchyard_hub::Operation,
    /// Images generated, for image requests.
    pub images: u64,
    /// Characters of text spoken, for speech requests.
    pub characters: u64,
    /// Seconds of audio heard, for transcriptions and translations (reported by the
    /// provider, or estimated from the upload's WAV header).
    pub audio_seconds: f64,
    /// Seconds of video a video job made.
    pub video_seconds: f64,
    /// What the request cost in USD; `None` when its model has no price.
    pub cost_usd: Option<f64>,
    /// The catalogue entry's origin and date checked, when the model was found.
    pub price_version: Option<String>,
    /// `api`, `equivalent` or `no price` (see [`crate::catalogue::Basis`]).
    pub cost_basis: Option<&'static str>,
}

/// An account's routing state, saved so cooldowns and counters survive a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountStateRow {
    pub provider: String,
    pub account: String,
    pub cooldown_until_ms: Option<i64>,
    pub model_cooldowns: Vec<(String, i64)>,
    /// Why each cooldown was set: (model, or "" for the account's own; reason).
    pub cooldown_reasons: Vec<(String, String)>,
    pub backoff_level: u32,
    pub consecutive_failures: u32,
    pub disabled_until_ms: Option<i64>,
    pub last_error: Option<(i64, String)>,
    pub day: i64,
    pub day_requests: u64,
    pub day_tokens: u64,
}

/// An account whose state the writer reads when it saves it. Implemented by the server's
/// accounts; the writer only ever sees the newest state.
pub trait AccountState: Send + Sync {
    /// The state to save now; also clears the account's "queued for saving" mark, before
    /// reading, so a change made meanwhile queues it again.
    fn take_state(&self) -> AccountStateRow;
}

/// The writer's knobs; [`WriterOptions::default`] is what the server runs with.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Queue budget in bytes (see [`QUEUE_BYTES`]).
    pub queue_bytes: usize,
    /// Test only: the writer holds itself to this many rows a second, as a slow disk would.
    pub rows_per_sec: Option<u32>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue_bytes: QUEUE_BYTES,
            rows_per_sec: None,
        }
    }
}

/// The writer's figures for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct UsageStats {
    /// Requests that waited for room in the queue (backpressure).
    pub waits: Counter,
    /// Usage rows written.
    pub written: Counter,
    /// Bytes of rows the writer took in its latest batch: how far behind it runs.
    pub batch_bytes: Gauge,
    /// Rows in that batch.
    pub batch_rows: Gauge,
}

/// What waits for the writer.
#[derive(Default)]
struct Queue {
    rows: Vec<UsageRow>,
    /// (provider, model, format)
    learned: Vec<(String, String, &'static str)>,
    states: Vec<Arc<dyn AccountState>>,
    /// A state in `states` changed its cooldown or failure status: save it now.
    urgent: bool,
    /// Bytes of `rows`.
    bytes: usize,
    parked: bool,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes a parked writer.
    wake: Condvar,
    /// Bytes of rows queued or being written; read without the lock by [`UsageSink::room`].
    bytes: AtomicUsize,
    budget: usize,
    /// Wakes requests waiting for room.
    room: Notify,
    stats: UsageStats,
    last_warn_ms: AtomicI64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Marks the queue closed when the last sink is dropped, so the writer drains and stops.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.closed = true;
        drop(q);
        self.0.wake.notify_one();
        self.0.room.notify_waiters();
    }
}

/// A new request's id: a UUID v7 (the millisecond `ts_ms`, then random bits from the
/// thread's fast generator), written as 32 hex digits. Ids need to be unique, not secret, so
/// no getrandom system call per request; and being time-ordered, each new id lands at the end
/// of the `usage_request_id` index instead of on a random page of it: once that index
/// outgrows SQLite's page cache, a random id costs the writer a page read per insert (over
/// 2,000,000 rows, inserts with random ids ran at a quarter of the rate of time-ordered ones).
pub fn request_id(ts_ms: i64) -> String {
    let random = fastrand::u128(..).to_le_bytes();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&random[..10]);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(ts_ms).unwrap_or(0), &tail)
        .into_uuid()
        .simple()
        .to_string()
}

/// Bytes a queued row holds, for the queue's budget.
fn row_bytes(r: &UsageRow) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    std::mem::size_of::<UsageRow>()
        + r.request_id.capacity()
        + r.requested_model.capacity()
        + opt(&r.client_key)
        + opt(&r.provider)
        + opt(&r.account)
        + opt(&r.upstream_model)
        + opt(&r.combo)
        + opt(&r.price_version)
}

/// The sending side, cheap to clone into every request.
#[derive(Clone)]
pub struct UsageSink {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
    /// Rows as they are recorded, for the dashboard's live tail. Sent only while someone
    /// watches, so the hot path pays one atomic load otherwise.
    live: tokio::sync::broadcast::Sender<Arc<UsageRow>>,
}

impl std::fmt::Debug for UsageSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageSink")
            .field("bytes", &self.shared.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

impl UsageSink {
    /// Queues a request's row. Never waits: the request was admitted by [`UsageSink::room`].
    pub fn record(&self, row: UsageRow) {
        if self.live.receiver_count() > 0 {
            // A watcher that falls behind loses rows (it is told how many), never the writer.
            let _ = self.live.send(Arc::new(row.clone()));
        }
        let size = row_bytes(&row);
        let mut q = self.shared.lock();
        q.rows.push(row);
        q.bytes += size;
        self.shared.bytes.fetch_add(size, Ordering::AcqRel);
        self.wake_if_parked(q);
    }

    /// Queues an account whose state changed. `account` is `None` when it is queued already;
    /// `urgent` when its cooldown or failure status changed, which is saved with the next
    /// batch rather than within [`STATE_EVERY`].
    pub fn record_state(&self, account: Option<Arc<dyn AccountState>>, urgent: bool) {
        let mut q = self.shared.lock();
        if let Some(a) = account {
            q.states.push(a);
        }
        q.urgent |= urgent;
        self.wake_if_parked(q);
    }

    /// Notes the format `provider` turned out to serve `model` in.
    pub fn record_learned(&self, provider: &str, model: &str, format: &'static str) {
        let mut q = self.shared.lock();
        q.learned
            .push((provider.to_owned(), model.to_owned(), format));
        self.wake_if_parked(q);
    }

    fn wake_if_parked(&self, q: MutexGuard<'_, Queue>) {
        let parked = q.parked;
        drop(q);
        if parked {
            self.shared.wake.notify_one();
        }
    }

    /// Waits while the queue is over its budget: the writer cannot keep up (a slow disk), so
    /// the connection's next request waits for it rather than memory growing or rows being
    /// dropped. Returns at once in normal running.
    pub async fn room(&self) {
        let shared = &self.shared;
        if shared.bytes.load(Ordering::Acquire) < shared.budget {
            return;
        }
        shared.stats.waits.inc();
        let now = chrono::Utc::now().timestamp_millis();
        let last = shared.last_warn_ms.load(Ordering::Relaxed);
        if now - last >= WARN_EVERY_MS
            && shared
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                queued_bytes = shared.bytes.load(Ordering::Relaxed),
                "the usage writer is behind (slow disk?): requests wait for room in its queue"
            );
        }
        loop {
            let notified = shared.room.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if shared.bytes.load(Ordering::Acquire) < shared.budget || shared.lock().closed {
                return;
            }
            notified.await;
        }
    }

    /// Rows recorded from now on, as they are recorded.
    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<Arc<UsageRow>> {
        self.live.subscribe()
    }

    /// The writer's figures, to register with `/metrics`.
    pub fn stats(&self) -> &UsageStats {
        &self.shared.stats
    }
}

/// The writer thread; [`UsageWriter::close`] waits for every queued row to be written.
pub struct UsageWriter {
    handle: JoinHandle<()>,
}

pub fn start(
    conn: Connection,
    options: WriterOptions,
) -> std::io::Result<(UsageSink, UsageWriter)> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
        bytes: AtomicUsize::new(0),
        budget: options.queue_bytes.max(1),
        room: Notify::new(),
        stats: UsageStats::default(),
        last_warn_ms: AtomicI64::new(i64::MIN / 2),
    });
    let writer = shared.clone();
    let handle = std::thread::Builder::new()
        .name("usage-writer".into())
        .spawn(move || write_loop(conn, &writer, options.rows_per_sec))?;
    let closer = Arc::new(Closer(shared.clone()));
    Ok((
        UsageSink {
            shared,
            _closer: closer,
            live: tokio::sync::broadcast::channel(256).0,
        },
        UsageWriter { handle },
    ))
}

impl UsageWriter {
    /// Blocks until every sink is dropped and the queue is written.
    pub fn close(self) {
        let _ = self.handle.join();
    }
}

/// One turn's work, taken from the queue at once.
#[derive(Default)]
struct Batch {
    rows: Vec<UsageRow>,
    learned: Vec<(String, String, &'static str)>,
    states: Vec<Arc<dyn AccountState>>,
    bytes: usize,
}

/// Waits for work and takes it; `None` once the queue is closed and empty.
fn take(shared: &Shared, batch: &mut Batch, last_states: Instant) -> Option<()> {
    let mut naps = 0;
    // When this turn first saw rows queued: they wait for company until GATHER after it.
    let mut rows_seen: Option<Instant> = None;
    let mut q = shared.lock();
    loop {
        let states_due =
            !q.states.is_empty() && (q.urgent || q.closed || last_states.elapsed() >= STATE_EVERY);
        let rows_due = !q.rows.is_empty()
            && (q.rows.len() >= GATHER_ROWS
                || q.closed
                || q.bytes >= shared.budget
                || rows_seen.is_some_and(|seen| seen.elapsed() >= GATHER));
        if rows_due || !q.learned.is_empty() || states_due {
            std::mem::swap(&mut q.rows, &mut batch.rows);
            std::mem::swap(&mut q.learned, &mut batch.learned);
            if states_due {
                std::mem::swap(&mut q.states, &mut batch.states);
                q.urgent = false;
            }
            batch.bytes = std::mem::take(&mut q.bytes);
            return Some(());
        }
        if q.closed {
            return None;
        }
        if !q.rows.is_empty() {
            // Rows to gather: nap (never park) until they are due.
            rows_seen.get_or_insert_with(Instant::now);
            naps = 0;
        }
        if naps < NAPS_BEFORE_PARK {
            naps += 1;
            drop(q);
            #[expect(
                clippy::disallowed_methods,
                reason = "the usage writer is a dedicated OS thread, not a runtime worker; a short nap batches rows before it parks"
            )]
            std::thread::sleep(NAP);
            q = shared.lock();
            continue;
        }
        q.parked = true;
        q = if q.states.is_empty() {
            shared.wake.wait(q).unwrap_or_else(|p| p.into_inner())
        } else {
            let left = STATE_EVERY.saturating_sub(last_states.elapsed());
            shared
                .wake
                .wait_timeout(q, left)
                .unwrap_or_else(|p| p.into_inner())
                .0
        };
        q.parked = false;
    }
}

fn write_loop(mut conn: Connection, shared: &Shared, rows_per_sec: Option<u32>) {
    let mut batch = Batch::default();
    let mut last_states = Instant::now();
    while take(shared, &mut batch, last_states).is_some() {
        let started = Instant::now();
        shared.stats.batch_bytes.set(batch.bytes as i64);
        shared.stats.batch_rows.set(batch.rows.len() as i64);
        let states: Vec<AccountStateRow> = batch.states.drain(..).map(|a| a.take_state()).collect();
        if !states.is_empty() {
            last_states = Instant::now();
        }
        match insert(&mut conn, &batch.rows, &batch.learned, &states) {
            Ok(()) => {
                shared.stats.written.inc_by(batch.rows.len() as u64);
            }
            Err(e) => tracing::error!(rows = batch.rows.len(), "cannot write usage rows: {e}"),
        }
        if let Some(rate) = rows_per_sec.filter(|r| *r > 0) {
            let budget = Duration::from_secs_f64(batch.rows.len() as f64 / f64::from(rate));
            #[expect(
                clippy::disallowed_methods,
                reason = "throttles the dedicated usage-writer OS thread (not a runtime worker) to its configured rows per second"
            )]
            std::thread::sleep(budget.saturating_sub(started.elapsed()));
        }
        batch.rows.clear();
        batch.learned.clear();
        shared.bytes.fetch_sub(batch.bytes, Ordering::AcqRel);
        shared.room.notify_waiters();
    }
}

/// A `usage_hourly` row's key: (hour, provider, account, model, upstream model, client key,
/// client format, status), an absent dimension as '' (as the rollup's migration reads it).
type HourKey<'a> = (
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    u16,
);

/// What a batch adds to one `usage_hourly` row.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HourSums {
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    reasoning_tokens: i64,
    latency_sum_ms: f64,
    latency_max_ms: f64,
}

/// The batch summed by hour and every dimension the rollup keeps, so the writer adds to
/// each rollup row once per batch instead of once per request (a per-row trigger cost more
/// than the insert itself).
fn hourly_sums(rows: &[UsageRow]) -> crate::state::FastMap<HourKey<'_>, HourSums> {
    const HOUR_MS: i64 = 3_600_000;
    // foldhash, not SipHash: hashing this eight-part key cost ~1,000 instructions a row.
    let mut sums: crate::state::FastMap<HourKey<'_>, HourSums> = crate::state::FastMap::default();
    for r in rows {
        let key = (
            (r.ts_ms / HOUR_MS) * HOUR_MS,
            r.provider.as_deref().unwrap_or(""),
            r.account.as_deref().unwrap_or(""),
            r.requested_model.as_str(),
            r.upstream_model.as_deref().unwrap_or(""),
            r.client_key.as_deref().unwrap_or(""),
            r.client_format,
            r.status,
        );
        let s = sums.entry(key).or_insert(HourSums {
            requests: 0,
            errors: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
            reasoning_tokens: 0,
            latency_sum_ms: 0.0,
            latency_max_ms: r.latency_ms,
        });
        s.requests += 1;
        s.errors += i64::from(r.status >= 400);
        s.prompt_tokens += r.usage.prompt_tokens as i64;
        s.completion_tokens += r.usage.completion_tokens as i64;
        s.cached_tokens += r.usage.cached_tokens as i64;
        s.reasoning_tokens += r.usage.reasoning_tokens as i64;
        s.latency_sum_ms += r.latency_ms;
        s.latency_max_ms = s.latency_max_ms.max(r.latency_ms);
    }
    sums
}

/// Adds the batch's per-hour sums to `usage_hourly`, once per hour and group.
fn add_hourly(tx: &rusqlite::Transaction<'_>, rows: &[UsageRow]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut hourly = tx.prepare_cached(
        "INSERT INTO usage_hourly (hour_ms, provider, account, model, upstream_model,
            client_key, client_format, status, requests, errors, prompt_tokens,
            completion_tokens, cached_tokens, reasoning_tokens, latency_sum_ms, latency_max_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (hour_ms, provider, account, model, upstream_model, client_key, client_format, status)
         DO UPDATE SET
             requests = requests + excluded.requests,
             errors = errors + excluded.errors,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             cached_tokens = cached_tokens + excluded.cached_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
             latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,
             latency_max_ms = max(latency_max_ms, excluded.latency_max_ms)",
    )?;
    for (k, s) in hourly_sums(rows) {
        hourly.execute(params![
            k.0,
            k.1,
            k.2,
            k.3,
            k.4,
            k.5,
            k.6,
            k.7,
            s.requests,
            s.errors,
            s.prompt_tokens,
            s.completion_tokens,
            s.cached_tokens,
            s.reasoning_tokens,
            s.latency_sum_ms,
            s.latency_max_ms,
        ])?;
    }
    Ok(())
}

fn insert(
    conn: &mut Connection,
    rows: &[UsageRow],
    learned: &[(String, String, &'static str)],
    states: &[AccountStateRow],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO usage (ts_ms, request_id, client_key, client_format, provider, account,
                requested_model, upstream_model, stream, status, error_class, prompt_tokens,
                completion_tokens, cached_tokens, reasoning_tokens, tokens_estimated, latency_ms, ttfb_ms,
                combo, target_index, attempts, endpoint, images, cost_usd, price_version, cost_basis,
                characters, audio_seconds, video_seconds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
        )?;
        for r in rows {
            stmt.execute(params![
                r.ts_ms,
                r.request_id,
                r.client_key,
                r.client_format,
                r.provider,
                r.account,
                r.requested_model,
                r.upstream_model,
                r.stream,
                r.status,
                r.error_class,
                r.usage.prompt_tokens as i64,
                r.usage.completion_tokens as i64,
                r.usage.cached_tokens as i64,
                r.usage.reasoning_tokens as i64,
                r.usage.estimated,
                r.latency_ms,
                r.ttfb_ms,
                r.combo,
                r.target_index,
                r.attempts,
                r.operation.as_str(),
                r.images as i64,
                r.cost_usd,
                r.price_version,
                r.cost_basis,
                r.characters as i64,
                r.audio_seconds,
                r.video_seconds,
            ])?;
        }
        if !states.is_empty() {
            let mut state = tx.prepare_cached(
                "INSERT OR REPLACE INTO account_state (provider, account, cooldown_until_ms, model_cooldowns,
                    backoff_level, consecutive_failures, disabled_until_ms, last_error_ms, last_error, day,
                    day_requests, day_tokens, cooldown_reasons)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for a in states {
                let cooldowns =
                    serde_json::to_string(&a.model_cooldowns).unwrap_or_else(|_| "[]".into());
                let reasons =
                    serde_json::to_string(&a.cooldown_reasons).unwrap_or_else(|_| "[]".into());
                state.execute(params![
                    a.provider,
                    a.account,
                    a.cooldown_until_ms,
                    cooldowns,
                    a.backoff_level,
                    a.consecutive_failures,
                    a.disabled_until_ms,
                    a.last_error.as_ref().map(|e| e.0),
                    a.last_error.as_ref().map(|e| &e.1),
                    a.day,
                    a.day_requests as i64,
                    a.day_tokens as i64,
                    reasons,
                ])?;
            }
        }
        add_hourly(&tx, rows)?;
        for (provider, model, format) in learned {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO learned_formats (provider, model, format)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![provider, model, format])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests;
