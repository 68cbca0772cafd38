//! The audit trail: the exact JSON Lines written, PII never written (file and
//! table), SQL redaction and hash-only mode, queries over the file and the
//! table, and the table written in the caller's transaction.

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod testdb;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use safemodel::{Decimal, Row, Value};
use sha2::{Digest, Sha256};
use shadowdb::Error;
use shadowdb::approve::{ApprovalDecision, ApprovalRequest};
use shadowdb::audit::{
    AuditEvent, AuditKind, AuditKindName, AuditQuery, AuditSink, AuditTrail, CommitRecord,
    DbAuditSink, JsonlSink, MemorySink, Redactor, ensure_audit_table, insert_event, query_jsonl,
};
use shadowdb::diff::{ChangeSet, Key, Op, RowChange};
use shadowdb::policy::{Policy, Scope, ScopedTable};
use shadowdb::prod::Production;

const PII_VALUE: &str = "ann@example.com";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(time: &str, tenant: &str, actor: &str, kind: AuditKind) -> AuditEvent {
    AuditEvent {
        time: at(time),
        session_id: "s1".into(),
        tenant: tenant.into(),
        actor: actor.into(),
        kind,
    }
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "shadowdb_{name}_{}.jsonl",
        uuid::Uuid::new_v4().simple()
    ))
}

/// An update of a task and an insert of a user whose row (wrongly) carries
/// its PII email column.
fn changeset() -> ChangeSet {
    let task = |title: &str| {
        Row::new()
            .with("id", 1_i64)
            .with("title", title)
            .with("amount", Decimal::new("12.50").unwrap())
    };
    let user = Row::new()
        .with("id", 9_i64)
        .with("name", "Ann")
        .with("email", PII_VALUE)
        .with("note", Value::Null);
    ChangeSet::new(
        vec![
            RowChange {
                table: "users".into(),
                op: Op::Insert,
                key: Key(vec![("id".into(), Value::Int(9))]),
                old: None,
                new: Some(user),
                changed: vec!["id".into(), "name".into(), "email".into(), "note".into()],
                violations: vec![],
            },
            RowChange {
                table: "tasks".into(),
                op: Op::Update,
                key: Key(vec![("id".into(), Value::Int(1))]),
                old: Some(task("Draft")),
                new: Some(task("Done")),
                changed: vec!["title".into()],
                violations: vec![],
            },
        ],
        vec![],
    )
}

fn pii() -> Vec<(String, String)> {
    vec![("users".to_owned(), "email".to_owned())]
}

fn commit_event() -> AuditEvent {
    event(
        "2024-05-01T12:00:01.5Z",
        "42",
        "agent-7",
        AuditKind::commit("c-1", &changeset(), 2, &pii()),
    )
}

fn statement(sql: &str, redactor: &Redactor) -> AuditKind {
    let scope = Scope::new().with_table(ScopedTable::new("tasks"));
    let verdicts = Policy::builtin("dev").unwrap().check_sql(sql, &scope);
    AuditKind::statement(redactor, sql, &verdicts[0])
}

const COMMIT_LINE: &str = concat!(
    r#"{"time":"2024-05-01T12:00:01.500000Z","session_id":"s1","tenant":"42","actor":"agent-7","#,
    r#""kind":"commit","commit_id":"c-1","rows_affected":2,"rows":["#,
    r#"{"table":"tasks","op":"update","key":{"id":1},"#,
    r#""before":{"amount":"12.50","id":1,"title":"Draft"},"#,
    r#""after":{"amount":"12.50","id":1,"title":"Done"}},"#,
    r#"{"table":"users","op":"insert","key":{"id":9},"before":null,"#,
    r#""after":{"id":9,"name":"Ann","note":null}}]}"#
);

#[tokio::test]
async fn jsonl_content_is_exact() {
    let path = temp_file("exact");
    let sink = JsonlSink::open(&path).unwrap();
    let request = ApprovalRequest::new("agent-7", "42", vec!["tasks: deletes 3 rows".into()])
        .with_id("r-1")
        .with_timeout(std::time::Duration::from_secs(30));
    let events = [
        event(
            "2024-05-01T12:00:00Z",
            "42",
            "agent-7",
            AuditKind::sandbox_opened(BTreeMap::from([("tasks".into(), 3), ("users".into(), 1)])),
        ),
        event(
            "2024-05-01T12:00:00.25Z",
            "42",
            "agent-7",
            AuditKind::diff_summary(&changeset()),
        ),
        event(
            "2024-05-01T12:00:00.5Z",
            "42",
            "agent-7",
            AuditKind::approval_requested(&request),
        ),
        event(
            "2024-05-01T12:00:01Z",
            "42",
            "agent-7",
            AuditKind::approval_decided(&request, &ApprovalDecision::Approved { by: "ann".into() }),
        ),
        commit_event(),
        event(
            "2024-05-01T12:00:02Z",
            "42",
            "agent-7",
            AuditKind::limit_exceeded(&Error::TooManyStatements { max: 3 }).unwrap(),
        ),
        event(
            "2024-05-01T12:00:03Z",
            "42",
            "agent-7",
            AuditKind::commit_failed(None, &Error::ChangeSetChanged),
        ),
        event(
            "2024-05-01T12:00:04Z",
            "42",
            "ops",
            AuditKind::Rollback {
                commit_id: "c-1".into(),
                rollback_id: "c-2".into(),
                rows_affected: 2,
            },
        ),
    ];
    for e in &events {
        sink.record(e).await.unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let head = r#"{"time":"2024-05-01T12:00:0"#;
    let who = r#"","session_id":"s1","tenant":"42","actor":"#;
    let expected = [
        format!(
            r#"{head}0.000000Z{who}"agent-7","kind":"sandbox_opened","tables":["tasks","users"],"row_counts":{{"tasks":3,"users":1}}}}"#
        ),
        format!(
            r#"{head}0.250000Z{who}"agent-7","kind":"diff_summary","counts":{{"tasks":{{"insert":0,"update":1,"delete":0}},"users":{{"insert":1,"update":0,"delete":0}}}}}}"#
        ),
        format!(
            r#"{head}0.500000Z{who}"agent-7","kind":"approval_requested","request_id":"r-1","reasons":["tasks: deletes 3 rows"],"timeout_ms":30000}}"#
        ),
        format!(
            r#"{head}1.000000Z{who}"agent-7","kind":"approval_decided","request_id":"r-1","outcome":"approved","by":"ann","reason":null}}"#
        ),
        COMMIT_LINE.to_owned(),
        format!(
            r#"{head}2.000000Z{who}"agent-7","kind":"limit_exceeded","limit":"max_statements","detail":"session limit reached: at most 3 statements per session"}}"#
        ),
        format!(
            r#"{head}3.000000Z{who}"agent-7","kind":"commit_failed","commit_id":null,"reason":"the sandbox changed after the review: diff again and review the new changeset"}}"#
        ),
        format!(
            r#"{head}4.000000Z{who}"ops","kind":"rollback","commit_id":"c-1","rollback_id":"c-2","rows_affected":2}}"#
        ),
    ];
    assert_eq!(text, expected.join("\n") + "\n");

    // Read back exactly, in order.
    assert_eq!(
        query_jsonl(&path, &AuditQuery::new()).unwrap(),
        events.to_vec()
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn jsonl_skips_a_torn_last_line_and_names_a_bad_one() {
    let path = temp_file("torn");
    let sink = JsonlSink::open(&path).unwrap();
    sink.record(&commit_event()).await.unwrap();
    // A crash in the middle of a write leaves a line without its newline.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"time\":\"2024"))
        .unwrap();
    assert_eq!(
        query_jsonl(&path, &AuditQuery::new()).unwrap(),
        vec![commit_event()]
    );
    std::fs::write(
        &path,
        format!("{COMMIT_LINE}\n{{\"secret\": \"{PII_VALUE}\"}}\n"),
    )
    .unwrap();
    let err = query_jsonl(&path, &AuditQuery::new()).unwrap_err();
    assert!(matches!(&err, Error::Audit { context, .. } if context.starts_with("line 2 of ")));
    assert!(!err.to_string().contains(PII_VALUE));
    assert!(
        query_jsonl(temp_file("missing"), &AuditQuery::new())
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn commit_record_leaves_pii_columns_out() {
    let AuditKind::Commit(CommitRecord { rows, .. }) = commit_event().kind else {
        panic!("not a commit");
    };
    let after = rows[1].after.as_ref().unwrap();
    assert_eq!(after.keys().collect::<Vec<_>>(), ["id", "name", "note"]);
    // A wildcard table, and a qualified name for an unqualified table.
    for pii in [
        vec![("*".to_owned(), "email".to_owned())],
        vec![("public.users".to_owned(), "email".to_owned())],
    ] {
        let record = CommitRecord::new("c", &changeset(), 2, &pii);
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains(PII_VALUE), "{json}");
    }
}

#[tokio::test]
async fn pii_never_reaches_the_file_or_the_table() {
    let path = temp_file("pii");
    let file = Arc::new(JsonlSink::open(&path).unwrap());
    for kind in testdb::ALL {
        let Some(db) = testdb::TestDb::new(kind, "audit_pii").await else {
            continue;
        };
        let table = Arc::new(DbAuditSink::new(db.prod.clone()));
        let trail = AuditTrail::new("42", "agent-7")
            .with_pii(pii())
            .with_sink(file.clone())
            .with_database(table.clone());
        let kind_ = trail.commit("c-1", &changeset(), 2);
        trail.record(kind_).await.unwrap();
        // The statement that tried to write it: literals masked.
        let trail = trail.with_redactor(Redactor::new().mask_literals(true));
        let sql = format!("UPDATE tasks SET title = '{PII_VALUE}' WHERE id = 1");
        trail
            .record(trail.statement(&sql, &{
                let scope = Scope::new().with_table(ScopedTable::new("tasks"));
                Policy::builtin("dev")
                    .unwrap()
                    .check_sql(&sql, &scope)
                    .remove(0)
            }))
            .await
            .unwrap();

        let rows = db
            .rows("SELECT event_time, session_id, tenant, actor, kind, commit_id, event FROM shadowdb_audit ORDER BY seq")
            .await;
        assert_eq!(rows.len(), 2, "{kind:?}");
        assert_eq!(
            rows[0][2..6],
            ["42", "agent-7", "commit", "c-1"],
            "{kind:?}"
        );
        assert_eq!(rows[1][4..6], ["statement", "NULL"], "{kind:?}");
        for row in &rows {
            for cell in row {
                assert!(!cell.contains(PII_VALUE), "{kind:?}: {cell}");
            }
        }
        assert!(rows[1][6].contains(r#""sql":"UPDATE tasks SET title = ? WHERE id = ?""#));
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.is_empty());
    assert!(!text.contains(PII_VALUE), "{text}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn secrets_are_masked_and_hash_only_stores_no_sql() {
    let sql = "UPDATE tasks SET title = 'key sk-live-abc123' WHERE id = 1";
    let masked = Redactor::new().with_pattern(r"sk-live-[a-z0-9]+").unwrap();
    let AuditKind::Statement {
        sql: text,
        sql_sha256,
        decision,
        hits,
    } = statement(sql, &masked)
    else {
        panic!("not a statement");
    };
    let expected = "UPDATE tasks SET title = 'key ***' WHERE id = 1";
    assert_eq!(text.as_deref(), Some(expected));
    assert_eq!(sql_sha256, hex::encode(Sha256::digest(expected.as_bytes())));
    assert_eq!(decision.name(), "allow");
    assert!(hits.is_empty());

    let hashed = Redactor::new().hash_only(true);
    let e = event(
        "2024-05-01T12:00:00Z",
        "42",
        "agent-7",
        statement(sql, &hashed),
    );
    let line = e.to_json().unwrap();
    assert_eq!(
        line,
        format!(
            r#"{{"time":"2024-05-01T12:00:00.000000Z","session_id":"s1","tenant":"42","actor":"agent-7","kind":"statement","sql":null,"sql_sha256":"{}","decision":"allow","hits":[]}}"#,
            hex::encode(Sha256::digest(sql.as_bytes()))
        )
    );
    assert!(!line.contains("UPDATE") && !line.contains("sk-live"));

    // A statement that a rule fires on keeps the rule, not the value.
    let AuditKind::Statement { decision, hits, .. } =
        statement("DELETE FROM tasks", &Redactor::new())
    else {
        panic!("not a statement");
    };
    assert_eq!(decision.name(), "block");
    assert_eq!(hits[0].rule, "delete_without_where");
}

/// Events of two tenants, two actors, several kinds, over four seconds.
fn history() -> Vec<AuditEvent> {
    let opened = || AuditKind::sandbox_opened(BTreeMap::from([("tasks".into(), 3)]));
    let summary = || AuditKind::diff_summary(&changeset());
    let mut c2 = commit_event();
    c2.time = at("2024-05-01T12:00:03Z");
    c2.tenant = "43".into();
    c2.actor = "agent-8".into();
    if let AuditKind::Commit(c) = &mut c2.kind {
        c.commit_id = "c-2".into();
    }
    vec![
        event("2024-05-01T12:00:00Z", "42", "agent-7", opened()),
        event("2024-05-01T12:00:00.000001Z", "43", "agent-8", opened()),
        event("2024-05-01T12:00:01Z", "42", "agent-7", summary()),
        commit_event(),
        event("2024-05-01T12:00:02Z", "42", "agent-8", summary()),
        c2,
    ]
}

fn check_queries(run: &dyn Fn(&AuditQuery) -> Vec<AuditEvent>) {
    let all = history();
    let pick = |idx: &[usize]| idx.iter().map(|i| all[*i].clone()).collect::<Vec<_>>();
    assert_eq!(run(&AuditQuery::new()), all);
    assert_eq!(run(&AuditQuery::new().tenant("42")), pick(&[0, 2, 3, 4]));
    assert_eq!(run(&AuditQuery::new().actor("agent-8")), pick(&[1, 4, 5]));
    assert_eq!(
        run(&AuditQuery::new().tenant("42").actor("agent-8")),
        pick(&[4])
    );
    assert_eq!(
        run(&AuditQuery::new().kind(AuditKindName::Commit)),
        pick(&[3, 5])
    );
    assert_eq!(
        run(&AuditQuery::new().kind(AuditKindName::Rollback)),
        Vec::<AuditEvent>::new()
    );
    assert_eq!(run(&AuditQuery::new().commit("c-2")), pick(&[5]));
    let t0 = at("2024-05-01T12:00:00Z");
    // `since` inclusive, `until` exclusive, to the microsecond.
    assert_eq!(
        run(&AuditQuery::new().since(t0 + Duration::microseconds(1))),
        pick(&[1, 2, 3, 4, 5])
    );
    assert_eq!(
        run(&AuditQuery::new().until(t0 + Duration::microseconds(1))),
        pick(&[0])
    );
    assert_eq!(
        run(&AuditQuery::new()
            .since(at("2024-05-01T12:00:01Z"))
            .until(at("2024-05-01T12:00:03Z"))),
        pick(&[2, 3, 4])
    );
    assert_eq!(
        run(&AuditQuery::new()
            .tenant("42")
            .kind(AuditKindName::DiffSummary)
            .since(at("2024-05-01T12:00:01.5Z"))),
        pick(&[4])
    );
    // Exact text: no case folding, no prefix match.
    assert_eq!(
        run(&AuditQuery::new().actor("AGENT-8")),
        Vec::<AuditEvent>::new()
    );
    assert_eq!(
        run(&AuditQuery::new().tenant("4")),
        Vec::<AuditEvent>::new()
    );
}

#[tokio::test]
async fn queries_filter_the_file() {
    let path = temp_file("query");
    let sink = JsonlSink::open(&path).unwrap();
    for e in history() {
        sink.record(&e).await.unwrap();
    }
    check_queries(&|q| sink.query(q).unwrap());
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_filter_the_table() {
    for kind in testdb::ALL {
        let Some(db) = testdb::TestDb::new(kind, "audit_query").await else {
            continue;
        };
        let sink = DbAuditSink::new(db.prod.clone());
        for e in history() {
            sink.record(&e).await.unwrap();
        }
        let handle = tokio::runtime::Handle::current();
        check_queries(&|q| tokio::task::block_in_place(|| handle.block_on(sink.query(q))).unwrap());
    }
}

/// Writes a row and its audit event in one transaction of the caller's.
async fn write_both(prod: &Production, event: &AuditEvent, commit: bool) {
    macro_rules! go {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await.unwrap();
            sqlx::query("INSERT INTO data (id) VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            insert_event(&mut *tx, event).await.unwrap();
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
        }};
    }
    match prod {
        Production::Postgres(p) => go!(p),
        Production::MySql(p) => go!(p),
        Production::Sqlite(p) => go!(p),
    }
}

#[tokio::test]
async fn the_table_is_written_in_the_callers_transaction() {
    for kind in testdb::ALL {
        let Some(db) = testdb::TestDb::new(kind, "audit_tx").await else {
            continue;
        };
        let create = sqlx::AssertSqlSafe("CREATE TABLE data (id bigint)".to_owned());
        match &db.prod {
            Production::Postgres(p) => sqlx::query(create).execute(p).await.map(|_| ()),
            Production::MySql(p) => sqlx::query(create).execute(p).await.map(|_| ()),
            Production::Sqlite(p) => sqlx::query(create).execute(p).await.map(|_| ()),
        }
        .unwrap();
        // DDL before the transaction: MySQL would commit it.
        ensure_audit_table(&db.prod).await.unwrap();
        let sink = DbAuditSink::new(db.prod.clone());

        write_both(&db.prod, &commit_event(), false).await;
        assert!(db.rows("SELECT id FROM data").await.is_empty(), "{kind:?}");
        assert!(
            sink.query(&AuditQuery::new()).await.unwrap().is_empty(),
            "{kind:?}"
        );

        write_both(&db.prod, &commit_event(), true).await;
        assert_eq!(db.rows("SELECT id FROM data").await, [["1"]], "{kind:?}");
        assert_eq!(
            sink.query(&AuditQuery::new()).await.unwrap(),
            vec![commit_event()],
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn the_trail_fans_out_and_skips_the_table_after_commit() {
    let memory = Arc::new(MemorySink::new());
    let db = testdb::TestDb::new(testdb::Kind::Sqlite, "audit_trail")
        .await
        .unwrap();
    let table = Arc::new(DbAuditSink::new(db.prod.clone()));
    let trail = AuditTrail::new("42", "agent-7")
        .with_session_id("s-9")
        .with_sink(memory.clone())
        .with_database(table.clone());
    let opened = trail
        .record(AuditKind::sandbox_opened(BTreeMap::new()))
        .await
        .unwrap();
    assert_eq!(opened.session_id, "s-9");
    assert_eq!(
        (opened.tenant.as_str(), opened.actor.as_str()),
        ("42", "agent-7")
    );
    let commit = trail.event(trail.commit("c-1", &changeset(), 2));
    // The table got this one in the commit's transaction.
    trail.record_after_commit(&commit).await.unwrap();
    assert_eq!(memory.events(), vec![opened.clone(), commit]);
    assert_eq!(table.query(&AuditQuery::new()).await.unwrap(), vec![opened]);
}
