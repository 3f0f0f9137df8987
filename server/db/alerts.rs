//! Queries on system alerts (and who is in an alert's audience), their delivery
//! reports, privacy-policy versions and objections, and the weekly digest's checkpoint.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{
    alert, billing_account, digest_week, member, outbox, policy_objection, policy_version,
};
use crate::domain::MemberId;

// ---- alerts ----

#[allow(clippy::too_many_arguments)]
pub async fn insert_alert(
    db: &impl ConnectionTrait,
    kind: &str,
    audience: String,
    fields: String,
    message: Option<String>,
    status: &str,
    created_by: Option<MemberId>,
    now: DateTime<Utc>,
) -> Result<alert::Model, DbErr> {
    alert::ActiveModel {
        kind: Set(kind.to_string()),
        audience: Set(audience),
        fields: Set(fields),
        message: Set(message),
        status: Set(status.to_string()),
        created_by: Set(created_by),
        created_at: Set(now),
        send_requested_at: Set((status == "sending").then_some(now)),
        queued_at: Set(None),
        cursor: Set(0),
        queued: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn alert(db: &impl ConnectionTrait, id: i64) -> Result<Option<alert::Model>, DbErr> {
    alert::Entity::find_by_id(id).one(db).await
}

pub async fn recent_alerts(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<alert::Model>, DbErr> {
    alert::Entity::find()
        .order_by_desc(alert::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn sending_alerts(db: &impl ConnectionTrait) -> Result<Vec<alert::Model>, DbErr> {
    alert::Entity::find()
        .filter(alert::Column::Status.eq("sending"))
        .order_by_asc(alert::Column::Id)
        .all(db)
        .await
}

/// A draft starts sending; false when it is not a draft (sent already, or sending).
pub async fn start_sending(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = alert::Entity::update_many()
        .col_expr(alert::Column::Status, Expr::value("sending"))
        .col_expr(alert::Column::SendRequestedAt, Expr::value(now))
        .filter(alert::Column::Id.eq(id))
        .filter(alert::Column::Status.eq("draft"))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Moves the fan-out's checkpoint forward past `cursor` (never back), counting what it
/// queued; `done` marks the fan-out finished.
pub async fn advance_alert(
    db: &impl ConnectionTrait,
    id: i64,
    cursor: i64,
    added: i64,
    done: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let mut update = alert::Entity::update_many()
        .col_expr(alert::Column::Cursor, Expr::value(cursor))
        .col_expr(
            alert::Column::Queued,
            Expr::col(alert::Column::Queued).add(added),
        )
        .filter(alert::Column::Id.eq(id))
        .filter(alert::Column::Cursor.lt(cursor));
    if let Some(at) = done {
        update = update
            .col_expr(alert::Column::Status, Expr::value("sent"))
            .col_expr(alert::Column::QueuedAt, Expr::value(at));
    }
    update.exec(db).await?;
    if let Some(at) = done {
        // Finished with nothing past the cursor: still mark it sent.
        alert::Entity::update_many()
            .col_expr(alert::Column::Status, Expr::value("sent"))
            .col_expr(alert::Column::QueuedAt, Expr::value(at))
            .filter(alert::Column::Id.eq(id))
            .filter(alert::Column::Status.eq("sending"))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Who an alert goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    All,
    /// Members on this plan (recorded in `billing_accounts`).
    Plan(String),
    /// Members on no recorded plan or on this one: the free plan.
    PlanOrNone(String),
    Member(MemberId),
}

/// The next members of an audience after `after`, in id order. `confirmed` keeps only
/// confirmed addresses; `list` only members on that subscription list.
pub async fn audience_batch(
    db: &impl ConnectionTrait,
    audience: &Audience,
    after: MemberId,
    limit: u64,
    list: Option<member::Column>,
    confirmed: bool,
) -> Result<Vec<member::Model>, DbErr> {
    let mut q = member::Entity::find()
        .filter(member::Column::Id.gt(after))
        .order_by_asc(member::Column::Id)
        .limit(limit);
    match audience {
        Audience::All => {}
        Audience::Member(id) => q = q.filter(member::Column::Id.eq(*id)),
        Audience::Plan(plan) => {
            q = q.filter(
                member::Column::Id.in_subquery(
                    Query::select()
                        .column(billing_account::Column::MemberId)
                        .from(billing_account::Entity)
                        .and_where(billing_account::Column::PlanId.eq(plan.as_str()))
                        .to_owned(),
                ),
            )
        }
        Audience::PlanOrNone(plan) => {
            q = q.filter(
                member::Column::Id.not_in_subquery(
                    Query::select()
                        .column(billing_account::Column::MemberId)
                        .from(billing_account::Entity)
                        .and_where(billing_account::Column::PlanId.ne(plan.as_str()))
                        .to_owned(),
                ),
            )
        }
    }
    if let Some(column) = list {
        q = q.filter(column.eq(true));
    }
    if confirmed {
        q = q.filter(member::Column::EmailConfirmedAt.is_not_null());
    }
    q.all(db).await
}

/// An alert's emails by where they stand, and what their readers did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub bounced: i64,
    pub complained: i64,
    pub opened: i64,
    pub clicked: i64,
    pub opened_by_machines: i64,
    pub clicked_by_machines: i64,
}

pub async fn report(db: &impl ConnectionTrait, alert: i64) -> Result<Report, DbErr> {
    let backend = db.get_database_backend();
    let p = if backend == sea_orm::DbBackend::Sqlite {
        "?"
    } else {
        "$1"
    };
    // Everything summed in SQL: one pass over the alert's rows, one over their events.
    let rows = format!(
        "SELECT \
           CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN bounced_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM outbox WHERE alert_id = {p}"
    );
    let events = format!(
        "SELECT \
           CAST(COUNT(DISTINCT CASE WHEN e.kind IN ('open', 'click') AND NOT e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = 'click' AND NOT e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = 'open' AND e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = 'click' AND e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = 'complaint' THEN e.outbox_id END) AS BIGINT) \
         FROM email_events e JOIN outbox o ON o.id = e.outbox_id WHERE o.alert_id = {p}"
    );
    let one = |sql: String| sea_orm::Statement::from_sql_and_values(backend, sql, [alert.into()]);
    let r = db
        .query_one_raw(one(rows))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("report".into()))?;
    let e = db
        .query_one_raw(one(events))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("report".into()))?;
    Ok(Report {
        queued: r.try_get_by_index(0)?,
        sent: r.try_get_by_index(1)?,
        failed: r.try_get_by_index(2)?,
        skipped: r.try_get_by_index(3)?,
        bounced: r.try_get_by_index(4)?,
        opened: e.try_get_by_index(0)?,
        clicked: e.try_get_by_index(1)?,
        opened_by_machines: e.try_get_by_index(2)?,
        clicked_by_machines: e.try_get_by_index(3)?,
        complained: e.try_get_by_index(4)?,
    })
}

/// The alert's email to the member: `None` if there is none, else when it was sent
/// (`None` inside while it waits in the outbox).
/// Whether the alert was emailed to the member (`None`: never queued for them), and when
/// it was sent (`Some(None)`: queued, and not sent — yet, or ever).
pub async fn alert_email_sent_at(
    db: &impl ConnectionTrait,
    alert: i64,
    member: MemberId,
) -> Result<Option<Option<DateTime<Utc>>>, DbErr> {
    let row: Option<(outbox::Status, Option<DateTime<Utc>>)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Status)
        .column(outbox::Column::SentAt)
        .filter(outbox::Column::AlertId.eq(alert))
        .filter(outbox::Column::MemberId.eq(member))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map(|(status, sent)| sent.filter(|_| status == outbox::Status::Sent)))
}

// ---- privacy policy ----

pub async fn insert_policy(
    db: &impl ConnectionTrait,
    version: &str,
    url: Option<String>,
    text: Option<String>,
    effective_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<policy_version::Model, DbErr> {
    policy_version::ActiveModel {
        version: Set(version.to_string()),
        url: Set(url),
        text: Set(text),
        effective_at: Set(effective_at),
        published_at: Set(now),
        alert_id: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn set_policy_alert(
    db: &impl ConnectionTrait,
    policy: i64,
    alert: i64,
) -> Result<(), DbErr> {
    policy_version::Entity::update_many()
        .col_expr(policy_version::Column::AlertId, Expr::value(alert))
        .filter(policy_version::Column::Id.eq(policy))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn policies(db: &impl ConnectionTrait) -> Result<Vec<policy_version::Model>, DbErr> {
    policy_version::Entity::find()
        .order_by_desc(policy_version::Column::PublishedAt)
        .order_by_desc(policy_version::Column::Id)
        .all(db)
        .await
}

pub async fn policy(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<policy_version::Model>, DbErr> {
    policy_version::Entity::find_by_id(id).one(db).await
}

pub async fn policy_by_version(
    db: &impl ConnectionTrait,
    version: &str,
) -> Result<Option<policy_version::Model>, DbErr> {
    policy_version::Entity::find()
        .filter(policy_version::Column::Version.eq(version))
        .one(db)
        .await
}

/// Records an objection unless there is one; the first time stays.
pub async fn object(
    db: &impl ConnectionTrait,
    policy: i64,
    member: MemberId,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    policy_objection::Entity::insert(policy_objection::ActiveModel {
        policy_id: Set(policy),
        member_id: Set(member),
        objected_at: Set(at),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn objections(
    db: &impl ConnectionTrait,
    policy: Option<i64>,
    member: Option<MemberId>,
) -> Result<Vec<policy_objection::Model>, DbErr> {
    let mut c = Condition::all();
    if let Some(p) = policy {
        c = c.add(policy_objection::Column::PolicyId.eq(p));
    }
    if let Some(m) = member {
        c = c.add(policy_objection::Column::MemberId.eq(m));
    }
    policy_objection::Entity::find()
        .filter(c)
        .order_by_asc(policy_objection::Column::ObjectedAt)
        .all(db)
        .await
}

// ---- the weekly digest ----

pub async fn digest_week(
    db: &impl ConnectionTrait,
    week: &str,
) -> Result<digest_week::Model, DbErr> {
    digest_week::Entity::insert(digest_week::ActiveModel {
        week: Set(week.to_string()),
        cursor: Set(0),
        queued: Set(0),
        done_at: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    digest_week::Entity::find_by_id(week.to_string())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(week.to_string()))
}

pub async fn advance_digest(
    db: &impl ConnectionTrait,
    week: &str,
    cursor: i64,
    added: i64,
    done: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let mut update = digest_week::Entity::update_many()
        .col_expr(digest_week::Column::Cursor, Expr::value(cursor))
        .col_expr(
            digest_week::Column::Queued,
            Expr::col(digest_week::Column::Queued).add(added),
        )
        .filter(digest_week::Column::Week.eq(week));
    if let Some(at) = done {
        update = update.col_expr(digest_week::Column::DoneAt, Expr::value(at));
    }
    update.exec(db).await?;
    Ok(())
}

/// One bar's counts over a range, with its member, for the digest.
#[derive(Debug, Clone)]
pub struct BarWeek {
    pub member: MemberId,
    pub bar: String,
    pub site: String,
    pub views: i64,
    pub clicks: i64,
    pub leads: i64,
}

/// Every bar's counts between `from` and `to` (days' first seconds) for the members
/// with ids in `[first, last]`, summed in SQL.
pub async fn bar_weeks(
    db: &impl ConnectionTrait,
    first: MemberId,
    last: MemberId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BarWeek>, DbErr> {
    let backend = db.get_database_backend();
    let ph = |n: usize| {
        if backend == sea_orm::DbBackend::Sqlite {
            "?".to_string()
        } else {
            format!("${n}")
        }
    };
    let sql = format!(
        "SELECT s.member_id, b.name, s.name, \
           CAST(SUM(c.views) AS BIGINT), CAST(SUM(c.clicks) AS BIGINT), CAST(SUM(c.leads) AS BIGINT) \
         FROM deployment_stats_daily c \
         JOIN deployments d ON d.id = c.deployment_id \
         JOIN bars b ON b.id = d.bar_id \
         JOIN sites s ON s.id = d.site_id \
         WHERE c.day >= {} AND c.day < {} AND s.member_id >= {} AND s.member_id <= {} \
         GROUP BY s.member_id, b.id, b.name, s.name",
        ph(1),
        ph(2),
        ph(3),
        ph(4)
    );
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [
                from.timestamp().into(),
                to.timestamp().into(),
                first.0.into(),
                last.0.into(),
            ],
        ))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(BarWeek {
                member: MemberId(r.try_get_by_index(0)?),
                bar: r.try_get_by_index(1)?,
                site: r.try_get_by_index(2)?,
                views: r.try_get_by_index(3)?,
                clicks: r.try_get_by_index(4)?,
                leads: r.try_get_by_index(5)?,
            })
        })
        .collect()
}

/// Which of `members` have at least one site.
pub async fn members_with_sites(
    db: &impl ConnectionTrait,
    members: &[MemberId],
) -> Result<Vec<MemberId>, DbErr> {
    use super::entities::site;
    site::Entity::find()
        .select_only()
        .column(site::Column::MemberId)
        .distinct()
        .filter(site::Column::MemberId.is_in(members.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}
