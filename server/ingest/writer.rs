//! Writing counted events: each batch goes in one transaction that first records the
//! batch's id, so a batch retried after a lost answer is never added twice. Counters are
//! only ever added to (`n = n + excluded.n`), so any number of processes can share one
//! database. A batch that fails is kept whole and retried; new events wait behind it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Iden, OnConflict, Query, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::buffer::{Buffer, Counts};
use super::{Ingest, Pending, Rejected};
use crate::db::Db;
use crate::db::entities::{deployment, lead, site_hostname};
use crate::db::tables::{
    DailyStats, DeploymentStats as DS, ExposureStatsDaily as ES, GoalStatsDaily as GS,
    IngestBatches, VisitorHashes,
};
use crate::domain::DeploymentId;

/// Rows per statement: well under SQLite's and PostgreSQL's limits on bound values.
const ROWS_PER_STATEMENT: usize = 500;
/// Client addresses the rate limiters may remember before they are trimmed early.
const LIMITER_KEYS: usize = 50_000;

/// A buffer taken for writing, with the id that makes its write idempotent.
pub struct Batch {
    id: String,
    buffer: Buffer,
}

enum Written {
    Added(Counts),
    /// An earlier attempt had committed after all.
    AlreadyAdded,
}

impl Ingest {
    /// Writes what has been counted. Returns whether everything is written.
    pub async fn flush(&self, db: &Db) -> anyhow::Result<bool> {
        let mut slot = self.writing.lock().await;
        if let Err(err) = self.resolve_pending(db).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "could not look up deployments of parked events"
            );
        }
        if slot.is_none() {
            let buffer =
                std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
            if buffer.is_empty() {
                return Ok(self
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty());
            }
            *slot = Some(Batch {
                id: uuid::Uuid::new_v4().simple().to_string(),
                buffer,
            });
        }
        let Some(batch) = slot.as_ref() else {
            return Ok(true);
        };
        let started = Instant::now();
        match write(db, batch, self.clock.now()).await {
            Ok(Written::Added(total)) => {
                self.metrics.write("ok", started.elapsed().as_secs_f64());
                tracing::debug!(batch = %batch.id, views = total.views, clicks = total.clicks, "events written");
                *slot = None;
            }
            Ok(Written::AlreadyAdded) => {
                self.metrics
                    .write("already_written", started.elapsed().as_secs_f64());
                *slot = None;
            }
            Err(err) => {
                self.metrics.write("error", started.elapsed().as_secs_f64());
                return Err(
                    anyhow::Error::new(err).context(format!("writing event batch {}", batch.id))
                );
            }
        }
        drop(slot);
        let buffered = self
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        let parked = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        Ok(buffered && parked)
    }

    /// Looks up deployments that parked events name, then counts or rejects the events.
    async fn resolve_pending(&self, db: &Db) -> anyhow::Result<()> {
        let parked: Vec<Pending> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if parked.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<i64> = parked
            .iter()
            .map(|p| p.deployment_id)
            .filter(|id| self.registry.get(*id).is_none())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            if let Err(err) = self.registry.resolve(db, chunk).await {
                // Put them back: they are retried with the next write.
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(parked);
                return Err(err);
            }
        }
        for p in parked {
            let outcome = match self.registry.get(p.deployment_id) {
                Some(info) => self.accept(
                    &info,
                    p.deployment_id,
                    p.action,
                    &p.page_host,
                    p.origin_host.as_deref(),
                    p.digest,
                    p.at,
                ),
                None => Err(Rejected::UnknownDeployment),
            };
            let _ = self.note(outcome);
        }
        Ok(())
    }

    /// Writes until nothing is left or `within` has passed; for shutdown.
    pub async fn drain(&self, db: &Db, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match self.flush(db).await {
                Ok(true) => {
                    tracing::info!("every counted event is written");
                    return;
                }
                Ok(false) => continue,
                Err(err) if Instant::now() < deadline => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "could not write events at shutdown; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => {
                    let lost = self.unwritten();
                    tracing::error!(
                        error = format!("{err:#}"),
                        views = lost.views,
                        clicks = lost.clicks,
                        dismissals = lost.dismissals,
                        leads = lost.leads,
                        "gave up writing events at shutdown; these counts are lost"
                    );
                    return;
                }
            }
        }
    }

    /// One round of the `event_writer` job: writes what has been counted, and forgets
    /// quiet clients early when a flood of distinct addresses fills the rate limiters.
    pub async fn write_counted(&self, db: &Db) -> anyhow::Result<()> {
        let result = self.flush(db).await.map(|_| ());
        if self.limiter_keys() > LIMITER_KEYS {
            self.trim_limiters();
        }
        result
    }

    /// One round of the `ingest_maintenance` job (every process): loads the daily salts,
    /// forgets ended deployments and idle clients.
    pub async fn maintain(&self, db: &Db) -> anyhow::Result<()> {
        let now = self.clock.now();
        self.salts.load(db, now).await?;
        self.registry.prune(now);
        self.trim_limiters();
        Ok(())
    }
}

/// `table.col + excluded.col`: the upsert that only ever adds.
fn added<T: Iden + Copy + 'static>(table: T, col: T) -> SimpleExpr {
    Expr::col((table, col)).add(Expr::col((Alias::new("excluded"), col)))
}

/// Adds counts per (deployment, hour) to the hourly counters and to the daily totals.
/// Only ever additive, so any number of processes can add at once.
pub async fn add_counts(
    db: &impl ConnectionTrait,
    counters: &HashMap<(i64, i64), Counts>,
) -> Result<(), DbErr> {
    let hourly: Vec<(&(i64, i64), &Counts)> = counters.iter().collect();
    let mut by_day: HashMap<(i64, i64), Counts> = HashMap::new();
    for ((deployment, hour), c) in counters {
        by_day
            .entry((*deployment, hour.div_euclid(86_400) * 86_400))
            .or_default()
            .add(c);
    }
    let daily: Vec<(&(i64, i64), &Counts)> = by_day.iter().collect();
    for (rows, daily_table) in [(&hourly, false), (&daily, true)] {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut stmt = Query::insert();
            if daily_table {
                stmt.into_table(DailyStats::Table).columns(DailyStats::ROW);
            } else {
                stmt.into_table(DS::Table).columns(DS::ROW);
            }
            for ((deployment_id, at), c) in chunk {
                stmt.values_panic([
                    (*deployment_id).into(),
                    (*at).into(),
                    c.views.into(),
                    c.unique_visitors.into(),
                    c.clicks.into(),
                    c.dismissals.into(),
                    c.leads.into(),
                ]);
            }
            let conflict = if daily_table {
                use DailyStats as D;
                OnConflict::columns([D::DeploymentId, D::Day])
                    .value(D::Views, added(D::Table, D::Views))
                    .value(D::UniqueVisitors, added(D::Table, D::UniqueVisitors))
                    .value(D::Clicks, added(D::Table, D::Clicks))
                    .value(D::Dismissals, added(D::Table, D::Dismissals))
                    .value(D::Leads, added(D::Table, D::Leads))
                    .to_owned()
            } else {
                OnConflict::columns([DS::DeploymentId, DS::Hour])
                    .value(DS::Views, added(DS::Table, DS::Views))
                    .value(DS::UniqueVisitors, added(DS::Table, DS::UniqueVisitors))
                    .value(DS::Clicks, added(DS::Table, DS::Clicks))
                    .value(DS::Dismissals, added(DS::Table, DS::Dismissals))
                    .value(DS::Leads, added(DS::Table, DS::Leads))
                    .to_owned()
            };
            stmt.on_conflict(conflict);
            db.execute(&stmt).await?;
        }
    }
    Ok(())
}

/// Writes a batch in one transaction: claims its id, then adds its counters, unique
/// visitors, leads and hostnames seen, for the deployments that still exist.
async fn write(db: &Db, batch: &Batch, now: DateTime<Utc>) -> Result<Written, DbErr> {
    let txn = crate::db::begin(db).await?;
    if !claim(&txn, &batch.id, now).await? {
        txn.commit().await?;
        return Ok(Written::AlreadyAdded);
    }
    let buffer = &batch.buffer;
    // Counts for a deployment deleted since (its site was deleted) have nowhere to go.
    let existing = existing_deployments(&txn, buffer).await?;
    let mut counters: HashMap<(i64, i64), Counts> = buffer
        .counters
        .iter()
        .filter(|((d, _), _)| existing.contains(d))
        .map(|(k, v)| (*k, *v))
        .collect();
    count_unique_visitors(&txn, buffer, &existing, &mut counters).await?;
    add_counts(&txn, &counters).await?;
    add_exposures(&txn, buffer, &existing).await?;
    add_goals(&txn, buffer, &existing).await?;
    insert_leads(&txn, buffer, &existing).await?;
    note_hostnames_seen(&txn, buffer).await?;
    txn.commit().await?;

    let mut total = Counts::default();
    for c in counters.values() {
        total.add(c);
    }
    Ok(Written::Added(total))
}

/// Records the batch's id; `false` when an earlier attempt had recorded it (and so had
/// written the batch) already.
async fn claim(db: &impl ConnectionTrait, id: &str, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let claimed = db
        .execute(
            &Query::insert()
                .into_table(IngestBatches::Table)
                .columns([IngestBatches::Id, IngestBatches::CreatedAt])
                .values_panic([id.into(), now.into()])
                .on_conflict(
                    OnConflict::column(IngestBatches::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    Ok(claimed.rows_affected() > 0)
}

/// The deployments the buffer counted for that still exist.
async fn existing_deployments(
    db: &impl ConnectionTrait,
    buffer: &Buffer,
) -> Result<HashSet<i64>, DbErr> {
    let mut ids: Vec<i64> = buffer
        .counters
        .keys()
        .map(|(d, _)| *d)
        .chain(buffer.exposures.keys().map(|(d, _)| *d))
        .chain(buffer.goals.keys().map(|(d, _, _)| *d))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut existing: HashSet<i64> = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let found: Vec<DeploymentId> = deployment::Entity::find()
            .select_only()
            .column(deployment::Column::Id)
            .filter(deployment::Column::Id.is_in(chunk.iter().map(|id| DeploymentId(*id))))
            .into_tuple()
            .all(db)
            .await?;
        existing.extend(found.into_iter().map(|id| id.0));
    }
    Ok(existing)
}

/// Stores the visitor hashes; a visitor is unique for the day the first time any process
/// writes their hash, and is then added to the hour they were first seen in.
async fn count_unique_visitors(
    db: &impl ConnectionTrait,
    buffer: &Buffer,
    existing: &HashSet<i64>,
    counters: &mut HashMap<(i64, i64), Counts>,
) -> Result<(), DbErr> {
    for ((deployment_id, day), hashes) in &buffer.visitors {
        if !existing.contains(deployment_id) {
            continue;
        }
        let list: Vec<(&i64, &i64)> = hashes.iter().collect();
        for chunk in list.chunks(ROWS_PER_STATEMENT) {
            let mut stmt = Query::insert();
            stmt.into_table(VisitorHashes::Table).columns([
                VisitorHashes::DeploymentId,
                VisitorHashes::Day,
                VisitorHashes::Hash,
            ]);
            for (hash, _) in chunk {
                stmt.values_panic([(*deployment_id).into(), (*day).into(), (**hash).into()]);
            }
            stmt.on_conflict(
                OnConflict::columns([
                    VisitorHashes::DeploymentId,
                    VisitorHashes::Day,
                    VisitorHashes::Hash,
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning_col(VisitorHashes::Hash);
            for row in db.query_all(&stmt).await? {
                let hash: i64 = row.try_get("", "hash")?;
                if let Some(hour) = hashes.get(&hash) {
                    counters
                        .entry((*deployment_id, *hour))
                        .or_default()
                        .unique_visitors += 1;
                }
            }
        }
    }
    Ok(())
}

/// Adds the visits that saw a bar or were held out of it, per deployment and day.
async fn add_exposures(
    db: &impl ConnectionTrait,
    buffer: &Buffer,
    existing: &HashSet<i64>,
) -> Result<(), DbErr> {
    let rows: Vec<_> = buffer
        .exposures
        .iter()
        .filter(|((d, _), _)| existing.contains(d))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = Query::insert();
        stmt.into_table(ES::Table)
            .columns([ES::DeploymentId, ES::Day, ES::Shown, ES::HeldOut]);
        for ((deployment_id, day), [shown, held_out]) in chunk {
            stmt.values_panic([
                (*deployment_id).into(),
                (*day).into(),
                (*shown).into(),
                (*held_out).into(),
            ]);
        }
        stmt.on_conflict(
            OnConflict::columns([ES::DeploymentId, ES::Day])
                .value(ES::Shown, added(ES::Table, ES::Shown))
                .value(ES::HeldOut, added(ES::Table, ES::HeldOut))
                .to_owned(),
        );
        db.execute(&stmt).await?;
    }
    Ok(())
}

/// Adds the goals reached, for deployments and goals that still exist (a goal deleted
/// since takes its counts with it).
async fn add_goals(
    db: &impl ConnectionTrait,
    buffer: &Buffer,
    existing: &HashSet<i64>,
) -> Result<(), DbErr> {
    if buffer.goals.is_empty() {
        return Ok(());
    }
    let mut goal_ids: Vec<i64> = buffer.goals.keys().map(|(_, g, _)| *g).collect();
    goal_ids.sort_unstable();
    goal_ids.dedup();
    let goals: HashSet<i64> = crate::db::goals::existing(db, &goal_ids)
        .await?
        .into_iter()
        .collect();
    let rows: Vec<_> = buffer
        .goals
        .iter()
        .filter(|((d, g, _), _)| existing.contains(d) && goals.contains(g))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = Query::insert();
        stmt.into_table(GS::Table).columns([
            GS::DeploymentId,
            GS::GoalId,
            GS::Day,
            GS::Shown,
            GS::HeldOut,
            GS::ShownValue,
            GS::HeldOutValue,
        ]);
        for ((deployment_id, goal_id, day), n) in chunk {
            stmt.values_panic([
                (*deployment_id).into(),
                (*goal_id).into(),
                (*day).into(),
                n[0].into(),
                n[1].into(),
                n[2].into(),
                n[3].into(),
            ]);
        }
        let mut conflict = OnConflict::columns([GS::DeploymentId, GS::GoalId, GS::Day]);
        for c in [GS::Shown, GS::HeldOut, GS::ShownValue, GS::HeldOutValue] {
            conflict.value(c, added(GS::Table, c));
        }
        stmt.on_conflict(conflict.to_owned());
        db.execute(&stmt).await?;
    }
    Ok(())
}

/// Stores the leads left on deployments that still exist.
async fn insert_leads(
    db: &impl ConnectionTrait,
    buffer: &Buffer,
    existing: &HashSet<i64>,
) -> Result<(), DbErr> {
    let leads: Vec<_> = buffer
        .leads
        .iter()
        .filter(|l| existing.contains(&l.deployment_id))
        .collect();
    for chunk in leads.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = Query::insert();
        stmt.into_table(lead::Entity).columns([
            lead::Column::SiteId,
            lead::Column::DeploymentId,
            lead::Column::Email,
            lead::Column::CreatedAt,
        ]);
        for l in chunk {
            stmt.values_panic([
                l.site_id.into(),
                l.deployment_id.into(),
                l.email.clone().into(),
                l.at.into(),
            ]);
        }
        db.execute(&stmt).await?;
    }
    Ok(())
}

/// Moves each hostname's last event time forward (never back).
async fn note_hostnames_seen(db: &impl ConnectionTrait, buffer: &Buffer) -> Result<(), DbErr> {
    for (site_id, hosts) in &buffer.seen {
        for (hostname, at) in hosts {
            db.execute(
                &Query::update()
                    .table(site_hostname::Entity)
                    .value(site_hostname::Column::LastEventAt, *at)
                    .and_where(Expr::col(site_hostname::Column::SiteId).eq(*site_id))
                    .and_where(Expr::col(site_hostname::Column::Hostname).eq(hostname.as_str()))
                    .and_where(
                        Expr::col(site_hostname::Column::LastEventAt)
                            .is_null()
                            .or(Expr::col(site_hostname::Column::LastEventAt).lt(*at)),
                    )
                    .to_owned(),
            )
            .await?;
        }
    }
    Ok(())
}
