//! Accounts several people share: invitations, roles, switching between accounts,
//! handing ownership over, leaving, erasure of one person, and the upgrade that made
//! every member the owner of an account of their own.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body_json, link_bar};

/// The token of the invitation link in the newest invitation email to `to`.
async fn invitation_token(app: &TestApp, to: &str) -> String {
    let mail = app.wait_for_email(to, "invited you").await;
    let link = mail.link("/invitations/accept");
    link.split("token=").nth(1).unwrap().to_string()
}

/// `owner` invites `email` as `role`; the invited person accepts with a new login and
/// logs in. Returns their cookie.
pub async fn join(app: &TestApp, inviter: &str, email: &str, role: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/account/invitations",
            &json!({"email": email, "role": role}),
            Some(inviter),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let token = invitation_token(app, email).await;
    let res = app
        .post_json(
            "/api/v1/invitations/accept",
            &json!({"token": token, "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let accepted = body_json(res).await;
    assert_eq!(accepted["role"], role);
    assert_eq!(accepted["created"], true);
    app.login(email, PASSWORD).await
}

async fn status_and_code(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body["error"].clone())
}

#[tokio::test]
async fn an_owner_invites_an_editor_and_a_viewer_who_each_do_what_their_role_allows() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let site = app.site(&owner, &["shop.example"]).await;
    let site_id = site["id"].as_i64().unwrap();
    let editor = join(&app, &owner, "editor@example.com", "editor").await;
    let viewer = join(&app, &owner, "viewer@example.com", "viewer").await;

    // Both see the account's site.
    for cookie in [&editor, &viewer] {
        let sites = body_json(app.get_as("/api/v1/sites", cookie).await).await;
        assert_eq!(sites["sites"][0]["id"], site_id, "{sites}");
    }
    // The viewer changes nothing.
    let res = app
        .post_json(
            &format!("/api/v1/sites/{site_id}/bars"),
            &link_bar("Viewer's"),
            Some(&viewer),
        )
        .await;
    let (status, code) = status_and_code(res).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code, "role_forbidden");
    // The editor makes and publishes a bar, but touches neither billing nor people.
    let bar = app.bar(&editor, site_id, &link_bar("Editor's")).await;
    app.publish(&editor, bar["id"].as_i64().unwrap()).await;
    let (status, code) = status_and_code(app.get_as("/api/v1/billing", &editor).await).await;
    assert_eq!(
        (status, code),
        (StatusCode::FORBIDDEN, json!("role_forbidden"))
    );
    let res = app
        .post_json(
            "/api/v1/account/invitations",
            &json!({"email": "friend@example.com", "role": "viewer"}),
            Some(&editor),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The people list shows all three with their roles.
    let people = body_json(app.get_as("/api/v1/account/people", &viewer).await).await;
    let roles: Vec<(String, String)> = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["email"].as_str().unwrap().to_string(),
                p["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("owner@example.com".into(), "owner".into()),
            ("editor@example.com".into(), "editor".into()),
            ("viewer@example.com".into(), "viewer".into()),
        ]
    );
    // Nobody grants more than they have, and ownership is not granted at all.
    let admin = join(&app, &owner, "admin@example.com", "admin").await;
    let res = app
        .post_json(
            "/api/v1/account/invitations",
            &json!({"email": "boss@example.com", "role": "owner"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_invitation_works_once_and_not_after_revocation_or_expiry() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let accept = |token: String| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/invitations/accept",
                &json!({"token": token, "password": PASSWORD}),
                None,
            )
            .await
        }
    };
    let invite = |email: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let res = app
                .post_json(
                    "/api/v1/account/invitations",
                    &json!({"email": email, "role": "editor"}),
                    Some(owner),
                )
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
            body_json(res).await["id"].as_i64().unwrap()
        }
    };

    // Used twice.
    invite("twice@example.com").await;
    let token = invitation_token(&app, "twice@example.com").await;
    assert_eq!(accept(token.clone()).await.status(), StatusCode::OK);
    let (status, code) = status_and_code(accept(token).await).await;
    assert_eq!(
        (status, code),
        (StatusCode::BAD_REQUEST, json!("invitation_invalid"))
    );

    // Revoked.
    let id = invite("revoked@example.com").await;
    let token = invitation_token(&app, "revoked@example.com").await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/account/invitations/{id}")))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, code) = status_and_code(accept(token).await).await;
    assert_eq!(
        (status, code),
        (StatusCode::BAD_REQUEST, json!("invitation_invalid"))
    );

    // Expired: seven days, then no more.
    invite("late@example.com").await;
    let token = invitation_token(&app, "late@example.com").await;
    app.advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    let (status, code) = status_and_code(accept(token).await).await;
    assert_eq!(
        (status, code),
        (StatusCode::BAD_REQUEST, json!("invitation_invalid"))
    );

    // Pending ones are listed; used, revoked and expired ones are not.
    let pending = body_json(app.get_as("/api/v1/account/invitations", &owner).await).await;
    assert_eq!(pending["invitations"], json!([]), "{pending}");
}

#[tokio::test]
async fn an_address_that_has_a_login_accepts_signed_in_and_then_works_in_two_accounts() {
    let app = TestApp::spawn().await;
    let ann = app.member("ann@example.com").await;
    let ann_site = app.site(&ann, &["ann.example"]).await;
    let ben = app.member("ben@example.com").await;
    let ben_site = app.site(&ben, &["ben.example"]).await;

    let res = app
        .post_json(
            "/api/v1/account/invitations",
            &json!({"email": "ben@example.com", "role": "viewer"}),
            Some(&ann),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = invitation_token(&app, "ben@example.com").await;
    // Not signed in, an address that has a login must log in first.
    let res = app
        .post_json(
            "/api/v1/invitations/accept",
            &json!({"token": token, "password": "another password entirely"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            "/api/v1/invitations/accept",
            &json!({"token": token}),
            Some(&ben),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res).await["created"], false);

    // Ben's accounts: his own first (the current one), then Ann's.
    let accounts = body_json(app.get_as("/api/v1/accounts", &ben).await).await;
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{accounts}");
    assert_eq!(list[0]["role"], "owner");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["role"], "viewer");
    let anns_account = list[1]["id"].as_i64().unwrap();

    // Each account shows only its own sites, by the header.
    let sites_in = |account: Option<i64>| {
        let (app, ben) = (&app, &ben);
        async move {
            let mut req = app
                .client
                .get(app.url("/api/v1/sites"))
                .header("cookie", ben);
            if let Some(a) = account {
                req = req.header("barkeep-account", a.to_string());
            }
            body_json(req.send().await.unwrap()).await["sites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(sites_in(None).await, [ben_site["id"].as_i64().unwrap()]);
    assert_eq!(
        sites_in(Some(anns_account)).await,
        [ann_site["id"].as_i64().unwrap()]
    );
    // In Ann's account Ben is a viewer; another account's ids are not found.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/sites/{}", ben_site["id"])))
        .header("cookie", &ben)
        .header("barkeep-account", anns_account.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // An account he is not in is refused.
    let (status, code) = status_and_code(
        app.client
            .get(app.url("/api/v1/sites"))
            .header("cookie", &ann)
            .header("barkeep-account", list[0]["id"].to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code),
        (StatusCode::FORBIDDEN, json!("not_in_account"))
    );

    // A token made while acting in Ann's account acts there, as a viewer, whatever
    // header it comes with.
    let res = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("cookie", &ben)
        .header("barkeep-account", anns_account.to_string())
        .json(&json!({"name": "reports"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = body_json(res).await["token"].as_str().unwrap().to_string();
    let res = app
        .client
        .get(app.url("/api/v1/sites"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let ids: Vec<i64> = body_json(res).await["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [ann_site["id"].as_i64().unwrap()]);
    let res = app
        .client
        .get(app.url("/api/v1/sites"))
        .bearer_auth(&token)
        .header("barkeep-account", list[0]["id"].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_read_only_token_reads_but_changes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let site = app.site(&owner, &["shop.example"]).await;
    let res = app
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "dashboard tool", "role": "viewer"}),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = body_json(res).await;
    assert_eq!(created["role"], "viewer");
    let token = created["token"].as_str().unwrap().to_string();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/sites/{}", site["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/sites/{}/bars", site["id"])))
        .bearer_auth(&token)
        .json(&link_bar("From a reporting tool"))
        .send()
        .await
        .unwrap();
    let (status, code) = status_and_code(res).await;
    assert_eq!(
        (status, code),
        (StatusCode::FORBIDDEN, json!("role_forbidden"))
    );
}

#[tokio::test]
async fn ownership_is_handed_to_an_admin_and_a_sole_owner_cannot_leave() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let _editor = join(&app, &owner, "editor@example.com", "editor").await;
    let admin = join(&app, &owner, "admin@example.com", "admin").await;
    let people = body_json(app.get_as("/api/v1/account/people", &owner).await).await;
    let id_of = |email: &str| {
        people["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == email)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (editor_id, admin_id) = (id_of("editor@example.com"), id_of("admin@example.com"));

    let (status, code) = status_and_code(
        app.post_json("/api/v1/account/leave", &json!({}), Some(&owner))
            .await,
    )
    .await;
    assert_eq!((status, code), (StatusCode::CONFLICT, json!("sole_owner")));
    // Only to an admin.
    let (status, code) = status_and_code(
        app.post_json(
            "/api/v1/account/owner",
            &json!({"member_id": editor_id}),
            Some(&owner),
        )
        .await,
    )
    .await;
    assert_eq!((status, code), (StatusCode::CONFLICT, json!("not_admin")));
    // An admin cannot take it.
    let res = app
        .post_json(
            "/api/v1/account/owner",
            &json!({"member_id": admin_id}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .post_json(
            "/api/v1/account/owner",
            &json!({"member_id": admin_id}),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let me = body_json(app.get_as("/api/v1/me", &admin).await).await;
    assert_eq!(me["role"], "owner");
    let me = body_json(app.get_as("/api/v1/me", &owner).await).await;
    assert_eq!(me["role"], "admin");
    // The old owner, an admin now, may leave; the editor is removed by the new owner.
    let res = app
        .post_json("/api/v1/account/leave", &json!({}), Some(&owner))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/account/people/{editor_id}")))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let people = body_json(app.get_as("/api/v1/account/people", &admin).await).await;
    assert_eq!(people["people"].as_array().unwrap().len(), 1, "{people}");
    // The old owner is in no account now: their login works, account routes say so.
    let accounts = body_json(app.get_as("/api/v1/accounts", &owner).await).await;
    assert_eq!(accounts["accounts"], json!([]));
    let (status, code) = status_and_code(app.get_as("/api/v1/sites", &owner).await).await;
    assert_eq!((status, code), (StatusCode::FORBIDDEN, json!("no_account")));
    // An owner cannot be removed, and a role is not changed to owner.
    let (status, code) = status_and_code(
        app.client
            .put(app.url(&format!("/api/v1/account/people/{admin_id}/role")))
            .header("cookie", &admin)
            .json(&json!({"role": "viewer"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code), (StatusCode::CONFLICT, json!("owner_role")));
}

#[tokio::test]
async fn erasing_one_person_leaves_the_account_and_its_bars_to_the_others() {
    let app = TestApp::spawn().await;
    let live = app
        .live_bar("owner@example.com", &link_bar("Still here"))
        .await;
    let admin = join(&app, &live.cookie, "admin@example.com", "admin").await;
    let res = app
        .client
        .delete(app.url("/api/v1/me"))
        .header("cookie", &live.cookie)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    // The admin owns the account now, with its site and its live bar.
    let me = body_json(app.get_as("/api/v1/me", &admin).await).await;
    assert_eq!(me["role"], "owner");
    let sites = body_json(app.get_as("/api/v1/sites", &admin).await).await;
    assert_eq!(sites["sites"][0]["id"], live.site["id"]);
    let script = app.script(live.site["key"].as_str().unwrap()).await;
    assert!(script.contains("Still here"), "{script}");
    // Of the erased person nothing is left.
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id FROM members WHERE email = 'owner@example.com'".to_string(),
        ))
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn the_upgrade_makes_every_member_the_owner_of_an_account_with_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = crate::helpers::fresh_database(dir.path()).await;
    let db = sea_orm::Database::connect(&fresh.url).await.unwrap();
    <migration::Migrator as migration::MigratorTrait>::up(&db, Some(14))
        .await
        .unwrap();
    let at = "'2026-12-01 00:00:00+00:00'";
    for sql in [
        format!(
            "INSERT INTO members (id, email, password_hash, industry, lead_retention_days, created_at, updated_at) VALUES \
             (3, 'ann@example.com', 'x', 'saas', 30, {at}, {at}), (7, 'ben@example.com', 'x', NULL, 0, {at}, {at})"
        ),
        format!(
            "INSERT INTO sites (id, member_id, name, key, script_version, script_changed_at, created_at, updated_at) \
             VALUES (5, 7, 'Ben''s', 'k_ben', 1, {at}, {at}, {at})"
        ),
        format!(
            "INSERT INTO api_tokens (member_id, name, token_hash, created_at) VALUES (3, 'ci', 'h', {at})"
        ),
        format!(
            "INSERT INTO billing_accounts (member_id, plan_id, updated_at) VALUES (3, 'pro', {at})"
        ),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
    <migration::Migrator as migration::MigratorTrait>::up(&db, None)
        .await
        .unwrap();
    let query = |sql: &str| {
        let db = &db;
        let sql = sql.to_string();
        async move {
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap()
        }
    };
    let accounts =
        query("SELECT id, industry, lead_retention_days FROM accounts ORDER BY id").await;
    let accounts: Vec<(i64, Option<String>, i32)> = accounts
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
            )
        })
        .collect();
    assert_eq!(accounts, [(3, Some("saas".to_string()), 30), (7, None, 0)]);
    let owners =
        query("SELECT account_id, member_id, role FROM account_members ORDER BY account_id").await;
    let owners: Vec<(i64, i64, String)> = owners
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
            )
        })
        .collect();
    assert_eq!(owners, [(3, 3, "owner".into()), (7, 7, "owner".into())]);
    let site = query("SELECT account_id FROM sites WHERE id = 5").await;
    assert_eq!(site[0].try_get_by_index::<i64>(0).unwrap(), 7);
    let token = query("SELECT account_id FROM api_tokens").await;
    assert_eq!(token[0].try_get_by_index::<i64>(0).unwrap(), 3);
    let plan = query("SELECT account_id, plan_id FROM billing_accounts").await;
    assert_eq!(plan[0].try_get_by_index::<i64>(0).unwrap(), 3);
    // A new account after the upgrade takes an id no member had.
    db.execute_unprepared(&format!(
        "INSERT INTO accounts (name, lead_retention_days, created_at, updated_at) VALUES ('New', 0, {at}, {at})"
    ))
    .await
    .unwrap();
    let newest = query("SELECT MAX(id) FROM accounts").await;
    assert!(newest[0].try_get_by_index::<i64>(0).unwrap() > 7);
    // The rebuilt tables still refuse rows that name no account.
    let orphan = db
        .execute_unprepared(&format!(
            "INSERT INTO sites (account_id, name, key, script_version, script_changed_at, created_at, updated_at) \
             VALUES (999, 'x', 'k_x', 1, {at}, {at}, {at})"
        ))
        .await;
    assert!(orphan.is_err(), "a site of no account was stored");
}

#[tokio::test]
async fn the_audit_log_lists_who_did_what_for_owners_and_admins_only() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let site = app.site(&owner, &["shop.example"]).await;
    let editor = join(&app, &owner, "editor@example.com", "editor").await;
    let viewer = join(&app, &owner, "viewer@example.com", "viewer").await;
    let bar = app
        .bar(&editor, site["id"].as_i64().unwrap(), &link_bar("Logged"))
        .await;
    let bar_id = bar["id"].as_i64().unwrap();
    app.publish(&editor, bar_id).await;
    // A refused change is no change.
    let res = app
        .post_json(
            &format!("/api/v1/bars/{bar_id}/pause"),
            &json!({}),
            Some(&viewer),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let (status, code) = status_and_code(app.get_as("/api/v1/account/audit", &viewer).await).await;
    assert_eq!(
        (status, code),
        (StatusCode::FORBIDDEN, json!("role_forbidden"))
    );
    let log = body_json(app.get_as("/api/v1/account/audit", &owner).await).await;
    let entries: Vec<(String, String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["by"].as_str().unwrap_or("barkeep").to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        (
            "editor@example.com",
            "bar.published",
            format!("bar {bar_id}"),
        ),
        (
            "editor@example.com",
            "bar.created",
            format!("site {}", site["id"]),
        ),
        (
            "owner@example.com",
            "person.invited",
            "invited viewer@example.com as viewer".to_string(),
        ),
        (
            "owner@example.com",
            "person.invited",
            "invited editor@example.com as editor".to_string(),
        ),
        (
            "owner@example.com",
            "site.created",
            "the account".to_string(),
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.clone()))
        .collect();
    assert_eq!(entries, want, "{log}");
    assert_eq!(log["entries"][0]["ip"], "127.0.0.1");
    // A year later the entries are gone.
    app.advance(chrono::Duration::days(366));
    app.run_job("purge_audit").await;
    let owner = app.login("owner@example.com", PASSWORD).await;
    let log = body_json(app.get_as("/api/v1/account/audit", &owner).await).await;
    assert_eq!(log["entries"], json!([]));
}

#[tokio::test]
async fn pages_show_a_viewer_no_control_their_role_cannot_use() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let site = app.site(&owner, &["shop.example"]).await;
    let bar = app
        .bar(&owner, site["id"].as_i64().unwrap(), &link_bar("Shown"))
        .await;
    let viewer = join(&app, &owner, "viewer@example.com", "viewer").await;
    let editor = join(&app, &owner, "editor@example.com", "editor").await;
    let page = |path: String, cookie: String| {
        let app = &app;
        async move { app.get_as(&path, &cookie).await.text().await.unwrap() }
    };
    for (cookie, shown) in [(&viewer, false), (&editor, true)] {
        let sites = page("/sites".into(), cookie.clone()).await;
        assert_eq!(sites.contains(r#"action="/sites""#), shown, "{sites}");
        let editor_page = page(format!("/bars/{}", bar["id"]), cookie.clone()).await;
        assert_eq!(
            editor_page.contains(&format!(r#"action="/bars/{}/publish""#, bar["id"])),
            shown
        );
        assert_eq!(
            editor_page.contains(&format!(r#"action="/bars/{}/delete""#, bar["id"])),
            shown
        );
        let nav = page("/account".into(), cookie.clone()).await;
        assert!(
            !nav.contains(r#"href="/billing""#),
            "billing is for owners and admins"
        );
    }
    let nav = page("/account".into(), owner.clone()).await;
    assert!(nav.contains(r#"href="/billing""#));
}

#[tokio::test]
async fn lead_emails_go_to_everyone_who_may_see_leads_and_asked_for_them() {
    let app = TestApp::spawn().await;
    let live = app
        .live_bar(
            "owner@example.com",
            &json!({"goal": "email", "message": "Join the list"}),
        )
        .await;
    join(&app, &live.cookie, "editor@example.com", "editor").await;
    join(&app, &live.cookie, "viewer@example.com", "viewer").await;
    let quiet = join(&app, &live.cookie, "quiet@example.com", "editor").await;
    let res = app
        .client
        .patch(app.url("/api/v1/me"))
        .header("cookie", &quiet)
        .json(&json!({"lead_email": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(app.url("/l"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", crate::helpers::BROWSER_UA)
        .header("origin", "https://shop.example")
        .body(
            json!({"d": live.deployment, "h": "shop.example", "m": "fan@example.net", "hp": ""})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush().await;
    app.state.jobs.run_now("lead_delivery").await.unwrap();
    let mut told: Vec<String> = app
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.subject.contains("new lead"))
        .map(|m| m.to)
        .collect();
    told.sort();
    assert_eq!(told, ["editor@example.com", "owner@example.com"]);
}

#[tokio::test]
async fn an_admin_renames_the_account_and_everyone_sees_the_name() {
    let app = TestApp::spawn().await;
    let owner = app.member("owner@example.com").await;
    let admin = join(&app, &owner, "admin@example.com", "admin").await;
    let rename = |cookie: String, name: &'static str| {
        let app = &app;
        async move {
            app.client
                .patch(app.url("/api/v1/account"))
                .header("cookie", cookie)
                .json(&json!({"name": name}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        rename(admin.clone(), "  ").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let res = rename(admin.clone(), "Shop team").await;
    assert_eq!(res.status(), StatusCode::OK);
    let accounts = body_json(app.get_as("/api/v1/accounts", &owner).await).await;
    assert_eq!(accounts["accounts"][0]["name"], "Shop team");
    let log = body_json(app.get_as("/api/v1/account/audit", &owner).await).await;
    assert_eq!(log["entries"][0]["action"], "account.renamed");
    assert_eq!(log["entries"][0]["subject"], "named Shop team");
}
