//! What each fake provider serves, declared once, so the end-to-end capability matrix
//! (`tester/tests/matrix.rs`) can run every client format against every provider format for
//! exactly the capabilities that provider has, and know the content to expect back.
//!
//! Adding a fake means adding its [`Provider`] row here: the matrix then covers it in every
//! client format, streamed and not.

use serde_json::Value;

use crate::fake_anthropic::FakeAnthropic;
use crate::fake_cursor::FakeCursor;
use crate::fake_gemini::FakeGemini;
use crate::fake_kiro::FakeKiro;
use crate::fake_openai::FakeOpenAi;
use crate::fake_responses::FakeResponses;
use crate::{fake_anthropic, fake_cursor, fake_gemini, fake_kiro, fake_openai, fake_responses};

/// One thing a provider can do for a client. Streaming is not listed: every capability is
/// run both streamed and not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// A plain prompt is answered with text.
    Text,
    /// `#tool=NAME` is answered with a call of the declared tool NAME.
    Tools,
    /// `#think` is answered with reasoning before the text.
    Reasoning,
    /// An image in the prompt reaches the provider.
    Images,
    /// `#status=CODE` is answered with that HTTP status and the provider's error body.
    Errors,
}

/// A fake provider as the matrix sees it.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// The provider `kind` in the proxy's config.
    pub kind: &'static str,
    /// A model the fake accepts.
    pub model: &'static str,
    pub capabilities: &'static [Capability],
    /// What the fake says to a plain prompt.
    pub reply: &'static str,
    /// What the fake says to a plain prompt when streaming.
    pub stream_reply: &'static str,
    /// The arguments the fake gives a `#tool` call of a tool whose only required property
    /// is the string `cmd`.
    pub tool_args: &'static str,
    /// Text the fake's reasoning contains.
    pub reasoning: &'static str,
    /// The fake signs its reasoning (a thinking signature, encrypted reasoning, a thought
    /// signature), which clients must get back to replay it.
    pub signs_reasoning: bool,
}

use Capability::{Errors, Images, Reasoning, Text, Tools};

/// Every fake provider format, with what it serves.
pub const PROVIDERS: [Provider; 6] = [
    Provider {
        kind: "openai",
        model: "gpt-test",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        reply: fake_openai::REPLY,
        // Fake OpenAI streams numbered tokens, three by default.
        stream_reply: "tok0 tok1 tok2 ",
        tool_args: r#"{"cmd":"echo switchyard-tool-ok"}"#,
        reasoning: fake_openai::REASONING,
        signs_reasoning: false,
    },
    Provider {
        kind: "claude",
        model: "claude-test",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        reply: fake_anthropic::REPLY,
        stream_reply: fake_anthropic::REPLY,
        tool_args: fake_anthropic::TOOL_ARGS,
        reasoning: fake_anthropic::THINKING,
        signs_reasoning: true,
    },
    Provider {
        kind: "openai-responses",
        model: "gpt-resp-test",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        reply: fake_responses::REPLY,
        stream_reply: fake_responses::REPLY,
        tool_args: fake_responses::TOOL_ARGS,
        reasoning: fake_anthropic::THINKING,
        signs_reasoning: true,
    },
    Provider {
        kind: "gemini",
        model: "gemini-2.5-flash",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        reply: fake_gemini::REPLY,
        stream_reply: fake_gemini::REPLY,
        tool_args: fake_gemini::TOOL_ARGS,
        reasoning: fake_gemini::THINKING,
        signs_reasoning: true,
    },
    Provider {
        kind: "kiro",
        model: "claude-sonnet-4.5",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        // The Kiro fake says the Anthropic fake's words.
        reply: fake_anthropic::REPLY,
        stream_reply: fake_anthropic::REPLY,
        tool_args: r#"{"cmd":"echo switchyard-tool-ok"}"#,
        reasoning: fake_kiro::THINKING,
        signs_reasoning: true,
    },
    Provider {
        kind: "cursor",
        model: "cursor-test",
        // Cursor's chat carries no images.
        capabilities: &[Text, Tools, Reasoning, Errors],
        reply: fake_cursor::REPLY,
        stream_reply: fake_cursor::REPLY,
        tool_args: fake_cursor::TOOL_ARGS,
        reasoning: fake_cursor::THINKING,
        signs_reasoning: false,
    },
];

/// A running fake of one of the [`PROVIDERS`].
pub enum RunningFake {
    OpenAi(FakeOpenAi),
    Anthropic(FakeAnthropic),
    Responses(FakeResponses),
    Gemini(FakeGemini),
    Kiro(FakeKiro),
    Cursor(FakeCursor),
}

impl RunningFake {
    /// Starts the fake for provider `kind`.
    pub async fn start(kind: &str) -> RunningFake {
        match kind {
            "openai" => RunningFake::OpenAi(FakeOpenAi::start().await),
            "claude" => RunningFake::Anthropic(FakeAnthropic::start().await),
            "openai-responses" => RunningFake::Responses(FakeResponses::start().await),
            "gemini" => RunningFake::Gemini(FakeGemini::start().await),
            "kiro" => RunningFake::Kiro(FakeKiro::start().await),
            "cursor" => RunningFake::Cursor(FakeCursor::start().await),
            other => panic!("no fake for provider kind {other}"),
        }
    }

    /// The `base_url` to configure.
    pub fn base_url(&self) -> String {
        match self {
            RunningFake::OpenAi(f) => f.base_url(),
            RunningFake::Anthropic(f) => f.base_url(),
            RunningFake::Responses(f) => f.base_url(),
            RunningFake::Gemini(f) => f.base_url(),
            RunningFake::Kiro(f) => f.base_url(),
            RunningFake::Cursor(f) => f.base_url(),
        }
    }

    /// The body of every request the fake received, as JSON (Cursor's decoded from
    /// protobuf), in order.
    pub fn bodies(&self) -> Vec<Value> {
        let recorded = match self {
            RunningFake::OpenAi(f) => return f.requests().into_iter().map(|r| r.body).collect(),
            RunningFake::Anthropic(f) => f.requests(),
            RunningFake::Responses(f) => f.requests(),
            RunningFake::Gemini(f) => f.requests(),
            RunningFake::Kiro(f) => f.requests(),
            RunningFake::Cursor(f) => f.requests(),
        };
        recorded.into_iter().map(|r| r.body).collect()
    }
}
