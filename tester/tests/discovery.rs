//! Discovery against the fakes: each provider's own model list (OpenAI `GET /v1/models`,
//! Anthropic `GET /v1/models`, Gemini `models.list`, Copilot `GET /models` with a login's
//! token) fetched through the management API and
//! `switchyard models --refresh`, stored with the time fetched, each model marked priced or
//! "no price"; an unpriced discovered model still routes.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_subscriptions::{COPILOT_MODELS, FakeCopilot};
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json, request};

const ADMIN: &str = "sk-admin-key-discovery";
const CLIENT: &str = "sk-client-key-discovery";

async fn admin(proxy: &Proxy, method: &str, path: &str) -> Reply {
    let auth = format!("Bearer {ADMIN}");
    request(method, &proxy.url(path), &[("authorization", &auth)], "").await
}

fn models(list: &Value) -> Vec<(String, bool)> {
    list["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["priced"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn config(openai: &FakeOpenAi, anthropic: &FakeAnthropic, gemini: &FakeGemini) -> String {
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "tests"
key = "{CLIENT}"

[[providers]]
name = "oa"
base_url = "{}"
[[providers.accounts]]
name = "k"
api_key = "sk-openai-discovery"

[[providers]]
name = "an"
kind = "claude"
base_url = "{}"
[[providers.accounts]]
name = "k"
api_key = "sk-ant-discovery"

[[providers]]
name = "ge"
kind = "gemini"
base_url = "{}"
[[providers.accounts]]
name = "k"
api_key = "gemini-key-discovery"
"#,
        openai.base_url(),
        anthropic.base_url(),
        gemini.base_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_providers_list_is_fetched_stored_and_flagged_when_unpriced() {
    let (openai, anthropic, gemini) = (
        FakeOpenAi::start().await,
        FakeAnthropic::start().await,
        FakeGemini::start().await,
    );
    let config = config(&openai, &anthropic, &gemini);
    let proxy = Proxy::start(&config, &[]);

    // Nothing fetched yet.
    let res = admin(&proxy, "GET", "/api/providers/an/models").await;
    assert_eq!(res.status, 404, "{}", res.text());

    let before = chrono::Utc::now();
    let res = admin(&proxy, "POST", "/api/providers/an/models/refresh").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let list = res.json();
    assert_eq!(list["provider"], "an");
    assert_eq!(
        models(&list),
        [
            ("claude-fake-unpriced-1".to_owned(), false),
            ("claude-haiku-4-5-20251001".to_owned(), true),
            ("claude-sonnet-4-5-20250929".to_owned(), true),
        ]
    );
    // Anthropic's list gives the limits, and they are kept.
    assert_eq!(list["models"][0]["context"], 100_000);
    assert_eq!(list["models"][0]["max_output"], 8_192);
    let fetched: chrono::DateTime<chrono::Utc> =
        list["fetched_at"].as_str().unwrap().parse().unwrap();
    assert!(
        fetched >= before - chrono::Duration::seconds(1),
        "{fetched}"
    );
    // Stored: read back as fetched.
    let stored = admin(&proxy, "GET", "/api/providers/an/models")
        .await
        .json();
    assert_eq!(stored, list);

    let res = admin(&proxy, "POST", "/api/providers/ge/models/refresh").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let list = res.json();
    assert_eq!(
        models(&list),
        [
            ("gemini-2.5-flash".to_owned(), true),
            ("gemini-2.5-pro".to_owned(), true),
            ("gemini-fake-unpriced".to_owned(), false),
        ]
    );
    assert_eq!(list["models"][1]["context"], 1_048_576);

    let res = admin(&proxy, "POST", "/api/providers/oa/models/refresh").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let ids: Vec<String> = models(&res.json()).into_iter().map(|m| m.0).collect();
    assert_eq!(ids, ["ft:gpt-4.1:acme::fake01", "gpt-4.1", "gpt-4.1-mini"]);

    assert_eq!(
        admin(&proxy, "POST", "/api/providers/nope/models/refresh")
            .await
            .status,
        404
    );
    assert_eq!(
        admin(&proxy, "GET", "/api/providers/an/models/refresh")
            .await
            .status,
        405
    );
    // Every refresh is in the audit log.
    let audit = admin(&proxy, "GET", "/api/audit").await;
    assert_eq!(
        audit.text().matches("provider.models_refresh").count(),
        3,
        "{}",
        audit.text()
    );

    // The unpriced discovered model routes all the same.
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &json!({"model": "an/claude-fake-unpriced-1", "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());

    // A provider stored through the API is the CLI's too (issue 14).
    let auth = format!("Bearer {ADMIN}");
    let made = request(
        "POST",
        &proxy.url("/api/providers"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        json!({"name": "st", "kind": "openai", "base_url": openai.base_url(),
            "accounts": [{"name": "k", "api_key": "sk-openai-stored-discovery"}]})
        .to_string(),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text());

    cli_refreshes_and_flags(&proxy);
}

/// `switchyard models --refresh` fetches every list again and shows them, the unpriced
/// models flagged.
fn cli_refreshes_and_flags(proxy: &Proxy) {
    // The CLI fetches every list again and shows them, the unpriced ones flagged.
    let (ok, out, err) = run(
        &proxy.dir,
        &["--config", "config.toml", "models", "--refresh"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("provider `ge`: 3 models fetched"), "{out}");
    // The stored provider is refreshed and listed as the file's are.
    assert!(out.contains("provider `st`: 3 models fetched"), "{out}");
    assert!(out.contains("provider `st` lists 3 models"), "{out}");
    let line = |id: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(id))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(
        line("claude-fake-unpriced-1").ends_with("no price"),
        "{out}"
    );
    assert!(line("gemini-fake-unpriced").ends_with("no price"));
    assert!(line("claude-haiku-4-5-20251001").ends_with("priced"));
    assert!(line("ft:gpt-4.1:acme::fake01").ends_with("no price"));
}

/// Copilot's list, read with the Copilot token a device login got: each model's limits from
/// its `capabilities.limits`, the one no catalogue entry prices flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copilot_list_is_fetched_with_a_logins_token() {
    let github = FakeOAuth::start(OAuthConfig::new(
        "Iv1.test-client",
        BodyStyle::Form,
        Flavor::GitHub,
    ))
    .await;
    let copilot = FakeCopilot::start(github.state.clone()).await;
    let proxy = Proxy::start(
        &format!(
            r#"
[server]
admin_key = "{ADMIN}"

[[providers]]
name = "gh"
kind = "copilot"
base_url = "{copilot}"
models = ["gpt-4.1"]
[providers.options]
github_url = "{gh}"
github_api_url = "{copilot}"
client_id = "Iv1.test-client"
"#,
            copilot = copilot.url(),
            gh = github.url(""),
        ),
        &[],
    );
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    // Before any login there is no token to ask with.
    let res = admin(&proxy, "POST", "/api/providers/gh/models/refresh").await;
    assert_eq!(res.status, 503, "{}", res.text());

    let login = request(
        "POST",
        &proxy.url("/api/logins"),
        &headers,
        r#"{"provider": "gh"}"#,
    )
    .await
    .json();
    assert!(github.state.approve(login["user_code"].as_str().unwrap()));
    let id = login["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = admin(&proxy, "GET", &format!("/api/logins/{id}"))
            .await
            .json();
        if now["status"] == "done" {
            break;
        }
        assert!(
            now["status"] == "waiting" && std::time::Instant::now() < deadline,
            "{now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let res = admin(&proxy, "POST", "/api/providers/gh/models/refresh").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let list = res.json();
    let ids: Vec<&str> = COPILOT_MODELS.iter().map(|m| m.0).collect();
    let got: Vec<(String, bool)> = models(&list);
    assert_eq!(
        got.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ids,
        "{list}"
    );
    for (i, (id, _, _, context, output)) in COPILOT_MODELS.iter().enumerate() {
        assert_eq!(list["models"][i]["context"], *context, "{id}: {list}");
        assert_eq!(list["models"][i]["max_output"], *output, "{id}: {list}");
    }
    assert_eq!(got[1], ("copilot-fake-unpriced".to_owned(), false));
    assert!(
        got[2].1,
        "gpt-4.1 is priced (an equivalent API price): {list}"
    );
    // It was asked with the Copilot token, not the GitHub one.
    let seen = copilot.log.all();
    let sent = seen.iter().find(|s| s.path == "/models").unwrap();
    let token = copilot.state.last_token().unwrap();
    assert_eq!(
        sent.headers["authorization"].to_str().unwrap(),
        format!("Bearer {token}")
    );
    let stored = admin(&proxy, "GET", "/api/providers/gh/models")
        .await
        .json();
    assert_eq!(stored, list);
}
