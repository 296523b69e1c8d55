//! `cargo xtask bench`: what Switchyard adds, measured against the same fake upstream.
//!
//! Each scenario is measured straight to `bench-upstream` and through `switchyard` in the
//! same run, interleaved in rounds so drift affects both alike. Overhead = through − direct.
//! Latency: one request at a time (the client and the upstream pinned to different cores);
//! under load: an open loop at a fixed rate; throughput: a closed loop at concurrency 64.
//! Memory is read from /proc, the proxy's CPU time per request from /proc/<pid>/stat.
//! Results print as a table and go to `target/bench/results.json`.

mod callgrind;
mod cluster;
mod dashboard;
mod load;
mod oha;
mod usage;
mod wrk;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use load::{Conn, Target};

const CHUNKS: usize = 20;
/// The fixed rates of the open-loop runs, well under what either path can serve, so the
/// latency they show is the latency of a loaded but not saturated proxy.
const RATE: u32 = 5_000;
const STREAM_RATE: u32 = 2_000;
/// The scenarios also measured with wrk: passthrough, translated, streaming.
const WRK_SCENARIOS: [&str; 3] = ["openai->openai", "claude->openai", "openai->openai stream"];

struct Scenario {
    name: &'static str,
    direct: Target,
    through: Target,
    stream: bool,
}

struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(cmd: &mut Command, marker: &str) -> Result<(Proc, Duration), String> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(a) = line.strip_prefix(marker) {
                    break a.trim().parse::<SocketAddr>().map_err(|e| e.to_string())?;
                }
            }
            _ => {
                let _ = child.kill();
                return Err(format!("process exited before printing {marker:?}"));
            }
        }
    };
    let elapsed = started.elapsed();
    std::thread::spawn(move || for _ in lines {});
    Ok((Proc { child, addr }, elapsed))
}

/// Switchyard on a free port with `dir/config.toml`; returns it and its start-up time.
fn spawn_proxy(bin: &Path, dir: &Path) -> Result<(Proc, Duration), String> {
    spawn(
        Command::new(bin.join("switchyard"))
            .current_dir(dir)
            .args([
                "--config",
                "config.toml",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("SWITCHYARD_LOG", "warn"),
        "switchyard listening on http://",
    )
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

#[derive(Default)]
struct Samples {
    total: Vec<f64>,
    ttfb: Vec<f64>,
}

impl Samples {
    fn sort(&mut self) {
        self.total.sort_by(f64::total_cmp);
        self.ttfb.sort_by(f64::total_cmp);
    }
}

/// CPU time (user + system) a process has used, in microseconds.
fn cpu_us(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    // Linux reports these in clock ticks of 1/100 s (USER_HZ) on every common build.
    ticks * 10_000.0
}

/// Restricts a process (all its threads) or, with `thread_only`, one thread to `cpus`.
/// Returns false where `taskset` is missing; the run goes on unpinned.
fn pin(id: u32, cpus: &str, thread_only: bool) -> bool {
    let mut cmd = Command::new("taskset");
    if !thread_only {
        cmd.arg("-a");
    }
    cmd.args(["-p", "-c", cpus, &id.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The proxy's config for the latency runs: an OpenAI-kind and a Claude-kind provider, both
/// pointing at the fake upstream.
fn bench_config(up: SocketAddr) -> String {
    format!(
        r#"[[providers]]
name = "up"
kind = "openai"
base_url = "http://{up}/v1"
[[providers.accounts]]
name = "bench"
api_key = "sk-bench-upstream-key"

[[providers]]
name = "upc"
kind = "claude"
base_url = "http://{up}/v1"
[[providers.accounts]]
name = "bench"
api_key = "sk-bench-upstream-key"
"#
    )
}

/// A short chat completion.
fn chat_body(model: &str, stream: bool) -> Bytes {
    let mut messages: Vec<Value> = vec![json!({"role": "system", "content": "You are terse."})];
    messages.push(json!({"role": "user", "content": "Say hello."}));
    Bytes::from(json!({"model": model, "messages": messages, "stream": stream}).to_string())
}

/// A short Messages request.
fn claude_body(model: &str, stream: bool) -> Bytes {
    Bytes::from(
        json!({"model": model, "max_tokens": 256, "stream": stream, "system": "You are terse.",
            "messages": [{"role": "user", "content": "Say hello."}]})
        .to_string(),
    )
}

/// A long-context chat completion: 50 messages and 10 tools.
fn big_context_body(model: &str) -> Bytes {
    let mut messages =
        vec![json!({"role": "system", "content": "You are a coding agent. ".repeat(40)})];
    for i in 0..49 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": format!("message {i}: ").repeat(20)}));
    }
    let tools: Vec<Value> = (0..10)
        .map(|i| json!({"type": "function", "function": {"name": format!("tool_{i}"), "description": "does a thing",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "n": {"type": "integer"}}, "required": ["path"]}}}))
        .collect();
    Bytes::from(json!({"model": model, "messages": messages, "tools": tools}).to_string())
}

/// A short Responses request.
fn responses_body(model: &str, stream: bool) -> Bytes {
    Bytes::from(
        json!({"model": model, "stream": stream, "instructions": "You are terse.",
            "input": [{"role": "user", "content": "Say hello."}]})
        .to_string(),
    )
}

/// Every latency scenario: the request straight to the fake upstream against the same
/// request through the proxy `px`.
fn scenarios(up: SocketAddr, px: SocketAddr) -> Vec<Scenario> {
    let direct = |path: &str, body: Bytes| Target {
        addr: up,
        path: path.into(),
        body,
    };
    let through = |path: &str, body: Bytes| Target {
        addr: px,
        path: path.into(),
        body,
    };
    vec![
        Scenario {
            name: "openai->openai",
            direct: direct("/v1/chat/completions", chat_body("m", false)),
            through: through("/v1/chat/completions", chat_body("up/m", false)),
            stream: false,
        },
        Scenario {
            name: "openai->openai stream",
            direct: direct("/v1/chat/completions", chat_body("m", true)),
            through: through("/v1/chat/completions", chat_body("up/m", true)),
            stream: true,
        },
        Scenario {
            name: "claude->openai",
            direct: direct("/v1/chat/completions", chat_body("m", false)),
            through: through("/v1/messages", claude_body("up/m", false)),
            stream: false,
        },
        Scenario {
            name: "claude->openai stream",
            direct: direct("/v1/chat/completions", chat_body("m", true)),
            through: through("/v1/messages", claude_body("up/m", true)),
            stream: true,
        },
        Scenario {
            name: "claude->claude stream",
            direct: direct("/v1/messages", claude_body("m", true)),
            through: through("/v1/messages", claude_body("upc/m", true)),
            stream: true,
        },
        Scenario {
            name: "responses->claude",
            direct: direct("/v1/messages", claude_body("m", false)),
            through: through("/v1/responses", responses_body("upc/m", false)),
            stream: false,
        },
        Scenario {
            name: "responses->claude stream",
            direct: direct("/v1/messages", claude_body("m", true)),
            through: through("/v1/responses", responses_body("upc/m", true)),
            stream: true,
        },
        Scenario {
            name: "50 msgs + 10 tools",
            direct: direct("/v1/chat/completions", big_context_body("m")),
            through: through("/v1/chat/completions", big_context_body("up/m")),
            stream: false,
        },
    ]
}

/// The column titles of the scenario table.
fn print_header() {
    println!(
        "{:<25} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11} {:>8} {:>8} {:>6} {:>8}",
        "scenario",
        "direct50",
        "thru50",
        "ovh p50",
        "ovh p99",
        "ttfb ovh",
        "@rate p50",
        "@rate p99",
        "rps dir",
        "rps thru",
        "ratio",
        "cpu/req"
    );
}

/// `rounds` of `per_round` sequential requests on one warm connection each way: the
/// (direct, through) samples, sorted.
fn latency(
    rt: &tokio::runtime::Runtime,
    s: &Scenario,
    rounds: usize,
    per_round: usize,
) -> Result<(Samples, Samples), String> {
    rt.block_on(async {
        let mut conns = (
            Conn::open(s.direct.addr).await?,
            Conn::open(s.through.addr).await?,
        );
        // Warm up caches on both paths; a failure here means a broken setup.
        for _ in 0..50 {
            conns
                .0
                .request(&s.direct, Instant::now())
                .await
                .map_err(|e| format!("{}: {e}", s.name))?;
            conns
                .1
                .request(&s.through, Instant::now())
                .await
                .map_err(|e| format!("{}: {e}", s.name))?;
        }
        let (mut d, mut t) = (Samples::default(), Samples::default());
        for _ in 0..rounds {
            for (conn, target, samples) in [
                (&mut conns.0, &s.direct, &mut d),
                (&mut conns.1, &s.through, &mut t),
            ] {
                for _ in 0..per_round {
                    let (ttfb, total) = conn.request(target, Instant::now()).await?;
                    samples.ttfb.push(us(ttfb));
                    samples.total.push(us(total));
                }
            }
        }
        d.sort();
        t.sort();
        Ok::<_, String>((d, t))
    })
}

/// The fixed-rate and as-fast-as-possible loads of one scenario, with its latency samples
/// `d` (direct) and `t` (through), as one row of the report.
fn load_row(
    rt: &tokio::runtime::Runtime,
    s: &Scenario,
    d: &Samples,
    t: &Samples,
    pid: u32,
    load_time: Duration,
) -> Result<Value, String> {
    let rate = if s.stream { STREAM_RATE } else { RATE };
    let (mut at_direct, _) = load::open_loop(rt, &s.direct, rate, 64, load_time)?;
    let (mut at_through, failed) = load::open_loop(rt, &s.through, rate, 64, load_time)?;
    at_direct.sort_by(f64::total_cmp);
    at_through.sort_by(f64::total_cmp);
    rt.block_on(async {
        let (n, secs) = load::closed_loop(&s.direct, 64, load_time).await?;
        let rps_direct = n as f64 / secs;
        let cpu_before = cpu_us(pid);
        let (n, secs) = load::closed_loop(&s.through, 64, load_time).await?;
        let rps_through = n as f64 / secs;
        // What Switchyard itself spends per request, whoever else shares the cores.
        let cpu_per_request = (cpu_us(pid) - cpu_before) / n.max(1) as f64;
        let diff = |a: &[f64], b: &[f64], p| percentile(a, p) - percentile(b, p);
        Ok::<_, String>(json!({
            "scenario": s.name,
            "stream": s.stream,
            "direct_p50_us": percentile(&d.total, 0.5),
            "through_p50_us": percentile(&t.total, 0.5),
            "overhead_p50_us": diff(&t.total, &d.total, 0.5),
            "overhead_p99_us": diff(&t.total, &d.total, 0.99),
            "ttfb_overhead_p50_us": diff(&t.ttfb, &d.ttfb, 0.5),
            "per_chunk_overhead_us": if s.stream { diff(&t.total, &d.total, 0.5) / CHUNKS as f64 } else { 0.0 },
            "fixed_rate_per_s": rate,
            "at_rate_direct_p50_us": percentile(&at_direct, 0.5),
            "at_rate_direct_p99_us": percentile(&at_direct, 0.99),
            "at_rate_through_p50_us": percentile(&at_through, 0.5),
            "at_rate_through_p99_us": percentile(&at_through, 0.99),
            "at_rate_overhead_p50_us": diff(&at_through, &at_direct, 0.5),
            "at_rate_overhead_p99_us": diff(&at_through, &at_direct, 0.99),
            "at_rate_through_failed": failed,
            "rps_direct_c64": rps_direct,
            "rps_through_c64": rps_through,
            "throughput_ratio": rps_through / rps_direct.max(1.0),
            "proxy_cpu_us_per_request": cpu_per_request,
        }))
    })
}

/// One line of the scenario table.
fn print_row(name: &str, row: &Value) {
    let f = |k: &str| row[k].as_f64().unwrap_or(0.0);
    println!(
        "{:<25} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>11.0} {:>11.0} {:>8.0} {:>8.0} {:>6.2} {:>8.1}",
        name,
        f("direct_p50_us"),
        f("through_p50_us"),
        f("overhead_p50_us"),
        f("overhead_p99_us"),
        f("ttfb_overhead_p50_us"),
        f("at_rate_overhead_p50_us"),
        f("at_rate_overhead_p99_us"),
        f("rps_direct_c64"),
        f("rps_through_c64"),
        f("throughput_ratio"),
        f("proxy_cpu_us_per_request"),
    );
}

/// `streams` streams held open at once through the proxy `px`: the peak RSS meanwhile and
/// how many completed.
fn open_streams(
    rt: &tokio::runtime::Runtime,
    px: SocketAddr,
    pid: u32,
    streams: usize,
) -> (u64, usize) {
    rt.block_on(async {
        let t = Target {
            addr: px,
            path: "/v1/chat/completions".into(),
            body: chat_body("up/m", true),
        };
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                Conn::open(t.addr).await?.request(&t, Instant::now()).await
            }));
        }
        let mut peak = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            peak = peak.max(rss_kb(pid, "VmRSS:"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut ok = 0;
        for t in tasks {
            if matches!(t.await, Ok(Ok(_))) {
                ok += 1;
            }
        }
        (peak, ok)
    })
}

/// The cases with a setup of their own: the usage API and each dashboard page over a
/// million rows (their own database, no upstream), and cluster mode's cost (one instance alone against two sharing
/// one Redis).
fn own_case(root: &Path, quick: bool, only: Option<&str>) -> Option<Result<(), String>> {
    let case = only.filter(|o| matches!(*o, "usage" | "dashboard" | "cluster"))?;
    Some(release_build(root, case).and_then(|(bin, dir)| match case {
        "usage" => usage::run(&bin, &dir, quick),
        "dashboard" => dashboard::run(&bin, &dir, quick),
        _ => cluster::run(&bin, &dir, quick),
    }))
}

/// `--callgrind`: instructions per request under valgrind (see [`callgrind`]).
pub fn callgrind(root: &Path, requests: usize, only: Option<&str>) -> Result<(), String> {
    callgrind::run(root, requests, only)
}

pub fn run(root: &Path, quick: bool, only: Option<&str>) -> Result<(), String> {
    if let Some(done) = own_case(root, quick, only) {
        return done;
    }
    let (bin, dir) = release_build(root, "bench")?;

    let (upstream, _) = spawn(
        Command::new(bin.join("bench-upstream")).args(["--chunks", &CHUNKS.to_string()]),
        "bench-upstream listening on http://",
    )?;
    let up = upstream.addr;
    let config = bench_config(up);
    std::fs::write(dir.join("config.toml"), config).map_err(|e| e.to_string())?;
    let (proxy, startup) = spawn_proxy(&bin, &dir)?;
    let px = proxy.addr;
    let pid = proxy.child.id();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    #[expect(
        clippy::disallowed_methods,
        reason = "lets the freshly started proxy settle before the idle RSS sample; xtask's main thread is not async"
    )]
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = rss_kb(pid, "VmRSS:");

    let scenarios = scenarios(up, px);
    let scenarios: Vec<Scenario> = scenarios
        .into_iter()
        .filter(|s| only.is_none_or(|o| s.name.contains(o)))
        .collect();
    let rounds = if quick { 2 } else { 5 };
    let per_round = if quick { 100 } else { 400 };
    let load_time = Duration::from_secs(if quick { 1 } else { 3 });
    let mut report = Vec::new();
    print_header();
    // Latency runs on a single-threaded client, so the client's own hand-offs between
    // threads add nothing to either side; the loads need both cores' worth of client.
    let latency_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Latency runs keep the client (this thread) and the fake upstream on different cores,
    // as a client and a remote provider are; where Switchyard runs is left to the
    // scheduler. Without this, which of the three processes share a core changes from run
    // to run, and a cross-core wake-up costs tens of microseconds on a virtual machine.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all = format!("0-{}", cores.saturating_sub(1));
    let pinned = cores >= 2;
    for s in &scenarios {
        let pinned =
            pinned && pin(upstream.child.id(), "1", false) && pin(std::process::id(), "0", true);
        let (d, t) = latency(&latency_rt, s, rounds, per_round)?;
        if pinned {
            pin(upstream.child.id(), &all, false);
            pin(std::process::id(), &all, true);
        }
        let row = load_row(&rt, s, &d, &t, pid, load_time)?;
        print_row(s.name, &row);
        report.push(row);
    }
    let others = |g| {
        compare(
            g,
            &dir,
            &scenarios,
            &report,
            upstream.child.id(),
            (rounds, load_time),
            pinned.then_some(all.as_str()),
        )
    };
    let wrk_rows = others(Generator::Wrk)?;
    let oha_rows = others(Generator::Oha)?;
    let peak_rss = rss_kb(pid, "VmHWM:");

    drop(upstream);
    drop(proxy);
    let streams = if quick { 200 } else { 1000 };
    let open_rss = streams_run(&rt, &bin, &dir, up, streams)?;
    let summary = json!({
        "startup_ms": startup.as_secs_f64() * 1000.0,
        "idle_rss_mb": idle_rss as f64 / 1024.0,
        "peak_rss_mb_during_load": peak_rss as f64 / 1024.0,
        "open_streams": streams,
        "open_streams_completed": open_rss.1,
        "rss_mb_with_open_streams": open_rss.0 as f64 / 1024.0,
        "scenarios": report,
        "wrk": wrk_rows,
        "oha": oha_rows,
    });
    println!(
        "\nstart-up {:.1} ms · idle RSS {:.1} MB · peak RSS under load {:.1} MB · {} open streams: {:.1} MB ({} completed)",
        summary["startup_ms"].as_f64().unwrap_or(0.0),
        summary["idle_rss_mb"].as_f64().unwrap_or(0.0),
        summary["peak_rss_mb_during_load"].as_f64().unwrap_or(0.0),
        streams,
        summary["rss_mb_with_open_streams"].as_f64().unwrap_or(0.0),
        open_rss.1,
    );
    write_results(&dir.join("results.json"), &summary)?;
    Ok(())
}

/// `streams` concurrent open streams through a fresh proxy in `dir` whose upstream (was `up`)
/// trickles its chunks so all are open at once: the peak RSS meanwhile and how many completed.
fn streams_run(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    up: SocketAddr,
    streams: usize,
) -> Result<(u64, usize), String> {
    let (slow, _) = spawn(
        Command::new(bin.join("bench-upstream")).args([
            "--chunks",
            "20",
            "--chunk-delay-us",
            "100000",
        ]),
        "bench-upstream listening on http://",
    )?;
    let config = std::fs::read_to_string(dir.join("config.toml")).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("config.toml"),
        config.replace(&up.to_string(), &slow.addr.to_string()),
    )
    .map_err(|e| e.to_string())?;
    let (proxy, _) = spawn_proxy(bin, dir)?;
    let open = open_streams(rt, proxy.addr, proxy.child.id(), streams);
    drop(slow);
    Ok(open)
}

/// The two load generators no one here wrote, measured as each other.
#[derive(Clone, Copy)]
enum Generator {
    Wrk,
    Oha,
}

impl Generator {
    fn name(self) -> &'static str {
        match self {
            Generator::Wrk => "wrk",
            Generator::Oha => "oha",
        }
    }

    fn available(self) -> bool {
        match self {
            Generator::Wrk => wrk::available(),
            Generator::Oha => oha::available(),
        }
    }

    fn missing(self) -> &'static str {
        match self {
            Generator::Wrk => "wrk is not installed (`apt-get install wrk`)",
            Generator::Oha => {
                "oha is not found (`cargo install --locked oha`, then put it on PATH or name it in SWITCHYARD_OHA)"
            }
        }
    }

    fn measure(
        self,
        dir: &Path,
        case: &wrk::Case<'_>,
        (rounds, load_time): (usize, Duration),
        client_cpu: Option<&str>,
    ) -> Result<Value, String> {
        match self {
            Generator::Wrk => wrk::measure(dir, case, rounds, load_time, load_time, client_cpu),
            Generator::Oha => oha::measure(dir, case, rounds, load_time, load_time, client_cpu),
        }
    }
}

/// `generator`'s figures for the [`WRK_SCENARIOS`] among `scenarios` beside `report`'s
/// (ours), or null where it is not installed. With `all_cores` (a 2-core machine), its
/// one-connection runs are pinned as ours are: the client on core 0, the fake upstream on
/// core 1.
fn compare(
    generator: Generator,
    dir: &Path,
    scenarios: &[Scenario],
    report: &[Value],
    upstream_pid: u32,
    times: (usize, Duration),
    all_cores: Option<&str>,
) -> Result<Value, String> {
    if !generator.available() {
        println!("\n{}: its figures are skipped", generator.missing());
        return Ok(Value::Null);
    }
    wrk::print_header(generator.name());
    let mut rows = Vec::new();
    for (s, ours) in scenarios.iter().zip(report) {
        if !WRK_SCENARIOS.contains(&s.name) {
            continue;
        }
        let case = wrk::Case {
            name: s.name,
            direct: &s.direct,
            through: &s.through,
        };
        let pinned = all_cores.is_some() && pin(upstream_pid, "1", false);
        let row = generator.measure(dir, &case, times, pinned.then_some("0"));
        if let Some(all) = all_cores.filter(|_| pinned) {
            pin(upstream_pid, all, false);
        }
        let row = row?;
        wrk::print_row(ours, &row);
        rows.push(row);
    }
    Ok(Value::from(rows))
}

/// Builds the release binaries and empties `target/<name>`: (binary directory, work directory).
/// `SWITCHYARD_BENCH_BIN_DIR` names a directory of binaries already built (another profile,
/// for a quick check of a benchmark's harness; its figures are not the release build's).
fn release_build(root: &Path, name: &str) -> Result<(PathBuf, PathBuf), String> {
    let prebuilt = std::env::var_os("SWITCHYARD_BENCH_BIN_DIR").map(PathBuf::from);
    if prebuilt.is_none() {
        crate::cargo(&["build", "--release", "--workspace", "--bins"])?;
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = prebuilt.unwrap_or_else(|| target.join("release"));
    let dir = target.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok((bin, dir))
}

/// Writes the summary as pretty JSON to `out` and says where.
fn write_results(out: &Path, summary: &Value) -> Result<(), String> {
    std::fs::write(
        out,
        serde_json::to_string_pretty(summary).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    println!("results: {}", out.display());
    Ok(())
}

/// 64 connections sending `t` back to back until `stop`, counting answers in `done`; each
/// task ends `false` if its connection failed.
fn start_clients(
    rt: &tokio::runtime::Runtime,
    t: &Target,
    stop: &Arc<AtomicBool>,
    done: &Arc<AtomicU64>,
) -> Result<Vec<tokio::task::JoinHandle<bool>>, String> {
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let mut conn = Conn::open(t.addr).await?;
            let (t, stop, done) = (t.clone(), stop.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if conn.request(&t, Instant::now()).await.is_err() {
                        return false;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                true
            }));
        }
        Ok::<_, String>(tasks)
    })
}

/// The proxy's RSS once a second for `secs` seconds from `start`, each printed with the
/// requests answered in that second.
fn sample_rss(pid: u32, secs: u64, start: Instant, done: &AtomicU64) -> Vec<u64> {
    let mut samples = Vec::new();
    let mut last = 0;
    println!("{:>5} {:>8} {:>9}", "s", "RSS MB", "req/s");
    for s in 1..=secs {
        let due = start + Duration::from_secs(s);
        #[expect(
            clippy::disallowed_methods,
            reason = "paces the once-a-second RSS sampling on xtask's plain main thread"
        )]
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let rss = rss_kb(pid, "VmRSS:");
        let n = done.load(Ordering::Relaxed);
        println!("{s:>5} {:>8.1} {:>9}", rss as f64 / 1024.0, n - last);
        samples.push(rss);
        last = n;
    }
    samples
}

/// Flatness as the soak judges it: the mean RSS of the second minute and of the last
/// minute (for runs shorter than three minutes, of the second and the last quarter).
fn flatness_means(samples: &[u64]) -> (f64, f64) {
    let window = if samples.len() >= 180 {
        60
    } else {
        (samples.len() / 4).max(1)
    };
    let mean = |w: &[u64]| w.iter().sum::<u64>() as f64 / w.len().max(1) as f64;
    let early = samples
        .get(window..(2 * window).min(samples.len()))
        .unwrap_or(&[]);
    let late = &samples[samples.len().saturating_sub(window)..];
    (mean(early), mean(late))
}

/// A graceful stop (SIGTERM): the writer drains its queue before the process exits. Returns
/// how long that took.
fn stop_gracefully(proxy: &mut Proc) -> Duration {
    let _ = Command::new("kill")
        .args(["-TERM", &proxy.child.id().to_string()])
        .status();
    let stopping = Instant::now();
    let _ = proxy.child.wait();
    stopping.elapsed()
}

/// `--soak-secs N`: N seconds of passthrough requests on 64 connections as fast as they go,
/// then N seconds of streamed ones, each against a fresh proxy whose RSS is sampled every
/// second (the curve must be flat), then a graceful stop and every answered request's usage
/// row counted in the database.
pub fn soak(root: &Path, secs: u64) -> Result<(), String> {
    let (bin, dir) = release_build(root, "soak")?;
    let (upstream, _) = spawn(
        Command::new(bin.join("bench-upstream")).args(["--chunks", &CHUNKS.to_string()]),
        "bench-upstream listening on http://",
    )?;
    let mut phases = Vec::new();
    let mut problems = Vec::new();
    for stream in [false, true] {
        let (summary, problem) = soak_phase(&bin, &dir, upstream.addr, stream, secs)?;
        phases.push(summary);
        problems.extend(problem);
    }
    write_results(&dir.join("soak.json"), &Value::Array(phases))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// One soak phase in its own directory: the summary, and what broke the soak's rules if
/// anything did (a missing usage row, a peak over 100 MB, a curve that climbs).
fn soak_phase(
    bin: &Path,
    root_dir: &Path,
    upstream: SocketAddr,
    stream: bool,
    secs: u64,
) -> Result<(Value, Option<String>), String> {
    let kind = if stream { "streaming" } else { "non-streaming" };
    let dir = root_dir.join(kind);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = format!(
        "[[providers]]\nname = \"up\"\nkind = \"openai\"\nbase_url = \"http://{upstream}/v1\"\n\
         [[providers.accounts]]\nname = \"bench\"\napi_key = \"sk-bench-upstream-key\"\n"
    );
    std::fs::write(dir.join("config.toml"), config).map_err(|e| e.to_string())?;
    let (mut proxy, _) = spawn_proxy(bin, &dir)?;
    let pid = proxy.child.id();
    let t = Target {
        addr: proxy.addr,
        path: "/v1/chat/completions".into(),
        body: chat_body("up/m", stream),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let idle_kb = rss_kb(pid, "VmRSS:");
    let cpu_before = cpu_us(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks = start_clients(&rt, &t, &stop, &done)?;
    let start = Instant::now();
    println!("\nsoak, {kind}:");
    let samples = sample_rss(pid, secs, start, &done);
    stop.store(true, Ordering::Relaxed);
    let failed = rt.block_on(async {
        let mut failed = 0;
        for task in tasks {
            if !matches!(task.await, Ok(true)) {
                failed += 1;
            }
        }
        failed
    });
    let elapsed = start.elapsed().as_secs_f64();
    let answered = done.load(Ordering::Relaxed);
    let cpu_per_request = (cpu_us(pid) - cpu_before) / answered.max(1) as f64;
    let after_kb = rss_kb(pid, "VmRSS:");
    let drain = stop_gracefully(&mut proxy);
    let rows: i64 = rusqlite::Connection::open(dir.join("data/switchyard.db"))
        .and_then(|c| c.query_row("SELECT count(*) FROM usage", [], |r| r.get(0)))
        .map_err(|e| e.to_string())?;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let peak = samples.iter().copied().max().unwrap_or(0);
    let (early, late) = flatness_means(&samples);
    let summary = json!({
        "phase": kind,
        "seconds": secs,
        "connections": 64,
        "requests": answered,
        "requests_per_s": answered as f64 / elapsed,
        "failed_connections": failed,
        "proxy_cpu_us_per_request": cpu_per_request,
        "idle_rss_mb": mb(idle_kb),
        "peak_rss_mb": mb(peak),
        "second_minute_mean_rss_mb": early / 1024.0,
        "last_minute_mean_rss_mb": late / 1024.0,
        "rss_after_mb": mb(after_kb),
        "usage_rows": rows,
        "drain_ms": drain.as_secs_f64() * 1000.0,
        "rss_mb_per_s": samples.iter().map(|k| mb(*k)).collect::<Vec<_>>(),
    });
    println!(
        "soak {kind} {secs} s at c=64: {answered} requests ({:.0}/s, {cpu_per_request:.1} µs \
         proxy CPU each), {failed} connections failed; RSS idle {:.1} MB, peak {:.1} MB, \
         second-minute mean {:.1} MB, last-minute mean {:.1} MB; {rows} usage rows for \
         {answered} requests; writer drained in {:.0} ms",
        answered as f64 / elapsed,
        mb(idle_kb),
        mb(peak),
        early / 1024.0,
        late / 1024.0,
        drain.as_secs_f64() * 1000.0,
    );
    let problem = if rows as u64 != answered {
        Some(format!("{kind}: {rows} usage rows for {answered} requests"))
    } else if peak > 100 * 1024 {
        Some(format!("{kind}: peak RSS {:.1} MB over 100 MB", mb(peak)))
    } else if late > early * 1.1 {
        Some(format!(
            "{kind}: RSS climbs: last-minute mean {:.1} MB against {:.1} MB in the second minute",
            late / 1024.0,
            early / 1024.0
        ))
    } else {
        None
    };
    Ok((summary, problem))
}
