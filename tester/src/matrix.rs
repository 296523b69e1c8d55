//! What each fake provider serves, declared once, so the end-to-end capability matrix
//! (`tester/tests/matrix.rs`) can run every client format against every provider format for
//! exactly the capabilities that provider has, and know the content to expect back.
//!
//! Adding a fake means adding its [`Provider`] row here: the matrix then covers it in every
//! client format, streamed and not.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde_json::{Value, json};

use crate::fake_anthropic::FakeAnthropic;
use crate::fake_cursor::FakeCursor;
use crate::fake_gemini::FakeGemini;
use crate::fake_kiro::FakeKiro;
use crate::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use crate::fake_openai::FakeOpenAi;
use crate::fake_responses::FakeResponses;
use crate::fake_subscriptions::{FakeCodeAssist, FakeCodex, FakeCopilot};
use crate::harness::{binary, run};
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

/// What a provider reports of its prompt cache on every answer, in its own usage shape
/// (Anthropic `cache_read_input_tokens`/`cache_creation_input_tokens`, OpenAI chat
/// `prompt_tokens_details.cached_tokens`, Responses `input_tokens_details.cached_tokens`,
/// Gemini `cachedContentTokenCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Tokens read from the cache, and (Anthropic only) written to it.
    Reports { read: u64, write: u64 },
    /// The provider has no cache notion it reports (Kiro's `metricsEvent` counts input and
    /// output only; Cursor reports no token counts at all): no client may see a cache hit.
    NoNotion,
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
    /// The prompt-cache counts every answer reports.
    pub cache: Cache,
}

use Capability::{Errors, Images, Reasoning, Text, Tools};

/// Every fake provider format, with what it serves: the API-key providers, then the
/// subscription backends reached with a login (imported from the vendor's own tool, or
/// Copilot's device login). The Claude Code login is left out: it answers only Claude Code's
/// own requests, by design.
pub const PROVIDERS: [Provider; 9] = [
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
        cache: Cache::Reports {
            read: fake_openai::CACHED_TOKENS,
            write: 0,
        },
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
        cache: Cache::Reports {
            read: fake_anthropic::CACHE_READ_INPUT_TOKENS,
            write: fake_anthropic::CACHE_CREATION_INPUT_TOKENS,
        },
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
        cache: Cache::Reports {
            read: fake_responses::CACHED_TOKENS,
            write: 0,
        },
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
        cache: Cache::Reports {
            read: fake_gemini::CACHED_CONTENT_TOKEN_COUNT,
            write: 0,
        },
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
        cache: Cache::NoNotion,
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
        cache: Cache::NoNotion,
    },
    Provider {
        kind: "codex",
        model: "gpt-5-codex",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        // The ChatGPT backend gate forwards to the Responses fake.
        reply: fake_responses::REPLY,
        stream_reply: fake_responses::REPLY,
        tool_args: fake_responses::TOOL_ARGS,
        reasoning: fake_anthropic::THINKING,
        signs_reasoning: true,
        cache: Cache::Reports {
            read: fake_responses::CACHED_TOKENS,
            write: 0,
        },
    },
    Provider {
        kind: "gemini-cli",
        model: "gemini-2.5-pro",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        // The Code Assist gate forwards to the Gemini fake.
        reply: fake_gemini::REPLY,
        stream_reply: fake_gemini::REPLY,
        tool_args: fake_gemini::TOOL_ARGS,
        reasoning: fake_gemini::THINKING,
        signs_reasoning: true,
        cache: Cache::Reports {
            read: fake_gemini::CACHED_CONTENT_TOKEN_COUNT,
            write: 0,
        },
    },
    Provider {
        kind: "copilot",
        model: "gpt-4.1",
        capabilities: &[Text, Tools, Reasoning, Images, Errors],
        // Copilot serves this model on `/chat/completions`, from the OpenAI fake.
        reply: fake_openai::REPLY,
        stream_reply: "tok0 tok1 tok2 ",
        tool_args: r#"{"cmd":"echo switchyard-tool-ok"}"#,
        reasoning: fake_openai::REASONING,
        signs_reasoning: false,
        cache: Cache::Reports {
            read: fake_openai::CACHED_TOKENS,
            write: 0,
        },
    },
];

/// The ChatGPT account the Codex login names.
const CODEX_ACCOUNT: &str = "acct-matrix";

/// A running fake of one of the [`PROVIDERS`].
pub enum RunningFake {
    OpenAi(FakeOpenAi),
    Anthropic(FakeAnthropic),
    Responses(FakeResponses),
    Gemini(FakeGemini),
    Kiro(FakeKiro),
    Cursor(FakeCursor),
    Codex(FakeCodex, FakeOAuth),
    CodeAssist(FakeCodeAssist, FakeOAuth),
    Copilot(FakeCopilot, FakeOAuth),
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
            "codex" => {
                let mut cfg = OAuthConfig::new("app_matrix", BodyStyle::Form, Flavor::OpenAi);
                cfg.id_claims = json!({"email": "dev@example.com",
                    "https://api.openai.com/auth": {"chatgpt_account_id": CODEX_ACCOUNT}});
                let oauth = FakeOAuth::start(cfg).await;
                let fake = FakeCodex::start(oauth.state.clone(), CODEX_ACCOUNT).await;
                RunningFake::Codex(fake, oauth)
            }
            "gemini-cli" => {
                let mut cfg = OAuthConfig::new("google-matrix", BodyStyle::Form, Flavor::Rfc);
                cfg.client_secret = Some("google-matrix-secret".into());
                let oauth = FakeOAuth::start(cfg).await;
                let fake = FakeCodeAssist::start(oauth.state.clone(), Some("proj-matrix")).await;
                RunningFake::CodeAssist(fake, oauth)
            }
            "copilot" => {
                let github = FakeOAuth::start(OAuthConfig::new(
                    "Iv1.matrix",
                    BodyStyle::Form,
                    Flavor::GitHub,
                ))
                .await;
                let fake = FakeCopilot::start(github.state.clone()).await;
                RunningFake::Copilot(fake, github)
            }
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
            RunningFake::Codex(f, _) => f.base_url(),
            RunningFake::CodeAssist(f, _) => f.url(),
            RunningFake::Copilot(f, _) => f.url(),
        }
    }

    /// The `[[providers]]` entry that reaches this fake as provider `name` serving `model`.
    pub fn config(&self, name: &str, kind: &str, model: &str) -> String {
        let head = format!(
            "\n[[providers]]\nname = \"{name}\"\nkind = \"{kind}\"\nbase_url = \"{}\"\nmodels = [\"{model}\"]\n",
            self.base_url()
        );
        match self {
            RunningFake::Codex(_, oauth) => format!(
                "{head}[providers.options]\ntoken_url = \"{}\"\nclient_id = \"app_matrix\"\n",
                oauth.url("/token")
            ),
            RunningFake::CodeAssist(_, oauth) => format!(
                "{head}[providers.options]\ntoken_url = \"{}\"\nclient_id = \"google-matrix\"\nclient_secret = \"google-matrix-secret\"\n",
                oauth.url("/token")
            ),
            RunningFake::Copilot(f, github) => format!(
                "{head}[providers.options]\ngithub_url = \"{}\"\ngithub_api_url = \"{}\"\nclient_id = \"Iv1.matrix\"\n",
                github.url(""),
                f.url()
            ),
            _ => format!(
                "{head}[[providers.accounts]]\nname = \"main\"\napi_key = \"sk-upstream-{kind}-0001\"\n"
            ),
        }
    }

    /// For a subscription fake: logs provider `name` in, in `dir` (whose `config.toml` must
    /// already name the provider): imports the login the vendor's tool would hold with
    /// `switchyard import`, or runs Copilot's device login and approves its code.
    pub fn log_in(&self, dir: &Path, name: &str) {
        let (source, creds) = match self {
            RunningFake::Copilot(_, github) => return device_login(dir, name, github),
            RunningFake::Codex(_, oauth) => {
                let (access, refresh, id_token, _) = oauth.state.issue(3600);
                let creds = json!({"OPENAI_API_KEY": null, "tokens": {"id_token": id_token,
                    "access_token": access, "refresh_token": refresh, "account_id": CODEX_ACCOUNT},
                    "last_refresh": "2026-01-01T00:00:00Z"});
                ("codex", creds)
            }
            RunningFake::CodeAssist(_, oauth) => {
                let (access, refresh, _, expires) = oauth.state.issue(3600);
                let expiry = expires.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
                let creds = json!({"access_token": access, "refresh_token": refresh,
                    "token_type": "Bearer", "scope": "x", "expiry_date": expiry});
                ("gemini", creds)
            }
            _ => return,
        };
        let file = dir.join(format!("{name}-login.json"));
        std::fs::write(&file, creds.to_string()).unwrap();
        let (ok, out, err) = run(
            dir,
            &[
                "--config",
                "config.toml",
                "import",
                source,
                "--path",
                file.to_str().unwrap(),
                "--provider",
                name,
                "--name",
                "main",
            ],
        );
        assert!(ok, "import {source} into {name} failed:\n{out}\n{err}");
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
            RunningFake::Codex(f, _) => return f.log.all().into_iter().map(|s| s.body).collect(),
            RunningFake::CodeAssist(f, _) => {
                return f.log.all().into_iter().map(|s| s.body).collect();
            }
            RunningFake::Copilot(f, _) => {
                return f.log.all().into_iter().map(|s| s.body).collect();
            }
        };
        recorded.into_iter().map(|r| r.body).collect()
    }
}

/// Runs `switchyard login <name>` in `dir`, approves the device code it prints on the fake
/// GitHub, and waits for the login to finish. Blocks: the fakes it talks to run on other
/// runtime threads.
fn device_login(dir: &Path, name: &str, github: &FakeOAuth) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    tokio::task::block_in_place(|| {
        let mut child = Command::new(binary())
            .current_dir(dir)
            .args(["--config", "config.toml", "login", name, "--no-browser"])
            .env("SWITCHYARD_NO_BROWSER", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            seen.push_str(&line);
            if line.contains("enter the code") {
                let code = line.split_whitespace().last().unwrap_or_default();
                assert!(github.state.approve(code), "unknown device code {code}");
                break;
            }
            line.clear();
        }
        let _ = stdout.read_to_string(&mut seen);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "copilot login failed:\n{seen}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
