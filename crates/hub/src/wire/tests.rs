//! The registration's own checks: what the hub registers, and what the registry refuses.

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
        stream_end: StreamEnd::NONE,
        family: Family::unsigned("mine"),
        hosted: None,
        strip_foreign: None,
        client_headers: &[],
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
    websocket: false,
}];
static CLIENT_WITHOUT_STREAM: WireFormat = format(
    &[
        Translator::new(MINE, Format::OpenAi).request(ident),
        Translator::new(Format::OpenAi, MINE).response(|v, _| Ok(v)),
    ],
    Routes {
        paths: CHAT,
        ..Routes::NONE
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
                websocket: false,
            }],
            ..Routes::NONE
        },
    );
    assert!(matches!(
        Registry::from_formats([openai, &TAKEN]),
        Err(RegistryError::DuplicatePath("/v1/chat/completions"))
    ));
}

const PAIR: &[Translator] = &[
    Translator::new(MINE, Format::OpenAi).request(ident),
    Translator::new(Format::OpenAi, MINE).request(ident),
];

#[test]
fn a_registration_is_refused_for_what_it_shares_or_forwards() {
    let openai = lookup(Format::OpenAi).unwrap();
    let responses = lookup(Format::Responses).unwrap();
    let err = |formats: &[&'static WireFormat]| {
        Registry::from_formats(formats.iter().copied())
            .unwrap_err()
            .to_string()
    };
    // A family that signs nothing is one format's own; a signing one is shared.
    static CHAT_FAMILY: WireFormat = WireFormat {
        family: Family::unsigned("openai-chat"),
        ..format(PAIR, Routes::NONE)
    };
    assert_eq!(
        err(&[openai, &CHAT_FAMILY]),
        "formats openai and mine share the family openai-chat, which signs nothing: \
         reasoning one format's providers gave would be handed to the other's"
    );
    static SIGNS_AS_CHAT: WireFormat = WireFormat {
        family: Family::signing("openai-chat"),
        ..format(PAIR, Routes::NONE)
    };
    assert!(Registry::from_formats([openai, &SIGNS_AS_CHAT]).is_err());
    static SIGNS_AS_RESPONSES: WireFormat = WireFormat {
        family: Family::OPENAI,
        ..format(PAIR, Routes::NONE)
    };
    assert!(Registry::from_formats([responses, &SIGNS_AS_RESPONSES]).is_ok());

    static CREDENTIAL: WireFormat = WireFormat {
        client_headers: &[ClientHeader {
            name: "x-api-key",
            flags: false,
        }],
        ..format(PAIR, Routes::NONE)
    };
    assert_eq!(
        err(&[&CREDENTIAL]),
        "format mine forwards the client header x-api-key, which is never forwarded"
    );
    static UPPER: WireFormat = WireFormat {
        client_headers: &[ClientHeader {
            name: "Mine-Beta",
            flags: true,
        }],
        ..format(PAIR, Routes::NONE)
    };
    assert_eq!(
        err(&[&UPPER]),
        "format mine forwards the client header Mine-Beta, which is not lower-case"
    );

    static COUNT_SOCKET: WireFormat = format(
        PAIR,
        Routes {
            paths: &[Route {
                paths: &["/v1/mine/count"],
                kind: RouteKind::CountTokens,
                op: Operation::Chat,
                websocket: true,
            }],
            ..Routes::NONE
        },
    );
    assert_eq!(
        err(&[&COUNT_SOCKET]),
        "format mine offers a WebSocket at /v1/mine/count, a route that generates nothing"
    );

    // OpenAI lists models at /v1/models for clients that send no header.
    static LISTS: WireFormat = format(
        PAIR,
        Routes {
            model_list: Some(ModelList {
                paths: &["/v1/models"],
                header: None,
            }),
            ..Routes::NONE
        },
    );
    assert!(matches!(
        Registry::from_formats([openai, &LISTS]),
        Err(RegistryError::DuplicatePath("/v1/models"))
    ));
    static LISTS_WITH_HEADER: WireFormat = format(
        PAIR,
        Routes {
            model_list: Some(ModelList {
                paths: &["/v1/models"],
                header: Some("mine-version"),
            }),
            ..Routes::NONE
        },
    );
    assert!(Registry::from_formats([openai, &LISTS_WITH_HEADER]).is_ok());
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
        fn finish(&mut self, _: &mut Vec<crate::StreamEvent>) -> Result<(), crate::TranslateError> {
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
