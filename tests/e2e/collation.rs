//! Production's bytes are the only definition of equal: a tenant, a key or a
//! guarded value that a collation (case- or accent-insensitive, PAD SPACE,
//! PostgreSQL's non-deterministic ICU collations, SQLite's NOCASE and RTRIM)
//! finds equal to another is still another value: the clone, the guards, the
//! key checks and "unchanged since review" compare bytes.

use std::sync::Arc;
use std::time::Duration;

use safemodel::{SafeModel, Value};
use shadowdb::approve::ChannelApprover;
use shadowdb::diff::Op;
use shadowdb::policy::Policy;
use shadowdb::render::{TextOptions, render_text};
use shadowdb::{CommitOptions, ConflictKind, Error, OnConflict, ShadowDb};
use sqlx::{Connection as _, Executor as _};

use crate::common::{
    Kind, TestDb, commit_stale_review, conflict, open_table, pick, query_rows, run,
};
use crate::each_db;

/// A case-insensitive (and, on MariaDB, accent-insensitive and PAD SPACE)
/// text type for `db`. SQLite's is NOCASE; `rtrim` makes it RTRIM instead.
fn ci_text(db: &TestDb, rtrim: bool) -> &'static str {
    match db.kind {
        Kind::Sqlite if rtrim => "TEXT COLLATE RTRIM",
        Kind::Sqlite => "TEXT COLLATE NOCASE",
        Kind::Postgres => "text COLLATE ci",
        // The server's default collation for utf8mb4.
        Kind::MySql => "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
    }
}

async fn collation_setup(db: &TestDb) {
    if db.kind == Kind::Postgres {
        db.exec(
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        )
        .await;
    }
}

async fn open_notes(db: &TestDb, tenant: &str) -> ShadowDb {
    crate::common::open_uncontracted(
        &db.prod,
        &["co_notes"],
        "tenant",
        Value::Text(tenant.to_owned()),
    )
    .await
}

/// `co_notes`: tenant `'acme'` owns row 1; rows 2 to 5 belong to tenants a
/// collation may take for it.
async fn notes_setup(db: &TestDb, rtrim: bool) {
    collation_setup(db).await;
    let ty = ci_text(db, rtrim);
    db.exec(&format!(
        "CREATE TABLE co_notes (id INTEGER PRIMARY KEY, tenant {ty} NOT NULL, body VARCHAR(200) NOT NULL, n INTEGER NOT NULL);
         CREATE INDEX co_notes_tenant ON co_notes (tenant);
         INSERT INTO co_notes VALUES (1, 'acme', 'mine', 0);
         INSERT INTO co_notes VALUES (2, 'ACME', 'secret-2', 0);
         INSERT INTO co_notes VALUES (3, 'Acme', 'secret-3', 0);
         INSERT INTO co_notes VALUES (4, 'acme ', 'secret-4', 0);
         INSERT INTO co_notes VALUES (5, 'acmé', 'secret-5', 0)"
    ))
    .await;
}

const OTHERS: [[&str; 3]; 4] = [
    ["2", "ACME", "secret-2"],
    ["3", "Acme", "secret-3"],
    ["4", "acme ", "secret-4"],
    ["5", "acmé", "secret-5"],
];

async fn notes(db: &TestDb) -> Vec<Vec<String>> {
    db.rows("SELECT id, tenant, body FROM co_notes ORDER BY id")
        .await
}

fn with_first(first: [&str; 3]) -> Vec<Vec<String>> {
    std::iter::once(first)
        .chain(OTHERS)
        .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

// ---- the clone takes the tenant's bytes, nothing a collation matches ----------

#[tokio::test]
async fn clone_takes_only_the_tenants_exact_rows_and_nothing_leaks_out() {
    for rtrim in [false, true] {
        each_db!("co_clone", |db| {
            if rtrim && db.kind != Kind::Sqlite {
                continue;
            }
            notes_setup(&db, rtrim).await;
            let mut sdb = open_notes(&db, "acme").await;
            let ids = query_rows(&sdb, "SELECT id, tenant FROM co_notes ORDER BY id").await;
            assert_eq!(
                ids,
                vec![vec![Value::Int(1), Value::Text("acme".into())]],
                "{:?}",
                db.kind
            );
            assert_eq!(sdb.clone_stats().tables, vec![("co_notes".to_owned(), 1)]);

            // The agent gathers every body it can see into its own row.
            run(
                &sdb,
                "UPDATE co_notes SET body = (SELECT group_concat(body, '|') FROM co_notes) WHERE id = 1",
            )
            .await;
            let cs = sdb.diff().unwrap();
            let review = render_text(&sdb.review(&cs), &TextOptions::plain(200));
            assert!(!review.contains("secret"), "{:?}: {review}", db.kind);
            sdb.commit(&cs).await.unwrap();
            assert_eq!(
                notes(&db).await,
                with_first(["1", "acme", "mine"]),
                "{:?}",
                db.kind
            );
        });
    }
}

// ---- guards: the tenant, the key and every text column, byte for byte ---------

#[tokio::test]
async fn a_row_moved_to_a_tenant_the_collation_matches_is_a_conflict() {
    each_db!("co_moved", |db| {
        notes_setup(&db, false).await;
        for op in [
            "UPDATE co_notes SET n = 9 WHERE id = 1",
            "DELETE FROM co_notes WHERE id = 1",
        ] {
            db.exec("UPDATE co_notes SET tenant = 'acme' WHERE id = 1")
                .await;
            let mut sdb = open_notes(&db, "acme").await;
            run(&sdb, op).await;
            let cs = sdb.diff().unwrap();
            // Another connection moves the row to `'ACME'` after the clone.
            db.exec("UPDATE co_notes SET tenant = 'ACME' WHERE id = 1")
                .await;
            let err = sdb.commit(&cs).await.unwrap_err();
            assert!(
                matches!(&err, Error::Conflict(c) if *c == [conflict("co_notes", "id=1", ConflictKind::Gone)]),
                "{:?} {op}: {err:?}",
                db.kind
            );
            assert_eq!(
                notes(&db).await,
                with_first(["1", "ACME", "mine"]),
                "{:?} {op}",
                db.kind
            );
        }
    });
}

#[tokio::test]
async fn a_row_moved_during_the_approval_wait_is_a_conflict() {
    each_db!("co_wait", |db| {
        notes_setup(&db, false).await;
        let mut policy = Policy::builtin("dev").unwrap();
        policy.set_require_approval_for([Op::Delete]);
        let (approver, handle) = ChannelApprover::new();
        let mut sdb = crate::common::uncontracted(
            &db.prod,
            &["co_notes"],
            "tenant",
            Value::Text("acme".into()),
        )
        .policy(policy)
        .approver(Arc::new(approver))
        .open()
        .await
        .unwrap();
        run(&sdb, "DELETE FROM co_notes WHERE id = 1").await;
        let cs = sdb.diff().unwrap();
        let prod = db.prod.clone();
        let reviewer = tokio::spawn(async move {
            let request = handle.next_pending().await;
            // While the request waits, another connection moves the row.
            let sql = "UPDATE co_notes SET tenant = 'ACME' WHERE id = 1";
            match &prod {
                shadowdb::prod::Production::Postgres(p) => {
                    p.execute(sql).await.unwrap();
                }
                shadowdb::prod::Production::MySql(p) => {
                    p.execute(sql).await.unwrap();
                }
                shadowdb::prod::Production::Sqlite(p) => {
                    p.execute(sql).await.unwrap();
                }
            }
            handle.approve(&request.id, "ops-lead").unwrap();
        });
        let err = sdb.commit(&cs).await.unwrap_err();
        reviewer.await.unwrap();
        assert!(
            matches!(&err, Error::Conflict(c) if *c == [conflict("co_notes", "id=1", ConflictKind::Gone)]),
            "{:?}: {err:?}",
            db.kind
        );
        assert_eq!(
            notes(&db).await,
            with_first(["1", "ACME", "mine"]),
            "{:?}",
            db.kind
        );
    });
}

/// `co_words`: a text key and a text column, both under the collation.
async fn words_setup(db: &TestDb) {
    collation_setup(db).await;
    let ty = ci_text(db, false);
    db.exec(&format!(
        "CREATE TABLE co_words (code {ty} NOT NULL PRIMARY KEY, org INTEGER NOT NULL, word {ty} NOT NULL, n INTEGER NOT NULL);
         INSERT INTO co_words VALUES ('k1', 1, 'abc', 0);
         INSERT INTO co_words VALUES ('k2', 1, 'abc', 0);
         INSERT INTO co_words VALUES ('k3', 1, 'abc', 0);
         INSERT INTO co_words VALUES ('taken', 2, 'theirs', 0);
         INSERT INTO co_words VALUES ('x', 2, 'theirs', 0)"
    ))
    .await;
}

async fn open_words(db: &TestDb) -> ShadowDb {
    // The tests write every row of the tenant on purpose.
    crate::common::uncontracted(&db.prod, &["co_words"], "org", 1_i64)
        .policy(crate::common::whole_table_updates_allowed())
        .policy(crate::common::whole_table_updates_allowed())
        .open()
        .await
        .unwrap()
}

async fn words(db: &TestDb) -> Vec<Vec<String>> {
    db.rows("SELECT code, org, word, n FROM co_words ORDER BY n, org, word, code")
        .await
}

#[tokio::test]
async fn guards_see_a_change_only_the_collation_ignores() {
    each_db!("co_guard", |db| {
        words_setup(&db).await;
        let mut sdb = open_words(&db).await;
        // One statement a row: one that changes every row is a whole-table write.
        run(
            &sdb,
            "UPDATE co_words SET n = 1 WHERE code = 'k1'; \
             UPDATE co_words SET n = 1 WHERE code = 'k2'; \
             UPDATE co_words SET n = 1 WHERE code = 'k3'",
        )
        .await;
        let cs = sdb.diff().unwrap();
        // After the clone: a case change, a trailing space, a renamed key.
        db.exec(
            "UPDATE co_words SET word = 'ABC' WHERE code = 'k1';
             UPDATE co_words SET word = 'abc ' WHERE code = 'k2';
             UPDATE co_words SET code = 'K3' WHERE code = 'k3'",
        )
        .await;
        let err = sdb.commit(&cs).await.unwrap_err();
        let Error::Conflict(mut c) = err else {
            panic!("{:?}: {err:?}", db.kind)
        };
        c.sort_by_key(|c| c.key.render());
        assert_eq!(
            c,
            [
                conflict(
                    "co_words",
                    "code=\"k1\"",
                    ConflictKind::Changed {
                        columns: vec!["word".into()]
                    }
                ),
                conflict(
                    "co_words",
                    "code=\"k2\"",
                    ConflictKind::Changed {
                        columns: vec!["word".into()]
                    }
                ),
                conflict("co_words", "code=\"k3\"", ConflictKind::Gone),
            ],
            "{:?}",
            db.kind
        );
        let want: Vec<Vec<String>> = [
            ["K3", "1", "abc", "0"],
            ["k1", "1", "ABC", "0"],
            ["k2", "1", "abc ", "0"],
            ["taken", "2", "theirs", "0"],
            ["x", "2", "theirs", "0"],
        ]
        .iter()
        .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
        .collect();
        let mut now = words(&db).await;
        now.sort();
        assert_eq!(now, want, "{:?}", db.kind);
    });
}

// ---- keys production holds taken under its collation ----------------------------

#[tokio::test]
async fn a_key_taken_under_the_collation_is_key_exists_and_skip_commits_the_rest() {
    each_db!("co_keys", |db| {
        words_setup(&db).await;
        db.exec("INSERT INTO co_words VALUES ('cafe', 2, 'theirs', 0)")
            .await;
        // `'x '` is `'x'` where the collation pads, and `'café'` is `'cafe'`
        // where it ignores accents (MariaDB); not on PostgreSQL's
        // `und-u-ks-level2` nor SQLite's NOCASE.
        let pads = db.kind == Kind::MySql;
        let insert = "INSERT INTO co_words VALUES ('TAKEN', 1, 'mine', 5), ('x ', 1, 'mine', 5), ('café', 1, 'mine', 5), ('fresh', 1, 'mine', 5)";
        let mut taken = vec![conflict(
            "co_words",
            "code=\"TAKEN\"",
            ConflictKind::KeyExists,
        )];
        if pads {
            taken.push(conflict(
                "co_words",
                "code=\"café\"",
                ConflictKind::KeyExists,
            ));
            taken.push(conflict("co_words", "code=\"x \"", ConflictKind::KeyExists));
        }

        let mut sdb = open_words(&db).await;
        run(&sdb, insert).await;
        let cs = sdb.diff().unwrap();
        let before = words(&db).await;
        let err = sdb.commit(&cs).await.unwrap_err();
        let Error::Conflict(mut c) = err else {
            panic!("{:?}: {err:?}", db.kind)
        };
        c.sort_by_key(|c| c.key.render());
        assert_eq!(c, taken, "{:?}", db.kind);
        assert_eq!(words(&db).await, before, "{:?}", db.kind);

        let mut sdb = open_words(&db).await;
        run(&sdb, insert).await;
        let cs = sdb.diff().unwrap();
        let report = sdb
            .commit_with(&cs, CommitOptions::new().on_conflict(OnConflict::Skip))
            .await
            .unwrap();
        let mut skipped = report.skipped.clone();
        skipped.sort_by_key(|c| c.key.render());
        assert_eq!(skipped, taken, "{:?}", db.kind);
        let mut want = before.clone();
        let mine = |code: &str| vec![code.to_owned(), "1".into(), "mine".into(), "5".into()];
        if !pads {
            want.push(mine("café"));
        }
        want.push(mine("fresh"));
        if !pads {
            want.push(mine("x "));
        }
        assert_eq!(words(&db).await, want, "{:?}", db.kind);
    });
}

#[tokio::test]
async fn mysql_insert_racing_an_uncommitted_insert_of_the_same_key_is_key_exists() {
    let Some(db) = TestDb::new(Kind::MySql, "co_race").await else {
        return;
    };
    words_setup(&db).await;
    let mut sdb = open_words(&db).await;
    run(&sdb, "INSERT INTO co_words VALUES ('race', 1, 'mine', 5)").await;
    let cs = sdb.diff().unwrap();
    // Another connection inserts the same key (another case) and commits
    // while the commit waits on its lock.
    let mut other = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other
        .execute("INSERT INTO co_words VALUES ('RACE', 2, 'theirs', 7)")
        .await
        .unwrap();
    let finisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        other.execute("COMMIT").await.unwrap();
    });
    let err = sdb.commit(&cs).await.unwrap_err();
    finisher.await.unwrap();
    assert!(
        matches!(&err, Error::Conflict(c) if *c == [conflict("co_words", "code=\"race\"", ConflictKind::KeyExists)]),
        "{err:?}"
    );
    assert_eq!(
        db.rows("SELECT code, org FROM co_words WHERE n = 7 OR n = 5")
            .await,
        vec![vec!["RACE".to_owned(), "2".to_owned()]]
    );
}

// ---- "unchanged since review" is byte for byte -----------------------------------

#[tokio::test]
async fn json_rewritten_after_review_to_the_same_meaning_is_refused() {
    each_db!("co_json", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE co_docs (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, doc JSON NOT NULL);
             INSERT INTO co_docs VALUES (1, 1, '{\"a\": 0}')",
            "CREATE TABLE co_docs (id bigint PRIMARY KEY, org bigint NOT NULL, doc json NOT NULL);
             INSERT INTO co_docs VALUES (1, 1, '{\"a\": 0}')",
            "CREATE TABLE co_docs (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, doc JSON NOT NULL);
             INSERT INTO co_docs VALUES (1, 1, '{\"a\": 0}')",
        ))
        .await;
        let mut sdb = crate::common::open_uncontracted(&db.prod, &["co_docs"], "org", 1_i64).await;
        let err = commit_stale_review(
            &mut sdb,
            "UPDATE co_docs SET doc = '{\"a\": 2}' WHERE id = 1",
            "UPDATE co_docs SET doc = '{\"a\": 1, \"a\": 2}' WHERE id = 1",
        )
        .await;
        assert!(
            matches!(err, Error::ChangeSetChanged),
            "{:?}: {err:?}",
            db.kind
        );
        assert_eq!(
            db.rows(pick(
                &db,
                "SELECT doc FROM co_docs",
                "SELECT doc::text FROM co_docs",
                "SELECT CAST(doc AS CHAR) FROM co_docs"
            ))
            .await,
            vec![vec!["{\"a\": 0}".to_owned()]],
            "{:?}",
            db.kind
        );
    });
}

// ---- PII columns, never cloned, still guard against lost updates -----------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "co_people", tenant = "org")]
pub struct CoPerson {
    #[safemodel(primary_key)]
    pub id: i64,
    pub org: i64,
    pub n: i64,
    #[safemodel(pii)]
    pub email: Option<String>,
}

#[tokio::test]
async fn a_pii_column_changed_after_the_clone_is_a_conflict() {
    each_db!("co_pii", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE co_people (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, n INTEGER NOT NULL, email TEXT)",
            "CREATE TABLE co_people (id bigint PRIMARY KEY, org bigint NOT NULL, n bigint NOT NULL, email text)",
            "CREATE TABLE co_people (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, n BIGINT NOT NULL, email VARCHAR(100))",
        ))
        .await;
        db.exec(
            "INSERT INTO co_people VALUES (1, 1, 0, 'a@example.com');
             INSERT INTO co_people VALUES (2, 1, 0, 'b@example.com');
             INSERT INTO co_people VALUES (3, 1, 0, NULL)",
        )
        .await;
        let mut sdb = open_table(&db.prod, "co_people", 1_i64).await;
        run(&sdb, "UPDATE co_people SET n = 1 WHERE id IN (1, 2)").await;
        run(&sdb, "DELETE FROM co_people WHERE id = 3").await;
        let cs = sdb.diff().unwrap();
        // Another connection changes the e-mail addresses (case only, for
        // one: 'A@example.com').
        db.exec(
            "UPDATE co_people SET email = 'A@example.com' WHERE id = 1;
             UPDATE co_people SET email = 'c@example.com' WHERE id = 3",
        )
        .await;
        let all = "SELECT id, n, email FROM co_people ORDER BY id";
        let row = |r: [&str; 3]| -> Vec<String> { r.iter().map(|s| (*s).to_owned()).collect() };
        if db.kind == Kind::Sqlite {
            // No hash function: not guarded, and the changeset says so.
            assert_eq!(
                cs.not_enforced,
                [
                    "co_people: PII columns email are not guarded against concurrent changes (SQLite has no hash function to compare them without reading them)"
                ]
            );
            continue;
        }
        assert!(cs.not_enforced.is_empty(), "{:?}", cs.not_enforced);
        let err = sdb.commit(&cs).await.unwrap_err();
        let Error::Conflict(mut c) = err else {
            panic!("{:?}: {err:?}", db.kind)
        };
        c.sort_by_key(|c| c.key.render());
        let email = || ConflictKind::Changed {
            columns: vec!["email".into()],
        };
        assert_eq!(
            c,
            [
                conflict("co_people", "id=1", email()),
                conflict("co_people", "id=3", email())
            ],
            "{:?}",
            db.kind
        );
        let moved = vec![
            row(["1", "0", "A@example.com"]),
            row(["2", "0", "b@example.com"]),
            row(["3", "0", "c@example.com"]),
        ];
        assert_eq!(db.rows(all).await, moved, "{:?}", db.kind);

        let report = sdb
            .commit_with(&cs, CommitOptions::new().on_conflict(OnConflict::Skip))
            .await
            .unwrap();
        assert_eq!(report.skipped.len(), 2, "{:?}", db.kind);
        assert_eq!(
            db.rows(all).await,
            vec![
                row(["1", "0", "A@example.com"]),
                row(["2", "1", "b@example.com"]),
                row(["3", "0", "c@example.com"]),
            ],
            "{:?}",
            db.kind
        );
    });
}

// ---- cascades: a child of `'ACME'` is not this tenant's -------------------------

#[tokio::test]
async fn a_cascade_onto_a_child_of_a_tenant_the_collation_matches_is_refused() {
    each_db!("co_cascade", |db| {
        collation_setup(&db).await;
        let ty = ci_text(&db, false);
        db.exec(&format!(
            "CREATE TABLE co_parents (id INTEGER PRIMARY KEY, tenant {ty} NOT NULL);
             CREATE TABLE co_kids (id INTEGER PRIMARY KEY, tenant {ty} NOT NULL, parent_id INTEGER NOT NULL REFERENCES co_parents (id) ON DELETE CASCADE);
             INSERT INTO co_parents VALUES (1, 'acme');
             INSERT INTO co_kids VALUES (1, 'acme', 1);
             INSERT INTO co_kids VALUES (2, 'ACME', 1)"
        ))
        .await;
        let mut sdb = ShadowDb::builder(db.prod.clone())
            .tables(["co_parents", "co_kids"])
            .tenant_column("co_parents", "tenant")
            .tenant_column("co_kids", "tenant")
            .allow_uncontracted(true)
            .tenant(Value::Text("acme".into()))
            .open()
            .await
            .unwrap();
        run(&sdb, "DELETE FROM co_parents WHERE id = 1").await;
        let err = sdb.commit(&sdb.diff().unwrap()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "co_parents[id=1]: DELETE would cascade onto `co_kids` rows outside the changeset",
            "{:?}",
            db.kind
        );
        assert_eq!(
            db.rows("SELECT id, tenant FROM co_kids ORDER BY id").await,
            vec![
                vec!["1".to_owned(), "acme".to_owned()],
                vec!["2".to_owned(), "ACME".to_owned()]
            ],
            "{:?}",
            db.kind
        );
    });
}

#[tokio::test]
async fn mysql_a_latin1_tenant_column_clones_the_tenants_rows_exactly() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "co_latin1",
        "CREATE TABLE co_notes (id INTEGER PRIMARY KEY, tenant VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL, body VARCHAR(200) CHARACTER SET latin1 NOT NULL, n INTEGER NOT NULL, KEY (tenant));
         INSERT INTO co_notes VALUES (1, 'acmé', 'mïne', 0);
         INSERT INTO co_notes VALUES (2, 'ACMÉ', 'secret-2', 0);
         INSERT INTO co_notes VALUES (3, 'acme', 'secret-3', 0);
         INSERT INTO co_notes VALUES (4, 'acmé ', 'secret-4', 0)",
    )
    .await
    else {
        return;
    };
    let mut sdb = open_notes(&db, "acmé").await;
    assert_eq!(
        query_rows(&sdb, "SELECT id, tenant FROM co_notes").await,
        vec![vec![Value::Int(1), Value::Text("acmé".into())]]
    );
    run(&sdb, "UPDATE co_notes SET n = 1 WHERE id = 1").await;
    sdb.commit(&sdb.diff().unwrap()).await.unwrap();
    assert_eq!(
        db.rows("SELECT id, n FROM co_notes ORDER BY id").await,
        [["1", "1"], ["2", "0"], ["3", "0"], ["4", "0"]]
            .iter()
            .map(|r| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
}
