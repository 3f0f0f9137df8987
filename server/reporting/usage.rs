//! Views this calendar month (UTC), for plan limits and billing.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use super::report::{Scope, totals};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    /// `2026-11`
    pub month: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub views: i64,
}

/// The calendar month (UTC) that `now` falls in, as `[start, end)`.
pub fn month_of(now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no first day of {now}")))?;
    let start = Utc.from_utc_datetime(&first.and_time(chrono::NaiveTime::MIN));
    let end = start
        .checked_add_months(Months::new(1))
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no month after {start}")))?;
    Ok((start, end))
}

pub async fn usage(db: &impl ConnectionTrait, scope: Scope, now: DateTime<Utc>) -> Result<Usage> {
    let (start, end) = month_of(now)?;
    let views = totals(db, scope, start, end).await?.views;
    Ok(Usage {
        month: start.format("%Y-%m").to_string(),
        period_start: start,
        period_end: end,
        views,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_run_from_the_first_to_the_first() {
        let (s, e) = month_of("2026-12-31T23:59:59Z".parse().unwrap()).unwrap();
        assert_eq!(s.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
