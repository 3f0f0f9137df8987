//! Three barkeep nodes on one PostgreSQL behind HAProxy, under a steady load of events,
//! through three failures: (a) PostgreSQL restarts, (b) a node gets SIGTERM and comes
//! back, (c) a node gets SIGKILL. Each failure has its own deployment, so what was
//! answered 204 and what was stored can be compared failure by failure. Meanwhile
//! members sign up (confirmation email), visitors leave leads (posted to a webhook and
//! emailed), and the daily benchmarks fall due: each must happen once.
//!
//! The API test runs it briefly; `make bench` runs it longer and writes the numbers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Haproxy, PrivatePostgres, SmtpServer, free_port};

pub const PASSWORD: &str = "correct horse battery staple";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// How hard and how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Load before and after each failure.
    pub settle: Duration,
    /// How long PostgreSQL stays down.
    pub outage: Duration,
    /// Simulated visitors, each sending an event, then pausing `pause`.
    pub visitors: u32,
    pub pause: Duration,
    pub leads: usize,
}

/// What one failure cost.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Events the balancer answered 204.
    pub acknowledged: i64,
    /// Events stored once the nodes were stopped.
    pub stored: i64,
    /// Answers other than 204 (the balancer's own 502/503), and requests without one.
    pub refused: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub database_restart: Outcome,
    pub node_restart: Outcome,
    pub node_killed: Outcome,
    /// Events the killed node acknowledged in the 2.5 s before it was killed: it writes
    /// what it counted every second, so it can have held no more than these.
    pub killed_node_recent: u64,
    /// Confirmation emails expected, and received by the SMTP server (per address).
    pub confirmations: (usize, HashMap<String, usize>),
    /// Leads sent, and webhook posts per lead id.
    pub leads: (usize, HashMap<i64, usize>),
    /// Lead emails the outbox sent, and the SMTP server received.
    pub lead_emails: (i64, usize),
    /// Runs of the daily benchmarks job across all nodes.
    pub benchmark_runs: i64,
    pub events_per_second: f64,
    pub duration: Duration,
}

/// One barkeep process on a fixed loopback port, so it can come back where it was.
struct Node {
    child: Option<Child>,
    port: u16,
    env: Vec<(String, String)>,
    bin: String,
}

impl Node {
    fn start(bin: &str, port: u16, env: Vec<(String, String)>) -> Node {
        let mut node = Node {
            child: None,
            port,
            env,
            bin: bin.to_string(),
        };
        node.launch();
        node
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BARKEEP_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("BARKEEP_LOG_FORMAT", "json")
            .env("BARKEEP_LOG", "warn,barkeep::app::startup=info")
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start barkeep");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap_or_default();
            if line.contains("barkeep is listening") {
                std::thread::spawn(move || for _ in lines {});
                self.child = Some(child);
                return;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("a barkeep node did not start on port {}", self.port);
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status()
                .unwrap();
        }
    }

    /// SIGTERM, and the exit status once it has gone.
    fn stop(&mut self) -> Option<i32> {
        self.signal("-TERM");
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "a node did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        self.signal("-KILL");
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One acknowledged event: which deployment, which node answered, when.
type Ack = (i64, String, Instant);

#[derive(Default)]
struct Tally {
    acks: Vec<Ack>,
    refused: HashMap<i64, u64>,
    failed: HashMap<i64, u64>,
}

/// Visitors sending events through the balancer to whichever deployment `target` names.
fn load(
    url: String,
    target: Arc<AtomicI64>,
    plan: &Plan,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) -> tokio::task::JoinHandle<()> {
    let (visitors, pause) = (plan.visitors, plan.pause);
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        for v in 0..visitors {
            let (url, target, stop, tally) =
                (url.clone(), target.clone(), stop.clone(), tally.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap();
                let ip = format!("10.77.{}.{}", v / 200, v % 200);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let d = target.load(Ordering::Relaxed);
                    let kind = if n % 5 == 4 { "c" } else { "v" };
                    let res = client
                        .post(&url)
                        .header("user-agent", UA)
                        .header("origin", "https://shop.example")
                        .header("x-forwarded-for", &ip)
                        .body(json!({"d": d, "k": kind, "h": "shop.example"}).to_string())
                        .send()
                        .await;
                    let outcome = match res {
                        Ok(r) if r.status().as_u16() == 204 => Ok(r
                            .headers()
                            .get("x-barkeep-node")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("?")
                            .to_string()),
                        Ok(_) => Err(true),
                        Err(_) => Err(false),
                    };
                    {
                        let mut t = tally.lock().unwrap();
                        match outcome {
                            Ok(node) => t.acks.push((d, node, Instant::now())),
                            Err(true) => *t.refused.entry(d).or_default() += 1,
                            Err(false) => *t.failed.entry(d).or_default() += 1,
                        }
                    }
                    n += 1;
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
}

/// A member through the balancer: signs up (a confirmation email) and logs in.
async fn member(client: &reqwest::Client, base: &str, email: &str) -> String {
    let res = client
        .post(format!("{base}/api/v1/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "signup of {email}");
    let res = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "login of {email}");
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("barkeep_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string()
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let res = client
        .request(method, format!("{base}{path}"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

async fn stored(db: &sea_orm::DatabaseConnection, deployment: i64) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT CAST(COALESCE(SUM(views + clicks), 0) AS BIGINT) FROM deployment_stats \
                 WHERE deployment_id = {deployment}"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap()
}

/// Waits until every node answers its health check through its own port.
async fn healthy(port: u16) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node on port {port} is not healthy");
}

pub async fn run(bin: &str, plan: Plan) -> Report {
    // reqwest here shares barkeep's rustls build, which leaves the provider to the program.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let pg = PrivatePostgres::launch();
    let smtp = SmtpServer::start();
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/leads"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let ports = [free_port(), free_port(), free_port()];
    let balancer_port = free_port();
    let base = format!("http://127.0.0.1:{balancer_port}");
    let data: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let env = |i: usize| -> Vec<(String, String)> {
        [
            ("BARKEEP_DATABASE_URL", pg.url()),
            ("BARKEEP_DATA_DIR", data[i].path().display().to_string()),
            ("BARKEEP_BASE_URL", base.clone()),
            // Every node signs links with the same key.
            ("BARKEEP_SECRET_KEY", "k".repeat(48)),
            ("BARKEEP_MAIL_URL", smtp.url()),
            ("BARKEEP_TRUSTED_PROXIES", "127.0.0.1".into()),
            ("BARKEEP_EVENT_RATE_PER_IP", "100000".into()),
            ("BARKEEP_LEAD_WEBHOOK_PRIVATE", "allow".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    // The first node migrates the database; the others start on it.
    let mut nodes = vec![Node::start(bin, ports[0], env(0))];
    nodes.push(Node::start(bin, ports[1], env(1)));
    nodes.push(Node::start(bin, ports[2], env(2)));
    // On the port promised to the nodes as their public URL.
    let balancer = Haproxy::start_on(balancer_port, &ports);
    let client = reqwest::Client::new();

    // A member with a site, an email bar with a webhook, and three more deployments.
    let cookie = member(&client, &base, "owner@example.com").await;
    let post = reqwest::Method::POST;
    let site = call(
        &client,
        &base,
        &cookie,
        post.clone(),
        "/api/v1/sites",
        json!({"name": "Shop", "hostnames": ["shop.example"]}),
    )
    .await;
    let site_id = site["id"].as_i64().unwrap();
    call(
        &client,
        &base,
        &cookie,
        reqwest::Method::PUT,
        &format!("/api/v1/sites/{site_id}/lead-webhook"),
        json!({"url": format!("{}/hooks/leads", hook.uri())}),
    )
    .await;
    let mut deployments = Vec::new();
    for (i, goal) in ["email", "link", "link"].iter().enumerate() {
        let body = if *goal == "email" {
            json!({"goal": "email", "message": "Join the list"})
        } else {
            json!({"goal": "link", "message": format!("Offer {i}"), "button_label": "Shop", "link_url": "https://shop.example/sale"})
        };
        let bar = call(
            &client,
            &base,
            &cookie,
            post.clone(),
            &format!("/api/v1/sites/{site_id}/bars"),
            body,
        )
        .await;
        let published = call(
            &client,
            &base,
            &cookie,
            post.clone(),
            &format!("/api/v1/bars/{}/publish", bar["id"]),
            json!({}),
        )
        .await;
        deployments.push(published["deployments"][0]["id"].as_i64().unwrap());
    }
    let mut confirmations = vec!["owner@example.com".to_string()];
    // Every node has heard of the deployments (they also take events for ones they have
    // not: those wait for the next write).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let target = Arc::new(AtomicI64::new(deployments[0]));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let load_started = Instant::now();
    let visitors = load(
        format!("{base}/e"),
        target.clone(),
        &plan,
        stop.clone(),
        tally.clone(),
    );

    // (a) PostgreSQL restarts under the load.
    tokio::time::sleep(plan.settle).await;
    pg.stop();
    tokio::time::sleep(plan.outage).await;
    pg.start();
    tokio::time::sleep(plan.settle).await;
    // Leads, once the database is back.
    for i in 0..plan.leads {
        let res = client
            .post(format!("{base}/l"))
            .header("user-agent", UA)
            .header("origin", "https://shop.example")
            .header("x-forwarded-for", format!("10.78.0.{i}"))
            .body(json!({"d": deployments[0], "h": "shop.example", "m": format!("lead{i}@example.net"), "hp": ""}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204);
    }
    confirmations.push("second@example.com".into());
    member(&client, &base, "second@example.com").await;

    // (b) A node gets SIGTERM and comes back.
    target.store(deployments[1], Ordering::Relaxed);
    tokio::time::sleep(plan.settle).await;
    let code = nodes[1].stop();
    assert_eq!(code, Some(0), "a node stopped by SIGTERM exits 0");
    confirmations.push("third@example.com".into());
    member(&client, &base, "third@example.com").await;
    nodes[1].launch();
    healthy(ports[1]).await;
    tokio::time::sleep(plan.settle).await;

    // (c) A node gets SIGKILL.
    target.store(deployments[2], Ordering::Relaxed);
    // What went to the first two deployments has been written by every node by now.
    tokio::time::sleep(plan.settle.max(Duration::from_secs(3))).await;
    let killed_at = Instant::now();
    nodes[2].kill();
    tokio::time::sleep(plan.settle).await;
    stop.store(true, Ordering::Relaxed);
    visitors.await.unwrap();
    let load_time = load_started.elapsed();

    // Mail and leads get their minute; then the living nodes stop and write the rest.
    let want_posts = plan.leads;
    for _ in 0..600 {
        let posted = hook.received_requests().await.unwrap().len();
        let confirmations_in = smtp
            .messages()
            .iter()
            .filter(|m| m.subject.contains("Confirm"))
            .count();
        if posted >= want_posts && confirmations_in >= confirmations.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer, for anything that would arrive twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in [0, 1] {
        assert_eq!(nodes[n].stop(), Some(0));
    }
    drop(balancer);

    let db = sea_orm::Database::connect(pg.url()).await.unwrap();
    // Every sender has finished: the tally is whole, and read without its lock from here.
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    let outcome = |d: i64, stored: i64| Outcome {
        acknowledged: tally.acks.iter().filter(|(x, _, _)| *x == d).count() as i64,
        stored,
        refused: tally.refused.get(&d).copied().unwrap_or(0),
        failed: tally.failed.get(&d).copied().unwrap_or(0),
    };
    let killed_node_recent = tally
        .acks
        .iter()
        .filter(|(_, node, at)| {
            node == "n3"
                && *at <= killed_at
                && killed_at.duration_since(*at) <= Duration::from_millis(2500)
        })
        .count() as u64;
    let mut per_address: HashMap<String, usize> = HashMap::new();
    let messages = smtp.messages();
    for m in messages.iter().filter(|m| m.subject.contains("Confirm")) {
        *per_address.entry(m.to.clone()).or_default() += 1;
    }
    let mut posts: HashMap<i64, usize> = HashMap::new();
    for r in hook.received_requests().await.unwrap() {
        let id = serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
            .as_i64()
            .unwrap();
        *posts.entry(id).or_default() += 1;
    }
    let lead_emails_sent = scalar(
        &db,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'lead_notification' AND status = 'sent'",
    )
    .await;
    let lead_emails_in = messages
        .iter()
        .filter(|m| m.subject.contains("new lead"))
        .count();
    Report {
        database_restart: outcome(deployments[0], stored(&db, deployments[0]).await),
        node_restart: outcome(deployments[1], stored(&db, deployments[1]).await),
        node_killed: outcome(deployments[2], stored(&db, deployments[2]).await),
        killed_node_recent,
        confirmations: (confirmations.len(), per_address),
        leads: (plan.leads, posts),
        lead_emails: (lead_emails_sent, lead_emails_in),
        benchmark_runs: scalar(
            &db,
            "SELECT CAST(COALESCE(MAX(runs), 0) AS BIGINT) FROM job_leases WHERE name = 'benchmarks'",
        )
        .await,
        events_per_second: tally.acks.len() as f64 / load_time.as_secs_f64(),
        duration: started.elapsed(),
    }
}
