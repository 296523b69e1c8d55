//! The first run as a new user meets it: the server says it created the config and how to
//! add a provider, a request with no provider says the same instead of "use provider/model",
//! and an account whose key variable is unset is named where the user looks (the client's
//! 503 and `switchyard accounts`), not only in the server log.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use switchyard_tester::harness::{Proxy, binary, run, scratch_dir};
use switchyard_tester::http_client::post_json;

/// A variable no environment sets, so the account that names it is skipped.
const UNSET_VAR: &str = "SWITCHYARD_FIRST_RUN_TEST_NEVER_SET";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_says_it_created_the_config_and_how_to_add_a_provider() {
    let dir = scratch_dir("first-run");
    let mut cmd = Command::new(binary());
    cmd.current_dir(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHYARD_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    let addr = line
        .as_deref()
        .ok()
        .and_then(|l| l.strip_prefix("switchyard listening on http://"))
        .map(str::to_owned);
    let answer = match &addr {
        Some(addr) => Some(
            post_json(
                &format!("http://{addr}/v1/chat/completions"),
                "any",
                &json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await,
        ),
        None => None,
    };
    let _ = child.kill();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = child.wait();
    assert!(addr.is_some(), "did not start: {line:?}\n{stderr}");
    assert!(dir.join("data/config.toml").exists());
    assert!(
        stderr.contains("created data/config.toml"),
        "the first start does not say it created the config:\n{stderr}"
    );
    assert!(
        stderr.contains("[[providers]]") && stderr.contains("OPENAI_API_KEY"),
        "the first start does not say how to add a provider:\n{stderr}"
    );
    let answer = answer.unwrap();
    assert_eq!(answer.status, 404, "{}", answer.text());
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("no providers are configured; add one to data/config.toml (see "),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_key_variable_is_unset_is_named_to_the_client_and_in_accounts() {
    let config = format!(
        r#"
[[providers]]
name = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["gpt-4o"]
[[providers.accounts]]
name = "main"
api_key_env = "{UNSET_VAR}"
"#
    );
    let proxy = Proxy::start(&config, &[]);
    let answer = post_json(
        &proxy.url("/v1/chat/completions"),
        "any",
        &json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("account `main`") && message.contains(UNSET_VAR),
        "the 503 does not name the unset variable: {message}"
    );

    let (ok, out, err) = run(&proxy.dir, &["--config", "config.toml", "accounts"]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains("main"))
        .unwrap_or_else(|| panic!("`switchyard accounts` does not list the account:\n{out}"));
    assert!(
        line.contains("key unset") && line.contains(UNSET_VAR),
        "{out}"
    );
    assert!(!out.contains("(no accounts"), "{out}");
}
