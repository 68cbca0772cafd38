//! MySQL's batch of updates or deletes: one statement, its matched-row
//! count checked; a short count redoes the batch row by row.

use super::Syncer;
use super::apply::{Batch, row_binds};
use crate::error::{Conflict, Error, Result};
use crate::prod::ProdTx;
use crate::types::Dialect;

impl Syncer<'_> {
    /// MySQL: one statement per batch; MySQL counts the rows it matched
    /// (sqlx sets CLIENT_FOUND_ROWS, so a row written with its own values
    /// still counts). A short count undoes the batch and redoes it row by row
    /// to find the conflicts.
    pub(super) async fn mysql_batch(
        &self,
        tx: &mut ProdTx,
        b: &Batch<'_, '_>,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let (dialect, chunk) = (Dialect::MySql, b.chunk);
        let ctx = format!("commit: {}", b.what());
        let mut binds = Vec::with_capacity(chunk.len() * b.shape.width() + 1);
        for c in chunk {
            binds.extend(row_binds(dialect, b.shape, c)?);
        }
        binds.extend(b.tenant.iter().cloned());
        let sql = b.shape.sql(dialect, b.op, chunk.len(), &[]);
        tx.execute_raw("SAVEPOINT shadowdb_batch")
            .await
            .map_err(|e| Error::database(ctx.clone(), e))?;
        let n = tx
            .execute(sql, &binds)
            .await
            .map_err(|e| Error::database(ctx.clone(), e))?;
        if usize::try_from(n).is_ok_and(|n| n == chunk.len()) {
            tx.execute_raw("RELEASE SAVEPOINT shadowdb_batch")
                .await
                .map_err(|e| Error::database(ctx.clone(), e))?;
            return Ok(chunk.len());
        }
        tx.execute_raw("ROLLBACK TO SAVEPOINT shadowdb_batch")
            .await
            .map_err(|e| Error::database(ctx.clone(), e))?;
        self.apply_rows(tx, b.t, chunk, b.op, conflicts).await
    }
}
