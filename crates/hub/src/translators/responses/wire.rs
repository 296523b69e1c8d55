//! The `responses` format (OpenAI Responses API, Codex) declared in one place: its
//! translators, its error events, where its answers carry usage, its output limit and its
//! routes.

use serde_json::{Value, json};

use super::{request, response, stream, usage_to_hub};
use crate::error::{ApiError, ErrorShape};
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::Translator;
use crate::stream::StreamEvent;
use crate::usage::{Usage, UsageReading};
use crate::wire::{Route, RouteKind, Routes, WireFormat};

inventory::submit! {
    WireFormat {
        format: Format::Responses,
        translators: &[
            Translator::new(Format::Responses, Format::OpenAi)
                .request(request::responses_to_hub)
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
            }],
            model_paths: &[],
        },
        openai_stream: false,
        max_tokens_at: &["/max_output_tokens"],
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
