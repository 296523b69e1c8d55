//! `fake-upstream`: runs the fake providers on loopback for manual tries and benchmarks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[tokio::main]
async fn main() {
    let openai = switchyard_tester::fake_openai::FakeOpenAi::start().await;
    println!("fake openai: {}", openai.base_url());
    let _ = tokio::signal::ctrl_c().await;
}
