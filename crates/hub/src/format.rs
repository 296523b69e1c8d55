use std::fmt;

/// A wire format. `OpenAi` (chat completions) is the hub every translation passes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    OpenAi,
    Responses,
    Claude,
    Gemini,
    GeminiCli,
    Kiro,
    Cursor,
    /// OpenAI's legacy text completions (`prompt` in, `choices[].text` out).
    Completions,
}

impl Format {
    pub const HUB: Format = Format::OpenAi;

    pub const ALL: [Format; 8] = [
        Format::OpenAi,
        Format::Responses,
        Format::Claude,
        Format::Gemini,
        Format::GeminiCli,
        Format::Kiro,
        Format::Cursor,
        Format::Completions,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Format::OpenAi => "openai",
            Format::Responses => "responses",
            Format::Claude => "claude",
            Format::Gemini => "gemini",
            Format::GeminiCli => "gemini-cli",
            Format::Kiro => "kiro",
            Format::Cursor => "cursor",
            Format::Completions => "completions",
        }
    }

    /// Whether streams in this format end with `data: [DONE]` and carry OpenAI's usage-only
    /// last chunk (chat completions and legacy completions).
    pub const fn is_openai_stream(self) -> bool {
        matches!(self, Format::OpenAi | Format::Completions)
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("nope"), None);
        // No translator or executor ever spoke it: the name is not a format.
        assert_eq!(Format::parse("antigravity"), None);
    }
}
