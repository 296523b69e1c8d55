//! Client keys as the serving path checks them: the config file's and the database's (made
//! with `POST /api/keys` or `switchyard keys create`) in one table keyed by the SHA-256 of
//! the secret. The database keeps only that hash, so the server never holds a stored key's
//! secret; a presented key is hashed once and looked up, whatever the number of keys.
//!
//! The table is built whole and swapped whole (the `RwLock<Arc<_>>` pattern of the route
//! table) when either source changes: a request reads the table it started with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_hub::{ApiError, ErrorKind};

use crate::config::ClientKey;
use crate::http::client_auth::{is_local, presented_key};
use crate::routing::epoch_ms;
use crate::routing::limits::Limits;

/// The SHA-256 of a key's secret.
pub type KeyHash = [u8; 32];

/// What every stored key's secret begins with, so one found in a log or a repository is
/// recognisable as a Switchyard client key.
pub const SECRET_PREFIX: &str = "sk-sy-";

pub fn hash(secret: &[u8]) -> KeyHash {
    Sha256::digest(secret).into()
}

/// A new secret: 32 random bytes from the operating system, base64url after the prefix.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// A new stored key's id: short, random and unlike a secret.
pub fn generate_id() -> Result<String, getrandom::Error> {
    let n = getrandom::u64()?;
    Ok(format!("key_{:012x}", n & 0xffff_ffff_ffff))
}

/// A key as the database keeps it: everything but the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub id: String,
    pub name: String,
    pub hash: KeyHash,
    /// The secret's last four characters, to tell keys apart in a list.
    pub last4: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
    pub limits: Limits,
    /// Dollar caps, enforced as a file key's are.
    pub budget: crate::routing::budgets::Budget,
}

impl StoredKey {
    /// How a list shows the key: the prefix and the last four characters.
    pub fn display(&self) -> String {
        format!("{SECRET_PREFIX}****{}", self.last4)
    }

    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|t| t <= now_ms)
    }
}

/// One key as a request needs it once authenticated.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: String,
    pub limits: Limits,
    /// Dollar caps.
    pub budget: crate::routing::budgets::Budget,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
}

#[derive(Default)]
struct Table {
    /// First eight bytes of the hash -> the keys whose hash begins so (almost always one);
    /// the whole hash is then compared in constant time.
    by_hash: HashMap<u64, Vec<(KeyHash, Arc<KeyEntry>)>>,
    /// Whether any key exists (revoked and expired ones count): with none, only clients on
    /// this machine are served.
    any: bool,
}

impl Table {
    fn build(file: &[ClientKey], stored: &[StoredKey]) -> Table {
        let mut table = Table {
            by_hash: HashMap::new(),
            any: !file.is_empty() || !stored.is_empty(),
        };
        let file = file.iter().map(|k| {
            let entry = KeyEntry {
                id: k.id.clone(),
                limits: k.limits(),
                budget: k.budget,
                expires_ms: None,
                revoked: false,
            };
            (hash(k.key.expose().as_bytes()), entry)
        });
        let stored = stored.iter().map(|k| {
            let entry = KeyEntry {
                id: k.id.clone(),
                limits: k.limits,
                budget: k.budget,
                expires_ms: k.expires_ms,
                revoked: k.revoked_ms.is_some(),
            };
            (k.hash, entry)
        });
        for (h, entry) in file.chain(stored) {
            table
                .by_hash
                .entry(bucket(&h))
                .or_default()
                .push((h, Arc::new(entry)));
        }
        table
    }
}

fn bucket(h: &KeyHash) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_le_bytes(first)
}

/// The client keys in force, and what they were built from.
pub struct KeyTable {
    current: RwLock<Arc<Table>>,
    sources: Mutex<(Vec<ClientKey>, Vec<StoredKey>)>,
}

impl KeyTable {
    pub fn new(file: &[ClientKey]) -> KeyTable {
        KeyTable {
            current: RwLock::new(Arc::new(Table::build(file, &[]))),
            sources: Mutex::new((file.to_vec(), Vec::new())),
        }
    }

    /// Puts the config file's keys in force beside the stored ones.
    pub fn set_file(&self, file: &[ClientKey]) {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        sources.0 = file.to_vec();
        self.swap(Table::build(&sources.0, &sources.1));
    }

    /// Puts the stored keys in force beside the file's; says whether they changed.
    pub fn set_stored(&self, stored: Vec<StoredKey>) -> bool {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        self.put_stored(&mut sources, stored)
    }

    /// Reads the stored keys with `read` and puts them in force, as one step: two callers
    /// (the API after a change, the watcher after another process's) cannot cross, so the
    /// keys put in force last are the ones read last. Blocks while `read` runs.
    pub fn reload_stored<E>(
        &self,
        read: impl FnOnce() -> Result<Vec<StoredKey>, E>,
    ) -> Result<bool, E> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let stored = read()?;
        Ok(self.put_stored(&mut sources, stored))
    }

    fn put_stored(
        &self,
        sources: &mut (Vec<ClientKey>, Vec<StoredKey>),
        stored: Vec<StoredKey>,
    ) -> bool {
        if sources.1 == stored {
            return false;
        }
        sources.1 = stored;
        self.swap(Table::build(&sources.0, &sources.1));
        true
    }

    fn swap(&self, table: Table) {
        // A poisoned lock only means a writer panicked between whole swaps; the value is sound.
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }

    /// Whether any client key exists, file or stored.
    pub fn any(&self) -> bool {
        self.current.read().unwrap_or_else(|p| p.into_inner()).any
    }

    /// The key the caller presented, or `None` for a client on this machine while no key
    /// exists. A revoked or expired key is refused as such.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Result<Option<Arc<KeyEntry>>, ApiError> {
        let found = {
            let table = self.current.read().unwrap_or_else(|p| p.into_inner());
            if !table.any {
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
            let h = hash(presented);
            let mut found = None;
            // Every candidate is compared, so the time taken does not tell which nearly matched.
            for (candidate, entry) in table.by_hash.get(&bucket(&h)).into_iter().flatten() {
                if bool::from(candidate.ct_eq(&h)) {
                    found = Some(entry.clone());
                }
            }
            found
        };
        let Some(entry) = found else {
            return Err(ApiError::new(
                401,
                ErrorKind::Authentication,
                "invalid API key",
            ));
        };
        if entry.revoked {
            return Err(ApiError::new(401, ErrorKind::Authentication, "key revoked")
                .with_code("key_revoked"));
        }
        if let Some(at) = entry.expires_ms
            && at <= epoch_ms(switchyard_hub::clock::now())
        {
            return Err(ApiError::new(401, ErrorKind::Authentication, "key expired")
                .with_code("key_expired"));
        }
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_auth::Secret;

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5000)
    }

    fn file_key() -> ClientKey {
        ClientKey {
            id: "me".into(),
            key: Secret::new("sk-sw-1"),
            requests_per_minute: Some(3),
            tokens_per_day: None,
            tokens_per_month: None,
            budget: Default::default(),
        }
    }

    fn stored(id: &str, secret: &str) -> StoredKey {
        StoredKey {
            id: id.into(),
            name: id.into(),
            hash: hash(secret.as_bytes()),
            last4: secret[secret.len() - 4..].into(),
            created_ms: 0,
            expires_ms: None,
            revoked_ms: None,
            limits: Limits::default(),
            budget: Default::default(),
        }
    }

    fn bearer(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {key}").parse().unwrap());
        h
    }

    #[test]
    fn accepts_each_header_style_for_file_and_stored_keys() {
        let table = KeyTable::new(&[file_key()]);
        assert!(table.set_stored(vec![stored("key_1", "sk-sy-stored-0001")]));
        for (secret, id) in [("sk-sw-1", "me"), ("sk-sy-stored-0001", "key_1")] {
            for (h, v) in [
                ("authorization", format!("Bearer {secret}")),
                ("x-api-key", secret.to_owned()),
                ("x-goog-api-key", secret.to_owned()),
            ] {
                let mut headers = HeaderMap::new();
                headers.insert(h, v.parse().unwrap());
                let entry = table.authenticate(&headers, peer("10.0.0.2")).unwrap();
                assert_eq!(entry.unwrap().id, id);
            }
        }
        let me = table.authenticate(&bearer("sk-sw-1"), peer("10.0.0.2"));
        assert_eq!(me.unwrap().unwrap().limits.requests_per_minute, Some(3));
    }

    #[test]
    fn rejects_wrong_missing_revoked_and_expired_keys() {
        let table = KeyTable::new(&[]);
        let mut revoked = stored("key_r", "sk-sy-revoked-001");
        revoked.revoked_ms = Some(1);
        let mut expired = stored("key_e", "sk-sy-expired-001");
        expired.expires_ms = Some(1);
        let mut later = stored("key_l", "sk-sy-later-00001");
        later.expires_ms = Some(i64::MAX);
        table.set_stored(vec![revoked, expired, later]);
        let local = peer("127.0.0.1");
        assert_eq!(
            table
                .authenticate(&HeaderMap::new(), local)
                .unwrap_err()
                .status,
            401
        );
        let wrong = table.authenticate(&bearer("sk-sy-other"), local);
        assert_eq!(wrong.unwrap_err().message, "invalid API key");
        let e = table
            .authenticate(&bearer("sk-sy-revoked-001"), local)
            .unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (401, "key revoked"));
        let e = table
            .authenticate(&bearer("sk-sy-expired-001"), local)
            .unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (401, "key expired"));
        assert!(
            table
                .authenticate(&bearer("sk-sy-later-00001"), local)
                .is_ok()
        );
    }

    #[test]
    fn without_keys_only_loopback_is_served() {
        let table = KeyTable::new(&[]);
        let headers = HeaderMap::new();
        assert!(
            table
                .authenticate(&headers, peer("127.0.0.1"))
                .unwrap()
                .is_none()
        );
        assert!(table.authenticate(&headers, peer("::1")).unwrap().is_none());
        // An IPv4 client of a socket listening on [::].
        assert!(
            table
                .authenticate(&headers, peer("::ffff:127.0.0.1"))
                .unwrap()
                .is_none()
        );
        for ip in ["::ffff:192.168.1.4", "192.168.1.4"] {
            let e = table.authenticate(&headers, peer(ip)).unwrap_err();
            assert_eq!(e.status, 403);
        }
        // A stored key, even revoked, ends the loopback exception.
        let mut k = stored("key_1", "sk-sy-stored-0001");
        k.revoked_ms = Some(1);
        table.set_stored(vec![k]);
        assert!(table.any());
        assert_eq!(
            table
                .authenticate(&headers, peer("127.0.0.1"))
                .unwrap_err()
                .status,
            401
        );
        let same = table.sources.lock().unwrap().1.clone();
        assert!(
            !table.set_stored(same),
            "the same keys again change nothing"
        );
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        let id = generate_id().unwrap();
        assert!(id.starts_with("key_") && id.len() == 16, "{id}");
    }
}
