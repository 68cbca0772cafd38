//! Reflection of sqlite tables.

use crate::error::Result;
use crate::schema::{TableName, TableSchema};

pub(crate) async fn reflect(pool: &sqlx::Pool<sqlx::Sqlite>, table: &TableName) -> Result<Option<TableSchema>> {
    let _ = (pool, table);
    Err(crate::Error::Config("reflection not implemented yet".into()))
}
