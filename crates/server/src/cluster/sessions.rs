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

/// What this instance last published per (session, provider), so a busy session costs
/// one event per account change or per a quarter of its lifetime, not one per request.
#[derive(Default)]
pub struct Sent {
    last: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl Cluster {
    /// Called where a session's account is remembered after a success.
    pub fn session_used(&self, session: &str, provider: &str, account: &str, ttl: Duration) {
        let now = Instant::now();
        {
            let mut last = self.sessions.last.lock().unwrap_or_else(|p| p.into_inner());
            let key = (session.to_owned(), provider.to_owned());
            if let Some((a, at)) = last.get(&key)
                && a == account
                && now.duration_since(*at) < ttl / 4
            {
                return;
            }
            if last.len() >= 10_000 {
                last.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            }
            last.insert(key, (account.to_owned(), now));
        }
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
        self.sessions
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (s.session.clone(), s.provider.clone()),
                (s.account.clone(), Instant::now()),
            );
    }
}
