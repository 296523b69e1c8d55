//! What outlives a request: the shared [`app::App`], accounts' credentials, the usage
//! store and its writer, debug logs, and metrics.

pub mod app;
pub mod client_keys;
pub mod credentials;
pub mod debug_log;
pub mod metrics;
pub mod responses;
pub mod snapshot;
pub mod usage_store;

/// A map with foldhash (randomly seeded per process) instead of SipHash, for the internal
/// maps every request looks up by our own strings (metric handles, latencies, the catalogue,
/// the writer's hourly sums): SipHash cost ~5,000 instructions a request across them.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
