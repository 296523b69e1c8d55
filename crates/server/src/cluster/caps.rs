//! An account's daily request and token caps and its concurrency cap, held across the
//! cluster. All are leased so the request path rarely waits on Redis, and only accounts that carry such
//! a cap pay anything at all:
//!
//! - Day: an instance takes a slice of the account's daily allowance at a time (a Lua
//!   script sums every instance's grants in a per-day hash and adds this one's, cut at the
//!   cap) and serves from it in memory. The cluster never sends more than the cap; each
//!   instance may end the day with part of one slice unused. Each instance's field holds its
//!   running total, not increments, and every lease raises it to at least what this
//!   instance has granted and served today: after Redis restarts empty, the totals come
//!   back with the first lease each instance takes.
//! - Day's tokens: the same per-day hash and script, in tokens. A request's tokens are known
//!   only once its answer is in, so an instance admits a request while its own count today
//!   (the account's `day_tokens`) is below what Redis counts for it, and takes another
//!   slice when it is not; its next lease first raises its field to what it really served.
//!   The cluster hands out no more than the cap, but each instance can go over its last
//!   slice by what the requests it had in flight when it ran out use: at most the cap plus,
//!   per instance, one batch of in-flight answers (one answer each for a client that waits
//!   for its answers), the same slack a single instance has against its own cap.
//! - Concurrency: an instance holds some of the account's slots (its field in a hash whose
//!   fields sum to at most the cap) and takes a free held slot in memory; only when all it
//!   holds are in use does it ask Redis for one more. Every [`super::counters::EVERY`] it
//!   gives back what is not in use, so a busy instance does not keep slots another needs,
//!   and writes a heartbeat beside its count: an instance that died stops counting once its
//!   heartbeat is older than [`STALE_MS`].
//!
//! While Redis is away both fall back to the instance's own count (the local caps still
//! hold per instance), as the other limiters do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::leases::{Slices, Take};
use super::{Cluster, ClusterError, PREFIX};
use crate::routing::{day_end, day_number, epoch_ms};
use crate::state::app::Account;

/// A concurrency field whose heartbeat is older than this belongs to an instance that is
/// gone (a live one beats every 200 ms).
const STALE_MS: i64 = 3_000;

/// How long a day's grants stay in Redis after their last lease.
const DAY_TTL_SECS: u64 = 2 * 86_400;

/// Takes a slice of a day's allowance: raises this instance's field to its floor (what it
/// knows it has used), then grants up to the slice, cut at the cap.
const DAY_LEASE: &str = r"
local own = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local floor = tonumber(ARGV[2])
if own < floor then redis.call('HSET', KEYS[1], ARGV[1], floor) end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
local grant = math.min(tonumber(ARGV[3]), tonumber(ARGV[4]) - total)
if grant > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], grant) else grant = 0 end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return grant
";

/// Takes one more concurrency slot for this instance if the live instances' fields leave
/// room under the cap; forgets the fields of instances whose heartbeat stopped.
const SLOT_GROW: &str = r"
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], now)
local beats = redis.call('HGETALL', KEYS[2])
for i = 1, #beats, 2 do
  if now - tonumber(beats[i + 1]) > tonumber(ARGV[4]) then
    redis.call('HDEL', KEYS[1], beats[i])
    redis.call('HDEL', KEYS[2], beats[i])
  end
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], 60000)
redis.call('PEXPIRE', KEYS[2], 60000)
return 1
";

/// The slice of an account's daily allowance one lease takes: a twentieth, so a busy
/// instance asks Redis about once every twenty requests, and what a day can leave unused
/// per instance stays small.
fn day_slice(cap: u64) -> u64 {
    (cap / 20).clamp(1, 100)
}

/// The slice of an account's daily tokens one lease takes: a twentieth, as for requests.
fn token_slice(cap: u64) -> u64 {
    (cap / 20).max(1)
}

pub(super) fn account_key(account: &Account) -> String {
    format!("{}/{}", account.provider, account.name)
}

/// This instance's part of one account's concurrency slots.
#[derive(Default)]
struct SlotState {
    /// Slots Redis counts for this instance.
    held: u32,
    in_use: u32,
    /// Slots being asked of Redis right now (counted as held when the others are told, so
    /// Redis never counts fewer than this instance may use).
    growing: u32,
    /// What was last written to Redis, so an idle account costs nothing.
    written: u32,
}

/// One of an account's cluster-wide concurrency slots, in use until dropped.
pub struct Slot(Arc<Mutex<SlotState>>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.in_use = s.in_use.saturating_sub(1);
    }
}

/// Why an account cannot take a request now across the cluster.
pub enum Refused {
    /// All of its concurrency slots are in use somewhere.
    Busy,
    /// The cluster has sent it its daily cap; free again at this time.
    DayLimit(SystemTime),
}

#[derive(Default)]
pub struct Caps {
    /// Each account's lease of its day (the period is the day's number).
    days: Slices,
    /// Each account's lease of its day's tokens: `granted` is what Redis counts for this
    /// instance (its grants, raised to what it served); what it served is the account's
    /// own `day_tokens`.
    tokens: Slices,
    slots: Mutex<HashMap<String, Arc<Mutex<SlotState>>>>,
}

impl Caps {
    fn slot_state(&self, key: &str) -> Arc<Mutex<SlotState>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match slots.get(key) {
            Some(s) => s.clone(),
            None => slots.entry(key.to_owned()).or_default().clone(),
        }
    }

    /// Whether the cluster has sent `account` its daily cap today (read by routing, which
    /// then offers the account no more today).
    pub fn day_spent(&self, account: &Account, today: i64) -> bool {
        self.days.peek(&account_key(account), |l| {
            l.is_some_and(|l| l.period == today && l.spent && l.used >= l.granted)
        })
    }

    /// Whether the cluster has handed out `account`'s daily tokens and this instance has
    /// served its part (`used`, the account's own count today).
    pub fn tokens_spent(&self, account: &Account, today: i64, used: u64) -> bool {
        self.tokens.peek(&account_key(account), |l| {
            l.is_some_and(|l| l.period == today && l.spent && used >= l.granted)
        })
    }
}

impl Cluster {
    /// Whether routing should offer `account` no more today: its daily cap is spent across
    /// the cluster.
    pub fn day_spent(&self, account: &Account, today: i64) -> bool {
        self.caps.day_spent(account, today)
    }

    /// Whether routing should offer `account` no more today: its daily tokens are spent
    /// across the cluster (`used` is its own count today, read under the caller's lock).
    pub fn tokens_spent(&self, account: &Account, today: i64, used: u64) -> bool {
        self.caps.tokens_spent(account, today, used)
    }

    /// Admits one request to `account` under its cluster-wide caps (only those it has): a
    /// concurrency slot held until the returned [`Slot`] drops, room in the day's tokens,
    /// and one of the day's requests.
    pub async fn admit_account(
        &self,
        account: &Account,
        now: SystemTime,
        day_offset_secs: i32,
    ) -> Result<Option<Slot>, Refused> {
        let slot = match account.max_concurrency {
            Some(cap) => Some(self.take_slot(account, cap).await.ok_or(Refused::Busy)?),
            None => None,
        };
        if account.daily_tokens.is_none() && account.daily_requests.is_none() {
            return Ok(slot);
        }
        let today = day_number(now, day_offset_secs);
        if let Some(cap) = account.daily_tokens
            && !self.take_tokens(account, cap, today).await
        {
            return Err(Refused::DayLimit(day_end(now, day_offset_secs)));
        }
        if let Some(cap) = account.daily_requests
            && !self.take_day(account, cap, today).await
        {
            return Err(Refused::DayLimit(day_end(now, day_offset_secs)));
        }
        Ok(slot)
    }

    /// One of the day's requests for `account`, from this instance's slice; false when the
    /// cluster has sent the cap. Redis away: the local count (routing's own check) decides.
    async fn take_day(&self, account: &Account, cap: u64, today: i64) -> bool {
        let key = account_key(account);
        let days = &self.caps.days;
        if !self.link.is_up() {
            days.with(&key, today, |lease| lease.local += 1);
            return true;
        }
        let _turn = match days.take(&key, today).await {
            Take::Served => return true,
            Take::Spent => return false,
            Take::NeedLease(turn) => turn,
        };
        let counted = days.with(&key, today, |l| l.granted + l.local);
        // What this instance has taken today: leased, served while Redis was away, or (after
        // a restart) what its database says it served.
        let floor = counted.max(account.lock_health().day_requests);
        let Some(grant) = self
            .lease_day("account-day", &key, today, floor, day_slice(cap), cap)
            .await
        else {
            return true;
        };
        days.update(&key, today, |lease| {
            // Raised to the floor in Redis: what it added was served without a lease.
            lease.local += floor.saturating_sub(lease.granted + lease.local);
            if grant == 0 {
                lease.spent = true;
            } else {
                lease.granted += grant;
            }
        });
        days.take_granted(&key, today)
    }

    /// Whether this instance's share of `account`'s daily tokens has room for one more
    /// request (checked before the day's requests, since it consumes nothing). Redis away:
    /// the local count (routing's own check) decides, and the next lease raises this
    /// instance's field to what it served meanwhile.
    async fn take_tokens(&self, account: &Account, cap: u64, today: i64) -> bool {
        if !self.link.is_up() {
            return true;
        }
        let key = account_key(account);
        let leases = &self.caps.tokens;
        let used = || {
            let mut h = account.lock_health();
            h.roll_day(today);
            h.day_tokens
        };
        let room = |used: u64| {
            leases.with(&key, today, |l| {
                if used < l.granted {
                    Some(true)
                } else if l.spent {
                    Some(false)
                } else {
                    None
                }
            })
        };
        if let Some(answer) = room(used()) {
            return answer;
        }
        let _turn = leases.turn(&key).await;
        // Another request may have taken a slice while this one waited for its turn.
        let used = used();
        if let Some(answer) = room(used) {
            return answer;
        }
        let floor = leases.with(&key, today, |l| l.granted).max(used);
        let Some(grant) = self
            .lease_day(
                "account-day-tokens",
                &key,
                today,
                floor,
                token_slice(cap),
                cap,
            )
            .await
        else {
            return true;
        };
        // A lease that comes back after midnight counts for nothing; the local cap decides.
        let mut admitted = true;
        leases.update(&key, today, |l| {
            l.granted = l.granted.max(floor) + grant;
            if grant == 0 {
                l.spent = true;
            }
            admitted = used < l.granted;
        });
        admitted
    }

    /// A slice of the day's `cap` from the per-day hash `counter:today:key`, this
    /// instance's field first raised to `floor` (what it really served); `None` when Redis
    /// failed (logged; the local count decides until it is back).
    async fn lease_day(
        &self,
        counter: &str,
        key: &str,
        today: i64,
        floor: u64,
        slice: u64,
        cap: u64,
    ) -> Option<u64> {
        let mut script = redis::cmd("EVAL");
        script
            .arg(DAY_LEASE)
            .arg(1)
            .arg(format!("{PREFIX}{counter}:{today}:{key}"))
            .arg(&self.counter_id)
            .arg(floor)
            .arg(slice)
            .arg(cap)
            .arg(DAY_TTL_SECS);
        match self.link.run(script).await {
            Ok(g) => Some(g),
            Err(e) => {
                self.link.failed(&e);
                None
            }
        }
    }

    /// A concurrency slot for `account` (capped at `cap` across the cluster), or `None` when
    /// every slot is in use somewhere.
    async fn take_slot(&self, account: &Account, cap: u32) -> Option<Slot> {
        let key = account_key(account);
        let state = self.caps.slot_state(&key);
        {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if s.in_use < s.held {
                s.in_use += 1;
                return Some(Slot(state.clone()));
            }
            if !self.link.is_up() {
                // Redis away: the account's own local cap (already taken) decides.
                s.in_use += 1;
                s.held = s.held.max(s.in_use);
                return Some(Slot(state.clone()));
            }
            s.growing += 1;
        }
        let mut script = redis::cmd("EVAL");
        script
            .arg(SLOT_GROW)
            .arg(2)
            .arg(format!("{PREFIX}account-slots:{key}"))
            .arg(format!("{PREFIX}account-beats:{key}"))
            .arg(&self.counter_id)
            .arg(cap)
            .arg(epoch_ms(switchyard_hub::clock::now()))
            .arg(STALE_MS);
        let answer = self.link.run::<i64>(script).await;
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.growing = s.growing.saturating_sub(1);
        match answer {
            Ok(1) => {
                s.held += 1;
                s.in_use += 1;
                Some(Slot(state.clone()))
            }
            Ok(_) => None,
            Err(e) => {
                self.link.failed(&e);
                s.in_use += 1;
                s.held = s.held.max(s.in_use);
                Some(Slot(state.clone()))
            }
        }
    }

    /// Gives back the slots not in use and beats for those that are (called with the
    /// counters, every [`super::counters::EVERY`]).
    pub(super) async fn sync_slots(&self) -> Result<(), ClusterError> {
        let now = epoch_ms(switchyard_hub::clock::now());
        let mut pipe = redis::pipe();
        let mut any = false;
        let states: Vec<(String, Arc<Mutex<SlotState>>)> = {
            let slots = self.caps.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.iter().map(|(k, s)| (k.clone(), s.clone())).collect()
        };
        for (key, state) in states {
            let count = {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.held = s.in_use;
                let count = s.in_use + s.growing;
                if count == 0 && s.written == 0 {
                    continue;
                }
                s.written = count;
                count
            };
            let slots_key = format!("{PREFIX}account-slots:{key}");
            let beats_key = format!("{PREFIX}account-beats:{key}");
            if count == 0 {
                pipe.cmd("HDEL")
                    .arg(&slots_key)
                    .arg(&self.counter_id)
                    .ignore();
                pipe.cmd("HDEL")
                    .arg(&beats_key)
                    .arg(&self.counter_id)
                    .ignore();
            } else {
                pipe.cmd("HSET")
                    .arg(&slots_key)
                    .arg(&self.counter_id)
                    .arg(count)
                    .ignore();
                pipe.cmd("HSET")
                    .arg(&beats_key)
                    .arg(&self.counter_id)
                    .arg(now)
                    .ignore();
                pipe.cmd("PEXPIRE").arg(&slots_key).arg(60_000).ignore();
                pipe.cmd("PEXPIRE").arg(&beats_key).arg(60_000).ignore();
            }
            any = true;
        }
        if !any {
            return Ok(());
        }
        self.link.run_pipe::<()>(pipe).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_slices_are_a_twentieth_of_the_cap() {
        assert_eq!(day_slice(100), 5);
        assert_eq!(day_slice(3), 1);
        assert_eq!(day_slice(1_000_000), 100);
    }

    #[test]
    fn token_slices_are_a_twentieth_of_the_cap_and_never_empty() {
        assert_eq!(token_slice(360), 18);
        assert_eq!(token_slice(10), 1);
        assert_eq!(token_slice(2_000_000), 100_000);
    }

    #[tokio::test]
    async fn a_lease_serves_what_it_granted_then_asks_again_or_is_spent() {
        let days = Slices::default();
        let granted = |n| days.update("p/a", 7, |l| l.granted += n);
        assert!(matches!(days.take("p/a", 7).await, Take::NeedLease(_)));
        granted(2);
        assert!(matches!(days.take("p/a", 7).await, Take::Served));
        assert!(matches!(days.take("p/a", 7).await, Take::Served));
        assert!(matches!(days.take("p/a", 7).await, Take::NeedLease(_)));
        days.update("p/a", 7, |l| l.spent = true);
        assert!(matches!(days.take("p/a", 7).await, Take::Spent));
        assert!(
            matches!(days.take("p/a", 8).await, Take::NeedLease(_)),
            "a new day starts afresh"
        );
    }
}
