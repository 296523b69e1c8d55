//! Translators between the hub and `gemini-cli`, the Cloud Code Assist envelope around a
//! Gemini body: requests travel as `{"request": <gemini request>, ...}` and every answer (and
//! every stream event) as `{"response": <gemini response>}`. The Gemini translators do the
//! real work; these wrap and unwrap around them. They call the hub's Gemini translators
//! directly (a fixed dependency, not a plugin lookup), so there is no second registry to
//! load and no "translator missing" failure to misreport.

use serde_json::{Value, json};
use switchyard_hub::hosted::HostedTools;
use switchyard_hub::provenance::Family;
use switchyard_hub::translators::gemini;
use switchyard_hub::usage::UsageReading;
use switchyard_hub::wire::{Routes, StreamEnd};
use switchyard_hub::{
    ApiError, Format, StreamEvent, StreamStage, TranslateCtx, TranslateError, Translator,
    WireFormat,
};

// The `gemini-cli` format in one place: Gemini's error shape, usage inside the
// `response` envelope, spoken only to Code Assist providers (no routes).
const REGISTRATION: WireFormat = WireFormat {
    format: Format::GeminiCli,
    translators: &[
        Translator::new(Format::OpenAi, Format::GeminiCli)
            .request(hub_request_to_cli)
            .response(hub_response_to_cli)
            .stream(hub_stream_to_cli),
        Translator::new(Format::GeminiCli, Format::OpenAi)
            .request(cli_request_to_hub)
            .response(cli_response_to_hub)
            .stream(cli_stream_to_hub),
    ],
    errors: gemini::wire::ERRORS,
    usage: UsageReading {
        from_response: |body| {
            body.pointer("/response/usageMetadata")
                .and_then(gemini::wire::usage_of_metadata)
        },
        ..UsageReading::OPENAI
    },
    routes: Routes::NONE,
    openai_stream: false,
    max_tokens_at: &["/request/generationConfig/maxOutputTokens"],
    // Gemini's ends, read inside the envelope; never passed through (no client speaks it).
    stream_end: StreamEnd {
        last: |_| false,
        ..gemini::wire::STREAM_END
    },
    family: Family::GOOGLE,
    hosted: Some(HostedTools {
        tools_in: "/request",
        ..gemini::wire::HOSTED
    }),
    // Its bodies are only ever translated, never passed through.
    strip_foreign: None,
    client_headers: &[],
};

inventory::submit! { REGISTRATION }

fn unwrap(mut v: Value, key: &str) -> Value {
    match v.get_mut(key) {
        Some(inner) if inner.is_object() => inner.take(),
        _ => v,
    }
}

fn hub_request_to_cli(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let gemini = gemini::hub_request_to_gemini(body, ctx)?;
    Ok(json!({ "request": gemini }))
}

fn cli_request_to_hub(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    gemini::gemini_request_to_hub(unwrap(body, "request"), ctx)
}

fn hub_response_to_cli(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let gemini = gemini::hub_response_to_gemini(body, ctx)?;
    Ok(json!({ "response": gemini }))
}

fn cli_response_to_hub(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    gemini::gemini_response_to_hub(unwrap(body, "response"), ctx)
}

/// Wraps or unwraps each event around an inner Gemini stage.
struct Enveloped {
    inner: Box<dyn StreamStage>,
    /// Wrap the inner stage's output (hub -> cli) instead of unwrapping its input.
    wrap: bool,
}

impl StreamStage for Enveloped {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.wrap {
            let mut mid = Vec::new();
            self.inner.push(event, &mut mid)?;
            out.extend(mid.into_iter().map(wrap_event));
            Ok(())
        } else {
            let event = StreamEvent {
                event: event.event,
                data: unwrap(event.data.into_value(), "response").into(),
            };
            self.inner.push(event, out)
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let wrap = self.wrap;
        let mut mid = Vec::new();
        self.inner.finish(&mut mid)?;
        if wrap {
            out.extend(mid.into_iter().map(wrap_event));
        } else {
            out.extend(mid);
        }
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        let mut mid = Vec::new();
        self.inner.fail(error, &mut mid);
        if self.wrap {
            out.extend(mid.into_iter().map(wrap_event));
        } else {
            out.extend(mid);
        }
    }
}

fn wrap_event(ev: StreamEvent) -> StreamEvent {
    StreamEvent {
        event: ev.event,
        data: json!({ "response": ev.data }).into(),
    }
}

fn hub_stream_to_cli(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(Enveloped {
        inner: gemini::hub_stream_to_gemini(ctx),
        wrap: true,
    })
}

fn cli_stream_to_hub(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(Enveloped {
        inner: gemini::gemini_stream_to_hub(ctx),
        wrap: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TranslateCtx {
        TranslateCtx::new(Format::OpenAi, Format::GeminiCli, "gemini-2.5-pro", true)
    }

    #[test]
    fn requests_are_wrapped_and_answers_unwrapped() {
        let hub = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let cli = hub_request_to_cli(hub, &mut ctx()).unwrap();
        assert_eq!(cli["request"]["contents"][0]["parts"][0]["text"], "hi");
        let answer = json!({"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "yo"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}});
        let hub = cli_response_to_hub(answer, &ctx()).unwrap();
        assert_eq!(hub["choices"][0]["message"]["content"], "yo");
        assert_eq!(hub["usage"]["prompt_tokens"], 3);
    }

    // A second registration of a format: the plugin registry now refuses to load, as it
    // would in a binary with a duplicate (the server stops at start-up on that). The
    // envelope calls the Gemini translators directly, so it still works; it used to load a
    // registry of its own and report this as the client's 400.
    // Its other parts are the real one's, so a lookup finds the same whichever comes first.
    inventory::submit! {
        WireFormat {
            translators: &[],
            usage: UsageReading::OPENAI,
            max_tokens_at: &[],
            ..REGISTRATION
        }
    }

    // What the hub reads of `gemini-cli` outside its translators: Gemini's family and
    // hosted tools, with the tools inside the `request` envelope, and Gemini's stream end
    // read inside `response`.
    #[test]
    fn the_envelope_is_gemini_s_family_with_tools_inside_request() {
        use switchyard_hub::{hosted, provenance};
        let claude_search = json!({"type": "web_search_20250305", "name": "web_search"});
        let mut hub = json!({"tools": [hosted::to_hub(Format::Claude, &claude_search).unwrap()]});
        let tools = hosted::take_for(Format::GeminiCli, &mut hub).unwrap();
        assert_eq!(tools, [json!({"googleSearch": {}})]);
        let mut cli = json!({"request": {"contents": []}});
        hosted::insert(Format::GeminiCli, &mut cli, tools);
        assert_eq!(cli["request"]["tools"], json!([{"googleSearch": {}}]));
        // A Gemini client's own tool goes to Code Assist as it is: one family.
        let code = json!({"codeExecution": {}});
        let mut hub = json!({"tools": [hosted::to_hub(Format::Gemini, &code).unwrap()]});
        assert_eq!(
            hosted::take_for(Format::GeminiCli, &mut hub).unwrap(),
            [code]
        );
        assert_eq!(
            provenance::for_provider("G", Format::Gemini, Format::GeminiCli).as_deref(),
            Some("G")
        );
        let text = provenance::wrap_text("t", Format::Gemini);
        assert_eq!(
            provenance::carried(&text, Format::GeminiCli),
            provenance::Carried::OwnText("t".into())
        );
        let ends = switchyard_hub::wire::stream_end(Format::GeminiCli)
            .ends
            .unwrap();
        let last = json!({"response": {"candidates": [{"finishReason": "STOP"}]}});
        assert!(ends(&StreamEvent::hub(last)));
        assert!(!ends(&StreamEvent::hub(
            json!({"response": {"candidates": [{}]}})
        )));
    }

    #[test]
    fn envelope_does_not_depend_on_the_plugin_registry() {
        assert!(switchyard_hub::Registry::load().is_err());
        let hub = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let cli = hub_request_to_cli(hub, &mut ctx()).unwrap();
        assert_eq!(cli["request"]["contents"][0]["parts"][0]["text"], "hi");
        let back = cli_request_to_hub(cli, &mut ctx()).unwrap();
        assert_eq!(back["messages"][0]["content"], "hi");
        let mut stage = hub_stream_to_cli(&ctx());
        let mut out = Vec::new();
        let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "yo"}, "finish_reason": "stop"}]});
        stage.push(StreamEvent::hub(chunk), &mut out).unwrap();
        stage.finish(&mut out).unwrap();
        assert_eq!(
            out[0]
                .data
                .pointer("/response/candidates/0/content/parts/0/text"),
            Some(&json!("yo"))
        );
    }

    #[test]
    fn stream_events_are_unwrapped() {
        let mut stage = cli_stream_to_hub(&ctx());
        let mut out = Vec::new();
        let ev = json!({"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "he"}]}}]}});
        stage.push(StreamEvent::hub(ev), &mut out).unwrap();
        let ev = json!({"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "llo"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}});
        stage.push(StreamEvent::hub(ev), &mut out).unwrap();
        stage.finish(&mut out).unwrap();
        let text: String = out
            .iter()
            .filter_map(|e| {
                e.data
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect();
        assert_eq!(text, "hello");
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            let key = prop::sample::select(
                &[
                    "request",
                    "response",
                    "contents",
                    "candidates",
                    "parts",
                    "text",
                    "role",
                    "messages",
                    "content",
                    "functionCall",
                    "usageMetadata",
                    "finishReason",
                ][..],
            );
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..4).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        #[test]
        fn envelope_translators_never_panic(body in arb_json(), events in proptest::collection::vec(arb_json(), 0..8), fail in proptest::prelude::any::<bool>()) {
            let _ = hub_request_to_cli(body.clone(), &mut ctx());
            let _ = cli_request_to_hub(body.clone(), &mut ctx());
            let _ = hub_response_to_cli(body.clone(), &ctx());
            let _ = cli_response_to_hub(body, &ctx());
            for make in [hub_stream_to_cli, cli_stream_to_hub] {
                let mut stage = make(&ctx());
                let mut out = Vec::new();
                for ev in events.iter().cloned() {
                    let _ = stage.push(StreamEvent::hub(ev), &mut out);
                }
                if fail {
                    stage.fail(&ApiError::bad_gateway("cut"), &mut out);
                }
                let _ = stage.finish(&mut out);
                stage.fail(&ApiError::internal("late"), &mut out);
            }
        }

        #[test]
        fn cli_stream_ends_with_one_finish(texts in proptest::collection::vec("[a-z ]{0,6}", 1..8)) {
            let mut stage = cli_stream_to_hub(&ctx());
            let mut out = Vec::new();
            let n = texts.len();
            for (i, t) in texts.into_iter().enumerate() {
                let mut candidate = json!({"content": {"role": "model", "parts": [{"text": t}]}});
                if i + 1 == n {
                    candidate["finishReason"] = json!("STOP");
                }
                stage.push(StreamEvent::hub(json!({"response": {"candidates": [candidate]}})), &mut out).unwrap();
            }
            stage.finish(&mut out).unwrap();
            let finishes = out
                .iter()
                .filter(|e| e.data.pointer("/choices/0/finish_reason").is_some_and(|f| !f.is_null()))
                .count();
            proptest::prop_assert_eq!(finishes, 1);
        }
    }
}
