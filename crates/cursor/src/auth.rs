//! Renewing a Cursor access token, as the Cursor IDE does:
//! `POST https://api2.cursor.sh/oauth/token` with JSON
//! `{grant_type: "refresh_token", client_id: <Cursor's desktop client>, refresh_token}` ->
//! `{access_token, id_token, refresh_token?, shouldLogout}`.
//!
//! The answer rarely carries a new refresh token; the IDE then keeps the new access token
//! as its refresh token too (that is why an imported `state.vscdb` usually holds the same
//! value under both keys), and so does this module. `shouldLogout: true` means the session
//! is gone. The access token is a JWT whose `exp` tells when to renew it next.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use switchyard_auth::http::{HttpSend, body_json, json_request};
use switchyard_auth::oauth::token_answer;
use switchyard_auth::{AuthError, Credential};
use switchyard_provider::RefreshError;

pub const DEFAULT_REFRESH_URL: &str = "https://api2.cursor.sh/oauth/token";
/// The OAuth client id built into the Cursor desktop app (public, the same for everyone).
pub const DEFAULT_CLIENT_ID: &str = "KbZUR41cY7W6zRSdpSUJ7I7mLYBKOCmB";
/// How long a renewed token is trusted when it is not a JWT with an `exp` claim.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Where and as whom refreshes are sent, from the provider's options (`refresh_url`,
/// `auth_client_id`).
#[derive(Clone, Debug)]
pub struct RefreshEndpoint {
    pub url: String,
    pub client_id: String,
}

impl RefreshEndpoint {
    pub fn from_options(options: &BTreeMap<String, String>) -> Self {
        let get = |k: &str, d: &str| {
            options
                .get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .unwrap_or(d)
                .to_owned()
        };
        RefreshEndpoint {
            url: get("refresh_url", DEFAULT_REFRESH_URL),
            client_id: get("auth_client_id", DEFAULT_CLIENT_ID),
        }
    }
}

/// The refresh request's JSON body for `credential`.
pub fn refresh_body(
    endpoint: &RefreshEndpoint,
    credential: &Credential,
) -> Result<Value, RefreshError> {
    let Credential::OAuth { refresh, .. } = credential else {
        return Err(RefreshError::NotSupported);
    };
    let Some(refresh) = refresh.as_ref().filter(|r| !r.is_empty()) else {
        return Err(RefreshError::Terminal(
            "the Cursor login has no refresh token; sign in to Cursor and run `switchyard import cursor` again".into(),
        ));
    };
    Ok(json!({
        "grant_type": "refresh_token",
        "client_id": endpoint.client_id,
        "refresh_token": refresh.expose(),
    }))
}

/// The renewed credential from the token endpoint's answer, or why there is none. The
/// credential's extras (machine id, e-mail) are kept.
pub fn read_answer(
    credential: &Credential,
    status: u16,
    body: &Value,
    now: SystemTime,
) -> Result<Credential, RefreshError> {
    let Credential::OAuth { extra, .. } = credential else {
        return Err(RefreshError::NotSupported);
    };
    if (200..300).contains(&status) && body.get("shouldLogout") == Some(&Value::Bool(true)) {
        return Err(RefreshError::Terminal(
            "Cursor ended the session (shouldLogout); sign in to Cursor and import again".into(),
        ));
    }
    let tokens = token_answer(status, body).map_err(|e| match e {
        AuthError::Terminal(m) => RefreshError::Terminal(format!("Cursor token refresh: {m}")),
        other => RefreshError::Transient(format!("Cursor token refresh: {other}")),
    })?;
    let expires_at = switchyard_auth::jwt::expiry(tokens.access.expose())
        .or_else(|| tokens.expires_in.map(|d| now + d))
        .or(Some(now + DEFAULT_LIFETIME));
    let refresh = tokens.refresh.unwrap_or_else(|| tokens.access.clone());
    Ok(Credential::OAuth {
        access: tokens.access,
        refresh: Some(refresh),
        expires_at,
        extra: extra.clone(),
    })
}

/// Runs one refresh through `http`.
pub async fn refresh(
    endpoint: &RefreshEndpoint,
    credential: &Credential,
    http: &dyn HttpSend,
) -> Result<Credential, RefreshError> {
    let body = refresh_body(endpoint, credential)?;
    let req = json_request(&endpoint.url, &body, &[])
        .map_err(|e| RefreshError::Transient(format!("Cursor token refresh: {e}")))?;
    let res = http.send(req).await.map_err(|e| {
        RefreshError::Transient(format!("cannot reach Cursor's token endpoint: {e}"))
    })?;
    read_answer(
        credential,
        res.status().as_u16(),
        &body_json(&res),
        switchyard_hub::clock::now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::time::UNIX_EPOCH;
    use switchyard_auth::Secret;

    fn cred(refresh: Option<&str>) -> Credential {
        Credential::OAuth {
            access: Secret::new("old-access"),
            refresh: refresh.map(Secret::new),
            expires_at: None,
            extra: [("machine_id".to_owned(), "m-1".to_owned())].into(),
        }
    }

    fn jwt(exp: u64) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            part(json!({"alg": "HS256"})),
            part(json!({"sub": "auth0|user_1", "exp": exp}))
        )
    }

    #[test]
    fn the_body_names_cursors_client_and_the_refresh_token() {
        let e = RefreshEndpoint::from_options(&BTreeMap::new());
        assert_eq!(e.url, DEFAULT_REFRESH_URL);
        assert_eq!(
            refresh_body(&e, &cred(Some("rt-1"))).unwrap(),
            json!({"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID, "refresh_token": "rt-1"})
        );
        let opts: BTreeMap<String, String> = [
            ("refresh_url", "http://127.0.0.1:9/oauth/token"),
            ("auth_client_id", "other"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let e = RefreshEndpoint::from_options(&opts);
        assert_eq!(e.url, "http://127.0.0.1:9/oauth/token");
        assert_eq!(
            refresh_body(&e, &cred(Some("r"))).unwrap()["client_id"],
            "other"
        );
        assert!(matches!(
            refresh_body(&e, &cred(None)),
            Err(RefreshError::Terminal(_))
        ));
        assert_eq!(
            refresh_body(&e, &Credential::ApiKey(Secret::new("k"))),
            Err(RefreshError::NotSupported)
        );
    }

    #[test]
    fn the_new_access_token_is_also_the_next_refresh_token() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let token = jwt(1_900_000_000);
        let answer = json!({"access_token": token, "id_token": "id", "shouldLogout": false});
        let Credential::OAuth {
            access,
            refresh,
            expires_at,
            extra,
        } = read_answer(&cred(Some("rt")), 200, &answer, now).unwrap()
        else {
            panic!("not oauth")
        };
        assert_eq!(access.expose(), token);
        assert_eq!(refresh.unwrap().expose(), token);
        assert_eq!(
            expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        assert_eq!(extra["machine_id"], "m-1");

        // A rotated refresh token wins; an opaque token lives an hour.
        let answer = json!({"access_token": "opaque", "refresh_token": "rt-2"});
        let Credential::OAuth {
            refresh,
            expires_at,
            ..
        } = read_answer(&cred(Some("rt")), 200, &answer, now).unwrap()
        else {
            panic!("not oauth")
        };
        assert_eq!(refresh.unwrap().expose(), "rt-2");
        assert_eq!(expires_at, Some(now + DEFAULT_LIFETIME));
    }

    #[test]
    fn dead_sessions_are_terminal_and_outages_transient() {
        let now = switchyard_hub::clock::now();
        let c = cred(Some("rt"));
        let terminal = |status, body: Value| {
            matches!(
                read_answer(&c, status, &body, now),
                Err(RefreshError::Terminal(_))
            )
        };
        assert!(terminal(
            200,
            json!({"access_token": "", "shouldLogout": true})
        ));
        assert!(terminal(
            400,
            json!({"error": "invalid_grant", "error_description": "bad"})
        ));
        assert!(terminal(401, json!({})));
        assert!(!terminal(500, json!({"error": "server_error"})));
        assert!(!terminal(429, Value::Null));
        assert!(matches!(
            read_answer(&c, 503, &Value::Null, now),
            Err(RefreshError::Transient(_))
        ));
        // Nothing of the body but the provider's words reaches the error.
        let err = read_answer(
            &c,
            400,
            &json!({"error": "invalid_grant", "refresh_token": "leak-me"}),
            now,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("leak-me"));
    }
}
