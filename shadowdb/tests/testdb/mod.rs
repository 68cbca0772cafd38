//! A fresh database per test: a temporary SQLite file always, PostgreSQL and
//! MariaDB when their URLs are set (else a note says why they are skipped).
//! Dropped (file removed, database dropped) at the end.

// Each test binary uses part of it; helpers outside `#[test]` may unwrap.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use shadowdb::prod::Production;
use sqlx::Executor;

pub const POSTGRES_ENV: &str = "SHADOWDB_TEST_POSTGRES_URL";
pub const MYSQL_ENV: &str = "SHADOWDB_TEST_MYSQL_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

pub const ALL: [Kind; 3] = [Kind::Sqlite, Kind::Postgres, Kind::MySql];

pub struct TestDb {
    pub kind: Kind,
    /// A URL another process can connect with.
    pub url: String,
    pub prod: Production,
    name: String,
    admin_url: String,
}

fn unique_name(test: &str) -> String {
    format!(
        "shadowdb_{test}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

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
    pub async fn new(kind: Kind, test: &str) -> Option<TestDb> {
        let name = unique_name(test);
        let (url, admin_url, name) = match kind {
            Kind::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    String::new(),
                    path.display().to_string(),
                )
            }
            Kind::Postgres | Kind::MySql => {
                let env = if kind == Kind::Postgres {
                    POSTGRES_ENV
                } else {
                    MYSQL_ENV
                };
                let Ok(admin_url) = std::env::var(env) else {
                    eprintln!("skipped {kind:?}: {env} is not set (.ci/run sets it)");
                    return None;
                };
                let create = if kind == Kind::Postgres {
                    format!("CREATE DATABASE \"{name}\"")
                } else {
                    format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                };
                match Production::connect(&admin_url)
                    .await
                    .expect("connect admin URL")
                {
                    Production::Postgres(p) => {
                        p.execute(sqlx::AssertSqlSafe(create))
                            .await
                            .expect("create database");
                        p.close().await;
                    }
                    Production::MySql(p) => {
                        p.execute(sqlx::AssertSqlSafe(create))
                            .await
                            .expect("create database");
                        p.close().await;
                    }
                    _ => unreachable!(),
                }
                (with_database(&admin_url, &name), admin_url, name)
            }
        };
        let prod = Production::connect(&url)
            .await
            .expect("connect test database");
        Some(TestDb {
            kind,
            url,
            prod,
            name,
            admin_url,
        })
    }

    /// Every row of `sql`, each column as text (NULL as `NULL`).
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::Row;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        macro_rules! collect {
            ($pool:expr) => {{
                let rows = sqlx::query(sql).fetch_all($pool).await.expect("query");
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<Option<String>, _>(i)
                                    .map(|v| v.unwrap_or_else(|| "NULL".to_owned()))
                                    .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
                                    .or_else(|_| r.try_get::<i32, _>(i).map(|v| v.to_string()))
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
        }
    }
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
        // Drop runs inside the test's runtime: a thread with its own runtime
        // can still await the DROP DATABASE.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                match Production::connect(&admin_url).await {
                    Ok(Production::Postgres(p)) => {
                        let _ = p
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .await;
                    }
                    Ok(Production::MySql(p)) => {
                        let _ = p
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS `{name}`"
                            )))
                            .await;
                    }
                    _ => {}
                }
            });
        })
        .join();
    }
}
