//! SQL text for production: quoted names, the expressions that read and
//! write a column exactly, byte-for-byte comparisons, and the digests that
//! guard PII columns. Pure functions of the dialect and the column.

use crate::model::{ColumnSchema, TableName};
use crate::types::{ColumnKind, Dialect};

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
pub(super) fn read_as_text(dialect: Dialect, kind: &ColumnKind) -> bool {
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

/// An expression holding a value as bound by [`write_bind`](super::bind::write_bind) (a placeholder, or
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
/// the value as bound by [`guard_bind`](super::bind::guard_bind) (a placeholder, or a batch column).
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
