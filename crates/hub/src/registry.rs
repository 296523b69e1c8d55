//! The translators of every registered format ([`crate::wire::WireFormat`]), collected once
//! at start-up. The registry refuses two registrations of one format, two entries for the
//! same pair of the same operation, a pair that skips the hub or that a format registers
//! for another, a format with no way into or out of the hub, a path two formats claim, a
//! family that signs nothing shared by two formats, a credential or hop-by-hop header on a
//! format's client-header allow-list, and a WebSocket on a route that generates nothing.

use std::collections::HashMap;

use serde_json::Value;

use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use crate::operation::Operation;
use crate::stream::StreamStage;
use crate::wire::{RouteKind, WireFormat};

pub use crate::step::{IntoHubFn, OutOfHubFn, RequestFn, RequestStep};
pub type ResponseFn = fn(Value, &TranslateCtx) -> Result<Value, TranslateError>;
pub type StreamFn = fn(&TranslateCtx) -> Box<dyn StreamStage>;

/// Everything that turns payloads of format `from` into format `to`: requests, whole
/// responses and streams, for one operation (chat unless [`Translator::for_op`] says
/// otherwise). One side of every pair is the hub: OpenAI's shape of that operation.
#[derive(Debug)]
pub struct Translator {
    op: Operation,
    from: Format,
    to: Format,
    request: Option<RequestStep>,
    response: Option<ResponseFn>,
    stream: Option<StreamFn>,
}

impl Translator {
    pub const fn new(from: Format, to: Format) -> Self {
        Self {
            op: Operation::Chat,
            from,
            to,
            request: None,
            response: None,
            stream: None,
        }
    }

    /// Registers the pair for `op` instead of chat.
    pub const fn for_op(mut self, op: Operation) -> Self {
        self.op = op;
        self
    }

    pub const fn request(mut self, f: RequestFn) -> Self {
        self.request = Some(RequestStep::Json(f));
        self
    }

    /// A request translator into the hub that builds the typed [`crate::chat::ChatRequest`].
    pub const fn request_into_hub(mut self, f: IntoHubFn) -> Self {
        self.request = Some(RequestStep::IntoHub(f));
        self
    }

    /// A request translator out of the hub that reads the typed [`crate::chat::ChatRequest`].
    pub const fn request_out_of_hub(mut self, f: OutOfHubFn) -> Self {
        self.request = Some(RequestStep::OutOfHub(f));
        self
    }

    pub const fn response(mut self, f: ResponseFn) -> Self {
        self.response = Some(f);
        self
    }

    pub const fn stream(mut self, f: StreamFn) -> Self {
        self.stream = Some(f);
        self
    }

    pub const fn from(&self) -> Format {
        self.from
    }

    pub const fn to(&self) -> Format {
        self.to
    }

    pub const fn op(&self) -> Operation {
        self.op
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("two {op} translators are registered for {from} -> {to}")]
    Duplicate {
        op: Operation,
        from: Format,
        to: Format,
    },
    #[error("translator {from} -> {to} does not touch the hub ({hub})", hub = Format::HUB)]
    NotThroughHub { from: Format, to: Format },
    #[error("format {0} is registered twice")]
    DuplicateFormat(Format),
    #[error("format {format} registers {from} -> {to}, a pair of another format")]
    ForeignPair {
        format: Format,
        from: Format,
        to: Format,
    },
    #[error("format {format} has no translator {direction} the hub")]
    NoWay {
        format: Format,
        direction: &'static str,
    },
    #[error("format {format} is served at chat paths but has no chat {kind} translator")]
    ClientIncomplete { format: Format, kind: &'static str },
    #[error("path {0} is claimed twice")]
    DuplicatePath(&'static str),
    #[error(
        "formats {a} and {b} share the family {family}, which signs nothing: reasoning one \
         format's providers gave would be handed to the other's"
    )]
    SharedUnsignedFamily {
        family: &'static str,
        a: Format,
        b: Format,
    },
    #[error("format {format} forwards the client header {header}, which is never forwarded")]
    ForwardsForbiddenHeader {
        format: Format,
        header: &'static str,
    },
    #[error("format {format} forwards the client header {header}, which is not lower-case")]
    HeaderNotLowerCase {
        format: Format,
        header: &'static str,
    },
    #[error("format {format} offers a WebSocket at {path}, a route that generates nothing")]
    WebSocketNotGenerate { format: Format, path: &'static str },
    #[error("translator {from} -> {to} has a typed hub request step facing the wrong way")]
    WrongWay { from: Format, to: Format },
}

/// A format's own parts: pairs of its own, a way into and out of the hub, and for a
/// format served at chat paths, the whole chat pair.
fn check_format(w: &WireFormat) -> Result<(), RegistryError> {
    let f = w.format;
    for h in w.client_headers {
        if crate::wire::NEVER_FORWARDED.contains(&h.name) {
            return Err(RegistryError::ForwardsForbiddenHeader {
                format: f,
                header: h.name,
            });
        }
        if h.name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RegistryError::HeaderNotLowerCase {
                format: f,
                header: h.name,
            });
        }
    }
    if let Some(r) = w
        .routes
        .paths
        .iter()
        .find(|r| r.websocket && r.kind != RouteKind::Generate)
    {
        return Err(RegistryError::WebSocketNotGenerate {
            format: f,
            path: r.paths.first().copied().unwrap_or_default(),
        });
    }
    if let Some(t) = w.translators.iter().find(|t| t.from != f && t.to != f) {
        return Err(RegistryError::ForeignPair {
            format: f,
            from: t.from,
            to: t.to,
        });
    }
    if f == Format::HUB {
        return Ok(());
    }
    let into = w.translators.iter().any(|t| t.from == f);
    let out = w.translators.iter().any(|t| t.to == f);
    for (ok, direction) in [(into, "into"), (out, "out of")] {
        if !ok {
            return Err(RegistryError::NoWay {
                format: f,
                direction,
            });
        }
    }
    let serves_chat = w
        .routes
        .paths
        .iter()
        .map(|r| (r.kind, r.op))
        .chain(
            w.routes
                .model_paths
                .iter()
                .flat_map(|m| m.methods.iter().map(|m| (m.kind, m.op))),
        )
        .any(|(kind, op)| kind == RouteKind::Generate && op == Operation::Chat);
    if serves_chat {
        let chat = |from, to| {
            w.translators
                .iter()
                .find(|t| t.op == Operation::Chat && t.from == from && t.to == to)
        };
        let parts = [
            (
                "request",
                chat(f, Format::HUB).is_some_and(|t| t.request.is_some()),
            ),
            (
                "response",
                chat(Format::HUB, f).is_some_and(|t| t.response.is_some()),
            ),
            (
                "stream",
                chat(Format::HUB, f).is_some_and(|t| t.stream.is_some()),
            ),
        ];
        if let Some((kind, _)) = parts.iter().find(|(_, ok)| !ok) {
            return Err(RegistryError::ClientIncomplete { format: f, kind });
        }
    }
    Ok(())
}

/// The translators linked into this binary, by (operation, from, to).
#[derive(Debug, Default)]
pub struct Registry {
    pairs: HashMap<(Operation, Format, Format), &'static Translator>,
}

impl Registry {
    /// Collects the translators of every registered format.
    pub fn load() -> Result<Registry, RegistryError> {
        Self::from_formats(crate::wire::all().iter().copied())
    }

    /// The registry of `formats`' translators, once each format is checked whole.
    pub fn from_formats(
        formats: impl IntoIterator<Item = &'static WireFormat>,
    ) -> Result<Registry, RegistryError> {
        let formats: Vec<_> = formats.into_iter().collect();
        let mut seen = Vec::new();
        let mut paths = std::collections::HashSet::new();
        let mut lists = std::collections::HashSet::new();
        for (i, w) in formats.iter().enumerate() {
            if seen.contains(&w.format) {
                return Err(RegistryError::DuplicateFormat(w.format));
            }
            if let Some(other) = formats[..i]
                .iter()
                .find(|o| o.family.as_str() == w.family.as_str())
                && !(w.family.signs() && other.family.signs())
            {
                return Err(RegistryError::SharedUnsignedFamily {
                    family: w.family.as_str(),
                    a: other.format,
                    b: w.format,
                });
            }
            seen.push(w.format);
            check_format(w)?;
            let fixed = w.routes.paths.iter().flat_map(|r| r.paths.iter());
            let prefixes = w.routes.model_paths.iter().map(|m| &m.prefix);
            let deployments = w.routes.deployment_paths.iter().map(|d| &d.prefix);
            for path in fixed.chain(prefixes).chain(deployments) {
                if !paths.insert(*path) {
                    return Err(RegistryError::DuplicatePath(path));
                }
            }
            // One format per model-list path and header (or lack of one).
            if let Some(list) = &w.routes.model_list {
                for path in list.paths {
                    if !lists.insert((*path, list.header)) {
                        return Err(RegistryError::DuplicatePath(path));
                    }
                }
            }
        }
        Self::from_entries(formats.iter().flat_map(|w| w.translators.iter()))
    }

    pub fn from_entries(
        entries: impl IntoIterator<Item = &'static Translator>,
    ) -> Result<Registry, RegistryError> {
        let mut pairs = HashMap::new();
        for t in entries {
            if t.from != Format::HUB && t.to != Format::HUB {
                return Err(RegistryError::NotThroughHub {
                    from: t.from,
                    to: t.to,
                });
            }
            let wrong_way = match t.request {
                Some(RequestStep::IntoHub(_)) => t.to != Format::HUB,
                Some(RequestStep::OutOfHub(_)) => t.from != Format::HUB,
                _ => false,
            };
            if wrong_way {
                return Err(RegistryError::WrongWay {
                    from: t.from,
                    to: t.to,
                });
            }
            if pairs.insert((t.op, t.from, t.to), t).is_some() {
                return Err(RegistryError::Duplicate {
                    op: t.op,
                    from: t.from,
                    to: t.to,
                });
            }
        }
        Ok(Registry { pairs })
    }

    /// Registered chat pairs, sorted, for start-up logs and tests.
    pub fn pairs(&self) -> Vec<(Format, Format)> {
        let mut v: Vec<_> = self
            .pairs
            .keys()
            .filter(|(op, _, _)| *op == Operation::Chat)
            .map(|(_, from, to)| (*from, *to))
            .collect();
        v.sort();
        v
    }

    fn get(&self, op: Operation, from: Format, to: Format) -> Option<&'static Translator> {
        self.pairs.get(&(op, from, to)).copied()
    }

    /// The chat request translator from `from` to `to`.
    pub fn request(&self, from: Format, to: Format) -> Result<RequestStep, TranslateError> {
        self.request_for(Operation::Chat, from, to)
    }

    pub fn response(&self, from: Format, to: Format) -> Result<ResponseFn, TranslateError> {
        self.response_for(Operation::Chat, from, to)
    }

    pub fn stream(&self, from: Format, to: Format) -> Result<StreamFn, TranslateError> {
        self.stream_for(Operation::Chat, from, to)
    }

    pub fn request_for(
        &self,
        op: Operation,
        from: Format,
        to: Format,
    ) -> Result<RequestStep, TranslateError> {
        self.get(op, from, to)
            .and_then(|t| t.request)
            .ok_or(TranslateError::Missing {
                kind: "request",
                from,
                to,
            })
    }

    pub fn response_for(
        &self,
        op: Operation,
        from: Format,
        to: Format,
    ) -> Result<ResponseFn, TranslateError> {
        self.get(op, from, to)
            .and_then(|t| t.response)
            .ok_or(TranslateError::Missing {
                kind: "response",
                from,
                to,
            })
    }

    pub fn stream_for(
        &self,
        op: Operation,
        from: Format,
        to: Format,
    ) -> Result<StreamFn, TranslateError> {
        self.get(op, from, to)
            .and_then(|t| t.stream)
            .ok_or(TranslateError::Missing {
                kind: "stream",
                from,
                to,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(v: Value, _: &mut TranslateCtx) -> Result<Value, TranslateError> {
        Ok(v)
    }

    static A: Translator = Translator::new(Format::Claude, Format::OpenAi).request(ident);
    static B: Translator = Translator::new(Format::Claude, Format::OpenAi);
    static C: Translator = Translator::new(Format::Claude, Format::Gemini);

    #[test]
    fn duplicates_are_refused() {
        let err = Registry::from_entries([&A, &B]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "two chat translators are registered for claude -> openai"
        );
    }

    static D: Translator =
        Translator::new(Format::Claude, Format::OpenAi).for_op(Operation::Embeddings);

    #[test]
    fn one_pair_may_serve_several_operations() {
        let r = Registry::from_entries([&A, &D]).unwrap();
        assert!(r.request(Format::Claude, Format::OpenAi).is_ok());
        assert!(
            r.request_for(Operation::Embeddings, Format::Claude, Format::OpenAi)
                .is_err()
        );
        assert_eq!(r.pairs(), vec![(Format::Claude, Format::OpenAi)]);
    }

    fn typed_out(
        _: crate::chat::ChatRequest,
        _: &mut TranslateCtx,
    ) -> Result<Value, TranslateError> {
        Ok(Value::Null)
    }

    static E: Translator =
        Translator::new(Format::Claude, Format::OpenAi).request_out_of_hub(typed_out);

    /// A step that reads the typed hub must start at the hub.
    #[test]
    fn typed_steps_must_face_the_hub() {
        assert!(matches!(
            Registry::from_entries([&E]),
            Err(RegistryError::WrongWay { .. })
        ));
    }

    #[test]
    fn pairs_must_touch_the_hub() {
        assert!(matches!(
            Registry::from_entries([&C]),
            Err(RegistryError::NotThroughHub { .. })
        ));
    }

    #[test]
    fn missing_pair_names_both_formats() {
        let r = Registry::from_entries([&A]).unwrap();
        assert!(r.request(Format::Claude, Format::OpenAi).is_ok());
        let err = r.response(Format::Claude, Format::OpenAi).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no response translator from claude to openai"
        );
    }
}
