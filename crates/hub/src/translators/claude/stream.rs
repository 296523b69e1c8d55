//! Streams: Anthropic Messages SSE events <-> hub `chat.completion.chunk`s.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ClaudeUsage, claude_message_id, finish_to_stop_reason, stop_reason_to_finish, str_of, u64_of,
};
use crate::chat::{ChatUsage, Delta, FunctionCall, ToolCall};
use crate::chunk::ChunkHead;
use crate::ctx::{ToolNameMap, TranslateCtx};
use crate::error::{ApiError, TranslateError};
use crate::format::Format;
use crate::stream::{ChunkView, JsonObject, StreamEvent, StreamStage, ToolCallView, cow};
use crate::usage::estimate_tokens;

// ------------------------------------------------------------------------------------------
// Claude -> hub
// ------------------------------------------------------------------------------------------

/// One Anthropic stream event, read straight from its JSON text: the text deltas that make up
/// almost all of a stream borrow their strings from it. Rare parts (blocks, message, usage,
/// error) stay `Value`s.
#[derive(Default, Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "cow")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(borrow, default)]
    delta: Option<EventDelta<'a>>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// A `content_block_delta`'s or `message_delta`'s `delta`.
#[derive(Default, Deserialize)]
struct EventDelta<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "cow")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    stop_reason: Option<Cow<'a, str>>,
}

impl<'a> Event<'a> {
    /// Reads the event from its text, or (a field of an unexpected type, or a payload that
    /// is already a `Value`) field by field from the `Value`, skipping what does not fit, as
    /// the stage always has.
    fn read(data: &'a crate::stream::Payload) -> Event<'a> {
        if let Some(ev) = data.text().and_then(|t| serde_json::from_str(t).ok()) {
            return ev;
        }
        let v: &'a Value = data;
        let s = |v: &'a Value, key: &str| str_of(v, key).map(Cow::Borrowed);
        Event {
            kind: s(v, "type"),
            index: u64_of(v, "index"),
            delta: v.get("delta").map(|d| EventDelta {
                kind: s(d, "type"),
                text: s(d, "text"),
                thinking: s(d, "thinking"),
                signature: s(d, "signature"),
                partial_json: s(d, "partial_json"),
                stop_reason: s(d, "stop_reason"),
            }),
            content_block: v.get("content_block").cloned(),
            message: v.get("message").cloned(),
            usage: v.get("usage").cloned(),
            error: v.get("error").cloned(),
        }
    }
}

/// A string field that is set and not empty.
fn filled<'b>(field: &'b Option<Cow<'_, str>>) -> Option<&'b str> {
    field.as_deref().filter(|s| !s.is_empty())
}

/// Whether a provider event ends a Claude stream: `message_stop`, or a `message_delta` with
/// its stop reason (the answer is whole). Almost every event (the deltas) names neither, and
/// its text is scanned for them instead of parsed twice (the stage reads it once).
pub(super) fn ends_stream(ev: &StreamEvent) -> bool {
    if ev.event.as_deref() != Some("message_stop")
        && ev.data.lacks("message_stop")
        && ev.data.lacks("stop_reason")
    {
        return false;
    }
    let kind = ev
        .data
        .get("type")
        .and_then(Value::as_str)
        .or(ev.event.as_deref());
    kind == Some("message_stop")
        || ev
            .data
            .pointer("/delta/stop_reason")
            .is_some_and(Value::is_string)
}

pub(super) fn claude_stream_to_hub(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(ClaudeToHub {
        head: ChunkHead::new(String::new(), ctx.model.clone()),
        tool_names: ctx.tool_names.clone(),
        started: false,
        blocks: HashMap::new(),
        next_tool: 0,
        usage: ClaudeUsage::default(),
        usage_seen: false,
        stop_reason: None,
        finish_sent: false,
        usage_sent: false,
        saw_tool: false,
    })
}

/// What a Claude content block (by its stream index) turned into on the hub side.
enum Block {
    Text,
    Thinking,
    Tool {
        hub_index: u64,
        args_sent: bool,
        /// `input` from `content_block_start`, sent whole if no `input_json_delta` follows.
        initial_input: Value,
    },
    /// Redacted thinking (sent whole at start), server tools and newer block types.
    Other,
}

struct ClaudeToHub {
    head: ChunkHead,
    tool_names: ToolNameMap,
    started: bool,
    blocks: HashMap<u64, Block>,
    next_tool: u64,
    usage: ClaudeUsage,
    usage_seen: bool,
    stop_reason: Option<String>,
    finish_sent: bool,
    usage_sent: bool,
    saw_tool: bool,
}

impl ClaudeToHub {
    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            let delta = Delta {
                role: Some(Some("assistant".to_owned())),
                ..Delta::text("")
            };
            out.push(self.head.typed(delta, None));
        }
    }

    fn emit(&mut self, delta: Delta, out: &mut Vec<StreamEvent>) {
        self.ensure_started(out);
        out.push(self.head.typed(delta, None));
    }

    fn emit_tool(&mut self, call: ToolCall, out: &mut Vec<StreamEvent>) {
        let delta = Delta {
            tool_calls: Some(Some(vec![call])),
            ..Delta::default()
        };
        self.emit(delta, out);
    }

    /// A tool call fragment with more `arguments` for the call at `index`.
    fn emit_arguments(&mut self, index: u64, arguments: String, out: &mut Vec<StreamEvent>) {
        let call = ToolCall {
            function: Some(FunctionCall {
                arguments: Some(arguments),
                ..FunctionCall::default()
            }),
            index: Some(index),
            ..ToolCall::default()
        };
        self.emit_tool(call, out);
    }

    fn emit_finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finish_sent {
            return;
        }
        self.ensure_started(out);
        self.finish_sent = true;
        let finish = match self.stop_reason.as_deref() {
            Some(r) => stop_reason_to_finish(r),
            None if self.saw_tool => "tool_calls",
            None => "stop",
        };
        out.push(self.head.typed(Delta::default(), Some(finish)));
    }

    fn emit_usage(&mut self, out: &mut Vec<StreamEvent>) {
        if self.usage_sent || !self.usage_seen {
            return;
        }
        self.usage_sent = true;
        let usage = serde_json::from_value::<ChatUsage>(self.usage.to_hub()).unwrap_or_default();
        out.push(self.head.typed_usage(usage));
    }

    fn block_start(&mut self, ev: &Event<'_>, out: &mut Vec<StreamEvent>) {
        let index = ev.index.unwrap_or(self.blocks.len() as u64);
        let cb = ev.content_block.as_ref().unwrap_or(&Value::Null);
        let block = match str_of(cb, "type") {
            Some("text") => {
                if let Some(t) = str_of(cb, "text").filter(|t| !t.is_empty()) {
                    self.emit(Delta::text(t), out);
                }
                Block::Text
            }
            Some("thinking") => {
                if let Some(t) = str_of(cb, "thinking").filter(|t| !t.is_empty()) {
                    self.emit(reasoning(t), out);
                }
                if let Some(s) = str_of(cb, "signature").filter(|s| !s.is_empty()) {
                    self.emit(signature(s), out);
                }
                Block::Thinking
            }
            Some("redacted_thinking") => {
                if let Some(d) = str_of(cb, "data") {
                    let delta = Delta {
                        redacted_reasoning: Some(Some(d.to_owned())),
                        ..Delta::default()
                    };
                    self.emit(delta, out);
                }
                Block::Other
            }
            Some("tool_use") => {
                let hub_index = self.next_tool;
                self.next_tool += 1;
                self.saw_tool = true;
                let name = self
                    .tool_names
                    .client_name(str_of(cb, "name").unwrap_or(""))
                    .to_owned();
                let call = ToolCall {
                    function: Some(FunctionCall {
                        arguments: Some(String::new()),
                        name: Some(name),
                        ..FunctionCall::default()
                    }),
                    id: Some(str_of(cb, "id").unwrap_or("").to_owned()),
                    index: Some(hub_index),
                    kind: Some("function".to_owned()),
                    ..ToolCall::default()
                };
                self.emit_tool(call, out);
                Block::Tool {
                    hub_index,
                    args_sent: false,
                    initial_input: cb.get("input").cloned().unwrap_or_else(|| json!({})),
                }
            }
            _ => Block::Other,
        };
        self.blocks.insert(index, block);
    }

    fn block_delta(&mut self, ev: &Event<'_>, out: &mut Vec<StreamEvent>) {
        let index = ev.index;
        let Some(delta) = &ev.delta else {
            return;
        };
        match delta.kind.as_deref() {
            Some("text_delta") => {
                if let Some(t) = filled(&delta.text) {
                    self.emit(Delta::text(t), out);
                }
            }
            Some("thinking_delta") => {
                if let Some(t) = filled(&delta.thinking) {
                    self.emit(reasoning(t), out);
                }
            }
            Some("signature_delta") => {
                if let Some(s) = filled(&delta.signature) {
                    self.emit(signature(s), out);
                }
            }
            Some("input_json_delta") => {
                let Some(fragment) = filled(&delta.partial_json) else {
                    return;
                };
                let Some(Block::Tool {
                    hub_index,
                    args_sent,
                    ..
                }) = index.and_then(|i| self.blocks.get_mut(&i))
                else {
                    return;
                };
                *args_sent = true;
                let hub_index = *hub_index;
                self.emit_arguments(hub_index, fragment.to_owned(), out);
            }
            // citations_delta and anything newer.
            _ => {}
        }
    }

    fn block_stop(&mut self, ev: &Event<'_>, out: &mut Vec<StreamEvent>) {
        let Some(index) = ev.index else {
            return;
        };
        let Some(Block::Tool {
            hub_index,
            args_sent: false,
            initial_input,
        }) = self.blocks.get(&index)
        else {
            return;
        };
        // A tool with no input deltas still needs arguments a client can parse.
        let args = match initial_input {
            Value::Object(_) => initial_input.to_string(),
            _ => "{}".to_owned(),
        };
        let hub_index = *hub_index;
        if let Some(Block::Tool { args_sent, .. }) = self.blocks.get_mut(&index) {
            *args_sent = true;
        }
        self.emit_arguments(hub_index, args, out);
    }
}

impl StreamStage for ClaudeToHub {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let ev = Event::read(&event.data);
        let kind = ev.kind.as_deref().or(event.event.as_deref());
        match kind {
            Some("message_start") => {
                let msg = ev.message.as_ref().unwrap_or(&Value::Null);
                if let Some(id) = str_of(msg, "id") {
                    id.clone_into(&mut self.head.id);
                }
                if let Some(model) = str_of(msg, "model") {
                    model.clone_into(&mut self.head.model);
                }
                if let Some(u) = msg.get("usage").filter(|u| u.is_object()) {
                    self.usage.merge_claude(u);
                    self.usage_seen = true;
                }
                self.ensure_started(out);
            }
            Some("content_block_start") => self.block_start(&ev, out),
            Some("content_block_delta") => self.block_delta(&ev, out),
            Some("content_block_stop") => self.block_stop(&ev, out),
            Some("message_delta") => {
                if let Some(r) = ev.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    self.stop_reason = Some(r.to_owned());
                }
                if let Some(u) = ev.usage.as_ref().filter(|u| u.is_object()) {
                    self.usage.merge_claude(u);
                    self.usage_seen = true;
                }
                self.emit_finish(out);
            }
            Some("message_stop") => {
                self.emit_finish(out);
                self.emit_usage(out);
            }
            Some("error") => {
                let err = ev.error.as_ref().unwrap_or(&Value::Null);
                let kind = str_of(err, "type").unwrap_or("error");
                let msg = str_of(err, "message").unwrap_or("");
                return Err(TranslateError::bad_upstream(format!("{kind}: {msg}")));
            }
            // ping and anything newer.
            _ => {}
        }
        Ok(())
    }

    fn reads_text(&self) -> bool {
        true
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.started {
            self.emit_finish(out);
        }
        self.emit_usage(out);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        self.finish_sent = true;
        self.usage_sent = true;
        out.push(StreamEvent::hub(error.body(Format::OpenAi)));
    }
}

fn reasoning(text: &str) -> Delta {
    Delta {
        reasoning_content: Some(Some(text.to_owned())),
        ..Delta::default()
    }
}

fn signature(sig: &str) -> Delta {
    Delta {
        reasoning_signature: Some(Some(sig.to_owned())),
        ..Delta::default()
    }
}

// ------------------------------------------------------------------------------------------
// hub -> Claude
// ------------------------------------------------------------------------------------------

pub(super) fn hub_stream_to_claude(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(HubToClaude {
        client: ctx.client,
        provider: ctx.provider,
        model: ctx.model.clone(),
        id: None,
        started: false,
        done: false,
        next_index: 0,
        open: None,
        tools: HashMap::new(),
        open_tools: Vec::new(),
        finish: None,
        usage: None,
        saw_tool: false,
        output_bytes: 0,
    })
}

/// The open text or thinking block, by its Claude index.
#[derive(Clone, Copy)]
enum Open {
    Text(u64),
    Thinking { index: u64, signed: bool },
}

struct ToolBlock {
    index: u64,
    id: String,
}

struct HubToClaude {
    client: Format,
    provider: Format,
    model: String,
    id: Option<String>,
    started: bool,
    done: bool,
    next_index: u64,
    open: Option<Open>,
    /// Hub tool-call index -> its `tool_use` block.
    tools: HashMap<u64, ToolBlock>,
    /// Claude indices of tool blocks still open. Tool blocks stay open until other content or the
    /// end, so argument fragments of parallel calls that arrive interleaved still land.
    open_tools: Vec<u64>,
    finish: Option<String>,
    usage: Option<ClaudeUsage>,
    saw_tool: bool,
    /// Generated bytes, for an output estimate when the provider reports no usage.
    output_bytes: usize,
}

impl HubToClaude {
    fn message_id(&self) -> String {
        self.id.clone().unwrap_or_default()
    }

    fn start(&mut self, chunk: Option<&ChunkView<'_>>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = claude_message_id(chunk.and_then(|c| c.id.as_deref()));
        if let Some(model) = chunk.and_then(|c| filled(&c.model)) {
            model.clone_into(&mut self.model);
        }
        out.push(StreamEvent::named(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": Value::Null,
                    "stop_sequence": Value::Null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }),
        ));
        self.id = Some(id);
    }

    fn new_index(&mut self) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    fn stop_block(index: u64, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::named(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }

    fn close_open(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            let index = match open {
                Open::Text(i) | Open::Thinking { index: i, .. } => i,
            };
            // Claude clients expect every thinking block to end with a signature_delta;
            // reasoning from a provider without signatures gets an empty one, which the
            // request side drops again instead of replaying a signature Anthropic would refuse.
            if let Open::Thinking { signed: false, .. } = open {
                Self::delta(index, "signature_delta", "signature", "", out);
            }
            Self::stop_block(index, out);
        }
    }

    fn close_tools(&mut self, out: &mut Vec<StreamEvent>) {
        for index in std::mem::take(&mut self.open_tools) {
            Self::stop_block(index, out);
        }
    }

    fn close_all(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_open(out);
        self.close_tools(out);
    }

    /// A `content_block_delta` whose delta is `{key: value, "type": kind}`, written straight
    /// to JSON text in the sorted key order a `Value` writes (every delta key sorts before
    /// `type`).
    fn delta(
        index: u64,
        kind: &'static str,
        key: &'static str,
        value: &str,
        out: &mut Vec<StreamEvent>,
    ) {
        let json = JsonObject::with_capacity(80 + value.len())
            .open("delta")
            .str(key, value)
            .str("type", kind)
            .close()
            .uint("index", index)
            .str("type", "content_block_delta")
            .finish();
        out.push(StreamEvent::named_text("content_block_delta", json));
    }

    fn open_thinking(&mut self, out: &mut Vec<StreamEvent>) -> u64 {
        self.close_all(out);
        let index = self.new_index();
        out.push(StreamEvent::named(
            "content_block_start",
            json!({
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            }),
        ));
        self.open = Some(Open::Thinking {
            index,
            signed: false,
        });
        index
    }

    fn thinking(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some(Open::Thinking {
                index,
                signed: false,
            }) => index,
            _ => self.open_thinking(out),
        };
        self.output_bytes += text.len();
        Self::delta(index, "thinking_delta", "thinking", text, out);
    }

    fn signature(&mut self, sig: &str, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some(Open::Thinking {
                index,
                signed: false,
            }) => index,
            _ => self.open_thinking(out),
        };
        Self::delta(index, "signature_delta", "signature", sig, out);
        self.open = Some(Open::Thinking {
            index,
            signed: true,
        });
    }

    fn redacted(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        self.close_all(out);
        let index = self.new_index();
        out.push(StreamEvent::named(
            "content_block_start",
            json!({
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "redacted_thinking", "data": data},
            }),
        ));
        Self::stop_block(index, out);
    }

    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        let index = if let Some(Open::Text(i)) = self.open {
            i
        } else {
            self.close_all(out);
            let index = self.new_index();
            out.push(StreamEvent::named(
                "content_block_start",
                json!({
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }),
            ));
            self.open = Some(Open::Text(index));
            index
        };
        self.output_bytes += text.len();
        Self::delta(index, "text_delta", "text", text, out);
    }

    fn tool_call(&mut self, call: &ToolCallView<'_>, out: &mut Vec<StreamEvent>) {
        let id = filled(&call.id);
        let hub_index = call.index.unwrap_or_else(|| {
            // No index: a new id is a new call, otherwise it continues the latest one.
            let latest = self.tools.keys().max().copied();
            match (id, latest) {
                (Some(id), Some(l)) if self.tools.get(&l).is_some_and(|t| t.id == id) => l,
                (Some(_), Some(l)) => l + 1,
                (None, Some(l)) => l,
                (_, None) => 0,
            }
        });
        // Some providers reuse index 0 for every call; a different id means a new call.
        let is_new = match self.tools.get(&hub_index) {
            None => true,
            Some(t) => id.is_some_and(|id| id != t.id),
        };
        if is_new {
            self.close_open(out);
            self.saw_tool = true;
            let index = self.new_index();
            let tool_id = id.map_or_else(
                || {
                    format!(
                        "toolu_{}_{index}",
                        self.message_id().trim_start_matches("msg_")
                    )
                },
                str::to_owned,
            );
            out.push(StreamEvent::named(
                "content_block_start",
                json!({
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": call.name().unwrap_or(""),
                        "input": {},
                    },
                }),
            ));
            self.open_tools.push(index);
            self.tools
                .insert(hub_index, ToolBlock { index, id: tool_id });
        }
        let Some(args) = call.arguments().filter(|a| !a.is_empty()) else {
            return;
        };
        let Some(block) = self.tools.get(&hub_index) else {
            return;
        };
        // A block already closed (other content came in between) cannot take more input.
        if !self.open_tools.contains(&block.index) {
            return;
        }
        self.output_bytes += args.len();
        Self::delta(block.index, "input_json_delta", "partial_json", args, out);
    }

    /// Closes every block and ends the message, exactly once.
    fn close_message(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        self.close_all(out);
        let stop_reason = match self.finish.as_deref() {
            Some("stop") | None if self.saw_tool => "tool_use",
            Some(f) => finish_to_stop_reason(f),
            None => "end_turn",
        };
        let usage = self.usage.unwrap_or(ClaudeUsage {
            output: estimate_tokens(self.output_bytes),
            ..ClaudeUsage::default()
        });
        out.push(StreamEvent::named(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": Value::Null},
                "usage": usage.to_claude(),
            }),
        ));
        out.push(StreamEvent::named(
            "message_stop",
            json!({"type": "message_stop"}),
        ));
    }
}

impl StreamStage for HubToClaude {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let chunk = ChunkView::read(&event.data);
        if let Some(err) = chunk.error.as_ref().filter(|e| e.is_object()) {
            // An error carried inside the stream: end with an Anthropic error event.
            let message = str_of(err, "message").unwrap_or("upstream error");
            let api = ApiError::bad_gateway(message.to_owned());
            self.fail(&api, out);
            return Ok(());
        }
        self.start(Some(&chunk), out);
        if let Some(choice) = chunk.first() {
            if let Some(delta) = &choice.delta {
                // `reasoning` only stands in when `reasoning_content` is absent, not empty.
                if let Some(r) = delta
                    .reasoning_content
                    .as_deref()
                    .or(delta.reasoning.as_deref())
                    .filter(|r| !r.is_empty())
                {
                    self.thinking(r, out);
                }
                if let Some(s) = filled(&delta.reasoning_signature) {
                    let s = crate::provenance::to_client(s, self.provider, self.client);
                    self.signature(&s, out);
                }
                if let Some(d) = filled(&delta.redacted_reasoning) {
                    self.redacted(d, out);
                }
                if let Some(t) = filled(&delta.content) {
                    self.text(t, out);
                }
                if let Some(t) = filled(&delta.refusal) {
                    self.text(t, out);
                }
                for call in delta.tool_calls.iter().flatten() {
                    self.tool_call(call, out);
                }
            }
            if let Some(f) = choice.finish_reason.as_deref() {
                self.finish = Some(f.to_owned());
            }
        }
        if let Some(u) = chunk.usage.as_ref().filter(|u| u.is_object()) {
            self.usage = Some(ClaudeUsage::from_hub(u));
            // Usage is the last thing a hub stream sends after its finish_reason.
            if self.finish.is_some() {
                self.close_message(out);
            }
        }
        Ok(())
    }

    fn reads_text(&self) -> bool {
        true
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        self.start(None, out);
        self.close_message(out);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        out.push(StreamEvent::named("error", error.body(Format::Claude)));
    }
}
