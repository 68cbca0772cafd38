//! The one moment production changes: gates, then one transaction.
//!
//! Gates, in order, each stopping everything before production is touched:
//! the reviewed changeset must equal a fresh diff; every written row carries
//! the tenant (and no update moves a row to another); every new or changed
//! row passes its contract and what production accepts for each column;
//! policy blocks and approvals. Then one transaction: inserts (parents first,
//! after checking no key is taken, whoever owns it), updates and deletes
//! `WHERE key AND tenant AND every cloned column is still as cloned`, each of
//! which must touch exactly one row. Anything else rolls everything back.
//!
//! After a successful commit the sandbox's baseline is production's new
//! state (a fresh `diff()` is empty) and the `ShadowDb` refuses a second
//! commit: open a new one for further work.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use safemodel::{Row, RowViolations, Value};

use crate::diff::{ChangeSet, Counts, Op, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::policy::Decision;
use crate::prod::{self, Bind, FetchError, ProdTx};
use crate::schema::{ColumnSchema, FkAction};
use crate::shadow::{Scoped, ShadowDb, tenant_eq};
use crate::types::Dialect;

/// What to do with rows that conflict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Roll everything back and report every conflict (default).
    #[default]
    Abort,
    /// Leave the conflicting rows out, list them, commit the rest atomically.
    Skip,
}

/// An approval given to a changeset that needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Who approved.
    pub approved_by: String,
}

/// Options of [`ShadowDb::commit_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CommitOptions {
    /// Conflict handling.
    pub on_conflict: OnConflict,
    /// The approval, when policy requires one.
    pub approval: Option<Approval>,
}

impl CommitOptions {
    /// Default options.
    #[must_use]
    pub fn new() -> Self {
        CommitOptions::default()
    }

    /// Sets conflict handling.
    #[must_use]
    pub fn on_conflict(mut self, mode: OnConflict) -> Self {
        self.on_conflict = mode;
        self
    }

    /// Attaches an approval.
    #[must_use]
    pub fn approved_by(mut self, who: impl Into<String>) -> Self {
        self.approval = Some(Approval {
            approved_by: who.into(),
        });
        self
    }
}

/// A key production generated for a row inserted with a provisional one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The table.
    pub table: String,
    /// The key column.
    pub column: String,
    /// The sandbox's provisional key.
    pub provisional: i64,
    /// Production's key.
    pub assigned: i64,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitReport {
    /// The commit's id.
    pub commit_id: String,
    /// Rows written per table and operation.
    pub rows: BTreeMap<String, Counts>,
    /// Keys production assigned to inserted rows.
    pub generated_keys: Vec<GeneratedKey>,
    /// Rows left out in [`OnConflict::Skip`] mode.
    pub skipped: Vec<Conflict>,
    /// Time taken.
    pub elapsed: Duration,
}

impl ShadowDb {
    /// Commits the reviewed changeset with default options.
    ///
    /// # Errors
    /// See [`ShadowDb::commit_with`].
    pub async fn commit(&mut self, reviewed: &ChangeSet) -> Result<CommitReport> {
        self.commit_with(reviewed, CommitOptions::default()).await
    }

    /// Commits `reviewed` to production in one transaction, or nothing.
    ///
    /// # Errors
    /// [`Error::AlreadyCommitted`], [`Error::ChangeSetChanged`],
    /// [`Error::TenantBreach`], [`Error::Contract`], [`Error::PolicyBlocked`],
    /// [`Error::NeedsApproval`], [`Error::Cascade`], [`Error::Conflict`],
    /// [`Error::Database`]. Production is untouched in every case.
    pub async fn commit_with(&mut self, reviewed: &ChangeSet, opts: CommitOptions) -> Result<CommitReport> {
        let started = Instant::now();
        if let Some(id) = &self.committed {
            return Err(Error::AlreadyCommitted { commit_id: id.clone() });
        }
        let current = self.diff()?;
        if &current != reviewed {
            return Err(Error::ChangeSetChanged);
        }
        self.gate_tenant(&current)?;
        let broken: Vec<RowViolations> = current
            .changes()
            .iter()
            .filter(|c| !c.violations.is_empty())
            .map(|c| RowViolations {
                table: c.table.clone(),
                key: c.key.render(),
                violations: c.violations.clone(),
            })
            .collect();
        if !broken.is_empty() {
            return Err(Error::Contract(broken));
        }
        self.gate_policy(&current, &opts)?;

        let report = self.apply(&current, &opts, started).await?;
        self.sandbox()?.rebase()?;
        self.committed = Some(report.commit_id.clone());
        tracing::info!(commit_id = %report.commit_id, rows = current.len(), "committed");
        Ok(report)
    }

    fn scoped(&self, table: &str) -> Option<&Scoped> {
        self.tables.iter().find(|t| t.schema.name.to_string() == table)
    }

    /// Gate 1: every written row carries the tenant; no row changes tenant.
    fn gate_tenant(&self, cs: &ChangeSet) -> Result<()> {
        for c in cs.changes() {
            let Some(t) = self.scoped(&c.table) else {
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
            let Some(tc) = t.tenant_col.and_then(|i| t.schema.columns.get(i)) else {
                continue;
            };
            let get = |r: &Option<Row>| r.as_ref().and_then(|r| r.get(&tc.name)).cloned();
            let breach = |reason: &str| Error::TenantBreach {
                table: c.table.clone(),
                key: c.key.render(),
                reason: reason.to_owned(),
            };
            match c.op {
                Op::Insert if !get(&c.new).is_some_and(|v| tenant_eq(&v, &self.tenant)) => {
                    return Err(breach("inserts a row for another tenant"));
                }
                Op::Update if !get(&c.new).is_some_and(|v| tenant_eq(&v, &self.tenant)) => {
                    return Err(breach("moves the row to another tenant"));
                }
                Op::Update | Op::Delete if !get(&c.old).is_some_and(|v| tenant_eq(&v, &self.tenant)) => {
                    return Err(breach("the row was not this tenant's"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Gate 3: policy decisions on the statements and the changeset, and approval.
    fn gate_policy(&self, cs: &ChangeSet, opts: &CommitOptions) -> Result<()> {
        let hits = self.policy.check_changeset(cs);
        let blocked: Vec<String> = hits
            .iter()
            .filter(|h| h.decision == Decision::Block)
            .map(|h| h.reason.clone())
            .collect();
        if !blocked.is_empty() {
            return Err(Error::PolicyBlocked(blocked));
        }
        let mut approvals = self.statement_approvals();
        approvals.extend(
            hits.iter()
                .filter(|h| h.decision == Decision::RequireApproval)
                .map(|h| h.reason.clone()),
        );
        approvals.dedup();
        if !approvals.is_empty() && opts.approval.is_none() {
            return Err(Error::NeedsApproval(approvals));
        }
        Ok(())
    }

    /// Tables in an order where a parent comes before its children.
    fn fk_order(&self) -> Vec<usize> {
        let n = self.tables.len();
        let mut order = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        // At most n rounds; a cycle falls back to scope order.
        for _ in 0..n {
            for (i, t) in self.tables.iter().enumerate() {
                if placed.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let ready = t.schema.foreign_keys.iter().all(|fk| {
                    self.tables
                        .iter()
                        .enumerate()
                        .all(|(j, o)| o.schema.name.name != fk.ref_table.name || j == i || placed.get(j).copied().unwrap_or(true))
                });
                if ready {
                    if let Some(p) = placed.get_mut(i) {
                        *p = true;
                    }
                    order.push(i);
                }
            }
        }
        for (i, p) in placed.iter().enumerate() {
            if !p {
                order.push(i);
            }
        }
        order
    }

    async fn apply(&self, cs: &ChangeSet, opts: &CommitOptions, started: Instant) -> Result<CommitReport> {
        let dialect = self.prod.dialect();
        let mut tx = ProdTx::begin(&self.prod).await?;
        let mut conflicts = Vec::new();
        let mut skipped = Vec::new();
        let mut generated = Vec::new();
        let mut written: BTreeMap<String, Counts> = BTreeMap::new();
        let order = self.fk_order();

        let result: Result<()> = async {
            // Deletes must not cascade onto rows outside the changeset.
            for c in cs.changes().iter().filter(|c| c.op == Op::Delete) {
                self.check_cascade(&mut tx, c).await?;
            }
            for &ti in &order {
                let Some(t) = self.tables.get(ti) else { continue };
                let name = t.schema.name.to_string();
                let inserts: Vec<&RowChange> =
                    cs.changes().iter().filter(|c| c.table == name && c.op == Op::Insert).collect();
                let done = self
                    .insert_rows(&mut tx, t, &inserts, &mut conflicts, &mut generated)
                    .await?;
                if done > 0 {
                    written.entry(name.clone()).or_default().insert += usize::try_from(done).unwrap_or(usize::MAX);
                }
            }
            for c in cs.changes().iter().filter(|c| c.op == Op::Update) {
                let Some(t) = self.scoped(&c.table) else { continue };
                if self.update_row(&mut tx, t, c, &mut conflicts).await? {
                    written.entry(c.table.clone()).or_default().update += 1;
                }
            }
            for &ti in order.iter().rev() {
                let Some(t) = self.tables.get(ti) else { continue };
                let name = t.schema.name.to_string();
                for c in cs.changes().iter().filter(|c| c.table == name && c.op == Op::Delete) {
                    if self.delete_row(&mut tx, t, c, &mut conflicts).await? {
                        written.entry(name.clone()).or_default().delete += 1;
                    }
                }
            }
            Ok(())
        }
        .await;

        if let Err(e) = result {
            tx.rollback().await;
            return Err(e);
        }
        if !conflicts.is_empty() {
            match opts.on_conflict {
                OnConflict::Abort => {
                    tx.rollback().await;
                    return Err(Error::Conflict(conflicts));
                }
                OnConflict::Skip => skipped = conflicts,
            }
        }
        tx.commit()
            .await
            .map_err(|e| Error::database("commit: COMMIT", e))?;
        let _ = dialect;
        Ok(CommitReport {
            commit_id: uuid::Uuid::new_v4().to_string(),
            rows: written,
            generated_keys: generated,
            skipped,
            elapsed: started.elapsed(),
        })
    }

    fn columns_of<'a>(t: &'a Scoped, row: &Row) -> Vec<&'a ColumnSchema> {
        row.columns().filter_map(|name| t.schema.column(name)).collect()
    }

    fn bind(dialect: Dialect, col: &ColumnSchema, v: &Value, table: &str, key: &str) -> Result<Bind> {
        prod::write_bind(dialect, col, v).map_err(|e| {
            Error::Contract(vec![RowViolations {
                table: table.to_owned(),
                key: key.to_owned(),
                violations: vec![safemodel::Violation::new(
                    col.name.clone(),
                    safemodel::Rule::Other("production_type".into()),
                    e.0,
                )],
            }])
        })
    }

    /// `key = .. AND tenant = ..`, starting at placeholder `n`.
    fn key_where(
        &self,
        dialect: Dialect,
        t: &Scoped,
        row: &Row,
        c: &RowChange,
        binds: &mut Vec<Bind>,
    ) -> Result<String> {
        let mut parts = Vec::new();
        let mut cols: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
        if let Some(tc) = t.tenant_col.and_then(|i| t.schema.columns.get(i)) {
            if !cols.iter().any(|k| k.name == tc.name) {
                cols.push(tc);
            }
        }
        let key = c.key.render();
        for col in cols {
            let v = if t.tenant_col.and_then(|i| t.schema.columns.get(i)).is_some_and(|tc| tc.name == col.name) {
                self.tenant.clone()
            } else {
                row.get(&col.name).cloned().unwrap_or(Value::Null)
            };
            binds.push(Self::bind(dialect, col, &v, &c.table, &key)?);
            parts.push(format!("{} = {}", dialect.quote(&col.name), prod::value_expr(dialect, col, binds.len())));
        }
        Ok(parts.join(" AND "))
    }

    /// `AND <every cloned column is as cloned>`.
    fn guards(dialect: Dialect, t: &Scoped, old: &Row, c: &RowChange, binds: &mut Vec<Bind>) -> Result<String> {
        let mut out = String::new();
        let key_cols: Vec<&str> = t.key.iter().filter_map(|&k| t.col(k)).map(|c| c.name.as_str()).collect();
        for (name, v) in old.iter() {
            if key_cols.contains(&name) {
                continue;
            }
            let Some(col) = t.schema.column(name) else { continue };
            let b = prod::guard_bind(dialect, col, v).map_err(|e| Error::Conflict(vec![Conflict {
                table: c.table.clone(),
                key: c.key.render(),
                kind: ConflictKind::Changed { columns: vec![format!("{name} ({})", e.0)] },
            }]))?;
            binds.push(b);
            out.push_str(" AND ");
            out.push_str(&prod::guard_expr(dialect, col, binds.len()));
        }
        Ok(out)
    }

    async fn update_row(&self, tx: &mut ProdTx, t: &Scoped, c: &RowChange, conflicts: &mut Vec<Conflict>) -> Result<bool> {
        let dialect = self.prod.dialect();
        let (Some(old), Some(new)) = (&c.old, &c.new) else { return Ok(false) };
        let key = c.key.render();
        let mut binds = Vec::new();
        let mut sets = Vec::new();
        for name in &c.changed {
            let Some(col) = t.schema.column(name) else { continue };
            let v = new.get(name).cloned().unwrap_or(Value::Null);
            binds.push(Self::bind(dialect, col, &v, &c.table, &key)?);
            sets.push(format!("{} = {}", dialect.quote(name), prod::value_expr(dialect, col, binds.len())));
        }
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let guards = Self::guards(dialect, t, old, c, &mut binds)?;
        let sql = format!(
            "UPDATE {} SET {} WHERE {wh}{guards}",
            prod::qualified(dialect, &t.schema.name),
            sets.join(", ")
        );
        let n = tx
            .execute(sql, &binds)
            .await
            .map_err(|e| Error::database(format!("commit: UPDATE {}[{key}]", c.table), e))?;
        if n == 1 {
            return Ok(true);
        }
        conflicts.push(self.diagnose(tx, t, c, old).await?);
        Ok(false)
    }

    async fn delete_row(&self, tx: &mut ProdTx, t: &Scoped, c: &RowChange, conflicts: &mut Vec<Conflict>) -> Result<bool> {
        let dialect = self.prod.dialect();
        let Some(old) = &c.old else { return Ok(false) };
        let key = c.key.render();
        let mut binds = Vec::new();
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let guards = Self::guards(dialect, t, old, c, &mut binds)?;
        let sql = format!("DELETE FROM {} WHERE {wh}{guards}", prod::qualified(dialect, &t.schema.name));
        let n = tx
            .execute(sql, &binds)
            .await
            .map_err(|e| Error::database(format!("commit: DELETE {}[{key}]", c.table), e))?;
        if n == 1 {
            return Ok(true);
        }
        conflicts.push(self.diagnose(tx, t, c, old).await?);
        Ok(false)
    }

    /// Why an update or delete touched no row: the row is gone (for this
    /// tenant) or some columns moved on.
    async fn diagnose(&self, tx: &mut ProdTx, t: &Scoped, c: &RowChange, old: &Row) -> Result<Conflict> {
        let dialect = self.prod.dialect();
        let cols = Self::columns_of(t, old);
        let mut binds = Vec::new();
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let list: Vec<String> = cols.iter().map(|col| prod::read_expr(dialect, col)).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {wh}",
            list.join(", "),
            prod::qualified(dialect, &t.schema.name)
        );
        let rows = tx.fetch(sql, &binds, &cols).await.map_err(|e| match e {
            FetchError::Db(e) => Error::database(format!("commit: checking {}[{}]", c.table, c.key.render()), e),
            FetchError::Decode(m) => Error::Sandbox(m),
        })?;
        let kind = match rows.first() {
            None => ConflictKind::Gone,
            Some(now) => ConflictKind::Changed {
                columns: cols
                    .iter()
                    .zip(now)
                    .filter(|(col, v)| old.get(&col.name) != Some(v))
                    .map(|(col, _)| col.name.clone())
                    .collect(),
            },
        };
        Ok(Conflict {
            table: c.table.clone(),
            key: c.key.render(),
            kind,
        })
    }

    /// Refuses a delete that production would cascade onto rows outside the
    /// changeset (another table out of scope, or another tenant's rows).
    async fn check_cascade(&self, tx: &mut ProdTx, c: &RowChange) -> Result<()> {
        let dialect = self.prod.dialect();
        let Some(t) = self.scoped(&c.table) else { return Ok(()) };
        let Some(old) = &c.old else { return Ok(()) };
        for r in &t.schema.referenced_by {
            if r.foreign_key.on_delete == FkAction::Restrict {
                continue;
            }
            let child = self.tables.iter().find(|o| o.schema.name.name == r.table.name);
            let mut binds = Vec::new();
            let mut parts = Vec::new();
            for (fc, pc) in r.foreign_key.columns.iter().zip(&r.foreign_key.ref_columns) {
                let Some(pcol) = t.schema.column(pc) else { continue };
                let v = old.get(pc).cloned().unwrap_or(Value::Null);
                binds.push(Self::bind(dialect, pcol, &v, &c.table, &c.key.render())?);
                parts.push(format!("{} = {}", dialect.quote(fc), prod::value_expr(dialect, pcol, binds.len())));
            }
            // A scoped child's rows of this tenant are in the sandbox, which
            // mirrors the cascade; only other tenants' rows would be touched.
            if let Some(tc) = child.and_then(|ch| ch.tenant_col.and_then(|i| ch.schema.columns.get(i))) {
                binds.push(Self::bind(dialect, tc, &self.tenant, &c.table, &c.key.render())?);
                parts.push(format!(
                    "NOT ({} = {})",
                    dialect.quote(&tc.name),
                    prod::value_expr(dialect, tc, binds.len())
                ));
            }
            let sql = format!(
                "SELECT 1 FROM {} WHERE {} LIMIT 1",
                prod::qualified(dialect, &r.table),
                parts.join(" AND ")
            );
            let rows = tx
                .fetch(sql, &binds, &[])
                .await
                .map_err(|e| match e {
                    FetchError::Db(e) => Error::database(format!("commit: cascade check of {}", c.table), e),
                    FetchError::Decode(m) => Error::Sandbox(m),
                })?;
            if !rows.is_empty() {
                return Err(Error::Cascade {
                    table: c.table.clone(),
                    key: c.key.render(),
                    op: "DELETE".into(),
                    referencing_table: r.table.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Inserts a table's new rows: checks no key is taken, then multi-row
    /// INSERTs within the bind limit; rows with provisional keys one by one,
    /// reading back production's key.
    async fn insert_rows(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        rows: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
        generated: &mut Vec<GeneratedKey>,
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let dialect = self.prod.dialect();
        let table = t.schema.name.to_string();
        let gen_col = t.generated_key.and_then(|base| t.key.first().and_then(|&k| t.col(k)).map(|c| (c, base)));
        let is_provisional = |c: &RowChange| {
            gen_col.is_some_and(|(col, base)| matches!(c.new.as_ref().and_then(|r| r.get(&col.name)), Some(Value::Int(i)) if *i > base))
        };
        let (fresh, keyed): (Vec<&RowChange>, Vec<&RowChange>) = rows.iter().copied().partition(|c| is_provisional(c));

        // Keys already taken in production, by anyone: a conflict that
        // reveals nothing about the row that holds the key.
        let taken = self.taken_keys(tx, t, &keyed).await?;
        let mut to_insert = Vec::new();
        for c in keyed {
            if taken.contains(&c.key.render()) {
                conflicts.push(Conflict {
                    table: table.clone(),
                    key: c.key.render(),
                    kind: ConflictKind::KeyExists,
                });
            } else {
                to_insert.push(c);
            }
        }
        let mut count = 0_u64;
        let Some(first) = to_insert.first().and_then(|c| c.new.as_ref()) else {
            return self.insert_fresh(tx, t, &fresh, gen_col, generated).await;
        };
        let cols = Self::columns_of(t, first);
        let per = (dialect.max_binds() / cols.len().max(1)).clamp(1, 1_000);
        let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
        for chunk in to_insert.chunks(per) {
            let mut binds = Vec::with_capacity(chunk.len() * cols.len());
            let mut tuples = Vec::with_capacity(chunk.len());
            for c in chunk {
                let Some(new) = &c.new else { continue };
                let mut exprs = Vec::with_capacity(cols.len());
                for col in &cols {
                    let v = new.get(&col.name).cloned().unwrap_or(Value::Null);
                    binds.push(Self::bind(dialect, col, &v, &table, &c.key.render())?);
                    exprs.push(prod::value_expr(dialect, col, binds.len()));
                }
                tuples.push(format!("({})", exprs.join(", ")));
            }
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                prod::qualified(dialect, &t.schema.name),
                names.join(", "),
                tuples.join(", ")
            );
            let key = chunk.first().map(|c| c.key.render()).unwrap_or_default();
            count += tx
                .execute(sql, &binds)
                .await
                .map_err(|e| Error::database(format!("commit: INSERT INTO {table} (batch from {key})"), e))?;
        }
        Ok(count + self.insert_fresh(tx, t, &fresh, gen_col, generated).await?)
    }

    async fn taken_keys(&self, tx: &mut ProdTx, t: &Scoped, rows: &[&RowChange]) -> Result<std::collections::HashSet<String>> {
        let dialect = self.prod.dialect();
        let mut taken = std::collections::HashSet::new();
        let key_cols: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
        if rows.is_empty() || key_cols.is_empty() {
            return Ok(taken);
        }
        let per = (dialect.max_binds() / key_cols.len()).clamp(1, 1_000);
        let names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let reads: Vec<String> = key_cols.iter().map(|c| prod::read_expr(dialect, c)).collect();
        let table = t.schema.name.to_string();
        for chunk in rows.chunks(per) {
            let mut binds = Vec::new();
            let mut tuples = Vec::new();
            for c in chunk {
                let mut exprs = Vec::new();
                for (col, (_, v)) in key_cols.iter().zip(&c.key.0) {
                    binds.push(Self::bind(dialect, col, v, &table, &c.key.render())?);
                    exprs.push(prod::value_expr(dialect, col, binds.len()));
                }
                tuples.push(if exprs.len() == 1 { exprs.concat() } else { format!("({})", exprs.join(", ")) });
            }
            let lhs = if names.len() == 1 { names.concat() } else { format!("({})", names.join(", ")) };
            let sql = format!(
                "SELECT {} FROM {} WHERE {lhs} IN ({})",
                reads.join(", "),
                prod::qualified(dialect, &t.schema.name),
                tuples.join(", ")
            );
            let found = tx.fetch(sql, &binds, &key_cols).await.map_err(|e| match e {
                FetchError::Db(e) => Error::database(format!("commit: key check of {table}"), e),
                FetchError::Decode(m) => Error::Sandbox(m),
            })?;
            for values in found {
                let key = crate::diff::Key(key_cols.iter().map(|c| c.name.clone()).zip(values).collect());
                taken.insert(key.render());
            }
        }
        Ok(taken)
    }

    async fn insert_fresh(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        rows: &[&RowChange],
        gen_col: Option<(&ColumnSchema, i64)>,
        generated: &mut Vec<GeneratedKey>,
    ) -> Result<u64> {
        let Some((key_col, _)) = gen_col else { return Ok(0) };
        let dialect = self.prod.dialect();
        let table = t.schema.name.to_string();
        let mut count = 0;
        for c in rows {
            let Some(new) = &c.new else { continue };
            let cols: Vec<&ColumnSchema> = Self::columns_of(t, new).into_iter().filter(|col| col.name != key_col.name).collect();
            let mut binds = Vec::new();
            let mut exprs = Vec::new();
            for col in &cols {
                let v = new.get(&col.name).cloned().unwrap_or(Value::Null);
                binds.push(Self::bind(dialect, col, &v, &table, &c.key.render())?);
                exprs.push(prod::value_expr(dialect, col, binds.len()));
            }
            let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
            let base = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                prod::qualified(dialect, &t.schema.name),
                names.join(", "),
                exprs.join(", ")
            );
            let ctx = format!("commit: INSERT INTO {table}[{}]", c.key.render());
            let assigned = match dialect {
                Dialect::MySql => {
                    tx.execute(base, &binds).await.map_err(|e| Error::database(ctx.clone(), e))?;
                    let id_col = ColumnSchema { kind: crate::types::ColumnKind::Int64, ..key_col.clone() };
                    tx.fetch("SELECT CAST(LAST_INSERT_ID() AS SIGNED)".into(), &[], &[&id_col]).await
                }
                _ => {
                    let sql = format!("{base} RETURNING {}", dialect.quote(&key_col.name));
                    tx.fetch(sql, &binds, &[key_col]).await
                }
            }
            .map_err(|e| match e {
                FetchError::Db(e) => Error::database(ctx.clone(), e),
                FetchError::Decode(m) => Error::Sandbox(m),
            })?;
            let provisional = match new.get(&key_col.name) {
                Some(Value::Int(i)) => *i,
                _ => 0,
            };
            if let Some(Value::Int(real)) = assigned.first().and_then(|r| r.first()) {
                generated.push(GeneratedKey {
                    table: table.clone(),
                    column: key_col.name.clone(),
                    provisional,
                    assigned: *real,
                });
            }
            count += 1;
        }
        Ok(count)
    }
}
