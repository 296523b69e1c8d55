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
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::fake_subscriptions::{FakeCodex, FakeCopilot};
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
    // The API's changes; the CLI's are audited as `cli` (see `cli_changes_are_in_the_audit_log`).
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] != "cli")
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

/// An API-key account added through `POST /api/accounts`: stored, serving at once (no
/// restart, no reload turn), audited, and its key never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_account_is_added_through_the_api_and_serves_at_once() {
    const NEW: &str = "sk-mgmt-added-by-api-0001";
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, ""), &[]);
    let api = Admin::new(&proxy);
    let body = json!({"provider": "s", "name": "web", "api_key": NEW}).to_string();
    let added = api.expect("POST", "/api/accounts", &body, 201).await;
    assert_eq!(
        (
            &added["provider"],
            &added["account"],
            &added["source"],
            &added["auth"],
            &added["in_use"]
        ),
        (
            &json!("s"),
            &json!("web"),
            &json!("login"),
            &json!("api_key"),
            &json!(true)
        ),
        "{added}"
    );
    let res = ask(&proxy, "s/m1").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(fake.keys_seen().last().map(String::as_str), Some(NEW));
    assert_eq!(api.account("s", "web").await["status"], "ok");

    // A name the provider has (stored, or in the file) is refused; so is a bad body.
    api.expect("POST", "/api/accounts", &body, 409).await;
    let file_name = json!({"provider": "p", "name": "a1", "api_key": "sk-other-key-000001"});
    api.expect("POST", "/api/accounts", &file_name.to_string(), 409)
        .await;
    let nowhere = json!({"provider": "nowhere", "api_key": "sk-other-key-000001"});
    api.expect("POST", "/api/accounts", &nowhere.to_string(), 404)
        .await;
    for bad in [
        json!({"provider": "s", "api_key": "  "}),
        json!({"provider": "s", "api_key": "two words"}),
        json!({"provider": "s", "name": "a/b", "api_key": "sk-other-key-000001"}),
        json!({"provider": "s", "api_key": "sk-other-key-000001", "extra": 1}),
        json!({"provider": "s"}),
    ] {
        api.expect("POST", "/api/accounts", &bad.to_string(), 400)
            .await;
    }
    // No name: the provider's next free one.
    let unnamed = json!({"provider": "s", "api_key": "sk-mgmt-added-by-api-0002"});
    let second = api
        .expect("POST", "/api/accounts", &unnamed.to_string(), 201)
        .await;
    assert_eq!(second["account"], "s-2", "{second}");

    let audit = api.expect("GET", "/api/audit", "", 200).await;
    let created: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "account.create")
        .map(|e| (e["target"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(created, [("s/s-2", "admin"), ("s/web", "admin")]);
    api.assert_no_secrets(&[NEW, "sk-mgmt-added-by-api-0002", K1, K2, CLIENT, ADMIN]);
}

const OAUTH_CLIENT: &str = "sk-mgmt-oauth-client-01";

/// A login's view, polled until it is no longer `starting` or `waiting`.
async fn finished(api: &Admin<'_>, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let login = api
            .expect("GET", &format!("/api/logins/{id}"), "", 200)
            .await;
        if login["status"] != "waiting" && login["status"] != "starting" {
            return login;
        }
        assert!(
            Instant::now() < deadline,
            "the login never finished: {login}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_device_code_and_pasted_pkce_and_imports_through_the_api() {
    let github = FakeOAuth::start(OAuthConfig::new(
        "Iv1.test-client",
        BodyStyle::Form,
        Flavor::GitHub,
    ))
    .await;
    let copilot = FakeCopilot::start(github.state.clone()).await;
    copilot.state.ttl.store(1800, Ordering::SeqCst);
    let mut codex_oauth = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
    codex_oauth.id_claims = json!({"email": "dev@example.com",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}});
    let openai = FakeOAuth::start(codex_oauth).await;
    let codex = FakeCodex::start(openai.state.clone(), "acct-1").await;
    let fake = FakeOpenAi::start().await;
    let cfg = format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "tests"
key = "{OAUTH_CLIENT}"

[[providers]]
name = "gh"
kind = "copilot"
base_url = "{copilot}"
models = ["gpt-4.1"]
[providers.options]
github_url = "{gh}"
github_api_url = "{copilot}"
client_id = "Iv1.test-client"

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

[[providers]]
name = "plain"
base_url = "{plain}"
"#,
        copilot = copilot.url(),
        gh = github.url(""),
        codex = codex.base_url(),
        auth = openai.url("/authorize"),
        token = openai.url("/token"),
        plain = fake.base_url(),
    );
    let proxy = Proxy::start(&cfg, &[]);
    let api = Admin::new(&proxy);

    // Device code: the API shows the code; approving it finishes the login by itself.
    let login = api
        .expect("POST", "/api/logins", r#"{"provider": "gh"}"#, 201)
        .await;
    assert_eq!(
        (&login["status"], &login["flow"]),
        (&json!("waiting"), &json!("device_code")),
        "{login}"
    );
    assert!(
        login["verification_uri"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    let id = login["id"].as_str().unwrap().to_owned();
    // A device-code login takes no redirect.
    api.expect(
        "POST",
        &format!("/api/logins/{id}/complete"),
        r#"{"redirect_url": "http://localhost/cb?code=x&state=y"}"#,
        409,
    )
    .await;
    assert!(github.state.approve(login["user_code"].as_str().unwrap()));
    let done = finished(&api, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["account"], "octocat", "{done}");
    let account = api.account("gh", "octocat").await;
    assert_eq!(
        (&account["source"], &account["auth"], &account["in_use"]),
        (&json!("login"), &json!("oauth"), &json!(true)),
        "{account}"
    );
    assert!(account["token_expires_at"].is_string(), "{account}");
    // In use at once: no restart, no reload turn.
    let body = json!({"model": "gh/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]});
    let res = post_json(&proxy.url("/v1/chat/completions"), OAUTH_CLIENT, &body).await;
    assert_eq!(res.status, 200, "{}", res.text());

    // PKCE: the API gives the URL; the address the browser ended on is posted back.
    let login = api
        .expect("POST", "/api/logins", r#"{"provider": "codex"}"#, 201)
        .await;
    assert_eq!(login["flow"], "pkce", "{login}");
    let url = login["authorization_url"].as_str().unwrap().to_owned();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let id = login["id"].as_str().unwrap().to_owned();
    let complete = format!("/api/logins/{id}/complete");
    // An address from another login (its state differs) is refused, and the login waits on.
    let err = api
        .expect(
            "POST",
            &complete,
            r#"{"redirect_url": "http://localhost:1/auth/callback?code=c&state=not-this-one"}"#,
            400,
        )
        .await;
    assert!(
        err["error"]["message"].as_str().unwrap().contains("state"),
        "{err}"
    );
    api.expect("POST", &complete, r#"{"redirect": "x"}"#, 400)
        .await;
    let res = request("GET", &url, &[], "").await;
    let back = res.headers["location"].to_str().unwrap().to_owned();
    let done = api
        .expect(
            "POST",
            &complete,
            &json!({ "redirect_url": back }).to_string(),
            200,
        )
        .await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["account"], "dev@example.com", "{done}");
    assert_eq!(api.account("cx", "dev@example.com").await["auth"], "oauth");
    api.expect(
        "POST",
        &complete,
        &json!({ "redirect_url": back }).to_string(),
        409,
    )
    .await;

    // Imports: a login file's contents.
    let (access, refresh, id_token, _) = openai.state.issue(3600);
    let contents = json!({"OPENAI_API_KEY": null, "tokens": {"id_token": id_token,
        "access_token": access, "refresh_token": refresh, "account_id": "acct-1"}})
    .to_string();
    let imported = api
        .expect(
            "POST",
            "/api/accounts/import",
            &json!({"provider": "cx", "contents": contents, "name": "second"}).to_string(),
            201,
        )
        .await;
    assert_eq!(
        (
            &imported["account"],
            &imported["source"],
            &imported["in_use"]
        ),
        (&json!("second"), &json!("login"), &json!(true)),
        "{imported}"
    );
    let listing = cli(&proxy.dir, &["accounts"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains("second") && l.contains("oauth")),
        "{listing}"
    );
    let err = api
        .expect(
            "POST",
            "/api/accounts/import",
            r#"{"provider": "cx", "contents": "{\"tokens\": 3}"}"#,
            400,
        )
        .await;
    assert!(
        err["error"]["message"].as_str().unwrap().contains("codex"),
        "{err}"
    );
    api.expect(
        "POST",
        "/api/accounts/import",
        r#"{"provider": "plain", "contents": "{}"}"#,
        400,
    )
    .await;
    api.expect(
        "POST",
        "/api/accounts/import",
        r#"{"provider": "nowhere", "contents": "{}"}"#,
        404,
    )
    .await;

    // Refusals.
    api.expect("POST", "/api/logins", r#"{"provider": "nowhere"}"#, 404)
        .await;
    api.expect("POST", "/api/logins", r#"{"provider": 3}"#, 400)
        .await;
    api.expect("POST", "/api/logins", "not json", 400).await;
    api.expect("GET", "/api/logins/no-such-login", "", 404)
        .await;
    assert_eq!(api.call("GET", "/api/logins", "").await.status, 405);
    // A provider with no login fails with the provider's own reason.
    let login = api
        .expect("POST", "/api/logins", r#"{"provider": "plain"}"#, 201)
        .await;
    let failed = finished(&api, login["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("api_key"),
        "{failed}"
    );

    let audit = api.expect("GET", "/api/audit", "", 200).await;
    // The API's changes; the CLI's are audited as `cli` (see `cli_changes_are_in_the_audit_log`).
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] != "cli")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["account.import", "account.login", "account.login"]
    );

    let mut secrets: Vec<String> = github.state.issued();
    secrets.extend(openai.state.issued());
    secrets.extend(copilot.state.last_token());
    secrets.extend([access, refresh, id_token, ADMIN.into(), OAUTH_CLIENT.into()]);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    api.assert_no_secrets(&secrets);
}

/// The model the fake was last asked for.
fn last_model(fake: &FakeOpenAi) -> String {
    fake.requests().last().unwrap().body["model"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_and_combos_crud_reorder_in_force_at_once_and_shared_with_the_cli() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(
        &fake,
        r#"
[aliases]
pinned = "p/file-model"

[[combos]]
name = "file-chain"
targets = ["p/f1", "p/f2"]
"#,
    );
    let proxy = Proxy::start(&cfg, &[]);
    let api = Admin::new(&proxy);

    // The file's are listed as such and cannot be changed here.
    let aliases = api.expect("GET", "/api/aliases", "", 200).await;
    assert_eq!(
        aliases["aliases"],
        json!([{"name": "pinned", "target": "p/file-model", "source": "file", "in_force": true}])
    );
    let combos = api.expect("GET", "/api/combos", "", 200).await;
    assert_eq!(combos["combos"][0]["targets"], json!(["p/f1", "p/f2"]));
    assert_eq!(combos["combos"][0]["source"], "file");
    for (method, path, body) in [
        ("PUT", "/api/aliases/pinned", r#"{"target": "p/x"}"#),
        ("DELETE", "/api/aliases/pinned", ""),
        (
            "POST",
            "/api/aliases",
            r#"{"name": "pinned", "target": "p/x"}"#,
        ),
        ("PUT", "/api/combos/file-chain", r#"{"targets": ["p/x"]}"#),
        ("DELETE", "/api/combos/file-chain", ""),
        (
            "POST",
            "/api/combos/file-chain/order",
            r#"{"order": [1, 0]}"#,
        ),
    ] {
        let err = api.expect(method, path, body, 409).await;
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains("config.toml"), "{method} {path}: {err}");
    }

    // An alias: created, in force at once, changed, deleted.
    let created = api
        .expect(
            "POST",
            "/api/aliases",
            r#"{"name": "fast", "target": "p/m-fast"}"#,
            201,
        )
        .await;
    assert_eq!(created["source"], "database");
    assert_eq!(created["in_force"], true);
    assert_eq!(ask(&proxy, "fast").await.status, 200);
    assert_eq!(last_model(&fake), "m-fast");
    api.expect(
        "POST",
        "/api/aliases",
        r#"{"name": "fast", "target": "p/m2"}"#,
        409,
    )
    .await;
    api.expect(
        "PUT",
        "/api/aliases/fast",
        r#"{"target": "p/m-faster"}"#,
        200,
    )
    .await;
    assert_eq!(ask(&proxy, "fast").await.status, 200);
    assert_eq!(last_model(&fake), "m-faster");
    let fast = api.expect("GET", "/api/aliases/fast", "", 200).await;
    assert_eq!(fast["target"], "p/m-faster");
    // The CLI reads the same rows.
    let listing = cli(&proxy.dir, &["alias", "list"]);
    assert!(
        listing.contains("fast -> p/m-faster  (database)"),
        "{listing}"
    );
    api.expect("DELETE", "/api/aliases/fast", "", 200).await;
    assert_ne!(ask(&proxy, "fast").await.status, 200);
    api.expect("GET", "/api/aliases/fast", "", 404).await;
    api.expect("DELETE", "/api/aliases/fast", "", 404).await;
    api.expect("PUT", "/api/aliases/fast", r#"{"target": "p/m"}"#, 404)
        .await;

    // Bad bodies.
    for body in [
        r#"{"name": "x", "target": "nowhere/m"}"#,
        r#"{"name": "x", "target": "no-slash"}"#,
        r#"{"name": "x", "target": "p/m@a1"}"#,
        r#"{"name": "x"}"#,
        r#"{"name": "x", "target": "p/m", "extra": 1}"#,
        "[]",
    ] {
        api.expect("POST", "/api/aliases", body, 400).await;
    }
    for body in [
        r#"{"name": "c", "targets": []}"#,
        r#"{"name": "c/d", "targets": ["p/m"]}"#,
        r#"{"name": "c", "targets": ["p/m@nobody"]}"#,
    ] {
        api.expect("POST", "/api/combos", body, 400).await;
    }

    // A combo: its first target serves; reordered, the other does, at once.
    let created = api
        .expect(
            "POST",
            "/api/combos",
            r#"{"name": "chain", "targets": ["p/first@a1", "p/second"]}"#,
            201,
        )
        .await;
    assert_eq!(created["targets"], json!(["p/first@a1", "p/second"]));
    assert_eq!(ask(&proxy, "chain").await.status, 200);
    assert_eq!(last_model(&fake), "first");
    let reordered = api
        .expect(
            "POST",
            "/api/combos/chain/order",
            r#"{"order": [1, 0]}"#,
            200,
        )
        .await;
    assert_eq!(reordered["targets"], json!(["p/second", "p/first@a1"]));
    assert_eq!(ask(&proxy, "chain").await.status, 200);
    assert_eq!(last_model(&fake), "second");
    for order in [
        r#"{"order": [0]}"#,
        r#"{"order": [0, 0]}"#,
        r#"{"order": [0, 2]}"#,
    ] {
        api.expect("POST", "/api/combos/chain/order", order, 400)
            .await;
    }
    api.expect("POST", "/api/combos/none/order", r#"{"order": [0]}"#, 404)
        .await;
    api.expect(
        "PUT",
        "/api/combos/chain",
        r#"{"targets": ["p/third"]}"#,
        200,
    )
    .await;
    assert_eq!(ask(&proxy, "chain").await.status, 200);
    assert_eq!(last_model(&fake), "third");
    // A name taken is refused; changes go through PUT.
    api.expect(
        "POST",
        "/api/combos",
        r#"{"name": "chain", "targets": ["p/x"]}"#,
        409,
    )
    .await;
    assert_eq!(
        api.call("PATCH", "/api/combos/chain", "").await.headers["allow"],
        "GET, PUT, DELETE"
    );

    // Set with the CLI: listed at once, in force from the server's next reload turn.
    cli(&proxy.dir, &["combo", "set", "from-cli", "p/cli-model"]);
    eventually("the CLI's combo reaches the server", || async {
        let c = api.call("GET", "/api/combos/from-cli", "").await;
        c.status == 200 && c.json()["in_force"] == true
    })
    .await;
    assert_eq!(ask(&proxy, "from-cli").await.status, 200);
    assert_eq!(last_model(&fake), "cli-model");
    // Removed through the API: the CLI no longer lists it.
    api.expect("DELETE", "/api/combos/from-cli", "", 200).await;
    assert!(!cli(&proxy.dir, &["combo", "list"]).contains("from-cli"));
    api.expect("DELETE", "/api/combos/chain", "", 200).await;
    assert_ne!(ask(&proxy, "chain").await.status, 200);

    let audit = api.expect("GET", "/api/audit", "", 200).await;
    // The API's changes; the CLI's are audited as `cli` (see `cli_changes_are_in_the_audit_log`).
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] != "cli")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "combo.delete",
            "combo.delete",
            "combo.update",
            "combo.reorder",
            "combo.create",
            "alias.delete",
            "alias.update",
            "alias.create"
        ]
    );
    let reorder = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "combo.reorder")
        .unwrap();
    assert_eq!(
        reorder["before"]["targets"],
        json!(["p/first@a1", "p/second"])
    );
    assert_eq!(
        reorder["after"]["targets"],
        json!(["p/second", "p/first@a1"])
    );
    api.assert_no_secrets(&[K1, K2, CLIENT, ADMIN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_show_each_value_its_source_with_secrets_masked() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake, "\n[timeouts]\nconnect_ms = 4000\n");
    let proxy = Proxy::start(&cfg, &[("SWITCHYARD_IDLE_TIMEOUT_MS", "5000")]);
    let api = Admin::new(&proxy);
    let view = api.expect("GET", "/api/settings", "", 200).await;
    let get = |key: &str| {
        view["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {view}"))
    };
    let pair = |key: &str| {
        let s = get(key);
        (s["value"].clone(), s["source"].as_str().unwrap().to_owned())
    };
    assert_eq!(pair("timeouts.connect_ms"), (json!(4000), "file".into()));
    assert_eq!(
        pair("timeouts.idle_ms"),
        (json!(5000), "environment".into())
    );
    assert_eq!(
        pair("timeouts.total_ms"),
        (json!(1_800_000), "default".into())
    );
    assert_eq!(
        pair("server.account_reload_ms"),
        (json!(200), "file".into())
    );
    assert_eq!(pair("server.admin_key").1, "file");
    assert!(
        pair("server.admin_key")
            .0
            .as_str()
            .unwrap()
            .ends_with("***")
    );
    assert_eq!(pair("server.listen").1, "command_line");
    assert_eq!(get("providers")["value"][0]["accounts"][0]["name"], "a1");
    assert!(view["file"].as_str().unwrap().ends_with("config.toml"));
    assert!(view["reload"]["loaded_at"].is_string(), "{view}");
    api.assert_no_secrets(&[K1, K2, CLIENT, ADMIN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_wants_the_admin_key_and_none_answers_without_one_configured() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, ""), &[]);
    let api = Admin::new(&proxy);
    let routes = [
        ("GET", "/api/accounts"),
        ("GET", "/api/accounts/p/a1"),
        ("DELETE", "/api/accounts/s/s1"),
        ("POST", "/api/accounts/s/s1/enable"),
        ("POST", "/api/accounts/s/s1/disable"),
        ("POST", "/api/accounts/reset"),
        ("POST", "/api/accounts/import"),
        ("POST", "/api/accounts"),
        ("POST", "/api/logins"),
        ("GET", "/api/logins/x"),
        ("POST", "/api/logins/x/complete"),
        ("GET", "/api/aliases"),
        ("POST", "/api/aliases"),
        ("PUT", "/api/aliases/x"),
        ("GET", "/api/combos"),
        ("POST", "/api/combos/x/order"),
        ("GET", "/api/settings"),
        ("GET", "/api/audit"),
    ];
    for (method, path) in routes {
        let res = api.call_as(None, method, path, "{}").await;
        assert_eq!(res.status, 401, "{method} {path}: {}", res.text());
        let res = api.call_as(Some(CLIENT), method, path, "{}").await;
        assert_eq!(res.status, 401, "{method} {path} with a client key");
    }
    api.expect("GET", "/api/no-such-thing", "", 404).await;
    // No admin key configured: the API is off, whatever is presented.
    let off = config(&fake, "").replace(&format!("admin_key = \"{ADMIN}\""), "");
    let proxy = Proxy::start(&off, &[]);
    let closed = Admin::new(&proxy);
    for (method, path) in routes {
        let res = closed.call(method, path, "{}").await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.text());
    }
    api.assert_no_secrets(&[K1, K2, CLIENT, ADMIN]);
    closed.assert_no_secrets(&[K1, K2, CLIENT, ADMIN]);
}

/// Checks an OpenAPI document with `openapi-spec-validator` (pinned in xtask's Python
/// clients): reads it from stdin, prints what is wrong and fails when it is not valid.
const VALIDATE: &str = r"
import json, sys
from openapi_spec_validator import validate
spec = json.load(sys.stdin)
validate(spec)
print('valid OpenAPI', spec['openapi'])
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_a_key_and_passes_a_real_validator() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, ""), &[]);
    let api = Admin::new(&proxy);
    let res = api.call_as(None, "GET", "/api/openapi.json", "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let doc = res.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    for path in [
        "/api/accounts/{provider}/{account}",
        "/api/logins/{id}/complete",
        "/api/accounts/import",
        "/api/aliases/{name}",
        "/api/combos/{name}/order",
        "/api/settings",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(
        doc["paths"]["/api/accounts"].get("post").is_some(),
        "POST /api/accounts missing"
    );
    assert_eq!(
        api.call_as(None, "POST", "/api/openapi.json", "")
            .await
            .status,
        405
    );
    api.assert_no_secrets(&[K1, K2, CLIENT, ADMIN]);

    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped the OpenAPI validator: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let mut child = std::process::Command::new(python)
        .args(["-c", VALIDATE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &res.body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the OpenAPI document is not valid:\n{text}"
    );
    assert!(text.contains("valid OpenAPI 3.1"), "{text}");
}

/// Changes made with the CLI are audited as the API's are, with `cli` as the actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_changes_are_in_the_audit_log() {
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake, "");
    let mut first = Proxy::start(&cfg, &[]);
    first.stop();
    store_login(&first.db_path(), "s1", S1);
    let proxy = Proxy::start_in(first.dir.clone(), &cfg, &[]);
    let api = Admin::new(&proxy);
    cli(&proxy.dir, &["alias", "set", "quick", "p/m"]);
    cli(&proxy.dir, &["alias", "set", "quick", "p/n"]);
    cli(&proxy.dir, &["combo", "set", "pair", "p/m", "s/m"]);
    cli(&proxy.dir, &["combo", "remove", "pair"]);
    cli(&proxy.dir, &["accounts", "disable", "s/s1"]);
    cli(&proxy.dir, &["accounts", "enable", "s/s1"]);
    cli(&proxy.dir, &["accounts", "reset", "--all"]);
    cli(&proxy.dir, &["accounts", "remove", "s/s1"]);
    let audit = api.expect("GET", "/api/audit", "", 200).await;
    let seen: Vec<(&str, &str, &str)> = audit["entries"]
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
            ("cli", "account.remove", "s/s1"),
            ("cli", "account.reset", "*"),
            ("cli", "account.enable", "s/s1"),
            ("cli", "account.disable", "s/s1"),
            ("cli", "combo.delete", "pair"),
            ("cli", "combo.create", "pair"),
            ("cli", "alias.update", "quick"),
            ("cli", "alias.create", "quick"),
        ],
        "{audit}"
    );
    api.assert_no_secrets(&[K1, K2, S1, CLIENT, ADMIN]);
}
