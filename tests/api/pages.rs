//! The dashboard's pages over HTTP, on both backends: every page answers a member and an
//! operator with its layout, a strict Content-Security-Policy and well under 100 KB on
//! the wire; forms refuse without their CSRF token; a refusal shows next to its field
//! with what was typed kept; the stats page's table is the stats API's; benchmarks show
//! once the population allows. The same pages in Chromium: tests/browser/dashboard.test.mjs.

use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{BROWSER_UA, Options, TestApp, ev, link_bar};

/// A browser of the pages: the session and CSRF cookies, no redirect followed.
struct Pages<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    session: String,
    csrf: String,
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = pair.split_once('=')?;
        (k.trim() == name).then(|| val.to_string())
    })
}

/// The hidden CSRF field of the first form on a page.
fn form_token(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..].split('"').next()?.to_string())
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
    /// Bytes on the wire with brotli, as browsers ask.
    wire: usize,
}

impl<'a> Pages<'a> {
    /// `session` is a `Cookie` header value from the API's login.
    async fn new(app: &'a TestApp, session: &str) -> Pages<'a> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_brotli()
            .no_gzip()
            .build()
            .unwrap();
        let mut p = Pages {
            app,
            client,
            session: session.to_string(),
            csrf: String::new(),
        };
        // The first page sets the token's cookie and writes it into its forms.
        let res = p
            .client
            .get(app.url("/sites"))
            .header("cookie", session)
            .send()
            .await
            .unwrap();
        let status = res.status();
        // Signed in, the forms carry a token bound to the session, and no cookie is set
        // for it; a browser that is not signed in gets its token in a cookie too.
        let cookie = cookie_value(res.headers(), "barkeep_csrf");
        let html = res.text().await.unwrap();
        p.csrf = form_token(&html).unwrap_or_else(|| panic!("a form token: {status}"));
        match cookie {
            Some(cookie) => assert!(session.is_empty() && cookie == p.csrf),
            None => assert!(!session.is_empty()),
        }
        p
    }

    fn cookies(&self) -> String {
        format!("{}; barkeep_csrf={}", self.session, self.csrf)
    }

    async fn get(&self, path: &str) -> Page {
        let res = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookies())
            .header("accept-encoding", "br")
            .send()
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.unwrap();
        let html = if headers.get("content-encoding").is_some_and(|e| e == "br") {
            let mut out = String::new();
            brotli::Decompressor::new(&body[..], 4096)
                .read_to_string(&mut out)
                .unwrap();
            out
        } else {
            String::from_utf8_lossy(&body).into_owned()
        };
        Page {
            status,
            headers,
            html,
            wire: body.len(),
        }
    }

    /// Posts a form with the token (`with_token`) or without it.
    async fn post(&self, path: &str, form: &[(&str, &str)], with_token: bool) -> Page {
        let token = with_token.then_some(self.csrf.as_str());
        self.post_field(path, form, token).await
    }

    /// Posts a form whose `csrf` field is `token`, whatever the cookie holds.
    async fn post_field(&self, path: &str, form: &[(&str, &str)], token: Option<&str>) -> Page {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        if let Some(t) = token {
            fields.push(("csrf", t));
        }
        let res = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookies())
            .form(&fields)
            .send()
            .await
            .unwrap();
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            wire: 0,
            html: res.text().await.unwrap(),
        }
    }
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn make_operator(app: &TestApp, email: &str) {
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared(&format!(
            "UPDATE members SET is_operator = TRUE WHERE email = '{email}'"
        ))
        .await
        .unwrap();
}

/// A member with a site, a live bar of two variants, a few counted events, an API token,
/// and a draft alert; returns (pages, site id, bar id, variant id).
async fn furnished(app: &TestApp) -> (Pages<'_>, i64, i64, i64) {
    let live = app
        .live_bar("ann@shop.example", &link_bar("Winter sale"))
        .await;
    make_operator(app, "ann@shop.example").await;
    let cookie = &live.cookie;
    let variant = app
        .post_json(
            &format!("/api/v1/bars/{}/variants", live.bar_id),
            &json!({"message": "Winter sale, B"}),
            Some(cookie),
        )
        .await;
    assert_eq!(variant.status(), StatusCode::CREATED);
    let variant: Value = variant.json().await.unwrap();
    for kind in ["v", "v", "c", "x"] {
        app.event(&ev(live.deployment, kind), "203.0.113.9", BROWSER_UA)
            .await;
    }
    app.flush().await;
    let pages = Pages::new(app, cookie).await;
    let site = live.site["id"].as_i64().unwrap();
    (pages, site, live.bar_id, variant["id"].as_i64().unwrap())
}

#[tokio::test]
async fn every_page_answers_small_with_its_layout_and_policy() {
    let app = TestApp::spawn().await;
    let (p, site, bar, variant) = furnished(&app).await;
    let alert = p
        .post(
            "/admin/alerts",
            &[
                ("kind", "new_feature"),
                ("new_feature.feature", "Dashboard"),
                ("new_feature.summary", "Every number, in your browser."),
                ("audience", "all"),
            ],
            true,
        )
        .await;
    assert_eq!(alert.status, StatusCode::SEE_OTHER, "{}", alert.html);
    let alert = alert.location().split('?').next().unwrap().to_string();
    let mail_id = {
        let page = p.get("/admin/mail").await;
        let at = page.html.find("/admin/mail/").expect("a mail listed") + "/admin/mail/".len();
        page.html[at..].split('"').next().unwrap().to_string()
    };
    let pages = [
        "/sites".to_string(),
        format!("/sites/{site}"),
        format!("/sites/{site}/stats"),
        format!("/sites/{site}/bars/new"),
        format!("/bars/{bar}"),
        format!("/bars/{bar}/variants/{variant}"),
        format!("/bars/{bar}/stats"),
        format!("/bars/{bar}/stats?range=365d&compare=on"),
        format!("/bars/{bar}/stats?range=24h&metric=ctr"),
        "/benchmarks".into(),
        "/billing".into(),
        "/account".into(),
        "/people".into(),
        "/people/audit".into(),
        "/invitations/accept?token=abc".into(),
        "/admin".into(),
        "/admin/members?q=ann".into(),
        "/admin/alerts".into(),
        alert,
        "/admin/policies".into(),
        "/admin/stripe-events".into(),
        "/admin/mail".into(),
        format!("/admin/mail/{mail_id}"),
    ];
    for path in &pages {
        let page = p.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(page.html.starts_with("<!doctype html>"), "{path}");
        assert!(page.html.contains(r#"<main id="main""#), "{path}");
        assert!(!page.html.contains(" style=\""), "{path}: an inline style");
        assert!(!page.html.contains("<script>"), "{path}: an inline script");
        // HTML, CSS and JS together, compressed, under 100 KB.
        assert!(page.wire < 60_000, "{path}: {} bytes", page.wire);
    }
    // The public pages, to a visitor without a session.
    let visitor = Pages {
        app: &app,
        client: p.client.clone(),
        session: String::new(),
        csrf: p.csrf.clone(),
    };
    for path in [
        "/login",
        "/signup",
        "/forgot-password",
        "/reset-password?token=x",
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.wire < 10_000, "{path}: {} bytes", page.wire);
    }
    // A member's page sends a visitor to log in, and back after.
    let page = visitor.get("/billing").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Fbilling");
    for asset in ["/assets/app.css", "/assets/app.js"] {
        let page = p.get(asset).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.wire < 20_000, "{asset}: {} bytes", page.wire);
    }
    // The preview frame alone may be framed, by barkeep's own pages.
    let preview = p.get(&format!("/preview?bar={bar}")).await;
    assert_eq!(preview.status, StatusCode::OK);
    let csp = preview.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'") && csp.contains("script-src 'nonce-"));
    assert!(preview.html.contains("Winter sale"));
}

#[tokio::test]
async fn forms_without_their_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (p, site, bar, _) = furnished(&app).await;
    let delete_site = format!("/sites/{site}/delete");
    let pause = format!("/bars/{bar}/pause");
    let forged: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/sites",
            vec![("name", "Forged"), ("hostnames", "forged.example")],
        ),
        (&delete_site, vec![]),
        (&pause, vec![]),
        (
            "/account/delete",
            vec![("delete_password", crate::helpers::PASSWORD)],
        ),
        ("/logout", vec![]),
    ];
    for (path, form) in &forged {
        let page = p.post(path, form, false).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.html.contains("reload the page"),
            "{path}: {}",
            page.html
        );
    }
    // Nor with a token other than this session's (one of another session of the same
    // member, or made up).
    let again = app
        .login("ann@shop.example", crate::helpers::PASSWORD)
        .await;
    let other = Pages::new(&app, &again).await;
    assert_ne!(other.csrf, p.csrf);
    for token in [other.csrf.as_str(), &"A".repeat(43), ""] {
        let page = p
            .post_field(
                "/sites",
                &[("name", "X"), ("hostnames", "x.example")],
                Some(token),
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    // Nothing changed: the site, the live bar and the account are all there.
    let sites: Value = app
        .get_as("/api/v1/sites", &p.session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sites["sites"].as_array().map(Vec::len), Some(1), "{sites}");
    let b: Value = app
        .get_as(&format!("/api/v1/bars/{bar}"), &p.session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["status"], "live");
    // With the token, the same form works.
    let page = p
        .post(
            "/sites",
            &[("name", "Blog"), ("hostnames", "blog.example")],
            true,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().contains("done=site_created"));
}

#[tokio::test]
async fn a_refusal_sits_next_to_its_field_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let (p, site, _, _) = furnished(&app).await;
    let form = [
        ("goal", "link"),
        ("placement", "top"),
        ("display", "overlay"),
        ("message", "Typed with care"),
        ("button_label", "Go"),
        ("link_url", "ftp://nope.example"),
        ("background_color", "#1f2937"),
        ("text_color", "#ffffff"),
        ("button_color", "#facc15"),
        ("button_text_color", "#111827"),
        ("targeting.device", "any"),
        ("trigger.type", "immediate"),
        ("frequency.after_dismiss_days", "7"),
        ("frequency.after_conversion_days", "forever"),
    ];
    let page = p.post(&format!("/sites/{site}/bars"), &form, true).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.html.contains(r#"id="f-link_url" name="link_url" type="text" value="ftp://nope.example" aria-describedby="f-link_url-hint f-link_url-error" aria-invalid="true""#), "{}", page.html);
    assert!(
        page.html
            .contains(r#"<p class="error" id="f-link_url-error">"#)
    );
    assert!(page.html.contains(r#"value="Typed with care""#));
    // A nested field of the API's JSON, by its path.
    let mut bad_days = form.to_vec();
    bad_days[5] = ("link_url", "https://shop.example/sale");
    bad_days[12] = ("frequency.after_dismiss_days", "soon");
    let page = p
        .post(&format!("/sites/{site}/bars"), &bad_days, true)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.html
            .contains(r#"id="f-frequency-after_dismiss_days-error""#),
        "{}",
        page.html
    );
    // A contrast below 4.5:1, refused by the API's own check.
    let mut low = form.to_vec();
    low[5] = ("link_url", "https://shop.example/sale");
    low[7] = ("text_color", "#333333");
    let page = p.post(&format!("/sites/{site}/bars"), &low, true).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.html.contains(r#"id="f-text_color-error""#),
        "{}",
        page.html
    );
    assert!(page.html.contains("output class=\"contrast bad\""));
    // Fixed, it is created and nothing else was.
    let page = p
        .post(&format!("/sites/{site}/bars"), &bad_days_fixed(&low), true)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let bars: Value = app
        .get_as(&format!("/api/v1/sites/{site}/bars"), &p.session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bars["bars"].as_array().map(Vec::len), Some(2), "{bars}");
}

fn bad_days_fixed<'a>(form: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = form.to_vec();
    f[7] = ("text_color", "#ffffff");
    f
}

/// The numbers of the stats page's table, row by row: start and the five counts.
fn table_rows(html: &str) -> Vec<(String, [i64; 5])> {
    let table = &html[html.find(r#"id="series""#).expect("the chart's table")..];
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    body.split("<tr data-start=\"")
        .skip(1)
        .map(|row| {
            let start = row.split('"').next().unwrap().to_string();
            let cells: Vec<i64> = row
                .split(r#"<td class="num">"#)
                .skip(1)
                .take(5)
                .map(|c| {
                    c.split('<')
                        .next()
                        .unwrap()
                        .replace(',', "")
                        .parse()
                        .unwrap()
                })
                .collect();
            (start, cells.try_into().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_stats_table_is_the_stats_api() {
    let app = TestApp::spawn().await;
    let (p, _, bar, _) = furnished(&app).await;
    for range in ["24h", "7d", "30d"] {
        let page = p.get(&format!("/bars/{bar}/stats?range={range}")).await;
        assert_eq!(page.status, StatusCode::OK);
        let json_link = page
            .html
            .split("href=\"")
            .skip(1)
            .map(|h| h.split('"').next().unwrap().replace("&amp;", "&"))
            .find(|h| h.starts_with("/api/v1/bars/") && !h.contains("format=csv"))
            .expect("a link to the JSON");
        let api = app.stats(&p.session, &json_link).await;
        let rows = table_rows(&page.html);
        let series = api["series"].as_array().unwrap();
        assert_eq!(rows.len(), series.len(), "{range}");
        for (row, point) in rows.iter().zip(series) {
            let start = point["start"].as_str().unwrap();
            assert_eq!(
                chrono::DateTime::parse_from_rfc3339(&row.0).unwrap(),
                chrono::DateTime::parse_from_rfc3339(start).unwrap()
            );
            let want = ["views", "unique_visitors", "clicks", "dismissals", "leads"]
                .map(|k| point[k].as_i64().unwrap());
            assert_eq!(row.1, want, "{range} at {start}");
        }
        let sum: i64 = rows.iter().map(|r| r.1[0]).sum();
        assert_eq!(sum, 2, "two views in every range");
        assert!(page.html.contains("<svg"), "a chart");
        assert!(page.html.contains(r#"role="img""#));
    }
    // The verdict in words: the second variant is not published, so has no views.
    let page = p.get(&format!("/bars/{bar}/stats")).await;
    assert!(
        page.html.contains("against A: not enough data yet"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn benchmarks_appear_once_the_population_allows() {
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_BENCHMARK_MIN_ACCOUNTS", "5")).await;
    let first = app.live_bar("a0@shop.example", &link_bar("Offer")).await;
    let p = Pages::new(&app, &first.cookie).await;
    app.state.jobs.run_now("benchmarks").await.unwrap();
    let page = p.get("/benchmarks").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.html.contains("percentile</strong>"),
        "no benchmark with one account"
    );
    // Eight more accounts with their own rates: views and clicks planted as counted.
    let mut deployments = vec![first.deployment];
    for i in 1..9 {
        deployments.push(
            app.live_bar(&format!("a{i}@shop.example"), &link_bar("Offer"))
                .await
                .deployment,
        );
    }
    {
        use sea_orm::ConnectionTrait;
        let now = app.clock.now().timestamp();
        let day = now - now.rem_euclid(86_400);
        for (i, d) in deployments.iter().enumerate() {
            app.db
                .execute_unprepared(&format!(
                    "INSERT INTO deployment_stats_daily (deployment_id, day, views, unique_visitors, clicks, dismissals, leads) \
                     VALUES ({d}, {day}, 1000, 0, {}, 0, 0)",
                    10 + 5 * i
                ))
                .await
                .unwrap();
        }
    }
    app.state.jobs.run_now("benchmarks").await.unwrap();
    let page = p.get("/benchmarks").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("8 other accounts"), "{}", page.html);
    assert!(page.html.contains("percentile</strong>"));
    assert!(
        page.html.contains(">you</text>"),
        "the member is marked on the chart"
    );
    assert!(page.html.contains("Median"), "the distribution's table");
}

#[tokio::test]
async fn billing_shows_usage_and_sends_the_member_to_stripe_checkout_and_portal() {
    let stripe = crate::stripe_mock::StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let live = app.live_bar("payer@shop.example", &link_bar("Offer")).await;
    for _ in 0..3 {
        app.event(&ev(live.deployment, "v"), "203.0.113.9", BROWSER_UA)
            .await;
    }
    app.flush().await;
    let p = Pages::new(&app, &live.cookie).await;
    let page = p.get("/billing").await;
    assert_eq!(page.status, StatusCode::OK);
    // This month's views against the free plan's limit, as a meter with its numbers.
    assert!(page.html.contains("Views this month"), "{}", page.html);
    assert!(page.html.contains(r#"max="5000""#) && page.html.contains(r#"value="3""#));
    assert!(page.html.contains("<strong>At the limit:</strong>"));
    // One Checkout button per plan and interval Stripe has a price for.
    assert!(
        page.html.contains(
            r#"name="plan" value="pro"><input type="hidden" name="interval" value="month""#
        )
    );
    assert!(
        page.html.contains(
            r#"name="plan" value="pro"><input type="hidden" name="interval" value="year""#
        )
    );
    let res = p
        .post(
            "/billing/checkout",
            &[("plan", "pro"), ("interval", "month")],
            true,
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        "https://checkout.stripe.com/c/pay/cs_test_barkeep"
    );
    let sessions = stripe.requests_to("/v1/checkout/sessions").await;
    assert_eq!(sessions.len(), 1);
    // A plan that does not exist comes back as a sentence on the page, nothing sent.
    let res = p
        .post(
            "/billing/checkout",
            &[("plan", "gold"), ("interval", "month")],
            true,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.html.contains(r#"class="flash error""#), "{}", res.html);
    assert_eq!(stripe.requests_to("/v1/checkout/sessions").await.len(), 1);
    // The portal, now that the member is a Stripe customer.
    let res = p.post("/billing/portal", &[], true).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        "https://billing.stripe.com/p/session/test_barkeep"
    );
    // Without the token, no call to Stripe at all.
    let res = p
        .post(
            "/billing/checkout",
            &[("plan", "pro"), ("interval", "month")],
            false,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(stripe.requests_to("/v1/checkout/sessions").await.len(), 1);
}
