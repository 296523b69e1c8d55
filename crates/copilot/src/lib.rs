//! The executor for GitHub Copilot. An account is a GitHub login (device flow); the GitHub
//! token is traded for a short-lived Copilot token, renewed before it expires. Requests go to
//! chat completions, except for models the upstream says it serves only on `/responses`:
//! the first such 400 is remembered per model and the request is sent there instead.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use switchyard_auth::oauth::{self as flow, DeviceApp, LoginUi};
use switchyard_auth::{AuthError, Credential, Secret};
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::failure::reset_hint;
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{
    Executor, ExecutorKind, Failure, LearnsEndpoint, LoginFuture, LoginOutcome, ProviderSettings,
    RefreshError, RefreshFuture, UpstreamClient, UpstreamRequest,
};

pub const GITHUB_URL: &str = "https://github.com";
pub const GITHUB_API_URL: &str = "https://api.github.com";
pub const CLIENT_ID: &str = "Iv1.b507a08c87ecfe98";
pub const EDITOR_VERSION: &str = "vscode/1.110.0";
pub const EDITOR_PLUGIN_VERSION: &str = "copilot-chat/0.38.0";
pub const USER_AGENT: &str = "GitHubCopilotChat/0.38.0";
pub const API_VERSION: &str = "2025-04-01";
pub const INTEGRATION_ID: &str = "vscode-chat";

/// What the upstream says when a model is not served on the endpoint it was asked on.
const CHAT_UNSUPPORTED: &[&str] = &[
    "not accessible via the /chat/completions endpoint",
    "unsupported_api_for_model",
    "The requested model is not supported",
];
const RESPONSES_UNSUPPORTED: &[&str] = &["does not support Responses API"];

#[derive(Debug)]
pub struct CopilotExecutor {
    settings: ProviderSettings,
    github_url: String,
    github_api_url: String,
    client_id: String,
    editor_version: String,
    editor_plugin_version: String,
    user_agent: String,
    api_version: String,
    integration_id: String,
    refresh_lead: Duration,
    /// Models the upstream serves only on `/responses`, learned from its answers.
    responses_models: Mutex<HashSet<String>>,
}

impl CopilotExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let seeded = settings
            .option("responses_models", "")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        CopilotExecutor {
            github_url: settings.option("github_url", GITHUB_URL),
            github_api_url: settings.option("github_api_url", GITHUB_API_URL),
            client_id: settings.option("client_id", CLIENT_ID),
            editor_version: settings.option("editor_version", EDITOR_VERSION),
            editor_plugin_version: settings.option("editor_plugin_version", EDITOR_PLUGIN_VERSION),
            user_agent: settings.option("copilot_user_agent", USER_AGENT),
            api_version: settings.option("api_version", API_VERSION),
            integration_id: settings.option("integration_id", INTEGRATION_ID),
            refresh_lead: settings.option_secs("refresh_lead_secs", Duration::from_secs(300)),
            responses_models: Mutex::new(seeded),
            settings,
        }
    }

    fn on_responses(&self, model: &str) -> bool {
        self.responses_models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(model)
    }

    fn remember(&self, model: &str, responses: bool) {
        let mut set = self
            .responses_models
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let changed = if responses {
            set.insert(model.to_owned())
        } else {
            set.remove(model)
        };
        if changed {
            let to = if responses {
                "/responses"
            } else {
                "/chat/completions"
            };
            tracing::info!(provider = %self.settings.name, model, "model is served on {to}; remembered");
        }
    }

    /// The editor identity Copilot's endpoints require.
    fn editor_headers(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set("user-agent", &self.user_agent);
        set("editor-version", &self.editor_version);
        set("editor-plugin-version", &self.editor_plugin_version);
        set("x-github-api-version", &self.api_version);
    }

    /// Trades the GitHub token for a Copilot token.
    async fn exchange(
        &self,
        github: &Secret,
        previous: Option<&Credential>,
        client: &UpstreamClient,
    ) -> Result<Credential, RefreshError> {
        let url = join_url(&self.github_api_url, "copilot_internal/v2/token");
        let mut headers = HeaderMap::new();
        self.editor_headers(&mut headers);
        let mut req = http::Request::get(&url)
            .header("accept", "application/json")
            .header(
                "authorization",
                secret_value("token ", github).map_err(|e| RefreshError::Transient(e.message))?,
            );
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Vec::new())
            .map_err(|e| RefreshError::Transient(e.to_string()))?;
        let res = client
            .fetch(req)
            .await
            .map_err(|e| RefreshError::Transient(format!("cannot reach {url}: {e}")))?;
        let status = res.status().as_u16();
        let v: Value = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let msg = v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_owned();
            return Err(match status {
                401 | 403 | 404 => RefreshError::Terminal(format!(
                    "GitHub refused the Copilot token ({status}: {msg}); log in again or check the Copilot subscription"
                )),
                _ => RefreshError::Transient(format!(
                    "Copilot token exchange answered {status}: {msg}"
                )),
            });
        }
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RefreshError::Transient("Copilot token answer has no token".into()))?;
        let expires_at = v
            .get("expires_at")
            .and_then(Value::as_u64)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or_else(|| switchyard_hub::clock::now() + Duration::from_secs(25 * 60));
        let mut extra = match previous {
            Some(Credential::OAuth { extra, .. }) => extra.clone(),
            _ => Default::default(),
        };
        if let Some(api) = v.pointer("/endpoints/api").and_then(Value::as_str) {
            extra.insert("api_base".to_owned(), api.to_owned());
        }
        Ok(Credential::OAuth {
            access: Secret::new(token),
            refresh: Some(github.clone()),
            expires_at: Some(expires_at),
            extra,
        })
    }

    async fn login_flow(
        &self,
        client: &UpstreamClient,
        ui: &LoginUi,
    ) -> Result<LoginOutcome, AuthError> {
        let app = DeviceApp {
            client_id: self.client_id.clone(),
            device_url: join_url(&self.github_url, "login/device/code"),
            token_url: join_url(&self.github_url, "login/oauth/access_token"),
            scopes: vec!["read:user".into()],
        };
        let code = flow::device_start(&app, client).await?;
        ui.prompt(flow::LoginPrompt::DeviceCode {
            user_code: code.user_code.clone(),
            verification_uri: code.verification_uri.clone(),
            verification_uri_complete: code.verification_uri_complete.clone(),
            expires_in: code.expires_in,
        });
        ui.say(&format!(
            "Open {} and enter the code {}",
            code.verification_uri, code.user_code
        ));
        ui.open(&code.verification_uri);
        ui.say("Waiting for GitHub to approve the login ...");
        let tokens = flow::device_poll(&app, client, &code).await?;
        let credential =
            self.exchange(&tokens.access, None, client)
                .await
                .map_err(|e| match e {
                    RefreshError::Terminal(m) => AuthError::Invalid(m),
                    other => AuthError::Transient(other.to_string()),
                })?;
        let label = self.github_user(&tokens.access, client).await;
        Ok(LoginOutcome { credential, label })
    }

    /// The GitHub login name, to name the account.
    async fn github_user(&self, github: &Secret, client: &UpstreamClient) -> Option<String> {
        let req = http::Request::get(join_url(&self.github_api_url, "user"))
            .header("accept", "application/json")
            .header("user-agent", &self.user_agent)
            .header("authorization", secret_value("token ", github).ok()?)
            .body(Vec::new())
            .ok()?;
        let res = client.fetch(req).await.ok()?;
        let v: Value = serde_json::from_slice(res.body()).ok()?;
        v.get("login").and_then(Value::as_str).map(str::to_owned)
    }
}

inventory::submit! {
    ExecutorKind { name: "copilot", create: |s| Arc::new(CopilotExecutor::new(s)) }
}

/// Whether the conversation's last turn is the user's own (Copilot counts those).
fn initiator(body: &Value) -> &'static str {
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .or_else(|| {
            body.get("input")
                .and_then(Value::as_array)
                .and_then(|i| i.last())
        });
    match last {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("user") => "user",
        Some(_) => "agent",
        None => "user",
    }
}

/// Whether a chat or Responses body holds an image: a chat message's `image_url` part, or a
/// Responses `input_image` in a message or in a tool's output.
fn holds_image(body: &Value) -> bool {
    let is_image = |part: &Value| {
        matches!(
            part.get("type").and_then(Value::as_str),
            Some("image_url" | "input_image")
        )
    };
    let parts_hold_image = |v: Option<&Value>| {
        v.and_then(Value::as_array)
            .is_some_and(|parts| parts.iter().any(is_image))
    };
    ["messages", "input"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_array))
        .flatten()
        .any(|item| parts_hold_image(item.get("content")) || parts_hold_image(item.get("output")))
}

/// Models that take `max_completion_tokens` instead of `max_tokens`.
fn wants_max_completion_tokens(model: &str) -> bool {
    ["gpt-5", "o1", "o3", "o4"]
        .iter()
        .any(|p| model.starts_with(p))
}

/// Copilot serves some models (`gpt-5-codex`) only on its Responses endpoint, and says so
/// in a 400 that [`Executor::classify`] reads.
impl LearnsEndpoint for CopilotExecutor {
    fn format_for(&self, model: &str) -> Format {
        if self.on_responses(model) {
            Format::Responses
        } else {
            Format::OpenAi
        }
    }

    fn restore(&self, model: &str, format: Format) {
        self.remember(model, format == Format::Responses);
    }
}

impl Executor for CopilotExecutor {
    fn format(&self) -> Format {
        Format::OpenAi
    }

    fn endpoint_learning(&self) -> Option<&dyn LearnsEndpoint> {
        Some(self)
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let who = initiator(&body);
        let vision = holds_image(&body);
        let responses = body.get("input").is_some() && body.get("messages").is_none();
        let obj = object_mut(&mut body)?;
        obj.insert("model".into(), Value::String(model.to_owned()));
        obj.insert("stream".into(), Value::Bool(stream));
        let path = if responses {
            "responses"
        } else {
            if stream {
                let opts = obj.entry("stream_options").or_insert_with(|| json!({}));
                if let Some(opts) = opts.as_object_mut() {
                    opts.insert("include_usage".into(), Value::Bool(true));
                }
            }
            if wants_max_completion_tokens(model)
                && let Some(max) = obj.remove("max_tokens")
            {
                obj.entry("max_completion_tokens").or_insert(max);
            }
            if let Some(messages) = obj.get_mut("messages").and_then(Value::as_array_mut) {
                for m in messages.iter_mut().filter_map(Value::as_object_mut) {
                    m.remove("reasoning_signature");
                    m.remove("redacted_reasoning");
                }
            }
            "chat/completions"
        };
        let base = credential
            .extra("api_base")
            .unwrap_or(&self.settings.base_url);
        let mut headers = base_headers(&self.settings, stream);
        headers.insert(
            http::header::AUTHORIZATION,
            secret_value("Bearer ", credential.token())?,
        );
        self.editor_headers(&mut headers);
        let request_id = uuid::Uuid::new_v4().to_string();
        for (name, value) in [
            ("copilot-integration-id", self.integration_id.as_str()),
            ("openai-intent", "conversation-panel"),
            ("x-request-id", request_id.as_str()),
            ("x-initiator", who),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        if vision {
            // Without it Copilot refuses any request with an image: "missing required
            // Copilot-Vision-Request header for vision requests".
            headers.insert("copilot-vision-request", HeaderValue::from_static("true"));
        }
        post_json(join_url(base, path), headers, &body)
    }

    fn list_models(&self, credential: &Credential) -> Option<Result<UpstreamRequest, ApiError>> {
        let base = credential
            .extra("api_base")
            .unwrap_or(&self.settings.base_url);
        let mut headers = base_headers(&self.settings, false);
        match secret_value("Bearer ", credential.token()) {
            Ok(v) => {
                headers.insert(http::header::AUTHORIZATION, v);
            }
            Err(e) => return Some(Err(e)),
        }
        self.editor_headers(&mut headers);
        if let Ok(v) = HeaderValue::from_str(&self.integration_id) {
            headers.insert("copilot-integration-id", v);
        }
        Some(Ok(switchyard_provider::request::get(
            join_url(base, "models"),
            headers,
        )))
    }

    fn classify(
        &self,
        model: &str,
        _credential: &Credential,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Failure {
        if status == 400 {
            let text = String::from_utf8_lossy(&body);
            if self.on_responses(model) {
                if RESPONSES_UNSUPPORTED.iter().any(|s| text.contains(s)) {
                    self.remember(model, false);
                }
            } else if CHAT_UNSUPPORTED.iter().any(|s| text.contains(s)) {
                self.remember(model, true);
            }
        }
        Failure::from_status(status, body, reset_hint(headers, &[]))
    }

    fn needs_refresh(&self, credential: &Credential) -> bool {
        credential.is_oauth()
            && (credential.token().is_empty()
                || credential.expires_at().is_none()
                || credential.expires_within(self.refresh_lead))
    }

    fn refresh_lead(&self) -> Duration {
        self.refresh_lead
    }

    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        Box::pin(async move {
            let github = credential
                .refresh_token()
                .ok_or(RefreshError::NotSupported)?;
            self.exchange(github, Some(credential), client).await
        })
    }

    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        Box::pin(self.login_flow(client, ui))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec() -> CopilotExecutor {
        CopilotExecutor::new(ProviderSettings {
            name: "copilot".into(),
            base_url: "https://api.githubcopilot.com".into(),
            user_agent: Some("switchyard/0.1".into()),
            headers: Default::default(),
            options: Default::default(),
        })
    }

    fn cred() -> Credential {
        Credential::OAuth {
            access: Secret::new("tid=copilot-secret"),
            refresh: Some(Secret::new("gho_github")),
            expires_at: None,
            extra: [(
                "api_base".to_owned(),
                "https://api.individual.githubcopilot.com".to_owned(),
            )]
            .into(),
        }
    }

    #[test]
    fn chat_requests_carry_editor_headers() {
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9});
        let req = exec().build(body, "gpt-5-mini", true, &cred()).unwrap();
        assert_eq!(
            req.url,
            "https://api.individual.githubcopilot.com/chat/completions"
        );
        assert_eq!(req.headers["authorization"], "Bearer tid=copilot-secret");
        assert_eq!(req.headers["copilot-integration-id"], INTEGRATION_ID);
        assert_eq!(req.headers["editor-version"], EDITOR_VERSION);
        assert_eq!(req.headers["x-initiator"], "user");
        let b: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(b["max_completion_tokens"], 9);
        assert!(b.get("max_tokens").is_none());
    }

    #[test]
    fn images_are_found_in_chat_and_responses_bodies() {
        assert!(holds_image(
            &json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]})
        ));
        assert!(holds_image(
            &json!({"input": [{"type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,AA"}]}]})
        ));
        assert!(holds_image(
            &json!({"input": [{"type": "function_call_output", "call_id": "c",
            "output": [{"type": "input_image", "image_url": "data:image/png;base64,AA"}]}]})
        ));
        assert!(!holds_image(
            &json!({"messages": [{"role": "user", "content": "an image_url"}]})
        ));
        assert!(!holds_image(&json!({"input": "hi"})));
    }

    #[test]
    fn a_chat_refusal_moves_the_model_to_responses() {
        let e = exec();
        assert_eq!(e.format_for("gpt-5-codex"), Format::OpenAi);
        let body = br#"{"error":{"message":"model \"gpt-5-codex\" is not accessible via the /chat/completions endpoint","code":"unsupported_api_for_model"}}"#;
        let f = e.classify(
            "gpt-5-codex",
            &cred(),
            400,
            &HeaderMap::new(),
            Bytes::from_static(body),
        );
        assert!(!f.fallback());
        assert_eq!(e.format_for("gpt-5-codex"), Format::Responses);
        assert_eq!(e.format_for("gpt-4.1"), Format::OpenAi);
        let req = e
            .build(
                json!({"input": [{"role": "user", "content": "x"}]}),
                "gpt-5-codex",
                true,
                &cred(),
            )
            .unwrap();
        assert!(req.url.ends_with("/responses"), "{}", req.url);
        // And back, if the Responses endpoint refuses it.
        let body = br#"{"error":{"message":"model gpt-5-codex does not support Responses API"}}"#;
        e.classify(
            "gpt-5-codex",
            &cred(),
            400,
            &HeaderMap::new(),
            Bytes::from_static(body),
        );
        assert_eq!(e.format_for("gpt-5-codex"), Format::OpenAi);
    }

    #[test]
    fn a_missing_copilot_token_needs_refresh() {
        let e = exec();
        let fresh = Credential::OAuth {
            access: Secret::new(""),
            refresh: Some(Secret::new("gho")),
            expires_at: None,
            extra: Default::default(),
        };
        assert!(e.needs_refresh(&fresh));
        let later = Credential::OAuth {
            access: Secret::new("t"),
            refresh: Some(Secret::new("gho")),
            expires_at: Some(switchyard_hub::clock::now() + Duration::from_secs(3600)),
            extra: Default::default(),
        };
        assert!(!e.needs_refresh(&later));
    }
}
