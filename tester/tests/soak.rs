//! Soak: many concurrent requests with injected faults across accounts and combo targets.
//! Every request ends in a success or a well-formed error, every one is in the usage table,
//! and no account stays cooled down past its hint.

#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::post_json;

const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 64;
const KEYS: [&str; 4] = [
    "sk-soak-account-01",
    "sk-soak-account-02",
    "sk-soak-account-03",
    "sk-soak-second-01",
];
const CLIENT: &str = "sk-soak-client-key";
const ADMIN: &str = "sk-soak-admin-key";

/// About one request in ten on each key fails, in a mix of ways.
fn faults(seed: u64) -> Vec<Fault> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..REQUESTS)
        .map(|_| match rng.u32(0..100) {
            0..=3 => Fault::Status(429, vec![("retry-after", "1".into())]),
            4..=6 => Fault::Status(503, vec![]),
            7 => Fault::Status(500, vec![]),
            8 => Fault::ResetBeforeFirstByte,
            9 => Fault::Status(429, vec![]),
            _ => Fault::Pass,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_ends_well_formed_and_recorded() {
    let fake = FakeOpenAi::start().await;
    for (i, key) in KEYS.iter().enumerate() {
        fake.script(key, faults(i as u64 + 1));
    }
    let base = fake.base_url();
    let config = format!(
        r#"
[server]
admin_key = "{ADMIN}"
[[client_keys]]
id = "soak"
key = "{CLIENT}"
[routing]
strategy = "round-robin"
backoff_base_ms = 100
backoff_max_ms = 1000
disable_after = 0
[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a1"
api_key = "{}"
[[providers.accounts]]
name = "a2"
api_key = "{}"
[[providers.accounts]]
name = "a3"
api_key = "{}"
[[providers]]
name = "q"
base_url = "{base}"
[[providers.accounts]]
name = "b1"
api_key = "{}"
[[combos]]
name = "chain"
targets = ["p/m1", "q/m2"]
"#,
        KEYS[0], KEYS[1], KEYS[2], KEYS[3]
    );
    let mut proxy = Proxy::start(&config, &[("SWITCHYARD_LOG", "error")]);
    let url = Arc::new(proxy.url("/v1/chat/completions"));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (url, next) = (url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= REQUESTS {
                    return outcomes;
                }
                let stream = i % 4 == 0;
                let body = json!({"model": "chain", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
                let res = post_json(&url, CLIENT, &body).await;
                let status = res.status.as_u16();
                if status == 200 {
                    let text = res.text();
                    let ok = if stream { text.ends_with("data: [DONE]\n\n") } else { serde_json::from_str::<Value>(&text).is_ok() };
                    assert!(ok, "request {i}: malformed success: {text}");
                } else {
                    let v = res.json();
                    assert!(v["error"]["message"].is_string(), "request {i}: malformed error {status}: {v}");
                    assert!(matches!(status, 429 | 500..=599), "request {i}: unexpected status {status}: {v}");
                }
                outcomes.push(status);
            }
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(statuses.len(), REQUESTS);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    println!("{REQUESTS} requests in {elapsed:?}: {ok} succeeded");
    // With four accounts over two targets, a fault on one rarely defeats them all.
    assert!(
        ok * 100 >= REQUESTS * 95,
        "only {ok} of {REQUESTS} succeeded"
    );

    // No account stays cooled past its hint (1 s) or its capped backoff (1 s).
    let deadline = Instant::now() + Duration::from_secs(3);
    let auth = format!("Bearer {ADMIN}");
    loop {
        let res = switchyard_tester::http_client::request(
            "GET",
            &proxy.url("/api/accounts"),
            &[("authorization", &auth)],
            "",
        )
        .await;
        let accounts = res.json()["accounts"].as_array().unwrap().clone();
        if accounts.iter().all(|a| a["status"] == "ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "accounts still cooling long after their hints: {accounts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, REQUESTS, "every request has its usage row");
    let recorded_ok: i64 = conn
        .query_row("SELECT count(*) FROM usage WHERE status = 200", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(recorded_ok as usize, ok);
}
