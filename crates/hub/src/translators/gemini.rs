//! Translators between the hub and the `gemini` format (Google `generateContent` /
//! `streamGenerateContent?alt=sse`, v1beta).
//!
//! The model is not part of a Gemini body (it is in the URL): hub -> Gemini drops it and
//! Gemini -> hub takes it from `TranslateCtx::model`.
//!
//! Rules chosen here (hub-contract extensions and lossy spots):
//!
//! * **Thought signatures.** A `functionCall` part's `thoughtSignature` goes on its hub tool
//!   call as `extra_content.google.thought_signature` (the shape Google's own OpenAI
//!   compatibility layer uses). The message (or stream delta) also carries one signature as
//!   `reasoning_signature`: the first function call's, else the last thought part's, else the
//!   first text part's. Replaying an assistant message puts each tool call's own signature
//!   back on its `functionCall`; a `reasoning_signature` that is not already on a call goes on
//!   the first call that has none, else on the thought part, else on the first text part. So
//!   a client that keeps only `reasoning_signature` (Claude's `thinking.signature`) still
//!   replays the signature Gemini 3 demands on function calls. For Gemini 3+ models a model
//!   turn whose calls carry no signature at all gets Google's documented
//!   `skip_thought_signature_validator` sentinel on its first call.
//! * **Tool names.** Gemini accepts `[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}`. Other names are
//!   rewritten (bad characters become `_`, a leading `_` is added when needed; a name that is
//!   then too long or taken is cut and given an 8-hex-digit hash suffix) and each rename is
//!   recorded in `ctx.tool_names`, so responses restore the exact original.
//! * **Tool call ids.** Gemini calls usually have no id: hub ids are synthesized as
//!   `call_<hash>_<n>`, unique per response. Requests sent upstream carry no ids; tool results
//!   are matched to calls by the hub `tool_call_id` and sent back with the function's name.
//! * **Schemas.** See [`schema`]: a JSON Schema goes out as Gemini's OpenAPI-subset
//!   `parameters` / `responseSchema` when it converts without losing structure, otherwise
//!   verbatim (minus `$schema`) as `parametersJsonSchema` / `responseJsonSchema`.
//! * **Files.** Non-image `fileData` becomes the hub part
//!   `{"type":"file","file":{"file_url":<uri>,"mime_type":<mime>}}` (extension); `file_url` and
//!   `file_id` both go back out as `fileData.fileUri`.
//! * Dropped: Gemini built-in tools (`googleSearch`, `codeExecution`, ...), `safetySettings`,
//!   `cachedContent`, `executableCode`/`codeExecutionResult` parts, hub `redacted_reasoning`,
//!   `cache_control`, `parallel_tool_calls`.

mod request;
mod response;
mod schema;
mod stream;
#[cfg(test)]
mod tests;
pub mod wire;

pub use request::{gemini_request_to_hub, hub_request_to_gemini};
pub use response::{gemini_response_to_hub, hub_response_to_gemini};
pub use stream::{gemini_stream_to_hub, hub_stream_to_gemini};

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use serde_json::{Map, Value, json};

use crate::provenance;

/// Marks a signature from another provider carried through Gemini's `thoughtSignature`.
const FOREIGN_SIGNATURE: &[u8] = b"switchyard-sig:";

/// A hub reasoning signature as Gemini's `thoughtSignature`, which must be base64 bytes:
/// Gemini's own signatures already are; another provider's (Anthropic's, a Responses
/// `id|encrypted` pair) is wrapped so that it survives and can be unwrapped on replay.
fn signature_to_gemini(sig: &str) -> String {
    if sig == SKIP_SIGNATURE || is_base64(sig) {
        return sig.to_owned();
    }
    // A signature tagged with its family (see `provenance`) already starts with the marker.
    if provenance::is_tagged(sig) {
        return BASE64.encode(sig.as_bytes());
    }
    let mut raw = FOREIGN_SIGNATURE.to_vec();
    raw.extend_from_slice(sig.as_bytes());
    BASE64.encode(raw)
}

/// The inverse of [`signature_to_gemini`].
fn signature_from_gemini(sig: &str) -> String {
    BASE64
        .decode(sig)
        .ok()
        .filter(|raw| raw.starts_with(FOREIGN_SIGNATURE))
        .and_then(|raw| String::from_utf8(raw).ok())
        // A family-tagged signature stays tagged; an older wrapping loses its marker.
        .map(|s| {
            if provenance::is_tagged(&s) && s[provenance::TAG.len()..].contains(':') {
                s
            } else {
                s[FOREIGN_SIGNATURE.len()..].to_owned()
            }
        })
        .unwrap_or_else(|| sig.to_owned())
}

/// Standard alphabet with padding, as Gemini's signatures come; trailing bits are not
/// judged, as Google's own decoder does not judge them.
fn is_base64(s: &str) -> bool {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    !s.is_empty() && s.len().is_multiple_of(4) && LENIENT.decode(s).is_ok()
}

/// Google's documented placeholder for a function call whose real signature is unknown.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Reads `key` (camelCase, as the REST API documents it) or its snake_case spelling, which
/// the SDKs send in places (`parameters_json_schema`, `system_instruction`, ...).
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(key) {
        return Some(found);
    }
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        return obj.get(&snake_case(key));
    }
    None
}

fn field_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    field(v, key).and_then(Value::as_str)
}

fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// FNV-1a, 64 bits: a stable short hash for name suffixes and id seeds.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash8(s: &str) -> String {
    format!("{:08x}", fnv1a(s) & 0xffff_ffff)
}

/// A seed for synthesized ids: the upstream response id when there is one (stable), else
/// the clock plus a process-wide counter (unique).
fn id_seed(response_id: Option<&str>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    match response_id {
        Some(id) if !id.is_empty() => hash8(id),
        _ => {
            let nanos = crate::clock::now_nanos();
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            hash8(&format!("{nanos}-{n}"))
        }
    }
}

fn call_id(seed: &str, n: usize) -> String {
    format!("call_{seed}_{n}")
}

/// Whether the model takes `thinkingLevel` (Gemini 3 and later) rather than `thinkingBudget`
/// and enforces thought signatures on function calls.
fn is_gemini3_plus(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    let Some(rest) = m.strip_prefix("gemini-") else {
        return false;
    };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|v| v >= 3)
}

// ---------------------------------------------------------------------------------------
// Function names

fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    name.len() <= 64
        && (first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// A Gemini-acceptable name for `name` not in `taken`.
fn sanitize_name(name: &str, taken: &HashSet<String>) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    if s.len() <= 64 && !taken.contains(&s) {
        return s;
    }
    // Cut to leave room for "_" + 8 hex digits; every char is ASCII here.
    let mut salt = 0u32;
    loop {
        let base: String = s.chars().take(55).collect();
        let seed = if salt == 0 {
            name.to_owned()
        } else {
            format!("{name}#{salt}")
        };
        let candidate = format!("{base}_{}", hash8(&seed));
        if !taken.contains(&candidate) || salt > 1000 {
            return candidate;
        }
        salt += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Finish reasons and usage

fn finish_to_hub(reason: &str, has_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

fn finish_to_gemini(reason: &str) -> &'static str {
    match reason {
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "STOP",
    }
}

fn count(v: &Value, key: &str) -> u64 {
    field(v, key).and_then(Value::as_u64).unwrap_or(0)
}

/// Gemini `usageMetadata` -> hub `usage`.
pub(crate) fn usage_to_hub(meta: &Value) -> Option<Value> {
    meta.as_object()?;
    let prompt = count(meta, "promptTokenCount") + count(meta, "toolUsePromptTokenCount");
    let thoughts = count(meta, "thoughtsTokenCount");
    let completion = count(meta, "candidatesTokenCount") + thoughts;
    let total = field(meta, "totalTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(prompt + completion);
    Some(json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": count(meta, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }))
}

/// Hub `usage` -> Gemini `usageMetadata`.
fn usage_to_gemini(usage: &Value) -> Option<Value> {
    let obj = usage.as_object()?;
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let prompt = n(obj.get("prompt_tokens"));
    let completion = n(obj.get("completion_tokens"));
    let reasoning = n(usage.pointer("/completion_tokens_details/reasoning_tokens"));
    let cached = n(usage.pointer("/prompt_tokens_details/cached_tokens"));
    let total = obj
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(prompt + completion);
    let mut meta = Map::new();
    meta.insert("promptTokenCount".into(), prompt.into());
    meta.insert(
        "candidatesTokenCount".into(),
        completion.saturating_sub(reasoning).into(),
    );
    meta.insert("totalTokenCount".into(), total.into());
    if reasoning > 0 {
        meta.insert("thoughtsTokenCount".into(), reasoning.into());
    }
    if cached > 0 {
        meta.insert("cachedContentTokenCount".into(), cached.into());
    }
    Some(Value::Object(meta))
}

// ---------------------------------------------------------------------------------------
// Shared part conversions

/// The signature a hub tool call carries for Gemini, if any.
fn tool_call_signature(call: &Value) -> Option<&str> {
    call.pointer("/extra_content/google/thought_signature")
        .and_then(Value::as_str)
        .or_else(|| call.get("thought_signature").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

fn signature_extra(sig: &str) -> Value {
    json!({"google": {"thought_signature": sig}})
}

/// Hub tool-call `arguments` (a JSON string) -> a Gemini `args` object. Arguments that are
/// not a JSON object (truncated output, say) become `{}`: `args` must be an object.
fn args_object(arguments: Option<&Value>) -> Value {
    match arguments {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

/// Text of hub message content: a string, or the `text`/`refusal` parts of an array.
fn content_texts(content: Option<&Value>) -> Vec<String> {
    match content {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| {
                p.get("text")
                    .or_else(|| p.get("refusal"))
                    .and_then(Value::as_str)
            })
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Options for turning a hub assistant message into Gemini model parts.
struct ModelPartsOpts<'a> {
    /// Client name -> name sent to Gemini.
    rename: &'a dyn Fn(&str) -> String,
    /// Put hub tool call ids on `functionCall.id` (client responses only).
    with_ids: bool,
    /// Add the skip sentinel when no call has a signature (Gemini 3+ upstream).
    sentinel: bool,
    /// Each signature as it may go out (see `provenance`); `None` leaves it out.
    sig: &'a dyn Fn(&str) -> Option<String>,
}

/// A non-empty string field.
fn non_empty<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A hub assistant message (or response message) -> Gemini model `parts`.
fn model_parts(msg: &Value, opts: &ModelPartsOpts<'_>) -> Vec<Value> {
    let mut parts: Vec<Value> = Vec::new();
    let reasoning = msg
        .get("reasoning_content")
        .or_else(|| msg.get("reasoning"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let signature = non_empty(msg, "reasoning_signature").and_then(opts.sig);
    let signature = signature.as_deref();
    let thought_at = reasoning.map(|text| {
        parts.push(json!({"text": text, "thought": true}));
        parts.len() - 1
    });
    let first_text_at = parts.len();
    let texts = content_texts(msg.get("content"));
    let has_text = !texts.is_empty();
    parts.extend(texts.into_iter().map(|t| json!({"text": t})));

    let mut call_sigs: Vec<String> = Vec::new();
    let first_call_at = parts.len();
    let mut calls = Vec::new();
    if let Some(Value::Array(tool_calls)) = msg.get("tool_calls") {
        calls.extend(tool_calls.iter());
    }
    // Legacy single `function_call`.
    let legacy;
    if calls.is_empty()
        && let Some(fc) = msg.get("function_call")
    {
        legacy = json!({"type": "function", "function": fc});
        calls.push(&legacy);
    }
    for call in calls {
        if call
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function")
            != "function"
        {
            continue;
        }
        let Some(function) = call.get("function") else {
            continue;
        };
        let name = function.get("name").and_then(Value::as_str).unwrap_or("");
        let mut fc = Map::new();
        fc.insert("name".into(), (opts.rename)(name).into());
        fc.insert("args".into(), args_object(function.get("arguments")));
        if opts.with_ids
            && let Some(id) = call.get("id").and_then(Value::as_str)
        {
            fc.insert("id".into(), id.into());
        }
        let mut part = Map::new();
        part.insert("functionCall".into(), Value::Object(fc));
        if let Some(sig) = tool_call_signature(call).and_then(opts.sig) {
            part.insert("thoughtSignature".into(), signature_to_gemini(&sig).into());
            call_sigs.push(sig);
        }
        parts.push(Value::Object(part));
    }
    let has_calls = parts.len() > first_call_at;

    if let Some(sig) = signature.filter(|s| !call_sigs.iter().any(|c| c == s)) {
        let first_call_unsigned = has_calls
            && parts
                .get(first_call_at)
                .is_some_and(|p| p.get("thoughtSignature").is_none());
        let target = if first_call_unsigned {
            Some(first_call_at)
        } else if thought_at.is_some() {
            thought_at
        } else if has_text {
            Some(first_text_at)
        } else {
            None
        };
        match target
            .and_then(|i| parts.get_mut(i))
            .and_then(Value::as_object_mut)
        {
            Some(part) => {
                part.insert("thoughtSignature".into(), signature_to_gemini(sig).into());
            }
            None => parts.push(
                json!({"text": "", "thought": true, "thoughtSignature": signature_to_gemini(sig)}),
            ),
        }
    }
    if opts.sentinel && has_calls {
        let any_signed = parts
            .iter()
            .skip(first_call_at)
            .any(|p| p.get("thoughtSignature").is_some());
        if !any_signed
            && let Some(part) = parts.get_mut(first_call_at).and_then(Value::as_object_mut)
        {
            part.insert("thoughtSignature".into(), SKIP_SIGNATURE.into());
        }
    }
    parts
}

/// What a Gemini model turn holds, in hub terms.
#[derive(Default)]
struct ModelTurn {
    text: String,
    reasoning: String,
    signature: Option<String>,
    /// Hub tool calls, complete.
    tool_calls: Vec<Value>,
}

/// Gemini model `parts` -> hub assistant pieces. `ids` yields the hub id for the n-th call
/// without an id of its own; `restore` maps Gemini names back to client names.
fn read_model_parts(
    parts: &[Value],
    ids: &mut dyn FnMut(usize) -> String,
    restore: &dyn Fn(&str) -> String,
) -> ModelTurn {
    let mut turn = ModelTurn::default();
    let mut thought_sig: Option<String> = None;
    let mut text_sig: Option<String> = None;
    let mut call_sig: Option<String> = None;
    for part in parts {
        let sig = field_str(part, "thoughtSignature")
            .filter(|s| !s.is_empty())
            .map(signature_from_gemini);
        if let Some(fc) = field(part, "functionCall") {
            let name = fc.get("name").and_then(Value::as_str).unwrap_or("");
            let id = match fc.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => ids(turn.tool_calls.len()),
            };
            let args = match fc.get("args") {
                Some(a @ Value::Object(_)) => a.to_string(),
                _ => "{}".to_owned(),
            };
            let mut call = json!({
                "id": id,
                "type": "function",
                "function": {"name": restore(name), "arguments": args},
            });
            if let (Some(sig), Some(obj)) = (&sig, call.as_object_mut()) {
                obj.insert("extra_content".into(), signature_extra(sig));
                if call_sig.is_none() {
                    call_sig = Some(sig.clone());
                }
            }
            turn.tool_calls.push(call);
            continue;
        }
        let text = part.get("text").and_then(Value::as_str);
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            turn.reasoning.push_str(text.unwrap_or(""));
            if sig.is_some() {
                thought_sig = sig;
            }
        } else if let Some(text) = text {
            turn.text.push_str(text);
            if text_sig.is_none() {
                text_sig = sig;
            }
        }
    }
    turn.signature = call_sig.or(thought_sig).or(text_sig);
    turn
}

/// A `data:` URL -> (mime type, base64 data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    let mime = if mime.is_empty() {
        "application/octet-stream"
    } else {
        mime
    };
    Some((mime, data))
}

/// A MIME type guessed from a URL's extension, for `fileData`.
fn mime_from_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// A hub user content part -> a Gemini part.
fn hub_part_to_gemini(part: &Value) -> Option<Value> {
    match part.get("type").and_then(Value::as_str) {
        Some("text") | None => part
            .get("text")
            .and_then(Value::as_str)
            .map(|t| json!({"text": t})),
        Some("image_url") => {
            let url = part
                .pointer("/image_url/url")
                .or_else(|| part.get("image_url"))
                .and_then(Value::as_str)?;
            Some(url_part(url, None))
        }
        Some("input_audio") => {
            let audio = part.get("input_audio")?;
            let data = audio.get("data").and_then(Value::as_str)?;
            let format = audio.get("format").and_then(Value::as_str).unwrap_or("wav");
            Some(json!({"inlineData": {"mimeType": format!("audio/{format}"), "data": data}}))
        }
        Some("file") => {
            let file = part.get("file")?;
            if let Some(data) = file.get("file_data").and_then(Value::as_str) {
                let mime = file.get("mime_type").and_then(Value::as_str);
                return Some(match parse_data_url(data) {
                    Some((m, d)) => json!({"inlineData": {"mimeType": m, "data": d}}),
                    None => json!({"inlineData": {
                        "mimeType": mime.unwrap_or("application/pdf"),
                        "data": data,
                    }}),
                });
            }
            let uri = file
                .get("file_url")
                .or_else(|| file.get("file_id"))
                .and_then(Value::as_str)?;
            Some(url_part(uri, file.get("mime_type").and_then(Value::as_str)))
        }
        _ => None,
    }
}

fn url_part(url: &str, mime: Option<&str>) -> Value {
    if let Some((m, d)) = parse_data_url(url) {
        return json!({"inlineData": {"mimeType": m, "data": d}});
    }
    let mut fd = Map::new();
    if let Some(m) = mime.or_else(|| mime_from_url(url)) {
        fd.insert("mimeType".into(), m.into());
    }
    fd.insert("fileUri".into(), url.into());
    json!({"fileData": fd})
}

/// A Gemini user part (not text, not a function response) -> a hub content part.
fn gemini_media_to_hub(part: &Value) -> Option<Value> {
    if let Some(inline) = field(part, "inlineData") {
        let mime = field_str(inline, "mimeType").unwrap_or("application/octet-stream");
        let data = inline.get("data").and_then(Value::as_str)?;
        let url = format!("data:{mime};base64,{data}");
        return Some(match mime {
            m if m.starts_with("image/") => {
                json!({"type": "image_url", "image_url": {"url": url}})
            }
            "audio/wav" | "audio/x-wav" | "audio/wave" => {
                json!({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
            }
            "audio/mp3" | "audio/mpeg" => {
                json!({"type": "input_audio", "input_audio": {"data": data, "format": "mp3"}})
            }
            _ => json!({"type": "file", "file": {"file_data": url}}),
        });
    }
    if let Some(file) = field(part, "fileData") {
        let uri = field_str(file, "fileUri")?;
        let mime = field_str(file, "mimeType").or_else(|| mime_from_url(uri));
        return Some(match mime {
            Some(m) if !m.starts_with("image/") => {
                json!({"type": "file", "file": {"file_url": uri, "mime_type": m}})
            }
            _ => json!({"type": "image_url", "image_url": {"url": uri}}),
        });
    }
    None
}
