//! Cross-site request forgery, refused twice over.
//!
//! **Where a write comes from.** Every state-changing request to the member API and the
//! pages is refused (403 `cross_site`) when the browser says it comes from elsewhere:
//! `Sec-Fetch-Site` other than `same-origin` or `none`, or, from browsers that do not send
//! that header, an `Origin` that is neither barkeep's public URL nor the host the request
//! was sent to. `same-site` is refused too: a sibling subdomain of a member's site is
//! "same site" and exactly who must not write. A request with neither header comes from
//! no browser (curl, a script, a server) and cannot carry a victim's cookies by accident,
//! so it passes. Routes that answer other sites by design (one-click unsubscribe from a
//! mail client, the preview frame's beacons) opt out in their route table.
//!
//! **Forms carry a token.** Every page form has a hidden `csrf` field. For a signed-in
//! browser it is a MAC of the session token, so it is good for that session only and a
//! cookie planted by someone else cannot stand in for it; for a browser that is not
//! signed in (login, signup, reset) it is a random value also kept in a `SameSite=Strict`
//! cookie, and the two must match (double submit).

use serde::Deserialize;
use subtle::ConstantTimeEq;
use warp::http::{HeaderMap, HeaderValue};

use super::Settings;
use super::cookies;
use crate::error::{Error, Result};

/// A fresh random token (also the preview frame's script nonce).
pub(crate) fn issue() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Refuses a write a browser sent from another site (see the module's notes).
pub(crate) fn check_origin(settings: &Settings, headers: &HeaderMap) -> Result<()> {
    let refuse = || {
        Err(Error::forbidden(
            "cross_site",
            "this request came from another site; barkeep accepts changes only from its own pages or from clients that are not browsers",
        ))
    };
    if let Some(site) = header(headers, "sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => refuse(),
        };
    }
    let Some(origin) = header(headers, "origin") else {
        return Ok(());
    };
    let Ok(origin) = url::Url::parse(origin) else {
        // `null` (a sandboxed frame, a redirect across sites) or garbage.
        return refuse();
    };
    let ours = url::Url::parse(&settings.base_url)
        .map(|u| u.origin() == origin.origin())
        .unwrap_or(false);
    let host = header(headers, "host").is_some_and(|host| {
        origin.host_str().is_some_and(|h| {
            // `url` drops a scheme's default port, as browsers do in `Host`.
            let want = match origin.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            };
            host.eq_ignore_ascii_case(&want)
        })
    });
    if ours || host { Ok(()) } else { refuse() }
}

/// The token the forms of this page carry, and the cookie to set with it (for a browser
/// that is not signed in and has none yet).
pub(crate) fn form_token(
    settings: &Settings,
    headers: &HeaderMap,
    session: Option<&str>,
) -> (String, Option<HeaderValue>) {
    if let Some(session) = session {
        return (settings.keys.session_form_token(session), None);
    }
    match cookies::csrf_of(settings, headers) {
        Some(t) => (t, None),
        None => {
            let t = issue();
            let cookie = cookies::csrf(settings, &t);
            (t, Some(cookie))
        }
    }
}

#[derive(Deserialize)]
struct Field {
    #[serde(default)]
    csrf: String,
}

/// Refuses a form whose `csrf` field is not this browser's token: the MAC of its session
/// when `session` is the session it is signed in with, else its cookie's value.
pub(crate) fn check(
    settings: &Settings,
    headers: &HeaderMap,
    body: &[u8],
    session: Option<&str>,
) -> Result<()> {
    let sent = serde_urlencoded::from_bytes::<Field>(body)
        .map(|f| f.csrf)
        .unwrap_or_default();
    let expected = match session {
        Some(session) => Some(settings.keys.session_form_token(session)),
        None => cookies::csrf_of(settings, headers),
    };
    match expected {
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

    fn settings(base: &str) -> Settings {
        Settings::for_tests(base)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_field_must_match_the_cookie_without_a_session() {
        let s = settings("http://127.0.0.1:8080");
        let t = issue();
        assert_eq!(t.len(), 43);
        let h = headers(&[("cookie", &format!("barkeep_session=x; barkeep_csrf={t}"))]);
        assert!(check(&s, &h, format!("a=1&csrf={t}").as_bytes(), None).is_ok());
        assert!(check(&s, &h, b"a=1", None).is_err());
        assert!(check(&s, &h, b"csrf=", None).is_err());
        assert!(check(&s, &h, format!("csrf={}", issue()).as_bytes(), None).is_err());
        assert!(check(&s, &HeaderMap::new(), format!("csrf={t}").as_bytes(), None).is_err());
        // A malformed cookie is no token at all.
        let bad = headers(&[("cookie", "barkeep_csrf=short")]);
        assert!(check(&s, &bad, b"csrf=short", None).is_err());
    }

    #[test]
    fn a_signed_in_form_carries_its_sessions_mac_and_no_cookie_stands_in() {
        let s = settings("http://127.0.0.1:8080");
        let (token, cookie) = form_token(&s, &HeaderMap::new(), Some("session-a"));
        assert!(cookie.is_none());
        let body = format!("csrf={token}");
        assert!(check(&s, &HeaderMap::new(), body.as_bytes(), Some("session-a")).is_ok());
        assert!(check(&s, &HeaderMap::new(), body.as_bytes(), Some("session-b")).is_err());
        // A token planted as a cookie (by a sibling subdomain, say) is not the session's.
        let planted = issue();
        let h = headers(&[("cookie", &format!("barkeep_csrf={planted}"))]);
        let forged = format!("csrf={planted}");
        assert!(check(&s, &h, forged.as_bytes(), Some("session-a")).is_err());
    }

    #[test]
    fn cookies_are_host_only_over_https() {
        let s = settings("https://bars.example");
        let (_, cookie) = form_token(&s, &HeaderMap::new(), None);
        let cookie = cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("__Host-barkeep_csrf="), "{cookie}");
        assert!(cookie.contains("; Secure") && cookie.contains("Path=/"));
        // The plain name, as a sibling subdomain could set it, is not read.
        let t = issue();
        let h = headers(&[("cookie", &format!("barkeep_csrf={t}"))]);
        assert!(check(&s, &h, format!("csrf={t}").as_bytes(), None).is_err());
        let h = headers(&[("cookie", &format!("__Host-barkeep_csrf={t}"))]);
        assert!(check(&s, &h, format!("csrf={t}").as_bytes(), None).is_ok());
    }

    #[test]
    fn writes_from_other_sites_are_refused() {
        let s = settings("https://bars.example");
        let ok = |pairs: &[(&'static str, &str)]| check_origin(&s, &headers(pairs)).is_ok();
        // No browser.
        assert!(ok(&[]));
        // barkeep's own pages.
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(ok(&[("sec-fetch-site", "none")]));
        assert!(ok(&[("origin", "https://bars.example")]));
        assert!(ok(&[("origin", "https://bars.example:443")]));
        assert!(ok(&[
            ("origin", "http://127.0.0.1:9000"),
            ("host", "127.0.0.1:9000")
        ]));
        // Another site, a sibling subdomain, or a sandboxed frame.
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(!ok(&[("sec-fetch-site", "same-site")]));
        assert!(!ok(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://bars.example")
        ]));
        assert!(!ok(&[("origin", "https://shop.bars.example")]));
        assert!(!ok(&[("origin", "http://bars.example")]));
        assert!(!ok(&[("origin", "null")]));
        assert!(!ok(&[
            ("origin", "https://evil.example"),
            ("host", "bars.example")
        ]));
    }

    proptest::proptest! {
        /// Whatever a client sends as `Origin`, `Sec-Fetch-Site` and `Host`, the check
        /// answers without panicking, and passes only what names barkeep's own origin.
        #[test]
        fn arbitrary_origin_headers_pass_only_for_barkeep(
            origin in proptest::option::of("[ -~]{0,60}"),
            site in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just("same-origin".to_string()),
                proptest::strategy::Just("cross-site".to_string()),
                proptest::strategy::Just("same-site".to_string()),
                "[ -~]{0,20}",
            ]),
        ) {
            let s = settings("https://bars.example");
            let mut pairs: Vec<(&'static str, &str)> = Vec::new();
            if let Some(o) = &origin { pairs.push(("origin", o)); }
            if let Some(f) = &site { pairs.push(("sec-fetch-site", f)); }
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                if let Ok(v) = HeaderValue::from_str(v) { h.append(k, v); }
            }
            let passed = check_origin(&s, &h).is_ok();
            let fetch = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()).map(str::trim);
            let from = h.get("origin").and_then(|v| v.to_str().ok()).map(str::trim);
            let want = match (fetch, from) {
                (Some(f), _) => f == "same-origin" || f == "none",
                (None, None) => true,
                (None, Some(o)) => url::Url::parse(o)
                    .map(|u| u.scheme() == "https"
                        && u.host_str() == Some("bars.example")
                        && u.port_or_known_default() == Some(443))
                    .unwrap_or(false),
            };
            proptest::prop_assert_eq!(passed, want, "{:?} {:?}", origin, site);
        }
    }
}
