//! The usage store tests: a slow writer holds producers back and loses nothing; rows are
//! written and summarised.

use super::schema::MIGRATIONS;
use super::*;

struct TestAccount {
    row: Mutex<AccountStateRow>,
}

impl AccountState for TestAccount {
    fn take_state(&self) -> AccountStateRow {
        self.row.lock().unwrap().clone()
    }
}

fn row(i: usize) -> UsageRow {
    UsageRow {
        ts_ms: chrono::Utc::now().timestamp_millis(),
        request_id: format!("{i:032x}"),
        client_format: "openai",
        provider: Some("groq".into()),
        account: Some("a1".into()),
        requested_model: "groq/llama-3.3-70b".into(),
        upstream_model: Some("llama-3.3-70b".into()),
        status: 200,
        ..UsageRow::default()
    }
}

/// A writer held to 2,000 rows/s against a producer that would go far faster: the
/// producer waits for room, the queue never holds more than its budget plus the one row
/// each admitted request adds, and every row is written.
#[test]
fn a_slow_writer_holds_the_producer_back_and_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("sy-usage-{}", uuid::Uuid::new_v4()));
    let path = dir.join("u.db");
    let budget = 16 * 1024;
    let options = WriterOptions {
        queue_bytes: budget,
        rows_per_sec: Some(2_000),
    };
    let (sink, writer) = start(open(&path).unwrap(), options).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    const ROWS: usize = 1_000;
    let peak = rt.block_on(async {
        let mut peak = 0;
        for i in 0..ROWS {
            sink.room().await;
            sink.record(row(i));
            peak = peak.max(sink.shared.bytes.load(Ordering::Acquire));
        }
        peak
    });
    assert!(peak >= budget, "the producer never got ahead: {peak}");
    assert!(
        peak < budget + 2 * row_bytes(&row(0)),
        "queue grew past its budget: {peak} bytes"
    );
    let waits = sink.stats().waits.get();
    assert!(waits > 0, "nobody waited");
    drop(sink);
    writer.close();
    let conn = open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, ROWS);
    let _ = std::fs::remove_dir_all(dir);
}

/// At a low rate rows share a commit (group commit): a row waits up to [`GATHER`] for
/// company instead of committing alone, and is in the database within the bound the module
/// promises (GATHER plus a nap, plus the write).
#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "a plain test thread paces the rows as requests a few milliseconds apart would"
)]
fn rows_at_a_low_rate_share_a_commit_within_the_bound() {
    let dir = std::env::temp_dir().join(format!("sy-usage-{}", uuid::Uuid::new_v4()));
    let (sink, writer) = start(open(&dir.join("u.db")).unwrap(), WriterOptions::default()).unwrap();
    let first = Instant::now();
    sink.record(row(0));
    // Four naps: a writer that commits each row as it finds it has written this one by now.
    std::thread::sleep(4 * NAP);
    sink.record(row(1));
    let second = first.elapsed();
    while sink.stats().written.get() < 2 {
        assert!(first.elapsed() < Duration::from_secs(5), "rows not written");
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = first.elapsed();
    // Only when this thread was not held up past the gathering time itself.
    if second < GATHER {
        assert_eq!(
            sink.stats().batch_rows.get(),
            2,
            "the two rows committed apart"
        );
        assert!(
            took >= GATHER,
            "committed after {took:?}, before gathering {GATHER:?}"
        );
    }
    assert!(
        took < GATHER + NAP + Duration::from_secs(1),
        "a row took {took:?} to reach the database"
    );
    drop(sink);
    writer.close();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rows_are_written_and_summarised() {
    let dir = std::env::temp_dir().join(format!("sy-usage-{}", uuid::Uuid::new_v4()));
    let path = dir.join("u.db");
    let conn = open(&path).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (sink, writer) = start(conn, WriterOptions::default()).unwrap();
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
                cost_usd: (i < 2).then_some(0.25),
                price_version: (i < 2).then(|| "catalogue:2026-12-07".to_owned()),
                cost_basis: Some(if i < 2 { "api" } else { "no price" }),
                ..UsageRow::default()
            });
        }
        let account = Arc::new(TestAccount {
            row: Mutex::new(AccountStateRow {
                provider: "groq".into(),
                account: "a".into(),
                cooldown_until_ms: Some(5),
                model_cooldowns: vec![("m".into(), 9)],
                last_error: Some((3, "429".into())),
                day: 7,
                day_requests: 1,
                ..AccountStateRow::default()
            }),
        });
        // Saved as state: queued once, the newest state is what the writer reads.
        sink.record_state(Some(account.clone()), true);
        account.row.lock().unwrap().day_requests = 2;
        sink.record_state(None, false);
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
    assert!(
        text.contains("    0.5000      0.0000  (1 no price)"),
        "{text}"
    );
    let stored: (f64, String) = conn
        .query_row(
            "SELECT sum(cost_usd), min(price_version) FROM usage WHERE cost_basis = 'api'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored, (0.5, "catalogue:2026-12-07".to_owned()));
    let _ = std::fs::remove_dir_all(dir);
}

/// The rollup's rows, or the same sums computed from the rows themselves, in one order.
type Rollup = Vec<(i64, [String; 6], i64, [i64; 6], f64, f64)>;

fn rollup(conn: &Connection, sql: &str) -> Rollup {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            let text = |i| r.get::<_, String>(i);
            let n = |i| r.get::<_, i64>(i);
            Ok((
                n(0)?,
                [text(1)?, text(2)?, text(3)?, text(4)?, text(5)?, text(6)?],
                n(7)?,
                [n(8)?, n(9)?, n(10)?, n(11)?, n(12)?, n(13)?],
                r.get(14)?,
                r.get(15)?,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The writer keeps `usage_hourly` itself, summing each batch per hour and group: after
/// 20,000 rows over 48 hours in a few hundred batches of varying size (a small queue
/// budget), it holds exactly what a GROUP BY over the rows computes. Latencies are
/// multiples of 1/4 ms, so their sums are exact in any order.
#[test]
fn the_writer_keeps_the_hourly_rollup_exact() {
    const HOUR: i64 = 3_600_000;
    const ROWS: usize = 20_000;
    let dir = std::env::temp_dir().join(format!("sy-usage-{}", uuid::Uuid::new_v4()));
    let path = dir.join("u.db");
    let options = WriterOptions {
        queue_bytes: 16 * 1024,
        rows_per_sec: None,
    };
    let (sink, writer) = start(open(&path).unwrap(), options).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start_ms = 1_760_000_000_000 / HOUR * HOUR;
    rt.block_on(async {
        for i in 0..ROWS {
            sink.room().await;
            sink.record(UsageRow {
                // 48 hours, a little out of order as concurrent requests finish.
                ts_ms: start_ms + (i as i64 * 48 * HOUR) / ROWS as i64 - (i % 5) as i64 * 7_000,
                request_id: format!("{i:032x}"),
                client_key: ["k1", "k2", ""]
                    .get(i % 3)
                    .filter(|k| !k.is_empty())
                    .map(|k| (*k).to_owned()),
                client_format: ["openai", "claude", "gemini"][i / 7 % 3],
                provider: (i % 11 != 0).then(|| ["p1", "p2"][i / 3 % 2].to_owned()),
                account: (i % 11 != 0).then(|| format!("a{}", i % 4)),
                requested_model: ["m1", "m2"][i / 5 % 2].into(),
                upstream_model: (i % 13 != 0).then(|| "um".to_owned()),
                status: [200, 200, 200, 429, 500, 499][i % 6],
                usage: Usage {
                    prompt_tokens: (i % 1000) as u64 * 37,
                    completion_tokens: (i % 17) as u64,
                    cached_tokens: (i % 3) as u64 * 100,
                    reasoning_tokens: (i % 2) as u64 * 9,
                    ..Usage::default()
                },
                latency_ms: (i % 977) as f64 * 0.25,
                ..UsageRow::default()
            });
        }
    });
    assert!(sink.stats().waits.get() > 0, "the rows went in one batch");
    drop(sink);
    writer.close();
    let conn = open(&path).unwrap();
    let stored = rollup(
        &conn,
        "SELECT hour_ms, provider, account, model, upstream_model, client_key, client_format,
                status, requests, errors, prompt_tokens, completion_tokens, cached_tokens,
                reasoning_tokens, latency_sum_ms, latency_max_ms
         FROM usage_hourly ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    );
    let computed = rollup(
        &conn,
        "SELECT (ts_ms / 3600000) * 3600000, coalesce(provider, ''), coalesce(account, ''),
                requested_model, coalesce(upstream_model, ''), coalesce(client_key, ''),
                client_format, status, count(*), sum(status >= 400), sum(prompt_tokens),
                sum(completion_tokens), sum(cached_tokens), sum(reasoning_tokens),
                sum(latency_ms), max(latency_ms)
         FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    );
    assert!(computed.len() > 1_000, "{} groups", computed.len());
    assert_eq!(stored.iter().map(|r| r.3[0]).sum::<i64>(), ROWS as i64);
    assert_eq!(stored, computed);
    let _ = std::fs::remove_dir_all(dir);
}
