//! An output limit above the model's maximum (Claude Code asks 32000 of any model) is
//! lowered to the catalogue's maximum, so the request succeeds where the provider would
//! refuse it; the fakes refuse it as the real APIs do.

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{post_json, request};

const CLIENT_KEY: &str = "sk-client-max-tokens";

fn config(anthropic: &str, openai: &str, gemini: &str) -> String {
    format!(
        r#"
[[client_keys]]
id = "t"
key = "{CLIENT_KEY}"

[[providers]]
name = "anth"
kind = "claude"
base_url = "{anthropic}"
models = ["claude-3-5-haiku-20241022"]
[[providers.accounts]]
name = "a"
api_key = "sk-ant-upstream"

[[providers]]
name = "oai"
kind = "openai"
base_url = "{openai}"
models = ["gpt-4.1-mini"]
[[providers.accounts]]
name = "a"
api_key = "sk-oai-upstream"

[[providers]]
name = "gem"
kind = "gemini"
base_url = "{gemini}"
models = ["gemini-2.0-flash"]
[[providers.accounts]]
name = "a"
api_key = "gem-upstream"
"#
    )
}

/// What Claude Code sends with `--model haiku`: 32000 output tokens, a 31999-token budget.
fn claude_code_body(model: &str) -> Value {
    json!({"model": model, "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fakes_refuse_an_output_limit_above_the_models() {
    let anthropic = FakeAnthropic::start().await;
    let res = request(
        "POST",
        &format!("{}/messages", anthropic.base_url()),
        &[
            ("x-api-key", "sk-ant-direct"),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        claude_code_body("claude-3-5-haiku-20241022").to_string(),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("32000 > 8192"), "{}", res.text());

    let openai = FakeOpenAi::start().await;
    let res = post_json(
        &format!("{}/chat/completions", openai.base_url()),
        "sk-oai-direct",
        &json!({"model": "gpt-4.1-mini", "max_tokens": 40000,
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("at most 32768"), "{}", res.text());

    let gemini = FakeGemini::start().await;
    let res = request(
        "POST",
        &format!(
            "{}/models/gemini-2.0-flash:generateContent",
            gemini.base_url()
        ),
        &[
            ("x-goog-api-key", "gem-direct"),
            ("content-type", "application/json"),
        ],
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"maxOutputTokens": 20000}})
        .to_string(),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("to 8193 (exclusive)"), "{}", res.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_limit_above_the_models_is_lowered_to_it() {
    let anthropic = FakeAnthropic::start().await;
    let openai = FakeOpenAi::start().await;
    let gemini = FakeGemini::start().await;
    let proxy = Proxy::start(
        &config(
            &anthropic.base_url(),
            &openai.base_url(),
            &gemini.base_url(),
        ),
        &[],
    );

    let res = request(
        "POST",
        &proxy.url("/v1/messages"),
        &[
            ("x-api-key", CLIENT_KEY),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        claude_code_body("anth/claude-3-5-haiku-20241022").to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = &anthropic.requests()[0].body;
    assert_eq!(sent["max_tokens"], 8192);
    assert_eq!(sent["thinking"]["budget_tokens"], 8191);

    // A Claude client on an OpenAI model: translated, then lowered in OpenAI's field.
    let res = request(
        "POST",
        &proxy.url("/v1/messages"),
        &[
            ("x-api-key", CLIENT_KEY),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        json!({"model": "oai/gpt-4.1-mini", "max_tokens": 64000,
            "messages": [{"role": "user", "content": "hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = &openai.requests()[0].body;
    let limit = sent
        .get("max_completion_tokens")
        .or_else(|| sent.get("max_tokens"))
        .unwrap();
    assert_eq!(limit, 32768, "{sent}");

    let res = request(
        "POST",
        &proxy.url("/v1beta/models/gem/gemini-2.0-flash:generateContent"),
        &[
            ("x-goog-api-key", CLIENT_KEY),
            ("content-type", "application/json"),
        ],
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"maxOutputTokens": 20000}})
        .to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        gemini.requests()[0].body["generationConfig"]["maxOutputTokens"],
        8192
    );

    // Within the limit, nothing changes.
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &json!({"model": "oai/gpt-4.1-mini", "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(openai.requests()[1].body["max_tokens"], 100);
}
