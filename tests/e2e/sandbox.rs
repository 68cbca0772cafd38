//! The sandbox on every database: clone isolation, every schema problem at
//! open, both walls (the policy first, then SQLite's own), the statement time
//! limit, atomic scripts, the diff, PII, generated keys, foreign keys, names,
//! row keys, and a 200,000-row clone.

use std::time::{Duration, Instant};

use safemodel::{Rule, SafeEnum, SafeModel, Value, Violation};
use shadowdb::diff::{Counts, Key, Op};
use shadowdb::policy::{Decision, Policy};
use shadowdb::{Error, GeneratedKey, Limits, Refusal, SchemaProblem, ShadowDb};

use crate::common::{Kind, TestDb, changed_keys, commit_valid, open_table, pick, query_rows, run};
use crate::each_db;

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn key(parts: &[(&str, Value)]) -> Key {
    Key(parts
        .iter()
        .map(|(c, v)| ((*c).to_owned(), v.clone()))
        .collect())
}

/// A policy that lets every statement through to the sandbox, so the tests
/// below hit the sandbox's own walls (the second wall).
fn permissive() -> Policy {
    let mut p = Policy::builtin("dev").unwrap();
    for rule in [
        "statement_kind",
        "drop",
        "truncate",
        "alter",
        "create",
        "attach",
        "pragma",
        "transaction",
        "vacuum",
        "outside_scope",
        "forbidden_function",
        "read_only_table",
        "pii_write",
        "delete_without_where",
        "update_without_where",
        "upsert",
    ] {
        p.set_rule(rule, Decision::Allow).unwrap();
    }
    p
}

// ---- 1. clone isolation ---------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_iso_tasks", tenant = "user_id")]
pub struct SbIsoTask {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
}

#[tokio::test]
async fn clone_holds_only_the_tenants_rows() {
    each_db!("sb_isolation", |db| {
        db.exec(
            "CREATE TABLE sb_iso_tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(100) NOT NULL);
             CREATE TABLE sb_iso_labels (code VARCHAR(20) PRIMARY KEY, label VARCHAR(50) NOT NULL);
             INSERT INTO sb_iso_tasks VALUES (1, 1, 'one a'), (2, 1, 'one b'), (3, 2, 'two a'), (4, 2, 'two b'), (5, 2, 'two c'), (6, 3, 'three a');
             INSERT INTO sb_iso_labels VALUES ('todo', 'To do'), ('doing', 'Doing'), ('done', 'Done')",
        )
        .await;
        let sdb = ShadowDb::builder(db.prod.clone())
            .table("sb_iso_tasks")
            .reference_table("sb_iso_labels")
            .tenant(2_i64)
            .open()
            .await
            .unwrap();
        assert_eq!(
            sdb.clone_stats().tables,
            vec![
                ("sb_iso_tasks".to_owned(), 3),
                ("sb_iso_labels".to_owned(), 3)
            ]
        );
        assert_eq!(sdb.table_names(), vec!["sb_iso_tasks", "sb_iso_labels"]);
        assert_eq!(
            query_rows(&sdb, "SELECT count(*) FROM sb_iso_tasks").await,
            vec![vec![int(3)]]
        );
        assert_eq!(
            query_rows(
                &sdb,
                "SELECT count(*) FROM sb_iso_tasks WHERE user_id <> 2 OR user_id IS NULL"
            )
            .await,
            vec![vec![int(0)]]
        );
        assert_eq!(
            query_rows(&sdb, "SELECT DISTINCT user_id FROM sb_iso_tasks").await,
            vec![vec![int(2)]]
        );
        assert_eq!(
            query_rows(&sdb, "SELECT id, title FROM sb_iso_tasks ORDER BY id").await,
            vec![
                vec![int(3), text("two a")],
                vec![int(4), text("two b")],
                vec![int(5), text("two c")],
            ]
        );
        // No other tenant's text anywhere in the sandbox.
        assert_eq!(
            query_rows(
                &sdb,
                "SELECT count(*) FROM sb_iso_tasks WHERE title LIKE 'one%' OR title LIKE 'three%'"
            )
            .await,
            vec![vec![int(0)]]
        );
        assert_eq!(
            query_rows(&sdb, "SELECT count(*) FROM sb_iso_labels").await,
            vec![vec![int(3)]]
        );
        assert!(sdb.diff().unwrap().is_empty());
    });
}

// ---- 3. schema problems ---------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_missing", tenant = "user_id")]
pub struct SbSchMissing {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_nopk", tenant = "user_id")]
pub struct SbSchNoPk {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_notenant", tenant = "owner_id")]
pub struct SbSchNoTenant {
    #[safemodel(primary_key)]
    pub id: i64,
    pub owner_id: i64,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_extra", tenant = "user_id")]
pub struct SbSchExtra {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub due: Option<chrono::NaiveDate>,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_required", tenant = "user_id")]
pub struct SbSchRequired {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_type", tenant = "user_id")]
pub struct SbSchType {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: i64,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_sch_unsup", tenant = "user_id")]
pub struct SbSchUnsup {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub amount: String,
}

#[tokio::test]
async fn every_schema_problem_in_one_error() {
    each_db!("sb_schema", |db| {
        let unsupported = pick(&db, "MONEY", "money", "bit(3)");
        db.exec(&format!(
            "CREATE TABLE sb_sch_nopk (id BIGINT NOT NULL, user_id BIGINT NOT NULL);
             CREATE TABLE sb_sch_notenant (id BIGINT PRIMARY KEY, user_id BIGINT);
             CREATE TABLE sb_sch_extra (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL);
             CREATE TABLE sb_sch_required (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, code VARCHAR(10) NOT NULL);
             CREATE TABLE sb_sch_type (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title TEXT NOT NULL);
             CREATE TABLE sb_sch_unsup (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, amount {unsupported});
             CREATE TABLE sb_sch_nocontract (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL);
             CREATE TABLE sb_sch_ref (code VARCHAR(10) PRIMARY KEY, label TEXT)"
        ))
        .await;
        let err = ShadowDb::builder(db.prod.clone())
            .table("sb_sch_missing")
            .table("sb_sch_nopk")
            .table("sb_sch_notenant")
            .table("sb_sch_extra")
            .table("sb_sch_required")
            .table("sb_sch_type")
            .table("sb_sch_unsup")
            .table("sb_sch_nocontract")
            .reference_table("sb_sch_ref")
            .tenant(1_i64)
            .open()
            .await
            .unwrap_err();
        let t = |s: &str| s.to_owned();
        let declared_unsupported = pick(&db, "MONEY", "money", "bit(3)");
        let declared_text = pick(&db, "TEXT", "text", "text");
        let Error::Schema(problems) = &err else {
            panic!("{err}")
        };
        assert_eq!(
            problems,
            &vec![
                SchemaProblem::TableMissing {
                    table: t("sb_sch_missing")
                },
                SchemaProblem::NoPrimaryKey {
                    table: t("sb_sch_nopk")
                },
                SchemaProblem::TenantColumnMissing {
                    table: t("sb_sch_notenant"),
                    column: t("owner_id")
                },
                SchemaProblem::ContractColumnMissing {
                    table: t("sb_sch_extra"),
                    column: t("due")
                },
                SchemaProblem::RequiredColumnNotInContract {
                    table: t("sb_sch_required"),
                    column: t("code")
                },
                SchemaProblem::TypeMismatch {
                    table: t("sb_sch_type"),
                    column: t("title"),
                    contract: t("integer"),
                    production: t(declared_text),
                },
                SchemaProblem::UnsupportedType {
                    table: t("sb_sch_unsup"),
                    column: t("amount"),
                    declared: t(declared_unsupported),
                },
                SchemaProblem::NoContract {
                    table: t("sb_sch_nocontract")
                },
            ],
            "{err}"
        );
        // A reference table needs no contract; an uncontracted table opens
        // when allowed and given a tenant column.
        let sdb = ShadowDb::builder(db.prod.clone())
            .reference_table("sb_sch_ref")
            .table("sb_sch_nocontract")
            .tenant_column("sb_sch_nocontract", "user_id")
            .allow_uncontracted(true)
            .tenant(1_i64)
            .open()
            .await
            .unwrap();
        assert_eq!(
            sdb.clone_stats().tables,
            vec![
                ("sb_sch_ref".to_owned(), 0),
                ("sb_sch_nocontract".to_owned(), 0)
            ]
        );
    });
}

// ---- 4. the walls -----------------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_wall_tasks", tenant = "user_id")]
pub struct SbWallTask {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    #[safemodel(pii)]
    pub email: Option<String>,
}

async fn wall_db() -> TestDb {
    let db = TestDb::new(Kind::Sqlite, "sb_walls").await.unwrap();
    db.exec(
        "CREATE TABLE sb_wall_tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, email TEXT);
         CREATE TABLE sb_wall_labels (code TEXT PRIMARY KEY, label TEXT NOT NULL);
         CREATE TABLE sb_wall_secrets (id INTEGER PRIMARY KEY, secret TEXT);
         INSERT INTO sb_wall_tasks VALUES (1, 5, 'a', 'a@example.com'), (2, 5, 'b', NULL), (3, 5, 'c', 'c@example.com'), (4, 6, 'other', 'o@example.com');
         INSERT INTO sb_wall_labels VALUES ('todo', 'To do');
         INSERT INTO sb_wall_secrets VALUES (1, 'hunter2')",
    )
    .await;
    db
}

async fn open_walls(db: &TestDb, policy: Policy, limits: Limits) -> ShadowDb {
    ShadowDb::builder(db.prod.clone())
        .table("sb_wall_tasks")
        .reference_table("sb_wall_labels")
        .tenant(5_i64)
        .policy(policy)
        .limits(limits)
        .open()
        .await
        .unwrap()
}

/// Statements that must never run, with the sandbox's refusal and the
/// policy rule that blocks them first.
fn forbidden() -> Vec<(&'static str, Refusal, &'static str)> {
    vec![
        (
            "ATTACH DATABASE '/tmp/sb_evil.db' AS evil",
            Refusal::Attach,
            "attach",
        ),
        (
            "SELECT load_extension('/tmp/sb_evil')",
            Refusal::Extension,
            "forbidden_function",
        ),
        (
            "PRAGMA writable_schema = 1",
            Refusal::Pragma("writable_schema".into()),
            "pragma",
        ),
        (
            "CREATE TRIGGER sb_t AFTER INSERT ON sb_wall_tasks BEGIN DELETE FROM sb_wall_tasks; END",
            Refusal::Ddl("CREATE/DROP TRIGGER".into()),
            "create",
        ),
        (
            "DROP TABLE sb_wall_tasks",
            Refusal::Ddl("DROP".into()),
            "drop",
        ),
        (
            "CREATE TABLE sb_x (a INTEGER)",
            Refusal::Ddl("CREATE".into()),
            "create",
        ),
        (
            "CREATE INDEX sb_i ON sb_wall_tasks (title)",
            Refusal::Ddl("CREATE".into()),
            "create",
        ),
        (
            "ALTER TABLE sb_wall_tasks ADD COLUMN x INTEGER",
            Refusal::Ddl("ALTER TABLE".into()),
            "alter",
        ),
        (
            "SELECT name FROM pragma_table_info('sb_wall_tasks')",
            Refusal::OutsideScope("pragma_table_info".into()),
            "outside_scope",
        ),
        (
            "SELECT count(*) FROM dbstat",
            Refusal::OutsideScope("dbstat".into()),
            "outside_scope",
        ),
        (
            "SELECT name FROM sqlite_master",
            Refusal::OutsideScope("sqlite_master".into()),
            "outside_scope",
        ),
        (
            "SELECT count(*) FROM __base_0",
            Refusal::OutsideScope("__base_0".into()),
            "outside_scope",
        ),
        ("BEGIN", Refusal::Transaction, "transaction"),
        ("SAVEPOINT sb_s1", Refusal::Transaction, "transaction"),
        (
            "UPDATE sb_wall_labels SET label = 'x' WHERE code = 'todo'",
            Refusal::ReadOnly("sb_wall_labels".into()),
            "read_only_table",
        ),
        (
            "UPDATE sb_wall_tasks SET email = 'x@example.com' WHERE id = 1",
            Refusal::Pii("sb_wall_tasks.email".into()),
            "pii_write",
        ),
    ]
}

#[tokio::test]
async fn the_sandbox_refuses_with_its_own_variant() {
    let db = wall_db().await;
    let sdb = open_walls(&db, permissive(), Limits::default()).await;
    for (sql, refusal, _) in forbidden() {
        let err = sdb.execute(sql, &[]).await.unwrap_err();
        assert!(
            matches!(&err, Error::Refused(r) if *r == refusal),
            "{sql}: expected {refusal:?}, got {err:?}"
        );
    }
    // A production table outside the scope is simply not there.
    let err = sdb
        .query("SELECT secret FROM sb_wall_secrets", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Statement { message } if message == "no such table: sb_wall_secrets"),
        "{err:?}"
    );
    // VACUUM has no authorizer action; the script's own transaction stops it.
    // (`VACUUM INTO 'file'` does not even parse for the policy: blocked first.)
    let err = sdb.execute("VACUUM", &[]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Statement { message } if message == "cannot VACUUM from within a transaction"),
        "{err:?}"
    );
    // Nothing of it happened: same rows, no diff, still answering.
    assert_eq!(
        query_rows(&sdb, "SELECT count(*) FROM sb_wall_tasks").await,
        vec![vec![int(3)]]
    );
    assert!(sdb.diff().unwrap().is_empty());
}

#[tokio::test]
async fn the_policy_blocks_the_same_statements_first() {
    let db = wall_db().await;
    let sdb = open_walls(&db, Policy::builtin("dev").unwrap(), Limits::default()).await;
    let more = [
        ("SELECT secret FROM sb_wall_secrets", "outside_scope"),
        ("VACUUM", "vacuum"),
        ("VACUUM INTO '/tmp/sb_vacuum.db'", "parse_error"),
    ];
    for (sql, rule) in forbidden().into_iter().map(|(s, _, r)| (s, r)).chain(more) {
        let err = sdb.execute(sql, &[]).await.unwrap_err();
        assert!(
            matches!(&err, Error::Blocked { rule: r, .. } if r == rule),
            "{sql}: expected rule {rule}, got {err:?}"
        );
    }
    assert!(sdb.diff().unwrap().is_empty());
}

#[tokio::test]
async fn length_and_result_size_limits() {
    let db = wall_db().await;
    let limits = Limits {
        max_sql_bytes: 200,
        max_result_rows: 2,
        ..Limits::default()
    };
    let sdb = open_walls(&db, permissive(), limits).await;
    let long = format!(
        "SELECT id FROM sb_wall_tasks WHERE title = '{}'",
        "x".repeat(300)
    );
    let err = sdb.query(&long, &[]).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::TooLong { limit: 200 })),
        "{err:?}"
    );
    // A longer result is cut, and says so: the rows before the cut.
    let cut = sdb
        .query("SELECT id FROM sb_wall_tasks ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(cut.cut, Some(shadowdb::Cut::Rows { limit: 2 }));
    assert_eq!(cut.rows, vec![vec![int(1)], vec![int(2)]]);
    assert_eq!(
        query_rows(&sdb, "SELECT id FROM sb_wall_tasks ORDER BY id LIMIT 2").await,
        vec![vec![int(1)], vec![int(2)]]
    );
}

#[tokio::test]
async fn a_runaway_query_times_out_and_the_sandbox_stays_usable() {
    let db = wall_db().await;
    let limits = Limits {
        statement_time: Duration::from_millis(200),
        ..Limits::default()
    };
    let sdb = open_walls(&db, Policy::builtin("dev").unwrap(), limits).await;
    let started = Instant::now();
    let err = sdb
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
            &[],
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { limit_ms: 200 }), "{err:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(
        query_rows(&sdb, "SELECT count(*) FROM sb_wall_tasks").await,
        vec![vec![int(3)]]
    );
    // A write interrupted half-way leaves nothing behind.
    let err = sdb
        .execute(
            "UPDATE sb_wall_tasks SET title = 'slow' WHERE id IN (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c)",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { limit_ms: 200 }), "{err:?}");
    assert!(sdb.diff().unwrap().is_empty());
    run(&sdb, "UPDATE sb_wall_tasks SET title = 'fast' WHERE id = 1").await;
    assert_eq!(sdb.diff().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_script_leaves_the_sandbox_unchanged() {
    let db = wall_db().await;
    let sdb = open_walls(&db, permissive(), Limits::default()).await;
    // The second statement breaks the primary key.
    let err = sdb
        .execute(
            "UPDATE sb_wall_tasks SET title = 'changed' WHERE id = 1; INSERT INTO sb_wall_tasks (id, title) VALUES (2, 'dup')",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Statement { message } if message.contains("UNIQUE constraint failed")),
        "{err:?}"
    );
    // The second statement is refused by a wall.
    let err = sdb
        .execute(
            "DELETE FROM sb_wall_tasks WHERE id = 3; DROP TABLE sb_wall_labels",
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused(Refusal::Ddl(_))), "{err:?}");
    assert_eq!(
        query_rows(&sdb, "SELECT id, title FROM sb_wall_tasks ORDER BY id").await,
        vec![
            vec![int(1), text("a")],
            vec![int(2), text("b")],
            vec![int(3), text("c")]
        ]
    );
    assert!(sdb.diff().unwrap().is_empty());
    // Bound parameters work, and a good script applies as a whole.
    let results = sdb
        .execute(
            "UPDATE sb_wall_tasks SET title = ? WHERE id = ?",
            &[text("bound"), int(2)],
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].rows_affected, 1);
    assert_eq!(
        query_rows(&sdb, "SELECT title FROM sb_wall_tasks WHERE id = 2").await,
        vec![vec![text("bound")]]
    );
}

// ---- 5. the diff -------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, SafeEnum)]
#[safemodel(rename_all = "snake_case")]
pub enum SbDiffStatus {
    Todo,
    Done,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_diff_tasks", tenant = "user_id")]
pub struct SbDiffTask {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    #[validate(length(min = 1, max = 50))]
    pub title: String,
    pub status: SbDiffStatus,
    #[validate(range(min = 0, max = 5))]
    pub priority: i32,
    #[safemodel(pii)]
    pub email: Option<String>,
}

async fn diff_setup(db: &TestDb) {
    db.exec(
        "CREATE TABLE sb_diff_tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(100) NOT NULL, status VARCHAR(20) NOT NULL, priority INT NOT NULL, email VARCHAR(100));
         INSERT INTO sb_diff_tasks VALUES (1, 7, 'one', 'todo', 1, 'one@example.com'), (2, 7, 'two', 'todo', 2, NULL), (3, 7, 'three', 'todo', 3, 'three@example.com'), (4, 7, 'four', 'done', 4, NULL), (5, 7, 'five', 'todo', 5, 'five@example.com'), (6, 8, 'other', 'todo', 1, 'other@example.com')",
    )
    .await;
}

fn task_row(id: i64, title: &str, status: &str, priority: i64) -> Vec<(String, Value)> {
    vec![
        ("id".to_owned(), int(id)),
        ("user_id".to_owned(), int(7)),
        ("title".to_owned(), text(title)),
        ("status".to_owned(), text(status)),
        ("priority".to_owned(), int(priority)),
    ]
}

fn row_pairs(row: Option<&safemodel::Row>) -> Vec<(String, Value)> {
    row.map(|r| r.iter().map(|(c, v)| (c.to_owned(), v.clone())).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn diff_inserts_updates_deletes_key_changes_and_violations() {
    each_db!("sb_diff", |db| {
        diff_setup(&db).await;
        let sdb = open_table(&db.prod, "sb_diff_tasks", 7_i64).await;
        run(
            &sdb,
            "UPDATE sb_diff_tasks SET status = 'done' WHERE id = 2;
             UPDATE sb_diff_tasks SET priority = 9 WHERE id = 3;
             DELETE FROM sb_diff_tasks WHERE id = 4;
             UPDATE sb_diff_tasks SET id = 20 WHERE id = 5;
             INSERT INTO sb_diff_tasks (id, title, status, priority) VALUES (11, '', 'todo', 1);
             INSERT INTO sb_diff_tasks (id, title, status, priority) VALUES (10, 'ten', 'todo', 0);
             UPDATE sb_diff_tasks SET title = 'one' WHERE id = 1",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let got: Vec<(Op, Key, Vec<String>)> = cs
            .changes()
            .iter()
            .map(|c| (c.op, c.key.clone(), c.changed.clone()))
            .collect();
        let all = || {
            vec![
                "id".to_owned(),
                "user_id".to_owned(),
                "title".to_owned(),
                "status".to_owned(),
                "priority".to_owned(),
            ]
        };
        assert_eq!(
            got,
            vec![
                (
                    Op::Update,
                    key(&[("id", int(2))]),
                    vec!["status".to_owned()]
                ),
                (
                    Op::Update,
                    key(&[("id", int(3))]),
                    vec!["priority".to_owned()]
                ),
                (Op::Delete, key(&[("id", int(4))]), vec![]),
                (Op::Delete, key(&[("id", int(5))]), vec![]),
                (Op::Insert, key(&[("id", int(10))]), all()),
                (Op::Insert, key(&[("id", int(11))]), all()),
                (Op::Insert, key(&[("id", int(20))]), all()),
            ]
        );
        let c = cs.changes();
        assert_eq!(row_pairs(c[0].old.as_ref()), task_row(2, "two", "todo", 2));
        assert_eq!(row_pairs(c[0].new.as_ref()), task_row(2, "two", "done", 2));
        assert_eq!(row_pairs(c[2].old.as_ref()), task_row(4, "four", "done", 4));
        assert!(c[2].new.is_none());
        assert_eq!(row_pairs(c[3].old.as_ref()), task_row(5, "five", "todo", 5));
        assert!(c[4].old.is_none());
        assert_eq!(row_pairs(c[4].new.as_ref()), task_row(10, "ten", "todo", 0));
        assert_eq!(
            row_pairs(c[6].new.as_ref()),
            task_row(20, "five", "todo", 5)
        );
        // Validation: each new or changed row through its contract.
        let violations: Vec<Vec<Violation>> = c.iter().map(|c| c.violations.clone()).collect();
        assert_eq!(
            violations,
            vec![
                vec![],
                vec![Violation::new(
                    "priority",
                    Rule::Range,
                    "must be between 0 and 5"
                )],
                vec![],
                vec![],
                vec![],
                vec![Violation::new(
                    "title",
                    Rule::Length,
                    "length must be between 1 and 50"
                )],
                vec![],
            ]
        );
        assert!(!cs.is_valid());
        assert_eq!(
            cs.summary().into_iter().collect::<Vec<_>>(),
            vec![(
                "sb_diff_tasks".to_owned(),
                Counts {
                    insert: 3,
                    update: 2,
                    delete: 2
                }
            )]
        );
        // Deterministic: the same changeset every time.
        assert_eq!(sdb.diff().unwrap(), cs);
        // Nothing reached production.
        assert_eq!(
            db.rows("SELECT count(*) FROM sb_diff_tasks").await,
            vec![vec!["6"]]
        );
    });
}

#[tokio::test]
async fn pii_is_never_cloned_and_stays_untouched() {
    each_db!("sb_pii", |db| {
        diff_setup(&db).await;
        let mut sdb = open_table(&db.prod, "sb_diff_tasks", 7_i64).await;
        assert_eq!(
            query_rows(
                &sdb,
                "SELECT count(*) FROM sb_diff_tasks WHERE email IS NOT NULL"
            )
            .await,
            vec![vec![int(0)]]
        );
        assert_eq!(
            sdb.pii_columns(),
            vec![("sb_diff_tasks".to_owned(), "email".to_owned())]
        );
        run(
            &sdb,
            "UPDATE sb_diff_tasks SET title = 'first' WHERE id = 1",
        )
        .await;
        run(
            &sdb,
            "INSERT INTO sb_diff_tasks (id, title, status, priority) VALUES (12, 'twelve', 'todo', 2)",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert_eq!(cs.len(), 2);
        assert_eq!(cs.changes()[0].changed, vec!["title".to_owned()]);
        assert!(
            cs.changes()
                .iter()
                .all(|c| c.new.as_ref().is_some_and(|r| r.get("email").is_none()))
        );
        assert!(cs.is_valid(), "{cs:?}");
        sdb.commit(&cs).await.unwrap();
        assert_eq!(
            db.rows("SELECT id, title, email FROM sb_diff_tasks ORDER BY id")
                .await,
            vec![
                vec!["1", "first", "one@example.com"],
                vec!["2", "two", "NULL"],
                vec!["3", "three", "three@example.com"],
                vec!["4", "four", "NULL"],
                vec!["5", "five", "five@example.com"],
                vec!["6", "other", "other@example.com"],
                vec!["12", "twelve", "NULL"],
            ]
        );
    });
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_members", tenant = "org_id")]
pub struct SbMember {
    #[safemodel(primary_key)]
    pub org_id: i64,
    #[safemodel(primary_key)]
    pub member: String,
    pub role: String,
}

#[tokio::test]
async fn composite_keys() {
    each_db!("sb_composite", |db| {
        db.exec(
            "CREATE TABLE sb_members (org_id BIGINT NOT NULL, member VARCHAR(50) NOT NULL, role VARCHAR(20) NOT NULL, PRIMARY KEY (org_id, member));
             INSERT INTO sb_members VALUES (1, 'ann', 'admin'), (1, 'bob', 'dev'), (1, 'cy', 'dev'), (2, 'ann', 'dev')",
        )
        .await;
        let mut sdb = open_table(&db.prod, "sb_members", 1_i64).await;
        run(
            &sdb,
            "UPDATE sb_members SET role = 'lead' WHERE member = 'cy';
             DELETE FROM sb_members WHERE member = 'bob';
             INSERT INTO sb_members (member, role) VALUES ('abe', 'dev');
             UPDATE sb_members SET member = 'anna' WHERE member = 'ann'",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let got = changed_keys(&cs);
        let all = || vec!["org_id".to_owned(), "member".to_owned(), "role".to_owned()];
        assert_eq!(
            got,
            vec![
                (Op::Insert, "org_id=1,member=\"abe\"".to_owned(), all()),
                (Op::Delete, "org_id=1,member=\"ann\"".to_owned(), vec![]),
                (Op::Insert, "org_id=1,member=\"anna\"".to_owned(), all()),
                (Op::Delete, "org_id=1,member=\"bob\"".to_owned(), vec![]),
                (
                    Op::Update,
                    "org_id=1,member=\"cy\"".to_owned(),
                    vec!["role".to_owned()]
                ),
            ]
        );
        assert!(cs.is_valid(), "{cs:?}");
        sdb.commit(&cs).await.unwrap();
        assert_eq!(
            db.rows("SELECT org_id, member, role FROM sb_members ORDER BY org_id, member")
                .await,
            vec![
                vec!["1", "abe", "dev"],
                vec!["1", "anna", "admin"],
                vec!["1", "cy", "lead"],
                vec!["2", "ann", "dev"],
            ]
        );
    });
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_gen_notes", tenant = "user_id")]
pub struct SbGenNote {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub body: String,
}

/// The documented first provisional key of a 64-bit generated key.
const PROVISIONAL_BASE_I64: i64 = 1 << 62;

#[tokio::test]
async fn generated_keys_are_provisional_then_real() {
    each_db!("sb_generated", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE sb_gen_notes (id INTEGER PRIMARY KEY, user_id BIGINT NOT NULL, body TEXT NOT NULL)",
            "CREATE TABLE sb_gen_notes (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL, body TEXT NOT NULL)",
            "CREATE TABLE sb_gen_notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT NOT NULL, body TEXT NOT NULL)",
        ))
        .await;
        db.exec(
            "INSERT INTO sb_gen_notes (user_id, body) VALUES (7, 'a');
             INSERT INTO sb_gen_notes (user_id, body) VALUES (7, 'b');
             INSERT INTO sb_gen_notes (user_id, body) VALUES (8, 'c')",
        )
        .await;
        let mut sdb = open_table(&db.prod, "sb_gen_notes", 7_i64).await;
        run(&sdb, "INSERT INTO sb_gen_notes (body) VALUES ('new one')").await;
        run(&sdb, "INSERT INTO sb_gen_notes (body) VALUES ('new two')").await;
        let got = query_rows(&sdb, "SELECT id, user_id FROM sb_gen_notes ORDER BY id").await;
        let p1 = PROVISIONAL_BASE_I64 + 1;
        let p2 = PROVISIONAL_BASE_I64 + 2;
        assert_eq!(
            got,
            vec![
                vec![int(1), int(7)],
                vec![int(2), int(7)],
                vec![int(p1), int(7)],
                vec![int(p2), int(7)],
            ]
        );
        let cs = sdb.diff().unwrap();
        let keys: Vec<(Op, Key)> = cs.changes().iter().map(|c| (c.op, c.key.clone())).collect();
        assert_eq!(
            keys,
            vec![
                (Op::Insert, key(&[("id", int(p1))])),
                (Op::Insert, key(&[("id", int(p2))]))
            ]
        );
        assert!(cs.is_valid(), "{cs:?}");
        let report = sdb.commit(&cs).await.unwrap();
        assert_eq!(
            report.generated_keys,
            vec![
                GeneratedKey {
                    table: "sb_gen_notes".into(),
                    column: "id".into(),
                    provisional: p1,
                    assigned: 4
                },
                GeneratedKey {
                    table: "sb_gen_notes".into(),
                    column: "id".into(),
                    provisional: p2,
                    assigned: 5
                },
            ]
        );
        assert_eq!(
            db.rows("SELECT id, user_id, body FROM sb_gen_notes ORDER BY id")
                .await,
            vec![
                vec!["1", "7", "a"],
                vec!["2", "7", "b"],
                vec!["3", "8", "c"],
                vec!["4", "7", "new one"],
                vec!["5", "7", "new two"],
            ]
        );
    });
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_fk_projects", tenant = "user_id")]
pub struct SbFkProject {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub name: String,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_fk_items", tenant = "user_id")]
pub struct SbFkItem {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub project_id: i64,
}

#[tokio::test]
async fn foreign_keys_between_scoped_tables_hold_in_the_sandbox() {
    each_db!("sb_fk", |db| {
        db.exec(
            "CREATE TABLE sb_fk_projects (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, name VARCHAR(50) NOT NULL);
             CREATE TABLE sb_fk_items (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, project_id BIGINT NOT NULL, FOREIGN KEY (project_id) REFERENCES sb_fk_projects (id));
             INSERT INTO sb_fk_projects VALUES (1, 7, 'mine'), (2, 8, 'theirs');
             INSERT INTO sb_fk_items VALUES (1, 7, 1), (2, 8, 2)",
        )
        .await;
        let sdb = ShadowDb::builder(db.prod.clone())
            .table("sb_fk_projects")
            .table("sb_fk_items")
            .tenant(7_i64)
            .open()
            .await
            .unwrap();
        for sql in [
            // No such project.
            "INSERT INTO sb_fk_items (id, project_id) VALUES (10, 999)",
            // Another tenant's project: not in the sandbox, so no parent.
            "INSERT INTO sb_fk_items (id, project_id) VALUES (11, 2)",
            // The parent still has a child.
            "DELETE FROM sb_fk_projects WHERE id = 1",
        ] {
            let err = sdb.execute(sql, &[]).await.unwrap_err();
            assert!(
                matches!(&err, Error::Statement { message } if message.contains("FOREIGN KEY constraint failed")),
                "{sql}: {err:?}"
            );
        }
        run(
            &sdb,
            "INSERT INTO sb_fk_projects (id, name) VALUES (3, 'new'); INSERT INTO sb_fk_items (id, project_id) VALUES (12, 3)",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert_eq!(cs.len(), 2);
        assert!(cs.is_valid(), "{cs:?}");
    });
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "app.sb_q_tasks", tenant = "user_id")]
pub struct SbQualifiedTask {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
}

#[tokio::test]
async fn schema_qualified_table_on_postgres() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "sb_qualified",
        "CREATE SCHEMA app;
         CREATE TABLE app.sb_q_tasks (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL);
         CREATE TABLE public.sb_q_tasks (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL);
         INSERT INTO app.sb_q_tasks VALUES (1, 7, 'app one'), (2, 7, 'app two'), (3, 8, 'app other');
         INSERT INTO public.sb_q_tasks VALUES (1, 7, 'public one')",
    )
    .await
    else {
        return;
    };
    let mut sdb = open_table(&db.prod, "app.sb_q_tasks", 7_i64).await;
    assert_eq!(
        sdb.clone_stats().tables,
        vec![("app.sb_q_tasks".to_owned(), 2)]
    );
    assert_eq!(
        query_rows(&sdb, "SELECT id, title FROM sb_q_tasks ORDER BY id").await,
        vec![vec![int(1), text("app one")], vec![int(2), text("app two")]]
    );
    run(&sdb, "UPDATE sb_q_tasks SET title = 'changed' WHERE id = 2").await;
    let cs = sdb.diff().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs.changes()[0].table, "app.sb_q_tasks");
    sdb.commit(&cs).await.unwrap();
    assert_eq!(
        db.rows("SELECT id, title FROM app.sb_q_tasks ORDER BY id")
            .await,
        vec![
            vec!["1", "app one"],
            vec!["2", "changed"],
            vec!["3", "app other"]
        ]
    );
    assert_eq!(
        db.rows("SELECT id, title FROM public.sb_q_tasks").await,
        vec![vec!["1", "public one"]]
    );
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "SbMixedTasks", tenant = "UserId")]
pub struct SbMixedTask {
    #[safemodel(primary_key, rename = "Id")]
    pub id: i64,
    #[safemodel(rename = "UserId")]
    pub user_id: i64,
    #[safemodel(rename = "Title")]
    pub title: String,
}

#[tokio::test]
async fn mixed_case_names() {
    each_db!("sb_mixed", |db| {
        db.exec(pick(
            &db,
            r#"CREATE TABLE "SbMixedTasks" ("Id" BIGINT PRIMARY KEY, "UserId" BIGINT NOT NULL, "Title" TEXT NOT NULL);
               INSERT INTO "SbMixedTasks" VALUES (1, 7, 'one'), (2, 8, 'two')"#,
            r#"CREATE TABLE "SbMixedTasks" ("Id" bigint PRIMARY KEY, "UserId" bigint NOT NULL, "Title" text NOT NULL);
               INSERT INTO "SbMixedTasks" VALUES (1, 7, 'one'), (2, 8, 'two')"#,
            "CREATE TABLE `SbMixedTasks` (`Id` BIGINT PRIMARY KEY, `UserId` BIGINT NOT NULL, `Title` TEXT NOT NULL);
             INSERT INTO `SbMixedTasks` VALUES (1, 7, 'one'), (2, 8, 'two')",
        ))
        .await;
        let mut sdb = open_table(&db.prod, "SbMixedTasks", 7_i64).await;
        assert_eq!(
            sdb.clone_stats().tables,
            vec![("SbMixedTasks".to_owned(), 1)]
        );
        run(&sdb, "UPDATE SbMixedTasks SET Title = 'ONE' WHERE Id = 1").await;
        run(
            &sdb,
            "INSERT INTO \"SbMixedTasks\" (\"Id\", \"Title\") VALUES (3, 'three')",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let got = changed_keys(&cs);
        assert_eq!(
            got,
            vec![
                (Op::Update, "Id=1".to_owned(), vec!["Title".to_owned()]),
                (
                    Op::Insert,
                    "Id=3".to_owned(),
                    vec!["Id".to_owned(), "UserId".to_owned(), "Title".to_owned()]
                ),
            ]
        );
        sdb.commit(&cs).await.unwrap();
        let sql = pick(
            &db,
            r#"SELECT "Id", "UserId", "Title" FROM "SbMixedTasks" ORDER BY "Id""#,
            r#"SELECT "Id", "UserId", "Title" FROM "SbMixedTasks" ORDER BY "Id""#,
            "SELECT `Id`, `UserId`, `Title` FROM `SbMixedTasks` ORDER BY `Id`",
        );
        assert_eq!(
            db.rows(sql).await,
            vec![
                vec!["1", "7", "ONE"],
                vec!["2", "8", "two"],
                vec!["3", "7", "three"]
            ]
        );
    });
}

#[tokio::test]
async fn a_table_without_primary_key_opened_with_a_row_key() {
    each_db!("sb_rowkey", |db| {
        db.exec(
            "CREATE TABLE sb_stock (sku VARCHAR(20) NOT NULL UNIQUE, user_id BIGINT NOT NULL, qty INT NOT NULL);
             INSERT INTO sb_stock VALUES ('a', 7, 1), ('b', 7, 2), ('c', 8, 3)",
        )
        .await;
        let err = crate::common::uncontracted(&db.prod, &["sb_stock"], "user_id", 7_i64)
            .open()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Schema(p) if *p == vec![SchemaProblem::NoPrimaryKey { table: "sb_stock".into() }]),
            "{err:?}"
        );
        let mut sdb = crate::common::uncontracted(&db.prod, &["sb_stock"], "user_id", 7_i64)
            .row_key("sb_stock", &["sku"])
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "UPDATE sb_stock SET qty = 10 WHERE sku = 'a'; DELETE FROM sb_stock WHERE sku = 'b'; INSERT INTO sb_stock (sku, qty) VALUES ('z', 26)",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let got: Vec<(Op, String)> = cs
            .changes()
            .iter()
            .map(|c| (c.op, c.key.render()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Op::Update, "sku=\"a\"".to_owned()),
                (Op::Delete, "sku=\"b\"".to_owned()),
                (Op::Insert, "sku=\"z\"".to_owned()),
            ]
        );
        sdb.commit(&cs).await.unwrap();
        assert_eq!(
            db.rows("SELECT sku, user_id, qty FROM sb_stock ORDER BY sku")
                .await,
            vec![
                vec!["a", "7", "10"],
                vec!["c", "8", "3"],
                vec!["z", "7", "26"]
            ]
        );
    });
}

// ---- 6. size -------------------------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_big", tenant = "user_id")]
pub struct SbBig {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub n: i64,
}

#[tokio::test]
async fn clone_200k_rows_and_diff_10_percent() {
    let db = TestDb::new(Kind::Sqlite, "sb_big").await.unwrap();
    db.exec(
        "CREATE TABLE sb_big (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, n INTEGER NOT NULL);
         INSERT INTO sb_big (id, user_id, title, n) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT x, 1, 'row ' || x, x FROM c;
         INSERT INTO sb_big (id, user_id, title, n) WITH RECURSIVE c(x) AS (SELECT 200001 UNION ALL SELECT x + 1 FROM c WHERE x < 201000) SELECT x, 2, 'other ' || x, x FROM c",
    )
    .await;
    let started = Instant::now();
    let sdb = ShadowDb::builder(db.prod.clone())
        .table("sb_big")
        .tenant(1_i64)
        .limits(Limits {
            statement_time: Duration::from_secs(60),
            session_statement_time: Duration::from_secs(600),
            ..Limits::default()
        })
        .open()
        .await
        .unwrap();
    let opened = started.elapsed();
    assert_eq!(
        sdb.clone_stats().tables,
        vec![("sb_big".to_owned(), 200_000)]
    );
    let done = run(&sdb, "UPDATE sb_big SET n = n + 1 WHERE id % 10 = 0").await;
    assert_eq!(done[0].rows_affected, 20_000);
    let started = Instant::now();
    let cs = sdb.diff().unwrap();
    let diffed = started.elapsed();
    eprintln!("200,000 rows: open {opened:?}, diff of 20,000 updates {diffed:?}");
    assert_eq!(cs.len(), 20_000);
    assert_eq!(
        cs.totals(),
        Counts {
            insert: 0,
            update: 20_000,
            delete: 0
        }
    );
    assert!(cs.changes().iter().all(|c| c.changed == ["n"]));
    let first = &cs.changes()[0];
    assert_eq!(first.key, key(&[("id", int(10))]));
    assert_eq!(first.new.as_ref().and_then(|r| r.get("n")), Some(&int(11)));
    assert_eq!(cs.changes()[19_999].key, key(&[("id", int(200_000))]));
    assert!(cs.is_valid());
}

#[tokio::test]
async fn ordinary_agent_sql_passes_the_walls() {
    let db = wall_db().await;
    let sdb = open_walls(&db, Policy::builtin("dev").unwrap(), Limits::default()).await;
    for (sql, want) in [
        (
            "WITH mine AS (SELECT id, title FROM sb_wall_tasks) SELECT count(*) FROM mine",
            vec![vec![int(3)]],
        ),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT sum(x) FROM c",
            vec![vec![int(15)]],
        ),
        (
            "SELECT count(*) FROM (SELECT id FROM sb_wall_tasks WHERE id > 1)",
            vec![vec![int(2)]],
        ),
        (
            "SELECT json_extract('[1, 2]', '$[1]'), '{\"a\":[3]}' ->> '$.a[0]'",
            vec![vec![int(2), int(3)]],
        ),
        (
            "SELECT id, row_number() OVER (ORDER BY id DESC) FROM sb_wall_tasks WHERE id < 3 ORDER BY id",
            vec![vec![int(1), int(2)], vec![int(2), int(1)]],
        ),
        (
            "SELECT t.title, l.label FROM sb_wall_tasks t JOIN sb_wall_labels l ON l.code = 'todo' WHERE t.id = 1",
            vec![vec![text("a"), text("To do")]],
        ),
        // PII is readable, and NULL: it was never cloned.
        (
            "SELECT email FROM sb_wall_tasks ORDER BY id",
            vec![vec![Value::Null]; 3],
        ),
    ] {
        assert_eq!(query_rows(&sdb, sql).await, want, "{sql}");
    }
    let done = run(
        &sdb,
        "UPDATE sb_wall_tasks SET title = upper(title) WHERE id IN (SELECT id FROM sb_wall_tasks WHERE id < 3)",
    )
    .await;
    assert_eq!(done[0].rows_affected, 2);
    let result = sdb
        .query(
            "SELECT id, title FROM sb_wall_tasks WHERE id < 3 ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        result.to_json(),
        serde_json::json!([{"id": 1, "title": "A"}, {"id": 2, "title": "B"}])
    );
    assert_eq!(
        sdb.diff().unwrap().totals(),
        Counts {
            insert: 0,
            update: 2,
            delete: 0
        }
    );
}

#[tokio::test]
async fn what_the_sandbox_cannot_enforce_is_on_the_changeset() {
    let db = TestDb::new(Kind::Sqlite, "sb_not_enforced").await.unwrap();
    db.exec(
        "CREATE TABLE sb_iso_tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL CHECK (length(title) < 90));
         INSERT INTO sb_iso_tasks VALUES (1, 1, 'a')",
    )
    .await;
    let shadowdb::prod::Production::Sqlite(pool) = &db.prod else {
        unreachable!()
    };
    crate::common::direct(
        pool,
        "CREATE TRIGGER sb_audit AFTER UPDATE ON sb_iso_tasks BEGIN SELECT 1; END",
    )
    .await;
    let sdb = open_table(&db.prod, "sb_iso_tasks", 1_i64).await;
    run(&sdb, "UPDATE sb_iso_tasks SET title = 'b' WHERE id = 1").await;
    let cs = sdb.diff().unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(
        cs.not_enforced,
        vec![
            "sb_iso_tasks: CHECK (length(title) < 90)",
            "sb_iso_tasks: trigger sb_audit"
        ]
    );
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sb_gen_ident", tenant = "user_id")]
pub struct SbGenIdent {
    #[safemodel(primary_key)]
    pub id: i32,
    pub user_id: i64,
    pub body: String,
}

/// The documented first provisional key of a 32-bit generated key.
const PROVISIONAL_BASE_I32: i64 = 2_000_000_000;

#[tokio::test]
async fn identity_columns_on_postgres_get_32_bit_provisional_keys() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "sb_identity",
        "CREATE TABLE sb_gen_ident (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint NOT NULL, body text NOT NULL);
         INSERT INTO sb_gen_ident (user_id, body) VALUES (7, 'a'), (8, 'b')",
    )
    .await
    else {
        return;
    };
    let mut sdb = open_table(&db.prod, "sb_gen_ident", 7_i64).await;
    run(&sdb, "INSERT INTO sb_gen_ident (body) VALUES ('new')").await;
    let p = PROVISIONAL_BASE_I32 + 1;
    assert_eq!(
        query_rows(&sdb, "SELECT id, body FROM sb_gen_ident ORDER BY id").await,
        vec![vec![int(1), text("a")], vec![int(p), text("new")]]
    );
    let report = commit_valid(&mut sdb).await;
    assert_eq!(
        report.generated_keys,
        vec![GeneratedKey {
            table: "sb_gen_ident".into(),
            column: "id".into(),
            provisional: p,
            assigned: 3,
        }]
    );
    assert_eq!(
        db.rows("SELECT id, user_id, body FROM sb_gen_ident ORDER BY id")
            .await,
        vec![
            vec!["1", "7", "a"],
            vec!["2", "8", "b"],
            vec!["3", "7", "new"]
        ]
    );
}
