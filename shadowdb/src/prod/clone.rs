//! The clone's read of production: one tenant's rows (or a reference
//! table's), streamed in [`CloneBatch`]es to the sandbox, each row's tenant
//! checked again byte for byte, and the digests of PII columns taken
//! beside the rows.

use futures_util::TryStreamExt;
use safemodel::Value;
use sqlx::Executor;

use super::Production;
use super::batch::CloneBatch;
use super::bind::{Bind, bind_all, write_bind};
use super::decode::DecodeRow;
use super::session::{mysql_restore_tz, mysql_utc, pg_pin_sql};
use super::sql::{
    digest_col, digest_expr, digest_of, exact_eq, exact_eq_binds, qualified, read_expr, value_expr,
};
use super::wire::{CloneRow, Wire};
use crate::error::{Error, Result};
use crate::model::{ColumnSchema, TableSchema};
use crate::types::Dialect;
use crate::value::tenant_eq;

/// Why a stored value cannot be cloned exactly.
fn unclonable(schema: &TableSchema, col: &ColumnSchema, reason: &str) -> Error {
    Error::Unclonable {
        table: schema.name.to_string(),
        key: String::new(),
        column: col.name.clone(),
        reason: reason.to_owned(),
    }
}

/// Text and bytes a batch of cloned rows holds at most (past its last row).
const CLONE_BATCH_BYTES: usize = 4 << 20;

/// The SELECT of one tenant's rows (or all rows of a reference table).
fn clone_sql(
    dialect: Dialect,
    schema: &TableSchema,
    cols: &[&ColumnSchema],
    tenant: Option<&ColumnSchema>,
    digests: &[ColumnSchema],
) -> String {
    let mut list: Vec<String> = cols.iter().map(|c| read_expr(dialect, c)).collect();
    list.extend(digests.iter().filter_map(|c| digest_of(dialect, c)));
    let mut sql = format!(
        "SELECT {} FROM {}",
        list.join(", "),
        qualified(dialect, &schema.resolved)
    );
    if let Some(t) = tenant {
        sql.push_str(" WHERE ");
        sql.push_str(&exact_eq(
            dialect,
            t,
            &dialect.quote(&t.name),
            &value_expr(dialect, t, 1),
            &value_expr(dialect, t, 2),
        ));
    }
    sql
}

/// Production's digests of the PII columns of the cloned rows: the
/// process never holds those values, and the commit requires each digest
/// unchanged (see [`digest_expr`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Digests {
    /// The PII columns (none where the dialect has no hash function).
    pub cols: Vec<ColumnSchema>,
    /// Where the key columns are among the cloned columns.
    pub key_at: Vec<usize>,
    /// By the row's rendered key: each column's digest.
    pub by_key: std::collections::HashMap<String, Vec<Option<String>>>,
}

/// Streams the tenant's rows of `schema` (only `cols`), sending them to
/// `sink` in batches of `batch` rows (fewer where values are long), so
/// memory holds a few batches, not the result set. Returns the number of
/// rows. Batches the sink has loaded come back through `spare`, emptied,
/// and are filled again: growing fresh buffers for every batch cost more in
/// reallocations and page faults than the decoding.
///
/// # Errors
/// [`Error::Database`], [`Error::Unclonable`], or [`Error::Sandbox`] when
/// the receiving end is gone.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the streaming pipe's two ends and the digests taken beside the rows"
)]
pub(crate) async fn clone_rows(
    prod: &Production,
    schema: &TableSchema,
    cols: &[&ColumnSchema],
    tenant: Option<(&ColumnSchema, &Value)>,
    batch: usize,
    sink: &tokio::sync::mpsc::Sender<CloneBatch>,
    spare: &mut tokio::sync::mpsc::UnboundedReceiver<CloneBatch>,
    mut digests: Digests,
) -> Result<(u64, Digests)> {
    let send = |rows: CloneBatch| async move {
        sink.send(rows)
            .await
            .map_err(|_| Error::Sandbox("the sandbox stopped loading the clone".into()))
    };
    let dialect = prod.dialect();
    let binds = tenant_binds(dialect, schema, tenant)?;
    if digest_expr(dialect, "x").is_none() {
        digests.cols.clear();
    }
    let sql = clone_sql(dialect, schema, cols, tenant.map(|t| t.0), &digests.cols);
    let mut reader = RowReader::new(schema, cols, tenant, &digests);
    let context = format!("clone of {}", schema.name);
    let db_err = |e: sqlx::Error| Error::database(context.clone(), e);
    let batch = batch.max(1);

    // A macro: the rows are of another type in each dialect.
    macro_rules! stream {
        ($conn:expr) => {{
            let query = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), binds.iter());
            let mut rows = query.fetch($conn);
            let mut buf = CloneBatch::default();
            let mut total = 0_u64;
            while let Some(row) = rows.try_next().await.map_err(db_err)? {
                reader.read(&row, &mut buf, &mut digests)?;
                total += 1;
                if buf.rows() >= batch || buf.held() >= CLONE_BATCH_BYTES {
                    let next = spare.try_recv().unwrap_or_else(|_| buf.empty_like());
                    send(std::mem::replace(&mut buf, next)).await?;
                }
            }
            if buf.rows() > 0 {
                send(buf).await?;
            }
            total
        }};
    }

    let n = match prod {
        Production::Postgres(pool) => {
            let mut tx = pool.begin().await.map_err(db_err)?;
            tx.execute(sqlx::AssertSqlSafe(pg_pin_sql(true)))
                .await
                .map_err(db_err)?;
            let n = stream!(&mut *tx);
            // A read: nothing to keep; the settings end with it.
            let _ = tx.rollback().await;
            n
        }
        Production::MySql(pool) => {
            let mut conn = pool.acquire().await.map_err(db_err)?;
            mysql_utc(&mut conn, &context).await?;
            let n = stream!(&mut *conn);
            mysql_restore_tz(&mut conn).await;
            n
        }
        Production::Sqlite(pool) => {
            let mut conn = pool.acquire().await.map_err(db_err)?;
            stream!(&mut *conn)
        }
    };
    Ok((n, digests))
}

/// The tenant, bound as many times as the clone's WHERE needs it.
fn tenant_binds(
    dialect: Dialect,
    schema: &TableSchema,
    tenant: Option<(&ColumnSchema, &Value)>,
) -> Result<Vec<Bind>> {
    let mut binds = Vec::new();
    if let Some((tenant_col, tenant)) = tenant {
        let bind = write_bind(dialect, tenant_col, tenant).map_err(|e| {
            Error::Config(format!(
                "tenant value does not fit {}.{}: {}",
                schema.name, tenant_col.name, e.0
            ))
        })?;
        binds.extend(std::iter::repeat_n(
            bind,
            exact_eq_binds(dialect, tenant_col),
        ));
    }
    Ok(binds)
}

/// How the clone of one table reads each row, worked out before the first.
struct RowReader<'a> {
    schema: &'a TableSchema,
    cols: &'a [&'a ColumnSchema],
    /// The tenant column's place in the row: each row is checked again
    /// here, byte for byte, before it goes near the sandbox.
    check: Option<(usize, &'a ColumnSchema, &'a Value)>,
    /// The columns the digests are decoded as, after `cols` in the row.
    digest_cols: Vec<ColumnSchema>,
    /// The key columns (and their places) the digests are stored by.
    key_cols: Vec<(usize, &'a ColumnSchema)>,
    /// How each column is read, from the first row's column types.
    wires: Vec<Wire>,
}

impl<'a> RowReader<'a> {
    fn new(
        schema: &'a TableSchema,
        cols: &'a [&'a ColumnSchema],
        tenant: Option<(&'a ColumnSchema, &'a Value)>,
        digests: &Digests,
    ) -> Self {
        let check = tenant.and_then(|(tc, v)| {
            cols.iter()
                .position(|c| c.name == tc.name)
                .map(|i| (i, *cols.get(i).unwrap_or(&tc), v))
        });
        RowReader {
            schema,
            cols,
            check,
            digest_cols: digests.cols.iter().map(digest_col).collect(),
            key_cols: digests
                .key_at
                .iter()
                .filter_map(|&i| cols.get(i).map(|c| (i, *c)))
                .collect(),
            wires: Vec::new(),
        }
    }

    /// Appends `row` to `buf`, and its digests to `digests`.
    fn read<R: CloneRow>(
        &mut self,
        row: &R,
        buf: &mut CloneBatch,
        digests: &mut Digests,
    ) -> Result<()> {
        let schema = self.schema;
        if let Some((i, col, want)) = self.check
            && !DecodeRow::decode(row, i, col).is_ok_and(|v| tenant_eq(&v, want))
        {
            return Err(Error::TenantCollation {
                table: schema.name.to_string(),
                column: col.name.clone(),
            });
        }
        if self.wires.is_empty() {
            self.wires = self
                .cols
                .iter()
                .enumerate()
                .map(|(i, col)| CloneRow::plan(row, i, col))
                .collect();
        }
        for ((i, col), wire) in self.cols.iter().enumerate().zip(&self.wires) {
            CloneRow::clone_into(row, i, col, *wire, buf)
                .map_err(|r| unclonable(schema, col, &r))?;
        }
        if !self.digest_cols.is_empty() {
            self.read_digests(row, digests)?;
        }
        buf.end_row();
        Ok(())
    }

    /// Stores the row's digests by its rendered key.
    fn read_digests<R: DecodeRow>(&self, row: &R, digests: &mut Digests) -> Result<()> {
        let schema = self.schema;
        let mut key = Vec::with_capacity(self.key_cols.len());
        for &(i, col) in &self.key_cols {
            let v = DecodeRow::decode(row, i, col).map_err(|r| unclonable(schema, col, &r))?;
            key.push((col.name.clone(), v));
        }
        let mut values = Vec::with_capacity(self.digest_cols.len());
        for (j, col) in self.digest_cols.iter().enumerate() {
            values.push(
                match DecodeRow::decode(row, self.cols.len() + j, col)
                    .map_err(|r| unclonable(schema, col, &r))?
                {
                    Value::Text(d) => Some(d),
                    _ => None,
                },
            );
        }
        digests
            .by_key
            .insert(crate::value::Key(key).render(), values);
        Ok(())
    }
}
