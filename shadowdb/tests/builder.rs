//! The builder through the public API, on SQLite: its calls in any order, a
//! row key for a table that is not scoped, contracts bound explicitly, the
//! contract check's messages, and the types a caller matches on at the root.

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safemodel::Value;
use shadowdb::{
    ChangeSet, Dialect, Error, Key, Op, OpenOptions, Production, SchemaProblem, ShadowDb,
};
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

/// Two programs' worth of `tasks`: the same table name, two contracts.
mod crm {
    #[derive(Debug, safemodel::SafeModel)]
    #[safemodel(table = "tasks", tenant = "org_id")]
    pub struct Task {
        #[safemodel(primary_key)]
        pub id: i64,
        pub org_id: i64,
        pub title: String,
        #[safemodel(pii)]
        pub email: Option<String>,
    }
}

mod billing {
    #[derive(Debug, safemodel::SafeModel)]
    #[safemodel(table = "tasks", tenant = "account_id")]
    pub struct Task {
        #[safemodel(primary_key)]
        pub id: i64,
        pub account_id: i64,
        #[validate(range(min = 0))]
        pub cents: i64,
    }
}

/// A contract that leaves out the column the caller keys the table by.
#[derive(Debug, safemodel::SafeModel)]
#[safemodel(table = "logs", tenant = "org_id")]
struct Log {
    #[safemodel(primary_key)]
    note: String,
    org_id: i64,
}

/// An in-memory SQLite "production" with `sql` run on it (one connection:
/// each connection to `sqlite::memory:` is a database of its own).
async fn production(sql: &'static str) -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool
}

/// `options` with tables without a contract allowed, opened for `tenant`.
async fn open_uncontracted(options: OpenOptions, tenant: i64) -> Result<ShadowDb, Error> {
    options.allow_uncontracted(true).tenant(tenant).open().await
}

/// The ids of the `notes` the sandbox shows, in order.
async fn note_ids(db: &ShadowDb) -> Vec<Vec<Value>> {
    db.query("SELECT id FROM notes ORDER BY id", &[])
        .await
        .unwrap()
        .rows
}

const NOTES: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, \
                     body TEXT NOT NULL); \
                     INSERT INTO notes VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c');";

#[tokio::test]
async fn tenant_column_before_its_table_is_applied() {
    let pool = production(NOTES).await;
    // Before: the call came first and was taken for a table outside the scope,
    // so `notes` had no tenant column.
    let before = open_uncontracted(
        ShadowDb::builder(pool.clone())
            .tenant_column("notes", "owner")
            .table("notes"),
        1,
    )
    .await
    .unwrap();
    let after = open_uncontracted(
        ShadowDb::builder(pool)
            .table("notes")
            .tenant_column("notes", "owner"),
        1,
    )
    .await
    .unwrap();
    for db in [&before, &after] {
        assert_eq!(db.clone_stats().tables, [("notes".to_owned(), 2)]);
        assert_eq!(note_ids(db).await, [[Value::Int(1)], [Value::Int(2)]]);
    }
}

#[tokio::test]
async fn the_last_tenant_column_for_a_table_wins() {
    let pool = production(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, \
         author INTEGER NOT NULL); \
         INSERT INTO notes VALUES (1, 1, 2), (2, 2, 2), (3, 1, 1);",
    )
    .await;
    let db = open_uncontracted(
        ShadowDb::builder(pool)
            .tenant_column("notes", "owner")
            .table("notes")
            .tenant_column("notes", "author"),
        2,
    )
    .await
    .unwrap();
    assert_eq!(note_ids(&db).await, [[Value::Int(1)], [Value::Int(2)]]);
}

const TAGS: &str = "CREATE TABLE tags (org_id INTEGER NOT NULL, code TEXT NOT NULL UNIQUE, \
                    label TEXT); \
                    INSERT INTO tags VALUES (1, 'a', 'x'), (1, 'b', 'y'), (2, 'c', 'z');";

#[tokio::test]
async fn row_key_before_its_table_is_applied() {
    let pool = production(TAGS).await;
    let db = open_uncontracted(
        ShadowDb::builder(pool)
            .row_key("tags", &["code"])
            .tenant_column("tags", "org_id")
            .table("tags"),
        1,
    )
    .await
    .unwrap();
    db.execute("UPDATE tags SET label = 'new' WHERE code = 'b'", &[])
        .await
        .unwrap();
    let diff: ChangeSet = db.diff().unwrap();
    assert_eq!(diff.len(), 1);
    let change = diff.changes().iter().next().unwrap();
    assert_eq!(change.op, Op::Update);
    assert_eq!(
        change.key,
        Key(vec![("code".to_owned(), Value::Text("b".to_owned()))])
    );
    assert_eq!(change.changed, ["label"]);
}

/// Why `tags`, scoped by `org_id` for tenant 1, does not open with a row key
/// of `columns` for `table`.
async fn tags_with_row_key(table: &str, columns: &[&str]) -> Error {
    let pool = production(TAGS).await;
    open_uncontracted(
        ShadowDb::builder(pool)
            .table("tags")
            .tenant_column("tags", "org_id")
            .row_key(table, columns),
        1,
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn a_row_key_for_a_table_not_scoped_is_refused() {
    let err = tags_with_row_key("tag", &["code"]).await;
    assert!(matches!(&err, Error::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a row key is given for `tag`, which is not scoped: call .table(\"tag\") or \
         .reference_table(\"tag\")"
    );
}

/// A row key naming a column the table lacks is named as that, not as a
/// column of a contract.
#[tokio::test]
async fn a_row_key_naming_a_missing_column_says_so() {
    let err = tags_with_row_key("tags", &["slug"]).await;
    let Error::Schema(problems) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["tags: the row key names column `slug`, which the table lacks"]
    );
}

const CRM: &str = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, \
                   title TEXT NOT NULL, email TEXT); \
                   INSERT INTO tasks VALUES (1, 7, 'call', 'a@example.com'), \
                   (2, 8, 'mail', NULL);";

const BILLING: &str = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, \
                       cents INTEGER NOT NULL); \
                       INSERT INTO tasks VALUES (1, 7, 100), (2, 7, 250), (3, 9, 5);";

#[tokio::test]
async fn two_contracts_for_one_table_name_are_ambiguous_by_name() {
    let pool = production(CRM).await;
    let err = ShadowDb::builder(pool)
        .table("tasks")
        .tenant(7_i64)
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Model(safemodel::Error::DuplicateModel { table, .. }) if table == "tasks"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "table `tasks` has two contracts: `builder::billing::Task` and `builder::crm::Task`"
    );
}

#[tokio::test]
async fn table_with_binds_each_database_its_own_contract() {
    let crm = ShadowDb::builder(production(CRM).await)
        .table_with::<crm::Task>("tasks")
        .tenant(7_i64)
        .open()
        .await
        .unwrap();
    assert_eq!(crm.clone_stats().tables, [("tasks".to_owned(), 1)]);
    assert_eq!(
        crm.pii_columns(),
        [("tasks".to_owned(), "email".to_owned())]
    );

    let billing = ShadowDb::builder(production(BILLING).await)
        .table_with::<billing::Task>("tasks")
        .tenant(7_i64)
        .open()
        .await
        .unwrap();
    assert_eq!(billing.clone_stats().tables, [("tasks".to_owned(), 2)]);
    assert!(billing.pii_columns().is_empty());
    // The bound contract checks the rows: `cents` is not negative.
    billing
        .execute("UPDATE tasks SET cents = -5 WHERE id = 1", &[])
        .await
        .unwrap();
    let diff = billing.diff().unwrap();
    let change = diff.changes().iter().next().unwrap();
    assert_eq!(change.violations.len(), 1, "{:?}", change.violations);
    assert_eq!(change.violations[0].column, "cents");
}

#[tokio::test]
async fn table_with_takes_a_schema_qualified_name() {
    let db = ShadowDb::builder(production(CRM).await)
        .table_with::<crm::Task>("main.tasks")
        .tenant(8_i64)
        .open()
        .await
        .unwrap();
    assert_eq!(db.table_names(), ["main.tasks"]);
    assert_eq!(db.clone_stats().tables, [("main.tasks".to_owned(), 1)]);
}

#[tokio::test]
async fn a_key_column_missing_from_the_contract_is_reported_as_such() {
    // `code` keys the table but the contract leaves it out: before, this was
    // reported as a column the contract declares and the table lacks.
    let pool = production(
        "CREATE TABLE logs (org_id INTEGER NOT NULL, code TEXT UNIQUE, note TEXT NOT NULL);",
    )
    .await;
    let err = ShadowDb::builder(pool)
        .table("logs")
        .row_key("logs", &["code"])
        .tenant(1_i64)
        .open()
        .await
        .unwrap_err();
    let Error::Schema(problems) = &err else {
        panic!("expected Error::Schema, got {err:?}");
    };
    assert_eq!(
        problems,
        &[SchemaProblem::KeyColumnNotInContract {
            table: "logs".to_owned(),
            column: "code".to_owned(),
        }]
    );
    assert_eq!(
        err.to_string(),
        "cannot open the sandbox:\n  - logs: key column `code` is not in the contract \
         (rows are matched by their key)"
    );
}

#[tokio::test]
async fn the_types_a_caller_matches_on_are_at_the_root() {
    let pool = production(NOTES).await;
    let prod = Production::from(pool);
    assert!(matches!(prod, Production::Sqlite(_)));
    let db = open_uncontracted(
        ShadowDb::builder(prod)
            .table("notes")
            .tenant_column("notes", "owner"),
        2,
    )
    .await
    .unwrap();
    assert_eq!(db.dialect(), Dialect::Sqlite);
    db.execute("DELETE FROM notes WHERE id = 3", &[])
        .await
        .unwrap();
    let diff = db.diff().unwrap();
    let ops: Vec<Op> = diff.changes().iter().map(|c| c.op).collect();
    assert_eq!(ops, [Op::Delete]);
    let review = db.review(&diff);
    assert!(
        matches!(review.verdict, shadowdb::Verdict::Safe),
        "{:?}",
        review.verdict
    );
}
