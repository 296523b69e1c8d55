//! Server-sent events: an incremental parser that accepts arbitrary chunk boundaries
//! (including inside a multi-byte character). Events are written by
//! `StreamEvent::encode`.

use bytes::{Bytes, BytesMut};

/// Upper bound on one event; an upstream that never ends an event must not exhaust memory.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One complete event as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's exact bytes, terminator included, so passthrough forwards them untouched.
    pub raw: Bytes,
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl SseEvent {
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an SSE event exceeded {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("an SSE event is not valid UTF-8")]
    InvalidUtf8,
}

/// Splits a byte stream into events. Feed chunks with [`SseParser::push`], then drain
/// complete events with [`SseParser::next_event`].
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    /// Where the search for the blank line that ends the current event resumes.
    scanned: usize,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received but not yet part of a complete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    pub fn next_event(&mut self) -> Option<Result<SseEvent, SseError>> {
        loop {
            let Some(end) = self.find_event_end() else {
                if self.buf.len() > MAX_EVENT_BYTES {
                    self.buf.clear();
                    self.scanned = 0;
                    return Some(Err(SseError::TooLarge));
                }
                return None;
            };
            let raw = self.buf.split_to(end).freeze();
            self.scanned = 0;
            match parse_event(raw) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                // Comments and blank keep-alives carry nothing.
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The end (exclusive) of the first complete event: the byte after its blank line.
    fn find_event_end(&mut self) -> Option<usize> {
        let mut line_start = self.scanned;
        while let Some(offset) = memchr::memchr(b'\n', self.buf.get(line_start..)?) {
            let nl = line_start + offset;
            let line = self.buf.get(line_start..nl)?;
            if line.is_empty() || line == b"\r" {
                return Some(nl + 1);
            }
            line_start = nl + 1;
        }
        self.scanned = line_start;
        None
    }

    /// What is left when the stream ends: a final event without its blank line, if any.
    pub fn finish(&mut self) -> Option<Result<SseEvent, SseError>> {
        if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
            self.buf.clear();
            return None;
        }
        let raw = std::mem::take(&mut self.buf).freeze();
        self.scanned = 0;
        parse_event(raw).transpose()
    }
}

fn parse_event(raw: Bytes) -> Result<Option<SseEvent>, SseError> {
    let text = std::str::from_utf8(&raw).map_err(|_| SseError::InvalidUtf8)?;
    let mut event = None;
    let mut data: Option<String> = None;
    for line in text.lines() {
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    Ok(match (event, data) {
        (None, None) => None,
        (event, data) => Some(SseEvent {
            event,
            data: data.unwrap_or_default(),
            raw,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Appends one event with any text as data, one `data:` line per line of it, to feed
    /// the parser multi-line events. (Events the proxy sends are written by
    /// `StreamEvent::encode`: compact JSON, one line.)
    fn encode(event: Option<&str>, data: &str, out: &mut Vec<u8>) {
        if let Some(name) = event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        for line in data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }

    fn all(p: &mut SseParser) -> Vec<SseEvent> {
        let mut v = Vec::new();
        while let Some(ev) = p.next_event() {
            v.push(ev.unwrap());
        }
        v
    }

    #[test]
    fn parses_named_and_multiline_events() {
        let mut p = SseParser::new();
        p.push(
            b": keep-alive\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: x\ndata: y\r\n\r\n",
        );
        let evs = all(&mut p);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].event.as_deref(), Some("message_start"));
        assert_eq!(evs[0].data, "{\"a\":1}");
        assert_eq!(
            &evs[0].raw[..],
            b"event: message_start\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(evs[1].data, "x\ny");
    }

    #[test]
    fn multibyte_character_split_across_chunks() {
        let text = "data: {\"c\":\"h\u{e9}llo \u{1F600}\"}\n\n".as_bytes();
        for cut in 0..text.len() {
            let mut p = SseParser::new();
            p.push(&text[..cut]);
            let mut evs = all(&mut p);
            p.push(&text[cut..]);
            evs.extend(all(&mut p));
            assert_eq!(evs.len(), 1, "cut at {cut}");
            assert_eq!(evs[0].data, "{\"c\":\"h\u{e9}llo \u{1F600}\"}");
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let mut p = SseParser::new();
        p.push(b"data: \xff\xfe\n\n");
        assert_eq!(p.next_event(), Some(Err(SseError::InvalidUtf8)));
    }

    #[test]
    fn trailing_event_without_blank_line_is_kept() {
        let mut p = SseParser::new();
        p.push(b"data: [DONE]");
        assert!(p.next_event().is_none());
        let last = p.finish().unwrap().unwrap();
        assert!(last.is_done());
    }

    #[test]
    fn encode_then_parse() {
        let mut out = Vec::new();
        encode(Some("ping"), "{\"type\":\"ping\"}", &mut out);
        encode(None, "a\nb", &mut out);
        let mut p = SseParser::new();
        p.push(&out);
        let evs = all(&mut p);
        assert_eq!(evs[0].event.as_deref(), Some("ping"));
        assert_eq!(evs[1].data, "a\nb");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut p = SseParser::new();
            for c in &chunks {
                p.push(c);
                while p.next_event().is_some() {}
            }
            let _ = p.finish();
        }

        #[test]
        fn any_split_gives_the_same_events(data in "[a-z{}\":, ]{0,40}", cut in 0usize..200) {
            let mut wire = Vec::new();
            encode(Some("e"), &data, &mut wire);
            encode(None, &data, &mut wire);
            let cut = cut.min(wire.len());
            let mut p = SseParser::new();
            p.push(&wire[..cut]);
            let mut evs = all(&mut p);
            p.push(&wire[cut..]);
            evs.extend(all(&mut p));
            prop_assert_eq!(evs.len(), 2);
            prop_assert_eq!(&evs[0].data, &data);
            prop_assert_eq!(&evs[1].data, &data);
        }
    }
}
