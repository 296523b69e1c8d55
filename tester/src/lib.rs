//! Test infrastructure for Switchyard: fake providers written from the providers' public wire
//! formats (raw JSON, never the hub's types), a harness that runs the real binary, and a
//! small HTTP client.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "the tester is test code: fakes and harness fail the test loudly on broken fixtures or a misbehaving server"
)]

pub mod fake_anthropic;
pub mod fake_cursor;
pub mod fake_gemini;
pub mod fake_kiro;
pub mod fake_oauth;
pub mod fake_openai;
pub mod fake_responses;
pub mod fake_subscriptions;
pub mod harness;
pub mod http_client;
pub mod matrix;
pub mod server;
