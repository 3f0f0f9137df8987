//! A local stand-in for Stripe's API (wiremock) that answers with Stripe's own example
//! objects (`tests/fixtures/stripe/`, from Stripe's OpenAPI repository), and webhook
//! events signed exactly as Stripe signs them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
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

/// What the mock's subscriptions look like now, and how it misbehaves on request.
#[derive(Default)]
struct State {
    subscriptions: HashMap<String, Value>,
    customers_by_key: HashMap<String, String>,
    /// Answer this many subscription reads with a 500 first.
    fail_reads: usize,
    /// Hold the next subscription read's answer this long (it is taken when asked).
    delay_next_read: Option<Duration>,
}

#[derive(Clone)]
pub struct StripeMock {
    pub server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
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
        if state.fail_reads > 0 {
            state.fail_reads -= 1;
            return ResponseTemplate::new(500).set_body_json(json!({
                "error": {"type": "api_error", "message": "An unknown error occurred"}
            }));
        }
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
        let mut answer = ResponseTemplate::new(200).set_body_json(sub);
        if let Some(delay) = state.delay_next_read.take() {
            answer = answer.set_delay(delay);
        }
        answer
    }
}

/// A form field of a request body (Stripe's API takes form-encoded bodies).
pub fn form_value(req: &Request, key: &str) -> Option<String> {
    url::form_urlencoded::parse(&req.body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl StripeMock {
    pub async fn start() -> StripeMock {
        let mock = StripeMock {
            server: Arc::new(MockServer::start().await),
            state: Arc::default(),
            customers_created: Arc::default(),
        };
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
            .var("BARKEEP_STRIPE_API_URL", &self.server.uri())
            .var("BARKEEP_STRIPE_PRICE_PRO_MONTH", PRO_MONTH)
            .var("BARKEEP_STRIPE_PRICE_PRO_YEAR", PRO_YEAR)
            .var("BARKEEP_STRIPE_PRICE_BUSINESS_MONTH", BUSINESS_MONTH)
    }

    /// Makes Stripe hold this subscription, as it would after the member's actions.
    pub fn set_subscription(&self, sub: Value) {
        let id = sub["id"].as_str().unwrap().to_string();
        self.state.lock().unwrap().subscriptions.insert(id, sub);
    }

    pub fn fail_next_reads(&self, n: usize) {
        self.state.lock().unwrap().fail_reads = n;
    }

    pub fn delay_next_read(&self, by: Duration) {
        self.state.lock().unwrap().delay_next_read = Some(by);
    }

    /// The requests the mock received to `path` (`POST /v1/checkout/sessions`, …).
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
