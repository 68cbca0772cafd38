//! The production database: a sqlx pool of one of three dialects, and how
//! values are read from it and written back exactly.
//!
//! Values whose exactness the driver's native decoding cannot promise are read
//! as the database's own text (`numeric::text`, `CAST(d AS CHAR)`) and written
//! back as text with a cast, so `numeric(40,10)` keeps every digit and a `json`
//! column keeps its text. Everything else goes through sqlx's native types.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures_util::TryStreamExt;
use safemodel::{Decimal, Json, Value};
use sqlx::{Executor, Row as _, ValueRef as _};

use crate::error::{Error, Result};
use crate::schema::{ColumnSchema, TableName, TableSchema};
use crate::types::{ColumnKind, Dialect};

/// A production database reached through sqlx.
#[derive(Debug, Clone)]
pub enum Production {
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// MySQL or MariaDB.
    MySql(sqlx::MySqlPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

impl Production {
    /// The dialect.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        match self {
            Production::Postgres(_) => Dialect::Postgres,
            Production::MySql(_) => Dialect::MySql,
            Production::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Connects to `url` (`postgres://`, `mysql://`/`mariadb://`, `sqlite:`).
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown scheme, [`Error::Database`] when the
    /// connection fails (the URL's password is never part of the error).
    pub async fn connect(url: &str) -> Result<Production> {
        let scheme = url.split(':').next().unwrap_or("");
        let context = format!("connecting to {}", redact_url(url));
        match scheme {
            "postgres" | "postgresql" => sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect(url)
                .await
                .map(Production::Postgres)
                .map_err(|e| Error::database(context, e)),
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .map(Production::MySql)
                    .map_err(|e| Error::database(context, e))
            }
            "sqlite" => sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .connect(url)
                .await
                .map(Production::Sqlite)
                .map_err(|e| Error::database(context, e)),
            _ => Err(Error::Config(format!(
                "unsupported database URL scheme `{scheme}:` (use postgres://, mysql://, mariadb:// or sqlite:)"
            ))),
        }
    }
}

impl From<sqlx::PgPool> for Production {
    fn from(p: sqlx::PgPool) -> Self {
        Production::Postgres(p)
    }
}
impl From<sqlx::MySqlPool> for Production {
    fn from(p: sqlx::MySqlPool) -> Self {
        Production::MySql(p)
    }
}
impl From<sqlx::SqlitePool> for Production {
    fn from(p: sqlx::SqlitePool) -> Self {
        Production::Sqlite(p)
    }
}

/// `url` with its password replaced by `***`, for messages and logs.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => url.to_owned(),
    }
}

/// The quoted, possibly schema-qualified name of a table.
pub(crate) fn qualified(dialect: Dialect, name: &TableName) -> String {
    match &name.schema {
        Some(s) => format!("{}.{}", dialect.quote(s), dialect.quote(&name.name)),
        None => dialect.quote(&name.name),
    }
}

/// The expression that reads a column exactly (used by the clone and by the
/// optimistic guard, so the guard compares exactly what was read).
pub(crate) fn read_expr(dialect: Dialect, col: &ColumnSchema) -> String {
    read_expr_at(dialect, col, &dialect.quote(&col.name))
}

/// [`read_expr`] of a column reference written by the caller (`t."c"`).
pub(crate) fn read_expr_at(dialect: Dialect, col: &ColumnSchema, q: &str) -> String {
    let q = q.to_owned();
    match (dialect, &col.kind) {
        (
            Dialect::Postgres,
            ColumnKind::Decimal
            | ColumnKind::Interval
            | ColumnKind::Json
            | ColumnKind::Enum(_)
            | ColumnKind::Array,
        ) => format!("{q}::text"),
        // `char(n)` pads with spaces PostgreSQL itself ignores (`'ab'::char(5)
        // = 'ab   '`, and `::text` strips them). The guard compares it with a
        // text parameter, that is as text: read it so too, and the clone and
        // the guard agree. Written back, `'ab'` is padded again.
        (Dialect::Postgres, ColumnKind::Text) if is_pg_bpchar(&col.declared_type) => {
            format!("{q}::text")
        }
        (Dialect::MySql, ColumnKind::Decimal | ColumnKind::Json | ColumnKind::Enum(_)) => {
            format!("CAST({q} AS CHAR)")
        }
        _ => q,
    }
}

/// Whether a PostgreSQL declared type (`format_type`) is blank-padded `char(n)`.
fn is_pg_bpchar(declared: &str) -> bool {
    declared == "character" || declared == "bpchar" || declared.starts_with("character(")
}

/// Whether the column is read and guarded as text in this dialect.
fn read_as_text(dialect: Dialect, kind: &ColumnKind) -> bool {
    match dialect {
        Dialect::Postgres => matches!(
            kind,
            ColumnKind::Decimal
                | ColumnKind::Interval
                | ColumnKind::Json
                | ColumnKind::Enum(_)
                | ColumnKind::Array
                | ColumnKind::Text
        ),
        Dialect::MySql => matches!(
            kind,
            ColumnKind::Decimal | ColumnKind::Json | ColumnKind::Enum(_) | ColumnKind::Text
        ),
        Dialect::Sqlite => false,
    }
}

/// The placeholder expression for writing a value into the column.
pub(crate) fn value_expr(dialect: Dialect, col: &ColumnSchema, n: usize) -> String {
    cast_expr(dialect, col, &dialect.placeholder(n))
}

/// An expression holding a value as bound by [`write_bind`] (a placeholder, or
/// a column of a batch of such values), cast to the column's type.
pub(crate) fn cast_expr(dialect: Dialect, col: &ColumnSchema, p: &str) -> String {
    let p = p.to_owned();
    match (dialect, &col.kind) {
        (Dialect::Postgres, ColumnKind::Decimal) => format!("{p}::numeric"),
        (Dialect::Postgres, ColumnKind::Interval) => format!("{p}::interval"),
        (Dialect::Postgres, ColumnKind::Json | ColumnKind::Enum(_) | ColumnKind::Array) => {
            format!("{p}::{}", col.declared_type)
        }
        _ => p,
    }
}

/// The NULL-safe, exact comparison of a column with its cloned value.
///
/// MySQL compares text under the column's collation (`'a' = 'A'`, trailing
/// spaces ignored), so text is compared as bytes there.
pub(crate) fn guard_expr(dialect: Dialect, col: &ColumnSchema, n: usize) -> String {
    guard_cmp(
        dialect,
        col,
        &dialect.quote(&col.name),
        &dialect.placeholder(n),
    )
}

/// [`guard_expr`] of a column reference (`t."c"`) and an expression holding
/// the value as bound by [`guard_bind`] (a placeholder, or a batch column).
pub(crate) fn guard_cmp(dialect: Dialect, col: &ColumnSchema, col_ref: &str, p: &str) -> String {
    let read = read_expr_at(dialect, col, col_ref);
    match dialect {
        Dialect::MySql if read_as_text(dialect, &col.kind) => {
            format!("CAST({read} AS BINARY) <=> CAST({p} AS BINARY)")
        }
        _ => format!("{read} {} {p}", dialect.null_safe_eq()),
    }
}

/// A value in the Rust type the driver encodes for its column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Null(NullAs),
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Uuid(uuid::Uuid),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
}

/// The type of a bound NULL (PostgreSQL types every parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NullAs {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
}

/// Why a value cannot be written to a column (caught before any transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindError(pub String);

fn null_as(dialect: Dialect, kind: &ColumnKind) -> NullAs {
    if read_as_text(dialect, kind) {
        return NullAs::Text;
    }
    match kind {
        ColumnKind::Bool => NullAs::Bool,
        ColumnKind::Int16 => NullAs::I16,
        ColumnKind::Int32 => NullAs::I32,
        ColumnKind::Int64 | ColumnKind::UInt64 => NullAs::I64,
        ColumnKind::Float32 => NullAs::F32,
        ColumnKind::Float64 => NullAs::F64,
        ColumnKind::Bytes => NullAs::Bytes,
        ColumnKind::Uuid if dialect == Dialect::Postgres => NullAs::Uuid,
        ColumnKind::Date if dialect != Dialect::Sqlite => NullAs::Date,
        ColumnKind::Time if dialect != Dialect::Sqlite => NullAs::Time,
        ColumnKind::Timestamp if dialect != Dialect::Sqlite => NullAs::Timestamp,
        ColumnKind::TimestampTz if dialect == Dialect::Postgres => NullAs::TimestampTz,
        ColumnKind::TimestampTz if dialect == Dialect::MySql => NullAs::Timestamp,
        _ => NullAs::Text,
    }
}

/// Converts a value for writing into `col`, refusing what production would
/// reject for the column's type (out-of-range integers, NUL in PostgreSQL
/// text, a label outside an enum) so it is a violation, not a driver error.
pub(crate) fn write_bind(
    dialect: Dialect,
    col: &ColumnSchema,
    value: &Value,
) -> Result<Bind, BindError> {
    let kind = &col.kind;
    let bad = |what: &str| BindError(what.to_owned());
    let wrong = |v: &Value| {
        BindError(format!(
            "a {} value cannot be stored in a `{}` column",
            v.kind_name(),
            col.declared_type
        ))
    };
    Ok(match (kind, value) {
        (_, Value::Null) => Bind::Null(null_as(dialect, kind)),
        (ColumnKind::Bool, Value::Bool(b)) => Bind::Bool(*b),
        (ColumnKind::Int16, Value::Int(i)) => Bind::I16(
            i16::try_from(*i)
                .map_err(|_| bad(&format!("out of range for {}", col.declared_type)))?,
        ),
        (ColumnKind::Int32, Value::Int(i)) => Bind::I32(
            i32::try_from(*i)
                .map_err(|_| bad(&format!("out of range for {}", col.declared_type)))?,
        ),
        (ColumnKind::Int64, Value::Int(i)) => Bind::I64(*i),
        (ColumnKind::UInt64, Value::Int(i)) if *i >= 0 => Bind::I64(*i),
        (ColumnKind::UInt64, Value::Int(_)) => {
            return Err(bad("negative value for an unsigned column"));
        }
        (ColumnKind::Float32, Value::Float(x)) => {
            #[allow(clippy::cast_possible_truncation)] // checked lossless below
            let narrow = *x as f32;
            if f64::from(narrow).to_bits() != x.to_bits() && !x.is_nan() {
                return Err(bad("not exactly representable as a 4-byte float"));
            }
            Bind::F32(narrow)
        }
        (ColumnKind::Float64, Value::Float(x)) => Bind::F64(*x),
        (ColumnKind::Decimal, Value::Decimal(d)) => {
            if dialect != Dialect::Postgres && !is_finite_decimal(d) {
                return Err(bad("NaN and Infinity are not decimals in this database"));
            }
            Bind::Text(d.as_str().to_owned())
        }
        (ColumnKind::Decimal, Value::Int(i)) => Bind::Text(i.to_string()),
        (ColumnKind::Text | ColumnKind::Interval | ColumnKind::Array, Value::Text(s)) => {
            if dialect == Dialect::Postgres && s.contains('\0') {
                return Err(bad(
                    "text contains a NUL byte, which PostgreSQL cannot store",
                ));
            }
            Bind::Text(s.clone())
        }
        (ColumnKind::Enum(labels), Value::Text(s)) => {
            if !labels.iter().any(|l| l == s) {
                return Err(bad(&format!("not one of {}", labels.join(", "))));
            }
            Bind::Text(s.clone())
        }
        (ColumnKind::Bytes, Value::Bytes(b)) => Bind::Bytes(b.clone()),
        (ColumnKind::Uuid, Value::Uuid(u)) => match dialect {
            Dialect::Postgres => Bind::Uuid(*u),
            _ => Bind::Text(u.hyphenated().to_string()),
        },
        (ColumnKind::Date, Value::Date(d)) => match dialect {
            Dialect::Sqlite => Bind::Text(d.format("%Y-%m-%d").to_string()),
            _ => Bind::Date(*d),
        },
        (ColumnKind::Time, Value::Time(t)) => match dialect {
            Dialect::Sqlite => Bind::Text(t.format("%H:%M:%S%.f").to_string()),
            _ => Bind::Time(*t),
        },
        (ColumnKind::Timestamp, Value::Timestamp(t)) => match dialect {
            Dialect::Sqlite => Bind::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            _ => Bind::Timestamp(*t),
        },
        (ColumnKind::TimestampTz, Value::TimestampTz(t)) => match dialect {
            Dialect::Postgres => Bind::TimestampTz(*t),
            // The session time zone is UTC while shadowdb reads and writes.
            Dialect::MySql => Bind::Timestamp(t.naive_utc()),
            Dialect::Sqlite => Bind::Text(t.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string()),
        },
        (ColumnKind::Json, Value::Json(j)) => {
            if dialect == Dialect::Postgres && j.as_str().contains("\\u0000") {
                return Err(bad("JSON contains \\u0000, which PostgreSQL cannot store"));
            }
            Bind::Text(j.as_str().to_owned())
        }
        (ColumnKind::Unsupported(t), _) => {
            return Err(bad(&format!("type `{t}` is not supported")));
        }
        (_, v) => return Err(wrong(v)),
    })
}

/// The value as the guard reads it (text for columns read as text).
pub(crate) fn guard_bind(
    dialect: Dialect,
    col: &ColumnSchema,
    value: &Value,
) -> Result<Bind, BindError> {
    if read_as_text(dialect, &col.kind) {
        return Ok(match value {
            Value::Null => Bind::Null(NullAs::Text),
            Value::Decimal(d) => Bind::Text(d.as_str().to_owned()),
            Value::Json(j) => Bind::Text(j.as_str().to_owned()),
            Value::Text(s) => Bind::Text(s.clone()),
            other => return write_bind(dialect, col, other),
        });
    }
    write_bind(dialect, col, value)
}

/// One column of a batch, for PostgreSQL: the values of many rows as one
/// array parameter (`unnest($1::int8[], ..)`), so a batch of any size is a
/// few parameters and one prepared statement, whatever its row count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BindArray {
    Bool(Vec<Option<bool>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
    Uuid(Vec<Option<uuid::Uuid>>),
    Date(Vec<Option<NaiveDate>>),
    Time(Vec<Option<NaiveTime>>),
    Timestamp(Vec<Option<NaiveDateTime>>),
    TimestampTz(Vec<Option<DateTime<Utc>>>),
}

/// The type of a bound value (a NULL's declared type).
fn bind_type(b: &Bind) -> NullAs {
    match b {
        Bind::Null(t) => *t,
        Bind::Bool(_) => NullAs::Bool,
        Bind::I16(_) => NullAs::I16,
        Bind::I32(_) => NullAs::I32,
        Bind::I64(_) => NullAs::I64,
        Bind::F32(_) => NullAs::F32,
        Bind::F64(_) => NullAs::F64,
        Bind::Text(_) => NullAs::Text,
        Bind::Bytes(_) => NullAs::Bytes,
        Bind::Uuid(_) => NullAs::Uuid,
        Bind::Date(_) => NullAs::Date,
        Bind::Time(_) => NullAs::Time,
        Bind::Timestamp(_) => NullAs::Timestamp,
        Bind::TimestampTz(_) => NullAs::TimestampTz,
    }
}

impl BindArray {
    /// Gathers one column's values. They are all of one type, as
    /// [`write_bind`] and [`guard_bind`] give for one column (NULLs fit any).
    pub(crate) fn gather(binds: Vec<Bind>) -> Result<BindArray, BindError> {
        let ty = binds
            .iter()
            .find(|b| !matches!(b, Bind::Null(_)))
            .or_else(|| binds.first())
            .map_or(NullAs::Text, bind_type);
        let mixed = || BindError("values of different types in one column".to_owned());
        macro_rules! gather {
            ($variant:ident) => {{
                let mut out = Vec::with_capacity(binds.len());
                for b in binds {
                    out.push(match b {
                        Bind::Null(_) => None,
                        Bind::$variant(v) => Some(v),
                        _ => return Err(mixed()),
                    });
                }
                BindArray::$variant(out)
            }};
        }
        Ok(match ty {
            NullAs::Bool => gather!(Bool),
            NullAs::I16 => gather!(I16),
            NullAs::I32 => gather!(I32),
            NullAs::I64 => gather!(I64),
            NullAs::F32 => gather!(F32),
            NullAs::F64 => gather!(F64),
            NullAs::Text => gather!(Text),
            NullAs::Bytes => gather!(Bytes),
            NullAs::Uuid => gather!(Uuid),
            NullAs::Date => gather!(Date),
            NullAs::Time => gather!(Time),
            NullAs::Timestamp => gather!(Timestamp),
            NullAs::TimestampTz => gather!(TimestampTz),
        })
    }

    /// The PostgreSQL array type, for an explicit cast of the parameter.
    pub(crate) fn pg_type(&self) -> &'static str {
        match self {
            BindArray::Bool(_) => "bool[]",
            BindArray::I16(_) => "int2[]",
            BindArray::I32(_) => "int4[]",
            BindArray::I64(_) => "int8[]",
            BindArray::F32(_) => "float4[]",
            BindArray::F64(_) => "float8[]",
            BindArray::Text(_) => "text[]",
            BindArray::Bytes(_) => "bytea[]",
            BindArray::Uuid(_) => "uuid[]",
            BindArray::Date(_) => "date[]",
            BindArray::Time(_) => "time[]",
            BindArray::Timestamp(_) => "timestamp[]",
            BindArray::TimestampTz(_) => "timestamptz[]",
        }
    }
}

/// A parameter of a PostgreSQL statement: one value, or a batch column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PgParam<'a> {
    One(&'a Bind),
    Many(&'a BindArray),
}

fn is_finite_decimal(d: &Decimal) -> bool {
    !matches!(d.as_str(), "NaN" | "Infinity" | "-Infinity")
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Null(t) => match t {
                    NullAs::Bool => q.bind(None::<bool>),
                    NullAs::I16 => q.bind(None::<i16>),
                    NullAs::I32 => q.bind(None::<i32>),
                    NullAs::I64 => q.bind(None::<i64>),
                    NullAs::F32 => q.bind(None::<f32>),
                    NullAs::F64 => q.bind(None::<f64>),
                    NullAs::Text => q.bind(None::<String>),
                    NullAs::Bytes => q.bind(None::<Vec<u8>>),
                    NullAs::Uuid => q.bind(None::<uuid::Uuid>),
                    NullAs::Date => q.bind(None::<NaiveDate>),
                    NullAs::Time => q.bind(None::<NaiveTime>),
                    NullAs::Timestamp => q.bind(None::<NaiveDateTime>),
                    NullAs::TimestampTz => q.bind(None::<DateTime<Utc>>),
                },
                Bind::Bool(v) => q.bind(*v),
                Bind::I16(v) => q.bind(*v),
                Bind::I32(v) => q.bind(*v),
                Bind::I64(v) => q.bind(*v),
                Bind::F32(v) => q.bind(*v),
                Bind::F64(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.as_str()),
                Bind::Bytes(v) => q.bind(v.as_slice()),
                Bind::Uuid(v) => q.bind(*v),
                Bind::Date(v) => q.bind(*v),
                Bind::Time(v) => q.bind(*v),
                Bind::Timestamp(v) => q.bind(*v),
                Bind::TimestampTz(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// A PostgreSQL query with its parameters bound.
fn pg_query<'q>(
    sql: String,
    params: &'q [PgParam<'q>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for p in params {
        q = match p {
            PgParam::One(b) => bind_all!(q, std::iter::once(*b)),
            PgParam::Many(a) => match a {
                BindArray::Bool(v) => q.bind(v.as_slice()),
                BindArray::I16(v) => q.bind(v.as_slice()),
                BindArray::I32(v) => q.bind(v.as_slice()),
                BindArray::I64(v) => q.bind(v.as_slice()),
                BindArray::F32(v) => q.bind(v.as_slice()),
                BindArray::F64(v) => q.bind(v.as_slice()),
                BindArray::Text(v) => q.bind(v.as_slice()),
                BindArray::Bytes(v) => q.bind(v.as_slice()),
                BindArray::Uuid(v) => q.bind(v.as_slice()),
                BindArray::Date(v) => q.bind(v.as_slice()),
                BindArray::Time(v) => q.bind(v.as_slice()),
                BindArray::Timestamp(v) => q.bind(v.as_slice()),
                BindArray::TimestampTz(v) => q.bind(v.as_slice()),
            },
        };
    }
    q
}

/// Why a stored value cannot be cloned exactly.
fn unclonable(schema: &TableSchema, col: &ColumnSchema, reason: &str) -> Error {
    Error::Unclonable {
        table: schema.name.to_string(),
        key: String::new(),
        column: col.name.clone(),
        reason: reason.to_owned(),
    }
}

fn decode_pg(
    row: &sqlx::postgres::PgRow,
    i: usize,
    col: &ColumnSchema,
) -> std::result::Result<Value, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let r = match &col.kind {
        ColumnKind::Bool => row.try_get::<bool, _>(i).map(Value::Bool),
        ColumnKind::Int16 => row.try_get::<i16, _>(i).map(|v| Value::Int(v.into())),
        ColumnKind::Int32 => row.try_get::<i32, _>(i).map(|v| Value::Int(v.into())),
        ColumnKind::Int64 | ColumnKind::UInt64 => row.try_get::<i64, _>(i).map(Value::Int),
        ColumnKind::Float32 => row.try_get::<f32, _>(i).map(|v| Value::Float(v.into())),
        ColumnKind::Float64 => row.try_get::<f64, _>(i).map(Value::Float),
        ColumnKind::Bytes => row.try_get::<Vec<u8>, _>(i).map(Value::Bytes),
        ColumnKind::Uuid => row.try_get::<uuid::Uuid, _>(i).map(Value::Uuid),
        ColumnKind::Date => row.try_get::<NaiveDate, _>(i).map(Value::Date),
        ColumnKind::Time => row.try_get::<NaiveTime, _>(i).map(Value::Time),
        ColumnKind::Timestamp => row.try_get::<NaiveDateTime, _>(i).map(Value::Timestamp),
        ColumnKind::TimestampTz => row.try_get::<DateTime<Utc>, _>(i).map(Value::TimestampTz),
        _ => row.try_get::<String, _>(i).map(Value::Text),
    };
    r.map_err(|e| e.to_string())
        .and_then(|v| text_kind(&col.kind, v))
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
                    return i64::try_from(v)
                        .map(Value::Int)
                        .map_err(|_| "an unsigned value above 9223372036854775807".to_owned());
                }
            }
        }
        ColumnKind::UInt64 => {
            let v = row.try_get::<u64, _>(i).map_err(|e| e.to_string())?;
            return i64::try_from(v)
                .map(Value::Int)
                .map_err(|_| "an unsigned value above 9223372036854775807".to_owned());
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

/// Shortest decimal text of a double that reads back as the same double.
pub(crate) fn format_float(x: f64) -> String {
    let s = format!("{x:?}");
    s.strip_suffix(".0")
        .map_or_else(|| s.clone(), str::to_owned)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f]` (or with `T`).
pub(crate) fn parse_naive_timestamp(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

/// Parses an instant: with an offset (`+02:00`, `Z`), or without one as UTC,
/// SQLite's own convention (`datetime('now')` is UTC without an offset).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let z = s.strip_suffix('Z').unwrap_or(s);
            parse_naive_timestamp(z).map(|n| n.and_utc())
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

/// The SELECT of one tenant's rows (or all rows of a reference table).
fn clone_sql(
    dialect: Dialect,
    schema: &TableSchema,
    cols: &[&ColumnSchema],
    tenant: Option<&ColumnSchema>,
) -> String {
    let list: Vec<String> = cols.iter().map(|c| read_expr(dialect, c)).collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        list.join(", "),
        qualified(dialect, &schema.name)
    );
    if let Some(t) = tenant {
        sql.push_str(&format!(
            " WHERE {} = {}",
            dialect.quote(&t.name),
            value_expr(dialect, t, 1)
        ));
    }
    sql
}

/// Streams the tenant's rows of `schema` (only `cols`), handing them to `sink`
/// in batches of `batch` rows, so memory holds one batch, not the result set.
/// Returns the number of rows.
///
/// # Errors
/// [`Error::Database`], [`Error::Unclonable`], or what `sink` returns.
pub(crate) async fn clone_rows(
    prod: &Production,
    schema: &TableSchema,
    cols: &[&ColumnSchema],
    tenant: Option<(&ColumnSchema, &Value)>,
    batch: usize,
    sink: &mut (dyn FnMut(Vec<Vec<Value>>) -> Result<()> + Send),
) -> Result<u64> {
    let dialect = prod.dialect();
    let mut binds = Vec::new();
    if let Some((tenant_col, tenant)) = tenant {
        binds.push(write_bind(dialect, tenant_col, tenant).map_err(|e| {
            Error::Config(format!(
                "tenant value does not fit {}.{}: {}",
                schema.name, tenant_col.name, e.0
            ))
        })?);
    }
    let sql = clone_sql(dialect, schema, cols, tenant.map(|t| t.0));
    let context = format!("clone of {}", schema.name);
    let batch = batch.max(1);

    macro_rules! stream {
        ($conn:expr) => {{
            let query = bind_all!(
                sqlx::query(sqlx::AssertSqlSafe(sql.clone())),
                binds.iter()
            );
            let mut rows = query.fetch($conn);
            let mut buf: Vec<Vec<Value>> = Vec::with_capacity(batch);
            let mut total = 0_u64;
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(|e| Error::database(context.clone(), e))?
            {
                let mut values = Vec::with_capacity(cols.len());
                for (i, col) in cols.iter().enumerate() {
                    let value = DecodeRow::decode(&row, i, col)
                        .map_err(|r| unclonable(schema, col, &r))?;
                    // SQLite stores a bound NaN as NULL: refuse rather than change it.
                    if matches!(value, Value::Float(x) if x.is_nan()) {
                        return Err(unclonable(
                            schema,
                            col,
                            "a NaN float, which the sandbox (SQLite) cannot hold",
                        ));
                    }
                    values.push(value);
                }
                buf.push(values);
                total += 1;
                if buf.len() >= batch {
                    sink(std::mem::replace(&mut buf, Vec::with_capacity(batch)))?;
                }
            }
            if !buf.is_empty() {
                sink(buf)?;
            }
            total
        }};
    }

    Ok(match prod {
        Production::Postgres(pool) => {
            let mut conn = pool
                .acquire()
                .await
                .map_err(|e| Error::database(context.clone(), e))?;
            stream!(&mut *conn)
        }
        Production::MySql(pool) => {
            let mut conn = pool
                .acquire()
                .await
                .map_err(|e| Error::database(context.clone(), e))?;
            mysql_utc(&mut conn, &context).await?;
            let n = stream!(&mut *conn);
            mysql_restore_tz(&mut conn).await;
            n
        }
        Production::Sqlite(pool) => {
            let mut conn = pool
                .acquire()
                .await
                .map_err(|e| Error::database(context.clone(), e))?;
            stream!(&mut *conn)
        }
    })
}

/// MySQL converts TIMESTAMP values to the session time zone: pin it to UTC
/// while shadowdb reads and writes, so instants stay instants.
async fn mysql_utc(conn: &mut sqlx::mysql::MySqlConnection, context: &str) -> Result<()> {
    conn.execute("SET @shadowdb_prev_tz = @@session.time_zone, time_zone = '+00:00'")
        .await
        .map(|_| ())
        .map_err(|e| Error::database(context.to_owned(), e))
}

async fn mysql_restore_tz(conn: &mut sqlx::mysql::MySqlConnection) {
    // Best effort: the connection returns to the user's pool as it came.
    let _ = conn.execute("SET time_zone = @shadowdb_prev_tz").await;
}

/// One transaction on production.
pub(crate) enum ProdTx {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    MySql(sqlx::Transaction<'static, sqlx::MySql>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

impl ProdTx {
    /// Begins a transaction.
    pub(crate) async fn begin(prod: &Production) -> Result<ProdTx> {
        let ctx = "commit: BEGIN";
        Ok(match prod {
            Production::Postgres(p) => {
                ProdTx::Postgres(p.begin().await.map_err(|e| Error::database(ctx, e))?)
            }
            Production::MySql(p) => {
                let mut tx = p.begin().await.map_err(|e| Error::database(ctx, e))?;
                mysql_utc(&mut tx, ctx).await?;
                ProdTx::MySql(tx)
            }
            // IMMEDIATE: the write lock from the start, so rows read to
            // check them cannot change before they are written.
            Production::Sqlite(p) => ProdTx::Sqlite(
                p.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| Error::database(ctx, e))?,
            ),
        })
    }

    /// Runs a statement; returns rows affected (matched, for MySQL: sqlx sets
    /// CLIENT_FOUND_ROWS, so a no-op update still counts its row).
    pub(crate) async fn execute(
        &mut self,
        sql: String,
        binds: &[Bind],
    ) -> std::result::Result<u64, sqlx::Error> {
        let q = sqlx::AssertSqlSafe(sql);
        match self {
            ProdTx::Postgres(tx) => bind_all!(sqlx::query(q), binds)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            ProdTx::MySql(tx) => bind_all!(sqlx::query(q), binds)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            ProdTx::Sqlite(tx) => bind_all!(sqlx::query(q), binds)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Runs a query and decodes each row's columns as `cols`.
    pub(crate) async fn fetch(
        &mut self,
        sql: String,
        binds: &[Bind],
        cols: &[&ColumnSchema],
    ) -> std::result::Result<Vec<Vec<Value>>, FetchError> {
        let q = sqlx::AssertSqlSafe(sql);
        macro_rules! go {
            ($tx:expr) => {{
                let rows = bind_all!(sqlx::query(q), binds)
                    .fetch_all(&mut **$tx)
                    .await
                    .map_err(FetchError::Db)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let mut values = Vec::with_capacity(cols.len());
                    for (i, col) in cols.iter().enumerate() {
                        values.push(DecodeRow::decode(row, i, col).map_err(FetchError::Decode)?);
                    }
                    out.push(values);
                }
                Ok(out)
            }};
        }
        match self {
            ProdTx::Postgres(tx) => go!(tx),
            ProdTx::MySql(tx) => go!(tx),
            ProdTx::Sqlite(tx) => go!(tx),
        }
    }

    /// Runs a statement without parameters through the simple (text)
    /// protocol: `SAVEPOINT` and its kin, which MySQL does not prepare.
    pub(crate) async fn execute_raw(
        &mut self,
        sql: &'static str,
    ) -> std::result::Result<(), sqlx::Error> {
        match self {
            ProdTx::Postgres(tx) => (&mut **tx).execute(sql).await.map(|_| ()),
            ProdTx::MySql(tx) => (&mut **tx).execute(sql).await.map(|_| ()),
            ProdTx::Sqlite(tx) => (&mut **tx).execute(sql).await.map(|_| ()),
        }
    }

    /// Runs a PostgreSQL statement whose parameters may be arrays, and
    /// decodes each row's columns as `cols`.
    pub(crate) async fn fetch_pg(
        &mut self,
        sql: String,
        params: &[PgParam<'_>],
        cols: &[&ColumnSchema],
    ) -> std::result::Result<Vec<Vec<Value>>, FetchError> {
        let ProdTx::Postgres(tx) = self else {
            return Err(FetchError::Decode(
                "array parameters are PostgreSQL's only".to_owned(),
            ));
        };
        let rows = pg_query(sql, params)
            .fetch_all(&mut **tx)
            .await
            .map_err(FetchError::Db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(cols.len());
            for (i, col) in cols.iter().enumerate() {
                values.push(DecodeRow::decode(row, i, col).map_err(FetchError::Decode)?);
            }
            out.push(values);
        }
        Ok(out)
    }

    /// Commits.
    pub(crate) async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        match self {
            ProdTx::Postgres(tx) => tx.commit().await,
            ProdTx::MySql(mut tx) => {
                let _ = tx.execute("SET time_zone = @shadowdb_prev_tz").await;
                tx.commit().await
            }
            ProdTx::Sqlite(tx) => tx.commit().await,
        }
    }

    /// Rolls back (also what dropping does; explicit to await it).
    pub(crate) async fn rollback(self) {
        let _ = match self {
            ProdTx::Postgres(tx) => tx.rollback().await,
            ProdTx::MySql(tx) => tx.rollback().await,
            ProdTx::Sqlite(tx) => tx.rollback().await,
        };
    }
}

/// A failed fetch inside a transaction.
#[derive(Debug)]
pub(crate) enum FetchError {
    Db(sqlx::Error),
    Decode(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_shown() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/prod?sslmode=require"),
            "postgres://app:***@db.example:5432/prod?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(redact_url("sqlite://data.db"), "sqlite://data.db");
        assert_eq!(
            redact_url("postgres://u:p@ss:w@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn instants_parse_with_and_without_offset() {
        let a = parse_instant("2024-05-01 12:00:00+02:00").unwrap();
        let b = parse_instant("2024-05-01 10:00:00").unwrap();
        let c = parse_instant("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!(parse_instant("yesterday").is_none());
    }

    #[test]
    fn float_text_is_shortest_exact() {
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(1e300), "1e300");
    }
}
