//! Test infrastructure for Switchyard: fake providers written from the providers' public wire
//! formats (raw JSON, never the hub's types), a harness that runs the real binary, and a
//! small HTTP client.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "the tester is test code: fakes and harness fail the test loudly on broken fixtures or a misbehaving server"
)]
#![expect(
    clippy::too_many_lines,
    reason = "test code, outside the production 100-line limit: each fake validates a provider's whole request in one pass that reads top to bottom against the provider's docs"
)]

pub mod container;
pub mod fake_anthropic;
pub mod fake_cursor;
pub mod fake_gemini;
pub mod fake_kiro;
pub mod fake_oauth;
pub mod fake_openai;
pub mod fake_responses;
pub mod fake_subscriptions;
pub mod fake_videos;
pub mod families;
pub mod harness;
pub mod http_client;
pub mod matrix;
pub mod redis_server;
pub mod server;

/// The wall clock for the fakes and tests. The tester does not depend on `switchyard-hub`
/// (its fakes play the providers, which keep their own clocks), so it has its own one read.
#[expect(
    clippy::disallowed_methods,
    reason = "the tester's one wall-clock read; it stands apart from switchyard-hub's clock on purpose"
)]
pub fn wall_clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}
