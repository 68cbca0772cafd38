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
mod event;
mod image;
mod jsonl;
mod query;
mod redact;
mod sink;
mod trail;

// why: `db` reaches the shared text-table helpers as `super::textsql`.
use crate::textsql;

// why: `db` reaches these as `super::…`, and `cli`'s tests `parse_time` as
// `crate::audit::parse_time`: both paths predate the move to `textsql`.
pub(crate) use crate::textsql::format_time;
#[cfg(test)]
pub(crate) use crate::textsql::parse_time;
pub(crate) use db::record_in_tx;
pub use db::{AUDIT_TABLE, AuditConn, DbAuditSink, ensure_audit_table, insert_event};
pub use event::{ApprovalOutcome, AuditEvent, AuditHit, AuditKind, AuditKindName, OpCounts};
pub use image::{CommitRecord, RowImage, image_json, image_value};
pub use jsonl::{JsonlSink, query_jsonl};
pub use query::AuditQuery;
pub use redact::{RedactedSql, Redactor};
pub use sink::{AuditSink, MemorySink};
pub use trail::AuditTrail;
