//! Building the application (the files the configuration names, database, migrations,
//! subsystems, HTTP), running it, and shutting it down in order: stop accepting, finish
//! in-flight requests, run the shutdown hooks subsystems registered, stop background
//! tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use rand::RngCore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use prometheus_client::registry::Registry;

use super::config::{Config, ConfigError, Dkim, PlansConfig, SecretKey};
use super::schedule::{self, Parts};
use crate::accounts::{Accounts, Passwords};
use crate::alerts::Alerts;
use crate::billing::Billing;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::db;
use crate::digest::Digest;
use crate::domain::Secret;
use crate::egress::{Egress, Resolver};
use crate::hooks::Hooks;
use crate::ingest::{Bots, Ingest, IngestMetrics, Limits};
use crate::jobs::Jobs;
use crate::leads::Leads;
use crate::mail::{
    DkimSettings, Links, MailMetrics, MailWorker, Mailer, Senders, Templates, Tracker, Transport,
    WorkerSettings,
};
use crate::plans::Plans;
use crate::privacy::policies::PolicyVersions;
use crate::privacy::{Privacy, Restrictions};
use crate::reporting::benchmarks::Benchmarks;
use crate::scripts::{Live, Policies};
use crate::teams::Teams;
use crate::web::{self, HttpMetrics, State};

/// In-flight requests get this long to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Counted events get this long to reach the database at shutdown (it may be down).
const INGEST_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Background tasks get this long to stop once hooks have run.
const TASK_STOP_TIMEOUT: Duration = Duration::from_secs(10);

type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a process can be given besides its configuration: the clock (tests move it),
/// the mail worker's retry timing, how often once-jobs are looked at (`None`: only
/// when asked, as tests do to drive them), and the name look-up behind outgoing calls
/// to members' URLs (`None`: the system's; its answers are filtered all the same).
#[derive(Clone, Debug)]
pub struct Settings {
    pub clock: Clock,
    pub mail: WorkerSettings,
    pub once_poll: Option<Duration>,
    pub resolver: Option<Resolver>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clock: Clock::system(),
            mail: WorkerSettings::default(),
            once_poll: Some(Duration::from_secs(10)),
            resolver: None,
        }
    }
}

pub struct Application {
    listener: tokio::net::TcpListener,
    state: State,
    /// Run after the HTTP server has drained, in order; buffers flush here.
    hooks: Vec<(&'static str, Hook)>,
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl Application {
    /// Connects, migrates, starts background tasks and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Settings::default()).await
    }

    pub async fn build_with(mut config: Config, settings: Settings) -> anyhow::Result<Self> {
        // reqwest, lettre and sqlx share rustls; pick its crypto once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let prepared = config.prepare()?;
        let db = open_database(&config).await?;
        let listener = bind(&mut config).await?;
        let mut registry = Registry::with_prefix("barkeep");
        let subsystems =
            Subsystems::build(&config, &settings, &prepared, db, &mut registry).await?;
        let jobs = Arc::new(Jobs::new(
            subsystems.db.clone(),
            subsystems.clock.clone(),
            schedule::table(&subsystems.parts()),
            settings.once_poll,
            &mut registry,
        ));
        let state = subsystems.state(&config, &prepared.secret_key, jobs, registry)?;
        Ok(Self::start(listener, state))
    }

    /// Starts the background jobs; the counted events are written at shutdown.
    fn start(listener: tokio::net::TcpListener, state: State) -> Self {
        let stop = CancellationToken::new();
        let tasks = state.jobs.spawn(stop.clone());
        let mut app = Application {
            listener,
            state,
            hooks: Vec::new(),
            tasks,
            stop,
        };
        let (ingest, db) = (app.state.ingest.clone(), app.state.db.clone());
        app.on_shutdown("write counted events", async move {
            ingest.drain(&db, INGEST_DRAIN_TIMEOUT).await
        });
        let accounts = app.state.accounts.clone();
        app.on_shutdown("finish password-reset emails", async move {
            if !accounts.finish_detached(TASK_STOP_TIMEOUT).await {
                tracing::warn!(
                    "password-reset emails still being made after {TASK_STOP_TIMEOUT:?}"
                );
            }
        });
        app
    }

    /// Registers work to do after the HTTP server has drained and before background
    /// tasks stop; hooks run in the order they were registered.
    pub fn on_shutdown(
        &mut self,
        name: &'static str,
        hook: impl Future<Output = ()> + Send + 'static,
    ) {
        self.hooks.push((name, Box::pin(hook)));
    }

    pub fn address(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("reading the bound address")
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Serves until `shutdown` completes, then shuts down in order.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            hooks,
            tasks,
            stop,
        } = self;
        let address = listener.local_addr()?;
        tracing::info!(%address, base_url = %state.web.base_url, "barkeep is listening");

        let draining = CancellationToken::new();
        let signal = {
            let draining = draining.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: no new connections, finishing requests in flight");
                draining.cancel();
            }
        };
        let server = web::server::serve(listener, &state, signal);
        tokio::select! {
            _ = server => {}
            _ = async { draining.cancelled().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
                tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing them");
            }
        }

        for (name, hook) in hooks {
            tracing::info!(hook = name, "running shutdown hook");
            hook.await;
        }
        stop.cancel();
        for task in tasks {
            if tokio::time::timeout(TASK_STOP_TIMEOUT, task).await.is_err() {
                tracing::warn!("a background task did not stop in time");
            }
        }
        state.db.clone().close().await.ok();
        tracing::info!("barkeep stopped");
        Ok(())
    }
}

/// What start-up reads from the files the configuration names.
pub struct Prepared {
    /// The key that signs cookies and links: given, or kept in the data folder.
    pub secret_key: Secret<Vec<u8>>,
    /// The plans on offer, with their prices.
    pub plans: Plans,
    /// DKIM signing, its key read and checked.
    pub dkim: Option<DkimSettings>,
}

impl Config {
    /// What a process does with its configuration before anything else: reads the DKIM
    /// key and the plans file it names, creates the data folder, and reads the secret key
    /// kept there (making it on first start) unless one is given. A file that cannot be
    /// used stops start-up naming its variable, as a bad value does.
    pub fn prepare(&self) -> Result<Prepared, ConfigError> {
        let dkim = self.dkim.as_ref().map(read_dkim).transpose()?;
        let plans = read_plans(&self.plans)?;
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            ConfigError::new(
                "BARKEEP_DATA_DIR",
                format!("cannot create {}: {e}", self.data_dir.display()),
            )
        })?;
        let secret_key = match &self.secret_key {
            SecretKey::Given(key) => key.clone(),
            SecretKey::Kept(path) => load_or_create_secret(path)
                .map_err(|m| ConfigError::new("BARKEEP_SECRET_KEY", m))?,
        };
        Ok(Prepared {
            secret_key,
            plans,
            dkim,
        })
    }
}

/// The DKIM key in `BARKEEP_DKIM_KEY_FILE`, read and checked.
fn read_dkim(dkim: &Dkim) -> Result<DkimSettings, ConfigError> {
    let fault = |message: String| ConfigError::new("BARKEEP_DKIM_KEY_FILE", message);
    let key = std::fs::read_to_string(&dkim.key_file)
        .map_err(|e| fault(format!("cannot read {}: {e}", dkim.key_file.display())))?;
    let settings = DkimSettings {
        selector: dkim.selector.clone(),
        domain: dkim.domain.clone(),
        key: Secret::new(key),
    };
    settings.signer().map_err(|e| fault(format!("{e:#}")))?;
    Ok(settings)
}

/// The plans in `BARKEEP_PLANS_FILE`, or the defaults; with the prices the environment
/// gives those that name none.
fn read_plans(config: &PlansConfig) -> Result<Plans, ConfigError> {
    let plans = match &config.file {
        Some(path) => {
            let fault = |message: String| ConfigError::new("BARKEEP_PLANS_FILE", message);
            let text = std::fs::read_to_string(path)
                .map_err(|e| fault(format!("cannot read {}: {e}", path.display())))?;
            Plans::parse_toml(&text).map_err(|e| fault(format!("{}: {e}", path.display())))?
        }
        None => Plans::defaults(),
    };
    Ok(plans.with_env_prices(|var| config.prices.get(var).cloned()))
}

fn load_or_create_secret(path: &Path) -> Result<Secret<Vec<u8>>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(Secret::new(s.trim().as_bytes().to_vec())),
        Ok(_) => {
            return Err(format!(
                "{} is shorter than 32 characters; delete it to have a new one made",
                path.display()
            ));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {e}", path.display()));
        }
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(path, key.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Secret::new(key.into_bytes()))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.write_all(b"\n")
}

/// The database, connected and migrated.
pub async fn open_database(config: &Config) -> anyhow::Result<db::Db> {
    let db = db::connect(&config.database)
        .await
        .map_err(|e| ConfigError::new("BARKEEP_DATABASE_URL", e.to_string()))?;
    db::migrate(&db).await?;
    Ok(db)
}

/// Binds the listener. With port 0 the system picks the port, and the default public URL
/// follows it.
async fn bind(config: &mut Config) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            ConfigError::new(
                "BARKEEP_LISTEN",
                format!("cannot listen on {}: {e}", config.listen),
            )
        })?;
    if config.listen.port() == 0 && config.base_url == format!("http://{}", config.listen) {
        config.base_url = format!("http://{}", listener.local_addr()?);
    }
    Ok(listener)
}

/// Every subsystem of a server process, wired together.
struct Subsystems {
    db: db::Db,
    clock: Clock,
    mailer: Mailer,
    mail: Arc<MailWorker>,
    tracker: Tracker,
    accounts: Accounts,
    teams: Teams,
    billing: Billing,
    live: Arc<Live>,
    catalog: Catalog,
    ingest: Arc<Ingest>,
    alerts: Alerts,
    policy_versions: PolicyVersions,
    digest: Digest,
    benchmarks: Benchmarks,
    leads: Leads,
    hooks: Hooks,
    privacy: Privacy,
}

/// What email is made and sent with: the mailer that queues it, the tracker of opens and
/// clicks, and what the worker that sends it needs.
struct MailParts {
    mailer: Mailer,
    tracker: Tracker,
    links: Arc<Links>,
    transport: Transport,
}

impl Subsystems {
    /// Builds them in the order they depend on one another.
    async fn build(
        config: &Config,
        settings: &Settings,
        prepared: &Prepared,
        db: db::Db,
        registry: &mut Registry,
    ) -> anyhow::Result<Subsystems> {
        let clock = settings.clock.clone();
        let MailParts {
            mailer,
            tracker,
            links,
            transport,
        } = MailParts::build(config, clock.clone(), prepared, &db).await?;
        let passwords = Passwords::new()?;
        let accounts = Accounts::new(
            db.clone(),
            clock.clone(),
            mailer.clone(),
            &config.base_url,
            passwords.clone(),
        );
        let teams = Teams::new(
            db.clone(),
            clock.clone(),
            mailer.clone(),
            passwords,
            &config.base_url,
        );
        let billing = Billing::new(
            db.clone(),
            clock.clone(),
            mailer.clone(),
            prepared.plans.clone(),
            config.billing.as_ref(),
            &config.base_url,
        )?;
        let countries = match &config.geoip_db {
            Some(path) => Some(Arc::new(
                crate::geo::Countries::open(path).context("BARKEEP_GEOIP_DB")?,
            )),
            None => None,
        };
        let catalog_countries = countries.is_some();
        let live = load_scripts(config, &db, &clock, &billing, countries).await?;
        let catalog = Catalog::new(db.clone(), clock.clone(), vec![live.clone()])
            .with_countries(catalog_countries);
        let ingest = build_ingest(config, &db, &clock, &live, registry).await?;
        let mail = mail_worker(config, settings, &db, transport, links, registry);
        let alerts = Alerts::new(
            db.clone(),
            clock.clone(),
            mailer.clone(),
            billing.clone(),
            &config.base_url,
        );
        Ok(Subsystems {
            policy_versions: PolicyVersions::new(db.clone(), clock.clone(), alerts.clone()),
            digest: Digest::new(db.clone(), clock.clone(), mailer.clone(), &config.base_url),
            benchmarks: Benchmarks::new(db.clone(), clock.clone(), config.benchmarks.clone()),
            leads: build_leads(config, settings, prepared, &db, &clock, &mailer)?,
            hooks: Hooks::new(
                db.clone(),
                clock.clone(),
                Egress::new(
                    settings.resolver.clone().unwrap_or_default(),
                    config.lead_webhook_private,
                )?,
            ),
            privacy: Privacy::new(
                db.clone(),
                clock.clone(),
                mailer.clone(),
                accounts.clone(),
                billing.clone(),
                catalog.clone(),
            ),
            db,
            clock,
            mailer,
            mail,
            tracker,
            accounts,
            teams,
            billing,
            live,
            catalog,
            ingest,
            alerts,
        })
    }

    /// What the job table runs.
    fn parts(&self) -> Parts {
        Parts {
            db: self.db.clone(),
            clock: self.clock.clone(),
            live: self.live.clone(),
            ingest: self.ingest.clone(),
            mailer: self.mailer.clone(),
            mail: self.mail.clone(),
            billing: self.billing.clone(),
            alerts: self.alerts.clone(),
            digest: self.digest.clone(),
            benchmarks: self.benchmarks.clone(),
            leads: self.leads.clone(),
            hooks: self.hooks.clone(),
            privacy: self.privacy.clone(),
            teams: self.teams.clone(),
            allocator: crate::allocation::Allocator::new(self.db.clone(), self.clock.clone()),
        }
    }

    /// What the HTTP handlers share.
    fn state(
        self,
        config: &Config,
        secret_key: &Secret<Vec<u8>>,
        jobs: Arc<Jobs>,
        mut registry: Registry,
    ) -> anyhow::Result<State> {
        let http = Arc::new(HttpMetrics::register(&mut registry));
        web::openapi::prepare(web::api::table().routes())?;
        Ok(State {
            web: Arc::new(web_settings(config, secret_key)),
            db: self.db,
            clock: self.clock,
            accounts: self.accounts,
            alerts: self.alerts,
            policy_versions: self.policy_versions,
            benchmarks: self.benchmarks,
            billing: self.billing,
            catalog: self.catalog,
            leads: self.leads,
            hooks: self.hooks,
            privacy: self.privacy,
            teams: self.teams,
            tracker: self.tracker,
            live: self.live,
            ingest: self.ingest,
            mailer: self.mailer,
            jobs,
            metrics: Arc::new(registry),
            http,
            views: Arc::new(web::pages::Views::load(&config.base_url)?),
        })
    }
}

impl MailParts {
    async fn build(
        config: &Config,
        clock: Clock,
        prepared: &Prepared,
        db: &db::Db,
    ) -> anyhow::Result<MailParts> {
        let templates = Arc::new(Templates::load(&config.base_url)?);
        let links = Arc::new(Links::new(prepared.secret_key.expose(), &config.base_url));
        // Suppressions are kept as keyed hashes; the key is the server's, so rows still
        // holding an address (from before) are hashed here rather than by a migration.
        crate::mail::hash_plain_suppressions(db, links.address_key()).await?;
        let mailer = Mailer::new(templates, links.clone(), clock.clone());
        let dkim = prepared
            .dkim
            .as_ref()
            .map(DkimSettings::signer)
            .transpose()?;
        let transport = Transport::from_config(&config.mail, dkim)?;
        let tracker = Tracker::new(db.clone(), clock, links.clone(), config.mail_tracking);
        Ok(MailParts {
            mailer,
            tracker,
            links,
            transport,
        })
    }
}

/// The worker that sends what is due from the outbox.
fn mail_worker(
    config: &Config,
    settings: &Settings,
    db: &db::Db,
    transport: Transport,
    links: Arc<Links>,
    registry: &mut Registry,
) -> Arc<MailWorker> {
    Arc::new(MailWorker::new(
        db.clone(),
        settings.clock.clone(),
        transport,
        Senders {
            transactional: config.mail_from.clone(),
            subscription: config.mail_from_news.clone(),
        },
        links,
        config.mail_tracking,
        MailMetrics::register(registry),
        settings.mail.clone(),
    ))
}

/// What each site's script tag loads, with the policies that may stop a site's bars:
/// its plan's, and restrictions on its member.
async fn load_scripts(
    config: &Config,
    db: &db::Db,
    clock: &Clock,
    billing: &Billing,
    countries: Option<Arc<crate::geo::Countries>>,
) -> anyhow::Result<Arc<Live>> {
    let policy = Arc::new(Policies(vec![
        Arc::new(billing.clone()),
        Arc::new(Restrictions::new(db.clone())),
    ]));
    Ok(Arc::new(
        Live::load(
            db.clone(),
            clock.clone(),
            policy,
            &config.base_url,
            countries,
        )
        .await?,
    ))
}

/// Leads and their forwarding, whose webhooks go out through the egress filter.
fn build_leads(
    config: &Config,
    settings: &Settings,
    prepared: &Prepared,
    db: &db::Db,
    clock: &Clock,
    mailer: &Mailer,
) -> anyhow::Result<Leads> {
    let egress = Egress::new(
        settings.resolver.clone().unwrap_or_default(),
        config.lead_webhook_private,
    )?;
    // Providers' own hosts (and ActiveCampaign's per-account host) are public: the
    // same address rules as webhooks apply to them.
    let esp = crate::leads::Esp::new(egress.clone(), config.esp_urls.clone())?;
    let sealer = crate::sealed::Sealer::derive(prepared.secret_key.expose(), "list forward keys");
    Ok(Leads::new(
        db.clone(),
        clock.clone(),
        mailer.clone(),
        &config.base_url,
        egress,
        esp,
        sealer,
    ))
}

/// The event counter, with today's salts loaded.
async fn build_ingest(
    config: &Config,
    db: &db::Db,
    clock: &Clock,
    live: &Live,
    registry: &mut Registry,
) -> anyhow::Result<Arc<Ingest>> {
    let ingest = Arc::new(Ingest::new(
        clock.clone(),
        live.registry.clone(),
        Bots::load()?,
        IngestMetrics::register(registry),
        Limits::new(config.event_rate_per_ip, config.event_buffer_limit),
    ));
    ingest.salts.load(db, clock.now()).await?;
    Ok(ingest)
}

fn web_settings(config: &Config, secret_key: &Secret<Vec<u8>>) -> web::Settings {
    web::Settings {
        base_url: config.base_url.clone(),
        secure_cookies: config.secure_cookies(),
        trusted_proxies: config.trusted_proxies.clone(),
        mail_webhook_secret: config.mail_webhook_secret.clone(),
        mail_folder: match &config.mail {
            crate::mail::MailTransportConfig::Folder(dir) => Some(dir.clone()),
            _ => None,
        },
        timeouts: config.timeouts,
        keys: web::cookies::Keys::derive(secret_key.expose()),
        metrics_token: config.metrics_token.clone(),
    }
}

/// The subsystems an operator's command needs, without HTTP or background jobs: the
/// database (migrated), the alerts (which queue email for the servers to send) and the
/// benchmarks.
pub async fn operator_tools(config: &Config, clock: Clock) -> anyhow::Result<OperatorTools> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Prepared {
        secret_key, plans, ..
    } = config.prepare()?;
    let db = open_database(config).await?;
    let templates = Arc::new(Templates::load(&config.base_url)?);
    let links = Arc::new(Links::new(secret_key.expose(), &config.base_url));
    let mailer = Mailer::new(templates, links, clock.clone());
    let billing = Billing::new(
        db.clone(),
        clock.clone(),
        mailer.clone(),
        plans,
        config.billing.as_ref(),
        &config.base_url,
    )?;
    let alerts = Alerts::new(db.clone(), clock.clone(), mailer, billing, &config.base_url);
    let benchmarks = Benchmarks::new(db.clone(), clock, config.benchmarks.clone());
    Ok(OperatorTools {
        db,
        alerts,
        benchmarks,
    })
}

/// What an operator's command works with.
pub struct OperatorTools {
    pub db: db::Db,
    pub alerts: Alerts,
    pub benchmarks: Benchmarks,
}

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives during
/// start-up is not lost. Must be called inside the runtime.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM/SIGINT");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration of `vars`, with its data folder in `dir`.
    fn config(dir: &Path, vars: &[(&str, &str)]) -> Config {
        let data = dir.join("data").display().to_string();
        Config::from_lookup(|k| match k {
            "BARKEEP_DATA_DIR" => Some(data.clone()),
            k => vars
                .iter()
                .find(|(v, _)| *v == k)
                .map(|(_, value)| value.to_string()),
        })
        .unwrap()
    }

    #[test]
    fn a_generated_secret_is_kept_between_starts() {
        let dir = tempfile::tempdir().unwrap();
        let start = || config(dir.path(), &[]).prepare().unwrap().secret_key;
        let (first, second) = (start(), start());
        assert_eq!(first.expose(), second.expose());
        assert!(first.expose().len() >= 32);
    }

    #[test]
    fn files_that_cannot_be_read_stop_start_up_naming_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        for (var, vars) in [
            (
                "BARKEEP_PLANS_FILE",
                &[("BARKEEP_PLANS_FILE", "/nonexistent/plans.toml")][..],
            ),
            (
                "BARKEEP_DKIM_KEY_FILE",
                &[
                    ("BARKEEP_DKIM_KEY_FILE", "/nonexistent/dkim.pem"),
                    ("BARKEEP_DKIM_SELECTOR", "s1"),
                ][..],
            ),
        ] {
            let Err(err) = config(dir.path(), vars).prepare() else {
                panic!("{var} was read");
            };
            assert_eq!(err.var, var);
            assert!(
                err.to_string()
                    .starts_with(&format!("{var}: cannot read /nonexistent/")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_bad_plans_file_stops_start_up_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.toml");
        std::fs::write(
            &path,
            "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = { monthly_views = -5 }\n",
        )
        .unwrap();
        let Err(err) = config(
            dir.path(),
            &[("BARKEEP_PLANS_FILE", path.to_str().unwrap())],
        )
        .prepare() else {
            panic!("the plans file was used");
        };
        assert_eq!(err.var, "BARKEEP_PLANS_FILE");
        assert!(
            err.message.contains("plan[0].limits.monthly_views"),
            "{err}"
        );
    }

    #[test]
    fn a_plans_file_gets_the_prices_it_does_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.toml");
        std::fs::write(
            &path,
            "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = {}\n\
             [[plan]]\nid = \"pro\"\nname = \"Pro\"\nprices = { month = \"price_m\" }\nlimits = {}\n",
        )
        .unwrap();
        let plans = config(
            dir.path(),
            &[
                ("BARKEEP_PLANS_FILE", path.to_str().unwrap()),
                ("BARKEEP_STRIPE_PRICE_PRO_MONTH", "price_env_m"),
                ("BARKEEP_STRIPE_PRICE_PRO_YEAR", "price_env_y"),
            ],
        )
        .prepare()
        .unwrap()
        .plans;
        assert_eq!(plans.all().len(), 2);
        assert!(plans.by_price("price_m").is_some());
        assert!(plans.by_price("price_env_m").is_none());
        assert!(plans.by_price("price_env_y").is_some());
    }

    #[test]
    fn a_dkim_key_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/dkim/test.key.pem"
        );
        let dkim = |key_file: &str| {
            config(
                dir.path(),
                &[
                    ("BARKEEP_DKIM_KEY_FILE", key_file),
                    ("BARKEEP_DKIM_SELECTOR", "s1"),
                ],
            )
            .prepare()
            .map(|p| p.dkim)
        };
        let read = dkim(fixture).unwrap().unwrap();
        assert_eq!(read.selector, "s1");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a key").unwrap();
        let Err(err) = dkim(junk.to_str().unwrap()) else {
            panic!("a key that is no key was used");
        };
        assert_eq!(err.var, "BARKEEP_DKIM_KEY_FILE");
    }
}
