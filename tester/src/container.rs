//! Running the container image (`cargo xtask image`, tag `switchyard:local`) with podman for
//! the container tests: the image's name, the run flags this kind of machine needs,
//! and containers and volumes that are removed when the test ends, passed or failed.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::run_with_timeout;

/// The image the tests run; `SWITCHYARD_IMAGE` names another one.
pub fn image() -> String {
    std::env::var("SWITCHYARD_IMAGE").unwrap_or_else(|_| "switchyard:local".into())
}

/// Why the container tests cannot run here, if they cannot: podman is absent.
pub fn podman_missing() -> Option<String> {
    match Command::new("podman").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("podman is not installed (Debian: apt-get install podman buildah)".into()),
    }
}

/// `podman args...` to completion (two minutes at most): (success, stdout, stderr).
pub fn podman(args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("podman");
    cmd.args(args);
    let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(120));
    (ok, out.trim().to_owned(), err)
}

/// `podman args...` that must succeed; its trimmed stdout.
pub fn podman_ok(args: &[&str]) -> String {
    let (ok, out, err) = podman(args);
    assert!(ok, "podman {} failed: {err}{out}", args.join(" "));
    out
}

/// Why the container tests skip, if they do: the image does not exist and nothing asks for
/// it. `cargo xtask ci` builds it and sets `SWITCHYARD_REQUIRE_IMAGE`, and then a missing
/// image fails the test instead. The tests do not build it themselves: a nested `cargo` run
/// from a test inherits the test's cargo environment and can rebuild the release profile
/// from nothing.
pub fn image_missing() -> Option<String> {
    let image = image();
    if podman(&["image", "exists", &image]).0 {
        return None;
    }
    assert!(
        std::env::var_os("SWITCHYARD_REQUIRE_IMAGE").is_none(),
        "{image} does not exist although SWITCHYARD_REQUIRE_IMAGE is set: build it with \
         `cargo xtask image`"
    );
    Some(format!(
        "{image} does not exist: build it with `cargo xtask image` (`cargo xtask ci` does)"
    ))
}

/// The flags every `podman run` of the tests takes, for machines like CI's sandbox:
///
/// - crun (podman's default runtime) refuses hosts that mount cgroup v1 hierarchies beside a
///   cgroup v2 one that still holds a controller ("cgroups in hybrid mode not supported");
///   runc runs there, so it is used when the host is in that mode and runc is installed.
/// - podman raises the container's open-files and processes limits to values an
///   unprivileged-resources sandbox (no `CAP_SYS_RESOURCE`) cannot set; the container gets
///   the open-files limit this process has and 4096 processes instead.
pub fn run_flags() -> Vec<String> {
    let mut flags = Vec::new();
    let hybrid = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .is_ok_and(|c| !c.trim().is_empty());
    let runc = Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if hybrid && runc {
        flags.extend(["--runtime".into(), "runc".into()]);
    }
    let nofile = open_files_limit();
    flags.extend([
        "--ulimit".into(),
        format!("nofile={nofile}:{nofile}"),
        "--ulimit".into(),
        "nproc=4096:4096".into(),
    ]);
    flags
}

/// This process's hard limit on open files (`/proc/self/limits`), or 4096.
fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(4)?.parse().ok()
        })
        .unwrap_or(4096)
}

/// A name no other test run uses: `label`, this process and a counter.
pub fn unique_name(label: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "switchyard-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A named podman volume, removed on drop.
pub struct Volume {
    pub name: String,
}

impl Volume {
    pub fn create(label: &str) -> Volume {
        let name = unique_name(label);
        podman_ok(&["volume", "create", &name]);
        Volume { name }
    }

    /// Where the volume's files are on this machine.
    pub fn mountpoint(&self) -> PathBuf {
        PathBuf::from(podman_ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Mountpoint}}",
            &self.name,
        ]))
    }

    /// A directory with the volume's files as they are now, readable by this user. Rootful,
    /// the volume itself. Rootless, its files belong to the image's user as mapped into this
    /// user's subordinate range, which this user cannot open, so they are copied out inside
    /// the user namespace (`podman unshare`, where this user is root), without SQLite's
    /// shared-memory index (rebuilt from the copied WAL).
    pub fn readable(&self) -> PathBuf {
        let mountpoint = self.mountpoint();
        if !rootless() {
            return mountpoint;
        }
        let copy = crate::harness::scratch_dir(&format!("{}-copy", self.name));
        let from = format!("{}/.", mountpoint.display());
        podman_ok(&["unshare", "cp", "-r", &from, &copy.display().to_string()]);
        if let Ok(entries) = std::fs::read_dir(&copy) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with("-shm") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        copy
    }
}

/// Whether podman runs rootless here (a user other than root, in its own user namespace).
pub fn rootless() -> bool {
    static ROOTLESS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOTLESS
        .get_or_init(|| podman_ok(&["info", "--format", "{{.Host.Security.Rootless}}"]) == "true")
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = podman(&["volume", "rm", "--force", &self.name]);
    }
}

/// A container started detached, removed (stopped hard if still running) on drop, with the
/// anonymous volumes podman made for the image's `VOLUME`s that the test did not mount.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `podman run -d --name <unique> <run_flags> <options> <image> <args>`.
    pub fn run(label: &str, options: &[&str], args: &[&str]) -> Container {
        let name = unique_name(label);
        let flags = run_flags();
        let image = image();
        let mut all: Vec<&str> = vec!["run", "-d", "--name", &name];
        all.extend(flags.iter().map(String::as_str));
        all.extend_from_slice(options);
        all.push(&image);
        all.extend_from_slice(args);
        podman_ok(&all);
        Container { name }
    }

    /// `podman inspect --format <format>` of the container.
    pub fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name])
    }

    /// The host port published for the container's `port`.
    pub fn host_port(&self, port: u16) -> u16 {
        let mapping = podman_ok(&["port", &self.name, &port.to_string()]);
        mapping
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no host port for {port}: {mapping:?}"))
    }

    /// What the container printed so far (for failure messages).
    pub fn logs(&self) -> String {
        let (_, out, err) = podman(&["logs", &self.name]);
        format!("{out}{err}")
    }

    /// Polls `url` until it answers 200, failing with the container's logs after `limit`.
    pub async fn wait_healthy(&self, url: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let req = http::Request::get(url)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let answer = tokio::time::timeout(
                Duration::from_secs(2),
                crate::http_client::client().request(req),
            )
            .await;
            if matches!(answer, Ok(Ok(ref r)) if r.status() == 200) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{url} did not answer 200 within {limit:?}; state {}; logs:\n{}",
                self.inspect("{{.State.Status}}"),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the container gracefully (SIGTERM, then at most `timeout` seconds).
    pub fn stop(&self, timeout: u32) {
        podman_ok(&["stop", "--time", &timeout.to_string(), &self.name]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--volumes", "--time", "0", &self.name]);
    }
}
