//! End to end: the real binary between a client and the fake OpenAI-compatible provider.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_openai::{COMPLETION_TOKENS, FakeOpenAi, PROMPT_TOKENS, REPLY};
use switchyard_tester::harness::{Proxy, run, scratch_dir};
use switchyard_tester::http_client::{next_data, post_json, request, send, sse_data};

const CLIENT_KEY: &str = "sk-client-key-0001";
const UPSTREAM_KEY: &str = "sk-upstream-key-0001";

fn config(base_url: &str, accounts: &[&str]) -> String {
    let mut c = format!(
        r#"
[[client_keys]]
id = "tests"
key = "{CLIENT_KEY}"

[[providers]]
name = "fake"
base_url = "{base_url}"
models = ["gpt-test"]
"#
    );
    for (i, env) in accounts.iter().enumerate() {
        c.push_str(&format!(
            "[[providers.accounts]]\nname = \"acct{i}\"\napi_key_env = \"{env}\"\n"
        ));
    }
    c.push_str("\n[aliases]\nquick = \"fake/gpt-test\"\n");
    c
}

async fn setup(env: &[(&str, &str)]) -> (FakeOpenAi, Proxy) {
    let fake = FakeOpenAi::start().await;
    let mut vars = vec![("FAKE_KEY", UPSTREAM_KEY)];
    vars.extend_from_slice(env);
    let proxy = Proxy::start(&config(&fake.base_url(), &["FAKE_KEY"]), &vars);
    (fake, proxy)
}

fn chat(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})
}

fn rows(proxy: &Proxy) -> Vec<Value> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT request_id, client_key, client_format, provider, account, requested_model, upstream_model,
                    stream, status, error_class, prompt_tokens, completion_tokens, cached_tokens, tokens_estimated,
                    latency_ms, ttfb_ms FROM usage ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(json!({
            "request_id": r.get::<_, String>(0)?, "client_key": r.get::<_, Option<String>>(1)?,
            "client_format": r.get::<_, String>(2)?, "provider": r.get::<_, Option<String>>(3)?,
            "account": r.get::<_, Option<String>>(4)?, "requested_model": r.get::<_, String>(5)?,
            "upstream_model": r.get::<_, Option<String>>(6)?, "stream": r.get::<_, bool>(7)?,
            "status": r.get::<_, i64>(8)?, "error_class": r.get::<_, Option<String>>(9)?,
            "prompt": r.get::<_, i64>(10)?, "completion": r.get::<_, i64>(11)?, "cached": r.get::<_, i64>(12)?,
            "estimated": r.get::<_, bool>(13)?, "latency_ms": r.get::<_, f64>(14)?, "ttfb_ms": r.get::<_, Option<f64>>(15)?,
        }))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_round_trip_is_recorded() {
    let (fake, mut proxy) = setup(&[]).await;
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("fake/gpt-test", "hi", false),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["choices"][0]["message"]["content"], REPLY);
    let request_id = res.headers["x-request-id"].to_str().unwrap().to_owned();

    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body["model"], "gpt-test");
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );

    // An alias and a bare listed model resolve to the same place.
    for model in ["quick", "gpt-test"] {
        let res = post_json(
            &proxy.url("/v1/chat/completions"),
            CLIENT_KEY,
            &chat(model, "hi", false),
        )
        .await;
        assert_eq!(res.status, 200, "{model}: {}", res.text());
    }

    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!(r["request_id"], request_id);
    assert_eq!(r["client_key"], "tests");
    assert_eq!(r["client_format"], "openai");
    assert_eq!(r["provider"], "fake");
    assert_eq!(r["account"], "acct0");
    assert_eq!(r["requested_model"], "fake/gpt-test");
    assert_eq!(r["upstream_model"], "gpt-test");
    assert_eq!(r["status"], 200);
    assert_eq!(r["prompt"], PROMPT_TOKENS);
    assert_eq!(r["completion"], COMPLETION_TOKENS);
    assert_eq!(r["cached"], 3);
    assert_eq!(r["estimated"], false);
    assert!(r["ttfb_ms"].as_f64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_reaches_the_client_while_upstream_holds_it_open() {
    let (fake, mut proxy) = setup(&[]).await;
    let body = chat("fake/gpt-test", "#hold #chunks=3", true).to_string();
    let auth = format!("Bearer {CLIENT_KEY}");
    let res = send(
        "POST",
        &proxy.url("/v1/chat/completions"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    // The fake has sent its first two events and now waits: they must already be here.
    let mut seen = String::new();
    while !seen.contains("tok0") {
        let data = next_data(&mut body).await.expect("stream ended early");
        seen.push_str(std::str::from_utf8(&data).unwrap());
    }
    assert!(!seen.contains("[DONE]"));
    fake.release();
    while let Some(data) = next_data(&mut body).await {
        seen.push_str(std::str::from_utf8(&data).unwrap());
    }
    let events = sse_data(&seen);
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    assert_eq!(events.last().unwrap(), "[DONE]");
    // The proxy asked for usage on the client's behalf, and hides the usage chunk.
    assert_eq!(
        fake.requests()[0].body["stream_options"]["include_usage"],
        true
    );
    assert!(!seen.contains("\"usage\":{"), "{seen}");
    let text: String = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "tok0 tok1 tok2 ");

    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows[0]["stream"], true);
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["prompt"], PROMPT_TOKENS);
    assert_eq!(rows[0]["estimated"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_chunk_goes_to_clients_that_ask_and_is_estimated_when_missing() {
    let (_fake, mut proxy) = setup(&[]).await;
    let mut body = chat("fake/gpt-test", "#chunks=2", true);
    body["stream_options"] = json!({"include_usage": true});
    let res = post_json(&proxy.url("/v1/chat/completions"), CLIENT_KEY, &body).await;
    let events = sse_data(&res.text());
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], PROMPT_TOKENS);

    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("fake/gpt-test", "#nousage #chunks=4", true),
    )
    .await;
    assert!(res.text().ends_with("data: [DONE]\n\n"));

    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows[0]["completion"], COMPLETION_TOKENS);
    assert_eq!(rows[0]["estimated"], false);
    assert_eq!(rows[1]["estimated"], true);
    assert!(rows[1]["completion"].as_i64().unwrap() > 0);
    assert!(rows[1]["prompt"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_the_upstream_and_is_recorded() {
    let (fake, mut proxy) = setup(&[]).await;
    // Many events after the hold, so the fake keeps writing until it notices the reader left.
    let body = chat("fake/gpt-test", "#hold #chunks=400 #delay=2", true).to_string();
    let auth = format!("Bearer {CLIENT_KEY}");
    let res = send(
        "POST",
        &proxy.url("/v1/chat/completions"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    let mut body = res.into_body();
    next_data(&mut body).await.unwrap();
    drop(body);
    fake.release();
    let start = Instant::now();
    while fake.state.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "upstream stream was never cancelled"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(fake.state.completed_streams.load(Ordering::SeqCst), 0);
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], 499);
    assert_eq!(rows[0]["error_class"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_is_recorded_with_the_tokens_it_was_sent() {
    let (fake, mut proxy) = setup(&[]).await;
    let auth = format!("Bearer {CLIENT_KEY}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let text = "#hold #chunks=400 #delay=2 and a prompt long enough to count";
    // Passthrough (OpenAI both sides), then translated (an Anthropic client).
    let requests = [
        ("/v1/chat/completions", chat("fake/gpt-test", text, true)),
        (
            "/v1/messages",
            json!({"model": "fake/gpt-test", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": text}]}),
        ),
    ];
    for (n, (path, body)) in requests.iter().enumerate() {
        let res = send("POST", &proxy.url(path), &h, body.to_string()).await;
        assert_eq!(res.status(), 200);
        let mut body = res.into_body();
        // A few chunks, up to the first words of the answer.
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("tok0") {
            seen.extend_from_slice(&next_data(&mut body).await.unwrap());
        }
        drop(body);
        fake.release();
        let start = Instant::now();
        while fake.state.cancelled.load(Ordering::SeqCst) <= n {
            assert!(start.elapsed() < Duration::from_secs(10), "never cancelled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(
            (r["status"].as_i64(), r["error_class"].as_str()),
            (Some(499), Some("cancelled")),
            "{r}"
        );
        assert!(r["prompt"].as_i64().unwrap() > 0, "{r}");
        assert!(r["completion"].as_i64().unwrap() > 0, "{r}");
        assert_eq!(r["estimated"], true, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_and_are_recorded() {
    let (_fake, mut proxy) = setup(&[("SWITCHYARD_BODY_LIMIT", "2000")]).await;
    let url = proxy.url("/v1/chat/completions");
    let auth = format!("Bearer {CLIENT_KEY}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("bad json", "{\"model\": ".into(), 400, "not valid JSON"),
        ("not an object", "[1,2]".into(), 400, "JSON object"),
        ("missing model", json!({"messages": [{"role": "user", "content": "x"}]}).to_string(), 400, "`model`"),
        ("model wrong type", json!({"model": 5, "messages": []}).to_string(), 400, "`model` must be a string"),
        ("missing messages", json!({"model": "fake/gpt-test"}).to_string(), 400, "`messages`"),
        ("stream wrong type", json!({"model": "fake/gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}).to_string(), 400, "`stream`"),
        ("unknown model", chat("nope/nothing", "x", false).to_string(), 404, "nope/nothing"),
        ("path trick", chat("../../etc", "x", false).to_string(), 400, "not allowed"),
        ("too large", chat("fake/gpt-test", &"x".repeat(5000), false).to_string(), 413, "limit"),
    ];
    for (name, body, status, needle) in &cases {
        let res = request("POST", &url, &h, body.clone()).await;
        assert_eq!(res.status, *status, "{name}: {}", res.text());
        let err = res.json();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{name}: {err}"
        );
        assert!(err["error"]["type"].is_string(), "{name}: {err}");
    }

    let res = request(
        "POST",
        &url,
        &[("content-type", "application/json")],
        chat("fake/gpt-test", "x", false).to_string(),
    )
    .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["type"], "authentication_error");
    let res = post_json(
        &url,
        "sk-wrong-key-000000",
        &chat("fake/gpt-test", "x", false),
    )
    .await;
    assert_eq!(res.status, 401);
    let res = request("GET", &proxy.url("/v1/nothing"), &h, "").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"]["code"], "unknown_route");
    let res = request("GET", &url, &h, "").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.headers["allow"], "POST");

    let res = request("GET", &proxy.url("/v1/models"), &h, "").await;
    let models = res.json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fake/gpt-test", "quick"]);

    proxy.stop();
    let rows = rows(&proxy);
    // Every proxied request is recorded, failures included.
    assert_eq!(rows.len(), cases.len() + 2);
    assert!(rows.iter().all(|r| r["status"].as_i64().unwrap() >= 400));
    assert_eq!(rows[6]["error_class"], "not_found");
    assert_eq!(rows[6]["requested_model"], "nope/nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_pass_through_and_fallback_tries_the_next_account() {
    let fake = FakeOpenAi::start().await;
    let mut proxy = Proxy::start(
        &config(&fake.base_url(), &["REVOKED_KEY", "GOOD_KEY"]),
        &[
            ("REVOKED_KEY", "sk-revoked-key-0001"),
            ("GOOD_KEY", UPSTREAM_KEY),
        ],
    );
    let url = proxy.url("/v1/chat/completions");
    // The first account is refused; the second answers, twice over (rotation included).
    for _ in 0..2 {
        let res = post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", "hi", false)).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // A request the provider rejects as malformed is not retried elsewhere.
    let before = fake.requests().len();
    let res = post_json(
        &url,
        CLIENT_KEY,
        &json!({"model": "fake/gpt-test", "messages": [{"role": "tool", "content": "x"}]}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tool_call_id")
    );
    assert!(fake.requests().len() - before <= 2);
    // A rate limit passes through with its status and body, and a Retry-After saying when
    // the first account is back (the revoked one cools for 1 s, this one for its 7 s hint).
    let res = post_json(
        &url,
        CLIENT_KEY,
        &chat("fake/gpt-test", "#status=429 #retry-after=7", false),
    )
    .await;
    assert_eq!(res.status, 429);
    let after: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=7).contains(&after), "{after}");
    assert_eq!(res.json()["error"]["message"], "scripted failure 429");
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows[0]["account"], "acct1");
    assert_eq!(rows[3]["status"], 429);
    assert_eq!(rows[3]["error_class"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_a_clear_502_and_a_reset_stream_ends_with_an_error_event() {
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake.base_url(), &["FAKE_KEY"]).replace("[aliases]", &format!(
        "[[providers]]\nname = \"dead\"\nbase_url = \"http://{dead}/v1\"\n[[providers.accounts]]\nname = \"a\"\napi_key = \"sk-dead-key-000001\"\n\n[aliases]"
    ));
    let mut proxy = Proxy::start(&cfg, &[("FAKE_KEY", UPSTREAM_KEY)]);
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("dead/m", "hi", false),
    )
    .await;
    assert_eq!(res.status, 502);
    assert!(
        res.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the upstream"),
        "{}",
        res.text()
    );

    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("fake/gpt-test", "#reset #chunks=5", true),
    )
    .await;
    assert_eq!(res.status, 200);
    let events = sse_data(&res.text());
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broke off"),
        "{last}"
    );
    assert!(!events.contains(&"[DONE]".to_owned()));
    proxy.stop();
    let rows = rows(&proxy);
    assert_eq!(rows[0]["status"], 502);
    assert_eq!(rows[1]["status"], 502);
    assert_eq!(rows[1]["error_class"], "upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_hold_numbered_files_with_secrets_masked() {
    let (_fake, mut proxy) = setup(&[("SWITCHYARD_DEBUG_LOGS", "1")]).await;
    let url = proxy.url("/v1/chat/completions");
    post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", "hi", false)).await;
    post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", "hi", true)).await;
    post_json(
        &url,
        CLIENT_KEY,
        &chat("fake/gpt-test", "#status=500", false),
    )
    .await;
    proxy.stop();
    let mut dirs: Vec<_> = std::fs::read_dir(proxy.logs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 3);
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let folder = dirs[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(folder.contains("_openai_openai_gpt-test_"), "{folder}");
    for n in [
        "1_req_client.json",
        "2_req_hub.json",
        "3_req_provider.json",
        "4_res_provider.json",
        "5_res_hub.json",
        "6_res_client.json",
    ] {
        assert!(
            names(&dirs[0]).contains(&n.to_owned()),
            "{n} missing in {:?}",
            names(&dirs[0])
        );
    }
    for n in ["4_res_provider.sse", "5_res_hub.sse", "6_res_client.sse"] {
        assert!(
            names(&dirs[1]).contains(&n.to_owned()),
            "{n} missing in {:?}",
            names(&dirs[1])
        );
    }
    assert!(names(&dirs[2]).contains(&"error.json".to_owned()));
    for d in &dirs {
        for n in names(d) {
            let text = std::fs::read_to_string(d.join(&n)).unwrap();
            assert!(
                !text.contains(CLIENT_KEY) && !text.contains(UPSTREAM_KEY),
                "secret in {}/{n}",
                d.display()
            );
        }
    }
    let req: Value = serde_json::from_str(
        &std::fs::read_to_string(dirs[0].join("3_req_provider.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(req["headers"]["authorization"], "Bear***");
    assert_eq!(req["body"]["model"], "gpt-test");
}

#[test]
fn a_fresh_directory_runs_with_no_setup_and_a_bad_key_fails_start_up() {
    let dir = scratch_dir("fresh");
    let (ok, _, err) = run(&dir, &["--config", "data/config.toml", "usage"]);
    assert!(ok, "{err}");
    let written = std::fs::read_to_string(dir.join("data/config.toml")).unwrap();
    assert!(written.contains("# listen = \"127.0.0.1:4100\""));

    std::fs::write(
        dir.join("bad.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\nlisten_port = 4\n",
    )
    .unwrap();
    let (ok, _, err) = run(&dir, &["--config", "bad.toml", "serve"]);
    assert!(!ok);
    assert!(
        err.contains("line 3") && err.contains("listen_port"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_command_summarises_what_was_recorded() {
    let (_fake, mut proxy) = setup(&[]).await;
    post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("fake/gpt-test", "hi", false),
    )
    .await;
    proxy.stop();
    let (ok, out, err) = run(&proxy.dir, &["--config", "config.toml", "usage"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("fake/gpt-test") && out.contains("tests"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_the_overhead_header_is_opt_in() {
    let fake = FakeOpenAi::start().await;
    // With client keys configured, /metrics takes its own key.
    let cfg = config(&fake.base_url(), &["FAKE_KEY"]).replace(
        "[[client_keys]]",
        "[server]\nmetrics_key_env = \"METRICS_KEY\"\n\n[[client_keys]]",
    );
    let proxy = Proxy::start(
        &cfg,
        &[
            ("FAKE_KEY", UPSTREAM_KEY),
            ("METRICS_KEY", "sk-metrics-skeleton"),
        ],
    );
    let url = proxy.url("/v1/chat/completions");
    let res = post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", "hi", false)).await;
    assert!(res.headers.get("x-switchyard-overhead-us").is_none());
    post_json(&url, CLIENT_KEY, &chat("fake/gpt-test", "hi", true)).await;
    let metrics = request(
        "GET",
        &proxy.url("/metrics"),
        &[("authorization", "Bearer sk-metrics-skeleton")],
        "",
    )
    .await
    .text();
    assert!(metrics.contains(r#"switchyard_requests_total{provider="fake",model="gpt-test",client_format="openai",status="200"} 2"#), "{metrics}");
    assert!(
        metrics.contains("switchyard_overhead_seconds_count 2"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_active_streams 0"), "{metrics}");
    assert!(
        metrics.contains(
            r#"switchyard_tokens_total{provider="fake",model="gpt-test",kind="prompt"} 22"#
        ),
        "{metrics}"
    );

    let fake = FakeOpenAi::start().await;
    let cfg = config(&fake.base_url(), &["FAKE_KEY"]).replace(
        "[[client_keys]]",
        "[server]\noverhead_header = true\n\n[[client_keys]]",
    );
    let proxy = Proxy::start(&cfg, &[("FAKE_KEY", UPSTREAM_KEY)]);
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT_KEY,
        &chat("fake/gpt-test", "hi", false),
    )
    .await;
    let us: u64 = res.headers["x-switchyard-overhead-us"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(us < 1_000_000, "{us}");
}
