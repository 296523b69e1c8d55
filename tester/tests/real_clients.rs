//! The real coding clients, unmodified, through the real binary: Claude Code (Anthropic
//! Messages) in front of an OpenAI chat completions provider and in front of Cursor, and
//! Codex (Responses API) in front of an Anthropic provider, each running a tool and
//! reporting its output. Needs
//! `$SWITCHYARD_CLAUDE` / `$SWITCHYARD_CODEX`; `cargo xtask ci` installs both and sets them.
//! The offline switches come from shared/CLIENTS.md: without them the clients call their
//! vendors' hosts at start-up.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_cursor::FakeCursor;
use switchyard_tester::fake_kiro::FakeKiro;
use switchyard_tester::fake_openai::{FakeOpenAi, TOOL_COMMAND};
use switchyard_tester::harness::{Proxy, run_with_timeout, scratch_dir};

const CLIENT_KEY: &str = "sk-client-real-clients-0001";
/// A cold start of either client, two model turns and a tool run; generous for a loaded CI.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);

fn config(provider: &str, kind: &str, base_url: &str, model: &str, alias: &str) -> String {
    format!(
        r#"
[[client_keys]]
id = "real-clients"
key = "{CLIENT_KEY}"

[[providers]]
name = "{provider}"
kind = "{kind}"
base_url = "{base_url}"
models = ["{model}"]
[[providers.accounts]]
name = "main"
api_key = "sk-upstream-{provider}-0001"

[aliases]
"{alias}" = "{provider}/{model}"
"#
    )
}

/// A command with only the environment the client needs: none of the caller's client
/// settings (API keys, base URLs, models) leak in.
fn clean_command(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .current_dir(home);
    cmd
}

fn report(what: &str, ok: bool, stdout: &str, stderr: &str, proxy: &Proxy) -> String {
    format!(
        "{what}: exit ok = {ok}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- proxy log:\n{}",
        proxy.stderr()
    )
}

fn db_statuses(proxy: &Proxy) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT client_format, status FROM usage ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_runs_a_tool_through_an_openai_provider() {
    let Some(claude) = std::env::var_os("SWITCHYARD_CLAUDE") else {
        println!("skipped: set SWITCHYARD_CLAUDE (cargo xtask ci does)");
        return;
    };
    let fake = FakeOpenAi::start().await;
    // Claude Code asks for Anthropic model names; the alias sends this one to the fake.
    let model = "claude-opus-4-8";
    let mut proxy = Proxy::start(
        &config("p_openai", "openai", &fake.base_url(), "gpt-test", model),
        &[],
    );
    let home = scratch_dir("claude-home");
    let mut cmd = clean_command(Path::new(&claude), &home);
    cmd.args([
        "-p",
        "#tool=Bash run the scripted command",
        "--allowedTools",
        "Bash",
        "--model",
        model,
    ])
    .env("ANTHROPIC_BASE_URL", format!("http://{}", proxy.addr))
    .env("ANTHROPIC_API_KEY", CLIENT_KEY)
    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    .env("DISABLE_AUTOUPDATER", "1")
    .env("DISABLE_TELEMETRY", "1")
    .env("DISABLE_ERROR_REPORTING", "1")
    .env("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1")
    .env("CLAUDE_CODE_MAX_RETRIES", "0");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, CLIENT_TIMEOUT));
    let why = report("claude -p", ok, &stdout, &stderr, &proxy);
    println!("claude -p printed: {stdout}");
    assert!(ok, "{why}");

    // The tool really ran: its output came back to the provider as a tool result.
    let output = TOOL_COMMAND.trim_start_matches("echo ");
    let requests = fake.requests();
    let tool_results: Vec<&Value> = requests
        .iter()
        .flat_map(|r| r.body["messages"].as_array().into_iter().flatten())
        .filter(|m| m["role"] == "tool")
        .collect();
    assert!(
        tool_results
            .iter()
            .any(|m| m["content"].to_string().contains(output)),
        "no tool result with {output:?} reached the provider: {tool_results:?}\n{why}"
    );
    let first = &requests[0].body;
    assert_eq!(first["model"], "gpt-test", "{why}");
    assert!(
        first["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == "Bash")),
        "{why}"
    );
    assert!(
        stdout.contains(&format!("after tool: {output}")),
        "the final answer is not in the output\n{why}"
    );

    proxy.stop();
    let rows = db_statuses(&proxy);
    assert!(
        rows.len() >= 2 && rows.iter().all(|(f, s)| f == "claude" && *s == 200),
        "{rows:?}"
    );
}

/// Claude Code's run in front of a strict provider: its real system prompt, its dozens of
/// tools with their real schemas, and a tool round trip, all through the Kiro translation
/// to the fake Kiro, which refuses anything Kiro would call "Improperly formed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_runs_a_tool_through_a_kiro_provider() {
    let Some(claude) = std::env::var_os("SWITCHYARD_CLAUDE") else {
        println!("skipped: set SWITCHYARD_CLAUDE (cargo xtask ci does)");
        return;
    };
    let fake = FakeKiro::start().await;
    let model = "claude-opus-4-8";
    let mut proxy = Proxy::start(
        &config(
            "p_kiro",
            "kiro",
            &fake.base_url(),
            "claude-sonnet-4.5",
            model,
        ),
        &[],
    );
    let home = scratch_dir("claude-kiro-home");
    let mut cmd = clean_command(Path::new(&claude), &home);
    cmd.args([
        "-p",
        "#tool=Bash run the scripted command",
        "--allowedTools",
        "Bash",
        "--model",
        model,
    ])
    .env("ANTHROPIC_BASE_URL", format!("http://{}", proxy.addr))
    .env("ANTHROPIC_API_KEY", CLIENT_KEY)
    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    .env("DISABLE_AUTOUPDATER", "1")
    .env("DISABLE_TELEMETRY", "1")
    .env("DISABLE_ERROR_REPORTING", "1")
    .env("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1")
    .env("CLAUDE_CODE_MAX_RETRIES", "0");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, CLIENT_TIMEOUT));
    let why = report("claude -p (kiro)", ok, &stdout, &stderr, &proxy);
    println!("claude -p printed: {stdout}");
    assert!(ok, "{why}");

    let output = switchyard_tester::fake_kiro::TOOL_COMMAND.trim_start_matches("echo ");
    let requests = fake.requests();
    let results: Vec<String> = requests
        .iter()
        .filter_map(|r| {
            r.body.pointer(
                "/conversationState/currentMessage/userInputMessage/userInputMessageContext/toolResults",
            )
        })
        .map(Value::to_string)
        .collect();
    assert!(
        results.iter().any(|r| r.contains(output)),
        "no tool result with {output:?} reached Kiro: {results:?}\n{why}"
    );
    let tools = requests[0]
        .body
        .pointer("/conversationState/currentMessage/userInputMessage/userInputMessageContext/tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(
        tools
            .iter()
            .any(|t| t["toolSpecification"]["name"] == "Bash"),
        "{why}"
    );
    assert!(
        stdout.contains(&format!("after tool: {output}")),
        "the final answer is not in the output\n{why}"
    );

    proxy.stop();
    let rows = db_statuses(&proxy);
    assert!(
        rows.len() >= 2 && rows.iter().all(|(f, s)| f == "claude" && *s == 200),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_runs_a_tool_through_cursor() {
    let Some(claude) = std::env::var_os("SWITCHYARD_CLAUDE") else {
        println!("skipped: set SWITCHYARD_CLAUDE (cargo xtask ci does)");
        return;
    };
    let fake = FakeCursor::start().await;
    let model = "claude-opus-4-8";
    let mut proxy = Proxy::start(
        &config("p_cursor", "cursor", &fake.base_url(), "cursor-test", model),
        &[],
    );
    let home = scratch_dir("claude-cursor-home");
    let mut cmd = clean_command(Path::new(&claude), &home);
    cmd.args([
        "-p",
        "#tool=Bash run the scripted command",
        "--allowedTools",
        "Bash",
        "--model",
        model,
    ])
    .env("ANTHROPIC_BASE_URL", format!("http://{}", proxy.addr))
    .env("ANTHROPIC_API_KEY", CLIENT_KEY)
    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    .env("DISABLE_AUTOUPDATER", "1")
    .env("DISABLE_TELEMETRY", "1")
    .env("DISABLE_ERROR_REPORTING", "1")
    .env("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1")
    .env("CLAUDE_CODE_MAX_RETRIES", "0");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, CLIENT_TIMEOUT));
    let why = report("claude -p (cursor)", ok, &stdout, &stderr, &proxy);
    println!("claude -p printed: {stdout}");
    assert!(ok, "{why}");

    // Bash ran the fake's `echo hi`, and its output went back to Cursor as a tool result on
    // the assistant turn that made the call (decoded by the fake from protobuf).
    let requests = fake.requests();
    let results: Vec<&Value> = requests
        .iter()
        .flat_map(|r| r.body["messages"].as_array().into_iter().flatten())
        .flat_map(|m| m["tool_results"].as_array().into_iter().flatten())
        .collect();
    assert!(
        results
            .iter()
            .any(|r| r["name"] == "mcp_custom_Bash" && r["result"].to_string().contains("hi")),
        "no Bash result reached Cursor: {results:?}\n{why}"
    );
    assert!(
        requests[0].body["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash")),
        "{why}"
    );
    assert_eq!(requests[0].body["model"], "cursor-test", "{why}");
    assert!(
        stdout.contains("after tool:"),
        "the final answer is not in the output\n{why}"
    );

    proxy.stop();
    let rows = db_statuses(&proxy);
    assert!(
        rows.len() >= 2 && rows.iter().all(|(f, s)| f == "claude" && *s == 200),
        "{rows:?}"
    );
}

/// Codex's config for a provider at `addr`; `websocket` lets it speak the Responses API over
/// a WebSocket (the provider's `supports_websockets` and the feature switch).
fn codex_config(model: &str, addr: std::net::SocketAddr, websocket: bool) -> String {
    let (feature, provider) = if websocket {
        (
            "responses_websockets = true\n",
            "supports_websockets = true\n",
        )
    } else {
        ("", "")
    };
    format!(
        r#"model = "{model}"
model_provider = "switchyard"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
unbounded_connection_retries = false
{feature}
[model_providers.switchyard]
name = "switchyard"
base_url = "http://{addr}/v1"
env_key = "PROXY_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
{provider}"#
    )
}

/// Runs `codex exec` with a prompt that makes the fake call a tool, against Switchyard in
/// front of an Anthropic provider; returns the proxy (stopped), the fake and what Codex
/// printed, having checked that the tool ran and its output reached the provider.
async fn run_codex_tool_turn(codex: &std::ffi::OsStr, websocket: bool) -> (Proxy, FakeAnthropic) {
    let fake = FakeAnthropic::start().await;
    // A model from Codex's own catalog, so it sends its usual request.
    let model = "gpt-5.5";
    let mut proxy = Proxy::start(
        &config("p_claude", "claude", &fake.base_url(), "claude-test", model),
        &[],
    );
    let home = scratch_dir("codex-home");
    let codex_home = home.join("codex_home");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        codex_config(model, proxy.addr, websocket),
    )
    .unwrap();
    let mut cmd = clean_command(Path::new(codex), &home);
    cmd.args([
        "exec",
        "--skip-git-repo-check",
        "#tool=exec_command run the scripted command",
    ])
    .env("CODEX_HOME", &codex_home)
    .env("PROXY_API_KEY", CLIENT_KEY);
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, CLIENT_TIMEOUT));
    let why = report("codex exec", ok, &stdout, &stderr, &proxy);
    println!("codex exec printed: {stdout}");
    assert!(ok, "{why}");
    assert!(
        stdout.contains("after tool:"),
        "the final answer is not in the output\n{why}"
    );
    if websocket {
        assert!(
            !stderr.contains("Falling back from WebSockets"),
            "Codex fell back to HTTP\n{why}"
        );
    }

    // The tool really ran: the fake's `echo hi` came back as a tool result with Codex's
    // exit-status report.
    let requests = fake.requests();
    let tool_results: Vec<String> = requests
        .iter()
        .flat_map(|r| r.body["messages"].as_array().into_iter().flatten())
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_result")
        .map(|b| b["content"].to_string())
        .collect();
    assert!(
        tool_results
            .iter()
            .any(|c| c.contains("exited with code 0") && c.contains("hi")),
        "no tool result reached the provider: {tool_results:?}\n{why}"
    );
    assert!(
        requests.iter().all(|r| r.body["model"] == "claude-test"),
        "{why}"
    );
    proxy.stop();
    let rows = db_statuses(&proxy);
    assert!(
        rows.len() >= 2 && rows.iter().all(|(f, s)| f == "responses" && *s == 200),
        "{rows:?}"
    );
    (proxy, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_a_tool_through_an_anthropic_provider() {
    let Some(codex) = std::env::var_os("SWITCHYARD_CODEX") else {
        println!("skipped: set SWITCHYARD_CODEX (cargo xtask ci does)");
        return;
    };
    run_codex_tool_turn(&codex, false).await;
}

/// Codex with `supports_websockets`: every model turn comes over the WebSocket (the server
/// logs each as a WebSocket turn, one per usage row), none as a POST, and the tool round
/// trip works as over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_a_tool_over_a_websocket() {
    let Some(codex) = std::env::var_os("SWITCHYARD_CODEX") else {
        println!("skipped: set SWITCHYARD_CODEX (cargo xtask ci does)");
        return;
    };
    let (proxy, _fake) = run_codex_tool_turn(&codex, true).await;
    let rows = db_statuses(&proxy);
    let log = proxy.stderr();
    let turns = log.matches("responses turn over websocket").count();
    assert_eq!(
        turns,
        rows.len(),
        "a usage row not from the WebSocket\n{log}"
    );
}

/// Claude Code in front of an Anthropic API-key provider, the body passed through: the strict
/// fake refuses `context_management` and `output_config.effort` without their beta flags, so
/// the run succeeds only if Claude Code's own `anthropic-beta` reached it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_keeps_its_beta_flags_through_an_anthropic_provider() {
    let Some(claude) = std::env::var_os("SWITCHYARD_CLAUDE") else {
        println!("skipped: set SWITCHYARD_CLAUDE (cargo xtask ci does)");
        return;
    };
    let fake = FakeAnthropic::start().await;
    let model = "claude-opus-4-8";
    let mut proxy = Proxy::start(
        &config("p_anthropic", "claude", &fake.base_url(), model, model),
        &[],
    );
    let home = scratch_dir("claude-anthropic-home");
    let mut cmd = clean_command(Path::new(&claude), &home);
    cmd.args(["-p", "say hi", "--model", model])
        .env("ANTHROPIC_BASE_URL", format!("http://{}", proxy.addr))
        .env("ANTHROPIC_API_KEY", CLIENT_KEY)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, CLIENT_TIMEOUT));
    let why = report("claude -p (anthropic)", ok, &stdout, &stderr, &proxy);
    assert!(ok, "{why}");
    assert!(
        stdout.contains(switchyard_tester::fake_anthropic::REPLY),
        "{why}"
    );
    let requests = fake.requests();
    let first = &requests[0];
    let beta = first.headers["anthropic-beta"].to_str().unwrap().to_owned();
    for flag in ["claude-code-20250219", "context-management-2025-06-27"] {
        assert!(beta.split(',').any(|f| f.trim() == flag), "{beta}\n{why}");
    }
    assert!(first.body.get("context_management").is_some(), "{why}");
    assert_eq!(first.headers["x-api-key"], "sk-upstream-p_anthropic-0001");
    proxy.stop();
}

/// Claude Code asking for more output than the model can give: its own default `max_tokens`
/// (forced to 32000 here, as it sends for models it does not know) is above Claude 3.5
/// Haiku's 8192, which the strict fake refuses as Anthropic does. Switchyard lowers it to
/// the catalogue's maximum, so the run succeeds and the provider sees 8192.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_succeeds_with_a_model_whose_output_limit_is_below_its_default() {
    let Some(claude) = std::env::var_os("SWITCHYARD_CLAUDE") else {
        println!("skipped: set SWITCHYARD_CLAUDE (cargo xtask ci does)");
        return;
    };
    let fake = FakeAnthropic::start().await;
    let model = "claude-3-5-haiku-20241022";
    // An alias, so Claude Code cannot tell which model it is and sends its default.
    let mut proxy = Proxy::start(
        &config("p_small", "claude", &fake.base_url(), model, "team-small"),
        &[],
    );
    let home = scratch_dir("claude-small-output-home");
    let mut cmd = clean_command(Path::new(&claude), &home);
    cmd.args(["-p", "say hi", "--model", "team-small"])
        .env("ANTHROPIC_BASE_URL", format!("http://{}", proxy.addr))
        .env("ANTHROPIC_API_KEY", CLIENT_KEY)
        .env("ANTHROPIC_SMALL_FAST_MODEL", "team-small")
        .env("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "32000")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "0");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, CLIENT_TIMEOUT));
    let why = report(
        "claude -p (small output limit)",
        ok,
        &stdout,
        &stderr,
        &proxy,
    );
    assert!(ok, "{why}");
    assert!(
        stdout.contains(switchyard_tester::fake_anthropic::REPLY),
        "{why}"
    );
    let requests = fake.requests();
    let chat: Vec<_> = requests
        .iter()
        .filter(|r| r.body["model"] == model && r.body.get("messages").is_some())
        .collect();
    assert!(!chat.is_empty(), "{why}");
    for r in &chat {
        assert!(
            r.body["max_tokens"].as_u64().unwrap() <= 8192,
            "{}\n{why}",
            r.body
        );
    }
    // Claude Code's main request asked for more, and was lowered to exactly the limit.
    assert!(chat.iter().any(|r| r.body["max_tokens"] == 8192), "{why}");
    assert!(
        db_statuses(&proxy).iter().all(|(_, status)| *status == 200),
        "{:?}\n{why}",
        db_statuses(&proxy)
    );
    proxy.stop();
}
