//! The targeting rules a visitor's browser checks beyond pages, devices and sources:
//! visits, languages, weekdays and hours, query parameters and values the page provides,
//! and the one rule the server checks, countries. Each is checked and tidied here; the
//! runtime's encoding is in `bar.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;
use super::text;

/// New or returning, as the visitor's own browser remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visitor {
    #[default]
    Any,
    /// On their first visit.
    New,
    /// On their second visit or later.
    Returning,
}

/// A closed range of whole numbers; either end may be left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Between {
    pub min: Option<u32>,
    pub max: Option<u32>,
}

impl Between {
    /// `None` when both ends are open: the rule is off.
    pub fn check(
        value: Option<Between>,
        field: &'static str,
        cap: u32,
    ) -> Result<Option<Between>, Invalid> {
        let Some(b) = value else { return Ok(None) };
        if b.min.is_none() && b.max.is_none() {
            return Ok(None);
        }
        for end in [b.min, b.max].into_iter().flatten() {
            if end > cap {
                return Err(Invalid::new(field, format!("at most {cap}")));
            }
        }
        if let (Some(min), Some(max)) = (b.min, b.max)
            && max < min
        {
            return Err(Invalid::new(field, "max must be at least min"));
        }
        Ok(Some(b))
    }

    pub fn runtime(&self) -> [Option<u32>; 2] {
        [self.min, self.max]
    }
}

/// A day of the week.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// ISO 8601's number: Monday is 1.
    pub fn iso(self) -> u8 {
        self as u8 + 1
    }
}

/// Part of the day, `from` included and `to` not, as `HH:MM`; a window whose end comes
/// before its start runs past midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// `09:00`
    pub from: String,
    /// `17:30`; `24:00` is the end of the day.
    pub to: String,
}

impl Hours {
    fn minutes(raw: &str, field: &'static str) -> Result<u16, Invalid> {
        let fail = || Invalid::new(field, format!("`{raw}` is not a time such as 09:30"));
        let (h, m) = raw.trim().split_once(':').ok_or_else(fail)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(fail());
        }
        let h: u16 = h.parse().map_err(|_| fail())?;
        let m: u16 = m.parse().map_err(|_| fail())?;
        if m > 59 || h > 24 || (h == 24 && m > 0) {
            return Err(fail());
        }
        Ok(h * 60 + m)
    }

    pub fn check(self) -> Result<Hours, Invalid> {
        let from = Hours::minutes(&self.from, "targeting.hours.from")?;
        let to = Hours::minutes(&self.to, "targeting.hours.to")?;
        if from == to {
            return Err(Invalid::new(
                "targeting.hours.to",
                "the window must not be empty (leave hours out to show all day)",
            ));
        }
        let fmt = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        Ok(Hours {
            from: fmt(from),
            to: fmt(to),
        })
    }

    /// Minutes of the day, `[from, to)`.
    pub fn runtime(&self) -> [u16; 2] {
        [
            Hours::minutes(&self.from, "").unwrap_or(0),
            Hours::minutes(&self.to, "").unwrap_or(1440),
        ]
    }
}

/// A query parameter the page's URL must carry (with this value, when one is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRule {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A value the page provides (`barkeep.push({plan: "pro"})`) that must equal this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageValue {
    pub key: String,
    pub value: String,
}

pub const MAX_RULES: usize = 20;

fn too_many<T>(list: &[T], field: &'static str) -> Result<(), Invalid> {
    if list.len() > MAX_RULES {
        return Err(Invalid::new(field, format!("at most {MAX_RULES}")));
    }
    Ok(())
}

/// A short value from outside: trimmed, one line, at most `max` characters.
fn short(raw: &str, field: &'static str, max: usize) -> Result<String, Invalid> {
    text::line(raw, max)
        .map(str::to_string)
        .map_err(|fault| Invalid::new(field, fault.message(max)))
}

/// Language tags as `navigator.languages` gives them (`de`, `pt-BR`), lowercased: a
/// primary language of 2 or 3 letters, then subtags of 1 to 8 letters or digits.
pub fn languages(list: Vec<String>, field: &'static str) -> Result<Vec<String>, Invalid> {
    too_many(&list, field)?;
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for raw in list {
        let tag = language_tag(&raw).ok_or_else(|| {
            Invalid::new(
                field,
                format!("`{raw}` is not a language tag such as de or pt-BR"),
            )
        })?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// One language tag, lowercased, or `None`.
pub fn language_tag(raw: &str) -> Option<String> {
    let tag = raw.trim().replace('_', "-").to_ascii_lowercase();
    let mut parts = tag.split('-');
    let primary = parts.next()?;
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase());
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    (primary_ok && rest_ok && tag.len() <= 35).then_some(tag)
}

/// An IANA time zone name chrono-tz knows (`Europe/Berlin`), in its own spelling.
pub fn time_zone(raw: Option<String>) -> Result<Option<String>, Invalid> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) => name
            .parse::<chrono_tz::Tz>()
            .map(|tz| Some(tz.name().to_string()))
            .map_err(|_| {
                Invalid::new(
                    "targeting.time_zone",
                    format!("`{name}` is not a time zone such as Europe/Berlin (leave it out for the visitor's own)"),
                )
            }),
    }
}

pub fn query_rules(list: Vec<QueryRule>) -> Result<Vec<QueryRule>, Invalid> {
    too_many(&list, "targeting.query")?;
    list.into_iter()
        .map(|q| {
            Ok(QueryRule {
                name: short(&q.name, "targeting.query.name", 100)?,
                value: match q.value.as_deref().map(|v| text::line(v, 200)) {
                    None | Some(Err(text::Fault::Empty)) => None,
                    Some(Ok(v)) => Some(v.to_string()),
                    Some(Err(f)) => {
                        return Err(Invalid::new("targeting.query.value", f.message(200)));
                    }
                },
            })
        })
        .collect()
}

pub fn page_values(list: Vec<PageValue>) -> Result<Vec<PageValue>, Invalid> {
    too_many(&list, "targeting.page_values")?;
    let mut seen = BTreeMap::new();
    for p in list {
        let key = short(&p.key, "targeting.page_values.key", 100)?;
        let value = short(&p.value, "targeting.page_values.value", 200)?;
        if seen.insert(key.clone(), value).is_some() {
            return Err(Invalid::new(
                "targeting.page_values",
                format!("`{key}` is given twice"),
            ));
        }
    }
    Ok(seen
        .into_iter()
        .map(|(key, value)| PageValue { key, value })
        .collect())
}

/// Countries as ISO 3166-1 alpha-2 codes, uppercased; a code that is not assigned (say
/// `UK` for the United Kingdom, which is `GB`) is refused.
pub fn countries(list: Vec<String>, field: &'static str) -> Result<Vec<String>, Invalid> {
    if list.len() > 250 {
        return Err(Invalid::new(field, "at most 250 countries"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for raw in list {
        let code = raw.trim().to_ascii_uppercase();
        if !is_country(&code) {
            let hint = if code == "UK" {
                " (the United Kingdom is GB)"
            } else {
                ""
            };
            return Err(Invalid::new(
                field,
                format!("`{raw}` is not an ISO 3166 country code such as DE or US{hint}"),
            ));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code.
pub fn is_country(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && COUNTRIES.split(' ').any(|c| c == code)
}

/// Every assigned ISO 3166-1 alpha-2 code.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_country_list_is_sorted_and_complete() {
        let codes: Vec<&str> = COUNTRIES.split(' ').collect();
        assert_eq!(codes.len(), 249);
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert!(is_country("DE") && is_country("GB") && !is_country("UK"));
        assert_eq!(
            countries(vec![" de".into(), "US".into(), "DE".into()], "f").unwrap(),
            ["DE", "US"]
        );
        let err = countries(vec!["uk".into()], "f").unwrap_err();
        assert!(err.message.contains("GB"), "{}", err.message);
    }

    #[test]
    fn hours_read_clock_times() {
        let h = Hours {
            from: "9:00".into(),
            to: "24:00".into(),
        }
        .check()
        .unwrap();
        assert_eq!((h.from.as_str(), h.to.as_str()), ("09:00", "24:00"));
        assert_eq!(h.runtime(), [540, 1440]);
        for bad in ["25:00", "9", "09:60", "-1:00", "09:5", "", "24:01"] {
            let h = Hours {
                from: bad.into(),
                to: "10:00".into(),
            };
            assert!(h.check().is_err(), "{bad}");
        }
        let night = Hours {
            from: "22:00".into(),
            to: "06:00".into(),
        };
        assert_eq!(night.check().unwrap().runtime(), [1320, 360]);
    }

    #[test]
    fn language_tags_and_zones() {
        assert_eq!(language_tag("pt_BR").as_deref(), Some("pt-br"));
        assert_eq!(language_tag("DE").as_deref(), Some("de"));
        assert_eq!(language_tag("zh-Hant-TW").as_deref(), Some("zh-hant-tw"));
        for bad in ["", "d", "german", "de-", "de--x", "1e", "de-abcdefghi"] {
            assert_eq!(language_tag(bad), None, "{bad}");
        }
        assert_eq!(
            time_zone(Some("Europe/Berlin".into())).unwrap().as_deref(),
            Some("Europe/Berlin")
        );
        assert!(time_zone(Some("Mars/Olympus".into())).is_err());
        assert_eq!(time_zone(Some(" ".into())).unwrap(), None);
    }

    #[test]
    fn ranges_need_an_order() {
        let b = |min, max| Some(Between { min, max });
        assert_eq!(Between::check(b(None, None), "f", 10).unwrap(), None);
        assert!(Between::check(b(Some(3), Some(2)), "f", 10).is_err());
        assert!(Between::check(b(Some(11), None), "f", 10).is_err());
        assert_eq!(
            Between::check(b(Some(2), None), "f", 10).unwrap(),
            b(Some(2), None)
        );
    }

    proptest! {
        #[test]
        fn parsers_take_any_text(s in any::<String>()) {
            let _ = language_tag(&s);
            let _ = time_zone(Some(s.clone()));
            let _ = countries(vec![s.clone()], "f");
            let _ = Hours { from: s.clone(), to: s.clone() }.check();
            let _ = query_rules(vec![QueryRule { name: s.clone(), value: Some(s.clone()) }]);
            let _ = page_values(vec![PageValue { key: s.clone(), value: s }]);
        }

        #[test]
        fn a_language_tag_is_ascii_and_stable(s in "[A-Za-z_-]{0,12}") {
            if let Some(tag) = language_tag(&s) {
                prop_assert!(tag.is_ascii());
                prop_assert_eq!(language_tag(&tag), Some(tag.clone()));
            }
        }
    }
}
