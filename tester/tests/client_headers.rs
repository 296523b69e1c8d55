//! End to end: the client's own headers that tell an upstream how to read its body (Claude
//! Code's `anthropic-beta` flags, `anthropic-version`, `OpenAI-Beta`) reach an upstream of
//! the client's format, merged with the provider's own; credentials and hop-by-hop headers
//! never do; and a request translated to another format drops those fields and flags.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_subscriptions::FakeClaudeCode;
use switchyard_tester::harness::{Proxy, claude_code_login, import_login, scratch_dir};
use switchyard_tester::http_client::{request, sse_data};

const CLIENT_KEY: &str = "sk-client-headers-0001";
const ACCOUNT_KEY: &str = "sk-ant-account-key-0001";

/// What Claude Code 2.1.197 sends in `anthropic-beta` for its default model.
const CLAUDE_CODE_BETAS: &[&str] = &[
    "claude-code-20250219",
    "context-1m-2025-08-07",
    "interleaved-thinking-2025-05-14",
    "thinking-token-count-2026-05-13",
    "context-management-2025-06-27",
    "prompt-caching-scope-2026-01-05",
    "mid-conversation-system-2026-04-07",
    "effort-2025-11-24",
];

/// Claude Code's request headers, with the client key as its `x-api-key`.
fn claude_code_headers(betas: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-api-key", CLIENT_KEY.to_owned()),
        ("content-type", "application/json".to_owned()),
        ("anthropic-version", "2023-06-01".to_owned()),
        ("anthropic-beta", betas.to_owned()),
        (
            "anthropic-dangerous-direct-browser-access",
            "true".to_owned(),
        ),
        ("x-app", "cli".to_owned()),
        (
            "user-agent",
            "claude-cli/2.1.197 (external, sdk-cli)".to_owned(),
        ),
        (
            "x-claude-code-session-id",
            "0b9c4a52-6f1e-4c51-9a43-5d7f2a0e9c11".to_owned(),
        ),
        ("x-stainless-package-version", "0.94.0".to_owned()),
        ("x-stainless-retry-count", "0".to_owned()),
        ("accept", "application/json".to_owned()),
    ]
}

/// The shape of Claude Code's body: three system blocks, a mid-conversation system message,
/// adaptive thinking with an effort, context management, a metadata string.
fn claude_code_body(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 64000,
        "stream": true,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.123; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive agent that helps users with software engineering tasks.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>today is a good day</system-reminder>"},
                {"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "system", "content": "Available agents: general-purpose"}
        ],
        "tools": [{"name": "Bash", "description": "Runs a shell command", "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
        "metadata": {"user_id": "{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"s\"}"},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    })
}

async fn send_claude_code(proxy: &Proxy, model: &str, extra: &[(&str, &str)]) -> String {
    let mut headers = claude_code_headers(&CLAUDE_CODE_BETAS.join(","));
    headers.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = request(
        "POST",
        &proxy.url("/v1/messages?beta=true"),
        &headers,
        claude_code_body(model).to_string(),
    )
    .await;
    let text = res.text();
    assert_eq!(res.status, 200, "{text}");
    assert!(
        sse_data(&text).iter().any(|d| d.contains("text_delta")),
        "{text}"
    );
    text
}

/// The flags of an `anthropic-beta` header, each checked to appear once.
fn flags(headers: &http::HeaderMap) -> Vec<String> {
    let list: Vec<String> = headers
        .get_all("anthropic-beta")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|f| f.trim().to_owned())
        .collect();
    for f in &list {
        assert_eq!(
            list.iter().filter(|g| *g == f).count(),
            1,
            "{f} twice in {list:?}"
        );
    }
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refuses_beta_fields_without_their_flags() {
    let fake = FakeAnthropic::start().await;
    let url = format!("{}/messages", fake.base_url());
    let base =
        json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let cases = [
        (
            "context_management",
            json!({"edits": []}),
            "context-management-2025-06-27",
        ),
        (
            "output_config",
            json!({"effort": "high"}),
            "effort-2025-11-24",
        ),
    ];
    for (field, value, flag) in cases {
        let mut body = base.clone();
        body[field] = value;
        for (beta, status) in [("", 400), (flag, 200)] {
            let res = request(
                "POST",
                &url,
                &[
                    ("x-api-key", ACCOUNT_KEY),
                    ("content-type", "application/json"),
                    ("anthropic-version", "2023-06-01"),
                    ("anthropic-beta", beta),
                ],
                body.to_string(),
            )
            .await;
            assert_eq!(res.status, status, "{field} with `{beta}`: {}", res.text());
            if status == 400 {
                assert!(
                    res.text().contains("Extra inputs are not permitted"),
                    "{}",
                    res.text()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_flags_reach_an_api_key_provider_merged_with_its_own() {
    let fake = FakeAnthropic::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "anthropic"
kind = "claude"
base_url = "{base}"
models = ["claude-opus-4-8"]
[providers.headers]
anthropic-beta = "context-1m-2025-08-07,files-api-2025-04-14"
[[providers.accounts]]
name = "a"
api_key = "{ACCOUNT_KEY}"
"#,
        base = fake.base_url(),
    );
    let mut proxy = Proxy::start(&config, &[]);
    send_claude_code(&proxy, "anthropic/claude-opus-4-8", &[]).await;

    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    let got = flags(&seen[0].headers);
    for f in CLAUDE_CODE_BETAS {
        assert!(got.iter().any(|g| g == f), "{f} missing from {got:?}");
    }
    assert!(got.iter().any(|g| g == "files-api-2025-04-14"), "{got:?}");
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen[0].headers["x-api-key"], ACCOUNT_KEY);
    assert!(seen[0].body.get("context_management").is_some());
    assert_eq!(seen[0].body["output_config"]["effort"], "high");
    proxy.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_flags_reach_a_subscription_login_merged_with_the_logins_own() {
    let oauth = FakeOAuth::start(OAuthConfig::new(
        "claude-test-client",
        BodyStyle::Json,
        Flavor::Rfc,
    ))
    .await;
    let claude = FakeClaudeCode::start(oauth.state.clone()).await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "cc"
kind = "claude"
base_url = "{base}"
models = ["claude-opus-4-8"]
[providers.options]
token_url = "{token}"
client_id = "claude-test-client"
"#,
        base = claude.base_url(),
        token = oauth.url("/token"),
    );
    let dir = scratch_dir("client-headers-login");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let (access, refresh, _, expires) = oauth.state.issue(3600);
    let login = claude_code_login(&access, &refresh, expires);
    import_login(&dir, "claude", "creds.json", &login, "a");

    let mut proxy = Proxy::start_in(dir, &config, &[]);
    send_claude_code(&proxy, "cc/claude-opus-4-8", &[]).await;

    let seen = claude.log.all();
    assert_eq!(seen.len(), 1);
    let got = flags(&seen[0].headers);
    for f in CLAUDE_CODE_BETAS.iter().chain(&["oauth-2025-04-20"]) {
        assert!(got.iter().any(|g| g == f), "{f} missing from {got:?}");
    }
    // The inner API fake checked the body against the flags it was given.
    let inner = claude.inner.requests();
    assert_eq!(inner.len(), 1);
    assert!(inner[0].body.get("context_management").is_some());
    proxy.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_hop_by_hop_headers_are_never_forwarded() {
    let anthropic = FakeAnthropic::start().await;
    let openai = FakeOpenAi::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "anthropic"
kind = "claude"
base_url = "{anthropic}"
models = ["claude-opus-4-8"]
[[providers.accounts]]
name = "a"
api_key = "{ACCOUNT_KEY}"

[[providers]]
name = "oai"
base_url = "{openai}"
models = ["gpt-5"]
[[providers.accounts]]
name = "o"
api_key = "sk-openai-account-0001"
"#,
        anthropic = anthropic.base_url(),
        openai = openai.base_url(),
    );
    let mut proxy = Proxy::start(&config, &[]);
    let smuggled: &[(&str, &str)] = &[
        ("cookie", "session=client-cookie-secret"),
        ("x-goog-api-key", "client-goog-key-secret"),
        ("proxy-authorization", "Basic client-proxy-secret"),
        ("api-key", "client-azure-key-secret"),
        ("keep-alive", "timeout=5"),
        ("x-forwarded-for", "10.0.0.1"),
    ];
    send_claude_code(&proxy, "anthropic/claude-opus-4-8", smuggled).await;
    let seen = &anthropic.requests()[0];
    assert_eq!(seen.headers["x-api-key"], ACCOUNT_KEY);
    assert!(seen.headers.get("authorization").is_none());
    for (name, _) in smuggled {
        assert!(seen.headers.get(*name).is_none(), "{name} was forwarded");
    }

    // An OpenAI client: its beta opt-in goes on, its organization (the client's own billing
    // account, not the provider account's) and credentials do not.
    let body = json!({"model": "oai/gpt-5", "messages": [{"role": "user", "content": "hi"}]});
    let auth = format!("Bearer {CLIENT_KEY}");
    let mut headers: Vec<(&str, &str)> = vec![
        ("authorization", &auth),
        ("content-type", "application/json"),
        ("openai-beta", "assistants=v2"),
        ("openai-organization", "org-client"),
        ("openai-project", "proj-client"),
    ];
    headers.extend_from_slice(smuggled);
    let res = request(
        "POST",
        &proxy.url("/v1/chat/completions"),
        &headers,
        body.to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let seen = &openai.requests()[0];
    assert_eq!(
        seen.headers["authorization"],
        "Bearer sk-openai-account-0001"
    );
    assert_eq!(seen.headers["openai-beta"], "assistants=v2");
    for name in ["openai-organization", "openai-project", "x-api-key"] {
        assert!(seen.headers.get(name).is_none(), "{name} was forwarded");
    }
    for (name, _) in smuggled {
        assert!(seen.headers.get(*name).is_none(), "{name} was forwarded");
    }
    proxy.stop();
    let log = proxy.stderr();
    for secret in [
        "client-cookie-secret",
        "client-goog-key-secret",
        "client-proxy-secret",
    ] {
        assert!(!log.contains(secret), "{secret} in the server log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_to_openai_the_beta_fields_are_mapped_or_dropped_with_their_flags() {
    let openai = FakeOpenAi::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "oai"
base_url = "{openai}"
models = ["gpt-5"]
[[providers.accounts]]
name = "o"
api_key = "sk-openai-account-0001"
"#,
        openai = openai.base_url(),
    );
    let mut proxy = Proxy::start(&config, &[]);
    send_claude_code(&proxy, "oai/gpt-5", &[]).await;
    let seen = &openai.requests()[0];
    for name in ["anthropic-beta", "anthropic-version", "x-api-key"] {
        assert!(seen.headers.get(name).is_none(), "{name} was forwarded");
    }
    let body = seen.body.as_object().unwrap();
    // Context management and thinking have no chat-completions meaning: gone. The effort
    // keeps its meaning as `reasoning_effort`; the mid-conversation system message stays a
    // system message.
    for field in [
        "context_management",
        "output_config",
        "thinking",
        "metadata",
    ] {
        assert!(!body.contains_key(field), "{field} was sent: {body:?}");
    }
    assert_eq!(body["reasoning_effort"], "high");
    let systems: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system" || m["role"] == "developer")
        .collect();
    assert!(
        systems
            .iter()
            .any(|m| m.to_string().contains("Available agents")),
        "{systems:?}"
    );
    proxy.stop();
}
