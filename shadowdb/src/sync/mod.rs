//! The one moment production changes: gates, then one transaction.
//!
//! Gates, in order, each stopping everything before production is touched:
//! the reviewed changeset must equal the sandbox's changeset now (the last
//! diff, when SQLite's change counter shows the sandbox has not changed
//! since; a fresh diff otherwise); every written row carries the tenant (and
//! no update moves a row to another); every new or changed row passes its
//! contract and what production accepts for each column; policy blocks and
//! approvals; no delete (or update of a referenced column) would cascade onto
//! rows outside the changeset. Then one transaction: inserts (parents first;
//! a key already taken, whoever owns it, is a conflict: PostgreSQL finds it
//! with `ON CONFLICT (<primary key>) DO NOTHING` in the insert itself, the
//! others with a check just before), updates and deletes
//! `WHERE key AND tenant AND every cloned column is still as cloned`, each of
//! which must touch exactly one row. Anything else rolls everything back.
//!
//! Updates and deletes go in batches, one statement per batch of rows that
//! set (and guard) the same columns, within each database's bind limits:
//! - PostgreSQL: `UPDATE .. FROM unnest($1::int8[], ..) WITH ORDINALITY`
//!   (`DELETE .. USING`), one array parameter per column, guards comparing
//!   every cloned column NULL-safe with the batch's column of cloned values,
//!   `RETURNING` the ordinal of each row written;
//! - SQLite: the batch's rows are read and compared in Rust, decoded as the
//!   clone decoded them (SQLite stores one instant or UUID in several text
//!   forms, so SQL equality with the cloned value is not exact), under the
//!   write lock taken at `BEGIN IMMEDIATE`; then `WITH v AS (VALUES ..)
//!   UPDATE .. FROM v` (`DELETE .. IN`) by key and tenant, `RETURNING` keys;
//! - MySQL/MariaDB: `UPDATE t JOIN (SELECT ? .. UNION ALL ..) v` (`DELETE t
//!   FROM t JOIN ..`), the guard comparing text as bytes; MySQL returns only
//!   a count of matched rows (CLIENT_FOUND_ROWS, so a row rewritten with its
//!   own value still counts), so a short count rolls the batch back to a
//!   savepoint and redoes it row by row to name the conflicts.
//!
//! Rows whose guard failed are diagnosed (gone, or which columns moved).
//!
//! After a successful commit the `ShadowDb` refuses a second commit (open a
//! new one for further work), and its baseline is production's new state: a
//! later `diff()` is empty. That rebase happens at that next diff, not in the
//! commit, so the commit returns as soon as production has committed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use safemodel::{Row, RowViolations, Value};

use crate::approve::{ApprovalDecision, ApprovalRequest, request_approval};
use crate::audit::{self, AuditKind};
use crate::diff::{ChangeSet, Counts, Key, Op, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::policy::Decision;
use crate::prod::{self, Bind, BindArray, FetchError, PgParam, ProdTx};
use crate::schema::{ColumnSchema, FkAction, TableName};
use crate::shadow::{Scoped, ShadowDb, tenant_eq};
use crate::types::{ColumnKind, Dialect};

mod outside;
pub(crate) use outside::{OutsideRef, outside_refs};

/// What to do with rows that conflict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Roll everything back and report every conflict (default).
    #[default]
    Abort,
    /// Leave the conflicting rows out, list them, commit the rest atomically.
    /// A `KeyExists` insert into a table this commit also deletes from is
    /// refused like `Abort` (it may be half of a key renamed under the
    /// collation, `'k1'` to `'K1'`).
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
    /// An audit sink (other than the production table, which is written in
    /// the commit's transaction) that failed to record the commit after
    /// production had it.
    pub audit_error: Option<String>,
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
    pub async fn commit_with(
        &mut self,
        reviewed: &ChangeSet,
        opts: CommitOptions,
    ) -> Result<CommitReport> {
        let started = Instant::now();
        if let Some(id) = &self.committed {
            return Err(Error::AlreadyCommitted {
                commit_id: id.clone(),
            });
        }
        let commit_id = uuid::Uuid::new_v4().to_string();
        let result = self.try_commit(reviewed, &opts, &commit_id, started).await;
        match result {
            Ok(report) => {
                self.stale_baseline
                    .store(true, std::sync::atomic::Ordering::Release);
                self.committed = Some(report.commit_id.clone());
                tracing::info!(commit_id = %report.commit_id, rows = reviewed.len(), "committed");
                Ok(report)
            }
            Err(e) => {
                // Production is untouched; the trail says why.
                let failed = AuditKind::commit_failed(Some(commit_id), &e);
                if let Err(audit) = self.audit.record(failed).await {
                    tracing::error!(error = %crate::render::escape_controls(&audit.to_string()), "a failed commit could not be audited");
                }
                Err(e)
            }
        }
    }

    async fn try_commit(
        &self,
        reviewed: &ChangeSet,
        opts: &CommitOptions,
        commit_id: &str,
        started: Instant,
    ) -> Result<CommitReport> {
        self.flush_audit().await?;
        self.limit(self.session.check_commit(reviewed.len()))
            .await?;
        if let Some(limiter) = &self.rate_limiter {
            self.limit(limiter.check_commit(&self.tenant.to_string(), &self.actor))
                .await?;
        }
        let current = self.current(reviewed)?;
        self.gate_tenant(&current)?;
        gate_contract(&current)?;
        self.gate_policy(&current, opts).await?;
        self.apply(&current, opts, commit_id, started, Record::Commit)
            .await
    }

    /// The sandbox's changeset now, which must be `reviewed`. The last diff
    /// serves when the sandbox has not changed since it was taken (SQLite's
    /// change counter stands still); otherwise the sandbox is diffed again.
    fn current(&self, reviewed: &ChangeSet) -> Result<ChangeSet> {
        let version = self.sandbox()?.total_changes();
        let cached = self
            .last_diff
            .lock()
            .ok()
            .and_then(|mut last| last.take())
            .filter(|(v, cs)| *v == version && cs.is_exactly(reviewed))
            .map(|(_, cs)| cs);
        if let Some(cs) = cached {
            return Ok(cs);
        }
        // Byte for byte: JSON that means the same but reads differently in
        // production (`{"a": 1, "a": 2}`) is not what was reviewed.
        let current = self.diff()?;
        if !current.is_exactly(reviewed) {
            return Err(Error::ChangeSetChanged);
        }
        Ok(current)
    }

    /// Gate 1: every written row carries the tenant; no row changes tenant.
    pub(crate) fn gate_tenant(&self, cs: &ChangeSet) -> Result<()> {
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
            let Some(tc) = t.tenant_col.and_then(|i| t.schema.columns.get(i)) else {
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
                        .is_some_and(|v| tenant_eq(v, &self.tenant)) =>
                {
                    return Err(breach("inserts a row for another tenant"));
                }
                Op::Update
                    if !get(c.new.as_ref(), &tc.name)
                        .is_some_and(|v| tenant_eq(v, &self.tenant)) =>
                {
                    return Err(breach("moves the row to another tenant"));
                }
                Op::Update | Op::Delete
                    if !get(c.old.as_ref(), &tc.name)
                        .is_some_and(|v| tenant_eq(v, &self.tenant)) =>
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
    pub(crate) async fn gate_policy(
        &self,
        cs: &ChangeSet,
        opts: &CommitOptions,
    ) -> Result<Option<String>> {
        let hits = self.changeset_hits(cs);
        let blocked: Vec<String> = hits
            .iter()
            .filter(|h| h.decision == Decision::Block)
            .map(|h| h.reason.clone())
            .collect();
        if !blocked.is_empty() {
            return Err(Error::PolicyBlocked(blocked));
        }
        let mut reasons = self.statement_approvals();
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
            let request = ApprovalRequest::new(self.actor.clone(), tenant, reasons);
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
        let Some(approver) = &self.approver else {
            return Err(Error::NeedsApproval(reasons));
        };
        let review = self.review(cs);
        let request = ApprovalRequest::for_review(&review, self.actor.clone(), tenant)
            .with_timeout(self.approval_timeout);
        self.audit
            .record(AuditKind::approval_requested(&request))
            .await?;
        let decision = request_approval(approver.as_ref(), &request).await?;
        self.audit
            .record(AuditKind::approval_decided(&request, &decision))
            .await?;
        decision.into_result(&request).map(Some)
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
                    self.tables.iter().enumerate().all(|(j, o)| {
                        !t.schema.names_table(&fk.ref_table, &o.schema)
                            || j == i
                            || placed.get(j).copied().unwrap_or(true)
                    })
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

    pub(crate) async fn apply(
        &self,
        cs: &ChangeSet,
        opts: &CommitOptions,
        commit_id: &str,
        started: Instant,
        record: Record<'_>,
    ) -> Result<CommitReport> {
        let mut tx = ProdTx::begin(&self.prod).await?;
        let mut conflicts = Vec::new();
        let mut generated = Vec::new();
        let mut written: BTreeMap<String, Counts> = BTreeMap::new();
        let order = self.fk_order();
        // The changeset with production's keys in place of provisional ones,
        // once the inserts assigned them (when any row references one).
        let mut after: Option<ChangeSet> = None;

        let result: Result<()> = async {
            // Deletes and updates of referenced columns must not cascade onto
            // rows outside the changeset.
            self.check_cascades(&mut tx, cs).await?;
            // References onto the tenant's tables outside the scope.
            self.check_outside(&mut tx, cs).await?;
            // PII columns were never cloned: production's digest of each
            // must be as at the clone (rows locked until the commit).
            let pii_moved = self.check_pii(&mut tx, cs, &mut conflicts).await?;
            let unmoved = |g| without(&pii_moved, g);
            for &ti in &order {
                let Some(t) = self.tables.get(ti) else {
                    continue;
                };
                let name = t.schema.name.to_string();
                let inserts: Vec<&RowChange> = cs
                    .changes()
                    .iter()
                    .filter(|c| c.table == name && c.op == Op::Insert)
                    .collect();
                // References to parents inserted above carry their real keys.
                // A new row may reference a new row of its own table, which
                // gets its key just before it (in provisional key order).
                let later = t.generated_key.map(|_| name.as_str());
                let remapped = remap_all(&inserts, &cs.pending_refs, &generated, later)?;
                let inserts: Vec<&RowChange> = inserts
                    .iter()
                    .zip(
                        remapped
                            .iter()
                            .map(Option::as_ref)
                            .chain(std::iter::repeat(None)),
                    )
                    .map(|(c, r)| r.unwrap_or(c))
                    .collect();
                let done = self
                    .insert_rows(&mut tx, t, &inserts, &mut conflicts, &mut generated)
                    .await?;
                if done > 0 {
                    written.entry(name.clone()).or_default().insert +=
                        usize::try_from(done).unwrap_or(usize::MAX);
                }
            }
            if !cs.pending_refs.is_empty() {
                let all: Vec<&RowChange> = cs.changes().iter().collect();
                let remapped = remap_all(&all, &cs.pending_refs, &generated, None)?;
                if remapped.iter().any(Option::is_some) {
                    let changes = all
                        .iter()
                        .zip(remapped)
                        .map(|(c, r)| r.unwrap_or_else(|| (*c).clone()))
                        .collect();
                    let mut moved = ChangeSet::new(changes, cs.not_enforced.clone());
                    moved.computed.clone_from(&cs.computed);
                    moved.pending_refs.clone_from(&cs.pending_refs);
                    after = Some(moved);
                }
            }
            let cs = after.as_ref().unwrap_or(cs);
            for &ti in &order {
                let Some(t) = self.tables.get(ti) else {
                    continue;
                };
                for group in groups(t, cs, Op::Update).into_iter().filter_map(unmoved) {
                    let done = self.apply_group(&mut tx, t, &group, &mut conflicts).await?;
                    if done > 0 {
                        written.entry(t.schema.name.to_string()).or_default().update += done;
                    }
                }
            }
            for &ti in order.iter().rev() {
                let Some(t) = self.tables.get(ti) else {
                    continue;
                };
                for group in groups(t, cs, Op::Delete).into_iter().filter_map(unmoved) {
                    let done = self.apply_group(&mut tx, t, &group, &mut conflicts).await?;
                    if done > 0 {
                        written.entry(t.schema.name.to_string()).or_default().delete += done;
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
        let mut skipped = Vec::new();
        if !conflicts.is_empty() {
            match opts.on_conflict {
                OnConflict::Abort => {
                    tx.rollback().await;
                    return Err(Error::Conflict(conflicts));
                }
                // A key production holds taken may be held by a row this
                // very commit deleted: a key renamed under the collation
                // (`'k1'` to `'K1'`, `'x'` to `'x '`) is a delete and an
                // insert in the sandbox, and skipping the insert would commit
                // half of the rename, the row lost. Such a skip is refused whole.
                OnConflict::Skip
                    if conflicts.iter().any(|c| {
                        c.kind == ConflictKind::KeyExists
                            && written.get(&c.table).is_some_and(|w| w.delete > 0)
                    }) =>
                {
                    tx.rollback().await;
                    return Err(Error::Conflict(conflicts));
                }
                OnConflict::Skip => skipped = conflicts,
            }
        }
        // The record of what was written, in the same transaction when the
        // trail is kept in production.
        let mut event = None;
        if self.audit.is_enabled() {
            let rows: u64 = written
                .values()
                .map(|c| (c.insert + c.update + c.delete) as u64)
                .sum();
            let kind = match record {
                Record::Commit => {
                    let cs = after.as_ref().unwrap_or(cs);
                    let mut applied = applied_changes(cs, &skipped, &generated);
                    if let Err(e) = self.read_back(&mut tx, &mut applied).await {
                        tx.rollback().await;
                        return Err(e);
                    }
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
            event = Some(self.audit.event(kind));
        }
        if let Some(event) = &event
            && self.audit.database().is_some()
            && let Err(e) = audit::record_in_tx(&mut tx, event).await
        {
            tx.rollback().await;
            return Err(e);
        }
        tx.commit()
            .await
            .map_err(|e| Error::database("commit: COMMIT", e))?;
        // Production has the change: a sink failing now cannot undo it, so it
        // is reported, not returned as an error.
        let audit_error = match &event {
            Some(event) => self.audit.record_after_commit(event).await.err().map(|e| {
                tracing::error!(error = %crate::render::escape_controls(&e.to_string()), commit_id, "the commit could not be audited");
                e.to_string()
            }),
            None => None,
        };
        Ok(CommitReport {
            commit_id: commit_id.to_owned(),
            rows: written,
            generated_keys: generated,
            skipped,
            elapsed: started.elapsed(),
            audit_error,
        })
    }

    /// Replaces the `new` rows of inserts and updates with what production
    /// now holds for them, read in the commit's transaction: the record's
    /// after images must be production's own values (`9.09` stored as
    /// `9.0900000000`, a timestamp cut to the column's precision), or a
    /// rollback's "still as committed" check would see changes that are not.
    async fn read_back(&self, tx: &mut ProdTx, rows: &mut [RowChange]) -> Result<()> {
        let dialect = self.prod.dialect();
        for t in &self.tables {
            let name = t.schema.name.to_string();
            let key_cols: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
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
            let cols = Self::columns_of(t, first);
            let names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
            let mut reads: Vec<String> = key_cols
                .iter()
                .map(|c| prod::read_expr(dialect, c))
                .collect();
            reads.extend(cols.iter().map(|c| prod::read_expr(dialect, c)));
            let mut decode: Vec<&ColumnSchema> = key_cols.clone();
            decode.extend(cols.iter().copied());
            let per = (dialect.max_binds() / key_cols.len()).clamp(1, 1_000);
            let fail = |e: FetchError| match e {
                FetchError::Db(e) => Error::database(format!("commit: reading back {name}"), e),
                FetchError::Decode(m) => Error::Sandbox(m),
            };
            for chunk in at.chunks(per) {
                let mut binds = Vec::new();
                let mut tuples = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                for &i in chunk {
                    let Some(c) = rows.get(i) else { continue };
                    let mut exprs = Vec::new();
                    for (col, (_, v)) in key_cols.iter().zip(&c.key.0) {
                        binds.push(Self::bind(dialect, col, v, c)?);
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

    /// The columns of `row` an insert writes: not those production computes,
    /// but an identity `GENERATED ALWAYS` key given a value (a rollback
    /// restoring a deleted row), written with [`overriding`].
    fn written_of<'a>(t: &'a Scoped, row: &Row) -> Vec<&'a ColumnSchema> {
        row.columns()
            .filter_map(|name| t.schema.column(name))
            .filter(|c| {
                !c.computed
                    || (c.generated
                        && t.key
                            .iter()
                            .any(|&k| t.col(k).is_some_and(|kc| kc.name == c.name)))
            })
            .collect()
    }

    fn columns_of<'a>(t: &'a Scoped, row: &Row) -> Vec<&'a ColumnSchema> {
        row.columns()
            .filter_map(|name| t.schema.column(name))
            .collect()
    }

    /// `v` bound for writing into `col`; a value production would refuse is
    /// a contract violation of `c`'s row.
    fn bind(dialect: Dialect, col: &ColumnSchema, v: &Value, c: &RowChange) -> Result<Bind> {
        prod::write_bind(dialect, col, v).map_err(|e| {
            Error::Contract(vec![RowViolations {
                table: c.table.clone(),
                key: c.key.render(),
                violations: vec![safemodel::Violation::new(
                    col.name.clone(),
                    safemodel::Rule::Other("production_type".into()),
                    e.0,
                )],
            }])
        })
    }

    /// Each row's key bound after `binds`, as a tuple of placeholder
    /// expressions for [`in_list`].
    fn key_tuples(
        dialect: Dialect,
        key_cols: &[&ColumnSchema],
        rows: &[&RowChange],
        binds: &mut Vec<Bind>,
    ) -> Result<Vec<Vec<String>>> {
        let mut tuples = Vec::with_capacity(rows.len());
        for &c in rows {
            let mut exprs = Vec::with_capacity(key_cols.len());
            for (col, (_, v)) in key_cols.iter().zip(&c.key.0) {
                binds.push(Self::bind(dialect, col, v, c)?);
                exprs.push(prod::value_expr(dialect, col, binds.len()));
            }
            tuples.push(exprs);
        }
        Ok(tuples)
    }

    /// `col = v`, byte for byte whatever the column's collation (see
    /// [`prod::exact_eq`]), with `v` bound after `binds` as many times as
    /// the dialect needs it.
    pub(crate) fn exact_eq_bound(
        dialect: Dialect,
        col: &ColumnSchema,
        v: &Value,
        c: &RowChange,
        binds: &mut Vec<Bind>,
    ) -> Result<String> {
        let bind = Self::bind(dialect, col, v, c)?;
        let n = binds.len() + 1;
        binds.extend(std::iter::repeat_n(
            bind,
            prod::exact_eq_binds(dialect, col),
        ));
        Ok(prod::exact_eq(
            dialect,
            col,
            &dialect.quote(&col.name),
            &prod::value_expr(dialect, col, n),
            &prod::value_expr(dialect, col, n + 1),
        ))
    }

    /// The cloned value of a guarded column, bound as the guard reads it.
    fn guard_value(dialect: Dialect, col: &ColumnSchema, v: &Value, c: &RowChange) -> Result<Bind> {
        prod::guard_bind(dialect, col, v).map_err(|e| {
            Error::Conflict(vec![Conflict {
                table: c.table.clone(),
                key: c.key.render(),
                kind: ConflictKind::Changed {
                    columns: vec![format!("{} ({})", col.name, e.0)],
                },
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
        if let Some(tc) = tenant_col(t)
            && !cols.iter().any(|k| k.name == tc.name)
        {
            cols.push(tc);
        }
        for col in cols {
            let v = if tenant_col(t).is_some_and(|tc| tc.name == col.name) {
                self.tenant.clone()
            } else {
                row.get(&col.name).cloned().unwrap_or(Value::Null)
            };
            parts.push(Self::exact_eq_bound(dialect, col, &v, c, binds)?);
        }
        Ok(parts.join(" AND "))
    }

    /// `AND <every cloned column is as cloned>`.
    fn guards(
        dialect: Dialect,
        t: &Scoped,
        old: &Row,
        c: &RowChange,
        binds: &mut Vec<Bind>,
    ) -> Result<String> {
        let mut out = String::new();
        for col in Shape::guard_cols(t, old) {
            let v = old.get(&col.name).unwrap_or(&Value::Null);
            binds.push(Self::guard_value(dialect, col, v, c)?);
            out.push_str(" AND ");
            out.push_str(&prod::guard_expr(dialect, col, binds.len()));
        }
        Ok(out)
    }

    /// Applies one group of updates or deletes in batches. Returns the rows
    /// written; rows whose guard failed become conflicts.
    async fn apply_group(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        group: &Group<'_>,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let dialect = self.prod.dialect();
        let Some(first) = group.changes.first() else {
            return Ok(0);
        };
        let Some(old) = &first.old else { return Ok(0) };
        let shape = Shape::new(
            t,
            old,
            if group.op == Op::Update {
                &first.changed
            } else {
                &[]
            },
        );
        // MySQL reports only a count of matched rows. That proves "exactly one
        // row per change" only where the key is unique in production.
        if dialect == Dialect::MySql && t.schema.primary_key != shape.key_names(t) {
            return self
                .apply_rows(tx, t, &group.changes, group.op, conflicts)
                .await;
        }
        let per = batch_rows(dialect, shape.width());
        // PostgreSQL's planner, seeing a batch of thousands of rows, likes to
        // hash the tenant's (or the table's) rows and join: a scan of all of
        // them per batch. A batch touches only its own rows, found by primary
        // key: a nested loop over the batch, probing the key's index, costs
        // what the batch holds whatever the size of the table. For this
        // table's statements only, and only where the key is indexed (the
        // primary key). The settings are `LOCAL`: gone at the end of the
        // transaction, and reset after the group.
        let nested_loop =
            dialect == Dialect::Postgres && t.schema.primary_key == shape.key_names(t);
        if nested_loop {
            tx.execute_raw("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
                .await
                .map_err(|e| Error::database("commit: planner settings", e))?;
        }
        let mut done = 0;
        for chunk in group.changes.chunks(per) {
            done += match dialect {
                Dialect::Postgres => {
                    self.pg_batch(tx, t, &shape, group.op, chunk, conflicts)
                        .await?
                }
                Dialect::MySql => {
                    self.mysql_batch(tx, t, &shape, group.op, chunk, conflicts)
                        .await?
                }
                Dialect::Sqlite => {
                    self.sqlite_batch(tx, t, &shape, group.op, chunk, conflicts)
                        .await?
                }
            };
        }
        if nested_loop {
            tx.execute_raw(
                "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT",
            )
            .await
            .map_err(|e| Error::database("commit: planner settings", e))?;
        }
        Ok(done)
    }

    /// The binds of one row of a batch: key, new values, cloned values.
    fn row_binds(&self, dialect: Dialect, shape: &Shape<'_>, c: &RowChange) -> Result<Vec<Bind>> {
        let mut out = Vec::with_capacity(shape.width());
        for part in shape.parts() {
            out.push(part_bind(dialect, part, c, &mut None)?);
        }
        Ok(out)
    }

    /// The tenant, bound as often as [`Shape::sql`] compares it.
    fn tenant_bind(&self, dialect: Dialect, t: &Scoped, c: &RowChange) -> Result<Vec<Bind>> {
        let Some(tc) = tenant_col(t) else {
            return Ok(Vec::new());
        };
        let bind = Self::bind(dialect, tc, &self.tenant, c)?;
        Ok(std::iter::repeat_n(bind, prod::exact_eq_binds(dialect, tc)).collect())
    }

    /// PostgreSQL: one statement per batch, its values in one array per
    /// column, whose `RETURNING` names the rows it wrote; the others failed
    /// their guard (conflicts).
    async fn pg_batch(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        shape: &Shape<'_>,
        op: Op,
        chunk: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let dialect = self.prod.dialect();
        let Some(first) = chunk.first() else {
            return Ok(0);
        };
        let tenant = self.tenant_bind(dialect, t, first)?;
        let ctx = || {
            format!(
                "commit: {} {} (batch from {})",
                op.sql_verb(),
                first.table,
                first.key.render()
            )
        };
        let fail = |e: FetchError| match e {
            FetchError::Db(e) => Error::database(ctx(), e),
            FetchError::Decode(m) => Error::Sandbox(m),
        };
        let parts: Vec<Part<'_>> = shape.parts().collect();
        let arrays = pg_arrays(&parts, chunk).map_err(|e| match e {
            Error::Sandbox(m) => Error::Sandbox(format!("{}: {m}", ctx())),
            other => other,
        })?;
        let types: Vec<&str> = arrays.iter().map(BindArray::pg_type).collect();
        let sql = shape.sql(dialect, op, chunk.len(), &types);
        let mut params: Vec<PgParam<'_>> = arrays.iter().map(PgParam::Many).collect();
        params.extend(tenant.iter().map(PgParam::One));
        let rows = tx
            .fetch_pg(sql, &params, &[&ordinal_col()])
            .await
            .map_err(fail)?;
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
                conflicts.push(self.diagnose(tx, t, c, old).await?);
            }
        }
        Ok(done)
    }

    /// SQLite: values are dynamically typed there, so one instant or UUID
    /// can be stored in several text forms and a SQL comparison with the
    /// cloned value would not be exact. The batch's rows are read instead,
    /// decoded as the clone decoded them and compared value by value, under
    /// the write lock the transaction took at `BEGIN IMMEDIATE` (no other
    /// writer until commit); then one statement writes the rows that are
    /// still as cloned, `WHERE` key and tenant, and `RETURNING` names them.
    async fn sqlite_batch(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        shape: &Shape<'_>,
        op: Op,
        chunk: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let dialect = self.prod.dialect();
        let Some(first) = chunk.first() else {
            return Ok(0);
        };
        let tenant = self.tenant_bind(dialect, t, first)?;
        let ctx = || {
            format!(
                "commit: {} {} (batch from {})",
                op.sql_verb(),
                first.table,
                first.key.render()
            )
        };
        let fail = |e: FetchError| match e {
            FetchError::Db(e) => Error::database(ctx(), e),
            FetchError::Decode(m) => Error::Sandbox(m),
        };
        let index: HashMap<String, usize> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.render(), i))
            .collect();
        let key_of = |values: &mut dyn Iterator<Item = Value>| {
            let key = Key(shape
                .all_keys
                .iter()
                .map(|c| c.name.clone())
                .zip(values)
                .collect());
            index.get(&key.render()).copied()
        };

        // The rows as production holds them now.
        let keys_only = Shape {
            sets: Vec::new(),
            guards: Vec::new(),
            ..shape.clone()
        };
        let mut binds = Vec::with_capacity(chunk.len() * keys_only.width() + 1);
        for c in chunk {
            binds.extend(self.row_binds(dialect, &keys_only, c)?);
        }
        binds.extend(tenant.clone());
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
            .map_err(fail)?;
        let mut now: Vec<Option<Vec<Value>>> = vec![None; chunk.len()];
        for row in rows {
            let mut values = row.into_iter();
            let at = key_of(&mut values.by_ref().take(shape.all_keys.len()));
            match at.and_then(|i| now.get_mut(i)) {
                Some(slot @ None) => *slot = Some(values.collect()),
                _ => return Err(Error::Conflict(vec![not_unique(first)])),
            }
        }
        let mut still = Vec::with_capacity(chunk.len());
        for (c, now) in chunk.iter().zip(now) {
            let old = c.old.as_ref();
            let moved: Vec<String> = match &now {
                None => {
                    conflicts.push(Conflict {
                        table: c.table.clone(),
                        key: c.key.render(),
                        kind: ConflictKind::Gone,
                    });
                    continue;
                }
                Some(values) => shape
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
                    key: c.key.render(),
                    kind: ConflictKind::Changed { columns: moved },
                });
            }
        }
        if still.is_empty() {
            return Ok(0);
        }

        let write = Shape {
            guards: Vec::new(),
            ..shape.clone()
        };
        let mut binds = Vec::with_capacity(still.len() * write.width() + 1);
        for c in &still {
            binds.extend(self.row_binds(dialect, &write, c)?);
        }
        binds.extend(tenant);
        let rows = tx
            .fetch(
                write.sql(dialect, op, still.len(), &[]),
                &binds,
                &shape.all_keys,
            )
            .await
            .map_err(fail)?;
        let index: HashMap<String, usize> = still
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.render(), i))
            .collect();
        let hits = rows.into_iter().map(|values| {
            let key = Key(shape
                .all_keys
                .iter()
                .map(|c| c.name.clone())
                .zip(values)
                .collect());
            index.get(&key.render()).copied()
        });
        let written = once_each(hits, &still)?;
        // Every row read as unchanged is written: the lock held since BEGIN
        // IMMEDIATE lets no other writer in between.
        if written.iter().any(|w| !w) {
            return Err(Error::Conflict(vec![not_unique(first)]));
        }
        Ok(still.len())
    }

    /// MySQL: one statement per batch; MySQL counts the rows it matched
    /// (sqlx sets CLIENT_FOUND_ROWS, so a row written with its own values
    /// still counts). A short count undoes the batch and redoes it row by row
    /// to find the conflicts.
    async fn mysql_batch(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        shape: &Shape<'_>,
        op: Op,
        chunk: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let dialect = self.prod.dialect();
        let Some(first) = chunk.first() else {
            return Ok(0);
        };
        let ctx = format!(
            "commit: {} {} (batch from {})",
            op.sql_verb(),
            first.table,
            first.key.render()
        );
        let mut binds = Vec::with_capacity(chunk.len() * shape.width() + 1);
        for c in chunk {
            binds.extend(self.row_binds(dialect, shape, c)?);
        }
        binds.extend(self.tenant_bind(dialect, t, first)?);
        let sql = shape.sql(dialect, op, chunk.len(), &[]);
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
        self.apply_rows(tx, t, chunk, op, conflicts).await
    }

    /// Row by row: one statement per change, each checked to touch one row.
    async fn apply_rows(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        changes: &[&RowChange],
        op: Op,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let mut done = 0;
        for c in changes {
            let wrote = match op {
                Op::Update => self.update_row(tx, t, c, conflicts).await?,
                _ => self.delete_row(tx, t, c, conflicts).await?,
            };
            done += usize::from(wrote);
        }
        Ok(done)
    }

    async fn update_row(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        let dialect = self.prod.dialect();
        let (Some(old), Some(new)) = (&c.old, &c.new) else {
            return Ok(false);
        };
        let key = c.key.render();
        let mut binds = Vec::new();
        let mut sets = Vec::new();
        for name in &c.changed {
            let Some(col) = t.schema.column(name).filter(|col| !col.computed) else {
                continue;
            };
            let v = new.get(name).cloned().unwrap_or(Value::Null);
            binds.push(Self::bind(dialect, col, &v, c)?);
            sets.push(format!(
                "{} = {}",
                dialect.quote(name),
                prod::value_expr(dialect, col, binds.len())
            ));
        }
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let guards = Self::guards(dialect, t, old, c, &mut binds)?;
        let sql = format!(
            "UPDATE {} SET {} WHERE {wh}{guards}",
            prod::qualified(dialect, &t.schema.resolved),
            sets.join(", ")
        );
        let n = tx
            .execute(sql, &binds)
            .await
            .map_err(|e| Error::database(format!("commit: UPDATE {}[{key}]", c.table), e))?;
        self.one_row(tx, t, c, old, n, conflicts).await
    }

    async fn delete_row(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        let dialect = self.prod.dialect();
        let Some(old) = &c.old else { return Ok(false) };
        let key = c.key.render();
        let mut binds = Vec::new();
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let guards = Self::guards(dialect, t, old, c, &mut binds)?;
        let sql = format!(
            "DELETE FROM {} WHERE {wh}{guards}",
            prod::qualified(dialect, &t.schema.resolved)
        );
        let n = tx
            .execute(sql, &binds)
            .await
            .map_err(|e| Error::database(format!("commit: DELETE {}[{key}]", c.table), e))?;
        self.one_row(tx, t, c, old, n, conflicts).await
    }

    /// Checks a statement touched exactly one row: none is a conflict to
    /// diagnose; several (a row key not unique in production) wrote rows no
    /// change names, which no mode may commit.
    async fn one_row(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        old: &Row,
        n: u64,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        match n {
            1 => Ok(true),
            0 => {
                conflicts.push(self.diagnose(tx, t, c, old).await?);
                Ok(false)
            }
            _ => Err(Error::Conflict(vec![not_unique(c)])),
        }
    }

    /// Why an update or delete touched no row: the row is gone (for this
    /// tenant) or some columns moved on.
    async fn diagnose(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        old: &Row,
    ) -> Result<Conflict> {
        let dialect = self.prod.dialect();
        let cols = Self::columns_of(t, old);
        let mut binds = Vec::new();
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let list: Vec<String> = cols
            .iter()
            .map(|col| prod::read_expr(dialect, col))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {wh}",
            list.join(", "),
            prod::qualified(dialect, &t.schema.resolved)
        );
        let rows = tx.fetch(sql, &binds, &cols).await.map_err(|e| match e {
            FetchError::Db(e) => Error::database(
                format!("commit: checking {}[{}]", c.table, c.key.render()),
                e,
            ),
            FetchError::Decode(m) => Error::Sandbox(m),
        })?;
        let kind = match rows.first() {
            None => ConflictKind::Gone,
            Some(now) => ConflictKind::Changed {
                columns: cols
                    .iter()
                    .zip(now)
                    .filter(|(col, v)| !same(old.get(&col.name), v))
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

    /// Compares production's digest of every PII column of each updated or
    /// deleted row with the one taken at the clone, locking the rows (`FOR
    /// UPDATE`) so none can change before the commit. A row whose digest
    /// moved is a conflict naming the columns (never a value); the returned
    /// `(table, key)` pairs are left out of the writes. A row gone or moved
    /// to another tenant is left to the guards.
    async fn check_pii(
        &self,
        tx: &mut ProdTx,
        cs: &ChangeSet,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<std::collections::HashSet<(String, String)>> {
        let dialect = self.prod.dialect();
        let mut moved = std::collections::HashSet::new();
        for t in &self.tables {
            let name = t.schema.name.to_string();
            let Some(digests) = self.pii_digests.get(&name) else {
                continue;
            };
            let rows: Vec<&RowChange> = cs
                .changes()
                .iter()
                .filter(|c| c.table == name && matches!(c.op, Op::Update | Op::Delete))
                .collect();
            let key_cols: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
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
            let fail = |e: FetchError| match e {
                FetchError::Db(e) => Error::database(format!("commit: PII check of {name}"), e),
                FetchError::Decode(m) => Error::Sandbox(m),
            };
            let per = (dialect.max_binds().saturating_sub(2) / key_cols.len()).clamp(1, 1_000);
            for chunk in rows.chunks(per) {
                let mut binds = Vec::new();
                let tuples = Self::key_tuples(dialect, &key_cols, chunk, &mut binds)?;
                let mut sql = format!(
                    "SELECT {} FROM {} WHERE {}",
                    reads.join(", "),
                    prod::qualified(dialect, &t.schema.resolved),
                    in_list(dialect, &names, &tuples)
                );
                if let (Some(tc), Some(first)) = (tenant_col(t), chunk.first()) {
                    sql.push_str(" AND ");
                    sql.push_str(&Self::exact_eq_bound(
                        dialect,
                        tc,
                        &self.tenant,
                        first,
                        &mut binds,
                    )?);
                }
                sql.push_str(" FOR UPDATE");
                for values in tx.fetch(sql, &binds, &decode).await.map_err(fail)? {
                    let (key_values, now) = values.split_at(key_cols.len().min(values.len()));
                    let key = key_from(&key_cols, key_values.to_vec()).render();
                    let cloned = digests.by_key.get(&key);
                    let columns: Vec<String> = digests
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
                        .collect();
                    if !columns.is_empty() && moved.insert((name.clone(), key.clone())) {
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
    async fn check_cascades(&self, tx: &mut ProdTx, cs: &ChangeSet) -> Result<()> {
        for t in &self.tables {
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
        r: &crate::schema::Referencing,
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
                binds.push(Self::bind(dialect, pcol, &v, c)?);
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
            let eq = Self::exact_eq_bound(dialect, tc, &self.tenant, first, &mut binds)?;
            sql.push_str(&format!(
                " AND ({} IS NULL OR NOT ({eq}))",
                dialect.quote(&tc.name)
            ));
        }
        sql.push_str(" LIMIT 1");
        let rows = tx.fetch(sql, &binds, &[]).await.map_err(|e| match e {
            FetchError::Db(e) => {
                Error::database(format!("commit: cascade check of {}", first.table), e)
            }
            FetchError::Decode(m) => Error::Sandbox(m),
        })?;
        Ok(!rows.is_empty())
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
        let gen_col = t
            .generated_key
            .and_then(|base| t.key.first().and_then(|&k| t.col(k)).map(|c| (c, base)));
        let is_provisional = |c: &RowChange| {
            gen_col.is_some_and(|(col, base)| matches!(c.new.as_ref().and_then(|r| r.get(&col.name)), Some(Value::Int(i)) if *i > base))
        };
        let (fresh, keyed): (Vec<&RowChange>, Vec<&RowChange>) =
            rows.iter().copied().partition(|c| is_provisional(c));

        // PostgreSQL, keyed by the primary key: `ON CONFLICT DO NOTHING`
        // tells which keys were taken, in the same statement (no window
        // between a check and the insert).
        let key_names: Vec<String> = t
            .key
            .iter()
            .filter_map(|&k| t.col(k))
            .map(|c| c.name.clone())
            .collect();
        if dialect == Dialect::Postgres
            && !key_names.is_empty()
            && t.schema.primary_key == key_names
        {
            let mut count = 0;
            if let Some(first) = keyed.first().and_then(|c| c.new.as_ref()) {
                let cols = Self::written_of(t, first);
                count = self.pg_insert(tx, t, &cols, &keyed, conflicts).await?;
            }
            return Ok(count + self.insert_fresh(tx, t, &fresh, gen_col, generated).await?);
        }
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
        let cols = Self::written_of(t, first);
        let per = (dialect.max_binds() / cols.len().max(1)).clamp(1, 1_000);
        for chunk in to_insert.chunks(per) {
            let key = chunk.first().map(|c| c.key.render()).unwrap_or_default();
            let ctx = format!("commit: INSERT INTO {table} (batch from {key})");
            // A key production holds taken under its collation (`'ABC'`
            // beside `'abc'`, `'x '` beside `'x'`) escapes the check above,
            // which matches keys by their bytes; so does a key another
            // transaction inserted since. Production's unique index then
            // refuses the batch: it is redone row by row, and each row it
            // refuses is a `KeyExists` conflict.
            tx.execute_raw("SAVEPOINT shadowdb_insert")
                .await
                .map_err(|e| Error::database(ctx.clone(), e))?;
            let (sql, binds) = Self::insert_sql(dialect, t, &cols, chunk)?;
            match tx.execute(sql, &binds).await {
                Ok(n) => {
                    count += n;
                    tx.execute_raw("RELEASE SAVEPOINT shadowdb_insert")
                        .await
                        .map_err(|e| Error::database(ctx.clone(), e))?;
                    continue;
                }
                Err(e) if !is_unique_violation(&e) => return Err(Error::database(ctx, e)),
                Err(_) => {}
            }
            tx.execute_raw("ROLLBACK TO SAVEPOINT shadowdb_insert")
                .await
                .map_err(|e| Error::database(ctx.clone(), e))?;
            // Which keys production holds taken, as its own `=` (and its
            // collation) finds them; read with a lock, so a key another
            // transaction inserted (committed since, or still waiting) counts.
            let mut rest = Vec::with_capacity(chunk.len());
            for &c in chunk {
                if self.key_taken(tx, t, c).await? {
                    conflicts.push(Conflict {
                        table: table.clone(),
                        key: c.key.render(),
                        kind: ConflictKind::KeyExists,
                    });
                } else {
                    rest.push(c);
                }
            }
            if !rest.is_empty() {
                // Any other unique index refusing the rest is the
                // statement's failure, as it would have been.
                let (sql, binds) = Self::insert_sql(dialect, t, &cols, &rest)?;
                count += tx
                    .execute(sql, &binds)
                    .await
                    .map_err(|e| Error::database(ctx.clone(), e))?;
            }
            tx.execute_raw("RELEASE SAVEPOINT shadowdb_insert")
                .await
                .map_err(|e| Error::database(ctx.clone(), e))?;
        }
        Ok(count + self.insert_fresh(tx, t, &fresh, gen_col, generated).await?)
    }

    /// Whether production holds `c`'s key taken, by its own `=` (and the key
    /// columns' collation), the row locked where the dialect can.
    async fn key_taken(&self, tx: &mut ProdTx, t: &Scoped, c: &RowChange) -> Result<bool> {
        let dialect = self.prod.dialect();
        let mut binds = Vec::new();
        let mut wh = Vec::new();
        for (col, (_, v)) in t.key.iter().filter_map(|&k| t.col(k)).zip(&c.key.0) {
            binds.push(Self::bind(dialect, col, v, c)?);
            wh.push(format!(
                "{} = {}",
                dialect.quote(&col.name),
                prod::value_expr(dialect, col, binds.len())
            ));
        }
        if wh.is_empty() {
            return Ok(false);
        }
        let lock = if dialect == Dialect::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        let sql = format!(
            "SELECT 1 FROM {} WHERE {}{lock}",
            prod::qualified(dialect, &t.schema.resolved),
            wh.join(" AND ")
        );
        let rows = tx.fetch(sql, &binds, &[]).await.map_err(|e| match e {
            FetchError::Db(e) => Error::database(
                format!("commit: key check of {}[{}]", c.table, c.key.render()),
                e,
            ),
            FetchError::Decode(m) => Error::Sandbox(m),
        })?;
        Ok(!rows.is_empty())
    }

    /// A multi-row `INSERT` of `rows` (columns `cols`) and its binds.
    fn insert_sql(
        dialect: Dialect,
        t: &Scoped,
        cols: &[&ColumnSchema],
        rows: &[&RowChange],
    ) -> Result<(String, Vec<Bind>)> {
        let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let mut binds = Vec::with_capacity(rows.len() * cols.len());
        let mut tuples = Vec::with_capacity(rows.len());
        for c in rows {
            let Some(new) = &c.new else { continue };
            let mut exprs = Vec::with_capacity(cols.len());
            for col in cols {
                let v = new.get(&col.name).cloned().unwrap_or(Value::Null);
                binds.push(Self::bind(dialect, col, &v, c)?);
                exprs.push(prod::value_expr(dialect, col, binds.len()));
            }
            tuples.push(format!("({})", exprs.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {} ({}){} VALUES {}",
            prod::qualified(dialect, &t.schema.resolved),
            names.join(", "),
            overriding(dialect, cols),
            tuples.join(", ")
        );
        Ok((sql, binds))
    }

    /// PostgreSQL: `INSERT .. SELECT FROM unnest(<one array per column>) ON
    /// CONFLICT (<primary key>) DO NOTHING RETURNING <key>`: a key already
    /// taken in production, by anyone, is a conflict that reveals nothing
    /// about the row holding it. Any other constraint fails the statement.
    async fn pg_insert(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        cols: &[&ColumnSchema],
        rows: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
    ) -> Result<u64> {
        let dialect = Dialect::Postgres;
        let table = t.schema.name.to_string();
        let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let key_cols: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
        let key_names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let key_reads: Vec<String> = key_cols
            .iter()
            .map(|c| prod::read_expr(dialect, c))
            .collect();
        let v = dialect.quote("__sdb_v");
        let aliases: Vec<String> = (0..cols.len())
            .map(|i| dialect.quote(&format!("c{i}")))
            .collect();
        let exprs: Vec<String> = cols
            .iter()
            .zip(&aliases)
            .map(|(col, a)| prod::cast_expr(dialect, col, &format!("{v}.{a}")))
            .collect();
        let mut count = 0;
        for chunk in rows.chunks(batch_rows(dialect, cols.len())) {
            let key = chunk.first().map(|c| c.key.render()).unwrap_or_default();
            let ctx = format!("commit: INSERT INTO {table} (batch from {key})");
            let parts: Vec<Part<'_>> = cols.iter().map(|col| Part::Set(col)).collect();
            let arrays = pg_arrays(&parts, chunk).map_err(|e| match e {
                Error::Sandbox(m) => Error::Sandbox(format!("{ctx}: {m}")),
                other => other,
            })?;
            let args: Vec<String> = arrays
                .iter()
                .enumerate()
                .map(|(i, a)| format!("${}::{}", i + 1, a.pg_type()))
                .collect();
            let sql = format!(
                "INSERT INTO {} ({}){} SELECT {} FROM unnest({}) AS {v}({}) ON CONFLICT ({}) DO NOTHING RETURNING {}",
                prod::qualified(dialect, &t.schema.resolved),
                names.join(", "),
                overriding(dialect, cols),
                exprs.join(", "),
                args.join(", "),
                aliases.join(", "),
                key_names.join(", "),
                key_reads.join(", ")
            );
            let params: Vec<PgParam<'_>> = arrays.iter().map(PgParam::Many).collect();
            let inserted = tx
                .fetch_pg(sql, &params, &key_cols)
                .await
                .map_err(|e| match e {
                    FetchError::Db(e) => Error::database(ctx.clone(), e),
                    FetchError::Decode(m) => Error::Sandbox(m),
                })?;
            let index: HashMap<String, usize> = chunk
                .iter()
                .enumerate()
                .map(|(i, c)| (c.key.render(), i))
                .collect();
            let hits = inserted.into_iter().map(|values| {
                let key = key_from(&key_cols, values);
                index.get(&key.render()).copied()
            });
            for (c, done) in chunk.iter().zip(once_each(hits, chunk)?) {
                if done {
                    count += 1;
                } else {
                    conflicts.push(Conflict {
                        table: c.table.clone(),
                        key: c.key.render(),
                        kind: ConflictKind::KeyExists,
                    });
                }
            }
        }
        Ok(count)
    }

    async fn taken_keys(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        rows: &[&RowChange],
    ) -> Result<std::collections::HashSet<String>> {
        let dialect = self.prod.dialect();
        let mut taken = std::collections::HashSet::new();
        let key_cols: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
        if rows.is_empty() || key_cols.is_empty() {
            return Ok(taken);
        }
        let names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let reads: Vec<String> = key_cols
            .iter()
            .map(|c| prod::read_expr(dialect, c))
            .collect();
        let table = t.schema.name.to_string();
        let fail = |e: FetchError| match e {
            FetchError::Db(e) => Error::database(format!("commit: key check of {table}"), e),
            FetchError::Decode(m) => Error::Sandbox(m),
        };
        // PostgreSQL, one key column of a type bound as is: `= ANY(<array>)`.
        if let (Dialect::Postgres, [col], [name]) = (dialect, key_cols.as_slice(), names.as_slice())
            && prod::cast_expr(dialect, col, name) == *name
        {
            {
                for chunk in rows.chunks(batch_rows(dialect, 1)) {
                    let mut keys = Vec::with_capacity(chunk.len());
                    for c in chunk {
                        let v = c.key.0.first().map_or(&Value::Null, |(_, v)| v);
                        keys.push(Self::bind(dialect, col, v, c)?);
                    }
                    let array = BindArray::gather(keys).map_err(|e| Error::Sandbox(e.0))?;
                    let sql = format!(
                        "SELECT {} FROM {} WHERE {name} = ANY($1::{})",
                        reads.join(", "),
                        prod::qualified(dialect, &t.schema.resolved),
                        array.pg_type()
                    );
                    for values in tx
                        .fetch_pg(sql, &[PgParam::Many(&array)], &key_cols)
                        .await
                        .map_err(fail)?
                    {
                        let key = key_from(&key_cols, values);
                        taken.insert(key.render());
                    }
                }
                return Ok(taken);
            }
        }
        let per = (dialect.max_binds() / key_cols.len()).clamp(1, 1_000);
        for chunk in rows.chunks(per) {
            let mut binds = Vec::new();
            let tuples = Self::key_tuples(dialect, &key_cols, chunk, &mut binds)?;
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                reads.join(", "),
                prod::qualified(dialect, &t.schema.resolved),
                in_list(dialect, &names, &tuples)
            );
            let found = tx
                .fetch(sql, &binds, &key_cols)
                .await
                .map_err(|e| match e {
                    FetchError::Db(e) => {
                        Error::database(format!("commit: key check of {table}"), e)
                    }
                    FetchError::Decode(m) => Error::Sandbox(m),
                })?;
            for values in found {
                let key = key_from(&key_cols, values);
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
        let Some((key_col, _)) = gen_col else {
            return Ok(0);
        };
        let dialect = self.prod.dialect();
        let table = t.schema.name.to_string();
        let mut count = 0;
        // References to new rows of this same table, inserted just before.
        let refs: Vec<crate::diff::PendingRef> = crate::remap::pending_refs(&self.tables)
            .into_iter()
            .filter(|r| r.table == table && r.parent == table)
            .collect();
        for c in rows {
            let remapped = if refs.is_empty() {
                None
            } else {
                crate::remap::remap(c, &refs, generated, None)?
            };
            let c = remapped.as_ref().unwrap_or(c);
            let Some(new) = &c.new else { continue };
            let cols: Vec<&ColumnSchema> = Self::written_of(t, new)
                .into_iter()
                .filter(|col| col.name != key_col.name)
                .collect();
            let mut binds = Vec::new();
            let mut exprs = Vec::new();
            for col in &cols {
                let v = new.get(&col.name).cloned().unwrap_or(Value::Null);
                binds.push(Self::bind(dialect, col, &v, c)?);
                exprs.push(prod::value_expr(dialect, col, binds.len()));
            }
            let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
            let base = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                prod::qualified(dialect, &t.schema.resolved),
                names.join(", "),
                exprs.join(", ")
            );
            let ctx = format!("commit: INSERT INTO {table}[{}]", c.key.render());
            let assigned = match dialect {
                Dialect::MySql => {
                    tx.execute(base, &binds)
                        .await
                        .map_err(|e| Error::database(ctx.clone(), e))?;
                    let id_col = ColumnSchema {
                        kind: crate::types::ColumnKind::Int64,
                        ..key_col.clone()
                    };
                    tx.fetch(
                        "SELECT CAST(LAST_INSERT_ID() AS SIGNED)".into(),
                        &[],
                        &[&id_col],
                    )
                    .await
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

/// The changes a commit wrote: without the rows skipped for conflicts, and
/// with the keys production generated in place of provisional ones.
fn applied_changes(
    cs: &ChangeSet,
    skipped: &[Conflict],
    generated: &[GeneratedKey],
) -> Vec<RowChange> {
    cs.changes()
        .iter()
        .filter(|c| {
            !skipped
                .iter()
                .any(|k| k.table == c.table && k.key == c.key.render())
        })
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

/// [`remap::remap`](crate::remap::remap) of each row (empty when no
/// reference can hold a provisional key).
fn remap_all(
    rows: &[&RowChange],
    refs: &[crate::diff::PendingRef],
    generated: &[GeneratedKey],
    later: Option<&str>,
) -> Result<Vec<Option<RowChange>>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    rows.iter()
        .map(|c| crate::remap::remap(c, refs, generated, later))
        .collect()
}

/// PostgreSQL takes a value for an identity `GENERATED ALWAYS` column only
/// when told to (restoring a row with its own key).
fn overriding(dialect: Dialect, cols: &[&ColumnSchema]) -> &'static str {
    if dialect == Dialect::Postgres && cols.iter().any(|c| c.computed) {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    }
}

/// The key of a row read back from production: the key columns' values.
fn key_from(key_cols: &[&ColumnSchema], values: Vec<Value>) -> Key {
    Key(key_cols
        .iter()
        .map(|c| c.name.clone())
        .zip(values)
        .collect())
}

fn tenant_col(t: &Scoped) -> Option<&ColumnSchema> {
    t.tenant_col.and_then(|i| t.schema.columns.get(i))
}

/// `g` without the changes of `moved` (`(table, key)`); `None` if empty.
fn without<'a>(
    moved: &std::collections::HashSet<(String, String)>,
    mut g: Group<'a>,
) -> Option<Group<'a>> {
    if !moved.is_empty() {
        g.changes
            .retain(|c| !moved.contains(&(c.table.clone(), c.key.render())));
    }
    (!g.changes.is_empty()).then_some(g)
}

/// Whether production refused a statement for a duplicate in a unique index.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A change whose key matched several production rows.
fn not_unique(c: &RowChange) -> Conflict {
    Conflict {
        table: c.table.clone(),
        key: c.key.render(),
        kind: ConflictKind::NotUnique,
    }
}

/// Which changes of a batch the rows a statement returned belong to: each
/// exactly once, or none. A change matched by several rows (a row key not
/// unique in production) wrote rows no change names: nothing may be
/// committed, whatever the mode.
fn once_each(
    hits: impl IntoIterator<Item = Option<usize>>,
    chunk: &[&RowChange],
) -> Result<Vec<bool>> {
    let mut written = vec![false; chunk.len()];
    for hit in hits {
        match hit.and_then(|i| written.get_mut(i)) {
            Some(w) if !*w => *w = true,
            _ => {
                let culprit = hit.and_then(|i| chunk.get(i)).or_else(|| chunk.first());
                return Err(Error::Conflict(
                    culprit.map(|c| not_unique(c)).into_iter().collect(),
                ));
            }
        }
    }
    Ok(written)
}

/// Exact equality of a cloned value with production's current one: equal,
/// and for kinds kept as text (decimals, JSON) the same text, as the SQL
/// guards of the other databases compare them.
fn same(old: Option<&Value>, now: &Value) -> bool {
    match (old, now) {
        (Some(Value::Decimal(a)), Value::Decimal(b)) => a.as_str() == b.as_str(),
        (Some(Value::Json(a)), Value::Json(b)) => a.as_str() == b.as_str(),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// `lhs IN (..)` for one column or a tuple of columns (SQLite takes a tuple
/// list only as a `VALUES` subquery).
fn in_list(dialect: Dialect, lhs: &[String], tuples: &[Vec<String>]) -> String {
    if tuples.is_empty() {
        return "1 = 0".to_owned();
    }
    if let [one] = lhs {
        let items: Vec<String> = tuples.iter().map(|t| t.join(", ")).collect();
        return format!("{one} IN ({})", items.join(", "));
    }
    let rows: Vec<String> = tuples
        .iter()
        .map(|t| format!("({})", t.join(", ")))
        .collect();
    match dialect {
        Dialect::Sqlite => format!("({}) IN (VALUES {})", lhs.join(", "), rows.join(", ")),
        _ => format!("({}) IN ({})", lhs.join(", "), rows.join(", ")),
    }
}

/// Rows per batched UPDATE or DELETE of `width` values a row. PostgreSQL's
/// batch is one array parameter per column, whatever its length; SQLite and
/// MySQL take one parameter per value, within their bind limits.
fn batch_rows(dialect: Dialect, width: usize) -> usize {
    let by_binds = dialect.max_binds().saturating_sub(1) / width.max(1);
    match dialect {
        Dialect::Postgres => 10_000,
        Dialect::Sqlite => by_binds.clamp(1, 2_000),
        Dialect::MySql => by_binds.clamp(1, 1_000),
    }
}

/// Updates (or deletes) of one table that set the same columns and guard
/// the same ones, so one statement shape serves them all.
struct Group<'a> {
    op: Op,
    changes: Vec<&'a RowChange>,
}

/// The table's changes of `op`, grouped by statement shape, in changeset order.
fn groups<'a>(t: &Scoped, cs: &'a ChangeSet, op: Op) -> Vec<Group<'a>> {
    let name = t.schema.name.to_string();
    let mut out: Vec<Group<'a>> = Vec::new();
    // A handful of shapes at most: a linear search, no allocation per row.
    let same_shape = |a: &RowChange, b: &RowChange| {
        (op != Op::Update || a.changed == b.changed)
            && a.old.as_ref().map(Row::column_names) == b.old.as_ref().map(Row::column_names)
    };
    for c in cs
        .changes()
        .iter()
        .filter(|c| c.op == op && c.table == name && c.old.is_some())
    {
        match out
            .iter_mut()
            .find(|g| g.changes.first().is_some_and(|f| same_shape(f, c)))
        {
            Some(g) => g.changes.push(c),
            None => out.push(Group {
                op,
                changes: vec![c],
            }),
        }
    }
    out
}

/// The columns of one batched statement: a row of the batch holds the key
/// (`k0..`), the new values (`n0..`, updates only) and the cloned values of
/// every other column (`o0..`), in this order.
#[derive(Clone)]
struct Shape<'a> {
    table: &'a TableName,
    /// Key columns other than the tenant column, matched with `=`.
    keys: Vec<&'a ColumnSchema>,
    /// The whole key, as `RETURNING` gives it back.
    all_keys: Vec<&'a ColumnSchema>,
    /// Compared with the scope's tenant.
    tenant: Option<&'a ColumnSchema>,
    /// Set to their new values (updates).
    sets: Vec<&'a ColumnSchema>,
    /// Compared NULL-safe and exactly with their cloned values.
    guards: Vec<&'a ColumnSchema>,
}

impl<'a> Shape<'a> {
    fn new(t: &'a Scoped, old: &Row, changed: &[String]) -> Shape<'a> {
        let tenant = tenant_col(t);
        let all_keys: Vec<&ColumnSchema> = t.key.iter().filter_map(|&k| t.col(k)).collect();
        Shape {
            table: &t.schema.resolved,
            keys: all_keys
                .iter()
                .copied()
                .filter(|k| tenant.is_none_or(|tc| tc.name != k.name))
                .collect(),
            all_keys,
            tenant,
            sets: changed
                .iter()
                .filter_map(|n| t.schema.column(n))
                .filter(|c| !c.computed)
                .collect(),
            guards: Self::guard_cols(t, old),
        }
    }

    /// Every cloned column but the key and the tenant (compared by `=`).
    fn guard_cols(t: &'a Scoped, old: &Row) -> Vec<&'a ColumnSchema> {
        let tenant = tenant_col(t).map(|c| c.name.as_str());
        old.columns()
            .filter(|name| Some(*name) != tenant)
            .filter(|name| {
                !t.key
                    .iter()
                    .filter_map(|&k| t.col(k))
                    .any(|k| k.name == *name)
            })
            .filter_map(|name| t.schema.column(name))
            .collect()
    }

    /// Each value of a batch row in order, and where it comes from.
    fn parts(&self) -> impl Iterator<Item = Part<'a>> + '_ {
        self.keys
            .iter()
            .map(|c| Part::Key(c))
            .chain(self.sets.iter().map(|c| Part::Set(c)))
            .chain(self.guards.iter().map(|c| Part::Guard(c)))
    }

    fn key_names(&self, t: &Scoped) -> Vec<String> {
        t.key
            .iter()
            .filter_map(|&k| t.col(k))
            .map(|c| c.name.clone())
            .collect()
    }

    fn width(&self) -> usize {
        self.keys.len() + self.sets.len() + self.guards.len()
    }

    fn names(&self) -> Vec<String> {
        (0..self.keys.len())
            .map(|i| format!("k{i}"))
            .chain((0..self.sets.len()).map(|i| format!("n{i}")))
            .chain((0..self.guards.len()).map(|i| format!("o{i}")))
            .collect()
    }

    /// SQLite: `read` of the rows of a batch of `rows` keys, this tenant's.
    fn select_sql(&self, dialect: Dialect, rows: usize, read: &[&ColumnSchema]) -> String {
        let q = |s: &str| dialect.quote(s);
        let (t, v) = (q("__sdb_t"), q("__sdb_v"));
        let names: Vec<String> = self.names().iter().map(|n| q(n)).collect();
        let row = format!("({})", vec!["?"; names.len()].join(", "));
        let on: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let p = format!("{v}.{}", q(&format!("k{i}")));
                prod::exact_eq(dialect, k, &format!("{t}.{}", q(&k.name)), &p, &p)
            })
            .collect();
        let list: Vec<String> = read
            .iter()
            .map(|c| prod::read_expr_at(dialect, c, &format!("{t}.{}", q(&c.name))))
            .collect();
        let mut sql = format!(
            "WITH {v}({}) AS (VALUES {}) SELECT {} FROM {} AS {t} JOIN {v} ON {}",
            names.join(", "),
            vec![row; rows].join(", "),
            list.join(", "),
            prod::qualified(dialect, self.table),
            if on.is_empty() {
                "1 = 1".to_owned()
            } else {
                on.join(" AND ")
            }
        );
        if let Some(tc) = self.tenant {
            sql.push_str(" WHERE ");
            sql.push_str(&prod::exact_eq(
                dialect,
                tc,
                &format!("{t}.{}", q(&tc.name)),
                "?",
                "?",
            ));
        }
        sql
    }

    /// The statement for a batch of `rows` rows. Parameters: the batch's
    /// values (PostgreSQL: one array of type `pg_types[i]` per column), then
    /// the tenant.
    fn sql(&self, dialect: Dialect, op: Op, rows: usize, pg_types: &[&str]) -> String {
        let q = |s: &str| dialect.quote(s);
        let (t, v) = (q("__sdb_t"), q("__sdb_v"));
        let vcol = |name: String| format!("{v}.{}", q(&name));
        let tcol = |c: &ColumnSchema| format!("{t}.{}", q(&c.name));
        let names = self.names();
        let quoted: Vec<String> = names.iter().map(|n| q(n)).collect();
        let table = prod::qualified(dialect, self.table);
        let on: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let p = prod::cast_expr(dialect, k, &vcol(format!("k{i}")));
                prod::exact_eq(dialect, k, &tcol(k), &p, &p)
            })
            .collect();
        let mut wh: Vec<String> = Vec::new();
        if let Some(tc) = self.tenant {
            wh.push(prod::exact_eq(
                dialect,
                tc,
                &tcol(tc),
                &prod::value_expr(dialect, tc, names.len() + 1),
                &prod::value_expr(dialect, tc, names.len() + 2),
            ));
        }
        for (i, g) in self.guards.iter().enumerate() {
            wh.push(prod::guard_cmp(
                dialect,
                g,
                &tcol(g),
                &vcol(format!("o{i}")),
            ));
        }
        let sets: Vec<String> = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let lhs = if dialect == Dialect::MySql {
                    tcol(c)
                } else {
                    q(&c.name)
                };
                format!(
                    "{lhs} = {}",
                    prod::cast_expr(dialect, c, &vcol(format!("n{i}")))
                )
            })
            .collect();
        let and = |parts: &[String]| {
            if parts.is_empty() {
                "1 = 1".to_owned()
            } else {
                parts.join(" AND ")
            }
        };
        let all: Vec<String> = on.iter().chain(&wh).cloned().collect();
        let (cond, on, wh, sets) = (and(&all), and(&on), and(&wh), sets.join(", "));
        match dialect {
            Dialect::Postgres => {
                let args: Vec<String> = pg_types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| format!("${}::{ty}", i + 1))
                    .collect();
                let ord = q("__sdb_ord");
                let from = format!(
                    "unnest({}) WITH ORDINALITY AS {v}({}, {ord})",
                    args.join(", "),
                    quoted.join(", ")
                );
                match op {
                    Op::Update => format!(
                        "UPDATE {table} AS {t} SET {sets} FROM {from} WHERE {cond} RETURNING {v}.{ord}"
                    ),
                    _ => format!(
                        "DELETE FROM {table} AS {t} USING {from} WHERE {cond} RETURNING {v}.{ord}"
                    ),
                }
            }
            Dialect::Sqlite => {
                let row = format!("({})", vec!["?"; names.len()].join(", "));
                let with = format!(
                    "WITH {v}({}) AS (VALUES {}) ",
                    quoted.join(", "),
                    vec![row; rows].join(", ")
                );
                let ret: Vec<String> = self.all_keys.iter().map(|k| q(&k.name)).collect();
                let ret = ret.join(", ");
                match op {
                    Op::Update => format!(
                        "{with}UPDATE {table} AS {t} SET {sets} FROM {v} WHERE {cond} RETURNING {ret}"
                    ),
                    _ => {
                        let tkeys: Vec<String> = self.all_keys.iter().map(|k| tcol(k)).collect();
                        format!(
                            "{with}DELETE FROM {table} WHERE ({ret}) IN (SELECT {} FROM {table} AS {t} JOIN {v} ON {on} WHERE {wh}) RETURNING {ret}",
                            tkeys.join(", ")
                        )
                    }
                }
            }
            Dialect::MySql => {
                let first: Vec<String> = quoted.iter().map(|n| format!("? AS {n}")).collect();
                let first = format!("SELECT {}", first.join(", "));
                let more = format!("SELECT {}", vec!["?"; names.len()].join(", "));
                let derived: Vec<String> = std::iter::once(first)
                    .chain(std::iter::repeat_n(more, rows.saturating_sub(1)))
                    .collect();
                let derived = derived.join(" UNION ALL ");
                match op {
                    Op::Update => format!(
                        "UPDATE {table} AS {t} JOIN ({derived}) AS {v} ON {on} SET {sets} WHERE {wh}"
                    ),
                    _ => format!(
                        "DELETE {t} FROM {table} AS {t} JOIN ({derived}) AS {v} ON {on} WHERE {wh}"
                    ),
                }
            }
        }
    }
}

/// One value of a batch row: a key column and a guarded column hold the
/// cloned value, a set column the new one.
#[derive(Clone, Copy)]
enum Part<'a> {
    Key(&'a ColumnSchema),
    Set(&'a ColumnSchema),
    Guard(&'a ColumnSchema),
}

/// The bind of one value of a batch row. `at` caches the column's position in
/// the row (rows of a batch share their layout; checked by name each time).
fn part_bind(
    dialect: Dialect,
    part: Part<'_>,
    c: &RowChange,
    at: &mut Option<usize>,
) -> Result<Bind> {
    let (col, value) = part_value(part, c, at);
    match part {
        Part::Guard(_) => ShadowDb::guard_value(dialect, col, value, c),
        _ => ShadowDb::bind(dialect, col, value, c),
    }
}

/// The column of `part` and its value in `c`: the cloned row's for the key
/// and the guard, the new row's for what is set.
fn part_value<'p, 'c>(
    part: Part<'p>,
    c: &'c RowChange,
    at: &mut Option<usize>,
) -> (&'p ColumnSchema, &'c Value) {
    let (col, row) = match part {
        Part::Key(col) | Part::Guard(col) => (col, c.old.as_ref()),
        Part::Set(col) => (col, c.new.as_ref()),
    };
    (col, row.map_or(NULL, |r| value_at(r, &col.name, at)))
}

/// The arrays of a PostgreSQL batch, one per part; a value bound as its own
/// text is borrowed from the changeset, not copied. Large batches build half
/// of them on a second thread: the work is per column, and the database
/// waits for it.
fn pg_arrays<'a>(parts: &[Part<'_>], chunk: &[&'a RowChange]) -> Result<Vec<BindArray<'a>>> {
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
        BindArray::gather_elems(elems).map_err(|e| Error::Sandbox(e.0))
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

/// The value of a column a row lacks.
const NULL: &Value = &Value::Null;

/// The value of column `name` of `row`, looked up at the cached position first.
fn value_at<'r>(row: &'r Row, name: &str, at: &mut Option<usize>) -> &'r Value {
    if let Some(v) = at
        .filter(|&i| row.column_names().get(i).is_some_and(|n| **n == *name))
        .and_then(|i| row.values().get(i))
    {
        return v;
    }
    *at = row.position(name);
    at.and_then(|i| row.values().get(i)).unwrap_or(&Value::Null)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TableSchema;

    fn col(name: &str, kind: ColumnKind, declared: &str) -> ColumnSchema {
        ColumnSchema {
            name: name.to_owned(),
            declared_type: declared.to_owned(),
            kind,
            nullable: true,
            has_default: false,
            generated: false,
            computed: false,
        }
    }

    /// `tasks(id bigint primary key, user_id bigint tenant, price numeric, title text)`.
    fn tasks() -> Scoped {
        Scoped {
            schema: TableSchema {
                name: TableName {
                    schema: None,
                    name: "tasks".to_owned(),
                },
                columns: vec![
                    col("id", ColumnKind::Int64, "bigint"),
                    col("user_id", ColumnKind::Int64, "bigint"),
                    col("price", ColumnKind::Decimal, "numeric"),
                    col("title", ColumnKind::Text, "text"),
                ],
                primary_key: vec!["id".to_owned()],
                foreign_keys: Vec::new(),
                referenced_by: Vec::new(),
                not_enforced: Vec::new(),
                resolved: TableName {
                    schema: None,
                    name: "tasks".to_owned(),
                },
            },
            model: None,
            read_only: false,
            tenant_col: Some(1),
            cols: vec![0, 1, 2, 3],
            pii: vec![false; 4],
            key: vec![0],
            generated_key: None,
            sandbox_name: "tasks".to_owned(),
        }
    }

    fn old_row() -> Row {
        Row::new()
            .with("id", 1_i64)
            .with("user_id", 42_i64)
            .with("price", Value::Null)
            .with("title", "a")
    }

    #[test]
    fn batches_guard_every_cloned_column_and_set_only_the_changed_ones() {
        let t = tasks();
        let old = old_row();
        let shape = Shape::new(&t, &old, &["title".to_owned()]);
        assert_eq!(
            shape.sql(
                Dialect::Postgres,
                Op::Update,
                2,
                &["int8[]", "text[]", "text[]", "text[]"]
            ),
            "UPDATE \"tasks\" AS \"__sdb_t\" SET \"title\" = \"__sdb_v\".\"n0\" \
             FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS \"__sdb_v\"(\"k0\", \"n0\", \"o0\", \"o1\", \"__sdb_ord\") \
             WHERE \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" AND \"__sdb_t\".\"user_id\" = $5 \
             AND \"__sdb_t\".\"price\"::text IS NOT DISTINCT FROM \"__sdb_v\".\"o0\" \
             AND \"__sdb_t\".\"title\"::pg_catalog.text COLLATE pg_catalog.\"C\" IS NOT DISTINCT FROM \"__sdb_v\".\"o1\"::pg_catalog.text COLLATE pg_catalog.\"C\" \
             RETURNING \"__sdb_v\".\"__sdb_ord\""
        );
        assert_eq!(
            shape.sql(Dialect::MySql, Op::Update, 2, &[]),
            "UPDATE `tasks` AS `__sdb_t` JOIN (SELECT ? AS `k0`, ? AS `n0`, ? AS `o0`, ? AS `o1` UNION ALL SELECT ?, ?, ?, ?) AS `__sdb_v` \
             ON `__sdb_t`.`id` = `__sdb_v`.`k0` SET `__sdb_t`.`title` = `__sdb_v`.`n0` \
             WHERE `__sdb_t`.`user_id` = ? \
             AND CAST(CAST(`__sdb_t`.`price` AS CHAR) AS BINARY) <=> CAST(`__sdb_v`.`o0` AS BINARY) \
             AND CAST(CONVERT(`__sdb_t`.`title` USING utf8mb4) AS BINARY) <=> CAST(`__sdb_v`.`o1` AS BINARY)"
        );
        let delete = Shape::new(&t, &old, &[]);
        assert_eq!(
            delete.sql(
                Dialect::Postgres,
                Op::Delete,
                2,
                &["int8[]", "text[]", "text[]"]
            ),
            "DELETE FROM \"tasks\" AS \"__sdb_t\" \
             USING unnest($1::int8[], $2::text[], $3::text[]) WITH ORDINALITY AS \"__sdb_v\"(\"k0\", \"o0\", \"o1\", \"__sdb_ord\") \
             WHERE \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" AND \"__sdb_t\".\"user_id\" = $4 \
             AND \"__sdb_t\".\"price\"::text IS NOT DISTINCT FROM \"__sdb_v\".\"o0\" \
             AND \"__sdb_t\".\"title\"::pg_catalog.text COLLATE pg_catalog.\"C\" IS NOT DISTINCT FROM \"__sdb_v\".\"o1\"::pg_catalog.text COLLATE pg_catalog.\"C\" \
             RETURNING \"__sdb_v\".\"__sdb_ord\""
        );
        assert_eq!(
            delete.sql(Dialect::MySql, Op::Delete, 1, &[]),
            "DELETE `__sdb_t` FROM `tasks` AS `__sdb_t` JOIN (SELECT ? AS `k0`, ? AS `o0`, ? AS `o1`) AS `__sdb_v` \
             ON `__sdb_t`.`id` = `__sdb_v`.`k0` WHERE `__sdb_t`.`user_id` = ? \
             AND CAST(CAST(`__sdb_t`.`price` AS CHAR) AS BINARY) <=> CAST(`__sdb_v`.`o0` AS BINARY) \
             AND CAST(CONVERT(`__sdb_t`.`title` USING utf8mb4) AS BINARY) <=> CAST(`__sdb_v`.`o1` AS BINARY)"
        );
    }

    #[test]
    fn sqlite_reads_the_batch_then_writes_by_key_and_tenant() {
        let t = tasks();
        let old = old_row();
        let shape = Shape::new(&t, &old, &["title".to_owned()]);
        let keys_only = Shape {
            sets: Vec::new(),
            guards: Vec::new(),
            ..shape.clone()
        };
        let read: Vec<&ColumnSchema> = shape
            .all_keys
            .iter()
            .chain(&shape.guards)
            .copied()
            .collect();
        assert_eq!(
            keys_only.select_sql(Dialect::Sqlite, 2, &read),
            "WITH \"__sdb_v\"(\"k0\") AS (VALUES (?), (?)) SELECT \"__sdb_t\".\"id\", \"__sdb_t\".\"price\", \"__sdb_t\".\"title\" \
             FROM \"tasks\" AS \"__sdb_t\" JOIN \"__sdb_v\" ON \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" WHERE \"__sdb_t\".\"user_id\" = ?"
        );
        let write = Shape {
            guards: Vec::new(),
            ..shape
        };
        assert_eq!(
            write.sql(Dialect::Sqlite, Op::Update, 1, &[]),
            "WITH \"__sdb_v\"(\"k0\", \"n0\") AS (VALUES (?, ?)) UPDATE \"tasks\" AS \"__sdb_t\" SET \"title\" = \"__sdb_v\".\"n0\" \
             FROM \"__sdb_v\" WHERE \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" AND \"__sdb_t\".\"user_id\" = ? RETURNING \"id\""
        );
        let delete = Shape {
            sets: Vec::new(),
            ..write
        };
        assert_eq!(
            delete.sql(Dialect::Sqlite, Op::Delete, 1, &[]),
            "WITH \"__sdb_v\"(\"k0\") AS (VALUES (?)) DELETE FROM \"tasks\" WHERE (\"id\") IN \
             (SELECT \"__sdb_t\".\"id\" FROM \"tasks\" AS \"__sdb_t\" JOIN \"__sdb_v\" ON \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" \
             WHERE \"__sdb_t\".\"user_id\" = ?) RETURNING \"id\""
        );
    }

    #[test]
    fn tuple_lists_and_batch_sizes() {
        let one = vec!["\"id\"".to_owned()];
        let two = vec!["\"a\"".to_owned(), "\"b\"".to_owned()];
        let rows = vec![vec!["?".to_owned(), "?".to_owned()]; 2];
        assert_eq!(
            in_list(
                Dialect::Sqlite,
                &one,
                &[vec!["?".to_owned()], vec!["?".to_owned()]]
            ),
            "\"id\" IN (?, ?)"
        );
        assert_eq!(
            in_list(Dialect::Sqlite, &two, &rows),
            "(\"a\", \"b\") IN (VALUES (?, ?), (?, ?))"
        );
        assert_eq!(
            in_list(Dialect::Postgres, &two, &rows),
            "(\"a\", \"b\") IN ((?, ?), (?, ?))"
        );
        assert_eq!(in_list(Dialect::MySql, &two, &[]), "1 = 0");
        assert_eq!(batch_rows(Dialect::Postgres, 9), 10_000);
        assert_eq!(batch_rows(Dialect::Sqlite, 9), 2_000);
        assert_eq!(batch_rows(Dialect::Sqlite, 30), 1_092);
        assert_eq!(batch_rows(Dialect::MySql, 200), 327);
    }

    #[test]
    fn exact_equality_keeps_the_text_of_decimals_and_json() {
        let d = |s: &str| Value::Decimal(safemodel::Decimal::new(s).unwrap());
        assert!(same(Some(&d("1.10")), &d("1.10")));
        assert!(!same(Some(&d("1.10")), &d("1.1")));
        let j = |s: &str| Value::Json(safemodel::Json::new(s).unwrap());
        assert!(!same(Some(&j("{\"n\": 1.0}")), &j("{\"n\": 1.00}")));
        assert!(same(Some(&Value::Float(0.1)), &Value::Float(0.1)));
        assert!(!same(None, &Value::Null));
    }
}
