use std::fmt;

use subtle::ConstantTimeEq;

/// A secret string (API key, token). It never prints itself: `Debug` and `Display` show a
/// mask, and the value is reachable only through [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares in time that depends only on the lengths, not on where the bytes differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

/// Masks a secret for logs: a short prefix that helps tell keys apart, never enough of it to
/// use. Short values are hidden entirely.
pub fn mask(value: &str) -> String {
    let shown: String = value.chars().take(4).collect();
    if value.chars().count() < 12 {
        "***".to_owned()
    } else {
        format!("{shown}***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-live-abcdefghijklmnop");
        assert_eq!(format!("{s}"), "sk-l***");
        assert_eq!(format!("{s:?}"), "sk-l***");
        assert_eq!(mask("short"), "***");
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("key-123");
        assert!(s.matches(b"key-123"));
        assert!(!s.matches(b"key-124"));
        assert!(!s.matches(b"key-1234"));
        assert!(!s.matches(b""));
    }
}
