//! ChatGPT login for Codex (authorization code with PKCE on the fixed loopback port Codex
//! registered), refresh (form-encoded; the refresh token rotates and is single-use), and the
//! import of Codex CLI's `auth.json`. The ChatGPT account id that every request names comes
//! from the id token's claims.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use switchyard_auth::import::{Imported, Importer, Parse, env_or_home};
use switchyard_auth::oauth::{self as flow, BodyStyle, LoginUi, OAuthApp, TokenSet};
use switchyard_auth::{AuthError, Credential, Secret, jwt};
use switchyard_provider::{LoginOutcome, ProviderSettings, RefreshError, UpstreamClient};

pub const AUTH_URL: &str = "https://auth.openai.com/oauth/authorize";
pub const TOKEN_URL: &str = "https://auth.openai.com/oauth/token";
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const SCOPES: &str = "openid profile email offline_access";
pub const REDIRECT_URI: &str = "http://localhost:1455/auth/callback";
const AUTH_CLAIMS: &str = "https://api.openai.com/auth";

#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub app: OAuthApp,
    pub redirect_uri: String,
    pub originator: String,
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
                body: BodyStyle::Form,
                refresh_scopes: true,
            },
            redirect_uri: s.option("redirect_uri", REDIRECT_URI),
            originator: s.option("originator", super::ORIGINATOR),
            refresh_lead: s.option_secs("refresh_lead_secs", Duration::from_secs(300)),
        }
    }
}

/// The ChatGPT account id and e-mail in an id token.
fn identity(id_token: &str) -> (Option<String>, Option<String>) {
    let Some(claims) = jwt::claims(id_token) else {
        return (None, None);
    };
    let account = claims
        .get(AUTH_CLAIMS)
        .and_then(|a| a.get("chatgpt_account_id"))
        .or_else(|| claims.get("chatgpt_account_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let email = claims
        .get("email")
        .or_else(|| claims.pointer("/https:~1~1api.openai.com~1profile/email"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (account, email)
}

fn credential_from(
    access: Secret,
    refresh: Option<Secret>,
    expires_in: Option<Duration>,
    id_token: Option<&Secret>,
    previous: Option<&BTreeMap<String, String>>,
) -> Credential {
    let mut extra = previous.cloned().unwrap_or_default();
    if let Some((Some(account), _)) = id_token.map(|t| identity(t.expose())) {
        extra.insert("account_id".to_owned(), account);
    }
    let expires_at = expires_in
        .map(|d| switchyard_hub::clock::now() + d)
        .or_else(|| jwt::expiry(access.expose()));
    Credential::OAuth {
        access,
        refresh,
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
    // A refresh asks for the identity scopes only, as Codex does.
    let mut app = settings.app.clone();
    app.scopes.retain(|s| s != "offline_access");
    let TokenSet {
        access,
        refresh,
        expires_in,
        id_token,
        ..
    } = flow::refresh(&app, client, rt).await?;
    Ok(credential_from(
        access,
        // The old one is spent whether or not a new one came back.
        refresh.or_else(|| Some(rt.clone())),
        expires_in,
        id_token.as_ref(),
        Some(extra),
    ))
}

pub async fn login(
    settings: &OAuthSettings,
    client: &UpstreamClient,
    ui: &LoginUi,
) -> Result<LoginOutcome, AuthError> {
    let extra = [
        ("id_token_add_organizations".to_owned(), "true".to_owned()),
        ("codex_cli_simplified_flow".to_owned(), "true".to_owned()),
        ("originator".to_owned(), settings.originator.clone()),
    ];
    let t = flow::pkce_login(&settings.app, client, ui, &settings.redirect_uri, &extra).await?;
    let label = t.id_token.as_ref().and_then(|i| identity(i.expose()).1);
    let credential = credential_from(t.access, t.refresh, t.expires_in, t.id_token.as_ref(), None);
    if credential.extra("account_id").is_none() {
        return Err(AuthError::Invalid(
            "the login did not name a ChatGPT account (no chatgpt_account_id in the id token)"
                .into(),
        ));
    }
    Ok(LoginOutcome { credential, label })
}

fn default_path() -> Option<PathBuf> {
    env_or_home("CODEX_HOME", ".codex").map(|dir| dir.join("auth.json"))
}

/// Codex CLI's `auth.json`: `{"tokens": {"id_token", "access_token", "refresh_token",
/// "account_id"}, ...}`.
fn parse(bytes: &[u8]) -> Result<Imported, AuthError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| AuthError::Invalid(format!("not JSON: {e}")))?;
    let Some(tokens) = v.get("tokens").filter(|t| t.is_object()) else {
        return Err(AuthError::Invalid(
            "no ChatGPT login in the file (an API-key login belongs in an `openai` provider)"
                .into(),
        ));
    };
    let s = |k: &str| {
        tokens
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    };
    let access = s("access_token")
        .ok_or_else(|| AuthError::Invalid("the login has no access_token".into()))?;
    let id_token = s("id_token");
    let mut extra = BTreeMap::new();
    if let Some(id) = tokens.get("account_id").and_then(Value::as_str) {
        extra.insert("account_id".to_owned(), id.to_owned());
    }
    let label = id_token.as_ref().and_then(|i| identity(i.expose()).1);
    let credential = credential_from(
        access,
        s("refresh_token"),
        None,
        id_token.as_ref(),
        Some(&extra),
    );
    if credential.extra("account_id").is_none() {
        return Err(AuthError::Invalid(
            "the login names no ChatGPT account id".into(),
        ));
    }
    Ok(Imported { credential, label })
}

inventory::submit! {
    Importer { name: "codex", kind: "codex", default_path, parse: Parse::Bytes(parse) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("eyJhbGciOiJub25lIn0.{payload}.sig")
    }

    #[test]
    fn imports_codex_auth_json() {
        let id = jwt(
            r#"{"email":"me@example.com","https://api.openai.com/auth":{"chatgpt_account_id":"acct-9"}}"#,
        );
        let access = jwt(r#"{"exp":1900000000}"#);
        let file = format!(
            r#"{{"OPENAI_API_KEY":null,"tokens":{{"id_token":"{id}","access_token":"{access}","refresh_token":"rt-1"}},"last_refresh":"2025-01-01T00:00:00Z"}}"#
        );
        let imported = parse(file.as_bytes()).unwrap();
        assert_eq!(imported.label.as_deref(), Some("me@example.com"));
        let c = imported.credential;
        assert_eq!(c.extra("account_id"), Some("acct-9"));
        assert_eq!(c.refresh_token().unwrap().expose(), "rt-1");
        assert!(c.expires_at().is_some());
        assert!(parse(br#"{"OPENAI_API_KEY":"sk-x"}"#).is_err());
    }
}
