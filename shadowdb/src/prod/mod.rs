//! The production database: a sqlx pool of one of three dialects, and how
//! values are read from it and written back exactly.
//!
//! Values whose exactness the driver's native decoding cannot promise are read
//! as the database's own text (`numeric::text`, `CAST(d AS CHAR)`) and written
//! back as text with a cast, so `numeric(40,10)` keeps every digit and a `json`
//! column keeps its text. Everything else goes through sqlx's native types.

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _, Utc};
use futures_util::TryStreamExt;
use safemodel::{Decimal, Json, Value};
use sqlx::{Executor, Row as _, ValueRef as _};

use crate::error::{Error, Result};
use crate::sandbox::CloneBatch;
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

/// `url` with its passwords replaced by `***`, for messages and logs: the
/// password of `user:password@`, and the values of query parameters that
/// hold secrets (`password=`, `sslpassword=`, any key naming a pass, pwd,
/// secret, token or auth), percent-encoded or not; a fragment is dropped.
///
/// A password may hold `/`, `?`, `#` or `@` where a URL parser would end the
/// user part early. Every way of reading the URL is considered; when the
/// text shown would still hold one reading's password, only the scheme,
/// host, port and database are shown, and when even those would, only the
/// scheme.
#[must_use]
pub fn redact_url(url: &str) -> String {
    // Each secret and its pieces between URL delimiters: a reading that ends
    // a password early must not show its remainder either.
    let mut secrets = url_passwords(url);
    let pieces: Vec<String> = secrets
        .iter()
        .flat_map(|s| s.split(['@', '/', '?', '#', '&', ';', '=', ':']))
        .filter(|p| p.len() >= 2)
        .map(str::to_owned)
        .collect();
    secrets.extend(pieces);
    let clean = |text: &str| !secrets.iter().any(|s| text.contains(s.as_str()));
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite:data.db`, `sqlite::memory:`: no user part.
        // Without `//` nothing is a user part, so an `@` may end one: a
        // `user:password@host/db` with its scheme left out reads as the
        // scheme `user` and the path `password@host/db`.
        let shown = match url.split_once(':') {
            Some((scheme, _)) if is_scheme(scheme) && url.contains('@') => {
                "(a database URL)".to_owned()
            }
            Some((scheme, path)) if is_scheme(scheme) => {
                let (path, query) = split_query(path);
                format!("{scheme}:{path}{}", redact_query(query))
            }
            _ => "(not a database URL)".to_owned(),
        };
        return if clean(&shown) {
            shown
        } else {
            "(a database URL)".to_owned()
        };
    };
    // As a URL parser reads it: the authority ends at the first `/`, `?`, `#`.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => (format!("{user}:***@"), host),
            None => (format!("{userinfo}@"), host),
        },
        None => (String::new(), authority),
    };
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = split_query(tail);
    let shown = format!("{scheme}://{user}{host}{path}{}", redact_query(query));
    // An `@` after the authority: a password holding `/`, `?` or `#` that
    // ended the authority early (or an `@` in a parameter: shown short too).
    let at_after = rest.rfind('@').is_some_and(|at| at >= authority_end);
    if clean(&shown) && !at_after {
        return shown;
    }
    // Unsure: the host, port and database after the last `@`, nothing else.
    let after = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let (host, tail) = after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len()));
    let database = tail
        .strip_prefix('/')
        .map(|t| t.split(['?', '#']).next().unwrap_or(""))
        .map(|db| format!("/{db}"))
        .unwrap_or_default();
    let shown = format!("{scheme}://***@{host}{database}");
    if clean(&shown) {
        shown
    } else {
        format!("{scheme}://***")
    }
}

/// Every text of `url` that may be a secret, under every reading of it: the
/// password of the user part as a URL parser reads it and as a person may
/// have meant it (up to the last `@`), and the values of secret query
/// parameters; each as written and percent-decoded, longest first.
#[must_use]
pub fn url_passwords(url: &str) -> Vec<String> {
    let mut raw: Vec<&str> = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if url.contains("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        for userinfo in [
            authority.rsplit_once('@').map(|(u, _)| u),
            rest.rsplit_once('@').map(|(u, _)| u),
        ]
        .into_iter()
        .flatten()
        {
            if let Some((_, password)) = userinfo.split_once(':') {
                raw.push(password);
            }
        }
    }
    // Query parameters wherever a `?` may start them.
    for (i, _) in url.match_indices('?') {
        let query = url.get(i + 1..).unwrap_or("");
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split(['&', ';']) {
            if let Some((key, value)) = pair.split_once('=')
                && is_secret_key(key)
            {
                raw.push(value);
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    for r in raw.into_iter().filter(|r| !r.is_empty()) {
        let decoded = percent_decode(r);
        if decoded != r && !decoded.is_empty() {
            out.push(decoded);
        }
        out.push(r.to_owned());
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn split_query(text: &str) -> (&str, &str) {
    match text.find('?') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    }
}

/// Whether a query parameter holds a secret (`password`, `sslpassword`,
/// `passfile` too: better hidden than not). Key files (`sslkey`) are paths.
fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key).to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "auth"]
        .iter()
        .any(|s| key.contains(s))
}

/// `query` (empty, or from its `?`) with secret values replaced by `***`.
fn redact_query(query: &str) -> String {
    let Some(pairs) = query.strip_prefix('?') else {
        return String::new();
    };
    let pairs: Vec<String> = pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("?{}", pairs.join("&"))
}

/// `%XX` decoded (other bytes as they are); invalid UTF-8 replaced.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        // Text in utf8mb4 first, the bound value's character set (a `latin1`
        // column's bytes are not).
        Dialect::MySql if collates(dialect, &col.kind) => {
            format!("CAST(CONVERT({read} USING utf8mb4) AS BINARY) <=> CAST({p} AS BINARY)")
        }
        Dialect::MySql if read_as_text(dialect, &col.kind) => {
            format!("CAST({read} AS BINARY) <=> CAST({p} AS BINARY)")
        }
        // A non-deterministic collation finds `'abc'` equal to `'ABC'`;
        // `"C"` compares the bytes.
        Dialect::Postgres if collates(dialect, &col.kind) => {
            format!(
                "{read}::pg_catalog.text COLLATE pg_catalog.\"C\" IS NOT DISTINCT FROM {p}::pg_catalog.text COLLATE pg_catalog.\"C\""
            )
        }
        Dialect::Sqlite if collates(dialect, &col.kind) => {
            format!("{read} IS {p} COLLATE BINARY")
        }
        _ => format!("{read} {} {p}", dialect.null_safe_eq()),
    }
}

/// Whether the dialect compares the column's values under a collation (case-
/// or accent-insensitive, PAD SPACE) rather than byte for byte.
pub(crate) fn collates(dialect: Dialect, kind: &ColumnKind) -> bool {
    match dialect {
        Dialect::Postgres => matches!(kind, ColumnKind::Text),
        Dialect::MySql | Dialect::Sqlite => matches!(kind, ColumnKind::Text | ColumnKind::Enum(_)),
    }
}

/// How many times [`exact_eq`] needs its value bound: twice where the
/// dialect's placeholders cannot be repeated and the column collates.
pub(crate) fn exact_eq_binds(dialect: Dialect, col: &ColumnSchema) -> usize {
    if dialect != Dialect::Postgres && collates(dialect, &col.kind) {
        2
    } else {
        1
    }
}

/// `col_ref = p`, byte for byte whatever the column's collation: the
/// collation's `=` first, so an index on the column still narrows the rows,
/// then the same comparison without collation (MySQL: as binary strings;
/// PostgreSQL: under `"C"`; SQLite: `COLLATE BINARY`). `again` holds the
/// value a second time for dialects that need it bound twice (see
/// [`exact_eq_binds`]); PostgreSQL repeats `p`.
pub(crate) fn exact_eq(
    dialect: Dialect,
    col: &ColumnSchema,
    col_ref: &str,
    p: &str,
    again: &str,
) -> String {
    if !collates(dialect, &col.kind) {
        return format!("{col_ref} = {p}");
    }
    match dialect {
        // In utf8mb4 first: a `latin1` column's bytes are not the bound
        // value's, whose character set is the connection's.
        Dialect::MySql => format!(
            "{col_ref} = {p} AND CAST(CONVERT({col_ref} USING utf8mb4) AS BINARY) = CAST({again} AS BINARY)"
        ),
        Dialect::Postgres => {
            format!(
                "{col_ref} = {p} AND {col_ref}::pg_catalog.text COLLATE pg_catalog.\"C\" = {p}::pg_catalog.text COLLATE pg_catalog.\"C\""
            )
        }
        Dialect::Sqlite => format!("{col_ref} = {p} AND {col_ref} = {again} COLLATE BINARY"),
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

/// `digits` decimal digits of `v`, zero-padded (`v` has no more).
fn push_digits(out: &mut String, v: u32, digits: u32) {
    let mut div = 10_u32.pow(digits.saturating_sub(1));
    while div > 0 {
        out.push(char::from(b'0' + u8::try_from(v / div % 10).unwrap_or(0)));
        div /= 10;
    }
}

/// Appends `d` as chrono's `%Y-%m-%d` writes it, without parsing a format
/// string per value (the clone writes every date of every row).
pub(crate) fn push_date(out: &mut String, d: NaiveDate) {
    match u32::try_from(d.year()) {
        Ok(y) if y <= 9999 => {
            push_digits(out, y, 4);
            out.push('-');
            push_digits(out, d.month(), 2);
            out.push('-');
            push_digits(out, d.day(), 2);
        }
        // Signed and five-digit years, as chrono writes them.
        _ => out.push_str(&d.format("%Y-%m-%d").to_string()),
    }
}

/// Appends `t` as chrono's `%H:%M:%S%.f` writes it: a leap second as `60`,
/// and a fraction of 3, 6 or 9 digits, or none.
pub(crate) fn push_time(out: &mut String, t: NaiveTime) {
    push_digits(out, t.hour(), 2);
    out.push(':');
    push_digits(out, t.minute(), 2);
    out.push(':');
    push_digits(out, t.second() + t.nanosecond() / 1_000_000_000, 2);
    let nano = t.nanosecond() % 1_000_000_000;
    if nano != 0 {
        out.push('.');
        if nano.is_multiple_of(1_000_000) {
            push_digits(out, nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            push_digits(out, nano / 1_000, 6);
        } else {
            push_digits(out, nano, 9);
        }
    }
}

/// Appends `t` as chrono's `%Y-%m-%d %H:%M:%S%.f` writes it.
pub(crate) fn push_timestamp(out: &mut String, t: NaiveDateTime) {
    push_date(out, t.date());
    out.push(' ');
    push_time(out, t.time());
}

/// Reads exactly `YYYY-MM-DD HH:MM:SS`, optionally with `.` and one to nine
/// digits: the sandbox's own form, which chrono's parser reads the same.
/// Anything else (another form, a leap second, an invalid date) is `None`,
/// for the caller to hand to chrono.
fn canonical_timestamp(b: &[u8]) -> Option<NaiveDateTime> {
    let num = |from: usize, to: usize| -> Option<u32> {
        let part = b.get(from..to)?;
        part.iter().try_fold(0_u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b' ') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    let (month, day) = (num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if second > 59 {
        return None;
    }
    let nano = match b.get(19..) {
        Some([]) => 0,
        Some([b'.', digits @ ..]) if (1..=9).contains(&digits.len()) => {
            let len = u32::try_from(digits.len()).ok()?;
            num(20, b.len())? * 10_u32.pow(9 - len)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?;
    Some(NaiveDateTime::new(date, time))
}

/// Shortest decimal text of a double that reads back as the same double.
pub(crate) fn format_float(x: f64) -> String {
    let s = format!("{x:?}");
    s.strip_suffix(".0")
        .map_or_else(|| s.clone(), str::to_owned)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f]` (or with `T`).
pub(crate) fn parse_naive_timestamp(s: &str) -> Option<NaiveDateTime> {
    if let Some(t) = canonical_timestamp(s.as_bytes()) {
        return Some(t);
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

/// Parses an instant: with an offset (`+02:00`, `Z`), or without one as UTC,
/// SQLite's own convention (`datetime('now')` is UTC without an offset).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = s
        .as_bytes()
        .strip_suffix(b"+00:00")
        .and_then(canonical_timestamp)
    {
        return Some(t.and_utc());
    }
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

    /// How [`DecodeRow::clone_into`] reads column `i` of this row and of
    /// every other row of its result (which shares its column types).
    fn plan(&self, _i: usize, _col: &ColumnSchema) -> Wire {
        Wire::Decode
    }

    /// Appends column `i` to `batch` as the sandbox stores it.
    fn clone_into(
        &self,
        i: usize,
        col: &ColumnSchema,
        _wire: Wire,
        batch: &mut CloneBatch,
    ) -> std::result::Result<(), String> {
        push_decoded(&self.decode(i, col)?, batch)
    }
}

/// Appends a decoded value to a clone batch. SQLite stores a bound NaN as
/// NULL: it is refused rather than changed.
fn push_decoded(value: &Value, batch: &mut CloneBatch) -> std::result::Result<(), String> {
    if matches!(value, Value::Float(x) if x.is_nan()) {
        return Err(NAN.to_owned());
    }
    batch.push(value);
    Ok(())
}
impl DecodeRow for sqlx::postgres::PgRow {
    fn decode(&self, i: usize, col: &ColumnSchema) -> std::result::Result<Value, String> {
        decode_pg(self, i, col)
    }

    fn plan(&self, i: usize, col: &ColumnSchema) -> Wire {
        pg_wire(self, i, col)
    }

    fn clone_into(
        &self,
        i: usize,
        col: &ColumnSchema,
        wire: Wire,
        batch: &mut CloneBatch,
    ) -> std::result::Result<(), String> {
        if wire != Wire::Decode
            && let Some(done) = pg_wire_into(self, i, wire, batch)
        {
            return done;
        }
        push_decoded(&decode_pg(self, i, col)?, batch)
    }
}

/// Why a NaN float is not cloned.
const NAN: &str = "a NaN float, which the sandbox (SQLite) cannot hold";

/// How the clone reads a column: decoded into a [`Value`], or (PostgreSQL)
/// straight from its binary wire form, for the types whose form is plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Decode,
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
    Timestamp,
    TimestampTz,
}

/// The [`Wire`] of column `i` of a PostgreSQL result: only where the type
/// `decode_pg` reads the column as accepts the column's type, as its
/// `try_get` checks.
fn pg_wire(row: &sqlx::postgres::PgRow, i: usize, col: &ColumnSchema) -> Wire {
    use sqlx::{Column as _, Type};
    type Pg = sqlx::Postgres;
    let Some(c) = row.columns().get(i) else {
        return Wire::Decode;
    };
    let ty = c.type_info();
    match &col.kind {
        ColumnKind::Bool if <bool as Type<Pg>>::compatible(ty) => Wire::Bool,
        ColumnKind::Int16 if <i16 as Type<Pg>>::compatible(ty) => Wire::I16,
        ColumnKind::Int32 if <i32 as Type<Pg>>::compatible(ty) => Wire::I32,
        ColumnKind::Int64 | ColumnKind::UInt64 if <i64 as Type<Pg>>::compatible(ty) => Wire::I64,
        ColumnKind::Float32 if <f32 as Type<Pg>>::compatible(ty) => Wire::F32,
        ColumnKind::Float64 if <f64 as Type<Pg>>::compatible(ty) => Wire::F64,
        ColumnKind::Text | ColumnKind::Interval | ColumnKind::Enum(_) | ColumnKind::Array
            if <String as Type<Pg>>::compatible(ty) =>
        {
            Wire::Text
        }
        ColumnKind::Bytes if <Vec<u8> as Type<Pg>>::compatible(ty) => Wire::Bytes,
        ColumnKind::Uuid if <uuid::Uuid as Type<Pg>>::compatible(ty) => Wire::Uuid,
        ColumnKind::Date if <NaiveDate as Type<Pg>>::compatible(ty) => Wire::Date,
        ColumnKind::Timestamp if <NaiveDateTime as Type<Pg>>::compatible(ty) => Wire::Timestamp,
        ColumnKind::TimestampTz if <DateTime<Utc> as Type<Pg>>::compatible(ty) => Wire::TimestampTz,
        _ => Wire::Decode,
    }
}

/// PostgreSQL's epoch (2000-01-01) in days from the common era and in
/// microseconds from the Unix epoch.
const PG_EPOCH_DAYS_FROM_CE: i32 = 730_120;
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Appends column `i` of `row` to `batch` from its binary form, as
/// `decode_pg` then [`CloneBatch::push`] would store it. `None` for anything
/// unexpected (a text form, an odd length, a value out of chrono's range):
/// the caller decodes it the general way, which reports what is wrong.
fn pg_wire_into(
    row: &sqlx::postgres::PgRow,
    i: usize,
    wire: Wire,
    batch: &mut CloneBatch,
) -> Option<std::result::Result<(), String>> {
    let raw = row.try_get_raw(i).ok()?;
    if raw.is_null() {
        batch.push_null();
        return Some(Ok(()));
    }
    if raw.format() != sqlx::postgres::PgValueFormat::Binary {
        return None;
    }
    let b = raw.as_bytes().ok()?;
    let micros = || b.try_into().ok().map(i64::from_be_bytes);
    match wire {
        Wire::Decode => return None,
        Wire::Bool => batch.push_int(i64::from(*b.first()? != 0)),
        Wire::I16 => batch.push_int(i16::from_be_bytes(b.try_into().ok()?).into()),
        Wire::I32 => batch.push_int(i32::from_be_bytes(b.try_into().ok()?).into()),
        Wire::I64 => batch.push_int(i64::from_be_bytes(b.try_into().ok()?)),
        Wire::F32 | Wire::F64 => {
            let x = match wire {
                Wire::F32 => f64::from(f32::from_be_bytes(b.try_into().ok()?)),
                _ => f64::from_be_bytes(b.try_into().ok()?),
            };
            if x.is_nan() {
                return Some(Err(NAN.to_owned()));
            }
            batch.push_real(x);
        }
        Wire::Text => batch.push_text(std::str::from_utf8(b).ok()?),
        Wire::Bytes => batch.push_blob(b),
        Wire::Uuid => batch.push(&Value::Uuid(uuid::Uuid::from_slice(b).ok()?)),
        Wire::Date => {
            let days = i32::from_be_bytes(b.try_into().ok()?);
            let date =
                NaiveDate::from_num_days_from_ce_opt(days.checked_add(PG_EPOCH_DAYS_FROM_CE)?)?;
            batch.push(&Value::Date(date));
        }
        Wire::Timestamp | Wire::TimestampTz => {
            let t = DateTime::from_timestamp_micros(micros()?.checked_add(PG_EPOCH_UNIX_MICROS)?)?;
            batch.push(&match wire {
                Wire::Timestamp => Value::Timestamp(t.naive_utc()),
                _ => Value::TimestampTz(t),
            });
        }
    }
    Some(Ok(()))
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

/// Text and bytes a batch of cloned rows holds at most (past its last row).
const CLONE_BATCH_BYTES: usize = 4 << 20;

/// The SELECT of one tenant's rows (or all rows of a reference table).
fn clone_sql(
    dialect: Dialect,
    schema: &TableSchema,
    cols: &[&ColumnSchema],
    tenant: Option<&ColumnSchema>,
    digests: &[ColumnSchema],
) -> String {
    let mut list: Vec<String> = cols.iter().map(|c| read_expr(dialect, c)).collect();
    list.extend(digests.iter().filter_map(|c| digest_of(dialect, c)));
    let mut sql = format!(
        "SELECT {} FROM {}",
        list.join(", "),
        qualified(dialect, &schema.resolved)
    );
    if let Some(t) = tenant {
        sql.push_str(" WHERE ");
        sql.push_str(&exact_eq(
            dialect,
            t,
            &dialect.quote(&t.name),
            &value_expr(dialect, t, 1),
            &value_expr(dialect, t, 2),
        ));
    }
    sql
}

/// The digest production computes of a value (`col_ref`), as lowercase hex
/// text, NULL for NULL: how a PII column, never read, is still guarded
/// against lost updates. `None` where the dialect has no hash function
/// (SQLite).
pub(crate) fn digest_expr(dialect: Dialect, col_ref: &str) -> Option<String> {
    match dialect {
        Dialect::Postgres => Some(format!(
            "pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to({col_ref}::pg_catalog.text, 'UTF8')), 'hex')"
        )),
        Dialect::MySql => Some(format!("SHA2(CAST({col_ref} AS BINARY), 256)")),
        Dialect::Sqlite => None,
    }
}

/// [`digest_expr`] of column `col`, over a text production prints without
/// losing anything: MariaDB prints a `FLOAT` with six digits (`1.2345678`
/// and `1.2345679` are both `1.23457`), so it is widened to `DOUBLE` first,
/// which prints the shortest text that reads back as the same value.
/// (PostgreSQL prints floats exactly at the pinned `extra_float_digits`.)
pub(crate) fn digest_of(dialect: Dialect, col: &ColumnSchema) -> Option<String> {
    let q = dialect.quote(&col.name);
    let value = match (dialect, &col.kind) {
        (Dialect::MySql, ColumnKind::Float32 | ColumnKind::Float64) => {
            format!("CAST({q} AS DOUBLE)")
        }
        _ => q,
    };
    digest_expr(dialect, &value)
}

/// The column a digest is decoded as.
pub(crate) fn digest_col(col: &ColumnSchema) -> ColumnSchema {
    ColumnSchema {
        name: col.name.clone(),
        declared_type: "text".to_owned(),
        kind: ColumnKind::Text,
        nullable: true,
        has_default: false,
        generated: false,
        computed: false,
    }
}

/// Production's digests of the PII columns of the cloned rows: the
/// process never holds those values, and the commit requires each digest
/// unchanged (see [`digest_expr`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Digests {
    /// The PII columns (none where the dialect has no hash function).
    pub cols: Vec<ColumnSchema>,
    /// Where the key columns are among the cloned columns.
    pub key_at: Vec<usize>,
    /// By the row's rendered key: each column's digest.
    pub by_key: std::collections::HashMap<String, Vec<Option<String>>>,
}

/// Streams the tenant's rows of `schema` (only `cols`), sending them to
/// `sink` in batches of `batch` rows (fewer where values are long), so
/// memory holds a few batches, not the result set. Returns the number of
/// rows. Batches the sink has loaded come back through `spare`, emptied,
/// and are filled again: growing fresh buffers for every batch cost more in
/// reallocations and page faults than the decoding.
///
/// # Errors
/// [`Error::Database`], [`Error::Unclonable`], or [`Error::Sandbox`] when
/// the receiving end is gone.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the streaming pipe's two ends and the digests taken beside the rows"
)]
pub(crate) async fn clone_rows(
    prod: &Production,
    schema: &TableSchema,
    cols: &[&ColumnSchema],
    tenant: Option<(&ColumnSchema, &Value)>,
    batch: usize,
    sink: &tokio::sync::mpsc::Sender<CloneBatch>,
    spare: &mut tokio::sync::mpsc::UnboundedReceiver<CloneBatch>,
    mut digests: Digests,
) -> Result<(u64, Digests)> {
    let send = |rows: CloneBatch| async move {
        sink.send(rows)
            .await
            .map_err(|_| Error::Sandbox("the sandbox stopped loading the clone".into()))
    };
    let dialect = prod.dialect();
    let mut binds = Vec::new();
    if let Some((tenant_col, tenant)) = tenant {
        let bind = write_bind(dialect, tenant_col, tenant).map_err(|e| {
            Error::Config(format!(
                "tenant value does not fit {}.{}: {}",
                schema.name, tenant_col.name, e.0
            ))
        })?;
        binds.extend(std::iter::repeat_n(
            bind,
            exact_eq_binds(dialect, tenant_col),
        ));
    }
    // The tenant column's place in the row: each row is checked again here,
    // byte for byte, before it goes near the sandbox.
    let check = tenant.and_then(|(tc, v)| {
        cols.iter()
            .position(|c| c.name == tc.name)
            .map(|i| (i, *cols.get(i).unwrap_or(&tc), v))
    });
    if digest_expr(dialect, "x").is_none() {
        digests.cols.clear();
    }
    let sql = clone_sql(dialect, schema, cols, tenant.map(|t| t.0), &digests.cols);
    let digest_cols: Vec<ColumnSchema> = digests.cols.iter().map(digest_col).collect();
    let key_cols: Vec<(usize, &ColumnSchema)> = digests
        .key_at
        .iter()
        .filter_map(|&i| cols.get(i).map(|c| (i, *c)))
        .collect();
    let context = format!("clone of {}", schema.name);
    let batch = batch.max(1);

    macro_rules! stream {
        ($conn:expr) => {{
            let query = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), binds.iter());
            let mut rows = query.fetch($conn);
            let mut buf = CloneBatch::default();
            let mut total = 0_u64;
            let mut wires: Vec<Wire> = Vec::new();
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(|e| Error::database(context.clone(), e))?
            {
                if let Some((i, col, want)) = check
                    && !DecodeRow::decode(&row, i, col)
                        .is_ok_and(|v| crate::shadow::tenant_eq(&v, want))
                {
                    return Err(Error::TenantCollation {
                        table: schema.name.to_string(),
                        column: col.name.clone(),
                    });
                }
                if wires.is_empty() {
                    wires = cols
                        .iter()
                        .enumerate()
                        .map(|(i, col)| DecodeRow::plan(&row, i, col))
                        .collect();
                }
                for ((i, col), wire) in cols.iter().enumerate().zip(&wires) {
                    DecodeRow::clone_into(&row, i, col, *wire, &mut buf)
                        .map_err(|r| unclonable(schema, col, &r))?;
                }
                if !digest_cols.is_empty() {
                    let mut key = Vec::with_capacity(key_cols.len());
                    for &(i, col) in &key_cols {
                        let v = DecodeRow::decode(&row, i, col)
                            .map_err(|r| unclonable(schema, col, &r))?;
                        key.push((col.name.clone(), v));
                    }
                    let mut values = Vec::with_capacity(digest_cols.len());
                    for (j, col) in digest_cols.iter().enumerate() {
                        values.push(
                            match DecodeRow::decode(&row, cols.len() + j, col)
                                .map_err(|r| unclonable(schema, col, &r))?
                            {
                                Value::Text(d) => Some(d),
                                _ => None,
                            },
                        );
                    }
                    digests
                        .by_key
                        .insert(crate::diff::Key(key).render(), values);
                }
                buf.end_row();
                total += 1;
                if buf.rows() >= batch || buf.held() >= CLONE_BATCH_BYTES {
                    let next = spare.try_recv().unwrap_or_else(|_| buf.empty_like());
                    send(std::mem::replace(&mut buf, next)).await?;
                }
            }
            if buf.rows() > 0 {
                send(buf).await?;
            }
            total
        }};
    }

    let n = match prod {
        Production::Postgres(pool) => {
            let mut tx = pool
                .begin()
                .await
                .map_err(|e| Error::database(context.clone(), e))?;
            tx.execute(sqlx::AssertSqlSafe(pg_pin_sql(true)))
                .await
                .map_err(|e| Error::database(context.clone(), e))?;
            let n = stream!(&mut *tx);
            // A read: nothing to keep; the settings end with it.
            let _ = tx.rollback().await;
            n
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
    };
    Ok((n, digests))
}

/// MySQL converts TIMESTAMP values to the session time zone: pin it to UTC
/// while shadowdb reads and writes, so instants stay instants.
///
/// The session's character set is pinned to utf8mb4 as well: the driver
/// sends and reads UTF-8, and a session in another character set (`SET
/// NAMES latin1` in a pool's `after_connect`) would take the bound tenant
/// `'acmé'` as `'acmÃ©'`, another tenant's value, and store what nobody
/// reviewed. `PAD_CHAR_TO_FULL_LENGTH` is taken out of the session's
/// `sql_mode` (the rest of it, strictness included, stays): it returns a
/// `CHAR(n)` tenant `'acme'` as `'acme    '`, which is not the tenant's bytes.
async fn mysql_utc(conn: &mut sqlx::mysql::MySqlConnection, context: &str) -> Result<()> {
    mysql_pin(conn)
        .await
        .map_err(|e| Error::database(context.to_owned(), e))
}

/// [`mysql_utc`] with the driver's error (for shadowdb's own tables).
pub(crate) async fn mysql_pin(
    conn: &mut sqlx::mysql::MySqlConnection,
) -> std::result::Result<(), sqlx::Error> {
    conn.execute(
        "SET @shadowdb_prev_tz = @@session.time_zone, \
         @shadowdb_prev_csc = @@session.character_set_client, \
         @shadowdb_prev_csr = @@session.character_set_results, \
         @shadowdb_prev_coll = @@session.collation_connection, \
         @shadowdb_prev_mode = @@session.sql_mode, \
         sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@session.sql_mode, ','), \
           ',PAD_CHAR_TO_FULL_LENGTH,', ',')), \
         time_zone = '+00:00', NAMES utf8mb4",
    )
    .await
    .map(|_| ())
}

/// Restores what [`mysql_utc`] pinned.
const MYSQL_RESTORE: &str = "SET time_zone = @shadowdb_prev_tz, \
     character_set_client = @shadowdb_prev_csc, \
     character_set_results = @shadowdb_prev_csr, \
     collation_connection = @shadowdb_prev_coll, \
     sql_mode = @shadowdb_prev_mode";

pub(crate) async fn mysql_restore_tz(conn: &mut sqlx::mysql::MySqlConnection) {
    // Best effort: the connection returns to the user's pool as it came.
    let _ = conn.execute(MYSQL_RESTORE).await;
}

/// The PostgreSQL session settings that change how values read as text
/// print (and the bytes the driver exchanges), pinned while shadowdb reads
/// and writes: `client_encoding` (the driver sends and reads UTF-8; a session
/// in `LATIN1` reads another tenant's `'acmÃ©'` as `'acmé'`),
/// `extra_float_digits` (at `-3`, `1.23456789012341` and `...42` print
/// alike, so a float array neither clones exactly nor guards), and the
/// styles of dates, intervals and bytea (so digests and guards print the
/// same way on every connection of the pool). `DateStyle = ISO` keeps the
/// session's day/month order for input. `TimeZone = UTC`: an array's times
/// print, and read without an offset, in it; so production defaults that
/// depend on the session's zone (`current_date`, `localtime`) are computed
/// in UTC during a commit.
const PG_PINNED: [(&str, &str); 6] = [
    ("client_encoding", "UTF8"),
    ("TimeZone", "UTC"),
    ("extra_float_digits", "3"),
    ("DateStyle", "ISO"),
    ("IntervalStyle", "postgres"),
    ("bytea_output", "hex"),
];

/// `SET [LOCAL] name = value; ...` of [`PG_PINNED`].
fn pg_pin_sql(local: bool) -> String {
    PG_PINNED
        .iter()
        .map(|(name, value)| {
            format!(
                "SET {}{name} = '{value}'",
                if local { "LOCAL " } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Pins [`PG_PINNED`] on a session of shadowdb's own tables (audit,
/// approvals); returns the previous values for [`pg_restore_encoding`].
pub(crate) async fn pg_pin(
    conn: &mut sqlx::postgres::PgConnection,
) -> std::result::Result<Vec<String>, sqlx::Error> {
    // One round trip each way: the settings as one array, then the SETs.
    let reads: Vec<String> = PG_PINNED
        .iter()
        .map(|(name, _)| format!("pg_catalog.current_setting('{name}')"))
        .collect();
    let prev: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT ARRAY[{}]",
        reads.join(", ")
    )))
    .fetch_one(&mut *conn)
    .await?;
    conn.execute(sqlx::AssertSqlSafe(pg_pin_sql(false))).await?;
    Ok(prev)
}

pub(crate) async fn pg_restore_encoding(conn: &mut sqlx::postgres::PgConnection, prev: &[String]) {
    // Best effort: the connection returns to the user's pool as it came.
    let sets: Vec<String> = PG_PINNED
        .iter()
        .zip(1..)
        .map(|((name, _), n)| format!("pg_catalog.set_config('{name}', ${n}, false)"))
        .collect();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {}", sets.join(", "))));
    for v in prev {
        q = q.bind(v);
    }
    let _ = q.execute(&mut *conn).await;
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
                let mut tx = p.begin().await.map_err(|e| Error::database(ctx, e))?;
                // For this transaction only (see `PG_PINNED`).
                tx.execute(sqlx::AssertSqlSafe(pg_pin_sql(true)))
                    .await
                    .map_err(|e| Error::database(ctx, e))?;
                ProdTx::Postgres(tx)
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
                let _ = tx.execute(MYSQL_RESTORE).await;
                tx.commit().await
            }
            ProdTx::Sqlite(tx) => tx.commit().await,
        }
    }

    /// Rolls back (also what dropping does; explicit to await it).
    pub(crate) async fn rollback(self) {
        let _ = match self {
            ProdTx::Postgres(tx) => tx.rollback().await,
            ProdTx::MySql(mut tx) => {
                let _ = tx.execute(MYSQL_RESTORE).await;
                tx.rollback().await
            }
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
    fn passwords_of_every_url_form_are_removed() {
        let cases = [
            // user:password, plain and percent-encoded
            ("postgres://u:pw1@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgres://u:p%40ss%2Fw@h/db", "postgres://u:***@h/db"),
            (
                "mysql://root:Secr3t%23@127.0.0.1:3306/test",
                "mysql://root:***@127.0.0.1:3306/test",
            ),
            // a password holding `?`, `/`, `#` or `@` unencoded
            (
                "postgres://root:pa?ss@127.0.0.1:5432/db",
                "postgres://***@127.0.0.1:5432/db",
            ),
            (
                "postgres://root:pa/ss@127.0.0.1:5432/db",
                "postgres://***@127.0.0.1:5432/db",
            ),
            ("postgres://root:12/34@h/db", "postgres://***@h/db"),
            ("postgres://root:pa#ss@h/db", "postgres://***@h/db"),
            ("postgres://root:a@b@h/db", "postgres://root:***@h/db"),
            // secret query parameters, any case, percent-encoded keys
            (
                "postgres://root@127.0.0.1:5432/db?password=SECRET",
                "postgres://root@127.0.0.1:5432/db?password=***",
            ),
            (
                "postgres://h/db?sslmode=require&PASSWORD=x1y2&application_name=a",
                "postgres://h/db?sslmode=require&PASSWORD=***&application_name=a",
            ),
            (
                "postgres://h/db?sslpassword=k3y&sslkey=/etc/key.pem",
                "postgres://h/db?sslpassword=***&sslkey=/etc/key.pem",
            ),
            (
                "postgres://h/db?pass%77ord=zz9",
                "postgres://h/db?pass%77ord=***",
            ),
            (
                "mysql://u@h/db?password=p%3Fw",
                "mysql://u@h/db?password=***",
            ),
            // a fragment is dropped
            ("postgres://u@h/db#frag", "postgres://u@h/db"),
            // no authority
            ("sqlite://data.db", "sqlite://data.db"),
            ("sqlite:data.db?mode=ro", "sqlite:data.db?mode=ro"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite:x.db?password=hunter2", "sqlite:x.db?password=***"),
            // malformed
            ("not a url hunter2", "(not a database URL)"),
            ("postgres//u:hunter2@h/db", "(not a database URL)"),
            // no scheme: `u` reads as one, and the password as its path
            ("u:hunter2@host/db", "(a database URL)"),
            ("sqlite:u:hunter2@x.db", "(a database URL)"),
        ];
        for (url, shown) in cases {
            let got = redact_url(url);
            assert_eq!(got, shown, "{url}");
            for secret in url_passwords(url) {
                assert!(!got.contains(&secret), "{url} shows {secret}");
            }
        }
        assert_eq!(
            url_passwords("postgres://u:p%40ss@h/db?password=a%26b"),
            vec!["p%40ss", "a%26b", "p@ss", "a&b"]
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
    fn postgres_epochs_are_what_sqlx_adds_to() {
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        assert_eq!(epoch.num_days_from_ce(), PG_EPOCH_DAYS_FROM_CE);
        assert_eq!(
            epoch
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros(),
            PG_EPOCH_UNIX_MICROS
        );
        // As sqlx decodes: the epoch plus the days or microseconds.
        for us in [
            0_i64,
            1,
            -1,
            86_399_999_999,
            -86_400_000_001,
            790_000_123_456_789,
        ] {
            let sqlx = epoch.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::microseconds(us);
            let ours = DateTime::from_timestamp_micros(us + PG_EPOCH_UNIX_MICROS).unwrap();
            assert_eq!(ours.naive_utc(), sqlx);
        }
        for days in [0_i32, 1, -1, 9_000, -730_000, 2_000_000] {
            let sqlx = epoch + chrono::Duration::days(days.into());
            let ours = NaiveDate::from_num_days_from_ce_opt(days + PG_EPOCH_DAYS_FROM_CE).unwrap();
            assert_eq!(ours, sqlx);
        }
    }

    #[test]
    fn time_text_is_chronos_own() {
        let dates = [
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(0, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(999, 3, 4).unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(-44, 3, 15).unwrap(),
        ];
        let nanos = [
            0,
            1,
            999,
            1_000,
            120_000,
            500_000_000,
            123_456_789,
            999_999_999,
            1_000_000_000,
            1_500_000_000,
        ];
        for d in dates {
            let mut s = String::new();
            push_date(&mut s, d);
            assert_eq!(s, d.format("%Y-%m-%d").to_string());
            for (h, m, sec) in [(0, 0, 0), (9, 5, 7), (23, 59, 59)] {
                for n in nanos {
                    let t = NaiveTime::from_hms_nano_opt(h, m, sec, n)
                        .or_else(|| NaiveTime::from_hms_nano_opt(h, m, 59, n))
                        .unwrap();
                    let ts = NaiveDateTime::new(d, t);
                    let mut s = String::new();
                    push_time(&mut s, t);
                    assert_eq!(s, t.format("%H:%M:%S%.f").to_string());
                    let mut s = String::new();
                    push_timestamp(&mut s, ts);
                    let want = ts.format("%Y-%m-%d %H:%M:%S%.f").to_string();
                    assert_eq!(s, want);
                    // Read back: the fast reader agrees with chrono's, or leaves it to it.
                    let slow = NaiveDateTime::parse_from_str(&want, "%Y-%m-%d %H:%M:%S%.f").ok();
                    if let Some(fast) = canonical_timestamp(want.as_bytes()) {
                        assert_eq!(Some(fast), slow, "{want}");
                    }
                    assert_eq!(
                        parse_naive_timestamp(&want),
                        slow.or_else(|| {
                            NaiveDateTime::parse_from_str(&want, "%Y-%m-%dT%H:%M:%S%.f").ok()
                        })
                    );
                    let tz = format!("{want}+00:00");
                    let slow = DateTime::parse_from_str(&tz, "%Y-%m-%d %H:%M:%S%.f%:z")
                        .ok()
                        .map(|t| t.with_timezone(&Utc));
                    if slow.is_some() {
                        assert_eq!(parse_instant(&tz), slow, "{tz}");
                    }
                }
            }
        }
        for odd in [
            "2024-01-01 00:00:00.1234567891",
            "2024-01-01 00:00:00.",
            "2024-1-01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-02-30 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 23:59:60",
            "2024-01-01 00:00:00 ",
            "+2024-01-01 00:00:00",
        ] {
            let fast = canonical_timestamp(odd.as_bytes());
            let slow = NaiveDateTime::parse_from_str(odd, "%Y-%m-%d %H:%M:%S%.f").ok();
            assert!(fast.is_none() || fast == slow, "{odd}");
        }
    }

    #[test]
    fn text_compares_byte_for_byte_and_keeps_the_index() {
        let col = |kind: ColumnKind| ColumnSchema {
            name: "tenant".to_owned(),
            declared_type: "varchar(20)".to_owned(),
            kind,
            nullable: false,
            has_default: false,
            generated: false,
            computed: false,
        };
        let text = col(ColumnKind::Text);
        assert_eq!(
            exact_eq(Dialect::MySql, &text, "`tenant`", "?", "?"),
            "`tenant` = ? AND CAST(CONVERT(`tenant` USING utf8mb4) AS BINARY) = CAST(? AS BINARY)"
        );
        assert_eq!(
            exact_eq(Dialect::Postgres, &text, "\"tenant\"", "$1", "$2"),
            "\"tenant\" = $1 AND \"tenant\"::pg_catalog.text COLLATE pg_catalog.\"C\" = $1::pg_catalog.text COLLATE pg_catalog.\"C\""
        );
        assert_eq!(
            exact_eq(Dialect::Sqlite, &text, "\"tenant\"", "?", "?"),
            "\"tenant\" = ? AND \"tenant\" = ? COLLATE BINARY"
        );
        assert_eq!(exact_eq_binds(Dialect::MySql, &text), 2);
        assert_eq!(exact_eq_binds(Dialect::Postgres, &text), 1);
        let int = col(ColumnKind::Int64);
        assert_eq!(
            exact_eq(Dialect::MySql, &int, "`tenant`", "?", "?"),
            "`tenant` = ?"
        );
        assert_eq!(exact_eq_binds(Dialect::Sqlite, &int), 1);
        assert_eq!(
            guard_cmp(Dialect::Sqlite, &text, "\"tenant\"", "?"),
            "\"tenant\" IS ? COLLATE BINARY"
        );
    }

    #[test]
    fn float_text_is_shortest_exact() {
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(1e300), "1e300");
    }
}
