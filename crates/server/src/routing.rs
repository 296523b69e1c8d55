//! Where a request goes: model strings to targets, accounts in the order a strategy picks
//! them, what each failure costs an account, and the limits that stop a request early.

pub mod health;
pub mod limits;
pub mod select;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, for the database and the admin API.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn from_epoch_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// The day number for daily limits, which begin at midnight `offset_secs` east of UTC.
pub fn day_number(now: SystemTime, offset_secs: i32) -> i64 {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (secs + i64::from(offset_secs)).div_euclid(86_400)
}

/// When the current day (for daily limits) ends.
pub fn day_end(now: SystemTime, offset_secs: i32) -> SystemTime {
    let next = (day_number(now, offset_secs) + 1) * 86_400 - i64::from(offset_secs);
    UNIX_EPOCH + Duration::from_secs(next.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_begin_at_the_configured_offset() {
        // 2026-11-22T23:30:00Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_391_400);
        let utc = day_number(t, 0);
        assert_eq!(
            day_number(t, 3600),
            utc + 1,
            "at +01:00 it is already the next day"
        );
        assert_eq!(
            day_end(t, 0),
            UNIX_EPOCH + Duration::from_secs((utc as u64 + 1) * 86_400)
        );
        // At +01:00 it is 00:30 on the next day, which ends at 23:00Z.
        assert_eq!(
            day_end(t, 3600),
            day_end(t, 0) + Duration::from_secs(23 * 3600)
        );
    }
}
