//! Reading a production table's shape from its catalog.
//!
//! One module per dialect reads the catalog (`information_schema`,
//! `pg_catalog`, `pragma_table_info`) and returns the same
//! [`TableSchema`](crate::model::TableSchema) shape, the model of
//! [`crate::model`]; [`mapping`] turns a declared type into a
//! [`ColumnKind`](crate::types::ColumnKind). This room reads production
//! through [`crate::prod`]; the model itself depends on neither.

use crate::error::{Error, Result, SchemaProblem};
use crate::model::{TableName, TableSchema};
use crate::prod::Production;

mod mapping;
mod mysql;
mod postgres;
mod sqlite;

/// Reflects `table`; `Ok(None)` when it does not exist.
///
/// The schema's `name` is `table` as given; other tables (foreign keys) are
/// named as stored, qualified when `table` is or when they live in another
/// schema than the default one.
///
/// # Errors
/// [`Error::Database`](crate::Error::Database) when the catalog cannot be read.
pub async fn reflect(prod: &Production, table: &TableName) -> Result<Option<TableSchema>> {
    match prod {
        Production::Postgres(pool) => postgres::reflect(pool, table).await,
        Production::MySql(pool) => mysql::reflect(pool, table).await,
        Production::Sqlite(pool) => sqlite::reflect(pool, table).await,
    }
}

/// The error of a catalog query reading `what` of `table`.
fn fail<'a>(table: &'a TableName, what: &'static str) -> impl Fn(sqlx::Error) -> Error + 'a {
    move |e| Error::database(format!("reflect {table}: {what}"), e)
}

/// `table` resolved to `resolved`, which is `kind` (a view, ...), not a table.
fn not_a_table(table: &TableName, resolved: String, kind: String) -> Error {
    Error::Schema(vec![SchemaProblem::NotATable {
        table: table.to_string(),
        resolved,
        kind,
    }])
}
