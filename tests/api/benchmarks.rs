//! Benchmarks from a planted population of accounts with known rates: exactly the
//! quantiles and percentiles those rates give, withheld cells and their fallbacks,
//! leave-one-out, the 500-view floor, a change of industry, two processes computing once,
//! and one population planted end to end through the event endpoint.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{BROWSER_UA, Options, TestApp, body_json, ev, link_bar};

/// Type-7 quantile (linear between the nearest ranks), written out independently.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() as f64 - 1.0) * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("not a number: {a}"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

struct Account {
    cookie: String,
    bar: i64,
    deployment: i64,
}

/// An account in `industry` with one published top link bar.
async fn account(app: &TestApp, email: &str, industry: Option<&str>) -> Account {
    let cookie = app.member(email).await;
    if let Some(i) = industry {
        let res = app
            .send(
                reqwest::Method::PATCH,
                "/api/v1/me",
                &cookie,
                Some(&json!({"industry": i})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let site = app.site(&cookie, &["shop.example"]).await;
    let bar = app
        .bar(&cookie, site["id"].as_i64().unwrap(), &link_bar("Offer"))
        .await;
    let bar = bar["id"].as_i64().unwrap();
    let deployment = app.publish(&cookie, bar).await[0]["id"].as_i64().unwrap();
    Account {
        cookie,
        bar,
        deployment,
    }
}

/// Counters as the event writer leaves them: `views` and `clicks` today.
async fn plant(app: &TestApp, deployment: i64, views: i64, clicks: i64) {
    let now = app.clock.now().timestamp();
    let day = now - now.rem_euclid(86_400);
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO deployment_stats_daily (deployment_id, day, views, unique_visitors, clicks, dismissals, leads) \
             VALUES ({deployment}, {day}, {views}, 0, {clicks}, 0, 0)"
        ))
        .await
        .unwrap();
}

async fn compute(app: &TestApp) {
    app.state.jobs.run_now("benchmarks").await.unwrap();
}

async fn benchmarks(app: &TestApp, cookie: &str) -> Value {
    let res = app.get_as("/api/v1/benchmarks?window=30d", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res).await
}

fn ctr_group(b: &Value) -> Value {
    b["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metric"] == "ctr" && g["goal"] == "link" && g["placement"] == "top")
        .cloned()
        .unwrap_or_else(|| panic!("no link/top ctr group in {b}"))
}

#[tokio::test]
async fn the_numbers_are_exactly_what_the_planted_rates_give() {
    let app = TestApp::spawn().await;
    // Eleven SaaS accounts, 1 % to 11 %, 1,000 views each.
    let mut saas = Vec::new();
    for i in 1..=11 {
        let a = account(&app, &format!("saas{i}@example.com"), Some("saas")).await;
        plant(&app, a.deployment, 1000, i * 10).await;
        saas.push(a);
    }
    // One with too few views to count, and an account with no bar views at all.
    let small = account(&app, "small@example.com", Some("saas")).await;
    plant(&app, small.deployment, 499, 499).await;
    compute(&app).await;

    // The 6 % account sees the other ten: 1–5 % and 7–11 %.
    let me = ctr_group(&benchmarks(&app, &saas[5].cookie).await);
    let others: Vec<f64> = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
        .iter()
        .map(|r| *r as f64 / 100.0)
        .collect();
    assert_eq!(me["compared_with"], "industry");
    assert_eq!(me["industry"], "saas");
    assert_eq!(me["accounts"], 10, "the 499-view account is left out");
    close(&me["own_rate"], 0.06);
    close(&me["p10"], quantile(&others, 0.10));
    close(&me["p25"], quantile(&others, 0.25));
    close(&me["median"], quantile(&others, 0.50));
    close(&me["p75"], quantile(&others, 0.75));
    close(&me["p90"], quantile(&others, 0.90));
    // By hand, as documented: p10 = 0.01 + 0.9 × 0.01, median between 5 % and 7 %.
    close(&me["p10"], 0.019);
    close(&me["median"], 0.06);
    close(&me["percentile"], 50.0);
    assert_eq!(me["trend"].as_array().unwrap().len(), 1);

    // Levels, goals, placements and rates are stored as the words the API shows.
    let stored = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT DISTINCT level, goal, placement, metric FROM benchmark_cells ORDER BY level",
        ))
        .await
        .unwrap();
    let stored: Vec<(String, String, Option<String>, String)> = stored
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
                r.try_get_by_index(3).unwrap(),
            )
        })
        .collect();
    let word = |s: &str| s.to_string();
    assert_eq!(
        stored,
        [
            (word("all"), word("link"), None, word("ctr")),
            (
                word("all_industries"),
                word("link"),
                Some(word("top")),
                word("ctr")
            ),
            (
                word("industry"),
                word("link"),
                Some(word("top")),
                word("ctr")
            ),
        ]
    );

    // The top account: better than all ten others.
    close(
        &ctr_group(&benchmarks(&app, &saas[10].cookie).await)["percentile"],
        100.0,
    );
    // The small account sees all eleven (it is in none of them), with its own rate.
    let s = ctr_group(&benchmarks(&app, &small.cookie).await);
    assert_eq!(s["accounts"], 11);
    close(&s["own_rate"], 1.0);
    close(&s["percentile"], 100.0);

    // A bar reads the same comparison.
    let res = app
        .get_as(
            &format!("/api/v1/bars/{}/benchmark", saas[5].bar),
            &saas[5].cookie,
        )
        .await;
    let bar = ctr_group(&body_json(res).await);
    close(&bar["own_rate"], 0.06);
    close(&bar["median"], 0.06);
    assert_eq!(bar["accounts"], 10);
}

#[tokio::test]
async fn a_member_with_an_extreme_rate_does_not_move_their_own_benchmark() {
    let app = TestApp::spawn().await;
    let mut accounts = Vec::new();
    for i in 1..=12 {
        let a = account(&app, &format!("a{i}@example.com"), Some("ecommerce")).await;
        plant(&app, a.deployment, 1000, i * 5).await;
        accounts.push(a);
    }
    compute(&app).await;
    let before_mine = ctr_group(&benchmarks(&app, &accounts[0].cookie).await);
    let before_other = ctr_group(&benchmarks(&app, &accounts[1].cookie).await);
    // Account 0 suddenly converts 90 % of its views.
    app.db
        .execute_unprepared(&format!(
            "UPDATE deployment_stats_daily SET clicks = 900 WHERE deployment_id = {}",
            accounts[0].deployment
        ))
        .await
        .unwrap();
    app.advance(chrono::Duration::minutes(1));
    compute(&app).await;
    let after_mine = ctr_group(&benchmarks(&app, &accounts[0].cookie).await);
    let after_other = ctr_group(&benchmarks(&app, &accounts[1].cookie).await);
    close(&after_mine["own_rate"], 0.9);
    for q in ["p10", "p25", "median", "p75", "p90"] {
        assert_eq!(
            before_mine[q], after_mine[q],
            "{q} of the member's own benchmark moved"
        );
    }
    close(&after_mine["percentile"], 100.0);
    assert_ne!(before_other["p90"], after_other["p90"], "the others see it");
    assert_eq!(
        after_mine["trend"].as_array().unwrap().len(),
        1,
        "one week, its newest snapshot"
    );
}

#[tokio::test]
async fn too_few_or_dominated_cells_fall_back_and_say_why() {
    let app = TestApp::spawn_with(Options::default()).await;
    // Ten travel accounts: each sees only nine others.
    let mut travel = Vec::new();
    for i in 0..10 {
        let a = account(&app, &format!("t{i}@example.com"), Some("travel")).await;
        plant(&app, a.deployment, 1000, 20 + i).await;
        travel.push(a);
    }
    // Twelve media accounts, one of them with more views than the other eleven together.
    let mut media = Vec::new();
    for i in 0..12 {
        let a = account(&app, &format!("m{i}@example.com"), Some("media")).await;
        plant(
            &app,
            a.deployment,
            if i == 0 { 15_000 } else { 1000 },
            30 + i,
        )
        .await;
        media.push(a);
    }
    compute(&app).await;

    let t = ctr_group(&benchmarks(&app, &travel[0].cookie).await);
    assert_eq!(t["compared_with"], "all_industries");
    assert!(
        t["reason"].as_str().unwrap().contains("only 9 accounts"),
        "{t}"
    );
    assert_eq!(
        t["accounts"], 21,
        "ten travel and twelve media, without itself"
    );
    assert!(t["industry"].is_null());

    let m = ctr_group(&benchmarks(&app, &media[1].cookie).await);
    assert_eq!(m["compared_with"], "all_industries", "{m}");
    assert!(
        m["reason"]
            .as_str()
            .unwrap()
            .contains("one account has 60 %"),
        "{m}"
    );
    // The big account itself is left out of its own comparison: the others are even.
    let big = ctr_group(&benchmarks(&app, &media[0].cookie).await);
    assert_eq!(big["compared_with"], "industry");
    assert_eq!(big["accounts"], 11);

    // An operator sees which cells were withheld.
    app.db
        .execute_unprepared("UPDATE members SET is_operator = TRUE WHERE email = 't0@example.com'")
        .await
        .unwrap();
    let cells = body_json(
        app.get_as("/api/v1/admin/benchmarks", &travel[0].cookie)
            .await,
    )
    .await;
    let travel_cell = cells["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["industry"] == "travel" && c["metric"] == "ctr")
        .unwrap()
        .clone();
    assert_eq!(travel_cell["accounts"], 10);
    assert_eq!(
        travel_cell["published"], true,
        "ten accounts: shown to those outside it"
    );
    let media_cell = cells["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["industry"] == "media" && c["metric"] == "ctr")
        .unwrap()
        .clone();
    assert_eq!(media_cell["published"], false);
    assert!(media_cell["p10"].is_null());
}

#[tokio::test]
async fn a_change_of_industry_shows_in_the_next_computation() {
    let app =
        TestApp::spawn_with(Options::default().var("BARKEEP_BENCHMARK_MIN_ACCOUNTS", "5")).await;
    for i in 0..6 {
        let a = account(&app, &format!("h{i}@example.com"), Some("health")).await;
        plant(&app, a.deployment, 1000, 10 + i).await;
    }
    let mover = account(&app, "mover@example.com", Some("food")).await;
    plant(&app, mover.deployment, 1000, 50).await;
    compute(&app).await;
    let before = ctr_group(&benchmarks(&app, &mover.cookie).await);
    assert_ne!(before["compared_with"], "industry", "alone in food");
    app.send(
        reqwest::Method::PATCH,
        "/api/v1/me",
        &mover.cookie,
        Some(&json!({"industry": "health"})),
    )
    .await;
    app.advance(chrono::Duration::minutes(1));
    compute(&app).await;
    let after = ctr_group(&benchmarks(&app, &mover.cookie).await);
    assert_eq!(after["compared_with"], "industry");
    assert_eq!(after["industry"], "health");
    assert_eq!(after["accounts"], 6);
}

#[tokio::test]
async fn two_processes_compute_once() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    let x = account(&a, "x@example.com", None).await;
    plant(&a, x.deployment, 1000, 10).await;
    let (ra, rb) = tokio::join!(
        a.state.jobs.run_due("benchmarks"),
        b.state.jobs.run_due("benchmarks")
    );
    let ran = [ra.unwrap(), rb.unwrap()];
    assert_eq!(
        ran.iter()
            .filter(|r| **r == barkeep::jobs::Ran::Yes)
            .count(),
        1,
        "{ran:?}"
    );
    let row =
        a.db.query_one_raw(Statement::from_string(
            a.db.get_database_backend(),
            "SELECT COUNT(*) FROM benchmark_snapshots",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1);
    // Nothing is shown for a lone account, and it says why.
    let g = ctr_group(&benchmarks(&a, &x.cookie).await);
    assert!(g["compared_with"].is_null());
    assert!(g["p10"].is_null() && g["percentile"].is_null());
    assert!(g["reason"].as_str().unwrap().contains("accounts"));
}

#[tokio::test]
async fn a_population_planted_through_the_event_endpoint_is_benchmarked() {
    let app = TestApp::spawn_with(
        Options::default()
            .var("BARKEEP_BENCHMARK_MIN_ACCOUNTS", "5")
            .var("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
            .var("BARKEEP_EVENT_RATE_PER_IP", "1000"),
    )
    .await;
    let mut accounts = Vec::new();
    for i in 0..6u32 {
        accounts.push((
            account(&app, &format!("e{i}@example.com"), Some("education")).await,
            i,
        ));
    }
    // 500 views each, from 500 visitors; account i gets 10 × (i + 1) clicks.
    let mut n = 0u32;
    for (a, i) in &accounts {
        let mut sends = Vec::new();
        for v in 0..500u32 {
            n += 1;
            let ip = format!("10.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256);
            let kind = if v < 10 * (i + 1) {
                vec!["v", "c"]
            } else {
                vec!["v"]
            };
            for k in kind {
                sends.push((ev(a.deployment, k), ip.clone()));
            }
        }
        for chunk in sends.chunks(50) {
            let answers = futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|(body, ip)| app.event(body, ip, BROWSER_UA)),
            )
            .await;
            assert!(answers.iter().all(|s| *s == StatusCode::NO_CONTENT));
        }
    }
    app.flush().await;
    compute(&app).await;
    // Account 2 (6 %) among the others (2, 4, 8, 10, 12 %): median 8 %, percentile 40.
    let g = ctr_group(&benchmarks(&app, &accounts[2].0.cookie).await);
    assert_eq!(g["compared_with"], "industry");
    assert_eq!(g["accounts"], 5);
    close(&g["own_rate"], 0.06);
    close(&g["median"], 0.08);
    close(&g["percentile"], 40.0);
}

#[tokio::test]
async fn stats_compare_with_the_previous_period_by_weekday() {
    let app = TestApp::spawn().await;
    let a = account(&app, "cmp@example.com", None).await;
    let now = app.clock.now().timestamp();
    let today = now - now.rem_euclid(86_400);
    // Today, and the same weekday one week earlier.
    for (day, views) in [(today, 7), (today - 7 * 86_400, 3)] {
        app.db
            .execute_unprepared(&format!(
                "INSERT INTO deployment_stats_daily (deployment_id, day, views, unique_visitors, clicks, dismissals, leads) \
                 VALUES ({}, {day}, {views}, 0, 1, 0, 0)",
                a.deployment
            ))
            .await
            .unwrap();
    }
    let r = body_json(
        app.get_as(
            &format!("/api/v1/bars/{}/stats?interval=day&compare=previous", a.bar),
            &a.cookie,
        )
        .await,
    )
    .await;
    assert_eq!(r["totals"]["views"], 7);
    assert_eq!(r["previous"]["totals"]["views"], 3);
    let (cur, prev) = (&r["series"], &r["previous"]["series"]);
    assert_eq!(
        cur.as_array().unwrap().len(),
        prev.as_array().unwrap().len()
    );
    assert_eq!(cur.as_array().unwrap().last().unwrap()["views"], 7);
    assert_eq!(
        prev.as_array().unwrap().last().unwrap()["views"],
        3,
        "the same weekday"
    );
    let plain = body_json(
        app.get_as(&format!("/api/v1/bars/{}/stats", a.bar), &a.cookie)
            .await,
    )
    .await;
    assert!(plain.get("previous").is_none());
    let res = app
        .get_as(
            &format!("/api/v1/bars/{}/stats?compare=last_year", a.bar),
            &a.cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn modals_are_compared_with_modals_and_bars_with_bars() {
    let app = TestApp::spawn().await;
    // Eleven accounts with a link bar at 1 %…11 %, eleven with a link modal at 10 %…20 %.
    let mut bars = Vec::new();
    for i in 1..=11 {
        let a = account(&app, &format!("bar{i}@example.com"), Some("saas")).await;
        plant(&app, a.deployment, 1000, i * 10).await;
        bars.push(a);
    }
    let mut modals = Vec::new();
    for i in 1..=11 {
        let a = account(&app, &format!("modal{i}@example.com"), Some("saas")).await;
        let res = app
            .send(
                reqwest::Method::PATCH,
                &format!("/api/v1/bars/{}", a.bar),
                &a.cookie,
                Some(&json!({"element_type": "modal"})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let deployment = app.publish(&a.cookie, a.bar).await[0]["id"]
            .as_i64()
            .unwrap();
        plant(&app, deployment, 1000, 90 + i * 10).await;
        modals.push(a);
    }
    compute(&app).await;

    let group = |b: &Value, element: &str| {
        b["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metric"] == "ctr" && g["element_type"] == element)
            .cloned()
            .unwrap_or_else(|| panic!("no {element} group in {b}"))
    };
    // The 15 % modal sees only the other ten modals (10–14 %, 16–20 %): median 15 %.
    let b = benchmarks(&app, &modals[5].cookie).await;
    let me = group(&b, "modal");
    assert_eq!(me["accounts"], 10);
    close(&me["median"], 0.15);
    close(&me["p10"], 0.109);
    close(&me["percentile"], 50.0);
    assert!(
        b["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["element_type"] == "modal"),
        "the modal's account has no bar group: {b}"
    );
    // The 6 % bar sees only bars, as if no modal existed.
    let me = group(&benchmarks(&app, &bars[5].cookie).await, "bar");
    assert_eq!(me["accounts"], 10);
    close(&me["median"], 0.06);
    // The dashboard says which kind a group is about.
    let page = app
        .get_as("/benchmarks", &modals[5].cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("link modals"), "{page}");
}
