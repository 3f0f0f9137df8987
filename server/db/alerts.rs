//! Queries on system alerts (and who is in an alert's audience, a batch of members at a
//! time) and their delivery reports.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::alert::{self, AudienceSpec, Kind, Status};
use super::entities::email_event::EmailEventKind;
use super::entities::{account_member, billing_account, member, outbox};
use crate::domain::MemberId;

// ---- alerts ----

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_alert(
    db: &impl ConnectionTrait,
    kind: Kind,
    audience: AudienceSpec,
    fields: String,
    message: Option<String>,
    status: Status,
    created_by: Option<MemberId>,
    now: DateTime<Utc>,
) -> Result<alert::Model, DbErr> {
    let send_requested_at = match status {
        Status::Draft => None,
        Status::Sending | Status::Sent => Some(now),
    };
    alert::ActiveModel {
        kind: Set(kind),
        audience: Set(audience),
        fields: Set(fields),
        message: Set(message),
        status: Set(status),
        created_by: Set(created_by),
        created_at: Set(now),
        send_requested_at: Set(send_requested_at),
        queued_at: Set(None),
        cursor: Set(0),
        queued: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub(crate) async fn alert(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<alert::Model>, DbErr> {
    alert::Entity::find_by_id(id).one(db).await
}

pub(crate) async fn recent_alerts(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<alert::Model>, DbErr> {
    alert::Entity::find()
        .order_by_desc(alert::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub(crate) async fn sending_alerts(db: &impl ConnectionTrait) -> Result<Vec<alert::Model>, DbErr> {
    alert::Entity::find()
        .filter(alert::Column::Status.eq(Status::Sending))
        .order_by_asc(alert::Column::Id)
        .all(db)
        .await
}

/// A draft starts sending; false when it is not a draft (sent already, or sending).
pub(crate) async fn start_sending(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = alert::Entity::update_many()
        .col_expr(alert::Column::Status, Expr::value(Status::Sending))
        .col_expr(alert::Column::SendRequestedAt, Expr::value(now))
        .filter(alert::Column::Id.eq(id))
        .filter(alert::Column::Status.eq(Status::Draft))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Moves the fan-out's checkpoint forward past `cursor` (never back), counting what it
/// queued; `done` marks the fan-out finished.
pub(crate) async fn advance_alert(
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
            .col_expr(alert::Column::Status, Expr::value(Status::Sent))
            .col_expr(alert::Column::QueuedAt, Expr::value(at));
    }
    update.exec(db).await?;
    if let Some(at) = done {
        // Finished with nothing past the cursor: still mark it sent.
        alert::Entity::update_many()
            .col_expr(alert::Column::Status, Expr::value(Status::Sent))
            .col_expr(alert::Column::QueuedAt, Expr::value(at))
            .filter(alert::Column::Id.eq(id))
            .filter(alert::Column::Status.eq(Status::Sending))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Who an alert goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    All,
    /// Members on this plan (recorded in `billing_accounts`).
    Plan(String),
    /// Members on no recorded plan or on this one: the free plan.
    PlanOrNone(String),
    Member(MemberId),
}

/// The people of the accounts a query selects.
fn people_of_accounts(
    accounts: sea_orm::sea_query::SelectStatement,
) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(account_member::Column::MemberId)
        .from(account_member::Entity)
        .and_where(account_member::Column::AccountId.in_subquery(accounts))
        .to_owned()
}

/// The next members of an audience after `after`, in id order. `confirmed` keeps only
/// confirmed addresses; `list` only members on that subscription list.
pub(crate) async fn audience_batch(
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
                member::Column::Id.in_subquery(people_of_accounts(
                    Query::select()
                        .column(billing_account::Column::AccountId)
                        .from(billing_account::Entity)
                        .and_where(billing_account::Column::PlanId.eq(plan.as_str()))
                        .to_owned(),
                )),
            )
        }
        Audience::PlanOrNone(plan) => {
            q = q.filter(
                member::Column::Id.not_in_subquery(people_of_accounts(
                    Query::select()
                        .column(billing_account::Column::AccountId)
                        .from(billing_account::Entity)
                        .and_where(billing_account::Column::PlanId.ne(plan.as_str()))
                        .to_owned(),
                )),
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

/// An alert's emails by where they stand, and what their readers did: people apart from
/// machines (image proxies, scanners, privacy protection).
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

/// One line per count, as the `alert report` command prints it.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "queued {}\nsent {}\nfailed {}\nskipped {}\nbounced {}\ncomplained {}\n\
             opened by people {}\nclicked by people {}\n\
             opened by machines {}\nclicked by machines {}",
            self.queued,
            self.sent,
            self.failed,
            self.skipped,
            self.bounced,
            self.complained,
            self.opened,
            self.clicked,
            self.opened_by_machines,
            self.clicked_by_machines
        )
    }
}

pub(crate) async fn report(db: &impl ConnectionTrait, alert: i64) -> Result<Report, DbErr> {
    let backend = db.get_database_backend();
    let p = super::placeholder(backend, 1);
    // Everything summed in SQL: one pass over the alert's rows, one over their events.
    let (pending, sent, failed, skipped) = (
        literal(outbox::Status::Pending),
        literal(outbox::Status::Sent),
        literal(outbox::Status::Failed),
        literal(outbox::Status::Skipped),
    );
    let rows = format!(
        "SELECT \
           CAST(COALESCE(SUM(CASE WHEN status = {pending} THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = {sent} THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = {failed} THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN status = {skipped} THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN bounced_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM outbox WHERE alert_id = {p}"
    );
    let (open, click, complaint) = (
        literal(EmailEventKind::Open),
        literal(EmailEventKind::Click),
        literal(EmailEventKind::Complaint),
    );
    let events = format!(
        "SELECT \
           CAST(COUNT(DISTINCT CASE WHEN e.kind IN ({open}, {click}) AND NOT e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = {click} AND NOT e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = {open} AND e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = {click} AND e.machine THEN e.outbox_id END) AS BIGINT), \
           CAST(COUNT(DISTINCT CASE WHEN e.kind = {complaint} THEN e.outbox_id END) AS BIGINT) \
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

/// A stored enum value as an SQL literal (its values are snake_case words: nothing to
/// escape).
fn literal(value: impl ActiveEnum<Value = String>) -> String {
    format!("'{}'", value.to_value())
}

/// The alert's email to the member: `None` if there is none, else when it was sent
/// (`None` inside while it waits in the outbox).
/// Whether the alert was emailed to the member (`None`: never queued for them), and when
/// it was sent (`Some(None)`: queued, and not sent — yet, or ever).
pub(crate) async fn alert_email_sent_at(
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
