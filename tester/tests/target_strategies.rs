//! Combos that order their targets per request: `cheapest` by the catalogue's prices for the
//! tokens the request is expected to use, among the healthy targets whose context window
//! takes the prompt; `fastest` by each target's measured time to first byte.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::post_json;

const CLIENT: &str = "sk-client-key-strategies";
const DEAR: &str = "sk-dear-account-0001";
const CHEAP: &str = "sk-cheap-account-001";
const TINY: &str = "sk-tiny-account-0001";
const SLOW: &str = "sk-slow-account-0001";
const FAST: &str = "sk-fast-account-0001";

fn provider(name: &str, base: &str, key: &str, models: &str) -> String {
    format!(
        r#"
[[providers]]
name = "{name}"
base_url = "{base}"
models = [{models}]
[[providers.accounts]]
name = "{name}-1"
api_key = "{key}"
"#
    )
}

fn chat(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

async fn ask(proxy: &Proxy, model: &str, prompt: &str) {
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &chat(model, prompt),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheapest_takes_the_cheaper_healthy_target_that_fits_and_moves_on_when_it_cools() {
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url();
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT}"

[routing]
wildcard_strategy = "cheapest"
{dear}{tiny}{cheap}
[[combos]]
name = "thrifty"
strategy = "cheapest"
targets = ["dear/m-dear", "tiny/m-tiny", "cheap/m-cheap"]

[[models]]
id = "m-dear"
kinds = ["openai"]
context = 100000
max_output = 4000
input = 10.0
output = 30.0

[[models]]
id = "m-cheap"
kinds = ["openai"]
context = 100000
max_output = 4000
input = 1.0
output = 2.0

[[models]]
id = "m-tiny"
kinds = ["openai"]
context = 200
max_output = 100
input = 0.01
output = 0.01
"#,
        dear = provider("dear", &base, DEAR, r#""m-dear""#),
        tiny = provider("tiny", &base, TINY, r#""m-tiny""#),
        cheap = provider("cheap", &base, CHEAP, r#""m-cheap""#),
    );
    let proxy = Proxy::start(&config, &[]);
    // About 1000 tokens of prompt: more than m-tiny's 200-token window.
    let long = "word ".repeat(800);

    // A short prompt fits every model: the cheapest of all serves it.
    ask(&proxy, "thrifty", "hi").await;
    assert_eq!(fake.keys_seen(), [TINY]);
    // A long one passes over m-tiny (never sent it) for the next cheapest.
    ask(&proxy, "thrifty", &long).await;
    assert_eq!(fake.keys_seen(), [TINY, CHEAP]);

    // The cheap target's account is rate limited: this request falls to the dear one...
    fake.script(
        CHEAP,
        [Fault::Status(429, vec![("retry-after", "60".into())])],
    );
    ask(&proxy, "thrifty", &long).await;
    assert_eq!(fake.keys_seen(), [TINY, CHEAP, CHEAP, DEAR]);
    // ...and while it cools, the next goes to the dear one without trying the cheap one.
    ask(&proxy, "thrifty", &long).await;
    assert_eq!(fake.keys_seen(), [TINY, CHEAP, CHEAP, DEAR, DEAR]);

    // A wildcard under `routing.wildcard_strategy = "cheapest"` is ordered the same way.
    ask(&proxy, "*/m-*", "hi").await;
    assert_eq!(fake.keys_seen().last().map(String::as_str), Some(TINY));
    ask(&proxy, "*/m-*", &long).await;
    assert_eq!(fake.keys_seen().last().map(String::as_str), Some(DEAR));

    let models: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        [
            "m-tiny", "m-cheap", "m-cheap", "m-dear", "m-dear", "m-tiny", "m-dear"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastest_measures_each_target_and_then_prefers_the_quicker_one() {
    let slow = FakeOpenAi::start().await;
    let fast = FakeOpenAi::start().await;
    // Every request to the slow fake waits before its first byte.
    slow.script(
        SLOW,
        (0..10).map(|_| Fault::Stall(Duration::from_millis(400))),
    );
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT}"
{slow}{fast}
[[combos]]
name = "quick"
strategy = "fastest"
targets = ["slow/m1", "fast/m1"]
"#,
        slow = provider("slow", &slow.base_url(), SLOW, r#""m1""#),
        fast = provider("fast", &fast.base_url(), FAST, r#""m1""#),
    );
    let proxy = Proxy::start(&config, &[]);

    // Nothing measured yet: the first target, as written.
    ask(&proxy, "quick", "one").await;
    assert_eq!((slow.keys_seen().len(), fast.keys_seen().len()), (1, 0));
    // The slow one is measured, the fast one not yet: the untried one goes first.
    ask(&proxy, "quick", "two").await;
    assert_eq!((slow.keys_seen().len(), fast.keys_seen().len()), (1, 1));
    // Both measured: the quicker first, every time.
    for prompt in ["three", "four", "five"] {
        ask(&proxy, "quick", prompt).await;
    }
    assert_eq!((slow.keys_seen().len(), fast.keys_seen().len()), (1, 4));
}

/// A token count is not a turn: through a `round-robin` combo it goes where the next turn
/// will go and leaves the combo where it stands, and on a provider whose accounts take turns
/// it leaves the accounts where they stand too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_count_is_not_a_turn_of_a_round_robin_combo_or_provider() {
    const A1: &str = "sk-ant-rotate-account-1";
    const A2: &str = "sk-ant-rotate-account-2";
    let claude = FakeAnthropic::start().await;
    let chat_fake = FakeOpenAi::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT}"

[routing]
strategy = "round-robin"
sticky_limit = 1

[[providers]]
name = "an"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a1"
api_key = "{A1}"
[[providers.accounts]]
name = "a2"
api_key = "{A2}"
{oa}
[[combos]]
name = "rr"
strategy = "round-robin"
targets = ["an/claude-test", "oa/m-chat"]
"#,
        claude = claude.base_url(),
        oa = provider("oa", &chat_fake.base_url(), CHEAP, "\"m-chat\""),
    );
    let mut proxy = Proxy::start(&config, &[]);
    let messages =
        json!({"model": "rr", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    let count = json!({"model": "rr", "messages": [{"role": "user", "content": "hi"}]});
    for (path, body) in [
        ("/v1/messages", &messages),
        ("/v1/messages/count_tokens", &count),
        ("/v1/messages", &messages),
        ("/v1/messages", &messages),
    ] {
        let res = post_json(&proxy.url(path), CLIENT, body).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
    }
    proxy.stop();

    let key_of = |r: &switchyard_tester::fake_anthropic::Recorded| {
        r.headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let seen = claude.requests();
    let turns: Vec<String> = seen
        .iter()
        .filter(|r| r.path.ends_with("/messages"))
        .map(key_of)
        .collect();
    let counts: Vec<String> = seen
        .iter()
        .filter(|r| r.path.ends_with("/count_tokens"))
        .map(key_of)
        .collect();
    // Turn one on Claude's first account, turn two on the chat provider, turn three back on
    // Claude with its second account; the count, between turns one and two, was asked of
    // the one target of the two that counts, on the account that comes next.
    assert_eq!(chat_fake.requests().len(), 1, "the combo skipped a turn");
    assert_eq!(turns, [A1, A2], "the accounts skipped a turn");
    assert_eq!(counts, [A2]);
}
