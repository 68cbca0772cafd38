//! The commit on every database: production ends up exactly as the sandbox,
//! or untouched. Lost updates, tenant breaches, production-only constraints,
//! a connection killed mid-transaction, batch boundaries, a changeset that
//! moved after review, MySQL's "matched vs changed" rows, foreign-key order,
//! cascades, skip mode and approval.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use safemodel::{Decimal, Json, SafeModel, Value};
use shadowdb::diff::{Counts, Op};
use shadowdb::policy::Policy;
use shadowdb::prod::Production;
use shadowdb::{CommitOptions, Conflict, ConflictKind, Error, Limits, OnConflict, ShadowDb};
use sqlx::Executor;

use crate::common::{Kind, TestDb, commit_diff, commit_stale_review, conflict, pick, run};
use crate::each_db;

/// Rows of a sandbox query (raw sandbox values).
async fn sandbox_rows(sdb: &ShadowDb, sql: &str) -> Vec<Vec<Value>> {
    sdb.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

async fn open(db: &TestDb, tables: &[&str], tenant: i64) -> ShadowDb {
    ShadowDb::builder(db.prod.clone())
        .tables(tables.iter().copied())
        .tenant(tenant)
        .open()
        .await
        .unwrap()
}

fn changed(columns: &[&str]) -> ConflictKind {
    ConflictKind::Changed {
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
    }
}

// ---- happy path: two tables, a composite key, every type ----------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_items", tenant = "org_id")]
pub struct SyItem {
    #[safemodel(primary_key)]
    pub org_id: i64,
    #[safemodel(primary_key)]
    pub code: String,
    pub qty: i32,
    pub price: Decimal,
    pub ratio: f64,
    pub flag: bool,
    pub meta: Json,
    pub day: NaiveDate,
    pub at: Option<DateTime<Utc>>,
    pub token: uuid::Uuid,
    pub data: Vec<u8>,
    pub note: Option<String>,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_lines", tenant = "org_id")]
pub struct SyLine {
    #[safemodel(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub item_code: String,
    pub amount: Decimal,
}

async fn items_setup(db: &TestDb) {
    db.exec(pick(
        db,
        "CREATE TABLE sy_items (org_id INTEGER NOT NULL, code TEXT NOT NULL, qty INTEGER NOT NULL, price DECIMAL(12,2) NOT NULL, ratio REAL NOT NULL, flag BOOLEAN NOT NULL, meta JSON NOT NULL, day DATE NOT NULL, at TIMESTAMPTZ, token UUID NOT NULL, data BLOB NOT NULL, note TEXT, PRIMARY KEY (org_id, code));
         CREATE TABLE sy_lines (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, item_code TEXT NOT NULL, amount DECIMAL(12,2) NOT NULL, FOREIGN KEY (org_id, item_code) REFERENCES sy_items (org_id, code))",
        "CREATE TABLE sy_items (org_id bigint NOT NULL, code text NOT NULL, qty integer NOT NULL, price numeric(12,2) NOT NULL, ratio double precision NOT NULL, flag boolean NOT NULL, meta jsonb NOT NULL, day date NOT NULL, at timestamptz, token uuid NOT NULL, data bytea NOT NULL, note text, PRIMARY KEY (org_id, code));
         CREATE TABLE sy_lines (id bigint PRIMARY KEY, org_id bigint NOT NULL, item_code text NOT NULL, amount numeric(12,2) NOT NULL, FOREIGN KEY (org_id, item_code) REFERENCES sy_items (org_id, code))",
        "CREATE TABLE sy_items (org_id BIGINT NOT NULL, code VARCHAR(20) NOT NULL, qty INT NOT NULL, price DECIMAL(12,2) NOT NULL, ratio DOUBLE NOT NULL, flag BOOLEAN NOT NULL, meta JSON NOT NULL, day DATE NOT NULL, at TIMESTAMP(6) NULL, token UUID NOT NULL, data BLOB NOT NULL, note TEXT, PRIMARY KEY (org_id, code));
         CREATE TABLE sy_lines (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, item_code VARCHAR(20) NOT NULL, amount DECIMAL(12,2) NOT NULL, FOREIGN KEY (org_id, item_code) REFERENCES sy_items (org_id, code))",
    ))
    .await;
    let (yes, no, blob) = match db.kind {
        Kind::Postgres => ("true", "false", "'\\x00ff'"),
        Kind::MySql => ("1", "0", "x'00ff'"),
        Kind::Sqlite => ("1", "0", "x'00ff'"),
    };
    db.exec(&format!(
        "INSERT INTO sy_items VALUES (7, 'a', 1, 10.75, 0.5, {yes}, '{{\"a\": 1}}', '2024-01-31', '2024-01-31 08:00:00', '6f1c7c2e-0d4e-4c1b-9a55-1d2f3e4a5b6c', {blob}, 'first');
         INSERT INTO sy_items VALUES (7, 'b', 2, 5.25, 1.25, {no}, '[]', '2024-02-01', NULL, '00000000-0000-4000-8000-000000000001', {blob}, NULL);
         INSERT INTO sy_items VALUES (8, 'a', 3, 99.99, 2.5, {yes}, '{{\"x\": \"other tenant\"}}', '2024-02-02', NULL, '00000000-0000-4000-8000-000000000002', {blob}, 'not yours');
         INSERT INTO sy_lines VALUES (1, 7, 'a', 1.50);
         INSERT INTO sy_lines VALUES (2, 7, 'b', 2.25);
         INSERT INTO sy_lines VALUES (3, 8, 'a', 3.75)"
    ))
    .await;
}

#[tokio::test]
async fn happy_path_two_tables_composite_key_every_type() {
    each_db!("sy_happy", |db| {
        items_setup(&db).await;
        let mut sdb = open(&db, &["sy_items", "sy_lines"], 7).await;
        run(
            &sdb,
            "INSERT INTO sy_items (code, qty, price, ratio, flag, meta, day, at, token, data, note)
                 VALUES ('c', 3, '9.99', 0.1, 1, '{\"k\": [1, 2.50], \"ab\": null}', '2024-02-29', '2024-03-01 12:00:00.123456+00:00', '0b9e2d4c-8a7f-4e3d-9c2b-1a0f9e8d7c6b', x'00010203ff', NULL);
             UPDATE sy_items SET price = '20.25', meta = '{\"a\": 2}', flag = 0, note = 'changed', ratio = 1e-300, at = NULL WHERE code = 'a';
             INSERT INTO sy_lines (id, item_code, amount) VALUES (10, 'c', '7.75');
             UPDATE sy_lines SET amount = '0.25' WHERE id = 1;
             DELETE FROM sy_lines WHERE id = 2;
             DELETE FROM sy_items WHERE code = 'b'",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{cs:?}");
        assert_eq!(
            cs.totals(),
            Counts {
                insert: 2,
                update: 2,
                delete: 2
            }
        );
        let report = sdb.commit(&cs).await.unwrap();
        assert_eq!(
            report.rows["sy_items"],
            Counts {
                insert: 1,
                update: 1,
                delete: 1
            }
        );
        assert_eq!(
            report.rows["sy_lines"],
            Counts {
                insert: 1,
                update: 1,
                delete: 1
            }
        );
        assert!(report.skipped.is_empty());
        assert!(sdb.diff().unwrap().is_empty());

        // A fresh clone of production holds exactly what the sandbox held.
        let fresh = open(&db, &["sy_items", "sy_lines"], 7).await;
        for sql in [
            "SELECT * FROM sy_items ORDER BY code",
            "SELECT * FROM sy_lines ORDER BY id",
        ] {
            assert_eq!(
                sandbox_rows(&fresh, sql).await,
                sandbox_rows(&sdb, sql).await,
                "{sql}"
            );
        }
        assert_eq!(
            sandbox_rows(&fresh, "SELECT count(*) FROM sy_items").await,
            vec![vec![Value::Int(2)]]
        );
        // The other tenant's rows are untouched.
        assert_eq!(
            db.rows("SELECT code, qty, note FROM sy_items WHERE org_id = 8")
                .await,
            vec![vec!["a", "3", "not yours"]]
        );
        assert_eq!(
            db.rows("SELECT id, item_code FROM sy_lines WHERE org_id = 8")
                .await,
            vec![vec!["3", "a"]]
        );
    });
}

// ---- lost updates, and skip mode -------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_lost", tenant = "user_id")]
pub struct SyLost {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub status: String,
    pub score: f64,
    pub meta: Json,
    pub data: Vec<u8>,
}

async fn lost_setup(db: &TestDb) {
    db.exec(pick(
        db,
        "CREATE TABLE sy_lost (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL, score REAL NOT NULL, meta JSON NOT NULL, data BLOB NOT NULL)",
        "CREATE TABLE sy_lost (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL, status text NOT NULL, score double precision NOT NULL, meta json NOT NULL, data bytea NOT NULL)",
        "CREATE TABLE sy_lost (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(50) NOT NULL, status VARCHAR(20) NOT NULL, score DOUBLE NOT NULL, meta JSON NOT NULL, data BLOB NOT NULL)",
    ))
    .await;
    let blob = if db.kind == Kind::Postgres {
        "'\\x01'"
    } else {
        "x'01'"
    };
    for (id, user) in [
        (1, 42),
        (2, 42),
        (3, 42),
        (4, 42),
        (5, 42),
        (6, 42),
        (9, 99),
    ] {
        db.exec(&format!(
            "INSERT INTO sy_lost VALUES ({id}, {user}, 't{id}', 'todo', 0.1, '{{\"n\": 1.0}}', {blob})"
        ))
        .await;
    }
}

/// The agent's changes, then other connections' changes to the same rows.
async fn lost_scenario(db: &TestDb, sdb: &ShadowDb) {
    run(
        sdb,
        "UPDATE sy_lost SET status = 'done' WHERE id IN (1, 2, 4, 5, 6);
         DELETE FROM sy_lost WHERE id = 3;
         INSERT INTO sy_lost (id, title, status, score, meta, data) VALUES (10, 'new', 'todo', 0, '{}', x'')",
    )
    .await;
    let blob = if db.kind == Kind::Postgres {
        "'\\x02'"
    } else {
        "x'02'"
    };
    db.exec(&format!(
        "UPDATE sy_lost SET score = 0.10000000000000002 WHERE id = 1;
         UPDATE sy_lost SET title = 'moved' WHERE id = 2;
         UPDATE sy_lost SET status = 'doing' WHERE id = 3;
         DELETE FROM sy_lost WHERE id = 4;
         UPDATE sy_lost SET meta = '{{\"n\": 1.00}}', data = {blob} WHERE id = 5"
    ))
    .await;
}

fn lost_conflicts() -> Vec<Conflict> {
    vec![
        conflict("sy_lost", "id=1", changed(&["score"])),
        conflict("sy_lost", "id=2", changed(&["title"])),
        conflict("sy_lost", "id=4", ConflictKind::Gone),
        conflict("sy_lost", "id=5", changed(&["meta", "data"])),
        conflict("sy_lost", "id=3", changed(&["status"])),
    ]
}

#[tokio::test]
async fn lost_updates_and_deletes_are_conflicts_and_nothing_is_written() {
    each_db!("sy_lost", |db| {
        lost_setup(&db).await;
        let mut sdb = open(&db, &["sy_lost"], 42).await;
        lost_scenario(&db, &sdb).await;
        let cs = sdb.diff().unwrap();
        let err = sdb.commit(&cs).await.unwrap_err();
        let Error::Conflict(found) = &err else {
            panic!("{err}")
        };
        assert_eq!(found, &lost_conflicts());
        assert_eq!(
            err.to_string(),
            "conflict: sy_lost[id=1] changed in production since the clone (columns: score); \
             sy_lost[id=2] changed in production since the clone (columns: title); \
             sy_lost[id=4] no longer exists in production; \
             sy_lost[id=5] changed in production since the clone (columns: meta, data); \
             sy_lost[id=3] changed in production since the clone (columns: status)"
        );
        // Nothing written; the other connections' values intact.
        assert_eq!(
            db.rows("SELECT id, title, status FROM sy_lost ORDER BY id")
                .await,
            vec![
                vec!["1", "t1", "todo"],
                vec!["2", "moved", "todo"],
                vec!["3", "t3", "doing"],
                vec!["5", "t5", "todo"],
                vec!["6", "t6", "todo"],
                vec!["9", "t9", "todo"],
            ]
        );
        // The failed commit did not close the sandbox: it may be retried.
        assert!(sdb.commit(&cs).await.is_err());
    });
}

#[tokio::test]
async fn skip_mode_commits_the_rest_and_lists_the_conflicts() {
    each_db!("sy_skip", |db| {
        lost_setup(&db).await;
        let mut sdb = open(&db, &["sy_lost"], 42).await;
        lost_scenario(&db, &sdb).await;
        let cs = sdb.diff().unwrap();
        let report = sdb
            .commit_with(&cs, CommitOptions::new().on_conflict(OnConflict::Skip))
            .await
            .unwrap();
        assert_eq!(report.skipped, lost_conflicts());
        assert_eq!(
            report.rows["sy_lost"],
            Counts {
                insert: 1,
                update: 1,
                delete: 0
            }
        );
        assert_eq!(
            db.rows("SELECT id, title, status FROM sy_lost ORDER BY id")
                .await,
            vec![
                vec!["1", "t1", "todo"],
                vec!["2", "moved", "todo"],
                vec!["3", "t3", "doing"],
                vec!["5", "t5", "todo"],
                vec!["6", "t6", "done"],
                vec!["9", "t9", "todo"],
                vec!["10", "new", "todo"],
            ]
        );
    });
}

// ---- tenant breaches ---------------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_ten", tenant = "user_id")]
pub struct SyTen {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
}

const TEN_ROWS: &str = "SELECT id, user_id, title FROM sy_ten ORDER BY id";

async fn ten_setup(db: &TestDb) {
    db.exec(
        "CREATE TABLE sy_ten (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(50) NOT NULL);
         INSERT INTO sy_ten VALUES (1, 42, 'mine');
         INSERT INTO sy_ten VALUES (5, 99, 'secret-of-99')",
    )
    .await;
}

fn ten_before() -> Vec<Vec<&'static str>> {
    vec![vec!["1", "42", "mine"], vec!["5", "99", "secret-of-99"]]
}

#[tokio::test]
async fn tenant_breaches_are_refused_and_reveal_nothing() {
    each_db!("sy_tenant", |db| {
        ten_setup(&db).await;

        // An insert for another tenant.
        let mut sdb = open(&db, &["sy_ten"], 42).await;
        run(
            &sdb,
            "INSERT INTO sy_ten (id, user_id, title) VALUES (2, 99, 'x')",
        )
        .await;
        let err = sdb.commit(&sdb.diff().unwrap()).await.unwrap_err();
        assert!(matches!(err, Error::TenantBreach { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "tenant breach: sy_ten[id=2]: inserts a row for another tenant"
        );

        // An update that moves a row to another tenant.
        let mut sdb = open(&db, &["sy_ten"], 42).await;
        run(&sdb, "UPDATE sy_ten SET user_id = 99 WHERE id = 1").await;
        let err = sdb.commit(&sdb.diff().unwrap()).await.unwrap_err();
        assert!(matches!(err, Error::TenantBreach { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "tenant breach: sy_ten[id=1]: moves the row to another tenant"
        );

        // Another tenant's row cannot be seen, so it cannot be deleted or changed.
        let mut sdb = open(&db, &["sy_ten"], 42).await;
        let done = run(
            &sdb,
            "DELETE FROM sy_ten WHERE id = 5; UPDATE sy_ten SET title = 'pwned' WHERE id = 5",
        )
        .await;
        assert_eq!(
            done.iter().map(|r| r.rows_affected).collect::<Vec<_>>(),
            vec![0, 0]
        );
        let cs = sdb.diff().unwrap();
        assert!(cs.is_empty(), "{cs:?}");
        let report = sdb.commit(&cs).await.unwrap();
        assert!(report.rows.is_empty());

        // An insert of a key another tenant holds: a conflict that says nothing about that row.
        let mut sdb = open(&db, &["sy_ten"], 42).await;
        run(
            &sdb,
            "INSERT INTO sy_ten (id, title) VALUES (5, 'mine too'); UPDATE sy_ten SET title = 'kept?' WHERE id = 1",
        )
        .await;
        let err = sdb.commit(&sdb.diff().unwrap()).await.unwrap_err();
        let Error::Conflict(found) = &err else {
            panic!("{err}")
        };
        assert_eq!(
            found,
            &vec![conflict("sy_ten", "id=5", ConflictKind::KeyExists)]
        );
        let text = err.to_string();
        assert_eq!(
            text,
            "conflict: sy_ten[id=5] cannot be inserted: the key is already taken in production"
        );
        assert!(!text.contains("secret") && !text.contains("99"), "{text}");

        assert_eq!(db.rows(TEN_ROWS).await, ten_before());
    });
}

// ---- all or nothing -----------------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_aon", tenant = "user_id")]
pub struct SyAon {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub qty: i64,
    pub ref_id: Option<i64>,
}

#[tokio::test]
async fn a_production_only_constraint_on_row_500_of_1000_writes_nothing() {
    each_db!("sy_aon", |db| {
        db.exec(
            "CREATE TABLE sy_ref (id BIGINT PRIMARY KEY);
             CREATE TABLE sy_aon (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(50) NOT NULL UNIQUE, qty BIGINT NOT NULL CHECK (qty < 1000000), ref_id BIGINT REFERENCES sy_ref (id));
             INSERT INTO sy_ref VALUES (1);
             INSERT INTO sy_aon VALUES (1, 99, 'dup-secret', 0, NULL)",
        )
        .await;
        for i in 0..1000 {
            db.exec(&format!(
                "INSERT INTO sy_aon VALUES ({}, 42, 'old {i}', {i}, NULL)",
                1000 + i
            ))
            .await;
        }
        let count = || db.rows("SELECT count(*), sum(qty) FROM sy_aon");
        let before = count().await;
        let limits = Limits {
            statement_time: Duration::from_secs(60),
            session_statement_time: Duration::from_secs(600),
            ..Limits::default()
        };
        // (agent SQL with row 500 breaking one production-only rule, what the error names)
        let cases = [
            (
                "INSERT INTO sy_aon (id, title, qty) WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 1000) SELECT 10000 + x, CASE WHEN x = 500 THEN 'dup-secret' ELSE 'new ' || x END, x FROM s",
                "commit: INSERT INTO sy_aon (batch from id=10001)",
                "unique constraint violated",
            ),
            (
                "INSERT INTO sy_aon (id, title, qty) WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 1000) SELECT 10000 + x, 'new ' || x, CASE WHEN x = 500 THEN 7654321 ELSE x END FROM s",
                "commit: INSERT INTO sy_aon (batch from id=10001)",
                "CHECK constraint violated",
            ),
            (
                "INSERT INTO sy_aon (id, title, qty, ref_id) WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 1000) SELECT 10000 + x, 'new ' || x, x, CASE WHEN x = 500 THEN 8765432 ELSE 1 END FROM s",
                "commit: INSERT INTO sy_aon (batch from id=10001)",
                "foreign key constraint violated",
            ),
            (
                // Two halves: one statement changing every row is a whole-table write.
                "UPDATE sy_aon SET qty = CASE WHEN id = 1499 THEN 7654321 ELSE qty + 1 END WHERE id < 1500; \
                 UPDATE sy_aon SET qty = qty + 1 WHERE id >= 1500",
                "commit: UPDATE sy_aon (batch from id=1000)",
                "CHECK constraint violated",
            ),
        ];
        for (sql, context, kind) in cases {
            let mut sdb = ShadowDb::builder(db.prod.clone())
                .table("sy_aon")
                .tenant(42_i64)
                .limits(limits)
                .policy(crate::common::whole_table_updates_allowed())
                .open()
                .await
                .unwrap();
            sdb.execute(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let cs = sdb.diff().unwrap();
            assert_eq!(cs.len(), 1000);
            let err = sdb.commit(&cs).await.unwrap_err();
            let Error::Database {
                context: Some(ctx),
                summary,
                ..
            } = &err
            else {
                panic!("{err}")
            };
            assert_eq!(ctx, context);
            assert!(summary.starts_with(kind), "{summary}");
            let text = err.to_string();
            // Nor in `Debug`, nor down the `source()` chain a logger prints.
            let mut chain = format!("{text}\n{err:?}");
            let mut cause = std::error::Error::source(&err);
            while let Some(c) = cause {
                chain.push_str(&format!("\n{c}\n{c:?}"));
                cause = c.source();
            }
            for leak in ["dup-secret", "7654321", "8765432", "DETAIL", "Key ("] {
                assert!(!chain.contains(leak), "{chain}");
            }
            assert_eq!(count().await, before, "{sql}");
        }
    });
}

// ---- a connection killed mid-transaction ------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_kill", tenant = "user_id")]
pub struct SyKill {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
}

/// Terminates the backend running a statement on `sy_kill` (not this one).
async fn kill_committer(url: String, kind: Kind) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed = match kind {
            Kind::Postgres => {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                let n: Vec<(bool,)> = sqlx::query_as(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND state = 'active' AND query LIKE '%sy_kill%'",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                !n.is_empty()
            }
            _ => {
                let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
                let ids: Vec<(u64,)> = sqlx::query_as(
                    "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist
                     WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%sy_kill%'",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                for (id,) in &ids {
                    pool.execute(sqlx::AssertSqlSafe(format!("KILL {id}")))
                        .await
                        .unwrap();
                }
                !ids.is_empty()
            }
        };
        if killed {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_connection_killed_mid_transaction_writes_nothing() {
    each_db!("sy_kill", |db| {
        if db.kind == Kind::Sqlite {
            continue;
        }
        db.exec("CREATE TABLE sy_kill (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(50) NOT NULL)").await;
        // An update of the row titled 'slow' sleeps in production, long
        // enough for another connection to kill the committing one.
        match &db.prod {
            Production::Postgres(pool) => {
                pool.execute(
                    "CREATE FUNCTION sy_kill_slow() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN IF NEW.title = 'slow' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;
                     CREATE TRIGGER sy_kill_slow BEFORE UPDATE ON sy_kill FOR EACH ROW EXECUTE FUNCTION sy_kill_slow()",
                )
                .await
                .unwrap();
            }
            _ => {
                db.exec("CREATE TRIGGER sy_kill_slow BEFORE UPDATE ON sy_kill FOR EACH ROW SET NEW.title = IF(NEW.title = 'slow' AND SLEEP(30) = 0, NEW.title, NEW.title)").await;
            }
        }
        db.exec("INSERT INTO sy_kill VALUES (1, 42, 'a'); INSERT INTO sy_kill VALUES (2, 42, 'b')")
            .await;
        let mut sdb = open(&db, &["sy_kill"], 42).await;
        run(
            &sdb,
            "INSERT INTO sy_kill (id, title) VALUES (3, 'c'), (4, 'd');
             UPDATE sy_kill SET title = 'slow' WHERE id = 2;
             DELETE FROM sy_kill WHERE id = 1",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let killer = tokio::spawn(kill_committer(db.url.clone(), db.kind));
        let started = Instant::now();
        let err = sdb.commit(&cs).await.unwrap_err();
        assert!(
            killer.await.unwrap(),
            "the committing connection was not found"
        );
        assert!(started.elapsed() < Duration::from_secs(25));
        let Error::Database {
            context, summary, ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(
            context.as_deref(),
            Some("commit: UPDATE sy_kill (batch from id=2)")
        );
        let expected = match db.kind {
            Kind::Postgres => "connection lost: the server ended the session (SQLSTATE 57P01)",
            _ => "connection lost",
        };
        assert_eq!(summary, expected, "{err}");
        assert_eq!(
            db.rows("SELECT id, title FROM sy_kill ORDER BY id").await,
            vec![vec!["1", "a"], vec!["2", "b"]]
        );
    });
}

// ---- batch boundaries ---------------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_big", tenant = "user_id")]
pub struct SyBig {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub n: i64,
}

#[tokio::test]
async fn a_100k_row_changeset_crosses_every_batch_boundary() {
    each_db!("sy_big", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE sy_big (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, n INTEGER NOT NULL);
             INSERT INTO sy_big WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 12000) SELECT x, 42, 'old ' || x, x FROM s;
             INSERT INTO sy_big VALUES (999999, 99, 'other', 0)",
            "CREATE TABLE sy_big (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL, n bigint NOT NULL);
             INSERT INTO sy_big SELECT x, 42, 'old ' || x, x FROM generate_series(1, 12000) AS x;
             INSERT INTO sy_big VALUES (999999, 99, 'other', 0)",
            "CREATE TABLE sy_big (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(50) NOT NULL, n BIGINT NOT NULL);
             INSERT INTO sy_big SELECT seq, 42, CONCAT('old ', seq), seq FROM seq_1_to_12000;
             INSERT INTO sy_big VALUES (999999, 99, 'other', 0)",
        ))
        .await;
        let limits = Limits {
            statement_time: Duration::from_secs(120),
            session_statement_time: Duration::from_secs(600),
            ..Limits::default()
        };
        let mut sdb = ShadowDb::builder(db.prod.clone())
            .table("sy_big")
            .tenant(42_i64)
            .limits(limits)
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "INSERT INTO sy_big (id, title, n) WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 100000) SELECT 100000 + x, 'new ' || x, x * 2 FROM s;
             UPDATE sy_big SET n = -n, title = 'upd ' || id WHERE id <= 11000;
             DELETE FROM sy_big WHERE id > 11000 AND id <= 12000",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert_eq!(
            cs.totals(),
            Counts {
                insert: 100_000,
                update: 11_000,
                delete: 1_000
            }
        );
        let started = Instant::now();
        let report = sdb.commit(&cs).await.unwrap();
        eprintln!(
            "{:?}: commit of 112,000 rows in {:?}",
            db.kind,
            started.elapsed()
        );
        assert_eq!(
            report.rows["sy_big"],
            Counts {
                insert: 100_000,
                update: 11_000,
                delete: 1_000
            }
        );
        let sum = pick(
            &db,
            "sum(n)",
            "CAST(sum(n) AS bigint)",
            "CAST(sum(n) AS SIGNED)",
        );
        assert_eq!(
            db.rows(&format!(
                "SELECT count(*), {sum}, min(id), max(id) FROM sy_big WHERE user_id = 42"
            ))
            .await,
            vec![vec![
                "111000".to_owned(),
                // updated: -(1..=11000); inserted: 2 * (1..=100000)
                (-(11_000_i64 * 11_001 / 2) + 100_000_i64 * 100_001).to_string(),
                "1".to_owned(),
                "200000".to_owned(),
            ]]
        );
        assert_eq!(
            db.rows("SELECT id, title, n FROM sy_big WHERE id IN (1, 10000, 11000, 11001, 12000, 100001, 150000, 200000, 999999) ORDER BY id").await,
            vec![
                vec!["1", "upd 1", "-1"],
                vec!["10000", "upd 10000", "-10000"],
                vec!["11000", "upd 11000", "-11000"],
                vec!["100001", "new 1", "2"],
                vec!["150000", "new 50000", "100000"],
                vec!["200000", "new 100000", "200000"],
                vec!["999999", "other", "0"],
            ]
        );
    });
}

// ---- review, second commit ------------------------------------------------------

#[tokio::test]
async fn a_changeset_changed_after_review_is_refused_and_a_second_commit_too() {
    each_db!("sy_review", |db| {
        ten_setup(&db).await;
        let mut sdb = open(&db, &["sy_ten"], 42).await;
        let err = commit_stale_review(
            &mut sdb,
            "UPDATE sy_ten SET title = 'reviewed' WHERE id = 1",
            "INSERT INTO sy_ten (id, title) VALUES (2, 'sneaked in')",
        )
        .await;
        assert!(matches!(err, Error::ChangeSetChanged), "{err}");
        assert_eq!(
            err.to_string(),
            "the sandbox changed after the review: diff again and review the new changeset"
        );
        assert_eq!(db.rows(TEN_ROWS).await, ten_before());

        let again = sdb.diff().unwrap();
        let report = sdb.commit(&again).await.unwrap();
        assert_eq!(
            report.rows["sy_ten"],
            Counts {
                insert: 1,
                update: 1,
                delete: 0
            }
        );
        let err = sdb.commit(&again).await.unwrap_err();
        let Error::AlreadyCommitted { commit_id } = &err else {
            panic!("{err}")
        };
        assert_eq!(commit_id, &report.commit_id);
        assert_eq!(
            db.rows(TEN_ROWS).await,
            vec![
                vec!["1", "42", "reviewed"],
                vec!["2", "42", "sneaked in"],
                vec!["5", "99", "secret-of-99"]
            ]
        );
    });
}

// ---- MySQL: rows matched, not rows changed -----------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_noop", tenant = "user_id")]
pub struct SyNoop {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub price: Decimal,
    pub code: String,
}

#[tokio::test]
async fn equal_under_collation_is_a_change_and_a_no_op_write_is_no_conflict() {
    each_db!("sy_noop", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE sy_noop (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, price DECIMAL(10,2) NOT NULL, code TEXT NOT NULL)",
            "CREATE TABLE sy_noop (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL, price numeric(10,2) NOT NULL, code text NOT NULL)",
            "CREATE TABLE sy_noop (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL, price DECIMAL(10,2) NOT NULL, code CHAR(5) NOT NULL)",
        ))
        .await;
        db.exec(
            "INSERT INTO sy_noop VALUES (1, 42, 'abc', 1.25, 'ab');
             INSERT INTO sy_noop VALUES (2, 42, 'x', 1.10, 'cd');
             INSERT INTO sy_noop VALUES (3, 42, 'y', 2.50, 'ef')",
        )
        .await;
        let mut sdb = open(&db, &["sy_noop"], 42).await;
        // 'abc' -> 'ABC' is a change even where the collation says equal;
        // '1.10' -> '1.1' is the same decimal, so no change at all.
        run(
            &sdb,
            "UPDATE sy_noop SET title = 'ABC' WHERE id = 1; UPDATE sy_noop SET price = '1.1' WHERE id = 2",
        )
        .await;
        if db.kind == Kind::MySql {
            // CHAR(5) drops trailing spaces: production would not keep what
            // the review shows, so the write is a violation, not a no-op.
            run(&sdb, "UPDATE sy_noop SET code = 'ef ' WHERE id = 3").await;
            let cs = sdb.diff().unwrap();
            let bad: Vec<(String, Vec<String>)> = cs
                .changes()
                .iter()
                .filter(|c| !c.is_valid())
                .map(|c| {
                    (
                        c.key.render(),
                        c.violations.iter().map(ToString::to_string).collect(),
                    )
                })
                .collect();
            assert_eq!(
                bad,
                [(
                    "id=3".to_owned(),
                    vec!["code: ends in a space, which char(5) does not keep".to_owned()]
                )]
            );
            run(&sdb, "UPDATE sy_noop SET code = 'ef' WHERE id = 3").await;
        }
        let cs = sdb.diff().unwrap();
        let keys: Vec<String> = cs.changes().iter().map(|c| c.key.render()).collect();
        let expected = vec!["id=1"];
        assert_eq!(keys, expected);
        let report = sdb.commit(&cs).await.unwrap();
        assert_eq!(report.rows["sy_noop"].update, expected.len());
        // SQLite stores DECIMAL as REAL: 1.10 is 1.1 there from the start.
        let (p2, p3) = if db.kind == Kind::Sqlite {
            ("1.1", "2.5")
        } else {
            ("1.10", "2.50")
        };
        assert_eq!(
            db.rows(pick(
                &db,
                "SELECT id, title, CAST(price AS TEXT), code FROM sy_noop ORDER BY id",
                "SELECT id, title, CAST(price AS TEXT), code FROM sy_noop ORDER BY id",
                "SELECT id, title, CAST(price AS CHAR), code FROM sy_noop ORDER BY id"
            ))
            .await,
            vec![
                vec!["1", "ABC", "1.25", "ab"],
                vec!["2", "x", p2, "cd"],
                vec!["3", "y", p3, "ef"]
            ]
        );
    });
}

// ---- foreign keys: order and cascades ----------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_fk_parent", tenant = "user_id")]
pub struct SyFkParent {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub name: String,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_fk_child", tenant = "user_id")]
pub struct SyFkChild {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub parent_id: i64,
}

#[tokio::test]
async fn parents_are_inserted_first_and_deleted_last() {
    each_db!("sy_fk_order", |db| {
        db.exec(
            "CREATE TABLE sy_fk_parent (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, name VARCHAR(20) NOT NULL);
             CREATE TABLE sy_fk_child (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, parent_id BIGINT NOT NULL REFERENCES sy_fk_parent (id));
             INSERT INTO sy_fk_parent VALUES (1, 42, 'p1');
             INSERT INTO sy_fk_parent VALUES (2, 42, 'p2');
             INSERT INTO sy_fk_child VALUES (1, 42, 1);
             INSERT INTO sy_fk_child VALUES (2, 42, 2)",
        )
        .await;
        // Scoped children first: table names sort the other way round.
        let mut sdb = open(&db, &["sy_fk_child", "sy_fk_parent"], 42).await;
        run(
            &sdb,
            "INSERT INTO sy_fk_parent (id, name) VALUES (10, 'p10');
             INSERT INTO sy_fk_child (id, parent_id) VALUES (100, 10);
             UPDATE sy_fk_child SET parent_id = 10 WHERE id = 2;
             DELETE FROM sy_fk_child WHERE id = 1;
             DELETE FROM sy_fk_parent WHERE id = 1",
        )
        .await;
        let report = commit_diff(&mut sdb).await.unwrap();
        assert_eq!(
            report.rows["sy_fk_parent"],
            Counts {
                insert: 1,
                update: 0,
                delete: 1
            }
        );
        assert_eq!(
            report.rows["sy_fk_child"],
            Counts {
                insert: 1,
                update: 1,
                delete: 1
            }
        );
        assert_eq!(
            db.rows("SELECT id FROM sy_fk_parent ORDER BY id").await,
            vec![vec!["2"], vec!["10"]]
        );
        assert_eq!(
            db.rows("SELECT id, parent_id FROM sy_fk_child ORDER BY id")
                .await,
            vec![vec!["2", "10"], vec!["100", "10"]]
        );
    });
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_cas_parent", tenant = "user_id")]
pub struct SyCasParent {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "sy_cas_child", tenant = "user_id")]
pub struct SyCasChild {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub parent_id: Option<i64>,
}

#[tokio::test]
async fn cascades_onto_rows_outside_the_changeset_are_refused() {
    each_db!("sy_cascade", |db| {
        db.exec(
            "CREATE TABLE sy_cas_parent (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL);
             CREATE TABLE sy_cas_audit (id BIGINT PRIMARY KEY, parent_id BIGINT NOT NULL REFERENCES sy_cas_parent (id) ON DELETE CASCADE);
             CREATE TABLE sy_cas_child (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, parent_id BIGINT REFERENCES sy_cas_parent (id) ON DELETE SET NULL);
             INSERT INTO sy_cas_parent VALUES (1, 42);
             INSERT INTO sy_cas_parent VALUES (2, 42);
             INSERT INTO sy_cas_parent VALUES (3, 42);
             INSERT INTO sy_cas_parent VALUES (4, 42);
             INSERT INTO sy_cas_audit VALUES (1, 1);
             INSERT INTO sy_cas_child VALUES (1, 99, 3);
             INSERT INTO sy_cas_child VALUES (2, 42, 4)",
        )
        .await;
        let counts = "SELECT (SELECT count(*) FROM sy_cas_parent), (SELECT count(*) FROM sy_cas_audit), (SELECT count(*) FROM sy_cas_child WHERE parent_id IS NOT NULL)";
        let tables = ["sy_cas_parent", "sy_cas_child"];

        // Parent 1 has a row in a table out of scope.
        let mut sdb = open(&db, &tables, 42).await;
        run(&sdb, "DELETE FROM sy_cas_parent WHERE id IN (1, 2)").await;
        let err = sdb.commit(&sdb.diff().unwrap()).await.unwrap_err();
        assert!(matches!(err, Error::Cascade { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "sy_cas_parent[id=1]: DELETE would cascade onto `sy_cas_audit` rows outside the changeset"
        );
        assert_eq!(db.rows(counts).await, vec![vec!["4", "1", "2"]]);

        // Parent 3 is referenced by another tenant's row of a scoped table.
        let mut sdb = open(&db, &tables, 42).await;
        run(&sdb, "DELETE FROM sy_cas_parent WHERE id = 3").await;
        let err = sdb.commit(&sdb.diff().unwrap()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "sy_cas_parent[id=3]: DELETE would cascade onto `sy_cas_child` rows outside the changeset"
        );
        assert_eq!(db.rows(counts).await, vec![vec!["4", "1", "2"]]);

        // Parent 4's only child is this tenant's and in the sandbox, which
        // sets it NULL in the changeset; parent 2 has no children.
        let mut sdb = open(&db, &tables, 42).await;
        run(&sdb, "DELETE FROM sy_cas_parent WHERE id IN (2, 4)").await;
        let report = commit_diff(&mut sdb).await.unwrap();
        assert_eq!(report.rows["sy_cas_parent"].delete, 2);
        assert_eq!(report.rows["sy_cas_child"].update, 1);
        assert_eq!(db.rows(counts).await, vec![vec!["2", "1", "1"]]);
    });
}

// ---- approval ---------------------------------------------------------------------

#[tokio::test]
async fn a_delete_needs_approval_when_the_policy_says_so() {
    each_db!("sy_approval", |db| {
        ten_setup(&db).await;
        let mut policy = Policy::builtin("dev").unwrap();
        policy.set_require_approval_for([Op::Delete]);
        let mut sdb = ShadowDb::builder(db.prod.clone())
            .table("sy_ten")
            .tenant(42_i64)
            .policy(policy)
            .open()
            .await
            .unwrap();
        run(&sdb, "DELETE FROM sy_ten WHERE id = 1").await;
        let cs = sdb.diff().unwrap();
        let err = sdb.commit(&cs).await.unwrap_err();
        assert!(matches!(err, Error::NeedsApproval(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "needs approval: approval_required: DELETE needs approval in profile `dev`; \
             1 DELETE row(s) in `sy_ten` need approval in profile `dev`"
        );
        assert_eq!(db.rows(TEN_ROWS).await, ten_before());
        let report = sdb
            .commit_with(&cs, CommitOptions::new().approved_by("alice"))
            .await
            .unwrap();
        assert_eq!(report.rows["sy_ten"].delete, 1);
        assert_eq!(
            db.rows(TEN_ROWS).await,
            vec![vec!["5", "99", "secret-of-99"]]
        );
    });
}
