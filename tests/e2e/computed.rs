//! Columns production computes or resolves: generated and identity columns,
//! keys production assigns to new parents (and the children that reference
//! them), table names resolved as the server resolves them, and references
//! onto tenant tables outside the scope.

use std::str::FromStr;

use safemodel::{Rule, Value};
use shadowdb::prod::Production;
use shadowdb::render::{TextOptions, render_text};
use shadowdb::rollback::Rollback;
use shadowdb::{CommitOptions, Error, Refusal, SchemaProblem, ShadowDb};

use crate::common::{Kind, TestDb, commit_diff, pick, query_rows, run, text_rows};
use crate::each_db;

async fn open(prod: &Production, tables: &[&str], tenant: impl Into<Value>) -> ShadowDb {
    crate::common::open_uncontracted(prod, tables, "org", tenant).await
}

// ---- generated and identity columns ----------------------------------------

#[tokio::test]
async fn generated_columns_are_read_only_and_computed_by_production() {
    each_db!("cmp_generated", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE cg_items (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, \
               qty INTEGER NOT NULL, price INTEGER NOT NULL, \
               total INTEGER NOT NULL GENERATED ALWAYS AS (qty * price) STORED, \
               half INTEGER GENERATED ALWAYS AS (qty / 2) VIRTUAL)",
            "CREATE TABLE cg_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
               org bigint NOT NULL, qty bigint NOT NULL, price bigint NOT NULL, \
               total bigint NOT NULL GENERATED ALWAYS AS (qty * price) STORED, \
               half bigint GENERATED ALWAYS AS (qty / 2) STORED)",
            "CREATE TABLE cg_items (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, \
               qty BIGINT NOT NULL, price BIGINT NOT NULL, \
               total BIGINT AS (qty * price) STORED, half BIGINT AS (qty DIV 2) VIRTUAL)",
        ))
        .await;
        db.exec(
            "INSERT INTO cg_items (org, qty, price) VALUES (1, 2, 3); \
             INSERT INTO cg_items (org, qty, price) VALUES (2, 5, 5)",
        )
        .await;

        let mut sdb = open(&db.prod, &["cg_items"], 1_i64).await;
        let cols = &sdb.schemas()[0].columns;
        let computed: Vec<&str> = cols
            .iter()
            .filter(|c| c.computed)
            .map(|c| c.name.as_str())
            .collect();
        let expected: &[&str] = if db.kind == Kind::Postgres {
            &["id", "total", "half"]
        } else {
            &["total", "half"]
        };
        assert_eq!(computed, expected, "{:?}", db.kind);

        // The agent cannot write what production computes.
        for sql in [
            "UPDATE cg_items SET total = 7 WHERE id = 1",
            "INSERT INTO cg_items (qty, price, total) VALUES (1, 1, 1)",
            "INSERT INTO cg_items (qty, price, half) VALUES (1, 1, 1)",
        ] {
            let err = sdb.execute(sql, &[]).await.unwrap_err();
            let column = if sql.contains("half") {
                "cg_items.half"
            } else {
                "cg_items.total"
            };
            assert!(
                matches!(&err, Error::Refused(Refusal::Computed(c)) if c == column),
                "{:?} {sql}: {err:?}",
                db.kind
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "refused by the sandbox: column {column} is computed by production (generated or identity ALWAYS) and cannot be written"
                )
            );
        }
        if db.kind == Kind::Postgres {
            let err = sdb
                .execute(
                    "INSERT INTO cg_items (id, qty, price) VALUES (9, 1, 1)",
                    &[],
                )
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::Refused(Refusal::Computed(c)) if c == "cg_items.id"),
                "{err:?}"
            );
        }

        // A REPLACE clears the computed columns in the sandbox; that is no
        // change to them (PostgreSQL's identity key cannot be given at all).
        let change = if db.kind == Kind::Postgres {
            "UPDATE cg_items SET qty = 10 WHERE id = 1"
        } else {
            "REPLACE INTO cg_items (id, qty, price) VALUES (1, 10, 3)"
        };
        run(
            &sdb,
            &format!("INSERT INTO cg_items (qty, price) VALUES (4, 5); {change}"),
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{:?}: {:?}", db.kind, cs.changes());
        let update = cs.changes().iter().find(|c| c.old.is_some()).unwrap();
        assert_eq!(update.changed, vec!["qty".to_owned()]);
        let text = render_text(&sdb.review(&cs), &TextOptions::plain(200));
        for column in ["total", "half"] {
            assert!(
                text.lines().any(|l| l.starts_with('+')
                    && l.split_whitespace().collect::<Vec<_>>()
                        == ["+", column, "(computed", "by", "production)", "PASS"]),
                "{text}"
            );
        }
        sdb.commit_with(&cs, CommitOptions::new().approved_by("reviewer"))
            .await
            .unwrap();

        assert_eq!(
            db.rows("SELECT id, org, qty, price, total, half FROM cg_items ORDER BY id")
                .await,
            text_rows(&[
                &["1", "1", "10", "3", "30", "5"],
                &["2", "2", "5", "5", "25", "2"],
                &["3", "1", "4", "5", "20", "2"],
            ]),
            "{:?}",
            db.kind
        );

        // A rollback restores a deleted row with its own key, and production
        // computes the rest again.
        let mut sdb = crate::common::uncontracted(&db.prod, &["cg_items"], "org", 1_i64)
            .audit_in_production(true)
            .open()
            .await
            .unwrap();
        run(&sdb, "DELETE FROM cg_items WHERE id = 1").await;
        let commit = commit_diff(&mut sdb).await.unwrap();
        Rollback::new(db.prod.clone())
            .tenant_column("cg_items", "org")
            .allow_uncontracted(true)
            .run(&commit.commit_id)
            .await
            .unwrap();
        assert_eq!(
            db.rows("SELECT id, org, qty, price, total, half FROM cg_items ORDER BY id")
                .await,
            text_rows(&[
                &["1", "1", "10", "3", "30", "5"],
                &["2", "2", "5", "5", "25", "2"],
                &["3", "1", "4", "5", "20", "2"],
            ]),
            "{:?}",
            db.kind
        );
    });
}

// ---- keys production assigns to new parents -----------------------------------

const TASKS_NOTES_SQLITE: &str = "CREATE TABLE cg_tasks (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, title TEXT NOT NULL); \
     CREATE TABLE cg_notes (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, \
       task_id INTEGER NOT NULL REFERENCES cg_tasks (id), body TEXT NOT NULL, copy INTEGER)";
const TASKS_NOTES_PG: &str = "CREATE TABLE cg_tasks (id bigserial PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
     CREATE TABLE cg_notes (id bigserial PRIMARY KEY, org bigint NOT NULL, \
       task_id bigint NOT NULL REFERENCES cg_tasks (id), body text NOT NULL, copy bigint)";
const TASKS_NOTES_MYSQL: &str = "CREATE TABLE cg_tasks (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, title TEXT NOT NULL) ENGINE=InnoDB; \
     CREATE TABLE cg_notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, \
       task_id BIGINT NOT NULL, body TEXT NOT NULL, copy BIGINT, \
       FOREIGN KEY (task_id) REFERENCES cg_tasks (id)) ENGINE=InnoDB";

#[tokio::test]
async fn children_of_new_parents_get_the_keys_production_assigns() {
    each_db!("cmp_remap", |db| {
        db.exec(pick(
            &db,
            TASKS_NOTES_SQLITE,
            TASKS_NOTES_PG,
            TASKS_NOTES_MYSQL,
        ))
        .await;
        db.exec(
            "INSERT INTO cg_tasks (org, title) VALUES (1, 'mine'); \
             INSERT INTO cg_tasks (org, title) VALUES (2, 'theirs'); \
             INSERT INTO cg_notes (org, task_id, body) VALUES (1, 1, 'moved')",
        )
        .await;

        let mut sdb = open(&db.prod, &["cg_tasks", "cg_notes"], 1_i64).await;
        run(
            &sdb,
            "INSERT INTO cg_tasks (title) VALUES ('new'); \
             INSERT INTO cg_notes (task_id, body) VALUES (last_insert_rowid(), 'on new'); \
             INSERT INTO cg_notes (task_id, body) VALUES (1, 'on old'); \
             UPDATE cg_notes SET task_id = (SELECT max(id) FROM cg_tasks) WHERE body = 'moved'",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{:?}: {:?}", db.kind, cs.changes());
        let text = render_text(&sdb.review(&cs), &TextOptions::plain(200));
        assert!(text.contains("→ cg_tasks[new #1]"), "{text}");
        let report = sdb.commit(&cs).await.unwrap();
        assert_eq!(
            report.generated_keys.len(),
            3,
            "{:?}",
            report.generated_keys
        );

        assert_eq!(
            db.rows("SELECT id, org, title FROM cg_tasks ORDER BY id")
                .await,
            text_rows(&[
                &["1", "1", "mine"],
                &["2", "2", "theirs"],
                &["3", "1", "new"]
            ]),
        );
        assert_eq!(
            db.rows("SELECT org, task_id, body, copy FROM cg_notes ORDER BY body")
                .await,
            text_rows(&[
                &["1", "3", "moved", "NULL"],
                &["1", "3", "on new", "NULL"],
                &["1", "1", "on old", "NULL"]
            ]),
            "{:?}",
            db.kind
        );

        // A provisional key copied where no foreign key carries it.
        let mut sdb = open(&db.prod, &["cg_tasks", "cg_notes"], 1_i64).await;
        run(
            &sdb,
            "INSERT INTO cg_tasks (title) VALUES ('other'); \
             INSERT INTO cg_notes (task_id, body, copy) VALUES (1, 'copied', last_insert_rowid())",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let note = cs.changes().iter().find(|c| c.table == "cg_notes").unwrap();
        assert_eq!(note.violations.len(), 1, "{:?}", note.violations);
        assert_eq!(note.violations[0].column, "copy");
        assert_eq!(
            note.violations[0].rule,
            Rule::Other("provisional_key".into())
        );
        assert_eq!(
            note.violations[0].message,
            "holds the provisional key of a new row of `cg_tasks` without a foreign key to it: production will give that row another key"
        );
        let err = sdb.commit(&cs).await.unwrap_err();
        assert!(matches!(err, Error::Contract(_)), "{err:?}");
        assert_eq!(
            db.rows("SELECT count(*) FROM cg_notes").await,
            text_rows(&[&["3"]])
        );
        assert_eq!(
            db.rows("SELECT count(*) FROM cg_tasks").await,
            text_rows(&[&["3"]])
        );
    });
}

// ---- names resolved as the server resolves them ---------------------------------

#[tokio::test]
async fn views_are_refused_at_open() {
    each_db!("cmp_view", |db| {
        db.exec(
            "CREATE TABLE cg_base (id INTEGER PRIMARY KEY, org INTEGER NOT NULL); \
             CREATE VIEW cg_view AS SELECT id, org FROM cg_base",
        )
        .await;
        let err = crate::common::uncontracted(&db.prod, &["cg_view"], "org", 1_i64)
            .open()
            .await
            .unwrap_err();
        let schema = match db.kind {
            Kind::Sqlite => "main".to_owned(),
            Kind::Postgres => "public".to_owned(),
            Kind::MySql => db.url.rsplit('/').next().unwrap().to_owned(),
        };
        let Error::Schema(problems) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            problems,
            &vec![SchemaProblem::NotATable {
                table: "cg_view".into(),
                resolved: format!("{schema}.cg_view"),
                kind: "a view".into(),
            }]
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot open the sandbox:\n  - `cg_view` resolves to `{schema}.cg_view`, which is a view: only tables can be scoped"
            )
        );
    });
}

/// PostgreSQL with a search path whose first schema holds a view of the
/// table's name: the name resolves to the view, as the server resolves it,
/// and is refused; the table named in full is the one cloned and written.
#[tokio::test]
async fn postgres_names_follow_the_search_path() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "cmp_search_path",
        "CREATE SCHEMA root; \
         CREATE TABLE public.items (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         CREATE TABLE root.other (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         CREATE VIEW root.items AS SELECT id, org, title FROM root.other; \
         INSERT INTO public.items VALUES (1, 1, 'public one'), (2, 2, 'public two'); \
         INSERT INTO root.other VALUES (1, 1, 'root one'); \
         CREATE TABLE public.\"we.ird\" (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         CREATE TABLE public.\"MixedCase\" (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         CREATE TABLE public.mixedcase (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         INSERT INTO public.\"we.ird\" VALUES (1, 1, 'weird'); \
         INSERT INTO public.\"MixedCase\" VALUES (1, 1, 'mixed'); \
         INSERT INTO public.mixedcase VALUES (1, 1, 'lower')",
    )
    .await
    else {
        return;
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", "root, public")]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    let prod = Production::Postgres(pool);

    let err = crate::common::uncontracted(&prod, &["items"], "org", 1_i64)
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Schema(p) if p == &vec![SchemaProblem::NotATable {
            table: "items".into(),
            resolved: "root.items".into(),
            kind: "a view".into(),
        }]),
        "{err:?}"
    );

    let mut sdb = open(&prod, &["public.items"], 1_i64).await;
    assert_eq!(
        query_rows(&sdb, "SELECT id, title FROM items").await,
        vec![vec![Value::Int(1), Value::Text("public one".into())]]
    );
    run(
        &sdb,
        "UPDATE items SET title = 'changed' WHERE id = 1; \
         INSERT INTO items (id, title) VALUES (3, 'added')",
    )
    .await;
    commit_diff(&mut sdb).await.unwrap();
    assert_eq!(
        db.rows("SELECT id, org, title FROM public.items ORDER BY id")
            .await,
        text_rows(&[
            &["1", "1", "changed"],
            &["2", "2", "public two"],
            &["3", "1", "added"]
        ])
    );
    assert_eq!(
        db.rows("SELECT id, org, title FROM root.other ORDER BY id")
            .await,
        text_rows(&[&["1", "1", "root one"]])
    );

    // Quoted names are identifiers: a dot inside quotes, case kept.
    for (name, sandbox, table) in [
        ("public.\"we.ird\"", "\"we.ird\"", "public.\"we.ird\""),
        ("\"MixedCase\"", "\"MixedCase\"", "public.\"MixedCase\""),
    ] {
        let mut sdb = crate::common::uncontracted(&prod, &[name], "org", 1_i64)
            .audit_in_production(true)
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            &format!("UPDATE {sandbox} SET title = 'renamed' WHERE id = 1"),
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert_eq!(cs.len(), 1, "{name}");
        let shown = if name.contains("we.ird") {
            name
        } else {
            "MixedCase"
        };
        assert_eq!(cs.changes()[0].table, shown);
        let commit = sdb.commit(&cs).await.unwrap();
        assert_eq!(
            db.rows(&format!("SELECT title FROM {table}")).await,
            text_rows(&[&["renamed"]]),
            "{name}"
        );
        // The recorded name reads back as the same table.
        Rollback::new(prod.clone())
            .tenant_column(name, "org")
            .allow_uncontracted(true)
            .run(&commit.commit_id)
            .await
            .unwrap();
        let before = if name.contains("we.ird") {
            "weird"
        } else {
            "mixed"
        };
        assert_eq!(
            db.rows(&format!("SELECT title FROM {table}")).await,
            text_rows(&[&[before]]),
            "{name}"
        );
    }
    assert_eq!(
        db.rows("SELECT title FROM public.mixedcase").await,
        text_rows(&[&["lower"]])
    );

    // A rollback writes where the commit wrote, or nowhere.
    db.exec(
        "CREATE TABLE root.things (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         CREATE TABLE public.things (id bigint PRIMARY KEY, org bigint NOT NULL, title text NOT NULL); \
         INSERT INTO root.things VALUES (1, 1, 'root thing'); \
         INSERT INTO public.things VALUES (1, 1, 'public thing')",
    )
    .await;
    let mut sdb = crate::common::uncontracted(&prod, &["things"], "org", 1_i64)
        .audit_in_production(true)
        .open()
        .await
        .unwrap();
    run(&sdb, "UPDATE things SET title = 'changed' WHERE id = 1").await;
    let commit = commit_diff(&mut sdb).await.unwrap();
    // Another search path: the audit table (in `root`) is found, `things`
    // now names `public.things`.
    let reversed = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::postgres::PgConnectOptions::from_str(&db.url)
                .unwrap()
                .options([("search_path", "public, root")]),
        )
        .await
        .unwrap();
    let err = Rollback::new(Production::Postgres(reversed))
        .tenant_column("things", "org")
        .allow_uncontracted(true)
        .run(&commit.commit_id)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot roll back things[]: the name now resolves to `public.things`; the commit wrote `root.things`"
    );
    assert!(matches!(err, Error::CannotRollBack { .. }), "{err:?}");
    Rollback::new(prod.clone())
        .tenant_column("things", "org")
        .allow_uncontracted(true)
        .run(&commit.commit_id)
        .await
        .unwrap();
    assert_eq!(
        db.rows("SELECT 'root', title FROM root.things UNION ALL SELECT 'public', title FROM public.things ORDER BY 1")
            .await,
        text_rows(&[&["public", "public thing"], &["root", "root thing"]])
    );
}

// ---- references onto tenant tables outside the scope ------------------------------

#[tokio::test]
async fn references_outside_the_scope_stay_within_the_tenant() {
    each_db!("cmp_outside", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE cg_ptasks (id INTEGER PRIMARY KEY, org TEXT COLLATE NOCASE NOT NULL); \
             CREATE TABLE cg_tags (id INTEGER PRIMARY KEY, label TEXT NOT NULL); \
             CREATE TABLE cg_projects (id INTEGER PRIMARY KEY, owner TEXT NOT NULL); \
             CREATE TABLE cg_comments (id INTEGER PRIMARY KEY, org TEXT NOT NULL, \
               task_id INTEGER REFERENCES cg_ptasks (id), tag_id INTEGER REFERENCES cg_tags (id), \
               project_id INTEGER REFERENCES cg_projects (id), body TEXT NOT NULL)",
            "CREATE TABLE cg_ptasks (id bigint PRIMARY KEY, org text NOT NULL); \
             CREATE TABLE cg_tags (id bigint PRIMARY KEY, label text NOT NULL); \
             CREATE TABLE cg_projects (id bigint PRIMARY KEY, owner text NOT NULL); \
             CREATE TABLE cg_comments (id bigint PRIMARY KEY, org text NOT NULL, \
               task_id bigint REFERENCES cg_ptasks (id), tag_id bigint REFERENCES cg_tags (id), \
               project_id bigint REFERENCES cg_projects (id), body text NOT NULL)",
            "CREATE TABLE cg_ptasks (id BIGINT PRIMARY KEY, org VARCHAR(20) NOT NULL) ENGINE=InnoDB; \
             CREATE TABLE cg_tags (id BIGINT PRIMARY KEY, label TEXT NOT NULL) ENGINE=InnoDB; \
             CREATE TABLE cg_projects (id BIGINT PRIMARY KEY, owner VARCHAR(20) NOT NULL) ENGINE=InnoDB; \
             CREATE TABLE cg_comments (id BIGINT PRIMARY KEY, org VARCHAR(20) NOT NULL, \
               task_id BIGINT, tag_id BIGINT, project_id BIGINT, body TEXT NOT NULL, \
               FOREIGN KEY (task_id) REFERENCES cg_ptasks (id), \
               FOREIGN KEY (tag_id) REFERENCES cg_tags (id), \
               FOREIGN KEY (project_id) REFERENCES cg_projects (id)) ENGINE=InnoDB",
        ))
        .await;
        db.exec(
            "INSERT INTO cg_ptasks (id, org) VALUES (1, 'acme'); \
             INSERT INTO cg_ptasks (id, org) VALUES (2, 'ACME'); \
             INSERT INTO cg_ptasks (id, org) VALUES (3, 'other'); \
             INSERT INTO cg_tags (id, label) VALUES (1, 'a'); \
             INSERT INTO cg_projects (id, owner) VALUES (1, 'acme'); \
             INSERT INTO cg_projects (id, owner) VALUES (2, 'other'); \
             INSERT INTO cg_comments (id, org, task_id, body) VALUES (1, 'acme', 1, 'first')",
        )
        .await;

        // Another tenant's task (by case only on a case-insensitive column, or
        // outright), and a task that does not exist: one and the same error.
        for task in [2, 3, 99] {
            for sql in [
                format!("INSERT INTO cg_comments (id, task_id, body) VALUES (5, {task}, 'x')"),
                format!("UPDATE cg_comments SET task_id = {task} WHERE id = 1"),
            ] {
                let mut sdb = open(&db.prod, &["cg_comments"], "acme").await;
                run(&sdb, &sql).await;
                let cs = sdb.diff().unwrap();
                assert!(cs.is_valid(), "{:?}", cs.changes());
                for parent in ["tag_id) onto `cg_tags", "project_id) onto `cg_projects"] {
                    assert!(
                        cs.not_enforced.contains(&format!(
                            "cg_comments: foreign key ({parent}` (outside the scope, no tenant column): the referenced row's tenant is not checked"
                        )),
                        "{:?}",
                        cs.not_enforced
                    );
                }
                let err = sdb.commit(&cs).await.unwrap_err();
                let key = if sql.starts_with("INSERT") {
                    "id=5"
                } else {
                    "id=1"
                };
                assert!(
                    matches!(&err, Error::TenantBreach { table, key: k, .. } if table == "cg_comments" && k == key),
                    "{:?} {sql}: {err:?}",
                    db.kind
                );
                assert_eq!(
                    err.to_string(),
                    format!(
                        "tenant breach: cg_comments[{key}]: (task_id) does not reference a row of `cg_ptasks` of this tenant"
                    )
                );
            }
        }
        assert_eq!(
            db.rows("SELECT id, org, task_id, body FROM cg_comments ORDER BY id")
                .await,
            text_rows(&[&["1", "acme", "1", "first"]])
        );

        // A parent whose tenant column has another name: named for it, checked.
        let mut sdb = ShadowDb::builder(db.prod.clone())
            .table("cg_comments")
            .tenant_column("cg_comments", "org")
            .tenant_column("cg_projects", "owner")
            .allow_uncontracted(true)
            .tenant("acme")
            .open()
            .await
            .unwrap();
        run(&sdb, "UPDATE cg_comments SET project_id = 2 WHERE id = 1").await;
        let cs = sdb.diff().unwrap();
        assert!(
            !cs.not_enforced.iter().any(|n| n.contains("cg_projects")),
            "{:?}",
            cs.not_enforced
        );
        let err = sdb.commit(&cs).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant breach: cg_comments[id=1]: (project_id) does not reference a row of `cg_projects` of this tenant"
        );

        // The tenant's own task commits.
        let mut sdb = open(&db.prod, &["cg_comments"], "acme").await;
        run(
            &sdb,
            "INSERT INTO cg_comments (id, task_id, tag_id, project_id, body) VALUES (6, 1, 1, 1, 'mine')",
        )
        .await;
        commit_diff(&mut sdb).await.unwrap();
        assert_eq!(
            db.rows(
                "SELECT id, org, task_id, tag_id, project_id, body FROM cg_comments ORDER BY id"
            )
            .await,
            text_rows(&[
                &["1", "acme", "1", "NULL", "NULL", "first"],
                &["6", "acme", "1", "1", "1", "mine"]
            ])
        );
    });
}

#[tokio::test]
async fn new_rows_may_reference_new_rows_of_their_own_table() {
    each_db!("cmp_self_ref", |db| {
        db.exec(pick(
            &db,
            "CREATE TABLE cg_folders (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, \
               parent_id INTEGER REFERENCES cg_folders (id), name TEXT NOT NULL)",
            "CREATE TABLE cg_folders (id bigserial PRIMARY KEY, org bigint NOT NULL, \
               parent_id bigint REFERENCES cg_folders (id), name text NOT NULL)",
            "CREATE TABLE cg_folders (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, \
               parent_id BIGINT, name TEXT NOT NULL, \
               FOREIGN KEY (parent_id) REFERENCES cg_folders (id)) ENGINE=InnoDB",
        ))
        .await;
        db.exec("INSERT INTO cg_folders (org, name) VALUES (2, 'theirs')")
            .await;

        let mut sdb = open(&db.prod, &["cg_folders"], 1_i64).await;
        run(
            &sdb,
            "INSERT INTO cg_folders (name) VALUES ('root'); \
             INSERT INTO cg_folders (name, parent_id) VALUES ('child', last_insert_rowid()); \
             INSERT INTO cg_folders (name, parent_id) VALUES ('grandchild', last_insert_rowid())",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{:?}", cs.changes());
        sdb.commit(&cs).await.unwrap();
        assert_eq!(
            db.rows("SELECT id, org, parent_id, name FROM cg_folders ORDER BY id")
                .await,
            text_rows(&[
                &["1", "2", "NULL", "theirs"],
                &["2", "1", "NULL", "root"],
                &["3", "1", "2", "child"],
                &["4", "1", "3", "grandchild"],
            ]),
            "{:?}",
            db.kind
        );

        // A cycle between new rows: no order gives each its parent's key first.
        let mut sdb = open(&db.prod, &["cg_folders"], 1_i64).await;
        run(
            &sdb,
            "INSERT INTO cg_folders (name) VALUES ('a'); \
             INSERT INTO cg_folders (name, parent_id) VALUES ('b', last_insert_rowid()); \
             UPDATE cg_folders SET parent_id = last_insert_rowid() WHERE name = 'a'",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let first = cs.changes()[0].key.render();
        let err = sdb.commit(&cs).await.unwrap_err();
        assert!(
            matches!(&err, Error::ProvisionalKey { table, key, column, parent }
                if table == "cg_folders" && *key == first && column == "parent_id" && parent == "cg_folders"),
            "{:?}: {err:?}",
            db.kind
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cg_folders[{first}].parent_id: references a new row of `cg_folders` whose key production has not assigned yet (rule: provisional_key)"
            )
        );
        assert_eq!(
            db.rows("SELECT count(*) FROM cg_folders").await,
            text_rows(&[&["4"]])
        );
    });
}
