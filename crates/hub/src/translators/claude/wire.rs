//! The `claude` format (Anthropic Messages) declared in one place: its translators, its
//! error body, where its answers carry usage, its output limit and its routes.

use serde_json::{Value, json};

use super::{request, response, stream, usage_to_hub};
use crate::error::{ApiError, ErrorKind, ErrorShape};
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::Translator;
use crate::stream::StreamEvent;
use crate::usage::{Usage, UsageReading};
use crate::wire::{Route, RouteKind, Routes, WireFormat};

inventory::submit! {
    WireFormat {
        format: Format::Claude,
        translators: &[
            Translator::new(Format::Claude, Format::OpenAi)
                .request_into_hub(request::claude_request_to_hub)
                .response(response::claude_response_to_hub)
                .stream(stream::claude_stream_to_hub),
            Translator::new(Format::OpenAi, Format::Claude)
                .request_out_of_hub(request::hub_request_to_claude)
                .response(response::hub_response_to_claude)
                .stream(stream::hub_stream_to_claude),
        ],
        errors: ErrorShape {
            body: error_body,
            stream_event: Some(|e| StreamEvent::named("error", error_body(e))),
            stream_end: None,
        },
        usage: UsageReading {
            from_response: |body| body.get("usage").and_then(|u| Usage::from_openai(&usage_to_hub(u))),
            event_may_carry: |event, _| matches!(event, Some("message_start" | "message_delta")),
            from_event: usage_of_event,
        },
        routes: Routes {
            paths: &[
                Route { paths: &["/v1/messages"], kind: RouteKind::Generate, op: Operation::Chat },
                Route {
                    paths: &["/v1/messages/count_tokens"],
                    kind: RouteKind::CountTokens,
                    op: Operation::Chat,
                },
            ],
            model_paths: &[],
        },
        openai_stream: false,
        max_tokens_at: &["/max_tokens"],
    }
}

fn error_body(e: &ApiError) -> Value {
    json!({
        "type": "error",
        "error": { "type": error_type(e.kind), "message": e.message },
    })
}

fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Upstream | ErrorKind::Internal => "api_error",
    }
}

/// Anthropic reports input tokens in `message_start` and output tokens in `message_delta`.
fn usage_of_event(data: &Value, earlier: Option<&Usage>) -> Option<Usage> {
    let usage = data
        .pointer("/message/usage")
        .or_else(|| data.get("usage"))?;
    let u = Usage::from_openai(&usage_to_hub(usage))?;
    Some(match earlier {
        // A `message_delta` repeats only what changed; keep the input side.
        Some(prev) if data.get("usage").is_some() && u.prompt_tokens == 0 => Usage {
            completion_tokens: u.completion_tokens,
            ..*prev
        },
        _ => u,
    })
}
