//! A fake Cursor chat API (`POST /aiserver.v1.ChatService/StreamUnifiedChatWithTools`),
//! written from the public facts about its wire format: Connect framing
//! (`[flags][u32 BE length][payload]`, 0x01 gzip, 0x02 end-of-stream JSON) and protobuf,
//! both encoded and decoded BY HAND here (varints and length-delimited fields), never with
//! the types of the crate under test, so a wrong field number there cannot be mirrored.
//!
//! Strict where the real service is strict:
//! - headers: `content-type: application/connect+proto`, `connect-protocol-version: 1`, a
//!   bearer token, `x-client-key` = hex SHA-256 of the token, `x-session-id` a UUID,
//!   `x-cursor-client-version`, and `x-cursor-checksum` = 8 characters of base64url whose
//!   6 bytes decode (undoing the cipher: XOR with the previous byte, 165 first, minus the
//!   index) to `floor(now_ms / 1e6)` give or take one, packed as the client's JavaScript
//!   packs it (see [`read_checksum`]), followed by the machine id;
//! - body: exactly one uncompressed frame holding a `StreamUnifiedChatRequestWithTools`
//!   whose conversation, model, ids, metadata, mode, tools and tool results are checked
//!   (see [`validate`]); tool results must answer calls this fake made, with the model call
//!   id it gave.
//!
//! Scriptable from the text of the last user message:
//! - `#chunks=N` split the answer over N frames (default 3); `#delay=MS` between frames
//! - `#hold` send up to the first answer frame, then wait for [`FakeCursor::release`]
//! - `#reset` break the connection after two answer frames
//! - `#tool=NAME` call the declared tool NAME (else the first declared) with arguments
//!   filling its schema's required properties ([`TOOL_COMMAND`] for `cmd`/`command`, so a
//!   tool requiring only `cmd` gets [`TOOL_ARGS`]) in three fragments, each with the index
//!   (field 48, varint) and model call id (field 49, string) as the real service numbers a
//!   call, the last carrying `is_last` and the MCP parameters
//! - `#think` (or a thinking level above 0) think first ([`THINKING`])
//! - `#status=CODE` answer HTTP CODE with a Connect JSON error
//! - `#exhausted` end the stream at once with a `resource_exhausted` error
//!
//! A token starting with `revoked`, or a JWT whose `exp` has passed, ends the stream with
//! `unauthenticated`. A conversation
//! whose last message is an assistant turn with tool results is answered
//! `after tool: <first result>`. Every other data frame is gzipped, to exercise per-frame
//! decompression. Each request is recorded with its decoded body as JSON (see
//! [`FakeCursor::requests`]).
//!
//! [`FakeCursorAuth`] fakes the token renewal the Cursor IDE performs: `POST /oauth/token`
//! with JSON `{grant_type: "refresh_token", client_id, refresh_token}` answered
//! `{access_token, id_token, shouldLogout: false}`. As the IDE keeps the new access token as
//! its next refresh token, the fake accepts each issued access token as a refresh token,
//! once; a spent or unknown refresh token is answered 400 `invalid_grant`.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fake_anthropic::{
    AFTER_TOOL, FakeState, Frame, Recorded, Script, header, receive, reply_text, split_text,
    stream_frames,
};
use crate::server::{FakeBody, full, serve};

pub use crate::fake_anthropic::{REPLY, THINKING, TOOL_ARGS};

pub const PATH: &str = "/aiserver.v1.ChatService/StreamUnifiedChatWithTools";
/// The command a scripted call runs, under the tool's `cmd` or `command` argument.
pub const TOOL_COMMAND: &str = "echo hi";

#[derive(Clone)]
pub struct FakeCursor {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    issued: Arc<Mutex<HashMap<String, (String, String)>>>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl FakeCursor {
    pub async fn start() -> FakeCursor {
        let state = Arc::new(FakeState::default());
        let issued = Arc::new(Mutex::new(HashMap::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (s, i, b) = (state.clone(), issued.clone(), bodies.clone());
        let addr = serve(move |req| handle(s.clone(), i.clone(), b.clone(), req)).await;
        FakeCursor {
            addr,
            state,
            issued,
            bodies,
        }
    }

    /// The base URL to configure (the real one is `https://api2.cursor.sh`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn release(&self) {
        self.state.release();
    }

    /// Requests as received; `body` is the decoded request as JSON: `model`,
    /// `instruction`, `mode`, `mode_name`, `thinking_level`, `messages` (`role`, `text`,
    /// `id`, `tool_results`), `tools` (`name`, `description`, `parameters`, `server`),
    /// `conversation_id`, and from the headers `machine_id` and `token`.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests()
    }

    /// The raw bodies received, in order (to replay them altered).
    pub fn raw_bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().unwrap().clone()
    }

    /// How many tool calls the fake has made.
    pub fn calls_issued(&self) -> usize {
        self.issued.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------------------------------
// Protobuf by hand.

#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    /// A fixed-width field (wire types 1 and 5): no Cursor message uses one.
    Fixed,
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

/// Every field of one message, in order. Groups (wire types 3, 4) and field number 0 are
/// malformed, as for any proto3 parser.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return Err("field number 0".into());
        }
        let value = match wire {
            0 => Wire::Varint(read_varint(buf, &mut pos)?),
            2 => {
                let len = read_varint(buf, &mut pos)? as usize;
                let end = pos.checked_add(len).filter(|&e| e <= buf.len());
                let end = end.ok_or_else(|| format!("field {number} overruns its message"))?;
                let v = Wire::Len(&buf[pos..end]);
                pos = end;
                v
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if buf.get(pos..pos + n).is_none() {
                    return Err(format!("field {number} truncated"));
                }
                pos += n;
                Wire::Fixed
            }
            other => return Err(format!("field {number} has wire type {other}")),
        };
        out.push((number, value));
    }
    Ok(out)
}

/// A decoded message: field number -> values, for checking.
struct Msg<'a> {
    name: &'static str,
    fields: Vec<(u64, Wire<'a>)>,
}

impl<'a> Msg<'a> {
    fn parse(name: &'static str, buf: &'a [u8]) -> Result<Msg<'a>, String> {
        Ok(Msg {
            name,
            fields: fields(buf).map_err(|e| format!("{name}: {e}"))?,
        })
    }

    fn all(&self, n: u64) -> impl Iterator<Item = Wire<'a>> + '_ {
        self.fields
            .iter()
            .filter(move |(f, _)| *f == n)
            .map(|(_, w)| *w)
    }

    fn one(&self, n: u64) -> Result<Option<Wire<'a>>, String> {
        let mut it = self.all(n);
        let first = it.next();
        if it.next().is_some() {
            return Err(format!("{}: field {n} repeated", self.name));
        }
        Ok(first)
    }

    fn bytes(&self, n: u64) -> Result<Option<&'a [u8]>, String> {
        match self.one(n)? {
            None => Ok(None),
            Some(Wire::Len(b)) => Ok(Some(b)),
            Some(_) => Err(format!("{}: field {n} must be length-delimited", self.name)),
        }
    }

    fn string(&self, n: u64) -> Result<Option<String>, String> {
        self.bytes(n)?
            .map(|b| {
                String::from_utf8(b.to_vec())
                    .map_err(|_| format!("{}: field {n} is not UTF-8", self.name))
            })
            .transpose()
    }

    fn required_string(&self, n: u64, what: &str) -> Result<String, String> {
        self.string(n)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{}: {what} (field {n}) is required", self.name))
    }

    fn varint(&self, n: u64) -> Result<Option<u64>, String> {
        match self.one(n)? {
            None => Ok(None),
            Some(Wire::Varint(v)) => Ok(Some(v)),
            Some(_) => Err(format!("{}: field {n} must be a varint", self.name)),
        }
    }

    fn message(&self, n: u64, name: &'static str) -> Result<Option<Msg<'a>>, String> {
        self.bytes(n)?.map(|b| Msg::parse(name, b)).transpose()
    }

    /// A packed repeated varint field.
    fn packed(&self, n: u64) -> Result<Vec<u64>, String> {
        let mut out = Vec::new();
        for w in self.all(n) {
            match w {
                Wire::Len(b) => {
                    let mut pos = 0;
                    while pos < b.len() {
                        out.push(read_varint(b, &mut pos)?);
                    }
                }
                Wire::Varint(v) => out.push(v),
                Wire::Fixed => return Err(format!("{}: field {n} is not varints", self.name)),
            }
        }
        Ok(out)
    }
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn ld(field: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3 | 2, &mut out);
    varint(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    out
}

fn vi(field: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3, &mut out);
    varint(n, &mut out);
    out
}

fn connect_frame(flags: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// ---------------------------------------------------------------------------------------
// Checks.

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Undoes the checksum cipher: returns (time window, machine id).
///
/// Cursor's client packs the window `t` in JavaScript, where `t >> 40` and `t >> 32` shift by
/// 8 and 0 (shift counts wrap modulo 32, on 32-bit integers): the six plain bytes are
/// `t>>8, t, t>>24, t>>16, t>>8, t` (each `& 255`). Anything else, a true 48-bit packing
/// included, is refused as the real service refuses it.
pub fn read_checksum(value: &str) -> Result<(u64, String), String> {
    let (cipher, machine) = (value.get(..8), value.get(8..));
    let (Some(cipher), Some(machine)) = (cipher, machine) else {
        return Err("x-cursor-checksum is shorter than 8 characters".into());
    };
    if machine.is_empty() {
        return Err("x-cursor-checksum carries no machine id".into());
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cipher)
        .map_err(|_| "x-cursor-checksum does not start with 8 base64url characters")?;
    let mut prev = 165u8;
    let mut plain = Vec::with_capacity(bytes.len());
    for (i, b) in bytes.iter().enumerate() {
        plain.push(b.wrapping_sub(i as u8) ^ prev);
        prev = *b;
    }
    let [hi8, lo8, b3, b2, b1, b0] = plain[..] else {
        return Err("x-cursor-checksum time part is not 6 bytes".into());
    };
    if [hi8, lo8] != [b1, b0] {
        return Err(
            "x-cursor-checksum time bytes are not packed as Cursor's client packs them".into(),
        );
    }
    let t = u32::from_be_bytes([b3, b2, b1, b0]);
    Ok((u64::from(t), machine.to_owned()))
}

fn check_headers(parts: &http::request::Parts) -> Result<(String, String, u64), (u16, String)> {
    let h = |n: &str| header(parts, n).unwrap_or("");
    if h("content-type") != "application/connect+proto" {
        return Err((
            415,
            format!(
                "content-type must be application/connect+proto, not {:?}",
                h("content-type")
            ),
        ));
    }
    if h("connect-protocol-version") != "1" {
        return Err((400, "connect-protocol-version: 1 is required".into()));
    }
    let token = h("authorization").strip_prefix("Bearer ").unwrap_or("");
    if token.is_empty() {
        return Err((401, "a bearer token is required".into()));
    }
    if h("x-client-key") != sha256_hex(token) {
        return Err((403, "x-client-key is not the SHA-256 of the token".into()));
    }
    if !is_uuid(h("x-session-id")) {
        return Err((403, "x-session-id must be a UUID".into()));
    }
    if h("x-cursor-client-version").is_empty() {
        return Err((403, "x-cursor-client-version is required".into()));
    }
    let (t, machine_id) = read_checksum(h("x-cursor-checksum")).map_err(|e| (403, e))?;
    let now = crate::wall_clock()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        / 1_000_000;
    if t.abs_diff(now) > 1 {
        return Err((
            403,
            format!("x-cursor-checksum time {t} is not now ({now})"),
        ));
    }
    Ok((token.to_owned(), machine_id, t))
}

struct Issued<'a>(&'a Mutex<HashMap<String, (String, String)>>);

/// Checks a request body and returns it as JSON.
pub fn validate(body: &[u8]) -> Result<Value, String> {
    validate_with(body, None)
}

fn validate_with(body: &[u8], issued: Option<Issued<'_>>) -> Result<Value, String> {
    let [flags, l0, l1, l2, l3, payload @ ..] = body else {
        return Err("the body is not a Connect frame".into());
    };
    if *flags != 0 {
        return Err(format!(
            "request frames must be uncompressed (flags {flags:#04x})"
        ));
    }
    if u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize != payload.len() {
        return Err("the body must be exactly one frame".into());
    }
    let top = Msg::parse("StreamUnifiedChatRequestWithTools", payload)?;
    if top.fields.iter().any(|(n, _)| *n != 1) {
        return Err("StreamUnifiedChatRequestWithTools: only field 1 is expected".into());
    }
    let req = top
        .message(1, "StreamUnifiedChatRequest")?
        .ok_or("StreamUnifiedChatRequestWithTools: field 1 (request) is required")?;

    let model = req
        .message(5, "ModelDetails")?
        .ok_or("StreamUnifiedChatRequest: model (field 5) is required")?
        .required_string(1, "model name")?;
    let instruction = req
        .message(3, "Instruction")?
        .ok_or("StreamUnifiedChatRequest: instruction (field 3) is required")?
        .string(1)?
        .unwrap_or_default();
    let conversation_id = req.required_string(23, "conversation id")?;
    if !is_uuid(&conversation_id) {
        return Err("conversation id must be a UUID".into());
    }
    let meta = req
        .message(26, "Metadata")?
        .ok_or("StreamUnifiedChatRequest: metadata (field 26) is required")?;
    for (n, what) in [(1, "os"), (2, "arch"), (3, "version"), (4, "cwd")] {
        meta.required_string(n, what)?;
    }
    let ts = meta.required_string(5, "timestamp")?;
    if !(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes().get(10) == Some(&b'T')) {
        return Err(format!(
            "Metadata: timestamp {ts:?} is not ISO 8601 UTC with milliseconds"
        ));
    }
    let mode = req
        .varint(46)?
        .ok_or("unified mode (field 46) is required")?;
    let mode_name = req.required_string(54, "unified mode name")?;
    match (mode, mode_name.as_str()) {
        (1, "Ask") | (2, "Agent") => {}
        _ => {
            return Err(format!(
                "unified mode {mode} does not match its name {mode_name:?}"
            ));
        }
    }
    let agentic = req.varint(27)?.unwrap_or(0);
    if agentic != u64::from(mode == 2) {
        return Err("is_agentic (field 27) must be set exactly in agent mode".into());
    }
    if (mode == 2) != (req.packed(29)? == [1]) {
        return Err("supported tools (field 29) must be [1] exactly in agent mode".into());
    }
    let thinking_level = req.varint(49)?.unwrap_or(0);
    if thinking_level > 2 {
        return Err(format!("thinking level {thinking_level} is not 0, 1 or 2"));
    }

    let mut tools = Vec::new();
    for w in req.all(34) {
        let Wire::Len(b) = w else {
            return Err("MCP tools (field 34) must be messages".into());
        };
        let t = Msg::parse("McpTool", b)?;
        let parameters = match t.string(3)? {
            Some(p) => {
                let v: Value = serde_json::from_str(&p)
                    .map_err(|_| "McpTool: parameters are not JSON".to_owned())?;
                if !v.is_object() {
                    return Err("McpTool: parameters must be a JSON schema object".into());
                }
                v
            }
            None => Value::Null,
        };
        tools.push(json!({
            "name": t.required_string(1, "name")?,
            "description": t.string(2)?,
            "parameters": parameters,
            "server": t.required_string(4, "server name")?,
        }));
    }
    if !tools.is_empty() && mode != 2 {
        return Err("tools are declared but the request is not in agent mode".into());
    }

    let mut messages = Vec::new();
    for w in req.all(1) {
        let Wire::Len(b) = w else {
            return Err("conversation messages (field 1) must be messages".into());
        };
        let m = Msg::parse("ConversationMessage", b)?;
        let role = m.varint(2)?.unwrap_or(0);
        if !(1..=2).contains(&role) {
            return Err(format!("ConversationMessage: role {role} is not 1 or 2"));
        }
        let id = m.required_string(13, "id")?;
        if !is_uuid(&id) {
            return Err("ConversationMessage: id must be a UUID".into());
        }
        let mut results = Vec::new();
        for r in m.all(18) {
            if role != 2 {
                return Err("tool results (field 18) belong on assistant messages".into());
            }
            let Wire::Len(b) = r else {
                return Err("tool results must be messages".into());
            };
            results.push(tool_result(&Msg::parse("ToolResult", b)?, issued.as_ref())?);
        }
        messages.push(json!({
            "role": role,
            "text": m.string(1)?.unwrap_or_default(),
            "id": id,
            "tool_results": results,
        }));
    }
    if !messages.iter().any(|m| m["role"] == 1) {
        return Err("the conversation has no user message".into());
    }
    let listed: Vec<(String, u64)> = req
        .all(30)
        .map(|w| {
            let Wire::Len(b) = w else {
                return Err("message ids (field 30) must be messages".to_owned());
            };
            let m = Msg::parse("MessageId", b)?;
            Ok((m.required_string(1, "id")?, m.varint(3)?.unwrap_or(0)))
        })
        .collect::<Result<_, _>>()?;
    let expected: Vec<(String, u64)> = messages
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["role"].as_u64().unwrap(),
            )
        })
        .collect();
    if listed != expected {
        return Err("message ids (field 30) must list every message's id and role in order".into());
    }

    Ok(json!({
        "model": model,
        "instruction": instruction,
        "conversation_id": conversation_id,
        "mode": mode,
        "mode_name": mode_name,
        "thinking_level": thinking_level,
        "messages": messages,
        "tools": tools,
    }))
}

fn tool_result(r: &Msg<'_>, issued: Option<&Issued<'_>>) -> Result<Value, String> {
    let call_id = r.required_string(1, "tool call id")?;
    let name = r.required_string(2, "tool name")?;
    let Some(selected) = name.strip_prefix("mcp_custom_") else {
        return Err(format!(
            "ToolResult: tool name {name:?} is not an mcp_custom_ name"
        ));
    };
    let index = r.varint(3)?.unwrap_or(0);
    if index < 1 {
        return Err("ToolResult: tool index (field 3) starts at 1".into());
    }
    let raw_args = r.string(5)?.unwrap_or_default();
    serde_json::from_str::<Value>(&raw_args)
        .map_err(|_| format!("ToolResult: raw args {raw_args:?} are not JSON"))?;
    let model_call_id = r.string(12)?;
    let result = r
        .message(8, "ClientSideToolV2Result")?
        .ok_or("ToolResult: result (field 8) is required")?;
    if result.varint(1)? != Some(19) {
        return Err("ClientSideToolV2Result: tool must be 19 (MCP)".into());
    }
    if result.string(35)?.as_deref() != Some(call_id.as_str()) {
        return Err("ClientSideToolV2Result: call id (field 35) differs from the result's".into());
    }
    // On a result, 48 is the model call id (string) and 49 the index (varint).
    check_index_and_model(&result, 49, 48, index, model_call_id.as_deref())?;
    let mcp = result
        .message(28, "McpResult")?
        .ok_or("ClientSideToolV2Result: MCP result (field 28) is required")?;
    if mcp.string(1)?.as_deref() != Some(selected) {
        return Err("McpResult: selected tool differs from the tool name".into());
    }
    let output = mcp.string(2)?.unwrap_or_default();
    let call = r
        .message(11, "ClientSideToolV2Call")?
        .ok_or("ToolResult: the call it answers (field 11) is required")?;
    if call.string(3)?.as_deref() != Some(call_id.as_str())
        || call.string(9)?.as_deref() != Some(name.as_str())
    {
        return Err("ClientSideToolV2Call: id or name differs from the result's".into());
    }
    // On a call it is the other way round: 48 the index, 49 the model call id.
    check_index_and_model(&call, 48, 49, index, model_call_id.as_deref())?;
    if let Some(Issued(map)) = issued
        && call_id.starts_with("call_fake_")
    {
        let map = map.lock().unwrap();
        let Some((model, issued_name)) = map.get(&call_id) else {
            return Err(format!("tool call {call_id} was never made"));
        };
        if model_call_id.as_deref() != Some(model.as_str()) {
            return Err(format!(
                "tool call {call_id}: model call id {model_call_id:?} is not {model:?}"
            ));
        }
        if issued_name != selected {
            return Err(format!(
                "tool call {call_id} was made to {issued_name}, not {selected}"
            ));
        }
    }
    Ok(json!({
        "call_id": call_id,
        "model_call_id": model_call_id,
        "name": name,
        "raw_args": raw_args,
        "result": output,
    }))
}

/// The optional index and model call id of a `ClientSideToolV2Call` or `...Result`, under
/// the numbers that message uses: of the right wire type, and agreeing with the `ToolResult`.
fn check_index_and_model(
    m: &Msg<'_>,
    index_field: u64,
    model_field: u64,
    index: u64,
    model_call_id: Option<&str>,
) -> Result<(), String> {
    if let Some(i) = m.varint(index_field)?
        && i != index
    {
        return Err(format!(
            "{}: index (field {index_field}) {i} is not the tool result's {index}",
            m.name
        ));
    }
    if let Some(model) = m.string(model_field)?
        && Some(model.as_str()) != model_call_id
    {
        return Err(format!(
            "{}: model call id (field {model_field}) {model:?} is not the tool result's",
            m.name
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Answers.

fn connect_code(status: u16) -> &'static str {
    match status {
        400 => "invalid_argument",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        429 => "resource_exhausted",
        503 => "unavailable",
        504 => "deadline_exceeded",
        _ => "internal",
    }
}

/// An HTTP-level Connect error (before any stream).
fn http_error(status: u16, message: &str) -> Response<FakeBody> {
    full(
        status,
        "application/json",
        json!({"code": connect_code(status), "message": message}).to_string(),
    )
}

/// A 200 whose stream is only the end-of-stream message with an error.
fn stream_error(error: Value) -> Response<FakeBody> {
    let frame = connect_frame(0x02, json!({ "error": error }).to_string().as_bytes());
    full(200, "application/connect+proto", frame)
}

fn text_frame(text: &str) -> Vec<u8> {
    ld(2, &ld(1, text.as_bytes()))
}

fn thinking_frame(text: &str) -> Vec<u8> {
    ld(2, &ld(25, &ld(1, text.as_bytes())))
}

/// Arguments for a declared tool: its required properties filled in.
fn tool_args(schema: &Value) -> String {
    let mut args = serde_json::Map::new();
    for key in schema["required"].as_array().into_iter().flatten() {
        let Some(key) = key.as_str() else { continue };
        let prop = &schema["properties"][key];
        let value = match prop["type"].as_str().unwrap_or("string") {
            "string" if matches!(key, "command" | "cmd") => json!(TOOL_COMMAND),
            "string" => json!(prop["enum"][0].as_str().unwrap_or("x")),
            "integer" | "number" => json!(1),
            "boolean" => json!(false),
            "array" => json!([]),
            "object" => json!({}),
            _ => Value::Null,
        };
        args.insert(key.to_owned(), value);
    }
    Value::Object(args).to_string()
}

/// One fragment of a call, numbered as Cursor numbers a call: 48 the 1-based index in its
/// turn (varint), 49 the model call id (string).
fn tool_frame(id: &str, model: &str, name: &str, fragment: &str, last: Option<&str>) -> Vec<u8> {
    let mut call = ld(3, id.as_bytes());
    call.extend(ld(9, format!("mcp_custom_{name}").as_bytes()));
    call.extend(ld(10, fragment.as_bytes()));
    call.extend(vi(48, 1));
    call.extend(ld(49, model.as_bytes()));
    if let Some(args) = last {
        call.extend(vi(11, 1));
        let mut tool = ld(1, name.as_bytes());
        tool.extend(ld(3, args.as_bytes()));
        tool.extend(ld(4, b"custom"));
        call.extend(ld(27, &ld(1, &tool)));
    }
    ld(1, &call)
}

async fn handle(
    state: Arc<FakeState>,
    issued: Arc<Mutex<HashMap<String, (String, String)>>>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    req: Request<Incoming>,
) -> Response<FakeBody> {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    bodies.lock().unwrap().push(bytes.clone());
    let checked = check_headers(&parts);
    let decoded = validate_with(&bytes, Some(Issued(&issued)));
    let mut recorded = decoded.clone().unwrap_or(Value::Null);
    if let (Ok((token, machine_id, _)), Some(obj)) = (&checked, recorded.as_object_mut()) {
        obj.insert("machine_id".into(), json!(machine_id));
        obj.insert("token".into(), json!(token));
    }
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: recorded,
    });

    if parts.uri.path() != PATH {
        return http_error(404, "not found");
    }
    if parts.method != http::Method::POST {
        return http_error(405, "method not allowed");
    }
    let token = match checked {
        Ok((token, ..)) => token,
        Err((code @ (400 | 415), m)) => return http_error(code, &m),
        Err((401, m)) => return stream_error(json!({"code": "unauthenticated", "message": m})),
        Err((_, m)) => return stream_error(json!({"code": "permission_denied", "message": m})),
    };
    if token.starts_with("revoked") || jwt_expired(&token) {
        return stream_error(
            json!({"code": "unauthenticated", "message": "Not logged in",
            "details": [{"type": "aiserver.v1.ErrorDetails", "debug": {"error": "ERROR_NOT_LOGGED_IN",
            "details": {"title": "Unauthorized request.", "detail": "Please sign in again."}}}]}),
        );
    }
    let body = match decoded {
        Ok(b) => b,
        Err(m) => return stream_error(json!({"code": "invalid_argument", "message": m})),
    };

    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == 1)
        .and_then(|m| m["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    let script = Script::new(last_user);
    if let Some(code) = script.status() {
        return http_error(code, &format!("scripted failure {code}"));
    }
    if script.has("exhausted") {
        return stream_error(json!({
            "code": "resource_exhausted",
            "message": "Error",
            "details": [{"type": "aiserver.v1.ErrorDetails", "value": "CAE=", "debug": {
                "error": "ERROR_RATE_LIMITED",
                "details": {"title": "Too many requests", "detail": "You have used up your fast requests."},
                "isExpected": true}}]
        }));
    }

    let last = messages.last().cloned().unwrap_or(Value::Null);
    let after_tool = last["role"] == 2
        && last["tool_results"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
    let tools: Vec<(String, Value)> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?.to_owned(), t["parameters"].clone())))
        .collect();

    let mut payloads: Vec<(Vec<u8>, bool)> = Vec::new();
    if script.has("think") || body["thinking_level"].as_u64().unwrap_or(0) > 0 {
        for piece in split_text(THINKING, 2) {
            payloads.push((thinking_frame(&piece), false));
        }
    }
    if after_tool {
        let output = last["tool_results"][0]["result"].as_str().unwrap_or("");
        payloads.push((text_frame(&format!("{AFTER_TOOL}{output}")), true));
    } else if let Some(wanted) = script.get("tool") {
        let tool = if wanted.is_empty() {
            tools.first().cloned()
        } else {
            tools.iter().find(|t| t.0 == wanted).cloned()
        };
        let Some((name, schema)) = tool else {
            return stream_error(json!({"code": "invalid_argument",
                "message": format!("no declared tool named {wanted:?}")}));
        };
        let n = state.next_id();
        let (id, model) = (format!("call_fake_{n}"), format!("model_{n}"));
        issued
            .lock()
            .unwrap()
            .insert(id.clone(), (model.clone(), name.clone()));
        let wire_id = format!("{id}\nmc_{model}");
        let args = tool_args(&schema);
        let pieces = split_text(&args, 3);
        for (i, piece) in pieces.iter().enumerate() {
            let last = (i + 1 == pieces.len()).then_some(args.as_str());
            payloads.push((tool_frame(&wire_id, &model, &name, piece, last), true));
        }
    } else {
        for piece in split_text(&reply_text(script.chunks()), script.chunks()) {
            payloads.push((text_frame(&piece), true));
        }
    }

    let mut frames: Vec<Frame> = payloads
        .into_iter()
        .enumerate()
        .map(|(i, (p, delta))| Frame {
            // Every other frame gzipped, as a server that compresses some messages does.
            bytes: if i % 2 == 1 {
                connect_frame(0x01, &gzip(&p))
            } else {
                connect_frame(0x00, &p)
            },
            delta,
        })
        .collect();
    frames.push(Frame {
        bytes: connect_frame(0x02, b"{}"),
        delta: false,
    });
    stream_frames(state, &script, frames, "application/connect+proto")
}

/// Whether `token` is a JWT whose `exp` claim lies in the past (opaque tokens never expire
/// here).
fn jwt_expired(token: &str) -> bool {
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Some(claims) = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return false;
    };
    let now = crate::wall_clock()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    claims["exp"].as_u64().is_some_and(|exp| exp <= now)
}

/// A Cursor-shaped session JWT (unsigned: the fake never checks signatures) for `sub`,
/// expiring `ttl` seconds from now (negative: already expired).
pub fn session_jwt(sub: &str, ttl: i64, n: usize) -> String {
    let now = crate::wall_clock()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.fake-signature-{n}",
        part(json!({"alg": "HS256", "typ": "JWT"})),
        part(
            json!({"sub": sub, "time": now.to_string(), "exp": now + ttl,
            "iss": "https://authentication.cursor.sh", "scope": "openid profile email offline_access",
            "aud": "https://cursor.com", "type": "session"})
        )
    )
}

// ---------------------------------------------------------------------------------------
// The token renewal service.

/// The OAuth client id of the Cursor desktop app, which renewals must name.
pub const CURSOR_CLIENT_ID: &str = "KbZUR41cY7W6zRSdpSUJ7I7mLYBKOCmB";
pub const SUBJECT: &str = "auth0|user_01FAKECURSORUSER";

#[derive(Default)]
pub struct CursorAuthState {
    valid: Mutex<std::collections::HashSet<String>>,
    pub requests: Mutex<Vec<Recorded>>,
    pub refreshes: std::sync::atomic::AtomicUsize,
    issued: Mutex<Vec<String>>,
    /// Lifetime of issued access tokens in seconds; 0 means an hour.
    pub ttl: std::sync::atomic::AtomicU64,
}

impl CursorAuthState {
    /// Every token the fake has handed out.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

#[derive(Clone)]
pub struct FakeCursorAuth {
    pub addr: SocketAddr,
    pub state: Arc<CursorAuthState>,
}

impl FakeCursorAuth {
    pub async fn start() -> FakeCursorAuth {
        let state = Arc::new(CursorAuthState::default());
        let s = state.clone();
        let addr = serve(move |req| auth_handle(s.clone(), req)).await;
        FakeCursorAuth { addr, state }
    }

    /// Makes `token` a refresh token the fake accepts (once).
    pub fn grant(&self, token: &str) {
        self.state.valid.lock().unwrap().insert(token.to_owned());
    }

    /// The `refresh_url` to configure (the real one is `https://api2.cursor.sh/oauth/token`).
    pub fn refresh_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }
}

async fn auth_handle(state: Arc<CursorAuthState>, req: Request<Incoming>) -> Response<FakeBody> {
    let (parts, parsed) = receive(&state.requests, req).await;
    let parsed = parsed.unwrap_or(Value::Null);
    let error = |status: u16, code: &str, text: &str| {
        full(
            status,
            "application/json",
            json!({"error": code, "error_description": text}).to_string(),
        )
    };
    if parts.uri.path() != "/oauth/token" {
        return error(404, "not_found", "not found");
    }
    if parts.method != http::Method::POST {
        return error(405, "invalid_request", "method not allowed");
    }
    if !header(&parts, "content-type").is_some_and(|v| v.starts_with("application/json")) {
        return error(
            400,
            "invalid_request",
            "content-type must be application/json",
        );
    }
    if parsed["grant_type"] != "refresh_token" {
        return error(
            400,
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    if parsed["client_id"] != CURSOR_CLIENT_ID {
        return error(401, "invalid_client", "unknown client_id");
    }
    let token = parsed["refresh_token"].as_str().unwrap_or("");
    if !state.valid.lock().unwrap().remove(token) {
        return error(400, "invalid_grant", "Invalid refresh token");
    }
    let n = state
        .refreshes
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    let ttl = match state.ttl.load(std::sync::atomic::Ordering::SeqCst) {
        0 => 3600,
        t => t as i64,
    };
    let access = session_jwt(SUBJECT, ttl, n);
    state.valid.lock().unwrap().insert(access.clone());
    let id_token = session_jwt(SUBJECT, 3600, 1000 + n);
    state
        .issued
        .lock()
        .unwrap()
        .extend([access.clone(), id_token.clone()]);
    full(
        200,
        "application/json",
        json!({"access_token": access, "id_token": id_token, "shouldLogout": false}).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_jwts_expire_as_told() {
        assert!(!jwt_expired(&session_jwt(SUBJECT, 600, 1)));
        assert!(jwt_expired(&session_jwt(SUBJECT, -60, 1)));
        assert!(!jwt_expired("opaque-token"));
        assert!(!jwt_expired("a.!!.c"));
    }

    #[test]
    fn checksum_cipher_inverts_the_worked_example() {
        // What public clients of the real service send at 1_700_000_000_000 ms and at
        // 1_762_988_000_000 ms.
        assert_eq!(
            read_checksum("Vfb45Bi9machine").unwrap(),
            (1_700_000, "machine".to_owned())
        );
        assert_eq!(read_checksum("Q_Dy6xHCm").unwrap().0, 1_762_988);
        // The same windows packed as plain 48-bit big-endian integers are refused.
        assert!(read_checksum("paaotEjtmachine").is_err());
        assert!(read_checksum("paaotVcAm").is_err());
        assert!(read_checksum("short").is_err());
        assert!(read_checksum("Vfb45Bi9").is_err());
    }

    #[test]
    fn hand_parser_rejects_malformed_messages() {
        assert!(fields(&[0x0a, 0x05, 1]).is_err());
        assert!(fields(&[0x0b]).is_err());
        assert!(fields(&[0x00, 0x01]).is_err());
        assert!(fields(&[0x08, 0xff]).is_err());
        assert_eq!(fields(&[0x08, 0x96, 0x01]).unwrap().len(), 1);
    }

    #[test]
    fn validate_rejects_non_frames() {
        assert!(validate(b"").is_err());
        assert!(validate(&[1, 0, 0, 0, 0]).is_err());
        assert!(validate(&[0, 0, 0, 0, 9]).is_err());
        assert!(validate(&[0, 0, 0, 0, 0]).is_err());
    }
}
