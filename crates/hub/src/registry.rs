//! Translators register themselves with `inventory::submit!`; the registry collects them
//! once at start-up and refuses two entries for the same pair of the same operation.

use std::collections::HashMap;

use serde_json::Value;

use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use crate::operation::Operation;
use crate::stream::StreamStage;

pub type RequestFn = fn(Value, &mut TranslateCtx) -> Result<Value, TranslateError>;
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
    request: Option<RequestFn>,
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
        self.request = Some(f);
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
}

inventory::collect!(Translator);

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
}

/// The translators linked into this binary, by (operation, from, to).
#[derive(Debug, Default)]
pub struct Registry {
    pairs: HashMap<(Operation, Format, Format), &'static Translator>,
}

impl Registry {
    /// Collects every registered translator.
    pub fn load() -> Result<Registry, RegistryError> {
        Self::from_entries(inventory::iter::<Translator>)
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
    pub fn request(&self, from: Format, to: Format) -> Result<RequestFn, TranslateError> {
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
    ) -> Result<RequestFn, TranslateError> {
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
