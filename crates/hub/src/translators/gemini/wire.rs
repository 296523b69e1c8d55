//! The `gemini` format (Google `generateContent`, v1beta) declared in one place: its
//! translators (chat, embeddings and Imagen's `:predict`), its error body, where its answers
//! carry usage, its output limit and its routes (the model is part of the path). The
//! `gemini-cli` envelope in the gemini provider crate borrows its error shape and usage.

use serde_json::{Value, json};

use super::{request, response, stream, usage_to_hub};
use crate::error::{ApiError, ErrorKind, ErrorShape};
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::Translator;
use crate::translators::{embeddings, images};
use crate::usage::{Usage, UsageReading, mentions_usage_metadata};
use crate::wire::{ModelMethod, ModelPath, RouteKind, Routes, WireFormat};

inventory::submit! {
    WireFormat {
        format: Format::Gemini,
        translators: &[
            Translator::new(Format::Gemini, Format::OpenAi)
                .request(request::gemini_request_to_hub)
                .response(response::gemini_response_to_hub)
                .stream(stream::gemini_stream_to_hub),
            Translator::new(Format::OpenAi, Format::Gemini)
                .request(request::hub_request_to_gemini)
                .response(response::hub_response_to_gemini)
                .stream(stream::hub_stream_to_gemini),
            embeddings::TO_GEMINI,
            embeddings::FROM_GEMINI,
            images::TO_GEMINI,
            images::FROM_GEMINI,
        ],
        errors: ERRORS,
        usage: UsageReading {
            from_response: |body| body.get("usageMetadata").and_then(usage_of_metadata),
            event_may_carry: |_, data| mentions_usage_metadata(data),
            from_event: |data, _| data.get("usageMetadata").and_then(usage_of_metadata),
        },
        routes: Routes {
            paths: &[],
            model_paths: &[
                ModelPath {
                    prefix: "/v1beta/models/",
                    pinnable: true,
                    api: "Gemini",
                    served: "use :generateContent, :streamGenerateContent, :countTokens, :embedContent, :batchEmbedContents, :predict or :predictLongRunning",
                    methods: &[
                        method("generateContent", RouteKind::Generate, Operation::Chat, false),
                        method("streamGenerateContent", RouteKind::Generate, Operation::Chat, true),
                        method("countTokens", RouteKind::CountTokens, Operation::Chat, false),
                        method("embedContent", RouteKind::Generate, Operation::Embeddings, false),
                        method("batchEmbedContents", RouteKind::Generate, Operation::Embeddings, false),
                        PREDICT,
                        PREDICT_LONG_RUNNING,
                        FETCH_PREDICT_OPERATION,
                    ],
                },
                // google-genai's `generate_images` speaks only Vertex AI; in express mode (an
                // API key, no project) it posts to this path, with a Gemini body.
                ModelPath {
                    prefix: "/v1beta1/publishers/google/models/",
                    pinnable: false,
                    api: "Vertex",
                    served: "only :predict (Imagen), :predictLongRunning and :fetchPredictOperation (Veo) are served",
                    methods: &[PREDICT, PREDICT_LONG_RUNNING, FETCH_PREDICT_OPERATION],
                },
            ],
        },
        openai_stream: false,
        max_tokens_at: &["/generationConfig/maxOutputTokens"],
    }
}

const PREDICT: ModelMethod = method("predict", RouteKind::Generate, Operation::Images, false);
const PREDICT_LONG_RUNNING: ModelMethod = method(
    "predictLongRunning",
    RouteKind::Generate,
    Operation::Videos,
    false,
);
const FETCH_PREDICT_OPERATION: ModelMethod = method(
    "fetchPredictOperation",
    RouteKind::Poll,
    Operation::Videos,
    false,
);

const fn method(name: &'static str, kind: RouteKind, op: Operation, stream: bool) -> ModelMethod {
    ModelMethod {
        name,
        kind,
        op,
        stream,
    }
}

/// Google's error body, also the `gemini-cli` envelope's.
pub const ERRORS: ErrorShape = ErrorShape {
    body: error_body,
    stream_event: None,
    stream_end: None,
};

/// A Gemini `usageMetadata` object as usage, also read inside the `gemini-cli` envelope.
pub fn usage_of_metadata(meta: &Value) -> Option<Usage> {
    usage_to_hub(meta).and_then(|h| Usage::from_openai(&h))
}

fn error_body(e: &ApiError) -> Value {
    json!({
        "error": {
            "code": e.status,
            "message": e.message,
            "status": error_status(e.kind),
        },
    })
}

fn error_status(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::PermissionDenied => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
        ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Upstream | ErrorKind::Internal => "INTERNAL",
    }
}
