//! Long-running video generation as the two upstreams serve it, written from their public
//! API references with raw JSON, shared by [`crate::fake_openai`] and [`crate::fake_gemini`]:
//!
//! - OpenAI's Videos API: `POST /v1/videos` (JSON or multipart form: `prompt`, `model`,
//!   `seconds` "4"/"8"/"12", `size`, `input_reference`), `GET /v1/videos/{id}` (the video
//!   object: `queued`, `in_progress` with `progress`, then `completed` or `failed` with
//!   `error`), `GET /v1/videos/{id}/content` (the MP4 bytes, streamed in frames).
//! - Gemini's Veo: `POST models/{model}:predictLongRunning` (`instances[].prompt`,
//!   `parameters`), then `GET {operation name}` until `done`, the video at
//!   `response.generateVideoResponse.generatedSamples[].video.uri`, downloaded with the key.
//!
//! Strict where the real APIs are: unknown fields and a missing model or prompt are refused;
//! a job is found only with the key that started it (another key gets a 404). A job
//! completes on its [`Jobs::polls_to_finish`]th status read; a prompt holding `#fail` fails
//! then instead. The video's bytes say what was asked: [`video_bytes`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, channel::Channel};
use serde_json::{Value, json};

use crate::server::{FakeBody, full};

/// Status reads after which a job is done, unless a test sets another number.
pub const DEFAULT_POLLS: usize = 2;

/// Times the video's line repeats.
const VIDEO_REPEAT: usize = 4096;

/// Frames the video is sent in.
const VIDEO_FRAMES: usize = 8;

/// The bytes of the video the fakes "generate" for `prompt` at `model`.
pub fn video_bytes(model: &str, prompt: &str) -> Vec<u8> {
    format!("FAKEVIDEO:{model}:{prompt}\n")
        .repeat(VIDEO_REPEAT)
        .into_bytes()
}

#[derive(Debug, Clone)]
struct Job {
    key: String,
    model: String,
    prompt: String,
    seconds: String,
    size: String,
    created_at: u64,
    polls: usize,
    fail: bool,
}

impl Job {
    fn done(&self, after: usize) -> bool {
        self.polls >= after
    }
}

/// The jobs one fake holds.
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
    ids: AtomicUsize,
    /// Status reads after which a job is done.
    pub polls_to_finish: AtomicUsize,
    /// Status reads answered, over every job.
    pub polls: AtomicUsize,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            jobs: Mutex::default(),
            ids: AtomicUsize::new(0),
            polls_to_finish: AtomicUsize::new(DEFAULT_POLLS),
            polls: AtomicUsize::new(0),
        }
    }
}

impl Jobs {
    fn start(&self, job: Job) -> String {
        let n = self.ids.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{n:08x}{:08x}", job.prompt.len());
        self.jobs.lock().unwrap().insert(id.clone(), job);
        id
    }

    /// The job `id` as `key` sees it (another key's job is not found), read as a poll.
    fn poll(&self, key: &str, id: &str) -> Option<Job> {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs.get_mut(id).filter(|j| j.key == key)?;
        job.polls += 1;
        self.polls.fetch_add(1, Ordering::SeqCst);
        Some(job.clone())
    }

    fn get(&self, key: &str, id: &str) -> Option<Job> {
        let jobs = self.jobs.lock().unwrap();
        jobs.get(id).filter(|j| j.key == key).cloned()
    }

    fn after(&self) -> usize {
        self.polls_to_finish.load(Ordering::SeqCst)
    }
}

fn now_secs() -> u64 {
    crate::wall_clock()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The video's bytes, sent in frames a little apart as a file server would.
fn streamed(bytes: Vec<u8>) -> Response<FakeBody> {
    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(2);
    tokio::spawn(async move {
        let step = bytes.len().div_ceil(VIDEO_FRAMES);
        for chunk in bytes.chunks(step) {
            if tx.send_data(Bytes::copy_from_slice(chunk)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "video/mp4")
        .body(body.boxed_unsync())
        .unwrap()
}

// --- OpenAI -----------------------------------------------------------------------------

fn openai_error(status: u16, message: &str, param: Option<&str>) -> Response<FakeBody> {
    let kind = if status == 404 {
        "invalid_request_error"
    } else if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": null}});
    full(status, "application/json", body.to_string())
}

const OPENAI_SIZES: [&str; 6] = [
    "720x1280",
    "1280x720",
    "1024x1792",
    "1792x1024",
    "1080x1920",
    "1920x1080",
];

/// `POST /v1/videos` with `key`; `content_type` says JSON or multipart.
pub fn openai_create(
    jobs: &Jobs,
    key: &str,
    content_type: &str,
    body: &[u8],
) -> Response<FakeBody> {
    let fields: serde_json::Map<String, Value> = if content_type.starts_with("multipart/form-data")
    {
        match crate::fake_openai::media::parse_multipart(content_type, body) {
            Ok(parts) => parts
                .into_iter()
                .map(|p| {
                    let value = match p.filename {
                        Some(f) => json!({"file": f, "bytes": p.data.len()}),
                        None => Value::String(String::from_utf8_lossy(&p.data).into_owned()),
                    };
                    (p.name, value)
                })
                .collect(),
            Err(e) => return openai_error(400, &e, None),
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return openai_error(400, "The request body must be a JSON object.", None),
            Err(_) => {
                return openai_error(
                    400,
                    "We could not parse the JSON body of your request.",
                    None,
                );
            }
        }
    };
    const ALLOWED: [&str; 5] = ["prompt", "model", "seconds", "size", "input_reference"];
    if let Some(k) = fields.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return openai_error(
            400,
            &format!("Unrecognized request argument supplied: {k}"),
            Some(k),
        );
    }
    let Some(model) = fields
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    else {
        return openai_error(400, "Missing required parameter: 'model'.", Some("model"));
    };
    if !model.starts_with("sora-") {
        return openai_error(
            400,
            &format!("Invalid value for 'model': '{model}' is not a video model."),
            Some("model"),
        );
    }
    let Some(prompt) = fields
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    else {
        return openai_error(400, "Missing required parameter: 'prompt'.", Some("prompt"));
    };
    let seconds = match fields.get("seconds") {
        None => "4".to_owned(),
        Some(Value::String(s)) if ["4", "8", "12"].contains(&s.as_str()) => s.clone(),
        Some(s) => {
            return openai_error(
                400,
                &format!("Invalid value: {s}. Supported values are: '4', '8', and '12'."),
                Some("seconds"),
            );
        }
    };
    let size = match fields.get("size") {
        None => "720x1280".to_owned(),
        Some(Value::String(s)) if OPENAI_SIZES.contains(&s.as_str()) => s.clone(),
        Some(s) => {
            return openai_error(
                400,
                &format!("Invalid value for 'size': {s}."),
                Some("size"),
            );
        }
    };
    let job = Job {
        key: key.to_owned(),
        model: model.to_owned(),
        prompt: prompt.to_owned(),
        seconds,
        size,
        created_at: now_secs(),
        polls: 0,
        fail: prompt.contains("#fail"),
    };
    let id = format!("video_{}", jobs.start(job.clone()));
    let object = openai_object(&id, &job, jobs.after());
    full(200, "application/json", object.to_string())
}

fn openai_object(id: &str, job: &Job, after: usize) -> Value {
    let mut v = json!({
        "id": id,
        "object": "video",
        "created_at": job.created_at,
        "model": job.model,
        "prompt": job.prompt,
        "seconds": job.seconds,
        "size": job.size,
        "status": "queued",
        "progress": 0,
        "completed_at": null,
        "expires_at": null,
        "error": null,
        "remixed_from_video_id": null,
    });
    if job.polls == 0 {
        return v;
    }
    if !job.done(after) {
        v["status"] = json!("in_progress");
        v["progress"] = json!(100 * job.polls / after.max(1));
    } else if job.fail {
        v["status"] = json!("failed");
        v["error"] =
            json!({"code": "moderation_blocked", "message": "The prompt was blocked (#fail)."});
    } else {
        v["status"] = json!("completed");
        v["progress"] = json!(100);
        v["completed_at"] = json!(job.created_at + 1);
        v["expires_at"] = json!(job.created_at + 86_400);
    }
    v
}

/// `GET /v1/videos/{id}` and `GET /v1/videos/{id}/content` (`rest` is what follows
/// `/v1/videos/`) with `key`.
pub fn openai_get(jobs: &Jobs, key: &str, rest: &str, query: &str) -> Response<FakeBody> {
    let (id, content) = match rest.strip_suffix("/content") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let not_found = || openai_error(404, &format!("Video with id '{id}' not found."), None);
    let Some(short) = id.strip_prefix("video_") else {
        return not_found();
    };
    if !content {
        return match jobs.poll(key, short) {
            Some(job) => full(
                200,
                "application/json",
                openai_object(id, &job, jobs.after()).to_string(),
            ),
            None => not_found(),
        };
    }
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("variant", "video")) => {}
            Some(("variant", v)) => {
                return openai_error(400, &format!("Invalid variant '{v}'."), Some("variant"));
            }
            _ => return openai_error(400, &format!("Unknown query parameter '{kv}'."), None),
        }
    }
    match jobs.get(key, short) {
        Some(job) if job.done(jobs.after()) && !job.fail => {
            streamed(video_bytes(&job.model, &job.prompt))
        }
        Some(_) => openai_error(
            400,
            "Video is not ready yet, use GET /v1/videos/{video_id} to check status.",
            None,
        ),
        None => not_found(),
    }
}

// --- Gemini (Veo) -------------------------------------------------------------------------

fn gemini_error(code: u16, message: &str) -> Response<FakeBody> {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        _ => "INTERNAL",
    };
    full(
        code,
        "application/json; charset=UTF-8",
        json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
    )
}

/// `POST models/{model}:predictLongRunning` with `key`.
pub fn veo_start(jobs: &Jobs, key: &str, model: &str, body: &Value) -> Response<FakeBody> {
    if !model.starts_with("veo-") {
        return gemini_error(
            404,
            &format!(
                "models/{model} is not found for API version v1beta, or is not supported for predictLongRunning."
            ),
        );
    }
    let Some(obj) = body.as_object() else {
        return gemini_error(400, "Invalid JSON payload received.");
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["instances", "parameters"].contains(&k.as_str()))
    {
        return gemini_error(
            400,
            &format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."),
        );
    }
    let instance = match obj.get("instances").and_then(Value::as_array) {
        Some(list) if list.len() == 1 => &list[0],
        _ => return gemini_error(400, "Exactly one instance is required."),
    };
    const INSTANCE: [&str; 5] = ["prompt", "image", "lastFrame", "video", "referenceImages"];
    if let Some(k) = instance
        .as_object()
        .and_then(|o| o.keys().find(|k| !INSTANCE.contains(&k.as_str())))
    {
        return gemini_error(
            400,
            &format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at 'instances[0]': Cannot find field."
            ),
        );
    }
    let Some(prompt) = instance
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    else {
        return gemini_error(400, "A prompt is required.");
    };
    let params = obj.get("parameters").cloned().unwrap_or_else(|| json!({}));
    const PARAMS: [&str; 8] = [
        "aspectRatio",
        "durationSeconds",
        "negativePrompt",
        "personGeneration",
        "resolution",
        "sampleCount",
        "seed",
        "numberOfVideos",
    ];
    let Some(params) = params.as_object() else {
        return gemini_error(400, "`parameters` must be an object.");
    };
    if let Some(k) = params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return gemini_error(
            400,
            &format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at 'parameters': Cannot find field."
            ),
        );
    }
    let seconds = match params.get("durationSeconds") {
        None => 8,
        Some(v) => match v.as_u64().filter(|s| (4..=8).contains(s)) {
            Some(s) => s,
            None => return gemini_error(400, "durationSeconds must be between 4 and 8."),
        },
    };
    let aspect = match params.get("aspectRatio").map(|a| a.as_str()) {
        None => "16:9",
        Some(Some(a)) if a == "16:9" || a == "9:16" => a,
        Some(_) => return gemini_error(400, "aspectRatio must be 16:9 or 9:16."),
    };
    let job = Job {
        key: key.to_owned(),
        model: model.to_owned(),
        prompt: prompt.to_owned(),
        seconds: seconds.to_string(),
        size: aspect.to_owned(),
        created_at: now_secs(),
        polls: 0,
        fail: prompt.contains("#fail"),
    };
    let id = jobs.start(job);
    let name = format!("models/{model}/operations/{id}");
    full(
        200,
        "application/json; charset=UTF-8",
        json!({"name": name}).to_string(),
    )
}

/// `GET models/{model}/operations/{id}` with `key`; `base` is the fake's own `/v1beta` URL,
/// where the video's download URI points.
pub fn veo_operation(
    jobs: &Jobs,
    key: &str,
    model: &str,
    id: &str,
    base: &str,
) -> Response<FakeBody> {
    let name = format!("models/{model}/operations/{id}");
    let Some(job) = jobs.poll(key, id).filter(|j| j.model == model) else {
        return gemini_error(404, &format!("Operation {name} not found."));
    };
    let body = if !job.done(jobs.after()) {
        json!({"name": name})
    } else if job.fail {
        json!({"name": name, "done": true, "error": {"code": 3, "message": "The prompt was blocked (#fail)."}})
    } else {
        json!({
            "name": name,
            "done": true,
            "response": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                "generateVideoResponse": {
                    "generatedSamples": [
                        {"video": {"uri": format!("{base}/files/{id}:download?alt=media")}}
                    ]
                }
            }
        })
    };
    full(200, "application/json; charset=UTF-8", body.to_string())
}

/// `GET files/{id}:download?alt=media` with `key`.
pub fn veo_download(jobs: &Jobs, key: &str, id: &str, query: &str) -> Response<FakeBody> {
    if query != "alt=media" {
        return gemini_error(400, "Downloads take alt=media.");
    }
    match jobs.get(key, id) {
        Some(job) if job.done(jobs.after()) && !job.fail => {
            streamed(video_bytes(&job.model, &job.prompt))
        }
        _ => gemini_error(404, &format!("File files/{id} not found.")),
    }
}
