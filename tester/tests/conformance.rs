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
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_cursor::FakeCursor;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_kiro::FakeKiro;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_responses::FakeResponses;
use switchyard_tester::harness::{Proxy, run_with_timeout};

const CLIENT_KEY: &str = "sk-client-conformance-0001";
/// The whole matrix, a few hundred requests, takes well under a minute on loopback.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// The provider aliases the matrix runs against: `(alias, provider, kind, model)`.
const PROVIDERS: [(&str, &str, &str, &str); 6] = [
    ("m_openai", "p_openai", "openai", "gpt-test"),
    ("m_claude", "p_claude", "claude", "claude-test"),
    (
        "m_responses",
        "p_responses",
        "openai-responses",
        "gpt-resp-test",
    ),
    ("m_gemini", "p_gemini", "gemini", "gemini-2.5-flash"),
    ("m_kiro", "p_kiro", "kiro", "claude-sonnet-4.5"),
    ("m_cursor", "p_cursor", "cursor", "cursor-test"),
];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_matrix.py")
}

fn config(base_urls: &[String; 6]) -> String {
    let mut c = format!("[[client_keys]]\nid = \"conformance\"\nkey = \"{CLIENT_KEY}\"\n");
    for ((_, provider, kind, model), url) in PROVIDERS.iter().zip(base_urls) {
        c.push_str(&format!(
            "\n[[providers]]\nname = \"{provider}\"\nkind = \"{kind}\"\nbase_url = \"{url}\"\nmodels = [\"{model}\"]\n[[providers.accounts]]\nname = \"main\"\napi_key = \"sk-upstream-{provider}-0001\"\n"
        ));
    }
    // Aliases without a slash: Gemini clients put the model in the URL path.
    c.push_str("\n[aliases]\n");
    for (alias, provider, _, model) in PROVIDERS {
        c.push_str(&format!("{alias} = \"{provider}/{model}\"\n"));
    }
    c
}

/// What each fake says to a plain prompt: fake OpenAI streams `tok0 tok1 tok2 ` and answers
/// [`switchyard_tester::fake_openai::REPLY`] otherwise; the others always say their REPLY.
fn expectations() -> Value {
    use switchyard_tester::{
        fake_anthropic, fake_cursor, fake_gemini, fake_openai, fake_responses,
    };
    // The Kiro fake says the Anthropic fake's words.
    json!({
        "m_openai": {"text": [fake_openai::REPLY, "tok0 tok1 tok2 "]},
        "m_claude": {"text": [fake_anthropic::REPLY]},
        "m_responses": {"text": [fake_responses::REPLY]},
        "m_gemini": {"text": [fake_gemini::REPLY]},
        "m_kiro": {"text": [fake_anthropic::REPLY]},
        "m_cursor": {"text": [fake_cursor::REPLY]},
    })
}

/// `(client_format, status, provider, requested_model)` of every usage row.
fn usage_rows(proxy: &Proxy) -> Vec<(String, i64, Option<String>, String)> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT client_format, status, provider, requested_model FROM usage ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_work_in_every_client_format_against_every_provider_format() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let openai = FakeOpenAi::start().await;
    let claude = FakeAnthropic::start().await;
    let responses = FakeResponses::start().await;
    let gemini = FakeGemini::start().await;
    let kiro = FakeKiro::start().await;
    let cursor = FakeCursor::start().await;
    let urls = [
        openai.base_url(),
        claude.base_url(),
        responses.base_url(),
        gemini.base_url(),
        kiro.base_url(),
        cursor.base_url(),
    ];
    // SWITCHYARD_CONFORMANCE_DEBUG=1 keeps the proxy's numbered debug logs, to see what a
    // failing case sent and got at each stage.
    let debug = std::env::var_os("SWITCHYARD_CONFORMANCE_DEBUG").is_some();
    let env: &[(&str, &str)] = if debug {
        &[("SWITCHYARD_DEBUG_LOGS", "1")]
    } else {
        &[]
    };
    let mut proxy = Proxy::start(&config(&urls), env);
    if debug {
        println!("debug logs: {}", proxy.logs_dir().display());
    }

    let mut cmd = Command::new(python);
    cmd.arg(script())
        .arg(format!("http://{}", proxy.addr))
        .arg(CLIENT_KEY)
        .args(PROVIDERS.iter().map(|p| p.0))
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
    let aliases: Vec<&str> = PROVIDERS.iter().map(|p| p.0).collect();
    assert!(
        rows.iter()
            .all(|(_, status, _, model)| *status == 200 && aliases.contains(&model.as_str())),
        "{rows:?}"
    );
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
