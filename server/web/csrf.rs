//! Cross-site request forgery protection for the pages' forms: a double-submit token.
//! The first page a browser gets sets a random token in a `SameSite=Strict`, HttpOnly
//! cookie and writes the same token into every form it renders as a hidden `csrf` field;
//! every state-changing page request must carry both, equal. Another site can make a
//! browser send the cookie (not with `Strict`, but older browsers exist) yet cannot read
//! it to fill in the field.

use base64::Engine;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use warp::http::{HeaderMap, HeaderValue};

use super::Settings;
use super::extract::cookie;
use crate::error::{Error, Result};

pub const COOKIE: &str = "barkeep_csrf";

/// The browser's token, when it sent a well-formed one.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE).filter(|t| {
        t.len() == 43
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A fresh random token.
pub fn issue() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The cookie that holds the token: for this browser session, never sent cross-site.
pub fn cookie_header(settings: &Settings, token: &str) -> HeaderValue {
    let secure = if settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("barkeep_csrf=; Max-Age=0"))
}

#[derive(Deserialize)]
struct Field {
    #[serde(default)]
    csrf: String,
}

/// Refuses a form whose `csrf` field is missing or differs from the cookie.
pub fn check(headers: &HeaderMap, body: &[u8]) -> Result<()> {
    let sent = serde_urlencoded::from_bytes::<Field>(body)
        .map(|f| f.csrf)
        .unwrap_or_default();
    match token_of(headers) {
        Some(expected)
            if !sent.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(Error::forbidden(
            "csrf",
            "this form has expired or was sent from another site; reload the page and send it again",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn the_field_must_match_the_cookie() {
        let t = issue();
        assert_eq!(t.len(), 43);
        let h = headers(&format!("barkeep_session=x; {COOKIE}={t}"));
        assert!(check(&h, format!("a=1&csrf={t}").as_bytes()).is_ok());
        assert!(check(&h, b"a=1").is_err());
        assert!(check(&h, b"csrf=").is_err());
        assert!(check(&h, format!("csrf={}", issue()).as_bytes()).is_err());
        assert!(check(&HeaderMap::new(), format!("csrf={t}").as_bytes()).is_err());
        // A malformed cookie is no token at all.
        let bad = headers(&format!("{COOKIE}=short"));
        assert!(check(&bad, b"csrf=short").is_err());
    }
}
