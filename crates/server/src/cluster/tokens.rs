//! One OAuth refresh for the whole cluster. Providers with rotating refresh tokens revoke
//! the old one when it is used, so two instances renewing the same account log each other
//! out. Here the instance that takes a Redis lock (`SET NX PX`) renews and publishes the new
//! credential, sealed; the others wait for it and use it. A winner that crashes leaves a
//! lock that expires, and the next one to take it renews.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchyard_auth::{Credential, Secret};
use switchyard_provider::RefreshError;

use super::seal::Sealer;
use super::{Cluster, ClusterError, PREFIX};

/// How long a renewal may hold the lock: longer than any token endpoint takes, short
/// enough that requests waiting on a crashed winner are not lost.
const LOCK_TTL: Duration = Duration::from_secs(20);

/// How often a waiting instance looks for the winner's credential.
const POLL: Duration = Duration::from_millis(20);

/// How long a published credential is kept for instances that need it later.
const KEEP_SECS: u64 = 30 * 24 * 3600;

/// A credential as it travels (sealed) between instances.
#[derive(Clone, Serialize, Deserialize)]
pub struct SharedCredential {
    api_key: bool,
    access: String,
    refresh: Option<String>,
    expires_at_ms: Option<i64>,
    extra: BTreeMap<String, String>,
}

impl From<&Credential> for SharedCredential {
    fn from(c: &Credential) -> Self {
        match c {
            Credential::ApiKey(k) => SharedCredential {
                api_key: true,
                access: k.expose().to_owned(),
                refresh: None,
                expires_at_ms: None,
                extra: BTreeMap::new(),
            },
            Credential::OAuth {
                access,
                refresh,
                expires_at,
                extra,
            } => SharedCredential {
                api_key: false,
                access: access.expose().to_owned(),
                refresh: refresh.as_ref().map(|r| r.expose().to_owned()),
                expires_at_ms: expires_at.map(crate::routing::epoch_ms),
                extra: extra.clone(),
            },
        }
    }
}

impl From<SharedCredential> for Credential {
    fn from(s: SharedCredential) -> Self {
        if s.api_key {
            return Credential::ApiKey(Secret::new(s.access));
        }
        Credential::OAuth {
            access: Secret::new(s.access),
            refresh: s.refresh.map(Secret::new),
            expires_at: s.expires_at_ms.map(crate::routing::from_epoch_ms),
            extra: s.extra,
        }
    }
}

impl Cluster {
    /// Renews the credential of `account` (`provider/name`) once for the cluster: returns a
    /// credential another instance published if `usable` accepts it, else renews with
    /// `refresh` when this instance wins the lock, else waits for the winner's. Without a
    /// cluster key, or with Redis away, it renews locally.
    pub async fn refresh_once<F, Fut>(
        &self,
        account: &str,
        usable: impl Fn(&Credential) -> bool,
        refresh: F,
    ) -> Result<Credential, RefreshError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Credential, RefreshError>>,
    {
        let Some(sealer) = &self.sealer else {
            return refresh().await;
        };
        if !self.link.is_up() {
            return refresh().await;
        }
        let token_key = format!("{PREFIX}token:{account}");
        let lock_key = format!("{PREFIX}lock:{account}");
        let me = uuid::Uuid::new_v4().simple().to_string();
        let give_up = Instant::now() + LOCK_TTL + LOCK_TTL;
        loop {
            match self.shared_token(sealer, &token_key).await {
                Ok(Some(c)) if usable(&c) => return Ok(c),
                Ok(_) => {}
                Err(e) => return self.alone(e, refresh).await,
            }
            let mut lock = redis::cmd("SET");
            lock.arg(&lock_key)
                .arg(&me)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_TTL.as_millis() as u64);
            match self.link.run::<Option<String>>(lock).await {
                Ok(Some(_)) => {
                    return self
                        .renew(sealer, &token_key, &lock_key, &me, usable, refresh)
                        .await;
                }
                Ok(None) => {}
                Err(e) => return self.alone(e, refresh).await,
            }
            // Another instance renews: wait for its credential, or for its lock to go (it
            // failed or crashed), then look again.
            loop {
                if Instant::now() > give_up {
                    return Err(RefreshError::Transient(
                        "another instance's renewal of this account did not finish".into(),
                    ));
                }
                tokio::time::sleep(POLL).await;
                match self.shared_token(sealer, &token_key).await {
                    Ok(Some(c)) if usable(&c) => return Ok(c),
                    Ok(_) => {}
                    Err(e) => return self.alone(e, refresh).await,
                }
                let mut exists = redis::cmd("EXISTS");
                exists.arg(&lock_key);
                match self.link.run::<i64>(exists).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return self.alone(e, refresh).await,
                }
            }
        }
    }

    /// This instance holds the lock: renews, publishes, lets go.
    async fn renew<F, Fut>(
        &self,
        sealer: &Sealer,
        token_key: &str,
        lock_key: &str,
        me: &str,
        usable: impl Fn(&Credential) -> bool,
        refresh: F,
    ) -> Result<Credential, RefreshError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Credential, RefreshError>>,
    {
        // The last holder may have published between this instance's look and its lock.
        let result = match self.shared_token(sealer, token_key).await {
            Ok(Some(c)) if usable(&c) => Ok(c),
            _ => {
                let result = refresh().await;
                if let Ok(new) = &result
                    && let Err(e) = self.publish_token(sealer, token_key, new).await
                {
                    self.link.failed(&e);
                }
                result
            }
        };
        // Only this holder's lock is removed, never one a later holder took after expiry.
        let mut release = redis::cmd("EVAL");
        release
            .arg("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end")
            .arg(1)
            .arg(lock_key)
            .arg(me);
        if let Err(e) = self.link.run::<i64>(release).await {
            self.link.failed(&e);
        }
        result
    }

    async fn alone<F, Fut>(&self, e: ClusterError, refresh: F) -> Result<Credential, RefreshError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Credential, RefreshError>>,
    {
        self.link.failed(&e);
        refresh().await
    }

    async fn shared_token(
        &self,
        sealer: &Sealer,
        token_key: &str,
    ) -> Result<Option<Credential>, ClusterError> {
        let mut get = redis::cmd("GET");
        get.arg(token_key);
        let Some(sealed) = self.link.run::<Option<String>>(get).await? else {
            return Ok(None);
        };
        let plain = match sealer.open(token_key, &sealed) {
            Ok(p) => p,
            Err(e) => {
                // Another cluster key, or tampering: not usable, and not a reason to stop.
                tracing::warn!("cluster: a shared credential does not open: {e}");
                return Ok(None);
            }
        };
        let shared: SharedCredential = serde_json::from_slice(&plain)?;
        Ok(Some(shared.into()))
    }

    async fn publish_token(
        &self,
        sealer: &Sealer,
        token_key: &str,
        credential: &Credential,
    ) -> Result<(), ClusterError> {
        let plain = serde_json::to_vec(&SharedCredential::from(credential))?;
        let mut set = redis::cmd("SET");
        set.arg(token_key)
            .arg(sealer.seal(token_key, &plain)?)
            .arg("EX")
            .arg(KEEP_SECS);
        self.link.run::<()>(set).await
    }
}
