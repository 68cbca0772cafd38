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
//! Every table is `STRICT` and keeps UUIDs, times and JSON as TEXT, so
//! SQLite's type affinity cannot rewrite a value. Decimals are `ANY`: cloned
//! as text they stay text (`'1.10'` stays `'1.10'`), and a float the agent's
//! arithmetic made stays a float, which the diff refuses (precision lost);
//! `decimal_add` and its kin compute exactly (see `sandbox_decimal`).
//!
//! The baseline of the diff is captured, not copied: temp triggers (which
//! the agent can neither see nor drop, as it can run no DDL) save a row's
//! values as cloned the first time a statement updates or deletes it, and
//! note the rowids that rows are inserted or moved to. A diff then compares
//! only those rows, so neither opening nor diffing costs a pass over every
//! row. A table whose rows cannot be followed that way (no name left for its
//! rowid, or a key that may be NULL) keeps a full copy (`__base_N`) instead.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode};
use safemodel::Value;

use crate::diff::Op;
use crate::error::{Error, Refusal, Result};
use crate::policy::WriteEffect;
pub(crate) use crate::prod::{Cell, CloneBatch};
use crate::types::ColumnKind;
use crate::value::datetime::push_time_text;

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
    /// Memory of the sandbox, in bytes: SQLite's heap (the cloned data and
    /// what statements add, temporary tables, sorting, the distinct rows of
    /// a `UNION`) and the result rows handed back ([`Limits::max_result_bytes`]
    /// of it). Past it a statement fails with [`crate::Error::MemoryLimit`]
    /// and is undone. SQLite's heap limit is process-wide: see the README's
    /// "Limits" section for how sandboxes (and a SQLite production database
    /// in the same process) share it.
    pub memory_budget: u64,
    /// Bytes of result rows one call hands back, every statement of a
    /// script together (values' bytes plus a fixed size per value); a
    /// result past it, or past [`Limits::max_result_rows`] (per statement),
    /// is cut and says so ([`QueryResult::cut`]).
    pub max_result_bytes: usize,
    /// Statement time of the whole session: the sum of every statement's
    /// time. Past it statements are interrupted and no more run
    /// ([`crate::Error::SessionTimeLimit`]).
    pub session_statement_time: Duration,
    /// Longest LIKE or GLOB pattern, in bytes.
    pub max_like_pattern_bytes: usize,
    /// Most work of one call of a function whose cost is the product of two
    /// inputs' lengths (`instr`, `replace`, `like`, `glob`, two-argument
    /// `trim`, `json_patch`): the product of the lengths in bytes (for
    /// `json_patch`, in units of 4 bytes, the least a member takes). A call past it is
    /// refused ([`Refusal::TooMuchWork`]) rather than left to run where the
    /// time limit cannot reach it (inside one call).
    pub max_call_work: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement_time: Duration::from_secs(5),
            max_sql_bytes: 100_000,
            max_value_bytes: 16 << 20,
            max_result_rows: 10_000,
            max_growth_bytes: 256 << 20,
            memory_budget: 512 << 20,
            max_result_bytes: 32 << 20,
            session_statement_time: Duration::from_secs(60),
            max_like_pattern_bytes: 10_000,
            max_call_work: 1 << 26,
        }
    }
}

impl Limits {
    /// The part of [`Limits::memory_budget`] that is SQLite's heap.
    pub(crate) fn sqlite_share(&self) -> u64 {
        self.memory_budget
            .saturating_sub(u64::try_from(self.max_result_bytes).unwrap_or(u64::MAX))
    }

    fn check(&self) -> Result<()> {
        let result = u64::try_from(self.max_result_bytes).unwrap_or(u64::MAX);
        if self.memory_budget < result.saturating_add(16 << 20) {
            return Err(Error::Config(format!(
                "memory_budget must be at least max_result_bytes + 16 MiB \
                 ({} and {} bytes given)",
                self.memory_budget, self.max_result_bytes
            )));
        }
        Ok(())
    }
}

/// One column of a sandbox table.
#[derive(Debug, Clone)]
pub(crate) struct SandboxColumn {
    pub name: String,
    pub kind: ColumnKind,
    pub nullable: bool,
    pub pii: bool,
    /// Production computes it (generated, identity ALWAYS): the agent may
    /// not write it.
    pub computed: bool,
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
    /// Columns production computes, as `(table, column)` in lower case.
    computed: HashSet<(String, String)>,
    /// Virtual table modules compiled into this SQLite (`dbstat`, `fts5`,
    /// ...): their eponymous tables are outside the scope.
    modules: HashSet<String>,
    /// The first write SQLite asked about while preparing an agent statement
    /// outside any trigger: the statement's own kind and target table, and
    /// for an INSERT whether it also updates that table (an upsert).
    first_write: Mutex<Option<(Op, String, bool)>>,
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
        // What the baseline's triggers do when an agent statement fires them.
        // Only shadowdb creates triggers: the agent can run no DDL.
        if ctx.accessor.is_some_and(|a| a.starts_with(TRIGGER_PREFIX)) {
            return Authorization::Allow;
        }
        if ctx.accessor.is_none() {
            self.note_write(ctx);
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
            } => self.write_allowed(table_name, Some(column_name), "ALTER"),
            AuthAction::Function { function_name } => {
                let name = lower(function_name);
                if FUNCTIONS.contains(&name.as_str())
                    || crate::sandbox_decimal::FUNCTIONS.contains(&name.as_str())
                {
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

    /// Keeps the first write of a statement: SQLite asks about the
    /// statement's own target before any foreign key action it codes.
    fn note_write(&self, ctx: &AuthContext<'_>) {
        let write = match ctx.action {
            AuthAction::Insert { table_name } => (Op::Insert, table_name),
            AuthAction::Update { table_name, .. } => (Op::Update, table_name),
            AuthAction::Delete { table_name } => (Op::Delete, table_name),
            _ => return,
        };
        let Ok(mut slot) = self.first_write.lock() else {
            return;
        };
        match &mut *slot {
            None => *slot = Some((write.0, write.1.to_ascii_lowercase(), false)),
            // `ON CONFLICT DO UPDATE` asks to update the table it inserts into.
            Some((Op::Insert, table, upsert))
                if write.0 == Op::Update && table.eq_ignore_ascii_case(write.1) =>
            {
                *upsert = true;
            }
            Some(_) => {}
        }
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
        if let Some(c) = column {
            let pair = (t, c.to_ascii_lowercase());
            if self.pii.contains(&pair) {
                return self.refuse(Refusal::Pii(format!("{table}.{c}")));
            }
            if self.computed.contains(&pair) {
                return self.refuse(Refusal::Computed(format!("{table}.{c}")));
            }
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
    /// Where the rows were cut, when the result was longer than the limits
    /// allow: `rows` holds the rows before the cut.
    pub cut: Option<Cut>,
}

/// Why a query's result was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cut {
    /// At [`Limits::max_result_rows`] rows.
    Rows {
        /// The limit in rows.
        limit: usize,
    },
    /// At [`Limits::max_result_bytes`] bytes.
    Bytes {
        /// The limit in bytes.
        limit: usize,
    },
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cut::Rows { limit } => write!(
                f,
                "the result was cut at {limit} rows (max_result_rows): add a LIMIT"
            ),
            Cut::Bytes { limit } => write!(
                f,
                "the result was cut at {limit} bytes (max_result_bytes): select fewer or smaller values"
            ),
        }
    }
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
    /// Per table, how its rowid is named where its baseline is captured by
    /// triggers; `None` where it is a full copy.
    captured: Vec<Option<&'static str>>,
    /// The script whose savepoint is still open, waiting to be recorded
    /// (0: none), and the id of the last script.
    pending: std::cell::Cell<u64>,
    scripts: std::cell::Cell<u64>,
    /// The statement time the session has used.
    clock: crate::bounds::SessionClock,
    /// This sandbox's share of SQLite's process-wide heap limit.
    _heap: crate::heap::HeapShare,
}

/// One statement of an agent script, as SQLite split and prepared it.
pub(crate) struct Prepared<'c> {
    stmt: rusqlite::Statement<'c>,
    /// Where its text lies in the script: exactly what SQLite read for it,
    /// from the end of the statement before to its own end.
    pub(crate) text: std::ops::Range<usize>,
    /// The table it writes (index) and how, as SQLite's authorizer saw it;
    /// for an INSERT, whether it is an upsert.
    write: Option<(Op, usize, bool)>,
}

/// An update hook counting the rows of one table an UPDATE or DELETE
/// changed that were cloned (not in `fresh`); removed on drop.
struct CountHook<'c>(&'c Connection);

impl<'c> CountHook<'c> {
    fn install(
        conn: &'c Connection,
        op: Op,
        table: &str,
        fresh: Arc<HashSet<i64>>,
        count: Arc<AtomicU64>,
    ) -> Result<CountHook<'c>> {
        let table = table.to_owned();
        let want = if op == Op::Delete {
            rusqlite::hooks::Action::SQLITE_DELETE
        } else {
            rusqlite::hooks::Action::SQLITE_UPDATE
        };
        conn.update_hook(Some(
            move |action: rusqlite::hooks::Action, db: &str, name: &str, rowid: i64| {
                if action == want
                    && db == "main"
                    && name.eq_ignore_ascii_case(&table)
                    && !fresh.contains(&rowid)
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            },
        ))
        .map_err(|e| sandbox_err(&e))?;
        Ok(CountHook(conn))
    }
}

impl Drop for CountHook<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .update_hook(None::<fn(rusqlite::hooks::Action, &str, &str, i64)>);
    }
}

/// SQLite's whitespace.
fn is_sqlite_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The length of the host parameter token at the start of `z`, by SQLite's
/// tokenizer (`?NNN`, `:name`, `@name`, `$name`, `#name`, TCL `$a::b(c)`);
/// 0 when `z` starts with none.
fn parameter_len(z: &[u8]) -> usize {
    let id_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    match z.first() {
        Some(b'?') => 1 + z.iter().skip(1).take_while(|c| c.is_ascii_digit()).count(),
        Some(b'$' | b'@' | b':' | b'#') => {
            let (mut i, mut n) = (1, 0);
            while let Some(&c) = z.get(i) {
                if id_char(c) {
                    n += 1;
                } else if c == b'(' && n > 0 {
                    loop {
                        i += 1;
                        match z.get(i) {
                            Some(&c) if !is_sqlite_space(c) && c != b')' => {}
                            _ => break,
                        }
                    }
                    if z.get(i) == Some(&b')') {
                        i += 1;
                    }
                    return i;
                } else if c == b':' && z.get(i + 1) == Some(&b':') {
                    i += 1;
                } else {
                    break;
                }
                i += 1;
            }
            i
        }
        _ => 0,
    }
}

/// How many bytes of `rest` SQLite read for `stmt`, the first statement it
/// prepared from `rest`: its text is SQLite's own copy of them (host
/// parameters, unbound, shown as `NULL`). `None` when that text is not a
/// prefix of `rest` read so.
fn statement_len(rest: &str, stmt: &rusqlite::Statement<'_>) -> Option<usize> {
    let expanded = stmt.expanded_sql()?;
    if stmt.parameter_count() == 0 {
        return rest.starts_with(&expanded).then_some(expanded.len());
    }
    let (r, e) = (rest.as_bytes(), expanded.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < e.len() {
        if r.get(i) == e.get(j) {
            i += 1;
            j += 1;
            continue;
        }
        // Text is copied as it is; a parameter token (which starts with
        // none of `NULL`'s letters) is where the two part.
        if !e.get(j..)?.starts_with(b"NULL") {
            return None;
        }
        let token = parameter_len(r.get(i..)?);
        if token == 0 {
            return None;
        }
        i += token;
        j += 4;
    }
    rest.is_char_boundary(i).then_some(i)
}

/// Whether `text` holds `word`, ASCII case-insensitively.
fn mentions(text: &str, word: &str) -> bool {
    text.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
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

/// Prefix of everything shadowdb keeps beside the agent's tables, hidden
/// from the agent (the temp schema is outside its scope, and so are these
/// names where SQLite names no database).
const BASE_PREFIX: &str = "__base_";

/// Prefix of the triggers that capture the baseline; what they do is
/// allowed, whoever's statement fires them.
const TRIGGER_PREFIX: &str = "__base_trigger_";

/// The start of the message of a trigger refusing a computed column.
const COMPUTED_MARK: &str = "__shadowdb_computed__:";

/// A full copy of table `i` as cloned (main schema).
fn base_name(i: usize) -> String {
    format!("{BASE_PREFIX}{i}")
}

/// The rowids of table `i` that statements wrote (temp schema): under the
/// rowid of a cloned row, its values as cloned, saved before a statement
/// first updated or deleted it; under a rowid that rows were inserted or
/// moved to, a marker whose columns are all NULL (a key never is).
fn seen_name(i: usize) -> String {
    format!("{BASE_PREFIX}seen_{i}")
}

/// A name of the rowid that no column of `t` takes, if one is left.
fn rowid_name(t: &SandboxTable) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|r| !t.columns.iter().any(|c| c.name.eq_ignore_ascii_case(r)))
}

/// Whether triggers can keep the baseline of `t`, and the rowid's name
/// they use: rows are followed by rowid and matched by key, so the rowid
/// must have a name and no key value may be NULL (a NULL key matches
/// nothing, so such rows are compared wherever they are).
fn capturable(t: &SandboxTable) -> Option<&'static str> {
    let keys_not_null = !t.key.is_empty()
        && t.key
            .iter()
            .all(|&k| t.columns.get(k).is_some_and(|c| !c.nullable && !c.pii));
    if keys_not_null { rowid_name(t) } else { None }
}

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

/// A raw sandbox value, before it is read as its column's kind.
pub(crate) fn raw_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(x) => Value::Float(x),
        ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
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
        limits.check()?;
        // Before the connection: its own allocations count.
        let heap = crate::heap::HeapShare::take(limits.sqlite_share());
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
        let walls = Arc::new(Walls {
            modules,
            internal: AtomicBool::new(false),
            refusal: Mutex::new(None),
            deadline_ns: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            first_write: Mutex::new(None),
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
            computed: tables
                .iter()
                .flat_map(|t| {
                    t.columns
                        .iter()
                        .filter(|c| c.computed)
                        .map(|c| (t.name.to_ascii_lowercase(), c.name.to_ascii_lowercase()))
                })
                .collect(),
        });
        let captured = tables.iter().map(capturable).collect();
        let sb = Sandbox {
            conn,
            walls,
            tables,
            limits,
            captured,
            pending: std::cell::Cell::new(0),
            scripts: std::cell::Cell::new(0),
            clock: crate::bounds::SessionClock::new(limits.session_statement_time),
            _heap: heap,
        };
        sb.configure()?;
        crate::sandbox_decimal::register(&sb.conn).map_err(|e| sandbox_err(&e))?;
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
        // The baseline's triggers; the agent can create none (no DDL).
        set(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true)?;
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
        // Foreign key actions run as trigger programs, and fire the
        // baseline's triggers of the tables they write one level deeper.
        lim(Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 64)?;
        lim(Limit::SQLITE_LIMIT_WORKER_THREADS, 0)?;
        lim(
            Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
            self.limits.max_like_pattern_bytes,
        )?;
        let walls = Arc::clone(&self.walls);
        let refuse: Arc<dyn Fn(Refusal) + Send + Sync> = Arc::new(move |r| {
            walls.refuse(r);
        });
        crate::bounds::guard_functions(c, &self.limits, &refuse).map_err(|e| sandbox_err(&e))?;
        // No file-backed temp storage: an in-memory sandbox writes nothing to disk.
        // Recursive triggers: rows that REPLACE deletes fire delete triggers,
        // so the baseline's triggers save them too.
        c.execute_batch(
            "PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF; PRAGMA recursive_triggers = ON;",
        )
            .map_err(|e| sandbox_err(&e))?;
        // The clone within the budget from its first row; `seal` then
        // allows the growth on top, within the budget still.
        let page_size: i64 = c
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| sandbox_err(&e))?;
        let budget =
            i64::try_from(self.limits.sqlite_share()).unwrap_or(i64::MAX) / page_size.max(1);
        c.execute_batch(&format!(
            "PRAGMA max_page_count = {budget}; PRAGMA temp.max_page_count = {budget};"
        ))
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
            // A lone `INTEGER PRIMARY KEY` is the rowid, which SQLite fills in
            // when an insert leaves it out, NOT NULL or not. Production does
            // not for a key it does not generate: `INT` is the same STRICT
            // integer without that.
            let kind = match c.kind.sandbox_type() {
                "INTEGER" if !rowid_key && t.key.contains(&i) => "INT",
                other => other,
            };
            let mut def = format!("{} {kind}", q(&c.name));
            if rowid_key && t.key.first() == Some(&i) {
                def = format!("{} INTEGER PRIMARY KEY AUTOINCREMENT", q(&c.name));
            } else if !c.nullable && !c.pii && !c.computed {
                // A computed column is left out of inserts: production fills it.
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
            // SQLite refuses every write to a child whose foreign key names
            // parent columns without a unique index ("foreign key
            // mismatch"). Where they hold the parent's whole key
            // (`(org, id)`), they are unique already: say so.
            let key: Vec<&str> = t
                .key
                .iter()
                .filter_map(|&i| t.columns.get(i))
                .map(|c| c.name.as_str())
                .collect();
            let mut uniques: Vec<&Vec<String>> = Vec::new();
            for fk in self.tables.iter().flat_map(|o| &o.foreign_keys) {
                let pc = &fk.parent_columns;
                if fk.parent == t.name
                    && pc.len() > key.len()
                    && key.iter().all(|k| pc.iter().any(|p| p == k))
                    && !uniques.contains(&pc)
                {
                    uniques.push(pc);
                }
            }
            for pc in uniques {
                let cols: Vec<String> = pc.iter().map(|c| q(c)).collect();
                defs.push(format!("UNIQUE ({})", cols.join(", ")));
            }
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

    /// Whether table `i`'s baseline is a full copy: where triggers cannot
    /// keep it, and in debug builds always, so tests check every diff of
    /// captured rows against a comparison of every row.
    fn copies(&self, i: usize) -> bool {
        cfg!(debug_assertions) || self.captured.get(i).is_none_or(Option::is_none)
    }

    fn key_list(t: &SandboxTable, alias: &str) -> String {
        t.key
            .iter()
            .filter_map(|&k| t.columns.get(k))
            .map(|c| format!("{alias}{}", q(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn create_table(&self, i: usize) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(());
        };
        let mut sql = self.table_ddl(t, &t.name, true);
        if self.copies(i) {
            sql.push_str(";\n");
            sql.push_str(&self.table_ddl(t, &base_name(i), false));
        }
        if self.captured.get(i).is_some_and(Option::is_some) {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("{} {}", q(&c.name), c.kind.sandbox_type()))
                .collect();
            sql.push_str(&format!(
                ";\nCREATE TEMP TABLE {seen} ({}) STRICT;\n\
                 CREATE INDEX temp.{} ON {seen} ({})",
                cols.join(", "),
                q(&format!("{}_key", seen_name(i))),
                Self::key_list(t, ""),
                seen = q(&seen_name(i)),
            ));
        }
        self.conn.execute_batch(&sql).map_err(|e| sandbox_err(&e))
    }

    /// The triggers that keep table `i`'s baseline: before a statement
    /// first updates or deletes a cloned row, its values are saved under its
    /// rowid; after a row is inserted or moved to a rowid nothing was saved
    /// under, a marker is. A rowid written once is never saved again, so
    /// what is saved is the row as cloned. Each insert is guarded by a
    /// lookup rather than a conflict clause: the clause of the statement
    /// that fires a trigger overrides the trigger's own (`INSERT OR REPLACE`
    /// would turn an `OR IGNORE` into a replace of the saved row), and
    /// `INSERT .. SELECT` costs SQLite a temporary table per row.
    fn capture_ddl(t: &SandboxTable, i: usize, rid: &str) -> String {
        let cur = q(&t.name);
        let seen = q(&seen_name(i));
        let names: Vec<String> = t.columns.iter().map(|c| q(&c.name)).collect();
        let old: Vec<String> = names.iter().map(|c| format!("OLD.{c}")).collect();
        let trigger = |kind: &str| q(&format!("{TRIGGER_PREFIX}{kind}_{i}"));
        let unseen =
            |row: &str| format!("NOT EXISTS (SELECT 1 FROM {seen} WHERE {rid} = {row}.{rid})");
        let save = format!(
            "WHEN {} BEGIN INSERT INTO {seen} ({rid}, {}) VALUES (OLD.{rid}, {}); END",
            unseen("OLD"),
            names.join(", "),
            old.join(", ")
        );
        let mark = format!("BEGIN INSERT INTO {seen} ({rid}) VALUES (NEW.{rid}); END");
        format!(
            "CREATE TEMP TRIGGER {} BEFORE UPDATE ON main.{cur} {save};\n\
             CREATE TEMP TRIGGER {} BEFORE DELETE ON main.{cur} {save};\n\
             CREATE TEMP TRIGGER {} AFTER INSERT ON main.{cur} WHEN {} {mark};\n\
             CREATE TEMP TRIGGER {} AFTER UPDATE ON main.{cur} \
             WHEN NEW.{rid} IS NOT OLD.{rid} AND {} {mark};",
            trigger("update"),
            trigger("delete"),
            trigger("insert"),
            unseen("NEW"),
            trigger("move"),
            unseen("NEW"),
        )
    }

    /// Triggers refusing an insert that writes a column production computes
    /// (SQLite's authorizer names no columns for an insert; updates are
    /// refused by the authorizer). A computed key production generates may
    /// only be left to the sandbox's provisional keys.
    fn computed_ddl(t: &SandboxTable, i: usize) -> String {
        let mut sql = String::new();
        for (j, c) in t.columns.iter().enumerate() {
            if !c.computed {
                continue;
            }
            let col = q(&c.name);
            let when = match (t.generated_key, t.key.as_slice()) {
                (Some(base), [k]) if *k == j => format!("NEW.{col} <= {base}"),
                _ => format!("NEW.{col} IS NOT NULL"),
            };
            let message = literal(&SqlValue::Text(format!(
                "{COMPUTED_MARK}{}.{}",
                t.name, c.name
            )));
            sql.push_str(&format!(
                "CREATE TEMP TRIGGER {} AFTER INSERT ON main.{} WHEN {when} \
                 BEGIN SELECT RAISE(ABORT, {message}); END;\n",
                q(&format!("{TRIGGER_PREFIX}computed_{i}_{j}")),
                q(&t.name),
            ));
        }
        sql
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
            .map_err(|e| self.memory_err(&e))?;
        {
            let mut full = tx.prepare(&sql(per)).map_err(|e| self.memory_err(&e))?;
            let mut first = 0;
            while first < batch.rows {
                let n = per.min(batch.rows - first);
                let mut part;
                let stmt = if n == per {
                    &mut full
                } else {
                    part = tx.prepare(&sql(n)).map_err(|e| self.memory_err(&e))?;
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
                            .map_err(|e| self.memory_err(&e))?;
                    }
                }
                stmt.raw_execute().map_err(|e| self.memory_err(&e))?;
                first += n;
            }
        }
        tx.commit().map_err(|e| self.memory_err(&e))
    }

    /// Ends setup: takes the baseline, starts provisional keys, raises the walls.
    pub(crate) fn seal(&self) -> Result<()> {
        let _in = Internal::new(&self.walls);
        for (i, t) in self.tables.iter().enumerate() {
            if self.copies(i) {
                let sql = format!(
                    "INSERT INTO {} SELECT * FROM {}",
                    q(&base_name(i)),
                    q(&t.name)
                );
                self.conn.execute_batch(&sql).map_err(|e| sandbox_err(&e))?;
            }
            // After the load, which is no change.
            if let Some(rid) = self.captured.get(i).copied().flatten() {
                self.conn
                    .execute_batch(&Self::capture_ddl(t, i, rid))
                    .map_err(|e| sandbox_err(&e))?;
            }
            let computed = Self::computed_ddl(t, i);
            if !computed.is_empty() {
                self.conn
                    .execute_batch(&computed)
                    .map_err(|e| sandbox_err(&e))?;
            }
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
        // The data and the temp schema each within the budget too: a full
        // table is SQLITE_FULL, a clear error, before the heap limit is.
        let budget =
            i64::try_from(self.limits.sqlite_share()).unwrap_or(i64::MAX) / page_size.max(1);
        self.conn
            .execute_batch(&format!(
                "PRAGMA max_page_count = {}; PRAGMA temp.max_page_count = {budget}; \
                 PRAGMA foreign_keys = ON;",
                pages.saturating_add(growth).min(budget.max(pages))
            ))
            .map_err(|e| sandbox_err(&e))?;
        Ok(())
    }

    fn arm(&self) {
        if let Ok(mut r) = self.walls.refusal.lock() {
            *r = None;
        }
        let now = self.walls.epoch.elapsed();
        let deadline = now + self.clock.start(now, self.limits.statement_time);
        self.walls.deadline_ns.store(
            u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn disarm(&self) {
        self.walls.deadline_ns.store(u64::MAX, Ordering::Relaxed);
        self.clock.stop(self.walls.epoch.elapsed());
    }

    /// A SQLite error while shadowdb fills the sandbox: past the memory
    /// budget (the heap ceiling, or the page count) it is the budget's
    /// error, anything else a sandbox error.
    fn memory_err(&self, e: &rusqlite::Error) -> Error {
        match e.sqlite_error_code() {
            Some(ErrorCode::OutOfMemory | ErrorCode::DiskFull) => Error::MemoryLimit {
                limit: "memory_budget".to_owned(),
                bytes: self.limits.memory_budget,
            },
            _ => sandbox_err(e),
        }
    }

    fn session_time_limit(&self) -> Error {
        Error::SessionTimeLimit {
            limit_ms: u64::try_from(self.limits.session_statement_time.as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// Maps a SQLite error of an agent statement to the right variant.
    fn agent_error(&self, e: &rusqlite::Error) -> Error {
        if let Ok(mut slot) = self.walls.refusal.lock()
            && let Some(r) = slot.take()
        {
            return Error::Refused(r);
        }
        // Only shadowdb's own triggers raise this (the agent runs no DDL).
        if let rusqlite::Error::SqliteFailure(_, Some(message)) = e
            && let Some(column) = message.strip_prefix(COMPUTED_MARK)
        {
            return Error::Refused(Refusal::Computed(column.to_owned()));
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::OperationInterrupted) if self.clock.capped() => {
                self.session_time_limit()
            }
            Some(ErrorCode::OperationInterrupted) => Error::Timeout {
                limit_ms: u64::try_from(self.limits.statement_time.as_millis()).unwrap_or(u64::MAX),
            },
            // The SQL text's length is checked before SQLite sees it: what
            // is too big here is a value a statement built.
            Some(ErrorCode::TooBig) => Error::Refused(Refusal::ValueTooLarge {
                limit: self.limits.max_value_bytes,
            }),
            Some(ErrorCode::AuthorizationForStatementDenied) => {
                Error::Refused(Refusal::Other("this statement".into()))
            }
            Some(ErrorCode::DiskFull) => {
                let (limit, bytes) = if self.limits.max_growth_bytes < self.limits.sqlite_share() {
                    ("max_growth_bytes", self.limits.max_growth_bytes)
                } else {
                    ("memory_budget", self.limits.memory_budget)
                };
                Error::MemoryLimit {
                    limit: limit.to_owned(),
                    bytes,
                }
            }
            Some(ErrorCode::OutOfMemory) => Error::MemoryLimit {
                limit: "memory_budget".to_owned(),
                bytes: self.limits.memory_budget,
            },
            // SQLite's message may quote the agent's SQL, terminal escapes
            // and all.
            _ => Error::Statement {
                message: crate::render::escape_controls(&e.to_string()).into_owned(),
            },
        }
    }

    /// Runs an agent script, statement by statement, as one unit: if any
    /// statement fails, the sandbox is as it was before the script.
    #[cfg(test)]
    pub(crate) fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        let script = self.prepare_script(sql, Some(params.len()))?;
        let (results, id) = self.run_script(script, sql, params, &mut |_, _| Ok(()))?;
        self.end_script(id)?;
        Ok(results)
    }

    /// Splits an agent script where SQLite splits it, and prepares every
    /// statement: each one's text is exactly what SQLite read for it. Nothing
    /// runs. A NUL byte anywhere is refused (SQLite stops reading there), as
    /// is a statement whose text cannot be matched to the script.
    ///
    /// # Errors
    /// [`Error::Refused`] (a NUL byte, too long, a wall), [`Error::Statement`]
    /// (syntax, parameters), as SQLite reports them.
    /// `params`: how many parameters each statement that has any must have
    /// (`None`: not checked, nothing will run).
    pub(crate) fn prepare_script(
        &self,
        sql: &str,
        params: Option<usize>,
    ) -> Result<Vec<Prepared<'_>>> {
        if let Some(offset) = sql.find('\0') {
            return Err(Error::Refused(Refusal::NulByte { offset }));
        }
        if sql.len() > self.limits.max_sql_bytes {
            return Err(Error::Refused(Refusal::TooLong {
                limit: self.limits.max_sql_bytes,
            }));
        }
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(rest) = sql.get(pos..).filter(|r| !r.is_empty()) {
            self.arm();
            if let Ok(mut w) = self.walls.first_write.lock() {
                *w = None;
            }
            let next = rusqlite::Batch::new(&self.conn, rest).next();
            self.disarm();
            let stmt = match next {
                Ok(Some(stmt)) => stmt,
                // Only whitespace, comments and empty statements are left.
                Ok(None) => break,
                Err(e) => return Err(self.agent_error(&e)),
            };
            let len = statement_len(rest, &stmt)
                .filter(|n| *n > 0)
                .ok_or(Error::Refused(Refusal::Unsplittable { offset: pos }))?;
            let wanted = stmt.parameter_count();
            if let Some(given) = params
                && wanted > 0
                && wanted != given
            {
                return Err(Error::Statement {
                    message: format!("the statement has {wanted} parameters, {given} given"),
                });
            }
            let write = self
                .walls
                .first_write
                .lock()
                .ok()
                .and_then(|mut w| w.take())
                .and_then(|(op, table, upsert)| {
                    self.tables
                        .iter()
                        .position(|t| t.name.eq_ignore_ascii_case(&table))
                        .map(|i| (op, i, upsert))
                });
            out.push(Prepared {
                stmt,
                text: pos..pos + len,
                write,
            });
            pos += len;
        }
        Ok(out)
    }

    /// Rows of table `i` now.
    fn row_count(&self, i: usize) -> Result<u64> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(0);
        };
        let n: i64 = self
            .conn
            .query_row(
                &format!("SELECT count(*) FROM main.{}", q(&t.name)),
                [],
                |r| r.get(0),
            )
            .map_err(|e| sandbox_err(&e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The rowids of the rows of table `i` now that the session inserted
    /// (not cloned): where triggers keep the baseline, the rows at rowids
    /// they marked as inserted; otherwise the rows whose key the full copy
    /// does not hold. `None` where the rowid has no free name.
    fn fresh_rowids(&self, i: usize) -> Result<Option<Arc<HashSet<i64>>>> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(None);
        };
        let keys: Vec<String> = t
            .key
            .iter()
            .filter_map(|&k| t.columns.get(k))
            .map(|c| q(&c.name))
            .collect();
        let Some(first) = keys.first() else {
            return Ok(None);
        };
        let captured = self.captured.get(i).copied().flatten();
        let Some(rid) = captured.or_else(|| rowid_name(t)) else {
            return Ok(None);
        };
        let sql = if captured.is_some() {
            // A marker's columns are all NULL; a key saved there never is.
            // Read from the markers (the rows written so far), not from the
            // table: this runs before every UPDATE and DELETE, and a scan of
            // the table would cost every statement the table's size.
            format!(
                "SELECT s.{rid} FROM temp.{} AS s WHERE s.{first} IS NULL \
                 AND EXISTS (SELECT 1 FROM main.{} AS r WHERE r.{rid} = s.{rid})",
                q(&seen_name(i)),
                q(&t.name),
            )
        } else {
            let same: Vec<String> = keys.iter().map(|k| format!("b.{k} IS r.{k}")).collect();
            format!(
                "SELECT r.{rid} FROM main.{} AS r WHERE NOT EXISTS (SELECT 1 FROM main.{} AS b \
                 WHERE {})",
                q(&t.name),
                q(&base_name(i)),
                same.join(" AND "),
            )
        };
        let mut stmt = self.conn.prepare(&sql).map_err(|e| sandbox_err(&e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| sandbox_err(&e))?;
        let mut out = HashSet::new();
        for row in rows {
            out.insert(row.map_err(|e| sandbox_err(&e))?);
        }
        Ok(Some(Arc::new(out)))
    }

    /// Rolls back a script left waiting to be recorded (its caller went
    /// away): what was never on the record does not stay in the sandbox.
    pub(crate) fn settle(&self) -> Result<()> {
        if self.pending.replace(0) == 0 || self.conn.is_autocommit() {
            return Ok(());
        }
        let _in = Internal::new(&self.walls);
        self.conn
            .execute_batch("ROLLBACK TO agent; RELEASE agent")
            .map_err(|e| sandbox_err(&e))
    }

    /// Keeps script `id`'s changes (it is on the record now).
    ///
    /// # Errors
    /// [`Error::Sandbox`] when the script was undone meanwhile.
    pub(crate) fn end_script(&self, id: u64) -> Result<()> {
        if self.pending.get() != id {
            return Err(Error::Sandbox(
                "the script was undone before it was recorded: run it again".into(),
            ));
        }
        self.pending.set(0);
        if self.conn.is_autocommit() {
            return Ok(());
        }
        let _in = Internal::new(&self.walls);
        self.conn
            .execute_batch("RELEASE agent")
            .map_err(|e| sandbox_err(&e))
    }

    /// Undoes script `id` (it could not be recorded).
    pub(crate) fn undo_script(&self, id: u64) -> Result<()> {
        if self.pending.get() == id {
            self.settle()?;
        }
        Ok(())
    }

    /// Runs a prepared script in order, as one unit. Each statement that
    /// writes a scoped table by UPDATE or DELETE (or by an INSERT that can
    /// replace or update rows) is shown to `on_write` with what it did to
    /// its table; an error from it stops the script. On an error the sandbox
    /// is as it was before the script. On success the script's savepoint
    /// stays open until [`Sandbox::end_script`] (or [`Sandbox::undo_script`])
    /// with the id returned.
    pub(crate) fn run_script(
        &self,
        script: Vec<Prepared<'_>>,
        sql: &str,
        params: &[Value],
        on_write: &mut dyn FnMut(usize, &WriteEffect) -> Result<()>,
    ) -> Result<(Vec<StatementResult>, u64)> {
        self.settle()?;
        if self.clock.exhausted() {
            return Err(self.session_time_limit());
        }
        {
            let _in = Internal::new(&self.walls);
            self.conn
                .execute_batch("SAVEPOINT agent")
                .map_err(|e| sandbox_err(&e))?;
        }
        let result = self.run_statements(script, sql, params, on_write);
        self.disarm();
        let _in = Internal::new(&self.walls);
        match result {
            Ok(results) => {
                let id = self.scripts.get().wrapping_add(1).max(1);
                self.scripts.set(id);
                // SQLite rolled back a transaction itself only on an error.
                if !self.conn.is_autocommit() {
                    self.pending.set(id);
                }
                Ok((results, id))
            }
            Err(e) => {
                // Without a transaction SQLite rolled the whole of it back
                // itself (an interrupted write, a full sandbox): the sandbox
                // is as it was before the script, the rows the triggers saved
                // with it.
                if !self.conn.is_autocommit() {
                    self.conn
                        .execute_batch("ROLLBACK TO agent; RELEASE agent")
                        .map_err(|e| sandbox_err(&e))?;
                }
                Err(e)
            }
        }
    }

    fn run_statements(
        &self,
        script: Vec<Prepared<'_>>,
        sql: &str,
        params: &[Value],
        on_write: &mut dyn FnMut(usize, &WriteEffect) -> Result<()>,
    ) -> Result<Vec<StatementResult>> {
        let mut out = Vec::new();
        let mut budget = crate::bounds::ResultBudget::new(&self.limits);
        for (index, prepared) in script.into_iter().enumerate() {
            let Prepared {
                mut stmt,
                text,
                write,
            } = prepared;
            let text = sql.get(text).unwrap_or_default();
            // An INSERT changes rows already there only by REPLACE or an
            // upsert's UPDATE, and UPDATE removes rows only by REPLACE: only
            // then are rows counted after the statement too. (`replace` in a
            // string or a name costs a count, nothing more.)
            let watched = match write {
                Some((Op::Insert, _, upsert)) if !upsert && !mentions(text, "replace") => None,
                Some((op, i, _)) => Some((op, i, self.row_count(i)?)),
                None => None,
            };
            // An UPDATE or DELETE is also measured against the rows that were
            // cloned: a decoy row inserted first, for the statement to leave,
            // does not make it less than every row.
            let mut fresh = None;
            let cloned_changed = Arc::new(AtomicU64::new(0));
            let hook = match watched {
                Some((op @ (Op::Update | Op::Delete), i, _)) if !mentions(text, "replace") => {
                    fresh = self.fresh_rowids(i)?;
                    match (&fresh, self.tables.get(i)) {
                        (Some(set), Some(t)) => Some(CountHook::install(
                            &self.conn,
                            op,
                            &t.name,
                            Arc::clone(set),
                            Arc::clone(&cloned_changed),
                        )?),
                        _ => None,
                    }
                }
                _ => None,
            };
            self.arm();
            if stmt.parameter_count() > 0 {
                for (i, p) in params.iter().enumerate() {
                    stmt.raw_bind_parameter(i + 1, to_sandbox(p))
                        .map_err(|e| self.agent_error(&e))?;
                }
            }
            let readonly = stmt.readonly();
            if stmt.column_count() > 0 {
                budget.start_statement();
                let (columns, mut cut) = match budget.admit_columns(&stmt.column_names()) {
                    Ok(columns) => (columns, None),
                    Err(at) => (Vec::new(), Some(at)),
                };
                let width = columns.len();
                let mut rows_out = Vec::new();
                let mut rows = stmt.raw_query();
                while cut.is_none()
                    && let Some(row) = rows.next().map_err(|e| self.agent_error(&e))?
                {
                    match budget.admit(row, width).map_err(|e| sandbox_err(&e))? {
                        Ok(values) => rows_out.push(values),
                        Err(at) => {
                            cut = Some(at);
                            break;
                        }
                    }
                }
                // A write's RETURNING rows beyond the cut: the write is done
                // already; step to its end so its count of changes is its own.
                if cut.is_some() && !readonly {
                    while rows.next().map_err(|e| self.agent_error(&e))?.is_some() {}
                }
                let changes = self.conn.changes();
                out.push(StatementResult {
                    rows_affected: if readonly { 0 } else { changes },
                    rows: Some(QueryResult {
                        columns,
                        rows: rows_out,
                        cut,
                    }),
                });
            } else {
                let n = stmt.raw_execute().map_err(|e| self.agent_error(&e))?;
                out.push(StatementResult {
                    rows_affected: u64::try_from(n).unwrap_or(0),
                    rows: None,
                });
            }
            self.disarm();
            drop(hook);
            let Some((op, i, before)) = watched else {
                continue;
            };
            let changes = self.conn.changes();
            let changed = match op {
                Op::Delete => changes,
                Op::Update if mentions(text, "replace") => {
                    changes.saturating_add(before.saturating_sub(self.row_count(i)?))
                }
                Op::Update => changes,
                Op::Insert => before
                    .saturating_add(changes)
                    .saturating_sub(self.row_count(i)?),
            };
            let effect = WriteEffect {
                op,
                table: self
                    .tables
                    .get(i)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                rows_before: before,
                rows_cloned: fresh.as_ref().map_or(before, |f| {
                    before.saturating_sub(u64::try_from(f.len()).unwrap_or(u64::MAX))
                }),
                rows_changed: changed.min(before),
                rows_cloned_changed: if fresh.is_some() {
                    cloned_changed.load(Ordering::Relaxed)
                } else {
                    changed.min(before)
                },
            };
            on_write(index, &effect)?;
        }
        Ok(out)
    }

    /// Rows of table `i` that differ from its baseline, found by SQLite with
    /// the key indexes (no quadratic work). Where triggers keep the baseline,
    /// only the rows they saved and the rows now at the rowids they noted are
    /// compared; otherwise every row of the copy and the table.
    #[cfg(test)]
    pub(crate) fn changes(&self, i: usize) -> Result<Vec<RawChange>> {
        let mut out = Vec::new();
        self.changes_into(i, &mut |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Sandbox::changes`], each change handed to `sink` as SQLite finds
    /// it, so the caller can work on one while the next is read.
    pub(crate) fn changes_into(
        &self,
        i: usize,
        sink: &mut dyn FnMut(RawChange) -> Result<()>,
    ) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(());
        };
        let Some(rid) = self.captured.get(i).copied().flatten() else {
            return self.compare(i, t, None, sink);
        };
        #[cfg(debug_assertions)]
        {
            // Tests run every diff both ways.
            let mut found = Vec::new();
            self.compare(i, t, Some(rid), &mut |c| {
                found.push(c);
                Ok(())
            })?;
            let mut all = Vec::new();
            self.compare(i, t, None, &mut |c| {
                all.push(c);
                Ok(())
            })?;
            let canon = |v: &[RawChange]| {
                let mut out: Vec<String> = v.iter().map(|c| format!("{c:?}")).collect();
                out.sort();
                out
            };
            if canon(&found) != canon(&all) {
                return Err(Error::Sandbox(format!(
                    "the diff of captured rows of `{}` differs from the full diff",
                    t.name
                )));
            }
            found.into_iter().try_for_each(&mut *sink)
        }
        #[cfg(not(debug_assertions))]
        self.compare(i, t, Some(rid), sink)
    }

    /// The changes of table `i`: among the keys of the rows the triggers
    /// saved and of the rows now at the rowids they wrote (`captured`: the
    /// rowid's name), or among all rows of the full copy and the table.
    fn compare(
        &self,
        i: usize,
        t: &SandboxTable,
        captured: Option<&str>,
        sink: &mut dyn FnMut(RawChange) -> Result<()>,
    ) -> Result<()> {
        let n = t.columns.len();
        let cur = q(&t.name);
        let key_cols: Vec<String> = t
            .key
            .iter()
            .filter_map(|&k| t.columns.get(k))
            .map(|c| q(&c.name))
            .collect();
        let on = key_cols
            .iter()
            .map(|k| format!("b.{k} = c.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ");
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
        let mut push = |old, new| {
            sink(RawChange {
                old,
                new,
                names: Arc::clone(&names),
            })
        };
        if let Some(rid) = captured {
            // Saved rows by key against the table (changed or gone), then
            // the rows now at the rowids written whose key no saved row had
            // (new). Rows at rowids never written are as cloned: a statement
            // that moved a cloned row there wrote that rowid. Markers have
            // NULL keys: they match no row by key.
            let rid = q(rid);
            let seen = format!("temp.{}", q(&seen_name(i)));
            let nulls = vec!["NULL"; n].join(", ");
            let sql = format!(
                "SELECT {b_cols}, 0, c.{first_key} IS NULL, {c_cols} \
                 FROM {seen} AS b LEFT JOIN {cur} AS c ON {on} \
                 WHERE b.{first_key} IS NOT NULL AND (c.{first_key} IS NULL OR NOT ({same})) \
                 UNION ALL SELECT {nulls}, 1, 0, {c_cols} \
                 FROM {seen} AS s CROSS JOIN {cur} AS c ON c.{rid} = s.{rid} \
                 WHERE NOT EXISTS (SELECT 1 FROM {seen} AS b WHERE {on})",
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
                push(old, new)?;
            }
            return Ok(());
        }
        let base = q(&base_name(i));
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
            push(Some(old), new)?;
        }
        let mut stmt = self
            .conn
            .prepare(&inserted_sql)
            .map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            push(None, Some(read(row, 0)?))?;
        }
        Ok(())
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
            let mut sql = String::new();
            if self.copies(i) {
                let b = q(&base_name(i));
                sql.push_str(&format!(
                    "DELETE FROM {b}; INSERT INTO {b} SELECT * FROM {};",
                    q(&t.name)
                ));
            }
            if self.captured.get(i).is_some_and(Option::is_some) {
                sql.push_str(&format!("DELETE FROM temp.{};", q(&seen_name(i))));
            }
            self.conn.execute_batch(&sql).map_err(|e| sandbox_err(&e))?;
        }
        Ok(())
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
            computed: false,
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

    /// The changes of table `i` both ways: from the rows the triggers
    /// captured (if they keep its baseline) and from every row, each sorted.
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
        let compare = |rid| {
            let mut out = Vec::new();
            sb.compare(i, t, rid, &mut |c| {
                out.push(c);
                Ok(())
            })
            .unwrap();
            canon(out)
        };
        let captured = sb.captured[i].map(|rid| compare(Some(rid)));
        let all = compare(None);
        // What a diff returns, whichever way it takes.
        assert_eq!(canon(sb.changes(i).unwrap()), all);
        (captured, all)
    }

    /// Runs `sql`, then checks every table: the captured rows, where
    /// triggers keep the baseline, give exactly what comparing every row does.
    fn check(sb: &Sandbox, sql: &str) -> Vec<(Option<Vec<String>>, Vec<String>)> {
        let _ = sb.run(sql, &[]);
        (0..sb.tables.len())
            .map(|i| {
                let (captured, all) = both(sb, i);
                if let Some(captured) = &captured {
                    assert_eq!(captured, &all, "table {i} after `{sql}`");
                }
                (captured, all)
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
    fn every_table_with_a_key_is_captured() {
        let sb = sandbox();
        assert!(sb.captured.iter().all(Option::is_some));
        // Its tables stay out of the agent's reach.
        for sql in [
            "SELECT * FROM temp.__base_seen_0",
            "SELECT * FROM __base_seen_1",
            "DROP TRIGGER __base_trigger_update_0",
            "DELETE FROM temp.__base_seen_0",
        ] {
            assert!(sb.run(sql, &[]).is_err(), "{sql}");
        }
    }

    #[test]
    fn a_key_production_does_not_generate_is_never_made_up() {
        let sb = sandbox();
        for sql in [
            "INSERT INTO t (v) VALUES ('no key')",
            "INSERT INTO t VALUES (NULL, 'null key', 1)",
            "INSERT INTO t SELECT NULL, 'selected', 1",
        ] {
            let err = sb.run(sql, &[]).unwrap_err().to_string();
            assert!(err.contains("NOT NULL"), "{sql}: {err}");
        }
        assert!(both(&sb, 0).1.is_empty());
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
    fn deletions_by_truncate_and_replace_are_captured() {
        // Without the triggers SQLite would truncate the table at once.
        let sb = sandbox();
        let r = check(&sb, "DELETE FROM s");
        assert_eq!(r[1].1.len(), 40);
        assert!(r[1].0.is_some());
        // REPLACE deletes the row holding the key.
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
        // The statement's conflict clause is also the triggers': a row saved
        // once is never saved again, whatever the clause.
        for sql in [
            "UPDATE t SET v = 'a' WHERE id = 1; INSERT OR REPLACE INTO t VALUES (1, 'b', 0)",
            "UPDATE t SET v = 'a' WHERE id = 1; UPDATE OR REPLACE t SET v = 'b' WHERE id = 1",
            "UPDATE t SET v = 'a' WHERE id = 1; UPDATE OR FAIL t SET v = 'b' WHERE id = 1",
            "UPDATE t SET v = 'a' WHERE id = 1; UPDATE OR ROLLBACK t SET v = 'b' WHERE id = 1",
            "INSERT INTO t VALUES (77, 'x', 0); INSERT OR REPLACE INTO t VALUES (77, 'y', 0)",
        ] {
            let sb = sandbox();
            let r = check(&sb, sql);
            assert_eq!(r[0].1.len(), 1, "{sql}: {:?}", r[0].1);
            assert!(
                r[0].1[0].starts_with("Some([Int(1), Text(\"v1\")") || sql.contains("77"),
                "{sql}: {:?}",
                r[0].1
            );
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
            // Moved, then written again where it lies now.
            (
                1,
                "UPDATE s SET rowid = 500, label = 'm' WHERE code = 'k05'; \
                 UPDATE s SET code = 'zz' WHERE code = 'k05'",
            ),
        ] {
            let sb = sandbox();
            let r = check(&sb, sql);
            assert!(!r[i].1.is_empty(), "{sql}");
            assert!(r[i].0.is_some(), "{sql}: the moved row is captured");
        }
        // Foreign key actions write rows of another table.
        let sb = sandbox();
        let r = check(&sb, "DELETE FROM t WHERE id = 2");
        assert_eq!(r[3].1.len(), 4, "children of t[2] deleted by cascade");
        let r = check(&sb, "UPDATE t SET id = 999 WHERE id = 3");
        assert_eq!(r[3].1.len(), 8, "and children of t[3] moved by cascade");
    }

    #[test]
    fn scripts_split_where_sqlite_splits_them() {
        let sb = sandbox();
        let sql = ";; SELECT 1; SELECT :a, ?, ?5, @b, $c::d(e), #f ; -- x\n SELECT 'a;b' /* ; */;  -- end";
        let script = sb.prepare_script(sql, None).unwrap();
        let texts: Vec<&str> = script.iter().map(|p| &sql[p.text.clone()]).collect();
        assert_eq!(
            texts,
            [
                ";; SELECT 1;",
                " SELECT :a, ?, ?5, @b, $c::d(e), #f ;",
                " -- x\n SELECT 'a;b' /* ; */;"
            ]
        );
        for (sql, offset) in [("SELECT 1; SELECT 2 -- \0", 22), ("\0", 0)] {
            let err = sb.prepare_script(sql, None).err().unwrap();
            assert!(
                matches!(err, Error::Refused(Refusal::NulByte { offset: o }) if o == offset),
                "{err:?}"
            );
        }
        let err = sb.prepare_script("SELECT ?, ?", Some(1)).err().unwrap();
        assert_eq!(
            err.to_string(),
            "statement failed in the sandbox: the statement has 2 parameters, 1 given"
        );
        assert_eq!(parameter_len(b"?123 "), 4);
        assert_eq!(parameter_len(b":ab::c(d)e"), 9);
        assert_eq!(parameter_len(b":ab::c(d e)"), 8);
        assert_eq!(parameter_len(b"$a(b)c"), 5);
        assert_eq!(parameter_len(b"@\xc3\xa9,"), 3);
        assert_eq!(parameter_len(b"x"), 0);
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
    fn tables_triggers_cannot_follow_keep_a_full_copy() {
        // Every name of the rowid is a column, or the key may be NULL.
        let odd = table(
            "odd",
            vec![
                col("rowid", ColumnKind::Int64, false),
                col("_rowid_", ColumnKind::Text, true),
                col("oid", ColumnKind::Text, true),
            ],
            vec![0],
        );
        let loose = table(
            "loose",
            vec![
                col("k", ColumnKind::Text, true),
                col("v", ColumnKind::Text, true),
            ],
            vec![0],
        );
        let sb = Sandbox::new(vec![odd, loose], Limits::default()).unwrap();
        let mut b = CloneBatch::default();
        for i in 0..5 {
            b.push(&Value::Int(i));
            b.push(&Value::Text(format!("a{i}")));
            b.push(&Value::Null);
            b.end_row();
        }
        sb.load(0, &b).unwrap();
        let mut b = CloneBatch::default();
        for i in 0..5 {
            b.push(&Value::Text(format!("k{i}")));
            b.push(&Value::Null);
            b.end_row();
        }
        sb.load(1, &b).unwrap();
        sb.seal().unwrap();
        assert_eq!(sb.captured, vec![None, None]);
        let r = check(
            &sb,
            "UPDATE odd SET oid = 'x' WHERE rowid = 2; DELETE FROM loose WHERE k = 'k1'; INSERT INTO loose VALUES ('k9', 'v')",
        );
        assert_eq!(r[0].1.len(), 1);
        assert_eq!(r[1].1.len(), 2);
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
            // Afresh now and then, and after a commit's rebase.
            if round % 50 == 25 {
                sb.rebase().unwrap();
            }
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
        assert!(fast > 100, "only {fast} diffs compared captured rows");
    }
}
