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
