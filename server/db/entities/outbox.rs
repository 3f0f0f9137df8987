use sea_orm::entity::prelude::*;

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
    pub kind: String,
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
    pub list: Option<String>,
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
