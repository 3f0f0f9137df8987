use std::fmt;

use super::Invalid;

/// A site hostname as browsers report `location.hostname`: lower case, no scheme, port
/// or path, internationalised names in their ASCII (punycode) form. `*.example.com`
/// stands for example.com and every name below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let bad = |why: &str| Invalid::new(field, format!("`{raw}` {why}"));
        if v.is_empty() {
            return Err(bad("is empty"));
        }
        // Accept what people paste: a URL with scheme, port and path is cut down to its host.
        let without_scheme = v.split_once("://").map_or(v, |(_, rest)| rest);
        let (wildcard, host) = match without_scheme.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, without_scheme),
        };
        if host.contains('*') {
            return Err(bad(
                "may use `*` only as a whole first label, as in *.example.com",
            ));
        }
        let url =
            url::Url::parse(&format!("http://{host}")).map_err(|_| bad("is not a hostname"))?;
        let name = match url.host() {
            // One final dot is the root (`example.com.`); more leave an empty label,
            // refused below (`0..` is not `0`, which would read back as 0.0.0.0).
            Some(url::Host::Domain(d)) => d.strip_suffix('.').unwrap_or(d).to_string(),
            Some(url::Host::Ipv4(ip)) if !wildcard => ip.to_string(),
            Some(url::Host::Ipv6(ip)) if !wildcard => format!("[{ip}]"),
            _ => return Err(bad("is not a hostname")),
        };
        // The name as decoded: `%2a` or a full-width asterisk become `*` only here, and a
        // wildcard is only ever the `*.` written in front.
        if name.contains('*') {
            return Err(bad(
                "may use `*` only as a whole first label, as in *.example.com",
            ));
        }
        if name.is_empty()
            || name.len() > 253
            || name.split('.').any(|l| l.is_empty() || l.len() > 63)
        {
            return Err(bad("is not a hostname"));
        }
        if wildcard && !name.contains('.') {
            return Err(bad(
                "is too broad: a wildcard needs a domain such as *.example.com",
            ));
        }
        Ok(Hostname(if wildcard { format!("*.{name}") } else { name }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a page on `host` (as the browser reports it) belongs to this entry: the
    /// same name, or for a wildcard the domain or any name below it, compared as ASCII
    /// without regard to case. `host` comes from visitors and may be anything; it is
    /// compared byte by byte, so no character of it can split a comparison.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.as_bytes();
        match self.0.strip_prefix("*.") {
            Some(domain) => {
                let domain = domain.as_bytes();
                match host.len().checked_sub(domain.len()) {
                    Some(0) => host.eq_ignore_ascii_case(domain),
                    Some(cut) => host[cut - 1] == b'.' && host[cut..].eq_ignore_ascii_case(domain),
                    None => false,
                }
            }
            None => host.eq_ignore_ascii_case(self.0.as_bytes()),
        }
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> String {
        Hostname::parse(s, "hostnames").unwrap().to_string()
    }

    #[test]
    fn normalises_what_people_paste() {
        assert_eq!(h("Shop.Example.COM"), "shop.example.com");
        assert_eq!(
            h("https://shop.example.com:8443/path?q=1"),
            "shop.example.com"
        );
        assert_eq!(h("*.Example.org"), "*.example.org");
        assert_eq!(h("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(h("localhost"), "localhost");
        assert_eq!(h("127.0.0.1"), "127.0.0.1");
        assert_eq!(h("example.com."), "example.com");
    }

    #[test]
    fn refuses_what_is_not_a_hostname() {
        for bad in [
            "",
            " ",
            "*.com",
            "*",
            "a*.example.com",
            "exa mple.com",
            "http://",
            "*.127.0.0.1",
            "foo..bar",
            // A `*` that only appears once decoded: never a wildcard.
            "%2a.com",
            "%2A.example.com",
            "a%2a.b.c",
            "＊.example.com",
        ] {
            assert!(Hostname::parse(bad, "hostnames").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_cover_the_domain_and_everything_below() {
        let w = Hostname::parse("*.example.org", "h").unwrap();
        assert!(w.matches("example.org"));
        assert!(w.matches("a.example.org"));
        assert!(w.matches("a.b.EXAMPLE.org"));
        assert!(!w.matches("badexample.org"));
        assert!(!w.matches("example.org.evil.com"));
        let exact = Hostname::parse("shop.example", "h").unwrap();
        assert!(exact.matches("shop.example"));
        assert!(!exact.matches("www.shop.example"));
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

    /// Pieces of what people paste as a hostname: URL parts, percent escapes, wildcards,
    /// IP forms and internationalised names.
    const PIECES: &[&str] = &[
        "https://",
        "http://",
        "*.",
        "*",
        ".",
        "..",
        "%2a",
        "%2A",
        "%2e",
        "%41",
        "%00",
        "%20",
        ":8443",
        ":",
        "/path",
        "?q=1",
        "#f",
        "@",
        "user:pw@",
        "[",
        "]",
        "::1",
        "127.0.0.1",
        "0x7f",
        "xn--",
        "xn--bcher-kva",
        "bücher",
        "ＥＸＡＭＰＬＥ",
        "ß",
        "\u{202e}",
        "\u{200b}",
        "\u{ad}",
        " ",
        "\t",
        "-",
        "_",
        "com",
        "example",
        "shop",
        "EXAMPLE",
        "\u{ff0a}",
        "\u{fe61}",
        "\u{3002}",
    ];

    fn hostname_like() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(
                prop_oneof![
                    3 => proptest::sample::select(PIECES.to_vec()).prop_map(String::from),
                    2 => "[a-z0-9-]{1,12}",
                    1 => hostile_char().prop_map(String::from),
                ],
                0..12,
            )
            .prop_map(|parts| parts.concat()),
            "[a-z]{1,70}(\\.[a-z]{1,70}){0,5}",
            // Wildcards, literal or percent-encoded, in and around the first label.
            "(\\*\\.|%2[aA]\\.|\u{ff0a}\\.|[a-z]{0,3}(\\*|%2[aA]|\u{ff0a})[a-z]{0,3}[.\u{3002}])?([a-z0-9-]{1,8}\\.){0,2}[a-z]{1,8}",
        ]
    }

    /// The rules a stored entry keeps: a lower-case ASCII name of 1 to 253 bytes in
    /// labels of 1 to 63, `*` only as a whole first label, a wildcard only over a domain.
    fn keeps_the_rules(h: &Hostname) -> Result<(), TestCaseError> {
        let s = h.as_str();
        let (wildcard, name) = match s.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, s),
        };
        prop_assert!(s.is_ascii(), "not ASCII: {:?}", s);
        prop_assert!(
            !s.bytes()
                .any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace() || b.is_ascii_control()),
            "upper case, space or a control character in {:?}",
            s
        );
        prop_assert!(!name.is_empty() && name.len() <= 253, "bad length: {:?}", s);
        prop_assert!(
            !name.contains('*'),
            "`*` may only be a whole first label: {:?}",
            s
        );
        prop_assert!(
            name.split('.').all(|l| !l.is_empty() && l.len() <= 63),
            "an empty or overlong label in {:?}",
            s
        );
        if wildcard {
            prop_assert!(name.contains('.'), "a wildcard over a bare name: {:?}", s);
        }
        Ok(())
    }

    /// Entries as members list them (each valid).
    const ENTRIES: &[&str] = &[
        "shop.example",
        "*.shop.example",
        "a.b.c",
        "*.a.b.c",
        "localhost",
        "*.example.co.uk",
        "xn--bcher-kva.example",
        "*.xn--bcher-kva.example",
        "127.0.0.1",
        "[::1]",
    ];

    /// Labels to build hosts from: those of the entries, near misses and empty ones.
    const LABELS: &[&str] = &[
        "shop",
        "example",
        "a",
        "b",
        "c",
        "co",
        "uk",
        "localhost",
        "xn--bcher-kva",
        "127",
        "0",
        "1",
        "[::1]",
        "evil",
        "www",
        "*",
        "",
        "SHOP",
        "Example",
        "badexample",
        "é",
        "€",
    ];

    /// The rule, written plainly: compare label by label (ASCII case aside). An entry
    /// matches the same labels; a wildcard `*.d` also matches any host whose last labels
    /// are those of `d`.
    fn reference_matches(entry: &str, host: &str) -> bool {
        let (wildcard, name) = match entry.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, entry),
        };
        let want: Vec<&str> = name.split('.').collect();
        let got: Vec<&str> = host.split('.').collect();
        let same = |a: &[&str], b: &[&str]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
        };
        if same(&got, &want) {
            return true;
        }
        wildcard && got.len() > want.len() && same(&got[got.len() - want.len()..], &want)
    }

    /// `s` with the ASCII letters whose position's bit is set in `mask` upper-cased.
    fn flip_case(s: &str, mask: u64) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if (mask >> (i % 64)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(LABELS.to_vec()).prop_map(String::from),
            2 => "[a-zA-Z0-9-]{0,10}",
            1 => proptest::collection::vec(hostile_char(), 0..8)
                .prop_map(|v| v.into_iter().collect::<String>()),
        ]
    }

    #[test]
    fn one_final_dot_is_the_root_and_more_are_refused() {
        let parse = |raw| Hostname::parse(raw, "h").map(|h| h.as_str().to_string());
        assert_eq!(parse("example.com.").unwrap(), "example.com");
        assert_eq!(parse("0.").unwrap(), "0.0.0.0");
        // Once read as `0`, which parses again as 0.0.0.0: a name that changed.
        assert!(parse("0..:8443").is_err());
        assert!(parse("example.com..").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_parses_to_a_name_that_keeps_the_rules_and_parses_back_to_itself(
            raw in prop_oneof![hostile(), hostname_like()],
        ) {
            if let Ok(h) = Hostname::parse(&raw, "h") {
                keeps_the_rules(&h)?;
                prop_assert_eq!(
                    Hostname::parse(h.as_str(), "h"),
                    Ok::<Hostname, Invalid>(h.clone()),
                    "{:?} parsed to {:?}, which does not parse back to itself",
                    raw,
                    h.as_str()
                );
                let name = h.as_str().strip_prefix("*.").unwrap_or(h.as_str());
                prop_assert!(
                    h.matches(name) && h.matches(&name.to_ascii_uppercase()),
                    "{:?} does not match its own name",
                    h.as_str()
                );
            }
        }

        #[test]
        fn arbitrary_hosts_never_panic_and_match_like_the_reference(
            entry in proptest::sample::select(ENTRIES.to_vec()),
            structured in proptest::bool::weighted(0.8),
            prefix in proptest::collection::vec(label(), 0..4),
            joiner in proptest::sample::select(vec![".", ".", ".", "", "..", "€", "é."]),
            mask in any::<u64>(),
            suffix in prop_oneof![
                6 => Just(String::new()),
                2 => proptest::sample::select(vec![".", ".evil", "x", "\u{0}", ".example", "é", "Ä"])
                    .prop_map(String::from),
                1 => hostile(),
            ],
            random in hostile(),
        ) {
            let entry = Hostname::parse(entry, "h").expect("the listed entries are valid");
            let host = if structured {
                let name = entry.as_str().strip_prefix("*.").unwrap_or(entry.as_str());
                let mut host = prefix.join(".");
                if !prefix.is_empty() {
                    host.push_str(joiner);
                }
                host.push_str(&flip_case(name, mask));
                host.push_str(&suffix);
                host
            } else {
                random
            };
            prop_assert_eq!(
                entry.matches(&host),
                reference_matches(entry.as_str(), &host),
                "entry {:?}, host {:?}",
                entry.as_str(),
                host
            );
        }

        #[test]
        fn parsed_entries_match_arbitrary_hosts_like_the_reference(
            raw in prop_oneof![hostname_like(), hostile()],
            host in prop_oneof![hostile(), hostname_like()],
        ) {
            if let Ok(entry) = Hostname::parse(&raw, "h") {
                prop_assert_eq!(
                    entry.matches(&host),
                    reference_matches(entry.as_str(), &host),
                    "entry {:?}, host {:?}",
                    entry.as_str(),
                    host
                );
            }
        }
    }
}
