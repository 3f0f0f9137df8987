use sea_orm::entity::prelude::*;

use crate::domain::MemberId;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: MemberId,
    #[sea_orm(unique)]
    pub email: String,
    pub email_confirmed_at: Option<DateTimeUtc>,
    pub password_hash: String,
    pub name: Option<String>,
    pub promo_opt_in: bool,
    /// Product news (features and releases); on unless turned off.
    pub news_opt_in: bool,
    /// The weekly digest; on unless turned off.
    pub digest_opt_in: bool,
    /// An IANA time zone (`Europe/Berlin`) for times in email; UTC when unset.
    pub time_zone: Option<String>,
    /// Each new lead is emailed to the member (in batches); on unless turned off.
    pub lead_email: bool,
    /// May use the operator area and commands (`barkeep admin grant EMAIL`).
    pub is_operator: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
