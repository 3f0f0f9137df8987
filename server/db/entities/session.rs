use sea_orm::entity::prelude::*;

use crate::domain::{AccountId, MemberId, SessionId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: SessionId,
    pub member_id: MemberId,
    /// The account the session acts in, as the switcher last chose (none: the person's
    /// first).
    pub account_id: Option<AccountId>,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
