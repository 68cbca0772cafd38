//! The batch statements' SQL, tuple lists and exact equality.

use safemodel::{Row, Value};

use super::apply::{batch_rows, same};
use super::binds::in_list;
use super::shape::Shape;
use crate::diff::Op;
use crate::model::{ColumnSchema, TableName, TableSchema};
use crate::scope::{ColumnIx, SandboxPos, Scoped};
use crate::types::{ColumnKind, Dialect};

fn col(name: &str, kind: ColumnKind, declared: &str) -> ColumnSchema {
    ColumnSchema {
        name: name.to_owned(),
        declared_type: declared.to_owned(),
        kind,
        nullable: true,
        has_default: false,
        generated: false,
        computed: false,
    }
}

/// `tasks(id bigint primary key, user_id bigint tenant, price numeric, title text)`.
fn tasks() -> Scoped {
    Scoped {
        schema: TableSchema {
            name: TableName {
                schema: None,
                name: "tasks".to_owned(),
            },
            columns: vec![
                col("id", ColumnKind::Int64, "bigint"),
                col("user_id", ColumnKind::Int64, "bigint"),
                col("price", ColumnKind::Decimal, "numeric"),
                col("title", ColumnKind::Text, "text"),
            ],
            primary_key: vec!["id".to_owned()],
            foreign_keys: Vec::new(),
            referenced_by: Vec::new(),
            not_enforced: Vec::new(),
            resolved: TableName {
                schema: None,
                name: "tasks".to_owned(),
            },
        },
        model: None,
        read_only: false,
        tenant_col: Some(ColumnIx(1)),
        cols: (0..4).map(ColumnIx).collect(),
        pii: vec![false; 4],
        key: vec![SandboxPos(0)],
        generated_key: None,
        sandbox_name: "tasks".to_owned(),
    }
}

fn old_row() -> Row {
    Row::new()
        .with("id", 1_i64)
        .with("user_id", 42_i64)
        .with("price", Value::Null)
        .with("title", "a")
}

#[test]
fn batches_guard_every_cloned_column_and_set_only_the_changed_ones() {
    let t = tasks();
    let old = old_row();
    let shape = Shape::new(&t, &old, &["title".to_owned()]);
    assert_eq!(
        shape.sql(
            Dialect::Postgres,
            Op::Update,
            2,
            &["int8[]", "text[]", "text[]", "text[]"]
        ),
        "UPDATE \"tasks\" AS \"__sdb_t\" SET \"title\" = \"__sdb_v\".\"n0\" \
         FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS \"__sdb_v\"(\"k0\", \"n0\", \"o0\", \"o1\", \"__sdb_ord\") \
         WHERE \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" AND \"__sdb_t\".\"user_id\" = $5 \
         AND \"__sdb_t\".\"price\"::text IS NOT DISTINCT FROM \"__sdb_v\".\"o0\" \
         AND \"__sdb_t\".\"title\"::pg_catalog.text COLLATE pg_catalog.\"C\" IS NOT DISTINCT FROM \"__sdb_v\".\"o1\"::pg_catalog.text COLLATE pg_catalog.\"C\" \
         RETURNING \"__sdb_v\".\"__sdb_ord\""
    );
    assert_eq!(
        shape.sql(Dialect::MySql, Op::Update, 2, &[]),
        "UPDATE `tasks` AS `__sdb_t` JOIN (SELECT ? AS `k0`, ? AS `n0`, ? AS `o0`, ? AS `o1` UNION ALL SELECT ?, ?, ?, ?) AS `__sdb_v` \
         ON `__sdb_t`.`id` = `__sdb_v`.`k0` SET `__sdb_t`.`title` = `__sdb_v`.`n0` \
         WHERE `__sdb_t`.`user_id` = ? \
         AND CAST(CAST(`__sdb_t`.`price` AS CHAR) AS BINARY) <=> CAST(`__sdb_v`.`o0` AS BINARY) \
         AND CAST(CONVERT(`__sdb_t`.`title` USING utf8mb4) AS BINARY) <=> CAST(`__sdb_v`.`o1` AS BINARY)"
    );
    let delete = Shape::new(&t, &old, &[]);
    assert_eq!(
        delete.sql(
            Dialect::Postgres,
            Op::Delete,
            2,
            &["int8[]", "text[]", "text[]"]
        ),
        "DELETE FROM \"tasks\" AS \"__sdb_t\" \
         USING unnest($1::int8[], $2::text[], $3::text[]) WITH ORDINALITY AS \"__sdb_v\"(\"k0\", \"o0\", \"o1\", \"__sdb_ord\") \
         WHERE \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" AND \"__sdb_t\".\"user_id\" = $4 \
         AND \"__sdb_t\".\"price\"::text IS NOT DISTINCT FROM \"__sdb_v\".\"o0\" \
         AND \"__sdb_t\".\"title\"::pg_catalog.text COLLATE pg_catalog.\"C\" IS NOT DISTINCT FROM \"__sdb_v\".\"o1\"::pg_catalog.text COLLATE pg_catalog.\"C\" \
         RETURNING \"__sdb_v\".\"__sdb_ord\""
    );
    assert_eq!(
        delete.sql(Dialect::MySql, Op::Delete, 1, &[]),
        "DELETE `__sdb_t` FROM `tasks` AS `__sdb_t` JOIN (SELECT ? AS `k0`, ? AS `o0`, ? AS `o1`) AS `__sdb_v` \
         ON `__sdb_t`.`id` = `__sdb_v`.`k0` WHERE `__sdb_t`.`user_id` = ? \
         AND CAST(CAST(`__sdb_t`.`price` AS CHAR) AS BINARY) <=> CAST(`__sdb_v`.`o0` AS BINARY) \
         AND CAST(CONVERT(`__sdb_t`.`title` USING utf8mb4) AS BINARY) <=> CAST(`__sdb_v`.`o1` AS BINARY)"
    );
}

#[test]
fn sqlite_reads_the_batch_then_writes_by_key_and_tenant() {
    let t = tasks();
    let old = old_row();
    let shape = Shape::new(&t, &old, &["title".to_owned()]);
    let keys_only = Shape {
        sets: Vec::new(),
        guards: Vec::new(),
        ..shape.clone()
    };
    let read: Vec<&ColumnSchema> = shape
        .all_keys
        .iter()
        .chain(&shape.guards)
        .copied()
        .collect();
    assert_eq!(
        keys_only.select_sql(Dialect::Sqlite, 2, &read),
        "WITH \"__sdb_v\"(\"k0\") AS (VALUES (?), (?)) SELECT \"__sdb_t\".\"id\", \"__sdb_t\".\"price\", \"__sdb_t\".\"title\" \
         FROM \"tasks\" AS \"__sdb_t\" JOIN \"__sdb_v\" ON \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" WHERE \"__sdb_t\".\"user_id\" = ?"
    );
    let write = Shape {
        guards: Vec::new(),
        ..shape
    };
    assert_eq!(
        write.sql(Dialect::Sqlite, Op::Update, 1, &[]),
        "WITH \"__sdb_v\"(\"k0\", \"n0\") AS (VALUES (?, ?)) UPDATE \"tasks\" AS \"__sdb_t\" SET \"title\" = \"__sdb_v\".\"n0\" \
         FROM \"__sdb_v\" WHERE \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" AND \"__sdb_t\".\"user_id\" = ? RETURNING \"id\""
    );
    let delete = Shape {
        sets: Vec::new(),
        ..write
    };
    assert_eq!(
        delete.sql(Dialect::Sqlite, Op::Delete, 1, &[]),
        "WITH \"__sdb_v\"(\"k0\") AS (VALUES (?)) DELETE FROM \"tasks\" WHERE (\"id\") IN \
         (SELECT \"__sdb_t\".\"id\" FROM \"tasks\" AS \"__sdb_t\" JOIN \"__sdb_v\" ON \"__sdb_t\".\"id\" = \"__sdb_v\".\"k0\" \
         WHERE \"__sdb_t\".\"user_id\" = ?) RETURNING \"id\""
    );
}

#[test]
fn tuple_lists_and_batch_sizes() {
    let one = vec!["\"id\"".to_owned()];
    let two = vec!["\"a\"".to_owned(), "\"b\"".to_owned()];
    let rows = vec![vec!["?".to_owned(), "?".to_owned()]; 2];
    assert_eq!(
        in_list(
            Dialect::Sqlite,
            &one,
            &[vec!["?".to_owned()], vec!["?".to_owned()]]
        ),
        "\"id\" IN (?, ?)"
    );
    assert_eq!(
        in_list(Dialect::Sqlite, &two, &rows),
        "(\"a\", \"b\") IN (VALUES (?, ?), (?, ?))"
    );
    assert_eq!(
        in_list(Dialect::Postgres, &two, &rows),
        "(\"a\", \"b\") IN ((?, ?), (?, ?))"
    );
    assert_eq!(in_list(Dialect::MySql, &two, &[]), "1 = 0");
    assert_eq!(batch_rows(Dialect::Postgres, 9), 10_000);
    assert_eq!(batch_rows(Dialect::Sqlite, 9), 2_000);
    assert_eq!(batch_rows(Dialect::Sqlite, 30), 1_092);
    assert_eq!(batch_rows(Dialect::MySql, 200), 327);
}

#[test]
fn exact_equality_keeps_the_text_of_decimals_and_json() {
    let d = |s: &str| Value::Decimal(safemodel::Decimal::new(s).unwrap());
    assert!(same(Some(&d("1.10")), &d("1.10")));
    assert!(!same(Some(&d("1.10")), &d("1.1")));
    let j = |s: &str| Value::Json(safemodel::Json::new(s).unwrap());
    assert!(!same(Some(&j("{\"n\": 1.0}")), &j("{\"n\": 1.00}")));
    assert!(same(Some(&Value::Float(0.1)), &Value::Float(0.1)));
    assert!(!same(None, &Value::Null));
}
