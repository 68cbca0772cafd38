//! Test databases: one fresh database per test, dropped afterwards (also on panic).
//!
//! PostgreSQL and MariaDB URLs come from `SHADOWDB_TEST_POSTGRES_URL` and
//! `SHADOWDB_TEST_MYSQL_URL` (`.ci/run` sets both). Without them those tests
//! print why they skip and pass; SQLite tests always run.

#![allow(dead_code)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic fails the calling test"
)]
#![allow(
    unreachable_patterns,
    reason = "matches on `Production` keep a fallback arm should it grow a variant"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use shadowdb::prod::Production;
use sqlx::Executor;

/// The environment variable holding the PostgreSQL admin URL.
pub const POSTGRES_ENV: &str = "SHADOWDB_TEST_POSTGRES_URL";
/// The environment variable holding the MySQL/MariaDB admin URL.
pub const MYSQL_ENV: &str = "SHADOWDB_TEST_MYSQL_URL";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite (a temporary file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL / MariaDB.
    MySql,
}

/// A database created for one test; dropped when this value is.
pub struct TestDb {
    /// Which server.
    pub kind: Kind,
    /// URL of the test's own database.
    pub url: String,
    /// A pool on it.
    pub prod: Production,
    name: String,
    admin_url: String,
}

fn unique_name(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    format!("sdb_{}_{}_{n}", clean, std::process::id())
}

/// Replaces the database part of a URL (`.../test` -> `.../name`).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..cut]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    /// A fresh database of `kind`, or `None` (with a note on stderr) when the
    /// server's URL is not configured.
    pub async fn new(kind: Kind, test: &str) -> Option<TestDb> {
        let name = unique_name(test);
        match kind {
            Kind::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .expect("open sqlite test database");
                Some(TestDb {
                    kind,
                    url,
                    prod: Production::Sqlite(pool),
                    name: path.display().to_string(),
                    admin_url: String::new(),
                })
            }
            Kind::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
                    eprintln!(
                        "skipped: {POSTGRES_ENV} is not set (PostgreSQL tests need a server; .ci/run sets it)"
                    );
                    return None;
                };
                let admin = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL admin URL");
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .await
                    .expect("create test database");
                admin.close().await;
                let url = with_database(&admin_url, &name);
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .expect("connect to test database");
                Some(TestDb {
                    kind,
                    url,
                    prod: Production::Postgres(pool),
                    name,
                    admin_url,
                })
            }
            Kind::MySql => {
                let Ok(admin_url) = std::env::var(MYSQL_ENV) else {
                    eprintln!(
                        "skipped: {MYSQL_ENV} is not set (MariaDB/MySQL tests need a server; .ci/run sets it)"
                    );
                    return None;
                };
                let admin = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect(&admin_url)
                    .await
                    .expect("connect to MySQL admin URL");
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )))
                    .await
                    .expect("create test database");
                admin.close().await;
                let url = with_database(&admin_url, &name);
                let pool = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .expect("connect to test database");
                Some(TestDb {
                    kind,
                    url,
                    prod: Production::MySql(pool),
                    name,
                    admin_url,
                })
            }
        }
    }

    /// Runs a script of `;`-separated statements (setup only: no `;` inside literals).
    pub async fn exec(&self, script: &str) {
        for stmt in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let sql = sqlx::AssertSqlSafe(stmt.to_owned());
            let res = match &self.prod {
                Production::Postgres(p) => p.execute(sql).await.map(|_| ()),
                Production::MySql(p) => p.execute(sql).await.map(|_| ()),
                Production::Sqlite(p) => p.execute(sql).await.map(|_| ()),
                _ => unreachable!(),
            };
            if let Err(e) = res {
                panic!("setup statement failed: {stmt}\n{e}");
            }
        }
    }

    /// Runs a query and returns every value of every row as text (NULL as
    /// `NULL`), by casting in SQL. For asserting production contents exactly.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::{Row, ValueRef};
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        macro_rules! collect {
            ($pool:expr) => {{
                let rows = sqlx::query(sql).fetch_all($pool).await.expect("query");
                rows.iter()
                    .map(|r| {
                        (0..r.columns().len())
                            .map(|i| {
                                let raw = r.try_get_raw(i).expect("raw");
                                if raw.is_null() {
                                    return "NULL".to_owned();
                                }
                                r.try_get::<String, _>(i)
                                    .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
                                    .or_else(|_| r.try_get::<i32, _>(i).map(|v| v.to_string()))
                                    .or_else(|_| r.try_get::<f64, _>(i).map(|v| v.to_string()))
                                    .or_else(|_| r.try_get::<bool, _>(i).map(|v| v.to_string()))
                                    .unwrap_or_else(|_| "<?>".to_owned())
                            })
                            .collect()
                    })
                    .collect()
            }};
        }
        match &self.prod {
            Production::Postgres(p) => collect!(p),
            Production::MySql(p) => collect!(p),
            Production::Sqlite(p) => collect!(p),
            _ => unreachable!(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (kind, name, admin_url) = (self.kind, self.name.clone(), self.admin_url.clone());
        match kind {
            Kind::Sqlite => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{name}{suffix}"));
                }
            }
            Kind::Postgres | Kind::MySql => {
                // Drop runs inside the test's runtime; a fresh thread with its
                // own runtime can still await the DROP DATABASE.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if kind == Kind::Postgres {
                            if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                                let _ = admin
                                    .execute(sqlx::AssertSqlSafe(format!(
                                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                    )))
                                    .await;
                            }
                        } else if let Ok(admin) = sqlx::MySqlPool::connect(&admin_url).await {
                            let _ = admin
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "DROP DATABASE IF EXISTS `{name}`"
                                )))
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs `$body` once per database kind available, each with a fresh `TestDb`
/// bound to `$db`. Unconfigured servers print a skip note.
#[macro_export]
macro_rules! each_db {
    ($test:expr, |$db:ident| $body:expr) => {{
        for kind in [
            $crate::common::Kind::Sqlite,
            $crate::common::Kind::Postgres,
            $crate::common::Kind::MySql,
        ] {
            if let Some($db) = $crate::common::TestDb::new(kind, $test).await {
                $body;
            }
        }
    }};
}

/// The `dev` profile with `update_without_where` allowed: for tests whose
/// point is an UPDATE of every row of the tenant (the effect rule would
/// block it).
pub fn whole_table_updates_allowed() -> shadowdb::policy::Policy {
    let mut policy = shadowdb::policy::Policy::builtin("dev").expect("dev profile");
    policy
        .set_rule("update_without_where", shadowdb::policy::Decision::Allow)
        .expect("update_without_where can be allowed");
    policy
}
