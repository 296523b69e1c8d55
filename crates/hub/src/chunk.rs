//! The one writer of hub stream chunks (`chat.completion.chunk`).
//!
//! Every stage that turns a provider's stream into hub events (Claude, Gemini, Responses,
//! Kiro, Cursor) wraps its deltas in the same envelope: id, object, created, model, then
//! the choices and, at the end, usage. Writing that envelope here keeps it identical for
//! every provider and leaves one place to tune on the streaming hot path.

use serde_json::{Map, Value};

use crate::chat::{ChatChunk, ChatUsage, ChunkChoice, Delta};
use crate::clock::now_secs;
use crate::stream::StreamEvent;

/// The fields every chunk of one hub stream repeats.
///
/// A stage owns one and may fill `id` and `model` in once the upstream names them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChunkHead {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub model: String,
}

impl ChunkHead {
    /// A head stamped with the current time.
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            created: now_secs(),
            model: model.into(),
        }
    }

    /// A chunk with one choice (index 0): `delta` and its `finish_reason` (`None` is null).
    pub fn delta(&self, delta: Value, finish: Option<&str>) -> StreamEvent {
        let mut choice = Map::new();
        choice.insert("index".into(), Value::from(0));
        choice.insert("delta".into(), delta);
        choice.insert(
            "finish_reason".into(),
            finish.map_or(Value::Null, Value::from),
        );
        self.choices(Value::Array(vec![Value::Object(choice)]))
    }

    /// [`Self::delta`] written as a typed chunk: the same bytes, no `Value` built.
    pub fn typed(&self, delta: Delta, finish: Option<&str>) -> StreamEvent {
        let choice = ChunkChoice {
            delta: Some(Some(delta)),
            finish_reason: Some(finish.map(str::to_owned)),
            index: Some(0),
            ..ChunkChoice::default()
        };
        StreamEvent::chunk(self.typed_envelope(vec![choice], None))
    }

    /// [`Self::usage`] written as a typed chunk.
    pub fn typed_usage(&self, usage: ChatUsage) -> StreamEvent {
        StreamEvent::chunk(self.typed_envelope(Vec::new(), Some(usage)))
    }

    fn typed_envelope(&self, choices: Vec<ChunkChoice>, usage: Option<ChatUsage>) -> ChatChunk {
        ChatChunk {
            choices,
            created: Some(self.created),
            id: Some(self.id.clone()),
            model: Some(self.model.clone()),
            object: Some("chat.completion.chunk".to_owned()),
            usage: usage.map(Some),
            ..ChatChunk::default()
        }
    }

    /// A chunk with the given `choices` array (several candidates, or none).
    pub fn choices(&self, choices: Value) -> StreamEvent {
        StreamEvent::hub(Value::Object(self.envelope(choices)))
    }

    /// The usage chunk that closes a stream: no choices, only `usage`.
    pub fn usage(&self, usage: Value) -> StreamEvent {
        let mut chunk = self.envelope(Value::Array(Vec::new()));
        chunk.insert("usage".into(), usage);
        StreamEvent::hub(Value::Object(chunk))
    }

    fn envelope(&self, choices: Value) -> Map<String, Value> {
        let mut chunk = Map::new();
        chunk.insert("id".into(), Value::String(self.id.clone()));
        chunk.insert("object".into(), Value::from("chat.completion.chunk"));
        chunk.insert("created".into(), Value::from(self.created));
        chunk.insert("model".into(), Value::String(self.model.clone()));
        chunk.insert("choices".into(), choices);
        chunk
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn head() -> ChunkHead {
        ChunkHead {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
        }
    }

    #[test]
    fn delta_chunks_have_one_choice() {
        let ev = head().delta(json!({"content": "hi"}), Some("stop"));
        assert_eq!(ev.event, None);
        assert_eq!(
            ev.data,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
            })
        );
        let open = head().delta(json!({}), None);
        assert_eq!(open.data["choices"][0]["finish_reason"], Value::Null);
    }

    #[test]
    fn usage_chunks_have_no_choices() {
        let ev = head().usage(json!({"total_tokens": 3}));
        assert_eq!(
            ev.data,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                "choices": [], "usage": {"total_tokens": 3},
            })
        );
    }

    #[test]
    fn typed_chunks_write_the_same_bytes() {
        let bytes = |ev: StreamEvent| {
            let mut out = Vec::new();
            ev.encode(&mut out);
            out
        };
        assert_eq!(
            bytes(head().typed(Delta::text("hi"), Some("stop"))),
            bytes(head().delta(json!({"content": "hi"}), Some("stop")))
        );
        assert_eq!(
            bytes(head().typed(Delta::default(), None)),
            bytes(head().delta(json!({}), None))
        );
        let usage = json!({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 0}});
        let typed: ChatUsage = serde_json::from_value(usage.clone()).unwrap();
        assert_eq!(bytes(head().typed_usage(typed)), bytes(head().usage(usage)));
    }

    #[test]
    fn new_heads_are_stamped_now() {
        let h = ChunkHead::new("id", "model");
        assert!(h.created > 1_600_000_000);
        assert_eq!((h.id.as_str(), h.model.as_str()), ("id", "model"));
    }
}
