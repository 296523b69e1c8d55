//! The usage writer's sustained rate, in rows a second: a producer records rows as requests
//! do (waiting for room when the queue is over its budget) into a fresh database, and the
//! time runs until the writer has committed the last of them.
//!
//! `cargo bench -p switchyard-server --bench usage_writer` (or `cargo xtask bench --micro`).

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup on fixed fixtures: a failure there is a broken bench and should abort loudly"
)]

use divan::Bencher;
use divan::counter::ItemsCount;
use switchyard_hub::Usage;
use switchyard_server::state::usage_store::{
    self, UsageRow, UsageSink, UsageWriter, WriterOptions,
};

fn main() {
    divan::main();
}

const ROWS: usize = 200_000;

/// A row as a typical request leaves it.
fn row(i: usize) -> UsageRow {
    UsageRow {
        ts_ms: 1_760_000_000_000 + i as i64 / 20,
        request_id: usage_store::request_id(1_760_000_000_000 + i as i64 / 20),
        client_key: Some("team-a".into()),
        client_format: "openai",
        provider: Some("openai".into()),
        account: Some("main".into()),
        requested_model: "openai/gpt-4.1-mini".into(),
        upstream_model: Some("gpt-4.1-mini".into()),
        stream: i.is_multiple_of(3),
        status: 200,
        usage: Usage {
            prompt_tokens: 1200,
            completion_tokens: 300,
            ..Usage::default()
        },
        latency_ms: 812.5,
        ttfb_ms: Some(210.0),
        attempts: 1,
        ..UsageRow::default()
    }
}

struct Run {
    sink: UsageSink,
    writer: UsageWriter,
    dir: Scratch,
}

/// The run's database directory, removed when divan drops the run's output (untimed).
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh() -> Run {
    let dir = std::env::temp_dir().join(format!("sy-writer-bench-{}", uuid::Uuid::new_v4()));
    let conn = usage_store::open(&dir.join("u.db")).unwrap();
    let (sink, writer) = usage_store::start(conn, WriterOptions::default()).unwrap();
    Run {
        sink,
        writer,
        dir: Scratch(dir),
    }
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn sustained_rows(bencher: Bencher) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    bencher
        .counter(ItemsCount::new(ROWS))
        .with_inputs(fresh)
        .bench_values(|run| {
            rt.block_on(async {
                for i in 0..ROWS {
                    run.sink.room().await;
                    run.sink.record(row(i));
                }
            });
            drop(run.sink);
            run.writer.close();
            run.dir
        });
}
