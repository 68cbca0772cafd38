//! Approval, audit, rollback and limits wired into a session, on every
//! database: approvals approved, denied, timed out and decided from a second
//! process; the audit record committed with the data and absent with it;
//! rollback restoring exact values and refusing rows that moved on; rate and
//! session limits; and no PII value in any sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use safemodel::{Decimal, SafeModel};
use shadowdb::approve::{ApprovalHandle, ChannelApprover, DbApprovals, DbApprover, DenyAll};
use shadowdb::audit::{
    AUDIT_TABLE, AuditKind, AuditKindName, AuditQuery, DbAuditSink, JsonlSink, MemorySink,
};
use shadowdb::diff::Op;
use shadowdb::limits::{RateLimiter, RateLimits, SessionLimits};
use shadowdb::policy::Policy;
use shadowdb::prod::Production;
use shadowdb::rollback::Rollback;
use shadowdb::{CommitOptions, ConflictKind, Error, Limits, OpenOptions, ShadowDb};

use crate::common::{Kind, TestDb, commit_diff, run};
use crate::each_db;

#[derive(Debug, SafeModel)]
#[safemodel(table = "gv_tasks", tenant = "org_id")]
pub struct GvTask {
    #[safemodel(primary_key)]
    pub id: i64,
    pub org_id: i64,
    #[validate(length(min = 1))]
    pub title: String,
    pub amount: Decimal,
    #[safemodel(pii)]
    pub secret: Option<String>,
}

/// A PII value that must never reach a sink.
const PII: &str = "pii-4111-1111-1111-1111";

async fn setup(db: &TestDb) {
    let ddl = match db.kind {
        Kind::Sqlite => {
            "CREATE TABLE gv_tasks (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, title TEXT NOT NULL, amount DECIMAL(12,2) NOT NULL CHECK (amount < 1000), secret TEXT)"
        }
        Kind::Postgres => {
            "CREATE TABLE gv_tasks (id bigint PRIMARY KEY, org_id bigint NOT NULL, title text NOT NULL, amount numeric(12,2) NOT NULL CHECK (amount < 1000), secret text)"
        }
        Kind::MySql => {
            "CREATE TABLE gv_tasks (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, title VARCHAR(100) NOT NULL, amount DECIMAL(12,2) NOT NULL CHECK (amount < 1000), secret TEXT)"
        }
    };
    db.exec(ddl).await;
    db.exec(&format!(
        "INSERT INTO gv_tasks VALUES (1, 7, 'one', 1.10, '{PII}');
         INSERT INTO gv_tasks VALUES (2, 7, 'two', 2.20, '{PII}');
         INSERT INTO gv_tasks VALUES (3, 7, 'three', 3.30, NULL);
         INSERT INTO gv_tasks VALUES (4, 8, 'other', 4.40, '{PII}')"
    ))
    .await;
}

async fn prod_rows(db: &TestDb) -> Vec<Vec<String>> {
    let cast = match db.kind {
        Kind::Postgres => "CAST(amount AS text)",
        Kind::MySql => "CAST(amount AS CHAR)",
        Kind::Sqlite => "CAST(amount AS TEXT)",
    };
    db.rows(&format!(
        "SELECT id, org_id, title, {cast}, COALESCE(secret, 'NULL') FROM gv_tasks ORDER BY id"
    ))
    .await
}

fn builder(db: &TestDb) -> OpenOptions {
    ShadowDb::builder(db.prod.clone())
        .table("gv_tasks")
        .tenant(7)
        .actor("agent-7")
}

fn deletes_need_approval() -> Policy {
    let mut p = Policy::builtin("dev").unwrap();
    p.set_require_approval_for([Op::Delete]);
    p
}

fn kinds(memory: &MemorySink) -> Vec<&'static str> {
    memory.events().iter().map(|e| e.kind.name()).collect()
}

// ---- approval ---------------------------------------------------------------

/// A sandbox whose deletes need the approval of a `ChannelApprover`,
/// audited to `memory`, after `sql`: the sandbox, its changeset and the
/// approver's handle.
async fn delete_for_approval(
    db: &TestDb,
    memory: &Arc<MemorySink>,
    sql: &str,
) -> (ShadowDb, shadowdb::ChangeSet, ApprovalHandle) {
    let (approver, handle) = ChannelApprover::new();
    let sdb = builder(db)
        .policy(deletes_need_approval())
        .approver(Arc::new(approver))
        .audit_sink(memory.clone())
        .open()
        .await
        .unwrap();
    run(&sdb, sql).await;
    let cs = sdb.diff().unwrap();
    (sdb, cs, handle)
}

#[tokio::test]
async fn approval_approved_denied_timed_out_and_missing() {
    each_db!("gv_approval", |db| {
        setup(&db).await;
        let before = prod_rows(&db).await;

        // Approved by another task: committed, and on the record.
        let memory = Arc::new(MemorySink::new());
        let (mut sdb, cs, handle) =
            delete_for_approval(&db, &memory, "DELETE FROM gv_tasks WHERE id = 3").await;
        let reviewer = tokio::spawn(async move {
            let request = handle.next_pending().await;
            assert_eq!(request.requested_by, "agent-7");
            assert_eq!(request.tenant, "7");
            assert!(request.text.contains("gv_tasks"), "{}", request.text);
            assert!(!request.text.contains(PII) && !request.json.contains(PII));
            handle.approve(&request.id, "ops-lead").unwrap();
        });
        let report = sdb.commit(&cs).await.unwrap();
        reviewer.await.unwrap();
        assert_eq!(report.rows["gv_tasks"].delete, 1);
        assert_eq!(
            prod_rows(&db).await.len(),
            before.len() - 1,
            "{:?}",
            db.kind
        );
        assert_eq!(
            kinds(&memory),
            [
                "sandbox_opened",
                "statement",
                "diff_summary",
                "approval_requested",
                "approval_decided",
                "commit"
            ],
            "{:?}",
            db.kind
        );
        let decided = memory
            .events()
            .into_iter()
            .find_map(|e| match e.kind {
                AuditKind::ApprovalDecided { by, outcome, .. } => Some((by, outcome)),
                _ => None,
            })
            .unwrap();
        assert_eq!(decided.0.as_deref(), Some("ops-lead"));

        // Denied: nothing written, the failure on the record.
        let before = prod_rows(&db).await;
        let memory = Arc::new(MemorySink::new());
        let (mut sdb, cs, handle) =
            delete_for_approval(&db, &memory, "DELETE FROM gv_tasks WHERE id = 2").await;
        let reviewer = tokio::spawn(async move {
            let request = handle.next_pending().await;
            handle
                .deny(&request.id, "ops-lead", "not on a Friday")
                .unwrap();
        });
        let err = sdb.commit(&cs).await.unwrap_err();
        reviewer.await.unwrap();
        assert!(
            matches!(&err, Error::ApprovalDenied { by, reason, .. } if by == "ops-lead" && reason == "not on a Friday"),
            "{err}"
        );
        assert_eq!(prod_rows(&db).await, before, "{:?}", db.kind);
        assert_eq!(kinds(&memory).last(), Some(&"commit_failed"));

        // Nobody answers: denied when the timeout passes.
        let (approver, _handle) = ChannelApprover::new();
        let mut sdb = builder(&db)
            .policy(deletes_need_approval())
            .approver(Arc::new(approver))
            .approval_timeout(Duration::from_millis(200))
            .open()
            .await
            .unwrap();
        run(&sdb, "DELETE FROM gv_tasks WHERE id = 2").await;
        let err = commit_diff(&mut sdb).await.unwrap_err();
        assert!(
            matches!(&err, Error::ApprovalTimedOut { timeout, .. } if *timeout == Duration::from_millis(200)),
            "{err}"
        );
        assert_eq!(prod_rows(&db).await, before);

        // Deny-all, and no approver at all: refused, never silently allowed.
        for approver in [Some(Arc::new(DenyAll)), None] {
            let mut opts = builder(&db).policy(deletes_need_approval());
            if let Some(a) = approver {
                opts = opts.approver(a);
            }
            let mut sdb = opts.open().await.unwrap();
            run(&sdb, "DELETE FROM gv_tasks WHERE id = 2").await;
            let err = commit_diff(&mut sdb).await.unwrap_err();
            assert!(
                matches!(err, Error::ApprovalDenied { .. } | Error::NeedsApproval(_)),
                "{err}"
            );
            assert_eq!(prod_rows(&db).await, before);
        }
    });
}

// ---- approval decided from a second process -----------------------------------

const REVIEWER_URL: &str = "SHADOWDB_TEST_GV_REVIEWER_URL";

/// The second process: approves the one pending request for tenant 7 in the
/// database the parent names, then stops. Does nothing in a normal run.
#[tokio::test]
async fn reviewer_process() {
    let Ok(url) = std::env::var(REVIEWER_URL) else {
        return;
    };
    let approvals = DbApprovals::new(Production::connect(&url).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "reviewer: no request came");
        if let Some(req) = approvals
            .list_pending()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.tenant == "7")
        {
            assert!(req.summary.contains("gv_tasks") && !req.summary.contains(PII));
            approvals
                .approve(&req.id, "reviewer-process")
                .await
                .unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn approval_decided_from_a_second_process() {
    each_db!("gv_second", |db| {
        setup(&db).await;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "governance::reviewer_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(REVIEWER_URL, &db.url)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let approver = DbApprover::new(db.prod.clone()).poll_every(Duration::from_millis(50));
        let mut sdb = builder(&db)
            .policy(deletes_need_approval())
            .approver(Arc::new(approver))
            .approval_timeout(Duration::from_secs(60))
            .open()
            .await
            .unwrap();
        run(&sdb, "DELETE FROM gv_tasks WHERE id = 3").await;
        let report = commit_diff(&mut sdb).await.unwrap();
        assert!(child.wait().unwrap().success(), "{:?}", db.kind);
        assert_eq!(report.rows["gv_tasks"].delete, 1);
        let ids: Vec<String> = prod_rows(&db)
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(ids, ["1", "2", "4"], "{:?}", db.kind);
    });
}

// ---- audit: the record and the data together ----------------------------------

async fn audit_rows(db: &TestDb, kind: &str) -> Vec<Vec<String>> {
    db.rows(&format!(
        "SELECT commit_id, tenant, actor FROM {AUDIT_TABLE} WHERE kind = '{kind}' ORDER BY seq"
    ))
    .await
}

#[tokio::test]
async fn the_audit_record_commits_with_the_data_or_not_at_all() {
    each_db!("gv_audit", |db| {
        setup(&db).await;
        let file = tempfile(&db, "audit");
        let mut sdb = builder(&db)
            .audit_in_production(true)
            .audit_sink(Arc::new(JsonlSink::open(&file).unwrap()))
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "UPDATE gv_tasks SET title = 'ONE', amount = '10.01' WHERE id = 1; INSERT INTO gv_tasks (id, title, amount) VALUES (5, 'five', '5.50')",
        )
        .await;
        let report = commit_diff(&mut sdb).await.unwrap();
        assert_eq!(report.audit_error, None);
        assert_eq!(
            audit_rows(&db, "commit").await,
            [vec![report.commit_id.clone(), "7".into(), "agent-7".into()]],
            "{:?}",
            db.kind
        );
        let stored = DbAuditSink::new(db.prod.clone())
            .query(
                &AuditQuery::new()
                    .commit(&report.commit_id)
                    .kind(AuditKindName::Commit),
            )
            .await
            .unwrap();
        let AuditKind::Commit(record) = &stored[0].kind else {
            panic!("not a commit");
        };
        assert_eq!(record.rows_affected, 2);
        assert_eq!(record.rows.len(), 2);
        let update = record.rows.iter().find(|r| r.op == Op::Update).unwrap();
        // SQLite keeps a DECIMAL column's 1.10 as the REAL 1.1.
        let old_amount = if db.kind == Kind::Sqlite {
            "1.1"
        } else {
            "1.10"
        };
        assert_eq!(update.before.as_ref().unwrap()["amount"], old_amount);
        assert_eq!(update.after.as_ref().unwrap()["amount"], "10.01");
        assert!(!update.before.as_ref().unwrap().contains_key("secret"));
        let in_file =
            shadowdb::audit::query_jsonl(&file, &AuditQuery::new().kind(AuditKindName::Commit))
                .unwrap();
        assert_eq!(in_file, stored, "the file holds the same record");

        // A commit production refuses (its CHECK on amount, which the sandbox
        // does not know): no data, no commit record, a commit_failed record.
        let before = prod_rows(&db).await;
        let mut sdb = builder(&db).audit_in_production(true).open().await.unwrap();
        run(&sdb, "UPDATE gv_tasks SET amount = '5000.00' WHERE id = 2").await;
        let err = commit_diff(&mut sdb).await.unwrap_err();
        assert!(matches!(err, Error::Database { .. }), "{err}");
        assert_eq!(prod_rows(&db).await, before, "{:?}", db.kind);
        assert_eq!(audit_rows(&db, "commit").await.len(), 1, "{:?}", db.kind);
        let failed = audit_rows(&db, "commit_failed").await;
        assert_eq!(failed.len(), 1, "{:?}", db.kind);
        let _ = std::fs::remove_file(&file);
    });
}

fn tempfile(db: &TestDb, what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "shadowdb-{what}-{:?}-{}.jsonl",
        db.kind,
        uuid::Uuid::new_v4().simple()
    ))
}

// ---- rollback -------------------------------------------------------------------

#[derive(Debug, SafeModel)]
#[safemodel(table = "gv_notes", tenant = "org_id")]
pub struct GvNote {
    #[safemodel(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub body: Option<String>,
    pub amount: Decimal,
    pub at: chrono::DateTime<chrono::Utc>,
}

async fn notes_setup(db: &TestDb) {
    let ddl = match db.kind {
        Kind::Sqlite => {
            "CREATE TABLE gv_notes (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, body TEXT, amount DECIMAL(30,10) NOT NULL, at TIMESTAMPTZ NOT NULL)"
        }
        Kind::Postgres => {
            "CREATE TABLE gv_notes (id bigint PRIMARY KEY, org_id bigint NOT NULL, body text, amount numeric NOT NULL, at timestamptz NOT NULL)"
        }
        Kind::MySql => {
            "CREATE TABLE gv_notes (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, body TEXT, amount DECIMAL(30,10) NOT NULL, at TIMESTAMP(6) NOT NULL)"
        }
    };
    db.exec(ddl).await;
    // SQLite has no instant type: its text carries the offset shadowdb writes.
    let z = if db.kind == Kind::Sqlite {
        "+00:00"
    } else {
        ""
    };
    db.exec(&format!(
        "INSERT INTO gv_notes VALUES (1, 7, 'one', '1.1000000000', '2024-05-01 12:00:00.123456{z}');
         INSERT INTO gv_notes VALUES (2, 7, NULL, '2.0000000001', '2024-05-02 00:00:00{z}');
         INSERT INTO gv_notes VALUES (3, 7, 'three', '-3.5000000000', '2024-05-03 23:59:59.999999{z}');
         INSERT INTO gv_notes VALUES (4, 8, 'other', '4.0000000000', '2024-05-04 00:00:00{z}')"
    ))
    .await;
}

async fn notes(db: &TestDb) -> Vec<Vec<String>> {
    let cast = |c: &str| match db.kind {
        Kind::Postgres => format!("CAST({c} AS text)"),
        Kind::MySql => format!("CAST({c} AS CHAR)"),
        Kind::Sqlite => format!("CAST({c} AS TEXT)"),
    };
    db.rows(&format!(
        "SELECT id, org_id, COALESCE(body, 'NULL'), {}, {} FROM gv_notes ORDER BY id",
        cast("amount"),
        cast("at")
    ))
    .await
}

#[tokio::test]
async fn rollback_restores_exact_values_once() {
    each_db!("gv_rollback", |db| {
        notes_setup(&db).await;
        let before = notes(&db).await;
        let mut sdb = ShadowDb::builder(db.prod.clone())
            .table("gv_notes")
            .tenant(7)
            .audit_in_production(true)
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "UPDATE gv_notes SET body = NULL, amount = '99.9000000001', at = '2030-01-01 00:00:00+00:00' WHERE id = 1;
             UPDATE gv_notes SET body = 'now text' WHERE id = 2;
             INSERT INTO gv_notes (id, body, amount, at) VALUES (9, 'nine', '9.09', '2024-06-01 10:00:00+00:00');
             DELETE FROM gv_notes WHERE id = 3",
        )
        .await;
        let commit = commit_diff(&mut sdb).await.unwrap();
        assert_ne!(notes(&db).await, before);

        let listed = Rollback::new(db.prod.clone()).list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].commit_id, commit.commit_id);
        assert_eq!(listed[0].rows_affected, 4);
        assert_eq!(listed[0].tenant, "7");
        assert_eq!(listed[0].rolled_back_by, None);

        let report = Rollback::new(db.prod.clone())
            .actor("ops-lead")
            .run(&commit.commit_id)
            .await
            .unwrap();
        assert_eq!(notes(&db).await, before, "{:?}: exact values back", db.kind);
        let counts = &report.rows["gv_notes"];
        assert_eq!((counts.insert, counts.update, counts.delete), (1, 2, 1));

        let again = Rollback::new(db.prod.clone())
            .run(&commit.commit_id)
            .await
            .unwrap_err();
        assert!(
            matches!(&again, Error::AlreadyRolledBack { commit_id, rollback_id }
                if *commit_id == commit.commit_id && *rollback_id == report.rollback_id),
            "{again}"
        );
        let listed = Rollback::new(db.prod.clone()).list().await.unwrap();
        assert_eq!(
            listed[0].rolled_back_by.as_deref(),
            Some(report.rollback_id.as_str())
        );
        assert!(matches!(
            Rollback::new(db.prod.clone()).run("no-such-commit").await,
            Err(Error::UnknownCommit { .. })
        ));
        assert_eq!(notes(&db).await, before);
    });
}

#[tokio::test]
async fn rollback_cannot_bring_back_a_deleted_row_with_pii() {
    each_db!("gv_rollback_pii", |db| {
        setup(&db).await;
        let mut sdb = builder(&db).audit_in_production(true).open().await.unwrap();
        run(&sdb, "DELETE FROM gv_tasks WHERE id = 3").await;
        let commit = commit_diff(&mut sdb).await.unwrap();
        let after = prod_rows(&db).await;
        let err = Rollback::new(db.prod.clone())
            .run(&commit.commit_id)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot roll back gv_tasks[id=3]: the deleted row's column(s) secret were never recorded (PII or outside the contract)"
        );
        assert_eq!(prod_rows(&db).await, after);
    });
}

#[tokio::test]
async fn rollback_refuses_rows_that_moved_on() {
    each_db!("gv_moved", |db| {
        setup(&db).await;
        let file = tempfile(&db, "rollback");
        let mut sdb = builder(&db)
            .audit_sink(Arc::new(JsonlSink::open(&file).unwrap()))
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "UPDATE gv_tasks SET title = 'ONE' WHERE id = 1; UPDATE gv_tasks SET title = 'TWO' WHERE id = 2",
        )
        .await;
        let commit = commit_diff(&mut sdb).await.unwrap();
        // Someone changes row 2 after the commit.
        db.exec("UPDATE gv_tasks SET amount = 22.22 WHERE id = 2")
            .await;
        let after = prod_rows(&db).await;

        let err = Rollback::new(db.prod.clone())
            .from_jsonl(&file)
            .run(&commit.commit_id)
            .await
            .unwrap_err();
        let Error::Conflict(conflicts) = &err else {
            panic!("{:?}: {err}", db.kind);
        };
        assert_eq!(conflicts.len(), 1, "{err}");
        assert_eq!(conflicts[0].table, "gv_tasks");
        assert_eq!(conflicts[0].key.render(), "id=2");
        assert_eq!(
            conflicts[0].kind,
            ConflictKind::Changed {
                columns: vec!["amount".into()]
            }
        );
        assert_eq!(
            prod_rows(&db).await,
            after,
            "{:?}: nothing written",
            db.kind
        );
        let _ = std::fs::remove_file(&file);
    });
}

// ---- limits ----------------------------------------------------------------------

#[tokio::test]
async fn rate_limits_answer_with_retry_after() {
    each_db!("gv_rate", |db| {
        setup(&db).await;
        let limiter = Arc::new(RateLimiter::new(
            RateLimits::new()
                .statements_per_tenant("2/1s".parse().unwrap())
                .commits_per_actor("1/hour".parse().unwrap()),
        ));
        let memory = Arc::new(MemorySink::new());
        let mut sdb = builder(&db)
            .rate_limiter(limiter.clone())
            .audit_sink(memory.clone())
            .open()
            .await
            .unwrap();
        run(&sdb, "UPDATE gv_tasks SET title = 'a' WHERE id = 1").await;
        run(&sdb, "UPDATE gv_tasks SET title = 'b' WHERE id = 1").await;
        let err = sdb
            .execute("UPDATE gv_tasks SET title = 'c' WHERE id = 1", &[])
            .await
            .unwrap_err();
        let Error::RateLimited { limit, retry_after } = &err else {
            panic!("{err}");
        };
        assert_eq!(limit, "statements per tenant");
        assert!(*retry_after > Duration::ZERO && *retry_after <= Duration::from_millis(500));
        tokio::time::sleep(*retry_after).await;
        run(&sdb, "UPDATE gv_tasks SET title = 'c' WHERE id = 1").await;
        assert!(kinds(&memory).contains(&"limit_exceeded"));

        commit_diff(&mut sdb).await.unwrap();
        // The same actor's next commit, in another session, waits an hour.
        let mut other = builder(&db).rate_limiter(limiter).open().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        run(&other, "UPDATE gv_tasks SET title = 'd' WHERE id = 2").await;
        let err = commit_diff(&mut other).await.unwrap_err();
        assert!(
            matches!(&err, Error::RateLimited { limit, retry_after } if limit == "commits per actor" && *retry_after > Duration::from_secs(3000)),
            "{err}"
        );
        assert_eq!(prod_rows(&db).await[1][2], "two", "{:?}", db.kind);
    });
}

#[tokio::test]
async fn every_session_limit_is_its_own_error_and_audit_event() {
    each_db!("gv_session", |db| {
        setup(&db).await;
        let memory = Arc::new(MemorySink::new());
        let mut sdb = builder(&db)
            .session_limits(
                SessionLimits::new()
                    .max_statements(2)
                    .max_rows_per_commit(1),
            )
            .audit_sink(memory.clone())
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "UPDATE gv_tasks SET title = 'x' WHERE id = 1; UPDATE gv_tasks SET title = 'y' WHERE id = 2",
        )
        .await;
        let err = sdb.execute("SELECT 1", &[]).await.unwrap_err();
        assert!(matches!(err, Error::TooManyStatements { max: 2 }), "{err}");
        let err = commit_diff(&mut sdb).await.unwrap_err();
        assert!(
            matches!(err, Error::CommitTooLarge { rows: 2, max: 1 }),
            "{err}"
        );

        let mut old = builder(&db)
            .session_limits(SessionLimits::new().max_duration(Duration::from_millis(100)))
            .audit_sink(memory.clone())
            .open()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let err = old.execute("SELECT 1", &[]).await.unwrap_err();
        assert!(matches!(err, Error::SessionExpired { .. }), "{err}");
        let cs = old.diff().unwrap();
        assert!(matches!(
            old.commit(&cs).await.unwrap_err(),
            Error::SessionExpired { .. }
        ));

        let slow = builder(&db)
            .limits(Limits {
                statement_time: Duration::from_millis(50),
                ..Limits::default()
            })
            .audit_sink(memory.clone())
            .open()
            .await
            .unwrap();
        let err = slow
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
                &[],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");

        let limits: Vec<String> = memory
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                AuditKind::LimitExceeded { limit, .. } => Some(limit),
                _ => None,
            })
            .collect();
        assert_eq!(
            limits,
            [
                "max_statements",
                "max_rows_per_commit",
                "max_duration",
                "max_duration",
                "statement_time"
            ],
            "{:?}",
            db.kind
        );
        assert_eq!(prod_rows(&db).await[0][2], "one");
    });
}

// ---- PII never reaches a sink -------------------------------------------------------

#[tokio::test]
async fn no_sink_holds_a_pii_value() {
    each_db!("gv_pii", |db| {
        setup(&db).await;
        let file = tempfile(&db, "pii");
        let memory = Arc::new(MemorySink::new());
        let (approver, handle) = ChannelApprover::new();
        let mut sdb = builder(&db)
            .policy(deletes_need_approval())
            .approver(Arc::new(approver))
            .audit_in_production(true)
            .audit_sink(Arc::new(JsonlSink::open(&file).unwrap()))
            .audit_sink(memory.clone())
            .open()
            .await
            .unwrap();
        run(
            &sdb,
            "UPDATE gv_tasks SET title = 'ONE' WHERE id = 1; DELETE FROM gv_tasks WHERE id = 2",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let reviewer = tokio::spawn(async move {
            let request = handle.next_pending().await;
            assert!(!request.text.contains(PII) && !request.json.contains(PII));
            handle.approve(&request.id, "ops-lead").unwrap();
        });
        let report = sdb.commit_with(&cs, CommitOptions::new()).await.unwrap();
        reviewer.await.unwrap();
        // The PII value is still in production (the update kept it)...
        assert_eq!(prod_rows(&db).await[0][4], PII);
        // ...and in no sink.
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(&report.commit_id));
        assert!(!text.contains(PII), "the JSONL file holds PII");
        for e in memory.events() {
            assert!(!e.to_json().unwrap().contains(PII));
        }
        let table = db
            .rows(&format!("SELECT event FROM {AUDIT_TABLE} ORDER BY seq"))
            .await;
        assert!(table.len() >= 6, "{table:?}");
        assert!(
            table.iter().all(|r| !r[0].contains(PII)),
            "the audit table holds PII"
        );
        let _ = std::fs::remove_file(&file);
    });
}
