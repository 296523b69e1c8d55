//! Account reset requests: a reset asked for by `switchyard accounts reset` is kept as a row
//! until a server applies it. A running server owns its accounts' state in memory and saves
//! it over the database, so the command cannot simply edit the saved state; the request row
//! is read by the running server's account reload loop, or by the next start-up, whichever
//! comes first, and deleted once applied.

use rusqlite::{Connection, params};

/// Which accounts a reset covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetScope {
    All,
    Provider(String),
    Account { provider: String, account: String },
}

impl ResetScope {
    /// The audit log's target for a reset of this scope: `*`, the provider, or
    /// `provider/account`.
    pub fn audit_target(&self) -> String {
        match self {
            ResetScope::All => "*".into(),
            ResetScope::Provider(p) => p.clone(),
            ResetScope::Account { provider, account } => format!("{provider}/{account}"),
        }
    }

    pub fn covers(&self, provider: &str, account: &str) -> bool {
        match self {
            ResetScope::All => true,
            ResetScope::Provider(p) => p == provider,
            ResetScope::Account {
                provider: p,
                account: a,
            } => p == provider && a == account,
        }
    }

    fn columns(&self) -> (Option<&str>, Option<&str>) {
        match self {
            ResetScope::All => (None, None),
            ResetScope::Provider(p) => (Some(p), None),
            ResetScope::Account { provider, account } => (Some(provider), Some(account)),
        }
    }
}

impl std::fmt::Display for ResetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResetScope::All => f.write_str("every account"),
            ResetScope::Provider(p) => write!(f, "provider `{p}`"),
            ResetScope::Account { provider, account } => write!(f, "`{provider}/{account}`"),
        }
    }
}

/// Clears the routing penalties of the saved states `scope` covers: what a reset does to an
/// account the server is not holding in memory. Counters and the last error stay.
fn clear_saved(conn: &Connection, scope: &ResetScope) -> rusqlite::Result<usize> {
    let (provider, account) = scope.columns();
    conn.execute(
        "UPDATE account_state SET cooldown_until_ms = NULL, model_cooldowns = '[]', cooldown_reasons = '[]',
             backoff_level = 0, consecutive_failures = 0, disabled_until_ms = NULL
         WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR account = ?2)",
        params![provider, account],
    )
}

/// Records a reset for a server to apply, and clears the saved state at once so a stopped
/// server's status shows it; both in one transaction.
pub fn request_reset(
    conn: &mut Connection,
    scope: &ResetScope,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let (provider, account) = scope.columns();
    tx.execute(
        "INSERT INTO account_resets (provider, account, requested_ms) VALUES (?1, ?2, ?3)",
        params![provider, account, now_ms],
    )?;
    clear_saved(&tx, scope)?;
    tx.commit()
}

/// The resets waiting to be applied, oldest first, with the id of the newest (for
/// [`forget_resets`]).
pub fn pending_resets(conn: &Connection) -> rusqlite::Result<(Vec<ResetScope>, i64)> {
    let mut stmt =
        conn.prepare_cached("SELECT id, provider, account FROM account_resets ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut scopes = Vec::new();
    let mut last = 0;
    for row in rows {
        let (id, provider, account) = row?;
        last = last.max(id);
        scopes.push(match (provider, account) {
            (Some(provider), Some(account)) => ResetScope::Account { provider, account },
            (Some(p), None) => ResetScope::Provider(p),
            _ => ResetScope::All,
        });
    }
    Ok((scopes, last))
}

/// Deletes the resets up to `last` once they are applied; one requested meanwhile stays.
pub fn forget_resets(conn: &Connection, last: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM account_resets WHERE id <= ?1")?
        .execute([last])?;
    Ok(())
}

/// At start-up, before the saved states are read: applies every pending reset to them and
/// forgets it. Returns what was applied, for the log.
pub fn apply_pending_resets(conn: &mut Connection) -> rusqlite::Result<Vec<ResetScope>> {
    let tx = conn.transaction()?;
    let (scopes, last) = pending_resets(&tx)?;
    for s in &scopes {
        clear_saved(&tx, s)?;
    }
    forget_resets(&tx, last)?;
    tx.commit()?;
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::usage_store::{AccountStateRow, insert, load_account_states, open};

    fn cooled(provider: &str, account: &str) -> AccountStateRow {
        AccountStateRow {
            provider: provider.into(),
            account: account.into(),
            cooldown_until_ms: Some(i64::MAX / 2),
            model_cooldowns: vec![("m1".into(), i64::MAX / 2)],
            backoff_level: 3,
            consecutive_failures: 2,
            disabled_until_ms: Some(i64::MAX / 2),
            day_requests: 5,
            ..AccountStateRow::default()
        }
    }

    /// A server that saved its (cooled) state after the command asked for a reset, then
    /// stopped before applying it: the next start-up applies it, to the accounts it names.
    #[test]
    fn a_reset_the_running_server_missed_is_applied_at_start_up_once() {
        let dir = std::env::temp_dir().join(format!("sy-reset-{}", uuid::Uuid::new_v4()));
        let mut conn = open(&dir.join("u.db")).unwrap();
        let scope = ResetScope::Provider("p".into());
        request_reset(&mut conn, &scope, 1).unwrap();
        insert(&mut conn, &[], &[], &[cooled("p", "a1"), cooled("q", "b1")]).unwrap();

        assert_eq!(apply_pending_resets(&mut conn).unwrap(), [scope]);
        let states = load_account_states(&conn).unwrap();
        let a1 = states.iter().find(|s| s.account == "a1").unwrap();
        assert_eq!(
            (
                a1.cooldown_until_ms,
                a1.model_cooldowns.len(),
                a1.backoff_level
            ),
            (None, 0, 0)
        );
        assert_eq!((a1.consecutive_failures, a1.disabled_until_ms), (0, None));
        assert_eq!(a1.day_requests, 5, "counters stay");
        let b1 = states.iter().find(|s| s.account == "b1").unwrap();
        assert_eq!(b1, &cooled("q", "b1"));
        assert!(pending_resets(&conn).unwrap().0.is_empty());
        assert!(apply_pending_resets(&mut conn).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
