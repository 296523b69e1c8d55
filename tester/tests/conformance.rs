//! Conformance: the official Python SDKs (openai, anthropic, google-genai) drive the real
//! binary in every client format, against one fake provider of every provider format
//! (`tester/conformance/sdk_matrix.py` holds the matrix). Needs `$SWITCHYARD_PYTHON`, a
//! Python with the pinned SDKs; `cargo xtask ci` installs them and sets it.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::harness::{Proxy, run_with_timeout, scratch_dir};
use switchyard_tester::matrix::{Cache, PROVIDERS, Provider, RunningFake};

const CLIENT_KEY: &str = "sk-client-conformance-0001";
/// The whole matrix, a few hundred requests, takes well under a minute on loopback.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_matrix.py")
}

/// The alias a provider is served under: no slash, as Gemini clients put the model in the
/// URL path.
fn alias(provider: &Provider) -> String {
    format!("m_{}", provider.kind.replace('-', "_"))
}

/// One fake of every provider format in [`PROVIDERS`] (the subscription backends logged in
/// as their vendor's tool would be) behind one proxy.
async fn scenario(env: &[(&str, &str)]) -> (Vec<(Provider, RunningFake)>, Proxy) {
    let mut fakes = Vec::new();
    for provider in PROVIDERS {
        fakes.push((provider, RunningFake::start(provider.kind).await));
    }
    let mut config = format!("[[client_keys]]\nid = \"conformance\"\nkey = \"{CLIENT_KEY}\"\n");
    let mut aliases = String::from("\n[aliases]\n");
    for (provider, fake) in &fakes {
        let name = format!("p_{}", alias(provider));
        config.push_str(&fake.config(&name, provider.kind, provider.model));
        aliases.push_str(&format!(
            "{} = \"{name}/{}\"\n",
            alias(provider),
            provider.model
        ));
    }
    config.push_str(&aliases);
    let dir = scratch_dir("conformance");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    for (provider, fake) in &fakes {
        fake.log_in(&dir, &format!("p_{}", alias(provider)));
    }
    let proxy = Proxy::start_in(dir, &config, env);
    (fakes, proxy)
}

/// What each fake says to a plain prompt, streamed or not, and what it reports of its
/// prompt cache (or that it has none), for the script to check in every client format.
fn expectations() -> Value {
    let mut expect = serde_json::Map::new();
    for provider in PROVIDERS {
        let cache = match provider.cache {
            Cache::Reports { read, write } => json!({"read": read, "write": write}),
            Cache::NoNotion => json!("none"),
        };
        expect.insert(
            alias(&provider),
            json!({"text": [provider.reply, provider.stream_reply], "cache": cache}),
        );
    }
    Value::Object(expect)
}

/// The prompt-cache reads each alias's usage rows must record.
fn expected_cached(model: &str) -> Option<u64> {
    PROVIDERS
        .iter()
        .find(|p| alias(p) == model)
        .map(|p| match p.cache {
            Cache::Reports { read, .. } => read,
            Cache::NoNotion => 0,
        })
}

/// A usage row: `(client_format, status, provider, requested_model, cached_tokens)`.
type Row = (String, i64, Option<String>, String, i64);

fn usage_rows(proxy: &Proxy) -> Vec<Row> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT client_format, status, provider, requested_model, cached_tokens FROM usage ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Every answer's usage row records the prompt-cache reads its provider reported (none
/// where the provider has no cache notion); token counts read nothing from a cache.
fn check_cached_rows(report: &Value, rows: &[Row]) {
    for provider in PROVIDERS {
        let model = alias(&provider);
        let answered: u64 = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["provider"] == model.as_str() && c["scenario"] != "count")
            .map(|c| c["requests"].as_u64().unwrap())
            .sum();
        let cached: Vec<i64> = rows.iter().filter(|r| r.3 == model).map(|r| r.4).collect();
        match provider.cache {
            Cache::Reports { read, .. } => {
                let hits = cached.iter().filter(|&&c| c == read as i64).count() as u64;
                assert_eq!(hits, answered, "{model}: cached tokens per row {cached:?}");
                assert!(
                    cached.iter().all(|&c| c == read as i64 || c == 0),
                    "{model}: {cached:?}"
                );
            }
            Cache::NoNotion => assert!(cached.iter().all(|&c| c == 0), "{model}: {cached:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_work_in_every_client_format_against_every_provider_format() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    // SWITCHYARD_CONFORMANCE_DEBUG=1 keeps the proxy's numbered debug logs, to see what a
    // failing case sent and got at each stage.
    let debug = std::env::var_os("SWITCHYARD_CONFORMANCE_DEBUG").is_some();
    let env: &[(&str, &str)] = if debug {
        &[("SWITCHYARD_DEBUG_LOGS", "1")]
    } else {
        &[]
    };
    let (_fakes, mut proxy) = scenario(env).await;
    if debug {
        println!("debug logs: {}", proxy.logs_dir().display());
    }

    let mut cmd = Command::new(python);
    cmd.arg(script())
        .arg(format!("http://{}", proxy.addr))
        .arg(CLIENT_KEY)
        .args(PROVIDERS.iter().map(alias))
        .arg("--expect")
        .arg(expectations().to_string())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Ok(only) = std::env::var("SWITCHYARD_CONFORMANCE_ONLY") {
        cmd.arg("--only").arg(only);
    }
    // The script blocks this thread; the fakes run on the runtime's other workers.
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, SCRIPT_TIMEOUT));
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}).\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let failures: Vec<String> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .map(|c| format!("{}: {}", c["case"].as_str().unwrap(), c["error"]))
        .collect();
    // Shown by `cargo test` on failure or with --nocapture.
    for c in report["cases"].as_array().unwrap() {
        let verdict = if c["ok"] == true { "ok  " } else { "FAIL" };
        let notes = c.get("notes").map(Value::to_string).unwrap_or_default();
        println!("{verdict} {} {notes}", c["case"].as_str().unwrap());
    }
    println!(
        "conformance: {} passed, {} failed",
        report["passed"], report["failed"]
    );
    assert!(
        ok && failures.is_empty(),
        "{} of {} cases failed:\n{}\n\nstderr:\n{stderr}\n\nproxy log:\n{}",
        failures.len(),
        report["cases"].as_array().unwrap().len(),
        failures.join("\n"),
        proxy.stderr()
    );

    proxy.stop();
    let rows = usage_rows(&proxy);
    let requests = report["requests"].as_u64().unwrap() as usize;
    assert_eq!(
        rows.len(),
        requests,
        "one usage row per request the SDKs sent"
    );
    assert!(
        rows.iter()
            .all(|(_, status, _, model, _)| *status == 200 && expected_cached(model).is_some()),
        "{rows:?}"
    );
    check_cached_rows(&report, &rows);
    // Token counts are estimated locally, so those rows may name no provider; every other
    // row names the provider that answered.
    let counted: u64 = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["scenario"] == "count")
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    let without_provider = rows.iter().filter(|r| r.2.is_none()).count() as u64;
    assert!(without_provider <= counted, "{rows:?}");
    for format in ["openai", "responses", "claude", "gemini"] {
        assert!(
            rows.iter().any(|r| r.0 == format),
            "no usage row with client format {format}"
        );
    }
}
