//! Suppressed addresses, kept without the address: `email_suppressions.address` holds
//! an HMAC-SHA256 of the lowercased address (in hex), keyed by a key derived from the
//! server's secret. Whether an address is suppressed is asked by hashing it, so
//! suppression keeps working for an address barkeep no longer holds — a bounce of an
//! erased account's last email, or one reported by the email API's webhook after the
//! erasure, leaves only the hash behind. What a bounce says (an SMTP reply, the API's
//! description) is kept with the address itself cut out of it.
//!
//! Rows written before the hashing (plain addresses) are hashed when the server starts
//! ([`hash_plain_suppressions`]): the key lives in the server's configuration, which
//! migrations do not see.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ConnectionTrait, DbErr};
use sha2::Sha256;

use crate::db::entities::email_suppression;
use crate::db::{Db, outbox as q};
use crate::domain::MemberId;

/// What an address becomes in text barkeep keeps about a failed or bounced email.
pub const REDACTED: &str = "[address]";

/// The key of the suppression hashes, derived from the server's secret; the same on
/// every process that shares the secret.
#[derive(Clone)]
pub struct AddressKey([u8; 32]);

impl std::fmt::Debug for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressKey(…)")
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

impl AddressKey {
    /// A key of its own, so a suppression hash can stand for nothing else signed with
    /// the secret.
    pub fn derive(secret: &[u8]) -> AddressKey {
        let mut m = mac(secret);
        m.update(b"barkeep email suppressions v1");
        AddressKey(m.finalize().into_bytes().into())
    }

    /// What `email_suppressions.address` holds for `address`: 64 hex digits (never an
    /// `@`, which tells a hash from an address written before the hashing).
    pub fn hash(&self, address: &str) -> String {
        let mut m = mac(&self.0);
        m.update(address.trim().to_lowercase().as_bytes());
        let digest = m.finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for b in digest {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// A key for another `purpose`, derived from this one the other way round (keyed by
    /// the purpose, over this key), so that no suppression hash, of whatever text a bounce
    /// report names, can ever equal it. 64 hex digits.
    pub fn subkey(&self, purpose: &str) -> String {
        let mut m = mac(purpose.as_bytes());
        m.update(&self.0);
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The length in bytes of `address` (as chars lowercased) at the start of `hay`, if it
/// starts there.
fn starts_with_address(hay: &str, address: &[char]) -> Option<usize> {
    let mut n = 0;
    for (i, c) in hay.char_indices() {
        if n == address.len() {
            return Some(i);
        }
        for l in c.to_lowercase() {
            if address.get(n) != Some(&l) {
                return None;
            }
            n += 1;
        }
    }
    (n == address.len()).then_some(hay.len())
}

/// `text` with every occurrence of `address` (in any case) replaced by [`REDACTED`].
pub fn redact(text: &str, address: &str) -> String {
    let needle: Vec<char> = address
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .collect();
    if needle.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        if let Some(len) = starts_with_address(&text[i..], &needle) {
            out.push_str(REDACTED);
            i += len;
        } else {
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// No more subscription mail to `address`; the first reason stays. `detail` is kept
/// without the address.
pub async fn suppress(
    db: &impl ConnectionTrait,
    key: &AddressKey,
    address: &str,
    reason: &str,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    q::suppress(db, &key.hash(address), reason, &redact(detail, address), at).await
}

/// The suppression of `address`, if it has one.
pub async fn suppression(
    db: &impl ConnectionTrait,
    key: &AddressKey,
    address: &str,
) -> Result<Option<email_suppression::Model>, DbErr> {
    q::suppression(db, &key.hash(address)).await
}

/// Which of `addresses` are suppressed, each (as given) with its reason.
pub async fn suppressed(
    db: &impl ConnectionTrait,
    key: &AddressKey,
    addresses: &[String],
) -> Result<HashMap<String, String>, DbErr> {
    let mut by_hash: HashMap<String, Vec<&String>> = HashMap::new();
    for a in addresses {
        by_hash.entry(key.hash(a)).or_default().push(a);
    }
    let hashes: Vec<String> = by_hash.keys().cloned().collect();
    let mut out = HashMap::new();
    for s in q::suppressions_of(db, &hashes).await? {
        for a in by_hash.get(&s.address).into_iter().flatten() {
            out.insert((*a).clone(), s.reason.clone());
        }
    }
    Ok(out)
}

/// Hashes the suppressions still stored with their address (written before suppressions
/// were hashed, or by a process of an older version); run when the server starts.
/// Returns how many were hashed.
pub async fn hash_plain_suppressions(db: &Db, key: &AddressKey) -> anyhow::Result<u64> {
    let plain = q::plain_suppressions(db).await?;
    let n = plain.len() as u64;
    for row in plain {
        let hashed = email_suppression::Model {
            address: key.hash(&row.address),
            detail: row.detail.as_deref().map(|d| redact(d, &row.address)),
            reason: row.reason.clone(),
            at: row.at,
        };
        let txn = crate::db::begin(db).await?;
        q::replace_suppression(&txn, &row.address, hashed).await?;
        txn.commit().await?;
    }
    if n > 0 {
        tracing::info!(rows = n, "suppressed addresses replaced by their hashes");
    }
    Ok(n)
}

/// Erasure: the outbox rows still naming the member or their address go (rows queued
/// while the erasure ran). Call it once the member is deleted and before the account's
/// last email is queued; that email's row forgets the address once it is sent or given
/// up.
pub async fn forget_address(
    db: &impl ConnectionTrait,
    address: &str,
    member: MemberId,
) -> Result<u64, DbErr> {
    q::delete_rows_to(db, &address.trim().to_lowercase(), member).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_case_and_depends_on_the_secret() {
        let key = AddressKey::derive(b"a secret of the server, long enough");
        let h = key.hash("Someone@Example.com");
        assert_eq!(h, key.hash(" someone@example.com"));
        assert_eq!(h.len(), 64);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(!h.contains('@'));
        assert_ne!(h, key.hash("someone.else@example.com"));
        let other = AddressKey::derive(b"another secret of another server");
        assert_ne!(h, other.hash("someone@example.com"));
    }

    #[test]
    fn redaction_cuts_the_address_in_any_case() {
        let a = "Gone@Example.com";
        assert_eq!(
            redact(
                "550 5.1.1 <gone@example.COM>: no such user (GONE@EXAMPLE.COM)",
                a
            ),
            "550 5.1.1 <[address]>: no such user ([address])"
        );
        assert_eq!(redact("nothing here", a), "nothing here");
        assert_eq!(redact("gone@example.co", a), "gone@example.co");
        assert_eq!(redact("Ünïcode gone@example.comé", a), "Ünïcode [address]é");
        assert_eq!(redact("x", ""), "x");
        assert_eq!(redact("", a), "");
    }
}
