//! The depth of JSONB the sandbox's JSON functions read, and the JSON
//! aggregates behind their guard.
//!
//! SQLite reads a BLOB argument of a JSON function as JSONB after a
//! superficial check (header and total size; the full validation, which
//! bounds the depth, only runs on blobs of seven payload bytes or fewer), and
//! it renders and searches JSONB by recursion without a depth limit: a blob
//! nested 15,000 deep, which `unhex()` builds in one statement, overflows a
//! 2 MiB thread stack and aborts the whole process. JSON *text* is bounded
//! at 1,000 levels by SQLite's parser. So every JSON function the sandbox
//! allows (the scalar ones in [`crate::sandbox::bounds`], the aggregates here)
//! measures the nesting of each BLOB argument first, without recursion, and
//! refuses past the same 1,000 levels; then SQLite's own function does the
//! work on a private connection ([`Delegate`]), so the result is SQLite's.
//! `json_each` and `json_tree` are tables, not functions: nothing can stand
//! in front of them, so the walls refuse them.

use std::collections::VecDeque;
use std::sync::Arc;

use rusqlite::functions::{Aggregate, Context, FunctionFlags, WindowAggregate};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ffi};

use crate::error::Refusal;
use crate::sandbox::Limits;
use crate::sandbox::bounds::{Delegate, JSON_SUBTYPE, refused};

/// SQLite's own bound on the nesting of JSON text (`JSON_MAX_DEPTH`).
pub(crate) const MAX_DEPTH: usize = 1000;

/// JSONB element types of the two containers.
const JSONB_ARRAY: u8 = 11;
const JSONB_OBJECT: u8 = 12;

/// The JSONB header at `i`: the element type, the header's length and the
/// payload's size; `None` past the end.
fn header(b: &[u8], i: usize) -> Option<(u8, usize, usize)> {
    let first = *b.get(i)?;
    let bytes = |n: usize| b.get(i + 1..i + 1 + n);
    let be = |n: usize| -> Option<usize> {
        bytes(n)?.iter().try_fold(0usize, |acc, &x| {
            acc.checked_mul(256)?.checked_add(usize::from(x))
        })
    };
    let (len, size) = match first >> 4 {
        n @ 0..=11 => (1, usize::from(n)),
        12 => (2, be(1)?),
        13 => (3, be(2)?),
        14 => (5, be(4)?),
        _ => (9, be(8)?),
    };
    Some((first & 0x0f, len, size))
}

/// The deepest nesting of arrays and objects in `b` read as JSONB, as
/// SQLite's recursion would reach it, counted with a stack of container
/// ends instead of recursion; it stops counting past [`MAX_DEPTH`].
pub(crate) fn jsonb_depth(b: &[u8]) -> usize {
    // Every level takes at least one byte.
    if b.len() <= MAX_DEPTH {
        return 0;
    }
    let mut ends: Vec<usize> = Vec::new();
    let mut deepest = 0;
    let mut i = 0;
    while i < b.len() {
        while ends.last().is_some_and(|&end| end <= i) {
            ends.pop();
        }
        let Some((kind, len, size)) = header(b, i) else {
            break;
        };
        if kind == JSONB_ARRAY || kind == JSONB_OBJECT {
            ends.push(i.saturating_add(len).saturating_add(size));
            deepest = deepest.max(ends.len());
            if deepest > MAX_DEPTH {
                break;
            }
            i += len;
        } else {
            i = i.saturating_add(len).saturating_add(size);
        }
    }
    deepest
}

/// Why a call of `function` on these arguments is refused: a BLOB nested
/// deeper than [`MAX_DEPTH`].
pub(crate) fn too_deep<'a>(
    function: &str,
    mut args: impl Iterator<Item = ValueRef<'a>>,
) -> Option<Refusal> {
    args.any(|v| matches!(v, ValueRef::Blob(b) if jsonb_depth(b) > MAX_DEPTH))
        .then(|| Refusal::JsonTooDeep {
            function: function.to_owned(),
            limit: MAX_DEPTH,
        })
}

/// One of `json_group_array`, `json_group_object` and their JSONB forms,
/// as aggregate and window function. Each row's member is rendered by
/// SQLite's `json_quote` (what SQLite's own aggregate appends), the members
/// are kept apart so that the window's inverse removes the first one, and
/// the result is assembled as SQLite assembles it.
struct Group {
    name: &'static str,
    object: bool,
    jsonb: bool,
    delegate: Arc<Delegate>,
    refuse: Arc<dyn Fn(Refusal) + Send + Sync>,
    max_bytes: usize,
}

/// The members so far, and their length with the separators.
#[derive(Default)]
struct Members {
    items: VecDeque<String>,
    bytes: usize,
}

type Output = (SqlValue, Option<u32>);

fn too_big() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_TOOBIG),
        Some("string or blob too big".into()),
    )
}

/// `text` as a JSON string, as SQLite's `jsonAppendString` writes it:
/// `"` and `\` escaped, the five control characters JSON names by a letter
/// and the others as `\u00xx`, every other byte (UTF-8 included) as it is.
fn json_string(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    out.push(b'"');
    for &c in text {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
    out
}

fn utf8(name: &str, bytes: Vec<u8>) -> rusqlite::Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_MISMATCH),
            Some(format!("{name}() was given text that is not UTF-8")),
        )
    })
}

impl Group {
    /// Argument `i` as SQLite's aggregate appends it (`jsonAppendSqlValue`):
    /// the plain forms here, a float and a BLOB by SQLite's `json_quote`.
    fn quote(&self, ctx: &Context<'_>, i: usize) -> rusqlite::Result<String> {
        let value = ctx.get_raw(i);
        match value {
            ValueRef::Null => return Ok("null".into()),
            ValueRef::Integer(n) => return Ok(n.to_string()),
            ValueRef::Text(t) if ctx.get_subtype(i) == JSON_SUBTYPE => {
                return utf8(self.name, t.to_vec());
            }
            ValueRef::Text(t) => return utf8(self.name, json_string(t)),
            ValueRef::Real(_) | ValueRef::Blob(_) => {}
        }
        if let Some(why) = too_deep(self.name, std::iter::once(value)) {
            let err = refused(&why);
            (self.refuse)(why);
            return Err(err);
        }
        match self.delegate.call(self.name, "json_quote(?1)", &[value])?.0 {
            SqlValue::Text(t) => Ok(t),
            _ => Ok("null".into()),
        }
    }

    /// The member of this row, `None` for an object member without a name
    /// (SQLite skips it).
    fn member(&self, ctx: &Context<'_>) -> rusqlite::Result<Option<String>> {
        if !self.object {
            return self.quote(ctx, 0).map(Some);
        }
        // SQLite reads the name as text, as a C string: up to its first NUL.
        let name: Vec<u8> = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(None),
            ValueRef::Integer(n) => n.to_string().into_bytes(),
            ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
            real @ ValueRef::Real(_) => {
                match self
                    .delegate
                    .call(self.name, "CAST(?1 AS TEXT)", &[real])?
                    .0
                {
                    SqlValue::Text(t) => t.into_bytes(),
                    _ => return Ok(None),
                }
            }
        };
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        let key = utf8(self.name, json_string(name))?;
        Ok(Some(format!("{key}:{}", self.quote(ctx, 1)?)))
    }

    fn result(&self, members: Option<&Members>) -> rusqlite::Result<Output> {
        let (open, close) = if self.object { ('{', '}') } else { ('[', ']') };
        let mut text = String::with_capacity(members.map_or(0, |m| m.bytes) + 2);
        text.push(open);
        for (n, item) in members.iter().flat_map(|m| m.items.iter()).enumerate() {
            if n > 0 {
                text.push(',');
            }
            text.push_str(item);
        }
        text.push(close);
        if self.jsonb {
            let blob = self
                .delegate
                .call(self.name, "jsonb(?1)", &[ValueRef::Text(text.as_bytes())])?
                .0;
            Ok((blob, None))
        } else {
            Ok((SqlValue::Text(text), Some(JSON_SUBTYPE)))
        }
    }
}

impl Aggregate<Members, Output> for Group {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Members> {
        Ok(Members::default())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Members) -> rusqlite::Result<()> {
        if let Some(member) = self.member(ctx)? {
            acc.bytes = acc.bytes.saturating_add(member.len() + 1);
            if acc.bytes.saturating_add(2) > self.max_bytes {
                return Err(too_big());
            }
            acc.items.push_back(member);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<Members>) -> rusqlite::Result<Output> {
        self.result(acc.as_ref())
    }
}

impl WindowAggregate<Members, Output> for Group {
    fn value(&self, acc: Option<&mut Members>) -> rusqlite::Result<Output> {
        self.result(acc.map(|m| &*m))
    }

    fn inverse(&self, _: &mut Context<'_>, acc: &mut Members) -> rusqlite::Result<()> {
        if let Some(first) = acc.items.pop_front() {
            acc.bytes = acc.bytes.saturating_sub(first.len() + 1);
        }
        Ok(())
    }
}

/// Replaces SQLite's JSON aggregates on `conn` by [`Group`]s.
pub(crate) fn guard_aggregates(
    conn: &Connection,
    delegate: &Arc<Delegate>,
    limits: &Limits,
    refuse: &Arc<dyn Fn(Refusal) + Send + Sync>,
) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS
        | FunctionFlags::SQLITE_SUBTYPE
        | FunctionFlags::SQLITE_RESULT_SUBTYPE;
    for (name, object, jsonb) in [
        ("json_group_array", false, false),
        ("jsonb_group_array", false, true),
        ("json_group_object", true, false),
        ("jsonb_group_object", true, true),
    ] {
        let group = Group {
            name,
            object,
            jsonb,
            delegate: Arc::clone(delegate),
            refuse: Arc::clone(refuse),
            max_bytes: limits.max_value_bytes,
        };
        conn.create_window_function(name, if object { 2 } else { 1 }, flags, group)?;
    }
    Ok(())
}
