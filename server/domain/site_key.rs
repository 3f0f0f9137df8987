use base64::Engine;
use rand::RngCore;

/// The public, unguessable key in a site's script URL: 144 random bits, URL-safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteKey(String);

impl SiteKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 18];
        rand::rng().fill_bytes(&mut bytes);
        SiteKey(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A key as it appears in a request path; `None` for anything that cannot be one.
    pub fn from_path(raw: &str) -> Option<Self> {
        let ok = (16..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| SiteKey(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_url_safe_and_distinct() {
        let a = SiteKey::generate();
        assert_eq!(a.as_str().len(), 24);
        assert_ne!(a, SiteKey::generate());
        assert_eq!(SiteKey::from_path(a.as_str()), Some(a));
        assert!(SiteKey::from_path("short").is_none());
        assert!(SiteKey::from_path("../../../etc/passwd/xx").is_none());
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

    proptest! {
        #[test]
        fn arbitrary_path_segments_are_keys_only_when_long_and_url_safe(raw in hostile()) {
            let url_safe = |s: &str| {
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            match SiteKey::from_path(&raw) {
                Some(k) => {
                    prop_assert_eq!(k.as_str(), raw.as_str());
                    prop_assert!((16..=64).contains(&k.as_str().len()), "length {}", raw.len());
                    prop_assert!(url_safe(k.as_str()), "{:?}", raw);
                }
                None => prop_assert!(
                    !(16..=64).contains(&raw.len()) || !url_safe(&raw),
                    "a well-formed key was refused: {:?}",
                    raw
                ),
            }
        }

        #[test]
        fn well_formed_keys_are_read_back_and_others_refused(
            good in "[A-Za-z0-9_-]{16,64}",
            short in "[A-Za-z0-9_-]{0,15}",
            long in "[A-Za-z0-9_-]{65,100}",
            bad in proptest::sample::select(vec!['/', '.', '%', '+', '=', ' ', '\u{0}', 'é', '\u{202e}']),
            at in any::<proptest::sample::Index>(),
        ) {
            prop_assert_eq!(SiteKey::from_path(&good).map(|k| k.as_str().to_string()), Some(good.clone()));
            prop_assert!(SiteKey::from_path(&short).is_none());
            prop_assert!(SiteKey::from_path(&long).is_none());
            let mut spoiled: Vec<char> = good.chars().collect();
            let i = at.index(spoiled.len());
            spoiled[i] = bad;
            let spoiled: String = spoiled.into_iter().collect();
            prop_assert!(SiteKey::from_path(&spoiled).is_none(), "{:?}", spoiled);
            let generated = SiteKey::generate();
            prop_assert_eq!(SiteKey::from_path(generated.as_str()), Some(generated.clone()));
        }
    }
}
