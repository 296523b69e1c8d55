//! The real clients the conformance tests drive: the official Python SDKs in a venv, Claude
//! Code and Codex from npm. They live in a cache outside the checkout
//! (`${XDG_CACHE_HOME:-$HOME/.cache}/switchyard-clients/`), because CI runs in a fresh clone
//! and installing them is the slow part of a run; a cache whose pinned versions match is
//! reused as it is.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Pinned so the tests do not drift with new client releases (see shared/CLIENTS.md).
/// Selenium drives Chromium in the dashboard's browser tests.
/// `openapi-spec-validator` checks the management API's OpenAPI document
/// (tester/tests/management_api.rs).
const PYTHON_PACKAGES: &[&str] = &[
    "openai==3.54.0",
    "anthropic==2.12.0",
    "google-genai==3.4.0",
    "selenium==4.50.0",
    "openapi-spec-validator==0.9.0",
];
const NPM_PACKAGES: &[&str] = &["@anthropic-ai/claude-code@2.1.197", "@openai/codex@0.169.0"];

/// Written into each install once it is complete; its content is the pin list.
const STAMP: &str = "switchyard-pins.txt";

/// Where the installed clients are.
pub struct Clients {
    pub python: PathBuf,
    pub claude: PathBuf,
    pub codex: PathBuf,
}

impl Clients {
    /// The environment variables the tests read to find the clients.
    pub fn env(&self) -> [(&'static str, &Path); 3] {
        [
            ("SWITCHYARD_PYTHON", self.python.as_path()),
            ("SWITCHYARD_CLAUDE", self.claude.as_path()),
            ("SWITCHYARD_CODEX", self.codex.as_path()),
        ]
    }
}

pub fn cache_dir() -> Result<PathBuf, String> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".cache"))
            .ok_or("neither XDG_CACHE_HOME nor HOME is set: no place for the client cache")?,
    };
    Ok(base.join("switchyard-clients"))
}

/// Installs whatever is missing or outdated and returns where everything is.
pub fn ensure() -> Result<Clients, String> {
    let root = cache_dir()?;
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let python = ensure_python(&root.join("venv"))?;
    let (claude, codex) = ensure_npm(&root.join("node"))?;
    eprintln!("clients ready in {}", root.display());
    Ok(Clients {
        python,
        claude,
        codex,
    })
}

fn ensure_python(venv: &Path) -> Result<PathBuf, String> {
    let python = venv.join("bin").join("python");
    let pins = PYTHON_PACKAGES.join("\n");
    let import_check = [
        "-c",
        "import openai, anthropic, google.genai, openapi_spec_validator; print(openai.__version__, anthropic.__version__)",
    ];
    if stamped(venv, &pins) && quiet_ok(&python, &import_check) {
        eprintln!("python SDKs: reusing {}", venv.display());
        return Ok(python);
    }
    eprintln!("\n==> installing python SDKs into {}", venv.display());
    remove_dir(venv)?;
    let python3 = std::env::var_os("PYTHON3").map_or_else(|| "python3".into(), PathBuf::from);
    run(Command::new(python3).arg("-m").arg("venv").arg(venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(PYTHON_PACKAGES))?;
    if !quiet_ok(&python, &import_check) {
        return Err(format!("the SDKs do not import with {}", python.display()));
    }
    stamp(venv, &pins)?;
    Ok(python)
}

fn ensure_npm(prefix: &Path) -> Result<(PathBuf, PathBuf), String> {
    let bin = prefix.join("node_modules").join(".bin");
    let (claude, codex) = (bin.join("claude"), bin.join("codex"));
    let pins = NPM_PACKAGES.join("\n");
    if stamped(prefix, &pins)
        && quiet_ok(&claude, &["--version"])
        && quiet_ok(&codex, &["--version"])
    {
        eprintln!("claude code and codex: reusing {}", prefix.display());
        return Ok((claude, codex));
    }
    eprintln!(
        "\n==> installing claude code and codex into {}",
        prefix.display()
    );
    remove_dir(prefix)?;
    std::fs::create_dir_all(prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    run(Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .args(NPM_PACKAGES))?;
    if !quiet_ok(&claude, &["--version"]) {
        // npm 11 skips dependencies' install scripts unless allowed, which leaves
        // Claude Code's launcher a stub until its own install script has run.
        let package = prefix
            .join("node_modules")
            .join("@anthropic-ai")
            .join("claude-code");
        run(Command::new("node")
            .arg("install.cjs")
            .current_dir(&package))?;
    }
    for path in [&claude, &codex] {
        if !quiet_ok(path, &["--version"]) {
            return Err(format!(
                "`{} --version` fails after install",
                path.display()
            ));
        }
    }
    stamp(prefix, &pins)?;
    Ok((claude, codex))
}

fn stamped(dir: &Path, pins: &str) -> bool {
    std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s == pins)
}

fn stamp(dir: &Path, pins: &str) -> Result<(), String> {
    std::fs::write(dir.join(STAMP), pins)
        .map_err(|e| format!("cannot write {}: {e}", dir.join(STAMP).display()))
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

/// Whether `program args` runs and exits 0, with its output swallowed.
fn quiet_ok(program: &Path, args: &[&str]) -> bool {
    program.exists()
        && Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("{shown}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}
