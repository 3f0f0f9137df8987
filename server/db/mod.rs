//! The database: connecting to SQLite or PostgreSQL, applying migrations, the entities
//! and the query functions each subsystem uses. Nothing here knows about HTTP.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::prelude::async_trait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::domain::Secret;

pub mod accounts;
pub(crate) mod alerts;
pub(crate) mod allocations;
pub(crate) mod benchmarks;
pub mod billing;
pub(crate) mod catalog;
pub(crate) mod digest;
pub mod entities;
pub(crate) mod goals;
pub(crate) mod hooks;
pub(crate) mod jobs;
pub(crate) mod leads;
pub(crate) mod list_forwards;
pub(crate) mod outbox;
pub(crate) mod policies;
pub(crate) mod tables;
pub(crate) mod teams;

pub type Db = DatabaseConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Secret<String>,
    pub kind: DatabaseKind,
}

/// The database cannot be reached or opened; the message never holds a password.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect: {0}")]
pub struct ConnectError(String);

/// Opens the pool.
pub async fn connect(config: &DatabaseConfig) -> Result<Db, ConnectError> {
    let mut options = ConnectOptions::new(config.url.expose().clone());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    match config.kind {
        DatabaseKind::Sqlite => {
            // One writer at a time is SQLite's rule; WAL lets readers go on meanwhile,
            // and the busy timeout makes a second writer wait instead of failing.
            options
                .max_connections(8)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(5))
                        .foreign_keys(true)
                        .create_if_missing(true)
                });
        }
        DatabaseKind::Postgres => {
            options.max_connections(16).min_connections(1);
        }
    }
    Database::connect(options)
        .await
        .map_err(|e| ConnectError(redact(&e.to_string())))
}

/// A transaction that writes, from [`begin`]. It is used like any connection (`&txn`)
/// and ends with [`Write::commit`]; dropped without it, it rolls back.
pub struct Write {
    txn: DatabaseTransaction,
    /// On SQLite, this process's turn to write, held until the transaction ends.
    _turn: Option<OwnedMutexGuard<()>>,
}

/// SQLite has one writer at a time. The writers of this process take turns here, in the
/// order they asked, so one waits exactly as long as those before it take: SQLite's own
/// busy handler polls with growing sleeps (up to 100 ms each), which left a writer
/// waiting long after the lock was free, and sometimes past its five seconds while
/// others kept taking it. Between processes the busy handler still decides.
static SQLITE_WRITERS: LazyLock<Arc<Mutex<()>>> = LazyLock::new(|| Arc::new(Mutex::new(())));

/// A writer that waits this long for its turn has met something wrong (a transaction
/// that never ends); it fails rather than wait forever.
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a transaction that will write. On SQLite it waits for this process's turn to
/// write, then takes the database's write lock at once (`BEGIN IMMEDIATE`), so two
/// writers queue instead of one failing when it upgrades from reading to writing.
pub async fn begin(db: &Db) -> Result<Write, DbErr> {
    let turn = match db.get_database_backend() {
        DbBackend::Sqlite => Some(
            tokio::time::timeout(TURN_TIMEOUT, SQLITE_WRITERS.clone().lock_owned())
                .await
                .map_err(|_| {
                    DbErr::Custom(format!(
                        "waited {TURN_TIMEOUT:?} for a turn to write to SQLite"
                    ))
                })?,
        ),
        _ => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(Write { txn, _turn: turn })
}

impl Write {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Write {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// The `n`th value bound to a hand-written statement, counted from 1: `$n` on PostgreSQL,
/// `?n` on SQLite. Either may appear more than once in a statement. Every raw statement
/// in `db` numbers its values with this.
pub(crate) fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Connection errors may echo the URL; never let a password through.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for word in message.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        match (word.find("://"), word.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                out.push_str(&word[..s + 3]);
                out.push('…');
                out.push_str(&word[at..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            super::redact("failed for postgres://u:secret@host/db now"),
            "failed for postgres://…@host/db now"
        );
    }
}
