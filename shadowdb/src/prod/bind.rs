//! Values as the driver binds them: [`Bind`] for one value, [`BindArray`]
//! for a PostgreSQL batch column, the checks that refuse a value production
//! would reject, and `bind_all!`, which hands binds to a sqlx query of any
//! dialect.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use safemodel::{Decimal, Value};

use super::sql::read_as_text;
use crate::model::ColumnSchema;
use crate::types::{ColumnKind, Dialect};

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
        (ColumnKind::Decimal, Value::Decimal(_))
        | (ColumnKind::Text | ColumnKind::Interval | ColumnKind::Array, Value::Text(_))
        | (ColumnKind::Enum(_), Value::Text(_))
        | (ColumnKind::Json, Value::Json(_)) => match text_bind(dialect, col, value, false) {
            Some(text) => Bind::Text(text?.to_owned()),
            None => return Err(wrong(value)),
        },
        (ColumnKind::Decimal, Value::Int(i)) => Bind::Text(i.to_string()),
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
    if let Some(text) = text_bind(dialect, col, value, true) {
        return Ok(Bind::Text(text?.to_owned()));
    }
    if value.is_null() && read_as_text(dialect, &col.kind) {
        return Ok(Bind::Null(NullAs::Text));
    }
    write_bind(dialect, col, value)
}

/// Whether [`write_bind`] takes `value`, without building the bind where it
/// is the value's own text (the diff checks every changed value), and
/// whether production keeps it as it is within the column's declared limits
/// (precision and scale, length, width: [`crate::value::declared`]).
pub(crate) fn check_write(
    dialect: Dialect,
    col: &ColumnSchema,
    value: &Value,
) -> Result<(), BindError> {
    match text_bind(dialect, col, value, false) {
        Some(text) => text.map(|_| ())?,
        None => write_bind(dialect, col, value).map(|_| ())?,
    }
    crate::value::declared::check(dialect, col, value).map_err(BindError)
}

/// The text [`write_bind`] (`guard`: [`guard_bind`]) binds `value` as, when
/// that is the value's own text: borrowed, checked as those check it.
/// `None` for any other bind.
pub(crate) fn text_bind<'v>(
    dialect: Dialect,
    col: &ColumnSchema,
    value: &'v Value,
    guard: bool,
) -> Option<Result<&'v str, BindError>> {
    if guard && read_as_text(dialect, &col.kind) {
        return match value {
            Value::Decimal(d) => Some(Ok(d.as_str())),
            Value::Json(j) => Some(Ok(j.as_str())),
            Value::Text(s) => Some(Ok(s)),
            _ => None,
        };
    }
    let bad = |what: &str| Err(BindError(what.to_owned()));
    Some(match (&col.kind, value) {
        (ColumnKind::Decimal, Value::Decimal(d)) => {
            if dialect != Dialect::Postgres && !is_finite_decimal(d) {
                return Some(bad("NaN and Infinity are not decimals in this database"));
            }
            Ok(d.as_str())
        }
        (ColumnKind::Text | ColumnKind::Interval | ColumnKind::Array, Value::Text(s)) => {
            if dialect == Dialect::Postgres && s.contains('\0') {
                return Some(bad(
                    "text contains a NUL byte, which PostgreSQL cannot store",
                ));
            }
            Ok(s)
        }
        (ColumnKind::Enum(labels), Value::Text(s)) => {
            if !labels.iter().any(|l| l == s) {
                return Some(bad(&format!("not one of {}", labels.join(", "))));
            }
            Ok(s)
        }
        (ColumnKind::Json, Value::Json(j)) => {
            if dialect == Dialect::Postgres && j.as_str().contains("\\u0000") {
                return Some(bad("JSON contains \\u0000, which PostgreSQL cannot store"));
            }
            Ok(j.as_str())
        }
        _ => return None,
    })
}

/// One column of a batch, for PostgreSQL: the values of many rows as one
/// array parameter (`unnest($1::int8[], ..)`), so a batch of any size is a
/// few parameters and one prepared statement, whatever its row count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BindArray<'a> {
    Bool(Vec<Option<bool>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    /// Borrowed from the changeset where a value is bound as its own text.
    Text(Vec<Option<std::borrow::Cow<'a, str>>>),
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

/// One value of a batch column: a value's own text, borrowed (see
/// [`text_bind`]), or a bind.
#[derive(Debug)]
pub(crate) enum Elem<'a> {
    Text(&'a str),
    Bind(Bind),
}

impl<'a> BindArray<'a> {
    /// [`BindArray::gather`] of values some of which are borrowed text.
    pub(crate) fn gather_elems(elems: Vec<Elem<'a>>) -> Result<BindArray<'a>, BindError> {
        if !elems.iter().any(|e| matches!(e, Elem::Text(_))) {
            let binds = elems
                .into_iter()
                .filter_map(|e| match e {
                    Elem::Bind(b) => Some(b),
                    Elem::Text(_) => None,
                })
                .collect();
            return BindArray::gather(binds);
        }
        let mut out = Vec::with_capacity(elems.len());
        for e in elems {
            out.push(match e {
                Elem::Text(s) => Some(std::borrow::Cow::Borrowed(s)),
                Elem::Bind(Bind::Text(s)) => Some(std::borrow::Cow::Owned(s)),
                Elem::Bind(Bind::Null(_)) => None,
                Elem::Bind(_) => {
                    return Err(BindError(
                        "values of different types in one column".to_owned(),
                    ));
                }
            });
        }
        Ok(BindArray::Text(out))
    }

    /// Gathers one column's values. They are all of one type, as
    /// [`write_bind`] and [`guard_bind`] give for one column (NULLs fit any).
    pub(crate) fn gather(binds: Vec<Bind>) -> Result<BindArray<'a>, BindError> {
        let ty = binds
            .iter()
            .find(|b| !matches!(b, Bind::Null(_)))
            .or_else(|| binds.first())
            .map_or(NullAs::Text, bind_type);
        let mixed = || BindError("values of different types in one column".to_owned());
        macro_rules! gather {
            ($variant:ident) => {{ gather!($variant, |v| v) }};
            ($variant:ident, $wrap:expr) => {{
                let mut out = Vec::with_capacity(binds.len());
                for b in binds {
                    out.push(match b {
                        Bind::Null(_) => None,
                        Bind::$variant(v) => Some($wrap(v)),
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
            NullAs::Text => gather!(Text, std::borrow::Cow::Owned),
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
    Many(&'a BindArray<'a>),
}

fn is_finite_decimal(d: &Decimal) -> bool {
    !matches!(d.as_str(), "NaN" | "Infinity" | "-Infinity")
}

/// Binds each of `$binds` (`&Bind`s) to `$query`, a sqlx query of any
/// dialect: a macro, as each arm binds a different Rust type.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                $crate::prod::Bind::Null(t) => match t {
                    $crate::prod::NullAs::Bool => q.bind(None::<bool>),
                    $crate::prod::NullAs::I16 => q.bind(None::<i16>),
                    $crate::prod::NullAs::I32 => q.bind(None::<i32>),
                    $crate::prod::NullAs::I64 => q.bind(None::<i64>),
                    $crate::prod::NullAs::F32 => q.bind(None::<f32>),
                    $crate::prod::NullAs::F64 => q.bind(None::<f64>),
                    $crate::prod::NullAs::Text => q.bind(None::<String>),
                    $crate::prod::NullAs::Bytes => q.bind(None::<Vec<u8>>),
                    $crate::prod::NullAs::Uuid => q.bind(None::<::uuid::Uuid>),
                    $crate::prod::NullAs::Date => q.bind(None::<::chrono::NaiveDate>),
                    $crate::prod::NullAs::Time => q.bind(None::<::chrono::NaiveTime>),
                    $crate::prod::NullAs::Timestamp => q.bind(None::<::chrono::NaiveDateTime>),
                    $crate::prod::NullAs::TimestampTz => {
                        q.bind(None::<::chrono::DateTime<::chrono::Utc>>)
                    }
                },
                $crate::prod::Bind::Bool(v) => q.bind(*v),
                $crate::prod::Bind::I16(v) => q.bind(*v),
                $crate::prod::Bind::I32(v) => q.bind(*v),
                $crate::prod::Bind::I64(v) => q.bind(*v),
                $crate::prod::Bind::F32(v) => q.bind(*v),
                $crate::prod::Bind::F64(v) => q.bind(*v),
                $crate::prod::Bind::Text(v) => q.bind(v.as_str()),
                $crate::prod::Bind::Bytes(v) => q.bind(v.as_slice()),
                $crate::prod::Bind::Uuid(v) => q.bind(*v),
                $crate::prod::Bind::Date(v) => q.bind(*v),
                $crate::prod::Bind::Time(v) => q.bind(*v),
                $crate::prod::Bind::Timestamp(v) => q.bind(*v),
                $crate::prod::Bind::TimestampTz(v) => q.bind(*v),
            };
        }
        q
    }};
}
pub(super) use bind_all;

/// A PostgreSQL query with its parameters bound.
pub(super) fn pg_query<'q>(
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
