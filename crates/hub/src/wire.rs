//! One place per wire format. Each format declares what it is in its own module with one
//! `inventory::submit!` of a [`WireFormat`]: its translators to and from the hub, the shape
//! of its error bodies, where its answers carry usage, the request fields that hold its
//! output limit and, for a client format, the paths it is served at. The central code
//! (error bodies, usage reading, the registry, the server's endpoint table) looks the format
//! up here instead of matching on it, so adding a format is adding its crate or module.

use std::sync::LazyLock;

use crate::error::ErrorShape;
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::Translator;
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
}

inventory::collect!(WireFormat);

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

/// The POST paths a client format is served at.
#[derive(Clone, Copy, Debug)]
pub struct Routes {
    pub paths: &'static [Route],
    /// Paths that name the model: `{prefix}{model}:{method}` (Gemini's).
    pub model_paths: &'static [ModelPath],
}

impl Routes {
    pub const NONE: Routes = Routes {
        paths: &[],
        model_paths: &[],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Registry, RegistryError};

    #[test]
    fn the_hub_formats_are_registered_once_and_whole() {
        let mut names: Vec<_> = all().iter().map(|w| w.format.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["claude", "completions", "gemini", "openai", "responses"]
        );
        assert!(Registry::from_formats(all().iter().copied()).is_ok());
        for f in [Format::Claude, Format::Responses, Format::Gemini] {
            assert!(!lookup(f).unwrap().routes.is_empty(), "{f} routes");
        }
    }

    fn ident(
        v: serde_json::Value,
        _: &mut crate::TranslateCtx,
    ) -> Result<serde_json::Value, crate::TranslateError> {
        Ok(v)
    }

    const MINE: Format = Format::named("mine");

    const fn format(translators: &'static [Translator], routes: Routes) -> WireFormat {
        WireFormat {
            format: MINE,
            translators,
            errors: ErrorShape::OPENAI,
            usage: UsageReading::OPENAI,
            routes,
            openai_stream: false,
            max_tokens_at: &[],
        }
    }

    static WHOLE: WireFormat = format(
        &[
            Translator::new(MINE, Format::OpenAi).request(ident),
            Translator::new(Format::OpenAi, MINE).request(ident),
        ],
        Routes::NONE,
    );
    static FOREIGN: WireFormat = format(
        &[
            Translator::new(MINE, Format::OpenAi).request(ident),
            Translator::new(Format::OpenAi, MINE).request(ident),
            Translator::new(Format::Claude, Format::OpenAi),
        ],
        Routes::NONE,
    );
    static ONE_WAY: WireFormat = format(
        &[Translator::new(Format::OpenAi, MINE).request(ident)],
        Routes::NONE,
    );
    const CHAT: &[Route] = &[Route {
        paths: &["/v1/mine"],
        kind: RouteKind::Generate,
        op: Operation::Chat,
    }];
    static CLIENT_WITHOUT_STREAM: WireFormat = format(
        &[
            Translator::new(MINE, Format::OpenAi).request(ident),
            Translator::new(Format::OpenAi, MINE).response(|v, _| Ok(v)),
        ],
        Routes {
            paths: CHAT,
            model_paths: &[],
        },
    );

    #[test]
    fn a_format_is_refused_unless_whole_and_alone() {
        assert!(Registry::from_formats([&WHOLE]).is_ok());
        let err = |formats: &[&'static WireFormat]| {
            Registry::from_formats(formats.iter().copied())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(&[&WHOLE, &WHOLE]), "format mine is registered twice");
        assert_eq!(
            err(&[&FOREIGN]),
            "format mine registers claude -> openai, a pair of another format"
        );
        assert_eq!(
            err(&[&ONE_WAY]),
            "format mine has no translator into the hub"
        );
        assert_eq!(
            err(&[&CLIENT_WITHOUT_STREAM]),
            "format mine is served at chat paths but has no chat stream translator"
        );
        // A path another format already serves.
        let openai = lookup(Format::OpenAi).unwrap();
        static TAKEN: WireFormat = format(
            &[
                Translator::new(MINE, Format::OpenAi).request(ident),
                Translator::new(Format::OpenAi, MINE)
                    .response(|v, _| Ok(v))
                    .stream(|_| quiet_stage()),
            ],
            Routes {
                paths: &[Route {
                    paths: &["/v1/chat/completions"],
                    kind: RouteKind::Generate,
                    op: Operation::Chat,
                }],
                model_paths: &[],
            },
        );
        assert!(matches!(
            Registry::from_formats([openai, &TAKEN]),
            Err(RegistryError::DuplicatePath("/v1/chat/completions"))
        ));
    }

    fn quiet_stage() -> Box<dyn crate::StreamStage> {
        struct Nothing;
        impl crate::StreamStage for Nothing {
            fn push(
                &mut self,
                _: crate::StreamEvent,
                _: &mut Vec<crate::StreamEvent>,
            ) -> Result<(), crate::TranslateError> {
                Ok(())
            }
            fn finish(
                &mut self,
                _: &mut Vec<crate::StreamEvent>,
            ) -> Result<(), crate::TranslateError> {
                Ok(())
            }
            fn fail(&mut self, _: &crate::ApiError, _: &mut Vec<crate::StreamEvent>) {}
        }
        Box::new(Nothing)
    }

    #[test]
    fn unregistered_formats_read_as_openai() {
        let e = crate::ApiError::not_found("x");
        assert_eq!(e.body(MINE)["error"]["type"], "not_found_error");
        assert!(max_tokens_at(MINE).is_empty());
        assert_eq!(
            max_tokens_at(Format::OpenAi),
            ["/max_tokens", "/max_completion_tokens"]
        );
    }
}
