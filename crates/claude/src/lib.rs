//! The executor for the Anthropic Messages API, and for Anthropic-compatible endpoints
//! (GLM, Kimi, MiniMax...) by base URL. Accounts use an API key (`x-api-key`) or a Claude
//! Code login (OAuth bearer token with the beta flags and identity headers that login
//! requires; see [`oauth`]).

pub mod oauth;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use switchyard_auth::Credential;
use switchyard_auth::oauth::LoginUi;
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::forward::{ANTHROPIC_BETA, ANTHROPIC_VERSION, merge_flags};
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{
    ClientHeaders, Executor, ExecutorKind, Failure, LoginFuture, ProviderSettings, RefreshFuture,
    UpstreamClient, UpstreamRequest,
};

/// The API version every request names; a provider may override it with an
/// `anthropic-version` entry in its `headers`.
pub const DEFAULT_API_VERSION: &str = "2023-06-01";

/// The beta flags that the body fields of `body` need: the API refuses such a field without
/// its flag ("context_management: Extra inputs are not permitted"). A translated request
/// (an OpenAI client's `reasoning_effort` becomes `output_config.effort`) has no client flags
/// to bring them.
fn body_betas(body: &Map<String, Value>) -> impl Iterator<Item = &'static str> {
    let context = body
        .contains_key("context_management")
        .then_some("context-management-2025-06-27");
    let effort = body
        .get("output_config")
        .and_then(|o| o.get("effort"))
        .is_some()
        .then_some("effort-2025-11-24");
    context.into_iter().chain(effort)
}

/// The fields `count_tokens` takes; the rest of a Messages body is refused there.
const COUNT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
    "context_management",
    "output_config",
];

#[derive(Debug)]
pub struct ClaudeExecutor {
    settings: ProviderSettings,
    url: String,
    count_url: String,
    oauth: oauth::OAuthSettings,
    /// The provider's config names the API version, which then wins over the client's.
    version_configured: bool,
}

impl ClaudeExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, "messages");
        let count_url = join_url(&settings.base_url, "messages/count_tokens");
        let oauth = oauth::OAuthSettings::from(&settings);
        let version_configured = settings
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case(ANTHROPIC_VERSION));
        Self {
            settings,
            url,
            count_url,
            oauth,
            version_configured,
        }
    }

    /// The request to `url` (messages or count_tokens) with the account's credential, the
    /// API version and the beta flags the body's fields need.
    fn send_to(
        &self,
        url: &str,
        mut body: Value,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let obj = object_mut(&mut body)?;
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
                url.to_owned()
            }
            Credential::OAuth { access, .. } => {
                headers.insert(
                    http::header::AUTHORIZATION,
                    secret_value("Bearer ", access)?,
                );
                self.oauth.identity_headers(&mut headers);
                // Claude Code's own requests name the beta surface in the query as well.
                format!("{url}?beta=true")
            }
        };
        merge_flags(&mut headers, ANTHROPIC_BETA, body_betas(obj));
        post_json(url, headers, &body)
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
        self.send_to(&self.url, body, stream, credential)
    }

    fn counts_tokens(&self) -> bool {
        true
    }

    /// `POST /v1/messages/count_tokens` takes the prompt side of a Messages body only: the
    /// generation settings (`max_tokens`, `stream`, sampling) are refused there.
    fn build_count(
        &self,
        mut body: Value,
        model: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let obj = object_mut(&mut body)?;
        obj.retain(|k, _| COUNT_FIELDS.contains(&k.as_str()));
        obj.insert("model".into(), Value::String(model.to_owned()));
        self.send_to(&self.count_url, body, false, credential)
    }

    fn list_models(&self, credential: &Credential) -> Option<Result<UpstreamRequest, ApiError>> {
        let mut headers = base_headers(&self.settings, false);
        if !headers.contains_key("anthropic-version") {
            headers.insert(
                "anthropic-version",
                HeaderValue::from_static(DEFAULT_API_VERSION),
            );
        }
        let secret = match credential {
            Credential::ApiKey(key) => secret_value("", key).map(|v| ("x-api-key", v)),
            Credential::OAuth { access, .. } => {
                self.oauth.identity_headers(&mut headers);
                secret_value("Bearer ", access).map(|v| ("authorization", v))
            }
        };
        Some(secret.map(|(name, v)| {
            headers.insert(name, v);
            // The most Anthropic answers in one page.
            let url = join_url(&self.settings.base_url, "models?limit=1000");
            switchyard_provider::request::get(url, headers)
        }))
    }

    /// Claude Code's flags (`context-management-…`, `effort-…`, `context-1m-…`) join the
    /// provider's and the login's own; the body was written against the client's API version.
    fn forward(&self, client: &ClientHeaders, headers: &mut HeaderMap) {
        merge_flags(headers, ANTHROPIC_BETA, client.flags(ANTHROPIC_BETA));
        if !self.version_configured
            && let Some(v) = client.get_all(ANTHROPIC_VERSION).next()
        {
            headers.insert(ANTHROPIC_VERSION, v.clone());
        }
    }

    fn classify(
        &self,
        model: &str,
        credential: &Credential,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Failure {
        if credential.is_oauth() && oauth::refuses_other_clients(status, &body) {
            return oauth::not_served(&self.settings.name, status);
        }
        let _ = model;
        Failure::from_response(status, headers, body)
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
    fn a_bare_error_refuses_the_client_on_a_login_and_stays_a_rate_limit_on_a_key() {
        use switchyard_provider::failure::FailureClass;
        let login = Credential::OAuth {
            access: Secret::new("sk-ant-oat01-secret"),
            refresh: None,
            expires_at: None,
            extra: Default::default(),
        };
        let key = Credential::ApiKey(Secret::new("sk-ant-api03-secret"));
        let bare = Bytes::from_static(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"Error"}}"#,
        );
        let e = exec(&[]);
        let f = e.classify("m", &login, 429, &HeaderMap::new(), bare.clone());
        assert_eq!(f.class, FailureClass::NotServed);
        assert_eq!(f.error.status, 403);
        assert!(f.upstream_body.is_none());
        let f = e.classify("m", &key, 429, &HeaderMap::new(), bare);
        assert_eq!(f.class, FailureClass::RateLimit);
        let limit = Bytes::from_static(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
        );
        let f = e.classify("m", &login, 429, &HeaderMap::new(), limit);
        assert_eq!(f.class, FailureClass::RateLimit);
        let words = Bytes::from_static(
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"This credential is only authorized for use with Claude Code and cannot be used for other API requests."}}"#,
        );
        let f = e.classify("m", &login, 400, &HeaderMap::new(), words);
        assert_eq!(f.class, FailureClass::NotServed);
    }

    #[test]
    fn body_fields_bring_their_beta_flags() {
        let cred = Credential::ApiKey(Secret::new("sk-ant-api03-secret"));
        let req = exec(&[])
            .build(
                json!({"messages": [], "max_tokens": 5, "output_config": {"effort": "low"},
                    "context_management": {"edits": []}}),
                "m",
                true,
                &cred,
            )
            .unwrap();
        assert_eq!(
            req.headers["anthropic-beta"],
            "context-management-2025-06-27,effort-2025-11-24"
        );
    }

    #[test]
    fn client_flags_join_the_logins_and_the_clients_version_is_kept() {
        let cred = Credential::OAuth {
            access: Secret::new("sk-ant-oat01-secret"),
            refresh: None,
            expires_at: None,
            extra: Default::default(),
        };
        let exec = exec(&[]);
        let mut req = exec
            .build(json!({"messages": [], "max_tokens": 5}), "m", true, &cred)
            .unwrap();
        let mut sent = HeaderMap::new();
        sent.insert(
            "anthropic-beta",
            HeaderValue::from_static("oauth-2025-04-20,effort-2025-11-24"),
        );
        sent.insert("anthropic-version", HeaderValue::from_static("2026-10-21"));
        sent.insert("x-api-key", HeaderValue::from_static("sk-client"));
        exec.forward(
            &ClientHeaders::from_request(Format::Claude, &sent),
            &mut req.headers,
        );
        let beta = req.headers["anthropic-beta"].to_str().unwrap();
        assert_eq!(beta.matches("oauth-2025-04-20").count(), 1, "{beta}");
        assert!(beta.ends_with(",effort-2025-11-24"), "{beta}");
        assert_eq!(req.headers["anthropic-version"], "2026-10-21");
        assert!(req.headers.get("x-api-key").is_none());
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
