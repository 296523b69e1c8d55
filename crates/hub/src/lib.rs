//! The hub: every request and response passes through the OpenAI chat completions format.
//!
//! This crate knows the wire formats, the translator registry that connects them to the hub,
//! the SSE codec, usage extraction and error bodies in each client's own shape. It knows
//! nothing about HTTP, providers or accounts.

pub mod chat;
pub mod chunk;
pub mod clock;
pub mod collect;
pub mod ctx;
pub mod error;
pub mod format;
pub mod framing;
pub mod hosted;
pub mod operation;
pub mod pipeline;
pub mod provenance;
pub mod registry;
pub mod sse;
pub mod step;
pub mod stream;
pub mod translators;
pub mod usage;
pub mod wire;

pub use chunk::ChunkHead;
pub use ctx::{ToolNameMap, TranslateCtx};
pub use error::{ApiError, ErrorKind, TranslateError};
pub use format::Format;
pub use framing::Decoder;
pub use operation::Operation;
pub use pipeline::Pipeline;
pub use registry::{Registry, Translator};
pub use step::HubRequest;
pub use stream::{StreamEvent, StreamStage};
pub use usage::Usage;
pub use wire::WireFormat;
