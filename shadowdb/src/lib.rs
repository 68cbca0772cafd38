#![doc = include_str!("../../README.md")]
// A function a reader can hold (clippy.toml: 80 lines); one that must be
// longer says why with `#[expect(clippy::too_many_lines, reason = ...)]`.
// Tests, whose cases are long lists, are left out.
#![cfg_attr(not(test), warn(clippy::too_many_lines))]
//!
//! ## Module map
//!
//! For whoever works on this crate: its modules in the order a change flows
//! through them, each with what it guarantees and what is worth keeping.
//!
//! 0. **value**, **model**, **prod**: the leaves. `value` holds the codecs
//!    (exact decimals, date/time text, floats, what a column declares),
//!    `model` the shape of a table (published with the reader as
//!    [`schema`]), `prod` the driver layer (pool and connect, pinned session
//!    settings, SQL builders, binds, decoding, the clone's reads, the
//!    transaction), one dispatch over the three dialects.
//! 1. **reflect**: `reflect` reads each table's columns, keys and foreign
//!    keys from production's catalog, one file per dialect.
//! 2. **scope**: `scope` checks each table against its contract, the one
//!    bound with [`OpenOptions::table_with`] or the registry's, and lists
//!    every problem at once ([`Error::Schema`]).
//! 3. **clone**: `shadow` is the session ([`ShadowDb`]): its builder, then
//!    opening, which streams the tenant's rows into the sandbox while
//!    production is read on a task of its own; PII columns are never read.
//! 4. **sandbox**: `sandbox` is one in-memory SQLite behind walls SQLite
//!    itself enforces (an allowlist authorizer, limits, a progress handler,
//!    defensive mode). Its module doc says what each wall stops and why: keep
//!    it in step with the walls.
//! 5. **policy**: `policy` parses every statement and judges it on its
//!    syntax tree; its visitor fails closed (what it cannot parse, and every
//!    statement kind outside the allowlist, is blocked).
//! 6. **diff**: `diff` holds the [`ChangeSet`] and how each row is typed
//!    and checked: against its contract, the tenant, and what production
//!    accepts for each column.
//! 7. **review**: `review` holds the [`Review`] and its [`Verdict`];
//!    `render` shows them as text or JSON.
//! 8. **approve**: `approve` holds the approvers (a terminal, a channel,
//!    production's approvals table, deny-all).
//! 9. **sync**: `sync` is the commit orchestrator. Its gates run in a fixed
//!    order (the changeset is the one reviewed; tenant; contract; policy and
//!    approval; no cascade beyond the changeset), each stopping everything
//!    before production is touched, then one transaction; keep the order.
//!    Its `Syncer` is what a session's commit (`shadow`) and a `rollback`
//!    share: the rollback builds one of its own, with no sandbox.
//! 10. **audit**: `audit` records every statement, diff, commit and
//!     rollback to its sinks; production's audit table is written in the
//!     commit's own transaction.
//!
//! Kept as they are, across the stages:
//! - the derive pipeline (`safemodel-derive`): parse, check, expand, every
//!   error collected and spanned at what the user must edit, on par with
//!   serde_derive and thiserror;
//! - the error hygiene of [`DatabaseCause`]: it prints only the kind,
//!   constraint and SQLSTATE and ends the `source()` chain, so production's
//!   messages, which may quote another tenant's row, never reach a log;
//! - the CLI's `Io` and `run(args, io) -> Exit`: every command runs in a
//!   test as it runs in a terminal, its output and exit code asserted.
//!
//! The rooms depend on each other in one direction only, and no source file
//! is over 800 lines outside its tests: `shadowdb/tests/layout.rs` checks
//! both. No function is over 80 lines (clippy's `too_many_lines`).

pub mod approve;
pub mod audit;
pub mod cli;
pub mod config;
pub mod diff;
mod error;
mod escape;
pub mod limits;
mod model;
pub mod policy;
pub mod prod;
mod reflect;
mod remap;
pub mod render;
pub mod review;
pub mod rollback;
mod sandbox;
/// Production's tables as shadowdb reads them: the model
/// ([`TableSchema`](schema::TableSchema), its columns and foreign keys) and
/// [`reflect()`](schema::reflect), which reads one table from the catalog.
pub mod schema {
    #[doc(inline)]
    pub use crate::model::*;
    #[doc(inline)]
    pub use crate::reflect::reflect;
}
mod scope;
mod shadow;
mod sync;
mod textsql;
pub mod types;
mod value;

pub use approve::ApprovalDecision;
pub use diff::{ChangeSet, Counts, Key, Op, RowChange};
pub use error::{Conflict, ConflictKind, DatabaseCause, Error, Refusal, Result, SchemaProblem};
pub use policy::{Decision, Policy};
pub use prod::Production;
pub use render::{Review, Verdict};
pub use sandbox::{Cut, Limits, QueryResult, StatementResult};
pub use shadow::{CloneStats, OpenOptions, ShadowDb};
pub use sync::{Approval, CommitOptions, CommitReport, GeneratedKey, OnConflict};
pub use types::{ColumnKind, Dialect};
