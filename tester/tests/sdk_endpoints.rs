//! Conformance beside chat: the official openai and google-genai Python SDKs call the
//! embeddings, legacy completions and image endpoints through the real binary, each against
//! every provider format that serves them (`tester/conformance/sdk_endpoints.py` holds the
//! cases). Needs `$SWITCHYARD_PYTHON`, as `conformance.rs` does.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::{self, FakeAnthropic};
use switchyard_tester::fake_gemini::{self, FakeGemini};
use switchyard_tester::fake_openai::{self, FakeOpenAi};
use switchyard_tester::harness::{Proxy, run_with_timeout};

const KEY: &str = "sk-client-sdk-endpoints-0001";

fn config(openai: &str, gemini: &str, claude: &str) -> String {
    format!(
        r#"
[[client_keys]]
id = "sdk"
key = "{KEY}"

[[providers]]
name = "p_openai"
kind = "openai"
base_url = "{openai}"
models = ["text-embedding-3-small", "gpt-test", "gpt-image-1", "tts-1", "whisper-1"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-openai-0001"

[[providers]]
name = "p_gemini"
kind = "gemini"
base_url = "{gemini}"
models = ["gemini-embedding-001", "gemini-2.5-flash", "imagen-4.0-generate-001"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-gemini-0001"

[[providers]]
name = "p_claude"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"

[aliases]
e_openai = "p_openai/text-embedding-3-small"
# No "gemini" in the name: google-genai takes such a model for a multimodal one and
# sends its contents as the parts of one item.
e_google = "p_gemini/gemini-embedding-001"
m_openai = "p_openai/gpt-test"
m_claude = "p_claude/claude-test"
m_gemini = "p_gemini/gemini-2.5-flash"
i_openai = "p_openai/gpt-image-1"
i_imagen = "p_gemini/imagen-4.0-generate-001"
s_openai = "p_openai/tts-1"
t_openai = "p_openai/whisper-1"

# A combo skips the targets that cannot serve an endpoint: Gemini has no speech.
[[combos]]
name = "s_combo"
targets = ["p_gemini/gemini-2.5-flash", "p_openai/tts-1"]
"#
    )
}

/// `(endpoint, status)` of every usage row.
fn rows(proxy: &Proxy) -> Vec<(String, i64)> {
    units(proxy).into_iter().map(|r| (r.0, r.1)).collect()
}

/// `(endpoint, status, characters, audio_seconds, images, upstream_model)` of every row.
fn units(proxy: &Proxy) -> Vec<(String, i64, i64, f64, i64, String)> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT endpoint, status, characters, audio_seconds, images, upstream_model
             FROM usage ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_call_embeddings_completions_and_images_on_every_provider_format() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let openai = FakeOpenAi::start().await;
    let gemini = FakeGemini::start().await;
    let claude = FakeAnthropic::start().await;
    let mut proxy = Proxy::start(
        &config(&openai.base_url(), &gemini.base_url(), &claude.base_url()),
        &[],
    );
    let spec = json!({
        "embeddings": ["e_openai", "e_google"],
        "completions": {
            "m_openai": [fake_openai::REPLY, "tok0 tok1 tok2 "],
            "m_claude": [fake_anthropic::REPLY],
            "m_gemini": [fake_gemini::REPLY],
        },
        "images": ["i_openai", "i_imagen"],
        "speech": ["s_openai", "s_combo"],
        "speech_repeat": fake_openai::media::SPEECH_REPEAT,
        "transcriptions": ["t_openai"],
        "image_edits": ["i_openai"],
    });
    let mut cmd = Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_endpoints.py"))
        .arg(format!("http://{}", proxy.addr))
        .arg(KEY)
        .arg("--spec")
        .arg(spec.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(300)));
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}).\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let cases = report["cases"].as_array().unwrap();
    for c in cases {
        let verdict = if c["ok"] == true { "ok  " } else { "FAIL" };
        println!(
            "{verdict} {} {}",
            c["case"],
            c.get("error").unwrap_or(&Value::Null)
        );
    }
    let failed: Vec<&Value> = cases.iter().filter(|c| c["ok"] != true).collect();
    assert!(
        ok && failed.is_empty(),
        "{} of {} cases failed: {failed:#?}\nstderr:\n{stderr}\nproxy log:\n{}",
        failed.len(),
        cases.len(),
        proxy.stderr()
    );
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(
        rows.len() as u64,
        report["requests"].as_u64().unwrap(),
        "one usage row per request the SDKs sent"
    );
    assert!(rows.iter().all(|r| r.1 == 200), "{rows:?}");
    for endpoint in [
        "embeddings",
        "completions",
        "images",
        "speech",
        "transcriptions",
        "translations",
        "image_edits",
    ] {
        assert!(
            rows.iter().any(|r| r.0 == endpoint),
            "no {endpoint} row: {rows:?}"
        );
    }
    // Each audio row counts its own unit: the characters spoken (the SDK test's input), the
    // seconds heard (reported by verbose_json, else read from the WAV header: 1.5 s both ways).
    for (endpoint, _, characters, seconds, images, upstream) in units(&proxy) {
        match endpoint.as_str() {
            "speech" => {
                assert_eq!(characters, "hello there, switchyard".len() as i64);
                assert_eq!(upstream, "tts-1", "the combo's Gemini target is skipped");
            }
            "transcriptions" | "translations" => {
                assert!((seconds - 1.5).abs() < 1e-9, "{endpoint}: {seconds} s");
            }
            "image_edits" => assert_eq!(images, 2),
            _ => {}
        }
    }
    let sent: Vec<_> = openai
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/audio/"))
        .map(|r| r.body["model"].clone())
        .collect();
    assert!(
        sent.iter().all(|m| m == "tts-1" || m == "whisper-1"),
        "the upstream got its own model names: {sent:?}"
    );
}
