//! The typed hub request as a `serde_json::Value`, built by moving its parts.
//!
//! A typed request (from a Claude or Responses client) meets a provider translator that
//! still reads JSON (the hub itself, Gemini...). `serde_json::to_value` serialises through
//! references, so it copies every string and every kept `Value` (a Claude Code request is
//! ~120 KB of text), and the typed request is dropped right after. [`IntoValue`] moves
//! them instead; each struct's `extra` map becomes the object the named fields join.
//!
//! The result is exactly what `serde_json::to_value` gives (`tests::same_as_to_value`): an
//! absent `Option` is left out, a [`Nullable`](super::Nullable) set to `null` writes
//! `null`, an untagged enum writes its variant's value, and a key in `extra` that a named
//! field also has wins, as the later key of the flattened map wins there.

use serde_json::{Map, Number, Value};

use super::{
    ChatRequest, Content, Extra, FunctionCall, FunctionDef, Message, NamedToolChoice, Part, Stop,
    Tool, ToolCall, ToolChoice,
};

/// A hub value turned into JSON by moving what it owns.
pub trait IntoValue {
    fn into_value(self) -> Value;
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoValue for u64 {
    fn into_value(self) -> Value {
        Value::Number(self.into())
    }
}

impl IntoValue for Number {
    fn into_value(self) -> Value {
        Value::Number(self)
    }
}

/// The inner `Option` of a [`Nullable`](super::Nullable): `None` is the explicit `null`.
impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, T::into_value)
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::Array(self.into_iter().map(T::into_value).collect())
    }
}

/// An object under construction: the struct's `extra` with its named fields added.
struct Object(Map<String, Value>);

impl Object {
    fn new(extra: Extra) -> Self {
        Object(extra)
    }

    /// Adds a field that is left out when absent. A key `extra` already holds keeps the
    /// extra's value, as the flattened map written after the named fields overrides them.
    fn field<T: IntoValue>(mut self, key: &str, value: Option<T>) -> Self {
        if let Some(value) = value
            && !self.0.contains_key(key)
        {
            self.0.insert(key.to_owned(), value.into_value());
        }
        self
    }

    /// Adds a field that is always written.
    fn always<T: IntoValue>(self, key: &str, value: T) -> Self {
        self.field(key, Some(value))
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

impl IntoValue for ChatRequest {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("max_completion_tokens", self.max_completion_tokens)
            .field("max_tokens", self.max_tokens)
            .always("messages", self.messages)
            .field("model", self.model)
            .field("n", self.n)
            .field("parallel_tool_calls", self.parallel_tool_calls)
            .field("reasoning_effort", self.reasoning_effort)
            .field("response_format", self.response_format)
            .field("stop", self.stop)
            .field("stream", self.stream)
            .field("stream_options", self.stream_options)
            .field("temperature", self.temperature)
            .field("tool_choice", self.tool_choice)
            .field("tools", self.tools)
            .field("top_p", self.top_p)
            .field("user", self.user)
            .done()
    }
}

impl IntoValue for Stop {
    fn into_value(self) -> Value {
        match self {
            Stop::One(s) => s.into_value(),
            Stop::Many(v) => v.into_value(),
        }
    }
}

impl IntoValue for ToolChoice {
    fn into_value(self) -> Value {
        match self {
            ToolChoice::Mode(s) => s.into_value(),
            ToolChoice::Named(n) => n.into_value(),
        }
    }
}

impl IntoValue for NamedToolChoice {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("function", self.function)
            .field("type", self.kind)
            .done()
    }
}

impl IntoValue for Message {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("content", self.content)
            .field("name", self.name)
            .field("reasoning_content", self.reasoning_content)
            .always("role", self.role)
            .field("tool_call_id", self.tool_call_id)
            .field("tool_calls", self.tool_calls)
            .done()
    }
}

impl IntoValue for Content {
    fn into_value(self) -> Value {
        match self {
            Content::Text(s) => s.into_value(),
            Content::Parts(parts) => parts.into_value(),
        }
    }
}

impl IntoValue for Part {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("text", self.text)
            .always("type", self.kind)
            .done()
    }
}

impl IntoValue for ToolCall {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("function", self.function)
            .field("id", self.id)
            .field("index", self.index)
            .field("type", self.kind)
            .done()
    }
}

impl IntoValue for FunctionCall {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("arguments", self.arguments)
            .field("name", self.name)
            .done()
    }
}

impl IntoValue for Tool {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("function", self.function)
            .always("type", self.kind)
            .done()
    }
}

impl IntoValue for FunctionDef {
    fn into_value(self) -> Value {
        Object::new(self.extra)
            .field("description", self.description)
            .always("name", self.name)
            .field("parameters", self.parameters)
            .field("strict", self.strict)
            .done()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Keys the hub names somewhere, for `extra` maps that also hold a named field.
    const NAMED: &[&str] = &[
        "model", "messages", "role", "content", "type", "name", "text",
    ];

    /// Puts `key: value` into the `extra` of the request and of its first message, part
    /// and tool, where there are such.
    fn shadow(req: &mut ChatRequest, key: &str, value: &Value) {
        let put = |extra: &mut Extra| {
            extra.insert(key.to_owned(), value.clone());
        };
        put(&mut req.extra);
        if let Some(m) = req.messages.first_mut() {
            put(&mut m.extra);
            if let Some(Some(Content::Parts(parts))) = m.content.as_mut()
                && let Some(p) = parts.first_mut()
            {
                put(&mut p.extra);
            }
        }
        if let Some(t) = req.tools.as_mut().and_then(|t| t.first_mut()) {
            put(&mut t.extra);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Moving a request into JSON gives what `serde_json::to_value` gives, on random
        /// requests with unknown fields at every level, some of them shadowing named ones.
        #[test]
        fn same_as_to_value(
            v in crate::chat::tests::request(),
            shadows in prop::collection::vec((prop::sample::select(NAMED), any::<u8>()), 0..2),
        ) {
            let mut req: ChatRequest = serde_json::from_value(v).map_err(|e| {
                TestCaseError::fail(e.to_string())
            })?;
            for (key, n) in shadows {
                shadow(&mut req, key, &json!(n));
            }
            let expected = serde_json::to_value(&req).map_err(|e| {
                TestCaseError::fail(e.to_string())
            })?;
            prop_assert_eq!(req.into_value(), expected);
        }
    }

    /// `null` set and absent stay apart, and a named field's key in `extra` wins.
    #[test]
    fn null_absent_and_shadowed_fields() {
        let mut req: ChatRequest = serde_json::from_value(json!({
            "messages": [{"role": "assistant", "content": null, "tool_calls": null}],
            "tools": [{"type": "function",
                "function": {"name": "f", "parameters": null}}]}))
        .unwrap();
        req.model = Some("typed".to_owned());
        req.extra.insert("model".to_owned(), json!("extra"));
        let expected = serde_json::to_value(&req).unwrap();
        assert_eq!(expected["model"], json!("extra"));
        assert_eq!(expected["messages"][0]["content"], Value::Null);
        assert_eq!(expected["tools"][0]["function"]["parameters"], Value::Null);
        assert_eq!(req.into_value(), expected);
    }
}
