//! OAuth 2.0 flows: authorization code with PKCE (a loopback listener receives the callback;
//! on a headless machine the user pastes the URL the browser ended on), the device
//! authorization grant, and refresh. Form-encoded token endpoints go through the `oauth2`
//! crate; endpoints that want JSON bodies (Anthropic's) are spoken by hand.

mod loopback;

use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::AuthError;
use crate::http::{HttpSend, OAuthHttp, body_json, form_request, json_request};
use crate::secret::Secret;

pub use loopback::{LoginPrompt, LoginUi, parse_pasted};

/// What a token endpoint granted.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access: Secret,
    pub refresh: Option<Secret>,
    pub expires_in: Option<Duration>,
    pub id_token: Option<Secret>,
    /// Every other field of the answer (account, organization, scope...). Not printed.
    pub fields: Map<String, Value>,
}

impl TokenSet {
    /// Reads a token answer; `access_token` is the one required field.
    pub fn from_json(v: &Value) -> Result<TokenSet, AuthError> {
        let obj = v.as_object().ok_or_else(|| {
            AuthError::Transient("token endpoint answered with no JSON object".into())
        })?;
        let access = obj
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                AuthError::Transient("token endpoint answered with no access_token".into())
            })?;
        let secret = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
        };
        let mut fields = obj.clone();
        for k in ["access_token", "refresh_token", "id_token", "expires_in"] {
            fields.remove(k);
        }
        Ok(TokenSet {
            access: Secret::new(access),
            refresh: secret("refresh_token"),
            expires_in: obj
                .get("expires_in")
                .and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()))
                .map(Duration::from_secs),
            id_token: secret("id_token"),
            fields,
        })
    }

    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_in.map(|d| crate::clock::now() + d)
    }

    /// A value among the other fields by JSON pointer (`/account/email_address`).
    pub fn pointer(&self, path: &str) -> Option<&Value> {
        let mut parts = path.trim_start_matches('/').split('/');
        let mut v = self.fields.get(parts.next()?)?;
        for p in parts {
            v = v.get(p)?;
        }
        Some(v)
    }
}

/// How a token endpoint wants its request bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyStyle {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    Form,
    /// A JSON object (Anthropic).
    Json,
}

/// An OAuth client as a provider registered it.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub client_id: String,
    /// Installed-app clients (Google's) have a secret that is published with the app.
    pub client_secret: Option<Secret>,
    pub auth_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    pub body: BodyStyle,
    /// Whether a refresh names the scopes again (OpenAI's does).
    pub refresh_scopes: bool,
}

/// Every other field of a token answer, kept for the provider (`id_token`, `account`...).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct Fields {
    #[serde(flatten)]
    map: Map<String, Value>,
}

impl ExtraTokenFields for Fields {}

type OAuthTokenResponse = StandardTokenResponse<Fields, BasicTokenType>;
type Client<HasAuthUrl> = oauth2::Client<
    BasicErrorResponse,
    OAuthTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn url_error(what: &str, url: &str) -> AuthError {
    AuthError::Invalid(format!("{what} {url:?} is not a valid URL"))
}

fn client(app: &OAuthApp) -> Result<Client<EndpointSet>, AuthError> {
    let base: oauth2::Client<
        BasicErrorResponse,
        OAuthTokenResponse,
        BasicTokenIntrospectionResponse,
        StandardRevocableToken,
        BasicRevocationErrorResponse,
    > = oauth2::Client::new(ClientId::new(app.client_id.clone()));
    let mut c = base
        .set_auth_uri(
            AuthUrl::new(app.auth_url.clone()).map_err(|_| url_error("auth_url", &app.auth_url))?,
        )
        .set_token_uri(
            TokenUrl::new(app.token_url.clone())
                .map_err(|_| url_error("token_url", &app.token_url))?,
        )
        .set_auth_type(AuthType::RequestBody);
    if let Some(s) = &app.client_secret {
        c = c.set_client_secret(ClientSecret::new(s.expose().to_owned()));
    }
    Ok(c)
}

/// One authorization in progress: the URL to open and what the answer must match.
#[derive(Clone, Debug)]
pub struct Pkce {
    pub url: String,
    pub redirect_uri: String,
    pub state: String,
    verifier: Secret,
}

/// Builds the authorization URL with a fresh PKCE challenge (S256) and state.
pub fn authorize(
    app: &OAuthApp,
    redirect_uri: &str,
    extra: &[(String, String)],
) -> Result<Pkce, AuthError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|_| url_error("redirect_uri", redirect_uri))?;
    let c = client(app)?.set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = c
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in &app.scopes {
        req = req.add_scope(Scope::new(s.clone()));
    }
    for (k, v) in extra {
        req = req.add_extra_param(k.as_str(), v.as_str());
    }
    let (url, state) = req.url();
    Ok(Pkce {
        url: url.to_string(),
        redirect_uri: redirect_uri.to_owned(),
        state: state.secret().clone(),
        verifier: Secret::new(verifier.secret().clone()),
    })
}

/// Exchanges an authorization code for tokens.
pub async fn exchange_code(
    app: &OAuthApp,
    http: &dyn HttpSend,
    pkce: &Pkce,
    code: &str,
) -> Result<TokenSet, AuthError> {
    match app.body {
        BodyStyle::Form => {
            let redirect = RedirectUrl::new(pkce.redirect_uri.clone())
                .map_err(|_| url_error("redirect_uri", &pkce.redirect_uri))?;
            let c = client(app)?.set_redirect_uri(redirect);
            let res = c
                .exchange_code(AuthorizationCode::new(code.to_owned()))
                .set_pkce_verifier(PkceCodeVerifier::new(pkce.verifier.expose().to_owned()))
                .request_async(&OAuthHttp(http))
                .await;
            from_crate(res)
        }
        BodyStyle::Json => {
            let body = json!({
                "grant_type": "authorization_code",
                "code": code,
                "state": pkce.state,
                "client_id": app.client_id,
                "redirect_uri": pkce.redirect_uri,
                "code_verifier": pkce.verifier.expose(),
            });
            post_token_json(http, &app.token_url, &body).await
        }
    }
}

/// Trades a refresh token for new tokens. Terminal answers come back as
/// [`AuthError::Terminal`], everything worth retrying later as [`AuthError::Transient`].
pub async fn refresh(
    app: &OAuthApp,
    http: &dyn HttpSend,
    refresh_token: &Secret,
) -> Result<TokenSet, AuthError> {
    match app.body {
        BodyStyle::Form => {
            let c = client(app)?;
            let token = RefreshToken::new(refresh_token.expose().to_owned());
            let mut req = c.exchange_refresh_token(&token);
            if app.refresh_scopes {
                for s in &app.scopes {
                    req = req.add_scope(Scope::new(s.clone()));
                }
            }
            from_crate(req.request_async(&OAuthHttp(http)).await)
        }
        BodyStyle::Json => {
            let body = json!({
                "grant_type": "refresh_token",
                "refresh_token": refresh_token.expose(),
                "client_id": app.client_id,
            });
            post_token_json(http, &app.token_url, &body).await
        }
    }
}

async fn post_token_json(
    http: &dyn HttpSend,
    url: &str,
    body: &Value,
) -> Result<TokenSet, AuthError> {
    let res = http
        .send(json_request(url, body, &[])?)
        .await
        .map_err(|e| AuthError::Transient(format!("cannot reach the token endpoint: {e}")))?;
    token_answer(res.status().as_u16(), &body_json(&res))
}

/// Reads a token endpoint's answer of any shape: tokens on success, a classified error else.
pub fn token_answer(status: u16, body: &Value) -> Result<TokenSet, AuthError> {
    if (200..300).contains(&status) && body.get("access_token").is_some() {
        return TokenSet::from_json(body);
    }
    let (code, description) = error_of(status, body);
    Err(classify(status, &code, &description))
}

/// The error code and description of a token error body: RFC 6749's
/// `{"error": code, "error_description": text}` or OpenAI's
/// `{"error": {"code"|"type": ..., "message": ...}}`.
fn error_of(status: u16, body: &Value) -> (String, String) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    match body.get("error") {
        Some(Value::String(code)) => (code.clone(), s(body.get("error_description"))),
        Some(obj @ Value::Object(_)) => {
            let code = obj
                .get("code")
                .and_then(Value::as_str)
                .or_else(|| obj.get("type").and_then(Value::as_str))
                .unwrap_or_default();
            (code.to_owned(), s(obj.get("message")))
        }
        _ => (format!("http_{status}"), s(body.get("message"))),
    }
}

/// Error codes after which only a new login helps.
const TERMINAL: &[&str] = &[
    "invalid_grant",
    "refresh_token_reused",
    "refresh_token_expired",
    "refresh_token_invalidated",
    "invalid_refresh_token",
    "invalid_client",
    "unauthorized_client",
    "invalid_request",
    "unsupported_grant_type",
    "invalid_scope",
    "expired_token",
    "token_expired",
    "invalid_token",
    "access_denied",
];

/// A terminal error for a known grant failure or a 400/401/403 without a known code;
/// a transient one for everything else (rate limits, 5xx, unreachable).
pub fn classify(status: u16, code: &str, description: &str) -> AuthError {
    let text = if description.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {description}")
    };
    let known_transient = matches!(
        code,
        "temporarily_unavailable" | "server_error" | "slow_down"
    );
    if TERMINAL.contains(&code) || (!known_transient && matches!(status, 400 | 401 | 403)) {
        AuthError::Terminal(text)
    } else {
        AuthError::Transient(format!("token endpoint answered {status}: {text}"))
    }
}

fn from_crate(
    res: Result<OAuthTokenResponse, RequestTokenError<std::io::Error, BasicErrorResponse>>,
) -> Result<TokenSet, AuthError> {
    match res {
        Ok(tok) => {
            let mut fields = tok.extra_fields().map.clone();
            let id_token = fields
                .remove("id_token")
                .and_then(|v| v.as_str().map(Secret::new));
            Ok(TokenSet {
                access: Secret::new(tok.access_token().secret().clone()),
                refresh: tok.refresh_token().map(|r| Secret::new(r.secret().clone())),
                expires_in: tok.expires_in(),
                id_token,
                fields,
            })
        }
        Err(RequestTokenError::ServerResponse(e)) => {
            let code = e.error().as_ref().to_owned();
            let description = e.error_description().cloned().unwrap_or_default();
            Err(classify(400, &code, &description))
        }
        Err(RequestTokenError::Parse(_, body)) => {
            // A 200 whose body is not a token, or an error in a non-RFC shape.
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (code, description) = error_of(0, &v);
            Err(classify(0, &code, &description))
        }
        Err(RequestTokenError::Request(e)) => Err(AuthError::Transient(format!(
            "cannot reach the token endpoint: {e}"
        ))),
        Err(RequestTokenError::Other(e)) => Err(AuthError::Transient(e)),
    }
}

/// A device authorization in progress (RFC 8628).
#[derive(Clone, Debug)]
pub struct DeviceCode {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub interval: Duration,
    pub expires_in: Duration,
}

/// Where a device flow starts and ends.
#[derive(Clone, Debug)]
pub struct DeviceApp {
    pub client_id: String,
    pub device_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
}

/// Asks for a device and user code.
pub async fn device_start(app: &DeviceApp, http: &dyn HttpSend) -> Result<DeviceCode, AuthError> {
    let scope = app.scopes.join(" ");
    let mut pairs = vec![("client_id", app.client_id.as_str())];
    if !scope.is_empty() {
        pairs.push(("scope", scope.as_str()));
    }
    let res = http
        .send(form_request(&app.device_url, &pairs, &[])?)
        .await
        .map_err(|e| AuthError::Transient(format!("cannot reach {}: {e}", app.device_url)))?;
    let v = body_json(&res);
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(device_code), Some(user_code)) = (s("device_code"), s("user_code")) else {
        let (code, description) = error_of(res.status().as_u16(), &v);
        return Err(classify(res.status().as_u16(), &code, &description));
    };
    let secs = |k: &str, default: u64| {
        Duration::from_secs(v.get(k).and_then(Value::as_u64).unwrap_or(default))
    };
    Ok(DeviceCode {
        device_code: Secret::new(device_code),
        user_code,
        verification_uri: s("verification_uri")
            .or_else(|| s("verification_url"))
            .unwrap_or_default(),
        verification_uri_complete: s("verification_uri_complete"),
        interval: secs("interval", 5),
        expires_in: secs("expires_in", 900),
    })
}

/// Polls the token endpoint until the user approves, honouring `slow_down` (and the new
/// `interval` GitHub sends with it), until the code expires.
pub async fn device_poll(
    app: &DeviceApp,
    http: &dyn HttpSend,
    code: &DeviceCode,
) -> Result<TokenSet, AuthError> {
    let deadline = tokio::time::Instant::now() + code.expires_in;
    let mut interval = code.interval;
    loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() > deadline {
            return Err(AuthError::Invalid(
                "the device code expired before the login was approved".into(),
            ));
        }
        let pairs = [
            ("client_id", app.client_id.as_str()),
            ("device_code", code.device_code.expose()),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ];
        let res = match http.send(form_request(&app.token_url, &pairs, &[])?).await {
            Ok(res) => res,
            Err(e) => {
                tracing::debug!("device poll failed, trying again: {e}");
                continue;
            }
        };
        let v = body_json(&res);
        if v.get("access_token").is_some() {
            return TokenSet::from_json(&v);
        }
        let (err, description) = error_of(res.status().as_u16(), &v);
        match err.as_str() {
            "authorization_pending" => {}
            "slow_down" => {
                interval = v
                    .get("interval")
                    .and_then(Value::as_u64)
                    .map(Duration::from_secs)
                    .unwrap_or(interval + Duration::from_secs(5));
            }
            "expired_token" => {
                return Err(AuthError::Invalid(
                    "the device code expired before the login was approved".into(),
                ));
            }
            "access_denied" => return Err(AuthError::Invalid("the login was denied".into())),
            _ if res.status().is_server_error() => {}
            _ => return Err(classify(res.status().as_u16(), &err, &description)),
        }
    }
}

/// The whole authorization-code login: listen on the redirect URI's loopback port when it
/// has one, show (and open) the authorization URL, take the code from the callback or from a
/// pasted URL, and exchange it.
pub async fn pkce_login(
    app: &OAuthApp,
    http: &dyn HttpSend,
    ui: &LoginUi,
    redirect_uri: &str,
    extra: &[(String, String)],
) -> Result<TokenSet, AuthError> {
    let (listener, redirect) = loopback::bind(redirect_uri).await;
    let pkce = authorize(app, &redirect, extra)?;
    ui.prompt(LoginPrompt::Authorize {
        url: pkce.url.clone(),
        redirect_uri: pkce.redirect_uri.clone(),
    });
    ui.say(&format!(
        "Open this URL in a browser and sign in:\n\n  {}\n",
        pkce.url
    ));
    ui.open(&pkce.url);
    if listener.is_some() {
        ui.say(&format!(
            "Waiting for the browser to return to {redirect} ...\n\
             (On another machine? Paste the address the browser ended on, or the code, here.)"
        ));
    } else {
        ui.say("Paste the address the browser ended on, or the code it shows, here:");
    }
    let code = loopback::wait_for_code(listener, &pkce, ui).await?;
    exchange_code(app, http, &pkce, &code).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let terminal = |s, b: Value| matches!(token_answer(s, &b), Err(AuthError::Terminal(_)));
        assert!(terminal(400, json!({"error": "invalid_grant"})));
        assert!(terminal(
            401,
            json!({"error": {"code": "refresh_token_reused", "message": "already used"}})
        ));
        assert!(terminal(401, json!("not json")));
        assert!(!terminal(503, json!({"error": "server_error"})));
        assert!(!terminal(429, Value::Null));
        assert!(!terminal(400, json!({"error": "temporarily_unavailable"})));
        let ok = token_answer(200, &json!({"access_token": "a", "refresh_token": "r", "expires_in": "60", "account": {"uuid": "u"}})).unwrap();
        assert_eq!(ok.expires_in, Some(Duration::from_secs(60)));
        assert!(ok.fields.contains_key("account"));
        assert!(!ok.fields.contains_key("access_token"));
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_extras() {
        let app = OAuthApp {
            client_id: "cid".into(),
            client_secret: None,
            auth_url: "https://auth.example/authorize".into(),
            token_url: "https://auth.example/token".into(),
            scopes: vec!["a".into(), "b".into()],
            body: BodyStyle::Form,
            refresh_scopes: false,
        };
        let p = authorize(
            &app,
            "http://localhost:1455/cb",
            &[("code".into(), "true".into())],
        )
        .unwrap();
        for want in [
            "client_id=cid",
            "code_challenge_method=S256",
            "code_challenge=",
            "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fcb",
            "scope=a+b",
            "code=true",
            &format!("state={}", p.state),
        ] {
            assert!(p.url.contains(want), "{want} in {}", p.url);
        }
    }
}
