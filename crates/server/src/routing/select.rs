//! The order in which a request tries a provider's accounts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::config::Strategy;
use crate::routing::day_end;
use crate::routing::health::Unavailable;
use crate::state::app::{Account, Provider};

/// The accounts to try, best first, and when the first of the unavailable ones frees up.
pub struct Ordered {
    pub accounts: Vec<Arc<Account>>,
    pub earliest_free: Option<SystemTime>,
}

pub struct Want<'a> {
    pub model: &'a str,
    /// A combo target pinned to one account.
    pub pin: Option<&'a str>,
    /// The account this conversation used last (session affinity).
    pub preferred: Option<usize>,
    pub now: SystemTime,
    pub today: i64,
    pub day_offset_secs: i32,
    pub sticky_limit: u32,
    /// Only look: a preview must not move the round-robin position.
    pub peek: bool,
}

pub fn order(provider: &Provider, want: &Want<'_>) -> Ordered {
    let mut ok: Vec<(Arc<Account>, i64, u32)> = Vec::new();
    let mut earliest_free: Option<SystemTime> = None;
    for account in provider.accounts().iter() {
        // An account whose login is gone waits for `switchyard login`, not for time.
        if want.pin.is_some_and(|p| p != account.name) || account.credential.needs_login() {
            continue;
        }
        let verdict = {
            let mut h = account.lock_health();
            h.roll_day(want.today);
            let day_full = account.daily_requests.is_some_and(|n| h.day_requests >= n)
                || (account.daily_requests.is_some()
                    && crate::cluster::active().is_some_and(|c| c.day_spent(account, want.today)))
                || account.daily_tokens.is_some_and(|n| {
                    h.day_tokens >= n
                        || crate::cluster::active()
                            .is_some_and(|c| c.tokens_spent(account, want.today, h.day_tokens))
                });
            h.check(want.model, want.now)
                .and_then(|()| {
                    if day_full {
                        Err(Unavailable::DailyLimit(day_end(
                            want.now,
                            want.day_offset_secs,
                        )))
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| {
                    let busy = account
                        .max_concurrency
                        .is_some_and(|max| account.in_flight.load(Ordering::Relaxed) >= max);
                    if busy { Err(Unavailable::Busy) } else { Ok(()) }
                })
                .map(|()| (h.score(want.now), h.consecutive_failures))
        };
        match verdict {
            Ok((score, failures)) => ok.push((account.clone(), score, failures)),
            Err(why) => {
                if let Some(t) = why.until() {
                    earliest_free = Some(earliest_free.map_or(t, |e| e.min(t)));
                }
            }
        }
    }

    match provider.strategy {
        Strategy::Priority => ok.sort_by_key(|(a, _, _)| (a.priority, a.index)),
        Strategy::LeastErrors => {
            ok.sort_by_key(|(a, score, failures)| (*failures, -score, a.index))
        }
        Strategy::Health => ok.sort_by_key(|(a, score, _)| (-score, a.index)),
        Strategy::Weighted => ok = weighted_shuffle(ok),
        Strategy::RoundRobin => round_robin(provider, &mut ok, want.sticky_limit, want.peek),
    }
    let mut accounts: Vec<Arc<Account>> = ok.into_iter().map(|(a, _, _)| a).collect();
    if let Some(i) = want.preferred
        && let Some(pos) = accounts.iter().position(|a| a.index == i)
    {
        let a = accounts.remove(pos);
        accounts.insert(0, a);
    }
    Ordered {
        accounts,
        earliest_free,
    }
}

/// Stays on one account for `sticky` requests, then moves to the next available one.
fn round_robin(provider: &Provider, ok: &mut [(Arc<Account>, i64, u32)], sticky: u32, peek: bool) {
    ok.sort_by_key(|(a, _, _)| a.index);
    let Some(n) = std::num::NonZeroUsize::new(ok.len()) else {
        return;
    };
    let mut rr = provider.lock_rotation();
    let start = if rr.uses >= sticky {
        rr.current + 1
    } else {
        rr.current
    };
    let pos = ok
        .iter()
        .position(|(a, _, _)| a.index >= start)
        .unwrap_or(0)
        % n;
    ok.rotate_left(pos);
    if peek {
        return;
    }
    if let Some((first, _, _)) = ok.first() {
        if first.index == rr.current && rr.uses < sticky {
            rr.uses += 1;
        } else {
            rr.current = first.index;
            rr.uses = 1;
        }
    }
}

/// Random order in which each account comes first in proportion to its weight.
fn weighted_shuffle(mut pool: Vec<(Arc<Account>, i64, u32)>) -> Vec<(Arc<Account>, i64, u32)> {
    let mut out = Vec::with_capacity(pool.len());
    while !pool.is_empty() {
        let total: u64 = pool.iter().map(|(a, _, _)| u64::from(a.weight)).sum();
        let mut pick = fastrand::u64(0..total.max(1));
        let mut chosen = 0;
        for (i, (a, _, _)) in pool.iter().enumerate() {
            let w = u64::from(a.weight);
            if pick < w {
                chosen = i;
                break;
            }
            pick -= w;
        }
        out.push(pool.swap_remove(chosen));
    }
    out
}
