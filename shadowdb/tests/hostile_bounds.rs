//! Hostile statements against the sandbox's bounds that the first round of
//! tests did not try: work SQLite does while it prepares a statement (a
//! common table expression expanded into every place that names it), where
//! neither the time limit's progress handler nor the policy's parser has
//! run yet.

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod testdb;

use std::process::{Command, Stdio};

use shadowdb::{Error, Limits, ShadowDb};
use sqlx::Executor as _;
use testdb::{Kind, TestDb};

const TASKS: &str = "CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
                     title TEXT NOT NULL, status TEXT NOT NULL);
     INSERT INTO tasks VALUES (1, 42, 'a', 'todo'), (2, 42, 'b', 'todo'), (3, 99, 'c', 'todo')";

async fn tasks_db(test: &str) -> TestDb {
    let db = TestDb::new(Kind::Sqlite, test).await.unwrap();
    let shadowdb::prod::Production::Sqlite(pool) = &db.prod else {
        unreachable!()
    };
    pool.execute(TASKS).await.unwrap();
    db
}

async fn production_rows(db: &TestDb) -> Vec<String> {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
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

const ROWS: &[&str] = &["1|42|a|todo", "2|42|b|todo", "3|99|c|todo"];

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
    let shadow = ShadowDb::builder(db.prod.clone())
        .table("tasks")
        .tenant(42_i64)
        .allow_uncontracted(true)
        .tenant_column("tasks", "user_id")
        .limits(Limits {
            memory_budget: 64 << 20,
            max_result_bytes: 8 << 20,
            ..Limits::default()
        })
        .open()
        .await
        .unwrap();
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
    let dir = std::env::temp_dir();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let config = dir.join(format!("shadowdb_hostile_{id}.toml"));
    std::fs::write(&config, "[limits]\nmemory_budget = \"256 MiB\"\n").unwrap();
    for hinted in [true, false] {
        let sql = dir.join(format!("shadowdb_hostile_{id}_{hinted}.sql"));
        std::fs::write(&sql, expanding_cte(hinted)).unwrap();
        let out = Command::new("prlimit")
            .arg(format!("--as={}", 512_u64 << 20))
            .arg(env!("CARGO_BIN_EXE_shadowdb"))
            .args([
                "run",
                "--db",
                &db.url,
                "--tenant",
                "42",
                "--table",
                "tasks",
                "--allow-uncontracted",
                "--tenant-column",
                "user_id",
                "--yes",
                "--config",
            ])
            .arg(&config)
            .arg("--sql")
            .arg(&sql)
            .env_remove("DATABASE_URL")
            .env_remove("SHADOWDB_PROFILE")
            .stdin(Stdio::null())
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
    let sql = dir.join(format!("shadowdb_hostile_{id}.sql"));
    let audit = dir.join(format!("shadowdb_hostile_{id}.jsonl"));
    std::fs::write(
        &sql,
        format!("UPDATE tasks SET title = '{title}' WHERE id = 1;"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowdb"))
        .args([
            "run",
            "--db",
            &db.url,
            "--tenant",
            "42",
            "--table",
            "tasks",
            "--allow-uncontracted",
            "--tenant-column",
            "user_id",
            "--dry-run",
            "--format",
            "json",
            "--audit-file",
        ])
        .arg(&audit)
        .arg("--sql")
        .arg(&sql)
        .env_remove("DATABASE_URL")
        .env_remove("SHADOWDB_PROFILE")
        .stdin(Stdio::null())
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

/// OPEN (not fixed): SQLite renders a JSONB blob as JSON text by recursion
/// without a depth limit (`jsonTranslateBlobToText`; only its validity check,
/// `json_valid(x, 8)`, stops at 1,000 levels). A blob of a million nested
/// arrays, built in linear time with `group_concat` and `unhex`, overflows
/// the stack of the thread that runs the statement: the process aborts
/// (SIGABRT, "has overflowed its stack"). Every consumer of a JSONB blob
/// reaches it: `json()`, `json_extract`, `->`, the `value` column of
/// `json_each`, `json_group_array`. The fix must check the depth of every
/// BLOB argument before SQLite's JSON code reads it, scalar functions,
/// aggregates and the `json_each`/`json_tree` tables alike.
#[tokio::test]
#[ignore = "open: deep JSONB blobs overflow SQLite's stack (see the doc comment)"]
async fn deeply_nested_jsonb_is_refused_not_a_stack_overflow() {
    let db = tasks_db("hostile_deep_jsonb").await;
    let dir = std::env::temp_dir();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let deep = "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i<1000000), \
                h(b) AS (SELECT unhex(group_concat(printf('eb%08x', 5*(i-1)+1), '') || '0b') \
                FROM (SELECT i FROM k ORDER BY i DESC))";
    for tail in [
        "SELECT length(json(b)) FROM h;",
        "SELECT json_extract(b, '$[0][0]') IS NULL FROM h;",
        "SELECT length(value) FROM h, json_each(h.b);",
        "SELECT length(json_group_array(b)) FROM h;",
    ] {
        let sql = dir.join(format!("shadowdb_hostile_{id}.sql"));
        std::fs::write(&sql, format!("{deep} {tail}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_shadowdb"))
            .args([
                "run",
                "--db",
                &db.url,
                "--tenant",
                "42",
                "--table",
                "tasks",
                "--allow-uncontracted",
                "--tenant-column",
                "user_id",
                "--dry-run",
                "--sql",
            ])
            .arg(&sql)
            .env_remove("DATABASE_URL")
            .env_remove("SHADOWDB_PROFILE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&sql);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{tail}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(production_rows(&db).await, ROWS);
}
