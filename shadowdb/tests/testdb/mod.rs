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

    /// Every row of `sql`, each column as text (NULL as `NULL`).
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.db.rows(sql).await
    }
}
