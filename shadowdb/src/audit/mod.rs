//! The audit trail: every sandbox, statement, diff, approval, commit and
//! rollback, as structured events written to one or more sinks.
//!
//! # The event, as JSON
//!
//! One object per event (one line in a JSON Lines file), keys in this order:
//!
//! ```json
//! {"time":"2024-05-01T12:00:00.000000Z","session_id":"…","tenant":"42","actor":"agent-7",
//!  "kind":"statement", …the kind's fields…}
//! ```
//!
//! - `time`: the instant in UTC, always microseconds and `Z`, so the text
//!   sorts as the time does.
//! - `kind` and its fields:
//!   - `sandbox_opened`: `tables` (array of names), `row_counts` (object: table → rows cloned)
//!   - `statement`: `sql` (the redacted text, `null` in hash-only mode),
//!     `sql_sha256` (hex SHA-256 of the redacted text), `decision`
//!     (`allow` … `block`), `hits` (array of `{rule, decision, reason}`)
//!   - `diff_summary`: `counts` (object: table → `{insert, update, delete}`)
//!   - `approval_requested`: `request_id`, `reasons`, `timeout_ms`
//!   - `approval_decided`: `request_id`, `outcome` (`approved`, `denied`,
//!     `timed_out`), `by` and `reason` (`null` when not applicable)
//!   - `commit`: `commit_id`, `rows_affected`, `rows`: array of
//!     `{table, op, key, before, after}` where `op` is `insert`, `update` or
//!     `delete`, `key` an object of the key columns, `before` and `after` objects
//!     of the whole row (`null` for an insert's `before` and a delete's `after`)
//!   - `commit_failed`: `commit_id` (or `null`), `reason`
//!   - `rollback`: `commit_id` (the commit rolled back), `rollback_id`, `rows_affected`
//!   - `limit_exceeded`: `limit` (`max_statements`, `statements per tenant`, …), `detail`
//!
//! Row values in `key`, `before` and `after` are exact and typed by their
//! column ([`image_json`], read back with [`image_value`]): NULL is `null`,
//! booleans and integers are JSON booleans and numbers, floats are numbers
//! (`"NaN"`, `"Infinity"`, `"-Infinity"` as strings), decimals are strings
//! (`"12.50"`), text is a string, bytes are `"\\x0a1b"`, UUIDs, dates, times
//! and timestamps are ISO 8601 strings (an instant ends in `Z`), and a JSON
//! column is a string holding the document's exact text.
//!
//! # What never reaches a sink
//! PII column values: sandbox rows never hold them, and [`CommitRecord`]
//! drops every column named in the PII list besides. Secrets in SQL text:
//! [`Redactor`] masks configured patterns, can replace every literal with `?`,
//! or keep only a hash.
//!
//! # Sinks
//! [`JsonlSink`] (a file, appended; flushed after each event and synced to
//! disk at commit, commit failure and rollback), [`DbAuditSink`] (the table
//! `shadowdb_audit` in production, written in the commit's own transaction
//! for commit events), [`MemorySink`], or any [`AuditSink`].

mod db;
mod jsonl;
mod query;
mod redact;
pub(crate) mod textsql;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc};
use safemodel::{Decimal, Json, Row, SqlType, Value};
use serde::{Deserialize, Serialize};

use crate::approve::{ApprovalDecision, ApprovalRequest, BoxFuture};
use crate::diff::{ChangeSet, Op};
use crate::error::{Error, Result};
use crate::policy::{Decision, StatementVerdict};

pub(crate) use db::record_in_tx;
pub use db::{AUDIT_TABLE, AuditConn, DbAuditSink, ensure_audit_table, insert_event};
pub use jsonl::{JsonlSink, query_jsonl};
pub use query::AuditQuery;
pub use redact::{RedactedSql, Redactor};

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

/// A committed changeset, row by row, with what each row was before and after:
/// enough to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The commit's id.
    pub commit_id: String,
    /// Rows production reported written.
    pub rows_affected: u64,
    /// Each changed row.
    pub rows: Vec<RowImage>,
}

impl CommitRecord {
    /// The record of committing `changeset`. Columns named in `pii`
    /// (`(table, column)`; table `*` for every table; a qualified and an
    /// unqualified name of one table match) are left out of every image, in
    /// case a PII value slipped into a row.
    ///
    /// Inserted rows are recorded with the keys of the changeset: when
    /// production assigned others, set them in the `after` image and `key`.
    #[must_use]
    pub fn new(
        commit_id: impl Into<String>,
        changeset: &ChangeSet,
        rows_affected: u64,
        pii: &[(String, String)],
    ) -> Self {
        let rows = changeset
            .changes()
            .iter()
            .map(|c| {
                let keep = |column: &str| !is_pii(pii, &c.table, column);
                RowImage {
                    table: c.table.clone(),
                    op: c.op,
                    key: c
                        .key
                        .0
                        .iter()
                        .filter(|(col, _)| keep(col))
                        .map(|(col, v)| (col.clone(), image_json(v)))
                        .collect(),
                    before: c.old.as_ref().map(|r| row_image(r, &keep)),
                    after: c.new.as_ref().map(|r| row_image(r, &keep)),
                    resolved: None,
                }
            })
            .collect();
        CommitRecord {
            commit_id: commit_id.into(),
            rows_affected,
            rows,
        }
    }
}

impl CommitRecord {
    /// Rows per table and operation.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<String, crate::diff::Counts> {
        let mut out: BTreeMap<String, crate::diff::Counts> = BTreeMap::new();
        for r in &self.rows {
            let c = out.entry(r.table.clone()).or_default();
            match r.op {
                Op::Insert => c.insert += 1,
                Op::Update => c.update += 1,
                Op::Delete => c.delete += 1,
            }
        }
        out
    }
}

/// One row of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowImage {
    /// The table (as scoped).
    pub table: String,
    /// Insert, update or delete.
    #[serde(with = "op_name")]
    pub op: Op,
    /// The primary key columns and values.
    pub key: serde_json::Map<String, serde_json::Value>,
    /// The row before (`None` for an insert).
    pub before: Option<serde_json::Map<String, serde_json::Value>>,
    /// The row after (`None` for a delete).
    pub after: Option<serde_json::Map<String, serde_json::Value>>,
    /// The table as production resolved it when the commit wrote it
    /// (`public.tasks`): a rollback refuses to write if the name now
    /// resolves elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
}

fn row_image(row: &Row, keep: &dyn Fn(&str) -> bool) -> serde_json::Map<String, serde_json::Value> {
    row.iter()
        .filter(|(col, _)| keep(col))
        .map(|(col, v)| (col.to_owned(), image_json(v)))
        .collect()
}

/// Whether `(table, column)` is in `pii` (table `*` matches every table; a
/// qualified and an unqualified name of one table match: one column too many
/// left out is harmless, one too few is not).
fn is_pii(pii: &[(String, String)], table: &str, column: &str) -> bool {
    let bare = |t: &str| t.rsplit('.').next().unwrap_or(t).to_owned();
    pii.iter()
        .any(|(t, c)| c == column && (t == "*" || t == table || bare(t) == bare(table)))
}

/// A value as it is written in a row image (see the [module docs](self)).
#[must_use]
pub fn image_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(x) if x.is_nan() => J::from("NaN"),
        Value::Float(x) if x.is_infinite() => {
            J::from(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        Value::Decimal(d) => J::from(d.as_str()),
        Value::Text(s) => J::from(s.as_str()),
        Value::Uuid(u) => J::from(u.hyphenated().to_string()),
        Value::Date(d) => J::from(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => J::from(t.format("%H:%M:%S%.f").to_string()),
        Value::Timestamp(t) => J::from(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Value::TimestampTz(t) => J::from(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()),
        Value::Json(j) => J::from(j.as_str()),
        // `\x0a1b`, as PostgreSQL writes bytes, and any later kind as its text.
        other => J::from(other.to_string()),
    }
}

/// Reads back a value of [`image_json`] for a column of type `ty`.
///
/// # Errors
/// A message (without the value) when `json` is not a value of `ty`.
pub fn image_value(json: &serde_json::Value, ty: SqlType) -> std::result::Result<Value, String> {
    use serde_json::Value as J;
    let wrong = || format!("not a value of type {}", ty.name());
    Ok(match (ty, json) {
        (_, J::Null) => Value::Null,
        (SqlType::Bool, J::Bool(b)) => Value::Bool(*b),
        (SqlType::Int, J::Number(n)) => Value::Int(n.as_i64().ok_or_else(wrong)?),
        (SqlType::Float, J::Number(n)) => {
            Value::Float(n.to_string().parse::<f64>().map_err(|_| wrong())?)
        }
        (SqlType::Float, J::String(s)) => Value::Float(match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => return Err(wrong()),
        }),
        (SqlType::Decimal, J::String(s)) => {
            Value::Decimal(Decimal::new(s.as_str()).map_err(|_| wrong())?)
        }
        (SqlType::Text, J::String(s)) => Value::Text(s.clone()),
        (SqlType::Bytes, J::String(s)) => Value::Bytes(
            s.strip_prefix("\\x")
                .and_then(|h| hex::decode(h).ok())
                .ok_or_else(wrong)?,
        ),
        (SqlType::Uuid, J::String(s)) => {
            Value::Uuid(uuid::Uuid::try_parse(s).map_err(|_| wrong())?)
        }
        (SqlType::Date, J::String(s)) => {
            Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| wrong())?)
        }
        (SqlType::Time, J::String(s)) => {
            Value::Time(NaiveTime::parse_from_str(s, "%H:%M:%S%.f").map_err(|_| wrong())?)
        }
        (SqlType::Timestamp, J::String(s)) => Value::Timestamp(
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| wrong())?,
        ),
        (SqlType::TimestampTz, J::String(s)) => Value::TimestampTz(
            s.strip_suffix('Z')
                .and_then(|n| NaiveDateTime::parse_from_str(n, "%Y-%m-%dT%H:%M:%S%.f").ok())
                .ok_or_else(wrong)?
                .and_utc(),
        ),
        (SqlType::Json, J::String(s)) => Value::Json(Json::new(s.as_str()).map_err(|_| wrong())?),
        _ => return Err(wrong()),
    })
}

/// An instant truncated to whole microseconds, the precision of the trail.
#[must_use]
pub(crate) fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros).unwrap_or(t)
}

/// The trail's text of an instant: `2024-05-01T12:00:00.000000Z`, which sorts
/// as the instant does (years 0 to 9999; later instants are written as the
/// last microsecond of 9999).
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|n| n.and_utc());
    let t = match last {
        Some(last) if *t > last => last,
        _ => *t,
    };
    to_micros(t).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses [`format_time`] (and any RFC 3339 instant).
pub(crate) fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

mod time_text {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_time(&text).map_err(serde::de::Error::custom)
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

mod op_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::diff::Op;

    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub(super) fn serialize<S: Serializer>(op: &Op, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(op.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let name = String::deserialize(d)?;
        [Op::Insert, Op::Update, Op::Delete]
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown operation `{name}`")))
    }
}

/// Where events go. Implement it to forward events elsewhere.
pub trait AuditSink: Send + Sync {
    /// Records `event` durably enough for the sink's purpose before returning.
    ///
    /// # Errors
    /// [`Error::Audit`] or [`Error::Database`] when the event was not recorded.
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>>;
}

impl<S: AuditSink + ?Sized> AuditSink for Arc<S> {
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>> {
        (**self).record(event)
    }
}

/// Keeps events in memory (tests, or a program that inspects its own trail).
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// The events so far, oldest first.
    #[must_use]
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AuditSink for MemorySink {
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
        Box::pin(async { Ok(()) })
    }
}

/// One session's trail: who, for which tenant, how SQL is redacted, which
/// columns are PII, and where events go.
///
/// ```
/// use std::sync::Arc;
/// use shadowdb::audit::{AuditKind, AuditTrail, MemorySink};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let memory = Arc::new(MemorySink::new());
/// let trail = AuditTrail::new("42", "agent-7").with_sink(memory.clone());
/// trail.record(AuditKind::sandbox_opened([("tasks".to_owned(), 3)].into())).await?;
/// assert_eq!(memory.events()[0].kind.name(), "sandbox_opened");
/// # Ok::<(), shadowdb::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct AuditTrail {
    session_id: String,
    tenant: String,
    actor: String,
    redactor: Redactor,
    pii: Vec<(String, String)>,
    sinks: Vec<Arc<dyn AuditSink>>,
    database: Option<Arc<DbAuditSink>>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("session_id", &self.session_id)
            .field("tenant", &self.tenant)
            .field("actor", &self.actor)
            .field("redactor", &self.redactor)
            .field("sinks", &self.sinks.len())
            .field("database", &self.database.is_some())
            .finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// A trail with a fresh session id, no sinks, the default [`Redactor`].
    #[must_use]
    pub fn new(tenant: impl Into<String>, actor: impl Into<String>) -> Self {
        AuditTrail {
            session_id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.into(),
            actor: actor.into(),
            redactor: Redactor::default(),
            pii: Vec::new(),
            sinks: Vec::new(),
            database: None,
        }
    }

    /// Sets the session id.
    #[must_use]
    pub fn with_session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = id.into();
        self
    }

    /// Sets how SQL text is redacted.
    #[must_use]
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Adds PII columns `(table, column)` left out of row images.
    #[must_use]
    pub fn with_pii(mut self, pii: impl IntoIterator<Item = (String, String)>) -> Self {
        self.pii.extend(pii);
        self
    }

    /// Adds a sink.
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Sets the production table sink: it receives every event, and commit
    /// events are written to it inside the commit's transaction.
    #[must_use]
    pub fn with_database(mut self, sink: Arc<DbAuditSink>) -> Self {
        self.database = Some(sink);
        self
    }

    /// Whether any event goes anywhere (a sink or the database).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.sinks.is_empty() || self.database.is_some()
    }

    /// The session id.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The redactor.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The PII columns.
    #[must_use]
    pub fn pii(&self) -> &[(String, String)] {
        &self.pii
    }

    /// The production table sink, if any.
    #[must_use]
    pub fn database(&self) -> Option<&DbAuditSink> {
        self.database.as_deref()
    }

    /// An event of this session, now.
    #[must_use]
    pub fn event(&self, kind: AuditKind) -> AuditEvent {
        AuditEvent::now(&self.session_id, &self.tenant, &self.actor, kind)
    }

    /// Records an event of `kind` to every sink and the database; returns it.
    ///
    /// # Errors
    /// The first sink's error; every sink is tried.
    pub async fn record(&self, kind: AuditKind) -> Result<AuditEvent> {
        let event = self.event(kind);
        self.record_event(&event).await?;
        Ok(event)
    }

    /// Records `event` to every sink and the database.
    ///
    /// # Errors
    /// The first sink's error; every sink is tried.
    pub async fn record_event(&self, event: &AuditEvent) -> Result<()> {
        let mut first = self.record_to_sinks(event).await.err();
        if let Some(db) = &self.database
            && let Err(e) = db.record(event).await
        {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Records `event` to every sink but the database: for a commit event the
    /// database already holds, written in the commit's transaction.
    ///
    /// # Errors
    /// The first sink's error; every sink is tried.
    pub async fn record_after_commit(&self, event: &AuditEvent) -> Result<()> {
        self.record_to_sinks(event).await
    }

    async fn record_to_sinks(&self, event: &AuditEvent) -> Result<()> {
        let mut first = None;
        for sink in &self.sinks {
            if let Err(e) = sink.record(event).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// A statement event, the text through this trail's redactor.
    #[must_use]
    pub fn statement(&self, sql: &str, verdict: &StatementVerdict) -> AuditKind {
        AuditKind::statement(&self.redactor, sql, verdict)
    }

    /// A commit event without this trail's PII columns.
    #[must_use]
    pub fn commit(
        &self,
        commit_id: impl Into<String>,
        changeset: &ChangeSet,
        rows_affected: u64,
    ) -> AuditKind {
        AuditKind::commit(commit_id, changeset, rows_affected, &self.pii)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_one_width() {
        let t = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(format_time(&t), "2024-05-01T12:00:00.000000Z");
        let t = parse_time("2024-05-01T12:00:00.123456789Z").unwrap();
        assert_eq!(format_time(&t), "2024-05-01T12:00:00.123456Z");
        assert_eq!(
            format_time(&DateTime::<Utc>::MAX_UTC),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn images_read_back_exactly() {
        let cases = [
            (Value::Null, SqlType::Text),
            (Value::Bool(true), SqlType::Bool),
            (Value::Int(i64::MIN), SqlType::Int),
            (Value::Float(0.1), SqlType::Float),
            (Value::Float(-0.0), SqlType::Float),
            (Value::Float(1e300), SqlType::Float),
            (Value::Float(f64::NAN), SqlType::Float),
            (Value::Float(f64::NEG_INFINITY), SqlType::Float),
            (
                Value::Decimal(Decimal::new("12345678901234567890.1234567890").unwrap()),
                SqlType::Decimal,
            ),
            (Value::Text("\"quoted\"\n".into()), SqlType::Text),
            (Value::Bytes(vec![0, 10, 255]), SqlType::Bytes),
            (Value::Uuid(uuid::Uuid::new_v4()), SqlType::Uuid),
            (
                Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                SqlType::Date,
            ),
            (
                Value::Time(NaiveTime::from_hms_micro_opt(13, 45, 0, 120).unwrap()),
                SqlType::Time,
            ),
            (
                Value::Timestamp(parse_time("2024-05-01T13:45:00.5Z").unwrap().naive_utc()),
                SqlType::Timestamp,
            ),
            (
                Value::TimestampTz(parse_time("2024-05-01T13:45:00.000001+02:00").unwrap()),
                SqlType::TimestampTz,
            ),
            (
                Value::Json(Json::new(r#"{"b": 1.000000000000000000001, "a": [ ]}"#).unwrap()),
                SqlType::Json,
            ),
        ];
        for (value, ty) in cases {
            let line = serde_json::to_string(&image_json(&value)).unwrap();
            let back: serde_json::Value = serde_json::from_str(&line).unwrap();
            let read = image_value(&back, ty).unwrap();
            assert_eq!(read, value, "{ty}: {line}");
            if let (Value::Json(a), Value::Json(b)) = (&read, &value) {
                assert_eq!(a.as_str(), b.as_str(), "JSON text kept");
            }
        }
        assert_eq!(
            image_value(&serde_json::json!("x"), SqlType::Int),
            Err("not a value of type integer".to_owned())
        );
    }

    #[test]
    fn pii_matching() {
        let pii = vec![
            ("app.users".to_owned(), "email".to_owned()),
            ("*".to_owned(), "ssn".to_owned()),
        ];
        assert!(is_pii(&pii, "users", "email"));
        assert!(is_pii(&pii, "app.users", "email"));
        assert!(is_pii(&pii, "orders", "ssn"));
        assert!(!is_pii(&pii, "orders", "email"));
    }
}
