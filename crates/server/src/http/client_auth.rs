//! Who is calling: a configured client key, or with none configured, a loopback client; and
//! who may read `/metrics`.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use switchyard_hub::{ApiError, ErrorKind};

use crate::config::{ClientKey, Config};

/// The key sent as `Authorization: Bearer <key>`, trimmed: how the admin and metrics keys
/// are presented.
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii)
}

/// The key a client presented, from whichever header its SDK uses.
fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
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

/// Returns the id of the client key used, or `None` for an unauthenticated loopback client.
pub fn authenticate(
    keys: &[ClientKey],
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Option<String>, ApiError> {
    if keys.is_empty() {
        return if is_local(peer.ip()) {
            Ok(None)
        } else {
            Err(ApiError::new(
                403,
                ErrorKind::PermissionDenied,
                "no client keys are configured, so only clients on this machine are served",
            ))
        };
    }
    let Some(presented) = presented_key(headers) else {
        return Err(ApiError::new(
            401,
            ErrorKind::Authentication,
            "missing API key: send it as `Authorization: Bearer <key>`, `x-api-key`, `x-goog-api-key` or `api-key`",
        ));
    };
    // Every key is compared, so the time taken does not tell which one nearly matched.
    let mut found = None;
    for k in keys {
        if k.key.matches(presented) {
            found = Some(k.id.clone());
        }
    }
    found
        .map(Some)
        .ok_or_else(|| ApiError::new(401, ErrorKind::Authentication, "invalid API key"))
}

/// `GET /metrics` names providers, accounts, models and counts, so it follows the rule of the
/// other routes: with no key of any kind configured, clients on this machine only; otherwise
/// the metrics key or the admin key as `Authorization: Bearer`. Client keys do not open it.
pub fn authorize_metrics(
    config: &Config,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    let keys: Vec<_> = [&config.metrics_key, &config.admin_key]
        .into_iter()
        .flatten()
        .collect();
    if keys.is_empty() {
        if !config.client_keys.is_empty() {
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
    use switchyard_auth::Secret;

    fn keys() -> Vec<ClientKey> {
        vec![ClientKey {
            id: "me".into(),
            key: Secret::new("sk-sw-1"),
            requests_per_minute: None,
            tokens_per_day: None,
            tokens_per_month: None,
            budget: Default::default(),
        }]
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5000)
    }

    #[test]
    fn accepts_each_header_style() {
        for (h, v) in [
            ("authorization", "Bearer sk-sw-1"),
            ("x-api-key", "sk-sw-1"),
            ("x-goog-api-key", "sk-sw-1"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(h, v.parse().unwrap());
            assert_eq!(
                authenticate(&keys(), &headers, peer("10.0.0.2")).unwrap(),
                Some("me".into())
            );
        }
    }

    #[test]
    fn rejects_wrong_or_missing_keys() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            authenticate(&keys(), &headers, peer("127.0.0.1"))
                .unwrap_err()
                .status,
            401
        );
        headers.insert("authorization", "Bearer sk-sw-2".parse().unwrap());
        assert_eq!(
            authenticate(&keys(), &headers, peer("127.0.0.1"))
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn without_keys_only_loopback_is_served() {
        let headers = HeaderMap::new();
        assert_eq!(
            authenticate(&[], &headers, peer("127.0.0.1")).unwrap(),
            None
        );
        assert_eq!(authenticate(&[], &headers, peer("::1")).unwrap(), None);
        // An IPv4 client of a socket listening on [::].
        assert_eq!(
            authenticate(&[], &headers, peer("::ffff:127.0.0.1")).unwrap(),
            None
        );
        assert_eq!(
            authenticate(&[], &headers, peer("::ffff:192.168.1.4"))
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            authenticate(&[], &headers, peer("192.168.1.4"))
                .unwrap_err()
                .status,
            403
        );
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
        assert!(authorize_metrics(&c, &none, peer("127.0.0.1")).is_ok());
        assert!(authorize_metrics(&c, &none, peer("::ffff:127.0.0.1")).is_ok());
        let e = authorize_metrics(&c, &none, peer("10.0.0.2")).unwrap_err();
        assert_eq!(e.status, 403);
    }

    #[test]
    fn metrics_with_keys_need_the_metrics_or_admin_key() {
        let c = config("[server]\nmetrics_key_env = \"METRICS\"\nadmin_key = \"sk-admin-1\"\n");
        for ip in ["127.0.0.1", "10.0.0.2"] {
            assert!(authorize_metrics(&c, &bearer("sk-metrics-1"), peer(ip)).is_ok());
            assert!(authorize_metrics(&c, &bearer("sk-admin-1"), peer(ip)).is_ok());
            for headers in [HeaderMap::new(), bearer("sk-metrics-2"), bearer("")] {
                let e = authorize_metrics(&c, &headers, peer(ip)).unwrap_err();
                assert_eq!(e.status, 401);
            }
        }
        // Client keys alone do not open it, even from this machine.
        let c = config("[[client_keys]]\nid = \"me\"\nkey = \"sk-sw-1\"\n");
        let e = authorize_metrics(&c, &bearer("sk-sw-1"), peer("127.0.0.1")).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.message.contains("metrics_key_env"), "{}", e.message);
    }
}
