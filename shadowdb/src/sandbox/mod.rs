//! The sandbox: one in-memory SQLite database per `ShadowDb`, hardened by
//! SQLite's own mechanisms.
//!
//! Why rusqlite and not sqlx here: the walls are SQLite's authorizer, its
//! per-connection limits, the progress handler and `SQLITE_DBCONFIG_DEFENSIVE`,
//! none of which sqlx exposes. rusqlite 0.39 links the same `libsqlite3-sys`
//! (0.37) as sqlx's SQLite driver, so one SQLite is compiled in.
//!
//! The walls, all enforced by SQLite itself, are documented in [`walls`].
//!
//! Every table is `STRICT` and keeps UUIDs, times and JSON as TEXT, so
//! SQLite's type affinity cannot rewrite a value. Decimals are `ANY`: cloned
//! as text they stay text (`'1.10'` stays `'1.10'`), and a float the agent's
//! arithmetic made stays a float, which the diff refuses (precision lost);
//! `decimal_add` and its kin compute exactly (see [`decimal`]).
//!
//! The baseline of the diff is captured, not copied: temp triggers (which
//! the agent can neither see nor drop, as it can run no DDL) save a row's
//! values as cloned the first time a statement updates or deletes it, and
//! note the rowids that rows are inserted or moved to. A diff then compares
//! only those rows, so neither opening nor diffing costs a pass over every
//! row. A table whose rows cannot be followed that way (no name left for its
//! rowid, or a key that may be NULL) keeps a full copy (`__base_N`) instead
//! ([`capture`]).
//!
//! The rooms: this file opens a sandbox (tables, limits, loading the clone);
//! [`walls`] and [`functions`] say what an agent statement may do, [`bounds`]
//! and [`heap`] bound what it may cost, [`script`] runs it, [`capture`] finds
//! what it changed; [`values`] are the values going out (the clone's batches come from
//! [`crate::prod`]).

pub(crate) mod bounds;
mod capture;
pub(crate) mod decimal;
mod functions;
pub(crate) mod heap;
pub(crate) mod json;
mod script;
#[cfg(test)]
mod tests;
mod values;
mod walls;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::hooks::AuthContext;
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode};
use safemodel::Value;

use crate::error::{Error, Refusal, Result};
use crate::types::ColumnKind;

use crate::prod::Cell;
pub(crate) use crate::prod::CloneBatch;
pub(crate) use capture::RawChange;
use capture::{base_name, capturable, seen_name};
use values::literal;
pub use values::{Cut, QueryResult, StatementResult};
pub(crate) use values::{raw_value, to_sandbox};
use walls::{Internal, Walls};

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

impl SandboxTable {
    /// The key's columns, in key order.
    pub(crate) fn key_columns(&self) -> impl Iterator<Item = &SandboxColumn> + '_ {
        self.key.iter().filter_map(|&k| self.columns.get(k))
    }

    /// The key's column names, quoted for SQLite.
    pub(crate) fn quoted_key(&self) -> Vec<String> {
        self.key_columns().map(|c| q(&c.name)).collect()
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
    clock: bounds::SessionClock,
    /// This sandbox's share of SQLite's process-wide heap limit.
    _heap: heap::HeapShare,
}

/// `ident` quoted as a SQLite name.
fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Values bound by one statement that loads cloned rows, at most.
const LOAD_ROWS: usize = 200;

fn sandbox_err(e: &rusqlite::Error) -> Error {
    Error::Sandbox(e.to_string())
}

impl Sandbox {
    /// Creates the tables (walls down: nothing of the agent's runs yet).
    pub(crate) fn new(tables: Vec<SandboxTable>, limits: Limits) -> Result<Sandbox> {
        limits.check()?;
        // Before the connection: its own allocations count.
        let heap = heap::HeapShare::take(limits.sqlite_share());
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
        let walls = Arc::new(Walls::new(&tables, modules));
        let captured = tables.iter().map(capturable).collect();
        let sb = Sandbox {
            conn,
            walls,
            tables,
            limits,
            captured,
            pending: std::cell::Cell::new(0),
            scripts: std::cell::Cell::new(0),
            clock: bounds::SessionClock::new(limits.session_statement_time),
            _heap: heap,
        };
        sb.configure()?;
        decimal::register(&sb.conn).map_err(|e| sandbox_err(&e))?;
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
        bounds::guard_functions(c, &self.limits, &refuse).map_err(|e| sandbox_err(&e))?;
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

    /// The `CREATE TABLE` of `t` under `name`; `with_fks`: with its UNIQUE and
    /// FOREIGN KEY clauses (the agent's table, not a copy of its baseline).
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
            let key: Vec<String> = t.quoted_key();
            defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
        }
        if with_fks {
            defs.extend(self.constraint_defs(t));
        }
        format!("CREATE TABLE {} ({}) STRICT", q(name), defs.join(", "))
    }

    /// The UNIQUE and FOREIGN KEY clauses of `t`'s definition.
    fn constraint_defs(&self, t: &SandboxTable) -> Vec<String> {
        let mut defs = Vec::new();
        // SQLite refuses every write to a child whose foreign key names
        // parent columns without a unique index ("foreign key
        // mismatch"). Where they hold the parent's whole key
        // (`(org, id)`), they are unique already: say so.
        let key: Vec<&str> = t.key_columns().map(|c| c.name.as_str()).collect();
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
        defs
    }

    /// Whether table `i`'s baseline is a full copy: where triggers cannot
    /// keep it, and in debug builds always, so tests check every diff of
    /// captured rows against a comparison of every row.
    fn copies(&self, i: usize) -> bool {
        cfg!(debug_assertions) || self.captured.get(i).is_none_or(Option::is_none)
    }

    fn key_list(t: &SandboxTable, alias: &str) -> String {
        t.key_columns()
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
}
