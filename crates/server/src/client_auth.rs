//! Who is calling: a configured client key, or with none configured, a loopback client.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use switchyard_hub::{ApiError, ErrorKind};

use crate::config::ClientKey;

/// The key a client presented, from whichever header its SDK uses.
fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        return Some(v.strip_prefix(b"Bearer ").unwrap_or(v).trim_ascii());
    }
    ["x-api-key", "x-goog-api-key"]
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
            "missing API key: send it as `Authorization: Bearer <key>`, `x-api-key` or `x-goog-api-key`",
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
}
