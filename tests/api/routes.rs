//! Tests derived from the member API's route table itself, not from a hand-kept list: a
//! route added to the table is checked without anyone remembering to.

use std::collections::HashMap;

use barkeep::domain::Role;
use barkeep::web::api;
use barkeep::web::router::Access;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body_json, link_bar};

/// Puts an id of `ids` in place of each `{param}` of a route's path.
fn fill(path: &str, ids: &HashMap<&str, i64>) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => ids
                    .get(param)
                    .unwrap_or_else(|| panic!("the test has no id for {{{param}}}; add one"))
                    .to_string(),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// One of everything, owned by a member: the ids of every kind a route can name.
async fn one_of_everything(app: &TestApp, email: &str) -> (String, HashMap<&'static str, i64>) {
    let cookie = app.member(email).await;
    let site = app.site(&cookie, &["shop.example"]).await;
    let site_id = site["id"].as_i64().unwrap();
    let bar = app.bar(&cookie, site_id, &link_bar("Owned")).await;
    let bar_id = bar["id"].as_i64().unwrap();
    let variant = body_json(
        app.post_json(
            &format!("/api/v1/bars/{bar_id}/variants"),
            &json!({"message": "B"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let deployment = app.publish(&cookie, bar_id).await[0]["id"]
        .as_i64()
        .unwrap();
    let token = body_json(
        app.post_json("/api/v1/tokens", &json!({"name": "ci"}), Some(&cookie))
            .await,
    )
    .await;
    let sessions = body_json(app.get_as("/api/v1/sessions", &cookie).await).await;
    // A lead, as the event writer would keep it.
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO leads (site_id, deployment_id, email, created_at) VALUES ({site_id}, {deployment}, 'x@example.net', '2026-12-01T00:00:00Z')"
        ))
        .await
        .unwrap();
    let lead: i64 = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT CAST(MAX(id) AS BIGINT) FROM leads",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let goal = body_json(
        app.post_json(
            &format!("/api/v1/sites/{site_id}/goals"),
            &json!({"name": "purchase"}),
            Some(&cookie),
        )
        .await,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // A REST hook of the account, as an automation tool would subscribe it.
    let hook = body_json(
        app.post_json(
            "/api/v1/hooks",
            &json!({"event": "lead.created", "target_url": "https://hooks.example.com/catch/1"}),
            Some(&cookie),
        )
        .await,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // A person of the account, and an invitation not yet accepted.
    crate::teams::join(app, &cookie, &format!("target.{email}"), "viewer").await;
    let people = body_json(app.get_as("/api/v1/account/people", &cookie).await).await;
    let person = people["people"][1]["id"].as_i64().unwrap();
    let invitation = body_json(
        app.post_json(
            "/api/v1/account/invitations",
            &json!({"email": format!("pending.{email}"), "role": "viewer"}),
            Some(&cookie),
        )
        .await,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let ids = HashMap::from([
        ("member_id", person),
        ("invitation_id", invitation),
        ("lead_id", lead),
        ("goal_id", goal),
        ("hook_id", hook),
        ("site_id", site_id),
        ("bar_id", bar_id),
        ("variant_id", variant["id"].as_i64().unwrap()),
        ("deployment_id", deployment),
        ("token_id", token["id"].as_i64().unwrap()),
        // Operator routes refuse (401, 403) before they look an alert up.
        ("alert_id", 1),
        (
            "session_id",
            sessions["sessions"][0]["id"].as_i64().unwrap(),
        ),
    ]);
    (cookie, ids)
}

#[tokio::test]
async fn every_member_route_answers_401_without_credentials_and_404_for_another_members_ids() {
    let app = TestApp::spawn().await;
    let (owner, ids) = one_of_everything(&app, "owner@example.com").await;
    let intruder = app.member("intruder@example.com").await;
    let table = api::table();
    let (mut anonymous, mut foreign) = (0, 0);
    let mut operator_only = 0;
    for route in table.routes() {
        if route.access == Access::Public {
            continue;
        }
        let path = fill(route.path, &ids);
        let send = |cookie: Option<&str>| {
            let mut req = app
                .client
                .request(route.method.clone(), app.url(&path))
                .json(&json!({}));
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            req.send()
        };
        let res = send(None).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{} {path}",
            route.method
        );
        assert_eq!(body_json(res).await["error"], "unauthorized");
        anonymous += 1;
        if route.access == Access::Operator {
            let res = send(Some(&intruder)).await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "{} {path} as a member without the operator role",
                route.method
            );
            assert_eq!(body_json(res).await["error"], "not_operator");
            operator_only += 1;
        } else if route.params().next().is_some() {
            let res = send(Some(&intruder)).await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "{} {path} as another member",
                route.method
            );
            foreign += 1;
        }
    }
    assert!(
        anonymous >= 30 && foreign >= 20 && operator_only >= 1,
        "{anonymous} routes, {foreign} with ids, {operator_only} for operators"
    );
    // The intruder's deletes and edits touched nothing.
    for path in [
        format!("/api/v1/sites/{}", ids["site_id"]),
        format!("/api/v1/bars/{}", ids["bar_id"]),
        format!(
            "/api/v1/bars/{}/variants/{}",
            ids["bar_id"], ids["variant_id"]
        ),
        format!("/api/v1/deployments/{}/stats", ids["deployment_id"]),
    ] {
        assert_eq!(
            app.get_as(&path, &owner).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let tokens = body_json(app.get_as("/api/v1/tokens", &owner).await).await;
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 1);
}

/// A route's request as `cookie`, with an empty JSON object for a body.
async fn send_as(
    app: &TestApp,
    route: &barkeep::web::router::Route,
    path: &str,
    cookie: &str,
) -> (StatusCode, Value) {
    let res = app
        .client
        .request(route.method.clone(), app.url(path))
        .header("cookie", cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json::<Value>().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_account_route_refuses_the_roles_below_its_own_and_lets_the_others_through() {
    let app = TestApp::spawn().await;
    let (owner, ids) = one_of_everything(&app, "owner@example.com").await;
    let mut people = vec![(Role::Owner, owner.clone())];
    for (role, name) in [
        (Role::Admin, "admin"),
        (Role::Editor, "editor"),
        (Role::Viewer, "viewer"),
    ] {
        let cookie = crate::teams::join(&app, &owner, &format!("{name}@example.com"), name).await;
        people.push((role, cookie));
    }
    let table = api::table();
    let routes: Vec<_> = table
        .routes()
        .iter()
        .filter(|r| r.access.role().is_some())
        .collect();
    // Refused first: a refused request changes nothing, so every one meets the account
    // whole.
    let mut refused = 0;
    for route in &routes {
        let needed = route.access.role().unwrap();
        let path = fill(route.path, &ids);
        for (role, cookie) in people.iter().filter(|(r, _)| !r.allows(needed)) {
            let (status, body) = send_as(&app, route, &path, cookie).await;
            assert_eq!(
                (status, &body["error"]),
                (StatusCode::FORBIDDEN, &json!("role_forbidden")),
                "{} {path} as {role:?}",
                route.method
            );
            refused += 1;
        }
    }
    // Then every role the route allows; what deletes and leaves goes last, so the rest
    // still finds what it names.
    let mut allowed = 0;
    let mut ordered = routes.clone();
    ordered.sort_by_key(|r| {
        (
            r.path.ends_with("/leave"),
            r.method == reqwest::Method::DELETE
                && r.path.contains("{site_id}")
                && !r.path.contains("lead"),
        )
    });
    for route in ordered {
        let needed = route.access.role().unwrap();
        let path = fill(route.path, &ids);
        for (role, cookie) in people.iter().filter(|(r, _)| r.allows(needed)) {
            let (status, body) = send_as(&app, route, &path, cookie).await;
            assert!(
                status != StatusCode::UNAUTHORIZED && body["error"] != "role_forbidden",
                "{} {path} as {role:?}: {status} {body}",
                route.method
            );
            allowed += 1;
        }
    }
    assert!(
        refused >= 40 && allowed >= 100,
        "{refused} refused, {allowed} allowed"
    );
}

/// The dashboard's table, the same way: a refused role gets the 403 page naming its role
/// (forms are refused before their CSRF token is even looked at, so nothing changes);
/// an allowed one gets anything but that page (a form without its token is refused by
/// the token check instead).
#[tokio::test]
async fn every_dashboard_page_refuses_the_roles_below_its_own() {
    let app = TestApp::spawn().await;
    let (owner, ids) = one_of_everything(&app, "owner@example.com").await;
    let mut people = vec![(Role::Owner, owner.clone())];
    for (role, name) in [
        (Role::Admin, "admin"),
        (Role::Editor, "editor"),
        (Role::Viewer, "viewer"),
    ] {
        let cookie = crate::teams::join(&app, &owner, &format!("{name}@example.com"), name).await;
        people.push((role, cookie));
    }
    let table = barkeep::web::pages::table();
    let (mut refused, mut allowed) = (0, 0);
    for route in table.routes().iter().filter(|r| r.access.role().is_some()) {
        let needed = route.access.role().unwrap();
        let path = fill(route.path, &ids);
        for (role, cookie) in &people {
            let res = app
                .client
                .request(route.method.clone(), app.url(&path))
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("x=1")
                .send()
                .await
                .unwrap();
            let status = res.status();
            let page = res.text().await.unwrap();
            let role_page = page.contains("cannot do this");
            if role.allows(needed) {
                assert!(
                    !role_page && status != StatusCode::UNAUTHORIZED,
                    "{} {path} as {role:?}: {status}",
                    route.method
                );
                allowed += 1;
            } else {
                assert!(
                    status == StatusCode::FORBIDDEN && role_page,
                    "{} {path} as {role:?}: {status}",
                    route.method
                );
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 30 && allowed >= 60,
        "{refused} refused, {allowed} allowed"
    );
}

/// Every `$ref` in a document, wherever it is.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The document's paths are made from the table (`web::openapi`), so a row cannot be
/// missing from it by oversight; what is checked here is what the table alone does not
/// give: that every row is an annotated one, that each operation says what it answers
/// and what it takes the way the router and the other tests of this file treat it, and
/// that everything the operations refer to is in the document.
#[tokio::test]
async fn the_openapi_document_describes_every_route_of_the_table() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc = body_json(res).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = &doc["components"]["schemas"];
    let tags: Vec<&Value> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    let table = api::table();
    let mut documented = 0;
    for route in table.routes() {
        let method = route.method.as_str().to_lowercase();
        if route.path == "/api/v1/openapi.json" {
            // The document does not describe itself.
            assert!(route.documented().is_none());
            assert!(doc["paths"][route.path].is_null());
            continue;
        }
        // A row written with a literal path (`route!`) instead of `api_route!` would be
        // served and left out of the document.
        assert!(
            route.documented().is_some(),
            "{method} {}: an API row is written `api_route!(Access, module::handler)`",
            route.path
        );
        documented += 1;
        let op = &doc["paths"][route.path][&method];
        assert!(
            op.is_object(),
            "{method} {} is not in the document",
            route.path
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {}: the handler's doc comment is the operation's summary",
            route.path
        );
        assert!(
            op["tags"]
                .as_array()
                .is_some_and(|ts| !ts.is_empty() && ts.iter().all(|t| tags.contains(&t))),
            "{method} {}: its tags {} are not among the document's",
            route.path,
            op["tags"]
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {} documents no success",
            route.path
        );
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(
            secured,
            route.access != Access::Public,
            "{method} {}: the document's security must match the table",
            route.path
        );
        // What `every_member_route_answers_401_...` above expects of the route.
        let mut expected = vec!["400", "404", "422", "500"];
        if route.access != Access::Public {
            expected.push("401");
        }
        if route.access == Access::Operator {
            expected.push("403");
        }
        for status in expected {
            assert!(
                responses.contains_key(status),
                "{method} {} lacks {status}",
                route.path
            );
        }
        // An `_id` parameter is a number: the router answers 404 for anything else.
        for param in route.params() {
            let declared = op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == param && p["in"] == "path"));
            let declared = declared
                .unwrap_or_else(|| panic!("{method} {} does not document {{{param}}}", route.path));
            if param.ends_with("_id") {
                assert_eq!(
                    declared["schema"]["type"], "integer",
                    "{method} {}: {{{param}}} is a number",
                    route.path
                );
            }
        }
        // Request bodies refuse unknown fields, the same way for every body.
        if let Some(r) = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        {
            let name = r.rsplit('/').next().unwrap();
            assert_eq!(
                schemas[name]["additionalProperties"],
                json!(false),
                "{name} (the body of {method} {}) accepts unknown fields",
                route.path
            );
        }
    }
    // And nothing in the document that the table does not serve.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            assert!(
                table
                    .routes()
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is in the document and not in the table"
            );
        }
    }
    assert_eq!(operations, documented, "a route is in the table twice");
    assert!(documented >= 60, "{documented} documented routes");
    // Every reference resolves: the schemas of each operation were collected.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("an unexpected reference {r}"));
        assert!(schemas[name].is_object(), "{r} does not resolve");
    }
    for scheme in ["session", "bearer"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object());
    }
}
