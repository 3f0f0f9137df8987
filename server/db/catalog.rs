//! Queries on sites, hostnames, bars, variants and deployments. Every lookup an account
//! makes goes through their account id, so another account's ids are simply not found.
//! Lists are read in one query per kind, never one per row.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationDef,
};

use super::entities::{bar, deployment, site, site_hostname, variant};
use crate::domain::bar::Snapshot;
use crate::domain::{AccountId, BarId, DeploymentId, SiteId, VariantId};

// ---- sites ----

pub(crate) async fn insert_site(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    name: String,
    key: String,
    now: DateTime<Utc>,
) -> Result<site::Model, DbErr> {
    site::ActiveModel {
        account_id: Set(account_id),
        name: Set(name),
        key: Set(key),
        script_version: Set(1),
        script_changed_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub(crate) async fn site_of(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    site_id: SiteId,
) -> Result<Option<site::Model>, DbErr> {
    site::Entity::find_by_id(site_id)
        .filter(site::Column::AccountId.eq(account_id))
        .one(db)
        .await
}

pub(crate) async fn sites_of(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<Vec<site::Model>, DbErr> {
    site::Entity::find()
        .filter(site::Column::AccountId.eq(account_id))
        .order_by_asc(site::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn count_sites(
    db: &impl ConnectionTrait,
    account_id: AccountId,
) -> Result<u64, DbErr> {
    site::Entity::find()
        .filter(site::Column::AccountId.eq(account_id))
        .count(db)
        .await
}

/// How many of the account's sites are older than `site`.
pub(crate) async fn count_sites_before(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    site: SiteId,
) -> Result<u64, DbErr> {
    site::Entity::find()
        .filter(site::Column::AccountId.eq(account_id))
        .filter(site::Column::Id.lt(site))
        .count(db)
        .await
}

pub(crate) async fn site_by_id(
    db: &impl ConnectionTrait,
    site_id: SiteId,
) -> Result<Option<site::Model>, DbErr> {
    site::Entity::find_by_id(site_id).one(db).await
}

/// Locks the site's row until the transaction ends (PostgreSQL), so two transactions that
/// count what the site holds cannot both see room for one more. On SQLite the write
/// transaction already holds the database's lock.
pub(crate) async fn lock_site(db: &impl ConnectionTrait, site_id: SiteId) -> Result<(), DbErr> {
    site::Entity::find_by_id(site_id)
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

pub(crate) async fn rename_site(
    db: &impl ConnectionTrait,
    site: site::Model,
    name: String,
    now: DateTime<Utc>,
) -> Result<site::Model, DbErr> {
    let mut active: site::ActiveModel = site.into();
    active.name = Set(name);
    active.updated_at = Set(now);
    active.update(db).await
}

pub(crate) async fn delete_site(db: &impl ConnectionTrait, site_id: SiteId) -> Result<(), DbErr> {
    site::Entity::delete_by_id(site_id).exec(db).await?;
    Ok(())
}

/// Marks the site's script as changed. Additive, so processes never overwrite each other.
pub(crate) async fn bump_script(
    db: &impl ConnectionTrait,
    site_id: SiteId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    site::Entity::update_many()
        .col_expr(
            site::Column::ScriptVersion,
            Expr::col(site::Column::ScriptVersion).add(1),
        )
        .col_expr(site::Column::ScriptChangedAt, Expr::value(now))
        .filter(site::Column::Id.eq(site_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks every script of the account's sites as changed (what their plan allows changed).
pub(crate) async fn bump_scripts_of_account(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    site::Entity::update_many()
        .col_expr(
            site::Column::ScriptVersion,
            Expr::col(site::Column::ScriptVersion).add(1),
        )
        .col_expr(site::Column::ScriptChangedAt, Expr::value(now))
        .filter(site::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

/// (id, key, script version) of every site, or of those changed since `since`.
pub(crate) async fn script_versions(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<(SiteId, String, i64)>, DbErr> {
    let mut q = site::Entity::find()
        .select_only()
        .column(site::Column::Id)
        .column(site::Column::Key)
        .column(site::Column::ScriptVersion);
    if let Some(since) = since {
        q = q.filter(site::Column::ScriptChangedAt.gte(since));
    }
    q.into_tuple().all(db).await
}

// ---- hostnames ----

pub(crate) async fn hostnames_of(
    db: &impl ConnectionTrait,
    site_ids: &[SiteId],
) -> Result<Vec<site_hostname::Model>, DbErr> {
    site_hostname::Entity::find()
        .filter(site_hostname::Column::SiteId.is_in(site_ids.iter().copied()))
        .order_by_asc(site_hostname::Column::Id)
        .all(db)
        .await
}

/// Makes the site's hostnames exactly `names`, keeping the install-check time of those
/// that stay.
pub(crate) async fn set_hostnames(
    db: &impl ConnectionTrait,
    site_id: SiteId,
    names: &[String],
) -> Result<(), DbErr> {
    let current = hostnames_of(db, &[site_id]).await?;
    let gone: Vec<i64> = current
        .iter()
        .filter(|h| !names.contains(&h.hostname))
        .map(|h| h.id)
        .collect();
    if !gone.is_empty() {
        site_hostname::Entity::delete_many()
            .filter(site_hostname::Column::Id.is_in(gone))
            .exec(db)
            .await?;
    }
    for name in names {
        if !current.iter().any(|h| &h.hostname == name) {
            site_hostname::ActiveModel {
                site_id: Set(site_id),
                hostname: Set(name.clone()),
                last_event_at: Set(None),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

// ---- bars ----

fn bar_site() -> RelationDef {
    bar::Entity::belongs_to(site::Entity)
        .from(bar::Column::SiteId)
        .to(site::Column::Id)
        .into()
}

/// An account's live (not deleted) bar.
pub(crate) async fn bar_of(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    bar_id: BarId,
) -> Result<Option<bar::Model>, DbErr> {
    bar::Entity::find_by_id(bar_id)
        .join(JoinType::InnerJoin, bar_site())
        .filter(site::Column::AccountId.eq(account_id))
        .filter(bar::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// The site a bar (deleted or not) belongs to.
pub(crate) async fn site_of_bar(
    db: &impl ConnectionTrait,
    bar_id: BarId,
) -> Result<Option<SiteId>, DbErr> {
    bar::Entity::find_by_id(bar_id)
        .select_only()
        .column(bar::Column::SiteId)
        .into_tuple()
        .one(db)
        .await
}

/// Locks the bar's row until the transaction ends; see [`lock_site`].
pub(crate) async fn lock_bar(db: &impl ConnectionTrait, bar_id: BarId) -> Result<(), DbErr> {
    bar::Entity::find_by_id(bar_id)
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(())
}

pub(crate) async fn bars_of_site(
    db: &impl ConnectionTrait,
    site_id: SiteId,
) -> Result<Vec<bar::Model>, DbErr> {
    bar::Entity::find()
        .filter(bar::Column::SiteId.eq(site_id))
        .filter(bar::Column::DeletedAt.is_null())
        .order_by_asc(bar::Column::Id)
        .all(db)
        .await
}

/// The live (not deleted) bars of several sites, oldest first.
pub(crate) async fn bars_of_sites(
    db: &impl ConnectionTrait,
    site_ids: &[SiteId],
) -> Result<Vec<bar::Model>, DbErr> {
    bar::Entity::find()
        .filter(bar::Column::SiteId.is_in(site_ids.iter().copied()))
        .filter(bar::Column::DeletedAt.is_null())
        .order_by_asc(bar::Column::Id)
        .all(db)
        .await
}

/// Why the plan paused the bar (`None`: it was not the plan).
pub(crate) async fn set_paused_reason(
    db: &impl ConnectionTrait,
    bar_id: BarId,
    reason: Option<&str>,
) -> Result<(), DbErr> {
    bar::Entity::update_many()
        .col_expr(
            bar::Column::PausedReason,
            Expr::value(reason.map(str::to_string)),
        )
        .filter(bar::Column::Id.eq(bar_id))
        .exec(db)
        .await?;
    Ok(())
}

pub(crate) async fn count_bars(db: &impl ConnectionTrait, site_id: SiteId) -> Result<u64, DbErr> {
    bar::Entity::find()
        .filter(bar::Column::SiteId.eq(site_id))
        .filter(bar::Column::DeletedAt.is_null())
        .count(db)
        .await
}

/// How many of the site's bars are older than `bar`.
pub(crate) async fn count_bars_before(
    db: &impl ConnectionTrait,
    site_id: SiteId,
    bar: BarId,
) -> Result<u64, DbErr> {
    bar::Entity::find()
        .filter(bar::Column::SiteId.eq(site_id))
        .filter(bar::Column::DeletedAt.is_null())
        .filter(bar::Column::Id.lt(bar))
        .count(db)
        .await
}

pub(crate) async fn count_variants(db: &impl ConnectionTrait, bar: BarId) -> Result<u64, DbErr> {
    variant::Entity::find()
        .filter(variant::Column::BarId.eq(bar))
        .count(db)
        .await
}

pub(crate) async fn touch_bar(
    db: &impl ConnectionTrait,
    bar_id: BarId,
    column: bar::Column,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    bar::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .filter(bar::Column::Id.eq(bar_id))
        .exec(db)
        .await?;
    Ok(())
}

// ---- variants ----

/// The live variants of some bars, in creation order.
pub(crate) async fn variants_of(
    db: &impl ConnectionTrait,
    bar_ids: &[BarId],
) -> Result<Vec<variant::Model>, DbErr> {
    variant::Entity::find()
        .filter(variant::Column::BarId.is_in(bar_ids.iter().copied()))
        .filter(variant::Column::DeletedAt.is_null())
        .order_by_asc(variant::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn variant_of(
    db: &impl ConnectionTrait,
    bar_id: BarId,
    variant_id: VariantId,
) -> Result<Option<variant::Model>, DbErr> {
    variant::Entity::find_by_id(variant_id)
        .filter(variant::Column::BarId.eq(bar_id))
        .filter(variant::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// Every variant the bar has or had, deleted ones included.
pub(crate) async fn all_variants_of(
    db: &impl ConnectionTrait,
    bar_id: BarId,
) -> Result<Vec<variant::Model>, DbErr> {
    variant::Entity::find()
        .filter(variant::Column::BarId.eq(bar_id))
        .order_by_asc(variant::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn soft_delete_variant(
    db: &impl ConnectionTrait,
    variant_id: VariantId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    variant::Entity::update_many()
        .col_expr(variant::Column::DeletedAt, Expr::value(now))
        .filter(variant::Column::Id.eq(variant_id))
        .exec(db)
        .await?;
    Ok(())
}

// ---- deployments ----

fn deployment_site() -> RelationDef {
    deployment::Entity::belongs_to(site::Entity)
        .from(deployment::Column::SiteId)
        .to(site::Column::Id)
        .into()
}

/// One of the account's deployments (of a live or deleted bar).
pub(crate) async fn deployment_of(
    db: &impl ConnectionTrait,
    account_id: AccountId,
    deployment_id: DeploymentId,
) -> Result<Option<deployment::Model>, DbErr> {
    deployment::Entity::find_by_id(deployment_id)
        .join(JoinType::InnerJoin, deployment_site())
        .filter(site::Column::AccountId.eq(account_id))
        .one(db)
        .await
}

/// The live deployments of some bars.
pub(crate) async fn live_deployments_of_bars(
    db: &impl ConnectionTrait,
    bar_ids: &[BarId],
) -> Result<Vec<deployment::Model>, DbErr> {
    deployment::Entity::find()
        .filter(deployment::Column::BarId.is_in(bar_ids.iter().copied()))
        .filter(deployment::Column::EndedAt.is_null())
        .order_by_asc(deployment::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn live_deployments_of_sites(
    db: &impl ConnectionTrait,
    site_ids: &[SiteId],
) -> Result<Vec<deployment::Model>, DbErr> {
    deployment::Entity::find()
        .filter(deployment::Column::SiteId.is_in(site_ids.iter().copied()))
        .filter(deployment::Column::EndedAt.is_null())
        .order_by_asc(deployment::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn deployments_of_bar(
    db: &impl ConnectionTrait,
    bar_id: BarId,
) -> Result<Vec<deployment::Model>, DbErr> {
    deployment::Entity::find()
        .filter(deployment::Column::BarId.eq(bar_id))
        .order_by_desc(deployment::Column::Id)
        .all(db)
        .await
}

/// The bar of each of these deployments.
pub(crate) async fn bars_of_deployments(
    db: &impl ConnectionTrait,
    ids: &[DeploymentId],
) -> Result<Vec<(DeploymentId, BarId)>, DbErr> {
    deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Id)
        .column(deployment::Column::BarId)
        .filter(deployment::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}

/// Which of these bars were ever published.
pub(crate) async fn deployed_bars(
    db: &impl ConnectionTrait,
    bar_ids: &[BarId],
) -> Result<HashSet<BarId>, DbErr> {
    let ids: Vec<BarId> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::BarId)
        .distinct()
        .filter(deployment::Column::BarId.is_in(bar_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

pub(crate) async fn end_deployments_of_bar(
    db: &impl ConnectionTrait,
    bar_id: BarId,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let r = deployment::Entity::update_many()
        .col_expr(deployment::Column::EndedAt, Expr::value(now))
        .filter(deployment::Column::BarId.eq(bar_id))
        .filter(deployment::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

pub(crate) async fn insert_deployment(
    db: &impl ConnectionTrait,
    site_id: SiteId,
    snapshot: Snapshot,
    now: DateTime<Utc>,
) -> Result<deployment::Model, DbErr> {
    deployment::ActiveModel {
        site_id: Set(site_id),
        bar_id: Set(snapshot.bar_id),
        variant_id: Set(snapshot.variant_id),
        snapshot: Set(snapshot),
        started_at: Set(now),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}
