//! The walls of the sandbox: what an agent statement may do, decided by
//! SQLite while the statement is prepared.
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
//! - defensive mode, no trusted schema, no extension loading;
//! - triggers refusing an insert that writes a column production computes
//!   (the authorizer names no columns for an insert).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::Value as SqlValue;

use super::capture::{BASE_PREFIX, TRIGGER_PREFIX};
use super::functions::FUNCTIONS;
use super::values::literal;
use super::{Sandbox, SandboxTable, q};
use crate::diff::Op;
use crate::error::Refusal;

/// What the authorizer needs; shared with the SQLite callbacks.
pub(super) struct Walls {
    /// While set, shadowdb itself is running statements (setup, diff).
    pub(super) internal: AtomicBool,
    /// Why the last statement was denied.
    pub(super) refusal: Mutex<Option<Refusal>>,
    /// Deadline of the running statement, as nanoseconds since `epoch`.
    pub(super) deadline_ns: AtomicU64,
    pub(super) epoch: Instant,
    pub(super) scoped: HashSet<String>,
    pub(super) read_only: HashSet<String>,
    pub(super) pii: HashSet<(String, String)>,
    /// Columns production computes, as `(table, column)` in lower case.
    pub(super) computed: HashSet<(String, String)>,
    /// Virtual table modules compiled into this SQLite (`dbstat`, `fts5`,
    /// ...): their eponymous tables are outside the scope.
    pub(super) modules: HashSet<String>,
    /// The first write SQLite asked about while preparing an agent statement
    /// outside any trigger: the statement's own kind and target table, and
    /// for an INSERT whether it also updates that table (an upsert).
    pub(super) first_write: Mutex<Option<(Op, String, bool)>>,
}

/// Table-valued functions refused with a reason of their own: see
/// [`super::json`].
const TABLE_FUNCTIONS: &[&str] = &["json_each", "json_tree"];

/// The schema tables: SQLite's own DDL writes them, the agent may not.
fn is_schema_table(lower: &str) -> bool {
    matches!(
        lower,
        "sqlite_master" | "sqlite_schema" | "sqlite_temp_master" | "sqlite_temp_schema"
    )
}

impl Walls {
    /// The walls of a sandbox holding `tables`; `modules`: the virtual table
    /// modules compiled into its SQLite.
    pub(super) fn new(tables: &[SandboxTable], modules: HashSet<String>) -> Walls {
        Walls {
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
        }
    }

    pub(super) fn refuse(&self, r: Refusal) -> Authorization {
        if let Ok(mut slot) = self.refusal.lock() {
            // Keep the first reason: it is the one the statement tripped on.
            if slot.is_none() {
                *slot = Some(r);
            }
        }
        Authorization::Deny
    }

    pub(super) fn authorize(&self, ctx: &AuthContext<'_>) -> Authorization {
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
        match ctx.action {
            AuthAction::Select | AuthAction::Recursive => Authorization::Allow,
            AuthAction::Read { table_name, .. } => self.read_allowed(table_name, ctx.database_name),
            AuthAction::Insert { table_name } => self.write_allowed(table_name, None, "CREATE"),
            AuthAction::Delete { table_name } => self.write_allowed(table_name, None, "DROP"),
            AuthAction::Update {
                table_name,
                column_name,
            } => self.write_allowed(table_name, Some(column_name), "ALTER"),
            AuthAction::Function { function_name } => self.call_allowed(function_name),
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

    /// A read of `table` in `database` (SQLite's name for its schema).
    fn read_allowed(&self, table: &str, database: Option<&str>) -> Authorization {
        let name = table.to_ascii_lowercase();
        if TABLE_FUNCTIONS.contains(&name.as_str()) {
            return self.refuse(Refusal::JsonTable(name));
        }
        let allowed = match database {
            Some("main") => self.scoped.contains(&name),
            // SQLite names no database for the source of `count(*)`,
            // which may be a CTE or a subquery (whose own reads are
            // authorized one by one): anything but a real table
            // outside the scope.
            None => {
                self.scoped.contains(&name)
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
            self.refuse(Refusal::OutsideScope(table.to_owned()))
        }
    }

    /// A call of `function`: on the allowlist or refused.
    fn call_allowed(&self, function: &str) -> Authorization {
        let name = function.to_ascii_lowercase();
        if FUNCTIONS.contains(&name.as_str()) || super::decimal::FUNCTIONS.contains(&name.as_str())
        {
            Authorization::Allow
        } else if name == "load_extension" {
            self.refuse(Refusal::Extension)
        } else {
            self.refuse(Refusal::Function(function.to_owned()))
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

/// Sets `internal` for the guard's lifetime, then restores it (guards nest).
pub(super) struct Internal<'a>(&'a Walls, bool);
impl<'a> Internal<'a> {
    pub(super) fn new(w: &'a Walls) -> Self {
        let was = w.internal.swap(true, Ordering::Relaxed);
        Internal(w, was)
    }
}
impl Drop for Internal<'_> {
    fn drop(&mut self) {
        self.0.internal.store(self.1, Ordering::Relaxed);
    }
}

/// The start of the message of a trigger refusing a computed column.
pub(super) const COMPUTED_MARK: &str = "__shadowdb_computed__:";

impl Sandbox {
    /// Triggers refusing an insert that writes a column production computes
    /// (SQLite's authorizer names no columns for an insert; updates are
    /// refused by the authorizer). A computed key production generates may
    /// only be left to the sandbox's provisional keys.
    pub(super) fn computed_ddl(t: &SandboxTable, i: usize) -> String {
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
}
