//! Billing through a local Stripe mock: Checkout and the portal, signed webhooks in any
//! order and any number, billing email exactly once, plan limits at their boundaries,
//! and billing switched off.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{BROWSER_UA, TestApp, body_json, ev, link_bar};
use crate::stripe_mock::{
    BUSINESS_MONTH, PRO_MONTH, SECRET, StripeMock, event, fixture, stripe_signature, subscription,
};

async fn member_id(app: &TestApp, cookie: &str) -> i64 {
    body_json(app.get_as("/api/v1/me", cookie).await).await["id"]
        .as_i64()
        .unwrap()
}

async fn billing(app: &TestApp, cookie: &str) -> Value {
    let res = app.get_as("/api/v1/billing", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res).await
}

async fn checkout(app: &TestApp, cookie: &str, plan: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/billing/checkout",
        &json!({"plan": plan, "interval": "month"}),
        Some(cookie),
    )
    .await
}

/// A member who went through Checkout: (cookie, member id, Stripe customer id).
async fn customer(app: &TestApp, stripe: &StripeMock, email: &str) -> (String, i64, String) {
    let cookie = app.member(email).await;
    let id = member_id(app, &cookie).await;
    assert_eq!(checkout(app, &cookie, "pro").await.status(), StatusCode::OK);
    (cookie, id, stripe.customer_id(id))
}

/// A Checkout Session barkeep created for `member`, completed.
fn completed(member: i64, customer: &str, sub: &str) -> Value {
    let mut s = fixture("checkout.session");
    s["id"] = json!(format!("cs_{sub}"));
    s["client_reference_id"] = json!(member.to_string());
    s["metadata"] = json!({"barkeep_member_id": member.to_string(), "barkeep_plan": "pro"});
    s["customer"] = json!(customer);
    s["subscription"] = json!(sub);
    s["mode"] = json!("subscription");
    s["status"] = json!("complete");
    s
}

fn invoice(id: &str, customer: &str, sub: &str, amount: i64) -> Value {
    let mut i = fixture("invoice");
    i["id"] = json!(id);
    i["customer"] = json!(customer);
    i["subscription"] = json!(null);
    i["parent"] = json!({"type": "subscription_details", "quote_details": null,
        "subscription_details": {"metadata": {}, "subscription": sub}});
    i["status"] = json!("paid");
    i["amount_paid"] = json!(amount);
    i["amount_due"] = json!(amount);
    i["currency"] = json!("usd");
    i["hosted_invoice_url"] = json!(format!("https://invoice.stripe.com/i/{id}"));
    i["lines"]["data"][0]["period"] = json!({"start": 1_796_000_000, "end": 1_798_592_000});
    i
}

async fn deliver_ok(app: &TestApp, body: &str) -> Value {
    let res = app.deliver(body).await;
    let status = res.status();
    let value = body_json(res).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    value
}

fn count(emails: &[crate::helpers::Email], to: &str, subject: &str) -> usize {
    emails
        .iter()
        .filter(|m| m.to == to && m.subject.contains(subject))
        .count()
}

async fn rows(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn checkout_then_webhooks_put_the_member_on_the_plan_and_email_one_receipt() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let cookie = app.member("payer@example.com").await;
    let member = member_id(&app, &cookie).await;

    let before = billing(&app, &cookie).await;
    assert_eq!(before["plan"], "free");
    assert_eq!(before["status"], "free");
    assert_eq!(before["limits"]["monthly_views"], 5000);
    assert_eq!(before["limits"]["branding_removable"], false);

    let res = checkout(&app, &cookie, "pro").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body_json(res).await["url"],
        "https://checkout.stripe.com/c/pay/cs_test_barkeep"
    );
    // One checkout sends one customer create and one session create.
    assert_eq!(stripe.sent_to("/v1/customers"), 1);
    assert_eq!(stripe.sent_to("/v1/checkout/sessions"), 1);
    // A second checkout reuses the customer: barkeep sends no second create (which the
    // mock, like Stripe, would answer with the same customer for the same key).
    assert_eq!(
        checkout(&app, &cookie, "pro").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stripe.keys_sent_to("/v1/customers"),
        BTreeMap::from([(Some(format!("barkeep-customer-{member}")), 1)]),
        "one customer create, under the member's key"
    );
    assert_eq!(
        stripe
            .customers_created
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Each checkout is one session create under a key of its own: two checkouts are
    // two sessions, never one answered twice.
    let keys = stripe.keys_sent_to("/v1/checkout/sessions");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|(k, n)| k.is_some() && *n == 1), "{keys:?}");
    let sessions = stripe.requests_to("/v1/checkout/sessions").await;
    assert_eq!(sessions.len(), 2);
    let customer = stripe.customer_id(member);
    for s in &sessions {
        let form = |k: &str| crate::stripe_mock::form_value(s, k);
        assert_eq!(form("mode").as_deref(), Some("subscription"));
        assert_eq!(form("customer"), Some(customer.clone()));
        assert_eq!(form("client_reference_id"), Some(member.to_string()));
        assert_eq!(
            form("metadata[barkeep_account_id]"),
            Some(member.to_string())
        );
        assert_eq!(form("line_items[0][price]").as_deref(), Some(PRO_MONTH));
    }

    // The member pays; Stripe tells barkeep.
    stripe.set_subscription(subscription(
        "sub_1",
        &customer,
        PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    let ack = deliver_ok(
        &app,
        &event(
            "evt_1",
            "checkout.session.completed",
            completed(member, &customer, "sub_1"),
        ),
    )
    .await;
    assert_eq!(ack["status"], "processed");
    let after = billing(&app, &cookie).await;
    assert_eq!(after["plan"], "pro");
    assert_eq!(after["status"], "active");
    assert_eq!(after["interval"], "month");
    assert_eq!(after["limits"]["branding_removable"], true);
    assert!(after["current_period_end"].is_string());

    let mut sub = subscription("sub_1", &customer, PRO_MONTH, "active", 1_796_000_000);
    deliver_ok(
        &app,
        &event("evt_2", "customer.subscription.updated", sub.clone()),
    )
    .await;
    let paid = event(
        "evt_3",
        "invoice.paid",
        invoice("in_1", &customer, "sub_1", 2000),
    );
    deliver_ok(&app, &paid).await;
    // Stripe delivers again: answered, nothing done twice.
    assert_eq!(deliver_ok(&app, &paid).await["status"], "duplicate");
    sub["cancel_at_period_end"] = json!(true);
    stripe.set_subscription(sub.clone());
    deliver_ok(&app, &event("evt_4", "customer.subscription.updated", sub)).await;
    assert_eq!(billing(&app, &cookie).await["cancel_at_period_end"], true);

    let emails = app.delivered().await;
    assert_eq!(count(&emails, "payer@example.com", "receipt"), 1);
    let receipt = emails
        .iter()
        .find(|m| m.subject.contains("receipt"))
        .unwrap();
    assert!(receipt.text.contains("$20.00"), "{}", receipt.text);
    assert!(receipt.text.contains("https://invoice.stripe.com/i/in_1"));
    assert!(!receipt.html.is_empty());
    assert_eq!(
        count(&emails, "payer@example.com", "Pro"),
        2,
        "plan changed and receipt"
    );

    // The portal opens for a member with a customer: one session, for their customer,
    // coming back to barkeep's billing page.
    let res = app
        .post_json("/api/v1/billing/portal", &json!({}), Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body_json(res).await["url"],
        "https://billing.stripe.com/p/session/test_barkeep"
    );
    let portal = stripe.requests_to("/v1/billing_portal/sessions").await;
    assert_eq!(portal.len(), 1);
    assert_eq!(stripe.sent_to("/v1/billing_portal/sessions"), 1);
    let form = |k: &str| crate::stripe_mock::form_value(&portal[0], k);
    assert_eq!(form("customer"), Some(customer.clone()));
    assert_eq!(form("return_url"), Some(app.url("/billing")));
    assert!(portal[0].headers.get("idempotency-key").is_some());
}

/// Two checkouts at once (two tabs): one session each, and one customer, because both
/// customer creates carry the member's key.
#[tokio::test]
async fn two_checkouts_at_once_make_two_sessions_and_one_customer() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let cookie = app.member("tabs@example.com").await;
    let member = member_id(&app, &cookie).await;
    let (a, b) = tokio::join!(
        checkout(&app, &cookie, "pro"),
        checkout(&app, &cookie, "business")
    );
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));

    // Both may have found no customer yet; whatever they sent, they sent it under one key.
    let customers = stripe.keys_sent_to("/v1/customers");
    let key = Some(format!("barkeep-customer-{member}"));
    assert_eq!(
        customers.keys().collect::<Vec<_>>(),
        [&key],
        "{customers:?}"
    );
    assert!((1..=2).contains(&customers[&key]), "{customers:?}");
    assert_eq!(
        stripe
            .customers_created
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        rows(&app, "SELECT COUNT(*) FROM billing_customers").await,
        1
    );
    let sessions = stripe.keys_sent_to("/v1/checkout/sessions");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(
        sessions.iter().all(|(k, n)| k.is_some() && *n == 1),
        "{sessions:?}"
    );
    let customer = stripe.customer_id(member);
    let mut prices = Vec::new();
    for s in stripe.requests_to("/v1/checkout/sessions").await {
        assert_eq!(
            crate::stripe_mock::form_value(&s, "customer"),
            Some(customer.clone())
        );
        prices.push(crate::stripe_mock::form_value(&s, "line_items[0][price]").unwrap());
    }
    prices.sort();
    assert_eq!(prices, [BUSINESS_MONTH, PRO_MONTH]);
}

/// A checkout that failed at Stripe is tried again by the member: the customer create is
/// sent again under the same key (had Stripe made the customer, it answers that one),
/// and only the checkout that went through made a session.
#[tokio::test]
async fn a_checkout_tried_again_after_stripe_failed_sends_the_customer_under_the_same_key() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let cookie = app.member("again@example.com").await;
    let member = member_id(&app, &cookie).await;
    stripe.fail_next("/v1/customers", 1);
    let res = checkout(&app, &cookie, "pro").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stripe.sent_to("/v1/checkout/sessions"), 0);
    assert_eq!(
        rows(&app, "SELECT COUNT(*) FROM billing_customers").await,
        0
    );

    assert_eq!(
        checkout(&app, &cookie, "pro").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stripe.keys_sent_to("/v1/customers"),
        BTreeMap::from([(Some(format!("barkeep-customer-{member}")), 2)])
    );
    assert_eq!(stripe.sent_to("/v1/checkout/sessions"), 1);
    // From now on the customer is barkeep's own: no create is sent again.
    assert_eq!(
        checkout(&app, &cookie, "pro").await.status(),
        StatusCode::OK
    );
    assert_eq!(stripe.sent_to("/v1/customers"), 2);
    assert_eq!(stripe.sent_to("/v1/checkout/sessions"), 2);
}

#[tokio::test]
async fn a_failed_payment_goes_past_due_then_canceled_and_the_plan_follows() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (cookie, member, customer) = customer(&app, &stripe, "late@example.com").await;
    let active = subscription("sub_9", &customer, PRO_MONTH, "active", 1_796_000_000);
    stripe.set_subscription(active.clone());
    deliver_ok(
        &app,
        &event(
            "evt_a",
            "checkout.session.completed",
            completed(member, &customer, "sub_9"),
        ),
    )
    .await;

    // The renewal fails: past_due keeps the plan for the retries.
    let mut past_due = active.clone();
    past_due["status"] = json!("past_due");
    stripe.set_subscription(past_due);
    let mut failed = invoice("in_9", &customer, "sub_9", 2000);
    failed["status"] = json!("open");
    failed["amount_paid"] = json!(0);
    failed["attempt_count"] = json!(1);
    failed["next_payment_attempt"] = json!(1_796_300_000);
    deliver_ok(&app, &event("evt_b", "invoice.payment_failed", failed)).await;
    let b = billing(&app, &cookie).await;
    assert_eq!(
        (b["plan"].as_str(), b["status"].as_str()),
        (Some("pro"), Some("past_due"))
    );

    // Retries run out: Stripe cancels for non-payment.
    let mut canceled = active.clone();
    canceled["status"] = json!("canceled");
    canceled["cancellation_details"]["reason"] = json!("payment_failed");
    stripe.set_subscription(canceled.clone());
    deliver_ok(
        &app,
        &event("evt_c", "customer.subscription.deleted", canceled),
    )
    .await;
    let b = billing(&app, &cookie).await;
    assert_eq!(
        (b["plan"].as_str(), b["status"].as_str()),
        (Some("free"), Some("free"))
    );

    let emails = app.delivered().await;
    let to = "late@example.com";
    assert_eq!(
        count(&emails, to, "failed"),
        1,
        "payment failed, asking for a card"
    );
    let failed_mail = emails
        .iter()
        .find(|m| m.subject.contains("failed"))
        .unwrap();
    assert!(failed_mail.text.to_lowercase().contains("card"));
    assert!(failed_mail.text.contains("/billing"));
    assert_eq!(count(&emails, to, "overdue"), 1, "delinquency");
    assert_eq!(count(&emails, to, "canceled"), 1);
}

#[tokio::test]
async fn one_event_delivered_many_times_at_once_is_processed_once() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (_, member, customer) = customer(&app, &stripe, "dup@example.com").await;
    stripe.set_subscription(subscription(
        "sub_d",
        &customer,
        PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    deliver_ok(
        &app,
        &event(
            "evt_x",
            "checkout.session.completed",
            completed(member, &customer, "sub_d"),
        ),
    )
    .await;
    let paid = event(
        "evt_paid",
        "invoice.paid",
        invoice("in_d", &customer, "sub_d", 4900),
    );
    let answers = futures_util::future::join_all((0..8).map(|_| app.deliver(&paid))).await;
    let mut statuses = Vec::new();
    for res in answers {
        assert_eq!(res.status(), StatusCode::OK);
        statuses.push(body_json(res).await["status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "processed").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_paid'"
        )
        .await,
        1
    );
    let emails = app.delivered().await;
    assert_eq!(count(&emails, "dup@example.com", "receipt"), 1);
}

#[tokio::test]
async fn events_in_any_order_leave_the_account_where_stripe_has_it() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (cookie, member, customer) = customer(&app, &stripe, "order@example.com").await;
    let created = subscription("sub_o", &customer, PRO_MONTH, "incomplete", 1_796_000_000);
    let mut active = created.clone();
    active["status"] = json!("active");
    let mut upgraded = active.clone();
    upgraded["items"]["data"][0]["price"]["id"] = json!(BUSINESS_MONTH);
    // Stripe ends where the member ended: on Business.
    stripe.set_subscription(upgraded.clone());
    let events = [
        event("evt_o1", "customer.subscription.created", created),
        event(
            "evt_o2",
            "checkout.session.completed",
            completed(member, &customer, "sub_o"),
        ),
        event("evt_o3", "customer.subscription.updated", active),
        event(
            "evt_o4",
            "invoice.paid",
            invoice("in_o", &customer, "sub_o", 2000),
        ),
        event("evt_o5", "customer.subscription.updated", upgraded),
    ];
    // Newest first: `.updated` before `.created` must not leave it incomplete.
    for e in events.iter().rev() {
        deliver_ok(&app, e).await;
    }
    let b = billing(&app, &cookie).await;
    assert_eq!(
        (b["plan"].as_str(), b["status"].as_str()),
        (Some("business"), Some("active"))
    );
    // A shuffled second round (every one a duplicate) changes nothing.
    for i in [2, 0, 4, 1, 3] {
        assert_eq!(deliver_ok(&app, &events[i]).await["status"], "duplicate");
    }
    assert_eq!(billing(&app, &cookie).await["plan"], "business");
}

#[tokio::test]
async fn an_older_read_that_arrives_late_never_replaces_a_newer_one() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (cookie, member, customer) = customer(&app, &stripe, "race@example.com").await;
    let pro = subscription("sub_r", &customer, PRO_MONTH, "active", 1_796_000_000);
    stripe.set_subscription(pro.clone());
    deliver_ok(
        &app,
        &event(
            "evt_r0",
            "checkout.session.completed",
            completed(member, &customer, "sub_r"),
        ),
    )
    .await;

    // The first delivery reads Pro, and Stripe's answer is held on its way back…
    let mut held = stripe.hold_next_read();
    let slow = {
        let body = event("evt_r1", "customer.subscription.updated", pro.clone());
        let app_url = app.url("/stripe/webhook");
        let client = app.client.clone();
        let sig = stripe_signature(SECRET, app.clock.now().timestamp(), &body);
        tokio::spawn(async move {
            client
                .post(app_url)
                .header("stripe-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // (The read began before it reached Stripe, and Stripe answered it with Pro.)
    held.arrived().await;
    // …meanwhile the member upgrades, and that event's later read is applied at once.
    let mut business = pro.clone();
    business["items"]["data"][0]["price"]["id"] = json!(BUSINESS_MONTH);
    stripe.set_subscription(business.clone());
    app.advance(chrono::Duration::seconds(1));
    deliver_ok(
        &app,
        &event("evt_r2", "customer.subscription.updated", business),
    )
    .await;
    assert_eq!(billing(&app, &cookie).await["plan"], "business");
    // Only now does the older read's answer arrive: it is not applied.
    held.release();
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(billing(&app, &cookie).await["plan"], "business");
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id IN ('evt_r1', 'evt_r2') AND status = 'processed'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_handler_that_fails_is_retried_until_it_succeeds() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (cookie, member, customer) = customer(&app, &stripe, "retry@example.com").await;
    stripe.set_subscription(subscription(
        "sub_f",
        &customer,
        PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    stripe.fail_next_reads(1);
    let body = event(
        "evt_f",
        "checkout.session.completed",
        completed(member, &customer, "sub_f"),
    );
    let res = app.deliver(&body).await;
    assert_eq!(
        res.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "Stripe must retry"
    );
    assert_eq!(billing(&app, &cookie).await["plan"], "free");
    let ev = rows(&app, "SELECT CAST(attempts AS BIGINT) FROM stripe_events WHERE id = 'evt_f' AND status = 'failed' AND last_error IS NOT NULL").await;
    assert_eq!(ev, 1);

    // barkeep's own retry takes it once it is due (not before).
    app.run_job("stripe_events").await;
    assert_eq!(billing(&app, &cookie).await["plan"], "free");
    app.advance(chrono::Duration::seconds(31));
    app.advance(chrono::Duration::seconds(60));
    app.run_job("stripe_events").await;
    assert_eq!(billing(&app, &cookie).await["plan"], "pro");
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_f' AND status = 'processed'"
        )
        .await,
        1
    );
    // Stripe's own retry of the same event now finds it done.
    assert_eq!(deliver_ok(&app, &body).await["status"], "duplicate");
    let emails = app.delivered().await;
    assert_eq!(
        count(&emails, "retry@example.com", "Pro"),
        1,
        "one plan-changed email"
    );
}

#[tokio::test]
async fn forged_stale_and_altered_webhooks_are_refused_and_write_nothing() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let body = event(
        "evt_forged",
        "invoice.paid",
        invoice("in_x", "cus_x", "sub_x", 100),
    );
    let now = app.clock.now().timestamp();
    let cases = [
        (
            "forged",
            stripe_signature("whsec_someone_else", now, &body),
            body.clone(),
        ),
        (
            "stale",
            stripe_signature(SECRET, now - 301, &body),
            body.clone(),
        ),
        (
            "future",
            stripe_signature(SECRET, now + 301, &body),
            body.clone(),
        ),
        (
            "altered",
            stripe_signature(SECRET, now, &body),
            body.replace("100", "1"),
        ),
        ("missing v1", format!("t={now}"), body.clone()),
    ];
    for (what, sig, sent) in cases {
        let res = app.deliver_signed(&sent, &sig).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        let err = body_json(res).await;
        assert!(
            err["error"].as_str().unwrap().ends_with("_signature"),
            "{what}: {err}"
        );
    }
    let res = app
        .client
        .post(app.url("/stripe/webhook"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no signature at all");
    assert_eq!(rows(&app, "SELECT COUNT(*) FROM stripe_events").await, 0);
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind LIKE 'billing%'"
        )
        .await,
        0
    );

    // Signed properly it is taken; unknown types are recorded as ignored.
    let unknown = event(
        "evt_unknown",
        "charge.dispute.created",
        json!({"id": "dp_1", "object": "dispute"}),
    );
    assert_eq!(deliver_ok(&app, &unknown).await["status"], "ignored");
}

#[tokio::test]
async fn any_event_type_is_acknowledged_and_one_barkeep_cannot_read_is_kept_for_a_retry() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    // A type no version of Stripe's library knows yet is recorded under its own name.
    let brand_new = event(
        "evt_new",
        "billing.something_new",
        json!({"id": "bsn_1", "object": "billing.something_new"}),
    );
    assert_eq!(deliver_ok(&app, &brand_new).await["status"], "ignored");
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_new' AND kind = 'billing.something_new' AND status = 'ignored'"
        )
        .await,
        1
    );
    // An invoice.paid whose object is not an invoice as Stripe writes one: recorded,
    // refused with a 500 so Stripe delivers it again, and kept with its error.
    let broken = event(
        "evt_broken",
        "invoice.paid",
        json!({"id": "in_b", "object": "invoice", "customer": "cus_b"}),
    );
    let res = app.deliver(&broken).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_broken' AND status = 'failed' \
             AND stripe_customer_id = 'cus_b' AND last_error LIKE '%does not read as Stripe%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_beside_the_old_one() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options().var(
        "BARKEEP_STRIPE_WEBHOOK_SECRET",
        &format!("{SECRET},whsec_next"),
    ))
    .await;
    let body = event("evt_rot", "charge.refunded", json!({"id": "ch_1"}));
    let t = app.clock.now().timestamp();
    for secret in [SECRET, "whsec_next"] {
        let res = app
            .deliver_signed(&body, &stripe_signature(secret, t, &body))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{secret}");
    }
}

fn small_free_plan(dir: &std::path::Path) -> String {
    let path = dir.join("plans.toml");
    std::fs::write(
        &path,
        r#"
[[plan]]
id = "free"
name = "Free"
overage = "block"
limits = { sites = 1, bars_per_site = 2, variants_per_bar = 2, monthly_views = 5, branding_removable = false, lead_retention_days = 0 }

[[plan]]
id = "pro"
name = "Pro"
prices = { month = "price_pro_month" }
limits = { sites = 3, bars_per_site = 5, variants_per_bar = 3, monthly_views = 1000, branding_removable = true }
"#,
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn each_limit_answers_402_at_its_boundary_and_branding_stays_on_free() {
    let stripe = StripeMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(
        stripe
            .options()
            .var("BARKEEP_PLANS_FILE", &small_free_plan(dir.path())),
    )
    .await;
    let cookie = app.member("limits@example.com").await;
    let site = app.site(&cookie, &["shop.example"]).await;
    let site_id = site["id"].as_i64().unwrap();

    let res = app
        .post_json(
            "/api/v1/sites",
            &json!({"name": "Two", "hostnames": ["two.example"]}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let err = body_json(res).await;
    assert_eq!(
        (
            err["error"].as_str(),
            err["limit"].as_i64(),
            err["current"].as_i64()
        ),
        (Some("site_limit"), Some(1), Some(1))
    );

    let bar = app.bar(&cookie, site_id, &link_bar("One")).await;
    app.bar(&cookie, site_id, &link_bar("Two")).await;
    let res = app
        .post_json(
            &format!("/api/v1/sites/{site_id}/bars"),
            &link_bar("Three"),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(body_json(res).await["error"], "bar_limit");

    let bar_id = bar["id"].as_i64().unwrap();
    let variants = format!("/api/v1/bars/{bar_id}/variants");
    assert_eq!(
        app.post_json(&variants, &json!({"message": "B"}), Some(&cookie))
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .post_json(&variants, &json!({"message": "C"}), Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(body_json(res).await["error"], "variant_limit");

    let res = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/bars/{bar_id}"),
            &cookie,
            Some(&json!({"powered_by": false})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "powered_by");

    let usage = billing(&app, &cookie).await["usage"].clone();
    assert_eq!(usage["sites"], json!({"used": 1, "limit": 1}));
    assert_eq!(usage["bars_per_site"], json!({"used": 2, "limit": 2}));
    assert_eq!(usage["variants_per_bar"], json!({"used": 2, "limit": 2}));
}

#[tokio::test]
async fn concurrent_creates_cannot_both_take_the_last_slot() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let cookie = app.member("race-slot@example.com").await;
    let bodies: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("S{i}"), "hostnames": [format!("s{i}.example")]}))
        .collect();
    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| app.post_json("/api/v1/sites", b, Some(&cookie))),
    )
    .await;
    let created = answers
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|r| r.status() == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((created, refused), (1, 5));
}

#[tokio::test]
async fn a_free_account_over_its_views_stops_showing_bars_until_next_month() {
    let stripe = StripeMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(
        stripe
            .options()
            .var("BARKEEP_PLANS_FILE", &small_free_plan(dir.path())),
    )
    .await;
    let live = app
        .live_bar("views@example.com", &link_bar("Counted"))
        .await;
    let key = live.site["key"].as_str().unwrap().to_string();
    assert!(app.script(&key).await.contains("Counted"));
    assert!(
        app.script(&key).await.contains("\"pb\":1"),
        "free shows the powered-by line"
    );

    for i in 0..4 {
        assert_eq!(
            app.event(
                &ev(live.deployment, "v"),
                &format!("10.0.0.{i}"),
                BROWSER_UA
            )
            .await,
            StatusCode::NO_CONTENT
        );
    }
    app.flush().await;
    app.run_job("plan_usage").await;
    let emails = app.delivered().await;
    assert_eq!(
        count(&emails, "views@example.com", "80"),
        1,
        "{:?}",
        emails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(
        app.script(&key).await.contains("Counted"),
        "still showing at 80 %"
    );

    app.event(&ev(live.deployment, "v"), "10.0.0.9", BROWSER_UA)
        .await;
    app.flush().await;
    app.advance(chrono::Duration::seconds(61));
    app.run_job("plan_usage").await;
    app.run_job("site_sync").await;
    let script = app.script(&key).await;
    assert!(
        !script.contains("Counted"),
        "no bar past the limit: {script}"
    );
    assert!(script.contains("monthly views"));
    let b = billing(&app, &live.cookie).await;
    assert_eq!(
        (
            b["over_views_limit"].as_bool(),
            b["serving_paused"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(b["usage"]["monthly_views"], json!({"used": 5, "limit": 5}));
    assert!(b["at_limit"].as_str().unwrap().contains("stop showing"));
    // Once each per month, however often the job runs.
    app.advance(chrono::Duration::seconds(61));
    app.run_job("plan_usage").await;
    let emails = app.delivered().await;
    assert_eq!(count(&emails, "views@example.com", "80"), 1);
    assert_eq!(
        count(&emails, "views@example.com", "limit"),
        1,
        "{:?}",
        emails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );

    // A new month: bars show again.
    let now = app.clock.now();
    let next = barkeep::reporting::usage::month_of(now).unwrap().1;
    app.set_clock(next + chrono::Duration::seconds(1));
    app.run_job("plan_usage").await;
    app.run_job("site_sync").await;
    assert!(app.script(&key).await.contains("Counted"));
}

#[tokio::test]
async fn a_downgrade_pauses_what_exceeds_the_plan_and_deletes_nothing() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (cookie, member, customer) = customer(&app, &stripe, "down@example.com").await;
    let sub = subscription("sub_g", &customer, PRO_MONTH, "active", 1_796_000_000);
    stripe.set_subscription(sub.clone());
    deliver_ok(
        &app,
        &event(
            "evt_g1",
            "checkout.session.completed",
            completed(member, &customer, "sub_g"),
        ),
    )
    .await;
    // On Pro: two sites, a live bar on each.
    let mut bars = Vec::new();
    for host in ["one.example", "two.example"] {
        let site = app.site(&cookie, &[host]).await;
        let bar = app
            .bar(&cookie, site["id"].as_i64().unwrap(), &link_bar(host))
            .await;
        let bar_id = bar["id"].as_i64().unwrap();
        app.publish(&cookie, bar_id).await;
        bars.push(bar_id);
    }
    let mut gone = sub.clone();
    gone["status"] = json!("canceled");
    gone["cancellation_details"]["reason"] = json!("cancellation_requested");
    stripe.set_subscription(gone.clone());
    deliver_ok(
        &app,
        &event("evt_g2", "customer.subscription.deleted", gone),
    )
    .await;

    let first = body_json(
        app.get_as(&format!("/api/v1/bars/{}", bars[0]), &cookie)
            .await,
    )
    .await;
    assert_eq!(first["status"], "live");
    let second = body_json(
        app.get_as(&format!("/api/v1/bars/{}", bars[1]), &cookie)
            .await,
    )
    .await;
    assert_eq!(second["status"], "paused");
    assert!(
        second["paused_reason"].as_str().unwrap().contains("1 site"),
        "{second}"
    );
    let sites = body_json(app.get_as("/api/v1/sites", &cookie).await).await;
    assert_eq!(
        sites["sites"].as_array().unwrap().len(),
        2,
        "nothing deleted"
    );
    let res = app
        .post_json(
            &format!("/api/v1/bars/{}/publish", bars[1]),
            &json!({}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(body_json(res).await["error"], "site_limit");
    let b = billing(&app, &cookie).await;
    assert_eq!(b["plan"], "free");
    assert_eq!(b["paused_by_plan"][0]["bar_id"], bars[1]);
    let emails = app.delivered().await;
    let changed = emails
        .iter()
        .find(|m| m.subject.contains("Free"))
        .expect("a plan-changed email");
    assert!(changed.text.contains("paused"), "{}", changed.text);
}

#[tokio::test]
async fn with_billing_off_every_account_is_self_hosted_without_limits() {
    let app = TestApp::spawn().await;
    let cookie = app.member("free-software@example.com").await;
    for _ in 0..3 {
        app.site(&cookie, &["many.example"]).await;
    }
    let res = app.get_as("/api/v1/billing", &cookie).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let err = body_json(res).await;
    assert_eq!(err["error"], "billing_off");
    assert!(err["message"].as_str().unwrap().contains("self-hosted"));
    for path in ["/api/v1/billing/checkout", "/api/v1/billing/portal"] {
        let res = app
            .post_json(
                path,
                &json!({"plan": "pro", "interval": "month"}),
                Some(&cookie),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let res = app
        .deliver(&event("evt_off", "invoice.paid", json!({})))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // powered_by may go.
    let site = app.site(&cookie, &["brand.example"]).await;
    let mut body = link_bar("No branding");
    body["powered_by"] = json!(false);
    app.bar(&cookie, site["id"].as_i64().unwrap(), &body).await;
}

#[tokio::test]
async fn operators_see_recent_events_and_members_do_not() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let member = app.member("member@example.com").await;
    let operator = app.member("operator@example.com").await;
    app.db
        .execute_unprepared(
            "UPDATE members SET is_operator = TRUE WHERE email = 'operator@example.com'",
        )
        .await
        .unwrap();
    deliver_ok(
        &app,
        &event("evt_seen", "charge.refunded", json!({"id": "ch_1"})),
    )
    .await;
    let res = app.get_as("/api/v1/admin/stripe-events", &member).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(res).await["error"], "not_operator");
    let res = app
        .get_as("/api/v1/admin/stripe-events?status=ignored", &operator)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let events = body_json(res).await["events"].clone();
    assert_eq!(events[0]["id"], "evt_seen");
    assert_eq!(events[0]["type"], "charge.refunded");
    assert_eq!(events[0]["status"], "ignored");

    let res = app
        .get_as("/api/v1/admin/members?q=MEMBER@", &operator)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let members = body_json(res).await["members"].clone();
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["email"], "member@example.com");
    assert_eq!(members[0]["billing"]["plan"], "free");
    assert_eq!(members[0]["billing"]["status"], "free");
    assert_eq!(
        app.get_as("/api/v1/admin/members", &member).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn two_processes_receiving_the_same_event_process_it_once() {
    let stripe = StripeMock::start().await;
    let a = TestApp::spawn_with(stripe.options()).await;
    let b = TestApp::spawn_with(stripe.options().sharing(&a)).await;
    let (_, member, customer) = customer(&a, &stripe, "twice@example.com").await;
    stripe.set_subscription(subscription(
        "sub_2p",
        &customer,
        PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    let body = event(
        "evt_2p",
        "invoice.paid",
        invoice("in_2p", &customer, "sub_2p", 2000),
    );
    let completed_body = event(
        "evt_2p0",
        "checkout.session.completed",
        completed(member, &customer, "sub_2p"),
    );
    let (x, y) = tokio::join!(a.deliver(&completed_body), b.deliver(&completed_body));
    assert_eq!((x.status(), y.status()), (StatusCode::OK, StatusCode::OK));
    let (x, y) = tokio::join!(a.deliver(&body), b.deliver(&body));
    assert_eq!((x.status(), y.status()), (StatusCode::OK, StatusCode::OK));
    let statuses = [
        body_json(x).await["status"].clone(),
        body_json(y).await["status"].clone(),
    ];
    assert_eq!(
        statuses.iter().filter(|s| **s == "processed").count(),
        1,
        "{statuses:?}"
    );
    a.deliver_mail().await;
    b.deliver_mail().await;
    let emails = a.emails();
    assert_eq!(count(&emails, "twice@example.com", "receipt"), 1);
    assert_eq!(
        count(&emails, "twice@example.com", "Pro"),
        2,
        "receipt and plan changed, once each"
    );
}

#[tokio::test]
async fn a_checkout_session_barkeep_did_not_create_links_no_customer() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    // The victim never went through Checkout: no Stripe customer yet.
    let cookie = app.member("victim@example.com").await;
    let victim = member_id(&app, &cookie).await;
    // Someone pays through a Payment Link of the same Stripe account, putting the
    // victim's id in the link's client_reference_id; Stripe made their customer.
    stripe.set_subscription(subscription(
        "sub_foreign",
        "cus_foreign",
        PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    let mut foreign = completed(victim, "cus_foreign", "sub_foreign");
    foreign["metadata"] = json!({});
    let ack = deliver_ok(
        &app,
        &event("evt_foreign", "checkout.session.completed", foreign),
    )
    .await;
    assert_eq!(ack["status"], "ignored");
    // Metadata naming another member is no better.
    let mut other = completed(victim, "cus_foreign", "sub_foreign");
    other["metadata"] = json!({"barkeep_member_id": (victim + 1).to_string()});
    let ack = deliver_ok(
        &app,
        &event("evt_foreign_2", "checkout.session.completed", other),
    )
    .await;
    assert_eq!(ack["status"], "ignored");

    assert_eq!(
        rows(
            &app,
            &format!("SELECT COUNT(*) FROM billing_customers WHERE account_id = {victim}")
        )
        .await,
        0,
        "no customer was linked"
    );
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id IN ('evt_foreign', 'evt_foreign_2') AND status = 'ignored'"
        )
        .await,
        2,
        "recorded, as ignored"
    );
    assert_eq!(billing(&app, &cookie).await["plan"], "free");
    // The foreign customer's later invoices reach nobody at barkeep.
    deliver_ok(
        &app,
        &event(
            "evt_foreign_paid",
            "invoice.paid",
            invoice("in_foreign", "cus_foreign", "sub_foreign", 2000),
        ),
    )
    .await;
    assert_eq!(billing(&app, &cookie).await["plan"], "free");
    let emails = app.delivered().await;
    assert_eq!(count(&emails, "victim@example.com", "receipt"), 0);
    assert_eq!(count(&emails, "victim@example.com", "Pro"), 0);
}

#[tokio::test]
async fn each_stripe_event_records_its_customer_and_member() {
    let stripe = StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let (_, member, customer) = customer(&app, &stripe, "owner@example.com").await;
    stripe.set_subscription(subscription(
        "sub_o",
        &customer,
        PRO_MONTH,
        "active",
        1_796_000_000,
    ));
    deliver_ok(
        &app,
        &event(
            "evt_o1",
            "checkout.session.completed",
            completed(member, &customer, "sub_o"),
        ),
    )
    .await;
    deliver_ok(
        &app,
        &event(
            "evt_o2",
            "invoice.paid",
            invoice("in_o", &customer, "sub_o", 2000),
        ),
    )
    .await;
    // A type barkeep does not act on, naming the customer as an expanded object.
    deliver_ok(
        &app,
        &event(
            "evt_o3",
            "charge.succeeded",
            json!({"id": "ch_o", "object": "charge", "customer": {"id": customer, "object": "customer"}}),
        ),
    )
    .await;
    // The customer object itself.
    deliver_ok(
        &app,
        &event(
            "evt_o4",
            "customer.updated",
            json!({"id": customer, "object": "customer", "email": "owner@example.com"}),
        ),
    )
    .await;
    assert_eq!(
        rows(
            &app,
            &format!(
                "SELECT COUNT(*) FROM stripe_events WHERE stripe_customer_id = '{customer}' AND account_id = {member}"
            )
        )
        .await,
        4
    );
    // One about nobody barkeep knows keeps no owner.
    deliver_ok(
        &app,
        &event(
            "evt_o5",
            "charge.refunded",
            json!({"id": "ch_x", "customer": "cus_nobody"}),
        ),
    )
    .await;
    assert_eq!(
        rows(
            &app,
            "SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_o5' AND stripe_customer_id = 'cus_nobody' AND account_id IS NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_upgrade_records_whom_each_earlier_event_is_about() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = crate::helpers::fresh_database(dir.path()).await;
    let db = sea_orm::Database::connect(&fresh.url).await.unwrap();
    // The schema as it was before events recorded their customer and member.
    <migration::Migrator as migration::MigratorTrait>::up(&db, Some(11))
        .await
        .unwrap();
    let at = "'2026-12-01 00:00:00+00:00'";
    let mut statements = vec![
        format!(
            "INSERT INTO members (id, email, password_hash, created_at, updated_at) VALUES \
             (1, 'ann@example.com', 'x', {at}, {at}), (2, 'ben@example.com', 'x', {at}, {at})"
        ),
        format!(
            "INSERT INTO billing_customers (member_id, stripe_customer_id, created_at) VALUES (1, 'cus_ann', {at})"
        ),
        // Ben's customer is known only from his subscription.
        format!(
            "INSERT INTO subscriptions (id, member_id, stripe_customer_id, status, cancel_at_period_end, stripe_created_at, read_at, updated_at) \
             VALUES ('sub_ben', 2, 'cus_ben', 'active', FALSE, {at}, {at}, {at})"
        ),
    ];
    let events = [
        ("evt_u1", json!({"data": {"object": {"object": "invoice", "customer": "cus_ann"}}}).to_string()),
        ("evt_u2", json!({"data": {"object": {"object": "subscription", "customer": "cus_ben"}}}).to_string()),
        ("evt_u3", json!({"data": {"object": {"object": "charge", "customer": {"id": "cus_ann", "object": "customer"}}}}).to_string()),
        ("evt_u4", json!({"data": {"object": {"object": "customer", "id": "cus_ann"}}}).to_string()),
        ("evt_u5", json!({"data": {"object": {"object": "charge", "customer": "cus_stranger"}}}).to_string()),
        ("evt_u6", json!({"data": {"object": {"object": "balance"}}}).to_string()),
        ("evt_u7", "not JSON at all".to_string()),
        // Valid JSON that PostgreSQL's jsonb refuses: the upgrade must not fail on it.
        ("evt_u8", r#"{"data": {"object": {"customer": "cus_ann", "note": "\u0000"}}}"#.to_string()),
    ];
    for (id, payload) in &events {
        statements.push(format!(
            "INSERT INTO stripe_events (id, kind, stripe_created_at, payload, status, attempts, received_at, next_attempt_at) \
             VALUES ('{id}', 'some.event', {at}, '{}', 'processed', 1, {at}, {at})",
            payload.replace('\'', "''")
        ));
    }
    for sql in statements {
        db.execute_unprepared(&sql).await.unwrap();
    }

    <migration::Migrator as migration::MigratorTrait>::up(&db, None)
        .await
        .unwrap();
    let owner = |id: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!(
                        "SELECT stripe_customer_id, CAST(account_id AS BIGINT) FROM stripe_events WHERE id = '{id}'"
                    ),
                ))
                .await
                .unwrap()
                .unwrap();
            (
                row.try_get_by_index::<Option<String>>(0).unwrap(),
                row.try_get_by_index::<Option<i64>>(1).unwrap(),
            )
        }
    };
    let ann = (Some("cus_ann".to_string()), Some(1));
    assert_eq!(owner("evt_u1").await, ann);
    assert_eq!(
        owner("evt_u2").await,
        (Some("cus_ben".to_string()), Some(2))
    );
    assert_eq!(owner("evt_u3").await, ann);
    assert_eq!(owner("evt_u4").await, ann);
    assert_eq!(
        owner("evt_u5").await,
        (Some("cus_stranger".to_string()), None)
    );
    assert_eq!(owner("evt_u6").await, (None, None));
    assert_eq!(owner("evt_u7").await, (None, None));
    db.close().await.ok();
}
