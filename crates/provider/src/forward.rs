//! The client's own headers that an upstream of the client's wire format needs to read the
//! body the client wrote: Anthropic's beta flags and API version (Claude Code's
//! `context_management` is refused without `anthropic-beta: context-management-2025-06-27`),
//! OpenAI's `OpenAI-Beta`.
//!
//! They are read once when the request arrives, from an allow-list per client format, so a
//! credential or a hop-by-hop header can never reach an upstream by this path. The server
//! hands them to the executor only when the body goes out in the client's own format: a
//! translator maps or drops the fields these headers describe, and the headers with them.

use http::{HeaderMap, HeaderValue};
use switchyard_hub::Format;
use switchyard_hub::wire::{self, ClientHeader};

/// `anthropic-beta`: comma-separated feature flags.
pub const ANTHROPIC_BETA: &str = "anthropic-beta";
/// `anthropic-version`: the API version the body is written against.
pub const ANTHROPIC_VERSION: &str = "anthropic-version";
/// `openai-beta`: opt-ins of OpenAI's APIs (`responses=experimental`, `assistants=v2`).
pub const OPENAI_BETA: &str = "openai-beta";

/// What a client of `format` may pass on: its registration's allow-list
/// ([`switchyard_hub::wire::WireFormat::client_headers`]). OpenAI's `OpenAI-Organization`
/// and `OpenAI-Project` are left out there on purpose, and Gemini's request headers are
/// either credentials or client telemetry.
fn allowed(format: Format) -> &'static [ClientHeader] {
    wire::client_headers(format)
}

/// Headers that must never be copied from a client to an upstream; the registry refuses a
/// format that lists one.
pub use switchyard_hub::wire::NEVER_FORWARDED;

/// The allow-listed headers one client request carried. Empty (and allocation-free) when the
/// client sent none of them.
#[derive(Clone, Debug)]
pub struct ClientHeaders {
    format: Format,
    entries: Vec<(&'static str, HeaderValue)>,
}

impl ClientHeaders {
    /// Picks the headers a client of `format` may pass on from what it sent.
    pub fn from_request(format: Format, headers: &HeaderMap) -> Self {
        let mut entries = Vec::new();
        for h in allowed(format) {
            for value in headers.get_all(h.name) {
                entries.push((h.name, value.clone()));
            }
        }
        ClientHeaders { format, entries }
    }

    /// None at all, for a request that carries no client headers.
    pub const fn none(format: Format) -> Self {
        ClientHeaders {
            format,
            entries: Vec::new(),
        }
    }

    /// These headers if the request goes out in `sent_in`, the client's own format; a
    /// translated request carries none of them.
    pub fn for_format(&self, sent_in: Format) -> Option<&Self> {
        (sent_in == self.format && !self.entries.is_empty()).then_some(self)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every value the client sent for `name`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderValue> {
        self.entries
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The comma-separated flags of every `name` header the client sent.
    pub fn flags<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|f| !f.is_empty())
    }

    /// Sets each header the executor has not set itself; comma-separated flag headers are
    /// merged instead, so the provider's own flags stay.
    pub fn insert_missing(&self, headers: &mut HeaderMap) {
        for h in allowed(self.format) {
            if h.flags {
                merge_flags(headers, h.name, self.flags(h.name));
            } else if !headers.contains_key(h.name)
                && let Some(v) = self.get_all(h.name).next()
            {
                headers.insert(h.name, v.clone());
            }
        }
    }
}

/// Adds `flags` to the comma-separated header `name`, keeping what it holds, without
/// duplicates. Leaves the header untouched when every flag is already there.
pub fn merge_flags<'a>(
    headers: &mut HeaderMap,
    name: &'static str,
    flags: impl IntoIterator<Item = &'a str>,
) {
    let mut merged: Option<String> = None;
    for flag in flags {
        let current = match &merged {
            Some(m) => m.as_str(),
            None => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        };
        if current.split(',').any(|f| f.trim() == flag) {
            continue;
        }
        merged = Some(if current.trim().is_empty() {
            flag.to_owned()
        } else {
            format!("{current},{flag}")
        });
    }
    if let Some(v) = merged.and_then(|m| HeaderValue::from_str(&m).ok()) {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn client_headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn allow_lists_hold_no_credential_or_hop_by_hop_header() {
        for w in wire::all() {
            for h in w.client_headers {
                assert!(!NEVER_FORWARDED.contains(&h.name), "{}", h.name);
            }
        }
        // The registrations name the headers this crate's executors read.
        let names = |f| allowed(f).iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(names(Format::Claude), [ANTHROPIC_BETA, ANTHROPIC_VERSION]);
        assert_eq!(names(Format::OpenAi), [OPENAI_BETA]);
        assert_eq!(names(Format::Responses), [OPENAI_BETA]);
        assert!(names(Format::Gemini).is_empty());
    }

    #[test]
    fn only_allow_listed_headers_are_kept() {
        let mut pairs: Vec<(&str, &str)> = NEVER_FORWARDED.iter().map(|n| (*n, "x")).collect();
        pairs.push(("anthropic-beta", "a-1,b-2"));
        pairs.push(("anthropic-version", "2023-06-01"));
        pairs.push(("openai-beta", "assistants=v2"));
        pairs.push(("x-stainless-os", "Linux"));
        let sent = client_headers(&pairs);

        let claude = ClientHeaders::from_request(Format::Claude, &sent);
        let mut out = HeaderMap::new();
        claude.insert_missing(&mut out);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["anthropic-beta", "anthropic-version"]);

        let openai = ClientHeaders::from_request(Format::Responses, &sent);
        let mut out = HeaderMap::new();
        openai.insert_missing(&mut out);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["openai-beta"]);

        let gemini = ClientHeaders::from_request(Format::Gemini, &sent);
        assert!(gemini.is_empty());
    }

    #[test]
    fn applies_only_in_the_clients_format() {
        let sent = client_headers(&[("anthropic-beta", "a-1")]);
        let h = ClientHeaders::from_request(Format::Claude, &sent);
        assert!(h.for_format(Format::Claude).is_some());
        assert!(h.for_format(Format::OpenAi).is_none());
        assert!(
            ClientHeaders::none(Format::Claude)
                .for_format(Format::Claude)
                .is_none()
        );
    }

    #[test]
    fn flags_merge_without_duplicates_across_header_lines() {
        let sent = client_headers(&[
            (
                "anthropic-beta",
                "claude-code-20250219, context-1m-2025-08-07",
            ),
            ("anthropic-beta", "effort-2025-11-24,oauth-2025-04-20"),
        ]);
        let h = ClientHeaders::from_request(Format::Claude, &sent);
        let mut out = HeaderMap::new();
        out.insert(
            ANTHROPIC_BETA,
            HeaderValue::from_static("oauth-2025-04-20,claude-code-20250219"),
        );
        h.insert_missing(&mut out);
        assert_eq!(
            out[ANTHROPIC_BETA],
            "oauth-2025-04-20,claude-code-20250219,context-1m-2025-08-07,effort-2025-11-24"
        );
    }

    #[test]
    fn the_executors_own_version_wins() {
        let sent = client_headers(&[("anthropic-version", "2026-10-21")]);
        let h = ClientHeaders::from_request(Format::Claude, &sent);
        let mut out = HeaderMap::new();
        h.insert_missing(&mut out);
        assert_eq!(out[ANTHROPIC_VERSION], "2026-10-21");
        out.insert(ANTHROPIC_VERSION, HeaderValue::from_static("2023-06-01"));
        h.insert_missing(&mut out);
        assert_eq!(out[ANTHROPIC_VERSION], "2023-06-01");
    }

    #[test]
    fn merging_nothing_new_leaves_the_header_alone() {
        let mut out = HeaderMap::new();
        merge_flags(&mut out, ANTHROPIC_BETA, []);
        assert!(out.is_empty());
        out.insert(ANTHROPIC_BETA, HeaderValue::from_static("a"));
        merge_flags(&mut out, ANTHROPIC_BETA, ["a"]);
        assert_eq!(out[ANTHROPIC_BETA], "a");
    }
}
