//! How a diff is computed: each raw (old, new) pair the sandbox captured
//! becomes typed row changes, and every new or changed row is checked
//! against its contract, the tenant, and what production accepts.
//!
//! It reads the scope ([`Scoped`]) and production's codecs, never the
//! session: [`ShadowDb::diff`](crate::ShadowDb::diff) hands it the rows.

use std::sync::Arc;

use safemodel::{CheckOptions, Row, Rule, Value, Violation};

use crate::diff::{Key, Op, RowChange};
use crate::model;
use crate::prod;
use crate::scope::{SandboxPos, Scoped, tenant_eq};
use crate::types::{ColumnKind, Dialect};

/// What every new or changed row of one session is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowChecks<'a> {
    /// The session's tenant: every written row carries it.
    pub tenant: &'a Value,
    /// Production's dialect: what it accepts for each column.
    pub dialect: Dialect,
}

impl RowChecks<'_> {
    /// [`check_new_row`] for this session's tenant and dialect.
    fn check_new(
        &self,
        t: &Scoped,
        new: &Row,
        old: Option<&Row>,
        violations: Vec<Violation>,
    ) -> Vec<Violation> {
        check_new_row(self.tenant, self.dialect, t, new, old, violations)
    }

    /// Turns one raw (old, new) pair of sandbox values into row changes (a
    /// key change is a delete plus an insert). `names` are the columns kept,
    /// shared by the rows of one diff.
    pub(crate) fn row_changes(
        &self,
        t: &Scoped,
        old: Option<Vec<Value>>,
        new: Option<Vec<Value>>,
        names: &Arc<[Box<str>]>,
    ) -> Vec<RowChange> {
        let mut violations = Vec::new();
        let old = old.map(|v| typed_row(t, v, names, &mut Vec::new()));
        let new = new.map(|v| typed_row(t, v, names, &mut violations));
        let table = t.schema.name.to_string();
        match (old, new) {
            (Some(old), None) => vec![RowChange::deleted(table, key_of(t, &old), old)],
            (None, Some(new)) => {
                let key = key_of(t, &new);
                let violations = self.check_new(t, &new, None, violations);
                vec![RowChange::inserted(table, key, new, violations)]
            }
            (Some(old), Some(new)) => {
                let (ko, kn) = (key_of(t, &old), key_of(t, &new));
                if ko != kn {
                    let violations = self.check_new(t, &new, None, violations);
                    return vec![
                        RowChange::deleted(table.clone(), ko, old),
                        RowChange::inserted(table, kn, new, violations),
                    ];
                }
                // What production computes is never written: a REPLACE that
                // cleared it is no change to it.
                let changed: Vec<String> = old
                    .iter()
                    .zip(new.values())
                    .filter(|((_, a), b)| a != b)
                    .map(|((c, _), _)| c.to_owned())
                    .filter(|c| t.schema.column(c).is_none_or(|col| !col.computed))
                    .collect();
                if changed.is_empty() {
                    // Only representation changed (`1.10` -> `1.1`): not a change.
                    return Vec::new();
                }
                let violations = self.check_new(t, &new, Some(&old), violations);
                vec![RowChange {
                    table,
                    op: Op::Update,
                    key: kn,
                    old: Some(old),
                    new: Some(new),
                    changed,
                    violations,
                }]
            }
            (None, None) => Vec::new(),
        }
    }
}

/// Every violation of a new or changed row: decoding (`violations`, as
/// typed), contract, tenant, and values production would reject. A rollback
/// checks the rows it writes back with it, without a session.
pub(crate) fn check_new_row(
    tenant: &Value,
    dialect: Dialect,
    t: &Scoped,
    new: &Row,
    old: Option<&Row>,
    mut violations: Vec<Violation>,
) -> Vec<Violation> {
    // Tenant: every written row carries the scope's tenant.
    if let Some(tc) = t.tenant_column() {
        let value = new.get(&tc.name).unwrap_or(&Value::Null);
        if !tenant_eq(value, tenant) {
            let msg = if old.is_some() {
                "changes the tenant column (rows cannot move to another tenant)"
            } else {
                "row belongs to another tenant"
            };
            violations.push(Violation::new(
                tc.name.clone(),
                Rule::Other("tenant".into()),
                msg,
            ));
        }
    }
    if let Some(model) = t.model
        && let Err(rv) = model.check_row(new, CheckOptions::sandbox())
    {
        for v in rv.violations {
            // A new row leaves what production computes to production.
            let computed = t.schema.column(&v.column).is_some_and(|c| c.computed);
            if computed && new.get(&v.column).is_none_or(Value::is_null) {
                continue;
            }
            if !violations
                .iter()
                .any(|w| w.column == v.column && w.rule == v.rule)
            {
                violations.push(v);
            }
        }
    }
    for (name, value) in new.iter() {
        let changed = old.is_none_or(|o| o.get(name) != Some(value));
        if !changed || violations.iter().any(|v| v.column == name) {
            continue;
        }
        if let Some(col) = t.schema.column(name).filter(|c| !c.computed) {
            if value.is_null() && !col.nullable && !(old.is_none() && col.generated) {
                violations.push(Violation::new(name, Rule::NotNull, "NULL is not allowed"));
            } else if let Err(e) = prod::check_write(dialect, col, value) {
                violations.push(Violation::new(
                    name,
                    Rule::Other("production_type".into()),
                    e.0,
                ));
            }
        }
    }
    violations
}

/// Reads raw sandbox values as their columns' kinds; PII columns are
/// left out (a non-NULL PII value is a violation: it cannot be written).
/// `names` are the columns kept, shared by the rows of one diff.
fn typed_row(
    t: &Scoped,
    raw: Vec<Value>,
    names: &Arc<[Box<str>]>,
    violations: &mut Vec<Violation>,
) -> Row {
    let width = raw.len();
    // Without PII the row keeps every column: typed where it lies.
    let in_place = width == names.len()
        && !t.pii.iter().any(|p| *p)
        && (0..width).all(|pos| {
            t.col(SandboxPos(pos))
                .zip(names.get(pos))
                .is_some_and(|(c, n)| **n == *c.name)
        });
    if in_place {
        let mut raw = raw;
        for (pos, v) in raw.iter_mut().enumerate() {
            let Some(col) = t.col(SandboxPos(pos)) else {
                continue;
            };
            *v = typed_value(col, std::mem::replace(v, Value::Null), violations);
        }
        return Row::with_columns(Arc::clone(names), raw);
    }
    let mut values = Vec::with_capacity(width);
    // Whether the columns kept are `names`, checked as they go.
    let mut shared = true;
    for (pos, v) in raw.into_iter().enumerate() {
        let Some(col) = t.col(SandboxPos(pos)) else {
            continue;
        };
        if t.pii.get(pos).copied().unwrap_or(false) {
            if !v.is_null() {
                violations.push(Violation::new(
                    col.name.clone(),
                    Rule::Other("pii".into()),
                    "column is PII and cannot be written",
                ));
            }
            continue;
        }
        let typed = typed_value(col, v, violations);
        shared = shared && names.get(values.len()).is_some_and(|n| **n == *col.name);
        values.push(typed);
    }
    if values.is_empty() {
        return Row::new();
    }
    let names = if shared && names.len() == values.len() {
        Arc::clone(names)
    } else {
        (0..width)
            .filter(|&pos| !t.pii.get(pos).copied().unwrap_or(false))
            .filter_map(|pos| t.col(SandboxPos(pos)))
            .map(|c| Box::from(c.name.as_str()))
            .collect()
    };
    Row::with_columns(names, values)
}

/// The key of a typed row: `(column, value)` of each key column.
fn key_of(t: &Scoped, row: &Row) -> Key {
    Key(t
        .key_columns()
        .map(|c| {
            (
                c.name.clone(),
                row.get(&c.name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect())
}

impl RowChange {
    /// A cloned row that no longer exists.
    pub(crate) fn deleted(table: String, key: Key, old: Row) -> RowChange {
        RowChange {
            table,
            op: Op::Delete,
            key,
            old: Some(old),
            new: None,
            changed: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// A row that was not cloned, every column of it changed.
    pub(crate) fn inserted(
        table: String,
        key: Key,
        new: Row,
        violations: Vec<Violation>,
    ) -> RowChange {
        RowChange {
            table,
            op: Op::Insert,
            key,
            changed: new.columns().map(str::to_owned).collect(),
            old: None,
            new: Some(new),
            violations,
        }
    }
}

/// A raw sandbox value as its column's kind; one that does not fit stays as
/// it is, with a type violation.
///
/// A float in a decimal column is what SQLite's `+ - *` make of decimal text:
/// it may have lost digits, so it is refused (the column is `ANY` in the
/// sandbox and keeps the float as such), never read back as if exact.
fn typed_value(col: &model::ColumnSchema, v: Value, violations: &mut Vec<Violation>) -> Value {
    if col.kind == ColumnKind::Decimal && matches!(v, Value::Float(_)) {
        violations.push(Violation::new(
            col.name.clone(),
            Rule::Other("precision".into()),
            format!(
                "decimal computed in floating point (precision lost): compute exactly with \
                 decimal_add({0}, '1'), decimal_sub, decimal_mul or decimal_round, and write \
                 decimals as text ('1.5')",
                col.name
            ),
        ));
        return v;
    }
    match prod::sqlite_value_as(&col.kind, v) {
        Ok(x) => x,
        Err((x, msg)) => {
            violations.push(Violation::new(col.name.clone(), Rule::Type, msg));
            x
        }
    }
}
