//! `cargo xtask bench --only dashboard`: how long the server takes to render each dashboard
//! page over the same database of 1,000,000 usage rows as `--only usage` (30 days of a
//! team's traffic), signed in as a browser is. The target is under 100 ms a page (median):
//! the overview reads the hourly rollup for ranges of a day or more, so its cost follows
//! the rollup's rows, not the request count.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::load::Conn;
use super::usage::{ADMIN, prepare};
use super::{percentile, spawn_proxy, write_results};

const PAGE_TARGET_MS: f64 = 100.0;

/// The pages timed: (name, path).
const PAGES: [(&str, &str); 13] = [
    ("overview 1 hour", "/ui/?range=1h"),
    ("overview 24 hours", "/ui/?range=24h"),
    ("overview 7 days", "/ui/?range=7d"),
    ("overview 30 days", "/ui/?range=30d"),
    ("requests", "/ui/requests"),
    (
        "requests, filtered",
        "/ui/requests?provider=gemini&status=429",
    ),
    ("accounts", "/ui/accounts"),
    ("routing", "/ui/routing"),
    (
        "routing preview",
        "/ui/routing?model=anthropic%2Fclaude-sonnet-4-5",
    ),
    ("providers", "/ui/providers"),
    ("keys", "/ui/keys"),
    ("settings", "/ui/settings"),
    ("connect", "/ui/connect"),
];

pub fn run(bin: &Path, dir: &Path, quick: bool) -> Result<(), String> {
    let (_, filled) = prepare(bin, dir)?;
    let proxy = spawn_proxy(bin, dir)?.0;
    let runs = if quick { 5 } else { 21 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let measured = rt.block_on(async {
        let mut conn = Conn::open(proxy.addr).await?;
        let cookie = sign_in(&mut conn).await?;
        let headers = [("cookie", cookie.as_str())];
        let mut out = Vec::new();
        for (name, path) in PAGES {
            // The first look is timed on its own: it fills SQLite's page cache and the
            // overview's cache of past days, as a dashboard's first look after a start does.
            let started = Instant::now();
            let (status, body) = conn.get(path, &headers).await?;
            let first = started.elapsed().as_secs_f64() * 1000.0;
            if status != 200 {
                return Err(format!(
                    "GET {path}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            let mut samples = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                let (status, _) = conn.get(path, &headers).await?;
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
                if status != 200 {
                    return Err(format!("GET {path}: {status}"));
                }
            }
            samples.sort_by(f64::total_cmp);
            out.push((name, path, first, samples, body.len()));
        }
        Ok::<_, String>(out)
    })?;
    drop(proxy);
    println!(
        "\n{:<22} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "page", "first", "median", "p90", "target", "KB"
    );
    let mut failed = Vec::new();
    let mut report = Vec::new();
    for (name, path, first, samples, bytes) in &measured {
        let median = percentile(samples, 0.5);
        let p90 = percentile(samples, 0.9);
        let pass = median < PAGE_TARGET_MS;
        if !pass {
            failed.push(format!(
                "{name} median {median:.1} ms over {PAGE_TARGET_MS} ms"
            ));
        }
        println!(
            "{name:<22} {first:>6.1}ms {median:>6.1}ms {p90:>6.1}ms {PAGE_TARGET_MS:>6.0}ms {:>8.1}  {}",
            *bytes as f64 / 1024.0,
            if pass { "ok" } else { "SLOW" }
        );
        report.push(json!({
            "page": name, "path": path, "first_ms": first, "median_ms": median, "p90_ms": p90,
            "target_ms": PAGE_TARGET_MS, "bytes": bytes, "runs": samples.len(),
        }));
    }
    write_results(
        &dir.join("dashboard.json"),
        &json!({ "usage_rows": 1_000_000, "filled": filled, "pages": report }),
    )?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Signs in with the admin key as the login form does; returns the session cookie.
async fn sign_in(conn: &mut Conn) -> Result<String, String> {
    let form = format!("key={ADMIN}");
    let (status, headers, _) = conn
        .send(
            "POST",
            "/ui/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            form.into_bytes(),
        )
        .await?;
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    match (status, cookie) {
        (303, Some(c)) => Ok(c),
        (s, _) => Err(format!("dashboard sign-in answered {s} without a session")),
    }
}
