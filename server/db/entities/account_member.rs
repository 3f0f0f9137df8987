use sea_orm::entity::prelude::*;

use crate::domain::{AccountId, MemberId, Role};

/// A person in an account, with their role there.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: AccountId,
    pub member_id: MemberId,
    pub role: Role,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
