//! Importing the login the Kiro IDE already holds, so no new login is needed.
//!
//! The IDE keeps it in `~/.aws/sso/cache/kiro-auth-token.json`:
//! `{accessToken, refreshToken, expiresAt (RFC 3339), profileArn?, authMethod ("social" |
//! "IdC"), provider ("Google" | "Github" | "BuilderId" | ...), region?, clientIdHash?}`.
//! An SSO (IdC / Builder ID) login names its OIDC client registration by `clientIdHash`:
//! `<same folder>/<clientIdHash>.json` holds `{clientId, clientSecret, expiresAt}`, which the
//! refresh needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;
use switchyard_auth::import::{Imported, Importer, Parse};
use switchyard_auth::{AuthError, Credential, Secret};

use crate::error::KiroError;
use crate::extra;

pub const TOKEN_FILE: &str = "kiro-auth-token.json";

/// `~/.aws/sso/cache/kiro-auth-token.json`, if a home folder is known.
pub fn default_token_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(
        PathBuf::from(home)
            .join(".aws")
            .join("sso")
            .join("cache")
            .join(TOKEN_FILE),
    )
}

/// Reads the Kiro login at `token_path` (and, for an SSO login, its client registration
/// beside it) into a credential whose `extra` carries what requests and refreshes need.
pub fn import_login(token_path: &Path) -> Result<Credential, KiroError> {
    let token = read_json(token_path)?;
    let fail = |message: String| KiroError::Import {
        path: token_path.to_owned(),
        message,
    };
    let text = |k: &str| {
        token
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let access = text("accessToken").ok_or_else(|| fail("no accessToken".into()))?;
    let refresh = text("refreshToken");
    let expires_at = match text("expiresAt") {
        Some(at) => Some(
            parse_time(at)
                .ok_or_else(|| fail(format!("expiresAt {at:?} is not an RFC 3339 time")))?,
        ),
        None => None,
    };
    let mut extras = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            extras.insert(k.to_owned(), v.to_owned());
        }
    };
    put(extra::PROFILE_ARN, text("profileArn"));
    put(extra::AUTH_METHOD, text("authMethod"));
    put(extra::LOGIN_PROVIDER, text("provider"));
    put(extra::REGION, text("region"));
    put(extra::START_URL, text("startUrl"));
    // Some versions keep the client beside the token.
    put(extra::CLIENT_ID, text("clientId"));
    put(extra::CLIENT_SECRET, text("clientSecret"));

    let sso = text("authMethod").is_some_and(|m| !m.eq_ignore_ascii_case("social"));
    if !extras.contains_key(extra::CLIENT_ID) {
        if let Some(hash) = text("clientIdHash") {
            let registration = registration_path(token_path, hash)
                .ok_or_else(|| fail(format!("clientIdHash {hash:?} is not a plain file name")))?;
            let client = read_json(&registration)?;
            let field = |k: &str| {
                client
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| KiroError::Import {
                        path: registration.clone(),
                        message: format!("no {k}"),
                    })
            };
            extras.insert(extra::CLIENT_ID.into(), field("clientId")?);
            extras.insert(extra::CLIENT_SECRET.into(), field("clientSecret")?);
        } else if sso {
            return Err(fail(
                "an SSO login needs its client registration, but the file names no clientIdHash"
                    .into(),
            ));
        }
    }
    Ok(Credential::OAuth {
        access: Secret::new(access),
        refresh: refresh.map(Secret::new),
        expires_at,
        extra: extras,
    })
}

/// `switchyard import kiro [--path kiro-auth-token.json]`. The file names no account, so
/// the account gets the provider's next free name unless `--name` gives one.
fn parse_path(path: &Path) -> Result<Imported, AuthError> {
    let credential = import_login(path).map_err(|e| AuthError::Invalid(e.to_string()))?;
    Ok(Imported {
        credential,
        label: None,
    })
}

inventory::submit! {
    Importer { name: "kiro", kind: "kiro", default_path: default_token_path, parse: Parse::Path(parse_path) }
}

/// The registration file named by `hash`, beside the token file. `None` when the hash
/// could step outside that folder.
fn registration_path(token_path: &Path, hash: &str) -> Option<PathBuf> {
    let plain = !hash.is_empty()
        && hash.len() <= 128
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return None;
    }
    let dir = token_path.parent().unwrap_or(Path::new("."));
    Some(dir.join(format!("{hash}.json")))
}

fn read_json(path: &Path) -> Result<Value, KiroError> {
    let text = std::fs::read_to_string(path).map_err(|e| KiroError::Import {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| KiroError::Import {
        path: path.to_owned(),
        message: format!("not JSON: {e}"),
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(KiroError::Import {
            path: path.to_owned(),
            message: "not a JSON object".into(),
        })
    }
}

fn parse_time(at: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let secs = u64::try_from(t.timestamp()).ok()?;
    let nanos = t.timestamp_subsec_nanos();
    SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dir(label: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "switchyard-kiro-import-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn imports_a_social_login() {
        let d = dir("social");
        let path = d.join(TOKEN_FILE);
        std::fs::write(
            &path,
            r#"{"accessToken":"aoa-access","refreshToken":"aor-refresh","expiresAt":"2030-01-02T03:04:05.500Z",
               "profileArn":"arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK",
               "authMethod":"social","provider":"Github"}"#,
        )
        .unwrap();
        let Credential::OAuth {
            access,
            refresh,
            expires_at,
            extra,
        } = import_login(&path).unwrap()
        else {
            panic!("not oauth")
        };
        assert_eq!(access.expose(), "aoa-access");
        assert_eq!(refresh.unwrap().expose(), "aor-refresh");
        let want = SystemTime::UNIX_EPOCH + Duration::new(1_893_553_445, 500_000_000);
        assert_eq!(expires_at, Some(want));
        assert!(extra[extra::PROFILE_ARN].starts_with("arn:aws:codewhisperer"));
        assert_eq!(extra[extra::AUTH_METHOD], "social");
        assert_eq!(extra[extra::LOGIN_PROVIDER], "Github");
        assert!(!extra.contains_key(extra::CLIENT_ID));
        assert_eq!(
            crate::auth::login_kind(&extra),
            crate::auth::LoginKind::Social
        );
    }

    #[test]
    fn imports_an_sso_login_with_its_client_registration() {
        let d = dir("sso");
        let path = d.join(TOKEN_FILE);
        std::fs::write(
            &path,
            r#"{"accessToken":"a","refreshToken":"r","expiresAt":"2030-01-01T00:00:00Z",
               "authMethod":"IdC","provider":"BuilderId","region":"eu-central-1",
               "clientIdHash":"0123abcd"}"#,
        )
        .unwrap();
        std::fs::write(
            d.join("0123abcd.json"),
            r#"{"clientId":"client-1","clientSecret":"secret-1","expiresAt":"2030-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let Credential::OAuth { extra, .. } = import_login(&path).unwrap() else {
            panic!("not oauth")
        };
        assert_eq!(extra[extra::CLIENT_ID], "client-1");
        assert_eq!(extra[extra::CLIENT_SECRET], "secret-1");
        assert_eq!(extra[extra::REGION], "eu-central-1");
        assert_eq!(
            crate::auth::login_kind(&extra),
            crate::auth::LoginKind::Oidc
        );
    }

    #[test]
    fn the_kiro_importer_reads_the_login_and_its_registration() {
        let d = dir("importer");
        let path = d.join(TOKEN_FILE);
        std::fs::write(
            &path,
            r#"{"accessToken":"a","refreshToken":"r","expiresAt":"2020-01-01T00:00:00Z",
               "authMethod":"IdC","provider":"BuilderId","clientIdHash":"abc"}"#,
        )
        .unwrap();
        std::fs::write(
            d.join("abc.json"),
            r#"{"clientId":"cid","clientSecret":"cs"}"#,
        )
        .unwrap();
        let importer = switchyard_auth::import::find("kiro").unwrap();
        assert_eq!(importer.kind, "kiro");
        let (_, imported) = switchyard_auth::import::run(importer, Some(&path)).unwrap();
        assert!(imported.label.is_none());
        let c = imported.credential;
        assert_eq!(c.extra(extra::CLIENT_ID), Some("cid"));
        assert!(
            c.expires_within(Duration::ZERO),
            "the expired token is kept as such"
        );

        std::fs::remove_file(d.join("abc.json")).unwrap();
        let err = switchyard_auth::import::run(importer, Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("abc.json"), "{err}");
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let d = dir("bad");
        let path = d.join(TOKEN_FILE);
        let err = import_login(&path).unwrap_err();
        assert!(err.to_string().contains(TOKEN_FILE), "{err}");

        std::fs::write(&path, r#"{"refreshToken":"r"}"#).unwrap();
        assert!(
            import_login(&path)
                .unwrap_err()
                .to_string()
                .contains("accessToken")
        );

        std::fs::write(&path, r#"{"accessToken":"a","expiresAt":"tomorrow"}"#).unwrap();
        assert!(
            import_login(&path)
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );

        std::fs::write(
            &path,
            r#"{"accessToken":"a","authMethod":"IdC","clientIdHash":"../../etc/passwd"}"#,
        )
        .unwrap();
        assert!(
            import_login(&path)
                .unwrap_err()
                .to_string()
                .contains("plain file name")
        );

        std::fs::write(
            &path,
            r#"{"accessToken":"a","authMethod":"IdC","clientIdHash":"missing"}"#,
        )
        .unwrap();
        assert!(
            import_login(&path)
                .unwrap_err()
                .to_string()
                .contains("missing.json")
        );

        std::fs::write(&path, r#"{"accessToken":"a","authMethod":"IdC"}"#).unwrap();
        assert!(
            import_login(&path)
                .unwrap_err()
                .to_string()
                .contains("clientIdHash")
        );

        // Errors never show the token.
        std::fs::write(&path, r#"{"accessToken":"sekrit-token","expiresAt":"x"}"#).unwrap();
        assert!(
            !import_login(&path)
                .unwrap_err()
                .to_string()
                .contains("sekrit")
        );
    }

    #[test]
    fn default_path_is_under_aws_sso_cache() {
        if let Some(p) = default_token_path() {
            assert!(p.ends_with(".aws/sso/cache/kiro-auth-token.json"));
        }
    }
}
