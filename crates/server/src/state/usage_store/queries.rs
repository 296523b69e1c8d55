//! What is read back from the database (at start-up, and by `switchyard usage`, `status`,
//! `alias` and `combo`), and the stored aliases and combos.

use rusqlite::{Connection, params};
use serde_json::Value;

use super::AccountStateRow;

/// Formats learned per (provider, model): (provider, model, format).
pub fn load_learned_formats(conn: &Connection) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare("SELECT provider, model, format FROM learned_formats")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Aliases and combos kept in the database: (aliases, combos).
pub type StoredRoutes = (Vec<(String, String)>, Vec<(String, Vec<String>)>);

pub fn load_routes(conn: &Connection) -> rusqlite::Result<StoredRoutes> {
    let mut stmt = conn.prepare("SELECT name, kind, steps FROM routes ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let (mut aliases, mut combos) = (Vec::new(), Vec::new());
    for row in rows {
        let (name, kind, steps) = row?;
        let steps: Vec<String> = serde_json::from_str(&steps).unwrap_or_default();
        match (kind.as_str(), steps.as_slice()) {
            ("alias", [target]) => aliases.push((name, target.clone())),
            _ => combos.push((name, steps)),
        }
    }
    Ok((aliases, combos))
}

pub fn save_route(
    conn: &Connection,
    name: &str,
    kind: &str,
    steps: &[String],
) -> rusqlite::Result<()> {
    let steps = serde_json::to_string(steps).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT OR REPLACE INTO routes (name, kind, steps) VALUES (?1, ?2, ?3)",
        params![name, kind, steps],
    )?;
    Ok(())
}

pub fn remove_route(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM routes WHERE name = ?1", [name])? > 0)
}

/// The providers defined through the management API: (name, definition), by name. A
/// definition that is not JSON (edited by hand) comes back as `null` and is refused when
/// checked.
pub fn load_providers(conn: &Connection) -> rusqlite::Result<Vec<(String, Value)>> {
    let mut stmt = conn.prepare("SELECT name, definition FROM stored_providers ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let text: String = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        ))
    })?;
    rows.collect()
}

pub fn save_provider(
    conn: &Connection,
    name: &str,
    definition: &Value,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO stored_providers (name, definition, updated_ms) VALUES (?1, ?2, ?3)",
        params![name, definition.to_string(), now_ms],
    )?;
    Ok(())
}

/// The settings changed through the management API.
pub fn load_overrides(conn: &Connection) -> rusqlite::Result<crate::config::overrides::Overrides> {
    let mut stmt = conn.prepare("SELECT key, value FROM setting_overrides")?;
    let rows = stmt.query_map([], |r| {
        let text: String = r.get(1)?;
        Ok((
            r.get::<_, String>(0)?,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        ))
    })?;
    rows.collect()
}

/// Replaces the stored settings with `overrides`, in one transaction.
pub fn save_overrides(
    conn: &mut Connection,
    overrides: &crate::config::overrides::Overrides,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM setting_overrides", [])?;
    for (key, value) in overrides {
        tx.execute(
            "INSERT INTO setting_overrides (key, value) VALUES (?1, ?2)",
            params![key, value.to_string()],
        )?;
    }
    tx.commit()
}

/// The model catalogue entries set through the management API, by id. One that no longer
/// reads as an entry is left out.
pub fn load_model_overrides(
    conn: &Connection,
) -> rusqlite::Result<Vec<crate::catalogue::ModelEntry>> {
    let mut stmt = conn.prepare("SELECT entry FROM model_overrides ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        if let Ok(entry) = serde_json::from_str(&text?) {
            out.push(entry);
        }
    }
    Ok(out)
}

pub fn save_model_override(
    conn: &Connection,
    entry: &crate::catalogue::ModelEntry,
) -> rusqlite::Result<()> {
    let text = serde_json::to_string(entry).unwrap_or_default();
    conn.execute(
        "INSERT OR REPLACE INTO model_overrides (id, entry) VALUES (?1, ?2)",
        params![entry.id, text],
    )?;
    Ok(())
}

pub fn remove_model_override(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM model_overrides WHERE id = ?1", [id])? > 0)
}

pub fn remove_provider(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM stored_providers WHERE name = ?1", [name])? > 0)
}

/// Every saved account state.
pub fn load_account_states(conn: &Connection) -> rusqlite::Result<Vec<AccountStateRow>> {
    let mut stmt = conn.prepare(
        "SELECT provider, account, cooldown_until_ms, model_cooldowns, backoff_level, consecutive_failures,
                disabled_until_ms, last_error_ms, last_error, day, day_requests, day_tokens, cooldown_reasons
         FROM account_state",
    )?;
    let rows = stmt.query_map([], |r| {
        let cooldowns: String = r.get(3)?;
        let reasons: String = r.get(12)?;
        let last_error = match (r.get::<_, Option<i64>>(7)?, r.get::<_, Option<String>>(8)?) {
            (Some(t), Some(m)) => Some((t, m)),
            _ => None,
        };
        Ok(AccountStateRow {
            provider: r.get(0)?,
            account: r.get(1)?,
            cooldown_until_ms: r.get(2)?,
            model_cooldowns: serde_json::from_str(&cooldowns).unwrap_or_default(),
            cooldown_reasons: serde_json::from_str(&reasons).unwrap_or_default(),
            backoff_level: r.get(4)?,
            consecutive_failures: r.get(5)?,
            disabled_until_ms: r.get(6)?,
            last_error,
            day: r.get(9)?,
            day_requests: r.get::<_, i64>(10)? as u64,
            day_tokens: r.get::<_, i64>(11)? as u64,
        })
    })?;
    rows.collect()
}

/// Tokens each client key used since `since_ms`, to seed its daily limit after a restart.
pub fn tokens_by_key_since(
    conn: &Connection,
    since_ms: i64,
) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT client_key, sum(prompt_tokens + completion_tokens) FROM usage
         WHERE ts_ms >= ?1 AND client_key IS NOT NULL GROUP BY client_key",
    )?;
    let rows = stmt.query_map([since_ms], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    rows.collect()
}

/// Dollars spent since `since_ms`, to seed the budgets after a restart: (scope, name, usd)
/// with scope `key` (client key id), `account` (`provider/account`) or `provider`.
pub fn cost_since(
    conn: &Connection,
    since_ms: i64,
) -> rusqlite::Result<Vec<(&'static str, String, f64)>> {
    let mut out = Vec::new();
    for (scope, name) in [
        ("key", "client_key"),
        ("account", "provider || '/' || account"),
        ("provider", "provider"),
    ] {
        let mut stmt = conn.prepare(&format!(
            "SELECT {name}, sum(cost_usd) FROM usage
             WHERE ts_ms >= ?1 AND cost_usd IS NOT NULL AND {name} IS NOT NULL GROUP BY 1"
        ))?;
        let rows = stmt.query_map([since_ms], |r| Ok((scope, r.get(0)?, r.get(1)?)))?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// `switchyard usage`: requests, tokens and cost by day, provider, model and client key.
/// `cost $` is what was billed per token; `equiv $` what subscription requests would have
/// cost at the API price; rows with tokens but no price are counted beside.
pub fn summary(conn: &Connection, days: u32) -> rusqlite::Result<String> {
    let since_ms = chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000;
    let mut stmt = conn.prepare(
        "SELECT date(ts_ms / 1000, 'unixepoch') AS day,
                coalesce(provider, '-'), requested_model, coalesce(client_key, '-'),
                count(*), sum(status >= 400), sum(prompt_tokens), sum(completion_tokens),
                sum(cached_tokens), sum(tokens_estimated), avg(latency_ms),
                coalesce(sum(CASE WHEN cost_basis = 'api' THEN cost_usd END), 0.0),
                coalesce(sum(CASE WHEN cost_basis = 'equivalent' THEN cost_usd END), 0.0),
                sum(cost_basis = 'no price' AND prompt_tokens + completion_tokens > 0)
         FROM usage WHERE ts_ms >= ?1
         GROUP BY day, 2, 3, 4 ORDER BY day DESC, 5 DESC",
    )?;
    let mut out = format!(
        "{:<10}  {:<12}  {:<28}  {:<10}  {:>6}  {:>6}  {:>10}  {:>10}  {:>8}  {:>9}  {:>10}  {:>10}\n",
        "day",
        "provider",
        "model",
        "key",
        "reqs",
        "errors",
        "prompt",
        "completion",
        "cached",
        "avg ms",
        "cost $",
        "equiv $"
    );
    let rows = stmt.query_map([since_ms], |r| {
        let unpriced = r.get::<_, Option<i64>>(13)?.unwrap_or(0);
        Ok(format!(
            "{:<10}  {:<12}  {:<28}  {:<10}  {:>6}  {:>6}  {:>10}  {:>10}  {:>8}  {:>9.1}  {:>10.4}  {:>10.4}{}{}\n",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, f64>(10)?,
            r.get::<_, f64>(11)?,
            r.get::<_, f64>(12)?,
            if r.get::<_, i64>(9)? > 0 {
                "  (some estimated)"
            } else {
                ""
            },
            if unpriced > 0 {
                format!("  ({unpriced} no price)")
            } else {
                String::new()
            },
        ))
    })?;
    let mut any = false;
    for row in rows {
        out.push_str(&row?);
        any = true;
    }
    if !any {
        out.push_str(&format!("(no requests in the last {days} days)\n"));
    }
    Ok(out)
}
