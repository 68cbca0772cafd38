//! The row-level difference between what was cloned and what the sandbox holds now:
//! the types ([`ChangeSet`], [`RowChange`], [`Key`], [`Op`]) here, and how each row
//! is typed and checked in `compute`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use safemodel::{Row, Value, Violation};
use serde::Serialize;

mod compute;

pub use crate::value::Key;

pub(crate) use compute::{RowChecks, check_new_row};

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// A row that was not cloned and now exists.
    Insert,
    /// A cloned row whose values changed (its primary key did not).
    Update,
    /// A cloned row that no longer exists.
    Delete,
}

impl Op {
    /// `insert`, `update` or `delete`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// `INSERT`, `UPDATE` or `DELETE`.
    #[must_use]
    pub fn sql_verb(self) -> &'static str {
        match self {
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_verb())
    }
}

/// One changed row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// The table (as scoped: `tasks`, `app.tasks`).
    pub table: String,
    /// Insert, update or delete.
    pub op: Op,
    /// The primary key (for an insert with a generated key: the provisional one).
    pub key: Key,
    /// The row as cloned (`None` for an insert). PII columns are absent.
    pub old: Option<Row>,
    /// The row as it is now (`None` for a delete). PII columns are absent.
    pub new: Option<Row>,
    /// For an update, the columns whose values differ, in column order; for an
    /// insert, every column; for a delete, none.
    pub changed: Vec<String>,
    /// Contract violations of the new row (empty for deletes and valid rows).
    pub violations: Vec<Violation>,
}

impl RowChange {
    /// Whether the new row passed its contract.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Clones of one changeset are equal without comparing their rows.
impl PartialEq for ChangeSet {
    fn eq(&self, other: &Self) -> bool {
        (Arc::ptr_eq(&self.changes, &other.changes) || self.changes == other.changes)
            && self.not_enforced == other.not_enforced
    }
}

/// Per-table counts of each operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows inserted.
    pub insert: usize,
    /// Rows updated.
    pub update: usize,
    /// Rows deleted.
    pub delete: usize,
}

impl Counts {
    /// The count of one operation.
    #[must_use]
    pub fn of(&self, op: Op) -> usize {
        match op {
            Op::Insert => self.insert,
            Op::Update => self.update,
            Op::Delete => self.delete,
        }
    }

    /// All rows changed.
    #[must_use]
    pub fn total(&self) -> usize {
        self.insert + self.update + self.delete
    }

    fn add(&mut self, op: Op) {
        match op {
            Op::Insert => self.insert += 1,
            Op::Update => self.update += 1,
            Op::Delete => self.delete += 1,
        }
    }
}

/// Everything the agent changed, row by row, in a deterministic order (table,
/// then primary key).
///
/// Cloning is cheap: clones share the rows.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    changes: Arc<Vec<RowChange>>,
    /// Production constraints the sandbox cannot enforce (CHECK constraints with
    /// server functions, triggers, ...), as `table: description`, so a reviewer
    /// knows what the sandbox did not check.
    pub not_enforced: Vec<String>,
    /// Columns production computes (generated, identity ALWAYS), as
    /// `(table, column)`: never written; production gives their values.
    pub computed: Vec<(String, String)>,
    /// Columns referencing a scoped table whose new rows get production's
    /// key at commit: a provisional key there is remapped to it.
    pub pending_refs: Vec<PendingRef>,
}

/// A foreign key column onto a table whose key production generates: a
/// value above `base` is the provisional key of a row inserted in this
/// change, written as the key production gives that row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRef {
    /// The referencing table.
    pub table: String,
    /// The referencing column.
    pub column: String,
    /// The referenced table.
    pub parent: String,
    /// Provisional keys of `parent` are above this.
    pub base: i64,
}

impl ChangeSet {
    /// A changeset of `changes`; they are sorted by table, then key.
    #[must_use]
    pub fn new(mut changes: Vec<RowChange>, not_enforced: Vec<String>) -> Self {
        changes.sort_by(|a, b| {
            a.table
                .cmp(&b.table)
                .then_with(|| compare_keys(&a.key, &b.key))
                .then_with(|| a.op.cmp(&b.op))
        });
        ChangeSet {
            changes: Arc::new(changes),
            not_enforced,
            computed: Vec::new(),
            pending_refs: Vec::new(),
        }
    }

    /// Whether `other` is this changeset byte for byte: equal (`==`), and
    /// every value of every row and key the same as production would store
    /// it: decimals and JSON as their exact text (`1.10` is not `1.1`,
    /// `{"a": 1, "a": 2}` is not `{"a": 2}`), text byte for byte, floats bit
    /// for bit. What "unchanged since review" means.
    #[must_use]
    pub fn is_exactly(&self, other: &ChangeSet) -> bool {
        if Arc::ptr_eq(&self.changes, &other.changes) {
            return self.not_enforced == other.not_enforced;
        }
        self == other
            && self.changes.iter().zip(other.changes.iter()).all(|(a, b)| {
                a.key.0.len() == b.key.0.len()
                    && a.key
                        .0
                        .iter()
                        .zip(&b.key.0)
                        .all(|((_, x), (_, y))| exact(x, y))
                    && exact_row(a.old.as_ref(), b.old.as_ref())
                    && exact_row(a.new.as_ref(), b.new.as_ref())
            })
    }

    /// Every changed row.
    #[must_use]
    pub fn changes(&self) -> &[RowChange] {
        &self.changes
    }

    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Number of changed rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether every new or changed row passed its contract.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.changes.iter().all(RowChange::is_valid)
    }

    /// Counts per table and operation, tables in name order.
    #[must_use]
    pub fn summary(&self) -> BTreeMap<String, Counts> {
        let mut out: BTreeMap<String, Counts> = BTreeMap::new();
        for c in self.changes.iter() {
            out.entry(c.table.clone()).or_default().add(c.op);
        }
        out
    }

    /// Counts of each operation over all tables.
    #[must_use]
    pub fn totals(&self) -> Counts {
        let mut out = Counts::default();
        for c in self.changes.iter() {
            out.add(c.op);
        }
        out
    }
}

/// Orders keys value by value: numbers by number, text by bytes, NULL first.
fn compare_keys(a: &Key, b: &Key) -> std::cmp::Ordering {
    for ((_, x), (_, y)) in a.0.iter().zip(&b.0) {
        let ord = compare_values(x, y);
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    a.0.len().cmp(&b.0.len())
}

/// A total order on values of one column, for sorting keys.
#[must_use]
pub fn compare_values(x: &Value, y: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (x, y) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Text(a), Value::Text(b)) => a.cmp(b),
        (Value::Uuid(a), Value::Uuid(b)) => a.cmp(b),
        (Value::Decimal(a), Value::Decimal(b)) => {
            safemodel::compare_decimal(a, b).unwrap_or_else(|| a.as_str().cmp(b.as_str()))
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => x.to_string().cmp(&y.to_string()),
    }
}

/// Exact equality of two values: [`Value`]'s `==`, and decimals and JSON
/// by their text.
pub(crate) fn exact(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Decimal(x), Value::Decimal(y)) => x.as_str() == y.as_str(),
        (Value::Json(x), Value::Json(y)) => x.as_str() == y.as_str(),
        // Bit for bit: `-0.0` is stored as itself, not as `0.0`.
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn exact_row(a: Option<&Row>, b: Option<&Row>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.column_names() == b.column_names()
                && a.values().len() == b.values().len()
                && a.values().iter().zip(b.values()).all(|(x, y)| exact(x, y))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(doc: &str) -> ChangeSet {
        let row = |doc: &str| {
            Row::new()
                .with("id", 1_i64)
                .with("doc", Value::Json(safemodel::Json::new(doc).unwrap()))
        };
        ChangeSet::new(
            vec![RowChange {
                table: "docs".into(),
                op: Op::Update,
                key: Key(vec![("id".into(), Value::Int(1))]),
                old: Some(row("{\"a\": 0}")),
                new: Some(row(doc)),
                changed: vec!["doc".into()],
                violations: Vec::new(),
            }],
            Vec::new(),
        )
    }

    #[test]
    fn exactly_means_the_same_text_not_the_same_meaning() {
        let reviewed = update("{\"a\": 2}");
        assert!(reviewed.is_exactly(&reviewed.clone()));
        assert!(reviewed.is_exactly(&update("{\"a\": 2}")));
        let rewritten = update("{\"a\": 1, \"a\": 2}");
        assert!(reviewed == rewritten, "equal in meaning");
        assert!(!reviewed.is_exactly(&rewritten));
        assert!(!reviewed.is_exactly(&update("{\"a\":2}")));
    }

    #[test]
    fn exactly_means_floats_bit_for_bit() {
        assert!(exact(&Value::Float(0.5), &Value::Float(0.5)));
        assert!(!exact(&Value::Float(0.0), &Value::Float(-0.0)));
        assert!(exact(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
    }
}
