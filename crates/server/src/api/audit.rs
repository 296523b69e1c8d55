//! The audit log: every management change as a row (who, what, before and after, when), so
//! an operator can tell who changed a combo or reset an account. Secrets never reach it:
//! callers pass masked values, and [`scrub`] masks any field named like a secret that slipped
//! through.

use std::sync::Arc;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_hub::ApiError;
use utoipa::{IntoParams, ToSchema};

use crate::api::{Actor, Answer, body, mask, ok, with_db};
use crate::state::app::App;

/// One management change, before it is written.
#[derive(Debug, Clone)]
pub struct Change {
    /// What was done, as `topic.verb` (`account.reset`, `combo.update`).
    pub action: &'static str,
    /// What it was done to (`provider/account`, a combo's name).
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes `change` by `actor` to the audit log.
pub async fn record(app: &Arc<App>, actor: &Actor, change: Change) -> Result<(), ApiError> {
    let actor = actor.0.clone();
    if let Some(cluster) = crate::cluster::active() {
        cluster.managed(change.action, change.after.as_ref());
    }
    with_db(app, move |conn| write(conn, &actor, change)).await
}

/// Writes `change` on an open connection (the CLI's way in).
pub fn write(conn: &Connection, actor: &str, mut change: Change) -> rusqlite::Result<()> {
    for v in [&mut change.before, &mut change.after]
        .into_iter()
        .flatten()
    {
        scrub(v);
    }
    conn.execute(
        "INSERT INTO audit (ts_ms, actor, action, target, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            crate::routing::epoch_ms(switchyard_hub::clock::now()),
            actor,
            change.action,
            change.target,
            change.before.map(|v| v.to_string()),
            change.after.map(|v| v.to_string()),
        ],
    )?;
    Ok(())
}

/// Field names whose string values are secrets wherever they appear.
const SECRET_FIELDS: [&str; 12] = [
    "key",
    "api_key",
    "secret",
    "client_secret",
    "password",
    "authorization",
    "access_token",
    "refresh_token",
    "id_token",
    "credential",
    "admin_key",
    "metrics_key",
];

/// Masks every string held by a field named like a secret, at any depth.
pub fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, v) in map.iter_mut() {
                match v {
                    Value::String(s)
                        if SECRET_FIELDS.contains(&name.to_ascii_lowercase().as_str()) =>
                    {
                        if !s.ends_with("***") {
                            *s = mask(s);
                        }
                    }
                    _ => scrub(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries per page (default 50, at most 500).
    limit: Option<u32>,
    /// The `next` cursor of the previous page: entries older than it.
    before: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<i64>,
}

/// Reads the audit log, newest first.
#[utoipa::path(
    operation_id = "list_audit",
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of management changes, newest first", body = AuditPage),
        (status = 400, description = "Bad query", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(app: Arc<App>, query: Option<&str>) -> Answer {
    let q: AuditQuery = body::query(query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = q.before.unwrap_or(i64::MAX);
    let entries = with_db(&app, move |conn| read_page(conn, before, limit)).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    ok(200, &AuditPage { entries, next })
}

fn read_page(conn: &Connection, before: i64, limit: u32) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT id, ts_ms, actor, action, target, before, after FROM audit
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    stmt.query_map(params![before, limit], |r| {
        let ts_ms: i64 = r.get(1)?;
        Ok(AuditEntry {
            id: r.get(0)?,
            at: chrono::DateTime::from_timestamp_millis(ts_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            actor: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            before: json(r.get(5)?),
            after: json(r.get(6)?),
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrub_masks_secret_fields_at_any_depth_and_leaves_counters() {
        let mut v = json!({
            "name": "work",
            "api_key": "sk-0123456789abcdefghij",
            "accounts": [{"key": "sk-zyxwvutsrqponmlkjih", "tokens_per_day": 5}],
            "login": {"refresh_token": "rt-0123456789abcdef0000"},
        });
        scrub(&mut v);
        assert_eq!(v["api_key"], "sk-0***");
        assert_eq!(v["accounts"][0]["key"], "sk-z***");
        assert_eq!(v["accounts"][0]["tokens_per_day"], 5);
        assert_eq!(v["login"]["refresh_token"], "rt-0***");
        assert_eq!(v["name"], "work");
    }
}
