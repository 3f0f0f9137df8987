//! Typed configuration, read once from the environment at start-up and passed down.
//! Every variable is validated here; a bad value stops start-up with one line that
//! names the variable. Parsing reads no file: the files variables name (the plans, the
//! DKIM key, the kept secret key) are read by start-up, in [`Config::prepare`]
//! (`startup.rs`), and a file that cannot be used stops it the same way.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::billing::StripeConfig;
use crate::db::{DatabaseConfig, DatabaseKind};
use crate::domain::Secret;
use crate::leads::esp::{Esp, Provider};
use crate::mail::MailTransportConfig;
use crate::plans::{Interval, Plans, price_var};
use crate::reporting::benchmarks::BenchmarkSettings;
use crate::web::conn::Timeouts;

/// A configuration problem, always tied to the variable that caused it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Public URL without a trailing slash, e.g. `https://bars.example.com`.
    pub base_url: String,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub mail: MailTransportConfig,
    /// The sender of transactional mail (account, billing, outages, security).
    pub mail_from: String,
    /// The sender of subscription mail (news, promotions, the digest).
    pub mail_from_news: String,
    /// DKIM signing, when `BARKEEP_DKIM_KEY_FILE` is set.
    pub dkim: Option<Dkim>,
    /// Opens and clicks of email to members are recorded.
    pub mail_tracking: bool,
    /// The shared secret the email API's bounce and complaint webhook presents.
    pub mail_webhook_secret: Option<Secret<String>>,
    /// Read (or made) by [`Config::prepare`].
    pub secret_key: SecretKey,
    pub trusted_proxies: Vec<IpNet>,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Events accepted per client IP per second on the visitor endpoints.
    pub event_rate_per_ip: u32,
    /// Counters, visitor hashes and leads held in memory before new events are refused
    /// (while the database is unreachable, say).
    pub event_buffer_limit: usize,
    /// How long a client may take over its headers, its body and its silences.
    pub timeouts: Timeouts,
    /// Stripe, when `BARKEEP_STRIPE_SECRET_KEY` is set; `None` switches billing off.
    pub billing: Option<StripeConfig>,
    /// Where the plans on offer come from, and the prices the environment gives them.
    pub plans: PlansConfig,
    pub benchmarks: BenchmarkSettings,
    /// Lead webhooks may point at loopback and private addresses.
    pub lead_webhook_private: bool,
    /// `BARKEEP_ESP_<PROVIDER>_URL`: where calls to an email service provider go instead
    /// of its own host (an egress proxy, a test double).
    pub esp_urls: HashMap<Provider, String>,
    /// When set, `/metrics` answers only requests bearing this token.
    pub metrics_token: Option<Secret<String>>,
    /// `BARKEEP_GEOIP_DB`: an IP-to-country database in MaxMind's format; without one,
    /// bars cannot target countries.
    pub geoip_db: Option<PathBuf>,
}

/// Where the key that signs cookies and links (and keys stored hashes) comes from.
#[derive(Debug, Clone)]
pub enum SecretKey {
    /// `BARKEEP_SECRET_KEY`.
    Given(Secret<Vec<u8>>),
    /// A file in the data folder, made on first start by [`Config::prepare`].
    Kept(PathBuf),
}

/// DKIM signing as configured: the selector and domain to sign as, and the file holding
/// the private key, which [`Config::prepare`] reads and checks.
#[derive(Debug, Clone)]
pub struct Dkim {
    pub selector: String,
    pub domain: String,
    /// `BARKEEP_DKIM_KEY_FILE`.
    pub key_file: PathBuf,
}

/// The plans on offer as configured; [`Config::prepare`] reads the file and fills in the
/// prices.
#[derive(Debug, Clone)]
pub struct PlansConfig {
    /// `BARKEEP_PLANS_FILE`; the default plans without it.
    pub file: Option<PathBuf>,
    /// The `BARKEEP_STRIPE_PRICE_<PLAN>_<INTERVAL>` variables set, by name, for the
    /// prices the plans do not name themselves.
    pub prices: BTreeMap<String, String>,
}

/// How the variables that give plans their Stripe prices begin.
const PRICE_VAR_PREFIX: &str = "BARKEEP_STRIPE_PRICE_";

impl Config {
    /// Reads the process environment. Every price variable set is kept, so the plans
    /// of a plans file get theirs whatever their ids.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(|name| std::env::var(name).ok())?;
        let prices = std::env::vars_os().filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            let value = value.into_string().ok()?.trim().to_string();
            (name.starts_with(PRICE_VAR_PREFIX) && !value.is_empty()).then_some((name, value))
        });
        config.plans.prices.extend(prices);
        Ok(config)
    }

    /// Reads configuration through `lookup`, so tests can supply their own values. It
    /// reads no file and creates nothing: [`Config::prepare`] does, when the process
    /// starts. A lookup cannot list what is set, so of the price variables it asks for
    /// those of the default plans' ids ([`Config::from_env`] keeps every one set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let listen = parse_listen(&get)?;
        let base_url = match get("BARKEEP_BASE_URL") {
            Some(v) => parse_base_url(&v).map_err(|m| ConfigError::new("BARKEEP_BASE_URL", m))?,
            None => format!("http://{listen}"),
        };
        let data_dir = PathBuf::from(get("BARKEEP_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database = parse_database(&get, &data_dir)?;
        let mail = match get("BARKEEP_MAIL_URL") {
            Some(v) => parse_mail_url(v.trim(), &data_dir)
                .map_err(|m| ConfigError::new("BARKEEP_MAIL_URL", m))?,
            None => MailTransportConfig::Folder(data_dir.join("mail-out")),
        };
        let (mail_from, mail_from_news) = parse_senders(&get, &base_url)?;
        let secret_key = match long_secret(&get, "BARKEEP_SECRET_KEY", 32)? {
            Some(v) => SecretKey::Given(Secret::new(v.into_bytes())),
            None => SecretKey::Kept(data_dir.join("secret.key")),
        };
        let log_filter = parse_log_filter(&get)?;

        Ok(Config {
            listen,
            base_url,
            dkim: parse_dkim(&get, &mail_from)?,
            data_dir,
            database,
            mail,
            mail_from,
            mail_from_news,
            mail_tracking: either(&get, "BARKEEP_MAIL_TRACKING", ("on", true), ("off", false))?,
            mail_webhook_secret: long_secret(&get, "BARKEEP_MAIL_WEBHOOK_SECRET", 16)?
                .map(Secret::new),
            secret_key,
            trusted_proxies: get("BARKEEP_TRUSTED_PROXIES")
                .map(|v| {
                    parse_cidrs(&v).map_err(|m| ConfigError::new("BARKEEP_TRUSTED_PROXIES", m))
                })
                .transpose()?
                .unwrap_or_default(),
            log_filter,
            log_format: either(
                &get,
                "BARKEEP_LOG_FORMAT",
                ("text", LogFormat::Text),
                ("json", LogFormat::Json),
            )?,
            event_rate_per_ip: positive(&get, "BARKEEP_EVENT_RATE_PER_IP")?.unwrap_or(20),
            event_buffer_limit: positive(&get, "BARKEEP_EVENT_BUFFER_LIMIT")?.unwrap_or(1_000_000),
            timeouts: parse_timeouts(&get)?,
            billing: parse_stripe(&get)?,
            plans: parse_plans(&get),
            benchmarks: parse_benchmarks(&get)?,
            esp_urls: Esp::overrides_from(get).map_err(|(var, m)| ConfigError::new(var, m))?,
            lead_webhook_private: either(
                &get,
                "BARKEEP_LEAD_WEBHOOK_PRIVATE",
                ("deny", false),
                ("allow", true),
            )?,
            metrics_token: long_secret(&get, "BARKEEP_METRICS_TOKEN", 16)?.map(Secret::new),
            geoip_db: get("BARKEEP_GEOIP_DB")
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    /// Cookies get the `Secure` flag when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

fn parse_listen(get: &impl Fn(&str) -> Option<String>) -> Result<SocketAddr, ConfigError> {
    match get("BARKEEP_LISTEN") {
        Some(v) => v.trim().parse().map_err(|_| {
            ConfigError::new(
                "BARKEEP_LISTEN",
                format!("`{v}` is not an address such as 127.0.0.1:8080"),
            )
        }),
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
    }
}

/// `BARKEEP_DATABASE_URL`, or SQLite in the data folder.
fn parse_database(
    get: &impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<DatabaseConfig, ConfigError> {
    match get("BARKEEP_DATABASE_URL") {
        Some(v) => {
            parse_database_url(v.trim()).map_err(|m| ConfigError::new("BARKEEP_DATABASE_URL", m))
        }
        None => Ok(DatabaseConfig {
            url: Secret::new(format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("barkeep.db").display()
            )),
            kind: DatabaseKind::Sqlite,
        }),
    }
}

/// The senders of transactional and of subscription mail; the second is the first
/// unless set.
fn parse_senders(
    get: &impl Fn(&str) -> Option<String>,
    base_url: &str,
) -> Result<(String, String), ConfigError> {
    let mail_from = match get("BARKEEP_MAIL_FROM") {
        Some(v) => mailbox("BARKEEP_MAIL_FROM", v)?,
        None => format!("barkeep <barkeep@{}>", mail_domain(base_url)),
    };
    let mail_from_news = match get("BARKEEP_MAIL_FROM_NEWS") {
        Some(v) => mailbox("BARKEEP_MAIL_FROM_NEWS", v)?,
        None => mail_from.clone(),
    };
    Ok((mail_from, mail_from_news))
}

fn mailbox(var: &'static str, v: String) -> Result<String, ConfigError> {
    let v = v.trim().to_string();
    v.parse::<lettre::message::Mailbox>().map_err(|_| {
        ConfigError::new(
            var,
            format!("`{v}` is not a mailbox such as `barkeep <bars@example.com>`"),
        )
    })?;
    Ok(v)
}

/// A variable with two allowed words; the first is the default.
fn either<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    (default_word, default): (&str, T),
    (other_word, other): (&str, T),
) -> Result<T, ConfigError> {
    match get(var).as_deref().map(str::trim) {
        None => Ok(default),
        Some(w) if w == default_word => Ok(default),
        Some(w) if w == other_word => Ok(other),
        Some(w) => Err(ConfigError::new(
            var,
            format!("`{w}` is neither `{default_word}` nor `{other_word}`"),
        )),
    }
}

/// A secret of at least `min_chars` characters, trimmed, if the variable is set.
fn long_secret(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    min_chars: usize,
) -> Result<Option<String>, ConfigError> {
    match get(var) {
        Some(v) if v.trim().len() < min_chars => Err(ConfigError::new(
            var,
            format!("must be at least {min_chars} characters long"),
        )),
        Some(v) => Ok(Some(v.trim().to_string())),
        None => Ok(None),
    }
}

fn parse_log_filter(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let log_filter = get("BARKEEP_LOG").unwrap_or_else(|| "info,warp::filters::trace=off".into());
    if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
        return Err(ConfigError::new(
            "BARKEEP_LOG",
            format!("`{log_filter}` is not a log filter such as `info` or `barkeep=debug`"),
        ));
    }
    Ok(log_filter)
}

fn parse_timeouts(get: &impl Fn(&str) -> Option<String>) -> Result<Timeouts, ConfigError> {
    let defaults = Timeouts::default();
    let seconds = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        Ok(positive::<u64>(get, var)?.map_or(default, Duration::from_secs))
    };
    Ok(Timeouts {
        header_read: seconds("BARKEEP_HEADER_TIMEOUT", defaults.header_read)?,
        body_read: seconds("BARKEEP_BODY_TIMEOUT", defaults.body_read)?,
        idle: seconds("BARKEEP_IDLE_TIMEOUT", defaults.idle)?,
    })
}

/// `BARKEEP_PLANS_FILE` (read by start-up), and the prices set for the default plans.
fn parse_plans(get: &impl Fn(&str) -> Option<String>) -> PlansConfig {
    let prices = Plans::defaults()
        .all()
        .iter()
        .flat_map(|plan| Interval::ALL.map(|interval| price_var(&plan.id, interval)))
        .filter_map(|var| get(&var).map(|v| (var, v.trim().to_string())))
        .collect();
    PlansConfig {
        file: get("BARKEEP_PLANS_FILE").map(|path| PathBuf::from(path.trim())),
        prices,
    }
}

/// A whole number above zero, if the variable is set.
fn positive<N: std::str::FromStr + PartialOrd + Default>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<N>, ConfigError> {
    get(var)
        .map(|v| {
            v.trim()
                .parse::<N>()
                .ok()
                .filter(|n| *n > N::default())
                .ok_or_else(|| {
                    ConfigError::new(var, format!("`{v}` is not a positive whole number"))
                })
        })
        .transpose()
}

fn parse_benchmarks(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<BenchmarkSettings, ConfigError> {
    let mut settings = BenchmarkSettings::default();
    if let Some(v) = get("BARKEEP_BENCHMARK_MIN_ACCOUNTS") {
        settings.min_accounts = v.trim().parse::<usize>().ok().filter(|n| *n >= 5).ok_or_else(|| {
            ConfigError::new(
                "BARKEEP_BENCHMARK_MIN_ACCOUNTS",
                format!("`{v}` is not a whole number of at least 5 (fewer could single an account out)"),
            )
        })?;
    }
    if let Some(v) = get("BARKEEP_BENCHMARK_EPSILON") {
        settings.epsilon = Some(
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|e| e.is_finite() && *e > 0.0)
                .ok_or_else(|| {
                    ConfigError::new(
                        "BARKEEP_BENCHMARK_EPSILON",
                        format!(
                            "`{v}` is not a positive number (such as 1.0; smaller adds more noise)"
                        ),
                    )
                })?,
        );
    }
    if let Some(v) = get("BARKEEP_BENCHMARK_WINDOWS") {
        let windows: Option<Vec<i32>> = v
            .split(',')
            .map(|d| {
                d.trim()
                    .trim_end_matches('d')
                    .parse::<i32>()
                    .ok()
                    .filter(|d| (1..=365).contains(d))
            })
            .collect();
        settings.windows = windows.filter(|w| !w.is_empty()).ok_or_else(|| {
            ConfigError::new(
                "BARKEEP_BENCHMARK_WINDOWS",
                format!("`{v}` is not a list of day counts from 1 to 365, such as 30 or 7,30,90"),
            )
        })?;
    }
    Ok(settings)
}

fn parse_dkim(
    get: &impl Fn(&str) -> Option<String>,
    mail_from: &str,
) -> Result<Option<Dkim>, ConfigError> {
    let Some(path) = get("BARKEEP_DKIM_KEY_FILE") else {
        return Ok(None);
    };
    let selector = get("BARKEEP_DKIM_SELECTOR").ok_or_else(|| {
        ConfigError::new(
            "BARKEEP_DKIM_SELECTOR",
            "required with BARKEEP_DKIM_KEY_FILE: the selector the public key is published under",
        )
    })?;
    let domain = match get("BARKEEP_DKIM_DOMAIN") {
        Some(d) => d.trim().to_string(),
        None => mail_from
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .trim_end_matches('>')
            .to_string(),
    };
    Ok(Some(Dkim {
        selector: selector.trim().to_string(),
        domain,
        key_file: PathBuf::from(path.trim()),
    }))
}

fn parse_stripe(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<StripeConfig>, ConfigError> {
    let Some(key) = get("BARKEEP_STRIPE_SECRET_KEY") else {
        return Ok(None);
    };
    let key = key.trim().to_string();
    if !(key.starts_with("sk_") || key.starts_with("rk_")) || key.contains(char::is_whitespace) {
        return Err(ConfigError::new(
            "BARKEEP_STRIPE_SECRET_KEY",
            "a Stripe secret key starts with sk_ (or rk_ for a restricted key); the value is not shown",
        ));
    }
    let secrets: Vec<String> = get("BARKEEP_STRIPE_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(ConfigError::new(
            "BARKEEP_STRIPE_WEBHOOK_SECRET",
            "required with BARKEEP_STRIPE_SECRET_KEY: the endpoint's signing secret (whsec_…), or two separated by a comma while rotating",
        ));
    }
    if secrets.len() > 2 || secrets.iter().any(|s| !s.starts_with("whsec_")) {
        return Err(ConfigError::new(
            "BARKEEP_STRIPE_WEBHOOK_SECRET",
            "one or two signing secrets, each starting with whsec_, separated by a comma (the values are not shown)",
        ));
    }
    let api_url = match get("BARKEEP_STRIPE_API_URL") {
        Some(v) => {
            let v = v.trim();
            let parsed = url::Url::parse(v).map_err(|_| {
                ConfigError::new(
                    "BARKEEP_STRIPE_API_URL",
                    format!("`{v}` is not a URL such as http://127.0.0.1:12111"),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ConfigError::new(
                    "BARKEEP_STRIPE_API_URL",
                    format!("`{v}` must be an http:// or https:// URL"),
                ));
            }
            // The Stripe client appends `v1/…` to the base, so it must end in a slash.
            Some(format!("{}/", v.trim_end_matches('/')))
        }
        None => None,
    };
    Ok(Some(StripeConfig {
        secret_key: Secret::new(key),
        webhook_secrets: secrets.into_iter().map(Secret::new).collect(),
        api_url,
    }))
}

fn parse_base_url(raw: &str) -> Result<String, String> {
    let v = raw.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| format!("`{raw}` must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Err(format!(
            "`{raw}` must be a scheme and host (and port) only, such as https://bars.example.com"
        ));
    }
    Ok(v.to_string())
}

fn mail_domain(base_url: &str) -> String {
    let host = base_url
        .split("://")
        .nth(1)
        .unwrap_or("localhost")
        .split(':')
        .next()
        .unwrap_or("localhost");
    // An IP address makes an invalid mailbox domain; fall back to `localhost`.
    if host.parse::<std::net::IpAddr>().is_ok() || host.is_empty() {
        "localhost".into()
    } else {
        host.into()
    }
}

fn parse_database_url(v: &str) -> Result<DatabaseConfig, String> {
    if let Some(rest) = v.strip_prefix("sqlite:") {
        if rest.trim_start_matches('/').is_empty() {
            return Err("a sqlite: URL needs a file path, such as sqlite://data/barkeep.db".into());
        }
        if rest.contains(":memory:") {
            return Err("an in-memory SQLite database would lose everything on restart".into());
        }
        let url = if v.contains("mode=") {
            v.to_string()
        } else if v.contains('?') {
            format!("{v}&mode=rwc")
        } else {
            format!("{v}?mode=rwc")
        };
        return Ok(DatabaseConfig {
            url: Secret::new(url),
            kind: DatabaseKind::Sqlite,
        });
    }
    if v.starts_with("postgres://") || v.starts_with("postgresql://") {
        let host_part = v.split("://").nth(1).unwrap_or_default();
        if host_part.is_empty() {
            return Err(
                "a postgres:// URL needs a host, such as postgres://user@host/barkeep".into(),
            );
        }
        return Ok(DatabaseConfig {
            url: Secret::new(v.to_string()),
            kind: DatabaseKind::Postgres,
        });
    }
    Err(
        "must start with sqlite: or postgres:// (the value is not shown: it may hold a password)"
            .into(),
    )
}

fn parse_mail_url(v: &str, data_dir: &Path) -> Result<MailTransportConfig, String> {
    if let Some(path) = v.strip_prefix("file://") {
        let path = if path.is_empty() {
            data_dir.join("mail-out")
        } else {
            PathBuf::from(path)
        };
        return Ok(MailTransportConfig::Folder(path));
    }
    if v.starts_with("http://") || v.starts_with("https://") {
        let url = url::Url::parse(v).map_err(|_| {
            "not a usable URL (the value is not shown: it may hold a token)".to_string()
        })?;
        let token = url.username().to_string();
        if token.is_empty() || url.host_str().is_none() {
            return Err("an email API URL names its server token as the user: https://TOKEN@api.postmarkapp.com (the value is not shown)".into());
        }
        let mut base = url.clone();
        let _ = base.set_username("");
        let _ = base.set_password(None);
        return Ok(MailTransportConfig::Http {
            base: base.as_str().trim_end_matches('/').to_string(),
            token: Secret::new(token),
        });
    }
    if v.starts_with("smtp://") || v.starts_with("smtps://") {
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(v)
            .map_err(|e| format!("not a usable SMTP URL: {e}"))?;
        return Ok(MailTransportConfig::Smtp(Secret::new(v.to_string())));
    }
    Err("must be file://<folder>, smtp://user:pass@host:port, smtps://…, or https://TOKEN@host for an email API (the value is not shown: it may hold a password)".into())
}

fn parse_cidrs(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a CIDR such as 10.0.0.0/8 or an IP address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("BARKEEP_DATA_DIR".into())
            .or_insert_with(|| dir.path().display().to_string());
        let result = Config::from_lookup(|k| map.get(k).cloned());
        drop(dir);
        result
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert!(c.database.url.expose().starts_with("sqlite://"));
        assert!(matches!(c.mail, MailTransportConfig::Folder(_)));
        assert!(!c.secure_cookies());
        assert_eq!(c.mail_from, "barkeep <barkeep@localhost>");
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        for (var, value) in [
            ("BARKEEP_LISTEN", "nowhere"),
            ("BARKEEP_BASE_URL", "ftp://x"),
            ("BARKEEP_BASE_URL", "https://x.example/sub"),
            ("BARKEEP_DATABASE_URL", "mysql://root@localhost/x"),
            ("BARKEEP_MAIL_URL", "carrier-pigeon://coop"),
            ("BARKEEP_MAIL_FROM", "not a mailbox"),
            ("BARKEEP_SECRET_KEY", "short"),
            ("BARKEEP_TRUSTED_PROXIES", "10.0.0.0/8,banana"),
            ("BARKEEP_LOG_FORMAT", "xml"),
            ("BARKEEP_EVENT_RATE_PER_IP", "-3"),
            ("BARKEEP_EVENT_BUFFER_LIMIT", "lots"),
            ("BARKEEP_STRIPE_SECRET_KEY", "pk_live_oops"),
            ("BARKEEP_MAIL_FROM_NEWS", "news at example"),
            ("BARKEEP_MAIL_TRACKING", "sometimes"),
            ("BARKEEP_MAIL_WEBHOOK_SECRET", "short"),
            ("BARKEEP_MAIL_URL", "https://api.postmarkapp.com"),
            ("BARKEEP_BENCHMARK_MIN_ACCOUNTS", "3"),
            ("BARKEEP_BENCHMARK_EPSILON", "-1"),
            ("BARKEEP_BENCHMARK_WINDOWS", "30,forever"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(err.to_string().starts_with(var));
        }
    }

    #[test]
    fn database_passwords_never_reach_messages() {
        let err = config(&[("BARKEEP_DATABASE_URL", "mysql://u:hunter2@h/x")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let c = config(&[("BARKEEP_DATABASE_URL", "postgres://u:hunter2@h/x")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn billing_is_off_without_a_stripe_key_and_checked_with_one() {
        assert!(config(&[]).unwrap().billing.is_none());
        let key = ("BARKEEP_STRIPE_SECRET_KEY", "sk_test_123");
        let err = config(&[key]).unwrap_err();
        assert_eq!(err.var, "BARKEEP_STRIPE_WEBHOOK_SECRET");
        let err = config(&[
            key,
            ("BARKEEP_STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b,whsec_c"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "BARKEEP_STRIPE_WEBHOOK_SECRET");
        let err = config(&[
            key,
            ("BARKEEP_STRIPE_WEBHOOK_SECRET", "whsec_a"),
            ("BARKEEP_STRIPE_API_URL", "ftp://mock"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "BARKEEP_STRIPE_API_URL");
        let c = config(&[
            key,
            ("BARKEEP_STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new"),
            ("BARKEEP_STRIPE_API_URL", "http://127.0.0.1:9999"),
            ("BARKEEP_STRIPE_PRICE_PRO_YEAR", "price_pro_y"),
        ])
        .unwrap();
        let stripe = c.billing.unwrap();
        assert_eq!(stripe.webhook_secrets.len(), 2);
        assert_eq!(stripe.api_url.as_deref(), Some("http://127.0.0.1:9999/"));
        assert_eq!(
            c.plans.prices.get("BARKEEP_STRIPE_PRICE_PRO_YEAR"),
            Some(&"price_pro_y".to_string())
        );
        assert!(!format!("{stripe:?}").contains("sk_test_123"));
    }

    #[test]
    fn the_files_variables_name_are_only_named() {
        let c = config(&[
            ("BARKEEP_PLANS_FILE", " /nonexistent/plans.toml "),
            ("BARKEEP_DKIM_KEY_FILE", "/nonexistent/dkim.pem"),
            ("BARKEEP_DKIM_SELECTOR", "s1"),
            ("BARKEEP_MAIL_FROM", "Bars <bars@example.com>"),
        ])
        .unwrap();
        assert_eq!(
            c.plans.file.as_deref(),
            Some(Path::new("/nonexistent/plans.toml"))
        );
        let dkim = c.dkim.unwrap();
        assert_eq!(dkim.key_file, Path::new("/nonexistent/dkim.pem"));
        assert_eq!(
            (dkim.selector.as_str(), dkim.domain.as_str()),
            ("s1", "example.com")
        );
        let err = config(&[("BARKEEP_DKIM_KEY_FILE", "/etc/dkim.pem")]).unwrap_err();
        assert_eq!(err.var, "BARKEEP_DKIM_SELECTOR");
    }

    #[test]
    fn https_base_url_makes_cookies_secure() {
        let c = config(&[("BARKEEP_BASE_URL", "https://bars.example.com/")]).unwrap();
        assert_eq!(c.base_url, "https://bars.example.com");
        assert!(c.secure_cookies());
        assert_eq!(c.mail_from, "barkeep <barkeep@bars.example.com>");
    }

    #[test]
    fn proxies_accept_cidrs_and_plain_addresses() {
        let c = config(&[("BARKEEP_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,::1")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
    }

    #[test]
    fn reading_the_configuration_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let d = data.display().to_string();
        let c = Config::from_lookup(|k| (k == "BARKEEP_DATA_DIR").then(|| d.clone())).unwrap();
        assert!(!data.exists());
        assert!(matches!(&c.secret_key, SecretKey::Kept(p) if *p == data.join("secret.key")));
        c.prepare().unwrap();
        assert!(data.join("secret.key").is_file());
    }

    #[test]
    fn a_given_secret_key_is_used_as_is() {
        let key = "k".repeat(32);
        let c = config(&[("BARKEEP_SECRET_KEY", &format!(" {key} "))]).unwrap();
        assert!(matches!(&c.secret_key, SecretKey::Given(k) if k.expose() == key.as_bytes()));
    }
}
