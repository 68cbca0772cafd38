//! What the audit trail is given of a transaction: the rows a commit wrote
//! as production holds them after it (its own text of a decimal, its
//! precision of a timestamp), with the keys it generated, or the rollback of
//! a commit.

use std::collections::HashMap;

use safemodel::Value;

use super::binds::{bind, columns_of, fetch_error, in_list};
use super::{GeneratedKey, Progress, Syncer};
use crate::audit::{AuditEvent, AuditKind};
use crate::diff::{ChangeSet, Key, Op, RowChange};
use crate::error::{Conflict, Result};
use crate::model::ColumnSchema;
use crate::prod::{self, ProdTx};

/// What the audit trail records of a transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Record<'a> {
    /// A commit, row by row.
    Commit,
    /// The rollback of commit `of`.
    Rollback {
        /// The commit undone.
        of: &'a str,
    },
}

impl Syncer<'_> {
    /// The audit event of the transaction (`None` when nothing is audited):
    /// a commit's rows as production now holds them, or the rollback of a
    /// commit.
    pub(super) async fn audit_event(
        &self,
        tx: &mut ProdTx,
        cs: &ChangeSet,
        done: &Progress,
        commit_id: &str,
        record: Record<'_>,
    ) -> Result<Option<AuditEvent>> {
        if !self.audit.is_enabled() {
            return Ok(None);
        }
        let rows: u64 = done
            .written
            .values()
            .map(|c| (c.insert + c.update + c.delete) as u64)
            .sum();
        let kind = match record {
            Record::Commit => {
                let mut applied = applied_changes(cs, &done.skipped, &done.generated);
                self.read_back(tx, &mut applied).await?;
                let applied = ChangeSet::new(applied, Vec::new());
                let mut kind = self.audit.commit(commit_id, &applied, rows);
                if let AuditKind::Commit(record) = &mut kind {
                    for image in &mut record.rows {
                        image.resolved = self
                            .tables
                            .iter()
                            .find(|t| t.schema.name.to_string() == image.table)
                            .map(|t| t.schema.resolved.to_string());
                    }
                }
                kind
            }
            Record::Rollback { of } => AuditKind::Rollback {
                commit_id: of.to_owned(),
                rollback_id: commit_id.to_owned(),
                rows_affected: rows,
            },
        };
        Ok(Some(self.audit.event(kind)))
    }

    /// Replaces the `new` rows of inserts and updates with what production
    /// now holds for them, read in the commit's transaction: the record's
    /// after images must be production's own values (`9.09` stored as
    /// `9.0900000000`, a timestamp cut to the column's precision), or a
    /// rollback's "still as committed" check would see changes that are not.
    async fn read_back(&self, tx: &mut ProdTx, rows: &mut [RowChange]) -> Result<()> {
        let dialect = self.prod.dialect();
        for t in self.tables {
            let name = t.schema.name.to_string();
            let key_cols: Vec<&ColumnSchema> = t.key_columns().collect();
            let mut at: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, c)| c.table == name && c.op != Op::Delete && c.new.is_some())
                .map(|(i, _)| i)
                .collect();
            if at.is_empty() || key_cols.is_empty() {
                continue;
            }
            at.sort_unstable();
            let Some(first) = at
                .first()
                .and_then(|&i| rows.get(i))
                .and_then(|c| c.new.as_ref())
            else {
                continue;
            };
            let cols = columns_of(t, first);
            let names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
            let mut reads: Vec<String> = key_cols
                .iter()
                .map(|c| prod::read_expr(dialect, c))
                .collect();
            reads.extend(cols.iter().map(|c| prod::read_expr(dialect, c)));
            let mut decode: Vec<&ColumnSchema> = key_cols.clone();
            decode.extend(cols.iter().copied());
            let per = (dialect.max_binds() / key_cols.len()).clamp(1, 1_000);
            let fail = |e| fetch_error(format!("reading back {name}"), e);
            for chunk in at.chunks(per) {
                let mut binds = Vec::new();
                let mut tuples = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                for &i in chunk {
                    let Some(c) = rows.get(i) else { continue };
                    let mut exprs = Vec::new();
                    for (col, (_, v)) in key_cols.iter().zip(&c.key.0) {
                        binds.push(bind(dialect, col, v, c)?);
                        exprs.push(prod::value_expr(dialect, col, binds.len()));
                    }
                    tuples.push(exprs);
                    index.insert(c.key.render(), i);
                }
                let sql = format!(
                    "SELECT {} FROM {} WHERE {}",
                    reads.join(", "),
                    prod::qualified(dialect, &t.schema.resolved),
                    in_list(dialect, &names, &tuples)
                );
                for values in tx.fetch(sql, &binds, &decode).await.map_err(fail)? {
                    let (key_values, row_values) =
                        values.split_at(key_cols.len().min(values.len()));
                    let key = Key(key_cols
                        .iter()
                        .map(|c| c.name.clone())
                        .zip(key_values.iter().cloned())
                        .collect());
                    let Some(c) = index.get(&key.render()).and_then(|&i| rows.get_mut(i)) else {
                        continue;
                    };
                    if let Some(new) = c.new.as_mut() {
                        for (col, v) in cols.iter().zip(row_values) {
                            if let Some(pos) = new.position(&col.name)
                                && let Some(slot) = new.values_mut().get_mut(pos)
                            {
                                *slot = v.clone();
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The changes a commit wrote: without the rows skipped for conflicts, and
/// with the keys production generated in place of provisional ones.
fn applied_changes(
    cs: &ChangeSet,
    skipped: &[Conflict],
    generated: &[GeneratedKey],
) -> Vec<RowChange> {
    cs.changes()
        .iter()
        .filter(|c| !skipped.iter().any(|k| k.table == c.table && k.key == c.key))
        .map(|c| {
            let mut c = c.clone();
            if c.op == Op::Insert {
                for g in generated.iter().filter(|g| g.table == c.table) {
                    let provisional = Value::Int(g.provisional);
                    let is_it = c.new.as_ref().and_then(|r| r.get(&g.column)) == Some(&provisional);
                    if !is_it {
                        continue;
                    }
                    if let Some(new) = c.new.as_mut()
                        && let Some(at) = new.position(&g.column)
                        && let Some(v) = new.values_mut().get_mut(at)
                    {
                        *v = Value::Int(g.assigned);
                    }
                    for (name, v) in &mut c.key.0 {
                        if *name == g.column {
                            *v = Value::Int(g.assigned);
                        }
                    }
                }
            }
            c
        })
        .collect()
}
