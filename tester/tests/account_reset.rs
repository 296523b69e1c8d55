//! Resetting accounts an operator knows have quota again: `POST /api/accounts/reset` on a
//! running server, `switchyard accounts reset` whether a server runs or not. A provider's
//! hint of an hour cools an account for an hour, and cooldowns survive restarts, so without
//! a reset such an account stays locked.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json, request};

const K1: &str = "sk-reset-account-0001";
const K2: &str = "sk-reset-account-0002";
const R1: &str = "sk-reset-permodel-001";
const S1: &str = "sk-reset-stored-00001";
const CLIENT: &str = "sk-client-key-reset";
const ADMIN: &str = "sk-admin-key-reset";

fn config(fake: &FakeOpenAi) -> String {
    let base = fake.base_url();
    format!(
        r#"
[server]
admin_key = "{ADMIN}"
account_reload_ms = 200

[[client_keys]]
id = "tests"
key = "{CLIENT}"

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

[[providers]]
name = "r"
base_url = "{base}"
per_model_limits = true
[[providers.accounts]]
name = "c1"
api_key = "{R1}"

[[providers]]
name = "s"
base_url = "{base}"
"#
    )
}

fn hour_429() -> Fault {
    Fault::Status(429, vec![("retry-after", "3600".into())])
}

async fn ask(proxy: &Proxy, model: &str) -> Reply {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body).await
}

async fn reset(proxy: &Proxy, key: &str, body: &'static str) -> Reply {
    let auth = format!("Bearer {key}");
    request(
        "POST",
        &proxy.url("/api/accounts/reset"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await
}

async fn account(proxy: &Proxy, name: &str) -> Value {
    let auth = format!("Bearer {ADMIN}");
    let res = request(
        "GET",
        &proxy.url("/api/accounts"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == name)
        .cloned()
        .unwrap()
}

fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    run(dir, &full)
}

/// Cools a1 for an hour: its 429 carries `Retry-After: 3600`, a2 answers instead.
async fn cool_a1(fake: &FakeOpenAi, proxy: &Proxy) {
    fake.script(K1, [hour_429()]);
    let before = fake.keys_seen().len();
    assert_eq!(ask(proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen()[before..], [K1, K2]);
    let a1 = account(proxy, "a1").await;
    assert_eq!(a1["status"], "cooling", "{a1}");
}

/// The next request to `p` goes to a1 (it is offered first when it is not cooling).
async fn a1_serves(fake: &FakeOpenAi, proxy: &Proxy) {
    let before = fake.keys_seen().len();
    let res = ask(proxy, "p/m1").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.keys_seen()[before..], [K1]);
}

/// Waits until the server has saved `name`'s state as it holds it now: cooling, with
/// today's count of requests.
async fn wait_saved(proxy: &Proxy, name: &str) {
    let held = account(proxy, name).await;
    assert_eq!(held["status"], "cooling", "{held}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
        let saved: Option<(Option<i64>, i64)> = conn
            .query_row(
                "SELECT cooldown_until_ms, day_requests FROM account_state WHERE account = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        if let Some((Some(_), n)) = saved
            && Some(n) == held["requests_today"].as_i64()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name}'s state was never saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reset_serves_an_hour_cooled_account_at_once_and_survives_a_restart() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake);
    let mut proxy = Proxy::start(&cfg, &[]);

    cool_a1(&fake, &proxy).await;
    let res = reset(&proxy, ADMIN, r#"{"provider": "p", "account": "a1"}"#).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["reset"],
        json!([{"provider": "p", "account": "a1", "needs_login": false}])
    );
    let a1 = account(&proxy, "a1").await;
    assert_eq!(
        (
            &a1["status"],
            &a1["cooldown_until"],
            &a1["backoff_level"],
            &a1["consecutive_failures"]
        ),
        (&json!("ok"), &Value::Null, &json!(0), &json!(0)),
        "{a1}"
    );
    a1_serves(&fake, &proxy).await;
    assert!(
        proxy.stderr().contains("accounts reset"),
        "{}",
        proxy.stderr()
    );

    // Cooled again, reset again, and restarted before any request could clear it. The
    // cooled state is on disk first, so only the reset's own save can clear it there.
    cool_a1(&fake, &proxy).await;
    wait_saved(&proxy, "a1").await;
    let res = reset(&proxy, ADMIN, r#"{"provider": "p"}"#).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let listed = res.json();
    let names: Vec<&str> = listed["reset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a1", "a2"]);
    let doc = request("GET", &proxy.url("/api/openapi.json"), &[], "").await;
    assert_eq!(doc.status, 200, "the document needs no key");
    assert!(doc.json()["paths"]["/api/audit"].is_object());

    // Both resets are in the audit log, newest first, naming the admin key.
    let auth = format!("Bearer {ADMIN}");
    let log = request(
        "GET",
        &proxy.url("/api/audit?limit=5"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(log.status, 200, "{}", log.text());
    let entries = log.json()["entries"].clone();
    let seen: Vec<(&str, &str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("admin", "account.reset", "p"),
            ("admin", "account.reset", "p/a1"),
        ],
        "{entries}"
    );
    proxy.stop();
    let proxy = Proxy::start_in(proxy.dir.clone(), &cfg, &[]);
    assert_eq!(account(&proxy, "a1").await["status"], "ok");
    a1_serves(&fake, &proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reset_needs_the_admin_key_and_a_well_formed_body() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    cool_a1(&fake, &proxy).await;

    let all = r#"{"all": true}"#;
    assert_eq!(reset(&proxy, CLIENT, all).await.status, 401);
    let res = request("POST", &proxy.url("/api/accounts/reset"), &[], all).await;
    assert_eq!(res.status, 401);
    assert_eq!(account(&proxy, "a1").await["status"], "cooling");

    for bad in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"all": false}"#,
        r#"{"account": "a1"}"#,
        r#"{"all": true, "provider": "p"}"#,
        r#"{"provider": "p", "acount": "a1"}"#,
    ] {
        let res = reset(&proxy, ADMIN, bad).await;
        assert_eq!(res.status, 400, "{bad}: {}", res.text());
        assert!(
            res.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("provider"),
            "{}",
            res.text()
        );
    }
    let res = reset(&proxy, ADMIN, r#"{"provider": "p", "account": "nope"}"#).await;
    assert_eq!(res.status, 404, "{}", res.text());
    assert!(res.text().contains("p/nope"), "{}", res.text());
    assert_eq!(
        reset(&proxy, ADMIN, r#"{"provider": "zz"}"#).await.status,
        404
    );
    // The key is checked before the method, so only the admin learns what a route takes.
    let res = request("GET", &proxy.url("/api/accounts/reset"), &[], "").await;
    assert_eq!(res.status, 401);
    let auth = format!("Bearer {ADMIN}");
    let res = request(
        "GET",
        &proxy.url("/api/accounts/reset"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(res.status, 405);
    assert_eq!(res.headers["allow"], "POST");
    // Nothing refused above touched the account.
    assert_eq!(account(&proxy, "a1").await["status"], "cooling");
    assert_eq!(reset(&proxy, ADMIN, all).await.status, 200);
    assert_eq!(account(&proxy, "a1").await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reset_reaches_a_running_server_within_the_reload_interval() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    cool_a1(&fake, &proxy).await;

    let (ok, out, err) = cli(&proxy.dir, &["accounts", "reset", "p/a1"]);
    assert!(ok, "{out}{err}");
    assert!(out.lines().any(|l| l == "reset p/a1"), "{out}");
    // The server applies it on its next reload turn (200 ms here).
    let deadline = Instant::now() + Duration::from_secs(10);
    while account(&proxy, "a1").await["status"] != "ok" {
        assert!(
            Instant::now() < deadline,
            "the running server never applied the reset"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a1_serves(&fake, &proxy).await;
    assert!(
        proxy
            .stderr()
            .lines()
            .any(|l| l.contains("accounts reset") && l.contains("cli") && l.contains("p/a1")),
        "{}",
        proxy.stderr()
    );
    // The request was applied once and forgotten, so no later turn undoes a new cooldown.
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let pending: i64 = conn
        .query_row("SELECT count(*) FROM account_resets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reset_of_a_stopped_server_clears_cooldowns_and_per_model_cooldowns() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake);
    let mut proxy = Proxy::start(&cfg, &[]);
    cool_a1(&fake, &proxy).await;
    // r limits each model on its own: its only account cools for m1 alone.
    fake.script(R1, [hour_429()]);
    assert_eq!(ask(&proxy, "r/m1").await.status, 429);
    let c1 = account(&proxy, "c1").await;
    assert!(c1["model_cooldowns"]["m1"]["until"].is_string(), "{c1}");
    proxy.stop();

    let (ok, out, err) = cli(&proxy.dir, &["accounts", "reset", "--all"]);
    assert!(ok, "{out}{err}");
    for name in ["reset p/a1", "reset p/a2", "reset r/c1"] {
        assert!(out.lines().any(|l| l == name), "{name}: {out}");
    }
    let (ok, status, _) = cli(&proxy.dir, &["status"]);
    assert!(ok);
    assert!(!status.contains("cooling"), "{status}");

    let proxy = Proxy::start_in(proxy.dir.clone(), &cfg, &[]);
    assert_eq!(account(&proxy, "a1").await["status"], "ok");
    let c1 = account(&proxy, "c1").await;
    assert_eq!(c1["model_cooldowns"], json!({}), "{c1}");
    a1_serves(&fake, &proxy).await;
    let before = fake.keys_seen().len();
    assert_eq!(ask(&proxy, "r/m1").await.status, 200);
    assert_eq!(fake.keys_seen()[before..], [R1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_the_user_disabled_stays_disabled() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake);
    let mut proxy = Proxy::start(&cfg, &[]);
    proxy.stop();
    // A stored (logged-in style) account of provider s, holding an API key, then disabled.
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    conn.execute(
        "INSERT INTO accounts (provider, name, kind, access_token, created_ms, updated_ms)
         VALUES ('s', 's1', 'api_key', ?1, 0, 0)",
        [S1],
    )
    .unwrap();
    drop(conn);
    let (ok, out, err) = cli(&proxy.dir, &["accounts", "disable", "s/s1"]);
    assert!(ok, "{out}{err}");

    let (ok, out, err) = cli(&proxy.dir, &["accounts", "reset", "s/s1"]);
    assert!(!ok, "{out}");
    assert!(err.contains("disabled"), "{err}");
    let (ok, out, err) = cli(&proxy.dir, &["accounts", "reset", "--all"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("left s/s1 as is: it is disabled"), "{out}");

    let proxy = Proxy::start_in(proxy.dir.clone(), &cfg, &[]);
    let res = reset(&proxy, ADMIN, r#"{"provider": "s", "account": "s1"}"#).await;
    assert_eq!(res.status, 404, "{}", res.text());
    let res = reset(&proxy, ADMIN, r#"{"all": true}"#).await;
    assert_eq!(res.status, 200);
    assert!(!res.text().contains("s1"), "{}", res.text());
    assert_ne!(ask(&proxy, "s/m1").await.status, 200);
    assert!(!fake.keys_seen().iter().any(|k| k == S1));
    let (ok, listing, _) = cli(&proxy.dir, &["accounts"]);
    assert!(ok);
    assert!(
        listing
            .lines()
            .any(|l| l.contains("s1") && l.contains("disabled")),
        "{listing}"
    );
}
