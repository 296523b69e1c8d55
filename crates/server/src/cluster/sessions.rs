//! Session affinity across the cluster: a session that one instance served from an account
//! goes to that account on every instance, so a load balancer that spreads one
//! conversation over several instances still keeps its prompt cache warm. The instance that
//! served it publishes (session, provider, account) when the session's account changes or
//! its last publication is getting old; the others write it into their own session table,
//! which routing keeps reading locally.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Cluster, Outgoing};
use crate::state::app::App;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SharedSession {
    pub session: String,
    pub provider: String,
    /// By name: positions may differ where the instances' stored accounts differ.
    pub account: String,
}

/// The most (session, provider) pairs [`Sent`] remembers. Past it the oldest are forgotten:
/// a forgotten session only costs one more event when it is next served.
const SENT_CAP: usize = 10_000;

/// What this instance last published per (session, provider), so a busy session costs
/// one event per account change or per a quarter of its lifetime, not one per request.
pub struct Sent {
    last: Mutex<HashMap<(String, String), (String, Instant)>>,
    cap: usize,
}

impl Default for Sent {
    fn default() -> Self {
        Sent::with_cap(SENT_CAP)
    }
}

impl Sent {
    fn with_cap(cap: usize) -> Self {
        Sent {
            last: Mutex::default(),
            cap: cap.max(1),
        }
    }

    /// Whether `account` was published for `key` less than `fresh` ago.
    fn recent(&self, key: &(String, String), account: &str, now: Instant, fresh: Duration) -> bool {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.get(key)
            .is_some_and(|(a, at)| a == account && now.duration_since(*at) < fresh)
    }

    /// Remembers that `key` went to `account` at `now`, keeping at most the cap: when full,
    /// entries older than `ttl` go first, then the oldest tenth (so a flood of live
    /// sessions costs one pass per tenth of the cap, not one per insert).
    fn note(&self, key: (String, String), account: String, now: Instant, ttl: Duration) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.len() >= self.cap && !last.contains_key(&key) {
            last.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if last.len() >= self.cap {
                let mut ages: Vec<Instant> = last.values().map(|(_, at)| *at).collect();
                let drop = (self.cap / 10).max(1).min(ages.len() - 1);
                let (_, cut, _) = ages.select_nth_unstable(drop);
                let cut = *cut;
                last.retain(|_, (_, at)| *at >= cut);
            }
            // Entries of one instant all survive the cut: any of them may go then.
            while last.len() >= self.cap {
                let Some(k) = last.keys().next().cloned() else {
                    break;
                };
                last.remove(&k);
            }
        }
        last.insert(key, (account, now));
    }
}

impl Cluster {
    /// Called where a session's account is remembered after a success.
    pub fn session_used(&self, session: &str, provider: &str, account: &str, ttl: Duration) {
        let now = Instant::now();
        let key = (session.to_owned(), provider.to_owned());
        if self.sessions.recent(&key, account, now, ttl / 4) {
            return;
        }
        self.sessions.note(key, account.to_owned(), now, ttl);
        self.queue(Outgoing::Session(SharedSession {
            session: session.to_owned(),
            provider: provider.to_owned(),
            account: account.to_owned(),
        }));
    }

    /// Another instance served `s`: this one sends the session there too.
    pub(super) fn apply_session(&self, app: &App, s: &SharedSession) {
        let live = app.snapshot();
        let Some(provider) = live.providers.iter().find(|p| p.name == s.provider) else {
            return;
        };
        let Some(account) = provider
            .accounts()
            .iter()
            .find(|a| a.name == s.account)
            .map(|a| a.index)
        else {
            return;
        };
        let ttl = live.config.routing.session_ttl;
        app.remember_session(&s.session, &s.provider, account, ttl);
        // What the others said counts as published here too: no echo back.
        self.sessions.note(
            (s.session.clone(), s.provider.clone()),
            s.account.clone(),
            Instant::now(),
            ttl,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> (String, String) {
        (format!("session-{i}"), "p".to_owned())
    }

    #[test]
    fn live_sessions_past_the_cap_push_out_the_oldest() {
        let sent = Sent::with_cap(100);
        let start = Instant::now();
        // Every session is live (the lifetime is an hour), so only the cap can bound it.
        let ttl = Duration::from_secs(3600);
        for i in 0..1000 {
            let at = start + Duration::from_millis(i);
            sent.note(key(i), "a1".into(), at, ttl);
            assert!(
                sent.last.lock().unwrap().len() <= 100,
                "over the cap at {i}"
            );
        }
        let last = sent.last.lock().unwrap();
        assert!(last.contains_key(&key(999)), "the newest stays");
        assert!(!last.contains_key(&key(0)), "the oldest went");
        assert!(
            !last.contains_key(&key(800)),
            "older ones went before newer ones"
        );
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let sent = Sent::with_cap(10);
        let start = Instant::now();
        let ttl = Duration::from_secs(10);
        sent.note(key(0), "a1".into(), start, ttl);
        for i in 1..10 {
            sent.note(key(i), "a1".into(), start + Duration::from_secs(20), ttl);
        }
        sent.note(key(10), "a1".into(), start + Duration::from_secs(21), ttl);
        let last = sent.last.lock().unwrap();
        assert_eq!(last.len(), 10);
        assert!(!last.contains_key(&key(0)), "the expired one went");
        assert!(
            (1..=10).all(|i| last.contains_key(&key(i))),
            "no live one went"
        );
    }

    #[test]
    fn an_entry_published_lately_for_the_same_account_is_recent() {
        let sent = Sent::with_cap(10);
        let now = Instant::now();
        sent.note(key(1), "a1".into(), now, Duration::from_secs(60));
        assert!(sent.recent(&key(1), "a1", now, Duration::from_secs(15)));
        assert!(!sent.recent(&key(1), "a2", now, Duration::from_secs(15)));
        assert!(!sent.recent(
            &key(1),
            "a1",
            now + Duration::from_secs(16),
            Duration::from_secs(15)
        ));
    }
}
