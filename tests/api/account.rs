use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, body_json};

async fn patch(app: &TestApp, cookie: &str, body: serde_json::Value) -> reqwest::Response {
    app.client
        .patch(app.url("/api/v1/me"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn members_set_their_name_and_industry() {
    let app = TestApp::spawn().await;
    let cookie = app.member("quinn@example.com").await;
    let res = patch(
        &app,
        &cookie,
        json!({"name": "Quinn", "industry": "ecommerce"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me = body_json(res).await;
    assert_eq!(me["name"], "Quinn");
    assert_eq!(me["industry"], "ecommerce");
    assert_eq!(me["promo_opt_in"], false, "promotional email is opt-in");

    // Absent fields stay; null clears.
    let me = body_json(patch(&app, &cookie, json!({"name": null})).await).await;
    assert_eq!(me["name"], serde_json::Value::Null);
    assert_eq!(me["industry"], "ecommerce");

    let res = patch(&app, &cookie, json!({"industry": "alchemy"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "industry");
    let res = patch(&app, &cookie, json!({"industy": "saas"})).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a misspelt field is not silently ignored"
    );
    let err = body_json(res).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `industy`")
    );

    let list = body_json(
        app.client
            .get(app.url("/api/v1/industries"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        list["industries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["code"] == "saas")
    );
}

#[tokio::test]
async fn members_see_and_end_their_own_sessions_only() {
    let app = TestApp::spawn().await;
    let laptop = app.member("rae@example.com").await;
    let phone = app.login("rae@example.com", PASSWORD).await;
    let other = app.member("sam@example.com").await;

    let res = app.get_as("/api/v1/sessions", &laptop).await;
    assert_eq!(res.status(), StatusCode::OK);
    let sessions = body_json(res).await["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().all(|s| s["ip"] == "127.0.0.1"));
    let phone_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_i64()
        .unwrap();

    // Another member cannot end it, or even learn it exists.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/sessions/{phone_id}")))
        .header("cookie", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_as("/api/v1/me", &phone).await.status(),
        StatusCode::OK
    );

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/sessions/{phone_id}")))
        .header("cookie", &laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as("/api/v1/me", &phone).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_as("/api/v1/me", &laptop).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn api_tokens_are_shown_once_and_work_as_bearer_tokens() {
    let app = TestApp::spawn().await;
    let cookie = app.member("tess@example.com").await;
    let other = app.member("uma@example.com").await;

    let res = app
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "deploy script"}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = body_json(res).await;
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("bk_") && token.len() > 40);
    let id = created["id"].as_i64().unwrap();

    let list = body_json(app.get_as("/api/v1/tokens", &cookie).await).await;
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&token),
        "the token is never shown again"
    );

    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body_json(me).await["email"], "tess@example.com");
    let list = body_json(app.get_as("/api/v1/tokens", &cookie).await).await;
    assert!(list["tokens"][0]["last_used_at"].is_string());
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth("bk_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Another member's token id is not theirs to delete.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .header("cookie", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A token can manage the account like a session can.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = app
        .post_json("/api/v1/tokens", &json!({"name": "  "}), Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let here = app.member("val@example.com").await;
    let elsewhere = app.login("val@example.com", PASSWORD).await;

    let res = app
        .post_json(
            "/api/v1/me/password",
            &json!({"current_password": "not it at all", "new_password": "a fresh passphrase"}),
            Some(&here),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "current_password");
    let res = app
        .post_json(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "password123"}),
            Some(&here),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(res).await["field"], "new_password");

    let res = app
        .post_json(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "a fresh passphrase"}),
            Some(&here),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as("/api/v1/me", &here).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_as("/api/v1/me", &elsewhere).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.login("val@example.com", "a fresh passphrase").await;
    let mail = app
        .wait_for_email("val@example.com", "password was changed")
        .await;
    assert!(mail.text.contains("Every other session was logged out"));
}

#[tokio::test]
async fn changing_the_email_waits_for_the_new_address_to_confirm() {
    let app = TestApp::spawn().await;
    let cookie = app.member("wes@example.com").await;
    app.member("taken@example.com").await;

    let res = app
        .post_json(
            "/api/v1/me/email",
            &json!({"email": "new-wes@example.com", "password": "wrong password"}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_json(
            "/api/v1/me/email",
            &json!({"email": "taken@example.com", "password": PASSWORD}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let res = app
        .post_json(
            "/api/v1/me/email",
            &json!({"email": "New-Wes@example.com", "password": PASSWORD}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Nothing changes until the link is opened.
    assert_eq!(
        body_json(app.get_as("/api/v1/me", &cookie).await).await["email"],
        "wes@example.com"
    );
    let mail = app
        .wait_for_email("new-wes@example.com", "Confirm your new email")
        .await;
    let res = app
        .client
        .get(mail.link("/confirm-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let me = body_json(app.get_as("/api/v1/me", &cookie).await).await;
    assert_eq!(me["email"], "new-wes@example.com");
    assert_eq!(me["email_confirmed"], true);
    app.wait_for_email("wes@example.com", "email address was changed")
        .await;
    app.login("new-wes@example.com", PASSWORD).await;
    let res = app
        .post_json(
            "/api/v1/login",
            &json!({"email": "wes@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keeping_leads_longer_than_the_plan_allows_is_a_402_that_changes_nothing() {
    let stripe = crate::stripe_mock::StripeMock::start().await;
    let app = TestApp::spawn_with(stripe.options()).await;
    let me = app.member("keeper@example.com").await;
    let patch = |days: u64| {
        app.client
            .patch(app.url("/api/v1/me"))
            .header("cookie", &me)
            .json(&json!({"lead_retention_days": days}))
            .send()
    };
    // The free plan keeps no lead after it was delivered.
    let res = patch(7).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let body = body_json(res).await;
    assert_eq!(body["error"], "lead_retention_limit", "{body}");
    assert_eq!(body["limit"], 0, "{body}");
    let member = body_json(app.get_as("/api/v1/me", &me).await).await;
    assert_ne!(member["member"]["lead_retention_days"], 7, "{member}");
    // Within the plan, the change is kept.
    let res = patch(0).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
