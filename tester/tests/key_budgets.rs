//! Dollar budgets on stored client keys (made with `POST /api/keys` or `switchyard keys
//! create`): set through the API and the CLI, enforced like a file key's, with a 429 that
//! names the key's budget and the exact time it resets.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json, request};

const ADMIN: &str = "sk-admin-key-budgets";
const FILE_KEY: &str = "sk-file-key-budgets";

/// One request to `gpt-test` (11 prompt and 7 completion tokens at $1 and $2 a million)
/// costs $0.000025, above each budget below: the first request spends it.
fn config(base_url: &str) -> String {
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "from-file"
key = "{FILE_KEY}"

[[providers]]
name = "fake"
base_url = "{base_url}"
models = ["gpt-test"]
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
"#
    )
}

async fn admin(proxy: &Proxy, method: &str, path: &str, body: Value) -> Reply {
    let auth = format!("Bearer {ADMIN}");
    request(
        method,
        &proxy.url(path),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

async fn chat(proxy: &Proxy, key: &str) -> Reply {
    post_json(
        &proxy.url("/v1/chat/completions"),
        key,
        &json!({"model": "fake/gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
}

/// The next midnight UTC and the first of next month, as the 429 names them.
fn resets() -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, TimeZone};
    let today = chrono::Utc::now().date_naive();
    let tomorrow = (today + chrono::Days::new(1)).and_hms_opt(0, 0, 0).unwrap();
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    (
        chrono::Utc.from_utc_datetime(&tomorrow),
        chrono::Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap(),
    )
}

/// Checks a spent-budget 429: its message names the key's budget and the reset time, and
/// `Retry-After` counts the seconds to that time.
fn assert_spent(res: &Reply, id: &str, period: &str, at: chrono::DateTime<chrono::Utc>) {
    assert_eq!(res.status, 429, "{}", res.text());
    let body = res.json();
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    let stamp = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        message.starts_with(&format!(
            "client key `{id}` has spent its budget of $0.00001 for {period}"
        )) && message.ends_with(&format!("it resets at {stamp}")),
        "{message}"
    );
    let retry: i64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let want = (at - chrono::Utc::now()).num_seconds();
    assert!(
        (retry - want).abs() <= 2,
        "retry-after {retry}, want {want}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_keys_carry_dollar_budgets_set_by_the_api_and_the_cli() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake.base_url()), &[]);
    let (tomorrow, next_month) = resets();

    // Made through the API, then given a daily budget by PATCH.
    let res = admin(&proxy, "POST", "/api/keys", json!({"name": "api key"})).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let made = res.json();
    let (id, secret) = (
        made["key"]["id"].as_str().unwrap().to_owned(),
        made["secret"].as_str().unwrap().to_owned(),
    );
    let path = format!("/api/keys/{id}");
    let bad = admin(
        &proxy,
        "PATCH",
        &path,
        json!({"budget": {"usd_per_day": 0}}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    let bad = admin(&proxy, "PATCH", &path, json!({"budget": {"usd": 1}})).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    let res = admin(
        &proxy,
        "PATCH",
        &path,
        json!({"budget": {"usd_per_day": 0.00001}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["budget"]["usd_per_day"], 0.00001);

    assert_eq!(chat(&proxy, &secret).await.status, 200);
    assert_spent(&chat(&proxy, &secret).await, &id, "today", tomorrow);
    let view = admin(&proxy, "GET", &path, Value::Null).await.json();
    let spent = view["usage"]["usd_today"].as_f64().unwrap();
    assert!((spent - 0.000025).abs() < 1e-12, "{view}");
    // Another key is not held back by this one's budget.
    assert_eq!(chat(&proxy, FILE_KEY).await.status, 200);

    // Lifting the budget lets the key through at once.
    let res = admin(&proxy, "PATCH", &path, json!({"budget": {}})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(chat(&proxy, &secret).await.status, 200);

    // Made by the CLI with a monthly budget; a running server takes it in.
    let (ok, out, err) = run(
        &proxy.dir,
        &[
            "--config",
            "config.toml",
            "keys",
            "create",
            "cli key",
            "--budget-monthly",
            "0.00001",
        ],
    );
    assert!(ok, "{out}{err}");
    let cli_secret = out
        .split_whitespace()
        .find(|w| w.starts_with("sk-sy-"))
        .unwrap()
        .to_owned();
    let cli_id = out.split('`').nth(1).unwrap().to_owned();
    let start = Instant::now();
    loop {
        let res = chat(&proxy, &cli_secret).await;
        if res.status == 200 {
            break;
        }
        assert_eq!(res.status, 401, "{}", res.text());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "key never taken in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_spent(
        &chat(&proxy, &cli_secret).await,
        &cli_id,
        "this month",
        next_month,
    );
    let (ok, list, _) = run(&proxy.dir, &["--config", "config.toml", "keys", "list"]);
    assert!(ok && list.contains("$0.00001/month"), "{list}");
}
