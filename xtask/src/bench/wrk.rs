//! The same figures from `wrk`, a load generator no one here wrote (Debian's `wrk`), beside
//! our own generator's: overhead p50/p99 at one connection from wrk's latency distribution,
//! requests/s at 64 connections and the through/direct ratio, for passthrough, translated
//! and streaming. A figure that holds only with our own client would say more about the
//! client than about the proxy. Where wrk is not installed the bench says so and goes on.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::load::Target;
use super::percentile;

/// One run's figures, from wrk or oha.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub p50_us: f64,
    pub p99_us: f64,
    pub rps: f64,
}

/// One run of an external generator: its input file (script or body), the target, the
/// connections, how long, and the CPUs to pin it to.
pub type RunOnce = fn(&Path, &Target, usize, Duration, Option<&str>) -> Result<Run, String>;

/// `program` as a generator runs it: pinned to `cpus` with `taskset` when given, so the
/// generator's threads do not share a core with the proxy's.
pub fn pinned(program: &OsStr, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// True when `wrk` is on PATH and runs.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("-v")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"))
}

/// Writes the Lua script that makes wrk send `t`'s POST and print its figures on one
/// marked line (latency in microseconds, straight from wrk's histogram).
fn script(dir: &Path, name: &str, t: &Target) -> Result<PathBuf, String> {
    let body = String::from_utf8_lossy(&t.body);
    if body.contains("]==]") {
        return Err(format!(
            "{name}: the request body cannot go in a Lua long string"
        ));
    }
    let lua = format!(
        r#"wrk.method = "POST"
wrk.path = "{path}"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SYWRK %.1f %.1f %.0f %.0f %.0f\n",
    latency:percentile(50.0), latency:percentile(99.0), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#,
        path = t.path,
    );
    let file = dir.join(format!(
        "wrk-{}.lua",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    std::fs::write(&file, lua).map_err(|e| e.to_string())?;
    Ok(file)
}

/// One wrk run of `time` at `connections` against `t`, pinned to `cpus` when given.
fn run_once(
    script: &Path,
    t: &Target,
    connections: usize,
    time: Duration,
    cpus: Option<&str>,
) -> Result<Run, String> {
    let threads = connections.clamp(1, 2).to_string();
    let out = pinned(OsStr::new("wrk"), cpus)
        .args(["-t", &threads, "-c", &connections.to_string()])
        .arg("-d")
        // wrk takes whole seconds (its units are s, m and h).
        .arg(format!("{}s", time.as_secs().max(1)))
        .arg("-s")
        .arg(script)
        .arg(format!("http://{}{}", t.addr, t.path))
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("SYWRK "))
        .ok_or_else(|| format!("wrk printed no figures: {text}"))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [p50_us, p99_us, requests, duration_us, errors] = f[..] else {
        return Err(format!("wrk's figures unreadable: {line}"));
    };
    if errors > 0.0 {
        return Err(format!(
            "wrk against {}{}: {errors} errors or non-2xx answers",
            t.addr, t.path
        ));
    }
    Ok(Run {
        p50_us,
        p99_us,
        rps: requests / (duration_us / 1e6).max(1e-9),
    })
}

/// One scenario as wrk runs it: its name and both targets.
pub struct Case<'a> {
    pub name: &'a str,
    pub direct: &'a Target,
    pub through: &'a Target,
}

/// wrk's figures for one scenario: `rounds` of one-connection runs each way, interleaved
/// (the median of each round's p50 and p99), wrk on `client_cpu` when given, then 64
/// connections each way.
pub fn measure(
    dir: &Path,
    case: &Case<'_>,
    rounds: usize,
    time: Duration,
    load_time: Duration,
    client_cpu: Option<&str>,
) -> Result<Value, String> {
    let direct = script(dir, &format!("{}-direct", case.name), case.direct)?;
    let through = script(dir, &format!("{}-through", case.name), case.through)?;
    interleaved(
        run_once,
        [&direct, &through],
        case,
        rounds,
        [time, load_time],
        client_cpu,
    )
}

/// The measurement wrk and oha share: both paths warmed, then `rounds` of one-connection
/// runs each way, interleaved (the median of each round's p50 and p99), on `client_cpu` when
/// given, then 64 connections each way for requests/s. `inputs` are the direct and through
/// inputs of `run`; `times` the one-connection and the 64-connection durations.
pub fn interleaved(
    run: RunOnce,
    inputs: [&Path; 2],
    case: &Case<'_>,
    rounds: usize,
    times: [Duration; 2],
    client_cpu: Option<&str>,
) -> Result<Value, String> {
    let [direct, through] = inputs;
    let [time, load_time] = times;
    // Warm both paths (connections, caches) before anything is measured.
    run(direct, case.direct, 1, Duration::from_secs(1), None)?;
    run(through, case.through, 1, Duration::from_secs(1), None)?;
    let (mut d50, mut d99, mut t50, mut t99) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds.max(1) {
        let d = run(direct, case.direct, 1, time, client_cpu)?;
        let t = run(through, case.through, 1, time, client_cpu)?;
        d50.push(d.p50_us);
        d99.push(d.p99_us);
        t50.push(t.p50_us);
        t99.push(t.p99_us);
    }
    for v in [&mut d50, &mut d99, &mut t50, &mut t99] {
        v.sort_by(f64::total_cmp);
    }
    let rps_direct = run(direct, case.direct, 64, load_time, None)?.rps;
    let rps_through = run(through, case.through, 64, load_time, None)?.rps;
    let (d50, d99, t50, t99) = (
        percentile(&d50, 0.5),
        percentile(&d99, 0.5),
        percentile(&t50, 0.5),
        percentile(&t99, 0.5),
    );
    Ok(json!({
        "scenario": case.name,
        "direct_p50_us": d50,
        "direct_p99_us": d99,
        "through_p50_us": t50,
        "through_p99_us": t99,
        "overhead_p50_us": t50 - d50,
        "overhead_p99_us": t99 - d99,
        "rps_direct_c64": rps_direct,
        "rps_through_c64": rps_through,
        "throughput_ratio": rps_through / rps_direct.max(1.0),
    }))
}

/// The comparison table's title line, for `tool` (wrk or oha).
pub fn print_header(tool: &str) {
    println!("\n{tool} beside our generator (overhead at c=1, µs; through requests/s at c=64):");
    println!(
        "{:<25} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "scenario",
        "ours p50",
        format!("{tool} p50"),
        "ours p99",
        format!("{tool} p99"),
        "ours rps",
        format!("{tool} rps"),
        "ours ×",
        format!("{tool} ×")
    );
}

/// One line of the comparison: `ours` is the scenario's row from our own generator,
/// `theirs` the other generator's.
pub fn print_row(ours: &Value, theirs: &Value) {
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    println!(
        "{:<25} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>7.2} {:>7.2}",
        theirs["scenario"].as_str().unwrap_or(""),
        f(ours, "overhead_p50_us"),
        f(theirs, "overhead_p50_us"),
        f(ours, "overhead_p99_us"),
        f(theirs, "overhead_p99_us"),
        f(ours, "rps_through_c64"),
        f(theirs, "rps_through_c64"),
        f(ours, "throughput_ratio"),
        f(theirs, "throughput_ratio"),
    );
}
