//! The hub request and (non-streamed) response: messages, content, tools and tool calls.

use serde::Serialize;
use serde_json::{Number, Value};

use super::de::deserialize_hub_struct;
use super::{ChatUsage, Extra, Nullable, set};

/// A chat completions request. The fields a translator reads are named; settings the
/// translators pass along as they came (`seed`, `logprobs`, ...) stay in `extra`. Numbers a
/// translator may forward untouched (`temperature`, `top_p`) stay [`Number`]s, so `1` is not
/// rewritten as `1.0`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChatRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(ChatRequest {
    max_completion_tokens: default,
    max_tokens: default,
    messages: required,
    model: default,
    n: default,
    parallel_tool_calls: default,
    reasoning_effort: default,
    response_format: value,
    stop: default,
    stream: default,
    stream_options: value,
    temperature: default,
    tool_choice: default,
    tools: default,
    top_p: default,
    user: default,
});

/// `stop`: one sequence or several.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn sequences(&self) -> &[String] {
        match self {
            Stop::One(s) => std::slice::from_ref(s),
            Stop::Many(v) => v,
        }
    }
}

/// `tool_choice`: a mode (`auto`, `required`, `none`) or an object naming a tool.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named(NamedToolChoice),
}

/// `{"type": "function", "function": {"name": ...}}` (or a newer object form, kept whole).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NamedToolChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(NamedToolChoice {
    function: default, kind as "type": default,
});

/// One message of the conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Message {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Nullable<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Nullable<String>,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Nullable<Vec<ToolCall>>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(Message {
    content: nullable,
    name: default,
    reasoning_content: nullable,
    role: required,
    tool_call_id: default,
    tool_calls: nullable,
});

impl Message {
    pub fn content(&self) -> Option<&Content> {
        set(&self.content)
    }

    pub fn tool_calls(&self) -> &[ToolCall] {
        set(&self.tool_calls).map_or(&[], Vec::as_slice)
    }

    /// A string field the hub does not name (`reasoning_signature`, `redacted_reasoning`...).
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }
}

/// A message's content: a plain string or a list of parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// One content part (`text`, `image_url`, `input_audio`, `file`, ...); what each kind
/// carries beyond `text` stays in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(Part {
    text: default, kind as "type": required,
});

impl Part {
    /// A string field of the part's kind (`refusal`...).
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }
}

/// A tool call, whole (in a message) or a fragment (in a stream delta, where `index` says
/// which call it continues and only the first fragment names it).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ToolCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(ToolCall {
    function: default, id: default, index: default, kind as "type": default,
});

impl ToolCall {
    pub fn name(&self) -> Option<&str> {
        self.function.as_ref()?.name.as_deref()
    }

    pub fn arguments(&self) -> Option<&str> {
        self.function.as_ref()?.arguments.as_deref()
    }
}

/// The function a tool call names, with its arguments as a JSON string.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FunctionCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(FunctionCall {
    arguments: default,
    name: default,
});

/// A tool the model may call. Hosted tools (`web_search`...) carry no `function`. A tool
/// without `type` is a function tool, as the translators always took it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(Tool {
    function: default, kind as "type": or(function_kind),
});

fn function_kind() -> String {
    "function".to_owned()
}

/// A function tool's declaration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FunctionDef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Nullable<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(FunctionDef {
    description: default,
    name: required,
    parameters: nullable_value,
    strict: default,
});

/// A whole (non-streamed) `chat.completion`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChatResponse {
    pub choices: Vec<ResponseChoice>,
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

deserialize_hub_struct!(ChatResponse {
    choices: default,
    created: default,
    id: default,
    model: default,
    object: default,
    usage: nullable,
});

/// One choice of a whole response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResponseChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Nullable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(flatten)]
    pub extra: Extra,
}

deserialize_hub_struct!(ResponseChoice {
    finish_reason: nullable,
    index: default,
    message: default,
});
