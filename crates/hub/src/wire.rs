//! One place per wire format. Each format declares what it is in its own module with one
//! `inventory::submit!` of a [`WireFormat`]: its translators to and from the hub, the shape
//! of its error bodies, where its answers carry usage, the request fields that hold its
//! output limit, how its streams end, its provider family (reasoning signatures and hosted
//! tools), the client headers it forwards and, for a client format, the paths it is served
//! at (with its model list and WebSocket transport). The central code (error bodies, usage
//! reading, stream ends, provenance, hosted tools, the registry, the server's endpoint
//! table, the client-header allow-list) looks the format up here instead of matching on
//! it, so adding a format is adding its crate or module.

use std::sync::LazyLock;

use crate::error::ErrorShape;
use crate::format::Format;
use crate::hosted::HostedTools;
use crate::operation::Operation;
use crate::provenance::Family;
use crate::registry::Translator;
use crate::sse::SseEvent;
use crate::stream::StreamEvent;
use crate::usage::UsageReading;

/// Everything the proxy knows about one wire format. Every part is required: a format
/// that speaks OpenAI's error or usage shape says so with [`ErrorShape::OPENAI`] or
/// [`UsageReading::OPENAI`], a provider-only format with [`Routes::NONE`].
#[derive(Debug)]
pub struct WireFormat {
    pub format: Format,
    /// The pairs between this format and the hub, for every operation it serves. Each one
    /// has this format on one side and the hub on the other.
    pub translators: &'static [Translator],
    pub errors: ErrorShape,
    pub usage: UsageReading,
    /// Where clients of this format send requests; [`Routes::NONE`] for a format only
    /// providers speak.
    pub routes: Routes,
    /// Whether its streams end with `data: [DONE]` and carry OpenAI's usage-only last chunk.
    pub openai_stream: bool,
    /// JSON pointers to a request's output limit (lowered to a model's maximum); empty when
    /// the format takes none.
    pub max_tokens_at: &'static [&'static str],
    /// How a stream of this format ends, read by the server to tell a whole answer from one
    /// cut short.
    pub stream_end: StreamEnd,
    /// The provider family whose reasoning this format carries (signatures and labelled
    /// reasoning text, [`crate::provenance`]); formats of one signing family also take each
    /// other's hosted tools as they are.
    pub family: Family,
    /// The provider-run tools this format can name ([`crate::hosted`]); `None` when it
    /// names none.
    pub hosted: Option<HostedTools>,
    /// Drops, from a body passed through untranslated, the signatures other families issued
    /// ([`crate::provenance::strip_foreign`]); `None` for a format whose bodies hold none.
    pub strip_foreign: Option<fn(&mut serde_json::Value)>,
    /// The client's own headers passed on when a body goes out in this format untranslated
    /// (the allow-list of `switchyard_provider::forward`). Never a credential or hop-by-hop
    /// header: [`crate::Registry::load`] refuses those ([`NEVER_FORWARDED`]).
    pub client_headers: &'static [ClientHeader],
}

inventory::collect!(WireFormat);

/// How a stream of one format ends.
#[derive(Clone, Copy, Debug)]
pub struct StreamEnd {
    /// Whether a decoded provider event ends the stream: after it, the end of the body is
    /// the normal end. `None` for streams that simply end (Kiro's and Cursor's binary ones).
    pub ends: Option<fn(&StreamEvent) -> bool>,
    /// The ending event, as the error for a stream cut short names it.
    pub name: &'static str,
    /// In passthrough, whether an SSE event is the format's last one.
    pub last: fn(&SseEvent) -> bool,
    /// In passthrough, whether an event's bytes make the answer whole though the last event
    /// may still be missing (chat completions' finish reason before `[DONE]`).
    pub whole: Option<fn(&[u8]) -> bool>,
}

impl StreamEnd {
    /// Streams that simply end, with no event saying so.
    pub const NONE: StreamEnd = StreamEnd {
        ends: None,
        name: "",
        last: |_| false,
        whole: None,
    };
}

/// One client header a format forwards.
#[derive(Clone, Copy, Debug)]
pub struct ClientHeader {
    /// Lower-case, as `http` names headers.
    pub name: &'static str,
    /// Comma-separated flags (`anthropic-beta`), merged with the executor's own instead of
    /// giving way to them.
    pub flags: bool,
}

/// Headers that must never be copied from a client to an upstream: credentials (the
/// upstream gets the account's) and hop-by-hop or framing headers (they describe the
/// client's connection, not the upstream's). Registrations are checked against it.
pub const NEVER_FORWARDED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "accept-encoding",
];

/// What a route asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Generate an answer upstream.
    Generate,
    /// Count a request's tokens, answered here.
    CountTokens,
    /// Ask after a long-running job (Vertex AI's `:fetchPredictOperation`).
    Poll,
}

/// The paths a client format is served at.
#[derive(Clone, Copy, Debug)]
pub struct Routes {
    /// Fixed POST paths.
    pub paths: &'static [Route],
    /// Paths that name the model: `{prefix}{model}:{method}` (Gemini's).
    pub model_paths: &'static [ModelPath],
    /// Paths that name the model as a deployment: `{prefix}{deployment}{suffix}` (Azure
    /// OpenAI's URL shape, for clients that only offer an Azure base URL). A client URL
    /// shape of the format, not a provider: no Azure upstream is involved.
    pub deployment_paths: &'static [DeploymentPath],
    /// Where this format's clients list models (GET), answered here in its shape.
    pub model_list: Option<ModelList>,
}

impl Routes {
    pub const NONE: Routes = Routes {
        paths: &[],
        model_paths: &[],
        deployment_paths: &[],
        model_list: None,
    };

    pub const fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.model_paths.is_empty()
    }
}

/// Fixed paths that serve one operation.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub paths: &'static [&'static str],
    pub kind: RouteKind,
    pub op: Operation,
    /// Whether a GET upgrade to a WebSocket at these paths carries the same requests
    /// (Codex's Responses API transport, served by the server's `http/websocket.rs`).
    pub websocket: bool,
}

/// `{prefix}{deployment}{suffix}`: one operation, the deployment naming the model.
#[derive(Clone, Copy, Debug)]
pub struct DeploymentPath {
    pub prefix: &'static str,
    pub suffix: &'static str,
    pub kind: RouteKind,
    pub op: Operation,
}

/// The GET paths a format's clients list models at.
#[derive(Clone, Copy, Debug)]
pub struct ModelList {
    pub paths: &'static [&'static str],
    /// A header that picks this format where another format lists at the same paths (the
    /// Anthropic SDKs send `anthropic-version` to OpenAI's `/v1/models`); `None` for the
    /// format a path answers in otherwise.
    pub header: Option<&'static str>,
}

/// Paths `{prefix}{model}:{method}`, one method per operation.
#[derive(Clone, Copy, Debug)]
pub struct ModelPath {
    pub prefix: &'static str,
    /// Whether `/v1/providers/{name}/` may stand before the prefix to pin a provider.
    pub pinnable: bool,
    /// How the error for an unknown method names the API and what it serves:
    /// "no {api} method at {path}; {served}".
    pub api: &'static str,
    pub served: &'static str,
    pub methods: &'static [ModelMethod],
}

#[derive(Clone, Copy, Debug)]
pub struct ModelMethod {
    pub name: &'static str,
    pub kind: RouteKind,
    pub op: Operation,
    /// Whether the method streams its answer (`:streamGenerateContent`).
    pub stream: bool,
}

/// Every format linked into this binary, in link order.
pub fn all() -> &'static [&'static WireFormat] {
    static ALL: LazyLock<Vec<&'static WireFormat>> =
        LazyLock::new(|| inventory::iter::<WireFormat>.into_iter().collect());
    &ALL
}

/// The registration of `format`, when one is linked in. Two registrations of one format
/// are refused at start-up by [`crate::Registry::load`].
pub fn lookup(format: Format) -> Option<&'static WireFormat> {
    all().iter().copied().find(|w| w.format == format)
}

/// The error shape of `format`; OpenAI's for a format nobody registered.
pub fn errors(format: Format) -> ErrorShape {
    lookup(format).map_or(ErrorShape::OPENAI, |w| w.errors)
}

/// Where `format` carries usage; OpenAI's places for a format nobody registered.
pub fn usage(format: Format) -> UsageReading {
    lookup(format).map_or(UsageReading::OPENAI, |w| w.usage)
}

/// The output-limit fields of `format`; none for a format nobody registered.
pub fn max_tokens_at(format: Format) -> &'static [&'static str] {
    lookup(format).map_or(&[], |w| w.max_tokens_at)
}

/// How streams of `format` end; a format nobody registered has streams that simply end.
pub fn stream_end(format: Format) -> &'static StreamEnd {
    lookup(format).map_or(&StreamEnd::NONE, |w| &w.stream_end)
}

/// The provider family of `format`; a format nobody registered signs nothing and labels
/// its reasoning with its own name.
pub fn family(format: Format) -> Family {
    lookup(format).map_or(Family::unsigned(format.as_str()), |w| w.family)
}

/// The client headers a body in `format` carries on; none for a format nobody registered.
pub fn client_headers(format: Format) -> &'static [ClientHeader] {
    lookup(format).map_or(&[], |w| w.client_headers)
}

/// The format whose clients list models at `path`: the one whose `header` was sent, else
/// the one that asks for none.
pub fn model_list(path: &str, has_header: impl Fn(&str) -> bool) -> Option<Format> {
    let at = |w: &&&WireFormat| {
        w.routes
            .model_list
            .filter(|l| l.paths.contains(&path))
            .map(|l| l.header)
    };
    let listing = || all().iter().filter(|w| at(w).is_some());
    listing()
        .find(|w| at(w).flatten().is_some_and(&has_header))
        .or_else(|| listing().find(|w| at(w) == Some(None)))
        .map(|w| w.format)
}

#[cfg(test)]
mod tests;
