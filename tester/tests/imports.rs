//! End to end: logins imported from the Kiro IDE (its token file and, for SSO, the client
//! registration beside it) and from the Cursor IDE (its `state.vscdb`) with
//! `switchyard import`, renewed by the real binary against the fake refresh services and
//! used against the fake Kiro and the fake Cursor; the renewed tokens survive a restart, and
//! a dead grant takes the account out of rotation.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::REPLY;
use switchyard_tester::fake_cursor::{
    CURSOR_CLIENT_ID, FakeCursor, FakeCursorAuth, SUBJECT, session_jwt,
};
use switchyard_tester::fake_kiro::{
    self, FakeKiro, FakeKiroAuth, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
};
use switchyard_tester::harness::{Proxy, run, scratch_dir};
use switchyard_tester::http_client::{Reply, post_json};

const CLIENT_KEY: &str = "sk-client-imports-0001";
/// What the provider options name; an account's own profile (from its refresh) wins.
const CONFIG_PROFILE: &str = "arn:aws:codewhisperer:us-east-1:123456789012:profile/CONFIG";
const CURSOR_MODEL: &str = "claude-4-sonnet";
const MACHINE_ID: &str = "3b9f0c2d4e6a8b1c3d5e7f9a0b2c4d6e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c";

fn cli(dir: &Path, args: &[&str]) -> String {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    let (ok, out, err) = run(dir, &full);
    assert!(ok, "switchyard {args:?} failed:\n{out}\n{err}");
    out
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

async fn ask(proxy: &Proxy, model: &str, text: &str) -> Reply {
    post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat(model, text),
    )
    .await
}

/// An account row as stored: (name, status, access, refresh, extra).
struct Row {
    name: String,
    status: String,
    access: String,
    refresh: Option<String>,
    extra: Value,
}

fn rows(db: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name, status, access_token, refresh_token, extra FROM accounts ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let extra: String = r.get(4)?;
        Ok(Row {
            name: r.get(0)?,
            status: r.get(1)?,
            access: r.get(2)?,
            refresh: r.get(3)?,
            extra: serde_json::from_str(&extra).unwrap(),
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn only_row(db: &Path) -> Row {
    let mut all = rows(db);
    assert_eq!(all.len(), 1);
    all.pop().unwrap()
}

fn assert_no_secrets(what: &str, text: &str, secrets: &[String]) {
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !text.contains(s.as_str()),
            "{what} leaks a secret ({}...):\n{text}",
            &s[..6]
        );
    }
}

// ---------------------------------------------------------------------------------------
// Kiro

fn kiro_config(kiro: &FakeKiro, auth: &FakeKiroAuth) -> String {
    format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "kiro"
kind = "kiro"
base_url = "{base}"
models = ["claude-sonnet-4.5"]
[providers.options]
profile_arn = "{CONFIG_PROFILE}"
social_refresh_url = "{social}"
oidc_token_url = "{oidc}"
"#,
        base = kiro.base_url(),
        social = auth.social_url(),
        oidc = auth.oidc_url(),
    )
}

/// An RFC 3339 time `secs` from now, as the Kiro IDE writes `expiresAt`.
fn rfc3339(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes the Kiro IDE's `~/.aws/sso/cache` files under `dir`: the token file, and for an
/// SSO login the client registration it names. Returns the token file's path.
fn kiro_files(dir: &Path, token: Value, registration: Option<(&str, Value)>) -> PathBuf {
    let cache = dir.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    if let Some((hash, reg)) = registration {
        std::fs::write(cache.join(format!("{hash}.json")), reg.to_string()).unwrap();
    }
    let path = cache.join("kiro-auth-token.json");
    std::fs::write(&path, serde_json::to_string_pretty(&token).unwrap()).unwrap();
    path
}

fn sso_token(refresh: &str) -> Value {
    json!({
        "accessToken": "aoaKiroSsoExpiredAccess0001",
        "refreshToken": refresh,
        "expiresAt": rfc3339(-3600),
        "authMethod": "IdC",
        "provider": "BuilderId",
        "region": "eu-west-1",
        "clientIdHash": "5f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
    })
}

fn sso_registration() -> (&'static str, Value) {
    (
        "5f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
        json!({"clientId": OIDC_CLIENT_ID, "clientSecret": OIDC_CLIENT_SECRET,
               "expiresAt": rfc3339(80 * 86_400)}),
    )
}

fn bearer(r: &switchyard_tester::fake_anthropic::Recorded) -> String {
    r.headers["authorization"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiro_social_import_renews_once_and_its_rotated_token_survives_a_restart() {
    let kiro = FakeKiro::start().await;
    let auth = FakeKiroAuth::start().await;
    // Renewed tokens expire within Kiro's refresh lead, so every start renews again.
    auth.state.ttl.store(60, Ordering::SeqCst);
    let expired = "aoaKiroSocialExpiredAccess0001";
    let refresh = "aorKiroSocialRefresh0001";
    auth.grant(refresh);
    let config = kiro_config(&kiro, &auth);
    let dir = scratch_dir("import-kiro-social");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let file = kiro_files(
        &dir,
        json!({"accessToken": expired, "refreshToken": refresh, "expiresAt": rfc3339(-3600),
               "authMethod": "social", "provider": "Github"}),
        None,
    );
    let out = cli(
        &dir,
        &[
            "import",
            "kiro",
            "--path",
            file.to_str().unwrap(),
            "--name",
            "me",
        ],
    );
    assert!(out.contains("account `me` of provider `kiro`"), "{out}");
    let listing = cli(&dir, &["accounts"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains("me") && l.contains("oauth") && l.contains("ago")),
        "{listing}"
    );

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, "kiro/claude-sonnet-4.5", "hello").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
    assert_eq!(auth.state.refreshes.load(Ordering::SeqCst), 1);
    let renewals = auth.state.requests.lock().unwrap().clone();
    assert_eq!(renewals.len(), 1, "exactly one renewal");
    assert_eq!(renewals[0].path, "/refreshToken");
    assert_eq!(renewals[0].body, json!({"refreshToken": refresh}));
    let sent = kiro.requests();
    assert_eq!(sent.len(), 1, "the expired token was never sent");
    assert_eq!(bearer(&sent[0]), "Bearer fake-access-1");
    assert_eq!(sent[0].body["profileArn"], fake_kiro::PROFILE_ARN);
    proxy.stop();
    let row = only_row(&proxy.db_path());
    assert_eq!(
        (row.access.as_str(), row.refresh.as_deref()),
        ("fake-access-1", Some("fake-refresh-1"))
    );
    assert_eq!(row.extra["profile_arn"], fake_kiro::PROFILE_ARN);
    assert_eq!(row.extra["auth_method"], "social");
    let first_log = proxy.stderr();

    // After a restart the stored, rotated refresh token renews again (the first one is spent).
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, "kiro/claude-sonnet-4.5", "again").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(auth.state.refreshes.load(Ordering::SeqCst), 2);
    let renewals = auth.state.requests.lock().unwrap().clone();
    assert_eq!(renewals[1].body, json!({"refreshToken": "fake-refresh-1"}));
    assert_eq!(bearer(&kiro.requests()[1]), "Bearer fake-access-2");
    proxy.stop();
    assert_eq!(
        only_row(&proxy.db_path()).refresh.as_deref(),
        Some("fake-refresh-2")
    );

    let secrets: Vec<String> = [expired, refresh, "fake-access-1", "fake-refresh-1"]
        .map(str::to_owned)
        .to_vec();
    assert_no_secrets("server log", &first_log, &secrets);
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
    assert_no_secrets("accounts output", &cli(&dir, &["accounts"]), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiro_sso_import_renews_through_its_regions_oidc_endpoint_with_the_registered_client() {
    let kiro = FakeKiro::start().await;
    let auth = FakeKiroAuth::start().await;
    let refresh = "aorKiroSsoRefresh0001";
    auth.grant(refresh);
    let config = kiro_config(&kiro, &auth);
    let dir = scratch_dir("import-kiro-sso");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let file = kiro_files(&dir, sso_token(refresh), Some(sso_registration()));
    // No --name: the file names no account, so it gets the provider's next free name.
    let out = cli(&dir, &["import", "kiro", "--path", file.to_str().unwrap()]);
    assert!(out.contains("account `kiro-1`"), "{out}");

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, "kiro/claude-sonnet-4.5", "hello").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
    let renewals = auth.state.requests.lock().unwrap().clone();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0].path, "/eu-west-1/token");
    assert_eq!(
        renewals[0].body,
        json!({"clientId": OIDC_CLIENT_ID, "clientSecret": OIDC_CLIENT_SECRET,
               "refreshToken": refresh, "grantType": "refresh_token"})
    );
    let sent = kiro.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(bearer(&sent[0]), "Bearer fake-access-1");
    // An SSO refresh names no profile: the provider's option fills in.
    assert_eq!(sent[0].body["profileArn"], CONFIG_PROFILE);
    proxy.stop();
    let row = only_row(&proxy.db_path());
    assert_eq!(row.name, "kiro-1");
    assert_eq!(row.refresh.as_deref(), Some("fake-refresh-1"));
    assert_eq!(row.extra["client_id"], OIDC_CLIENT_ID);
    assert_eq!(row.extra["region"], "eu-west-1");
    let listing = cli(&dir, &["accounts"]);
    assert_no_secrets(
        "accounts output",
        &listing,
        &[OIDC_CLIENT_SECRET.to_owned(), refresh.to_owned()],
    );
    assert_no_secrets(
        "server log",
        &proxy.stderr(),
        &[OIDC_CLIENT_SECRET.to_owned(), "fake-refresh-1".to_owned()],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_kiro_grant_marks_the_account_needs_login_once_and_for_good() {
    let kiro = FakeKiro::start().await;
    let auth = FakeKiroAuth::start().await;
    // The refresh token is never granted: the OIDC endpoint answers invalid_grant.
    let config = kiro_config(&kiro, &auth);
    let dir = scratch_dir("import-kiro-dead");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let file = kiro_files(
        &dir,
        sso_token("aorKiroRevokedRefresh0001"),
        Some(sso_registration()),
    );
    cli(
        &dir,
        &[
            "import",
            "kiro",
            "--path",
            file.to_str().unwrap(),
            "--name",
            "dead",
        ],
    );

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, "kiro/claude-sonnet-4.5", "one").await;
    assert_ne!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("needs a new login"), "{}", res.text());
    let res = ask(&proxy, "kiro/claude-sonnet-4.5", "two").await;
    assert_ne!(res.status, 200, "{}", res.text());
    assert_eq!(
        auth.state.requests.lock().unwrap().len(),
        1,
        "a dead grant is tried once, not on every request"
    );
    assert!(
        kiro.requests().is_empty(),
        "the expired token was never sent"
    );
    let listing = cli(&dir, &["accounts"]);
    let line = listing
        .lines()
        .find(|l| l.contains("dead"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains("needs_login"), "{listing}");
    assert!(line.contains("invalid_grant"), "{listing}");
    proxy.stop();
    assert_eq!(only_row(&proxy.db_path()).status, "needs_login");

    // A restart does not bring it back into rotation.
    let proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, "kiro/claude-sonnet-4.5", "three").await;
    assert_ne!(res.status, 200, "{}", res.text());
    eprintln!("after restart: {}", res.text());
    assert_eq!(auth.state.requests.lock().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// Cursor

fn cursor_config(cursor: &FakeCursor, auth: &FakeCursorAuth) -> String {
    format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "cursor"
kind = "cursor"
base_url = "{base}"
models = ["{CURSOR_MODEL}"]
[providers.options]
refresh_url = "{refresh}"
"#,
        base = cursor.base_url(),
        refresh = auth.refresh_url(),
    )
}

/// Cursor's `state.vscdb` as the IDE leaves it: the `ItemTable` of VS Code with the login
/// (the access token stored under both token keys), the cached e-mail and machine ids.
fn state_vscdb(dir: &Path, token: &str) -> PathBuf {
    let storage = dir.join("Cursor/User/globalStorage");
    std::fs::create_dir_all(&storage).unwrap();
    let path = storage.join("state.vscdb");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);")
        .unwrap();
    let rows: [(&str, rusqlite::types::Value); 7] = [
        ("cursorAuth/accessToken", token.to_owned().into()),
        ("cursorAuth/refreshToken", token.to_owned().into()),
        (
            "cursorAuth/cachedEmail",
            "dev@example.com".to_owned().into(),
        ),
        ("cursorAuth/cachedSignUpType", "Auth_0".to_owned().into()),
        (
            "storage.serviceMachineId",
            MACHINE_ID.as_bytes().to_vec().into(),
        ),
        ("telemetry.machineId", "f".repeat(64).into()),
        ("workbench.panel.width", "300".to_owned().into()),
    ];
    for (k, v) in rows {
        conn.execute(
            "INSERT INTO ItemTable (key, value) VALUES (?1, ?2)",
            rusqlite::params![k, v],
        )
        .unwrap();
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_import_renews_once_sends_the_files_machine_id_and_survives_a_restart() {
    let cursor = FakeCursor::start().await;
    let auth = FakeCursorAuth::start().await;
    // Renewed sessions expire within the refresh lead, so every start renews again.
    auth.state.ttl.store(60, Ordering::SeqCst);
    let expired = session_jwt(SUBJECT, -3600, 0);
    auth.grant(&expired);
    let config = cursor_config(&cursor, &auth);
    let dir = scratch_dir("import-cursor");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    let db = state_vscdb(&dir, &expired);
    let out = cli(&dir, &["import", "cursor", "--path", db.to_str().unwrap()]);
    assert!(out.contains("account `dev@example.com`"), "{out}");

    let model = format!("cursor/{CURSOR_MODEL}");
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, &model, "hello").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
    assert_eq!(auth.state.refreshes.load(Ordering::SeqCst), 1);
    let renewals = auth.state.requests.lock().unwrap().clone();
    assert_eq!(renewals.len(), 1, "exactly one renewal");
    assert_eq!(
        renewals[0].body,
        json!({"grant_type": "refresh_token", "client_id": CURSOR_CLIENT_ID, "refresh_token": expired})
    );
    let sent = cursor.requests();
    assert_eq!(sent.len(), 1, "the expired token was never sent");
    let first = auth.state.issued()[0].clone();
    assert_eq!(sent[0].body["token"], first.as_str());
    // The machine id came from the imported file (the config names none).
    assert_eq!(sent[0].body["machine_id"], MACHINE_ID);
    proxy.stop();
    let row = only_row(&proxy.db_path());
    assert_eq!(row.name, "dev@example.com");
    assert_eq!(row.access, first);
    assert_eq!(row.refresh.as_deref(), Some(first.as_str()));
    assert_eq!(row.extra["machine_id"], MACHINE_ID);
    let first_log = proxy.stderr();

    // After a restart the stored session renews again; the imported one is spent.
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, &model, "again").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(auth.state.refreshes.load(Ordering::SeqCst), 2);
    let renewals = auth.state.requests.lock().unwrap().clone();
    assert_eq!(renewals[1].body["refresh_token"], first.as_str());
    let stored = {
        proxy.stop();
        only_row(&proxy.db_path()).access
    };
    assert_ne!(stored, first);
    let sent = cursor.requests();
    assert_eq!(sent[1].body["token"], stored.as_str());
    assert_eq!(sent[1].body["machine_id"], MACHINE_ID);

    let mut secrets = auth.state.issued();
    secrets.push(expired.clone());
    assert_no_secrets("server log", &first_log, &secrets);
    assert_no_secrets("server log", &proxy.stderr(), &secrets);
    assert_no_secrets("accounts output", &cli(&dir, &["accounts"]), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cursor_session_marks_the_account_needs_login() {
    let cursor = FakeCursor::start().await;
    let auth = FakeCursorAuth::start().await;
    let config = cursor_config(&cursor, &auth);
    let dir = scratch_dir("import-cursor-dead");
    std::fs::write(dir.join("config.toml"), &config).unwrap();
    // Never granted: the renewal is answered invalid_grant.
    let db = state_vscdb(&dir, &session_jwt(SUBJECT, -60, 0));
    cli(&dir, &["import", "cursor", "--path", db.to_str().unwrap()]);

    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);
    let res = ask(&proxy, &format!("cursor/{CURSOR_MODEL}"), "hello").await;
    assert_ne!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("needs a new login"), "{}", res.text());
    assert_eq!(auth.state.requests.lock().unwrap().len(), 1);
    assert!(cursor.requests().is_empty());
    let listing = cli(&dir, &["accounts"]);
    assert!(
        listing
            .lines()
            .any(|l| l.contains("dev@example.com") && l.contains("needs_login")),
        "{listing}"
    );
    proxy.stop();
}

#[test]
fn imports_name_what_they_cannot_read() {
    let dir = scratch_dir("import-errors");
    std::fs::write(
        dir.join("config.toml"),
        "[[providers]]\nname = \"kiro\"\nkind = \"kiro\"\nbase_url = \"http://127.0.0.1:9\"\n\n[[providers]]\nname = \"cursor\"\nkind = \"cursor\"\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let fail = |args: &[&str]| {
        let mut full = vec!["--config", "config.toml"];
        full.extend_from_slice(args);
        let (ok, out, err) = run(&dir, &full);
        assert!(!ok, "{args:?} succeeded:\n{out}");
        err
    };
    // An SSO login whose client registration is missing.
    let file = kiro_files(&dir, sso_token("r"), None);
    let err = fail(&["import", "kiro", "--path", file.to_str().unwrap()]);
    assert!(
        err.contains("5f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6.json"),
        "{err}"
    );
    // Not a database.
    let junk = dir.join("state.vscdb");
    std::fs::write(&junk, "not sqlite at all, just text").unwrap();
    let err = fail(&["import", "cursor", "--path", junk.to_str().unwrap()]);
    assert!(err.contains("state.vscdb"), "{err}");
    // A database without a login.
    let empty = dir.join("empty.vscdb");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);")
        .unwrap();
    let err = fail(&["import", "cursor", "--path", empty.to_str().unwrap()]);
    assert!(err.contains("sign in to Cursor"), "{err}");
    // `login` points Kiro and Cursor users at the import.
    let err = fail(&["login", "kiro"]);
    assert!(err.contains("switchyard import kiro"), "{err}");
    let err = fail(&["login", "cursor"]);
    assert!(err.contains("switchyard import cursor"), "{err}");
}
