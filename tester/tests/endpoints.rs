//! End to end: the endpoints beside chat (embeddings, legacy completions, image generation)
//! in each client format against each provider format that serves them, through the real
//! binary and the strict fakes; the usage row each leaves (its endpoint and units) and its
//! debug log; and the 400 for a model whose provider has no such endpoint.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use base64::Engine;
use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{Reply, request, sse_data};

const KEY: &str = "sk-client-endpoints-0001";

struct Fakes {
    openai: FakeOpenAi,
    gemini: FakeGemini,
    claude: FakeAnthropic,
}

async fn setup() -> (Fakes, Proxy) {
    let fakes = Fakes {
        openai: FakeOpenAi::start().await,
        gemini: FakeGemini::start().await,
        claude: FakeAnthropic::start().await,
    };
    let config = format!(
        r#"
[[client_keys]]
id = "t"
key = "{KEY}"

[[providers]]
name = "p_openai"
kind = "openai"
base_url = "{}"
models = ["text-embedding-3-small", "gpt-test", "gpt-image-1"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-openai-0001"

[[providers]]
name = "p_gemini"
kind = "gemini"
base_url = "{}"
models = ["gemini-embedding-001", "gemini-2.5-flash", "imagen-4.0-generate-001"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-gemini-0001"

[[providers]]
name = "p_claude"
kind = "claude"
base_url = "{}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"

[aliases]
e_openai = "p_openai/text-embedding-3-small"
e_gemini = "p_gemini/gemini-embedding-001"
m_claude = "p_claude/claude-test"
m_gemini = "p_gemini/gemini-2.5-flash"
m_openai = "p_openai/gpt-test"
i_openai = "p_openai/gpt-image-1"
i_imagen = "p_gemini/imagen-4.0-generate-001"

[[combos]]
name = "claude_then_gemini"
targets = ["p_claude/claude-test", "p_gemini/gemini-embedding-001"]
"#,
        fakes.openai.base_url(),
        fakes.gemini.base_url(),
        fakes.claude.base_url(),
    );
    let proxy = Proxy::start(&config, &[("SWITCHYARD_DEBUG_LOGS", "1")]);
    (fakes, proxy)
}

async fn post(proxy: &Proxy, path: &str, body: &Value) -> Reply {
    let auth = format!("Bearer {KEY}");
    request(
        "POST",
        &proxy.url(path),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

/// `(endpoint, status, provider, prompt_tokens, completion_tokens, images)` of every row.
type Row = (String, i64, Option<String>, i64, i64, i64);

fn rows(proxy: &Proxy) -> Vec<Row> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT endpoint, status, provider, prompt_tokens, completion_tokens, images FROM usage ORDER BY id")
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

/// The floats of an OpenAI embedding, decoding base64 when that is what came.
fn floats(embedding: &Value) -> Vec<f32> {
    match embedding {
        Value::Array(v) => v.iter().map(|f| f.as_f64().unwrap() as f32).collect(),
        Value::String(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        other => panic!("not an embedding: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_embeddings_are_served_by_openai_and_gemini_providers() {
    let (fakes, mut proxy) = setup().await;
    for model in ["e_openai", "e_gemini"] {
        for format in ["float", "base64"] {
            let res = post(
                &proxy,
                "/v1/embeddings",
                &json!({"model": model, "input": ["hello", "hi"], "encoding_format": format, "dimensions": 4}),
            )
            .await;
            assert_eq!(res.status, 200, "{model} {format}: {}", res.text());
            let v = res.json();
            assert_eq!(v["object"], "list");
            let data = v["data"].as_array().unwrap();
            assert_eq!(data.len(), 2);
            if format == "base64" {
                assert!(data[0]["embedding"].is_string(), "{model}: {v}");
            }
            // The fakes' first value is the text's length: order and content survived.
            let first = floats(&data[0]["embedding"]);
            let second = floats(&data[1]["embedding"]);
            assert_eq!((first.len(), first[0], second[0]), (4, 5.0, 2.0), "{model}");
            assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
        }
        // One string in, one embedding out.
        let res = post(
            &proxy,
            "/v1/embeddings",
            &json!({"model": model, "input": "abc"}),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(floats(&res.json()["data"][0]["embedding"])[0], 3.0);
    }
    // What reached Gemini: one batch naming the real model in every item.
    let sent = fakes.gemini.requests();
    let batch = sent
        .iter()
        .find(|r| r.path.ends_with(":batchEmbedContents"))
        .unwrap();
    assert_eq!(
        batch.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        batch.body["requests"][0]["model"],
        "models/gemini-embedding-001"
    );
    assert_eq!(batch.body["requests"][0]["outputDimensionality"], 4);
    // What reached OpenAI: the client's body with the real model.
    let sent = fakes.openai.requests();
    assert_eq!(sent[0].path, "/v1/embeddings");
    assert_eq!(sent[0].body["model"], "text-embedding-3-small");
    assert_eq!(sent[0].body["encoding_format"], "float");

    // Bad input gets the client's error, and the fake's own refusal passes through.
    let res = post(&proxy, "/v1/embeddings", &json!({"model": "e_openai"})).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(res.text().contains("input"), "{}", res.text());
    let res = post(
        &proxy,
        "/v1/embeddings",
        &json!({"model": "e_gemini", "input": [[1, 2, 3]]}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(res.text().contains("token ids"), "{}", res.text());

    proxy.stop();
    let rows = rows(&proxy);
    let ok: Vec<&Row> = rows.iter().filter(|r| r.1 == 200).collect();
    assert_eq!(ok.len(), 6, "{rows:?}");
    assert!(
        ok.iter()
            .all(|r| r.0 == "embeddings" && r.3 > 0 && r.4 == 0),
        "{rows:?}"
    );
    // Every request left a debug log named for its provider format.
    let logs: Vec<String> = std::fs::read_dir(proxy.logs_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("gemini-embedding-001")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("text-embedding-3-small")),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_embed_routes_are_served_by_gemini_and_openai_providers() {
    let (fakes, mut proxy) = setup().await;
    for model in ["e_gemini", "e_openai"] {
        let res = post(
            &proxy,
            &format!("/v1beta/models/{model}:batchEmbedContents"),
            &json!({"requests": [
                {"model": format!("models/{model}"), "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 3},
                {"model": format!("models/{model}"), "content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 3}]}),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let v = res.json();
        let e = v["embeddings"].as_array().unwrap();
        assert_eq!(e.len(), 2, "{v}");
        assert_eq!(e[0]["values"].as_array().unwrap().len(), 3, "{v}");
        assert_eq!(
            (e[0]["values"][0].as_f64(), e[1]["values"][0].as_f64()),
            (Some(5.0), Some(2.0))
        );

        let res = post(
            &proxy,
            &format!("/v1beta/models/{model}:embedContent"),
            &json!({"content": {"parts": [{"text": "four"}]}, "taskType": "RETRIEVAL_QUERY"}),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        assert_eq!(res.json()["embedding"]["values"][0], 4.0, "{model}");
    }
    // Passthrough to Gemini with the alias replaced by the real model in every item.
    let sent = fakes.gemini.requests();
    assert!(
        sent.iter()
            .all(|r| !r.body.to_string().contains("e_gemini")),
        "{sent:?}"
    );
    // Translated for OpenAI: one request with both texts and the dimensions.
    let sent = fakes.openai.requests();
    assert_eq!(sent[0].body["input"], json!(["hello", "hi"]));
    assert_eq!(sent[0].body["dimensions"], 3);
    assert_eq!(sent[1].body["input"], "four");

    // A Gemini client's bad body gets a Gemini error.
    let res = post(
        &proxy,
        "/v1beta/models/e_gemini:batchEmbedContents",
        &json!({"requests": "nope"}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert_eq!(res.json()["error"]["status"], "INVALID_ARGUMENT");
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(
        rows.iter()
            .filter(|r| r.1 == 200 && r.0 == "embeddings")
            .count(),
        4,
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_the_endpoint_is_refused_naming_model_and_endpoint() {
    let (fakes, mut proxy) = setup().await;
    let res = post(
        &proxy,
        "/v1/embeddings",
        &json!({"model": "m_claude", "input": "x"}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    let v = res.json();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("m_claude") && message.contains("/v1/embeddings"),
        "{message}"
    );
    assert_eq!(v["error"]["code"], "unsupported_endpoint");
    // A Gemini client asking the same gets the refusal in its own shape.
    let res = post(
        &proxy,
        "/v1beta/models/m_claude:embedContent",
        &json!({"content": {"parts": [{"text": "x"}]}}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    let v = res.json();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(":embedContent"),
        "{v}"
    );
    // In a combo, a target that cannot serve is passed over for one that can.
    let res = post(
        &proxy,
        "/v1/embeddings",
        &json!({"model": "claude_then_gemini", "input": "abc"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(fakes.claude.requests().is_empty(), "nothing went to claude");
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows.iter().filter(|r| r.1 == 400).count(), 2, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_completions_pass_through_or_go_as_chat_streamed_and_not() {
    let (fakes, mut proxy) = setup().await;
    for model in ["m_openai", "m_claude", "m_gemini"] {
        let res = post(
            &proxy,
            "/v1/completions",
            &json!({"model": model, "prompt": "say hi", "max_tokens": 50}),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let v = res.json();
        assert_eq!(v["object"], "text_completion", "{v}");
        let text = v["choices"][0]["text"].as_str().unwrap();
        assert!(text.contains("Hello"), "{model}: {v}");
        assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{v}");

        let res = post(
            &proxy,
            "/v1/completions",
            &json!({"model": model, "prompt": "say hi", "max_tokens": 50, "stream": true,
                "stream_options": {"include_usage": true}}),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let events = sse_data(&res.text());
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{model}: {events:?}"
        );
        let chunks: Vec<Value> = events
            .iter()
            .filter(|e| *e != "[DONE]")
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        assert!(
            chunks.iter().all(|c| c["object"] == "text_completion"),
            "{chunks:?}"
        );
        let streamed: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["text"].as_str())
            .collect();
        assert!(!streamed.is_empty(), "{model}: {chunks:?}");
        assert!(
            chunks.last().unwrap()["usage"]["completion_tokens"]
                .as_u64()
                .unwrap()
                > 0,
            "{chunks:?}"
        );
    }
    // OpenAI got its own endpoint, the body as sent; Claude got a chat turn.
    let sent = fakes.openai.requests();
    assert!(sent.iter().all(|r| r.path == "/v1/completions"), "{sent:?}");
    assert_eq!(sent[0].body["prompt"], "say hi");
    let sent = fakes.claude.requests();
    assert_eq!(sent[0].body["messages"][0]["role"], "user");
    assert!(
        sent[0].body["messages"][0].to_string().contains("say hi"),
        "{:?}",
        sent[0].body
    );

    // What a chat model cannot carry is refused in the client's format; OpenAI takes it.
    let res = post(
        &proxy,
        "/v1/completions",
        &json!({"model": "m_claude", "prompt": "a", "suffix": "b"}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(res.text().contains("suffix"), "{}", res.text());
    proxy.stop();
    let rows = rows(&proxy);
    let ok: Vec<&Row> = rows.iter().filter(|r| r.1 == 200).collect();
    assert_eq!(ok.len(), 6, "{rows:?}");
    assert!(
        ok.iter().all(|r| r.0 == "completions" && r.4 > 0),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_generated_by_openai_and_imagen_in_either_client_format() {
    let (fakes, mut proxy) = setup().await;
    // OpenAI client: GPT image passthrough, Imagen translated (two images).
    for (model, n) in [("i_openai", 1), ("i_imagen", 2)] {
        let res = post(
            &proxy,
            "/v1/images/generations",
            &json!({"model": model, "prompt": "a red square", "n": n, "size": "1536x1024"}),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let v = res.json();
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), n, "{v}");
        assert!(data.iter().all(|d| d["b64_json"].is_string()), "{v}");
    }
    let predict = fakes.gemini.requests();
    let predict = predict
        .iter()
        .find(|r| r.path.ends_with(":predict"))
        .unwrap();
    assert_eq!(
        predict.body,
        json!({"instances": [{"prompt": "a red square"}], "parameters": {"sampleCount": 2, "aspectRatio": "4:3"}})
    );
    // Gemini client (and google-genai's Vertex path): Imagen passthrough, OpenAI translated.
    for (path, model) in [
        ("/v1beta/models/i_imagen:predict", "i_imagen"),
        (
            "/v1beta1/publishers/google/models/i_imagen:predict",
            "i_imagen",
        ),
        ("/v1beta/models/i_openai:predict", "i_openai"),
    ] {
        let res = post(
            &proxy,
            path,
            &json!({"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 1}}),
        )
        .await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        let v = res.json();
        assert_eq!(
            v["predictions"].as_array().unwrap().len(),
            1,
            "{model}: {v}"
        );
        assert!(v["predictions"][0]["bytesBase64Encoded"].is_string(), "{v}");
    }
    let sent = fakes.openai.requests();
    let last = sent.last().unwrap();
    assert_eq!(last.path, "/v1/images/generations");
    assert_eq!(
        last.body,
        json!({"model": "gpt-image-1", "prompt": "a cat", "n": 1})
    );
    // A model without image generation is refused.
    let res = post(
        &proxy,
        "/v1/images/generations",
        &json!({"model": "m_claude", "prompt": "x"}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    proxy.stop();
    let rows = rows(&proxy);
    let images: Vec<i64> = rows
        .iter()
        .filter(|r| r.0 == "images" && r.1 == 200)
        .map(|r| r.5)
        .collect();
    assert_eq!(images, vec![1, 2, 1, 1, 1], "{rows:?}");
}
