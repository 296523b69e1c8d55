//! Live reconfiguration: a config file change reaches a running server within a second
//! (an invalid one is refused and the configuration in force keeps serving), a CLI change
//! within a second, and swapping configurations under load drops or misroutes nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json};

const CLIENT: &str = "sk-client-key-live-config";
const CLI_CHANGES: usize = 40;

/// The tests here measure how soon a change applies: they run one at a time, so one's load
/// does not slow the other's clock.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The file: provider `a` with the aliases and combo every request uses, plus `extra`
/// (providers, aliases, combos that come and go).
fn config(a: &FakeOpenAi, extra: &str) -> String {
    let base = a.base_url();
    format!(
        r#"
[server]
account_reload_ms = 60000

[[client_keys]]
id = "tests"
key = "{CLIENT}"

[[providers]]
name = "a"
base_url = "{base}"
[[providers.accounts]]
name = "a1"
api_key = "sk-live-config-a-0001"
{extra}
[aliases]
stable = "a/m"

[[combos]]
name = "pair"
targets = ["a/first", "a/second"]
"#
    )
}

/// Provider `name` on `fake`, with `accounts` accounts.
fn provider(name: &str, fake: &FakeOpenAi, accounts: usize) -> String {
    let mut s = format!(
        "\n[[providers]]\nname = \"{name}\"\nbase_url = \"{}\"\nmodels = [\"m\"]\n",
        fake.base_url()
    );
    for i in 0..accounts {
        s += &format!(
            "[[providers.accounts]]\nname = \"{name}{i}\"\napi_key = \"sk-live-config-{name}-{i:04}\"\n"
        );
    }
    s
}

/// Replaces the config file the way editors do (a new file renamed over the old).
fn write_config(dir: &Path, text: &str) {
    let tmp = dir.join(".config.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("config.toml")).unwrap();
}

async fn ask(proxy: &Proxy, model: &str, marker: &str, stream: bool) -> Reply {
    let body = json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": marker}],
    });
    post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body).await
}

/// Asks for `model` until it answers `status`; returns how long that took.
async fn until_status(proxy: &Proxy, model: &str, status: u16) -> Duration {
    let start = Instant::now();
    loop {
        let reply = ask(proxy, model, "hi", false).await;
        if reply.status.as_u16() == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "`{model}` never answered {status}; last {}: {}\n{}",
            reply.status,
            reply.text(),
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cli(dir: &Path, args: &[&str]) {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    let (ok, out, err) = run(dir, &full);
    assert!(ok, "{args:?}: {out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_and_cli_changes_apply_within_a_second() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let a = FakeOpenAi::start().await;
    let b = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&a, ""), &[]);
    assert_eq!(ask(&proxy, "b/m", "hi", false).await.status, 404);

    write_config(&proxy.dir, &config(&a, &provider("b", &b, 1)));
    let took = until_status(&proxy, "b/m", 200).await;
    assert!(took < Duration::from_secs(1), "file change took {took:?}");
    assert!(b.requests().iter().any(|r| r.body["model"] == "m"));

    // An invalid file is refused: the error is logged (without the key on its line) and
    // `b` keeps serving.
    let broken = config(&a, &provider("b", &b, 1)).replace(
        "api_key = \"sk-live-config-b-0000\"",
        "api_key = \"sk-live-config-b-0000\"\nbogus_key = \"sk-secret-on-a-bad-line\"",
    );
    write_config(&proxy.dir, &broken);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy.stderr().contains("config file change refused") {
        assert!(Instant::now() < deadline, "{}", proxy.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(proxy.stderr().contains("bogus_key"), "{}", proxy.stderr());
    assert!(
        !proxy.stderr().contains("sk-secret-on-a-bad-line"),
        "{}",
        proxy.stderr()
    );
    assert_eq!(ask(&proxy, "b/m", "hi", false).await.status, 200);

    // Removing `b` from the file takes it away.
    write_config(&proxy.dir, &config(&a, ""));
    until_status(&proxy, "b/m", 404).await;

    // A CLI change is seen within a second (the full reload interval here is a minute).
    cli(&proxy.dir, &["alias", "set", "quick", "a/quick-model"]);
    let took = until_status(&proxy, "quick", 200).await;
    assert!(took < Duration::from_secs(1), "CLI change took {took:?}");
}

/// 5,000 requests (half streamed) while 200 changes are made: file edits adding and removing
/// providers, aliases and combos (every tenth file invalid) and CLI alias and combo changes.
/// Every request names a target the changes never remove, and carries a marker: each must
/// succeed and reach provider `a`'s upstream, never another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_changes_under_load_fail_and_misroute_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let a = FakeOpenAi::start().await;
    let b = FakeOpenAi::start().await;
    let c = FakeOpenAi::start().await;
    let proxy = Arc::new(Proxy::start(&config(&a, ""), &[]));
    const REQUESTS: usize = 5_000;
    const FILE_CHANGES: usize = 160;

    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let changing = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (proxy, next, failures, changing) = (
            proxy.clone(),
            next.clone(),
            failures.clone(),
            changing.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                // Keep going while changes are still being made, so all of them land under load.
                if i >= REQUESTS && !changing.load(Ordering::Relaxed) {
                    break;
                }
                let model = ["a/m", "stable", "pair"][i % 3];
                let stream = i % 2 == 0;
                let reply = ask(&proxy, model, &format!("req-{i}"), stream).await;
                let text = reply.text();
                let whole = if stream {
                    text.contains("[DONE]")
                } else {
                    text.contains("\"choices\"")
                };
                if reply.status != 200 || !whole {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("req-{i} {model}: {} {text}", reply.status));
                }
            }
        }));
    }

    let dir = proxy.dir.clone();
    let cli_task = tokio::task::spawn_blocking(move || cli_changes(&dir));
    for i in 0..FILE_CHANGES {
        let mut extra = String::new();
        if i % 2 == 0 {
            extra += &provider("b", &b, 1 + i % 3);
        }
        if i % 3 == 0 {
            extra += &provider("c", &c, 1);
        }
        let mut text = config(&a, &extra);
        if i % 2 == 0 {
            let aliases = format!("[aliases]\nflip = \"b/m\"\nextra{i} = \"a/m\"\n");
            text = text.replace("[aliases]\n", &aliases);
        }
        if i % 3 == 0 {
            text += "[[combos]]\nname = \"spare\"\ntargets = [\"c/m\", \"a/m\"]\n";
        }
        let invalid = i % 10 == 5;
        if invalid {
            text += "[server\nbroken = ";
        }
        write_config(&proxy.dir, &text);
        // An invalid file stays long enough to be read (the server reads a file rewritten
        // without pause at least every 300 ms), so its refusal is seen.
        let hold = if invalid { 450 } else { 60 };
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    cli_task.await.unwrap();
    changing.store(false, Ordering::Relaxed);
    for t in clients {
        t.await.unwrap();
    }

    let failures = std::mem::take(&mut *failures.lock().unwrap());
    assert!(
        failures.is_empty(),
        "{} failed, first: {:?}\n{}",
        failures.len(),
        failures.first(),
        proxy.stderr()
    );
    // Each client's last turn sent nothing.
    let sent = next.load(Ordering::Relaxed) - 16;
    assert!(sent >= REQUESTS, "{sent} requests");
    let markers = |fake: &FakeOpenAi| -> HashSet<String> {
        fake.requests()
            .iter()
            .filter_map(|r| r.body["messages"][0]["content"].as_str().map(str::to_owned))
            .filter(|m| m.starts_with("req-"))
            .collect()
    };
    let at_a = markers(&a);
    assert!(
        markers(&b).is_empty() && markers(&c).is_empty(),
        "misrouted requests"
    );
    assert_eq!(at_a.len(), sent, "requests that reached a");
    // The changes were taken in: the file's last provider set and a CLI alias serve.
    assert!(proxy.stderr().contains("config file change refused"));
    assert!(proxy.stderr().contains("config file change taken in"));
    assert_eq!(ask(&proxy, "cli0", "hi", false).await.status, 200);
}

/// `CLI_CHANGES` alias and combo changes through the CLI, as a user makes them.
fn cli_changes(dir: &Path) {
    for i in 0..CLI_CHANGES {
        let name = format!("cli{i}");
        let args: Vec<&str> = if i % 2 == 0 {
            vec!["alias", "set", &name, "a/cli-model"]
        } else {
            vec!["combo", "set", &name, "a/x", "a/y"]
        };
        // The CLI reads the config file too: while an invalid one is in place it
        // refuses, as it should; the next try finds a valid one.
        // An invalid file stays up to 450 ms, so tries are bounded by time, not count.
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut full = vec!["--config", "config.toml"];
            full.extend_from_slice(&args);
            let (ok, out, err) = run(dir, &full);
            if ok {
                break;
            }
            assert!(std::time::Instant::now() < give_up, "{args:?}: {out}{err}");
            #[expect(
                clippy::disallowed_methods,
                reason = "a blocking thread of its own (spawn_blocking) pausing between CLI runs"
            )]
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
