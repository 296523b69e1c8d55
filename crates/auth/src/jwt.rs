//! Reading the claims of a JSON Web Token. Signatures are not checked: the tokens come
//! straight from the issuer over TLS (or from the user's own CLI files) and only their
//! informational claims (expiry, e-mail, account id) are read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The payload of `token` as JSON, or `None` if it is not a JWT.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.is_object().then_some(v)
}

/// The `exp` claim, in seconds since the epoch.
pub fn expiry(token: &str) -> Option<std::time::SystemTime> {
    let exp = claims(token)?.get("exp")?.as_u64()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_claims_and_refuses_other_text() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000,"email":"a@b.c"}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        assert_eq!(claims(&token).unwrap()["email"], "a@b.c");
        assert!(expiry(&token).is_some());
        for bad in ["", "a.b", "a.!!.c", "sk-plain-key"] {
            assert!(claims(bad).is_none(), "{bad}");
        }
    }
}
