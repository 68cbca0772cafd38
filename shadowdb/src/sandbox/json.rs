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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::functions::{Aggregate, Context, FunctionFlags, WindowAggregate};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ffi};

use crate::error::Refusal;
use crate::sandbox::Limits;
use crate::sandbox::bounds::{Delegate, JSON_SUBTYPE, Out, refused, unexpected};

/// SQLite's own bound on the nesting of JSON text (`JSON_MAX_DEPTH`).
pub(crate) const MAX_DEPTH: usize = 1000;

/// JSONB element types: `false` (the last of `null`, `true`, `false`), and
/// the two containers.
const JSONB_FALSE: u8 = 2;
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
        if kind <= JSONB_FALSE && len + size != 1 {
            // SQLite renders `null`, `true` and `false` as one byte, size or
            // no size, but skips them by their size when it searches: with a
            // size, a blob is read as two different streams of elements, and
            // nesting hidden in what this count skips (arrays that overran
            // no stack here) overflowed the stack in `json()`. SQLite's full
            // check refuses such a blob as malformed; so does this one.
            return MAX_DEPTH + 1;
        }
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
/// as aggregate and window function: a port of SQLite's own
/// (`jsonArrayStep`, `jsonObjectStep`, `jsonGroupInverse`, ...). Each row's
/// member is rendered as SQLite's aggregate appends it (by SQLite's
/// `json_quote` for a float or a BLOB) onto one text, the window's inverse
/// removes the text up to the first comma outside strings and brackets as
/// SQLite's does, and the result is that text, closed.
struct Group {
    name: &'static str,
    object: bool,
    jsonb: bool,
    delegate: Arc<Delegate>,
    refuse: Arc<dyn Fn(Refusal) + Send + Sync>,
    max_bytes: usize,
    /// Bytes held by every JSON aggregate of the sandbox at once: this
    /// memory is Rust's, outside SQLite's heap limit, so all of them
    /// together hold at most `max_bytes`.
    held: Arc<AtomicUsize>,
}

/// SQLite's text of the aggregate so far: the opening bracket and the
/// members with their commas, not yet closed; empty before the first row.
struct Members {
    text: Vec<u8>,
    /// Bytes of `text` counted in the sandbox's `held`.
    charged: usize,
    held: Arc<AtomicUsize>,
}

impl Drop for Members {
    fn drop(&mut self) {
        self.held.fetch_sub(self.charged, Ordering::Relaxed);
    }
}

impl Members {
    /// Appends `parts`, within `max_bytes` for this text (closed) and for
    /// the texts of all aggregates together.
    fn append(&mut self, parts: &[&[u8]], max_bytes: usize) -> rusqlite::Result<()> {
        let len = parts
            .iter()
            .fold(self.text.len(), |n, p| n.saturating_add(p.len()));
        if len.saturating_add(1) > max_bytes {
            return Err(too_big());
        }
        if len > self.charged {
            let grown = len.max(self.charged.saturating_mul(2)).min(max_bytes);
            let more = grown - self.charged;
            let before = self.held.fetch_add(more, Ordering::Relaxed);
            if before.saturating_add(more) > max_bytes {
                self.held.fetch_sub(more, Ordering::Relaxed);
                return Err(too_big());
            }
            self.charged = grown;
            self.text.reserve_exact(grown - self.text.len());
        }
        for p in parts {
            self.text.extend_from_slice(p);
        }
        Ok(())
    }

    /// SQLite's `jsonGroupInverse`: removes the text from after the
    /// opening bracket through the first comma outside strings and
    /// brackets, or all of it if there is none.
    fn remove_first(&mut self) {
        let z = &self.text;
        let mut in_str = false;
        let mut nest = 0i64;
        let mut i = 1;
        while let Some(&c) = z.get(i) {
            if c == b',' && !in_str && nest == 0 {
                break;
            }
            if c == b'"' {
                in_str = !in_str;
            } else if c == b'\\' {
                i += 1;
            } else if !in_str {
                if c == b'{' || c == b'[' {
                    nest += 1;
                }
                if c == b'}' || c == b']' {
                    nest -= 1;
                }
            }
            i += 1;
        }
        if i < z.len() {
            self.text.drain(1..=i);
        } else {
            self.text.truncate(1);
        }
    }
}

type Output = (Out, Option<u32>);

/// SQLite's error for a value past its length limit. Without a message of
/// its own: `sqlite3_result_error` would turn the code into `SQLITE_ERROR`,
/// and the sandbox would not know it for the value limit.
fn too_big() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
}

/// `text` as a JSON string, as SQLite's `jsonAppendString` writes it:
/// `"` and `\` escaped, the five control characters JSON names by a letter
/// and the others as `\u00xx`, every other byte (UTF-8 or not) as it is.
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

impl Group {
    /// Argument `i` as SQLite's aggregate appends it (`jsonAppendSqlValue`):
    /// the plain forms here, a float and a BLOB by SQLite's `json_quote`.
    fn quote(&self, ctx: &Context<'_>, i: usize) -> rusqlite::Result<Vec<u8>> {
        let value = ctx.get_raw(i);
        match value {
            ValueRef::Null => return Ok(b"null".to_vec()),
            ValueRef::Integer(n) => return Ok(n.to_string().into_bytes()),
            ValueRef::Text(t) if ctx.get_subtype(i) == JSON_SUBTYPE => return Ok(t.to_vec()),
            ValueRef::Text(t) => return Ok(json_string(t)),
            ValueRef::Real(_) | ValueRef::Blob(_) => {}
        }
        if let Some(why) = too_deep(self.name, std::iter::once(value)) {
            let err = refused(&why);
            (self.refuse)(why);
            return Err(err);
        }
        match self.delegate.call("json_quote(?1)", &[value])?.0 {
            Out::Text(t) => Ok(t),
            _ => Err(unexpected("json_quote() gave no text")),
        }
    }

    /// The name of this row's object member as SQLite reads it: as text,
    /// as a C string (up to its first NUL); `None` for NULL.
    fn name(&self, ctx: &Context<'_>) -> rusqlite::Result<Option<Vec<u8>>> {
        let name: Vec<u8> = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(None),
            ValueRef::Integer(n) => n.to_string().into_bytes(),
            ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
            real @ ValueRef::Real(_) => match self.delegate.call("CAST(?1 AS TEXT)", &[real])?.0 {
                Out::Text(t) => t,
                _ => return Err(unexpected("a float cast as text gave no text")),
            },
        };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Ok(Some(name.get(..end).unwrap_or_default().to_vec()))
    }

    fn result(&self, members: Option<&Members>) -> rusqlite::Result<Output> {
        let Some(text) = members.map(|m| &m.text).filter(|t| !t.is_empty()) else {
            // No row was ever added: SQLite's text, for the JSONB forms too.
            let empty: &[u8] = if self.object { b"{}" } else { b"[]" };
            return Ok((Out::Text(empty.to_vec()), Some(JSON_SUBTYPE)));
        };
        if self.jsonb && !self.object {
            // SQLite's own aggregate, given what follows the bracket as
            // one JSON member, builds this very text and converts it as it
            // converts its own, even where the text is not valid JSON.
            let rest = text.get(1..).unwrap_or_default();
            let blob = self
                .delegate
                .call("jsonb_group_array(shadowdb_j(?1))", &[ValueRef::Text(rest)])?
                .0;
            return Ok((blob, None));
        }
        let mut closed = Vec::with_capacity(text.len() + 1);
        closed.extend_from_slice(text);
        closed.push(if self.object { b'}' } else { b']' });
        if self.jsonb {
            let blob = self
                .delegate
                .call("jsonb(?1)", &[ValueRef::Text(&closed)])?
                .0;
            Ok((blob, None))
        } else {
            Ok((Out::Text(closed), Some(JSON_SUBTYPE)))
        }
    }
}

impl Aggregate<Members, Output> for Group {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Members> {
        Ok(Members {
            text: Vec::new(),
            charged: 0,
            held: Arc::clone(&self.held),
        })
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Members) -> rusqlite::Result<()> {
        let (open, name) = if self.object {
            (b"{", self.name(ctx)?)
        } else {
            (b"[", None)
        };
        let comma: &[u8] = if acc.text.is_empty() {
            open
        } else if acc.text.len() > 1 && (!self.object || name.is_some()) {
            b","
        } else {
            b""
        };
        if !self.object {
            let value = self.quote(ctx, 0)?;
            return acc.append(&[comma, &value], self.max_bytes);
        }
        match name {
            None => acc.append(&[comma], self.max_bytes),
            Some(name) => {
                let value = self.quote(ctx, 1)?;
                acc.append(&[comma, &json_string(&name), b":", &value], self.max_bytes)
            }
        }
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
        acc.remove_first();
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
    let held = Arc::new(AtomicUsize::new(0));
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
            held: Arc::clone(&held),
        };
        conn.create_window_function(name, if object { 2 } else { 1 }, flags, group)?;
    }
    Ok(())
}
