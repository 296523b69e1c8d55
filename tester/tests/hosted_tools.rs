//! Hosted tools (web search and the like, run by the provider itself) reach the providers
//! that run them, web search translated between the families that all have one, and are
//! refused with a 400 in the client's own format, naming the tool, by the proxy for a
//! provider without them, instead of silently dropped (the model would answer as if it had
//! searched).

use http::StatusCode;
use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_responses::FakeResponses;
use switchyard_tester::families::Families;
use switchyard_tester::harness::{Proxy, scratch_dir};
use switchyard_tester::http_client::{Reply, request};

const KEY: &str = "sk-client-hosted-0001";

struct Providers {
    claude: FakeAnthropic,
    gemini: FakeGemini,
    openai: FakeOpenAi,
    responses: FakeResponses,
    proxy: Proxy,
}

async fn providers(label: &str) -> Providers {
    let f = Families::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "hosted"
key = "{KEY}"
{providers}
[aliases]
m_claude = "an/claude-test"
m_google = "gm/gemini-2.5-flash"
m_openai = "oa/gpt-test"
m_responses = "or/gpt-think"
"#,
        providers = f.providers_toml(),
    );
    let dir = scratch_dir(label);
    let proxy = Proxy::start_in(dir, &config, &[]);
    Providers {
        claude: f.claude,
        gemini: f.gemini,
        openai: f.openai,
        responses: f.responses,
        proxy,
    }
}

async fn post(proxy: &Proxy, path: &str, body: &Value) -> Reply {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    headers.push(("authorization", format!("Bearer {KEY}")));
    headers.push(("x-api-key", KEY.to_owned()));
    headers.push(("x-goog-api-key", KEY.to_owned()));
    headers.push(("anthropic-version", "2023-06-01".to_owned()));
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    request("POST", &proxy.url(path), &headers, body.to_string()).await
}

fn ok(reply: &Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text());
}

fn last_tools(bodies: Vec<Value>) -> Value {
    bodies
        .last()
        .map(|b| b["tools"].clone())
        .unwrap_or(Value::Null)
}

fn function_tool_responses() -> Value {
    json!({"type": "function", "name": "lookup", "description": "d",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}})
}

fn claude_request(model: &str, tool: Value) -> Value {
    json!({"model": model, "max_tokens": 64, "tools": [tool],
        "messages": [{"role": "user", "content": "what happened today?"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_search_reaches_every_family_that_runs_it() {
    let p = providers("hosted-pass").await;
    let claude_bodies = || {
        p.claude
            .requests()
            .into_iter()
            .map(|r| r.body)
            .collect::<Vec<_>>()
    };

    // A Responses client (live search, a location) in front of Anthropic.
    let r = post(
        &p.proxy,
        "/v1/responses",
        &json!({"model": "m_claude", "input": "what happened today?", "tools": [
            function_tool_responses(),
            {"type": "web_search", "user_location": {"type": "approximate", "country": "FR"}}]}),
    )
    .await;
    ok(&r, "responses -> claude");
    let tools = last_tools(claude_bodies());
    assert!(
        tools
            .as_array()
            .unwrap()
            .contains(&json!({"type": "web_search_20250305",
            "name": "web_search", "user_location": {"type": "approximate", "country": "FR"}})),
        "{tools}"
    );

    // A Gemini client's googleSearch in front of Anthropic.
    let r = post(
        &p.proxy,
        "/v1beta/models/m_claude:generateContent",
        &json!({"contents": [{"role": "user", "parts": [{"text": "news?"}]}],
            "tools": [{"googleSearch": {}}]}),
    )
    .await;
    ok(&r, "gemini -> claude");
    assert_eq!(
        last_tools(claude_bodies()),
        json!([{"type": "web_search_20250305", "name": "web_search"}])
    );

    // Claude's server tool in front of Gemini and of a Responses provider.
    let search = json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 2,
        "allowed_domains": ["docs.rs"]});
    let r = post(
        &p.proxy,
        "/v1/messages",
        &claude_request("m_google", search.clone()),
    )
    .await;
    ok(&r, "claude -> gemini");
    let gemini_bodies: Vec<Value> = p.gemini.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(last_tools(gemini_bodies), json!([{"googleSearch": {}}]));
    let r = post(
        &p.proxy,
        "/v1/messages",
        &claude_request("m_responses", search.clone()),
    )
    .await;
    ok(&r, "claude -> responses");
    let bodies: Vec<Value> = p.responses.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(
        last_tools(bodies),
        json!([{"type": "web_search", "filters": {"allowed_domains": ["docs.rs"]}}])
    );

    // Same family: the client's tool as it was sent.
    let r = post(
        &p.proxy,
        "/v1/messages",
        &claude_request("m_claude", search.clone()),
    )
    .await;
    ok(&r, "claude -> claude");
    assert_eq!(last_tools(claude_bodies()), json!([search]));

    // The fakes refuse a tool type their provider does not have, as the real ones do.
    let r = post(
        &p.proxy,
        "/v1/messages",
        &claude_request(
            "m_claude",
            json!({"type": "web_searcher_20250305", "name": "w"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("web_searcher_20250305"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_tools_are_refused_by_name_where_the_provider_has_none() {
    let p = providers("hosted-refuse").await;

    // Responses client, chat provider: a Responses error naming the tool.
    let r = post(
        &p.proxy,
        "/v1/responses",
        &json!({"model": "m_openai", "input": "hi",
            "tools": [function_tool_responses(), {"type": "web_search_preview"}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let err = r.json();
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`web_search_preview`"),
        "{err}"
    );

    // Claude client, code execution only Anthropic runs: a Claude error.
    let r = post(
        &p.proxy,
        "/v1/messages",
        &claude_request(
            "m_google",
            json!({"type": "code_execution_20250825", "name": "code_execution"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let err = r.json();
    assert_eq!(err["type"], "error", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`code_execution_20250825`"),
        "{err}"
    );

    // Gemini client, code execution in front of Anthropic: a Gemini error.
    let r = post(
        &p.proxy,
        "/v1beta/models/m_claude:generateContent",
        &json!({"contents": [{"role": "user", "parts": [{"text": "2+2?"}]}],
            "tools": [{"codeExecution": {}}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let err = r.json();
    assert_eq!(err["error"]["status"], "INVALID_ARGUMENT", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`codeExecution`"),
        "{err}"
    );

    // Nothing reached a provider that could not have run the tool.
    assert!(p.openai.requests().is_empty());
    assert!(p.gemini.requests().is_empty());
    assert!(p.claude.requests().is_empty());

    // Codex's default cached web search cannot be honoured elsewhere and is left out: its
    // requests keep working in front of any provider.
    let r = post(
        &p.proxy,
        "/v1/responses",
        &json!({"model": "m_openai", "input": "hi", "tools": [function_tool_responses(),
            {"type": "web_search", "external_web_access": false,
             "search_content_types": ["text", "image"]}]}),
    )
    .await;
    ok(&r, "codex cached web search -> chat");
    let bodies: Vec<Value> = p.openai.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(last_tools(bodies).as_array().map(Vec::len), Some(1));
}
