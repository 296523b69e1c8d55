//! The name of a wire format. A format is open: the hub names the ones it translates itself,
//! a provider crate names its own (Kiro's lives in `switchyard-kiro`), and each registers
//! what it is once, in its own module, as a [`crate::wire::WireFormat`].

use std::fmt;

/// A wire format, by its name. `OpenAi` (chat completions) is the hub every translation
/// passes through. Two formats are the same when their names are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Format(&'static str);

/// The formats the hub crate itself translates (or, for `GeminiCli` and `Cursor`, that a
/// provider crate registers; their names stay here for the crates and tests that name them). The names are those of the enum variants they replaced, so matches read the same.
#[expect(
    non_upper_case_globals,
    reason = "the formats keep the names they had as enum variants, so every match on them reads as before"
)]
impl Format {
    pub const OpenAi: Format = Format("openai");
    pub const Responses: Format = Format("responses");
    pub const Claude: Format = Format("claude");
    pub const Gemini: Format = Format("gemini");
    pub const GeminiCli: Format = Format("gemini-cli");
    pub const Cursor: Format = Format("cursor");
    /// OpenAI's legacy text completions (`prompt` in, `choices[].text` out).
    pub const Completions: Format = Format("completions");
}

impl Format {
    pub const HUB: Format = Format::OpenAi;

    /// A format named `name`: how a crate outside the hub names the format it adds.
    pub const fn named(name: &'static str) -> Format {
        Format(name)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether streams in this format end with `data: [DONE]` and carry OpenAI's usage-only
    /// last chunk (chat completions and legacy completions).
    pub fn is_openai_stream(self) -> bool {
        crate::wire::lookup(self).is_some_and(|w| w.openai_stream)
    }

    /// The registered format named `s`.
    pub fn parse(s: &str) -> Option<Format> {
        crate::wire::all()
            .iter()
            .map(|w| w.format)
            .find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in crate::wire::all() {
            assert_eq!(Format::parse(w.format.as_str()), Some(w.format));
        }
        assert_eq!(Format::parse("claude"), Some(Format::Claude));
        assert_eq!(Format::parse("nope"), None);
        // No translator or executor ever spoke it: the name is not a format.
        assert_eq!(Format::parse("antigravity"), None);
    }
}
