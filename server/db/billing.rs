//! Queries on Stripe customers, subscriptions, the plan applied to each account, and the
//! Stripe webhook events. Events are recorded by id with insert-or-skip and processed
//! only by whoever holds their lease, so duplicates and concurrent deliveries are safe.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, DeriveIden, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::stripe_event::{self, EventStatus};
use super::entities::{billing_account, billing_customer, subscription};
use crate::domain::AccountId;

// ---- customers ----

pub async fn customer_of(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Option<String>, DbErr> {
    Ok(billing_customer::Entity::find_by_id(account)
        .one(db)
        .await?
        .map(|c| c.stripe_customer_id))
}

pub async fn account_of_customer(
    db: &impl ConnectionTrait,
    customer: &str,
) -> Result<Option<AccountId>, DbErr> {
    Ok(billing_customer::Entity::find()
        .filter(billing_customer::Column::StripeCustomerId.eq(customer))
        .one(db)
        .await?
        .map(|c| c.account_id))
}

/// Records the account's customer unless they have one already (the first one stays).
pub async fn insert_customer(
    db: &impl ConnectionTrait,
    account: AccountId,
    customer: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    billing_customer::Entity::insert(billing_customer::ActiveModel {
        account_id: Set(account),
        stripe_customer_id: Set(customer.to_string()),
        created_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(())
}

// ---- subscriptions ----

pub async fn subscription(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<subscription::Model>, DbErr> {
    subscription::Entity::find_by_id(id.to_string())
        .one(db)
        .await
}

pub async fn subscriptions_of(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Vec<subscription::Model>, DbErr> {
    subscription::Entity::find()
        .filter(subscription::Column::AccountId.eq(account))
        .order_by_desc(subscription::Column::StripeCreatedAt)
        .all(db)
        .await
}

/// Writes the whole row, new or not.
pub async fn save_subscription(
    db: &impl ConnectionTrait,
    row: subscription::Model,
) -> Result<(), DbErr> {
    use subscription::Column as C;
    let active: subscription::ActiveModel = row.into();
    subscription::Entity::insert(active)
        .on_conflict(
            OnConflict::column(C::Id)
                .update_columns([
                    C::AccountId,
                    C::StripeCustomerId,
                    C::PlanId,
                    C::PriceId,
                    C::Interval,
                    C::Status,
                    C::CurrentPeriodEnd,
                    C::CancelAtPeriodEnd,
                    C::TrialEnd,
                    C::CancellationReason,
                    C::StripeCreatedAt,
                    C::ReadAt,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

// ---- the plan applied ----

pub async fn billing_account(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Option<billing_account::Model>, DbErr> {
    billing_account::Entity::find_by_id(account).one(db).await
}

pub async fn set_plan(
    db: &impl ConnectionTrait,
    account: AccountId,
    plan: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use billing_account::Column as C;
    billing_account::Entity::insert(billing_account::ActiveModel {
        account_id: Set(account),
        plan_id: Set(plan.to_string()),
        over_views_month: Set(None),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(C::AccountId)
            .update_columns([C::PlanId, C::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Records the month in which the account's views passed the plan's limit (`None`: not
/// over). True when that changed what was recorded.
pub async fn set_over_views(
    db: &impl ConnectionTrait,
    account: AccountId,
    plan: &str,
    month: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use billing_account::Column as C;
    let current = billing_account(db, account).await?;
    if current.as_ref().and_then(|a| a.over_views_month.as_deref()) == month {
        return Ok(false);
    }
    billing_account::Entity::insert(billing_account::ActiveModel {
        account_id: Set(account),
        plan_id: Set(plan.to_string()),
        over_views_month: Set(month.map(str::to_string)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(C::AccountId)
            .update_columns([C::OverViewsMonth, C::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(true)
}

pub async fn accounts_of(
    db: &impl ConnectionTrait,
    accounts: &[AccountId],
) -> Result<Vec<billing_account::Model>, DbErr> {
    billing_account::Entity::find()
        .filter(billing_account::Column::AccountId.is_in(accounts.iter().copied()))
        .all(db)
        .await
}

pub async fn subscriptions_of_accounts(
    db: &impl ConnectionTrait,
    accounts: &[AccountId],
) -> Result<Vec<subscription::Model>, DbErr> {
    subscription::Entity::find()
        .filter(subscription::Column::AccountId.is_in(accounts.iter().copied()))
        .order_by_desc(subscription::Column::StripeCreatedAt)
        .all(db)
        .await
}

pub async fn accounts(db: &impl ConnectionTrait) -> Result<Vec<billing_account::Model>, DbErr> {
    billing_account::Entity::find().all(db).await
}

/// Views per account since `since` (a day's first second), summed in SQL over the daily
/// counters of every deployment of every site the account has.
pub async fn views_by_account(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(AccountId, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT s.account_id, CAST(SUM(c.views) AS BIGINT) \
         FROM deployment_stats_daily c \
         JOIN deployments d ON d.id = c.deployment_id \
         JOIN sites s ON s.id = d.site_id \
         WHERE c.day >= {} GROUP BY s.account_id",
        super::placeholder(backend, 1)
    );
    let stmt = sea_orm::Statement::from_sql_and_values(backend, sql, [since.timestamp().into()]);
    let rows = db.query_all_raw(stmt).await?;
    rows.into_iter()
        .map(|r| Ok((AccountId(r.try_get_by_index(0)?), r.try_get_by_index(1)?)))
        .collect()
}

// ---- webhook events ----

/// What an event is about: the Stripe customer its object names and that customer's
/// account, as far as they are known when it arrives.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventOwner<'a> {
    pub customer: Option<&'a str>,
    pub account: Option<AccountId>,
}

/// Records an event the first time it arrives; true when this call recorded it.
#[allow(clippy::too_many_arguments)]
pub async fn insert_event(
    db: &impl ConnectionTrait,
    id: &str,
    kind: &str,
    created: DateTime<Utc>,
    payload: &str,
    status: EventStatus,
    owner: EventOwner<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = stripe_event::Entity::insert(stripe_event::ActiveModel {
        id: Set(id.to_string()),
        kind: Set(kind.to_string()),
        stripe_created_at: Set(created),
        payload: Set(payload.to_string()),
        status: Set(status),
        attempts: Set(0),
        last_error: Set(None),
        received_at: Set(now),
        processed_at: Set(None),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        stripe_customer_id: Set(owner.customer.map(str::to_string)),
        account_id: Set(owner.account),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(matches!(result, sea_orm::TryInsertResult::Inserted(1)))
}

/// Records whom an event is about once processing has found out (a customer linked by
/// the event itself, or read from the subscription); what is known already stays.
pub async fn set_event_owner(
    db: &impl ConnectionTrait,
    id: &str,
    owner: EventOwner<'_>,
) -> Result<(), DbErr> {
    use stripe_event::Column as C;
    if let Some(customer) = owner.customer {
        stripe_event::Entity::update_many()
            .col_expr(C::StripeCustomerId, Expr::value(customer))
            .filter(C::Id.eq(id))
            .filter(C::StripeCustomerId.is_null())
            .exec(db)
            .await?;
    }
    if let Some(account) = owner.account {
        stripe_event::Entity::update_many()
            .col_expr(C::AccountId, Expr::value(account.0))
            .filter(C::Id.eq(id))
            .filter(C::AccountId.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

pub async fn event(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<stripe_event::Model>, DbErr> {
    stripe_event::Entity::find_by_id(id.to_string())
        .one(db)
        .await
}

fn claimable(now: DateTime<Utc>, include_gave_up: bool) -> Condition {
    let mut statuses = vec![EventStatus::Received, EventStatus::Failed];
    if include_gave_up {
        statuses.push(EventStatus::GaveUp);
    }
    Condition::all()
        .add(stripe_event::Column::Status.is_in(statuses))
        .add(
            Condition::any()
                .add(stripe_event::Column::LockedUntil.is_null())
                .add(stripe_event::Column::LockedUntil.lt(now)),
        )
}

/// Takes the lease on an event that still needs processing; false when it is done or
/// someone else holds it. A redelivery from Stripe may also take one given up on.
pub async fn claim_event(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    include_gave_up: bool,
) -> Result<bool, DbErr> {
    let result = stripe_event::Entity::update_many()
        .col_expr(stripe_event::Column::LockedUntil, Expr::value(until))
        .col_expr(
            stripe_event::Column::Attempts,
            Expr::col(stripe_event::Column::Attempts).add(1),
        )
        .filter(stripe_event::Column::Id.eq(id))
        .filter(claimable(now, include_gave_up))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks an event done; meant for the transaction that commits its effect.
pub async fn finish_event(
    db: &impl ConnectionTrait,
    id: &str,
    status: EventStatus,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    stripe_event::Entity::update_many()
        .col_expr(stripe_event::Column::Status, Expr::value(status))
        .col_expr(stripe_event::Column::ProcessedAt, Expr::value(now))
        .col_expr(
            stripe_event::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            stripe_event::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(stripe_event::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a failed attempt; the event is retried from `next_attempt_at` unless `give_up`.
pub async fn fail_event(
    db: &impl ConnectionTrait,
    id: &str,
    error: &str,
    next_attempt_at: DateTime<Utc>,
    give_up: bool,
) -> Result<(), DbErr> {
    let error: String = error.chars().take(2000).collect();
    stripe_event::Entity::update_many()
        .col_expr(
            stripe_event::Column::Status,
            Expr::value(if give_up {
                EventStatus::GaveUp
            } else {
                EventStatus::Failed
            }),
        )
        .col_expr(stripe_event::Column::LastError, Expr::value(error))
        .col_expr(
            stripe_event::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(
            stripe_event::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(stripe_event::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Events that were recorded but not processed (a failure, or a process that died
/// holding one) and are due for another try, oldest first.
pub async fn due_events(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    stripe_event::Entity::find()
        .select_only()
        .column(stripe_event::Column::Id)
        .filter(claimable(now, false))
        .filter(stripe_event::Column::NextAttemptAt.lte(now))
        .order_by_asc(stripe_event::Column::StripeCreatedAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// The newest events, optionally of one status.
pub async fn recent_events(
    db: &impl ConnectionTrait,
    status: Option<EventStatus>,
    limit: u64,
) -> Result<Vec<stripe_event::Model>, DbErr> {
    let mut q = stripe_event::Entity::find()
        .order_by_desc(stripe_event::Column::ReceivedAt)
        .order_by_desc(stripe_event::Column::Id)
        .limit(limit);
    if let Some(status) = status {
        q = q.filter(stripe_event::Column::Status.eq(status));
    }
    q.all(db).await
}

// ---- erased customers ----

#[derive(DeriveIden, Clone, Copy)]
enum ErasedStripeCustomers {
    Table,
    CustomerHash,
    ErasedAt,
}

/// Remembers customers of an erased account, by the hashes of their ids.
pub async fn record_erased_customers(
    db: &impl ConnectionTrait,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for hash in hashes {
        db.execute(
            &Query::insert()
                .into_table(ErasedStripeCustomers::Table)
                .columns([
                    ErasedStripeCustomers::CustomerHash,
                    ErasedStripeCustomers::ErasedAt,
                ])
                .values_panic([hash.clone().into(), now.into()])
                .on_conflict(
                    OnConflict::column(ErasedStripeCustomers::CustomerHash)
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// Whether a customer with one of these hashes (the ways one id may have been hashed)
/// belonged to an erased account.
pub async fn customer_erased(db: &impl ConnectionTrait, hashes: &[String]) -> Result<bool, DbErr> {
    Ok(db
        .query_one(
            &Query::select()
                .column(ErasedStripeCustomers::CustomerHash)
                .from(ErasedStripeCustomers::Table)
                .and_where(
                    Expr::col(ErasedStripeCustomers::CustomerHash).is_in(hashes.iter().cloned()),
                )
                .limit(1)
                .to_owned(),
        )
        .await?
        .is_some())
}

/// Every Stripe customer id barkeep has seen for the account: theirs, and those of their
/// subscriptions.
pub async fn customers_of_account(
    db: &impl ConnectionTrait,
    account: AccountId,
) -> Result<Vec<String>, DbErr> {
    let mut ids: Vec<String> = customer_of(db, account).await?.into_iter().collect();
    for s in subscriptions_of(db, account).await? {
        ids.push(s.stripe_customer_id);
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}
