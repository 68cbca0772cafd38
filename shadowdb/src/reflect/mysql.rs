//! Reflection of MySQL and MariaDB tables through `information_schema`.
//!
//! Every name is a bound parameter. `information_schema` compares names with
//! the server's collation, so rows are also filtered here on the exact
//! (case-sensitive) name the table was resolved to.

use std::collections::BTreeMap;

use super::mapping;
use super::{fail, not_a_table};
use crate::error::Result;
use crate::model::{ColumnSchema, FkAction, ForeignKey, Referencing, TableName, TableSchema};
use crate::types::ColumnKind;

const RESOLVE: &str = "
SELECT TABLE_SCHEMA, TABLE_NAME, CAST(@@lower_case_table_names AS SIGNED), TABLE_TYPE
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE())
  AND TABLE_NAME = ?";

const COLUMNS: &str = "
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
       GENERATION_EXPRESSION, CHARACTER_SET_NAME
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
ORDER BY ORDINAL_POSITION";

/// MariaDB: CHECK names are unique per table, and the view has `TABLE_NAME`.
const CHECKS_MARIADB: &str = "
SELECT TABLE_NAME, CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?
ORDER BY CONSTRAINT_NAME";

/// MySQL 8: CHECK names are unique per schema; the table comes from `TABLE_CONSTRAINTS`.
const CHECKS_MYSQL: &str = "
SELECT tc.TABLE_NAME, cc.CHECK_CLAUSE
FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.CHECK_CONSTRAINTS cc
  ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
WHERE tc.TABLE_SCHEMA = ? AND tc.TABLE_NAME = ? AND tc.CONSTRAINT_TYPE = 'CHECK'
ORDER BY cc.CONSTRAINT_NAME";

/// Unique indexes (the primary key first), columns in key order.
const UNIQUE_INDEXES: &str = "
SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, CAST(SUB_PART AS SIGNED)
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
ORDER BY INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX";

const TRIGGERS: &str = "
SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME
FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?
ORDER BY TRIGGER_NAME";

/// Foreign keys from and to the table (any database), one row per column.
const FOREIGN_KEYS: &str = "
SELECT k.CONSTRAINT_NAME, k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME,
       k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,
       r.DELETE_RULE, r.UPDATE_RULE
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA
 AND r.TABLE_NAME = k.TABLE_NAME
 AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
WHERE k.REFERENCED_TABLE_NAME IS NOT NULL
  AND ((k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ?)
    OR (k.REFERENCED_TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME = ?))
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

type ColumnRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

type ForeignKeyRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

type Pool = sqlx::Pool<sqlx::MySql>;

pub(crate) async fn reflect(pool: &Pool, table: &TableName) -> Result<Option<TableSchema>> {
    let Some((schema, name)) = resolve(pool, table).await? else {
        return Ok(None);
    };
    let this = |t: &String| *t == name;

    let column_rows: Vec<ColumnRow> = sqlx::query_as::<_, ColumnRow>(COLUMNS)
        .bind(&schema)
        .bind(&name)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "columns"))?
        .into_iter()
        .filter(|row| this(&row.0))
        .collect();
    let (json_columns, mut not_enforced) =
        checks(pool, table, &schema, &name, &column_rows).await?;
    let columns = column_rows
        .into_iter()
        .map(|row| column(row, &json_columns, &mut not_enforced))
        .collect();
    let primary_key = unique_indexes(pool, table, &schema, &name, &mut not_enforced).await?;

    not_enforced.extend(
        sqlx::query_as::<_, (String, String)>(TRIGGERS)
            .bind(&schema)
            .bind(&name)
            .fetch_all(pool)
            .await
            .map_err(fail(table, "triggers"))?
            .into_iter()
            .filter(|(t, _)| this(t))
            .map(|(_, trigger)| format!("trigger {trigger}")),
    );

    let (foreign_keys, referenced_by) = foreign_keys(pool, table, &schema, &name)
        .await
        .map_err(fail(table, "foreign keys"))?;

    Ok(Some(TableSchema {
        name: table.clone(),
        columns,
        primary_key,
        foreign_keys,
        referenced_by,
        not_enforced,
        resolved: TableName {
            schema: Some(schema.clone()),
            name: name.clone(),
        },
    }))
}

/// The table's database and name as stored; `None` when it does not exist;
/// an error when the name is a view or another non-table.
async fn resolve(pool: &Pool, table: &TableName) -> Result<Option<(String, String)>> {
    let candidates = sqlx::query_as::<_, (String, String, i64, String)>(RESOLVE)
        .bind(table.schema.as_deref())
        .bind(&table.name)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "table"))?;
    // The exact name; a case-insensitive match only where the server itself
    // folds table names (lower_case_table_names = 1 or 2).
    let folded = match candidates.as_slice() {
        [only @ (_, _, folding, _)] if *folding != 0 => Some(only),
        _ => None,
    };
    let resolved = candidates
        .iter()
        .find(|(_, name, _, _)| *name == table.name)
        .or(folded);
    let Some((schema, name, _, kind)) = resolved.cloned() else {
        return Ok(None);
    };
    if kind != "BASE TABLE" && kind != "SYSTEM VERSIONED" {
        let kind = if kind == "VIEW" {
            "a view".to_owned()
        } else {
            format!("not a table ({})", kind.to_ascii_lowercase())
        };
        return Err(not_a_table(table, format!("{schema}.{name}"), kind));
    }
    Ok(Some((schema, name)))
}

/// The table's CHECK constraints: the columns a `json_valid(col)` check
/// makes JSON, and the other checks (not enforced by the sandbox).
async fn checks(
    pool: &Pool,
    table: &TableName,
    schema: &str,
    name: &str,
    column_rows: &[ColumnRow],
) -> Result<(Vec<String>, Vec<String>)> {
    let version = sqlx::query_scalar::<_, String>("SELECT VERSION()")
        .fetch_one(pool)
        .await
        .map_err(fail(table, "server version"))?;
    let checks_sql = if version.contains("MariaDB") {
        CHECKS_MARIADB
    } else {
        CHECKS_MYSQL
    };
    let checks = sqlx::query_as::<_, (String, String)>(checks_sql)
        .bind(schema)
        .bind(name)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "check constraints"))?;

    // MariaDB's `json` is `longtext` plus a `json_valid(col)` CHECK: that
    // check makes the column JSON and is enforced by keeping JSON anyway.
    let mut json_columns = Vec::new();
    let mut not_enforced = Vec::new();
    for (_, clause) in checks.into_iter().filter(|(t, _)| t == name) {
        match mapping::mysql_json_valid_column(&clause)
            .filter(|c| column_rows.iter().any(|r| r.1 == *c))
        {
            Some(column) => json_columns.push(column),
            None => not_enforced.push(format!("CHECK ({clause})")),
        }
    }
    Ok((json_columns, not_enforced))
}

/// One column of [`COLUMNS`]; `json_columns`: those a check makes JSON.
fn column(row: ColumnRow, json_columns: &[String], not_enforced: &mut Vec<String>) -> ColumnSchema {
    let (_, column, column_type, nullable, default, extra, expression, charset) = row;
    let extra_lower = extra.to_ascii_lowercase();
    let auto_increment = extra_lower.contains("auto_increment");
    let computed = ["virtual", "stored", "persistent"]
        .iter()
        .any(|w| extra_lower.split_whitespace().any(|e| e == *w));
    if computed {
        let storage = if extra_lower.contains("virtual") {
            "VIRTUAL"
        } else {
            "STORED"
        };
        let expr = expression.as_deref().unwrap_or("?");
        not_enforced.push(format!(
            "column {column}: GENERATED ALWAYS AS ({expr}) {storage} (computed by production)"
        ));
    }
    if let Some(pos) = extra_lower.find("on update ") {
        let clause = extra.get(pos + "on update ".len()..).unwrap_or_default();
        not_enforced.push(format!("column {column}: ON UPDATE {clause}"));
    }
    // MariaDB prints `DEFAULT NULL` (also the implicit one of a nullable
    // column) as the bare word NULL, and a string 'NULL' quoted: neither
    // PostgreSQL nor SQLite count a NULL default as a default.
    let has_default_value = default.as_deref().is_some_and(|d| d != "NULL");
    let json_checked = json_columns.contains(&column);
    let kind = mapping::mysql(&column_type, json_checked);
    // A text column's character set bounds what it can hold
    // (`value::declared`); utf8mb4 holds every character.
    let column_type = match charset {
        Some(cs) if kind == ColumnKind::Text && cs != "utf8mb4" => {
            format!("{column_type}{}{cs}", crate::value::declared::CHARSET_MARK)
        }
        _ => column_type,
    };
    ColumnSchema {
        kind,
        name: column,
        declared_type: column_type,
        nullable: nullable == "YES",
        has_default: has_default_value || auto_increment || computed,
        generated: auto_increment,
        computed,
    }
}

/// The primary key; the other unique indexes go to `not_enforced`.
async fn unique_indexes(
    pool: &Pool,
    table: &TableName,
    schema: &str,
    name: &str,
    not_enforced: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut primary_key = Vec::new();
    let mut uniques: Vec<(String, Vec<String>)> = Vec::new();
    for (table_name, index, column, sub_part) in
        sqlx::query_as::<_, (String, String, Option<String>, Option<i64>)>(UNIQUE_INDEXES)
            .bind(schema)
            .bind(name)
            .fetch_all(pool)
            .await
            .map_err(fail(table, "unique indexes"))?
    {
        if table_name != name {
            continue;
        }
        let column = column.unwrap_or_else(|| "(expression)".to_owned());
        if index == "PRIMARY" {
            primary_key.push(column);
            continue;
        }
        let part = match sub_part {
            Some(n) => format!("{column}({n})"),
            None => column,
        };
        match uniques.last_mut() {
            Some((last, parts)) if *last == index => parts.push(part),
            _ => uniques.push((index, vec![part])),
        }
    }
    not_enforced.extend(
        uniques
            .into_iter()
            .map(|(_, parts)| format!("UNIQUE ({})", parts.join(", "))),
    );
    Ok(primary_key)
}

/// The table's foreign keys and those pointing at it.
async fn foreign_keys(
    pool: &Pool,
    table: &TableName,
    schema: &str,
    name: &str,
) -> std::result::Result<(Vec<ForeignKey>, Vec<Referencing>), sqlx::Error> {
    let rows = sqlx::query_as::<_, ForeignKeyRow>(FOREIGN_KEYS)
        .bind(schema)
        .bind(name)
        .bind(schema)
        .bind(name)
        .fetch_all(pool)
        .await?;

    // Other tables are named the way this one was asked for: unqualified when
    // they live in the same (default) database, qualified otherwise.
    let name_of = |db: &str, rel: &str| TableName {
        schema: (table.schema.is_some() || db != schema).then(|| db.to_owned()),
        name: rel.to_owned(),
    };
    // (child schema, child table, constraint) -> key, in the query's order.
    let mut grouped: BTreeMap<(String, String, String), (ForeignKey, String, String)> =
        BTreeMap::new();
    for (
        constraint,
        child_db,
        child,
        column,
        parent_db,
        parent,
        ref_column,
        on_delete,
        on_update,
    ) in rows
    {
        let entry = grouped
            .entry((child_db.clone(), child.clone(), constraint.clone()))
            .or_insert_with(|| {
                (
                    ForeignKey {
                        name: Some(constraint),
                        columns: Vec::new(),
                        ref_table: name_of(&parent_db, &parent),
                        ref_columns: Vec::new(),
                        on_delete: action(&on_delete),
                        on_update: action(&on_update),
                    },
                    parent_db,
                    parent,
                )
            });
        entry.0.columns.push(column);
        entry.0.ref_columns.push(ref_column);
    }

    let mut outgoing = Vec::new();
    let mut incoming = Vec::new();
    for ((child_db, child, _), (fk, parent_db, parent)) in grouped {
        if parent_db == schema && parent == name {
            incoming.push(Referencing {
                table: name_of(&child_db, &child),
                foreign_key: fk.clone(),
            });
        }
        if child_db == schema && child == name {
            outgoing.push(fk);
        }
    }
    Ok((outgoing, incoming))
}

/// `REFERENTIAL_CONSTRAINTS.DELETE_RULE` / `UPDATE_RULE`.
fn action(rule: &str) -> FkAction {
    match rule {
        "CASCADE" => FkAction::Cascade,
        "SET NULL" => FkAction::SetNull,
        "SET DEFAULT" => FkAction::SetDefault,
        // RESTRICT, NO ACTION.
        _ => FkAction::Restrict,
    }
}
