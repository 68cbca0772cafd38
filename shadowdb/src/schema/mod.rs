//! Schema reflection of production tables.
//!
//! One module per dialect reads the catalog (`information_schema`, `pg_catalog`,
//! `pragma_table_info`) and returns the same [`TableSchema`] shape.

use std::fmt;

use crate::error::Result;
use crate::prod::Production;
use crate::types::ColumnKind;

mod mapping;
mod mysql;
mod postgres;
mod sqlite;

/// A table name, optionally schema-qualified (`app.tasks`). Case is kept as
/// written: `"Tasks"` and `tasks` are different tables on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema (PostgreSQL schema, MySQL database); `None` = the default one.
    pub schema: Option<String>,
    /// The table.
    pub name: String,
}

impl TableName {
    /// Parses `table` or `schema.table` (no quoting: names with dots cannot be
    /// written this way; build a `TableName` directly for them).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((schema, name)) => TableName {
                schema: Some(schema.to_owned()),
                name: name.to_owned(),
            },
            None => TableName {
                schema: None,
                name: text.to_owned(),
            },
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One reflected column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    /// The column name, case as stored in the catalog.
    pub name: String,
    /// The declared type as the database prints it (`numeric(40,10)`, `varchar(20)`, `integer[]`).
    pub declared_type: String,
    /// How shadowdb reads, keeps and writes it.
    pub kind: ColumnKind,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Whether the column has a default (including generated keys).
    pub has_default: bool,
    /// Whether production generates the value (serial, identity, AUTO_INCREMENT,
    /// SQLite rowid alias): an agent may insert without it.
    pub generated: bool,
}

/// What a foreign key does when its parent row is deleted or its key updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkAction {
    /// `NO ACTION` / `RESTRICT`: the statement fails.
    Restrict,
    /// `CASCADE`.
    Cascade,
    /// `SET NULL`.
    SetNull,
    /// `SET DEFAULT`.
    SetDefault,
}

/// A foreign key of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint name, when the database has one.
    pub name: Option<String>,
    /// Columns of the referencing table.
    pub columns: Vec<String>,
    /// The referenced table.
    pub ref_table: TableName,
    /// Referenced columns.
    pub ref_columns: Vec<String>,
    /// On delete of the parent.
    pub on_delete: FkAction,
    /// On update of the parent key.
    pub on_update: FkAction,
}

/// A foreign key of another table that points at this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referencing {
    /// The referencing (child) table.
    pub table: TableName,
    /// The foreign key.
    pub foreign_key: ForeignKey,
}

/// One reflected table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The table.
    pub name: TableName,
    /// Columns in order.
    pub columns: Vec<ColumnSchema>,
    /// Primary key columns in key order (empty if none).
    pub primary_key: Vec<String>,
    /// Foreign keys of this table.
    pub foreign_keys: Vec<ForeignKey>,
    /// Foreign keys of other tables pointing at this one (for cascade checks).
    pub referenced_by: Vec<Referencing>,
    /// Constraints and triggers the sandbox cannot enforce, described for a
    /// reviewer (`CHECK (price > 0)`, `trigger audit_tasks`).
    pub not_enforced: Vec<String>,
}

impl TableSchema {
    /// The column named `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

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
