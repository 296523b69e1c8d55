//! The identity headers Cursor's API checks: `x-cursor-checksum`, `x-client-key` and
//! `x-session-id`.
//!
//! Ports have got the checksum wrong in small ways (a microsecond clock, an add that does not
//! wrap, a SHA-1 session id, the timestamp packed as a true 48-bit integer where the client's
//! JavaScript wraps its shift counts) and were answered 401/403 or `resource_exhausted`; the
//! worked examples in the tests below were computed by hand and agree with what two public
//! clients of the real service send.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The cipher's starting key.
const SEED: u8 = 165;

/// The 8-character time part of `x-cursor-checksum` for the wall-clock time `now_ms`
/// (milliseconds since the Unix epoch).
///
/// `t = floor(now_ms / 1_000_000)` is written as six bytes the way Cursor's JavaScript client
/// writes them: `(t >> s) & 255` for s = 40, 32, 24, 16, 8, 0, where JS converts `t` to a
/// 32-bit integer and takes the shift count modulo 32, so the first two bytes are really
/// `(t >> 8) & 255` and `t & 255` (see [`js_byte`]). Each byte is XORed with the previous
/// output byte (165 for the first), its index is added modulo 256, and the six results are
/// base64url-encoded without padding. The server checks the bytes the client computes, not
/// the 48-bit big-endian value the description suggests.
pub fn time_cipher(now_ms: u64) -> String {
    let t = now_ms / 1_000_000;
    let mut bytes = [40, 32, 24, 16, 8, 0].map(|shift| js_byte(t, shift));
    let mut key = SEED;
    for (i, b) in (0u8..).zip(bytes.iter_mut()) {
        *b = (*b ^ key).wrapping_add(i);
        key = *b;
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `(t >> shift) & 255` as JavaScript computes it: `t` is truncated to 32 bits (ToInt32;
/// the sign does not matter once masked with 255) and the shift count is taken modulo 32.
fn js_byte(t: u64, shift: u32) -> u8 {
    // Truncation is the point: JS keeps only the low 32 bits, and `& 255` the low 8.
    ((t as u32) >> (shift % 32)) as u8
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

    // Worked by hand. now_ms = 1_700_000_000_000 -> t = 1_700_000 = 0x0019F0A0. As JS
    // computes them, t >> 40 is t >> 8 and t >> 32 is t >> 0, so the bytes are
    // F0 A0 00 19 F0 A0.
    //   i0: (F0 ^ A5) + 0 = 55
    //   i1: (A0 ^ 55) + 1 = F5 + 1 = F6
    //   i2: (00 ^ F6) + 2 = F8
    //   i3: (19 ^ F8) + 3 = E1 + 3 = E4
    //   i4: (F0 ^ E4) + 4 = 14 + 4 = 18
    //   i5: (A0 ^ 18) + 5 = B8 + 5 = BD
    // 55 F6 F8 -> 010101 011111 011011 111000 = 21 31 27 56 = "Vfb4"
    // E4 18 BD -> 111001 000001 100010 111101 = 57 1 34 61  = "5Bi9"
    // Two public clients of the real service, run with the same clock, send "Vfb45Bi9".
    #[test]
    fn worked_example() {
        assert_eq!(time_cipher(1_700_000_000_000), "Vfb45Bi9");
        // Every millisecond of the same 1e6-ms window gives the same cipher.
        assert_eq!(time_cipher(1_700_000_999_999), "Vfb45Bi9");
        assert_ne!(time_cipher(1_700_001_000_000), "Vfb45Bi9");
        // Not the plain 48-bit big-endian packing (00 00 00 19 F0 A0), which the real
        // service does not accept.
        assert_ne!(time_cipher(1_700_000_000_000), "paaotEjt");
    }

    // now_ms = 1_762_988_000_000 -> t = 1_762_988 = 0x001AE6AC, bytes E6 AC 00 1A E6 AC.
    //   i0: (E6 ^ A5) + 0 = 43
    //   i1: (AC ^ 43) + 1 = EF + 1 = F0
    //   i2: (00 ^ F0) + 2 = F2
    //   i3: (1A ^ F2) + 3 = E8 + 3 = EB
    //   i4: (E6 ^ EB) + 4 = 0D + 4 = 11
    //   i5: (AC ^ 11) + 5 = BD + 5 = C2
    // 43 F0 F2 -> 010000 111111 000011 110010 = 16 63 3 50  = "Q_Dy"
    // EB 11 C2 -> 111010 110001 000111 000010 = 58 49 7 2   = "6xHC"
    // The public clients send "Q_Dy6xHC" here.
    #[test]
    fn second_worked_example() {
        assert_eq!(time_cipher(1_762_988_000_000), "Q_Dy6xHC");
    }

    // now_ms = 1_700_000_000_000 + 0x4D * 1e6 -> t = 0x0019F0ED, bytes F0 ED 00 19 F0 ED.
    //   i0: 55   i1: (ED ^ 55) + 1 = B8 + 1 = B9   i2: (00 ^ B9) + 2 = BB
    //   i3: (19 ^ BB) + 3 = A2 + 3 = A5   i4: (F0 ^ A5) + 4 = 55 + 4 = 59
    //   i5: (ED ^ 59) + 5 = B4 + 5 = B9
    // 55 B9 BB -> 010101 011011 100110 111011 = 21 27 38 59 = "Vbm7"
    // A5 59 B9 -> 101001 010101 100110 111001 = 41 21 38 57 = "pVm5"
    #[test]
    fn third_worked_example() {
        assert_eq!(
            time_cipher(1_700_000_000_000 + 0x4D * 1_000_000),
            "Vbm7pVm5"
        );
    }

    // JS keeps only the low 32 bits of t before shifting: t and t + 2^32 give one cipher.
    #[test]
    fn shifts_see_only_the_low_32_bits() {
        let window = 1_000_000u64;
        let t = 1_700_000u64;
        assert_eq!(
            time_cipher(t * window),
            time_cipher((t + (1u64 << 32)) * window)
        );
        assert_eq!(js_byte(0x12_3456_789A, 40), 0x78);
        assert_eq!(js_byte(0x12_3456_789A, 32), 0x9A);
        assert_eq!(js_byte(0x12_3456_789A, 24), 0x34);
        assert_eq!(js_byte(0xFFFF_FFFF, 24), 0xFF);
    }

    // The bug seen in a port: microseconds instead of milliseconds give another window.
    #[test]
    fn microseconds_would_not_match() {
        assert_ne!(time_cipher(1_700_000_000_000_000), "Vfb45Bi9");
    }

    #[test]
    fn checksum_appends_the_machine_id() {
        let c = checksum(1_700_000_000_000, "abc123");
        assert_eq!(c, "Vfb45Bi9abc123");
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
