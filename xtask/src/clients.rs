//! The real clients the conformance tests and the book's examples drive: the official Python
//! SDKs (and LangChain's OpenAI binding) in a venv, Claude Code, Codex and the official
//! JavaScript SDKs from npm. They live in a cache outside the checkout
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
/// Installed on top of those, into the same venv, for the book's examples only: LangChain's
/// OpenAI binding (`docs/src/clients/langchain.md`). Its own stamp, so adding one does not
/// rebuild the venv the other checkouts on the machine share.
const PYTHON_EXTRAS: &[&str] = &["langchain-openai==1.8.1"];
const EXTRAS_STAMP: &str = "switchyard-pins-extra.txt";
const NPM_PACKAGES: &[&str] = &["@anthropic-ai/claude-code@2.1.197", "@openai/codex@0.169.0"];
/// The JavaScript SDKs the book's `js,run` examples import (`docs/src/clients/js-*.md`).
/// A prefix of their own, so adding one does not reinstall Claude Code and Codex.
const NPM_SDK_PACKAGES: &[&str] = &[
    "openai@7.60.0",
    "@anthropic-ai/sdk@1.17.0",
    "@google/genai@3.6.1",
];

/// Written into each install once it is complete; its content is the pin list.
const STAMP: &str = "switchyard-pins.txt";

/// Where the installed clients are.
pub struct Clients {
    pub python: PathBuf,
    pub claude: PathBuf,
    pub codex: PathBuf,
    /// The `node_modules` folder holding the JavaScript SDKs.
    pub node_modules: PathBuf,
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
    let node_modules = ensure_js_sdks(&root.join("node-sdks"))?;
    eprintln!("clients ready in {}", root.display());
    Ok(Clients {
        python,
        claude,
        codex,
        node_modules,
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
        return ensure_python_extras(venv, python);
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
    ensure_python_extras(venv, python)
}

/// [`PYTHON_EXTRAS`] added to a ready venv (pip installs only what is missing).
fn ensure_python_extras(venv: &Path, python: PathBuf) -> Result<PathBuf, String> {
    let pins = PYTHON_EXTRAS.join("\n");
    let check = ["-c", "import langchain_openai"];
    if std::fs::read_to_string(venv.join(EXTRAS_STAMP)).is_ok_and(|s| s == pins)
        && quiet_ok(&python, &check)
    {
        return Ok(python);
    }
    eprintln!("\n==> installing {} into {}", pins, venv.display());
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(PYTHON_PACKAGES)
        .args(PYTHON_EXTRAS))?;
    if !quiet_ok(&python, &check) {
        return Err(format!(
            "langchain_openai does not import with {}",
            python.display()
        ));
    }
    std::fs::write(venv.join(EXTRAS_STAMP), pins)
        .map_err(|e| format!("cannot write {}: {e}", venv.join(EXTRAS_STAMP).display()))?;
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

/// The JavaScript SDKs in their own npm prefix; returns its `node_modules`.
fn ensure_js_sdks(prefix: &Path) -> Result<PathBuf, String> {
    let modules = prefix.join("node_modules");
    let pins = NPM_SDK_PACKAGES.join("\n");
    let installed = NPM_SDK_PACKAGES.iter().all(|pin| {
        let name = pin.rsplit_once('@').map_or(*pin, |(name, _)| name);
        modules.join(name).join("package.json").exists()
    });
    if stamped(prefix, &pins) && installed {
        eprintln!("javascript SDKs: reusing {}", prefix.display());
        return Ok(modules);
    }
    eprintln!("\n==> installing javascript SDKs into {}", prefix.display());
    std::fs::create_dir_all(prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    run(Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .args(NPM_SDK_PACKAGES))?;
    stamp(prefix, &pins)?;
    Ok(modules)
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
