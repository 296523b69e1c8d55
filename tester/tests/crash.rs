//! Crash safety: `kill -9` the server in the middle of a full load run (64 connections as
//! fast as the client can go, streams open, usage rows queued, an OAuth account's refreshed
//! tokens stored), restart it in the same directory, and show that the database is intact,
//! that the usage rows lost are bounded (the last ~100 ms of the measured rate plus the
//! requests in flight), that the stored account still works, and that new requests are
//! recorded.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_subscriptions::FakeCodex;
use switchyard_tester::harness::{Proxy, codex_login, import_login, scratch_dir};
use switchyard_tester::http_client::{client, post_json};

const CLIENT: &str = "sk-crash-client-key-0001";
const UPSTREAM: &str = "sk-crash-upstream-key-0001";
const CONCURRENCY: usize = 64;
/// Responses to wait for before the kill, so the database has seen plenty of writes.
const BEFORE_KILL: usize = 1000;
/// Load time before the kill, so the kill lands in steady full load.
const LOAD_BEFORE_KILL: Duration = Duration::from_secs(3);
/// A crash may lose the rows of about this long, at whatever rate the load ran.
const LOSS_WINDOW: Duration = Duration::from_millis(100);

/// One request; `None` when the connection failed or broke (the server died under it).
async fn try_post(
    http: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    url: &str,
    body: &Value,
) -> Option<u16> {
    let req = http::Request::post(url)
        .header("authorization", format!("Bearer {CLIENT}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(30), http.request(req))
        .await
        .ok()?
        .ok()?;
    let status = res.status().as_u16();
    tokio::time::timeout(Duration::from_secs(30), res.into_body().collect())
        .await
        .ok()?
        .ok()?;
    Some(status)
}

fn sqlite(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

fn integrity(conn: &rusqlite::Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn usage_rows(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
        .unwrap()
}

/// (provider, name, status, access token) of every stored account.
fn accounts(conn: &rusqlite::Connection) -> Vec<(String, String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT provider, name, status, access_token FROM accounts ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn chat(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_leaves_the_database_and_accounts_intact() {
    let fake = FakeOpenAi::start().await;
    let mut cfg = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
    cfg.id_claims = json!({"email": "crash@example.com", "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}});
    let oauth = FakeOAuth::start(cfg).await;
    let codex = FakeCodex::start(oauth.state.clone(), "acct-1").await;
    let config = format!(
        r#"
[[client_keys]]
id = "crash"
key = "{CLIENT}"
[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a"
api_key = "{UPSTREAM}"
[[providers]]
name = "cx"
kind = "codex"
base_url = "{codex}"
models = ["gpt-5-codex"]
[providers.options]
auth_url = "{auth}"
token_url = "{token}"
client_id = "app_test"
redirect_uri = "http://localhost:0/auth/callback"
"#,
        base = fake.base_url(),
        codex = codex.base_url(),
        auth = oauth.url("/authorize"),
        token = oauth.url("/token"),
    );
    let dir = scratch_dir("crash");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    // A stored OAuth account whose token has expired: the first request through it renews
    // it and writes the new tokens to the store during the run.
    let (access, refresh, id_token, _) = oauth.state.issue(-30);
    let login = codex_login(&access, &refresh, &id_token);
    import_login(&dir, "codex", "codex-auth.json", &login, "crashy");

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[("SWITCHYARD_LOG", "warn")]);
    let url = Arc::new(proxy.url("/v1/chat/completions"));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let (url, done, stop) = (url.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut i = t;
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // Mostly short answers, as fast as they go; a few slow streams, so some are
                // always open when the kill comes.
                let body = match i % 20 {
                    0 => chat("cx/gpt-5-codex", &format!("crash {i}"), false),
                    1 => chat("p/m", "#chunks=10 #delay=5", true),
                    _ => chat("p/m", &format!("hello {i}"), false),
                };
                match try_post(&http, &url, &body).await {
                    Some(status) => {
                        statuses.push(status);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    // The server is gone: this client's run is over.
                    None => break,
                }
                i += CONCURRENCY;
            }
            statuses
        }));
    }
    let start = Instant::now();
    // Answers counted every 50 ms: the rate of the last second before the kill.
    let mut counts = std::collections::VecDeque::new();
    while done.load(Ordering::Relaxed) < BEFORE_KILL || start.elapsed() < LOAD_BEFORE_KILL {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "load never got going:\n{}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        counts.push_back((Instant::now(), done.load(Ordering::Relaxed)));
        while counts.len() > 21 {
            counts.pop_front();
        }
    }
    proxy.kill();
    let rate = match (counts.front(), counts.back()) {
        (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
            (n1 - n0) as f64 / t1.duration_since(*t0).as_secs_f64()
        }
        _ => 0.0,
    };
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for t in tasks {
        let statuses = t.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200),
            "a request failed before the kill: {statuses:?}"
        );
        answered += statuses.len();
    }
    assert!(answered >= BEFORE_KILL);
    assert_eq!(
        oauth.state.refresh_calls.load(Ordering::SeqCst),
        1,
        "the expired token was renewed once, during the run"
    );

    // Straight after the crash: the database opens, checks clean, and every row reads.
    let db = proxy.db_path();
    let rows_after_crash = {
        let conn = sqlite(&db);
        assert_eq!(integrity(&conn), "ok");
        let rows = usage_rows(&conn);
        // Rows are written in batches off the request path: what a kill loses is the batch
        // being gathered and the one being written, a few milliseconds of load. A request
        // in flight may have its row written without its client seeing the whole answer.
        let lost = answered.saturating_sub(rows as usize);
        let bound = (rate * LOSS_WINDOW.as_secs_f64()).ceil() as usize + CONCURRENCY;
        eprintln!(
            "kill -9 at {rate:.0} requests/s from {CONCURRENCY} connections: {answered} answered, \
             {rows} usage rows, {lost} lost (bound {bound})"
        );
        assert!(
            rows > 0 && rows as usize <= answered + CONCURRENCY,
            "{rows} rows for {answered} answers"
        );
        assert!(
            lost <= bound,
            "{lost} usage rows lost of {answered} answered at {rate:.0}/s (bound {bound})"
        );
        let mut stmt = conn.prepare("SELECT * FROM usage").unwrap();
        let columns = stmt.column_count();
        let mut read = 0;
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            for c in 0..columns {
                let _: rusqlite::types::Value = row.get(c).unwrap();
            }
            read += 1;
        }
        assert_eq!(read, rows);
        let stored = accounts(&conn);
        assert_eq!(stored.len(), 1, "{stored:?}");
        let (provider, name, status, token) = &stored[0];
        assert_eq!(
            (provider.as_str(), name.as_str(), status.as_str()),
            ("cx", "crashy", "active")
        );
        // The renewed token was stored before the kill, not the expired one imported.
        assert!(
            !token.is_empty() && *token != access,
            "token not renewed in the store"
        );
        rows
    };

    // Restarted in the same directory: it serves, the stored account works without another
    // refresh, and new requests are recorded next to the old ones.
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[("SWITCHYARD_LOG", "warn")]);
    let url = proxy.url("/v1/chat/completions");
    let mut fresh = 0;
    for i in 0..10 {
        let model = if i % 2 == 0 { "p/m" } else { "cx/gpt-5-codex" };
        let res = post_json(
            &url,
            CLIENT,
            &chat(model, &format!("after {i}"), i % 3 == 0),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        fresh += 1;
    }
    assert_eq!(oauth.state.refresh_calls.load(Ordering::SeqCst), 1);
    proxy.stop();
    let conn = sqlite(&db);
    assert_eq!(integrity(&conn), "ok");
    assert_eq!(usage_rows(&conn), rows_after_crash + fresh);
    assert_eq!(accounts(&conn).len(), 1);
    // Nothing else in the data directory is left half-written: every file reads.
    for e in std::fs::read_dir(dir.join("data")).unwrap().flatten() {
        let p = e.path();
        if p.is_file() {
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
    let config_text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert_eq!(config_text, config);
}
