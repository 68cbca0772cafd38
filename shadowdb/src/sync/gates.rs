//! The gates a changeset passes before it is written: the tenant of every
//! row, the contracts, policy and approval (before the transaction); and,
//! inside it, no cascade onto rows outside the changeset and no PII column
//! changed since the clone.

use safemodel::{Row, RowViolations, Value};

use super::binds::{bind, exact_eq_bound, fetch_error, in_list, key_from, key_tuples, tenant_col};
use super::{CommitOptions, Syncer};
use crate::approve::{ApprovalDecision, ApprovalRequest, request_approval};
use crate::audit::AuditKind;
use crate::diff::{ChangeSet, Op, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::model::{ColumnSchema, FkAction};
use crate::policy::Decision;
use crate::prod::{self, Digests, ProdTx};
use crate::scope::{Scoped, tenant_eq};

impl Syncer<'_> {
    /// Gate 1: every written row carries the tenant; no row changes tenant.
    pub(super) fn gate_tenant(&self, cs: &ChangeSet) -> Result<()> {
        let names: Vec<(String, &Scoped)> = self
            .tables
            .iter()
            .map(|t| (t.schema.name.to_string(), t))
            .collect();
        for c in cs.changes() {
            let Some(t) = names.iter().find(|(n, _)| *n == c.table).map(|(_, t)| *t) else {
                return Err(Error::TenantBreach {
                    table: c.table.clone(),
                    key: c.key.render(),
                    reason: "table is not in scope".into(),
                });
            };
            if t.read_only {
                return Err(Error::TenantBreach {
                    table: c.table.clone(),
                    key: c.key.render(),
                    reason: "table is read-only context".into(),
                });
            }
            let Some(tc) = t.tenant_column() else {
                continue;
            };
            fn get<'r>(r: Option<&'r Row>, name: &str) -> Option<&'r Value> {
                r.and_then(|r| r.get(name))
            }
            let breach = |reason: &str| Error::TenantBreach {
                table: c.table.clone(),
                key: c.key.render(),
                reason: reason.to_owned(),
            };
            match c.op {
                Op::Insert
                    if !get(c.new.as_ref(), &tc.name)
                        .is_some_and(|v| tenant_eq(v, self.tenant)) =>
                {
                    return Err(breach("inserts a row for another tenant"));
                }
                Op::Update
                    if !get(c.new.as_ref(), &tc.name)
                        .is_some_and(|v| tenant_eq(v, self.tenant)) =>
                {
                    return Err(breach("moves the row to another tenant"));
                }
                Op::Update | Op::Delete
                    if !get(c.old.as_ref(), &tc.name)
                        .is_some_and(|v| tenant_eq(v, self.tenant)) =>
                {
                    return Err(breach("the row was not this tenant's"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Gate 3: policy decisions on the statements and the changeset, and
    /// approval: given with the options, else asked of the approver, else
    /// refused. Returns who approved, when approval was needed.
    pub(super) async fn gate_policy(
        &self,
        cs: &ChangeSet,
        opts: &CommitOptions,
    ) -> Result<Option<String>> {
        let hits = self.origin.changeset_hits(cs);
        let blocked: Vec<String> = hits
            .iter()
            .filter(|h| h.decision == Decision::Block)
            .map(|h| h.reason.clone())
            .collect();
        if !blocked.is_empty() {
            return Err(Error::PolicyBlocked(blocked));
        }
        let mut reasons = self.origin.statement_approvals();
        reasons.extend(
            hits.iter()
                .filter(|h| h.decision == Decision::RequireApproval)
                .map(|h| h.reason.clone()),
        );
        let mut seen = std::collections::HashSet::new();
        reasons.retain(|r| seen.insert(r.clone()));
        if reasons.is_empty() {
            return Ok(None);
        }
        let tenant = self.tenant.to_string();
        if let Some(given) = &opts.approval {
            // The caller asked someone itself (the CLI's prompt): on the record.
            let request = ApprovalRequest::new(self.actor, tenant, reasons);
            let decision = ApprovalDecision::Approved {
                by: given.approved_by.clone(),
            };
            self.audit
                .record(AuditKind::approval_requested(&request))
                .await?;
            self.audit
                .record(AuditKind::approval_decided(&request, &decision))
                .await?;
            return Ok(Some(given.approved_by.clone()));
        }
        let Some(approver) = self.approver else {
            return Err(Error::NeedsApproval(reasons));
        };
        let review = self.origin.review(cs);
        let request = ApprovalRequest::for_review(&review, self.actor, tenant)
            .with_timeout(self.approval_timeout);
        self.audit
            .record(AuditKind::approval_requested(&request))
            .await?;
        let decision = request_approval(approver, &request).await?;
        self.audit
            .record(AuditKind::approval_decided(&request, &decision))
            .await?;
        decision.into_result(&request).map(Some)
    }

    /// Compares production's digest of every PII column of each updated or
    /// deleted row with the one taken at the clone, locking the rows (`FOR
    /// UPDATE`) so none can change before the commit. A row whose digest
    /// moved is a conflict naming the columns (never a value); the returned
    /// `(table, key)` pairs are left out of the writes. A row gone or moved
    /// to another tenant is left to the guards.
    pub(super) async fn check_pii(
        &self,
        tx: &mut ProdTx,
        cs: &ChangeSet,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<std::collections::HashSet<(String, String)>> {
        let dialect = self.prod.dialect();
        let mut moved = std::collections::HashSet::new();
        for t in self.tables {
            let name = t.schema.name.to_string();
            let Some(digests) = self.pii_digests.get(&name) else {
                continue;
            };
            let rows: Vec<&RowChange> = cs
                .changes()
                .iter()
                .filter(|c| c.table == name && matches!(c.op, Op::Update | Op::Delete))
                .collect();
            let key_cols: Vec<&ColumnSchema> = t.key_columns().collect();
            if rows.is_empty() || key_cols.is_empty() || digests.cols.is_empty() {
                continue;
            }
            let names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
            let mut reads: Vec<String> = key_cols
                .iter()
                .map(|c| prod::read_expr(dialect, c))
                .collect();
            reads.extend(
                digests
                    .cols
                    .iter()
                    .filter_map(|c| prod::digest_of(dialect, c)),
            );
            let digest_cols: Vec<ColumnSchema> =
                digests.cols.iter().map(prod::digest_col).collect();
            let mut decode: Vec<&ColumnSchema> = key_cols.clone();
            decode.extend(digest_cols.iter());
            let fail = |e| fetch_error(format!("PII check of {name}"), e);
            let per = (dialect.max_binds().saturating_sub(2) / key_cols.len()).clamp(1, 1_000);
            for chunk in rows.chunks(per) {
                let mut binds = Vec::new();
                let tuples = key_tuples(dialect, &key_cols, chunk, &mut binds)?;
                let mut sql = format!(
                    "SELECT {} FROM {} WHERE {}",
                    reads.join(", "),
                    prod::qualified(dialect, &t.schema.resolved),
                    in_list(dialect, &names, &tuples)
                );
                if let (Some(tc), Some(first)) = (tenant_col(t), chunk.first()) {
                    sql.push_str(" AND ");
                    sql.push_str(&exact_eq_bound(
                        dialect,
                        tc,
                        self.tenant,
                        first,
                        &mut binds,
                    )?);
                }
                sql.push_str(" FOR UPDATE");
                for values in tx.fetch(sql, &binds, &decode).await.map_err(fail)? {
                    let (key_values, now) = values.split_at(key_cols.len().min(values.len()));
                    let key = key_from(&key_cols, key_values.to_vec());
                    let text = key.render();
                    let columns = digests_moved(digests, &text, now);
                    if !columns.is_empty() && moved.insert((name.clone(), text)) {
                        conflicts.push(Conflict {
                            table: name.clone(),
                            key,
                            kind: ConflictKind::Changed { columns },
                        });
                    }
                }
            }
        }
        Ok(moved)
    }

    /// Refuses deletes (and updates of referenced columns) that production
    /// would cascade onto rows outside the changeset: rows of a table out of
    /// scope, or another tenant's rows of a scoped one. One query per
    /// referencing foreign key and batch; a hit is then narrowed to its row.
    pub(super) async fn check_cascades(&self, tx: &mut ProdTx, cs: &ChangeSet) -> Result<()> {
        for t in self.tables {
            let name = t.schema.name.to_string();
            for r in &t.schema.referenced_by {
                let fk = &r.foreign_key;
                let touching: Vec<&RowChange> = cs
                    .changes()
                    .iter()
                    .filter(|c| c.table == name)
                    .filter(|c| match c.op {
                        Op::Delete => fk.on_delete != FkAction::Restrict,
                        Op::Update => {
                            fk.on_update != FkAction::Restrict
                                && fk.ref_columns.iter().any(|rc| c.changed.contains(rc))
                        }
                        Op::Insert => false,
                    })
                    .collect();
                let per =
                    (self.prod.dialect().max_binds() / (fk.columns.len() + 1)).clamp(1, 1_000);
                for chunk in touching.chunks(per) {
                    if !self.cascade_hits(tx, t, r, chunk).await? {
                        continue;
                    }
                    for c in chunk {
                        if self.cascade_hits(tx, t, r, std::slice::from_ref(c)).await? {
                            return Err(Error::Cascade {
                                table: c.table.clone(),
                                key: c.key.render(),
                                op: c.op.sql_verb().to_owned(),
                                referencing_table: r.table.to_string(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether rows of `r.table` outside the changeset reference any of the
    /// cloned rows of `changes`.
    async fn cascade_hits(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        r: &crate::model::Referencing,
        changes: &[&RowChange],
    ) -> Result<bool> {
        let dialect = self.prod.dialect();
        let fk = &r.foreign_key;
        let Some(first) = changes.first() else {
            return Ok(false);
        };
        let pcols: Vec<&ColumnSchema> = fk
            .ref_columns
            .iter()
            .filter_map(|pc| t.schema.column(pc))
            .collect();
        if pcols.len() != fk.columns.len() {
            return Ok(false);
        }
        let mut binds = Vec::new();
        let mut tuples = Vec::new();
        for c in changes {
            let Some(old) = &c.old else { continue };
            let mut exprs = Vec::new();
            for pcol in &pcols {
                let v = old.get(&pcol.name).cloned().unwrap_or(Value::Null);
                binds.push(bind(dialect, pcol, &v, c)?);
                exprs.push(prod::value_expr(dialect, pcol, binds.len()));
            }
            tuples.push(exprs);
        }
        let lhs: Vec<String> = fk.columns.iter().map(|fc| dialect.quote(fc)).collect();
        let mut sql = format!(
            "SELECT 1 FROM {} WHERE {}",
            prod::qualified(dialect, &t.schema.resolve_other(&r.table)),
            in_list(dialect, &lhs, &tuples)
        );
        // A scoped child's rows of this tenant are in the sandbox, which
        // mirrors the cascade in the changeset; only other tenants' rows
        // (NULL included) would be touched.
        let child = self.tables.iter().find(|o| o.schema.name == r.table);
        if let Some(tc) = child.and_then(tenant_col) {
            // Byte for byte: a row of `'ACME'` is not this tenant's `'acme'`
            // row, whatever the column's collation says.
            let eq = exact_eq_bound(dialect, tc, self.tenant, first, &mut binds)?;
            sql.push_str(&format!(
                " AND ({} IS NULL OR NOT ({eq}))",
                dialect.quote(&tc.name)
            ));
        }
        sql.push_str(" LIMIT 1");
        let rows = tx
            .fetch(sql, &binds, &[])
            .await
            .map_err(|e| fetch_error(format!("cascade check of {}", first.table), e))?;
        Ok(!rows.is_empty())
    }
}

/// The tenant column of a scoped table.
/// Gate 2: every new or changed row passed its contract (all violations of
/// all rows are reported).
pub(crate) fn gate_contract(cs: &ChangeSet) -> Result<()> {
    let broken: Vec<RowViolations> = cs
        .changes()
        .iter()
        .filter(|c| !c.violations.is_empty())
        .map(|c| RowViolations {
            table: c.table.clone(),
            key: c.key.render(),
            violations: c.violations.clone(),
        })
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(Error::Contract(broken))
    }
}

/// The PII columns of the row keyed `key` whose digest in production
/// (`now`) is not the one taken at the clone (all of them for a row the
/// clone did not see).
fn digests_moved(digests: &Digests, key: &str, now: &[Value]) -> Vec<String> {
    let cloned = digests.by_key.get(key);
    digests
        .cols
        .iter()
        .enumerate()
        .filter(|(j, _)| {
            let then = cloned.and_then(|d| d.get(*j)).and_then(Option::as_deref);
            let now = match now.get(*j) {
                Some(Value::Text(d)) => Some(d.as_str()),
                _ => None,
            };
            cloned.is_none() || then != now
        })
        .map(|(_, c)| c.name.clone())
        .collect()
}
