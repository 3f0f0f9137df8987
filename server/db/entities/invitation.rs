use sea_orm::entity::prelude::*;

use crate::domain::{AccountId, InvitationId, MemberId, Role};

/// An address invited into an account with a role: single use, until it expires or is
/// revoked.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: InvitationId,
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub invited_by: Option<MemberId>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
