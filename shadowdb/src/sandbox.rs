//! The sandbox: one in-memory SQLite database per `ShadowDb`, hardened by
//! SQLite's own mechanisms.
//!
//! Why rusqlite and not sqlx here: the walls are SQLite's authorizer, its
//! per-connection limits, the progress handler and `SQLITE_DBCONFIG_DEFENSIVE`,
//! none of which sqlx exposes. rusqlite 0.39 links the same `libsqlite3-sys`
//! (0.37) as sqlx's SQLite driver, so one SQLite is compiled in.
//!
//! The walls, all enforced by SQLite itself:
//! - an **allowlist authorizer**: reads of scoped tables, writes to writable
//!   scoped tables (never to PII columns), `SELECT`, recursive CTEs, and
//!   functions on a fixed list. Everything else (ATTACH/DETACH, PRAGMA, any DDL,
//!   transaction control, `sqlite_schema`, unknown functions such as
//!   `load_extension`) is denied while the statement is prepared;
//! - limits: SQL text length, value length, no attached databases, expression
//!   depth, compound selects, page count (the sandbox's memory);
//! - a progress handler that interrupts a statement past its time limit;
//! - defensive mode, no trusted schema, no extension loading.
//!
//! Every table is `STRICT` and keeps decimals, UUIDs, times and JSON as TEXT,
//! so SQLite's type affinity cannot rewrite a value (`'1.10'` stays `'1.10'`).
//! A copy of each table as cloned (`__base_N`) is the baseline of the diff.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{Action, AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode};
use safemodel::Value;

use crate::error::{Error, Refusal, Result};
use crate::prod;
use crate::types::ColumnKind;

/// Limits of one sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time one statement may run before it is interrupted.
    pub statement_time: Duration,
    /// Longest SQL text accepted, in bytes.
    pub max_sql_bytes: usize,
    /// Longest text or blob value, in bytes.
    pub max_value_bytes: usize,
    /// Most rows one query may return to the agent.
    pub max_result_rows: usize,
    /// How much the sandbox may grow beyond the cloned data, in bytes.
    pub max_growth_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement_time: Duration::from_secs(5),
            max_sql_bytes: 100_000,
            max_value_bytes: 16 << 20,
            max_result_rows: 10_000,
            max_growth_bytes: 256 << 20,
        }
    }
}

/// One column of a sandbox table.
#[derive(Debug, Clone)]
pub(crate) struct SandboxColumn {
    pub name: String,
    pub kind: ColumnKind,
    pub nullable: bool,
    pub pii: bool,
}

/// A foreign key between two scoped tables, mirrored in the sandbox.
#[derive(Debug, Clone)]
pub(crate) struct SandboxFk {
    pub columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
    pub on_delete: &'static str,
    pub on_update: &'static str,
}

/// One scoped table as the sandbox holds it.
#[derive(Debug, Clone)]
pub(crate) struct SandboxTable {
    /// The name the agent uses (unqualified).
    pub name: String,
    pub columns: Vec<SandboxColumn>,
    /// Indices of the key columns.
    pub key: Vec<usize>,
    pub read_only: bool,
    /// A single integer key production generates: the agent may omit it and
    /// gets a provisional key from `provisional_base` up.
    pub generated_key: Option<i64>,
    /// Index of the tenant column and the tenant value, used as its DEFAULT.
    pub tenant: Option<(usize, Value)>,
    pub foreign_keys: Vec<SandboxFk>,
}

/// What the authorizer needs; shared with the SQLite callbacks.
struct Walls {
    /// While set, shadowdb itself is running statements (setup, diff).
    internal: AtomicBool,
    /// Why the last statement was denied.
    refusal: Mutex<Option<Refusal>>,
    /// Deadline of the running statement, as nanoseconds since `epoch`.
    deadline_ns: AtomicU64,
    epoch: Instant,
    scoped: HashSet<String>,
    read_only: HashSet<String>,
    pii: HashSet<(String, String)>,
    /// Virtual table modules compiled into this SQLite (`dbstat`, `fts5`,
    /// ...): their eponymous tables are outside the scope.
    modules: HashSet<String>,
    /// Key columns of each scoped table, lowercase: an UPDATE that sets one
    /// may move its row to another rowid.
    keys: Vec<(String, HashSet<String>)>,
    tracker: Arc<Mutex<Tracker>>,
}

/// The rows agent statements wrote since the baseline, by rowid, so a diff
/// can compare those rows only.
///
/// SQLite's update hook reports every row an INSERT, UPDATE or DELETE writes
/// (foreign key actions included) with three exceptions, each covered:
/// - rows deleted by REPLACE conflict resolution or by the truncate
///   optimization: only deletions go unreported, so the table then holds
///   fewer rows than the reported inserts and deletes account for, which
///   the diff checks;
/// - the old rowid of an UPDATE that moves its row to another rowid: that
///   UPDATE sets the rowid or a key column (an `INTEGER` key is the rowid),
///   which the authorizer sees when the statement is prepared;
/// - `WITHOUT ROWID` tables, which the sandbox does not create.
///
/// A script that fails is rolled back without any report: the row counts
/// are restored with it, and the rowids stay (more rows to compare, never
/// fewer). Whenever a table's record cannot be trusted, its diff compares
/// every row.
#[derive(Debug, Default)]
struct Tracker {
    tables: Vec<Tracked>,
}

#[derive(Debug, Default)]
struct Tracked {
    /// The table's name, as SQLite reports it.
    name: String,
    /// Rowids written, with repeats until the next compaction.
    rowids: Vec<i64>,
    /// Length of `rowids` after the last compaction.
    compacted: usize,
    /// Rows the table holds if every deletion was reported.
    rows: i64,
    /// Rows may have moved to other rowids, or the hook reported an action
    /// it does not know: every row is compared.
    untrusted: bool,
    /// The key is the rowid (an `INTEGER` key): a row's rowid is its key.
    rowid_key: bool,
}

impl Tracked {
    fn record(&mut self, rowid: i64) {
        self.rowids.push(rowid);
        // Repeated writes to the same rows must not grow the record.
        if self.rowids.len() > 2 * self.compacted.max(4_096) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.rowids.sort_unstable();
        self.rowids.dedup();
        self.compacted = self.rowids.len();
    }
}

impl Tracker {
    fn hook(&mut self, action: Action, db: &str, table: &str, rowid: i64) {
        if db != "main" {
            return;
        }
        let Some(t) = self.tables.iter_mut().find(|t| t.name == table) else {
            return;
        };
        match action {
            Action::SQLITE_INSERT => t.rows += 1,
            Action::SQLITE_DELETE => t.rows -= 1,
            Action::SQLITE_UPDATE => {}
            _ => t.untrusted = true,
        }
        t.record(rowid);
    }

    fn distrust(&mut self, table: &str) {
        if let Some(t) = self
            .tables
            .iter_mut()
            .find(|t| t.name.eq_ignore_ascii_case(table))
        {
            t.untrusted = true;
        }
    }

    fn row_counts(&self) -> Vec<i64> {
        self.tables.iter().map(|t| t.rows).collect()
    }

    fn restore_row_counts(&mut self, counts: &[i64]) {
        for (t, n) in self.tables.iter_mut().zip(counts) {
            t.rows = *n;
        }
    }
}

/// Table-valued functions on the allowlist (read as tables by SQLite).
const TABLE_FUNCTIONS: &[&str] = &["json_each", "json_tree"];

/// The schema tables: SQLite's own DDL writes them, the agent may not.
fn is_schema_table(lower: &str) -> bool {
    matches!(
        lower,
        "sqlite_master" | "sqlite_schema" | "sqlite_temp_master" | "sqlite_temp_schema"
    )
}

impl Walls {
    fn refuse(&self, r: Refusal) -> Authorization {
        if let Ok(mut slot) = self.refusal.lock() {
            // Keep the first reason: it is the one the statement tripped on.
            if slot.is_none() {
                *slot = Some(r);
            }
        }
        Authorization::Deny
    }

    fn authorize(&self, ctx: &AuthContext<'_>) -> Authorization {
        if self.internal.load(Ordering::Relaxed) {
            return Authorization::Allow;
        }
        let lower = |s: &str| s.to_ascii_lowercase();
        match ctx.action {
            AuthAction::Select | AuthAction::Recursive => Authorization::Allow,
            AuthAction::Read { table_name, .. } => {
                let name = lower(table_name);
                let allowed = match ctx.database_name {
                    Some("main") => {
                        self.scoped.contains(&name) || TABLE_FUNCTIONS.contains(&name.as_str())
                    }
                    // SQLite names no database for the source of `count(*)`,
                    // which may be a CTE or a subquery (whose own reads are
                    // authorized one by one): anything but a real table
                    // outside the scope.
                    None => {
                        self.scoped.contains(&name)
                            || TABLE_FUNCTIONS.contains(&name.as_str())
                            || !(name.starts_with("sqlite_")
                                || name.starts_with("pragma_")
                                || name.starts_with(BASE_PREFIX)
                                || self.modules.contains(&name))
                    }
                    Some(_) => false,
                };
                if allowed {
                    Authorization::Allow
                } else {
                    self.refuse(Refusal::OutsideScope(table_name.to_owned()))
                }
            }
            AuthAction::Insert { table_name } => self.write_allowed(table_name, None, "CREATE"),
            AuthAction::Delete { table_name } => self.write_allowed(table_name, None, "DROP"),
            AuthAction::Update {
                table_name,
                column_name,
            } => {
                let verdict = self.write_allowed(table_name, Some(column_name), "ALTER");
                // A poisoned record is never trusted again: nothing to mark.
                if verdict == Authorization::Allow
                    && self.moves_rows(table_name, column_name)
                    && let Ok(mut t) = self.tracker.lock()
                {
                    t.distrust(table_name);
                }
                verdict
            }
            AuthAction::Function { function_name } => {
                let name = lower(function_name);
                if FUNCTIONS.contains(&name.as_str()) {
                    Authorization::Allow
                } else if name == "load_extension" {
                    self.refuse(Refusal::Extension)
                } else {
                    self.refuse(Refusal::Function(function_name.to_owned()))
                }
            }
            AuthAction::Pragma { pragma_name, .. } => {
                self.refuse(Refusal::Pragma(pragma_name.to_owned()))
            }
            AuthAction::Attach { .. } | AuthAction::Detach { .. } => self.refuse(Refusal::Attach),
            AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
                self.refuse(Refusal::Transaction)
            }
            AuthAction::CreateIndex { .. }
            | AuthAction::CreateTempIndex { .. }
            | AuthAction::DropIndex { .. }
            | AuthAction::DropTempIndex { .. } => {
                self.refuse(Refusal::Ddl("CREATE/DROP INDEX".into()))
            }
            AuthAction::CreateTable { .. }
            | AuthAction::CreateTempTable { .. }
            | AuthAction::DropTable { .. }
            | AuthAction::DropTempTable { .. } => {
                self.refuse(Refusal::Ddl("CREATE/DROP TABLE".into()))
            }
            AuthAction::CreateTrigger { .. }
            | AuthAction::CreateTempTrigger { .. }
            | AuthAction::DropTrigger { .. }
            | AuthAction::DropTempTrigger { .. } => {
                self.refuse(Refusal::Ddl("CREATE/DROP TRIGGER".into()))
            }
            AuthAction::CreateView { .. }
            | AuthAction::CreateTempView { .. }
            | AuthAction::DropView { .. }
            | AuthAction::DropTempView { .. } => {
                self.refuse(Refusal::Ddl("CREATE/DROP VIEW".into()))
            }
            AuthAction::AlterTable { .. } => self.refuse(Refusal::Ddl("ALTER TABLE".into())),
            AuthAction::CreateVtable { .. } | AuthAction::DropVtable { .. } => {
                self.refuse(Refusal::Ddl("CREATE/DROP VIRTUAL TABLE".into()))
            }
            AuthAction::Reindex { .. } => self.refuse(Refusal::Other("REINDEX".into())),
            AuthAction::Analyze { .. } => self.refuse(Refusal::Other("ANALYZE".into())),
            _ => self.refuse(Refusal::Other("this operation".into())),
        }
    }

    /// Whether an UPDATE setting `column` can move rows to other rowids: it
    /// sets the rowid itself or a key column (an `INTEGER` key is the rowid).
    fn moves_rows(&self, table: &str, column: &str) -> bool {
        let column = column.to_ascii_lowercase();
        if matches!(column.as_str(), "rowid" | "_rowid_" | "oid") {
            return true;
        }
        self.keys
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(table))
            .is_none_or(|(_, keys)| keys.contains(&column))
    }

    /// `ddl`: the DDL a write of this kind to the schema table is part of.
    fn write_allowed(&self, table: &str, column: Option<&str>, ddl: &str) -> Authorization {
        let t = table.to_ascii_lowercase();
        if is_schema_table(&t) {
            // Only DDL writes the schema table (SQLite refuses the agent's own
            // DELETE/UPDATE of it), and SQLite asks for it before naming the
            // DDL (`DROP TABLE` asks to delete from `sqlite_master` first).
            return self.refuse(Refusal::Ddl(ddl.into()));
        }
        if !self.scoped.contains(&t) {
            return self.refuse(Refusal::OutsideScope(table.to_owned()));
        }
        if self.read_only.contains(&t) {
            return self.refuse(Refusal::ReadOnly(table.to_owned()));
        }
        if let Some(c) = column
            && self.pii.contains(&(t, c.to_ascii_lowercase()))
        {
            return self.refuse(Refusal::Pii(format!("{table}.{c}")));
        }
        Authorization::Allow
    }
}

/// Functions an agent may call: scalar, aggregate, window, date and JSON
/// functions that read and compute. Not on it: `load_extension`, `readfile`,
/// `fts3_tokenizer`, `sqlite_*` introspection, `randomblob`/`zeroblob` beyond
/// the value-length limit are stopped by that limit anyway.
const FUNCTIONS: &[&str] = &[
    "abs",
    "changes",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "printf",
    "glob",
    "hex",
    "ifnull",
    "iif",
    "if",
    "instr",
    "last_insert_rowid",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "quote",
    "random",
    "randomblob",
    "replace",
    "round",
    "rtrim",
    "sign",
    "substr",
    "substring",
    "total_changes",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unlikely",
    "upper",
    "zeroblob",
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    "median",
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_error_position",
    "json_extract",
    "jsonb_extract",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_pretty",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    "json_each",
    "json_tree",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
];

/// The result of one statement run by the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementResult {
    /// Rows changed (0 for a query).
    pub rows_affected: u64,
    /// For a statement that returns rows: its columns and rows (raw sandbox
    /// values: decimals and times as their text).
    pub rows: Option<QueryResult>,
}

/// Rows returned by a query in the sandbox.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, values in column order.
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    /// The rows as JSON objects (for an LLM tool): exact numbers, text as strings.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut obj = serde_json::Map::new();
                for (c, v) in self.columns.iter().zip(r) {
                    obj.insert(c.clone(), value_to_json(v));
                }
                serde_json::Value::Object(obj)
            })
            .collect();
        serde_json::Value::Array(rows)
    }
}

fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(x) => serde_json::Number::from_f64(*x).map_or_else(
            || serde_json::Value::String(x.to_string()),
            serde_json::Value::Number,
        ),
        other => serde_json::Value::String(other.to_string()),
    }
}

/// The hardened in-memory database.
pub(crate) struct Sandbox {
    conn: Connection,
    walls: Arc<Walls>,
    pub(crate) tables: Vec<SandboxTable>,
    limits: Limits,
    tracker: Arc<Mutex<Tracker>>,
}

/// Sets `internal` for the guard's lifetime, then restores it (guards nest).
struct Internal<'a>(&'a Walls, bool);
impl<'a> Internal<'a> {
    fn new(w: &'a Walls) -> Self {
        let was = w.internal.swap(true, Ordering::Relaxed);
        Internal(w, was)
    }
}
impl Drop for Internal<'_> {
    fn drop(&mut self) {
        self.0.internal.store(self.1, Ordering::Relaxed);
    }
}

fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Values bound by one statement that loads cloned rows, at most.
const LOAD_ROWS: usize = 200;

/// Prefix of the baseline tables (the clone as it was), hidden from the agent.
const BASE_PREFIX: &str = "__base_";

fn base_name(i: usize) -> String {
    format!("{BASE_PREFIX}{i}")
}

/// Rowids written since the baseline, and the name that reads a row's
/// rowid in the table.
struct Touched {
    rowids: Vec<i64>,
    rowid: &'static str,
    /// The rowid is the key: the rowids are the keys to compare.
    rowid_key: bool,
}

/// A name of the rowid that no column of `t` takes, if one is left.
fn rowid_name(t: &SandboxTable) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|r| !t.columns.iter().any(|c| c.name.eq_ignore_ascii_case(r)))
}

/// The rowids a diff compares, in the temp schema, behind the baseline
/// prefix (hidden from the agent like the baselines).
const TOUCHED: &str = "temp.\"__base_touched\"";

fn sandbox_err(e: &rusqlite::Error) -> Error {
    Error::Sandbox(e.to_string())
}

/// A literal for a DEFAULT clause (the tenant value).
fn literal(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => "NULL".to_owned(),
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(x) => format!("{x:?}"),
        SqlValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
        SqlValue::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("X'{hex}'")
        }
    }
}

/// A production value as the sandbox stores it.
pub(crate) fn to_sandbox(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Float(x) => SqlValue::Real(*x),
        Value::Decimal(d) => SqlValue::Text(d.as_str().to_owned()),
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Bytes(b) => SqlValue::Blob(b.clone()),
        Value::Uuid(u) => SqlValue::Text(u.hyphenated().to_string()),
        Value::Date(_) | Value::Time(_) | Value::Timestamp(_) | Value::TimestampTz(_) => {
            let mut s = String::new();
            push_time_text(&mut s, v);
            SqlValue::Text(s)
        }
        Value::Json(j) => SqlValue::Text(j.as_str().to_owned()),
        _ => SqlValue::Null,
    }
}

/// The sandbox's text of a date or time value (`to_sandbox`): `%Y-%m-%d`,
/// `%H:%M:%S%.f`, `%Y-%m-%d %H:%M:%S%.f`, the latter with `+00:00` for an
/// instant.
fn push_time_text(out: &mut String, v: &Value) {
    match v {
        Value::Date(d) => prod::push_date(out, *d),
        Value::Time(t) => prod::push_time(out, *t),
        Value::Timestamp(t) => prod::push_timestamp(out, *t),
        Value::TimestampTz(t) => {
            prod::push_timestamp(out, t.naive_utc());
            out.push_str("+00:00");
        }
        _ => {}
    }
}

/// Cloned rows on their way into the sandbox, already as it stores them
/// ([`to_sandbox`]): the values in one list, text and bytes in one buffer
/// each. A batch is a few allocations instead of one a value, which counts
/// twice: its reader and the sandbox run on different threads.
#[derive(Debug, Default)]
pub(crate) struct CloneBatch {
    cells: Vec<Cell>,
    text: String,
    bytes: Vec<u8>,
    rows: usize,
}

/// One value of a [`CloneBatch`]; text and bytes are ranges of its buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

impl CloneBatch {
    /// Appends `v` as [`to_sandbox`] stores it.
    pub(crate) fn push(&mut self, v: &Value) {
        let cell = match v {
            Value::Bool(b) => Cell::Integer(i64::from(*b)),
            Value::Int(i) => Cell::Integer(*i),
            Value::Float(x) => Cell::Real(*x),
            Value::Decimal(d) => return self.push_text(d.as_str()),
            Value::Text(s) => return self.push_text(s),
            Value::Json(j) => return self.push_text(j.as_str()),
            Value::Bytes(b) => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(b);
                Cell::Blob(start, self.bytes.len())
            }
            Value::Uuid(u) => {
                let mut buf = uuid::Uuid::encode_buffer();
                return self.push_text(u.hyphenated().encode_lower(&mut buf));
            }
            Value::Date(_) | Value::Time(_) | Value::Timestamp(_) | Value::TimestampTz(_) => {
                let start = self.text.len();
                push_time_text(&mut self.text, v);
                Cell::Text(start, self.text.len())
            }
            _ => Cell::Null,
        };
        self.cells.push(cell);
    }

    /// Appends a text value.
    pub(crate) fn push_text(&mut self, s: &str) {
        let start = self.text.len();
        self.text.push_str(s);
        self.cells.push(Cell::Text(start, self.text.len()));
    }

    /// Appends a NULL.
    pub(crate) fn push_null(&mut self) {
        self.cells.push(Cell::Null);
    }

    /// Appends an integer (or a boolean, as 0 or 1).
    pub(crate) fn push_int(&mut self, i: i64) {
        self.cells.push(Cell::Integer(i));
    }

    /// Appends a float.
    pub(crate) fn push_real(&mut self, x: f64) {
        self.cells.push(Cell::Real(x));
    }

    /// Appends bytes.
    pub(crate) fn push_blob(&mut self, b: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        self.cells.push(Cell::Blob(start, self.bytes.len()));
    }

    /// Ends the row whose values were just pushed.
    pub(crate) fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Rows in the batch.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of text and bytes held.
    pub(crate) fn held(&self) -> usize {
        self.text.len() + self.bytes.len()
    }

    fn bind(
        &self,
        stmt: &mut rusqlite::Statement<'_>,
        idx: usize,
        cell: Cell,
    ) -> rusqlite::Result<()> {
        match cell {
            Cell::Null => stmt.raw_bind_parameter(idx, rusqlite::types::Null),
            Cell::Integer(i) => stmt.raw_bind_parameter(idx, i),
            Cell::Real(x) => stmt.raw_bind_parameter(idx, x),
            Cell::Text(a, b) => stmt.raw_bind_parameter(
                idx,
                ToSqlOutput::Borrowed(ValueRef::Text(
                    self.text.as_bytes().get(a..b).unwrap_or_default(),
                )),
            ),
            Cell::Blob(a, b) => stmt.raw_bind_parameter(
                idx,
                ToSqlOutput::Borrowed(ValueRef::Blob(self.bytes.get(a..b).unwrap_or_default())),
            ),
        }
    }
}

/// A raw sandbox value, before it is read as its column's kind.
pub(crate) fn raw_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(x) => Value::Float(x),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

/// One row of a table that differs from the baseline: raw values in column
/// order; `None` for a side where the row does not exist.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawChange {
    pub old: Option<Vec<Value>>,
    pub new: Option<Vec<Value>>,
    /// The table's column names but its PII columns', in order, shared by
    /// every change of one diff.
    pub names: Arc<[Box<str>]>,
}

impl Sandbox {
    /// Creates the tables (walls down: nothing of the agent's runs yet).
    pub(crate) fn new(tables: Vec<SandboxTable>, limits: Limits) -> Result<Sandbox> {
        let conn = Connection::open_in_memory().map_err(|e| sandbox_err(&e))?;
        let modules = {
            let mut stmt = conn
                .prepare("SELECT lower(name) FROM pragma_module_list")
                .map_err(|e| sandbox_err(&e))?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| sandbox_err(&e))?;
            names
                .collect::<rusqlite::Result<HashSet<String>>>()
                .map_err(|e| sandbox_err(&e))?
        };
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let walls = Arc::new(Walls {
            modules,
            internal: AtomicBool::new(false),
            refusal: Mutex::new(None),
            deadline_ns: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            scoped: tables.iter().map(|t| t.name.to_ascii_lowercase()).collect(),
            read_only: tables
                .iter()
                .filter(|t| t.read_only)
                .map(|t| t.name.to_ascii_lowercase())
                .collect(),
            pii: tables
                .iter()
                .flat_map(|t| {
                    t.columns
                        .iter()
                        .filter(|c| c.pii)
                        .map(|c| (t.name.to_ascii_lowercase(), c.name.to_ascii_lowercase()))
                })
                .collect(),
            keys: tables
                .iter()
                .map(|t| {
                    let keys = t
                        .key
                        .iter()
                        .filter_map(|&k| t.columns.get(k))
                        .map(|c| c.name.to_ascii_lowercase())
                        .collect();
                    (t.name.clone(), keys)
                })
                .collect(),
            tracker: Arc::clone(&tracker),
        });
        let sb = Sandbox {
            conn,
            walls,
            tables,
            limits,
            tracker,
        };
        sb.configure()?;
        for i in 0..sb.tables.len() {
            sb.create_table(i)?;
        }
        Ok(sb)
    }

    fn configure(&self) -> Result<()> {
        use rusqlite::config::DbConfig;
        let c = &self.conn;
        let set = |cfg, on| {
            c.set_db_config(cfg, on)
                .map(|_| ())
                .map_err(|e| sandbox_err(&e))
        };
        set(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        set(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        set(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
        set(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
        set(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
        set(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
        let lim = |l, v: usize| {
            c.set_limit(l, i32::try_from(v).unwrap_or(i32::MAX))
                .map(|_| ())
                .map_err(|e| sandbox_err(&e))
        };
        lim(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        lim(
            Limit::SQLITE_LIMIT_SQL_LENGTH,
            self.limits.max_sql_bytes.max(10_000),
        )?;
        lim(Limit::SQLITE_LIMIT_LENGTH, self.limits.max_value_bytes)?;
        lim(Limit::SQLITE_LIMIT_EXPR_DEPTH, 200)?;
        lim(Limit::SQLITE_LIMIT_COMPOUND_SELECT, 100)?;
        lim(Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 1)?;
        lim(Limit::SQLITE_LIMIT_WORKER_THREADS, 0)?;
        // No file-backed temp storage: an in-memory sandbox writes nothing to disk.
        c.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;")
            .map_err(|e| sandbox_err(&e))?;

        let walls = Arc::clone(&self.walls);
        c.authorizer(Some(move |ctx: AuthContext<'_>| walls.authorize(&ctx)))
            .map_err(|e| sandbox_err(&e))?;
        let walls = Arc::clone(&self.walls);
        c.progress_handler(
            1_000,
            Some(move || {
                let now = u64::try_from(walls.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                now > walls.deadline_ns.load(Ordering::Relaxed)
            }),
        )
        .map_err(|e| sandbox_err(&e))?;
        Ok(())
    }

    fn table_ddl(&self, t: &SandboxTable, name: &str, with_fks: bool) -> String {
        let mut defs = Vec::new();
        let rowid_key = t.generated_key.is_some() && t.key.len() == 1;
        for (i, c) in t.columns.iter().enumerate() {
            let mut def = format!("{} {}", q(&c.name), c.kind.sandbox_type());
            if rowid_key && t.key.first() == Some(&i) {
                def = format!("{} INTEGER PRIMARY KEY AUTOINCREMENT", q(&c.name));
            } else if !c.nullable && !c.pii {
                def.push_str(" NOT NULL");
            }
            if let Some((ti, v)) = &t.tenant
                && *ti == i
            {
                def.push_str(&format!(" DEFAULT {}", literal(&to_sandbox(v))));
            }
            defs.push(def);
        }
        if !rowid_key {
            let key: Vec<String> = t
                .key
                .iter()
                .filter_map(|&i| t.columns.get(i))
                .map(|c| q(&c.name))
                .collect();
            defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
        }
        if with_fks {
            for fk in &t.foreign_keys {
                let cols: Vec<String> = fk.columns.iter().map(|c| q(c)).collect();
                let pcols: Vec<String> = fk.parent_columns.iter().map(|c| q(c)).collect();
                defs.push(format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    cols.join(", "),
                    q(&fk.parent),
                    pcols.join(", "),
                    fk.on_delete,
                    fk.on_update
                ));
            }
        }
        format!("CREATE TABLE {} ({}) STRICT", q(name), defs.join(", "))
    }

    fn create_table(&self, i: usize) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(());
        };
        self.conn
            .execute_batch(&self.table_ddl(t, &t.name, true))
            .map_err(|e| sandbox_err(&e))?;
        self.conn
            .execute_batch(&self.table_ddl(t, &base_name(i), false))
            .map_err(|e| sandbox_err(&e))
    }

    /// Loads cloned rows into table `i`: each row holds the values of the
    /// table's columns in order, PII columns left out (they stay NULL).
    pub(crate) fn load(&self, i: usize, batch: &CloneBatch) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(());
        };
        let width = t.columns.iter().filter(|c| !c.pii).count();
        if batch.cells.len() != batch.rows.saturating_mul(width) {
            return Err(Error::Sandbox(format!(
                "a cloned batch of `{}` does not hold {width} values a row",
                t.name
            )));
        }
        let cols: Vec<String> = t.columns.iter().map(|c| q(&c.name)).collect();
        let row = format!("({})", vec!["?"; cols.len()].join(", "));
        let sql = |rows: usize| {
            format!(
                "INSERT INTO {} ({}) VALUES {}",
                q(&t.name),
                cols.join(", "),
                vec![row.as_str(); rows].join(", ")
            )
        };
        // Rows a statement: within one statement SQLite keeps its cursor on
        // the table, and appending the next key does not search from the root.
        let per = (LOAD_ROWS / cols.len().max(1)).max(1);
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| sandbox_err(&e))?;
        {
            let mut full = tx.prepare(&sql(per)).map_err(|e| sandbox_err(&e))?;
            let mut first = 0;
            while first < batch.rows {
                let n = per.min(batch.rows - first);
                let mut part;
                let stmt = if n == per {
                    &mut full
                } else {
                    part = tx.prepare(&sql(n)).map_err(|e| sandbox_err(&e))?;
                    &mut part
                };
                let mut idx = 0;
                for r in first..first + n {
                    let row = batch
                        .cells
                        .get(r * width..(r + 1) * width)
                        .unwrap_or_default();
                    let mut values = row.iter();
                    for c in &t.columns {
                        let cell = if c.pii { None } else { values.next() };
                        idx += 1;
                        batch
                            .bind(stmt, idx, cell.copied().unwrap_or(Cell::Null))
                            .map_err(|e| sandbox_err(&e))?;
                    }
                }
                stmt.raw_execute().map_err(|e| sandbox_err(&e))?;
                first += n;
            }
        }
        tx.commit().map_err(|e| sandbox_err(&e))
    }

    /// Ends setup: takes the baseline, starts provisional keys, raises the walls.
    pub(crate) fn seal(&self) -> Result<()> {
        let _in = Internal::new(&self.walls);
        for (i, t) in self.tables.iter().enumerate() {
            let sql = format!(
                "INSERT INTO {} SELECT * FROM {}",
                q(&base_name(i)),
                q(&t.name)
            );
            self.conn.execute_batch(&sql).map_err(|e| sandbox_err(&e))?;
            if let Some(base) = t.generated_key {
                // New rows the agent inserts without a key get provisional keys
                // from `base` up, which are easy to tell from cloned ones.
                // Loading rows already made SQLite write the table's row here,
                // and it reads the first row of a name, so replace it.
                self.conn
                    .execute("DELETE FROM sqlite_sequence WHERE name = ?1", [&t.name])
                    .map_err(|e| sandbox_err(&e))?;
                self.conn
                    .execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                        rusqlite::params![t.name, base],
                    )
                    .map_err(|e| sandbox_err(&e))?;
            }
        }
        self.start_tracking()?;
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| sandbox_err(&e))?;
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| sandbox_err(&e))?;
        let growth =
            i64::try_from(self.limits.max_growth_bytes).unwrap_or(i64::MAX) / page_size.max(1);
        self.conn
            .execute_batch(&format!(
                "PRAGMA max_page_count = {}; PRAGMA foreign_keys = ON;",
                pages.saturating_add(growth)
            ))
            .map_err(|e| sandbox_err(&e))?;
        Ok(())
    }

    fn arm(&self) {
        if let Ok(mut r) = self.walls.refusal.lock() {
            *r = None;
        }
        let deadline = self.walls.epoch.elapsed() + self.limits.statement_time;
        self.walls.deadline_ns.store(
            u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn disarm(&self) {
        self.walls.deadline_ns.store(u64::MAX, Ordering::Relaxed);
    }

    /// Maps a SQLite error of an agent statement to the right variant.
    fn agent_error(&self, e: &rusqlite::Error) -> Error {
        if let Ok(mut slot) = self.walls.refusal.lock()
            && let Some(r) = slot.take()
        {
            return Error::Refused(r);
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::OperationInterrupted) => Error::Timeout {
                limit_ms: u64::try_from(self.limits.statement_time.as_millis()).unwrap_or(u64::MAX),
            },
            Some(ErrorCode::TooBig) => Error::Refused(Refusal::TooLong {
                limit: self.limits.max_sql_bytes,
            }),
            Some(ErrorCode::AuthorizationForStatementDenied) => {
                Error::Refused(Refusal::Other("this statement".into()))
            }
            Some(ErrorCode::DiskFull) => Error::Statement {
                message: "the sandbox is full (memory limit)".into(),
            },
            _ => Error::Statement {
                message: e.to_string(),
            },
        }
    }

    /// Runs an agent script, statement by statement, as one unit: if any
    /// statement fails, the sandbox is as it was before the script.
    pub(crate) fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        if sql.len() > self.limits.max_sql_bytes {
            return Err(Error::Refused(Refusal::TooLong {
                limit: self.limits.max_sql_bytes,
            }));
        }
        let counts = self.tracker.lock().map(|t| t.row_counts()).ok();
        {
            let _in = Internal::new(&self.walls);
            self.conn
                .execute_batch("SAVEPOINT agent")
                .map_err(|e| sandbox_err(&e))?;
        }
        let result = self.run_inner(sql, params);
        self.disarm();
        let _in = Internal::new(&self.walls);
        if result.is_err() {
            // The rollback below (or SQLite's own) undoes the script without
            // reporting it: the row counts go back with it.
            if let (Ok(mut t), Some(counts)) = (self.tracker.lock(), &counts) {
                t.restore_row_counts(counts);
            }
        }
        if self.conn.is_autocommit() {
            // SQLite rolled the whole transaction back itself (an interrupted
            // write, a full sandbox): the savepoint is gone and the sandbox is
            // as it was before the script.
            return result;
        }
        let end = if result.is_ok() {
            "RELEASE agent"
        } else {
            "ROLLBACK TO agent; RELEASE agent"
        };
        if let Err(e) = self.conn.execute_batch(end) {
            // What the sandbox holds now is unknown: compare every row.
            if let Ok(mut t) = self.tracker.lock() {
                for table in &mut t.tables {
                    table.untrusted = true;
                }
            }
            return Err(sandbox_err(&e));
        }
        result
    }

    fn run_inner(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        let mut out = Vec::new();
        self.arm();
        let mut batch = rusqlite::Batch::new(&self.conn, sql);
        loop {
            let next = batch.next().map_err(|e| self.agent_error(&e))?;
            let Some(mut stmt) = next else { break };
            self.arm();
            let wanted = stmt.parameter_count();
            if wanted > 0 {
                if wanted != params.len() {
                    return Err(Error::Statement {
                        message: format!(
                            "the statement has {wanted} parameters, {} given",
                            params.len()
                        ),
                    });
                }
                for (i, p) in params.iter().enumerate() {
                    stmt.raw_bind_parameter(i + 1, to_sandbox(p))
                        .map_err(|e| self.agent_error(&e))?;
                }
            }
            let readonly = stmt.readonly();
            if stmt.column_count() > 0 {
                let columns: Vec<String> = stmt
                    .column_names()
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                let width = columns.len();
                let mut rows_out = Vec::new();
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next().map_err(|e| self.agent_error(&e))? {
                    if rows_out.len() >= self.limits.max_result_rows {
                        return Err(Error::Refused(Refusal::TooManyRows {
                            limit: self.limits.max_result_rows,
                        }));
                    }
                    let mut values = Vec::with_capacity(width);
                    for i in 0..width {
                        values.push(raw_value(row.get_ref(i).map_err(|e| sandbox_err(&e))?));
                    }
                    rows_out.push(values);
                }
                let changes = self.conn.changes();
                out.push(StatementResult {
                    rows_affected: if readonly { 0 } else { changes },
                    rows: Some(QueryResult {
                        columns,
                        rows: rows_out,
                    }),
                });
            } else {
                let n = stmt.raw_execute().map_err(|e| self.agent_error(&e))?;
                out.push(StatementResult {
                    rows_affected: u64::try_from(n).unwrap_or(0),
                    rows: None,
                });
            }
        }
        Ok(out)
    }

    /// Rows of table `i` that differ from its baseline, found by SQLite with
    /// the key index (no quadratic work): deleted and updated rows from a
    /// join of the baseline to the table, inserted rows from the reverse.
    /// Where the record of written rows can be trusted, both joins start
    /// from the keys those rows had before and have now, and skip the rest.
    pub(crate) fn changes(&self, i: usize) -> Result<Vec<RawChange>> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(Vec::new());
        };
        let Some(touched) = self.touched(i, t)? else {
            return self.compare(i, t, None);
        };
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| sandbox_err(&e))?;
        tx.execute_batch(&format!("DELETE FROM {TOUCHED}"))
            .map_err(|e| sandbox_err(&e))?;
        {
            // Many rows a statement: one execution per rowid costs more than
            // the comparison it prepares.
            const PER: usize = 256;
            let sql = |rows: usize| {
                format!(
                    "INSERT INTO {TOUCHED} (r) VALUES {}",
                    vec!["(?)"; rows].join(", ")
                )
            };
            let mut full = tx.prepare(&sql(PER)).map_err(|e| sandbox_err(&e))?;
            for chunk in touched.rowids.chunks(PER) {
                if chunk.len() == PER {
                    full.execute(rusqlite::params_from_iter(chunk))
                } else {
                    tx.execute(&sql(chunk.len()), rusqlite::params_from_iter(chunk))
                }
                .map_err(|e| sandbox_err(&e))?;
            }
        }
        let found = self.compare(i, t, Some(&touched));
        // The list of rowids served its purpose: roll it back.
        drop(tx);
        let found = found?;
        #[cfg(debug_assertions)]
        {
            // Tests run every diff both ways.
            let all = self.compare(i, t, None)?;
            let canon = |v: &[RawChange]| {
                let mut out: Vec<String> = v.iter().map(|c| format!("{c:?}")).collect();
                out.sort();
                out
            };
            if canon(&found) != canon(&all) {
                return Err(Error::Sandbox(format!(
                    "the diff of written rows of `{}` differs from the full diff",
                    t.name
                )));
            }
        }
        Ok(found)
    }

    /// The rowids to compare in table `i`, or `None` when every row must be.
    fn touched(&self, i: usize, t: &SandboxTable) -> Result<Option<Touched>> {
        // A NULL key matches nothing, so such rows differ wherever they are.
        let keys_not_null = !t.key.is_empty()
            && t.key
                .iter()
                .all(|&k| t.columns.get(k).is_some_and(|c| !c.nullable && !c.pii));
        let Some(rowid) = rowid_name(t) else {
            return Ok(None);
        };
        if !keys_not_null || !self.conn.is_autocommit() {
            return Ok(None);
        }
        let (rowids, expected, rowid_key) = {
            let Ok(mut tracker) = self.tracker.lock() else {
                return Ok(None);
            };
            match tracker.tables.get_mut(i) {
                Some(tr) if !tr.untrusted && tr.name == t.name => {
                    tr.compact();
                    (tr.rowids.clone(), tr.rows, tr.rowid_key)
                }
                _ => return Ok(None),
            }
        };
        let rows: i64 = self
            .conn
            .query_row(&format!("SELECT count(*) FROM {}", q(&t.name)), [], |r| {
                r.get(0)
            })
            .map_err(|e| sandbox_err(&e))?;
        // Fewer rows than the reported writes leave: a deletion went unreported.
        if rows != expected {
            return Ok(None);
        }
        // Past a quarter of the rows, one pass over all of them is cheaper.
        let many = i64::try_from(rowids.len())
            .unwrap_or(i64::MAX)
            .saturating_mul(4);
        if many > rows.max(1) {
            return Ok(None);
        }
        Ok(Some(Touched {
            rowids,
            rowid,
            rowid_key,
        }))
    }

    /// The changes of table `i`: among all rows, or among the rows holding a
    /// key that a row whose rowid is in [`TOUCHED`] had in the baseline or
    /// has now.
    fn compare(
        &self,
        i: usize,
        t: &SandboxTable,
        touched: Option<&Touched>,
    ) -> Result<Vec<RawChange>> {
        let n = t.columns.len();
        let base = q(&base_name(i));
        let cur = q(&t.name);
        let key_cols: Vec<String> = t
            .key
            .iter()
            .filter_map(|&k| t.columns.get(k))
            .map(|c| q(&c.name))
            .collect();
        let join = |a: &str, b: &str, names: &[String]| -> String {
            key_cols
                .iter()
                .zip(names)
                .map(|(k, kb)| format!("{a}.{k} = {b}.{kb}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let on = join("b", "c", &key_cols);
        let same: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("b.{0} IS c.{0}", q(&c.name)))
            .collect();
        let same = same.join(" AND ");
        let cols = |alias: &str| -> String {
            t.columns
                .iter()
                .map(|c| format!("{alias}.{}", q(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (b_cols, c_cols) = (cols("b"), cols("c"));
        let first_key = key_cols.first().cloned().unwrap_or_default();
        let names: Arc<[Box<str>]> = t
            .columns
            .iter()
            .filter(|c| !c.pii)
            .map(|c| Box::from(c.name.as_str()))
            .collect();
        let read = |row: &rusqlite::Row<'_>, from: usize| -> Result<Vec<Value>> {
            (from..from + n)
                .map(|j| row.get_ref(j).map(raw_value))
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| sandbox_err(&e))
        };
        let mut out = Vec::new();
        let mut push = |old, new| {
            out.push(RawChange {
                old,
                new,
                names: Arc::clone(&names),
            });
        };
        if let Some(touched) = touched {
            // One pass over the keys (`k`, each once): the baseline's row and
            // the table's, either of which may be missing.
            let rid = q(touched.rowid);
            let (with, keys, on_b, on_c) = if touched.rowid_key {
                (
                    String::new(),
                    format!("{TOUCHED} AS k"),
                    format!("b.{rid} = k.r"),
                    format!("c.{rid} = k.r"),
                )
            } else {
                let k: Vec<String> = (0..key_cols.len()).map(|j| format!("k{j}")).collect();
                let keys_of = |alias: &str| -> String {
                    key_cols
                        .iter()
                        .map(|c| format!("{alias}.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (
                    format!(
                        "WITH k({}) AS (\
                         SELECT {} FROM {TOUCHED} AS t CROSS JOIN {base} AS b ON b.{rid} = t.r \
                         UNION SELECT {} FROM {TOUCHED} AS t CROSS JOIN {cur} AS c ON c.{rid} = t.r) ",
                        k.join(", "),
                        keys_of("b"),
                        keys_of("c"),
                    ),
                    "k".to_owned(),
                    join("b", "k", &k),
                    join("c", "k", &k),
                )
            };
            // A rowid written and deleted again has neither row.
            let sql = format!(
                "{with}SELECT {b_cols}, b.{first_key} IS NULL, c.{first_key} IS NULL, {c_cols} \
                 FROM {keys} LEFT JOIN {base} AS b ON {on_b} LEFT JOIN {cur} AS c ON {on_c} \
                 WHERE (b.{first_key} IS NOT NULL OR c.{first_key} IS NOT NULL) \
                 AND (b.{first_key} IS NULL OR c.{first_key} IS NULL OR NOT ({same}))"
            );
            let mut stmt = self.conn.prepare(&sql).map_err(|e| sandbox_err(&e))?;
            let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
            while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
                let absent = |j: usize| -> Result<bool> {
                    row.get::<_, bool>(j).map_err(|e| sandbox_err(&e))
                };
                let old = if absent(n)? {
                    None
                } else {
                    Some(read(row, 0)?)
                };
                let new = if absent(n + 1)? {
                    None
                } else {
                    Some(read(row, n + 2)?)
                };
                push(old, new);
            }
            return Ok(out);
        }
        let changed_sql = format!(
            "SELECT {b_cols}, c.{first_key} IS NULL, {c_cols} FROM {base} b LEFT JOIN {cur} c ON {on} \
             WHERE c.{first_key} IS NULL OR NOT ({same})"
        );
        let inserted_sql = format!(
            "SELECT {c_cols} FROM {cur} c LEFT JOIN {base} b ON {on} WHERE b.{first_key} IS NULL"
        );
        let mut stmt = self
            .conn
            .prepare(&changed_sql)
            .map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            let old = read(row, 0)?;
            let gone: bool = row.get(n).map_err(|e| sandbox_err(&e))?;
            let new = if gone { None } else { Some(read(row, n + 1)?) };
            push(Some(old), new);
        }
        let mut stmt = self
            .conn
            .prepare(&inserted_sql)
            .map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            push(None, Some(read(row, 0)?));
        }
        Ok(out)
    }

    /// Rows inserted, updated or deleted since the sandbox was created, by
    /// anyone (SQLite's `total_changes`): no data changes while it stands still.
    pub(crate) fn total_changes(&self) -> u64 {
        self.conn.total_changes()
    }

    /// Makes the current state the new baseline (after a commit).
    pub(crate) fn rebase(&self) -> Result<()> {
        let _in = Internal::new(&self.walls);
        for (i, t) in self.tables.iter().enumerate() {
            let b = q(&base_name(i));
            self.conn
                .execute_batch(&format!(
                    "DELETE FROM {b}; INSERT INTO {b} SELECT * FROM {};",
                    q(&t.name)
                ))
                .map_err(|e| sandbox_err(&e))?;
        }
        self.start_tracking()?;
        // The copy above keeps rowids only as SQLite's transfer optimization
        // does; after a commit, diffs are rare enough to compare every row.
        if let Ok(mut t) = self.tracker.lock() {
            for table in &mut t.tables {
                table.untrusted = true;
            }
        }
        Ok(())
    }

    /// Starts a fresh record of the rows written, against the baseline just
    /// taken (whose rows keep the table's rowids: `INSERT INTO .. SELECT *`
    /// between tables of one layout copies rowids).
    fn start_tracking(&self) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let mut tables = Vec::with_capacity(self.tables.len());
        for t in &self.tables {
            let rows: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM {}", q(&t.name)), [], |r| {
                    r.get(0)
                })
                .map_err(|e| sandbox_err(&e))?;
            // A table whose key is not its rowid has an index for the key.
            let indexes: i64 = self
                .conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1",
                    [&t.name],
                    |r| r.get(0),
                )
                .map_err(|e| sandbox_err(&e))?;
            tables.push(Tracked {
                name: t.name.clone(),
                rows,
                rowid_key: indexes == 0,
                ..Tracked::default()
            });
        }
        self.conn
            .execute_batch(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {TOUCHED} (r INTEGER PRIMARY KEY)"
            ))
            .map_err(|e| sandbox_err(&e))?;
        self.tracker
            .lock()
            .map_err(|_| Error::Sandbox("the sandbox's record of writes was poisoned".into()))?
            .tables = tables;
        let tracker = Arc::clone(&self.tracker);
        self.conn
            .update_hook(Some(
                move |action: Action, db: &str, table: &str, rowid: i64| {
                    if let Ok(mut t) = tracker.lock() {
                        t.hook(action, db, table, rowid);
                    }
                },
            ))
            .map_err(|e| sandbox_err(&e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests: a panic fails the test"
    )]

    use super::*;

    fn col(name: &str, kind: ColumnKind, nullable: bool) -> SandboxColumn {
        SandboxColumn {
            name: name.to_owned(),
            kind,
            nullable,
            pii: false,
        }
    }

    fn table(name: &str, columns: Vec<SandboxColumn>, key: Vec<usize>) -> SandboxTable {
        SandboxTable {
            name: name.to_owned(),
            columns,
            key,
            read_only: false,
            generated_key: None,
            tenant: None,
            foreign_keys: Vec::new(),
        }
    }

    /// `t`: an INTEGER key (the rowid); `s`: a text key (an index); `c`: a
    /// composite key; `child`: rows of `t` by foreign key, cascading.
    fn sandbox() -> Sandbox {
        let t = table(
            "t",
            vec![
                col("id", ColumnKind::Int64, false),
                col("v", ColumnKind::Text, true),
                col("n", ColumnKind::Int64, true),
            ],
            vec![0],
        );
        let s = table(
            "s",
            vec![
                col("code", ColumnKind::Text, false),
                col("label", ColumnKind::Text, true),
            ],
            vec![0],
        );
        let c = table(
            "c",
            vec![
                col("a", ColumnKind::Int64, false),
                col("b", ColumnKind::Text, false),
                col("x", ColumnKind::Float64, true),
            ],
            vec![0, 1],
        );
        let mut child = table(
            "child",
            vec![
                col("cid", ColumnKind::Text, false),
                col("tid", ColumnKind::Int64, true),
            ],
            vec![0],
        );
        child.foreign_keys.push(SandboxFk {
            columns: vec!["tid".into()],
            parent: "t".into(),
            parent_columns: vec!["id".into()],
            on_delete: "CASCADE",
            on_update: "CASCADE",
        });
        let sb = Sandbox::new(vec![t, s, c, child], Limits::default()).unwrap();
        let text = |s: &str| Value::Text(s.to_owned());
        let batch = |rows: &[Vec<Value>]| {
            let mut b = CloneBatch::default();
            for row in rows {
                for v in row {
                    b.push(v);
                }
                b.end_row();
            }
            b
        };
        sb.load(
            0,
            &batch(
                &(1..=40)
                    .map(|i| vec![Value::Int(i), text(&format!("v{i}")), Value::Int(i % 3)])
                    .collect::<Vec<_>>(),
            ),
        )
        .unwrap();
        sb.load(
            1,
            &batch(
                &(1..=40)
                    .map(|i| vec![text(&format!("k{i:02}")), text(&format!("L{i}"))])
                    .collect::<Vec<_>>(),
            ),
        )
        .unwrap();
        sb.load(
            2,
            &batch(
                &(1..=40)
                    .map(|i| vec![Value::Int(i % 4), text(&format!("b{i}")), Value::Float(0.5)])
                    .collect::<Vec<_>>(),
            ),
        )
        .unwrap();
        sb.load(
            3,
            &batch(
                &(1..=40)
                    .map(|i| vec![text(&format!("c{i:02}")), Value::Int((i % 10) + 1)])
                    .collect::<Vec<_>>(),
            ),
        )
        .unwrap();
        sb.seal().unwrap();
        sb
    }

    /// The changes of table `i` both ways: from the written rows (if that
    /// path is open) and from every row, each sorted.
    fn both(sb: &Sandbox, i: usize) -> (Option<Vec<String>>, Vec<String>) {
        let canon = |v: Vec<RawChange>| {
            let mut out: Vec<String> = v
                .iter()
                .map(|c| format!("{:?} -> {:?}", c.old, c.new))
                .collect();
            out.sort();
            out
        };
        let t = &sb.tables[i];
        let _in = Internal::new(&sb.walls);
        let fast = sb.touched(i, t).unwrap().map(|touched| {
            let tx = sb.conn.unchecked_transaction().unwrap();
            tx.execute_batch(&format!("DELETE FROM {TOUCHED}")).unwrap();
            for r in &touched.rowids {
                tx.execute(&format!("INSERT INTO {TOUCHED} (r) VALUES (?1)"), [r])
                    .unwrap();
            }
            let found = sb.compare(i, t, Some(&touched)).unwrap();
            drop(tx);
            canon(found)
        });
        let all = canon(sb.compare(i, t, None).unwrap());
        // What a diff returns, whichever way it takes.
        assert_eq!(canon(sb.changes(i).unwrap()), all);
        (fast, all)
    }

    /// Runs `sql`, then checks every table: the written-rows path, where it
    /// is taken, finds exactly what comparing every row finds.
    fn check(sb: &Sandbox, sql: &str) -> Vec<(Option<Vec<String>>, Vec<String>)> {
        let _ = sb.run(sql, &[]);
        (0..sb.tables.len())
            .map(|i| {
                let (fast, all) = both(sb, i);
                if let Some(fast) = &fast {
                    assert_eq!(fast, &all, "table {i} after `{sql}`");
                }
                (fast, all)
            })
            .collect()
    }

    #[test]
    fn a_clone_batch_holds_what_to_sandbox_stores() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(-7),
            Value::Float(0.1),
            Value::Decimal(safemodel::Decimal::new("1.10").unwrap()),
            Value::Text("héllo".into()),
            Value::Bytes(vec![0, 1, 255]),
            Value::Uuid(uuid::Uuid::from_u128(
                0x1234_5678_9abc_def0_1234_5678_9abc_def0,
            )),
            Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
            Value::Time(chrono::NaiveTime::from_hms_micro_opt(1, 2, 3, 450_000).unwrap()),
            Value::Timestamp(
                chrono::NaiveDate::from_ymd_opt(1999, 12, 31)
                    .unwrap()
                    .and_hms_nano_opt(23, 59, 59, 1)
                    .unwrap(),
            ),
            Value::TimestampTz(chrono::DateTime::from_timestamp(1_700_000_000, 5_000).unwrap()),
            Value::Json(safemodel::Json::new("{\"a\": 1.50}").unwrap()),
        ];
        let mut b = CloneBatch::default();
        for v in &values {
            b.push(v);
        }
        for (v, cell) in values.iter().zip(&b.cells) {
            let got = match *cell {
                Cell::Null => SqlValue::Null,
                Cell::Integer(i) => SqlValue::Integer(i),
                Cell::Real(x) => SqlValue::Real(x),
                Cell::Text(x, y) => SqlValue::Text(b.text[x..y].to_owned()),
                Cell::Blob(x, y) => SqlValue::Blob(b.bytes[x..y].to_vec()),
            };
            assert_eq!(got, to_sandbox(v), "{v:?}");
        }
    }

    #[test]
    fn written_rows_are_found_without_comparing_every_row() {
        let sb = sandbox();
        let r = check(
            &sb,
            "UPDATE t SET v = 'x' WHERE id IN (3, 4); DELETE FROM s WHERE code = 'k07'; INSERT INTO c VALUES (9, 'new', NULL)",
        );
        for (i, n) in [(0, 2), (1, 1), (2, 1)] {
            assert_eq!(r[i].1.len(), n, "table {i}");
            assert!(r[i].0.is_some(), "table {i} takes the written-rows path");
        }
        // The same value written again is no change, though the row was written.
        let sb = sandbox();
        let r = check(
            &sb,
            "UPDATE t SET v = v, n = n WHERE id < 10; UPDATE s SET label = label",
        );
        assert!(r[0].1.is_empty() && r[0].0.is_some());
        assert!(r[1].1.is_empty());
        // Written and undone: inserted then deleted, deleted then put back.
        let sb = sandbox();
        let r = check(
            &sb,
            "INSERT INTO t VALUES (100, 'a', 1); DELETE FROM t WHERE id = 100; \
             DELETE FROM t WHERE id = 5; INSERT INTO t VALUES (5, 'v5', 2); \
             DELETE FROM s WHERE code = 'k01'; INSERT INTO s VALUES ('k01', 'changed')",
        );
        assert!(r[0].1.is_empty() && r[0].0.is_some());
        assert_eq!(r[1].1.len(), 1);
    }

    #[test]
    fn unreported_deletions_fall_back_to_every_row() {
        // The truncate optimization: no row is reported.
        let sb = sandbox();
        let r = check(&sb, "DELETE FROM s");
        assert_eq!(r[1].1.len(), 40);
        assert!(r[1].0.is_none());
        // REPLACE deletes the row holding the key without a report.
        for sql in [
            "INSERT OR REPLACE INTO s VALUES ('k03', 'replaced')",
            "REPLACE INTO c VALUES (1, 'b1', 2.5)",
            "INSERT OR REPLACE INTO t VALUES (7, 'seven', 7)",
            "UPDATE OR REPLACE s SET code = 'k09' WHERE code = 'k08'",
        ] {
            let sb = sandbox();
            let r = check(&sb, sql);
            assert!(r.iter().any(|(_, all)| !all.is_empty()), "{sql}");
        }
        // Truncated, then as many rows inserted: the count still tells.
        let sb = sandbox();
        let r = check(
            &sb,
            "DELETE FROM s; INSERT INTO s SELECT 'k' || printf('%02d', value), 'L' || value FROM json_each('[1,2,3]')",
        );
        assert_eq!(r[1].1.len(), 37);
    }

    #[test]
    fn rows_that_move_are_compared_by_key() {
        // A key changes: the old key's row is gone, the new one is new.
        for (i, sql) in [
            (0, "UPDATE t SET id = id + 1000 WHERE id = 2"),
            (1, "UPDATE s SET code = 'zz' WHERE code = 'k02'"),
            (2, "UPDATE c SET b = 'moved' WHERE b = 'b2'"),
            (
                1,
                "UPDATE s SET rowid = rowid + 1000, label = 'm' WHERE code = 'k05'",
            ),
            (
                1,
                "UPDATE s SET _rowid_ = 500, label = 'm' WHERE code = 'k06'",
            ),
            (
                0,
                "INSERT INTO t VALUES (3, 'dup', 0) ON CONFLICT (id) DO UPDATE SET id = 333",
            ),
        ] {
            let sb = sandbox();
            let r = check(&sb, sql);
            assert!(!r[i].1.is_empty(), "{sql}");
            assert!(r[i].0.is_none(), "{sql}: the table compares every row");
        }
        // Foreign key actions write rows of another table.
        let sb = sandbox();
        let r = check(&sb, "DELETE FROM t WHERE id = 2");
        assert_eq!(r[3].1.len(), 4, "children of t[2] deleted by cascade");
        let r = check(&sb, "UPDATE t SET id = 999 WHERE id = 3");
        assert_eq!(r[3].1.len(), 8, "and children of t[3] moved by cascade");
    }

    #[test]
    fn a_failed_script_leaves_nothing_and_keeps_the_count() {
        let sb = sandbox();
        let r = check(
            &sb,
            "DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (50, 'x', 1); INSERT INTO t VALUES (2, 'dup', 0)",
        );
        assert!(r[0].1.is_empty());
        let r = check(&sb, "UPDATE t SET v = 'ok' WHERE id = 9");
        assert_eq!(r[0].1.len(), 1);
        assert!(r[0].0.is_some(), "the record survives a rolled-back script");
    }

    #[test]
    fn random_scripts_agree_with_comparing_every_row() {
        // A small deterministic generator: no dependency for it.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut sb = sandbox();
        let mut fast = 0;
        for round in 0..600 {
            // Afresh now and then: a table that fell back stays so.
            if round % 8 == 0 {
                sb = sandbox();
            }
            let a = next(60);
            let b = next(60);
            let sql = match next(16) {
                0 => format!("UPDATE t SET v = 'r{round}' WHERE id % 7 = {}", a % 7),
                1 => format!("DELETE FROM t WHERE id = {a}"),
                2 => format!("INSERT INTO t VALUES ({}, 'i{round}', {b})", a + 40),
                3 => format!("INSERT OR REPLACE INTO t VALUES ({a}, 'p{round}', {b})"),
                4 => format!("UPDATE t SET id = {} WHERE id = {a}", b + 100),
                5 => format!("UPDATE s SET label = 'r{round}' WHERE code > 'k{a:02}'"),
                6 => format!("DELETE FROM s WHERE code = 'k{a:02}'"),
                7 => format!("INSERT OR REPLACE INTO s VALUES ('k{a:02}', 'p{round}')"),
                8 => format!("UPDATE s SET code = 'k{b:02}' WHERE code = 'k{a:02}'"),
                9 => format!("UPDATE c SET x = {b}.25 WHERE a = {}", a % 4),
                10 => format!("INSERT OR IGNORE INTO c VALUES ({}, 'b{b}', NULL)", a % 5),
                11 => format!("DELETE FROM c WHERE b = 'b{a}'"),
                12 => ["DELETE FROM child", "DELETE FROM s", "DELETE FROM c"]
                    [usize::try_from(a % 3).unwrap()]
                .to_owned(),
                13 => format!("INSERT INTO child VALUES ('n{round}', {})", a + 1),
                14 => format!(
                    "UPDATE s SET rowid = {} WHERE code = 'k{a:02}'",
                    1000 + round
                ),
                _ => format!(
                    "UPDATE t SET n = n + 1 WHERE id = {a}; INSERT INTO t VALUES ({a}, 'fail', 0)"
                ),
            };
            fast += check(&sb, &sql)
                .iter()
                .filter(|(f, all)| f.is_some() && !all.is_empty())
                .count();
        }
        assert!(fast > 100, "only {fast} diffs took the written-rows path");
    }
}
