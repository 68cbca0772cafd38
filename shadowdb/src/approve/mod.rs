//! Approval: a person or a program says yes or no to a changeset before it
//! reaches production.
//!
//! An [`Approver`] is given an [`ApprovalRequest`] (who asks, for which tenant,
//! why approval is needed, the rendered dashboard and its JSON) and answers an
//! [`ApprovalDecision`]. [`request_approval`] holds every approver to the
//! request's timeout: a request not answered in time is
//! [`ApprovalDecision::TimedOut`], which is a denial.
//!
//! Built in:
//! - [`TerminalApprover`]: shows the dashboard and asks `Approve? [y/N]`;
//!   anything but `y`/`yes` (an empty line, the end of input) is no.
//! - [`ChannelApprover`]: another task or thread answers through an
//!   [`ApprovalHandle`] (`pending`, `approve`, `deny`).
//! - [`DbApprover`]: the request waits in the table `shadowdb_approvals` of the
//!   production database, where a reviewer in another process or on another
//!   machine decides through [`DbApprovals`].
//! - [`DenyAll`], which always says no.
//!
//! ```
//! use std::time::Duration;
//! use shadowdb::approve::{ApprovalDecision, ApprovalRequest, ChannelApprover, request_approval};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (approver, handle) = ChannelApprover::new();
//! let reviewer = tokio::spawn(async move {
//!     let request = handle.next_pending().await;
//!     handle.approve(&request.id, "ops-lead")
//! });
//! let request = ApprovalRequest::new("agent-7", "42", vec!["deletes 3 rows".into()])
//!     .with_timeout(Duration::from_secs(5));
//! let decision = request_approval(&approver, &request).await?;
//! assert_eq!(decision, ApprovalDecision::Approved { by: "ops-lead".into() });
//! reviewer.await.unwrap()?;
//! # Ok::<(), shadowdb::Error>(())
//! # }).unwrap();
//! ```

mod channel;
mod db;
mod terminal;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::render::{DEFAULT_WIDTH, TextOptions, render_json_string, render_text};
use crate::review::Review;

pub use channel::{ApprovalHandle, ChannelApprover};
pub use db::{
    APPROVALS_TABLE, ApprovalStatus, DbApprovals, DbApprover, StoredApproval,
    ensure_approvals_table,
};
pub use terminal::TerminalApprover;

/// A boxed future that can cross threads: what object-safe async traits
/// ([`Approver`], the audit trail's sinks) return. `futures_util`'s, named
/// here so implementors need not depend on `futures_util` themselves.
pub use futures_util::future::BoxFuture;

/// How long a request waits for an answer unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How much longer than a request's timeout [`request_approval`] waits for
/// an approver, so one that keeps the timeout itself (and records it, as
/// [`DbApprover`] does) answers first.
const GRACE: Duration = Duration::from_secs(1);

/// Someone or something that decides approval requests.
///
/// Implementations should answer [`ApprovalDecision::TimedOut`] once
/// `request.timeout` has passed; [`request_approval`] enforces it anyway.
pub trait Approver: Send + Sync {
    /// Decides `request`.
    ///
    /// # Errors
    /// When the approver cannot ask at all (its terminal or database failed);
    /// a "no" is `Ok(Denied)`, not an error.
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>>;
}

/// What an approver is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApprovalRequest {
    /// A unique id (a UUID unless given).
    pub id: String,
    /// The agent or user asking.
    pub requested_by: String,
    /// The tenant, rendered (`42`, `"acme"`).
    pub tenant: String,
    /// Why approval is needed, one line each, naming tables and rules, never values.
    pub reasons: Vec<String>,
    /// The dashboard as plain text (no colour), PII masked.
    pub text: String,
    /// The changeset as JSON ([`render_json_string`]), PII masked.
    pub json: String,
    /// How long to wait for an answer before it counts as a denial.
    #[serde(serialize_with = "millis")]
    pub timeout: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ApprovalRequest {
    /// A request with a fresh id, no dashboard and the [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn new(
        requested_by: impl Into<String>,
        tenant: impl Into<String>,
        reasons: Vec<String>,
    ) -> Self {
        ApprovalRequest {
            id: uuid::Uuid::new_v4().to_string(),
            requested_by: requested_by.into(),
            tenant: tenant.into(),
            reasons,
            text: String::new(),
            json: String::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A request for a review: its verdict's reasons, the dashboard as plain
    /// text ([`DEFAULT_WIDTH`] columns) and the JSON document.
    #[must_use]
    pub fn for_review(
        review: &Review<'_>,
        requested_by: impl Into<String>,
        tenant: impl Into<String>,
    ) -> Self {
        ApprovalRequest {
            text: render_text(review, &TextOptions::plain(DEFAULT_WIDTH)),
            json: render_json_string(review, false),
            ..ApprovalRequest::new(requested_by, tenant, review.verdict.reasons().to_vec())
        }
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the id (it must be unique among the approver's requests).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the dashboard text.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// Sets the JSON document.
    #[must_use]
    pub fn with_json(mut self, json: impl Into<String>) -> Self {
        self.json = json.into();
        self
    }
}

/// The answer to an approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Yes.
    Approved {
        /// Who approved.
        by: String,
    },
    /// No.
    Denied {
        /// Who denied.
        by: String,
        /// Why.
        reason: String,
    },
    /// Nobody answered within the timeout: a denial.
    TimedOut,
}

impl ApprovalDecision {
    /// Whether this is [`ApprovalDecision::Approved`].
    #[must_use]
    pub fn is_approved(&self) -> bool {
        matches!(self, ApprovalDecision::Approved { .. })
    }

    /// `approved`, `denied` or `timed_out`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalDecision::Approved { .. } => "approved",
            ApprovalDecision::Denied { .. } => "denied",
            ApprovalDecision::TimedOut => "timed_out",
        }
    }

    /// Who approved, or the error that refuses the commit.
    ///
    /// # Errors
    /// [`Error::ApprovalDenied`] or [`Error::ApprovalTimedOut`].
    pub fn into_result(self, request: &ApprovalRequest) -> Result<String> {
        match self {
            ApprovalDecision::Approved { by } => Ok(by),
            ApprovalDecision::Denied { by, reason } => Err(Error::ApprovalDenied {
                request_id: request.id.clone(),
                by,
                reason,
            }),
            ApprovalDecision::TimedOut => Err(Error::ApprovalTimedOut {
                request_id: request.id.clone(),
                timeout: request.timeout,
            }),
        }
    }
}

impl fmt::Display for ApprovalDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApprovalDecision::Approved { by } => write!(f, "approved by {by}"),
            ApprovalDecision::Denied { by, reason } => write!(f, "denied by {by}: {reason}"),
            ApprovalDecision::TimedOut => f.write_str("not answered in time: denied"),
        }
    }
}

/// Asks `approver` to decide `request`, holding it to the request's timeout
/// (plus a second's grace for approvers that record their own timeout).
///
/// # Errors
/// What the approver returns when it cannot ask.
pub async fn request_approval(
    approver: &dyn Approver,
    request: &ApprovalRequest,
) -> Result<ApprovalDecision> {
    let limit = request.timeout.saturating_add(GRACE);
    match tokio::time::timeout(limit, approver.decide(request)).await {
        Ok(decision) => decision,
        Err(_) => Ok(ApprovalDecision::TimedOut),
    }
}

/// Denies every request: the approver to configure where nothing destructive
/// may ever be approved.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

/// The `by` of [`DenyAll`]'s denials.
pub const DENY_ALL: &str = "deny-all";

impl Approver for DenyAll {
    fn decide<'a>(
        &'a self,
        _request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>> {
        Box::pin(async {
            Ok(ApprovalDecision::Denied {
                by: DENY_ALL.to_owned(),
                reason: "every approval is denied by configuration".to_owned(),
            })
        })
    }
}

impl<A: Approver + ?Sized> Approver for std::sync::Arc<A> {
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>> {
        (**self).decide(request)
    }
}

impl<A: Approver + ?Sized> Approver for Box<A> {
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>> {
        (**self).decide(request)
    }
}
