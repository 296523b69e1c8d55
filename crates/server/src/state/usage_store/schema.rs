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
    // Endpoints beyond chat: which one a row is for, and the units that are not tokens.
    "ALTER TABLE usage ADD COLUMN endpoint TEXT NOT NULL DEFAULT 'chat';
     ALTER TABLE usage ADD COLUMN images INTEGER NOT NULL DEFAULT 0;",
    // Each request's cost in USD from the model catalogue (NULL: no price), the price it
    // used (`catalogue:<date checked>` or `config:...`) and its basis: `api`, `equivalent`
    // (a subscription, priced as the API would bill it) or `no price`.
    "ALTER TABLE usage ADD COLUMN cost_usd REAL;
     ALTER TABLE usage ADD COLUMN price_version TEXT;
     ALTER TABLE usage ADD COLUMN cost_basis TEXT;",
    // Client keys made through the API or `switchyard keys create`: the SHA-256 of the
    // secret (never the secret), what a list shows of it, expiry, revocation and limits.
    "CREATE TABLE client_keys (
         id                  TEXT PRIMARY KEY,
         name                TEXT NOT NULL,
         secret_sha256       BLOB NOT NULL UNIQUE,
         last4               TEXT NOT NULL,
         created_ms          INTEGER NOT NULL,
         expires_ms          INTEGER,
         revoked_ms          INTEGER,
         requests_per_minute INTEGER,
         tokens_per_day      INTEGER,
         tokens_per_month    INTEGER
     );",
    // Why each cooldown was set (`429 retry-after 7200 s`), for `GET /api/accounts`:
    // a JSON list of (model or "", reason).
    "ALTER TABLE account_state ADD COLUMN cooldown_reasons TEXT NOT NULL DEFAULT '[]';",
    // Audio endpoints count their own units: characters spoken, seconds heard.
    "ALTER TABLE usage ADD COLUMN characters INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE usage ADD COLUMN audio_seconds REAL NOT NULL DEFAULT 0;",
    // The usage API (`GET /api/usage/aggregate`, `GET /api/requests`). Hour and day buckets
    // read `usage_hourly`, per-hour sums by every dimension the API groups and filters by,
    // kept by a trigger in the inserting transaction, so every writer of `usage` (the
    // server's writer, a bulk load) keeps it exact. Measured on 1,000,000 rows over 30
    // days, a 30-day hourly aggregate took 2.5 s from the table and 2.4 s from a covering
    // index (SQLite spends its time summing, not reading); see `cargo xtask bench --only
    // usage` for the figures with this table. Absent dimensions are '' (primary key
    // columns cannot be NULL). The indexes serve the request log: one request by id, and a
    // page filtered by key, provider or model without walking the whole table.
    "CREATE TABLE usage_hourly (
         hour_ms           INTEGER NOT NULL,
         provider          TEXT NOT NULL,
         account           TEXT NOT NULL,
         model             TEXT NOT NULL,
         upstream_model    TEXT NOT NULL,
         client_key        TEXT NOT NULL,
         client_format     TEXT NOT NULL,
         status            INTEGER NOT NULL,
         requests          INTEGER NOT NULL,
         errors            INTEGER NOT NULL,
         prompt_tokens     INTEGER NOT NULL,
         completion_tokens INTEGER NOT NULL,
         cached_tokens     INTEGER NOT NULL,
         reasoning_tokens  INTEGER NOT NULL,
         latency_sum_ms    REAL NOT NULL,
         latency_max_ms    REAL NOT NULL,
         PRIMARY KEY (hour_ms, provider, account, model, upstream_model, client_key, client_format, status)
     ) WITHOUT ROWID;
     INSERT INTO usage_hourly
         SELECT (ts_ms / 3600000) * 3600000, coalesce(provider, ''), coalesce(account, ''),
                requested_model, coalesce(upstream_model, ''), coalesce(client_key, ''),
                client_format, status, count(*), sum(status >= 400), sum(prompt_tokens),
                sum(completion_tokens), sum(cached_tokens), sum(reasoning_tokens),
                sum(latency_ms), max(latency_ms)
         FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
     CREATE TRIGGER usage_hourly_add AFTER INSERT ON usage BEGIN
         INSERT INTO usage_hourly VALUES (
             (NEW.ts_ms / 3600000) * 3600000, coalesce(NEW.provider, ''),
             coalesce(NEW.account, ''), NEW.requested_model, coalesce(NEW.upstream_model, ''),
             coalesce(NEW.client_key, ''), NEW.client_format, NEW.status, 1,
             NEW.status >= 400, NEW.prompt_tokens, NEW.completion_tokens, NEW.cached_tokens,
             NEW.reasoning_tokens, NEW.latency_ms, NEW.latency_ms)
         ON CONFLICT (hour_ms, provider, account, model, upstream_model, client_key, client_format, status)
         DO UPDATE SET
             requests = requests + 1,
             errors = errors + excluded.errors,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             cached_tokens = cached_tokens + excluded.cached_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
             latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,
             latency_max_ms = max(latency_max_ms, excluded.latency_max_ms);
     END;
     CREATE INDEX usage_request_id ON usage(request_id);
     CREATE INDEX usage_key_ts ON usage(client_key, ts_ms);
     CREATE INDEX usage_provider_ts ON usage(provider, ts_ms);
     CREATE INDEX usage_model_ts ON usage(requested_model, ts_ms);",
    // Providers defined through the management API: each the JSON form of a
    // `[[providers]]` table, checked as the file's are when read.
    "CREATE TABLE IF NOT EXISTS stored_providers (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
     );",
    // Routing and timeout settings changed through the management API, laid over the
    // file's: key as the file spells it, value as JSON.
    "CREATE TABLE IF NOT EXISTS setting_overrides (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
     );",
    // The dashboard overview's fallback count over a range: the rollup keeps no attempts,
    // and this index holds only the rows served after a fallback (a few percent), so the
    // count reads those instead of scanning up to a month of rows.
    "CREATE INDEX IF NOT EXISTS usage_fallbacks ON usage(ts_ms) WHERE attempts > 1;",
    // Dollar budgets of stored client keys (`PATCH /api/keys/{id}`, `keys create
    // --budget-daily`), enforced as the file keys' `usd_per_day`/`usd_per_month`. A table of
    // its own, created only if missing, so that this step can be applied again unharmed.
    "CREATE TABLE IF NOT EXISTS client_key_budgets (
         id            TEXT PRIMARY KEY,
         usd_per_day   REAL,
         usd_per_month REAL
     );",
    // Each provider's own model list (discovery), with when it was fetched; a provider
    // whose list came back empty still has its fetch time. Created only if missing, so
    // the step can be applied again unharmed.
    "CREATE TABLE IF NOT EXISTS provider_models (
         provider     TEXT NOT NULL,
         model        TEXT NOT NULL,
         display_name TEXT,
         context      INTEGER,
         max_output   INTEGER,
         fetched_ms   INTEGER NOT NULL,
         PRIMARY KEY (provider, model)
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS provider_model_fetches (
         provider   TEXT PRIMARY KEY,
         fetched_ms INTEGER NOT NULL
     );",
    // The writer keeps `usage_hourly` itself: it sums each batch by hour and group in memory
    // and adds to each rollup row once per batch, where the trigger added once per row and
    // cut the writer from about 190,000 to about 42,000 rows/s. Written so it can run again
    // (the rollup migration's test replays the migrations after it).
    "DROP TRIGGER IF EXISTS usage_hourly_add;",
    // Model catalogue entries set through the management API (`PUT /api/models/{id}`): the
    // entry as JSON, laid over the shipped catalogue and the file's `[[models]]`.
    "CREATE TABLE IF NOT EXISTS model_overrides (
        id TEXT PRIMARY KEY,
        entry TEXT NOT NULL
     );",
    // Video generation jobs (`/v1/videos`, Veo `predictLongRunning`): the provider and
    // account that started each (the only ones that may poll it), the upstream's id for it,
    // what the client asked in which format, and where it stands, so a restart goes on
    // polling and a client can ask for its job after one. `recorded`: its usage row went out.
    "CREATE TABLE IF NOT EXISTS video_jobs (
         id              TEXT PRIMARY KEY,
         client_key      TEXT,
         client_format   TEXT NOT NULL,
         requested_model TEXT NOT NULL,
         provider        TEXT NOT NULL,
         account         TEXT NOT NULL,
         upstream_model  TEXT NOT NULL,
         upstream_format TEXT NOT NULL,
         upstream_id     TEXT NOT NULL,
         prompt          TEXT NOT NULL,
         seconds         REAL NOT NULL,
         size            TEXT NOT NULL,
         status          TEXT NOT NULL,
         progress        INTEGER NOT NULL DEFAULT 0,
         video_uri       TEXT,
         error           TEXT,
         created_ms      INTEGER NOT NULL,
         updated_ms      INTEGER NOT NULL,
         completed_ms    INTEGER,
         recorded        INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX IF NOT EXISTS video_jobs_open ON video_jobs(status)
         WHERE status IN ('queued', 'in_progress');",
    // Seconds of video a job made: its usage row's unit. One statement, so a replay that
    // finds the column already there skips it (see `open`).
    "ALTER TABLE usage ADD COLUMN video_seconds REAL NOT NULL DEFAULT 0;",
];

/// Whether `sql` is one `ADD COLUMN` that failed with `err` because the column is there
/// already: SQLite has no `ADD COLUMN IF NOT EXISTS`, so a migration run twice (a replay
/// after an older schema was restored) is let through here instead.
fn column_already_added(sql: &str, err: &rusqlite::Error) -> bool {
    let one_statement = sql.trim().trim_end_matches(';').matches(';').count() == 0;
    one_statement && sql.contains("ADD COLUMN") && err.to_string().contains("duplicate column name")
}

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
        match tx.execute_batch(sql) {
            Err(e) if !column_already_added(sql, &e) => return Err(e),
            _ => {}
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(conn)
}
