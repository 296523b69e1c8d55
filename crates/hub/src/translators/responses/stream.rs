//! Streams: hub chunks -> Responses events (to a client such as Codex) and Responses events
//! -> hub chunks (from a provider).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::response::{call_item, reasoning_item};
use super::written::{self, ResponseText};
use super::{
    Ids, REDACTED_PREFIX, custom_input, finish_of, is_custom, json_escape, non_empty_str,
    provider_signature, status_of, usage_from_hub, usage_to_hub,
};
use crate::chunk::ChunkHead;
use crate::clock::now_secs;
use crate::ctx::{ToolNameMap, TranslateCtx};
use crate::error::{ApiError, ErrorKind, TranslateError};
use crate::format::Format;
use crate::stream::{ChunkView, DeltaView, JsonObject, StreamEvent, StreamStage, ToolCallView};

pub(super) fn hub_to_responses(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(ToResponses::new(ctx))
}

pub(super) fn responses_to_hub(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(FromResponses::new(ctx))
}

// ---------------------------------------------------------------------------------------------
// hub -> Responses
// ---------------------------------------------------------------------------------------------

/// Numbers every emitted event.
#[derive(Debug, Default)]
struct Seq(u64);

impl Seq {
    fn emit(&mut self, out: &mut Vec<StreamEvent>, ty: &'static str, mut data: Value) {
        if let Some(o) = data.as_object_mut() {
            o.insert("type".into(), ty.into());
            o.insert("sequence_number".into(), self.0.into());
        }
        self.0 += 1;
        out.push(StreamEvent::named(ty, data));
    }

    /// Emits an event that is `{"response": ...}` and its type, the response already
    /// written as compact JSON; the keys in the sorted order a `Value` writes.
    fn emit_response(&mut self, out: &mut Vec<StreamEvent>, ty: &'static str, response: &str) {
        let json = JsonObject::with_capacity(response.len() + 80)
            .raw("response", response)
            .uint("sequence_number", self.0)
            .str("type", ty)
            .finish();
        self.0 += 1;
        out.push(StreamEvent::named_text(ty, json));
    }

    /// Emits one of the delta events a stream is mostly made of, written straight to JSON
    /// text (no `Value`): the same keys, in the same sorted order, a `Value` would write.
    fn emit_delta(
        &mut self,
        out: &mut Vec<StreamEvent>,
        ty: &'static str,
        at: At<'_>,
        delta: &str,
    ) {
        let mut json = JsonObject::with_capacity(160 + delta.len());
        if let Some(i) = at.content_index {
            json.uint("content_index", i as u64);
        }
        json.str("delta", delta).str("item_id", at.item_id);
        if ty == "response.output_text.delta" {
            json.raw("logprobs", "[]");
        }
        json.uint("output_index", at.output_index as u64)
            .uint("sequence_number", self.0);
        if let Some(i) = at.summary_index {
            json.uint("summary_index", i);
        }
        json.str("type", ty);
        self.0 += 1;
        out.push(StreamEvent::named_text(ty, json.finish()));
    }

    /// Emits `response.output_item.added` / `.done`, the item already written as JSON.
    fn emit_item(
        &mut self,
        out: &mut Vec<StreamEvent>,
        ty: &'static str,
        output_index: usize,
        item: &str,
    ) {
        let json = JsonObject::with_capacity(item.len() + 100)
            .raw("item", item)
            .uint("output_index", output_index as u64)
            .uint("sequence_number", self.0)
            .str("type", ty)
            .finish();
        self.0 += 1;
        out.push(StreamEvent::named_text(ty, json));
    }

    /// Emits `response.content_part.added` / `.done`, the part already written as JSON.
    fn emit_part(&mut self, out: &mut Vec<StreamEvent>, ty: &'static str, at: At<'_>, part: &str) {
        let mut json = JsonObject::with_capacity(part.len() + 160);
        json.uint("content_index", at.content_index.unwrap_or_default() as u64)
            .str("item_id", at.item_id)
            .uint("output_index", at.output_index as u64)
            .raw("part", part)
            .uint("sequence_number", self.0)
            .str("type", ty);
        self.0 += 1;
        out.push(StreamEvent::named_text(ty, json.finish()));
    }

    /// Emits `response.output_text.done` or, for a refusal, `response.refusal.done`.
    fn emit_part_text_done(&mut self, out: &mut Vec<StreamEvent>, at: At<'_>, part: &Part) {
        let mut json = JsonObject::with_capacity(part.text.len() + 160);
        json.uint("content_index", at.content_index.unwrap_or_default() as u64)
            .str("item_id", at.item_id);
        let ty = if part.refusal {
            json.uint("output_index", at.output_index as u64)
                .str("refusal", &part.text)
                .uint("sequence_number", self.0);
            "response.refusal.done"
        } else {
            json.raw("logprobs", "[]")
                .uint("output_index", at.output_index as u64)
                .uint("sequence_number", self.0)
                .str("text", &part.text);
            "response.output_text.done"
        };
        json.str("type", ty);
        self.0 += 1;
        out.push(StreamEvent::named_text(ty, json.finish()));
    }
}

/// Where a delta event lands: its item, output index and, for parts, content or summary
/// index.
#[derive(Clone, Copy)]
struct At<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: Option<usize>,
    summary_index: Option<u64>,
}

#[derive(Debug)]
struct Part {
    refusal: bool,
    text: String,
}

impl Part {
    fn json(&self) -> String {
        written::part(self.refusal, &self.text)
    }
}

/// Decodes the `input` string of `{"input":"..."}` arguments as their fragments arrive, so a
/// custom tool call streams its raw input.
#[derive(Debug, Default)]
pub(super) struct InputDecoder {
    /// Bytes of the arguments consumed so far.
    pos: usize,
    state: DecodeState,
    /// Raw input sent to the client so far.
    pub(super) sent: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum DecodeState {
    #[default]
    Prefix,
    InString,
    Done,
    GaveUp,
}

impl InputDecoder {
    /// New raw input decodable from `args` (the whole arguments so far).
    pub(super) fn feed(&mut self, args: &str) -> String {
        let mut piece = String::new();
        if self.state == DecodeState::Prefix {
            match match_prefix(args) {
                Prefix::NeedMore => return piece,
                Prefix::No => {
                    self.state = DecodeState::GaveUp;
                    return piece;
                }
                Prefix::Yes(end) => {
                    self.pos = end;
                    self.state = DecodeState::InString;
                }
            }
        }
        if self.state != DecodeState::InString {
            return piece;
        }
        let rest = args.get(self.pos..).unwrap_or_default();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.state = DecodeState::Done;
                    self.pos += i + 1;
                    break;
                }
                '\\' => {
                    let tail = rest.get(i..).unwrap_or_default();
                    match decode_escape(tail) {
                        Escape::NeedMore => break,
                        Escape::Bad => {
                            self.state = DecodeState::GaveUp;
                            break;
                        }
                        Escape::Char(ch, len) => {
                            piece.push(ch);
                            self.pos += len;
                            // Skip the rest of the escape's bytes.
                            while chars.peek().is_some_and(|(j, _)| *j < i + len) {
                                chars.next();
                            }
                            continue;
                        }
                    }
                }
                c => {
                    piece.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        self.sent.push_str(&piece);
        piece
    }
}

enum Prefix {
    NeedMore,
    No,
    Yes(usize),
}

/// Matches `{ "input" : "` (any JSON whitespace) at the start of `s`.
fn match_prefix(s: &str) -> Prefix {
    let bytes = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while bytes
            .get(*i)
            .is_some_and(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        {
            *i += 1;
        }
    };
    for expected in [&b"{"[..], b"\"input\"", b":", b"\""] {
        skip_ws(&mut i);
        for &e in expected {
            match bytes.get(i) {
                None => return Prefix::NeedMore,
                Some(&b) if b == e => i += 1,
                Some(_) => return Prefix::No,
            }
        }
    }
    Prefix::Yes(i)
}

enum Escape {
    NeedMore,
    Bad,
    /// The decoded character and the escape's length in bytes.
    Char(char, usize),
}

/// Decodes one JSON escape at the start of `s` (which starts with a backslash).
fn decode_escape(s: &str) -> Escape {
    let bytes = s.as_bytes();
    let Some(&kind) = bytes.get(1) else {
        return Escape::NeedMore;
    };
    let simple = match kind {
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b't' => Some('\t'),
        b'u' => None,
        _ => return Escape::Bad,
    };
    if let Some(c) = simple {
        return Escape::Char(c, 2);
    }
    let hex = |from: usize| -> Option<Option<u32>> {
        let digits = s.get(from..from + 4)?;
        Some(u32::from_str_radix(digits, 16).ok())
    };
    let Some(first) = hex(2) else {
        return Escape::NeedMore;
    };
    let Some(first) = first else {
        return Escape::Bad;
    };
    if (0xD800..0xDC00).contains(&first) {
        // A high surrogate needs its low half: `\uXXXX` right after.
        match (bytes.get(6), bytes.get(7)) {
            (None, _) | (Some(b'\\'), None) => return Escape::NeedMore,
            (Some(b'\\'), Some(b'u')) => {}
            _ => return Escape::Char('\u{FFFD}', 6),
        }
        let Some(second) = hex(8) else {
            return Escape::NeedMore;
        };
        return match second {
            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                let c = 0x10000 + ((first - 0xD800) << 10) + (lo - 0xDC00);
                Escape::Char(char::from_u32(c).unwrap_or('\u{FFFD}'), 12)
            }
            _ => Escape::Char('\u{FFFD}', 6),
        };
    }
    Escape::Char(char::from_u32(first).unwrap_or('\u{FFFD}'), 6)
}

#[derive(Debug)]
struct Call {
    call_id: String,
    name: String,
    args: String,
    /// Set for custom tools: their raw input streams out of the arguments.
    custom: Option<InputDecoder>,
}

#[derive(Debug)]
enum Kind {
    Message {
        parts: Vec<Part>,
        /// Whether the last part is still open.
        open: bool,
    },
    Reasoning {
        text: String,
        part_open: bool,
        encrypted: Option<String>,
    },
    Call(Call),
    /// The summary that answers a `compaction_trigger` (`super::compaction`).
    Compaction(String),
}

#[derive(Debug)]
struct Item {
    id: String,
    /// The completed item as JSON, written when the item closed (it does not change after):
    /// the `output` of the terminal response is these, joined.
    done: Option<String>,
    kind: Kind,
}

impl Item {
    /// The item as JSON text: a message written straight out, the rarer kinds through their
    /// `Value`.
    fn text(&self, names: &ToolNameMap, status: &str) -> String {
        let value = match &self.kind {
            Kind::Message { parts, .. } => {
                let parts: Vec<String> = parts.iter().map(Part::json).collect();
                let content = written::array(parts.iter().map(String::as_str));
                return written::message(&self.id, status, &content);
            }
            Kind::Reasoning {
                text, encrypted, ..
            } => reasoning_item(self.id.clone(), text, encrypted.clone()),
            Kind::Call(c) => {
                call_item(names, self.id.clone(), &c.call_id, &c.name, &c.args, status)
            }
            Kind::Compaction(summary) => super::compaction::item(self.id.clone(), summary),
        };
        serde_json::to_string(&value).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Turns hub chunks into the Responses event sequence: `response.created`,
/// `response.in_progress`, per item `output_item.added` ... `output_item.done`, then exactly
/// one `response.completed` (or `response.incomplete` / `response.failed`).
pub(super) struct ToResponses {
    client: Format,
    provider: Format,
    names: ToolNameMap,
    model: String,
    seq: Seq,
    answer_id: String,
    ids: Option<Ids>,
    created: u64,
    items: Vec<Item>,
    open_message: Option<usize>,
    open_reasoning: Option<usize>,
    /// Hub tool-call index -> item index.
    tools: HashMap<u64, usize>,
    finish: Option<String>,
    usage: Option<Value>,
    terminated: bool,
    /// `ctx.carry_reasoning`: unsigned reasoning is closed with its text wrapped.
    carry_reasoning: bool,
    /// `ctx.compaction`: the answer's text, gathered into one `compaction` item at the end.
    compaction: Option<String>,
}

impl ToResponses {
    fn new(ctx: &TranslateCtx) -> Self {
        Self {
            client: ctx.client,
            provider: ctx.provider,
            names: ctx.tool_names.clone(),
            model: ctx.model.clone(),
            seq: Seq::default(),
            answer_id: ctx.answer_id.clone(),
            ids: None,
            created: 0,
            items: Vec::new(),
            open_message: None,
            open_reasoning: None,
            tools: HashMap::new(),
            finish: None,
            usage: None,
            terminated: false,
            carry_reasoning: ctx.carry_reasoning,
            compaction: ctx.compaction.then(String::new),
        }
    }

    fn ids(&mut self) -> &Ids {
        self.ids
            .get_or_insert_with(|| Ids::new(Some(&self.answer_id)))
    }

    /// The response object as JSON text: its output the items closed so far, as they were
    /// written when they closed. `incomplete` and `error` are compact JSON.
    fn response(&mut self, status: &str, incomplete: &str, error: &str) -> String {
        let id = self.ids().response();
        let output = written::array(self.items.iter().filter_map(|i| i.done.as_deref()));
        let usage = match &self.usage {
            Some(usage) => serde_json::to_string(usage).unwrap_or_else(|_| "null".to_owned()),
            None => "null".to_owned(),
        };
        written::response(&ResponseText {
            id: &id,
            created: self.created,
            model: &self.model,
            status,
            incomplete,
            error,
            output: &output,
            usage: &usage,
        })
    }

    fn start(&mut self, chunk: Option<&ChunkView<'_>>, out: &mut Vec<StreamEvent>) {
        if self.ids.is_some() {
            return;
        }
        self.ids = Some(Ids::new(Some(&self.answer_id)));
        if let Some(model) = chunk.and_then(|c| filled(&c.model)) {
            self.model = model.to_owned();
        }
        self.created = chunk.and_then(|c| c.created).unwrap_or_else(now_secs);
        // Both opening events carry the same snapshot: built and written once.
        let snapshot = self.response("in_progress", "null", "null");
        self.seq.emit_response(out, "response.created", &snapshot);
        self.seq
            .emit_response(out, "response.in_progress", &snapshot);
    }

    fn open_item(&mut self, prefix: &str, kind: Kind, out: &mut Vec<StreamEvent>) -> usize {
        let index = self.items.len();
        let id = self.ids().item(prefix, index);
        let item = Item {
            id,
            done: None,
            kind,
        };
        let json = item.text(&self.names, "in_progress");
        self.items.push(item);
        self.seq
            .emit_item(out, "response.output_item.added", index, &json);
        index
    }

    fn close_item(&mut self, index: usize, out: &mut Vec<StreamEvent>) {
        if self.open_message == Some(index) {
            self.open_message = None;
        }
        if self.open_reasoning == Some(index) {
            self.open_reasoning = None;
        }
        let seq = &mut self.seq;
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        if item.done.is_some() {
            return;
        }
        let item_id = item.id.clone();
        let carry = self.carry_reasoning.then_some(self.provider);
        match &mut item.kind {
            Kind::Message { parts, open } => {
                if *open {
                    if let Some(part) = parts.last() {
                        close_part(seq, &item_id, index, parts.len() - 1, part, out);
                    }
                    *open = false;
                }
            }
            Kind::Reasoning {
                text,
                part_open,
                encrypted,
            } => {
                if let Some(provider) = carry
                    && encrypted.is_none()
                    && !text.is_empty()
                {
                    *encrypted = Some(crate::provenance::wrap_text(text, provider));
                }
                if *part_open {
                    let base = json!({
                        "item_id": item_id, "output_index": index, "summary_index": 0,
                    });
                    seq.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        with(&base, "text", json!(text)),
                    );
                    seq.emit(
                        out,
                        "response.reasoning_summary_part.done",
                        with(
                            &base,
                            "part",
                            json!({ "type": "summary_text", "text": text }),
                        ),
                    );
                    *part_open = false;
                }
            }
            Kind::Compaction(_) => {}
            Kind::Call(call) => {
                let base = json!({ "item_id": item_id, "output_index": index });
                if let Some(decoder) = &call.custom {
                    let input = custom_input(&call.args);
                    if let Some(rest) = input.strip_prefix(decoder.sent.as_str())
                        && !rest.is_empty()
                    {
                        seq.emit(
                            out,
                            "response.custom_tool_call_input.delta",
                            with(&base, "delta", json!(rest)),
                        );
                    }
                    seq.emit(
                        out,
                        "response.custom_tool_call_input.done",
                        with(&base, "input", json!(input)),
                    );
                } else {
                    if call.args.trim().is_empty() {
                        call.args = "{}".to_owned();
                    }
                    let mut done = with(&base, "arguments", json!(call.args));
                    if let Some(o) = done.as_object_mut() {
                        o.insert("name".into(), call.name.clone().into());
                    }
                    seq.emit(out, "response.function_call_arguments.done", done);
                }
            }
        }
        let json = item.text(&self.names, "completed");
        self.seq
            .emit_item(out, "response.output_item.done", index, &json);
        item.done = Some(json);
    }

    fn close_message(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(i) = self.open_message {
            self.close_item(i, out);
        }
    }

    fn close_reasoning(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(i) = self.open_reasoning {
            self.close_item(i, out);
        }
    }

    fn close_all(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_reasoning(out);
        self.close_message(out);
        for i in 0..self.items.len() {
            self.close_item(i, out);
        }
    }

    fn reasoning_text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        // A signed reasoning item is complete: more reasoning is a new item.
        if let Some(i) = self.open_reasoning
            && matches!(
                self.items.get(i).map(|it| &it.kind),
                Some(Kind::Reasoning {
                    encrypted: Some(_),
                    ..
                })
            )
        {
            self.close_item(i, out);
        }
        self.close_message(out);
        let index = match self.open_reasoning {
            Some(i) => i,
            None => {
                let i = self.open_item(
                    "rs",
                    Kind::Reasoning {
                        text: String::new(),
                        part_open: false,
                        encrypted: None,
                    },
                    out,
                );
                self.open_reasoning = Some(i);
                i
            }
        };
        let seq = &mut self.seq;
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        if let Kind::Reasoning {
            text: buf,
            part_open,
            ..
        } = &mut item.kind
        {
            if !*part_open {
                *part_open = true;
                let base = json!({ "item_id": item.id, "output_index": index, "summary_index": 0 });
                seq.emit(
                    out,
                    "response.reasoning_summary_part.added",
                    with(&base, "part", json!({ "type": "summary_text", "text": "" })),
                );
            }
            buf.push_str(text);
            let at = At {
                item_id: &item.id,
                output_index: index,
                content_index: None,
                summary_index: Some(0),
            };
            seq.emit_delta(out, "response.reasoning_summary_text.delta", at, text);
        }
    }

    fn signature(&mut self, signature: &str, out: &mut Vec<StreamEvent>) {
        if let Some(i) = self.open_reasoning {
            if let Some(Item {
                kind:
                    Kind::Reasoning {
                        encrypted: enc @ None,
                        ..
                    },
                ..
            }) = self.items.get_mut(i)
            {
                *enc = Some(signature.to_owned());
                return;
            }
            self.close_item(i, out);
        }
        self.close_message(out);
        let i = self.open_item(
            "rs",
            Kind::Reasoning {
                text: String::new(),
                part_open: false,
                encrypted: Some(signature.to_owned()),
            },
            out,
        );
        self.open_reasoning = Some(i);
    }

    fn redacted(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        self.close_reasoning(out);
        self.close_message(out);
        let i = self.open_item(
            "rs",
            Kind::Reasoning {
                text: String::new(),
                part_open: false,
                encrypted: Some(format!("{REDACTED_PREFIX}{data}")),
            },
            out,
        );
        self.close_item(i, out);
    }

    fn text(&mut self, text: &str, refusal: bool, out: &mut Vec<StreamEvent>) {
        if let Some(summary) = &mut self.compaction {
            if !refusal {
                summary.push_str(text);
            }
            return;
        }
        self.close_reasoning(out);
        let index = match self.open_message {
            Some(i) => i,
            None => {
                let i = self.open_item(
                    "msg",
                    Kind::Message {
                        parts: Vec::new(),
                        open: false,
                    },
                    out,
                );
                self.open_message = Some(i);
                i
            }
        };
        let seq = &mut self.seq;
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        let item_id = item.id.as_str();
        let Kind::Message { parts, open } = &mut item.kind else {
            return;
        };
        let same_kind = parts.last().is_some_and(|p| p.refusal == refusal);
        if !(*open && same_kind) {
            if *open && let Some(part) = parts.last() {
                close_part(seq, item_id, index, parts.len() - 1, part, out);
            }
            let part = Part {
                refusal,
                text: String::new(),
            };
            let at = At {
                item_id,
                output_index: index,
                content_index: Some(parts.len()),
                summary_index: None,
            };
            seq.emit_part(out, "response.content_part.added", at, &part.json());
            parts.push(part);
            *open = true;
        }
        let content_index = parts.len().saturating_sub(1);
        if let Some(part) = parts.last_mut() {
            part.text.push_str(text);
        }
        let at = At {
            item_id,
            output_index: index,
            content_index: Some(content_index),
            summary_index: None,
        };
        let ty = if refusal {
            "response.refusal.delta"
        } else {
            "response.output_text.delta"
        };
        seq.emit_delta(out, ty, at, text);
    }

    fn tool_call(&mut self, tc: &ToolCallView<'_>, out: &mut Vec<StreamEvent>) {
        let id = filled(&tc.id);
        let key = match tc.index {
            Some(k) => k,
            // No index: a new id is a new call, otherwise it continues the last one.
            None => {
                let last = self.tools.keys().max().copied();
                match (last, id) {
                    (None, _) => 0,
                    (Some(l), Some(id)) if !self.call_has_id(l, id) => l + 1,
                    (Some(l), _) => l,
                }
            }
        };
        let name = tc.name().filter(|n| !n.is_empty());
        let index = match self.tools.get(&key) {
            Some(&i) => i,
            None => {
                self.close_reasoning(out);
                self.close_message(out);
                let name = name.unwrap_or_default().to_owned();
                let call_id = match id {
                    Some(id) => id.to_owned(),
                    None => {
                        let n = self.items.len();
                        self.ids().call(n)
                    }
                };
                let custom = is_custom(&self.names, &name).then(InputDecoder::default);
                let prefix = if custom.is_some() { "ctc" } else { "fc" };
                let i = self.open_item(
                    prefix,
                    Kind::Call(Call {
                        call_id,
                        name,
                        args: String::new(),
                        custom,
                    }),
                    out,
                );
                self.tools.insert(key, i);
                i
            }
        };
        let fragment = tc.arguments().unwrap_or_default();
        let seq = &mut self.seq;
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        // A fragment after the call was closed cannot be sent any more.
        if item.done.is_some() {
            return;
        }
        let Kind::Call(call) = &mut item.kind else {
            return;
        };
        if call.name.is_empty()
            && let Some(n) = name
        {
            call.name = n.to_owned();
        }
        if fragment.is_empty() {
            return;
        }
        call.args.push_str(fragment);
        let at = At {
            item_id: &item.id,
            output_index: index,
            content_index: None,
            summary_index: None,
        };
        match &mut call.custom {
            Some(decoder) => {
                let piece = decoder.feed(&call.args);
                if !piece.is_empty() {
                    seq.emit_delta(out, "response.custom_tool_call_input.delta", at, &piece);
                }
            }
            None => seq.emit_delta(out, "response.function_call_arguments.delta", at, fragment),
        }
    }

    fn call_has_id(&self, key: u64, id: &str) -> bool {
        self.tools
            .get(&key)
            .and_then(|&i| self.items.get(i))
            .is_some_and(|item| matches!(&item.kind, Kind::Call(c) if c.call_id == id))
    }

    fn delta(&mut self, delta: &DeltaView<'_>, out: &mut Vec<StreamEvent>) {
        let reasoning = filled(&delta.reasoning_content).or_else(|| filled(&delta.reasoning));
        if let Some(text) = reasoning {
            self.reasoning_text(text, out);
        }
        if let Some(sig) = filled(&delta.reasoning_signature) {
            let sig = crate::provenance::to_client(sig, self.provider, self.client);
            self.signature(&sig, out);
        }
        if let Some(data) = filled(&delta.redacted_reasoning) {
            self.redacted(data, out);
        }
        if let Some(text) = filled(&delta.content) {
            self.text(text, false, out);
        }
        if let Some(text) = filled(&delta.refusal) {
            self.text(text, true, out);
        }
        for tc in delta.tool_calls.iter().flatten() {
            self.tool_call(tc, out);
        }
    }

    fn terminate(&mut self, out: &mut Vec<StreamEvent>) {
        if self.terminated {
            return;
        }
        self.close_all(out);
        if let Some(summary) = self.compaction.take() {
            let i = self.open_item("cmp", Kind::Compaction(summary), out);
            self.close_item(i, out);
        }
        let (status, incomplete) = status_of(self.finish.as_deref());
        let incomplete = incomplete.to_string();
        let response = self.response(status, &incomplete, "null");
        let ty = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.seq.emit_response(out, ty, &response);
        self.terminated = true;
    }
}

fn close_part(
    seq: &mut Seq,
    item_id: &str,
    output_index: usize,
    content_index: usize,
    part: &Part,
    out: &mut Vec<StreamEvent>,
) {
    let at = At {
        item_id,
        output_index,
        content_index: Some(content_index),
        summary_index: None,
    };
    seq.emit_part_text_done(out, at, part);
    seq.emit_part(out, "response.content_part.done", at, &part.json());
}

/// A string field that is set and not empty.
fn filled<'b>(field: &'b Option<std::borrow::Cow<'_, str>>) -> Option<&'b str> {
    field.as_deref().filter(|s| !s.is_empty())
}

/// `base` with one more field.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut v = base.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert(key.into(), value);
    }
    v
}

/// The Responses error `code` for an error that ends a stream.
fn error_code(err: &ApiError) -> &'static str {
    if let Some(code) = err.code {
        return code;
    }
    match err.kind {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::Overloaded => "server_is_overloaded",
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "invalid_prompt",
        ErrorKind::Authentication => "invalid_api_key",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Timeout | ErrorKind::Upstream | ErrorKind::Internal => "server_error",
    }
}

impl StreamStage for ToResponses {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.terminated {
            return Ok(());
        }
        let chunk = ChunkView::read(&event.data);
        self.start(Some(&chunk), out);
        let mut usage_here = false;
        if let Some(usage) = chunk.usage.as_ref().and_then(usage_from_hub) {
            self.usage = Some(usage);
            usage_here = true;
        }
        if let Some(choice) = chunk.choice_zero() {
            if let Some(delta) = &choice.delta {
                self.delta(delta, out);
            }
            if let Some(finish) = filled(&choice.finish_reason) {
                self.finish = Some(finish.to_owned());
                self.close_all(out);
            }
        }
        // The usage chunk follows the finish chunk; the terminal event carries both.
        if self.finish.is_some() && usage_here {
            self.terminate(out);
        }
        Ok(())
    }

    fn reads_text(&self) -> bool {
        true
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.terminated {
            return Ok(());
        }
        self.start(None, out);
        self.terminate(out);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        if self.terminated {
            return;
        }
        self.start(None, out);
        let err = json!({ "code": error_code(error), "message": error.message }).to_string();
        let response = self.response("failed", "null", &err);
        self.seq.emit_response(out, "response.failed", &response);
        self.terminated = true;
    }
}

// ---------------------------------------------------------------------------------------------
// Responses -> hub
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct ToolIn {
    item_id: String,
    output_index: Option<u64>,
    custom: bool,
    /// Arguments (function) or raw input (custom) sent on so far.
    sent: String,
    /// Custom tools: whether the `{"input":"` opening was sent, and the closing `"}`.
    opened: bool,
    closed: bool,
}

#[derive(Debug, Default)]
struct ReasoningIn {
    sent: String,
    last_summary: Option<u64>,
}

/// Turns a Responses event stream into hub chunks.
pub(super) struct FromResponses {
    names: ToolNameMap,
    /// Id and time come from the upstream's response object; see [`FromResponses::head`].
    head: ChunkHead,
    role_sent: bool,
    finished: bool,
    tools: Vec<ToolIn>,
    texts: HashMap<String, String>,
    reasoning: HashMap<String, ReasoningIn>,
}

impl FromResponses {
    fn new(ctx: &TranslateCtx) -> Self {
        Self {
            names: ctx.tool_names.clone(),
            head: ChunkHead {
                id: String::new(),
                created: 0,
                model: ctx.model.clone(),
            },
            role_sent: false,
            finished: false,
            tools: Vec::new(),
            texts: HashMap::new(),
            reasoning: HashMap::new(),
        }
    }

    fn capture(&mut self, response: Option<&Value>) {
        let Some(r) = response else {
            return;
        };
        if self.head.id.is_empty()
            && let Some(id) = non_empty_str(r, "id")
        {
            self.head.id = id.to_owned();
        }
        if let Some(m) = non_empty_str(r, "model") {
            self.head.model = m.to_owned();
        }
        if self.head.created == 0
            && let Some(c) = r.get("created_at").and_then(Value::as_u64)
        {
            self.head.created = c;
        }
    }

    /// The chunk head, with an id and time of our own if the upstream has named none yet.
    fn head(&mut self) -> &ChunkHead {
        if self.head.id.is_empty() {
            self.head.id = format!("resp_{}", super::unique_suffix());
        }
        if self.head.created == 0 {
            self.head.created = now_secs();
        }
        &self.head
    }

    fn role(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.role_sent {
            self.role_sent = true;
            let c = self.head().delta(json!({ "role": "assistant" }), None);
            out.push(c);
        }
    }

    fn emit(&mut self, delta: Value, out: &mut Vec<StreamEvent>) {
        self.role(out);
        let c = self.head().delta(delta, None);
        out.push(c);
    }

    fn find_tool(&self, data: &Value) -> Option<usize> {
        if let Some(id) = non_empty_str(data, "item_id")
            && let Some(i) = self.tools.iter().position(|t| t.item_id == id)
        {
            return Some(i);
        }
        let oi = data.get("output_index").and_then(Value::as_u64)?;
        self.tools.iter().position(|t| t.output_index == Some(oi))
    }

    fn open_tool(&mut self, item: &Value, output_index: Option<u64>, out: &mut Vec<StreamEvent>) {
        let custom = item.get("type").and_then(Value::as_str) == Some("custom_tool_call");
        let item_id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let call_id = non_empty_str(item, "call_id")
            .or_else(|| non_empty_str(item, "id"))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("call_{}", super::unique_suffix()));
        let name = super::response::item_tool_name(item);
        let name = self.names.client_name(&name).to_owned();
        let index = self.tools.len();
        self.tools.push(ToolIn {
            item_id,
            output_index,
            custom,
            sent: String::new(),
            opened: false,
            closed: false,
        });
        self.emit(
            json!({ "tool_calls": [{
                "index": index,
                "id": call_id,
                "type": "function",
                "function": { "name": name, "arguments": "" },
            }]}),
            out,
        );
        // Some servers send the whole arguments with the item.
        let initial = if custom {
            item.get("input").and_then(Value::as_str)
        } else {
            item.get("arguments").and_then(Value::as_str)
        }
        .unwrap_or_default();
        if !initial.is_empty() {
            self.tool_fragment(index, initial, out);
        }
    }

    /// Sends new arguments (function) or raw input (custom) of tool `index`.
    fn tool_fragment(&mut self, index: usize, piece: &str, out: &mut Vec<StreamEvent>) {
        let Some(tool) = self.tools.get_mut(index) else {
            return;
        };
        if tool.closed || piece.is_empty() {
            return;
        }
        tool.sent.push_str(piece);
        let args = if tool.custom {
            let escaped = json_escape(piece);
            if tool.opened {
                escaped
            } else {
                tool.opened = true;
                format!("{{\"input\":\"{escaped}")
            }
        } else {
            piece.to_owned()
        };
        self.emit(
            json!({ "tool_calls": [{ "index": index, "function": { "arguments": args } }] }),
            out,
        );
    }

    /// Brings tool `index` up to its final arguments / input, and closes a custom one.
    fn tool_final(&mut self, index: usize, full: Option<&str>, out: &mut Vec<StreamEvent>) {
        let Some(tool) = self.tools.get(index) else {
            return;
        };
        if tool.closed {
            return;
        }
        if let Some(rest) = full.and_then(|f| f.strip_prefix(tool.sent.as_str())) {
            let rest = rest.to_owned();
            self.tool_fragment(index, &rest, out);
        }
        let Some(tool) = self.tools.get_mut(index) else {
            return;
        };
        if tool.custom {
            let close = if tool.opened {
                "\"}"
            } else {
                "{\"input\":\"\"}"
            };
            tool.opened = true;
            tool.closed = true;
            self.emit(
                json!({ "tool_calls": [{ "index": index, "function": { "arguments": close } }] }),
                out,
            );
        } else {
            tool.closed = true;
        }
    }

    fn text_key(data: &Value) -> String {
        match non_empty_str(data, "item_id") {
            Some(id) => id.to_owned(),
            None => format!(
                "#{}",
                data.get("output_index")
                    .and_then(Value::as_u64)
                    .unwrap_or_default()
            ),
        }
    }

    fn item_key(item: &Value, output_index: Option<u64>) -> String {
        match non_empty_str(item, "id") {
            Some(id) => id.to_owned(),
            None => format!("#{}", output_index.unwrap_or_default()),
        }
    }

    fn item_done(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let Some(item) = data.get("item") else {
            return;
        };
        let oi = data.get("output_index").and_then(Value::as_u64);
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let key = Self::item_key(item, oi);
                let full: String = item
                    .get("content")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect();
                let sent = self.texts.remove(&key).unwrap_or_default();
                if let Some(rest) = full.strip_prefix(sent.as_str()).filter(|r| !r.is_empty()) {
                    self.emit(json!({ "content": rest }), out);
                }
            }
            Some("reasoning") => {
                let key = Self::item_key(item, oi);
                let full = super::response::reasoning_text(item);
                let sent = self
                    .reasoning
                    .remove(&key)
                    .map(|r| r.sent)
                    .unwrap_or_default();
                if let Some(rest) = full.strip_prefix(sent.as_str()).filter(|r| !r.is_empty()) {
                    self.emit(json!({ "reasoning_content": rest }), out);
                }
                if let Some(enc) = non_empty_str(item, "encrypted_content") {
                    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
                    let sig = provider_signature(id, enc);
                    self.emit(json!({ "reasoning_signature": sig }), out);
                }
            }
            Some(ty @ ("function_call" | "custom_tool_call")) => {
                let lookup = json!({ "item_id": item.get("id"), "output_index": oi });
                let index = match self.find_tool(&lookup) {
                    Some(i) => i,
                    None => {
                        // Never announced: announce it now, with everything it carries.
                        self.open_tool(item, oi, out);
                        self.tools.len().saturating_sub(1)
                    }
                };
                let key = if ty == "custom_tool_call" {
                    "input"
                } else {
                    "arguments"
                };
                let full = item.get(key).and_then(Value::as_str);
                self.tool_final(index, full, out);
            }
            _ => {}
        }
    }

    fn end(&mut self, ty: &str, data: &Value, out: &mut Vec<StreamEvent>) {
        let response = data.get("response");
        self.capture(response);
        let status = response
            .and_then(|r| r.get("status"))
            .and_then(Value::as_str)
            .unwrap_or(if ty == "response.incomplete" {
                "incomplete"
            } else {
                "completed"
            });
        for i in 0..self.tools.len() {
            self.tool_final(i, None, out);
        }
        let finish = finish_of(
            status,
            response.and_then(|r| r.get("incomplete_details")),
            !self.tools.is_empty(),
        );
        self.role(out);
        let c = self.head().delta(json!({}), Some(finish));
        out.push(c);
        if let Some(usage) = response.and_then(|r| r.get("usage")).and_then(usage_to_hub) {
            let c = self.head().usage(usage);
            out.push(c);
        }
        self.finished = true;
    }
}

impl FromResponses {
    /// A new output item: a tool call opens (once per item id); anything else starts the
    /// assistant message.
    fn item_added(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        let Some(item) = data.get("item") else {
            return;
        };
        let oi = data.get("output_index").and_then(Value::as_u64);
        match item.get("type").and_then(Value::as_str) {
            Some("function_call" | "custom_tool_call") => {
                let known = non_empty_str(item, "id")
                    .is_some_and(|id| self.tools.iter().any(|t| t.item_id == id));
                if !known {
                    self.open_tool(item, oi, out);
                }
            }
            _ => self.role(out),
        }
    }

    /// Reasoning text or summary text; a new summary part is set off by a blank line.
    fn reasoning_delta(&mut self, ty: &str, data: &Value, out: &mut Vec<StreamEvent>) {
        let Some(delta) = non_empty_str(data, "delta") else {
            return;
        };
        let summary = (ty == "response.reasoning_summary_text.delta")
            .then(|| data.get("summary_index").and_then(Value::as_u64))
            .flatten();
        let r = self.reasoning.entry(Self::text_key(data)).or_default();
        let mut text = String::new();
        if summary.is_some() && r.last_summary.is_some() && r.last_summary != summary {
            text.push_str("\n\n");
        }
        if summary.is_some() {
            r.last_summary = summary;
        }
        text.push_str(delta);
        r.sent.push_str(&text);
        self.emit(json!({ "reasoning_content": text }), out);
    }

    /// The full arguments of a call: whatever the deltas did not already send goes out.
    fn arguments_done(&mut self, data: &Value, out: &mut Vec<StreamEvent>) {
        if let Some(i) = self.find_tool(data)
            && let Some(full) = data.get("arguments").and_then(Value::as_str)
            && let Some(rest) = self
                .tools
                .get(i)
                .and_then(|t| full.strip_prefix(t.sent.as_str()))
        {
            let rest = rest.to_owned();
            self.tool_fragment(i, &rest, out);
        }
    }
}

fn upstream_error(error: Option<&Value>, fallback: &str) -> TranslateError {
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or(fallback);
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("error");
    TranslateError::BadUpstream(format!("{code}: {message}"))
}

impl StreamStage for FromResponses {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.finished {
            return Ok(());
        }
        let data = &event.data;
        let ty = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default();
        match ty {
            "response.created" | "response.in_progress" | "response.queued" => {
                self.capture(data.get("response"));
                self.role(out);
            }
            "response.output_item.added" => self.item_added(data, out),
            "response.output_text.delta" => {
                if let Some(delta) = non_empty_str(data, "delta") {
                    self.texts
                        .entry(Self::text_key(data))
                        .or_default()
                        .push_str(delta);
                    self.emit(json!({ "content": delta }), out);
                }
            }
            "response.refusal.delta" => {
                if let Some(delta) = non_empty_str(data, "delta") {
                    self.emit(json!({ "refusal": delta }), out);
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.reasoning_delta(ty, data, out);
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                if let (Some(i), Some(delta)) = (self.find_tool(data), non_empty_str(data, "delta"))
                {
                    self.tool_fragment(i, delta, out);
                }
            }
            "response.function_call_arguments.done" => self.arguments_done(data, out),
            "response.custom_tool_call_input.done" => {
                if let Some(i) = self.find_tool(data) {
                    let full = data.get("input").and_then(Value::as_str);
                    self.tool_final(i, full, out);
                }
            }
            "response.output_item.done" => self.item_done(data, out),
            "response.completed" | "response.incomplete" | "response.done" => {
                let status = data
                    .get("response")
                    .and_then(|r| r.get("status"))
                    .and_then(Value::as_str);
                if matches!(status, Some("failed" | "cancelled")) {
                    let err = data.get("response").and_then(|r| r.get("error"));
                    return Err(upstream_error(err, "the response failed"));
                }
                self.end(ty, data, out);
            }
            "response.failed" => {
                let err = data.get("response").and_then(|r| r.get("error"));
                return Err(upstream_error(err, "the response failed"));
            }
            "error" => {
                let err = data.get("error").filter(|e| e.is_object()).unwrap_or(data);
                return Err(upstream_error(Some(err), "the upstream stream failed"));
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        Err(TranslateError::BadUpstream(
            "the Responses stream ended before response.completed".into(),
        ))
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        // The hub has no error chunk; the OpenAI error body is what an OpenAI stream sends.
        if self.finished {
            return;
        }
        self.finished = true;
        out.push(StreamEvent::hub(error.body(Format::OpenAi)));
    }
}
