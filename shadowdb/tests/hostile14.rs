//! Hostile tests of issue 14's effect rule: a delete of every row of a table
//! that the per-statement rule misses, because it took more than one
//! statement (two DELETEs of half the rows each, a decoy row inserted before
//! a DELETE of every other row), is caught at review on the changeset,
//! against the rows each table held when the sandbox was cloned, and
//! production keeps its rows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod testdb;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use shadowdb::audit::MemorySink;
use shadowdb::policy::{Decision, Policy};
use shadowdb::{Error, ShadowDb};
use sqlx::Connection as _;

/// A SQLite production database in a file of its own; removed on drop.
struct Prod {
    url: String,
    path: PathBuf,
}

impl Drop for Prod {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

const TASKS: &str = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
                     title TEXT NOT NULL, status TEXT NOT NULL)";

/// Tenant 42 has tasks 1, 2 and 3; tenant 99 has task 4 only.
const ROWS: &str = "INSERT INTO tasks VALUES (1, 42, 'a', 'todo'), (2, 42, 'b', 'todo'), \
                    (3, 42, 'c', 'todo'), (4, 99, 'd', 'todo')";

const BEFORE: &[&str] = &["1|42|a|todo", "2|42|b|todo", "3|42|c|todo", "4|99|d|todo"];

impl Prod {
    async fn new(test: &str, script: &[&str]) -> Prod {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sdb_hostile14_{test}_{}_{}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let prod = Prod {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            path,
        };
        let mut c = sqlx::SqliteConnection::connect(&prod.url).await.unwrap();
        for sql in script {
            sqlx::raw_sql(sqlx::AssertSqlSafe((*sql).to_owned()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        c.close().await.unwrap();
        prod
    }

    async fn tasks() -> Prod {
        Prod::new("tasks", &[TASKS, ROWS]).await
    }

    /// Production's tasks as `id|user_id|title|status`, read on a connection of its own.
    async fn rows(&self) -> Vec<String> {
        let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
        let rows: Vec<(i64, i64, String, String)> =
            sqlx::query_as("SELECT id, user_id, title, status FROM tasks ORDER BY id")
                .fetch_all(&mut c)
                .await
                .unwrap();
        c.close().await.unwrap();
        rows.into_iter()
            .map(|(a, b, c, d)| format!("{a}|{b}|{c}|{d}"))
            .collect()
    }

    async fn open(&self, tenant: i64, policy: Policy, sink: &Arc<MemorySink>) -> ShadowDb {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .unwrap();
        ShadowDb::builder(pool)
            .table("tasks")
            .tenant(tenant)
            .allow_uncontracted(true)
            .tenant_column("tasks", "user_id")
            .policy(policy)
            .audit_sink(Arc::clone(sink) as Arc<dyn shadowdb::audit::AuditSink>)
            .open()
            .await
            .unwrap()
    }
}

fn dev() -> Policy {
    Policy::builtin("dev").unwrap()
}

const REASON_DELETE: &str = "delete_without_where: the changes remove every one of the 3 rows \
                             `tasks` held in the sandbox: a write without a real WHERE, over \
                             however many statements";
/// Runs `script` statement by statement (each one passes the per-statement
/// rules), then commits: the commit must be refused with `reason`, and
/// production keeps every row.
async fn split_write_is_blocked(script: &[&str], reason: &str) {
    let prod = Prod::tasks().await;
    let sink = Arc::new(MemorySink::new());
    let mut sdb = prod.open(42, dev(), &sink).await;
    for sql in script {
        sdb.execute(sql, &[]).await.unwrap();
    }
    let changes = sdb.diff().unwrap();
    let err = sdb.commit(&changes).await.unwrap_err();
    match &err {
        Error::PolicyBlocked(reasons) => assert_eq!(reasons, &[reason.to_owned()], "{script:?}"),
        other => panic!("{script:?}: not blocked: {other:?}"),
    }
    assert_eq!(prod.rows().await, BEFORE, "{script:?}");
}

#[tokio::test]
async fn a_whole_table_delete_split_in_two_is_blocked_at_review() {
    split_write_is_blocked(
        &[
            "DELETE FROM tasks WHERE id <= 2",
            "DELETE FROM tasks WHERE id = 3",
        ],
        REASON_DELETE,
    )
    .await;
    // One script of two statements: the same.
    split_write_is_blocked(
        &["DELETE FROM tasks WHERE id = 1; DELETE FROM tasks WHERE id = 2; DELETE FROM tasks WHERE id = 3;"],
        REASON_DELETE,
    )
    .await;
}

/// A decoy row inserted first, so that one statement can leave it and not
/// change "every row": the statement is judged against the rows that were
/// cloned, and blocked; nothing is left in the sandbox or production.
#[tokio::test]
async fn a_decoy_insert_before_a_write_of_every_other_row_is_blocked() {
    for (write, reason) in [
        (
            "DELETE FROM tasks WHERE id <> 10",
            "blocked by policy rule `delete_without_where`: DELETE from `tasks` removed 3 of \
             its 4 rows in the sandbox, as many as the 3 it holds that were cloned: a write \
             without a real WHERE, whatever the WHERE says and whatever rows were inserted first",
        ),
        (
            "UPDATE tasks SET status = 'x' WHERE id <> 10",
            "blocked by policy rule `update_without_where`: UPDATE of `tasks` changed 3 of \
             its 4 rows in the sandbox, as many as the 3 it holds that were cloned: a write \
             without a real WHERE, whatever the WHERE says and whatever rows were inserted first",
        ),
        (
            "INSERT INTO tasks (id, title, status) VALUES (11, 'decoy', 'todo');\n\
             UPDATE tasks SET status = 'x' WHERE id <> 10",
            "blocked by policy rule `update_without_where`: UPDATE of `tasks` changed 4 of \
             its 5 rows in the sandbox, as many as the 3 it holds that were cloned: a write \
             without a real WHERE, whatever the WHERE says and whatever rows were inserted first",
        ),
    ] {
        let prod = Prod::tasks().await;
        let sink = Arc::new(MemorySink::new());
        let sdb = prod.open(42, dev(), &sink).await;
        sdb.execute(
            "INSERT INTO tasks (id, title, status) VALUES (10, 'decoy', 'todo')",
            &[],
        )
        .await
        .unwrap();
        let err = sdb.execute(write, &[]).await.unwrap_err();
        assert!(matches!(err, Error::Blocked { .. }), "{write}: {err:?}");
        assert_eq!(err.to_string(), reason, "{write}");
        let changes = sdb.diff().unwrap();
        assert_eq!(changes.len(), 1, "{write}: only the decoy is left");
        assert_eq!(
            changes.changes()[0].op,
            shadowdb::diff::Op::Insert,
            "{write}"
        );
        assert_eq!(prod.rows().await, BEFORE, "{write}");
    }
}

/// Not every row: the rule leaves it alone. A tenant of one row may delete
/// it; an update to a row's own value changes nothing and is no write; a mix
/// of deletes and updates that touches every row is an edit, and so are
/// updates of every row by several statements.
#[tokio::test]
async fn less_than_every_row_still_commits() {
    let prod = Prod::tasks().await;
    let sink = Arc::new(MemorySink::new());
    let mut sdb = prod.open(42, dev(), &sink).await;
    sdb.execute("DELETE FROM tasks WHERE id = 1", &[])
        .await
        .unwrap();
    sdb.execute("UPDATE tasks SET status = status WHERE id = 3", &[])
        .await
        .unwrap();
    sdb.execute("UPDATE tasks SET status = 'done' WHERE id = 2", &[])
        .await
        .unwrap();
    sdb.execute("UPDATE tasks SET status = 'done' WHERE id = 3", &[])
        .await
        .unwrap();
    let changes = sdb.diff().unwrap();
    sdb.commit(&changes).await.unwrap();
    assert_eq!(
        prod.rows().await,
        ["2|42|b|done", "3|42|c|done", "4|99|d|todo"]
    );

    let mut one = prod.open(99, dev(), &sink).await;
    one.execute("DELETE FROM tasks WHERE id = 4", &[])
        .await
        .unwrap();
    let changes = one.diff().unwrap();
    one.commit(&changes).await.unwrap();
    assert_eq!(prod.rows().await, ["2|42|b|done", "3|42|c|done"]);
}

/// A profile that sets the rule to `require_approval` makes the split write
/// ask for approval instead.
#[tokio::test]
async fn the_profile_decision_applies_to_split_writes() {
    let prod = Prod::tasks().await;
    let sink = Arc::new(MemorySink::new());
    let mut policy = dev();
    policy
        .set_rule("delete_without_where", Decision::RequireApproval)
        .unwrap();
    let mut sdb = prod.open(42, policy, &sink).await;
    sdb.execute(
        "DELETE FROM tasks WHERE id = 1; DELETE FROM tasks WHERE id = 2; DELETE FROM tasks WHERE id = 3",
        &[],
    )
    .await
    .unwrap();
    let changes = sdb.diff().unwrap();
    let err = sdb.commit(&changes).await.unwrap_err();
    match &err {
        Error::NeedsApproval(reasons) => assert_eq!(reasons, &[REASON_DELETE.to_owned()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(prod.rows().await, BEFORE);
}

/// Runs one statement on a test database.
async fn exec(db: &testdb::TestDb, sql: &str) {
    use sqlx::Executor as _;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match &db.prod {
        shadowdb::prod::Production::Postgres(p) => {
            p.execute(sql).await.unwrap();
        }
        shadowdb::prod::Production::MySql(p) => {
            p.execute(sql).await.unwrap();
        }
        shadowdb::prod::Production::Sqlite(p) => {
            p.execute(sql).await.unwrap();
        }
    }
}

/// Through the `shadowdb` binary with `--yes`, on every database: a delete of
/// every row of the tenant split over statements, or behind a decoy insert,
/// exits 3 with the rule named and production keeps its rows.
#[tokio::test]
async fn the_binary_refuses_split_and_decoy_deletes_on_every_database() {
    for kind in testdb::ALL {
        let Some(db) = testdb::TestDb::new(kind, "hostile14_split").await else {
            continue;
        };
        exec(
            &db,
            "CREATE TABLE tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, \
             title VARCHAR(50) NOT NULL, status VARCHAR(20) NOT NULL)",
        )
        .await;
        exec(&db, ROWS).await;
        for script in [
            "DELETE FROM tasks WHERE id = 1; DELETE FROM tasks WHERE id = 2;\n\
             DELETE FROM tasks WHERE id = 3;\n",
            "INSERT INTO tasks (id, title, status) VALUES (10, 'decoy', 'todo');\n\
             DELETE FROM tasks WHERE id <> 10;\n",
        ] {
            let file = std::env::temp_dir()
                .join(format!("sdb_hostile14_{}_{kind:?}.sql", std::process::id()));
            std::fs::write(&file, script).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_shadowdb"))
                .args(["run", "--db", &db.url, "--tenant", "42", "--table", "tasks"])
                .args([
                    "--allow-uncontracted",
                    "--tenant-column",
                    "user_id",
                    "--yes",
                ])
                .arg("--sql")
                .arg(&file)
                .env_remove("DATABASE_URL")
                .env_remove("SHADOWDB_PROFILE")
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&file);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{kind:?} {script}: {stdout}");
            assert!(
                stdout.starts_with(&format!("BLOCKED\n  {REASON_DELETE}\n"))
                    || stderr.starts_with(
                        "error: blocked by policy rule `delete_without_where`: DELETE from \
                         `tasks` removed 3 of its 4 rows in the sandbox, as many as the 3 it \
                         holds that were cloned"
                    ),
                "{kind:?} {script}: {stdout} {stderr}"
            );
            let rows: Vec<String> = db
                .rows("SELECT id, user_id, title, status FROM tasks ORDER BY id")
                .await
                .into_iter()
                .map(|r| r.join("|"))
                .collect();
            assert_eq!(rows, BEFORE, "{kind:?} {script}");
        }
    }
}

/// A foreign key action is judged at review too: deleting one of two
/// projects passes the statement's own rule (its table is `projects`), but
/// the cascade took every task the tenant had, and the commit is refused
/// under the rule, naming `tasks`.
#[tokio::test]
async fn a_cascade_that_removes_every_child_row_is_blocked_at_review() {
    let prod = Prod::new(
        "cascade",
        &[
            "CREATE TABLE projects (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL)",
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
             project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE, title TEXT NOT NULL)",
            "INSERT INTO projects VALUES (1, 42, 'p'), (2, 42, 'q')",
            "INSERT INTO tasks VALUES (1, 42, 1, 'a'), (2, 42, 1, 'b'), (3, 42, 1, 'c')",
        ],
    )
    .await;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&prod.url)
        .await
        .unwrap();
    let mut sdb = ShadowDb::builder(pool)
        .tables(["projects", "tasks"])
        .tenant(42_i64)
        .allow_uncontracted(true)
        .tenant_column("projects", "user_id")
        .tenant_column("tasks", "user_id")
        .open()
        .await
        .unwrap();
    sdb.execute("DELETE FROM projects WHERE id = 1", &[])
        .await
        .unwrap();
    let changes = sdb.diff().unwrap();
    let err = sdb.commit(&changes).await.unwrap_err();
    match &err {
        Error::PolicyBlocked(reasons) => assert_eq!(reasons, &[REASON_DELETE.to_owned()]),
        other => panic!("{other:?}"),
    }
    let mut c = sqlx::SqliteConnection::connect(&prod.url).await.unwrap();
    let left: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM projects), (SELECT count(*) FROM tasks)")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(left, (2, 3));
}

/// The same on a table whose baseline is a full copy (a text key SQLite
/// lets be NULL, so triggers cannot follow its rows): the decoy is told from
/// the cloned rows by key.
#[tokio::test]
async fn a_decoy_is_seen_on_a_fully_copied_table_too() {
    let prod = Prod::new(
        "copied",
        &[
            "CREATE TABLE notes (code TEXT PRIMARY KEY, user_id INTEGER NOT NULL, body TEXT)",
            "INSERT INTO notes VALUES ('a', 42, 'x'), ('b', 42, 'y'), ('c', 42, 'z')",
        ],
    )
    .await;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&prod.url)
        .await
        .unwrap();
    let sdb = ShadowDb::builder(pool)
        .table("notes")
        .tenant(42_i64)
        .allow_uncontracted(true)
        .tenant_column("notes", "user_id")
        .open()
        .await
        .unwrap();
    sdb.execute("INSERT INTO notes (code, body) VALUES ('d', 'decoy')", &[])
        .await
        .unwrap();
    let err = sdb
        .execute("UPDATE notes SET body = 'gone' WHERE code <> 'd'", &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "blocked by policy rule `update_without_where`: UPDATE of `notes` changed 3 of its 4 \
         rows in the sandbox, as many as the 3 it holds that were cloned: a write without a \
         real WHERE, whatever the WHERE says and whatever rows were inserted first"
    );
    // Two of the three cloned rows and the decoy: not every cloned row.
    sdb.execute(
        "UPDATE notes SET body = 'kept' WHERE code IN ('a', 'b', 'd')",
        &[],
    )
    .await
    .unwrap();
}
