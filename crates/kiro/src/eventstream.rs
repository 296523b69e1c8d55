//! The AWS event-stream framing Kiro answers in, decoded incrementally from arbitrary chunk
//! boundaries.
//!
//! A frame is `[u32 total length][u32 headers length][u32 prelude CRC32][headers][payload]
//! [u32 message CRC32]`, all big-endian. `aws-smithy-eventstream` parses and checks whole
//! frames; this decoder buffers bytes until a frame is whole. It checks the prelude itself
//! first: the library checks the prelude CRC only once the whole frame has arrived, so a
//! corrupted length would otherwise make it wait for gigabytes that never come.

use std::borrow::Cow;

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, BytesMut};
use serde_json::Value;
use switchyard_hub::{ApiError, Decoder, ErrorKind, StreamEvent, TranslateError};

/// Bytes of the prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the smallest possible frame.
const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// The largest frame accepted. AWS caps event-stream messages far below this (16 MiB is
/// the protocol's own ceiling); anything larger is a corrupted length.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Splits a Kiro response body into events: `event` is the frame's `:event-type`, `data`
/// its JSON payload. Exception and error frames become errors that keep their meaning
/// (throttling is a 429).
#[derive(Debug)]
pub struct EventStreamDecoder {
    buf: BytesMut,
    max_frame: usize,
    /// Set after the first error: the stream is unusable from there on.
    failed: bool,
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        Self::with_max_frame(MAX_FRAME_LEN)
    }
}

impl EventStreamDecoder {
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame: max_frame.max(MIN_FRAME_LEN),
            failed: false,
        }
    }

    /// The next whole frame's bytes, if one is buffered; an error as soon as the prelude
    /// shows the frame cannot be valid.
    fn next_frame(&mut self) -> Result<Option<bytes::Bytes>, TranslateError> {
        let Some(prelude) = self.buf.get(..PRELUDE_LEN) else {
            return Ok(None);
        };
        let word = |i: usize| {
            prelude
                .get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_be_bytes)
        };
        let (total, headers, crc) = (word(0), word(4), word(8));
        let actual = crc32fast::hash(prelude.get(..8).unwrap_or_default());
        if actual != crc {
            return Err(bad(format!(
                "event-stream prelude checksum {actual:#010x} does not match {crc:#010x}"
            )));
        }
        let total = total as usize;
        if total < MIN_FRAME_LEN || headers as usize > total - MIN_FRAME_LEN {
            return Err(bad(format!(
                "event-stream frame lengths are inconsistent (total {total}, headers {headers})"
            )));
        }
        if total > self.max_frame {
            return Err(bad(format!(
                "event-stream frame of {total} bytes exceeds the {}-byte limit",
                self.max_frame
            )));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(total).freeze()))
    }
}

impl Decoder for EventStreamDecoder {
    fn push(&mut self, chunk: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(chunk);
        }
    }

    fn next_event(&mut self) -> Option<Result<StreamEvent, TranslateError>> {
        if self.failed {
            return None;
        }
        let result = match self.next_frame() {
            Ok(None) => return None,
            Ok(Some(frame)) => read_message_from(frame)
                .map_err(|e| bad(format!("event-stream frame is invalid: {e}")))
                .and_then(|m| message_to_event(&m)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
        }
        Some(result)
    }

    fn finish(&mut self) -> Result<Option<StreamEvent>, TranslateError> {
        if self.failed || !self.buf.has_remaining() {
            return Ok(None);
        }
        let left = self.buf.len();
        self.buf.clear();
        self.failed = true;
        Err(bad(format!(
            "the stream ended inside an event-stream frame ({left} bytes left over)"
        )))
    }
}

fn bad(message: String) -> TranslateError {
    TranslateError::BadUpstream(message)
}

fn header<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// One decoded frame as an event, or the error an exception frame reports.
pub fn message_to_event(msg: &Message) -> Result<StreamEvent, TranslateError> {
    let payload = msg.payload();
    let parse = || -> Result<Value, TranslateError> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(payload)
            .map_err(|e| bad(format!("event-stream payload is not JSON: {e}")))
    };
    match header(msg, ":message-type") {
        Some("event") | None => {
            let Some(kind) = header(msg, ":event-type") else {
                return Err(bad("event-stream frame names no :event-type".into()));
            };
            let kind = kind.to_owned();
            let mut data = parse()?;
            // Some producers wrap the members in an object named after the event.
            if let Some(inner) = data.as_object_mut().and_then(|o| {
                (o.len() == 1)
                    .then(|| o.remove(kind.as_str()))
                    .flatten()
                    .filter(Value::is_object)
            }) {
                data = inner;
            }
            Ok(StreamEvent {
                event: Some(Cow::Owned(kind)),
                data: data.into(),
            })
        }
        Some("exception") => {
            let kind = header(msg, ":exception-type").unwrap_or("UnknownException");
            let body = parse().unwrap_or(Value::Null);
            let message = body
                .get("message")
                .or_else(|| body.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Err(exception(kind, &message))
        }
        Some("error") => {
            let code = header(msg, ":error-code").unwrap_or("UnknownError");
            let message = header(msg, ":error-message").unwrap_or("").to_owned();
            Err(exception(code, &message))
        }
        Some(other) => Err(bad(format!("unknown event-stream :message-type `{other}`"))),
    }
}

/// The error an exception frame of type `kind` means for the client and the account.
pub fn exception(kind: &str, message: &str) -> TranslateError {
    let short = kind.rsplit(['#', '.']).next().unwrap_or(kind);
    let (status, class) = match short {
        "ThrottlingException" | "ServiceQuotaExceededException" | "TooManyRequestsException" => {
            (429, ErrorKind::RateLimited)
        }
        "ValidationException" | "SerializationException" => (400, ErrorKind::InvalidRequest),
        "AccessDeniedException" => (403, ErrorKind::PermissionDenied),
        "UnauthorizedException" | "ExpiredTokenException" => (401, ErrorKind::Authentication),
        "ResourceNotFoundException" => (404, ErrorKind::NotFound),
        "ServiceUnavailableException" => (503, ErrorKind::Overloaded),
        _ => (502, ErrorKind::Upstream),
    };
    let text = if message.is_empty() {
        "no message".to_owned()
    } else {
        message.to_owned()
    };
    let what = if status == 429 {
        "Kiro is throttling this account"
    } else {
        "Kiro reported an error"
    };
    TranslateError::Upstream(ApiError::new(
        status,
        class,
        format!("{what} ({short}): {text}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;
    use proptest::prelude::*;
    use serde_json::json;

    fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut msg = Message::new(payload.to_vec());
        for (k, v) in headers {
            msg = msg.add_header(Header::new(
                k.to_string(),
                HeaderValue::String(v.to_string().into()),
            ));
        }
        let mut out = Vec::new();
        write_message_to(&msg, &mut out).unwrap();
        out
    }

    fn event(kind: &str, payload: Value) -> Vec<u8> {
        frame(
            &[
                (":message-type", "event"),
                (":event-type", kind),
                (":content-type", "application/json"),
            ],
            payload.to_string().as_bytes(),
        )
    }

    fn sample() -> (Vec<u8>, Vec<(String, Value)>) {
        let events = vec![
            (
                "assistantResponseEvent".to_owned(),
                json!({"content": "Hel"}),
            ),
            (
                "assistantResponseEvent".to_owned(),
                json!({"content": "lo ü"}),
            ),
            (
                "toolUseEvent".to_owned(),
                json!({"toolUseId": "t1", "name": "Bash", "input": "{\"a\":"}),
            ),
            (
                "toolUseEvent".to_owned(),
                json!({"toolUseId": "t1", "name": "Bash", "input": "1}", "stop": true}),
            ),
            (
                "contextUsageEvent".to_owned(),
                json!({"contextUsagePercentage": 1.5}),
            ),
        ];
        let mut bytes = Vec::new();
        for (k, v) in &events {
            bytes.extend(event(k, v.clone()));
        }
        (bytes, events)
    }

    fn decode_all(
        d: &mut EventStreamDecoder,
        chunks: &[&[u8]],
    ) -> Result<Vec<(String, Value)>, TranslateError> {
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            while let Some(ev) = d.next_event() {
                let ev = ev?;
                out.push((
                    ev.event.unwrap_or_default().into_owned(),
                    ev.data.into_value(),
                ));
            }
        }
        if let Some(ev) = d.finish()? {
            out.push((
                ev.event.unwrap_or_default().into_owned(),
                ev.data.into_value(),
            ));
        }
        Ok(out)
    }

    #[test]
    fn round_trips_split_at_every_byte_boundary() {
        let (bytes, events) = sample();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let mut d = EventStreamDecoder::default();
            assert_eq!(decode_all(&mut d, &[a, b]).unwrap(), events, "cut at {cut}");
        }
        for cut1 in (0..bytes.len()).step_by(7) {
            for cut2 in (cut1..bytes.len()).step_by(5) {
                let mut d = EventStreamDecoder::default();
                let parts = [&bytes[..cut1], &bytes[cut1..cut2], &bytes[cut2..]];
                assert_eq!(decode_all(&mut d, &parts).unwrap(), events);
            }
        }
        // One byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        let mut d = EventStreamDecoder::default();
        assert_eq!(decode_all(&mut d, &singles).unwrap(), events);
    }

    #[test]
    fn decodes_the_recorded_fixture() {
        // Encoded by tests/fixtures/make_fixtures.py straight from the event-stream spec.
        let bytes = include_bytes!("../tests/fixtures/text_and_tool.bin");
        let mut d = EventStreamDecoder::default();
        let events = decode_all(&mut d, &[bytes]).unwrap();
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "assistantResponseEvent",
                "assistantResponseEvent",
                "toolUseEvent",
                "toolUseEvent",
                "toolUseEvent",
                "meteringEvent",
                "contextUsageEvent",
                "metricsEvent",
                "messageStopEvent",
            ]
        );
        assert_eq!(events[0].1["content"], "Hello");
    }

    #[test]
    fn corrupt_crcs_are_errors() {
        let (bytes, _) = sample();
        // Payload byte of the first frame: message CRC mismatch.
        let mut bad_payload = bytes.clone();
        let first_len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        bad_payload[first_len - 6] ^= 0x20;
        let mut d = EventStreamDecoder::default();
        let err = decode_all(&mut d, &[&bad_payload]).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        // Prelude CRC: refused as soon as 12 bytes are in, not after waiting for the frame.
        let mut bad_prelude = bytes[..12].to_vec();
        bad_prelude[9] ^= 1;
        let mut d = EventStreamDecoder::default();
        d.push(&bad_prelude);
        assert!(matches!(d.next_event(), Some(Err(_))));
        assert!(d.next_event().is_none(), "one error, then nothing");
    }

    #[test]
    fn oversized_and_inconsistent_lengths_fail_at_once() {
        let mut huge = Vec::new();
        huge.extend(0x7fff_ffffu32.to_be_bytes());
        huge.extend(0u32.to_be_bytes());
        let crc = crc32fast::hash(&huge);
        huge.extend(crc.to_be_bytes());
        let mut d = EventStreamDecoder::default();
        d.push(&huge);
        let err = d.next_event().unwrap().unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");

        let mut short = Vec::new();
        short.extend(8u32.to_be_bytes());
        short.extend(0u32.to_be_bytes());
        let crc = crc32fast::hash(&short);
        short.extend(crc.to_be_bytes());
        let mut d = EventStreamDecoder::default();
        d.push(&short);
        assert!(d.next_event().unwrap().is_err());
    }

    #[test]
    fn truncated_frames_fail_at_the_end() {
        let (bytes, _) = sample();
        let mut d = EventStreamDecoder::default();
        let err = decode_all(&mut d, &[&bytes[..bytes.len() - 3]]).unwrap_err();
        assert!(err.to_string().contains("ended inside"), "{err}");
    }

    #[test]
    fn exceptions_keep_their_meaning() {
        let throttle = frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "ThrottlingException"),
                (":content-type", "application/json"),
            ],
            br#"{"message":"Too many requests, please wait"}"#,
        );
        let mut d = EventStreamDecoder::default();
        let mut bytes = event("assistantResponseEvent", json!({"content": "a"}));
        bytes.extend(throttle);
        d.push(&bytes);
        assert!(d.next_event().unwrap().is_ok());
        let err = d.next_event().unwrap().unwrap_err();
        let api = ApiError::from(err);
        assert_eq!((api.status, api.kind), (429, ErrorKind::RateLimited));
        assert!(api.message.contains("throttling"), "{}", api.message);
        assert!(api.message.contains("please wait"));

        let error = frame(
            &[
                (":message-type", "error"),
                (":error-code", "InternalServerException"),
                (":error-message", "boom"),
            ],
            b"",
        );
        let mut d = EventStreamDecoder::default();
        d.push(&error);
        let api = ApiError::from(d.next_event().unwrap().unwrap_err());
        assert_eq!(api.status, 502);
        assert!(api.message.contains("boom"));
    }

    #[test]
    fn wrapped_payloads_are_unwrapped() {
        let bytes = event(
            "assistantResponseEvent",
            json!({"assistantResponseEvent": {"content": "x"}}),
        );
        let mut d = EventStreamDecoder::default();
        let got = decode_all(&mut d, &[&bytes]).unwrap();
        assert_eq!(got[0].1, json!({"content": "x"}));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut d = EventStreamDecoder::with_max_frame(4096);
            let mut start = 0;
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.sort_unstable();
            for p in points.into_iter().chain([data.len()]) {
                d.push(&data[start..p]);
                start = p;
                while let Some(ev) = d.next_event() {
                    if ev.is_err() { break; }
                }
            }
            let _ = d.finish();
        }

        #[test]
        fn mutated_valid_streams_error_or_decode(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let (mut bytes, _) = sample();
            // Distinct positions, so two flips never cancel out.
            let flips: std::collections::BTreeMap<usize, u8> =
                flips.into_iter().map(|(at, x)| (at % bytes.len(), x | 1)).collect();
            for (i, x) in flips {
                bytes[i] ^= x;
            }
            let cut = cut % (bytes.len() + 1);
            let mut d = EventStreamDecoder::default();
            // A flipped bit is caught by a CRC, so every mutation must end in an error.
            let result = decode_all(&mut d, &[&bytes[..cut], &bytes[cut..]]);
            prop_assert!(result.is_err());
        }
    }
}
