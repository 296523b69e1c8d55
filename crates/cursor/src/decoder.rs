//! The Cursor stream body -> [`StreamEvent`]s, frame by frame as the bytes arrive.
//!
//! Each data frame holds one `StreamUnifiedChatResponseWithTools`; it becomes these events
//! (names and JSON defined here, read by [`crate::stream`]):
//!
//! - `text` `{"text": "..."}`: answer text
//! - `thinking` `{"text": "..."}`: reasoning text
//! - `tool_call` `{"id", "model_call_id", "name", "args", "mcp_name", "mcp_args", "last"}`:
//!   one fragment of a tool call; `id` is the call id without its `\nmc_` suffix, which
//!   goes to `model_call_id`; `name` is Cursor's name for the tool (`mcp_custom_<name>`),
//!   `mcp_name`/`mcp_args` the declared name and arguments from the call's MCP parameters;
//!   `last` marks the call's final fragment.
//!
//! The end-of-stream frame (flag 0x02) ends the stream: with an `error` it becomes an error
//! carrying the HTTP status it means (`resource_exhausted` -> 429, `unauthenticated` ->
//! 401...), without one nothing. A data frame holding a JSON `{"error": ...}` instead of
//! protobuf is read the same way. A body that ends without its end-of-stream frame was cut
//! off and is an error.

use std::collections::VecDeque;

use prost::Message;
use serde_json::{Value, json};
use switchyard_hub::{ApiError, Decoder, ErrorKind, StreamEvent, TranslateError};

use crate::framing::{Frame, FrameReader};
use crate::proto::{ClientSideToolV2Call, StreamUnifiedChatResponseWithTools};

/// Separates a tool call's id from the model's own call id in `tool_call_id`.
pub const MODEL_CALL_SEPARATOR: &str = "\nmc_";

#[derive(Debug, Default)]
pub struct CursorDecoder {
    frames: FrameReader,
    pending: VecDeque<StreamEvent>,
    /// The end-of-stream frame arrived: nothing may follow it.
    ended: bool,
    /// An error was reported; the stream is over and says nothing more.
    failed: bool,
}

impl CursorDecoder {
    fn fail(&mut self, e: TranslateError) -> Option<Result<StreamEvent, TranslateError>> {
        self.failed = true;
        Some(Err(e))
    }

    /// Reads one frame into `pending`, or says why the stream is over.
    fn on_frame(&mut self, frame: Frame) -> Result<(), TranslateError> {
        if self.ended {
            return Err(bad("data after the end-of-stream message"));
        }
        if frame.end_stream {
            self.ended = true;
            return end_stream(&frame.payload);
        }
        if frame.payload.first() == Some(&b'{')
            && let Ok(v) = serde_json::from_slice::<Value>(&frame.payload)
            && let Some(err) = v.get("error")
        {
            return Err(TranslateError::Upstream(connect_error(err)));
        }
        let msg = StreamUnifiedChatResponseWithTools::decode(frame.payload.as_slice())
            .map_err(|e| bad(&format!("response frame is not valid protobuf: {e}")))?;
        if let Some(r) = msg.response {
            if let Some(t) = r.thinking.filter(|t| !t.text.is_empty()) {
                self.pending
                    .push_back(StreamEvent::named("thinking", json!({"text": t.text})));
            }
            if !r.text.is_empty() {
                self.pending
                    .push_back(StreamEvent::named("text", json!({"text": r.text})));
            }
        }
        if let Some(call) = msg.tool_call {
            self.pending.push_back(tool_call_event(call));
        }
        Ok(())
    }
}

impl Decoder for CursorDecoder {
    fn push(&mut self, chunk: &[u8]) {
        if !self.failed {
            self.frames.push(chunk);
        }
    }

    fn next_event(&mut self) -> Option<Result<StreamEvent, TranslateError>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            let frame = match self.frames.next_frame()? {
                Ok(f) => f,
                Err(e) => return self.fail(bad(&e.to_string())),
            };
            // A frame is read only once `pending` is empty, and a frame that fails adds
            // nothing to it, so no event is lost to the error.
            if let Err(e) = self.on_frame(frame) {
                return self.fail(e);
            }
        }
    }

    fn finish(&mut self) -> Result<Option<StreamEvent>, TranslateError> {
        if self.failed {
            return Ok(None);
        }
        self.frames.finish().map_err(|e| bad(&e.to_string()))?;
        if !self.ended {
            return Err(bad("the stream ended without its end-of-stream message"));
        }
        Ok(self.pending.pop_front())
    }
}

fn bad(msg: &str) -> TranslateError {
    TranslateError::BadUpstream(format!("Cursor: {msg}"))
}

fn tool_call_event(call: ClientSideToolV2Call) -> StreamEvent {
    let (id, suffix) = match call.tool_call_id.split_once(MODEL_CALL_SEPARATOR) {
        Some((id, model)) => (id.to_owned(), Some(model.to_owned())),
        None => (call.tool_call_id.clone(), None),
    };
    let model_call_id = call
        .model_call_id
        .filter(|m| !m.is_empty())
        .or(suffix)
        .filter(|m| !m.is_empty());
    let mcp = call.mcp_params.and_then(|p| p.tools.into_iter().next());
    StreamEvent::named(
        "tool_call",
        json!({
            "id": id,
            "model_call_id": model_call_id,
            "name": call.name,
            "args": call.raw_args,
            "mcp_name": mcp.as_ref().map(|t| t.name.clone()).filter(|n| !n.is_empty()),
            "mcp_args": mcp.and_then(|t| t.parameters).filter(|p| !p.is_empty()),
            "last": call.is_last || call.is_last_alt,
        }),
    )
}

/// The end-of-stream message: `{"error": {...}, "metadata": {...}}`, either part optional.
fn end_stream(payload: &[u8]) -> Result<(), TranslateError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| bad(&format!("end-of-stream message is not JSON: {e}")))?;
    match v.get("error") {
        Some(err) if !err.is_null() => Err(TranslateError::Upstream(connect_error(err))),
        _ => Ok(()),
    }
}

/// A Connect error (`{"code": "resource_exhausted", "message": ..., "details": [...]}`) as
/// the error a client should see.
pub fn connect_error(err: &Value) -> ApiError {
    let code = err.get("code").and_then(Value::as_str).unwrap_or("unknown");
    let (status, kind, code) = match code {
        "resource_exhausted" => (429, ErrorKind::RateLimited, "resource_exhausted"),
        "unauthenticated" => (401, ErrorKind::Authentication, "unauthenticated"),
        "permission_denied" => (403, ErrorKind::PermissionDenied, "permission_denied"),
        "invalid_argument" => (400, ErrorKind::InvalidRequest, "invalid_argument"),
        "failed_precondition" => (400, ErrorKind::InvalidRequest, "failed_precondition"),
        "out_of_range" => (400, ErrorKind::InvalidRequest, "out_of_range"),
        "not_found" => (404, ErrorKind::NotFound, "not_found"),
        "deadline_exceeded" => (504, ErrorKind::Timeout, "deadline_exceeded"),
        "unavailable" => (503, ErrorKind::Overloaded, "unavailable"),
        "canceled" => (502, ErrorKind::Upstream, "canceled"),
        "unimplemented" => (501, ErrorKind::Upstream, "unimplemented"),
        _ => (502, ErrorKind::Upstream, "upstream_error"),
    };
    ApiError::new(status, kind, format!("Cursor: {}", error_text(err, code))).with_code(code)
}

/// The most helpful words in a Connect error: the detail's title and text when Cursor gave
/// them (`details[0].debug.details`), else the message, else the code.
fn error_text(err: &Value, code: &str) -> String {
    let debug = err.pointer("/details/0/debug/details");
    let field = |k: &str| {
        debug
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (field("title"), field("detail"), message) {
        (Some(t), Some(d), _) => format!("{t}: {d}"),
        (Some(t), None, _) | (None, Some(t), _) => t.to_owned(),
        (None, None, Some(m)) => m.to_owned(),
        (None, None, None) => code.replace('_', " "),
    }
}
