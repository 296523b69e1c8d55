//! Switchyard's server as a library: the binary (`src/main.rs`) parses arguments and calls
//! [`serve`] or a [`cli`] command; tests and benches reach the parts they measure.
//!
//! A request's way through, in reading order: [`http`] accepts it and picks its endpoint,
//! `request` takes it in, resolves its model, delivers it to an upstream account (chosen by
//! [`routing`]) and answers; [`state`] holds what every request shares (the [`state::app::App`],
//! credentials, the usage store, debug logs, metrics); [`config`] is the file it all starts
//! from.

pub mod api;
pub mod catalogue;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod http;
mod reload;
mod request;
pub mod routing;
mod start;
pub mod state;

pub use start::{Error as StartError, serve};

// Executor crates register themselves; naming them keeps the linker from dropping them.
use switchyard_claude as _;
use switchyard_codex as _;
use switchyard_copilot as _;
use switchyard_cursor as _;
use switchyard_gemini as _;
use switchyard_kiro as _;
use switchyard_openai as _;
