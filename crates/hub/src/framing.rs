//! How an upstream's stream body splits into events. Most providers frame with SSE; Kiro
//! (AWS event stream) and Cursor (Connect) frame in binary, and their crates supply their own
//! [`Decoder`] through their executor.

use crate::error::TranslateError;
use crate::sse::SseParser;
use crate::stream::{ReadAs, StreamEvent};

/// Turns a byte stream, cut at arbitrary points, into events. Never panics on any input.
pub trait Decoder: Send {
    fn push(&mut self, chunk: &[u8]);

    /// The next complete event, if one is buffered.
    fn next_event(&mut self) -> Option<Result<StreamEvent, TranslateError>>;

    /// The body ended: the last event if one was unterminated, or an error if the body
    /// ended inside a frame.
    fn finish(&mut self) -> Result<Option<StreamEvent>, TranslateError>;

    /// Hand events on as checked JSON text instead of parsed `Value`s, for a stage that
    /// reads text into its own structs ([`crate::StreamStage::reads_text`]). Decoders that
    /// do not frame JSON text ignore it.
    fn keep_text(&mut self, _keep: bool) {}

    /// Hand events on as typed hub chunks ([`crate::stream::ReadAs::HubChunk`]), for a
    /// provider that speaks the hub format and a client stage that reads chunks typed.
    /// Decoders that do not frame JSON text ignore it.
    fn hub_chunks(&mut self, _on: bool) {}
}

/// SSE events whose data is JSON; `[DONE]` and comments carry nothing.
#[derive(Debug, Default)]
pub struct SseDecoder {
    parser: SseParser,
    read_as: ReadAs,
}

impl Decoder for SseDecoder {
    fn push(&mut self, chunk: &[u8]) {
        self.parser.push(chunk);
    }

    fn keep_text(&mut self, keep: bool) {
        self.read_as = if keep { ReadAs::Text } else { ReadAs::Value };
    }

    fn hub_chunks(&mut self, on: bool) {
        self.read_as = if on { ReadAs::HubChunk } else { ReadAs::Value };
    }

    fn next_event(&mut self) -> Option<Result<StreamEvent, TranslateError>> {
        loop {
            let ev = match self.parser.next_event()? {
                Ok(ev) => ev,
                Err(e) => return Some(Err(TranslateError::BadUpstream(e.to_string()))),
            };
            match StreamEvent::read_sse(ev, self.read_as) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn finish(&mut self) -> Result<Option<StreamEvent>, TranslateError> {
        match self.parser.finish() {
            None => Ok(None),
            Some(Err(e)) => Err(TranslateError::BadUpstream(e.to_string())),
            Some(Ok(ev)) => StreamEvent::read_sse(ev, self.read_as),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_decoder_yields_json_events_and_skips_done() {
        let mut d = SseDecoder::default();
        d.push(b"event: message_start\ndata: {\"a\":1}\n\ndata: [DONE]\n\n: ping\n\ndata: {\"b\"");
        let first = d.next_event().unwrap().unwrap();
        assert_eq!(first.event.as_deref(), Some("message_start"));
        assert!(d.next_event().is_none());
        d.push(b":2}");
        assert_eq!(d.finish().unwrap().unwrap().data["b"], 2);
    }

    #[test]
    fn non_json_data_is_an_upstream_error() {
        for read_as in [ReadAs::Value, ReadAs::Text, ReadAs::HubChunk] {
            let mut d = SseDecoder {
                read_as,
                ..SseDecoder::default()
            };
            d.push(b"data: {nope\n\n");
            assert!(matches!(
                d.next_event(),
                Some(Err(TranslateError::BadUpstream(_)))
            ));
        }
    }
}
