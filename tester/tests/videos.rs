//! End to end: long-running video generation through the real binary against the strict
//! OpenAI (Videos API) and Gemini (Veo) fakes: the official SDKs each against both provider
//! formats (`tester/conformance/sdk_videos.py`), a restart of Switchyard in the middle of a
//! job that still completes (polled on by the account that started it), the Gemini
//! Developer API's operation and download routes, the usage row each job writes (in seconds
//! of video), and a model that cannot make videos refused with a 400 naming it.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_tester::fake_anthropic::FakeAnthropic;
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::fake_videos::video_bytes;
use switchyard_tester::harness::{Proxy, run_with_timeout, scratch_dir};
use switchyard_tester::http_client::{Reply, request};

const KEY: &str = "sk-client-videos-0001";
const OTHER_KEY: &str = "sk-client-videos-0002";

fn config(openai: &str, gemini: &str, claude: &str) -> String {
    format!(
        r#"
[[client_keys]]
id = "videos"
key = "{KEY}"

[[client_keys]]
id = "other"
key = "{OTHER_KEY}"

[[providers]]
name = "p_openai"
kind = "openai"
base_url = "{openai}"
models = ["sora-2", "gpt-test"]
[[providers.accounts]]
name = "first"
api_key = "sk-upstream-openai-first"
[[providers.accounts]]
name = "second"
api_key = "sk-upstream-openai-second"

[[providers]]
name = "p_gemini"
kind = "gemini"
base_url = "{gemini}"
models = ["veo-3.0-generate-001"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-gemini-first"
[[providers.accounts]]
name = "b"
api_key = "sk-upstream-gemini-second"

[[providers]]
name = "p_claude"
kind = "claude"
base_url = "{claude}"
models = ["claude-test"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-claude-0001"

[aliases]
v_openai = "p_openai/sora-2"
v_veo = "p_gemini/veo-3.0-generate-001"

[[models]]
id = "veo-3.0-generate-001"
kinds = ["gemini"]
context = 1024
max_output = 1
modalities = ["text", "video"]
video_second = 0.4
"#
    )
}

async fn start() -> (FakeOpenAi, FakeGemini, FakeAnthropic, String) {
    let openai = FakeOpenAi::start().await;
    let gemini = FakeGemini::start().await;
    let claude = FakeAnthropic::start().await;
    let config = config(&openai.base_url(), &gemini.base_url(), &claude.base_url());
    (openai, gemini, claude, config)
}

/// `(endpoint, status, provider, account, video_seconds, cost_usd)` of every usage row.
fn rows(proxy: &Proxy) -> Vec<(String, i64, String, String, f64, Option<f64>)> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT endpoint, status, coalesce(provider, ''), coalesce(account, ''),
                    video_seconds, cost_usd
             FROM usage ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The stored status of job `id`.
fn job_status(proxy: &Proxy, id: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(proxy.db_path()).ok()?;
    conn.query_row("SELECT status FROM video_jobs WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .ok()
}

async fn call(proxy: &Proxy, method: &str, path: &str, key: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    request(method, &proxy.url(path), &headers, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_make_videos_on_both_provider_formats() {
    let Some(python) = std::env::var_os("SWITCHYARD_PYTHON") else {
        println!("skipped: set SWITCHYARD_PYTHON (cargo xtask ci does)");
        return;
    };
    let (openai, gemini, _claude, config) = start().await;
    let mut proxy = Proxy::start(&config, &[]);
    let spec = json!({"v_openai": "sora-2", "v_veo": "veo-3.0-generate-001"});
    let mut cmd = Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_videos.py"))
        .arg(format!("http://{}", proxy.addr))
        .arg(KEY)
        .arg("--spec")
        .arg(spec.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let (ok, stdout, stderr) =
        tokio::task::block_in_place(|| run_with_timeout(cmd, Duration::from_secs(300)));
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}).\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let cases = report["cases"].as_array().unwrap();
    for c in cases {
        let verdict = if c["ok"] == true { "ok  " } else { "FAIL" };
        println!(
            "{verdict} {} {}",
            c["case"],
            c.get("error").unwrap_or(&Value::Null)
        );
    }
    let failed: Vec<&Value> = cases.iter().filter(|c| c["ok"] != true).collect();
    assert!(
        ok && failed.is_empty() && cases.len() == 4,
        "{} of {} cases failed: {failed:#?}\nstderr:\n{stderr}\nproxy log:\n{}",
        failed.len(),
        cases.len(),
        proxy.stderr()
    );
    proxy.stop();
    // One row per job, when it ended, counting its seconds: 4 asked of the openai SDK, 8 of
    // google-genai. Veo's seconds are priced by the catalogue entry above; Sora has none.
    let mut rows = rows(&proxy);
    rows.sort_by(|a, b| (&a.2, a.4).partial_cmp(&(&b.2, b.4)).unwrap());
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1, r.2.as_str(), r.4))
        .collect();
    assert_eq!(
        summary,
        [
            ("videos", 200, "p_gemini", 4.0),
            ("videos", 200, "p_gemini", 8.0),
            ("videos", 200, "p_openai", 4.0),
            ("videos", 200, "p_openai", 8.0),
        ],
        "{rows:?}"
    );
    let costs: Vec<_> = rows.iter().map(|r| r.5).collect();
    assert_eq!(costs[..2], [Some(0.4 * 4.0), Some(0.4 * 8.0)], "{rows:?}");
    // The upstreams were asked in their own formats: a form's fields as JSON for OpenAI,
    // instances and parameters for Veo, with their own model names.
    let created: Vec<Value> = openai
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/videos")
        .map(|r| r.body)
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(
        created.iter().all(|b| b["model"] == "sora-2"),
        "{created:?}"
    );
    assert!(
        created
            .iter()
            .any(|b| b["seconds"] == "8" && b["size"] == "1280x720"),
        "google-genai's 8 s at 16:9 as OpenAI's words: {created:?}"
    );
    let started: Vec<Value> = gemini
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":predictLongRunning"))
        .map(|r| r.body)
        .collect();
    assert_eq!(started.len(), 2, "{started:?}");
    assert!(
        started.iter().any(|b| b["parameters"]
            == json!({"durationSeconds": 4, "aspectRatio": "16:9", "resolution": "720p"})),
        "the openai SDK's 4 s at 1280x720 as Veo's words: {started:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one job's life across a restart, read top to bottom"
)]
async fn a_job_started_before_a_restart_completes_after_it() {
    let (openai, gemini, _claude, config) = start().await;
    // The proxy also polls open jobs on its own every 5 s: on a slow machine it can add a
    // poll or two before the restart, so the jobs must outlast more than the test's own.
    openai
        .state
        .videos
        .polls_to_finish
        .store(6, Ordering::SeqCst);
    gemini
        .state
        .videos
        .polls_to_finish
        .store(6, Ordering::SeqCst);
    let dir = scratch_dir("videos-restart");
    let mut proxy = Proxy::start_in(dir.clone(), &config, &[]);

    // OpenAI client, OpenAI upstream; and a Gemini Developer API client, Veo upstream.
    let created = call(
        &proxy,
        "POST",
        "/v1/videos",
        KEY,
        Some(json!({"model": "v_openai", "prompt": "waves at dusk", "seconds": "8"})),
    )
    .await;
    assert_eq!(
        created.status,
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let openai_job = created.json()["id"].as_str().unwrap().to_owned();
    let op = call(
        &proxy,
        "POST",
        "/v1beta/models/v_veo:predictLongRunning",
        KEY,
        Some(json!({"instances": [{"prompt": "rain on glass"}], "parameters": {"durationSeconds": 6}})),
    )
    .await;
    assert_eq!(op.status, 200, "{}", String::from_utf8_lossy(&op.body));
    let op_name = op.json()["name"].as_str().unwrap().to_owned();
    assert!(
        op_name.starts_with("models/v_veo/operations/video_"),
        "{op_name}"
    );
    let veo_job = op_name.rsplit('/').next().unwrap().to_owned();

    // One poll each, before the restart: under way.
    let polled = call(
        &proxy,
        "GET",
        &format!("/v1/videos/{openai_job}"),
        KEY,
        None,
    )
    .await;
    assert_eq!(polled.json()["status"], "in_progress", "{}", polled.json());
    let polled = call(&proxy, "GET", &format!("/v1beta/{op_name}"), KEY, None).await;
    assert_eq!(polled.status, 200);
    assert_eq!(polled.json().get("done"), None, "{}", polled.json());
    // Another client key does not see the job.
    let foreign = call(
        &proxy,
        "GET",
        &format!("/v1/videos/{openai_job}"),
        OTHER_KEY,
        None,
    )
    .await;
    assert_eq!(foreign.status, 404);
    // The content of a job under way is refused, saying why.
    let early = call(
        &proxy,
        "GET",
        &format!("/v1/videos/{openai_job}/content"),
        KEY,
        None,
    )
    .await;
    assert_eq!(early.status, 400);
    assert_eq!(early.json()["error"]["code"], "video_not_ready");
    proxy.stop();

    // The next run polls the open jobs itself, with no client asking.
    let mut proxy = Proxy::start_in(dir, &config, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while [&openai_job, &veo_job]
        .iter()
        .any(|id| job_status(&proxy, id).as_deref() != Some("completed"))
    {
        assert!(
            Instant::now() < deadline,
            "jobs never completed after the restart: {:?} {:?}\n{}",
            job_status(&proxy, &openai_job),
            job_status(&proxy, &veo_job),
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = call(
        &proxy,
        "GET",
        &format!("/v1/videos/{openai_job}"),
        KEY,
        None,
    )
    .await;
    let done = done.json();
    assert_eq!(
        (
            &done["status"],
            &done["progress"],
            &done["seconds"],
            &done["model"]
        ),
        (
            &json!("completed"),
            &json!(100),
            &json!("8"),
            &json!("v_openai")
        ),
        "{done}"
    );
    let video = call(
        &proxy,
        "GET",
        &format!("/v1/videos/{openai_job}/content"),
        KEY,
        None,
    )
    .await;
    assert_eq!(video.status, 200);
    assert_eq!(video.headers["content-type"], "video/mp4");
    assert_eq!(video.body.as_ref(), video_bytes("sora-2", "waves at dusk"));

    let op = call(&proxy, "GET", &format!("/v1beta/{op_name}"), KEY, None).await;
    let op = op.json();
    assert_eq!(op["done"], true, "{op}");
    let uri = op
        .pointer("/response/generateVideoResponse/generatedSamples/0/video/uri")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    let path = uri
        .split_once(&proxy.addr.to_string())
        .unwrap()
        .1
        .to_owned();
    assert_eq!(path, format!("/v1beta/files/{veo_job}:download?alt=media"));
    let video = call(&proxy, "GET", &path, KEY, None).await;
    assert_eq!(video.status, 200);
    assert_eq!(
        video.body.as_ref(),
        video_bytes("veo-3.0-generate-001", "rain on glass")
    );

    // Every upstream call of a job went with the key of the account that started it.
    let openai_keys: Vec<String> = openai.keys_seen();
    assert!(
        openai_keys.iter().all(|k| k == "sk-upstream-openai-first"),
        "{openai_keys:?}"
    );
    let gemini_keys: Vec<String> = gemini
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("x-goog-api-key"))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        gemini_keys.iter().all(|k| k == "sk-upstream-gemini-first"),
        "{gemini_keys:?}"
    );
    proxy.stop();
    let rows = rows(&proxy);
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1, r.2.as_str(), r.3.as_str(), r.4))
        .collect();
    assert_eq!(summary.len(), 2, "one row per job, written once: {rows:?}");
    assert!(
        summary.contains(&("videos", 200, "p_openai", "first", 8.0)),
        "{rows:?}"
    );
    assert!(
        summary.contains(&("videos", 200, "p_gemini", "a", 6.0)),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_requests_that_cannot_be_served_are_refused_with_what_is_wrong() {
    let (openai, gemini, _claude, config) = start().await;
    let mut proxy = Proxy::start(&config, &[]);
    // A model whose provider makes no videos: the model and the endpoint are named.
    let res = call(
        &proxy,
        "POST",
        "/v1/videos",
        KEY,
        Some(json!({"model": "p_claude/claude-test", "prompt": "x"})),
    )
    .await;
    assert_eq!(res.status, 400, "{}", String::from_utf8_lossy(&res.body));
    let msg = res.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("claude-test") && msg.contains("/v1/videos"),
        "{msg}"
    );
    // Fields the proxy checks itself, each named.
    for (body, named) in [
        (json!({"prompt": "x"}), "model"),
        (json!({"model": "v_openai"}), "prompt"),
        (
            json!({"model": "v_openai", "prompt": "x", "seconds": "5"}),
            "seconds",
        ),
        (
            json!({"model": "v_veo", "prompt": "x", "seconds": "12"}),
            "seconds",
        ),
    ] {
        let res = call(&proxy, "POST", "/v1/videos", KEY, Some(body.clone())).await;
        assert_eq!(res.status, 400, "{body}");
        let msg = res.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(named), "{body}: {msg}");
    }
    // What the strict upstream refuses comes back as its 400, and no job is made.
    let res = call(
        &proxy,
        "POST",
        "/v1/videos",
        KEY,
        Some(json!({"model": "v_openai", "prompt": "x", "style": "noir"})),
    )
    .await;
    assert_eq!(res.status, 400, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        String::from_utf8_lossy(&res.body).contains("style"),
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    // An unknown job is a 404 in each format.
    let res = call(&proxy, "GET", "/v1/videos/video_nope", KEY, None).await;
    assert_eq!(res.status, 404);
    let res = call(
        &proxy,
        "GET",
        "/v1beta/models/v_veo/operations/video_nope",
        KEY,
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"]["code"], 404);
    // /v1/models says which models make videos.
    let models = call(&proxy, "GET", "/v1/models", KEY, None).await.json();
    let endpoints = |id: &str| {
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["endpoints"].clone())
            .unwrap()
    };
    assert_eq!(endpoints("v_openai"), json!(["/v1/videos"]));
    assert_eq!(endpoints("v_veo"), json!(["/v1/videos"]));
    assert!(
        !endpoints("p_claude/claude-test")
            .as_array()
            .unwrap()
            .contains(&json!("/v1/videos"))
    );
    proxy.stop();
    assert_eq!(gemini.requests().len(), 0, "nothing reached Veo");
    assert_eq!(
        openai.requests().len(),
        1,
        "only the request with the unknown field reached OpenAI"
    );
    let rows = rows(&proxy);
    assert!(
        rows.iter().all(|r| r.0 == "videos" && r.1 >= 400),
        "each refused start leaves a failed row: {rows:?}"
    );
}
