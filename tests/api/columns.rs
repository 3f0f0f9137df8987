//! Reading back everything a server stored: every value of every column of every table,
//! as text, on SQLite (`sqlite_master`, `pragma_table_info`) and PostgreSQL
//! (`information_schema.columns`). Tests that promise something is held nowhere search
//! these values themselves, so a new table or column is searched without being named.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// One stored value.
#[derive(Debug, Clone)]
pub struct Stored {
    pub table: String,
    pub column: String,
    pub value: String,
}

/// Every table of the database with its columns.
pub async fn tables(db: &DatabaseConnection) -> Vec<(String, Vec<String>)> {
    let backend = db.get_database_backend();
    let pairs: Vec<(String, String)> = match backend {
        DbBackend::Sqlite => db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
            ))
            .await
            .expect("the tables and columns of SQLite")
            .iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                )
            })
            .collect(),
        _ => db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
            ))
            .await
            .expect("the tables and columns of PostgreSQL")
            .iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                )
            })
            .collect(),
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (table, column) in pairs {
        match out.last_mut() {
            Some((t, columns)) if *t == table => columns.push(column),
            _ => out.push((table, vec![column])),
        }
    }
    assert!(
        out.iter().any(|(t, _)| t == "members"),
        "the schema was read: {out:?}"
    );
    out
}

/// Every non-null value stored in the database, each read as text (numbers, times and
/// JSON as their text; SQLite blobs as lossy UTF-8).
pub async fn every_value(db: &DatabaseConnection) -> Vec<Stored> {
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for (table, columns) in tables(db).await {
        let select: Vec<String> = columns
            .iter()
            .map(|c| match backend {
                // Any SQLite value, as the bytes of its text (a blob as it is).
                DbBackend::Sqlite => format!("CAST(\"{c}\" AS BLOB)"),
                _ => format!("CAST(\"{c}\" AS TEXT)"),
            })
            .collect();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT {} FROM \"{table}\"", select.join(", ")),
            ))
            .await
            .unwrap_or_else(|e| panic!("reading {table}: {e}"));
        for row in rows {
            for (i, column) in columns.iter().enumerate() {
                let value = match backend {
                    DbBackend::Sqlite => row
                        .try_get_by_index::<Option<Vec<u8>>>(i)
                        .unwrap_or_else(|e| panic!("{table}.{column}: {e}"))
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                    _ => row
                        .try_get_by_index::<Option<String>>(i)
                        .unwrap_or_else(|e| panic!("{table}.{column}: {e}")),
                };
                if let Some(value) = value {
                    out.push(Stored {
                        table: table.clone(),
                        column: column.clone(),
                        value,
                    });
                }
            }
        }
    }
    out
}

/// `table.column: value` of every stored value containing `needle`, in any case.
pub async fn values_containing(db: &DatabaseConnection, needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    every_value(db)
        .await
        .into_iter()
        .filter(|s| s.value.to_lowercase().contains(&needle))
        .map(|s| format!("{}.{}: {}", s.table, s.column, s.value))
        .collect()
}
