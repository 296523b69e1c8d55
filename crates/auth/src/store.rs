//! Accounts and their credentials in SQLite, in the same database file as the usage table.
//! The file is made readable by its owner only, since it holds tokens.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::credential::Credential;
use crate::error::AuthError;
use crate::files;
use crate::secret::Secret;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id            INTEGER PRIMARY KEY,
    provider      TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    access_token  TEXT NOT NULL,
    refresh_token TEXT,
    expires_at_ms INTEGER,
    extra         TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'active',
    status_reason TEXT,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    UNIQUE (provider, name)
);
";

/// Whether an account is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// Its grant is gone; `switchyard login` brings it back.
    NeedsLogin,
    /// Switched off by the user.
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsLogin => "needs_login",
            AccountStatus::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> AccountStatus {
        match s {
            "needs_login" => AccountStatus::NeedsLogin,
            "disabled" => AccountStatus::Disabled,
            _ => AccountStatus::Active,
        }
    }
}

/// One stored account. Its `Debug` shows masked secrets only.
#[derive(Clone, Debug)]
pub struct StoredAccount {
    pub id: i64,
    pub provider: String,
    pub name: String,
    pub credential: Credential,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub updated: SystemTime,
}

pub struct Store {
    conn: Mutex<Connection>,
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn from_ms(v: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

impl Store {
    /// Opens (creating when needed) the database at `path` and the accounts table.
    pub fn open(path: &Path) -> Result<Store, AuthError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            files::create_private_dir(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        // SQLite gives the journal files the database file's mode.
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            files::restrict(Path::new(&p))?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    /// An in-memory store, for tests.
    pub fn memory() -> Result<Store, AuthError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds the account, or replaces the credential of the one with the same provider and
    /// name and makes it active again. Returns its id.
    pub fn upsert(
        &self,
        provider: &str,
        name: &str,
        credential: &Credential,
    ) -> Result<i64, AuthError> {
        let (kind, access, refresh, expires, extra) = columns(credential);
        let now = ms(crate::clock::now());
        let conn = self.conn();
        conn.execute(
            "INSERT INTO accounts (provider, name, kind, access_token, refresh_token, expires_at_ms,
                extra, status, status_reason, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', NULL, ?8, ?8)
             ON CONFLICT (provider, name) DO UPDATE SET kind = ?3, access_token = ?4,
                refresh_token = ?5, expires_at_ms = ?6, extra = ?7, status = 'active',
                status_reason = NULL, updated_ms = ?8",
            params![provider, name, kind, access, refresh, expires, extra, now],
        )?;
        let id = conn.query_row(
            "SELECT id FROM accounts WHERE provider = ?1 AND name = ?2",
            params![provider, name],
            |r| r.get(0),
        )?;
        Ok(id)
    }

    /// Stores a refreshed credential.
    pub fn update_credential(&self, id: i64, credential: &Credential) -> Result<(), AuthError> {
        let (kind, access, refresh, expires, extra) = columns(credential);
        self.conn().execute(
            "UPDATE accounts SET kind = ?2, access_token = ?3, refresh_token = ?4,
                expires_at_ms = ?5, extra = ?6, updated_ms = ?7 WHERE id = ?1",
            params![
                id,
                kind,
                access,
                refresh,
                expires,
                extra,
                ms(crate::clock::now())
            ],
        )?;
        Ok(())
    }

    pub fn set_status(
        &self,
        id: i64,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> Result<bool, AuthError> {
        let n = self.conn().execute(
            "UPDATE accounts SET status = ?2, status_reason = ?3, updated_ms = ?4 WHERE id = ?1",
            params![id, status.as_str(), reason, ms(crate::clock::now())],
        )?;
        Ok(n > 0)
    }

    pub fn remove(&self, id: i64) -> Result<bool, AuthError> {
        Ok(self
            .conn()
            .execute("DELETE FROM accounts WHERE id = ?1", [id])?
            > 0)
    }

    /// Every account, or those of one provider, in the order they were added.
    pub fn list(&self, provider: Option<&str>) -> Result<Vec<StoredAccount>, AuthError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, provider, name, kind, access_token, refresh_token, expires_at_ms, extra,
                    status, status_reason, updated_ms
             FROM accounts WHERE ?1 IS NULL OR provider = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([provider], row)?;
        rows.map(|r| r.map_err(AuthError::from)).collect()
    }

    pub fn find(&self, provider: &str, name: &str) -> Result<Option<StoredAccount>, AuthError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, provider, name, kind, access_token, refresh_token, expires_at_ms, extra,
                        status, status_reason, updated_ms
                 FROM accounts WHERE provider = ?1 AND name = ?2",
                params![provider, name],
                row,
            )
            .optional()?)
    }
}

type Columns = (&'static str, String, Option<String>, Option<i64>, String);

fn columns(c: &Credential) -> Columns {
    match c {
        Credential::ApiKey(k) => ("api_key", k.expose().to_owned(), None, None, "{}".into()),
        Credential::OAuth {
            access,
            refresh,
            expires_at,
            extra,
        } => (
            "oauth",
            access.expose().to_owned(),
            refresh.as_ref().map(|r| r.expose().to_owned()),
            expires_at.map(ms),
            serde_json::to_string(extra).unwrap_or_else(|_| "{}".into()),
        ),
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredAccount> {
    let kind: String = r.get(3)?;
    let access: String = r.get(4)?;
    let credential = if kind == "api_key" {
        Credential::ApiKey(Secret::new(access))
    } else {
        let extra: String = r.get(7)?;
        Credential::OAuth {
            access: Secret::new(access),
            refresh: r.get::<_, Option<String>>(5)?.map(Secret::new),
            expires_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
            extra: serde_json::from_str::<BTreeMap<String, String>>(&extra).unwrap_or_default(),
        }
    };
    Ok(StoredAccount {
        id: r.get(0)?,
        provider: r.get(1)?,
        name: r.get(2)?,
        credential,
        status: AccountStatus::parse(&r.get::<_, String>(8)?),
        status_reason: r.get(9)?,
        updated: from_ms(r.get(10)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(access: &str) -> Credential {
        Credential::OAuth {
            access: Secret::new(access),
            refresh: Some(Secret::new("rt-1")),
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
            extra: [("account_id".to_owned(), "acc-1".to_owned())].into(),
        }
    }

    #[test]
    fn accounts_round_trip_and_change_status() {
        let s = Store::memory().unwrap();
        let id = s.upsert("codex", "me@example.com", &oauth("at-1")).unwrap();
        let again = s.upsert("codex", "me@example.com", &oauth("at-2")).unwrap();
        assert_eq!(id, again);
        s.upsert("claude", "key", &Credential::ApiKey(Secret::new("sk-1")))
            .unwrap();
        let all = s.list(None).unwrap();
        assert_eq!(all.len(), 2);
        let a = &all[0];
        assert_eq!(a.credential.token().expose(), "at-2");
        assert_eq!(a.credential.extra("account_id"), Some("acc-1"));
        assert_eq!(a.credential.expires_at(), oauth("x").expires_at());
        assert!(!format!("{a:?}").contains("at-2"));

        s.set_status(id, AccountStatus::NeedsLogin, Some("invalid_grant"))
            .unwrap();
        let a = s.find("codex", "me@example.com").unwrap().unwrap();
        assert_eq!(a.status, AccountStatus::NeedsLogin);
        // A new login makes it active again.
        s.upsert("codex", "me@example.com", &oauth("at-3")).unwrap();
        assert_eq!(
            s.list(Some("codex")).unwrap()[0].status,
            AccountStatus::Active
        );
        assert!(s.remove(id).unwrap());
        assert_eq!(s.list(Some("codex")).unwrap().len(), 0);
    }

    #[test]
    fn database_file_is_private() {
        let dir = std::env::temp_dir().join(format!("sy-store-{}", std::process::id()));
        let path = dir.join("data/x.db");
        let s = Store::open(&path).unwrap();
        s.upsert("p", "a", &oauth("t")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
