//! The wall clock, read one way everywhere.
//!
//! Chunk and response timestamps (`created`, `created_at`) and clock-seeded ids all need
//! "time since the Unix epoch"; expiry stamps, rate windows and cooldowns need a
//! [`SystemTime`]. Both come from [`now`], the one place the wall clock is read. A clock set
//! before 1970 is not worth an error on the hot path: it reads as zero.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall clock as a [`SystemTime`]: credential expiry, rate-limit windows, cooldowns, day
/// boundaries. Every crate but `switchyard-auth` (which sits below the hub and keeps its own
/// one read) gets the clock here: clippy disallows `SystemTime::now` elsewhere.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the workspace's one wall-clock read; everything else calls it"
)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

fn since_epoch() -> Duration {
    now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Whole seconds since the Unix epoch: the `created` of hub chunks and responses.
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}

/// Milliseconds since the Unix epoch (saturating).
pub fn now_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Nanoseconds since the Unix epoch: a seed for ids that must differ between calls.
pub fn now_nanos() -> u128 {
    since_epoch().as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_agree() {
        let secs = now_secs();
        let millis = now_millis();
        let nanos = now_nanos();
        assert!(secs > 1_600_000_000, "clock reads {secs}");
        assert!(millis / 1000 >= secs);
        assert!(nanos / 1_000_000 >= u128::from(millis));
    }
}
