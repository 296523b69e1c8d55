//! What every provider executor shares: the executor contract and registry, the upstream
//! HTTP client, and the classification of upstream failures.

pub mod client;
pub mod executor;
pub mod failure;
pub mod forward;
pub mod request;

pub use client::{ClientOptions, UpstreamClient};
pub use executor::{
    Executor, ExecutorKind, LearnsEndpoint, LoginFuture, LoginOutcome, ProviderSettings,
    RefreshError, RefreshFuture, UpstreamRequest,
};
pub use failure::Failure;
pub use forward::ClientHeaders;
