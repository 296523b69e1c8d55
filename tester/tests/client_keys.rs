//! Stored client keys against the real binary: made through `/api/keys` or `switchyard keys`,
//! used by clients at once, listed with their secret masked (the secret is in the create
//! answer and nowhere else, not even the database file), revoked or expired with a 401 in
//! the client's own format, limited like the config file's keys.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::{Proxy, run};
use switchyard_tester::http_client::{Reply, post_json, request};

const FILE_KEY: &str = "sk-file-client-key-0001";
const ADMIN: &str = "sk-admin-key-client-keys";
const UPSTREAM: &str = "sk-upstream-account-0001";

fn config(fake: &FakeOpenAi) -> String {
    let base = fake.base_url();
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "from-file"
key = "{FILE_KEY}"

[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a1"
api_key = "{UPSTREAM}"
"#
    )
}

async fn admin(proxy: &Proxy, method: &str, path: &str, body: &str) -> Reply {
    let auth = format!("Bearer {ADMIN}");
    request(
        method,
        &proxy.url(path),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_owned(),
    )
    .await
}

/// Creates a key through the API: (id, secret).
async fn create(proxy: &Proxy, body: Value) -> (String, String) {
    let res = admin(proxy, "POST", "/api/keys", &body.to_string()).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let v = res.json();
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("sk-sy-") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(v["key"]["source"], "database", "{v}");
    assert_eq!(v["key"]["status"], "active", "{v}");
    (v["key"]["id"].as_str().unwrap().to_owned(), secret)
}

async fn chat(proxy: &Proxy, key: &str) -> Reply {
    let body = json!({"model": "p/m1", "messages": [{"role": "user", "content": "hi"}]});
    post_json(&proxy.url("/v1/chat/completions"), key, &body).await
}

/// A Messages request as the Anthropic SDKs send it: the key in `x-api-key`.
async fn claude(proxy: &Proxy, key: &str) -> Reply {
    let body = json!({"model": "p/m1", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]});
    request(
        "POST",
        &proxy.url("/v1/messages"),
        &[
            ("x-api-key", key),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut full = vec!["--config", "config.toml"];
    full.extend_from_slice(args);
    run(dir, &full)
}

/// Whether `needle` occurs anywhere in the bytes of the database and its WAL.
fn in_database_files(proxy: &Proxy, needle: &str) -> bool {
    let db = proxy.db_path();
    let dir = db.parent().unwrap();
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

/// Sends requests with `key` until one gets `status`; returns how long that took.
async fn until_status(proxy: &Proxy, key: &str, status: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let res = chat(proxy, key).await;
        if res.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still {} after {limit:?}: {}",
            res.status,
            res.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_made_through_the_api_serves_and_its_secret_is_shown_only_once() {
    let fake = FakeOpenAi::start().await;
    let mut proxy = Proxy::start(&config(&fake), &[]);
    let (id, secret) = create(
        &proxy,
        json!({"name": "ci bot", "limits": {"tokens_per_day": 1000000}}),
    )
    .await;

    let res = chat(&proxy, &secret).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(claude(&proxy, &secret).await.status, 200);
    assert_eq!(
        chat(&proxy, FILE_KEY).await.status,
        200,
        "file keys still work"
    );
    assert_eq!(chat(&proxy, "sk-sy-not-a-key").await.status, 401);

    let list = admin(&proxy, "GET", "/api/keys", "").await;
    assert_eq!(list.status, 200, "{}", list.text());
    let keys = list.json()["keys"].as_array().unwrap().clone();
    let file = keys.iter().find(|k| k["id"] == "from-file").unwrap();
    assert_eq!(file["source"], "file");
    // The mask every management answer uses: the first four characters, then `***`.
    assert_eq!(file["display"], "sk-f***");
    let mine = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(mine["name"], "ci bot");
    let last4 = &secret[secret.len() - 4..];
    assert_eq!(mine["display"], format!("sk-sy-****{last4}"));
    assert_eq!(mine["limits"]["tokens_per_day"], 1000000);
    assert!(mine["created_at"].is_string(), "{mine}");
    assert!(
        mine["usage"]["tokens_today"].as_u64().unwrap() > 0,
        "the limit counters count the key's tokens: {mine}"
    );
    assert_eq!(
        mine["usage"]["tokens_today"],
        mine["usage"]["tokens_this_month"]
    );

    // No answer but the create one shows the secret (nor the file key's).
    let one = admin(&proxy, "GET", &format!("/api/keys/{id}"), "").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["id"], id.as_str());
    let audit = admin(&proxy, "GET", "/api/audit", "").await;
    assert!(
        audit.text().contains("client_key.create"),
        "{}",
        audit.text()
    );
    for res in [&list, &one, &audit] {
        assert!(!res.text().contains(&secret), "{}", res.text());
        assert!(!res.text().contains(FILE_KEY), "{}", res.text());
    }

    proxy.stop();
    assert!(!proxy.stderr().contains(&secret));
    assert!(
        !in_database_files(&proxy, &secret),
        "the secret is in the database"
    );
    assert!(
        in_database_files(&proxy, last4),
        "the check can see the file's text"
    );
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM usage WHERE client_key = ?1 AND status = 200",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 2, "usage rows carry the stored key's id");
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_in_the_clients_own_format() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    let (id, secret) = create(&proxy, json!({"name": "laptop"})).await;
    assert_eq!(chat(&proxy, &secret).await.status, 200);

    let res = admin(&proxy, "POST", &format!("/api/keys/{id}/revoke"), "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], "revoked");
    let revoked_at = res.json()["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{}", res.text());

    let res = chat(&proxy, &secret).await;
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.json()["error"]["message"], "key revoked");
    assert_eq!(res.json()["error"]["type"], "authentication_error");
    let res = claude(&proxy, &secret).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["type"], "error", "Anthropic's error shape");
    assert_eq!(res.json()["error"]["message"], "key revoked");

    // Revoking again changes nothing; DELETE revokes too; a revoked key is not changed.
    let again = admin(&proxy, "DELETE", &format!("/api/keys/{id}"), "").await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["revoked_at"],
        revoked_at,
        "revoked once, at the first time"
    );
    let patch = admin(
        &proxy,
        "PATCH",
        &format!("/api/keys/{id}"),
        r#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(patch.status, 409, "{}", patch.text());
    let (other, other_secret) = create(&proxy, json!({"name": "other"})).await;
    let res = admin(&proxy, "DELETE", &format!("/api/keys/{other}"), "").await;
    assert_eq!(res.status, 200);
    assert_eq!(chat(&proxy, &other_secret).await.status, 401);
    let audit = admin(&proxy, "GET", "/api/audit", "").await.json();
    let revokes = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "client_key.revoke")
        .count();
    assert_eq!(revokes, 2, "one entry per key revoked: {audit}");
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);

    // One that runs out by itself.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (_, secret) = create(
        &proxy,
        json!({"name": "short", "expires_at": soon.to_rfc3339()}),
    )
    .await;
    assert_eq!(chat(&proxy, &secret).await.status, 200);
    until_status(&proxy, &secret, 401, Duration::from_secs(10)).await;
    let res = chat(&proxy, &secret).await;
    assert_eq!(
        res.json()["error"]["message"],
        "key expired",
        "{}",
        res.text()
    );

    // One whose expiry is moved into the past, then removed.
    let (id, secret) = create(&proxy, json!({"name": "later", "expires_at": "2999-01-01"})).await;
    assert_eq!(chat(&proxy, &secret).await.status, 200);
    let path = format!("/api/keys/{id}");
    let res = admin(
        &proxy,
        "PATCH",
        &path,
        r#"{"expires_at": "2020-01-01T00:00:00Z"}"#,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["status"], "expired");
    let res = chat(&proxy, &secret).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["message"], "key expired");
    let res = admin(&proxy, "PATCH", &path, r#"{"expires_at": null}"#).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.json()["expires_at"].is_null());
    assert_eq!(chat(&proxy, &secret).await.status, 200);
}

#[tokio::test]
async fn a_stored_keys_requests_per_minute_are_enforced_and_can_be_changed() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    let (id, secret) = create(
        &proxy,
        json!({"name": "limited", "limits": {"requests_per_minute": 2}}),
    )
    .await;
    assert_eq!(chat(&proxy, &secret).await.status, 200);
    assert_eq!(chat(&proxy, &secret).await.status, 200);
    let res = chat(&proxy, &secret).await;
    assert_eq!(res.status, 429, "{}", res.text());
    assert!(res.headers.contains_key("retry-after"));
    assert!(
        res.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 requests per minute"),
        "{}",
        res.text()
    );
    // Another key is not limited by this one's use.
    assert_eq!(chat(&proxy, FILE_KEY).await.status, 200);

    let res = admin(
        &proxy,
        "PATCH",
        &format!("/api/keys/{id}"),
        r#"{"limits": {"requests_per_minute": 3}, "name": "less limited"}"#,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["limits"]["requests_per_minute"], 3);
    assert_eq!(res.json()["name"], "less limited");
    assert_eq!(chat(&proxy, &secret).await.status, 200);
    assert_eq!(chat(&proxy, &secret).await.status, 429);
}

#[tokio::test]
async fn a_key_made_with_the_cli_is_served_by_a_running_server_within_a_second() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    let (ok, out, err) = cli(
        &proxy.dir,
        &[
            "keys",
            "create",
            "script",
            "--rpm",
            "50",
            "--expires",
            "2999-12-31",
        ],
    );
    assert!(ok, "{out}{err}");
    let secret = out
        .split_whitespace()
        .find(|w| w.starts_with("sk-sy-"))
        .unwrap()
        .to_owned();
    let id = out
        .split('`')
        .nth(1)
        .filter(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();
    let took = until_status(&proxy, &secret, 200, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");

    let (ok, list, _) = cli(&proxy.dir, &["keys", "list"]);
    assert!(ok);
    assert!(list.contains(&id) && list.contains("from-file"), "{list}");
    assert!(
        !list.contains(&secret) && !list.contains(FILE_KEY),
        "{list}"
    );
    let api = admin(&proxy, "GET", &format!("/api/keys/{id}"), "")
        .await
        .json();
    assert_eq!(api["limits"]["requests_per_minute"], 50);
    assert_eq!(api["expires_at"], "2999-12-31T00:00:00+00:00");

    let (ok, out, err) = cli(&proxy.dir, &["keys", "revoke", &id]);
    assert!(ok, "{out}{err}");
    let took = until_status(&proxy, &secret, 401, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let (ok, _, err) = cli(&proxy.dir, &["keys", "revoke", "from-file"]);
    assert!(!ok && err.contains("config file"), "{err}");
    let (ok, _, err) = cli(&proxy.dir, &["keys", "create", "   "]);
    assert!(!ok && err.contains("name"), "{err}");
    assert!(!in_database_files(&proxy, &secret));
}

#[tokio::test]
async fn bad_bodies_unknown_ids_and_file_keys_are_refused() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake), &[]);
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"name": ""}"#,
        r#"{"name": 5}"#,
        r#"{"name": "x", "secret": "sk-sy-mine"}"#,
        r#"{"name": "x", "limits": {"rpm": 1}}"#,
        r#"{"name": "x", "limits": {"requests_per_minute": 0}}"#,
        r#"{"name": "x", "limits": {"tokens_per_day": -1}}"#,
        r#"{"name": "x", "expires_at": "tomorrow"}"#,
    ] {
        let res = admin(&proxy, "POST", "/api/keys", body).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text());
        assert!(res.json()["error"]["message"].is_string(), "{body}");
    }
    let (id, _) = create(&proxy, json!({"name": "real"})).await;
    for body in ["{}", r#"{"limits": 3}"#, r#"{"expires_at": "soon"}"#] {
        let res = admin(&proxy, "PATCH", &format!("/api/keys/{id}"), body).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text());
    }
    for (method, path) in [
        ("GET", "/api/keys/key_000000000000"),
        ("PATCH", "/api/keys/key_000000000000"),
        ("DELETE", "/api/keys/key_000000000000"),
        ("POST", "/api/keys/key_000000000000/revoke"),
    ] {
        let res = admin(&proxy, method, path, r#"{"name": "x"}"#).await;
        assert_eq!(res.status, 404, "{method} {path}: {}", res.text());
    }
    let file = admin(&proxy, "GET", "/api/keys/from-file", "").await;
    assert_eq!(file.json()["source"], "file");
    for (method, path) in [
        ("PATCH", "/api/keys/from-file"),
        ("DELETE", "/api/keys/from-file"),
        ("POST", "/api/keys/from-file/revoke"),
    ] {
        let res = admin(&proxy, method, path, r#"{"name": "x"}"#).await;
        assert_eq!(res.status, 409, "{method} {path}: {}", res.text());
    }
    assert_eq!(chat(&proxy, FILE_KEY).await.status, 200);
    let res = admin(&proxy, "PUT", "/api/keys", "").await;
    assert_eq!(res.status, 405);
    let res = request(
        "GET",
        &proxy.url("/api/keys"),
        &[("authorization", "Bearer x")],
        "",
    )
    .await;
    assert_eq!(res.status, 401);
    let doc = request("GET", &proxy.url("/api/openapi.json"), &[], "")
        .await
        .json();
    for path in ["/api/keys", "/api/keys/{id}", "/api/keys/{id}/revoke"] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} not in the OpenAPI document"
        );
    }
}
