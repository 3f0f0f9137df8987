//! Queries on REST hooks and the events waiting to be posted to them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Statement,
};

use super::entities::{hook, hook_delivery, lead};
use super::placeholder;
use crate::domain::AccountId;

pub(crate) async fn hooks_of(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Vec<hook::Model>, DbErr> {
    hook::Entity::find()
        .filter(hook::Column::AccountId.eq(account))
        .order_by_asc(hook::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn count_of(db: &impl ConnectionTrait, account: AccountId) -> Result<u64, DbErr> {
    hook::Entity::find()
        .filter(hook::Column::AccountId.eq(account))
        .count(db)
        .await
}

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    account: AccountId,
    event: &str,
    target_url: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<hook::Model, DbErr> {
    hook::ActiveModel {
        account_id: Set(account),
        event: Set(event.to_string()),
        target_url: Set(target_url.to_string()),
        secret: Set(secret.to_string()),
        created_at: Set(now),
        last_attempt_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Deletes the hook if it is the account's; true if it was.
pub(crate) async fn delete(
    db: &impl ConnectionTrait,
    account: AccountId,
    id: i64,
) -> Result<bool, DbErr> {
    let r = hook::Entity::delete_many()
        .filter(hook::Column::Id.eq(id))
        .filter(hook::Column::AccountId.eq(account))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// A hook whose target answered 410 Gone: unsubscribed, with what waited for it.
pub(crate) async fn delete_by_id(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    hook::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Queues `payload` for every hook of the account subscribed to `event`; in the
/// transaction that makes the event, so it is queued exactly when it happened.
pub(crate) async fn queue_event(
    db: &impl ConnectionTrait,
    account: AccountId,
    event: &str,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let p = |n| placeholder(backend, n);
    let sql = format!(
        "INSERT INTO hook_deliveries (hook_id, lead_id, payload, created_at, attempts, next_at) \
         SELECT id, NULL, {p3}, {p4}, 0, {p4} FROM hooks WHERE account_id = {p1} AND event = {p2}",
        p1 = p(1),
        p2 = p(2),
        p3 = p(3),
        p4 = p(4),
    );
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [account.0.into(), event.into(), payload.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Leads not yet queued for their account's `lead.created` hooks (accounts that are not
/// restricted), oldest first.
pub(crate) async fn leads_to_fan_out(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    let backend = db.get_database_backend();
    let no = if backend == sea_orm::DbBackend::Postgres {
        "FALSE"
    } else {
        "0"
    };
    let sql = format!(
        "SELECT l.id FROM leads l JOIN sites s ON s.id = l.site_id \
         JOIN accounts a ON a.id = s.account_id \
         WHERE l.hooks_fanned = {no} AND a.restricted_at IS NULL \
           AND EXISTS (SELECT 1 FROM hooks h WHERE h.account_id = s.account_id \
             AND h.event = 'lead.created') \
         ORDER BY l.id LIMIT {limit}"
    );
    db.query_all_raw(Statement::from_string(backend, sql))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect()
}

/// Queues these leads for each `lead.created` hook their account had when they arrived,
/// and marks them queued.
pub(crate) async fn fan_out(
    db: &impl ConnectionTrait,
    leads: &[i64],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if leads.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let ids = leads
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "INSERT INTO hook_deliveries (hook_id, lead_id, payload, created_at, attempts, next_at) \
         SELECT h.id, l.id, NULL, {p1}, 0, {p1} FROM leads l \
         JOIN sites s ON s.id = l.site_id \
         JOIN hooks h ON h.account_id = s.account_id AND h.event = 'lead.created' \
           AND h.created_at <= l.created_at \
         WHERE l.id IN ({ids})",
        p1 = placeholder(backend, 1),
    );
    let queued = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .await?
        .rows_affected();
    lead::Entity::update_many()
        .col_expr(lead::Column::HooksFanned, Expr::value(true))
        .filter(lead::Column::Id.is_in(leads.iter().copied()))
        .exec(db)
        .await?;
    Ok(queued)
}

/// Events due to be posted: at most `per_account` of each account and `limit` in all,
/// an account at a time in turn.
pub(crate) async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    per_account: u64,
    limit: u64,
) -> Result<Vec<(hook_delivery::Model, hook::Model)>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT id FROM ( \
           SELECT hd.id, ROW_NUMBER() OVER (PARTITION BY h.account_id ORDER BY hd.id) AS turn \
           FROM hook_deliveries hd JOIN hooks h ON h.id = hd.hook_id \
           JOIN accounts a ON a.id = h.account_id \
           WHERE hd.next_at <= {p1} AND a.restricted_at IS NULL \
         ) due WHERE turn <= {per_account} ORDER BY turn, id LIMIT {limit}",
        p1 = placeholder(backend, 1),
    );
    let ids: Vec<i64> = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    let rows = hook_delivery::Entity::find()
        .filter(hook_delivery::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let mut hook_ids: Vec<i64> = rows.iter().map(|d| d.hook_id).collect();
    hook_ids.sort_unstable();
    hook_ids.dedup();
    let hooks = hook::Entity::find()
        .filter(hook::Column::Id.is_in(hook_ids))
        .all(db)
        .await?;
    let mut out: Vec<_> = rows
        .into_iter()
        .filter_map(|d| {
            let h = hooks.iter().find(|h| h.id == d.hook_id)?.clone();
            Some((d, h))
        })
        .collect();
    out.sort_by_key(|(d, _)| ids.iter().position(|id| *id == d.id));
    Ok(out)
}

pub(crate) async fn delivered(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    hook_delivery::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub(crate) async fn again(
    db: &impl ConnectionTrait,
    id: i64,
    attempts: i32,
    next: DateTime<Utc>,
    first_failed: DateTime<Utc>,
) -> Result<(), DbErr> {
    hook_delivery::Entity::update_many()
        .col_expr(hook_delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(hook_delivery::Column::NextAt, Expr::value(next))
        .col_expr(
            hook_delivery::Column::FirstFailedAt,
            Expr::value(first_failed),
        )
        .filter(hook_delivery::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn record_attempt(
    db: &impl ConnectionTrait,
    hook: i64,
    at: DateTime<Utc>,
    status: Option<i32>,
    error: Option<String>,
) -> Result<(), DbErr> {
    hook::Entity::update_many()
        .col_expr(hook::Column::LastAttemptAt, Expr::value(at))
        .col_expr(hook::Column::LastStatus, Expr::value(status))
        .col_expr(
            hook::Column::LastError,
            Expr::value(error.map(|e| e.chars().take(500).collect::<String>())),
        )
        .filter(hook::Column::Id.eq(hook))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn leads(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<lead::Model>, DbErr> {
    lead::Entity::find()
        .filter(lead::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}
