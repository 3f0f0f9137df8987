//! Accounts nobody can take, read as an attacker would: an unconfirmed signup holds
//! nothing that outlasts the owner's arrival, email changes cannot flood an inbox, no
//! `next` leads away from barkeep after logging in, no other site (a sibling subdomain
//! included) can write with a member's cookie, strangers cannot lock the owner out, and
//! `/metrics` can be kept private.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{Options, PASSWORD, TestApp, body_json, link_bar};

/// A bearer token planted in the database for a member, as an account could hold one
/// before unconfirmed accounts were refused tokens.
async fn plant_token(app: &TestApp, email: &str) -> String {
    let token = "bk_planted_token_of_an_unconfirmed_signup";
    let hash = barkeep::accounts::secrets::hash_token(token);
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO api_tokens (member_id, name, token_hash, created_at) \
             SELECT id, 'planted', '{hash}', created_at FROM members WHERE email = '{email}'"
        ))
        .await
        .unwrap();
    token.to_string()
}

async fn with_bearer(app: &TestApp, token: &str) -> StatusCode {
    app.client
        .get(app.url("/api/v1/me/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_unconfirmed_signup_can_make_no_token_and_move_no_address() {
    let app = TestApp::spawn().await;
    // Someone signs up with an address that is not theirs.
    assert_eq!(
        app.signup("owner@example.com").await.status(),
        StatusCode::CREATED
    );
    let squatter = app.login("owner@example.com", PASSWORD).await;
    let res = app
        .post_json("/api/v1/tokens", &json!({"name": "mine"}), Some(&squatter))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(res).await["error"], "email_unconfirmed");
    let res = app
        .post_json(
            "/api/v1/me/email",
            &json!({"email": "squatter@evil.example", "password": PASSWORD}),
            Some(&squatter),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(res).await["error"], "email_unconfirmed");
    assert!(
        app.delivered()
            .await
            .iter()
            .all(|m| m.to != "squatter@evil.example"),
        "no email to the squatter's address"
    );
}

#[tokio::test]
async fn the_owner_s_password_reset_leaves_a_squatter_nothing() {
    let app = TestApp::spawn().await;
    app.signup("owner@example.com").await;
    let squatter = app.login("owner@example.com", PASSWORD).await;
    let token = plant_token(&app, "owner@example.com").await;
    // A pending email change to the squatter's address, made the way it once could be.
    app.db
        .execute_unprepared(
            "INSERT INTO email_tokens (member_id, purpose, token_hash, new_email, created_at, expires_at) \
             SELECT id, 'change_email', 'planted-hash', 'squatter@evil.example', created_at, '2999-01-01T00:00:00Z' \
             FROM members WHERE email = 'owner@example.com'",
        )
        .await
        .unwrap();
    assert_eq!(with_bearer(&app, &token).await, StatusCode::OK);

    // The owner, told the address is taken, resets the password from their mailbox.
    app.post_json(
        "/api/v1/password/forgot",
        &json!({"email": "owner@example.com"}),
        None,
    )
    .await;
    let mail = app.wait_for_email("owner@example.com", "Reset").await;
    let res = app
        .post_json(
            "/api/v1/password/reset",
            &json!({"token": mail.token("/reset-password"), "password": "the owner's own passphrase"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(with_bearer(&app, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_as("/api/v1/me", &squatter).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let open_links: i64 = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) FROM email_tokens WHERE used_at IS NULL",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(open_links, 0, "no email link outlives the reset");
}

#[tokio::test]
async fn the_first_confirmation_revokes_what_was_made_before_it() {
    let app = TestApp::spawn().await;
    app.signup("first@example.com").await;
    let token = plant_token(&app, "first@example.com").await;
    assert_eq!(with_bearer(&app, &token).await, StatusCode::OK);
    let mail = app
        .wait_for_email("first@example.com", "Confirm your email")
        .await;
    let res = app
        .client
        .get(mail.link("/confirm-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(with_bearer(&app, &token).await, StatusCode::UNAUTHORIZED);
    // Tokens made after confirming are the member's own and stay.
    let me = app.login("first@example.com", PASSWORD).await;
    let res = app
        .post_json("/api/v1/tokens", &json!({"name": "ci"}), Some(&me))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let fresh = body_json(res).await["token"].as_str().unwrap().to_string();
    assert_eq!(with_bearer(&app, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_voids_a_pending_email_change() {
    let app = TestApp::spawn().await;
    let me = app.member("mover@example.com").await;
    let res = app
        .post_json(
            "/api/v1/me/email",
            &json!({"email": "new-home@example.com", "password": PASSWORD}),
            Some(&me),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let link = app
        .wait_for_email("new-home@example.com", "Confirm")
        .await
        .link("/confirm-email");
    let res = app
        .post_json(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
            Some(&me),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let res = app.client.get(&link).send().await.unwrap();
    assert_ne!(res.status(), StatusCode::OK, "the old link no longer works");
    let who = body_json(app.get_as("/api/v1/me", &me).await).await;
    assert_eq!(who["email"], "mover@example.com");
}

#[tokio::test]
async fn email_changes_cannot_flood_an_inbox() {
    let app = TestApp::spawn().await;
    let me = app.member("changer@example.com").await;
    let change = |cookie: String, to: String| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/me/email",
                &json!({"email": to, "password": PASSWORD}),
                Some(&cookie),
            )
            .await
            .status()
        }
    };
    for i in 0..3 {
        let status = change(me.clone(), format!("try{i}@example.com")).await;
        assert!(status.is_success(), "{status}");
    }
    assert_eq!(
        change(me.clone(), "try3@example.com".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Many members naming one address: three a day reach it.
    for i in 0..4 {
        let other = app.member(&format!("other{i}@example.com")).await;
        let status = change(other, "victim@example.com".into()).await;
        if i < 3 {
            assert!(status.is_success(), "{status}");
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    let to_victim = app
        .delivered()
        .await
        .iter()
        .filter(|m| m.to == "victim@example.com")
        .count();
    assert_eq!(to_victim, 3);
}

#[tokio::test]
async fn no_next_after_login_leads_away_from_barkeep() {
    let app = TestApp::spawn().await;
    app.member("nexter@example.com").await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
    ] {
        let (cookie, csrf) = app.form_token("/login").await;
        let res = app
            .client
            .post(app.url("/login"))
            .header("cookie", cookie)
            .form(&[
                ("email", "nexter@example.com"),
                ("password", PASSWORD),
                ("next", next),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(res.headers()["location"], "/sites", "{next:?}");
    }
    // The login page does not carry such a `next` into its form.
    let page = app
        .client
        .get(app.url("/login?next=/%09/evil.example"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("evil.example"));
}

/// The `name=value` of the cookie `name` that `res` sets.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

#[tokio::test]
async fn other_sites_cannot_write_with_a_members_cookie() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("cross@shop.example", &link_bar("Sale")).await;
    let pause = app.url(&format!("/api/v1/bars/{}/pause", live.bar_id));
    let token = {
        let res = app
            .post_json("/api/v1/tokens", &json!({"name": "ci"}), Some(&live.cookie))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        body_json(res).await["token"].as_str().unwrap().to_string()
    };
    // What a page on a sibling subdomain (or anywhere else) can make a browser send.
    let forged: [&[(&str, &str)]; 5] = [
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://evil.shop.example"),
        ],
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ],
        &[("origin", "https://evil.shop.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "same-site")],
    ];
    for headers in forged {
        for path in [pause.clone(), app.url("/api/v1/logout")] {
            let mut req = app.client.post(&path).header("cookie", &live.cookie);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} {headers:?}");
            assert_eq!(
                body_json(res).await["error"],
                "cross_site",
                "{path} {headers:?}"
            );
        }
    }
    // Nothing happened: the bar is live and the session still works.
    let bar = body_json(
        app.get_as(&format!("/api/v1/bars/{}", live.bar_id), &live.cookie)
            .await,
    )
    .await;
    assert_eq!(bar["status"], "live", "{bar}");
    // barkeep's own pages may, and so may clients that are no browser.
    let res = app
        .client
        .post(&pause)
        .header("cookie", &live.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("origin", app.url(""))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let publish = app.url(&format!("/api/v1/bars/{}/publish", live.bar_id));
    let res = app
        .client
        .post(&publish)
        .header("cookie", &live.cookie)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let res = app
        .client
        .post(&pause)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A login forced on the browser from elsewhere is refused too.
    let res = app
        .client
        .post(app.url("/api/v1/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"email": "cross@shop.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_signed_in_form_token_is_bound_to_its_session() {
    let app = TestApp::spawn().await;
    let a = app.member("bound@example.com").await;
    let b = app.login("bound@example.com", PASSWORD).await;
    let token_of = |html: &str| {
        let field = r#"name="csrf" value=""#;
        let at = html.find(field).expect("a form") + field.len();
        html[at..].split('"').next().unwrap().to_string()
    };
    let page = |cookie: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(app.url("/sites"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert!(
                set_cookie(&res, "barkeep_csrf").is_none(),
                "no cookie token when signed in"
            );
            token_of(&res.text().await.unwrap())
        }
    };
    let token_a = page(a.clone()).await;
    let token_b = page(b.clone()).await;
    assert_ne!(token_a, token_b);
    let create = |cookie: String, token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/sites"))
                .header("cookie", cookie)
                .form(&[
                    ("name", "Shop"),
                    ("hostnames", "shop.example"),
                    ("csrf", &token),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Session b's token does not work with session a, nor does a token planted as the
    // form cookie (by a sibling subdomain, say) with the same value in the field.
    assert_eq!(
        create(a.clone(), token_b.clone()).await,
        StatusCode::FORBIDDEN
    );
    let planted = "P".repeat(43);
    assert_eq!(
        create(format!("{a}; barkeep_csrf={planted}"), planted).await,
        StatusCode::FORBIDDEN
    );
    let sites = body_json(app.get_as("/api/v1/sites", &a).await).await;
    assert_eq!(sites["sites"].as_array().map(Vec::len), Some(0), "{sites}");
    // Its own token works.
    assert_eq!(create(a.clone(), token_a).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn over_https_cookies_are_host_only_and_the_plain_names_are_not_read() {
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_BASE_URL", "https://bars.example"))
            .await;
    assert_eq!(
        app.signup("secure@example.com").await.status(),
        StatusCode::CREATED
    );
    let res = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "secure@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for v in res.headers().get_all("set-cookie") {
        let v = v.to_str().unwrap();
        assert!(v.starts_with("__Host-barkeep_"), "{v}");
        assert!(
            v.contains("; Secure") && v.contains("Path=/") && !v.contains("Domain"),
            "{v}"
        );
    }
    let session = set_cookie(&res, "__Host-barkeep_session").expect("the session cookie");
    let (_, token) = session.split_once('=').unwrap();
    assert_eq!(
        app.get_as("/api/v1/me", &session).await.status(),
        StatusCode::OK
    );
    // The same token under the plain name, as a sibling subdomain could set it.
    let plain = format!("barkeep_session={token}");
    assert_eq!(
        app.get_as("/api/v1/me", &plain).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn try_login(
    app: &TestApp,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(d) = device {
        req = req.header("cookie", d);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn strangers_cannot_lock_the_owner_out_of_a_browser_they_used() {
    let app = TestApp::spawn().await;
    app.member("locked@example.com").await;
    app.member("other@example.com").await;
    // The owner's browser logged in before and keeps its device cookie.
    let res = try_login(&app, "locked@example.com", PASSWORD, None).await;
    let device = set_cookie(&res, "barkeep_device").expect("a device cookie");
    let res = try_login(&app, "other@example.com", PASSWORD, None).await;
    let others_device = set_cookie(&res, "barkeep_device").unwrap();
    // A stranger guesses five times; the next stranger's attempt waits.
    for _ in 0..5 {
        let res = try_login(&app, "locked@example.com", "wrong guess", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = try_login(&app, "locked@example.com", PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // So does one with another account's device cookie, or a made-up one.
    let res = try_login(&app, "locked@example.com", PASSWORD, Some(&others_device)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let forged = format!(
        "barkeep_device={}",
        device.split_once('=').unwrap().1.replace('.', "x")
    );
    let res = try_login(&app, "locked@example.com", PASSWORD, Some(&forged)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, at their browser, gets in.
    let res = try_login(&app, "locked@example.com", PASSWORD, Some(&device)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // That browser's own failures hold it back after five, like anyone's.
    let device = set_cookie(&res, "barkeep_device").unwrap();
    for _ in 0..5 {
        let res = try_login(&app, "locked@example.com", "my typo", Some(&device)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = try_login(&app, "locked@example.com", PASSWORD, Some(&device)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn metrics_can_ask_for_a_bearer_token() {
    let secret = "a metrics token of some length";
    let app = TestApp::spawn_with(Options::default().var("BARKEEP_METRICS_TOKEN", secret)).await;
    let get = |auth: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(get(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("Bearer wrong")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some(&format!("Bearer {secret}"))).await, StatusCode::OK);
    // Without the setting, /metrics stays open (the health tests read it so).
    let open = TestApp::spawn().await;
    let res = open.client.get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
