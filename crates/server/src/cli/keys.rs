//! `switchyard keys create|list|revoke`: the stored client keys from a shell, the same ones
//! `/api/keys` manages. A running server takes a change in within a second (it watches the
//! database's `data_version`). The secret is printed once, at creation.

use std::path::Path;

use serde_json::json;

use crate::api::audit::{self, Change};
use crate::api::keys::{check_budget, check_limits, check_name, parse_time};
use crate::cli::{Error, config_and_database};
use crate::routing::budgets::Budget;
use crate::routing::epoch_ms;
use crate::routing::limits::Limits;
use crate::state::client_keys::{StoredKey, generate_id, generate_secret, hash};
use crate::state::usage_store;

/// What `keys create` takes.
pub struct NewKey {
    pub name: String,
    pub limits: Limits,
    pub budget: Budget,
    pub expires: Option<String>,
}

const RELOAD: &str = "A running server takes the change in within a second.";

fn refused(e: switchyard_hub::ApiError) -> Error {
    Error::Refused(e.message)
}

fn no_randomness(e: getrandom::Error) -> Error {
    Error::Refused(format!("the system's random source failed: {e}"))
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// `switchyard keys create NAME`: prints the new key's id and its secret (once).
pub fn create(config_path: &Path, new: NewKey) -> Result<(), Error> {
    let (config, conn) = config_and_database(config_path)?;
    let name = check_name(&new.name).map_err(refused)?;
    check_limits(&new.limits).map_err(refused)?;
    check_budget(&new.budget).map_err(refused)?;
    let expires_ms = new
        .expires
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(refused)?;
    let secret = generate_secret().map_err(no_randomness)?;
    let mut id = generate_id().map_err(no_randomness)?;
    while config.client_keys.iter().any(|k| k.id == id) {
        id = generate_id().map_err(no_randomness)?;
    }
    let key = StoredKey {
        id,
        name,
        hash: hash(secret.as_bytes()),
        last4: secret.chars().skip(secret.chars().count() - 4).collect(),
        created_ms: epoch_ms(switchyard_hub::clock::now()),
        expires_ms,
        revoked_ms: None,
        limits: new.limits,
        budget: new.budget,
    };
    usage_store::insert_key(&conn, &key)?;
    let after = json!({
        "id": key.id, "name": key.name, "display": key.display(),
        "expires_ms": key.expires_ms, "limits": key.limits, "budget": key.budget,
    });
    audit::write(
        &conn,
        "cli",
        Change {
            action: "client_key.create",
            target: key.id.clone(),
            before: None,
            after: Some(after),
        },
    )?;
    println!("created client key `{}` ({})", key.id, key.name);
    println!("secret (shown only now, store it safely): {secret}");
    println!("{RELOAD}");
    Ok(())
}

/// `switchyard keys list`: the config file's keys and the stored ones, secrets masked.
pub fn list(config_path: &Path) -> Result<(), Error> {
    let (config, conn) = config_and_database(config_path)?;
    let now = epoch_ms(switchyard_hub::clock::now());
    for k in &config.client_keys {
        println!(
            "{}  {}  active  (config file){}",
            k.id,
            crate::api::mask(k.key.expose()),
            limits_text(&k.limits(), &k.budget)
        );
    }
    for k in usage_store::load_keys(&conn)? {
        let status = match (k.revoked_ms, k.expired(now)) {
            (Some(t), _) => format!("revoked {}", when(t)),
            (None, true) => "expired".to_owned(),
            (None, false) => "active".to_owned(),
        };
        let expiry = k
            .expires_ms
            .map(|t| format!("  expires {}", when(t)))
            .unwrap_or_default();
        println!(
            "{}  {}  {status}  \"{}\"  created {}{expiry}{}",
            k.id,
            k.display(),
            k.name,
            when(k.created_ms),
            limits_text(&k.limits, &k.budget)
        );
    }
    Ok(())
}

fn limits_text(l: &Limits, b: &Budget) -> String {
    let mut parts = Vec::new();
    if let Some(n) = l.requests_per_minute {
        parts.push(format!("{n} req/min"));
    }
    if let Some(n) = l.tokens_per_day {
        parts.push(format!("{n} tokens/day"));
    }
    if let Some(n) = l.tokens_per_month {
        parts.push(format!("{n} tokens/month"));
    }
    if let Some(usd) = b.usd_per_day {
        parts.push(format!("${usd}/day"));
    }
    if let Some(usd) = b.usd_per_month {
        parts.push(format!("${usd}/month"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  limits: {}", parts.join(", "))
    }
}

/// `switchyard keys revoke ID`: the key's next request is refused with 401 `key revoked`.
pub fn revoke(config_path: &Path, id: &str) -> Result<(), Error> {
    let (config, conn) = config_and_database(config_path)?;
    if config.client_keys.iter().any(|k| k.id == id) {
        return Err(Error::Refused(format!(
            "key `{id}` is declared in the config file; remove it there"
        )));
    }
    let Some(before) = usage_store::load_key(&conn, id)? else {
        return Err(Error::Refused(format!(
            "no stored client key `{id}` (see `switchyard keys list`)"
        )));
    };
    if before.revoked_ms.is_some() {
        println!("client key `{id}` was already revoked");
        return Ok(());
    }
    let now = epoch_ms(switchyard_hub::clock::now());
    usage_store::revoke_key(&conn, id, now)?;
    audit::write(
        &conn,
        "cli",
        Change {
            action: "client_key.revoke",
            target: id.to_owned(),
            before: Some(json!({"id": id, "display": before.display(), "revoked_ms": null})),
            after: Some(json!({"id": id, "display": before.display(), "revoked_ms": now})),
        },
    )?;
    println!("revoked client key `{id}` ({})", before.name);
    println!("{RELOAD}");
    Ok(())
}
