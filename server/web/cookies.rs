//! barkeep's three cookies and the keys that sign what they carry.
//!
//! - the **session** (`barkeep_session`): the member's session token; HttpOnly,
//!   `SameSite=Lax`, for `SESSION_DAYS`;
//! - the **form token** (`barkeep_csrf`): a random value for the forms of a browser that
//!   is not signed in (login, signup); HttpOnly, `SameSite=Strict`, for the browser
//!   session. Signed-in forms carry a MAC of the session instead (see `csrf`);
//! - the **device** (`barkeep_device`): set at each successful login, it tells a later
//!   login that this browser has been let in before, so strangers' failures elsewhere do
//!   not lock it out (see `Accounts::login`). It holds the member id, a random id and a
//!   MAC; HttpOnly, `SameSite=Strict`, for a year.
//!
//! Over https every name carries the `__Host-` prefix: a browser keeps such a cookie only
//! when barkeep's own host set it, `Secure`, for the whole site, so a sibling subdomain
//! (another site under the same parent domain) can neither plant nor overwrite one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use warp::http::{HeaderMap, HeaderValue};

use super::Settings;
use crate::accounts::{Device, LoggedIn, SESSION_DAYS};
use crate::domain::MemberId;

/// The session cookie's name over plain http (the one the OpenAPI document names).
pub(crate) const SESSION: &str = "barkeep_session";
const CSRF: &str = "barkeep_csrf";
const DEVICE: &str = "barkeep_device";
/// A device cookie lasts this long, and is renewed at every login.
const DEVICE_DAYS: i64 = 365;

/// Keys of the web layer's own, each derived from the server's secret for one purpose,
/// so a value signed for one can never pass for another.
#[derive(Clone)]
pub struct Keys {
    csrf: [u8; 32],
    device: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(…)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl Keys {
    pub fn derive(secret: &[u8]) -> Keys {
        Keys {
            csrf: hmac(secret, &[b"barkeep web csrf v1"]),
            device: hmac(secret, &[b"barkeep web device v1"]),
        }
    }

    /// The form token of a signed-in browser: a MAC of its session token.
    pub fn session_form_token(&self, session_token: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac(&self.csrf, &[session_token.as_bytes()]))
    }

    /// A new device token for `member`: `<member id>.<random id>.<MAC>`.
    pub fn device_token(&self, member: MemberId) -> String {
        let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let member = member.0.to_string();
        let mac = hmac(&self.device, &[member.as_bytes(), id.as_bytes()]);
        format!("{member}.{id}.{}", URL_SAFE_NO_PAD.encode(&mac[..16]))
    }

    /// The device a token stands for, if barkeep signed it.
    pub fn device_of(&self, token: &str) -> Option<Device> {
        let mut parts = token.split('.');
        let (member, id, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || id.len() != 22 {
            return None;
        }
        let sent = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let want = hmac(&self.device, &[member.as_bytes(), id.as_bytes()]);
        if sent.len() != 16 || !bool::from(sent.ct_eq(&want[..16])) {
            return None;
        }
        Some(Device {
            member: MemberId(member.parse().ok()?),
            id: id.to_string(),
        })
    }
}

impl Settings {
    fn name(&self, plain: &'static str) -> &'static str {
        match (self.secure_cookies, plain) {
            (false, _) => plain,
            (true, SESSION) => "__Host-barkeep_session",
            (true, CSRF) => "__Host-barkeep_csrf",
            (true, _) => "__Host-barkeep_device",
        }
    }

    fn attributes(&self) -> &'static str {
        if self.secure_cookies { "; Secure" } else { "" }
    }
}

/// The value of the cookie `name`, if the request sent a non-empty one.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn header(value: String) -> HeaderValue {
    // Tokens and names are URL-safe base64, digits and dots: always a valid header.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

/// The session token the browser sent.
pub(crate) fn session_of(settings: &Settings, headers: &HeaderMap) -> Option<String> {
    cookie(headers, settings.name(SESSION))
}

/// Sets (or, with `max_age` 0 and an empty token, clears) the session cookie.
pub(crate) fn session(settings: &Settings, token: &str, max_age: i64) -> HeaderValue {
    header(format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        settings.name(SESSION),
        settings.attributes()
    ))
}

/// A session cookie that lasts as long as a session.
pub(crate) fn new_session(settings: &Settings, token: &str) -> HeaderValue {
    session(settings, token, SESSION_DAYS * 86_400)
}

/// The cookies of a login that succeeded: its session, and a renewed device cookie.
pub(crate) fn logged_in(settings: &Settings, headers: &mut HeaderMap, done: &LoggedIn) {
    headers.append("set-cookie", new_session(settings, &done.token));
    headers.append("set-cookie", device(settings, done.member.id));
}

/// The form token of a browser that is not signed in, when it sent a well-formed one.
pub(crate) fn csrf_of(settings: &Settings, headers: &HeaderMap) -> Option<String> {
    cookie(headers, settings.name(CSRF)).filter(|t| {
        t.len() == 43
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The form token's cookie: for this browser session, never sent cross-site.
pub(crate) fn csrf(settings: &Settings, token: &str) -> HeaderValue {
    header(format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        settings.name(CSRF),
        settings.attributes()
    ))
}

/// The device this browser proves it is, when it sent a token barkeep signed.
pub(crate) fn device_of(settings: &Settings, headers: &HeaderMap) -> Option<Device> {
    cookie(headers, settings.name(DEVICE)).and_then(|t| settings.keys.device_of(&t))
}

/// A fresh device cookie for `member`, set at a successful login.
pub(crate) fn device(settings: &Settings, member: MemberId) -> HeaderValue {
    header(format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        settings.name(DEVICE),
        settings.keys.device_token(member),
        DEVICE_DAYS * 86_400,
        settings.attributes()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tokens_verify_only_as_signed() {
        let keys = Keys::derive(b"a secret of more than thirty-two bytes!");
        let token = keys.device_token(MemberId(42));
        let device = keys.device_of(&token).expect("its own token");
        assert_eq!(device.member, MemberId(42));
        // Another member id, another id or another key: no device.
        let (_, rest) = token.split_once('.').unwrap();
        assert!(keys.device_of(&format!("43.{rest}")).is_none());
        let mut parts: Vec<&str> = token.split('.').collect();
        let other_id = URL_SAFE_NO_PAD.encode([7u8; 16]);
        parts[1] = &other_id;
        assert!(keys.device_of(&parts.join(".")).is_none());
        let other = Keys::derive(b"another secret of more than thirty-two bytes");
        assert!(other.device_of(&token).is_none());
        for junk in ["", "1", "1.2.3", "1.2.3.4", "x.aaaaaaaaaaaaaaaaaaaaaa.bbbb"] {
            assert!(keys.device_of(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn form_tokens_differ_by_session_and_by_key() {
        let keys = Keys::derive(b"a secret of more than thirty-two bytes!");
        let a = keys.session_form_token("session-a");
        assert_eq!(a, keys.session_form_token("session-a"));
        assert_eq!(a.len(), 43);
        assert_ne!(a, keys.session_form_token("session-b"));
        let other = Keys::derive(b"another secret of more than thirty-two bytes");
        assert_ne!(a, other.session_form_token("session-a"));
    }

    proptest::proptest! {
        /// Whatever a browser sends as its device cookie, reading it never panics, and
        /// only tokens barkeep made stand for a device.
        #[test]
        fn arbitrary_device_cookies_are_no_device(token in "\\PC{0,80}") {
            let keys = Keys::derive(b"a secret of more than thirty-two bytes!");
            proptest::prop_assert!(keys.device_of(&token).is_none());
        }
    }
}
