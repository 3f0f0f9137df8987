use sea_orm::entity::prelude::*;

/// Something that happened to a sent email: opened, a link clicked, bounced, complained
/// about. Opens and clicks by scanners and image proxies are kept apart as `machine`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub outbox_id: i64,
    pub kind: EmailEventKind,
    /// The link clicked (its index in the email).
    pub link: Option<i32>,
    pub machine: bool,
    /// Why it counts as a machine, or the bounce's detail.
    pub reason: Option<String>,
    pub at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum EmailEventKind {
    Open,
    Click,
    Bounce,
    Complaint,
}
