//! Capture and compare, for the diff: the baseline kept by temp triggers
//! (or a full copy), and the rows of a table that differ from it.

use std::sync::Arc;

use safemodel::Value;

use super::walls::Internal;
use super::{Sandbox, SandboxTable, q, raw_value, sandbox_err};
use crate::error::{Error, Result};

/// Prefix of everything shadowdb keeps beside the agent's tables, hidden
/// from the agent (the temp schema is outside its scope, and so are these
/// names where SQLite names no database).
pub(super) const BASE_PREFIX: &str = "__base_";

/// Prefix of the triggers that capture the baseline; what they do is
/// allowed, whoever's statement fires them.
pub(super) const TRIGGER_PREFIX: &str = "__base_trigger_";

/// A full copy of table `i` as cloned (main schema).
pub(super) fn base_name(i: usize) -> String {
    format!("{BASE_PREFIX}{i}")
}

/// The rowids of table `i` that statements wrote (temp schema): under the
/// rowid of a cloned row, its values as cloned, saved before a statement
/// first updated or deleted it; under a rowid that rows were inserted or
/// moved to, a marker whose columns are all NULL (a key never is).
pub(super) fn seen_name(i: usize) -> String {
    format!("{BASE_PREFIX}seen_{i}")
}

/// A name of the rowid that no column of `t` takes, if one is left.
pub(super) fn rowid_name(t: &SandboxTable) -> Option<&'static str> {
    ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|r| !t.columns.iter().any(|c| c.name.eq_ignore_ascii_case(r)))
}

/// Whether triggers can keep the baseline of `t`, and the rowid's name
/// they use: rows are followed by rowid and matched by key, so the rowid
/// must have a name and no key value may be NULL (a NULL key matches
/// nothing, so such rows are compared wherever they are).
pub(super) fn capturable(t: &SandboxTable) -> Option<&'static str> {
    let keys_not_null = !t.key.is_empty()
        && t.key
            .iter()
            .all(|&k| t.columns.get(k).is_some_and(|c| !c.nullable && !c.pii));
    if keys_not_null { rowid_name(t) } else { None }
}

/// One row of a table that differs from the baseline: raw values in column
/// order; `None` for a side where the row does not exist.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawChange {
    pub old: Option<Vec<Value>>,
    pub new: Option<Vec<Value>>,
    /// The table's column names but its PII columns', in order, shared by
    /// every change of one diff.
    pub names: Arc<[Box<str>]>,
}

impl Sandbox {
    /// The triggers that keep table `i`'s baseline: before a statement
    /// first updates or deletes a cloned row, its values are saved under its
    /// rowid; after a row is inserted or moved to a rowid nothing was saved
    /// under, a marker is. A rowid written once is never saved again, so
    /// what is saved is the row as cloned. Each insert is guarded by a
    /// lookup rather than a conflict clause: the clause of the statement
    /// that fires a trigger overrides the trigger's own (`INSERT OR REPLACE`
    /// would turn an `OR IGNORE` into a replace of the saved row), and
    /// `INSERT .. SELECT` costs SQLite a temporary table per row.
    pub(super) fn capture_ddl(t: &SandboxTable, i: usize, rid: &str) -> String {
        let cur = q(&t.name);
        let seen = q(&seen_name(i));
        let names: Vec<String> = t.columns.iter().map(|c| q(&c.name)).collect();
        let old: Vec<String> = names.iter().map(|c| format!("OLD.{c}")).collect();
        let trigger = |kind: &str| q(&format!("{TRIGGER_PREFIX}{kind}_{i}"));
        let unseen =
            |row: &str| format!("NOT EXISTS (SELECT 1 FROM {seen} WHERE {rid} = {row}.{rid})");
        let save = format!(
            "WHEN {} BEGIN INSERT INTO {seen} ({rid}, {}) VALUES (OLD.{rid}, {}); END",
            unseen("OLD"),
            names.join(", "),
            old.join(", ")
        );
        let mark = format!("BEGIN INSERT INTO {seen} ({rid}) VALUES (NEW.{rid}); END");
        format!(
            "CREATE TEMP TRIGGER {} BEFORE UPDATE ON main.{cur} {save};\n\
             CREATE TEMP TRIGGER {} BEFORE DELETE ON main.{cur} {save};\n\
             CREATE TEMP TRIGGER {} AFTER INSERT ON main.{cur} WHEN {} {mark};\n\
             CREATE TEMP TRIGGER {} AFTER UPDATE ON main.{cur} \
             WHEN NEW.{rid} IS NOT OLD.{rid} AND {} {mark};",
            trigger("update"),
            trigger("delete"),
            trigger("insert"),
            unseen("NEW"),
            trigger("move"),
            unseen("NEW"),
        )
    }

    /// Rows of table `i` that differ from its baseline, found by SQLite with
    /// the key indexes (no quadratic work). Where triggers keep the baseline,
    /// only the rows they saved and the rows now at the rowids they noted are
    /// compared; otherwise every row of the copy and the table.
    #[cfg(test)]
    pub(crate) fn changes(&self, i: usize) -> Result<Vec<RawChange>> {
        let mut out = Vec::new();
        self.changes_into(i, &mut |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Sandbox::changes`], each change handed to `sink` as SQLite finds
    /// it, so the caller can work on one while the next is read.
    pub(crate) fn changes_into(
        &self,
        i: usize,
        sink: &mut dyn FnMut(RawChange) -> Result<()>,
    ) -> Result<()> {
        let _in = Internal::new(&self.walls);
        let Some(t) = self.tables.get(i) else {
            return Ok(());
        };
        let Some(rid) = self.captured.get(i).copied().flatten() else {
            return self.compare(i, t, None, sink);
        };
        #[cfg(debug_assertions)]
        {
            // Tests run every diff both ways.
            let mut found = Vec::new();
            self.compare(i, t, Some(rid), &mut |c| {
                found.push(c);
                Ok(())
            })?;
            let mut all = Vec::new();
            self.compare(i, t, None, &mut |c| {
                all.push(c);
                Ok(())
            })?;
            let canon = |v: &[RawChange]| {
                let mut out: Vec<String> = v.iter().map(|c| format!("{c:?}")).collect();
                out.sort();
                out
            };
            if canon(&found) != canon(&all) {
                return Err(Error::Sandbox(format!(
                    "the diff of captured rows of `{}` differs from the full diff",
                    t.name
                )));
            }
            found.into_iter().try_for_each(&mut *sink)
        }
        #[cfg(not(debug_assertions))]
        self.compare(i, t, Some(rid), sink)
    }

    /// The changes of table `i`: among the keys of the rows the triggers
    /// saved and of the rows now at the rowids they wrote (`captured`: the
    /// rowid's name), or among all rows of the full copy and the table.
    pub(super) fn compare(
        &self,
        i: usize,
        t: &SandboxTable,
        captured: Option<&str>,
        sink: &mut dyn FnMut(RawChange) -> Result<()>,
    ) -> Result<()> {
        let n = t.columns.len();
        let names: Arc<[Box<str>]> = t
            .columns
            .iter()
            .filter(|c| !c.pii)
            .map(|c| Box::from(c.name.as_str()))
            .collect();
        let mut push = |old, new| {
            sink(RawChange {
                old,
                new,
                names: Arc::clone(&names),
            })
        };
        match CompareSql::of(t).queries(i, captured) {
            Queries::Captured(sql) => self.compare_captured(&sql, n, &mut push),
            Queries::Copy { changed, inserted } => {
                self.compare_copy(&changed, &inserted, n, &mut push)
            }
        }
    }

    /// [`Sandbox::compare`] where triggers keep the baseline: `sql` reads
    /// each change as the old row, two flags (old absent, new absent) and
    /// the new row, `n` values each.
    fn compare_captured(
        &self,
        sql: &str,
        n: usize,
        push: &mut dyn FnMut(Option<Vec<Value>>, Option<Vec<Value>>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            let absent =
                |j: usize| -> Result<bool> { row.get::<_, bool>(j).map_err(|e| sandbox_err(&e)) };
            let old = if absent(n)? {
                None
            } else {
                Some(read_row(row, 0, n)?)
            };
            let new = if absent(n + 1)? {
                None
            } else {
                Some(read_row(row, n + 2, n)?)
            };
            push(old, new)?;
        }
        Ok(())
    }

    /// [`Sandbox::compare`] against the full copy of the baseline: `changed`
    /// reads the copy's rows changed or gone, `inserted` the rows it lacks.
    fn compare_copy(
        &self,
        changed: &str,
        inserted: &str,
        n: usize,
        push: &mut dyn FnMut(Option<Vec<Value>>, Option<Vec<Value>>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(changed).map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            let old = read_row(row, 0, n)?;
            let gone: bool = row.get(n).map_err(|e| sandbox_err(&e))?;
            let new = if gone {
                None
            } else {
                Some(read_row(row, n + 1, n)?)
            };
            push(Some(old), new)?;
        }
        let mut stmt = self.conn.prepare(inserted).map_err(|e| sandbox_err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| sandbox_err(&e))?;
        while let Some(row) = rows.next().map_err(|e| sandbox_err(&e))? {
            push(None, Some(read_row(row, 0, n)?))?;
        }
        Ok(())
    }

    /// Rows inserted, updated or deleted since the sandbox was created, by
    /// anyone (SQLite's `total_changes`): no data changes while it stands still.
    pub(crate) fn total_changes(&self) -> u64 {
        self.conn.total_changes()
    }

    /// Makes the current state the new baseline (after a commit).
    pub(crate) fn rebase(&self) -> Result<()> {
        let _in = Internal::new(&self.walls);
        for (i, t) in self.tables.iter().enumerate() {
            let mut sql = String::new();
            if self.copies(i) {
                let b = q(&base_name(i));
                sql.push_str(&format!(
                    "DELETE FROM {b}; INSERT INTO {b} SELECT * FROM {};",
                    q(&t.name)
                ));
            }
            if self.captured.get(i).is_some_and(Option::is_some) {
                sql.push_str(&format!("DELETE FROM temp.{};", q(&seen_name(i))));
            }
            self.conn.execute_batch(&sql).map_err(|e| sandbox_err(&e))?;
        }
        Ok(())
    }
}

/// The parts of the SQL comparing a table with its baseline: `b` is the
/// baseline's row, `c` the current one.
struct CompareSql {
    /// Columns of the table.
    n: usize,
    /// The table's quoted name.
    cur: String,
    /// `b` and `c` have the same key.
    on: String,
    /// `b` and `c` hold the same values.
    same: String,
    b_cols: String,
    c_cols: String,
    /// The first key column (NULL where a side has no row).
    first_key: String,
}

/// The SQL of one comparison.
enum Queries {
    /// Where triggers keep the baseline: one query.
    Captured(String),
    /// Against the full copy: changed or gone rows, then new ones.
    Copy { changed: String, inserted: String },
}

impl CompareSql {
    fn of(t: &SandboxTable) -> CompareSql {
        let key_cols: Vec<String> = t.quoted_key();
        let on = key_cols
            .iter()
            .map(|k| format!("b.{k} = c.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let same: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("b.{0} IS c.{0}", q(&c.name)))
            .collect();
        let cols = |alias: &str| -> String {
            t.columns
                .iter()
                .map(|c| format!("{alias}.{}", q(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        CompareSql {
            n: t.columns.len(),
            cur: q(&t.name),
            on,
            same: same.join(" AND "),
            b_cols: cols("b"),
            c_cols: cols("c"),
            first_key: key_cols.first().cloned().unwrap_or_default(),
        }
    }

    /// The queries comparing table `i` with its baseline: among the rows
    /// the triggers noted (`captured`: the rowid's name), or with the copy.
    fn queries(&self, i: usize, captured: Option<&str>) -> Queries {
        let CompareSql {
            n,
            cur,
            on,
            same,
            b_cols,
            c_cols,
            first_key,
        } = self;
        let Some(rid) = captured else {
            let base = q(&base_name(i));
            return Queries::Copy {
                changed: format!(
                    "SELECT {b_cols}, c.{first_key} IS NULL, {c_cols} FROM {base} b LEFT JOIN {cur} c ON {on} \
                     WHERE c.{first_key} IS NULL OR NOT ({same})"
                ),
                inserted: format!(
                    "SELECT {c_cols} FROM {cur} c LEFT JOIN {base} b ON {on} WHERE b.{first_key} IS NULL"
                ),
            };
        };
        // Saved rows by key against the table (changed or gone), then
        // the rows now at the rowids written whose key no saved row had
        // (new). Rows at rowids never written are as cloned: a statement
        // that moved a cloned row there wrote that rowid. Markers have
        // NULL keys: they match no row by key.
        let rid = q(rid);
        let seen = format!("temp.{}", q(&seen_name(i)));
        let nulls = vec!["NULL"; *n].join(", ");
        Queries::Captured(format!(
            "SELECT {b_cols}, 0, c.{first_key} IS NULL, {c_cols} \
             FROM {seen} AS b LEFT JOIN {cur} AS c ON {on} \
             WHERE b.{first_key} IS NOT NULL AND (c.{first_key} IS NULL OR NOT ({same})) \
             UNION ALL SELECT {nulls}, 1, 0, {c_cols} \
             FROM {seen} AS s CROSS JOIN {cur} AS c ON c.{rid} = s.{rid} \
             WHERE NOT EXISTS (SELECT 1 FROM {seen} AS b WHERE {on})",
        ))
    }
}

/// The `n` raw values of `row` from column `from` on.
fn read_row(row: &rusqlite::Row<'_>, from: usize, n: usize) -> Result<Vec<Value>> {
    (from..from + n)
        .map(|j| row.get_ref(j).map(raw_value))
        .collect::<rusqlite::Result<_>>()
        .map_err(|e| sandbox_err(&e))
}
