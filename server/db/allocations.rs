//! The shares of new visitors computed for the live deployments of bars that allocate by
//! Thompson sampling.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::db::entities::{bar, deployment};
use crate::domain::{Allocation, DeploymentId};

fn table() -> Alias {
    Alias::new("allocations")
}

/// The weights stored for these deployments.
pub(crate) async fn of(
    db: &impl ConnectionTrait,
    ids: &[DeploymentId],
) -> Result<HashMap<DeploymentId, u16>, DbErr> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let q = Query::select()
            .columns([Alias::new("deployment_id"), Alias::new("weight")])
            .from(table())
            .and_where(Expr::col(Alias::new("deployment_id")).is_in(chunk.iter().copied()))
            .to_owned();
        for row in db.query_all(&q).await? {
            let weight: i32 = row.try_get_by_index(1)?;
            out.insert(row.try_get_by_index(0)?, u16::try_from(weight).unwrap_or(0));
        }
    }
    Ok(out)
}

/// Each deployment's views and clicks so far.
pub(crate) async fn totals(
    db: &impl ConnectionTrait,
    ids: &[DeploymentId],
) -> Result<HashMap<DeploymentId, (i64, i64)>, DbErr> {
    let mut out = HashMap::new();
    let daily = Alias::new("deployment_stats_daily");
    for chunk in ids.chunks(500) {
        let mut q = Query::select();
        q.column(Alias::new("deployment_id"))
            .from(daily.clone())
            .and_where(Expr::col(Alias::new("deployment_id")).is_in(chunk.iter().copied()))
            .group_by_col(Alias::new("deployment_id"));
        for name in ["views", "clicks"] {
            q.expr_as(
                Expr::col(Alias::new(name)).sum().cast_as("bigint"),
                Alias::new(name),
            );
        }
        for row in db.query_all(&q).await? {
            let get = |i| {
                row.try_get_by_index::<Option<i64>>(i)
                    .map(Option::unwrap_or_default)
            };
            out.insert(row.try_get_by_index(0)?, (get(1)?, get(2)?));
        }
    }
    Ok(out)
}

/// Live deployments that may be allocated: of bars set to Thompson sampling now, or that
/// have shares stored (the live snapshot, not the bar's unpublished edit, decides).
pub(crate) async fn candidates(db: &impl ConnectionTrait) -> Result<Vec<deployment::Model>, DbErr> {
    let optimised = Query::select()
        .column(bar::Column::Id)
        .from(bar::Entity)
        .and_where(Expr::col(bar::Column::Allocation).eq(Allocation::Thompson))
        .to_owned();
    let stored = Query::select()
        .column(Alias::new("deployment_id"))
        .from(table())
        .to_owned();
    deployment::Entity::find()
        .filter(deployment::Column::EndedAt.is_null())
        .filter(
            deployment::Column::BarId
                .in_subquery(optimised)
                .or(deployment::Column::Id.in_subquery(stored)),
        )
        .order_by_asc(deployment::Column::Id)
        .all(db)
        .await
}

/// Stores each deployment's weight, and forgets those of ended deployments. Returns the
/// deployments whose weight changed.
pub(crate) async fn store(
    db: &impl ConnectionTrait,
    weights: &[(DeploymentId, u16)],
    now: DateTime<Utc>,
) -> Result<Vec<DeploymentId>, DbErr> {
    let ids: Vec<DeploymentId> = weights.iter().map(|(d, _)| *d).collect();
    let before = of(db, &ids).await?;
    let mut changed = Vec::new();
    for (id, weight) in weights {
        if before.get(id) == Some(weight) {
            continue;
        }
        let q = Query::insert()
            .into_table(table())
            .columns([
                Alias::new("deployment_id"),
                Alias::new("weight"),
                Alias::new("computed_at"),
            ])
            .values_panic([(*id).into(), i32::from(*weight).into(), now.into()])
            .on_conflict(
                OnConflict::column(Alias::new("deployment_id"))
                    .update_columns([Alias::new("weight"), Alias::new("computed_at")])
                    .to_owned(),
            )
            .to_owned();
        db.execute(&q).await?;
        changed.push(*id);
    }
    let ended = Query::select()
        .column(deployment::Column::Id)
        .from(deployment::Entity)
        .and_where(Expr::col(deployment::Column::EndedAt).is_not_null())
        .to_owned();
    let forget = Query::delete()
        .from_table(table())
        .and_where(Expr::col(Alias::new("deployment_id")).in_subquery(ended))
        .to_owned();
    db.execute(&forget).await?;
    Ok(changed)
}

/// How a bar allocates by its current settings (its live deployments may say otherwise
/// until it is published).
pub(crate) async fn setting_of_bar(
    db: &impl ConnectionTrait,
    bar_id: crate::domain::BarId,
) -> Result<Option<(Allocation, u8)>, DbErr> {
    Ok(bar::Entity::find_by_id(bar_id).one(db).await?.map(|b| {
        (
            b.allocation,
            u8::try_from(b.holdout.clamp(0, 100)).unwrap_or(0),
        )
    }))
}
