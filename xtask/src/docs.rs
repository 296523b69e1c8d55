//! `cargo xtask docs`: runs every runnable example of the book (`docs/src/**/*.md`) against
//! the freshly built `switchyard` in front of the tester's fake providers, so an example that
//! no longer works fails the build with its page and line. The convention (which info strings
//! run, and how) is documented in `docs/src/reference/doc-examples.md`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The server's config: the providers of the book's Getting started page, on the fakes.
const CONFIG: &str = include_str!("docs_config.toml");
/// How long one example may take (a cold start of Claude Code or Codex included).
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(300);
/// What the examples see as the client and admin keys, and the fakes as account keys.
const KEYS: &[(&str, &str)] = &[
    ("SWITCHYARD_KEY", "sk-docs-client-0001"),
    ("SWITCHYARD_ADMIN_KEY", "sk-docs-admin-0001"),
    ("OPENAI_API_KEY", "sk-docs-openai-0001"),
    ("ANTHROPIC_API_KEY", "sk-docs-anthropic-0001"),
    ("GEMINI_API_KEY", "sk-docs-gemini-0001"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sh,
    Python,
    Js,
    Config,
}

impl Kind {
    /// The kind an info string asks for, or `None` for a block that is only shown.
    fn from_info(info: &str) -> Option<Kind> {
        match info.trim() {
            "sh,run" | "bash,run" => Some(Kind::Sh),
            "python,run" => Some(Kind::Python),
            "js,run" | "javascript,run" => Some(Kind::Js),
            "toml,config" => Some(Kind::Config),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Sh => "sh",
            Kind::Python => "python",
            Kind::Js => "js",
            Kind::Config => "config",
        }
    }
}

/// One runnable code block: where its opening fence is, and its text.
#[derive(Debug, Clone)]
pub struct Block {
    pub page: PathBuf,
    pub line: usize,
    pub kind: Kind,
    pub code: String,
}

/// The runnable blocks of one page, in order.
pub fn extract(page: &Path, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Option<Kind>, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                let fence: String = trimmed.chars().take_while(|c| *c == '`').collect();
                if fence.len() >= 3 {
                    let info = trimmed.get(fence.len()..).unwrap_or_default();
                    open = Some((fence, Kind::from_info(info), i + 1, String::new()));
                }
            }
            Some((fence, kind, start, code)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim_end() == fence.as_str() {
                    if let Some(kind) = kind {
                        blocks.push(Block {
                            page: page.to_path_buf(),
                            line: *start,
                            kind: *kind,
                            code: std::mem::take(code),
                        });
                    }
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    blocks
}

/// Every markdown page under `dir`, sorted.
pub fn pages(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(pages(&path)?);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Every runnable block of the book under `root/docs/src`, pages relative to `root`.
pub fn book_blocks(root: &Path) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    for page in pages(&root.join("docs/src"))? {
        let text = std::fs::read_to_string(&page)
            .map_err(|e| format!("cannot read {}: {e}", page.display()))?;
        let shown = page.strip_prefix(root).unwrap_or(&page);
        let dir = page.parent().unwrap_or(root);
        for mut block in extract(shown, &text) {
            block.code = expand_includes(&block.code, dir)
                .map_err(|e| format!("{}:{}: {e}", shown.display(), block.line))?;
            blocks.push(block);
        }
    }
    Ok(blocks)
}

/// A block's text with each `{{#include PATH}}` line replaced by the file (relative to the
/// page), as mdbook shows it: a page can show a real file of the repository and the example
/// checks that very file. Only whole files; mdbook's line ranges and anchors are refused
/// rather than run as something else than what the page shows.
fn expand_includes(code: &str, dir: &Path) -> Result<String, String> {
    let mut out = String::new();
    for line in code.lines() {
        let Some(path) = line
            .trim()
            .strip_prefix("{{#include ")
            .and_then(|rest| rest.strip_suffix("}}"))
        else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let path = path.trim();
        if path.contains(':') {
            return Err(format!(
                "{{{{#include {path}}}}}: only whole files can be included in a runnable block"
            ));
        }
        let text = std::fs::read_to_string(dir.join(path))
            .map_err(|e| format!("cannot include {path}: {e}"))?;
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// A server in front of the fakes, and what an example needs to reach it.
pub struct Stage {
    dir: PathBuf,
    bin: PathBuf,
    addr: String,
    python: Option<PathBuf>,
    /// Whether the scratch dir has the JavaScript SDKs as its `node_modules`.
    node: bool,
    path: std::ffi::OsString,
    fakes: Child,
    server: Child,
}

impl Drop for Stage {
    fn drop(&mut self) {
        for child in [&mut self.server, &mut self.fakes] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first line of `child`'s stdout for which `pick` says something, within 60 s; the
/// other lines are handed to `pick` as they come.
fn read_stdout(
    child: &mut Child,
    mut pick: impl FnMut(&str) -> bool + Send + 'static,
) -> Result<(), String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if pick(&line) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .map_err(|_| "did not start within 60 s".to_owned())
}

impl Stage {
    /// Starts the fakes and `switchyard` from `root/target/debug` in a fresh scratch dir
    /// (`target/docs-run/<label>`).
    pub fn start(root: &Path, label: &str, clients: &Clients) -> Result<Stage, String> {
        let Clients {
            python,
            tools,
            node_modules,
        } = clients;
        let bin = root.join("target/debug");
        let dir = root.join("target/docs-run").join(label);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut fakes = Command::new(bin.join("fake-upstream"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start fake-upstream (build the workspace first): {e}"))?;
        let urls = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
        let seen = urls.clone();
        read_stdout(&mut fakes, move |line| {
            let Some((name, url)) = line.strip_prefix("fake ").and_then(|l| l.split_once(": "))
            else {
                return false;
            };
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.push((name.to_owned(), url.to_owned()));
            ["openai", "anthropic", "responses", "gemini"]
                .iter()
                .all(|n| seen.iter().any(|(s, _)| s == n))
        })
        .map_err(|e| format!("fake-upstream {e}"))?;
        let mut config = CONFIG.to_owned();
        for (name, url) in urls.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            config = config.replace(&format!("{{{name}}}"), url);
        }
        std::fs::write(dir.join("config.toml"), config).map_err(|e| e.to_string())?;
        // An ES module finds its imports in the `node_modules` beside it, so the examples,
        // written into this dir, see the SDKs through a link.
        if let Some(modules) = node_modules {
            std::os::unix::fs::symlink(modules, dir.join("node_modules"))
                .map_err(|e| format!("cannot link {}: {e}", modules.display()))?;
        }
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let mut server = Command::new(bin.join("switchyard"))
            .current_dir(&dir)
            .args([
                "--config",
                "config.toml",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .envs(KEYS.iter().copied())
            .env_remove("SWITCHYARD_LISTEN")
            .env_remove("SWITCHYARD_DEBUG_LOGS")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start switchyard: {e}"))?;
        let found = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let slot = found.clone();
        read_stdout(&mut server, move |line| {
            let Some(addr) = line.strip_prefix("switchyard listening on http://") else {
                return false;
            };
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = addr.to_owned();
            true
        })
        .map_err(|e| format!("switchyard {e}"))?;
        let addr = found.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut dirs = vec![bin.clone()];
        dirs.extend(
            tools
                .iter()
                .filter_map(|t| t.parent().map(Path::to_path_buf)),
        );
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(dirs).map_err(|e| e.to_string())?;
        let stage = Stage {
            dir,
            bin,
            addr,
            python: python.clone(),
            node: node_modules.is_some(),
            path,
            fakes,
            server,
        };
        stage.wait_healthy()?;
        Ok(stage)
    }

    fn wait_healthy(&self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(mut s) = std::net::TcpStream::connect(&self.addr) {
                use std::io::Write;
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return Ok(());
                }
            }
            std::thread::yield_now();
        }
        Err(format!(
            "switchyard never became healthy:\n{}",
            self.server_log()
        ))
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Runs one block; the error names its page and line and holds what it printed.
    pub fn run(&self, block: &Block, n: usize) -> Result<(), String> {
        let code = block
            .code
            .replace("localhost:4100", &self.addr)
            .replace("127.0.0.1:4100", &self.addr);
        let mut cmd = match block.kind {
            Kind::Sh => {
                let mut c = Command::new("bash");
                c.args(["-e", "-u", "-o", "pipefail", "-c", &code]);
                c
            }
            Kind::Python => {
                let python = self.python.as_ref().ok_or(
                    "no Python with the SDKs: run `cargo xtask clients` or set SWITCHYARD_PYTHON",
                )?;
                let mut c = Command::new(python);
                c.args(["-c", &code]);
                c
            }
            Kind::Js => {
                if !self.node {
                    return Err(
                        "no JavaScript SDKs: run `cargo xtask clients` (npm is needed)".to_owned(),
                    );
                }
                let file = self.dir.join(format!("example-{n}.mjs"));
                std::fs::write(&file, &code).map_err(|e| e.to_string())?;
                let mut c = Command::new("node");
                c.arg(&file);
                c
            }
            Kind::Config => {
                let file = self.dir.join(format!("example-{n}.toml"));
                std::fs::write(&file, &code).map_err(|e| e.to_string())?;
                let mut c = Command::new(self.bin.join("switchyard"));
                c.arg("--config").arg(&file).arg("check");
                // Every variable the file names is set, as it would be where it is used.
                for var in env_names(&code) {
                    c.env(var, "placeholder-secret");
                }
                c
            }
        };
        cmd.current_dir(&self.dir)
            .envs(KEYS.iter().copied())
            .env("SWITCHYARD_CONFIG", self.dir.join("config.toml"))
            .env("HOME", self.dir.join("home"))
            .env("PATH", &self.path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let (ok, out) = run_with_timeout(cmd, EXAMPLE_TIMEOUT)?;
        if ok {
            return Ok(());
        }
        Err(format!(
            "{}:{}: the {} example failed\n--- example:\n{}--- output:\n{out}\n--- server log (last lines):\n{}",
            block.page.display(),
            block.line,
            block.kind.name(),
            block.code,
            tail(&self.server_log(), 20)
        ))
    }
}

/// The variables a config names with `*_env = "NAME"`.
fn env_names(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            if !key.trim().ends_with("_env") {
                return None;
            }
            let value = value.split('#').next()?.trim().trim_matches('"');
            (!value.is_empty()).then(|| value.to_owned())
        })
        .collect()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` to completion within `limit`: (success, stdout and stderr). It runs in a
/// process group of its own, and whatever of that group is still running when it ends (a
/// server an example started in the background and failed to stop) is stopped with it, so
/// no example leaves a process behind.
fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<(bool, String), String> {
    use std::os::unix::process::CommandExt as _;
    let child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let result = rx.recv_timeout(limit);
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
    match result {
        Ok(Ok(out)) => Ok((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )),
        Ok(Err(e)) => Err(format!("waiting for {cmd:?}: {e}")),
        Err(_) => Ok((false, format!("timed out after {} s", limit.as_secs()))),
    }
}

/// What the examples run with besides `switchyard`: the interpreter with the Python SDKs,
/// the real clients' binaries (their folders go on the examples' PATH) and the
/// `node_modules` holding the JavaScript SDKs. Each is optional: an example that needs a
/// missing one fails and says how to install it.
#[derive(Debug, Default)]
pub struct Clients {
    pub python: Option<PathBuf>,
    pub tools: Vec<PathBuf>,
    pub node_modules: Option<PathBuf>,
}

/// The value of `--page`: only the pages whose path contains it are run.
fn page_filter() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--page")
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Runs every runnable block of the book (of the pages `--page` names, when given).
pub fn run(root: &Path, clients: &Clients) -> Result<(), String> {
    let started = Instant::now();
    let mut blocks = book_blocks(root)?;
    if let Some(filter) = page_filter() {
        blocks.retain(|b| b.page.to_string_lossy().contains(&filter));
        if blocks.is_empty() {
            return Err(format!("no runnable example on a page matching {filter:?}"));
        }
    }
    if std::env::args().any(|a| a == "--list") {
        for b in &blocks {
            println!("{}:{} {}", b.page.display(), b.line, b.kind.name());
        }
        return Ok(());
    }
    let stage = Stage::start(root, "book", clients)?;
    let mut failures = Vec::new();
    for (n, block) in blocks.iter().enumerate() {
        eprintln!(
            "docs: {}:{} ({})",
            block.page.display(),
            block.line,
            block.kind.name()
        );
        if let Err(e) = stage.run(block, n) {
            failures.push(e);
        }
    }
    let count = |k: Kind| blocks.iter().filter(|b| b.kind == k).count();
    eprintln!(
        "docs: {} examples run ({} sh, {} python, {} js, {} config) in {:.1} s, {} failed",
        blocks.len(),
        count(Kind::Sh),
        count(Kind::Python),
        count(Kind::Js),
        count(Kind::Config),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# A page\n\n```sh,run\necho one\n```\n\nText.\n\n```toml\nshown = true\n```\n\n````python,run\nprint(\"```\")\n````\n\n```toml,config\n[server]\n```\n";

    #[test]
    fn runnable_blocks_are_found_with_their_line() {
        let blocks = extract(Path::new("p.md"), PAGE);
        let found: Vec<(usize, Kind)> = blocks.iter().map(|b| (b.line, b.kind)).collect();
        assert_eq!(
            found,
            vec![(3, Kind::Sh), (13, Kind::Python), (17, Kind::Config)]
        );
        assert_eq!(blocks[0].code, "echo one\n");
        assert_eq!(blocks[1].code, "print(\"```\")\n");
    }

    /// An included file is what the block runs; a part of a file is refused.
    #[test]
    fn includes_are_expanded_from_the_page_dir() {
        let dir = root().join("target/docs-run/include-test");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("inc.toml"), "[server]\nlisten = \"127.0.0.1:1\"").unwrap();
        let code = expand_includes("# before\n{{#include inc.toml}}\n# after\n", &dir).unwrap();
        assert_eq!(
            code,
            "# before\n[server]\nlisten = \"127.0.0.1:1\"\n# after\n"
        );
        assert!(expand_includes("{{#include inc.toml:2}}\n", &dir).is_err());
        assert!(expand_includes("{{#include missing.toml}}\n", &dir).is_err());
    }

    #[test]
    fn env_names_are_read_from_a_config() {
        let names = env_names("key_env = \"A\"   # note\napi_key_env=\"B\"\nname = \"C\"\n");
        assert_eq!(names, vec!["A", "B"]);
    }

    fn root() -> PathBuf {
        crate::root()
    }

    /// The book's own pages have runnable examples of every kind.
    #[test]
    fn the_book_has_examples_of_every_kind() {
        let blocks = book_blocks(&root()).unwrap();
        for kind in [Kind::Sh, Kind::Python, Kind::Config] {
            assert!(blocks.iter().any(|b| b.kind == kind), "no {kind:?} example");
        }
    }

    /// A deliberately broken example fails, named by page and line, while a good one passes:
    /// a request for a model no provider serves, and a config with a mistyped key.
    #[test]
    fn a_broken_example_fails_with_its_page_and_line() {
        let bin = root().join("target/debug");
        if !bin.join("switchyard").exists() || !bin.join("fake-upstream").exists() {
            // `cargo xtask ci` builds them before the tests; a bare `cargo test -p xtask`
            // on a fresh checkout has nothing to run them with.
            crate::cargo(&["build", "--workspace", "--all-targets"]).unwrap();
        }
        let page = "# Broken\n\n```sh,run\ncurl -sS --fail-with-body http://localhost:4100/v1/chat/completions \\\n  -H \"Authorization: Bearer $SWITCHYARD_KEY\" -H 'content-type: application/json' \\\n  -d '{\"model\": \"nowhere/none\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}'\n```\n\n```toml,config\n[server]\nlisten_port = 4100\n```\n\n```sh,run\ncurl -sS --fail-with-body http://localhost:4100/v1/chat/completions \\\n  -H \"Authorization: Bearer $SWITCHYARD_KEY\" -H 'content-type: application/json' \\\n  -d '{\"model\": \"fast\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}'\n```\n";
        let blocks = extract(Path::new("docs/src/broken.md"), page);
        let stage = Stage::start(&root(), "checker-test", &Clients::default()).unwrap();
        let request = stage.run(&blocks[0], 0).unwrap_err();
        assert!(
            request.starts_with("docs/src/broken.md:3: the sh example failed"),
            "{request}"
        );
        assert!(request.contains("nowhere/none"), "{request}");
        let config = stage.run(&blocks[1], 1).unwrap_err();
        assert!(
            config.starts_with("docs/src/broken.md:9: the config example failed"),
            "{config}"
        );
        assert!(config.contains("listen_port"), "{config}");
        stage.run(&blocks[2], 2).unwrap();
    }
}
