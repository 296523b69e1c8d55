//! Cursor stream events (see [`crate::decoder`]) -> hub `chat.completion.chunk`s.
//!
//! Text and thinking go out as they arrive. A tool call's argument fragments are held by call
//! id until its last fragment, then the call goes out whole (a chunk with its id and name,
//! then one with its arguments) under the next tool index, so calls whose fragments
//! interleave still go out one at a time; calls the stream never finished go out at its end,
//! in first-seen order. Cursor reports no token usage: the last chunk carries an estimate
//! (the prompt's from the request translator, the answer's from the bytes streamed) marked
//! `"estimated": true`, so clients that expect usage get it and the usage row is flagged.

use serde_json::{Value, json};
use switchyard_hub::usage::estimate_tokens;
use switchyard_hub::{
    ApiError, ChunkHead, Format, StreamEvent, StreamStage, ToolNameMap, TranslateCtx,
    TranslateError,
};

use crate::request::{TOOL_SERVER, join_call_id};

pub fn cursor_stream_to_hub(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(CursorToHub {
        head: ChunkHead::new(
            format!("chatcmpl-cursor-{}", uuid::Uuid::new_v4().simple()),
            ctx.model.clone(),
        ),
        tool_names: ctx.tool_names.clone(),
        prompt_estimate: ctx.prompt_estimate,
        answer_bytes: 0,
        started: false,
        calls: Vec::new(),
        next_index: 0,
        done: false,
    })
}

/// A tool call being assembled from its fragments.
struct Call {
    id: String,
    model_call_id: Option<String>,
    name: String,
    mcp_name: Option<String>,
    args: String,
    mcp_args: Option<String>,
    /// Its index among the calls sent, once sent.
    sent: Option<u64>,
}

struct CursorToHub {
    head: ChunkHead,
    tool_names: ToolNameMap,
    prompt_estimate: u64,
    /// Text, reasoning and tool-call bytes sent, for the completion estimate.
    answer_bytes: usize,
    started: bool,
    calls: Vec<Call>,
    next_index: u64,
    done: bool,
}

impl CursorToHub {
    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(
                self.head
                    .delta(json!({"role": "assistant", "content": ""}), None),
            );
        }
    }

    /// The client's name for a called tool.
    fn client_name(&self, call: &Call) -> String {
        let mapped = self.tool_names.client_name(&call.name);
        if mapped != call.name {
            return mapped.to_owned();
        }
        // The declared name from the call's MCP parameters, if the client declared it.
        if let Some(n) = &call.mcp_name
            && self.tool_names.provider_name(n) != n
        {
            return n.clone();
        }
        let prefix = format!("mcp_{TOOL_SERVER}_");
        match call.name.strip_prefix(&prefix) {
            Some(rest) if !rest.is_empty() => rest.to_owned(),
            _ => call.mcp_name.clone().unwrap_or_else(|| call.name.clone()),
        }
    }

    /// The call's whole arguments: the fragments joined when they make JSON, else the
    /// arguments in its MCP parameters, else the fragments as they are.
    fn arguments(call: &Call) -> String {
        let joined = call.args.trim();
        if !joined.is_empty() && serde_json::from_str::<Value>(joined).is_ok() {
            return joined.to_owned();
        }
        if let Some(p) = call
            .mcp_args
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            return p.to_owned();
        }
        if joined.is_empty() {
            "{}".to_owned()
        } else {
            joined.to_owned()
        }
    }

    fn send_call(&mut self, pos: usize, out: &mut Vec<StreamEvent>) {
        let Some(call) = self.calls.get(pos) else {
            return;
        };
        if call.sent.is_some() {
            return;
        }
        let index = self.next_index;
        let id = join_call_id(&call.id, call.model_call_id.as_deref());
        let name = self.client_name(call);
        let args = Self::arguments(call);
        self.answer_bytes += name.len() + args.len();
        self.start(out);
        out.push(self.head.delta(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
        out.push(self.head.delta(
            json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]}),
            None,
        ));
        self.next_index += 1;
        if let Some(c) = self.calls.get_mut(pos) {
            c.sent = Some(index);
        }
    }

    fn on_tool_call(
        &mut self,
        data: &Value,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let s = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let id = s("id")
            .ok_or_else(|| TranslateError::BadUpstream("Cursor: a tool call has no id".into()))?;
        let pos = match self.calls.iter().position(|c| c.id == id) {
            Some(p) => p,
            None => {
                self.calls.push(Call {
                    id: id.to_owned(),
                    model_call_id: None,
                    name: String::new(),
                    mcp_name: None,
                    args: String::new(),
                    mcp_args: None,
                    sent: None,
                });
                self.calls.len() - 1
            }
        };
        let Some(call) = self.calls.get_mut(pos) else {
            return Ok(());
        };
        if call.sent.is_some() {
            // Cursor repeats nothing after a call's last fragment; if it does, ignore it
            // rather than send the call twice.
            return Ok(());
        }
        if let Some(m) = s("model_call_id") {
            call.model_call_id = Some(m.to_owned());
        }
        if let Some(n) = s("name") {
            call.name = n.to_owned();
        }
        if let Some(n) = s("mcp_name") {
            call.mcp_name = Some(n.to_owned());
        }
        if let Some(a) = s("mcp_args") {
            call.mcp_args = Some(a.to_owned());
        }
        if let Some(a) = data.get("args").and_then(Value::as_str) {
            call.args.push_str(a);
        }
        if data.get("last").and_then(Value::as_bool) == Some(true) {
            if call.name.is_empty() && call.mcp_name.is_none() {
                return Err(TranslateError::BadUpstream(format!(
                    "Cursor: tool call `{id}` ended without a name"
                )));
            }
            self.send_call(pos, out);
        }
        Ok(())
    }
}

impl StreamStage for CursorToHub {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let text = || {
            event
                .data
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        match event.event.as_deref() {
            Some("text") if !text().is_empty() => {
                self.answer_bytes += text().len();
                self.start(out);
                out.push(self.head.delta(json!({"content": text()}), None));
            }
            Some("thinking") if !text().is_empty() => {
                self.answer_bytes += text().len();
                self.start(out);
                out.push(self.head.delta(json!({"reasoning_content": text()}), None));
            }
            Some("tool_call") => self.on_tool_call(&event.data, out)?,
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        for pos in 0..self.calls.len() {
            let unnamed = self
                .calls
                .get(pos)
                .is_some_and(|c| c.name.is_empty() && c.mcp_name.is_none());
            if !unnamed {
                self.send_call(pos, out);
            }
        }
        self.start(out);
        let finish = if self.next_index > 0 {
            "tool_calls"
        } else {
            "stop"
        };
        out.push(self.head.delta(json!({}), Some(finish)));
        let completion = estimate_tokens(self.answer_bytes);
        out.push(self.head.usage(json!({
            "prompt_tokens": self.prompt_estimate,
            "completion_tokens": completion,
            "total_tokens": self.prompt_estimate + completion,
            "estimated": true,
        })));
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
