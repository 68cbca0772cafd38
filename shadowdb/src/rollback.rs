//! Rollback: undo a recorded commit, with every gate of a commit.
//!
//! A commit's audit record holds each row it wrote, before and after. The
//! rollback of that commit is its inverse (an insert is deleted, an update is
//! set back, a delete is inserted again), written in one transaction, only
//! for the commit's tenant, and only if every row is still exactly as the
//! commit left it: a row that moved on since is a [`Conflict`](crate::Conflict)
//! and nothing is written. The rollback's own record is written in the same
//! transaction, so a commit is rolled back at most once.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool, commit_id: &str) -> shadowdb::Result<()> {
//! use shadowdb::rollback::Rollback;
//!
//! // Commits recorded in production's audit table (`audit_in_production`).
//! let rollback = Rollback::new(pool).actor("ops-lead");
//! for commit in rollback.list().await? {
//!     println!("{} {} rows {:?}", commit.commit_id, commit.rows_affected, commit.rolled_back_by);
//! }
//! let report = rollback.run(commit_id).await?;
//! println!("rolled back as {}", report.rollback_id);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use safemodel::{Row, SqlType, Value};

use crate::approve::Approver;
use crate::audit::{
    AuditEvent, AuditKind, AuditKindName, AuditQuery, AuditSink, AuditTrail, CommitRecord,
    DbAuditSink, JsonlSink, Redactor, RowImage, image_value, query_jsonl,
};
use crate::diff::check_new_row;
use crate::diff::{ChangeSet, Counts, Key, Op, RowChange};
use crate::error::{Error, Result};
use crate::policy::{ChangeSetHit, Decision, Policy};
use crate::prod::Production;
use crate::render::{Review, verdict_of};
use crate::scope::{SandboxPos, Scoped, pii_of};
use crate::shadow::ShadowDb;
use crate::sync::{CommitOptions, Origin, OutsideRef, Record, Syncer};
use crate::types::Dialect;

/// Where commit records are read from.
#[derive(Debug, Clone)]
enum Source {
    /// Production's audit table.
    Production,
    /// A JSON Lines audit file.
    Jsonl(PathBuf),
}

/// Rolls back recorded commits; start with [`Rollback::new`].
#[must_use]
pub struct Rollback {
    prod: Production,
    source: Source,
    actor: String,
    policy: Option<Policy>,
    options: CommitOptions,
    approver: Option<Arc<dyn Approver>>,
    approval_timeout: Duration,
    tenant_columns: Vec<(String, String)>,
    allow_uncontracted: bool,
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollback")
            .field("source", &self.source)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

/// A recorded commit, as [`Rollback::list`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    /// The commit's id.
    pub commit_id: String,
    /// When it was committed.
    pub time: DateTime<Utc>,
    /// Its tenant, rendered.
    pub tenant: String,
    /// Who committed.
    pub actor: String,
    /// Rows it wrote.
    pub rows_affected: u64,
    /// Rows per table and operation.
    pub rows: BTreeMap<String, Counts>,
    /// The rollback that undid it, if any.
    pub rolled_back_by: Option<String>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackReport {
    /// The commit undone.
    pub commit_id: String,
    /// The rollback's own id (in the audit trail).
    pub rollback_id: String,
    /// Rows written per table and operation (the inverse of the commit's).
    pub rows: BTreeMap<String, Counts>,
    /// Time taken.
    pub elapsed: Duration,
}

impl Rollback {
    /// Rolls back commits recorded in `prod`'s own audit table.
    pub fn new(prod: impl Into<Production>) -> Self {
        Rollback {
            prod: prod.into(),
            source: Source::Production,
            actor: crate::shadow::DEFAULT_ACTOR.to_owned(),
            policy: None,
            options: CommitOptions::default(),
            approver: None,
            approval_timeout: crate::approve::DEFAULT_TIMEOUT,
            tenant_columns: Vec::new(),
            allow_uncontracted: false,
            sinks: Vec::new(),
        }
    }

    /// Reads commits from a JSON Lines audit file instead; the rollback's
    /// record is appended to it.
    pub fn from_jsonl(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::Jsonl(path.into());
        self
    }

    /// Who rolls back (in the audit trail and approval requests).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// The policy whose changeset rules the rollback passes (default `dev`).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Gives the approval the policy may require.
    pub fn approved_by(mut self, who: impl Into<String>) -> Self {
        self.options = self.options.approved_by(who);
        self
    }

    /// Asks `approver` when the policy requires approval.
    pub fn approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// How long an approval request waits.
    pub fn approval_timeout(mut self, timeout: Duration) -> Self {
        self.approval_timeout = timeout;
        self
    }

    /// The tenant column of a table without a contract.
    pub fn tenant_column(mut self, table: &str, column: &str) -> Self {
        self.tenant_columns
            .push((table.to_owned(), column.to_owned()));
        self
    }

    /// Allows tables without a contract (each needs a tenant column).
    pub fn allow_uncontracted(mut self, allow: bool) -> Self {
        self.allow_uncontracted = allow;
        self
    }

    /// Also records the rollback to `sink`.
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    async fn events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        match &self.source {
            Source::Production => DbAuditSink::new(self.prod.clone()).query(query).await,
            Source::Jsonl(path) => query_jsonl(path, query),
        }
    }

    /// Every recorded commit, oldest first, with the rollback that undid it.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Audit`] when the trail cannot be read.
    pub async fn list(&self) -> Result<Vec<CommitSummary>> {
        let commits = self
            .events(&AuditQuery::new().kind(AuditKindName::Commit))
            .await?;
        let rollbacks = self
            .events(&AuditQuery::new().kind(AuditKindName::Rollback))
            .await?;
        let undone: BTreeMap<&str, &str> = rollbacks
            .iter()
            .filter_map(|e| match &e.kind {
                AuditKind::Rollback {
                    commit_id,
                    rollback_id,
                    ..
                } => Some((commit_id.as_str(), rollback_id.as_str())),
                _ => None,
            })
            .collect();
        Ok(commits
            .iter()
            .filter_map(|e| match &e.kind {
                AuditKind::Commit(c) => Some(CommitSummary {
                    commit_id: c.commit_id.clone(),
                    time: e.time,
                    tenant: e.tenant.clone(),
                    actor: e.actor.clone(),
                    rows_affected: c.rows_affected,
                    rows: c.counts(),
                    rolled_back_by: undone.get(c.commit_id.as_str()).map(|r| (*r).to_owned()),
                }),
                _ => None,
            })
            .collect())
    }

    /// The record of commit `commit_id`, which has not been rolled back,
    /// and the event that holds it.
    ///
    /// # Errors
    /// [`Error::UnknownCommit`], [`Error::AlreadyRolledBack`], or the trail
    /// cannot be read.
    pub async fn find(&self, commit_id: &str) -> Result<(AuditEvent, CommitRecord)> {
        let events = self.events(&AuditQuery::new().commit(commit_id)).await?;
        if let Some(rollback_id) = events.iter().find_map(|e| match &e.kind {
            AuditKind::Rollback { rollback_id, .. } => Some(rollback_id.clone()),
            _ => None,
        }) {
            return Err(Error::AlreadyRolledBack {
                commit_id: commit_id.to_owned(),
                rollback_id,
            });
        }
        events
            .into_iter()
            .find_map(|e| match &e.kind {
                AuditKind::Commit(c) => Some((e.clone(), c.clone())),
                _ => None,
            })
            .ok_or_else(|| Error::UnknownCommit {
                commit_id: commit_id.to_owned(),
            })
    }

    /// Rolls back commit `commit_id` (one rollback per `Rollback`).
    ///
    /// # Errors
    /// [`Error::UnknownCommit`], [`Error::AlreadyRolledBack`],
    /// [`Error::CannotRollBack`] (a deleted row whose table has columns the
    /// record does not hold), [`Error::Conflict`] naming every row that moved
    /// on since the commit, and every error of a commit
    /// ([`ShadowDb::commit_with`]). Production is untouched in every case.
    pub async fn run(mut self, commit_id: &str) -> Result<RollbackReport> {
        let started = Instant::now();
        let (event, record) = self.find(commit_id).await?;
        let record = &record;
        let target = self.target(&event, record).await?;
        let no_digests = HashMap::new();
        // A rollback cloned no rows: no PII digest to compare, no statement
        // to approve.
        let syncer = Syncer {
            prod: &self.prod,
            tenant: &target.tenant,
            tables: &target.tables,
            audit: &target.audit,
            actor: &self.actor,
            approver: self.approver.as_deref(),
            approval_timeout: self.approval_timeout,
            pii_digests: &no_digests,
            outside_refs: &target.outside_refs,
            origin: &target,
        };
        let inverse = inverse(&target, self.prod.dialect(), record)?;
        syncer.check_rows(&inverse)?;
        let rollback_id = uuid::Uuid::new_v4().to_string();
        let result = syncer
            .write(
                &inverse,
                &self.options,
                &rollback_id,
                started,
                Record::Rollback { of: commit_id },
            )
            .await;
        match result {
            Ok(report) => Ok(RollbackReport {
                commit_id: commit_id.to_owned(),
                rollback_id,
                rows: report.rows,
                elapsed: started.elapsed(),
            }),
            Err(e) => {
                syncer.record_failure(rollback_id, &e, "rollback").await;
                Err(e)
            }
        }
    }

    /// The commit's tables reflected again, its tenant typed as their
    /// columns type it, the policy and the audit trail the rollback passes.
    async fn target(&mut self, event: &AuditEvent, record: &CommitRecord) -> Result<Target> {
        let mut names: Vec<&str> = Vec::new();
        for row in &record.rows {
            if !names.contains(&row.table.as_str()) {
                names.push(&row.table);
            }
        }
        if names.is_empty() {
            return Err(Error::CannotRollBack {
                table: String::new(),
                key: String::new(),
                reason: "the commit recorded no rows".into(),
            });
        }
        let policy = match self.policy.take() {
            Some(p) => p,
            None => Policy::builtin("dev")?,
        };
        let mut sinks = Vec::new();
        if let Source::Jsonl(path) = &self.source {
            sinks.push(Arc::new(JsonlSink::open(path)?) as Arc<dyn AuditSink>);
        }
        sinks.extend(self.sinks.iter().cloned());
        let mut opts = ShadowDb::builder(self.prod.clone())
            .tables(names.iter().copied())
            .allow_uncontracted(self.allow_uncontracted);
        for (table, column) in &self.tenant_columns {
            opts = opts.tenant_column(table, column);
        }
        let (tables, outside_refs) = opts.scope().await?;
        let pii: Vec<(String, String)> = tables.iter().flat_map(pii_of).collect();
        let mut audit = AuditTrail::new(event.tenant.clone(), self.actor.clone())
            .with_redactor(Redactor::default())
            .with_pii(pii);
        for sink in sinks {
            audit = audit.with_sink(sink);
        }
        if matches!(self.source, Source::Production) {
            let db = DbAuditSink::new(self.prod.clone());
            db.ensure_table().await?;
            audit = audit.with_database(Arc::new(db));
        }
        // The name must still lead where the commit wrote.
        for row in &record.rows {
            let Some(recorded) = &row.resolved else {
                continue;
            };
            let now = scoped(&tables, &row.table)?.schema.resolved.to_string();
            if now != *recorded {
                return Err(Error::CannotRollBack {
                    table: row.table.clone(),
                    key: String::new(),
                    reason: format!(
                        "the name now resolves to `{now}`; the commit wrote `{recorded}`"
                    ),
                });
            }
        }
        let tenant = typed_tenant(&tables, event, record)?;
        Ok(Target {
            tables,
            outside_refs,
            tenant,
            policy,
            audit,
        })
    }
}

/// What a rollback writes through, owned for the [`Syncer`] to borrow.
struct Target {
    tables: Vec<Scoped>,
    outside_refs: Vec<OutsideRef>,
    tenant: Value,
    policy: Policy,
    audit: AuditTrail,
}

/// A rollback as the policy gate sees it: no statements were run and no rows
/// cloned, so only the policy's changeset rules apply.
impl Origin for Target {
    fn changeset_hits(&self, cs: &ChangeSet) -> Vec<ChangeSetHit> {
        self.policy.check_changeset(cs)
    }

    fn statement_approvals(&self) -> Vec<String> {
        Vec::new()
    }

    fn review<'c>(&self, cs: &'c ChangeSet) -> Review<'c> {
        let hits = self.changeset_hits(cs);
        // Each decision's reasons, once each, in the order of the hits.
        let reasons = |decision: Decision| {
            let mut seen = std::collections::HashSet::new();
            hits.iter()
                .filter(|h| h.decision == decision && seen.insert(&h.reason))
                .map(|h| h.reason.clone())
                .collect::<Vec<String>>()
        };
        Review {
            changeset: cs,
            verdict: verdict_of(
                cs,
                reasons(Decision::Block),
                reasons(Decision::RequireApproval),
            ),
            pii_columns: self.tables.iter().flat_map(pii_of).collect(),
            notes: reasons(Decision::Warn),
        }
    }
}

fn scoped<'a>(tables: &'a [Scoped], table: &str) -> Result<&'a Scoped> {
    tables
        .iter()
        .find(|t| t.schema.name.to_string() == table)
        .ok_or_else(|| Error::CannotRollBack {
            table: table.to_owned(),
            key: String::new(),
            reason: "the table is not in scope".into(),
        })
}

/// The tenant as its column types it, read from the rows' images: every row
/// of the commit must carry the same value, the one the record names.
fn typed_tenant(tables: &[Scoped], event: &AuditEvent, record: &CommitRecord) -> Result<Value> {
    let mut tenant: Option<Value> = None;
    for image in &record.rows {
        let t = scoped(tables, &image.table)?;
        let Some(tc) = t.tenant_column() else {
            continue;
        };
        let key = render_key(&image.key);
        let cannot = |reason: &str| Error::CannotRollBack {
            table: image.table.clone(),
            key: key.clone(),
            reason: reason.to_owned(),
        };
        let side = image.after.as_ref().or(image.before.as_ref());
        let json = side
            .and_then(|m| m.get(&tc.name))
            .ok_or_else(|| cannot("the record holds no tenant value"))?;
        let value = image_value(json, tc.kind.family().unwrap_or(SqlType::Text))
            .map_err(|e| cannot(&format!("{}: {e}", tc.name)))?;
        if value.to_string() != event.tenant {
            return Err(cannot("the row is not the recorded tenant's"));
        }
        match &tenant {
            Some(t) if *t != value => return Err(cannot("the commit spans two tenants")),
            Some(_) => {}
            None => tenant = Some(value),
        }
    }
    tenant.ok_or_else(|| Error::CannotRollBack {
        table: record
            .rows
            .first()
            .map(|r| r.table.clone())
            .unwrap_or_default(),
        key: String::new(),
        reason: "no table of the commit has a tenant column".into(),
    })
}

fn render_key(key: &serde_json::Map<String, serde_json::Value>) -> String {
    key.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of a commit, each row checked as a commit checks it.
fn inverse(target: &Target, dialect: Dialect, record: &CommitRecord) -> Result<ChangeSet> {
    let mut changes = Vec::with_capacity(record.rows.len());
    for image in &record.rows {
        let t = scoped(&target.tables, &image.table)?;
        let change = inverse_row(target, dialect, t, image)?;
        if change.op != Op::Update || !change.changed.is_empty() {
            changes.push(change);
        }
    }
    Ok(ChangeSet::new(changes, Vec::new()))
}

/// The inverse of one row the commit wrote, checked as a commit checks it.
fn inverse_row(
    target: &Target,
    dialect: Dialect,
    t: &Scoped,
    image: &RowImage,
) -> Result<RowChange> {
    let key_text = render_key(&image.key);
    let cannot = |reason: String| Error::CannotRollBack {
        table: image.table.clone(),
        key: key_text.clone(),
        reason,
    };
    let row_of = |m: &serde_json::Map<String, serde_json::Value>| image_row(t, m, &cannot);
    let key = image_key(t, image, &cannot)?;
    let change = match (image.op, &image.before, &image.after) {
        (Op::Insert, _, Some(after)) => {
            RowChange::deleted(image.table.clone(), key, row_of(after)?)
        }
        (Op::Update, Some(before), Some(after)) => {
            let old = row_of(after)?;
            let new = row_of(before)?;
            let changed: Vec<String> = new
                .iter()
                .filter(|(c, v)| old.get(c) != Some(*v))
                .map(|(c, _)| c.to_owned())
                .collect();
            let violations =
                check_new_row(&target.tenant, dialect, t, &new, Some(&old), Vec::new());
            RowChange {
                table: image.table.clone(),
                op: Op::Update,
                key,
                old: Some(old),
                new: Some(new),
                changed,
                violations,
            }
        }
        (Op::Delete, Some(before), _) => {
            let new = row_of(before)?;
            // Columns never cloned (PII, or left out of the contract) were
            // not recorded: inserting the row again would not restore it.
            let missing: Vec<&str> = t
                .schema
                .columns
                .iter()
                .filter(|c| new.get(&c.name).is_none())
                .map(|c| c.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(cannot(format!(
                    "the deleted row's column(s) {} were never recorded (PII or outside the contract)",
                    missing.join(", ")
                )));
            }
            let violations = check_new_row(&target.tenant, dialect, t, &new, None, Vec::new());
            RowChange::inserted(image.table.clone(), key, new, violations)
        }
        _ => return Err(cannot("the record's row image is incomplete".into())),
    };
    Ok(change)
}

/// A row of the record, typed as `t`'s columns are (PII columns, never
/// cloned, are left out).
fn image_row(
    t: &Scoped,
    m: &serde_json::Map<String, serde_json::Value>,
    cannot: &dyn Fn(String) -> Error,
) -> Result<Row> {
    let mut row = Row::new();
    for pos in 0..t.cols.len() {
        let (Some(col), false) = (
            t.col(SandboxPos(pos)),
            t.pii.get(pos).copied().unwrap_or(false),
        ) else {
            continue;
        };
        if let Some(json) = m.get(&col.name) {
            let value = image_value(json, col.kind.family().unwrap_or(SqlType::Text))
                .map_err(|e| cannot(format!("{}: {e}", col.name)))?;
            row.push(col.name.clone(), value);
        }
    }
    Ok(row)
}

/// The key of the row of `image`, typed as `t`'s key columns are.
fn image_key(t: &Scoped, image: &RowImage, cannot: &dyn Fn(String) -> Error) -> Result<Key> {
    Ok(Key(t
        .key_columns()
        .map(|c| {
            let json = image.key.get(&c.name).ok_or_else(|| {
                cannot(format!(
                    "the record holds no value of key column {}",
                    c.name
                ))
            })?;
            image_value(json, c.kind.family().unwrap_or(SqlType::Text))
                .map(|v| (c.name.clone(), v))
                .map_err(|e| cannot(format!("{}: {e}", c.name)))
        })
        .collect::<Result<Vec<_>>>()?))
}
