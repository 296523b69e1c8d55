//! Kiro stream events -> hub chunks, each as it arrives.
//!
//! - `assistantResponseEvent` / `codeEvent` `{content}` -> `delta.content`
//! - `reasoningContentEvent` `{text, signature}` -> `delta.reasoning_content` /
//!   `delta.reasoning_signature`
//! - `toolUseEvent` `{toolUseId, name, input, stop}`: the first event of an id opens a tool
//!   call (indices in first-seen order), `input` fragments follow as argument deltas; an
//!   `input` object is the whole input and is sent only if no fragment was
//! - `messageStopEvent` -> the `finish_reason` chunk
//! - `metricsEvent` `{inputTokens, outputTokens}` -> the usage chunk at the end
//! - `contextUsageEvent` `{contextUsagePercentage}`: without `metricsEvent`, the prompt is
//!   estimated as that share of [`CONTEXT_WINDOW`] and the output at four bytes a token;
//!   the usage chunk then carries the hub extension `"estimated": true`
//! - `meteringEvent` (credits) and unknown events carry nothing for the client.

use serde_json::{Value, json};
use switchyard_hub::{
    ApiError, ChunkHead, Format, StreamEvent, StreamStage, ToolNameMap, TranslateCtx,
    TranslateError,
};

/// The context window Kiro's percentages are taken of (Claude models on Kiro).
pub const CONTEXT_WINDOW: f64 = 200_000.0;

struct Tool {
    id: String,
    args_sent: bool,
}

pub struct KiroToHub {
    head: ChunkHead,
    names: ToolNameMap,
    role_sent: bool,
    tools: Vec<Tool>,
    finish_sent: bool,
    done: bool,
    stop_reason: Option<String>,
    metrics: Option<(u64, u64, u64)>,
    context_pct: Option<f64>,
    output_bytes: usize,
}

impl KiroToHub {
    pub fn new(ctx: &TranslateCtx) -> Self {
        Self {
            head: ChunkHead::new(
                format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
                ctx.model.clone(),
            ),
            names: ctx.tool_names.clone(),
            role_sent: false,
            tools: Vec::new(),
            finish_sent: false,
            done: false,
            stop_reason: None,
            metrics: None,
            context_pct: None,
            output_bytes: 0,
        }
    }

    /// Emits a delta, with the role on the first one.
    fn delta(&mut self, mut delta: Value, out: &mut Vec<StreamEvent>) {
        if !self.role_sent {
            self.role_sent = true;
            if let Some(d) = delta.as_object_mut() {
                d.insert("role".into(), "assistant".into());
            }
        }
        out.push(self.head.delta(delta, None));
    }

    fn tool_event(
        &mut self,
        data: &Value,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let id = data
            .get("toolUseId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TranslateError::BadUpstream("toolUseEvent without toolUseId".into()))?;
        let index = match self.tools.iter().position(|t| t.id == id) {
            Some(i) => i,
            None => {
                let name = data.get("name").and_then(Value::as_str).unwrap_or("");
                let name = self.names.client_name(name).to_owned();
                let index = self.tools.len();
                self.tools.push(Tool {
                    id: id.to_owned(),
                    args_sent: false,
                });
                self.delta(
                    json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    out,
                );
                index
            }
        };
        let fragment = match data.get("input") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(v @ Value::Object(_)) => {
                let sent = self.tools.get(index).is_some_and(|t| t.args_sent);
                (!sent).then(|| v.to_string())
            }
            _ => None,
        };
        if let Some(fragment) = fragment {
            self.output_bytes += fragment.len();
            if let Some(t) = self.tools.get_mut(index) {
                t.args_sent = true;
            }
            self.delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                out,
            );
        }
        Ok(())
    }

    fn finish_chunk(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finish_sent {
            return;
        }
        self.finish_sent = true;
        if !self.role_sent {
            self.delta(json!({"content": ""}), out);
        }
        let reason = if !self.tools.is_empty() {
            "tool_calls"
        } else if self.stop_reason.as_deref().is_some_and(|r| {
            r.to_ascii_lowercase().contains("max_tokens") || r.eq_ignore_ascii_case("length")
        }) {
            "length"
        } else {
            "stop"
        };
        out.push(self.head.delta(json!({}), Some(reason)));
    }

    fn usage(&self) -> Option<Value> {
        if let Some((input, output, cached)) = self.metrics {
            return Some(json!({
                "prompt_tokens": input,
                "completion_tokens": output,
                "total_tokens": input + output,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": 0},
            }));
        }
        let pct = self.context_pct?;
        let input = (pct.clamp(0.0, 100.0) * CONTEXT_WINDOW / 100.0).round() as u64;
        let output = (self.output_bytes as u64).div_ceil(4);
        Some(json!({
            "prompt_tokens": input,
            "completion_tokens": output,
            "total_tokens": input + output,
            "estimated": true,
        }))
    }
}

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key)
        .and_then(|n| n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)))
}

impl StreamStage for KiroToHub {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let data = &event.data;
        match event.event.as_deref().unwrap_or("") {
            "assistantResponseEvent" | "codeEvent" => {
                if let Some(text) = data
                    .get("content")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    self.output_bytes += text.len();
                    self.delta(json!({"content": text}), out);
                }
            }
            "reasoningContentEvent" => {
                let mut delta = serde_json::Map::new();
                if let Some(text) = data
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    self.output_bytes += text.len();
                    delta.insert("reasoning_content".into(), text.into());
                }
                if let Some(sig) = data
                    .get("signature")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    delta.insert("reasoning_signature".into(), sig.into());
                }
                if !delta.is_empty() {
                    self.delta(Value::Object(delta), out);
                }
            }
            "toolUseEvent" => self.tool_event(data, out)?,
            "messageStopEvent" => {
                self.stop_reason = data
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.finish_chunk(out);
            }
            "metricsEvent" => {
                let input = count(data, "inputTokens");
                let output = count(data, "outputTokens");
                if input.is_some() || output.is_some() {
                    let cached = count(data, "cacheReadInputTokens").unwrap_or(0);
                    self.metrics = Some((input.unwrap_or(0), output.unwrap_or(0), cached));
                }
            }
            "contextUsageEvent" => {
                if let Some(p) = data.get("contextUsagePercentage").and_then(Value::as_f64) {
                    self.context_pct = Some(p);
                }
            }
            "invalidStateEvent" => {
                let msg = data
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid state");
                return Err(TranslateError::BadUpstream(format!("Kiro: {msg}")));
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        self.finish_chunk(out);
        if let Some(usage) = self.usage() {
            out.push(self.head.usage(usage));
        }
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        out.push(error.stream_event(Format::OpenAi));
    }
}

pub fn kiro_stream_to_hub(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(KiroToHub::new(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::EventStreamDecoder;
    use proptest::prelude::*;
    use switchyard_hub::Decoder;
    use switchyard_hub::collect::Collector;
    use switchyard_hub::stream::run_stage;

    fn ctx() -> TranslateCtx {
        TranslateCtx::new(Format::OpenAi, crate::KIRO, "claude-sonnet-4.5", true)
    }

    fn decode(bytes: &[u8]) -> Vec<StreamEvent> {
        let mut d = EventStreamDecoder::default();
        d.push(bytes);
        let mut out = Vec::new();
        while let Some(ev) = d.next_event() {
            out.push(ev.unwrap());
        }
        assert!(d.finish().unwrap().is_none());
        out
    }

    fn deltas(chunks: &[StreamEvent]) -> Vec<Value> {
        chunks
            .iter()
            .filter_map(|c| c.data.pointer("/choices/0/delta").cloned())
            .collect()
    }

    #[test]
    fn golden_text_and_tool_fixture() {
        let events = decode(include_bytes!("../tests/fixtures/text_and_tool.bin"));
        let mut stage = KiroToHub::new(&ctx());
        let out = run_stage(&mut stage, events).unwrap();
        let got = deltas(&out);
        let expected: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/text_and_tool.hub_deltas.json"
        ))
        .unwrap();
        assert_eq!(Value::Array(got), expected);
        let finishes: Vec<&Value> = out
            .iter()
            .filter_map(|c| c.data.pointer("/choices/0/finish_reason"))
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, [&json!("tool_calls")]);
        let last = out.last().unwrap();
        assert_eq!(last.data["choices"], json!([]));
        assert_eq!(
            last.data["usage"],
            json!({"prompt_tokens": 4810, "completion_tokens": 37, "total_tokens": 4847,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}})
        );

        // A non-streaming client gets the collected answer.
        let mut c = Collector::default();
        for ch in &out {
            c.push(&ch.data);
        }
        let whole = c.finish();
        let msg = &whole["choices"][0]["message"];
        assert_eq!(msg["content"], "Hello, I will run it.");
        assert_eq!(msg["tool_calls"][0]["id"], "tooluse_A1");
        assert_eq!(msg["tool_calls"][0]["function"]["name"], "Bash");
        assert_eq!(
            msg["tool_calls"][0]["function"]["arguments"],
            "{\"command\":\"ls\"}"
        );
    }

    #[test]
    fn without_metrics_usage_is_estimated_and_flagged() {
        let events = decode(include_bytes!("../tests/fixtures/estimated_only.bin"));
        let out = run_stage(&mut KiroToHub::new(&ctx()), events).unwrap();
        let usage = &out.last().unwrap().data["usage"];
        assert_eq!(usage["prompt_tokens"], 2000);
        assert_eq!(usage["completion_tokens"], 4); // "Short answer." is 13 bytes
        assert_eq!(usage["estimated"], true);
        let u = switchyard_hub::Usage::from_openai(usage).unwrap();
        assert!(u.estimated);
        // No messageStopEvent: finish() still sends exactly one finish chunk.
        let finishes = out
            .iter()
            .filter(|c| {
                c.data
                    .pointer("/choices/0/finish_reason")
                    .is_some_and(|f| f == "stop")
            })
            .count();
        assert_eq!(finishes, 1);
    }

    #[test]
    fn parallel_tools_keep_first_seen_order_and_whole_inputs_are_not_repeated() {
        let ev = |data: Value| StreamEvent {
            event: Some("toolUseEvent".into()),
            data: data.into(),
        };
        let events = vec![
            ev(json!({"toolUseId": "b", "name": "Second", "input": "{\"x\""})),
            ev(json!({"toolUseId": "a", "name": "First", "input": {"y": 2}})),
            ev(json!({"toolUseId": "b", "name": "Second", "input": ":1}"})),
            ev(json!({"toolUseId": "a", "name": "First", "input": {"y": 2}, "stop": true})),
            ev(json!({"toolUseId": "b", "name": "Second", "stop": true})),
        ];
        let out = run_stage(&mut KiroToHub::new(&ctx()), events).unwrap();
        let mut c = Collector::default();
        for ch in &out {
            c.push(&ch.data);
        }
        let whole = c.finish();
        let calls = &whole["choices"][0]["message"]["tool_calls"];
        assert_eq!(calls[0]["id"], "b");
        assert_eq!(calls[0]["function"]["arguments"], "{\"x\":1}");
        assert_eq!(calls[1]["id"], "a");
        assert_eq!(calls[1]["function"]["arguments"], "{\"y\":2}");
        assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
        // The role goes on the first delta only.
        let roles = deltas(&out)
            .iter()
            .filter(|d| d.get("role").is_some())
            .count();
        assert_eq!(roles, 1);
    }

    #[test]
    fn finish_and_fail_happen_once() {
        let mut stage = KiroToHub::new(&ctx());
        let mut out = Vec::new();
        stage
            .push(
                StreamEvent {
                    event: Some("messageStopEvent".into()),
                    data: json!({}).into(),
                },
                &mut out,
            )
            .unwrap();
        stage.finish(&mut out).unwrap();
        stage.finish(&mut out).unwrap();
        stage.fail(&ApiError::bad_gateway("x"), &mut out);
        let finishes = out
            .iter()
            .filter(|c| {
                c.data
                    .pointer("/choices/0/finish_reason")
                    .is_some_and(|f| !f.is_null())
            })
            .count();
        assert_eq!(finishes, 1);
        assert!(out.iter().all(|c| c.data.get("error").is_none()));

        let mut stage = KiroToHub::new(&ctx());
        let mut out = Vec::new();
        stage.fail(&ApiError::bad_gateway("broke"), &mut out);
        stage.fail(&ApiError::bad_gateway("broke"), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data["error"]["message"], "broke");
    }

    #[test]
    fn tool_events_need_an_id() {
        let mut stage = KiroToHub::new(&ctx());
        let err = stage
            .push(
                StreamEvent {
                    event: Some("toolUseEvent".into()),
                    data: json!({"name": "x"}).into(),
                },
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(matches!(err, TranslateError::BadUpstream(_)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn arbitrary_events_never_panic(
            events in prop::collection::vec((
                prop_oneof![
                    Just("assistantResponseEvent"), Just("codeEvent"), Just("toolUseEvent"),
                    Just("messageStopEvent"), Just("metricsEvent"), Just("contextUsageEvent"),
                    Just("meteringEvent"), Just("reasoningContentEvent"), Just("other"),
                ],
                prop_oneof![
                    Just(json!({})),
                    Just(json!(null)),
                    Just(json!([1, 2])),
                    "[a-z{}\":]{0,6}".prop_map(|s| json!({"content": s, "input": s, "toolUseId": "t"})),
                    any::<f64>().prop_map(|f| json!({"contextUsagePercentage": f, "inputTokens": f})),
                    any::<i64>().prop_map(|n| json!({"outputTokens": n, "toolUseId": n, "input": {"n": n}})),
                ],
            ), 0..12)
        ) {
            let mut stage = KiroToHub::new(&ctx());
            let mut out = Vec::new();
            for (name, data) in events {
                let _ = stage.push(StreamEvent { event: Some(name.into()), data: data.into() }, &mut out);
            }
            stage.finish(&mut out).unwrap();
            let finishes = out.iter().filter(|c| c.data.pointer("/choices/0/finish_reason").is_some_and(|f| !f.is_null())).count();
            prop_assert_eq!(finishes, 1);
        }
    }
}
