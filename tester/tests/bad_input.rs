//! Hostile and broken input against the running server: each gets a clear error with the
//! right status, the server keeps serving, memory stays bounded and no secret leaks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use serde_json::json;
use switchyard_tester::fake_openai::FakeOpenAi;
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{post_json, request};

const CLIENT: &str = "sk-client-bad-input-1";
const UPSTREAM: &str = "sk-upstream-bad-input-1";

async fn setup() -> (FakeOpenAi, Proxy) {
    let fake = FakeOpenAi::start().await;
    let config = format!(
        "[server]\nbody_limit = 100000\n[[client_keys]]\nid = \"t\"\nkey = \"{CLIENT}\"\n[[providers]]\nname = \"fake\"\nbase_url = \"{}\"\n[[providers.accounts]]\nname = \"a\"\napi_key = \"{UPSTREAM}\"\n",
        fake.base_url()
    );
    let proxy = Proxy::start(&config, &[("SWITCHYARD_DEBUG_LOGS", "1")]);
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
