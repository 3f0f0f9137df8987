//! The database: connecting to SQLite or PostgreSQL, applying migrations, the entities
//! and the query functions each subsystem uses. Nothing here knows about HTTP.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::domain::Secret;

pub mod accounts;
pub mod alerts;
pub mod benchmarks;
pub mod billing;
pub mod catalog;
pub mod entities;
pub mod jobs;
pub mod leads;
pub mod outbox;
pub mod tables;

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

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing
/// when it upgrades from reading to writing; PostgreSQL ignores the option.
pub async fn begin(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Applies every pending migration.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &Db) -> bool {
    db.ping().await.is_ok()
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
