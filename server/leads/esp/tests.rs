//! Every provider against a local mock that answers with the recorded examples in
//! `tests/fixtures/esp/`. A call must match its example's method, path, headers (but the
//! content negotiation ones) and body, less the name fields a lead never has; each
//! recorded answer must give the right outcome.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use proptest::prelude::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use super::{Credentials, Esp, ListChoice, Outcome, Provider, activecampaign, mailchimp};
use crate::egress::{Egress, Resolver};

const EMAIL: &str = "jane.doe@example.com";

/// One call of an add, as recorded.
struct Step {
    request: &'static str,
    /// JSON pointers of what the recorded body holds that a lead never has (names, the
    /// visitor's IP address, the page).
    omit: &'static [&'static str],
    /// Query parameters sent besides (or instead of) the recorded ones.
    query: &'static [(&'static str, &'static str)],
    /// The answers for a new address and for one already there.
    new: &'static str,
    existing: &'static str,
}

struct Spec {
    provider: Provider,
    list: &'static str,
    double_opt_in: bool,
    steps: &'static [Step],
    /// The answers for an address already there say so.
    tells_existing: bool,
    /// What the recorded 429 should make the job wait.
    wait: Duration,
    lists_query: &'static [(&'static str, &'static str)],
    lists: &'static [(&'static str, &'static str)],
}

const SPECS: [Spec; 7] = [
    Spec {
        provider: Provider::Mailchimp,
        list: "a1b2c3d4e5",
        double_opt_in: true,
        steps: &[Step {
            request: "add_subscriber.request.json",
            omit: &["/merge_fields", "/ip_signup"],
            query: &[("skip_merge_validation", "true")],
            new: "add_subscriber.response.json",
            existing: "already_subscribed.response.json",
        }],
        tells_existing: true,
        // No Retry-After: Mailchimp's default.
        wait: Duration::from_secs(30),
        // Exactly the recorded request.
        lists_query: &[],
        lists: &[
            ("a1b2c3d4e5", "Newsletter"),
            ("f6e5d4c3b2", "Product launch waitlist"),
        ],
    },
    Spec {
        provider: Provider::Kit,
        list: "form:5612847",
        double_opt_in: true,
        steps: &[
            Step {
                request: "create_subscriber.request.json",
                omit: &["/first_name"],
                query: &[],
                new: "create_subscriber.response.json",
                existing: "create_subscriber_existing.response.json",
            },
            Step {
                request: "add_subscriber.request.json",
                omit: &["/referrer"],
                query: &[],
                new: "add_subscriber.response.json",
                existing: "already_subscribed.response.json",
            },
        ],
        tells_existing: true,
        // A plain-text 429 without Retry-After: Kit's default.
        wait: Duration::from_secs(60),
        lists_query: &[],
        lists: &[
            ("form:5612847", "Form: Newsletter sign-up"),
            ("form:5613002", "Form: Launch waitlist"),
            ("tag:4821", "Tag: website-bar"),
            ("tag:4822", "Tag: spring-sale"),
        ],
    },
    Spec {
        provider: Provider::Brevo,
        list: "7",
        // Not offered: the switch must change nothing.
        double_opt_in: true,
        steps: &[Step {
            request: "add_subscriber.request.json",
            omit: &["/attributes"],
            query: &[],
            new: "add_subscriber.response.json",
            existing: "already_subscribed.response.json",
        }],
        tells_existing: true,
        // x-sib-ratelimit-reset: 1
        wait: Duration::from_secs(1),
        lists_query: &[],
        lists: &[("7", "Newsletter"), ("9", "Launch waitlist")],
    },
    Spec {
        provider: Provider::Mailerlite,
        list: "165971156405323676",
        double_opt_in: false,
        steps: &[Step {
            request: "add_subscriber.request.json",
            omit: &["/fields", "/ip_address"],
            query: &[],
            new: "add_subscriber.response.json",
            existing: "already_subscribed.response.json",
        }],
        tells_existing: true,
        wait: Duration::from_secs(59),
        lists_query: &[],
        lists: &[
            ("171203944561817322", "Launch waitlist"),
            ("165971156405323676", "Newsletter"),
        ],
    },
    Spec {
        provider: Provider::Klaviyo,
        list: "Y6nRLr",
        // The list decides: the switch must change nothing.
        double_opt_in: true,
        steps: &[Step {
            request: "add_subscriber.request.json",
            omit: &[],
            query: &[],
            new: "add_subscriber.response.json",
            existing: "already_subscribed.response.json",
        }],
        // 202 and an empty body either way.
        tells_existing: false,
        wait: Duration::from_secs(3),
        lists_query: &[],
        lists: &[("Y6nRLr", "Newsletter"), ("XkP9vQ", "Launch waitlist")],
    },
    Spec {
        provider: Provider::Hubspot,
        list: "412",
        double_opt_in: true,
        steps: &[
            Step {
                request: "add_subscriber.request.json",
                omit: &[
                    "/inputs/0/properties/firstname",
                    "/inputs/0/properties/lastname",
                ],
                query: &[],
                new: "add_subscriber.response.json",
                existing: "already_subscribed.response.json",
            },
            Step {
                request: "add_to_list.request.json",
                omit: &[],
                query: &[],
                new: "add_to_list.response.json",
                existing: "add_to_list.response.json",
            },
        ],
        tells_existing: true,
        // No Retry-After: HubSpot's default.
        wait: Duration::from_secs(10),
        lists_query: &[],
        lists: &[("412", "Website bar leads"), ("437", "Launch waitlist")],
    },
    Spec {
        provider: Provider::Activecampaign,
        list: "2",
        double_opt_in: true,
        steps: &[
            Step {
                request: "add_subscriber.request.json",
                omit: &["/contact/firstName", "/contact/lastName"],
                query: &[],
                new: "add_subscriber.response.json",
                existing: "already_subscribed.response.json",
            },
            Step {
                request: "add_to_list.request.json",
                omit: &[],
                query: &[],
                new: "add_to_list.response.json",
                existing: "add_to_list.response.json",
            },
        ],
        tells_existing: true,
        wait: Duration::from_secs(30),
        lists_query: &[],
        lists: &[("2", "Newsletter"), ("5", "Launch waitlist")],
    },
];

fn spec(provider: Provider) -> &'static Spec {
    SPECS.iter().find(|s| s.provider == provider).unwrap()
}

fn fixture(provider: Provider, file: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/esp/{}/{file}",
        env!("CARGO_MANIFEST_DIR"),
        provider.slug()
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A recorded answer as the mock's response: status, headers, and the body as JSON, as
/// text, or none.
fn answer(recorded: &Value) -> ResponseTemplate {
    let status = u16::try_from(recorded["status"].as_u64().unwrap()).unwrap();
    let mut template = ResponseTemplate::new(status);
    let mut content_type = None;
    for (name, value) in recorded["headers"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        } else {
            template = template.insert_header(name.as_str(), value);
        }
    }
    match &recorded["body"] {
        Value::Null => match content_type {
            Some(ct) => template.insert_header("content-type", ct),
            None => template,
        },
        Value::String(text) => template.set_body_raw(
            text.clone().into_bytes(),
            content_type.unwrap_or("text/plain"),
        ),
        body => template.set_body_raw(
            serde_json::to_vec(body).unwrap(),
            content_type.unwrap_or("application/json"),
        ),
    }
}

/// A mock that matches a recorded request: its method, path and query (`query` adds or
/// replaces parameters), every header but `Content-Type` and `Accept` (which
/// [`super::Conn::send`] sets), and its JSON body less the `omit` pointers.
fn expect(recorded: &Value, omit: &[&str], query: &[(&str, &str)]) -> MockBuilder {
    let url = url::Url::parse(recorded["url"].as_str().unwrap()).unwrap();
    let mut mock = Mock::given(method(recorded["method"].as_str().unwrap())).and(path(url.path()));
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for (name, value) in query {
        params.retain(|(n, _)| n.as_str() != *name);
        params.push((name.to_string(), value.to_string()));
    }
    for (name, value) in params {
        mock = mock.and(query_param(name, value));
    }
    for (name, value) in recorded["headers"].as_object().unwrap() {
        if !name.eq_ignore_ascii_case("content-type") && !name.eq_ignore_ascii_case("accept") {
            mock = mock.and(header(name.as_str(), value.as_str().unwrap()));
        }
    }
    let mut body = recorded["body"].clone();
    if !body.is_null() {
        for pointer in omit {
            let (parent, field) = pointer.rsplit_once('/').unwrap();
            let removed = body
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .and_then(|o| o.remove(field));
            assert!(removed.is_some(), "{pointer} is not in {}", recorded["url"]);
        }
        mock = mock.and(body_json(body));
    }
    mock
}

/// The key in the recorded auth header.
fn key(provider: Provider) -> String {
    let recorded = fixture(provider, "lists.request.json");
    let headers = recorded["headers"].as_object().unwrap();
    let get = |name: &str| headers[name].as_str().unwrap().to_string();
    match provider {
        Provider::Mailchimp => {
            let basic = get("Authorization");
            let pair = base64::engine::general_purpose::STANDARD
                .decode(basic.strip_prefix("Basic ").unwrap())
                .unwrap();
            let pair = String::from_utf8(pair).unwrap();
            pair.split_once(':').unwrap().1.to_string()
        }
        Provider::Kit => get("X-Kit-Api-Key"),
        Provider::Brevo => get("api-key"),
        Provider::Mailerlite | Provider::Hubspot => get("Authorization")
            .strip_prefix("Bearer ")
            .unwrap()
            .to_string(),
        Provider::Klaviyo => get("Authorization")
            .strip_prefix("Klaviyo-API-Key ")
            .unwrap()
            .to_string(),
        Provider::Activecampaign => get("Api-Token"),
    }
}

fn esp(provider: Provider, server: &MockServer) -> Esp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let egress = Egress::new(Resolver::system(), true).unwrap();
    Esp::new(egress, HashMap::from([(provider, server.uri())])).unwrap()
}

fn creds(key: &str) -> Credentials<'_> {
    Credentials {
        key,
        // Replaced by the mock's address, like any operator override.
        api_url: Some("https://exampleshop.api-us1.com"),
    }
}

async fn add(spec: &Spec, server: &MockServer, list: &str, double_opt_in: bool) -> Outcome {
    let key = key(spec.provider);
    esp(spec.provider, server)
        .subscribe(spec.provider, creds(&key), list, EMAIL, double_opt_in)
        .await
}

async fn lists(provider: Provider, server: &MockServer) -> Result<Vec<ListChoice>, Outcome> {
    let key = key(provider);
    esp(provider, server).lists(provider, creds(&key)).await
}

fn status(provider: Provider, file: &str) -> u16 {
    u16::try_from(fixture(provider, file)["status"].as_u64().unwrap()).unwrap()
}

/// Mounts every step of the add, each expected once, answering `answers(step)`.
async fn mount_add(spec: &Spec, server: &MockServer, answers: impl Fn(&Step) -> &'static str) {
    for step in spec.steps {
        let recorded = fixture(spec.provider, step.request);
        expect(&recorded, step.omit, step.query)
            .respond_with(answer(&fixture(spec.provider, answers(step))))
            .expect(1)
            .mount(server)
            .await;
    }
}

/// The first step answers `file`; any later step must not be called.
async fn first_step_answers(spec: &Spec, file: &str) -> Outcome {
    let server = MockServer::start().await;
    for (i, step) in spec.steps.iter().enumerate() {
        let recorded = fixture(spec.provider, step.request);
        let (reply, times) = if i == 0 {
            (fixture(spec.provider, file), 1)
        } else {
            (fixture(spec.provider, step.new), 0)
        };
        expect(&recorded, step.omit, step.query)
            .respond_with(answer(&reply))
            .expect(times)
            .mount(&server)
            .await;
    }
    let outcome = add(spec, &server, spec.list, spec.double_opt_in).await;
    server.verify().await;
    let key = key(spec.provider);
    let error = match &outcome {
        Outcome::Delivered { .. } => "",
        Outcome::Retry { error, .. }
        | Outcome::Dropped { error, .. }
        | Outcome::Refused { error, .. } => error.as_str(),
    };
    assert!(
        !error.contains(&key),
        "{:?}: the key is in {error}",
        spec.provider
    );
    outcome
}

#[tokio::test]
async fn a_new_address_is_delivered() {
    for spec in &SPECS {
        let server = MockServer::start().await;
        mount_add(spec, &server, |s| s.new).await;
        let outcome = add(spec, &server, spec.list, spec.double_opt_in).await;
        let last = spec.steps.last().unwrap();
        assert_eq!(
            outcome,
            Outcome::Delivered {
                status: status(spec.provider, last.new),
                existing: false
            },
            "{:?}",
            spec.provider
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn an_address_already_there_is_delivered() {
    for spec in &SPECS {
        let server = MockServer::start().await;
        mount_add(spec, &server, |s| s.existing).await;
        let outcome = add(spec, &server, spec.list, spec.double_opt_in).await;
        let last = spec.steps.last().unwrap();
        assert_eq!(
            outcome,
            Outcome::Delivered {
                status: status(spec.provider, last.existing),
                existing: spec.tells_existing
            },
            "{:?}",
            spec.provider
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn a_bad_key_is_refused() {
    for spec in &SPECS {
        let outcome = first_step_answers(spec, "bad_key.response.json").await;
        let expected = status(spec.provider, "bad_key.response.json");
        assert!(
            matches!(outcome, Outcome::Refused { status, .. } if status == expected),
            "{:?}: {outcome:?}",
            spec.provider
        );
    }
}

#[tokio::test]
async fn an_invalid_address_is_dropped() {
    for spec in &SPECS {
        let outcome = first_step_answers(spec, "invalid_email.response.json").await;
        let expected = status(spec.provider, "invalid_email.response.json");
        assert!(
            matches!(outcome, Outcome::Dropped { status, .. } if status == expected),
            "{:?}: {outcome:?}",
            spec.provider
        );
    }
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_wait_asked_for() {
    for spec in &SPECS {
        let outcome = first_step_answers(spec, "rate_limited.response.json").await;
        assert!(
            matches!(
                outcome,
                Outcome::Retry { status: Some(429), after: Some(after), .. } if after == spec.wait
            ),
            "{:?}: {outcome:?}",
            spec.provider
        );
    }
}

/// Mounts the list picker's call(s), each expected once, answering `answer_file`.
async fn mount_lists(spec: &Spec, server: &MockServer, answer_file: &str) {
    let recorded = fixture(spec.provider, "lists.request.json");
    expect(&recorded, &[], spec.lists_query)
        .respond_with(answer(&fixture(spec.provider, answer_file)))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn lists_are_read() {
    for spec in &SPECS {
        let server = MockServer::start().await;
        mount_lists(spec, &server, "lists.response.json").await;
        if spec.provider == Provider::Kit {
            Mock::given(method("GET"))
                .and(path("/v4/tags"))
                .and(query_param("per_page", "500"))
                .and(header("X-Kit-Api-Key", key(Provider::Kit).as_str()))
                .respond_with(answer(&fixture(Provider::Kit, "tags.response.json")))
                .expect(1)
                .mount(&server)
                .await;
        }
        let expected: Vec<ListChoice> = spec
            .lists
            .iter()
            .map(|(id, name)| ListChoice {
                id: id.to_string(),
                name: name.to_string(),
            })
            .collect();
        assert_eq!(
            lists(spec.provider, &server).await,
            Ok(expected),
            "{:?}",
            spec.provider
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn lists_with_a_bad_key_are_refused() {
    for spec in &SPECS {
        let server = MockServer::start().await;
        mount_lists(spec, &server, "bad_key.response.json").await;
        let outcome = lists(spec.provider, &server).await;
        assert!(
            matches!(outcome, Err(Outcome::Refused { .. })),
            "{:?}: {outcome:?}",
            spec.provider
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn a_list_id_that_could_leave_the_path_is_refused_before_any_call() {
    for spec in &SPECS {
        let server = MockServer::start().await;
        for list in ["../../contacts", "7?x=1", "a b", "", "form:../1", "%2e%2e"] {
            let outcome = add(spec, &server, list, false).await;
            assert!(
                matches!(outcome, Outcome::Refused { status: 0, .. }),
                "{:?} {list:?}: {outcome:?}",
                spec.provider
            );
        }
        let received = server.received_requests().await.unwrap();
        assert!(received.is_empty(), "{:?}", spec.provider);
    }
}

#[tokio::test]
async fn mailchimp_and_kit_follow_the_double_opt_in_switch() {
    // Off: Mailchimp subscribes at once, Kit creates the subscriber active.
    let server = MockServer::start().await;
    let mailchimp = fixture(Provider::Mailchimp, "add_subscriber.request.json");
    let url = url::Url::parse(mailchimp["url"].as_str().unwrap()).unwrap();
    let body =
        json!({"email_address": EMAIL, "status_if_new": "subscribed", "tags": ["website-bar"]});
    Mock::given(method("PUT"))
        .and(path(url.path()))
        .and(query_param("skip_merge_validation", "true"))
        .and(body_json(body))
        .respond_with(answer(&fixture(
            Provider::Mailchimp,
            "already_subscribed.response.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = add(spec(Provider::Mailchimp), &server, "a1b2c3d4e5", false).await;
    // Asked for "subscribed", got "subscribed": nothing tells it was already there.
    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 200,
            existing: false
        }
    );
    server.verify().await;

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v4/subscribers"))
        .and(body_json(
            json!({"email_address": EMAIL, "state": "active"}),
        ))
        .respond_with(answer(&fixture(
            Provider::Kit,
            "create_subscriber.response.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v4/forms/5612847/subscribers"))
        .and(body_json(json!({"email_address": EMAIL})))
        .respond_with(answer(&fixture(
            Provider::Kit,
            "add_subscriber.response.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = add(spec(Provider::Kit), &server, "form:5612847", false).await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 201,
            existing: false
        }
    );
    server.verify().await;
}

#[tokio::test]
async fn mailerlite_asks_for_confirmation_with_unconfirmed() {
    let server = MockServer::start().await;
    let recorded = fixture(Provider::Mailerlite, "double_opt_in.request.json");
    expect(&recorded, &["/fields", "/ip_address"], &[])
        .respond_with(answer(&fixture(
            Provider::Mailerlite,
            "add_subscriber.response.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = add(
        spec(Provider::Mailerlite),
        &server,
        "165971156405323676",
        true,
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 201,
            existing: false
        }
    );
    server.verify().await;
}

#[tokio::test]
async fn kit_adds_to_a_tag() {
    let server = MockServer::start().await;
    // A tag sends no confirmation email: its subscriber is created active even with the
    // switch on, or it would stay inactive.
    let mut create = fixture(Provider::Kit, "create_subscriber.request.json");
    create["body"]["state"] = serde_json::json!("active");
    expect(&create, &["/first_name"], &[])
        .respond_with(answer(&fixture(
            Provider::Kit,
            "create_subscriber.response.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let tag = fixture(Provider::Kit, "tag_subscriber.request.json");
    expect(&tag, &[], &[])
        .respond_with(answer(&fixture(
            Provider::Kit,
            "add_subscriber.response.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = add(spec(Provider::Kit), &server, "tag:4821", true).await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 201,
            existing: false
        }
    );
    server.verify().await;
}

/// HubSpot and ActiveCampaign: a first step that gives no contact id is tried again, and
/// the second step is not called.
#[tokio::test]
async fn a_first_step_without_a_contact_id_is_retried() {
    let cases = [
        (
            Provider::Hubspot,
            json!({"status": "COMPLETE", "results": []}),
        ),
        (
            Provider::Activecampaign,
            json!({"fieldValues": [], "contact": {"email": EMAIL}}),
        ),
    ];
    for (provider, body) in cases {
        let spec = spec(provider);
        let server = MockServer::start().await;
        let first = &spec.steps[0];
        expect(&fixture(provider, first.request), first.omit, first.query)
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        let second = &spec.steps[1];
        expect(
            &fixture(provider, second.request),
            second.omit,
            second.query,
        )
        .respond_with(answer(&fixture(provider, second.new)))
        .expect(0)
        .mount(&server)
        .await;
        let outcome = add(spec, &server, spec.list, false).await;
        assert!(
            matches!(
                outcome,
                Outcome::Retry {
                    status: Some(200),
                    ..
                }
            ),
            "{provider:?}: {outcome:?}"
        );
        server.verify().await;
    }
}

/// HubSpot and ActiveCampaign: the second step's body holds only ids, so a 4xx there is
/// about the list and stops the forward instead of dropping the address.
#[tokio::test]
async fn a_second_step_refusal_is_about_the_list() {
    for provider in [Provider::Hubspot, Provider::Activecampaign] {
        let spec = spec(provider);
        let server = MockServer::start().await;
        let first = &spec.steps[0];
        expect(&fixture(provider, first.request), first.omit, first.query)
            .respond_with(answer(&fixture(provider, first.new)))
            .expect(1)
            .mount(&server)
            .await;
        let second = &spec.steps[1];
        expect(
            &fixture(provider, second.request),
            second.omit,
            second.query,
        )
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": "error", "message": "List is not MANUAL"})),
        )
        .expect(1)
        .mount(&server)
        .await;
        let outcome = add(spec, &server, spec.list, false).await;
        assert!(
            matches!(outcome, Outcome::Refused { status: 400, .. }),
            "{provider:?}: {outcome:?}"
        );
        server.verify().await;
    }
}

#[test]
fn the_mailchimp_hash_is_the_md5_of_the_lower_cased_address() {
    let recorded = fixture(Provider::Mailchimp, "add_subscriber.request.json");
    let url = recorded["url"].as_str().unwrap();
    let hash = url.rsplit('/').next().unwrap();
    assert_eq!(mailchimp::subscriber_hash(EMAIL), hash);
    assert_eq!(mailchimp::subscriber_hash("Jane.Doe@Example.COM"), hash);
    assert_eq!(hash, "0cba00ca3da1b283a57287bcceb17e35");
}

#[test]
fn the_mailchimp_origin_comes_from_the_key() {
    assert_eq!(
        mailchimp::origin(&key(Provider::Mailchimp)),
        Ok("https://us6.api.mailchimp.com".to_string())
    );
    assert_eq!(
        mailchimp::origin("abc-def-us21"),
        Ok("https://us21.api.mailchimp.com".to_string())
    );
    for bad in [
        "",
        "0123456789abcdef",
        "abc-",
        "abc-US6",
        "abc-us6 ",
        "abc-us6.evil.com/x",
        "abc-us6123456789",
    ] {
        let outcome = mailchimp::origin(bad);
        assert!(
            matches!(&outcome, Err(Outcome::Refused { status: 0, error }) if error.contains("-us6")),
            "{bad:?}: {outcome:?}"
        );
    }
}

#[test]
fn the_activecampaign_origin_is_the_api_url_host() {
    let ok = |raw: &str| activecampaign::origin(Some(raw));
    let host = "https://exampleshop.api-us1.com".to_string();
    assert_eq!(ok("https://exampleshop.api-us1.com"), Ok(host.clone()));
    assert_eq!(ok(" https://exampleshop.api-us1.com/ "), Ok(host.clone()));
    assert_eq!(
        ok("https://ExampleShop.API-us1.com/api/3"),
        Ok(host.clone())
    );
    assert_eq!(ok("HTTPS://exampleshop.api-us1.com/api/3/"), Ok(host));
    assert_eq!(
        ok("https://exampleshop.activehosted.com:8443"),
        Ok("https://exampleshop.activehosted.com:8443".to_string())
    );
    for bad in [
        "",
        "   ",
        "exampleshop.api-us1.com",
        "http://exampleshop.api-us1.com",
        "https://exampleshop.api-us1.com/admin",
        "https://exampleshop.api-us1.com?x=1",
        "https://user:pass@exampleshop.api-us1.com",
        "https://localhost",
        "https://exampleshop.api-us1.com:0",
        "https://exampleshop.api-us1.com:99999",
        "https://-bad.api-us1.com",
        "https://[::1]",
    ] {
        assert!(
            matches!(ok(bad), Err(Outcome::Refused { status: 0, .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        activecampaign::origin(None),
        Err(Outcome::Refused { status: 0, .. })
    ));
}

/// Strings shaped like keys and API URLs, and anything at all.
fn near_origins() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-f]{0,8}(-[a-zA-Z0-9.:/ ]{0,12}){0,2}",
        "(https|HTTPS|http)://[a-zA-Z0-9.@:-]{0,30}(/api/3)?/?[?#/a-z]{0,3}",
    ]
}

proptest! {
    #[test]
    fn the_mailchimp_origin_is_only_ever_the_keys_data_centre(key in near_origins()) {
        if let Ok(origin) = mailchimp::origin(&key) {
            let dc = key.rsplit('-').next().unwrap();
            prop_assert!(!dc.is_empty() && dc.len() <= 10);
            prop_assert!(dc.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            prop_assert_eq!(origin, format!("https://{dc}.api.mailchimp.com"));
        }
    }

    #[test]
    fn the_activecampaign_origin_is_only_ever_the_urls_host(raw in near_origins()) {
        if let Ok(origin) = activecampaign::origin(Some(&raw)) {
            let authority = origin.strip_prefix("https://").unwrap();
            prop_assert!(!authority.is_empty());
            prop_assert!(authority
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b)));
            prop_assert!(raw.to_ascii_lowercase().contains(authority), "{} from {:?}", origin, raw);
        }
    }
}
