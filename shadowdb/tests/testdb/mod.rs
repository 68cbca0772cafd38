//! A fresh database per test, from the workspace's test-support crate
//! (`shadowdb-tests`): a temporary SQLite file always, PostgreSQL and MariaDB
//! when their URLs are set (else a note says why they are skipped). Dropped
//! (file removed, database dropped) at the end.
//!
//! What is here is only the bridge to shadowdb's types: the support crate
//! does not depend on shadowdb, so the `Production` each test opens is made
//! here.

// Each test binary uses part of it; helpers outside `#[test]` may unwrap.
#![allow(dead_code, unused_imports, clippy::expect_used, clippy::unwrap_used)]

use shadowdb::prod::Production;
pub use shadowdb_tests::{ALL, Kind, MYSQL_ENV, POSTGRES_ENV};

/// A test's database and shadowdb's connection to it.
pub struct TestDb {
    pub kind: Kind,
    /// A URL another process can connect with.
    pub url: String,
    pub prod: Production,
    /// Dropped last: drops the database.
    db: shadowdb_tests::TestDb,
}

impl TestDb {
    /// A fresh database of `kind`, or `None` when its server is not configured.
    pub async fn new(kind: Kind, test: &str) -> Option<TestDb> {
        let db = shadowdb_tests::TestDb::new(kind, test).await?;
        let prod = Production::connect(&db.url)
            .await
            .expect("connect test database");
        Some(TestDb {
            kind,
            url: db.url.clone(),
            prod,
            db,
        })
    }

    /// Runs a setup script of `;`-separated statements.
    pub async fn exec(&self, script: &str) {
        self.db.exec(script).await;
    }

    /// Every row of `sql`, each column as text (NULL as `NULL`).
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.db.rows(sql).await
    }

    /// The tasks as `id|user_id|title|status`, in id order.
    pub async fn tasks(&self) -> Vec<String> {
        self.rows("SELECT id, user_id, title, status FROM tasks ORDER BY id")
            .await
            .into_iter()
            .map(|r| r.join("|"))
            .collect()
    }
}

/// The tasks of the SQLite database at `url` as `id|user_id|title|status`,
/// read on a connection of its own.
pub async fn sqlite_tasks(url: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
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

/// WHERE clauses true on every row of the tests' `tasks`, each a spelling
/// other than a bare `1`; each test adds spellings of its own.
pub const ALWAYS_TRUE: &[&str] = &[
    "~0",
    "abs(1)",
    "CAST(1 AS INTEGER)",
    "CASE WHEN 1 THEN 1 END",
    "id = (id)",
    "\"id\" = id",
    "`id` = \"id\"",
    "0 = 1 < 0",
];

/// The DELETE and the UPDATE of `tasks` under `WHERE {form}`, ended by `end`,
/// each with the policy rule that blocks a write to the whole table.
pub fn whole_table_writes(form: &str, end: &str) -> [(String, &'static str); 2] {
    [
        (
            format!("DELETE FROM tasks WHERE {form}{end}"),
            "delete_without_where",
        ),
        (
            format!("UPDATE tasks SET status = 'x' WHERE {form}{end}"),
            "update_without_where",
        ),
    ]
}

/// `shadowdb run` against `url` for tenant 42 on `tasks`, which the stock
/// binary (no contracts) writes through `--allow-uncontracted`.
pub fn run_args(url: &str) -> [&str; 10] {
    [
        "run",
        "--db",
        url,
        "--tenant",
        "42",
        "--table",
        "tasks",
        "--allow-uncontracted",
        "--tenant-column",
        "user_id",
    ]
}
