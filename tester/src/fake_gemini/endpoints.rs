//! Gemini API methods beside generateContent, written from Google's public reference with
//! raw JSON and strict where the real API is: `:embedContent`, `:batchEmbedContents` (every
//! item must name the model of the URL) and Imagen's `:predict` (only on `imagen-*` models).
//! Unknown fields are refused with the real "Unknown name" wording.
//!
//! Embeddings are [`vector`]s whose first value is the text's length in characters, so a
//! test can tell the items apart and check their order.

use serde_json::{Map, Value, json};

pub use crate::fake_openai::endpoints::{DEFAULT_DIMENSIONS, PNG_B64, vector};

/// The methods served here.
pub const METHODS: [&str; 3] = ["embedContent", "batchEmbedContents", "predict"];

const TASK_TYPES: &[&str] = &[
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
];

/// `(status, message)` of a refusal.
pub type Refusal = (u16, String);

fn unknown(obj: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), Refusal> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => {
            let name = if at.is_empty() {
                format!("\"{k}\"")
            } else {
                format!("\"{k}\" at '{at}'")
            };
            Err((
                400,
                format!("Invalid JSON payload received. Unknown name {name}: Cannot find field."),
            ))
        }
        None => Ok(()),
    }
}

/// Answers `method` of [`METHODS`] on `model`.
pub fn answer(model: &str, method: &str, body: &Value) -> Result<Value, Refusal> {
    let obj = body.as_object().ok_or((
        400,
        "Invalid JSON payload received. Expected an object.".to_owned(),
    ))?;
    match method {
        "embedContent" => {
            let size = embed_request(model, obj, "EmbedContentRequest", false)?;
            Ok(json!({"embedding": {"values": vector(size.0, size.1)}}))
        }
        "batchEmbedContents" => {
            unknown(obj, &["requests"], "")?;
            let requests = obj
                .get("requests")
                .and_then(Value::as_array)
                .filter(|r| !r.is_empty())
                .ok_or((
                    400,
                    "* BatchEmbedContentsRequest.requests: must not be empty\n".to_owned(),
                ))?;
            if requests.len() > 100 {
                return Err((
                    400,
                    "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n".to_owned(),
                ));
            }
            let mut embeddings = Vec::with_capacity(requests.len());
            for (i, r) in requests.iter().enumerate() {
                let r = r
                    .as_object()
                    .ok_or((400, format!("Invalid value at 'requests[{i}]'")))?;
                let at = format!("BatchEmbedContentsRequest.requests[{i}]");
                let (size, dims) = embed_request(model, r, &at, true)?;
                embeddings.push(json!({"values": vector(size, dims)}));
            }
            Ok(json!({ "embeddings": embeddings }))
        }
        _ => predict(model, obj),
    }
}

/// Checks one embed request; its text size and dimensions.
fn embed_request(
    model: &str,
    r: &Map<String, Value>,
    at: &str,
    model_required: bool,
) -> Result<(usize, usize), Refusal> {
    unknown(
        r,
        &[
            "model",
            "content",
            "taskType",
            "title",
            "outputDimensionality",
        ],
        "",
    )?;
    let bad = |field: &str, msg: &str| (400, format!("* {at}.{field}: {msg}\n"));
    match r.get("model").and_then(Value::as_str) {
        None if model_required => return Err(bad("model", "is required")),
        Some(m) if m != format!("models/{model}") => {
            return Err(bad(
                "model",
                &format!(
                    "the model in the request ({m}) does not match the model in the URL (models/{model})"
                ),
            ));
        }
        _ => {}
    }
    let parts = r
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("content.parts", "must not be empty"))?;
    let mut size = 0;
    for (i, p) in parts.iter().enumerate() {
        match p.get("text").and_then(Value::as_str) {
            Some(t) => size += t.chars().count(),
            None => {
                return Err(bad(
                    &format!("content.parts[{i}]"),
                    "only text parts can be embedded by this model",
                ));
            }
        }
    }
    if size == 0 {
        return Err(bad("content", "must contain text"));
    }
    if let Some(t) = r.get("taskType")
        && !t.as_str().is_some_and(|t| TASK_TYPES.contains(&t))
    {
        return Err((
            400,
            format!(
                "Invalid JSON payload received. Invalid value at 'task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), {t}"
            ),
        ));
    }
    if r.get("title").is_some()
        && r.get("taskType").and_then(Value::as_str) != Some("RETRIEVAL_DOCUMENT")
    {
        return Err(bad(
            "title",
            "is only allowed with task_type RETRIEVAL_DOCUMENT",
        ));
    }
    let dims = match r.get("outputDimensionality") {
        None => DEFAULT_DIMENSIONS,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=3072).contains(&n) => n as usize,
            _ => return Err(bad("output_dimensionality", "must be between 1 and 3072")),
        },
    };
    Ok((size, dims))
}

/// Imagen `:predict`: `{instances: [{prompt}], parameters: {sampleCount, ...}}`.
fn predict(model: &str, obj: &Map<String, Value>) -> Result<Value, Refusal> {
    if !model.starts_with("imagen-") {
        return Err((
            404,
            format!(
                "models/{model} is not found for API version v1beta, or is not supported for predict. Call ListModels to see the list of available models and their supported methods."
            ),
        ));
    }
    unknown(obj, &["instances", "parameters"], "")?;
    let instances = obj
        .get("instances")
        .and_then(Value::as_array)
        .filter(|i| i.len() == 1)
        .ok_or((
            400,
            "* PredictRequest.instances: exactly one instance is required\n".to_owned(),
        ))?;
    let instance = instances[0]
        .as_object()
        .ok_or((400, "Invalid value at 'instances[0]'".to_owned()))?;
    unknown(instance, &["prompt"], "instances[0]")?;
    if instance
        .get("prompt")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err((
            400,
            "* PredictRequest.instances[0].prompt: must not be empty\n".to_owned(),
        ));
    }
    let params = match obj.get("parameters") {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err((400, "Invalid value at 'parameters'".to_owned())),
    };
    unknown(
        &params,
        &[
            "sampleCount",
            "aspectRatio",
            "personGeneration",
            "outputOptions",
            "includeRaiReason",
            "includeSafetyAttributes",
            "sampleImageSize",
            "negativePrompt",
            "guidanceScale",
            "seed",
            "addWatermark",
            "language",
            "enhancePrompt",
            "safetySetting",
        ],
        "parameters",
    )?;
    let count = match params.get("sampleCount") {
        None => 4,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=4).contains(&n) => n,
            _ => {
                return Err((
                    400,
                    "Number of images must be in the range [1, 4].".to_owned(),
                ));
            }
        },
    };
    if let Some(r) = params.get("aspectRatio")
        && !r
            .as_str()
            .is_some_and(|r| ["1:1", "3:4", "4:3", "9:16", "16:9"].contains(&r))
    {
        return Err((400, format!("Unsupported aspect ratio {r}.")));
    }
    let predictions: Vec<Value> = (0..count)
        .map(|_| json!({"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}))
        .collect();
    Ok(json!({ "predictions": predictions }))
}
