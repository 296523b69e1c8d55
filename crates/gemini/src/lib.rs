//! The executor for the Gemini API (v1beta generateContent / streamGenerateContent, and
//! embedContent / batchEmbedContents and Imagen's predict beside them), and in
//! [`code_assist`] the one for Gemini Code Assist (`gemini-cli` kind).

pub mod code_assist;
mod envelope;

use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use switchyard_auth::Credential;
use switchyard_hub::{ApiError, Format, Operation};
use switchyard_provider::executor::{FetchesJobs, fetch_url, join_url};
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{Executor, ExecutorKind, ProviderSettings, UpstreamRequest};

#[derive(Debug)]
pub struct GeminiExecutor {
    settings: ProviderSettings,
}

inventory::submit! {
    ExecutorKind { name: "gemini", create: |s| Arc::new(GeminiExecutor { settings: s }) }
}

/// The model goes into the URL path, so it may hold only characters that need no escaping.
pub(crate) fn check_model(model: &str) -> Result<(), ApiError> {
    let ok = !model.is_empty()
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_request(format!(
            "model `{model}` is not a valid Gemini model id"
        )))
    }
}

impl Executor for GeminiExecutor {
    fn format(&self) -> Format {
        Format::Gemini
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        check_model(model)?;
        let obj = object_mut(&mut body)?;
        // Gemini names the model and streaming in the URL and rejects unknown body fields.
        obj.remove("model");
        obj.remove("stream");
        let path = if stream {
            format!("models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("models/{model}:generateContent")
        };
        let headers = self.headers(stream, credential)?;
        post_json(join_url(&self.settings.base_url, &path), headers, &body)
    }

    fn list_models(&self, credential: &Credential) -> Option<Result<UpstreamRequest, ApiError>> {
        // One page of up to 1000 holds every model Google lists today.
        let url = join_url(&self.settings.base_url, "models?pageSize=1000");
        Some(
            self.headers(false, credential)
                .map(|h| switchyard_provider::request::get(url, h)),
        )
    }

    fn counts_tokens(&self) -> bool {
        true
    }

    /// `:countTokens` takes the whole generate request as `generateContentRequest` (so the
    /// system instruction and tools are counted too), naming the model inside it.
    fn build_count(
        &self,
        body: Value,
        model: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        check_model(model)?;
        let body = serde_json::json!({"generateContentRequest": count_request(body, model)?});
        let headers = self.headers(false, credential)?;
        let path = format!("models/{model}:countTokens");
        post_json(join_url(&self.settings.base_url, &path), headers, &body)
    }

    fn serves(&self, op: Operation) -> Option<Format> {
        match op {
            Operation::Chat | Operation::Embeddings | Operation::Images | Operation::Videos => {
                Some(Format::Gemini)
            }
            _ => None,
        }
    }

    fn build_for(
        &self,
        op: Operation,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        check_model(model)?;
        let method = match op {
            Operation::Chat | Operation::Completions => {
                return self.build(body, model, stream, credential);
            }
            Operation::Embeddings => embed_method(&mut body, model)?,
            // Imagen models take `instances` at `:predict`; Gemini image models answer
            // generateContent with image parts.
            Operation::Images if body.get("instances").is_some() => "predict",
            Operation::Images => {
                let obj = object_mut(&mut body)?;
                obj.remove("model");
                "generateContent"
            }
            // Veo: a long-running operation whose name the job polls.
            Operation::Videos => {
                object_mut(&mut body)?.remove("model");
                "predictLongRunning"
            }
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "model `{model}` cannot serve {op}"
                ))
                .with_code("unsupported_endpoint"));
            }
        };
        let headers = self.headers(false, credential)?;
        let path = format!("models/{model}:{method}");
        post_json(join_url(&self.settings.base_url, &path), headers, &body)
    }

    fn job_fetching(&self) -> Option<&dyn FetchesJobs> {
        Some(self)
    }
}

/// Veo's operations and the videos they made.
impl FetchesJobs for GeminiExecutor {
    fn build_fetch(
        &self,
        target: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        self.fetch(target, credential)
    }
}

impl GeminiExecutor {
    /// A GET on the API (an operation's status, a video's bytes) with the account's key.
    fn fetch(&self, target: &str, credential: &Credential) -> Result<UpstreamRequest, ApiError> {
        let mut headers = self.headers(false, credential)?;
        headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("*/*"));
        let url = fetch_url(&self.settings.base_url, target)?;
        Ok(switchyard_provider::request::get(url, headers))
    }

    fn headers(&self, stream: bool, credential: &Credential) -> Result<HeaderMap, ApiError> {
        let mut headers = base_headers(&self.settings, stream);
        match credential {
            Credential::ApiKey(key) => {
                headers.insert("x-goog-api-key", secret_value("", key)?);
            }
            Credential::OAuth { access, .. } => {
                headers.insert(
                    http::header::AUTHORIZATION,
                    secret_value("Bearer ", access)?,
                );
            }
        }
        Ok(headers)
    }
}

/// A generate body (or a client's count body, which may already wrap one in
/// `generateContentRequest`) as the inner request of a count, naming `model`.
pub(crate) fn count_request(mut body: Value, model: &str) -> Result<Value, ApiError> {
    let obj = object_mut(&mut body)?;
    let mut inner = match obj.remove("generateContentRequest") {
        Some(Value::Object(inner)) => inner,
        _ => std::mem::take(obj),
    };
    inner.remove("stream");
    inner.insert("model".into(), Value::String(format!("models/{model}")));
    Ok(Value::Object(inner))
}

/// The embedding method a body is for (a batch of `requests`, or one `content`), with every
/// model it names set to `model`: the API refuses a batch item whose model is not the one in
/// the path, and a client names the model it asked the proxy for (an alias, say).
fn embed_method(body: &mut Value, model: &str) -> Result<&'static str, ApiError> {
    let named = Value::String(format!("models/{model}"));
    let obj = object_mut(body)?;
    if let Some(requests) = obj.get_mut("requests").and_then(Value::as_array_mut) {
        for r in requests.iter_mut().filter_map(Value::as_object_mut) {
            r.insert("model".into(), named.clone());
        }
        return Ok("batchEmbedContents");
    }
    if obj.contains_key("model") {
        obj.insert("model".into(), named);
    }
    Ok("embedContent")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_auth::Secret;

    fn exec() -> GeminiExecutor {
        GeminiExecutor {
            settings: ProviderSettings {
                name: "google".into(),
                base_url: "https://generativelanguage.googleapis.com/v1beta".into(),
                user_agent: None,
                headers: Default::default(),
                options: Default::default(),
            },
        }
    }

    #[test]
    fn model_and_streaming_go_in_the_url() {
        let cred = Credential::ApiKey(Secret::new("AIza-secret-key"));
        let req = exec()
            .build(
                json!({"contents": [], "model": "x", "stream": true}),
                "gemini-2.5-flash",
                true,
                &cred,
            )
            .unwrap();
        assert_eq!(
            req.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(req.headers["x-goog-api-key"], "AIza-secret-key");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert!(body.get("model").is_none() && body.get("stream").is_none());
    }

    #[test]
    fn embeddings_name_the_target_model_in_the_url_and_every_item() {
        let cred = Credential::ApiKey(Secret::new("k"));
        let body =
            json!({"requests": [{"model": "models/alias", "content": {"parts": [{"text": "a"}]}}]});
        let req = exec()
            .build_for(
                Operation::Embeddings,
                body,
                "gemini-embedding-001",
                false,
                &cred,
            )
            .unwrap();
        assert!(
            req.url
                .ends_with("/models/gemini-embedding-001:batchEmbedContents")
        );
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(sent["requests"][0]["model"], "models/gemini-embedding-001");
        let one = json!({"content": {"parts": [{"text": "a"}]}});
        let req = exec()
            .build_for(Operation::Embeddings, one, "e", false, &cred)
            .unwrap();
        assert!(req.url.ends_with("/models/e:embedContent"));
        let predict = json!({"instances": [{"prompt": "a cat"}]});
        let req = exec()
            .build_for(
                Operation::Images,
                predict,
                "imagen-4.0-generate-001",
                false,
                &cred,
            )
            .unwrap();
        assert!(req.url.ends_with("/models/imagen-4.0-generate-001:predict"));
        assert_eq!(exec().serves(Operation::Completions), None);
    }

    #[test]
    fn models_that_would_bend_the_url_are_refused() {
        let cred = Credential::ApiKey(Secret::new("k"));
        for bad in ["a/b", "m?x=1", "m#f", "../x", ""] {
            assert!(exec().build(json!({}), bad, false, &cred).is_err(), "{bad}");
        }
    }
}
