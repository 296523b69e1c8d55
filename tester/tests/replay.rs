//! `switchyard replay`: requests recorded by the debug logger (a chat client in front of
//! Anthropic, streamed and not, and a Responses client streamed) replay offline with no
//! difference; an altered recording is reported with the path that changed and exit code 1;
//! `--save-fixture` copies the folder into a golden directory that replays clean.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::harness::{Proxy, run, scratch_dir};
use switchyard_tester::http_client::request;

const KEY: &str = "sk-client-replay-0001";

async fn post(proxy: &Proxy, path: &str, body: &Value) {
    let reply = request(
        "POST",
        &proxy.url(path),
        &[
            ("authorization", &format!("Bearer {KEY}")),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn folders(logs: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

/// Three requests through a proxy with debug logs on: their folders, oldest first.
async fn record(dir: &Path) -> Vec<PathBuf> {
    let claude = FakeAnthropic::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "replay"
key = "{KEY}"

[debug_logs]
enabled = true

[[providers]]
name = "an"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"
"#,
        claude = claude.base_url(),
    );
    let mut proxy = Proxy::start_in(dir.to_path_buf(), &config, &[]);
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    post(
        &proxy,
        "/v1/chat/completions",
        &json!({"model": "an/claude-test", "messages": [{"role": "user", "content": "hello"}],
            "tools": tools}),
    )
    .await;
    post(
        &proxy,
        "/v1/chat/completions",
        &json!({"model": "an/claude-test", "stream": true,
            "stream_options": {"include_usage": true}, "reasoning_effort": "low",
            "messages": [{"role": "user", "content": "hello again"}]}),
    )
    .await;
    post(
        &proxy,
        "/v1/responses",
        &json!({"model": "an/claude-test", "stream": true, "input": "and once more"}),
    )
    .await;
    // Stopping the server flushes the debug writer.
    proxy.stop();
    let recorded = folders(&proxy.logs_dir());
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    recorded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_requests_replay_and_changes_are_reported() {
    let dir = scratch_dir("replay");
    let recorded = record(&dir).await;
    for folder in &recorded {
        let (ok, out, err) = run(&dir, &["replay", folder.to_str().unwrap()]);
        assert!(ok, "{}:\n{out}\n{err}", folder.display());
        assert!(out.contains("reproduce the recording"), "{out}");
        assert!(
            out.contains("6_res_client"),
            "the client response was compared: {out}"
        );
    }

    // A recording today's translators do not reproduce: the path is named, exit code 1.
    let altered = recorded[0].clone();
    let hub_file = altered.join("2_req_hub.json");
    let mut hub: Value = serde_json::from_slice(&std::fs::read(&hub_file).unwrap()).unwrap();
    hub["messages"][0]["content"] = json!("hello, altered");
    std::fs::write(&hub_file, serde_json::to_vec_pretty(&hub).unwrap()).unwrap();
    let (ok, out, err) = run(&dir, &["replay", altered.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("2_req_hub.json: DIFFERS"), "{out}");
    assert!(
        out.contains("/messages/0/content: recorded \"hello, altered\", now \"hello\""),
        "{out}"
    );
    assert!(err.contains("differ from the recording"), "{err}");

    // Saved as a golden case (only once it replays clean).
    let fixtures = dir.join("golden");
    let (ok, out, err) = run(
        &dir,
        &[
            "replay",
            recorded[1].to_str().unwrap(),
            "--save-fixture",
            "chat-claude-stream",
            "--fixtures",
            fixtures.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}\n{err}");
    let saved = fixtures
        .join("chat-claude-stream")
        .join(recorded[1].file_name().unwrap());
    for file in [
        "1_req_client.json",
        "2_req_hub.json",
        "4_res_provider.sse",
        "6_res_client.sse",
    ] {
        assert!(
            saved.join(file).exists(),
            "{file} not saved in {}",
            saved.display()
        );
    }
    let (ok, out, _) = run(&dir, &["replay", saved.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, _, err) = run(
        &dir,
        &[
            "replay",
            altered.to_str().unwrap(),
            "--save-fixture",
            "broken",
            "--fixtures",
            fixtures.to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("differ"), "{err}");
    assert!(!fixtures.join("broken").exists());
}
