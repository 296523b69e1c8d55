//! Events between stream stages and the stage contract.

mod json;
mod payload;
mod view;

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde_json::Value;

use crate::chat::ChatChunk;
use crate::error::{ApiError, TranslateError};

pub(crate) use json::JsonObject;
pub use payload::Payload;
pub(crate) use view::cow;
pub use view::{ChoiceView, ChunkView, DeltaView, ToolCallView};

/// One event between stream stages: an optional SSE event name and its JSON payload.
/// Hub events are OpenAI chat completion chunks and carry no name.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    pub event: Option<Cow<'static, str>>,
    pub data: Payload,
}

impl StreamEvent {
    pub fn hub(chunk: Value) -> Self {
        Self {
            event: None,
            data: chunk.into(),
        }
    }

    /// A hub event written as a typed chunk: no `Value` is built for it unless a reader
    /// asks for one.
    pub fn chunk(chunk: ChatChunk) -> Self {
        Self {
            event: None,
            data: Payload::from_chunk(chunk),
        }
    }

    pub fn named(event: &'static str, data: Value) -> Self {
        Self {
            event: Some(Cow::Borrowed(event)),
            data: data.into(),
        }
    }

    /// A named event whose JSON a stage wrote itself: compact (one line), known to parse.
    pub fn named_text(event: &'static str, json: String) -> Self {
        Self {
            event: Some(Cow::Borrowed(event)),
            data: Payload::from_json_line(json),
        }
    }

    /// The usage a hub chunk reports (`null` and non-objects are none).
    pub fn hub_usage(&self) -> Option<crate::usage::Usage> {
        match self.data.chunk() {
            Some(c) => c.usage().map(crate::usage::Usage::from_chat),
            None => self
                .data
                .get("usage")
                .and_then(crate::usage::Usage::from_openai),
        }
    }

    /// Whether a hub chunk gives a finish reason (a string, not `null`) in any choice: how
    /// a chat-completions stream says its answer is whole.
    pub fn has_hub_finish_reason(&self) -> bool {
        if let Some(c) = self.data.chunk() {
            return c.choices.iter().any(|c| c.finish_reason().is_some());
        }
        if self.data.lacks("finish_reason") {
            return false;
        }
        self.data
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.get("finish_reason").is_some_and(Value::is_string))
            })
    }

    /// A hub chunk with no choices and a usage object: the one a client that did not ask
    /// for usage is not sent.
    pub fn is_hub_usage_only(&self) -> bool {
        match self.data.chunk() {
            Some(c) => c.is_usage_only(),
            None => {
                self.data
                    .get("choices")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty)
                    && self.data.get("usage").is_some_and(|u| !u.is_null())
            }
        }
    }

    /// Bytes of generated text in a hub chunk's first choice (content, reasoning, tool
    /// arguments), for an output estimate when the provider reports no usage.
    pub fn hub_text_bytes(&self) -> usize {
        if let Some(c) = self.data.chunk() {
            let Some(d) = c.first().and_then(|c| c.delta()) else {
                return 0;
            };
            let set = |f: &crate::chat::Nullable<String>| {
                f.as_ref().and_then(Option::as_ref).map_or(0, String::len)
            };
            let tools: usize = d
                .tool_calls()
                .iter()
                .map(|t| t.arguments().map_or(0, str::len))
                .sum();
            return set(&d.content) + set(&d.reasoning_content) + tools;
        }
        let Some(delta) = self.data.pointer("/choices/0/delta") else {
            return 0;
        };
        let len = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, str::len);
        let tools = delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .map_or(0, |calls| {
                calls
                    .iter()
                    .map(|c| len(c.pointer("/function/arguments")))
                    .sum()
            });
        len(delta.get("content")) + len(delta.get("reasoning_content")) + tools
    }
}

/// A stateful translator for one stream, from one format to another.
///
/// A stage sees every event of one response in order; whatever it must remember between
/// events (open blocks, tool-call indices, usage not yet sent) lives in the stage.
pub trait StreamStage: Send {
    /// Translates one input event into zero or more output events.
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError>;

    /// The input ended normally: close whatever is open and send the closing events.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError>;

    /// The input broke mid-way: end the output with a well-formed error in this stage's
    /// output format.
    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>);

    /// Whether this stage reads its input events typed (their JSON text, or a typed hub
    /// chunk), so the decoder should not parse them into `Value`s first
    /// ([`configure_decoder`]).
    fn reads_text(&self) -> bool {
        false
    }
}

impl StreamEvent {
    /// Reads one SSE event. `[DONE]` and empty payloads carry nothing and give `None`.
    pub fn from_sse(ev: crate::sse::SseEvent) -> Result<Option<StreamEvent>, TranslateError> {
        Self::read_sse(ev, ReadAs::Value)
    }

    /// [`Self::from_sse`], with the payload read `as_`.
    pub fn read_sse(
        ev: crate::sse::SseEvent,
        as_: ReadAs,
    ) -> Result<Option<StreamEvent>, TranslateError> {
        if ev.is_done() || ev.data.trim().is_empty() {
            return Ok(None);
        }
        let not_json = |e: serde_json::Error| {
            TranslateError::BadUpstream(format!("stream event is not JSON: {e}"))
        };
        let value = |text: &str| serde_json::from_str::<Value>(text).map_err(not_json);
        let data = match as_ {
            ReadAs::Value => Payload::from(value(&ev.data)?),
            ReadAs::Text => {
                serde_json::from_str::<IgnoredAny>(&ev.data).map_err(not_json)?;
                Payload::from_json_text(ev.data)
            }
            // A chunk of an unexpected shape (or not JSON) takes the `Value` road, which
            // reports bad JSON as before.
            ReadAs::HubChunk => match serde_json::from_str::<ChatChunk>(&ev.data) {
                Ok(chunk) => Payload::from_chunk(chunk),
                Err(_) => Payload::from(value(&ev.data)?),
            },
        };
        Ok(Some(StreamEvent {
            event: ev.event.map(Cow::Owned),
            data,
        }))
    }

    /// Appends this event to `out` as SSE, its JSON written straight into `out`: compact
    /// JSON has no raw line breaks, so it is always one `data:` line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(name) = &self.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        self.data.write(out);
        out.extend_from_slice(b"\n\n");
    }
}

/// How a decoder hands on an event's JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadAs {
    /// Parsed into a `Value`, for stages that read `Value`s.
    #[default]
    Value,
    /// Checked and kept as text, for a provider stage that reads it into its own structs
    /// ([`StreamStage::reads_text`]).
    Text,
    /// Read into a typed hub chunk: the provider speaks the hub format, so its events go
    /// straight to a client stage that reads chunks typed, and to the server's usage and
    /// text counting, without a `Value` on the way.
    HubChunk,
}

/// Sets how `decoder` hands events on, by what reads them first: the provider stage if
/// there is one, else the client stage, which then gets hub chunks as they came.
pub fn configure_decoder(
    decoder: &mut dyn crate::Decoder,
    to_hub: Option<&dyn StreamStage>,
    to_client: Option<&dyn StreamStage>,
) {
    match (to_hub, to_client) {
        (Some(stage), _) => decoder.keep_text(stage.reads_text()),
        (None, Some(stage)) => decoder.hub_chunks(stage.reads_text()),
        (None, None) => {}
    }
}

/// Parses a whole SSE text (a recorded fixture, say) into events.
pub fn parse_sse_text(text: &str) -> Result<Vec<StreamEvent>, TranslateError> {
    let mut parser = crate::sse::SseParser::new();
    parser.push(text.as_bytes());
    let mut out = Vec::new();
    let mut read = |ev: Result<crate::sse::SseEvent, crate::sse::SseError>| {
        let ev = ev.map_err(|e| TranslateError::BadUpstream(e.to_string()))?;
        if let Some(ev) = StreamEvent::from_sse(ev)? {
            out.push(ev);
        }
        Ok::<_, TranslateError>(())
    };
    while let Some(ev) = parser.next_event() {
        read(ev)?;
    }
    if let Some(ev) = parser.finish() {
        read(ev)?;
    }
    Ok(out)
}

/// Runs a whole input through a stage, `finish` included.
pub fn run_stage(
    stage: &mut dyn StreamStage,
    input: Vec<StreamEvent>,
) -> Result<Vec<StreamEvent>, TranslateError> {
    let mut out = Vec::new();
    for ev in input {
        stage.push(ev, &mut out)?;
    }
    stage.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;
    use serde_json::json;

    #[test]
    fn an_encoded_event_parses_back_as_the_same_event() {
        let data = json!({"type": "content_block_delta", "delta": {"text": "a\nb \"c\"\r\n"}});
        let mut buf = Vec::new();
        StreamEvent::named("content_block_delta", data.clone()).encode(&mut buf);
        StreamEvent::hub(json!({"choices": []})).encode(&mut buf);
        let mut parser = SseParser::new();
        parser.push(&buf);
        let first = StreamEvent::from_sse(parser.next_event().unwrap().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(first.event.as_deref(), Some("content_block_delta"));
        assert_eq!(first.data, data);
        let second = parser.next_event().unwrap().unwrap();
        assert_eq!(second.event, None);
        assert_eq!(second.data, r#"{"choices":[]}"#);
        assert!(parser.next_event().is_none());
    }

    /// Typed or not, a chunk counts the same text and reports the same usage.
    #[test]
    fn hub_text_and_usage_read_alike_from_every_form() {
        let chunk = json!({"choices": [{"index": 0, "delta": {
            "content": "hello", "reasoning_content": "hmm",
            "tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}},
                           {"index": 1, "function": {"name": "x"}}]}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}});
        let typed: crate::chat::ChatChunk = serde_json::from_value(chunk.clone()).unwrap();
        for ev in [
            StreamEvent::hub(chunk.clone()),
            StreamEvent::chunk(typed),
            StreamEvent {
                event: None,
                data: Payload::from_json_text(chunk.to_string()),
            },
        ] {
            assert_eq!(ev.hub_text_bytes(), 5 + 3 + 7);
            assert_eq!(ev.hub_usage().map(|u| u.completion_tokens), Some(3));
            assert!(!ev.is_hub_usage_only());
        }
        let usage_only = json!({"choices": [], "usage": {"total_tokens": 1}});
        assert!(StreamEvent::hub(usage_only.clone()).is_hub_usage_only());
        let typed: crate::chat::ChatChunk = serde_json::from_value(usage_only).unwrap();
        assert!(StreamEvent::chunk(typed).is_hub_usage_only());
        assert_eq!(StreamEvent::hub(json!({"choices": []})).hub_text_bytes(), 0);
        // Usage read from the typed chunk gives what the `Value` reading gives.
        let usage = json!({"prompt_tokens": 10, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 4, "cache_creation_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2}, "estimated": true});
        let chunk = json!({"choices": [], "usage": usage});
        let typed: crate::chat::ChatChunk = serde_json::from_value(chunk.clone()).unwrap();
        let from_value = StreamEvent::hub(chunk).hub_usage();
        assert_eq!(StreamEvent::chunk(typed).hub_usage(), from_value);
        assert_eq!(
            from_value.map(|u| (u.cache_write_tokens, u.estimated)),
            Some((3, true))
        );
    }

    /// A finish reason is found alike in every form of a chunk, and in text without one no
    /// `Value` is built to look.
    #[test]
    fn a_finish_reason_reads_alike_from_every_form() {
        let chunks = [
            (
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                true,
            ),
            (
                json!({"choices": [{"delta": {"content": "x"}, "finish_reason": null}]}),
                false,
            ),
            (
                json!({"choices": [{"delta": {"content": "finish_reason"}}]}),
                false,
            ),
            (
                json!({"choices": [{"delta": {}}, {"finish_reason": "length"}]}),
                true,
            ),
            (json!({"choices": [], "usage": {"total_tokens": 1}}), false),
        ];
        for (chunk, finished) in chunks {
            let typed: crate::chat::ChatChunk = serde_json::from_value(chunk.clone()).unwrap();
            let text = StreamEvent {
                event: None,
                data: Payload::from_json_text(chunk.to_string()),
            };
            let typed = StreamEvent::chunk(typed);
            for ev in [&StreamEvent::hub(chunk.clone()), &text, &typed] {
                assert_eq!(ev.has_hub_finish_reason(), finished, "{chunk}");
            }
            assert!(!typed.data.value_built());
        }
        let text = Payload::from_json_text(r#"{"choices":[{"delta":{"content":"hi"}}]}"#);
        let ev = StreamEvent {
            event: None,
            data: text,
        };
        assert!(!ev.has_hub_finish_reason());
        assert!(!ev.data.value_built());
        assert_eq!(StreamEvent::hub(json!("not a chunk")).hub_text_bytes(), 0);
    }
}
