//! Golden fixtures (`tests/fixtures/claude/`, written from the public Anthropic and OpenAI wire
//! formats), unit tests and property tests for the Claude translators.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::request::{claude_request_to_hub, hub_request_to_claude};
use super::response::{claude_response_to_hub, hub_response_to_claude};
use super::stream::{claude_stream_to_hub, hub_stream_to_claude};
use super::{ThinkingMode, thinking_mode};
use crate::ctx::TranslateCtx;
use crate::error::{ApiError, ErrorKind, TranslateError};
use crate::format::Format;
use crate::registry::Registry;
use crate::stream::{StreamEvent, parse_sse_text, run_stage};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/claude/", $name))
    };
}

fn json_fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Context of a Claude client talking to a hub-format provider.
fn client_ctx() -> TranslateCtx {
    TranslateCtx::new(Format::Claude, Format::OpenAi, "gpt-5.5", true)
}

/// Context of a hub-format client talking to a Claude provider.
fn provider_ctx(model: &str) -> TranslateCtx {
    TranslateCtx::new(Format::OpenAi, Format::Claude, model, true)
}

fn to_hub(body: Value) -> Result<Value, TranslateError> {
    claude_request_to_hub(body, &mut client_ctx()).map(hub_json)
}

fn to_claude(body: Value, model: &str) -> Result<Value, TranslateError> {
    json_to_claude(body, &mut provider_ctx(model))
}

/// The typed hub request as the JSON it stands for.
fn hub_json(hub: crate::chat::ChatRequest) -> Value {
    serde_json::to_value(hub).unwrap()
}

/// A JSON hub request into Claude, parsed as the pipeline parses it.
fn json_to_claude(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    hub_request_to_claude(crate::step::parse_chat(body)?, ctx)
}

fn invalid_msg(r: Result<Value, TranslateError>) -> String {
    match r {
        Err(TranslateError::InvalidRequest(m)) => m,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

fn names(events: &[StreamEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.event.as_deref().unwrap_or(""))
        .collect()
}

/// The hub deltas of a stream, folded: text, reasoning, signatures, tool calls by index,
/// finish reasons and usage chunks.
#[derive(Default, Debug)]
struct HubFold {
    roles: usize,
    content: String,
    reasoning: String,
    signatures: Vec<String>,
    redacted: Vec<String>,
    tools: Vec<(String, String, String)>,
    finishes: Vec<String>,
    usages: Vec<Value>,
}

fn fold_hub(events: &[StreamEvent]) -> HubFold {
    let mut f = HubFold::default();
    let mut tools: HashMap<u64, (String, String, String)> = HashMap::new();
    for e in events {
        assert!(e.event.is_none(), "hub chunks carry no event name");
        assert_eq!(e.data["object"], "chat.completion.chunk");
        if let Some(u) = e.data.get("usage") {
            assert_eq!(e.data["choices"], json!([]));
            f.usages.push(u.clone());
            continue;
        }
        let choice = &e.data["choices"][0];
        let d = &choice["delta"];
        if d.get("role").is_some() {
            f.roles += 1;
        }
        if let Some(t) = d["content"].as_str() {
            f.content.push_str(t);
        }
        if let Some(t) = d["reasoning_content"].as_str() {
            f.reasoning.push_str(t);
        }
        if let Some(t) = d["reasoning_signature"].as_str() {
            f.signatures.push(t.to_owned());
        }
        if let Some(t) = d["redacted_reasoning"].as_str() {
            f.redacted.push(t.to_owned());
        }
        if let Some(calls) = d["tool_calls"].as_array() {
            for c in calls {
                let i = c["index"].as_u64().unwrap();
                let entry = tools.entry(i).or_default();
                if let Some(id) = c["id"].as_str() {
                    assert!(entry.0.is_empty(), "tool call {i} announced twice");
                    entry.0 = id.to_owned();
                    entry.1 = c["function"]["name"].as_str().unwrap().to_owned();
                }
                entry
                    .2
                    .push_str(c["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
        if let Some(fr) = choice["finish_reason"].as_str() {
            f.finishes.push(fr.to_owned());
        }
    }
    let mut keys: Vec<_> = tools.keys().copied().collect();
    keys.sort_unstable();
    f.tools = keys.into_iter().map(|k| tools[&k].clone()).collect();
    f
}

/// Rebuilds the Anthropic message a Claude client would assemble from the events, checking the
/// protocol as it goes: one message_start first, blocks started once with the next index, deltas
/// only into open blocks, every block stopped once, message_delta and message_stop once, last.
fn fold_claude(events: &[StreamEvent]) -> Value {
    let mut message = Value::Null;
    let mut open: HashMap<u64, bool> = HashMap::new();
    let mut next = 0u64;
    let mut deltas = 0;
    let mut stops = 0;
    let mut partial: HashMap<u64, String> = HashMap::new();
    for (n, e) in events.iter().enumerate() {
        let name = e.event.as_deref().unwrap();
        assert_eq!(e.data["type"], name, "event name matches data.type");
        match name {
            "message_start" => {
                assert_eq!(n, 0, "message_start comes first");
                message = e.data["message"].clone();
                assert_eq!(message["type"], "message");
                assert!(message["id"].as_str().unwrap().starts_with("msg_"));
            }
            "content_block_start" => {
                let i = e.data["index"].as_u64().unwrap();
                assert_eq!(i, next, "blocks start in index order");
                next += 1;
                open.insert(i, true);
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(e.data["content_block"].clone());
            }
            "content_block_delta" => {
                let i = e.data["index"].as_u64().unwrap();
                assert_eq!(open.get(&i), Some(&true), "delta into an open block");
                let block = &mut message["content"][i as usize];
                let d = &e.data["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        let t = format!(
                            "{}{}",
                            block["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        );
                        block["text"] = json!(t);
                    }
                    "thinking_delta" => {
                        let t = format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        );
                        block["thinking"] = json!(t);
                    }
                    "signature_delta" => {
                        let t = format!(
                            "{}{}",
                            block["signature"].as_str().unwrap_or(""),
                            d["signature"].as_str().unwrap()
                        );
                        block["signature"] = json!(t);
                    }
                    "input_json_delta" => {
                        partial
                            .entry(i)
                            .or_default()
                            .push_str(d["partial_json"].as_str().unwrap());
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = e.data["index"].as_u64().unwrap();
                assert_eq!(
                    open.insert(i, false),
                    Some(true),
                    "stop of an open block, once"
                );
                if let Some(p) = partial.remove(&i) {
                    message["content"][i as usize]["input"] = serde_json::from_str(&p).unwrap();
                }
            }
            "message_delta" => {
                deltas += 1;
                assert!(
                    open.values().all(|o| !o),
                    "all blocks stopped before message_delta"
                );
                message["stop_reason"] = e.data["delta"]["stop_reason"].clone();
                message["usage"] = e.data["usage"].clone();
            }
            "message_stop" => {
                stops += 1;
                assert_eq!(n, events.len() - 1, "message_stop is last");
            }
            "ping" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(
        (deltas, stops),
        (1, 1),
        "message_delta and message_stop exactly once"
    );
    message
}

fn hub_chunk(delta: Value, finish: Value) -> StreamEvent {
    StreamEvent::hub(json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }))
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

#[test]
fn both_directions_are_registered_with_all_three_parts() {
    let r = Registry::load().unwrap();
    for (from, to) in [
        (Format::Claude, Format::OpenAi),
        (Format::OpenAi, Format::Claude),
    ] {
        assert!(r.request(from, to).is_ok());
        assert!(r.response(from, to).is_ok());
        assert!(r.stream(from, to).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// Claude request -> hub
// ---------------------------------------------------------------------------------------------

#[test]
fn claude_code_request_matches_golden_hub_request() {
    let hub = to_hub(json_fixture(fixture!("claude_code_request.json"))).unwrap();
    assert_eq!(hub, json_fixture(fixture!("claude_code_request.hub.json")));
    // The points that matter to Claude Code, spelled out.
    let msgs = hub["messages"].as_array().unwrap();
    let roles: Vec<_> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "system", "assistant", "tool"]);
    assert_eq!(msgs[0]["content"][1]["cache_control"]["type"], "ephemeral");
    assert!(msgs[0]["content"][0].get("cache_control").is_none());
    assert_eq!(
        msgs[3]["reasoning_signature"],
        "ErUBCkYIBRgCIkBvQ2Zq9x3n0SignatureBytesAAAA=="
    );
    assert_eq!(msgs[4]["tool_call_id"], "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(hub["reasoning_effort"], "high");
    assert_eq!(hub["max_completion_tokens"], 64000);
    assert_eq!(hub["stream_options"]["include_usage"], true);
    assert!(
        hub.get("user").is_none(),
        "Claude Code's JSON user_id is not forwarded"
    );
    assert!(hub.get("context_management").is_none());
}

#[test]
fn multimodal_tools_and_results_map_to_hub_parts() {
    let hub = to_hub(json_fixture(fixture!("request_multimodal.json"))).unwrap();
    let msgs = hub["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0],
        json!({"role": "system", "content": "Describe attachments precisely."})
    );
    let parts = msgs[1]["content"].as_array().unwrap();
    assert!(
        parts[0]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR")
    );
    assert_eq!(
        parts[1]["image_url"]["url"],
        "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"
    );
    assert_eq!(parts[2]["type"], "file");
    assert_eq!(parts[2]["file"]["filename"], "report.pdf");
    assert!(
        parts[2]["file"]["file_data"]
            .as_str()
            .unwrap()
            .starts_with("data:application/pdf;base64,JVBER")
    );
    assert_eq!(parts[2]["cache_control"]["type"], "ephemeral");
    assert_eq!(
        parts[3],
        json!({"type": "text", "text": "Plain text notes."})
    );
    // Parallel tool calls, then tool messages right after, then the moved image and the text.
    assert_eq!(msgs[2]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(msgs[2]["content"], Value::Null);
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "tool_call_id": "toolu_01Read", "content": "Image file"})
    );
    assert_eq!(
        msgs[4],
        json!({"role": "tool", "tool_call_id": "toolu_02Read", "content": "Error: File does not exist."})
    );
    assert_eq!(msgs[5]["role"], "user");
    assert_eq!(
        msgs[5]["content"][0]["image_url"]["url"],
        "data:image/jpeg;base64,/9j/4AAQSkZJRg=="
    );
    assert_eq!(msgs[5]["content"][1]["text"], "Go on.");
    // Tools: the server tool travels as a hosted tool, bash gets its schema, cache_control
    // survives.
    let (hosted, tools): (Vec<&Value>, Vec<&Value>) = hub["tools"]
        .as_array()
        .unwrap()
        .iter()
        .partition(|t| t["type"] == "hosted");
    assert_eq!(hosted.len(), 1);
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["cache_control"]["type"], "ephemeral");
    assert_eq!(
        tools[0]["function"]["parameters"]["required"],
        json!(["file_path"])
    );
    assert_eq!(tools[1]["function"]["name"], "bash");
    assert_eq!(
        tools[1]["function"]["parameters"]["properties"]["command"]["type"],
        "string"
    );
    assert_eq!(hub["tool_choice"], "required");
    assert_eq!(hub["parallel_tool_calls"], false);
    assert_eq!(hub["reasoning_effort"], "medium");
    assert_eq!(hub["stop"], json!(["\n\nHuman:", "END"]));
    assert_eq!(hub["temperature"], 0.3);
    assert!(hub.get("top_k").is_none());
    assert!(hub.get("stream").is_none());
}

#[test]
fn thinking_settings_map_to_reasoning_effort() {
    let base = |extra: Value| {
        let mut b = json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        to_hub(b).unwrap()
    };
    let effort = |extra: Value| base(extra).get("reasoning_effort").cloned();
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 31999}})),
        Some(json!("high"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})),
        Some(json!("low"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 8192}})),
        Some(json!("medium"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}})),
        Some(json!("high"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}})),
        Some(json!("low"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}})),
        Some(json!("xhigh"))
    );
    assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), None);
    assert_eq!(
        effort(json!({"output_config": {"effort": "medium"}})),
        Some(json!("medium"))
    );
    assert_eq!(effort(json!({})), None);
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [], "thinking": {"type": "sometimes"}}),
    ));
    assert!(m.contains("thinking.type"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [], "output_config": {"effort": "huge"}}),
    ));
    assert!(m.contains("output_config.effort"), "{m}");
}

#[test]
fn structured_output_metadata_and_tool_choice_map_to_hub() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false});
    for body in [
        json!({"model": "m", "messages": [], "output_format": {"type": "json_schema", "schema": schema}}),
        json!({"model": "m", "messages": [], "output_config": {"format": {"type": "json_schema", "schema": schema}}}),
    ] {
        let hub = to_hub(body).unwrap();
        assert_eq!(hub["response_format"]["type"], "json_schema");
        assert_eq!(hub["response_format"]["json_schema"]["schema"], schema);
    }
    let tools = json!([{"name": "Bash", "input_schema": {"type": "object"}}]);
    let hub = to_hub(json!({
        "model": "m", "messages": [], "tools": tools, "metadata": {"user_id": "user-42"},
        "tool_choice": {"type": "tool", "name": "Bash"}
    }))
    .unwrap();
    assert_eq!(
        hub["tool_choice"],
        json!({"type": "function", "function": {"name": "Bash"}})
    );
    assert_eq!(hub["user"], "user-42");
    let hub = to_hub(
        json!({"model": "m", "messages": [], "tools": tools, "tool_choice": {"type": "none"}}),
    )
    .unwrap();
    assert_eq!(hub["tool_choice"], "none");
    let hub = to_hub(
        json!({"model": "m", "messages": [], "tools": tools, "tool_choice": {"type": "auto"}}),
    )
    .unwrap();
    assert_eq!(hub["tool_choice"], "auto");
    assert!(hub.get("parallel_tool_calls").is_none());
    // Without tools a tool_choice means nothing to the hub.
    let hub =
        to_hub(json!({"model": "m", "messages": [], "tool_choice": {"type": "any"}})).unwrap();
    assert!(hub.get("tool_choice").is_none());
}

#[test]
fn assistant_turn_with_several_thinking_blocks_splits_and_merges_back() {
    let turn = json!([
        {"type": "thinking", "thinking": "first", "signature": "sig1"},
        {"type": "text", "text": "Looking."},
        {"type": "thinking", "thinking": "second", "signature": "sig2"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"p": 1}},
    ]);
    let hub = to_hub(json!({
        "model": "m", "max_tokens": 10,
        "tools": [{"name": "Read", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": turn},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        ]
    }))
    .unwrap();
    let msgs = hub["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 5);
    assert_eq!(msgs[1]["reasoning_content"], "first");
    assert_eq!(msgs[1]["reasoning_signature"], "sig1");
    assert_eq!(msgs[1]["content"], "Looking.");
    assert_eq!(msgs[2]["reasoning_signature"], "sig2");
    assert_eq!(msgs[2]["content"], "");
    assert_eq!(msgs[3]["redacted_reasoning"], "opaque");
    assert_eq!(
        msgs[3]["tool_calls"][0]["function"]["arguments"],
        "{\"p\":1}"
    );

    // And back: one assistant turn with the blocks in their original order.
    let back = to_claude(hub, "claude-opus-4-8").unwrap();
    let turns = back["messages"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[1]["role"], "assistant");
    assert_eq!(turns[1]["content"], turn);
    assert_eq!(turns[2]["content"][0]["tool_use_id"], "toolu_1");
}

#[test]
fn claude_request_errors_name_the_field() {
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]}),
    ));
    assert!(
        m.contains("messages[0].content[0].type") && m.contains("video"),
        "{m}"
    );
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "assistant", "content": [{"type": "hologram"}]}]}),
    ));
    assert!(m.contains("messages[0].content[0].type"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "thinking", "thinking": "x"}]}]}),
    ));
    assert!(m.contains("only allowed in assistant"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}
        ]}]}),
    ));
    assert!(m.contains("messages[0].content[0].source"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
        ]}]}),
    ));
    assert!(m.contains("Files API"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
    ));
    assert!(m.contains("messages[0].role"), "{m}");
    let m = invalid_msg(to_hub(json!({"model": "m"})));
    assert!(m.contains("messages"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "video"}]}
        ]}]}),
    ));
    assert!(m.contains("messages[0].content[0].content[0].type"), "{m}");
    let m = invalid_msg(to_hub(
        json!({"model": "m", "messages": [], "system": [{"type": "image"}]}),
    ));
    assert!(m.contains("system[0].type"), "{m}");
    assert!(matches!(
        to_hub(json!("text")),
        Err(TranslateError::InvalidRequest(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// hub request -> Claude
// ---------------------------------------------------------------------------------------------

#[test]
fn hub_request_matches_golden_claude_request() {
    let mut ctx = provider_ctx("claude-sonnet-4-5-20250929");
    let out = json_to_claude(json_fixture(fixture!("hub_request.json")), &mut ctx).unwrap();
    assert_eq!(out, json_fixture(fixture!("hub_request.claude.json")));
    // Spelled out: roles alternate, tool results open the next user turn, names are legal.
    let turns = out["messages"].as_array().unwrap();
    let roles: Vec<_> = turns.iter().map(|t| t["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(turns[2]["content"][0]["type"], "tool_result");
    assert_eq!(turns[2]["content"][1]["type"], "tool_result");
    assert_eq!(turns[2]["content"][2]["type"], "text");
    assert_eq!(
        turns[1]["content"][1]["id"],
        turns[2]["content"][1]["tool_use_id"]
    );
    let renamed = out["tools"][0]["name"].as_str().unwrap();
    assert!(
        renamed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
    assert_eq!(ctx.tool_names.client_name(renamed), "read.file");
    assert_eq!(out["system"][1]["cache_control"]["type"], "ephemeral");
    assert_eq!(out["output_config"]["format"]["type"], "json_schema");
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    // Thinking is off: the tool turn being answered carries no signed thinking block.
    assert!(out.get("thinking").is_none());
    assert_eq!(out["temperature"], 0.2);
    assert!(
        out.get("top_p").is_none(),
        "temperature and top_p are not sent together"
    );
}

#[test]
fn reasoning_effort_becomes_adaptive_or_budget_thinking() {
    let req = |effort: &str, extra: Value| {
        let mut b = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort, "temperature": 0.5});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let out = to_claude(req("high", json!({})), "claude-opus-4-8").unwrap();
    assert_eq!(out["thinking"], json!({"type": "adaptive"}));
    assert_eq!(out["output_config"]["effort"], "high");
    assert_eq!(out["max_tokens"], 32000);
    assert!(
        out.get("temperature").is_none(),
        "thinking allows no custom temperature"
    );

    let out = to_claude(req("xhigh", json!({})), "claude-sonnet-5").unwrap();
    assert_eq!(out["output_config"]["effort"], "max");

    let out = to_claude(req("low", json!({})), "claude-sonnet-4-5-20250929").unwrap();
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(out["max_tokens"], 32000);

    let out = to_claude(
        req("high", json!({"max_completion_tokens": 5000})),
        "claude-haiku-4-5-20251001",
    )
    .unwrap();
    assert_eq!(out["thinking"]["budget_tokens"], 4999);
    assert_eq!(out["max_tokens"], 5000);

    let out = to_claude(
        req("medium", json!({"max_tokens": 1000})),
        "claude-sonnet-4-20250514",
    )
    .unwrap();
    assert!(
        out.get("thinking").is_none(),
        "no room for the minimum budget"
    );
    assert_eq!(out["max_tokens"], 1000);
    assert_eq!(out["temperature"], 0.5);

    let out = to_claude(req("high", json!({})), "claude-3-5-sonnet-20241022").unwrap();
    assert!(out.get("thinking").is_none());
    assert_eq!(out["max_tokens"], 8192);

    let out = to_claude(req("none", json!({})), "claude-opus-4-8").unwrap();
    assert!(out.get("thinking").is_none());

    let out = to_claude(
        req("high", json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"})),
        "claude-opus-4-8",
    )
    .unwrap();
    assert!(
        out.get("thinking").is_none(),
        "a forced tool rules out thinking"
    );
    assert_eq!(out["tool_choice"], json!({"type": "any"}));

    let m = invalid_msg(to_claude(req("extreme", json!({})), "claude-opus-4-8"));
    assert!(m.contains("reasoning_effort"), "{m}");
}

#[test]
fn thinking_modes_follow_the_model_generation() {
    for (model, mode) in [
        ("claude-opus-4-8", ThinkingMode::Adaptive),
        ("claude-opus-4-6", ThinkingMode::Adaptive),
        ("anthropic.claude-sonnet-4-6", ThinkingMode::Adaptive),
        ("claude-sonnet-5", ThinkingMode::Adaptive),
        ("claude-mythos-5-1", ThinkingMode::Adaptive),
        ("claude-sonnet-4-5-20250929", ThinkingMode::Budget),
        ("claude-sonnet-4-20250514", ThinkingMode::Budget),
        ("claude-haiku-4-5-20251001", ThinkingMode::Budget),
        ("claude-3-7-sonnet-20250219", ThinkingMode::Budget),
        ("claude-3-5-sonnet-20241022", ThinkingMode::Unsupported),
        ("claude-3-haiku-20240307", ThinkingMode::Unsupported),
        ("glm-4.6", ThinkingMode::Budget),
    ] {
        assert_eq!(thinking_mode(model), mode, "{model}");
    }
}

#[test]
fn signed_reasoning_is_replayed_and_unsigned_reasoning_dropped() {
    let body = json!({
        "model": "x", "reasoning_effort": "high",
        "tools": [{"type": "function", "function": {"name": "Bash", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "reasoning_content": "think", "reasoning_signature": "SIG",
             "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a b"},
        ]
    });
    let out = to_claude(body.clone(), "claude-opus-4-8").unwrap();
    let turn = &out["messages"][1]["content"];
    assert_eq!(
        turn[0],
        json!({"type": "thinking", "thinking": "think", "signature": "SIG"})
    );
    assert_eq!(turn[1]["type"], "tool_use");
    assert_eq!(turn[1]["input"], json!({"command": "ls"}));
    assert_eq!(
        out["thinking"]["type"], "adaptive",
        "the tool turn starts with thinking"
    );

    let mut unsigned = body;
    unsigned["messages"][1]
        .as_object_mut()
        .unwrap()
        .remove("reasoning_signature");
    unsigned["messages"][1]["redacted_reasoning"] = json!("R");
    let out = to_claude(unsigned, "claude-opus-4-8").unwrap();
    let turn = &out["messages"][1]["content"];
    assert_eq!(turn[0], json!({"type": "redacted_thinking", "data": "R"}));
    assert_eq!(turn.as_array().unwrap().len(), 2);
}

#[test]
fn consecutive_roles_merge_and_prefill_is_trimmed() {
    let out = to_claude(
        json!({"model": "x", "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": "   "}]},
            {"role": "system", "content": "late system"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": "d  \n"},
        ]}),
        "claude-sonnet-4-5",
    )
    .unwrap();
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
        ])
    );
    assert_eq!(out["system"], "late system");
    assert_eq!(out["max_tokens"], 8192);
}

#[test]
fn hub_request_edge_cases() {
    // JSON mode becomes an instruction.
    let out = to_claude(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}, "stop": "STOP", "top_p": 0.5}),
        "claude-sonnet-4-5",
    )
    .unwrap();
    assert!(out["system"].as_str().unwrap().contains("JSON"));
    assert_eq!(out["stop_sequences"], json!(["STOP"]));
    assert_eq!(out["top_p"], 0.5);
    // Tool history without tool definitions is replayed as text.
    let out = to_claude(
        json!({"model": "x", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]}),
        "claude-sonnet-4-5",
    )
    .unwrap();
    let text = serde_json::to_string(&out["messages"]).unwrap();
    assert!(
        !text.contains("tool_use") && !text.contains("tool_result"),
        "{text}"
    );
    assert!(text.contains("done"));
    // Tool results with images keep them as blocks; cache_control moves to the result.
    let out = to_claude(
        json!({"model": "x", "tools": [{"type": "function", "function": {"name": "shot"}}], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "shot", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [
                {"type": "text", "text": "see", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]},
        ]}),
        "claude-sonnet-4-5",
    )
    .unwrap();
    let result = &out["messages"][2]["content"][0];
    assert_eq!(result["cache_control"]["type"], "ephemeral");
    assert_eq!(result["content"][1]["source"]["data"], "AAAA");
    assert_eq!(out["messages"][1]["content"][0]["input"], json!({}));
    assert_eq!(
        out["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
    // Errors.
    let m = invalid_msg(to_claude(
        json!({"model": "x", "messages": []}),
        "claude-sonnet-4-5",
    ));
    assert!(m.contains("messages"), "{m}");
    let m = invalid_msg(to_claude(
        json!({"model": "x", "n": 3, "messages": [{"role": "user", "content": "hi"}]}),
        "c",
    ));
    assert!(m.contains("n:"), "{m}");
    let m = invalid_msg(to_claude(
        json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
        "c",
    ));
    assert!(m.contains("messages[0].content[0].type"), "{m}");
    let m = invalid_msg(to_claude(
        json!({"model": "x", "tools": [{"type": "custom", "custom": {"name": "p"}}], "messages": [{"role": "user", "content": "hi"}]}),
        "c",
    ));
    assert!(m.contains("tools[0].type"), "{m}");
    let m = invalid_msg(to_claude(
        json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]}),
        "c",
    ));
    assert!(m.contains("file_data"), "{m}");
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn claude_message_becomes_hub_completion() {
    let mut ctx = client_ctx();
    ctx.tool_names.insert("read.file", "Read");
    let hub =
        claude_response_to_hub(json_fixture(fixture!("response_message.json")), &ctx).unwrap();
    assert_eq!(hub["object"], "chat.completion");
    assert_eq!(hub["id"], "msg_01Aq9w938a90dw8q");
    let msg = &hub["choices"][0]["message"];
    assert_eq!(msg["content"], "I'll read the file.");
    assert_eq!(msg["reasoning_content"], "I should look at the file first.");
    assert_eq!(msg["reasoning_signature"], "EqoBCkgIARABGAIiQL2m0yQSig==");
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls[0]["id"], "toolu_01D7FLrfh4GYq7yT1ULFeyMV");
    assert_eq!(
        calls[0]["function"]["name"], "read.file",
        "renamed tool restored"
    );
    assert_eq!(
        serde_json::from_str::<Value>(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"file_path": "/etc/hosts"})
    );
    assert_eq!(calls[1]["function"]["arguments"], "{}");
    assert_eq!(hub["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        hub["usage"],
        json!({
            "prompt_tokens": 4050, "completion_tokens": 120, "total_tokens": 4170,
            "prompt_tokens_details": {"cached_tokens": 3000, "cache_creation_tokens": 1000}
        })
    );
}

#[test]
fn claude_stop_reasons_map_to_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("stop_sequence", "stop"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ] {
        let hub = claude_response_to_hub(
            json!({"id": "msg_1", "type": "message", "content": [{"type": "text", "text": "x"}], "stop_reason": stop, "usage": {"input_tokens": 1, "output_tokens": 1}}),
            &client_ctx(),
        )
        .unwrap();
        assert_eq!(hub["choices"][0]["finish_reason"], finish, "{stop}");
    }
    let multi = claude_response_to_hub(
        json!({"content": [
            {"type": "thinking", "thinking": "a", "signature": "s1"},
            {"type": "thinking", "thinking": "b", "signature": "s2"},
            {"type": "text", "text": "x"}
        ]}),
        &client_ctx(),
    )
    .unwrap();
    let msg = &multi["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], "ab");
    assert!(
        msg.get("reasoning_signature").is_none(),
        "two signatures cannot ride on one message"
    );
    let err = claude_response_to_hub(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        &client_ctx(),
    );
    assert!(matches!(err, Err(TranslateError::BadUpstream(m)) if m.contains("overloaded_error")));
    assert!(matches!(
        claude_response_to_hub(json!({"id": 1}), &client_ctx()),
        Err(TranslateError::BadUpstream(_))
    ));
}

#[test]
fn hub_completion_becomes_claude_message() {
    let out =
        hub_response_to_claude(json_fixture(fixture!("hub_response.json")), &client_ctx()).unwrap();
    assert_eq!(out["id"], "msg_CjxQ7a1b2c3d4e5f");
    assert_eq!(out["type"], "message");
    assert_eq!(out["role"], "assistant");
    assert_eq!(out["model"], "gpt-5.5");
    assert_eq!(
        out["content"],
        json!([
            {"type": "text", "text": "Reading both files."},
            {"type": "tool_use", "id": "call_DdmNVa6TtCw1Ok8wZJxTlN3k", "name": "Read", "input": {"file_path": "/a"}},
            {"type": "tool_use", "id": "call_4kJ2mUe8QdL0vVZq3Ww9XyAb", "name": "Read", "input": {"file_path": "/b"}},
        ])
    );
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["stop_sequence"], Value::Null);
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 464, "cache_read_input_tokens": 1536, "cache_creation_input_tokens": 0, "output_tokens": 60})
    );
}

#[test]
fn hub_completion_reasoning_and_finish_reasons() {
    let resp = |message: Value, finish: &str| {
        hub_response_to_claude(
            json!({"id": "x", "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": finish}]}),
            &client_ctx(),
        )
        .unwrap()
    };
    let out = resp(
        json!({"role": "assistant", "content": "4", "reasoning_content": "2+2", "reasoning_signature": "S", "redacted_reasoning": "R"}),
        "length",
    );
    assert_eq!(
        out["content"],
        json!([
            {"type": "thinking", "thinking": "2+2", "signature": "S"},
            {"type": "redacted_thinking", "data": "R"},
            {"type": "text", "text": "4"},
        ])
    );
    assert_eq!(out["stop_reason"], "max_tokens");
    assert_eq!(out["usage"]["output_tokens"], 0);
    assert_eq!(
        resp(json!({"content": "no"}), "content_filter")["stop_reason"],
        "refusal"
    );
    assert_eq!(
        resp(json!({"content": "ok"}), "stop")["stop_reason"],
        "end_turn"
    );
    let out = resp(
        json!({"content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "not json"}}]}),
        "stop",
    );
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["content"][0]["input"], json!({}));
    assert!(
        out["content"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_")
    );
    assert!(matches!(
        hub_response_to_claude(json!({"error": {"message": "boom"}}), &client_ctx()),
        Err(TranslateError::BadUpstream(_))
    ));
    assert!(matches!(
        hub_response_to_claude(json!({"choices": []}), &client_ctx()),
        Err(TranslateError::BadUpstream(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Streams: Claude -> hub
// ---------------------------------------------------------------------------------------------

fn claude_sse_to_hub(text: &str, ctx: &TranslateCtx) -> Vec<StreamEvent> {
    let mut stage = claude_stream_to_hub(ctx);
    run_stage(stage.as_mut(), parse_sse_text(text).unwrap()).unwrap()
}

#[test]
fn claude_text_stream_to_hub() {
    let out = claude_sse_to_hub(fixture!("stream_text.sse"), &client_ctx());
    let f = fold_hub(&out);
    assert_eq!(out[0].data["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(f.roles, 1);
    assert_eq!(f.content, "Hello, world — ünïcödé!");
    assert_eq!(f.finishes, ["stop"]);
    assert_eq!(
        f.usages,
        [json!({
            "prompt_tokens": 2160, "completion_tokens": 15, "total_tokens": 2175,
            "prompt_tokens_details": {"cached_tokens": 2048, "cache_creation_tokens": 100}
        })]
    );
    assert!(
        out.last().unwrap().data.get("usage").is_some(),
        "usage chunk is last"
    );
    assert!(
        out.iter()
            .all(|e| e.data["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL")
    );
}

#[test]
fn claude_parallel_tool_stream_to_hub() {
    let mut ctx = client_ctx();
    ctx.tool_names
        .insert("mcp__srv__Read File", "mcp__srv__Read_File");
    let out = claude_sse_to_hub(fixture!("stream_tool_use.sse"), &ctx);
    let f = fold_hub(&out);
    assert_eq!(f.content, "Let me check both.");
    assert_eq!(
        f.tools,
        [
            (
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6".to_owned(),
                "Bash".to_owned(),
                "{\"command\": \"echo hi\", \"description\": \"Say hi\"}".to_owned()
            ),
            (
                "toolu_01ABCDeFGhiJKlmNOPqrsTUv".to_owned(),
                "mcp__srv__Read File".to_owned(),
                "{\"path\": \"/tmp/a.txt\"}".to_owned()
            ),
            (
                "toolu_01NoArgsNoArgsNoArgs0000".to_owned(),
                "TaskList".to_owned(),
                "{}".to_owned()
            ),
        ]
    );
    assert_eq!(f.finishes, ["tool_calls"]);
    assert_eq!(f.usages.len(), 1);
    assert_eq!(f.usages[0]["prompt_tokens"], 472);
    assert_eq!(f.usages[0]["completion_tokens"], 89);
}

#[test]
fn claude_thinking_stream_to_hub() {
    let out = claude_sse_to_hub(fixture!("stream_thinking.sse"), &client_ctx());
    let f = fold_hub(&out);
    assert_eq!(f.reasoning, "The user greets me. A short reply will do.");
    assert_eq!(f.signatures.len(), 1);
    assert!(f.signatures[0].starts_with("EqQBCgIYAhIM"));
    assert_eq!(f.redacted.len(), 1);
    assert_eq!(f.content, "Hi!");
    assert_eq!(f.finishes, ["stop"]);
    assert_eq!(f.usages[0]["completion_tokens"], 42);
}

#[test]
fn claude_error_event_fails_the_stream_and_fail_emits_an_openai_error() {
    let mut stage = claude_stream_to_hub(&client_ctx());
    let mut out = Vec::new();
    let mut result = Ok(());
    for ev in parse_sse_text(fixture!("stream_error.sse")).unwrap() {
        result = stage.push(ev, &mut out);
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(&result, Err(TranslateError::BadUpstream(m)) if m.contains("overloaded_error") && m.contains("Overloaded"))
    );
    assert_eq!(fold_hub(&out).content, "Partial");
    let err = ApiError::new(529, ErrorKind::Overloaded, "Overloaded");
    let mut tail = Vec::new();
    stage.fail(&err, &mut tail);
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].data["error"]["type"], "overloaded_error");
    assert_eq!(tail[0].data["error"]["message"], "Overloaded");
    let mut after = Vec::new();
    stage.finish(&mut after).unwrap();
    assert!(after.is_empty(), "nothing after the error");
}

#[test]
fn claude_stream_cut_after_message_delta_finishes_once() {
    let events = parse_sse_text(fixture!("stream_text.sse")).unwrap();
    let cut: Vec<_> = events
        .into_iter()
        .filter(|e| e.event.as_deref() != Some("message_stop"))
        .collect();
    let mut stage = claude_stream_to_hub(&client_ctx());
    let mut out = run_stage(stage.as_mut(), cut).unwrap();
    stage.finish(&mut out).unwrap();
    let f = fold_hub(&out);
    assert_eq!(f.finishes, ["stop"]);
    assert_eq!(f.usages.len(), 1);
    // Without a message_delta at all, the finish reason follows what was seen.
    let mut stage = claude_stream_to_hub(&client_ctx());
    let out = run_stage(
        stage.as_mut(),
        vec![
            StreamEvent::named("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 3}}})),
            StreamEvent::named("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "n", "input": {}}})),
        ],
    )
    .unwrap();
    let f = fold_hub(&out);
    assert_eq!(f.finishes, ["tool_calls"]);
    assert_eq!(f.usages.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Streams: hub -> Claude
// ---------------------------------------------------------------------------------------------

fn hub_sse_to_claude(text: &str) -> Vec<StreamEvent> {
    let mut stage = hub_stream_to_claude(&client_ctx());
    run_stage(stage.as_mut(), parse_sse_text(text).unwrap()).unwrap()
}

#[test]
fn hub_parallel_tool_stream_to_claude() {
    let out = hub_sse_to_claude(fixture!("hub_stream_tools.sse"));
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let msg = fold_claude(&out);
    assert_eq!(msg["id"], "msg_BxQ9tools");
    assert_eq!(
        msg["content"],
        json!([
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "call_DdmNVa6TtCw1Ok8wZJxTlN3k", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "call_4kJ2mUe8QdL0vVZq3Ww9XyAb", "name": "Read", "input": {"file_path": "/etc/hosts"}},
        ])
    );
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(
        msg["usage"],
        json!({"input_tokens": 176, "cache_read_input_tokens": 1024, "cache_creation_input_tokens": 0, "output_tokens": 48})
    );
}

#[test]
fn hub_reasoning_stream_to_claude() {
    let out = hub_sse_to_claude(fixture!("hub_stream_reasoning.sse"));
    let msg = fold_claude(&out);
    assert_eq!(
        msg["content"],
        json!([
            {"type": "thinking", "thinking": "Two plus two is four.", "signature": ""},
            {"type": "text", "text": "4"},
        ])
    );
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_eq!(msg["usage"]["input_tokens"], 20);
    assert_eq!(msg["usage"]["output_tokens"], 12);
    // The unsigned thinking block still ends with a (empty) signature_delta.
    assert!(
        out.iter()
            .any(|e| e.data["delta"]["type"] == "signature_delta")
    );
}

#[test]
fn hub_signed_reasoning_and_redacted_stream_to_claude() {
    let mut stage = hub_stream_to_claude(&client_ctx());
    let out = run_stage(
        stage.as_mut(),
        vec![
            hub_chunk(
                json!({"role": "assistant", "reasoning_content": "hmm"}),
                Value::Null,
            ),
            hub_chunk(
                json!({"reasoning_content": " ok", "reasoning_signature": "SIG1"}),
                Value::Null,
            ),
            hub_chunk(json!({"reasoning_content": "again"}), Value::Null),
            hub_chunk(json!({"reasoning_signature": "SIG2"}), Value::Null),
            hub_chunk(json!({"redacted_reasoning": "RED"}), Value::Null),
            hub_chunk(json!({"content": "done"}), json!("stop")),
        ],
    )
    .unwrap();
    let msg = fold_claude(&out);
    assert_eq!(
        msg["content"],
        json!([
            {"type": "thinking", "thinking": "hmm ok", "signature": "SIG1"},
            {"type": "thinking", "thinking": "again", "signature": "SIG2"},
            {"type": "redacted_thinking", "data": "RED"},
            {"type": "text", "text": "done"},
        ])
    );
    assert_eq!(msg["stop_reason"], "end_turn");
    assert!(
        msg["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "estimated when not reported"
    );
}

#[test]
fn hub_interleaved_and_index_reusing_tool_calls_keep_one_block_per_call() {
    let call = |index: Value, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut c = json!({"function": {"arguments": args}});
        if !index.is_null() {
            c["index"] = index;
        }
        if let Some(id) = id {
            c["id"] = json!(id);
            c["type"] = json!("function");
        }
        if let Some(n) = name {
            c["function"]["name"] = json!(n);
        }
        c
    };
    let mut stage = hub_stream_to_claude(&client_ctx());
    let out = run_stage(
        stage.as_mut(),
        vec![
            hub_chunk(json!({"tool_calls": [call(json!(0), Some("a"), Some("A"), "{\"x\":")]}), Value::Null),
            hub_chunk(json!({"tool_calls": [call(json!(1), Some("b"), Some("B"), "{\"y\":")]}), Value::Null),
            hub_chunk(json!({"tool_calls": [call(json!(0), None, None, "1}")]}), Value::Null),
            hub_chunk(json!({"tool_calls": [call(json!(1), None, None, "2}")]}), Value::Null),
            // A provider that reuses index 0 for each call, and one that sends no index.
            hub_chunk(json!({"tool_calls": [call(json!(0), Some("c"), Some("C"), "{}")]}), Value::Null),
            hub_chunk(json!({"tool_calls": [call(Value::Null, Some("d"), Some("D"), "{\"z\":3}")]}), Value::Null),
            hub_chunk(json!({}), json!("tool_calls")),
            StreamEvent::hub(json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}})),
        ],
    )
    .unwrap();
    let msg = fold_claude(&out);
    let content = msg["content"].as_array().unwrap();
    let summary: Vec<_> = content
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap(),
                b["name"].as_str().unwrap(),
                b["input"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a", "A", json!({"x": 1})),
            ("b", "B", json!({"y": 2})),
            ("c", "C", json!({})),
            ("d", "D", json!({"z": 3})),
        ]
    );
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(msg["usage"]["output_tokens"], 7);
}

#[test]
fn hub_stream_finish_without_usage_and_empty_streams_close_once() {
    let mut stage = hub_stream_to_claude(&client_ctx());
    let mut out = run_stage(
        stage.as_mut(),
        vec![hub_chunk(json!({"content": "cut"}), json!("length"))],
    )
    .unwrap();
    stage.finish(&mut out).unwrap();
    let mut late = Vec::new();
    stage
        .push(
            hub_chunk(json!({"content": "late"}), Value::Null),
            &mut late,
        )
        .unwrap();
    assert!(late.is_empty(), "nothing after message_stop");
    let msg = fold_claude(&out);
    assert_eq!(msg["stop_reason"], "max_tokens");
    assert_eq!(msg["content"][0]["text"], "cut");

    let mut stage = hub_stream_to_claude(&client_ctx());
    let out = run_stage(stage.as_mut(), Vec::new()).unwrap();
    assert_eq!(
        names(&out),
        ["message_start", "message_delta", "message_stop"]
    );
    fold_claude(&out);

    // Usage in the same chunk as the finish reason closes right away.
    let mut stage = hub_stream_to_claude(&client_ctx());
    let mut out = Vec::new();
    let mut ev = hub_chunk(json!({"content": "x"}), json!("stop"));
    ev.data["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 1});
    stage.push(ev, &mut out).unwrap();
    assert_eq!(names(&out).last(), Some(&"message_stop"));
    stage.finish(&mut out).unwrap();
    fold_claude(&out);
}

#[test]
fn hub_stream_fail_ends_with_one_anthropic_error_event() {
    let mut stage = hub_stream_to_claude(&client_ctx());
    let mut out = Vec::new();
    stage
        .push(
            hub_chunk(json!({"content": "partial"}), Value::Null),
            &mut out,
        )
        .unwrap();
    let err = ApiError::new(429, ErrorKind::RateLimited, "slow down");
    stage.fail(&err, &mut out);
    stage.fail(&err, &mut out);
    stage.finish(&mut out).unwrap();
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    let last = out.last().unwrap();
    assert_eq!(
        last.data,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );

    // An error object inside the hub stream becomes the same kind of event.
    let mut stage = hub_stream_to_claude(&client_ctx());
    let out = run_stage(
        stage.as_mut(),
        vec![StreamEvent::hub(
            json!({"error": {"message": "upstream exploded", "type": "server_error"}}),
        )],
    )
    .unwrap();
    assert_eq!(names(&out), ["error"]);
    assert_eq!(out[0].data["error"]["message"], "upstream exploded");

    // After a normal end, fail adds nothing.
    let mut stage = hub_stream_to_claude(&client_ctx());
    let mut out = run_stage(
        stage.as_mut(),
        vec![hub_chunk(json!({"content": "x"}), json!("stop"))],
    )
    .unwrap();
    let n = out.len();
    stage.fail(&err, &mut out);
    assert_eq!(out.len(), n);
}

#[test]
fn claude_stream_round_trips_through_the_hub() {
    // provider Claude -> hub -> client Claude: the client sees the provider's message.
    for text in [
        fixture!("stream_tool_use.sse"),
        fixture!("stream_thinking.sse"),
        fixture!("stream_text.sse"),
    ] {
        let ctx = client_ctx();
        let hub = claude_sse_to_hub(text, &ctx);
        let mut back = hub_stream_to_claude(&ctx);
        let out = run_stage(back.as_mut(), hub).unwrap();
        let msg = fold_claude(&out);
        let original = parse_sse_text(text).unwrap();
        let mut blocks: Vec<Value> = Vec::new();
        let mut partial: HashMap<usize, String> = HashMap::new();
        for e in &original {
            match e.data["type"].as_str().unwrap() {
                "content_block_start" => blocks.push(e.data["content_block"].clone()),
                "content_block_delta" => {
                    let i = e.data["index"].as_u64().unwrap() as usize;
                    let d = &e.data["delta"];
                    let b = &mut blocks[i];
                    for (key, field) in [
                        ("text", "text"),
                        ("thinking", "thinking"),
                        ("signature", "signature"),
                    ] {
                        if let Some(t) = d[key].as_str() {
                            b[field] = json!(format!("{}{}", b[field].as_str().unwrap_or(""), t));
                        }
                    }
                    if let Some(p) = d["partial_json"].as_str() {
                        partial.entry(i).or_default().push_str(p);
                    }
                }
                _ => {}
            }
        }
        for (i, p) in partial {
            blocks[i]["input"] = serde_json::from_str(&p).unwrap();
        }
        assert_eq!(msg["content"], Value::Array(blocks));
        let stop = original
            .iter()
            .find_map(|e| e.data["delta"]["stop_reason"].as_str())
            .unwrap();
        assert_eq!(msg["stop_reason"], stop);
        assert_eq!(msg["id"], original[0].data["message"]["id"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests: arbitrary JSON never panics
// ---------------------------------------------------------------------------------------------

const WORDS: &[&str] = &[
    "type",
    "index",
    "delta",
    "content_block",
    "content",
    "role",
    "text",
    "thinking",
    "signature",
    "data",
    "tool_use",
    "tool_result",
    "tool_use_id",
    "id",
    "name",
    "input",
    "partial_json",
    "message",
    "usage",
    "input_tokens",
    "output_tokens",
    "stop_reason",
    "choices",
    "tool_calls",
    "function",
    "arguments",
    "finish_reason",
    "reasoning_content",
    "reasoning_signature",
    "redacted_reasoning",
    "image",
    "image_url",
    "url",
    "source",
    "base64",
    "media_type",
    "document",
    "file",
    "file_data",
    "system",
    "user",
    "assistant",
    "tool",
    "tool_call_id",
    "messages",
    "tools",
    "tool_choice",
    "auto",
    "any",
    "none",
    "required",
    "stream",
    "model",
    "max_tokens",
    "budget_tokens",
    "enabled",
    "adaptive",
    "output_config",
    "effort",
    "high",
    "reasoning_effort",
    "response_format",
    "json_schema",
    "schema",
    "cache_control",
    "is_error",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "redacted_thinking",
    "error",
    "ping",
    "prompt_tokens",
    "stop",
    "parameters",
    "input_schema",
    "data:image/png;base64,AA",
    "https://x",
    "claude-opus-4-8",
    "{\"a\":1}",
];

fn arb_word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => ".{0,6}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..5).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        arb_word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(arb_word(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_event() -> impl Strategy<Value = StreamEvent> {
    (proptest::option::of(arb_word()), arb_json()).prop_map(|(name, data)| StreamEvent {
        event: name.map(std::borrow::Cow::Owned),
        data: data.into(),
    })
}

fn check_hub_to_claude_protocol(out: &[StreamEvent]) {
    // Whatever the input, a hub -> Claude stream never stops a block twice and ends once.
    let mut stopped = std::collections::HashSet::new();
    let mut ends = 0;
    for e in out {
        match e.event.as_deref() {
            Some("content_block_stop") => {
                assert!(
                    stopped.insert(e.data["index"].as_u64().unwrap()),
                    "block stopped twice"
                );
            }
            Some("message_stop" | "error") => ends += 1,
            _ => {}
        }
    }
    assert_eq!(ends, 1, "exactly one message_stop or error");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn claude_to_hub_stage_never_panics(events in proptest::collection::vec(arb_event(), 0..24)) {
        let mut stage = claude_stream_to_hub(&client_ctx());
        let mut out = Vec::new();
        for ev in events {
            if stage.push(ev, &mut out).is_err() {
                break;
            }
        }
        stage.finish(&mut out).unwrap();
        stage.fail(&ApiError::bad_gateway("x"), &mut out);
        let finishes = out
            .iter()
            .filter(|e| e.data["choices"][0]["finish_reason"].is_string())
            .count();
        prop_assert!(finishes <= 1);
    }

    #[test]
    fn hub_to_claude_stage_never_panics(events in proptest::collection::vec(arb_event(), 0..24), fail in any::<bool>()) {
        let mut stage = hub_stream_to_claude(&client_ctx());
        let mut out = Vec::new();
        for ev in events {
            stage.push(ev, &mut out).unwrap();
        }
        if fail {
            stage.fail(&ApiError::bad_gateway("x"), &mut out);
        }
        stage.finish(&mut out).unwrap();
        stage.fail(&ApiError::bad_gateway("x"), &mut out);
        check_hub_to_claude_protocol(&out);
    }

    #[test]
    fn translators_never_panic_on_arbitrary_json(body in arb_json(), model in arb_word()) {
        let _ = claude_request_to_hub(body.clone(), &mut client_ctx());
        let _ = json_to_claude(body.clone(), &mut provider_ctx(&model));
        let _ = claude_response_to_hub(body.clone(), &client_ctx());
        let _ = hub_response_to_claude(body, &client_ctx());
    }

    #[test]
    fn translators_never_panic_on_shaped_requests(
        messages in proptest::collection::vec(arb_json(), 0..6),
        extra in proptest::collection::btree_map(arb_word(), arb_json(), 0..6),
        model in arb_word(),
    ) {
        let mut body = json!({"model": model, "messages": messages});
        for (k, v) in extra {
            body[k] = v;
        }
        let _ = claude_request_to_hub(body.clone(), &mut client_ctx());
        let _ = json_to_claude(body, &mut provider_ctx(&model));
    }
}

/// The typed Claude -> hub stage gives the same bytes whether the decoder hands it the
/// events' JSON text (read into borrowed structs) or parsed `Value`s (read field by field),
/// ill-typed fields included.
#[test]
fn claude_stream_reads_text_and_values_alike() {
    use crate::framing::{Decoder, SseDecoder};
    let odd = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":\"0\",\"delta\":{\"type\":\"text_delta\",\"text\":7}}\n\n";
    for sse in [
        include_str!("../../../tests/fixtures/claude/stream_tool_use.sse"),
        include_str!("../../../tests/fixtures/claude/stream_thinking.sse"),
        include_str!("../../../tests/fixtures/claude/stream_text.sse"),
        odd,
    ] {
        let run = |keep_text: bool| {
            let ctx = TranslateCtx::new(Format::OpenAi, Format::Claude, "claude", true);
            let mut stage = claude_stream_to_hub(&ctx);
            assert!(stage.reads_text());
            let mut d = SseDecoder::default();
            d.keep_text(keep_text);
            d.push(sse.as_bytes());
            let mut events = Vec::new();
            while let Some(ev) = d.next_event() {
                let ev = ev.unwrap();
                assert_eq!(ev.data.text().is_some(), keep_text);
                stage.push(ev, &mut events).unwrap();
            }
            stage.finish(&mut events).unwrap();
            let mut wire = Vec::new();
            for ev in &events {
                // Stamped at creation: compare everything else.
                let mut v: Value = (*ev.data).clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("created");
                }
                wire.push(v);
            }
            wire
        };
        let text = run(true);
        assert!(!text.is_empty() || sse == odd);
        assert_eq!(text, run(false));
    }
}

/// The end of a Claude stream is found alike whether the event is its wire text or a
/// `Value`; the deltas that make up a stream are scanned, not parsed into a `Value`.
#[test]
fn stream_end_reads_alike_from_text_and_value() {
    use super::stream::ends_stream;
    let cases: [(&'static str, &str, bool); 8] = [
        ("message_stop", r#"{"type":"message_stop"}"#, true),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
            true,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":null}}"#,
            false,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
            false,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"message_stop"}}"#,
            false,
        ),
        // The name counts when the data has no type; an escape spells the type.
        ("message_stop", "{}", true),
        ("ping", r#"{"type":"message\u005fstop"}"#, true),
        ("ping", r#"{"type":"ping"}"#, false),
    ];
    for (name, data, ends) in cases {
        let value: Value = serde_json::from_str(data).unwrap();
        let text = StreamEvent::named_text(name, data.to_owned());
        assert_eq!(ends_stream(&text), ends, "{name} {data}");
        assert_eq!(
            ends_stream(&StreamEvent::named(name, value)),
            ends,
            "{name} {data}"
        );
    }
    let delta = StreamEvent::named_text(
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#
            .to_owned(),
    );
    assert!(!ends_stream(&delta));
    assert!(!delta.data.value_built());
}
