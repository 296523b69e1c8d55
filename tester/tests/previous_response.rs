//! `previous_response_id` through providers that store nothing, with the official openai
//! Python SDK: `responses.create(previous_response_id=...)` continues a conversation whether
//! the target is an OpenAI chat completions provider or the ChatGPT (Codex) backend, because
//! Switchyard keeps what it answered and expands the id into the earlier turns; an id it
//! does not know is the SDK's `BadRequestError` with `previous_response_not_found`. And
//! `service_tier` reaches the ChatGPT backend when it is a tier the backend serves. Needs
//! `$SWITCHYARD_PYTHON`, as `conformance.rs` does.

#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_subscriptions::FakeCodex;
use switchyard_tester::harness::{Proxy, codex_login, import_login, run_with_timeout, scratch_dir};
use switchyard_tester::http_client::{Reply, post_json, sse_data};

const KEY: &str = "sk-client-previous-resp-01";

/// Two turns per model, the second naming the first's id; an unknown id; a `service_tier`.
const SCRIPT: &str = r#"
import json, sys
import openai
base, key, models = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client = openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0)
out = {}
for model in models:
    case = {}
    first = client.responses.create(model=model, input="remember the word tangerine")
    case["first_id"] = first.id
    second = client.responses.create(
        model=model, input="which word?", previous_response_id=first.id)
    case["second_text"] = second.output_text
    third = client.responses.create(
        model=model, input="once more", previous_response_id=second.id, stream=True)
    case["third_events"] = [e.type for e in third]
    try:
        client.responses.create(model=model, input="x", previous_response_id="resp_unknown_1")
        case["unknown"] = "no error"
    except openai.BadRequestError as e:
        case["unknown"] = {"status": e.status_code, "code": e.code, "message": str(e)}
    tiered = client.responses.create(model=model, input="quickly", service_tier="priority")
    case["tiered"] = tiered.output_text
    out[model] = case
print(json.dumps(out))
"#;

fn user_texts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|i| i["role"] == "user")
        .map(|i| i["content"].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_response_id_continues_through_chat_and_codex_providers() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let chat = FakeOpenAi::start().await;
    let mut cfg = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
    cfg.id_claims = json!({"email": "dev@example.com",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}});
    let oauth = FakeOAuth::start(cfg).await;
    let codex = FakeCodex::start(oauth.state.clone(), "acct-1").await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{KEY}"

[[providers]]
name = "chat"
base_url = "{chat}"
models = ["m"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-prev-0001"

[[providers]]
name = "cx"
kind = "codex"
base_url = "{codex}"
models = ["gpt-5-codex"]
[providers.options]
token_url = "{token}"
client_id = "app_test"
"#,
        chat = chat.base_url(),
        codex = codex.base_url(),
        token = oauth.url("/token"),
    );
    let dir = scratch_dir("previous-response");
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

    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg(format!("http://{}", proxy.addr))
        .arg(KEY)
        .arg(json!(["chat/m", "cx/gpt-5-codex"]).to_string())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(120)));
    assert!(
        ok,
        "the SDK failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nproxy:\n{}",
        proxy.stderr()
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    for model in ["chat/m", "cx/gpt-5-codex"] {
        let case = &report[model];
        assert!(
            !case["second_text"].as_str().unwrap().is_empty(),
            "{model}: {case}"
        );
        let events = case["third_events"].as_array().unwrap();
        assert_eq!(
            events.last().unwrap(),
            "response.completed",
            "{model}: {case}"
        );
        assert_eq!(case["unknown"]["status"], 400, "{model}: {case}");
        assert_eq!(
            case["unknown"]["code"], "previous_response_not_found",
            "{model}: {case}"
        );
    }

    // The chat provider got the earlier turns as messages: turn two holds turn one's
    // question and answer, turn three both before it.
    let chat_bodies: Vec<Value> = chat.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(chat_bodies.len(), 4, "the unknown id never went upstream");
    let turn = |b: &Value| -> Vec<String> {
        b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(turn(&chat_bodies[1]), ["user", "assistant", "user"]);
    assert_eq!(
        turn(&chat_bodies[2]),
        ["user", "assistant", "user", "assistant", "user"]
    );
    assert!(chat_bodies[1].to_string().contains("tangerine"));
    assert_eq!(chat_bodies[3]["service_tier"], "priority");

    // The ChatGPT backend (which stores nothing and is never sent the id) got them as items.
    let codex_bodies: Vec<Value> = codex
        .log
        .all()
        .into_iter()
        .filter(|s| s.path.ends_with("/responses"))
        .map(|s| s.body)
        .collect();
    assert_eq!(codex_bodies.len(), 4, "the unknown id never went upstream");
    for b in &codex_bodies {
        assert!(b.get("previous_response_id").is_none(), "{b}");
    }
    let second = codex_bodies[1]["input"].as_array().unwrap();
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(second[1]["role"], "assistant");
    let users = user_texts(second);
    assert!(users[0].contains("tangerine") && users[1].contains("which word"));
    assert_eq!(
        user_texts(codex_bodies[2]["input"].as_array().unwrap()).len(),
        3
    );
    // Codex's fast mode: the backend serves `priority`, so it is no longer taken out.
    assert_eq!(codex_bodies[3]["service_tier"], "priority");
    proxy.stop();
}

/// A chat upstream that answers every request with the same id (`chatcmpl-fake1`, as some
/// compatible servers do) must not let two conversations share a Responses id: the second
/// turn of each, naming its own first answer, reaches the provider with its own history only.
/// One conversation streams, the other does not, so both translators are held to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conversations_through_a_chat_provider_never_share_an_id_or_a_history() {
    let chat = FakeOpenAi::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{KEY}"

[[providers]]
name = "chat"
base_url = "{chat}"
models = ["m"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-prev-0002"
"#,
        chat = chat.base_url(),
    );
    let mut proxy = Proxy::start(&config, &[]);
    let url = proxy.url("/v1/responses");
    let turn = |input: &str, previous: Option<&str>, stream: bool| {
        let mut body = json!({"model": "chat/m", "input": input, "stream": stream});
        if let Some(id) = previous {
            body["previous_response_id"] = json!(id);
        }
        body
    };
    // The id of a whole answer, or of a streamed one's `response.completed`.
    let id_of = |reply: &Reply, stream: bool| -> String {
        assert_eq!(reply.status, 200, "{}", reply.text());
        let response = if stream {
            let completed = sse_data(&reply.text())
                .into_iter()
                .map(|d| serde_json::from_str::<Value>(&d).unwrap())
                .find(|e| e["type"] == "response.completed")
                .unwrap_or_else(|| panic!("no response.completed: {}", reply.text()));
            completed["response"].clone()
        } else {
            reply.json()
        };
        response["id"].as_str().unwrap().to_owned()
    };

    let a1 = id_of(
        &post_json(&url, KEY, &turn("apple one", None, false)).await,
        false,
    );
    let b1 = id_of(
        &post_json(&url, KEY, &turn("banana one", None, true)).await,
        true,
    );
    assert_ne!(a1, b1, "two answers, one id");
    let a2 = id_of(
        &post_json(&url, KEY, &turn("apple two", Some(&a1), true)).await,
        true,
    );
    let b2 = id_of(
        &post_json(&url, KEY, &turn("banana two", Some(&b1), false)).await,
        false,
    );
    let ids = [&a1, &b1, &a2, &b2];
    for (i, id) in ids.iter().enumerate() {
        assert!(!ids[i + 1..].contains(id), "{id} answered twice: {ids:?}");
    }

    let bodies: Vec<String> = chat
        .requests()
        .into_iter()
        .map(|r| r.body["messages"].to_string())
        .collect();
    assert_eq!(bodies.len(), 4);
    assert!(bodies[2].contains("apple one") && bodies[2].contains("apple two"));
    assert!(
        !bodies[2].contains("banana"),
        "A's turn got B's history: {}",
        bodies[2]
    );
    assert!(bodies[3].contains("banana one") && bodies[3].contains("banana two"));
    assert!(
        !bodies[3].contains("apple"),
        "B's turn got A's history: {}",
        bodies[3]
    );
    proxy.stop();
}
