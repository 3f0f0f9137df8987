//! Outgoing HTTP to URLs that members give (lead webhooks, and any later call to an
//! address a member chose). Such a URL must not reach barkeep's own machine or network:
//! loopback, private, link-local, shared and reserved ranges, multicast, and IPv6
//! spellings that embed one of those (IPv4-mapped, NAT64, 6to4) are refused.
//!
//! The check is made where the connection is made. URLs are checked for literal
//! addresses before anything is sent (a literal address is never looked up), and host
//! names are resolved by [`Egress`]'s own resolver, which drops refused addresses and
//! fails when none remain. The client connects only to what that resolver answered, so
//! a name cannot answer a public address to a check and a private one to the connection
//! that follows. Redirects are never followed and no proxy is used.
//!
//! With private addresses allowed (`BARKEEP_LEAD_WEBHOOK_PRIVATE=allow`) the same code
//! runs with the address filter off.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use url::{Host, Url};

/// A request to a member's URL gives up after this long, unless the caller sets its own.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long the look-up made when a URL is saved may take.
const CHECK_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait before trying a member's URL again after `failures` failed posts:
/// 5 s, then each wait twice the last, at most an hour (lead webhooks, list forwards and
/// REST hooks alike).
pub fn retry_wait(failures: i32) -> chrono::Duration {
    let shift = failures.clamp(1, 20) - 1;
    chrono::Duration::seconds((5_i64 << shift).min(3600))
}

/// True for addresses barkeep never connects to on a member's behalf.
pub fn refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    match a {
        // "this network" (0.0.0.0 reaches the local machine), private, loopback
        0 | 10 | 127 => true,
        // shared address space (carrier-grade NAT)
        100 => (64..128).contains(&b),
        // link-local (cloud metadata services live here)
        169 => b == 254,
        172 => (16..32).contains(&b),
        // IETF protocol assignments, documentation (TEST-NET-1), private
        192 => (b == 0 && (c == 0 || c == 2)) || b == 168,
        // benchmarking, documentation (TEST-NET-2)
        198 => b == 18 || b == 19 || (b == 51 && c == 100),
        // documentation (TEST-NET-3)
        203 => b == 0 && c == 113,
        // multicast (224/4), reserved (240/4) and the broadcast address
        224.. => true,
        _ => false,
    }
}

fn refused_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // unspecified, loopback and the deprecated IPv4-compatible addresses
        [0, 0, 0, 0, 0, 0, _, _] => true,
        // IPv4-mapped: the IPv4 address it stands for decides
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => refused_v4(embedded(hi, lo)),
        // NAT64 (well-known prefix): the IPv4 address it is translated to decides
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => refused_v4(embedded(hi, lo)),
        // NAT64 for local use
        [0x64, 0xff9b, 1, ..] => true,
        // discard-only
        [0x100, 0, 0, 0, ..] => true,
        // documentation
        [0x2001, 0xdb8, ..] => true,
        // 6to4: the IPv4 address of the tunnel's end decides
        [0x2002, hi, lo, ..] => refused_v4(embedded(hi, lo)),
        // unique local (fc00::/7), link-local (fe80::/10), site-local (fec0::/10),
        // multicast (ff00::/8)
        [first, ..] => {
            first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
                || first & 0xffc0 == 0xfec0
                || first >> 8 == 0xff
        }
    }
}

/// Why a URL is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a URL")]
    Unparsable,
    #[error("not an http:// or https:// URL")]
    Scheme,
    #[error("a user name or password in the URL")]
    Credentials,
    /// A literal refused address, a `localhost` name, or (when checked by look-up) a
    /// name that resolves only to refused addresses.
    #[error("a loopback, private or reserved address")]
    Private,
}

/// Why a look-up made by [`Egress`] gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("the host does not resolve: {0}")]
    NotFound(io::Error),
    #[error("the host resolves only to loopback, private or reserved addresses")]
    Refused,
}

/// Turns a host name into addresses. Production asks the system
/// ([`Resolver::system`]); tests may answer what they like.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (getaddrinfo, through tokio).
struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The look-up behind every outgoing call: the system's unless another is given.
#[derive(Clone)]
pub struct Resolver(Arc<dyn Lookup>);

impl Resolver {
    pub fn system() -> Resolver {
        Resolver(Arc::new(SystemLookup))
    }

    pub fn new(lookup: impl Lookup + 'static) -> Resolver {
        Resolver(Arc::new(lookup))
    }

    /// The addresses of `host` that may be connected to (all of them when private
    /// addresses are allowed); an error when there are none.
    async fn allowed(&self, host: &str, allow_private: bool) -> Result<Vec<IpAddr>, LookupError> {
        let host = host.trim_end_matches('.');
        if !allow_private && localhost(host) {
            return Err(LookupError::Refused);
        }
        let found = self
            .0
            .lookup(host.to_string())
            .await
            .map_err(LookupError::NotFound)?;
        if found.is_empty() {
            return Err(LookupError::NotFound(io::Error::new(
                io::ErrorKind::NotFound,
                "no address",
            )));
        }
        let allowed: Vec<IpAddr> = found
            .into_iter()
            .filter(|ip| allow_private || !refused(*ip))
            .collect();
        if allowed.is_empty() {
            return Err(LookupError::Refused);
        }
        Ok(allowed)
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::system()
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// reqwest's resolver for the egress client: every name it connects to goes through
/// [`Resolver::allowed`].
struct Filtering {
    resolver: Resolver,
    allow_private: bool,
}

impl reqwest::dns::Resolve for Filtering {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.resolver.clone();
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let allowed = resolver.allowed(&host, allow_private).await?;
            // Port 0: reqwest puts in the URL's port (or the scheme's).
            let addrs: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

fn localhost(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    domain.eq_ignore_ascii_case("localhost")
        || domain
            .len()
            .checked_sub(".localhost".len())
            .and_then(|at| domain.get(at..))
            .is_some_and(|end| end.eq_ignore_ascii_case(".localhost"))
}

/// How a request that was sent went wrong, for the member to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host resolves only to refused addresses.
    Refused,
    /// The host does not resolve.
    NoAddress,
    Timeout,
    Connect,
    Other(String),
}

/// Outgoing HTTP to member-given URLs, checked as the module describes.
#[derive(Clone)]
pub struct Egress {
    client: reqwest::Client,
    resolver: Resolver,
    allow_private: bool,
}

impl Egress {
    /// `allow_private` turns the address filter off (tests, intranets).
    pub fn new(resolver: Resolver, allow_private: bool) -> anyhow::Result<Egress> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would be resolved instead of the member's host.
            .no_proxy()
            .dns_resolver(Filtering {
                resolver: resolver.clone(),
                allow_private,
            })
            .user_agent(concat!("barkeep/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Egress {
            client,
            resolver,
            allow_private,
        })
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Parses `raw` and checks what can be checked without a look-up: http(s), a host,
    /// no user name or password, and no literal refused address or `localhost` name.
    pub fn check(&self, raw: &str) -> Result<Url, Refusal> {
        let url = Url::parse(raw.trim()).map_err(|_| Refusal::Unparsable)?;
        self.check_url(&url)?;
        Ok(url)
    }

    fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Refusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let private = match url.host() {
            None => return Err(Refusal::Scheme),
            Some(Host::Ipv4(ip)) => refused(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => refused(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => localhost(name),
        };
        if private && !self.allow_private {
            return Err(Refusal::Private);
        }
        Ok(())
    }

    /// Looks the URL's host up now, through the same filter as a request: a name that
    /// resolves only to refused addresses is refused. One that does not resolve (yet)
    /// passes; the request will say so. Meant for when a member saves a URL.
    pub async fn check_resolving(&self, url: &Url) -> Result<(), Refusal> {
        self.check_url(url)?;
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        if self.allow_private {
            return Ok(());
        }
        let lookup = self.resolver.allowed(name, false);
        match tokio::time::timeout(CHECK_LOOKUP_TIMEOUT, lookup).await {
            Ok(Err(LookupError::Refused)) => Err(Refusal::Private),
            _ => Ok(()),
        }
    }

    /// A POST to `url`, checked first; send it with `.send()`.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, Refusal> {
        self.request(reqwest::Method::POST, url)
    }

    /// A request to `url`, checked first; send it with `.send()`.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, Refusal> {
        let url = self.check(url)?;
        Ok(self.client.request(method, url))
    }

    /// What went wrong with a request this client sent.
    pub fn failure(e: &reqwest::Error) -> Failure {
        let mut source: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(s) = source {
            match s.downcast_ref::<LookupError>() {
                Some(LookupError::Refused) => return Failure::Refused,
                Some(LookupError::NotFound(_)) => return Failure::NoAddress,
                None => source = s.source(),
            }
        }
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Other(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_refused_range_is_refused_at_both_ends() {
        for (first, last) in [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.254"),
            ("255.255.255.255", "255.255.255.255"),
            ("::", "::ffff:ffff"),
            ("::1", "::1"),
            ("::ffff:127.0.0.1", "::ffff:10.0.0.1"),
            ("::ffff:0.0.0.0", "::ffff:169.254.169.254"),
            ("64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe"),
            ("64:ff9b::c0a8:1", "64:ff9b::e000:1"),
            ("64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"),
            ("100::", "100::ffff:ffff:ffff:ffff"),
            ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
            ("2002:7f00:1::", "2002:a00:1::1"),
            ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ("fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ("ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ] {
            assert!(refused(ip(first)), "{first}");
            assert!(refused(ip(last)), "{last}");
        }
    }

    #[test]
    fn public_addresses_and_the_neighbours_of_refused_ranges_pass() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:80b::200e",
            "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe00::",
            "fe7f::1",
        ] {
            assert!(!refused(ip(a)), "{a}");
        }
    }

    /// An egress client (the application picks rustls' crypto as it starts; so do tests).
    fn new_egress(resolver: Resolver, allow_private: bool) -> anyhow::Result<Egress> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Egress::new(resolver, allow_private)
    }

    fn egress(allow_private: bool) -> Egress {
        new_egress(Resolver::system(), allow_private).unwrap()
    }

    #[test]
    fn the_url_crate_turns_every_spelling_of_loopback_into_one_address() {
        for spelling in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.0.0.1./",
        ] {
            let url = Url::parse(spelling).unwrap();
            assert_eq!(
                url.host(),
                Some(Host::Ipv4(Ipv4Addr::LOCALHOST)),
                "{spelling}"
            );
        }
        let url = Url::parse("http://[::ffff:127.0.0.1]/").unwrap();
        assert_eq!(
            url.host(),
            Some(Host::Ipv6("::ffff:7f00:1".parse().unwrap()))
        );
    }

    #[test]
    fn urls_to_loopback_private_names_and_odd_schemes_are_refused() {
        let strict = egress(false);
        for url in [
            "http://localhost/",
            "http://LOCALHOST:8080/hooks",
            "http://localhost./",
            "http://%6c%6fcalhost/",
            "http://api.localhost/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::127.0.0.1]/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::1]/",
            "http://[::]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[fec0::1]/",
            "http://[fd00::1]/",
            "http://100.100.100.200/",
            "http://192.0.0.170/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://224.0.0.251/",
            "http://[ff02::1]/",
            "http://[2002:7f00:1::]/",
        ] {
            assert_eq!(strict.check(url).err(), Some(Refusal::Private), "{url}");
        }
        assert_eq!(
            strict.check("ftp://hooks.example/").err(),
            Some(Refusal::Scheme)
        );
        assert_eq!(
            strict.check("file:///etc/passwd").err(),
            Some(Refusal::Scheme)
        );
        assert_eq!(strict.check("hooks").err(), Some(Refusal::Unparsable));
        for url in [
            "https://user@hooks.example/",
            "https://user:pw@hooks.example/",
            "https://:pw@hooks.example/",
            "http://hooks.example@127.0.0.1/",
        ] {
            assert_eq!(strict.check(url).err(), Some(Refusal::Credentials), "{url}");
        }
        assert!(strict.check("https://hooks.example/leads?x=1").is_ok());
        assert!(strict.check("http://93.184.216.34:8080/").is_ok());
        assert!(strict.check("https://localhost.example/").is_ok());
        assert!(strict.post("http://127.1/").is_err());

        let open = egress(true);
        assert!(open.check("http://127.0.0.1:9/hooks").is_ok());
        assert!(open.check("http://localhost/").is_ok());
        assert_eq!(
            open.check("http://u:p@127.0.0.1/").err(),
            Some(Refusal::Credentials)
        );
    }

    /// Answers from a list, one per look-up (the last answer repeats), and counts them.
    struct Script {
        answers: Mutex<Vec<Vec<IpAddr>>>,
        asked: Arc<Mutex<u32>>,
    }

    impl Lookup for Script {
        fn lookup(&self, _: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
            *self.asked.lock().unwrap() += 1;
            let mut answers = self.answers.lock().unwrap();
            let next = if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers[0].clone()
            };
            Box::pin(async move { Ok(next) })
        }
    }

    fn script(answers: Vec<Vec<&str>>) -> (Resolver, Arc<Mutex<u32>>) {
        let asked = Arc::new(Mutex::new(0));
        let answers = answers
            .into_iter()
            .map(|a| a.into_iter().map(ip).collect())
            .collect();
        (
            Resolver::new(Script {
                answers: Mutex::new(answers),
                asked: asked.clone(),
            }),
            asked,
        )
    }

    #[tokio::test]
    async fn the_filter_drops_refused_answers_and_fails_when_none_remain() {
        let (r, _) = script(vec![vec!["127.0.0.1", "93.184.216.34", "::1"]]);
        assert_eq!(
            r.allowed("mixed.example", false).await.unwrap(),
            vec![ip("93.184.216.34")]
        );
        let (r, _) = script(vec![vec!["127.0.0.1", "10.0.0.1", "::ffff:192.168.0.1"]]);
        assert!(matches!(
            r.allowed("inside.example", false).await,
            Err(LookupError::Refused)
        ));
        assert_eq!(
            r.allowed("inside.example", true).await.unwrap().len(),
            3,
            "allowed: the filter is off"
        );
        let (r, _) = script(vec![vec![]]);
        assert!(matches!(
            r.allowed("nothing.example", false).await,
            Err(LookupError::NotFound(_))
        ));
        // localhost is refused without asking anyone
        let (r, asked) = script(vec![vec!["93.184.216.34"]]);
        assert!(matches!(
            r.allowed("a.localhost.", false).await,
            Err(LookupError::Refused)
        ));
        assert_eq!(*asked.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_name_that_turns_to_loopback_after_the_check_is_never_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        // Public when saved, loopback from then on.
        let (r, asked) = script(vec![vec!["93.184.216.34"], vec!["127.0.0.1"]]);
        let egress = new_egress(r, false).unwrap();
        let url = egress
            .check(&format!("http://rebind.example:{port}/hook"))
            .unwrap();
        egress.check_resolving(&url).await.unwrap();
        let err = egress
            .post(url.as_str())
            .unwrap()
            .body("{}")
            .send()
            .await
            .unwrap_err();
        assert_eq!(Egress::failure(&err), Failure::Refused, "{err:?}");
        assert_eq!(*asked.lock().unwrap(), 2);
        assert!(!accepted.is_finished(), "nothing connected to the listener");
        accepted.abort();
    }

    #[tokio::test]
    async fn saving_a_name_that_resolves_only_to_private_addresses_is_refused() {
        let (r, _) = script(vec![vec!["10.1.2.3", "fd00::1"]]);
        let egress = new_egress(r, false).unwrap();
        let url = egress.check("https://intranet.example/hook").unwrap();
        assert_eq!(egress.check_resolving(&url).await, Err(Refusal::Private));
        // A name that does not resolve yet may be saved.
        let egress = new_egress(Resolver::new(Failing), false).unwrap();
        assert_eq!(egress.check_resolving(&url).await, Ok(()));
        let err = egress.post(url.as_str()).unwrap().send().await.unwrap_err();
        assert_eq!(Egress::failure(&err), Failure::NoAddress, "{err:?}");
    }

    struct Failing;

    impl Lookup for Failing {
        fn lookup(&self, _: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
            Box::pin(async { Err(io::Error::new(io::ErrorKind::NotFound, "no such host")) })
        }
    }

    // ---- a reference, written another way: CIDR text and bit masks ----

    const V4_REFUSED: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ];
    const V6_REFUSED: &[&str] = &[
        "::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ];
    /// Prefixes whose last 32 bits (or, for 6to4, bits 16 to 48) are an IPv4 address.
    const V6_EMBEDDING: &[(&str, u32)] =
        &[("::ffff:0:0/96", 0), ("64:ff9b::/96", 0), ("2002::/16", 80)];

    fn cidr(text: &str) -> (u128, u32) {
        let (addr, len) = text.split_once('/').unwrap();
        let len: u32 = len.parse().unwrap();
        match addr.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), len),
            IpAddr::V6(a) => (u128::from(a), len),
        }
    }

    fn within(value: u128, bits: u32, net: (u128, u32)) -> bool {
        let (base, len) = net;
        if len == 0 {
            return true;
        }
        let shift = bits - len;
        value >> shift == base >> shift
    }

    fn reference(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => V4_REFUSED
                .iter()
                .any(|n| within(u128::from(u32::from(a)), 32, cidr(n))),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                if V6_REFUSED.iter().any(|n| within(v, 128, cidr(n))) {
                    return true;
                }
                V6_EMBEDDING.iter().any(|(n, shift)| {
                    within(v, 128, cidr(n)) && {
                        let v4 = ((v >> shift) & 0xffff_ffff) as u32;
                        reference(IpAddr::V4(Ipv4Addr::from(v4)))
                    }
                })
            }
        }
    }

    /// Addresses near every interesting prefix, as well as anywhere.
    fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
        let prefixes: Vec<(u128, u32)> = V6_REFUSED
            .iter()
            .map(|n| cidr(n))
            .chain(V6_EMBEDDING.iter().map(|(n, _)| cidr(n)))
            .collect();
        prop_oneof![
            any::<u128>().prop_map(Ipv6Addr::from),
            (
                proptest::sample::select(prefixes),
                any::<u128>(),
                any::<u32>()
            )
                .prop_map(|((base, len), low, v4)| {
                    let host_mask = u128::MAX >> len;
                    // Often the embedded IPv4 address (at either place) is a loopback one.
                    let loopback = 0x7f00_0001_u128;
                    let low = match v4 % 3 {
                        0 => (low & !0xffff_ffff) | loopback,
                        1 => (low & !(0xffff_ffff << 80)) | (loopback << 80),
                        _ => low,
                    };
                    Ipv6Addr::from((base & !host_mask) | (low & host_mask))
                }),
        ]
    }

    proptest! {
        #[test]
        fn refused_v4_agrees_with_the_reference(a in any::<u32>()) {
            let ip = IpAddr::V4(Ipv4Addr::from(a));
            prop_assert_eq!(refused(ip), reference(ip), "{}", ip);
        }

        #[test]
        fn refused_v6_agrees_with_the_reference(a in any_v6()) {
            let ip = IpAddr::V6(a);
            prop_assert_eq!(refused(ip), reference(ip), "{}", ip);
        }

        #[test]
        fn a_v4_address_and_its_mapped_and_nat64_forms_agree(a in any::<u32>()) {
            let v4 = Ipv4Addr::from(a);
            let nat64 = Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(a));
            prop_assert_eq!(refused(IpAddr::V4(v4)), refused(IpAddr::V6(v4.to_ipv6_mapped())));
            prop_assert_eq!(refused(IpAddr::V4(v4)), refused(IpAddr::V6(nat64)));
        }
    }
}
