//! `cargo xtask bench --only cluster`: what cluster mode adds to a request. One instance
//! alone, and two instances sharing one `redis-server` on the same machine, all in front of
//! the same fake upstream, with a client key limited in requests per minute (so the
//! cluster's leased rate check runs on every request). Requests alternate between the lone
//! instance and the two cluster instances in rounds, one at a time on warm connections, so
//! drift affects both alike. Overhead = cluster − alone, at the median and the 99th
//! percentile. Results go to `target/cluster/results.json`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::load::{Conn, Target};
use super::{CHUNKS, bench_config, chat_body, percentile, spawn, spawn_proxy, us, write_results};

const CLIENT_KEY: &str = "sk-bench-cluster-client";

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

fn start_redis(dir: &Path) -> Result<(Redis, u16), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .current_dir(dir)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server (apt-get install redis-server): {e}"))?;
    let redis = Redis(child);
    let start = Instant::now();
    while !ping(port) {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("redis-server never answered PING".into());
        }
        std::thread::yield_now();
    }
    Ok((redis, port))
}

/// Whether the instance at `addr` says it is connected to the cluster's Redis.
fn connected(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.contains("\"connected\"")
}

fn config(up: SocketAddr, redis: Option<u16>) -> String {
    let cluster = redis.map_or(String::new(), |port| {
        format!("[cluster]\nredis_url = \"redis://127.0.0.1:{port}/0\"\n\n")
    });
    format!(
        "{cluster}[[client_keys]]\nid = \"bench\"\nkey = \"{CLIENT_KEY}\"\nrequests_per_minute = 100000000\n\n{}",
        bench_config(up)
    )
}

pub fn run(bin: &Path, dir: &Path, quick: bool) -> Result<(), String> {
    let (upstream, _) = spawn(
        Command::new(bin.join("bench-upstream")).args(["--chunks", &CHUNKS.to_string()]),
        "bench-upstream listening on http://",
    )?;
    let up = upstream.addr;
    let (_redis, port) = start_redis(dir)?;
    let mut procs = Vec::new();
    for (name, redis) in [("alone", None), ("a", Some(port)), ("b", Some(port))] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        std::fs::write(d.join("config.toml"), config(up, redis)).map_err(|e| e.to_string())?;
        procs.push(spawn_proxy(bin, &d)?.0);
    }
    let start = Instant::now();
    while !(connected(procs[1].addr) && connected(procs[2].addr)) {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("the cluster instances never connected to redis".into());
        }
        std::thread::yield_now();
    }
    let target = |addr| Target {
        addr,
        path: "/v1/chat/completions".into(),
        body: chat_body("up/m", false),
    };
    let targets: Vec<Target> = procs.iter().map(|p| target(p.addr)).collect();
    let rounds = if quick { 4 } else { 10 };
    let per_round = if quick { 100 } else { 400 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (mut alone, mut cluster) = rt.block_on(async {
        let mut conns = Vec::new();
        for t in &targets {
            conns.push(Conn::open(t.addr).await?);
        }
        for _ in 0..50 {
            for (c, t) in conns.iter_mut().zip(&targets) {
                c.request_as(t, Instant::now(), Some(CLIENT_KEY)).await?;
            }
        }
        let (mut alone, mut cluster) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // The two cluster instances take turns, so both share the key's allowance.
            let member = 1 + round % 2;
            for (i, samples) in [(0, &mut alone), (member, &mut cluster)] {
                for _ in 0..per_round {
                    let (_, total) = conns[i]
                        .request_as(&targets[i], Instant::now(), Some(CLIENT_KEY))
                        .await?;
                    samples.push(us(total));
                }
            }
        }
        Ok::<_, String>((alone, cluster))
    })?;
    alone.sort_by(f64::total_cmp);
    cluster.sort_by(f64::total_cmp);
    let (a50, a99) = (percentile(&alone, 0.5), percentile(&alone, 0.99));
    let (c50, c99) = (percentile(&cluster, 0.5), percentile(&cluster, 0.99));
    let summary = json!({
        "requests_each": alone.len(),
        "alone_p50_us": a50,
        "alone_p99_us": a99,
        "cluster_p50_us": c50,
        "cluster_p99_us": c99,
        "cluster_overhead_p50_us": c50 - a50,
        "cluster_overhead_p99_us": c99 - a99,
    });
    println!(
        "cluster mode (two instances, one redis, a rate-limited key): p50 {c50:.1} µs vs {a50:.1} µs alone \
         (+{:.1} µs) · p99 {c99:.1} µs vs {a99:.1} µs (+{:.1} µs) · {} requests each",
        c50 - a50,
        c99 - a99,
        alone.len()
    );
    write_results(&dir.join("results.json"), &summary)
}
