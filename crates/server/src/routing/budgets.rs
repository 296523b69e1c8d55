//! Budgets in dollars, per client key, per account and per provider, each daily and
//! monthly (the day and month of the routing offset). Spending is the usage rows' cost
//! (subscriptions at their API-equivalent price, so a budget also caps a subscription's
//! use); a request that finds its budget spent gets a 429 naming the budget and the exact
//! time it resets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use switchyard_hub::{ApiError, ErrorKind};

use crate::routing::{day_end, day_number, month_bounds, month_number};

/// A daily and a monthly cap in USD; either may be absent.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Dollars a day, the day beginning at `routing.daily_reset_offset`.
    pub usd_per_day: Option<f64>,
    /// Dollars a calendar month, in the same offset.
    pub usd_per_month: Option<f64>,
}

impl Budget {
    pub fn is_set(&self) -> bool {
        self.usd_per_day.is_some() || self.usd_per_month.is_some()
    }
}

/// What a budget belongs to.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Scope {
    /// A client key, by id.
    Key,
    /// An account, as `provider/account`.
    Account,
    /// A provider, by name.
    Provider,
}

impl Scope {
    fn label(self, name: &str) -> String {
        match self {
            Scope::Key => format!("client key `{name}`"),
            Scope::Account => format!("account `{name}`"),
            Scope::Provider => format!("provider `{name}`"),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Spend {
    day: i64,
    day_usd: f64,
    month: i64,
    month_usd: f64,
    /// What the other instances spent this `day` and `month`, in cluster mode (see
    /// `crate::cluster::counters`); zero on a single instance.
    others_day_usd: f64,
    others_month_usd: f64,
}

impl Spend {
    fn roll(&mut self, today: i64, month: i64) {
        if self.day != today {
            self.day = today;
            self.day_usd = 0.0;
            self.others_day_usd = 0.0;
        }
        if self.month != month {
            self.month = month;
            self.month_usd = 0.0;
            self.others_month_usd = 0.0;
        }
    }
}

#[derive(Default)]
pub struct Budgets {
    spent: Mutex<HashMap<(Scope, String), Spend>>,
}

impl Budgets {
    /// Seeds today's and this month's spending (from the usage table) so a restart does
    /// not reset it.
    pub fn seed(
        &self,
        scope: Scope,
        name: &str,
        today: i64,
        day_usd: f64,
        month: i64,
        month_usd: f64,
    ) {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent.insert(
            (scope, name.to_owned()),
            Spend {
                day: today,
                day_usd,
                month,
                month_usd,
                ..Spend::default()
            },
        );
    }

    /// Adds a request's cost to `name`'s spending.
    pub fn add(&self, scope: Scope, name: &str, usd: f64, now: SystemTime, offset_secs: i32) {
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        let (today, month) = (day_number(now, offset_secs), month_number(now, offset_secs));
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let s = spent.entry((scope, name.to_owned())).or_default();
        s.roll(today, month);
        s.day_usd += usd;
        s.month_usd += usd;
    }

    /// What `name` has spent today and this month, in USD (in cluster mode, across the
    /// cluster).
    pub fn spent(&self, scope: Scope, name: &str, now: SystemTime, offset_secs: i32) -> (f64, f64) {
        let (today, month) = (day_number(now, offset_secs), month_number(now, offset_secs));
        let spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent
            .get(&(scope, name.to_owned()))
            .map_or((0.0, 0.0), |s| {
                (
                    if s.day == today {
                        s.day_usd + s.others_day_usd
                    } else {
                        0.0
                    },
                    if s.month == month {
                        s.month_usd + s.others_month_usd
                    } else {
                        0.0
                    },
                )
            })
    }

    /// This instance's own spending today and this month: (scope, name, day, month).
    pub fn own(&self, today: i64, month: i64) -> Vec<(Scope, String, f64, f64)> {
        let spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent
            .iter()
            .map(|((scope, name), s)| {
                let day = if s.day == today { s.day_usd } else { 0.0 };
                let m = if s.month == month { s.month_usd } else { 0.0 };
                (*scope, name.clone(), day, m)
            })
            .filter(|(_, _, d, m)| *d > 0.0 || *m > 0.0)
            .collect()
    }

    /// Sets what the other instances of the cluster spent under `name` today and this
    /// month.
    pub fn set_others(
        &self,
        scope: Scope,
        name: &str,
        today: i64,
        day: f64,
        month: i64,
        in_month: f64,
    ) {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let s = spent.entry((scope, name.to_owned())).or_default();
        s.roll(today, month);
        s.others_day_usd = day;
        s.others_month_usd = in_month;
    }

    /// Admits a request under `name`'s `budget`, or says which budget is spent and when it
    /// resets. The monthly budget is named first: it is the later reset.
    pub fn check(
        &self,
        scope: Scope,
        name: &str,
        budget: &Budget,
        now: SystemTime,
        offset_secs: i32,
    ) -> Result<(), ApiError> {
        if !budget.is_set() {
            return Ok(());
        }
        let (today, month) = (day_number(now, offset_secs), month_number(now, offset_secs));
        let spend = {
            let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
            let Some(s) = spent.get_mut(&(scope, name.to_owned())) else {
                return Ok(());
            };
            s.roll(today, month);
            Spend {
                day_usd: s.day_usd + s.others_day_usd,
                month_usd: s.month_usd + s.others_month_usd,
                ..*s
            }
        };
        if let Some(max) = budget.usd_per_month
            && spend.month_usd >= max
        {
            let resets = month_bounds(now, offset_secs).1;
            return Err(spent(
                scope.label(name),
                max,
                spend.month_usd,
                "this month",
                resets,
                now,
            ));
        }
        if let Some(max) = budget.usd_per_day
            && spend.day_usd >= max
        {
            let resets = day_end(now, offset_secs);
            return Err(spent(
                scope.label(name),
                max,
                spend.day_usd,
                "today",
                resets,
                now,
            ));
        }
        Ok(())
    }
}

/// The 429 for a spent budget: what it is, what was spent, and when it resets (RFC 3339 in
/// the message, seconds in `Retry-After`).
fn spent(
    who: String,
    max: f64,
    used: f64,
    period: &str,
    resets: SystemTime,
    now: SystemTime,
) -> ApiError {
    let at = chrono::DateTime::<chrono::Utc>::from(resets)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let wait = resets.duration_since(now).unwrap_or_default();
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        429,
        ErrorKind::RateLimited,
        format!(
            "{who} has spent its budget of ${max} for {period} (${used:.4} used); it resets at {at}"
        ),
    )
    .with_code("budget_exceeded")
    .with_retry_after(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2026-12-07T15:30:00Z
    fn afternoon() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_657_400)
    }

    #[test]
    fn a_daily_key_budget_stops_the_key_until_midnight() {
        let b = Budgets::default();
        let budget = Budget {
            usd_per_day: Some(1.0),
            usd_per_month: None,
        };
        let now = afternoon();
        b.add(Scope::Key, "laptop", 0.6, now, 0);
        assert!(b.check(Scope::Key, "laptop", &budget, now, 0).is_ok());
        b.add(Scope::Key, "laptop", 0.5, now, 0);
        let err = b.check(Scope::Key, "laptop", &budget, now, 0).unwrap_err();
        assert_eq!(err.status, 429);
        assert_eq!(
            err.message,
            "client key `laptop` has spent its budget of $1 for today ($1.1000 used); it resets at 2026-12-08T00:00:00Z"
        );
        assert_eq!(err.retry_after, Some(8 * 3600 + 30 * 60));
        // The next day the key is served again.
        let tomorrow = now + Duration::from_secs(9 * 3600);
        assert!(b.check(Scope::Key, "laptop", &budget, tomorrow, 0).is_ok());
    }

    #[test]
    fn a_daily_budget_resets_at_midnight_in_the_routing_offset() {
        let b = Budgets::default();
        let budget = Budget {
            usd_per_day: Some(0.1),
            usd_per_month: None,
        };
        // UTC+02:00: 15:30Z is 17:30 local; the local day ends at 22:00Z.
        b.add(Scope::Provider, "anthropic", 0.2, afternoon(), 7200);
        let err = b
            .check(Scope::Provider, "anthropic", &budget, afternoon(), 7200)
            .unwrap_err();
        assert!(
            err.message
                .starts_with("provider `anthropic` has spent its budget of $0.1 for today"),
            "{}",
            err.message
        );
        assert!(
            err.message.ends_with("it resets at 2026-12-07T22:00:00Z"),
            "{}",
            err.message
        );
        assert_eq!(err.retry_after, Some(6 * 3600 + 30 * 60));
    }

    #[test]
    fn a_monthly_account_budget_stops_it_until_the_month_ends() {
        let b = Budgets::default();
        let budget = Budget {
            usd_per_day: Some(100.0),
            usd_per_month: Some(20.0),
        };
        let now = afternoon();
        b.seed(
            Scope::Account,
            "openai/main",
            day_number(now, 0) - 3,
            0.0,
            month_number(now, 0),
            19.5,
        );
        assert!(
            b.check(Scope::Account, "openai/main", &budget, now, 0)
                .is_ok()
        );
        b.add(Scope::Account, "openai/main", 0.75, now, 0);
        let err = b
            .check(Scope::Account, "openai/main", &budget, now, 0)
            .unwrap_err();
        assert!(
            err.message
                .contains("account `openai/main` has spent its budget of $20 for this month"),
            "{}",
            err.message
        );
        assert!(
            err.message.ends_with("it resets at 2027-01-01T00:00:00Z"),
            "{}",
            err.message
        );
        // 24 days and 8.5 hours to 2027-01-01T00:00:00Z.
        assert_eq!(err.retry_after, Some(24 * 86_400 + 8 * 3600 + 30 * 60));
        // Other scopes and names are untouched.
        assert!(b.check(Scope::Provider, "openai", &budget, now, 0).is_ok());
        assert!(
            b.check(Scope::Account, "openai/other", &budget, now, 0)
                .is_ok()
        );
    }

    #[test]
    fn unpriced_and_odd_costs_are_not_counted() {
        let b = Budgets::default();
        let budget = Budget {
            usd_per_day: Some(0.0001),
            usd_per_month: None,
        };
        for usd in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            b.add(Scope::Key, "k", usd, afternoon(), 0);
        }
        assert!(b.check(Scope::Key, "k", &budget, afternoon(), 0).is_ok());
    }
}
