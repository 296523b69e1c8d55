//! The `openai` format (chat completions) declared in one place. It is the hub, so it has
//! no translators; it is also the format of OpenAI's other endpoints the proxy serves
//! (embeddings, images, audio, videos), each the hub of its own operation.

use crate::error::ErrorShape;
use crate::format::Format;
use crate::operation::Operation;
use crate::usage::UsageReading;
use crate::wire::{Route, RouteKind, Routes, WireFormat};

inventory::submit! {
    WireFormat {
        format: Format::OpenAi,
        translators: &[],
        errors: ErrorShape::OPENAI,
        usage: UsageReading::OPENAI,
        routes: Routes {
            paths: &[
                route(&["/v1/chat/completions", "/chat/completions"], Operation::Chat),
                route(&["/v1/embeddings", "/embeddings"], Operation::Embeddings),
                route(&["/v1/images/generations", "/images/generations"], Operation::Images),
                route(&["/v1/images/edits", "/images/edits"], Operation::ImageEdits),
                route(&["/v1/audio/speech", "/audio/speech"], Operation::Speech),
                route(
                    &["/v1/audio/transcriptions", "/audio/transcriptions"],
                    Operation::Transcriptions,
                ),
                route(&["/v1/audio/translations", "/audio/translations"], Operation::Translations),
                route(&["/v1/videos", "/videos"], Operation::Videos),
            ],
            model_paths: &[],
        },
        openai_stream: true,
        max_tokens_at: &["/max_tokens", "/max_completion_tokens"],
    }
}

const fn route(paths: &'static [&'static str], op: Operation) -> Route {
    Route {
        paths,
        kind: RouteKind::Generate,
        op,
    }
}
