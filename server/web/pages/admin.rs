//! The operator area: members (search, plan, status), system alerts (compose, preview,
//! send, report), privacy-policy versions, recent Stripe webhook events, the status of
//! every job, and, with the folder mail transport, the emails written.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use warp::reply::Response;

use super::forms::{Errors, FORM, Fields, sentence};
use super::ok;
use super::view::{Notice, done, render};
use crate::alerts::{AudienceSpec, Draft, Everyone, Kind};
use crate::db::entities::alert;
use crate::domain::{Invalid, MemberId};
use crate::error::{Error, Result};
use crate::mail::OutboxEmail;
use crate::web::api::admin::{
    AlertReport, AlertView, MemberRow, StripeEventView, member_rows, report_of,
};
use crate::web::guards::{AlertRef, MailRef};
use crate::web::router::Req;

#[derive(Serialize)]
struct JobRow {
    name: &'static str,
    about: &'static str,
    every: String,
    once: bool,
    runs: Option<i64>,
    last_started_at: Option<DateTime<Utc>>,
    last_ok: Option<bool>,
    last_error: Option<String>,
    next_run_at: Option<DateTime<Utc>>,
    holder: Option<String>,
}

fn every(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[derive(Serialize)]
struct Overview {
    jobs: Vec<JobRow>,
}

pub(super) async fn overview(req: Req) -> Result<Response> {
    let jobs = req
        .state
        .jobs
        .status()
        .await
        .map_err(Error::Internal)?
        .into_iter()
        .map(|j| JobRow {
            name: j.name,
            about: j.about,
            every: every(j.every_seconds),
            once: j.once,
            runs: j.lease.as_ref().map(|l| l.runs),
            last_started_at: j.lease.as_ref().and_then(|l| l.last_started_at),
            last_ok: j.lease.as_ref().and_then(|l| l.last_ok),
            last_error: j.lease.as_ref().and_then(|l| l.last_error.clone()),
            next_run_at: j.lease.as_ref().map(|l| l.next_run_at),
            holder: j.lease.as_ref().and_then(|l| l.holder.clone()),
        })
        .collect();
    ok(&req, "pages/admin/overview.html", &Overview { jobs })
}

#[derive(Default, Deserialize, Serialize)]
struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
struct MembersPage {
    search: Search,
    members: Vec<MemberRow>,
}

pub(super) async fn members(req: Req) -> Result<Response> {
    let search: Search = req.query().unwrap_or_default();
    let members = member_rows(
        &req.state,
        Some(search.q.trim()).filter(|q| !q.is_empty()),
        200,
    )
    .await?;
    ok(
        &req,
        "pages/admin/members.html",
        &MembersPage { search, members },
    )
}

/// A kind's fields as the compose form shows them: name, label, input.
type KindFields = &'static [(&'static str, &'static str, &'static str)];

const RELEASE: KindFields = &[
    ("version", "Version", "text"),
    ("summary", "Summary", "textarea"),
    ("url", "Release notes URL (optional)", "url"),
    ("highlights", "Highlights, one per line (optional)", "lines"),
];

fn kind_fields(kind: Kind) -> KindFields {
    match kind {
        Kind::PlannedOutage => &[
            ("starts_at", "Starts (UTC)", "datetime"),
            ("ends_at", "Ends (UTC)", "datetime"),
            ("affected", "What is affected (optional)", "text"),
        ],
        Kind::NewFeature => &[
            ("feature", "Feature", "text"),
            ("summary", "Summary", "textarea"),
            ("url", "Link (optional)", "url"),
        ],
        Kind::VersionUpdate | Kind::PointRelease | Kind::MajorRelease => RELEASE,
        Kind::AbuseWarning => &[
            ("seen", "What was seen", "textarea"),
            ("action", "What the member must do", "textarea"),
            ("deadline", "Deadline (UTC, optional)", "datetime"),
            ("site", "Site (optional)", "text"),
        ],
        Kind::PolicyChange => &[("version", "Policy version", "text")],
        Kind::SecurityBreach => &[
            ("happened", "What happened", "textarea"),
            ("data", "Which data", "textarea"),
            ("done", "What we did", "textarea"),
            ("todo", "What members should do", "textarea"),
            (
                "occurred_at",
                "When it happened (UTC, optional)",
                "datetime",
            ),
        ],
        Kind::Promotion => &[
            ("headline", "Headline", "text"),
            ("summary", "Summary", "textarea"),
            ("url", "Link (optional)", "url"),
        ],
    }
}

#[derive(Serialize)]
struct KindForm {
    kind: &'static str,
    label: String,
    /// Subscription list it goes to (members who left it do not get it), or none.
    list: Option<&'static str>,
    fields: Vec<(String, &'static str, &'static str)>,
}

fn kind_forms() -> Vec<KindForm> {
    Kind::ALL
        .into_iter()
        .map(|k| KindForm {
            kind: k.as_str(),
            label: sentence(&k.as_str().replace('_', " "))
                .trim_end_matches('.')
                .to_string(),
            list: k.list().map(|l| l.title()),
            fields: kind_fields(k)
                .iter()
                .map(|(name, label, input)| (format!("{}.{name}", k.as_str()), *label, *input))
                .collect(),
        })
        .collect()
}

/// The compose form as the API's draft: the chosen kind's fields only.
fn draft_of(f: &Fields) -> std::result::Result<Draft, Invalid> {
    let kind = Kind::parse(f.get("kind")).ok_or_else(|| Invalid::new("kind", "choose a kind"))?;
    let audience = match f.get("audience") {
        "plan" => AudienceSpec::Plan {
            plan: f
                .text("audience_plan")
                .ok_or_else(|| Invalid::new("audience_plan", "name the plan (free, pro, …)"))?
                .to_string(),
        },
        "member" => AudienceSpec::Member {
            member: MemberId(
                f.get("audience_member")
                    .trim()
                    .parse()
                    .map_err(|_| Invalid::new("audience_member", "a member's number"))?,
            ),
        },
        _ => AudienceSpec::Everyone(Everyone::All),
    };
    let mut fields = Map::new();
    for (name, _, input) in kind_fields(kind) {
        let key = format!("{}.{name}", kind.as_str());
        let Some(raw) = f.text(&key) else { continue };
        let value = match *input {
            "datetime" => {
                let at = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M").map_err(|_| {
                    Invalid::new(key.clone(), "a date and time such as 2026-12-24T02:00")
                })?;
                json!(at.and_utc().to_rfc3339())
            }
            "lines" => json!(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
            ),
            _ => json!(raw),
        };
        fields.insert((*name).to_string(), value);
    }
    Ok(Draft {
        kind,
        audience,
        message: f.text("message").map(str::to_string),
        fields: Value::Object(fields),
    })
}

#[derive(Serialize)]
struct AlertsPage {
    kinds: Vec<KindForm>,
    alerts: Vec<AlertView>,
    v: Fields,
    errors: Errors,
}

async fn alerts_page(req: &Req, v: Fields, errors: Errors) -> Result<Response> {
    let alerts = req
        .state
        .alerts
        .recent(50)
        .await?
        .into_iter()
        .map(AlertView::from)
        .collect();
    let status = errors.status();
    render(
        req,
        "pages/admin/alerts.html",
        &AlertsPage {
            kinds: kind_forms(),
            alerts,
            v,
            errors,
        },
        status,
    )
}

pub(super) async fn alerts(req: Req) -> Result<Response> {
    let mut v = Fields::default();
    v.set("kind", "planned_outage");
    v.set("audience", "all");
    alerts_page(&req, v, Errors::default()).await
}

pub(super) async fn draft_alert(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let drafted = async {
        let draft = draft_of(&f)?;
        let kind = draft.kind;
        req.state
            .alerts
            .draft(Some(req.member()?.id), draft)
            .await
            .map_err(|e| match e {
                // The kind's checks name the field alone; the form names it by kind.
                Error::Invalid(i) if !i.field.contains('.') && i.field != "message" => {
                    Error::Invalid(Invalid::new(
                        format!("{}.{}", kind.as_str(), i.field),
                        i.message,
                    ))
                }
                other => other,
            })
    }
    .await;
    match drafted {
        Ok(a) => Ok(done(
            &format!("/admin/alerts/{}", a.id),
            Notice::AlertDrafted,
        )),
        Err(err) => {
            let errors = Errors::of(err)?;
            alerts_page(&req, f, errors).await
        }
    }
}

#[derive(Serialize)]
struct AlertPage {
    report: AlertReport,
    draft: bool,
    preview: Option<PreviewView>,
    errors: Errors,
}

#[derive(Serialize)]
struct PreviewView {
    to: String,
    subject: String,
    text: String,
}

async fn alert_page(req: &Req, id: i64, errors: Errors) -> Result<Response> {
    let report = report_of(&req.state, id).await?;
    let a = req.state.alerts.get(id).await?;
    let preview = match req.state.alerts.preview(&a, Some(req.member()?)).await {
        Ok((to, r)) => Some(PreviewView {
            to,
            subject: r.subject,
            text: r.text,
        }),
        Err(_) => None,
    };
    let status = if errors.is_empty() {
        warp::http::StatusCode::OK
    } else {
        warp::http::StatusCode::CONFLICT
    };
    render(
        req,
        "pages/admin/alert.html",
        &AlertPage {
            draft: a.status == alert::Status::Draft,
            report,
            preview,
            errors,
        },
        status,
    )
}

pub(super) async fn alert(req: Req, AlertRef(id): AlertRef) -> Result<Response> {
    alert_page(&req, id, Errors::default()).await
}

pub(super) async fn send_alert(req: Req, AlertRef(alert_id): AlertRef) -> Result<Response> {
    let id = alert_id;
    match req.state.alerts.send(id).await {
        Ok(_) => Ok(done(&format!("/admin/alerts/{id}"), Notice::AlertSent)),
        Err(err) => {
            let mut errors = Errors::of(err)?;
            if let Some((_, m)) = errors.0.pop_first() {
                errors.add(FORM, m);
            }
            alert_page(&req, id, errors).await
        }
    }
}

#[derive(Serialize)]
struct PoliciesPage {
    policies: Vec<(crate::privacy::policies::PolicyView, usize)>,
    v: Fields,
    errors: Errors,
}

async fn policies_page(req: &Req, v: Fields, errors: Errors) -> Result<Response> {
    let policies = req
        .state
        .policy_versions
        .with_objections()
        .await?
        .into_iter()
        .map(|(p, o)| (p, o.len()))
        .collect();
    let status = errors.status();
    render(
        req,
        "pages/admin/policies.html",
        &PoliciesPage {
            policies,
            v,
            errors,
        },
        status,
    )
}

pub(super) async fn policies(req: Req) -> Result<Response> {
    policies_page(&req, Fields::default(), Errors::default()).await
}

pub(super) async fn publish_policy(req: Req) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let published = async {
        let effective = NaiveDateTime::parse_from_str(f.get("effective_at"), "%Y-%m-%dT%H:%M")
            .map_err(|_| {
                Error::invalid("effective_at", "a date and time such as 2027-01-01T00:00")
            })?
            .and_utc();
        req.state
            .policy_versions
            .publish(
                req.member()?.id,
                f.get("version"),
                f.text("url").map(str::to_string),
                f.text("text").map(str::to_string),
                effective,
            )
            .await
    }
    .await;
    match published {
        Ok(_) => Ok(done("/admin/policies", Notice::PolicyPublished)),
        Err(err) => {
            let errors = Errors::of(err)?;
            policies_page(&req, f, errors).await
        }
    }
}

#[derive(Serialize)]
struct EventsPage {
    events: Vec<StripeEventView>,
    billing_on: bool,
}

pub(super) async fn stripe_events(req: Req) -> Result<Response> {
    let events = match req.state.billing.recent_events(None, 100).await {
        Ok(events) => events.into_iter().map(StripeEventView::from).collect(),
        // With billing off there is no event to list, and the page says why.
        Err(Error::Disabled { .. }) => Vec::new(),
        Err(err) => return Err(err),
    };
    ok(
        &req,
        "pages/admin/stripe_events.html",
        &EventsPage {
            events,
            billing_on: req.state.billing.enabled(),
        },
    )
}

pub(super) async fn run_benchmarks(req: Req) -> Result<Response> {
    req.state
        .jobs
        .run_now("benchmarks")
        .await
        .map_err(Error::Internal)?;
    Ok(done("/admin", Notice::BenchmarksRun))
}

#[derive(Serialize)]
struct MailRow {
    id: i64,
    to: String,
    subject: String,
    kind: String,
    status: String,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxEmail> for MailRow {
    fn from(m: OutboxEmail) -> Self {
        MailRow {
            id: m.id,
            to: m.to,
            subject: m.subject,
            kind: m.kind.to_string(),
            status: format!("{:?}", m.status).to_lowercase(),
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

#[derive(Serialize)]
struct MailPage {
    folder: Option<String>,
    mails: Vec<MailRow>,
}

/// The emails barkeep wrote. Their bodies are shown only with the folder transport (a
/// development setup): elsewhere they hold members' links, which are theirs alone.
pub(super) async fn mail(req: Req) -> Result<Response> {
    let mails = OutboxEmail::recent(&req.state.db, 100)
        .await?
        .into_iter()
        .map(MailRow::from)
        .collect();
    ok(
        &req,
        "pages/admin/mail.html",
        &MailPage {
            folder: req
                .state
                .web
                .mail_folder
                .as_ref()
                .map(|p| p.display().to_string()),
            mails,
        },
    )
}

/// A piece of an email's text: words, or a link to make clickable.
#[derive(Serialize)]
struct Piece {
    text: String,
    link: bool,
}

/// Splits text into words and http(s) links, so links can be opened from the page.
fn pieces(text: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("http://").or_else(|| rest.find("https://")) {
        let i = match (rest.find("http://"), rest.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            _ => i,
        };
        if i > 0 {
            out.push(Piece {
                text: rest[..i].to_string(),
                link: false,
            });
        }
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
            .map_or(rest.len(), |e| i + e);
        let url = rest[i..end].trim_end_matches(['.', ',', ')', ';']);
        out.push(Piece {
            text: url.to_string(),
            link: true,
        });
        rest = &rest[i + url.len()..];
    }
    if !rest.is_empty() {
        out.push(Piece {
            text: rest.to_string(),
            link: false,
        });
    }
    out
}

#[derive(Serialize)]
struct MailOne {
    mail: MailRow,
    body: Option<Vec<Piece>>,
}

pub(super) async fn mail_one(req: Req, MailRef(mail_id): MailRef) -> Result<Response> {
    let id = mail_id;
    let m = OutboxEmail::find(&req.state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    let body = req.state.web.mail_folder.is_some().then(|| pieces(&m.text));
    ok(
        &req,
        "pages/admin/mail_one.html",
        &MailOne {
            mail: MailRow::from(m),
            body,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_mail_text_are_found() {
        let p = pieces("Confirm: https://b.example/confirm-email?token=abc.\nThanks");
        assert_eq!(p.len(), 3);
        assert!(p[1].link && p[1].text == "https://b.example/confirm-email?token=abc");
        assert_eq!(p[2].text, ".\nThanks");
    }

    #[test]
    fn the_compose_form_becomes_a_draft() {
        let mut f = Fields::default();
        f.set("kind", "planned_outage");
        f.set("audience", "all");
        f.set("planned_outage.starts_at", "2026-12-24T02:00");
        f.set("planned_outage.ends_at", "2026-12-24T03:00");
        f.set("new_feature.feature", "ignored: another kind");
        let d = draft_of(&f).unwrap();
        assert_eq!(d.kind, Kind::PlannedOutage);
        assert_eq!(
            d.fields,
            json!({"starts_at": "2026-12-24T02:00:00+00:00", "ends_at": "2026-12-24T03:00:00+00:00"})
        );
        f.set("planned_outage.ends_at", "later");
        assert_eq!(
            draft_of(&f).err().map(|e| e.field),
            Some("planned_outage.ends_at".into())
        );
    }
}
