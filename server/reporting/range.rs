//! Date ranges of a stats request: `[from, to)` on hour or day boundaries, parsed from
//! dates or RFC 3339 times, with defaults relative to now.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Invalid;

/// Hourly series cover at most this many days; daily ones at most ten years.
pub const MAX_HOURLY_DAYS: i64 = 93;
pub const MAX_DAILY_DAYS: i64 = 3660;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    pub fn seconds(self) -> i64 {
        match self {
            Interval::Hour => 3_600,
            Interval::Day => 86_400,
        }
    }
}

/// A half-open range `[from, to)` on bucket boundaries.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: Interval,
}

fn floor(at: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let s = interval.seconds();
    // Flooring a valid time to an hour or a day boundary stays within chrono's range.
    at - Duration::seconds(at.timestamp().rem_euclid(s))
}

/// Times a range may name: stats begin long after the first and end long before the
/// last, and every sum and difference of the parsing stays within chrono's calendar.
fn earliest() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `2026-11-01` (a whole day) or an RFC 3339 time, between 1970 and 9999.
fn parse_time(raw: &str, field: &'static str, end: bool) -> Result<DateTime<Utc>, Invalid> {
    let at = if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
    } else {
        DateTime::parse_from_rfc3339(raw)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| {
                Invalid::new(
                    field,
                    format!("`{raw}` is neither a date (2026-11-01) nor an RFC 3339 time"),
                )
            })?
    };
    if at < earliest() || at > latest() {
        return Err(Invalid::new(
            field,
            format!("`{raw}` is outside the years 1970 to 9999"),
        ));
    }
    Ok(at)
}

impl Range {
    /// The period of the same length before this one. A series by day moves back by
    /// whole weeks (the length rounded up), so each day lines up with the same weekday;
    /// a series by hour moves back by exactly its length.
    pub fn previous(&self) -> Range {
        let length = self.to - self.from;
        let shift = match self.interval {
            Interval::Day => Duration::days((length.num_days() + 6) / 7 * 7),
            Interval::Hour => length,
        };
        Range {
            from: self.from - shift,
            to: self.to - shift,
            interval: self.interval,
        }
    }

    /// From query parameters. `to` as a date includes that whole day. Defaults: the last
    /// 7 days by day, or the last 24 hours by hour.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        interval: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Range, Invalid> {
        let interval = match interval.unwrap_or("day") {
            "day" => Interval::Day,
            "hour" => Interval::Hour,
            other => {
                return Err(Invalid::new(
                    "interval",
                    format!("`{other}` is neither hour nor day"),
                ));
            }
        };
        let step = Duration::seconds(interval.seconds());
        let to = match to {
            Some(t) => parse_time(t, "to", true)?,
            None => floor(now, interval) + step,
        };
        let to = {
            let f = floor(to, interval);
            if f < to { f + step } else { f }
        };
        let from = match from {
            Some(f) => floor(parse_time(f, "from", false)?, interval),
            None => {
                to - if interval == Interval::Day {
                    Duration::days(7)
                } else {
                    Duration::hours(24)
                }
            }
        };
        if from >= to {
            return Err(Invalid::new("from", "the range must start before it ends"));
        }
        let days = (to - from).num_days();
        let max = if interval == Interval::Hour {
            MAX_HOURLY_DAYS
        } else {
            MAX_DAILY_DAYS
        };
        if days > max {
            return Err(Invalid::new(
                "from",
                format!("a {interval:?} series covers at most {max} days; ask for a shorter range"),
            ));
        }
        Ok(Range { from, to, interval })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_period_lines_up_by_weekday_for_days() {
        let now: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        let r = Range::parse(Some("2026-11-04"), Some("2026-12-03"), Some("day"), now).unwrap();
        let p = r.previous();
        assert_eq!(p.to - p.from, r.to - r.from);
        assert_eq!(r.from - p.from, Duration::days(35));
        assert_eq!(
            chrono::Datelike::weekday(&p.from),
            chrono::Datelike::weekday(&r.from)
        );
        let h = Range::parse(
            Some("2026-12-02T00:00:00Z"),
            Some("2026-12-03T00:00:00Z"),
            Some("hour"),
            now,
        )
        .unwrap();
        assert_eq!(h.previous().to, h.from);
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_default_to_the_last_week_by_day() {
        let r = Range::parse(None, None, None, at("2026-11-22T13:20:00Z")).unwrap();
        assert_eq!(r.from, at("2026-11-16T00:00:00Z"));
        assert_eq!(r.to, at("2026-11-23T00:00:00Z"));
        let r = Range::parse(
            Some("2026-11-01"),
            Some("2026-11-01"),
            Some("hour"),
            at("2026-11-22T13:20:00Z"),
        )
        .unwrap();
        assert_eq!(
            (r.from, r.to),
            (at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"))
        );
        assert!(Range::parse(Some("2026-11-03"), Some("2026-11-01"), None, Utc::now()).is_err());
        assert!(Range::parse(Some("yesterday"), None, None, Utc::now()).is_err());
        assert!(Range::parse(None, None, Some("week"), Utc::now()).is_err());
        assert!(
            Range::parse(
                Some("2020-01-01"),
                Some("2026-01-01"),
                Some("hour"),
                Utc::now()
            )
            .is_err()
        );
    }
}
