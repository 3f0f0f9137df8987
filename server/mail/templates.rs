//! Email templates: `templates/email/<name>.{subject.txt,txt,html}`, each rendered from a
//! typed context, sharing one HTML and one text layout.

use anyhow::Context as _;
use rust_embed::RustEmbed;
use serde::Serialize;

pub use crate::db::entities::outbox::EmailKind;

#[derive(RustEmbed)]
#[folder = "templates/"]
#[include = "email/*"]
pub(crate) struct TemplateFiles;

/// The rendered parts of one email.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A typed email: its context struct and which email it is, which names its template
/// files (one context type may serve several: the alert kinds).
pub trait EmailTemplate: Serialize {
    fn kind(&self) -> EmailKind;
}

/// Sent after signup: confirms the address belongs to the member.
#[derive(Serialize)]
pub struct ConfirmEmail {
    pub confirm_url: String,
    pub valid_hours: u32,
}
impl EmailTemplate for ConfirmEmail {
    fn kind(&self) -> EmailKind {
        EmailKind::ConfirmEmail
    }
}

/// Sent to a new address the member wants to switch to.
#[derive(Serialize)]
pub struct ChangeEmail {
    pub confirm_url: String,
    pub new_email: String,
    pub valid_hours: u32,
}
impl EmailTemplate for ChangeEmail {
    fn kind(&self) -> EmailKind {
        EmailKind::ChangeEmail
    }
}

/// Sent to an address invited into an account.
#[derive(Serialize)]
pub struct Invitation {
    pub account: String,
    pub inviter: String,
    pub role: String,
    pub accept_url: String,
    pub valid_days: u32,
}
impl EmailTemplate for Invitation {
    fn kind(&self) -> EmailKind {
        EmailKind::Invitation
    }
}

/// Sent to the old address once the change is done, so a hijack does not go unseen.
#[derive(Serialize)]
pub struct EmailChanged {
    pub new_email: String,
}
impl EmailTemplate for EmailChanged {
    fn kind(&self) -> EmailKind {
        EmailKind::EmailChanged
    }
}

/// The single-use link for a forgotten password.
#[derive(Serialize)]
pub struct ResetPassword {
    pub reset_url: String,
    pub valid_minutes: u32,
}
impl EmailTemplate for ResetPassword {
    fn kind(&self) -> EmailKind {
        EmailKind::ResetPassword
    }
}

/// Sent whenever the password changes, by reset or from the account page.
#[derive(Serialize)]
pub struct PasswordChanged {
    pub sessions_ended: bool,
}
impl EmailTemplate for PasswordChanged {
    fn kind(&self) -> EmailKind {
        EmailKind::PasswordChanged
    }
}

/// An invoice was paid: the receipt.
#[derive(Serialize)]
pub struct BillingReceipt {
    pub plan_name: String,
    /// Formatted with its currency: `$20.00`, `20.00 EUR`.
    pub amount: String,
    pub period_start: String,
    pub period_end: String,
    /// Stripe's hosted invoice page.
    pub invoice_url: Option<String>,
    pub billing_url: String,
}
impl EmailTemplate for BillingReceipt {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingReceipt
    }
}

/// A payment failed: asks for a different card.
#[derive(Serialize)]
pub struct BillingPaymentFailed {
    pub plan_name: String,
    pub amount: String,
    /// When Stripe tries again, if it will.
    pub next_attempt: Option<String>,
    pub billing_url: String,
}
impl EmailTemplate for BillingPaymentFailed {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingPaymentFailed
    }
}

/// The subscription turned `past_due` or `unpaid`.
#[derive(Serialize)]
pub struct BillingDelinquent {
    pub plan_name: String,
    pub status: String,
    pub billing_url: String,
}
impl EmailTemplate for BillingDelinquent {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingDelinquent
    }
}

/// The subscription was canceled because payments failed.
#[derive(Serialize)]
pub struct BillingCanceled {
    pub plan_name: String,
    pub billing_url: String,
}
impl EmailTemplate for BillingCanceled {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingCanceled
    }
}

/// A trial ends soon.
#[derive(Serialize)]
pub struct BillingTrialEnding {
    pub plan_name: String,
    pub trial_end: String,
    pub has_payment_method: bool,
    pub billing_url: String,
}
impl EmailTemplate for BillingTrialEnding {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingTrialEnding
    }
}

/// The card on file expires before the next payment.
#[derive(Serialize)]
pub struct BillingCardExpiring {
    pub brand: String,
    pub last4: String,
    /// `12/2026`
    pub expires: String,
    pub billing_url: String,
}
impl EmailTemplate for BillingCardExpiring {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingCardExpiring
    }
}

/// The plan changed; lists what was paused because it exceeds the new plan.
#[derive(Serialize)]
pub struct BillingPlanChanged {
    pub old_plan: String,
    pub new_plan: String,
    pub paused: Vec<String>,
    pub billing_url: String,
}
impl EmailTemplate for BillingPlanChanged {
    fn kind(&self) -> EmailKind {
        EmailKind::BillingPlanChanged
    }
}

/// This month's views reached 80 % or 100 % of the plan's limit.
#[derive(Serialize)]
pub struct UsageWarning {
    pub percent: u32,
    pub views: String,
    pub limit: String,
    /// `December 2026`
    pub month: String,
    /// Bars stop showing at the limit (Free) rather than going on (paid plans).
    pub blocks: bool,
    pub resets_on: String,
    pub billing_url: String,
}
impl EmailTemplate for UsageWarning {
    fn kind(&self) -> EmailKind {
        EmailKind::UsageWarning
    }
}

/// Every template set, loaded once at start-up.
pub struct Templates {
    tera: tera::Tera,
    base_url: String,
}

impl Templates {
    pub fn load(base_url: &str) -> anyhow::Result<Self> {
        let mut files = Vec::new();
        for name in TemplateFiles::iter() {
            let file = TemplateFiles::get(&name).context("template vanished")?;
            let body = String::from_utf8(file.data.into_owned())
                .with_context(|| format!("template {name} is not UTF-8"))?;
            files.push((name.to_string(), body));
        }
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(files).context("parsing templates")?;
        tera.set_escape_fn(escape_html);
        Ok(Templates {
            tera,
            base_url: base_url.to_string(),
        })
    }

    /// Renders a transactional email (no unsubscribe line).
    pub fn render<T: EmailTemplate>(&self, email: &T) -> anyhow::Result<Rendered> {
        self.render_for(email, None)
    }

    /// Renders an email; subscription mail passes its one-click unsubscribe link.
    pub fn render_for<T: EmailTemplate>(
        &self,
        email: &T,
        unsubscribe_url: Option<&str>,
    ) -> anyhow::Result<Rendered> {
        let mut context = tera::Context::from_serialize(email).context("email context")?;
        context.insert("base_url", &self.base_url);
        context.insert(
            "preferences_url",
            &format!("{}/account#email", self.base_url),
        );
        if let Some(url) = unsubscribe_url {
            context.insert("unsubscribe_url", url);
        }
        let template = email.kind().as_str();
        let part = |suffix: &str| {
            let name = format!("email/{template}.{suffix}");
            self.tera
                .render(&name, &context)
                .with_context(|| format!("rendering {name}"))
        };
        Ok(Rendered {
            subject: part("subject.txt")?.trim().to_string(),
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

/// Escapes what HTML needs escaped and nothing more: tera's default also turns `/` into
/// `&#x2F;`, which mangles every link in a plain-looking email source.
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const UNSUBSCRIBE: &str = "https://b.example/unsubscribe?t=x";
    const BILLING_URL: &str = "https://b.example/billing";

    /// One of every email, rendered as subscription mail (with an unsubscribe link), for
    /// the tests below: every template with its typed context.
    fn samples(t: &Templates) -> Vec<(EmailKind, Rendered)> {
        let mut out = alert_samples(t);
        out.push(digest_sample(t));
        out.extend(lead_samples(t));
        out.extend(account_samples(t));
        out.extend(payment_samples(t));
        out.extend(plan_samples(t));
        out
    }

    fn rendered<T: EmailTemplate>(t: &Templates, e: T) -> (EmailKind, Rendered) {
        (e.kind(), t.render_for(&e, Some(UNSUBSCRIBE)).unwrap())
    }

    /// Every alert kind, with each of its fields set, for a member in Berlin.
    fn alert_samples(t: &Templates) -> Vec<(EmailKind, Rendered)> {
        use crate::alerts::kinds::{self, Kind, PolicyFacts};
        let policy = PolicyFacts {
            effective_at: "2027-01-01T00:00:00Z".parse().unwrap(),
            summary: Some("Shorter retention.".into()),
            policy_url: "https://b.example/privacy-policy?version=2026-12".into(),
            objection_deadline: "2026-12-23T00:00:00Z".parse().unwrap(),
            account_url: "https://b.example/account#policy".into(),
        };
        Kind::ALL
            .into_iter()
            .map(|k| {
                let email = kinds::email(
                    k,
                    &alert_fields(k),
                    Some("First paragraph.\n\nSecond."),
                    Some("Ada".into()),
                    Some("Europe/Berlin"),
                    Some(&policy),
                );
                rendered(t, email)
            })
            .collect()
    }

    fn alert_fields(k: crate::alerts::Kind) -> serde_json::Value {
        use crate::alerts::Kind;
        use serde_json::json;
        match k {
            Kind::PlannedOutage => {
                json!({"starts_at": "2026-12-08T01:00:00Z", "ends_at": "2026-12-08T03:00:00Z", "affected": "the dashboard"})
            }
            Kind::NewFeature => {
                json!({"feature": "CSV export", "summary": "Download leads.", "url": "https://b.example/docs"})
            }
            Kind::VersionUpdate | Kind::PointRelease => {
                json!({"version": "1.2.0", "summary": "Fixes."})
            }
            Kind::MajorRelease => {
                json!({"version": "2.0", "summary": "Big.", "highlights": ["One", "Two"]})
            }
            Kind::AbuseWarning => {
                json!({"seen": "Phishing links", "action": "Remove them", "site": "Shop"})
            }
            Kind::PolicyChange => json!({"version": "2026-12"}),
            Kind::SecurityBreach => {
                json!({"happened": "A leak", "data": "Emails", "done": "Rotated keys", "todo": "Change your password"})
            }
            Kind::Promotion => {
                json!({"headline": "Half off", "summary": "This week.", "url": "https://b.example/pricing"})
            }
        }
    }

    fn digest_sample(t: &Templates) -> (EmailKind, Rendered) {
        use crate::digest::{BestBar, WeeklyDigest};
        rendered(
            t,
            WeeklyDigest {
                week: "30 November – 6 December 2026".into(),
                views: "1,204".into(),
                clicks: "41".into(),
                ctr: "3.4 %".into(),
                leads: "3".into(),
                best_bar: Some(BestBar {
                    name: "Sale".into(),
                    site: "Shop".into(),
                    views: "900".into(),
                    clicks: "30".into(),
                    ctr: "3.3 %".into(),
                }),
                stats_url: "https://b.example/sites".into(),
            },
        )
    }

    fn lead_samples(t: &Templates) -> Vec<(EmailKind, Rendered)> {
        use crate::leads::{LeadDeliveryFailing, LeadLine, LeadNotification, ListForwardStopped};
        vec![
            rendered(
                t,
                LeadNotification {
                    site: "Shop".into(),
                    bar: "Newsletter".into(),
                    leads: vec![LeadLine {
                        email: "visitor@example.org".into(),
                        at: "3 December 2026, 10:00 UTC".into(),
                    }],
                    count: 1,
                    kept_days: 0,
                    leads_url: "https://b.example/sites/1#leads".into(),
                },
            ),
            rendered(
                t,
                LeadDeliveryFailing {
                    site: "Shop".into(),
                    webhook_host: "hooks.example".into(),
                    failures: 12,
                    since: "2 December 2026".into(),
                    last_status: Some("HTTP 500".into()),
                    settings_url: "https://b.example/sites/1#leads".into(),
                },
            ),
            rendered(
                t,
                ListForwardStopped {
                    site: "Shop".into(),
                    provider: "Mailchimp".into(),
                    list: "Newsletter".into(),
                    error: "Mailchimp refused the key (HTTP 401: API Key Invalid)".into(),
                    waiting: 3,
                    settings_url: "https://b.example/sites/1/lists".into(),
                },
            ),
        ]
    }

    /// The account's own emails: the address, the password, and its deletion.
    fn account_samples(t: &Templates) -> Vec<(EmailKind, Rendered)> {
        vec![
            rendered(
                t,
                crate::privacy::AccountDeleted {
                    deleted_at: "3 December 2026".into(),
                },
            ),
            rendered(
                t,
                ConfirmEmail {
                    confirm_url: "https://b.example/confirm-email?token=abc".into(),
                    valid_hours: 48,
                },
            ),
            rendered(
                t,
                ChangeEmail {
                    confirm_url: "https://b.example/confirm-email?token=def".into(),
                    new_email: "new@example.com".into(),
                    valid_hours: 24,
                },
            ),
            rendered(
                t,
                Invitation {
                    account: "Shop".into(),
                    inviter: "owner@example.com".into(),
                    role: "editor".into(),
                    accept_url: "https://b.example/invitations/accept?token=ghi".into(),
                    valid_days: 7,
                },
            ),
            rendered(
                t,
                EmailChanged {
                    new_email: "new@example.com".into(),
                },
            ),
            rendered(
                t,
                ResetPassword {
                    reset_url: "https://b.example/reset-password?token=ghi".into(),
                    valid_minutes: 60,
                },
            ),
            rendered(
                t,
                PasswordChanged {
                    sessions_ended: true,
                },
            ),
        ]
    }

    /// Billing's emails about payments: paid, failed, overdue, canceled.
    fn payment_samples(t: &Templates) -> Vec<(EmailKind, Rendered)> {
        vec![
            rendered(
                t,
                BillingReceipt {
                    plan_name: "Pro".into(),
                    amount: "$20.00".into(),
                    period_start: "3 December 2026".into(),
                    period_end: "3 January 2027".into(),
                    invoice_url: Some("https://invoice.stripe.com/i/acct_1/test".into()),
                    billing_url: BILLING_URL.into(),
                },
            ),
            rendered(
                t,
                BillingPaymentFailed {
                    plan_name: "Pro".into(),
                    amount: "$20.00".into(),
                    next_attempt: Some("6 December 2026".into()),
                    billing_url: BILLING_URL.into(),
                },
            ),
            rendered(
                t,
                BillingDelinquent {
                    plan_name: "Pro".into(),
                    status: "past_due".into(),
                    billing_url: BILLING_URL.into(),
                },
            ),
            rendered(
                t,
                BillingCanceled {
                    plan_name: "Pro".into(),
                    billing_url: BILLING_URL.into(),
                },
            ),
        ]
    }

    /// Billing's emails about the plan: the trial, the card, a change, the usage.
    fn plan_samples(t: &Templates) -> Vec<(EmailKind, Rendered)> {
        vec![
            rendered(
                t,
                BillingTrialEnding {
                    plan_name: "Pro".into(),
                    trial_end: "10 December 2026".into(),
                    has_payment_method: false,
                    billing_url: BILLING_URL.into(),
                },
            ),
            rendered(
                t,
                BillingCardExpiring {
                    brand: "visa".into(),
                    last4: "4242".into(),
                    expires: "12/2026".into(),
                    billing_url: BILLING_URL.into(),
                },
            ),
            rendered(
                t,
                BillingPlanChanged {
                    old_plan: "Pro".into(),
                    new_plan: "Free".into(),
                    paused: vec!["\"Sale\" was paused: your plan allows 1 site".into()],
                    billing_url: BILLING_URL.into(),
                },
            ),
            rendered(
                t,
                UsageWarning {
                    percent: 100,
                    views: "5,012".into(),
                    limit: "5,000".into(),
                    month: "December 2026".into(),
                    blocks: true,
                    resets_on: "1 January 2027".into(),
                    billing_url: BILLING_URL.into(),
                },
            ),
        ]
    }

    #[test]
    fn every_email_renders_all_three_parts() {
        let t = Templates::load("https://b.example").unwrap();
        for (name, rendered) in samples(&t) {
            assert!(
                !rendered.subject.is_empty() && !rendered.subject.contains('\n'),
                "{name}"
            );
            assert!(
                rendered.html.contains("<html"),
                "{name}: html part lacks the layout"
            );
            assert!(
                rendered.text.contains("https://b.example"),
                "{name}: text part lacks the footer"
            );
            assert!(
                !rendered.text.contains('<'),
                "{name}: markup in the text part"
            );
        }
    }

    #[test]
    fn links_appear_in_both_parts() {
        let t = Templates::load("https://b.example").unwrap();
        let r = t
            .render(&ResetPassword {
                reset_url: "https://b.example/reset-password?token=ghi".into(),
                valid_minutes: 60,
            })
            .unwrap();
        assert!(
            r.text
                .contains("https://b.example/reset-password?token=ghi")
        );
        assert!(
            r.html
                .contains("https://b.example/reset-password?token=ghi")
        );
    }

    #[test]
    fn html_escapes_values() {
        let t = Templates::load("https://b.example").unwrap();
        let r = t
            .render(&EmailChanged {
                new_email: "<b>x</b>@example.com".into(),
            })
            .unwrap();
        assert!(r.html.contains("&lt;b&gt;"));
    }

    #[test]
    fn no_email_template_is_left_unrendered() {
        let t = Templates::load("https://b.example").unwrap();
        let rendered: BTreeSet<String> = samples(&t)
            .into_iter()
            .map(|(kind, _)| kind.as_str().to_string())
            .collect();
        let on_disk: BTreeSet<String> = TemplateFiles::iter()
            .filter_map(|f| f.strip_prefix("email/").map(str::to_string))
            .filter(|f| !f.starts_with("layout."))
            .map(|f| f.split('.').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            on_disk, rendered,
            "templates on disk that no typed email renders (or the reverse)"
        );
        let kinds: BTreeSet<String> = <EmailKind as sea_orm::Iterable>::iter()
            .map(|kind| kind.as_str().to_string())
            .collect();
        assert_eq!(
            on_disk, kinds,
            "email kinds without templates (or the reverse)"
        );
    }
}
