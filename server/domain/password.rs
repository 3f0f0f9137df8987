use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use super::Invalid;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

pub const MIN_CHARS: usize = 10;
/// Hashing cost grows with length; nobody needs more than this.
pub(super) const MAX_BYTES: usize = 1024;

/// A new password that meets the rules. Its value never prints.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks a password a member chose. `email` is refused as a password.
    pub fn parse(raw: &str, field: &'static str, email: Option<&str>) -> Result<Self, Invalid> {
        if raw.chars().count() < MIN_CHARS {
            return Err(Invalid::new(
                field,
                format!("the password must be at least {MIN_CHARS} characters long"),
            ));
        }
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(field, "the password is too long"));
        }
        let lower = raw.to_lowercase();
        if COMMON.contains(lower.as_str()) {
            return Err(Invalid::new(
                field,
                "that password is on a list of commonly used passwords; choose another",
            ));
        }
        if email.is_some_and(|e| e.eq_ignore_ascii_case(raw.trim())) {
            return Err(Invalid::new(
                field,
                "the password must not be your email address",
            ));
        }
        if raw.chars().all(|c| raw.starts_with(c)) {
            return Err(Invalid::new(
                field,
                "the password must not repeat one character",
            ));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_and_common_list() {
        assert!(Password::parse("short", "password", None).is_err());
        assert!(Password::parse("1234567890", "password", None).is_err());
        assert!(Password::parse("QwertyUIOP", "password", None).is_err());
        assert!(Password::parse("aaaaaaaaaaaa", "password", None).is_err());
        assert!(Password::parse("ada@example.com", "password", Some("ada@example.com")).is_err());
        assert!(Password::parse("correct horse battery", "password", None).is_ok());
    }

    #[test]
    fn never_prints() {
        let p = Password::parse("correct horse battery", "password", None).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
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
        fn arbitrary_passwords_are_accepted_only_when_they_keep_every_rule(
            raw in prop_oneof![hostile(), "[a-zA-Z0-9 ]{8,14}", ".{1020,1030}"],
            email in proptest::option::of(prop_oneof![hostile(), Just("ada@example.com".to_string())]),
        ) {
            match Password::parse(&raw, "password", email.as_deref()) {
                Ok(p) => {
                    prop_assert_eq!(p.expose(), raw.as_str());
                    prop_assert!(raw.chars().count() >= MIN_CHARS);
                    prop_assert!(raw.len() <= MAX_BYTES);
                    prop_assert!(!COMMON.contains(raw.to_lowercase().as_str()));
                    prop_assert!(
                        !email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(raw.trim())),
                        "the email address was accepted as the password"
                    );
                    let first = raw.chars().next();
                    prop_assert!(raw.chars().any(|c| Some(c) != first), "one repeated character: {:?}", raw);
                    prop_assert_eq!(format!("{p:?}"), "Password(..)");
                }
                Err(e) => {
                    prop_assert_eq!(&*e.field, "password");
                }
            }
        }

        #[test]
        fn common_passwords_are_refused_in_any_ascii_case(
            pick in any::<proptest::sample::Index>(),
            mask in any::<u64>(),
        ) {
            let common: Vec<&str> = {
                let mut v: Vec<&str> = COMMON
                    .iter()
                    .copied()
                    .filter(|p| p.chars().count() >= MIN_CHARS && *p == p.to_lowercase())
                    .collect();
                v.sort_unstable();
                v
            };
            if common.is_empty() {
                return Ok(());
            }
            let chosen = common[pick.index(common.len())];
            let raw: String = chosen
                .chars()
                .enumerate()
                .map(|(i, c)| if (mask >> (i % 64)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            prop_assert!(Password::parse(&raw, "password", None).is_err(), "{:?} was accepted", raw);
        }

        #[test]
        fn the_members_own_address_is_refused_whatever_its_case_and_spacing(
            email in "[a-z]{5,20}@[a-z]{3,10}\\.com",
            mask in any::<u64>(),
            pad in "[ \t]{0,3}",
        ) {
            let flipped: String = email
                .chars()
                .enumerate()
                .map(|(i, c)| if (mask >> (i % 64)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            let raw = format!("{pad}{flipped}{pad}");
            prop_assert!(Password::parse(&raw, "password", Some(&email)).is_err(), "{:?} was accepted", raw);
        }
    }
}
