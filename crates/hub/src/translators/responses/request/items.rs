//! Responses input items -> hub messages: consecutive assistant items merge into one hub
//! assistant message; tool outputs, reasoning and compaction items find their hub form.

use serde_json::{Map, Value};

use super::*;
use crate::chat::{Content, FunctionCall, Message, ToolCall};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;

/// One hub assistant message being assembled from consecutive Responses items.
#[derive(Default)]
pub(super) struct AssistantTurn {
    text: Vec<String>,
    refusal: Vec<String>,
    reasoning: Option<String>,
    signature: Option<String>,
    redacted: Option<String>,
    tool_calls: Vec<ToolCall>,
}

impl AssistantTurn {
    pub(super) fn is_empty(&self) -> bool {
        self.text.is_empty()
            && self.refusal.is_empty()
            && self.tool_calls.is_empty()
            && self.reasoning.is_none()
            && self.signature.is_none()
            && self.redacted.is_none()
    }

    /// The hub message: `content` is `null` without text; refusal, signature and redacted
    /// reasoning are fields the hub does not name.
    pub(super) fn into_message(self) -> Message {
        let mut extra = Map::new();
        if !self.refusal.is_empty() {
            extra.insert("refusal".into(), self.refusal.join("\n\n").into());
        }
        if let Some(s) = self.signature {
            extra.insert("reasoning_signature".into(), s.into());
        }
        if let Some(r) = self.redacted {
            extra.insert("redacted_reasoning".into(), r.into());
        }
        let text = (!self.text.is_empty()).then(|| Content::Text(self.text.join("\n\n")));
        Message {
            content: Some(text),
            reasoning_content: self.reasoning.map(Some),
            role: "assistant".to_owned(),
            tool_calls: (!self.tool_calls.is_empty()).then_some(Some(self.tool_calls)),
            extra,
            ..Message::default()
        }
    }
}

/// A hub message of `role` with `content`.
pub(super) fn message(role: &str, content: Content) -> Message {
    Message {
        content: Some(Some(content)),
        role: role.to_owned(),
        ..Message::default()
    }
}

#[derive(Default)]
pub(super) struct Conversation {
    messages: Vec<Message>,
    turn: Option<AssistantTurn>,
}

impl Conversation {
    pub(super) fn flush(&mut self) {
        if let Some(turn) = self.turn.take()
            && !turn.is_empty()
        {
            self.messages.push(turn.into_message());
        }
    }

    pub(super) fn push(&mut self, message: Message) {
        self.flush();
        self.messages.push(message);
    }

    pub(super) fn turn(&mut self) -> &mut AssistantTurn {
        self.turn.get_or_insert_with(AssistantTurn::default)
    }

    /// A reasoning item opens a new assistant message unless the current one is still empty.
    pub(super) fn reasoning_turn(&mut self) -> &mut AssistantTurn {
        if self.turn.as_ref().is_some_and(|t| !t.is_empty()) {
            self.flush();
        }
        self.turn()
    }

    pub(super) fn finish(mut self) -> Vec<Message> {
        self.flush();
        self.messages
    }

    pub(super) fn items(
        &mut self,
        items: &mut [Value],
        field: &str,
        tools: &mut Tools,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        for (i, item) in items.iter_mut().enumerate() {
            let at = format!("{field}[{i}]");
            if !item.is_object() {
                return Err(TranslateError::invalid(format!("{at} must be an object")));
            }
            self.item(item, &at, tools, ctx)?;
        }
        Ok(())
    }

    fn item(
        &mut self,
        item: &mut Value,
        at: &str,
        tools: &mut Tools,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        match item.get("type").and_then(Value::as_str) {
            Some("message") | None => self.message(item, at)?,
            Some("function_call") => self.call(function_call_to_hub(item, at)?),
            Some("custom_tool_call") => self.call(custom_call_to_hub(item, at)?),
            Some("local_shell_call") => self.call(shell_call_to_hub(item, at)?),
            Some(
                "function_call_output" | "custom_tool_call_output" | "local_shell_call_output",
            ) => {
                let id = call_id(item, at)?;
                let mut tool = message("tool", tool_output_to_hub(item.get_mut("output"), at)?);
                tool.tool_call_id = Some(id);
                self.push(tool);
            }
            Some("reasoning") => self.reasoning(item, ctx.provider),
            Some("additional_tools") => {
                if let Some(list) = item.get_mut("tools").and_then(Value::as_array_mut) {
                    tools.add_all(list, &format!("{at}.tools"), ctx)?;
                }
            }
            Some(kind) => self.other_item(kind, item, at, ctx)?,
        }
        Ok(())
    }

    fn call(&mut self, call: ToolCall) {
        self.turn().tool_calls.push(call);
    }

    /// Compaction items, items that cannot be replayed, and hosted tools' history.
    fn other_item(
        &mut self,
        kind: &str,
        item: &Value,
        at: &str,
        ctx: &mut TranslateCtx,
    ) -> Result<(), TranslateError> {
        use crate::translators::responses::compaction;
        match kind {
            "compaction_trigger" => {
                ctx.compaction = true;
                self.push(message(
                    "user",
                    Content::Text(compaction::PROMPT.to_owned()),
                ));
            }
            // A summary the proxy wrote is a system turn; OpenAI's own is encrypted and
            // no other provider can read it.
            t if compaction::ITEMS.contains(&t) => {
                if let Some(summary) = compaction::summary(item) {
                    let text = compaction::system_text(&summary);
                    self.push(message("system", Content::Text(text)));
                }
            }
            "item_reference" => {
                return Err(TranslateError::invalid(format!(
                    "{at}: `item_reference` is not supported: this proxy stores no \
                     responses; send the referenced item itself"
                )));
            }
            t if DROPPED_ITEMS.contains(&t) => {}
            other => {
                return Err(TranslateError::invalid(format!(
                    "{at}: unsupported item type `{other}`"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn message(&mut self, item: &mut Value, at: &str) -> Result<(), TranslateError> {
        let mut content = item.get_mut("content").map(Value::take).unwrap_or_default();
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(format!("{at}: a message needs a `role`")))?;
        match role {
            "user" => self.push(message("user", user_content_to_hub(&mut content, at)?)),
            "system" | "developer" => {
                self.push(message("system", user_content_to_hub(&mut content, at)?));
            }
            "assistant" => {
                let (text, refusal) = assistant_content_to_hub(&mut content, at)?;
                let turn = self.turn();
                if !text.is_empty() {
                    turn.text.push(text);
                }
                if !refusal.is_empty() {
                    turn.refusal.push(refusal);
                }
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "{at}: unsupported message role `{other}` (expected user, assistant, system \
                     or developer)"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn reasoning(&mut self, item: &Value, provider: Format) {
        let text = super::super::response::reasoning_text(item);
        let encrypted = item
            .get("encrypted_content")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if let Some(data) = encrypted.and_then(|e| e.strip_prefix(REDACTED_PREFIX)) {
            self.reasoning_turn().redacted = Some(data.to_owned());
            return;
        }
        // Reasoning text the proxy wrapped (no provider signed it) goes back only to a
        // provider of the origin that wrote it, never to another.
        let (text, encrypted) = match encrypted.map(|e| crate::provenance::carried(e, provider)) {
            Some(crate::provenance::Carried::Foreign) => return,
            Some(crate::provenance::Carried::OwnText(own)) if text.is_empty() => (own, None),
            Some(crate::provenance::Carried::OwnText(_)) => (text, None),
            _ => (text, encrypted),
        };
        if text.is_empty() && encrypted.is_none() {
            return;
        }
        let turn = self.reasoning_turn();
        turn.reasoning = Some(text);
        turn.signature = encrypted.map(str::to_owned);
    }
}

fn call_name<'v>(item: &'v Value, kind: &str, at: &str) -> Result<&'v str, TranslateError> {
    item.get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::invalid(format!("{at}: a {kind} needs a `name`")))
}

/// A `function_call` item -> a hub tool call, a namespaced name flattened.
fn function_call_to_hub(item: &mut Value, at: &str) -> Result<ToolCall, TranslateError> {
    let call_id = call_id(item, at)?;
    let name = match item.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => flat_name(ns, call_name(item, "function_call", at)?),
        _ => call_name(item, "function_call", at)?.to_owned(),
    };
    let arguments = match item.get_mut("arguments") {
        Some(Value::String(s)) => std::mem::take(s),
        None | Some(Value::Null) => "{}".to_owned(),
        Some(other) => other.to_string(),
    };
    Ok(tool_call(call_id, name, arguments))
}

/// A `custom_tool_call` item -> a hub tool call whose arguments wrap the raw input.
fn custom_call_to_hub(item: &Value, at: &str) -> Result<ToolCall, TranslateError> {
    let call_id = call_id(item, at)?;
    let input = item
        .get("input")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = call_name(item, "custom_tool_call", at)?.to_owned();
    Ok(tool_call(call_id, name, custom_args(input)))
}

/// A `local_shell_call` item -> a call of the hub function `local_shell` with its action.
fn shell_call_to_hub(item: &Value, at: &str) -> Result<ToolCall, TranslateError> {
    let call_id = call_id(item, at)?;
    let action = item
        .get("action")
        .map_or_else(|| "{}".to_owned(), Value::to_string);
    Ok(tool_call(call_id, "local_shell".to_owned(), action))
}

pub(super) fn call_id(item: &Value, at: &str) -> Result<String, TranslateError> {
    item.get("call_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            item.get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_owned)
        .ok_or_else(|| TranslateError::invalid(format!("{at}: a `call_id` is required")))
}

fn tool_call(id: String, name: String, arguments: String) -> ToolCall {
    ToolCall {
        function: Some(FunctionCall {
            arguments: Some(arguments),
            name: Some(name),
            extra: Map::new(),
        }),
        id: Some(id),
        index: None,
        kind: Some("function".to_owned()),
        extra: Map::new(),
    }
}
