use sea_orm::entity::prelude::*;

use crate::domain::MemberId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub member_id: Option<MemberId>,
    pub email: String,
    pub ip: String,
    /// What throttling counts by: the IPv4 address, or the IPv6 /64.
    pub ip_block: String,
    pub user_agent: Option<String>,
    /// The device cookie's id, when the browser showed one of this account.
    pub device: Option<String>,
    pub outcome: Outcome,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Outcome {
    Success,
    BadPassword,
    UnknownEmail,
    Throttled,
}
