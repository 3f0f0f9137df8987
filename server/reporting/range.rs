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

/// The start of the hour or day `at` is in (fractions of a second dropped too).
fn floor(at: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let s = interval.seconds();
    let start = at.timestamp() - at.timestamp().rem_euclid(s);
    // The start of a valid time's hour or day is a valid time.
    DateTime::from_timestamp(start, 0).unwrap_or(at)
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
    fn fractions_of_a_second_are_dropped() {
        let r = Range::parse(None, None, Some("hour"), at("2026-11-22T13:20:00.5Z")).unwrap();
        assert_eq!(r.to, at("2026-11-22T14:00:00Z"));
        let r = Range::parse(
            Some("2026-11-22T00:00:00Z"),
            Some("2026-11-22T00:00:00.5Z"),
            Some("day"),
            at("2026-11-22T13:20:00Z"),
        )
        .unwrap();
        assert_eq!(
            (r.from, r.to),
            (at("2026-11-22T00:00:00Z"), at("2026-11-23T00:00:00Z"))
        );
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

    use proptest::prelude::*;

    /// Characters that trip up text handling (NUL, bidi controls, combining marks,
    /// ligatures, multi-byte letters, separators), mixed with plain ones.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\u{0}', '\u{202e}', '\u{2066}', 'é', 'ﬀ', '\u{301}', '.', '*', '-', '@', ':',
                '/', '%', ' ', '\n', '\r', '\t', '"', ',', '=', '\'', '<', '>', ';', '#', '?',
                '&', '+', '[', ']', '\\', '\u{feff}', '\u{200b}', '\u{85}', '\u{a0}', 'İ', 'ß',
                '€', '\u{1f600}',
            ]),
            1 => any::<char>(),
            3 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
        ]
    }

    /// Arbitrary text: anything at all, hostile characters, name-like text, and long
    /// strings (up to a few thousand characters).
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(hostile_char(), 0..80)
                .prop_map(|v| v.into_iter().collect::<String>()),
            "[a-z0-9.*-]{0,40}",
            ".{0,3000}",
        ]
    }

    /// Any time between 1970 and 9999, now and then with a fraction of a second.
    fn now_between_1970_and_9999() -> impl Strategy<Value = DateTime<Utc>> {
        (
            0i64..=253_402_214_400,
            prop_oneof![3 => Just(0u32), 1 => 0u32..1_000_000_000],
        )
            .prop_filter_map("outside chrono's range", |(secs, nanos)| {
                DateTime::<Utc>::from_timestamp(secs, nanos)
            })
    }

    fn time_text() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => hostile(),
            // Dates with years far outside what chrono holds, and impossible months and days.
            2 => (-300_000i32..300_000, 0u32..14, 0u32..33)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
            2 => (1960i32..2100, 1u32..=12, 1u32..=31)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
            1 => (9990i32..=9999, 1u32..=12, 1u32..=31)
                .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
            // RFC 3339 times, at the edges of the years allowed, with fractions and offsets.
            2 => (
                prop_oneof![1969i32..=1971, 2020i32..2030, 9998i32..=9999],
                1u32..=12,
                1u32..=31,
                0u32..25,
                0u32..61,
                0u32..61,
                proptest::sample::select(vec!["", ".5", ".000000001", ".999999999"]),
                proptest::sample::select(vec!["Z", "z", "+00:00", "+23:59", "-23:59", "+14:00", "-12:00", "+24:00"]),
            )
                .prop_map(|(y, mo, d, h, mi, s, frac, offset)| {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{offset}")
                }),
        ]
    }

    fn interval_text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(vec!["day", "hour", "Day", "HOUR", "week", ""])
                .prop_map(String::from),
            1 => hostile(),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_query_parameters_never_panic_and_ranges_sit_on_bucket_boundaries(
            from in proptest::option::of(time_text()),
            to in proptest::option::of(time_text()),
            interval in proptest::option::of(interval_text()),
            now in now_between_1970_and_9999(),
        ) {
            let Ok(r) = Range::parse(from.as_deref(), to.as_deref(), interval.as_deref(), now) else {
                return Ok(());
            };
            let s = r.interval.seconds();
            prop_assert!(r.from < r.to, "{:?}", r);
            prop_assert_eq!(r.from.timestamp().rem_euclid(s), 0, "from off a boundary: {:?}", r);
            prop_assert_eq!(r.to.timestamp().rem_euclid(s), 0, "to off a boundary: {:?}", r);
            prop_assert_eq!(
                (r.from.timestamp_subsec_nanos(), r.to.timestamp_subsec_nanos()),
                (0, 0),
                "a boundary with a fraction of a second: {:?} (now {:?})",
                r,
                now
            );
            let max = match r.interval {
                Interval::Hour => MAX_HOURLY_DAYS,
                Interval::Day => MAX_DAILY_DAYS,
            };
            prop_assert!((r.to - r.from).num_days() <= max, "{:?}", r);
            let p = r.previous();
            prop_assert_eq!(p.interval, r.interval);
            prop_assert_eq!(p.to - p.from, r.to - r.from);
            match r.interval {
                Interval::Hour => prop_assert_eq!(p.to, r.from),
                Interval::Day => {
                    let shift = r.from - p.from;
                    prop_assert!(shift > Duration::zero());
                    prop_assert_eq!(shift.num_seconds() % (7 * 86_400), 0, "{:?} -> {:?}", r, p);
                }
            }
        }

        #[test]
        fn dates_with_extreme_years_never_panic_and_only_1970_to_9999_pass(
            from in (-300_000i32..300_000, 0u32..14, 0u32..33),
            to in (-300_000i32..300_000, 0u32..14, 0u32..33),
            hour in any::<bool>(),
            now in now_between_1970_and_9999(),
        ) {
            let date = |(y, m, d): (i32, u32, u32)| format!("{y:04}-{m:02}-{d:02}");
            let (from, to) = (date(from), date(to));
            let interval = if hour { "hour" } else { "day" };
            for (f, t) in [
                (Some(from.as_str()), Some(to.as_str())),
                (Some(from.as_str()), None),
                (None, Some(to.as_str())),
            ] {
                if let Ok(r) = Range::parse(f, t, Some(interval), now) {
                    prop_assert!(r.from < r.to);
                    prop_assert!(r.from >= DateTime::UNIX_EPOCH, "{:?}", r);
                    prop_assert!(chrono::Datelike::year(&r.to) <= 10_000, "{:?}", r);
                    let _ = r.previous();
                }
            }
        }
    }
}
