//! Streams: Gemini `streamGenerateContent?alt=sse` chunks <-> hub `chat.completion.chunk`s.
//!
//! Gemini SSE events carry no names; each `data:` is a whole `GenerateContentResponse`.
//! Function calls arrive whole, `usageMetadata` may repeat (the last one wins) and the
//! chunk with `finishReason` may not be the last, so the hub finish and usage chunks are
//! sent by `finish()`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::response::{candidate, upstream_error_message};
use super::{
    call_id, field, field_str, finish_to_gemini, finish_to_hub, id_seed, signature_extra,
    signature_from_gemini, signature_to_gemini, tool_call_signature, usage_to_gemini, usage_to_hub,
};
use crate::chunk::ChunkHead;
use crate::ctx::{ToolNameMap, TranslateCtx};
use crate::error::{ApiError, TranslateError};
use crate::format::Format;
use crate::stream::{StreamEvent, StreamStage};

pub fn gemini_stream_to_hub(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(GeminiToHub {
        names: ctx.tool_names.clone(),
        head: ChunkHead::new(String::new(), ctx.model.clone()),
        started: false,
        seed: String::new(),
        choices: BTreeMap::new(),
        calls_total: 0,
        usage: None,
        blocked: false,
        done: false,
    })
}

pub fn hub_stream_to_gemini(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(HubToGemini {
        client: ctx.client,
        provider: ctx.provider,
        model: ctx.model.clone(),
        model_seen: false,
        response_id: None,
        choices: BTreeMap::new(),
        usage: None,
        finish_seen: false,
        done: false,
    })
}

// =======================================================================================
// Gemini -> hub

#[derive(Default)]
struct HubChoice {
    role_sent: bool,
    /// A message carries one reasoning signature; clients join repeated string deltas, so
    /// a second copy would corrupt it.
    signature_sent: bool,
    tool_calls: usize,
    /// Gemini's `finishReason`, mapped once the calls are all known.
    finish: Option<String>,
}

struct GeminiToHub {
    names: ToolNameMap,
    head: ChunkHead,
    /// The id is fixed (from the first event's `responseId`, else a fresh seed).
    started: bool,
    seed: String,
    choices: BTreeMap<u64, HubChoice>,
    calls_total: usize,
    usage: Option<Value>,
    blocked: bool,
    done: bool,
}

impl GeminiToHub {
    fn start(&mut self, data: &Value) {
        if self.started {
            return;
        }
        self.started = true;
        let response_id = field_str(data, "responseId");
        self.seed = id_seed(response_id);
        self.head.id = format!("chatcmpl-{}", response_id.unwrap_or(&self.seed));
        if let Some(model) = field_str(data, "modelVersion").filter(|m| !m.is_empty()) {
            self.head.model = model.to_owned();
        }
    }

    /// Emits one delta for choice `index`, with `role` on the choice's first delta.
    fn delta(&mut self, index: u64, mut delta: Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let choice = self.choices.entry(index).or_default();
        if !choice.role_sent {
            choice.role_sent = true;
            delta.insert("role".into(), "assistant".into());
        }
        let ev = self.head.choices(json!([{
            "index": index,
            "delta": delta,
            "finish_reason": Value::Null,
        }]));
        out.push(ev);
    }

    fn candidate(&mut self, i: usize, cand: &Value, out: &mut Vec<StreamEvent>) {
        let index = cand
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(i as u64);
        self.choices.entry(index).or_default();
        let parts = cand
            .get("content")
            .and_then(|c| field(c, "parts"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for part in parts {
            let sig = field_str(part, "thoughtSignature")
                .filter(|s| !s.is_empty())
                .map(signature_from_gemini);
            let sig = sig.as_deref();
            if let Some(fc) = field(part, "functionCall") {
                self.function_call(index, fc, sig, out);
                continue;
            }
            let mut delta = Map::new();
            let text = part.get("text").and_then(Value::as_str).unwrap_or("");
            if !text.is_empty() {
                let key = if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    "reasoning_content"
                } else {
                    "content"
                };
                delta.insert(key.into(), text.into());
            }
            if let Some(sig) = sig
                && self.claim_signature(index)
            {
                delta.insert("reasoning_signature".into(), sig.into());
            }
            if !delta.is_empty() {
                self.delta(index, delta, out);
            }
        }
        if let Some(reason) = field_str(cand, "finishReason")
            && let Some(choice) = self.choices.get_mut(&index)
        {
            choice.finish = Some(reason.to_owned());
        }
    }

    /// Whether this choice's reasoning signature is still unsent (and from now on, sent).
    fn claim_signature(&mut self, index: u64) -> bool {
        let choice = self.choices.entry(index).or_default();
        !std::mem::replace(&mut choice.signature_sent, true)
    }

    fn function_call(
        &mut self,
        index: u64,
        fc: &Value,
        sig: Option<&str>,
        out: &mut Vec<StreamEvent>,
    ) {
        let name = fc.get("name").and_then(Value::as_str).unwrap_or("");
        let name = self.names.client_name(name).to_owned();
        let id = match fc.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => call_id(&self.seed, self.calls_total),
        };
        self.calls_total += 1;
        let args = match fc.get("args") {
            Some(a @ Value::Object(_)) => a.to_string(),
            _ => "{}".to_owned(),
        };
        if let Some(sig) = sig
            && self.claim_signature(index)
        {
            // The first signature seen is the message's reasoning signature.
            let mut delta = Map::new();
            delta.insert("reasoning_signature".into(), sig.into());
            self.delta(index, delta, out);
        }
        let tool_index = {
            let choice = self.choices.entry(index).or_default();
            choice.tool_calls += 1;
            choice.tool_calls - 1
        };
        let mut call = json!({
            "index": tool_index,
            "id": id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        });
        if let (Some(sig), Some(obj)) = (sig, call.as_object_mut()) {
            obj.insert("extra_content".into(), signature_extra(sig));
        }
        let mut delta = Map::new();
        delta.insert("tool_calls".into(), json!([call]));
        self.delta(index, delta, out);
        let mut delta = Map::new();
        delta.insert(
            "tool_calls".into(),
            json!([{"index": tool_index, "function": {"arguments": args}}]),
        );
        self.delta(index, delta, out);
    }
}

impl StreamStage for GeminiToHub {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let data = &event.data;
        if !data.is_object() {
            return Err(TranslateError::BadUpstream(
                "Gemini stream event is not a JSON object".into(),
            ));
        }
        if let Some(msg) = upstream_error_message(data) {
            return Err(TranslateError::BadUpstream(format!("Gemini error: {msg}")));
        }
        self.start(data);
        if let Some(meta) = field(data, "usageMetadata").and_then(usage_to_hub) {
            self.usage = Some(meta);
        }
        if data
            .get("promptFeedback")
            .and_then(|f| field(f, "blockReason"))
            .is_some()
        {
            self.blocked = true;
        }
        if let Some(Value::Array(cands)) = field(data, "candidates") {
            for (i, cand) in cands.iter().enumerate() {
                self.candidate(i, cand, out);
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        if !self.started {
            self.start(&Value::Null);
        }
        if self.choices.is_empty() {
            self.choices.insert(0, HubChoice::default());
        }
        let mut finishes = Vec::new();
        for (index, choice) in &self.choices {
            let reason = match &choice.finish {
                None if self.blocked => "content_filter",
                reason => finish_to_hub(reason.as_deref().unwrap_or("STOP"), choice.tool_calls > 0),
            };
            let mut delta = Map::new();
            if !choice.role_sent {
                delta.insert("role".into(), "assistant".into());
            }
            finishes.push(json!({"index": index, "delta": delta, "finish_reason": reason}));
        }
        for f in finishes {
            out.push(self.head.choices(json!([f])));
        }
        if let Some(usage) = self.usage.take() {
            out.push(self.head.usage(usage));
        }
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        out.push(StreamEvent::hub(error.body(Format::OpenAi)));
    }
}

// =======================================================================================
// hub -> Gemini

#[derive(Default)]
struct PendingCall {
    id: Option<String>,
    name: String,
    arguments: String,
    signature: Option<String>,
}

#[derive(Default)]
struct GeminiChoice {
    calls: BTreeMap<u64, PendingCall>,
    finish: Option<String>,
    signature: Option<String>,
}

struct HubToGemini {
    client: Format,
    provider: Format,
    model: String,
    model_seen: bool,
    response_id: Option<String>,
    choices: BTreeMap<u64, GeminiChoice>,
    usage: Option<Value>,
    finish_seen: bool,
    done: bool,
}

impl HubToGemini {
    fn envelope(&self, candidates: Vec<Value>) -> Map<String, Value> {
        let mut chunk = Map::new();
        chunk.insert("candidates".into(), Value::Array(candidates));
        chunk.insert("modelVersion".into(), self.model.clone().into());
        if let Some(id) = &self.response_id {
            chunk.insert("responseId".into(), id.clone().into());
        }
        chunk
    }

    fn choice(&mut self, i: usize, choice: &Value, out: &mut Vec<StreamEvent>) {
        let index = choice
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(i as u64);
        let state = self.choices.entry(index).or_default();
        let mut parts = Vec::new();
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta
                .get("reasoning_content")
                .or_else(|| delta.get("reasoning"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                parts.push(json!({"text": text, "thought": true}));
            }
            if let Some(sig) = delta
                .get("reasoning_signature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                let sig = crate::provenance::to_client(sig, self.provider, self.client);
                parts.push(json!({"text": "", "thought": true, "thoughtSignature": signature_to_gemini(&sig)}));
                state.signature = Some(sig);
            }
            if let Some(text) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                parts.push(json!({"text": text}));
            }
            if let Some(Value::Array(calls)) = delta.get("tool_calls") {
                for (pos, call) in calls.iter().enumerate() {
                    let at = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(pos as u64);
                    let pending = state.calls.entry(at).or_default();
                    if let Some(id) = call.get("id").and_then(Value::as_str) {
                        pending.id.get_or_insert_with(|| id.to_owned());
                    }
                    if let Some(f) = call.get("function") {
                        if let Some(name) = f.get("name").and_then(Value::as_str)
                            && pending.name.is_empty()
                        {
                            pending.name = name.to_owned();
                        }
                        if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                            pending.arguments.push_str(args);
                        }
                    }
                    if let Some(sig) = tool_call_signature(call) {
                        pending.signature = Some(crate::provenance::to_client(
                            sig,
                            self.provider,
                            self.client,
                        ));
                    }
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            state.finish = Some(reason.to_owned());
            self.finish_seen = true;
        }
        if !parts.is_empty() {
            let cand = json!({"content": {"role": "model", "parts": parts}, "index": index});
            out.push(StreamEvent::hub(Value::Object(self.envelope(vec![cand]))));
        }
    }

    /// The last chunk: buffered function calls, `finishReason` and `usageMetadata`.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if self.choices.is_empty() {
            self.choices.insert(0, GeminiChoice::default());
        }
        let mut candidates = Vec::new();
        for (index, choice) in &self.choices {
            let call_sigs: Vec<&str> = choice
                .calls
                .values()
                .filter_map(|c| c.signature.as_deref())
                .collect();
            let mut spare = choice
                .signature
                .as_deref()
                .filter(|s| !call_sigs.contains(s));
            let mut parts = Vec::new();
            for call in choice.calls.values() {
                let args = super::args_object(Some(&Value::String(call.arguments.clone())));
                let mut fc = Map::new();
                fc.insert("name".into(), call.name.clone().into());
                fc.insert("args".into(), args);
                if let Some(id) = &call.id {
                    fc.insert("id".into(), id.clone().into());
                }
                let mut part = Map::new();
                part.insert("functionCall".into(), Value::Object(fc));
                if let Some(sig) = call.signature.as_deref().or_else(|| spare.take()) {
                    part.insert("thoughtSignature".into(), signature_to_gemini(sig).into());
                }
                parts.push(Value::Object(part));
            }
            let finish = finish_to_gemini(choice.finish.as_deref().unwrap_or("stop"));
            candidates.push(candidate(*index, parts, finish));
        }
        let mut chunk = self.envelope(candidates);
        if let Some(meta) = self.usage.as_ref().and_then(usage_to_gemini) {
            chunk.insert("usageMetadata".into(), meta);
        }
        out.push(StreamEvent::hub(Value::Object(chunk)));
    }
}

impl StreamStage for HubToGemini {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let data = &event.data;
        if !data.is_object() {
            return Err(TranslateError::BadUpstream(
                "hub stream chunk is not a JSON object".into(),
            ));
        }
        if let Some(err) = data.get("error").filter(|e| !e.is_null()) {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), str::to_owned);
            self.fail(&ApiError::bad_gateway(message), out);
            return Ok(());
        }
        if !self.model_seen
            && let Some(model) = data
                .get("model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
        {
            self.model = model.to_owned();
            self.model_seen = true;
        }
        if self.response_id.is_none() {
            self.response_id = data.get("id").and_then(Value::as_str).map(str::to_owned);
        }
        if let Some(usage) = data.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        if let Some(Value::Array(choices)) = data.get("choices") {
            for (i, choice) in choices.iter().enumerate() {
                self.choice(i, choice, out);
            }
        }
        if self.finish_seen && self.usage.is_some() {
            self.close(out);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        self.close(out);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        out.push(StreamEvent::hub(error.body(Format::Gemini)));
    }
}
