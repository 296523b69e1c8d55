//! The executor for the Gemini API (v1beta generateContent / streamGenerateContent), and
//! in [`code_assist`] the one for Gemini Code Assist (`gemini-cli` kind).

pub mod code_assist;
mod envelope;

use std::sync::Arc;

use serde_json::Value;
use switchyard_auth::Credential;
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
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
        post_json(join_url(&self.settings.base_url, &path), headers, &body)
    }
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
    fn models_that_would_bend_the_url_are_refused() {
        let cred = Credential::ApiKey(Secret::new("k"));
        for bad in ["a/b", "m?x=1", "m#f", "../x", ""] {
            assert!(exec().build(json!({}), bad, false, &cred).is_err(), "{bad}");
        }
    }
}
