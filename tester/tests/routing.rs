//! Fault injection: scripted failures per account key, asserting which accounts and targets
//! were tried, what each failure cost its account, what the client got, and the usage rows.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{post_json, request, send, sse_data};

const K1: &str = "sk-account-key-0001";
const K2: &str = "sk-account-key-0002";
const K3: &str = "sk-account-key-0003";
const Q1: &str = "sk-second-target-01";
const CLIENT: &str = "sk-client-key-routing";
const ADMIN: &str = "sk-admin-key-routing";

fn config(fake: &FakeOpenAi, routing: &str, client_extra: &str) -> String {
    let base = fake.base_url();
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "tests"
key = "{CLIENT}"
{client_extra}

[routing]
backoff_base_ms = 1000
backoff_max_ms = 5000
{routing}

[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a1"
api_key = "{K1}"
[[providers.accounts]]
name = "a2"
api_key = "{K2}"
priority = 1
[[providers.accounts]]
name = "a3"
api_key = "{K3}"
priority = 2

[[providers]]
name = "q"
base_url = "{base}"
[[providers.accounts]]
name = "b1"
api_key = "{Q1}"

[[combos]]
name = "chain"
targets = ["p/m1", "q/m2"]
"#
    )
}

async fn start(routing: &str) -> (FakeOpenAi, Proxy) {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, routing, ""), &[]);
    (fake, proxy)
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

async fn ask(proxy: &Proxy, model: &str) -> switchyard_tester::http_client::Reply {
    post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &chat(model, false),
    )
    .await
}

async fn accounts(proxy: &Proxy) -> Vec<Value> {
    let auth = format!("Bearer {ADMIN}");
    let res = request(
        "GET",
        &proxy.url("/api/accounts"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["accounts"].as_array().unwrap().clone()
}

async fn account(proxy: &Proxy, name: &str) -> Value {
    accounts(proxy)
        .await
        .into_iter()
        .find(|a| a["account"] == name)
        .unwrap()
}

/// Seconds from now until an RFC 3339 time.
fn secs_until(v: &Value) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let t: SystemTime = t.into();
    match t.duration_since(switchyard_tester::wall_clock()) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn rows(proxy: &Proxy) -> Vec<Value> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT status, account, combo, target_index, attempts, provider, error_class FROM usage ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok(json!({
            "status": r.get::<_, i64>(0)?, "account": r.get::<_, Option<String>>(1)?,
            "combo": r.get::<_, Option<String>>(2)?, "target_index": r.get::<_, i64>(3)?,
            "attempts": r.get::<_, i64>(4)?, "provider": r.get::<_, Option<String>>(5)?,
            "error_class": r.get::<_, Option<String>>(6)?,
        }))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_a_hint_cools_the_account_for_the_hint_and_the_next_account_serves() {
    let (fake, mut proxy) = start("").await;
    fake.script(K1, [Fault::Status(429, vec![("retry-after", "30".into())])]);
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.keys_seen(), [K1, K2]);

    let a1 = account(&proxy, "a1").await;
    assert_eq!(a1["status"], "cooling");
    let left = secs_until(&a1["cooldown_until"]);
    assert!(
        (27.0..=30.5).contains(&left),
        "cooldown {left}s, want the 30 s hint"
    );
    // While it cools, a1 is not tried at all.
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen(), [K1, K2, K2]);

    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["account"].as_str(), rows[0]["attempts"].as_i64()),
        (Some("a2"), Some(2))
    );
    assert_eq!(rows[1]["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_a_hint_backs_off_exponentially_and_success_resets_it() {
    let (fake, proxy) = start("").await;
    fake.script(K1, [Fault::Status(429, vec![]), Fault::Status(429, vec![])]);
    // The cooldown must end `want` after the 429, which came between `before` and `after`.
    let check = |a1: &Value, before: SystemTime, after: SystemTime, want: Duration| {
        let until: SystemTime =
            chrono::DateTime::parse_from_rfc3339(a1["cooldown_until"].as_str().unwrap())
                .unwrap()
                .into();
        let slack = Duration::from_millis(20);
        assert!(
            until + slack >= before + want && until <= after + want + slack,
            "cooldown does not last {want:?}"
        );
    };
    let before = switchyard_tester::wall_clock();
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    let after = switchyard_tester::wall_clock();
    let a1 = account(&proxy, "a1").await;
    assert_eq!(a1["backoff_level"], 1);
    check(&a1, before, after, Duration::from_millis(1000));

    // Once a1 is back, its next 429 costs twice as long.
    let start = Instant::now();
    while account(&proxy, "a1").await["status"] != "ok" {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = switchyard_tester::wall_clock();
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    let after = switchyard_tester::wall_clock();
    let a1 = account(&proxy, "a1").await;
    assert_eq!(a1["backoff_level"], 2);
    check(&a1, before, after, Duration::from_millis(2000));

    while account(&proxy, "a1").await["status"] != "ok" {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    let a1 = account(&proxy, "a1").await;
    assert_eq!(
        (
            a1["backoff_level"].as_u64(),
            a1["consecutive_failures"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(fake.keys_seen(), [K1, K2, K1, K2, K1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_goes_straight_back_and_blames_no_account() {
    let (fake, mut proxy) = start("").await;
    let body = json!({"error": {"message": "Invalid 'temperature': expected a number", "type": "invalid_request_error", "param": "temperature", "code": null}}).to_string();
    fake.script(K1, [Fault::Body(400, body.clone())]);
    let res = ask(&proxy, "chain").await;
    assert_eq!(res.status, 400);
    assert_eq!(res.text(), body, "the upstream's own body passes through");
    assert_eq!(fake.keys_seen(), [K1]);
    let a1 = account(&proxy, "a1").await;
    assert_eq!(
        (a1["status"].as_str(), a1["consecutive_failures"].as_u64()),
        (Some("ok"), Some(0))
    );
    proxy.stop();
    assert_eq!(rows(&proxy)[0]["error_class"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_overflow_moves_to_the_next_combo_target() {
    let (fake, mut proxy) = start("").await;
    let body = json!({"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error", "code": "context_length_exceeded"}}).to_string();
    fake.script(K1, [Fault::Body(400, body)]);
    let res = ask(&proxy, "chain").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.keys_seen(), [K1, Q1]);
    assert_eq!(fake.requests()[1].body["model"], "m2");
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (
            r["combo"].as_str(),
            r["target_index"].as_i64(),
            r["attempts"].as_i64()
        ),
        (Some("chain"), Some(1), Some(2))
    );
    assert_eq!(
        (r["provider"].as_str(), r["account"].as_str()),
        (Some("q"), Some("b1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_try_every_account_then_the_next_target() {
    let (fake, mut proxy) = start("").await;
    fake.script(K1, [Fault::Status(500, vec![])]);
    fake.script(K2, [Fault::Status(503, vec![])]);
    fake.script(K3, [Fault::Status(502, vec![])]);
    let res = ask(&proxy, "chain").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.keys_seen(), [K1, K2, K3, Q1]);
    // 5xx costs no cooldown, only a failure on the count.
    let a1 = account(&proxy, "a1").await;
    assert_eq!(
        (a1["status"].as_str(), a1["consecutive_failures"].as_u64()),
        (Some("ok"), Some(1))
    );
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (r["target_index"].as_i64(), r["attempts"].as_i64()),
        (Some(1), Some(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_permission_failures_cool_the_account() {
    let (fake, proxy) = start("").await;
    fake.script(K1, [Fault::Status(401, vec![])]);
    fake.script(K2, [Fault::Status(403, vec![])]);
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen(), [K1, K2, K3]);
    assert_eq!(account(&proxy, "a1").await["status"], "cooling");
    assert_eq!(account(&proxy, "a2").await["status"], "cooling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_account_is_cooling_the_client_gets_the_first_error_and_a_retry_after() {
    let (fake, mut proxy) = start("").await;
    fake.script(K1, [Fault::Status(429, vec![("retry-after", "20".into())])]);
    fake.script(K2, [Fault::Status(429, vec![("retry-after", "40".into())])]);
    fake.script(K3, [Fault::Status(500, vec![])]);
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(
        res.status, 429,
        "the first meaningful error, not the last (500)"
    );
    assert_eq!(res.json()["error"]["message"], "scripted failure 429");
    // The first error's own hint comes with it.
    assert_eq!(res.headers["retry-after"], "20");

    fake.script(K3, [Fault::Status(429, vec![("retry-after", "60".into())])]);
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(res.status, 429);
    let after: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (18..=20).contains(&after),
        "retry-after {after}, want the earliest cooldown (a1's 20 s)"
    );

    // Nothing left to try: answered at once, still with the earliest time.
    let before = fake.keys_seen().len();
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(res.status, 429);
    assert!(
        res.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cooling")
    );
    assert!(res.headers.contains_key("retry-after"));
    assert_eq!(fake.keys_seen().len(), before);
    proxy.stop();
    assert_eq!(rows(&proxy).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_failures_in_a_row_set_an_account_aside_until_a_probe_succeeds() {
    let (fake, proxy) = start("disable_after = 3\nprobe_after_ms = 300").await;
    fake.script(
        K1,
        [
            Fault::Status(500, vec![]),
            Fault::Status(502, vec![]),
            Fault::Status(503, vec![]),
        ],
    );
    for _ in 0..3 {
        assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    }
    assert_eq!(account(&proxy, "a1").await["status"], "set_aside");
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen(), [K1, K2, K1, K2, K1, K2, K2]);
    let start = Instant::now();
    while account(&proxy, "a1").await["status"] == "set_aside" {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The probe goes to a1 (first by priority) and brings it back.
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen().last().unwrap(), K1);
    let a1 = account(&proxy, "a1").await;
    assert_eq!(
        (a1["status"].as_str(), a1["consecutive_failures"].as_u64()),
        (Some("ok"), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_fails_over_before_its_first_byte_but_never_after() {
    let (fake, mut proxy) = start("").await;
    fake.script(
        K1,
        [Fault::ResetBeforeFirstByte, Fault::ResetAfterFirstByte],
    );
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &chat("p/m1", true),
    )
    .await;
    let events = sse_data(&res.text());
    assert_eq!(events.last().unwrap(), "[DONE]", "served whole by a2");
    assert_eq!(fake.keys_seen(), [K1, K2]);

    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &chat("p/m1", true),
    )
    .await;
    assert_eq!(res.status, 200);
    let events = sse_data(&res.text());
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"].is_string(),
        "bytes had gone out: the break is reported, not retried"
    );
    assert_eq!(fake.keys_seen(), [K1, K2, K1]);
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(
        (rows[0]["status"].as_i64(), rows[0]["attempts"].as_i64()),
        (Some(200), Some(2))
    );
    assert_eq!(
        (rows[1]["status"].as_i64(), rows[1]["attempts"].as_i64()),
        (Some(502), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_byte_timeout_moves_to_the_next_account() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(
        &config(&fake, "", ""),
        &[("SWITCHYARD_FIRST_BYTE_TIMEOUT_MS", "300")],
    );
    fake.script(K1, [Fault::Stall(Duration::from_secs(3))]);
    let start = Instant::now();
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.keys_seen(), [K1, K2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_rotates_and_a_session_stays_on_its_account() {
    let (fake, proxy) = start("strategy = \"round-robin\"\nsticky_limit = 1").await;
    for _ in 0..3 {
        assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    }
    assert_eq!(fake.keys_seen(), [K1, K2, K3]);
    let auth = format!("Bearer {CLIENT}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("x-session-id", "conv-1"),
    ];
    for _ in 0..3 {
        let res = request(
            "POST",
            &proxy.url("/v1/chat/completions"),
            &h,
            chat("p/m1", false).to_string(),
        )
        .await;
        assert_eq!(res.status, 200);
    }
    let seen = fake.keys_seen();
    let session: Vec<&String> = seen.iter().skip(3).collect();
    assert!(session.iter().all(|k| *k == session[0]), "{session:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_are_rate_limited_with_a_retry_after() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, "", "requests_per_minute = 2"), &[]);
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(res.status, 429);
    assert!(res.headers.contains_key("retry-after"));
    assert_eq!(fake.keys_seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldowns_and_counters_survive_a_restart() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake, "", "");
    let mut proxy = Proxy::start(&cfg, &[]);
    fake.script(
        K1,
        [Fault::Status(429, vec![("retry-after", "120".into())])],
    );
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    proxy.stop();
    let dir = proxy.dir.clone();
    let proxy = Proxy::start_in(dir, &cfg, &[]);
    let a1 = account(&proxy, "a1").await;
    assert_eq!(a1["status"], "cooling");
    assert!(secs_until(&a1["cooldown_until"]) > 100.0);
    assert_eq!(account(&proxy, "a2").await["requests_today"], 1);
    let (ok, out, _) =
        switchyard_tester::harness::run(&proxy.dir, &["--config", "config.toml", "status"]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("p") && l.contains("a1") && l.contains("cooling")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_admin_key() {
    let (_fake, proxy) = start("").await;
    let res = request(
        "GET",
        &proxy.url("/api/accounts"),
        &[("authorization", &format!("Bearer {CLIENT}"))],
        "",
    )
    .await;
    assert_eq!(res.status, 401);
    let res = send("GET", &proxy.url("/api/accounts"), &[], "").await;
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combos_and_aliases_kept_in_the_database_route_like_configured_ones() {
    use switchyard_tester::harness::{run, scratch_dir};
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake, "", "");
    let dir = scratch_dir("stored-routes");
    std::fs::write(dir.join("config.toml"), &cfg).unwrap();
    let args = |extra: &[&str]| {
        let mut v = vec!["--config", "config.toml"];
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let call = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&dir, &a)
    };
    assert!(call(&["combo", "set", "backup", "q/m2", "p/m1@a2"]).0);
    assert!(call(&["alias", "set", "quick", "p/m1"]).0);
    let (ok, _, err) = call(&["combo", "set", "bad", "nowhere/m"]);
    assert!(!ok && err.contains("unknown provider"), "{err}");
    let (ok, _, err) = call(&["combo", "set", "chain", "q/m2"]);
    assert!(!ok && err.contains("config file"), "{err}");
    let (_, out, _) = call(&["combo", "list"]);
    assert!(
        out.contains("backup -> q/m2, p/m1@a2  (database)")
            && out.contains("chain -> p/m1, q/m2  (config)"),
        "{out}"
    );

    let proxy = Proxy::start_in(dir.clone(), &cfg, &[]);
    fake.script(Q1, [Fault::Status(503, vec![])]);
    assert_eq!(ask(&proxy, "backup").await.status, 200);
    assert_eq!(ask(&proxy, "quick").await.status, 200);
    // q failed, then the pinned account a2 (not a1, first by priority) served; then quick -> a1.
    assert_eq!(fake.keys_seen(), [Q1, K2, K1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_drips_slower_than_the_idle_timeout_ends_with_an_error_and_is_recorded() {
    let fake = FakeOpenAi::start().await;
    let mut proxy = Proxy::start(
        &config(&fake, "", ""),
        &[("SWITCHYARD_IDLE_TIMEOUT_MS", "200")],
    );
    let body = json!({"model": "p/m1", "stream": true, "messages": [{"role": "user", "content": "#chunks=3 #delay=3000"}]});
    let start = Instant::now();
    let res = post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body).await;
    assert_eq!(res.status, 200);
    assert!(
        start.elapsed() < Duration::from_millis(650),
        "cut off by the idle timeout, not by the stream's end"
    );
    let events = sse_data(&res.text());
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"].as_str().unwrap().contains("quiet"),
        "{last}"
    );
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (r["status"].as_i64(), r["error_class"].as_str()),
        (Some(504), Some("timeout"))
    );
}

/// The account's consecutive failures and status, as the admin API reports them.
async fn health(proxy: &Proxy, name: &str) -> (Option<u64>, Option<String>) {
    let a = account(proxy, name).await;
    (
        a["consecutive_failures"].as_u64(),
        a["status"].as_str().map(str::to_owned),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_whose_body_is_not_json_fails_over_and_counts_against_the_account() {
    let (fake, mut proxy) = start("").await;
    fake.script(
        K1,
        [Fault::Body(200, "<html>upstream proxy error</html>".into())],
    );
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.json()["choices"][0]["message"]["content"].is_string());
    assert_eq!(fake.keys_seen(), [K1, K2]);
    // Counted like a 5xx: a failure on the count, no cooldown.
    assert_eq!(health(&proxy, "a1").await, (Some(1), Some("ok".into())));
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (
            r["status"].as_i64(),
            r["account"].as_str(),
            r["attempts"].as_i64()
        ),
        (Some(200), Some("a2"), Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_garbage_where_identity_was_asked_fails_over_to_the_next_target() {
    let (fake, mut proxy) = start("").await;
    // A gzip header followed by bytes that inflate to nothing.
    let mut garbage = vec![0x1f, 0x8b, 0x08, 0x00];
    garbage.extend([0xde, 0xad, 0xbe, 0xef].repeat(16));
    for key in [K1, K2, K3] {
        fake.script(key, [Fault::Encoded("gzip", garbage.clone())]);
    }
    let res = ask(&proxy, "chain").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.keys_seen(), [K1, K2, K3, Q1]);
    for name in ["a1", "a2", "a3"] {
        assert_eq!(health(&proxy, name).await.0, Some(1), "{name}");
    }
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (
            r["status"].as_i64(),
            r["target_index"].as_i64(),
            r["attempts"].as_i64()
        ),
        (Some(200), Some(1), Some(4))
    );
    assert_eq!(r["account"], "b1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_without_the_body_time_out_and_fail_over() {
    let fake = FakeOpenAi::start().await;
    let mut proxy = Proxy::start(
        &config(&fake, "", ""),
        &[("SWITCHYARD_IDLE_TIMEOUT_MS", "300")],
    );
    fake.script(K1, [Fault::HeadersOnly]);
    let start = Instant::now();
    let res = ask(&proxy, "p/m1").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(fake.keys_seen(), [K1, K2]);
    assert_eq!(health(&proxy, "a1").await, (Some(1), Some("ok".into())));
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (
            r["status"].as_i64(),
            r["account"].as_str(),
            r["attempts"].as_i64()
        ),
        (Some(200), Some("a2"), Some(2))
    );
}

/// A well-formed chat completions chunk carrying `text`.
fn chunk(text: &str) -> String {
    json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m1",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_stream_event_that_is_not_json_ends_the_stream_with_an_error_and_a_502_row() {
    let (fake, mut proxy) = start("").await;
    fake.script(
        K1,
        [Fault::Events(vec![
            chunk("first words"),
            "{\"choices\": [{\"delta\": {\"content\": \"cut".into(),
            chunk("never sent"),
            "[DONE]".into(),
        ])],
    );
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &chat("p/m1", true),
    )
    .await;
    assert_eq!(res.status, 200);
    let events = sse_data(&res.text());
    assert_eq!(events.len(), 2, "{events:?}");
    // The valid event goes out as the upstream sent it, byte for byte.
    assert_eq!(events[0], chunk("first words"));
    let last: Value = serde_json::from_str(&events[1]).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{last}"
    );
    proxy.stop();
    let r = &rows(&proxy)[0];
    assert_eq!(
        (r["status"].as_i64(), r["error_class"].as_str()),
        (Some(502), Some("upstream"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_first_event_is_not_json_fails_over() {
    let (fake, mut proxy) = start("").await;
    fake.script(K1, [Fault::Events(vec!["<html>".into()])]);
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &chat("p/m1", true),
    )
    .await;
    let events = sse_data(&res.text());
    assert_eq!(events.last().unwrap(), "[DONE]", "served whole by a2");
    assert_eq!(fake.keys_seen(), [K1, K2]);
    assert_eq!(health(&proxy, "a1").await.0, Some(1));
    proxy.stop();
    assert_eq!(rows(&proxy)[0]["status"], 200);
}
