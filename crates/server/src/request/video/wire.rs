//! The two video wire formats and the way between them: OpenAI's Videos API (a `video`
//! object polled by id) and Gemini's Veo (`predictLongRunning` instances and parameters, an
//! operation polled by name), each read into an [`Ask`] and a [`Polled`] state and written
//! back in the other's words. The hub translates chat only; a video job's few fields are
//! mapped here instead.

use serde_json::{Map, Value, json};
use switchyard_hub::ApiError;

use super::jobs::{Job, Status};

/// What a client asked for, in either format.
#[derive(Debug, Clone)]
pub struct Ask {
    pub model: String,
    pub prompt: String,
    /// Length asked for, if any.
    pub seconds: Option<u32>,
    /// `WIDTHxHEIGHT`, if asked (OpenAI) or implied by aspect ratio and resolution (Veo).
    pub size: Option<String>,
    /// The client's own body, sent as it is to an upstream of the same format.
    pub own: Value,
}

/// The sizes OpenAI takes and Veo's aspect ratio and resolution for each.
const SIZES: [(&str, &str, &str); 6] = [
    ("1280x720", "16:9", "720p"),
    ("720x1280", "9:16", "720p"),
    ("1792x1024", "16:9", "1080p"),
    ("1024x1792", "9:16", "1080p"),
    ("1920x1080", "16:9", "1080p"),
    ("1080x1920", "9:16", "1080p"),
];

/// Lengths OpenAI takes.
const OPENAI_SECONDS: [u32; 3] = [4, 8, 12];

/// Veo's longest clip.
const VEO_MAX_SECONDS: u32 = 8;

/// Reads an OpenAI create body: JSON, or a multipart form's text fields (`fields`).
pub fn ask_from_openai(fields: Map<String, Value>) -> Result<Ask, ApiError> {
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match fields.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::invalid_request(format!("`{k}` must be a string"))),
        }
    };
    let model = text("model")?
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid_request("missing required field `model`"))?;
    let prompt = text("prompt")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_request("missing required field `prompt`"))?;
    let seconds = match text("seconds")? {
        None => None,
        Some(s) => Some(
            s.parse::<u32>()
                .ok()
                .filter(|s| OPENAI_SECONDS.contains(s))
                .ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "`seconds` must be one of \"4\", \"8\", \"12\", not {s:?}"
                    ))
                })?,
        ),
    };
    let size = text("size")?;
    if let Some(s) = &size
        && !SIZES.iter().any(|(w, _, _)| w == s)
    {
        return Err(ApiError::invalid_request(format!(
            "`size` must be one of {}, not {s:?}",
            SIZES.map(|(w, _, _)| w).join(", ")
        )));
    }
    Ok(Ask {
        model,
        prompt,
        seconds,
        size,
        own: Value::Object(fields),
    })
}

/// Reads a Veo `predictLongRunning` body for `model` (named in the path).
pub fn ask_from_gemini(model: String, body: Value) -> Result<Ask, ApiError> {
    let instance = match body.get("instances").and_then(Value::as_array) {
        Some(list) if list.len() == 1 => &list[0],
        Some(_) => {
            return Err(ApiError::invalid_request(
                "`instances` must hold exactly one instance",
            ));
        }
        None => {
            return Err(ApiError::invalid_request(
                "missing required field `instances`",
            ));
        }
    };
    let prompt = instance
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_request("missing required field `instances[0].prompt`"))?
        .to_owned();
    let params = body.get("parameters");
    let param = |k: &str| params.and_then(|p| p.get(k));
    let seconds = match param("durationSeconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|s| u32::try_from(s).ok())
                .filter(|s| *s > 0)
                .ok_or_else(|| {
                    ApiError::invalid_request("`parameters.durationSeconds` must be a whole number")
                })?,
        ),
    };
    let aspect = param("aspectRatio")
        .and_then(Value::as_str)
        .unwrap_or("16:9");
    let resolution = param("resolution")
        .and_then(Value::as_str)
        .unwrap_or("720p");
    let size = SIZES
        .iter()
        .find(|(_, a, r)| *a == aspect && *r == resolution)
        .map(|(w, _, _)| (*w).to_owned());
    Ok(Ask {
        model,
        prompt,
        seconds,
        size,
        own: body,
    })
}

/// The body for an OpenAI upstream, `model` named anew.
pub fn openai_body(ask: &Ask, client_is_openai: bool, model: &str) -> Result<Value, ApiError> {
    if client_is_openai {
        let mut own = ask.own.clone();
        if let Some(obj) = own.as_object_mut() {
            obj.insert("model".into(), Value::String(model.to_owned()));
        }
        return Ok(own);
    }
    let gemini = &ask.own;
    let instance = gemini.pointer("/instances/0");
    if instance.is_some_and(|i| i.as_object().is_some_and(|o| o.len() > 1)) {
        return Err(ApiError::invalid_request(format!(
            "model `{model}` takes a prompt only: images and videos in the instance cannot be translated to it"
        )));
    }
    if gemini
        .pointer("/parameters/sampleCount")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(ApiError::invalid_request(format!(
            "model `{model}` makes one video per request"
        )));
    }
    let mut body = json!({"model": model, "prompt": ask.prompt});
    if let Some(s) = ask.seconds {
        let fit = OPENAI_SECONDS.iter().find(|o| **o >= s).unwrap_or(&12);
        body["seconds"] = Value::String(fit.to_string());
    }
    if let Some(size) = &ask.size {
        body["size"] = Value::String(size.clone());
    }
    Ok(body)
}

/// The body for a Veo upstream (the model goes in the path).
pub fn gemini_body(ask: &Ask, client_is_gemini: bool, model: &str) -> Result<Value, ApiError> {
    if client_is_gemini {
        return Ok(ask.own.clone());
    }
    if ask.own.get("input_reference").is_some() {
        return Err(ApiError::invalid_request(format!(
            "`input_reference` cannot be translated for model `{model}`"
        )));
    }
    let mut params = Map::new();
    if let Some(s) = ask.seconds {
        if s > VEO_MAX_SECONDS {
            return Err(ApiError::invalid_request(format!(
                "model `{model}` makes clips of at most {VEO_MAX_SECONDS} seconds, not {s}"
            )));
        }
        params.insert("durationSeconds".into(), json!(s));
    }
    if let Some((_, aspect, resolution)) = ask
        .size
        .as_deref()
        .and_then(|s| SIZES.iter().find(|(w, _, _)| *w == s))
    {
        params.insert("aspectRatio".into(), json!(aspect));
        params.insert("resolution".into(), json!(resolution));
    }
    let mut body = json!({"instances": [{"prompt": ask.prompt}]});
    if !params.is_empty() {
        body["parameters"] = Value::Object(params);
    }
    Ok(body)
}

/// What an upstream said of a job, started or polled.
#[derive(Debug, Clone)]
pub struct Polled {
    pub status: Status,
    pub progress: u8,
    pub video_uri: Option<String>,
    pub error: Option<String>,
    /// The seconds the upstream says the clip lasts.
    pub seconds: Option<f64>,
    /// The upstream's id or operation name (a start answer).
    pub id: Option<String>,
}

/// Reads an OpenAI `video` object.
pub fn from_openai(v: &Value) -> Result<Polled, ApiError> {
    let status = match v.get("status").and_then(Value::as_str) {
        Some("queued") => Status::Queued,
        Some("in_progress") => Status::InProgress,
        Some("completed") => Status::Completed,
        Some("failed") => Status::Failed,
        other => {
            return Err(ApiError::bad_gateway(format!(
                "the upstream's video has no known status ({other:?})"
            )));
        }
    };
    let progress = v
        .get("progress")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(100);
    Ok(Polled {
        status,
        progress: u8::try_from(progress).unwrap_or(100),
        video_uri: None,
        error: v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| (status == Status::Failed).then(|| "the video failed".to_owned())),
        seconds: v.get("seconds").and_then(|s| match s {
            Value::String(s) => s.parse().ok(),
            other => other.as_f64(),
        }),
        id: v.get("id").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Reads a Gemini long-running operation.
pub fn from_gemini(v: &Value) -> Result<Polled, ApiError> {
    let name = v.get("name").and_then(Value::as_str).map(str::to_owned);
    let mut polled = Polled {
        status: Status::InProgress,
        progress: 0,
        video_uri: None,
        error: None,
        seconds: None,
        id: name,
    };
    if v.get("done") != Some(&Value::Bool(true)) {
        return Ok(polled);
    }
    if let Some(e) = v.get("error") {
        polled.status = Status::Failed;
        polled.error = Some(
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("the video failed")
                .to_owned(),
        );
        return Ok(polled);
    }
    let uri = v
        .pointer("/response/generateVideoResponse/generatedSamples/0/video/uri")
        .and_then(Value::as_str);
    match uri {
        Some(uri) => {
            polled.status = Status::Completed;
            polled.progress = 100;
            polled.video_uri = Some(uri.to_owned());
        }
        None => {
            // Done with no sample: Veo filtered the output, and says why.
            let why = v
                .pointer("/response/generateVideoResponse/raiMediaFilteredReasons/0")
                .and_then(Value::as_str)
                .unwrap_or("the provider returned no video");
            polled.status = Status::Failed;
            polled.error = Some(why.to_owned());
        }
    }
    Ok(polled)
}

/// The job as an OpenAI `video` object.
pub fn openai_object(job: &Job) -> Value {
    let secs = |ms: i64| ms.div_euclid(1000);
    let error = job
        .error
        .as_ref()
        .map(|m| json!({"code": "video_generation_failed", "message": m}));
    json!({
        "id": job.id,
        "object": "video",
        "created_at": secs(job.created_ms),
        "completed_at": job.completed_ms.map(secs),
        "expires_at": null,
        "error": error,
        "model": job.requested_model,
        "progress": job.progress,
        "prompt": job.prompt,
        "remixed_from_video_id": null,
        "seconds": format_seconds(job.seconds),
        "size": job.size,
        "status": job.status.as_str(),
    })
}

fn format_seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        s.to_string()
    }
}

/// The job's Developer API operation name.
pub fn gemini_name(job: &Job) -> String {
    format!("models/{}/operations/{}", job.requested_model, job.id)
}

/// The job's Vertex AI operation name (google-genai's `generate_videos`).
pub fn vertex_name(job: &Job) -> String {
    format!(
        "publishers/google/models/{}/operations/{}",
        job.requested_model, job.id
    )
}

/// The job as a Gemini Developer API operation; `download` is where the client fetches the
/// video from (this proxy's own files route).
pub fn gemini_operation(job: &Job, download: &str) -> Value {
    let mut op = json!({"name": gemini_name(job)});
    match job.status {
        Status::Completed => {
            op["done"] = json!(true);
            op["response"] = json!({
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                "generateVideoResponse": {"generatedSamples": [{"video": {"uri": download}}]}
            });
        }
        Status::Failed => {
            op["done"] = json!(true);
            op["error"] = json!({"code": 13, "message": job.error.as_deref().unwrap_or("failed")});
        }
        Status::Queued | Status::InProgress => {}
    }
    op
}

/// The job as a Vertex AI operation, the video's bytes inline (`video_b64`) once done, as
/// Vertex gives them when no storage bucket was named.
pub fn vertex_operation(job: &Job, video_b64: Option<String>) -> Value {
    let mut op = json!({"name": vertex_name(job)});
    match (job.status, video_b64) {
        (Status::Completed, Some(b64)) => {
            op["done"] = json!(true);
            op["response"] = json!({
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "videos": [{"bytesBase64Encoded": b64, "mimeType": "video/mp4"}]
            });
        }
        (Status::Failed, _) => {
            op["done"] = json!(true);
            op["error"] = json!({"code": 13, "message": job.error.as_deref().unwrap_or("failed")});
        }
        _ => {}
    }
    op
}

/// The job id in an operation name of either shape.
pub fn id_of_operation(name: &str) -> Option<&str> {
    name.rsplit_once("/operations/").map(|(_, id)| id)
}

/// The length a job will have: what the upstream said, else what was asked, else the
/// upstream's default (4 s for OpenAI, 8 s for Veo).
pub fn seconds_for(ask: &Ask, upstream_openai: bool, said: Option<f64>) -> f64 {
    said.unwrap_or_else(|| {
        let asked = ask.seconds.map(f64::from);
        match (asked, upstream_openai) {
            (Some(s), true) => OPENAI_SECONDS
                .iter()
                .map(|o| f64::from(*o))
                .find(|o| *o >= s)
                .unwrap_or(12.0),
            (Some(s), false) => s,
            (None, true) => 4.0,
            (None, false) => f64::from(VEO_MAX_SECONDS),
        }
    })
}

/// The size a job will have, `WIDTHxHEIGHT`: asked, else the upstream's default.
pub fn size_for(ask: &Ask, upstream_openai: bool) -> String {
    ask.size.clone().unwrap_or_else(|| {
        if upstream_openai {
            "720x1280"
        } else {
            "1280x720"
        }
        .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_lengths_cross_between_the_formats() {
        let ask = ask_from_openai(
            json!({"model": "m", "prompt": "p", "seconds": "8", "size": "720x1280"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        let veo = gemini_body(&ask, false, "veo-3").unwrap();
        assert_eq!(
            veo,
            json!({"instances": [{"prompt": "p"}], "parameters": {"durationSeconds": 8, "aspectRatio": "9:16", "resolution": "720p"}})
        );
        let back = ask_from_gemini("veo-3".into(), veo).unwrap();
        assert_eq!(back.size.as_deref(), Some("720x1280"));
        let openai = openai_body(&back, false, "sora-2").unwrap();
        assert_eq!(
            openai,
            json!({"model": "sora-2", "prompt": "p", "seconds": "8", "size": "720x1280"})
        );
        let long = ask_from_openai(
            json!({"model": "m", "prompt": "p", "seconds": "12"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        assert!(gemini_body(&long, false, "veo-3").is_err());
        assert!(ask_from_openai(json!({"prompt": "p"}).as_object().unwrap().clone()).is_err());
    }

    #[test]
    fn a_finished_operation_gives_its_video_or_why_not() {
        let done = from_gemini(&json!({"name": "n", "done": true, "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": "https://x/files/a:download?alt=media"}}]}}})).unwrap();
        assert_eq!(done.status, Status::Completed);
        assert!(done.video_uri.unwrap().ends_with("alt=media"));
        let filtered = from_gemini(&json!({"name": "n", "done": true, "response": {"generateVideoResponse": {"raiMediaFilteredReasons": ["unsafe"]}}})).unwrap();
        assert_eq!(
            (filtered.status, filtered.error.as_deref()),
            (Status::Failed, Some("unsafe"))
        );
        assert_eq!(
            from_gemini(&json!({"name": "n"})).unwrap().status,
            Status::InProgress
        );
        assert_eq!(
            id_of_operation("publishers/google/models/a/b/operations/video_1"),
            Some("video_1")
        );
    }
}
