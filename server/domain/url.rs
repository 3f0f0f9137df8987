use std::fmt;

use super::Invalid;

/// A link a bar may open: `http(s)://` for a link goal, `tel:` for a call goal. Nothing
/// else (no `javascript:`, no `data:`) can be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeUrl(String);

impl SafeUrl {
    pub fn parse_web(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let url = url::Url::parse(v).map_err(|_| {
            Invalid::new(
                field,
                format!("`{v}` is not a URL such as https://example.com/sale"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::new(
                field,
                "the link must start with https:// or http://",
            ));
        }
        // What is kept is the link as written out (non-ASCII percent-encoded), so that is
        // what must fit: a link that is kept must pass this check again.
        let kept = url.to_string();
        if v.len() > 2000 || kept.len() > 2000 {
            return Err(Invalid::new(
                field,
                "the link is longer than 2000 characters",
            ));
        }
        Ok(SafeUrl(kept))
    }

    pub fn parse_tel(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let number = v.strip_prefix("tel:").ok_or_else(|| {
            Invalid::new(
                field,
                "a call bar's link must be a tel: link such as tel:+15551234567",
            )
        })?;
        let digits = number.chars().filter(char::is_ascii_digit).count();
        let allowed = number
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.() ".contains(c));
        if !allowed || !(3..=20).contains(&digits) {
            return Err(Invalid::new(field, format!("`{v}` is not a phone number")));
        }
        Ok(SafeUrl(format!("tel:{}", number.replace(' ', ""))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_link_fits_the_limit_as_kept() {
        // 700 characters written, 2,100 once percent-encoded: refused, because a link that
        // is kept must pass the same check when the bar is saved again.
        let long = format!("https://shop.example/{}", "é".repeat(350));
        assert!(long.len() < 2000);
        assert!(SafeUrl::parse_web(&long, "l").is_err());
        let fits = format!("https://shop.example/{}", "é".repeat(300));
        let kept = SafeUrl::parse_web(&fits, "l").unwrap();
        assert_eq!(SafeUrl::parse_web(kept.as_str(), "l").unwrap(), kept);
    }

    #[test]
    fn only_web_and_phone_links() {
        assert_eq!(
            SafeUrl::parse_web("https://shop.example/sale", "l")
                .unwrap()
                .as_str(),
            "https://shop.example/sale"
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://x.example",
            "/relative",
            "https://",
            "tel:+1555",
        ] {
            assert!(SafeUrl::parse_web(bad, "l").is_err(), "{bad}");
        }
        assert_eq!(
            SafeUrl::parse_tel("tel:+1 555 123 4567", "l")
                .unwrap()
                .as_str(),
            "tel:+15551234567"
        );
        for bad in ["+15551234567", "tel:call-me", "tel:12", "https://x.example"] {
            assert!(SafeUrl::parse_tel(bad, "l").is_err(), "{bad}");
        }
    }

    use proptest::prelude::*;

    /// Characters that trip up text handling (NUL, bidi controls, combining marks,
    /// ligatures, multi-byte letters, separators), mixed with plain ones.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\u{0}', '\u{202e}', '\u{2066}', 'é', 'ﬀ', '\u{301}', '.', '*', '-', '@', ':',
                '/', '%', ' ', '\n', '\r', '\t', '"', ',', '=', '\'', '<', '>', ';', '#', '?',
                '&', '+', '[', ']', '\\', '\u{feff}', '\u{200b}', '\u{85}', '\u{a0}', 'İ', 'ß',
                '€', '\u{1f600}',
            ]),
            1 => any::<char>(),
            3 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
        ]
    }

    /// Arbitrary text: anything at all, hostile characters, name-like text, and long
    /// strings (up to a few thousand characters).
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(hostile_char(), 0..80)
                .prop_map(|v| v.into_iter().collect::<String>()),
            "[a-z0-9.*-]{0,40}",
            ".{0,3000}",
        ]
    }

    const URL_PIECES: &[&str] = &[
        "https://",
        "http://",
        "HTTPS://",
        "javascript:",
        "data:",
        "tel:",
        "ftp://",
        "//",
        "/",
        "?",
        "#",
        "@",
        ":",
        ":8443",
        "shop.example",
        "%2e",
        "%00",
        "%zz",
        "é",
        "\u{202e}",
        " ",
        "[::1]",
        "localhost",
        "a",
        "..",
        "\\",
        "\u{0}",
        "\n",
        "xn--",
        "bücher.example",
    ];

    fn url_like() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(
                prop_oneof![
                    3 => proptest::sample::select(URL_PIECES.to_vec()).prop_map(String::from),
                    2 => "[a-z0-9]{1,8}",
                    1 => hostile_char().prop_map(String::from),
                ],
                0..12,
            )
            .prop_map(|parts| parts.concat()),
            // Long links full of characters the parser percent-encodes.
            (
                proptest::sample::select(vec!["https://shop.example/", "http://a.example/x?q="]),
                proptest::collection::vec(
                    prop_oneof![
                        proptest::sample::select(vec![
                            'é',
                            '€',
                            '\u{1f600}',
                            ' ',
                            '"',
                            '<',
                            '%',
                            '\u{202e}'
                        ]),
                        proptest::char::range('a', 'z'),
                    ],
                    0..1200,
                ),
            )
                .prop_map(|(start, rest)| format!(
                    "{start}{}",
                    rest.into_iter().collect::<String>()
                )),
        ]
    }

    fn tel_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ ]{0,2}tel:[0-9+().\\- ]{0,30}[ ]{0,2}",
            "tel:[0-9]{0,25}",
            hostile().prop_map(|s| format!("tel:{s}")),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_is_a_web_link_or_refused_and_links_parse_back_to_themselves(
            raw in prop_oneof![hostile(), url_like()],
        ) {
            if let Ok(u) = SafeUrl::parse_web(&raw, "l") {
                let s = u.as_str();
                prop_assert!(
                    s.starts_with("https://") || s.starts_with("http://"),
                    "{:?} became {:?}",
                    raw,
                    s
                );
                let parsed = ::url::Url::parse(s);
                prop_assert!(
                    parsed
                        .as_ref()
                        .is_ok_and(|p| p.host_str().is_some_and(|h| !h.is_empty())),
                    "{:?} has no host",
                    s
                );
                // A stored link must pass the same check when the bar is saved again.
                prop_assert_eq!(
                    SafeUrl::parse_web(s, "l"),
                    Ok::<SafeUrl, Invalid>(u.clone()),
                    "{:?} became {:?} ({} bytes), which does not parse back to itself",
                    raw,
                    s,
                    s.len()
                );
            }
        }

        #[test]
        fn arbitrary_text_is_a_phone_link_or_refused_and_phone_links_parse_back_to_themselves(
            raw in prop_oneof![hostile(), tel_like()],
        ) {
            if let Ok(u) = SafeUrl::parse_tel(&raw, "l") {
                let s = u.as_str();
                let number = s.strip_prefix("tel:");
                prop_assert!(number.is_some(), "{:?} became {:?}", raw, s);
                let number = number.unwrap_or_default();
                prop_assert!(!number.contains(' '), "{:?}", s);
                prop_assert!(
                    number.chars().all(|c| c.is_ascii_digit() || "+-.()".contains(c)),
                    "{:?}",
                    s
                );
                let digits = number.chars().filter(char::is_ascii_digit).count();
                prop_assert!((3..=20).contains(&digits), "{} digits in {:?}", digits, s);
                prop_assert_eq!(SafeUrl::parse_tel(s, "l"), Ok::<SafeUrl, Invalid>(u.clone()));
            }
        }

        #[test]
        fn only_web_links_pass_as_web_links_and_only_phone_links_as_phone_links(
            raw in prop_oneof![hostile(), url_like(), tel_like()],
        ) {
            prop_assert!(
                !(SafeUrl::parse_web(&raw, "l").is_ok() && SafeUrl::parse_tel(&raw, "l").is_ok()),
                "{:?} passes as both",
                raw
            );
        }
    }
}
