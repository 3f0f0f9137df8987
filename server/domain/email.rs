use std::fmt;

use super::Invalid;

/// A syntactically valid email address, trimmed and lower-cased so that one mailbox
/// maps to one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_lowercase();
        if v.is_empty() {
            return Err(Invalid::new("email", "an email address is required"));
        }
        if v.len() > 254 {
            return Err(Invalid::new("email", "that email address is too long"));
        }
        let address: lettre::Address = v
            .parse()
            .map_err(|_| Invalid::new("email", "that is not a valid email address"))?;
        // A domain without a dot cannot receive mail from the internet.
        if !address.domain().contains('.') {
            return Err(Invalid::new("email", "that is not a valid email address"));
        }
        Ok(Email(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn rejects_what_cannot_receive_mail() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "a b@example.com",
            "ada@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
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

    fn email_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ \t]{0,2}[A-Za-z0-9._+-]{1,20}@[A-Za-z0-9-]{1,15}(\\.[A-Za-z]{2,6}){0,2}[ \t]{0,2}",
            (hostile(), hostile()).prop_map(|(user, domain)| format!("{user}@{domain}")),
            (hostile(), "[a-z]{1,10}\\.[a-z]{2,4}")
                .prop_map(|(user, domain)| format!("{user}@{domain}")),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_is_an_address_or_refused_and_addresses_are_normalised(
            raw in prop_oneof![hostile(), email_like()],
        ) {
            let parsed = Email::parse(&raw);
            // ASCII case never decides whether text is an address, nor which one.
            prop_assert_eq!(Email::parse(&raw.to_ascii_uppercase()), parsed.clone());
            if let Ok(e) = parsed {
                let s = e.as_str();
                prop_assert!(!s.is_empty() && s.len() <= 254, "bad length: {:?}", s);
                prop_assert_eq!(s, s.trim());
                prop_assert_eq!(s.to_lowercase(), s);
                let (user, domain) = s.rsplit_once('@').expect("an address has an @");
                prop_assert!(!user.is_empty(), "no mailbox in {:?}", s);
                prop_assert!(domain.contains('.'), "a domain without a dot: {:?}", s);
                prop_assert_eq!(Email::parse(s), Ok::<Email, Invalid>(e.clone()));
            }
        }

        #[test]
        fn plain_addresses_are_accepted_trimmed_and_lower_cased(
            user in "[a-zA-Z0-9]{1,20}(\\.[a-zA-Z0-9]{1,10})?",
            domain in "[a-zA-Z][a-zA-Z0-9]{0,14}\\.[a-zA-Z]{2,6}",
            before in "[ \t]{0,3}",
            after in "[ \t\n]{0,3}",
        ) {
            let raw = format!("{before}{user}@{domain}{after}");
            let e = Email::parse(&raw);
            prop_assert!(e.is_ok(), "{:?} was refused: {:?}", raw, e);
            let email = e.unwrap();
            prop_assert_eq!(email.as_str(), format!("{user}@{domain}").to_lowercase());
        }
    }
}
