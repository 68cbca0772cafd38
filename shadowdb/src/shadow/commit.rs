//! A session's commit: its own gates (the audit backlog, its limits, the
//! changeset reviewed is the sandbox's now), then the [`Syncer`]'s, which a
//! rollback shares.

use std::time::Instant;

use crate::diff::ChangeSet;
use crate::error::{Error, Result};
use crate::policy::ChangeSetHit;
use crate::review::Review;
use crate::sync::{CommitOptions, CommitReport, Origin, Record, Syncer};

use super::ShadowDb;

impl Origin for ShadowDb {
    fn changeset_hits(&self, cs: &ChangeSet) -> Vec<ChangeSetHit> {
        ShadowDb::changeset_hits(self, cs)
    }

    fn statement_approvals(&self) -> Vec<String> {
        ShadowDb::statement_approvals(self)
    }

    fn review<'c>(&self, cs: &'c ChangeSet) -> Review<'c> {
        ShadowDb::review(self, cs)
    }
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
                self.syncer().record_failure(commit_id, &e, "commit").await;
                Err(e)
            }
        }
    }

    /// The session's own gates (its audit backlog, its limits, the
    /// changeset reviewed is the sandbox's now), then the syncer's.
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
        let syncer = self.syncer();
        syncer.check_rows(&current)?;
        syncer
            .write(&current, opts, commit_id, started, Record::Commit)
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

    /// The syncer of this session.
    fn syncer(&self) -> Syncer<'_> {
        Syncer {
            prod: &self.prod,
            tenant: &self.tenant,
            tables: &self.tables,
            audit: &self.audit,
            actor: &self.actor,
            approver: self.approver.as_deref(),
            approval_timeout: self.approval_timeout,
            pii_digests: &self.pii_digests,
            outside_refs: &self.outside_refs,
            origin: self,
        }
    }
}
