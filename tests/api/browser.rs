//! The bar in a real browser, served by a real barkeep: headless Chromium (Debian's
//! package) driven by Playwright through `tests/browser/run.mjs`. Each test configures
//! bars through the API, then runs the visitor-side checks of `tests/browser/scenarios.mjs`
//! against the site's script.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::{TestApp, link_bar};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub use crate::processes::free_port;

/// Runs scenarios (name, options) in Chromium against `script_url`, with test pages on
/// `http://shop.example:{page_port}`. Panics with the runner's output when one fails.
pub async fn run_scenarios(script_url: &str, page_port: u16, scenarios: &[(&str, Value)]) {
    let runner = root().join("tests/browser/run.mjs");
    assert!(
        root().join("widget/node_modules/playwright-core").is_dir(),
        "widget/node_modules is missing: run `make test` (it runs `npm ci` in widget/)"
    );
    let mut args: Vec<String> = vec![runner.display().to_string()];
    for (name, options) in scenarios {
        args.push(name.to_string());
        args.push(options.to_string());
    }
    let out = tokio::process::Command::new("node")
        .args(&args)
        .env("BARKEEP_SCRIPT_URL", script_url)
        .env("BARKEEP_SITE_HOST", "shop.example")
        .env("BARKEEP_PAGE_PORT", page_port.to_string())
        .output()
        .await
        .expect("run node (Node.js is needed for the browser tests)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser scenarios failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", scenarios.len())),
        "{stdout}"
    );
}

pub fn artifact(name: &str) -> String {
    let dir = root().join("tests/browser/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_link_bar_works_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let me = app.member("browser@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let page_port = free_port();
    let message = "Free shipping <img src=x onerror=\"window.__xss=1\"> this week";
    let mut bar = link_bar(message);
    let sale = format!("http://shop.example:{page_port}/sale");
    bar["link_url"] = json!(sale);
    bar["targeting"] = json!({"paths_exclude": ["/checkout*"], "device": "desktop"});
    bar["background_color"] = json!("#112233");
    bar["button_color"] = json!("#ffcc00");
    bar["button_text_color"] = json!("#000000");
    let bar = app.bar(&me, site["id"].as_i64().unwrap(), &bar).await;
    let deployment = app.publish(&me, bar["id"].as_i64().unwrap()).await[0]["id"]
        .as_i64()
        .unwrap();

    run_scenarios(
        site["script_url"].as_str().unwrap(),
        page_port,
        &[
            ("shows", json!({"message": message})),
            (
                "clickFollowsLink",
                json!({"href": sale, "deployment": deployment}),
            ),
            ("hidden", json!({"path": "/checkout/pay"})),
            ("hidden", json!({"device": "Pixel 7"})),
            ("hidden", json!({"host": "elsewhere.example"})),
            ("dismiss", json!({"days": 7})),
            ("overlayNoShift", json!({})),
            ("hostilePage", json!({"page": {"csp": "strict"}})),
            ("hostilePage", json!({"page": {"hostileCss": true}})),
            ("screenshot", json!({"file": artifact("top-bar.png")})),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_bar_at_the_bottom_sends_the_lead() {
    let app = TestApp::spawn().await;
    let me = app.member("browser-email@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let bar = app
        .bar(
            &me,
            site["id"].as_i64().unwrap(),
            &json!({
                "goal": "email", "message": "Get our newsletter", "placement": "bottom",
                "thanks_message": "Welcome aboard", "trigger": {"type": "delay", "seconds": 1}
            }),
        )
        .await;
    app.publish(&me, bar["id"].as_i64().unwrap()).await;
    run_scenarios(
        site["script_url"].as_str().unwrap(),
        free_port(),
        &[
            ("viewOnceVisible", json!({"delayMs": 1000})),
            ("emailLead", json!({"thanks": "Welcome aboard"})),
            ("screenshot", json!({"file": artifact("bottom-bar.png")})),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_and_a_click_in_the_browser_show_in_the_stats() {
    let app = TestApp::spawn().await;
    let page_port = free_port();
    let sale = format!("http://shop.example:{page_port}/sale");
    let mut bar = link_bar("Counted for real");
    bar["link_url"] = json!(sale);
    let live = app.live_bar("e2e@example.com", &bar).await;
    run_scenarios(
        live.site["script_url"].as_str().unwrap(),
        page_port,
        &[(
            "clickFollowsLink",
            json!({"href": sale, "deployment": live.deployment, "human": true}),
        )],
    )
    .await;
    // One view (the bar, seen), one click; after the click the bar stays hidden on the
    // page the link opened, so no second view.
    let path = format!("/api/v1/bars/{}/stats", live.bar_id);
    app.expect_totals(&live.cookie, &path, [1, 1, 1, 0, 0])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modal_with_a_countdown_and_translations_works_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let me = app.member("browser-modal@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let bar = app
        .bar(
            &me,
            site["id"].as_i64().unwrap(),
            &json!({
                "goal": "email", "element_type": "modal", "message": "Join our list",
                "thanks_message": "Welcome aboard", "trigger": {"type": "delay", "seconds": 1},
                "countdown": {"type": "evergreen", "minutes": 60},
                "translations": {"de": {"message": "Tritt unserer Liste bei", "thanks_message": "Willkommen"}}
            }),
        )
        .await;
    app.publish(&me, bar["id"].as_i64().unwrap()).await;
    let page = json!({"body": "<button id=\"before\">A button of the page</button><p>Content</p>"});
    run_scenarios(
        site["script_url"].as_str().unwrap(),
        free_port(),
        &[
            (
                "elementWorks",
                json!({"type": "modal", "goal": "email", "thanks": "Welcome aboard", "message": "Join our list", "page": page}),
            ),
            (
                "elementWorks",
                json!({"type": "modal", "goal": "email", "thanks": "Willkommen", "message": "Tritt unserer Liste bei",
                       "context": {"locale": "de-DE", "viewport": {"width": 1280, "height": 800}}, "page": page}),
            ),
            ("dialogKeyboard", json!({"page": page})),
            ("noShift", json!({"page": page})),
            ("screenshot", json!({"file": artifact("modal-from-server.png"), "page": page})),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slider_and_a_takeover_from_the_server_work_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let me = app.member("browser-slider@example.com").await;
    let slider_site = app.site(&me, &["shop.example"]).await;
    let page_port = free_port();
    let sale = format!("http://shop.example:{page_port}/sale");
    let mut slider = link_bar("A slider from the corner");
    slider["element_type"] = json!("slider");
    slider["side"] = json!("left");
    slider["placement"] = json!("bottom");
    slider["link_url"] = json!(sale);
    let slider = app
        .bar(&me, slider_site["id"].as_i64().unwrap(), &slider)
        .await;
    app.publish(&me, slider["id"].as_i64().unwrap()).await;
    let paragraphs = "<p>The quick brown fox jumps over the lazy dog.</p>".repeat(150);
    let page =
        json!({"body": format!("<button id=\"before\">A button of the page</button>{paragraphs}")});
    run_scenarios(
        slider_site["script_url"].as_str().unwrap(),
        page_port,
        &[
            (
                "elementWorks",
                json!({"type": "slider", "goal": "link", "href": sale}),
            ),
            ("sliderNoFocus", json!({"page": page})),
            ("noShift", json!({})),
        ],
    )
    .await;

    let other = app.member("browser-takeover@example.com").await;
    let takeover_site = app.site(&other, &["shop.example"]).await;
    let takeover = app
        .bar(
            &other,
            takeover_site["id"].as_i64().unwrap(),
            &json!({"goal": "announcement", "element_type": "takeover", "message": "We are closed on Monday"}),
        )
        .await;
    app.publish(&other, takeover["id"].as_i64().unwrap()).await;
    run_scenarios(
        takeover_site["script_url"].as_str().unwrap(),
        free_port(),
        &[
            (
                "elementWorks",
                json!({"type": "takeover", "goal": "announcement", "message": "We are closed on Monday"}),
            ),
            ("noShift", json!({})),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn country_rules_in_a_real_browser_behind_a_trusted_proxy() {
    let db = crate::elements::geoip_db();
    let app = TestApp::spawn_with(
        crate::helpers::Options::default()
            .var("BARKEEP_GEOIP_DB", &db.display().to_string())
            .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1/32"),
    )
    .await;
    let me = app.member("browser-country@example.com").await;
    let site = app.site(&me, &["shop.example"]).await;
    let mut bar = link_bar("Nur in Deutschland");
    bar["targeting"] = json!({"countries_include": ["DE"]});
    let bar = app.bar(&me, site["id"].as_i64().unwrap(), &bar).await;
    app.publish(&me, bar["id"].as_i64().unwrap()).await;
    // The browser's requests reach the server through a "proxy" on 127.0.0.1 that says who
    // the visitor is: a Deutsche Telekom address (DE), then Google's (US).
    let from = |ip: &str| json!({"extraHTTPHeaders": {"x-forwarded-for": ip}, "viewport": {"width": 1280, "height": 800}});
    run_scenarios(
        site["script_url"].as_str().unwrap(),
        free_port(),
        &[
            (
                "shows",
                json!({"message": "Nur in Deutschland", "context": from("80.128.0.1")}),
            ),
            ("hidden", json!({"context": from("8.8.8.8")})),
        ],
    )
    .await;
}
