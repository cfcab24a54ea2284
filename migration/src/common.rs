//! Builders the migrations share, so every table spells its keys, indexes and constraint names
//! the same way. Applied migrations must never change: add a helper rather than alter one.
//!
//! Names follow PostgreSQL's own conventions (`<table>_<what>_key` for unique constraints,
//! `_idx` for indexes, `_fkey`, `_check`), and the application maps violations by these names.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::pk_uuid;

/// The UUID v7 primary key every table with a surrogate key has.
pub fn id() -> ColumnDef {
    pk_uuid("id")
}

/// `table.column → to(id)`, named `<table>_<column>_fkey`.
pub fn fk(
    table: &'static str,
    column: &'static str,
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_{column}_fkey"))
        .from(table, column)
        .to(to, "id")
        .on_delete(on_delete)
        .take()
}

/// A named unique constraint, declared inside `CREATE TABLE` (so PostgreSQL's
/// `ON CONFLICT ON CONSTRAINT` can name it too).
pub fn unique(name: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).unique();
    for column in columns {
        index.col(*column);
    }
    index
}

/// Creates the ordinary index `name` on `table(columns)`.
pub async fn index(
    manager: &SchemaManager<'_>,
    name: &'static str,
    table: &'static str,
    columns: &[&'static str],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index).await
}

/// Drops `tables` in the order given (children before parents).
pub async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).take())
            .await?;
    }
    Ok(())
}
