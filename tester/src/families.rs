//! The four API-key provider families behind one proxy (Anthropic, the Gemini API, OpenAI
//! Responses, OpenAI chat), each on its own fake, as the hosted-tools and fidelity tests
//! both set them up: one place for the fakes and their `[[providers]]` blocks, so the two
//! suites cannot drift apart on names, models or keys.

use crate::fake_anthropic::FakeAnthropic;
use crate::fake_gemini::FakeGemini;
use crate::fake_openai::FakeOpenAi;
use crate::fake_responses::FakeResponses;

/// One fake per family, started.
pub struct Families {
    pub claude: FakeAnthropic,
    pub gemini: FakeGemini,
    pub openai: FakeOpenAi,
    pub responses: FakeResponses,
}

impl Families {
    pub async fn start() -> Families {
        Families {
            claude: FakeAnthropic::start().await,
            gemini: FakeGemini::start().await,
            openai: FakeOpenAi::start().await,
            responses: FakeResponses::start().await,
        }
    }

    /// The providers `an` (`claude-test`), `gm` (`gemini-2.5-flash`,
    /// `gemini-3-pro-preview`), `or` (`gpt-think`) and `oa` (`gpt-test`), one account each.
    pub fn providers_toml(&self) -> String {
        format!(
            r#"
[[providers]]
name = "an"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"

[[providers]]
name = "gm"
kind = "gemini"
base_url = "{gemini}"
models = ["gemini-2.5-flash", "gemini-3-pro-preview"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-gemini-0001"

[[providers]]
name = "or"
kind = "openai-responses"
base_url = "{responses}"
models = ["gpt-think"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-responses-0001"

[[providers]]
name = "oa"
kind = "openai"
base_url = "{openai}"
models = ["gpt-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-openai-0001"
"#,
            claude = self.claude.base_url(),
            gemini = self.gemini.base_url(),
            responses = self.responses.base_url(),
            openai = self.openai.base_url(),
        )
    }
}
