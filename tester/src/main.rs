//! `fake-upstream`: runs the fake providers on loopback for manual tries and benchmarks.

#[tokio::main]
async fn main() {
    let openai = switchyard_tester::fake_openai::FakeOpenAi::start().await;
    println!("fake openai: {}", openai.base_url());
    let anthropic = switchyard_tester::fake_anthropic::FakeAnthropic::start().await;
    println!("fake anthropic: {}", anthropic.base_url());
    let responses = switchyard_tester::fake_responses::FakeResponses::start().await;
    println!("fake responses: {}", responses.base_url());
    let gemini = switchyard_tester::fake_gemini::FakeGemini::start().await;
    println!("fake gemini: {}", gemini.base_url());
    let kiro = switchyard_tester::fake_kiro::FakeKiro::start().await;
    println!("fake kiro: {}", kiro.base_url());
    let kiro_auth = switchyard_tester::fake_kiro::FakeKiroAuth::start().await;
    println!(
        "fake kiro auth: {} {}",
        kiro_auth.social_url(),
        kiro_auth.oidc_url()
    );
    let cursor = switchyard_tester::fake_cursor::FakeCursor::start().await;
    println!("fake cursor: {}", cursor.base_url());
    let cursor_auth = switchyard_tester::fake_cursor::FakeCursorAuth::start().await;
    println!("fake cursor auth: {}", cursor_auth.refresh_url());
    let _ = tokio::signal::ctrl_c().await;
}
