//! Foreign keys from a scoped table onto a tenant's table outside the scope.
//!
//! The sandbox holds no rows of such a parent, so it cannot tell whether a
//! written reference points at one of the tenant's rows. At commit, in the
//! transaction, every inserted or re-pointed reference is looked up in the
//! parent under the tenant (compared byte for byte) and the rows found are
//! locked until the commit ends; a reference not found is a tenant breach
//! that says the same whether the row is absent or another tenant's.

use std::collections::HashSet;

use safemodel::{Value, registry};

use super::Syncer;
use super::binds::{bind, exact_eq_bound, fetch_error, in_list};
use crate::diff::{ChangeSet, Key, Op, RowChange};
use crate::error::{Error, Result};
use crate::model::{ColumnSchema, TableName};
use crate::prod::{self, ProdTx, Production};
use crate::scope::Scoped;
use crate::types::Dialect;

/// One foreign key of a scoped table onto a tenant table outside the scope.
#[derive(Debug, Clone)]
pub(crate) struct OutsideRef {
    /// Index of the scoped (child) table.
    pub table: usize,
    /// The child's columns.
    pub columns: Vec<String>,
    /// The parent as named by the foreign key (for errors).
    pub parent_name: String,
    /// The parent as production resolved it.
    pub parent: TableName,
    /// The parent's referenced columns, in the key's order.
    pub ref_cols: Vec<ColumnSchema>,
    /// The parent's tenant column.
    pub tenant: ColumnSchema,
}

/// The foreign keys of `tables` onto tables outside the scope: those whose
/// parent has a tenant column (the child's tenant column name, or the
/// parent's contract's) are checked at commit; the others are added to
/// their table's `not_enforced`.
pub(crate) async fn outside_refs(
    prod: &Production,
    tables: &mut [Scoped],
    given: &[(TableName, String)],
) -> Result<Vec<OutsideRef>> {
    let scoped: HashSet<TableName> = tables.iter().map(|t| t.schema.resolved.clone()).collect();
    let mut out = Vec::new();
    for (i, t) in tables.iter_mut().enumerate() {
        if t.read_only {
            continue;
        }
        let Some(tenant_name) = t.tenant_column().map(|c| c.name.clone()) else {
            continue;
        };
        let mut notes = Vec::new();
        for fk in &t.schema.foreign_keys {
            if scoped.contains(&t.schema.resolve_other(&fk.ref_table)) {
                continue;
            }
            let parent = t.schema.resolve_other(&fk.ref_table);
            let cols = fk.columns.join(", ");
            let Some(ps) = crate::reflect::reflect(prod, &parent).await? else {
                notes.push(format!(
                    "foreign key ({cols}) onto `{}` (outside the scope, not found): the referenced row's tenant is not checked",
                    fk.ref_table
                ));
                continue;
            };
            let contract_tenant = registry()
                .get(&fk.ref_table.to_string())
                .ok()
                .flatten()
                .map(|m| m.info().tenant.to_owned());
            // Named for the parent, else the child's tenant column name, else
            // the parent's contract's.
            let named = given
                .iter()
                .find(|(n, _)| *n == fk.ref_table || t.schema.resolve_other(n) == parent)
                .map(|(_, c)| c.as_str());
            let tenant = match named {
                Some(c) => ps.column(c),
                None => ps
                    .column(&tenant_name)
                    .or_else(|| contract_tenant.as_deref().and_then(|c| ps.column(c))),
            }
            .cloned();
            let ref_cols: Vec<ColumnSchema> = fk
                .ref_columns
                .iter()
                .filter_map(|c| ps.column(c).cloned())
                .collect();
            match tenant {
                Some(tenant) if ref_cols.len() == fk.columns.len() => out.push(OutsideRef {
                    table: i,
                    columns: fk.columns.clone(),
                    parent_name: fk.ref_table.to_string(),
                    parent: ps.resolved.clone(),
                    ref_cols,
                    tenant,
                }),
                _ => notes.push(format!(
                    "foreign key ({cols}) onto `{}` (outside the scope, no tenant column): the referenced row's tenant is not checked",
                    fk.ref_table
                )),
            }
        }
        t.schema.not_enforced.extend(notes);
    }
    Ok(out)
}

impl Syncer<'_> {
    /// Every inserted row, and every updated row whose reference changed,
    /// references one of the tenant's rows of each outside parent.
    pub(super) async fn check_outside(&self, tx: &mut ProdTx, cs: &ChangeSet) -> Result<()> {
        for r in self.outside_refs {
            let Some(t) = self.tables.get(r.table) else {
                continue;
            };
            let name = t.schema.name.to_string();
            let rows = references(cs, r, &name);
            self.check_references(tx, r, &name, &rows).await?;
        }
        Ok(())
    }

    /// Each of `rows` (a change and the values of its reference) references
    /// one of the tenant's rows of `r`'s parent, which is locked.
    async fn check_references(
        &self,
        tx: &mut ProdTx,
        r: &OutsideRef,
        name: &str,
        rows: &[(&RowChange, Vec<Value>)],
    ) -> Result<()> {
        let dialect = self.prod.dialect();
        let per = (dialect.max_binds() / (r.columns.len() + 1)).clamp(1, 1_000);
        let names: Vec<String> = r.ref_cols.iter().map(|c| c.name.clone()).collect();
        let lhs: Vec<String> = r.ref_cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let reads: Vec<String> = r
            .ref_cols
            .iter()
            .map(|c| prod::read_expr(dialect, c))
            .collect();
        let decode: Vec<&ColumnSchema> = r.ref_cols.iter().collect();
        for chunk in rows.chunks(per) {
            let Some((first, _)) = chunk.first() else {
                continue;
            };
            let mut binds = Vec::new();
            let mut tuples = Vec::new();
            for (c, values) in chunk {
                let mut exprs = Vec::new();
                for (col, v) in r.ref_cols.iter().zip(values) {
                    binds.push(bind(dialect, col, v, c)?);
                    exprs.push(prod::value_expr(dialect, col, binds.len()));
                }
                tuples.push(exprs);
            }
            let tenant_eq = exact_eq_bound(dialect, &r.tenant, self.tenant, first, &mut binds)?;
            let lock = match dialect {
                Dialect::Postgres => " FOR SHARE",
                Dialect::MySql => " LOCK IN SHARE MODE",
                Dialect::Sqlite => "",
            };
            let sql = format!(
                "SELECT {} FROM {} WHERE {} AND {tenant_eq}{lock}",
                reads.join(", "),
                prod::qualified(dialect, &r.parent),
                in_list(dialect, &lhs, &tuples)
            );
            let found: HashSet<String> = tx
                .fetch(sql, &binds, &decode)
                .await
                .map_err(|e| fetch_error(format!("tenant check of {name} references"), e))?
                .into_iter()
                .map(|values| Key(names.iter().cloned().zip(values).collect()).render())
                .collect();
            for (c, values) in chunk {
                let wanted = Key(names.iter().cloned().zip(values.iter().cloned()).collect());
                if !found.contains(&wanted.render()) {
                    return Err(Error::TenantBreach {
                        table: c.table.clone(),
                        key: c.key.render(),
                        reason: format!(
                            "({}) does not reference a row of `{}` of this tenant",
                            r.columns.join(", "),
                            r.parent_name
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The changes of table `name` that write a reference of `r` (inserts, and
/// updates of its columns), with the reference's values; a reference with
/// a NULL part references nothing (MATCH SIMPLE) and is left out.
fn references<'c>(
    cs: &'c ChangeSet,
    r: &OutsideRef,
    name: &str,
) -> Vec<(&'c RowChange, Vec<Value>)> {
    cs.changes()
        .iter()
        .filter(|c| c.table == name)
        .filter(|c| match c.op {
            Op::Insert => true,
            Op::Update => r.columns.iter().any(|col| c.changed.contains(col)),
            Op::Delete => false,
        })
        .filter_map(|c| {
            let new = c.new.as_ref()?;
            let values: Vec<Value> = r
                .columns
                .iter()
                .map(|col| new.get(col).cloned().unwrap_or(Value::Null))
                .collect();
            (!values.iter().any(Value::is_null)).then_some((c, values))
        })
        .collect()
}
