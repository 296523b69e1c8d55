//! The `responses` format (OpenAI Responses API, Codex) declared in one place: its
//! translators, its error events, where its answers carry usage, its output limit, its
//! routes (with Codex's WebSocket), how its streams end, its family (signatures, hosted
//! tools) and the client headers it forwards.

use serde_json::{Value, json};

use super::{request, response, stream, usage_to_hub};
use crate::error::{ApiError, ErrorShape};
use crate::format::Format;
use crate::hosted::{HostedTools, WEB_SEARCH, WebSearch};
use crate::operation::Operation;
use crate::provenance::{self, Family};
use crate::registry::Translator;
use crate::stream::StreamEvent;
use crate::usage::{Usage, UsageReading};
use crate::wire::{ClientHeader, Route, RouteKind, Routes, StreamEnd, WireFormat};

inventory::submit! {
    WireFormat {
        format: Format::Responses,
        translators: &[
            Translator::new(Format::Responses, Format::OpenAi)
                .request_into_hub(request::responses_into_hub)
                .response(response::responses_to_hub)
                .stream(stream::responses_to_hub),
            Translator::new(Format::OpenAi, Format::Responses)
                .request_out_of_hub(request::hub_to_responses)
                .response(response::hub_to_responses)
                .stream(stream::hub_to_responses),
        ],
        errors: ErrorShape {
            body: ErrorShape::OPENAI.body,
            stream_event: Some(error_event),
            stream_end: Some(failed_event),
        },
        usage: UsageReading {
            from_response: |body| {
                body.get("usage")
                    .and_then(usage_to_hub)
                    .and_then(|h| Usage::from_openai(&h))
            },
            event_may_carry: |event, _| is_last_event(event),
            from_event: |data, _| {
                data.pointer("/response/usage")
                    .and_then(usage_to_hub)
                    .and_then(|h| Usage::from_openai(&h))
            },
        },
        routes: Routes {
            paths: &[Route {
                paths: &["/v1/responses", "/responses"],
                kind: RouteKind::Generate,
                op: Operation::Chat,
                // Codex's transport: the same requests over a WebSocket.
                websocket: true,
            }],
            ..Routes::NONE
        },
        openai_stream: false,
        max_tokens_at: &["/max_output_tokens"],
        stream_end: StreamEnd {
            ends: Some(|ev| {
                let kind = ev.data.get("type").and_then(Value::as_str).or(ev.event.as_deref());
                is_last_event(kind)
            }),
            name: "response.completed",
            last: |ev| is_last_event(ev.event.as_deref()),
            whole: None,
        },
        family: Family::OPENAI,
        hosted: Some(HostedTools { kind_of: hosted_kind, web_search, tools_in: "" }),
        strip_foreign: Some(provenance::strip_responses),
        client_headers: &[ClientHeader { name: "openai-beta", flags: true }],
    }
}

/// The events that end a Responses stream, the only ones that report usage.
fn is_last_event(event: Option<&str>) -> bool {
    matches!(
        event,
        Some("response.completed" | "response.incomplete" | "response.failed")
    )
}

fn error_code(e: &ApiError) -> &'static str {
    e.code.unwrap_or(e.kind.openai_type())
}

fn error_event(e: &ApiError) -> StreamEvent {
    StreamEvent::named(
        "error",
        json!({
            "type": "error",
            "code": error_code(e),
            "message": e.message,
            "param": Value::Null,
        }),
    )
}

/// A Responses client (Codex) ignores a bare `error` event and waits for `response.*` to
/// end the turn, so a broken stream ends with `response.failed`.
fn failed_event(e: &ApiError) -> StreamEvent {
    StreamEvent::named(
        "response.failed",
        json!({
            "type": "response.failed",
            "response": {
                "id": "resp_switchyard_failed",
                "object": "response",
                "created_at": crate::clock::now_secs(),
                "status": "failed",
                "error": {
                    "code": error_code(e),
                    "message": e.message,
                },
                "incomplete_details": Value::Null,
                "output": [],
            },
        }),
    )
}

/// OpenAI's hosted tools, by `type` (web search in its dated variants too).
fn hosted_kind(tool: &Value) -> Option<&'static str> {
    let ty = tool.get("type").and_then(Value::as_str)?;
    if ty.starts_with("web_search") {
        Some(WEB_SEARCH)
    } else {
        ["file_search", "code_interpreter", "image_generation"]
            .into_iter()
            .find(|k| *k == ty)
    }
}

fn web_search(search: &WebSearch) -> Value {
    let mut t = serde_json::Map::new();
    t.insert("type".into(), "web_search".into());
    if let Some(d) = &search.allowed_domains {
        t.insert("filters".into(), json!({"allowed_domains": d}));
    }
    if let Some(l) = &search.user_location {
        t.insert("user_location".into(), l.clone());
    }
    Value::Object(t)
}
