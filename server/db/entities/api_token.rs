use sea_orm::entity::prelude::*;

use crate::domain::{AccountId, MemberId, Role, TokenId};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: TokenId,
    pub member_id: MemberId,
    /// The account the token acts in, and the narrower role it was made with (none: the
    /// person's own role there).
    pub account_id: Option<AccountId>,
    pub role: Option<Role>,
    pub name: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
