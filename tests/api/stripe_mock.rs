//! A local stand-in for Stripe's API (wiremock) that answers with Stripe's own example
//! objects (`tests/fixtures/stripe/`, from Stripe's OpenAPI repository), and webhook
//! events signed exactly as Stripe signs them.
//!
//! barkeep talks to a small front that passes every request on to the wiremock server
//! and its answer back. The front counts what barkeep sent, per path and per
//! Idempotency-Key, before the mock's own idempotency can make two creates look like
//! one; it answers Stripe's 500 when a test asks for failures; and it can hold a
//! subscription read's answer until the test lets it go, so a test decides which of two
//! reads finishes first.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::oneshot;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{Options, TestApp};

pub const SECRET: &str = "whsec_test_barkeep";
pub const PRO_MONTH: &str = "price_pro_month";
pub const PRO_YEAR: &str = "price_pro_year";
pub const BUSINESS_MONTH: &str = "price_business_month";

/// One of Stripe's example objects.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("a Stripe fixture"))
        .expect("fixture JSON")
}

/// What the mock's subscriptions look like now, what barkeep sent, and how the mock
/// misbehaves on request.
#[derive(Default)]
struct State {
    subscriptions: HashMap<String, Value>,
    customers_by_key: HashMap<String, String>,
    /// Every request barkeep sent, in order.
    sent: Vec<Sent>,
    /// Paths (or path prefixes ending in `/`) whose next requests answer a 500, and how
    /// many of them.
    failing: Vec<(String, usize)>,
    /// The next subscription read, once it arrives.
    hold: Option<Hold>,
}

/// A request as barkeep sent it.
struct Sent {
    path: String,
    key: Option<String>,
}

/// The front's half of a held read.
struct Hold {
    arrived: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The test's half of a held read: [`HeldRead::arrived`] waits until the read reached
/// Stripe and Stripe answered it; the answer reaches barkeep when the test calls
/// [`HeldRead::release`] (or drops this).
pub struct HeldRead {
    arrived: Option<oneshot::Receiver<()>>,
    release: oneshot::Sender<()>,
}

impl HeldRead {
    pub async fn arrived(&mut self) {
        let arrived = self.arrived.take().expect("waited for once");
        tokio::time::timeout(Duration::from_secs(10), arrived)
            .await
            .expect("the held read reaches Stripe within 10 s")
            .expect("the mock is running");
    }

    pub fn release(self) {
        let _ = self.release.send(());
    }
}

#[derive(Clone)]
pub struct StripeMock {
    pub server: Arc<MockServer>,
    /// The front's base URL: what barkeep is told Stripe's API is.
    front: String,
    state: Arc<Mutex<State>>,
    /// Customers the mock made: one per Idempotency-Key, as Stripe would.
    pub customers_created: Arc<AtomicUsize>,
}

struct Customers(StripeMock);
impl Respond for Customers {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut state = self.0.state.lock().unwrap();
        let n = state.customers_by_key.len() + 1;
        let id = state
            .customers_by_key
            .entry(key)
            .or_insert_with(|| {
                self.0.customers_created.fetch_add(1, Ordering::SeqCst);
                format!("cus_test{n}")
            })
            .clone();
        let mut customer = fixture("customer");
        customer["id"] = json!(id);
        customer["email"] = json!(form_value(req, "email"));
        ResponseTemplate::new(200).set_body_json(customer)
    }
}

struct Subscriptions(StripeMock);
impl Respond for Subscriptions {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut state = self.0.state.lock().unwrap();
        let Some(sub) = state.subscriptions.get(&id).cloned() else {
            return ResponseTemplate::new(404).set_body_json(json!({
                "error": {"type": "invalid_request_error", "code": "resource_missing",
                          "message": format!("No such subscription: '{id}'"), "param": "id"}
            }));
        };
        let mut sub = sub;
        if req.method.as_str() == "DELETE" {
            sub["status"] = json!("canceled");
            sub["cancellation_details"]["reason"] = json!("cancellation_requested");
            state.subscriptions.insert(id, sub.clone());
        }
        ResponseTemplate::new(200).set_body_json(sub)
    }
}

/// Stripe's answer to a request that failed on its side.
fn stripe_500() -> hyper::Response<Full<Bytes>> {
    let body = json!({"error": {"type": "api_error", "message": "An unknown error occurred"}});
    hyper::Response::builder()
        .status(500)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The front barkeep talks to.
struct Front {
    state: Arc<Mutex<State>>,
    upstream: String,
    client: reqwest::Client,
}

impl Front {
    async fn pass(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.expect("the request's body").to_bytes();
        let path = parts.uri.path().to_string();
        let key = parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let hold = {
            let mut state = self.state.lock().unwrap();
            state.sent.push(Sent {
                path: path.clone(),
                key,
            });
            let failing = state.failing.iter_mut().find(|(p, n)| {
                *n > 0 && (*p == path || (p.ends_with('/') && path.starts_with(p.as_str())))
            });
            if let Some((_, n)) = failing {
                *n -= 1;
                return stripe_500();
            }
            if parts.method == hyper::Method::GET && path.starts_with("/v1/subscriptions/") {
                state.hold.take()
            } else {
                None
            }
        };
        let mut headers = parts.headers;
        headers.remove(hyper::header::HOST);
        let url = format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let answer = self
            .client
            .request(parts.method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .expect("the wiremock server answers");
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer.bytes().await.expect("the wiremock answer's body");
        // Stripe answered already (as it was when the read arrived); barkeep gets the
        // answer when the test says.
        if let Some(hold) = hold {
            let _ = hold.arrived.send(());
            let _ = hold.release.await;
        }
        let mut res = hyper::Response::builder().status(status);
        for (name, value) in &headers {
            if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
                res = res.header(name, value);
            }
        }
        res.body(Full::new(body)).unwrap()
    }
}

/// Serves `front` on a port of its own, on the test's runtime; answers its base URL.
async fn serve(front: Front) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the Stripe front");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let front = Arc::new(front);
    tokio::spawn(async move {
        loop {
            let Ok((io, _)) = listener.accept().await else {
                continue;
            };
            let front = front.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let front = front.clone();
                    async move { Ok::<_, Infallible>(front.pass(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(io), service)
                    .await;
            });
        }
    });
    url
}

/// A form field of a request body (Stripe's API takes form-encoded bodies).
pub fn form_value(req: &Request, key: &str) -> Option<String> {
    url::form_urlencoded::parse(&req.body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl StripeMock {
    pub async fn start() -> StripeMock {
        // The front's client is built before barkeep installs rustls's provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = Arc::new(MockServer::start().await);
        let mut mock = StripeMock {
            server: server.clone(),
            front: String::new(),
            state: Arc::default(),
            customers_created: Arc::default(),
        };
        mock.front = serve(Front {
            state: mock.state.clone(),
            upstream: server.uri(),
            client: reqwest::Client::new(),
        })
        .await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(Customers(mock.clone()))
            .mount(&mock.server)
            .await;
        let mut session = fixture("checkout.session");
        session["id"] = json!("cs_test_barkeep");
        session["url"] = json!("https://checkout.stripe.com/c/pay/cs_test_barkeep");
        Mock::given(method("POST"))
            .and(path("/v1/checkout/sessions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(session))
            .mount(&mock.server)
            .await;
        let mut portal = fixture("billing_portal.session");
        portal["url"] = json!("https://billing.stripe.com/p/session/test_barkeep");
        Mock::given(method("POST"))
            .and(path("/v1/billing_portal/sessions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(portal))
            .mount(&mock.server)
            .await;
        Mock::given(path_regex(r"^/v1/subscriptions/[^/]+$"))
            .respond_with(Subscriptions(mock.clone()))
            .mount(&mock.server)
            .await;
        mock
    }

    /// Options for a barkeep with billing on, talking to this mock.
    pub fn options(&self) -> Options {
        Options::default()
            .var("BARKEEP_STRIPE_SECRET_KEY", "sk_test_barkeep")
            .var("BARKEEP_STRIPE_WEBHOOK_SECRET", SECRET)
            .var("BARKEEP_STRIPE_API_URL", &self.front)
            .var("BARKEEP_STRIPE_PRICE_PRO_MONTH", PRO_MONTH)
            .var("BARKEEP_STRIPE_PRICE_PRO_YEAR", PRO_YEAR)
            .var("BARKEEP_STRIPE_PRICE_BUSINESS_MONTH", BUSINESS_MONTH)
    }

    /// Makes Stripe hold this subscription, as it would after the member's actions.
    pub fn set_subscription(&self, sub: Value) {
        let id = sub["id"].as_str().unwrap().to_string();
        self.state.lock().unwrap().subscriptions.insert(id, sub);
    }

    /// Answers the next `n` subscription reads (and cancellations) with Stripe's 500.
    pub fn fail_next_reads(&self, n: usize) {
        self.fail_next("/v1/subscriptions/", n);
    }

    /// Answers the next `n` requests to `path` (or under it, for a path ending in `/`)
    /// with Stripe's 500, without passing them on.
    pub fn fail_next(&self, path: &str, n: usize) {
        let mut state = self.state.lock().unwrap();
        state.failing.retain(|(p, _)| p != path);
        state.failing.push((path.to_string(), n));
    }

    /// Holds the answer to the next subscription read: Stripe answers it as the
    /// subscription is when the read arrives, and barkeep gets that answer once the
    /// test releases it.
    pub fn hold_next_read(&self) -> HeldRead {
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.state.lock().unwrap().hold = Some(Hold {
            arrived: arrived_tx,
            release: release_rx,
        });
        HeldRead {
            arrived: Some(arrived_rx),
            release: release_tx,
        }
    }

    /// How many requests barkeep sent to `path`, whatever the mock answered.
    pub fn sent_to(&self, p: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .sent
            .iter()
            .filter(|s| s.path == p)
            .count()
    }

    /// The Idempotency-Keys of the requests barkeep sent to `path`, each with how many
    /// requests carried it (`None`: requests without one).
    pub fn keys_sent_to(&self, p: &str) -> BTreeMap<Option<String>, usize> {
        let mut keys = BTreeMap::new();
        for s in self
            .state
            .lock()
            .unwrap()
            .sent
            .iter()
            .filter(|s| s.path == p)
        {
            *keys.entry(s.key.clone()).or_default() += 1;
        }
        keys
    }

    /// The requests the wiremock server received to `path` (`/v1/checkout/sessions`, …):
    /// those the front passed on.
    pub async fn requests_to(&self, p: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == p)
            .collect()
    }

    pub fn customer_id(&self, member: i64) -> String {
        self.state
            .lock()
            .unwrap()
            .customers_by_key
            .get(&format!("barkeep-customer-{member}"))
            .cloned()
            .expect("the member's customer was created")
    }
}

/// Stripe's example subscription, made the member's: `status` on `price`.
pub fn subscription(id: &str, customer: &str, price: &str, status: &str, created: i64) -> Value {
    let mut sub = fixture("subscription");
    sub["id"] = json!(id);
    sub["customer"] = json!(customer);
    sub["status"] = json!(status);
    sub["created"] = json!(created);
    sub["cancel_at_period_end"] = json!(false);
    sub["metadata"] = json!({});
    let item = &mut sub["items"]["data"][0];
    item["subscription"] = json!(id);
    item["price"]["id"] = json!(price);
    item["current_period_start"] = json!(created);
    item["current_period_end"] = json!(created + 30 * 86400);
    sub
}

/// Stripe's event envelope around `object`.
pub fn event(id: &str, kind: &str, object: Value) -> String {
    let mut e = fixture("event");
    e["id"] = json!(id);
    e["type"] = json!(kind);
    e["created"] = json!(1_790_000_000);
    e["data"] = json!({ "object": object });
    e.to_string()
}

/// `Stripe-Signature` as Stripe writes it: HMAC-SHA256 over `"<t>.<body>"` with the
/// endpoint's secret, in hex.
pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

impl TestApp {
    /// Delivers a webhook body signed now with the endpoint's secret.
    pub async fn deliver(&self, body: &str) -> reqwest::Response {
        let t = self.clock.now().timestamp();
        self.deliver_signed(body, &stripe_signature(SECRET, t, body))
            .await
    }

    pub async fn deliver_signed(&self, body: &str, signature: &str) -> reqwest::Response {
        self.client
            .post(self.url("/stripe/webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .expect("webhook delivery")
    }
}
