//! `cargo xtask <task>`: project chores in Rust, so they run the same everywhere.
//!
//! - `ci`: format check, clippy with warnings denied, build, the container image (where
//!   buildah is installed), the conformance clients, every test (with the clients, so the
//!   conformance and real-client tests run).
//! - `clients`: install (or find in the cache) the real clients and print where they are.
//! - `bench [--quick] [--only NAME]`: overhead, throughput and memory, straight to a fake upstream and
//!   through Switchyard.
//! - `bench --only cluster`: cluster mode's added latency (one instance alone against two
//!   sharing one `redis-server`).
//! - `bench --only usage`: the usage API (request-log pages, 30-day aggregates) over a
//!   database of 1,000,000 usage rows, through HTTP against the release binary; fails when
//!   a median misses its target (50 ms a page, 200 ms an aggregate).
//! - `bench --only dashboard`: each dashboard page's server render time over the same
//!   1,000,000-row database, signed in; fails when a median misses 100 ms.
//! - `bench --soak-secs N`: N seconds (600 for the full soak) of passthrough requests on 64
//!   connections, the proxy's RSS sampled every second, and every request's usage row
//!   counted in the database after a graceful stop.
//! - `bench --callgrind [--requests N] [--only NAME]`: the proxy's instructions per request
//!   (valgrind's callgrind; N requests a scenario, 500 by default) for passthrough,
//!   streaming and translated requests, with each one's per-function profile: a CPU figure
//!   that other load on the machine does not move.
//! - `docs [--list] [--page TEXT]`: runs every runnable example of the book (`docs/src`), or
//!   those of the pages whose path contains TEXT, against the built binary and the fake
//!   providers, naming the page and line of any that fails.
//! - `book`: builds the book with mdbook (installed once into the cache), checks its links
//!   and screenshots two pages in headless Chromium.
//! - `image`: builds the release binary and assembles the container image `switchyard:local`
//!   from scratch with buildah (no base image is pulled), for machines without a registry;
//!   the `Dockerfile` is the recipe where base images can be pulled.
//! - `bench --micro [--quick]`: the divan micro-benchmarks of every translator and decoder
//!   (`benches/` of the hub, kiro and cursor crates), as one MB/s table. Not part of `ci`,
//!   which only builds them (clippy `--all-targets`).

mod bench;
mod book;
mod clients;
mod docs;
mod image;
mod micro;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("ci") => ci(),
        Some("clients") => clients::ensure().map(|c| {
            for (name, path) in c.env() {
                println!("{name}={}", path.display());
            }
        }),
        Some("docs") => docs_task(),
        Some("book") => book::run(&root()),
        Some("image") => image::run(&root()),
        Some("bench") => {
            let quick = std::env::args().any(|a| a == "--quick");
            if std::env::args().any(|a| a == "--micro") {
                micro::run(&root(), quick)
            } else {
                let args: Vec<String> = std::env::args().collect();
                let only = args
                    .iter()
                    .position(|a| a == "--only")
                    .and_then(|i| args.get(i + 1))
                    .cloned();
                let soak = args
                    .iter()
                    .position(|a| a == "--soak-secs")
                    .and_then(|i| args.get(i + 1))
                    .and_then(|v| v.parse::<u64>().ok());
                let requests = args
                    .iter()
                    .position(|a| a == "--requests")
                    .and_then(|i| args.get(i + 1))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(500)
                    .max(1);
                match soak {
                    Some(secs) => bench::soak(&root(), secs),
                    None if args.iter().any(|a| a == "--callgrind") => {
                        bench::callgrind(&root(), requests, only.as_deref())
                    }
                    None => bench::run(&root(), quick, only.as_deref()),
                }
            }
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci         fmt check, clippy -D warnings, build, clients, all tests\n  clients    install the conformance clients into the cache and print their paths\n  docs       run every runnable example of the book (--list: only list them;
             --page TEXT: only the pages whose path contains TEXT)\n  book       build the book with mdbook, check its links, screenshot two pages\n  image      release build, then the container image switchyard:local from scratch (buildah)\n  bench      overhead, throughput and memory (--quick for a short run; --only NAME\n             for the scenarios whose name contains NAME;\n             --only usage for the usage API over 1,000,000 rows;\n             --only dashboard for each dashboard page over 1,000,000 rows;\n             --only cluster for cluster mode's cost (two instances, one redis);\n             --micro for the translator and decoder micro-benchmarks in MB/s;
             --soak-secs N for the soak: N s at c=64, RSS each second, rows counted;
             --callgrind [--requests N] for instructions per request under callgrind)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_with_env(args, &[])
}

fn cargo_with_env(args: &[&str], env: &[(&str, &Path)]) -> Result<(), String> {
    eprintln!("\n==> cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // End-to-end tests run the real `switchyard` binary, so it must be built first.
    cargo(&["build", "--workspace", "--all-targets"])?;
    // The container tests run `switchyard:local`; rebuilt here so they never run a stale one.
    // With it built, the container tests are told it must be there (outside `ci` they skip
    // when it is missing, so a plain `cargo test --workspace` passes on a fresh checkout).
    let image_built = image::buildah_present();
    if image_built {
        image::run(&root())?;
    } else {
        eprintln!("\n==> image: skipped, buildah is not installed (the container tests skip too)");
    }
    // The conformance and real-client tests skip themselves without these variables.
    let clients = clients::ensure()?;
    let mut env = clients.env().to_vec();
    if image_built {
        env.push(("SWITCHYARD_REQUIRE_IMAGE", Path::new("1")));
    }
    cargo_with_env(&["test", "--workspace", "--no-fail-fast"], &env)?;
    eprintln!("\n==> docs: the book's examples");
    docs::run(&root(), &docs_clients(&clients))?;
    book::run(&root())
}

/// What the book's examples run with, from the installed clients.
fn docs_clients(clients: &clients::Clients) -> docs::Clients {
    docs::Clients {
        python: Some(clients.python.clone()),
        tools: vec![clients.claude.clone(), clients.codex.clone()],
        node_modules: Some(clients.node_modules.clone()),
    }
}

/// `cargo xtask docs`: the examples need the built binaries and the clients' Python.
fn docs_task() -> Result<(), String> {
    if std::env::args().any(|a| a == "--list") {
        return docs::run(&root(), &docs::Clients::default());
    }
    cargo(&["build", "--workspace", "--all-targets"])?;
    let clients = clients::ensure()?;
    docs::run(&root(), &docs_clients(&clients))
}
