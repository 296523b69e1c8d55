//! Protocol fidelity, round two: what a client sees through Switchyard matches what it sees
//! from the provider directly. Token counts come from the target's own counting endpoint
//! (estimated, and flagged, only where the provider has none). A conversation with thinking
//! and tools survives a combo that switches provider family on every turn, each family
//! getting back only its own signatures and encrypted reasoning.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::{self, FakeAnthropic};
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_responses::FakeResponses;
use switchyard_tester::fake_subscriptions::FakeCodeAssist;
use switchyard_tester::families::Families;
use switchyard_tester::harness::{Proxy, import_login, run_with_timeout, scratch_dir};
use switchyard_tester::http_client::{Reply, request};

const KEY: &str = "sk-client-fidelity-0001";
const COUNT_HEADER: &str = "x-switchyard-token-count";

/// Every provider family behind one proxy: Anthropic, the Gemini API, Code Assist (a
/// Google login) and an OpenAI-compatible one (no counting endpoint).
struct Providers {
    claude: FakeAnthropic,
    gemini: FakeGemini,
    code_assist: FakeCodeAssist,
    openai: FakeOpenAi,
    responses: FakeResponses,
    _google: FakeOAuth,
    proxy: Proxy,
}

async fn providers(label: &str) -> Providers {
    let f = Families::start().await;
    let mut cfg = OAuthConfig::new("google-test-client", BodyStyle::Form, Flavor::Rfc);
    cfg.client_secret = Some("google-test-secret".into());
    let google = FakeOAuth::start(cfg).await;
    let code_assist = FakeCodeAssist::start(google.state.clone(), Some("proj-1")).await;
    let config = format!(
        r#"
[[client_keys]]
id = "fidelity"
key = "{KEY}"

{providers}
[[providers]]
name = "gc"
kind = "gemini-cli"
base_url = "{ca}"
models = ["gemini-2.5-pro"]
[providers.options]
token_url = "{token}"
client_id = "google-test-client"
client_secret = "google-test-secret"

[[combos]]
name = "rotate"
strategy = "round-robin"
targets = ["an/claude-test", "gm/gemini-3-pro-preview", "or/gpt-think", "oa/gpt-test", "gc/gemini-2.5-pro"]

[aliases]
m_claude = "an/claude-test"
m_google = "gm/gemini-2.5-flash"
m_assist = "gc/gemini-2.5-pro"
m_openai = "oa/gpt-test"
m_gemini3 = "gm/gemini-3-pro-preview"
m_responses = "or/gpt-think"
"#,
        providers = f.providers_toml(),
        ca = code_assist.url(),
        token = google.url("/token"),
    );
    let dir = scratch_dir(label);
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let (access, refresh, _, exp) = google.state.issue(3600);
    let ms = exp.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let creds = json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "scope": "x", "expiry_date": ms});
    import_login(&dir, "gemini", "oauth_creds.json", &creds, "me");
    let proxy = Proxy::start_in(dir, &config, &[]);
    Providers {
        claude: f.claude,
        gemini: f.gemini,
        code_assist,
        openai: f.openai,
        responses: f.responses,
        _google: google,
        proxy,
    }
}

async fn post(proxy: &Proxy, path: &str, body: &Value) -> Reply {
    request(
        "POST",
        &proxy.url(path),
        &[
            ("authorization", &format!("Bearer {KEY}")),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

fn source(reply: &Reply) -> &str {
    reply
        .headers
        .get(COUNT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `(what was asked, the count, where it came from)` checked against what each provider's
/// fake counts: Anthropic's fixed count, Gemini's words of the contents and system
/// instruction, Code Assist's words of the contents only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_counts_go_to_each_providers_own_counting_endpoint() {
    let p = providers("fidelity-count").await;
    // Five words of prompt, two of system.
    let claude_body = |model: &str| {
        json!({"model": model, "system": "be brief",
            "messages": [{"role": "user", "content": "count these five words please"}]})
    };
    let gemini_plain = json!({"contents": [{"role": "user", "parts": [{"text": "count these five words please"}]}]});
    let gemini_wrapped = json!({"generateContentRequest": {
        "model": "models/whatever",
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "count these five words please"}]}]}});

    for (model, want) in [
        ("m_claude", Some(fake_anthropic::INPUT_TOKENS)),
        ("m_google", Some(7)),
        ("m_assist", Some(5)),
        ("m_openai", None),
    ] {
        let res = post(&p.proxy, "/v1/messages/count_tokens", &claude_body(model)).await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
        let got = res.json()["input_tokens"].as_u64().unwrap();
        match want {
            Some(n) => {
                assert_eq!(got, n, "{model}");
                assert_eq!(source(&res), "provider", "{model}");
            }
            None => {
                assert!(got > 0);
                assert_eq!(source(&res), "estimated", "{model}");
            }
        }
        for (body, google_want) in [(&gemini_plain, 5), (&gemini_wrapped, 7)] {
            let res = post(
                &p.proxy,
                &format!("/v1beta/models/{model}:countTokens"),
                body,
            )
            .await;
            assert_eq!(res.status, 200, "{model}: {}", res.text());
            let got = res.json()["totalTokens"].as_u64().unwrap();
            let want = match model {
                "m_google" => Some(google_want),
                // Code Assist counts the contents alone.
                "m_assist" => Some(5),
                _ => want,
            };
            match want {
                Some(n) => {
                    assert_eq!(got, n, "{model} {body}");
                    assert_eq!(source(&res), "provider", "{model}");
                }
                None => assert_eq!(source(&res), "estimated", "{model}"),
            }
        }
    }
    let counted =
        |paths: Vec<String>, needle: &str| paths.iter().filter(|p| p.contains(needle)).count();
    let claude_paths = p.claude.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(counted(claude_paths, "/count_tokens"), 3);
    let gemini_paths = p
        .gemini
        .state
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(counted(gemini_paths, ":countTokens"), 3);
    let assist_paths = p
        .code_assist
        .log
        .all()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(counted(assist_paths, ":countTokens"), 3);
    assert!(p.openai.requests().is_empty(), "nothing to count upstream");
}

/// The official SDKs' own count calls, against every provider family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_count_tokens_against_every_provider() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let p = providers("fidelity-sdk-count").await;
    let mut cmd = Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_count_tokens.py"))
        .arg(format!("http://{}", p.proxy.addr))
        .arg(KEY)
        .args(["m_claude", "m_google", "m_assist", "m_openai"])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(120)));
    assert!(ok, "{stdout}\n{stderr}");
    let cases: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    for c in &cases {
        assert!(
            c.get("error").is_none(),
            "{c}\nproxy log:\n{}",
            p.proxy.stderr()
        );
        let want = match (c["model"].as_str().unwrap(), c["sdk"].as_str().unwrap()) {
            ("m_claude", _) => Some(fake_anthropic::INPUT_TOKENS),
            ("m_google", "anthropic") => Some(7),
            ("m_google" | "m_assist", _) => Some(5),
            _ => None,
        };
        match want {
            Some(n) => assert_eq!(c["tokens"], n, "{c}"),
            None => assert!(c["tokens"].as_u64().unwrap() > 0, "{c}"),
        }
        let header = c["header"].as_str();
        if c["sdk"] == "anthropic" || header.is_some() {
            let expected = if want.is_some() {
                "provider"
            } else {
                "estimated"
            };
            assert_eq!(header, Some(expected), "{c}");
        }
    }
    assert_eq!(cases.len(), 8);
}

/// One Claude Messages request of a conversation with thinking on and a tool: the
/// assistant's content, after checking the request was served.
async fn claude_turn(proxy: &Proxy, model: &str, messages: &[Value], stream: bool) -> Vec<Value> {
    let body = json!({
        "model": model, "max_tokens": 4096, "stream": stream,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "get_weather", "description": "The weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": messages,
    });
    let res = post(proxy, "/v1/messages", &body).await;
    let at = format!("turn {} on {model} (stream {stream})", messages.len());
    assert_eq!(res.status, 200, "{at}: {}", res.text());
    if !stream {
        return res.json()["content"].as_array().unwrap().clone();
    }
    // The blocks of the stream, as the SDK's accumulator builds them.
    let mut blocks: Vec<Value> = Vec::new();
    for data in switchyard_tester::http_client::sse_data(&res.text()) {
        let ev: Value = serde_json::from_str(&data).unwrap();
        match ev["type"].as_str().unwrap_or("") {
            "content_block_start" => blocks.push(ev["content_block"].clone()),
            "content_block_delta" => {
                let b = blocks.last_mut().unwrap();
                let d = &ev["delta"];
                let append = |b: &mut Value, k: &str, v: &Value| {
                    let s = format!(
                        "{}{}",
                        b[k].as_str().unwrap_or(""),
                        v.as_str().unwrap_or("")
                    );
                    b[k] = json!(s);
                };
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => append(b, "text", &d["text"]),
                    "thinking_delta" => append(b, "thinking", &d["thinking"]),
                    "signature_delta" => append(b, "signature", &d["signature"]),
                    "input_json_delta" => append(b, "partial", &d["partial_json"]),
                    _ => {}
                }
            }
            "error" => panic!("{at}: {ev}"),
            _ => {}
        }
    }
    for b in &mut blocks {
        if b["type"] == "tool_use" {
            let partial = b["partial"].as_str().unwrap_or("").to_owned();
            b["input"] = serde_json::from_str(&partial).unwrap_or(json!({}));
            b.as_object_mut().unwrap().remove("partial");
        }
    }
    blocks
}

/// A conversation that switches provider on every request, half of them asking for a tool
/// call with thinking and half answering it: each signature must go back only to the
/// family that issued it. Returns the thinking signatures the client was given.
async fn switching_conversation(proxy: &Proxy, models: &[&str], stream: bool) -> Vec<String> {
    let mut messages = vec![json!({"role": "user", "content": "#think #tool=get_weather"})];
    let mut signatures = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let content = claude_turn(proxy, model, &messages, stream).await;
        signatures.extend(
            content
                .iter()
                .filter(|b| b["type"] == "thinking")
                .filter_map(|b| b["signature"].as_str().map(str::to_owned)),
        );
        let calls: Vec<String> = content
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].as_str().unwrap().to_owned())
            .collect();
        messages.push(json!({"role": "assistant", "content": content}));
        let next = if calls.is_empty() {
            json!([{"type": "text", "text": "#think #tool=get_weather"}])
        } else {
            calls
                .iter()
                .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": format!("sunny {i}")}))
                .collect()
        };
        messages.push(json!({"role": "user", "content": next}));
    }
    signatures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_signatures_go_back_only_to_the_family_that_issued_them() {
    let p = providers("fidelity-signatures").await;
    let claude_gemini = [
        "m_claude",
        "m_gemini3",
        "m_claude",
        "m_gemini3",
        "m_claude",
        "m_gemini3",
    ];
    let gemini_claude = [
        "m_gemini3",
        "m_claude",
        "m_gemini3",
        "m_claude",
        "m_gemini3",
        "m_claude",
    ];
    let claude_openai = [
        "m_claude",
        "m_responses",
        "m_claude",
        "m_responses",
        "m_claude",
    ];
    let openai_claude = [
        "m_responses",
        "m_claude",
        "m_responses",
        "m_claude",
        "m_responses",
    ];
    let mut seen = Vec::new();
    for stream in [false, true] {
        for models in [
            &claude_gemini[..],
            &gemini_claude,
            &claude_openai,
            &openai_claude,
        ] {
            seen.extend(switching_conversation(&p.proxy, models, stream).await);
        }
    }
    // The client saw each family's signature, tagged when it is not Anthropic's own.
    assert!(
        seen.iter().any(|s| s == fake_anthropic::SIGNATURE),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("switchyard-sig:google:")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("switchyard-sig:openai:")),
        "{seen:?}"
    );
    // Gemini got its own signature back, unwrapped.
    let gemini_saw_own = p.gemini.state.requests().iter().any(|r| {
        r.body
            .to_string()
            .contains(switchyard_tester::fake_gemini::THOUGHT_SIGNATURE)
    });
    assert!(gemini_saw_own);
    // No request upstream carried another family's signature.
    for r in p.claude.requests() {
        assert!(!r.body.to_string().contains("switchyard-sig"), "{}", r.body);
    }
    for r in p.responses.requests() {
        assert!(
            !r.body.to_string().contains(fake_anthropic::SIGNATURE),
            "{}",
            r.body
        );
    }
}

/// The providers the `rotate` combo takes turns on, in its order: five, so that over ten
/// turns that alternate between asking for a tool (with thinking) and answering it, every
/// provider both starts a tool call and answers another family's.
const ROTATION: [&str; 5] = ["an", "gm", "or", "oa", "gc"];
/// Turns of each rotating conversation.
const TURNS: usize = 10;

/// The provider of every usage row, in order (the proxy must be stopped, so every row is
/// written).
fn row_providers(proxy: &Proxy) -> Vec<String> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT coalesce(provider, '') FROM usage ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Checks that the rotating conversations went to a different family on every turn, that
/// every family got its own reasoning back and no other family's, and that every request
/// (each a 200, checked as it ran) was served.
fn check_rotation(p: &mut Providers, requests: usize) {
    use switchyard_tester::fake_gemini::THOUGHT_SIGNATURE;
    use switchyard_tester::fake_responses::ENCRYPTED_CONTENT;
    let stderr = p.proxy.stderr();
    p.proxy.stop();
    let providers = row_providers(&p.proxy);
    assert_eq!(providers.len(), requests, "{providers:?}");
    for (i, provider) in providers.iter().enumerate() {
        assert_eq!(
            provider,
            ROTATION[i % ROTATION.len()],
            "turn {i}: {providers:?}"
        );
    }
    let claude: Vec<String> = p
        .claude
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/messages"))
        .map(|r| r.body.to_string())
        .collect();
    let gemini: Vec<String> = p
        .gemini
        .state
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .collect();
    let responses: Vec<String> = p
        .responses
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .collect();
    let chat: Vec<String> = p
        .openai
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .collect();
    let assist: Vec<String> = p
        .code_assist
        .log
        .all()
        .into_iter()
        .filter(|r| r.path.contains("generateContent"))
        .map(|r| r.body.to_string())
        .collect();
    // (provider, its signing family, what it received, the reasoning token it issues)
    let providers = [
        ("claude", "anthropic", &claude, fake_anthropic::SIGNATURE),
        ("gemini", "google", &gemini, THOUGHT_SIGNATURE),
        ("code assist", "google", &assist, THOUGHT_SIGNATURE),
        ("responses", "openai", &responses, ENCRYPTED_CONTENT),
        ("chat", "none", &chat, ""),
    ];
    for (name, family, bodies, own) in providers {
        assert!(!bodies.is_empty(), "{name} never served a turn");
        for body in bodies.iter() {
            assert!(
                !body.contains("switchyard-sig"),
                "{name} got a wrapped signature: {body}"
            );
            assert!(
                !body.contains("switchyard-text"),
                "{name} got wrapped text: {body}"
            );
            for (other, other_family, _, theirs) in providers {
                if other_family != family && !theirs.is_empty() {
                    assert!(
                        !body.contains(theirs),
                        "{name} got {other}'s reasoning back: {body}"
                    );
                }
            }
        }
        // A signing family sees its earlier reasoning again on a later turn (Gemini and
        // Code Assist share Google's signatures).
        if !own.is_empty() {
            assert!(
                providers
                    .iter()
                    .filter(|p| p.1 == family)
                    .any(|p| p.2.iter().any(|b| b.contains(own))),
                "{family} never got its own reasoning back\nproxy log:\n{stderr}"
            );
        }
    }
}

/// Ten turns of thinking and tools from a Claude Messages client, each request carrying
/// the whole conversation so far, through a combo that changes provider family every turn
/// (Claude, Gemini 3, OpenAI Responses, OpenAI chat, Code Assist): every turn is answered (the strict
/// fakes refuse a signature they did not issue, as the real APIs do), and signatures go
/// back only to their own family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messages_conversation_survives_a_combo_switching_provider_every_turn() {
    let mut p = providers("fidelity-rotate-messages").await;
    let mut seen = Vec::new();
    for stream in [false, true] {
        seen.extend(switching_conversation(&p.proxy, &["rotate"; TURNS], stream).await);
    }
    // The client was given each signing family's reasoning to replay.
    assert!(
        seen.iter().any(|s| s == fake_anthropic::SIGNATURE),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("switchyard-sig:google:")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("switchyard-sig:openai:")),
        "{seen:?}"
    );
    check_rotation(&mut p, 2 * TURNS);
}

/// One Responses request of a stateless conversation (`store: false`, encrypted reasoning
/// asked for): the output items, after checking the request was served.
async fn responses_turn(proxy: &Proxy, input: &[Value], stream: bool) -> Vec<Value> {
    let body = json!({
        "model": "rotate", "store": false, "stream": stream,
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "medium", "summary": "auto"},
        "tools": [{"type": "function", "name": "get_weather", "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false}],
        "input": input,
    });
    let res = post(proxy, "/v1/responses", &body).await;
    let at = format!("input of {} items (stream {stream})", input.len());
    assert_eq!(res.status, 200, "{at}: {}", res.text());
    let response = if stream {
        let done = switchyard_tester::http_client::sse_data(&res.text())
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|e| e["type"] == "response.completed")
            .unwrap_or_else(|| panic!("{at}: no response.completed in {}", res.text()));
        done["response"].clone()
    } else {
        res.json()
    };
    assert_eq!(response["status"], "completed", "{at}: {response}");
    response["output"].as_array().unwrap().clone()
}

/// The same ten switching turns from a stateless Responses client (Codex's settings): the
/// reasoning items come back with `encrypted_content` whatever the family, are replayed
/// whole each turn, and reach only the family that produced them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_responses_conversation_survives_a_combo_switching_provider_every_turn() {
    let mut p = providers("fidelity-rotate-responses").await;
    let prompt = || {
        json!({"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "#think #tool=get_weather"}]})
    };
    let mut carried = Vec::new();
    for stream in [false, true] {
        let mut input = vec![prompt()];
        for turn in 0..TURNS {
            let output = responses_turn(&p.proxy, &input, stream).await;
            for item in output.iter().filter(|i| i["type"] == "reasoning") {
                let opaque = item["encrypted_content"].as_str().unwrap_or("");
                assert!(
                    !opaque.is_empty(),
                    "turn {turn}: reasoning without encrypted_content: {item}"
                );
                carried.push(opaque.to_owned());
            }
            let calls: Vec<String> = output
                .iter()
                .filter(|i| i["type"] == "function_call")
                .map(|i| i["call_id"].as_str().unwrap().to_owned())
                .collect();
            input.extend(output);
            if calls.is_empty() {
                input.push(prompt());
            }
            for call in calls {
                input.push(json!({"type": "function_call_output", "call_id": call,
                    "output": format!("sunny {turn}")}));
            }
        }
    }
    // Every family's reasoning reached the client in a form it can replay.
    assert!(
        carried
            .iter()
            .any(|c| c.starts_with("switchyard-sig:anthropic:")
                || c.contains(fake_anthropic::SIGNATURE)),
        "{carried:?}"
    );
    assert!(
        carried
            .iter()
            .any(|c| c.starts_with("switchyard-sig:google:")),
        "{carried:?}"
    );
    assert!(
        carried
            .iter()
            .any(|c| c == switchyard_tester::fake_responses::ENCRYPTED_CONTENT),
        "{carried:?}"
    );
    assert!(
        carried.iter().any(|c| c.starts_with("switchyard-text:")),
        "{carried:?}"
    );
    check_rotation(&mut p, 2 * TURNS);
}
