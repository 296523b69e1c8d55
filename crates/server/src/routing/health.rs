//! What an account's recent history says about it: cooldowns (per account, or per account
//! and model), backoff, consecutive failures and the automatic set-aside they lead to, and
//! daily counters.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use switchyard_provider::Failure;
use switchyard_provider::failure::FailureClass;

use crate::config::Routing;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// No request goes to the account before this.
    pub cooldown_until: Option<SystemTime>,
    /// Cooldowns for single models, when the provider limits each model separately.
    pub model_cooldowns: HashMap<String, SystemTime>,
    /// Why each cooldown was set, as an operator reads it (`429 retry-after 7200 s`): keyed
    /// by model for per-model cooldowns, by "" for the account's own.
    pub cooldown_reasons: HashMap<String, String>,
    /// How many backoff steps the next cooldown takes; success resets it.
    pub backoff_level: u32,
    pub consecutive_failures: u32,
    /// Set aside after too many failures in a row; one probe is let through after this.
    pub disabled_until: Option<SystemTime>,
    pub last_error: Option<(SystemTime, String)>,
    pub day: i64,
    pub day_requests: u64,
    pub day_tokens: u64,
}

/// Why an account cannot take a request now, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    Cooling(SystemTime),
    Disabled(SystemTime),
    DailyLimit(SystemTime),
    Busy,
}

impl Unavailable {
    pub fn until(self) -> Option<SystemTime> {
        match self {
            Unavailable::Cooling(t) | Unavailable::Disabled(t) | Unavailable::DailyLimit(t) => {
                Some(t)
            }
            Unavailable::Busy => None,
        }
    }
}

/// What a failure did to the account, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    pub cooldown: Option<Duration>,
    pub disabled: bool,
}

impl Health {
    /// Starts a new day's counters when the day has changed.
    pub fn roll_day(&mut self, today: i64) {
        if self.day != today {
            self.day = today;
            self.day_requests = 0;
            self.day_tokens = 0;
        }
    }

    /// Whether the account may take a request for `model` now.
    pub fn check(&self, model: &str, now: SystemTime) -> Result<(), Unavailable> {
        if let Some(until) = self.disabled_until
            && until > now
        {
            return Err(Unavailable::Disabled(until));
        }
        let model_until = self.model_cooldowns.get(model).copied();
        let until = self
            .cooldown_until
            .into_iter()
            .chain(model_until)
            .filter(|t| *t > now)
            .max();
        match until {
            Some(t) => Err(Unavailable::Cooling(t)),
            None => Ok(()),
        }
    }

    /// 100 for an account with nothing against it, less for each recent trouble.
    pub fn score(&self, now: SystemTime) -> i64 {
        let recent = |t: SystemTime| {
            now.duration_since(t)
                .is_ok_and(|d| d < Duration::from_secs(300))
        };
        let mut score = 100 - 10 * i64::from(self.backoff_level.min(10));
        if self.last_error.as_ref().is_some_and(|(t, _)| recent(*t)) {
            score -= 20;
        }
        if self.cooldown_until.is_some_and(|t| t > now)
            || self.model_cooldowns.values().any(|t| *t > now)
        {
            score -= 30;
        }
        score - 5 * i64::from(self.consecutive_failures.min(10))
    }

    pub fn on_success(&mut self, model: &str) {
        self.backoff_level = 0;
        self.consecutive_failures = 0;
        self.disabled_until = None;
        self.cooldown_until = None;
        // Checked first: hashing the model to remove it from an empty map is most of what a
        // success costs here.
        if !self.model_cooldowns.is_empty() {
            self.model_cooldowns.remove(model);
        }
        if !self.cooldown_reasons.is_empty() {
            self.cooldown_reasons.remove(model);
            self.cooldown_reasons.remove("");
        }
    }

    /// Forgets every routing penalty (cooldowns, backoff, failures in a row, the set-aside),
    /// as an operator's reset asks: the account is offered again at once. The day's
    /// counters and the last error stay, as history.
    pub fn reset(&mut self) {
        self.cooldown_until = None;
        self.model_cooldowns.clear();
        self.cooldown_reasons.clear();
        self.backoff_level = 0;
        self.consecutive_failures = 0;
        self.disabled_until = None;
    }

    /// Records a failure and decides the account's penalty.
    pub fn on_failure(
        &mut self,
        failure: &Failure,
        model: &str,
        per_model: bool,
        routing: &Routing,
        now: SystemTime,
    ) -> Penalty {
        let (class, hint, message) = (
            failure.class,
            failure.retry_after,
            failure.error.message.as_str(),
        );
        // A bad request, or one this provider never serves, says nothing about the account.
        if matches!(
            class,
            FailureClass::Request | FailureClass::ContextOverflow | FailureClass::NotServed
        ) {
            return Penalty {
                cooldown: None,
                disabled: false,
            };
        }
        self.last_error = Some((now, message.chars().take(200).collect()));
        self.consecutive_failures += 1;
        let cooldown = match class {
            FailureClass::RateLimit | FailureClass::Auth => {
                let backoff = routing
                    .backoff_base
                    .saturating_mul(1u32 << self.backoff_level.min(20))
                    .min(routing.backoff_max);
                self.backoff_level += 1;
                // The provider knows its own window better than any backoff; a hint is
                // capped only against absurd values.
                let d = hint.map_or(backoff, |h| h.min(Duration::from_secs(24 * 3600)));
                let until = now + d;
                let reason = match hint {
                    Some(h) => format!("{} retry-after {} s", failure.error.status, h.as_secs()),
                    None => format!("{} backoff {} s", failure.error.status, d.as_secs()),
                };
                if per_model && class == FailureClass::RateLimit {
                    self.model_cooldowns.insert(model.to_owned(), until);
                    self.cooldown_reasons.insert(model.to_owned(), reason);
                } else {
                    self.cooldown_until = Some(until);
                    self.cooldown_reasons.insert(String::new(), reason);
                }
                Some(d)
            }
            _ => None,
        };
        let disabled =
            routing.disable_after > 0 && self.consecutive_failures >= routing.disable_after;
        if disabled {
            self.disabled_until = Some(now + routing.probe_after);
        }
        Penalty { cooldown, disabled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(class: FailureClass, hint: Option<Duration>) -> Failure {
        let mut f = Failure::connection("x");
        f.class = class;
        f.retry_after = hint;
        f
    }

    fn routing() -> Routing {
        Routing {
            sticky_limit: 3,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
            disable_after: 3,
            probe_after: Duration::from_secs(60),
            session_header: "x-session-id".into(),
            session_ttl: Duration::from_secs(60),
            day_offset_secs: 0,
            wildcard_strategy: crate::config::TargetStrategy::Order,
        }
    }

    #[test]
    fn rate_limits_back_off_exponentially_and_success_resets() {
        let now = switchyard_hub::clock::now();
        let mut h = Health::default();
        let r = routing();
        let cooldowns: Vec<_> = (0..5)
            .map(|_| {
                h.on_failure(&failure(FailureClass::RateLimit, None), "m", false, &r, now)
                    .cooldown
                    .unwrap()
                    .as_secs()
            })
            .collect();
        assert_eq!(cooldowns, [1, 2, 4, 8, 8]);
        assert!(matches!(h.check("m", now), Err(Unavailable::Disabled(_))));
        h.on_success("m");
        assert_eq!(h.check("m", now), Ok(()));
        assert_eq!(h.backoff_level, 0);
    }

    #[test]
    fn hints_win_over_backoff_and_can_be_per_model() {
        let now = switchyard_hub::clock::now();
        let mut h = Health::default();
        let hinted = failure(FailureClass::RateLimit, Some(Duration::from_secs(90)));
        let p = h.on_failure(&hinted, "m1", true, &routing(), now);
        assert_eq!(p.cooldown, Some(Duration::from_secs(90)));
        assert_eq!(
            h.check("m1", now),
            Err(Unavailable::Cooling(now + Duration::from_secs(90)))
        );
        assert_eq!(h.check("m2", now), Ok(()));
        // The operator sees where the cooldown came from: the provider's hint, not backoff.
        let reason = &h.cooldown_reasons["m1"];
        assert!(reason.ends_with("retry-after 90 s"), "{reason}");
        let plain = failure(FailureClass::RateLimit, None);
        h.on_failure(&plain, "m1", false, &routing(), now);
        assert!(h.cooldown_reasons[""].ends_with("backoff 2 s"), "{h:?}");
        h.on_success("m1");
        assert!(h.cooldown_reasons.is_empty(), "{h:?}");
    }

    #[test]
    fn a_reset_clears_every_penalty_but_keeps_the_counters() {
        let now = switchyard_hub::clock::now();
        let mut h = Health::default();
        let r = routing();
        let hinted = failure(FailureClass::RateLimit, Some(Duration::from_secs(3600)));
        h.on_failure(&hinted, "m1", true, &r, now);
        h.on_failure(&hinted, "m2", false, &r, now);
        h.on_failure(&hinted, "m2", false, &r, now);
        h.day_requests = 7;
        assert!(matches!(h.check("m1", now), Err(Unavailable::Disabled(_))));
        h.reset();
        assert_eq!(h.check("m1", now), Ok(()));
        assert_eq!(h.check("m2", now), Ok(()));
        assert_eq!((h.backoff_level, h.consecutive_failures), (0, 0));
        assert!(h.model_cooldowns.is_empty());
        assert_eq!(h.day_requests, 7);
    }

    #[test]
    fn request_errors_cost_nothing_and_transient_ones_only_count() {
        let now = switchyard_hub::clock::now();
        let mut h = Health::default();
        let r = routing();
        assert_eq!(
            h.on_failure(&failure(FailureClass::Request, None), "m", false, &r, now)
                .cooldown,
            None
        );
        assert_eq!(h.consecutive_failures, 0);
        let p = h.on_failure(&failure(FailureClass::Transient, None), "m", false, &r, now);
        assert_eq!(
            p,
            Penalty {
                cooldown: None,
                disabled: false
            }
        );
        assert_eq!(h.check("m", now), Ok(()));
        assert!(h.score(now) < 100);
    }
}
