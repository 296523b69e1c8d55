//! The executor for any OpenAI-compatible endpoint (OpenAI, OpenRouter, Groq, Cerebras, a
//! local server...), speaking chat completions or the Responses API, and beside them the
//! other OpenAI endpoints of the same base URL (embeddings, legacy completions, images,
//! speech, transcriptions, image edits), whose bodies go out as the client wrote them with
//! only the model named anew.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method};
use serde_json::{Value, json};
use switchyard_auth::Credential;
use switchyard_hub::{ApiError, Format, Operation};
use switchyard_provider::executor::{FetchesJobs, StoresResponses, fetch_url, join_url};
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{Executor, ExecutorKind, ProviderSettings, UpstreamRequest};

/// Chat completions (`openai` kind) or the Responses API (`openai-responses` kind): the same
/// authentication and body rules, a different path and wire format.
#[derive(Debug)]
pub struct OpenAiExecutor {
    settings: ProviderSettings,
    format: Format,
    url: String,
}

impl OpenAiExecutor {
    pub fn chat(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, "chat/completions");
        Self {
            settings,
            format: Format::OpenAi,
            url,
        }
    }

    pub fn responses(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, "responses");
        Self {
            settings,
            format: Format::Responses,
            url,
        }
    }
}

inventory::submit! {
    ExecutorKind { name: "openai", create: |s| Arc::new(OpenAiExecutor::chat(s)) }
}

inventory::submit! {
    ExecutorKind { name: "openai-responses", create: |s| Arc::new(OpenAiExecutor::responses(s)) }
}

impl Executor for OpenAiExecutor {
    fn format(&self) -> Format {
        self.format
    }

    fn response_store(&self) -> Option<&dyn StoresResponses> {
        (self.format == Format::Responses).then_some(self as &dyn StoresResponses)
    }

    fn job_fetching(&self) -> Option<&dyn FetchesJobs> {
        Some(self)
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let obj = object_mut(&mut body)?;
        obj.insert("model".into(), Value::String(model.to_owned()));
        obj.insert("stream".into(), Value::Bool(stream));
        if stream && self.format == Format::OpenAi {
            // Usage arrives only when asked for; the server hides the extra chunk from
            // clients that did not ask.
            let opts = obj.entry("stream_options").or_insert_with(|| json!({}));
            if let Some(opts) = opts.as_object_mut() {
                opts.insert("include_usage".into(), Value::Bool(true));
            }
        }
        if self.format == Format::OpenAi {
            strip_hub_extensions(obj);
        }
        let mut headers = base_headers(&self.settings, stream);
        // A local server may want no key at all.
        if !credential.token().is_empty() {
            headers.insert(AUTHORIZATION, secret_value("Bearer ", credential.token())?);
        }
        post_json(self.url.clone(), headers, &body)
    }

    fn list_models(&self, credential: &Credential) -> Option<Result<UpstreamRequest, ApiError>> {
        let mut headers = base_headers(&self.settings, false);
        if !credential.token().is_empty() {
            match secret_value("Bearer ", credential.token()) {
                Ok(v) => {
                    headers.insert(AUTHORIZATION, v);
                }
                Err(e) => return Some(Err(e)),
            }
        }
        let url = join_url(&self.settings.base_url, "models");
        Some(Ok(switchyard_provider::request::get(url, headers)))
    }

    fn serves(&self, op: Operation) -> Option<Format> {
        Some(match op {
            Operation::Chat => self.format,
            Operation::Completions => Format::Completions,
            Operation::Embeddings
            | Operation::Images
            | Operation::Speech
            | Operation::Transcriptions
            | Operation::Translations
            | Operation::ImageEdits
            | Operation::Videos => Format::OpenAi,
        })
    }

    fn build_for(
        &self,
        op: Operation,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let path = match op {
            Operation::Chat => return self.build(body, model, stream, credential),
            Operation::Completions => "completions",
            Operation::Embeddings => "embeddings",
            Operation::Images => "images/generations",
            Operation::Videos => "videos",
            _ => {
                return Err(ApiError::internal(format!(
                    "{op} goes upstream as bytes, not as JSON"
                )));
            }
        };
        let obj = object_mut(&mut body)?;
        obj.insert("model".into(), Value::String(model.to_owned()));
        if op == Operation::Completions {
            obj.insert("stream".into(), Value::Bool(stream));
            if stream {
                // As for chat: usage arrives only when asked for, and the server hides the
                // extra chunk from clients that did not ask.
                let opts = obj.entry("stream_options").or_insert_with(|| json!({}));
                if let Some(opts) = opts.as_object_mut() {
                    opts.insert("include_usage".into(), Value::Bool(true));
                }
            }
        }
        let mut headers = base_headers(&self.settings, stream);
        if !credential.token().is_empty() {
            headers.insert(AUTHORIZATION, secret_value("Bearer ", credential.token())?);
        }
        post_json(join_url(&self.settings.base_url, path), headers, &body)
    }

    fn build_raw(
        &self,
        op: Operation,
        model: &str,
        content_type: &HeaderValue,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let path = match op {
            Operation::Speech => "audio/speech",
            Operation::Transcriptions => "audio/transcriptions",
            Operation::Translations => "audio/translations",
            Operation::ImageEdits => "images/edits",
            _ => {
                return Err(ApiError::internal(format!(
                    "{op} for `{model}` goes upstream as JSON"
                )));
            }
        };
        self.raw_head(path, content_type, credential)
    }
}

/// OpenAI's Responses API keeps what it answered (`store` on).
impl StoresResponses for OpenAiExecutor {}

/// OpenAI's videos: their status and their bytes.
impl FetchesJobs for OpenAiExecutor {
    fn build_fetch(
        &self,
        target: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let mut headers = base_headers(&self.settings, false);
        // A video's content is MP4 bytes, its status JSON.
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        if !credential.token().is_empty() {
            headers.insert(AUTHORIZATION, secret_value("Bearer ", credential.token())?);
        }
        let url = fetch_url(&self.settings.base_url, target)?;
        Ok(switchyard_provider::request::get(url, headers))
    }
}

impl OpenAiExecutor {
    /// The head of a request to `path` for an endpoint whose body is passed through.
    fn raw_head(
        &self,
        path: &str,
        content_type: &HeaderValue,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let mut headers = base_headers(&self.settings, false);
        headers.insert(CONTENT_TYPE, content_type.clone());
        // Speech answers with audio bytes, transcriptions with text, SRT or JSON.
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        if !credential.token().is_empty() {
            headers.insert(AUTHORIZATION, secret_value("Bearer ", credential.token())?);
        }
        Ok(UpstreamRequest {
            method: Method::POST,
            url: join_url(&self.settings.base_url, path),
            headers,
            body: Bytes::new(),
        })
    }
}

/// Removes the hub's own message fields (thinking signatures carried between other formats),
/// which no OpenAI-compatible server knows and strict ones reject.
fn strip_hub_extensions(body: &mut serde_json::Map<String, Value>) {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for m in messages.iter_mut().filter_map(Value::as_object_mut) {
        m.remove("reasoning_signature");
        m.remove("redacted_reasoning");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_auth::Secret;

    fn exec() -> OpenAiExecutor {
        OpenAiExecutor::chat(ProviderSettings {
            name: "groq".into(),
            base_url: "http://127.0.0.1:9/openai/v1/".into(),
            user_agent: Some("switchyard/0.1".into()),
            headers: [("x-title".to_owned(), "switchyard".to_owned())].into(),
            options: Default::default(),
        })
    }

    #[test]
    fn builds_a_streaming_request_that_asks_for_usage() {
        let cred = Credential::ApiKey(Secret::new("gsk-secret-value-123"));
        let req = exec()
            .build(
                json!({"model": "alias", "messages": [], "stream": true}),
                "llama-3.3-70b",
                true,
                &cred,
            )
            .unwrap();
        assert_eq!(req.url, "http://127.0.0.1:9/openai/v1/chat/completions");
        assert_eq!(req.headers[AUTHORIZATION], "Bearer gsk-secret-value-123");
        assert!(req.headers[AUTHORIZATION].is_sensitive());
        assert_eq!(req.headers["accept-encoding"], "identity");
        assert_eq!(req.headers["x-title"], "switchyard");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "llama-3.3-70b");
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn hub_only_fields_do_not_reach_the_upstream() {
        let cred = Credential::ApiKey(Secret::new("k"));
        let body = json!({"messages": [{"role": "assistant", "content": "x", "reasoning_content": "r",
            "reasoning_signature": "sig", "redacted_reasoning": "opaque"}]});
        let req = exec().build(body, "m", false, &cred).unwrap();
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            sent["messages"][0],
            json!({"role": "assistant", "content": "x", "reasoning_content": "r"})
        );
    }

    #[test]
    fn non_streaming_request_is_left_alone() {
        let cred = Credential::ApiKey(Secret::new("k"));
        let req = exec()
            .build(json!({"model": "m", "messages": []}), "m2", false, &cred)
            .unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "m2");
        assert!(body.get("stream_options").is_none());
        assert_eq!(body["stream"], false);
    }

    #[test]
    fn other_operations_go_to_their_own_paths_with_the_model_named() {
        let cred = Credential::ApiKey(Secret::new("k"));
        let req = exec()
            .build_for(
                Operation::Embeddings,
                json!({"model": "alias", "input": "hi"}),
                "text-embedding-3-small",
                false,
                &cred,
            )
            .unwrap();
        assert_eq!(req.url, "http://127.0.0.1:9/openai/v1/embeddings");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": "hi"})
        );
        let req = exec()
            .build_for(
                Operation::Completions,
                json!({"prompt": "a"}),
                "m",
                true,
                &cred,
            )
            .unwrap();
        assert_eq!(req.url, "http://127.0.0.1:9/openai/v1/completions");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(
            exec().serves(Operation::Completions),
            Some(Format::Completions)
        );
    }

    #[test]
    fn responses_kind_posts_to_responses_without_stream_options() {
        let cred = Credential::ApiKey(Secret::new("sk-abc-123456789"));
        let settings = ProviderSettings {
            name: "oa".into(),
            base_url: "https://api.openai.com/v1".into(),
            user_agent: None,
            headers: Default::default(),
            options: Default::default(),
        };
        let req = OpenAiExecutor::responses(settings)
            .build(json!({"input": "hi"}), "gpt-5", true, &cred)
            .unwrap();
        assert_eq!(req.url, "https://api.openai.com/v1/responses");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "gpt-5");
        assert!(body.get("stream_options").is_none());
    }
}
