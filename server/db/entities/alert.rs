use sea_orm::entity::prelude::*;

use crate::domain::MemberId;

/// A system alert: drafted, then sent by the fan-out job, which queues one email per
/// member in the audience, in member-id order, remembering how far it got (`cursor`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    /// JSON: `"all"`, `{"plan": ID}` or `{"member": ID}`.
    #[sea_orm(column_type = "Text")]
    pub audience: String,
    /// JSON: the kind's fields.
    #[sea_orm(column_type = "Text")]
    pub fields: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub message: Option<String>,
    /// `draft`, `sending` or `sent`.
    pub status: String,
    pub created_by: Option<MemberId>,
    pub created_at: DateTimeUtc,
    pub send_requested_at: Option<DateTimeUtc>,
    /// When the last email of the fan-out was queued.
    pub queued_at: Option<DateTimeUtc>,
    /// The highest member id the fan-out has passed.
    pub cursor: i64,
    pub queued: i64,
}

impl ActiveModelBehavior for ActiveModel {}
