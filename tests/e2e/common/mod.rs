//! Test databases: one fresh database per test, dropped afterwards (also on
//! panic), from this crate's library (`shadowdb_tests`); what is here is the
//! bridge to shadowdb's `Production` and the helpers that use shadowdb.
//!
//! PostgreSQL and MariaDB URLs come from `SHADOWDB_TEST_POSTGRES_URL` and
//! `SHADOWDB_TEST_MYSQL_URL` (`.ci/run` sets both). Without them those tests
//! print why they skip and pass; SQLite tests always run.

#![allow(dead_code)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic fails the calling test"
)]

use shadowdb::prod::Production;
pub use shadowdb_tests::Kind;
use shadowdb_tests::Pool;

/// A database created for one test (`shadowdb_tests::TestDb`) and
/// shadowdb's handle on its pool; dropped when this value is.
pub struct TestDb {
    /// Which server.
    pub kind: Kind,
    /// URL of the test's own database.
    pub url: String,
    /// A pool on it.
    pub prod: Production,
    /// Dropped last: drops the database.
    db: shadowdb_tests::TestDb,
}

impl TestDb {
    /// A fresh database of `kind`, or `None` (with a note on stderr) when the
    /// server's URL is not configured.
    pub async fn new(kind: Kind, test: &str) -> Option<TestDb> {
        let db = shadowdb_tests::TestDb::new(kind, test).await?;
        let prod = match db.pool.clone() {
            Pool::Postgres(p) => Production::Postgres(p),
            Pool::MySql(p) => Production::MySql(p),
            Pool::Sqlite(p) => Production::Sqlite(p),
        };
        Some(TestDb {
            kind,
            url: db.url.clone(),
            prod,
            db,
        })
    }

    /// A fresh database of `kind` (as [`TestDb::new`]) set up by `script`
    /// (as [`TestDb::exec`]).
    pub async fn set_up(kind: Kind, test: &str, script: &str) -> Option<TestDb> {
        let db = TestDb::new(kind, test).await?;
        db.exec(script).await;
        Some(db)
    }

    /// Runs a script of `;`-separated statements (setup only: no `;` inside literals).
    pub async fn exec(&self, script: &str) {
        self.db.exec(script).await;
    }

    /// Runs a query and returns every value of every row as text (NULL as
    /// `NULL`). For asserting production contents exactly.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.db.rows(sql).await
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

/// The statement for `db`'s dialect.
pub fn pick<'a>(db: &TestDb, sqlite: &'a str, pg: &'a str, mysql: &'a str) -> &'a str {
    match db.kind {
        Kind::Sqlite => sqlite,
        Kind::Postgres => pg,
        Kind::MySql => mysql,
    }
}

/// The one violation of the changeset's one row.
pub fn only_violation(cs: &shadowdb::diff::ChangeSet) -> safemodel::Violation {
    assert_eq!(cs.len(), 1, "{cs:?}");
    let change = &cs.changes()[0];
    assert_eq!(change.violations.len(), 1, "{change:?}");
    change.violations[0].clone()
}

/// A conflict as the commit reports it.
/// `key` is written as messages render it: `id=1`, `code="k3"`, `a=1,b="x"`.
pub fn conflict(table: &str, key: &str, kind: shadowdb::ConflictKind) -> shadowdb::Conflict {
    shadowdb::Conflict {
        table: table.to_owned(),
        key: parse_key(key),
        kind,
    }
}

/// A key from its rendered form: integers, and text quoted as JSON strings.
pub fn parse_key(text: &str) -> shadowdb::Key {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (col, after) = rest.split_once('=').expect("col=value");
        let (value, tail) = if after.starts_with('"') {
            let mut end = 1;
            let bytes = after.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let quoted = &after[..=end];
            let text: String = serde_json::from_str(quoted).expect("a quoted key value");
            (safemodel::Value::Text(text), &after[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let n: i64 = after[..end].parse().expect("an integer key value");
            (safemodel::Value::Int(n), &after[end..])
        };
        parts.push((col.to_owned(), value));
        rest = tail.strip_prefix(',').unwrap_or(tail);
    }
    shadowdb::Key(parts)
}

/// Rows of text, as tables of strings are written in the tests.
pub fn text_rows(items: &[&[&str]]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

/// Production's rows read through a new connection (not the pool the
/// sandbox used): `sql` selects one text column.
pub async fn fresh_text(url: &str, sql: &str) -> Vec<String> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let prod = Production::connect(url).await.expect("connect");
    #[allow(
        unreachable_patterns,
        reason = "a fallback arm should `Production` grow a variant"
    )]
    let rows = match &prod {
        Production::Postgres(p) => sqlx::query_scalar::<_, String>(sql).fetch_all(p).await,
        Production::MySql(p) => sqlx::query_scalar::<_, String>(sql).fetch_all(p).await,
        Production::Sqlite(p) => sqlx::query_scalar::<_, String>(sql).fetch_all(p).await,
        _ => unreachable!(),
    };
    rows.expect("query")
}

/// A sandbox of `tables` without contracts, each scoped by `tenant_column`.
pub async fn open_uncontracted(
    prod: &Production,
    tables: &[&str],
    tenant_column: &str,
    tenant: impl Into<safemodel::Value>,
) -> shadowdb::ShadowDb {
    uncontracted(prod, tables, tenant_column, tenant)
        .open()
        .await
        .expect("open")
}

/// The builder of a sandbox of `tables` without contracts, each scoped by
/// `tenant_column`, for more options.
pub fn uncontracted(
    prod: &Production,
    tables: &[&str],
    tenant_column: &str,
    tenant: impl Into<safemodel::Value>,
) -> shadowdb::OpenOptions {
    let mut b = shadowdb::ShadowDb::builder(prod.clone())
        .tables(tables.iter().copied())
        .allow_uncontracted(true)
        .tenant(tenant);
    for t in tables {
        b = b.tenant_column(t, tenant_column);
    }
    b
}

/// Runs `sql` (statements without parameters) in the sandbox; it must
/// succeed.
pub async fn run(sdb: &shadowdb::ShadowDb, sql: &str) -> Vec<shadowdb::StatementResult> {
    sdb.execute(sql, &[]).await.expect("execute")
}

/// The sandbox's changeset, which must be valid, committed; the commit must
/// succeed.
pub async fn commit_valid(sdb: &mut shadowdb::ShadowDb) -> shadowdb::CommitReport {
    let cs = sdb.diff().expect("diff");
    assert!(cs.is_valid(), "{cs:?}");
    sdb.commit(&cs).await.expect("commit")
}

/// The sandbox's changeset, committed as it is: what the commit answers.
pub async fn commit_diff(sdb: &mut shadowdb::ShadowDb) -> shadowdb::Result<shadowdb::CommitReport> {
    let cs = sdb.diff().expect("diff");
    sdb.commit(&cs).await
}

/// The rows a query (without parameters) of the sandbox answers; it must
/// succeed.
pub async fn query_rows(sdb: &shadowdb::ShadowDb, sql: &str) -> Vec<Vec<safemodel::Value>> {
    sdb.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

/// A sandbox of one table (by its contract) for `tenant`.
pub async fn open_table(
    prod: &Production,
    table: &str,
    tenant: impl Into<safemodel::Value>,
) -> shadowdb::ShadowDb {
    shadowdb::ShadowDb::builder(prod.clone())
        .table(table)
        .tenant(tenant)
        .open()
        .await
        .expect("open")
}

/// A MariaDB pool on `url` whose sessions run outside strict mode
/// (`sql_mode = ''`), where the server alters values it cannot store
/// instead of refusing them.
pub async fn lax_mysql_pool(url: &str) -> sqlx::MySqlPool {
    session_pool(url, "SET SESSION sql_mode = ''").await
}

/// A MariaDB pool outside strict mode ([`lax_mysql_pool`]), `write` run
/// through it directly, and what production then holds: `read` (one text
/// column) through a connection of its own, which shows the mode in force.
pub async fn lax_mysql_write(
    url: &str,
    write: &'static str,
    read: &str,
) -> (sqlx::MySqlPool, Vec<String>) {
    let pool = lax_mysql_pool(url).await;
    direct(&pool, write).await;
    let stored = fresh_text(url, read).await;
    (pool, stored)
}

/// A pool of two connections on `url` whose every session first runs
/// `setup` (its session settings): `sqlx::PgPool` or `sqlx::MySqlPool`.
pub async fn session_pool<DB: sqlx::Database>(url: &str, setup: &'static str) -> sqlx::Pool<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(2)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, setup).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .expect("connect")
}

/// The sandbox's changeset has one violation, of the `production_type` rule
/// in `column` with `msg` (what production would alter or refuse), and its
/// commit is refused: the error. `case` names the case on failure.
pub async fn production_type_refusal(
    sdb: &mut shadowdb::ShadowDb,
    column: &str,
    msg: impl Into<String>,
    case: &str,
) -> shadowdb::Error {
    let cs = sdb.diff().expect("diff");
    assert_eq!(
        only_violation(&cs),
        safemodel::Violation::new(
            column,
            safemodel::Rule::Other("production_type".into()),
            msg
        ),
        "{case}"
    );
    sdb.commit(&cs).await.expect_err("the commit is refused")
}

/// Each change of the changeset as (operation, rendered key, changed
/// columns), in the changeset's order.
pub fn changed_keys(cs: &shadowdb::ChangeSet) -> Vec<(shadowdb::Op, String, Vec<String>)> {
    cs.changes()
        .iter()
        .map(|c| (c.op, c.key.render(), c.changed.clone()))
        .collect()
}

/// `reviewed` runs in the sandbox and its changeset is diffed (reviewed);
/// then `after` runs. The commit of the reviewed changeset must fail: the
/// error.
pub async fn commit_stale_review(
    sdb: &mut shadowdb::ShadowDb,
    reviewed: &str,
    after: &str,
) -> shadowdb::Error {
    run(sdb, reviewed).await;
    let cs = sdb.diff().expect("diff");
    run(sdb, after).await;
    sdb.commit(&cs)
        .await
        .expect_err("a changeset reviewed before the sandbox changed")
}

/// Runs one statement on `pool` directly, as another client of production
/// would (the statement must succeed).
pub async fn direct<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, sql: &'static str)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query(sql)
        .execute(pool)
        .await
        .expect("direct statement");
}
