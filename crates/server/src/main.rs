//! `switchyard`: an LLM API proxy. `serve` runs it; the other commands read or change what
//! it keeps (see `switchyard --help`). Everything but start-up lives in the library.

// Translating a stream allocates a few small JSON values per event; mimalloc takes about
// a third off the proxy's CPU per translated stream (`cargo xtask bench`, cpu/req). Its
// `no_thp` build keeps huge pages out, which otherwise added ~30 MB at 1,000 open streams.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use switchyard_server::cli::{self, Cli, Command};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { listen } => {
            switchyard_server::serve(&cli.config, listen).map_err(Into::into)
        }
        other => cli::run(&cli.config, other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e}");
            ExitCode::FAILURE
        }
    }
}
