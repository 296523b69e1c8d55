//! End to end: every usage row is priced from the model catalogue, the cost reaches
//! `/metrics`, `switchyard usage` and (when asked for) the answer itself.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{COMPLETION_TOKENS, FakeOpenAi, PROMPT_TOKENS};
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{post_json, request};

const CLIENT_KEY: &str = "sk-client-key-cost";
const UPSTREAM_KEY: &str = "sk-upstream-key-cost";
/// The fake reports 3 of its prompt tokens as cached.
const CACHED: u64 = 3;

/// `gpt-test` priced by a `[[models]]` entry: $1 input, $0.50 cached, $2 output per million.
fn config(base_url: &str, server: &str) -> String {
    format!(
        r#"
[server]
metrics_key = "sk-metrics-cost"
{server}

[[client_keys]]
id = "laptop"
key = "{CLIENT_KEY}"

[[providers]]
name = "fake"
base_url = "{base_url}"
models = ["gpt-test", "gpt-unpriced"]
[[providers.accounts]]
name = "a"
api_key_env = "FAKE_KEY"

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

/// (11 - 3) x $1 + 3 x $0.50 + 7 x $2, per million.
fn expected_cost() -> f64 {
    ((PROMPT_TOKENS - CACHED) as f64 * 1.0 + CACHED as f64 * 0.5 + COMPLETION_TOKENS as f64 * 2.0)
        / 1e6
}

fn chat(model: &str, stream: bool) -> Value {
    let mut body =
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream});
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// A usage row's requested model, cost, price version and cost basis.
type Priced = (String, Option<f64>, Option<String>, Option<String>);

fn priced_rows(proxy: &Proxy) -> Vec<Priced> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT requested_model, cost_usd, price_version, cost_basis FROM usage ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_is_priced_and_the_cost_is_shown_where_asked() {
    let fake = FakeOpenAi::start().await;
    let mut proxy = Proxy::start(
        &config(&fake.base_url(), "cost_header = true"),
        &[("FAKE_KEY", UPSTREAM_KEY)],
    );
    let url = proxy.url("/v1/chat/completions");
    let want = format!("{:.8}", expected_cost());

    let res = post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", false)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.headers["x-switchyard-cost-usd"].to_str().unwrap(), want);

    let res = post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", true)).await;
    let text = res.text();
    assert!(
        text.ends_with(&format!("data: [DONE]\n\n: cost-usd {want}\n\n")),
        "{text}"
    );

    // A model the catalogue does not price still routes, recorded as "no price".
    let res = post_json(&url, CLIENT_KEY, &chat("fake/gpt-unpriced", false)).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers["x-switchyard-cost-usd"].to_str().unwrap(),
        "unknown"
    );

    let metrics = request(
        "GET",
        &proxy.url("/metrics"),
        &[("authorization", "Bearer sk-metrics-cost")],
        "",
    )
    .await
    .text();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                r#"switchyard_cost_usd_total{provider="fake",model="gpt-test",key="laptop"}"#,
            )
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    let total: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((total - 2.0 * expected_cost()).abs() < 1e-12, "{line}");

    proxy.stop();
    let rows = priced_rows(&proxy);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (model, cost, version, basis) in &rows[..2] {
        assert_eq!(model, "fake/gpt-test");
        assert!((cost.unwrap() - expected_cost()).abs() < 1e-15, "{cost:?}");
        assert_eq!(version.as_deref(), Some("config:config"));
        assert_eq!(basis.as_deref(), Some("api"));
    }
    assert_eq!(rows[2].1, None);
    assert_eq!(rows[2].3.as_deref(), Some("no price"));

    let (ok, out, err) = run(&proxy.dir, &["--config", "config.toml", "usage"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.contains("fake/gpt-test")).unwrap();
    assert!(
        line.contains(&format!("{:.4}", 2.0 * expected_cost())),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("fake/gpt-unpriced"))
        .unwrap();
    assert!(line.contains("(1 no price)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_header_and_comment_are_off_by_default() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake.base_url(), ""), &[("FAKE_KEY", UPSTREAM_KEY)]);
    let url = proxy.url("/v1/chat/completions");
    let res = post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", false)).await;
    assert_eq!(res.status, 200);
    assert!(res.headers.get("x-switchyard-cost-usd").is_none());
    let text = post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", true))
        .await
        .text();
    assert!(!text.contains("cost-usd"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[test]
fn switchyard_models_lists_the_catalogue_with_the_config_entries() {
    let dir = switchyard_tester::harness::scratch_dir("models");
    std::fs::write(dir.join("config.toml"), config("http://127.0.0.1:9/v1", "")).unwrap();
    let (ok, out, err) = run(&dir, &["--config", "config.toml", "models"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("gpt-test ")).unwrap();
    assert!(
        line.contains("1000") && line.contains("500") && line.contains("config"),
        "{line}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("claude-sonnet-5 "))
        .unwrap();
    assert!(
        line.contains("1000000") && line.contains("128000") && line.contains("kiro*"),
        "{line}"
    );
}
