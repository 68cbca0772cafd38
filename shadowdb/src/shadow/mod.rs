//! `ShadowDb`: open a sandbox of one tenant's rows, run the agent's SQL, diff.
//!
//! The session's stages, each in a file of its own: `builder` (the options),
//! `open` and `clone` (reflect, check, build the sandbox, clone the rows),
//! `statements` (the agent's SQL, judged and run). The tables in scope and
//! their contract check are [`crate::scope`]'s; the diff's computation is
//! [`crate::diff`]'s; the commit is `crate::sync`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use safemodel::Value;

use crate::approve::Approver;
use crate::audit::{AuditEvent, AuditKind, AuditTrail};
use crate::diff::{ChangeSet, RowChecks};
use crate::error::{Error, Result};
use crate::limits::{RateLimiter, SessionGuard};
use crate::model::TableSchema;
use crate::policy::{Decision, Policy, Scope, StatementVerdict};
use crate::prod::{self, Production};
use crate::render::{Review, verdict_of};
use crate::sandbox::{RawChange, Sandbox};
use crate::types::Dialect;

mod builder;
mod clone;
mod commit;
mod open;
mod statements;

pub use builder::{DEFAULT_ACTOR, OpenOptions};
// Paths the commit, rollback and CLI use; the scope is its own stage now.
pub(crate) use crate::scope::{Scoped, contract_problems, pii_of};

/// Rows cloned per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneStats {
    /// `(table, rows)` in scope order.
    pub tables: Vec<(String, u64)>,
    /// Time to reflect and clone.
    pub elapsed: Duration,
}

/// A sandbox of one tenant's rows of some production tables.
///
/// Dropping it destroys the sandbox. See the crate docs for the flow.
pub struct ShadowDb {
    pub(crate) prod: Production,
    pub(crate) tenant: Value,
    pub(crate) tables: Vec<Scoped>,
    sandbox: Mutex<Sandbox>,
    pub(crate) policy: Policy,
    scope: Scope,
    pub(crate) log: Mutex<Vec<StatementVerdict>>,
    stats: CloneStats,
    pub(crate) committed: Option<String>,
    pub(crate) actor: String,
    pub(crate) audit: AuditTrail,
    /// Events taken where nothing can wait (a diff), recorded by the next
    /// statement, commit or [`ShadowDb::flush_audit`].
    pending_audit: Mutex<Vec<AuditEvent>>,
    pub(crate) approver: Option<Arc<dyn Approver>>,
    pub(crate) approval_timeout: Duration,
    pub(crate) rate_limiter: Option<Arc<RateLimiter>>,
    pub(crate) session: SessionGuard,
    /// The last diff and the sandbox's change counter when it was taken:
    /// while the counter stands still, a commit need not diff again.
    pub(crate) last_diff: Mutex<Option<(u64, ChangeSet)>>,
    /// Set by a commit: the baseline is to become the sandbox's current
    /// state, done by the next diff (a committed sandbox rarely diffs again).
    pub(crate) stale_baseline: std::sync::atomic::AtomicBool,
    /// Per table (scoped name): production's digests of its PII columns at
    /// the clone, never shown to the agent; the commit requires them unchanged.
    pub(crate) pii_digests: HashMap<String, prod::Digests>,
    /// Foreign keys onto tenant tables outside the scope, checked at commit.
    pub(crate) outside_refs: Vec<crate::sync::OutsideRef>,
}

impl std::fmt::Debug for ShadowDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowDb")
            .field("dialect", &self.prod.dialect())
            .field("tables", &self.table_names())
            .finish_non_exhaustive()
    }
}

impl ShadowDb {
    pub(crate) fn sandbox(&self) -> Result<MutexGuard<'_, Sandbox>> {
        lock(&self.sandbox)
    }

    /// The production dialect.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.prod.dialect()
    }

    /// The tenant value.
    #[must_use]
    pub fn tenant(&self) -> &Value {
        &self.tenant
    }

    /// The scoped tables, as named at open.
    #[must_use]
    pub fn table_names(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| t.schema.name.to_string())
            .collect()
    }

    /// The reflected schema of each scoped table.
    #[must_use]
    pub fn schemas(&self) -> Vec<&TableSchema> {
        self.tables.iter().map(|t| &t.schema).collect()
    }

    /// Rows cloned per table and the time it took.
    #[must_use]
    pub fn clone_stats(&self) -> &CloneStats {
        &self.stats
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Every statement run so far, with its policy verdict.
    #[must_use]
    pub fn statement_log(&self) -> Vec<StatementVerdict> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The PII columns of the scope as `(table, column)`.
    #[must_use]
    pub fn pii_columns(&self) -> Vec<(String, String)> {
        self.tables.iter().flat_map(pii_of).collect()
    }

    /// The agent or user id the session acts as.
    #[must_use]
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The session's audit trail (its session id, redactor, PII columns).
    #[must_use]
    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    /// The policy's hits on `changeset`: its changeset rules, and the effect
    /// rule over the whole session (no split of a write into statements that
    /// each leave a row, nor a decoy row inserted first, hides a write of
    /// every row a table held when the sandbox was cloned).
    pub(crate) fn changeset_hits(&self, changeset: &ChangeSet) -> Vec<crate::policy::ChangeSetHit> {
        let mut hits = self.policy.check_changeset(changeset);
        hits.extend(
            self.policy
                .check_whole_tables(changeset, &self.stats.tables),
        );
        hits
    }

    /// The review of `changeset`: its contract checks, the policy's decisions
    /// on the statements run and on the changeset, the PII columns to mask.
    /// This is what [`render_text`](crate::render::render_text) shows and
    /// what an approver is asked about.
    #[must_use]
    pub fn review<'a>(&self, changeset: &'a ChangeSet) -> Review<'a> {
        let hits = self.changeset_hits(changeset);
        let log = self.statement_log();
        let mut block = Vec::new();
        let mut approval = Vec::new();
        let mut notes = Vec::new();
        for hit in log.iter().flat_map(|v| v.hits.iter()) {
            let line = format!("{}: {}", hit.rule, hit.reason);
            match hit.decision {
                Decision::Block => block.push(line),
                Decision::RequireApproval => approval.push(line),
                Decision::Warn => notes.push(line),
                Decision::Allow | Decision::Audit => {}
            }
        }
        for hit in hits {
            match hit.decision {
                Decision::Block => block.push(hit.reason),
                Decision::RequireApproval => approval.push(hit.reason),
                Decision::Warn => notes.push(hit.reason),
                Decision::Allow | Decision::Audit => {}
            }
        }
        for list in [&mut block, &mut approval, &mut notes] {
            let mut seen = std::collections::HashSet::new();
            list.retain(|l| seen.insert(l.clone()));
        }
        Review {
            changeset,
            verdict: verdict_of(changeset, block, approval),
            pii_columns: self.pii_columns(),
            notes,
        }
    }

    /// Records the events that were waiting (a diff's summary) to the audit
    /// sinks. Statements and commits do this themselves; call it when a
    /// session ends after a diff without committing.
    ///
    /// # Errors
    /// The first sink's error.
    pub async fn flush_audit(&self) -> Result<()> {
        let pending: Vec<AuditEvent> = self
            .pending_audit
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for event in &pending {
            self.audit.record_event(event).await?;
        }
        Ok(())
    }

    /// Passes `checked` through, recording a limit breach to the audit trail.
    pub(crate) async fn limit<T>(&self, checked: Result<T>) -> Result<T> {
        if let Err(e) = &checked
            && let Some(kind) = AuditKind::limit_exceeded(e)
            && let Err(audit) = self.audit.record(kind).await
        {
            tracing::error!(error = %crate::render::escape_controls(&audit.to_string()), "a limit breach could not be audited");
        }
        checked
    }

    /// The row-level difference between the clone and the sandbox now, each
    /// new or changed row checked against its contract, the tenant, and what
    /// production accepts for each column.
    ///
    /// # Errors
    /// [`Error::Sandbox`] if the sandbox cannot be read.
    pub fn diff(&self) -> Result<ChangeSet> {
        let sandbox = self.sandbox()?;
        // A script whose caller went away before recording it is undone.
        sandbox.settle()?;
        if self
            .stale_baseline
            .load(std::sync::atomic::Ordering::Acquire)
        {
            sandbox.rebase()?;
            self.stale_baseline
                .store(false, std::sync::atomic::Ordering::Release);
        }
        // Each change is typed and checked as SQLite finds it.
        let checks = self.row_checks();
        let mut changes = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            sandbox.changes_into(i, &mut |raw| {
                let RawChange { old, new, names } = raw;
                changes.extend(checks.row_changes(t, old, new, &names));
                Ok(())
            })?;
        }
        let not_enforced = self
            .tables
            .iter()
            .flat_map(|t| {
                t.schema
                    .not_enforced
                    .iter()
                    .map(move |n| format!("{}: {n}", t.schema.name))
            })
            .collect();
        let refs = crate::remap::pending_refs(&self.tables);
        crate::remap::check_provisional(&self.tables, &refs, &mut changes);
        let mut cs = ChangeSet::new(changes, not_enforced);
        cs.computed = self
            .tables
            .iter()
            .flat_map(|t| {
                t.schema
                    .columns
                    .iter()
                    .filter(|c| c.computed)
                    .map(|c| (t.schema.name.to_string(), c.name.clone()))
            })
            .collect();
        cs.pending_refs = refs;
        if self.audit.is_enabled()
            && let Ok(mut pending) = self.pending_audit.lock()
        {
            pending.push(self.audit.event(AuditKind::diff_summary(&cs)));
        }
        if let Ok(mut last) = self.last_diff.lock() {
            *last = Some((sandbox.total_changes(), cs.clone()));
        }
        Ok(cs)
    }

    /// What each new or changed row is checked against: the tenant, and
    /// what production accepts.
    fn row_checks(&self) -> RowChecks<'_> {
        RowChecks {
            tenant: &self.tenant,
            dialect: self.prod.dialect(),
        }
    }
}

fn lock(sandbox: &Mutex<Sandbox>) -> Result<MutexGuard<'_, Sandbox>> {
    sandbox
        .lock()
        .map_err(|_| Error::Sandbox("the sandbox was poisoned by a panic".into()))
}
