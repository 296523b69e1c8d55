use std::borrow::Cow;

use serde_json::Value;

use crate::error::{ApiError, TranslateError};

/// One event between stream stages: an optional SSE event name and its JSON payload.
/// Hub events are OpenAI chat completion chunks and carry no name.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    pub event: Option<Cow<'static, str>>,
    pub data: Value,
}

impl StreamEvent {
    pub fn hub(chunk: Value) -> Self {
        Self {
            event: None,
            data: chunk,
        }
    }

    pub fn named(event: &'static str, data: Value) -> Self {
        Self {
            event: Some(Cow::Borrowed(event)),
            data,
        }
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
}

impl StreamEvent {
    /// Reads one SSE event. `[DONE]` and empty payloads carry nothing and give `None`.
    pub fn from_sse(ev: crate::sse::SseEvent) -> Result<Option<StreamEvent>, TranslateError> {
        if ev.is_done() || ev.data.trim().is_empty() {
            return Ok(None);
        }
        let data = serde_json::from_str(&ev.data)
            .map_err(|e| TranslateError::BadUpstream(format!("stream event is not JSON: {e}")))?;
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
        if serde_json::to_writer(&mut *out, &self.data).is_err() {
            // Serialising a `Value` into memory cannot fail; an empty object keeps the
            // event well-formed if it ever did.
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\n\n");
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
}
