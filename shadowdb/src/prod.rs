//! The production database: a sqlx pool of one of three dialects.

use crate::types::Dialect;

/// A production database reached through sqlx.
#[derive(Debug, Clone)]
pub enum Production {
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// MySQL or MariaDB.
    MySql(sqlx::MySqlPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

impl Production {
    /// The dialect.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        match self {
            Production::Postgres(_) => Dialect::Postgres,
            Production::MySql(_) => Dialect::MySql,
            Production::Sqlite(_) => Dialect::Sqlite,
        }
    }
}

impl From<sqlx::PgPool> for Production {
    fn from(p: sqlx::PgPool) -> Self {
        Production::Postgres(p)
    }
}
impl From<sqlx::MySqlPool> for Production {
    fn from(p: sqlx::MySqlPool) -> Self {
        Production::MySql(p)
    }
}
impl From<sqlx::SqlitePool> for Production {
    fn from(p: sqlx::SqlitePool) -> Self {
        Production::Sqlite(p)
    }
}
