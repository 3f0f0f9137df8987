use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, body_json};

#[tokio::test]
async fn a_site_gets_an_unguessable_key_and_the_snippet_to_paste() {
    let app = TestApp::spawn().await;
    let me = app.member("site@example.com").await;
    let site = app
        .site(
            &me,
            &[
                "https://Shop.Example.com/any/path",
                "*.Example.org",
                "shop.example.com",
            ],
        )
        .await;
    let key = site["key"].as_str().unwrap();
    assert!(key.len() >= 22, "at least 128 random bits");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(
        site["snippet"],
        format!("<script async src=\"{}/s/{key}.js\"></script>", app.address)
    );
    let hosts: Vec<&str> = site["hostnames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["shop.example.com", "*.example.org"],
        "normalised and de-duplicated"
    );
    assert!(site["hostnames"][0]["last_event_at"].is_null());

    let other = app.site(&me, &["blog.example.com"]).await;
    assert_ne!(other["key"], site["key"]);
    let list = body_json(app.get_as("/api/v1/sites", &me).await).await;
    assert_eq!(list["sites"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn hostnames_and_names_are_validated() {
    let app = TestApp::spawn().await;
    let me = app.member("val@example.com").await;
    for (body, field) in [
        (json!({"name": "Shop", "hostnames": []}), "hostnames"),
        (json!({"name": "Shop", "hostnames": ["*.com"]}), "hostnames"),
        (
            json!({"name": "Shop", "hostnames": ["not a host"]}),
            "hostnames",
        ),
        (
            json!({"name": "Shop", "hostnames": ["a*.example.com"]}),
            "hostnames",
        ),
        (json!({"name": "", "hostnames": ["shop.example"]}), "name"),
        (json!({"name": "Shop"}), "hostnames"),
        (
            json!({"name": "Shop", "hostnames": ["shop.example"], "colour": "red"}),
            "colour",
        ),
    ] {
        let res = app.post_json("/api/v1/sites", &body, Some(&me)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err = body_json(res).await;
        assert_eq!(err["field"], field, "{body} -> {err}");
    }
}

#[tokio::test]
async fn members_rename_change_hostnames_and_delete_their_sites() {
    let app = TestApp::spawn().await;
    let me = app.member("own@example.com").await;
    let site = app.site(&me, &["a.example", "b.example"]).await;
    let id = site["id"].as_i64().unwrap();
    let res = app
        .send(
            Method::PATCH,
            &format!("/api/v1/sites/{id}"),
            &me,
            Some(&json!({"name": "Renamed", "hostnames": ["b.example", "c.example"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let site = body_json(res).await;
    assert_eq!(site["name"], "Renamed");
    let hosts: Vec<&str> = site["hostnames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["b.example", "c.example"]);
    assert_eq!(
        app.send(Method::DELETE, &format!("/api/v1/sites/{id}"), &me, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_as(&format!("/api/v1/sites/{id}"), &me)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
