//! Shared cooldowns: when one instance cools an account down (a 429 with its hint, backoff,
//! a set-aside after failures in a row) the others stop sending to it too. Each instance
//! publishes the account's penalties (a Redis key that expires with the last of them, and an
//! event), and applies the others' to its own copy, so routing keeps reading local memory.
//!
//! Merging takes the later of each deadline and the higher backoff: a penalty only ever
//! lengthens by merging, so events may arrive in any order, twice, or after a reconnection,
//! and every instance still ends with the same state. Penalties end by expiring, or by an
//! operator's reset, which is published as a management change.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError, Event, PREFIX};
use crate::routing::epoch_ms;
use crate::routing::health::Health;
use crate::state::app::{Account, App};

/// The part of an account's health that routing decides by, with its deadlines in epoch
/// milliseconds; only penalties still running are carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharedHealth {
    pub provider: String,
    pub account: String,
    pub cooldown_until_ms: Option<i64>,
    pub model_cooldowns: BTreeMap<String, i64>,
    pub reasons: BTreeMap<String, String>,
    pub backoff_level: u32,
    pub consecutive_failures: u32,
    pub disabled_until_ms: Option<i64>,
}

impl SharedHealth {
    /// The account's running penalties, or `None` when it has none.
    fn of(account: &Account, now: SystemTime) -> Option<SharedHealth> {
        let h = account.lock_health();
        let running = |t: &SystemTime| *t > now;
        let cooldown_until_ms = h.cooldown_until.filter(running).map(epoch_ms);
        let disabled_until_ms = h.disabled_until.filter(running).map(epoch_ms);
        let model_cooldowns: BTreeMap<String, i64> = h
            .model_cooldowns
            .iter()
            .filter(|(_, t)| running(t))
            .map(|(m, t)| (m.clone(), epoch_ms(*t)))
            .collect();
        if cooldown_until_ms.is_none() && disabled_until_ms.is_none() && model_cooldowns.is_empty()
        {
            return None;
        }
        let reasons = h
            .cooldown_reasons
            .iter()
            .filter(|(m, _)| m.is_empty() || model_cooldowns.contains_key(*m))
            .map(|(m, r)| (m.clone(), r.clone()))
            .collect();
        Some(SharedHealth {
            provider: account.provider.clone(),
            account: account.name.clone(),
            cooldown_until_ms,
            model_cooldowns,
            reasons,
            backoff_level: h.backoff_level,
            consecutive_failures: h.consecutive_failures,
            disabled_until_ms,
        })
    }

    fn key(&self) -> String {
        health_key(&self.provider, &self.account)
    }

    fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }

    /// The last deadline it carries.
    fn last_ms(&self) -> i64 {
        self.cooldown_until_ms
            .into_iter()
            .chain(self.disabled_until_ms)
            .chain(self.model_cooldowns.values().copied())
            .max()
            .unwrap_or(0)
    }

    /// Merges these penalties into `h`; says whether `h` changed.
    fn merge_into(&self, h: &mut Health) -> bool {
        let before = h.clone();
        let later = |mine: Option<SystemTime>, theirs: Option<i64>| {
            let theirs = theirs.map(crate::routing::from_epoch_ms);
            mine.into_iter().chain(theirs).max()
        };
        let theirs_later = match (h.cooldown_until, self.cooldown_until_ms) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(mine), Some(theirs)) => mine < crate::routing::from_epoch_ms(theirs),
        };
        if theirs_later && let Some(r) = self.reasons.get("") {
            h.cooldown_reasons.insert(String::new(), r.clone());
        }
        h.cooldown_until = later(h.cooldown_until, self.cooldown_until_ms);
        h.disabled_until = later(h.disabled_until, self.disabled_until_ms);
        for (model, ms) in &self.model_cooldowns {
            let theirs = crate::routing::from_epoch_ms(*ms);
            let mine = h.model_cooldowns.get(model).copied();
            if mine.is_none_or(|t| t < theirs) {
                h.model_cooldowns.insert(model.clone(), theirs);
                if let Some(r) = self.reasons.get(model) {
                    h.cooldown_reasons.insert(model.clone(), r.clone());
                }
            }
        }
        h.backoff_level = h.backoff_level.max(self.backoff_level);
        h.consecutive_failures = h.consecutive_failures.max(self.consecutive_failures);
        *h != before
    }
}

pub fn health_key(provider: &str, account: &str) -> String {
    format!("{PREFIX}health:{provider}/{account}")
}

/// The fingerprint of each account's penalties as last sent or received, so an instance
/// does not echo back what it was just told.
#[derive(Default)]
pub struct Seen(Mutex<HashMap<String, u64>>);

impl Seen {
    /// What to publish for `account` now, if its penalties are not what was last shared.
    pub fn outgoing(&self, account: &Account) -> Option<SharedHealth> {
        let shared = SharedHealth::of(account, switchyard_hub::clock::now())?;
        let print = shared.fingerprint();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get_mut(&shared.key()) {
            Some(p) if *p == print => None,
            Some(p) => {
                *p = print;
                Some(shared)
            }
            None => {
                seen.insert(shared.key(), print);
                Some(shared)
            }
        }
    }

    fn note(&self, shared: &SharedHealth) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(shared.key(), shared.fingerprint());
    }
}

fn find(app: &App, provider: &str, account: &str) -> Option<Arc<Account>> {
    let live = app.snapshot();
    let p = live.provider(provider)?;
    p.accounts().iter().find(|a| a.name == account).cloned()
}

impl Cluster {
    /// Applies another instance's penalties for one account to this instance's copy.
    pub(super) fn apply_health(&self, app: &App, shared: &SharedHealth) {
        let Some(account) = find(app, &shared.provider, &shared.account) else {
            return;
        };
        self.health.note(shared);
        let changed = shared.merge_into(&mut account.lock_health());
        if changed {
            tracing::info!(provider = %shared.provider, account = %shared.account, "cluster: penalty from another instance applied");
            // Saved like a local change (a restart keeps it); the echo is suppressed by
            // `Seen` unless merging made it longer than what was received.
            app.save_account(&account);
        }
    }

    /// Publishes one account's penalties: a key that lives as long as the last of them (for
    /// instances that connect later) and an event (for those listening now).
    pub(super) async fn publish_health(&self, shared: &SharedHealth) -> Result<(), ClusterError> {
        let now = epoch_ms(switchyard_hub::clock::now());
        let ttl = (shared.last_ms() - now).max(1000);
        let mut set = redis::cmd("SET");
        set.arg(shared.key())
            .arg(serde_json::to_string(shared)?)
            .arg("PX")
            .arg(ttl);
        self.link.run::<()>(set).await?;
        self.send_event(Event::Health(shared.clone())).await
    }

    /// After a (re)connection: takes in every penalty the others published, and publishes
    /// this instance's own running penalties (Redis may have restarted empty).
    pub(super) async fn resync(&self) {
        let Some(app) = self.app() else { return };
        match self.read_all_health().await {
            Ok(all) => {
                for shared in &all {
                    self.apply_health(&app, shared);
                }
            }
            Err(e) => {
                self.link.failed(&e);
                return;
            }
        }
        let now = switchyard_hub::clock::now();
        for p in &app.snapshot().providers {
            for a in p.accounts().iter() {
                if let Some(shared) = SharedHealth::of(a, now) {
                    self.health.note(&shared);
                    if let Err(e) = self.publish_health(&shared).await {
                        self.link.failed(&e);
                        return;
                    }
                }
            }
        }
    }

    async fn read_all_health(&self) -> Result<Vec<SharedHealth>, ClusterError> {
        let pattern = format!("{PREFIX}health:*");
        let mut cursor: u64 = 0;
        let mut keys: Vec<String> = Vec::new();
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500);
            let (next, found): (u64, Vec<String>) = self.link.run(scan).await?;
            keys.extend(found);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        get.arg(&keys);
        let values: Vec<Option<String>> = self.link.run(get).await?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str(&v).ok())
            .collect())
    }

    /// Forgets the shared penalties of accounts an operator reset, so a reconnecting
    /// instance does not bring them back.
    pub(super) async fn forget_health(
        &self,
        accounts: &[(String, String)],
    ) -> Result<(), ClusterError> {
        if accounts.is_empty() {
            return Ok(());
        }
        let mut del = redis::cmd("DEL");
        for (p, a) in accounts {
            del.arg(health_key(p, a));
        }
        self.link.run::<i64>(del).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn shared(until_ms: i64, backoff: u32) -> SharedHealth {
        SharedHealth {
            provider: "p".into(),
            account: "a".into(),
            cooldown_until_ms: Some(until_ms),
            model_cooldowns: BTreeMap::from([("m".to_owned(), until_ms)]),
            reasons: BTreeMap::from([(String::new(), "429 retry-after 60 s".to_owned())]),
            backoff_level: backoff,
            consecutive_failures: 1,
            disabled_until_ms: None,
        }
    }

    #[test]
    fn merging_keeps_the_later_deadline_whatever_the_order() {
        let now = switchyard_hub::clock::now();
        let soon = epoch_ms(now + Duration::from_secs(10));
        let later = epoch_ms(now + Duration::from_secs(60));
        let (mut one, mut two) = (Health::default(), Health::default());
        assert!(shared(soon, 1).merge_into(&mut one));
        assert!(shared(later, 3).merge_into(&mut one));
        assert!(shared(later, 3).merge_into(&mut two));
        assert!(
            !shared(soon, 1).merge_into(&mut two),
            "an earlier deadline changes nothing"
        );
        assert_eq!(one, two);
        assert_eq!(one.backoff_level, 3);
        assert_eq!(one.cooldown_until.map(epoch_ms), Some(later));
        assert_eq!(one.cooldown_reasons[""], "429 retry-after 60 s");
        assert!(one.check("m", now).is_err());
    }
}
