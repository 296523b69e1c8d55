//! Image generation between OpenAI's `/v1/images/generations` (the hub of this operation)
//! and Gemini: Imagen's `:predict` for `imagen-*` models, generateContent with image output
//! for Gemini's image models. Gemini answers with bytes, never URLs, so a client that asked
//! for `url` gets `b64_json` items.

use serde_json::{Value, json};

use crate::clock::now_secs;
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::Translator;

/// Registered by the Gemini format (`gemini/wire.rs`).
pub(crate) const TO_GEMINI: Translator = Translator::new(Format::OpenAi, Format::Gemini)
    .for_op(Operation::Images)
    .request(hub_request_to_gemini)
    .response(hub_response_to_predict);

pub(crate) const FROM_GEMINI: Translator = Translator::new(Format::Gemini, Format::OpenAi)
    .for_op(Operation::Images)
    .request(predict_request_to_hub)
    .response(gemini_response_to_hub);

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError::invalid(message)
}

/// Whether `model` is an Imagen model (`:predict`) rather than a Gemini image model.
fn is_imagen(model: &str) -> bool {
    model.starts_with("imagen")
}

/// OpenAI's `size` as Imagen's `aspectRatio`, nearest of the five it takes.
fn aspect_ratio(size: &str) -> Option<&'static str> {
    let (w, h) = size.split_once('x')?;
    let (w, h): (f64, f64) = (w.parse().ok()?, h.parse().ok()?);
    if w <= 0.0 || h <= 0.0 {
        return None;
    }
    let ratios = [
        ("1:1", 1.0),
        ("4:3", 4.0 / 3.0),
        ("3:4", 3.0 / 4.0),
        ("16:9", 16.0 / 9.0),
        ("9:16", 9.0 / 16.0),
    ];
    let r = w / h;
    ratios
        .iter()
        .min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs()))
        .map(|(name, _)| *name)
}

fn count(body: &Value) -> Result<u64, TranslateError> {
    match body.get("n") {
        None | Some(Value::Null) => Ok(1),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| invalid("`n` must be an integer from 1 to 10")),
    }
}

/// OpenAI images request -> Imagen `predict` or Gemini generateContent.
fn hub_request_to_gemini(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid("`prompt` must be a non-empty string"))?;
    let n = count(&body)?;
    if !is_imagen(&ctx.model) {
        if n != 1 {
            return Err(invalid(format!(
                "model `{}` makes one image per request; ask for n = 1",
                ctx.model
            )));
        }
        return Ok(json!({
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"responseModalities": ["IMAGE"]},
        }));
    }
    if n > 4 {
        return Err(invalid(format!(
            "model `{}` makes at most 4 images per request",
            ctx.model
        )));
    }
    let mut parameters = json!({ "sampleCount": n });
    if let Some(ratio) = body
        .get("size")
        .and_then(Value::as_str)
        .and_then(aspect_ratio)
    {
        parameters["aspectRatio"] = json!(ratio);
    }
    Ok(json!({"instances": [{"prompt": prompt}], "parameters": parameters}))
}

/// Imagen predictions or Gemini inline image parts -> OpenAI's `data[].b64_json`.
fn gemini_response_to_hub(body: Value, _ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let mut data = Vec::new();
    if let Some(predictions) = body.get("predictions").and_then(Value::as_array) {
        for p in predictions {
            // Filtered images come back as a reason instead of bytes.
            if let Some(b64) = p.get("bytesBase64Encoded").and_then(Value::as_str) {
                data.push(json!({ "b64_json": b64 }));
            }
        }
    } else {
        let parts = body
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer("/content/parts").and_then(Value::as_array))
            .flatten();
        for part in parts {
            if let Some(b64) = part.pointer("/inlineData/data").and_then(Value::as_str) {
                data.push(json!({ "b64_json": b64 }));
            }
        }
    }
    if data.is_empty() {
        return Err(TranslateError::bad_upstream(
            "the answer holds no image (the prompt may have been filtered)",
        ));
    }
    Ok(json!({"created": now_secs(), "data": data}))
}

/// OpenAI's `size` for an Imagen `aspectRatio`, among the sizes the target model takes.
fn size_for(ratio: &str, model: &str) -> &'static str {
    let wide = matches!(ratio, "16:9" | "4:3");
    let tall = matches!(ratio, "9:16" | "3:4");
    match (model.starts_with("dall-e-3"), wide, tall) {
        (true, true, _) => "1792x1024",
        (true, _, true) => "1024x1792",
        (false, true, _) => "1536x1024",
        (false, _, true) => "1024x1536",
        _ => "1024x1024",
    }
}

/// Imagen `predict` -> OpenAI images request.
fn predict_request_to_hub(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let instances = body
        .get("instances")
        .and_then(Value::as_array)
        .filter(|i| i.len() == 1)
        .ok_or_else(|| invalid("`instances` must hold exactly one instance"))?;
    let prompt = instances
        .first()
        .and_then(|i| i.get("prompt"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid("instances[0].prompt must be a non-empty string"))?;
    let params = body.get("parameters");
    let n = match params.and_then(|p| p.get("sampleCount")) {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(|| invalid("parameters.sampleCount must be an integer from 1 to 4"))?,
    };
    let mut out = json!({"model": ctx.model, "prompt": prompt, "n": n});
    if let Some(ratio) = params
        .and_then(|p| p.get("aspectRatio"))
        .and_then(Value::as_str)
    {
        out["size"] = json!(size_for(ratio, &ctx.model));
    }
    // GPT image models always answer in base64 and refuse the field.
    if !ctx.model.starts_with("gpt-image") {
        out["response_format"] = json!("b64_json");
    }
    Ok(out)
}

/// OpenAI's `data[].b64_json` -> Imagen predictions.
fn hub_response_to_predict(body: Value, _ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::bad_upstream("the answer has no `data` array"))?;
    let mut predictions = Vec::with_capacity(data.len());
    for d in data {
        let b64 = d.get("b64_json").and_then(Value::as_str).ok_or_else(|| {
            TranslateError::bad_upstream("an image came as a URL, not as base64 bytes")
        })?;
        let mime = match d.get("output_format").or(body.get("output_format")) {
            Some(f) if f == "jpeg" => "image/jpeg",
            Some(f) if f == "webp" => "image/webp",
            _ => "image/png",
        };
        predictions.push(json!({"bytesBase64Encoded": b64, "mimeType": mime}));
    }
    Ok(json!({ "predictions": predictions }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagen_gets_predict_and_gemini_image_models_get_generate_content() {
        let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Gemini, "imagen-4.0", false);
        let out = hub_request_to_gemini(
            json!({"prompt": "a cat", "n": 2, "size": "1792x1024"}),
            &mut ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}})
        );
        let mut ctx = TranslateCtx::new(
            Format::OpenAi,
            Format::Gemini,
            "gemini-2.5-flash-image",
            false,
        );
        let out = hub_request_to_gemini(json!({"prompt": "a cat"}), &mut ctx).unwrap();
        assert_eq!(
            out["generationConfig"]["responseModalities"],
            json!(["IMAGE"])
        );
        assert!(hub_request_to_gemini(json!({"prompt": "a", "n": 2}), &mut ctx).is_err());
    }

    #[test]
    fn gemini_bytes_become_b64_json_items() {
        let ctx = TranslateCtx::new(Format::OpenAi, Format::Gemini, "imagen-4.0", false);
        let predict = json!({"predictions": [{"bytesBase64Encoded": "AAA", "mimeType": "image/png"}, {"raiFilteredReason": "x"}]});
        let out = gemini_response_to_hub(predict, &ctx).unwrap();
        assert_eq!(out["data"], json!([{"b64_json": "AAA"}]));
        let parts = json!({"candidates": [{"content": {"parts": [{"text": "here"}, {"inlineData": {"mimeType": "image/png", "data": "BBB"}}]}}]});
        let out = gemini_response_to_hub(parts, &ctx).unwrap();
        assert_eq!(out["data"], json!([{"b64_json": "BBB"}]));
        assert!(gemini_response_to_hub(json!({"predictions": []}), &ctx).is_err());
    }

    #[test]
    fn a_predict_request_asks_openai_for_base64() {
        let mut ctx = TranslateCtx::new(Format::Gemini, Format::OpenAi, "dall-e-3", false);
        let out = predict_request_to_hub(
            json!({"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 1, "aspectRatio": "9:16"}}),
            &mut ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"model": "dall-e-3", "prompt": "a cat", "n": 1, "size": "1024x1792", "response_format": "b64_json"})
        );
        let back = hub_response_to_predict(json!({"data": [{"b64_json": "CCC"}]}), &ctx).unwrap();
        assert_eq!(
            back,
            json!({"predictions": [{"bytesBase64Encoded": "CCC", "mimeType": "image/png"}]})
        );
    }
}
