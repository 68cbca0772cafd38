//! Production values decoded into [`Value`]s, strictly: a value the driver
//! cannot hand over exactly is an error naming why (never the value), and
//! [`FetchError::into_error`] turns it into [`Error::Decode`].

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use safemodel::{Decimal, Json, Value};
use sqlx::{Row as _, ValueRef as _};

use crate::error::Error;
use crate::model::ColumnSchema;
use crate::types::ColumnKind;
use crate::value::datetime::{parse_instant, parse_naive_timestamp};
use crate::value::float::format_float;

pub(super) fn decode_pg(
    row: &sqlx::postgres::PgRow,
    i: usize,
    col: &ColumnSchema,
) -> std::result::Result<Value, String> {
    // One lookup a value: `Option` reads NULL as `None`, and checks the
    // type of anything else as a plain `T` would.
    fn get<'r, T>(
        row: &'r sqlx::postgres::PgRow,
        i: usize,
    ) -> std::result::Result<Option<T>, String>
    where
        T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        row.try_get::<Option<T>, _>(i).map_err(|e| e.to_string())
    }
    let v = match &col.kind {
        ColumnKind::Bool => get::<bool>(row, i)?.map(Value::Bool),
        ColumnKind::Int16 => get::<i16>(row, i)?.map(|v| Value::Int(v.into())),
        ColumnKind::Int32 => get::<i32>(row, i)?.map(|v| Value::Int(v.into())),
        ColumnKind::Int64 | ColumnKind::UInt64 => get::<i64>(row, i)?.map(Value::Int),
        ColumnKind::Float32 => get::<f32>(row, i)?.map(|v| Value::Float(v.into())),
        ColumnKind::Float64 => get::<f64>(row, i)?.map(Value::Float),
        ColumnKind::Bytes => get::<Vec<u8>>(row, i)?.map(Value::Bytes),
        ColumnKind::Uuid => get::<uuid::Uuid>(row, i)?.map(Value::Uuid),
        ColumnKind::Date => get::<NaiveDate>(row, i)?.map(Value::Date),
        ColumnKind::Time => get::<NaiveTime>(row, i)?.map(Value::Time),
        ColumnKind::Timestamp => get::<NaiveDateTime>(row, i)?.map(Value::Timestamp),
        ColumnKind::TimestampTz => get::<DateTime<Utc>>(row, i)?.map(Value::TimestampTz),
        ColumnKind::Decimal | ColumnKind::Json => {
            return match get::<String>(row, i)? {
                Some(s) => text_kind(&col.kind, Value::Text(s)),
                None => Ok(Value::Null),
            };
        }
        _ => get::<String>(row, i)?.map(Value::Text),
    };
    Ok(v.unwrap_or(Value::Null))
}

/// An unsigned MySQL integer as a value: one above `i64::MAX` has no exact
/// form in the sandbox.
fn unsigned(v: u64) -> std::result::Result<Value, String> {
    i64::try_from(v)
        .map(Value::Int)
        .map_err(|_| "an unsigned value above 9223372036854775807".to_owned())
}

fn decode_mysql(
    row: &sqlx::mysql::MySqlRow,
    i: usize,
    col: &ColumnSchema,
) -> std::result::Result<Value, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let r = match &col.kind {
        ColumnKind::Bool => {
            // `tinyint(1)` holds -128..=127: only 0 and 1 are booleans, any
            // other value would come back as 1 and then never match its guard.
            let v = row.try_get::<i8, _>(i).map_err(|e| e.to_string())?;
            return match v {
                0 => Ok(Value::Bool(false)),
                1 => Ok(Value::Bool(true)),
                _ => Err("a tinyint(1) boolean holding a value other than 0 or 1".to_owned()),
            };
        }
        ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 => {
            // An unsigned column (`int unsigned`) decodes only as an unsigned type.
            match row.try_get::<i64, _>(i) {
                Ok(v) => Ok(Value::Int(v)),
                Err(signed) => {
                    let v = row.try_get::<u64, _>(i).map_err(|_| signed.to_string())?;
                    return unsigned(v);
                }
            }
        }
        ColumnKind::UInt64 => {
            let v = row.try_get::<u64, _>(i).map_err(|e| e.to_string())?;
            return unsigned(v);
        }
        ColumnKind::Float32 => row.try_get::<f32, _>(i).map(|v| Value::Float(v.into())),
        ColumnKind::Float64 => row.try_get::<f64, _>(i).map(Value::Float),
        ColumnKind::Bytes => row.try_get::<Vec<u8>, _>(i).map(Value::Bytes),
        ColumnKind::Uuid => {
            let s = row.try_get::<String, _>(i).map_err(|e| e.to_string())?;
            return uuid::Uuid::parse_str(&s)
                .map(Value::Uuid)
                .map_err(|_| "not a UUID".to_owned());
        }
        ColumnKind::Date => row.try_get::<NaiveDate, _>(i).map(Value::Date),
        ColumnKind::Time => row.try_get::<NaiveTime, _>(i).map(Value::Time),
        ColumnKind::Timestamp => row.try_get::<NaiveDateTime, _>(i).map(Value::Timestamp),
        ColumnKind::TimestampTz => row.try_get::<DateTime<Utc>, _>(i).map(Value::TimestampTz),
        _ => row.try_get::<String, _>(i).map(Value::Text),
    };
    r.map_err(|e| e.to_string())
        .and_then(|v| text_kind(&col.kind, v))
}

fn decode_sqlite(
    row: &sqlx::sqlite::SqliteRow,
    i: usize,
    col: &ColumnSchema,
) -> std::result::Result<Value, String> {
    use sqlx::TypeInfo as _;
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    // SQLite is dynamically typed: go by what is stored, then check it fits the kind.
    let stored = raw.type_info().name().to_owned();
    let stored_value = match stored.as_str() {
        "INTEGER" => Value::Int(row.try_get::<i64, _>(i).map_err(|e| e.to_string())?),
        "REAL" => Value::Float(row.try_get::<f64, _>(i).map_err(|e| e.to_string())?),
        "BLOB" => Value::Bytes(row.try_get::<Vec<u8>, _>(i).map_err(|e| e.to_string())?),
        _ => Value::Text(row.try_get::<String, _>(i).map_err(|e| e.to_string())?),
    };
    from_sqlite_storage(&col.kind, stored_value)
}

/// [`from_sqlite_storage`], handing `v` back with the reason when it does
/// not fit, without copying it when it does (the diff reads every value of
/// every changed row through here).
pub(crate) fn sqlite_value_as(
    kind: &ColumnKind,
    v: Value,
) -> std::result::Result<Value, (Value, String)> {
    let parsed = match (kind, &v) {
        (_, Value::Null)
        | (
            ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::UInt64,
            Value::Int(_),
        )
        | (ColumnKind::Float32 | ColumnKind::Float64, Value::Float(_))
        | (ColumnKind::Bytes, Value::Bytes(_))
        | (
            ColumnKind::Text | ColumnKind::Interval | ColumnKind::Enum(_) | ColumnKind::Array,
            Value::Text(_),
        ) => return Ok(v),
        (ColumnKind::TimestampTz, Value::Text(s)) => parse_instant(s).map(Value::TimestampTz),
        (ColumnKind::Timestamp, Value::Text(s)) => parse_naive_timestamp(s).map(Value::Timestamp),
        _ => None,
    };
    match parsed {
        Some(typed) => Ok(typed),
        None => from_sqlite_storage(kind, v.clone()).map_err(|m| (v, m)),
    }
}

/// Turns a SQLite storage value (INTEGER, REAL, TEXT, BLOB) into the column's
/// kind, strictly. Shared by the SQLite production reader and the sandbox.
pub(crate) fn from_sqlite_storage(
    kind: &ColumnKind,
    v: Value,
) -> std::result::Result<Value, String> {
    let expected = |what: &str, got: &Value| format!("expected {what}, got {}", got.kind_name());
    Ok(match (kind, v) {
        (_, Value::Null) => Value::Null,
        (ColumnKind::Bool, Value::Int(0)) => Value::Bool(false),
        (ColumnKind::Bool, Value::Int(1)) => Value::Bool(true),
        (ColumnKind::Bool, Value::Int(_)) => return Err("a boolean is 0 or 1".to_owned()),
        (
            ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::UInt64,
            Value::Int(i),
        ) => Value::Int(i),
        (ColumnKind::Float32 | ColumnKind::Float64, Value::Float(x)) => Value::Float(x),
        #[allow(clippy::cast_precision_loss)] // SQLite stores whole REALs as integers on disk
        (ColumnKind::Float32 | ColumnKind::Float64, Value::Int(i))
            if i.unsigned_abs() <= 1 << 53 =>
        {
            Value::Float(i as f64)
        }
        (ColumnKind::Decimal, Value::Int(i)) => {
            Value::Decimal(Decimal::new(i.to_string()).map_err(|e| e.to_string())?)
        }
        (ColumnKind::Decimal, Value::Float(x)) => {
            // Rust prints the shortest text that reads back as the same double.
            Value::Decimal(Decimal::new(format_float(x)).map_err(|_| "not a decimal".to_owned())?)
        }
        (ColumnKind::Decimal, Value::Text(s)) => Value::Decimal(
            Decimal::new(s).map_err(|_| "text that is not a decimal number".to_owned())?,
        ),
        (ColumnKind::Bytes, Value::Bytes(b)) => Value::Bytes(b),
        (ColumnKind::Uuid, Value::Text(s)) => Value::Uuid(
            uuid::Uuid::try_parse(&s).map_err(|_| "text that is not a UUID".to_owned())?,
        ),
        (ColumnKind::Uuid, Value::Bytes(b)) => Value::Uuid(
            uuid::Uuid::from_slice(&b).map_err(|_| "bytes that are not a UUID".to_owned())?,
        ),
        (ColumnKind::Date, Value::Text(s)) => Value::Date(
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| "text that is not a date (YYYY-MM-DD)".to_owned())?,
        ),
        (ColumnKind::Time, Value::Text(s)) => Value::Time(
            NaiveTime::parse_from_str(&s, "%H:%M:%S%.f")
                .map_err(|_| "text that is not a time (HH:MM:SS)".to_owned())?,
        ),
        (ColumnKind::Timestamp, Value::Text(s)) => Value::Timestamp(
            parse_naive_timestamp(&s)
                .ok_or_else(|| "text that is not a timestamp (YYYY-MM-DD HH:MM:SS)".to_owned())?,
        ),
        (ColumnKind::TimestampTz, Value::Text(s)) => {
            Value::TimestampTz(parse_instant(&s).ok_or_else(|| {
                "text that is not a timestamp (YYYY-MM-DD HH:MM:SS[+HH:MM])".to_owned()
            })?)
        }
        (ColumnKind::Json, Value::Text(s)) => {
            Value::Json(Json::new(s).map_err(|_| "text that is not a JSON document".to_owned())?)
        }
        (
            ColumnKind::Text | ColumnKind::Interval | ColumnKind::Enum(_) | ColumnKind::Array,
            Value::Text(s),
        ) => Value::Text(s),
        (ColumnKind::Bool, other) => return Err(expected("boolean", &other)),
        (ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::UInt64, other) => {
            return Err(expected("integer", &other));
        }
        (ColumnKind::Float32 | ColumnKind::Float64, other) => {
            return Err(expected("float", &other));
        }
        (ColumnKind::Decimal, other) => return Err(expected("decimal", &other)),
        (ColumnKind::Bytes, other) => return Err(expected("bytes", &other)),
        (ColumnKind::Unsupported(t), _) => return Err(format!("type `{t}` is not supported")),
        (_, other) => return Err(expected("text", &other)),
    })
}

/// Checks text read for a kind kept as text (JSON must parse; decimals must be decimals).
fn text_kind(kind: &ColumnKind, v: Value) -> std::result::Result<Value, String> {
    match (kind, v) {
        (ColumnKind::Decimal, Value::Text(s)) => Decimal::new(s)
            .map(Value::Decimal)
            .map_err(|_| "not a decimal number".to_owned()),
        (ColumnKind::Json, Value::Text(s)) => Json::new(s)
            .map(Value::Json)
            .map_err(|_| "not a JSON document".to_owned()),
        (_, v) => Ok(v),
    }
}

/// Decodes column `i` of a production row into the value of `col`.
pub(crate) trait DecodeRow {
    fn decode(&self, i: usize, col: &ColumnSchema) -> std::result::Result<Value, String>;
}

impl DecodeRow for sqlx::postgres::PgRow {
    fn decode(&self, i: usize, col: &ColumnSchema) -> std::result::Result<Value, String> {
        decode_pg(self, i, col)
    }
}
impl DecodeRow for sqlx::mysql::MySqlRow {
    fn decode(&self, i: usize, col: &ColumnSchema) -> std::result::Result<Value, String> {
        decode_mysql(self, i, col)
    }
}
impl DecodeRow for sqlx::sqlite::SqliteRow {
    fn decode(&self, i: usize, col: &ColumnSchema) -> std::result::Result<Value, String> {
        decode_sqlite(self, i, col)
    }
}

/// A failed fetch inside a transaction.
#[derive(Debug)]
pub(crate) enum FetchError {
    Db(sqlx::Error),
    /// Why a value read could not be decoded (never the value).
    Decode(String),
}

impl FetchError {
    /// The crate's error for this failure, `context` saying what was being
    /// read (`commit: reading back tasks`): [`Error::Database`] for the
    /// driver's, [`Error::Decode`] for a value that cannot be decoded.
    pub(crate) fn into_error(self, context: impl Into<String>) -> Error {
        match self {
            FetchError::Db(e) => Error::database(context, e),
            FetchError::Decode(reason) => Error::Decode {
                context: context.into(),
                reason,
            },
        }
    }
}

impl From<FetchError> for Error {
    /// `FetchError::into_error` where the caller has no better context.
    fn from(e: FetchError) -> Self {
        e.into_error("a production row")
    }
}
