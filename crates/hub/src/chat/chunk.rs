//! The hub stream chunk (`chat.completion.chunk`), its choices, delta and usage.

use serde::Serialize;
use serde_json::Value;

use super::de::deserialize_hub_struct;
use super::{Extra, Nullable, ToolCall, set};

/// One `chat.completion.chunk`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChatChunk {
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Nullable<ChatUsage>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(ChatChunk {
    choices: default,
    created: default,
    id: default,
    model: default,
    object: default,
    usage: nullable,
});

impl ChatChunk {
    /// The first choice, which is the only one a single-candidate stream has.
    pub fn first(&self) -> Option<&ChunkChoice> {
        self.choices.first()
    }

    /// The usage this chunk reports, if any (`null` is none).
    pub fn usage(&self) -> Option<&ChatUsage> {
        set(&self.usage)
    }

    /// An error object carried inside the stream (some OpenAI-compatible servers do).
    pub fn error(&self) -> Option<&serde_json::Map<String, Value>> {
        self.extra.get("error").and_then(Value::as_object)
    }

    /// A usage-only chunk: no choices, a usage object.
    pub fn is_usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage().is_some()
    }
}

/// One choice of a chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChunkChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Nullable<Delta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(ChunkChoice {
    delta: nullable,
    finish_reason: nullable,
    index: default,
});

impl ChunkChoice {
    pub fn delta(&self) -> Option<&Delta> {
        set(&self.delta)
    }

    pub fn finish_reason(&self) -> Option<&str> {
        set(&self.finish_reason).map(String::as_str)
    }
}

/// What a chunk adds to the message. `reasoning_content`, `reasoning_signature` and
/// `redacted_reasoning` are the hub's extensions for thinking (see `translators/claude.rs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_signature: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted_reasoning: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Nullable<Vec<ToolCall>>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(Delta {
    content: nullable,
    reasoning_content: nullable,
    reasoning_signature: nullable,
    redacted_reasoning: nullable,
    refusal: nullable,
    role: nullable,
    tool_calls: nullable,
});

impl Delta {
    pub fn content(&self) -> Option<&str> {
        set(&self.content).map(String::as_str)
    }

    /// Thinking text: the hub's `reasoning_content`, or `reasoning` as some OpenAI-compatible
    /// servers (OpenRouter, vLLM) name it.
    pub fn reasoning(&self) -> Option<&str> {
        set(&self.reasoning_content)
            .map(String::as_str)
            .or_else(|| self.extra.get("reasoning").and_then(Value::as_str))
    }

    pub fn reasoning_signature(&self) -> Option<&str> {
        set(&self.reasoning_signature).map(String::as_str)
    }

    pub fn redacted_reasoning(&self) -> Option<&str> {
        set(&self.redacted_reasoning).map(String::as_str)
    }

    pub fn refusal(&self) -> Option<&str> {
        set(&self.refusal).map(String::as_str)
    }

    pub fn tool_calls(&self) -> &[ToolCall] {
        set(&self.tool_calls).map_or(&[], Vec::as_slice)
    }

    /// A delta with only `content`.
    pub fn text(text: impl Into<String>) -> Delta {
        Delta {
            content: Some(Some(text.into())),
            ..Delta::default()
        }
    }
}

/// Token counts in OpenAI's terms; the details objects stay as they came (their keys vary
/// by provider).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChatUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Nullable<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Nullable<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(ChatUsage {
    completion_tokens: default,
    completion_tokens_details: nullable_value,
    prompt_tokens: default,
    prompt_tokens_details: nullable_value,
    total_tokens: default,
});

impl ChatUsage {
    /// A count inside `prompt_tokens_details`.
    pub fn prompt_detail(&self, key: &str) -> Option<u64> {
        set(&self.prompt_tokens_details)
            .and_then(|d| d.get(key))
            .and_then(Value::as_u64)
    }
}
