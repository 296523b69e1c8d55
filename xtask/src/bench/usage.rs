//! `cargo xtask bench --only usage`: the usage API over a database of 1,000,000 usage rows
//! spread over 30 days, through HTTP against the real binary. Slow log and spend views are a
//! top complaint about other proxies; the targets are a request-log page under 50 ms and a
//! 30-day hourly aggregate under 200 ms (medians).
//!
//! The rows are made to look like a team's month: a dozen client keys of very different
//! activity, each with its own client and its own one or two models, accounts taken in turn,
//! busy working hours and quiet nights and weekends, a few percent of failures.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::load::Conn;
use super::{Proc, percentile, spawn_proxy, stop_gracefully, write_results};

const ROWS: usize = 1_000_000;
const DAYS: i64 = 30;
const HOUR_MS: i64 = 3_600_000;
pub(super) const ADMIN: &str = "sk-bench-admin-key-000000";
const PAGE_TARGET_MS: f64 = 50.0;
const AGGREGATE_TARGET_MS: f64 = 200.0;

/// splitmix64: the same rows every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// Log-uniform in [lo, hi]: token counts and latencies spread over orders of magnitude.
    fn log_between(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
}

/// A client key: its client format, its models ((provider, model), weight), and how busy it is.
struct Key {
    id: &'static str,
    format: &'static str,
    models: &'static [(&'static str, &'static str, f64)],
    weight: f64,
}

const KEYS: [Key; 12] = [
    Key {
        id: "alice-claude-code",
        format: "claude",
        models: &[
            ("anthropic", "claude-sonnet-4-5", 0.8),
            ("anthropic", "claude-haiku-4-5", 0.2),
        ],
        weight: 12.0,
    },
    Key {
        id: "bob-codex",
        format: "responses",
        models: &[("codex", "gpt-5-codex", 0.9), ("codex", "gpt-5", 0.1)],
        weight: 8.0,
    },
    Key {
        id: "ci-bot",
        format: "openai",
        models: &[("openai", "gpt-5-mini", 1.0)],
        weight: 6.0,
    },
    Key {
        id: "carol-cursor",
        format: "openai",
        models: &[
            ("anthropic", "claude-sonnet-4-5", 0.6),
            ("openai", "gpt-5", 0.4),
        ],
        weight: 5.0,
    },
    Key {
        id: "dave-gemini",
        format: "gemini",
        models: &[
            ("gemini", "gemini-2.5-pro", 0.5),
            ("gemini", "gemini-2.5-flash", 0.5),
        ],
        weight: 4.0,
    },
    Key {
        id: "erin-claude-code",
        format: "claude",
        models: &[
            ("anthropic", "claude-opus-4-1", 0.3),
            ("anthropic", "claude-sonnet-4-5", 0.7),
        ],
        weight: 3.0,
    },
    Key {
        id: "frank-kiro",
        format: "claude",
        models: &[("kiro", "claude-sonnet-4", 1.0)],
        weight: 2.0,
    },
    Key {
        id: "grace-codex",
        format: "responses",
        models: &[("codex", "gpt-5-codex", 1.0)],
        weight: 1.5,
    },
    Key {
        id: "evals",
        format: "openai",
        models: &[
            ("openai", "gpt-5", 0.3),
            ("gemini", "gemini-2.5-pro", 0.3),
            ("anthropic", "claude-sonnet-4-5", 0.4),
        ],
        weight: 1.0,
    },
    Key {
        id: "heidi-copilot",
        format: "openai",
        models: &[("copilot", "gpt-4.1", 1.0)],
        weight: 0.8,
    },
    Key {
        id: "ivan-scripts",
        format: "openai",
        models: &[("openai", "gpt-5-mini", 1.0)],
        weight: 0.5,
    },
    Key {
        id: "judy-test",
        format: "claude",
        models: &[("anthropic", "claude-haiku-4-5", 1.0)],
        weight: 0.2,
    },
];

/// (status, error class, share): mostly answered, a few limits, upstream faults and
/// clients that went away.
const OUTCOMES: [(u16, Option<&str>, f64); 6] = [
    (200, None, 0.94),
    (429, Some("rate_limit"), 0.025),
    (499, Some("cancelled"), 0.015),
    (500, Some("upstream"), 0.01),
    (502, Some("upstream"), 0.005),
    (400, Some("invalid_request"), 0.005),
];

fn pick<T>(rng: &mut Rng, items: &[T], weight: impl Fn(&T) -> f64) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.unit() * total;
    for (i, item) in items.iter().enumerate() {
        x -= weight(item);
        if x < 0.0 {
            return i;
        }
    }
    items.len().saturating_sub(1)
}

/// How busy each hour of the range is: working hours (UTC 8-18) on weekdays the most,
/// nights and weekends a tenth of that.
fn hour_weights(start_ms: i64) -> Vec<f64> {
    (0..DAYS * 24)
        .map(|h| {
            let at = start_ms + h * HOUR_MS;
            let hour = (at / HOUR_MS) % 24;
            // 1970-01-01 was a Thursday: day 0 is weekday 3 (Monday = 0).
            let weekday = (at / (24 * HOUR_MS) + 3) % 7;
            let working = (8..18).contains(&hour);
            match (weekday < 5, working) {
                (true, true) => 1.0,
                (true, false) => 0.15,
                (false, true) => 0.2,
                (false, false) => 0.05,
            }
        })
        .collect()
}

/// Fills `usage` with [`ROWS`] rows over the [`DAYS`] before `end_ms`, in time order, in one
/// transaction with one prepared statement, then builds `usage_hourly` from them.
fn fill(db: &Path, end_ms: i64) -> Result<Duration, String> {
    let started = Instant::now();
    let mut conn = Connection::open(db).map_err(|e| e.to_string())?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| e.to_string())?;
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(|e| e.to_string())?;
    let start_ms = (end_ms - DAYS * 24 * HOUR_MS) / HOUR_MS * HOUR_MS;
    let weights = hour_weights(start_ms);
    let total: f64 = weights.iter().sum();
    let mut rng = Rng(0x5717_c4ad);
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO usage (ts_ms, request_id, client_key, client_format, provider, account,
                    requested_model, upstream_model, stream, status, error_class, prompt_tokens,
                    completion_tokens, cached_tokens, reasoning_tokens, tokens_estimated, latency_ms,
                    ttfb_ms, combo, target_index, attempts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            )
            .map_err(|e| e.to_string())?;
        let mut written = 0usize;
        let mut carried = 0.0;
        for (h, w) in weights.iter().enumerate() {
            // This hour's share of the rows, the fractions carried so the total is exact.
            carried += ROWS as f64 * w / total;
            let mut n = carried.floor() as usize;
            if h + 1 == weights.len() {
                n = ROWS - written;
            }
            carried -= n as f64;
            let hour_start = start_ms + h as i64 * HOUR_MS;
            let mut offsets: Vec<i64> =
                (0..n).map(|_| rng.below(HOUR_MS as usize) as i64).collect();
            offsets.sort_unstable();
            for offset in offsets {
                let key = &KEYS[pick(&mut rng, &KEYS, |k| k.weight)];
                let (provider, model, _) = key.models[pick(&mut rng, key.models, |m| m.2)];
                let (status, error_class, _) = OUTCOMES[pick(&mut rng, &OUTCOMES, |o| o.2)];
                let ok = status == 200;
                let prompt = rng.log_between(300.0, 150_000.0) as i64;
                let cached = if provider == "anthropic" || provider == "kiro" {
                    (prompt as f64 * rng.unit() * 0.9) as i64
                } else {
                    (prompt as f64 * rng.unit() * 0.5) as i64
                };
                let completion = if ok {
                    rng.log_between(20.0, 8_000.0) as i64
                } else {
                    0
                };
                let reasoning = if ok && model.starts_with("gpt-5") {
                    completion / 3
                } else {
                    0
                };
                let latency = if ok {
                    rng.log_between(400.0, 90_000.0)
                } else {
                    rng.log_between(50.0, 5_000.0)
                };
                let request_id = format!("{:016x}{:016x}", rng.next(), rng.next());
                stmt.execute(params![
                    hour_start + offset,
                    request_id,
                    key.id,
                    key.format,
                    provider,
                    format!("{provider}-{}", rng.below(3) + 1),
                    model,
                    model,
                    rng.unit() < 0.85,
                    status,
                    error_class,
                    prompt,
                    completion,
                    cached,
                    reasoning,
                    false,
                    latency,
                    latency.min(rng.log_between(150.0, 3_000.0)),
                    Option::<&str>::None,
                    0,
                    if status == 429 { 2 } else { 1 },
                ])
                .map_err(|e| e.to_string())?;
            }
            written += n;
        }
    }
    build_rollup(&tx)?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

/// The server's writer keeps the hourly rollup as it writes; a bulk load like [`fill`]'s
/// builds it once from the rows afterwards (as the rollup's migration does).
fn build_rollup(tx: &Connection) -> Result<(), String> {
    tx.execute_batch(
        "DELETE FROM usage_hourly;
         INSERT INTO usage_hourly
             SELECT (ts_ms / 3600000) * 3600000, coalesce(provider, ''), coalesce(account, ''),
                    requested_model, coalesce(upstream_model, ''), coalesce(client_key, ''),
                    client_format, status, count(*), sum(status >= 400), sum(prompt_tokens),
                    sum(completion_tokens), sum(cached_tokens), sum(reasoning_tokens),
                    sum(latency_ms), max(latency_ms)
             FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;",
    )
    .map_err(|e| e.to_string())
}

/// One measured query: its name, path, target and the figures.
struct Measured {
    name: &'static str,
    path: String,
    target_ms: f64,
    samples: Vec<f64>,
    rows: usize,
}

async fn measure(conn: &mut Conn, path: &str, runs: usize) -> Result<(Vec<f64>, Value), String> {
    let auth = format!("Bearer {ADMIN}");
    let headers = [("authorization", auth.as_str())];
    // One unmeasured run warms the page cache, as a dashboard's second look is.
    let (status, body) = conn.get(path, &headers).await?;
    if status != 200 {
        return Err(format!(
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let answer: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let (status, _) = conn.get(path, &headers).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            return Err(format!("GET {path}: {status}"));
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples, answer))
}

fn config() -> String {
    format!(
        r#"[server]
admin_key = "{ADMIN}"

[[providers]]
name = "anthropic"
kind = "claude"
base_url = "http://127.0.0.1:9/v1"
[[providers.accounts]]
name = "anthropic-1"
api_key = "sk-bench-unused-upstream-key"
"#
    )
}

/// The database filled: its rows end at the returned instant (epoch ms).
pub(super) fn prepare(bin: &Path, dir: &Path) -> Result<(i64, Value), String> {
    std::fs::write(dir.join("config.toml"), config()).map_err(|e| e.to_string())?;
    // The server creates the database on its own schema (every migration); it is stopped
    // while the rows go in, as after an import.
    let (mut first, _) = spawn_proxy(bin, dir)?;
    stop_gracefully(&mut first);
    let db = dir.join("data/switchyard.db");
    #[expect(
        clippy::disallowed_methods,
        reason = "xtask does not depend on the hub's clock; the rows end at the real now, as the server's default ranges do"
    )]
    let end_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let fill_time = fill(&db, end_ms)?;
    let size_mb = std::fs::metadata(&db).map_or(0, |m| m.len()) as f64 / 1e6;
    let rollup_rows: i64 = Connection::open(&db)
        .and_then(|c| c.query_row("SELECT count(*) FROM usage_hourly", [], |r| r.get(0)))
        .map_err(|e| e.to_string())?;
    println!(
        "filled {ROWS} usage rows over {DAYS} days in {:.1} s ({:.0} rows/s, hourly rollup: {rollup_rows} rows); database {size_mb:.0} MB",
        fill_time.as_secs_f64(),
        ROWS as f64 / fill_time.as_secs_f64(),
    );
    let filled = json!({
        "fill_s": fill_time.as_secs_f64(),
        "rollup_rows": rollup_rows,
        "database_mb": size_mb,
    });
    Ok((end_ms, filled))
}

/// What is timed: (name, path, target in ms); an empty path is one request by its id.
fn cases(end_ms: i64) -> Vec<(&'static str, String, f64)> {
    let from = end_ms - DAYS * 24 * HOUR_MS;
    let deep = format!("{}.{}", from + 24 * HOUR_MS, i64::MAX);
    vec![
        (
            "log: first page",
            "/api/requests?limit=50".into(),
            PAGE_TARGET_MS,
        ),
        (
            "log: filtered page",
            "/api/requests?limit=50&provider=gemini&errors=true".into(),
            PAGE_TARGET_MS,
        ),
        (
            "log: key filter page",
            "/api/requests?limit=50&client_key=judy-test".into(),
            PAGE_TARGET_MS,
        ),
        (
            "log: deep cursor page",
            format!("/api/requests?limit=50&cursor={deep}"),
            PAGE_TARGET_MS,
        ),
        ("one request by id", String::new(), PAGE_TARGET_MS),
        (
            "30-day hourly aggregate",
            format!("/api/usage/aggregate?bucket=hour&from={from}&to={end_ms}"),
            AGGREGATE_TARGET_MS,
        ),
        (
            "30-day hourly by provider",
            format!("/api/usage/aggregate?bucket=hour&from={from}&to={end_ms}&group_by=provider"),
            AGGREGATE_TARGET_MS,
        ),
        (
            "30-day daily by model,key",
            format!(
                "/api/usage/aggregate?bucket=day&from={from}&to={end_ms}&group_by=model,client_key"
            ),
            AGGREGATE_TARGET_MS,
        ),
        (
            "24-hour minute aggregate",
            format!(
                "/api/usage/aggregate?bucket=minute&from={}&to={end_ms}",
                end_ms - 24 * HOUR_MS
            ),
            AGGREGATE_TARGET_MS,
        ),
    ]
}

fn measure_all(
    proxy: &Proc,
    cases: Vec<(&'static str, String, f64)>,
    runs: usize,
) -> Result<Vec<Measured>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut conn = Conn::open(proxy.addr).await?;
        let mut out = Vec::new();
        let mut some_id = String::new();
        for (name, path, target_ms) in cases {
            let path = if path.is_empty() {
                format!("/api/requests/{some_id}")
            } else {
                path
            };
            let (samples, answer) = measure(&mut conn, &path, runs).await?;
            let rows = answer["requests"]
                .as_array()
                .or_else(|| answer["buckets"].as_array())
                .map_or(1, Vec::len);
            if let Some(id) = answer["requests"][0]["request_id"].as_str() {
                some_id = id.to_owned();
            }
            out.push(Measured {
                name,
                path,
                target_ms,
                samples,
                rows,
            });
        }
        Ok::<_, String>(out)
    })
}

pub fn run(bin: &Path, dir: &Path, quick: bool) -> Result<(), String> {
    let (end_ms, filled) = prepare(bin, dir)?;
    let proxy: Proc = spawn_proxy(bin, dir)?.0;
    let runs = if quick { 5 } else { 21 };
    let measured = measure_all(&proxy, cases(end_ms), runs)?;
    drop(proxy);
    println!(
        "\n{:<28} {:>8} {:>8} {:>8} {:>7}  {:>6}",
        "query", "median", "p90", "target", "rows", ""
    );
    let mut failed = Vec::new();
    let mut report = Vec::new();
    for m in &measured {
        let median = percentile(&m.samples, 0.5);
        let p90 = percentile(&m.samples, 0.9);
        let pass = median < m.target_ms;
        if !pass {
            failed.push(format!(
                "{} median {median:.1} ms over {} ms",
                m.name, m.target_ms
            ));
        }
        println!(
            "{:<28} {:>6.1}ms {:>6.1}ms {:>6.0}ms {:>7}  {}",
            m.name,
            median,
            p90,
            m.target_ms,
            m.rows,
            if pass { "ok" } else { "SLOW" }
        );
        report.push(json!({
            "query": m.name, "path": m.path, "median_ms": median, "p90_ms": p90,
            "target_ms": m.target_ms, "rows": m.rows, "runs": m.samples.len(),
        }));
    }
    let summary = json!({
        "usage_rows": ROWS,
        "days": DAYS,
        "filled": filled,
        "queries": report,
    });
    write_results(&dir.join("usage.json"), &summary)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}
