//! Aliases and combos set or removed with the CLI reach a running server within
//! `server.account_reload_ms`, with no restart, and the config file's entries keep winning.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json};

const KEY: &str = "sk-live-routes-account-01";
const CLIENT: &str = "sk-client-key-live-routes";

fn config(fake: &FakeOpenAi) -> String {
    let base = fake.base_url();
    format!(
        r#"
[server]
account_reload_ms = 200

[[client_keys]]
id = "tests"
key = "{CLIENT}"

[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a1"
api_key = "{KEY}"

[aliases]
shadow = "p/file-model"
"#
    )
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    let (ok, out, err) = run(dir, &full);
    assert!(ok, "{args:?}: {out}{err}");
    out
}

async fn ask(proxy: &Proxy, model: &str) -> Reply {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body).await
}

/// Asks for `model` until the answer has `status` (the server takes changes in on its next
/// reload turn, 200 ms here); returns that answer.
async fn until_status(proxy: &Proxy, model: &str, status: u16) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = ask(proxy, model).await;
        if reply.status.as_u16() == status {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "`{model}` never answered {status}; last {}: {}\n{}",
            reply.status,
            reply.text(),
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The model the upstream was last asked for.
fn last_upstream_model(fake: &FakeOpenAi) -> String {
    let requests = fake.requests();
    requests.last().unwrap().body["model"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_aliases_and_combos_reach_a_running_server() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    assert_eq!(ask(&proxy, "fast").await.status, 404);

    let out = cli(&proxy.dir, &["alias", "set", "fast", "p/alias-model"]);
    assert!(out.contains("within a second"), "{out}");
    until_status(&proxy, "fast", 200).await;
    assert_eq!(last_upstream_model(&fake), "alias-model");

    cli(&proxy.dir, &["alias", "remove", "fast"]);
    until_status(&proxy, "fast", 404).await;

    cli(&proxy.dir, &["combo", "set", "duo", "p/first", "p/second"]);
    until_status(&proxy, "duo", 200).await;
    assert_eq!(last_upstream_model(&fake), "first");

    // A stored entry named like a file alias (stored before the file gained it: the CLI
    // refuses such a name now) is shadowed: the file's alias still answers.
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    conn.execute(
        "INSERT INTO routes (name, kind, steps) VALUES ('shadow', 'alias', '[\"p/stored-model\"]')",
        [],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy
        .stderr()
        .contains("stored alias `shadow` is shadowed by the config file")
    {
        assert!(Instant::now() < deadline, "{}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ask(&proxy, "shadow").await.status, 200);
    assert_eq!(last_upstream_model(&fake), "file-model");
    // The combo set earlier still serves from the new table.
    assert_eq!(ask(&proxy, "duo").await.status, 200);
    assert_eq!(last_upstream_model(&fake), "first");
}
