//! Reflection of SQLite tables through the `pragma_*` table-valued functions
//! and `sqlite_master`.
//!
//! Every name is a bound parameter. Only the `main` database is reflected:
//! naming an attached one would need its name written into the SQL
//! (`other.sqlite_master`), which is never done here. SQLite resolves table
//! names case-insensitively (ASCII), so the catalog is read under the name
//! as stored.

use std::collections::BTreeMap;

use super::mapping;
use super::{fail, not_a_table};
use crate::error::{Error, Result};
use crate::model::{ColumnSchema, FkAction, ForeignKey, Referencing, TableName, TableSchema};

const RESOLVE: &str = "
SELECT name, sql FROM main.sqlite_master
WHERE type = 'table' AND name = ?1 COLLATE NOCASE
ORDER BY name = ?1 DESC";

/// A view (or other non-table) of that name, refused rather than missing.
const NOT_A_TABLE: &str = "
SELECT name, type FROM main.sqlite_master
WHERE type <> 'table' AND type <> 'index' AND type <> 'trigger' AND name = ?1 COLLATE NOCASE
ORDER BY name = ?1 DESC";

/// `hidden`: 0 normal, 2 generated virtual, 3 generated stored.
const COLUMNS: &str = "
SELECT name, type, \"notnull\", dflt_value, pk, hidden
FROM pragma_table_xinfo(?1, 'main')
ORDER BY cid";

/// Unique indexes with their columns (`NULL` for an expression), and the
/// `CREATE UNIQUE INDEX` text of those created that way.
const UNIQUE_INDEXES: &str = "
SELECT il.name, il.origin, ii.name, m.sql
FROM pragma_index_list(?1, 'main') il
JOIN pragma_index_info(il.name, 'main') ii
LEFT JOIN main.sqlite_master m ON m.type = 'index' AND m.name = il.name
WHERE il.\"unique\" = 1
ORDER BY il.name, ii.seqno";

const TRIGGERS: &str = "
SELECT name FROM main.sqlite_master
WHERE type = 'trigger' AND tbl_name = ?1 COLLATE NOCASE
ORDER BY name";

const FOREIGN_KEYS: &str = "
SELECT id, \"table\", \"from\", \"to\", on_delete, on_update
FROM pragma_foreign_key_list(?1, 'main')
ORDER BY id, seq";

const REFERENCED_BY: &str = "
SELECT m.name, f.id, f.\"from\", f.\"to\", f.on_delete, f.on_update
FROM main.sqlite_master m
JOIN pragma_foreign_key_list(m.name, 'main') f
WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE
ORDER BY m.name, f.id, f.seq";

const PRIMARY_KEY: &str = "
SELECT name FROM pragma_table_info(?1, 'main') WHERE pk > 0 ORDER BY pk";

type Pool = sqlx::Pool<sqlx::Sqlite>;

pub(crate) async fn reflect(pool: &Pool, table: &TableName) -> Result<Option<TableSchema>> {
    if let Some(schema) = table
        .schema
        .as_deref()
        .filter(|s| !s.eq_ignore_ascii_case("main"))
    {
        return Err(Error::Config(format!(
            "{table}: only tables of the `main` SQLite database can be reflected, not of `{schema}`"
        )));
    }
    let Some((name, create_sql)) = resolve(pool, table).await? else {
        return Ok(None);
    };

    let column_rows = sqlx::query_as::<_, ColumnRow>(COLUMNS)
        .bind(&name)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "columns"))?;
    let index_rows = sqlx::query_as::<_, IndexRow>(UNIQUE_INDEXES)
        .bind(&name)
        .fetch_all(pool)
        .await
        .map_err(fail(table, "indexes"))?;

    let mut pk: Vec<(i64, String)> = column_rows
        .iter()
        .filter(|c| c.4 > 0)
        .map(|c| (c.4, c.0.clone()))
        .collect();
    pk.sort();
    let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();

    // A rowid alias: the one key column declared exactly `INTEGER`, and no
    // index behind the key (`INTEGER PRIMARY KEY DESC` and WITHOUT ROWID
    // tables have one, and are no alias).
    let rowid_alias = match (primary_key.as_slice(), column_rows.iter().find(|c| c.4 > 0)) {
        ([_], Some(key)) => {
            key.1.trim().eq_ignore_ascii_case("INTEGER")
                && !index_rows.iter().any(|(_, origin, _, _)| origin == "pk")
        }
        _ => false,
    };

    let mut not_enforced = create_sql.as_deref().map(check_clauses).unwrap_or_default();
    let columns = columns(column_rows, rowid_alias, &mut not_enforced);
    not_enforced.extend(unique_clauses(index_rows));
    not_enforced.extend(
        sqlx::query_scalar::<_, String>(TRIGGERS)
            .bind(&name)
            .fetch_all(pool)
            .await
            .map_err(fail(table, "triggers"))?
            .into_iter()
            .map(|t| format!("trigger {t}")),
    );

    let foreign_keys = foreign_keys(pool, table, &name).await?;
    let referenced_by = referenced_by(pool, table, &name, &primary_key).await?;

    Ok(Some(TableSchema {
        name: table.clone(),
        columns,
        primary_key,
        foreign_keys,
        referenced_by,
        not_enforced,
        resolved: TableName {
            schema: Some("main".to_owned()),
            name: name.clone(),
        },
    }))
}

/// `(name, type, notnull, dflt_value, pk, hidden)` of [`COLUMNS`].
type ColumnRow = (String, String, i64, Option<String>, i64, i64);

/// `(index, origin, column, sql)` of [`UNIQUE_INDEXES`].
type IndexRow = (String, String, Option<String>, Option<String>);

/// The table's name as stored and its `CREATE TABLE` text; `None` when it
/// does not exist; an error when the name is a view or another non-table.
async fn resolve(pool: &Pool, table: &TableName) -> Result<Option<(String, Option<String>)>> {
    if let Some(found) = sqlx::query_as::<_, (String, Option<String>)>(RESOLVE)
        .bind(&table.name)
        .fetch_optional(pool)
        .await
        .map_err(fail(table, "table"))?
    {
        return Ok(Some(found));
    }
    if let Some((name, kind)) = sqlx::query_as::<_, (String, String)>(NOT_A_TABLE)
        .bind(&table.name)
        .fetch_optional(pool)
        .await
        .map_err(fail(table, "table"))?
    {
        let kind = if kind == "view" {
            "a view".to_owned()
        } else {
            format!("not a table ({kind})")
        };
        return Err(not_a_table(table, format!("main.{name}"), kind));
    }
    Ok(None)
}

/// The columns of [`COLUMNS`]' rows; `rowid_alias`: the key is the rowid.
fn columns(
    column_rows: Vec<ColumnRow>,
    rowid_alias: bool,
    not_enforced: &mut Vec<String>,
) -> Vec<ColumnSchema> {
    let mut columns = Vec::with_capacity(column_rows.len());
    for (column, declared, not_null, default, key_pos, hidden) in column_rows {
        let alias = rowid_alias && key_pos > 0;
        let computed = hidden == 2 || hidden == 3;
        if computed {
            let storage = if hidden == 2 { "VIRTUAL" } else { "STORED" };
            not_enforced.push(format!(
                "column {column}: GENERATED ALWAYS {storage} (computed by production)"
            ));
        }
        columns.push(ColumnSchema {
            kind: mapping::sqlite(&declared),
            name: column,
            declared_type: declared,
            // A rowid alias never holds NULL: inserting NULL assigns a rowid.
            nullable: not_null == 0 && !alias,
            has_default: default.is_some() || alias || computed,
            generated: alias,
            computed,
        });
    }
    columns
}

/// Unique indexes other than the key, each once, columns in order: as
/// created (`CREATE UNIQUE INDEX ..`) or as a `UNIQUE (..)` clause.
fn unique_clauses(index_rows: Vec<IndexRow>) -> Vec<String> {
    let mut uniques: Vec<(String, String, Vec<String>, Option<String>)> = Vec::new();
    for (index, origin, column, sql) in index_rows {
        if origin == "pk" {
            continue;
        }
        let column = column.unwrap_or_else(|| "(expression)".to_owned());
        match uniques.last_mut() {
            Some((last, _, cols, _)) if *last == index => cols.push(column),
            _ => uniques.push((index, origin, vec![column], sql)),
        }
    }
    uniques
        .into_iter()
        .map(|(_, origin, cols, sql)| match sql {
            Some(sql) if origin == "c" => sql,
            _ => format!("UNIQUE ({})", cols.join(", ")),
        })
        .collect()
}

/// Other tables are named as `table` is: in `main`, qualified or not alike.
fn name_of(table: &TableName, rel: String) -> TableName {
    TableName {
        schema: table.schema.clone(),
        name: rel,
    }
}

/// The foreign keys of table `name` (as stored).
async fn foreign_keys(pool: &Pool, table: &TableName, name: &str) -> Result<Vec<ForeignKey>> {
    let own =
        sqlx::query_as::<_, (i64, String, String, Option<String>, String, String)>(FOREIGN_KEYS)
            .bind(name)
            .fetch_all(pool)
            .await
            .map_err(fail(table, "foreign keys"))?;
    let mut foreign_keys = Vec::new();
    for (_, parent, rows) in
        group(own.into_iter().map(|(id, parent, from, to, del, upd)| {
            ((String::new(), id), parent, from, to, del, upd)
        }))
    {
        // The parent as stored (REFERENCES may spell it in another case), and
        // its key when the foreign key names no columns.
        let stored = sqlx::query_as::<_, (String, Option<String>)>(RESOLVE)
            .bind(&parent)
            .fetch_optional(pool)
            .await
            .map_err(fail(table, "referenced table"))?
            .map_or(parent, |(n, _)| n);
        let parent_key = if rows.ref_columns.iter().any(Option::is_none) {
            sqlx::query_scalar::<_, String>(PRIMARY_KEY)
                .bind(&stored)
                .fetch_all(pool)
                .await
                .map_err(fail(table, "referenced key"))?
        } else {
            Vec::new()
        };
        foreign_keys.push(rows.into_foreign_key(name_of(table, stored), &parent_key));
    }
    Ok(foreign_keys)
}

/// The foreign keys of other tables pointing at table `name` (as stored),
/// whose key is `primary_key`.
async fn referenced_by(
    pool: &Pool,
    table: &TableName,
    name: &str,
    primary_key: &[String],
) -> Result<Vec<Referencing>> {
    let incoming =
        sqlx::query_as::<_, (String, i64, String, Option<String>, String, String)>(REFERENCED_BY)
            .bind(name)
            .fetch_all(pool)
            .await
            .map_err(fail(table, "referencing foreign keys"))?;
    Ok(group(
        incoming.into_iter().map(|(child, id, from, to, del, upd)| {
            ((child, id), String::new(), from, to, del, upd)
        }),
    )
    .into_iter()
    .map(|((child, _), _, rows)| Referencing {
        table: name_of(table, child),
        foreign_key: rows.into_foreign_key(table.clone(), primary_key),
    })
    .collect())
}

/// The rows of one foreign key of `pragma_foreign_key_list`.
struct FkRows {
    columns: Vec<String>,
    ref_columns: Vec<Option<String>>,
    on_delete: FkAction,
    on_update: FkAction,
}

impl FkRows {
    /// `to` is NULL when `REFERENCES parent` names no columns: the parent's key.
    fn into_foreign_key(self, ref_table: TableName, parent_key: &[String]) -> ForeignKey {
        let ref_columns = if self.ref_columns.iter().any(Option::is_none) {
            parent_key.to_vec()
        } else {
            self.ref_columns.into_iter().flatten().collect()
        };
        ForeignKey {
            // SQLite's catalog does not keep constraint names.
            name: None,
            columns: self.columns,
            ref_table,
            ref_columns,
            on_delete: self.on_delete,
            on_update: self.on_update,
        }
    }
}

/// `((owner, id), parent, from, to, on_delete, on_update)`: one column of a
/// foreign key, `owner` telling apart the keys of different tables.
type FkRow = (
    (String, i64),
    String,
    String,
    Option<String>,
    String,
    String,
);

/// Groups rows by foreign key, ordered by (owner, id).
fn group(rows: impl IntoIterator<Item = FkRow>) -> Vec<((String, i64), String, FkRows)> {
    let mut out: BTreeMap<(String, i64), (String, FkRows)> = BTreeMap::new();
    for (key, parent, from, to, on_delete, on_update) in rows {
        let entry = out.entry(key).or_insert_with(|| {
            (
                parent,
                FkRows {
                    columns: Vec::new(),
                    ref_columns: Vec::new(),
                    on_delete: action(&on_delete),
                    on_update: action(&on_update),
                },
            )
        });
        entry.1.columns.push(from);
        entry.1.ref_columns.push(to);
    }
    out.into_iter()
        .map(|(key, (parent, rows))| (key, parent, rows))
        .collect()
}

/// `pragma_foreign_key_list.on_delete` / `on_update`.
fn action(rule: &str) -> FkAction {
    match rule.to_ascii_uppercase().as_str() {
        "CASCADE" => FkAction::Cascade,
        "SET NULL" => FkAction::SetNull,
        "SET DEFAULT" => FkAction::SetDefault,
        // NO ACTION, RESTRICT.
        _ => FkAction::Restrict,
    }
}

/// The `CHECK (..)` clauses of a `CREATE TABLE` text, column and table ones,
/// as written: SQLite keeps no catalog of them. Strings, quoted identifiers
/// and comments are skipped, so a `'CHECK (x)'` literal is not one.
fn check_clauses(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if let Some(end) = skip_quoted_or_comment(&chars, i) {
            i = end;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            {
                i += 1;
            }
            let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
            if word.eq_ignore_ascii_case("CHECK")
                && let Some((expr, end)) = parenthesized(&chars, i)
            {
                out.push(format!("CHECK {expr}"));
                i = end;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// If a string, quoted identifier or comment starts at `i`, the index after it.
fn skip_quoted_or_comment(chars: &[char], i: usize) -> Option<usize> {
    let c = *chars.get(i)?;
    let next = chars.get(i + 1).copied();
    let close = match (c, next) {
        ('\'' | '"' | '`', _) => c,
        ('[', _) => ']',
        ('-', Some('-')) => '\n',
        ('/', Some('*')) => {
            let mut j = i + 2;
            while j < chars.len() {
                if chars.get(j) == Some(&'*') && chars.get(j + 1) == Some(&'/') {
                    return Some(j + 2);
                }
                j += 1;
            }
            return Some(chars.len());
        }
        _ => return None,
    };
    let mut j = i + 1;
    while let Some(&d) = chars.get(j) {
        j += 1;
        if d == close {
            // A doubled quote is an escaped one.
            if close != ']' && close != '\n' && chars.get(j) == Some(&close) {
                j += 1;
                continue;
            }
            return Some(j);
        }
    }
    Some(chars.len())
}

/// The balanced `( .. )` that starts at `i` after whitespace and comments, as
/// written, and the index after it.
fn parenthesized(chars: &[char], mut i: usize) -> Option<(String, usize)> {
    loop {
        match chars.get(i) {
            Some(c) if c.is_whitespace() => i += 1,
            Some('(') => break,
            Some(_) => i = skip_quoted_or_comment(chars, i).filter(|_| is_comment(chars, i))?,
            None => return None,
        }
    }
    let start = i;
    let mut depth = 0_usize;
    while let Some(&c) = chars.get(i) {
        if let Some(end) = skip_quoted_or_comment(chars, i) {
            i = end;
            continue;
        }
        i += 1;
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let text: String = chars.get(start..i)?.iter().collect();
                    return Some((text, i));
                }
            }
            _ => {}
        }
    }
    None
}

fn is_comment(chars: &[char], i: usize) -> bool {
    matches!(
        (chars.get(i), chars.get(i + 1)),
        (Some('-'), Some('-')) | (Some('/'), Some('*'))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_found_as_written() {
        let sql = "CREATE TABLE t (
            id INTEGER PRIMARY KEY,
            price NUMERIC NOT NULL CHECK (price > 0),
            note TEXT DEFAULT 'CHECK (no)' check(length(note) < 10), -- CHECK (comment)
            \"check me\" TEXT, /* check (x) */ rechecked INT,
            CONSTRAINT c1 CHECK ( (price < 1000) AND note <> ')' )
        )";
        assert_eq!(
            check_clauses(sql),
            vec![
                "CHECK (price > 0)".to_owned(),
                "CHECK (length(note) < 10)".to_owned(),
                "CHECK ( (price < 1000) AND note <> ')' )".to_owned(),
            ]
        );
    }

    #[test]
    fn no_checks() {
        assert!(check_clauses("CREATE TABLE t (a TEXT, checks INT)").is_empty());
        assert!(check_clauses("CREATE TABLE t (a TEXT CHECK").is_empty());
    }
}
