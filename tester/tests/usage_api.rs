//! The usage API against the real binary and the fake OpenAI upstream: what goes through the
//! proxy shows in the request log (`GET /api/requests`, `/api/requests/{id}`) with the
//! fields it had, and in `GET /api/usage/aggregate` with the right counts; pages give every
//! row once while rows keep arriving; filters narrow both; a request's debug-log files are
//! listed and readable (and hold no secret); bad queries, keys, ids and file names are
//! refused.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{COMPLETION_TOKENS, FakeOpenAi, Fault, PROMPT_TOKENS};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{Reply, post_json, request};

const UPSTREAM: &str = "sk-usage-api-upstream-0001";
const CLIENT_ONE: &str = "sk-usage-api-client-one-01";
const CLIENT_TWO: &str = "sk-usage-api-client-two-02";
const ADMIN: &str = "sk-usage-api-admin-key-001";

fn config(fake: &FakeOpenAi, debug_logs: bool) -> String {
    let base = fake.base_url();
    format!(
        r#"
[server]
admin_key = "{ADMIN}"

[debug_logs]
enabled = {debug_logs}

[[client_keys]]
id = "one"
key = "{CLIENT_ONE}"

[[client_keys]]
id = "two"
key = "{CLIENT_TWO}"

[[providers]]
name = "p"
base_url = "{base}"
[[providers.accounts]]
name = "a1"
api_key = "{UPSTREAM}"
"#
    )
}

async fn admin_get(proxy: &Proxy, path: &str) -> Reply {
    let auth = format!("Bearer {ADMIN}");
    request("GET", &proxy.url(path), &[("authorization", &auth)], "").await
}

async fn ok_json(proxy: &Proxy, path: &str) -> Value {
    let res = admin_get(proxy, path).await;
    assert_eq!(res.status, 200, "{path}: {}", res.text());
    res.json()
}

/// A chat completion with `key`; returns the answer's status and request id.
async fn chat(proxy: &Proxy, key: &str, model: &str) -> (u16, String) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let res = post_json(&proxy.url("/v1/chat/completions"), key, &body).await;
    let id = res.headers["x-request-id"].to_str().unwrap().to_owned();
    (res.status.as_u16(), id)
}

/// Waits until the log holds `n` rows (the writer records a moment after each request).
async fn wait_rows(proxy: &Proxy, n: usize) {
    let start = Instant::now();
    loop {
        let page = ok_json(proxy, "/api/requests?limit=500").await;
        let have = page["requests"].as_array().unwrap().len();
        if have >= n {
            assert_eq!(have, n, "more rows than requests: {page}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{have} of {n} rows: {page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect()
}

fn sum(aggregate: &Value, field: &str) -> u64 {
    aggregate["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[field].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn requests_show_in_the_log_and_the_aggregates_with_their_fields_and_counts() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, false), &[]);
    let mut answered = Vec::new();
    for _ in 0..3 {
        answered.push(chat(&proxy, CLIENT_ONE, "p/m1").await);
    }
    for _ in 0..2 {
        answered.push(chat(&proxy, CLIENT_TWO, "p/m2").await);
    }
    // A 400 from upstream is answered as it is, not retried: one failed row.
    fake.script(UPSTREAM, [Fault::Status(400, vec![])]);
    answered.push(chat(&proxy, CLIENT_TWO, "p/m2").await);
    let statuses: Vec<u16> = answered.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 400]);
    wait_rows(&proxy, 6).await;

    // Newest first, exactly the requests made.
    let page = ok_json(&proxy, "/api/requests").await;
    let mut newest_first: Vec<String> = answered.iter().map(|a| a.1.clone()).collect();
    newest_first.reverse();
    assert_eq!(ids(&page), newest_first);
    assert_eq!(page["next_cursor"], Value::Null);

    // One request's full row.
    let row = ok_json(&proxy, &format!("/api/requests/{}", answered[0].1)).await;
    assert_eq!(row["request_id"], answered[0].1.as_str());
    assert_eq!(row["client_key"], "one");
    assert_eq!(row["client_format"], "openai");
    assert_eq!(row["provider"], "p");
    assert_eq!(row["account"], "a1");
    assert_eq!(row["model"], "p/m1");
    assert_eq!(row["upstream_model"], "m1");
    assert_eq!(row["status"], 200);
    assert_eq!(row["stream"], false);
    assert_eq!(row["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(row["completion_tokens"], COMPLETION_TOKENS);
    assert_eq!(row["cached_tokens"], 3);
    assert_eq!(row["attempts"], 1);
    assert!(row["latency_ms"].as_f64().unwrap() > 0.0, "{row}");
    let failed = ok_json(&proxy, &format!("/api/requests/{}", answered[5].1)).await;
    assert_eq!(
        (failed["status"].as_u64(), failed["client_key"].as_str()),
        (Some(400), Some("two"))
    );
    assert!(failed["error_class"].is_string(), "{failed}");

    // Filters on the log.
    let two = ok_json(&proxy, "/api/requests?client_key=two").await;
    assert_eq!(ids(&two), newest_first[..3]);
    let errors = ok_json(&proxy, "/api/requests?errors=true").await;
    assert_eq!(ids(&errors), [answered[5].1.clone()]);
    let m1_ok = ok_json(
        &proxy,
        "/api/requests?model=p/m1&status=200&provider=p&account=a1",
    )
    .await;
    assert_eq!(ids(&m1_ok), newest_first[3..]);
    let future = ok_json(&proxy, "/api/requests?from=2999-01-01T00:00:00Z").await;
    assert_eq!(ids(&future), Vec::<String>::new());
    let none = ok_json(&proxy, "/api/requests?client_format=claude").await;
    assert_eq!(ids(&none), Vec::<String>::new());

    aggregates_count_them(&proxy).await;
}

/// The six requests of the test above (five answered, one 400) in the aggregates: the
/// hourly rollup and the minute buckets read from the rows agree.
async fn aggregates_count_them(proxy: &Proxy) {
    for bucket in ["minute", "hour", "day"] {
        let all = ok_json(proxy, &format!("/api/usage/aggregate?bucket={bucket}")).await;
        assert_eq!(all["bucket"], bucket);
        assert_eq!(sum(&all, "requests"), 6, "{all}");
        assert_eq!(sum(&all, "errors"), 1, "{all}");
        assert_eq!(sum(&all, "prompt_tokens"), 5 * PROMPT_TOKENS, "{all}");
        assert_eq!(
            sum(&all, "completion_tokens"),
            5 * COMPLETION_TOKENS,
            "{all}"
        );
        assert_eq!(sum(&all, "cached_tokens"), 15, "{all}");
    }
    let grouped = ok_json(
        proxy,
        "/api/usage/aggregate?bucket=day&group_by=client_key,status",
    )
    .await;
    let mut groups: Vec<(String, u64, u64)> = grouped["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["group"]["client_key"].as_str().unwrap().to_owned(),
                b["group"]["status"].as_u64().unwrap(),
                b["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            ("one".into(), 200, 3),
            ("two".into(), 200, 2),
            ("two".into(), 400, 1)
        ]
    );
    let filtered = ok_json(
        proxy,
        "/api/usage/aggregate?bucket=hour&model=p/m2&errors=false",
    )
    .await;
    assert_eq!(sum(&filtered, "requests"), 2, "{filtered}");
    let ranged = ok_json(
        proxy,
        "/api/usage/aggregate?bucket=hour&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
    )
    .await;
    assert_eq!(ranged["buckets"], json!([]));
    assert_eq!(ranged["from"], "2020-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn pages_return_every_row_once_while_new_rows_arrive() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, false), &[]);
    let mut before: HashSet<String> = HashSet::new();
    for i in 0..23 {
        let key = if i % 2 == 0 { CLIENT_ONE } else { CLIENT_TWO };
        before.insert(chat(&proxy, key, "p/m").await.1);
    }
    wait_rows(&proxy, 23).await;
    let mut seen = Vec::new();
    let mut during = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/requests?limit=4&cursor={c}"),
            None => "/api/requests?limit=4".into(),
        };
        let page = ok_json(&proxy, &path).await;
        seen.extend(ids(&page));
        // A row written between pages is newer than the first page: it must not shift or
        // repeat what the next pages hold.
        during.insert(chat(&proxy, CLIENT_ONE, "p/m").await.1);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a row came twice: {seen:?}");
    assert_eq!(
        unique, before,
        "pages must hold exactly the rows there at the first page"
    );
    assert!(during.is_disjoint(&unique));
    // The ones written meanwhile are there for the next first page.
    wait_rows(&proxy, 23 + during.len()).await;
}

#[tokio::test]
async fn a_requests_debug_files_are_listed_and_readable_without_secrets() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, true), &[]);
    let (status, id) = chat(&proxy, CLIENT_ONE, "p/m1").await;
    assert_eq!(status, 200);
    wait_rows(&proxy, 1).await;
    // The debug files are written by their own thread, a moment after the row.
    let start = Instant::now();
    let listing = loop {
        let res = admin_get(&proxy, &format!("/api/requests/{id}/debug")).await;
        if res.status == 200 {
            break res.json();
        }
        assert_eq!(res.status, 404, "{}", res.text());
        assert!(start.elapsed() < Duration::from_secs(10), "{}", res.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listing["request_id"], id.as_str());
    let folder = listing["folder"].as_str().unwrap();
    assert!(folder.ends_with(&id[..8]), "{listing}");
    let names: Vec<&str> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"1_req_client.json"), "{listing}");
    for file in listing["files"].as_array().unwrap() {
        let name = file["name"].as_str().unwrap();
        let res = admin_get(&proxy, &format!("/api/requests/{id}/debug/{name}")).await;
        assert_eq!(res.status, 200, "{name}: {}", res.text());
        assert_eq!(
            res.body.len() as u64,
            file["bytes"].as_u64().unwrap(),
            "{name}"
        );
        let on_disk = std::fs::read(proxy.logs_dir().join(folder).join(name)).unwrap();
        assert_eq!(res.body, on_disk, "{name}");
        let text = res.text();
        for secret in [CLIENT_ONE, UPSTREAM, ADMIN] {
            assert!(!text.contains(secret), "{name} shows a secret: {text}");
        }
    }
    let first = ok_json(
        &proxy,
        &format!("/api/requests/{id}/debug/1_req_client.json"),
    )
    .await;
    assert_eq!(first["body"]["model"], "p/m1", "{first}");
    // Nothing outside the folder can be named.
    for (name, status) in [
        ("..%2F..%2Fconfig.toml", 400),
        ("%2E%2E", 400),
        (".hidden", 400),
        ("no_such_file.json", 404),
    ] {
        let res = admin_get(&proxy, &format!("/api/requests/{id}/debug/{name}")).await;
        assert_eq!(res.status, status, "{name}: {}", res.text());
    }
    let res = admin_get(
        &proxy,
        &format!("/api/requests/{id}/debug/../../config.toml"),
    )
    .await;
    assert_eq!(res.status, 404, "{}", res.text());
    assert!(!res.text().contains("admin_key"), "{}", res.text());
}

#[tokio::test]
async fn bad_queries_keys_ids_and_methods_are_refused() {
    let fake = FakeOpenAi::start().await;
    let proxy = Proxy::start(&config(&fake, false), &[]);
    let (_, id) = chat(&proxy, CLIENT_ONE, "p/m1").await;
    wait_rows(&proxy, 1).await;
    for (key, path) in [
        (None, "/api/requests"),
        (Some(CLIENT_ONE), "/api/requests"),
        (Some("wrong"), "/api/usage/aggregate"),
    ] {
        let auth = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let res = request("GET", &proxy.url(path), &headers, "").await;
        assert_eq!(res.status, 401, "{path}: {}", res.text());
    }
    for (path, code) in [
        ("/api/usage/aggregate?bucket=week", "invalid_bucket"),
        ("/api/usage/aggregate?group_by=colour", "invalid_group_by"),
        ("/api/usage/aggregate?from=yesterday", "invalid_time"),
        (
            "/api/usage/aggregate?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "invalid_range",
        ),
        (
            "/api/usage/aggregate?bucket=minute&from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z",
            "too_many_buckets",
        ),
        ("/api/usage/aggregate?status=ok", "invalid_query"),
        ("/api/usage/aggregate?colour=red", "invalid_query"),
        ("/api/requests?cursor=abc", "invalid_cursor"),
        ("/api/requests?limit=-1", "invalid_query"),
        ("/api/requests?errors=maybe", "invalid_query"),
        ("/api/requests/not!an!id", "invalid_request_id"),
    ] {
        let res = admin_get(&proxy, path).await;
        assert_eq!(res.status, 400, "{path}: {}", res.text());
        assert_eq!(res.json()["error"]["code"], code, "{path}: {}", res.text());
    }
    for path in [
        "/api/requests/0123456789abcdef0123456789abcdef".to_owned(),
        // Debug logs are off: the request exists, its debug folder does not.
        format!("/api/requests/{id}/debug"),
        format!("/api/requests/{id}/debug/1_req_client.json"),
    ] {
        let res = admin_get(&proxy, &path).await;
        assert_eq!(res.status, 404, "{path}: {}", res.text());
    }
    let auth = format!("Bearer {ADMIN}");
    let res = request(
        "POST",
        &proxy.url("/api/requests"),
        &[("authorization", &auth)],
        "{}",
    )
    .await;
    assert_eq!(res.status, 405, "{}", res.text());
    assert_eq!(res.headers["allow"], "GET");
}
