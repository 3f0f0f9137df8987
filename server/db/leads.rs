//! Queries on leads, their forwards, the sites' lead webhooks and every delivery attempt.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entities::{lead, lead_delivery, lead_email_batch, lead_webhook};
use crate::domain::{BarId, DeploymentId, MemberId, SiteId};

// ---- webhooks ----

pub async fn webhook(
    db: &impl ConnectionTrait,
    site: SiteId,
) -> Result<Option<lead_webhook::Model>, DbErr> {
    lead_webhook::Entity::find_by_id(site).one(db).await
}

/// Sets the site's webhook (a new URL, or a new secret). Leads that gave up on the old
/// one are tried again.
pub async fn put_webhook(
    db: &impl ConnectionTrait,
    site: SiteId,
    url: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<lead_webhook::Model, DbErr> {
    use lead_webhook::Column as C;
    lead_webhook::Entity::insert(lead_webhook::ActiveModel {
        site_id: Set(site),
        url: Set(url.to_string()),
        secret: Set(secret.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        failing_notified_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(C::SiteId)
            .update_columns([C::Url, C::Secret, C::UpdatedAt, C::FailingNotifiedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    lead::Entity::update_many()
        .col_expr(
            lead::Column::FlaggedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(lead::Column::WebhookDone, Expr::value(false))
        .col_expr(lead::Column::WebhookAttempts, Expr::value(0))
        .col_expr(
            lead::Column::WebhookNextAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            lead::Column::WebhookFirstFailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(lead::Column::SiteId.eq(site))
        .filter(lead::Column::FlaggedAt.is_not_null())
        .exec(db)
        .await?;
    webhook(db, site)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("lead webhook".into()))
}

pub async fn delete_webhook(db: &impl ConnectionTrait, site: SiteId) -> Result<bool, DbErr> {
    let r = lead_webhook::Entity::delete_by_id(site).exec(db).await?;
    Ok(r.rows_affected == 1)
}

pub async fn set_failing_notified(
    db: &impl ConnectionTrait,
    site: SiteId,
    at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    lead_webhook::Entity::update_many()
        .col_expr(lead_webhook::Column::FailingNotifiedAt, Expr::value(at))
        .filter(lead_webhook::Column::SiteId.eq(site))
        .exec(db)
        .await?;
    Ok(())
}

// ---- leads waiting for their forwards ----

/// A lead not yet forwarded everywhere, with what its forwards depend on.
#[derive(Debug, Clone)]
pub struct Pending {
    pub lead: lead::Model,
    pub bar: BarId,
    pub member: MemberId,
    pub lead_email: bool,
    pub retention_days: i32,
    pub restricted: bool,
    pub has_webhook: bool,
}

pub async fn pending(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Pending>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT l.id, l.site_id, l.deployment_id, l.email, l.created_at, l.email_done, \
           l.webhook_done, l.webhook_attempts, l.webhook_next_at, l.webhook_first_failed_at, \
           d.bar_id, s.member_id, m.lead_email, m.restricted_at, w.site_id, m.lead_retention_days \
         FROM leads l \
         JOIN deployments d ON d.id = l.deployment_id \
         JOIN sites s ON s.id = l.site_id \
         JOIN members m ON m.id = s.member_id \
         LEFT JOIN lead_webhooks w ON w.site_id = l.site_id \
         WHERE l.forwarded_at IS NULL AND l.flagged_at IS NULL \
         ORDER BY l.id LIMIT {limit}"
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Pending {
                lead: lead::Model {
                    id: r.try_get_by_index(0)?,
                    site_id: SiteId(r.try_get_by_index(1)?),
                    deployment_id: DeploymentId(r.try_get_by_index(2)?),
                    email: r.try_get_by_index(3)?,
                    created_at: r.try_get_by_index(4)?,
                    email_done: r.try_get_by_index(5)?,
                    webhook_done: r.try_get_by_index(6)?,
                    webhook_attempts: r.try_get_by_index(7)?,
                    webhook_next_at: r.try_get_by_index(8)?,
                    webhook_first_failed_at: r.try_get_by_index(9)?,
                    flagged_at: None,
                    forwarded_at: None,
                },
                bar: BarId(r.try_get_by_index(10)?),
                member: MemberId(r.try_get_by_index(11)?),
                lead_email: r.try_get_by_index(12)?,
                restricted: r.try_get_by_index::<Option<DateTime<Utc>>>(13)?.is_some(),
                has_webhook: r.try_get_by_index::<Option<i64>>(14)?.is_some(),
                retention_days: r.try_get_by_index(15)?,
            })
        })
        .collect()
}

pub async fn set_done(
    db: &impl ConnectionTrait,
    ids: &[i64],
    column: lead::Column,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    lead::Entity::update_many()
        .col_expr(column, Expr::value(true))
        .filter(lead::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn webhook_failed(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i32,
    next: DateTime<Utc>,
    first_failed: DateTime<Utc>,
) -> Result<(), DbErr> {
    lead::Entity::update_many()
        .col_expr(lead::Column::WebhookAttempts, Expr::value(attempts))
        .col_expr(lead::Column::WebhookNextAt, Expr::value(next))
        .col_expr(
            lead::Column::WebhookFirstFailedAt,
            Expr::value(first_failed),
        )
        .filter(lead::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn flag(db: &impl ConnectionTrait, id: i64, at: DateTime<Utc>) -> Result<(), DbErr> {
    lead::Entity::update_many()
        .col_expr(lead::Column::FlaggedAt, Expr::value(at))
        .filter(lead::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Leads whose every configured forward succeeded: deleted, or (for members who keep
/// leads) marked with when, so retention can count from it.
pub async fn forwarded(
    db: &impl ConnectionTrait,
    keep: &[i64],
    delete: &[i64],
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !keep.is_empty() {
        lead::Entity::update_many()
            .col_expr(lead::Column::ForwardedAt, Expr::value(at))
            .filter(lead::Column::Id.is_in(keep.iter().copied()))
            .exec(db)
            .await?;
    }
    delete_leads(db, delete).await
}

pub async fn delete_leads(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    lead::Entity::delete_many()
        .filter(lead::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

// ---- lead emails ----

pub async fn last_email(
    db: &impl ConnectionTrait,
    bar: BarId,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(lead_email_batch::Entity::find_by_id(bar)
        .one(db)
        .await?
        .map(|b| b.last_sent_at))
}

pub async fn set_last_email(
    db: &impl ConnectionTrait,
    bar: BarId,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    lead_email_batch::Entity::insert(lead_email_batch::ActiveModel {
        bar_id: Set(bar),
        last_sent_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(lead_email_batch::Column::BarId)
            .update_column(lead_email_batch::Column::LastSentAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

// ---- delivery attempts ----

#[allow(clippy::too_many_arguments)]
pub async fn record_delivery(
    db: &impl ConnectionTrait,
    site: SiteId,
    lead: Option<i64>,
    attempt: i32,
    at: DateTime<Utc>,
    ok: bool,
    status_code: Option<i32>,
    error: Option<String>,
    test: bool,
) -> Result<(), DbErr> {
    lead_delivery::ActiveModel {
        site_id: Set(site),
        lead_id: Set(lead),
        attempt: Set(attempt),
        at: Set(at),
        ok: Set(ok),
        status_code: Set(status_code),
        error: Set(error.map(|e| e.chars().take(500).collect())),
        test: Set(test),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn deliveries(
    db: &impl ConnectionTrait,
    site: SiteId,
    limit: u64,
) -> Result<Vec<lead_delivery::Model>, DbErr> {
    lead_delivery::Entity::find()
        .filter(lead_delivery::Column::SiteId.eq(site))
        .order_by_desc(lead_delivery::Column::At)
        .order_by_desc(lead_delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn purge_deliveries(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(lead_delivery::Entity::delete_many()
        .filter(lead_delivery::Column::At.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

// ---- kept leads ----

pub async fn leads_of_site(
    db: &impl ConnectionTrait,
    site: SiteId,
    limit: u64,
) -> Result<Vec<lead::Model>, DbErr> {
    lead::Entity::find()
        .filter(lead::Column::SiteId.eq(site))
        .order_by_desc(lead::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn lead_of(
    db: &impl ConnectionTrait,
    site: SiteId,
    id: i64,
) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find_by_id(id)
        .filter(lead::Column::SiteId.eq(site))
        .one(db)
        .await
}

/// Forwarded leads past their member's retention: (lead, forwarded at, days kept).
pub async fn kept(db: &impl ConnectionTrait) -> Result<Vec<(i64, DateTime<Utc>, i32)>, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT l.id, l.forwarded_at, m.lead_retention_days FROM leads l \
             JOIN sites s ON s.id = l.site_id JOIN members m ON m.id = s.member_id \
             WHERE l.forwarded_at IS NOT NULL"
                .to_string(),
        ))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get_by_index(0)?,
                r.try_get_by_index(1)?,
                r.try_get_by_index(2)?,
            ))
        })
        .collect()
}

/// Whether a statement needs `$n` (PostgreSQL) or `?` placeholders.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".into(),
    }
}
