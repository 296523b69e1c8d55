//! A client key's requests per minute counted across the cluster by leasing: an instance
//! takes a slice of the key's allowance for the current minute at a time (one `INCRBY` on
//! a per-minute Redis counter) and serves from that slice in memory, so only one request in
//! a slice waits on Redis. Slices are cut at the limit, so the cluster never admits more
//! than the limit in a minute; an instance may end a minute with part of a slice unused,
//! so the cluster admits at least the limit minus one slice per instance.
//!
//! The window is the calendar minute (shared counters need a shared window), where a single
//! instance counts any 60 seconds: a client can get up to twice its rate across a minute's
//! boundary in cluster mode.
//!
//! The leases themselves ([`Slices`]) serve accounts' daily caps too (`caps`), by day.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_hub::ApiError;

use super::{Cluster, PREFIX};
use crate::routing::limits::limited;

/// The slice of a key's per-minute allowance one lease takes: a twentieth, so a busy
/// instance asks Redis about once every twenty requests of a key, and the unused rest
/// a minute can leave per instance stays small.
fn lease_size(rpm: u32) -> u64 {
    u64::from(rpm / 20).clamp(1, 100)
}

/// One key's lease in one period (a minute, a day).
#[derive(Default)]
pub(super) struct Lease {
    pub(super) period: i64,
    /// Granted to this instance in the period, in all.
    pub(super) granted: u64,
    /// Of what was granted, used.
    pub(super) used: u64,
    /// Served in the period without a lease (Redis away, or before a restart).
    pub(super) local: u64,
    /// The cluster's allowance for the period is all handed out.
    pub(super) spent: bool,
}

/// What a lease says of one more request.
pub(super) enum Take {
    Served,
    Spent,
    /// Nothing left of the slice: ask Redis for another (the caller holds the key's turn).
    NeedLease(tokio::sync::OwnedMutexGuard<()>),
}

enum Local {
    Served,
    Spent,
    NeedLease,
}

/// Leases by key, for any period: the per-minute rates here and accounts' days (`caps`).
#[derive(Default)]
pub(super) struct Slices {
    keys: Mutex<HashMap<String, Lease>>,
    /// One lease request at a time per key, so a burst does not take many slices at once.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Slices {
    /// Runs `f` on `id`'s lease for `period` (a new period starts afresh).
    pub(super) fn with<T>(&self, id: &str, period: i64, f: impl FnOnce(&mut Lease) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let lease = match keys.get_mut(id) {
            Some(l) => l,
            None => keys.entry(id.to_owned()).or_default(),
        };
        if lease.period != period {
            *lease = Lease {
                period,
                ..Lease::default()
            };
        }
        f(lease)
    }

    /// Runs `f` on `id`'s lease if it is still for `period` (a lease that arrives after
    /// its period ended counts for nothing).
    pub(super) fn update(&self, id: &str, period: i64, f: impl FnOnce(&mut Lease)) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lease) = keys.get_mut(id)
            && lease.period == period
        {
            f(lease);
        }
    }

    /// `id`'s lease as it stands, if it has one.
    pub(super) fn peek<T>(&self, id: &str, f: impl FnOnce(Option<&Lease>) -> T) -> T {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        f(keys.get(id))
    }

    fn take_local(&self, id: &str, period: i64) -> Local {
        self.with(id, period, |lease| {
            if lease.used < lease.granted {
                lease.used += 1;
                Local::Served
            } else if lease.spent {
                Local::Spent
            } else {
                Local::NeedLease
            }
        })
    }

    /// One request from `id`'s slice for `period`, or the key's turn to ask for another.
    pub(super) async fn take(&self, id: &str, period: i64) -> Take {
        match self.take_local(id, period) {
            Local::Served => return Take::Served,
            Local::Spent => return Take::Spent,
            Local::NeedLease => {}
        }
        let turn = self.turn(id).await;
        // Another request may have taken a slice while this one waited for its turn.
        match self.take_local(id, period) {
            Local::Served => Take::Served,
            Local::Spent => Take::Spent,
            Local::NeedLease => Take::NeedLease(turn),
        }
    }

    /// `id`'s turn to ask Redis for a lease, held until dropped (one request at a time per
    /// key, so a burst does not take many slices at once).
    pub(super) async fn turn(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
            gates.entry(id.to_owned()).or_default().clone()
        };
        gate.lock_owned().await
    }

    /// After a lease: one request from the slice just granted, if any.
    pub(super) fn take_granted(&self, id: &str, period: i64) -> bool {
        matches!(self.take_local(id, period), Local::Served)
    }
}

#[derive(Default)]
pub struct Leases {
    slices: Slices,
}

impl Leases {
    /// Admits one request of key `id` limited to `rpm`, or says when to come back; `None`
    /// when Redis is away and the caller must count on its own.
    pub async fn admit(
        &self,
        cluster: &Cluster,
        id: &str,
        rpm: u32,
        now: SystemTime,
    ) -> Option<Result<(), ApiError>> {
        if !cluster.link.is_up() {
            return None;
        }
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let minute = since.as_secs() / 60;
        let full = || {
            let wait = Duration::from_secs((minute + 1) * 60).saturating_sub(since);
            Some(Err(limited(
                format!("client key `{id}` is limited to {rpm} requests per minute"),
                wait,
            )))
        };
        let minute_period = i64::try_from(minute).unwrap_or(i64::MAX);
        let _turn = match self.slices.take(id, minute_period).await {
            Take::Served => return Some(Ok(())),
            Take::Spent => return full(),
            Take::NeedLease(turn) => turn,
        };
        let size = lease_size(rpm);
        let key = format!("{PREFIX}rpm:{id}:{minute}");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("INCRBY")
            .arg(&key)
            .arg(size)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(120)
            .ignore();
        let total: u64 = match cluster.link.run_pipe::<(u64,)>(pipe).await {
            Ok((t,)) => t,
            Err(e) => {
                cluster.link.failed(&e);
                return None;
            }
        };
        let start = total.saturating_sub(size);
        self.slices.update(id, minute_period, |lease| {
            if start >= u64::from(rpm) {
                lease.spent = true;
            } else {
                lease.granted += total.min(u64::from(rpm)) - start;
            }
        });
        if self.slices.take_granted(id, minute_period) {
            Some(Ok(()))
        } else {
            full()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_a_twentieth_of_the_rate() {
        assert_eq!(lease_size(100), 5);
        assert_eq!(lease_size(5), 1);
        assert_eq!(lease_size(1_000_000), 100);
    }
}
