//! End to end: the pass-through endpoints (speech, transcriptions, image edits) through the
//! real binary and the strict OpenAI fake: what the proxy refuses itself (400 naming the
//! field, the model and the endpoint), fallback to the next account, the model named anew in
//! a multipart upload, usage rows and debug logs; and a large upload streamed upstream with
//! the proxy's memory staying flat; speech audio reaching the client while the upstream
//! still holds the rest, and a speech stream the upstream breaks reaching the client broken.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use serde_json::{Value, json};
use switchyard_tester::fake_gemini::FakeGemini;
use switchyard_tester::fake_openai::{FakeOpenAi, Fault, media};
use switchyard_tester::harness::Proxy;
use switchyard_tester::http_client::{Reply, request, send};

const KEY: &str = "sk-client-media-0001";
const BOUNDARY: &str = "switchyard-test-boundary";

async fn setup(extra: &str) -> (FakeOpenAi, FakeGemini, Proxy) {
    let openai = FakeOpenAi::start().await;
    let gemini = FakeGemini::start().await;
    let config = format!(
        r#"
[[client_keys]]
id = "t"
key = "{KEY}"
{extra}
[[providers]]
name = "p_openai"
kind = "openai"
base_url = "{}"
models = ["tts-1", "whisper-1", "gpt-image-1"]
[[providers.accounts]]
name = "first"
api_key = "sk-upstream-first-0001"
[[providers.accounts]]
name = "second"
api_key = "sk-upstream-second-0001"

[[providers]]
name = "p_gemini"
kind = "gemini"
base_url = "{}"
models = ["gemini-2.5-flash"]
[[providers.accounts]]
name = "a"
api_key = "sk-upstream-gemini-0001"

[aliases]
voice = "p_openai/tts-1"
ears = "p_openai/whisper-1"
"#,
        openai.base_url(),
        gemini.base_url(),
    );
    let proxy = Proxy::start(&config, &[("SWITCHYARD_DEBUG_LOGS", "1")]);
    (openai, gemini, proxy)
}

async fn speech(proxy: &Proxy, body: &Value) -> Reply {
    let auth = format!("Bearer {KEY}");
    request(
        "POST",
        &proxy.url("/v1/audio/speech"),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

/// A multipart body of text fields, then a file part.
fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, filename, data)) = file {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn upload(proxy: &Proxy, path: &str, body: Vec<u8>) -> Reply {
    let auth = format!("Bearer {KEY}");
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    request(
        "POST",
        &proxy.url(path),
        &[
            ("authorization", auth.as_str()),
            ("content-type", content_type.as_str()),
        ],
        body,
    )
    .await
}

/// A 16 kHz mono 16-bit WAV header for `data_len` bytes of samples.
fn wav_header(data_len: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&16_000u32.to_le_bytes());
    h.extend_from_slice(&32_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

fn message(res: &Reply) -> String {
    res.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_media_requests_are_refused_with_what_is_wrong() {
    let (openai, _gemini, mut proxy) = setup("").await;
    let cases = [
        (json!({"model": "voice", "input": "hi"}), "voice"),
        (json!({"model": "voice", "voice": "alloy"}), "input"),
        (json!({"input": "hi", "voice": "alloy"}), "model"),
        (
            json!({"model": "voice", "input": "hi", "voice": "alloy", "response_format": "ogg"}),
            "response_format",
        ),
    ];
    for (body, field) in cases {
        let res = speech(&proxy, &body).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text());
        assert!(message(&res).contains(field), "{body}: {}", res.text());
    }
    // A model whose provider has no speech endpoint: the model and the endpoint are named.
    let res = speech(
        &proxy,
        &json!({"model": "p_gemini/gemini-2.5-flash", "input": "hi", "voice": "alloy"}),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    let msg = message(&res);
    assert!(
        msg.contains("gemini-2.5-flash") && msg.contains("/v1/audio/speech"),
        "{msg}"
    );
    // Multipart: no file, no model, not multipart at all.
    let res = upload(
        &proxy,
        "/v1/audio/transcriptions",
        form(&[("model", "ears")], None),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(message(&res).contains("`file`"), "{}", res.text());
    let wav = wav_header(0);
    let res = upload(
        &proxy,
        "/v1/audio/transcriptions",
        form(&[], Some(("file", "a.wav", &wav))),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(message(&res).contains("`model`"), "{}", res.text());
    let res = request(
        "POST",
        &proxy.url("/v1/audio/transcriptions"),
        &[
            ("authorization", &format!("Bearer {KEY}")),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(
        message(&res).contains("multipart/form-data"),
        "{}",
        res.text()
    );
    // The strict fake refuses what the real API refuses, passed back as it said it.
    let res = upload(
        &proxy,
        "/v1/audio/transcriptions",
        form(
            &[("model", "ears"), ("colour", "blue")],
            Some(("file", "a.wav", &wav)),
        ),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(message(&res).contains("colour"), "{}", res.text());
    proxy.stop();
    assert_eq!(
        openai.requests().len(),
        1,
        "only the last request reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_requests_fall_back_to_the_next_account_and_leave_rows_and_logs() {
    let (openai, _gemini, mut proxy) = setup("").await;
    openai.script("sk-upstream-first-0001", [Fault::Status(429, vec![])]);
    let res = speech(
        &proxy,
        &json!({"model": "voice", "input": "héllo", "voice": "alloy", "response_format": "mp3"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.headers["content-type"], "audio/mpeg");
    assert_eq!(res.body.as_ref(), media::speech_audio("mp3", "héllo"));

    let samples = vec![7u8; 64_000];
    let mut wav = wav_header(64_000);
    wav.extend_from_slice(&samples);
    let res = upload(
        &proxy,
        "/v1/audio/transcriptions",
        form(
            &[("model", "ears"), ("response_format", "text")],
            Some(("file", "two.wav", &wav)),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.text().trim(),
        format!("heard {} bytes of two.wav", wav.len())
    );
    let png = [0x89u8, b'P', b'N', b'G'];
    let res = upload(
        &proxy,
        "/v1/images/edits",
        form(
            &[("model", "p_openai/gpt-image-1"), ("prompt", "bluer")],
            Some(("image", "in.png", &png)),
        ),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["data"].as_array().unwrap().len(), 1);
    proxy.stop();

    // The upstream got its own model names (the refused try included).
    let seen: Vec<(String, Value)> = openai
        .requests()
        .into_iter()
        .map(|r| (r.path, r.body["model"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("/v1/audio/speech".to_owned(), json!("tts-1")),
            ("/v1/audio/speech".to_owned(), json!("tts-1")),
            ("/v1/audio/transcriptions".to_owned(), json!("whisper-1")),
            ("/v1/images/edits".to_owned(), json!("gpt-image-1")),
        ]
    );
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let rows: Vec<(String, i64, i64, f64, i64, String, i64)> = conn
        .prepare(
            "SELECT endpoint, status, characters, audio_seconds, images, account, attempts
             FROM usage ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        vec![
            // The first account answered 429 and cools down; the second serves the rest.
            ("speech".into(), 200, 5, 0.0, 0, "second".into(), 2),
            ("transcriptions".into(), 200, 0, 2.0, 0, "second".into(), 1),
            ("image_edits".into(), 200, 0, 0.0, 1, "second".into(), 1),
        ]
    );
    let logs: Vec<String> = std::fs::read_dir(proxy.logs_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for model in ["tts-1", "whisper-1", "gpt-image-1"] {
        assert!(logs.iter().any(|l| l.contains(model)), "{model}: {logs:?}");
    }
}

/// The proxy's resident memory in KiB from `/proc`: now (`VmRSS`) or at its peak (`VmHWM`).
fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A 100 MB transcription upload goes upstream as it arrives: the proxy's memory grows by
/// far less than the file (the fake, in this process, holds it whole to check it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_is_streamed_with_flat_memory() {
    let (openai, _gemini, mut proxy) = setup("[server]\nbody_limit = 209715200\n").await;
    let size: u32 = 100 * 1024 * 1024;
    let mut file = wav_header(size);
    file.resize(file.len() + size as usize, 3);
    let body = form(&[("model", "ears")], Some(("file", "big.wav", &file)));
    // Warm up: the first request's allocations (pools, TLS, the database) are not the upload's.
    let small = upload(
        &proxy,
        "/v1/audio/transcriptions",
        form(
            &[("model", "ears")],
            Some(("file", "s.wav", &wav_header(0))),
        ),
    )
    .await;
    assert_eq!(small.status, 200, "{}", small.text());
    let idle = rss_kib(proxy.pid(), "VmRSS:");
    let res = upload(&proxy, "/v1/audio/transcriptions", body).await;
    // The peak since start: an upload held whole at any moment would show here.
    let after = rss_kib(proxy.pid(), "VmHWM:");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["text"],
        format!("heard {} bytes of big.wav", file.len())
    );
    assert!(
        after.saturating_sub(idle) < 30 * 1024,
        "the proxy grew by {} KiB over {idle} KiB for a 100 MB upload",
        after.saturating_sub(idle)
    );
    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let seconds: f64 = conn
        .query_row(
            "SELECT audio_seconds FROM usage ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // 100 MiB of 16 kHz 16-bit mono, from the WAV header.
    assert!(
        (seconds - f64::from(size) / 32_000.0).abs() < 1e-6,
        "{seconds}"
    );
    drop(openai);
}

/// A speech request, its answer's head back as soon as it comes (the body still to read).
async fn speech_streamed(proxy: &Proxy, body: &Value) -> http::Response<hyper::body::Incoming> {
    let auth = format!("Bearer {KEY}");
    send(
        "POST",
        &proxy.url("/v1/audio/speech"),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

/// The next data of `body`: `Ok(None)` at a clean end, `Err` when it broke off.
async fn next_data(body: &mut hyper::body::Incoming) -> Result<Option<bytes::Bytes>, String> {
    use http_body_util::BodyExt;
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), body.frame()).await {
            Err(_) => return Err("no frame within 10 s".into()),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// The fake sends the first frame of audio and then holds the rest until the test has
/// that frame through the proxy: a proxy that buffered the audio would never pass it on,
/// and the test would time out waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_audio_reaches_the_client_while_the_upstream_holds_the_rest() {
    let (openai, _gemini, mut proxy) = setup("").await;
    openai.script("sk-upstream-first-0001", [Fault::HoldAfterFirstFrame]);
    let input = "streamed, not buffered";
    let res = speech_streamed(
        &proxy,
        &json!({"model": "voice", "input": input, "voice": "alloy", "response_format": "wav"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let whole = media::speech_audio("wav", input);
    let first_frame = whole.len().div_ceil(8);
    let mut body = res.into_body();
    let mut got: Vec<u8> = Vec::new();
    while got.len() < first_frame {
        match next_data(&mut body).await {
            Ok(Some(data)) => got.extend_from_slice(&data),
            other => panic!(
                "the first frame did not come through while the upstream held the rest: {other:?} after {} bytes",
                got.len()
            ),
        }
    }
    assert_eq!(got, whole[..first_frame], "the first frame, and only it");
    openai.release();
    loop {
        match next_data(&mut body).await {
            Ok(Some(data)) => got.extend_from_slice(&data),
            Ok(None) => break,
            Err(e) => panic!("the audio broke off: {e}"),
        }
    }
    assert_eq!(got, whole);
    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let (status, characters): (i64, i64) = conn
        .query_row(
            "SELECT status, characters FROM usage WHERE endpoint = 'speech'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status, characters), (200, input.len() as i64));
}

/// The upstream breaks the speech stream after its first frame: the client must see the
/// answer fail (the connection reset before the head, or the body broken off), never a
/// clean end as if the audio were whole; and the usage row records the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speech_stream_the_upstream_breaks_is_broken_for_the_client_too() {
    let (openai, _gemini, mut proxy) = setup("").await;
    openai.script("sk-upstream-first-0001", [Fault::ResetAfterFirstByte]);
    let input = "cut short";
    let whole = media::speech_audio("mp3", input);
    let auth = format!("Bearer {KEY}");
    let req = http::Request::post(proxy.url("/v1/audio/speech"))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"model": "voice", "input": input, "voice": "alloy"}).to_string(),
        )))
        .unwrap();
    let sent = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        switchyard_tester::http_client::client().request(req),
    )
    .await
    .unwrap();
    let mut got: Vec<u8> = Vec::new();
    let ended = match sent {
        // The proxy may cut the connection before its head went out.
        Err(e) => Err(e.to_string()),
        Ok(res) => {
            assert_eq!(res.status(), 200, "the audio had started");
            let mut body = res.into_body();
            loop {
                match next_data(&mut body).await {
                    Ok(Some(data)) => got.extend_from_slice(&data),
                    other => break other,
                }
            }
        }
    };
    assert!(
        matches!(&ended, Err(e) if !e.contains("no frame within")),
        "the client must see the audio broken, not a clean end: {ended:?} after {} of {} bytes",
        got.len(),
        whole.len()
    );
    assert!(
        got.len() < whole.len() && whole.starts_with(&got),
        "{} bytes",
        got.len()
    );
    proxy.stop();
    let conn = rusqlite::Connection::open(proxy.db_path()).unwrap();
    let (status, class): (i64, String) = conn
        .query_row(
            "SELECT status, error_class FROM usage WHERE endpoint = 'speech'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, 502, "recorded as the upstream's failure ({class})");
    assert!(!class.is_empty());
}
