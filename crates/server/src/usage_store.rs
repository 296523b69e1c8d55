//! The usage table: one row per request, written by a background thread in batches so the
//! request path never waits on disk.

use std::path::Path;
use std::thread::JoinHandle;

use rusqlite::{Connection, params};
use switchyard_hub::Usage;
use tokio::sync::mpsc;

/// Rows waiting beyond this many make `record` hand the row to a task that waits for room,
/// rather than blocking the request or dropping the row.
const QUEUE: usize = 8192;
/// Rows written per transaction at most.
const BATCH: usize = 512;

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
}

/// An account's routing state, saved so cooldowns and counters survive a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountStateRow {
    pub provider: String,
    pub account: String,
    pub cooldown_until_ms: Option<i64>,
    pub model_cooldowns: Vec<(String, i64)>,
    pub backoff_level: u32,
    pub consecutive_failures: u32,
    pub disabled_until_ms: Option<i64>,
    pub last_error: Option<(i64, String)>,
    pub day: i64,
    pub day_requests: u64,
    pub day_tokens: u64,
}

/// What the writer thread writes.
#[derive(Debug)]
enum Record {
    Usage(Box<UsageRow>),
    Account(Box<AccountStateRow>),
    /// (provider, model, format)
    Learned(String, String, &'static str),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage (
    id                INTEGER PRIMARY KEY,
    ts_ms             INTEGER NOT NULL,
    request_id        TEXT NOT NULL,
    client_key        TEXT,
    client_format     TEXT NOT NULL,
    provider          TEXT,
    account           TEXT,
    requested_model   TEXT NOT NULL,
    upstream_model    TEXT,
    stream            INTEGER NOT NULL,
    status            INTEGER NOT NULL,
    error_class       TEXT,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    reasoning_tokens  INTEGER NOT NULL,
    tokens_estimated  INTEGER NOT NULL,
    latency_ms        REAL NOT NULL,
    ttfb_ms           REAL
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage(ts_ms);
CREATE TABLE IF NOT EXISTS account_state (
    provider             TEXT NOT NULL,
    account              TEXT NOT NULL,
    cooldown_until_ms    INTEGER,
    model_cooldowns      TEXT NOT NULL DEFAULT '[]',
    backoff_level        INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_until_ms    INTEGER,
    last_error_ms        INTEGER,
    last_error           TEXT,
    day                  INTEGER NOT NULL DEFAULT 0,
    day_requests         INTEGER NOT NULL DEFAULT 0,
    day_tokens           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, account)
);
CREATE TABLE IF NOT EXISTS routes (
    name  TEXT PRIMARY KEY,
    kind  TEXT NOT NULL CHECK (kind IN ('alias', 'combo')),
    steps TEXT NOT NULL
);
";

/// Columns added after the first release, each applied once (tracked by `user_version`).
const MIGRATIONS: [&str; 2] = [
    "ALTER TABLE usage ADD COLUMN combo TEXT;
     ALTER TABLE usage ADD COLUMN target_index INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE usage ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;",
    // The format a provider turned out to serve a model in (Copilot's /responses-only
    // models), so a restart does not pay for learning it again.
    "CREATE TABLE learned_formats (
         provider TEXT NOT NULL,
         model    TEXT NOT NULL,
         format   TEXT NOT NULL,
         PRIMARY KEY (provider, model)
     );",
];

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A missing directory surfaces as SQLite's own "unable to open" error below.
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(conn)
}

/// The sending side, cheap to clone into every request.
#[derive(Clone, Debug)]
pub struct UsageSink {
    tx: mpsc::Sender<Record>,
}

impl UsageSink {
    pub fn record(&self, row: UsageRow) {
        self.send(Record::Usage(Box::new(row)));
    }

    pub fn record_state(&self, row: AccountStateRow) {
        self.send(Record::Account(Box::new(row)));
    }

    /// Notes the format `provider` turned out to serve `model` in.
    pub fn record_learned(&self, provider: &str, model: &str, format: &'static str) {
        self.send(Record::Learned(
            provider.to_owned(),
            model.to_owned(),
            format,
        ));
    }

    fn send(&self, record: Record) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(record).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(record)) => {
                tracing::error!(?record, "usage writer has stopped; record lost");
            }
        }
    }
}

/// The writer thread; [`UsageWriter::close`] waits for every queued row to be written.
pub struct UsageWriter {
    handle: JoinHandle<()>,
}

pub fn start(conn: Connection) -> std::io::Result<(UsageSink, UsageWriter)> {
    let (tx, rx) = mpsc::channel::<Record>(QUEUE);
    let handle = std::thread::Builder::new()
        .name("usage-writer".into())
        .spawn(move || write_loop(conn, rx))?;
    Ok((UsageSink { tx }, UsageWriter { handle }))
}

impl UsageWriter {
    /// Blocks until every sink is dropped and the queue is written.
    pub fn close(self) {
        let _ = self.handle.join();
    }
}

/// How long the writer gathers rows after the first of a batch. Besides fewer transactions,
/// it keeps the writer off the channel most of the time, so a request's send rarely has to
/// wake a parked thread.
const GATHER: std::time::Duration = std::time::Duration::from_millis(25);

fn write_loop(mut conn: Connection, mut rx: mpsc::Receiver<Record>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        if !rx.is_closed() {
            std::thread::sleep(GATHER);
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        if let Err(e) = insert(&mut conn, &batch) {
            tracing::error!(rows = batch.len(), "cannot write usage rows: {e}");
        }
        batch.clear();
    }
}

fn insert(conn: &mut Connection, records: &[Record]) -> rusqlite::Result<()> {
    // Every success saves its account's state, but only the newest state of each account
    // in a batch needs writing.
    let mut newest = std::collections::HashMap::new();
    for (i, record) in records.iter().enumerate() {
        if let Record::Account(a) = record {
            newest.insert((a.provider.as_str(), a.account.as_str()), i);
        }
    }
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO usage (ts_ms, request_id, client_key, client_format, provider, account,
                requested_model, upstream_model, stream, status, error_class, prompt_tokens,
                completion_tokens, cached_tokens, reasoning_tokens, tokens_estimated, latency_ms, ttfb_ms,
                combo, target_index, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        )?;
        let mut state = tx.prepare_cached(
            "INSERT OR REPLACE INTO account_state (provider, account, cooldown_until_ms, model_cooldowns,
                backoff_level, consecutive_failures, disabled_until_ms, last_error_ms, last_error, day,
                day_requests, day_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for (i, record) in records.iter().enumerate() {
            let r = match record {
                Record::Usage(r) => r,
                Record::Learned(provider, model, format) => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO learned_formats (provider, model, format)
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![provider, model, format])?;
                    continue;
                }
                Record::Account(a)
                    if newest.get(&(a.provider.as_str(), a.account.as_str())) != Some(&i) =>
                {
                    continue;
                }
                Record::Account(a) => {
                    let cooldowns =
                        serde_json::to_string(&a.model_cooldowns).unwrap_or_else(|_| "[]".into());
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
                    ])?;
                    continue;
                }
            };
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
            ])?;
        }
    }
    tx.commit()
}

/// Formats learned per (provider, model): (provider, model, format).
pub fn load_learned_formats(conn: &Connection) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare("SELECT provider, model, format FROM learned_formats")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Aliases and combos kept in the database: (aliases, combos).
pub type StoredRoutes = (Vec<(String, String)>, Vec<(String, Vec<String>)>);

pub fn load_routes(conn: &Connection) -> rusqlite::Result<StoredRoutes> {
    let mut stmt = conn.prepare("SELECT name, kind, steps FROM routes ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let (mut aliases, mut combos) = (Vec::new(), Vec::new());
    for row in rows {
        let (name, kind, steps) = row?;
        let steps: Vec<String> = serde_json::from_str(&steps).unwrap_or_default();
        match (kind.as_str(), steps.as_slice()) {
            ("alias", [target]) => aliases.push((name, target.clone())),
            _ => combos.push((name, steps)),
        }
    }
    Ok((aliases, combos))
}

pub fn save_route(
    conn: &Connection,
    name: &str,
    kind: &str,
    steps: &[String],
) -> rusqlite::Result<()> {
    let steps = serde_json::to_string(steps).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT OR REPLACE INTO routes (name, kind, steps) VALUES (?1, ?2, ?3)",
        params![name, kind, steps],
    )?;
    Ok(())
}

pub fn remove_route(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM routes WHERE name = ?1", [name])? > 0)
}

/// Every saved account state.
pub fn load_account_states(conn: &Connection) -> rusqlite::Result<Vec<AccountStateRow>> {
    let mut stmt = conn.prepare(
        "SELECT provider, account, cooldown_until_ms, model_cooldowns, backoff_level, consecutive_failures,
                disabled_until_ms, last_error_ms, last_error, day, day_requests, day_tokens FROM account_state",
    )?;
    let rows = stmt.query_map([], |r| {
        let cooldowns: String = r.get(3)?;
        let last_error = match (r.get::<_, Option<i64>>(7)?, r.get::<_, Option<String>>(8)?) {
            (Some(t), Some(m)) => Some((t, m)),
            _ => None,
        };
        Ok(AccountStateRow {
            provider: r.get(0)?,
            account: r.get(1)?,
            cooldown_until_ms: r.get(2)?,
            model_cooldowns: serde_json::from_str(&cooldowns).unwrap_or_default(),
            backoff_level: r.get(4)?,
            consecutive_failures: r.get(5)?,
            disabled_until_ms: r.get(6)?,
            last_error,
            day: r.get(9)?,
            day_requests: r.get::<_, i64>(10)? as u64,
            day_tokens: r.get::<_, i64>(11)? as u64,
        })
    })?;
    rows.collect()
}

/// Tokens each client key used since `since_ms`, to seed its daily limit after a restart.
pub fn tokens_by_key_since(
    conn: &Connection,
    since_ms: i64,
) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT client_key, sum(prompt_tokens + completion_tokens) FROM usage
         WHERE ts_ms >= ?1 AND client_key IS NOT NULL GROUP BY client_key",
    )?;
    let rows = stmt.query_map([since_ms], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    rows.collect()
}

/// `switchyard usage`: requests and tokens by day, provider, model and client key.
pub fn summary(conn: &Connection, days: u32) -> rusqlite::Result<String> {
    let since_ms = chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000;
    let mut stmt = conn.prepare(
        "SELECT date(ts_ms / 1000, 'unixepoch') AS day,
                coalesce(provider, '-'), requested_model, coalesce(client_key, '-'),
                count(*), sum(status >= 400), sum(prompt_tokens), sum(completion_tokens),
                sum(cached_tokens), sum(tokens_estimated), avg(latency_ms)
         FROM usage WHERE ts_ms >= ?1
         GROUP BY day, 2, 3, 4 ORDER BY day DESC, 5 DESC",
    )?;
    let mut out = format!(
        "{:<10}  {:<12}  {:<28}  {:<10}  {:>6}  {:>6}  {:>10}  {:>10}  {:>8}  {:>9}\n",
        "day",
        "provider",
        "model",
        "key",
        "reqs",
        "errors",
        "prompt",
        "completion",
        "cached",
        "avg ms"
    );
    let rows = stmt.query_map([since_ms], |r| {
        Ok(format!(
            "{:<10}  {:<12}  {:<28}  {:<10}  {:>6}  {:>6}  {:>10}  {:>10}  {:>8}  {:>9.1}{}\n",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, f64>(10)?,
            if r.get::<_, i64>(9)? > 0 {
                "  (some estimated)"
            } else {
                ""
            },
        ))
    })?;
    let mut any = false;
    for row in rows {
        out.push_str(&row?);
        any = true;
    }
    if !any {
        out.push_str(&format!("(no requests in the last {days} days)\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_written_and_summarised() {
        let dir = std::env::temp_dir().join(format!("sy-usage-{}", uuid::Uuid::new_v4()));
        let path = dir.join("u.db");
        let conn = open(&path).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (sink, writer) = start(conn).unwrap();
        rt.block_on(async {
            for i in 0..3 {
                sink.record(UsageRow {
                    ts_ms: chrono::Utc::now().timestamp_millis(),
                    request_id: format!("r{i}"),
                    client_format: "openai",
                    provider: Some("groq".into()),
                    requested_model: "groq/llama".into(),
                    status: if i == 2 { 429 } else { 200 },
                    usage: Usage {
                        prompt_tokens: 10,
                        completion_tokens: 2,
                        ..Usage::default()
                    },
                    ..UsageRow::default()
                });
            }
            let state = |day_requests| AccountStateRow {
                provider: "groq".into(),
                account: "a".into(),
                cooldown_until_ms: Some(5),
                model_cooldowns: vec![("m".into(), 9)],
                last_error: Some((3, "429".into())),
                day: 7,
                day_requests,
                ..AccountStateRow::default()
            };
            // A newer state of the same account in the same batch is the one kept.
            sink.record_state(state(1));
            sink.record_state(state(2));
            sink.record_learned("gh", "gpt-5-codex", "openai");
            sink.record_learned("gh", "gpt-5-codex", "responses");
        });
        drop(sink);
        writer.close();
        let conn = open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let states = load_account_states(&conn).unwrap();
        assert_eq!(states.len(), 1);
        assert_eq!(states[0].model_cooldowns, vec![("m".to_owned(), 9)]);
        assert_eq!(states[0].last_error, Some((3, "429".to_owned())));
        assert_eq!(states[0].day_requests, 2);
        assert_eq!(
            load_learned_formats(&conn).unwrap(),
            vec![("gh".into(), "gpt-5-codex".into(), "responses".into())]
        );
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let text = summary(&conn, 7).unwrap();
        assert!(text.contains("groq/llama"), "{text}");
        assert!(text.contains("     3       1"), "{text}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
