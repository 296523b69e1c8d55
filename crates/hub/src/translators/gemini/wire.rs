//! The `gemini` format (Google `generateContent`, v1beta) declared in one place: its
//! translators (chat, embeddings and Imagen's `:predict`), its error body, where its answers
//! carry usage, its output limit, its routes (the model is part of the path), how its
//! streams end and its family (signatures, hosted tools). The `gemini-cli` envelope in the
//! gemini provider crate borrows its error shape, usage, stream end and hosted tools.

use serde_json::{Value, json};

use super::{request, response, stream, usage_to_hub};
use crate::error::{ApiError, ErrorKind, ErrorShape};
use crate::format::Format;
use crate::hosted::{HostedTools, WEB_SEARCH};
use crate::operation::Operation;
use crate::provenance::{self, Family};
use crate::registry::Translator;
use crate::stream::StreamEvent;
use crate::translators::{embeddings, images};
use crate::usage::{Usage, UsageReading, mentions_usage_metadata};
use crate::wire::{ModelList, ModelMethod, ModelPath, RouteKind, Routes, StreamEnd, WireFormat};

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
            model_list: Some(ModelList { paths: &["/v1beta/models"], header: None }),
            ..Routes::NONE
        },
        openai_stream: false,
        max_tokens_at: &["/generationConfig/maxOutputTokens"],
        stream_end: STREAM_END,
        family: Family::GOOGLE,
        hosted: Some(HOSTED),
        strip_foreign: Some(provenance::strip_gemini),
        // Gemini's request headers are either credentials or client telemetry.
        client_headers: &[],
    }
}

/// How Gemini streams end: a candidate with its finish reason (inside `response` in the
/// `gemini-cli` envelope, which borrows this).
pub const STREAM_END: StreamEnd = StreamEnd {
    ends: Some(ends_stream),
    name: "a finishReason",
    last: |ev| ev.data.contains("\"finishReason\""),
    whole: None,
};

fn ends_stream(ev: &StreamEvent) -> bool {
    let finish_in = |candidates: Option<&Value>| {
        candidates.and_then(Value::as_array).is_some_and(|c| {
            c.iter()
                .any(|c| c.get("finishReason").is_some_and(Value::is_string))
        })
    };
    finish_in(ev.data.get("candidates")) || finish_in(ev.data.pointer("/response/candidates"))
}

/// Gemini's built-in tools, also the `gemini-cli` envelope's (which moves `tools_in`).
pub const HOSTED: HostedTools = HostedTools {
    kind_of: hosted_kind,
    web_search: |_| json!({"googleSearch": {}}),
    tools_in: "",
};

/// Gemini's built-in tools (camelCase and snake_case keys) and their kinds.
const GEMINI_TOOLS: &[(&str, &str, &str)] = &[
    ("googleSearch", "google_search", WEB_SEARCH),
    (
        "googleSearchRetrieval",
        "google_search_retrieval",
        WEB_SEARCH,
    ),
    ("codeExecution", "code_execution", "code_execution"),
    ("urlContext", "url_context", "url_context"),
    ("fileSearch", "file_search", "file_search"),
    ("googleMaps", "google_maps", "google_maps"),
    ("computerUse", "computer_use", "computer_use"),
];

fn hosted_kind(tool: &Value) -> Option<&'static str> {
    let obj = tool.as_object()?;
    GEMINI_TOOLS
        .iter()
        .find(|(camel, snake, _)| obj.contains_key(*camel) || obj.contains_key(*snake))
        .map(|(_, _, kind)| *kind)
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
