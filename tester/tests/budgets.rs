//! Dollar budgets per client key, account and provider: once spent, a request gets a 429
//! in the client's own format naming the budget and the exact time it resets, and a spent
//! account is passed over for the next.

use serde_json::{Value, json};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{post_json, request};

const CAPPED_KEY: &str = "sk-client-capped";
const FREE_KEY: &str = "sk-client-free";

/// One request to `gpt-test` costs (8 x $1 + 3 x $0.50 + 7 x $2) / 1e6 = $0.0000235, above
/// every budget below, so the first request spends each budget it counts against.
fn config(base_url: &str) -> String {
    format!(
        r#"
[[client_keys]]
id = "capped"
key = "{CAPPED_KEY}"
usd_per_day = 0.00001

[[client_keys]]
id = "free"
key = "{FREE_KEY}"

[[providers]]
name = "fake"
base_url = "{base_url}"
models = ["gpt-test"]
[[providers.accounts]]
name = "first"
api_key = "sk-upstream-first"
priority = 0
usd_per_month = 0.00001
[[providers.accounts]]
name = "second"
api_key = "sk-upstream-second"
priority = 1

[[providers]]
name = "capped"
base_url = "{base_url}"
models = ["gpt-test"]
usd_per_day = 0.00001
[[providers.accounts]]
name = "only"
api_key = "sk-upstream-only"

[[models]]
id = "gpt-test"
kinds = ["openai"]
context = 1000
max_output = 500
input = 1.0
output = 2.0
cache_read = 0.5
"#
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn tomorrow_utc() -> String {
    let next = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    format!("{next}T00:00:00Z")
}

fn next_month_utc() -> String {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    format!("{y:04}-{m:02}-01T00:00:00Z")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_is_a_429_naming_it_and_when_it_resets() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake.base_url()), &[]);
    let chat_url = proxy.url("/v1/chat/completions");

    // Client key budget: the first request spends it.
    let res = post_json(&chat_url, CAPPED_KEY, &chat("fake/gpt-test")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = post_json(&chat_url, CAPPED_KEY, &chat("fake/gpt-test")).await;
    assert_eq!(res.status, 429, "{}", res.text());
    let body = res.json();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("client key `capped` has spent its budget of $0.00001 for today"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("it resets at {}", tomorrow_utc())),
        "{message}"
    );
    assert_eq!(body["error"]["code"], "budget_exceeded");
    let retry: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    // In the Anthropic client's own shape too.
    let res = request(
        "POST",
        &proxy.url("/v1/messages"),
        &[
            ("x-api-key", CAPPED_KEY),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        json!({"model": "fake/gpt-test", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(res.status, 429);
    let body = res.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client key `capped`"),
        "{body}"
    );

    // Account budget (monthly): the first account answered the capped key's request, which
    // spent its budget; from then on it is passed over for the second.
    for _ in 0..2 {
        let res = post_json(&chat_url, FREE_KEY, &chat("fake/gpt-test")).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    let keys = fake.keys_seen();
    let seen: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_eq!(
        seen,
        [
            "sk-upstream-first",
            "sk-upstream-second",
            "sk-upstream-second"
        ]
    );

    // Provider budget: the one account cannot help; the 429 names the provider.
    let res = post_json(&chat_url, FREE_KEY, &chat("capped/gpt-test")).await;
    assert_eq!(res.status, 200);
    let res = post_json(&chat_url, FREE_KEY, &chat("capped/gpt-test")).await;
    assert_eq!(res.status, 429, "{}", res.text());
    let message = res.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("provider `capped` has spent its budget"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("it resets at {}", tomorrow_utc())),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_account_alone_names_its_monthly_reset_and_budgets_survive_a_restart() {
    let fake = FakeOpenAi::start().await;
    // Only the first account, with its monthly budget.
    let cfg = config(&fake.base_url()).replace(
        "[[providers.accounts]]\nname = \"second\"\napi_key = \"sk-upstream-second\"\npriority = 1\n",
        "",
    );
    let mut proxy = Proxy::start(&cfg, &[]);
    let chat_url = proxy.url("/v1/chat/completions");
    let res = post_json(&chat_url, FREE_KEY, &chat("fake/gpt-test")).await;
    assert_eq!(res.status, 200);
    proxy.stop();
    // Restarted, the server still knows what the account spent this month.
    let proxy = Proxy::start_in(proxy.dir.clone(), &cfg, &[]);
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        FREE_KEY,
        &chat("fake/gpt-test"),
    )
    .await;
    assert_eq!(res.status, 429, "{}", res.text());
    let message = res.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("account `fake/first` has spent its budget of $0.00001 for this month"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("it resets at {}", next_month_utc())),
        "{message}"
    );
}
