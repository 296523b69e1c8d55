//! End to end: the routes other tools expect. `/v1/providers/{name}/...` pins a provider (the
//! model string is looked up within it only), and Azure OpenAI's
//! `/openai/deployments/{name}/chat/completions?api-version=...` with its `api-key` header
//! serves clients that only offer an Azure base URL, proved with the openai SDK's own
//! `AzureOpenAI` client when `$SWITCHYARD_PYTHON` is set.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, REPLY};
use switchyard_tester::harness::{Proxy, run_with_timeout};
use switchyard_tester::http_client::{post_json, request, sse_data};

const CLIENT_KEY: &str = "sk-client-routes-0001";

/// Two providers serving the same model id: unpinned, the first one answers.
async fn setup() -> (FakeOpenAi, FakeOpenAi, Proxy) {
    let one = FakeOpenAi::start().await;
    let two = FakeOpenAi::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "one"
base_url = "{}"
models = ["gpt-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-one-0001"

[[providers]]
name = "two"
base_url = "{}"
models = ["gpt-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-two-0001"

[aliases]
fast = "two/gpt-test"
"#,
        one.base_url(),
        two.base_url()
    );
    let proxy = Proxy::start(&config, &[]);
    (one, two, proxy)
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_route_pins_the_provider_in_every_client_format() {
    let (one, two, proxy) = setup().await;
    // Unpinned, the bare model is the first provider's.
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("gpt-test", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!((one.requests().len(), two.requests().len()), (1, 0));

    let res = post_json(
        &proxy.url("/v1/providers/two/chat/completions"),
        CLIENT_KEY,
        &chat("gpt-test", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
    assert_eq!((one.requests().len(), two.requests().len()), (1, 1));
    assert_eq!(two.requests()[0].body["model"], "gpt-test");

    // `provider/model` of the pinned provider, and the other formats, with the `/v1` base
    // URL some tools append.
    let claude = json!({"model": "two/gpt-test", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]});
    let res = post_json(
        &proxy.url("/v1/providers/two/v1/messages"),
        CLIENT_KEY,
        &claude,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["content"][0]["text"], REPLY);
    let res = post_json(
        &proxy.url("/v1/providers/two/responses"),
        CLIENT_KEY,
        &json!({"model": "gpt-test", "input": "hi"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], "completed");
    let res = post_json(
        &proxy.url("/v1/providers/two/v1beta/models/gpt-test:generateContent"),
        CLIENT_KEY,
        &json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!((one.requests().len(), two.requests().len()), (1, 4));

    // An alias leading elsewhere is not followed out of the pinned provider: the string is
    // the provider's own model id.
    let res = post_json(
        &proxy.url("/v1/providers/one/chat/completions"),
        CLIENT_KEY,
        &chat("fast", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(one.requests().last().unwrap().body["model"], "fast");

    // An unknown provider is a 404 in the client's format.
    let res = post_json(
        &proxy.url("/v1/providers/three/messages"),
        CLIENT_KEY,
        &claude,
    )
    .await;
    assert_eq!(res.status, 404, "{}", res.text());
    assert_eq!(res.json()["type"], "error");
    assert!(res.text().contains("three"), "{}", res.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_deployment_route_names_the_model_and_takes_the_api_key_header() {
    let (one, two, proxy) = setup().await;
    let url = proxy.url("/openai/deployments/fast/chat/completions?api-version=2024-10-21");
    let headers = [
        ("api-key", CLIENT_KEY),
        ("content-type", "application/json"),
    ];
    // The body's model, if any, gives way to the deployment.
    let res = request(
        "POST",
        &url,
        &headers,
        chat("one/gpt-test", false).to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
    assert_eq!((one.requests().len(), two.requests().len()), (0, 1));
    let res = request("POST", &url, &headers, chat("x", true).to_string()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(sse_data(&res.text()).last().unwrap(), "[DONE]");
    // A deployment named `provider/model`, escaped or not.
    for path in ["one%2Fgpt-test", "one/gpt-test"] {
        let url = proxy.url(&format!(
            "/openai/deployments/{path}/chat/completions?api-version=2024-10-21"
        ));
        let res = request(
            "POST",
            &url,
            &headers,
            json!({"messages": [{"role": "user", "content": "hi"}]}).to_string(),
        )
        .await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
    }
    assert_eq!((one.requests().len(), two.requests().len()), (2, 2));
    let bad = [
        ("api-key", "sk-wrong"),
        ("content-type", "application/json"),
    ];
    let res = request("POST", &url, &bad, chat("x", false).to_string()).await;
    assert_eq!(res.status, 401, "{}", res.text());
}

/// The openai SDK's `AzureOpenAI` client, as a user would point it at Switchyard.
const AZURE_SCRIPT: &str = r#"
import sys
from openai import AzureOpenAI
endpoint, key = sys.argv[1], sys.argv[2]
client = AzureOpenAI(azure_endpoint=endpoint, api_key=key, api_version="2024-10-21")
r = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
print(r.choices[0].message.content)
text = ""
for chunk in client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}], stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
print(text)
d = AzureOpenAI(azure_endpoint=endpoint, azure_deployment="fast", api_key=key, api_version="2024-10-21")
print(d.chat.completions.create(model="ignored", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdks_azure_client_works_against_switchyard() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let (one, two, proxy) = setup().await;
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(AZURE_SCRIPT)
        .arg(format!("http://{}", proxy.addr))
        .arg(CLIENT_KEY)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(120)));
    assert!(
        ok,
        "stdout:\n{stdout}\nstderr:\n{stderr}\nproxy:\n{}",
        proxy.stderr()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, [REPLY, "tok0 tok1 tok2 ", REPLY], "{stderr}");
    assert_eq!((one.requests().len(), two.requests().len()), (0, 3));
    for r in two.requests() {
        assert_eq!(r.body["model"], "gpt-test");
        assert_eq!(r.headers["authorization"], "Bearer sk-upstream-two-0001");
    }
}
