//! [`CloneBatch`]: cloned rows on their way from production into the
//! sandbox, already in the form the sandbox stores. It lives with the
//! driver layer, which fills it, so that `prod` does not depend on the
//! sandbox that empties it (`Sandbox::load`).

use rusqlite::types::{ToSqlOutput, ValueRef};
use safemodel::Value;

use crate::value::datetime::push_time_text;

/// Cloned rows on their way into the sandbox, already as it stores them
/// (the sandbox's `to_sandbox`): the values in one list, text and bytes in one buffer
/// each. A batch is a few allocations instead of one a value, which counts
/// twice: its reader and the sandbox run on different threads.
#[derive(Debug, Default)]
pub(crate) struct CloneBatch {
    // why `pub(crate)`: the sandbox's loader binds the cells in place.
    pub(crate) cells: Vec<Cell>,
    pub(crate) text: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) rows: usize,
}

/// One value of a [`CloneBatch`]; text and bytes are ranges of its buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

impl CloneBatch {
    /// An empty batch with room for as much as this one holds.
    pub(crate) fn empty_like(&self) -> CloneBatch {
        CloneBatch {
            cells: Vec::with_capacity(self.cells.len()),
            text: String::with_capacity(self.text.len()),
            bytes: Vec::with_capacity(self.bytes.len()),
            rows: 0,
        }
    }

    /// Empties the batch, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.cells.clear();
        self.text.clear();
        self.bytes.clear();
        self.rows = 0;
    }

    /// Appends `v` as the sandbox's `to_sandbox` stores it.
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

    /// Binds `cell` of this batch as parameter `idx` of `stmt`.
    pub(crate) fn bind(
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
