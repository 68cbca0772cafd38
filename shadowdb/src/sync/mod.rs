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
//! A [`Syncer`] does the writing: it borrows what a write needs (production,
//! the tenant, the scoped tables, the audit trail, the approver, and the
//! policy's view of where the changes come from) from whoever holds it, a
//! [`ShadowDb`] at commit or a [`Rollback`](crate::rollback::Rollback), so
//! both pass the same gates.
//! Where the parts are: `gates` (gates 1 to 3, and the cascade and PII checks
//! inside the transaction), `outside` (references onto tenant tables outside
//! the scope), `insert`, `apply` (updates and deletes in batches), `shape`
//! (the batch statements' SQL), `postgres`/`sqlite`/`mysql` (one batch each),
//! `binds` (values bound for production), `record` (what the audit trail is
//! given).
//!
//! After a successful commit the `ShadowDb` refuses a second commit (open a
//! new one for further work), and its baseline is production's new state: a
//! later `diff()` is empty. That rebase happens at that next diff, not in the
//! commit, so the commit returns as soon as production has committed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::approve::Approver;
use crate::audit::{self, AuditEvent, AuditKind, AuditTrail};
use crate::diff::{ChangeSet, Counts, Op, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::policy::ChangeSetHit;
use crate::prod::{Digests, ProdTx, Production};
use crate::remap::remap_all;
use crate::render::Review;
use crate::scope::Scoped;
use apply::{groups, without};

mod apply;
mod binds;
mod gates;
mod insert;
mod mysql;
mod outside;
mod postgres;
mod record;
mod shape;
mod sqlite;
#[cfg(test)]
mod tests;

pub use crate::remap::GeneratedKey;
pub(crate) use gates::gate_contract;
pub(crate) use outside::{OutsideRef, outside_refs};
pub(crate) use record::Record;

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

/// Options of [`ShadowDb::commit_with`](crate::ShadowDb::commit_with).
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

/// What the policy gate asks of the session whose changes are written: a
/// [`ShadowDb`] (its statements, its clone), or a rollback (no statements,
/// no rows cloned).
pub(crate) trait Origin: Sync {
    /// The policy's hits on the changes.
    fn changeset_hits(&self, cs: &ChangeSet) -> Vec<ChangeSetHit>;
    /// Reasons from the statements run that require approval.
    fn statement_approvals(&self) -> Vec<String>;
    /// The review an approver is shown.
    fn review<'c>(&self, cs: &'c ChangeSet) -> Review<'c>;
}

/// Writes a changeset to production, through every gate: what a commit and
/// a rollback share. It borrows its parts from whoever holds them, so
/// building one costs nothing.
pub(crate) struct Syncer<'a> {
    pub prod: &'a Production,
    /// The tenant, typed as its columns are.
    pub tenant: &'a safemodel::Value,
    pub tables: &'a [Scoped],
    pub audit: &'a AuditTrail,
    pub actor: &'a str,
    pub approver: Option<&'a dyn Approver>,
    pub approval_timeout: Duration,
    /// Per scoped table: production's digests of its PII columns at the
    /// clone (none for a rollback, which cloned no rows).
    pub pii_digests: &'a std::collections::HashMap<String, Digests>,
    /// Foreign keys onto tenant tables outside the scope.
    pub outside_refs: &'a [OutsideRef],
    /// The policy's view of the session (its statements, its review).
    pub origin: &'a dyn Origin,
}

impl Syncer<'_> {
    /// Gates 1 and 2, on the changeset alone: every written row carries the
    /// tenant, and every new or changed row passed its contract.
    pub(crate) fn check_rows(&self, cs: &ChangeSet) -> Result<()> {
        self.gate_tenant(cs)?;
        gate_contract(cs)
    }

    /// Gate 3 (policy and approval), then one transaction: nothing is
    /// written unless all of it is (see [`Syncer::transaction`]).
    pub(crate) async fn write(
        &self,
        cs: &ChangeSet,
        opts: &CommitOptions,
        id: &str,
        started: Instant,
        record: Record<'_>,
    ) -> Result<CommitReport> {
        self.gate_policy(cs, opts).await?;
        let mut tx = ProdTx::begin(self.prod).await?;
        let (done, event) = match self.transaction(&mut tx, cs, opts, id, record).await {
            Ok(done) => done,
            Err(e) => {
                tx.rollback().await;
                return Err(e);
            }
        };
        tx.commit()
            .await
            .map_err(|e| Error::database("commit: COMMIT", e))?;
        // Production has the change: a sink failing now cannot undo it, so it
        // is reported, not returned as an error.
        let audit_error = match &event {
            Some(event) => self.audit.record_after_commit(event).await.err().map(|e| {
                tracing::error!(error = %crate::render::escape_controls(&e.to_string()), commit_id = id, "the commit could not be audited");
                e.to_string()
            }),
            None => None,
        };
        Ok(CommitReport {
            commit_id: id.to_owned(),
            rows: done.written,
            generated_keys: done.generated,
            skipped: done.skipped,
            elapsed: started.elapsed(),
            audit_error,
        })
    }

    /// Puts a failed commit or rollback on the record (production is
    /// untouched); `what` names it in the log if even that fails.
    pub(crate) async fn record_failure(&self, id: String, e: &Error, what: &str) {
        let failed = AuditKind::commit_failed(Some(id), e);
        if let Err(audit) = self.audit.record(failed).await {
            tracing::error!(error = %crate::render::escape_controls(&audit.to_string()), "a failed {what} could not be audited");
        }
    }
}

impl Syncer<'_> {
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

    /// The transaction up to `COMMIT`: the checks that read production,
    /// then inserts (parents first), updates, deletes (children first), the
    /// conflicts settled, and the audit record (written in the transaction
    /// when the trail is kept in production). Any error rolls it back.
    async fn transaction(
        &self,
        tx: &mut ProdTx,
        cs: &ChangeSet,
        opts: &CommitOptions,
        id: &str,
        record: Record<'_>,
    ) -> Result<(Progress, Option<AuditEvent>)> {
        let mut done = Progress::default();
        self.write_all(tx, cs, &mut done).await?;
        settle(opts, &mut done)?;
        let cs = done.after.as_ref().unwrap_or(cs);
        let event = self.audit_event(tx, cs, &done, id, record).await?;
        if let Some(event) = &event
            && self.audit.database().is_some()
        {
            audit::record_in_tx(tx, event).await?;
        }
        Ok((done, event))
    }

    /// Everything the transaction checks and writes before its record.
    async fn write_all(&self, tx: &mut ProdTx, cs: &ChangeSet, done: &mut Progress) -> Result<()> {
        // Deletes and updates of referenced columns must not cascade onto
        // rows outside the changeset.
        self.check_cascades(tx, cs).await?;
        // References onto the tenant's tables outside the scope.
        self.check_outside(tx, cs).await?;
        // PII columns were never cloned: production's digest of each
        // must be as at the clone (rows locked until the commit).
        let pii_moved = self.check_pii(tx, cs, &mut done.conflicts).await?;
        let order = self.fk_order();
        self.insert_all(tx, cs, &order, done).await?;
        if !cs.pending_refs.is_empty() {
            done.after = with_keys(cs, &done.generated)?;
        }
        let cs = done.after.as_ref().unwrap_or(cs);
        let unmoved = |g| without(&pii_moved, g);
        for (op, tables) in [
            (Op::Update, order.clone()),
            (Op::Delete, order.iter().rev().copied().collect()),
        ] {
            for t in tables.iter().filter_map(|&ti| self.tables.get(ti)) {
                for group in groups(t, cs, op).into_iter().filter_map(unmoved) {
                    let n = self.apply_group(tx, t, &group, &mut done.conflicts).await?;
                    if n > 0 {
                        let counts = done.written.entry(t.schema.name.to_string()).or_default();
                        match op {
                            Op::Update => counts.update += n,
                            _ => counts.delete += n,
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Each table's new rows, parents first.
    async fn insert_all(
        &self,
        tx: &mut ProdTx,
        cs: &ChangeSet,
        order: &[usize],
        done: &mut Progress,
    ) -> Result<()> {
        for t in order.iter().filter_map(|&ti| self.tables.get(ti)) {
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
            let remapped = remap_all(&inserts, &cs.pending_refs, &done.generated, later)?;
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
            let n = self
                .insert_rows(tx, t, &inserts, &mut done.conflicts, &mut done.generated)
                .await?;
            if n > 0 {
                done.written.entry(name.clone()).or_default().insert +=
                    usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        Ok(())
    }
}

/// What the transaction has done so far.
#[derive(Default)]
struct Progress {
    /// Rows that could not be written as reviewed.
    conflicts: Vec<Conflict>,
    /// The conflicts left out ([`OnConflict::Skip`]).
    skipped: Vec<Conflict>,
    /// Keys production assigned to inserted rows.
    generated: Vec<GeneratedKey>,
    /// Rows written per table and operation.
    written: BTreeMap<String, Counts>,
    /// The changeset with production's keys in place of provisional ones,
    /// once the inserts assigned them (when any row references one).
    after: Option<ChangeSet>,
}

/// Moves the conflicts `opts` lets the commit skip to `skipped`, or
/// returns the error that aborts it.
fn settle(opts: &CommitOptions, done: &mut Progress) -> Result<()> {
    let conflicts = std::mem::take(&mut done.conflicts);
    if conflicts.is_empty() {
        return Ok(());
    }
    match opts.on_conflict {
        OnConflict::Abort => Err(Error::Conflict(conflicts)),
        // A key production holds taken may be held by a row this
        // very commit deleted: a key renamed under the collation
        // (`'k1'` to `'K1'`, `'x'` to `'x '`) is a delete and an
        // insert in the sandbox, and skipping the insert would commit
        // half of the rename, the row lost. Such a skip is refused whole.
        OnConflict::Skip
            if conflicts.iter().any(|c| {
                c.kind == ConflictKind::KeyExists
                    && done.written.get(&c.table).is_some_and(|w| w.delete > 0)
            }) =>
        {
            Err(Error::Conflict(conflicts))
        }
        OnConflict::Skip => {
            done.skipped = conflicts;
            Ok(())
        }
    }
}

/// `cs` with the keys production generated in place of provisional ones in
/// the rows that reference them; `None` when no row does.
fn with_keys(cs: &ChangeSet, generated: &[GeneratedKey]) -> Result<Option<ChangeSet>> {
    let all: Vec<&RowChange> = cs.changes().iter().collect();
    let remapped = remap_all(&all, &cs.pending_refs, generated, None)?;
    if !remapped.iter().any(Option::is_some) {
        return Ok(None);
    }
    let changes = all
        .iter()
        .zip(remapped)
        .map(|(c, r)| r.unwrap_or_else(|| (*c).clone()))
        .collect();
    let mut moved = ChangeSet::new(changes, cs.not_enforced.clone());
    moved.computed.clone_from(&cs.computed);
    moved.pending_refs.clone_from(&cs.pending_refs);
    Ok(Some(moved))
}
