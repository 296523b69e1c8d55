//! Builds a whole chat completion from hub stream chunks, for providers that only stream
//! (Kiro, Cursor, the ChatGPT backend) answering a client that did not ask for a stream.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

#[derive(Default)]
struct Choice {
    content: String,
    reasoning: String,
    signature: Option<String>,
    /// By the chunk's tool-call index: (id, name, arguments).
    tool_calls: BTreeMap<u64, (String, String, String)>,
    finish: Option<Value>,
}

#[derive(Default)]
pub struct Collector {
    id: Option<Value>,
    model: Option<Value>,
    created: Option<Value>,
    choices: BTreeMap<u64, Choice>,
    usage: Option<Value>,
}

impl Collector {
    pub fn push(&mut self, chunk: &Value) {
        for (key, slot) in [
            ("id", &mut self.id),
            ("model", &mut self.model),
            ("created", &mut self.created),
        ] {
            if slot.is_none() {
                *slot = chunk.get(key).cloned();
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        for c in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let choice = self.choices.entry(index).or_default();
            if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                choice.finish = Some(f.clone());
            }
            let Some(delta) = c.get("delta") else {
                continue;
            };
            let text = |k: &str| delta.get(k).and_then(Value::as_str);
            if let Some(t) = text("content") {
                choice.content.push_str(t);
            }
            if let Some(t) = text("reasoning_content") {
                choice.reasoning.push_str(t);
            }
            if let Some(s) = text("reasoning_signature") {
                choice.signature.get_or_insert_with(|| s.to_owned());
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let i = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                let entry = choice.tool_calls.entry(i).or_default();
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    entry.0 = id.to_owned();
                }
                if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                    entry.1.push_str(name);
                }
                if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                    entry.2.push_str(args);
                }
            }
        }
    }

    /// The whole `chat.completion` object.
    pub fn finish(self) -> Value {
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .map(|(index, c)| {
                let mut message = Map::new();
                message.insert("role".into(), "assistant".into());
                let content = if c.content.is_empty() && !c.tool_calls.is_empty() {
                    Value::Null
                } else {
                    Value::String(c.content)
                };
                message.insert("content".into(), content);
                if !c.reasoning.is_empty() {
                    message.insert("reasoning_content".into(), c.reasoning.into());
                }
                if let Some(s) = c.signature {
                    message.insert("reasoning_signature".into(), s.into());
                }
                if !c.tool_calls.is_empty() {
                    let calls: Vec<Value> = c
                        .tool_calls
                        .into_values()
                        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
                        .collect();
                    message.insert("tool_calls".into(), calls.into());
                }
                let finish = c.finish.unwrap_or_else(|| json!("stop"));
                json!({"index": index, "message": message, "finish_reason": finish})
            })
            .collect();
        let mut out = json!({
            "id": self.id.unwrap_or_else(|| json!("chatcmpl-switchyard")),
            "object": "chat.completion",
            "created": self.created.unwrap_or(json!(0)),
            "model": self.model.unwrap_or(json!("")),
            "choices": choices,
        });
        if let Some(u) = self.usage {
            out["usage"] = u;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_text_reasoning_tools_and_usage() {
        let mut c = Collector::default();
        let chunks = [
            json!({"id": "x", "model": "m", "created": 5, "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "hm", "reasoning_signature": "s"}}]}),
            json!({"id": "x", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}),
            json!({"id": "x", "choices": [{"index": 0, "delta": {"content": "lo", "tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "Run", "arguments": ""}}]}}]}),
            json!({"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}}]}),
            json!({"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}, "finish_reason": "tool_calls"}]}),
            json!({"id": "x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
        ];
        for ch in &chunks {
            c.push(ch);
        }
        let out = c.finish();
        assert_eq!(out["object"], "chat.completion");
        let m = &out["choices"][0]["message"];
        assert_eq!(m["content"], "Hello");
        assert_eq!(m["reasoning_content"], "hm");
        assert_eq!(m["reasoning_signature"], "s");
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(m["tool_calls"][0]["function"]["name"], "Run");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["usage"]["completion_tokens"], 4);
    }
}
