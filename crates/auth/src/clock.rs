//! The wall clock for credential expiry and store timestamps.
//!
//! This crate sits below `switchyard-hub`, whose `clock` module is the workspace's wall clock,
//! so it keeps its own single read here rather than depend on the translators.

use std::time::SystemTime;

/// Now, on the wall clock.
#[expect(
    clippy::disallowed_methods,
    reason = "switchyard-auth's one wall-clock read; the crate does not depend on switchyard-hub's clock"
)]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}
