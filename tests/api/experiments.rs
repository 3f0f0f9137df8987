//! A/B experiments that optimise: Thompson sampling shares new visitors by how likely each
//! variant is to be the best, once an hour whichever process asks, and claims no winner.
//! (The always-valid comparison of a bar that tests is in stats.rs.)

use barkeep::jobs::Ran;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, body_json, link_bar};

/// The weight the site's script gives a deployment.
fn weight_in(script: &str, deployment: i64) -> u32 {
    let at = format!(r#""d":{deployment},"#);
    let rest = &script[script.find(&at).expect("the deployment is in the script")..];
    let w = &rest[rest.find(r#""w":"#).unwrap() + 4..];
    w[..w.find(',').unwrap()].parse().unwrap()
}

async fn seed(app: &TestApp, deployment: i64, views: i64, clicks: i64) {
    let hour = chrono::Utc::now().timestamp() / 3600 * 3600 - 86_400;
    let counts = barkeep::domain::Counts {
        views,
        clicks,
        ..Default::default()
    };
    barkeep::ingest::add_counts(&app.db, &[((deployment, hour), counts)].into())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimising_bar_sends_most_new_visitors_to_the_best_variant_and_claims_no_winner() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_with(Options::default().sharing(&a)).await;
    let mut body = link_bar("Plain");
    body["allocation"] = json!("thompson");
    let live = a.live_bar("optimise@example.com", &body).await;
    let (_, da, db) = a.with_variant_b(&live).await;
    let key = live.site["key"].as_str().unwrap();
    // Before any counts are read: the variants' own weights, even.
    let script = a.script(key).await;
    assert_eq!((weight_in(&script, da), weight_in(&script, db)), (50, 50));

    // 3 % against 6 % over 2,000 views each.
    seed(&a, da, 2000, 60).await;
    seed(&a, db, 2000, 120).await;
    // Both processes ask at once: the job runs once.
    let (x, y) = futures_util::future::join(a.run_job("allocation"), b.run_job("allocation")).await;
    assert_eq!(
        [x, y].iter().filter(|r| **r == Ran::Yes).count(),
        1,
        "{x:?} {y:?}"
    );
    // The other process serves the new shares after its next sync.
    b.run_job("site_sync").await;
    let script = b.script(key).await;
    let (wa, wb) = (weight_in(&script, da), weight_in(&script, db));
    assert_eq!(wa + wb, 1000);
    assert!(wb > 900 && (45..=60).contains(&wa), "{wa} {wb}");

    let stats = a
        .stats(&live.cookie, &format!("/api/v1/bars/{}/stats", live.bar_id))
        .await;
    let x = &stats["experiment"];
    assert_eq!(x["allocation"], "thompson");
    let shares: Vec<f64> = x["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["share"].as_f64().unwrap())
        .collect();
    assert!(shares[1] > 0.9, "{x}");
    let c = &x["comparisons"][0];
    assert_eq!(c["significant"], false);
    assert_eq!(
        (&c["interval"], &c["p_value"]),
        (&Value::Null, &Value::Null)
    );
    assert!((c["difference"].as_f64().unwrap() - 0.03).abs() < 1e-9);
    let verdict = x["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("Optimising, not testing: new visitors go mostly to the variant doing best (now B, with 9"),
        "{verdict}"
    );
    // The stats page says so, and draws no interval.
    let page = a
        .get_as(&format!("/bars/{}/stats", live.bar_id), &live.cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("This bar optimises"), "{page}");
    assert!(!page.contains("intervals-caption"));

    // Back to a fixed split: once published, the script shows the weights again and the
    // stats test again.
    let res = a
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/bars/{}", live.bar_id),
            &live.cookie,
            Some(&json!({"allocation": "weights"})),
        )
        .await;
    assert_eq!(body_json(res).await["allocation"], "weights");
    let republished = a.publish(&live.cookie, live.bar_id).await;
    let da2 = republished[0]["id"].as_i64().unwrap();
    let script = a.script(key).await;
    assert_eq!(weight_in(&script, da2), 50);
    let stats = a
        .stats(&live.cookie, &format!("/api/v1/bars/{}/stats", live.bar_id))
        .await;
    assert_eq!(stats["experiment"]["allocation"], "weights");
}

#[tokio::test]
async fn an_unknown_allocation_is_refused_by_name() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("alloc@example.com", &link_bar("Plain")).await;
    let res = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/bars/{}", live.bar_id),
            &live.cookie,
            Some(&json!({"allocation": "epsilon_greedy"})),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let e = body_json(res).await;
    assert_eq!(e["field"], "allocation", "{e}");
}
