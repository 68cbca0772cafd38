//! Bounds of the sandbox beyond SQLite's own limits: the statement time of
//! a whole session, the size of the results handed back, and the work of
//! one call of a function whose cost grows with the product of its inputs.
//!
//! SQLite's progress handler runs between virtual machine steps, never
//! inside one function call: `instr()` of a 128 KiB needle in a 16 MiB
//! haystack, or a `LIKE` of a 30 KB pattern over 1.5 MB, is one call of tens
//! of seconds. So the functions whose work is the product of two inputs'
//! lengths (`instr`, `replace`, `like`, `glob`, `trim`/`ltrim`/`rtrim` with
//! a character set, `json_patch`, whose members are compared pairwise) are
//! replaced by guards that refuse a call past
//! [`crate::Limits::max_call_work`] and otherwise hand it, values and types
//! as given, to SQLite's own function on a private connection: the result is
//! SQLite's, byte for byte.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::ToSql;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::limits::Limit;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ffi};
use safemodel::Value;

use crate::error::Refusal;
use crate::sandbox::{Cut, Limits};

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The statement time a session has used, against its limit.
#[derive(Debug)]
pub(crate) struct SessionClock {
    limit_ns: u64,
    spent_ns: AtomicU64,
    /// When the running statement started (time since the sandbox's epoch),
    /// `u64::MAX` when none runs.
    started_ns: AtomicU64,
    /// Whether the running statement's deadline is the session's, not its own.
    capped: AtomicBool,
}

impl SessionClock {
    pub(crate) fn new(limit: Duration) -> Self {
        SessionClock {
            limit_ns: nanos(limit),
            spent_ns: AtomicU64::new(0),
            started_ns: AtomicU64::new(u64::MAX),
            capped: AtomicBool::new(false),
        }
    }

    /// A statement starts at `now`: how long it may run, its own limit or
    /// what is left of the session's, whichever is shorter.
    pub(crate) fn start(&self, now: Duration, statement: Duration) -> Duration {
        self.stop(now);
        self.started_ns.store(nanos(now), Ordering::Relaxed);
        let left = self
            .limit_ns
            .saturating_sub(self.spent_ns.load(Ordering::Relaxed));
        let capped = left < nanos(statement);
        self.capped.store(capped, Ordering::Relaxed);
        if capped {
            Duration::from_nanos(left)
        } else {
            statement
        }
    }

    /// The running statement, if any, ends at `now`.
    pub(crate) fn stop(&self, now: Duration) {
        let started = self.started_ns.swap(u64::MAX, Ordering::Relaxed);
        if started != u64::MAX {
            let ran = nanos(now).saturating_sub(started);
            self.spent_ns.fetch_add(ran, Ordering::Relaxed);
        }
    }

    /// Whether the session's statement time is used up.
    pub(crate) fn exhausted(&self) -> bool {
        self.spent_ns.load(Ordering::Relaxed) >= self.limit_ns
    }

    /// Whether the running (or last) statement was given only what was left
    /// of the session's time.
    pub(crate) fn capped(&self) -> bool {
        self.capped.load(Ordering::Relaxed)
    }
}

/// What is left of the results' budget of one call: rows per statement,
/// bytes for every statement of the call together (the caller holds them
/// all at once).
#[derive(Debug)]
pub(crate) struct ResultBudget {
    rows: usize,
    bytes: usize,
    max_rows: usize,
    max_bytes: usize,
}

impl ResultBudget {
    pub(crate) fn new(limits: &Limits) -> Self {
        ResultBudget {
            rows: limits.max_result_rows,
            bytes: limits.max_result_bytes,
            max_rows: limits.max_result_rows,
            max_bytes: limits.max_result_bytes,
        }
    }

    /// A statement starts: its own rows, what bytes are left.
    pub(crate) fn start_statement(&mut self) {
        self.rows = self.max_rows;
    }

    /// The names of a statement's columns, or where the result is cut if
    /// they do not fit in the bytes left: a name may be long (an alias of
    /// up to the SQL's length) and a `*` over a join repeats it.
    pub(crate) fn admit_columns(&mut self, names: &[&str]) -> Result<Vec<String>, Cut> {
        let size = names.iter().fold(0usize, |n, name| {
            n.saturating_add(name.len())
                .saturating_add(std::mem::size_of::<String>())
        });
        if size > self.bytes {
            return Err(Cut::Bytes {
                limit: self.max_bytes,
            });
        }
        self.bytes -= size;
        Ok(names.iter().map(|&name| name.to_owned()).collect())
    }

    /// The values of `row`, or where the result is cut if they do not fit:
    /// sizes are counted before anything is copied out of SQLite.
    pub(crate) fn admit(
        &mut self,
        row: &rusqlite::Row<'_>,
        width: usize,
    ) -> rusqlite::Result<Result<Vec<Value>, Cut>> {
        if self.rows == 0 {
            return Ok(Err(Cut::Rows {
                limit: self.max_rows,
            }));
        }
        let mut size = 0usize;
        for i in 0..width {
            size = size.saturating_add(value_size(row.get_ref(i)?));
        }
        if size > self.bytes {
            return Ok(Err(Cut::Bytes {
                limit: self.max_bytes,
            }));
        }
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(crate::sandbox::raw_value(row.get_ref(i)?));
        }
        self.rows -= 1;
        self.bytes -= size;
        Ok(Ok(values))
    }
}

/// Bytes a value takes once copied out of SQLite.
fn value_size(v: ValueRef<'_>) -> usize {
    let payload = match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.len(),
        _ => 0,
    };
    std::mem::size_of::<Value>().saturating_add(payload)
}

/// A function the sandbox puts a guard in front of.
struct Guarded {
    name: &'static str,
    n_arg: i32,
    /// The two arguments whose lengths multiply, for a function whose one
    /// call costs that product; `None` for one whose cost is linear.
    work: Option<(usize, usize)>,
    /// Bytes of one unit of work of each input: `json_patch` compares
    /// every member of one object with every member of the other, and a
    /// member takes at least 4 bytes (`"a":1` in text, 4 in JSONB).
    unit: u64,
    /// A JSON function: its BLOB arguments are read as JSONB, whose depth
    /// is checked first (see [`crate::sandbox::json`]), and its arguments'
    /// and result's JSON subtype are carried across the private connection.
    json: bool,
    /// The JSON paths among the arguments: SQLite looks each one up in the
    /// whole document, and an edit path builds what it does not find.
    paths: Paths,
}

/// Where the path arguments of a JSON function are.
#[derive(Clone, Copy, PartialEq)]
enum Paths {
    /// None, or a single one (a call of linear cost).
    One,
    /// Every argument after the first (`json_extract`, `json_remove`).
    Each,
    /// Every other argument after the first, each followed by its value
    /// (`json_set`, `json_insert`, `json_replace`): these also create what
    /// the path names, one level per step, by recursion.
    Edits,
}

impl Paths {
    /// How many paths a call of `n` arguments names.
    fn count(self, n: usize) -> u64 {
        let n = u64::try_from(n.saturating_sub(1)).unwrap_or(u64::MAX);
        match self {
            Paths::One => 1,
            Paths::Each => n,
            Paths::Edits => n.div_ceil(2),
        }
    }
}

/// Steps of a JSON path as SQLite walks it: a `.label` (quoted or not)
/// or a `[index]` each. Counted over every byte, past a NUL too (SQLite
/// stops there): never fewer than SQLite takes.
pub(crate) fn path_steps(path: &[u8]) -> usize {
    let mut steps = 0usize;
    let mut i = 0;
    while let Some(&c) = path.get(i) {
        i += 1;
        match c {
            b'.' => {
                steps += 1;
                if path.get(i) == Some(&b'"') {
                    i += 1;
                    while let Some(&q) = path.get(i) {
                        i += if q == b'\\' { 2 } else { 1 };
                        if q == b'"' {
                            break;
                        }
                    }
                }
            }
            b'[' => steps += 1,
            _ => {}
        }
    }
    steps
}

impl Guarded {
    /// Why this call is refused before SQLite runs it, in the order the
    /// bounds are checked: the LIKE/GLOB pattern, the work of two inputs,
    /// the work of many paths, an edit path's steps, then JSONB depth.
    fn refusal(&self, ctx: &Context<'_>, max_work: u64, max_pattern: u64) -> Option<Refusal> {
        let name = self.name;
        let len = |i: usize| {
            if i < ctx.len() {
                arg_len(ctx.get_raw(i))
            } else {
                0
            }
        };
        let too_much_work = || Refusal::TooMuchWork {
            function: name.to_owned(),
            limit: max_work,
        };
        if matches!(name, "like" | "glob") && len(0) > max_pattern {
            return Some(Refusal::PatternTooLong {
                limit: usize::try_from(max_pattern).unwrap_or(usize::MAX),
            });
        }
        let unit = self.unit;
        if self
            .work
            .is_some_and(|(a, b)| (len(a) / unit).saturating_mul(len(b) / unit) > max_work)
        {
            return Some(too_much_work());
        }
        // Each path is looked up in the whole document (and an edit moves
        // the rest of it): the work is the document's size times the number
        // of paths, in one call.
        let paths = self.paths.count(ctx.len());
        if paths > 1
            && (0..ctx.len())
                .fold(0u64, |n, i| n.saturating_add(len(i)))
                .saturating_mul(paths)
                > max_work
        {
            return Some(too_much_work());
        }
        // SQLite builds what an edit path names and does not find by
        // recursion, one level per step, with no limit: a path of 30,000
        // steps overflowed the stack.
        if self.paths == Paths::Edits
            && (1..ctx.len()).step_by(2).any(|i| match ctx.get_raw(i) {
                ValueRef::Text(p) | ValueRef::Blob(p) => {
                    path_steps(p) > crate::sandbox::json::MAX_DEPTH
                }
                _ => false,
            })
        {
            return Some(Refusal::JsonPathTooLong {
                function: name.to_owned(),
                limit: crate::sandbox::json::MAX_DEPTH,
            });
        }
        if self.json {
            return crate::sandbox::json::too_deep(name, (0..ctx.len()).map(|i| ctx.get_raw(i)));
        }
        None
    }
}

const fn g(name: &'static str, n_arg: i32) -> Guarded {
    Guarded {
        name,
        n_arg,
        work: Some((0, 1)),
        unit: 1,
        json: false,
        paths: Paths::One,
    }
}

/// A JSON function of linear cost.
const fn j(name: &'static str, n_arg: i32) -> Guarded {
    Guarded {
        name,
        n_arg,
        work: None,
        unit: 1,
        json: true,
        paths: Paths::One,
    }
}

/// A JSON function that looks up each of its paths (`edits`: and builds
/// what they name) in the whole document.
const fn jp(name: &'static str, edits: bool) -> Guarded {
    Guarded {
        paths: if edits { Paths::Edits } else { Paths::Each },
        ..j(name, -1)
    }
}

/// SQLite's subtype of JSON text.
pub(crate) const JSON_SUBTYPE: u32 = 74;

/// Every guarded scalar function, with SQLite's own arities (a call with
/// another number of arguments finds no guard and SQLite refuses it as it
/// would have). The JSON aggregates are in [`crate::sandbox::json`];
/// `json_each` and `json_tree`, tables no function can stand in front of,
/// are refused by the walls.
const GUARDED: &[Guarded] = &[
    g("instr", 2),
    g("replace", 3),
    g("like", 2),
    g("like", 3),
    g("glob", 2),
    g("trim", 2),
    g("ltrim", 2),
    g("rtrim", 2),
    Guarded {
        unit: 4,
        json: true,
        ..g("json_patch", 2)
    },
    Guarded {
        unit: 4,
        json: true,
        ..g("jsonb_patch", 2)
    },
    j("json", 1),
    j("jsonb", 1),
    j("json_array", -1),
    j("jsonb_array", -1),
    j("json_array_length", 1),
    j("json_array_length", 2),
    j("json_error_position", 1),
    jp("json_extract", false),
    jp("jsonb_extract", false),
    j("->", 2),
    j("->>", 2),
    jp("json_insert", true),
    jp("jsonb_insert", true),
    j("json_object", -1),
    j("jsonb_object", -1),
    j("json_pretty", 1),
    j("json_pretty", 2),
    j("json_quote", 1),
    jp("json_remove", false),
    jp("jsonb_remove", false),
    jp("json_replace", true),
    jp("jsonb_replace", true),
    jp("json_set", true),
    jp("jsonb_set", true),
    j("json_type", 1),
    j("json_type", 2),
    j("json_valid", 1),
    j("json_valid", 2),
];

/// Length of an argument as SQLite would read it as text or bytes (a
/// number's text is at most a few dozen bytes).
fn arg_len(v: ValueRef<'_>) -> u64 {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => u64::try_from(b.len()).unwrap_or(u64::MAX),
        ValueRef::Null => 0,
        ValueRef::Integer(_) | ValueRef::Real(_) => 32,
    }
}

/// A result SQLite's own function cannot give: an error, not a guess.
pub(crate) fn unexpected(what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_INTERNAL),
        Some(format!("sandbox fault: {what}")),
    )
}

pub(crate) fn refused(why: &Refusal) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_ERROR),
        Some(format!("refused by the sandbox: {why}")),
    )
}

/// A value handed back by SQLite's own function: text as SQLite's bytes,
/// UTF-8 or not (SQLite does not check, and a guard must not repair), so
/// that the result is SQLite's, byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Out {
    fn of(v: ValueRef<'_>) -> Out {
        match v {
            ValueRef::Null => Out::Null,
            ValueRef::Integer(i) => Out::Integer(i),
            ValueRef::Real(x) => Out::Real(x),
            ValueRef::Text(t) => Out::Text(t.to_vec()),
            ValueRef::Blob(b) => Out::Blob(b.to_vec()),
        }
    }
}

impl ToSql for Out {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Out::Null => ValueRef::Null,
            Out::Integer(i) => ValueRef::Integer(*i),
            Out::Real(x) => ValueRef::Real(*x),
            Out::Text(t) => ValueRef::Text(t),
            Out::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// What the capture function on the private connection saw: the value of
/// its argument and that value's subtype.
type Captured = Arc<Mutex<Option<(Out, u32)>>>;

/// A private in-memory connection that runs SQLite's own functions for the
/// guards, so that a guarded call's result is SQLite's, byte for byte.
///
/// Its two helper functions carry what a bound parameter cannot: the JSON
/// subtype. `shadowdb_j(x)` gives back `x` marked as JSON text (an argument
/// that was JSON where the agent called the function), and
/// `shadowdb_capture(x)` keeps the function's result with its subtype.
pub(crate) struct Delegate {
    conn: Mutex<Connection>,
    captured: Captured,
}

impl Delegate {
    fn open(limits: &Limits) -> rusqlite::Result<Delegate> {
        let conn = Connection::open_in_memory()?;
        let cap = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, cap(limits.max_value_bytes))?;
        conn.set_limit(
            Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
            cap(limits.max_like_pattern_bytes),
        )?;
        conn.set_prepared_statement_cache_capacity(128);
        conn.create_scalar_function(
            "shadowdb_j",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_RESULT_SUBTYPE,
            |ctx: &Context<'_>| Ok((Out::of(ctx.get_raw(0)), Some(JSON_SUBTYPE))),
        )?;
        let captured: Captured = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&captured);
        conn.create_scalar_function(
            "shadowdb_capture",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_SUBTYPE,
            move |ctx: &Context<'_>| {
                let value = Out::of(ctx.get_raw(0));
                let subtype = ctx.get_subtype(0);
                let mut slot = slot.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
                *slot = Some((value, subtype));
                Ok(Out::Null)
            },
        )?;
        Ok(Delegate {
            conn: Mutex::new(conn),
            captured,
        })
    }

    /// Runs `SELECT shadowdb_capture(<call>)`, `call` naming the arguments
    /// `?1`, `?2`, ..., and gives back the result and its subtype (0 for
    /// none), text as SQLite's bytes.
    pub(crate) fn call(&self, call: &str, args: &[ValueRef<'_>]) -> rusqlite::Result<(Out, u32)> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut stmt = conn.prepare_cached(&format!("SELECT shadowdb_capture({call})"))?;
        for (i, arg) in args.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(*arg))?;
        }
        let mut rows = stmt.raw_query();
        rows.next().map_err(|e| match e.sqlite_error_code() {
            // Past the value or the memory limit: only the code, for
            // SQLite's message; with a message of ours `sqlite3_result_error`
            // would turn the code into SQLITE_ERROR, and the sandbox would
            // not know the error for its limit.
            Some(code @ (ErrorCode::TooBig | ErrorCode::OutOfMemory)) => {
                rusqlite::Error::SqliteFailure(
                    ffi::Error::new(if code == ErrorCode::TooBig {
                        ffi::SQLITE_TOOBIG
                    } else {
                        ffi::SQLITE_NOMEM
                    }),
                    None,
                )
            }
            _ => e,
        })?;
        drop(rows);
        let captured = self
            .captured
            .lock()
            .map_err(|_| rusqlite::Error::InvalidQuery)?
            .take();
        // SQLite calls the capture once per call: no capture is a fault,
        // never a NULL result.
        captured.ok_or_else(|| unexpected("the guarded call gave no result"))
    }
}

/// The call of `name` on the private connection: `?i`, or
/// `shadowdb_j(?i)` for an argument that reached the guard as JSON text.
fn call_sql(name: &str, ctx: &Context<'_>, json: bool) -> String {
    let arg = |i: usize| {
        if json && ctx.get_subtype(i) == JSON_SUBTYPE {
            format!("shadowdb_j(?{})", i + 1)
        } else {
            format!("?{}", i + 1)
        }
    };
    match name {
        "->" | "->>" => format!("({}) {name} ({})", arg(0), arg(1)),
        _ => {
            let args: Vec<String> = (0..ctx.len()).map(arg).collect();
            format!("{name}({})", args.join(", "))
        }
    }
}

/// Replaces the functions of [`GUARDED`] and the JSON aggregates on `conn`
/// by guards (see the module docs); `refuse` records why a call was
/// refused.
pub(crate) fn guard_functions(
    conn: &Connection,
    limits: &Limits,
    refuse: &Arc<dyn Fn(Refusal) + Send + Sync>,
) -> rusqlite::Result<()> {
    let delegate = Arc::new(Delegate::open(limits)?);
    for guarded in GUARDED {
        let &Guarded {
            name, n_arg, json, ..
        } = guarded;
        let mut flags = FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS;
        if json {
            flags |= FunctionFlags::SQLITE_SUBTYPE | FunctionFlags::SQLITE_RESULT_SUBTYPE;
        }
        let delegate = Arc::clone(&delegate);
        let refuse = Arc::clone(refuse);
        let max_work = limits.max_call_work;
        let max_pattern = u64::try_from(limits.max_like_pattern_bytes).unwrap_or(u64::MAX);
        conn.create_scalar_function(name, n_arg, flags, move |ctx: &Context<'_>| {
            if let Some(why) = guarded.refusal(ctx, max_work, max_pattern) {
                let err = refused(&why);
                refuse(why);
                return Err(err);
            }
            let args: Vec<ValueRef<'_>> = (0..ctx.len()).map(|i| ctx.get_raw(i)).collect();
            let (out, subtype) = delegate.call(&call_sql(name, ctx, json), &args)?;
            let subtype = (subtype != 0).then_some(subtype);
            Ok((out, subtype))
        })?;
    }
    crate::sandbox::json::guard_aggregates(conn, &delegate, limits, refuse)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "tests: a panic fails the test"
    )]

    use std::time::Instant;

    use rusqlite::types::Value as SqlValue;

    use super::*;
    use crate::error::{Error, Result};
    use crate::sandbox::{Sandbox, SandboxColumn, SandboxTable};
    use crate::types::ColumnKind;

    fn sandbox(limits: Limits) -> Sandbox {
        let t = SandboxTable {
            name: "t".into(),
            columns: vec![SandboxColumn {
                name: "id".into(),
                kind: ColumnKind::Int64,
                nullable: false,
                pii: false,
                computed: false,
            }],
            key: vec![0],
            read_only: false,
            generated_key: None,
            tenant: None,
            foreign_keys: Vec::new(),
        };
        let sb = Sandbox::new(vec![t], limits).unwrap();
        sb.seal().unwrap();
        sb
    }

    fn one(sb: &Sandbox, sql: &str) -> Result<Vec<Value>> {
        let mut out = sb.run(sql, &[])?;
        Ok(out
            .pop()
            .and_then(|r| r.rows)
            .and_then(|q| q.rows.into_iter().next())
            .unwrap_or_default())
    }

    /// The guards hand every call to SQLite's own function: same results,
    /// same types, for text, blobs, numbers and NULL.
    #[test]
    fn guarded_functions_give_sqlites_results() {
        let sb = sandbox(Limits::default());
        let plain = Connection::open_in_memory().unwrap();
        let exprs = [
            "instr('héllo wörld', 'wö')",
            "instr(X'00010203', X'0203')",
            "instr(12345, 34)",
            "instr(1.5, '.')",
            "instr(NULL, 'a')",
            "instr('abc', '')",
            "replace('a.b.c', '.', '--')",
            "replace(X'616263', 'b', 'x')",
            "replace(12.5, '.', ',')",
            "replace('abc', '', 'x')",
            "replace(NULL, 'a', 'b')",
            "'ABC' LIKE 'a_c'",
            "'a%c' LIKE 'a!%c' ESCAPE '!'",
            "'Äbc' LIKE 'äbc'",
            "'abc' NOT LIKE 'a%'",
            "NULL LIKE 'a'",
            "'abc' GLOB 'a[a-c]?'",
            "'ABC' GLOB 'a*'",
            "trim('xxaxx', 'x')",
            "ltrim('  a  ', ' ')",
            "rtrim(12300, '0')",
            "trim('  a  ')",
            "json_patch('{\"a\":1,\"b\":{\"c\":2}}', '{\"b\":{\"c\":null,\"d\":[1, 2]},\"e\":\"x\"}')",
            "json_set('{}', '$.p', json_patch('{\"x\":1}', '{\"y\":2}'))",
            "json_array(json_patch('[1]', '{\"y\":2}'), json_patch(NULL, '{}'))",
            "hex(jsonb_patch('{\"a\":1}', jsonb('{\"b\":2}')))",
        ];
        for e in exprs {
            let sql = format!("SELECT {e}, typeof({e})");
            let want: (SqlValue, String) = plain
                .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            let got = one(&sb, &sql).unwrap();
            let want_value = crate::sandbox::raw_value(ValueRef::from(&want.0));
            assert_eq!(got, vec![want_value, Value::Text(want.1.clone())], "{e}");
        }
    }

    fn all_rows(sb: &Sandbox, sql: &str) -> Result<Vec<Vec<Value>>> {
        let mut out = sb.run(sql, &[])?;
        Ok(out
            .pop()
            .and_then(|r| r.rows)
            .map(|q| q.rows)
            .unwrap_or_default())
    }

    /// Every JSON function behind its depth guard gives SQLite's own
    /// result: the JSON subtype of arguments (`json(...)`, `->`) and of
    /// results crosses the private connection, and the aggregates and their
    /// windows assemble what SQLite's would.
    #[test]
    fn json_functions_behind_guards_give_sqlites_results() {
        let sb = sandbox(Limits::default());
        let plain = Connection::open_in_memory().unwrap();
        let queries = [
            "SELECT json(' [1, 2 , {\"a\" : null}] ')",
            "SELECT hex(jsonb('{\"a\":[1,2.5,\"x\"]}'))",
            "SELECT json(jsonb('{\"a\":[1,2.5,\"x\"]}'))",
            "SELECT json_array(1, 2.5, 'x', NULL, json('[1]'), '[1]', json_pretty('[1,2]'))",
            "SELECT json_array(json_object('a', json_array(1)), '{\"a\":1}' -> '$')",
            "SELECT hex(jsonb_array(1, json('{}')))",
            "SELECT json_array_length('[1,[2,3]]'), json_array_length('[1,[2,3]]', '$[1]')",
            "SELECT json_error_position('[1,'), json_error_position('[1]')",
            "SELECT json_extract('{\"a\":{\"b\":[1,2]}}', '$.a'), typeof(json_extract('{\"a\":1.50}', '$.a'))",
            "SELECT json_extract('{\"a\":1,\"b\":\"x\"}', '$.a', '$.b')",
            "SELECT hex(jsonb_extract('{\"a\":{\"b\":1}}', '$.a'))",
            "SELECT '{\"a\":{\"b\":\"x\"}}' -> '$.a', '{\"a\":{\"b\":\"x\"}}' ->> '$.a.b', '[5,6]' -> 1",
            "SELECT json_insert('{\"a\":1}', '$.b', json('[2]'), '$.c', '[3]')",
            "SELECT json_set(jsonb('{\"a\":1}'), '$.a', json_object('x', 1))",
            "SELECT hex(jsonb_set('{\"a\":1}', '$.a', 2))",
            "SELECT json_replace('{\"a\":1}', '$.a', 'v'), json_remove('[1,2,3]', '$[1]')",
            "SELECT hex(jsonb_remove('[1,2]', '$[0]')), hex(jsonb_replace('[1]', '$[0]', 9))",
            "SELECT json_object('k', json('{\"z\":[]}'), 'n', NULL), hex(jsonb_object('a', 1))",
            "SELECT json_pretty('{\"a\":[1,{\"b\":2}]}'), json_pretty('[1]', '--')",
            "SELECT json_quote('a\"b'), json_quote(1.5), json_quote(json('[1]')), json_quote(NULL)",
            "SELECT json_type('{\"a\":[]}'), json_type('{\"a\":[]}', '$.a'), json_valid('{'), json_valid(jsonb('[1]'), 8)",
            "SELECT json_patch('{\"a\":1}', json_object('b', json('[2]')))",
            "WITH v(x) AS (VALUES (1), (2.5), ('s'), (NULL), (json('{\"k\":[1]}'))) SELECT json_group_array(x) FROM v",
            "WITH v(x) AS (VALUES (1), ('[2]')) SELECT hex(jsonb_group_array(x)) FROM v",
            "WITH v(x) AS (VALUES ('q\"b\\s''x' || char(8, 9, 10, 12, 13, 1, 31, 127) || 'é😀'), (-0.0), (1e300), (X'01')) \
             SELECT json_group_array(x) FROM v",
            "WITH v(k, x) AS (VALUES ('a', 1), (NULL, 2), (3, json('[3]')), ('d', NULL)) SELECT json_group_object(k, x) FROM v",
            "WITH v(k, x) AS (VALUES ('a', 1), ('b', 'x')) SELECT hex(jsonb_group_object(k, x)) FROM v",
            "WITH v(k, x) AS (VALUES (1.5, 'r'), ('a' || char(0) || 'b', 'n'), (X'6869', -7), ('q\"', 2.25)) \
             SELECT json_group_object(k, x) FROM v",
            "SELECT json_group_array(x), json_group_object('k', x) FROM (SELECT 1 AS x WHERE 0)",
            "WITH v(i, x) AS (VALUES (1, 'a'), (2, json('[1]')), (3, 3), (4, NULL)) \
             SELECT i, json_group_array(x) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM v ORDER BY i",
            "WITH v(i, x) AS (VALUES (1, 'a'), (2, 'b'), (3, 'c')) \
             SELECT i, json_group_object(x, i) OVER (ORDER BY i ROWS 1 PRECEDING) FROM v ORDER BY i",
            "WITH v(g, x) AS (VALUES (1, 'a'), (2, 'b'), (1, 'c')) SELECT g, json_group_array(x) FROM v GROUP BY g ORDER BY g",
            // No row: SQLite's aggregate gives the text `[]` or `{}`, for
            // the JSONB forms too, and so does a window's empty frame.
            "SELECT typeof(jsonb_group_array(x)), hex(jsonb_group_array(x)), hex(jsonb_group_object('k', x)) FROM (SELECT 1 AS x WHERE 0)",
            "WITH v(i) AS (VALUES (1), (2), (3)) SELECT i, hex(jsonb_group_array(i) OVER w), typeof(jsonb_group_object('k', i) OVER w) \
             FROM v WINDOW w AS (ORDER BY i ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING) ORDER BY i",
            // Text that is not UTF-8 goes through as SQLite's bytes.
            "SELECT hex(json_quote(CAST(X'FF' AS TEXT))), hex(json_array(CAST(X'C3' AS TEXT))), \
             hex(json_extract('[\"' || CAST(X'FF41' AS TEXT) || '\"]', '$[0]')), hex('[\"' || CAST(X'FF' AS TEXT) || '\"]' ->> 0)",
            "SELECT hex(json_group_array(CAST(X'FF' AS TEXT))), hex(json_group_object(CAST(X'FE' AS TEXT), CAST(X'FF' AS TEXT)))",
            // A JSONB string of type TEXT is rendered without escapes: a
            // crafted one puts a comma into the aggregate's text, and the
            // window's inverse cuts there, as SQLite's does.
            "WITH v(i, x) AS (VALUES (1, X'B761616161222C2262626262'), (2, 2), (3, 3)) \
             SELECT i, hex(json_group_array(x) OVER w), hex(jsonb_group_array(x) OVER w) FROM v \
             WINDOW w AS (ORDER BY i ROWS 1 PRECEDING) ORDER BY i",
            // Members 1,000 deep: SQLite's JSONB aggregate converts a text
            // deeper than its parser reads, and returns what it got to.
            "SELECT hex(jsonb_group_array(json(printf('%.*c', 1000, '[') || printf('%.*c', 1000, ']'))))",
        ];
        for q in queries {
            let mut stmt = plain.prepare(q).unwrap();
            let width = stmt.column_count();
            let want: Vec<Vec<Value>> = stmt
                .query_map([], |r| {
                    Ok((0..width)
                        .map(|i| crate::sandbox::raw_value(r.get_ref(i).unwrap()))
                        .collect())
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            let got = all_rows(&sb, q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(got, want, "{q}");
        }
        // Errors stay SQLite's: a BLOB that is not JSONB, a wrong path.
        for q in [
            "SELECT json_array(X'F0F0')",
            "SELECT json_extract('{}', 'a')",
            "SELECT json_group_array(X'F0F0') FROM (SELECT 1)",
        ] {
            let want = plain
                .query_row(q, [], |r| r.get::<_, SqlValue>(0))
                .unwrap_err()
                .to_string();
            let got = all_rows(&sb, q).unwrap_err().to_string();
            assert!(got.contains(&want), "{q}: {got} / {want}");
        }
    }

    /// JSONB nested past SQLite's depth for text is refused by every JSON
    /// function before SQLite's recursion reads it (it overflowed the
    /// stack and aborted the process), and `json_each`/`json_tree` are
    /// refused outright; JSONB at the limit still works.
    #[test]
    fn deep_jsonb_is_refused_before_sqlite_reads_it() {
        let sb = sandbox(Limits::default());
        let deep = |levels: usize| {
            format!(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i<{levels}), \
                 h(b) AS (SELECT unhex(group_concat(printf('eb%08x', 5*(i-1)+1), '') || '0b') \
                 FROM (SELECT i FROM k ORDER BY i DESC)) "
            )
        };
        // 999 wrappers around an empty array: 1,000 levels, SQLite's limit.
        let at_limit = deep(crate::sandbox::json::MAX_DEPTH - 1);
        let got = one(
            &sb,
            &format!("{at_limit} SELECT json_valid(b, 8), length(json(b)) FROM h"),
        )
        .unwrap();
        assert_eq!(got, vec![Value::Int(1), Value::Int(2000)]);
        let past = deep(200_000);
        for tail in [
            "SELECT length(json(b)) FROM h",
            "SELECT json_extract(b, '$[0][0]') FROM h",
            "SELECT b -> '$[0]' FROM h",
            "SELECT json_type(b, '$[0][0][0]') FROM h",
            "SELECT json_set('[]', '$[0]', b) FROM h",
            "SELECT json_array_length(b) FROM h",
            "SELECT json_group_array(b) FROM h",
            "SELECT json_group_object('k', b) FROM h",
            "SELECT hex(jsonb_patch(b, '{}')) FROM h",
        ] {
            let err = one(&sb, &format!("{past} {tail}")).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Refused(Refusal::JsonTooDeep { limit: 1000, .. })
                ),
                "{tail}: {err}"
            );
        }
        // `null`, `true` or `false` with a size: SQLite renders them as one
        // byte and reads the size bytes as the next elements, here arrays
        // 200,000 deep that a count skipping by the size never saw; the
        // process aborted with a stack overflow in json().
        for kind in ["C0", "C1", "C2"] {
            let hidden = format!(
                "WITH h(b) AS (SELECT unhex('EB' || printf('%08x', 2*200000 + 200) || \
                 replace(printf('%.*c', 200000, 'x'), 'x', '{kind}BB') || \
                 replace(printf('%.*c', 200, 'x'), 'x', '00'))) "
            );
            for tail in [
                "SELECT length(json(b)) FROM h",
                "SELECT length(json_pretty(b)) FROM h",
                "SELECT json_extract(b, '$[1]') FROM h",
                "SELECT json_group_array(b) FROM h",
            ] {
                let err = one(&sb, &format!("{hidden} {tail}")).unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Refused(Refusal::JsonTooDeep { limit: 1000, .. })
                    ),
                    "{kind} {tail}: {err}"
                );
            }
        }
        for table in ["json_each", "json_tree"] {
            let err = one(&sb, &format!("SELECT value FROM {table}('[1]')")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "refused by the sandbox: {table}() is not available in the sandbox (SQLite reads its JSONB input without a depth limit); read JSON with json_extract(), ->> or json_array_length() instead"
                ),
            );
        }
    }

    /// An edit path builds what it names and does not find, by recursion,
    /// one level per step: `json_set` with a path of 30,000 steps
    /// overflowed the stack and aborted the process. A path of more than
    /// 1,000 steps is refused in every edit function, and one of 1,000 works.
    #[test]
    fn long_edit_paths_are_refused_before_sqlite_recurses() {
        let sb = sandbox(Limits::default());
        let path = |steps: usize, step: &str| {
            format!("'$' || replace(printf('%.*c', {steps}, 'x'), 'x', '{step}')")
        };
        for function in [
            "json_set",
            "jsonb_set",
            "json_insert",
            "jsonb_insert",
            "json_replace",
            "jsonb_replace",
        ] {
            for step in [".a", "[0]", ".\"a.b[\""] {
                let sql = format!(
                    "SELECT length({function}('[]', '$[0]', 1, {}, 1))",
                    path(200_000, step)
                );
                let err = one(&sb, &sql).unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Refused(Refusal::JsonPathTooLong { limit: 1000, .. })
                    ),
                    "{sql}: {err}"
                );
            }
        }
        let at_limit = one(
            &sb,
            &format!("SELECT length(json_set('{{}}', {}, 1))", path(1000, ".a")),
        )
        .unwrap();
        assert_eq!(at_limit, vec![Value::Int(1000 * 6 + 1)]);
        assert_eq!(path_steps(b"$.a[0].\"x.y[z\\\"\"[#-1]"), 4);
        assert_eq!(path_steps(b"$"), 0);
    }

    /// `json_extract` and the edit functions look each path up in the whole
    /// document: 999 paths over an array of 4 million members ran 74 s in
    /// one call, past the statement's limit. Their work is the arguments'
    /// size times the number of paths.
    #[test]
    fn many_paths_over_a_large_document_are_refused_at_once() {
        let sb = sandbox(Limits::default());
        let doc = "WITH d(j) AS (SELECT '[' || replace(printf('%.*c', 4000000, 'x'), 'x', '1,') || '1]') ";
        for call in [
            format!("json_extract(j{})", ", '$[#-1]'".repeat(999)),
            format!("jsonb_extract(j{})", ", '$[#-1]'".repeat(999)),
            format!("json_remove(j{})", ", '$[#-1]'".repeat(999)),
            format!("json_set(j{})", ", '$[#-1]', 2".repeat(499)),
            format!("jsonb_replace(j{})", ", '$[#-1]', 2".repeat(499)),
            format!("json_insert(j{})", ", '$[#]', 2".repeat(499)),
        ] {
            let started = Instant::now();
            let err = one(&sb, &format!("{doc} SELECT length({call}) FROM d")).unwrap_err();
            assert!(
                matches!(err, Error::Refused(Refusal::TooMuchWork { .. })),
                "{}: {err}",
                &call[..20]
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}",
                &call[..20]
            );
        }
        // One path over the same document, or a few over a small one, run.
        assert_eq!(
            one(
                &sb,
                &format!("{doc} SELECT json_extract(j, '$[#-1]') FROM d")
            )
            .unwrap(),
            vec![Value::Int(1)]
        );
        assert_eq!(
            one(
                &sb,
                "SELECT json_extract('{\"a\":1,\"b\":2}', '$.a', '$.b', '$.c')"
            )
            .unwrap(),
            vec![Value::Text("[1,2,null]".into())]
        );
    }

    /// A JSON function past the value limit on the private connection is
    /// refused for that limit (exit 3), as the same call of SQLite's would
    /// be: the guard kept SQLite's message but lost its code, and the
    /// sandbox reported a failed statement.
    #[test]
    fn json_calls_past_the_value_limit_are_refused_for_it() {
        let sb = sandbox(Limits::default());
        for sql in [
            "SELECT length(json_array(printf('%.*c', 9000000, 'a'), printf('%.*c', 9000000, 'a')))",
            "SELECT length(json_set('[]', '$[0]', printf('%.*c', 9000000, 'a'), '$[1]', printf('%.*c', 9000000, 'a')))",
        ] {
            let err = one(&sb, sql).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Refused(Refusal::ValueTooLarge { limit: 16777216 })
                ),
                "{sql}: {err:?}"
            );
        }
    }

    /// The JSON aggregates keep their text in Rust's memory, outside
    /// SQLite's heap limit: 400 of them in one statement, 15 MB each, took
    /// the process past 2 GiB and aborted it. All of a sandbox's JSON
    /// aggregates together hold at most `max_value_bytes`.
    #[test]
    fn json_aggregates_together_hold_at_most_the_value_limit() {
        let sb = sandbox(Limits {
            max_value_bytes: 1 << 20,
            ..Limits::default()
        });
        let columns = |n: usize| {
            (0..n)
                .map(|i| format!("length(json_group_array(json('\"{i}' || printf('%.*c', 1000, 'a') || '\"')))"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = |n: usize, rows: usize| {
            format!(
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i<{rows}) SELECT {} FROM r",
                columns(n)
            )
        };
        // One of 900 KB fits; forty of them do not, together.
        assert_eq!(one(&sb, &sql(1, 900)).unwrap().len(), 1);
        let err = one(&sb, &sql(40, 900)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Refused(Refusal::ValueTooLarge { limit: 1048576 })
            ),
            "{err}"
        );
        // What they held is given back: the sandbox stays usable.
        assert_eq!(one(&sb, &sql(2, 400)).unwrap().len(), 2);
        assert_eq!(one(&sb, &sql(1, 900)).unwrap().len(), 1);
    }

    /// where the progress handler never runs, now end at once.
    #[test]
    fn calls_past_the_work_limit_are_refused_at_once() {
        let sb = sandbox(Limits::default());
        let cases = [
            (
                "SELECT printf('%.*c',1500000,'a') LIKE '%'||printf('%.*c',30000,'a')||'b'",
                "refused by the sandbox: a LIKE or GLOB pattern longer than 10000 bytes",
            ),
            (
                "SELECT printf('%.*c',1500000,'a') LIKE '%'||printf('%.*c',3000,'a')||'b'",
                "refused by the sandbox: like() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                "SELECT instr(printf('%.*c',16000000,'a'), printf('%.*c',128000,'a')||'b')",
                "refused by the sandbox: instr() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                "SELECT instr(zeroblob(16000000), zeroblob(128000))",
                "refused by the sandbox: instr() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                "SELECT replace(printf('%.*c',1000000,'a'), printf('%.*c',1000,'a')||'b', 'x')",
                "refused by the sandbox: replace() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                "SELECT rtrim(printf('%.*c',1000000,'a'), printf('%.*c',1000,'b')||'a')",
                "refused by the sandbox: rtrim() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                "SELECT printf('%.*c',1000000,'a') GLOB '*'||printf('%.*c',1000,'a')||'b'",
                "refused by the sandbox: glob() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                // Two objects of 100,000 members: 404 s in one call before.
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i<100000), \
                 a(doc) AS (SELECT json_group_object('k'||i, i) FROM r) \
                 SELECT length(json_patch(a.doc, a.doc)) FROM a",
                "refused by the sandbox: json_patch() on inputs whose lengths multiply to more than 67108864 (work limit of one call)",
            ),
            (
                "SELECT length(zeroblob(17000000))",
                "refused by the sandbox: a text or blob value longer than 16777216 bytes",
            ),
        ];
        for (sql, message) in cases {
            let started = Instant::now();
            let err = one(&sb, sql).unwrap_err();
            assert!(matches!(err, Error::Refused(_)), "{sql}: {err:?}");
            assert_eq!(err.to_string(), message, "{sql}");
            assert!(started.elapsed() < Duration::from_secs(5), "{sql}");
        }
        // Work within the limit runs, and the sandbox stays usable.
        assert_eq!(
            one(&sb, "SELECT instr(printf('%.*c',1000000,'a'), 'ab')").unwrap(),
            vec![Value::Int(0)]
        );
    }

    /// Statements of 0.3 s each (their own limit) against a session limit
    /// of 1 s: the fourth is interrupted where the session's time runs out,
    /// and nothing runs after it.
    #[test]
    fn the_session_time_limit_holds_across_statements() {
        let sb = sandbox(Limits {
            statement_time: Duration::from_millis(300),
            session_statement_time: Duration::from_secs(1),
            ..Limits::default()
        });
        let slow =
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
        let started = Instant::now();
        let mut timeouts = 0;
        let err = loop {
            match one(&sb, slow) {
                Err(Error::Timeout { limit_ms: 300 }) => timeouts += 1,
                Err(e) => break e,
                Ok(v) => panic!("{v:?}"),
            }
            assert!(timeouts < 10);
        };
        let took = started.elapsed();
        assert_eq!(timeouts, 3);
        assert!(
            matches!(err, Error::SessionTimeLimit { limit_ms: 1000 }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the session's statements ran 1000 ms in total (session time limit): no more statements run"
        );
        assert!(took < Duration::from_secs(20), "took {took:?}");
        // Used up: nothing more runs, not even a trivial statement.
        assert!(matches!(
            sb.run("SELECT 1", &[]),
            Err(Error::SessionTimeLimit { limit_ms: 1000 })
        ));
    }

    /// Results are cut at the row and the byte limits, and say where.
    #[test]
    fn results_are_cut_at_rows_and_bytes() {
        let sb = sandbox(Limits {
            max_result_rows: 5,
            max_result_bytes: 1 << 20,
            ..Limits::default()
        });
        let script = |n: u32, size: u32| {
            format!(
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i<{n}) \
                 SELECT i, zeroblob({size}) FROM r"
            )
        };
        let q = |sql: &str| sb.run(sql, &[]).unwrap().pop().unwrap().rows.unwrap();
        let all = q(&script(5, 10));
        assert_eq!((all.rows.len(), all.cut), (5, None));
        let rows = q(&script(6, 10));
        assert_eq!(
            (rows.rows.len(), rows.cut),
            (5, Some(Cut::Rows { limit: 5 }))
        );
        let bytes = q(&script(5, 400_000));
        assert_eq!(
            (bytes.rows.len(), bytes.cut),
            (2, Some(Cut::Bytes { limit: 1 << 20 }))
        );
        // A write whose RETURNING rows are cut is whole, and counts its rows.
        sb.run(
            &script(8, 0).replace("SELECT i, zeroblob(0)", "INSERT INTO t SELECT i"),
            &[],
        )
        .unwrap();
        let results = sb
            .run("UPDATE t SET id = id + 100 RETURNING id", &[])
            .unwrap();
        let r = results.first().unwrap();
        assert_eq!(r.rows_affected, 8);
        let q = r.rows.as_ref().unwrap();
        assert_eq!((q.rows.len(), q.cut), (5, Some(Cut::Rows { limit: 5 })));
        assert_eq!(
            one(&sb, "SELECT count(*) FROM t WHERE id > 100").unwrap(),
            vec![Value::Int(8)]
        );
        // The bytes are the whole call's: a script of three shares them.
        let results = sb
            .run(&[script(2, 400_000), script(2, 400_000)].join(";"), &[])
            .unwrap();
        let kept: Vec<(usize, Option<Cut>)> = results
            .iter()
            .map(|r| {
                let q = r.rows.as_ref().unwrap();
                (q.rows.len(), q.cut)
            })
            .collect();
        assert_eq!(
            kept,
            vec![(2, None), (0, Some(Cut::Bytes { limit: 1 << 20 }))]
        );
        assert_eq!(
            bytes.cut.unwrap().to_string(),
            "the result was cut at 1048576 bytes (max_result_bytes): select fewer or smaller values"
        );
        assert_eq!(
            Cut::Rows { limit: 5 }.to_string(),
            "the result was cut at 5 rows (max_result_rows): add a LIMIT"
        );
    }

    /// Column names count against the result's bytes: an alias of 60 KB
    /// repeated by a `*` over a join of 40 is 2.4 MB of names from a
    /// statement of 60 KB; past the bytes left the result is cut before a
    /// name is copied.
    #[test]
    fn long_column_names_count_against_the_result_bytes() {
        let sb = sandbox(Limits {
            max_result_bytes: 1 << 20,
            ..Limits::default()
        });
        let join = |n: usize, name: usize| {
            let from: Vec<String> = (0..n).map(|i| format!("c a{i}")).collect();
            format!(
                "WITH c AS MATERIALIZED (SELECT 1 AS \"{}\") SELECT * FROM {}",
                "n".repeat(name),
                from.join(", ")
            )
        };
        let q = |sql: &str| sb.run(sql, &[]).unwrap().pop().unwrap().rows.unwrap();
        let cut = q(&join(40, 60_000));
        assert_eq!(
            (cut.columns.len(), cut.rows.len(), cut.cut),
            (0, 0, Some(Cut::Bytes { limit: 1 << 20 }))
        );
        let whole = q(&join(4, 60_000));
        assert_eq!(
            (whole.columns.len(), whole.rows.len(), whole.cut),
            (4, 1, None)
        );
    }

    #[test]
    fn the_session_clock_counts_statement_time_only() {
        let clock = SessionClock::new(Duration::from_secs(10));
        let s = Duration::from_secs;
        assert_eq!(clock.start(s(0), s(5)), s(5));
        clock.stop(s(4));
        // Time between statements is not counted.
        assert_eq!(clock.start(s(100), s(5)), s(5));
        assert!(!clock.capped());
        clock.stop(s(103));
        assert_eq!(clock.start(s(200), s(5)), s(3));
        assert!(clock.capped());
        clock.stop(s(203));
        assert!(clock.exhausted());
    }
}
