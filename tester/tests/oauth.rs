//! End to end: logins (device flow, PKCE through the loopback listener, a pasted URL),
//! imports, and token refresh through the real binary, against fake OAuth servers and fake
//! subscription backends.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_subscriptions::{
    FakeClaudeCode, FakeCodeAssist, FakeCodex, FakeCopilot,
};
use switchyard_tester::harness::{Proxy, binary, run, scratch_dir};
use switchyard_tester::http_client::{post_json, request, sse_data};

const CLIENT_KEY: &str = "sk-client-oauth-0001";

fn header(extra: &str) -> String {
    format!("[[client_keys]]\nid = \"tests\"\nkey = \"{CLIENT_KEY}\"\n\n{extra}")
}

/// A CLI command running in the background, its output read line by line.
struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

fn spawn(dir: &Path, args: &[&str]) -> Cli {
    let mut child = Command::new(binary())
        .current_dir(dir)
        .args(args)
        .env("SWITCHYARD_NO_BROWSER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let out = Arc::new(Mutex::new(String::new()));
    let err = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            o.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    let e = err.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            e.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let stdin = child.stdin.take();
    Cli {
        child,
        stdin,
        lines,
        out,
        err,
    }
}

impl Cli {
    /// The first output line `pick` accepts, polled without blocking the runtime.
    async fn line(&self, pick: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            match self.lines.try_recv() {
                Ok(l) if pick(&l) => return l,
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!(
            "no such line; stdout:\n{}\nstderr:\n{}",
            self.out.lock().unwrap(),
            self.err.lock().unwrap()
        );
    }

    fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    async fn finish(mut self) -> (bool, String, String) {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!(
                    "CLI did not finish:\n{}\n{}",
                    self.out.lock().unwrap(),
                    self.err.lock().unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Let the reader threads drain.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let out = self.out.lock().unwrap().clone();
        let err = self.err.lock().unwrap().clone();
        (status.success(), out, err)
    }
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    let (ok, out, err) = run(dir, &full);
    assert!(ok, "switchyard {args:?} failed:\n{out}\n{err}");
    out
}

fn assert_no_secrets(what: &str, text: &str, secrets: &[String]) {
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !text.contains(s.as_str()),
            "{what} leaks a secret ({}...):\n{text}",
            &s[..6]
        );
    }
}

fn debug_logs_text(dir: &Path) -> String {
    let mut all = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return all;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            all.push_str(&debug_logs_text(&p));
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            all.push_str(&t);
        }
    }
    all
}

/// A chat request carrying Claude Code's identity, which a Claude subscription serves.
fn claude_code_chat(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "messages": [
        {"role": "system", "content": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"role": "user", "content": text}]})
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 50, "temperature": 0.3})
}

fn accounts_rows(db: &Path) -> Vec<(String, String, String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT provider, name, status, access_token FROM accounts ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copilot_device_login_renews_its_token_and_learns_the_responses_endpoint() {
    let github = FakeOAuth::start(OAuthConfig::new(
        "Iv1.test-client",
        BodyStyle::Form,
        Flavor::GitHub,
    ))
    .await;
    let copilot = FakeCopilot::start(github.state.clone()).await;
    // The token the login gets expires within the refresh lead: the first request renews it.
    copilot.state.ttl.store(60, Ordering::SeqCst);
    let config = header(&format!(
        r#"
[[providers]]
name = "gh"
kind = "copilot"
base_url = "{copilot}"
models = ["gpt-4.1", "gpt-5-codex"]
[providers.options]
github_url = "{gh}"
github_api_url = "{copilot}"
client_id = "Iv1.test-client"
refresh_lead_secs = "300"
"#,
        copilot = copilot.url(),
        gh = github.url(""),
    ));
    let dir = scratch_dir("copilot");
    std::fs::write(dir.join("config.toml"), &config).unwrap();

    let login = spawn(
        &dir,
        &["--config", "config.toml", "login", "gh", "--no-browser"],
    );
    let line = login.line(|l| l.contains("enter the code")).await;
    let code = line.split_whitespace().last().unwrap().to_owned();
    // The first poll after this is told to slow down; the login must keep going.
    github.state.slow_down_next();
    assert!(github.state.approve(&code), "{code}");
    let (ok, out, err) = login.finish().await;
    assert!(ok, "login failed:\n{out}\n{err}");
    assert!(out.contains("account `octocat`"), "{out}");
    assert_eq!(copilot.state.exchanges.load(Ordering::SeqCst), 1);

    let listing = cli(&dir, &["accounts"]);
    assert!(
        listing.contains("gh")
            && listing.contains("octocat")
            && listing.contains("oauth")
            && listing.contains("active"),
        "{listing}"
    );

    copilot.state.ttl.store(1800, Ordering::SeqCst);
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let url = proxy.url("/v1/chat/completions");
    let res = post_json(&url, CLIENT_KEY, &chat("gh/gpt-4.1", "hi")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        copilot.state.exchanges.load(Ordering::SeqCst),
        2,
        "renewed before expiry"
    );
    let sent = copilot
        .log
        .all()
        .into_iter()
        .filter(|s| s.path == "/chat/completions")
        .last()
        .unwrap();
    let latest = copilot.state.last_token().unwrap();
    assert_eq!(sent.headers["authorization"], format!("Bearer {latest}"));
    for h in [
        "copilot-integration-id",
        "editor-version",
        "editor-plugin-version",
        "x-request-id",
        "x-initiator",
    ] {
        assert!(sent.headers.contains_key(h), "{h}");
    }
    let res = post_json(&url, CLIENT_KEY, &chat("gh/gpt-4.1", "again")).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        copilot.state.exchanges.load(Ordering::SeqCst),
        2,
        "a fresh token is reused"
    );

    // A model served only on /responses: the 400 is learned and the request goes there.
    let chat_calls = |model: &str| {
        copilot
            .log
            .all()
            .iter()
            .filter(|s| s.path == "/chat/completions" && s.body["model"] == model)
            .count()
    };
    let res = post_json(&url, CLIENT_KEY, &chat("gh/gpt-5-codex", "hello")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        switchyard_tester::fake_responses::REPLY
    );
    assert_eq!(chat_calls("gpt-5-codex"), 1);
    assert_eq!(copilot.log.count("/responses"), 1);
    // Remembered: the next ones go straight to /responses, streaming too.
    let res = post_json(&url, CLIENT_KEY, &chat("gh/gpt-5-codex", "again")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let mut body = chat("gh/gpt-5-codex", "stream please");
    body["stream"] = json!(true);
    let res = post_json(&url, CLIENT_KEY, &body).await;
    assert_eq!(res.status, 200);
    let text: String = sse_data(&res.text())
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, switchyard_tester::fake_responses::REPLY);
    assert_eq!(chat_calls("gpt-5-codex"), 1);
    assert_eq!(copilot.log.count("/responses"), 3);
    assert!(
        copilot
            .log
            .all()
            .iter()
            .all(|s| !s.headers.contains_key("copilot-vision-request")),
        "text-only requests are not vision requests"
    );

    // A request holding an image says so, on either endpoint.
    for model in ["gh/gpt-4.1", "gh/gpt-5-codex"] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is in this picture"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}}]}]});
        let res = post_json(&url, CLIENT_KEY, &body).await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let sent = copilot.log.all().pop().unwrap();
        assert_eq!(sent.headers["copilot-vision-request"], "true", "{model}");
    }
    assert_eq!(copilot.log.count("/responses"), 4);
    proxy.stop();
    let first_log = proxy.stderr();

    // Kept across a restart: the first request after it goes straight to /responses.
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let url = proxy.url("/v1/chat/completions");
    let res = post_json(&url, CLIENT_KEY, &chat("gh/gpt-5-codex", "after restart")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(chat_calls("gpt-5-codex"), 1);
    assert_eq!(copilot.log.count("/responses"), 5);
    proxy.stop();
    assert_no_secrets("server log", &first_log, &github.state.issued());
    let mut secrets = github.state.issued();
    secrets.extend(
        copilot
            .log
            .all()
            .iter()
            .filter_map(|s| s.headers.get("authorization"))
            .filter_map(|v| v.to_str().ok())
            .map(|v| {
                v.trim_start_matches("Bearer ")
                    .trim_start_matches("token ")
                    .to_owned()
            }),
    );
    assert_no_secrets("login output", &format!("{out}{err}"), &secrets);
    assert_no_secrets("accounts output", &cli(&dir, &["accounts"]), &secrets);
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_login_through_the_loopback_callback_then_requests_carry_the_login() {
    let oauth = FakeOAuth::start(OAuthConfig::new(
        "claude-test-client",
        BodyStyle::Json,
        Flavor::Rfc,
    ))
    .await;
    let claude = FakeClaudeCode::start(oauth.state.clone()).await;
    let config = header(&format!(
        r#"
[debug_logs]
enabled = true

[[providers]]
name = "cc"
kind = "claude"
base_url = "{base}"
models = ["claude-sonnet-4-5"]
[providers.options]
auth_url = "{auth}"
token_url = "{token}"
client_id = "claude-test-client"
redirect_uri = "http://localhost:0/callback"
"#,
        base = claude.base_url(),
        auth = oauth.url("/authorize"),
        token = oauth.url("/token"),
    ));
    let dir = scratch_dir("claude-login");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let login = spawn(&dir, &["--config", "config.toml", "login", "cc"]);
    let url = login
        .line(|l| l.contains("/authorize?"))
        .await
        .trim()
        .to_owned();
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("code=true"),
        "{url}"
    );
    // The browser: the authorization server redirects to the CLI's loopback listener.
    let res = request("GET", &url, &[], "").await;
    assert_eq!(res.status, 302, "{}", res.text());
    let back = res.headers["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("http://localhost:") && back.contains("/callback?code="),
        "{back}"
    );
    let page = request("GET", &back, &[], "").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let (ok, out, err) = login.finish().await;
    assert!(ok, "login failed:\n{out}\n{err}");
    assert!(out.contains("account `user@example.com`"), "{out}");
    let exchange = oauth.state.requests.lock().unwrap()[0].1.clone();
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert!(exchange["code_verifier"].as_str().unwrap().len() >= 43);

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = request(
        "POST",
        &proxy.url("/v1/messages"),
        &[("x-api-key", CLIENT_KEY), ("content-type", "application/json"), ("anthropic-version", "2023-06-01")],
        json!({"model": "cc/claude-sonnet-4-5", "max_tokens": 20, "system": "You are Claude Code, Anthropic's official CLI for Claude.", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let seen = claude.log.all();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].headers["anthropic-beta"]
            .to_str()
            .unwrap()
            .contains("oauth-2025-04-20")
    );
    proxy.stop();
    let secrets = oauth.state.issued();
    assert_no_secrets("login output", &format!("{out}{err}"), &secrets);
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
    assert_no_secrets("debug logs", &debug_logs_text(&proxy.logs_dir()), &secrets);
}

fn codex_claims() -> Value {
    json!({"email": "dev@example.com", "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}})
}

fn codex_auth_json(dir: &Path, name: &str, access: &str, refresh: &str, id_token: &str) -> PathBuf {
    let path = dir.join(name);
    let body = json!({"OPENAI_API_KEY": null, "tokens": {"id_token": id_token, "access_token": access, "refresh_token": refresh, "account_id": "acct-1"}, "last_refresh": "2026-01-01T00:00:00Z"});
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_pasted_login_serial_refresh_body_rules_and_usage_limit() {
    let mut cfg = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
    cfg.id_claims = codex_claims();
    cfg.refresh_delay = Duration::from_millis(150);
    let oauth = FakeOAuth::start(cfg).await;
    let codex = FakeCodex::start(oauth.state.clone(), "acct-1").await;
    let config = header(&format!(
        r#"
[[providers]]
name = "cx"
kind = "codex"
base_url = "{base}"
models = ["gpt-5-codex"]
# Spread the requests so every account (and its expired token) is used.
strategy = "round-robin"
[providers.options]
auth_url = "{auth}"
token_url = "{token}"
client_id = "app_test"
redirect_uri = "http://localhost:0/auth/callback"
"#,
        base = codex.base_url(),
        auth = oauth.url("/authorize"),
        token = oauth.url("/token"),
    ));
    let dir = scratch_dir("codex");
    std::fs::write(dir.join("config.toml"), &config).unwrap();

    // A headless login: the browser's final address is pasted into the terminal.
    let mut login = spawn(
        &dir,
        &["--config", "config.toml", "login", "cx", "--no-browser"],
    );
    let url = login
        .line(|l| l.contains("/authorize?"))
        .await
        .trim()
        .to_owned();
    assert!(url.contains("codex_cli_simplified_flow=true"), "{url}");
    let res = request("GET", &url, &[], "").await;
    let back = res.headers["location"].to_str().unwrap().to_owned();
    login.type_line(&back);
    let (ok, out, err) = login.finish().await;
    assert!(ok, "login failed:\n{out}\n{err}");
    assert!(out.contains("account `dev@example.com`"), "{out}");

    // Two more accounts of the same client, imported with expired tokens.
    for name in ["second", "third"] {
        let (access, refresh, id, _) = oauth.state.issue(-30);
        let file = codex_auth_json(&dir, &format!("{name}.json"), &access, &refresh, &id);
        let out = cli(
            &dir,
            &[
                "import",
                "codex",
                "--path",
                file.to_str().unwrap(),
                "--name",
                name,
            ],
        );
        assert!(out.contains(&format!("account `{name}`")), "{out}");
    }

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let url = proxy.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            post_json(
                &url,
                CLIENT_KEY,
                &chat("cx/gpt-5-codex", &format!("hello {i}")),
            )
            .await
        }));
    }
    for t in tasks {
        let res = t.await.unwrap();
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // One refresh per expired account, never two at once (rotating tokens of one client).
    assert_eq!(oauth.state.refresh_calls.load(Ordering::SeqCst), 2);
    assert_eq!(oauth.state.max_in_flight.load(Ordering::SeqCst), 1);
    let sent = codex.log.all();
    assert!(sent.iter().all(|s| s.body["stream"] == true
        && s.body["store"] == false
        && s.body.get("temperature").is_none()));
    // Without a conversation from the client, no session id is made up.
    assert!(sent.iter().all(|s| s.headers.get("session_id").is_none()));

    // A client's conversation (here Claude Code's session header) reaches the backend as
    // Codex's own `session_id`, which its prompt cache is keyed by.
    let session = "0b8e4f2a-5c1d-4e3f-9a7b-6d2c1e0f9a8b";
    let auth = format!("Bearer {CLIENT_KEY}");
    let body = chat("cx/gpt-5-codex", "with a session").to_string();
    let res = request(
        "POST",
        &url,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("x-claude-code-session-id", session),
        ],
        body,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let last = codex.log.all().pop().unwrap();
    assert_eq!(last.headers["session_id"], session);

    // The quota answer becomes a precise Retry-After.
    let res = post_json(&url, CLIENT_KEY, &chat("cx/gpt-5-codex", "#usage-limit")).await;
    assert_eq!(res.status, 429, "{}", res.text());
    let wait: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&wait), "{wait}");

    proxy.stop();
    let rows = accounts_rows(&proxy.db_path());
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.2 == "active"), "{rows:?}");
    let secrets = oauth.state.issued();
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
    assert_no_secrets("accounts output", &cli(&dir, &["accounts"]), &secrets);
    assert_no_secrets("error body", &res.text(), &secrets);
}

fn claude_credentials(
    dir: &Path,
    name: &str,
    access: &str,
    refresh: &str,
    expires: SystemTime,
) -> PathBuf {
    let path = dir.join(name);
    let body = json!({"claudeAiOauth": {"accessToken": access, "refreshToken": refresh, "expiresAt": ms(expires) as u64,
        "scopes": ["user:inference"], "subscriptionType": "max"}});
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_for_500_requests_then_one_after_a_401_then_a_dead_grant_is_routed_around() {
    let mut cfg = OAuthConfig::new("claude-test-client", BodyStyle::Json, Flavor::Rfc);
    cfg.refresh_delay = Duration::from_millis(100);
    let oauth = FakeOAuth::start(cfg).await;
    let claude = FakeClaudeCode::start(oauth.state.clone()).await;
    let config = header(&format!(
        r#"
[[providers]]
name = "cc"
kind = "claude"
base_url = "{base}"
models = ["claude-sonnet-4-5"]
[providers.options]
token_url = "{token}"
client_id = "claude-test-client"
"#,
        base = claude.base_url(),
        token = oauth.url("/token"),
    ));
    let dir = scratch_dir("claude-refresh");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    // Account `a` has expired; `b` is fresh.
    let (a_access, a_refresh, _, a_exp) = oauth.state.issue(-60);
    let file = claude_credentials(&dir, "a.json", &a_access, &a_refresh, a_exp);
    cli(
        &dir,
        &[
            "import",
            "claude",
            "--path",
            file.to_str().unwrap(),
            "--name",
            "a",
        ],
    );
    let (b_access, b_refresh, _, b_exp) = oauth.state.issue(3600);
    let file = claude_credentials(&dir, "b.json", &b_access, &b_refresh, b_exp);
    cli(
        &dir,
        &[
            "import",
            "claude",
            "--path",
            file.to_str().unwrap(),
            "--name",
            "b",
        ],
    );

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[("SWITCHYARD_DEBUG_LOGS", "1")]);
    let url = proxy.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for i in 0..500 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            post_json(
                &url,
                CLIENT_KEY,
                &claude_code_chat("cc/claude-sonnet-4-5", &format!("n{i}")),
            )
            .await
        }));
    }
    for t in tasks {
        let res = t.await.unwrap();
        assert_eq!(res.status, 200, "{}", res.text());
    }
    assert_eq!(
        oauth.state.refresh_calls.load(Ordering::SeqCst),
        1,
        "one refresh for all"
    );

    // The upstream refuses `a`'s current token: one refresh, then the request succeeds.
    let a_now = accounts_rows(&proxy.db_path())
        .into_iter()
        .find(|r| r.1 == "a")
        .unwrap()
        .3;
    assert_ne!(a_now, a_access, "the refreshed token was stored");
    oauth.state.revoke_access(&a_now);
    for i in 0..4 {
        let res = post_json(
            &url,
            CLIENT_KEY,
            &claude_code_chat("cc/claude-sonnet-4-5", &format!("r{i}")),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    assert_eq!(
        oauth.state.refresh_calls.load(Ordering::SeqCst),
        2,
        "one refresh after the 401"
    );

    // `a`'s grant dies: the next refresh fails for good, `a` is marked, `b` answers.
    let a_rt = oauth.state.last_refresh().unwrap();
    oauth.state.revoke_refresh(&a_rt);
    for i in 0..6 {
        let res = post_json(
            &url,
            CLIENT_KEY,
            &claude_code_chat("cc/claude-sonnet-4-5", &format!("t{i}")),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    assert_eq!(
        oauth.state.refresh_calls.load(Ordering::SeqCst),
        3,
        "the dead grant is tried once, not in a loop"
    );
    let rows = accounts_rows(&proxy.db_path());
    let status: Vec<_> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
    assert_eq!(status, [("a", "needs_login"), ("b", "active")]);
    let listing = cli(&dir, &["accounts"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains(" a ") && l.contains("needs_login")),
        "{listing}"
    );

    // Disabled and removed accounts.
    cli(&dir, &["accounts", "disable", "cc/b"]);
    assert!(
        cli(&dir, &["accounts"])
            .lines()
            .any(|l| l.contains(" b ") && l.contains("disabled"))
    );
    proxy.stop();
    cli(&dir, &["accounts", "remove", "a"]);
    assert_eq!(accounts_rows(&proxy.db_path()).len(), 1);

    let secrets = oauth.state.issued();
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
    assert_no_secrets("accounts output", &listing, &secrets);
    assert_no_secrets("debug logs", &debug_logs_text(&proxy.logs_dir()), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_cli_import_finds_its_project_and_speaks_the_envelope() {
    let mut cfg = OAuthConfig::new("google-test-client", BodyStyle::Form, Flavor::Rfc);
    cfg.client_secret = Some("google-test-secret".into());
    let google = FakeOAuth::start(cfg).await;
    let ca = FakeCodeAssist::start(google.state.clone(), None).await;
    let config = header(&format!(
        r#"
[[providers]]
name = "gc"
kind = "gemini-cli"
base_url = "{base}"
models = ["gemini-2.5-pro"]
[providers.options]
token_url = "{token}"
client_id = "google-test-client"
client_secret = "google-test-secret"
onboard_poll_ms = "10"
"#,
        base = ca.url(),
        token = google.url("/token"),
    ));
    let dir = scratch_dir("gemini-cli");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let (access, refresh, _, exp) = google.state.issue(-60);
    let file = dir.join("oauth_creds.json");
    let creds = json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "scope": "x", "expiry_date": ms(exp) as u64});
    std::fs::write(&file, creds.to_string()).unwrap();
    cli(
        &dir,
        &[
            "import",
            "gemini",
            "--path",
            file.to_str().unwrap(),
            "--name",
            "me",
        ],
    );

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let url = proxy.url("/v1/chat/completions");
    let res = post_json(&url, CLIENT_KEY, &chat("gc/gemini-2.5-pro", "hi")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        switchyard_tester::fake_anthropic::REPLY
    );
    assert!(res.json()["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let mut body = chat("gc/gemini-2.5-pro", "stream");
    body["stream"] = json!(true);
    let res = post_json(&url, CLIENT_KEY, &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("data: [DONE]"));
    assert_eq!(google.state.refresh_calls.load(Ordering::SeqCst), 1);
    assert_eq!(ca.state.onboard_calls.load(Ordering::SeqCst), 2);
    let sent: Vec<_> = ca
        .log
        .all()
        .into_iter()
        .filter(|s| s.path.contains("GenerateContent") || s.path.contains("generateContent"))
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body["project"], "proj-onboarded");
    assert_eq!(sent[0].body["model"], "gemini-2.5-pro");
    proxy.stop();
    let secrets = google.state.issued();
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_takes_in_logins_added_and_removed_after_it_started() {
    let mut cfg = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
    cfg.id_claims = codex_claims();
    let oauth = FakeOAuth::start(cfg).await;
    let codex = FakeCodex::start(oauth.state.clone(), "acct-1").await;
    let config = header(&format!(
        "[[providers]]\nname = \"cx\"\nkind = \"codex\"\nbase_url = \"{}\"\nmodels = [\"gpt-5-codex\"]\n[providers.options]\ntoken_url = \"{}\"\nclient_id = \"app_test\"\n",
        codex.base_url(),
        oauth.url("/token"),
    ));
    let dir = scratch_dir("reload");
    let proxy = Proxy::start_in(
        dir.clone(),
        &config,
        &[("SWITCHYARD_ACCOUNT_RELOAD_MS", "100")],
    );
    let url = proxy.url("/v1/chat/completions");
    let res = post_json(&url, CLIENT_KEY, &chat("cx/gpt-5-codex", "hi")).await;
    assert_eq!(res.status, 503, "{}", res.text());

    // A login stored while the server runs is picked up without a restart...
    let (access, refresh, id, _) = oauth.state.issue(3600);
    let file = codex_auth_json(&dir, "late.json", &access, &refresh, &id);
    let out = cli(
        &dir,
        &[
            "import",
            "codex",
            "--path",
            file.to_str().unwrap(),
            "--name",
            "late",
        ],
    );
    assert!(out.contains("account `late`"), "{out}");
    let start = Instant::now();
    loop {
        let res = post_json(&url, CLIENT_KEY, &chat("cx/gpt-5-codex", "hi")).await;
        if res.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "login never taken in: {}",
            res.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // ...and one removed stops being used.
    cli(&dir, &["accounts", "remove", "late"]);
    let start = Instant::now();
    loop {
        let res = post_json(&url, CLIENT_KEY, &chat("cx/gpt-5-codex", "hi")).await;
        if res.status == 503 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "removed login still used"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
