//! OpenAI's audio and image-edit endpoints, written from the public API reference and strict
//! where the real API is: `/v1/audio/speech` (JSON in, audio bytes out, sent in several
//! frames so a proxy that buffers is not needed to pass), and the multipart uploads
//! `/v1/audio/transcriptions`, `/v1/audio/translations` and `/v1/images/edits`, whose
//! bodies are parsed here on their own (boundary, parts, required fields, unknown ones
//! refused as "Unrecognized request argument supplied").
//!
//! The speech audio says what it spoke: [`speech_audio`] repeats `FAKEAUDIO:{format}:{input}`
//! so a test can check the bytes that reached it. A transcript says what was heard: the
//! upload's file name and size, and (verbose_json) the duration read from its WAV header.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, channel::Channel};
use serde_json::{Value, json};

use crate::fake_openai::endpoints::PNG_B64;
use crate::server::{FakeBody, full};

/// The paths served here.
pub const PATHS: [&str; 4] = [
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/v1/audio/translations",
    "/v1/images/edits",
];

/// Whether `path` takes a multipart body.
pub fn is_multipart(path: &str) -> bool {
    PATHS.contains(&path) && path != "/v1/audio/speech"
}

/// How many times the speech audio repeats its line.
pub const SPEECH_REPEAT: usize = 2048;

/// Frames the speech audio is sent in.
const SPEECH_FRAMES: usize = 8;

/// The audio bytes the fake "speaks" for `input` in `format`.
pub fn speech_audio(format: &str, input: &str) -> Vec<u8> {
    format!("FAKEAUDIO:{format}:{input}\n")
        .repeat(SPEECH_REPEAT)
        .into_bytes()
}

/// How the speech audio goes out.
pub enum SpeechMode {
    /// Every frame, a few milliseconds apart.
    Whole,
    /// The first frame, then nothing until the fake is released, then the rest: a proxy
    /// that buffered would hold the first frame back, and a client waiting for it would
    /// wait for ever.
    HoldAfterFirst(std::sync::Arc<crate::fake_openai::State>),
    /// The first frame, then the body breaks off (the connection is cut mid-answer).
    BreakAfterFirst,
}

/// Answers `/v1/audio/speech`; `Err` is a 400 with this message.
pub fn speech(body: &Value, mode: SpeechMode) -> Result<Response<FakeBody>, String> {
    let obj = body
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    const ALLOWED: [&str; 7] = [
        "model",
        "input",
        "voice",
        "instructions",
        "response_format",
        "speed",
        "stream_format",
    ];
    if let Some(k) = obj.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(format!("Unrecognized request argument supplied: {k}"));
    }
    obj.get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or("you must provide a model parameter")?;
    let input = obj
        .get("input")
        .and_then(Value::as_str)
        .ok_or("Missing required parameter: 'input'.")?;
    if input.is_empty() || input.chars().count() > 4096 {
        return Err("Invalid 'input': string must be 1 to 4096 characters long.".into());
    }
    match obj.get("voice") {
        Some(Value::String(v)) if !v.is_empty() => {}
        Some(Value::Object(v)) if v.get("id").is_some_and(Value::is_string) => {}
        Some(_) => return Err("Invalid value for 'voice'.".into()),
        None => return Err("Missing required parameter: 'voice'.".into()),
    }
    let format = match obj.get("response_format") {
        None => "mp3",
        Some(Value::String(f))
            if ["mp3", "opus", "aac", "flac", "wav", "pcm"].contains(&f.as_str()) =>
        {
            f.as_str()
        }
        Some(f) => {
            return Err(format!(
                "Invalid value: {f}. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'."
            ));
        }
    };
    if let Some(s) = obj.get("speed")
        && !s.as_f64().is_some_and(|s| (0.25..=4.0).contains(&s))
    {
        return Err("Invalid 'speed': must be between 0.25 and 4.0.".into());
    }
    if let Some(f) = obj.get("stream_format")
        && f != "audio"
        && f != "sse"
    {
        return Err("Invalid value for 'stream_format'.".into());
    }
    let content_type = match format {
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        other => match other {
            "opus" => "audio/opus",
            "aac" => "audio/aac",
            _ => "audio/flac",
        },
    };
    let audio = Bytes::from(speech_audio(format, input));
    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(2);
    tokio::spawn(async move {
        let step = audio.len().div_ceil(SPEECH_FRAMES);
        for (i, chunk) in audio.chunks(step).enumerate() {
            if tx.send_data(Bytes::copy_from_slice(chunk)).await.is_err() {
                return;
            }
            if i == 0 {
                match &mode {
                    SpeechMode::Whole => {}
                    SpeechMode::HoldAfterFirst(state) => state.release.notified().await,
                    SpeechMode::BreakAfterFirst => {
                        tx.abort(std::io::Error::other(
                            "scripted break after the first frame",
                        ));
                        return;
                    }
                }
            }
            // Frames apart in time, as a real encoder sends them.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(body.boxed_unsync())
        .map_err(|e| e.to_string())
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// Parses a whole `multipart/form-data` body strictly: the boundary from the content type,
/// CRLF after each delimiter, a `form-data` disposition with a name on every part, and the
/// closing delimiter.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| {
            rest.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or("Invalid content type: expected multipart/form-data with a boundary")?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, &delimiter, 0).ok_or("multipart body has no boundary")?;
    pos += delimiter.len();
    loop {
        let rest = body.get(pos..).unwrap_or_default();
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err("malformed multipart body: no CRLF after a boundary".into());
        }
        pos += 2;
        let headers_end =
            find(body, b"\r\n\r\n", pos).ok_or("malformed multipart body: headers never end")?;
        let headers = String::from_utf8_lossy(&body[pos..headers_end]).into_owned();
        let start = headers_end + 4;
        let mut close = b"\r\n".to_vec();
        close.extend_from_slice(&delimiter);
        let end = find(body, &close, start).ok_or("malformed multipart body: a part never ends")?;
        let disposition = headers
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-disposition")
                    .then(|| v.trim().to_owned())
            })
            .ok_or("malformed multipart body: a part has no Content-Disposition")?;
        let param = |key: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_owned())
            })
        };
        if !disposition.starts_with("form-data") {
            return Err("malformed multipart body: a part is not form-data".into());
        }
        parts.push(Part {
            name: param("name").ok_or("malformed multipart body: a part has no name")?,
            filename: param("filename"),
            data: body[start..end].to_vec(),
        });
        pos = end + close.len();
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The fields of a multipart request as JSON, for the recorded requests: text fields as
/// strings, files as `{filename, bytes}`.
pub fn recorded(parts: &[Part]) -> Value {
    let mut map = serde_json::Map::new();
    for p in parts {
        let v = match &p.filename {
            Some(f) => json!({"filename": f, "bytes": p.data.len()}),
            None => Value::String(String::from_utf8_lossy(&p.data).into_owned()),
        };
        map.insert(p.name.clone(), v);
    }
    Value::Object(map)
}

/// Answers a multipart endpoint of [`PATHS`]; `Err` is a 400 with this message.
pub fn multipart(path: &str, parts: &[Part]) -> Result<Response<FakeBody>, String> {
    let allowed: &[&str] = match path {
        "/v1/audio/transcriptions" => &[
            "file",
            "model",
            "language",
            "prompt",
            "response_format",
            "temperature",
            "timestamp_granularities[]",
            "include[]",
            "chunking_strategy",
            "stream",
        ],
        "/v1/audio/translations" => &["file", "model", "prompt", "response_format", "temperature"],
        _ => &[
            "image",
            "image[]",
            "mask",
            "prompt",
            "model",
            "n",
            "size",
            "quality",
            "response_format",
            "user",
            "background",
            "input_fidelity",
            "output_format",
            "output_compression",
        ],
    };
    if let Some(p) = parts.iter().find(|p| !allowed.contains(&p.name.as_str())) {
        return Err(format!(
            "Unrecognized request argument supplied: {}",
            p.name
        ));
    }
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    if path == "/v1/images/edits" {
        let images: Vec<&Part> = parts
            .iter()
            .filter(|p| p.name == "image" || p.name == "image[]")
            .collect();
        if images.is_empty()
            || images
                .iter()
                .any(|p| p.filename.is_none() || p.data.is_empty())
        {
            return Err("Missing required parameter: 'image'.".into());
        }
        let prompt = text("prompt").filter(|p| !p.is_empty());
        prompt.ok_or("Missing required parameter: 'prompt'.")?;
        let n = match text("n") {
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10).contains(n))
                .ok_or("Invalid 'n': must be an integer from 1 to 10.")?,
            None => 1,
        };
        let data: Vec<Value> = (0..n).map(|_| json!({"b64_json": PNG_B64})).collect();
        let body = json!({
            "created": 1_700_000_000,
            "data": data,
            "usage": {"input_tokens": 50, "output_tokens": 100, "total_tokens": 150},
        });
        return Ok(full(200, "application/json", body.to_string()));
    }
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .filter(|p| p.filename.is_some())
        .ok_or("Missing required parameter: 'file'.")?;
    text("model")
        .filter(|m| !m.is_empty())
        .ok_or("Missing required parameter: 'model'.")?;
    let format = text("response_format").unwrap_or_else(|| "json".into());
    let heard = format!(
        "heard {} bytes of {}",
        file.data.len(),
        file.filename.as_deref().unwrap_or_default()
    );
    let duration = wav_duration(&file.data);
    match format.as_str() {
        "json" => Ok(full(
            200,
            "application/json",
            json!({"text": heard}).to_string(),
        )),
        "verbose_json" => {
            let duration = duration.ok_or("Audio file could not be decoded.")?;
            let body = json!({
                "task": if path.ends_with("translations") { "translate" } else { "transcribe" },
                "language": "english",
                "duration": duration,
                "text": heard,
                "segments": [{"id": 0, "start": 0.0, "end": duration, "text": heard}],
            });
            Ok(full(200, "application/json", body.to_string()))
        }
        "text" => Ok(full(200, "text/plain; charset=utf-8", format!("{heard}\n"))),
        "srt" => Ok(full(
            200,
            "text/plain; charset=utf-8",
            format!("1\n00:00:00,000 --> 00:00:01,000\n{heard}\n\n"),
        )),
        "vtt" => Ok(full(
            200,
            "text/vtt; charset=utf-8",
            format!("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{heard}\n\n"),
        )),
        other => Err(format!(
            "Invalid value: '{other}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'."
        )),
    }
}

/// The duration of a PCM WAV file: its `data` size over the `fmt ` byte rate.
fn wav_duration(bytes: &[u8]) -> Option<f64> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let le32 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 12;
    let mut rate = None;
    while at + 8 <= bytes.len() {
        let size = le32(at + 4)? as usize;
        match bytes.get(at..at + 4)? {
            b"fmt " => rate = le32(at + 16),
            b"data" => return Some(size as f64 / f64::from(rate.filter(|r| *r > 0)?)),
            _ => {}
        }
        at += 8 + size + size % 2;
    }
    None
}
