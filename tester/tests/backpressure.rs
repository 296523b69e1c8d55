//! Backpressure: when the usage writer cannot keep up (a slow disk, played by the test-only
//! `SWITCHYARD_TEST_USAGE_ROWS_PER_SEC`), requests wait for room in its queue instead of the
//! proxy's memory growing or rows being dropped. Load from 64 connections against a writer
//! held to a few hundred rows a second: the proxy's RSS (from /proc) stays flat, the writer's
//! batches never exceed the queue's budget plus the requests in flight, the metric counts the
//! waits, and after a graceful stop every answered request has its row.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{client, post_json_on, request};

const CLIENT: &str = "sk-backpressure-client-01";
const ADMIN: &str = "sk-backpressure-admin-01";
const CONNECTIONS: usize = 64;
const LOAD: Duration = Duration::from_secs(5);
/// The slowed writer's rate and the shrunken queue budget (about 150 rows).
const WRITER_ROWS_PER_SEC: u32 = 300;
const QUEUE_BYTES: usize = 64 * 1024;

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One metric's value from the Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(proxy: &Proxy) -> String {
    let auth = format!("Bearer {ADMIN}");
    request(
        "GET",
        &proxy.url("/metrics"),
        &[("authorization", &auth)],
        "",
    )
    .await
    .text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writer_holds_requests_back_with_memory_bounded_and_no_row_lost() {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        r#"
[server]
admin_key = "{ADMIN}"
[[client_keys]]
id = "bp"
key = "{CLIENT}"
[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a"
api_key = "sk-backpressure-upstream-01"
"#,
        base = fake.base_url(),
    );
    let rate = WRITER_ROWS_PER_SEC.to_string();
    let budget = QUEUE_BYTES.to_string();
    let mut proxy = Proxy::start(
        &config,
        &[
            ("SWITCHYARD_LOG", "warn"),
            ("SWITCHYARD_TEST_USAGE_ROWS_PER_SEC", &rate),
            ("SWITCHYARD_TEST_USAGE_QUEUE_BYTES", &budget),
        ],
    );
    let pid = proxy.pid();
    let url = Arc::new(proxy.url("/v1/chat/completions"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..CONNECTIONS {
        let (url, stop) = (url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut answered = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"model": "p/m", "messages": [{"role": "user", "content": format!("hi {t}")}]});
                let reply = post_json_on(&http, &url, CLIENT, &body).await;
                assert_eq!(reply.status, 200, "{}", reply.text());
                answered += 1;
            }
            answered
        }));
    }
    // RSS and the writer's batch size, sampled through the run.
    let start = Instant::now();
    let (mut rss, mut batches) = (Vec::new(), Vec::new());
    while start.elapsed() < LOAD {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss.push(rss_kb(pid));
        batches.push(metric(
            &metrics(&proxy).await,
            "switchyard_usage_batch_bytes",
        ));
    }
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for t in tasks {
        answered += t.await.unwrap();
    }
    let text = metrics(&proxy).await;
    let waits = metric(&text, "switchyard_usage_backpressure_waits_total");
    proxy.stop();

    let rows: i64 = rusqlite::Connection::open(proxy.db_path())
        .unwrap()
        .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
        .unwrap();
    // The first second is start-up and warm-up (connections, buffers); after it the curve
    // must be flat.
    let settled = rss.get(10).copied().unwrap_or(0);
    let peak = rss.iter().copied().max().unwrap_or(0);
    let max_batch = batches.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "answered {answered} in {LOAD:?} ({:.0}/s) against a writer of {WRITER_ROWS_PER_SEC} rows/s; \
         rows {rows}; waits {waits}; RSS after 1 s {settled} kB, peak {peak} kB; largest batch {max_batch} bytes",
        answered as f64 / LOAD.as_secs_f64()
    );
    assert_eq!(
        rows as usize, answered,
        "usage rows against requests answered"
    );
    // The queue: its budget plus one row (well under 1 kB) per request in flight.
    let bound = (QUEUE_BYTES + CONNECTIONS * 1024) as f64;
    assert!(
        max_batch <= bound,
        "the writer's queue grew to {max_batch} bytes (bound {bound})"
    );
    assert!(
        peak <= settled + 8 * 1024,
        "RSS grew from {settled} kB to {peak} kB under load"
    );
    assert!(waits > 0.0, "no request waited: the writer was not behind");
}
