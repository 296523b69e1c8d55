//! The stored client keys: read whole (the serving table is rebuilt from them), inserted,
//! changed and revoked by the management API and `switchyard keys`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::routing::budgets::Budget;
use crate::routing::limits::Limits;
use crate::state::client_keys::StoredKey;

const COLUMNS: &str = "id, name, secret_sha256, last4, created_ms, expires_ms, revoked_ms,
    requests_per_minute, tokens_per_day, tokens_per_month";

/// What a read selects: the key's columns and its dollar budget (kept in their own table,
/// `client_key_budgets`, so the migration that adds them can run twice unharmed).
const SELECT: &str = "SELECT k.id, k.name, k.secret_sha256, k.last4, k.created_ms, k.expires_ms,
    k.revoked_ms, k.requests_per_minute, k.tokens_per_day, k.tokens_per_month,
    b.usd_per_day, b.usd_per_month
    FROM client_keys k LEFT JOIN client_key_budgets b ON b.id = k.id";

fn key(r: &Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        id: r.get(0)?,
        name: r.get(1)?,
        hash: r.get(2)?,
        last4: r.get(3)?,
        created_ms: r.get(4)?,
        expires_ms: r.get(5)?,
        revoked_ms: r.get(6)?,
        limits: Limits {
            requests_per_minute: r.get(7)?,
            tokens_per_day: r.get::<_, Option<i64>>(8)?.map(to_u64),
            tokens_per_month: r.get::<_, Option<i64>>(9)?.map(to_u64),
        },
        budget: Budget {
            usd_per_day: r.get(10)?,
            usd_per_month: r.get(11)?,
        },
    })
}

/// SQLite integers are signed; a limit beyond `i64::MAX` is no limit anyone reaches.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Every stored key, oldest first.
pub fn load_keys(conn: &Connection) -> rusqlite::Result<Vec<StoredKey>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY k.created_ms, k.id"))?;
    stmt.query_map([], key)?.collect()
}

pub fn load_key(conn: &Connection, id: &str) -> rusqlite::Result<Option<StoredKey>> {
    conn.query_row(&format!("{SELECT} WHERE k.id = ?1"), [id], key)
        .optional()
}

pub fn insert_key(conn: &Connection, k: &StoredKey) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO client_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            k.id,
            k.name,
            k.hash,
            k.last4,
            k.created_ms,
            k.expires_ms,
            k.revoked_ms,
            k.limits.requests_per_minute,
            k.limits.tokens_per_day.map(to_i64),
            k.limits.tokens_per_month.map(to_i64),
        ],
    )?;
    save_budget(conn, k)
}

/// Writes a key's dollar budget (none set: no row).
fn save_budget(conn: &Connection, k: &StoredKey) -> rusqlite::Result<()> {
    if k.budget.is_set() {
        conn.execute(
            "INSERT INTO client_key_budgets (id, usd_per_day, usd_per_month) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET usd_per_day = ?2, usd_per_month = ?3",
            params![k.id, k.budget.usd_per_day, k.budget.usd_per_month],
        )?;
    } else {
        conn.execute("DELETE FROM client_key_budgets WHERE id = ?1", [&k.id])?;
    }
    Ok(())
}

/// Writes a key's name, expiry, limits and budget (the rest never changes but by
/// [`revoke_key`]).
pub fn update_key(conn: &Connection, k: &StoredKey) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE client_keys SET name = ?2, expires_ms = ?3, requests_per_minute = ?4,
             tokens_per_day = ?5, tokens_per_month = ?6
         WHERE id = ?1",
        params![
            k.id,
            k.name,
            k.expires_ms,
            k.limits.requests_per_minute,
            k.limits.tokens_per_day.map(to_i64),
            k.limits.tokens_per_month.map(to_i64),
        ],
    )?;
    if n > 0 {
        save_budget(conn, k)?;
    }
    Ok(n > 0)
}

/// Revokes `id` at `now_ms` unless it already is; says whether it exists.
pub fn revoke_key(conn: &Connection, id: &str, now_ms: i64) -> rusqlite::Result<bool> {
    conn.execute(
        "UPDATE client_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
        params![id, now_ms],
    )?;
    Ok(conn
        .query_row("SELECT 1 FROM client_keys WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A number that changes whenever another connection commits to the database: reading it
/// costs no query of a table, so a running server can look every few hundred milliseconds.
pub fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}
