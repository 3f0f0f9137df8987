use sea_orm::entity::prelude::*;

use crate::domain::MemberId;

/// A member objected to a policy version, at this time.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_objections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub policy_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub member_id: MemberId,
    pub objected_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
