//! The dashboard in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven by Selenium from `tester/conformance/dashboard_browser.py`, through
//! every page and action against the real binary and a fake provider: sign in, see a request
//! the openai SDK makes appear in the live tail, open its translation inspector, reset an
//! account cooled by a 2-hour hint (and see the next request served by it), create, reorder,
//! edit and delete a combo and an alias (each change followed by the next SDK request), add an
//! API-key account and import a Codex login file in the page, and complete a device-code
//! login (entering the code on the fake GitHub's page) from it, with accessible
//! names, keyboard navigation and no console errors checked on each page. Screenshots go to
//! `target/screenshots/dashboard/`. Needs `$SWITCHYARD_PYTHON` (with selenium), as the SDK
//! tests do.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use switchyard_tester::fake_oauth::{BodyStyle, FakeOAuth, Flavor, OAuthConfig};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::fake_subscriptions::{FakeCodex, FakeCopilot};
use switchyard_tester::harness::{Proxy, run_with_timeout};
use switchyard_tester::http_client::post_json;

const K1: &str = "sk-dashboard-account-01";
const K2: &str = "sk-dashboard-account-02";
const CLIENT: &str = "sk-dashboard-client-key";
const ADMIN: &str = "sk-dashboard-admin-key1";
/// The key of the account added in the page.
const ADDED: &str = "sk-dashboard-added-in-page-01";

/// The OAuth side: GitHub's device login for Copilot, OpenAI's for Codex (whose login
/// file the page imports).
struct Logins {
    github: FakeOAuth,
    copilot: FakeCopilot,
    openai: FakeOAuth,
    codex: FakeCodex,
}

impl Logins {
    async fn start() -> Logins {
        let github = FakeOAuth::start(OAuthConfig::new(
            "Iv1.test-client",
            BodyStyle::Form,
            Flavor::GitHub,
        ))
        .await;
        let copilot = FakeCopilot::start(github.state.clone()).await;
        copilot.state.ttl.store(1800, Ordering::SeqCst);
        let mut codex_oauth = OAuthConfig::new("app_test", BodyStyle::Form, Flavor::OpenAi);
        codex_oauth.id_claims = json!({"email": "dev@example.com",
            "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}});
        let openai = FakeOAuth::start(codex_oauth).await;
        let codex = FakeCodex::start(openai.state.clone(), "acct-1").await;
        Logins {
            github,
            copilot,
            openai,
            codex,
        }
    }

    fn config(&self) -> String {
        format!(
            r#"
[[providers]]
name = "gh"
kind = "copilot"
base_url = "{copilot}"
models = ["gpt-4.1"]
[providers.options]
github_url = "{gh}"
github_api_url = "{copilot}"
client_id = "Iv1.test-client"

[[providers]]
name = "cx"
kind = "codex"
base_url = "{codex}"
models = ["gpt-5-codex"]
[providers.options]
auth_url = "{auth}"
token_url = "{token}"
client_id = "app_test"
redirect_uri = "http://localhost:0/auth/callback"
"#,
            copilot = self.copilot.url(),
            gh = self.github.url(""),
            codex = self.codex.base_url(),
            auth = self.openai.url("/authorize"),
            token = self.openai.url("/token"),
        )
    }

    /// A Codex `auth.json` holding a live login, as the page's import takes it.
    fn codex_file(&self) -> String {
        let (access, refresh, id_token, _) = self.openai.state.issue(3600);
        json!({"OPENAI_API_KEY": null, "tokens": {"id_token": id_token,
            "access_token": access, "refresh_token": refresh, "account_id": "acct-1"}})
        .to_string()
    }
}

fn config(fake: &FakeOpenAi, logins: &Logins) -> String {
    let base = fake.base_url();
    let oauth = logins.config();
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[debug_logs]
enabled = true

[[client_keys]]
id = "browser"
key = "{CLIENT}"

[[providers]]
name = "p"
base_url = "{base}"
models = ["m1", "m2"]
[[providers.accounts]]
name = "a1"
api_key = "{K1}"
[[providers.accounts]]
name = "a2"
api_key = "{K2}"
priority = 1

[[providers]]
name = "s"
base_url = "{base}"
models = ["m1"]
{oauth}
[[combos]]
name = "duo"
targets = ["p/m1", "p/m2"]
"#
    )
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/dashboard_browser.py")
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/dashboard")
}

async fn ask(proxy: &Proxy) -> u16 {
    let body = json!({"model": "p/m1", "messages": [{"role": "user", "content": "hi"}]});
    post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body)
        .await
        .status
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_page_works_in_a_real_browser() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let fake = FakeOpenAi::start().await;
    let logins = Logins::start().await;
    // One value from the environment, for the settings page to name its source.
    let proxy = Proxy::start(
        &config(&fake, &logins),
        &[("SWITCHYARD_CONNECT_TIMEOUT_MS", "4000")],
    );

    // a1 answers 429 with a 2-hour hint: the request is served by a2 and a1 cools.
    fake.script(
        K1,
        [Fault::Status(429, vec![("retry-after", "7200".into())])],
    );
    assert_eq!(ask(&proxy).await, 200);
    assert_eq!(fake.keys_seen(), [K1, K2]);

    // Screenshots from an earlier run must not stand in for this run's.
    let _ = std::fs::remove_dir_all(screenshots());
    let mut cmd = Command::new(python);
    cmd.arg(script())
        .arg(format!("http://{}", proxy.addr))
        .arg(ADMIN)
        .arg(CLIENT)
        .arg(screenshots())
        .env("DASHBOARD_ADDED_KEY", ADDED)
        .env("DASHBOARD_CODEX_FILE", logins.codex_file())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (_, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(300)));
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON report ({e}).\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "browser checks failed:\n{}\npassed: {}",
        serde_json::to_string_pretty(failures).unwrap(),
        report["checks"]
    );
    assert!(report["checks"].as_array().unwrap().len() >= 25, "{report}");
    // The account added in the page served the SDK's request with its key.
    assert!(
        fake.keys_seen().iter().any(|k| k == ADDED),
        "{:?}",
        fake.keys_seen()
    );

    // The reset done in the browser put a1 back first in line.
    let before = fake.keys_seen().len();
    assert_eq!(ask(&proxy).await, 200);
    assert_eq!(fake.keys_seen()[before..], [K1]);
    for page in [
        "01-login",
        "02-overview",
        "03-requests",
        "04-inspector",
        "05-accounts",
        "06-routing",
        "07-keys",
        "08-connect",
        "09-settings",
        "10-accounts-added",
    ] {
        assert!(screenshots().join(format!("{page}.png")).exists(), "{page}");
    }
}

/// The Providers page (`tester/conformance/dashboard_providers.py`): a provider created in the
/// page's form against a fake upstream, tested (latency shown), its model list fetched, used
/// by the openai SDK, edited (its key kept) and deleted; the file's provider read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_page_creates_tests_and_deletes_a_provider() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    const MADE: &str = "sk-providers-made-in-page-01";
    let fake = FakeOpenAi::start().await;
    let base = fake.base_url();
    let proxy = Proxy::start(
        &format!(
            r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "browser"
key = "{CLIENT}"

[[providers]]
name = "p"
base_url = "{base}"
models = ["m1"]
[[providers.accounts]]
name = "a1"
api_key = "sk-providers-file-key-01"
"#
        ),
        &[],
    );
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/providers");
    let _ = std::fs::remove_dir_all(&shots);
    let mut cmd = Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/dashboard_providers.py"))
        .arg(format!("http://{}", proxy.addr))
        .arg(ADMIN)
        .arg(CLIENT)
        .arg(&shots)
        .env("DASHBOARD_FAKE_URL", &base)
        .env("DASHBOARD_ADDED_KEY", MADE)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (_, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(180)));
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON report ({e}).\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "browser checks failed:\n{}\npassed: {}",
        serde_json::to_string_pretty(failures).unwrap(),
        report["checks"]
    );
    assert!(report["checks"].as_array().unwrap().len() >= 14, "{report}");
    // The test and both SDK requests went upstream with the page's key (the edit kept it),
    // and nothing after the delete.
    let made: Vec<_> = fake
        .requests()
        .iter()
        .filter(|r| {
            r.headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {MADE}"))
        })
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(made, ["/v1/chat/completions"; 3], "{made:?}");
    assert!(shots.join("11-providers.png").exists());
}
