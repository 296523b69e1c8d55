//! Serving threads: `server.threads = N` runs N current-thread runtimes, each accepting on
//! its own SO_REUSEPORT listener (the kernel spreads connections across them). Load from
//! many connections is answered in full, and every serving thread did part of the work
//! (its CPU time, from /proc, grew).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{client, post_json_on};

const CLIENT: &str = "sk-threads-client-key-01";
const THREADS: usize = 3;
const CONNECTIONS: usize = 48;
const PER_CONNECTION: usize = 40;

/// Thread name -> CPU ticks (user + system) for every thread of `pid`.
fn thread_cpu(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let ticks: u64 = stat[close + 1..]
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        *out.entry(name).or_default() += ticks;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_serving_thread_takes_connections() {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        r#"
[server]
threads = {THREADS}
[[client_keys]]
id = "t"
key = "{CLIENT}"
[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a"
api_key = "sk-threads-upstream-01"
"#,
        base = fake.base_url(),
    );
    let mut proxy = Proxy::start(&config, &[("SWITCHYARD_LOG", "warn")]);
    let pid = proxy.pid();
    let serving: Vec<String> = (1..THREADS).map(|i| format!("serve-{i}")).collect();
    // The port answers as soon as the first thread serves; the others may still be starting.
    let started = std::time::Instant::now();
    let before = loop {
        let threads = thread_cpu(pid);
        if serving.iter().all(|name| threads.contains_key(name)) {
            break threads;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "serving threads missing: {threads:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let url = proxy.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task: its own connection, so the kernel places each.
            let http = client();
            for i in 0..PER_CONNECTION {
                let body = json!({"model": "p/m", "messages": [{"role": "user", "content": format!("hi {c} {i}")}]});
                let reply = post_json_on(&http, &url, CLIENT, &body).await;
                assert_eq!(reply.status, 200, "{}", reply.text());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = thread_cpu(pid);
    proxy.stop();
    let rows: i64 = rusqlite::Connection::open(proxy.db_path())
        .unwrap()
        .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, CONNECTIONS * PER_CONNECTION);
    // The main thread serves the first listener; each other serving thread its own.
    for name in &serving {
        let used = after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
        assert!(used > 0, "{name} did no work: {after:?}");
    }
}

/// SO_REUSEPORT lets any socket of the same user join a port's group: without a check, a
/// second switchyard started on a port the first already serves would take a share of its
/// connections, unnoticed. It must refuse to start instead.
#[test]
fn a_second_server_on_a_served_port_refuses_to_start() {
    let config = format!("[server]\nthreads = {THREADS}\n");
    let first = Proxy::start(&config, &[("SWITCHYARD_LOG", "warn")]);
    let dir = switchyard_tester::harness::scratch_dir("second-server");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let mut cmd = std::process::Command::new(switchyard_tester::harness::binary());
    cmd.current_dir(&dir)
        .args(["--config", "config.toml", "serve", "--listen"])
        .arg(first.addr.to_string())
        .env_remove("SWITCHYARD_LISTEN");
    // Started, it would serve until killed: the limit only bounds a failing test.
    let (ok, out, err) = switchyard_tester::harness::run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!ok, "a second server started on {}\n{out}{err}", first.addr);
    assert!(!out.contains("listening"), "{out}");
    assert!(err.contains("cannot listen"), "{err}");
}
