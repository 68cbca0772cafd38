//! Keys production assigns at commit, and the rows that reference them.
//!
//! A row the agent inserts into a table whose single integer key production
//! generates gets a provisional key in the sandbox (above the table's
//! provisional base). A child row inserted (or updated) in the same change
//! that references it through a declared foreign key holds that provisional
//! value; the sync writes it as the key production gave the parent, in the
//! same transaction (parents are inserted first). A provisional value in any
//! other column would commit a made-up number: it is a violation.

use std::collections::HashSet;

use safemodel::{Rule, Value, Violation};

use crate::diff::{Key, Op, PendingRef, RowChange};
use crate::error::{Error, Result};
use crate::scope::Scoped;

/// A key production generated for a row inserted with a provisional one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The table.
    pub table: String,
    /// The key column.
    pub column: String,
    /// The sandbox's provisional key.
    pub provisional: i64,
    /// Production's key.
    pub assigned: i64,
}

/// The rule of a provisional key where production will not remap it.
pub(crate) const RULE: &str = "provisional_key";

/// The foreign keys of scoped tables onto the generated key of a scoped
/// table (alone, or as one column of a composite key).
pub(crate) fn pending_refs(tables: &[Scoped]) -> Vec<PendingRef> {
    let mut out = Vec::new();
    for t in tables.iter().filter(|t| !t.read_only) {
        for fk in &t.schema.foreign_keys {
            let Some(parent) = tables
                .iter()
                .find(|o| t.schema.names_table(&fk.ref_table, &o.schema))
            else {
                continue;
            };
            let (Some(base), Some(key)) = (parent.generated_key, generated_key_column(parent))
            else {
                continue;
            };
            // A composite key (`(org, task_id) -> tasks (org, id)`) carries
            // the generated key in one of its columns; the others stay.
            let Some((column, ref_column)) = fk
                .columns
                .iter()
                .zip(&fk.ref_columns)
                .find(|(_, r)| r.as_str() == key)
            else {
                continue;
            };
            if key == ref_column.as_str() {
                out.push(PendingRef {
                    table: t.schema.name.to_string(),
                    column: column.clone(),
                    parent: parent.schema.name.to_string(),
                    base,
                });
            }
        }
    }
    out
}

/// The name of a table's generated single key column.
fn generated_key_column(t: &Scoped) -> Option<&str> {
    t.generated_key?;
    match t.key.as_slice() {
        [k] => t.col(*k).map(|c| c.name.as_str()),
        _ => None,
    }
}

/// Per table with a generated key: its key column and the provisional keys
/// of its new rows, in scope order (tables of one integer width share the
/// provisional range, so the first is named).
fn fresh_keys(tables: &[Scoped], changes: &[RowChange]) -> Vec<(String, (String, HashSet<i64>))> {
    let mut fresh = Vec::new();
    for t in tables {
        let (Some(base), Some(col)) = (t.generated_key, generated_key_column(t)) else {
            continue;
        };
        let name = t.schema.name.to_string();
        let keys: HashSet<i64> = changes
            .iter()
            .filter(|c| c.table == name && c.op == Op::Insert)
            .filter_map(|c| match c.new.as_ref().and_then(|r| r.get(col)) {
                Some(Value::Int(i)) if *i > base => Some(*i),
                _ => None,
            })
            .collect();
        if !keys.is_empty() {
            fresh.push((name, (col.to_owned(), keys)));
        }
    }
    fresh
}

/// Adds a violation to every new or changed value that is the provisional
/// key of a row inserted in this change, where no declared foreign key onto
/// that row's table will carry production's key instead.
pub(crate) fn check_provisional(tables: &[Scoped], refs: &[PendingRef], changes: &mut [RowChange]) {
    let fresh = fresh_keys(tables, changes);
    if fresh.is_empty() {
        return;
    }
    let of = |table: &str| fresh.iter().find(|(t, _)| t == table).map(|(_, f)| f);
    for c in changes.iter_mut() {
        let Some(new) = &c.new else { continue };
        let mut found = Vec::new();
        for (column, value) in new.iter() {
            if c.op == Op::Update && !c.changed.iter().any(|n| n == column) {
                continue;
            }
            let Value::Int(v) = value else {
                // A key written as text, a decimal or inside JSON is no
                // less the sandbox's: no foreign key carries it.
                if let Some(parent) = embedded_keys(value).into_iter().find_map(|k| {
                    fresh
                        .iter()
                        .find(|(_, (_, keys))| keys.contains(&k))
                        .map(|(p, _)| p)
                }) {
                    found.push(Violation::new(
                        column,
                        Rule::Other(RULE.into()),
                        format!(
                            "holds the provisional key of a new row of `{parent}` in its text: production will give that row another key"
                        ),
                    ));
                }
                continue;
            };
            // The row's own provisional key.
            if c.op == Op::Insert
                && of(&c.table).is_some_and(|(col, keys)| col == column && keys.contains(v))
            {
                continue;
            }
            if let Some(r) = refs
                .iter()
                .find(|r| r.table == c.table && r.column == column)
            {
                if *v > r.base && !of(&r.parent).is_some_and(|(_, keys)| keys.contains(v)) {
                    found.push(Violation::new(
                        column,
                        Rule::Other(RULE.into()),
                        format!(
                            "references a provisional key of `{}` that no new row has",
                            r.parent
                        ),
                    ));
                }
                continue;
            }
            if let Some((parent, _)) = fresh.iter().find(|(_, (_, keys))| keys.contains(v)) {
                found.push(Violation::new(
                    column,
                    Rule::Other(RULE.into()),
                    format!(
                        "holds the provisional key of a new row of `{parent}` without a foreign key to it: production will give that row another key"
                    ),
                ));
            }
        }
        for v in found {
            if !c
                .violations
                .iter()
                .any(|w| w.column == v.column && w.rule == v.rule)
            {
                c.violations.push(v);
            }
        }
    }
}

/// The integers written in `value`'s text: each run of digits of a text or
/// JSON value, the integral part of a decimal, a whole float. Provisional
/// keys are 19 digits, so longer runs hold none.
fn embedded_keys(value: &Value) -> Vec<i64> {
    fn runs(text: &str) -> Vec<i64> {
        text.split(|c: char| !c.is_ascii_digit())
            .filter(|r| !r.is_empty() && r.len() <= 19)
            .filter_map(|r| r.parse::<i64>().ok())
            .collect()
    }
    match value {
        Value::Text(s) => runs(s),
        Value::Json(j) => runs(j.as_str()),
        Value::Decimal(d) => crate::value::decimal::Exact::parse(d.as_str())
            .map(|e| runs(&e.to_string()))
            .unwrap_or_default(),
        #[allow(clippy::cast_possible_truncation)] // only a whole float within i64 is kept
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => vec![*x as i64],
        _ => Vec::new(),
    }
}

/// `c` with every provisional key in a pending reference replaced by the
/// key production assigned (`None`: nothing to replace). A provisional key
/// production has not assigned yet is an error naming the row and column,
/// unless it is of table `later`, whose rows are still being inserted (the
/// row is remapped again just before it is written).
pub(crate) fn remap(
    c: &RowChange,
    refs: &[PendingRef],
    generated: &[GeneratedKey],
    later: Option<&str>,
) -> Result<Option<RowChange>> {
    let Some(new) = &c.new else { return Ok(None) };
    let mut out: Option<RowChange> = None;
    for r in refs.iter().filter(|r| r.table == c.table) {
        let Some(Value::Int(v)) = new.get(&r.column) else {
            continue;
        };
        if *v <= r.base {
            continue;
        }
        if c.op == Op::Update && !c.changed.contains(&r.column) {
            continue;
        }
        let Some(g) = generated
            .iter()
            .find(|g| g.table == r.parent && g.provisional == *v)
        else {
            // Only a new row of that table itself waits: it is written after
            // the rows before it, remapped again then.
            let own_fresh = matches!(c.key.0.as_slice(), [(_, Value::Int(k))] if *k > r.base);
            if c.op == Op::Insert
                && own_fresh
                && later == Some(r.parent.as_str())
                && r.parent == c.table
            {
                continue;
            }
            return Err(Error::ProvisionalKey {
                table: c.table.clone(),
                key: c.key.render(),
                column: r.column.clone(),
                parent: r.parent.clone(),
            });
        };
        let row = out.get_or_insert_with(|| c.clone());
        if let Some(new) = row.new.as_mut()
            && let Some(at) = new.position(&r.column)
            && let Some(slot) = new.values_mut().get_mut(at)
        {
            *slot = Value::Int(g.assigned);
        }
        let Key(parts) = &mut row.key;
        for (name, value) in parts.iter_mut() {
            if *name == r.column {
                *value = Value::Int(g.assigned);
            }
        }
    }
    Ok(out)
}

/// [`remap`] of each row (empty when no
/// reference can hold a provisional key).
pub(crate) fn remap_all(
    rows: &[&RowChange],
    refs: &[PendingRef],
    generated: &[GeneratedKey],
    later: Option<&str>,
) -> Result<Vec<Option<RowChange>>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    rows.iter()
        .map(|c| remap(c, refs, generated, later))
        .collect()
}
