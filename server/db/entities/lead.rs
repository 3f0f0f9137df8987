use sea_orm::entity::prelude::*;

use crate::domain::{DeploymentId, SiteId};

/// An email address a visitor left in a bar. It is the member's: barkeep forwards it
/// (by email, to the site's webhook, to a list at an email service provider, to
/// REST hooks) and, unless the member keeps leads for a
/// while, deletes it once every forward has succeeded.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: SiteId,
    pub deployment_id: DeploymentId,
    pub email: String,
    pub created_at: DateTimeUtc,
    /// The email forward is done: the email listing it was sent.
    pub email_done: bool,
    /// The queued email that lists it; while that email waits the lead does too, and if
    /// it is given up the lead waits for another.
    pub email_outbox_id: Option<i64>,
    /// The webhook forward is done (or the site has no webhook).
    pub webhook_done: bool,
    pub webhook_attempts: i32,
    pub webhook_next_at: Option<DateTimeUtc>,
    pub webhook_first_failed_at: Option<DateTimeUtc>,
    /// The webhook kept failing for a day: kept, shown to the member, tried no more.
    pub flagged_at: Option<DateTimeUtc>,
    /// The list forward is done: the provider took it, or will never take it.
    pub list_done: bool,
    pub list_attempts: i32,
    pub list_next_at: Option<DateTimeUtc>,
    pub list_first_failed_at: Option<DateTimeUtc>,
    /// Queued for every REST hook of its account subscribed to `lead.created`.
    pub hooks_fanned: bool,
    /// When the last configured forward succeeded.
    pub forwarded_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
