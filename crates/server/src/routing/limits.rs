//! Per client key limits: requests per minute and tokens per day.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use switchyard_hub::{ApiError, ErrorKind};

use crate::config::ClientKey;
use crate::routing::{day_end, day_number, month_bounds, month_number};

#[derive(Default)]
struct KeyUse {
    /// Start times of the requests in the last minute.
    recent: VecDeque<Instant>,
    day: i64,
    day_tokens: u64,
    month: i64,
    month_tokens: u64,
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

    /// Admits one request from `key` or says when to come back.
    pub fn admit(
        &self,
        key: &ClientKey,
        now: SystemTime,
        offset_secs: i32,
    ) -> Result<(), ApiError> {
        if key.requests_per_minute.is_none()
            && key.tokens_per_day.is_none()
            && key.tokens_per_month.is_none()
        {
            return Ok(());
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let e = keys.entry(key.id.clone()).or_default();
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
        if let Some(max) = key.tokens_per_month
            && e.month_tokens >= max
        {
            let wait = month_bounds(now, offset_secs)
                .1
                .duration_since(now)
                .unwrap_or_default();
            return Err(limited(
                format!(
                    "client key `{}` used its budget of {max} tokens for this month",
                    key.id
                ),
                wait,
            ));
        }
        if let Some(max) = key.tokens_per_day
            && e.day_tokens >= max
        {
            let wait = day_end(now, offset_secs)
                .duration_since(now)
                .unwrap_or_default();
            return Err(limited(
                format!("client key `{}` used its {max} tokens for today", key.id),
                wait,
            ));
        }
        if let Some(rpm) = key.requests_per_minute {
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
                    format!(
                        "client key `{}` is limited to {rpm} requests per minute",
                        key.id
                    ),
                    wait,
                ));
            }
            e.recent.push_back(t);
        }
        Ok(())
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
    use switchyard_auth::Secret;

    #[test]
    fn a_monthly_budget_stops_the_key_until_the_month_ends() {
        let limits = ClientLimits::default();
        let k = ClientKey {
            id: "b".into(),
            key: Secret::new("x"),
            requests_per_minute: None,
            tokens_per_day: None,
            tokens_per_month: Some(1000),
            budget: Default::default(),
        };
        let now = switchyard_hub::clock::now();
        limits.seed(0, [], month_number(now, 0), [("b".to_owned(), 990)]);
        assert!(limits.admit(&k, now, 0).is_ok());
        limits.add_tokens("b", 20, now, 0);
        let err = limits.admit(&k, now, 0).unwrap_err();
        assert!(err.message.contains("this month"), "{}", err.message);
        assert!(err.retry_after.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_auth::Secret;

    fn key(rpm: Option<u32>, tpd: Option<u64>) -> ClientKey {
        ClientKey {
            id: "k".into(),
            key: Secret::new("x"),
            requests_per_minute: rpm,
            tokens_per_day: tpd,
            tokens_per_month: None,
            budget: Default::default(),
        }
    }

    #[test]
    fn requests_per_minute_are_enforced_with_a_retry_hint() {
        let limits = ClientLimits::default();
        let k = key(Some(2), None);
        let now = switchyard_hub::clock::now();
        assert!(limits.admit(&k, now, 0).is_ok());
        assert!(limits.admit(&k, now, 0).is_ok());
        let err = limits.admit(&k, now, 0).unwrap_err();
        assert_eq!(err.status, 429);
        assert!(err.retry_after.is_some_and(|s| (1..=60).contains(&s)));
    }

    #[test]
    fn tokens_per_day_are_enforced_until_the_day_ends() {
        let limits = ClientLimits::default();
        let k = key(None, Some(100));
        let now = switchyard_hub::clock::now();
        let today = day_number(now, 0);
        assert!(limits.admit(&k, now, 0).is_ok());
        limits.add_tokens("k", 150, now, 0);
        let err = limits.admit(&k, now, 0).unwrap_err();
        assert!(err.message.contains("100 tokens"));
        limits.seed(today - 1, [("k".to_owned(), 500)], 0, []);
        assert!(
            limits.admit(&k, now, 0).is_ok(),
            "yesterday's tokens do not count"
        );
    }
}
