//! `SWITCHYARD_*` environment variables over single values of the file, applied before
//! validation so they are checked like the file's own.

use super::file::File;
use super::{ENV_PREFIX, Invalid};

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
