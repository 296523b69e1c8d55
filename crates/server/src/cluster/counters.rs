//! Per-key tokens per day and month, and dollar budgets (per key, account and provider),
//! counted across the cluster; and each account's requests and tokens today, which
//! `GET /api/accounts` shows for the whole cluster. Each instance keeps counting its own use in memory as on a
//! single machine; a background task writes its own totals for today and this month to
//! two Redis hashes (one field per instance and counter) and reads the others' back, every
//! [`EVERY`], in one round trip. The checks add the others' totals to the instance's own,
//! so the request path never waits on Redis, and a limit holds across the cluster to within
//! what the cluster serves in one period of the task.
//!
//! Totals, not increments, travel: writing one twice, or again after Redis restarted empty,
//! counts nothing twice. An instance is named in the hashes by its host and database, which
//! a restart keeps, so a restarted instance (which seeds its totals from its own database)
//! replaces its old fields instead of adding to them.

use std::collections::HashMap;
use std::time::Duration;

use super::caps::account_key;
use super::{Cluster, ClusterError, PREFIX};
use crate::routing::budgets::Scope;
use crate::routing::{day_number, month_number};
use crate::state::app::{Account, App};

/// How often the totals are exchanged.
pub(super) const EVERY: Duration = Duration::from_millis(200);

/// How long Redis keeps a day's and a month's totals after their last write.
const DAY_TTL_SECS: u64 = 3 * 86_400;
const MONTH_TTL_SECS: u64 = 40 * 86_400;

/// This instance's name in the hashes: its host and database, hashed (short, and no path
/// shown in Redis).
pub(super) fn counter_id(database: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    // Absolute: instances on one host started from different directories often name their
    // databases by the same relative path.
    let path = std::fs::canonicalize(database).unwrap_or_else(|_| database.to_path_buf());
    let text = format!("{}\0{}", host.trim(), path.display());
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn scope_tag(scope: Scope) -> &'static str {
    match scope {
        Scope::Key => "key",
        Scope::Account => "account",
        Scope::Provider => "provider",
    }
}

fn scope_of(tag: &str) -> Option<Scope> {
    match tag {
        "key" => Some(Scope::Key),
        "account" => Some(Scope::Account),
        "provider" => Some(Scope::Provider),
        _ => None,
    }
}

/// What one counter field names: `instance \t tok \t key`, `instance \t usd \t scope \t
/// name`, or an account's requests or tokens today, `instance \t req|atok \t
/// provider/account` (the name last, so a tab in it changes nothing).
enum Counter {
    Tokens(String),
    Usd(Scope, String),
    AccountRequests(String),
    AccountTokens(String),
}

/// Each account's own requests and tokens today, for those that served any.
fn accounts_today(app: &App, today: i64) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for p in &app.snapshot().providers {
        for a in p.accounts().iter() {
            let (requests, tokens) = {
                let h = a.lock_health();
                if h.day == today {
                    (h.day_requests, h.day_tokens)
                } else {
                    (0, 0)
                }
            };
            if requests > 0 || tokens > 0 {
                out.push((account_key(a), requests, tokens));
            }
        }
    }
    out
}

fn parse(field: &str) -> Option<(&str, Counter)> {
    let mut parts = field.splitn(3, '\t');
    let instance = parts.next()?;
    let kind = parts.next()?;
    let rest = parts.next()?;
    let counter = match kind {
        "tok" => Counter::Tokens(rest.to_owned()),
        "req" => Counter::AccountRequests(rest.to_owned()),
        "atok" => Counter::AccountTokens(rest.to_owned()),
        "usd" => {
            let (tag, name) = rest.split_once('\t')?;
            Counter::Usd(scope_of(tag)?, name.to_owned())
        }
        _ => return None,
    };
    Some((instance, counter))
}

impl Cluster {
    /// Exchanges the totals while the instance lives.
    pub(super) async fn share_counters(&'static self) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.link.is_up() {
                continue;
            }
            let synced = match self.sync_counters().await {
                Ok(()) => self.sync_slots().await,
                Err(e) => Err(e),
            };
            match synced {
                Ok(()) => {
                    self.counter_syncs
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => self.link.failed(&e),
            }
        }
    }

    /// This instance's own totals as the hashes' fields: today's, then this month's.
    #[expect(clippy::type_complexity, reason = "two lists of (field, value)")]
    fn own_fields(
        &self,
        app: &App,
        today: i64,
        month: i64,
    ) -> (Vec<(String, String)>, Vec<(String, String)>) {
        let me = &self.counter_id;
        let mut day_fields = Vec::new();
        let mut month_fields = Vec::new();
        for (id, day, in_month) in app.limits.own(today, month) {
            let field = format!("{me}\ttok\t{id}");
            day_fields.push((field.clone(), day.to_string()));
            month_fields.push((field, in_month.to_string()));
        }
        for (scope, name, day, in_month) in app.budgets.own(today, month) {
            let field = format!("{me}\tusd\t{}\t{name}", scope_tag(scope));
            day_fields.push((field.clone(), day.to_string()));
            month_fields.push((field, in_month.to_string()));
        }
        for (account, requests, tokens) in accounts_today(app, today) {
            day_fields.push((format!("{me}\treq\t{account}"), requests.to_string()));
            day_fields.push((format!("{me}\tatok\t{account}"), tokens.to_string()));
        }
        (day_fields, month_fields)
    }

    async fn sync_counters(&self) -> Result<(), ClusterError> {
        let Some(app) = self.app() else {
            return Ok(());
        };
        let offset = app.snapshot().config.routing.day_offset_secs;
        let now = switchyard_hub::clock::now();
        let (today, month) = (day_number(now, offset), month_number(now, offset));
        let day_key = format!("{PREFIX}usage:day:{today}");
        let month_key = format!("{PREFIX}usage:month:{month}");
        let me = &self.counter_id;
        let mut pipe = redis::pipe();
        let (day_fields, month_fields) = self.own_fields(&app, today, month);
        for (key, fields, ttl) in [
            (&day_key, &day_fields, DAY_TTL_SECS),
            (&month_key, &month_fields, MONTH_TTL_SECS),
        ] {
            if !fields.is_empty() {
                let hset = pipe.cmd("HSET").arg(key);
                for (f, v) in fields {
                    hset.arg(f).arg(v);
                }
                hset.ignore();
                pipe.cmd("EXPIRE").arg(key).arg(ttl).ignore();
            }
        }
        pipe.cmd("HGETALL").arg(&day_key);
        pipe.cmd("HGETALL").arg(&month_key);
        let (days, months): (HashMap<String, String>, HashMap<String, String>) =
            self.link.run_pipe(pipe).await?;

        let mut tokens: HashMap<String, (u64, u64)> = HashMap::new();
        let mut usd: HashMap<(Scope, String), (f64, f64)> = HashMap::new();
        let mut accounts: HashMap<String, (u64, u64)> = HashMap::new();
        for (in_day, hash) in [(true, &days), (false, &months)] {
            for (field, value) in hash {
                let Some((instance, counter)) = parse(field) else {
                    continue;
                };
                if instance == me {
                    continue;
                }
                match counter {
                    Counter::Tokens(id) => {
                        let n: u64 = value.parse().unwrap_or(0);
                        let t = tokens.entry(id).or_default();
                        if in_day { t.0 += n } else { t.1 += n }
                    }
                    Counter::Usd(scope, name) => {
                        let n: f64 = value.parse().unwrap_or(0.0);
                        let n = if n.is_finite() { n } else { 0.0 };
                        let u = usd.entry((scope, name)).or_default();
                        if in_day { u.0 += n } else { u.1 += n }
                    }
                    Counter::AccountRequests(account) if in_day => {
                        accounts.entry(account).or_default().0 += value.parse().unwrap_or(0);
                    }
                    Counter::AccountTokens(account) if in_day => {
                        accounts.entry(account).or_default().1 += value.parse().unwrap_or(0);
                    }
                    Counter::AccountRequests(_) | Counter::AccountTokens(_) => {}
                }
            }
        }
        // Counters the others no longer report (a new day, an instance gone) drop to zero.
        let mut known = self.others_known.lock().unwrap_or_else(|p| p.into_inner());
        for id in known.0.iter() {
            if !tokens.contains_key(id) {
                app.limits.set_others(id, today, 0, month, 0);
            }
        }
        for (scope, name) in known.1.iter() {
            if !usd.contains_key(&(*scope, name.clone())) {
                app.budgets.set_others(*scope, name, today, 0.0, month, 0.0);
            }
        }
        for (id, (d, m)) in &tokens {
            app.limits.set_others(id, today, *d, month, *m);
        }
        for ((scope, name), (d, m)) in &usd {
            app.budgets.set_others(*scope, name, today, *d, month, *m);
        }
        known.0 = tokens.into_keys().collect();
        known.1 = usd.into_keys().collect();
        *self
            .accounts_today
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = (today, accounts);
        Ok(())
    }

    /// What the other instances sent through `account` on day `today` (requests, tokens),
    /// as of the last exchange (every [`EVERY`]; the last known while Redis is away).
    pub fn others_today(&self, account: &Account, today: i64) -> (u64, u64) {
        let known = self
            .accounts_today
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if known.0 != today {
            return (0, 0);
        }
        known
            .1
            .get(&account_key(account))
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_their_instance_and_counter_with_the_name_last() {
        match parse("abc\tusd\taccount\tp/a\tb") {
            Some(("abc", Counter::Usd(Scope::Account, name))) => assert_eq!(name, "p/a\tb"),
            _ => panic!("not parsed"),
        }
        match parse("abc\ttok\tlaptop") {
            Some(("abc", Counter::Tokens(id))) => assert_eq!(id, "laptop"),
            _ => panic!("not parsed"),
        }
        match parse("abc\tatok\tp/a\tb") {
            Some(("abc", Counter::AccountTokens(name))) => assert_eq!(name, "p/a\tb"),
            _ => panic!("not parsed"),
        }
        assert!(parse("abc\tusd\tnowhere\tx").is_none());
        assert!(parse("abc").is_none());
    }
}
