//! `/v1/models` (OpenAI and Anthropic shapes) and `/v1beta/models` (Gemini) carry each
//! model's context window and output limit from the catalogue, read back by the official
//! Python SDKs. Needs `$SWITCHYARD_PYTHON` (as `conformance` does); without it, the shapes
//! are checked over plain HTTP only.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::harness::{Proxy, run_with_timeout};
use switchyard_tester::http_client::request;

const CLIENT_KEY: &str = "sk-client-limits-0001";

/// No request goes upstream: listing models is answered from the config and catalogue.
fn config() -> String {
    format!(
        r#"
[[client_keys]]
id = "limits"
key = "{CLIENT_KEY}"

[[providers]]
name = "anth"
kind = "claude"
base_url = "http://127.0.0.1:9"
models = ["claude-sonnet-4-5-20250929", "claude-unlisted"]
[[providers.accounts]]
name = "a"
api_key = "sk-ant-x"

[[providers]]
name = "gem"
kind = "gemini"
base_url = "http://127.0.0.1:9"
models = ["gemini-2.0-flash", "gemini-embedding-001"]
[[providers.accounts]]
name = "a"
api_key = "g-x"

[[providers]]
name = "oai"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["gpt-4.1", "text-embedding-3-small", "tts-1", "whisper-1", "gpt-image-1"]
[[providers.accounts]]
name = "a"
api_key = "sk-x"

[aliases]
fast = "gem/gemini-2.0-flash"
voice = "oai/tts-1"

[[combos]]
name = "vectors"
targets = ["oai/text-embedding-3-small", "gem/gemini-embedding-001"]

[[combos]]
name = "mixed"
targets = ["anth/claude-sonnet-4-5-20250929", "oai/gpt-4.1"]
"#
    )
}

/// (id, context, max output) the catalogue gives; `None` for a model it does not know.
fn expected() -> Vec<(&'static str, Option<(u64, u64)>)> {
    vec![
        ("anth/claude-sonnet-4-5-20250929", Some((200_000, 64_000))),
        ("anth/claude-unlisted", None),
        ("gem/gemini-2.0-flash", Some((1_048_576, 8_192))),
        ("oai/gpt-4.1", Some((1_047_576, 32_768))),
        ("fast", Some((1_048_576, 8_192))),
        // The smallest of its targets: either may answer.
        ("mixed", Some((200_000, 32_768))),
    ]
}

const CHAT: &str = "/v1/chat/completions";
const COMPLETIONS: &str = "/v1/completions";
const EMBEDDINGS: &str = "/v1/embeddings";
const IMAGES: &str = "/v1/images/generations";

/// The endpoints each listed model serves: its provider's, narrowed by the model's family
/// where its name tells one; a combo's are its targets' together.
fn expected_endpoints() -> Vec<(&'static str, Vec<&'static str>)> {
    let openai_chat = vec![
        CHAT,
        COMPLETIONS,
        EMBEDDINGS,
        IMAGES,
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/images/edits",
    ];
    vec![
        // Anthropic's API has chat only; legacy completions go as chat.
        ("anth/claude-sonnet-4-5-20250929", vec![CHAT, COMPLETIONS]),
        (
            "gem/gemini-2.0-flash",
            vec![CHAT, COMPLETIONS, EMBEDDINGS, IMAGES],
        ),
        ("oai/gpt-4.1", openai_chat),
        ("oai/text-embedding-3-small", vec![EMBEDDINGS]),
        ("oai/tts-1", vec!["/v1/audio/speech"]),
        (
            "oai/whisper-1",
            vec!["/v1/audio/transcriptions", "/v1/audio/translations"],
        ),
        ("oai/gpt-image-1", vec![IMAGES, "/v1/images/edits"]),
        ("voice", vec!["/v1/audio/speech"]),
        ("vectors", vec![EMBEDDINGS]),
    ]
}

/// Gemini's method names for the same entries (only the models its API can list usefully).
fn expected_gemini_methods() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "gem/gemini-2.0-flash",
            vec![
                "generateContent",
                "streamGenerateContent",
                "countTokens",
                "embedContent",
                "batchEmbedContents",
                "predict",
            ],
        ),
        (
            "anth/claude-sonnet-4-5-20250929",
            vec!["generateContent", "streamGenerateContent", "countTokens"],
        ),
        ("vectors", vec!["embedContent", "batchEmbedContents"]),
        ("oai/tts-1", vec![]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_lists_carry_limits_in_each_formats_own_fields() {
    let proxy = Proxy::start(&config(), &[]);
    let auth = format!("Bearer {CLIENT_KEY}");
    let get = |path: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let url = proxy.url(path);
        let auth = auth.clone();
        async move {
            let mut headers = vec![("authorization", auth.as_str())];
            headers.extend(extra);
            request("GET", &url, &headers, "").await.json()
        }
    };
    let openai = get("/v1/models", vec![]).await;
    let claude = get("/v1/models", vec![("anthropic-version", "2023-06-01")]).await;
    let gemini = get("/v1beta/models", vec![]).await;
    for (id, limits) in expected() {
        let o = openai["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap();
        let c = claude["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap();
        let name = format!("models/{id}");
        let g = gemini["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap();
        let pair = |v: &Value, a: &str, b: &str| match (v.get(a), v.get(b)) {
            (Some(x), Some(y)) => Some((x.as_u64().unwrap(), y.as_u64().unwrap())),
            (None, None) => None,
            _ => panic!("{v}: one of {a}, {b} without the other"),
        };
        assert_eq!(
            pair(o, "context_window", "max_output_tokens"),
            limits,
            "{id}"
        );
        assert_eq!(pair(c, "max_input_tokens", "max_tokens"), limits, "{id}");
        assert_eq!(
            pair(g, "inputTokenLimit", "outputTokenLimit"),
            limits,
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdks_read_the_limits() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let proxy = Proxy::start(&config(), &[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/model_limits.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(format!("http://{}", proxy.addr))
        .arg(CLIENT_KEY)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(120)));
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let seen: Value = serde_json::from_str(&stdout).unwrap();
    for (id, limits) in expected() {
        let want = match limits {
            Some((c, m)) => json!([c, m]),
            None => json!([null, null]),
        };
        assert_eq!(seen["openai"][id], want, "openai {id}: {seen}");
        assert_eq!(seen["anthropic"][id], want, "anthropic {id}: {seen}");
        assert_eq!(
            seen["gemini"][format!("models/{id}")],
            want,
            "gemini {id}: {seen}"
        );
    }
    for (id, endpoints) in expected_endpoints() {
        assert_eq!(
            seen["openai_endpoints"][id],
            json!(endpoints),
            "openai endpoints of {id}: {seen}"
        );
        assert_eq!(
            seen["anthropic_endpoints"][id],
            json!(endpoints),
            "anthropic endpoints of {id}: {seen}"
        );
    }
    for (id, methods) in expected_gemini_methods() {
        assert_eq!(
            seen["gemini_methods"][format!("models/{id}")],
            json!(methods),
            "gemini methods of {id}: {seen}"
        );
    }
}
