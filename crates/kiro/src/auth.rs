//! Renewing a Kiro access token. Kiro logins come in two kinds, told apart by what the
//! credential's `extra` holds:
//!
//! - social (Google / GitHub through Kiro's own auth service): `POST {social_refresh_url}`
//!   with JSON `{refreshToken}` -> `{accessToken, refreshToken, expiresIn, profileArn?}`;
//! - AWS SSO OIDC (Builder ID, IAM Identity Center), recognised by `client_id` and
//!   `client_secret` in `extra`: `POST https://oidc.{region}.amazonaws.com/token` with JSON
//!   `{clientId, clientSecret, refreshToken, grantType: "refresh_token"}` ->
//!   `{accessToken, refreshToken?, expiresIn}`.
//!
//! Both may rotate the refresh token; the new one replaces the old when sent.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};
use switchyard_auth::{Credential, Secret};
use switchyard_provider::UpstreamClient;
use switchyard_provider::executor::RefreshError;

use crate::extra;

pub const DEFAULT_SOCIAL_REFRESH_URL: &str =
    "https://prod.us-east-1.auth.desktop.kiro.dev/refreshToken";
/// `{region}` is replaced by the credential's region.
pub const DEFAULT_OIDC_TOKEN_URL: &str = "https://oidc.{region}.amazonaws.com/token";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_REFRESH_USER_AGENT: &str = "KiroIDE";
/// How long a token lives when the answer does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ANSWER: usize = 1024 * 1024;

/// OAuth error codes after which retrying cannot help: the login is gone.
const TERMINAL_CODES: [&str; 8] = [
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "expired_token",
    "access_denied",
    "invalid_token",
    "InvalidGrantException",
    "UnauthorizedClientException",
];

/// Where the refresh requests go, from the provider's options.
#[derive(Clone, Debug)]
pub struct RefreshEndpoints {
    pub social_url: String,
    /// May contain `{region}`.
    pub oidc_url: String,
    pub default_region: String,
    pub user_agent: String,
}

impl RefreshEndpoints {
    pub fn from_options(options: &BTreeMap<String, String>) -> Self {
        let get = |k: &str, d: &str| options.get(k).cloned().unwrap_or_else(|| d.to_owned());
        Self {
            social_url: get("social_refresh_url", DEFAULT_SOCIAL_REFRESH_URL),
            oidc_url: get("oidc_token_url", DEFAULT_OIDC_TOKEN_URL),
            default_region: get("region", DEFAULT_REGION),
            user_agent: get("refresh_user_agent", DEFAULT_REFRESH_USER_AGENT),
        }
    }
}

/// The kind of login a credential comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKind {
    Social,
    Oidc,
}

pub fn login_kind(extra: &BTreeMap<String, String>) -> LoginKind {
    let has = |k: &str| extra.get(k).is_some_and(|v| !v.is_empty());
    if has(extra::CLIENT_ID) && has(extra::CLIENT_SECRET) {
        LoginKind::Oidc
    } else {
        LoginKind::Social
    }
}

/// The refresh request for `credential`: (url, JSON body).
pub fn refresh_request(
    endpoints: &RefreshEndpoints,
    credential: &Credential,
) -> Result<(String, Value), RefreshError> {
    let Credential::OAuth { refresh, extra, .. } = credential else {
        return Err(RefreshError::NotSupported);
    };
    let Some(refresh) = refresh.as_ref().filter(|r| !r.is_empty()) else {
        return Err(RefreshError::Terminal(
            "the Kiro login has no refresh token; log in again".into(),
        ));
    };
    match login_kind(extra) {
        LoginKind::Social => Ok((
            endpoints.social_url.clone(),
            json!({"refreshToken": refresh.expose()}),
        )),
        LoginKind::Oidc => {
            let region = extra
                .get(extra::REGION)
                .filter(|r| is_region(r))
                .unwrap_or(&endpoints.default_region);
            let field = |k: &str| extra.get(k).cloned().unwrap_or_default();
            Ok((
                endpoints.oidc_url.replace("{region}", region),
                json!({
                    "clientId": field(extra::CLIENT_ID),
                    "clientSecret": field(extra::CLIENT_SECRET),
                    "refreshToken": refresh.expose(),
                    "grantType": "refresh_token",
                }),
            ))
        }
    }
}

/// A region name can only be letters, digits and dashes; anything else must not reach a URL.
fn is_region(r: &str) -> bool {
    !r.is_empty() && r.len() <= 32 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The renewed credential from a refresh answer, or why there is none.
pub fn read_answer(
    credential: &Credential,
    status: u16,
    body: &[u8],
    now: SystemTime,
) -> Result<Credential, RefreshError> {
    let Credential::OAuth { refresh, extra, .. } = credential else {
        return Err(RefreshError::NotSupported);
    };
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = parsed
            .get("error")
            .or_else(|| parsed.get("__type"))
            .or_else(|| parsed.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let code = code.rsplit('#').next().unwrap_or(code);
        // Only the provider's words about the error, never the body (it may echo tokens).
        let said = parsed
            .get("error_description")
            .or_else(|| parsed.get("message"))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(200).collect::<String>())
            .unwrap_or_default();
        let message = format!("Kiro token refresh answered {status} {code} {said}")
            .trim()
            .to_owned();
        let terminal = TERMINAL_CODES.contains(&code)
            || (matches!(status, 400 | 401 | 403) && code.is_empty());
        return Err(if terminal {
            RefreshError::Terminal(message)
        } else {
            RefreshError::Transient(message)
        });
    }
    let Some(access) = parsed
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(RefreshError::Transient(
            "Kiro token refresh answered without an accessToken".into(),
        ));
    };
    let lifetime = parsed
        .get("expiresIn")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    let new_refresh = parsed
        .get("refreshToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .or_else(|| refresh.clone());
    let mut extra = extra.clone();
    if let Some(arn) = parsed.get("profileArn").and_then(Value::as_str) {
        extra.insert(extra::PROFILE_ARN.into(), arn.to_owned());
    }
    Ok(Credential::OAuth {
        access: Secret::new(access),
        refresh: new_refresh,
        expires_at: Some(now + lifetime),
        extra,
    })
}

/// Runs one refresh against the network.
pub async fn refresh(
    endpoints: &RefreshEndpoints,
    credential: &Credential,
    client: &UpstreamClient,
) -> Result<Credential, RefreshError> {
    let (url, body) = refresh_request(endpoints, credential)?;
    let req = http::Request::post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, endpoints.user_agent.as_str())
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| RefreshError::Transient(format!("invalid Kiro refresh URL: {e}")))?;
    let exchange = async {
        let res = client.send(req).await.map_err(|e| {
            RefreshError::Transient(format!("cannot reach the Kiro auth service: {e}"))
        })?;
        let status = res.status().as_u16();
        let bytes = Limited::new(res.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| RefreshError::Transient(format!("Kiro refresh answer broke off: {e}")))?
            .to_bytes();
        Ok::<_, RefreshError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(REFRESH_TIMEOUT, exchange)
        .await
        .map_err(|_| RefreshError::Transient("Kiro token refresh timed out".into()))??;
    read_answer(credential, status, &bytes, switchyard_hub::clock::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(extra: &[(&str, &str)]) -> Credential {
        Credential::OAuth {
            access: Secret::new("old-access"),
            refresh: Some(Secret::new("old-refresh")),
            expires_at: None,
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn endpoints() -> RefreshEndpoints {
        RefreshEndpoints::from_options(&BTreeMap::new())
    }

    #[test]
    fn social_logins_post_the_refresh_token() {
        let (url, body) =
            refresh_request(&endpoints(), &cred(&[("auth_method", "social")])).unwrap();
        assert_eq!(url, DEFAULT_SOCIAL_REFRESH_URL);
        assert_eq!(body, json!({"refreshToken": "old-refresh"}));
    }

    #[test]
    fn sso_logins_post_to_the_regions_oidc_endpoint() {
        let c = cred(&[
            ("client_id", "cid"),
            ("client_secret", "csecret"),
            ("region", "eu-west-1"),
        ]);
        let (url, body) = refresh_request(&endpoints(), &c).unwrap();
        assert_eq!(url, "https://oidc.eu-west-1.amazonaws.com/token");
        assert_eq!(
            body,
            json!({"clientId": "cid", "clientSecret": "csecret", "refreshToken": "old-refresh",
                "grantType": "refresh_token"})
        );
        // A region that could bend the URL is ignored.
        let c = cred(&[
            ("client_id", "c"),
            ("client_secret", "s"),
            ("region", "x/../evil"),
        ]);
        let (url, _) = refresh_request(&endpoints(), &c).unwrap();
        assert_eq!(url, "https://oidc.us-east-1.amazonaws.com/token");
    }

    #[test]
    fn endpoints_come_from_options() {
        let opts: BTreeMap<String, String> = [
            ("social_refresh_url", "http://127.0.0.1:9/refreshToken"),
            ("oidc_token_url", "http://127.0.0.1:9/{region}/token"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let e = RefreshEndpoints::from_options(&opts);
        let c = cred(&[("client_id", "c"), ("client_secret", "s")]);
        assert_eq!(
            refresh_request(&e, &c).unwrap().0,
            "http://127.0.0.1:9/us-east-1/token"
        );
    }

    #[test]
    fn answers_rotate_tokens_and_keep_extras() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let c = cred(&[("auth_method", "social")]);
        let body = br#"{"accessToken":"new-access","refreshToken":"new-refresh","expiresIn":600,"profileArn":"arn:aws:codewhisperer:us-east-1:1:profile/X"}"#;
        let Credential::OAuth {
            access,
            refresh,
            expires_at,
            extra,
        } = read_answer(&c, 200, body, now).unwrap()
        else {
            panic!("not oauth")
        };
        assert_eq!(access.expose(), "new-access");
        assert_eq!(refresh.unwrap().expose(), "new-refresh");
        assert_eq!(expires_at, Some(now + Duration::from_secs(600)));
        assert_eq!(extra["auth_method"], "social");
        assert!(extra["profile_arn"].ends_with("profile/X"));

        // No new refresh token: the old one stays.
        let Credential::OAuth { refresh, .. } =
            read_answer(&c, 200, br#"{"accessToken":"a2"}"#, now).unwrap()
        else {
            panic!("not oauth")
        };
        assert_eq!(refresh.unwrap().expose(), "old-refresh");
    }

    #[test]
    fn errors_are_terminal_or_transient() {
        let c = cred(&[]);
        let now = switchyard_hub::clock::now();
        let terminal = |status, body: &[u8]| {
            matches!(
                read_answer(&c, status, body, now),
                Err(RefreshError::Terminal(_))
            )
        };
        assert!(terminal(
            400,
            br#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#
        ));
        assert!(terminal(
            400,
            br#"{"__type":"com.amazonaws#InvalidGrantException"}"#
        ));
        assert!(terminal(401, b"{}"));
        assert!(terminal(403, b"not json"));
        assert!(!terminal(429, br#"{"error":"slow_down"}"#));
        assert!(!terminal(500, b""));
        assert!(matches!(
            read_answer(&c, 200, b"{}", now),
            Err(RefreshError::Transient(_))
        ));
        // The error never carries the body's other fields.
        let err = read_answer(
            &c,
            400,
            br#"{"error":"invalid_grant","refreshToken":"leak-me"}"#,
            now,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("leak-me"));
    }

    #[test]
    fn api_keys_and_missing_refresh_tokens() {
        let key = Credential::ApiKey(Secret::new("k"));
        assert_eq!(
            refresh_request(&endpoints(), &key).unwrap_err(),
            RefreshError::NotSupported
        );
        let none = Credential::OAuth {
            access: Secret::new("a"),
            refresh: None,
            expires_at: None,
            extra: BTreeMap::new(),
        };
        assert!(matches!(
            refresh_request(&endpoints(), &none),
            Err(RefreshError::Terminal(_))
        ));
    }
}
