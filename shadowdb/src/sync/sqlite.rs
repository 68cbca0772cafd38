//! SQLite's batch of updates or deletes: read the rows, compare in Rust,
//! then write the rows still as cloned.
//!
//! Values are dynamically typed in SQLite, so one instant or UUID can be
//! stored in several text forms and a SQL comparison with the cloned value
//! would not be exact. The batch's rows are read instead, decoded as the
//! clone decoded them and compared value by value, under the write lock the
//! transaction took at `BEGIN IMMEDIATE` (no other writer until commit); then
//! one statement writes the rows that are still as cloned, `WHERE` key and
//! tenant, and `RETURNING` names them.

use std::collections::HashMap;

use safemodel::Value;

use super::Syncer;
use super::apply::{Batch, not_unique, once_each, row_binds, same};
use super::shape::Shape;
use crate::diff::{Key, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::model::ColumnSchema;
use crate::prod::ProdTx;
use crate::types::Dialect;

impl Syncer<'_> {
    /// The batch on SQLite: the rows read and compared, then those still as
    /// cloned written in one statement.
    pub(super) async fn sqlite_batch(
        &self,
        tx: &mut ProdTx,
        b: &Batch<'_, '_>,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let now = read_now(tx, b).await?;
        let still = still_as_cloned(b, now, conflicts);
        if still.is_empty() {
            return Ok(0);
        }
        write_still(tx, b, &still).await
    }
}

/// The batch's rows as production holds them now (the guarded columns),
/// aligned with the batch; `None` where a row is gone.
async fn read_now(tx: &mut ProdTx, b: &Batch<'_, '_>) -> Result<Vec<Option<Vec<Value>>>> {
    let (dialect, shape, chunk) = (Dialect::Sqlite, b.shape, b.chunk);
    let index = index_of(chunk);
    let keys_only = Shape {
        sets: Vec::new(),
        guards: Vec::new(),
        ..shape.clone()
    };
    let mut binds = Vec::with_capacity(chunk.len() * keys_only.width() + 1);
    for c in chunk {
        binds.extend(row_binds(dialect, &keys_only, c)?);
    }
    binds.extend(b.tenant.iter().cloned());
    let read: Vec<&ColumnSchema> = shape
        .all_keys
        .iter()
        .chain(&shape.guards)
        .copied()
        .collect();
    let rows = tx
        .fetch(
            keys_only.select_sql(dialect, chunk.len(), &read),
            &binds,
            &read,
        )
        .await
        .map_err(|e| b.fail(e))?;
    let mut now: Vec<Option<Vec<Value>>> = vec![None; chunk.len()];
    for row in rows {
        let mut values = row.into_iter();
        let at = at_key(
            shape,
            &index,
            &mut values.by_ref().take(shape.all_keys.len()),
        );
        match at.and_then(|i| now.get_mut(i)) {
            Some(slot @ None) => *slot = Some(values.collect()),
            _ => return Err(Error::Conflict(vec![not_unique(b.first)])),
        }
    }
    Ok(now)
}

/// The changes whose rows are still as cloned; the others are conflicts
/// (gone, or naming the columns that moved).
fn still_as_cloned<'b>(
    b: &Batch<'b, '_>,
    now: Vec<Option<Vec<Value>>>,
    conflicts: &mut Vec<Conflict>,
) -> Vec<&'b RowChange> {
    let mut still = Vec::with_capacity(b.chunk.len());
    for (c, now) in b.chunk.iter().zip(now) {
        let old = c.old.as_ref();
        let moved: Vec<String> = match &now {
            None => {
                conflicts.push(Conflict {
                    table: c.table.clone(),
                    key: c.key.clone(),
                    kind: ConflictKind::Gone,
                });
                continue;
            }
            Some(values) => b
                .shape
                .guards
                .iter()
                .zip(values)
                .filter(|(col, v)| !same(old.and_then(|o| o.get(&col.name)), v))
                .map(|(col, _)| col.name.clone())
                .collect(),
        };
        if moved.is_empty() {
            still.push(*c);
        } else {
            conflicts.push(Conflict {
                table: c.table.clone(),
                key: c.key.clone(),
                kind: ConflictKind::Changed { columns: moved },
            });
        }
    }
    still
}

/// Writes `still` by key and tenant; every one of them must be written.
async fn write_still(tx: &mut ProdTx, b: &Batch<'_, '_>, still: &[&RowChange]) -> Result<usize> {
    let (dialect, shape) = (Dialect::Sqlite, b.shape);
    let write = Shape {
        guards: Vec::new(),
        ..shape.clone()
    };
    let mut binds = Vec::with_capacity(still.len() * write.width() + 1);
    for c in still {
        binds.extend(row_binds(dialect, &write, c)?);
    }
    binds.extend(b.tenant.iter().cloned());
    let rows = tx
        .fetch(
            write.sql(dialect, b.op, still.len(), &[]),
            &binds,
            &shape.all_keys,
        )
        .await
        .map_err(|e| b.fail(e))?;
    let index = index_of(still);
    let hits = rows
        .into_iter()
        .map(|values| at_key(shape, &index, &mut values.into_iter()));
    let written = once_each(hits, still)?;
    // Every row read as unchanged is written: the lock held since BEGIN
    // IMMEDIATE lets no other writer in between.
    if written.iter().any(|w| !w) {
        return Err(Error::Conflict(vec![not_unique(b.first)]));
    }
    Ok(still.len())
}

/// Where each change is in `changes`, by its rendered key.
fn index_of(changes: &[&RowChange]) -> HashMap<String, usize> {
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.render(), i))
        .collect()
}

/// The change whose key `values` (the key columns', in order) hold.
fn at_key(
    shape: &Shape<'_>,
    index: &HashMap<String, usize>,
    values: &mut dyn Iterator<Item = Value>,
) -> Option<usize> {
    let key = Key(shape
        .all_keys
        .iter()
        .map(|c| c.name.clone())
        .zip(values)
        .collect());
    index.get(&key.render()).copied()
}
