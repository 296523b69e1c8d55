//! The database's tables and their migrations, and opening it (WAL, so the writer never
//! blocks readers such as `switchyard usage`).

use std::path::Path;

use rusqlite::Connection;

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
pub(super) const MIGRATIONS: &[&str] = &[
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
    // Resets asked for by `switchyard accounts reset`, until a server applies them
    // (provider and account NULL: every account; account NULL: the provider's).
    "CREATE TABLE account_resets (
         id           INTEGER PRIMARY KEY,
         provider     TEXT,
         account      TEXT,
         requested_ms INTEGER NOT NULL
     );",
    // The management API's audit log: who changed what, with before and after (masked).
    "CREATE TABLE audit (
         id     INTEGER PRIMARY KEY,
         ts_ms  INTEGER NOT NULL,
         actor  TEXT NOT NULL,
         action TEXT NOT NULL,
         target TEXT NOT NULL,
         before TEXT,
         after  TEXT
     );",
    // Why each cooldown was set (`429 retry-after 7200 s`), for `GET /api/accounts`:
    // a JSON list of (model or "", reason).
    "ALTER TABLE account_state ADD COLUMN cooldown_reasons TEXT NOT NULL DEFAULT '[]';",
];

/// Opens (or creates) the database at `path`, on the newest schema.
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
