//! Gemini Code Assist (`cloudcode-pa`, the `gemini-cli` kind): a Google login, the
//! `v1internal` envelope around Gemini bodies, and the Code Assist project every request
//! names, found with `loadCodeAssist` (or created with `onboardUser`) on first use.
//!
//! Google closed this channel to consumer accounts in 2026; paid Code Assist (Standard,
//! Enterprise) still answers. An account the service refuses is marked as needing a login.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use http::HeaderValue;
use serde_json::{Value, json};
use switchyard_auth::http::{HttpSend, body_json, json_request};
use switchyard_auth::import::{Imported, Importer, Parse};
use switchyard_auth::oauth::{self as flow, BodyStyle, LoginUi, OAuthApp};
use switchyard_auth::{AuthError, Credential, Secret, jwt};
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{
    Executor, ExecutorKind, LoginFuture, LoginOutcome, ProviderSettings, RefreshError,
    RefreshFuture, UpstreamClient, UpstreamRequest,
};

use crate::check_model;

pub const AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Gemini CLI's installed-app OAuth client, published in its source. Per RFC 8252 an
/// installed app's client secret is not confidential.
pub const CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
pub const CLIENT_SECRET: &str = "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";
pub const SCOPES: &str = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile";
/// Port 0: any free loopback port, as Google allows for installed apps.
pub const REDIRECT_URI: &str = "http://127.0.0.1:0/oauth2callback";
/// `{model}`, `{os}` and `{arch}` are filled in per request.
pub const USER_AGENT: &str = "GeminiCLI/0.31.0/{model} ({os}; {arch})";
pub const API_CLIENT: &str = "google-genai-sdk/1.41.0 gl-node/v22.19.0";

#[derive(Debug)]
pub struct CodeAssistExecutor {
    settings: ProviderSettings,
    app: OAuthApp,
    redirect_uri: String,
    user_agent: String,
    api_client: String,
    /// A project named in the config, used instead of discovery.
    project: Option<String>,
    refresh_lead: Duration,
    onboard_poll: Duration,
}

impl CodeAssistExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let secret = settings.option("client_secret", CLIENT_SECRET);
        CodeAssistExecutor {
            app: OAuthApp {
                client_id: settings.option("client_id", CLIENT_ID),
                client_secret: (!secret.is_empty()).then(|| Secret::new(secret)),
                auth_url: settings.option("auth_url", AUTH_URL),
                token_url: settings.option("token_url", TOKEN_URL),
                scopes: settings
                    .option("scopes", SCOPES)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                body: BodyStyle::Form,
                refresh_scopes: false,
            },
            redirect_uri: settings.option("redirect_uri", REDIRECT_URI),
            user_agent: settings.option("cli_user_agent", USER_AGENT),
            api_client: settings.option("api_client", API_CLIENT),
            project: settings
                .options
                .get("project")
                .cloned()
                .filter(|p| !p.is_empty()),
            refresh_lead: settings.option_secs("refresh_lead_secs", Duration::from_secs(300)),
            onboard_poll: Duration::from_millis(
                settings
                    .option("onboard_poll_ms", "2000")
                    .parse()
                    .unwrap_or(2000),
            ),
            settings,
        }
    }

    fn project_of<'a>(&'a self, credential: &'a Credential) -> Option<&'a str> {
        self.project
            .as_deref()
            .or_else(|| credential.extra("project_id"))
    }

    /// The headers of every model call: the login's token and Gemini CLI's identity.
    fn headers(
        &self,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<http::HeaderMap, ApiError> {
        let mut headers = base_headers(&self.settings, stream);
        headers.insert(
            http::header::AUTHORIZATION,
            secret_value("Bearer ", credential.token())?,
        );
        let ua = self
            .user_agent
            .replace("{model}", model)
            .replace("{os}", std::env::consts::OS)
            .replace("{arch}", std::env::consts::ARCH);
        if let Ok(v) = HeaderValue::from_str(&ua) {
            headers.insert(http::header::USER_AGENT, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.api_client) {
            headers.insert("x-goog-api-client", v);
        }
        Ok(headers)
    }

    fn url(&self, method: &str) -> String {
        join_url(&self.settings.base_url, &format!("v1internal:{method}"))
    }

    /// `loadCodeAssist`, then `onboardUser` until done: the account's Code Assist project.
    async fn discover_project(
        &self,
        access: &Secret,
        http: &dyn HttpSend,
    ) -> Result<String, AuthError> {
        let metadata = json!({"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"});
        let load = self
            .call(
                http,
                access,
                "loadCodeAssist",
                &json!({"metadata": metadata}),
            )
            .await?;
        if let Some(p) = project_id(load.get("cloudaicompanionProject")) {
            return Ok(p);
        }
        let tier = load
            .get("allowedTiers")
            .and_then(Value::as_array)
            .and_then(|t| {
                t.iter()
                    .find(|t| t.get("isDefault") == Some(&Value::Bool(true)))
            })
            .and_then(|t| t.get("id"))
            .and_then(Value::as_str)
            .unwrap_or("legacy-tier")
            .to_owned();
        let body = json!({"tierId": tier, "metadata": metadata});
        for _ in 0..30 {
            let op = self.call(http, access, "onboardUser", &body).await?;
            if op.get("done") == Some(&Value::Bool(true)) {
                return project_id(op.pointer("/response/cloudaicompanionProject")).ok_or_else(
                    || {
                        AuthError::Terminal(
                            "Code Assist onboarding finished without a project".into(),
                        )
                    },
                );
            }
            tokio::time::sleep(self.onboard_poll).await;
        }
        Err(AuthError::Transient(
            "Code Assist onboarding did not finish".into(),
        ))
    }

    async fn call(
        &self,
        http: &dyn HttpSend,
        access: &Secret,
        method: &str,
        body: &Value,
    ) -> Result<Value, AuthError> {
        let auth = format!("Bearer {}", access.expose());
        let req = json_request(&self.url(method), body, &[("authorization", &auth)])?;
        let res = http
            .send(req)
            .await
            .map_err(|e| AuthError::Transient(format!("cannot reach Code Assist: {e}")))?;
        let status = res.status().as_u16();
        let v = body_json(&res);
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let msg = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_owned();
        let text = format!("Code Assist {method} answered {status}: {msg}");
        Err(if matches!(status, 401 | 403) {
            AuthError::Terminal(text)
        } else {
            AuthError::Transient(text)
        })
    }

    async fn refresh_impl(
        &self,
        credential: &Credential,
        client: &UpstreamClient,
    ) -> Result<Credential, RefreshError> {
        let Credential::OAuth {
            access,
            refresh,
            expires_at,
            extra,
        } = credential
        else {
            return Err(RefreshError::NotSupported);
        };
        let mut fresh = Credential::OAuth {
            access: access.clone(),
            refresh: refresh.clone(),
            expires_at: *expires_at,
            extra: extra.clone(),
        };
        if access.is_empty() || credential.expires_within(self.refresh_lead) {
            let rt = refresh
                .as_ref()
                .ok_or_else(|| RefreshError::Terminal("the login has no refresh token".into()))?;
            let t = flow::refresh(&self.app, client, rt).await?;
            fresh = Credential::OAuth {
                expires_at: t.expires_at(),
                access: t.access,
                refresh: t.refresh.or_else(|| Some(rt.clone())),
                extra: extra.clone(),
            };
        }
        if self.project_of(&fresh).is_none() {
            let project = self.discover_project(fresh.token(), client).await?;
            if let Credential::OAuth { extra, .. } = &mut fresh {
                extra.insert("project_id".to_owned(), project);
            }
        }
        Ok(fresh)
    }

    async fn login_impl(
        &self,
        client: &UpstreamClient,
        ui: &LoginUi,
    ) -> Result<LoginOutcome, AuthError> {
        // `offline` + `consent` make Google send a refresh token every time.
        let extra = [
            ("access_type".to_owned(), "offline".to_owned()),
            ("prompt".to_owned(), "consent".to_owned()),
        ];
        let t = flow::pkce_login(&self.app, client, ui, &self.redirect_uri, &extra).await?;
        let label = t
            .id_token
            .as_ref()
            .and_then(|i| jwt::claims(i.expose()))
            .and_then(|c| c.get("email").and_then(Value::as_str).map(str::to_owned));
        let mut extra = BTreeMap::new();
        if self.project.is_none() {
            ui.say("Looking up the Code Assist project ...");
            extra.insert(
                "project_id".to_owned(),
                self.discover_project(&t.access, client).await?,
            );
        }
        Ok(LoginOutcome {
            credential: Credential::OAuth {
                expires_at: t.expires_at(),
                access: t.access,
                refresh: t.refresh,
                extra,
            },
            label,
        })
    }
}

/// `cloudaicompanionProject` comes as a string or as `{"id": ...}`.
fn project_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        _ => None,
    }
}

inventory::submit! {
    ExecutorKind { name: "gemini-cli", create: |s| Arc::new(CodeAssistExecutor::new(s)) }
}

impl Executor for CodeAssistExecutor {
    fn format(&self) -> Format {
        Format::GeminiCli
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        check_model(model)?;
        let project = self
            .project_of(credential)
            .ok_or_else(|| ApiError::internal("this Code Assist account has no project yet"))?;
        let obj = object_mut(&mut body)?;
        obj.remove("model");
        obj.remove("stream");
        if let Some(inner) = obj.get_mut("request").and_then(Value::as_object_mut) {
            inner.remove("model");
        }
        obj.insert("model".into(), Value::String(model.to_owned()));
        obj.insert("project".into(), Value::String(project.to_owned()));
        obj.insert(
            "user_prompt_id".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let headers = self.headers(model, stream, credential)?;
        post_json(self.url(method), headers, &body)
    }

    fn counts_tokens(&self) -> bool {
        true
    }

    /// `v1internal:countTokens` takes `{"request": {"model": "models/…", "contents"}}`: Code
    /// Assist counts the contents only (no project, no system instruction), as Gemini CLI
    /// sends it.
    fn build_count(
        &self,
        mut body: Value,
        model: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        check_model(model)?;
        let obj = object_mut(&mut body)?;
        let contents = match obj.get_mut("request") {
            Some(inner) => inner.get_mut("contents").map(Value::take),
            None => obj.get_mut("contents").map(Value::take),
        }
        .unwrap_or_else(|| json!([]));
        let body = json!({"request": {"model": format!("models/{model}"), "contents": contents}});
        let headers = self.headers(model, false, credential)?;
        post_json(self.url("countTokens"), headers, &body)
    }

    fn needs_refresh(&self, credential: &Credential) -> bool {
        credential.is_oauth()
            && (credential.token().is_empty()
                || credential.expires_within(self.refresh_lead)
                || self.project_of(credential).is_none())
    }

    fn refresh_lead(&self) -> Duration {
        self.refresh_lead
    }

    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        Box::pin(self.refresh_impl(credential, client))
    }

    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        Box::pin(self.login_impl(client, ui))
    }
}

fn default_path() -> Option<PathBuf> {
    switchyard_auth::files::home().map(|h| h.join(".gemini/oauth_creds.json"))
}

/// Gemini CLI's `~/.gemini/oauth_creds.json`: `{"access_token", "refresh_token",
/// "expiry_date" (ms), "id_token", ...}`. The project is found on first use.
fn parse(bytes: &[u8]) -> Result<Imported, AuthError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| AuthError::Invalid(format!("not JSON: {e}")))?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    };
    let refresh = s("refresh_token")
        .ok_or_else(|| AuthError::Invalid("the login has no refresh_token".into()))?;
    let label = s("id_token")
        .and_then(|i| jwt::claims(i.expose()))
        .and_then(|c| c.get("email").and_then(Value::as_str).map(str::to_owned));
    Ok(Imported {
        credential: Credential::OAuth {
            access: s("access_token").unwrap_or_default(),
            refresh: Some(refresh),
            expires_at: v
                .get("expiry_date")
                .and_then(Value::as_u64)
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
            extra: BTreeMap::new(),
        },
        label,
    })
}

inventory::submit! {
    Importer { name: "gemini", kind: "gemini-cli", default_path, parse: Parse::Bytes(parse) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(options: &[(&str, &str)]) -> CodeAssistExecutor {
        CodeAssistExecutor::new(ProviderSettings {
            name: "gcli".into(),
            base_url: "https://cloudcode-pa.googleapis.com".into(),
            user_agent: None,
            headers: Default::default(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    fn cred(project: Option<&str>) -> Credential {
        Credential::OAuth {
            access: Secret::new("ya29.secret"),
            refresh: Some(Secret::new("1//rt")),
            expires_at: Some(switchyard_hub::clock::now() + Duration::from_secs(3600)),
            extra: project
                .map(|p| [("project_id".to_owned(), p.to_owned())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn requests_are_enveloped_with_model_and_project() {
        let body = json!({"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}});
        let req = exec(&[])
            .build(body, "gemini-2.5-pro", true, &cred(Some("proj-1")))
            .unwrap();
        assert_eq!(
            req.url,
            "https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse"
        );
        let b: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(b["model"], "gemini-2.5-pro");
        assert_eq!(b["project"], "proj-1");
        assert!(b["user_prompt_id"].is_string());
        assert_eq!(b["request"]["contents"][0]["parts"][0]["text"], "hi");
        assert_eq!(req.headers["authorization"], "Bearer ya29.secret");
        let ua = req.headers["user-agent"].to_str().unwrap();
        assert!(ua.starts_with("GeminiCLI/0.31.0/gemini-2.5-pro ("), "{ua}");
    }

    #[test]
    fn a_missing_project_asks_for_a_refresh() {
        let e = exec(&[]);
        assert!(e.needs_refresh(&cred(None)));
        assert!(!e.needs_refresh(&cred(Some("p"))));
        assert!(!exec(&[("project", "cfg")]).needs_refresh(&cred(None)));
        assert!(
            e.build(json!({"request": {}}), "m", false, &cred(None))
                .is_err()
        );
    }

    #[test]
    fn imports_gemini_cli_credentials() {
        let file = br#"{"access_token":"ya29.a","refresh_token":"1//r","scope":"x","token_type":"Bearer","expiry_date":1900000000000}"#;
        let c = parse(file).unwrap().credential;
        assert_eq!(c.token().expose(), "ya29.a");
        assert_eq!(c.refresh_token().unwrap().expose(), "1//r");
        assert!(c.expires_at().is_some());
        assert!(parse(br#"{"access_token":"x"}"#).is_err());
        assert_eq!(
            project_id(Some(&json!({"id": "p-1"}))).as_deref(),
            Some("p-1")
        );
        assert_eq!(project_id(Some(&json!("p-2"))).as_deref(), Some("p-2"));
    }
}
