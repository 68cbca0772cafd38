//! The one error type of `shadowdb`.
//!
//! Every variant names what a person needs to act (table, primary key, column,
//! rule) and never a value of another tenant, a PII value or a password.
//! Production's own error texts can quote other tenants' rows (PostgreSQL's
//! `DETAIL: Key (title)=(..) already exists`), so a database error is kept
//! behind `#[source]` only as its SQLSTATE code and a redacted summary.

use std::fmt;
use std::path::PathBuf;

use safemodel::RowViolations;

mod database;

pub use database::DatabaseCause;
pub(crate) use database::redact;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `shadowdb`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- opening -------------------------------------------------------
    /// The scoped tables do not match their contracts or cannot be sandboxed;
    /// every problem is listed.
    #[error("cannot open the sandbox:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Schema(Vec<SchemaProblem>),
    /// A stored production value that cannot be kept exactly (e.g. a
    /// `bigint unsigned` above `i64::MAX`, a SQLite `DATE` column holding non-dates).
    #[error("{table}[{key}].{column}: stored value cannot be cloned exactly: {reason}")]
    Unclonable {
        /// The table.
        table: String,
        /// The row's primary key.
        key: String,
        /// The column.
        column: String,
        /// Why, without the value.
        reason: String,
    },
    /// Production returned, for the scoped tenant, a row whose tenant column
    /// is not byte for byte the tenant (a collation matched another tenant's
    /// value). Nothing of the row is kept or shown.
    #[error(
        "{table}.{column}: production returned a row of another tenant (the column's collation matched another tenant's value); nothing was cloned"
    )]
    TenantCollation {
        /// The table.
        table: String,
        /// The tenant column.
        column: String,
    },
    /// The production database failed (connection, query). Redacted: no row data.
    #[error("production database error{}: {summary}", .context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Database {
        /// What we were doing (`clone of tasks`, `commit: INSERT INTO tasks`).
        context: Option<String>,
        /// SQLSTATE-level summary without row data.
        summary: String,
        /// The driver error, redacted in `Display` and `Debug` alike (its own
        /// message can quote rows of other tenants); see [`DatabaseCause`].
        #[source]
        source: Option<DatabaseCause>,
    },
    /// The sandbox (SQLite) failed in a way that is not the agent's fault.
    #[error("sandbox error: {0}")]
    Sandbox(String),
    /// A value production returned could not be read exactly as the column's
    /// type (the driver gave a form shadowdb does not decode losslessly).
    /// Carries no row data.
    #[error("could not decode {context}: {reason}")]
    Decode {
        /// Where: `tasks.due_at`, `read-back of tasks`.
        context: String,
        /// Why, without the value.
        reason: String,
    },

    // ---- agent statements ------------------------------------------------
    /// The agent's SQL was refused by the sandbox itself (second wall).
    #[error("refused by the sandbox: {0}")]
    Refused(Refusal),
    /// The agent's SQL failed in the sandbox (syntax, constraint, ...).
    #[error("statement failed in the sandbox: {message}")]
    Statement {
        /// SQLite's message.
        message: String,
    },
    /// The statement ran longer than the per-statement limit and was interrupted.
    #[error("statement interrupted after {limit_ms} ms (time limit)")]
    Timeout {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The statements of this session ran longer, in total, than the
    /// session's statement time ([`crate::Limits::session_statement_time`]).
    #[error(
        "the session's statements ran {limit_ms} ms in total (session time limit): no more statements run"
    )]
    SessionTimeLimit {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The sandbox reached a memory limit; the statement (or the clone)
    /// that went past it was undone.
    #[error(
        "the sandbox reached its memory limit `{limit}` ({bytes} bytes): what went past it was undone"
    )]
    MemoryLimit {
        /// Which limit: `memory_budget` (SQLite's heap: data, temporary
        /// tables, sorting) or `max_growth_bytes` (the data's growth).
        limit: String,
        /// The limit in bytes.
        bytes: u64,
    },
    /// A policy blocked the statement.
    #[error("blocked by policy rule `{rule}`: {reason}")]
    Blocked {
        /// The rule id.
        rule: String,
        /// One line.
        reason: String,
    },
    /// A write to a PII column (never cloned, so never writable).
    #[error("{table}.{column}: column is PII and cannot be written")]
    PiiWrite {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },

    // ---- commit ----------------------------------------------------------
    /// The sandbox changed after the changeset was reviewed.
    #[error("the sandbox changed after the review: diff again and review the new changeset")]
    ChangeSetChanged,
    /// This sandbox was already committed.
    #[error("this sandbox was already committed (commit {commit_id})")]
    AlreadyCommitted {
        /// The earlier commit.
        commit_id: String,
    },
    /// A row would be written for, or taken from, another tenant.
    #[error("tenant breach: {table}[{key}]: {reason}")]
    TenantBreach {
        /// The table.
        table: String,
        /// The primary key (of this tenant's row, never another's values).
        key: String,
        /// What was attempted.
        reason: String,
    },
    /// Rows broke their contracts; every violation of every row is listed.
    #[error("{} row(s) break their contract:\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Contract(Vec<RowViolations>),
    /// Rows changed in production since the clone (or a key already exists).
    #[error("conflict: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Conflict(Vec<Conflict>),
    /// A delete or key update would cascade onto rows outside the changeset.
    #[error(
        "{table}[{key}]: {op} would cascade onto `{referencing_table}` rows outside the changeset"
    )]
    Cascade {
        /// The table of the deleted row.
        table: String,
        /// Its key.
        key: String,
        /// `DELETE` or `UPDATE`.
        op: String,
        /// The referencing table.
        referencing_table: String,
    },
    /// A row references a row inserted in the same change whose key
    /// production has not assigned when the row is written (a reference
    /// cycle, a row of the same table, a parent left out).
    #[error(
        "{table}[{key}].{column}: references a new row of `{parent}` whose key production has not assigned yet (rule: provisional_key)"
    )]
    ProvisionalKey {
        /// The referencing table.
        table: String,
        /// Its row's key.
        key: String,
        /// The referencing column.
        column: String,
        /// The referenced table.
        parent: String,
    },
    /// The changeset needs approval and none was given.
    #[error("needs approval: {}", .0.join("; "))]
    NeedsApproval(Vec<String>),
    /// The changeset is blocked by policy.
    #[error("blocked: {}", .0.join("; "))]
    PolicyBlocked(Vec<String>),

    // ---- configuration / usage ---------------------------------------------
    /// Invalid configuration or arguments.
    #[error("{0}")]
    Config(String),
    /// A policy file or rule problem.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The configuration file (`shadowdb.toml`) cannot be read, or a key or
    /// value of it is wrong.
    #[error(transparent)]
    ConfigFile(#[from] crate::config::ConfigError),
    /// A contract problem (duplicate models, ...).
    #[error(transparent)]
    Model(#[from] safemodel::Error),

    // ---- approval, audit, limits ----------------------------------------
    /// The approver said no.
    #[error("approval {request_id} denied by {by}: {reason}")]
    ApprovalDenied {
        /// The approval request.
        request_id: String,
        /// Who denied it.
        by: String,
        /// Why, as the reviewer put it.
        reason: String,
    },
    /// Nobody answered within the request's timeout, which counts as a denial.
    #[error("approval {request_id} was not answered within {} ms: denied", .timeout.as_millis())]
    ApprovalTimedOut {
        /// The approval request.
        request_id: String,
        /// The timeout it had.
        timeout: std::time::Duration,
    },
    /// An answer to a request that is unknown, already decided or expired.
    #[error("approval {request_id} is not pending (unknown, already decided or expired)")]
    ApprovalNotPending {
        /// The approval request.
        request_id: String,
    },
    /// The approver could not ask (the terminal is gone, ...).
    #[error("approval could not be asked: {context}")]
    ApprovalFailed {
        /// What failed.
        context: String,
        /// The I/O error, when there was one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The audit trail could not be written or read.
    #[error("audit trail: {context}")]
    Audit {
        /// What failed (`writing audit.jsonl`, `line 7 of audit.jsonl is not an event`).
        context: String,
        /// The I/O error, when there was one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// A rate limit was reached; the same call succeeds after `retry_after`.
    #[error("rate limit reached: {limit}; retry after {} ms", .retry_after.as_millis())]
    RateLimited {
        /// Which limit (`statements per tenant`, `commits per actor`).
        limit: String,
        /// How long until one more call is allowed.
        retry_after: std::time::Duration,
    },
    /// The session ran its maximum number of statements.
    #[error("session limit reached: at most {max} statements per session")]
    TooManyStatements {
        /// The limit.
        max: u64,
    },
    /// The session is older than its maximum duration.
    #[error("session limit reached: sessions last at most {} s", .max_duration.as_secs_f64())]
    SessionExpired {
        /// The limit.
        max_duration: std::time::Duration,
    },
    /// No commit with this id is on record.
    #[error("commit {commit_id} is not in the audit trail")]
    UnknownCommit {
        /// The id asked for.
        commit_id: String,
    },
    /// The commit was already rolled back.
    #[error("commit {commit_id} was already rolled back (rollback {rollback_id})")]
    AlreadyRolledBack {
        /// The commit.
        commit_id: String,
        /// The rollback that undid it.
        rollback_id: String,
    },
    /// A recorded row cannot be restored exactly.
    #[error("cannot roll back {table}[{key}]: {reason}")]
    CannotRollBack {
        /// The table.
        table: String,
        /// The row's key.
        key: String,
        /// Why (names columns, never values).
        reason: String,
    },
    /// A commit would change more rows than one commit may.
    #[error("commit refused: {rows} rows changed, at most {max} per commit")]
    CommitTooLarge {
        /// Rows the changeset changes.
        rows: usize,
        /// The limit.
        max: usize,
    },
}

/// A problem with a policy file or a profile (reachable as
/// `shadowdb::policy::PolicyError`: it lives here so that this module, which
/// every other imports, imports none of them).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key or value is wrong.
    #[error("{origin}:{line}: {message}")]
    Config {
        /// The file (`shadowdb.toml` when parsed from a string).
        origin: String,
        /// 1-based line of the key or value at fault.
        line: usize,
        /// What is wrong, naming the key and its table.
        message: String,
    },
    /// No built-in or configured profile has this name.
    #[error("unknown policy profile `{profile}` (known: {})", known.join(", "))]
    UnknownProfile {
        /// The name asked for.
        profile: String,
        /// The profiles there are.
        known: Vec<String>,
    },
    /// A rule id given through the API is not a built-in rule.
    #[error("unknown policy rule `{0}`")]
    UnknownRule(String),
    /// A rule that cannot be relaxed (`parse_error`, `too_complex`) was set below `block`.
    #[error("policy rule `{0}` is always `block` (fail closed) and cannot be changed")]
    FixedRule(String),
}

/// One reason a table cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaProblem {
    /// The table does not exist.
    TableMissing {
        /// The table.
        table: String,
    },
    /// The table has no primary key and none was given.
    NoPrimaryKey {
        /// The table.
        table: String,
    },
    /// The tenant column does not exist.
    TenantColumnMissing {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// The contract declares a column the table lacks.
    ContractColumnMissing {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A NOT NULL column without default that the contract omits (inserts would fail).
    RequiredColumnNotInContract {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// The contract's type family differs from the column's.
    TypeMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Declared by the contract.
        contract: String,
        /// The production type.
        production: String,
    },
    /// The contract says NOT NULL is impossible but the column is nullable, or
    /// the reverse.
    NullabilityMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        detail: String,
    },
    /// A column of a type shadowdb cannot keep exactly.
    UnsupportedType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The declared type.
        declared: String,
    },
    /// No contract is registered for the table (open it as read-only context,
    /// or allow uncontracted tables).
    NoContract {
        /// The table.
        table: String,
    },
    /// The name resolves to a relation that is not a table (a view, a
    /// materialized view, a foreign table, ...): shadowdb writes only tables.
    NotATable {
        /// The table as given.
        table: String,
        /// What production resolved the name to (`root.items`).
        resolved: String,
        /// What it is (`a view`).
        kind: String,
    },
    /// The contract's primary key differs from the table's.
    PrimaryKeyMismatch {
        /// The table.
        table: String,
        /// The contract's key.
        contract: Vec<String>,
        /// The table's key.
        production: Vec<String>,
    },
    /// A key column (the primary key, or the row key given) that the table
    /// has but the contract leaves out: rows could not be matched by key.
    KeyColumnNotInContract {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// The row key given for the table (`.row_key(..)`) names a column the
    /// table does not have.
    RowKeyColumnMissing {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaProblem::TableMissing { table } => write!(f, "table `{table}` does not exist"),
            SchemaProblem::NoPrimaryKey { table } => write!(
                f,
                "table `{table}` has no primary key (give one with a row key)"
            ),
            SchemaProblem::TenantColumnMissing { table, column } => {
                write!(f, "{table}: tenant column `{column}` does not exist")
            }
            SchemaProblem::ContractColumnMissing { table, column } => write!(
                f,
                "{table}: the contract declares column `{column}`, which the table lacks"
            ),
            SchemaProblem::RequiredColumnNotInContract { table, column } => write!(
                f,
                "{table}: column `{column}` is NOT NULL without default but not in the contract"
            ),
            SchemaProblem::TypeMismatch {
                table,
                column,
                contract,
                production,
            } => write!(
                f,
                "{table}.{column}: the contract says {contract}, the table has {production}"
            ),
            SchemaProblem::NullabilityMismatch {
                table,
                column,
                detail,
            } => write!(f, "{table}.{column}: {detail}"),
            SchemaProblem::UnsupportedType {
                table,
                column,
                declared,
            } => write!(
                f,
                "{table}.{column}: type `{declared}` cannot be sandboxed exactly"
            ),
            SchemaProblem::NoContract { table } => write!(
                f,
                "table `{table}` has no SafeModel contract (open it as read-only context, or allow uncontracted tables)"
            ),
            SchemaProblem::NotATable {
                table,
                resolved,
                kind,
            } => write!(
                f,
                "`{table}` resolves to `{resolved}`, which is {kind}: only tables can be scoped"
            ),
            SchemaProblem::PrimaryKeyMismatch {
                table,
                contract,
                production,
            } => write!(
                f,
                "{table}: the contract's primary key is ({}), the table's is ({})",
                contract.join(", "),
                production.join(", ")
            ),
            SchemaProblem::KeyColumnNotInContract { table, column } => write!(
                f,
                "{table}: key column `{column}` is not in the contract (rows are matched by their key)"
            ),
            SchemaProblem::RowKeyColumnMissing { table, column } => write!(
                f,
                "{table}: the row key names column `{column}`, which the table lacks"
            ),
        }
    }
}

/// Which wall of the sandbox refused a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `ATTACH` or `DETACH`.
    Attach,
    /// Loading an extension.
    Extension,
    /// A `PRAGMA`.
    Pragma(String),
    /// DDL: `CREATE`, `DROP`, `ALTER` of anything.
    Ddl(String),
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`: the sandbox owns its transactions.
    Transaction,
    /// A table outside the scope.
    OutsideScope(String),
    /// A function not on the allowlist.
    Function(String),
    /// A write to a read-only table.
    ReadOnly(String),
    /// A write to a PII column.
    Pii(String),
    /// A write to a column production computes (generated, identity
    /// `GENERATED ALWAYS`), as `table.column`.
    Computed(String),
    /// SQL text over the length limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// A query returning more rows than the limit (add a `LIMIT`).
    TooManyRows {
        /// The limit in rows.
        limit: usize,
    },
    /// A NUL byte in the SQL text: SQLite stops reading there, so what it
    /// would run is not the text that was judged. The whole script is refused.
    NulByte {
        /// Byte offset of the first NUL.
        offset: usize,
    },
    /// SQLite's statement text could not be matched to the script at this
    /// byte offset, so the statement judged would not be the one run.
    Unsplittable {
        /// Byte offset of the statement in the script.
        offset: usize,
    },
    /// A text or blob value longer than the value limit.
    ValueTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A LIKE or GLOB pattern longer than the pattern limit.
    PatternTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// One call of a function whose work grows with the product of its
    /// inputs' lengths (`instr`, `replace`, `like`, ...) on inputs too large.
    TooMuchWork {
        /// The function.
        function: String,
        /// The limit on the product of the lengths, in bytes squared.
        limit: u64,
    },
    /// A JSON function given JSONB nested deeper than SQLite bounds JSON
    /// text: SQLite would read it by recursion without a limit, and overflow
    /// the stack.
    JsonTooDeep {
        /// The function.
        function: String,
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// A JSON edit (`json_set`, `json_insert`, `json_replace` and their
    /// JSONB forms) whose path has more steps than SQLite bounds JSON text
    /// in depth: SQLite builds what the path names by recursion.
    JsonPathTooLong {
        /// The function.
        function: String,
        /// The most steps allowed.
        limit: usize,
    },
    /// `json_each` or `json_tree`: tables SQLite reads its JSONB argument
    /// into without a depth limit, which no guard can stand in front of.
    JsonTable(String),
    /// Any other operation outside the allowlist.
    Other(String),
}

/// Names the agent wrote, as a terminal or a log may show them.
fn esc(name: &str) -> std::borrow::Cow<'_, str> {
    crate::escape::escape_controls(name)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Attach => f.write_str("ATTACH/DETACH is not allowed"),
            Refusal::Extension => f.write_str("loading extensions is not allowed"),
            Refusal::Pragma(p) => write!(f, "PRAGMA {} is not allowed", esc(p)),
            Refusal::Ddl(what) => write!(f, "{what} is not allowed (no DDL in the sandbox)"),
            Refusal::Transaction => f.write_str(
                "transaction control is not allowed (the sandbox owns its transactions)",
            ),
            Refusal::OutsideScope(t) => write!(f, "table `{}` is outside the scope", esc(t)),
            Refusal::Function(name) => write!(f, "function {}() is not allowed", esc(name)),
            Refusal::ReadOnly(t) => write!(f, "table `{}` is read-only", esc(t)),
            Refusal::Pii(c) => write!(f, "column {} is PII and cannot be read or written", esc(c)),
            Refusal::Computed(c) => write!(
                f,
                "column {} is computed by production (generated or identity ALWAYS) and cannot be written",
                esc(c)
            ),
            Refusal::TooLong { limit } => write!(f, "SQL text longer than {limit} bytes"),
            Refusal::TooManyRows { limit } => {
                write!(f, "a result of more than {limit} rows (add a LIMIT)")
            }
            Refusal::NulByte { offset } => write!(
                f,
                "a NUL byte at byte {offset}: SQLite stops reading there, so the whole script is refused"
            ),
            Refusal::Unsplittable { offset } => write!(
                f,
                "the statement at byte {offset} cannot be matched to the statement SQLite reads there"
            ),
            Refusal::ValueTooLarge { limit } => {
                write!(f, "a text or blob value longer than {limit} bytes")
            }
            Refusal::PatternTooLong { limit } => {
                write!(f, "a LIKE or GLOB pattern longer than {limit} bytes")
            }
            Refusal::TooMuchWork { function, limit } => write!(
                f,
                "{function}() on inputs whose lengths multiply to more than {limit} (work limit of one call)"
            ),
            Refusal::JsonTooDeep { function, limit } => write!(
                f,
                "{function}() on JSONB nested deeper than {limit} levels, or malformed so that SQLite would read it deeper (its own limit for JSON text is {limit} levels)"
            ),
            Refusal::JsonPathTooLong { function, limit } => write!(
                f,
                "{function}() with a path of more than {limit} steps (SQLite builds a path step by step, by recursion)"
            ),
            Refusal::JsonTable(name) => write!(
                f,
                "{}() is not available in the sandbox (SQLite reads its JSONB input without a depth limit); read JSON with json_extract(), ->> or json_array_length() instead",
                esc(name)
            ),
            Refusal::Other(what) => write!(f, "{what} is not allowed"),
        }
    }
}

/// One row that moved on in production, or whose key is taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The table.
    pub table: String,
    /// The primary key of the row in this changeset (`key.render()` gives
    /// the `id=7` form messages use).
    pub key: crate::value::Key,
    /// What happened.
    pub kind: ConflictKind,
}

/// How a row conflicts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The row changed since the clone; the columns that moved, where known.
    Changed {
        /// Columns whose production value differs from the cloned one.
        columns: Vec<String>,
    },
    /// The row no longer exists in production.
    Gone,
    /// An insert whose key already exists in production (whoever owns it).
    KeyExists,
    /// The row key matched several production rows (a row key that is not
    /// unique there); nothing is committed.
    NotUnique,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConflictKind::Changed { columns } if columns.is_empty() => {
                write!(
                    f,
                    "{}[{}] changed in production since the clone",
                    self.table, self.key
                )
            }
            ConflictKind::Changed { columns } => write!(
                f,
                "{}[{}] changed in production since the clone (columns: {})",
                self.table,
                self.key,
                columns.join(", ")
            ),
            ConflictKind::Gone => write!(
                f,
                "{}[{}] no longer exists in production",
                self.table, self.key
            ),
            ConflictKind::KeyExists => write!(
                f,
                "{}[{}] cannot be inserted: the key is already taken in production",
                self.table, self.key
            ),
            ConflictKind::NotUnique => write!(
                f,
                "{}[{}] matched several rows in production (the row key is not unique there)",
                self.table, self.key
            ),
        }
    }
}

impl Error {
    /// A production error with context, redacted: the driver's message may
    /// quote rows of other tenants, so only the SQLSTATE code and kind are kept.
    pub(crate) fn database(context: impl Into<String>, source: sqlx::Error) -> Self {
        Error::Database {
            context: Some(context.into()),
            summary: redact(&source),
            source: Some(source.into()),
        }
    }
}
