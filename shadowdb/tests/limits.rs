//! Rate limits (reached, then honoured after `retry_after`) and every session
//! limit breach, each its own error and its own audit event.

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use shadowdb::Error;
use shadowdb::audit::AuditKind;
use shadowdb::limits::{Rate, RateLimiter, RateLimits, SessionGuard, SessionLimits, limit_of};

fn retry_after(result: shadowdb::Result<()>, expected_limit: &str) -> Duration {
    match result {
        Err(Error::RateLimited { limit, retry_after }) => {
            assert_eq!(limit, expected_limit);
            retry_after
        }
        other => panic!("expected RateLimited({expected_limit}), got {other:?}"),
    }
}

#[tokio::test]
async fn statements_per_tenant_reached_then_honoured() {
    let limiter = RateLimiter::new(
        RateLimits::new().statements_per_tenant(Rate::new(2, Duration::from_millis(400)).unwrap()),
    );
    limiter.check_statement("42", "a").unwrap();
    limiter.check_statement("42", "b").unwrap();
    let wait = retry_after(limiter.check_statement("42", "c"), "statements per tenant");
    // One more every 400 ms / 2.
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(200),
        "{wait:?}"
    );
    // Another tenant has its own budget; commits are not statements.
    limiter.check_statement("43", "c").unwrap();
    limiter.check_commit("42", "c").unwrap();

    tokio::time::sleep(wait).await;
    limiter.check_statement("42", "c").unwrap();
    retry_after(limiter.check_statement("42", "c"), "statements per tenant");
}

#[tokio::test]
async fn per_actor_and_commit_limits() {
    let limiter = RateLimiter::new(
        RateLimits::new()
            .statements_per_actor(Rate::per_minute(1).unwrap())
            .commits_per_tenant(Rate::new(1, Duration::from_millis(300)).unwrap())
            .commits_per_actor(Rate::per_hour(5).unwrap()),
    );
    limiter.check_statement("42", "agent-7").unwrap();
    let wait = retry_after(
        limiter.check_statement("43", "agent-7"),
        "statements per actor",
    );
    assert!(
        wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    limiter.check_statement("42", "agent-8").unwrap();

    limiter.check_commit("42", "agent-7").unwrap();
    let wait = retry_after(limiter.check_commit("42", "agent-8"), "commits per tenant");
    assert!(wait <= Duration::from_millis(300));
    tokio::time::sleep(wait).await;
    limiter.check_commit("42", "agent-8").unwrap();

    let err = limiter.check_commit("42", "agent-9").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("rate limit reached: commits per tenant; retry after ")
    );
    assert_eq!(limit_of(&err).as_deref(), Some("commits per tenant"));
}

#[test]
fn too_many_statements() {
    let guard = SessionGuard::new(SessionLimits::new().max_statements(2));
    assert_eq!(guard.check_statement().unwrap(), 1);
    assert_eq!(guard.check_statement().unwrap(), 2);
    let err = guard.check_statement().unwrap_err();
    assert!(matches!(err, Error::TooManyStatements { max: 2 }));
    assert_eq!(
        err.to_string(),
        "session limit reached: at most 2 statements per session"
    );
    // Refused statements are not counted.
    assert!(guard.check_statement().is_err());
    assert_eq!(guard.statements(), 2);
    assert_eq!(
        AuditKind::limit_exceeded(&err),
        Some(AuditKind::LimitExceeded {
            limit: "max_statements".into(),
            detail: "session limit reached: at most 2 statements per session".into(),
        })
    );
}

#[test]
fn session_expired() {
    let limits = SessionLimits::new().max_duration(Duration::from_secs(1));
    let started = Instant::now().checked_sub(Duration::from_secs(2)).unwrap();
    let guard = SessionGuard::started_at(limits, started);
    let err = guard.check_statement().unwrap_err();
    assert!(
        matches!(err, Error::SessionExpired { max_duration } if max_duration == Duration::from_secs(1))
    );
    assert_eq!(
        err.to_string(),
        "session limit reached: sessions last at most 1 s"
    );
    assert!(matches!(
        guard.check_commit(1),
        Err(Error::SessionExpired { .. })
    ));
    assert!(matches!(
        guard.check_alive(),
        Err(Error::SessionExpired { .. })
    ));
    assert_eq!(limit_of(&err).as_deref(), Some("max_duration"));

    let fresh = SessionGuard::new(limits);
    fresh.check_alive().unwrap();
    fresh.check_statement().unwrap();
}

#[test]
fn commit_too_large() {
    let guard = SessionGuard::new(SessionLimits::new().max_rows_per_commit(10));
    guard.check_commit(10).unwrap();
    let err = guard.check_commit(11).unwrap_err();
    assert!(matches!(err, Error::CommitTooLarge { rows: 11, max: 10 }));
    assert_eq!(
        err.to_string(),
        "commit refused: 11 rows changed, at most 10 per commit"
    );
    assert_eq!(limit_of(&err).as_deref(), Some("max_rows_per_commit"));
    // Unlimited by default.
    let open = SessionGuard::new(SessionLimits::new());
    open.check_commit(usize::MAX).unwrap();
    for _ in 0..1000 {
        open.check_statement().unwrap();
    }
}

#[test]
fn the_sandbox_time_limit_is_a_limit_too() {
    let err = Error::Timeout { limit_ms: 500 };
    assert_eq!(limit_of(&err).as_deref(), Some("statement_time"));
    assert!(limit_of(&Error::ChangeSetChanged).is_none());
    assert!(AuditKind::limit_exceeded(&Error::ChangeSetChanged).is_none());
}
