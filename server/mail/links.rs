//! The links barkeep's emails carry back to barkeep: the open pixel, click redirects and
//! one-click unsubscribe. Each is a short token — what it is about, then a MAC keyed from
//! the server's secret — so it cannot be guessed or changed, and needs no cookie and no
//! database row to check.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::suppressions::AddressKey;
use crate::domain::MemberId;

/// Bytes of MAC kept in a token: 96 bits, far beyond guessing.
const MAC_LEN: usize = 12;

pub use crate::db::entities::outbox::List;

impl List {
    /// As a person names it: "product news".
    pub fn title(self) -> &'static str {
        match self {
            List::News => "product news (new features and releases)",
            List::Digest => "the weekly digest",
            List::Promo => "promotions",
        }
    }

    fn byte(self) -> u8 {
        match self {
            List::News => 1,
            List::Digest => 2,
            List::Promo => 3,
        }
    }

    fn from_byte(b: u8) -> Option<List> {
        List::ALL.into_iter().find(|l| l.byte() == b)
    }
}

/// What a tracking token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    Open { outbox: i64 },
    Click { outbox: i64, link: u16 },
}

#[derive(Clone)]
pub struct Links {
    key: [u8; 32],
    base_url: String,
    /// The key of suppressed addresses' hashes, derived from the same secret.
    addresses: AddressKey,
}

impl Links {
    /// A key of its own, derived from the server's secret, so these tokens can never
    /// stand for a session or anything else signed with the secret.
    pub fn new(secret: &[u8], base_url: &str) -> Links {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"barkeep email links v1");
        Links {
            key: mac.finalize().into_bytes().into(),
            base_url: base_url.to_string(),
            addresses: AddressKey::derive(secret),
        }
    }

    /// The key suppressed addresses are hashed with (see `super::suppressions`).
    pub fn address_key(&self) -> &AddressKey {
        &self.addresses
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    fn seal(&self, payload: &[u8]) -> String {
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&self.mac(payload));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn open(&self, token: &str) -> Option<Vec<u8>> {
        if token.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let split = bytes.len().checked_sub(MAC_LEN)?;
        let (payload, mac) = bytes.split_at(split);
        let mut check = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        check.update(payload);
        // Constant time, on the truncated MAC.
        check.verify_truncated_left(mac).ok()?;
        Some(payload.to_vec())
    }

    pub fn unsubscribe_token(&self, member: MemberId, list: List) -> String {
        let mut p = vec![b'u'];
        p.extend_from_slice(&member.0.to_be_bytes());
        p.push(list.byte());
        self.seal(&p)
    }

    pub fn unsubscribe_url(&self, member: MemberId, list: List) -> String {
        format!(
            "{}/unsubscribe?t={}",
            self.base_url,
            self.unsubscribe_token(member, list)
        )
    }

    pub fn parse_unsubscribe(&self, token: &str) -> Option<(MemberId, List)> {
        let p = self.open(token)?;
        match p.as_slice() {
            [b'u', rest @ ..] if rest.len() == 9 => {
                let member = i64::from_be_bytes(rest[..8].try_into().ok()?);
                Some((MemberId(member), List::from_byte(rest[8])?))
            }
            _ => None,
        }
    }

    pub fn open_url(&self, outbox: i64) -> String {
        let mut p = vec![b'o'];
        p.extend_from_slice(&outbox.to_be_bytes());
        format!("{}/t/o/{}.gif", self.base_url, self.seal(&p))
    }

    pub fn click_url(&self, outbox: i64, link: u16) -> String {
        let mut p = vec![b'c'];
        p.extend_from_slice(&outbox.to_be_bytes());
        p.extend_from_slice(&link.to_be_bytes());
        format!("{}/t/c/{}", self.base_url, self.seal(&p))
    }

    pub fn parse_tracking(&self, token: &str) -> Option<Tracked> {
        let p = self.open(token.trim_end_matches(".gif"))?;
        match p.as_slice() {
            [b'o', rest @ ..] if rest.len() == 8 => Some(Tracked::Open {
                outbox: i64::from_be_bytes(rest.try_into().ok()?),
            }),
            [b'c', rest @ ..] if rest.len() == 10 => Some(Tracked::Click {
                outbox: i64::from_be_bytes(rest[..8].try_into().ok()?),
                link: u16::from_be_bytes(rest[8..].try_into().ok()?),
            }),
            _ => None,
        }
    }

    /// Where a member chooses which emails they get.
    pub fn preferences_url(&self) -> String {
        format!("{}/account#email", self.base_url)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_any_change() {
        let links = Links::new(
            b"a secret of at least thirty-two bytes!",
            "https://b.example",
        );
        let t = links.unsubscribe_token(MemberId(42), List::Digest);
        assert_eq!(
            links.parse_unsubscribe(&t),
            Some((MemberId(42), List::Digest))
        );
        let other = Links::new(
            b"another secret of thirty-two bytes!!!",
            "https://b.example",
        );
        assert_eq!(other.parse_unsubscribe(&t), None, "another server's key");
        let mut forged = t.clone().into_bytes();
        forged[3] ^= 1;
        assert_eq!(
            links.parse_unsubscribe(std::str::from_utf8(&forged).unwrap()),
            None
        );

        let click = links.click_url(7, 3);
        let token = click.rsplit('/').next().unwrap();
        assert_eq!(
            links.parse_tracking(token),
            Some(Tracked::Click { outbox: 7, link: 3 })
        );
        let open = links.open_url(7);
        let token = open.rsplit('/').next().unwrap();
        assert!(token.ends_with(".gif"));
        assert_eq!(
            links.parse_tracking(token),
            Some(Tracked::Open { outbox: 7 })
        );
        // A tracking token is no unsubscribe token, and the reverse.
        assert_eq!(
            links.parse_unsubscribe(token.trim_end_matches(".gif")),
            None
        );
        assert_eq!(links.parse_tracking(&t), None);
        assert_eq!(links.parse_tracking("not-a-token"), None);
    }
}
