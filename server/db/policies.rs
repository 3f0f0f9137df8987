//! Queries on privacy-policy versions and members' objections to them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{policy_objection, policy_version};
use crate::domain::MemberId;

pub(crate) async fn insert_policy(
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

pub(crate) async fn set_policy_alert(
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

pub(crate) async fn policies(
    db: &impl ConnectionTrait,
) -> Result<Vec<policy_version::Model>, DbErr> {
    policy_version::Entity::find()
        .order_by_desc(policy_version::Column::PublishedAt)
        .order_by_desc(policy_version::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn policy_by_version(
    db: &impl ConnectionTrait,
    version: &str,
) -> Result<Option<policy_version::Model>, DbErr> {
    policy_version::Entity::find()
        .filter(policy_version::Column::Version.eq(version))
        .one(db)
        .await
}

/// Records an objection unless there is one; the first time stays.
pub(crate) async fn object(
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

pub(crate) async fn objections(
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
