//! Hostile and broken input against the running server: each gets a clear error with the
//! right status, the server keeps serving, memory stays bounded and no secret leaks.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]
#![expect(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one scenario top to bottom; the 100-line limit is for production code"
)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{post_json, request};

const CLIENT: &str = "sk-client-bad-input-1";
const UPSTREAM: &str = "sk-upstream-bad-input-1";

async fn setup() -> (FakeOpenAi, Proxy) {
    setup_with(&[("SWITCHYARD_DEBUG_LOGS", "1")]).await
}

async fn setup_with(env: &[(&str, &str)]) -> (FakeOpenAi, Proxy) {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        "[server]\nbody_limit = 100000\n[[client_keys]]\nid = \"t\"\nkey = \"{CLIENT}\"\n[[providers]]\nname = \"fake\"\nbase_url = \"{}\"\n[[providers.accounts]]\nname = \"a\"\napi_key = \"{UPSTREAM}\"\n",
        fake.base_url()
    );
    let proxy = Proxy::start(&config, env);
    (fake, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_clear_errors_and_the_server_keeps_serving() {
    let (_fake, mut proxy) = setup().await;
    let url = proxy.url("/v1/chat/completions");
    let auth = format!("Bearer {CLIENT}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let nested = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("deeply nested", nested.into_bytes(), 400),
        ("invalid utf-8", b"{\"model\": \"fake/m\", \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}".to_vec(), 400),
        ("truncated", b"{\"model\": \"fake/m\", \"messages\": [{\"ro".to_vec(), 400),
        ("empty", Vec::new(), 400),
        ("huge", vec![b' '; 200_000], 413),
        ("model with CRLF", json!({"model": "fake/m\r\nx-injected: 1", "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), 400),
        ("model path traversal", json!({"model": "fake/../../etc/passwd", "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), 400),
        ("messages wrong type", json!({"model": "fake/m", "messages": {"role": "user"}}).to_string().into_bytes(), 400),
        ("role wrong type", json!({"model": "fake/m", "messages": [{"role": 7}]}).to_string().into_bytes(), 400),
        ("null body", b"null".to_vec(), 400),
    ];
    for (name, body, status) in cases {
        let res = request("POST", &url, &h, body).await;
        assert_eq!(res.status, status, "{name}: {}", res.text());
        assert!(res.json()["error"]["message"].is_string(), "{name}");
    }
    // A body larger than the limit sent without a length (chunked) is cut off as it arrives.
    let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'a'; 8192];
    let mut answer = String::new();
    for _ in 0..40 {
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|_| stream.write_all(&chunk))
            .and_then(|_| stream.write_all(b"\r\n"))
            .is_err()
        {
            break;
        }
    }
    use std::io::Read;
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Still serving.
    let res = post_json(
        &url,
        CLIENT,
        &json!({"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 200);
    proxy.stop();
    // No secret in the server's log or its debug files.
    let log = proxy.stderr();
    assert!(!log.contains(CLIENT) && !log.contains(UPSTREAM));
    for entry in walk(&proxy.logs_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(
            !text.contains(CLIENT) && !text.contains(UPSTREAM),
            "secret in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_stop_it_serving() {
    let (_fake, proxy) = setup().await;
    let mut idle = Vec::new();
    for _ in 0..2000 {
        match std::net::TcpStream::connect(proxy.addr) {
            Ok(s) => idle.push(s),
            // The test process may run out of descriptors first; that is enough idle load.
            Err(_) => break,
        }
    }
    assert!(idle.len() >= 500, "only {} connections opened", idle.len());
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &json!({"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 200);
    let health = request("GET", &proxy.url("/health"), &[], "").await;
    assert_eq!(health.status, 200);
}

// ---------------------------------------------------------------------------------------
// Clients that hold connections without finishing a request.

/// Reads until the server closes the connection (or `limit` passes); returns what it sent
/// and whether it closed.
fn read_until_closed(stream: &mut std::net::TcpStream, limit: Duration) -> (String, bool) {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is the server closing too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

fn head(length: usize) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

fn usage_rows(proxy: &Proxy) -> Vec<(i64, Option<String>)> {
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT status, error_class FROM usage ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_nothing_are_closed_after_the_header_timeout() {
    let (_fake, proxy) = setup_with(&[("SWITCHYARD_CLIENT_HEADER_TIMEOUT_MS", "300")]).await;
    let start = Instant::now();
    let mut silent: Vec<_> = (0..50)
        .map(|_| std::net::TcpStream::connect(proxy.addr).unwrap())
        .collect();
    // One that starts like HTTP/2's preface and stops: the protocol is not known yet.
    let mut preface = std::net::TcpStream::connect(proxy.addr).unwrap();
    preface.write_all(b"PRI * HT").unwrap();
    for s in silent.iter_mut().chain([&mut preface]) {
        let (sent, closed) = read_until_closed(s, Duration::from_secs(5));
        assert!(closed && sent.is_empty(), "still open, or sent {sent:?}");
    }
    let took = start.elapsed();
    println!("51 silent connections closed after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // Still serving, and a client that does send a request is not cut off.
    let res = post_json(
        &proxy.url("/v1/chat/completions"),
        CLIENT,
        &json!({"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408_and_a_client_that_leaves_mid_body_is_a_499() {
    let (_fake, mut proxy) = setup_with(&[("SWITCHYARD_CLIENT_BODY_TIMEOUT_MS", "300")]).await;
    let body =
        json!({"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let half = &body.as_bytes()[..body.len() / 2];

    let start = Instant::now();
    let mut stalled = std::net::TcpStream::connect(proxy.addr).unwrap();
    stalled.write_all(head(body.len()).as_bytes()).unwrap();
    stalled.write_all(half).unwrap();
    let (answer, closed) = read_until_closed(&mut stalled, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");
    assert!(closed, "the connection stays open after the 408");
    assert!(start.elapsed() < Duration::from_secs(3));

    let mut leaving = std::net::TcpStream::connect(proxy.addr).unwrap();
    leaving.write_all(head(body.len()).as_bytes()).unwrap();
    leaving.write_all(half).unwrap();
    leaving.shutdown(std::net::Shutdown::Write).unwrap();
    let (_, closed) = read_until_closed(&mut leaving, Duration::from_secs(5));
    assert!(closed);
    drop(leaving);

    proxy.stop();
    let rows = usage_rows(&proxy);
    assert_eq!(
        rows,
        [
            (408, Some("timeout".to_owned())),
            (499, Some("cancelled".to_owned()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_a_503_and_the_server_takes_more_once_some_close() {
    let (_fake, proxy) = setup_with(&[("SWITCHYARD_MAX_CONNECTIONS", "20")]).await;
    // Each held connection is answered once, so every serving thread has accepted its share
    // before the one over the cap arrives (the kernel spreads them across threads).
    let mut held: Vec<_> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(proxy.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut first = [0u8; 12];
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"HTTP/1.1 200");
            s
        })
        .collect();
    let mut over = std::net::TcpStream::connect(proxy.addr).unwrap();
    over.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many open connections"), "{answer}");
    assert!(closed);
    // Once one closes, a new client is served again.
    held.pop();
    let start = Instant::now();
    loop {
        let mut s = std::net::TcpStream::connect(proxy.addr).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5));
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never served again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        proxy.stderr().contains("max_connections"),
        "{}",
        proxy.stderr()
    );
}

/// Open descriptors and resident memory (kB) of a process, from `/proc`.
fn held_by(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (fds, rss_kb)
}

const HALF_SENT: usize = 2000;

/// Opens [`HALF_SENT`] requests that send a quarter of their body and stop, waits for the
/// body timeout to answer and close every one; returns what the server held before, at
/// the most, and once they were closed.
async fn half_sent_wave(proxy: &Proxy) -> [(usize, u64); 3] {
    let pid = proxy.pid();
    let before = held_by(pid);
    let chunk = vec![b' '; 25 * 1024];
    let mut open = Vec::with_capacity(HALF_SENT);
    for _ in 0..HALF_SENT {
        let mut s = std::net::TcpStream::connect(proxy.addr).unwrap();
        s.write_all(head(90_000).as_bytes()).unwrap();
        s.write_all(&chunk).unwrap();
        open.push(s);
    }
    // Sampled until the body timeout begins to close them.
    let start = Instant::now();
    let mut peak = held_by(pid);
    loop {
        let now = held_by(pid);
        peak = (peak.0.max(now.0), peak.1.max(now.1));
        if peak.0 >= before.0 + HALF_SENT * 9 / 10 && now.0 + 10 < peak.0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{peak:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in &mut open {
        let (answer, closed) = read_until_closed(s, Duration::from_secs(20));
        assert!(answer.starts_with("HTTP/1.1 408") && closed, "{answer}");
    }
    drop(open);
    let start = Instant::now();
    let mut after = held_by(pid);
    while after.0 > before.0 + 5 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = held_by(pid);
    }
    [before, peak, after]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_half_sent_bodies_are_closed_and_their_memory_and_descriptors_released() {
    let timeout = ("SWITCHYARD_CLIENT_BODY_TIMEOUT_MS", "1500");
    let figures = |label: &str, [before, peak, after]: [(usize, u64); 3]| {
        println!(
            "{label}: open descriptors {} -> {} -> {}; VmRSS {} -> {} -> {} kB (before, with {HALF_SENT} half-sent bodies, after the body timeout)",
            before.0, peak.0, after.0, before.1, peak.1, after.1
        );
        assert!(after.0 <= before.0 + 5, "{label}: descriptors still held");
    };

    // Default allocator settings: freed memory stays mapped for reuse, so a second wave
    // does not take a second wave's worth more than the first did (a leak would double
    // the peak; the allocator's reuse is not exact, by up to ~25% seen on a loaded machine).
    let (_fake, mut proxy) = setup_with(&[timeout]).await;
    let first = half_sent_wave(&proxy).await;
    figures("first wave", first);
    let second = half_sent_wave(&proxy).await;
    figures("second wave", second);
    assert!(
        second[1].1 <= first[1].1 + first[1].1 / 2,
        "memory grew from one wave to the next: {first:?} {second:?}"
    );
    proxy.stop();
    let rows = usage_rows(&proxy);
    assert_eq!(rows.len(), 2 * HALF_SENT);
    assert!(rows.iter().all(|r| r.0 == 408), "{:?}", &rows[..3]);

    // With the allocator told to return freed pages at once, the resident size shows that
    // what the connections held was freed.
    let (_fake, proxy) = setup_with(&[timeout, ("MIMALLOC_PURGE_DELAY", "0")]).await;
    let [before, peak, after] = half_sent_wave(&proxy).await;
    figures("pages returned at once", [before, peak, after]);
    assert!(
        after.1 <= before.1 + (peak.1 - before.1) / 4,
        "memory still held: {before:?} -> {peak:?} -> {after:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Security defaults.

/// With no config at all, the server writes the default file and listens on loopback only.
#[test]
fn the_default_config_listens_on_loopback_only() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = switchyard_tester::harness::scratch_dir("defaults");
    let mut cmd = Command::new(switchyard_tester::harness::binary());
    cmd.current_dir(&dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing from the environment may move it off its defaults.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHYARD_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Either it listens on the default address, or (another program holds the port) it
    // says it cannot listen there. Both show the address it chose.
    let listening = rx.recv_timeout(std::time::Duration::from_secs(30)).ok();
    if listening.is_some() {
        // It is ours: the admin API is off until a key is configured.
        let mut s = std::net::TcpStream::connect("127.0.0.1:4100").unwrap();
        s.write_all(b"GET /api/accounts HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        use std::io::Read;
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match listening {
        Some(line) => assert_eq!(line, "switchyard listening on http://127.0.0.1:4100"),
        None => assert!(
            stderr.contains("cannot listen on 127.0.0.1:4100"),
            "neither listening nor refused:\n{stderr}"
        ),
    }
    let written = std::fs::read_to_string(dir.join("data/config.toml")).unwrap();
    let listens: Vec<&str> = written
        .lines()
        .filter(|l| {
            l.trim_start()
                .trim_start_matches('#')
                .trim_start()
                .starts_with("listen")
        })
        .collect();
    assert_eq!(listens.len(), 1, "{listens:?}");
    assert!(listens[0].contains("\"127.0.0.1:4100\""), "{}", listens[0]);
    // No admin key is set in the written file.
    assert!(
        !written
            .lines()
            .any(|l| l.trim_start().starts_with("admin_key")),
        "{written}"
    );
}

const ADMIN: &str = "sk-admin-secret-defaults-1";
const CLIENT_2: &str = "sk-client-second-defaults-1";
const LEAKY: &str = "sk-upstream-leaky-defaults-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_admin_key_and_no_secret_shows_anywhere() {
    let fake = FakeOpenAi::start().await;
    // An upstream that echoes the key it was sent in its errors, as some do.
    let echo = |status: u16| {
        switchyard_tester::fake_openai::Fault::Body(
            status,
            json!({"error": {"message": format!("Incorrect API key provided: {LEAKY}"), "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}).to_string(),
        )
    };
    fake.script(
        LEAKY,
        [echo(400), echo(401), echo(401), echo(403), echo(500)],
    );
    let config = format!(
        r#"[server]
admin_key = "{ADMIN}"
[debug_logs]
enabled = true
[[client_keys]]
id = "one"
key = "{CLIENT}"
[[client_keys]]
id = "two"
key = "{CLIENT_2}"
[[providers]]
name = "fake"
base_url = "{base}"
models = ["m"]
[[providers.accounts]]
name = "a"
api_key = "{UPSTREAM}"
[[providers]]
name = "leaky"
base_url = "{base}"
[[providers.accounts]]
name = "l"
api_key = "{LEAKY}"
"#,
        base = fake.base_url()
    );
    let mut proxy = Proxy::start(&config, &[("SWITCHYARD_LOG", "debug")]);
    let mut bodies = Vec::new();

    // Admin routes: only the admin key opens them.
    let accounts = proxy.url("/api/accounts");
    let bearer = |k: &str| format!("Bearer {k}");
    for (name, headers, status) in [
        ("no key", vec![], 401),
        ("client key", vec![("authorization", bearer(CLIENT))], 401),
        (
            "client key as x-api-key",
            vec![("x-api-key", CLIENT_2.to_owned())],
            401,
        ),
        (
            "upstream key",
            vec![("authorization", bearer(UPSTREAM))],
            401,
        ),
        (
            "admin key with a suffix",
            vec![("authorization", bearer(&format!("{ADMIN}x")))],
            401,
        ),
        (
            "admin key prefix",
            vec![("authorization", bearer(&ADMIN[..ADMIN.len() - 1]))],
            401,
        ),
        (
            "admin key, no scheme",
            vec![("authorization", format!("Basic {ADMIN}"))],
            401,
        ),
        ("admin key", vec![("authorization", bearer(ADMIN))], 200),
        (
            "admin key as x-api-key",
            vec![("x-api-key", ADMIN.to_owned())],
            200,
        ),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = request("GET", &accounts, &h, "").await;
        assert_eq!(res.status, status, "{name}: {}", res.text());
        bodies.push((format!("/api/accounts {name}"), res.text()));
    }
    // A method the route does not take is refused (POST adds an account; PUT is nothing).
    let res = request("PUT", &accounts, &[("authorization", &bearer(ADMIN))], "{}").await;
    assert_eq!(res.status, 405);

    // Client routes: the admin key is not a client key, and neither is an upstream key.
    let chat = proxy.url("/v1/chat/completions");
    let body = |model: &str, stream: bool| json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    for key in [ADMIN, UPSTREAM, LEAKY] {
        let res = post_json(&chat, key, &body("fake/m", false)).await;
        assert_eq!(res.status, 401, "{}", res.text());
        bodies.push((format!("chat with a wrong key {}", &key[..8]), res.text()));
    }
    for (key, stream) in [(CLIENT, false), (CLIENT_2, true)] {
        let res = post_json(&chat, key, &body("fake/m", stream)).await;
        assert_eq!(res.status, 200, "{}", res.text());
        bodies.push(("chat".into(), res.text()));
    }
    // Translated routes, each with its own key header.
    let res = request(
        "POST",
        &proxy.url("/v1/messages"),
        &[("x-api-key", CLIENT), ("content-type", "application/json"), ("anthropic-version", "2023-06-01")],
        json!({"model": "fake/m", "max_tokens": 20, "stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    bodies.push(("messages".into(), res.text()));
    let res = request(
        "POST",
        &proxy.url(&format!(
            "/v1beta/models/fake/m:generateContent?key={CLIENT_2}"
        )),
        &[
            ("x-goog-api-key", CLIENT_2),
            ("content-type", "application/json"),
        ],
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    bodies.push(("generateContent".into(), res.text()));
    // Upstream errors that quote the account key: refused as-is (400), after a failed
    // login (401/403), and as a server error (500).
    for _ in 0..5 {
        let res = post_json(&chat, CLIENT, &body("leaky/m", false)).await;
        assert!(res.status.as_u16() >= 400, "{}", res.text());
        bodies.push((format!("leaky upstream {}", res.status), res.text()));
    }
    let res = request(
        "GET",
        &proxy.url("/metrics"),
        &[("authorization", &bearer(ADMIN))],
        "",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    bodies.push(("metrics".into(), res.text()));
    let res = request(
        "GET",
        &proxy.url("/v1/models"),
        &[("authorization", &bearer(CLIENT))],
        "",
    )
    .await;
    bodies.push(("models".into(), res.text()));
    proxy.stop();

    let secrets = [CLIENT, CLIENT_2, UPSTREAM, LEAKY, ADMIN];
    let mut places: Vec<(String, String)> = bodies;
    places.push(("server log".into(), proxy.stderr()));
    let files = walk(&proxy.logs_dir());
    assert!(!files.is_empty(), "no debug log was written");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        places.push((f.display().to_string(), text));
    }
    // The usage database too: error messages are recorded there.
    for f in walk(&proxy.dir.join("data")) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        places.push((f.display().to_string(), text));
    }
    for (place, text) in &places {
        for s in secrets {
            assert!(
                !text.contains(s),
                "{place} shows the secret {}...:\n{text}",
                &s[..10]
            );
        }
    }
}

// Issue 12 item 3: listening on `[::]` with no client keys, an IPv4 client on this machine
// arrives as `::ffff:127.0.0.1` and is still served as a local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_loopback_clients_of_a_dual_stack_listener_are_local() {
    // Skipped where the machine has no IPv6, or its `[::]` sockets take no IPv4 clients.
    let probe = match std::net::TcpListener::bind("[::]:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: cannot listen on [::] here ({e})");
            return;
        }
    };
    let port = probe.local_addr().unwrap().port();
    if let Err(e) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        eprintln!("skipped: a socket on [::] takes no IPv4 clients here ({e})");
        return;
    }
    drop(probe);

    let fake = FakeOpenAi::start().await;
    let config = format!(
        "[[providers]]\nname = \"fake\"\nbase_url = \"{}\"\nmodels = [\"m\"]\n[[providers.accounts]]\nname = \"a\"\napi_key = \"{UPSTREAM}\"\n",
        fake.base_url()
    );
    let proxy = Proxy::start_listening(
        switchyard_tester::harness::scratch_dir("dual-stack"),
        &config,
        &[],
        "[::]:0",
    );
    assert!(proxy.addr.is_ipv6(), "{}", proxy.addr);
    let body = json!({"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]});
    for host in ["127.0.0.1", "[::1]"] {
        let url = format!("http://{host}:{}/v1/chat/completions", proxy.addr.port());
        let res = request(
            "POST",
            &url,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await;
        assert_eq!(res.status, 200, "{host}: {}", res.text());
    }
}

/// A non-loopback address of this machine, if it has one (no packet is sent: a UDP socket
/// "connected" to a private address only picks the interface that would be used).
fn outward_ip() -> Option<std::net::IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("10.255.255.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

const METRICS_KEY: &str = "sk-metrics-bad-input-1";

// Issue 12 item 4: `/metrics` names providers and accounts, so it follows the rule of the
// other routes. With keys configured: the metrics key or the admin key, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_or_admin_key_when_keys_are_configured() {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        "[server]\nmetrics_key_env = \"METRICS_KEY\"\nadmin_key = \"{ADMIN}\"\n[[client_keys]]\nid = \"t\"\nkey = \"{CLIENT}\"\n[[providers]]\nname = \"fake\"\nbase_url = \"{}\"\nmodels = [\"m\"]\n[[providers.accounts]]\nname = \"a\"\napi_key = \"{UPSTREAM}\"\n",
        fake.base_url()
    );
    let proxy = Proxy::start(&config, &[("METRICS_KEY", METRICS_KEY)]);
    let chat = json!({"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]});
    let res = post_json(&proxy.url("/v1/chat/completions"), CLIENT, &chat).await;
    assert_eq!(res.status, 200, "{}", res.text());

    let url = proxy.url("/metrics");
    let bearer = |k: &str| format!("Bearer {k}");
    for (name, headers, status) in [
        ("no key", vec![], 401),
        ("client key", vec![("authorization", bearer(CLIENT))], 401),
        (
            "upstream key",
            vec![("authorization", bearer(UPSTREAM))],
            401,
        ),
        (
            "metrics key, no scheme",
            vec![("authorization", METRICS_KEY.to_owned())],
            401,
        ),
        (
            "metrics key",
            vec![("authorization", bearer(METRICS_KEY))],
            200,
        ),
        ("admin key", vec![("authorization", bearer(ADMIN))], 200),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = request("GET", &url, &h, "").await;
        assert_eq!(res.status, status, "{name}: {}", res.text());
        let text = res.text();
        if status == 200 {
            assert!(text.contains(r#"provider="fake""#), "{name}: {text}");
        } else {
            assert!(!text.contains("fake"), "{name}: {text}");
            assert_eq!(
                res.json()["error"]["type"],
                "authentication_error",
                "{text}"
            );
        }
    }
}

// With no key of any kind (loopback-only mode), only clients on this machine read it; a
// client reaching the port from another address is refused as on the other routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_in_loopback_only_mode_refuse_other_addresses() {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        "[[providers]]\nname = \"fake\"\nbase_url = \"{}\"\nmodels = [\"m\"]\n[[providers.accounts]]\nname = \"a\"\napi_key = \"{UPSTREAM}\"\n",
        fake.base_url()
    );
    let proxy = Proxy::start_listening(
        switchyard_tester::harness::scratch_dir("metrics-loopback"),
        &config,
        &[],
        "0.0.0.0:0",
    );
    let port = proxy.addr.port();
    let local = request("GET", &format!("http://127.0.0.1:{port}/metrics"), &[], "").await;
    assert_eq!(local.status, 200, "{}", local.text());
    assert!(local.text().contains("switchyard_"), "{}", local.text());

    let Some(ip) = outward_ip() else {
        eprintln!("skipped the remote half: this machine has no non-loopback address");
        return;
    };
    let remote = |path: &str| format!("http://{ip}:{port}{path}");
    let res = request("GET", &remote("/metrics"), &[], "").await;
    assert_eq!(res.status, 403, "{}", res.text());
    assert!(!res.text().contains("switchyard_"), "{}", res.text());
    // The same answer as the other routes give that client.
    let models = request("GET", &remote("/v1/models"), &[], "").await;
    assert_eq!(models.status, 403, "{}", models.text());
}

// Issue 12 item 5: a base_url that is not a usable URL stops start-up with a message naming
// the key and its line, instead of starting and answering every request with 502.
#[test]
fn an_unusable_base_url_stops_start_up() {
    let dir = switchyard_tester::harness::scratch_dir("bad-base-url");
    for (url, why) in [
        ("http://", "has no host"),
        ("http://exa mple.com/v1", "is not a valid URL"),
        ("http://example.com:99999/v1", "has port 99999"),
    ] {
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[[providers]]\nname = \"fake\"\n\nbase_url = \"{url}\"\n[[providers.accounts]]\nname = \"a\"\napi_key = \"{UPSTREAM}\"\n"
            ),
        )
        .unwrap();
        let mut cmd = std::process::Command::new(switchyard_tester::harness::binary());
        cmd.current_dir(&dir)
            .args([
                "--config",
                "config.toml",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env_remove("SWITCHYARD_LISTEN");
        // Started, it would serve until killed: the limit only bounds a failing test.
        let (ok, out, err) =
            switchyard_tester::harness::run_with_timeout(cmd, std::time::Duration::from_secs(30));
        assert!(!ok, "{url}: started anyway\n{out}{err}");
        assert!(!out.contains("listening"), "{url}: {out}");
        for part in ["config.toml", "line 4", "base_url", why] {
            assert!(err.contains(part), "{url}: no {part:?} in\n{err}");
        }
        assert!(!err.contains(UPSTREAM), "{err}");
    }
}
