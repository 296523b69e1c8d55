//! `cargo xtask bench --callgrind`: the proxy's CPU per request as instructions, counted by
//! valgrind's callgrind, for passthrough, streaming and translated requests.
//!
//! Why instructions: wall-clock and /proc CPU figures move with whatever else shares the
//! cores (on the 2-core bench machine, other builds and the load generator itself), so a
//! 10% gain hides in the noise. Instructions executed in the proxy's own code (every
//! thread, the usage writer included) repeat to within a few percent from run to run,
//! whatever the load; what still moves is the usage writer's batching (how many rows share
//! one SQLite commit follows timing). What they leave out: time in the kernel (the socket calls themselves) and cache
//! misses; a cut in instructions is a cut in user CPU, not a latency figure.
//!
//! How: the release proxy runs under callgrind against `bench-upstream`; per scenario, after
//! a warm-up, the counters are zeroed (`callgrind_control -z`), N requests are sent one
//! after another on one connection, the usage writer is waited for (their rows counted in
//! the database), and the counters are dumped (`callgrind_control -d`). Instructions per
//! request = the dump's total / N. Busy polling is off (its spinning counts instructions by
//! wall time, which valgrind stretches) and one serving thread runs, so the figure is the
//! work a request costs. Each dump's per-function profile goes to
//! `target/callgrind/<scenario>.txt` (`callgrind_annotate`), its top lines printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::load::Conn;
use super::{Proc, Scenario, bench_config, release_build, scenarios, spawn, write_results};

/// The scenarios counted: passthrough, streamed passthrough of both stream families, and
/// translated pairs each way, so both translated/passthrough stream ratios of issue 13
/// (claude->openai over openai->openai, responses->claude over claude->claude) are counted.
const CASES: [&str; 6] = [
    "openai->openai",
    "openai->openai stream",
    "claude->openai",
    "claude->openai stream",
    "claude->claude stream",
    "responses->claude stream",
];
const WARM_UP: usize = 50;
/// Functions of each profile printed (all of them are in its file).
const TOP: usize = 12;

/// Runs the count; `requests` per scenario, scenarios whose name contains `only`.
pub fn run(root: &Path, requests: usize, only: Option<&str>) -> Result<(), String> {
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!(
                "{tool} is not installed (`apt-get install valgrind`)"
            ));
        }
    }
    let (bin, dir) = release_build(root, "callgrind")?;
    let (upstream, _) = spawn(
        Command::new(bin.join("bench-upstream")).args(["--chunks", &super::CHUNKS.to_string()]),
        "bench-upstream listening on http://",
    )?;
    std::fs::write(dir.join("config.toml"), bench_config(upstream.addr))
        .map_err(|e| e.to_string())?;
    let out = dir.join("callgrind.out");
    let (proxy, _) = spawn(
        Command::new("valgrind")
            .current_dir(&dir)
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(bin.join("switchyard"))
            .args([
                "--config",
                "config.toml",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("SWITCHYARD_LOG", "warn")
            .env("SWITCHYARD_BUSY_POLL_US", "0")
            .env("SWITCHYARD_THREADS", "1"),
        "switchyard listening on http://",
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let db = dir.join("data/switchyard.db");
    let mut counted = Counter {
        proxy: &proxy,
        out: &out,
        dumps: 0,
        rows: 0,
        db: &db,
    };
    println!(
        "{:<25} {:>9} {:>16} {:>14}",
        "scenario", "requests", "instructions", "per request"
    );
    let mut rows = Vec::new();
    for s in scenarios(upstream.addr, proxy.addr)
        .iter()
        .filter(|s| CASES.contains(&s.name) && only.is_none_or(|o| s.name.contains(o)))
    {
        let (total, profile) = counted.scenario(&rt, s, requests)?;
        let per = total as f64 / requests as f64;
        println!("{:<25} {requests:>9} {total:>16} {per:>14.0}", s.name);
        let file = dir.join(format!("{}.txt", file_name(s.name)));
        std::fs::write(&file, &profile).map_err(|e| e.to_string())?;
        for line in top_functions(&profile, TOP) {
            println!("    {line}");
        }
        rows.push(json!({
            "scenario": s.name,
            "requests": requests,
            "instructions": total,
            "instructions_per_request": per,
            "profile": file.display().to_string(),
        }));
    }
    drop(proxy);
    drop(upstream);
    write_results(&dir.join("results.json"), &Value::from(rows))
}

/// The proxy under callgrind and what has been asked of it so far.
struct Counter<'a> {
    proxy: &'a Proc,
    out: &'a Path,
    dumps: usize,
    /// Usage rows written so far: one per request answered.
    rows: u64,
    db: &'a Path,
}

impl Counter<'_> {
    /// One scenario's (instructions, per-function profile) over `n` requests.
    fn scenario(
        &mut self,
        rt: &tokio::runtime::Runtime,
        s: &Scenario,
        n: usize,
    ) -> Result<(u64, String), String> {
        // One connection throughout: its opening is not counted.
        let mut conn = rt.block_on(Conn::open(s.through.addr))?;
        rt.block_on(send(&mut conn, s, WARM_UP))?;
        self.rows += WARM_UP as u64;
        self.wait_rows()?;
        self.control("-z")?;
        rt.block_on(send(&mut conn, s, n))?;
        self.rows += n as u64;
        self.wait_rows()?;
        self.control("-d")?;
        self.dumps += 1;
        let dump = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        let deadline = Instant::now() + Duration::from_secs(60);
        let total = loop {
            if let Some(t) = std::fs::read_to_string(&dump).ok().and_then(|d| total(&d)) {
                break t;
            }
            if Instant::now() > deadline {
                return Err(format!("callgrind wrote no dump at {}", dump.display()));
            }
            pause();
        };
        let profile = Command::new("callgrind_annotate")
            .args(["--auto=no", "--threshold=100", "--inclusive=no"])
            .arg(&dump)
            .output()
            .map_err(|e| e.to_string())?;
        let mut text = String::from_utf8_lossy(&profile.stdout).into_owned();
        let inclusive = Command::new("callgrind_annotate")
            .args(["--auto=no", "--threshold=99", "--inclusive=yes"])
            .arg(&dump)
            .output()
            .map_err(|e| e.to_string())?;
        text.push_str("\n\n==== inclusive ====\n");
        text.push_str(&String::from_utf8_lossy(&inclusive.stdout));
        Ok((total, text))
    }

    fn control(&self, what: &str) -> Result<(), String> {
        let status = Command::new("callgrind_control")
            .args([what, &self.proxy.child.id().to_string()])
            .output()
            .map_err(|e| e.to_string())?;
        if status.status.success() {
            Ok(())
        } else {
            Err(format!(
                "callgrind_control {what} failed: {}",
                String::from_utf8_lossy(&status.stderr)
            ))
        }
    }

    /// Waits until the usage writer has written every request's row, so its work is
    /// counted with the requests that caused it.
    fn wait_rows(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let rows: i64 = rusqlite::Connection::open(self.db)
                .and_then(|c| c.query_row("SELECT count(*) FROM usage", [], |r| r.get(0)))
                .unwrap_or(0);
            if rows as u64 >= self.rows {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the usage writer wrote {rows} rows of {} in 120 s",
                    self.rows
                ));
            }
            pause();
        }
    }
}

/// A short wait between polls of something the proxy (slowed by valgrind) has yet to do.
fn pause() {
    #[expect(
        clippy::disallowed_methods,
        reason = "polls a file and a database the valgrind-slowed proxy writes; xtask's main thread is not async"
    )]
    std::thread::sleep(Duration::from_millis(100));
}

/// `n` requests of `s` through the proxy, one after another on `conn`.
async fn send(conn: &mut Conn, s: &Scenario, n: usize) -> Result<(), String> {
    for _ in 0..n {
        conn.request(&s.through, Instant::now())
            .await
            .map_err(|e| format!("{}: {e}", s.name))?;
    }
    Ok(())
}

/// The instruction total of a callgrind dump (its `summary:` or `totals:` line).
fn total(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Frames that only carry their callees' cost (the runtime's entry points, each thread's
/// start), which `callgrind_annotate` lists at the top of any profile of a running process.
const FRAMES: [&str; 11] = [
    "below main",
    "start::serve",
    "???:0x",
    "libc_start",
    "lang_start",
    "start_thread",
    "thread_start",
    ":clone ",
    "vtable.shim",
    "__rust_begin_short_backtrace",
    "main [",
];

/// The first `n` function lines of `callgrind_annotate`'s exclusive profile, each as its
/// instruction count, share and function name (the source path left out).
fn top_functions(profile: &str, n: usize) -> Vec<String> {
    profile
        .lines()
        .skip_while(|l| !l.contains("file:function"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !FRAMES.iter().any(|f| l.contains(f)))
        .take(n)
        .map(|l| {
            let l = l.trim();
            let (count, rest) = l.split_once("  ").unwrap_or((l, ""));
            let function = rest
                .trim()
                .split_once(':')
                .map_or(rest, |(_, f)| f)
                .split(" [")
                .next()
                .unwrap_or("");
            format!(
                "{count:>22}  {}",
                function.chars().take(140).collect::<String>()
            )
        })
        .collect()
}

fn file_name(scenario: &str) -> String {
    scenario.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
}
