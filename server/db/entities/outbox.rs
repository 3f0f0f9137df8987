use sea_orm::entity::prelude::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::MemberId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub member_id: Option<MemberId>,
    /// Which email it is (the template it was rendered from).
    pub kind: EmailKind,
    pub to_address: String,
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body_text: String,
    #[sea_orm(column_type = "Text")]
    pub body_html: String,
    pub status: Status,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub stream: Stream,
    /// The subscription list it was sent on (`None`: transactional).
    pub list: Option<List>,
    /// The system alert it belongs to.
    pub alert_id: Option<i64>,
    /// Opens and clicks are recorded (when the operator has tracking on).
    pub tracked: bool,
    /// The links of the HTML part as sent, in order (JSON), so a click redirect can only
    /// lead where the email itself pointed, even after the body is purged.
    #[sea_orm(column_type = "Text", nullable)]
    pub links: Option<String>,
    pub bounced_at: Option<DateTimeUtc>,
    /// What happens to the row once sent.
    pub after_send: AfterSend,
}

impl ActiveModelBehavior for ActiveModel {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Status {
    Pending,
    Sent,
    /// Given up after the last retry, or refused for good.
    Failed,
    /// Not sent: the member left the list, or the address is suppressed.
    Skipped,
}

/// Some emails must not outlive their sending: lead notifications carry the addresses,
/// an erased account's last email carries the account's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum AfterSend {
    #[default]
    Keep,
    /// The subject and both parts are blanked; the metadata stays.
    PurgeBody,
    /// The row goes.
    Delete,
}

/// Transactional mail always goes out; subscription mail only to those on its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Stream {
    Transactional,
    Subscription,
}

/// The subscription lists a member can leave one by one. Transactional mail (account,
/// billing, outages, abuse, policy, security) belongs to none and always goes out.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum List {
    /// New features and releases (on unless turned off).
    News,
    /// The weekly digest (on unless turned off).
    Digest,
    /// Promotions (off unless turned on).
    Promo,
}

impl List {
    pub const ALL: [List; 3] = [List::News, List::Digest, List::Promo];

    /// The stored text, also the list's name in links and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            List::News => "news",
            List::Digest => "digest",
            List::Promo => "promo",
        }
    }

    pub fn parse(s: &str) -> Option<List> {
        List::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Which email a row is: the name of its template files (`templates/email/<name>.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum EmailKind {
    ConfirmEmail,
    ChangeEmail,
    EmailChanged,
    ResetPassword,
    PasswordChanged,
    BillingReceipt,
    BillingPaymentFailed,
    BillingDelinquent,
    BillingCanceled,
    BillingTrialEnding,
    BillingCardExpiring,
    BillingPlanChanged,
    UsageWarning,
    LeadNotification,
    LeadDeliveryFailing,
    ListForwardStopped,
    AccountDeleted,
    Invitation,
    WeeklyDigest,
    AlertPlannedOutage,
    AlertNewFeature,
    AlertVersionUpdate,
    AlertPointRelease,
    AlertMajorRelease,
    AlertAbuseWarning,
    AlertPolicyChange,
    AlertSecurityBreach,
    AlertPromotion,
}

impl EmailKind {
    /// The stored text, which is also the template's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::ConfirmEmail => "confirm_email",
            EmailKind::ChangeEmail => "change_email",
            EmailKind::EmailChanged => "email_changed",
            EmailKind::ResetPassword => "reset_password",
            EmailKind::PasswordChanged => "password_changed",
            EmailKind::BillingReceipt => "billing_receipt",
            EmailKind::BillingPaymentFailed => "billing_payment_failed",
            EmailKind::BillingDelinquent => "billing_delinquent",
            EmailKind::BillingCanceled => "billing_canceled",
            EmailKind::BillingTrialEnding => "billing_trial_ending",
            EmailKind::BillingCardExpiring => "billing_card_expiring",
            EmailKind::BillingPlanChanged => "billing_plan_changed",
            EmailKind::UsageWarning => "usage_warning",
            EmailKind::LeadNotification => "lead_notification",
            EmailKind::LeadDeliveryFailing => "lead_delivery_failing",
            EmailKind::ListForwardStopped => "list_forward_stopped",
            EmailKind::AccountDeleted => "account_deleted",
            EmailKind::Invitation => "invitation",
            EmailKind::WeeklyDigest => "weekly_digest",
            EmailKind::AlertPlannedOutage => "alert_planned_outage",
            EmailKind::AlertNewFeature => "alert_new_feature",
            EmailKind::AlertVersionUpdate => "alert_version_update",
            EmailKind::AlertPointRelease => "alert_point_release",
            EmailKind::AlertMajorRelease => "alert_major_release",
            EmailKind::AlertAbuseWarning => "alert_abuse_warning",
            EmailKind::AlertPolicyChange => "alert_policy_change",
            EmailKind::AlertSecurityBreach => "alert_security_breach",
            EmailKind::AlertPromotion => "alert_promotion",
        }
    }
}

impl std::fmt::Display for EmailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    #[test]
    fn an_email_kind_is_stored_as_its_template_name() {
        for k in EmailKind::iter() {
            assert_eq!(k.to_value(), k.as_str());
        }
    }

    #[test]
    fn a_list_is_stored_as_its_name() {
        assert_eq!(List::iter().count(), List::ALL.len());
        for l in List::iter() {
            assert_eq!(l.to_value(), l.as_str());
            assert_eq!(List::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
    }
}
