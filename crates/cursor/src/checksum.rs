//! The identity headers Cursor's API checks: `x-cursor-checksum`, `x-client-key` and
//! `x-session-id`.
//!
//! Ports have got the checksum wrong in small ways (a microsecond clock, an add that does not
//! wrap, a SHA-1 session id) and were answered 401/403 or `resource_exhausted`; the worked
//! examples in the tests below were computed by hand from the description in PROVIDERS.md.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The cipher's starting key.
const SEED: u8 = 165;

/// The 8-character time part of `x-cursor-checksum` for the wall-clock time `now_ms`
/// (milliseconds since the Unix epoch).
///
/// `t = floor(now_ms / 1_000_000)` is written as 6 big-endian bytes; each byte is XORed with
/// the previous output byte (165 for the first), its index is added modulo 256, and the six
/// results are base64url-encoded without padding.
pub fn time_cipher(now_ms: u64) -> String {
    let t = now_ms / 1_000_000;
    let be = t.to_be_bytes();
    let mut bytes = [0u8; 6];
    bytes.copy_from_slice(&be[2..]);
    let mut key = SEED;
    for (i, b) in (0u8..).zip(bytes.iter_mut()) {
        *b = (*b ^ key).wrapping_add(i);
        key = *b;
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `x-cursor-checksum`: the time cipher followed by the machine id.
pub fn checksum(now_ms: u64, machine_id: &str) -> String {
    format!("{}{machine_id}", time_cipher(now_ms))
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(value: &str) -> String {
    format!("{:x}", Sha256::digest(value.as_bytes()))
}

/// `x-client-key`: the SHA-256 of the token, hex.
pub fn client_key(token: &str) -> String {
    sha256_hex(token)
}

/// `x-session-id`: a name-based (v5) UUID of the token in the DNS namespace, so one account
/// keeps one session id.
pub fn session_id(token: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, token.as_bytes()).to_string()
}

/// The bearer token from what a user pasted: the web session cookie has the form
/// `<user id>::<token>` (URL-encoded `%3A%3A` when copied from a browser).
pub fn bearer_token(raw: &str) -> &str {
    let raw = raw.trim();
    for sep in ["::", "%3A%3A", "%3a%3a"] {
        if let Some((_, token)) = raw.split_once(sep) {
            return token;
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked by hand. now_ms = 1_700_000_000_000 -> t = 1_700_000 = 0x19F0A0, bytes
    // 00 00 00 19 F0 A0.
    //   i0: (00 ^ A5) + 0 = A5      i1: (00 ^ A5) + 1 = A6      i2: (00 ^ A6) + 2 = A8
    //   i3: (19 ^ A8) + 3 = B1 + 3 = B4
    //   i4: (F0 ^ B4) + 4 = 44 + 4 = 48
    //   i5: (A0 ^ 48) + 5 = E8 + 5 = ED
    // A5 A6 A8 -> 101001 011010 011010 101000 = 41 26 26 40 = "paao"
    // B4 48 ED -> 101101 000100 100011 101101 = 45 4 35 45  = "tEjt"
    #[test]
    fn worked_example() {
        assert_eq!(time_cipher(1_700_000_000_000), "paaotEjt");
        // Every millisecond of the same 1e6-ms window gives the same cipher.
        assert_eq!(time_cipher(1_700_000_999_999), "paaotEjt");
        assert_ne!(time_cipher(1_700_001_000_000), "paaotEjt");
    }

    // now_ms = 1_762_988_000_000 -> t = 1_762_988 = 0x1AE6AC, bytes 00 00 00 1A E6 AC.
    //   i0..i2 as above: A5 A6 A8
    //   i3: (1A ^ A8) + 3 = B2 + 3 = B5
    //   i4: (E6 ^ B5) + 4 = 53 + 4 = 57
    //   i5: (AC ^ 57) + 5 = FB + 5 = 0x100 -> wraps to 00
    // B5 57 00 -> 101101 010101 011100 000000 = 45 21 28 0 = "tVcA"
    #[test]
    fn worked_example_where_the_add_wraps() {
        assert_eq!(time_cipher(1_762_988_000_000), "paaotVcA");
    }

    // The bug seen in a port: microseconds instead of milliseconds give another window.
    #[test]
    fn microseconds_would_not_match() {
        assert_ne!(time_cipher(1_700_000_000_000_000), "paaotEjt");
    }

    #[test]
    fn checksum_appends_the_machine_id() {
        let c = checksum(1_700_000_000_000, "abc123");
        assert_eq!(c, "paaotEjtabc123");
        let cipher = time_cipher(1_700_000_000_000);
        assert_eq!(cipher.len(), 8);
        assert!(
            cipher
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn client_key_is_sha256_hex_of_the_token() {
        // SHA-256("abc"), the FIPS 180-2 example.
        assert_eq!(
            client_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn session_id_is_a_stable_v5_uuid() {
        let a = session_id("token-1");
        assert_eq!(a, session_id("token-1"));
        assert_ne!(a, session_id("token-2"));
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 5);
        // The RFC 4122 example: v5 of "python.org" in the DNS namespace.
        assert_eq!(
            session_id("python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d"
        );
    }

    #[test]
    fn bearer_token_drops_the_user_prefix() {
        assert_eq!(bearer_token("user_01::eyJhbGc"), "eyJhbGc");
        assert_eq!(bearer_token("user_01%3A%3AeyJhbGc"), "eyJhbGc");
        assert_eq!(bearer_token(" eyJhbGc "), "eyJhbGc");
    }
}
