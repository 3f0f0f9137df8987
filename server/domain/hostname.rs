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
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_string(),
            Some(url::Host::Ipv4(ip)) if !wildcard => ip.to_string(),
            Some(url::Host::Ipv6(ip)) if !wildcard => format!("[{ip}]"),
            _ => return Err(bad("is not a hostname")),
        };
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
}
