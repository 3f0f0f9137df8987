//! Site goals, and the daily counts of visits that saw a bar or were held out of it and of
//! the goals those visits reached (written by the event writer, read by reporting).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::entities::{deployment, site_goal};
use crate::db::tables::{ExposureStatsDaily as E, GoalStatsDaily as G};
use crate::domain::{BarId, DeploymentId, SiteId};

pub(crate) async fn of_site(
    db: &impl ConnectionTrait,
    site_id: SiteId,
) -> Result<Vec<site_goal::Model>, DbErr> {
    site_goal::Entity::find()
        .filter(site_goal::Column::SiteId.eq(site_id))
        .order_by_asc(site_goal::Column::Id)
        .all(db)
        .await
}

/// The goal ids of each of these sites.
pub(crate) async fn ids_of_sites(
    db: &impl ConnectionTrait,
    site_ids: &[SiteId],
) -> Result<HashMap<SiteId, Vec<i64>>, DbErr> {
    let mut out: HashMap<SiteId, Vec<i64>> = HashMap::new();
    for chunk in site_ids.chunks(500) {
        for g in site_goal::Entity::find()
            .filter(site_goal::Column::SiteId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            out.entry(g.site_id).or_default().push(g.id);
        }
    }
    Ok(out)
}

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    site_id: SiteId,
    name: String,
    path: Option<String>,
    now: DateTime<Utc>,
) -> Result<site_goal::Model, DbErr> {
    site_goal::ActiveModel {
        site_id: Set(site_id),
        name: Set(name),
        path: Set(path),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Deletes a goal of this site, with its counts (the foreign key cascades); whether there
/// was one.
pub(crate) async fn delete(
    db: &impl ConnectionTrait,
    site_id: SiteId,
    goal_id: i64,
) -> Result<bool, DbErr> {
    let gone = site_goal::Entity::delete_many()
        .filter(site_goal::Column::Id.eq(goal_id))
        .filter(site_goal::Column::SiteId.eq(site_id))
        .exec(db)
        .await?;
    Ok(gone.rows_affected > 0)
}

/// Of these goal ids, those that still exist.
pub(crate) async fn existing(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let found: Vec<i64> = site_goal::Entity::find()
            .select_only()
            .column(site_goal::Column::Id)
            .filter(site_goal::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// Visits of one day: shown the bar, held out of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Visits {
    pub shown: i64,
    pub held_out: i64,
}

/// A goal on one day: visits of each arm that reached it and the values they sent (in
/// hundredths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    pub shown: i64,
    pub held_out: i64,
    pub shown_value: i64,
    pub held_out_value: i64,
}

/// Each of a bar's deployments' visits per day before `to` (unix seconds).
pub(crate) async fn visits_of_bar(
    db: &impl ConnectionTrait,
    bar: BarId,
    to: i64,
) -> Result<Vec<(DeploymentId, i64, Visits)>, DbErr> {
    let mut q = Query::select();
    q.column((E::Table, E::DeploymentId))
        .column((E::Table, E::Day))
        .expr(Expr::col((E::Table, E::Shown)).sum().cast_as("bigint"))
        .expr(Expr::col((E::Table, E::HeldOut)).sum().cast_as("bigint"))
        .from(E::Table);
    of_bar(&mut q, E::Table, E::DeploymentId, bar);
    q.and_where(Expr::col((E::Table, E::Day)).lt(to))
        .add_group_by([
            Expr::col((E::Table, E::DeploymentId)),
            Expr::col((E::Table, E::Day)),
        ]);
    let mut out = Vec::new();
    for row in db.query_all(&q).await? {
        let n = |i| {
            row.try_get_by_index::<Option<i64>>(i)
                .map(Option::unwrap_or_default)
        };
        out.push((
            row.try_get_by_index(0)?,
            row.try_get_by_index(1)?,
            Visits {
                shown: n(2)?,
                held_out: n(3)?,
            },
        ));
    }
    Ok(out)
}

/// Each goal reached in visits to a bar's deployments, per deployment and day before `to`.
pub(crate) async fn reached_of_bar(
    db: &impl ConnectionTrait,
    bar: BarId,
    to: i64,
) -> Result<Vec<(DeploymentId, i64, i64, Reached)>, DbErr> {
    let mut q = Query::select();
    q.column((G::Table, G::DeploymentId))
        .column((G::Table, G::GoalId))
        .column((G::Table, G::Day));
    for c in [G::Shown, G::HeldOut, G::ShownValue, G::HeldOutValue] {
        q.expr(Expr::col((G::Table, c)).sum().cast_as("bigint"));
    }
    q.from(G::Table);
    of_bar(&mut q, G::Table, G::DeploymentId, bar);
    q.and_where(Expr::col((G::Table, G::Day)).lt(to))
        .add_group_by([
            Expr::col((G::Table, G::DeploymentId)),
            Expr::col((G::Table, G::GoalId)),
            Expr::col((G::Table, G::Day)),
        ]);
    let mut out = Vec::new();
    for row in db.query_all(&q).await? {
        let n = |i| {
            row.try_get_by_index::<Option<i64>>(i)
                .map(Option::unwrap_or_default)
        };
        out.push((
            row.try_get_by_index(0)?,
            row.try_get_by_index(1)?,
            row.try_get_by_index(2)?,
            Reached {
                shown: n(3)?,
                held_out: n(4)?,
                shown_value: n(5)?,
                held_out_value: n(6)?,
            },
        ));
    }
    Ok(out)
}

/// Only rows of the bar's deployments.
fn of_bar<T: sea_orm::Iden + Copy + 'static>(
    q: &mut sea_orm::sea_query::SelectStatement,
    table: T,
    column: T,
    bar: BarId,
) {
    q.inner_join(
        deployment::Entity,
        Expr::col((deployment::Entity, deployment::Column::Id)).equals((table, column)),
    )
    .and_where(Expr::col((deployment::Entity, deployment::Column::BarId)).eq(bar));
}
