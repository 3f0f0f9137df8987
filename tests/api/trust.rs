//! Accounts nobody can take, read as an attacker would: an unconfirmed signup holds
//! nothing that outlasts the owner's arrival, email changes cannot flood an inbox, and
//! no `next` leads away from barkeep after logging in.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, body_json};

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
