//! Protocol fidelity, round two: what a client sees through Switchyard matches what it sees
//! from the provider directly. Token counts come from the target's own counting endpoint
//! (estimated, and flagged, only where the provider has none).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::{self, FakeAnthropic};
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_subscriptions::FakeCodeAssist;
use switchyard_tester::harness::{Proxy, import_login, run_with_timeout, scratch_dir};
use switchyard_tester::http_client::{Reply, request};

const KEY: &str = "sk-client-fidelity-0001";
const COUNT_HEADER: &str = "x-switchyard-token-count";

/// Every provider family behind one proxy: Anthropic, the Gemini API, Code Assist (a
/// Google login) and an OpenAI-compatible one (no counting endpoint).
struct Providers {
    claude: FakeAnthropic,
    gemini: FakeGemini,
    code_assist: FakeCodeAssist,
    openai: FakeOpenAi,
    _google: FakeOAuth,
    proxy: Proxy,
}

async fn providers(label: &str) -> Providers {
    let claude = FakeAnthropic::start().await;
    let gemini = FakeGemini::start().await;
    let openai = FakeOpenAi::start().await;
    let mut cfg = OAuthConfig::new("google-test-client", BodyStyle::Form, Flavor::Rfc);
    cfg.client_secret = Some("google-test-secret".into());
    let google = FakeOAuth::start(cfg).await;
    let code_assist = FakeCodeAssist::start(google.state.clone(), Some("proj-1")).await;
    let config = format!(
        r#"
[[client_keys]]
id = "fidelity"
key = "{KEY}"

[[providers]]
name = "an"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"

[[providers]]
name = "gm"
kind = "gemini"
base_url = "{gemini}"
models = ["gemini-2.5-flash"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-gemini-0001"

[[providers]]
name = "gc"
kind = "gemini-cli"
base_url = "{ca}"
models = ["gemini-2.5-pro"]
[providers.options]
token_url = "{token}"
client_id = "google-test-client"
client_secret = "google-test-secret"

[[providers]]
name = "oa"
kind = "openai"
base_url = "{openai}"
models = ["gpt-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-openai-0001"

[aliases]
m_claude = "an/claude-test"
m_google = "gm/gemini-2.5-flash"
m_assist = "gc/gemini-2.5-pro"
m_openai = "oa/gpt-test"
"#,
        claude = claude.base_url(),
        gemini = gemini.base_url(),
        ca = code_assist.url(),
        token = google.url("/token"),
        openai = openai.base_url(),
    );
    let dir = scratch_dir(label);
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let (access, refresh, _, exp) = google.state.issue(3600);
    let ms = exp.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let creds = json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "scope": "x", "expiry_date": ms});
    import_login(&dir, "gemini", "oauth_creds.json", &creds, "me");
    let proxy = Proxy::start_in(dir, &config, &[]);
    Providers {
        claude,
        gemini,
        code_assist,
        openai,
        _google: google,
        proxy,
    }
}

async fn post(proxy: &Proxy, path: &str, body: &Value) -> Reply {
    request(
        "POST",
        &proxy.url(path),
        &[
            ("authorization", &format!("Bearer {KEY}")),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

fn source(reply: &Reply) -> &str {
    reply
        .headers
        .get(COUNT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `(what was asked, the count, where it came from)` checked against what each provider's
/// fake counts: Anthropic's fixed count, Gemini's words of the contents and system
/// instruction, Code Assist's words of the contents only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_counts_go_to_each_providers_own_counting_endpoint() {
    let p = providers("fidelity-count").await;
    // Five words of prompt, two of system.
    let claude_body = |model: &str| {
        json!({"model": model, "system": "be brief",
            "messages": [{"role": "user", "content": "count these five words please"}]})
    };
    let gemini_plain = json!({"contents": [{"role": "user", "parts": [{"text": "count these five words please"}]}]});
    let gemini_wrapped = json!({"generateContentRequest": {
        "model": "models/whatever",
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "count these five words please"}]}]}});

    for (model, want) in [
        ("m_claude", Some(fake_anthropic::INPUT_TOKENS)),
        ("m_google", Some(7)),
        ("m_assist", Some(5)),
        ("m_openai", None),
    ] {
        let res = post(&p.proxy, "/v1/messages/count_tokens", &claude_body(model)).await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let got = res.json()["input_tokens"].as_u64().unwrap();
        match want {
            Some(n) => {
                assert_eq!(got, n, "{model}");
                assert_eq!(source(&res), "provider", "{model}");
            }
            None => {
                assert!(got > 0);
                assert_eq!(source(&res), "estimated", "{model}");
            }
        }
        for (body, google_want) in [(&gemini_plain, 5), (&gemini_wrapped, 7)] {
            let res = post(
                &p.proxy,
                &format!("/v1beta/models/{model}:countTokens"),
                body,
            )
            .await;
            assert_eq!(res.status, 200, "{model}: {}", res.text());
            let got = res.json()["totalTokens"].as_u64().unwrap();
            let want = match model {
                "m_google" => Some(google_want),
                // Code Assist counts the contents alone.
                "m_assist" => Some(5),
                _ => want,
            };
            match want {
                Some(n) => {
                    assert_eq!(got, n, "{model} {body}");
                    assert_eq!(source(&res), "provider", "{model}");
                }
                None => assert_eq!(source(&res), "estimated", "{model}"),
            }
        }
    }
    let counted =
        |paths: Vec<String>, needle: &str| paths.iter().filter(|p| p.contains(needle)).count();
    let claude_paths = p.claude.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(counted(claude_paths, "/count_tokens"), 3);
    let gemini_paths = p
        .gemini
        .state
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(counted(gemini_paths, ":countTokens"), 3);
    let assist_paths = p
        .code_assist
        .log
        .all()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(counted(assist_paths, ":countTokens"), 3);
    assert!(p.openai.requests().is_empty(), "nothing to count upstream");
}

/// The official SDKs' own count calls, against every provider family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_count_tokens_against_every_provider() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let p = providers("fidelity-sdk-count").await;
    let mut cmd = Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_count_tokens.py"))
        .arg(format!("http://{}", p.proxy.addr))
        .arg(KEY)
        .args(["m_claude", "m_google", "m_assist", "m_openai"])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(120)));
    assert!(ok, "{stdout}\n{stderr}");
    let cases: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    for c in &cases {
        assert!(
            c.get("error").is_none(),
            "{c}\nproxy log:\n{}",
            p.proxy.stderr()
        );
        let want = match (c["model"].as_str().unwrap(), c["sdk"].as_str().unwrap()) {
            ("m_claude", _) => Some(fake_anthropic::INPUT_TOKENS),
            ("m_google", "anthropic") => Some(7),
            ("m_google" | "m_assist", _) => Some(5),
            _ => None,
        };
        match want {
            Some(n) => assert_eq!(c["tokens"], n, "{c}"),
            None => assert!(c["tokens"].as_u64().unwrap() > 0, "{c}"),
        }
        let header = c["header"].as_str();
        if c["sdk"] == "anthropic" || header.is_some() {
            let expected = if want.is_some() {
                "provider"
            } else {
                "estimated"
            };
            assert_eq!(header, Some(expected), "{c}");
        }
    }
    assert_eq!(cases.len(), 8);
}
