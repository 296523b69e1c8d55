//! The `kiro` format in one place: the hub's requests go out in it, its event streams come
//! back as hub chunks (so errors and usage are read in the hub's own shapes), and no client
//! speaks it. The hub does not know this format; this registration is all there is.

use switchyard_hub::error::ErrorShape;
use switchyard_hub::provenance::Family;
use switchyard_hub::usage::UsageReading;
use switchyard_hub::wire::{Routes, StreamEnd};
use switchyard_hub::{Format, Translator, WireFormat};

use crate::{request, stream};

/// AWS CodeWhisperer's `generateAssistantResponse` body and event stream.
pub const KIRO: Format = Format::named("kiro");

inventory::submit! {
    WireFormat {
        format: KIRO,
        translators: &[
            Translator::new(Format::OpenAi, KIRO).request(request::hub_to_kiro),
            Translator::new(KIRO, Format::OpenAi).stream(stream::kiro_stream_to_hub),
        ],
        errors: ErrorShape::OPENAI,
        usage: UsageReading::OPENAI,
        routes: Routes::NONE,
        openai_stream: false,
        // Kiro's request carries no output limit.
        max_tokens_at: &[],
        // Its binary event stream simply ends.
        stream_end: StreamEnd::NONE,
        family: Family::unsigned("kiro"),
        hosted: None,
        strip_foreign: None,
        client_headers: &[],
    }
}
