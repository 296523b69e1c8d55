//! End to end: a Responses client passed through to the ChatGPT (Codex) backend, which stores
//! nothing. Whatever the client sends that only a storing API understands (a `system` input
//! item, an `item_reference`, the server ids of earlier items) is shaped so the backend takes
//! it, instead of failing the turn with its 400 or 404.

#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use serde_json::json;
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_responses::ENCRYPTED_CONTENT;
use switchyard_tester::fake_subscriptions::FakeCodex;
use switchyard_tester::harness::{Proxy, codex_login, import_login, scratch_dir};
use switchyard_tester::http_client::{post_json, request};

const CLIENT_KEY: &str = "sk-client-codex-store-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_items_references_and_item_ids_reach_a_backend_that_stores_nothing() {
    let mut cfg = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
    cfg.id_claims = json!({"email": "dev@example.com",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}});
    let oauth = FakeOAuth::start(cfg).await;
    let codex = FakeCodex::start(oauth.state.clone(), "acct-1").await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "cx"
kind = "codex"
base_url = "{base}"
models = ["gpt-5-codex"]
[providers.options]
token_url = "{token}"
client_id = "app_test"
"#,
        base = codex.base_url(),
        token = oauth.url("/token"),
    );
    let dir = scratch_dir("codex-store-false");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let (access, refresh, id_token, _) = oauth.state.issue(3600);
    import_login(
        &dir,
        "codex",
        "auth.json",
        &codex_login(&access, &refresh, &id_token),
        "a",
    );
    let mut proxy = Proxy::start_in(dir, &config, &[]);

    // A second turn as a client of the storing API writes it: a system item, the earlier
    // answer with its server ids, and a reference to an item it expects the server to keep.
    let body = json!({"model": "cx/gpt-5-codex", "stream": true, "input": [
        {"type": "message", "role": "system", "content": "You are terse."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"type": "reasoning", "id": "rs_0a1b2c", "summary": [], "encrypted_content": ENCRYPTED_CONTENT},
        {"type": "message", "id": "msg_0d1e2f", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "one", "annotations": []}]},
        {"type": "item_reference", "id": "msg_0d1e2f"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}]}
    ]});
    let res = post_json(&proxy.url("/v1/responses"), CLIENT_KEY, &body).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("response.completed"), "{}", res.text());

    let sent = codex
        .log
        .all()
        .into_iter()
        .find(|s| s.path.ends_with("/responses"))
        .unwrap();
    let input = sent.body["input"].as_array().unwrap();
    assert_eq!(input.len(), 5, "the reference is dropped: {input:?}");
    assert_eq!(input[0]["role"], "developer");
    assert_eq!(input[0]["content"], "You are terse.");
    for item in input {
        assert!(item.get("id").is_none(), "{item}");
        assert_ne!(item["type"], "item_reference");
    }
    assert_eq!(input[2]["encrypted_content"], ENCRYPTED_CONTENT);
    assert_eq!(input[3]["content"][0]["text"], "one");
    // The backend's inner API fake answered the turn.
    assert_eq!(codex.inner.requests().len(), 1);
    proxy.stop();

    // The fake backend refuses each of the three as the real one does.
    let bearer = format!("Bearer {}", oauth.state.last_access().unwrap());
    let user = json!({"type": "message", "role": "user", "content": "hi"});
    let cases = [
        (
            json!({"type": "message", "role": "system", "content": "x"}),
            400,
            "System messages are not allowed",
        ),
        (
            json!({"type": "item_reference", "id": "msg_1"}),
            404,
            "Items are not persisted",
        ),
        (
            json!({"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}),
            404,
            "Items are not persisted",
        ),
        (
            json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": ENCRYPTED_CONTENT}),
            404,
            "Items are not persisted",
        ),
    ];
    for (item, status, words) in cases {
        let body = json!({"model": "gpt-5-codex", "stream": true, "store": false,
            "instructions": "x", "input": [item, user]});
        let res = request(
            "POST",
            &format!("{}/responses", codex.base_url()),
            &[
                ("authorization", &bearer),
                ("chatgpt-account-id", "acct-1"),
                ("originator", "codex_cli_rs"),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await;
        assert_eq!(res.status, status, "{}", res.text());
        assert!(res.text().contains(words), "{}", res.text());
    }
}
