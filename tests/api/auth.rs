use reqwest::StatusCode;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use barkeep::db::entities::login_attempt::{self, Outcome};

use crate::helpers::{Options, PASSWORD, TestApp, body_json, session_cookie};

#[tokio::test]
async fn signup_sends_a_confirmation_link_that_confirms_once() {
    let app = TestApp::spawn().await;
    let res = app.signup("Ada@Example.com").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = body_json(res).await;
    assert_eq!(body["member"]["email"], "ada@example.com");
    assert_eq!(body["member"]["email_confirmed"], false);
    assert!(!body.to_string().contains(PASSWORD));

    let mail = app
        .wait_for_email("ada@example.com", "Confirm your email")
        .await;
    assert!(
        mail.html.contains("/confirm-email?token="),
        "the HTML part links too"
    );
    assert!(
        !String::from_utf8_lossy(&mail.raw).contains(PASSWORD),
        "no password in email"
    );
    let link = mail.link("/confirm-email");
    assert!(link.starts_with(&app.address), "{link} uses the base URL");

    let res = app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("confirmed"));
    let cookie = app.login("ada@example.com", PASSWORD).await;
    let me = body_json(app.get_as("/api/v1/me", &cookie).await).await;
    assert_eq!(me["email_confirmed"], true);

    // The link works once.
    let res = app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_json(
            "/api/v1/email/confirm",
            &json!({"token": mail.token("/confirm-email")}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res).await["error"], "invalid_token");
}

#[tokio::test]
async fn the_api_confirms_by_token_too() {
    let app = TestApp::spawn().await;
    app.signup("bea@example.com").await;
    let mail = app.wait_for_email("bea@example.com", "Confirm").await;
    let res = app
        .post_json(
            "/api/v1/email/confirm",
            &json!({"token": mail.token("/confirm-email")}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["member"]["email_confirmed"], true);
    let res = app
        .post_json("/api/v1/email/confirm", &json!({"token": "made-up"}), None)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signup_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "1234567890"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "qwertyuiop"}),
            "password",
        ),
    ] {
        let res = app.post_json("/api/v1/signup", &body, None).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err = body_json(res).await;
        assert_eq!(err["error"], "invalid");
        assert_eq!(err["field"], field);
        assert!(err["message"].as_str().unwrap().len() > 5);
    }
    let res = app
        .post_json("/api/v1/signup", &json!({"email": "a@example.com"}), None)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body_json(res).await;
    assert_eq!(err["field"], "password");
    assert!(err["message"].as_str().unwrap().contains("missing field"));
    let res = app
        .post_json(
            "/api/v1/signup",
            &json!({"email": 42, "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "email");
    assert!(app.emails().is_empty());
}

#[tokio::test]
async fn an_address_can_only_sign_up_once() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.signup("cy@example.com").await.status(),
        StatusCode::CREATED
    );
    let res = app.signup("CY@example.com").await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(res).await["error"], "email_taken");
}

#[tokio::test]
async fn login_sets_a_safe_session_cookie_that_me_accepts() {
    let app = TestApp::spawn().await;
    app.signup("dee@example.com").await;
    let res = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "dee@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let raw = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(raw.contains("HttpOnly"), "{raw}");
    assert!(raw.contains("SameSite=Lax"), "{raw}");
    assert!(raw.contains("Path=/"), "{raw}");
    assert!(!raw.contains("Secure"), "plain http base URL: {raw}");
    let cookie = session_cookie(&res).unwrap();
    assert_eq!(body_json(res).await["member"]["email"], "dee@example.com");

    let res = app.get_as("/api/v1/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["email"], "dee@example.com");

    let res = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(res).await["error"], "unauthorized");
    let res = app.get_as("/api/v1/me", "barkeep_session=forged").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The token is stored hashed: the cookie value appears nowhere in the database.
    let token = cookie.split('=').nth(1).unwrap();
    let sessions = barkeep::db::entities::session::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0].token_hash, token);
    assert!(!sessions[0].token_hash.contains(token));
}

#[tokio::test]
async fn cookies_are_secure_when_the_base_url_is_https() {
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_BASE_URL", "https://bars.example.com"))
            .await;
    app.signup("eve@example.com").await;
    let res = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "eve@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    let mail = app.wait_for_email("eve@example.com", "Confirm").await;
    assert!(
        mail.link("/confirm-email")
            .starts_with("https://bars.example.com/confirm-email?token=")
    );
}

#[tokio::test]
async fn wrong_passwords_and_unknown_addresses_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.signup("fay@example.com").await;
    let wrong = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "fay@example.com", "password": "not the password"}),
            None,
        )
        .await;
    let unknown = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_eq!(body_json(wrong).await, body_json(unknown).await);
}

#[tokio::test]
async fn every_login_attempt_is_recorded_with_ip_agent_and_outcome() {
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")).await;
    app.signup("gus@example.com").await;
    for (password, ip) in [("nope nope nope", "203.0.113.7"), (PASSWORD, "203.0.113.8")] {
        app.client
            .post(app.url("/api/v1/login"))
            .header("x-forwarded-for", ip)
            .header("user-agent", "TestBrowser/1.0")
            .json(&json!({"email": "gus@example.com", "password": password}))
            .send()
            .await
            .unwrap();
    }
    // Without a trusted proxy the header is not believed.
    let untrusting = TestApp::spawn().await;
    untrusting.signup("gus@example.com").await;
    untrusting
        .client
        .post(untrusting.url("/api/v1/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "gus@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();

    let rows = login_attempt::Entity::find()
        .order_by_asc(login_attempt::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    let seen: Vec<(Outcome, &str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.outcome, r.ip.as_str(), r.user_agent.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Outcome::BadPassword, "203.0.113.7", Some("TestBrowser/1.0")),
            (Outcome::Success, "203.0.113.8", Some("TestBrowser/1.0"))
        ]
    );
    let rows = login_attempt::Entity::find()
        .all(&untrusting.db)
        .await
        .unwrap();
    assert_eq!(rows[0].ip, "127.0.0.1");
}

#[tokio::test]
async fn the_sixth_bad_password_in_a_row_is_throttled() {
    let app = TestApp::spawn().await;
    app.signup("hal@example.com").await;
    app.signup("ivy@example.com").await;
    let attempt = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/login",
                &json!({"email": email, "password": password}),
                None,
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("hal@example.com", "wrong password!").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = attempt("hal@example.com", "wrong password!").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (800..=900).contains(&retry),
        "about 15 minutes, got {retry}"
    );
    assert_eq!(body_json(res).await["error"], "too_many_requests");
    // Even the right password waits for the window to pass.
    assert_eq!(
        attempt("hal@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account from the same IP is not affected.
    assert_eq!(
        attempt("ivy@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );

    // When the window has passed, logging in works again.
    app.advance(chrono::Duration::minutes(16));
    assert_eq!(
        attempt("hal@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn twenty_failures_from_one_ip_throttle_that_ip() {
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1/32"))
            .await;
    app.signup("jo@example.com").await;
    let from = |ip: &'static str, email: String, password: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/login"))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for i in 0..20 {
        assert_eq!(
            from("198.51.100.1", format!("guess{i}@example.com"), PASSWORD).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("198.51.100.1", "jo@example.com".into(), PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("198.51.100.2", "jo@example.com".into(), PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    app.signup("kit@example.com").await;
    let cookie = app.login("kit@example.com", PASSWORD).await;
    let res = app
        .post_json("/api/v1/logout", &json!({}), Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        app.get_as("/api/v1/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app.post_json("/api/v1/logout", &json!({}), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_known_and_unknown_addresses() {
    let app = TestApp::spawn().await;
    app.signup("lou@example.com").await;
    app.wait_for_email("lou@example.com", "Confirm").await;
    let known = app
        .post_json(
            "/api/v1/password/forgot",
            &json!({"email": "lou@example.com"}),
            None,
        )
        .await;
    let unknown = app
        .post_json(
            "/api/v1/password/forgot",
            &json!({"email": "who@example.com"}),
            None,
        )
        .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(
        known.headers().get("content-length"),
        unknown.headers().get("content-length")
    );
    assert_eq!(body_json(known).await, body_json(unknown).await);

    let mail = app
        .wait_for_email("lou@example.com", "Reset your barkeep password")
        .await;
    assert!(mail.text.contains("60 minutes"));
    assert!(
        app.delivered()
            .await
            .iter()
            .all(|m| m.to != "who@example.com")
    );
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let app = TestApp::spawn().await;
    app.signup("max@example.com").await;
    let old_session = app.login("max@example.com", PASSWORD).await;
    app.post_json(
        "/api/v1/password/forgot",
        &json!({"email": "max@example.com"}),
        None,
    )
    .await;
    let mail = app.wait_for_email("max@example.com", "Reset").await;
    let token = mail.token("/reset-password");

    // Opening the link shows a form and does not use the token up.
    let page = app
        .client
        .get(mail.link("/reset-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"password\""));

    // A weak password is refused and the link still works afterwards.
    let res = app
        .post_json(
            "/api/v1/password/reset",
            &json!({"token": token, "password": "weak"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let new_password = "a brand new passphrase";
    let res = app
        .post_json(
            "/api/v1/password/reset",
            &json!({"token": token, "password": new_password}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!body_json(res).await.to_string().contains(new_password));
    assert_eq!(
        app.get_as("/api/v1/me", &old_session).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "max@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.login("max@example.com", new_password).await;
    let notice = app
        .wait_for_email("max@example.com", "password was changed")
        .await;
    assert!(!String::from_utf8_lossy(&notice.raw).contains(new_password));

    // Used once, never again.
    let res = app
        .post_json(
            "/api/v1/password/reset",
            &json!({"token": token, "password": "yet another passphrase"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res).await["error"], "invalid_token");
}

#[tokio::test]
async fn an_expired_reset_link_is_refused() {
    let app = TestApp::spawn().await;
    app.signup("ned@example.com").await;
    app.post_json(
        "/api/v1/password/forgot",
        &json!({"email": "ned@example.com"}),
        None,
    )
    .await;
    let mail = app.wait_for_email("ned@example.com", "Reset").await;
    // An hour and a minute later:
    app.advance(chrono::Duration::minutes(61));
    let res = app
        .post_json(
            "/api/v1/password/reset",
            &json!({"token": mail.token("/reset-password"), "password": "a brand new passphrase"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    app.login("ned@example.com", PASSWORD).await;
}

#[tokio::test]
async fn the_reset_form_works_without_javascript() {
    let app = TestApp::spawn().await;
    app.signup("ora@example.com").await;
    let (cookie, csrf) = app.form_token("/forgot-password").await;
    let res = app
        .client
        .post(app.url("/forgot-password"))
        .header("cookie", &cookie)
        .form(&[("email", "ora@example.com"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mail = app.wait_for_email("ora@example.com", "Reset").await;
    let token = mail.token("/reset-password");
    let (cookie, csrf) = app
        .form_token(&format!("/reset-password?token={token}"))
        .await;
    let res = app
        .client
        .post(app.url("/reset-password"))
        .header("cookie", &cookie)
        .form(&[
            ("token", token.as_str()),
            ("password", "short"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at least 10 characters"));
    let res = app
        .client
        .post(app.url("/reset-password"))
        .header("cookie", &cookie)
        .form(&[
            ("token", token.as_str()),
            ("password", "a brand new passphrase"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Password changed"));
    app.login("ora@example.com", "a brand new passphrase").await;
    // Without the token, the same form is refused.
    let res = app
        .client
        .post(app.url("/forgot-password"))
        .form(&[("email", "ora@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn reset_emails_are_capped_per_hour() {
    let app = TestApp::spawn().await;
    app.signup("pat@example.com").await;
    let resets = |mails: Vec<crate::helpers::Email>| {
        mails
            .into_iter()
            .filter(|m| m.subject.contains("Reset"))
            .count()
    };
    for n in 1..=3 {
        app.post_json(
            "/api/v1/password/forgot",
            &json!({"email": "pat@example.com"}),
            None,
        )
        .await;
        assert_eq!(resets(app.delivered().await), n);
    }
    for _ in 0..2 {
        let res = app
            .post_json(
                "/api/v1/password/forgot",
                &json!({"email": "pat@example.com"}),
                None,
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::ACCEPTED,
            "the answer does not change"
        );
    }
    assert_eq!(resets(app.delivered().await), 3);
    // An hour later the cap starts over.
    app.advance(chrono::Duration::minutes(61));
    app.post_json(
        "/api/v1/password/forgot",
        &json!({"email": "pat@example.com"}),
        None,
    )
    .await;
    assert_eq!(resets(app.delivered().await), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_reset_requests_stays_under_the_cap() {
    let app = TestApp::spawn().await;
    app.signup("pia@example.com").await;
    let body = json!({"email": "pia@example.com"});
    let burst: Vec<_> = (0..10)
        .map(|_| app.post_json("/api/v1/password/forgot", &body, None))
        .collect();
    for res in futures_util::future::join_all(burst).await {
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let resets = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.subject.contains("Reset"))
        .count();
    assert!((1..=3).contains(&resets), "{resets} reset emails");
}
