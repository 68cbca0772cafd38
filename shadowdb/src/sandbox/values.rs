//! Values crossing the sandbox's edge: what a statement hands back to the
//! agent ([`StatementResult`], [`QueryResult`], [`Cut`]) and how a
//! production value is stored in SQLite and read back.

use rusqlite::types::{Value as SqlValue, ValueRef};
use safemodel::Value;

use crate::value::datetime::push_time_text;

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
    /// At [`Limits::max_result_rows`](super::Limits::max_result_rows) rows.
    Rows {
        /// The limit in rows.
        limit: usize,
    },
    /// At [`Limits::max_result_bytes`](super::Limits::max_result_bytes) bytes.
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

/// A literal for a DEFAULT clause (the tenant value).
pub(super) fn literal(v: &SqlValue) -> String {
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
