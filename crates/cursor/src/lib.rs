//! The Cursor provider: `StreamUnifiedChatWithTools` on `api2.cursor.sh`, spoken over the
//! Connect protocol with protobuf messages.
//!
//! - [`request`]: hub request -> Cursor request (registered as the `openai -> cursor`
//!   request translator)
//! - [`executor`]: the `cursor` executor kind: headers (checksum, client key, session id),
//!   Connect framing of the request
//! - [`decoder`] + [`framing`]: the response body, frame by frame, into events
//! - [`stream`]: those events into hub chunks (the `cursor -> openai` stream translator)
//! - [`import`]: the token and machine id of an installed Cursor IDE (registered as the
//!   `cursor` importer of `switchyard import`)
//! - [`auth`]: renewing an imported login
//!
//! Cursor only streams: a client that asked for one JSON answer is served by the server
//! collecting the stream.

pub mod auth;
pub mod checksum;
pub mod decoder;
pub mod executor;
pub mod framing;
pub mod import;
pub mod proto;
pub mod request;
pub mod stream;

#[cfg(test)]
mod tests;

pub use executor::CursorExecutor;
pub use import::{default_state_db, import};

use switchyard_hub::error::ErrorShape;
use switchyard_hub::usage::UsageReading;
use switchyard_hub::wire::Routes;
use switchyard_hub::{Format, Translator, WireFormat};

// The `cursor` format in one place: requests go out, answers come back as streams of hub
// chunks, so errors and usage are read in the hub's own shapes; no client speaks it.
inventory::submit! {
    WireFormat {
        format: Format::Cursor,
        translators: &[
            Translator::new(Format::OpenAi, Format::Cursor).request(request::hub_to_cursor),
            Translator::new(Format::Cursor, Format::OpenAi).stream(stream::cursor_stream_to_hub),
        ],
        errors: ErrorShape::OPENAI,
        usage: UsageReading::OPENAI,
        routes: Routes::NONE,
        openai_stream: false,
        // Cursor's request carries no output limit.
        max_tokens_at: &[],
        // Its binary stream simply ends.
        stream_end: switchyard_hub::wire::StreamEnd::NONE,
        family: switchyard_hub::provenance::Family::unsigned("cursor"),
        hosted: None,
        strip_foreign: None,
        client_headers: &[],
    }
}

/// What can go wrong reading a Cursor login. (Request and stream failures are the hub's
/// `TranslateError` and `ApiError`.)
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("no home directory is known, so Cursor's state.vscdb cannot be found; pass its path")]
    NoDefaultPath,
    #[error(
        "{0} does not exist; is Cursor installed and signed in? (pass the path to state.vscdb)"
    )]
    NotFound(String),
    #[error("cannot read {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{0} holds no Cursor login (no cursorAuth/accessToken): sign in to Cursor first")]
    NoLogin(String),
    #[error(
        "{0} holds no machine id (storage.serviceMachineId, storage.machineId or telemetry.machineId)"
    )]
    NoMachineId(String),
}
