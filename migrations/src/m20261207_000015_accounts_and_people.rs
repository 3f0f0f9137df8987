//! Accounts that several people share. Sites, billing and benchmark results belong to an
//! account; a person (a row of `members`: email, password, sessions, tokens, email
//! preferences) belongs to one or more accounts with a role there.
//!
//! Every existing member becomes the owner of an account of their own whose id is the
//! member's id, so every id a client holds keeps naming what it named: the columns that
//! said `member_id` on account-owned tables now say `account_id` and hold the same
//! values. API tokens and sessions learn the account they act in, and each account keeps
//! a log of who changed what (`audit_events`).

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables whose `member_id` named the owner and now names the account, with whether the
/// column is a foreign key to `members`.
const ACCOUNT_OWNED: [(&str, bool); 6] = [
    ("sites", true),
    ("billing_customers", true),
    ("subscriptions", true),
    ("billing_accounts", true),
    ("benchmark_results", true),
    ("stripe_events", false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_accounts(manager).await?;
        create_account_members(manager).await?;
        create_invitations(manager).await?;
        create_audit_events(manager).await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        // Every member owns the account with their id; settings of the business move
        // with it.
        db.execute_unprepared(
            "INSERT INTO accounts (id, name, industry, lead_retention_days, restricted_at, created_at, updated_at) \
             SELECT id, COALESCE(name, email), industry, lead_retention_days, restricted_at, created_at, updated_at \
             FROM members",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO account_members (account_id, member_id, role, created_at) \
             SELECT id, id, 'owner', created_at FROM members",
        )
        .await?;
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "SELECT setval(pg_get_serial_sequence('accounts', 'id'), \
                 COALESCE((SELECT MAX(id) FROM accounts), 0) + 1, false)",
            )
            .await?;
        }
        for column in ["api_tokens", "sessions"] {
            db.execute_unprepared(&format!(
                "ALTER TABLE {column} ADD COLUMN account_id BIGINT NULL \
                 REFERENCES accounts (id) ON DELETE CASCADE"
            ))
            .await?;
            db.execute_unprepared(&format!("UPDATE {column} SET account_id = member_id"))
                .await?;
        }
        // A token may carry a narrower role than its person's (read-only reporting).
        db.execute_unprepared("ALTER TABLE api_tokens ADD COLUMN role VARCHAR NULL")
            .await?;
        for (table, foreign) in ACCOUNT_OWNED {
            match backend {
                DatabaseBackend::Postgres => postgres_repoint(db, table, foreign).await?,
                _ => sqlite_repoint(db, table).await?,
            }
        }
        for column in ["industry", "lead_retention_days", "restricted_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "accounts shared by several people cannot be folded back into one member each".into(),
        ))
    }
}

async fn create_accounts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Accounts::Table)
                .col(big_pk_auto(Accounts::Id))
                .col(string(Accounts::Name))
                .col(string_null(Accounts::Industry))
                .col(integer(Accounts::LeadRetentionDays).default(0))
                .col(timestamp_with_time_zone_null(Accounts::RestrictedAt))
                .col(timestamp_with_time_zone(Accounts::CreatedAt))
                .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                .to_owned(),
        )
        .await
}

async fn create_account_members(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AccountMembers::Table)
                .col(big_pk_auto(AccountMembers::Id))
                .col(big_integer(AccountMembers::AccountId))
                .col(big_integer(AccountMembers::MemberId))
                .col(string(AccountMembers::Role))
                .col(timestamp_with_time_zone(AccountMembers::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(AccountMembers::Table, AccountMembers::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(AccountMembers::Table, AccountMembers::MemberId)
                        .to(Members::Table, Members::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_account_members_unique")
                .table(AccountMembers::Table)
                .col(AccountMembers::AccountId)
                .col(AccountMembers::MemberId)
                .unique()
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_account_members_member")
                .table(AccountMembers::Table)
                .col(AccountMembers::MemberId)
                .to_owned(),
        )
        .await
}

async fn create_invitations(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Invitations::Table)
                .col(big_pk_auto(Invitations::Id))
                .col(big_integer(Invitations::AccountId))
                .col(string(Invitations::Email))
                .col(string(Invitations::Role))
                .col(string_uniq(Invitations::TokenHash))
                .col(big_integer_null(Invitations::InvitedBy))
                .col(timestamp_with_time_zone(Invitations::CreatedAt))
                .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                .col(timestamp_with_time_zone_null(Invitations::AcceptedAt))
                .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Invitations::Table, Invitations::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Invitations::Table, Invitations::InvitedBy)
                        .to(Members::Table, Members::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_invitations_account")
                .table(Invitations::Table)
                .col(Invitations::AccountId)
                .to_owned(),
        )
        .await
}

async fn create_audit_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(big_pk_auto(AuditEvents::Id))
                .col(big_integer(AuditEvents::AccountId))
                .col(big_integer_null(AuditEvents::MemberId))
                .col(string(AuditEvents::Action))
                .col(string(AuditEvents::Subject))
                .col(string_null(AuditEvents::Ip))
                .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(AuditEvents::Table, AuditEvents::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(AuditEvents::Table, AuditEvents::MemberId)
                        .to(Members::Table, Members::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_audit_events_account")
                .table(AuditEvents::Table)
                .col(AuditEvents::AccountId)
                .col(AuditEvents::CreatedAt)
                .to_owned(),
        )
        .await
}

async fn strings(db: &SchemaManagerConnection<'_>, sql: String) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect()
}

/// PostgreSQL: the column is renamed, its foreign key now points at `accounts`, and its
/// indexes are renamed to match.
async fn postgres_repoint(
    db: &SchemaManagerConnection<'_>,
    table: &str,
    foreign: bool,
) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        "ALTER TABLE {table} RENAME COLUMN member_id TO account_id"
    ))
    .await?;
    if foreign {
        let constraints = strings(
            db,
            format!(
                "SELECT conname::text FROM pg_constraint WHERE conrelid = '{table}'::regclass \
                 AND confrelid = 'members'::regclass AND contype = 'f'"
            ),
        )
        .await?;
        for name in constraints {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP CONSTRAINT \"{name}\""))
                .await?;
        }
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} ADD CONSTRAINT \"fk_{table}_account\" FOREIGN KEY (account_id) \
             REFERENCES accounts (id) ON DELETE CASCADE"
        ))
        .await?;
    }
    let indexes = strings(
        db,
        format!(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = '{table}' \
             AND indexname LIKE '%\\_member%'"
        ),
    )
    .await?;
    for name in indexes {
        let renamed = name.replace("_member", "_account");
        db.execute_unprepared(&format!("ALTER INDEX \"{name}\" RENAME TO \"{renamed}\""))
            .await?;
    }
    Ok(())
}

/// SQLite cannot change a foreign key in place: the table is rebuilt under the same
/// name from its own definition with the column renamed and pointing at `accounts`, the
/// rows copied, and its indexes made again. Foreign keys are off on the one connection
/// that does it (dropping a parent with them on would cascade into its children), and
/// checked before the rebuild is committed.
async fn sqlite_repoint(db: &SchemaManagerConnection<'_>, table: &str) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::sqlx::{self, Connection as _, Row as _};
    let SchemaManagerConnection::Connection(conn) = db else {
        return Err(DbErr::Migration(
            "the SQLite rebuild needs the pool, not a transaction".into(),
        ));
    };
    let failed = |e: sqlx::Error| DbErr::Migration(format!("rebuilding {table}: {e}"));
    let mut conn = conn
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .map_err(failed)?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(failed)?;
    let rebuilt = async {
        let mut tx = conn.begin().await?;
        let definition: String =
            sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1")
                .bind(table)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
        let indexes: Vec<String> = sqlx::query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        let renamed = |sql: &str| {
            sql.replace("\"member_id\"", "\"account_id\"")
                .replace("\"members\"", "\"accounts\"")
                .replace("_member\"", "_account\"")
        };
        let temporary = format!("{table}__rebuilt");
        let create = renamed(&definition).replacen(
            &format!("\"{table}\""),
            &format!("\"{temporary}\""),
            1,
        );
        sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut *tx).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{temporary}\" SELECT * FROM \"{table}\""
        )))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE \"{temporary}\" RENAME TO \"{table}\""
        )))
        .execute(&mut *tx)
        .await?;
        for index in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(renamed(index))).execute(&mut *tx).await?;
        }
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *tx)
            .await?;
        if !broken.is_empty() {
            return Err(sqlx::Error::Protocol(format!(
                "{} rows would break a foreign key",
                broken.len()
            )));
        }
        tx.commit().await
    }
    .await;
    // The connection goes back to the pool as every other: with foreign keys on.
    let restored = sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await;
    rebuilt.map_err(failed)?;
    restored.map_err(failed)?;
    Ok(())
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Name,
    Industry,
    LeadRetentionDays,
    RestrictedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccountMembers {
    Table,
    Id,
    AccountId,
    MemberId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    AccountId,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    AccountId,
    MemberId,
    Action,
    Subject,
    Ip,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
}
