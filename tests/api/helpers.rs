//! The test harness: a real barkeep on a random port with a fresh database per test — a
//! temporary SQLite file, or a new PostgreSQL database when BARKEEP_TEST_POSTGRES_URL
//! names a server (an admin URL such as postgres://postgres@127.0.0.1:5432/postgres).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use barkeep::app::{Application, Config, Settings};
use barkeep::clock::Clock;
use barkeep::egress::Resolver;
use barkeep::jobs::Ran;
use barkeep::mail::WorkerSettings;
use barkeep::web::State;
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::processes::{Email, SmtpServer, free_port, read_mail_dir};

pub const PASSWORD: &str = "correct horse battery staple";

/// The PostgreSQL admin URL, when the suite runs against PostgreSQL.
pub static POSTGRES: LazyLock<Option<String>> = LazyLock::new(|| {
    std::env::var("BARKEEP_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
});

/// A test's own database, dropped (on PostgreSQL) when this goes, even if the test failed.
pub struct FreshDatabase {
    pub url: String,
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Some(admin) = POSTGRES.clone() {
            drop_database(admin, self.url.clone());
        }
    }
}

/// A fresh database for one test: a file in `dir`, or a new PostgreSQL database.
pub async fn fresh_database(dir: &Path) -> FreshDatabase {
    FreshDatabase {
        url: fresh_database_url(dir).await,
    }
}

async fn fresh_database_url(dir: &Path) -> String {
    match POSTGRES.as_deref() {
        None => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Some(admin) => {
            let name = format!("barkeep_test_{}", uuid::Uuid::new_v4().simple());
            let conn = Database::connect(admin)
                .await
                .expect("connect to the PostgreSQL admin URL");
            conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create a test database");
            conn.close().await.ok();
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
            format!("{base}/{name}")
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    /// A separate connection for looking at what the server stored.
    pub db: DatabaseConnection,
    pub database_url: String,
    pub data_dir: TempDir,
    /// The server's clock: tests move it instead of sleeping or editing stored times.
    pub clock: Clock,
    /// The server's subsystems, for driving its jobs ("do what is due now").
    pub state: State,
    /// The database this app made, dropped when it ends (declared last, so it goes after
    /// the server's shutdown signal).
    _database: Option<FreshDatabase>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct Options {
    pub vars: Vec<(String, String)>,
    pub mail: WorkerSettings,
    /// Share this database (and its URL) instead of making a fresh one.
    pub database_url: Option<String>,
    /// Share another process's clock, so both move together.
    pub clock: Option<Clock>,
    /// Answer the server's name look-ups for members' URLs (webhooks) instead of the
    /// system.
    pub resolver: Option<Resolver>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            vars: Vec::new(),
            mail: fast_mail(),
            database_url: None,
            clock: None,
            resolver: None,
        }
    }
}

impl Options {
    pub fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.push((k.into(), v.into()));
        self
    }

    /// A second process on `a`'s database, with `a`'s clock and secret key, that also
    /// writes its email into `a`'s folder (either process's mail worker may send what the
    /// other queued).
    pub fn sharing(mut self, a: &TestApp) -> Self {
        self.database_url = Some(a.database_url.clone());
        self.clock = Some(a.clock.clone());
        let folder = format!("file://{}", a.mail_dir().display());
        // Processes of one installation share the secret key (sealed provider keys,
        // cookies and links open on every one).
        if let Ok(key) = std::fs::read_to_string(a.data_dir.path().join("secret.key")) {
            self = self.var("BARKEEP_SECRET_KEY", key.trim());
        }
        self.var("BARKEEP_MAIL_URL", &folder)
    }
}

/// Mail retries in milliseconds rather than minutes, so tests see them.
pub fn fast_mail() -> WorkerSettings {
    WorkerSettings {
        poll: Duration::from_millis(50),
        first_retry: Duration::from_millis(200),
        max_retry: Duration::from_secs(1),
        max_attempts: 10,
        lease: Duration::from_secs(30),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (database_url, database) = match options.database_url {
            Some(url) => (url, None),
            None => {
                let fresh = fresh_database(data_dir.path()).await;
                (fresh.url.clone(), Some(fresh))
            }
        };
        let clock = options.clock.unwrap_or_else(Clock::adjustable);
        let mut vars: HashMap<String, String> = HashMap::from([
            ("BARKEEP_LISTEN".into(), "127.0.0.1:0".into()),
            (
                "BARKEEP_DATA_DIR".into(),
                data_dir.path().display().to_string(),
            ),
            ("BARKEEP_DATABASE_URL".into(), database_url.clone()),
            (
                "BARKEEP_LOG".into(),
                std::env::var("TEST_LOG")
                    .unwrap_or_else(|_| "warn,warp::filters::trace=off".into()),
            ),
        ]);
        vars.extend(options.vars);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
        barkeep::app::logs::init(&config);
        let settings = Settings {
            clock: clock.clone(),
            mail: options.mail,
            // Tests drive the once-jobs themselves.
            once_poll: None,
            resolver: options.resolver,
        };
        let app = Application::build_with(config, settings)
            .await
            .expect("build the application");
        let address = format!("http://{}", app.address().expect("address"));
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let db = Database::connect(&database_url)
            .await
            .expect("test connection");
        TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            db,
            database_url,
            data_dir,
            clock,
            state,
            _database: database,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        assert!(self.clock.advance(by), "the test clock moves");
    }

    /// Moves the server's clock forward to `at` (which must be ahead of it).
    pub fn set_clock(&self, at: chrono::DateTime<chrono::Utc>) {
        let by = at - self.clock.now();
        assert!(
            by > chrono::Duration::zero(),
            "the clock only moves forward"
        );
        self.advance(by);
    }

    /// Runs one job of the server's table now if it is due; see `barkeep::jobs`.
    pub async fn run_job(&self, name: &str) -> Ran {
        self.state.jobs.run_due(name).await.expect("the job runs")
    }

    /// Writes everything counted so far, as the event writer would at its next tick.
    pub async fn flush(&self) {
        for _ in 0..10 {
            if self
                .state
                .ingest
                .flush(&self.state.db)
                .await
                .expect("events written")
            {
                return;
            }
        }
        panic!("counted events are still waiting after ten writes");
    }

    /// Sends the email that is due, after detached work (a reset link) has queued its own.
    /// The process's own mail job (woken whenever mail is queued) may hold the lease on
    /// some of it while this run skips those rows: then this waits until that job has
    /// sent them or backed off, so what is due is sent when this returns.
    pub async fn deliver_mail(&self) {
        use barkeep::db::entities::outbox::{Column, Entity, Status};
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        self.state.accounts.settled().await;
        self.run_job("mail").await;
        for _ in 0..250 {
            let now = self.clock.now();
            let leased = Entity::find()
                .filter(Column::Status.eq(Status::Pending))
                .filter(Column::NextAttemptAt.lte(now))
                .filter(Column::LockedUntil.gte(now))
                .count(&self.db)
                .await
                .expect("count the outbox");
            if leased == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("mail due now is still leased after five seconds");
    }

    /// Shuts the server down the way SIGTERM does and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server run");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.path().join("mail-out")
    }

    pub async fn post_json(&self, path: &str, body: &Value, cookie: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.expect("request")
    }

    pub async fn patch_as(&self, path: &str, body: &Value, cookie: &str) -> Response {
        self.client
            .patch(self.url(path))
            .header("cookie", cookie)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_as(&self, path: &str, cookie: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request")
    }

    pub async fn signup(&self, email: &str) -> Response {
        self.post_json(
            "/api/v1/signup",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await
    }

    /// Logs in and returns the `Cookie` header value for the new session.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .post_json(
                "/api/v1/login",
                &json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login of {email}");
        session_cookie(&res).expect("a session cookie")
    }

    /// Signs up, confirms the address through the emailed link, and logs in.
    pub async fn member(&self, email: &str) -> String {
        assert_eq!(self.signup(email).await.status(), StatusCode::CREATED);
        let mail = self.wait_for_email(email, "Confirm your email").await;
        let link = mail.link("/confirm-email");
        let res = self.client.get(&link).send().await.expect("confirm link");
        assert_eq!(res.status(), StatusCode::OK);
        self.login(email, PASSWORD).await
    }

    /// Every email written to the mail folder so far.
    pub fn emails(&self) -> Vec<Email> {
        read_mail_dir(&self.mail_dir())
    }

    /// Every email written once what is due has been sent.
    pub async fn delivered(&self) -> Vec<Email> {
        self.deliver_mail().await;
        self.emails()
    }

    /// The email to `to` whose subject contains `subject`, once what is due is sent.
    pub async fn wait_for_email(&self, to: &str, subject: &str) -> Email {
        self.deliver_mail().await;
        if let Some(m) = self
            .emails()
            .into_iter()
            .find(|m| m.to == to && m.subject.contains(subject))
        {
            return m;
        }
        panic!(
            "no email to {to} about {subject:?}; have: {:?}",
            self.emails()
                .iter()
                .map(|m| (&m.to, &m.subject))
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Drops a test's PostgreSQL database (connections and all), even when the test failed.
fn drop_database(admin: String, url: String) {
    let name = url.rsplit('/').next().unwrap_or_default().to_string();
    let dropped = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to drop the test database");
        rt.block_on(async {
            let conn = Database::connect(&admin).await?;
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            conn.close().await
        })
    })
    .join();
    if !matches!(dropped, Ok(Ok(()))) {
        eprintln!("could not drop the test database {url}; `make clean-test-databases` will");
    }
}

/// The `name=value` part of the session cookie the response sets.
pub fn session_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("barkeep_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

pub async fn body_json(res: Response) -> Value {
    res.json().await.expect("a JSON body")
}

impl TestApp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("cookie", cookie);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request")
    }

    /// Creates a site and returns its JSON.
    pub async fn site(&self, cookie: &str, hostnames: &[&str]) -> Value {
        let res = self
            .post_json(
                "/api/v1/sites",
                &json!({"name": "Shop", "hostnames": hostnames}),
                Some(cookie),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        body_json(res).await
    }

    /// Creates a bar on the site and returns its JSON.
    pub async fn bar(&self, cookie: &str, site_id: i64, body: &Value) -> Value {
        let res = self
            .post_json(&format!("/api/v1/sites/{site_id}/bars"), body, Some(cookie))
            .await;
        let status = res.status();
        let value = body_json(res).await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        value
    }

    /// Publishes a bar and returns the live deployments.
    pub async fn publish(&self, cookie: &str, bar_id: i64) -> Vec<Value> {
        let res = self
            .post_json(
                &format!("/api/v1/bars/{bar_id}/publish"),
                &json!({}),
                Some(cookie),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        body_json(res).await["deployments"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The site's script as served (plain, no compression).
    pub async fn script(&self, key: &str) -> String {
        let res = self
            .client
            .get(self.url(&format!("/s/{key}.js")))
            .header("accept-encoding", "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }
}

/// The minimal link bar of the product's promise.
pub fn link_bar(message: &str) -> Value {
    json!({"goal": "link", "message": message, "button_label": "Shop now", "link_url": "https://shop.example/sale"})
}

/// A desktop Chrome, as real visitors send it.
pub const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A member with a site on `shop.example` and a published link bar: (cookie, site, bar, deployment).
pub struct LiveBar {
    pub cookie: String,
    pub site: Value,
    pub bar_id: i64,
    pub deployment: i64,
}

impl TestApp {
    /// Adds a variant B ("Bold!") to a live bar and publishes both: B's id, then the new
    /// deployments of A and of B.
    pub async fn with_variant_b(&self, live: &LiveBar) -> (i64, i64, i64) {
        let res = self
            .post_json(
                &format!("/api/v1/bars/{}/variants", live.bar_id),
                &serde_json::json!({"message": "Bold!"}),
                Some(&live.cookie),
            )
            .await;
        let b = body_json(res).await;
        assert_eq!(b["name"], "B");
        let deployments = self.publish(&live.cookie, live.bar_id).await;
        let id = |i: usize| deployments[i]["id"].as_i64().unwrap();
        (b["id"].as_i64().unwrap(), id(0), id(1))
    }

    pub async fn live_bar(&self, email: &str, body: &Value) -> LiveBar {
        let cookie = self.member(email).await;
        let site = self
            .site(&cookie, &["shop.example", "*.shop.example"])
            .await;
        let bar = self.bar(&cookie, site["id"].as_i64().unwrap(), body).await;
        let bar_id = bar["id"].as_i64().unwrap();
        let deployment = self.publish(&cookie, bar_id).await[0]["id"]
            .as_i64()
            .unwrap();
        LiveBar {
            cookie,
            site,
            bar_id,
            deployment,
        }
    }

    /// Sends one event as the runtime's sendBeacon does; returns the status.
    pub async fn event(&self, body: &Value, ip: &str, ua: &str) -> StatusCode {
        self.client
            .post(self.url("/e"))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", ua)
            .header("origin", "https://shop.example")
            .header("x-forwarded-for", ip)
            .body(body.to_string())
            .send()
            .await
            .expect("event")
            .status()
    }

    /// The value of one metric line, e.g. `barkeep_events_counted_total{kind="view"}`; a
    /// series that is not there fails the test (a typo must not read as zero).
    pub async fn metric(&self, series: &str) -> f64 {
        self.metric_or(series, None).await
    }

    /// The value of one metric line, or `default` when the series does not exist yet.
    pub async fn metric_or(&self, series: &str, default: Option<f64>) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse::<f64>().ok())
            })
            .or(default)
            .unwrap_or_else(|| panic!("no metric {series} in:\n{text}"))
    }

    /// Stats JSON for `path` (e.g. `/api/v1/bars/3/stats`).
    pub async fn stats(&self, cookie: &str, path: &str) -> Value {
        let res = self.get_as(path, cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        body_json(res).await
    }

    /// Writes what was counted, then checks the totals at `path` (views, uniques, clicks,
    /// dismissals, leads); writes again and checks that nothing more arrived.
    pub async fn expect_totals(&self, cookie: &str, path: &str, want: [i64; 5]) {
        let read = |v: &Value| {
            let t = &v["totals"];
            ["views", "unique_visitors", "clicks", "dismissals", "leads"]
                .map(|k| t[k].as_i64().unwrap())
        };
        self.flush().await;
        assert_eq!(
            read(&self.stats(cookie, path).await),
            want,
            "totals at {path} (views, uniques, clicks, dismissals, leads)"
        );
        self.flush().await;
        assert_eq!(
            read(&self.stats(cookie, path).await),
            want,
            "totals at {path} changed after another write"
        );
    }
}

/// An event body as the runtime sends it.
pub fn ev(deployment: i64, kind: &str) -> Value {
    json!({"d": deployment, "k": kind, "h": "shop.example"})
}

impl TestApp {
    /// Opens a page as a browser would and returns what its forms need: the `Cookie`
    /// value holding the CSRF token, and the token for the form's `csrf` field.
    pub async fn form_token(&self, path: &str) -> (String, String) {
        let res = self.client.get(self.url(path)).send().await.expect("page");
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("barkeep_csrf="))
            .and_then(|v| v.split(';').next())
            .expect("a CSRF cookie")
            .to_string();
        let html = res.text().await.unwrap();
        let field = r#"name="csrf" value=""#;
        let at = html.find(field).expect("a form with its token") + field.len();
        let token = html[at..].split('"').next().unwrap().to_string();
        (cookie, token)
    }
}
