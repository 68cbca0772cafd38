//! Running an agent's script: SQLite splits and prepares it, each statement
//! runs armed with the statement time, inside one savepoint, and each write
//! is measured for the policy ([`WriteEffect`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Connection, ErrorCode};
use safemodel::Value;

use super::bounds::ResultBudget;
use super::capture::{base_name, rowid_name, seen_name};
use super::walls::{COMPUTED_MARK, Internal};
use super::{QueryResult, Sandbox, StatementResult, q, sandbox_err, to_sandbox};
use crate::diff::Op;
use crate::error::{Error, Refusal, Result};
use crate::policy::WriteEffect;

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

/// A statement that writes a scoped table, watched while it runs: what it
/// did to its table becomes a [`WriteEffect`].
struct Watch<'c> {
    op: Op,
    /// The table it writes (index).
    table: usize,
    /// Rows of the table before the statement.
    before: u64,
    /// For an UPDATE or DELETE, the rowids of the rows the session inserted.
    fresh: Option<Arc<HashSet<i64>>>,
    /// Cloned rows the statement changed, as `hook` counts them.
    cloned_changed: Arc<AtomicU64>,
    hook: Option<CountHook<'c>>,
}

/// SQLite's whitespace.
fn is_sqlite_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The length of the host parameter token at the start of `z`, by SQLite's
/// tokenizer (`?NNN`, `:name`, `@name`, `$name`, `#name`, TCL `$a::b(c)`);
/// 0 when `z` starts with none.
pub(super) fn parameter_len(z: &[u8]) -> usize {
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

impl Sandbox {
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
    pub(super) fn row_count(&self, i: usize) -> Result<u64> {
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
        let keys: Vec<String> = t.quoted_key();
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
        let mut budget = ResultBudget::new(&self.limits);
        for (index, prepared) in script.into_iter().enumerate() {
            let Prepared {
                mut stmt,
                text,
                write,
            } = prepared;
            let text = sql.get(text).unwrap_or_default();
            let watch = self.watch(write, text)?;
            self.arm();
            out.push(self.execute(&mut stmt, params, &mut budget)?);
            self.disarm();
            let Some(mut watch) = watch else {
                continue;
            };
            drop(watch.hook.take());
            let effect = self.effect(&watch, text)?;
            on_write(index, &effect)?;
        }
        Ok(out)
    }

    /// How statement `text`, which writes as `write` says, is watched while
    /// it runs; `None` when what it does to its table needs no measure.
    fn watch(&self, write: Option<(Op, usize, bool)>, text: &str) -> Result<Option<Watch<'_>>> {
        // An INSERT changes rows already there only by REPLACE or an
        // upsert's UPDATE, and UPDATE removes rows only by REPLACE: only
        // then are rows counted after the statement too. (`replace` in a
        // string or a name costs a count, nothing more.)
        let (op, i) = match write {
            Some((Op::Insert, _, upsert)) if !upsert && !mentions(text, "replace") => {
                return Ok(None);
            }
            Some((op, i, _)) => (op, i),
            None => return Ok(None),
        };
        let before = self.row_count(i)?;
        // An UPDATE or DELETE is also measured against the rows that were
        // cloned: a decoy row inserted first, for the statement to leave,
        // does not make it less than every row.
        let mut fresh = None;
        let cloned_changed = Arc::new(AtomicU64::new(0));
        let hook = match op {
            Op::Update | Op::Delete if !mentions(text, "replace") => {
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
        Ok(Some(Watch {
            op,
            table: i,
            before,
            fresh,
            cloned_changed,
            hook,
        }))
    }

    /// Runs one prepared statement (the walls armed), its rows admitted
    /// within `budget`.
    fn execute(
        &self,
        stmt: &mut rusqlite::Statement<'_>,
        params: &[Value],
        budget: &mut ResultBudget,
    ) -> Result<StatementResult> {
        if stmt.parameter_count() > 0 {
            for (i, p) in params.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, to_sandbox(p))
                    .map_err(|e| self.agent_error(&e))?;
            }
        }
        let readonly = stmt.readonly();
        if stmt.column_count() == 0 {
            let n = stmt.raw_execute().map_err(|e| self.agent_error(&e))?;
            return Ok(StatementResult {
                rows_affected: u64::try_from(n).unwrap_or(0),
                rows: None,
            });
        }
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
        Ok(StatementResult {
            rows_affected: if readonly { 0 } else { changes },
            rows: Some(QueryResult {
                columns,
                rows: rows_out,
                cut,
            }),
        })
    }

    /// What the watched statement `text` that just ran did to its table.
    fn effect(&self, watch: &Watch<'_>, text: &str) -> Result<WriteEffect> {
        let Watch {
            op,
            table: i,
            before,
            ref fresh,
            ref cloned_changed,
            ..
        } = *watch;
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
        Ok(WriteEffect {
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
        })
    }
}
