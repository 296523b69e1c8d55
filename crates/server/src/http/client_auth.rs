//! Reading the key a caller presents, telling a loopback client, and who may read
//! `/metrics`. Client keys themselves are checked in [`crate::state::client_keys`].

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use switchyard_hub::{ApiError, ErrorKind};

use crate::config::Config;

/// The key sent as `Authorization: Bearer <key>`, trimmed: how the admin and metrics keys
/// are presented.
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii)
}

/// The key a client presented, from whichever header its SDK uses.
pub fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        return Some(v.strip_prefix(b"Bearer ").unwrap_or(v).trim_ascii());
    }
    // `api-key` is Azure OpenAI's header, which its SDKs send instead of a bearer token.
    ["x-api-key", "x-goog-api-key", "api-key"]
        .iter()
        .find_map(|h| headers.get(*h))
        .map(|v| v.as_bytes().trim_ascii())
}

/// Whether `ip` is this machine. A socket listening on `[::]` also takes IPv4 clients, and
/// sees them as IPv4-mapped addresses (`::ffff:127.0.0.1`), which `is_loopback` alone does
/// not count as loopback.
pub fn is_local(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// `GET /metrics` names providers, accounts, models and counts, so it follows the rule of the
/// other routes: with no key of any kind configured, clients on this machine only; otherwise
/// the metrics key or the admin key as `Authorization: Bearer`. Client keys (`client_keys`:
/// whether any exists, file or stored) do not open it.
pub fn authorize_metrics(
    config: &Config,
    client_keys: bool,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    let keys: Vec<_> = [&config.metrics_key, &config.admin_key]
        .into_iter()
        .flatten()
        .collect();
    if keys.is_empty() {
        if client_keys {
            return Err(ApiError::new(
                403,
                ErrorKind::PermissionDenied,
                "client keys are configured, so /metrics needs a key of its own: set server.metrics_key_env (or use the admin key)",
            ));
        }
        return if is_local(peer.ip()) {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                ErrorKind::PermissionDenied,
                "no keys are configured, so only clients on this machine may read /metrics",
            ))
        };
    }
    let presented = bearer(headers);
    // Both keys are compared, so the time taken does not tell which one nearly matched.
    let matched = presented.is_some_and(|p| keys.iter().fold(false, |m, k| m | k.matches(p)));
    if matched {
        Ok(())
    } else {
        Err(ApiError::new(
            401,
            ErrorKind::Authentication,
            "metrics key required: send server.metrics_key (or the admin key) as `Authorization: Bearer <key>`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5000)
    }

    fn config(text: &str) -> Config {
        let env = |name: &str| (name == "METRICS").then(|| "sk-metrics-1".to_owned());
        crate::config::parse(
            text,
            std::path::Path::new("t.toml"),
            &Default::default(),
            &env,
        )
        .unwrap()
    }

    fn bearer(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {key}").parse().unwrap());
        h
    }

    #[test]
    fn metrics_without_keys_are_for_this_machine_only() {
        let c = config("");
        let none = HeaderMap::new();
        assert!(authorize_metrics(&c, false, &none, peer("127.0.0.1")).is_ok());
        assert!(authorize_metrics(&c, false, &none, peer("::ffff:127.0.0.1")).is_ok());
        let e = authorize_metrics(&c, false, &none, peer("10.0.0.2")).unwrap_err();
        assert_eq!(e.status, 403);
    }

    #[test]
    fn metrics_with_keys_need_the_metrics_or_admin_key() {
        let c = config("[server]\nmetrics_key_env = \"METRICS\"\nadmin_key = \"sk-admin-1\"\n");
        for ip in ["127.0.0.1", "10.0.0.2"] {
            assert!(authorize_metrics(&c, false, &bearer("sk-metrics-1"), peer(ip)).is_ok());
            assert!(authorize_metrics(&c, false, &bearer("sk-admin-1"), peer(ip)).is_ok());
            for headers in [HeaderMap::new(), bearer("sk-metrics-2"), bearer("")] {
                let e = authorize_metrics(&c, false, &headers, peer(ip)).unwrap_err();
                assert_eq!(e.status, 401);
            }
        }
        // Client keys alone do not open it, even from this machine.
        let c = config("[[client_keys]]\nid = \"me\"\nkey = \"sk-sw-1\"\n");
        let e = authorize_metrics(&c, true, &bearer("sk-sw-1"), peer("127.0.0.1")).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.message.contains("metrics_key_env"), "{}", e.message);
    }
}
