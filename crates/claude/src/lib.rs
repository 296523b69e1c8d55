//! The executor for the Anthropic Messages API, and for Anthropic-compatible endpoints
//! (GLM, Kimi, MiniMax...) by base URL.

use std::sync::Arc;

use http::HeaderValue;
use serde_json::Value;
use switchyard_auth::Credential;
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{Executor, ExecutorKind, ProviderSettings, UpstreamRequest};

/// The API version every request names; a provider may override it with an
/// `anthropic-version` entry in its `headers`.
pub const DEFAULT_API_VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct ClaudeExecutor {
    settings: ProviderSettings,
    url: String,
}

impl ClaudeExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, "messages");
        Self { settings, url }
    }
}

inventory::submit! {
    ExecutorKind { name: "claude", create: |s| Arc::new(ClaudeExecutor::new(s)) }
}

impl Executor for ClaudeExecutor {
    fn format(&self) -> Format {
        Format::Claude
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
        let mut headers = base_headers(&self.settings, stream);
        if !headers.contains_key("anthropic-version") {
            headers.insert(
                "anthropic-version",
                HeaderValue::from_static(DEFAULT_API_VERSION),
            );
        }
        match credential {
            Credential::ApiKey(key) => {
                headers.insert("x-api-key", secret_value("", key)?);
            }
            Credential::OAuth { access, .. } => {
                headers.insert(
                    http::header::AUTHORIZATION,
                    secret_value("Bearer ", access)?,
                );
            }
        }
        post_json(self.url.clone(), headers, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_auth::Secret;

    #[test]
    fn api_key_requests_carry_version_and_key() {
        let exec = ClaudeExecutor::new(ProviderSettings {
            name: "anthropic".into(),
            base_url: "https://api.anthropic.com/v1".into(),
            user_agent: None,
            headers: Default::default(),
            options: Default::default(),
        });
        let cred = Credential::ApiKey(Secret::new("sk-ant-api03-secret"));
        let req = exec
            .build(
                json!({"messages": [], "max_tokens": 5}),
                "claude-sonnet-4-5",
                true,
                &cred,
            )
            .unwrap();
        assert_eq!(req.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(req.headers["x-api-key"], "sk-ant-api03-secret");
        assert!(req.headers["x-api-key"].is_sensitive());
        assert_eq!(req.headers["anthropic-version"], DEFAULT_API_VERSION);
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "claude-sonnet-4-5");
        assert_eq!(body["stream"], true);
    }
}
