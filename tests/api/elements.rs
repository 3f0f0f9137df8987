//! Element types, countdowns, audience rules and translations through the API, and the
//! script each site gets: only the runtime modules its live bars use, one link bar in at
//! most 2,000 bytes gzipped, and a script per visitor country where bars target
//! countries (looked up in a real IP-to-country database).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use barkeep::scripts::compiled::RUNTIME;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, body_json, link_bar};

/// A bar with every option this wave added, as a member would send it.
fn everything() -> Value {
    json!({
        "goal": "email",
        "element_type": "modal",
        "message": "Join the list: 10 % off your first order",
        "button_label": "Join",
        "thanks_message": "Welcome aboard",
        "trigger": {"type": "delay", "seconds": 3},
        "countdown": {"type": "evergreen", "minutes": 90, "end_text": "The offer has ended"},
        "targeting": {
            "visitor": "returning",
            "visit_number": {"min": 2, "max": 10},
            "days_since_last_visit": {"max": 30},
            "pages_this_visit": {"min": 2},
            "languages_include": ["de", "pt-BR"],
            "languages_exclude": ["fr"],
            "weekdays": ["sat", "mon", "sun"],
            "hours": {"from": "9:00", "to": "17:30"},
            "time_zone": "Europe/Berlin",
            "query": [{"name": "ref", "value": "newsletter"}, {"name": "gclid"}],
            "page_values": [{"key": "plan", "value": "pro"}]
        },
        "frequency": {"once_per_visit": true, "max_views": 3, "every_nth_page": 2},
        "translations": {
            "de": {"message": "Auf die Liste: 10 % Rabatt", "button_label": "Los", "countdown_end_text": "Vorbei"},
            "pt-BR": {"message": "Entre na lista"}
        }
    })
}

/// The code of a runtime module, to look for in a served script.
fn module(name: &str) -> &'static str {
    RUNTIME
        .modules
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, code)| code.as_str())
        .unwrap_or_else(|| panic!("the runtime has a module {name}"))
}

#[tokio::test]
async fn every_option_is_kept_tidied_and_sent_to_the_runtime() {
    let app = TestApp::spawn().await;
    let me = app.member("options@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let bar = app
        .bar(&me, site["id"].as_i64().unwrap(), &everything())
        .await;
    assert_eq!(bar["element_type"], "modal");
    assert_eq!(bar["side"], "right");
    assert_eq!(bar["display"], "overlay");
    assert_eq!(bar["countdown"]["type"], "evergreen");
    let t = &bar["targeting"];
    assert_eq!(t["languages_include"], json!(["de", "pt-br"]));
    assert_eq!(t["weekdays"], json!(["mon", "sat", "sun"]));
    assert_eq!(t["hours"], json!({"from": "09:00", "to": "17:30"}));
    assert_eq!(t["countries_include"], json!([]));
    assert_eq!(bar["frequency"]["max_views"], 3);
    let v = &bar["variants"][0];
    assert_eq!(v["translations"]["de"]["button_label"], "Los");
    assert_eq!(v["translations"]["pt-br"]["message"], "Entre na lista");

    let id = bar["id"].as_i64().unwrap();
    let deployment = app.publish(&me, id).await[0]["id"].as_i64().unwrap();
    let js = app.script(site["key"].as_str().unwrap()).await;
    // The configuration the runtime reads (see widget/README.md).
    for part in [
        r#""y":"modal""#,
        r#""cd":{"e":5400,"x":"The offer has ended"}"#,
        r#""fq":[1,3,2]"#,
        r#""vn":"returning""#,
        r#""vc":[2,10]"#,
        r#""ds":[null,30]"#,
        r#""pv":[2,null]"#,
        r#""la":{"in":["de","pt-br"],"ex":["fr"]}"#,
        r#""wd":[1,6,7]"#,
        r#""hr":[540,1050]"#,
        r#""tz":"Europe/Berlin""#,
        r#""q":[["ref","newsletter"],["gclid",null]]"#,
        r#""pg":[["plan","pro"]]"#,
        r#""tx":{"de":{"m":"Auf die Liste: 10 % Rabatt","l":"Los","x":"Vorbei"},"pt-br":{"m":"Entre na lista"}}"#,
    ] {
        assert!(js.contains(part), "{part} missing from the script: {js}");
    }
    assert!(js.contains(&format!(r#""d":{deployment}"#)));
    // The modules those options need, and none that nothing uses.
    for name in [
        "form",
        "dialog",
        "visits",
        "lang",
        "clock",
        "query",
        "page",
        "freq",
        "countdown",
        "i18n",
    ] {
        assert!(js.contains(module(name)), "module {name} missing");
    }
    for name in [
        "slider", "push", "scroll", "exit", "paths", "schedule", "source",
    ] {
        assert!(!js.contains(module(name)), "module {name} sent unused");
    }

    // Changing the bar changes what is sent; a null countdown removes it.
    let res = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/bars/{id}"),
            &me,
            Some(&json!({"countdown": null, "element_type": "slider", "side": "left", "placement": "bottom"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bar = body_json(res).await;
    assert_eq!(bar["countdown"], Value::Null);
    assert_eq!(bar["side"], "left");
    app.publish(&me, id).await;
    let js = app.script(site["key"].as_str().unwrap()).await;
    assert!(js.contains(r#""y":"slider""#) && js.contains(r#""sd":"l""#));
    assert!(js.contains(module("slider")) && !js.contains(module("dialog")));
    assert!(!js.contains(module("countdown")));
}

#[tokio::test]
async fn a_site_with_one_link_bar_gets_a_script_of_at_most_2000_bytes_gzipped() {
    let app = TestApp::spawn().await;
    let me = app.member("small@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let bar = app
        .bar(
            &me,
            site["id"].as_i64().unwrap(),
            &link_bar("Free shipping on every order this week"),
        )
        .await;
    app.publish(&me, bar["id"].as_i64().unwrap()).await;
    let key = site["key"].as_str().unwrap();
    let plain = app.script(key).await;
    let res = app
        .client
        .get(app.url(&format!("/s/{key}.js")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let gzipped = res.bytes().await.unwrap().len();
    println!(
        "one link bar at the top: {} bytes, {gzipped} bytes gzipped (budget 2000)",
        plain.len()
    );
    assert!(
        gzipped <= 2000,
        "a one-bar site's script is {gzipped} bytes gzipped; the budget is 2000"
    );
    for (name, code) in &RUNTIME.modules {
        assert!(!plain.contains(code.as_str()), "module {name} sent unused");
    }
}

#[tokio::test]
async fn broken_options_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let me = app.member("refused@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let path = format!("/api/v1/sites/{}/bars", site["id"]);
    let cases = [
        (
            json!({"element_type": "modal", "closable": false}),
            "closable",
        ),
        (json!({"element_type": "popup"}), "element_type"),
        (
            json!({"countdown": {"type": "until", "ends_at": "2001-01-01T00:00:00Z"}}),
            "countdown.ends_at",
        ),
        (
            json!({"countdown": {"type": "evergreen", "minutes": 0}}),
            "countdown.minutes",
        ),
        (
            json!({"targeting": {"languages_include": ["english"]}}),
            "targeting.languages_include",
        ),
        (
            json!({"targeting": {"time_zone": "Mars/Olympus"}}),
            "targeting.time_zone",
        ),
        (
            json!({"targeting": {"hours": {"from": "25:00", "to": "10:00"}}}),
            "targeting.hours.from",
        ),
        (
            json!({"targeting": {"visit_number": {"min": 5, "max": 2}}}),
            "targeting.visit_number",
        ),
        (
            json!({"targeting": {"page_values": [{"key": "plan", "value": "a"}, {"key": "plan", "value": "b"}]}}),
            "targeting.page_values",
        ),
        (
            json!({"frequency": {"every_nth_page": 1}}),
            "frequency.every_nth_page",
        ),
        (
            json!({"translations": {"klingon language": {"message": "x"}}}),
            "translations",
        ),
        (
            json!({"translations": {"de": {"button_label": "x".repeat(41)}}}),
            "translations.de.button_label",
        ),
    ];
    for (extra, field) in cases {
        let mut body = link_bar("Hello");
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = app.post_json(&path, &body, Some(&me)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err = body_json(res).await;
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    // Without a GeoIP database, country rules are refused with the reason.
    let mut body = link_bar("Hello");
    body["targeting"] = json!({"countries_include": ["DE"]});
    let res = app.post_json(&path, &body, Some(&me)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = body_json(res).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("BARKEEP_GEOIP_DB"),
        "{err}"
    );
}

/// The IP-to-country database the tests use: `@ip-location-db/geo-whois-asn-country-mmdb`
/// (CC0/CC BY 4.0) from the npm registry, fetched once into the target folder.
pub fn geoip_db() -> PathBuf {
    static FETCH: Mutex<()> = Mutex::new(());
    const PACKAGE: &str = "@ip-location-db/geo-whois-asn-country-mmdb@2.3.2026061719";
    let _once = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/geoip");
    let file = dir.join("geo-whois-asn-country.mmdb");
    if file.exists() {
        return file;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let packed = std::process::Command::new("npm")
        .args(["pack", "--silent", PACKAGE])
        .current_dir(&dir)
        .output()
        .expect("npm runs (Node.js is needed for the tests)");
    assert!(
        packed.status.success(),
        "npm pack {PACKAGE}: {}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let tarball = String::from_utf8_lossy(&packed.stdout).trim().to_string();
    let untar = std::process::Command::new("tar")
        .args([
            "xzf",
            &tarball,
            "--strip-components=1",
            "package/geo-whois-asn-country.mmdb",
        ])
        .current_dir(&dir)
        .status()
        .expect("tar runs");
    assert!(untar.success(), "unpacking {tarball}");
    std::fs::remove_file(dir.join(&tarball)).ok();
    file
}

/// The site's script as a visitor at `ip` gets it through a trusted proxy.
async fn script_from(app: &TestApp, key: &str, ip: &str) -> (String, String) {
    let res = app
        .client
        .get(app.url(&format!("/s/{key}.js")))
        .header("accept-encoding", "identity")
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
    (res.text().await.unwrap(), cache)
}

#[tokio::test]
async fn country_rules_show_each_country_its_bars_and_keep_no_address() {
    let db = geoip_db();
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_GEOIP_DB", &db.display().to_string())
            .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1/32"),
    )
    .await;
    let me = app.member("countries@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let site_id = site["id"].as_i64().unwrap();
    let key = site["key"].as_str().unwrap();

    // A site without country rules keeps its public, shared-cache script.
    let everyone = app.bar(&me, site_id, &link_bar("For everyone")).await;
    app.publish(&me, everyone["id"].as_i64().unwrap()).await;
    let (js, cache) = script_from(&app, key, "8.8.8.8").await;
    assert!(
        js.contains("For everyone") && cache.starts_with("public"),
        "{cache}"
    );

    let mut german = link_bar("Kostenloser Versand");
    german["targeting"] = json!({"countries_include": ["de", "AT"]});
    let german = app.bar(&me, site_id, &german).await;
    assert_eq!(
        german["targeting"]["countries_include"],
        json!(["AT", "DE"])
    );
    app.publish(&me, german["id"].as_i64().unwrap()).await;
    let mut not_us = link_bar("Worldwide, not the US");
    not_us["targeting"] = json!({"countries_exclude": ["US"]});
    let not_us = app.bar(&me, site_id, &not_us).await;
    app.publish(&me, not_us["id"].as_i64().unwrap()).await;

    // Deutsche Telekom (DE), Google (US), and an address no country is known for.
    let (de, cache) = script_from(&app, key, "80.128.0.1").await;
    assert_eq!(cache, "private, max-age=60");
    assert!(de.contains("Kostenloser Versand") && de.contains("Worldwide, not the US"));
    assert!(de.contains("For everyone"));
    let (us, _) = script_from(&app, key, "8.8.8.8").await;
    assert!(!us.contains("Kostenloser Versand") && !us.contains("Worldwide, not the US"));
    assert!(us.contains("For everyone"));
    let (unknown, _) = script_from(&app, key, "10.1.2.3").await;
    assert!(!unknown.contains("Kostenloser Versand"));
    assert!(unknown.contains("Worldwide, not the US") && unknown.contains("For everyone"));
    // Each country's script is made once: the same ETag again.
    let etag = |ip: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("/s/{key}.js")))
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap()
                .headers()["etag"]
                .clone()
        }
    };
    assert_eq!(etag("80.128.0.1").await, etag("80.128.0.1").await);
    assert_ne!(etag("80.128.0.1").await, etag("8.8.8.8").await);

    // Nothing of the addresses is kept: no table holds them.
    let dump = dump_database(&app).await;
    for ip in ["80.128.0.1", "8.8.8.8", "10.1.2.3"] {
        assert!(!dump.contains(ip), "{ip} is stored");
    }
}

/// Every text column of every table, as one string (enough to look for an address).
async fn dump_database(app: &TestApp) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let tables_sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let tables = app
        .db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let name: String = t.try_get_by_index(0).unwrap();
        let cast = match backend {
            sea_orm::DbBackend::Postgres => format!("SELECT CAST(t AS text) FROM \"{name}\" t"),
            _ => format!("SELECT * FROM \"{name}\""),
        };
        for row in app
            .db
            .query_all_raw(Statement::from_string(backend, cast))
            .await
            .unwrap()
        {
            for i in 0.. {
                match row.try_get_by_index::<Option<String>>(i) {
                    Ok(Some(v)) => {
                        writeln!(out, "{v}").unwrap();
                    }
                    Ok(None) => {}
                    Err(_) if i < 64 => continue,
                    Err(_) => break,
                }
            }
        }
    }
    String::from_utf8(out).unwrap()
}
