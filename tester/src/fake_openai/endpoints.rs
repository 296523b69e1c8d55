//! OpenAI's endpoints beside chat, written from the public API reference with raw JSON and
//! strict where the real API is: `/v1/embeddings`, the legacy `/v1/completions` and
//! `/v1/images/generations`. Unknown body fields are refused as the real API refuses them
//! ("Unrecognized request argument supplied").
//!
//! Embeddings are [`vector`]s that say what they embedded: the first value is the text's
//! length in characters (or the number of token ids), so a test can tell the items apart
//! and check their order. A completions prompt holding `#status=CODE` fails with that code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Response;
use serde_json::{Value, json};

use crate::fake_openai::{COMPLETION_TOKENS, PROMPT_TOKENS, REPLY};
use crate::server::{FakeBody, full};

/// The paths served here.
pub const PATHS: [&str; 3] = [
    "/v1/embeddings",
    "/v1/completions",
    "/v1/images/generations",
];

/// Dimensions of an embedding when the request names none.
pub const DEFAULT_DIMENSIONS: usize = 8;

/// A 1x1 PNG: what every generated image is.
pub const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The embedding the fakes give an input of `size` characters (or token ids).
pub fn vector(size: usize, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|i| if i == 0 { size as f32 } else { i as f32 / 8.0 })
        .collect()
}

/// Answers one request to a path of [`PATHS`]; `Err` is a 400 with this message.
pub fn answer(path: &str, body: &Value) -> Result<Response<FakeBody>, String> {
    let obj = body
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    let allowed: &[&str] = match path {
        "/v1/embeddings" => &["model", "input", "encoding_format", "dimensions", "user"],
        "/v1/completions" => &[
            "model",
            "prompt",
            "suffix",
            "max_tokens",
            "temperature",
            "top_p",
            "n",
            "stream",
            "stream_options",
            "logprobs",
            "echo",
            "stop",
            "presence_penalty",
            "frequency_penalty",
            "best_of",
            "logit_bias",
            "user",
            "seed",
        ],
        _ => &[
            "model",
            "prompt",
            "n",
            "size",
            "quality",
            "response_format",
            "style",
            "user",
            "background",
            "moderation",
            "output_format",
            "output_compression",
        ],
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("Unrecognized request argument supplied: {k}"));
    }
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or("you must provide a model parameter")?;
    match path {
        "/v1/embeddings" => embeddings(model, body),
        "/v1/completions" => completions(model, body),
        _ => images(model, body),
    }
}

/// The size of each item of an embeddings or completions `input`/`prompt`: characters of a
/// string, or the count of token ids. `None` when the shape is not one the API takes.
fn item_sizes(input: Option<&Value>) -> Option<Vec<usize>> {
    let is_tokens = |v: &Value| {
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_u64))
    };
    match input? {
        Value::String(s) if !s.is_empty() => Some(vec![s.chars().count()]),
        v @ Value::Array(items) if !items.is_empty() => {
            if is_tokens(v) {
                return Some(vec![items.len()]);
            }
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) if !s.is_empty() => Some(s.chars().count()),
                    Value::Array(t) if is_tokens(item) => Some(t.len()),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

fn embeddings(model: &str, body: &Value) -> Result<Response<FakeBody>, String> {
    let sizes = item_sizes(body.get("input")).ok_or(
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
    )?;
    if sizes.len() > 2048 {
        return Err("'$.input' is invalid: at most 2048 inputs per request.".into());
    }
    let base64 = match body.get("encoding_format") {
        None => false,
        Some(v) if v == "float" => false,
        Some(v) if v == "base64" => true,
        Some(v) => {
            return Err(format!(
                "Invalid value for 'encoding_format': {v}. Supported values are: 'float' and 'base64'."
            ));
        }
    };
    let dims = match body.get("dimensions") {
        None => DEFAULT_DIMENSIONS,
        Some(_) if !model.starts_with("text-embedding-3") => {
            return Err("This model does not support specifying dimensions.".into());
        }
        Some(v) => match v.as_u64() {
            Some(n) if (1..=3072).contains(&n) => n as usize,
            _ => return Err(format!("Invalid value for 'dimensions': {v}.")),
        },
    };
    let data: Vec<Value> = sizes
        .iter()
        .enumerate()
        .map(|(index, size)| {
            let v = vector(*size, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: usize = sizes.iter().map(|s| s.div_ceil(4)).sum();
    let answer = json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    Ok(full(200, "application/json", answer.to_string()))
}

fn completions(model: &str, body: &Value) -> Result<Response<FakeBody>, String> {
    let prompt = body.get("prompt");
    if item_sizes(prompt).is_none() && prompt.and_then(Value::as_str) != Some("") {
        return Err("'$.prompt' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.".into());
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(format!(
                "Invalid type for 'stream': expected a boolean, but got {v} instead."
            ));
        }
    };
    if body.get("stream_options").is_some_and(|v| !v.is_null()) && !stream {
        return Err(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.".into(),
        );
    }
    if let Some(v) = body.get("max_tokens")
        && !v.is_null()
        && v.as_u64().is_none()
    {
        return Err(format!(
            "Invalid type for 'max_tokens': expected an integer, but got {v} instead."
        ));
    }
    let text = serde_json::to_string(prompt.unwrap_or(&Value::Null)).unwrap_or_default();
    if let Some(code) = text
        .split_whitespace()
        .find_map(|w| w.trim_matches('"').strip_prefix("#status="))
        .and_then(|c| c.trim_end_matches(['"', ']']).parse::<u16>().ok())
    {
        let err = json!({"error": {"message": format!("scripted failure {code}"),
            "type": if code == 429 { "rate_limit_exceeded" } else { "server_error" }, "param": null, "code": null}});
        return Ok(full(code, "application/json", err.to_string()));
    }
    let usage = json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS});
    let id = "cmpl-fake-1";
    if !stream {
        let answer = json!({"id": id, "object": "text_completion", "created": 1_700_000_000, "model": model,
            "choices": [{"text": REPLY, "index": 0, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage});
        return Ok(full(200, "application/json", answer.to_string()));
    }
    let chunk = |text: &str, finish: Value| {
        json!({"id": id, "object": "text_completion", "created": 1_700_000_000, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]})
    };
    let mut events: Vec<Value> = (0..3)
        .map(|i| chunk(&format!("tok{i} "), Value::Null))
        .collect();
    events.push(chunk("", json!("stop")));
    if body.pointer("/stream_options/include_usage") == Some(&json!(true)) {
        events.push(
            json!({"id": id, "object": "text_completion", "created": 1_700_000_000,
            "model": model, "choices": [], "usage": usage}),
        );
    }
    let mut sse: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    sse.push_str("data: [DONE]\n\n");
    Ok(full(200, "text/event-stream", sse))
}

fn images(model: &str, body: &Value) -> Result<Response<FakeBody>, String> {
    body.get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("'$.prompt' is invalid: a non-empty string is required.")?;
    let gpt_image = model.starts_with("gpt-image");
    let n = match body.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=10).contains(&n) => n,
            _ => {
                return Err(format!(
                    "Invalid value for 'n': {v}. Must be between 1 and 10."
                ));
            }
        },
    };
    if model == "dall-e-3" && n != 1 {
        return Err("Invalid 'n': integer above maximum value. Expected a value <= 1.".into());
    }
    if let Some(size) = body.get("size") {
        let ok = [
            "256x256",
            "512x512",
            "1024x1024",
            "1792x1024",
            "1024x1792",
            "1536x1024",
            "1024x1536",
            "auto",
        ];
        if !size.as_str().is_some_and(|s| ok.contains(&s)) {
            return Err(format!(
                "Invalid value: {size}. Supported values are: {ok:?}."
            ));
        }
    }
    let url = match body.get("response_format") {
        None | Some(Value::Null) => !gpt_image,
        Some(_) if gpt_image => return Err("Unknown parameter: 'response_format'.".into()),
        Some(v) if v == "url" => true,
        Some(v) if v == "b64_json" => false,
        Some(v) => {
            return Err(format!(
                "Invalid value: {v}. Supported values are: 'url' and 'b64_json'."
            ));
        }
    };
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if url {
                json!({"url": format!("https://images.fake.invalid/{i}.png")})
            } else {
                json!({"b64_json": PNG_B64})
            }
        })
        .collect();
    let mut answer = json!({"created": 1_700_000_000, "data": data});
    if gpt_image {
        answer["usage"] = json!({"input_tokens": PROMPT_TOKENS, "output_tokens": 0,
            "total_tokens": PROMPT_TOKENS, "input_tokens_details": {"text_tokens": PROMPT_TOKENS, "image_tokens": 0}});
    }
    Ok(full(200, "application/json", answer.to_string()))
}
