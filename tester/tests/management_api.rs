//! The management API driven through HTTP against the real binary and the fakes: accounts
//! (list, read, enable, disable, remove, reset), logins and imports, aliases and combos,
//! settings, and the refusals (401, 403, 400, 404, 405, 409). Every answer any test here
//! gets from `/api/` is checked for the secrets the test configured or obtained: none may
//! appear, masked values only.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json, request};

const K1: &str = "sk-mgmt-file-account-0001";
const K2: &str = "sk-mgmt-file-account-0002";
const S1: &str = "sk-mgmt-stored-login-0001";
const CLIENT: &str = "sk-mgmt-client-key-0001";
const ADMIN: &str = "sk-mgmt-admin-key-00001";

fn config(fake: &FakeOpenAi, extra: &str) -> String {
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
name = "s"
base_url = "{base}"
{extra}
"#
    )
}

/// A management API client that keeps every answer, so a test can check at its end that
/// none of them carries a secret.
struct Admin<'a> {
    proxy: &'a Proxy,
    seen: Mutex<Vec<String>>,
}

impl<'a> Admin<'a> {
    fn new(proxy: &'a Proxy) -> Self {
        Admin {
            proxy,
            seen: Mutex::new(Vec::new()),
        }
    }

    async fn call_as(&self, key: Option<&str>, method: &str, path: &str, body: &str) -> Reply {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let res = request(method, &self.proxy.url(path), &headers, body.to_owned()).await;
        self.seen.lock().unwrap().push(format!(
            "{method} {path} -> {}: {}",
            res.status,
            res.text()
        ));
        res
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> Reply {
        self.call_as(Some(ADMIN), method, path, body).await
    }

    /// `method path` answered `status`; its JSON body.
    async fn expect(&self, method: &str, path: &str, body: &str, status: u16) -> Value {
        let res = self.call(method, path, body).await;
        assert_eq!(res.status, status, "{method} {path}: {}", res.text());
        res.json()
    }

    async fn account(&self, provider: &str, name: &str) -> Value {
        self.expect("GET", &format!("/api/accounts/{provider}/{name}"), "", 200)
            .await
    }

    /// Asserts that no answer seen holds any of `secrets`.
    fn assert_no_secrets(&self, secrets: &[&str]) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty());
        for answer in seen.iter() {
            for s in secrets {
                assert!(!answer.contains(s), "a secret leaked in {answer}");
            }
        }
    }
}

async fn ask(proxy: &Proxy, model: &str) -> Reply {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body).await
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    let (ok, out, err) = run(dir, &full);
    assert!(ok, "{args:?}: {out}{err}");
    out
}

/// Polls `check` (the server takes CLI changes in on its reload turn, 200 ms here).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Puts a stored login (an API key, as `switchyard import` would for an API-key login) of
/// provider `s` into the database of a stopped server.
fn store_login(db: &Path, name: &str, key: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "INSERT INTO accounts (provider, name, kind, access_token, created_ms, updated_ms)
         VALUES ('s', ?1, 'api_key', ?2, 0, 0)",
        [name, key],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_list_read_cool_reset_enable_disable_and_remove() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake, "");
    let mut first = Proxy::start(&cfg, &[]);
    first.stop();
    store_login(&first.db_path(), "s1", S1);
    let proxy = Proxy::start_in(first.dir.clone(), &cfg, &[]);
    let api = Admin::new(&proxy);

    // The list: file accounts name their file, the stored login is a login.
    let list = api.expect("GET", "/api/accounts", "", 200).await;
    let names: Vec<(&str, &str, &str)> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap(),
                a["account"].as_str().unwrap(),
                a["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("p", "a1", "file"),
            ("p", "a2", "file"),
            ("s", "s1", "login")
        ]
    );
    let a1 = api.account("p", "a1").await;
    assert!(
        a1["file"].as_str().unwrap().ends_with("config.toml"),
        "{a1}"
    );
    assert_eq!(a1["auth"], "api_key");
    assert_eq!(a1["status"], "ok");
    assert!(api.account("s", "s1").await["file"].is_null());

    // A 429 with a two-hour hint cools a1; the reason names the hint.
    fake.script(
        K1,
        [Fault::Status(429, vec![("retry-after", "7200".into())])],
    );
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen(), [K1, K2]);
    let a1 = api.account("p", "a1").await;
    assert_eq!(a1["status"], "cooling", "{a1}");
    assert_eq!(a1["cooldown_reason"], "429 retry-after 7200 s", "{a1}");
    let until = chrono::DateTime::parse_from_rfc3339(a1["cooldown_until"].as_str().unwrap())
        .unwrap()
        .timestamp()
        - chrono::Utc::now().timestamp();
    assert!((7100..=7200).contains(&until), "{a1}");
    assert_eq!(a1["requests_today"], 1, "{a1}");
    // Reset through the API: the next request is a1's.
    let done = api
        .expect(
            "POST",
            "/api/accounts/reset",
            r#"{"provider": "p", "account": "a1"}"#,
            200,
        )
        .await;
    assert_eq!(done["reset"][0]["account"], "a1");
    let a1 = api.account("p", "a1").await;
    assert_eq!(a1["status"], "ok", "{a1}");
    assert!(a1["cooldown_reason"].is_null(), "{a1}");
    assert_eq!(ask(&proxy, "p/m1").await.status, 200);
    assert_eq!(fake.keys_seen()[2..], [K1]);

    // Disable through the API: in force at once, and the CLI sees it.
    let s1 = api
        .expect("POST", "/api/accounts/s/s1/disable", "", 200)
        .await;
    assert_eq!(
        (&s1["status"], &s1["in_use"]),
        (&json!("disabled"), &json!(false)),
        "{s1}"
    );
    assert_ne!(ask(&proxy, "s/m1").await.status, 200);
    assert!(!fake.keys_seen().iter().any(|k| k == S1));
    let listing = cli(&proxy.dir, &["accounts"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains("s1") && l.contains("disabled")),
        "{listing}"
    );
    // Enable with the CLI: the running server takes it in within its reload interval.
    cli(&proxy.dir, &["accounts", "enable", "s/s1"]);
    eventually("the CLI's enable reaches the server", || async {
        let s1 = api.account("s", "s1").await;
        s1["status"] == "ok" && s1["in_use"] == true
    })
    .await;
    assert_eq!(ask(&proxy, "s/m1").await.status, 200);
    assert_eq!(fake.keys_seen().last().unwrap(), S1);
    // Disable with the CLI, enable through the API.
    cli(&proxy.dir, &["accounts", "disable", "s/s1"]);
    eventually("the CLI's disable reaches the server", || async {
        api.account("s", "s1").await["status"] == "disabled"
    })
    .await;
    let s1 = api
        .expect("POST", "/api/accounts/s/s1/enable", "", 200)
        .await;
    assert_eq!(
        (&s1["status"], &s1["in_use"]),
        (&json!("ok"), &json!(true)),
        "{s1}"
    );
    assert_eq!(ask(&proxy, "s/m1").await.status, 200);

    // A file account is changed in the file: 409 naming it.
    for (method, path) in [
        ("DELETE", "/api/accounts/p/a1"),
        ("POST", "/api/accounts/p/a1/disable"),
        ("POST", "/api/accounts/p/a1/enable"),
    ] {
        let err = api.expect(method, path, "", 409).await;
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains("config.toml"), "{err}");
    }
    // Removing the stored login: gone from the API, the CLI and the server.
    let removed = api.expect("DELETE", "/api/accounts/s/s1", "", 200).await;
    assert_eq!(removed["removed"]["account"], "s1");
    api.expect("GET", "/api/accounts/s/s1", "", 404).await;
    api.expect("DELETE", "/api/accounts/s/s1", "", 404).await;
    api.expect("POST", "/api/accounts/s/nobody/enable", "", 404)
        .await;
    assert!(!cli(&proxy.dir, &["accounts"]).contains("s1"));
    let before = fake.keys_seen().len();
    assert_ne!(ask(&proxy, "s/m1").await.status, 200);
    assert_eq!(fake.keys_seen().len(), before);
    // Wrong methods name the right ones.
    let res = api.call("PUT", "/api/accounts/p/a1", "").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.headers["allow"], "GET, DELETE");
    let res = api.call("GET", "/api/accounts/p/a1/enable", "").await;
    assert_eq!(res.status, 405);

    // Each change is in the audit log, with who did it.
    let audit = api.expect("GET", "/api/audit", "", 200).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "account.remove",
            "account.enable",
            "account.disable",
            "account.reset"
        ]
    );
    api.assert_no_secrets(&[K1, K2, S1, CLIENT, ADMIN]);
}
