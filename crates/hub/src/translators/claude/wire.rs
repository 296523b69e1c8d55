//! The `claude` format (Anthropic Messages) declared in one place: its translators, its
//! error body, where its answers carry usage, its output limit, its routes, how its streams
//! end, its family (signatures, hosted tools) and the client headers it forwards.

use serde_json::{Value, json};

use super::{request, response, stream, usage_to_hub};
use crate::error::{ApiError, ErrorKind, ErrorShape};
use crate::format::Format;
use crate::hosted::{HostedTools, WEB_SEARCH, WebSearch};
use crate::operation::Operation;
use crate::provenance::{self, Family};
use crate::registry::Translator;
use crate::stream::StreamEvent;
use crate::usage::{Usage, UsageReading};
use crate::wire::{ClientHeader, ModelList, Route, RouteKind, Routes, StreamEnd, WireFormat};

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
                Route {
                    paths: &["/v1/messages"],
                    kind: RouteKind::Generate,
                    op: Operation::Chat,
                    websocket: false,
                },
                Route {
                    paths: &["/v1/messages/count_tokens"],
                    kind: RouteKind::CountTokens,
                    op: Operation::Chat,
                    websocket: false,
                },
            ],
            // The Anthropic SDKs list models at OpenAI's paths, saying who they are.
            model_list: Some(ModelList {
                paths: &["/v1/models", "/models"],
                header: Some("anthropic-version"),
            }),
            ..Routes::NONE
        },
        openai_stream: false,
        max_tokens_at: &["/max_tokens"],
        stream_end: StreamEnd {
            ends: Some(stream::ends_stream),
            name: "message_stop",
            last: |ev| ev.event.as_deref() == Some("message_stop"),
            whole: None,
        },
        family: Family::ANTHROPIC,
        hosted: Some(HostedTools { kind_of: hosted_kind, web_search, tools_in: "" }),
        strip_foreign: Some(provenance::strip_claude),
        // Claude Code's `context_management` is refused without its beta flag.
        client_headers: &[
            ClientHeader { name: "anthropic-beta", flags: true },
            ClientHeader { name: "anthropic-version", flags: false },
        ],
    }
}

/// Anthropic's server tools, by their versioned `type`.
fn hosted_kind(tool: &Value) -> Option<&'static str> {
    let ty = tool.get("type").and_then(Value::as_str)?;
    [
        ("web_search_", WEB_SEARCH),
        ("web_fetch_", "web_fetch"),
        ("code_execution_", "code_execution"),
    ]
    .into_iter()
    .find(|(prefix, _)| ty.starts_with(prefix))
    .map(|(_, kind)| kind)
}

fn web_search(search: &WebSearch) -> Value {
    let mut t = serde_json::Map::new();
    t.insert("type".into(), "web_search_20250305".into());
    t.insert("name".into(), "web_search".into());
    // Anthropic takes one of the two lists, never both.
    if let Some(d) = &search.allowed_domains {
        t.insert("allowed_domains".into(), d.clone());
    } else if let Some(d) = &search.blocked_domains {
        t.insert("blocked_domains".into(), d.clone());
    }
    if let Some(l) = &search.user_location {
        t.insert("user_location".into(), l.clone());
    }
    Value::Object(t)
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
