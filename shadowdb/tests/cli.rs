//! The `shadowdb` binary end to end, against SQLite (always) and PostgreSQL
//! (when `SHADOWDB_TEST_POSTGRES_URL` is set; each test creates its own
//! database and drops it afterwards).
//!
//! The stock binary has no contracts, so writes go through
//! `--allow-uncontracted --tenant-column user_id`.

// Test helpers outside `#[test]` functions fail loudly too: clippy.toml's
// allowances cover only the test functions themselves.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod testdb;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use sqlx::Connection as _;

const SETUP: &[&str] = &[
    "INSERT INTO tasks VALUES (1, 42, 'a', 'todo')",
    "INSERT INTO tasks VALUES (2, 42, 'b', 'todo')",
    "INSERT INTO tasks VALUES (3, 99, 'c', 'todo')",
];

/// Three changes: an update, an insert, a delete.
const AGENT_SQL: &str = "UPDATE tasks SET status = 'done' WHERE id = 1;\n\
     INSERT INTO tasks (id, title, status) VALUES (10, 'new', 'todo');\n\
     DELETE FROM tasks WHERE id = 2;\n";

const BEFORE: &[&str] = &["1|42|a|todo", "2|42|b|todo", "3|99|c|todo"];
const AFTER: &[&str] = &["1|42|a|done", "3|99|c|todo", "10|42|new|todo"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// A database of one test (cheap to clone, so test bodies can own a copy),
/// from the shared test support (`shadowdb_tests`); the last clone dropped
/// drops the database. Read and written with a connection of its own each
/// time, as another process would.
#[derive(Debug, Clone)]
struct TestDb {
    kind: Kind,
    url: String,
    /// Kept alive by every clone: the last one dropped drops the database.
    _db: Arc<shadowdb_tests::TestDb>,
}

impl TestDb {
    async fn sqlite(test: &str) -> TestDb {
        let Some(db) = shadowdb_tests::TestDb::new(shadowdb_tests::Kind::Sqlite, test).await else {
            unreachable!("SQLite always runs")
        };
        let db = TestDb {
            kind: Kind::Sqlite,
            url: db.url.clone(),
            _db: Arc::new(db),
        };
        db.exec("CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL)").await;
        db
    }

    async fn postgres(test: &str) -> Option<TestDb> {
        let db = shadowdb_tests::TestDb::new(shadowdb_tests::Kind::Postgres, test).await?;
        let db = TestDb {
            kind: Kind::Postgres,
            url: db.url.clone(),
            _db: Arc::new(db),
        };
        db.exec("CREATE TABLE tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL)").await;
        Some(db)
    }

    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("exec");
                c.close().await.expect("close");
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("exec");
                c.close().await.expect("close");
            }
        }
    }

    async fn setup(&self) {
        for s in SETUP {
            self.exec(s).await;
        }
    }

    /// Production's tasks as `id|user_id|title|status`, by id.
    async fn tasks(&self) -> Vec<String> {
        let sql = "SELECT id, user_id, title, status FROM tasks ORDER BY id";
        let rows: Vec<(i64, i64, String, String)> = match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                let rows = sqlx::query_as(sql).fetch_all(&mut c).await.expect("query");
                c.close().await.expect("close");
                rows
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                let rows = sqlx::query_as(sql).fetch_all(&mut c).await.expect("query");
                c.close().await.expect("close");
                rows
            }
        };
        rows.into_iter()
            .map(|(a, b, c, d)| format!("{a}|{b}|{c}|{d}"))
            .collect()
    }

    /// Drops the database (this is its last clone).
    async fn drop_db(self) {
        drop(self);
    }

    /// `run` against this database for tenant 42 on `tasks`, plus `extra`.
    fn run_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = testdb::run_args(&self.url)
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    }
}

/// Runs `body` on SQLite, then on PostgreSQL when configured; drops each
/// database afterwards, also when the body panics.
async fn each_db<F, Fut>(test: &str, body: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut dbs = vec![TestDb::sqlite(test).await];
    dbs.extend(TestDb::postgres(test).await);
    for db in dbs {
        let result = AssertUnwindSafe(body(db.clone())).catch_unwind().await;
        db.drop_db().await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn command(args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shadowdb"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SHADOWDB_PROFILE")
        .env_remove("SHADOWDB_ASSUME_TTY")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the binary with `stdin` and extra environment variables.
fn shadowdb(args: &[String], stdin: &str, env: &[(&str, &str)]) -> Out {
    let mut cmd = command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn shadowdb");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // A command that fails before it reads standard input (a bad --config)
    // may have exited already: its exit code and output are what is checked.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    let out = child.wait_with_output().expect("wait");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn sql_file(test: &str, sql: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.sql", shadowdb_tests::unique_name(test)));
    std::fs::write(&path, sql).expect("write SQL file");
    path
}

#[tokio::test]
async fn dry_run_json_has_the_documented_shape() {
    each_db("dry_json", |db| async move {
        db.setup().await;
        let out = shadowdb(
            &db.run_args(&["--dry-run", "--format", "json"]),
            AGENT_SQL,
            &[],
        );
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stderr, "Dry run: nothing was committed.\n");
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["verdict"], "safe");
        assert_eq!(doc["reasons"], serde_json::json!([]));
        assert_eq!(
            doc["summary"],
            serde_json::json!({
                "tables": { "tasks": { "insert": 1, "update": 1, "delete": 1 } },
                "insert": 1, "update": 1, "delete": 1, "total": 3
            })
        );
        let changes = doc["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 3);
        let update = changes
            .iter()
            .find(|c| c["operation"] == "update")
            .expect("an update");
        assert_eq!(
            *update,
            serde_json::json!({
                "operation": "update",
                "table": "tasks",
                "pk": { "id": 1 },
                "old": { "id": 1, "user_id": 42, "title": "a", "status": "todo" },
                "new": { "id": 1, "user_id": 42, "title": "a", "status": "done" },
                "changed": ["status"],
                "violations": []
            })
        );
        let insert = changes
            .iter()
            .find(|c| c["operation"] == "insert")
            .expect("insert");
        assert_eq!(insert["old"], serde_json::Value::Null);
        assert_eq!(insert["new"]["user_id"], 42);
        let delete = changes
            .iter()
            .find(|c| c["operation"] == "delete")
            .expect("delete");
        assert_eq!(delete["new"], serde_json::Value::Null);
        assert_eq!(delete["pk"], serde_json::json!({ "id": 2 }));
        assert_eq!(db.tasks().await, BEFORE);
    })
    .await;
}

#[tokio::test]
async fn yes_commits() {
    each_db("yes", |db| async move {
        db.setup().await;
        let out = shadowdb(&db.run_args(&["--yes"]), AGENT_SQL, &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr,
            "Committed 3 changes to production (1 insert, 1 update, 1 delete).\n"
        );
        assert!(out.stdout.starts_with("SAFE TO COMMIT\n"), "{}", out.stdout);
        assert_eq!(db.tasks().await, AFTER);
    })
    .await;
}

#[tokio::test]
async fn without_a_terminal_or_yes_nothing_is_committed() {
    each_db("no_tty", |db| async move {
        db.setup().await;
        let out = shadowdb(&db.run_args(&[]), AGENT_SQL, &[]);
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(
            out.stderr,
            "Not committed: there is no terminal to ask for confirmation \
             (pass --yes to commit without asking, or --dry-run to only review).\n"
        );
        assert_eq!(db.tasks().await, BEFORE);
    })
    .await;
}

#[tokio::test]
async fn prompt_answered_yes_no_and_not_at_all() {
    each_db("prompt", |db| async move {
        let sql = sql_file("prompt", AGENT_SQL);
        let sql = sql.display().to_string();
        let tty = [("SHADOWDB_ASSUME_TTY", "1")];
        db.setup().await;

        let out = shadowdb(&db.run_args(&["--sql", &sql]), "n\n", &tty);
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(
            out.stderr,
            "Apply 3 changes to production? [y/N] \nNot committed: declined.\n"
        );
        assert_eq!(db.tasks().await, BEFORE);

        // No answer at all (end of input) is no.
        let out = shadowdb(&db.run_args(&["--sql", &sql]), "", &tty);
        assert_eq!(out.code, 4, "{out:?}");
        assert!(
            out.stderr.ends_with("Not committed: declined.\n"),
            "{out:?}"
        );
        assert_eq!(db.tasks().await, BEFORE);

        let out = shadowdb(&db.run_args(&["--sql", &sql]), "y\n", &tty);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr,
            "Apply 3 changes to production? [y/N] \n\
             Committed 3 changes to production (1 insert, 1 update, 1 delete).\n"
        );
        assert_eq!(db.tasks().await, AFTER);
        let _ = std::fs::remove_file(sql);
    })
    .await;
}

#[tokio::test]
async fn a_blocked_statement_exits_3_and_runs_nothing() {
    each_db("blocked", |db| async move {
        db.setup().await;
        let sql = "UPDATE tasks SET status = 'done' WHERE id = 1; DELETE FROM tasks";
        let out = shadowdb(&db.run_args(&["--yes"]), sql, &[]);
        assert_eq!(out.code, 3, "{out:?}");
        assert_eq!(
            out.stderr,
            "error: blocked by policy rule `delete_without_where`: \
             DELETE from `tasks` has no WHERE clause: it removes every row\n"
        );
        assert_eq!(out.stdout, "");
        assert_eq!(db.tasks().await, BEFORE);
    })
    .await;
}

#[tokio::test]
async fn a_row_of_another_tenant_is_blocked() {
    each_db("tenant", |db| async move {
        db.setup().await;
        let sql = "INSERT INTO tasks (id, user_id, title, status) VALUES (11, 99, 'x', 'todo')";
        let out = shadowdb(&db.run_args(&["--yes"]), sql, &[]);
        assert_eq!(out.code, 3, "{out:?}");
        assert!(
            out.stdout
                .starts_with("BLOCKED\n  tasks[id=11].user_id: row belongs to another tenant\n"),
            "{}",
            out.stdout
        );
        assert_eq!(
            out.stderr,
            "Not committed: the change is blocked (see the reasons above).\n"
        );
        assert_eq!(db.tasks().await, BEFORE);
    })
    .await;
}

#[tokio::test]
async fn a_row_changed_in_production_after_the_clone_is_a_conflict() {
    each_db("conflict", |db| async move {
        db.setup().await;
        let sql = sql_file("conflict", AGENT_SQL);
        let mut cmd = command(&db.run_args(&["--sql", &sql.display().to_string()]));
        cmd.env("SHADOWDB_ASSUME_TTY", "1");
        let mut child = cmd.spawn().expect("spawn");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        // Wait for the prompt: the sandbox is cloned and reviewed.
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("[y/N] ") {
            let buf = stderr.fill_buf().expect("read stderr");
            assert!(!buf.is_empty(), "no prompt: {}", String::from_utf8_lossy(&seen));
            let n = buf.len();
            seen.extend_from_slice(buf);
            stderr.consume(n);
        }
        db.exec("UPDATE tasks SET title = 'moved on' WHERE id = 1").await;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"y\n")
            .expect("answer");
        stderr.read_to_end(&mut seen).expect("read stderr");
        let status = child.wait().expect("wait");
        let stderr = String::from_utf8(seen).expect("utf-8");
        assert_eq!(status.code(), Some(5), "{stderr}");
        assert!(
            stderr.ends_with(
                "error: conflict: tasks[id=1] changed in production since the clone (columns: title)\n\
                 hint: production moved on: run the SQL again on a fresh sandbox\n"
            ),
            "{stderr}"
        );
        assert_eq!(
            db.tasks().await,
            ["1|42|moved on|todo", "2|42|b|todo", "3|99|c|todo"]
        );
        let _ = std::fs::remove_file(sql);
    })
    .await;
}

#[tokio::test]
async fn piped_text_has_no_escape_codes() {
    each_db("plain", |db| async move {
        db.setup().await;
        let out = shadowdb(&db.run_args(&["--dry-run", "-v"]), AGENT_SQL, &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(!out.stdout.contains('\x1b') && !out.stderr.contains('\x1b'), "{out:?}");
        assert_eq!(
            out.stdout,
            "SAFE TO COMMIT\n\
             1 insert, 1 update, 1 delete in 1 table\n\
             This will DELETE 1 row from 'tasks'\n\
             \n\
            \x20 TABLE  OP      KEY    COLUMN   OLD                               NEW   VALIDATION\n\
             ~ tasks  UPDATE  id=1   status   todo                              done  PASS\n\
             - tasks  DELETE  id=2            user_id=42, title=b, status=todo        PASS\n\
             + tasks  INSERT  id=10  id                                         10    PASS\n\
             +                       user_id                                    42    PASS\n\
             +                       title                                      new   PASS\n\
             +                       status                                     todo  PASS\n"
        );
        // -v: where, what was cloned, every statement's decision; never a password.
        let dialect = match db.kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        };
        assert!(out.stderr.contains(&format!("({dialect})\n")), "{}", out.stderr);
        assert!(
            out.stderr.ends_with(
                "policy: profile `dev` (built-in)\n\
                 cloned 2 rows of `tasks`\n\
                 1. allow  UPDATE tasks SET status = 'done' WHERE id = 1;\n\
                 2. allow  INSERT INTO tasks (id, title, status) VALUES (10, 'new', 'todo');\n\
                 3. allow  DELETE FROM tasks WHERE id = 2;\n\
                 Dry run: nothing was committed.\n"
            ),
            "{}",
            out.stderr
        );
    })
    .await;
}

#[tokio::test]
async fn uncontracted_tables_need_the_flag_and_a_tenant_column() {
    let db = TestDb::sqlite("uncontracted").await;
    db.setup().await;
    let base = [
        "run", "--db", &db.url, "--tenant", "42", "--table", "tasks", "--yes",
    ];
    let out = shadowdb(&args(&base), AGENT_SQL, &[]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "error: cannot open the sandbox:\n  - table `tasks` has no SafeModel contract"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("\nhint: contracts are Rust types"),
        "{}",
        out.stderr
    );

    let mut with_flag = args(&base);
    with_flag.push("--allow-uncontracted".into());
    let out = shadowdb(&with_flag, AGENT_SQL, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: `tasks` has no contract: --allow-uncontracted needs --tenant-column COL\n"
    );

    let out = shadowdb(&db.run_args(&["--tenant", "forty-two"]), AGENT_SQL, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("error: the argument '--tenant <VALUE>' cannot be used multiple times"),
        "{}",
        out.stderr
    );
    let mut bad_tenant = db.run_args(&[]);
    bad_tenant[4] = "forty-two".into();
    let out = shadowdb(&bad_tenant, AGENT_SQL, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: --tenant `forty-two` is not an integer (the tenant column tasks.user_id is)\n"
    );
    assert_eq!(db.tasks().await, BEFORE);
    db.drop_db().await;
}

#[test]
fn a_password_is_never_printed() {
    let url = "postgres://postgres:secretpw@127.0.0.1:1/x";
    let runs = [
        shadowdb(
            &args(&[
                "run", "--db", url, "--tenant", "1", "--table", "t", "-v", "--yes",
            ]),
            "SELECT 1",
            &[],
        ),
        shadowdb(
            &args(&["run", "--tenant", "1", "--table", "t", "-v", "--yes"]),
            "SELECT 1",
            &[("DATABASE_URL", url)],
        ),
        shadowdb(
            &args(&["schema", "-v", "--table", "t"]),
            "",
            &[("DATABASE_URL", url)],
        ),
        shadowdb(&args(&["run", "--help"]), "", &[("DATABASE_URL", url)]),
        // A URL where clap expects none comes back in clap's message.
        shadowdb(&args(&["run", url]), "", &[]),
    ];
    for out in &runs {
        assert!(!out.stdout.contains("secretpw"), "{out:?}");
        assert!(!out.stderr.contains("secretpw"), "{out:?}");
    }
    for out in &runs[..3] {
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.starts_with(
                "error: production database error (connecting to postgres://postgres:***@127.0.0.1:1/x): cannot connect: "
            ),
            "{out:?}"
        );
    }
    assert_eq!(runs[3].code, 0);
    assert_eq!(runs[4].code, 2);
    assert!(
        runs[4]
            .stderr
            .contains("unexpected argument 'postgres://postgres:***@127.0.0.1:1/x'"),
        "{:?}",
        runs[4]
    );
}

#[test]
fn check_prints_each_statement_decision() {
    let sql = "UPDATE tasks SET title = 'x' WHERE id = 1;\n\
               delete FROM Tasks -- all of them\n;\n\
               SELECT * FROM tasks;\n\
               INSERT OR REPLACE INTO tasks (id, title) VALUES (1, 'y')";
    let out = shadowdb(&args(&["check", "--sql", "-"]), sql, &[]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout,
        "Profile `dev` (built-in); scope: tasks\n\
         \n\
         1. allow  UPDATE tasks SET title = 'x' WHERE id = 1\n\
         2. block  DELETE FROM Tasks\n\
        \x20  - delete_without_where (block): DELETE from `tasks` has no WHERE clause: it removes every row\n\
         3. warn  SELECT * FROM tasks\n\
        \x20  - select_star (warn): SELECT * reads every column; name the columns\n\
         4. require_approval  INSERT OR REPLACE INTO tasks (id, title) VALUES (1, 'y')\n\
        \x20  - upsert (require_approval): INSERT OR REPLACE into `tasks` deletes and re-inserts existing rows\n\
         \n\
         4 statements: 1 allow, 1 warn, 1 require_approval, 1 block\n"
    );

    // With --table, other tables are outside the scope; approval alone exits 4.
    let sql = "SELECT id FROM other; INSERT OR REPLACE INTO tasks (id) VALUES (1)";
    let out = shadowdb(
        &args(&["check", "--sql", "-", "--table", "tasks"]),
        sql,
        &[],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stdout.contains(
            "1. block  SELECT id FROM other\n   - outside_scope (block): table `other` is outside the scope\n"
        ),
        "{}",
        out.stdout
    );
    let out = shadowdb(
        &args(&["check", "--sql", "-", "--table", "tasks"]),
        "INSERT OR REPLACE INTO tasks (id) VALUES (1)",
        &[],
    );
    assert_eq!(out.code, 4, "{out:?}");

    let out = shadowdb(
        &args(&["check", "--sql", "-", "--format", "json"]),
        "DROP TABLE tasks",
        &[],
    );
    assert_eq!(out.code, 3, "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(doc["profile"], "dev");
    assert_eq!(doc["statements"][0]["decision"], "block");
    assert_eq!(doc["statements"][0]["hits"][0]["rule"], "drop");
}

/// `check` judges a WHERE on the tenant column alone as no WHERE when it is
/// told the tenant column of uncontracted tables, as `run` does with
/// `--allow-uncontracted --tenant-column`; without it, it cannot know.
#[test]
fn check_knows_the_tenant_column_of_uncontracted_tables() {
    let sql = "DELETE FROM tasks WHERE user_id = 42;";
    let out = shadowdb(
        &args(&["check", "--sql", "-", "--tenant-column", "user_id"]),
        sql,
        &[],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(
        out.stdout,
        "Profile `dev` (built-in); scope: tasks\n\
         \n\
         1. block  DELETE FROM tasks WHERE user_id = 42\n\
        \x20  - delete_without_where (block): DELETE from `tasks` tests only the tenant column, which every row in the sandbox matches\n\
         \n\
         1 statement: 1 block\n"
    );
    let out = shadowdb(&args(&["check", "--sql", "-"]), sql, &[]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn usage_errors_exit_2_and_help_lists_exit_codes() {
    let out = shadowdb(&args(&["run", "--db", "sqlite::memory:"]), "", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: the following required arguments were not provided:"),
        "{}",
        out.stderr
    );
    let out = shadowdb(&args(&["frobnicate"]), "", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    let out = shadowdb(&args(&["--help"]), "", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("Exit codes:\n  0  success"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("  5  conflict"), "{}", out.stdout);
}

#[test]
fn policy_prints_the_resolved_profile() {
    let out = shadowdb(&args(&["policy", "--profile", "staging"]), "", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("# shadowdb policy in force: profile \"staging\" (from built-in)\n"),
        "{}",
        out.stdout
    );
    let out = shadowdb(&args(&["policy", "--profile", "nope"]), "", &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: unknown policy profile `nope` (known: dev, staging, prod)\n"
    );
}

#[tokio::test]
async fn schema_shows_columns_and_contract_status() {
    let db = TestDb::sqlite("schema").await;
    let out = shadowdb(
        &args(&["schema", "--db", &db.url, "--table", "tasks"]),
        "",
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "tasks (sqlite)\n\
        \x20 contract: none (writes need a #[derive(SafeModel)] contract, or --allow-uncontracted --tenant-column COL)\n\
        \x20 primary key: id\n\
        \x20 COLUMN   TYPE     NULL      DEFAULT    CONTRACT\n\
        \x20 id       INTEGER  not null  generated\n\
        \x20 user_id  INTEGER  not null\n\
        \x20 title    TEXT     not null\n\
        \x20 status   TEXT     not null\n"
    );
    let out = shadowdb(
        &args(&["schema", "--db", &db.url, "--table", "nope"]),
        "",
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "nope: does not exist\n");
    db.drop_db().await;
}

/// The flags that let the stock binary write `tasks`, which has no contract.
const UNCONTRACTED: [&str; 3] = ["--allow-uncontracted", "--tenant-column", "user_id"];

impl TestDb {
    /// `command --db URL` plus `extra`.
    fn db_args(&self, command: &str, extra: &[&str]) -> Vec<String> {
        let mut out = args(&[command, "--db", &self.url]);
        out.extend(extra.iter().map(|s| (*s).to_owned()));
        out
    }

    /// Runs `AGENT_SQL` for tenant 42 as `agent-7` with `--yes` and the audit
    /// flags `audit`; returns the commit id it prints.
    fn commit_recorded(&self, audit: &[&str]) -> String {
        let mut extra = vec!["--yes", "--actor", "agent-7"];
        extra.extend_from_slice(audit);
        let out = shadowdb(&self.run_args(&extra), AGENT_SQL, &[]);
        assert_eq!(out.code, 0, "{out:?}");
        let id = out
            .stderr
            .strip_prefix(
                "Committed 3 changes to production (1 insert, 1 update, 1 delete).\nCommit id: ",
            )
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("no commit id: {}", out.stderr))
            .to_owned();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        id
    }
}

/// `text` with each line's leading time (`2026-11-23T10:00:00Z  `) checked
/// and cut off: a test cannot know it.
fn untimed(text: &str) -> String {
    text.lines()
        .map(|line| {
            let (time, rest) = line.split_at(20);
            assert!(
                chrono::DateTime::parse_from_rfc3339(time).is_ok() && rest.starts_with("  "),
                "no time: {line}"
            );
            format!("{}\n", &rest[2..])
        })
        .collect()
}

/// The audit events printed as JSON Lines.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The commit's record of `AGENT_SQL`: each row before and after, by key.
fn agent_sql_rows() -> serde_json::Value {
    serde_json::json!([
        {
            "table": "tasks", "op": "update", "key": { "id": 1 },
            "before": { "id": 1, "user_id": 42, "title": "a", "status": "todo" },
            "after": { "id": 1, "user_id": 42, "title": "a", "status": "done" }
        },
        {
            "table": "tasks", "op": "delete", "key": { "id": 2 },
            "before": { "id": 2, "user_id": 42, "title": "b", "status": "todo" },
            "after": null
        },
        {
            "table": "tasks", "op": "insert", "key": { "id": 10 },
            "before": null,
            "after": { "id": 10, "user_id": 42, "title": "new", "status": "todo" }
        }
    ])
}

/// Recorded rows without the table's resolved name, which each row has
/// (`main.tasks`, `public.tasks`, `<database>.tasks`).
fn unresolved(rows: &serde_json::Value) -> serde_json::Value {
    let mut rows = rows.clone();
    for row in rows.as_array_mut().expect("rows") {
        let resolved = row
            .as_object_mut()
            .and_then(|r| r.remove("resolved"))
            .expect("the resolved name");
        assert!(
            resolved.as_str().is_some_and(|r| r.ends_with(".tasks")),
            "{resolved}"
        );
    }
    rows
}

const LIST_HEADER: &str =
    "TIME                  COMMIT                                TENANT  ACTOR    ROWS  CHANGES\n";

/// The session's events as `audit` prints them (times cut off).
fn agent_sql_events(commit_id: &str) -> String {
    format!(
        "sandbox_opened  42  agent-7  tasks (2 rows)\n\
         statement       42  agent-7  allow  UPDATE tasks SET status = 'done' WHERE id…\n\
         statement       42  agent-7  allow  INSERT INTO tasks (id, title, status) VAL…\n\
         statement       42  agent-7  allow  DELETE FROM tasks WHERE id = 2;\n\
         diff_summary    42  agent-7  tasks: 1 insert, 1 update, 1 delete\n\
         commit          42  agent-7  commit {commit_id}: 3 rows (tasks: 1 insert, 1 update, 1 delete)\n"
    )
}

/// The rollback's report on standard error; returns the rollback id.
fn rolled_back(out: &Out, commit_id: &str) -> String {
    assert_eq!(out.code, 0, "{out:?}");
    let head = format!(
        "Rolled back commit {commit_id} (3 rows).\n  tasks  1 insert, 1 update, 1 delete\nRollback id: "
    );
    let id = out
        .stderr
        .strip_prefix(&head)
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not a rollback report: {}", out.stderr))
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    id
}

#[tokio::test]
async fn a_commit_recorded_in_production_is_audited_and_rolled_back() {
    each_db("rollback_db", |db| async move {
        db.setup().await;
        let commit_id = db.commit_recorded(&["--audit-db"]);
        assert_eq!(db.tasks().await, AFTER);

        // The trail holds exactly that commit, each row before and after.
        let out = shadowdb(
            &db.db_args("audit", &["--kind", "commit", "--format", "json"]),
            "",
            &[],
        );
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stderr, "");
        let events = json_lines(&out.stdout);
        assert_eq!(events.len(), 1, "{}", out.stdout);
        let commit = &events[0];
        assert_eq!(commit["kind"], "commit");
        assert_eq!(commit["commit_id"], commit_id.as_str());
        assert_eq!(commit["tenant"], "42");
        assert_eq!(commit["actor"], "agent-7");
        assert_eq!(commit["rows_affected"], 3);
        assert_eq!(unresolved(&commit["rows"]), agent_sql_rows());

        // The whole session, as text.
        let out = shadowdb(&db.db_args("audit", &[]), "", &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(untimed(&out.stdout), agent_sql_events(&commit_id));

        let out = shadowdb(&db.db_args("rollback", &["--list"]), "", &[]);
        assert_eq!(out.code, 0, "{out:?}");
        let (header, rows) = out.stdout.split_at(LIST_HEADER.len());
        assert_eq!(header, LIST_HEADER);
        assert_eq!(
            untimed(rows),
            format!("{commit_id}  42      agent-7  3     tasks: 1 insert, 1 update, 1 delete\n")
        );

        // No terminal and no --yes: nothing happens.
        let rollback = db.db_args("rollback", &[&commit_id, "--allow-uncontracted", "--tenant-column", "user_id"]);
        let out = shadowdb(&rollback, "", &[]);
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(
            out.stderr,
            "Not rolled back: there is no terminal to ask for confirmation \
             (pass --yes to roll back without asking).\n"
        );
        assert_eq!(db.tasks().await, AFTER);

        // The actor defaults to $USER.
        let mut yes = rollback.clone();
        yes.push("--yes".into());
        let out = shadowdb(&yes, "", &[("USER", "ops-lead")]);
        let rollback_id = rolled_back(&out, &commit_id);
        assert_eq!(db.tasks().await, BEFORE);

        let out = shadowdb(&yes, "", &[]);
        assert_eq!(out.code, 3, "{out:?}");
        assert_eq!(
            out.stderr,
            format!("error: commit {commit_id} was already rolled back (rollback {rollback_id})\n")
        );
        assert_eq!(db.tasks().await, BEFORE);

        let out = shadowdb(&db.db_args("rollback", &["--list"]), "", &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            untimed(&out.stdout[LIST_HEADER.len()..]),
            format!(
                "{commit_id}  42      agent-7  3     tasks: 1 insert, 1 update, 1 delete  \
                 rolled back by {rollback_id}\n"
            )
        );
        let out = shadowdb(&db.db_args("audit", &["--commit", &commit_id]), "", &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            untimed(&out.stdout),
            format!(
                "commit    42  agent-7   commit {commit_id}: 3 rows (tasks: 1 insert, 1 update, 1 delete)\n\
                 rollback  42  ops-lead  commit {commit_id} rolled back by {rollback_id} (3 rows)\n"
            )
        );
    })
    .await;
}

#[tokio::test]
async fn a_commit_recorded_in_a_file_is_audited_and_rolled_back() {
    each_db("rollback_file", |db| async move {
        db.setup().await;
        let path = std::env::temp_dir().join(format!("{}.jsonl", shadowdb_tests::unique_name("rollback_file")));
        let file = path.display().to_string();
        let commit_id = db.commit_recorded(&["--audit-file", &file]);
        assert_eq!(db.tasks().await, AFTER);

        let audit = |extra: &[&str]| {
            let mut a = args(&["audit", "--file", &file]);
            a.extend(extra.iter().map(|s| (*s).to_owned()));
            shadowdb(&a, "", &[])
        };
        let out = audit(&["--kind", "commit", "--format", "json"]);
        assert_eq!(out.code, 0, "{out:?}");
        let events = json_lines(&out.stdout);
        assert_eq!(events.len(), 1, "{}", out.stdout);
        assert_eq!(events[0]["commit_id"], commit_id.as_str());
        assert_eq!(unresolved(&events[0]["rows"]), agent_sql_rows());
        let out = audit(&[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(untimed(&out.stdout), agent_sql_events(&commit_id));

        // The JSON is the file's own lines.
        let out = audit(&["--format", "json"]);
        assert_eq!(out.stdout, std::fs::read_to_string(&path).unwrap());
        let session = json_lines(&out.stdout)[0]["session_id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Filters.
        let count = |extra: &[&str]| {
            let out = audit(&[&["--format", "json"], extra].concat());
            assert_eq!(out.code, 0, "{out:?}");
            json_lines(&out.stdout).len()
        };
        assert_eq!(count(&["--tenant", "42"]), 6);
        assert_eq!(count(&["--tenant", "99"]), 0);
        assert_eq!(count(&["--actor", "agent-7", "--kind", "statement"]), 3);
        assert_eq!(count(&["--session", &session]), 6);
        assert_eq!(count(&["--session", "nope"]), 0);
        assert_eq!(count(&["--since", "2000-01-01"]), 6);
        assert_eq!(count(&["--since", "2999-01-01T00:00:00Z"]), 0);
        assert_eq!(count(&["--until", "2000-01-01T00:00:00+02:00"]), 0);
        let out = audit(&["--limit", "2"]);
        assert_eq!(
            untimed(&out.stdout),
            format!(
                "diff_summary  42  agent-7  tasks: 1 insert, 1 update, 1 delete\n\
                 commit        42  agent-7  commit {commit_id}: 3 rows (tasks: 1 insert, 1 update, 1 delete)\n"
            )
        );
        let out = audit(&["--tenant", "99"]);
        assert_eq!((out.code, &*out.stdout, &*out.stderr), (0, "", "No events.\n"));

        // Production's table holds nothing: the trail is the file's.
        let out = shadowdb(&db.db_args("rollback", &["--list"]), "", &[]);
        assert_eq!((out.code, &*out.stdout, &*out.stderr), (0, "", "No commits recorded.\n"));
        let out = shadowdb(&db.db_args("rollback", &["--list", "--file", &file]), "", &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            untimed(&out.stdout[LIST_HEADER.len()..]),
            format!("{commit_id}  42      agent-7  3     tasks: 1 insert, 1 update, 1 delete\n")
        );
        let out = shadowdb(
            &db.db_args("rollback", &[&commit_id, "--yes", UNCONTRACTED[0], UNCONTRACTED[1], UNCONTRACTED[2]]),
            "",
            &[],
        );
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(
            out.stderr,
            format!(
                "error: commit {commit_id} is not in the audit trail\n\
                 hint: `shadowdb rollback --list` shows the recorded commits \
                 (a trail kept in a file needs --file FILE)\n"
            )
        );

        let mut rollback = db.db_args("rollback", &[&commit_id, "--file", &file, "--yes", "--actor", "ops-lead"]);
        rollback.extend(UNCONTRACTED.map(str::to_owned));
        let out = shadowdb(&rollback, "", &[]);
        let rollback_id = rolled_back(&out, &commit_id);
        assert_eq!(db.tasks().await, BEFORE);

        let out = shadowdb(&rollback, "", &[]);
        assert_eq!(out.code, 3, "{out:?}");
        assert_eq!(
            out.stderr,
            format!("error: commit {commit_id} was already rolled back (rollback {rollback_id})\n")
        );
        assert_eq!(db.tasks().await, BEFORE);

        // The rollback's record went to the file.
        let out = audit(&["--kind", "rollback", "--format", "json"]);
        let events = json_lines(&out.stdout);
        assert_eq!(events.len(), 1, "{}", out.stdout);
        assert_eq!(events[0]["commit_id"], commit_id.as_str());
        assert_eq!(events[0]["rollback_id"], rollback_id.as_str());
        assert_eq!(events[0]["actor"], "ops-lead");
        assert_eq!(events[0]["rows_affected"], 3);
        let _ = std::fs::remove_file(path);
    })
    .await;
}

#[tokio::test]
async fn rollback_asks_and_refuses_rows_that_moved_on() {
    each_db("rollback_prompt", |db| async move {
        db.setup().await;
        let commit_id = db.commit_recorded(&["--audit-db"]);
        let mut rollback = db.db_args("rollback", &[&commit_id]);
        rollback.extend(UNCONTRACTED.map(str::to_owned));
        let tty = [("SHADOWDB_ASSUME_TTY", "1")];

        let out = shadowdb(&rollback, "n\n", &tty);
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(
            out.stderr,
            format!("Roll back commit {commit_id} (3 rows)? [y/N] \nNot rolled back: declined.\n")
        );
        assert_eq!(db.tasks().await, AFTER);

        // A row the commit wrote changed since: nothing is rolled back.
        db.exec("UPDATE tasks SET title = 'moved on' WHERE id = 1")
            .await;
        let out = shadowdb(&rollback, "y\n", &tty);
        assert_eq!(out.code, 5, "{out:?}");
        assert!(
            out.stderr.starts_with(&format!(
                "Roll back commit {commit_id} (3 rows)? [y/N] \nerror: conflict: tasks[id=1] "
            )),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.ends_with(
                "\nhint: the commit's rows changed in production after it: nothing was rolled back \
                 (undo the later change first, or correct the rows by hand)\n"
            ),
            "{}",
            out.stderr
        );
        assert_eq!(
            db.tasks().await,
            ["1|42|moved on|done", "3|99|c|todo", "10|42|new|todo"]
        );

        db.exec("UPDATE tasks SET title = 'a' WHERE id = 1").await;
        let out = shadowdb(&rollback, "y\n", &tty);
        let head = format!("Roll back commit {commit_id} (3 rows)? [y/N] \n");
        let out = Out {
            stderr: out
                .stderr
                .strip_prefix(&head)
                .unwrap_or_else(|| panic!("no prompt: {out:?}"))
                .to_owned(),
            ..out
        };
        rolled_back(&out, &commit_id);
        assert_eq!(db.tasks().await, BEFORE);
    })
    .await;
}

#[test]
fn audit_and_rollback_usage_errors_exit_2() {
    let kinds = "[possible values: sandbox_opened, statement, diff_summary, approval_requested, \
                 approval_decided, commit, commit_failed, rollback, limit_exceeded]";
    let out = shadowdb(
        &args(&["audit", "--file", "audit.jsonl", "--kind", "commits"]),
        "",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "error: invalid value 'commits' for '--kind <KIND>'\n  {kinds}\n\n\
             For more information, try '--help'.\n"
        )
    );
    let out = shadowdb(
        &args(&["audit", "--file", "audit.jsonl", "--since", "yesterday"]),
        "",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "error: invalid value 'yesterday' for '--since <TIME>': expected an RFC 3339 time \
             (2026-11-23T10:00:00Z) or a date (2026-11-23)\n"
        ),
        "{}",
        out.stderr
    );
    let out = shadowdb(
        &args(&["audit", "--file", "a.jsonl", "--db", "sqlite::memory:"]),
        "",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    let out = shadowdb(&args(&["audit"]), "", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: give --db URL (or set DATABASE_URL), or --file FILE\n"
    );
    let out = shadowdb(
        &args(&["audit", "--file", "a.jsonl", "--limit", "0"]),
        "",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    let out = shadowdb(&args(&["rollback", "--db", "sqlite::memory:"]), "", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    let out = shadowdb(
        &args(&["rollback", "--db", "sqlite::memory:", "--list", "some-id"]),
        "",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");

    // A file given wins over DATABASE_URL; a missing file holds no events.
    let missing =
        std::env::temp_dir().join(format!("{}.jsonl", shadowdb_tests::unique_name("missing")));
    let out = shadowdb(
        &args(&["audit", "--file", &missing.display().to_string()]),
        "",
        &[("DATABASE_URL", "postgres://u:secretpw@127.0.0.1:1/x")],
    );
    assert_eq!(
        (out.code, &*out.stdout, &*out.stderr),
        (0, "", "No events.\n")
    );
    let out = shadowdb(
        &args(&[
            "audit",
            "--file",
            &missing.display().to_string(),
            "--format",
            "json",
        ]),
        "",
        &[],
    );
    assert_eq!((out.code, &*out.stdout, &*out.stderr), (0, "", ""));
}

#[test]
fn audit_and_rollback_never_print_a_password() {
    let url = "postgres://postgres:secretpw@127.0.0.1:1/x";
    let env = [("DATABASE_URL", url)];
    let runs = [
        shadowdb(&args(&["audit", "-v", "--db", url]), "", &[]),
        shadowdb(&args(&["audit", "-v"]), "", &env),
        shadowdb(&args(&["rollback", "-v", "--list"]), "", &env),
        shadowdb(
            &args(&["rollback", "-v", "--db", url, "some-id", "--yes"]),
            "",
            &[],
        ),
    ];
    for out in &runs {
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.starts_with(
                "error: production database error (connecting to postgres://postgres:***@127.0.0.1:1/x): cannot connect: "
            ),
            "{out:?}"
        );
        assert!(
            !out.stdout.contains("secretpw") && !out.stderr.contains("secretpw"),
            "{out:?}"
        );
    }
}

// ---- approvals in the database, and run's settings from shadowdb.toml ----

/// One delete: under `--profile staging` it needs approval.
const DELETE_SQL: &str = "DELETE FROM tasks WHERE id = 2;\n";

/// Production after `DELETE_SQL`.
const DELETED: &[&str] = &["1|42|a|todo", "3|99|c|todo"];

const WAITING: &str =
    "Waiting for approval in the database (request id shown by `shadowdb approvals --list`)...\n";

const STAGING_REASONS: &str = "approval_required: DELETE needs approval in profile `staging`; \
                               1 DELETE row(s) in `tasks` need approval in profile `staging`";

impl TestDb {
    /// Starts `run --yes --approve-in-db --approval-timeout SECS` of
    /// `DELETE_SQL` under staging, as agent-7, in a child process.
    fn spawn_waiting_run(&self, timeout: &str) -> std::process::Child {
        let args = self.run_args(&[
            "--yes",
            "--approve-in-db",
            "--approval-timeout",
            timeout,
            "--profile",
            "staging",
            "--actor",
            "agent-7",
        ]);
        let mut child = command(&args).spawn().expect("spawn shadowdb");
        // Written, then closed: the SQL ends there.
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(DELETE_SQL.as_bytes())
            .expect("write stdin");
        child
    }

    /// Runs `approvals --list` until a request shows; returns its id after
    /// checking the listed line.
    fn pending_request(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = shadowdb(&self.db_args("approvals", &["--list"]), "", &[]);
            assert_eq!(out.code, 0, "{out:?}");
            let mut lines = out.stdout.lines();
            if let (Some(head), Some(line)) = (lines.next(), lines.next()) {
                assert!(
                    head.starts_with("ID ") && head.ends_with("TIME LEFT  REASONS"),
                    "{head}"
                );
                assert_eq!(lines.next(), None, "one request: {}", out.stdout);
                let cells: Vec<&str> = line.split("  ").filter(|c| !c.is_empty()).collect();
                assert_eq!(cells.len(), 6, "{line}");
                assert_eq!(cells[0].len(), 36, "a UUID: {line}");
                assert!(cells[1].trim().ends_with('s'), "an age: {line}");
                assert_eq!(cells[2].trim(), "42", "{line}");
                assert_eq!(cells[3].trim(), "agent-7", "{line}");
                assert!(cells[4].trim().ends_with('s'), "time left: {line}");
                assert_eq!(cells[5].trim(), STAGING_REASONS, "{line}");
                return cells[0].to_owned();
            }
            assert_eq!(out.stderr, "No pending approvals.\n", "{out:?}");
            assert!(Instant::now() < deadline, "no approval request showed up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether production has a table of this name.
    async fn has_table(&self, name: &str) -> bool {
        let n: i64 = match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                let n = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = ?")
                    .bind(name)
                    .fetch_one(&mut c)
                    .await
                    .expect("query");
                c.close().await.expect("close");
                n
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                let n = sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
                )
                .bind(name)
                .fetch_one(&mut c)
                .await
                .expect("query");
                c.close().await.expect("close");
                n
            }
        };
        n > 0
    }
}

/// Waits for a child started by `spawn_waiting_run`.
fn finish(child: std::process::Child) -> Out {
    let out = child.wait_with_output().expect("wait");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn not_pending(id: &str) -> String {
    format!(
        "error: approval {id} is not pending (unknown, already decided or expired)\n\
         hint: `shadowdb approvals --list` shows the requests still waiting for a decision\n"
    )
}

#[tokio::test]
async fn a_run_waits_for_approval_in_the_database_and_commits_once_approved() {
    each_db("approve_db", |db| async move {
        db.setup().await;
        // Reading creates nothing.
        let out = shadowdb(&db.db_args("approvals", &["--list"]), "", &[]);
        assert_eq!(
            (out.code, &*out.stdout, &*out.stderr),
            (0, "", "No pending approvals.\n")
        );
        let out = shadowdb(&db.db_args("approvals", &["--show", "nope"]), "", &[]);
        assert_eq!(
            (out.code, &*out.stdout, &*out.stderr),
            (
                1,
                "",
                "error: no approval request nope in shadowdb_approvals\n"
            )
        );
        let out = shadowdb(
            &db.db_args("approvals", &["--approve", "nope", "--by", "reviewer"]),
            "",
            &[],
        );
        assert_eq!((out.code, &*out.stderr), (1, &*not_pending("nope")));
        assert!(!db.has_table("shadowdb_approvals").await);

        let run = db.spawn_waiting_run("30");
        let id = db.pending_request();
        assert_eq!(db.tasks().await, BEFORE, "nothing before the decision");

        let out = shadowdb(&db.db_args("approvals", &["--show", &id]), "", &[]);
        assert_eq!(out.code, 0, "{out:?}");
        let head =
            format!("Approval request {id}\n  tenant:        42\n  requested by:  agent-7\n");
        assert!(out.stdout.starts_with(&head), "{}", out.stdout);
        assert!(
            out.stdout
                .contains("  status:        pending, times out in "),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(
                "Reasons:\n\
                 \x20 - approval_required: DELETE needs approval in profile `staging`\n\
                 \x20 - 1 DELETE row(s) in `tasks` need approval in profile `staging`\n\
                 \n\
                 NEEDS APPROVAL\n"
            ),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("- tasks  DELETE  id=2"),
            "{}",
            out.stdout
        );

        let out = shadowdb(
            &db.db_args("approvals", &["--approve", &id, "--by", "reviewer"]),
            "",
            &[],
        );
        assert_eq!(
            (out.code, &*out.stdout, &*out.stderr),
            (0, "", &*format!("Approved request {id} as reviewer.\n"))
        );

        let out = finish(run);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr,
            format!("{WAITING}Committed 1 change to production (1 delete).\n")
        );
        assert!(out.stdout.starts_with("NEEDS APPROVAL\n"), "{}", out.stdout);
        assert_eq!(db.tasks().await, DELETED);

        // Decided once: no second answer, nothing pending, the decision kept.
        let out = shadowdb(
            &db.db_args("approvals", &["--deny", &id, "--reason", "late"]),
            "",
            &[],
        );
        assert_eq!((out.code, &*out.stderr), (1, &*not_pending(&id)));
        let out = shadowdb(&db.db_args("approvals", &["--list"]), "", &[]);
        assert_eq!(
            (out.code, &*out.stdout, &*out.stderr),
            (0, "", "No pending approvals.\n")
        );
        let out = shadowdb(&db.db_args("approvals", &["--show", &id]), "", &[]);
        assert!(
            out.stdout
                .contains("  status:        approved by reviewer\n"),
            "{}",
            out.stdout
        );
    })
    .await;
}

#[tokio::test]
async fn a_run_denied_in_the_database_exits_4_and_commits_nothing() {
    each_db("deny_db", |db| async move {
        db.setup().await;
        let run = db.spawn_waiting_run("30");
        let id = db.pending_request();
        let out = shadowdb(
            &db.db_args(
                "approvals",
                &[
                    "--deny",
                    &id,
                    "--reason",
                    "not on a Friday",
                    "--by",
                    "reviewer",
                ],
            ),
            "",
            &[],
        );
        assert_eq!(
            (out.code, &*out.stdout, &*out.stderr),
            (0, "", &*format!("Denied request {id} as reviewer.\n"))
        );
        let out = finish(run);
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(
            out.stderr,
            format!("{WAITING}error: approval {id} denied by reviewer: not on a Friday\n")
        );
        assert_eq!(db.tasks().await, BEFORE);
        let out = shadowdb(&db.db_args("approvals", &["--show", &id]), "", &[]);
        assert!(
            out.stdout
                .contains("  status:        denied by reviewer: not on a Friday\n"),
            "{}",
            out.stdout
        );
    })
    .await;
}

#[tokio::test]
async fn a_run_nobody_approves_times_out_with_exit_4() {
    each_db("timeout_db", |db| async move {
        db.setup().await;
        let out = finish(db.spawn_waiting_run("1"));
        assert_eq!(out.code, 4, "{out:?}");
        let id = out
            .stderr
            .strip_prefix(&format!("{WAITING}error: approval "))
            .and_then(|rest| rest.split_once(' '))
            .map(|(id, _)| id.to_owned())
            .unwrap_or_else(|| panic!("no request id: {}", out.stderr));
        assert!(
            out.stderr.ends_with(&format!(
                "error: approval {id} was not answered within 1000 ms: denied\n\
                 hint: nobody decided in time: nothing was committed (a reviewer decides with \
                 `shadowdb approvals`; --approval-timeout SECS gives them longer)\n"
            )),
            "{}",
            out.stderr
        );
        assert_eq!(db.tasks().await, BEFORE);
        // Too late to approve.
        let out = shadowdb(
            &db.db_args("approvals", &["--approve", &id, "--by", "reviewer"]),
            "",
            &[],
        );
        assert_eq!((out.code, &*out.stderr), (1, &*not_pending(&id)));
        let out = shadowdb(&db.db_args("approvals", &["--show", &id]), "", &[]);
        assert!(
            out.stdout
                .contains("  status:        timed out (not decided in time: denied)\n"),
            "{}",
            out.stdout
        );
        assert_eq!(db.tasks().await, BEFORE);
    })
    .await;
}

fn config_file(test: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.toml", shadowdb_tests::unique_name(test)));
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

#[tokio::test]
async fn a_session_limit_of_the_config_file_stops_the_run() {
    each_db("limits_cfg", |db| async move {
        db.setup().await;
        let config = config_file("limits_cfg", "[limits]\nmax_statements = 1\n");
        let out = shadowdb(
            &db.run_args(&["--yes", "--config", &config]),
            AGENT_SQL,
            &[],
        );
        assert_eq!(out.code, 3, "{out:?}");
        assert_eq!(
            out.stderr,
            "error: session limit reached: at most 1 statements per session\n\
             hint: a limit of the --config file's [limits]: nothing was committed\n"
        );
        assert_eq!(out.stdout, "");
        assert_eq!(db.tasks().await, BEFORE);
        // One statement is within it.
        let out = shadowdb(
            &db.run_args(&["--yes", "--config", &config]),
            "UPDATE tasks SET status = 'done' WHERE id = 1",
            &[],
        );
        assert_eq!(out.code, 0, "{out:?}");
        let _ = std::fs::remove_file(config);
    })
    .await;
}

#[tokio::test]
async fn approval_and_audit_settings_of_the_config_file_apply_and_flags_win() {
    each_db("approval_cfg", |db| async move {
        db.setup().await;
        let dir = std::env::temp_dir().join(shadowdb_tests::unique_name("approval_cfg"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let config = dir.join("shadowdb.toml");
        std::fs::write(
            &config,
            "default_profile = \"staging\"\n\n\
             [audit]\nfile = \"trail.jsonl\"\nhash_sql = true\n\n\
             [approval]\nin_database = true\ntimeout = \"1s\"\n",
        )
        .expect("write config");
        let config = config.display().to_string();

        // The file's approval in the database, and its timeout.
        let out = shadowdb(
            &db.run_args(&["--yes", "--config", &config]),
            DELETE_SQL,
            &[],
        );
        assert_eq!(out.code, 4, "{out:?}");
        assert!(out.stderr.starts_with(WAITING), "{}", out.stderr);
        assert!(
            out.stderr
                .contains(" was not answered within 1000 ms: denied\n"),
            "{}",
            out.stderr
        );
        // The trail went to the file beside the config, without SQL text.
        let trail = std::fs::read_to_string(dir.join("trail.jsonl")).expect("the audit file");
        let events = json_lines(&trail);
        let statement = events
            .iter()
            .find(|e| e["kind"] == "statement")
            .expect("a statement event");
        assert!(statement["sql"].is_null(), "{statement}");
        assert_eq!(statement["sql_sha256"].as_str().map(str::len), Some(64));
        assert!(events.iter().any(|e| e["kind"] == "approval_requested"));

        // --no-approve-in-db: back to --approved-by; --approval-timeout wins over the file.
        let out = shadowdb(
            &db.run_args(&["--yes", "--config", &config, "--no-approve-in-db"]),
            DELETE_SQL,
            &[],
        );
        assert_eq!(out.code, 4, "{out:?}");
        assert!(
            out.stderr
                .starts_with("Not committed: the change needs approval"),
            "{}",
            out.stderr
        );
        let run = db.spawn_waiting_run("30");
        let id = db.pending_request();
        let out = shadowdb(
            &db.db_args("approvals", &["--approve", &id, "--by", "reviewer"]),
            "",
            &[],
        );
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(finish(run).code, 0);
        assert_eq!(db.tasks().await, DELETED);
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

#[test]
fn unknown_keys_of_the_config_file_name_the_key_line_and_column() {
    let config = config_file(
        "bad_cfg",
        "default_profile = \"dev\"\n\n[audit]\ndatabase = true\nfiel = \"audit.jsonl\"\n",
    );
    let expected = format!(
        "error: {config}:5:1: in [audit]: unknown field `fiel`, expected one of `file`, \
         `database`, `hash_sql`, `secret_patterns`, `mask_literals`\n"
    );
    let run = args(&[
        "run",
        "--db",
        "sqlite::memory:",
        "--tenant",
        "42",
        "--table",
        "tasks",
        "--config",
        &config,
    ]);
    for argv in [run, args(&["policy", "--config", &config])] {
        let out = shadowdb(&argv, "SELECT 1", &[]);
        assert_eq!((out.code, &*out.stdout, &*out.stderr), (1, "", &*expected));
    }
    std::fs::write(&config, "[limits]\nmax_session = \"forever\"\n").expect("write");
    let out = shadowdb(&args(&["policy", "--config", &config]), "", &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "error: {config}:2:15: `max_session` in [limits] is not a duration"
        )),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_file(config);
}

#[test]
fn approvals_usage_errors_exit_2() {
    for argv in [
        args(&["approvals", "--db", "sqlite::memory:"]),
        args(&[
            "approvals",
            "--db",
            "sqlite::memory:",
            "--list",
            "--approve",
            "x",
        ]),
        args(&["approvals", "--db", "sqlite::memory:", "--deny", "x"]),
        args(&[
            "approvals",
            "--db",
            "sqlite::memory:",
            "--list",
            "--by",
            "me",
        ]),
        args(&[
            "run",
            "--db",
            "sqlite::memory:",
            "--tenant",
            "1",
            "--table",
            "t",
            "--approve-in-db",
            "--approved-by",
            "me",
        ]),
        args(&[
            "run",
            "--db",
            "sqlite::memory:",
            "--tenant",
            "1",
            "--table",
            "t",
            "--approve-in-db",
            "--approval-timeout",
            "0",
        ]),
    ] {
        let out = shadowdb(&argv, "", &[]);
        assert_eq!(out.code, 2, "{argv:?}: {out:?}");
    }
}

#[test]
fn approvals_never_print_a_password() {
    let url = "postgres://postgres:secretpw@127.0.0.1:1/x";
    let runs = [
        shadowdb(&args(&["approvals", "-v", "--db", url, "--list"]), "", &[]),
        shadowdb(
            &args(&["approvals", "-v", "--approve", "some-id"]),
            "",
            &[("DATABASE_URL", url)],
        ),
    ];
    for out in &runs {
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.starts_with(
                "error: production database error (connecting to postgres://postgres:***@127.0.0.1:1/x): cannot connect: "
            ),
            "{out:?}"
        );
        assert!(
            !out.stdout.contains("secretpw") && !out.stderr.contains("secretpw"),
            "{out:?}"
        );
    }
}

/// Every always-true spelling the issue found, and ones no folding knows,
/// through the binary with `--yes`: blocked (exit 3), production untouched.
#[tokio::test]
async fn always_true_wheres_exit_3_and_commit_nothing() {
    each_db("always_true", |db| async move {
        db.setup().await;
        let forms = testdb::ALWAYS_TRUE
            .iter()
            .chain(&["user_id = 1", "id IN (SELECT id FROM tasks)"]);
        for form in forms {
            for (sql, rule) in testdb::whole_table_writes(form, ";") {
                let out = shadowdb(&db.run_args(&["--yes"]), &sql, &[]);
                assert_eq!(out.code, 3, "{sql}: {out:?}");
                assert!(
                    out.stderr
                        .starts_with(&format!("error: blocked by policy rule `{rule}`: ")),
                    "{sql}: {}",
                    out.stderr
                );
                assert_eq!(out.stdout, "");
                assert_eq!(db.tasks().await, BEFORE, "{sql}");
            }
        }
        // Part of the table is a real WHERE, and commits.
        let out = shadowdb(
            &db.run_args(&["--yes"]),
            "UPDATE tasks SET status = 'done' WHERE id IN (1, 3);",
            &[],
        );
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            db.tasks().await,
            ["1|42|a|done", "2|42|b|todo", "3|99|c|todo"]
        );
    })
    .await;
}

/// A NUL byte in a comment: SQLite would stop there and delete every row.
/// The whole script is refused before anything runs, and the audit file
/// records nothing of it as allowed.
#[tokio::test]
async fn a_nul_byte_exits_3_and_records_no_allowed_statement() {
    each_db("nul", |db| async move {
        db.setup().await;
        for (sql, at) in [
            ("DELETE FROM tasks -- note\0\nWHERE id = 1;", 25),
            ("DELETE FROM tasks /* x\0 */ WHERE id = 1;", 22),
        ] {
            let audit = std::env::temp_dir().join(format!(
                "{}.jsonl",
                shadowdb_tests::unique_name("nul_audit")
            ));
            let audit_arg = audit.display().to_string();
            let out = shadowdb(
                &db.run_args(&["--yes", "--audit-file", &audit_arg]),
                sql,
                &[],
            );
            assert_eq!(out.code, 3, "{out:?}");
            assert_eq!(
                out.stderr,
                format!(
                    "error: refused by the sandbox: a NUL byte at byte {at}: SQLite stops \
                     reading there, so the whole script is refused\n"
                )
            );
            assert_eq!(db.tasks().await, BEFORE);
            let trail = std::fs::read_to_string(&audit).expect("the audit file");
            let statements: Vec<serde_json::Value> = json_lines(&trail)
                .into_iter()
                .filter(|e| e["kind"] == "statement")
                .collect();
            assert!(!statements.is_empty(), "{trail}");
            for s in &statements {
                assert_eq!(s["decision"], "block", "{s}");
            }
            let _ = std::fs::remove_file(audit);
        }
    })
    .await;
}
