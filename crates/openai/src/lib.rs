//! The executor for any OpenAI-compatible chat completions endpoint (OpenAI, OpenRouter,
//! Groq, Cerebras, a local server...).

use std::sync::Arc;

use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use switchyard_auth::Credential;
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::{Executor, ExecutorKind, ProviderSettings, UpstreamRequest};

#[derive(Debug)]
pub struct OpenAiExecutor {
    settings: ProviderSettings,
    url: String,
}

impl OpenAiExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, "chat/completions");
        Self { settings, url }
    }
}

inventory::submit! {
    ExecutorKind { name: "openai", create: |s| Arc::new(OpenAiExecutor::new(s)) }
}

impl Executor for OpenAiExecutor {
    fn format(&self) -> Format {
        Format::OpenAi
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid_request("request body must be a JSON object"))?;
        obj.insert("model".into(), Value::String(model.to_owned()));
        if stream {
            obj.insert("stream".into(), Value::Bool(true));
            // Usage arrives only when asked for; the server hides the extra chunk from
            // clients that did not ask.
            let opts = obj.entry("stream_options").or_insert_with(|| json!({}));
            if let Some(opts) = opts.as_object_mut() {
                opts.insert("include_usage".into(), Value::Bool(true));
            }
        }

        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", credential.token().expose());
        let mut auth = HeaderValue::from_str(&bearer).map_err(|_| {
            ApiError::internal("account key contains characters not allowed in a header")
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        // Compressed SSE would have to be buffered to be decoded; plain bytes stream as they come.
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        if let Some(ua) = &self.settings.user_agent
            && let Ok(v) = HeaderValue::from_str(ua)
        {
            headers.insert(USER_AGENT, v);
        }
        for (name, value) in &self.settings.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        let body = serde_json::to_vec(&body)
            .map_err(|e| ApiError::internal(format!("could not encode request: {e}")))?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.url.clone(),
            headers,
            body: body.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_auth::Secret;

    fn exec() -> OpenAiExecutor {
        OpenAiExecutor::new(ProviderSettings {
            name: "groq".into(),
            base_url: "http://127.0.0.1:9/openai/v1/".into(),
            user_agent: Some("switchyard/0.1".into()),
            headers: [("x-title".to_owned(), "switchyard".to_owned())].into(),
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
        assert_eq!(req.headers[ACCEPT_ENCODING], "identity");
        assert_eq!(req.headers["x-title"], "switchyard");
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "llama-3.3-70b");
        assert_eq!(body["stream_options"]["include_usage"], true);
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
    }
}
