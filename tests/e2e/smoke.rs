//! The whole flow on every database: clone, agent SQL, diff, commit.

use safemodel::{SafeEnum, SafeModel};

use crate::common::{Kind, TestDb, commit_diff, open_table, run};
use crate::each_db;

#[derive(Debug, Clone, Copy, PartialEq, SafeEnum)]
#[safemodel(rename_all = "snake_case")]
pub enum SmokeStatus {
    Todo,
    InProgress,
    Done,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "smoke_tasks", tenant = "user_id")]
pub struct SmokeTask {
    #[safemodel(primary_key)]
    pub id: i64,
    pub user_id: i64,
    #[validate(length(min = 1, max = 200))]
    pub title: String,
    pub status: SmokeStatus,
}

async fn setup(db: &TestDb) {
    let ddl = match db.kind {
        Kind::MySql => {
            "CREATE TABLE smoke_tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title VARCHAR(200) NOT NULL, status VARCHAR(20) NOT NULL)"
        }
        _ => {
            "CREATE TABLE smoke_tasks (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL)"
        }
    };
    db.exec(ddl).await;
    db.exec("INSERT INTO smoke_tasks VALUES (1, 42, 'a', 'todo'); INSERT INTO smoke_tasks VALUES (2, 42, 'b', 'todo'); INSERT INTO smoke_tasks VALUES (3, 42, 'c', 'done'); INSERT INTO smoke_tasks VALUES (4, 99, 'other', 'todo')").await;
}

#[tokio::test]
async fn clone_change_diff_commit() {
    each_db!("smoke_flow", |db| {
        setup(&db).await;
        let mut sdb = open_table(&db.prod, "smoke_tasks", 42_i64).await;
        assert_eq!(
            sdb.clone_stats().tables,
            vec![("smoke_tasks".to_owned(), 3)]
        );
        run(&sdb, "UPDATE smoke_tasks SET status = 'done' WHERE id = 1").await;
        run(&sdb, "DELETE FROM smoke_tasks WHERE id = 3").await;
        run(
            &sdb,
            "INSERT INTO smoke_tasks (id, title, status) VALUES (10, 'new', 'in_progress')",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert_eq!(cs.len(), 3, "{cs:?}");
        assert!(cs.is_valid(), "{cs:?}");
        let report = sdb.commit(&cs).await.unwrap();
        assert_eq!(report.rows["smoke_tasks"].total(), 3);
        assert_eq!(
            db.rows("SELECT id, user_id, title, status FROM smoke_tasks ORDER BY id")
                .await,
            vec![
                vec!["1", "42", "a", "done"],
                vec!["2", "42", "b", "todo"],
                vec!["4", "99", "other", "todo"],
                vec!["10", "42", "new", "in_progress"],
            ]
        );
        assert!(sdb.diff().unwrap().is_empty());
    });
}

#[tokio::test]
async fn bad_write_and_other_tenant_are_blocked() {
    each_db!("smoke_block", |db| {
        setup(&db).await;
        let mut sdb = open_table(&db.prod, "smoke_tasks", 42_i64).await;
        run(
            &sdb,
            "UPDATE smoke_tasks SET status = 'yolo_swag' WHERE id = 1",
        )
        .await;
        run(
            &sdb,
            "INSERT INTO smoke_tasks (id, user_id, title, status) VALUES (11, 99, 'x', 'todo')",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(!cs.is_valid());
        let err = sdb.commit(&cs).await.unwrap_err();
        assert!(matches!(err, shadowdb::Error::TenantBreach { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "tenant breach: smoke_tasks[id=11]: inserts a row for another tenant"
        );
        assert_eq!(
            db.rows("SELECT count(*) FROM smoke_tasks").await,
            vec![vec!["4"]]
        );
    });
}

#[tokio::test]
async fn lost_update_is_a_conflict() {
    each_db!("smoke_conflict", |db| {
        setup(&db).await;
        let mut sdb = open_table(&db.prod, "smoke_tasks", 42_i64).await;
        run(&sdb, "UPDATE smoke_tasks SET status = 'done' WHERE id = 2").await;
        db.exec("UPDATE smoke_tasks SET title = 'moved' WHERE id = 2")
            .await;
        let err = commit_diff(&mut sdb).await.unwrap_err();
        match err {
            shadowdb::Error::Conflict(c) => {
                assert_eq!(c.len(), 1);
                assert_eq!(
                    c[0].to_string(),
                    "smoke_tasks[id=2] changed in production since the clone (columns: title)"
                );
            }
            other => panic!("{other}"),
        }
        assert_eq!(
            db.rows("SELECT title, status FROM smoke_tasks WHERE id = 2")
                .await,
            vec![vec!["moved", "todo"]]
        );
    });
}
