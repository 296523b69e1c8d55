//! Kiro (AWS CodeWhisperer / Amazon Q Developer behind the Kiro IDE): the executor, the
//! hub <-> Kiro translators, the AWS event-stream decoder, token refresh and the import of
//! an existing Kiro login.
//!
//! Provider options (`[providers.options]`), all optional:
//!
//! | key | default | what |
//! |---|---|---|
//! | `profile_arn` | the account's own | `profileArn` sent with every request |
//! | `origin` | `AI_EDITOR` | `origin` of user messages (`CLI` draws on Amazon Q quota) |
//! | `user_agent` | [`DEFAULT_USER_AGENT`] | `User-Agent` |
//! | `amz_user_agent` | [`DEFAULT_AMZ_USER_AGENT`] | `X-Amz-User-Agent` |
//! | `model.<name>` | see [`DEFAULT_MODELS`] | maps a model name to a Kiro model id |
//! | `allow_unknown_models` | `false` | send unmapped model names as they are |
//! | `social_refresh_url` | [`auth::DEFAULT_SOCIAL_REFRESH_URL`] | social-login refresh |
//! | `oidc_token_url` | [`auth::DEFAULT_OIDC_TOKEN_URL`] | SSO refresh; `{region}` is filled in |
//! | `region` | `us-east-1` | SSO region when the login names none |
//! | `refresh_user_agent` | `KiroIDE` | `User-Agent` of refresh requests |
//!
//! An empty `base_url` means [`DEFAULT_BASE_URL`].
//!
//! Accounts are logins imported from the Kiro IDE (`switchyard import kiro`, registered in
//! [`import`]), renewed through the social or SSO refresh endpoint, or `api_key`s holding
//! an access token (never renewed).

pub mod auth;
pub mod error;
pub mod eventstream;
pub mod import;
pub mod request;
pub mod stream;
pub mod wire;

pub use wire::KIRO;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use switchyard_auth::AuthError;
use switchyard_auth::Credential;
use switchyard_auth::oauth::LoginUi;
use switchyard_hub::{ApiError, Decoder, Format};
use switchyard_provider::executor::{LoginFuture, RefreshFuture, join_url};
use switchyard_provider::request::{post_json, secret_value};
use switchyard_provider::{
    Executor, ExecutorKind, ProviderSettings, UpstreamClient, UpstreamRequest,
};

pub use error::KiroError;
pub use eventstream::EventStreamDecoder;
pub use import::{default_token_path, import_login};

pub const DEFAULT_BASE_URL: &str = "https://codewhisperer.us-east-1.amazonaws.com";
/// What the Kiro IDE's AWS SDK sends; versions drift, so both are options.
pub const DEFAULT_USER_AGENT: &str = "AWS-SDK-JS/3.0.0 kiro-ide/1.0.0";
pub const DEFAULT_AMZ_USER_AGENT: &str = "aws-sdk-js/3.0.0 kiro-ide/1.0.0";
/// The event stream's media type, which Kiro answers `generateAssistantResponse` in.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
/// `X-Amz-Target`: the service operation, as every other client of this service names it.
pub const AMZ_TARGET: &str = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse";

/// Keys of a Kiro credential's `extra` map.
pub mod extra {
    /// The CodeWhisperer profile requests run under (social logins need it).
    pub const PROFILE_ARN: &str = "profile_arn";
    /// `social` or `IdC`, as the Kiro IDE writes it.
    pub const AUTH_METHOD: &str = "auth_method";
    /// `Google`, `Github`, `BuilderId`, ...
    pub const LOGIN_PROVIDER: &str = "provider";
    /// The SSO region (OIDC refresh endpoint).
    pub const REGION: &str = "region";
    pub const START_URL: &str = "start_url";
    /// The SSO OIDC client registration; with both present the refresh is OIDC.
    pub const CLIENT_ID: &str = "client_id";
    pub const CLIENT_SECRET: &str = "client_secret";
}

/// Model names clients use, and the Kiro model ids they mean. Kiro refuses other ids with
/// "Invalid model"; `model.<name>` options add or change entries.
pub const DEFAULT_MODELS: &[(&str, &str)] = &[
    ("auto", "auto"),
    ("claude-sonnet-4.5", "claude-sonnet-4.5"),
    ("claude-sonnet-4-5", "claude-sonnet-4.5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),
    ("claude-sonnet-4", "claude-sonnet-4"),
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-haiku-4.5", "claude-haiku-4.5"),
    ("claude-haiku-4-5", "claude-haiku-4.5"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4.5"),
    ("claude-opus-4.5", "claude-opus-4.5"),
    ("claude-opus-4-5", "claude-opus-4.5"),
    ("claude-opus-4-5-20251101", "claude-opus-4.5"),
    ("claude-sonnet-5", "claude-sonnet-5"),
    ("deepseek-3.2", "deepseek-3.2"),
    ("minimax-m2.5", "minimax-m2.5"),
    ("minimax-m2.1", "minimax-m2.1"),
    ("glm-5", "glm-5"),
    ("qwen3-coder-next", "qwen3-coder-next"),
];

/// Model names to Kiro model ids: the defaults, then the provider's `model.<name>` options.
#[derive(Clone, Debug)]
pub struct ModelMap {
    map: BTreeMap<String, String>,
    allow_unknown: bool,
}

impl ModelMap {
    pub fn from_options(options: &BTreeMap<String, String>) -> Self {
        let mut map: BTreeMap<String, String> = DEFAULT_MODELS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in options {
            if let Some(name) = k.strip_prefix("model.") {
                map.insert(name.to_owned(), v.clone());
            }
        }
        let allow_unknown = options
            .get("allow_unknown_models")
            .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        Self { map, allow_unknown }
    }

    pub fn resolve(&self, model: &str) -> Result<String, ApiError> {
        if let Some(id) = self
            .map
            .get(model)
            .or_else(|| self.map.get(&model.to_ascii_lowercase()))
        {
            return Ok(id.clone());
        }
        if self.allow_unknown {
            return Ok(model.to_owned());
        }
        let mut known: Vec<&str> = self.map.keys().map(String::as_str).collect();
        known.sort_unstable();
        Err(ApiError::invalid_request(format!(
            "Kiro has no model `{model}` (known: {}); map it with the provider option `model.{model}`",
            known.join(", ")
        ))
        .with_code("model_not_found"))
    }
}

#[derive(Debug)]
pub struct KiroExecutor {
    settings: ProviderSettings,
    url: String,
    models: ModelMap,
    endpoints: auth::RefreshEndpoints,
}

impl KiroExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let base = if settings.base_url.trim().is_empty() {
            DEFAULT_BASE_URL
        } else {
            settings.base_url.as_str()
        };
        let url = join_url(base, "generateAssistantResponse");
        let models = ModelMap::from_options(&settings.options);
        let endpoints = auth::RefreshEndpoints::from_options(&settings.options);
        Self {
            settings,
            url,
            models,
            endpoints,
        }
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.settings
            .options
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn headers(&self, credential: &Credential) -> Result<HeaderMap, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static(EVENT_STREAM));
        // Compressed frames would have to be buffered whole to be inflated.
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let text = |v: &str| {
            HeaderValue::from_str(v).map_err(|_| {
                ApiError::internal("a Kiro header option holds characters not allowed in a header")
            })
        };
        h.insert(
            USER_AGENT,
            text(self.option("user_agent").unwrap_or(DEFAULT_USER_AGENT))?,
        );
        h.insert(
            "x-amz-user-agent",
            text(
                self.option("amz_user_agent")
                    .unwrap_or(DEFAULT_AMZ_USER_AGENT),
            )?,
        );
        h.insert("x-amz-target", HeaderValue::from_static(AMZ_TARGET));
        h.insert(
            "amz-sdk-request",
            HeaderValue::from_static("attempt=1; max=1"),
        );
        h.insert(
            "amz-sdk-invocation-id",
            text(&uuid::Uuid::new_v4().to_string())?,
        );
        for (name, value) in &self.settings.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
        h.insert(AUTHORIZATION, secret_value("Bearer ", credential.token())?);
        Ok(h)
    }
}

/// Sets `modelId` and `origin` on every user message of a Kiro body.
fn set_model(body: &mut Value, model: &str, origin: &str) {
    let Some(state) = body
        .get_mut("conversationState")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let set = |m: Option<&mut Value>| {
        if let Some(m) = m.and_then(Value::as_object_mut) {
            m.insert("modelId".into(), model.into());
            m.insert("origin".into(), origin.into());
        }
    };
    if let Some(h) = state.get_mut("history").and_then(Value::as_array_mut) {
        for entry in h {
            set(entry.get_mut("userInputMessage"));
        }
    }
    set(state
        .get_mut("currentMessage")
        .and_then(|c| c.get_mut("userInputMessage")));
}

inventory::submit! {
    ExecutorKind { name: "kiro", create: |s| Arc::new(KiroExecutor::new(s)) }
}

impl Executor for KiroExecutor {
    fn format(&self) -> Format {
        KIRO
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        _stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let id = self.models.resolve(model)?;
        let origin = self.option("origin").unwrap_or(request::DEFAULT_ORIGIN);
        set_model(&mut body, &id, origin);
        let arn = match credential {
            Credential::OAuth { extra: e, .. } => e.get(extra::PROFILE_ARN).map(String::as_str),
            Credential::ApiKey(_) => None,
        }
        .filter(|a| !a.is_empty())
        .or_else(|| self.option("profile_arn"));
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid_request("request body must be a JSON object"))?;
        if let Some(arn) = arn {
            obj.insert("profileArn".into(), arn.into());
        }
        request::check(&body).map_err(|m| {
            ApiError::invalid_request(format!("this request cannot be sent to Kiro: {m}"))
        })?;
        post_json(self.url.clone(), self.headers(credential)?, &body)
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(EventStreamDecoder::default())
    }

    fn always_streams(&self) -> bool {
        true
    }

    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        Box::pin(auth::refresh(&self.endpoints, credential, client))
    }

    fn refresh_lead(&self) -> Duration {
        // Kiro tokens live about an hour; renew with room to spare for long requests.
        Duration::from_secs(600)
    }

    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        let _ = (client, ui);
        Box::pin(async {
            Err(AuthError::Invalid(
                "Kiro accounts come from the Kiro IDE: sign in there, then run `switchyard import kiro` \
                 (or give the account an api_key holding an access token)"
                    .into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_auth::Secret;
    use switchyard_hub::TranslateCtx;

    fn settings(options: &[(&str, &str)]) -> ProviderSettings {
        ProviderSettings {
            name: "kiro".into(),
            base_url: String::new(),
            user_agent: Some("switchyard/0.1.0".into()),
            headers: Default::default(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn body() -> Value {
        let hub = json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"}]});
        let mut ctx = TranslateCtx::new(Format::OpenAi, KIRO, "claude-sonnet-4-5", true);
        request::hub_to_kiro(hub, &mut ctx).unwrap()
    }

    #[test]
    fn builds_the_request_kiro_expects() {
        let exec = KiroExecutor::new(settings(&[("profile_arn", "arn:opt")]));
        let cred = Credential::ApiKey(Secret::new("access-token-123"));
        let req = exec
            .build(body(), "claude-sonnet-4-5", false, &cred)
            .unwrap();
        assert_eq!(
            req.url,
            "https://codewhisperer.us-east-1.amazonaws.com/generateAssistantResponse"
        );
        assert_eq!(req.headers[AUTHORIZATION], "Bearer access-token-123");
        assert!(req.headers[AUTHORIZATION].is_sensitive());
        assert_eq!(req.headers[USER_AGENT], DEFAULT_USER_AGENT);
        assert_eq!(req.headers["x-amz-user-agent"], DEFAULT_AMZ_USER_AGENT);
        assert_eq!(req.headers[ACCEPT], EVENT_STREAM);
        assert_eq!(
            req.headers["x-amz-target"],
            "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
        );
        assert_eq!(req.headers["amz-sdk-invocation-id"].len(), 36);
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(sent["profileArn"], "arn:opt");
        let state = &sent["conversationState"];
        assert_eq!(
            state["currentMessage"]["userInputMessage"]["modelId"],
            "claude-sonnet-4.5"
        );
        assert_eq!(
            state["history"][0]["userInputMessage"]["modelId"],
            "claude-sonnet-4.5"
        );
        assert!(exec.always_streams());
    }

    #[test]
    fn options_and_account_extras_win() {
        let exec = KiroExecutor::new(ProviderSettings {
            base_url: "http://127.0.0.1:1/".into(),
            headers: [("x-extra".to_owned(), "1".to_owned())].into(),
            ..settings(&[
                ("user_agent", "my-agent"),
                ("origin", "CLI"),
                ("model.fast", "claude-haiku-4.5"),
                ("profile_arn", "arn:opt"),
            ])
        });
        let cred = Credential::OAuth {
            access: Secret::new("a"),
            refresh: None,
            expires_at: None,
            extra: [(extra::PROFILE_ARN.to_owned(), "arn:account".to_owned())].into(),
        };
        let req = exec.build(body(), "fast", true, &cred).unwrap();
        assert_eq!(req.url, "http://127.0.0.1:1/generateAssistantResponse");
        assert_eq!(req.headers[USER_AGENT], "my-agent");
        assert_eq!(req.headers["x-extra"], "1");
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(sent["profileArn"], "arn:account");
        let cur = &sent["conversationState"]["currentMessage"]["userInputMessage"];
        assert_eq!(cur["modelId"], "claude-haiku-4.5");
        assert_eq!(cur["origin"], "CLI");
    }

    #[test]
    fn unknown_models_are_refused_before_sending() {
        let exec = KiroExecutor::new(settings(&[]));
        let cred = Credential::ApiKey(Secret::new("a"));
        let err = exec.build(body(), "gpt-4o", true, &cred).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("model.gpt-4o"), "{}", err.message);
        let open = KiroExecutor::new(settings(&[("allow_unknown_models", "true")]));
        assert!(open.build(body(), "gpt-4o", true, &cred).is_ok());
    }

    #[test]
    fn translators_are_registered() {
        let registry = switchyard_hub::Registry::load().unwrap();
        assert!(registry.request(Format::OpenAi, KIRO).is_ok());
        assert!(registry.stream(KIRO, Format::OpenAi).is_ok());
        assert!(
            switchyard_provider::executor::kinds()
                .unwrap()
                .contains_key("kiro")
        );
    }
}
