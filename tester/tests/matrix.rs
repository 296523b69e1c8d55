//! The capability matrix, in plain `cargo test`: every client format (OpenAI chat, Responses,
//! Claude Messages, Gemini) against every provider format, for every capability that
//! provider declares in [`switchyard_tester::matrix::PROVIDERS`], streamed and not, through
//! the real binary. Each case checks real content in the client's own format: the text,
//! the tool call's name and arguments, the reasoning, the image reaching the provider, the
//! upstream error in the client's error shape with its status. The Python SDK matrix
//! (`tester/conformance/sdk_matrix.py`) covers the same ground with the official SDKs when
//! they are installed.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use switchyard_tester::harness::{Proxy, scratch_dir};
use switchyard_tester::http_client::{Reply, request, sse_data};
use switchyard_tester::matrix::{Capability, PROVIDERS, Provider, RunningFake};

const CLIENT_KEY: &str = "sk-client-matrix-0001";
const TOOL: &str = "run_shell";
/// A 1x1 transparent PNG.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/// The status every fake is told to fail with: a client error, so it passes through as is
/// and cools no account down for the cases that follow.
const ERROR_STATUS: u16 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Chat,
    Responses,
    Messages,
    Gemini,
}

const CLIENTS: [Client; 4] = [
    Client::Chat,
    Client::Responses,
    Client::Messages,
    Client::Gemini,
];

/// What one answer held, read from the client's own format.
#[derive(Debug, Default)]
struct Turn {
    text: String,
    /// `(name, arguments)` of each tool call.
    calls: Vec<(String, Value)>,
    reasoning: String,
    /// A thinking signature, encrypted reasoning or thought signature came back.
    signed: bool,
    /// A Responses reasoning item carried the reasoning text itself as `encrypted_content`
    /// (what a stateless client gets where the provider signs nothing).
    carried_text: bool,
}

/// The provider alias the proxy serves a fake under (no slash: Gemini clients put the model
/// in the URL path).
fn alias(provider: &Provider) -> String {
    format!("m_{}", provider.kind.replace('-', "_"))
}

/// One proxy in front of one fake of every provider format.
struct Scenario {
    fakes: Vec<(Provider, RunningFake)>,
    proxy: Proxy,
}

async fn scenario() -> Scenario {
    let mut fakes = Vec::new();
    for provider in PROVIDERS {
        fakes.push((provider, RunningFake::start(provider.kind).await));
    }
    let mut config = format!("[[client_keys]]\nid = \"matrix\"\nkey = \"{CLIENT_KEY}\"\n");
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
    let dir = scratch_dir("matrix");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    for (provider, fake) in &fakes {
        fake.log_in(&dir, &format!("p_{}", alias(provider)));
    }
    let proxy = Proxy::start_in(dir, &config, &[]);
    Scenario { fakes, proxy }
}

fn prompt(cap: Capability, tag: &str) -> String {
    match cap {
        Capability::Text => format!("say hello ({tag})"),
        Capability::Tools => format!("#tool={TOOL} run something ({tag})"),
        Capability::Reasoning => format!("#think say hello ({tag})"),
        Capability::Images => format!("what is in this image? ({tag})"),
        Capability::Errors => format!("#status={ERROR_STATUS} fail please ({tag})"),
    }
}

fn tool_schema() -> Value {
    json!({"type": "object", "properties": {"cmd": {"type": "string", "description": "the command"}}, "required": ["cmd"]})
}

/// The request for one case in the client's own wire format: (path, headers, body).
fn build(
    client: Client,
    model: &str,
    cap: Capability,
    stream: bool,
    tag: &str,
) -> (String, Vec<(&'static str, String)>, Value) {
    let text = prompt(cap, tag);
    let data_url = format!("data:image/png;base64,{PNG_B64}");
    let bearer = vec![
        ("authorization", format!("Bearer {CLIENT_KEY}")),
        ("content-type", "application/json".to_owned()),
    ];
    match client {
        Client::Chat => {
            let content = if cap == Capability::Images {
                json!([{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": data_url}}])
            } else {
                json!(text)
            };
            let mut body =
                json!({"model": model, "messages": [{"role": "user", "content": content}]});
            if stream {
                body["stream"] = json!(true);
                body["stream_options"] = json!({"include_usage": true});
            }
            if cap == Capability::Tools {
                body["tools"] = json!([{"type": "function", "function": {"name": TOOL, "description": "Runs a shell command", "parameters": tool_schema()}}]);
            }
            if cap == Capability::Reasoning {
                body["reasoning_effort"] = json!("medium");
            }
            ("/v1/chat/completions".to_owned(), bearer, body)
        }
        Client::Responses => {
            let mut content = vec![json!({"type": "input_text", "text": text})];
            if cap == Capability::Images {
                content.push(json!({"type": "input_image", "image_url": data_url}));
            }
            let mut body = json!({"model": model, "store": false, "stream": stream,
                "input": [{"type": "message", "role": "user", "content": content}]});
            if cap == Capability::Tools {
                body["tools"] = json!([{"type": "function", "name": TOOL, "description": "Runs a shell command", "parameters": tool_schema(), "strict": false}]);
            }
            if cap == Capability::Reasoning {
                body["reasoning"] = json!({"effort": "medium", "summary": "auto"});
                body["include"] = json!(["reasoning.encrypted_content"]);
            }
            ("/v1/responses".to_owned(), bearer, body)
        }
        Client::Messages => {
            let mut content = vec![json!({"type": "text", "text": text})];
            if cap == Capability::Images {
                content.push(json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}));
            }
            let mut body = json!({"model": model, "max_tokens": 4096, "stream": stream,
                "messages": [{"role": "user", "content": content}]});
            if cap == Capability::Tools {
                body["tools"] = json!([{"name": TOOL, "description": "Runs a shell command", "input_schema": tool_schema()}]);
            }
            if cap == Capability::Reasoning {
                body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
            }
            let headers = vec![
                ("x-api-key", CLIENT_KEY.to_owned()),
                ("anthropic-version", "2023-06-01".to_owned()),
                ("content-type", "application/json".to_owned()),
            ];
            ("/v1/messages".to_owned(), headers, body)
        }
        Client::Gemini => {
            let mut parts = vec![json!({"text": text})];
            if cap == Capability::Images {
                parts.push(json!({"inlineData": {"mimeType": "image/png", "data": PNG_B64}}));
            }
            let mut body = json!({"contents": [{"role": "user", "parts": parts}]});
            if cap == Capability::Tools {
                body["tools"] = json!([{"functionDeclarations": [{"name": TOOL, "description": "Runs a shell command", "parameters": tool_schema()}]}]);
            }
            if cap == Capability::Reasoning {
                body["generationConfig"] =
                    json!({"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024}});
            }
            let path = if stream {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{model}:generateContent")
            };
            let headers = vec![
                ("x-goog-api-key", CLIENT_KEY.to_owned()),
                ("content-type", "application/json".to_owned()),
            ];
            (path, headers, body)
        }
    }
}

/// The JSON payloads of an SSE body, `[DONE]` left out; an error when one is not JSON.
fn events(reply: &Reply) -> Result<Vec<Value>, String> {
    // SSE lines may end in CRLF (Gemini's do), as the format allows.
    sse_data(&reply.text().replace("\r\n", "\n"))
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| serde_json::from_str(d).map_err(|e| format!("event not JSON ({e}): {d}")))
        .collect()
}

fn json_args(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// Reads the answer of a successful case in the client's own format.
fn read(client: Client, stream: bool, reply: &Reply) -> Result<Turn, String> {
    let mut turn = Turn::default();
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match (client, stream) {
        (Client::Chat, false) => {
            let v = reply.json();
            let msg = &v["choices"][0]["message"];
            turn.text = str_of(&msg["content"]);
            turn.reasoning = str_of(&msg["reasoning_content"]);
            turn.signed = !str_of(&msg["reasoning_signature"]).is_empty();
            for call in msg["tool_calls"].as_array().into_iter().flatten() {
                let f = &call["function"];
                turn.calls
                    .push((str_of(&f["name"]), json_args(&str_of(&f["arguments"]))));
            }
        }
        (Client::Chat, true) => {
            if !reply.text().trim_end().ends_with("data: [DONE]") {
                return Err("chat stream does not end with [DONE]".into());
            }
            let mut calls: BTreeMap<u64, (String, String)> = BTreeMap::new();
            for e in events(reply)? {
                if e.get("error").is_some() {
                    return Err(format!("error event: {e}"));
                }
                let Some(delta) = e["choices"].get(0).map(|c| &c["delta"]) else {
                    continue;
                };
                turn.text += &str_of(&delta["content"]);
                turn.reasoning += &str_of(&delta["reasoning_content"]);
                turn.signed |= !str_of(&delta["reasoning_signature"]).is_empty();
                for call in delta["tool_calls"].as_array().into_iter().flatten() {
                    let slot = calls
                        .entry(call["index"].as_u64().unwrap_or(0))
                        .or_default();
                    slot.0 += &str_of(&call["function"]["name"]);
                    slot.1 += &str_of(&call["function"]["arguments"]);
                }
            }
            turn.calls = calls
                .into_values()
                .map(|(name, args)| (name, json_args(&args)))
                .collect();
        }
        (Client::Responses, false) => read_response(&reply.json(), &mut turn)?,
        (Client::Responses, true) => {
            let events = events(reply)?;
            let Some(done) = events.iter().find(|e| e["type"] == "response.completed") else {
                return Err("no response.completed event".into());
            };
            // The deltas must add up to what the final response says.
            let deltas: String = events
                .iter()
                .filter(|e| e["type"] == "response.output_text.delta")
                .map(|e| str_of(&e["delta"]))
                .collect();
            let args: String = events
                .iter()
                .filter(|e| e["type"] == "response.function_call_arguments.delta")
                .map(|e| str_of(&e["delta"]))
                .collect();
            read_response(&done["response"], &mut turn)?;
            if deltas != turn.text {
                return Err(format!(
                    "text deltas {deltas:?} differ from the final text {:?}",
                    turn.text
                ));
            }
            if let Some((_, final_args)) = turn.calls.first()
                && json_args(&args) != *final_args
            {
                return Err(format!(
                    "argument deltas {args:?} differ from the final arguments {final_args}"
                ));
            }
        }
        (Client::Messages, false) => {
            let v = reply.json();
            if v["type"] != "message" {
                return Err(format!("not a message: {v}"));
            }
            for block in v["content"].as_array().into_iter().flatten() {
                match block["type"].as_str() {
                    Some("text") => turn.text += &str_of(&block["text"]),
                    Some("thinking") => {
                        turn.reasoning += &str_of(&block["thinking"]);
                        turn.signed |= !str_of(&block["signature"]).is_empty();
                    }
                    Some("tool_use") => turn
                        .calls
                        .push((str_of(&block["name"]), block["input"].clone())),
                    _ => {}
                }
            }
        }
        (Client::Messages, true) => {
            let text = reply.text();
            if !text.contains("event: message_stop") {
                return Err("no message_stop event".into());
            }
            let mut blocks: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
            for e in events(reply)? {
                let index = e["index"].as_u64().unwrap_or(0);
                match e["type"].as_str() {
                    Some("error") => return Err(format!("error event: {e}")),
                    Some("content_block_start") => {
                        let b = &e["content_block"];
                        blocks.insert(
                            index,
                            (str_of(&b["type"]), str_of(&b["name"]), String::new()),
                        );
                    }
                    Some("content_block_delta") => {
                        let d = &e["delta"];
                        let slot = blocks.entry(index).or_default();
                        match d["type"].as_str() {
                            Some("text_delta") => turn.text += &str_of(&d["text"]),
                            Some("thinking_delta") => turn.reasoning += &str_of(&d["thinking"]),
                            Some("signature_delta") => {
                                turn.signed |= !str_of(&d["signature"]).is_empty()
                            }
                            Some("input_json_delta") => slot.2 += &str_of(&d["partial_json"]),
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            turn.calls = blocks
                .into_values()
                .filter(|(kind, _, _)| kind == "tool_use")
                .map(|(_, name, args)| (name, json_args(&args)))
                .collect();
        }
        (Client::Gemini, false) => read_gemini(&reply.json(), &mut turn),
        (Client::Gemini, true) => {
            for e in events(reply)? {
                if e.get("error").is_some() {
                    return Err(format!("error event: {e}"));
                }
                read_gemini(&e, &mut turn);
            }
        }
    }
    Ok(turn)
}

fn read_response(r: &Value, turn: &mut Turn) -> Result<(), String> {
    if r["object"] != "response" || r["status"] != "completed" {
        return Err(format!("not a completed response: {r}"));
    }
    for item in r["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    if part["type"] == "output_text" {
                        turn.text += part["text"].as_str().unwrap_or_default();
                    }
                }
            }
            Some("function_call") => turn.calls.push((
                item["name"].as_str().unwrap_or_default().to_owned(),
                json_args(item["arguments"].as_str().unwrap_or_default()),
            )),
            Some("reasoning") => {
                for key in ["summary", "content"] {
                    for part in item[key].as_array().into_iter().flatten() {
                        turn.reasoning += part["text"].as_str().unwrap_or_default();
                    }
                }
                let opaque = item["encrypted_content"].as_str().unwrap_or_default();
                if opaque.starts_with("switchyard-text:") {
                    turn.carried_text = true;
                } else {
                    turn.signed |= !opaque.is_empty();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_gemini(v: &Value, turn: &mut Turn) {
    for part in v["candidates"][0]["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        turn.signed |= part["thoughtSignature"]
            .as_str()
            .is_some_and(|s| !s.is_empty());
        if let Some(call) = part.get("functionCall") {
            turn.calls.push((
                call["name"].as_str().unwrap_or_default().to_owned(),
                call["args"].clone(),
            ));
        } else if part["thought"] == true {
            turn.reasoning += part["text"].as_str().unwrap_or_default();
        } else {
            turn.text += part["text"].as_str().unwrap_or_default();
        }
    }
}

/// Checks an upstream failure reached the client with its status, in the client's own
/// error shape.
fn check_error(client: Client, reply: &Reply) -> Result<(), String> {
    if reply.status.as_u16() != ERROR_STATUS {
        return Err(format!(
            "status {} instead of {ERROR_STATUS}: {}",
            reply.status,
            reply.text()
        ));
    }
    let v: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("error body not JSON ({e}): {}", reply.text()))?;
    let message = |m: &Value| m.as_str().is_some_and(|s| !s.is_empty());
    let ok = match client {
        Client::Chat | Client::Responses => {
            message(&v["error"]["message"]) && v["error"]["type"] == "invalid_request_error"
        }
        Client::Messages => {
            v["type"] == "error"
                && v["error"]["type"] == "invalid_request_error"
                && message(&v["error"]["message"])
        }
        Client::Gemini => {
            v["error"]["code"] == ERROR_STATUS
                && v["error"]["status"] == "INVALID_ARGUMENT"
                && message(&v["error"]["message"])
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not a {client:?} error: {v}"))
    }
}

/// Runs one case and checks what came back; the error says what was wrong.
async fn run_case(
    proxy: &Proxy,
    provider: &Provider,
    fake: &RunningFake,
    client: Client,
    cap: Capability,
    stream: bool,
    tag: &str,
) -> Result<(), String> {
    let (path, headers, body) = build(client, &alias(provider), cap, stream, tag);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = request("POST", &proxy.url(&path), &headers, body.to_string()).await;
    // Every case reached the provider, in the provider's format.
    let seen: Vec<Value> = fake
        .bodies()
        .into_iter()
        .filter(|b| b.to_string().contains(tag))
        .collect();
    if seen.is_empty() {
        return Err(format!(
            "the provider never saw the request; the client got {}: {}",
            reply.status,
            reply.text()
        ));
    }
    if cap == Capability::Errors {
        return check_error(client, &reply);
    }
    if reply.status != 200 {
        return Err(format!("status {}: {}", reply.status, reply.text()));
    }
    let turn = read(client, stream, &reply)?;
    let expected_text = if stream {
        provider.stream_reply
    } else {
        provider.reply
    };
    match cap {
        Capability::Text | Capability::Images | Capability::Reasoning => {
            if turn.text != expected_text {
                return Err(format!("text {:?} instead of {expected_text:?}", turn.text));
            }
            if !turn.calls.is_empty() {
                return Err(format!("unexpected tool calls {:?}", turn.calls));
            }
        }
        Capability::Tools => {
            let args: Value = serde_json::from_str(provider.tool_args).unwrap();
            if turn.calls != [(TOOL.to_owned(), args.clone())] {
                return Err(format!(
                    "tool calls {:?} instead of one {TOOL}({args})",
                    turn.calls
                ));
            }
        }
        Capability::Errors => unreachable!(),
    }
    if cap == Capability::Reasoning && !turn.reasoning.contains(provider.reasoning) {
        return Err(format!(
            "reasoning {:?} does not hold {:?}",
            turn.reasoning, provider.reasoning
        ));
    }
    // A Responses client asking for encrypted reasoning gets the text itself, wrapped, where
    // the provider signs nothing, so a stateless client can replay it.
    if cap == Capability::Reasoning
        && client == Client::Responses
        && !provider.signs_reasoning
        && !turn.carried_text
    {
        return Err("unsigned reasoning not carried in encrypted_content".into());
    }
    // A signed reasoning must come back signed (the client replays it), in every format.
    if cap == Capability::Reasoning && turn.signed != provider.signs_reasoning {
        return Err(format!(
            "reasoning signed: {}, the provider signs: {}",
            turn.signed, provider.signs_reasoning
        ));
    }
    if cap == Capability::Images && !seen.iter().any(|b| b.to_string().contains(PNG_B64)) {
        return Err(format!("the image never reached the provider: {seen:?}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_format_gets_every_declared_capability_of_every_provider_format() {
    let started = Instant::now();
    let scenario = Arc::new(scenario().await);
    // One task per provider, each running its cases in order, so the fakes work in parallel.
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..scenario.fakes.len() {
        let scenario = scenario.clone();
        tasks.spawn(async move {
            let (provider, fake) = &scenario.fakes[index];
            let mut failures = Vec::new();
            let mut cases = 0;
            for client in CLIENTS {
                for &cap in provider.capabilities {
                    for stream in [false, true] {
                        cases += 1;
                        let tag = format!("case-{}-{cases:03}", provider.kind);
                        if let Err(e) =
                            run_case(&scenario.proxy, provider, fake, client, cap, stream, &tag)
                                .await
                        {
                            let mode = if stream { "stream" } else { "non-stream" };
                            failures.push(format!(
                                "{client:?} -> {} {cap:?} {mode} ({tag}): {e}",
                                provider.kind
                            ));
                        }
                    }
                }
            }
            (cases, failures)
        });
    }
    let mut cases = 0;
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (n, f) = done.unwrap();
        cases += n;
        failures.extend(f);
    }
    println!(
        "{cases} matrix cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Every provider format, every client format, both modes, and every capability ran.
    assert_eq!(
        cases,
        PROVIDERS
            .iter()
            .map(|p| p.capabilities.len() * CLIENTS.len() * 2)
            .sum::<usize>()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}\n\nproxy log:\n{}",
        failures.len(),
        failures.join("\n"),
        scenario.proxy.stderr()
    );
}
