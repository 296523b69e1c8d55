//! `SWITCHYARD_*` environment variables over single values of the file, applied before
//! validation so they are checked like the file's own.

use super::file::File;
use super::{ENV_PREFIX, Invalid};

/// Each variable (after the prefix) and the key it overrides, for the configuration
/// reference; a test keeps it equal to the names [`apply_env`] reads.
pub(super) const OVERRIDES: &[(&str, &str)] = &[
    ("LISTEN", "server.listen"),
    ("ACCOUNT_RELOAD_MS", "server.account_reload_ms"),
    ("BUSY_POLL_US", "server.busy_poll_us"),
    ("THREADS", "server.threads"),
    ("BODY_LIMIT", "server.body_limit"),
    ("MAX_CONNECTIONS", "server.max_connections"),
    ("DATABASE", "storage.database"),
    ("REDIS_URL", "cluster.redis_url"),
    ("DEBUG_LOGS", "debug_logs.enabled"),
    ("LOGS_DIR", "debug_logs.dir"),
    ("CONNECT_TIMEOUT_MS", "timeouts.connect_ms"),
    ("FIRST_BYTE_TIMEOUT_MS", "timeouts.first_byte_ms"),
    ("IDLE_TIMEOUT_MS", "timeouts.idle_ms"),
    ("TOTAL_TIMEOUT_MS", "timeouts.total_ms"),
    ("CLIENT_HEADER_TIMEOUT_MS", "timeouts.client_header_ms"),
    ("CLIENT_BODY_TIMEOUT_MS", "timeouts.client_body_ms"),
    ("KEEPALIVE_MS", "timeouts.keepalive_ms"),
];

/// `SWITCHYARD_*` variables override single file values.
pub(super) fn apply_env(
    file: &mut File,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Invalid> {
    let var = |name: &str| env(&format!("{ENV_PREFIX}{name}"));
    fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, Invalid> {
        v.trim()
            .parse()
            .map_err(|_| Invalid(format!("{ENV_PREFIX}{name}={v:?} is not a valid number")))
    }
    if let Some(v) = var("LISTEN") {
        file.server.listen = v;
    }
    if let Some(v) = var("ACCOUNT_RELOAD_MS") {
        file.server.account_reload_ms = num("ACCOUNT_RELOAD_MS", v)?;
    }
    if let Some(v) = var("BUSY_POLL_US") {
        file.server.busy_poll_us = num("BUSY_POLL_US", v)?;
    }
    if let Some(v) = var("THREADS") {
        file.server.threads = num("THREADS", v)?;
    }
    if let Some(v) = var("BODY_LIMIT") {
        file.server.body_limit = num("BODY_LIMIT", v)?;
    }
    if let Some(v) = var("MAX_CONNECTIONS") {
        file.server.max_connections = num("MAX_CONNECTIONS", v)?;
    }
    if let Some(v) = var("REDIS_URL").filter(|v| !v.trim().is_empty()) {
        file.cluster.redis_url = Some(v);
    }
    if let Some(v) = var("DATABASE") {
        file.storage.database = v.into();
    }
    if let Some(v) = var("DEBUG_LOGS") {
        file.debug_logs.enabled = match v.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" | "" => false,
            _ => {
                return Err(Invalid(format!(
                    "{ENV_PREFIX}DEBUG_LOGS={v:?} is not a boolean (use 1 or 0)"
                )));
            }
        };
    }
    if let Some(v) = var("LOGS_DIR") {
        file.debug_logs.dir = v.into();
    }
    let t = &mut file.timeouts;
    for (name, slot) in [
        ("CONNECT_TIMEOUT_MS", &mut t.connect_ms),
        ("FIRST_BYTE_TIMEOUT_MS", &mut t.first_byte_ms),
        ("IDLE_TIMEOUT_MS", &mut t.idle_ms),
        ("TOTAL_TIMEOUT_MS", &mut t.total_ms),
        ("CLIENT_HEADER_TIMEOUT_MS", &mut t.client_header_ms),
        ("CLIENT_BODY_TIMEOUT_MS", &mut t.client_body_ms),
        ("KEEPALIVE_MS", &mut t.keepalive_ms),
    ] {
        if let Some(v) = var(name) {
            *slot = num(name, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference lists exactly the variables `apply_env` reads.
    #[test]
    fn every_override_is_listed() {
        let asked = std::cell::RefCell::new(Vec::new());
        let mut file = File::default();
        apply_env(&mut file, &|name: &str| {
            asked.borrow_mut().push(name.to_owned());
            None
        })
        .unwrap();
        let mut asked = asked.into_inner();
        let mut listed: Vec<String> = OVERRIDES
            .iter()
            .map(|(var, _)| format!("{ENV_PREFIX}{var}"))
            .collect();
        asked.sort();
        listed.sort();
        assert_eq!(asked, listed);
    }
}
