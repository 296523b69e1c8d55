//! Where a request goes: model strings to targets, accounts in the order a strategy picks
//! them, what each failure costs an account, and the limits that stop a request early.

pub mod budgets;
pub mod health;
pub mod latency;
pub mod limits;
pub mod rotation;
pub mod select;
pub mod targets;

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

/// The calendar month (year × 12 + month) for monthly budgets, in the same offset.
pub fn month_number(now: SystemTime, offset_secs: i32) -> i64 {
    let (y, m) = year_month(now, offset_secs);
    i64::from(y) * 12 + i64::from(m)
}

/// When the current month (for monthly budgets) began, and when it ends.
pub fn month_bounds(now: SystemTime, offset_secs: i32) -> (SystemTime, SystemTime) {
    let (y, m) = year_month(now, offset_secs);
    let start = |y: i32, m: u32| {
        chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(0, |t| t.and_utc().timestamp() - i64::from(offset_secs))
    };
    let (ny, nm) = if m == 11 { (y + 1, 0) } else { (y, m + 1) };
    let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    (at(start(y, m)), at(start(ny, nm)))
}

fn year_month(now: SystemTime, offset_secs: i32) -> (i32, u32) {
    use chrono::Datelike;
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
        + i64::from(offset_secs);
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    (t.year(), t.month0())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_have_bounds_in_the_offset() {
        // 2026-11-22T23:30:00Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_391_400);
        let (start, end) = month_bounds(t, 0);
        assert_eq!(start, UNIX_EPOCH + Duration::from_secs(1_793_491_200)); // 2026-11-01
        assert_eq!(end, UNIX_EPOCH + Duration::from_secs(1_796_083_200)); // 2026-12-01
        assert_eq!(month_number(t, 0) + 1, month_number(end, 0));
    }

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
