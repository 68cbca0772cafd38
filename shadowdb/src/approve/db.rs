//! Approvals kept in the production database, so a reviewer in another
//! process or on another machine can decide.
//!
//! The table (created on first use, every column text):
//!
//! | column | holds |
//! |---|---|
//! | `id` | the request id (primary key) |
//! | `tenant`, `requested_by` | as in the request |
//! | `reasons` | a JSON array of strings |
//! | `summary` | the dashboard as plain text (PII masked) |
//! | `changeset` | the changeset as JSON (PII masked) |
//! | `status` | `pending`, `approved`, `denied` or `timed_out` |
//! | `decided_by`, `reason` | who decided, and why (for a denial) |
//! | `created_at`, `expires_at`, `decided_at` | instants, `2024-05-01T12:00:00.000000Z` |
//!
//! Every decision is one `UPDATE .. WHERE id = ? AND status = 'pending'`, so a
//! request is decided once: the reviewer's answer and the requester's timeout
//! cannot both win.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::{ApprovalDecision, ApprovalRequest, Approver, BoxFuture};
use crate::error::{Error, Result};
use crate::prod::Production;
use crate::textsql::{self, format_time, parse_time, text_cmp, text_eq};
use crate::types::Dialect;

/// The name of the approvals table.
pub const APPROVALS_TABLE: &str = "shadowdb_approvals";

/// How often [`DbApprover`] looks for a decision unless told otherwise.
const DEFAULT_POLL: Duration = Duration::from_millis(250);

/// Where a stored request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for a reviewer.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Nobody decided in time: denied.
    TimedOut,
}

impl ApprovalStatus {
    /// `pending`, `approved`, `denied` or `timed_out`, as stored.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::TimedOut => "timed_out",
        }
    }

    fn from_name(name: &str) -> Option<ApprovalStatus> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::TimedOut,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// One request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredApproval {
    /// The request id.
    pub id: String,
    /// The tenant, rendered.
    pub tenant: String,
    /// Who asked.
    pub requested_by: String,
    /// Why approval is needed.
    pub reasons: Vec<String>,
    /// The dashboard as plain text.
    pub summary: String,
    /// The changeset as JSON.
    pub changeset: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Who decided (not for a timeout).
    pub decided_by: Option<String>,
    /// Why it was denied.
    pub reason: Option<String>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it times out.
    pub expires_at: DateTime<Utc>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
}

impl StoredApproval {
    /// The decision, once there is one.
    #[must_use]
    pub fn decision(&self) -> Option<ApprovalDecision> {
        let by = || self.decided_by.clone().unwrap_or_default();
        match self.status {
            ApprovalStatus::Pending => None,
            ApprovalStatus::Approved => Some(ApprovalDecision::Approved { by: by() }),
            ApprovalStatus::Denied => Some(ApprovalDecision::Denied {
                by: by(),
                reason: self.reason.clone().unwrap_or_default(),
            }),
            ApprovalStatus::TimedOut => Some(ApprovalDecision::TimedOut),
        }
    }
}

/// The DDL of the approvals table.
fn ddl(dialect: Dialect) -> Vec<String> {
    let t = APPROVALS_TABLE;
    vec![match dialect {
        Dialect::Postgres | Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, tenant text NOT NULL, \
             requested_by text NOT NULL, reasons text NOT NULL, summary text NOT NULL, \
             changeset text NOT NULL, status text NOT NULL, decided_by text, reason text, \
             created_at text NOT NULL, expires_at text NOT NULL, decided_at text)"
        ),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {t} (id varchar(64) PRIMARY KEY, tenant text NOT NULL, \
             requested_by text NOT NULL, reasons longtext NOT NULL, summary longtext NOT NULL, \
             changeset longtext NOT NULL, status varchar(16) NOT NULL, decided_by text, \
             reason text, created_at varchar(32) NOT NULL, expires_at varchar(32) NOT NULL, \
             decided_at varchar(32)) CHARACTER SET utf8mb4"
        ),
    }]
}

/// Creates the approvals table unless it exists. DDL: call it outside any
/// transaction (MySQL commits an open transaction on DDL).
///
/// # Errors
/// [`Error::Database`].
pub async fn ensure_approvals_table(prod: &Production) -> Result<()> {
    textsql::create(prod, &ddl(prod.dialect()))
        .await
        .map_err(|e| Error::database(format!("creating {APPROVALS_TABLE}"), e))
}

/// The columns read back, in [`row_to_stored`]'s order.
const COLUMNS: &str = "id, tenant, requested_by, reasons, summary, changeset, status, \
                       decided_by, reason, created_at, expires_at, decided_at";

fn row_to_stored(row: Vec<Option<String>>) -> Result<StoredApproval> {
    let bad = |what: &str| Error::Audit {
        context: format!("a row of {APPROVALS_TABLE} has {what}"),
        source: None,
    };
    let mut it = row.into_iter();
    let mut next = || it.next().flatten();
    let id = next().ok_or_else(|| bad("no id"))?;
    let tenant = next().unwrap_or_default();
    let requested_by = next().unwrap_or_default();
    let reasons: Vec<String> = serde_json::from_str(&next().unwrap_or_default())
        .map_err(|_| bad("reasons that are not a JSON array"))?;
    let summary = next().unwrap_or_default();
    let changeset = next().unwrap_or_default();
    let status = next()
        .as_deref()
        .and_then(ApprovalStatus::from_name)
        .ok_or_else(|| bad("an unknown status"))?;
    let decided_by = next();
    let reason = next();
    let time = |t: Option<String>| {
        t.as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|_| bad("a time that is not an instant"))
    };
    let created_at = time(next())?.ok_or_else(|| bad("no creation time"))?;
    let expires_at = time(next())?.ok_or_else(|| bad("no expiry time"))?;
    let decided_at = time(next())?;
    Ok(StoredApproval {
        id,
        tenant,
        requested_by,
        reasons,
        summary,
        changeset,
        status,
        decided_by,
        reason,
        created_at,
        expires_at,
        decided_at,
    })
}

/// Table access shared by the requesting and the reviewing side.
#[derive(Debug)]
struct Store {
    prod: Production,
    ready: OnceCell<()>,
}

impl Store {
    fn new(prod: Production) -> Self {
        Store {
            prod,
            ready: OnceCell::new(),
        }
    }

    async fn ready(&self) -> Result<&Production> {
        self.ready
            .get_or_try_init(|| ensure_approvals_table(&self.prod))
            .await?;
        Ok(&self.prod)
    }

    /// The database when the table exists, creating nothing: a reviewer with
    /// read-only rights can list and read requests.
    async fn readable(&self) -> Result<Option<&Production>> {
        if self.ready.initialized() {
            return Ok(Some(&self.prod));
        }
        let name = crate::model::TableName::parse(APPROVALS_TABLE);
        if crate::reflect::reflect(&self.prod, &name).await?.is_none() {
            return Ok(None);
        }
        let _ = self.ready.set(());
        Ok(Some(&self.prod))
    }

    async fn get(&self, id: &str) -> Result<Option<StoredApproval>> {
        let Some(prod) = self.readable().await? else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM {APPROVALS_TABLE} WHERE {}",
            text_eq(prod.dialect(), "id")
        );
        let rows = textsql::fetch(prod, &sql, &[Some(id)])
            .await
            .map_err(|e| Error::database(format!("reading {APPROVALS_TABLE}"), e))?;
        rows.into_iter().next().map(row_to_stored).transpose()
    }

    /// Moves a pending request to `status`; whether it was still pending
    /// (and, when `unexpired_at` is given, not yet expired at that instant).
    async fn decide(
        &self,
        id: &str,
        status: ApprovalStatus,
        by: Option<&str>,
        reason: Option<&str>,
        unexpired_at: Option<&str>,
    ) -> Result<bool> {
        // No table, no request: deciding creates nothing either.
        let Some(prod) = self.readable().await? else {
            return Ok(false);
        };
        let dialect = prod.dialect();
        let now = format_time(&Utc::now());
        let mut sql = format!(
            "UPDATE {APPROVALS_TABLE} SET status = ?, decided_by = ?, reason = ?, decided_at = ? \
             WHERE {} AND status = 'pending'",
            text_eq(dialect, "id")
        );
        let mut binds = vec![
            Some(status.name()),
            by,
            reason,
            Some(now.as_str()),
            Some(id),
        ];
        if let Some(at) = unexpired_at {
            sql.push_str(&format!(" AND {}", text_cmp(dialect, "expires_at", ">")));
            binds.push(Some(at));
        }
        let n = textsql::execute(prod, &sql, &binds)
            .await
            .map_err(|e| Error::database(format!("deciding in {APPROVALS_TABLE}"), e))?;
        Ok(n == 1)
    }
}

/// An approver whose requests wait in the production database's
/// `shadowdb_approvals` table until a reviewer decides through
/// [`DbApprovals`], from this process or another, or the timeout passes
/// (then the row says `timed_out`).
///
/// ```no_run
/// use std::time::Duration;
/// use shadowdb::approve::{ApprovalRequest, DbApprover, request_approval};
/// use shadowdb::prod::Production;
///
/// # async fn f() -> shadowdb::Result<()> {
/// let prod = Production::connect("postgres://app@db/prod").await?;
/// let approver = DbApprover::new(prod);
/// let request = ApprovalRequest::new("agent-7", "42", vec!["deletes 30 rows".into()])
///     .with_timeout(Duration::from_secs(600));
/// let decision = request_approval(&approver, &request).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DbApprover {
    store: Store,
    poll: Duration,
}

impl DbApprover {
    /// An approver keeping its requests in `prod`.
    #[must_use]
    pub fn new(prod: Production) -> Self {
        DbApprover {
            store: Store::new(prod),
            poll: DEFAULT_POLL,
        }
    }

    /// How often to look for a decision (default 250 ms).
    #[must_use]
    pub fn poll_every(mut self, interval: Duration) -> Self {
        self.poll = interval.max(Duration::from_millis(10));
        self
    }

    async fn insert(&self, request: &ApprovalRequest, expires: DateTime<Utc>) -> Result<()> {
        let prod = self.store.ready().await?;
        let reasons = serde_json::to_string(&request.reasons).map_err(|_| Error::Audit {
            context: "cannot encode the approval reasons".to_owned(),
            source: None,
        })?;
        let created = format_time(&Utc::now());
        let expires = format_time(&expires);
        let sql = format!(
            "INSERT INTO {APPROVALS_TABLE} (id, tenant, requested_by, reasons, summary, \
             changeset, status, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
        );
        textsql::execute(
            prod,
            &sql,
            &[
                Some(&request.id),
                Some(&request.tenant),
                Some(&request.requested_by),
                Some(&reasons),
                Some(&request.text),
                Some(&request.json),
                Some(&created),
                Some(&expires),
            ],
        )
        .await
        .map_err(|e| {
            Error::database(format!("storing approval request in {APPROVALS_TABLE}"), e)
        })?;
        Ok(())
    }

    async fn wait(&self, request: &ApprovalRequest) -> Result<ApprovalDecision> {
        let started = tokio::time::Instant::now();
        let expires = chrono::TimeDelta::from_std(request.timeout)
            .ok()
            .and_then(|t| Utc::now().checked_add_signed(t))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.insert(request, expires).await?;
        // A timeout too long to add is as good as none.
        let deadline = started
            .checked_add(request.timeout)
            .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 86_400));
        loop {
            if let Some(decision) = self
                .store
                .get(&request.id)
                .await?
                .and_then(|s| s.decision())
            {
                return Ok(decision);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(self.poll.min(deadline - now)).await;
        }
        if self
            .store
            .decide(&request.id, ApprovalStatus::TimedOut, None, None, None)
            .await?
        {
            return Ok(ApprovalDecision::TimedOut);
        }
        // A reviewer decided between the last look and the timeout.
        Ok(self
            .store
            .get(&request.id)
            .await?
            .and_then(|s| s.decision())
            .unwrap_or(ApprovalDecision::TimedOut))
    }
}

impl Approver for DbApprover {
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>> {
        Box::pin(self.wait(request))
    }
}

/// The reviewer's side of [`DbApprover`]: list, approve and deny requests
/// stored in the production database, from any process.
///
/// ```no_run
/// use shadowdb::approve::DbApprovals;
/// use shadowdb::prod::Production;
///
/// # async fn f() -> shadowdb::Result<()> {
/// let approvals = DbApprovals::new(Production::connect("postgres://ops@db/prod").await?);
/// for request in approvals.list_pending().await? {
///     println!("{}\n{}", request.id, request.summary);
///     approvals.approve(&request.id, "ops-lead").await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DbApprovals {
    store: Store,
}

impl DbApprovals {
    /// Reviews the requests kept in `prod`.
    #[must_use]
    pub fn new(prod: Production) -> Self {
        DbApprovals {
            store: Store::new(prod),
        }
    }

    /// The requests still waiting (not decided, not expired), oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn list_pending(&self) -> Result<Vec<StoredApproval>> {
        let Some(prod) = self.store.readable().await? else {
            return Ok(Vec::new());
        };
        let now = format_time(&Utc::now());
        let sql = format!(
            "SELECT {COLUMNS} FROM {APPROVALS_TABLE} WHERE status = 'pending' AND {} \
             ORDER BY created_at, id",
            text_cmp(prod.dialect(), "expires_at", ">")
        );
        let rows = textsql::fetch(prod, &sql, &[Some(&now)])
            .await
            .map_err(|e| Error::database(format!("reading {APPROVALS_TABLE}"), e))?;
        rows.into_iter().map(row_to_stored).collect()
    }

    /// One request, whatever its status.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn get(&self, id: &str) -> Result<Option<StoredApproval>> {
        self.store.get(id).await
    }

    /// Approves request `id` as `by`.
    ///
    /// # Errors
    /// [`Error::ApprovalNotPending`] when the request is unknown, already
    /// decided or expired; [`Error::Database`].
    pub async fn approve(&self, id: &str, by: &str) -> Result<()> {
        self.answer(id, ApprovalStatus::Approved, by, None).await
    }

    /// Denies request `id` as `by`, saying why.
    ///
    /// # Errors
    /// [`Error::ApprovalNotPending`] when the request is unknown, already
    /// decided or expired; [`Error::Database`].
    pub async fn deny(&self, id: &str, by: &str, reason: &str) -> Result<()> {
        self.answer(id, ApprovalStatus::Denied, by, Some(reason))
            .await
    }

    async fn answer(
        &self,
        id: &str,
        status: ApprovalStatus,
        by: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        let now = format_time(&Utc::now());
        if self
            .store
            .decide(id, status, Some(by), reason, Some(&now))
            .await?
        {
            Ok(())
        } else {
            Err(Error::ApprovalNotPending {
                request_id: id.to_owned(),
            })
        }
    }
}
