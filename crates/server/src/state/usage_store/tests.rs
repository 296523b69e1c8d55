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
