//! Providers through the management API, against the real binary and two fake OpenAI
//! upstreams: a provider created through the API serves at once, is tested with one
//! request (recorded), changed, kept across a restart and deleted; the file's providers
//! are refused on change; a definition the config file would refuse is refused with the
//! reason; and no answer carries a key.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::sync::Mutex;

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{FakeOpenAi, Fault};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{Reply, post_json, request};

const ADMIN: &str = "sk-providers-admin-0001";
const CLIENT: &str = "sk-providers-client-0001";
const FILE_KEY: &str = "sk-providers-file-key-0001";
const API_KEY: &str = "sk-providers-api-key-0001";

fn config(fake: &FakeOpenAi) -> String {
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[[client_keys]]
id = "tests"
key = "{CLIENT}"

[[providers]]
name = "p"
base_url = "{}"
models = ["m"]
[[providers.accounts]]
name = "a1"
api_key = "{FILE_KEY}"
"#,
        fake.base_url()
    )
}

/// Calls the API with the admin key and keeps every answer for the secret check.
struct Admin<'a> {
    proxy: &'a Proxy,
    seen: &'a Mutex<Vec<String>>,
}

impl Admin<'_> {
    async fn expect(&self, method: &str, path: &str, body: &Value, status: u16) -> Value {
        let auth = format!("Bearer {ADMIN}");
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let res = request(
            method,
            &self.proxy.url(path),
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            text,
        )
        .await;
        self.seen.lock().unwrap().push(res.text());
        assert_eq!(res.status, status, "{method} {path}: {}", res.text());
        res.json()
    }
}

async fn ask(proxy: &Proxy, model: &str) -> Reply {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    post_json(&proxy.url("/v1/chat/completions"), CLIENT, &body).await
}

fn keys_at(fake: &FakeOpenAi) -> Vec<String> {
    fake.keys_seen()
}

#[tokio::test]
async fn a_provider_made_through_the_api_serves_at_once_and_is_kept_tested_changed_and_deleted() {
    let a = FakeOpenAi::start().await;
    let b = FakeOpenAi::start().await;
    let cfg = config(&a);
    let mut proxy = Proxy::start(&cfg, &[]);
    let seen = Mutex::new(Vec::new());
    let admin = Admin {
        proxy: &proxy,
        seen: &seen,
    };

    // Not there yet: the model is unknown.
    assert_eq!(ask(&proxy, "q/m1").await.status, 404);
    let definition = json!({
        "name": "q",
        "kind": "openai",
        "base_url": b.base_url(),
        "models": ["m1"],
        "accounts": [{"name": "k1", "api_key": API_KEY}],
    });
    let made = admin
        .expect("POST", "/api/providers", &definition, 201)
        .await;
    assert_eq!(made["source"], "database");
    assert_eq!(made["in_force"], true);
    assert_eq!(made["accounts"][0]["key"], "sk-p***");
    let served = ask(&proxy, "q/m1").await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(keys_at(&b), [API_KEY]);

    // The list holds the file's provider (read only) and the stored one.
    let list = admin
        .expect("GET", "/api/providers", &Value::Null, 200)
        .await;
    let names: Vec<(&str, &str)> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["source"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("p", "file"), ("q", "database")]);

    // A test is one real request, recorded like any other.
    let test = admin
        .expect("POST", "/api/providers/q/test", &Value::Null, 200)
        .await;
    assert_eq!(test["ok"], true, "{test}");
    assert_eq!(test["status"], 200);
    assert_eq!(test["model"], "m1");
    assert!(test["latency_ms"].is_u64());
    let asked = b.requests().last().unwrap().body.clone();
    assert_eq!(asked["max_tokens"], 16);
    let id = test["request_id"].as_str().unwrap();
    let mut row = Value::Null;
    for _ in 0..100 {
        let res = request(
            "GET",
            &proxy.url(&format!("/api/requests/{id}")),
            &[("authorization", &format!("Bearer {ADMIN}"))],
            String::new(),
        )
        .await;
        if res.status == 200 {
            row = res.json();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(row["provider"], "q", "the test's usage row: {row}");
    // A failing provider is a test result, not an API error.
    b.script(API_KEY, [Fault::Status(401, Vec::new())]);
    let failed = admin
        .expect("POST", "/api/providers/q/test", &Value::Null, 200)
        .await;
    assert_eq!(failed["ok"], false, "{failed}");
    assert_ne!(failed["status"], 200);
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()));
    // The refused key set the account aside, as a client's request would; reset it.
    admin
        .expect(
            "POST",
            "/api/accounts/reset",
            &json!({"provider": "q"}),
            200,
        )
        .await;

    // Changed: another upstream and model, in force at once.
    let changed = json!({
        "kind": "openai",
        "base_url": a.base_url(),
        "models": ["m2"],
        "accounts": [{"name": "k1", "api_key": API_KEY}],
    });
    let updated = admin.expect("PUT", "/api/providers/q", &changed, 200).await;
    assert_eq!(updated["models"], json!(["m2"]));
    let before_a = a.requests().len();
    assert_eq!(ask(&proxy, "q/m2").await.status, 200);
    assert_eq!(a.requests().len(), before_a + 1);

    // Refusals: the file's provider, a taken name, a renaming PUT, an unknown field, a bad
    // URL, an unknown kind, a missing provider.
    let file_edit = admin.expect("PUT", "/api/providers/p", &changed, 409).await;
    assert_eq!(file_edit["error"]["code"], "defined_in_file");
    admin
        .expect("DELETE", "/api/providers/p", &Value::Null, 409)
        .await;
    admin
        .expect(
            "POST",
            "/api/providers",
            &json!({"name": "p", "base_url": a.base_url()}),
            409,
        )
        .await;
    admin
        .expect("POST", "/api/providers", &definition, 409)
        .await;
    admin
        .expect(
            "PUT",
            "/api/providers/q",
            &json!({"name": "other", "base_url": a.base_url()}),
            400,
        )
        .await;
    let unknown = admin
        .expect(
            "POST",
            "/api/providers",
            &json!({"name": "r", "base_url": a.base_url(), "modles": ["x"]}),
            400,
        )
        .await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("modles"),
        "{unknown}"
    );
    let bad_url = admin
        .expect(
            "POST",
            "/api/providers",
            &json!({"name": "r", "base_url": "not a url"}),
            400,
        )
        .await;
    assert!(
        bad_url["error"]["message"]
            .as_str()
            .unwrap()
            .contains("base_url"),
        "{bad_url}"
    );
    let bad_kind = admin
        .expect(
            "POST",
            "/api/providers",
            &json!({"name": "r", "kind": "nope", "base_url": a.base_url()}),
            400,
        )
        .await;
    assert!(
        bad_kind["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{bad_kind}"
    );
    admin
        .expect("GET", "/api/providers/none", &Value::Null, 404)
        .await;
    admin
        .expect("POST", "/api/providers/none/test", &Value::Null, 404)
        .await;

    // Kept across a restart.
    proxy.stop();
    let proxy = Proxy::start_in(proxy.dir.clone(), &cfg, &[]);
    let admin = Admin {
        proxy: &proxy,
        seen: &seen,
    };
    assert_eq!(ask(&proxy, "q/m2").await.status, 200);

    // Deleted: gone at once.
    let gone = admin
        .expect("DELETE", "/api/providers/q", &Value::Null, 200)
        .await;
    assert_eq!(gone["name"], "q");
    assert_eq!(ask(&proxy, "q/m2").await.status, 404);
    admin
        .expect("GET", "/api/providers/q", &Value::Null, 404)
        .await;

    // Every change is in the audit log.
    let audit = admin.expect("GET", "/api/audit", &Value::Null, 200).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("provider."))
        .collect();
    assert_eq!(
        actions,
        ["provider.delete", "provider.update", "provider.create"],
        "{audit}"
    );

    for answer in seen.lock().unwrap().iter() {
        for secret in [API_KEY, FILE_KEY, ADMIN, CLIENT] {
            assert!(!answer.contains(secret), "a secret leaked in {answer}");
        }
    }
}

/// Routing and timeout settings changed through the API apply to the next request, survive
/// a reload of the file, and give the key back to the file when set to null.
#[tokio::test]
async fn settings_changed_through_the_api_apply_at_once_and_outlive_a_file_reload() {
    let a = FakeOpenAi::start().await;
    let cfg = config(&a);
    let proxy = Proxy::start(&cfg, &[]);
    let seen = Mutex::new(Vec::new());
    let admin = Admin {
        proxy: &proxy,
        seen: &seen,
    };
    let value = |view: &Value, key: &str| -> (Value, Value) {
        let s = view["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap();
        (s["value"].clone(), s["source"].clone())
    };

    // A stalled upstream is waited for under the default total timeout...
    a.script(
        FILE_KEY,
        [Fault::Stall(std::time::Duration::from_millis(1_500))],
    );
    assert_eq!(ask(&proxy, "p/m").await.status, 200);
    // ...and cut at 500 ms once the API says so.
    let changed = admin
        .expect(
            "PATCH",
            "/api/settings",
            &json!({"timeouts.total_ms": 500, "routing.sticky_limit": 7}),
            200,
        )
        .await;
    assert_eq!(
        value(&changed, "timeouts.total_ms"),
        (json!(500), json!("database"))
    );
    assert_eq!(
        value(&changed, "routing.sticky_limit"),
        (json!(7), json!("database"))
    );
    a.script(
        FILE_KEY,
        [Fault::Stall(std::time::Duration::from_millis(1_500))],
    );
    let cut = ask(&proxy, "p/m").await;
    assert_eq!(cut.status, 504, "{}", cut.text());

    // A file change is taken in and the stored settings stay over it.
    let edited = format!("{cfg}\n[aliases]\nfast = \"p/m\"\n");
    std::fs::write(proxy.dir.join("config.toml"), edited).unwrap();
    let mut reloaded = false;
    for _ in 0..100 {
        if ask(&proxy, "fast").await.status == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        reloaded,
        "the file change was not taken in: {}",
        proxy.stderr()
    );
    let after_reload = admin
        .expect("GET", "/api/settings", &Value::Null, 200)
        .await;
    assert_eq!(value(&after_reload, "timeouts.total_ms").0, json!(500));
    assert_eq!(after_reload["reload"]["last_source"], "file");

    // Refused: a key the API does not change, a value that does not fit.
    let listen = admin
        .expect(
            "PATCH",
            "/api/settings",
            &json!({"server.listen": "0.0.0.0:1"}),
            400,
        )
        .await;
    assert!(
        listen["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.listen")
    );
    admin
        .expect(
            "PATCH",
            "/api/settings",
            &json!({"routing.sticky_limit": 0}),
            400,
        )
        .await;
    admin
        .expect(
            "PATCH",
            "/api/settings",
            &json!({"routing.backoff_base_ms": 999_999_999}),
            400,
        )
        .await;

    // Null gives the key back to the file (its default here).
    let back = admin
        .expect(
            "PATCH",
            "/api/settings",
            &json!({"timeouts.total_ms": null}),
            200,
        )
        .await;
    assert_ne!(value(&back, "timeouts.total_ms").1, json!("database"));
    a.script(
        FILE_KEY,
        [Fault::Stall(std::time::Duration::from_millis(1_500))],
    );
    assert_eq!(ask(&proxy, "p/m").await.status, 200);

    let audit = admin.expect("GET", "/api/audit", &Value::Null, 200).await;
    let updates = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "settings.update")
        .count();
    assert_eq!(updates, 2, "{audit}");
}

/// A catalogue entry set through the API prices and limits the next request, is kept across
/// a restart, and when removed the model is unpriced again.
#[tokio::test]
async fn a_model_entry_set_through_the_api_prices_and_limits_the_next_request() {
    let a = FakeOpenAi::start().await;
    let cfg = config(&a).replace("[server]\n", "[server]\ncost_header = true\n");
    let mut proxy = Proxy::start(&cfg, &[]);
    let seen = Mutex::new(Vec::new());
    let admin = Admin {
        proxy: &proxy,
        seen: &seen,
    };
    let cost = |reply: &Reply| {
        reply
            .headers
            .get("x-switchyard-cost-usd")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let asked = |max_tokens: u64| json!({"model": "p/m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]});
    let chat = |body: Value| {
        let url = proxy.url("/v1/chat/completions");
        async move { post_json(&url, CLIENT, &body).await }
    };

    // Unknown to the catalogue: no price, nothing clamped.
    let before = chat(asked(500)).await;
    assert_eq!(cost(&before), "unknown");
    assert_eq!(a.requests().last().unwrap().body["max_tokens"], 500);

    let entry = json!({
        "kinds": ["openai"], "context": 1000, "max_output": 100,
        "input": 1.0, "output": 2.0, "checked": "2026-12-07", "source": "test",
    });
    let set = admin.expect("PUT", "/api/models/m", &entry, 200).await;
    assert_eq!(set["origin"], "api");
    assert_eq!(set["prices"]["output"], 2.0);
    let priced = chat(asked(500)).await;
    assert_eq!(priced.status, 200, "{}", priced.text());
    let usd: f64 = cost(&priced).parse().unwrap();
    assert!(usd > 0.0, "{}", cost(&priced));
    assert_eq!(a.requests().last().unwrap().body["max_tokens"], 100);
    let listed = admin
        .expect("GET", "/api/models/m", &Value::Null, 200)
        .await;
    assert_eq!(listed["max_output"], 100);

    // Refused: an entry the catalogue would refuse, a shipped entry removed here.
    admin
        .expect("PUT", "/api/models/m", &json!({"context": 1000}), 400)
        .await;
    let shipped = admin.expect("GET", "/api/models", &Value::Null, 200).await;
    let shipped_id = shipped["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["origin"] == "catalogue")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .expect(
            "DELETE",
            &format!("/api/models/{shipped_id}"),
            &Value::Null,
            409,
        )
        .await;

    // Kept across a restart.
    proxy.stop();
    let proxy = Proxy::start_in(proxy.dir.clone(), &cfg, &[]);
    let admin = Admin {
        proxy: &proxy,
        seen: &seen,
    };
    let url = proxy.url("/v1/chat/completions");
    let kept = post_json(&url, CLIENT, &asked(500)).await;
    assert_ne!(cost(&kept), "unknown");

    // Removed: unpriced again.
    admin
        .expect("DELETE", "/api/models/m", &Value::Null, 200)
        .await;
    let after = post_json(&url, CLIENT, &asked(500)).await;
    assert_eq!(cost(&after), "unknown");
    admin
        .expect("DELETE", "/api/models/m", &Value::Null, 404)
        .await;
}
