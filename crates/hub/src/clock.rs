//! The wall clock, read one way everywhere.
//!
//! Chunk and response timestamps (`created`, `created_at`) and clock-seeded ids all need
//! "time since the Unix epoch". A clock set before 1970 is not worth an error on the hot
//! path: it reads as zero.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
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
