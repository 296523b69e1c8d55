//! `GET /metrics` in the Prometheus text format, fed from the one place every request ends
//! (its usage row) plus the stream and cooldown events.

use std::sync::atomic::AtomicU64;

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
    cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    fallbacks: Counter,
    cooldowns: Family<AccountLabels, Counter>,
    pub active_streams: Gauge,
    overhead: Histogram,
}

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
        let cost = Family::<CostLabels, Counter<f64, AtomicU64>>::default();
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
        }
    }
}

impl Metrics {
    /// Counts a finished request from its usage row.
    pub fn record(&self, row: &UsageRow, overhead_secs: Option<f64>) {
        let provider = row.provider.clone().unwrap_or_default();
        let model = row
            .upstream_model
            .clone()
            .unwrap_or_else(|| row.requested_model.clone());
        let status = StatusLabels {
            provider: provider.clone(),
            model: model.clone(),
            client_format: row.client_format.to_owned(),
            status: row.status.to_string(),
        };
        self.requests.get_or_create(&status).inc();
        if row.status >= 400 {
            self.failures.get_or_create(&status).inc();
        }
        let route = RouteLabels {
            provider: provider.clone(),
            model: model.clone(),
            client_format: row.client_format.to_owned(),
        };
        self.latency
            .get_or_create(&route)
            .observe(row.latency_ms / 1000.0);
        for (kind, n) in [
            ("prompt", row.usage.prompt_tokens),
            ("completion", row.usage.completion_tokens),
            ("cached", row.usage.cached_tokens),
            ("reasoning", row.usage.reasoning_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        provider: provider.clone(),
                        model: model.clone(),
                        kind,
                    })
                    .inc_by(n);
            }
        }
        if let Some(usd) = row.cost_usd.filter(|c| *c > 0.0) {
            self.cost
                .get_or_create(&CostLabels {
                    provider: provider.clone(),
                    model: model.clone(),
                    key: row.client_key.clone().unwrap_or_default(),
                })
                .inc_by(usd);
        }
        if row.attempts > 1 {
            self.fallbacks.inc_by(u64::from(row.attempts - 1));
        }
        if let Some(o) = overhead_secs {
            self.overhead.observe(o);
        }
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
}
