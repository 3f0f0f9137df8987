//! Secrets barkeep must read back — a member's key at an email service provider — are
//! kept sealed: AES-256-GCM under a key derived with HKDF-SHA256 from the server's
//! secret key (`BARKEEP_SECRET_KEY`), a fresh random nonce each time, and what the
//! secret belongs to as associated data, so a sealed value copied to another row does
//! not open. Stored as `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`.
//!
//! A server started with another secret key cannot open what the old one sealed: the
//! value reads as missing, and the member is asked to give it again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};

use crate::domain::Secret;

const VERSION: &str = "v1.";

/// Seals and opens secrets with the key derived from the server's.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
}

impl Sealer {
    /// Derives the sealing key from the server's secret key; `purpose` keeps keys for
    /// different uses apart.
    pub fn derive(secret_key: &[u8], purpose: &str) -> Sealer {
        let prk = Salt::new(HKDF_SHA256, b"barkeep sealed secrets").extract(secret_key);
        let info = [purpose.as_bytes()];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let key = UnboundKey::from(okm);
        Sealer {
            key: std::sync::Arc::new(LessSafeKey::new(key)),
        }
    }

    /// `plain`, sealed for `context` (what it belongs to, such as `list_forward:12`).
    pub fn seal(&self, plain: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM seals any message under 64 GB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// What `sealed` holds, if it was sealed by this key for this `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Secret<String>> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(VERSION)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealer(key: &str) -> Sealer {
        Sealer::derive(key.as_bytes(), "list forward keys")
    }

    #[test]
    fn a_sealed_key_opens_only_with_the_same_key_and_context() {
        let s = sealer("a server secret key of at least 32 bytes");
        let sealed = s.seal("abc123-us6", "list_forward:1");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("abc123"));
        assert_eq!(
            s.open(&sealed, "list_forward:1").unwrap().expose(),
            "abc123-us6"
        );
        assert!(s.open(&sealed, "list_forward:2").is_none());
        assert!(
            sealer("another server secret key, 32 bytes long")
                .open(&sealed, "list_forward:1")
                .is_none()
        );
        assert!(
            Sealer::derive(b"a server secret key of at least 32 bytes", "other use")
                .open(&sealed, "list_forward:1")
                .is_none()
        );
        // A fresh nonce each time.
        assert_ne!(sealed, s.seal("abc123-us6", "list_forward:1"));
    }

    proptest! {
        #[test]
        fn anything_round_trips_and_garbage_never_opens(plain in ".{0,200}", junk in ".{0,200}") {
            let s = sealer("a server secret key of at least 32 bytes");
            let sealed = s.seal(&plain, "c");
            let opened = s.open(&sealed, "c").unwrap();
            prop_assert_eq!(opened.expose(), &plain);
            prop_assert!(s.open(&junk, "c").is_none());
            let mut tampered = sealed.clone();
            tampered.push('A');
            let _ = s.open(&tampered, "c");
        }
    }
}
