//! Fault injection on a Claude subscription login: Anthropic answers requests that are not
//! Claude Code's own with a bare 429 "Error" (anthropics/claude-code#40515). Switchyard does
//! not disguise other clients as Claude Code; it must not take that answer for a rate limit
//! either: the account stays free for Claude Code, the next target serves the request, and a
//! client with no other target is told plainly why.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_subscriptions::FakeClaudeCode;
use switchyard_tester::harness::{Proxy, claude_code_login, import_login, scratch_dir};
use switchyard_tester::http_client::{post_json, request};

const CLIENT_KEY: &str = "sk-client-subscription-01";
const ADMIN: &str = "sk-admin-subscription-01";

struct Setup {
    claude: FakeClaudeCode,
    openai: FakeOpenAi,
    proxy: Proxy,
    _oauth: FakeOAuth,
}

/// A Claude login `cc` with one account, an OpenAI key provider `oai`, and a combo `chain`
/// that tries them in that order.
async fn setup() -> Setup {
    let oauth = FakeOAuth::start(OAuthConfig::new(
        "claude-test-client",
        BodyStyle::Json,
        Flavor::Rfc,
    ))
    .await;
    let claude = FakeClaudeCode::start(oauth.state.clone()).await;
    let openai = FakeOpenAi::start().await;
    let config = format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "cc"
kind = "claude"
base_url = "{claude}"
models = ["claude-sonnet-4-5"]
[providers.options]
token_url = "{token}"
client_id = "claude-test-client"

[[providers]]
name = "oai"
base_url = "{openai}"
models = ["gpt-5"]
[[providers.accounts]]
name = "o"
api_key = "sk-openai-account-0001"

[[combos]]
name = "chain"
targets = ["cc/claude-sonnet-4-5", "oai/gpt-5"]
"#,
        claude = claude.base_url(),
        token = oauth.url("/token"),
        openai = openai.base_url(),
    );
    let dir = scratch_dir("claude-subscription");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let (access, refresh, _, expires) = oauth.state.issue(3600);
    let login = claude_code_login(&access, &refresh, expires);
    import_login(&dir, "claude", "creds.json", &login, "a");
    let proxy = Proxy::start_in(dir, &config, &[]);
    Setup {
        claude,
        openai,
        proxy,
        _oauth: oauth,
    }
}

fn other_client(model: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "hi"}]})
}

fn claude_code(model: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "messages": [
        {"role": "system", "content": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"role": "user", "content": "hi"}]})
}

async fn account_a(proxy: &Proxy) -> Value {
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
        .find(|a| a["account"] == "a")
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_request_fails_over_without_cooling_the_subscription() {
    let mut s = setup().await;
    let url = s.proxy.url("/v1/chat/completions");

    let res = post_json(&url, CLIENT_KEY, &other_client("chain")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(s.claude.log.all().len(), 1, "the login was asked once");
    assert_eq!(s.openai.requests().len(), 1, "the next target answered");

    let a = account_a(&s.proxy).await;
    assert!(a["cooldown_until"].is_null(), "{a}");
    assert_eq!(a["consecutive_failures"].as_u64(), Some(0), "{a}");
    // Claude Code's own request is served by the same account straight away.
    let res = post_json(&url, CLIENT_KEY, &claude_code("cc/claude-sonnet-4-5")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(s.claude.inner.requests().len(), 1);
    s.proxy.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_other_target_the_client_is_told_plainly_in_its_own_format() {
    let mut s = setup().await;

    let res = post_json(
        &s.proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &other_client("cc/claude-sonnet-4-5"),
    )
    .await;
    assert_eq!(res.status, 403, "{}", res.text());
    let message = res.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("serves only Claude Code's own requests"),
        "{message}"
    );

    // A Claude-format client that is not Claude Code: the same words in Anthropic's error
    // shape, not the upstream's bare "Error".
    let res = request(
        "POST",
        &s.proxy.url("/v1/messages"),
        &[
            ("x-api-key", CLIENT_KEY),
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        json!({"model": "cc/claude-sonnet-4-5", "max_tokens": 50, "system": "You are a poet.",
            "messages": [{"role": "user", "content": "hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(res.status, 403, "{}", res.text());
    let body = res.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "permission_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("serves only Claude Code's own requests"),
        "{body}"
    );

    let a = account_a(&s.proxy).await;
    assert!(a["cooldown_until"].is_null(), "{a}");
    assert_eq!(s.claude.inner.requests().len(), 0);
    s.proxy.stop();
}
