//! The executor for the Anthropic Messages API, and for Anthropic-compatible endpoints
//! (GLM, Kimi, MiniMax...) by base URL. Accounts use an API key (`x-api-key`) or a Claude
//! Code login (OAuth bearer token with the beta flags and identity headers that login
//! requires; see [`oauth`]).

pub mod oauth;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde_json::Value;
use switchyard_auth::Credential;
use switchyard_auth::oauth::LoginUi;
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{
    Executor, ExecutorKind, LoginFuture, ProviderSettings, RefreshFuture, UpstreamClient,
    UpstreamRequest,
};

/// The API version every request names; a provider may override it with an
/// `anthropic-version` entry in its `headers`.
pub const DEFAULT_API_VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct ClaudeExecutor {
    settings: ProviderSettings,
    url: String,
    oauth: oauth::OAuthSettings,
}

impl ClaudeExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, "messages");
        let oauth = oauth::OAuthSettings::from(&settings);
        Self {
            settings,
            url,
            oauth,
        }
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
        let url = match credential {
            Credential::ApiKey(key) => {
                headers.insert("x-api-key", secret_value("", key)?);
                self.url.clone()
            }
            Credential::OAuth { access, .. } => {
                headers.insert(
                    http::header::AUTHORIZATION,
                    secret_value("Bearer ", access)?,
                );
                self.oauth.identity_headers(&mut headers);
                // Claude Code's own requests name the beta surface in the query as well.
                format!("{}?beta=true", self.url)
            }
        };
        post_json(url, headers, &body)
    }

    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        Box::pin(oauth::refresh(&self.oauth, credential, client))
    }

    fn refresh_lead(&self) -> Duration {
        self.oauth.refresh_lead
    }

    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        Box::pin(oauth::login(&self.oauth, client, ui))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_auth::Secret;

    fn exec(options: &[(&str, &str)]) -> ClaudeExecutor {
        ClaudeExecutor::new(ProviderSettings {
            name: "anthropic".into(),
            base_url: "https://api.anthropic.com/v1".into(),
            user_agent: Some("switchyard/0.1".into()),
            headers: Default::default(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    #[test]
    fn api_key_requests_carry_version_and_key() {
        let cred = Credential::ApiKey(Secret::new("sk-ant-api03-secret"));
        let req = exec(&[])
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
        assert!(req.headers.get("anthropic-beta").is_none());
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "claude-sonnet-4-5");
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn oauth_requests_carry_bearer_betas_and_identity() {
        let cred = Credential::OAuth {
            access: Secret::new("sk-ant-oat01-secret"),
            refresh: None,
            expires_at: None,
            extra: Default::default(),
        };
        let req = exec(&[("oauth_user_agent", "claude-cli/9.9.9 (external, cli)")])
            .build(json!({"messages": [], "max_tokens": 5}), "m", false, &cred)
            .unwrap();
        assert_eq!(req.url, "https://api.anthropic.com/v1/messages?beta=true");
        assert_eq!(req.headers["authorization"], "Bearer sk-ant-oat01-secret");
        assert!(req.headers.get("x-api-key").is_none());
        let beta = req.headers["anthropic-beta"].to_str().unwrap();
        assert!(beta.split(',').any(|b| b == "oauth-2025-04-20"), "{beta}");
        assert_eq!(
            req.headers["user-agent"],
            "claude-cli/9.9.9 (external, cli)"
        );
        assert_eq!(req.headers["x-app"], "cli");
        assert_eq!(
            req.headers["anthropic-dangerous-direct-browser-access"],
            "true"
        );
    }
}
