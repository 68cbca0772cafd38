//! Every resource bound of the sandbox, through the library and through the
//! `shadowdb` binary: memory (under a lowered address-space limit, so an
//! allocation the budget does not stop aborts the process), time inside one
//! function call, time across a session, result sizes; and the output
//! hygiene of the error path (control characters, passwords in URLs).
//!
//! Every sandbox of this binary has a small memory budget: SQLite's heap
//! limit is process-wide, the sum of the open sandboxes' budgets.

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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shadowdb::{Cut, Error, Limits, Refusal, ShadowDb};
use sqlx::Executor as _;
use testdb::{Kind, TestDb};

const TASKS: &str = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
                     title TEXT NOT NULL, status TEXT NOT NULL);
     INSERT INTO tasks VALUES (1, 42, 'a', 'todo'), (2, 42, 'b', 'todo'), (3, 99, 'c', 'todo')";

const ROWS: &[&str] = &["1|42|a|todo", "2|42|b|todo", "3|99|c|todo"];

async fn tasks_db(test: &str) -> TestDb {
    let db = TestDb::new(Kind::Sqlite, test).await.unwrap();
    let shadowdb::prod::Production::Sqlite(pool) = &db.prod else {
        unreachable!()
    };
    pool.execute(TASKS).await.unwrap();
    db
}

/// Production's tasks as `id|user_id|title|status`, read with a connection
/// of its own.
async fn production_rows(db: &TestDb) -> Vec<String> {
    testdb::sqlite_tasks(&db.url).await
}

/// A budget of `memory` MiB, `results` MiB of it for results.
fn budget(memory: u64, results: usize) -> Limits {
    Limits {
        memory_budget: memory << 20,
        max_result_bytes: results << 20,
        ..Limits::default()
    }
}

/// A small budget: 64 MiB, 8 MiB of it for results.
fn small() -> Limits {
    budget(64, 8)
}

/// Opens tenant 42's tasks of `db` under `limits`.
async fn try_open(db: &TestDb, limits: Limits) -> Result<ShadowDb, Error> {
    ShadowDb::builder(db.prod.clone())
        .table("tasks")
        .tenant(42_i64)
        .allow_uncontracted(true)
        .tenant_column("tasks", "user_id")
        .limits(limits)
        .open()
        .await
}

async fn open(db: &TestDb, limits: Limits) -> ShadowDb {
    try_open(db, limits).await.unwrap()
}

const UNION_ALL_BLOBS: &str = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r \
                               WHERE i<9999) SELECT zeroblob(16000000) FROM r;";
const UNION_BLOBS: &str = "WITH RECURSIVE r(i, b) AS (SELECT 1, zeroblob(1000000) UNION \
                           SELECT i+1, zeroblob(1000000) FROM r WHERE i<9999) SELECT count(*) FROM r;";
const ORDER_BY_BLOBS: &str = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r \
                              WHERE i<9999) SELECT i FROM r ORDER BY zeroblob(1000000) || i;";
const GROWTH: &str = "INSERT INTO tasks (id, title, status) WITH RECURSIVE r(i) AS (SELECT 100 \
                      UNION ALL SELECT i+1 FROM r WHERE i<100000) \
                      SELECT i, printf('%.*c', 1000000, 'x'), 'todo' FROM r;";
const SLOW_LIKE: &str =
    "SELECT printf('%.*c',1500000,'a') LIKE '%'||printf('%.*c',30000,'a')||'b';";
const SLOW_INSTR: &str =
    "SELECT instr(printf('%.*c',16000000,'a'), printf('%.*c',128000,'a')||'b');";

// ---- the library ----------------------------------------------------------

#[tokio::test]
async fn memory_bombs_end_with_the_memory_limit_and_leave_the_sandbox_usable() {
    let db = tasks_db("bounds_memory").await;
    let sdb = open(&db, small()).await;
    for sql in [UNION_BLOBS, ORDER_BY_BLOBS, GROWTH] {
        let err = sdb.execute(sql, &[]).await.unwrap_err();
        assert!(
            matches!(&err, Error::MemoryLimit { limit, bytes: 67_108_864 } if limit == "memory_budget"),
            "{sql}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the sandbox reached its memory limit `memory_budget` (67108864 bytes): what went past it was undone"
        );
    }
    // The statements were undone; the sandbox still works.
    assert!(sdb.diff().unwrap().is_empty());
    sdb.execute("UPDATE tasks SET status = 'done' WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(sdb.diff().unwrap().len(), 1);
    assert_eq!(production_rows(&db).await, ROWS);
}

#[tokio::test]
async fn results_are_cut_at_the_byte_and_row_limits_with_a_note() {
    let db = tasks_db("bounds_results").await;
    let sdb = open(
        &db,
        Limits {
            max_result_rows: 1,
            ..small()
        },
    )
    .await;
    let blobs = sdb.query(UNION_ALL_BLOBS, &[]).await.unwrap();
    assert_eq!(blobs.cut, Some(Cut::Bytes { limit: 8 << 20 }));
    assert!(blobs.rows.is_empty(), "{}", blobs.rows.len());
    let rows = sdb
        .query("SELECT id FROM tasks ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.cut, Some(Cut::Rows { limit: 1 }));
    assert_eq!(rows.rows, vec![vec![safemodel::Value::Int(1)]]);
    let whole = sdb
        .query("SELECT id FROM tasks ORDER BY id LIMIT 1", &[])
        .await
        .unwrap();
    assert_eq!((whole.rows.len(), whole.cut), (1, None));
}

#[tokio::test]
async fn single_expensive_calls_end_at_once() {
    let db = tasks_db("bounds_calls").await;
    let sdb = open(
        &db,
        Limits {
            statement_time: Duration::from_secs(2),
            ..small()
        },
    )
    .await;
    let started = Instant::now();
    let err = sdb.query(SLOW_LIKE, &[]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused(Refusal::PatternTooLong { limit: 10_000 })
        ),
        "{err:?}"
    );
    let err = sdb.query(SLOW_INSTR, &[]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Refused(Refusal::TooMuchWork { function, limit: 67_108_864 }) if function == "instr"),
        "{err:?}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[tokio::test]
async fn the_session_time_limit_holds_across_statements() {
    let db = tasks_db("bounds_session").await;
    let sdb = open(
        &db,
        Limits {
            statement_time: Duration::from_millis(300),
            session_statement_time: Duration::from_secs(1),
            ..small()
        },
    )
    .await;
    let slow =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
    let started = Instant::now();
    let mut timeouts = 0;
    let err = loop {
        match sdb.query(slow, &[]).await {
            Err(Error::Timeout { limit_ms: 300 }) => timeouts += 1,
            Err(e) => break e,
            Ok(r) => panic!("{r:?}"),
        }
        assert!(timeouts < 10);
    };
    assert_eq!(timeouts, 3);
    assert!(
        matches!(err, Error::SessionTimeLimit { limit_ms: 1000 }),
        "{err:?}"
    );
    assert!(matches!(
        sdb.query("SELECT 1", &[]).await,
        Err(Error::SessionTimeLimit { limit_ms: 1000 })
    ));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[tokio::test]
async fn a_tenant_larger_than_the_budget_is_refused_at_the_clone() {
    let db = tasks_db("bounds_clone").await;
    let shadowdb::prod::Production::Sqlite(pool) = &db.prod else {
        unreachable!()
    };
    pool.execute(
        "INSERT INTO tasks WITH RECURSIVE r(i) AS (SELECT 100 UNION ALL SELECT i+1 FROM r \
         WHERE i < 130) SELECT i, 42, printf('%.*c', 1000000, 'x'), 'todo' FROM r",
    )
    .await
    .unwrap();
    let err = try_open(&db, budget(24, 4)).await.unwrap_err();
    assert!(
        matches!(&err, Error::MemoryLimit { limit, bytes: 25_165_824 } if limit == "memory_budget"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_budget_too_small_for_its_results_is_a_configuration_error() {
    let db = tasks_db("bounds_config").await;
    let err = try_open(&db, budget(20, 8)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "memory_budget must be at least max_result_bytes + 16 MiB (20971520 and 8388608 bytes given)"
    );
}

/// The library's errors show what the agent wrote with its control
/// characters escaped, whichever wall or message quotes it.
#[tokio::test]
async fn errors_of_the_library_escape_the_agents_control_characters() {
    let db = tasks_db("bounds_escape").await;
    let sdb = open(&db, small()).await;
    let err = sdb
        .execute("UPDATE tasks SET title = 'x' WHERE \"\u{1b}[2J\" = 1", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Statement { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "statement failed in the sandbox: no such column: \"\\u{1b}[2J\" - should this be a \
         string literal in single-quotes? in UPDATE tasks SET title = 'x' WHERE \"\\u{1b}[2J\" = 1 \
         at offset 35"
    );
    let refused = Error::Refused(Refusal::OutsideScope("\u{1b}]0;pwned\u{7}".to_owned()));
    assert_eq!(
        refused.to_string(),
        "refused by the sandbox: table `\\u{1b}]0;pwned\\u{7}` is outside the scope"
    );
    assert_eq!(production_rows(&db).await, ROWS);
}

// ---- the binary -----------------------------------------------------------

#[derive(Debug)]
struct Out {
    /// `None` when a signal ended the process.
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn temp_file(test: &str, ext: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "shadowdb_{test}_{}.{ext}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// `shadowdb run` on `db` for tenant 42, with `config` as its --config
/// file, under an address-space limit of `address_space` bytes when given.
fn run(
    db: &TestDb,
    test: &str,
    config: &str,
    sql: &str,
    extra: &[&str],
    address_space: Option<u64>,
) -> Out {
    let config = temp_file(test, "toml", config);
    let sql = temp_file(test, "sql", sql);
    let mut cmd = tasks_run(db, address_space);
    cmd.arg("--config")
        .arg(&config)
        .arg("--sql")
        .arg(&sql)
        .args(extra);
    let started = Instant::now();
    let out = cmd.output().expect("spawn shadowdb");
    let took = started.elapsed();
    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_file(sql);
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    }
}

const LIMIT_HINT: &str = "hint: a limit of the --config file's [limits]: nothing was committed\n";

/// A memory budget of 256 MiB, as a --config file.
const BUDGET_256: &str = "[limits]\nmemory_budget = \"256 MiB\"\n";

/// Each of `bombs` through the binary with `--yes`, under an address space
/// of 512 MiB and [`BUDGET_256`], exits 3 with the memory limit's error;
/// `what` starts each failure message.
fn bombs_exit_3(db: &TestDb, bombs: &[&str], what: &str) {
    for sql in bombs {
        let out = run(db, "mem", BUDGET_256, sql, &["--yes"], Some(512 << 20));
        assert_eq!(out.code, Some(3), "{what}{sql}: {out:?}");
        assert_eq!(
            out.stderr,
            format!(
                "error: the sandbox reached its memory limit `memory_budget` (268435456 bytes): \
                 what went past it was undone\n{LIMIT_HINT}"
            ),
            "{what}{sql}"
        );
    }
}

/// Under an address space of 512 MiB, a budget of 256 MiB: every bomb ends
/// with the memory limit's error and exit 3, none with a signal, and
/// production is untouched.
#[tokio::test]
async fn memory_bombs_exit_3_under_a_lowered_address_space() {
    let db = tasks_db("bounds_cli_memory").await;
    bombs_exit_3(&db, &[UNION_BLOBS, ORDER_BY_BLOBS, GROWTH], "");
    // The observed bomb: its rows are cut at the result budget, with a note.
    let out = run(
        &db,
        "mem",
        BUDGET_256,
        UNION_ALL_BLOBS,
        &["--dry-run"],
        Some(512 << 20),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stderr,
        "note: statement 1: the result was cut at 33554432 bytes (max_result_bytes): \
         select fewer or smaller values\nNothing to commit.\n"
    );
    assert_eq!(production_rows(&db).await, ROWS);
}

/// The same on PostgreSQL and MariaDB production databases: what the sandbox
/// holds does not depend on where the rows came from. The tenant's rows carry
/// a non-ASCII title under a case-insensitive MariaDB collation.
#[tokio::test]
async fn memory_bombs_exit_3_on_server_databases() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let Some(db) = TestDb::new(kind, "bounds_cli_server").await else {
            continue;
        };
        let ddl = match kind {
            Kind::Postgres => {
                "CREATE TABLE tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, \
                 title TEXT NOT NULL, status TEXT NOT NULL)"
            }
            _ => {
                "CREATE TABLE tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, \
                 title VARCHAR(200) NOT NULL, status VARCHAR(20) NOT NULL) \
                 COLLATE utf8mb4_general_ci"
            }
        };
        let insert = "INSERT INTO tasks VALUES (1, 42, 'Ä', 'todo'), (2, 42, 'b', 'todo'), (3, 99, 'c', 'todo')";
        db.exec(ddl).await;
        db.exec(insert).await;
        bombs_exit_3(&db, &[UNION_BLOBS, GROWTH], &format!("{kind:?} "));
        assert_eq!(
            db.tasks().await,
            ["1|42|Ä|todo", "2|42|b|todo", "3|99|c|todo"],
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn expensive_calls_and_long_sessions_end_within_their_limits() {
    let db = tasks_db("bounds_cli_time").await;
    let config = "[limits]\nstatement_time = \"2s\"\n";
    let out = run(&db, "time", config, SLOW_LIKE, &["--dry-run"], None);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stderr,
        "error: refused by the sandbox: a LIKE or GLOB pattern longer than 10000 bytes\n"
    );
    assert!(out.took < Duration::from_secs(20), "{out:?}");
    let out = run(&db, "time", config, SLOW_INSTR, &["--dry-run"], None);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stderr,
        "error: refused by the sandbox: instr() on inputs whose lengths multiply to more than \
         67108864 (work limit of one call)\n"
    );
    assert!(out.took < Duration::from_secs(20), "{out:?}");

    // Found beside the observations: json_patch of two objects of 100,000
    // members ran 404 s in one call.
    let patch = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i<100000), \
                 a(doc) AS (SELECT json_group_object('k'||i, i) FROM r) \
                 SELECT length(json_patch(a.doc, a.doc)) FROM a;";
    let out = run(&db, "time", config, patch, &["--dry-run"], None);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stderr,
        "error: refused by the sandbox: json_patch() on inputs whose lengths multiply to more \
         than 67108864 (work limit of one call)\n"
    );
    assert!(out.took < Duration::from_secs(20), "{out:?}");

    // Ten statements, each well within its own limit, against a session
    // limit of 2 s: the session's limit ends the run, not the tenth statement.
    let config = "[limits]\nstatement_time = \"15s\"\nsession_statement_time = \"2s\"\n";
    let one = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 2000000) \
               SELECT count(*) FROM c;\n";
    let out = run(&db, "time", config, &one.repeat(10), &["--yes"], None);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "error: the session's statements ran 2000 ms in total (session time limit): \
             no more statements run\n{LIMIT_HINT}"
        )
    );
    assert!(out.took < Duration::from_secs(20), "{out:?}");
    assert_eq!(production_rows(&db).await, ROWS);
}

/// An error quoting the agent's SQL shows its control characters escaped:
/// no terminal escape (`ESC[2J`, an OSC title) reaches standard error.
#[tokio::test]
async fn errors_quoting_the_agents_sql_escape_control_characters() {
    let db = tasks_db("bounds_cli_escape").await;
    let sql = "UPDATE tasks SET title = 'x' WHERE \"\u{1b}[2J\u{1b}]0;pwned\u{7}\" = 1;";
    let out = run(&db, "escape", "", sql, &["--dry-run"], None);
    assert!(!out.stderr.contains('\u{1b}'), "{out:?}");
    assert!(!out.stderr.contains('\u{7}'), "{out:?}");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "error: statement failed in the sandbox: no such column: \"\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\" \
         - should this be a string literal in single-quotes? in UPDATE tasks SET title = 'x' \
         WHERE \"\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\" = 1; at offset 35\n"
    );
    assert_eq!(production_rows(&db).await, ROWS);
}

/// A connection error of the library names the URL without its password.
#[tokio::test]
async fn connection_errors_of_the_library_show_no_password() {
    // Each URL fails at once (a bad option, a bad port), not after the
    // pool's 30 s of retries.
    for (url, shown) in [
        (
            "postgres://root@127.0.0.1:1/db?password=SECRET&sslmode=bogus",
            "postgres://root@127.0.0.1:1/db?password=***&sslmode=bogus",
        ),
        (
            "postgres://root:SE/CRET@127.0.0.1:1/db",
            "postgres://***@127.0.0.1:1/db",
        ),
        (
            "mysql://root:SECRET@127.0.0.1:1/db?ssl-mode=bogus",
            "mysql://root:***@127.0.0.1:1/db?ssl-mode=bogus",
        ),
    ] {
        let err = shadowdb::prod::Production::connect(url).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("CRET"), "{text}");
        assert!(
            err.to_string().starts_with(&format!(
                "production database error (connecting to {shown})"
            )),
            "{err}"
        );
    }
}

/// The `shadowdb` binary, under `prlimit --as=BYTES` when `address_space`
/// is given, with no database or profile from the environment and nothing
/// on standard input.
fn binary(address_space: Option<u64>) -> Command {
    let bin = env!("CARGO_BIN_EXE_shadowdb");
    let mut cmd = match address_space {
        Some(bytes) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--as={bytes}")).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.env_remove("DATABASE_URL")
        .env_remove("SHADOWDB_PROFILE")
        .stdin(Stdio::null());
    cmd
}

/// `shadowdb run` on `db`'s tasks for tenant 42 (see [`binary`]); the
/// caller adds the rest.
fn tasks_run(db: &TestDb, address_space: Option<u64>) -> Command {
    let mut cmd = binary(address_space);
    cmd.args(testdb::run_args(&db.url));
    cmd
}

/// Runs `shadowdb` with `args`, nothing else.
fn shadowdb(args: &[&str]) -> Out {
    let started = Instant::now();
    let out = binary(None).args(args).output().expect("spawn shadowdb");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// A password is never printed, whichever form of URL holds it: on a
/// connection failure and with `-v` on success.
#[test]
fn passwords_in_every_url_form_are_never_printed() {
    let cases = [
        (
            "postgres://root@127.0.0.1:1/db?password=SECRET",
            "postgres://root@127.0.0.1:1/db?password=***",
        ),
        (
            "postgres://root:SE?CRET@127.0.0.1:1/db",
            "postgres://***@127.0.0.1:1/db",
        ),
        (
            "postgres://root:SE/CRET@127.0.0.1:1/db",
            "postgres://***@127.0.0.1:1/db",
        ),
        (
            "postgres://root:SE%40CRET@127.0.0.1:1/db?sslpassword=SECRET2",
            "postgres://root:***@127.0.0.1:1/db?sslpassword=***",
        ),
        (
            "mysql://root@127.0.0.1:1/db?password=SECRET",
            "mysql://root@127.0.0.1:1/db?password=***",
        ),
    ];
    for (url, shown) in cases {
        let out = shadowdb(&[
            "run", "--db", url, "--tenant", "1", "--table", "t", "-v", "--yes",
        ]);
        for secret in ["SECRET", "CRET", "SE@"] {
            assert!(!out.stderr.contains(secret), "{url}: {out:?}");
            assert!(!out.stdout.contains(secret), "{url}: {out:?}");
        }
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr.starts_with(&format!(
                "error: production database error (connecting to {shown}): "
            )),
            "{url}: {out:?}"
        );
    }
}

/// With `-v`, a successful connection names the URL, its password removed.
#[test]
fn verbose_output_of_a_real_connection_shows_no_password() {
    let Ok(base) = std::env::var(testdb::POSTGRES_ENV) else {
        eprintln!("skipped PostgreSQL: {} is not set", testdb::POSTGRES_ENV);
        return;
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}password=SECRET");
    let out = shadowdb(&["schema", "-v", "--db", &url, "--table", "sdb_no_such_table"]);
    assert!(!out.stderr.contains("SECRET"), "{out:?}");
    assert!(
        out.stderr.contains("password=***"),
        "the URL is shown, its password removed: {out:?}"
    );
}

// Hostile statements against the sandbox's bounds that the first round of
// tests did not try: work SQLite does while it prepares a statement (a
// common table expression expanded into every place that names it), where
// neither the time limit's progress handler nor the policy's parser has
// run yet.
mod preparing_and_json {
    use super::*;

    /// A chain of 25 common table expressions, each naming the one before
    /// twice: SQLite expands each name where it is used, 2^25 copies of the
    /// first, while it prepares the statement. `NOT MATERIALIZED` (which the
    /// policy's parser cannot read) or scalar subqueries keep it from
    /// materializing them.
    fn expanding_cte(not_materialized: bool) -> String {
        let hint = if not_materialized {
            "NOT MATERIALIZED "
        } else {
            ""
        };
        let mut parts = vec!["a0 AS (SELECT 1 x)".to_owned()];
        for i in 1..26 {
            parts.push(format!(
                "a{i} AS {hint}(SELECT (SELECT x FROM a{p}) + (SELECT x FROM a{p}) AS x)",
                p = i - 1
            ));
        }
        format!("WITH {} SELECT x FROM a25;", parts.join(", "))
    }

    const MEMORY_ERROR: &str = "the sandbox reached its memory limit `memory_budget` (67108864 bytes): \
                                what went past it was undone";

    /// Preparing the statement reaches the budget: the error is the budget's,
    /// not the policy's verdict on text SQLite never could prepare, and the
    /// sandbox stays usable.
    #[tokio::test]
    async fn a_statement_that_cannot_be_prepared_within_the_budget_is_a_memory_limit() {
        let db = tasks_db("hostile_prepare_memory").await;
        let shadow = open(&db, small()).await;
        for hinted in [true, false] {
            let err = shadow
                .execute(&expanding_cte(hinted), &[])
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::MemoryLimit { limit, bytes: 67_108_864 } if limit == "memory_budget"),
                "{hinted}: {err:?}"
            );
            assert_eq!(err.to_string(), MEMORY_ERROR);
        }
        let rows = shadow
            .query("SELECT count(*) FROM tasks", &[])
            .await
            .unwrap();
        assert_eq!(rows.rows, vec![vec![safemodel::Value::Int(2)]]);
        drop(shadow);
        assert_eq!(production_rows(&db).await, ROWS);
    }

    /// Through the binary under an address space of 512 MiB and a budget of
    /// 256 MiB: exit 3 with the budget's error, no signal, and not the policy's
    /// `too_complex` (its deep check found no memory for its thread).
    #[tokio::test]
    async fn the_binary_reports_the_budget_when_preparing_reaches_it() {
        let db = tasks_db("hostile_prepare_cli").await;
        let config = temp_file(
            "hostile_prepare_cli",
            "toml",
            "[limits]\nmemory_budget = \"256 MiB\"\n",
        );
        for hinted in [true, false] {
            let sql = temp_file("hostile_prepare_cli", "sql", &expanding_cte(hinted));
            let out = tasks_run(&db, Some(512_u64 << 20))
                .args(["--yes", "--config"])
                .arg(&config)
                .arg("--sql")
                .arg(&sql)
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&sql);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{hinted}: {stderr}");
            assert_eq!(
                stderr,
                "error: the sandbox reached its memory limit `memory_budget` (268435456 bytes): \
                 what went past it was undone\n\
                 hint: a limit of the --config file's [limits]: nothing was committed\n",
                "{hinted}"
            );
        }
        let _ = std::fs::remove_file(&config);
        assert_eq!(production_rows(&db).await, ROWS);
    }

    /// Characters JSON leaves as they are (DEL, C1 controls such as NEL, bidi
    /// overrides, line separators, tag characters) do not reach a terminal raw
    /// through `--format json` or the audit file: they are written as `\uXXXX`,
    /// and the JSON's values are exactly the agent's text.
    #[tokio::test]
    async fn json_output_and_the_audit_file_escape_what_json_leaves_raw() {
        let db = tasks_db("hostile_json_controls").await;
        let title = "r\u{7f}e\u{85}d\u{9b}31m\u{202e}x\u{2028}y\u{e0041}";
        let dir = std::env::temp_dir();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let audit = dir.join(format!("shadowdb_hostile_{id}.jsonl"));
        let sql = temp_file(
            "hostile_json_controls",
            "sql",
            &format!("UPDATE tasks SET title = '{title}' WHERE id = 1;"),
        );
        let out = tasks_run(&db, None)
            .args(["--dry-run", "--format", "json", "--audit-file"])
            .arg(&audit)
            .arg("--sql")
            .arg(&sql)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&sql);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let audit_text = std::fs::read_to_string(&audit).unwrap();
        let _ = std::fs::remove_file(&audit);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let raw = |text: &str| {
            text.chars()
                .filter(|&c| {
                    (c.is_control() && !matches!(c, '\n' | '\t'))
                        || matches!(c, '\u{2028}'..='\u{202e}' | '\u{e0000}'..='\u{e007f}')
                })
                .collect::<Vec<char>>()
        };
        assert_eq!(raw(&stdout), Vec::<char>::new(), "{stdout}");
        assert_eq!(raw(&stderr), Vec::<char>::new(), "{stderr}");
        assert_eq!(raw(&audit_text), Vec::<char>::new(), "{audit_text}");
        let review: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(review["changes"][0]["new"]["title"], title);
        assert!(stdout.contains(r"r\u007fe\u0085d\u009b31m\u202ex\u2028y\udb40\udc41"));
        let statement = audit_text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e.to_string().contains("UPDATE tasks"))
            .unwrap();
        assert!(statement.to_string().contains(title), "{statement}");
        assert_eq!(production_rows(&db).await, ROWS);
    }

    /// SQLite renders a JSONB blob as JSON text by recursion without a depth
    /// limit (`jsonTranslateBlobToText`; only its validity check,
    /// `json_valid(x, 8)`, stops at 1,000 levels). A blob of a million nested
    /// arrays (200,000 here), built in linear time with `group_concat` and `unhex`,
    /// overflowed the stack and aborted the process (SIGABRT) through
    /// `json()`, `json_extract`, the `value` column of `json_each` and
    /// `json_group_array`. Now every JSON function checks the depth of its
    /// BLOB arguments first, and `json_each`/`json_tree` are refused: the
    /// run ends with the refusal (exit 3) and production is untouched.
    #[tokio::test]
    async fn deeply_nested_jsonb_is_refused_not_a_stack_overflow() {
        let db = tasks_db("hostile_deep_jsonb").await;
        let deep = "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i<200000), \
                    h(b) AS (SELECT unhex(group_concat(printf('eb%08x', 5*(i-1)+1), '') || '0b') \
                    FROM (SELECT i FROM k ORDER BY i DESC))";
        for tail in [
            "SELECT length(json(b)) FROM h;",
            "SELECT json_extract(b, '$[0][0]') IS NULL FROM h;",
            "SELECT length(value) FROM h, json_each(h.b);",
            "SELECT length(json_group_array(b)) FROM h;",
        ] {
            let sql = temp_file("hostile_deep_jsonb", "sql", &format!("{deep} {tail}"));
            let out = tasks_run(&db, None)
                .args(["--dry-run", "--sql"])
                .arg(&sql)
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&sql);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{tail}: {stderr}");
            let why = if tail.contains("json_each") {
                "json_each() is not available in the sandbox"
            } else {
                "on JSONB nested deeper than 1000 levels"
            };
            assert!(stderr.contains(why), "{tail}: {stderr}");
        }
        assert_eq!(production_rows(&db).await, ROWS);
    }
}
