//! The same figures from `oha` (a Rust load generator on tokio and hyper, which no one here
//! wrote) beside wrk's and our own: overhead p50/p99 at one connection, requests/s at 64
//! connections and the through/direct ratio, for passthrough, translated and streaming.
//! oha is found as `SWITCHYARD_OHA` (a path) or `oha` on PATH; it has no Debian package and
//! CI does not install it, so without it the bench says so and goes on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::load::Target;
use super::wrk::{Case, Run, interleaved, pinned};

/// The oha binary: `SWITCHYARD_OHA` when set, else `oha` from PATH.
fn binary() -> PathBuf {
    std::env::var_os("SWITCHYARD_OHA").map_or_else(|| PathBuf::from("oha"), PathBuf::from)
}

/// True when oha is found and runs.
pub fn available() -> bool {
    Command::new(binary())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes `t`'s body to a file oha sends (`-D`), so any body goes as it is.
fn body_file(dir: &Path, name: &str, t: &Target) -> Result<PathBuf, String> {
    let file = dir.join(format!(
        "oha-{}.json",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    std::fs::write(&file, &t.body).map_err(|e| e.to_string())?;
    Ok(file)
}

/// One oha run of `time` at `connections` against `t`, pinned to `cpus` when given. oha's
/// runtime gets one worker thread per connection up to two (as wrk gets its threads), so a
/// one-connection run does not hand its work between threads.
fn run_once(
    body: &Path,
    t: &Target,
    connections: usize,
    time: Duration,
    cpus: Option<&str>,
) -> Result<Run, String> {
    let out = pinned(binary().as_os_str(), cpus)
        .env("TOKIO_WORKER_THREADS", connections.clamp(1, 2).to_string())
        .args(["--no-tui", "--output-format", "json", "-m", "POST"])
        .args(["-H", "content-type: application/json"])
        .args(["-c", &connections.to_string()])
        .arg("-z")
        .arg(format!("{}ms", time.as_millis().max(100)))
        .arg("-D")
        .arg(body)
        .arg(format!("http://{}{}", t.addr, t.path))
        .output()
        .map_err(|e| format!("oha: {e}"))?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "oha printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    // Requests still open when the time is up are counted as errors ("aborted due to
    // deadline"); any other error, or a status other than 2xx, is a broken setup.
    let failed: Vec<String> = v["statusCodeDistribution"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(code, _)| !code.starts_with('2'))
        .chain(
            v["errorDistribution"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(e, _)| !e.contains("deadline")),
        )
        .map(|(what, n)| format!("{what}: {n}"))
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "oha against {}{}: {}",
            t.addr,
            t.path,
            failed.join(", ")
        ));
    }
    let seconds = |p: &str| v["latencyPercentiles"][p].as_f64();
    let (Some(p50), Some(p99), Some(rps)) = (
        seconds("p50"),
        seconds("p99"),
        v["summary"]["requestsPerSec"].as_f64(),
    ) else {
        return Err(format!(
            "oha's figures unreadable: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    };
    Ok(Run {
        p50_us: p50 * 1e6,
        p99_us: p99 * 1e6,
        rps,
    })
}

/// oha's figures for one scenario, taken as wrk's are (see `wrk::measure`): `rounds` of
/// one-connection runs each way, interleaved, oha on `client_cpu` when given, then 64
/// connections each way.
pub fn measure(
    dir: &Path,
    case: &Case<'_>,
    rounds: usize,
    time: Duration,
    load_time: Duration,
    client_cpu: Option<&str>,
) -> Result<Value, String> {
    let direct = body_file(dir, &format!("{}-direct", case.name), case.direct)?;
    let through = body_file(dir, &format!("{}-through", case.name), case.through)?;
    interleaved(
        run_once,
        [&direct, &through],
        case,
        rounds,
        [time, load_time],
        client_cpu,
    )
}
