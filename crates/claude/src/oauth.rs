//! Claude Code's login (OAuth authorization code with PKCE; the token endpoint takes JSON),
//! its refresh, and the import of Claude Code's own credentials file.
//!
//! Every endpoint, the client id, the beta flags and the identity headers are `options` of
//! the provider with the defaults below, because they drift with Claude Code releases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use switchyard_auth::import::{Imported, Importer, Parse};
use switchyard_auth::oauth::{self as flow, BodyStyle, LoginUi, OAuthApp, TokenSet};
use switchyard_auth::{AuthError, Credential, Secret};
use switchyard_hub::{ApiError, ErrorKind};
use switchyard_provider::Failure;
use switchyard_provider::failure::FailureClass;
use switchyard_provider::forward::{ANTHROPIC_BETA, merge_flags};
use switchyard_provider::{LoginOutcome, ProviderSettings, RefreshError, UpstreamClient};

pub const AUTH_URL: &str = "https://claude.ai/oauth/authorize";
pub const TOKEN_URL: &str = "https://platform.claude.com/v1/oauth/token";
pub const CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
pub const SCOPES: &str = "org:create_api_key user:profile user:inference";
pub const REDIRECT_URI: &str = "http://localhost:54545/callback";
/// `oauth-2025-04-20` is what makes the API accept the bearer token at all.
pub const BETA: &str = "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14";
pub const USER_AGENT: &str = "claude-cli/2.1.92 (external, cli)";

#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub app: OAuthApp,
    pub redirect_uri: String,
    pub beta: String,
    pub user_agent: String,
    pub x_app: String,
    pub refresh_lead: Duration,
}

impl From<&ProviderSettings> for OAuthSettings {
    fn from(s: &ProviderSettings) -> Self {
        OAuthSettings {
            app: OAuthApp {
                client_id: s.option("client_id", CLIENT_ID),
                client_secret: None,
                auth_url: s.option("auth_url", AUTH_URL),
                token_url: s.option("token_url", TOKEN_URL),
                scopes: s
                    .option("scopes", SCOPES)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                body: BodyStyle::Json,
                refresh_scopes: false,
            },
            redirect_uri: s.option("redirect_uri", REDIRECT_URI),
            beta: s.option("oauth_beta", BETA),
            user_agent: s.option("oauth_user_agent", USER_AGENT),
            x_app: s.option("x_app", "cli"),
            refresh_lead: s.option_secs("refresh_lead_secs", Duration::from_secs(600)),
        }
    }
}

impl OAuthSettings {
    /// The headers a Claude Code login requires: its beta flags (merged with any configured
    /// ones) and the identity of the client the token was issued to.
    pub fn identity_headers(&self, headers: &mut HeaderMap) {
        merge_flags(
            headers,
            ANTHROPIC_BETA,
            self.beta
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty()),
        );
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set("user-agent", &self.user_agent);
        set("x-app", &self.x_app);
        set("anthropic-dangerous-direct-browser-access", "true");
    }
}

/// Whether an error answer to a subscription login is Anthropic refusing a request that is not
/// Claude Code's own: a 400 or a 429 whose whole message is "Error" (anthropics/claude-code
/// #40515), or the 400 that says so in words. It is not a rate limit: the account serves
/// Claude Code as before, and every other account of the login kind would refuse alike.
pub fn refuses_other_clients(status: u16, body: &[u8]) -> bool {
    if status != 400 && status != 429 {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    message == "Error"
        || (status == 400 && message.contains("only authorized for use with Claude Code"))
}

/// The failure for [`refuses_other_clients`], with a message that tells the client why
/// instead of Anthropic's bare "Error" (whose body is therefore not passed on).
pub fn not_served(provider: &str, status: u16) -> Failure {
    let message = format!(
        "provider `{provider}` is a Claude subscription login, which serves only Claude Code's own \
         requests; Anthropic refused this one (status {status}). Send it from Claude Code, or \
         route this client to a provider with an Anthropic API key"
    );
    Failure {
        error: ApiError::new(403, ErrorKind::PermissionDenied, message)
            .with_code("subscription_serves_claude_code_only"),
        upstream_body: None,
        class: FailureClass::NotServed,
        retry_after: None,
    }
}

/// Claude Code's credentials as the token endpoint gives them.
fn credential_from(tokens: TokenSet, previous_refresh: Option<&Secret>) -> Credential {
    let mut extra = BTreeMap::new();
    if let Some(uuid) = tokens.pointer("/account/uuid").and_then(Value::as_str) {
        extra.insert("account_uuid".to_owned(), uuid.to_owned());
    }
    if let Some(uuid) = tokens.pointer("/organization/uuid").and_then(Value::as_str) {
        extra.insert("organization_uuid".to_owned(), uuid.to_owned());
    }
    let expires_at = tokens.expires_at();
    Credential::OAuth {
        access: tokens.access,
        // A refresh answer without a new refresh token keeps the old one valid.
        refresh: tokens.refresh.or_else(|| previous_refresh.cloned()),
        expires_at,
        extra,
    }
}

pub async fn refresh(
    settings: &OAuthSettings,
    credential: &Credential,
    client: &UpstreamClient,
) -> Result<Credential, RefreshError> {
    let Credential::OAuth {
        refresh: Some(rt),
        extra,
        ..
    } = credential
    else {
        return Err(RefreshError::NotSupported);
    };
    let tokens = flow::refresh(&settings.app, client, rt).await?;
    let mut fresh = credential_from(tokens, Some(rt));
    if let Credential::OAuth { extra: new, .. } = &mut fresh {
        for (k, v) in extra {
            new.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(fresh)
}

pub async fn login(
    settings: &OAuthSettings,
    client: &UpstreamClient,
    ui: &LoginUi,
) -> Result<LoginOutcome, AuthError> {
    // `code=true` makes claude.ai show the code for pasting when the redirect cannot load.
    let extra = [("code".to_owned(), "true".to_owned())];
    let tokens =
        flow::pkce_login(&settings.app, client, ui, &settings.redirect_uri, &extra).await?;
    let label = tokens
        .pointer("/account/email_address")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(LoginOutcome {
        credential: credential_from(tokens, None),
        label,
    })
}

fn default_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join(".credentials.json"));
    }
    switchyard_auth::files::home().map(|h| h.join(".claude/.credentials.json"))
}

/// Claude Code's `~/.claude/.credentials.json`:
/// `{"claudeAiOauth": {"accessToken", "refreshToken", "expiresAt" (ms), ...}}`.
fn parse(bytes: &[u8]) -> Result<Imported, AuthError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| AuthError::Invalid(format!("not JSON: {e}")))?;
    let o = v
        .get("claudeAiOauth")
        .ok_or_else(|| AuthError::Invalid("no `claudeAiOauth` login in the file".into()))?;
    let access = o
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::Invalid("the login has no accessToken".into()))?;
    let mut extra = BTreeMap::new();
    if let Some(t) = o.get("subscriptionType").and_then(Value::as_str) {
        extra.insert("subscription".to_owned(), t.to_owned());
    }
    Ok(Imported {
        credential: Credential::OAuth {
            access: Secret::new(access),
            refresh: o
                .get("refreshToken")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            expires_at: o
                .get("expiresAt")
                .and_then(Value::as_u64)
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
            extra,
        },
        label: None,
    })
}

inventory::submit! {
    Importer { name: "claude", kind: "claude", default_path, parse: Parse::Bytes(parse) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_claude_code_credentials() {
        let file = br#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-a","refreshToken":"sk-ant-ort01-r","expiresAt":1900000000000,"scopes":["user:inference"],"subscriptionType":"max"}}"#;
        let imported = parse(file).unwrap();
        let c = imported.credential;
        assert_eq!(c.token().expose(), "sk-ant-oat01-a");
        assert_eq!(c.refresh_token().unwrap().expose(), "sk-ant-ort01-r");
        assert_eq!(
            c.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        assert_eq!(c.extra("subscription"), Some("max"));
        assert!(parse(b"{}").is_err());
        assert!(parse(b"nope").is_err());
    }
}
