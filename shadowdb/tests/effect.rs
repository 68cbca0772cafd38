//! One parser of record and the effect rule, through the library on SQLite
//! production: the statements judged are the ones SQLite reads and runs, a
//! NUL byte refuses the whole script before anything runs, and a write that
//! changed every row of a table is blocked whatever its WHERE says.

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod testdb;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use safemodel::Value;
use shadowdb::audit::{AuditKind, MemorySink};
use shadowdb::policy::{Decision, Policy, WholeTableWrites};
use shadowdb::{Error, Refusal, ShadowDb};
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

/// Tenant 42's projects 1 and 2, and tasks 1 to 3, all of project 1, which
/// deleting the project takes along.
const CASCADE: &[&str] = &[
    "CREATE TABLE projects (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL)",
    "CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
     project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE, title TEXT NOT NULL)",
    "INSERT INTO projects VALUES (1, 42, 'p'), (2, 42, 'q')",
    "INSERT INTO tasks VALUES (1, 42, 1, 'a'), (2, 42, 1, 'b'), (3, 42, 1, 'c')",
];

const BEFORE: &[&str] = &["1|42|a|todo", "2|42|b|todo", "3|42|c|todo", "4|99|d|todo"];

impl Prod {
    async fn new(test: &str, script: &[&str]) -> Prod {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sdb_effect_{test}_{}_{}.db",
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

    /// [`Prod::tasks`], and a sandbox of it for `tenant` under `policy`
    /// that audits to the sink returned.
    async fn tasks_open(tenant: i64, policy: Policy) -> (Prod, Arc<MemorySink>, ShadowDb) {
        let prod = Prod::tasks().await;
        let sink = Arc::new(MemorySink::new());
        let sdb = prod.open(tenant, policy, &sink).await;
        (prod, sink, sdb)
    }

    /// Production's tasks as `id|user_id|title|status`, read on a connection of its own.
    async fn rows(&self) -> Vec<String> {
        testdb::sqlite_tasks(&self.url).await
    }

    /// One connection to production: the pool a sandbox clones from.
    async fn pool(&self) -> sqlx::SqlitePool {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .unwrap()
    }

    /// `projects` and `tasks` (see [`CASCADE`]) for tenant 42, no contracts,
    /// the default policy.
    async fn open_projects(&self) -> ShadowDb {
        ShadowDb::builder(self.pool().await)
            .tables(["projects", "tasks"])
            .tenant(42_i64)
            .allow_uncontracted(true)
            .tenant_column("projects", "user_id")
            .tenant_column("tasks", "user_id")
            .open()
            .await
            .unwrap()
    }

    async fn open(&self, tenant: i64, policy: Policy, sink: &Arc<MemorySink>) -> ShadowDb {
        ShadowDb::builder(self.pool().await)
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

/// `dev` with `delete_without_where` set to ask for approval.
fn deletes_ask() -> Policy {
    let mut policy = dev();
    policy
        .set_rule("delete_without_where", Decision::RequireApproval)
        .unwrap();
    policy
}

/// Commits the sandbox's changes.
async fn commit(sdb: &mut ShadowDb) {
    let changes = sdb.diff().unwrap();
    sdb.commit(&changes).await.unwrap();
}

/// Why the sandbox's changes do not commit.
async fn commit_err(sdb: &mut ShadowDb) -> Error {
    let changes = sdb.diff().unwrap();
    sdb.commit(&changes).await.unwrap_err()
}

/// Runs `sql` in `sdb`, which must take it.
async fn ok(sdb: &ShadowDb, sql: &str) {
    sdb.execute(sql, &[]).await.unwrap();
}

/// Why `sql` is refused in `sdb`.
async fn refused(sdb: &ShadowDb, sql: &str) -> String {
    sdb.execute(sql, &[]).await.unwrap_err().to_string()
}

/// The sandbox's tasks as `id|status`.
async fn sandbox_rows(sdb: &ShadowDb) -> Vec<String> {
    sdb.query("SELECT id, status FROM tasks ORDER BY id", &[])
        .await
        .unwrap()
        .rows
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (Value::Int(id), Value::Text(s)) => format!("{id}|{s}"),
            other => panic!("{other:?}"),
        })
        .collect()
}

const SANDBOX_BEFORE: &[&str] = &["1|todo", "2|todo", "3|todo"];

/// `(decision, sql)` of every statement event recorded.
fn statement_events(sink: &MemorySink) -> Vec<(Decision, Option<String>)> {
    sink.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            AuditKind::Statement { decision, sql, .. } => Some((decision, sql)),
            _ => None,
        })
        .collect()
}

fn blocked_rule(err: &Error) -> &str {
    match err {
        Error::Blocked { rule, .. } => rule,
        other => panic!("not blocked by a rule: {other:?}"),
    }
}

/// Every always-true spelling the issue found, as DELETE and as UPDATE:
/// blocked with the rule's id, nothing changed in the sandbox or production.
#[tokio::test]
async fn always_true_wheres_change_nothing() {
    let (prod, sink, sdb) = Prod::tasks_open(42, dev()).await;
    let forms = testdb::ALWAYS_TRUE.iter().chain(&[
        "user_id = 42",
        "user_id = 1",
        // Spellings no folding knows: the effect rule catches them.
        "id IN (SELECT id FROM tasks)",
        "lower('A') = 'a'",
        "coalesce(NULL, 1)",
        "id > -9223372036854775807",
    ]);
    for form in forms {
        for (sql, rule) in testdb::whole_table_writes(form, "") {
            let err = sdb.execute(&sql, &[]).await.unwrap_err();
            assert_eq!(blocked_rule(&err), rule, "{sql}: {err}");
            assert_eq!(sandbox_rows(&sdb).await, SANDBOX_BEFORE, "{sql}");
        }
    }
    assert!(sdb.diff().unwrap().is_empty());
    assert_eq!(prod.rows().await, BEFORE);
    // Nothing was recorded as allowed but the reads of the sandbox.
    assert!(
        statement_events(&sink)
            .iter()
            .all(|(d, sql)| *d == Decision::Block
                || sql.as_deref().is_some_and(|s| s.starts_with("SELECT"))),
        "{:?}",
        statement_events(&sink)
    );
}

/// A WHERE the parser cannot see through is judged by its effect, with the
/// rule's id and a reason that names the table and the counts.
#[tokio::test]
async fn the_effect_rule_names_the_table_and_the_rows() {
    let (_prod, sink, sdb) = Prod::tasks_open(42, dev()).await;
    let err = sdb
        .execute(
            "UPDATE tasks SET status = 'done' WHERE id = 1; \
             DELETE FROM tasks WHERE id IN (SELECT id FROM tasks)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "blocked by policy rule `delete_without_where`: DELETE from `tasks` removed every one \
         of its 3 rows in the sandbox: a write without a real WHERE, whatever the WHERE says"
    );
    // The whole script is undone, the first statement too.
    assert_eq!(sandbox_rows(&sdb).await, SANDBOX_BEFORE);
    // The record of the statement shows the final decision, never `allow`.
    let events = statement_events(&sink);
    assert_eq!(
        events[1],
        (
            Decision::Block,
            Some("DELETE FROM tasks WHERE id IN (SELECT id FROM tasks)".to_owned())
        )
    );
    let log = sdb.statement_log();
    assert_eq!(log[1].decision, Decision::Block);
    assert_eq!(log[1].hits[0].rule, "delete_without_where");
}

/// UPDATE ... FROM, REPLACE and UPDATE OR REPLACE are judged by their effect
/// on their own target table.
#[tokio::test]
async fn update_from_and_replace_are_caught_by_their_effect() {
    let (_prod, _sink, sdb) = Prod::tasks_open(42, dev()).await;
    for sql in [
        "UPDATE tasks SET status = 'x' FROM (SELECT 1 AS one) AS s WHERE s.one = 1",
        "REPLACE INTO tasks (id, user_id, title, status) SELECT id, user_id, title, 'x' FROM tasks",
        "INSERT OR REPLACE INTO tasks (id, user_id, title, status) \
         SELECT id, user_id, title, 'x' FROM tasks WHERE id > 0",
        "INSERT INTO tasks (id, user_id, title, status) SELECT id, user_id, title, 'x' FROM tasks \
         WHERE id > 0 ON CONFLICT (id) DO UPDATE SET status = excluded.status",
        "UPDATE OR REPLACE tasks SET title = 'z' WHERE id IN (SELECT id FROM tasks)",
    ] {
        let err = sdb.execute(sql, &[]).await.unwrap_err();
        assert_eq!(blocked_rule(&err), "update_without_where", "{sql}: {err}");
        assert_eq!(sandbox_rows(&sdb).await, SANDBOX_BEFORE, "{sql}");
    }
    // A REPLACE of one row of three replaces part of the table.
    ok(
        &sdb,
        "REPLACE INTO tasks (id, user_id, title, status) VALUES (1, 42, 'a', 'done')",
    )
    .await;
    assert_eq!(sandbox_rows(&sdb).await, ["1|done", "2|todo", "3|todo"]);
}

/// A real WHERE still runs: one row of a one-row table, part of a table.
#[tokio::test]
async fn real_wheres_still_run_and_commit() {
    let (prod, sink, mut one) = Prod::tasks_open(99, dev()).await;
    ok(&one, "DELETE FROM tasks WHERE id = 4").await;
    let changes = one.diff().unwrap();
    assert_eq!(changes.len(), 1);
    one.commit(&changes).await.unwrap();
    assert_eq!(prod.rows().await, &BEFORE[..3]);

    let mut sdb = prod.open(42, dev(), &sink).await;
    let results = sdb
        .execute("UPDATE tasks SET status = 'done' WHERE id IN (1, 2)", &[])
        .await
        .unwrap();
    assert_eq!(results[0].rows_affected, 2);
    sdb.execute(
        "UPDATE tasks SET status = ? WHERE id = ?",
        &[Value::Text("doing".into()), Value::Int(3)],
    )
    .await
    .unwrap();
    commit(&mut sdb).await;
    assert_eq!(
        prod.rows().await,
        ["1|42|a|done", "2|42|b|done", "3|42|c|doing"]
    );
    let log: Vec<String> = sdb.statement_log().into_iter().map(|v| v.sql).collect();
    assert_eq!(
        log,
        [
            "UPDATE tasks SET status = 'done' WHERE id IN (1, 2)",
            "UPDATE tasks SET status = ? WHERE id = ?"
        ]
    );
}

/// A profile that sets the rule to `require_approval` keeps the effect and
/// makes the commit ask; a threshold catches less than the whole table.
#[tokio::test]
async fn the_profile_sets_the_decision_and_the_thresholds() {
    let (prod, sink, mut sdb) = Prod::tasks_open(42, deletes_ask()).await;
    ok(&sdb, "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks)").await;
    assert_eq!(sandbox_rows(&sdb).await, Vec::<String>::new());
    assert_eq!(
        statement_events(&sink)[0],
        (
            Decision::RequireApproval,
            Some("DELETE FROM tasks WHERE id IN (SELECT id FROM tasks)".to_owned())
        )
    );
    let err = commit_err(&mut sdb).await;
    assert!(matches!(err, Error::NeedsApproval(_)), "{err:?}");
    assert_eq!(prod.rows().await, BEFORE);

    let mut policy = dev();
    policy.set_whole_table_writes(WholeTableWrites::new().above_rows(1));
    let sdb = prod.open(42, policy, &sink).await;
    assert_eq!(
        refused(&sdb, "DELETE FROM tasks WHERE id IN (1, 2)").await,
        "blocked by policy rule `delete_without_where`: DELETE from `tasks` removed 2 rows \
         in one statement, more than the profile's 1"
    );
    ok(&sdb, "DELETE FROM tasks WHERE id = 1").await;

    let mut policy = dev();
    policy.set_whole_table_writes(WholeTableWrites::new().above_percent(50));
    let sdb = prod.open(42, policy, &sink).await;
    assert_eq!(
        refused(&sdb, "UPDATE tasks SET status = 'x' WHERE id < 3").await,
        "blocked by policy rule `update_without_where`: UPDATE of `tasks` changed 2 of its 3 \
         rows in one statement, more than the profile's 50%"
    );
    assert_eq!(sandbox_rows(&sdb).await, SANDBOX_BEFORE);
}

/// Rows a foreign key action removes count toward their own table: deleting
/// one of two projects is a real WHERE even when it takes every task along.
#[tokio::test]
async fn cascades_count_toward_their_own_table() {
    let prod = Prod::new("cascade", CASCADE).await;
    let sdb = prod.open_projects().await;
    ok(&sdb, "DELETE FROM projects WHERE id = 1").await;
    let left = sdb.query("SELECT count(*) FROM tasks", &[]).await.unwrap();
    assert_eq!(left.rows, [[Value::Int(0)]]);
    let err = sdb
        .execute("DELETE FROM projects WHERE name = name", &[])
        .await
        .unwrap_err();
    assert_eq!(blocked_rule(&err), "delete_without_where");
}

/// A NUL byte: SQLite stops reading there and the policy's parser reads on.
/// The whole script is refused before anything runs, and nothing of it is
/// recorded as allowed.
#[tokio::test]
async fn a_nul_byte_refuses_the_whole_script() {
    let (prod, sink, sdb) = Prod::tasks_open(42, dev()).await;
    for (sql, at) in [
        ("DELETE FROM tasks -- note\0\nWHERE id = 1;", 25),
        ("DELETE FROM tasks /* x\0 */ WHERE id = 1;", 22),
        (
            "UPDATE tasks SET status = 'x' WHERE id = 1; DELETE FROM tasks -- \0",
            65,
        ),
        ("UPDATE tasks SET status = 'x\0' WHERE id = 1", 28),
    ] {
        let err = sdb.execute(sql, &[]).await.unwrap_err();
        assert!(
            matches!(err, Error::Refused(Refusal::NulByte { offset }) if offset == at),
            "{sql:?}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "refused by the sandbox: a NUL byte at byte {at}: SQLite stops reading there, \
                 so the whole script is refused"
            )
        );
        assert_eq!(sandbox_rows(&sdb).await, SANDBOX_BEFORE, "{sql:?}");
    }
    let events = statement_events(&sink);
    assert!(
        events.iter().all(|(d, sql)| *d == Decision::Block
            || sql.as_deref().is_some_and(|s| s.starts_with("SELECT"))),
        "{events:?}"
    );
    assert_eq!(
        events[0],
        (
            Decision::Block,
            Some("DELETE FROM tasks -- note\\0\nWHERE id = 1;".to_owned())
        )
    );
    // `check` refuses it the same way.
    let verdicts = sdb.check("DELETE FROM tasks /* x\0 */ WHERE id = 1;");
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].hits[0].rule, "parse_error");
    assert_eq!(prod.rows().await, BEFORE);
}

/// Each statement is judged, logged and recorded as the exact text SQLite
/// prepared: comments included, split where SQLite splits.
#[tokio::test]
async fn statements_are_judged_and_recorded_as_sqlite_reads_them() {
    let (_prod, sink, sdb) = Prod::tasks_open(42, dev()).await;
    let script = "SELECT 1;\n/* why */ UPDATE tasks SET status = 'done' WHERE id = 1; -- end\n\
                  UPDATE tasks SET title = 'x;y' WHERE id = 2;\n-- trailing\n";
    sdb.execute(script, &[]).await.unwrap();
    let texts = [
        "SELECT 1;",
        "/* why */ UPDATE tasks SET status = 'done' WHERE id = 1;",
        "-- end\nUPDATE tasks SET title = 'x;y' WHERE id = 2;",
    ];
    let log: Vec<String> = sdb.statement_log().into_iter().map(|v| v.sql).collect();
    assert_eq!(log, texts);
    let recorded: Vec<Option<String>> = statement_events(&sink)
        .into_iter()
        .map(|(d, sql)| {
            assert_eq!(d, Decision::Allow);
            sql
        })
        .collect();
    assert_eq!(recorded, texts.map(|t| Some(t.to_owned())));
    let checked: Vec<String> = sdb.check(script).into_iter().map(|v| v.sql).collect();
    assert_eq!(checked, texts);
}

// Hostile tests of issue 14's effect rule: a delete of every row of a table
// that the per-statement rule misses, because it took more than one
// statement (two DELETEs of half the rows each, a decoy row inserted before
// a DELETE of every other row), is caught at review on the changeset,
// against the rows each table held when the sandbox was cloned, and
// production keeps its rows.
mod split_writes {
    use super::*;
    use std::process::Command;

    const REASON_DELETE: &str = "delete_without_where: the changes remove every one of the 3 rows \
                                 `tasks` held in the sandbox: a write without a real WHERE, over \
                                 however many statements";
    /// Runs `script` statement by statement (each one passes the per-statement
    /// rules), then commits: the commit must be refused with `reason`, and
    /// production keeps every row.
    async fn split_write_is_blocked(script: &[&str], reason: &str) {
        let (prod, _sink, mut sdb) = Prod::tasks_open(42, dev()).await;
        for sql in script {
            sdb.execute(sql, &[]).await.unwrap();
        }
        let err = commit_err(&mut sdb).await;
        match &err {
            Error::PolicyBlocked(reasons) => {
                assert_eq!(reasons, &[reason.to_owned()], "{script:?}")
            }
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
            let (prod, _sink, sdb) = Prod::tasks_open(42, dev()).await;
            ok(
                &sdb,
                "INSERT INTO tasks (id, title, status) VALUES (10, 'decoy', 'todo')",
            )
            .await;
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
        let (prod, sink, mut sdb) = Prod::tasks_open(42, dev()).await;
        for sql in [
            "DELETE FROM tasks WHERE id = 1",
            "UPDATE tasks SET status = status WHERE id = 3",
            "UPDATE tasks SET status = 'done' WHERE id = 2",
            "UPDATE tasks SET status = 'done' WHERE id = 3",
        ] {
            sdb.execute(sql, &[]).await.unwrap();
        }
        commit(&mut sdb).await;
        assert_eq!(
            prod.rows().await,
            ["2|42|b|done", "3|42|c|done", "4|99|d|todo"]
        );

        let mut one = prod.open(99, dev(), &sink).await;
        ok(&one, "DELETE FROM tasks WHERE id = 4").await;
        commit(&mut one).await;
        assert_eq!(prod.rows().await, ["2|42|b|done", "3|42|c|done"]);
    }

    /// A profile that sets the rule to `require_approval` makes the split write
    /// ask for approval instead.
    #[tokio::test]
    async fn the_profile_decision_applies_to_split_writes() {
        let (prod, _sink, mut sdb) = Prod::tasks_open(42, deletes_ask()).await;
        ok(&sdb, "DELETE FROM tasks WHERE id = 1; DELETE FROM tasks WHERE id = 2; DELETE FROM tasks WHERE id = 3").await;
        let err = commit_err(&mut sdb).await;
        match &err {
            Error::NeedsApproval(reasons) => assert_eq!(reasons, &[REASON_DELETE.to_owned()]),
            other => panic!("{other:?}"),
        }
        assert_eq!(prod.rows().await, BEFORE);
    }

    /// Through the `shadowdb` binary with `--yes`, on every database: a delete of
    /// every row of the tenant split over statements, or behind a decoy insert,
    /// exits 3 with the rule named and production keeps its rows.
    #[tokio::test]
    async fn the_binary_refuses_split_and_decoy_deletes_on_every_database() {
        for kind in testdb::ALL {
            let Some(db) = testdb::TestDb::new(kind, "effect_split").await else {
                continue;
            };
            db.exec(
                "CREATE TABLE tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, \
                 title VARCHAR(50) NOT NULL, status VARCHAR(20) NOT NULL)",
            )
            .await;
            db.exec(ROWS).await;
            for script in [
                "DELETE FROM tasks WHERE id = 1; DELETE FROM tasks WHERE id = 2;\n\
                 DELETE FROM tasks WHERE id = 3;\n",
                "INSERT INTO tasks (id, title, status) VALUES (10, 'decoy', 'todo');\n\
                 DELETE FROM tasks WHERE id <> 10;\n",
            ] {
                let file = std::env::temp_dir().join(format!(
                    "sdb_effect_split_{}_{kind:?}.sql",
                    std::process::id()
                ));
                std::fs::write(&file, script).unwrap();
                let out = Command::new(env!("CARGO_BIN_EXE_shadowdb"))
                    .args(testdb::run_args(&db.url))
                    .arg("--yes")
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
                assert_eq!(db.tasks().await, BEFORE, "{kind:?} {script}");
            }
        }
    }

    /// A foreign key action is judged at review too: deleting one of two
    /// projects passes the statement's own rule (its table is `projects`), but
    /// the cascade took every task the tenant had, and the commit is refused
    /// under the rule, naming `tasks`.
    #[tokio::test]
    async fn a_cascade_that_removes_every_child_row_is_blocked_at_review() {
        let prod = Prod::new("cascade", CASCADE).await;
        let mut sdb = prod.open_projects().await;
        ok(&sdb, "DELETE FROM projects WHERE id = 1").await;
        let err = commit_err(&mut sdb).await;
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
        let sdb = ShadowDb::builder(prod.pool().await)
            .table("notes")
            .tenant(42_i64)
            .allow_uncontracted(true)
            .tenant_column("notes", "user_id")
            .open()
            .await
            .unwrap();
        ok(&sdb, "INSERT INTO notes (code, body) VALUES ('d', 'decoy')").await;
        assert_eq!(
            refused(&sdb, "UPDATE notes SET body = 'gone' WHERE code <> 'd'").await,
            "blocked by policy rule `update_without_where`: UPDATE of `notes` changed 3 of its 4 \
             rows in the sandbox, as many as the 3 it holds that were cloned: a write without a \
             real WHERE, whatever the WHERE says and whatever rows were inserted first"
        );
        // Two of the three cloned rows and the decoy: not every cloned row.
        ok(
            &sdb,
            "UPDATE notes SET body = 'kept' WHERE code IN ('a', 'b', 'd')",
        )
        .await;
    }
}
