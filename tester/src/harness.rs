//! Runs the real `switchyard` binary for end-to-end tests: a fresh directory, a config, an
//! OS-chosen port read from the binary's own start-up line, readiness polled (never slept).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The binary under test: `$SWITCHYARD_BIN`, else `switchyard` beside the test's own target
/// dir, built (or brought up to date) by cargo once per test process so a plain
/// `cargo test --workspace` on a fresh checkout needs no earlier `cargo build`.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SWITCHYARD_BIN") {
        return p.into();
    }
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build_workspace_binary("switchyard"))
        .clone()
}

/// Runs `cargo build` for the workspace binary `bin` with the test executable's own profile and
/// target dir, and returns its path; panics with cargo's output when the build fails.
fn build_workspace_binary(bin: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // `--workspace --examples` resolves features the way `cargo test --workspace` and
    // `cargo build --workspace --all-targets` do (dev-dependencies included), so the binary
    // they built is reused as is; `-p <package>` alone would resolve other features and
    // rebuild every crate a second time. The workspace has no examples, so nothing else builds.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--workspace",
        "--examples",
        "--bin",
        bin,
    ]);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // Cargo marks the root of every target dir it owns; a `--target <triple>` layout has one
    // more level, and then cargo's own configuration already points at the right place.
    if let Some(target_dir) = profile_dir.parent()
        && target_dir.join("CACHEDIR.TAG").exists()
    {
        cmd.arg("--target-dir").arg(target_dir);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} to build {bin}: {e}"));
    assert!(
        out.status.success(),
        "building {bin} failed ({cmd:?}):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let path = profile_dir.join(bin);
    assert!(
        path.exists(),
        "{cmd:?} succeeded but {} is missing:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// A fresh directory under the system temp dir.
pub fn scratch_dir(label: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("switchyard-{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proxy {
    /// Starts the binary in a fresh directory with `config` as its config file.
    pub fn start(config: &str, env: &[(&str, &str)]) -> Proxy {
        Self::start_in(scratch_dir("e2e"), config, env)
    }

    /// Starts the binary in `dir`, keeping whatever an earlier run left there (its
    /// database), as a restart would.
    pub fn start_in(dir: PathBuf, config: &str, env: &[(&str, &str)]) -> Proxy {
        Self::start_listening(dir, config, env, "127.0.0.1:0")
    }

    /// Starts the binary in `dir` listening on `listen` (`[::]:0` to listen on every
    /// address); [`Proxy::addr`] is then the address it reports.
    pub fn start_listening(
        dir: PathBuf,
        config: &str,
        env: &[(&str, &str)],
        listen: &str,
    ) -> Proxy {
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let mut cmd = Command::new(binary());
        cmd.current_dir(&dir)
            .args(["--config", "config.toml", "serve", "--listen", listen])
            .env_remove("SWITCHYARD_LISTEN")
            .env_remove("SWITCHYARD_DEBUG_LOGS")
            .env("SWITCHYARD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("switchyard listening on http://") {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("switchyard did not start:\n{}", log.lock().unwrap());
            }
        };
        let proxy = Proxy {
            child,
            addr,
            dir,
            stderr: log,
        };
        proxy.wait_healthy();
        proxy
    }

    fn wait_healthy(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(mut s) = std::net::TcpStream::connect(self.reachable()) {
                use std::io::{Read, Write};
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::yield_now();
        }
        panic!(
            "switchyard never became healthy:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    /// The address to connect to: a server listening on every address (`0.0.0.0`, `[::]`)
    /// is reached on the loopback address of the same family.
    fn reachable(&self) -> SocketAddr {
        let mut addr = self.addr;
        match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into())
            }
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
                addr.set_ip(std::net::Ipv6Addr::LOCALHOST.into())
            }
            _ => {}
        }
        addr
    }

    /// The server's process id, to read what it holds from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("data/switchyard.db")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stops the server the way an operator would (SIGTERM) and waits, so every queued
    /// usage row and debug file is on disk.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            #[expect(
                clippy::disallowed_methods,
                reason = "polls a child process from a plain (non-async) test thread; nothing to await"
            )]
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("switchyard did not stop on SIGTERM:\n{}", self.stderr());
    }
}

impl Proxy {
    /// Kills the server outright (SIGKILL, as `kill -9` or a power cut of the process would):
    /// no drain, no flush, whatever was in flight is lost.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion with `args` in `dir`; returns (success, stdout, stderr).
pub fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Brings a CLI login file in as account `name`, as a user would: `contents` is written to
/// `dir/file_name` and `switchyard --config config.toml import <kind>` reads it. Panics with
/// the command's output if it is refused.
pub fn import_login(
    dir: &Path,
    kind: &str,
    file_name: &str,
    contents: &serde_json::Value,
    name: &str,
) {
    let file = dir.join(file_name);
    std::fs::write(&file, contents.to_string()).unwrap();
    let path = file.to_string_lossy().into_owned();
    let args = [
        "--config",
        "config.toml",
        "import",
        kind,
        "--path",
        &path,
        "--name",
        name,
    ];
    let (ok, out, err) = run(dir, &args);
    assert!(ok, "import {kind} failed:\n{out}\n{err}");
}

/// Claude Code's `.credentials.json` holding an OAuth login.
pub fn claude_code_login(
    access: &str,
    refresh: &str,
    expires: std::time::SystemTime,
) -> serde_json::Value {
    let expires_ms = expires
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    serde_json::json!({"claudeAiOauth": {"accessToken": access, "refreshToken": refresh,
        "expiresAt": expires_ms, "scopes": ["user:inference"], "subscriptionType": "max"}})
}

/// Codex's `auth.json` holding a ChatGPT login.
pub fn codex_login(access: &str, refresh: &str, id_token: &str) -> serde_json::Value {
    serde_json::json!({"OPENAI_API_KEY": null, "tokens": {"id_token": id_token,
        "access_token": access, "refresh_token": refresh, "account_id": "acct-1"},
        "last_refresh": "2026-01-01T00:00:00Z"})
}

/// Runs `cmd` to completion, or kills it and whatever it started once `limit` has passed;
/// returns (exited with success, stdout, stderr). Stdin is closed.
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    // Its own process group, so a timeout also ends the tools it runs.
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        #[expect(
            clippy::disallowed_methods,
            reason = "polls a child process from a plain (non-async) test thread; nothing to await"
        )]
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap();
    let mut stderr = err_reader.join().unwrap();
    if status.is_none() {
        stderr.push_str(&format!("\nkilled after {limit:?}"));
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}
