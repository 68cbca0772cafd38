//! The recorded event: who, when, for which tenant, and what happened (the
//! [`AuditKind`]), with its JSON form (see the [module docs](crate::audit)).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::image::CommitRecord;
use super::redact::Redactor;
use crate::approve::{ApprovalDecision, ApprovalRequest};
use crate::diff::ChangeSet;
use crate::error::{Error, Result};
use crate::policy::{Decision, StatementVerdict};
use crate::textsql::to_micros;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When (microsecond precision).
    #[serde(with = "time_text")]
    pub time: DateTime<Utc>,
    /// The session (one `ShadowDb`) it belongs to.
    pub session_id: String,
    /// The tenant, rendered.
    pub tenant: String,
    /// The agent or user id the caller supplied.
    pub actor: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: AuditKind,
}

impl AuditEvent {
    /// An event happening now.
    #[must_use]
    pub fn now(
        session_id: impl Into<String>,
        tenant: impl Into<String>,
        actor: impl Into<String>,
        kind: AuditKind,
    ) -> Self {
        AuditEvent {
            time: to_micros(Utc::now()),
            session_id: session_id.into(),
            tenant: tenant.into(),
            actor: actor.into(),
            kind,
        }
    }

    /// The event as one line of JSON (no trailing newline).
    ///
    /// # Errors
    /// [`Error::Audit`] if it cannot be encoded (it always can).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map(crate::escape::escape_json_controls)
            .map_err(|e| Error::Audit {
                context: format!("cannot encode a {} event: {e}", self.kind.name()),
                source: None,
            })
    }

    /// Parses [`AuditEvent::to_json`].
    ///
    /// # Errors
    /// [`Error::Audit`] when `json` is not an event.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Audit {
            // serde's message can quote the value; the position cannot.
            context: format!("not an audit event (at column {})", e.column()),
            source: None,
        })
    }
}

/// What an event records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditKind {
    /// A sandbox was opened.
    SandboxOpened {
        /// The scoped tables.
        tables: Vec<String>,
        /// Rows cloned per table.
        row_counts: BTreeMap<String, u64>,
    },
    /// The agent sent a statement.
    Statement {
        /// The redacted text; `None` in hash-only mode.
        sql: Option<String>,
        /// Hex SHA-256 of the redacted text.
        sql_sha256: String,
        /// The policy's decision.
        #[serde(with = "decision_name")]
        decision: Decision,
        /// The rules that fired.
        hits: Vec<AuditHit>,
    },
    /// A diff was taken.
    DiffSummary {
        /// Rows per table and operation.
        counts: BTreeMap<String, OpCounts>,
    },
    /// Approval was asked for.
    ApprovalRequested {
        /// The request.
        request_id: String,
        /// Why approval is needed.
        reasons: Vec<String>,
        /// Its timeout.
        timeout_ms: u64,
    },
    /// Approval was decided (or timed out).
    ApprovalDecided {
        /// The request.
        request_id: String,
        /// Approved, denied, timed out.
        outcome: ApprovalOutcome,
        /// Who decided.
        by: Option<String>,
        /// Why it was denied.
        reason: Option<String>,
    },
    /// A changeset was committed to production.
    Commit(CommitRecord),
    /// A commit failed; production is unchanged.
    CommitFailed {
        /// The commit's id, when one was assigned.
        commit_id: Option<String>,
        /// The error, which names no values.
        reason: String,
    },
    /// A commit was rolled back.
    Rollback {
        /// The commit rolled back.
        commit_id: String,
        /// The id of the rollback's own transaction.
        rollback_id: String,
        /// Rows written by the rollback.
        rows_affected: u64,
    },
    /// A rate or session limit refused something.
    LimitExceeded {
        /// Which limit ([`crate::limits::limit_of`]).
        limit: String,
        /// The error's message.
        detail: String,
    },
}

/// The names of the event kinds, for queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AuditKindName {
    /// [`AuditKind::SandboxOpened`].
    SandboxOpened,
    /// [`AuditKind::Statement`].
    Statement,
    /// [`AuditKind::DiffSummary`].
    DiffSummary,
    /// [`AuditKind::ApprovalRequested`].
    ApprovalRequested,
    /// [`AuditKind::ApprovalDecided`].
    ApprovalDecided,
    /// [`AuditKind::Commit`].
    Commit,
    /// [`AuditKind::CommitFailed`].
    CommitFailed,
    /// [`AuditKind::Rollback`].
    Rollback,
    /// [`AuditKind::LimitExceeded`].
    LimitExceeded,
}

impl AuditKindName {
    /// Every kind.
    pub const ALL: [AuditKindName; 9] = [
        AuditKindName::SandboxOpened,
        AuditKindName::Statement,
        AuditKindName::DiffSummary,
        AuditKindName::ApprovalRequested,
        AuditKindName::ApprovalDecided,
        AuditKindName::Commit,
        AuditKindName::CommitFailed,
        AuditKindName::Rollback,
        AuditKindName::LimitExceeded,
    ];

    /// The `kind` of the JSON form (`statement`, `commit_failed`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            AuditKindName::SandboxOpened => "sandbox_opened",
            AuditKindName::Statement => "statement",
            AuditKindName::DiffSummary => "diff_summary",
            AuditKindName::ApprovalRequested => "approval_requested",
            AuditKindName::ApprovalDecided => "approval_decided",
            AuditKindName::Commit => "commit",
            AuditKindName::CommitFailed => "commit_failed",
            AuditKindName::Rollback => "rollback",
            AuditKindName::LimitExceeded => "limit_exceeded",
        }
    }

    /// Parses [`AuditKindName::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<AuditKindName> {
        AuditKindName::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for AuditKindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl AuditKind {
    /// Which kind this is.
    #[must_use]
    pub fn kind_name(&self) -> AuditKindName {
        match self {
            AuditKind::SandboxOpened { .. } => AuditKindName::SandboxOpened,
            AuditKind::Statement { .. } => AuditKindName::Statement,
            AuditKind::DiffSummary { .. } => AuditKindName::DiffSummary,
            AuditKind::ApprovalRequested { .. } => AuditKindName::ApprovalRequested,
            AuditKind::ApprovalDecided { .. } => AuditKindName::ApprovalDecided,
            AuditKind::Commit(_) => AuditKindName::Commit,
            AuditKind::CommitFailed { .. } => AuditKindName::CommitFailed,
            AuditKind::Rollback { .. } => AuditKindName::Rollback,
            AuditKind::LimitExceeded { .. } => AuditKindName::LimitExceeded,
        }
    }

    /// The `kind` of the JSON form.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.kind_name().name()
    }

    /// The commit the event is about: a commit's id, a failed commit's, or
    /// the commit a rollback undid.
    #[must_use]
    pub fn commit_id(&self) -> Option<&str> {
        match self {
            AuditKind::Commit(c) => Some(&c.commit_id),
            AuditKind::CommitFailed { commit_id, .. } => commit_id.as_deref(),
            AuditKind::Rollback { commit_id, .. } => Some(commit_id),
            _ => None,
        }
    }

    /// Whether production changed, or was meant to, with this event: file
    /// sinks sync these to disk before returning.
    #[must_use]
    pub fn is_commit_point(&self) -> bool {
        matches!(
            self,
            AuditKind::Commit(_) | AuditKind::CommitFailed { .. } | AuditKind::Rollback { .. }
        )
    }

    /// A sandbox opened on `row_counts`' tables.
    #[must_use]
    pub fn sandbox_opened(row_counts: BTreeMap<String, u64>) -> Self {
        AuditKind::SandboxOpened {
            tables: row_counts.keys().cloned().collect(),
            row_counts,
        }
    }

    /// A statement and its verdict, the text through `redactor`.
    #[must_use]
    pub fn statement(redactor: &Redactor, sql: &str, verdict: &StatementVerdict) -> Self {
        let redacted = redactor.redact_sql(sql);
        AuditKind::Statement {
            sql: redacted.text,
            sql_sha256: redacted.sha256,
            decision: verdict.decision,
            hits: verdict
                .hits
                .iter()
                .map(|h| AuditHit {
                    rule: h.rule.clone(),
                    decision: h.decision,
                    reason: h.reason.clone(),
                })
                .collect(),
        }
    }

    /// The counts of a changeset.
    #[must_use]
    pub fn diff_summary(changeset: &ChangeSet) -> Self {
        AuditKind::DiffSummary {
            counts: changeset
                .summary()
                .into_iter()
                .map(|(table, c)| {
                    (
                        table,
                        OpCounts {
                            insert: c.insert as u64,
                            update: c.update as u64,
                            delete: c.delete as u64,
                        },
                    )
                })
                .collect(),
        }
    }

    /// An approval request.
    #[must_use]
    pub fn approval_requested(request: &ApprovalRequest) -> Self {
        AuditKind::ApprovalRequested {
            request_id: request.id.clone(),
            reasons: request.reasons.clone(),
            timeout_ms: u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The decision on an approval request.
    #[must_use]
    pub fn approval_decided(request: &ApprovalRequest, decision: &ApprovalDecision) -> Self {
        let (outcome, by, reason) = match decision {
            ApprovalDecision::Approved { by } => (ApprovalOutcome::Approved, Some(by), None),
            ApprovalDecision::Denied { by, reason } => {
                (ApprovalOutcome::Denied, Some(by), Some(reason))
            }
            ApprovalDecision::TimedOut => (ApprovalOutcome::TimedOut, None, None),
        };
        AuditKind::ApprovalDecided {
            request_id: request.id.clone(),
            outcome,
            by: by.cloned(),
            reason: reason.cloned(),
        }
    }

    /// A commit of `changeset` (see [`CommitRecord::new`]).
    #[must_use]
    pub fn commit(
        commit_id: impl Into<String>,
        changeset: &ChangeSet,
        rows_affected: u64,
        pii: &[(String, String)],
    ) -> Self {
        AuditKind::Commit(CommitRecord::new(commit_id, changeset, rows_affected, pii))
    }

    /// A failed commit; `error`'s message names no values.
    #[must_use]
    pub fn commit_failed(commit_id: Option<String>, error: &Error) -> Self {
        AuditKind::CommitFailed {
            commit_id,
            reason: error.to_string(),
        }
    }

    /// The event for a limit breach, or `None` when `error` is not one.
    #[must_use]
    pub fn limit_exceeded(error: &Error) -> Option<Self> {
        crate::limits::limit_of(error).map(|limit| AuditKind::LimitExceeded {
            limit,
            // The error can quote the agent's SQL (a table name it made up).
            detail: crate::escape::escape_controls(&error.to_string()).into_owned(),
        })
    }
}

/// One policy rule that fired on a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHit {
    /// The rule id.
    pub rule: String,
    /// What it decided.
    #[serde(with = "decision_name")]
    pub decision: Decision,
    /// One line, naming tables and columns, never values.
    pub reason: String,
}

/// Rows per operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// Rows inserted.
    pub insert: u64,
    /// Rows updated.
    pub update: u64,
    /// Rows deleted.
    pub delete: u64,
}

/// How an approval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Not answered in time (a denial).
    TimedOut,
}

mod time_text {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::textsql::format_time(t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        crate::textsql::parse_time(&text).map_err(serde::de::Error::custom)
    }
}

mod decision_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::policy::Decision;

    // serde's `with` hands the field by reference.
    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub(super) fn serialize<S: Serializer>(d: &Decision, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decision, D::Error> {
        let name = String::deserialize(d)?;
        Decision::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown decision `{name}`")))
    }
}
