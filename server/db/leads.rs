//! Queries on leads, their forwards, the sites' lead webhooks and every delivery attempt.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entities::outbox::{self, Status};
use super::entities::{lead, lead_delivery, lead_email_batch, lead_webhook, site};
use super::placeholder;
use crate::domain::{AccountId, BarId, SiteId};

// ---- webhooks ----

pub(crate) async fn webhook(
    db: &impl ConnectionTrait,
    site: SiteId,
) -> Result<Option<lead_webhook::Model>, DbErr> {
    lead_webhook::Entity::find_by_id(site).one(db).await
}

/// Sets the site's webhook (a new URL, or a new secret). Leads that gave up on the old
/// one are tried again.
pub(crate) async fn put_webhook(
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

pub(crate) async fn delete_webhook(db: &impl ConnectionTrait, site: SiteId) -> Result<bool, DbErr> {
    let r = lead_webhook::Entity::delete_by_id(site).exec(db).await?;
    Ok(r.rows_affected == 1)
}

pub(crate) async fn set_failing_notified(
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
//
// Every selection below names only work that can be done now: a member who is not
// restricted, a forward that is configured and due. A member whose leads cannot go
// anywhere is never in the way of another's.

/// Settles leads whose notification email has left the outbox: sent means delivered;
/// given up (failed or skipped) or gone means the lead waits for another email.
/// Returns how many were delivered and how many wait again.
pub(crate) async fn settle_emails(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    let with_status = |status: Status| {
        Query::select()
            .column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(outbox::Column::Status.eq(status))
            .to_owned()
    };
    let sent = lead::Entity::update_many()
        .col_expr(lead::Column::EmailDone, Expr::value(true))
        .filter(lead::Column::EmailDone.eq(false))
        .filter(lead::Column::EmailOutboxId.in_subquery(with_status(Status::Sent)))
        .exec(db)
        .await?
        .rows_affected;
    let again = lead::Entity::update_many()
        .col_expr(
            lead::Column::EmailOutboxId,
            Expr::value(Option::<i64>::None),
        )
        .filter(lead::Column::EmailDone.eq(false))
        .filter(lead::Column::EmailOutboxId.is_not_null())
        .filter(lead::Column::EmailOutboxId.not_in_subquery(with_status(Status::Pending)))
        .exec(db)
        .await?
        .rows_affected;
    Ok((sent, again))
}

/// What waits for an email: no email queued for it yet, someone in its account wants
/// lead email, and the account is not restricted. `a` is the site's account and `m` the
/// person who gets its lead email ([`RECIPIENT`]).
const WANTS_EMAIL: &str = "l.forwarded_at IS NULL AND l.email_done = {f} \
    AND l.email_outbox_id IS NULL AND m.id IS NOT NULL AND a.restricted_at IS NULL";

/// The first of the people who get an account's lead email (`teams::lead_recipients`
/// lists them all, in this order): editors and above who want them, the
/// longest-standing first. Joined as `m`, beside the site `s` and its account `a`;
/// `m.id` is null when nobody wants them.
const RECIPIENT: &str = "JOIN accounts a ON a.id = s.account_id \
    LEFT JOIN members m ON m.id = (SELECT am.member_id FROM account_members am \
    JOIN members p ON p.id = am.member_id WHERE am.account_id = s.account_id \
    AND am.role <> 'viewer' AND p.lead_email = {t} ORDER BY am.id LIMIT 1)";

/// The site's account (`s`) has REST hooks subscribed to new leads.
const LEAD_HOOKS: &str = "EXISTS (SELECT 1 FROM hooks h WHERE h.account_id = s.account_id \
    AND h.event = 'lead.created')";

fn booleans(sql: &str, backend: DbBackend) -> String {
    let (t, f) = match backend {
        DbBackend::Postgres => ("TRUE", "FALSE"),
        _ => ("1", "0"),
    };
    sql.replace("{t}", t).replace("{f}", f)
}

/// Bars with leads waiting for an email whose last lead email went before `cutoff`, the
/// bar whose oldest waiting lead is oldest first.
pub(crate) async fn bars_due_for_email(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<BarId>, DbErr> {
    let backend = db.get_database_backend();
    let sql = booleans(
        &format!(
            "SELECT d.bar_id FROM leads l \
             JOIN deployments d ON d.id = l.deployment_id \
             JOIN sites s ON s.id = l.site_id \
             {RECIPIENT} \
             LEFT JOIN lead_email_batches b ON b.bar_id = d.bar_id \
             WHERE {WANTS_EMAIL} AND (b.last_sent_at IS NULL OR b.last_sent_at <= {p1}) \
             GROUP BY d.bar_id ORDER BY MIN(l.id) LIMIT {limit}",
            p1 = placeholder(backend, 1),
        ),
        backend,
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [cutoff.into()],
        ))
        .await?;
    rows.into_iter()
        .map(|r| Ok(BarId(r.try_get_by_index(0)?)))
        .collect()
}

/// The oldest leads of a bar waiting for an email.
pub(crate) async fn waiting_for_email(
    db: &impl ConnectionTrait,
    bar: BarId,
    limit: u64,
) -> Result<Vec<lead::Model>, DbErr> {
    let backend = db.get_database_backend();
    let sql = booleans(
        &format!(
            "SELECT l.id FROM leads l \
             JOIN deployments d ON d.id = l.deployment_id \
             JOIN sites s ON s.id = l.site_id \
             {RECIPIENT} \
             WHERE {WANTS_EMAIL} AND d.bar_id = {p1} ORDER BY l.id LIMIT {limit}",
            p1 = placeholder(backend, 1),
        ),
        backend,
    );
    let ids: Vec<i64> = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [bar.0.into()]))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    lead::Entity::find()
        .filter(lead::Column::Id.is_in(ids))
        .order_by_asc(lead::Column::Id)
        .all(db)
        .await
}

/// Ties leads to the queued email (named by its key) that lists them.
pub(crate) async fn email_queued(
    db: &impl ConnectionTrait,
    ids: &[i64],
    dedupe_key: &str,
) -> Result<(), DbErr> {
    let row: Option<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::DedupeKey.eq(dedupe_key))
        .into_tuple()
        .one(db)
        .await?;
    let row = row.ok_or_else(|| DbErr::RecordNotFound(format!("outbox row {dedupe_key}")))?;
    lead::Entity::update_many()
        .col_expr(lead::Column::EmailOutboxId, Expr::value(row))
        .filter(lead::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// A lead whose forward is due, with what the forward needs.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    pub lead: lead::Model,
    pub bar: BarId,
    pub account: AccountId,
}

/// A forward that takes leads one by one, retrying each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forward {
    /// The site's webhook.
    Webhook,
    /// The site's list at an email service provider, unless it is stopped or paused.
    List,
}

/// Leads whose `forward` is due now: at most `per_site` of each site, and `limit` in
/// all, taken a site at a time in turn (every site's oldest, then every site's second…),
/// so one site's backlog never holds back another's leads.
pub(crate) async fn due(
    db: &impl ConnectionTrait,
    forward: Forward,
    now: DateTime<Utc>,
    per_site: u64,
    limit: u64,
) -> Result<Vec<Due>, DbErr> {
    let backend = db.get_database_backend();
    let p1 = placeholder(backend, 1);
    let (join, waiting) = match forward {
        Forward::Webhook => (
            "JOIN lead_webhooks w ON w.site_id = l.site_id".to_string(),
            // A lead flagged after a day of webhook failures is tried no more there.
            format!(
                "l.webhook_done = {{f}} AND l.flagged_at IS NULL \
                 AND (l.webhook_next_at IS NULL OR l.webhook_next_at <= {p1})"
            ),
        ),
        Forward::List => (
            "JOIN list_forwards f ON f.site_id = l.site_id".to_string(),
            format!(
                "l.list_done = {{f}} AND f.stopped_at IS NULL \
                 AND (f.paused_until IS NULL OR f.paused_until <= {p1}) \
                 AND (l.list_next_at IS NULL OR l.list_next_at <= {p1})"
            ),
        ),
    };
    let sql = booleans(
        &format!(
            "SELECT id, bar_id, account_id FROM ( \
               SELECT l.id, d.bar_id, s.account_id, \
                 ROW_NUMBER() OVER (PARTITION BY l.site_id ORDER BY l.id) AS turn \
               FROM leads l \
               {join} \
               JOIN deployments d ON d.id = l.deployment_id \
               JOIN sites s ON s.id = l.site_id \
               JOIN accounts a ON a.id = s.account_id \
               WHERE l.forwarded_at IS NULL AND {waiting} \
                 AND a.restricted_at IS NULL \
             ) due WHERE turn <= {per_site} ORDER BY turn, id LIMIT {limit}"
        ),
        backend,
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .await?;
    let mut order = Vec::with_capacity(rows.len());
    for r in rows {
        order.push((
            r.try_get_by_index::<i64>(0)?,
            BarId(r.try_get_by_index(1)?),
            AccountId(r.try_get_by_index(2)?),
        ));
    }
    let mut leads = lead::Entity::find()
        .filter(lead::Column::Id.is_in(order.iter().map(|(id, _, _)| *id)))
        .all(db)
        .await?;
    Ok(order
        .into_iter()
        .filter_map(|(id, bar, account)| {
            let at = leads.iter().position(|l| l.id == id)?;
            Some(Due {
                lead: leads.swap_remove(at),
                bar,
                account,
            })
        })
        .collect())
}

/// The webhooks of these sites.
pub(crate) async fn webhooks_of(
    db: &impl ConnectionTrait,
    sites: &[SiteId],
) -> Result<Vec<lead_webhook::Model>, DbErr> {
    lead_webhook::Entity::find()
        .filter(lead_webhook::Column::SiteId.is_in(sites.iter().copied()))
        .all(db)
        .await
}

/// Leads every configured forward has delivered (and with at least one forward
/// configured): deleted, or for members who keep leads, marked with when, so retention
/// counts from it. Returns how many were deleted and how many kept.
pub(crate) async fn finish_forwarded(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<(u64, u64), DbErr> {
    let backend = db.get_database_backend();
    let delivered = |keeping: &str| {
        booleans(
            &format!(
                "SELECT l.id FROM leads l \
                 JOIN sites s ON s.id = l.site_id \
                 {RECIPIENT} \
                 LEFT JOIN lead_webhooks w ON w.site_id = l.site_id \
                 LEFT JOIN list_forwards f ON f.site_id = l.site_id \
                 WHERE l.forwarded_at IS NULL AND a.restricted_at IS NULL \
                   AND (l.email_done = {{t}} OR m.id IS NULL) \
                   AND (l.webhook_done = {{t}} OR w.site_id IS NULL) \
                   AND (l.list_done = {{t}} OR f.site_id IS NULL) \
                   AND (l.hooks_fanned = {{t}} OR NOT {LEAD_HOOKS}) \
                   AND NOT EXISTS (SELECT 1 FROM hook_deliveries hd WHERE hd.lead_id = l.id) \
                   AND (m.id IS NOT NULL OR w.site_id IS NOT NULL OR f.site_id IS NOT NULL \
                     OR l.hooks_fanned = {{t}}) \
                   AND a.lead_retention_days {keeping}"
            ),
            backend,
        )
    };
    let deleted = db
        .execute_raw(Statement::from_string(
            backend,
            format!("DELETE FROM leads WHERE id IN ({})", delivered("= 0")),
        ))
        .await?
        .rows_affected();
    let kept = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE leads SET forwarded_at = {} WHERE id IN ({})",
                placeholder(backend, 1),
                delivered("> 0")
            ),
            [now.into()],
        ))
        .await?
        .rows_affected();
    Ok((deleted, kept))
}

pub(crate) async fn set_done(
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

pub(crate) async fn webhook_failed(
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

pub(crate) async fn flag(
    db: &impl ConnectionTrait,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    lead::Entity::update_many()
        .col_expr(lead::Column::FlaggedAt, Expr::value(at))
        .filter(lead::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn delete_leads(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
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

pub(crate) async fn set_last_email(
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
pub(crate) async fn record_delivery(
    db: &impl ConnectionTrait,
    site: SiteId,
    lead: Option<i64>,
    attempt: i32,
    at: DateTime<Utc>,
    ok: bool,
    status_code: Option<i32>,
    error: Option<String>,
    test: bool,
    forward: &str,
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
        forward: Set(forward.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The site's latest attempts to its webhook (`webhook`), or to its list forward.
pub(crate) async fn deliveries(
    db: &impl ConnectionTrait,
    site: SiteId,
    webhook: bool,
    limit: u64,
) -> Result<Vec<lead_delivery::Model>, DbErr> {
    let forward = if webhook {
        lead_delivery::Column::Forward.eq("webhook")
    } else {
        lead_delivery::Column::Forward.ne("webhook")
    };
    lead_delivery::Entity::find()
        .filter(lead_delivery::Column::SiteId.eq(site))
        .filter(forward)
        .order_by_desc(lead_delivery::Column::At)
        .order_by_desc(lead_delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// When the account's test posts of every site were made since `since`, oldest first.
pub(crate) async fn tests_since(
    db: &impl ConnectionTrait,
    account: AccountId,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    lead_delivery::Entity::find()
        .select_only()
        .column(lead_delivery::Column::At)
        .filter(lead_delivery::Column::Test.eq(true))
        .filter(lead_delivery::Column::At.gt(since))
        .filter(
            lead_delivery::Column::SiteId.in_subquery(
                Query::select()
                    .column(site::Column::Id)
                    .from(site::Entity)
                    .and_where(site::Column::AccountId.eq(account))
                    .to_owned(),
            ),
        )
        .order_by_asc(lead_delivery::Column::At)
        .into_tuple()
        .all(db)
        .await
}

pub(crate) async fn purge_deliveries(
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

pub(crate) async fn leads_of_site(
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

pub(crate) async fn lead_of(
    db: &impl ConnectionTrait,
    site: SiteId,
    id: i64,
) -> Result<Option<lead::Model>, DbErr> {
    lead::Entity::find_by_id(id)
        .filter(lead::Column::SiteId.eq(site))
        .one(db)
        .await
}

/// Deletes leads past their member's retention: kept leads counted from when they were
/// forwarded, and leads with no forward configured (no lead email, no webhook) counted
/// from when they arrived. Returns how many went.
pub(crate) async fn purge_past_retention(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT DISTINCT lead_retention_days FROM accounts".to_string(),
        ))
        .await?;
    let mut deleted = 0;
    for r in rows {
        let days: i32 = r.try_get_by_index(0)?;
        let cutoff = now - chrono::Duration::days(i64::from(days.max(0)));
        let sql = booleans(
            &format!(
                "DELETE FROM leads WHERE ( \
                   forwarded_at IS NOT NULL AND forwarded_at <= {p1} AND site_id IN ( \
                     SELECT s.id FROM sites s JOIN accounts a ON a.id = s.account_id \
                     WHERE a.lead_retention_days = {p2}) \
                 ) OR ( \
                   forwarded_at IS NULL AND created_at <= {p1} AND site_id IN ( \
                     SELECT s.id FROM sites s {RECIPIENT} \
                     LEFT JOIN lead_webhooks w ON w.site_id = s.id \
                     LEFT JOIN list_forwards f ON f.site_id = s.id \
                     WHERE a.lead_retention_days = {p2} AND m.id IS NULL \
                       AND w.site_id IS NULL AND f.site_id IS NULL AND NOT {LEAD_HOOKS}) \
                 )",
                p1 = placeholder(backend, 1),
                p2 = placeholder(backend, 2),
            ),
            backend,
        );
        deleted += db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [cutoff.into(), days.into()],
            ))
            .await?
            .rows_affected();
    }
    Ok(deleted)
}
