//! Approval: the trait's timeout, the terminal prompt, the channel, deny-all,
//! and approvals decided from a second process through the production
//! database (SQLite always; PostgreSQL and MariaDB when configured).

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod testdb;

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shadowdb::Error;
use shadowdb::approve::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, Approver, BoxFuture, ChannelApprover,
    DbApprovals, DbApprover, DenyAll, TerminalApprover, request_approval,
};
use shadowdb::prod::Production;

/// An approver that answers after `delay` with `answer`.
struct Scripted {
    delay: Duration,
    answer: ApprovalDecision,
}

impl Approver for Scripted {
    fn decide<'a>(
        &'a self,
        _request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, shadowdb::Result<ApprovalDecision>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(self.answer.clone())
        })
    }
}

/// A denial by `by` for `reason`.
fn denied(by: &str, reason: &str) -> ApprovalDecision {
    ApprovalDecision::Denied {
        by: by.into(),
        reason: reason.into(),
    }
}

fn request(timeout: Duration) -> ApprovalRequest {
    ApprovalRequest::new("agent-7", "42", vec!["tasks: deletes 3 rows".to_owned()])
        .with_id("req-1")
        .with_timeout(timeout)
}

#[tokio::test]
async fn approved_denied_and_timed_out() {
    let approved = Scripted {
        delay: Duration::ZERO,
        answer: ApprovalDecision::Approved { by: "ann".into() },
    };
    let req = request(Duration::from_secs(5));
    let d = request_approval(&approved, &req).await.unwrap();
    assert_eq!(d, ApprovalDecision::Approved { by: "ann".into() });
    assert_eq!(d.clone().into_result(&req).unwrap(), "ann");

    let denied = Scripted {
        delay: Duration::ZERO,
        answer: denied("bob", "too many rows"),
    };
    let d = request_approval(&denied, &req).await.unwrap();
    let err = d.into_result(&req).unwrap_err();
    assert!(matches!(
        &err,
        Error::ApprovalDenied { request_id, by, reason }
            if request_id == "req-1" && by == "bob" && reason == "too many rows"
    ));
    assert_eq!(
        err.to_string(),
        "approval req-1 denied by bob: too many rows"
    );

    // Never answers in time: the timeout (plus the grace) denies it.
    let silent = Scripted {
        delay: Duration::from_secs(3600),
        answer: ApprovalDecision::Approved { by: "late".into() },
    };
    let req = request(Duration::from_millis(100));
    let started = Instant::now();
    let d = request_approval(&silent, &req).await.unwrap();
    assert_eq!(d, ApprovalDecision::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(3));
    let err = d.into_result(&req).unwrap_err();
    assert!(
        matches!(err, Error::ApprovalTimedOut { ref request_id, timeout }
        if request_id == "req-1" && timeout == Duration::from_millis(100))
    );
    assert_eq!(
        err.to_string(),
        "approval req-1 was not answered within 100 ms: denied"
    );
}

#[tokio::test]
async fn deny_all_denies() {
    let d = request_approval(&DenyAll, &request(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        d,
        denied("deny-all", "every approval is denied by configuration")
    );
}

/// A writer whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

async fn at_terminal(input: &'static str) -> (ApprovalDecision, String) {
    let out = Captured::default();
    let approver = TerminalApprover::new(Cursor::new(input), out.clone()).with_user("ann");
    let req = request(Duration::from_secs(5)).with_text("NEEDS APPROVAL\n  tasks: 3 deletes\n");
    let d = request_approval(&approver, &req).await.unwrap();
    (d, out.text())
}

#[tokio::test]
async fn terminal_yes_no_empty_eof() {
    let (d, shown) = at_terminal("y\n").await;
    assert_eq!(d, ApprovalDecision::Approved { by: "ann".into() });
    assert_eq!(
        shown,
        "NEEDS APPROVAL\n  tasks: 3 deletes\n\
         Approval req-1 requested by agent-7 for tenant 42:\n  - tasks: deletes 3 rows\n\
         Approve? [y/N] "
    );

    let (d, _) = at_terminal("YES\n").await;
    assert_eq!(d, ApprovalDecision::Approved { by: "ann".into() });

    let (d, _) = at_terminal("n\n").await;
    assert_eq!(d, denied("ann", "answered no at the prompt"));

    let (d, _) = at_terminal("\n").await;
    assert_eq!(
        d,
        denied("ann", "no answer at the prompt (the default is no)")
    );

    let (d, shown) = at_terminal("").await;
    assert_eq!(
        d,
        denied("ann", "end of input at the prompt (the default is no)")
    );
    assert!(shown.ends_with("Approve? [y/N] \n"), "{shown:?}");
}

#[tokio::test]
async fn terminal_times_out_when_nobody_types() {
    // A pipe nobody writes to: the read waits forever.
    let (reader, writer) = std::io::pipe().unwrap();
    let approver = TerminalApprover::new(std::io::BufReader::new(reader), std::io::sink());
    let started = Instant::now();
    let d = approver
        .decide(&request(Duration::from_millis(150)))
        .await
        .unwrap();
    assert_eq!(d, ApprovalDecision::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(150));
    drop(writer); // ends the waiting read
}

#[tokio::test]
async fn channel_answered_from_another_task() {
    let (approver, handle) = ChannelApprover::new();
    assert!(handle.pending().is_empty());

    let reviewer = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let req = handle.next_pending().await;
            assert_eq!(req.id, "req-1");
            assert_eq!(req.reasons, vec!["tasks: deletes 3 rows".to_owned()]);
            handle.approve(&req.id, "ops-lead").unwrap();
            // Decided once only.
            assert!(matches!(
                handle.deny(&req.id, "ops-lead", "changed my mind"),
                Err(Error::ApprovalNotPending { request_id }) if request_id == "req-1"
            ));
        })
    };
    let d = request_approval(&approver, &request(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(
        d,
        ApprovalDecision::Approved {
            by: "ops-lead".into()
        }
    );
    reviewer.await.unwrap();

    let reviewer = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let req = rt.block_on(handle.next_pending());
            handle.deny(&req.id, "auditor", "not on a Friday").unwrap();
        })
    };
    let d = request_approval(&approver, &request(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(d, denied("auditor", "not on a Friday"));
    reviewer.join().unwrap();

    // Nobody answers: timed out, and the request no longer waits.
    let d = request_approval(&approver, &request(Duration::from_millis(50)))
        .await
        .unwrap();
    assert_eq!(d, ApprovalDecision::TimedOut);
    assert!(handle.pending().is_empty());
    assert!(matches!(
        handle.approve("req-1", "late"),
        Err(Error::ApprovalNotPending { .. })
    ));
}

// ---- the production database, decided from a second process -------------

const ROLE_URL: &str = "SHADOWDB_TEST_REVIEWER_URL";
const ROLE_TENANT: &str = "SHADOWDB_TEST_REVIEWER_TENANT";

/// The second process: only does something when the parent test runs this
/// binary again with the reviewer's environment. It approves the request
/// whose reasons say `please approve`, denies the other, then stops.
#[tokio::test]
async fn reviewer_process() {
    let (Ok(url), Ok(tenant)) = (std::env::var(ROLE_URL), std::env::var(ROLE_TENANT)) else {
        return;
    };
    let approvals = DbApprovals::new(Production::connect(&url).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut decided = 0;
    while decided < 2 {
        assert!(Instant::now() < deadline, "reviewer: no request came");
        for req in approvals.list_pending().await.unwrap() {
            if req.tenant != tenant {
                continue;
            }
            if req.reasons.iter().any(|r| r == "please approve") {
                approvals
                    .approve(&req.id, "reviewer-process")
                    .await
                    .unwrap();
            } else {
                approvals
                    .deny(&req.id, "reviewer-process", "not today")
                    .await
                    .unwrap();
            }
            decided += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn decided_from_second_process(db: &testdb::TestDb) {
    let tenant = format!("tenant-{}", uuid::Uuid::new_v4().simple());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "reviewer_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_URL, &db.url)
        .env(ROLE_TENANT, &tenant)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let approver = DbApprover::new(db.prod.clone()).poll_every(Duration::from_millis(50));
    let ask = |reason: &str| {
        ApprovalRequest::new("agent-7", tenant.clone(), vec![reason.to_owned()])
            .with_text("NEEDS APPROVAL\n")
            .with_json("{\"verdict\":\"needs_approval\"}")
            .with_timeout(Duration::from_secs(60))
    };
    let first = ask("please approve");
    let d = request_approval(&approver, &first).await.unwrap();
    assert_eq!(
        d,
        ApprovalDecision::Approved {
            by: "reviewer-process".into()
        },
        "{:?}",
        db.kind
    );
    let second = ask("please deny");
    let d = request_approval(&approver, &second).await.unwrap();
    assert_eq!(d, denied("reviewer-process", "not today"), "{:?}", db.kind);
    let status = child.wait().unwrap();
    assert!(status.success(), "{:?}: reviewer process failed", db.kind);

    // What the table keeps, and that a decision is final.
    let approvals = DbApprovals::new(db.prod.clone());
    let stored = approvals.get(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ApprovalStatus::Approved);
    assert_eq!(stored.decided_by.as_deref(), Some("reviewer-process"));
    assert_eq!(stored.tenant, tenant);
    assert_eq!(stored.requested_by, "agent-7");
    assert_eq!(stored.reasons, vec!["please approve".to_owned()]);
    assert_eq!(stored.summary, "NEEDS APPROVAL\n");
    assert_eq!(stored.changeset, "{\"verdict\":\"needs_approval\"}");
    assert!(stored.decided_at.is_some());
    assert!(matches!(
        approvals.deny(&first.id, "someone", "late").await,
        Err(Error::ApprovalNotPending { request_id }) if request_id == first.id
    ));
    assert!(approvals.list_pending().await.unwrap().is_empty());

    // Nobody decides: timed out, recorded so, and no longer decidable.
    let third = ask("nobody looks").with_timeout(Duration::from_millis(300));
    let d = request_approval(&approver, &third).await.unwrap();
    assert_eq!(d, ApprovalDecision::TimedOut);
    let stored = approvals.get(&third.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ApprovalStatus::TimedOut);
    assert_eq!(stored.decision(), Some(ApprovalDecision::TimedOut));
    assert!(matches!(
        approvals.approve(&third.id, "late").await,
        Err(Error::ApprovalNotPending { .. })
    ));
    assert!(matches!(
        approvals.approve("no-such-request", "x").await,
        Err(Error::ApprovalNotPending { .. })
    ));
}

#[tokio::test]
async fn db_approver_decided_from_second_process() {
    for kind in testdb::ALL {
        if let Some(db) = testdb::TestDb::new(kind, "approve").await {
            decided_from_second_process(&db).await;
        }
    }
}

#[tokio::test]
async fn deciding_where_no_request_was_ever_made_creates_nothing() {
    for kind in testdb::ALL {
        let Some(db) = testdb::TestDb::new(kind, "approve_none").await else {
            continue;
        };
        let approvals = DbApprovals::new(db.prod.clone());
        assert!(matches!(
            approvals.approve("nope", "reviewer").await,
            Err(Error::ApprovalNotPending { request_id }) if request_id == "nope"
        ));
        assert!(matches!(
            approvals.deny("nope", "reviewer", "no").await,
            Err(Error::ApprovalNotPending { .. })
        ));
        let table = shadowdb::schema::TableName::parse("shadowdb_approvals");
        assert!(
            shadowdb::schema::reflect(&db.prod, &table)
                .await
                .unwrap()
                .is_none(),
            "{:?}: the table was created",
            db.kind
        );
    }
}
