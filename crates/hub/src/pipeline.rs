//! The route of one request through the hub: client -> hub -> provider, and back.

use serde_json::Value;

use crate::ctx::TranslateCtx;
use crate::error::ApiError;
use crate::error::TranslateError;
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::{Registry, RequestStep, ResponseFn, StreamFn};
use crate::step::HubRequest;
use crate::stream::{StreamEvent, StreamStage};

/// The translators one (client, provider) pair needs, resolved before anything is sent so a
/// missing pair fails fast. When both sides speak the same format nothing is translated.
#[derive(Clone, Copy, Debug)]
pub struct Pipeline {
    pub client: Format,
    pub provider: Format,
    passthrough: bool,
    request_to_hub: Option<RequestStep>,
    request_to_provider: Option<RequestStep>,
    response_to_hub: Option<ResponseFn>,
    response_to_client: Option<ResponseFn>,
    stream_to_hub: Option<StreamFn>,
    stream_to_client: Option<StreamFn>,
}

impl Pipeline {
    /// `stream` is whether the client streams; `upstream_stream` whether the provider will
    /// (a provider that only streams answers a non-streaming client through a collector).
    pub fn new(
        registry: &Registry,
        client: Format,
        provider: Format,
        stream: bool,
        upstream_stream: bool,
    ) -> Result<Pipeline, TranslateError> {
        Self::for_op(
            registry,
            Operation::Chat,
            client,
            provider,
            stream,
            upstream_stream,
        )
    }

    /// The pipeline of an `op` request, with the translators registered for that operation.
    pub fn for_op(
        registry: &Registry,
        op: Operation,
        client: Format,
        provider: Format,
        stream: bool,
        upstream_stream: bool,
    ) -> Result<Pipeline, TranslateError> {
        let mut p = Pipeline {
            client,
            provider,
            passthrough: client == provider && stream == upstream_stream,
            request_to_hub: None,
            request_to_provider: None,
            response_to_hub: None,
            response_to_client: None,
            stream_to_hub: None,
            stream_to_client: None,
        };
        if p.passthrough {
            return Ok(p);
        }
        if client != Format::HUB {
            p.request_to_hub = Some(registry.request_for(op, client, Format::HUB)?);
            if stream {
                p.stream_to_client = Some(registry.stream_for(op, Format::HUB, client)?);
            } else {
                p.response_to_client = Some(registry.response_for(op, Format::HUB, client)?);
            }
        }
        if provider != Format::HUB {
            p.request_to_provider = Some(registry.request_for(op, Format::HUB, provider)?);
            if upstream_stream {
                p.stream_to_hub = Some(registry.stream_for(op, provider, Format::HUB)?);
            } else {
                p.response_to_hub = Some(registry.response_for(op, provider, Format::HUB)?);
            }
        }
        Ok(p)
    }

    /// Same format and the same shape (stream or not) on both sides: bodies and stream
    /// events pass through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    /// The client's body in the hub format: typed if the client's translator builds the
    /// typed hub, else JSON (parsed at most once, by a provider translator that reads it
    /// typed).
    pub fn request_to_hub(
        &self,
        mut body: Value,
        ctx: &mut TranslateCtx,
    ) -> Result<HubRequest, TranslateError> {
        if self.passthrough {
            // Untranslated, the body may still hold other families' signatures from turns
            // another provider answered; only those fields are visited.
            crate::provenance::strip_foreign(self.client, &mut body);
            if self.client == Format::Responses {
                crate::translators::responses::compaction::own_items_to_messages(&mut body);
            }
        }
        apply(self.request_to_hub, HubRequest::Json(body), ctx)
    }

    pub fn request_to_provider(
        &self,
        mut hub: HubRequest,
        ctx: &mut TranslateCtx,
    ) -> Result<Value, TranslateError> {
        if self.passthrough {
            return apply(self.request_to_provider, hub, ctx)?.into_value();
        }
        // Hosted tools go around the provider's translator: resolved (or refused) for this
        // provider, then put back in its own form.
        let hosted = hub.take_hosted(self.provider)?;
        let mut out = apply(self.request_to_provider, hub, ctx)?.into_value()?;
        crate::hosted::insert(self.provider, &mut out, hosted);
        Ok(out)
    }

    pub fn response_to_hub(
        &self,
        body: Value,
        ctx: &TranslateCtx,
    ) -> Result<Value, TranslateError> {
        match self.response_to_hub {
            Some(f) => {
                let mut hub = f(body, ctx)?;
                if self.client == Format::HUB {
                    tag_chat_signatures(&mut hub, "message", self.provider);
                }
                Ok(hub)
            }
            None => Ok(body),
        }
    }

    pub fn response_to_client(
        &self,
        hub: Value,
        ctx: &TranslateCtx,
    ) -> Result<Value, TranslateError> {
        match self.response_to_client {
            Some(f) => f(hub, ctx),
            None => Ok(hub),
        }
    }

    /// The provider -> hub stage, if the provider does not speak the hub format.
    pub fn stream_to_hub(&self, ctx: &TranslateCtx) -> Option<Box<dyn StreamStage>> {
        let stage = self.stream_to_hub.map(|f| f(ctx))?;
        if self.client == Format::HUB {
            return Some(Box::new(TagChatSignatures {
                inner: stage,
                provider: self.provider,
            }));
        }
        Some(stage)
    }

    /// The hub -> client stage, if the client does not speak the hub format.
    pub fn stream_to_client(&self, ctx: &TranslateCtx) -> Option<Box<dyn StreamStage>> {
        self.stream_to_client.map(|f| f(ctx))
    }
}

/// A chat-completions client has no translator of its own after the hub, so the signatures
/// the provider's translator put in `reasoning_signature` are tagged with their family here,
/// as every other client format tags them, and go back only to the family that issued them.
fn tag_chat_signatures(hub: &mut Value, field: &str, provider: Format) {
    let Some(choices) = hub.get_mut("choices").and_then(Value::as_array_mut) else {
        return;
    };
    for choice in choices {
        if let Some(Value::String(sig)) = choice
            .get_mut(field)
            .and_then(|m| m.get_mut("reasoning_signature"))
        {
            *sig = crate::provenance::to_client(sig, provider, Format::HUB);
        }
    }
}

/// [`tag_chat_signatures`] over each chunk of a provider's stream.
struct TagChatSignatures {
    inner: Box<dyn StreamStage>,
    provider: Format,
}

impl TagChatSignatures {
    /// Reads each chunk in its own form: a typed chunk is tagged in place, text without a
    /// signature is left alone, and only what is left becomes a `Value` to tag.
    fn tag(&self, out: &mut [StreamEvent]) {
        for ev in out {
            if let Some(chunk) = ev.data.chunk_mut() {
                tag_chunk_signatures(chunk, self.provider);
            } else if !ev.data.lacks("reasoning_signature") {
                tag_chat_signatures(&mut ev.data, "delta", self.provider);
            }
        }
    }
}

/// [`tag_chat_signatures`] on a typed chunk's deltas.
fn tag_chunk_signatures(chunk: &mut crate::chat::ChatChunk, provider: Format) {
    let deltas = chunk
        .choices
        .iter_mut()
        .filter_map(|c| c.delta.as_mut()?.as_mut());
    for delta in deltas {
        if let Some(Some(sig)) = &mut delta.reasoning_signature {
            *sig = crate::provenance::to_client(sig, provider, Format::HUB);
        }
    }
}

impl StreamStage for TagChatSignatures {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let from = out.len();
        self.inner.push(event, out)?;
        self.tag(out.get_mut(from..).unwrap_or_default());
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let from = out.len();
        self.inner.finish(out)?;
        self.tag(out.get_mut(from..).unwrap_or_default());
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        self.inner.fail(error, out);
    }

    fn reads_text(&self) -> bool {
        self.inner.reads_text()
    }
}

fn apply(
    step: Option<RequestStep>,
    body: HubRequest,
    ctx: &mut TranslateCtx,
) -> Result<HubRequest, TranslateError> {
    match step {
        Some(step) => step.apply(body, ctx),
        None => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A chat client gets a Claude signature tagged with its family, as other clients do.
    #[test]
    fn chat_clients_get_tagged_signatures() {
        let registry = Registry::load().unwrap();
        let p = Pipeline::new(&registry, Format::OpenAi, Format::Claude, false, false).unwrap();
        let ctx = TranslateCtx::new(Format::OpenAi, Format::Claude, "claude", false);
        let claude = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "thinking", "thinking": "hm", "signature": "CSIG"},
                        {"type": "text", "text": "ok"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}});
        let hub = p.response_to_hub(claude, &ctx).unwrap();
        assert_eq!(
            hub["choices"][0]["message"]["reasoning_signature"],
            "switchyard-sig:anthropic:CSIG"
        );

        let p = Pipeline::new(&registry, Format::OpenAi, Format::Claude, true, true).unwrap();
        let mut stage = p.stream_to_hub(&ctx).unwrap();
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"CSIG\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let events =
            crate::stream::run_stage(stage.as_mut(), crate::stream::parse_sse_text(sse).unwrap())
                .unwrap();
        let sigs: Vec<&str> = events
            .iter()
            .filter_map(|e| e.data["choices"][0]["delta"]["reasoning_signature"].as_str())
            .collect();
        assert_eq!(sigs, ["switchyard-sig:anthropic:CSIG"]);
    }

    /// Chunks are tagged alike in every form; a typed chunk stays typed and text without a
    /// signature stays text, so neither becomes a `Value` for nothing.
    #[test]
    fn chunk_signatures_are_tagged_alike_in_every_form() {
        use crate::stream::Payload;
        let tagger = |provider| TagChatSignatures {
            inner: Box::new(Nothing),
            provider,
        };
        let signed = json!({"choices": [{"index": 0, "delta": {"reasoning_signature": "CSIG"}},
                                        {"index": 1, "delta": {"content": "reasoning_signature"}}]});
        let plain = json!({"choices": [{"index": 0, "delta": {"content": "hi"}}]});
        for chunk in [signed, plain] {
            let typed: crate::chat::ChatChunk = serde_json::from_value(chunk.clone()).unwrap();
            let mut forms = [
                StreamEvent::hub(chunk.clone()),
                StreamEvent::chunk(typed),
                StreamEvent {
                    event: None,
                    data: Payload::from_json_text(chunk.to_string()),
                },
            ];
            tagger(Format::Claude).tag(&mut forms);
            let [value, typed, text] = &forms;
            assert_eq!(typed.data, value.data);
            assert_eq!(text.data, value.data);
            assert!(typed.data.chunk().is_some());
            if value.data["choices"][0]["delta"]["reasoning_signature"].is_null() {
                assert!(text.data.text().is_some());
            } else {
                assert_eq!(
                    value.data["choices"][0]["delta"]["reasoning_signature"],
                    "switchyard-sig:anthropic:CSIG"
                );
            }
        }
    }

    /// A stage that sends nothing, to test the tagging around it.
    struct Nothing;

    impl StreamStage for Nothing {
        fn push(&mut self, _: StreamEvent, _: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
            Ok(())
        }

        fn finish(&mut self, _: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
            Ok(())
        }

        fn fail(&mut self, _: &ApiError, _: &mut Vec<StreamEvent>) {}
    }
}
