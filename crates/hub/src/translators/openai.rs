//! The `openai` format (chat completions) declared in one place. It is the hub, so it has
//! no translators; it is also the format of OpenAI's other endpoints the proxy serves
//! (embeddings, images, audio, videos), each the hub of its own operation.

use crate::error::ErrorShape;
use crate::format::Format;
use crate::operation::Operation;
use crate::provenance::Family;
use crate::stream::StreamEvent;
use crate::usage::UsageReading;
use crate::wire::{
    ClientHeader, DeploymentPath, ModelList, Route, RouteKind, Routes, StreamEnd, WireFormat,
};

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
            // Azure OpenAI's URL shape: `/openai/deployments/{name}/chat/completions`.
            deployment_paths: &[DeploymentPath {
                prefix: "/openai/deployments/",
                suffix: "/chat/completions",
                kind: RouteKind::Generate,
                op: Operation::Chat,
            }],
            model_list: Some(ModelList { paths: &["/v1/models", "/models"], header: None }),
        },
        openai_stream: true,
        max_tokens_at: &["/max_tokens", "/max_completion_tokens"],
        stream_end: STREAM_END,
        // Chat completions signs no reasoning, and its family is its own: reasoning text a
        // Responses provider gave (family `openai`) is never handed to a chat provider.
        family: Family::unsigned("openai-chat"),
        hosted: None,
        strip_foreign: None,
        // `OpenAI-Organization` and `OpenAI-Project` are left out on purpose: they name the
        // client's own billing account, which the provider account's key does not belong to.
        client_headers: &[ClientHeader { name: "openai-beta", flags: true }],
    }
}

/// How chat-completions streams end: a finish reason, then `data: [DONE]`. Legacy
/// completions end the same way.
pub const STREAM_END: StreamEnd = StreamEnd {
    ends: Some(has_finish_reason),
    name: "a finish_reason",
    last: |ev| ev.is_done(),
    whole: Some(finish_reason_in_bytes),
};

fn has_finish_reason(ev: &StreamEvent) -> bool {
    ev.has_hub_finish_reason()
}

/// Whether a chunk's bytes give a finish reason (a string, not `null`), read without
/// parsing the chunk.
pub fn finish_reason_in_bytes(data: &[u8]) -> bool {
    const KEY: &[u8] = b"\"finish_reason\"";
    memchr::memmem::find_iter(data, KEY).any(|at| {
        data[at + KEY.len()..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b':'))
            == Some(&b'"')
    })
}

const fn route(paths: &'static [&'static str], op: Operation) -> Route {
    Route {
        paths,
        kind: RouteKind::Generate,
        op,
        websocket: false,
    }
}
