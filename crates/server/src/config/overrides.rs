//! Routing and timeout settings changed through the management API. They are kept in the
//! database (the file stays the user's) and laid over the file's values whenever the
//! configuration is rebuilt, so a file reload keeps them and removing one brings the file's
//! value back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Config, Invalid};

/// The settings the API may change, as the config file spells them.
pub const KEYS: &[&str] = &[
    "routing.sticky_limit",
    "routing.backoff_base_ms",
    "routing.backoff_max_ms",
    "routing.disable_after",
    "routing.probe_after_ms",
    "routing.session_header",
    "routing.session_ttl_secs",
    "timeouts.first_byte_ms",
    "timeouts.idle_ms",
    "timeouts.total_ms",
    "timeouts.client_body_ms",
    "timeouts.keepalive_ms",
];

/// Setting key -> value, as stored.
pub type Overrides = BTreeMap<String, Value>;

/// Lays `overrides` over `config`; the first key or value that does not fit is refused
/// with its name, and `config` is then left as it was.
pub fn apply(config: &mut Config, overrides: &Overrides) -> Result<(), Invalid> {
    let mut next = config.clone();
    for (key, value) in overrides {
        set(&mut next, key, value)?;
    }
    if next.routing.backoff_base > next.routing.backoff_max {
        return Err(Invalid(
            "routing.backoff_base_ms must not exceed routing.backoff_max_ms".into(),
        ));
    }
    *config = next;
    Ok(())
}

fn set(c: &mut Config, key: &str, value: &Value) -> Result<(), Invalid> {
    let r = &mut c.routing;
    let t = &mut c.timeouts;
    match key {
        "routing.sticky_limit" => r.sticky_limit = count(key, value, 1)?,
        "routing.disable_after" => r.disable_after = count(key, value, 1)?,
        "routing.backoff_base_ms" => r.backoff_base = millis(key, value)?,
        "routing.backoff_max_ms" => r.backoff_max = millis(key, value)?,
        "routing.probe_after_ms" => r.probe_after = millis(key, value)?,
        "routing.session_ttl_secs" => {
            r.session_ttl = Duration::from_secs(u64::from(count(key, value, 1)?));
        }
        "routing.session_header" => {
            r.session_header = match value.as_str() {
                Some(h) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => {
                    h.to_ascii_lowercase()
                }
                _ => return Err(Invalid(format!("{key}: a header name is expected"))),
            };
        }
        "timeouts.first_byte_ms" => t.first_byte = millis(key, value)?,
        "timeouts.idle_ms" => t.idle = millis(key, value)?,
        "timeouts.total_ms" => t.total = millis(key, value)?,
        "timeouts.client_body_ms" => t.client_body = millis(key, value)?,
        "timeouts.keepalive_ms" => {
            let ms = value
                .as_u64()
                .ok_or_else(|| Invalid(format!("{key}: milliseconds (0 for none) expected")))?;
            t.keepalive = (ms > 0).then(|| Duration::from_millis(ms));
        }
        _ => {
            return Err(Invalid(format!(
                "`{key}` cannot be changed through the API (these can: {})",
                KEYS.join(", ")
            )));
        }
    }
    Ok(())
}

fn count(key: &str, value: &Value, min: u32) -> Result<u32, Invalid> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= min)
        .ok_or_else(|| Invalid(format!("{key}: a whole number of at least {min} expected")))
}

fn millis(key: &str, value: &Value) -> Result<Duration, Invalid> {
    value
        .as_u64()
        .filter(|n| *n > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| Invalid(format!("{key}: milliseconds above 0 expected")))
}
