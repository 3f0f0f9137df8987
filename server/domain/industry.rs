use super::Invalid;

/// The industries a member can pick; benchmarks group accounts by these.
pub const INDUSTRIES: &[(&str, &str)] = &[
    ("agency", "Agency & consulting"),
    ("ecommerce", "E-commerce & retail"),
    ("education", "Education"),
    ("finance", "Finance & insurance"),
    ("food", "Food & hospitality"),
    ("health", "Health & wellness"),
    ("media", "Media & publishing"),
    ("nonprofit", "Non-profit"),
    ("real_estate", "Real estate"),
    ("saas", "Software & SaaS"),
    ("travel", "Travel"),
    ("other", "Other"),
];

/// One of [`INDUSTRIES`], by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Industry(&'static str);

impl Industry {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_lowercase();
        INDUSTRIES
            .iter()
            .find(|(code, _)| *code == v)
            .map(|(code, _)| Industry(code))
            .ok_or_else(|| {
                let codes: Vec<&str> = INDUSTRIES.iter().map(|(c, _)| *c).collect();
                Invalid::new("industry", format!("must be one of: {}", codes.join(", ")))
            })
    }

    pub fn code(&self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        fn arbitrary_text_is_an_industry_code_or_refused(raw in hostile()) {
            match Industry::parse(&raw) {
                Ok(i) => {
                    prop_assert!(INDUSTRIES.iter().any(|(code, _)| *code == i.code()));
                    prop_assert_eq!(raw.trim().to_lowercase(), i.code());
                    prop_assert_eq!(Industry::parse(i.code()), Ok::<Industry, Invalid>(i.clone()));
                }
                Err(e) => {
                    prop_assert_eq!(&*e.field, "industry");
                }
            }
        }

        #[test]
        fn every_code_is_read_whatever_its_ascii_case_and_spacing(
            pick in any::<proptest::sample::Index>(),
            mask in any::<u64>(),
            before in "[ \t\n]{0,3}",
            after in "[ \t\n]{0,3}",
        ) {
            let (code, _) = INDUSTRIES[pick.index(INDUSTRIES.len())];
            let flipped: String = code
                .chars()
                .enumerate()
                .map(|(i, c)| if (mask >> (i % 64)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            let raw = format!("{before}{flipped}{after}");
            prop_assert_eq!(Industry::parse(&raw).map(|i| i.code()), Ok::<&str, Invalid>(code));
        }
    }
}
