//! A real `redis-server` (the Debian package) for cluster-mode tests: started on a port the
//! OS picked, readiness polled with `PING` (never slept), killed hard and restarted on the
//! same port to play an outage, and read with raw RESP to check what the instances share.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    /// The address it listens on: loopback, or every interface for clients in containers.
    bind: &'static str,
}

/// A port nothing listens on now (the OS picks it; the listener is closed at once).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts `redis-server` on a free port, without persistence (a restart comes back
    /// empty, as the worst case of an outage).
    pub fn start() -> RedisServer {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> RedisServer {
        Self::start_bound(port, "127.0.0.1")
    }

    /// Starts it on every interface: containers on a bridge network reach the host through
    /// its bridge address, not loopback.
    pub fn start_for_containers() -> RedisServer {
        Self::start_bound(free_port(), "0.0.0.0")
    }

    fn start_bound(port: u16, bind: &'static str) -> RedisServer {
        let dir = crate::harness::scratch_dir("redis");
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            bind,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server again (after [`RedisServer::kill`]) on the same port, and waits
    /// until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new("redis-server")
            .current_dir(&self.dir)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                self.bind,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed (apt-get install redis-server)");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.command(&["PING"]).is_some_and(|r| r == "+PONG") {
                return;
            }
            std::thread::yield_now();
        }
        panic!("redis-server on port {} never answered PING", self.port);
    }

    /// Kills the server hard (SIGKILL), as a crash or a lost machine would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one command as RESP and returns the first line of the answer (`+OK`, `:3`,
    /// `$5`...), or `None` when the server does not answer.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.lines().next().map(str::to_owned)
    }

    /// The value of `key`, or `None` when it has none.
    pub fn get(&self, key: &str) -> Option<String> {
        self.bulk(&["GET", key])
    }

    /// The value of `field` in hash `key`, or `None` when it has none.
    pub fn hget(&self, key: &str, field: &str) -> Option<String> {
        self.bulk(&["HGET", key, field])
    }

    /// Sends a command whose answer is one bulk string, and returns the string.
    fn bulk(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut text = String::new();
        let mut buf = [0u8; 65536];
        while !text.ends_with("\r\n") || text.lines().count() < 2 {
            let n = s.read(&mut buf).ok()?;
            if n == 0 || text.starts_with("$-1") {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.starts_with("$-1") {
                return None;
            }
        }
        text.lines().nth(1).map(str::to_owned)
    }

    /// The keys matching `pattern` (`KEYS`, fine for a test's few keys).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return Vec::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n", pattern.len());
        if s.write_all(req.as_bytes()).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let mut buf = [0u8; 65536];
        // The answer is small; read until the array's announced entries are all in.
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            let mut lines = text.lines();
            let count: usize = lines
                .next()
                .and_then(|l| l.strip_prefix('*'))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if text.lines().count() > count * 2 {
                break;
            }
        }
        text.lines()
            .skip(1)
            .filter(|l| !l.starts_with('$'))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
