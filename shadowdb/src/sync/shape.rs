//! The shape of a batched update or delete (which columns are keys, set,
//! guarded) and the SQL each dialect writes it as.

use safemodel::{Row, Value};

use super::binds::{bind, guard_value, tenant_col};
use crate::diff::{Op, RowChange};
use crate::error::Result;
use crate::model::{ColumnSchema, TableName};
use crate::prod::{self, Bind};
use crate::scope::Scoped;
use crate::types::Dialect;

/// The columns of one batched statement: a row of the batch holds the key
/// (`k0..`), the new values (`n0..`, updates only) and the cloned values of
/// every other column (`o0..`), in this order.
#[derive(Clone)]
pub(super) struct Shape<'a> {
    pub(super) table: &'a TableName,
    /// Key columns other than the tenant column, matched with `=`.
    pub(super) keys: Vec<&'a ColumnSchema>,
    /// The whole key, as `RETURNING` gives it back.
    pub(super) all_keys: Vec<&'a ColumnSchema>,
    /// Compared with the scope's tenant.
    pub(super) tenant: Option<&'a ColumnSchema>,
    /// Set to their new values (updates).
    pub(super) sets: Vec<&'a ColumnSchema>,
    /// Compared NULL-safe and exactly with their cloned values.
    pub(super) guards: Vec<&'a ColumnSchema>,
}

impl<'a> Shape<'a> {
    pub(super) fn new(t: &'a Scoped, old: &Row, changed: &[String]) -> Shape<'a> {
        let tenant = tenant_col(t);
        let all_keys: Vec<&ColumnSchema> = t.key_columns().collect();
        Shape {
            table: &t.schema.resolved,
            keys: all_keys
                .iter()
                .copied()
                .filter(|k| tenant.is_none_or(|tc| tc.name != k.name))
                .collect(),
            all_keys,
            tenant,
            sets: changed
                .iter()
                .filter_map(|n| t.schema.column(n))
                .filter(|c| !c.computed)
                .collect(),
            guards: Self::guard_cols(t, old),
        }
    }

    /// Every cloned column but the key and the tenant (compared by `=`).
    pub(super) fn guard_cols(t: &'a Scoped, old: &Row) -> Vec<&'a ColumnSchema> {
        let tenant = tenant_col(t).map(|c| c.name.as_str());
        old.columns()
            .filter(|name| Some(*name) != tenant)
            .filter(|name| !t.key_columns().any(|k| k.name == *name))
            .filter_map(|name| t.schema.column(name))
            .collect()
    }

    /// Each value of a batch row in order, and where it comes from.
    pub(super) fn parts(&self) -> impl Iterator<Item = Part<'a>> + '_ {
        self.keys
            .iter()
            .map(|c| Part::Key(c))
            .chain(self.sets.iter().map(|c| Part::Set(c)))
            .chain(self.guards.iter().map(|c| Part::Guard(c)))
    }

    pub(super) fn key_names(&self, t: &Scoped) -> Vec<String> {
        t.key_columns().map(|c| c.name.clone()).collect()
    }

    pub(super) fn width(&self) -> usize {
        self.keys.len() + self.sets.len() + self.guards.len()
    }

    pub(super) fn names(&self) -> Vec<String> {
        (0..self.keys.len())
            .map(|i| format!("k{i}"))
            .chain((0..self.sets.len()).map(|i| format!("n{i}")))
            .chain((0..self.guards.len()).map(|i| format!("o{i}")))
            .collect()
    }

    /// SQLite: `read` of the rows of a batch of `rows` keys, this tenant's.
    pub(super) fn select_sql(
        &self,
        dialect: Dialect,
        rows: usize,
        read: &[&ColumnSchema],
    ) -> String {
        let q = |s: &str| dialect.quote(s);
        let (t, v) = (q("__sdb_t"), q("__sdb_v"));
        let names: Vec<String> = self.names().iter().map(|n| q(n)).collect();
        let row = format!("({})", vec!["?"; names.len()].join(", "));
        let on: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let p = format!("{v}.{}", q(&format!("k{i}")));
                prod::exact_eq(dialect, k, &format!("{t}.{}", q(&k.name)), &p, &p)
            })
            .collect();
        let list: Vec<String> = read
            .iter()
            .map(|c| prod::read_expr_at(dialect, c, &format!("{t}.{}", q(&c.name))))
            .collect();
        let mut sql = format!(
            "WITH {v}({}) AS (VALUES {}) SELECT {} FROM {} AS {t} JOIN {v} ON {}",
            names.join(", "),
            vec![row; rows].join(", "),
            list.join(", "),
            prod::qualified(dialect, self.table),
            if on.is_empty() {
                "1 = 1".to_owned()
            } else {
                on.join(" AND ")
            }
        );
        if let Some(tc) = self.tenant {
            sql.push_str(" WHERE ");
            sql.push_str(&prod::exact_eq(
                dialect,
                tc,
                &format!("{t}.{}", q(&tc.name)),
                "?",
                "?",
            ));
        }
        sql
    }

    /// The statement for a batch of `rows` rows. Parameters: the batch's
    /// values (PostgreSQL: one array of type `pg_types[i]` per column), then
    /// the tenant.
    pub(super) fn sql(&self, dialect: Dialect, op: Op, rows: usize, pg_types: &[&str]) -> String {
        let c = self.clauses(dialect);
        match dialect {
            Dialect::Postgres => c.postgres(op, pg_types),
            Dialect::Sqlite => c.sqlite(op, rows, &self.all_keys),
            Dialect::MySql => c.mysql(op, rows),
        }
    }

    /// The parts every dialect's statement is made of.
    fn clauses(&self, dialect: Dialect) -> Clauses {
        let q = |s: &str| dialect.quote(s);
        let (t, v) = (q("__sdb_t"), q("__sdb_v"));
        let vcol = |name: String| format!("{v}.{}", q(&name));
        let tcol = |c: &ColumnSchema| format!("{t}.{}", q(&c.name));
        let names = self.names();
        let on: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let p = prod::cast_expr(dialect, k, &vcol(format!("k{i}")));
                prod::exact_eq(dialect, k, &tcol(k), &p, &p)
            })
            .collect();
        let mut wh: Vec<String> = Vec::new();
        if let Some(tc) = self.tenant {
            wh.push(prod::exact_eq(
                dialect,
                tc,
                &tcol(tc),
                &prod::value_expr(dialect, tc, names.len() + 1),
                &prod::value_expr(dialect, tc, names.len() + 2),
            ));
        }
        for (i, g) in self.guards.iter().enumerate() {
            wh.push(prod::guard_cmp(
                dialect,
                g,
                &tcol(g),
                &vcol(format!("o{i}")),
            ));
        }
        let sets: Vec<String> = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let lhs = if dialect == Dialect::MySql {
                    tcol(c)
                } else {
                    q(&c.name)
                };
                format!(
                    "{lhs} = {}",
                    prod::cast_expr(dialect, c, &vcol(format!("n{i}")))
                )
            })
            .collect();
        let and = |parts: &[String]| {
            if parts.is_empty() {
                "1 = 1".to_owned()
            } else {
                parts.join(" AND ")
            }
        };
        let all: Vec<String> = on.iter().chain(&wh).cloned().collect();
        Clauses {
            dialect,
            table: prod::qualified(dialect, self.table),
            quoted: names.iter().map(|n| q(n)).collect(),
            cond: and(&all),
            on: and(&on),
            wh: and(&wh),
            sets: sets.join(", "),
            t,
            v,
        }
    }
}

/// The clauses of a batch statement, quoted for its dialect.
struct Clauses {
    dialect: Dialect,
    /// The table, qualified.
    table: String,
    /// The batch's columns (`k0`.., `n0`.., `o0`..).
    quoted: Vec<String>,
    /// Keys, tenant and guards, all together.
    cond: String,
    /// The keys matched with the batch's.
    on: String,
    /// Tenant and guards.
    wh: String,
    /// `SET` list.
    sets: String,
    /// The table's alias.
    t: String,
    /// The batch's alias.
    v: String,
}

impl Clauses {
    /// `UPDATE .. FROM unnest(..) WITH ORDINALITY` (`DELETE .. USING`),
    /// `RETURNING` the ordinal of each row written.
    fn postgres(&self, op: Op, pg_types: &[&str]) -> String {
        let Clauses {
            table,
            quoted,
            cond,
            sets,
            t,
            v,
            ..
        } = self;
        let args: Vec<String> = pg_types
            .iter()
            .enumerate()
            .map(|(i, ty)| format!("${}::{ty}", i + 1))
            .collect();
        let ord = self.dialect.quote("__sdb_ord");
        let from = format!(
            "unnest({}) WITH ORDINALITY AS {v}({}, {ord})",
            args.join(", "),
            quoted.join(", ")
        );
        match op {
            Op::Update => format!(
                "UPDATE {table} AS {t} SET {sets} FROM {from} WHERE {cond} RETURNING {v}.{ord}"
            ),
            _ => {
                format!("DELETE FROM {table} AS {t} USING {from} WHERE {cond} RETURNING {v}.{ord}")
            }
        }
    }

    /// `WITH v AS (VALUES ..) UPDATE .. FROM v` (`DELETE .. IN`),
    /// `RETURNING` the keys written.
    fn sqlite(&self, op: Op, rows: usize, all_keys: &[&ColumnSchema]) -> String {
        let Clauses {
            table,
            quoted,
            cond,
            on,
            wh,
            sets,
            t,
            v,
            ..
        } = self;
        let q = |s: &str| self.dialect.quote(s);
        let row = format!("({})", vec!["?"; quoted.len()].join(", "));
        let with = format!(
            "WITH {v}({}) AS (VALUES {}) ",
            quoted.join(", "),
            vec![row; rows].join(", ")
        );
        let ret: Vec<String> = all_keys.iter().map(|k| q(&k.name)).collect();
        let ret = ret.join(", ");
        match op {
            Op::Update => format!(
                "{with}UPDATE {table} AS {t} SET {sets} FROM {v} WHERE {cond} RETURNING {ret}"
            ),
            _ => {
                let tkeys: Vec<String> = all_keys
                    .iter()
                    .map(|k| format!("{t}.{}", q(&k.name)))
                    .collect();
                format!(
                    "{with}DELETE FROM {table} WHERE ({ret}) IN (SELECT {} FROM {table} AS {t} JOIN {v} ON {on} WHERE {wh}) RETURNING {ret}",
                    tkeys.join(", ")
                )
            }
        }
    }

    /// `UPDATE t JOIN (SELECT ? .. UNION ALL ..) v` (`DELETE t FROM t JOIN ..`).
    fn mysql(&self, op: Op, rows: usize) -> String {
        let Clauses {
            table,
            quoted,
            on,
            wh,
            sets,
            t,
            v,
            ..
        } = self;
        let first: Vec<String> = quoted.iter().map(|n| format!("? AS {n}")).collect();
        let first = format!("SELECT {}", first.join(", "));
        let more = format!("SELECT {}", vec!["?"; quoted.len()].join(", "));
        let derived: Vec<String> = std::iter::once(first)
            .chain(std::iter::repeat_n(more, rows.saturating_sub(1)))
            .collect();
        let derived = derived.join(" UNION ALL ");
        match op {
            Op::Update => format!(
                "UPDATE {table} AS {t} JOIN ({derived}) AS {v} ON {on} SET {sets} WHERE {wh}"
            ),
            _ => {
                format!("DELETE {t} FROM {table} AS {t} JOIN ({derived}) AS {v} ON {on} WHERE {wh}")
            }
        }
    }
}

/// One value of a batch row: a key column and a guarded column hold the
/// cloned value, a set column the new one.
#[derive(Clone, Copy)]
pub(super) enum Part<'a> {
    Key(&'a ColumnSchema),
    Set(&'a ColumnSchema),
    Guard(&'a ColumnSchema),
}

impl<'a> Part<'a> {
    /// The part's column.
    pub(super) fn col(self) -> &'a ColumnSchema {
        match self {
            Part::Key(c) | Part::Set(c) | Part::Guard(c) => c,
        }
    }
}

/// The bind of one value of a batch row. `at` caches the column's position in
/// the row (rows of a batch share their layout; checked by name each time).
pub(super) fn part_bind(
    dialect: Dialect,
    part: Part<'_>,
    c: &RowChange,
    at: &mut Option<usize>,
) -> Result<Bind> {
    let (col, value) = part_value(part, c, at);
    match part {
        Part::Guard(_) => guard_value(dialect, col, value, c),
        _ => bind(dialect, col, value, c),
    }
}

/// The column of `part` and its value in `c`: the cloned row's for the key
/// and the guard, the new row's for what is set.
pub(super) fn part_value<'p, 'c>(
    part: Part<'p>,
    c: &'c RowChange,
    at: &mut Option<usize>,
) -> (&'p ColumnSchema, &'c Value) {
    let (col, row) = match part {
        Part::Key(col) | Part::Guard(col) => (col, c.old.as_ref()),
        Part::Set(col) => (col, c.new.as_ref()),
    };
    (col, row.map_or(NULL, |r| value_at(r, &col.name, at)))
}

/// The value of a column a row lacks.
pub(super) const NULL: &Value = &Value::Null;

/// The value of column `name` of `row`, looked up at the cached position first.
fn value_at<'r>(row: &'r Row, name: &str, at: &mut Option<usize>) -> &'r Value {
    if let Some(v) = at
        .filter(|&i| row.column_names().get(i).is_some_and(|n| **n == *name))
        .and_then(|i| row.values().get(i))
    {
        return v;
    }
    *at = row.position(name);
    at.and_then(|i| row.values().get(i)).unwrap_or(&Value::Null)
}
