//! Queries on sites' list forwards (a list at an email service provider) and on how each
//! lead's add to that list went.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::{lead, list_forward};
use crate::domain::SiteId;

pub(crate) async fn forward(
    db: &impl ConnectionTrait,
    site: SiteId,
) -> Result<Option<list_forward::Model>, DbErr> {
    list_forward::Entity::find_by_id(site).one(db).await
}

pub(crate) async fn forwards_of(
    db: &impl ConnectionTrait,
    sites: &[SiteId],
) -> Result<Vec<list_forward::Model>, DbErr> {
    list_forward::Entity::find()
        .filter(list_forward::Column::SiteId.is_in(sites.iter().copied()))
        .all(db)
        .await
}

/// Sets the site's forward. A forward saved again starts afresh: it is no longer stopped
/// or paused, and the site's waiting leads are tried at once.
pub(crate) async fn put_forward(
    db: &impl ConnectionTrait,
    row: list_forward::Model,
) -> Result<list_forward::Model, DbErr> {
    use list_forward::Column as C;
    let site = row.site_id;
    let now = row.updated_at;
    list_forward::Entity::insert(list_forward::ActiveModel {
        site_id: Set(row.site_id),
        provider: Set(row.provider),
        key_sealed: Set(row.key_sealed),
        key_last4: Set(row.key_last4),
        api_url: Set(row.api_url),
        list_id: Set(row.list_id),
        list_name: Set(row.list_name),
        double_opt_in: Set(row.double_opt_in),
        created_at: Set(row.created_at),
        updated_at: Set(now),
        paused_until: Set(None),
        stopped_at: Set(None),
        stopped_error: Set(None),
        stopped_notified_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(C::SiteId)
            .update_columns([
                C::Provider,
                C::KeySealed,
                C::KeyLast4,
                C::ApiUrl,
                C::ListId,
                C::ListName,
                C::DoubleOptIn,
                C::UpdatedAt,
                C::PausedUntil,
                C::StoppedAt,
                C::StoppedError,
                C::StoppedNotifiedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    lead::Entity::update_many()
        .col_expr(lead::Column::ListAttempts, Expr::value(0))
        .col_expr(
            lead::Column::ListNextAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            lead::Column::ListFirstFailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(lead::Column::SiteId.eq(site))
        .filter(lead::Column::ListDone.eq(false))
        .exec(db)
        .await?;
    forward(db, site)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("list forward".into()))
}

pub(crate) async fn delete_forward(db: &impl ConnectionTrait, site: SiteId) -> Result<bool, DbErr> {
    let r = list_forward::Entity::delete_by_id(site).exec(db).await?;
    Ok(r.rows_affected == 1)
}

/// Nothing more goes to the site's provider before `until` (it answered 429).
pub(crate) async fn pause(
    db: &impl ConnectionTrait,
    site: SiteId,
    until: DateTime<Utc>,
) -> Result<(), DbErr> {
    list_forward::Entity::update_many()
        .col_expr(list_forward::Column::PausedUntil, Expr::value(until))
        .filter(list_forward::Column::SiteId.eq(site))
        .exec(db)
        .await?;
    Ok(())
}

/// Stops the forward (the key was refused, the list is gone, or the provider failed for
/// a day); answers true if it was running, so the member is told once.
pub(crate) async fn stop(
    db: &impl ConnectionTrait,
    site: SiteId,
    at: DateTime<Utc>,
    error: &str,
) -> Result<bool, DbErr> {
    let r = list_forward::Entity::update_many()
        .col_expr(list_forward::Column::StoppedAt, Expr::value(at))
        .col_expr(
            list_forward::Column::StoppedError,
            Expr::value(error.chars().take(500).collect::<String>()),
        )
        .filter(list_forward::Column::SiteId.eq(site))
        .filter(list_forward::Column::StoppedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub(crate) async fn set_stopped_notified(
    db: &impl ConnectionTrait,
    site: SiteId,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    list_forward::Entity::update_many()
        .col_expr(list_forward::Column::StoppedNotifiedAt, Expr::value(at))
        .filter(list_forward::Column::SiteId.eq(site))
        .exec(db)
        .await?;
    Ok(())
}

/// The lead's list forward is done (added, or refused for good as an address).
pub(crate) async fn done(db: &impl ConnectionTrait, lead: i64) -> Result<(), DbErr> {
    lead::Entity::update_many()
        .col_expr(lead::Column::ListDone, Expr::value(true))
        .filter(lead::Column::Id.eq(lead))
        .exec(db)
        .await?;
    Ok(())
}

/// The lead is tried again at `next`.
pub(crate) async fn again(
    db: &impl ConnectionTrait,
    lead: i64,
    attempts: i32,
    next: DateTime<Utc>,
    first_failed: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    lead::Entity::update_many()
        .col_expr(lead::Column::ListAttempts, Expr::value(attempts))
        .col_expr(lead::Column::ListNextAt, Expr::value(next))
        .col_expr(lead::Column::ListFirstFailedAt, Expr::value(first_failed))
        .filter(lead::Column::Id.eq(lead))
        .exec(db)
        .await?;
    Ok(())
}

/// How many of the site's leads wait for its list forward.
pub(crate) async fn waiting(db: &impl ConnectionTrait, site: SiteId) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    lead::Entity::find()
        .filter(lead::Column::SiteId.eq(site))
        .filter(lead::Column::ListDone.eq(false))
        .filter(lead::Column::ForwardedAt.is_null())
        .count(db)
        .await
}
