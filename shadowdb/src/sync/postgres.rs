//! PostgreSQL's batch of updates or deletes: one statement whose values are
//! one array per column, `RETURNING` the ordinal of each row written.

use safemodel::Value;

use super::Syncer;
use super::apply::{Batch, once_each};
use super::shape::{Part, part_bind, part_value};
use crate::diff::RowChange;
use crate::error::{Conflict, Error, Result};
use crate::model::ColumnSchema;
use crate::prod::{self, BindArray, PgParam, ProdTx};
use crate::types::{ColumnKind, Dialect};

impl Syncer<'_> {
    /// PostgreSQL: one statement per batch, its values in one array per
    /// column, whose `RETURNING` names the rows it wrote; the others failed
    /// their guard (conflicts).
    pub(super) async fn pg_batch(
        &self,
        tx: &mut ProdTx,
        b: &Batch<'_, '_>,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let chunk = b.chunk;
        let parts: Vec<Part<'_>> = b.shape.parts().collect();
        let arrays = pg_arrays(&parts, chunk, &b.what())?;
        let types: Vec<&str> = arrays.iter().map(BindArray::pg_type).collect();
        let sql = b.shape.sql(Dialect::Postgres, b.op, chunk.len(), &types);
        let mut params: Vec<PgParam<'_>> = arrays.iter().map(PgParam::Many).collect();
        params.extend(b.tenant.iter().map(PgParam::One));
        let rows = tx
            .fetch_pg(sql, &params, &[&ordinal_col()])
            .await
            .map_err(|e| b.fail(e))?;
        // Which change each returned row belongs to (ordinals count from 1).
        let hits = rows.iter().map(|r| match r.first() {
            Some(Value::Int(i)) => i.checked_sub(1).and_then(|i| usize::try_from(i).ok()),
            _ => None,
        });
        let written = once_each(hits, chunk)?;
        let mut done = 0;
        for (c, w) in chunk.iter().zip(written) {
            if w {
                done += 1;
            } else if let Some(old) = &c.old {
                conflicts.push(self.diagnose(tx, b.t, c, old).await?);
            }
        }
        Ok(done)
    }
}

/// The arrays of a PostgreSQL batch, one per part; a value bound as its own
/// text is borrowed from the changeset, not copied. Large batches build half
/// of them on a second thread: the work is per column, and the database
/// waits for it.
pub(super) fn pg_arrays<'a>(
    parts: &[Part<'_>],
    chunk: &[&'a RowChange],
    what: &str,
) -> Result<Vec<BindArray<'a>>> {
    let build = |part: &Part<'_>| -> Result<BindArray<'a>> {
        let mut at = None;
        let mut elems = Vec::with_capacity(chunk.len());
        for &c in chunk {
            let (col, value) = part_value(*part, c, &mut at);
            let guard = matches!(part, Part::Guard(_));
            elems.push(
                match prod::text_bind(Dialect::Postgres, col, value, guard) {
                    Some(Ok(text)) => prod::Elem::Text(text),
                    // The bind fails the same way, with the error it maps to.
                    Some(Err(_)) | None => {
                        prod::Elem::Bind(part_bind(Dialect::Postgres, *part, c, &mut at)?)
                    }
                },
            );
        }
        BindArray::gather_elems(elems).map_err(|e| Error::Decode {
            context: format!("{what}, column {}", part.col().name),
            reason: e.0,
        })
    };
    if chunk.len() < 2_000 || parts.len() < 2 {
        return parts.iter().map(build).collect();
    }
    let (left, right) = parts.split_at(parts.len() / 2);
    std::thread::scope(|s| {
        let other = s.spawn(|| left.iter().map(build).collect::<Result<Vec<_>>>());
        let mine = right.iter().map(build).collect::<Result<Vec<_>>>();
        let mut all = other
            .join()
            .map_err(|_| Error::Sandbox("building a batch failed".into()))??;
        all.extend(mine?);
        Ok(all)
    })
}

/// The column `RETURNING` gives the ordinal of a row of a PostgreSQL batch in.
fn ordinal_col() -> ColumnSchema {
    ColumnSchema {
        name: "__sdb_ord".to_owned(),
        declared_type: "bigint".to_owned(),
        kind: ColumnKind::Int64,
        nullable: false,
        has_default: false,
        generated: false,
        computed: false,
    }
}
