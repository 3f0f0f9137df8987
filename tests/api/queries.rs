//! What the database is asked: listing bars takes the same few queries for one bar or
//! forty, and counts are summed by the database, not fetched row by row.

use std::sync::{Arc, Mutex};

use barkeep::catalog::Catalog;
use barkeep::clock::Clock;
use barkeep::db::entities::site;
use barkeep::reporting::{Range, Scope};
use sea_orm::{Database, EntityTrait};

use crate::helpers::{TestApp, link_bar};

/// A connection of its own that records every statement it runs.
async fn recorded(app: &TestApp) -> (sea_orm::DatabaseConnection, Arc<Mutex<Vec<String>>>) {
    let mut db = Database::connect(&app.database_url).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    db.set_metric_callback(move |info| log.lock().unwrap().push(info.statement.sql.clone()));
    (db, seen)
}

#[tokio::test]
async fn listing_bars_takes_the_same_queries_for_one_bar_or_forty() {
    let app = TestApp::spawn().await;
    let me = app.member("queries@example.com").await;
    let site_id = app.site(&me, &["shop.example"]).await["id"]
        .as_i64()
        .unwrap();
    let (db, seen) = recorded(&app).await;
    let catalog = Catalog::new(db.clone(), Clock::system(), Vec::new());
    let site = site::Entity::find().one(&db).await.unwrap().unwrap();
    let mut counts = Vec::new();
    for n in [1, 40] {
        while (catalog.bars(&site).await.unwrap().len() as i64) < n {
            let bar = app.bar(&me, site_id, &link_bar("Listed")).await;
            app.publish(&me, bar["id"].as_i64().unwrap()).await;
        }
        seen.lock().unwrap().clear();
        assert_eq!(catalog.bars(&site).await.unwrap().len() as i64, n);
        counts.push(seen.lock().unwrap().len());
    }
    assert_eq!(counts[0], counts[1], "queries for 1 bar vs 40: {counts:?}");
    assert!(counts[0] <= 4, "{counts:?}");
}

#[tokio::test]
async fn counts_are_summed_by_the_database() {
    let app = TestApp::spawn().await;
    let live = app.live_bar("sums@example.com", &link_bar("Summed")).await;
    let (db, seen) = recorded(&app).await;
    let range = Range::parse(
        Some("2026-01-01"),
        Some("2026-12-31"),
        Some("day"),
        app.clock.now(),
    )
    .unwrap();
    barkeep::reporting::bar_report(&db, barkeep::domain::BarId(live.bar_id), range, false)
        .await
        .unwrap();
    barkeep::reporting::usage(
        &db,
        Scope::Site(barkeep::domain::SiteId(live.site["id"].as_i64().unwrap())),
        app.clock.now(),
    )
    .await
    .unwrap();
    let sql = seen.lock().unwrap().clone();
    let stats: Vec<&String> = sql
        .iter()
        .filter(|s| s.contains("deployment_stats"))
        .collect();
    assert!(!stats.is_empty());
    for s in stats {
        assert!(
            s.contains("SUM("),
            "rows fetched to be summed elsewhere: {s}"
        );
    }
}
