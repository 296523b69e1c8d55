//! The `completions` format (OpenAI's legacy `/v1/completions`) declared in one place: a
//! chat client in OpenAI's error and usage shapes, served at its own paths.

use super::{completions_request_to_hub, hub_response_to_completions, hub_stream_to_completions};
use crate::error::ErrorShape;
use crate::format::Format;
use crate::operation::Operation;
use crate::provenance::Family;
use crate::registry::Translator;
use crate::usage::UsageReading;
use crate::wire::{Route, RouteKind, Routes, StreamEnd, WireFormat};

inventory::submit! {
    WireFormat {
        format: Format::Completions,
        translators: &[
            Translator::new(Format::Completions, Format::OpenAi).request(completions_request_to_hub),
            Translator::new(Format::OpenAi, Format::Completions)
                .response(hub_response_to_completions)
                .stream(hub_stream_to_completions),
        ],
        errors: ErrorShape::OPENAI,
        usage: UsageReading::OPENAI,
        routes: Routes {
            paths: &[Route {
                paths: &["/v1/completions", "/completions"],
                kind: RouteKind::Generate,
                op: Operation::Completions,
                websocket: false,
            }],
            ..Routes::NONE
        },
        openai_stream: true,
        // Legacy completions reach a provider as they came only where it serves them.
        max_tokens_at: &["/max_tokens"],
        // Only ever passed through: `[DONE]` is its last event.
        stream_end: StreamEnd { last: |ev| ev.is_done(), ..StreamEnd::NONE },
        family: Family::unsigned("completions"),
        hosted: None,
        strip_foreign: None,
        client_headers: &[],
    }
}
