//! Per client key limits: requests per minute, tokens per day and per month. File keys and
//! stored keys (created through the API or the CLI) are limited alike, by their id.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::routing::{day_end, day_number, month_bounds, month_number};

/// What one client key may use. Every limit is optional; none set means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests started in any 60 seconds.
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt and completion) per day, the day beginning at `routing.day_offset`.
    pub tokens_per_day: Option<u64>,
    /// Tokens per calendar month, in the same offset.
    pub tokens_per_month: Option<u64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_minute.is_none()
            && self.tokens_per_day.is_none()
            && self.tokens_per_month.is_none()
    }
}

#[derive(Default)]
struct KeyUse {
    /// Start times of the requests in the last minute.
    recent: VecDeque<Instant>,
    day: i64,
    day_tokens: u64,
    month: i64,
    month_tokens: u64,
    /// The other instances' tokens for `others_day` and `others_month`, in cluster mode
    /// (see `crate::cluster::counters`); zero on a single instance.
    others_day: i64,
    others_day_tokens: u64,
    others_month: i64,
    others_month_tokens: u64,
}

impl KeyUse {
    fn day_total(&self, today: i64) -> u64 {
        let others = if self.others_day == today {
            self.others_day_tokens
        } else {
            0
        };
        self.day_tokens + others
    }

    fn month_total(&self, month: i64) -> u64 {
        let others = if self.others_month == month {
            self.others_month_tokens
        } else {
            0
        };
        self.month_tokens + others
    }
}

#[derive(Default)]
pub struct ClientLimits {
    keys: Mutex<HashMap<String, KeyUse>>,
}

impl ClientLimits {
    /// Seeds today's and this month's token counts (from the usage table) so a restart does
    /// not reset them.
    pub fn seed(
        &self,
        today: i64,
        day_tokens: impl IntoIterator<Item = (String, u64)>,
        month: i64,
        month_tokens: impl IntoIterator<Item = (String, u64)>,
    ) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for (id, n) in day_tokens {
            let e = keys.entry(id).or_default();
            e.day = today;
            e.day_tokens = n;
        }
        for (id, n) in month_tokens {
            let e = keys.entry(id).or_default();
            e.month = month;
            e.month_tokens = n;
        }
    }

    /// Admits one request from the key `id` under `limits`, or says when to come back.
    pub fn admit(
        &self,
        id: &str,
        limits: &Limits,
        now: SystemTime,
        offset_secs: i32,
    ) -> Result<(), ApiError> {
        if limits.is_unlimited() {
            return Ok(());
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let e = keys.entry(id.to_owned()).or_default();
        let today = day_number(now, offset_secs);
        if e.day != today {
            e.day = today;
            e.day_tokens = 0;
        }
        let month = month_number(now, offset_secs);
        if e.month != month {
            e.month = month;
            e.month_tokens = 0;
        }
        if let Some(max) = limits.tokens_per_month
            && e.month_total(month) >= max
        {
            let wait = month_bounds(now, offset_secs)
                .1
                .duration_since(now)
                .unwrap_or_default();
            return Err(limited(
                format!("client key `{id}` used its budget of {max} tokens for this month"),
                wait,
            ));
        }
        if let Some(max) = limits.tokens_per_day
            && e.day_total(today) >= max
        {
            let wait = day_end(now, offset_secs)
                .duration_since(now)
                .unwrap_or_default();
            return Err(limited(
                format!("client key `{id}` used its {max} tokens for today"),
                wait,
            ));
        }
        if let Some(rpm) = limits.requests_per_minute {
            let t = Instant::now();
            while e
                .recent
                .front()
                .is_some_and(|s| t.duration_since(*s) >= Duration::from_secs(60))
            {
                e.recent.pop_front();
            }
            if e.recent.len() >= rpm as usize {
                let wait = e.recent.front().map_or(Duration::from_secs(60), |s| {
                    Duration::from_secs(60).saturating_sub(t.duration_since(*s))
                });
                return Err(limited(
                    format!("client key `{id}` is limited to {rpm} requests per minute"),
                    wait,
                ));
            }
            e.recent.push_back(t);
        }
        Ok(())
    }

    /// Tokens `id` used today and this month, as the limits count them (in cluster mode,
    /// across the cluster).
    pub fn used(&self, id: &str, now: SystemTime, offset_secs: i32) -> (u64, u64) {
        let (today, month) = (day_number(now, offset_secs), month_number(now, offset_secs));
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(id).map_or((0, 0), |e| {
            let own_day = if e.day == today { e.day_tokens } else { 0 };
            let own_month = if e.month == month { e.month_tokens } else { 0 };
            let others_day = if e.others_day == today {
                e.others_day_tokens
            } else {
                0
            };
            let others_month = if e.others_month == month {
                e.others_month_tokens
            } else {
                0
            };
            (own_day + others_day, own_month + others_month)
        })
    }

    /// This instance's own tokens of every key today and this month: (id, day, month).
    pub fn own(&self, today: i64, month: i64) -> Vec<(String, u64, u64)> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .map(|(id, e)| {
                let day = if e.day == today { e.day_tokens } else { 0 };
                let m = if e.month == month { e.month_tokens } else { 0 };
                (id.clone(), day, m)
            })
            .filter(|(_, d, m)| *d > 0 || *m > 0)
            .collect()
    }

    /// Sets what the other instances of the cluster used with key `id` on day `today` and
    /// in month `month`.
    pub fn set_others(&self, id: &str, today: i64, day: u64, month: i64, in_month: u64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let e = match keys.get_mut(id) {
            Some(e) => e,
            None => keys.entry(id.to_owned()).or_default(),
        };
        e.others_day = today;
        e.others_day_tokens = day;
        e.others_month = month;
        e.others_month_tokens = in_month;
    }

    pub fn add_tokens(&self, key: &str, tokens: u64, now: SystemTime, offset_secs: i32) {
        let (today, month) = (day_number(now, offset_secs), month_number(now, offset_secs));
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let e = keys.entry(key.to_owned()).or_default();
        if e.day != today {
            e.day = today;
            e.day_tokens = 0;
        }
        if e.month != month {
            e.month = month;
            e.month_tokens = 0;
        }
        e.day_tokens += tokens;
        e.month_tokens += tokens;
    }
}

/// A 429 that tells the client when to retry.
pub fn limited(message: String, wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(429, ErrorKind::RateLimited, message)
        .with_code("rate_limited")
        .with_retry_after(secs.max(1))
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn a_monthly_budget_stops_the_key_until_the_month_ends() {
        let limits = ClientLimits::default();
        let k = Limits {
            tokens_per_month: Some(1000),
            ..Limits::default()
        };
        let now = switchyard_hub::clock::now();
        limits.seed(0, [], month_number(now, 0), [("b".to_owned(), 990)]);
        assert!(limits.admit("b", &k, now, 0).is_ok());
        limits.add_tokens("b", 20, now, 0);
        assert_eq!(limits.used("b", now, 0), (20, 1010));
        let err = limits.admit("b", &k, now, 0).unwrap_err();
        assert!(err.message.contains("this month"), "{}", err.message);
        assert!(err.retry_after.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rpm: Option<u32>, tpd: Option<u64>) -> Limits {
        Limits {
            requests_per_minute: rpm,
            tokens_per_day: tpd,
            tokens_per_month: None,
        }
    }

    #[test]
    fn requests_per_minute_are_enforced_with_a_retry_hint() {
        let limits = ClientLimits::default();
        let k = key(Some(2), None);
        let now = switchyard_hub::clock::now();
        assert!(limits.admit("k", &k, now, 0).is_ok());
        assert!(limits.admit("k", &k, now, 0).is_ok());
        let err = limits.admit("k", &k, now, 0).unwrap_err();
        assert_eq!(err.status, 429);
        assert!(err.retry_after.is_some_and(|s| (1..=60).contains(&s)));
    }

    #[test]
    fn tokens_per_day_are_enforced_until_the_day_ends() {
        let limits = ClientLimits::default();
        let k = key(None, Some(100));
        let now = switchyard_hub::clock::now();
        let today = day_number(now, 0);
        assert!(limits.admit("k", &k, now, 0).is_ok());
        limits.add_tokens("k", 150, now, 0);
        let err = limits.admit("k", &k, now, 0).unwrap_err();
        assert!(err.message.contains("100 tokens"));
        limits.seed(today - 1, [("k".to_owned(), 500)], 0, []);
        assert!(
            limits.admit("k", &k, now, 0).is_ok(),
            "yesterday's tokens do not count"
        );
    }
}
