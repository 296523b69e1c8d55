//! `GET /metrics` in the Prometheus text format, fed from the one place every request ends
//! (its usage row) plus the stream and cooldown events.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::usage_store::UsageRow;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub provider: String,
    pub model: String,
    pub client_format: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub provider: String,
    pub model: String,
    pub client_format: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub provider: String,
    pub model: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CostLabels {
    pub provider: String,
    pub model: String,
    pub key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabels {
    pub provider: String,
    pub account: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    failures: Family<StatusLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<CostLabels, CostCounter>,
    fallbacks: Counter,
    cooldowns: Family<AccountLabels, Counter>,
    pub active_streams: Gauge,
    overhead: Histogram,
    /// Each provider and model's metrics, found once and kept (see [`Handles`]).
    handles: RwLock<crate::state::FastMap<String, crate::state::FastMap<String, Arc<Handles>>>>,
}

/// One provider and model's series, resolved once: finding a series in a family hashes its
/// whole label set (SipHash, four strings) and clones the strings into a key, which cost
/// ~5,000 instructions a request for the four or five series every request touches. The
/// series are the families' own (a handle is a clone of the counter or histogram), so
/// `/metrics` shows the same numbers whichever way they were counted.
#[derive(Default)]
struct Handles {
    /// By client format and status.
    outcomes: Mutex<Vec<Outcome>>,
    /// By kind (prompt, completion, cached, reasoning), created on first use so that a kind
    /// never counted has no series, as before.
    tokens: [OnceLock<Counter>; 4],
    /// Cost by client key ("" for none), so a priced request copies no label strings.
    costs: Mutex<crate::state::FastMap<String, CostCounter>>,
}

type CostCounter = Counter<f64, AtomicU64>;

struct Outcome {
    client_format: &'static str,
    status: u16,
    requests: Counter,
    failures: Option<Counter>,
    latency: Histogram,
}

/// Providers and models whose handles are kept; beyond it (a client sending endless model
/// names that fail) a request's series are found in the families each time, as before.
const MAX_HANDLES: usize = 4096;

const TOKEN_KINDS: [&str; 4] = ["prompt", "completion", "cached", "reasoning"];

fn latency_histogram() -> Histogram {
    // 1 ms .. ~260 s
    Histogram::new(exponential_buckets(0.001, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchyard");
        let requests = Family::<StatusLabels, Counter>::default();
        let failures = Family::<StatusLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        let cost = Family::<CostLabels, CostCounter>::default();
        let fallbacks = Counter::default();
        let cooldowns = Family::<AccountLabels, Counter>::default();
        let active_streams = Gauge::default();
        // 1 us .. ~0.5 s
        let overhead = Histogram::new(exponential_buckets(0.000_001, 2.0, 20));
        registry.register(
            "requests",
            "Requests by provider, model, client format and status",
            requests.clone(),
        );
        registry.register(
            "failures",
            "Requests that ended in an error",
            failures.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to last byte",
            latency.clone(),
        );
        registry.register(
            "tokens",
            "Tokens by provider, model and kind",
            tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost in USD by provider, model and client key (subscriptions at their API-equivalent price)",
            cost.clone(),
        );
        registry.register(
            "fallbacks",
            "Upstream attempts beyond each request's first",
            fallbacks.clone(),
        );
        registry.register("cooldowns", "Cooldowns put on accounts", cooldowns.clone());
        registry.register("active_streams", "Streams open now", active_streams.clone());
        registry.register(
            "overhead_seconds",
            "Time a request spent in the proxy rather than waiting for its upstream",
            overhead.clone(),
        );
        Metrics {
            registry,
            requests,
            failures,
            latency,
            tokens,
            cost,
            fallbacks,
            cooldowns,
            active_streams,
            overhead,
            handles: RwLock::default(),
        }
    }
}

impl Metrics {
    /// Counts a finished request from its usage row.
    pub fn record(&self, row: &UsageRow, overhead_secs: Option<f64>) {
        let provider = row.provider.as_deref().unwrap_or_default();
        let model = row
            .upstream_model
            .as_deref()
            .unwrap_or(&row.requested_model);
        let latency = row.latency_ms / 1000.0;
        let usage = &row.usage;
        let tokens = [
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            usage.reasoning_tokens,
        ];
        let key = row.client_key.as_deref().unwrap_or_default();
        let usd = row.cost_usd.filter(|c| *c > 0.0);
        match self.handles(provider, model) {
            Some(h) => {
                self.count_outcome(&h, provider, model, row.client_format, row.status, latency);
                for ((slot, kind), n) in h.tokens.iter().zip(TOKEN_KINDS).zip(tokens) {
                    if n > 0 {
                        slot.get_or_init(|| self.tokens_series(provider, model, kind))
                            .inc_by(n);
                    }
                }
                if let Some(usd) = usd {
                    self.count_cost(&h, provider, model, key, usd);
                }
            }
            None => {
                let status = self.status_labels(provider, model, row.client_format, row.status);
                self.requests.get_or_create(&status).inc();
                if row.status >= 400 {
                    self.failures.get_or_create(&status).inc();
                }
                self.latency_series(provider, model, row.client_format)
                    .observe(latency);
                for (kind, n) in TOKEN_KINDS.into_iter().zip(tokens) {
                    if n > 0 {
                        self.tokens_series(provider, model, kind).inc_by(n);
                    }
                }
                if let Some(usd) = usd {
                    self.cost_series(provider, model, key).inc_by(usd);
                }
            }
        }
        if row.attempts > 1 {
            self.fallbacks.inc_by(u64::from(row.attempts - 1));
        }
        if let Some(o) = overhead_secs {
            self.overhead.observe(o);
        }
    }

    /// The provider and model's handles, made on first use; `None` past [`MAX_HANDLES`].
    fn handles(&self, provider: &str, model: &str) -> Option<Arc<Handles>> {
        let found = |map: &crate::state::FastMap<
            String,
            crate::state::FastMap<String, Arc<Handles>>,
        >| { map.get(provider).and_then(|m| m.get(model)).cloned() };
        if let Ok(map) = self.handles.read()
            && let Some(h) = found(&map)
        {
            return Some(h);
        }
        let mut map = self.handles.write().ok()?;
        if let Some(h) = found(&map) {
            return Some(h);
        }
        if map.values().map(|m| m.len()).sum::<usize>() >= MAX_HANDLES {
            return None;
        }
        let h = Arc::new(Handles::default());
        map.entry(provider.to_owned())
            .or_default()
            .insert(model.to_owned(), h.clone());
        Some(h)
    }

    fn count_outcome(
        &self,
        h: &Handles,
        provider: &str,
        model: &str,
        client_format: &'static str,
        status: u16,
        latency: f64,
    ) {
        let Ok(mut outcomes) = h.outcomes.lock() else {
            return;
        };
        let at = outcomes
            .iter()
            .position(|o| o.status == status && o.client_format == client_format);
        let o = match at {
            Some(at) => &outcomes[at],
            None => {
                let labels = self.status_labels(provider, model, client_format, status);
                outcomes.push(Outcome {
                    client_format,
                    status,
                    requests: self.requests.get_or_create(&labels).clone(),
                    failures: (status >= 400).then(|| self.failures.get_or_create(&labels).clone()),
                    latency: self.latency_series(provider, model, client_format),
                });
                let last = outcomes.len() - 1;
                &outcomes[last]
            }
        };
        o.requests.inc();
        if let Some(f) = &o.failures {
            f.inc();
        }
        o.latency.observe(latency);
    }

    /// Adds `usd` to the provider and model's cost series for client key `key`.
    fn count_cost(&self, h: &Handles, provider: &str, model: &str, key: &str, usd: f64) {
        let Ok(mut costs) = h.costs.lock() else {
            return;
        };
        if let Some(c) = costs.get(key) {
            c.inc_by(usd);
            return;
        }
        let c = self.cost_series(provider, model, key);
        c.inc_by(usd);
        costs.insert(key.to_owned(), c);
    }

    fn cost_series(&self, provider: &str, model: &str, key: &str) -> CostCounter {
        self.cost
            .get_or_create(&CostLabels {
                provider: provider.to_owned(),
                model: model.to_owned(),
                key: key.to_owned(),
            })
            .clone()
    }

    fn status_labels(
        &self,
        provider: &str,
        model: &str,
        client_format: &str,
        status: u16,
    ) -> StatusLabels {
        StatusLabels {
            provider: provider.to_owned(),
            model: model.to_owned(),
            client_format: client_format.to_owned(),
            status: status.to_string(),
        }
    }

    fn latency_series(&self, provider: &str, model: &str, client_format: &str) -> Histogram {
        self.latency
            .get_or_create(&RouteLabels {
                provider: provider.to_owned(),
                model: model.to_owned(),
                client_format: client_format.to_owned(),
            })
            .clone()
    }

    fn tokens_series(&self, provider: &str, model: &str, kind: &'static str) -> Counter {
        self.tokens
            .get_or_create(&TokenLabels {
                provider: provider.to_owned(),
                model: model.to_owned(),
                kind,
            })
            .clone()
    }

    /// The usage writer's figures: how far behind it runs and how often requests waited.
    pub fn register_usage(&mut self, stats: &crate::state::usage_store::UsageStats) {
        self.registry.register(
            "usage_backpressure_waits",
            "Requests that waited for room in the usage writer's queue (the disk is too slow)",
            stats.waits.clone(),
        );
        self.registry.register(
            "usage_rows_written",
            "Usage rows written to the database",
            stats.written.clone(),
        );
        self.registry.register(
            "usage_batch_rows",
            "Rows in the usage writer's latest batch",
            stats.batch_rows.clone(),
        );
        self.registry.register(
            "usage_batch_bytes",
            "Bytes of rows in the usage writer's latest batch",
            stats.batch_bytes.clone(),
        );
    }

    pub fn cooldown(&self, provider: &str, account: &str) {
        self.cooldowns
            .get_or_create(&AccountLabels {
                provider: provider.to_owned(),
                account: account.to_owned(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        crate::cluster::with_metrics(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_labels() {
        let m = Metrics::default();
        let row = UsageRow {
            client_format: "claude",
            provider: Some("groq".into()),
            upstream_model: Some("llama".into()),
            status: 429,
            latency_ms: 12.0,
            attempts: 3,
            usage: switchyard_hub::Usage {
                prompt_tokens: 5,
                ..Default::default()
            },
            client_key: Some("laptop".into()),
            cost_usd: Some(0.0125),
            ..UsageRow::default()
        };
        m.record(&row, Some(0.000_04));
        m.cooldown("groq", "a1");
        let text = m.render();
        assert!(text.contains(r#"switchyard_requests_total{provider="groq",model="llama",client_format="claude",status="429"} 1"#), "{text}");
        assert!(text.contains("switchyard_failures_total{"));
        assert!(text.contains("switchyard_fallbacks_total 2"));
        assert!(
            text.contains(
                r#"switchyard_tokens_total{provider="groq",model="llama",kind="prompt"} 5"#
            )
        );
        assert!(text.contains("switchyard_overhead_seconds_count 1"));
        assert!(
            text.contains(
                r#"switchyard_cost_usd_total{provider="groq",model="llama",key="laptop"} 0.0125"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"switchyard_cooldowns_total{provider="groq",account="a1"} 1"#));
        assert!(text.contains("switchyard_active_streams 0"));
    }

    /// The kept handles count into the families' own series: repeated requests add up, a
    /// new status gets its series, a token kind never counted has none, and past the cap
    /// requests are still counted.
    #[test]
    fn kept_handles_count_into_the_same_series() {
        let m = Metrics::default();
        let row = |model: &str, status: u16, prompt: u64| UsageRow {
            client_format: "openai",
            provider: Some("p".into()),
            upstream_model: Some(model.into()),
            status,
            usage: switchyard_hub::Usage {
                prompt_tokens: prompt,
                ..Default::default()
            },
            ..UsageRow::default()
        };
        for _ in 0..3 {
            m.record(&row("a", 200, 2), None);
        }
        for key in [Some("k1"), Some("k1"), None] {
            m.record(
                &UsageRow {
                    client_key: key.map(Into::into),
                    cost_usd: Some(0.25),
                    ..row("a", 200, 0)
                },
                None,
            );
        }
        m.record(&row("a", 500, 0), None);
        for i in 0..MAX_HANDLES + 2 {
            m.record(&row(&format!("m{i}"), 200, 0), None);
        }
        m.record(&row("m0", 200, 0), None);
        m.record(&row(&format!("m{}", MAX_HANDLES + 1), 200, 0), None);
        let text = m.render();
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(has(
            r#"switchyard_requests_total{provider="p",model="a",client_format="openai",status="200"} 6"#
        ));
        assert!(has(
            r#"switchyard_cost_usd_total{provider="p",model="a",key="k1"} 0.5"#
        ));
        assert!(has(
            r#"switchyard_cost_usd_total{provider="p",model="a",key=""} 0.25"#
        ));
        assert!(has(
            r#"switchyard_requests_total{provider="p",model="a",client_format="openai",status="500"} 1"#
        ));
        assert!(has(
            r#"switchyard_failures_total{provider="p",model="a",client_format="openai",status="500"} 1"#
        ));
        assert!(!text.contains(r#"switchyard_failures_total{provider="p",model="a",client_format="openai",status="200"}"#));
        assert!(has(
            r#"switchyard_tokens_total{provider="p",model="a",kind="prompt"} 6"#
        ));
        assert!(!text.contains(r#"kind="completion""#));
        assert!(has(
            r#"switchyard_request_duration_seconds_count{provider="p",model="a",client_format="openai"} 7"#
        ));
        assert!(has(
            r#"switchyard_requests_total{provider="p",model="m0",client_format="openai",status="200"} 2"#
        ));
        let past = MAX_HANDLES + 1;
        assert!(has(&format!(
            r#"switchyard_requests_total{{provider="p",model="m{past}",client_format="openai",status="200"}} 2"#
        )));
    }
}
