//! Row changes as the diff makes them, for the tests that render or judge a
//! change set without a database: an insert changes every column, an update
//! the columns whose value differs, a delete none.

use safemodel::Row;
use shadowdb::diff::{Key, Op, RowChange};

/// A change of `op` to the row at `key` of `table`, no rule broken.
fn change(
    table: &str,
    op: Op,
    key: Key,
    (old, new): (Option<Row>, Option<Row>),
    changed: Vec<String>,
) -> RowChange {
    RowChange {
        table: table.to_owned(),
        op,
        key,
        old,
        new,
        changed,
        violations: Vec::new(),
    }
}

/// A row that was not there before: every column of it changed.
pub fn insert(table: &str, key: Key, new: Row) -> RowChange {
    let changed = new.columns().map(str::to_owned).collect();
    change(table, Op::Insert, key, (None, Some(new)), changed)
}

/// A row before and after: changed are the columns of `new` whose value
/// differs from `old`'s.
pub fn update(table: &str, key: Key, old: Row, new: Row) -> RowChange {
    let changed = new
        .iter()
        .filter(|(c, v)| old.get(c) != Some(*v))
        .map(|(c, _)| c.to_owned())
        .collect();
    change(table, Op::Update, key, (Some(old), Some(new)), changed)
}

/// A row that is gone.
pub fn delete(table: &str, key: Key, old: Row) -> RowChange {
    change(table, Op::Delete, key, (Some(old), None), Vec::new())
}
