//! Bars become one of several element types (bar, modal, slider, takeover), a slider
//! picks its corner's side, a bar may carry a countdown, and a variant its texts in other
//! languages. Every existing bar stays a bar with no countdown and no translations, and
//! benchmarks group by element type (what was computed before was about bars).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // JSON is jsonb on PostgreSQL and text on SQLite, as for the other settings.
        let json = match manager.get_database_backend() {
            DbBackend::Postgres => "jsonb",
            _ => "text",
        };
        for statement in [
            "ALTER TABLE bars ADD COLUMN element_type text NOT NULL DEFAULT 'bar'".to_string(),
            "ALTER TABLE bars ADD COLUMN side text NOT NULL DEFAULT 'right'".to_string(),
            format!("ALTER TABLE bars ADD COLUMN countdown {json} NULL"),
            format!("ALTER TABLE variants ADD COLUMN translations {json} NOT NULL DEFAULT '{{}}'"),
            // Benchmarks compare each element type only with its own kind.
            "ALTER TABLE benchmark_cells ADD COLUMN element_type text NOT NULL DEFAULT 'bar'"
                .to_string(),
            "ALTER TABLE benchmark_results ADD COLUMN element_type text NOT NULL DEFAULT 'bar'"
                .to_string(),
        ] {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, column) in [
            ("benchmark_results", "element_type"),
            ("benchmark_cells", "element_type"),
            ("variants", "translations"),
            ("bars", "countdown"),
            ("bars", "side"),
            ("bars", "element_type"),
        ] {
            db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN {column}"))
                .await?;
        }
        Ok(())
    }
}
