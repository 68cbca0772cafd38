//! Reflection of PostgreSQL tables through `pg_catalog`.
//!
//! Every name is a bound parameter; the table is resolved once to its oid and
//! everything else is read by that oid.

use sqlx::postgres::types::Oid;

use super::mapping::{self, PgClass};
use super::{fail, not_a_table};
use crate::error::Result;
use crate::model::{ColumnSchema, FkAction, ForeignKey, Referencing, TableName, TableSchema};
use crate::types::ColumnKind;

/// The relation's oid, schema and kind, resolved by the server itself
/// (`to_regclass` follows the search path, `pg_temp` and `pg_catalog`
/// included, exactly as a statement naming it would).
const RESOLVE: &str = "
SELECT c.oid, n.nspname::text, c.relkind::text
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = pg_catalog.to_regclass($1)";

/// Columns in order. `base` follows domains down to their base type, which
/// decides the kind; domain NOT NULLs and CHECKs are collected on the way.
/// A domain column's limits are its base type's with the domain's modifier
/// (`numeric(5,2)` under `CREATE DOMAIN money2 AS numeric(5,2)`), which
/// production applies to a written value without an error (it rounds).
const COLUMNS: &str = "
WITH RECURSIVE cols AS (
    SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.atthasdef,
           a.attidentity, a.attgenerated
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
), base AS (
    SELECT c.attnum, c.atttypid AS typid, c.atttypmod AS typmod, 0 AS depth FROM cols c
    UNION ALL
    SELECT b.attnum, t.typbasetype, t.typtypmod, b.depth + 1
    FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.typid
    WHERE t.typtype = 'd'
)
SELECT c.attname::text,
       pg_catalog.format_type(c.atttypid, c.atttypmod),
       c.attnotnull OR EXISTS (
           SELECT 1 FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.typid
           WHERE b.attnum = c.attnum AND t.typtype = 'd' AND t.typnotnull),
       c.atthasdef,
       c.attidentity::text,
       c.attgenerated::text,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid),
       bt.typname::text,
       bt.typtype::text,
       bt.typcategory::text,
       ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
             WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder),
       ARRAY(SELECT pg_catalog.pg_get_constraintdef(con.oid) || ' (domain '
                    || pg_catalog.format_type(con.contypid, NULL) || ')'
             FROM base b JOIN pg_catalog.pg_constraint con ON con.contypid = b.typid
             WHERE b.attnum = c.attnum AND con.contype = 'c'
             ORDER BY b.depth, con.conname),
       CASE WHEN r.depth > 0 THEN pg_catalog.format_type(r.typid, r.typmod) END
FROM cols c
JOIN LATERAL (
    SELECT b.typid, b.typmod, b.depth FROM base b WHERE b.attnum = c.attnum ORDER BY b.depth DESC LIMIT 1
) r ON true
JOIN pg_catalog.pg_type bt ON bt.oid = r.typid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = $1 AND d.adnum = c.attnum
ORDER BY c.attnum";

/// Primary key, CHECK, UNIQUE and EXCLUDE constraints (columns in key
/// order), then unique indexes that back no constraint (`CREATE UNIQUE
/// INDEX`), then user triggers (not the internal ones behind foreign keys):
/// one statement, as each costs a round trip and a plan. Names sort as
/// `name` does (`C`), whatever the database's collation.
const CONSTRAINTS: &str = "
SELECT kind, definition, key_columns FROM (
    SELECT 0 AS part, con.contype::text AS kind,
           pg_catalog.pg_get_constraintdef(con.oid) AS definition,
           ARRAY(SELECT a.attname::text
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(num, pos)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                 ORDER BY k.pos) AS key_columns,
           con.contype::text COLLATE \"C\" AS o1, con.conname::text COLLATE \"C\" AS o2
    FROM pg_catalog.pg_constraint con
    WHERE con.conrelid = $1 AND con.contype IN ('p', 'c', 'u', 'x')
    UNION ALL
    SELECT 1, 'index', pg_catalog.pg_get_indexdef(i.indexrelid), ARRAY[]::text[],
           '', ic.relname::text COLLATE \"C\"
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    WHERE i.indrelid = $1 AND i.indisunique
      AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_constraint con
          WHERE con.conrelid = i.indrelid AND con.conindid = i.indexrelid)
    UNION ALL
    SELECT 2, 'trigger', t.tgname::text, ARRAY[]::text[], '', t.tgname::text COLLATE \"C\"
    FROM pg_catalog.pg_trigger t
    WHERE t.tgrelid = $1 AND NOT t.tgisinternal
) AS s
ORDER BY part, o1, o2";

/// Foreign keys from and to the table. A foreign key onto a partitioned table
/// is cloned for each partition (same referencing table, `conparentid` set):
/// those clones are left out, the original stands for them.
const FOREIGN_KEYS: &str = "
SELECT con.conname::text,
       con.conrelid = $1,
       con.confrelid = $1,
       cn.nspname::text, cc.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.pos),
       pn.nspname::text, pc.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.pos),
       con.confdeltype::text,
       con.confupdtype::text
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid
JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid
JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
WHERE con.contype = 'f'
  AND (con.conrelid = $1 OR con.confrelid = $1)
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_constraint parent
      WHERE parent.oid = con.conparentid AND parent.conrelid = con.conrelid)
ORDER BY cn.nspname, cc.relname, con.conname";

type ColumnRow = (
    String,
    String,
    bool,
    bool,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Vec<String>,
    Vec<String>,
    Option<String>,
);

type ForeignKeyRow = (
    String,
    bool,
    bool,
    String,
    String,
    Vec<String>,
    String,
    String,
    Vec<String>,
    String,
    String,
);

type Pool = sqlx::Pool<sqlx::Postgres>;

pub(crate) async fn reflect(pool: &Pool, table: &TableName) -> Result<Option<TableSchema>> {
    let Some((oid, schema)) = resolve(pool, table).await? else {
        return Ok(None);
    };
    let mut not_enforced = Vec::new();
    let columns = columns(pool, table, oid, &mut not_enforced).await?;
    let primary_key = constraints(pool, table, oid, &mut not_enforced).await?;
    let (foreign_keys, referenced_by) = foreign_keys(pool, table, oid, &schema).await?;
    Ok(Some(TableSchema {
        name: table.clone(),
        columns,
        primary_key,
        foreign_keys,
        referenced_by,
        not_enforced,
        resolved: TableName {
            schema: Some(schema),
            name: table.name.clone(),
        },
    }))
}

/// The table's oid and schema; `None` when it does not exist; an error when
/// the name is a relation other than a table.
async fn resolve(pool: &Pool, table: &TableName) -> Result<Option<(Oid, String)>> {
    let quoted = crate::prod::qualified(crate::types::Dialect::Postgres, table);
    let Some((oid, schema, relkind)) = sqlx::query_as::<_, (Oid, String, String)>(RESOLVE)
        .bind(&quoted)
        .fetch_optional(pool)
        .await
        .map_err(fail(table, "table"))?
    else {
        return Ok(None);
    };
    if relkind != "r" && relkind != "p" {
        let kind = match relkind.as_str() {
            "v" => "a view",
            "m" => "a materialized view",
            "f" => "a foreign table",
            "S" => "a sequence",
            "c" => "a composite type",
            "i" | "I" => "an index",
            _ => "not a table",
        };
        return Err(not_a_table(
            table,
            format!("{schema}.{}", table.name),
            kind.to_owned(),
        ));
    }
    Ok(Some((oid, schema)))
}

/// The columns in order; what production enforces on them that the
/// sandbox does not goes to `not_enforced`.
async fn columns(
    pool: &Pool,
    table: &TableName,
    oid: Oid,
    not_enforced: &mut Vec<String>,
) -> Result<Vec<ColumnSchema>> {
    let column_rows = sqlx::query_as::<_, ColumnRow>(COLUMNS)
        .bind(oid)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "columns"))?;
    Ok(column_rows
        .into_iter()
        .map(|row| column(row, not_enforced))
        .collect())
}

/// One column of [`COLUMNS`].
fn column(row: ColumnRow, not_enforced: &mut Vec<String>) -> ColumnSchema {
    let (
        name,
        declared,
        not_null,
        has_def,
        identity,
        computed,
        default,
        typname,
        typtype,
        category,
        labels,
        domain_checks,
        domain_base,
    ) = row;
    let class = if typtype == "e" {
        PgClass::Enum(labels)
    } else if category == "A" && typname != "int2vector" && typname != "oidvector" {
        PgClass::Array
    } else if typtype == "b" {
        PgClass::Base
    } else {
        PgClass::Other
    };
    for check in domain_checks {
        not_enforced.push(format!("column {name}: {check}"));
    }
    if !computed.is_empty() {
        let expr = default.as_deref().unwrap_or("?");
        not_enforced.push(format!(
            "column {name}: GENERATED ALWAYS AS ({expr}) STORED (computed by production)"
        ));
    }
    let serial = computed.is_empty() && default.as_deref().is_some_and(|d| d.contains("nextval("));
    let kind = mapping::postgres(&declared, &typname, class);
    // A domain is written, cast and checked as its base type: assigning
    // that to the column applies the domain's own checks.
    let declared = match (&kind, domain_base) {
        (ColumnKind::Unsupported(_), _) | (_, None) => declared,
        (_, Some(base)) => base,
    };
    ColumnSchema {
        kind,
        name,
        declared_type: declared,
        nullable: !not_null,
        has_default: has_def || !identity.is_empty(),
        generated: !identity.is_empty() || serial,
        // `a`: GENERATED ALWAYS AS IDENTITY (`d`, BY DEFAULT, takes writes).
        computed: !computed.is_empty() || identity == "a",
    }
}

/// The primary key; the other constraints, unique indexes and triggers go
/// to `not_enforced`.
async fn constraints(
    pool: &Pool,
    table: &TableName,
    oid: Oid,
    not_enforced: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut primary_key = Vec::new();
    for (kind, definition, key_columns) in
        sqlx::query_as::<_, (String, String, Vec<String>)>(CONSTRAINTS)
            .bind(oid)
            .fetch_all(pool)
            .await
            .map_err(fail(table, "constraints, unique indexes and triggers"))?
    {
        match kind.as_str() {
            "p" => primary_key = key_columns,
            "trigger" => not_enforced.push(format!("trigger {definition}")),
            _ => not_enforced.push(definition),
        }
    }
    Ok(primary_key)
}

/// The table's foreign keys and those pointing at it; `schema`: the one
/// the table resolved to.
async fn foreign_keys(
    pool: &Pool,
    table: &TableName,
    oid: Oid,
    schema: &str,
) -> Result<(Vec<ForeignKey>, Vec<Referencing>)> {
    // Other tables are named the way this one was asked for: unqualified when
    // they live in the same (default) schema, qualified otherwise.
    let name_of = |nsp: String, rel: String| TableName {
        schema: (table.schema.is_some() || nsp != schema).then_some(nsp),
        name: rel,
    };
    let mut foreign_keys = Vec::new();
    let mut referenced_by = Vec::new();
    for row in sqlx::query_as::<_, ForeignKeyRow>(FOREIGN_KEYS)
        .bind(oid)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "foreign keys"))?
    {
        let (
            conname,
            outgoing,
            incoming,
            child_nsp,
            child_rel,
            cols,
            parent_nsp,
            parent_rel,
            ref_cols,
            on_delete,
            on_update,
        ) = row;
        let fk = ForeignKey {
            name: Some(conname),
            columns: cols,
            ref_table: name_of(parent_nsp, parent_rel),
            ref_columns: ref_cols,
            on_delete: action(&on_delete),
            on_update: action(&on_update),
        };
        if incoming {
            referenced_by.push(Referencing {
                table: name_of(child_nsp, child_rel),
                foreign_key: fk.clone(),
            });
        }
        if outgoing {
            foreign_keys.push(fk);
        }
    }
    Ok((foreign_keys, referenced_by))
}

/// `pg_constraint.confdeltype` / `confupdtype`.
fn action(code: &str) -> FkAction {
    match code {
        "c" => FkAction::Cascade,
        "n" => FkAction::SetNull,
        "d" => FkAction::SetDefault,
        // 'a' (no action), 'r' (restrict).
        _ => FkAction::Restrict,
    }
}
