//! The builder: [`OpenOptions`], what a session is to scope and how it is
//! governed, collected in any order and resolved when it opens.

use std::sync::Arc;
use std::time::Duration;

use safemodel::{Model, SafeModel, Value};

use super::ShadowDb;
use crate::approve::Approver;
use crate::audit::{AuditSink, Redactor};
use crate::error::{Error, Result};
use crate::limits::{RateLimiter, SessionLimits};
use crate::model::TableName;
use crate::policy::Policy;
use crate::prod::Production;
use crate::sandbox::Limits;
use crate::scope::TableSpec;

/// `(table, tenant column)` pairs, as `.tenant_column(..)` gives them.
type TenantColumns = Vec<(TableName, String)>;

/// Options of a [`ShadowDb`] to open; start with [`ShadowDb::builder`].
#[must_use]
pub struct OpenOptions {
    pub(super) prod: Production,
    pub(super) tables: Vec<TableSpec>,
    pub(super) tenant: Option<Value>,
    pub(super) policy: Option<Policy>,
    pub(super) limits: Limits,
    pub(super) allow_uncontracted: bool,
    pub(super) actor: String,
    pub(super) audit_sinks: Vec<Arc<dyn AuditSink>>,
    pub(super) audit_in_production: bool,
    pub(super) redactor: Redactor,
    pub(super) approver: Option<Arc<dyn Approver>>,
    pub(super) approval_timeout: Duration,
    pub(super) rate_limiter: Option<Arc<RateLimiter>>,
    pub(super) session_limits: SessionLimits,
    /// Every `.tenant_column(..)` in call order, resolved at open: a scoped
    /// table's override, else a table outside the scope that one references.
    tenant_columns: TenantColumns,
    /// Every `.row_key(..)` in call order, resolved at open.
    row_keys: Vec<(TableName, Vec<String>)>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("prod", &self.prod)
            .field("tables", &self.tables)
            .field("actor", &self.actor)
            .field("audit_sinks", &self.audit_sinks.len())
            .field("audit_in_production", &self.audit_in_production)
            .field("approver", &self.approver.is_some())
            .field("rate_limiter", &self.rate_limiter)
            .field("session_limits", &self.session_limits)
            .finish_non_exhaustive()
    }
}

/// Who acts when the caller does not say.
pub const DEFAULT_ACTOR: &str = "unknown";

impl OpenOptions {
    /// Scopes a table the agent may change. It needs a registered
    /// `#[derive(SafeModel)]` contract, found by the table's name as
    /// written here (or [`OpenOptions::allow_uncontracted`]); to bind one
    /// explicitly, use [`OpenOptions::table_with`].
    pub fn table(mut self, name: &str) -> Self {
        self.tables
            .push(TableSpec::new(TableName::parse(name), false));
        self
    }

    /// Scopes a table the agent may change under the contract `M`, bound
    /// explicitly rather than looked up by table name: two databases that
    /// both have a `tasks` table can each have their own contract in one
    /// program (`#[safemodel(table = "tasks")]` twice makes the lookup by
    /// name ambiguous, not this).
    ///
    /// ```rust,standalone_crate
    /// use shadowdb::ShadowDb;
    /// use sqlx::sqlite::SqlitePoolOptions;
    ///
    /// // Two databases of one program both have a `tasks` table.
    /// mod crm {
    ///     #[derive(Debug, safemodel::SafeModel)]
    ///     #[safemodel(table = "tasks", tenant = "org_id")]
    ///     pub struct Task {
    ///         #[safemodel(primary_key)]
    ///         pub id: i64,
    ///         pub org_id: i64,
    ///         pub title: String,
    ///     }
    /// }
    /// mod billing {
    ///     #[derive(Debug, safemodel::SafeModel)]
    ///     #[safemodel(table = "tasks", tenant = "account_id")]
    ///     pub struct Task {
    ///         #[safemodel(primary_key)]
    ///         pub id: i64,
    ///         pub account_id: i64,
    ///         pub cents: i64,
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let crm_db = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await?;
    /// sqlx::query("CREATE TABLE tasks (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, \
    ///              title TEXT NOT NULL)").execute(&crm_db).await?;
    ///
    /// // By its name, `tasks` has two contracts: which one is meant is not guessed.
    /// let by_name = ShadowDb::builder(crm_db.clone()).table("tasks").tenant(7_i64).open().await;
    /// assert!(matches!(by_name, Err(shadowdb::Error::Model(_))));
    ///
    /// // Bound explicitly, it has one.
    /// let sandbox = ShadowDb::builder(crm_db)
    ///     .table_with::<crm::Task>("tasks")
    ///     .tenant(7_i64)
    ///     .open()
    ///     .await?;
    /// assert_eq!(sandbox.table_names(), ["tasks"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn table_with<M: SafeModel>(mut self, name: &str) -> Self {
        let mut spec = TableSpec::new(TableName::parse(name), false);
        spec.contract = Some(const { &Model::of::<M>() });
        self.tables.push(spec);
        self
    }

    /// Scopes several tables.
    pub fn tables<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        for n in names {
            self = self.table(n);
        }
        self
    }

    /// A read-only reference table (a lookup table) cloned for context: all of
    /// its rows, or only the tenant's if a tenant column is set for it. Any
    /// change to it is refused. No contract needed.
    pub fn reference_table(mut self, name: &str) -> Self {
        self.tables
            .push(TableSpec::new(TableName::parse(name), true));
        self
    }

    /// Overrides the tenant column of a scoped table (default: the contract's).
    /// For a table outside the scope that a scoped table references, it
    /// names the column the commit checks each reference's tenant by
    /// (default: the scoped table's tenant column name, or the parent's
    /// contract's). It may come before or after the table's `.table(..)`:
    /// it is resolved at [`open`](OpenOptions::open), and the last call for
    /// a table wins.
    pub fn tenant_column(mut self, table: &str, column: &str) -> Self {
        self.tenant_columns
            .push((TableName::parse(table), column.to_owned()));
        self
    }

    /// The row key of a table without a primary key: columns that are unique.
    /// It may come before or after the table's `.table(..)` (the last call
    /// for a table wins); [`open`](OpenOptions::open) refuses one for a
    /// table that is not scoped.
    pub fn row_key(mut self, table: &str, columns: &[&str]) -> Self {
        self.row_keys.push((
            TableName::parse(table),
            columns.iter().map(|c| (*c).to_owned()).collect(),
        ));
        self
    }

    /// The tenant whose rows are cloned.
    pub fn tenant(mut self, tenant: impl Into<Value>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The policy (default: the built-in `dev` profile).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Sandbox limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Allows writes to tables without a contract (schema, tenant and policy
    /// checks still apply). Such tables need an explicit tenant column.
    pub fn allow_uncontracted(mut self, allow: bool) -> Self {
        self.allow_uncontracted = allow;
        self
    }

    /// The agent or user id this session acts as: it is in every audit
    /// event, approval request and per-actor rate limit (default `unknown`).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// Adds an audit sink (a [`JsonlSink`](crate::audit::JsonlSink), a
    /// [`MemorySink`](crate::audit::MemorySink), your own [`AuditSink`]).
    /// Every event of the session goes to every sink.
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit_sinks.push(sink);
        self
    }

    /// Also keeps the audit trail in production, in the table
    /// [`AUDIT_TABLE`](crate::audit::AUDIT_TABLE) (created on open when
    /// missing). Commit and rollback records are written in the commit's own
    /// transaction: a commit without its record, or a record without its
    /// commit, cannot exist. [`Rollback`](crate::rollback::Rollback) reads
    /// commits from this table.
    pub fn audit_in_production(mut self, on: bool) -> Self {
        self.audit_in_production = on;
        self
    }

    /// How SQL text is redacted in audit events (default: kept as run).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Who decides changesets that need approval. Without one, a commit that
    /// needs approval is refused unless
    /// [`CommitOptions::approved_by`](crate::CommitOptions::approved_by) gives it.
    pub fn approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = Some(approver);
        self
    }

    /// How long an approval request waits before it counts as denied
    /// (default [`approve::DEFAULT_TIMEOUT`](crate::approve::DEFAULT_TIMEOUT)).
    pub fn approval_timeout(mut self, timeout: Duration) -> Self {
        self.approval_timeout = timeout;
        self
    }

    /// Rate limits per tenant and per actor. Share one limiter between the
    /// sessions it is to hold to one budget.
    pub fn rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Limits of this session: statements, duration, rows per commit.
    pub fn session_limits(mut self, limits: SessionLimits) -> Self {
        self.session_limits = limits;
        self
    }

    /// Reflects, checks every table against its contract, and clones the
    /// tenant's rows into a fresh sandbox.
    ///
    /// # Errors
    /// [`Error::Schema`] listing every problem found; [`Error::Database`];
    /// [`Error::Unclonable`]; [`Error::Config`] without a tenant or tables,
    /// or with a row key for a table that is not scoped; [`Error::Model`]
    /// when a table looked up by name has two contracts.
    pub async fn open(self) -> Result<ShadowDb> {
        ShadowDb::open(self).await
    }

    /// The tables to scope with the tenant columns and row keys given for
    /// them, whatever the order of the calls, and the tenant columns of
    /// tables outside the scope.
    ///
    /// # Errors
    /// [`Error::Config`] for a row key of a table that is not scoped.
    pub(super) fn resolve_tables(&self) -> Result<(Vec<TableSpec>, TenantColumns)> {
        let mut specs = self.tables.clone();
        let mut outside = Vec::new();
        for (name, column) in &self.tenant_columns {
            let mut found = false;
            for spec in specs.iter_mut().filter(|s| &s.name == name) {
                spec.tenant_column = Some(column.clone());
                found = true;
            }
            if !found {
                outside.push((name.clone(), column.clone()));
            }
        }
        for (name, columns) in &self.row_keys {
            let mut found = false;
            for spec in specs.iter_mut().filter(|s| &s.name == name) {
                spec.row_key = Some(columns.clone());
                found = true;
            }
            if !found {
                return Err(Error::Config(format!(
                    "a row key is given for `{name}`, which is not scoped: \
                     call .table(\"{name}\") or .reference_table(\"{name}\")"
                )));
            }
        }
        Ok((specs, outside))
    }
}

impl ShadowDb {
    /// Starts the options of a sandbox on `prod` (a `PgPool`, `MySqlPool`,
    /// `SqlitePool` or [`Production`]).
    pub fn builder(prod: impl Into<Production>) -> OpenOptions {
        OpenOptions {
            prod: prod.into(),
            tables: Vec::new(),
            tenant: None,
            policy: None,
            limits: Limits::default(),
            allow_uncontracted: false,
            actor: DEFAULT_ACTOR.to_owned(),
            audit_sinks: Vec::new(),
            audit_in_production: false,
            redactor: Redactor::default(),
            approver: None,
            approval_timeout: crate::approve::DEFAULT_TIMEOUT,
            rate_limiter: None,
            session_limits: SessionLimits::default(),
            tenant_columns: Vec::new(),
            row_keys: Vec::new(),
        }
    }
}
