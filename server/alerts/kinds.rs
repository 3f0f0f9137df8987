//! The kinds of system alert, the fields each takes, and the email each becomes for one
//! member. Fields are checked when the alert is drafted; a field a kind does not take is
//! refused, naming it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::entities::outbox::EmailKind;
use crate::domain::text::{self, Fault};
use crate::domain::{Invalid, SafeUrl, misfit_field};
use crate::mail::{EmailTemplate, List};

pub use crate::db::entities::alert::Kind;

impl Kind {
    /// The subscription list the kind goes out on; `None` for transactional mail, which
    /// every member gets whatever their preferences (outages, abuse, policy, security).
    pub fn list(self) -> Option<List> {
        match self {
            Kind::NewFeature | Kind::VersionUpdate | Kind::PointRelease | Kind::MajorRelease => {
                Some(List::News)
            }
            Kind::Promotion => Some(List::Promo),
            Kind::PlannedOutage
            | Kind::AbuseWarning
            | Kind::PolicyChange
            | Kind::SecurityBreach => None,
        }
    }

    /// The email the kind becomes.
    fn email_kind(self) -> EmailKind {
        match self {
            Kind::PlannedOutage => EmailKind::AlertPlannedOutage,
            Kind::NewFeature => EmailKind::AlertNewFeature,
            Kind::VersionUpdate => EmailKind::AlertVersionUpdate,
            Kind::PointRelease => EmailKind::AlertPointRelease,
            Kind::MajorRelease => EmailKind::AlertMajorRelease,
            Kind::AbuseWarning => EmailKind::AlertAbuseWarning,
            Kind::PolicyChange => EmailKind::AlertPolicyChange,
            Kind::SecurityBreach => EmailKind::AlertSecurityBreach,
            Kind::Promotion => EmailKind::AlertPromotion,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outage {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    affected: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Feature {
    feature: String,
    summary: String,
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    version: String,
    summary: String,
    url: Option<String>,
    #[serde(default)]
    highlights: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Abuse {
    seen: String,
    action: String,
    deadline: Option<DateTime<Utc>>,
    site: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Breach {
    happened: String,
    data: String,
    done: String,
    todo: String,
    occurred_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Promotion {
    headline: String,
    summary: String,
    url: Option<String>,
}

/// A field of one line: a title, a version, a name.
fn label(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    match text::line(value, max) {
        Ok(_) => Ok(()),
        Err(Fault::NotOneLine) => Err(Invalid::new(
            format!("fields.{field}"),
            format!("give {field} as one line of text"),
        )),
        Err(Fault::Empty | Fault::TooLong) => Err(Invalid::new(
            format!("fields.{field}"),
            format!("give {field} as 1 to {max} characters"),
        )),
    }
}

/// A field of prose, which may run over several lines.
fn paragraph(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(Invalid::new(
            format!("fields.{field}"),
            format!("give {field} as 1 to {max} characters"),
        ));
    }
    Ok(())
}

fn url(field: &str, value: &Option<String>) -> Result<(), Invalid> {
    if let Some(u) = value {
        SafeUrl::parse_web(u, "fields.url")
            .map_err(|_| Invalid::new(format!("fields.{field}"), "give an http or https URL"))?;
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(fields: &Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(fields).map_err(|e| {
        let field = match misfit_field(&e) {
            Some(f) if f.starts_with('[') => format!("fields{f}"),
            Some(f) => format!("fields.{f}"),
            None => "fields".into(),
        };
        Invalid::new(
            field,
            format!("the fields do not fit this kind: {}", e.inner()),
        )
    })
}

/// Checks a kind's fields, as the operator drafted them.
pub fn check(kind: Kind, fields: &Value, now: DateTime<Utc>) -> Result<(), Invalid> {
    match kind {
        Kind::PlannedOutage => {
            let o: Outage = parse(fields)?;
            if o.ends_at <= o.starts_at {
                return Err(Invalid::new(
                    "fields.ends_at",
                    "the window must end after it starts",
                ));
            }
            if o.ends_at <= now {
                return Err(Invalid::new("fields.ends_at", "the window is over already"));
            }
            if let Some(a) = &o.affected {
                label("affected", a, 300)?;
            }
        }
        Kind::NewFeature => {
            let f: Feature = parse(fields)?;
            label("feature", &f.feature, 120)?;
            paragraph("summary", &f.summary, 2000)?;
            url("url", &f.url)?;
        }
        Kind::VersionUpdate | Kind::PointRelease | Kind::MajorRelease => {
            let r: Release = parse(fields)?;
            label("version", &r.version, 40)?;
            paragraph("summary", &r.summary, 2000)?;
            url("url", &r.url)?;
            if r.highlights.len() > 20 {
                return Err(Invalid::new("fields.highlights", "at most 20 highlights"));
            }
            for h in &r.highlights {
                label("highlights", h, 300)?;
            }
        }
        Kind::AbuseWarning => {
            let a: Abuse = parse(fields)?;
            paragraph("seen", &a.seen, 2000)?;
            paragraph("action", &a.action, 2000)?;
            if let Some(s) = &a.site {
                label("site", s, 120)?;
            }
        }
        Kind::PolicyChange => {
            let p: Policy = parse(fields)?;
            label("version", &p.version, 40)?;
        }
        Kind::SecurityBreach => {
            let b: Breach = parse(fields)?;
            paragraph("happened", &b.happened, 4000)?;
            paragraph("data", &b.data, 2000)?;
            paragraph("done", &b.done, 4000)?;
            paragraph("todo", &b.todo, 2000)?;
        }
        Kind::Promotion => {
            let p: Promotion = parse(fields)?;
            label("headline", &p.headline, 120)?;
            paragraph("summary", &p.summary, 2000)?;
            url("url", &p.url)?;
        }
    }
    Ok(())
}

/// One member's copy of an alert: the kind's fields (times in the member's zone), the
/// operator's message in paragraphs, and the member's name.
#[derive(Serialize)]
pub struct AlertEmail {
    #[serde(skip)]
    kind: Kind,
    member_name: Option<String>,
    message: Option<Vec<String>>,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

impl EmailTemplate for AlertEmail {
    fn kind(&self) -> EmailKind {
        self.kind.email_kind()
    }
}

/// `Tuesday 8 December 2026, 02:00`
fn when(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%A %-d %B %Y, %H:%M")
        .to_string()
}

fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes();
    let (h, m) = (minutes / 60, minutes % 60);
    let hours = match h {
        0 => String::new(),
        1 => "1 hour".into(),
        n => format!("{n} hours"),
    };
    match (hours.is_empty(), m) {
        (_, 0) => hours,
        (true, 1) => "1 minute".into(),
        (true, m) => format!("{m} minutes"),
        (false, m) => format!("{hours} {m} minutes"),
    }
}

/// What a policy-change email needs besides the alert's fields.
pub struct PolicyFacts {
    pub effective_at: DateTime<Utc>,
    pub summary: Option<String>,
    pub policy_url: String,
    pub objection_deadline: DateTime<Utc>,
    pub account_url: String,
}

/// The alert as one member gets it.
pub fn email(
    kind: Kind,
    fields: &Value,
    message: Option<&str>,
    member_name: Option<String>,
    time_zone: Option<&str>,
    policy: Option<&PolicyFacts>,
) -> AlertEmail {
    let zone: Tz = time_zone.and_then(|z| z.parse().ok()).unwrap_or(Tz::UTC);
    let mut out: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
    match kind {
        Kind::PlannedOutage => {
            if let Ok(o) = Outage::deserialize(fields) {
                out.insert("starts_at".into(), when(o.starts_at, zone).into());
                out.insert("ends_at".into(), when(o.ends_at, zone).into());
                out.insert("time_zone".into(), zone.name().into());
                out.insert("duration".into(), duration(o.starts_at, o.ends_at).into());
            }
        }
        Kind::AbuseWarning => {
            if let Ok(a) = Abuse::deserialize(fields) {
                out.insert("deadline".into(), a.deadline.map(|d| when(d, zone)).into());
            }
        }
        Kind::SecurityBreach => {
            if let Ok(b) = Breach::deserialize(fields) {
                out.insert(
                    "occurred_at".into(),
                    b.occurred_at.map(|d| when(d, zone)).into(),
                );
            }
        }
        Kind::PolicyChange => {
            if let Some(p) = policy {
                out.insert("effective_at".into(), when(p.effective_at, zone).into());
                out.insert("summary".into(), p.summary.clone().into());
                out.insert("policy_url".into(), p.policy_url.clone().into());
                out.insert(
                    "objection_deadline".into(),
                    when(p.objection_deadline, zone).into(),
                );
                out.insert("account_url".into(), p.account_url.clone().into());
            }
        }
        _ => {}
    }
    // Optional fields the template reads are always present, if only as null.
    for key in [
        "url",
        "affected",
        "site",
        "deadline",
        "occurred_at",
        "summary",
    ] {
        out.entry(key).or_insert(Value::Null);
    }
    out.entry("highlights").or_insert(Value::Array(Vec::new()));
    let message = message.map(|m| {
        m.split("\n\n")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    });
    AlertEmail {
        kind,
        member_name,
        message,
        fields: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_takes_its_own_fields_only() {
        let now: DateTime<Utc> = "2026-12-03T00:00:00Z".parse().unwrap();
        assert!(
            check(
                Kind::PlannedOutage,
                &json!({"starts_at": "2026-12-08T01:00:00Z", "ends_at": "2026-12-08T03:00:00Z"}),
                now
            )
            .is_ok()
        );
        let e = check(
            Kind::PlannedOutage,
            &json!({"starts_at": "2026-12-08T03:00:00Z", "ends_at": "2026-12-08T01:00:00Z"}),
            now,
        )
        .unwrap_err();
        assert_eq!(e.field, "fields.ends_at");
        let e = check(
            Kind::NewFeature,
            &json!({"feature": "CSV", "summary": "x", "colour": "red"}),
            now,
        )
        .unwrap_err();
        assert_eq!(e.field, "fields.colour");
        let e = check(Kind::SecurityBreach, &json!({"happened": "x"}), now).unwrap_err();
        assert_eq!(e.field, "fields.data");
        let e = check(
            Kind::Promotion,
            &json!({"headline": "x", "summary": "y", "url": "javascript:alert(1)"}),
            now,
        )
        .unwrap_err();
        assert_eq!(e.field, "fields.url");
    }

    #[test]
    fn an_outage_reads_in_the_members_zone() {
        let fields =
            json!({"starts_at": "2026-12-08T01:00:00Z", "ends_at": "2026-12-08T03:30:00Z"});
        let berlin = email(
            Kind::PlannedOutage,
            &fields,
            None,
            None,
            Some("Europe/Berlin"),
            None,
        );
        assert_eq!(berlin.fields["starts_at"], "Tuesday 8 December 2026, 02:00");
        assert_eq!(berlin.fields["time_zone"], "Europe/Berlin");
        assert_eq!(berlin.fields["duration"], "2 hours 30 minutes");
        let utc = email(
            Kind::PlannedOutage,
            &fields,
            Some("One.\n\nTwo."),
            None,
            None,
            None,
        );
        assert_eq!(utc.fields["starts_at"], "Tuesday 8 December 2026, 01:00");
        assert_eq!(utc.fields["time_zone"], "UTC");
        assert_eq!(utc.message, Some(vec!["One.".into(), "Two.".into()]));
    }
}
