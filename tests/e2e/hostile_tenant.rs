//! Hostile settings against byte-exact tenants and guards: a parent outside
//! the scope whose tenant column is in another character set, and production
//! sessions whose connection character set is not UTF-8 (a pool's
//! `after_connect` may set it). Production's rows are read back with a
//! separate connection.

use safemodel::{SafeModel, Value};
use shadowdb::prod::Production;
use shadowdb::{ConflictKind, Error, ShadowDb};

use crate::common::{Kind, TestDb, commit_diff, open_table, query_rows, run, text_rows};

// ---- a parent outside the scope, its tenant in latin1 --------------------------

/// `acmé` in UTF-8 is the bytes `61 63 6d c3 a9`; in a `latin1` column those
/// same bytes are another tenant, `acmÃ©`. Comparing the column's raw bytes
/// with the bound value's takes that tenant's task for the scoped tenant's.
#[tokio::test]
async fn an_outside_parent_in_latin1_is_not_the_tenants_by_its_bytes() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "ht_outside_latin1",
        "CREATE TABLE ht_ptasks (id BIGINT PRIMARY KEY, org VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_bin NOT NULL) ENGINE=InnoDB; \
         CREATE TABLE ht_comments (id BIGINT PRIMARY KEY, org VARCHAR(20) NOT NULL, task_id BIGINT, body TEXT NOT NULL, \
           FOREIGN KEY (task_id) REFERENCES ht_ptasks (id)) ENGINE=InnoDB; \
         INSERT INTO ht_ptasks VALUES (1, 'acmé'); \
         INSERT INTO ht_ptasks VALUES (2, 'acmÃ©'); \
         INSERT INTO ht_comments VALUES (1, 'acmé', 1, 'first')",
    )
    .await
    else {
        return;
    };
    // Production holds two distinct tenants.
    assert_eq!(
        db.rows("SELECT id, HEX(org) FROM ht_ptasks ORDER BY id")
            .await,
        text_rows(&[&["1", "61636DE9"], &["2", "61636DC3A9"]])
    );
    let open = || async {
        ShadowDb::builder(db.prod.clone())
            .table("ht_comments")
            .tenant_column("ht_comments", "org")
            .tenant_column("ht_ptasks", "org")
            .allow_uncontracted(true)
            .tenant("acmé")
            .open()
            .await
            .unwrap()
    };
    for sql in [
        "INSERT INTO ht_comments (id, task_id, body) VALUES (5, 2, 'x')",
        "UPDATE ht_comments SET task_id = 2 WHERE id = 1",
    ] {
        let mut sdb = open().await;
        run(&sdb, sql).await;
        let err = commit_diff(&mut sdb).await.unwrap_err();
        let key = if sql.starts_with("INSERT") {
            "id=5"
        } else {
            "id=1"
        };
        assert!(
            matches!(&err, Error::TenantBreach { table, key: k, .. } if table == "ht_comments" && k == key),
            "{sql}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "tenant breach: ht_comments[{key}]: (task_id) does not reference a row of `ht_ptasks` of this tenant"
            )
        );
    }
    assert_eq!(
        db.rows("SELECT id, org, task_id, body FROM ht_comments ORDER BY id")
            .await,
        text_rows(&[&["1", "acmé", "1", "first"]])
    );

    // The tenant's own task (its latin1 bytes differ from the UTF-8 ones) commits.
    let mut sdb = open().await;
    run(
        &sdb,
        "INSERT INTO ht_comments (id, task_id, body) VALUES (6, 1, 'mine')",
    )
    .await;
    commit_diff(&mut sdb).await.unwrap();
    assert_eq!(
        db.rows("SELECT id, org, task_id, body FROM ht_comments ORDER BY id")
            .await,
        text_rows(&[&["1", "acmé", "1", "first"], &["6", "acmé", "1", "mine"]])
    );
}

// ---- a production session in another character set -----------------------------

/// A pool whose sessions speak `latin1` (MariaDB `SET NAMES latin1`,
/// PostgreSQL `client_encoding = LATIN1`) while the driver sends UTF-8.
async fn latin1_pool(db: &TestDb) -> Production {
    match db.kind {
        Kind::MySql => Production::MySql(
            crate::common::session_pool::<sqlx::MySql>(&db.url, "SET NAMES latin1").await,
        ),
        Kind::Postgres => Production::Postgres(
            crate::common::session_pool::<sqlx::Postgres>(
                &db.url,
                "SET client_encoding = 'LATIN1'",
            )
            .await,
        ),
        Kind::Sqlite => unreachable!(),
    }
}

#[tokio::test]
async fn a_session_in_another_character_set_stores_what_the_review_showed() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let Some(db) = TestDb::new(kind, "ht_names").await else {
            continue;
        };
        db.exec(match kind {
            Kind::Postgres => {
                "CREATE TABLE ht_notes (id bigint PRIMARY KEY, org text NOT NULL, body text NOT NULL)"
            }
            _ => {
                "CREATE TABLE ht_notes (id BIGINT PRIMARY KEY, org VARCHAR(20) NOT NULL, body VARCHAR(100) NOT NULL) ENGINE=InnoDB"
            }
        })
        .await;
        db.exec(
            "INSERT INTO ht_notes VALUES (1, 'acmé', 'old'); \
             INSERT INTO ht_notes VALUES (2, 'acmÃ©', 'secret')",
        )
        .await;
        let prod = latin1_pool(&db).await;
        let opened = crate::common::uncontracted(&prod, &["ht_notes"], "org", "acmé")
            .open()
            .await;
        let mut sdb = match opened {
            Ok(sdb) => sdb,
            Err(e) => panic!("{kind:?}: {e:?}"),
        };
        // Exactly the tenant's row, nothing of the other tenant's.
        let seen = query_rows(&sdb, "SELECT id, org, body FROM ht_notes ORDER BY id").await;
        assert_eq!(
            seen,
            vec![vec![
                Value::Int(1),
                Value::Text("acmé".into()),
                Value::Text("old".into())
            ]],
            "{kind:?}"
        );
        run(&sdb, "UPDATE ht_notes SET body = 'café' WHERE id = 1").await;
        run(&sdb, "INSERT INTO ht_notes (id, body) VALUES (3, 'naïve')").await;
        commit_diff(&mut sdb).await.unwrap();
        // What the review showed is what production holds, byte for byte.
        assert_eq!(
            db.rows("SELECT id, org, body FROM ht_notes ORDER BY id")
                .await,
            text_rows(&[
                &["1", "acmé", "café"],
                &["2", "acmÃ©", "secret"],
                &["3", "acmé", "naïve"]
            ]),
            "{kind:?}"
        );
        // The user's sessions keep their own character set.
        match &prod {
            Production::MySql(p) => {
                let cs: String = sqlx::query_scalar("SELECT @@character_set_client")
                    .fetch_one(p)
                    .await
                    .unwrap();
                assert_eq!(cs, "latin1");
            }
            Production::Postgres(p) => {
                let cs: String = sqlx::query_scalar("SHOW client_encoding")
                    .fetch_one(p)
                    .await
                    .unwrap();
                assert_eq!(cs, "LATIN1");
            }
            _ => {}
        }
    }
}

// ---- a PostgreSQL session that prints floats short ---------------------------------

/// `extra_float_digits = -3` prints `1.23456789012341` and `1.23456789012342` alike
/// (`1.23456789012`): a float array read as its text then neither clones exactly
/// nor guards against another connection's change.
#[tokio::test]
async fn a_session_printing_floats_short_neither_clones_nor_guards_them_short() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "ht_float_digits",
        "CREATE TABLE ht_series (id bigint PRIMARY KEY, org text NOT NULL, vals float8[] NOT NULL, n int NOT NULL); \
         INSERT INTO ht_series VALUES (1, 'acme', '{1.23456789012341}', 0)",
    )
    .await
    else {
        return;
    };
    let prod = Production::Postgres(
        crate::common::session_pool::<sqlx::Postgres>(&db.url, "SET extra_float_digits = -3").await,
    );
    let mut sdb = crate::common::open_uncontracted(&prod, &["ht_series"], "org", "acme").await;
    let seen = query_rows(&sdb, "SELECT vals FROM ht_series WHERE id = 1").await;
    assert_eq!(seen, vec![vec![Value::Text("{1.23456789012341}".into())]]);
    run(
        &sdb,
        "UPDATE ht_series SET vals = '{1.23456789012341,2}', n = 1 WHERE id = 1",
    )
    .await;
    let cs = sdb.diff().unwrap();
    // Another connection changes the array after the clone.
    db.exec("UPDATE ht_series SET vals = '{1.23456789012342}' WHERE id = 1")
        .await;
    let err = sdb.commit(&cs).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(c) if c.len() == 1 && c[0].table == "ht_series" && c[0].key.render() == "id=1"),
        "{err:?}"
    );
    assert_eq!(
        db.rows("SELECT id, vals::text, n FROM ht_series").await,
        text_rows(&[&["1", "{1.23456789012342}", "0"]])
    );
    // The user's sessions keep their own setting.
    let Production::Postgres(p) = &prod else {
        unreachable!()
    };
    let digits: String = sqlx::query_scalar("SHOW extra_float_digits")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(digits, "-3");
}

// ---- rollback after a case-only change by another connection -------------------

/// A case- (and on MariaDB accent-) insensitive text type for `db`.
fn ci_text(db: &TestDb) -> &'static str {
    match db.kind {
        Kind::Sqlite => "TEXT COLLATE NOCASE",
        Kind::Postgres => "text COLLATE ht_ci",
        Kind::MySql => "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_nopad_ci",
    }
}

/// A commit inserted one row and updated another of a composite key with a
/// case-insensitive text part; another connection then changed, by case
/// only, the inserted row's tenant and the updated row's key. Rolling back
/// would delete a row that is no longer the tenant's and set back a row that
/// is no longer the one committed: both are conflicts, nothing is written.
#[tokio::test]
async fn rollback_after_a_case_only_change_is_a_conflict() {
    crate::each_db!("ht_rollback_case", |db| {
        if db.kind == Kind::Postgres {
            db.exec("CREATE COLLATION ht_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
                .await;
        }
        let ty = ci_text(&db);
        db.exec(&format!(
            "CREATE TABLE ht_docs (code {ty} NOT NULL, n INTEGER NOT NULL, org {ty} NOT NULL, body VARCHAR(40) NOT NULL, PRIMARY KEY (code, n)); \
             INSERT INTO ht_docs VALUES ('k2', 1, 'acme', 'old')"
        ))
        .await;
        let mut sdb = crate::common::uncontracted(&db.prod, &["ht_docs"], "org", "acme")
            .audit_in_production(true)
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "INSERT INTO ht_docs (code, n, body) VALUES ('k1', 1, 'new')",
        )
        .await;
        run(&sdb, "UPDATE ht_docs SET body = 'mine' WHERE code = 'k2'").await;
        let commit = commit_diff(&mut sdb).await.unwrap();
        db.exec(
            "UPDATE ht_docs SET org = 'ACME' WHERE code = 'k1'; \
             UPDATE ht_docs SET code = 'K2' WHERE code = 'k2'",
        )
        .await;
        let before = db
            .rows("SELECT code, n, org, body FROM ht_docs ORDER BY body")
            .await;
        assert_eq!(
            before,
            text_rows(&[&["K2", "1", "acme", "mine"], &["k1", "1", "ACME", "new"]]),
            "{:?}",
            db.kind
        );
        let err = shadowdb::rollback::Rollback::new(db.prod.clone())
            .tenant_column("ht_docs", "org")
            .allow_uncontracted(true)
            .run(&commit.commit_id)
            .await
            .unwrap_err();
        let Error::Conflict(mut c) = err else {
            panic!("{:?}: {err:?}", db.kind)
        };
        c.sort_by_key(|c| c.key.render());
        let keys: Vec<(&str, String)> = c
            .iter()
            .map(|c| (c.table.as_str(), c.key.render()))
            .collect();
        assert_eq!(
            keys,
            [
                ("ht_docs", "code=\"k1\",n=1".to_owned()),
                ("ht_docs", "code=\"k2\",n=1".to_owned())
            ],
            "{:?}: {c:?}",
            db.kind
        );
        assert_eq!(
            db.rows("SELECT code, n, org, body FROM ht_docs ORDER BY body")
                .await,
            before,
            "{:?}",
            db.kind
        );
    });
}

// ---- a tenant value the tenant column cannot hold exactly -----------------------

/// MariaDB `CHAR(n)` drops trailing spaces: a sandbox of tenant `'acme '`
/// would insert rows production stores as tenant `'acme'`'s.
#[tokio::test]
async fn a_tenant_with_trailing_spaces_on_a_char_column_is_refused() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let Some(db) = TestDb::new(kind, "ht_char_tenant").await else {
            continue;
        };
        db.exec(
            "CREATE TABLE ht_cnotes (id INTEGER PRIMARY KEY, org CHAR(8) NOT NULL, body VARCHAR(40) NOT NULL); \
             INSERT INTO ht_cnotes VALUES (1, 'acme', 'secret')",
        )
        .await;
        let opened = crate::common::uncontracted(&db.prod, &["ht_cnotes"], "org", "acme ")
            .open()
            .await;
        match opened {
            Err(e) => {
                assert!(
                    matches!(&e, Error::TenantCollation { .. } | Error::Config(_)),
                    "{kind:?}: {e:?}"
                );
            }
            Ok(mut sdb) => {
                run(
                    &sdb,
                    "INSERT INTO ht_cnotes (id, body) VALUES (2, 'planted')",
                )
                .await;
                let res = commit_diff(&mut sdb).await;
                let Err(Error::Contract(v)) = res else {
                    panic!("{kind:?}: {res:?}")
                };
                assert_eq!(v.len(), 1);
                assert_eq!(
                    (v[0].table.as_str(), v[0].key.as_str()),
                    ("ht_cnotes", "id=2")
                );
                assert!(
                    v[0].violations[0]
                        .message
                        .starts_with("ends in a space, which ")
                        && v[0].violations[0].column == "org",
                    "{kind:?}: {v:?}"
                );
            }
        }
        assert_eq!(
            db.rows(if kind == Kind::Postgres {
                "SELECT id, '[' || org::varchar || ']', body FROM ht_cnotes ORDER BY id"
            } else {
                "SELECT id, CONCAT('[', org, ']'), body FROM ht_cnotes ORDER BY id"
            })
            .await,
            text_rows(&[&["1", "[acme]", "secret"]]),
            "{kind:?}"
        );
    }
}

// ---- PII digests: lossless for every type, NULL is not empty ---------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "ht_people", tenant = "org")]
pub struct HtPerson {
    #[safemodel(primary_key)]
    pub id: i64,
    pub org: i64,
    pub n: i64,
    #[safemodel(pii)]
    pub score: Option<f32>,
    #[safemodel(pii)]
    pub note: Option<String>,
}

/// MariaDB prints a `FLOAT` with six digits (`1.2345678` and `1.2345679`
/// are both `1.23457`): a digest of that text misses another connection's
/// change. A NULL that became `''` is a change too.
#[tokio::test]
async fn pii_digests_see_every_change_production_stores() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let Some(db) = TestDb::new(kind, "ht_pii").await else {
            continue;
        };
        db.exec(match kind {
            Kind::Postgres => {
                "CREATE TABLE ht_people (id bigint PRIMARY KEY, org bigint NOT NULL, n bigint NOT NULL, score real, note varchar(20))"
            }
            _ => {
                "CREATE TABLE ht_people (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, n BIGINT NOT NULL, score FLOAT, note VARCHAR(20))"
            }
        })
        .await;
        db.exec(
            "INSERT INTO ht_people VALUES (1, 1, 0, 1.2345678, 'x'); \
             INSERT INTO ht_people VALUES (2, 1, 0, 2, NULL); \
             INSERT INTO ht_people VALUES (3, 1, 0, 3, 'z'); \
             INSERT INTO ht_people VALUES (4, 1, 0, 4, 'w')",
        )
        .await;
        let mut sdb = open_table(&db.prod, "ht_people", 1_i64).await;
        run(&sdb, "UPDATE ht_people SET n = 1 WHERE id IN (1, 2, 3)").await;
        let cs = sdb.diff().unwrap();
        db.exec(
            "UPDATE ht_people SET score = 1.2345679 WHERE id = 1; \
             UPDATE ht_people SET note = '' WHERE id = 2",
        )
        .await;
        let before = db
            .rows("SELECT id, n, CAST(score AS DECIMAL(20,10)), note FROM ht_people ORDER BY id")
            .await;
        let err = sdb.commit(&cs).await.unwrap_err();
        let Error::Conflict(mut c) = err else {
            panic!("{kind:?}: {err:?}")
        };
        c.sort_by_key(|c| c.key.render());
        let got: Vec<(&str, String, &ConflictKind)> = c
            .iter()
            .map(|c| (c.table.as_str(), c.key.render(), &c.kind))
            .collect();
        let changed = |col: &str| ConflictKind::Changed {
            columns: vec![col.to_owned()],
        };
        assert_eq!(
            got,
            [
                ("ht_people", "id=1".to_owned(), &changed("score")),
                ("ht_people", "id=2".to_owned(), &changed("note"))
            ],
            "{kind:?}"
        );
        assert_eq!(
            db.rows("SELECT id, n, CAST(score AS DECIMAL(20,10)), note FROM ht_people ORDER BY id")
                .await,
            before,
            "{kind:?}"
        );

        // The agent cannot write a PII column, not even alone in an UPDATE.
        let mut sdb = open_table(&db.prod, "ht_people", 1_i64).await;
        let wrote = sdb
            .execute("UPDATE ht_people SET note = 'planted' WHERE id = 3", &[])
            .await;
        if wrote.is_ok() {
            let res = commit_diff(&mut sdb).await;
            assert!(
                matches!(&res, Err(Error::PiiWrite { table, column }) if table == "ht_people" && column == "note"),
                "{kind:?}: {res:?}"
            );
        }
        assert_eq!(
            db.rows("SELECT id, n, CAST(score AS DECIMAL(20,10)), note FROM ht_people ORDER BY id")
                .await,
            before,
            "{kind:?}"
        );
    }
}

// ---- a PostgreSQL search path that shadows "C" ---------------------------------

/// A schema ahead of `pg_catalog` in the session's search path may define a
/// collation named `"C"` (here case-insensitive): the byte-exact comparison
/// must name `pg_catalog."C"`, or a case-only change by another connection
/// goes unseen and is overwritten.
#[tokio::test]
async fn postgres_a_collation_named_c_on_the_search_path_does_not_replace_bytes() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "ht_search_path_c",
        "CREATE SCHEMA ht_hostile; \
         CREATE COLLATION ht_hostile.\"C\" (provider = icu, locale = 'und-u-ks-level2', deterministic = false); \
         CREATE COLLATION ht_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false); \
         CREATE TABLE ht_words (id bigint PRIMARY KEY, org text COLLATE ht_ci NOT NULL, word text COLLATE ht_ci NOT NULL); \
         INSERT INTO ht_words VALUES (1, 'acme', 'abc'); \
         INSERT INTO ht_words VALUES (2, 'ACME', 'secret'); \
         INSERT INTO ht_words VALUES (3, 'acme', 'x')",
    )
    .await
    else {
        return;
    };
    let prod = Production::Postgres(
        crate::common::session_pool::<sqlx::Postgres>(
            &db.url,
            "SET search_path = ht_hostile, pg_catalog, public",
        )
        .await,
    );
    let mut sdb = crate::common::open_uncontracted(&prod, &["ht_words"], "org", "acme").await;
    let ids = query_rows(&sdb, "SELECT id FROM ht_words ORDER BY id").await;
    assert_eq!(ids, vec![vec![Value::Int(1)], vec![Value::Int(3)]]);
    run(&sdb, "UPDATE ht_words SET word = 'abd' WHERE id = 1").await;
    let cs = sdb.diff().unwrap();
    db.exec("UPDATE ht_words SET word = 'ABC' WHERE id = 1")
        .await;
    let err = sdb.commit(&cs).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(c) if c.len() == 1 && c[0].key.render() == "id=1"),
        "{err:?}"
    );
    assert_eq!(
        db.rows("SELECT id, org, word FROM ht_words ORDER BY id")
            .await,
        text_rows(&[
            &["1", "acme", "ABC"],
            &["2", "ACME", "secret"],
            &["3", "acme", "x"]
        ])
    );
}

// ---- tenant columns of every character set and text type --------------------------

/// Tenant columns in non-default character sets and text types: the clone
/// takes exactly the tenant's row (not `'ACME'`, `'acmé'`, `'acme '`), the
/// commit writes it and the new row is the tenant's.
#[tokio::test]
async fn tenant_columns_of_other_character_sets_and_types_are_exact() {
    let mysql = [
        "VARCHAR(20) CHARACTER SET utf16",
        "VARCHAR(20) CHARACTER SET ucs2",
        "VARCHAR(20) CHARACTER SET utf8mb3",
        "VARCHAR(20) CHARACTER SET latin1",
        "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_nopad_ci",
        "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        "CHAR(8) CHARACTER SET utf8mb4",
        "TEXT CHARACTER SET utf16",
    ];
    let postgres = [
        "citext",
        "char(8)",
        "name",
        "ht_ci_text",
        "varchar(20) COLLATE ht_ci",
    ];
    for (kind, types) in [(Kind::MySql, &mysql[..]), (Kind::Postgres, &postgres[..])] {
        for ty in types {
            let Some(db) = TestDb::new(kind, "ht_tenant_types").await else {
                break;
            };
            if kind == Kind::Postgres {
                db.exec(
                    "CREATE EXTENSION IF NOT EXISTS citext; \
                     CREATE COLLATION ht_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false); \
                     CREATE DOMAIN ht_ci_text AS text COLLATE ht_ci",
                )
                .await;
            }
            let padded = ty.to_ascii_lowercase().starts_with("char");
            db.exec(&format!(
                "CREATE TABLE ht_tnotes (id INTEGER PRIMARY KEY, org {ty} NOT NULL, body VARCHAR(40) NOT NULL); \
                 INSERT INTO ht_tnotes VALUES (1, 'acme', 'mine'); \
                 INSERT INTO ht_tnotes VALUES (2, 'ACME', 's2'); \
                 INSERT INTO ht_tnotes VALUES (3, 'acmé', 's3')"
            ))
            .await;
            if !padded {
                db.exec("INSERT INTO ht_tnotes VALUES (4, 'acme ', 's4')")
                    .await;
            }
            let mut sdb = crate::common::uncontracted(&db.prod, &["ht_tnotes"], "org", "acme")
                .open()
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {ty}: {e:?}"));
            let seen = query_rows(&sdb, "SELECT id, body FROM ht_tnotes ORDER BY id").await;
            assert_eq!(
                seen,
                vec![vec![Value::Int(1), Value::Text("mine".into())]],
                "{kind:?} {ty}"
            );
            run(&sdb, "UPDATE ht_tnotes SET body = 'new' WHERE id = 1").await;
            run(&sdb, "INSERT INTO ht_tnotes (id, body) VALUES (9, 'added')").await;
            let cs = sdb.diff().unwrap();
            sdb.commit(&cs)
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {ty}: {e:?}"));
            let sql = if kind == Kind::Postgres {
                "SELECT id, '[' || org::varchar || ']', body FROM ht_tnotes ORDER BY id"
            } else {
                "SELECT id, CONCAT('[', org, ']'), body FROM ht_tnotes ORDER BY id"
            };
            let mut want = vec![
                ["1", "[acme]", "new"],
                ["2", "[ACME]", "s2"],
                ["3", "[acmé]", "s3"],
            ];
            if !padded {
                want.push(["4", "[acme ]", "s4"]);
            }
            want.push(["9", "[acme]", "added"]);
            let want: Vec<&[&str]> = want.iter().map(|r| &r[..]).collect();
            assert_eq!(db.rows(sql).await, text_rows(&want), "{kind:?} {ty}");
        }
    }
}

/// The commit record a rollback reads back from production goes through the
/// same sessions: with `SET NAMES latin1` (`client_encoding = LATIN1`) a
/// record holding `'Ã©'` reads as `'é'`, and the rollback would restore a
/// value nobody committed.
#[tokio::test]
async fn a_rollback_through_a_latin1_session_restores_the_bytes_committed() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let Some(db) = TestDb::new(kind, "ht_names_rollback").await else {
            continue;
        };
        db.exec(match kind {
            Kind::Postgres => {
                "CREATE TABLE ht_rnotes (id bigint PRIMARY KEY, org text NOT NULL, body text NOT NULL)"
            }
            _ => {
                "CREATE TABLE ht_rnotes (id BIGINT PRIMARY KEY, org VARCHAR(20) NOT NULL, body VARCHAR(100) NOT NULL) ENGINE=InnoDB"
            }
        })
        .await;
        db.exec("INSERT INTO ht_rnotes VALUES (1, 'acme', 'caf\u{c3}\u{a9}'); INSERT INTO ht_rnotes VALUES (2, 'acme', 'keep')")
            .await;
        let prod = latin1_pool(&db).await;
        let mut sdb = crate::common::uncontracted(&prod, &["ht_rnotes"], "org", "acme")
            .audit_in_production(true)
            .open()
            .await
            .unwrap();
        run(&sdb, "DELETE FROM ht_rnotes WHERE id = 1").await;
        let commit = commit_diff(&mut sdb).await.unwrap();
        assert_eq!(
            db.rows("SELECT id, body FROM ht_rnotes ORDER BY id").await,
            text_rows(&[&["2", "keep"]]),
            "{kind:?}"
        );
        let res = shadowdb::rollback::Rollback::new(prod.clone())
            .tenant_column("ht_rnotes", "org")
            .allow_uncontracted(true)
            .run(&commit.commit_id)
            .await;
        assert!(res.is_ok(), "{kind:?}: {res:?}");
        assert_eq!(
            db.rows("SELECT id, body FROM ht_rnotes ORDER BY id").await,
            text_rows(&[&["1", "caf\u{c3}\u{a9}"], &["2", "keep"]]),
            "{kind:?}"
        );
    }
}

// ---- MariaDB sessions in unusual SQL modes ------------------------------------------

/// `PAD_CHAR_TO_FULL_LENGTH` returns `CHAR(n)` values padded, `ANSI_QUOTES`
/// makes `"` quote names and `NO_BACKSLASH_ESCAPES` makes `\` a letter: the
/// tenant of a `CHAR(8)` column, a `CHAR(8)` key, a commit, its audit record
/// and its rollback stay exact.
#[tokio::test]
async fn mysql_sessions_in_unusual_sql_modes_stay_exact() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "ht_sql_mode",
        "CREATE TABLE ht_codes (code CHAR(8) NOT NULL PRIMARY KEY, org CHAR(8) NOT NULL, body VARCHAR(40) NOT NULL) ENGINE=InnoDB; \
         INSERT INTO ht_codes VALUES ('k1', 'acme', 'a\\\\b'); \
         INSERT INTO ht_codes VALUES ('k2', 'acme', 'two'); \
         INSERT INTO ht_codes VALUES ('k3', 'other', 'secret')",
    )
    .await
    else {
        return;
    };
    let all =
        "SELECT CONCAT('[', code, ']'), CONCAT('[', org, ']'), body FROM ht_codes ORDER BY code";
    let start = text_rows(&[
        &["[k1]", "[acme]", "a\\b"],
        &["[k2]", "[acme]", "two"],
        &["[k3]", "[other]", "secret"],
    ]);
    assert_eq!(db.rows(all).await, start);
    let prod = Production::MySql(
        crate::common::session_pool::<sqlx::MySql>(
            &db.url,
            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',PAD_CHAR_TO_FULL_LENGTH,ANSI_QUOTES,NO_BACKSLASH_ESCAPES')",
        )
        .await,
    );
    let mut sdb = crate::common::uncontracted(&prod, &["ht_codes"], "org", "acme")
        .audit_in_production(true)
        .open()
        .await
        .unwrap();
    let seen = query_rows(&sdb, "SELECT code, body FROM ht_codes ORDER BY code").await;
    assert_eq!(
        seen,
        vec![
            vec![Value::Text("k1".into()), Value::Text("a\\b".into())],
            vec![Value::Text("k2".into()), Value::Text("two".into())],
        ]
    );
    run(&sdb, "UPDATE ht_codes SET body = 'c\\d' WHERE code = 'k1'").await;
    run(&sdb, "DELETE FROM ht_codes WHERE code = 'k2'").await;
    let commit = commit_diff(&mut sdb).await.unwrap();
    assert_eq!(
        db.rows(all).await,
        text_rows(&[&["[k1]", "[acme]", "c\\d"], &["[k3]", "[other]", "secret"]])
    );
    shadowdb::rollback::Rollback::new(prod)
        .tenant_column("ht_codes", "org")
        .allow_uncontracted(true)
        .run(&commit.commit_id)
        .await
        .unwrap();
    assert_eq!(db.rows(all).await, start);
}

// ---- a key renamed by case only -------------------------------------------------------

/// The agent renames its own key `'k1'` to `'K1'` on a case-insensitive key:
/// the sandbox (byte-exact) sees a delete and an insert; production's unique
/// index finds the new key taken by the old row until it is deleted. That is
/// a `KeyExists` conflict with production untouched, and `OnConflict::Skip`
/// refuses it whole too: the old row is never deleted while its replacement
/// is skipped.
#[tokio::test]
async fn a_key_renamed_by_case_only_is_never_half_committed() {
    crate::each_db!("ht_key_case", |db| {
        if db.kind == Kind::Postgres {
            db.exec("CREATE COLLATION ht_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
                .await;
        }
        let ty = ci_text(&db);
        db.exec(&format!(
            "CREATE TABLE ht_keys (code {ty} NOT NULL PRIMARY KEY, org INTEGER NOT NULL, n INTEGER NOT NULL); \
             INSERT INTO ht_keys VALUES ('k1', 1, 0); \
             INSERT INTO ht_keys VALUES ('k2', 1, 0)"
        ))
        .await;
        let start = text_rows(&[&["k1", "1", "0"], &["k2", "1", "0"]]);
        let all = "SELECT code, org, n FROM ht_keys ORDER BY n, code";
        for skip in [false, true] {
            let mut sdb =
                crate::common::open_uncontracted(&db.prod, &["ht_keys"], "org", 1_i64).await;
            run(&sdb, "UPDATE ht_keys SET code = 'K1' WHERE code = 'k1'").await;
            let cs = sdb.diff().unwrap();
            let opts = if skip {
                shadowdb::CommitOptions::new().on_conflict(shadowdb::OnConflict::Skip)
            } else {
                shadowdb::CommitOptions::new()
            };
            let err = sdb.commit_with(&cs, opts).await.unwrap_err();
            assert!(
                matches!(&err, Error::Conflict(c) if c.len() == 1
                    && c[0].table == "ht_keys"
                    && c[0].key.render() == "code=\"K1\""
                    && c[0].kind == ConflictKind::KeyExists),
                "{:?} skip={skip}: {err:?}",
                db.kind
            );
            assert_eq!(db.rows(all).await, start, "{:?} skip={skip}", db.kind);
        }
    });
}

/// PostgreSQL with `standard_conforming_strings = off` (a backslash in a
/// literal escapes) and `IntervalStyle`, `DateStyle`, `bytea_output` of
/// another kind: a backslash, an interval and bytes commit, record and roll
/// back exactly.
#[tokio::test]
async fn postgres_sessions_in_unusual_styles_stay_exact() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "ht_pg_styles",
        "CREATE TABLE ht_styles (id bigint PRIMARY KEY, org text NOT NULL, body text NOT NULL, span interval NOT NULL, raw bytea NOT NULL); \
         INSERT INTO ht_styles VALUES (1, 'acme', 'a\\b', '1 year -2 days 03:00:00', '\\x00ff'); \
         INSERT INTO ht_styles VALUES (2, 'acme', 'two', '1 day', '\\x01')",
    )
    .await
    else {
        return;
    };
    let all = "SELECT id, body, span::text, encode(raw, 'hex') FROM ht_styles ORDER BY id";
    let start = db.rows(all).await;
    let prod = Production::Postgres(
        crate::common::session_pool::<sqlx::Postgres>(
            &db.url,
            "SET standard_conforming_strings = off; SET IntervalStyle = 'sql_standard'; \
                         SET DateStyle = 'SQL, DMY'; SET bytea_output = 'escape'",
        )
        .await,
    );
    let mut sdb = crate::common::uncontracted(&prod, &["ht_styles"], "org", "acme")
        .audit_in_production(true)
        .open()
        .await
        .unwrap();
    run(&sdb, "UPDATE ht_styles SET body = 'c\\d' WHERE id = 1").await;
    run(&sdb, "DELETE FROM ht_styles WHERE id = 2").await;
    let commit = commit_diff(&mut sdb).await.unwrap();
    let mut want = start.clone();
    want.truncate(1);
    want[0][1] = "c\\d".to_owned();
    assert_eq!(db.rows(all).await, want);
    shadowdb::rollback::Rollback::new(prod)
        .tenant_column("ht_styles", "org")
        .allow_uncontracted(true)
        .run(&commit.commit_id)
        .await
        .unwrap();
    assert_eq!(db.rows(all).await, start);
}

/// A tenant the operator gives with a NUL byte is another tenant than
/// `'acme'` on every database (or refused): its sandbox shows nothing of
/// `'acme'` and plants nothing for it.
#[tokio::test]
async fn a_tenant_with_a_nul_byte_is_not_the_tenant_without_it() {
    crate::each_db!("ht_nul_tenant", |db| {
        db.exec(
            "CREATE TABLE ht_nnotes (id INTEGER PRIMARY KEY, org VARCHAR(20) NOT NULL, body VARCHAR(40) NOT NULL); \
             INSERT INTO ht_nnotes VALUES (1, 'acme', 'secret')",
        )
        .await;
        let opened = crate::common::uncontracted(&db.prod, &["ht_nnotes"], "org", "acme\0")
            .open()
            .await;
        if let Ok(mut sdb) = opened {
            let seen = query_rows(&sdb, "SELECT id FROM ht_nnotes").await;
            assert!(seen.is_empty(), "{:?}: {seen:?}", db.kind);
            if sdb
                .execute(
                    "INSERT INTO ht_nnotes (id, body) VALUES (2, 'planted')",
                    &[],
                )
                .await
                .is_ok()
            {
                let _ = commit_diff(&mut sdb).await;
            }
        }
        // Row 2, if written at all, is not `'acme'`'s.
        let acme = db
            .rows(
                "SELECT id, body FROM ht_nnotes WHERE org = 'acme' AND LENGTH(org) = 4 ORDER BY id",
            )
            .await;
        assert_eq!(acme, text_rows(&[&["1", "secret"]]), "{:?}", db.kind);
    });
}
