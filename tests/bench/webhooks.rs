//! `make bench`, the Stripe webhook case: 1,000 signed deliveries of `invoice.paid` (800
//! distinct events, 200 of them delivered a second time, some at the same moment) to the
//! release binary with billing on, against a local Stripe API mock answering with
//! Stripe's own example objects. Each delivery reads the subscription from the mock,
//! applies it and queues a receipt. Reads latency per delivery, and checks that every
//! event was processed exactly once. Loopback only. Appends to target/bench/results.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

mod support;

const SECRET: &str = "whsec_bench";
const PRICE: &str = "price_bench_pro_month";
const MEMBERS: usize = 20;
const DELIVERIES: usize = 1000;
const DUPLICATES: usize = 200;
const CONCURRENCY: usize = 8;

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// `barkeep-customer-7` → `cus_bench7`: the same customer for the same key, as Stripe.
struct Customers;
impl Respond for Customers {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let member = key.rsplit('-').next().unwrap_or("0");
        let mut c = fixture("customer");
        c["id"] = json!(format!("cus_bench{member}"));
        ResponseTemplate::new(200).set_body_json(c)
    }
}

/// `sub_bench7` is member 7's active Pro subscription.
struct Subscriptions(Value);
impl Respond for Subscriptions {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req.url.path().rsplit('/').next().unwrap_or_default();
        let member = id.trim_start_matches("sub_bench");
        let mut s = self.0.clone();
        s["id"] = json!(id);
        s["customer"] = json!(format!("cus_bench{member}"));
        s["status"] = json!("active");
        s["items"]["data"][0]["price"]["id"] = json!(PRICE);
        s["items"]["data"][0]["current_period_end"] = json!(1_799_000_000);
        ResponseTemplate::new(200).set_body_json(s)
    }
}

fn sign(t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    // reqwest here shares barkeep's rustls build, which leaves the provider to the program.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(Customers)
        .mount(&mock)
        .await;
    let mut session = fixture("checkout.session");
    session["url"] = json!("https://checkout.stripe.com/c/pay/cs_bench");
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session))
        .mount(&mock)
        .await;
    Mock::given(path_regex(r"^/v1/subscriptions/[^/]+$"))
        .respond_with(Subscriptions(fixture("subscription")))
        .mount(&mock)
        .await;

    let tmp = tempfile::tempdir().unwrap();
    let (_server, base) = support::start_barkeep(
        tmp.path(),
        database_url.as_deref(),
        &[
            ("BARKEEP_STRIPE_SECRET_KEY", "sk_test_bench".into()),
            ("BARKEEP_STRIPE_WEBHOOK_SECRET", SECRET.into()),
            ("BARKEEP_STRIPE_API_URL", mock.uri()),
            ("BARKEEP_STRIPE_PRICE_PRO_MONTH", PRICE.into()),
        ],
    );
    let client = reqwest::Client::new();

    eprintln!("bench: {MEMBERS} members through Checkout");
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let email = format!("payer{i}@example.com");
        let cookie = support::session(&client, &base, &email).await;
        let me: Value = client
            .get(format!("{base}/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let res = client
            .post(format!("{base}/api/v1/billing/checkout"))
            .header("cookie", &cookie)
            .json(&json!({"plan": "pro", "interval": "month"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "checkout: {}", res.status());
        members.push(me["id"].as_i64().unwrap());
    }

    // 800 distinct invoice.paid events, then 200 of them again; the repeats are mixed
    // in, so some arrive while their first delivery is being processed.
    let unique = DELIVERIES - DUPLICATES;
    let bodies: Vec<String> = (0..unique)
        .map(|i| {
            let member = members[i % members.len()];
            let mut invoice = fixture("invoice");
            invoice["id"] = json!(format!("in_bench{i}"));
            invoice["customer"] = json!(format!("cus_bench{member}"));
            invoice["subscription"] = json!(format!("sub_bench{member}"));
            invoice["status"] = json!("paid");
            invoice["amount_paid"] = json!(2000);
            let mut e = fixture("event");
            e["id"] = json!(format!("evt_bench{i}"));
            e["type"] = json!("invoice.paid");
            e["data"] = json!({"object": invoice});
            e.to_string()
        })
        .collect();
    // Every fourth event is sent twice in a row: with several senders, the two copies
    // often arrive together.
    let every = unique / DUPLICATES;
    let order: Vec<String> = (0..unique)
        .flat_map(|i| {
            let times = if i % every == 0 { 2 } else { 1 };
            std::iter::repeat_n(bodies[i].clone(), times)
        })
        .collect();
    assert_eq!(order.len(), DELIVERIES);
    let queue = Arc::new(std::sync::Mutex::new(order.into_iter()));

    eprintln!("bench: {DELIVERIES} signed deliveries, {CONCURRENCY} at a time");
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (queue, client, url) = (
            queue.clone(),
            client.clone(),
            format!("{base}/stripe/webhook"),
        );
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let Some(body) = queue.lock().unwrap().next() else {
                    break;
                };
                let t = chrono::Utc::now().timestamp();
                let sent = Instant::now();
                let res = client
                    .post(&url)
                    .header("stripe-signature", sign(t, &body))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let ack: Value = res.json().await.unwrap_or_default();
                out.push((
                    sent.elapsed().as_secs_f64() * 1000.0,
                    status.as_u16(),
                    ack["status"].as_str().unwrap_or("").to_string(),
                ));
            }
            out
        }));
    }
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    let mut ms: Vec<f64> = results.iter().map(|r| r.0).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let ok = results.iter().filter(|r| r.1 == 200).count();
    let processed = results.iter().filter(|r| r.2 == "processed").count();
    let duplicate = results
        .iter()
        .filter(|r| r.2 == "duplicate" || r.2 == "in_progress")
        .count();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let url = support::database_url(tmp.path(), database_url.as_deref());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let count = |sql: &str| {
        let sql = sql.to_string();
        let db = &db;
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
        }
    };
    let events = count("SELECT COUNT(*) FROM stripe_events WHERE status = 'processed'").await;
    let receipts = count("SELECT COUNT(*) FROM outbox WHERE kind = 'billing_receipt'").await;

    let report = format!(
        "\n### Stripe webhooks ({} database)\n\n| measure | result |\n|---|---|\n\
| deliveries (800 distinct `invoice.paid`, 200 repeated; {CONCURRENCY} at a time) | {DELIVERIES} in {:.2} s, {:.0} per second |\n\
| latency per delivery | p50 {:.2} ms, **p99 {:.2} ms**, max {:.2} ms |\n\
| answered 200 / processed / duplicate or in progress | {ok} / {processed} / {duplicate} |\n\
| events processed in the database / receipts queued | {events} / {receipts} (want {unique} / {unique}) |\n",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        elapsed.as_secs_f64(),
        DELIVERIES as f64 / elapsed.as_secs_f64(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0),
    );
    println!("{report}");
    support::append_report(&report);
    assert_eq!(ok, DELIVERIES, "every delivery answered 200");
    assert_eq!((events, receipts), (unique as i64, unique as i64));
}
