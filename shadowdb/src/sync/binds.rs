//! Changeset values bound for production, and the SQL fragments that
//! compare them: a value production would refuse is the row's contract
//! violation, a guard is compared byte for byte, key tuples go in `IN` lists.

use safemodel::{Row, RowViolations, Value};

use super::shape::Shape;
use crate::diff::{Key, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::model::ColumnSchema;
use crate::prod::{self, Bind, FetchError};
use crate::scope::Scoped;
use crate::types::Dialect;

/// A failed read of production during the commit: a database error, or a
/// value it returned that cannot be decoded exactly; `what` names the read
/// (`reading back tasks`).
pub(super) fn fetch_error(what: String, e: FetchError) -> Error {
    match e {
        FetchError::Db(e) => Error::database(format!("commit: {what}"), e),
        FetchError::Decode(reason) => Error::Decode {
            context: what,
            reason,
        },
    }
}

/// `v` bound for writing into `col`; a value production would refuse is
/// a contract violation of `c`'s row.
pub(super) fn bind(dialect: Dialect, col: &ColumnSchema, v: &Value, c: &RowChange) -> Result<Bind> {
    prod::write_bind(dialect, col, v).map_err(|e| {
        Error::Contract(vec![RowViolations {
            table: c.table.clone(),
            key: c.key.render(),
            violations: vec![safemodel::Violation::new(
                col.name.clone(),
                safemodel::Rule::Other("production_type".into()),
                e.0,
            )],
        }])
    })
}

/// Each row's key bound after `binds`, as a tuple of placeholder
/// expressions for [`in_list`].
pub(super) fn key_tuples(
    dialect: Dialect,
    key_cols: &[&ColumnSchema],
    rows: &[&RowChange],
    binds: &mut Vec<Bind>,
) -> Result<Vec<Vec<String>>> {
    let mut tuples = Vec::with_capacity(rows.len());
    for &c in rows {
        let mut exprs = Vec::with_capacity(key_cols.len());
        for (col, (_, v)) in key_cols.iter().zip(&c.key.0) {
            binds.push(bind(dialect, col, v, c)?);
            exprs.push(prod::value_expr(dialect, col, binds.len()));
        }
        tuples.push(exprs);
    }
    Ok(tuples)
}

/// `col = v`, byte for byte whatever the column's collation (see
/// [`prod::exact_eq`]), with `v` bound after `binds` as many times as
/// the dialect needs it.
pub(super) fn exact_eq_bound(
    dialect: Dialect,
    col: &ColumnSchema,
    v: &Value,
    c: &RowChange,
    binds: &mut Vec<Bind>,
) -> Result<String> {
    let bind = bind(dialect, col, v, c)?;
    let n = binds.len() + 1;
    binds.extend(std::iter::repeat_n(
        bind,
        prod::exact_eq_binds(dialect, col),
    ));
    Ok(prod::exact_eq(
        dialect,
        col,
        &dialect.quote(&col.name),
        &prod::value_expr(dialect, col, n),
        &prod::value_expr(dialect, col, n + 1),
    ))
}

/// The cloned value of a guarded column, bound as the guard reads it.
pub(super) fn guard_value(
    dialect: Dialect,
    col: &ColumnSchema,
    v: &Value,
    c: &RowChange,
) -> Result<Bind> {
    prod::guard_bind(dialect, col, v).map_err(|e| {
        Error::Conflict(vec![Conflict {
            table: c.table.clone(),
            key: c.key.clone(),
            kind: ConflictKind::Changed {
                columns: vec![format!("{} ({})", col.name, e.0)],
            },
        }])
    })
}

/// `AND <every cloned column is as cloned>`.
pub(super) fn guards(
    dialect: Dialect,
    t: &Scoped,
    old: &Row,
    c: &RowChange,
    binds: &mut Vec<Bind>,
) -> Result<String> {
    let mut out = String::new();
    for col in Shape::guard_cols(t, old) {
        let v = old.get(&col.name).unwrap_or(&Value::Null);
        binds.push(guard_value(dialect, col, v, c)?);
        out.push_str(" AND ");
        out.push_str(&prod::guard_expr(dialect, col, binds.len()));
    }
    Ok(out)
}

pub(super) fn columns_of<'a>(t: &'a Scoped, row: &Row) -> Vec<&'a ColumnSchema> {
    row.columns()
        .filter_map(|name| t.schema.column(name))
        .collect()
}

/// `lhs IN (..)` for one column or a tuple of columns (SQLite takes a tuple
/// list only as a `VALUES` subquery).
pub(super) fn in_list(dialect: Dialect, lhs: &[String], tuples: &[Vec<String>]) -> String {
    if tuples.is_empty() {
        return "1 = 0".to_owned();
    }
    if let [one] = lhs {
        let items: Vec<String> = tuples.iter().map(|t| t.join(", ")).collect();
        return format!("{one} IN ({})", items.join(", "));
    }
    let rows: Vec<String> = tuples
        .iter()
        .map(|t| format!("({})", t.join(", ")))
        .collect();
    match dialect {
        Dialect::Sqlite => format!("({}) IN (VALUES {})", lhs.join(", "), rows.join(", ")),
        _ => format!("({}) IN ({})", lhs.join(", "), rows.join(", ")),
    }
}

/// The key of a row read back from production: the key columns' values.
pub(super) fn key_from(key_cols: &[&ColumnSchema], values: Vec<Value>) -> Key {
    Key(key_cols
        .iter()
        .map(|c| c.name.clone())
        .zip(values)
        .collect())
}

pub(super) fn tenant_col(t: &Scoped) -> Option<&ColumnSchema> {
    t.tenant_column()
}
