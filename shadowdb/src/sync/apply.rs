//! Updates and deletes: grouped by statement shape, written in batches
//! (one function per dialect), each row guarded by its cloned values; a row
//! whose guard fails is diagnosed (gone, or which columns moved). The row by
//! row path serves MySQL where a count cannot name the conflicts.

use safemodel::{Row, Value};

use super::Syncer;
use super::binds::{bind, columns_of, exact_eq_bound, fetch_error, guards, tenant_col};
use super::shape::{Shape, part_bind};
use crate::diff::{ChangeSet, Op, RowChange};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::model::ColumnSchema;
use crate::prod::{self, Bind, FetchError, ProdTx};
use crate::scope::Scoped;
use crate::types::Dialect;

impl Syncer<'_> {
    /// Applies one group of updates or deletes in batches. Returns the rows
    /// written; rows whose guard failed become conflicts.
    pub(super) async fn apply_group(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        group: &Group<'_>,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let dialect = self.prod.dialect();
        let Some(first) = group.changes.first() else {
            return Ok(0);
        };
        let Some(old) = &first.old else { return Ok(0) };
        let shape = Shape::new(
            t,
            old,
            if group.op == Op::Update {
                &first.changed
            } else {
                &[]
            },
        );
        // MySQL reports only a count of matched rows. That proves "exactly one
        // row per change" only where the key is unique in production.
        if dialect == Dialect::MySql && t.schema.primary_key != shape.key_names(t) {
            return self
                .apply_rows(tx, t, &group.changes, group.op, conflicts)
                .await;
        }
        let per = batch_rows(dialect, shape.width());
        // PostgreSQL's planner, seeing a batch of thousands of rows, likes to
        // hash the tenant's (or the table's) rows and join: a scan of all of
        // them per batch. A batch touches only its own rows, found by primary
        // key: a nested loop over the batch, probing the key's index, costs
        // what the batch holds whatever the size of the table. For this
        // table's statements only, and only where the key is indexed (the
        // primary key). The settings are `LOCAL`: gone at the end of the
        // transaction, and reset after the group.
        let nested_loop =
            dialect == Dialect::Postgres && t.schema.primary_key == shape.key_names(t);
        if nested_loop {
            tx.execute_raw("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
                .await
                .map_err(|e| Error::database("commit: planner settings", e))?;
        }
        let mut done = 0;
        for chunk in group.changes.chunks(per) {
            let Some(&first) = chunk.first() else {
                continue;
            };
            let batch = Batch {
                t,
                shape: &shape,
                op: group.op,
                chunk,
                first,
                tenant: self.tenant_bind(dialect, t, first)?,
            };
            done += match dialect {
                Dialect::Postgres => self.pg_batch(tx, &batch, conflicts).await?,
                Dialect::MySql => self.mysql_batch(tx, &batch, conflicts).await?,
                Dialect::Sqlite => self.sqlite_batch(tx, &batch, conflicts).await?,
            };
        }
        if nested_loop {
            tx.execute_raw(
                "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT",
            )
            .await
            .map_err(|e| Error::database("commit: planner settings", e))?;
        }
        Ok(done)
    }

    /// The tenant, bound as often as [`Shape::sql`] compares it.
    fn tenant_bind(&self, dialect: Dialect, t: &Scoped, c: &RowChange) -> Result<Vec<Bind>> {
        let Some(tc) = tenant_col(t) else {
            return Ok(Vec::new());
        };
        let bind = bind(dialect, tc, self.tenant, c)?;
        Ok(std::iter::repeat_n(bind, prod::exact_eq_binds(dialect, tc)).collect())
    }

    /// Row by row: one statement per change, each checked to touch one row.
    pub(super) async fn apply_rows(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        changes: &[&RowChange],
        op: Op,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<usize> {
        let mut done = 0;
        for c in changes {
            let wrote = match op {
                Op::Update => self.update_row(tx, t, c, conflicts).await?,
                _ => self.delete_row(tx, t, c, conflicts).await?,
            };
            done += usize::from(wrote);
        }
        Ok(done)
    }

    async fn update_row(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        let dialect = self.prod.dialect();
        let (Some(old), Some(new)) = (&c.old, &c.new) else {
            return Ok(false);
        };
        let mut binds = Vec::new();
        let mut sets = Vec::new();
        for name in &c.changed {
            let Some(col) = t.schema.column(name).filter(|col| !col.computed) else {
                continue;
            };
            let v = new.get(name).cloned().unwrap_or(Value::Null);
            binds.push(bind(dialect, col, &v, c)?);
            sets.push(format!(
                "{} = {}",
                dialect.quote(name),
                prod::value_expr(dialect, col, binds.len())
            ));
        }
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let guards = guards(dialect, t, old, c, &mut binds)?;
        let sql = format!(
            "UPDATE {} SET {} WHERE {wh}{guards}",
            prod::qualified(dialect, &t.schema.resolved),
            sets.join(", ")
        );
        self.write_one(tx, t, c, old, (sql, &binds), "UPDATE", conflicts)
            .await
    }

    async fn delete_row(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        let dialect = self.prod.dialect();
        let Some(old) = &c.old else { return Ok(false) };
        let mut binds = Vec::new();
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let guards = guards(dialect, t, old, c, &mut binds)?;
        let sql = format!(
            "DELETE FROM {} WHERE {wh}{guards}",
            prod::qualified(dialect, &t.schema.resolved)
        );
        self.write_one(tx, t, c, old, (sql, &binds), "DELETE", conflicts)
            .await
    }

    /// Runs the one-row statement `what` (`UPDATE`, `DELETE`) of `c` and
    /// checks it touched exactly that row.
    #[allow(clippy::too_many_arguments, reason = "the parts of one row's write")]
    async fn write_one(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        old: &Row,
        (sql, binds): (String, &[Bind]),
        what: &str,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        let key = c.key.render();
        let n = tx
            .execute(sql, binds)
            .await
            .map_err(|e| Error::database(format!("commit: {what} {}[{key}]", c.table), e))?;
        self.one_row(tx, t, c, old, n, conflicts).await
    }

    /// Checks a statement touched exactly one row: none is a conflict to
    /// diagnose; several (a row key not unique in production) wrote rows no
    /// change names, which no mode may commit.
    async fn one_row(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        old: &Row,
        n: u64,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<bool> {
        match n {
            1 => Ok(true),
            0 => {
                conflicts.push(self.diagnose(tx, t, c, old).await?);
                Ok(false)
            }
            _ => Err(Error::Conflict(vec![not_unique(c)])),
        }
    }

    /// Why an update or delete touched no row: the row is gone (for this
    /// tenant) or some columns moved on.
    pub(super) async fn diagnose(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        c: &RowChange,
        old: &Row,
    ) -> Result<Conflict> {
        let dialect = self.prod.dialect();
        let cols = columns_of(t, old);
        let mut binds = Vec::new();
        let wh = self.key_where(dialect, t, old, c, &mut binds)?;
        let list: Vec<String> = cols
            .iter()
            .map(|col| prod::read_expr(dialect, col))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {wh}",
            list.join(", "),
            prod::qualified(dialect, &t.schema.resolved)
        );
        let rows = tx
            .fetch(sql, &binds, &cols)
            .await
            .map_err(|e| fetch_error(format!("checking {}[{}]", c.table, c.key.render()), e))?;
        let kind = match rows.first() {
            None => ConflictKind::Gone,
            Some(now) => ConflictKind::Changed {
                columns: cols
                    .iter()
                    .zip(now)
                    .filter(|(col, v)| !same(old.get(&col.name), v))
                    .map(|(col, _)| col.name.clone())
                    .collect(),
            },
        };
        Ok(Conflict {
            table: c.table.clone(),
            key: c.key.clone(),
            kind,
        })
    }

    /// `key = .. AND tenant = ..`, starting at placeholder `n`.
    fn key_where(
        &self,
        dialect: Dialect,
        t: &Scoped,
        row: &Row,
        c: &RowChange,
        binds: &mut Vec<Bind>,
    ) -> Result<String> {
        let mut parts = Vec::new();
        let mut cols: Vec<&ColumnSchema> = t.key_columns().collect();
        if let Some(tc) = tenant_col(t)
            && !cols.iter().any(|k| k.name == tc.name)
        {
            cols.push(tc);
        }
        for col in cols {
            let v = if tenant_col(t).is_some_and(|tc| tc.name == col.name) {
                self.tenant.clone()
            } else {
                row.get(&col.name).cloned().unwrap_or(Value::Null)
            };
            parts.push(exact_eq_bound(dialect, col, &v, c, binds)?);
        }
        Ok(parts.join(" AND "))
    }
}

/// The binds of one row of a batch: key, new values, cloned values.
pub(super) fn row_binds(dialect: Dialect, shape: &Shape<'_>, c: &RowChange) -> Result<Vec<Bind>> {
    let mut out = Vec::with_capacity(shape.width());
    for part in shape.parts() {
        out.push(part_bind(dialect, part, c, &mut None)?);
    }
    Ok(out)
}

/// Updates (or deletes) of one table that set the same columns and guard
/// the same ones, so one statement shape serves them all.
pub(super) struct Group<'a> {
    op: Op,
    changes: Vec<&'a RowChange>,
}

/// The table's changes of `op`, grouped by statement shape, in changeset order.
pub(super) fn groups<'a>(t: &Scoped, cs: &'a ChangeSet, op: Op) -> Vec<Group<'a>> {
    let name = t.schema.name.to_string();
    let mut out: Vec<Group<'a>> = Vec::new();
    // A handful of shapes at most: a linear search, no allocation per row.
    let same_shape = |a: &RowChange, b: &RowChange| {
        (op != Op::Update || a.changed == b.changed)
            && a.old.as_ref().map(Row::column_names) == b.old.as_ref().map(Row::column_names)
    };
    for c in cs
        .changes()
        .iter()
        .filter(|c| c.op == op && c.table == name && c.old.is_some())
    {
        match out
            .iter_mut()
            .find(|g| g.changes.first().is_some_and(|f| same_shape(f, c)))
        {
            Some(g) => g.changes.push(c),
            None => out.push(Group {
                op,
                changes: vec![c],
            }),
        }
    }
    out
}

/// `g` without the changes of `moved` (`(table, key)`); `None` if empty.
pub(super) fn without<'a>(
    moved: &std::collections::HashSet<(String, String)>,
    mut g: Group<'a>,
) -> Option<Group<'a>> {
    if !moved.is_empty() {
        g.changes
            .retain(|c| !moved.contains(&(c.table.clone(), c.key.render())));
    }
    (!g.changes.is_empty()).then_some(g)
}

/// Which changes of a batch the rows a statement returned belong to: each
/// exactly once, or none. A change matched by several rows (a row key not
/// unique in production) wrote rows no change names: nothing may be
/// committed, whatever the mode.
pub(super) fn once_each(
    hits: impl IntoIterator<Item = Option<usize>>,
    chunk: &[&RowChange],
) -> Result<Vec<bool>> {
    let mut written = vec![false; chunk.len()];
    for hit in hits {
        match hit.and_then(|i| written.get_mut(i)) {
            Some(w) if !*w => *w = true,
            _ => {
                let culprit = hit.and_then(|i| chunk.get(i)).or_else(|| chunk.first());
                return Err(Error::Conflict(
                    culprit.map(|c| not_unique(c)).into_iter().collect(),
                ));
            }
        }
    }
    Ok(written)
}

/// Exact equality of a cloned value with production's current one: equal,
/// and for kinds kept as text (decimals, JSON) the same text, as the SQL
/// guards of the other databases compare them.
pub(super) fn same(old: Option<&Value>, now: &Value) -> bool {
    match (old, now) {
        (Some(Value::Decimal(a)), Value::Decimal(b)) => a.as_str() == b.as_str(),
        (Some(Value::Json(a)), Value::Json(b)) => a.as_str() == b.as_str(),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// Rows per batched UPDATE or DELETE of `width` values a row. PostgreSQL's
/// batch is one array parameter per column, whatever its length; SQLite and
/// MySQL take one parameter per value, within their bind limits.
pub(super) fn batch_rows(dialect: Dialect, width: usize) -> usize {
    let by_binds = dialect.max_binds().saturating_sub(1) / width.max(1);
    match dialect {
        Dialect::Postgres => 10_000,
        Dialect::Sqlite => by_binds.clamp(1, 2_000),
        Dialect::MySql => by_binds.clamp(1, 1_000),
    }
}

/// A change whose key matched several production rows.
pub(super) fn not_unique(c: &RowChange) -> Conflict {
    Conflict {
        table: c.table.clone(),
        key: c.key.clone(),
        kind: ConflictKind::NotUnique,
    }
}

/// One batch of updates or deletes of one statement shape: what each
/// dialect's batch statement starts from.
pub(super) struct Batch<'b, 's> {
    pub t: &'b Scoped,
    pub shape: &'b Shape<'s>,
    pub op: Op,
    /// The changes, never empty.
    pub chunk: &'b [&'b RowChange],
    /// The first change (errors name the batch by its key).
    pub first: &'b RowChange,
    /// The tenant, bound as often as [`Shape::sql`] compares it.
    pub tenant: Vec<Bind>,
}

impl Batch<'_, '_> {
    /// The batch, for errors: `UPDATE tasks (batch from id=7)`.
    pub(super) fn what(&self) -> String {
        format!(
            "{} {} (batch from {})",
            self.op.sql_verb(),
            self.first.table,
            self.first.key.render()
        )
    }

    /// A failed read of the batch's statement.
    pub(super) fn fail(&self, e: FetchError) -> Error {
        fetch_error(self.what(), e)
    }
}
