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
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode};
use safemodel::Value;

use crate::error::{Error, Refusal, Result};
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
            } => self.write_allowed(table_name, Some(column_name), "ALTER"),
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
}

/// Sets `internal` for the guard's lifetime.
struct Internal<'a>(&'a Walls);
impl<'a> Internal<'a> {
    fn new(w: &'a Walls) -> Self {
        w.internal.store(true, Ordering::Relaxed);
        Internal(w)
    }
}
impl Drop for Internal<'_> {
    fn drop(&mut self) {
        self.0.internal.store(false, Ordering::Relaxed);
    }
}

fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Prefix of the baseline tables (the clone as it was), hidden from the agent.
const BASE_PREFIX: &str = "__base_";

fn base_name(i: usize) -> String {
    format!("{BASE_PREFIX}{i}")
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
        Value::Date(d) => SqlValue::Text(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => SqlValue::Text(t.format("%H:%M:%S%.f").to_string()),
        Value::Timestamp(t) => SqlValue::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        Value::TimestampTz(t) => SqlValue::Text(t.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string()),
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
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

/// The rows of one table that differ from the baseline: `(old, new)` raw
/// values in column order; `None` for a side where the row does not exist.
pub(crate) type RawChange = (Option<Vec<Value>>, Option<Vec<Value>>);

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
        let walls = Arc::new(Walls {
            modules,
            internal: AtomicBool::new(true),
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
        });
        let sb = Sandbox {
            conn,
            walls,
            tables,
            limits,
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

    /// Loads cloned rows (values in column order) into table `i`.
    pub(crate) fn load(&self, i: usize, rows: &[Vec<Value>]) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(());
        };
        let cols: Vec<String> = t.columns.iter().map(|c| q(&c.name)).collect();
        let marks = vec!["?"; cols.len()].join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            q(&t.name),
            cols.join(", ")
        );
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| sandbox_err(&e))?;
        {
            let mut stmt = tx.prepare(&sql).map_err(|e| sandbox_err(&e))?;
            for row in rows {
                let params: Vec<SqlValue> = row.iter().map(to_sandbox).collect();
                stmt.execute(rusqlite::params_from_iter(params))
                    .map_err(|e| sandbox_err(&e))?;
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
        {
            let _in = Internal::new(&self.walls);
            self.conn
                .execute_batch("SAVEPOINT agent")
                .map_err(|e| sandbox_err(&e))?;
        }
        let result = self.run_inner(sql, params);
        self.disarm();
        let _in = Internal::new(&self.walls);
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
        self.conn.execute_batch(end).map_err(|e| sandbox_err(&e))?;
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
    pub(crate) fn changes(&self, i: usize) -> Result<Vec<RawChange>> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(Vec::new());
        };
        let n = t.columns.len();
        let base = q(&base_name(i));
        let cur = q(&t.name);
        let on: Vec<String> = t
            .key
            .iter()
            .filter_map(|&k| t.columns.get(k))
            .map(|c| format!("b.{0} = c.{0}", q(&c.name)))
            .collect();
        let on = on.join(" AND ");
        let same: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("b.{0} IS c.{0}", q(&c.name)))
            .collect();
        let b_cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("b.{}", q(&c.name)))
            .collect();
        let c_cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("c.{}", q(&c.name)))
            .collect();
        let first_key = t
            .key
            .first()
            .and_then(|&k| t.columns.get(k))
            .map(|c| q(&c.name))
            .unwrap_or_default();
        let changed_sql = format!(
            "SELECT {}, c.{first_key} IS NULL, {} FROM {base} b LEFT JOIN {cur} c ON {on} WHERE c.{first_key} IS NULL OR NOT ({})",
            b_cols.join(", "),
            c_cols.join(", "),
            same.join(" AND ")
        );
        let inserted_sql = format!(
            "SELECT {} FROM {cur} c LEFT JOIN {base} b ON {on} WHERE b.{first_key} IS NULL",
            c_cols.join(", ")
        );
        let mut out = Vec::new();
        let read = |row: &rusqlite::Row<'_>, from: usize| -> rusqlite::Result<Vec<Value>> {
            (from..from + n)
                .map(|j| row.get_ref(j).map(raw_value))
                .collect()
        };
        let mut stmt = self
            .conn
            .prepare(&changed_sql)
            .map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            let old = read(row, 0).map_err(|e| sandbox_err(&e))?;
            let gone: bool = row.get(n).map_err(|e| sandbox_err(&e))?;
            let new = if gone {
                None
            } else {
                Some(read(row, n + 1).map_err(|e| sandbox_err(&e))?)
            };
            out.push((Some(old), new));
        }
        let mut stmt = self
            .conn
            .prepare(&inserted_sql)
            .map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            out.push((None, Some(read(row, 0).map_err(|e| sandbox_err(&e))?)));
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
        Ok(())
    }
}
