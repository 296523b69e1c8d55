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

#[derive(Default)]
struct Lease {
    minute: u64,
    granted: u64,
    used: u64,
    /// The cluster's allowance for this minute is all handed out.
    spent: bool,
}

enum Take {
    Served,
    Spent,
    NeedLease,
}

#[derive(Default)]
pub struct Leases {
    keys: Mutex<HashMap<String, Lease>>,
    /// One lease request at a time per key, so a burst does not take many slices at once.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Leases {
    fn take(&self, id: &str, minute: u64) -> Take {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let lease = match keys.get_mut(id) {
            Some(l) => l,
            None => keys.entry(id.to_owned()).or_default(),
        };
        if lease.minute != minute {
            *lease = Lease {
                minute,
                ..Lease::default()
            };
        }
        if lease.used < lease.granted {
            lease.used += 1;
            Take::Served
        } else if lease.spent {
            Take::Spent
        } else {
            Take::NeedLease
        }
    }

    fn gate(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(id.to_owned()).or_default().clone()
    }

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
        match self.take(id, minute) {
            Take::Served => return Some(Ok(())),
            Take::Spent => return full(),
            Take::NeedLease => {}
        }
        let gate = self.gate(id);
        let _turn = gate.lock().await;
        // Another request may have taken a slice while this one waited for its turn.
        match self.take(id, minute) {
            Take::Served => return Some(Ok(())),
            Take::Spent => return full(),
            Take::NeedLease => {}
        }
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
        {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            let lease = keys.entry(id.to_owned()).or_default();
            if lease.minute == minute {
                if start >= u64::from(rpm) {
                    lease.spent = true;
                } else {
                    lease.granted += total.min(u64::from(rpm)) - start;
                }
            }
        }
        match self.take(id, minute) {
            Take::Served => Some(Ok(())),
            Take::Spent | Take::NeedLease => full(),
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
