//! Embeddings between OpenAI's `/v1/embeddings` (the hub of this operation) and Gemini's
//! `:embedContent` / `:batchEmbedContents`. Requests for Gemini always go out as a batch,
//! which carries one item as well as many; a Gemini client's `:embedContent` is answered
//! with one `embedding`, its `:batchEmbedContents` with `embeddings`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::Translator;
use crate::usage::estimate_tokens;

/// Registered by the Gemini format (`gemini/wire.rs`).
pub(crate) const TO_GEMINI: Translator = Translator::new(Format::OpenAi, Format::Gemini)
    .for_op(Operation::Embeddings)
    .request(hub_request_to_gemini)
    .response(hub_response_to_gemini);

pub(crate) const FROM_GEMINI: Translator = Translator::new(Format::Gemini, Format::OpenAi)
    .for_op(Operation::Embeddings)
    .request(gemini_request_to_hub)
    .response(gemini_response_to_hub);

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError::invalid(message)
}

/// The texts of an OpenAI `input`: a string or an array of strings. Token-id arrays have
/// no Gemini counterpart.
fn input_texts(input: Option<&Value>) -> Result<(Vec<&str>, bool), TranslateError> {
    let texts = match input {
        Some(Value::String(s)) => return Ok((vec![s.as_str()], true)),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    invalid("`input` must be a string or an array of strings for this model (token ids cannot be sent to it)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => return Err(invalid("`input` must not be an empty array")),
        None => return Err(invalid("missing required field `input`")),
        Some(_) => return Err(invalid("`input` must be a string or an array of strings")),
    };
    Ok((texts, false))
}

/// `dimensions`, when given: a positive integer.
fn dimensions(body: &Value) -> Result<Option<u64>, TranslateError> {
    match body.get("dimensions") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(invalid("`dimensions` must be a positive integer")),
        },
    }
}

/// Whether the client wants base64 (`encoding_format`), refusing values OpenAI refuses.
fn wants_base64(body: &Value) -> Result<bool, TranslateError> {
    match body.get("encoding_format") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "float" => Ok(false),
        Some(Value::String(s)) if s == "base64" => Ok(true),
        Some(_) => Err(invalid("`encoding_format` must be \"float\" or \"base64\"")),
    }
}

/// OpenAI embeddings request -> Gemini `batchEmbedContents`.
fn hub_request_to_gemini(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let (texts, _) = input_texts(body.get("input"))?;
    if texts.iter().any(|t| t.is_empty()) {
        return Err(invalid("`input` must not contain empty strings"));
    }
    let dims = dimensions(&body)?;
    ctx.base64_embeddings = wants_base64(&body)?;
    ctx.prompt_estimate = estimate_tokens(texts.iter().map(|t| t.len()).sum());
    let model = format!("models/{}", ctx.model);
    let requests: Vec<Value> = texts
        .iter()
        .map(|text| {
            let mut r = json!({"model": model, "content": {"parts": [{"text": text}]}});
            if let Some(d) = dims {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    Ok(json!({ "requests": requests }))
}

/// The floats of one Gemini `ContentEmbedding`.
fn values(embedding: &Value) -> Result<&Vec<Value>, TranslateError> {
    embedding
        .get("values")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::bad_upstream("an embedding has no `values` array"))
}

/// Floats as OpenAI's base64: little-endian `f32`s.
fn to_base64(values: &[Value]) -> Result<String, TranslateError> {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        let f = v
            .as_f64()
            .ok_or_else(|| TranslateError::bad_upstream("an embedding value is not a number"))?;
        // OpenAI's base64 embeddings are f32 by definition.
        bytes.extend_from_slice(&(f as f32).to_le_bytes());
    }
    Ok(STANDARD.encode(bytes))
}

/// Gemini `embedding` / `embeddings` -> OpenAI's list.
fn gemini_response_to_hub(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let items: Vec<&Value> = match (body.get("embeddings"), body.get("embedding")) {
        (Some(Value::Array(list)), _) => list.iter().collect(),
        (_, Some(one)) => vec![one],
        _ => {
            return Err(TranslateError::bad_upstream(
                "the answer has neither `embeddings` nor `embedding`",
            ));
        }
    };
    let mut data = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let floats = values(item)?;
        let embedding = if ctx.base64_embeddings {
            Value::String(to_base64(floats)?)
        } else {
            Value::Array(floats.clone())
        };
        data.push(json!({"object": "embedding", "index": index, "embedding": embedding}));
    }
    let prompt = body
        .pointer("/usageMetadata/promptTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(ctx.prompt_estimate);
    Ok(json!({
        "object": "list",
        "data": data,
        "model": ctx.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }))
}

/// The text of one Gemini `Content`: its text parts, joined. Other parts cannot be embedded
/// by an OpenAI-compatible model.
fn content_text(content: Option<&Value>, at: &str) -> Result<String, TranslateError> {
    let parts = content
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid(format!("{at}.parts must be a non-empty array")))?;
    let mut texts = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        match part.get("text").and_then(Value::as_str) {
            Some(t) => texts.push(t),
            None => {
                return Err(invalid(format!(
                    "{at}.parts[{i}] is not a text part; only text can be embedded by this model"
                )));
            }
        }
    }
    Ok(texts.join("\n"))
}

/// Gemini `:embedContent` or `:batchEmbedContents` -> OpenAI embeddings request.
fn gemini_request_to_hub(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let (texts, dims) = match body.get("requests") {
        Some(Value::Array(requests)) if !requests.is_empty() => {
            let mut texts = Vec::with_capacity(requests.len());
            let mut dims: Option<Option<u64>> = None;
            for (i, r) in requests.iter().enumerate() {
                texts.push(content_text(
                    r.get("content"),
                    &format!("requests[{i}].content"),
                )?);
                let d = r.get("outputDimensionality").and_then(Value::as_u64);
                match dims {
                    Some(prev) if prev != d => {
                        return Err(invalid(
                            "every request must ask for the same outputDimensionality for this model",
                        ));
                    }
                    _ => dims = Some(d),
                }
            }
            (texts, dims.flatten())
        }
        Some(_) => return Err(invalid("`requests` must be a non-empty array")),
        None => {
            ctx.single_item = true;
            let text = content_text(body.get("content"), "content")?;
            let d = body.get("outputDimensionality").and_then(Value::as_u64);
            (vec![text], d)
        }
    };
    let mut out = Map::new();
    out.insert("model".into(), Value::String(ctx.model.clone()));
    let input = if ctx.single_item {
        texts.into_iter().next().map_or(Value::Null, Value::String)
    } else {
        Value::Array(texts.into_iter().map(Value::String).collect())
    };
    out.insert("input".into(), input);
    out.insert("encoding_format".into(), json!("float"));
    if let Some(d) = dims {
        out.insert("dimensions".into(), json!(d));
    }
    Ok(Value::Object(out))
}

/// OpenAI's list -> Gemini `embedding` (one item asked) or `embeddings`.
fn hub_response_to_gemini(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let mut data: Vec<&Value> = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::bad_upstream("the answer has no `data` array"))?
        .iter()
        .collect();
    data.sort_by_key(|d| d.get("index").and_then(Value::as_u64).unwrap_or(0));
    let mut embeddings = Vec::with_capacity(data.len());
    for d in data {
        let values = match d.get("embedding") {
            Some(Value::Array(v)) => Value::Array(v.clone()),
            Some(Value::String(b64)) => from_base64(b64)?,
            _ => {
                return Err(TranslateError::bad_upstream(
                    "an embedding is neither floats nor base64",
                ));
            }
        };
        embeddings.push(json!({ "values": values }));
    }
    if ctx.single_item {
        let one = embeddings
            .into_iter()
            .next()
            .ok_or_else(|| TranslateError::bad_upstream("the answer holds no embedding"))?;
        Ok(json!({ "embedding": one }))
    } else {
        Ok(json!({ "embeddings": embeddings }))
    }
}

/// OpenAI's base64 embedding back to floats.
fn from_base64(b64: &str) -> Result<Value, TranslateError> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| TranslateError::bad_upstream(format!("a base64 embedding is invalid: {e}")))?;
    if bytes.len() % 4 != 0 {
        return Err(TranslateError::bad_upstream(
            "a base64 embedding is not a whole number of f32s",
        ));
    }
    Ok(Value::Array(
        bytes
            .chunks_exact(4)
            .map(|c| {
                let f = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                json!(f64::from(f))
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(client: Format, provider: Format) -> TranslateCtx {
        TranslateCtx::new(client, provider, "text-embedding-004", false)
    }

    #[test]
    fn openai_input_becomes_one_gemini_request_per_text() {
        let mut c = ctx(Format::OpenAi, Format::Gemini);
        let out = hub_request_to_gemini(
            json!({"model": "x", "input": ["a", "bc"], "dimensions": 8, "encoding_format": "base64"}),
            &mut c,
        )
        .unwrap();
        assert_eq!(out["requests"].as_array().unwrap().len(), 2);
        assert_eq!(out["requests"][1]["model"], "models/text-embedding-004");
        assert_eq!(out["requests"][1]["content"]["parts"][0]["text"], "bc");
        assert_eq!(out["requests"][0]["outputDimensionality"], 8);
        assert!(c.base64_embeddings);
        for bad in [
            json!({"input": [1, 2]}),
            json!({"input": []}),
            json!({"input": "x", "encoding_format": "hex"}),
            json!({"input": "x", "dimensions": 0}),
        ] {
            assert!(hub_request_to_gemini(bad.clone(), &mut c).is_err(), "{bad}");
        }
    }

    #[test]
    fn gemini_floats_come_back_as_floats_or_base64() {
        let mut c = ctx(Format::OpenAi, Format::Gemini);
        let answer = json!({"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 2.0]}]});
        let out = gemini_response_to_hub(answer.clone(), &c).unwrap();
        assert_eq!(out["data"][1]["index"], 1);
        assert_eq!(out["data"][1]["embedding"], json!([0.25, 2.0]));
        c.base64_embeddings = true;
        let out = gemini_response_to_hub(answer, &c).unwrap();
        let b64 = out["data"][0]["embedding"].as_str().unwrap();
        assert_eq!(from_base64(b64).unwrap(), json!([0.5, -1.0]));
    }

    #[test]
    fn a_single_gemini_item_is_answered_as_one() {
        let mut c = ctx(Format::Gemini, Format::OpenAi);
        let req = gemini_request_to_hub(
            json!({"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4}),
            &mut c,
        )
        .unwrap();
        assert_eq!(req["input"], "hi");
        assert_eq!(req["dimensions"], 4);
        let answer = json!({"data": [{"index": 0, "embedding": [1.0, 2.0]}]});
        let out = hub_response_to_gemini(answer, &c).unwrap();
        assert_eq!(out, json!({"embedding": {"values": [1.0, 2.0]}}));
    }

    #[test]
    fn a_gemini_batch_keeps_its_order() {
        let mut c = ctx(Format::Gemini, Format::OpenAi);
        let req = gemini_request_to_hub(
            json!({"requests": [
                {"model": "models/m", "content": {"parts": [{"text": "a"}]}},
                {"model": "models/m", "content": {"parts": [{"text": "b"}, {"text": "c"}]}}]}),
            &mut c,
        )
        .unwrap();
        assert_eq!(req["input"], json!(["a", "b\nc"]));
        let answer =
            json!({"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]});
        let out = hub_response_to_gemini(answer, &c).unwrap();
        assert_eq!(
            out,
            json!({"embeddings": [{"values": [1.0]}, {"values": [2.0]}]})
        );
        let image = json!({"requests": [{"content": {"parts": [{"inlineData": {}}]}}]});
        assert!(gemini_request_to_hub(image, &mut c).is_err());
    }
}
