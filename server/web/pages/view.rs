//! How a page is answered: its template rendered inside the one layout with the page
//! chrome (who is signed in, the navigation, the CSRF token, a one-line notice), a strict
//! Content-Security-Policy, and the body compressed when the browser allows.

use std::collections::HashMap;

use anyhow::Context;
use serde::Serialize;
use warp::Reply;
use warp::http::header::{self, HeaderValue};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

use super::assets::{self, PageFiles, compressed};
use crate::error::{Error, Result};
use crate::web::router::Req;
use crate::web::{State, csrf, error};

/// Every page: scripts and styles from barkeep's own files only, nothing inline, no
/// plug-ins, framed by no one; forms post to barkeep, or on to Stripe's checkout and
/// billing portal after a redirect.
pub(super) const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self' https://checkout.stripe.com https://billing.stripe.com; base-uri 'none'; frame-ancestors 'none'";

/// The page templates, parsed once.
pub struct Views {
    tera: tera::Tera,
    base_url: String,
}

impl Views {
    pub fn load(base_url: &str) -> anyhow::Result<Views> {
        let mut files = Vec::new();
        for name in PageFiles::iter().filter(|n| n.ends_with(".html")) {
            let file = PageFiles::get(&name).context("page template vanished")?;
            let body = String::from_utf8(file.data.into_owned())
                .with_context(|| format!("page template {name} is not UTF-8"))?;
            files.push((name.to_string(), body));
        }
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(files)
            .context("parsing page templates")?;
        tera.autoescape_on(vec![".html"]);
        tera.set_escape_fn(crate::mail::escape_html);
        tera.register_filter("number", number_filter);
        tera.register_filter("percent", percent_filter);
        tera.register_filter("when", when_filter);
        Ok(Views {
            tera,
            base_url: base_url.to_string(),
        })
    }

    /// Renders a page template with its context and the chrome.
    pub fn render<T: Serialize>(
        &self,
        name: &str,
        ctx: &T,
        chrome: &Chrome<'_>,
    ) -> anyhow::Result<String> {
        let mut context = tera::Context::from_serialize(ctx).context("page context")?;
        context.insert("chrome", chrome);
        context.insert("base_url", &self.base_url);
        self.tera
            .render(name, &context)
            .with_context(|| format!("rendering {name}"))
    }
}

/// `1234567` → `1,234,567`; floats keep one decimal.
fn number_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value {
        tera::Value::Number(n) if n.is_i64() || n.is_u64() => {
            thousands(n.as_i64().unwrap_or_default())
        }
        tera::Value::Number(n) => format!("{:.1}", n.as_f64().unwrap_or_default()),
        tera::Value::Null => "–".into(),
        other => other.to_string(),
    }))
}

/// A rate `0.0345` → `3.45 %`; none → `–`.
fn percent_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_f64() {
        Some(f) => percent(f),
        None => "–".into(),
    }))
}

/// An RFC 3339 timestamp → `3 Dec 2026, 11:49 UTC`; none → `–`.
fn when_filter(value: &tera::Value, _: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    Ok(tera::Value::String(match value.as_str() {
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .format("%-d %b %Y, %H:%M UTC")
                .to_string(),
            Err(_) => s.to_string(),
        },
        None => "–".into(),
    }))
}

pub(super) fn percent(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

pub(super) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the layout shows around every page.
#[derive(Serialize)]
pub struct Chrome<'a> {
    pub member: Option<ChromeMember<'a>>,
    /// The token every form carries (empty on pages that have none).
    pub csrf: &'a str,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    /// A notice after a redirect (`?done=…`).
    pub notice: Option<&'static str>,
    pub css: &'static str,
    pub js: &'static str,
}

impl Chrome<'static> {
    /// The layout with nobody signed in and no form: error pages and the preview frame.
    pub fn bare() -> Chrome<'static> {
        Chrome {
            member: None,
            csrf: "",
            section: "",
            notice: None,
            css: assets::CSS.url(),
            js: assets::JS.url(),
        }
    }
}

#[derive(Serialize)]
pub struct ChromeMember<'a> {
    pub email: &'a str,
    pub operator: bool,
    pub confirmed: bool,
    /// The role in the account the page acts in (`None`: in no account).
    pub role: Option<&'static str>,
    /// The accounts to switch between (shown when there are several).
    pub accounts: Vec<ChromeAccount<'a>>,
}

#[derive(Serialize)]
pub struct ChromeAccount<'a> {
    pub id: i64,
    pub name: &'a str,
    pub current: bool,
}

/// The notices a redirect may ask for (`?done=code`): fixed texts, so a link cannot make a
/// page say something barkeep did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Notice {
    SignedUp,
    LoggedOut,
    SiteCreated,
    SiteSaved,
    SiteDeleted,
    GoalAdded,
    GoalDeleted,
    ListForwardSaved,
    ListForwardRemoved,
    BarCreated,
    BarSaved,
    Published,
    Unchanged,
    Paused,
    BarDeleted,
    VariantCreated,
    VariantSaved,
    VariantDeleted,
    ProfileSaved,
    PasswordChanged,
    EmailChangeSent,
    SessionEnded,
    TokenDeleted,
    ObjectionRecorded,
    Restricted,
    Unrestricted,
    ConfirmationSent,
    AlertDrafted,
    AlertSent,
    PolicyPublished,
    BenchmarksRun,
    InvitationSent,
    InvitationRevoked,
    RoleChanged,
    PersonRemoved,
    Left,
    HandedOver,
    Switched,
    Joined,
    Renamed,
}

impl Notice {
    const ALL: [Notice; 40] = [
        Notice::SignedUp,
        Notice::LoggedOut,
        Notice::SiteCreated,
        Notice::SiteSaved,
        Notice::SiteDeleted,
        Notice::GoalAdded,
        Notice::GoalDeleted,
        Notice::ListForwardSaved,
        Notice::ListForwardRemoved,
        Notice::BarCreated,
        Notice::BarSaved,
        Notice::Published,
        Notice::Unchanged,
        Notice::Paused,
        Notice::BarDeleted,
        Notice::VariantCreated,
        Notice::VariantSaved,
        Notice::VariantDeleted,
        Notice::ProfileSaved,
        Notice::PasswordChanged,
        Notice::EmailChangeSent,
        Notice::SessionEnded,
        Notice::TokenDeleted,
        Notice::ObjectionRecorded,
        Notice::Restricted,
        Notice::Unrestricted,
        Notice::ConfirmationSent,
        Notice::AlertDrafted,
        Notice::AlertSent,
        Notice::PolicyPublished,
        Notice::BenchmarksRun,
        Notice::InvitationSent,
        Notice::InvitationRevoked,
        Notice::RoleChanged,
        Notice::PersonRemoved,
        Notice::Left,
        Notice::HandedOver,
        Notice::Switched,
        Notice::Joined,
        Notice::Renamed,
    ];

    /// The code in the address.
    pub(super) fn code(self) -> &'static str {
        match self {
            Notice::SignedUp => "signed_up",
            Notice::LoggedOut => "logged_out",
            Notice::SiteCreated => "site_created",
            Notice::SiteSaved => "site_saved",
            Notice::SiteDeleted => "site_deleted",
            Notice::GoalAdded => "goal_added",
            Notice::GoalDeleted => "goal_deleted",
            Notice::ListForwardSaved => "list_forward_saved",
            Notice::ListForwardRemoved => "list_forward_removed",
            Notice::BarCreated => "bar_created",
            Notice::BarSaved => "bar_saved",
            Notice::Published => "published",
            Notice::Unchanged => "unchanged",
            Notice::Paused => "paused",
            Notice::BarDeleted => "bar_deleted",
            Notice::VariantCreated => "variant_created",
            Notice::VariantSaved => "variant_saved",
            Notice::VariantDeleted => "variant_deleted",
            Notice::ProfileSaved => "profile_saved",
            Notice::PasswordChanged => "password_changed",
            Notice::EmailChangeSent => "email_change_sent",
            Notice::SessionEnded => "session_ended",
            Notice::TokenDeleted => "token_deleted",
            Notice::ObjectionRecorded => "objection_recorded",
            Notice::Restricted => "restricted",
            Notice::Unrestricted => "unrestricted",
            Notice::ConfirmationSent => "confirmation_sent",
            Notice::AlertDrafted => "alert_drafted",
            Notice::AlertSent => "alert_sent",
            Notice::PolicyPublished => "policy_published",
            Notice::BenchmarksRun => "benchmarks_run",
            Notice::InvitationSent => "invitation_sent",
            Notice::InvitationRevoked => "invitation_revoked",
            Notice::RoleChanged => "role_changed",
            Notice::PersonRemoved => "person_removed",
            Notice::Left => "left",
            Notice::HandedOver => "handed_over",
            Notice::Switched => "switched",
            Notice::Joined => "joined",
            Notice::Renamed => "renamed",
        }
    }

    /// What the page says.
    pub(super) fn text(self) -> &'static str {
        match self {
            Notice::SignedUp => {
                "Welcome to barkeep. We sent you a link to confirm your email address."
            }
            Notice::LoggedOut => "You are logged out.",
            Notice::SiteCreated => {
                "Site added. Paste the snippet into your pages, then create a bar."
            }
            Notice::SiteSaved => "Site saved.",
            Notice::SiteDeleted => "Site deleted.",
            Notice::GoalAdded => {
                "Goal added. Visitors' browsers pick it up with the site's script within about a minute."
            }
            Notice::GoalDeleted => "Goal deleted with its counts.",
            Notice::ListForwardSaved => {
                "Forward saved. New leads, and leads waiting for it, are added to the list within seconds."
            }
            Notice::ListForwardRemoved => "Forward removed, with its key.",
            Notice::BarCreated => "Bar created. It is a draft until you publish it.",
            Notice::BarSaved => "Saved. Publish to show the changes to visitors.",
            Notice::Published => "Published: visitors see this version within a minute.",
            Notice::Unchanged => "Already live: nothing changed since the last publish.",
            Notice::Paused => "Paused: the bar left the site.",
            Notice::BarDeleted => "Bar deleted. Its counts stay in the site's totals.",
            Notice::VariantCreated => "Variant added. Publish to start the test.",
            Notice::VariantSaved => "Variant saved. Publish to show the changes to visitors.",
            Notice::VariantDeleted => "Variant deleted.",
            Notice::ProfileSaved => "Saved.",
            Notice::PasswordChanged => "Password changed. Your other sessions were logged out.",
            Notice::EmailChangeSent => {
                "We sent a link to the new address; the change happens when it is opened."
            }
            Notice::SessionEnded => "Session ended.",
            Notice::TokenDeleted => "Token deleted.",
            Notice::ObjectionRecorded => "Your objection is recorded.",
            Notice::Restricted => {
                "Processing is restricted: your bars are paused and nothing new is collected."
            }
            Notice::Unrestricted => "Processing is allowed again. Publish your bars to show them.",
            Notice::ConfirmationSent => "We sent a new confirmation link.",
            Notice::AlertDrafted => "Draft saved. Check the preview, then send it.",
            Notice::AlertSent => "The alert is on its way to its recipients.",
            Notice::PolicyPublished => "Policy version published.",
            Notice::BenchmarksRun => "Benchmarks recomputed.",
            Notice::InvitationSent => "Invitation sent. The link works once, for 7 days.",
            Notice::InvitationRevoked => "Invitation revoked: its link no longer works.",
            Notice::RoleChanged => "Role changed.",
            Notice::PersonRemoved => "Removed from the account.",
            Notice::Left => "You left the account.",
            Notice::HandedOver => "Ownership handed over: you are an admin of the account now.",
            Notice::Switched => "You are working in another account now.",
            Notice::Joined => "Welcome to the account.",
            Notice::Renamed => "The account has its new name.",
        }
    }

    pub(super) fn from_code(code: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.code() == code)
    }
}

/// The navigation entry a path belongs to.
fn section_of(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "sites" | "bars" => "sites",
        "benchmarks" => "benchmarks",
        "billing" => "billing",
        "account" => "account",
        "people" => "people",
        "admin" => "admin",
        _ => "",
    }
}

#[derive(serde::Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: String,
}

/// Renders a page for this request: 200 unless the handler says otherwise (a form sent
/// back with its errors is a 422).
pub(super) fn render<T: Serialize>(
    req: &Req,
    template: &str,
    ctx: &T,
    status: StatusCode,
) -> Result<Response> {
    let session = req.session_token();
    let (token, cookie) = csrf::form_token(&req.state.web, &req.headers, session.as_deref());
    let done: Done = serde_urlencoded::from_str(&req.query).unwrap_or_default();
    let chrome = Chrome {
        member: req.signed_in().map(|a| ChromeMember {
            email: &a.member.email,
            operator: a.member.is_operator,
            confirmed: a.member.email_confirmed_at.is_some(),
            role: a.acting.map(|r| r.role.as_str()),
            accounts: a
                .accounts
                .iter()
                .map(|c| ChromeAccount {
                    id: c.id.0,
                    name: &c.name,
                    current: a.acting.is_some_and(|r| r.account == c.id),
                })
                .collect(),
        }),
        csrf: &token,
        section: section_of(&req.path),
        notice: Notice::from_code(&done.done).map(Notice::text),
        css: assets::CSS.url(),
        js: assets::JS.url(),
    };
    let html = req
        .state
        .views
        .render(template, ctx, &chrome)
        .map_err(Error::Internal)?;
    let mut res = html_response(&req.headers, html, status);
    if let Some(cookie) = cookie {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(res)
}

/// An HTML body with the page policy, compressed when the browser takes it.
pub(super) fn html_response(request: &HeaderMap, html: String, status: StatusCode) -> Response {
    let mut res = compressed(request, html.into_bytes(), "text/html; charset=utf-8");
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    res
}

/// 303 See Other to a path of barkeep (after a form, or to log in).
pub(super) fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// 303 to an outside address (Stripe's checkout and portal).
pub(super) fn redirect_out(url: &str) -> Result<Response> {
    let v = HeaderValue::from_str(url)
        .map_err(|_| Error::Internal(anyhow::anyhow!("a redirect URL that is no header")))?;
    let mut res = StatusCode::SEE_OTHER.into_response();
    res.headers_mut().insert(header::LOCATION, v);
    Ok(res)
}

/// `path?done=code`: where a form sends the browser, with the notice to show there.
pub(super) fn done(path: &str, notice: Notice) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    see_other(&format!("{path}{sep}done={}", notice.code()))
}

#[derive(Serialize)]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    error: bool,
}

/// The page for an address nothing answers, to a browser (an API client gets JSON).
pub(super) fn not_found_page(state: &State, request: &HeaderMap) -> Option<Response> {
    let html = state
        .views
        .render(
            "pages/message.html",
            &Message {
                title: "There is no such page",
                text: "The address may be mistyped, or what it showed was deleted.",
                error: true,
            },
            &Chrome::bare(),
        )
        .ok()?;
    Some(html_response(request, html, StatusCode::NOT_FOUND))
}

/// A page that only says something.
pub(crate) fn message(req: &Req, status: StatusCode, title: &str, text: &str) -> Result<Response> {
    render(
        req,
        "pages/message.html",
        &Message {
            title,
            text,
            error: !status.is_success(),
        },
        status,
    )
}

/// Only a path of barkeep's own may be a `next` after logging in: it is resolved against
/// the public URL and kept only if it stays on the same origin, as the path and query
/// the browser will be sent to. Control characters and backslashes are refused outright
/// (browsers drop a tab or a newline and read a backslash as `/`, so `/\t/evil.example` would
/// lead away).
pub(super) fn local_path(next: &str, base_url: &str) -> Option<String> {
    if !next.starts_with('/') || next.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let base = url::Url::parse(base_url).ok()?;
    let to = base.join(next).ok()?;
    if to.origin() != base.origin() {
        return None;
    }
    let mut path = to.path().to_string();
    if let Some(q) = to.query() {
        path.push('?');
        path.push_str(q);
    }
    (path.starts_with('/') && !path.starts_with("//")).then_some(path)
}

/// How the pages answer an error: a member page asked for without a session goes to the
/// login page (and comes back after); everything else is a page saying what went wrong.
pub(super) fn error_page(state: &State, method: &Method, at: &str, err: Error) -> Response {
    if matches!(err, Error::Unauthorized) {
        return if *method == Method::GET || *method == Method::HEAD {
            let next: String = url::form_urlencoded::byte_serialize(at.as_bytes()).collect();
            see_other(&format!("/login?next={next}"))
        } else {
            see_other("/login")
        };
    }
    let status = error::status(&err);
    let text = error::body(&err).message;
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::PAYLOAD_TOO_LARGE => "Too much at once",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let text = if status == StatusCode::NOT_FOUND {
        "There is nothing here, or it is not yours. Check the address, or go back to your sites."
            .to_string()
    } else {
        text
    };
    let chrome = Chrome::bare();
    let ctx = Message {
        title,
        text: &text,
        error: true,
    };
    match state.views.render("pages/message.html", &ctx, &chrome) {
        Ok(html) => {
            let mut res = html_response(&HeaderMap::new(), html, status);
            if let Error::TooManyRequests { retry_after_secs } = err {
                res.headers_mut()
                    .insert("retry-after", HeaderValue::from(retry_after_secs.max(1)));
            }
            res
        }
        Err(e) => error::respond(Error::Internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(percent(0.0345), "3.45 %");
    }

    #[test]
    fn only_local_paths_come_back_after_login() {
        let base = "https://bars.example";
        let local = |n: &str| local_path(n, base);
        assert_eq!(local("/bars/3?x=1").as_deref(), Some("/bars/3?x=1"));
        assert_eq!(local("/bars/../sites").as_deref(), Some("/sites"));
        for away in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r//evil.example",
            "/\u{0}/evil.example",
            "bars/3",
            "",
            "/\u{7f}/x",
        ] {
            assert_eq!(local(away), None, "{away:?}");
        }
    }

    proptest::proptest! {
        /// Whatever `next` says, the browser is sent to a path on barkeep's own origin:
        /// what comes back, read by a URL parser as browsers do, stays there.
        #[test]
        fn no_next_leads_away(next in "[/\\\\a-z.:%@?#\t\n\r ]{0,24}") {
            if let Some(path) = local_path(&next, "https://bars.example") {
                let base = url::Url::parse("https://bars.example").unwrap();
                let to = base.join(&path).unwrap();
                proptest::prop_assert_eq!(to.origin(), base.origin(), "{:?} → {:?}", next, path);
                proptest::prop_assert!(!path.chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn notices_are_read_back_from_their_codes_and_sections_follow_the_path() {
        for n in Notice::ALL {
            assert_eq!(Notice::from_code(n.code()), Some(n));
        }
        assert_eq!(Notice::from_code("published"), Some(Notice::Published));
        assert_eq!(Notice::from_code("<script>"), None);
        assert_eq!(section_of("/bars/3/variants/2"), "sites");
        assert_eq!(section_of("/admin/alerts"), "admin");
        assert_eq!(section_of("/login"), "");
    }
}
