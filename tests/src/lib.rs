//! Test support shared by every integration test of the workspace, in the way
//! `sqlx-test` serves sqlx: one fresh database per test, dropped afterwards
//! (also when the test panics).
//!
//! SQLite is a temporary file and always runs. PostgreSQL and MariaDB/MySQL
//! databases are created on the servers named by [`POSTGRES_ENV`] and
//! [`MYSQL_ENV`] (`.ci/run` sets both); without the variable a test of that
//! kind prints why it skips and passes.
//!
//! This crate depends on sqlx, not on shadowdb, so shadowdb's own
//! integration tests can use it without a second copy of shadowdb's types:
//! each test binary wraps [`TestDb::pool`] in a `shadowdb::prod::Production`.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failure to set up fails the calling test, loudly"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Every kind, SQLite first.
pub const ALL: [Kind; 3] = [Kind::Sqlite, Kind::Postgres, Kind::MySql];

/// A pool on a test's database.
#[derive(Debug, Clone)]
pub enum Pool {
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// MySQL / MariaDB.
    MySql(sqlx::MySqlPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

/// A database created for one test; dropped when this value is.
#[derive(Debug)]
pub struct TestDb {
    /// Which server.
    pub kind: Kind,
    /// URL of the test's own database (another process can connect with it).
    pub url: String,
    /// A pool on it.
    pub pool: Pool,
    /// The database's name (SQLite: the file's path).
    name: String,
    admin_url: String,
}

/// A database name no other test (or test process) uses: `test` cleaned to
/// `[a-z0-9_]`, the process id and a counter.
#[must_use]
pub fn unique_name(test: &str) -> String {
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

/// Replaces the database part of a URL (`.../test?x=1` -> `.../name?x=1`).
#[must_use]
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').unwrap_or(base.len());
    let mut out = format!("{}/{name}", base.get(..cut).unwrap_or(base));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The admin URL of `kind`'s server, or `None` with a note on stderr saying
/// why the test skips it.
fn admin_url(kind: Kind) -> Option<String> {
    let (env, server) = match kind {
        Kind::Sqlite => return Some(String::new()),
        Kind::Postgres => (POSTGRES_ENV, "PostgreSQL"),
        Kind::MySql => (MYSQL_ENV, "MariaDB/MySQL"),
    };
    match std::env::var(env) {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!("skipped: {env} is not set ({server} tests need a server; .ci/run sets it)");
            None
        }
    }
}

/// Creates database `name` by `create` on the server of `admin_url`; its
/// URL and a pool on it.
async fn server_database<DB: sqlx::Database>(
    admin_url: &str,
    name: &str,
    create: String,
) -> (String, sqlx::Pool<DB>)
where
    for<'c> &'c sqlx::Pool<DB>: Executor<'c, Database = DB>,
{
    let admin = sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(1)
        .connect(admin_url)
        .await
        .expect("connect to the admin URL");
    admin
        .execute(sqlx::AssertSqlSafe(create))
        .await
        .expect("create test database");
    admin.close().await;
    let url = with_database(admin_url, name);
    let pool = sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("connect to test database");
    (url, pool)
}

impl TestDb {
    /// A fresh database of `kind` for the test named `test`, or `None` (with
    /// a note on stderr) when the server's URL is not configured.
    ///
    /// # Panics
    /// When the server cannot be reached or the database created.
    pub async fn new(kind: Kind, test: &str) -> Option<TestDb> {
        let name = unique_name(test);
        let admin_url = admin_url(kind)?;
        let db = match kind {
            Kind::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .expect("open sqlite test database");
                TestDb {
                    kind,
                    url,
                    pool: Pool::Sqlite(pool),
                    name: path.display().to_string(),
                    admin_url,
                }
            }
            Kind::Postgres => {
                let create = format!("CREATE DATABASE \"{name}\"");
                let (url, pool) = server_database(&admin_url, &name, create).await;
                TestDb {
                    kind,
                    url,
                    pool: Pool::Postgres(pool),
                    name,
                    admin_url,
                }
            }
            Kind::MySql => {
                let create = format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                );
                let (url, pool) = server_database(&admin_url, &name, create).await;
                TestDb {
                    kind,
                    url,
                    pool: Pool::MySql(pool),
                    name,
                    admin_url,
                }
            }
        };
        Some(db)
    }

    /// Runs a script of `;`-separated statements (setup only: no `;` inside
    /// literals).
    ///
    /// # Panics
    /// When a statement fails, naming it.
    pub async fn exec(&self, script: &str) {
        for stmt in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let sql = sqlx::AssertSqlSafe(stmt.to_owned());
            let res = match &self.pool {
                Pool::Postgres(p) => p.execute(sql).await.map(|_| ()),
                Pool::MySql(p) => p.execute(sql).await.map(|_| ()),
                Pool::Sqlite(p) => p.execute(sql).await.map(|_| ()),
            };
            if let Err(e) = res {
                panic!("setup statement failed: {stmt}\n{e}");
            }
        }
    }

    /// Every value of every row of `sql` as text (NULL as `NULL`, a value of
    /// no type tried as `<?>`): for asserting production's contents exactly.
    ///
    /// # Panics
    /// When the query fails.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.pool {
            Pool::Postgres(p) => texts(&sqlx::query(sql).fetch_all(p).await.expect("query")),
            Pool::MySql(p) => texts(&sqlx::query(sql).fetch_all(p).await.expect("query")),
            Pool::Sqlite(p) => texts(&sqlx::query(sql).fetch_all(p).await.expect("query")),
        }
    }
}

/// Each value of `rows` as text: NULL, then the first of text, integer,
/// float and boolean it decodes as.
fn texts<R>(rows: &[R]) -> Vec<Vec<String>>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use sqlx::ValueRef;
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
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (kind, name, admin_url) = (self.kind, self.name.clone(), self.admin_url.clone());
        if kind == Kind::Sqlite {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{name}{suffix}"));
            }
            return;
        }
        // Drop runs inside the test's runtime; a fresh thread with its own
        // runtime can still await the DROP DATABASE.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@h:3306/test?ssl-mode=disabled", "b"),
            "mysql://root@h:3306/b?ssl-mode=disabled"
        );
    }

    #[test]
    fn unique_names_are_clean_and_distinct() {
        let (a, b) = (unique_name("A-b c"), unique_name("A-b c"));
        assert!(a.starts_with("sdb_a_b_c_"), "{a}");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn sqlite_database_is_created_and_removed() {
        let db = TestDb::new(Kind::Sqlite, "support")
            .await
            .expect("sqlite always runs");
        db.exec("CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, NULL)")
            .await;
        assert_eq!(db.rows("SELECT a, b FROM t").await, [["1", "NULL"]]);
        let path = db.name.clone();
        drop(db);
        assert!(!std::path::Path::new(&path).exists());
    }
}
