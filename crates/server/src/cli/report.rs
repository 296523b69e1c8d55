//! `switchyard usage` and `switchyard status`: what a server recorded, read from its
//! database.

use std::path::Path;

use crate::cli::{Error, config_and_database};
use crate::routing;
use crate::state::usage_store;

pub fn usage(config_path: &Path, days: u32) -> Result<(), Error> {
    let (_, conn) = config_and_database(config_path)?;
    let text = usage_store::summary(&conn, days)?;
    print!("{text}");
    Ok(())
}

/// `switchyard models`: the catalogue with the config file's entries applied, one line per
/// model; subscription kinds are marked `*` (their price is an API equivalent).
pub(super) fn models_table(catalogue: &crate::catalogue::Catalogue) -> String {
    use std::fmt::Write as _;
    let price = |p: Option<f64>| p.map_or_else(|| "-".to_owned(), |v| format!("{v}"));
    let mut out = format!(
        "{:<28}  {:>9}  {:>9}  {:>7}  {:>7}  {:>7}  {:>7}  {:<21}  {:<40}  kinds (* subscription: equivalent API price)\n",
        "model",
        "context",
        "max out",
        "input",
        "output",
        "c.read",
        "c.write",
        "source",
        "where from"
    );
    for m in catalogue.models() {
        let p = m.prices;
        let kinds: Vec<String> = m
            .kinds
            .iter()
            .map(|k| {
                if catalogue.is_subscription(k) {
                    format!("{k}*")
                } else {
                    k.clone()
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<28}  {:>9}  {:>9}  {:>7}  {:>7}  {:>7}  {:>7}  {:<21}  {:<40}  {}",
            m.id,
            m.context,
            m.max_output,
            price(p.map(|p| p.input)),
            price(p.map(|p| p.output)),
            price(p.map(|p| p.cache_read)),
            price(p.map(|p| p.cache_write)),
            m.price_version(),
            m.source,
            kinds.join(" ")
        );
    }
    out
}

pub fn status(config_path: &Path) -> Result<(), Error> {
    let (config, conn) = config_and_database(config_path)?;
    let saved = usage_store::load_account_states(&conn)?;
    let now = switchyard_hub::clock::now();
    let today = routing::day_number(now, config.routing.day_offset_secs);
    let when = |ms: Option<i64>| {
        ms.map(routing::from_epoch_ms)
            .filter(|t| *t > now)
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .format("%H:%M:%SZ")
                    .to_string()
            })
    };
    println!(
        "{:<12}  {:<12}  {:<9}  {:<10}  {:>7}  {:>8}  {:>9}  {:>10}  last error",
        "provider", "account", "status", "until", "backoff", "failures", "req today", "tok today"
    );
    for p in &config.providers {
        for a in &p.accounts {
            let row = saved
                .iter()
                .find(|r| r.provider == p.name && r.account == a.name);
            let default = usage_store::AccountStateRow::default();
            let r = row.unwrap_or(&default);
            let (status, until) = match (when(r.disabled_until_ms), when(r.cooldown_until_ms)) {
                (Some(t), _) => ("disabled", t),
                (None, Some(t)) => ("cooling", t),
                (None, None) => ("ok", "-".to_owned()),
            };
            let (req, tok) = if r.day == today {
                (r.day_requests, r.day_tokens)
            } else {
                (0, 0)
            };
            println!(
                "{:<12}  {:<12}  {:<9}  {:<10}  {:>7}  {:>8}  {:>9}  {:>10}  {}",
                p.name,
                a.name,
                status,
                until,
                r.backoff_level,
                r.consecutive_failures,
                req,
                tok,
                r.last_error.as_ref().map_or("-", |e| e.1.as_str()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_table_lists_limits_prices_and_sources() {
        let c = crate::catalogue::Catalogue::builtin().unwrap();
        let table = models_table(&c);
        let line = table
            .lines()
            .find(|l| l.starts_with("gemini-2.5-pro "))
            .unwrap();
        for part in [
            "1048576",
            "65536",
            "1.25",
            "10",
            "0.125",
            "catalogue:2026-12-07",
            "gemini-cli*",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
        let unpriced = table
            .lines()
            .find(|l| l.starts_with("gpt-5.6-sol "))
            .unwrap();
        assert!(unpriced.contains(" - "), "{unpriced}");
    }
}
