//! Production column types: how each is read, kept in the sandbox, and written back.

use safemodel::SqlType;

/// Which production database a `ShadowDb` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

impl Dialect {
    /// `postgres`, `mysql` or `sqlite`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// Quotes an identifier for this dialect (embedded quotes doubled).
    #[must_use]
    pub fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// The `n`-th (1-based) bind placeholder.
    #[must_use]
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::MySql | Dialect::Sqlite => "?".to_owned(),
        }
    }

    /// The NULL-safe equality operator.
    #[must_use]
    pub fn null_safe_eq(self) -> &'static str {
        match self {
            Dialect::Postgres => "IS NOT DISTINCT FROM",
            Dialect::MySql => "<=>",
            Dialect::Sqlite => "IS",
        }
    }

    /// How many bind parameters one statement may carry.
    #[must_use]
    pub fn max_binds(self) -> usize {
        match self {
            // PostgreSQL's wire protocol counts parameters in an i16.
            Dialect::Postgres => 32_767,
            Dialect::MySql => 65_535,
            // SQLITE_MAX_VARIABLE_NUMBER of the bundled SQLite (3.32+).
            Dialect::Sqlite => 32_766,
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The production type of a column, as far as reading, sandboxing and writing
/// it back are concerned.
///
/// Every kind has one SQL family (what a contract declares), one storage
/// class in the sandbox, and an exact way back. Types not listed are
/// [`ColumnKind::Unsupported`] and refused at open, never stringified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnKind {
    /// `boolean`, MySQL `tinyint(1)`/`bool`.
    Bool,
    /// 8/16-bit integers (`smallint`, `tinyint`).
    Int16,
    /// 24/32-bit integers (`integer`, `mediumint`).
    Int32,
    /// 64-bit integers (`bigint`, SQLite `INTEGER`).
    Int64,
    /// MySQL `bigint unsigned`: values above `i64::MAX` are refused at clone.
    UInt64,
    /// `real`, MySQL `float`.
    Float32,
    /// `double precision`, `double`, SQLite `REAL`.
    Float64,
    /// `numeric`, `decimal` (exact, any precision).
    Decimal,
    /// `text`, `varchar`, `char`, SQLite `TEXT`.
    Text,
    /// `bytea`, `blob`, `binary`.
    Bytes,
    /// `uuid` (PostgreSQL, MariaDB).
    Uuid,
    /// `date`.
    Date,
    /// `time` (without time zone).
    Time,
    /// `timestamp` without time zone, MySQL `datetime`.
    Timestamp,
    /// `timestamptz`, MySQL `timestamp` (an instant).
    TimestampTz,
    /// PostgreSQL `interval`, kept as PostgreSQL's own text.
    Interval,
    /// `json`, `jsonb`, MySQL `json`.
    Json,
    /// A database enum (PostgreSQL `CREATE TYPE .. AS ENUM`, MySQL `enum(..)`),
    /// kept as its label; the labels are listed.
    Enum(Vec<String>),
    /// A PostgreSQL array (`text[]`, `int[]`, `numeric[]`), kept as PostgreSQL's
    /// array literal text (`{a,"b c",NULL}`) so it comes back identical.
    Array,
    /// A type shadowdb cannot keep exactly: the declared type. Refused at open.
    Unsupported(String),
}

impl ColumnKind {
    /// The family a contract must declare for this column, or `None` when unsupported.
    #[must_use]
    pub fn family(&self) -> Option<SqlType> {
        Some(match self {
            ColumnKind::Bool => SqlType::Bool,
            ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::UInt64 => {
                SqlType::Int
            }
            ColumnKind::Float32 | ColumnKind::Float64 => SqlType::Float,
            ColumnKind::Decimal => SqlType::Decimal,
            ColumnKind::Text | ColumnKind::Interval | ColumnKind::Enum(_) | ColumnKind::Array => {
                SqlType::Text
            }
            ColumnKind::Bytes => SqlType::Bytes,
            ColumnKind::Uuid => SqlType::Uuid,
            ColumnKind::Date => SqlType::Date,
            ColumnKind::Time => SqlType::Time,
            ColumnKind::Timestamp => SqlType::Timestamp,
            ColumnKind::TimestampTz => SqlType::TimestampTz,
            ColumnKind::Json => SqlType::Json,
            ColumnKind::Unsupported(_) => return None,
        })
    }

    /// The STRICT-table column type that holds this kind in the sandbox.
    ///
    /// UUIDs, times and JSON are TEXT in a STRICT table, so SQLite's type
    /// affinity can never rewrite them. Decimals are `ANY`, which keeps every
    /// value as given: cloned text stays text (`'1.10'` stays `'1.10'`), and a
    /// float computed by SQLite stays a float, so the diff can refuse it
    /// instead of reading the float's text as if it were exact.
    #[must_use]
    pub fn sandbox_type(&self) -> &'static str {
        match self {
            ColumnKind::Bool
            | ColumnKind::Int16
            | ColumnKind::Int32
            | ColumnKind::Int64
            | ColumnKind::UInt64 => "INTEGER",
            ColumnKind::Float32 | ColumnKind::Float64 => "REAL",
            ColumnKind::Bytes => "BLOB",
            ColumnKind::Decimal | ColumnKind::Unsupported(_) => "ANY",
            _ => "TEXT",
        }
    }
}
