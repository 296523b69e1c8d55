//! Reads the login of an installed Cursor IDE from its `state.vscdb` (SQLite, table
//! `ItemTable(key, value)`), for `switchyard import cursor`.
//!
//! Keys read: `cursorAuth/accessToken` (older installs: `cursorAuth/token`),
//! `cursorAuth/refreshToken`, `cursorAuth/cachedEmail`, and the machine id from
//! `storage.serviceMachineId`, else `storage.machineId`, else `telemetry.machineId`.
//! The database is opened read-only; Cursor may keep running.
//!
//! The refresh token is kept even when it is the access token itself: the IDE stores a
//! renewed access token under both keys and renews with it (see [`crate::auth`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::Value;
use switchyard_auth::import::{Imported, Importer, Parse};
use switchyard_auth::{AuthError, Credential, Secret};

use crate::CursorError;
use crate::executor::MACHINE_ID;

/// The credential extra holding the account's e-mail, when Cursor cached it.
pub const EMAIL: &str = "email";

const TOKEN_KEYS: [&str; 2] = ["cursorAuth/accessToken", "cursorAuth/token"];
const REFRESH_KEY: &str = "cursorAuth/refreshToken";
const EMAIL_KEY: &str = "cursorAuth/cachedEmail";
const MACHINE_ID_KEYS: [&str; 3] = [
    "storage.serviceMachineId",
    "storage.machineId",
    "telemetry.machineId",
];

/// Where Cursor keeps `state.vscdb` on this platform, if a home directory is known.
pub fn default_state_db() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let global = |base: PathBuf| base.join("Cursor/User/globalStorage/state.vscdb");
    if cfg!(target_os = "windows") {
        env("APPDATA").map(global)
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| global(h.join("Library/Application Support")))
    } else {
        env("XDG_CONFIG_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".config")))
            .map(global)
    }
}

/// Reads the login stored in the `state.vscdb` at `path` (or at [`default_state_db`]):
/// an OAuth credential whose extras hold `machine_id` and, when known, `email`.
pub fn import(path: Option<&Path>) -> Result<Credential, CursorError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => default_state_db().ok_or(CursorError::NoDefaultPath)?,
    };
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(CursorError::NotFound(shown));
    }
    let sql = |source| CursorError::Sqlite {
        path: shown.clone(),
        source,
    };
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    let read = |key: &str| read_item(&conn, key).map_err(sql);

    let mut access = None;
    for key in TOKEN_KEYS {
        if let Some(v) = read(key)? {
            access = Some(v);
            break;
        }
    }
    let access = access.ok_or_else(|| CursorError::NoLogin(shown.clone()))?;
    let mut machine_id = None;
    for key in MACHINE_ID_KEYS {
        if let Some(v) = read(key)? {
            machine_id = Some(v);
            break;
        }
    }
    let machine_id = machine_id.ok_or_else(|| CursorError::NoMachineId(shown.clone()))?;
    let refresh = read(REFRESH_KEY)?;

    let mut extra = BTreeMap::new();
    extra.insert(MACHINE_ID.to_owned(), machine_id);
    if let Some(email) = read(EMAIL_KEY)? {
        extra.insert(EMAIL.to_owned(), email);
    }
    Ok(Credential::OAuth {
        expires_at: jwt_expiry(&access),
        access: Secret::new(access),
        refresh: refresh.map(Secret::new),
        extra,
    })
}

/// `switchyard import cursor [--path state.vscdb]`: the login with the cached e-mail as
/// the account's name.
fn parse_path(path: &Path) -> Result<Imported, AuthError> {
    let credential = import(Some(path)).map_err(|e| AuthError::Invalid(e.to_string()))?;
    let label = credential.extra(EMAIL).map(str::to_owned);
    Ok(Imported { credential, label })
}

inventory::submit! {
    Importer { name: "cursor", kind: "cursor", default_path: default_state_db, parse: Parse::Path(parse_path) }
}

/// One `ItemTable` value as text: stored as TEXT or as a BLOB of UTF-8, sometimes as a JSON
/// string (quoted). Empty values count as absent.
fn read_item(conn: &Connection, key: &str) -> Result<Option<String>, rusqlite::Error> {
    let value: Option<rusqlite::types::Value> = conn
        .query_row("SELECT value FROM ItemTable WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    let text = match value {
        Some(rusqlite::types::Value::Text(t)) => t,
        Some(rusqlite::types::Value::Blob(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => return Ok(None),
    };
    let text = text.trim();
    let text = match serde_json::from_str::<Value>(text) {
        Ok(Value::String(s)) => s,
        _ => text.to_owned(),
    };
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// The `exp` claim of a JWT access token, unverified: only to know when to look again.
fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(label: &str, rows: &[(&str, rusqlite::types::Value)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-cursor-import-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.vscdb");
        let conn = Connection::open(&path).unwrap();
        // The schema VS Code (and so Cursor) creates.
        conn.execute_batch(
            "CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);",
        )
        .unwrap();
        for (k, v) in rows {
            conn.execute(
                "INSERT INTO ItemTable (key, value) VALUES (?1, ?2)",
                rusqlite::params![k, v],
            )
            .unwrap();
        }
        path
    }

    fn text(s: &str) -> rusqlite::types::Value {
        rusqlite::types::Value::Text(s.to_owned())
    }

    fn jwt(exp: u64) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            part(&serde_json::json!({"alg": "HS256", "typ": "JWT"})),
            part(&serde_json::json!({"sub": "auth0|user_01", "exp": exp}))
        )
    }

    #[test]
    fn reads_token_refresh_machine_id_and_email() {
        let token = jwt(1_900_000_000);
        let path = temp_db(
            "full",
            &[
                ("cursorAuth/accessToken", text(&token)),
                ("cursorAuth/refreshToken", text("refresh-1")),
                ("cursorAuth/cachedEmail", text("dev@example.com")),
                (
                    "storage.serviceMachineId",
                    rusqlite::types::Value::Blob(b"\"svc-machine\"".to_vec()),
                ),
                ("telemetry.machineId", text("telemetry-machine")),
                ("unrelated", text("x")),
            ],
        );
        let Credential::OAuth {
            access,
            refresh,
            expires_at,
            extra,
        } = import(Some(&path)).unwrap()
        else {
            panic!("expected an OAuth credential");
        };
        assert_eq!(access.expose(), token);
        assert_eq!(refresh.unwrap().expose(), "refresh-1");
        assert_eq!(
            expires_at,
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );
        // The service machine id wins over the telemetry one, its JSON quotes removed.
        assert_eq!(extra[MACHINE_ID], "svc-machine");
        assert_eq!(extra[EMAIL], "dev@example.com");
    }

    #[test]
    fn falls_back_to_older_keys() {
        let path = temp_db(
            "fallback",
            &[
                ("cursorAuth/token", text("opaque-token")),
                ("telemetry.machineId", text("tm-1")),
            ],
        );
        let cred = import(Some(&path)).unwrap();
        assert_eq!(cred.token().expose(), "opaque-token");
        let Credential::OAuth {
            refresh,
            expires_at,
            extra,
            ..
        } = cred
        else {
            panic!("expected an OAuth credential");
        };
        assert!(refresh.is_none());
        assert!(expires_at.is_none());
        assert_eq!(extra[MACHINE_ID], "tm-1");
        assert!(!extra.contains_key(EMAIL));
    }

    #[test]
    fn the_importer_keeps_a_refresh_token_equal_to_the_access_token_and_names_the_account() {
        let token = jwt(1_900_000_000);
        let path = temp_db(
            "importer",
            &[
                ("cursorAuth/accessToken", text(&token)),
                ("cursorAuth/refreshToken", text(&token)),
                ("cursorAuth/cachedEmail", text("dev@example.com")),
                ("storage.serviceMachineId", text("svc")),
            ],
        );
        let importer = switchyard_auth::import::find("cursor").unwrap();
        assert_eq!(importer.kind, "cursor");
        let (from, imported) = switchyard_auth::import::run(importer, Some(&path)).unwrap();
        assert_eq!(from, path);
        assert_eq!(imported.label.as_deref(), Some("dev@example.com"));
        assert_eq!(imported.credential.refresh_token().unwrap().expose(), token);

        let err = switchyard_auth::import::run(importer, Some(&path.with_file_name("none.vscdb")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.vscdb"), "{err}");
    }

    #[test]
    fn missing_pieces_are_clear_errors() {
        let no_login = temp_db("nologin", &[("telemetry.machineId", text("m"))]);
        let err = import(Some(&no_login)).unwrap_err();
        assert!(matches!(err, CursorError::NoLogin(_)), "{err}");
        assert!(err.to_string().contains("sign in to Cursor"));

        let no_machine = temp_db("nomachine", &[("cursorAuth/accessToken", text("t"))]);
        assert!(matches!(
            import(Some(&no_machine)),
            Err(CursorError::NoMachineId(_))
        ));

        let missing = std::env::temp_dir().join("switchyard-no-such-dir/state.vscdb");
        assert!(matches!(
            import(Some(&missing)),
            Err(CursorError::NotFound(_))
        ));

        let not_sqlite = no_login.with_file_name("garbage.vscdb");
        std::fs::write(&not_sqlite, b"this is not a database, not even close").unwrap();
        let err = import(Some(&not_sqlite)).unwrap_err();
        assert!(matches!(err, CursorError::Sqlite { .. }), "{err}");
    }

    #[test]
    fn errors_never_show_the_token() {
        let path = temp_db(
            "secret",
            &[("cursorAuth/accessToken", text("sekrit-token-value"))],
        );
        let err = import(Some(&path)).unwrap_err();
        assert!(!err.to_string().contains("sekrit"));
        assert!(!format!("{err:?}").contains("sekrit"));
    }

    #[test]
    fn default_path_is_under_cursor_global_storage() {
        if let Some(p) = default_state_db() {
            assert!(p.ends_with("Cursor/User/globalStorage/state.vscdb"));
        }
    }
}
