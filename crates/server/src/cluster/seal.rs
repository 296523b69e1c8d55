//! Sealing what travels through Redis and may grant access (OAuth tokens, accounts'
//! credentials): ChaCha20-Poly1305 from `ring`, under a key derived from
//! `SWITCHYARD_CLUSTER_KEY`, which every instance of a cluster sets to the same secret.
//! Each sealed value is bound to the Redis key it is stored under, so a value copied to
//! another key does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest;

use super::ClusterError;

pub const KEY_VAR: &str = "SWITCHYARD_CLUSTER_KEY";

/// Shorter secrets are refused: they could be guessed from a sealed token.
const MIN_KEY_LEN: usize = 16;

pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl Sealer {
    /// The sealer keyed by `SWITCHYARD_CLUSTER_KEY`, or `None` when it is not set.
    pub fn from_env() -> Option<Result<Sealer, String>> {
        let secret = std::env::var(KEY_VAR).ok()?;
        Some(Sealer::new(secret.trim()))
    }

    pub fn new(secret: &str) -> Result<Sealer, String> {
        if secret.len() < MIN_KEY_LEN {
            return Err(format!(
                "too short ({} characters; use at least {MIN_KEY_LEN}, e.g. `openssl rand -hex 32`)",
                secret.len()
            ));
        }
        // Any string of enough entropy works: the AEAD key is its SHA-256.
        let digest = sha2::Sha256::digest(secret.as_bytes());
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &digest)
            .map_err(|_| "cannot make a key of it".to_owned())?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            random: SystemRandom::new(),
        })
    }

    /// `plain` sealed for the Redis key `bound_to`: base64 of nonce, ciphertext and tag.
    pub fn seal(&self, bound_to: &str, plain: &[u8]) -> Result<String, ClusterError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| ClusterError::Seal)?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(bound_to.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| ClusterError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`Sealer::seal`] made for `bound_to`.
    pub fn open(&self, bound_to: &str, sealed: &str) -> Result<Vec<u8>, ClusterError> {
        let raw = STANDARD.decode(sealed).map_err(|_| ClusterError::Seal)?;
        if raw.len() < NONCE_LEN {
            return Err(ClusterError::Seal);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| ClusterError::Seal)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(bound_to.as_bytes()), &mut body)
            .map_err(|_| ClusterError::Seal)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_binding() {
        let a = Sealer::new("a-cluster-secret-of-some-length").unwrap();
        let sealed = a.seal("k1", b"token").unwrap();
        assert!(!sealed.contains("token"));
        assert_eq!(a.open("k1", &sealed).unwrap(), b"token");
        assert!(a.open("k2", &sealed).is_err(), "bound to its key");
        let b = Sealer::new("another-cluster-secret-entirely").unwrap();
        assert!(b.open("k1", &sealed).is_err());
        assert!(a.open("k1", "not base64!").is_err());
        assert!(Sealer::new("short").is_err());
    }
}
