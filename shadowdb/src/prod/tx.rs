//! [`ProdTx`]: one transaction on production, the commit's and the
//! rollback's, with the session pinned as the clone's read was.

use safemodel::Value;
use sqlx::Executor;

use super::bind::{Bind, PgParam, bind_all, pg_query};
use super::decode::{DecodeRow, FetchError};
use super::session::{MYSQL_RESTORE, mysql_utc, pg_pin_sql};
use super::{PerDialect, Production};
use crate::error::{Error, Result};
use crate::model::ColumnSchema;

/// One transaction on production.
pub(crate) type ProdTx = PerDialect<
    sqlx::Transaction<'static, sqlx::Postgres>,
    sqlx::Transaction<'static, sqlx::MySql>,
    sqlx::Transaction<'static, sqlx::Sqlite>,
>;

impl ProdTx {
    /// Begins a transaction.
    pub(crate) async fn begin(prod: &Production) -> Result<ProdTx> {
        let ctx = "commit: BEGIN";
        Ok(match prod {
            Production::Postgres(p) => {
                let mut tx = p.begin().await.map_err(|e| Error::database(ctx, e))?;
                // For this transaction only (see `PG_PINNED`).
                tx.execute(sqlx::AssertSqlSafe(pg_pin_sql(true)))
                    .await
                    .map_err(|e| Error::database(ctx, e))?;
                ProdTx::Postgres(tx)
            }
            Production::MySql(p) => {
                let mut tx = p.begin().await.map_err(|e| Error::database(ctx, e))?;
                mysql_utc(&mut tx, ctx).await?;
                ProdTx::MySql(tx)
            }
            // IMMEDIATE: the write lock from the start, so rows read to
            // check them cannot change before they are written.
            Production::Sqlite(p) => ProdTx::Sqlite(
                p.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| Error::database(ctx, e))?,
            ),
        })
    }

    /// Runs a statement; returns rows affected (matched, for MySQL: sqlx sets
    /// CLIENT_FOUND_ROWS, so a no-op update still counts its row).
    pub(crate) async fn execute(
        &mut self,
        sql: String,
        binds: &[Bind],
    ) -> std::result::Result<u64, sqlx::Error> {
        let q = sqlx::AssertSqlSafe(sql);
        per_dialect!(self, tx => bind_all!(sqlx::query(q), binds)
            .execute(&mut **tx)
            .await
            .map(|r| r.rows_affected()))
    }

    /// Runs a query and decodes each row's columns as `cols`.
    pub(crate) async fn fetch(
        &mut self,
        sql: String,
        binds: &[Bind],
        cols: &[&ColumnSchema],
    ) -> std::result::Result<Vec<Vec<Value>>, FetchError> {
        let q = sqlx::AssertSqlSafe(sql);
        per_dialect!(self, tx => decode_rows(
            &bind_all!(sqlx::query(q), binds)
                .fetch_all(&mut **tx)
                .await
                .map_err(FetchError::Db)?,
            cols,
        ))
    }

    /// Runs a statement without parameters through the simple (text)
    /// protocol: `SAVEPOINT` and its kin, which MySQL does not prepare.
    pub(crate) async fn execute_raw(
        &mut self,
        sql: &'static str,
    ) -> std::result::Result<(), sqlx::Error> {
        per_dialect!(self, tx => (&mut **tx).execute(sql).await.map(|_| ()))
    }

    /// Runs a PostgreSQL statement whose parameters may be arrays, and
    /// decodes each row's columns as `cols`.
    pub(crate) async fn fetch_pg(
        &mut self,
        sql: String,
        params: &[PgParam<'_>],
        cols: &[&ColumnSchema],
    ) -> std::result::Result<Vec<Vec<Value>>, FetchError> {
        let ProdTx::Postgres(tx) = self else {
            return Err(FetchError::Decode(
                "array parameters are PostgreSQL's only".to_owned(),
            ));
        };
        let rows = pg_query(sql, params)
            .fetch_all(&mut **tx)
            .await
            .map_err(FetchError::Db)?;
        decode_rows(&rows, cols)
    }
    /// Commits.
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        match self {
            ProdTx::Postgres(tx) => tx.commit().await,
            ProdTx::MySql(mut tx) => {
                let _ = tx.execute(MYSQL_RESTORE).await;
                tx.commit().await
            }
            ProdTx::Sqlite(tx) => tx.commit().await,
        }
    }

    /// Rolls back (also what dropping does; explicit to await it).
    pub(crate) async fn rollback(self) {
        let _ = match self {
            ProdTx::Postgres(tx) => tx.rollback().await,
            ProdTx::MySql(mut tx) => {
                let _ = tx.execute(MYSQL_RESTORE).await;
                tx.rollback().await
            }
            ProdTx::Sqlite(tx) => tx.rollback().await,
        };
    }
}

/// Each row's columns decoded as `cols`.
fn decode_rows<R: DecodeRow>(
    rows: &[R],
    cols: &[&ColumnSchema],
) -> std::result::Result<Vec<Vec<Value>>, FetchError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            values.push(DecodeRow::decode(row, i, col).map_err(FetchError::Decode)?);
        }
        out.push(values);
    }
    Ok(out)
}
