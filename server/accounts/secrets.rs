//! Random tokens and password hashes. Tokens are stored only as SHA-256 digests; the
//! plain token exists in the member's cookie, email or API client, never in the
//! database. Password hashing (argon2id) runs on the blocking pool.

use std::sync::Arc;

use anyhow::Context;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Hashing and checking passwords (argon2id, on the blocking pool).
#[derive(Clone)]
pub struct Passwords {
    /// Checked against when an account does not exist, so the answer takes as long as
    /// for a real one. Made at start-up: without it the timing would tell.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new() -> anyhow::Result<Passwords> {
        let dummy_hash = Argon2::default()
            .hash_password(b"no account has this password")
            .map_err(|e| anyhow::anyhow!("hashing the dummy password: {e}"))?
            .to_string();
        Ok(Passwords {
            dummy_hash: Arc::from(dummy_hash),
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
        })
        .await
        .context("password hashing task")?
    }

    /// Checks a password against a stored hash; with no hash (unknown account) against
    /// the dummy, and the answer is no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let dummy = self.dummy_hash.clone();
        tokio::task::spawn_blocking(move || {
            let target = hash.as_deref().unwrap_or(&dummy);
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), target)
                .is_ok();
            ok && hash.is_some()
        })
        .await
        .context("password verification task")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_round_trip() {
        let p = Passwords::new().unwrap();
        let h = p.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            p.verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !p.verify("wrong horse battery".into(), Some(h))
                .await
                .unwrap()
        );
        assert!(
            !p.verify("no account has this password".into(), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_accounts_are_checked_against_a_real_hash() {
        // The timing of a login must not tell whether the account exists: the dummy is
        // a real argon2id hash, checked as expensively as a member's.
        let p = Passwords::new().unwrap();
        assert!(p.dummy_hash.starts_with("$argon2id$"), "{}", p.dummy_hash);
        let real = p.hash("correct horse battery".into()).await.unwrap();
        assert_eq!(
            p.dummy_hash.split('$').nth(3),
            real.split('$').nth(3),
            "same cost"
        );
        assert!(
            !p.verify("no account has this password".into(), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
