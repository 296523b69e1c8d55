//! The data of one stream event, kept in the form it came in until someone needs another.
//!
//! Building a `serde_json::Value` per event twice (once parsing the provider's event, once
//! writing the hub chunk) was most of a translated stream's cost. A payload is JSON text as
//! read off the wire, a typed hub chunk ([`ChatChunk`]) as a stage wrote it, or a `Value`.
//! Typed stages read the text straight into their own structs ([`Payload::to_chunk`],
//! [`Payload::text`]) and writers serialise a typed chunk straight to the wire
//! ([`Payload::write`]); code that still reads `Value`s gets one through `Deref`, built once
//! on first use and cached, so it keeps working unchanged.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde_json::Value;

use crate::chat::ChatChunk;

/// See the module header.
#[derive(Default)]
pub struct Payload {
    /// Where the value came from, when it was not a `Value`.
    source: Option<Source>,
    /// The value itself when there is no `source`.
    value: Value,
    /// The `Value` view of `source`, built on first use.
    cache: OnceLock<Value>,
}

enum Source {
    /// JSON text already checked to parse.
    Text(Box<str>),
    /// Compact JSON a stage wrote itself: one line, written out as it is.
    Line(Box<str>),
    Chunk(Box<ChatChunk>),
}

impl Payload {
    /// JSON text that is known to parse (the decoder checked it).
    pub fn from_json_text(text: impl Into<Box<str>>) -> Payload {
        Payload {
            source: Some(Source::Text(text.into())),
            value: Value::Null,
            cache: OnceLock::new(),
        }
    }

    pub fn from_chunk(chunk: ChatChunk) -> Payload {
        Payload {
            source: Some(Source::Chunk(Box::new(chunk))),
            value: Value::Null,
            cache: OnceLock::new(),
        }
    }

    /// Compact JSON (no raw line breaks) that a stage wrote itself.
    pub fn from_json_line(text: String) -> Payload {
        Payload {
            source: Some(Source::Line(text.into())),
            value: Value::Null,
            cache: OnceLock::new(),
        }
    }

    /// The JSON text this payload was read from, if it is still that.
    pub fn text(&self) -> Option<&str> {
        match &self.source {
            Some(Source::Text(t) | Source::Line(t)) => Some(t),
            _ => None,
        }
    }

    /// The typed hub chunk this payload was written as, if it is still that.
    pub fn chunk(&self) -> Option<&ChatChunk> {
        match &self.source {
            Some(Source::Chunk(c)) => Some(c),
            _ => None,
        }
    }

    /// The typed hub chunk, to change in place; the `Value` view built before (if any) is
    /// dropped so it cannot disagree.
    pub fn chunk_mut(&mut self) -> Option<&mut ChatChunk> {
        match &mut self.source {
            Some(Source::Chunk(c)) => {
                self.cache.take();
                Some(c)
            }
            _ => None,
        }
    }

    /// Whether the payload is JSON text in which `word` certainly appears in no key and no
    /// string: the text holds neither `word` nor a `\u` escape (the only way JSON can spell
    /// a letter or `_` other than as itself). A byte scan, so readers that want one rare
    /// field skip the parse on the events that cannot hold it. `word` must be letters,
    /// digits or `_`. `false` (not known) for a typed chunk or a `Value`.
    pub fn lacks(&self, word: &str) -> bool {
        self.text()
            .is_some_and(|t| !holds(t.as_bytes(), word.as_bytes()) && !holds(t.as_bytes(), b"\\u"))
    }

    /// Whether the `Value` view has been built: tests check a reader did not need one.
    #[cfg(test)]
    pub(crate) fn value_built(&self) -> bool {
        self.source.is_none() || self.cache.get().is_some()
    }

    /// This payload as a hub chunk, without a `Value` on the way when it is text or a chunk.
    /// `None` when it does not have a chunk's shape (a field of an unexpected type).
    pub fn to_chunk(self) -> Option<ChatChunk> {
        match self.source {
            Some(Source::Chunk(c)) => Some(*c),
            Some(Source::Text(t) | Source::Line(t)) => serde_json::from_str(&t).ok(),
            None => ChatChunk::deserialize_from(&self.value),
        }
    }

    /// Takes the `Value`, building it if needed.
    pub fn into_value(mut self) -> Value {
        std::mem::take(&mut *self)
    }

    /// Writes the JSON on one line (compact JSON has no raw line breaks).
    pub fn write(&self, out: &mut Vec<u8>) {
        let written = match &self.source {
            Some(Source::Chunk(c)) => serde_json::to_writer(&mut *out, c),
            Some(Source::Line(t)) => {
                out.extend_from_slice(t.as_bytes());
                Ok(())
            }
            // Text as it came, unless a line break between its tokens would cut the line.
            Some(Source::Text(t)) if memchr::memchr2(b'\n', b'\r', t.as_bytes()).is_none() => {
                out.extend_from_slice(t.as_bytes());
                Ok(())
            }
            _ => serde_json::to_writer(&mut *out, &**self),
        };
        if written.is_err() {
            // Serialising into memory cannot fail; an empty object keeps the event
            // well-formed if it ever did.
            out.extend_from_slice(b"{}");
        }
    }

    fn build(&self) -> Value {
        match &self.source {
            Some(Source::Text(t) | Source::Line(t)) => {
                serde_json::from_str(t).unwrap_or(Value::Null)
            }
            Some(Source::Chunk(c)) => serde_json::to_value(c).unwrap_or(Value::Null),
            None => Value::Null,
        }
    }
}

/// Whether `text` holds `word`. A stream event is a few hundred bytes: finding the word's
/// first byte and comparing the rest costs less than building a substring searcher (what
/// `memmem::find` does on every call).
fn holds(text: &[u8], word: &[u8]) -> bool {
    let Some((&first, rest)) = word.split_first() else {
        return true;
    };
    memchr::memchr_iter(first, text)
        .any(|at| text.get(at + 1..).is_some_and(|t| t.starts_with(rest)))
}

impl ChatChunk {
    /// Reads a chunk out of a `Value` without taking it apart.
    fn deserialize_from(v: &Value) -> Option<ChatChunk> {
        serde::Deserialize::deserialize(v).ok()
    }
}

impl From<Value> for Payload {
    fn from(v: Value) -> Payload {
        Payload {
            source: None,
            value: v,
            cache: OnceLock::new(),
        }
    }
}

impl From<ChatChunk> for Payload {
    fn from(c: ChatChunk) -> Payload {
        Payload::from_chunk(c)
    }
}

impl Deref for Payload {
    type Target = Value;

    fn deref(&self) -> &Value {
        match self.source {
            None => &self.value,
            Some(_) => self.cache.get_or_init(|| self.build()),
        }
    }
}

/// Changing the `Value` makes it the payload: the text or chunk it came from is dropped.
impl DerefMut for Payload {
    fn deref_mut(&mut self) -> &mut Value {
        if self.source.is_some() {
            self.value = self.cache.take().unwrap_or_else(|| self.build());
            self.source = None;
        }
        &mut self.value
    }
}

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.source {
            Some(Source::Chunk(c)) => c.serialize(s),
            _ => (**self).serialize(s),
        }
    }
}

impl Clone for Payload {
    fn clone(&self) -> Payload {
        Payload {
            source: match &self.source {
                Some(Source::Text(t)) => Some(Source::Text(t.clone())),
                Some(Source::Line(t)) => Some(Source::Line(t.clone())),
                Some(Source::Chunk(c)) => Some(Source::Chunk(c.clone())),
                None => None,
            },
            value: self.value.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        **self == **other
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        **self == *other
    }
}

impl PartialEq<&str> for Payload {
    fn eq(&self, other: &&str) -> bool {
        **self == *other
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::chat::{ChunkChoice, Delta};

    fn chunk() -> ChatChunk {
        ChatChunk {
            id: Some("c".into()),
            choices: vec![ChunkChoice {
                index: Some(0),
                delta: Some(Some(Delta::text("hi"))),
                finish_reason: Some(None),
                ..ChunkChoice::default()
            }],
            ..ChatChunk::default()
        }
    }

    #[test]
    fn every_form_reads_as_the_same_value_and_writes_the_same_bytes() {
        let v = json!({"choices": [{"delta": {"content": "hi"}, "finish_reason": null, "index": 0}], "id": "c"});
        let forms = [
            Payload::from(v.clone()),
            Payload::from_json_text(v.to_string()),
            Payload::from_chunk(chunk()),
        ];
        for p in forms {
            assert_eq!(p, v);
            let mut out = Vec::new();
            p.write(&mut out);
            assert_eq!(out, v.to_string().into_bytes());
            assert_eq!(p.clone().to_chunk(), Some(chunk()));
            assert_eq!(p.into_value(), v);
        }
    }

    #[test]
    fn a_change_through_the_value_is_what_gets_written() {
        let mut p = Payload::from_chunk(chunk());
        p["id"] = json!("changed");
        let mut out = Vec::new();
        p.write(&mut out);
        assert!(String::from_utf8(out).unwrap().contains("changed"));
        assert_eq!(p.chunk(), None);
    }

    #[test]
    fn text_with_line_breaks_is_written_compact() {
        let p = Payload::from_json_text("{\"a\":\n1}");
        let mut out = Vec::new();
        p.write(&mut out);
        assert_eq!(out, b"{\"a\":1}");
    }

    #[test]
    fn lacks_is_sure_only_of_text_without_the_word_or_an_escape() {
        let text = |t: &str| Payload::from_json_text(t);
        assert!(text(r#"{"type":"content_block_delta","delta":{"text":"hi"}}"#).lacks("stop"));
        assert!(!text(r#"{"delta":{"stop_reason":"end_turn"}}"#).lacks("stop_reason"));
        assert!(!text(r#"{"type":"message_stop"}"#).lacks("message_stop"));
        // `\u005f` is `_`: the text names `message_stop` without its bytes.
        let escaped = text(r#"{"type":"message\u005fstop"}"#);
        assert_eq!(escaped["type"], "message_stop");
        assert!(!escaped.lacks("message_stop"));
        assert!(!Payload::from_json_line(r#"{"a":"stop"}"#.into()).lacks("stop"));
        // Not text: not known.
        assert!(!Payload::from_chunk(chunk()).lacks("stop"));
        assert!(!Payload::from(json!({})).lacks("stop"));
    }

    #[test]
    fn a_chunk_changed_in_place_is_what_gets_read_and_written() {
        let mut p = Payload::from_chunk(chunk());
        assert_eq!(p["id"], "c");
        if let Some(c) = p.chunk_mut() {
            c.id = Some("changed".into());
        }
        assert_eq!(p["id"], "changed");
        let mut out = Vec::new();
        p.write(&mut out);
        assert!(String::from_utf8(out).unwrap().contains("changed"));
        assert!(Payload::from_json_text("{}").chunk_mut().is_none());
    }

    #[test]
    fn a_chunk_of_the_wrong_shape_is_none() {
        assert_eq!(
            Payload::from_json_text(r#"{"choices": "nope"}"#).to_chunk(),
            None
        );
    }
}
