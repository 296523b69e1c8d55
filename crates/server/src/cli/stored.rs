//! `switchyard alias` and `switchyard combo`: aliases and combos kept in the database,
//! beside those in the config file.

use std::path::Path;

use serde_json::json;

use crate::api::audit::{self, Change};
use crate::cli::{Error, StoredAction, config_and_database};
use crate::state::usage_store;

const RELOAD: &str = "A running server takes the change in within a second.";

/// `switchyard alias|combo set|remove|list`: the database's aliases and combos. A running
/// server takes changes in within `server.account_reload_ms`.
pub fn manage(config_path: &Path, kind: &str, action: StoredAction) -> Result<(), Error> {
    let (config, conn) = config_and_database(config_path)?;
    match action {
        StoredAction::Set { name, targets } => {
            if kind == "alias" && targets.len() != 1 {
                return Err(Error::Refused(
                    "an alias takes exactly one `provider/model`".into(),
                ));
            }
            if config.aliases.contains_key(&name) || config.combos.contains_key(&name) {
                return Err(Error::Refused(format!(
                    "`{name}` is defined in the config file; change it there"
                )));
            }
            if kind == "combo" {
                config.check_combo(&name, &targets)?;
            } else {
                config.check_stored(&name, &targets)?;
            }
            let (aliases, combos) = usage_store::load_routes(&conn)?;
            let before = aliases
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| json!({"name": name, "target": t}))
                .or_else(|| {
                    combos
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, s)| json!({"name": name, "targets": s}))
                });
            usage_store::save_route(&conn, &name, kind, &targets)?;
            let after = if kind == "alias" {
                json!({"name": name, "target": targets.first()})
            } else {
                json!({"name": name, "targets": targets})
            };
            let action = match (kind, before.is_some()) {
                ("alias", false) => "alias.create",
                ("alias", true) => "alias.update",
                (_, false) => "combo.create",
                (_, true) => "combo.update",
            };
            audit::write(
                &conn,
                "cli",
                Change {
                    action,
                    target: name.clone(),
                    before,
                    after: Some(after),
                },
            )?;
            println!("{kind} `{name}` -> {}", targets.join(", "));
            println!("{RELOAD}");
        }
        StoredAction::Remove { name } => {
            if !usage_store::remove_route(&conn, &name)? {
                return Err(Error::Refused(format!("no stored {kind} named `{name}`")));
            }
            audit::write(
                &conn,
                "cli",
                Change {
                    action: if kind == "alias" {
                        "alias.delete"
                    } else {
                        "combo.delete"
                    },
                    target: name.clone(),
                    before: Some(json!({"name": name})),
                    after: None,
                },
            )?;
            println!("removed {kind} `{name}`");
            println!("{RELOAD}");
        }
        StoredAction::List => list(&config, &conn, kind)?,
    }
    Ok(())
}

/// Prints the file's and the database's aliases (or combos), each with its source.
fn list(
    config: &crate::config::Config,
    conn: &rusqlite::Connection,
    kind: &str,
) -> Result<(), Error> {
    let (aliases, combos) = usage_store::load_routes(conn)?;
    if kind == "alias" {
        for (name, target) in &config.aliases {
            println!("{name} -> {target}  (config)");
        }
        for (name, target) in aliases {
            println!("{name} -> {target}  (database)");
        }
    } else {
        for (name, steps) in &config.combos {
            let steps: Vec<String> = steps
                .iter()
                .map(|t| {
                    format!(
                        "{}/{}{}",
                        t.provider,
                        t.model,
                        t.account
                            .as_ref()
                            .map(|a| format!("@{a}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            println!("{name} -> {}  (config)", steps.join(", "));
        }
        for (name, steps) in combos {
            println!("{name} -> {}  (database)", steps.join(", "));
        }
    }
    Ok(())
}
