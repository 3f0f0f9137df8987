//! The weekly digest: every Monday from 08:00 UTC, members on the digest list who have a
//! site get last week's views, clicks, click-through rate and leads, and their best bar.
//! The `weekly_digest` job (once across processes) fans it out in batches with a
//! checkpoint per week, and one outbox key per member and week.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::alerts::{Audience, audience_batch};
use crate::db::digest as q;
use crate::db::entities::member;
use crate::domain::MemberId;
use crate::mail::{EmailKind, EmailTemplate, List, Mailer, Recipient, Sending};

/// Members queued per batch (and per transaction) of a week's fan-out.
const BATCH: u64 = 500;

/// Sends the weekly digest.
#[derive(Clone)]
pub struct Digest {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    base_url: String,
}

#[derive(Serialize)]
pub struct WeeklyDigest {
    pub week: String,
    pub views: String,
    pub clicks: String,
    pub ctr: String,
    pub leads: String,
    pub best_bar: Option<BestBar>,
    pub stats_url: String,
}

#[derive(Serialize)]
pub struct BestBar {
    pub name: String,
    pub site: String,
    pub views: String,
    pub clicks: String,
    pub ctr: String,
}

impl EmailTemplate for WeeklyDigest {
    fn kind(&self) -> EmailKind {
        EmailKind::WeeklyDigest
    }
}

/// The Monday 00:00 UTC that starts the week `t` is in.
fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let days = i64::from(t.weekday().num_days_from_monday());
    let day = t.date_naive() - Duration::days(days);
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

/// The week whose digest is due at `now`: from Monday 08:00 UTC, the whole week that
/// just ended; before that on a Monday, still the week before (in case it was missed).
pub fn due_week(now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut end = week_start(now);
    if now < end + Duration::hours(8) {
        end -= Duration::days(7);
    }
    Some((end - Duration::days(7), end))
}

fn ctr(clicks: i64, views: i64) -> String {
    if views == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * clicks as f64 / views as f64)
    }
}

fn count(n: i64) -> String {
    crate::billing::thousands(u64::try_from(n).unwrap_or(0))
}

impl Digest {
    pub fn new(db: Db, clock: Clock, mailer: Mailer, base_url: &str) -> Digest {
        Digest {
            db,
            clock,
            mailer,
            base_url: base_url.to_string(),
        }
    }

    /// The `weekly_digest` job: queues the due week's digest for every member who has
    /// not had it yet.
    pub async fn send_due(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let Some((from, to)) = due_week(now) else {
            return Ok(());
        };
        let iso = from.iso_week();
        let key = format!("{}-W{:02}", iso.year(), iso.week());
        let mut week = q::digest_week(&self.db, &key).await?;
        while week.done_at.is_none() {
            let members = audience_batch(
                &self.db,
                &Audience::All,
                MemberId(week.cursor),
                BATCH,
                Some(member::Column::DigestOptIn),
                true,
            )
            .await?;
            let done = (members.len() as u64) < BATCH;
            let cursor = members.last().map_or(week.cursor, |m| m.id.0);
            let rows = self.digest_rows(&members, &key, from, to).await?;
            let txn = crate::db::begin(&self.db).await?;
            let added = i64::try_from(self.mailer.insert(&txn, rows).await?)?;
            q::advance_digest(&txn, &key, cursor, added, done.then_some(now)).await?;
            txn.commit().await?;
            self.mailer.wake();
            week = q::digest_week(&self.db, &key).await?;
        }
        Ok(())
    }

    async fn digest_rows(
        &self,
        members: &[member::Model],
        key: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<crate::db::entities::outbox::ActiveModel>> {
        let (Some(first), Some(last)) = (members.first(), members.last()) else {
            return Ok(Vec::new());
        };
        let ids: Vec<MemberId> = members.iter().map(|m| m.id).collect();
        let with_sites: std::collections::HashSet<MemberId> = q::members_with_sites(&self.db, &ids)
            .await?
            .into_iter()
            .collect();
        let mut bars: HashMap<MemberId, Vec<q::BarWeek>> = HashMap::new();
        for b in q::bar_weeks(&self.db, first.id, last.id, from, to).await? {
            bars.entry(b.member).or_default().push(b);
        }
        let week = format!(
            "{} – {}",
            crate::billing::day(from),
            crate::billing::day(to - Duration::days(1))
        );
        let mut rows = Vec::new();
        // Members who joined after the week ended get their first digest next week.
        for m in members
            .iter()
            .filter(|m| with_sites.contains(&m.id) && m.created_at < to)
        {
            let mine = bars.remove(&m.id).unwrap_or_default();
            let (views, clicks, leads) = mine.iter().fold((0, 0, 0), |(v, c, l), b| {
                (v + b.views, c + b.clicks, l + b.leads)
            });
            let best = mine
                .iter()
                .filter(|b| b.views > 0)
                .max_by_key(|b| (b.clicks, b.views))
                .map(|b| BestBar {
                    name: b.bar.clone(),
                    site: b.site.clone(),
                    views: count(b.views),
                    clicks: count(b.clicks),
                    ctr: ctr(b.clicks, b.views),
                });
            let email = WeeklyDigest {
                week: week.clone(),
                views: count(views),
                clicks: count(clicks),
                ctr: ctr(clicks, views),
                leads: count(leads),
                best_bar: best,
                stats_url: format!("{}/sites", self.base_url),
            };
            rows.push(self.mailer.row(
                Recipient {
                    address: &m.email,
                    member_id: Some(m.id),
                },
                &format!("digest:{key}:{}", m.id),
                &email,
                Sending {
                    list: Some(List::Digest),
                    alert: None,
                    tracked: true,
                },
            )?);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    #[test]
    fn the_digest_is_due_from_monday_eight_and_covers_the_week_before() {
        let sunday: DateTime<Utc> = "2026-12-06T23:00:00Z".parse().unwrap();
        let (from, to) = due_week(sunday).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-23T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-30T00:00:00+00:00");
        let early: DateTime<Utc> = "2026-12-07T07:59:00Z".parse().unwrap();
        assert_eq!(
            due_week(early).unwrap().1.to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        let eight: DateTime<Utc> = "2026-12-07T08:00:00Z".parse().unwrap();
        let (from, to) = due_week(eight).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-30T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-12-07T00:00:00+00:00");
        assert_eq!(from.weekday(), Weekday::Mon);
    }
}
