//! Inserts: a key production holds taken, by anyone, is a `KeyExists`
//! conflict that reveals nothing about its row (PostgreSQL finds it with
//! `ON CONFLICT DO NOTHING`, the others with a locked check and a savepoint);
//! rows with provisional keys are inserted one by one, production assigning
//! the key.

use std::collections::HashMap;

use safemodel::{Row, Value};

use super::apply::{batch_rows, once_each};
use super::binds::{bind, fetch_error, in_list, key_from, key_tuples};
use super::postgres::pg_arrays;
use super::shape::Part;
use super::{GeneratedKey, Syncer};
use crate::diff::RowChange;
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::model::ColumnSchema;
use crate::prod::{self, Bind, BindArray, PgParam, ProdTx};
use crate::scope::Scoped;
use crate::types::Dialect;

impl Syncer<'_> {
    /// Inserts a table's new rows: checks no key is taken, then multi-row
    /// INSERTs within the bind limit; rows with provisional keys one by one,
    /// reading back production's key.
    pub(super) async fn insert_rows(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        rows: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
        generated: &mut Vec<GeneratedKey>,
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let dialect = self.prod.dialect();
        let gen_col = t
            .generated_key
            .and_then(|base| t.key.first().and_then(|&k| t.col(k)).map(|c| (c, base)));
        let is_provisional = |c: &RowChange| {
            gen_col.is_some_and(|(col, base)| matches!(c.new.as_ref().and_then(|r| r.get(&col.name)), Some(Value::Int(i)) if *i > base))
        };
        let (fresh, keyed): (Vec<&RowChange>, Vec<&RowChange>) =
            rows.iter().copied().partition(|c| is_provisional(c));

        // PostgreSQL, keyed by the primary key: `ON CONFLICT DO NOTHING`
        // tells which keys were taken, in the same statement (no window
        // between a check and the insert).
        let key_names: Vec<String> = t.key_columns().map(|c| c.name.clone()).collect();
        let count = if dialect == Dialect::Postgres
            && !key_names.is_empty()
            && t.schema.primary_key == key_names
        {
            match keyed.first().and_then(|c| c.new.as_ref()) {
                Some(first) => {
                    let cols = written_of(t, first);
                    self.pg_insert(tx, t, &cols, &keyed, conflicts).await?
                }
                None => 0,
            }
        } else {
            self.insert_checked(tx, t, keyed, conflicts).await?
        };
        Ok(count + self.insert_fresh(tx, t, &fresh, gen_col, generated).await?)
    }

    /// Inserts rows with their own keys, after checking which keys
    /// production holds taken already (by anyone: a conflict that reveals
    /// nothing about the row that holds the key).
    async fn insert_checked(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        keyed: Vec<&RowChange>,
        conflicts: &mut Vec<Conflict>,
    ) -> Result<u64> {
        let taken = self.taken_keys(tx, t, &keyed).await?;
        let mut to_insert = Vec::new();
        for c in keyed {
            if taken.contains(&c.key.render()) {
                conflicts.push(key_exists(c));
            } else {
                to_insert.push(c);
            }
        }
        let mut count = 0_u64;
        let Some(first) = to_insert.first().and_then(|c| c.new.as_ref()) else {
            return Ok(0);
        };
        let cols = written_of(t, first);
        let per = (self.prod.dialect().max_binds() / cols.len().max(1)).clamp(1, 1_000);
        for chunk in to_insert.chunks(per) {
            count += self.insert_chunk(tx, t, &cols, chunk, conflicts).await?;
        }
        Ok(count)
    }

    /// One multi-row `INSERT`. A key production holds taken under its
    /// collation (`'ABC'` beside `'abc'`, `'x '` beside `'x'`) escapes the
    /// check before, which matches keys by their bytes; so does a key another
    /// transaction inserted since. Production's unique index then refuses
    /// the batch: it is redone row by row, and each row it refuses is a
    /// `KeyExists` conflict.
    async fn insert_chunk(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        cols: &[&ColumnSchema],
        chunk: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
    ) -> Result<u64> {
        let dialect = self.prod.dialect();
        let key = chunk.first().map(|c| c.key.render()).unwrap_or_default();
        let ctx = format!("commit: INSERT INTO {} (batch from {key})", t.schema.name);
        tx.execute_raw("SAVEPOINT shadowdb_insert")
            .await
            .map_err(|e| Error::database(ctx.clone(), e))?;
        let (sql, binds) = insert_sql(dialect, t, cols, chunk)?;
        let mut count = match tx.execute(sql, &binds).await {
            Ok(n) => {
                tx.execute_raw("RELEASE SAVEPOINT shadowdb_insert")
                    .await
                    .map_err(|e| Error::database(ctx.clone(), e))?;
                return Ok(n);
            }
            Err(e) if !is_unique_violation(&e) => return Err(Error::database(ctx, e)),
            Err(_) => 0,
        };
        tx.execute_raw("ROLLBACK TO SAVEPOINT shadowdb_insert")
            .await
            .map_err(|e| Error::database(ctx.clone(), e))?;
        // Which keys production holds taken, as its own `=` (and its
        // collation) finds them; read with a lock, so a key another
        // transaction inserted (committed since, or still waiting) counts.
        let mut rest = Vec::with_capacity(chunk.len());
        for &c in chunk {
            if self.key_taken(tx, t, c).await? {
                conflicts.push(key_exists(c));
            } else {
                rest.push(c);
            }
        }
        if !rest.is_empty() {
            // Any other unique index refusing the rest is the
            // statement's failure, as it would have been.
            let (sql, binds) = insert_sql(dialect, t, cols, &rest)?;
            count += tx
                .execute(sql, &binds)
                .await
                .map_err(|e| Error::database(ctx.clone(), e))?;
        }
        tx.execute_raw("RELEASE SAVEPOINT shadowdb_insert")
            .await
            .map_err(|e| Error::database(ctx.clone(), e))?;
        Ok(count)
    }

    /// Whether production holds `c`'s key taken, by its own `=` (and the key
    /// columns' collation), the row locked where the dialect can.
    async fn key_taken(&self, tx: &mut ProdTx, t: &Scoped, c: &RowChange) -> Result<bool> {
        let dialect = self.prod.dialect();
        let mut binds = Vec::new();
        let mut wh = Vec::new();
        for (col, (_, v)) in t.key_columns().zip(&c.key.0) {
            binds.push(bind(dialect, col, v, c)?);
            wh.push(format!(
                "{} = {}",
                dialect.quote(&col.name),
                prod::value_expr(dialect, col, binds.len())
            ));
        }
        if wh.is_empty() {
            return Ok(false);
        }
        let lock = if dialect == Dialect::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        let sql = format!(
            "SELECT 1 FROM {} WHERE {}{lock}",
            prod::qualified(dialect, &t.schema.resolved),
            wh.join(" AND ")
        );
        let rows = tx
            .fetch(sql, &binds, &[])
            .await
            .map_err(|e| fetch_error(format!("key check of {}[{}]", c.table, c.key.render()), e))?;
        Ok(!rows.is_empty())
    }

    /// PostgreSQL: `INSERT .. SELECT FROM unnest(<one array per column>) ON
    /// CONFLICT (<primary key>) DO NOTHING RETURNING <key>`: a key already
    /// taken in production, by anyone, is a conflict that reveals nothing
    /// about the row holding it. Any other constraint fails the statement.
    async fn pg_insert(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        cols: &[&ColumnSchema],
        rows: &[&RowChange],
        conflicts: &mut Vec<Conflict>,
    ) -> Result<u64> {
        let dialect = Dialect::Postgres;
        let table = t.schema.name.to_string();
        let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let key_cols: Vec<&ColumnSchema> = t.key_columns().collect();
        let key_names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let key_reads: Vec<String> = key_cols
            .iter()
            .map(|c| prod::read_expr(dialect, c))
            .collect();
        let v = dialect.quote("__sdb_v");
        let aliases: Vec<String> = (0..cols.len())
            .map(|i| dialect.quote(&format!("c{i}")))
            .collect();
        let exprs: Vec<String> = cols
            .iter()
            .zip(&aliases)
            .map(|(col, a)| prod::cast_expr(dialect, col, &format!("{v}.{a}")))
            .collect();
        let mut count = 0;
        for chunk in rows.chunks(batch_rows(dialect, cols.len())) {
            let key = chunk.first().map(|c| c.key.render()).unwrap_or_default();
            let what = format!("INSERT INTO {table} (batch from {key})");
            let parts: Vec<Part<'_>> = cols.iter().map(|col| Part::Set(col)).collect();
            let arrays = pg_arrays(&parts, chunk, &what)?;
            let args: Vec<String> = arrays
                .iter()
                .enumerate()
                .map(|(i, a)| format!("${}::{}", i + 1, a.pg_type()))
                .collect();
            let sql = format!(
                "INSERT INTO {} ({}){} SELECT {} FROM unnest({}) AS {v}({}) ON CONFLICT ({}) DO NOTHING RETURNING {}",
                prod::qualified(dialect, &t.schema.resolved),
                names.join(", "),
                overriding(dialect, cols),
                exprs.join(", "),
                args.join(", "),
                aliases.join(", "),
                key_names.join(", "),
                key_reads.join(", ")
            );
            let params: Vec<PgParam<'_>> = arrays.iter().map(PgParam::Many).collect();
            let inserted = tx
                .fetch_pg(sql, &params, &key_cols)
                .await
                .map_err(|e| fetch_error(what.clone(), e))?;
            let index: HashMap<String, usize> = chunk
                .iter()
                .enumerate()
                .map(|(i, c)| (c.key.render(), i))
                .collect();
            let hits = inserted.into_iter().map(|values| {
                let key = key_from(&key_cols, values);
                index.get(&key.render()).copied()
            });
            for (c, done) in chunk.iter().zip(once_each(hits, chunk)?) {
                if done {
                    count += 1;
                } else {
                    conflicts.push(Conflict {
                        table: c.table.clone(),
                        key: c.key.clone(),
                        kind: ConflictKind::KeyExists,
                    });
                }
            }
        }
        Ok(count)
    }

    async fn taken_keys(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        rows: &[&RowChange],
    ) -> Result<std::collections::HashSet<String>> {
        let dialect = self.prod.dialect();
        let mut taken = std::collections::HashSet::new();
        let key_cols: Vec<&ColumnSchema> = t.key_columns().collect();
        if rows.is_empty() || key_cols.is_empty() {
            return Ok(taken);
        }
        let names: Vec<String> = key_cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let reads: Vec<String> = key_cols
            .iter()
            .map(|c| prod::read_expr(dialect, c))
            .collect();
        let table = t.schema.name.to_string();
        let fail = |e| fetch_error(format!("key check of {table}"), e);
        // PostgreSQL, one key column of a type bound as is: `= ANY(<array>)`.
        if let (Dialect::Postgres, [col], [name]) = (dialect, key_cols.as_slice(), names.as_slice())
            && prod::cast_expr(dialect, col, name) == *name
        {
            {
                for chunk in rows.chunks(batch_rows(dialect, 1)) {
                    let mut keys = Vec::with_capacity(chunk.len());
                    for c in chunk {
                        let v = c.key.0.first().map_or(&Value::Null, |(_, v)| v);
                        keys.push(bind(dialect, col, v, c)?);
                    }
                    let array = BindArray::gather(keys).map_err(|e| Error::Decode {
                        context: format!("key check of {table}, column {}", col.name),
                        reason: e.0,
                    })?;
                    let sql = format!(
                        "SELECT {} FROM {} WHERE {name} = ANY($1::{})",
                        reads.join(", "),
                        prod::qualified(dialect, &t.schema.resolved),
                        array.pg_type()
                    );
                    for values in tx
                        .fetch_pg(sql, &[PgParam::Many(&array)], &key_cols)
                        .await
                        .map_err(fail)?
                    {
                        let key = key_from(&key_cols, values);
                        taken.insert(key.render());
                    }
                }
                return Ok(taken);
            }
        }
        let per = (dialect.max_binds() / key_cols.len()).clamp(1, 1_000);
        for chunk in rows.chunks(per) {
            let mut binds = Vec::new();
            let tuples = key_tuples(dialect, &key_cols, chunk, &mut binds)?;
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                reads.join(", "),
                prod::qualified(dialect, &t.schema.resolved),
                in_list(dialect, &names, &tuples)
            );
            let found = tx.fetch(sql, &binds, &key_cols).await.map_err(fail)?;
            for values in found {
                let key = key_from(&key_cols, values);
                taken.insert(key.render());
            }
        }
        Ok(taken)
    }

    /// Inserts rows with provisional keys one by one, production assigning
    /// each key, and notes the keys it assigned.
    async fn insert_fresh(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        rows: &[&RowChange],
        gen_col: Option<(&ColumnSchema, i64)>,
        generated: &mut Vec<GeneratedKey>,
    ) -> Result<u64> {
        let Some((key_col, _)) = gen_col else {
            return Ok(0);
        };
        let table = t.schema.name.to_string();
        let mut count = 0;
        // References to new rows of this same table, inserted just before.
        let refs: Vec<crate::diff::PendingRef> = crate::remap::pending_refs(self.tables)
            .into_iter()
            .filter(|r| r.table == table && r.parent == table)
            .collect();
        for c in rows {
            let remapped = if refs.is_empty() {
                None
            } else {
                crate::remap::remap(c, &refs, generated, None)?
            };
            let c = remapped.as_ref().unwrap_or(c);
            let Some(new) = &c.new else { continue };
            let cols: Vec<&ColumnSchema> = written_of(t, new)
                .into_iter()
                .filter(|col| col.name != key_col.name)
                .collect();
            let assigned = self.insert_one(tx, t, &cols, key_col, c, new).await?;
            let provisional = match new.get(&key_col.name) {
                Some(Value::Int(i)) => *i,
                _ => 0,
            };
            if let Some(Value::Int(real)) = assigned {
                generated.push(GeneratedKey {
                    table: table.clone(),
                    column: key_col.name.clone(),
                    provisional,
                    assigned: real,
                });
            }
            count += 1;
        }
        Ok(count)
    }

    /// Inserts `new` (columns `cols`, its key left to production) and reads
    /// back the key production assigned.
    async fn insert_one(
        &self,
        tx: &mut ProdTx,
        t: &Scoped,
        cols: &[&ColumnSchema],
        key_col: &ColumnSchema,
        c: &RowChange,
        new: &Row,
    ) -> Result<Option<Value>> {
        let dialect = self.prod.dialect();
        let mut binds = Vec::new();
        let mut exprs = Vec::new();
        for col in cols {
            let v = new.get(&col.name).cloned().unwrap_or(Value::Null);
            binds.push(bind(dialect, col, &v, c)?);
            exprs.push(prod::value_expr(dialect, col, binds.len()));
        }
        let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
        let base = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            prod::qualified(dialect, &t.schema.resolved),
            names.join(", "),
            exprs.join(", ")
        );
        let what = format!("INSERT INTO {}[{}]", t.schema.name, c.key.render());
        let assigned = match dialect {
            Dialect::MySql => {
                tx.execute(base, &binds)
                    .await
                    .map_err(|e| Error::database(format!("commit: {what}"), e))?;
                let id_col = ColumnSchema {
                    kind: crate::types::ColumnKind::Int64,
                    ..key_col.clone()
                };
                tx.fetch(
                    "SELECT CAST(LAST_INSERT_ID() AS SIGNED)".into(),
                    &[],
                    &[&id_col],
                )
                .await
            }
            _ => {
                let sql = format!("{base} RETURNING {}", dialect.quote(&key_col.name));
                tx.fetch(sql, &binds, &[key_col]).await
            }
        }
        .map_err(|e| fetch_error(what, e))?;
        Ok(assigned
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next()))
    }
}

/// A multi-row `INSERT` of `rows` (columns `cols`) and its binds.
fn insert_sql(
    dialect: Dialect,
    t: &Scoped,
    cols: &[&ColumnSchema],
    rows: &[&RowChange],
) -> Result<(String, Vec<Bind>)> {
    let names: Vec<String> = cols.iter().map(|c| dialect.quote(&c.name)).collect();
    let mut binds = Vec::with_capacity(rows.len() * cols.len());
    let mut tuples = Vec::with_capacity(rows.len());
    for c in rows {
        let Some(new) = &c.new else { continue };
        let mut exprs = Vec::with_capacity(cols.len());
        for col in cols {
            let v = new.get(&col.name).cloned().unwrap_or(Value::Null);
            binds.push(bind(dialect, col, &v, c)?);
            exprs.push(prod::value_expr(dialect, col, binds.len()));
        }
        tuples.push(format!("({})", exprs.join(", ")));
    }
    let sql = format!(
        "INSERT INTO {} ({}){} VALUES {}",
        prod::qualified(dialect, &t.schema.resolved),
        names.join(", "),
        overriding(dialect, cols),
        tuples.join(", ")
    );
    Ok((sql, binds))
}

/// The columns of `row` an insert writes: not those production computes,
/// but an identity `GENERATED ALWAYS` key given a value (a rollback
/// restoring a deleted row), written with [`overriding`].
fn written_of<'a>(t: &'a Scoped, row: &Row) -> Vec<&'a ColumnSchema> {
    row.columns()
        .filter_map(|name| t.schema.column(name))
        .filter(|c| {
            !c.computed
                || (c.generated
                    && t.key
                        .iter()
                        .any(|&k| t.col(k).is_some_and(|kc| kc.name == c.name)))
        })
        .collect()
}

/// PostgreSQL takes a value for an identity `GENERATED ALWAYS` column only
/// when told to (restoring a row with its own key).
fn overriding(dialect: Dialect, cols: &[&ColumnSchema]) -> &'static str {
    if dialect == Dialect::Postgres && cols.iter().any(|c| c.computed) {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    }
}

/// Whether production refused a statement for a duplicate in a unique index.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A row whose key production holds taken.
fn key_exists(c: &RowChange) -> Conflict {
    Conflict {
        table: c.table.clone(),
        key: c.key.clone(),
        kind: ConflictKind::KeyExists,
    }
}
