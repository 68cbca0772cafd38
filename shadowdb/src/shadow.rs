//! `ShadowDb`: open a sandbox of one tenant's rows, run the agent's SQL, diff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use safemodel::{CheckOptions, Model, Row, Rule, SqlType, Value, Violation, registry};

use crate::approve::Approver;
use crate::audit::{AuditEvent, AuditKind, AuditSink, AuditTrail, DbAuditSink, Redactor};
use crate::diff::{ChangeSet, Key, Op, RowChange};
use crate::error::{Error, Refusal, Result, SchemaProblem};
use crate::limits::{RateLimiter, SessionGuard, SessionLimits};
use crate::policy::{Decision, Policy, Scope, ScopedTable, StatementVerdict};
use crate::prod::{self, Production};
use crate::render::{Review, verdict_of};
use crate::sandbox::{
    Limits, RawChange, Sandbox, SandboxColumn, SandboxFk, SandboxTable, StatementResult,
};
use crate::schema::{self, FkAction, TableName, TableSchema};
use crate::types::{ColumnKind, Dialect};
pub(crate) use crate::value::tenant_eq;

/// What [`ShadowDb::judge_and_run`] came to.
enum Outcome {
    /// A session or rate limit refused the script before anything was judged
    /// to run.
    Limit(Error),
    /// The verdicts (final, the effect rule's hits included) and the run's
    /// result: its statements' results and the script id to end.
    Done {
        verdicts: Vec<StatementVerdict>,
        result: Result<(Vec<StatementResult>, u64)>,
    },
}

/// Rows streamed from production per sandbox insert batch.
const CLONE_BATCH: usize = 2_000;

/// How one table is to be scoped.
#[derive(Debug, Clone)]
struct TableSpec {
    name: TableName,
    read_only: bool,
    tenant_column: Option<String>,
    row_key: Option<Vec<String>>,
}

/// Options of [`ShadowDb::open`]; start with [`ShadowDb::builder`].
#[must_use]
pub struct OpenOptions {
    prod: Production,
    tables: Vec<TableSpec>,
    tenant: Option<Value>,
    policy: Option<Policy>,
    limits: Limits,
    allow_uncontracted: bool,
    actor: String,
    audit_sinks: Vec<Arc<dyn AuditSink>>,
    audit_in_production: bool,
    redactor: Redactor,
    approver: Option<Arc<dyn Approver>>,
    approval_timeout: Duration,
    rate_limiter: Option<Arc<RateLimiter>>,
    session_limits: SessionLimits,
    /// Off for a rollback, which writes to production without a sandbox.
    pub(crate) clone_rows: bool,
    /// Tenant columns of tables outside the scope, for references onto them.
    outside_tenants: Vec<(TableName, String)>,
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
    /// `#[derive(SafeModel)]` contract (or [`OpenOptions::allow_uncontracted`]).
    pub fn table(mut self, name: &str) -> Self {
        self.tables.push(TableSpec {
            name: TableName::parse(name),
            read_only: false,
            tenant_column: None,
            row_key: None,
        });
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
        self.tables.push(TableSpec {
            name: TableName::parse(name),
            read_only: true,
            tenant_column: None,
            row_key: None,
        });
        self
    }

    /// Overrides the tenant column of a scoped table (default: the contract's).
    /// For a table outside the scope that a scoped table references, it
    /// names the column the commit checks each reference's tenant by
    /// (default: the scoped table's tenant column name, or the parent's
    /// contract's).
    pub fn tenant_column(mut self, table: &str, column: &str) -> Self {
        let name = TableName::parse(table);
        if let Some(t) = self.tables.iter_mut().find(|t| t.name == name) {
            t.tenant_column = Some(column.to_owned());
        } else {
            self.outside_tenants.push((name, column.to_owned()));
        }
        self
    }

    /// The row key of a table without a primary key: columns that are unique.
    pub fn row_key(mut self, table: &str, columns: &[&str]) -> Self {
        let name = TableName::parse(table);
        if let Some(t) = self.tables.iter_mut().find(|t| t.name == name) {
            t.row_key = Some(columns.iter().map(|c| (*c).to_owned()).collect());
        }
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
    /// needs approval is refused unless [`CommitOptions::approved_by`]
    /// (crate::CommitOptions::approved_by) gives it.
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
    /// [`Error::Unclonable`]; [`Error::Config`] without a tenant or tables.
    pub async fn open(self) -> Result<ShadowDb> {
        ShadowDb::open(self).await
    }
}

/// One table in scope.
#[derive(Debug, Clone)]
pub(crate) struct Scoped {
    pub schema: TableSchema,
    pub model: Option<&'static Model>,
    pub read_only: bool,
    /// Index (in `schema.columns`) of the tenant column, if any.
    pub tenant_col: Option<usize>,
    /// Sandbox columns in order, as indices into `schema.columns`.
    pub cols: Vec<usize>,
    /// PII flags aligned with `cols`.
    pub pii: Vec<bool>,
    /// Key column positions within `cols`.
    pub key: Vec<usize>,
    /// Provisional key base for a generated single integer key.
    pub generated_key: Option<i64>,
    /// The name the agent uses in the sandbox.
    pub sandbox_name: String,
}

impl Scoped {
    pub(crate) fn col(&self, pos: usize) -> Option<&schema::ColumnSchema> {
        self.cols.get(pos).and_then(|&i| self.schema.columns.get(i))
    }
}

/// Rows cloned per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneStats {
    /// `(table, rows)` in scope order.
    pub tables: Vec<(String, u64)>,
    /// Time to reflect and clone.
    pub elapsed: Duration,
}

/// A sandbox of one tenant's rows of some production tables.
///
/// Dropping it destroys the sandbox. See the crate docs for the flow.
pub struct ShadowDb {
    pub(crate) prod: Production,
    pub(crate) tenant: Value,
    pub(crate) tables: Vec<Scoped>,
    sandbox: Mutex<Sandbox>,
    pub(crate) policy: Policy,
    scope: Scope,
    pub(crate) log: Mutex<Vec<StatementVerdict>>,
    stats: CloneStats,
    pub(crate) committed: Option<String>,
    pub(crate) actor: String,
    pub(crate) audit: AuditTrail,
    /// Events taken where nothing can wait (a diff), recorded by the next
    /// statement, commit or [`ShadowDb::flush_audit`].
    pending_audit: Mutex<Vec<AuditEvent>>,
    pub(crate) approver: Option<Arc<dyn Approver>>,
    pub(crate) approval_timeout: Duration,
    pub(crate) rate_limiter: Option<Arc<RateLimiter>>,
    pub(crate) session: SessionGuard,
    /// The last diff and the sandbox's change counter when it was taken:
    /// while the counter stands still, a commit need not diff again.
    pub(crate) last_diff: Mutex<Option<(u64, ChangeSet)>>,
    /// Set by a commit: the baseline is to become the sandbox's current
    /// state, done by the next diff (a committed sandbox rarely diffs again).
    pub(crate) stale_baseline: std::sync::atomic::AtomicBool,
    /// Per table (scoped name): production's digests of its PII columns at
    /// the clone, never shown to the agent; the commit requires them unchanged.
    pub(crate) pii_digests: HashMap<String, prod::Digests>,
    /// Foreign keys onto tenant tables outside the scope, checked at commit.
    pub(crate) outside_refs: Vec<crate::sync::OutsideRef>,
}

impl std::fmt::Debug for ShadowDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowDb")
            .field("dialect", &self.prod.dialect())
            .field("tables", &self.table_names())
            .finish_non_exhaustive()
    }
}

/// Provisional keys start here, by integer width, so they are easy to tell
/// from production's and stay within the column's type.
fn provisional_base(kind: &ColumnKind) -> Option<i64> {
    match kind {
        ColumnKind::Int16 => Some(30_000),
        ColumnKind::Int32 => Some(2_000_000_000),
        ColumnKind::Int64 | ColumnKind::UInt64 => Some(1 << 62),
        _ => None,
    }
}

fn fk_action(a: FkAction) -> &'static str {
    match a {
        FkAction::Restrict => "NO ACTION",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
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
            clone_rows: true,
            outside_tenants: Vec::new(),
        }
    }

    async fn open(opts: OpenOptions) -> Result<ShadowDb> {
        let started = Instant::now();
        let tenant = opts
            .tenant
            .clone()
            .ok_or_else(|| Error::Config("no tenant given: call .tenant(..)".into()))?;
        if opts.tables.is_empty() {
            return Err(Error::Config("no table in scope: call .table(..)".into()));
        }
        if tenant.is_null() {
            return Err(Error::Config("the tenant value is NULL".into()));
        }
        let reg = registry();
        let mut problems = Vec::new();
        let mut scoped = Vec::new();
        for spec in &opts.tables {
            let table = spec.name.to_string();
            let Some(schema) = schema::reflect(&opts.prod, &spec.name).await? else {
                problems.push(SchemaProblem::TableMissing { table });
                continue;
            };
            let model = reg.get(&table)?;
            if let Some(s) =
                check_table(spec, schema, model, opts.allow_uncontracted, &mut problems)
            {
                scoped.push(s);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &scoped {
            if !seen.insert(s.sandbox_name.to_ascii_lowercase()) {
                return Err(Error::Config(format!(
                    "two scoped tables are both called `{}` in the sandbox",
                    s.sandbox_name
                )));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Schema(problems));
        }
        let outside_refs =
            crate::sync::outside_refs(&opts.prod, &mut scoped, &opts.outside_tenants).await?;

        if prod::digest_expr(opts.prod.dialect(), "x").is_none() {
            for s in scoped.iter_mut().filter(|s| !s.read_only) {
                let pii: Vec<&str> = s
                    .cols
                    .iter()
                    .zip(&s.pii)
                    .filter(|(_, p)| **p)
                    .filter_map(|(&i, _)| s.schema.columns.get(i).map(|c| c.name.as_str()))
                    .collect();
                if !pii.is_empty() {
                    let line = format!(
                        "PII columns {} are not guarded against concurrent changes \
                         (SQLite has no hash function to compare them without reading them)",
                        pii.join(", ")
                    );
                    s.schema.not_enforced.push(line);
                }
            }
        }
        let sandbox_tables: Vec<SandboxTable> = scoped
            .iter()
            .map(|s| sandbox_table(s, &scoped, &tenant))
            .collect();
        let sandbox = Mutex::new(Sandbox::new(sandbox_tables, opts.limits)?);
        let mut stats = CloneStats::default();
        let mut pii_digests = HashMap::new();
        for (i, s) in scoped.iter().enumerate() {
            let n = if opts.clone_rows {
                let (n, digests) = clone_table(&opts.prod, s, i, &tenant, &sandbox).await?;
                if !digests.cols.is_empty() {
                    pii_digests.insert(s.schema.name.to_string(), digests);
                }
                n
            } else {
                0
            };
            stats.tables.push((s.schema.name.to_string(), n));
        }
        lock(&sandbox)?.seal()?;
        stats.elapsed = started.elapsed();

        let mut scope = Scope::new();
        for s in &scoped {
            let mut t = ScopedTable::new(s.sandbox_name.clone()).with_pii(
                s.cols
                    .iter()
                    .zip(&s.pii)
                    .filter(|(_, p)| **p)
                    .filter_map(|(&i, _)| s.schema.columns.get(i).map(|c| c.name.clone())),
            );
            if s.read_only {
                t = t.read_only();
            }
            if let Some(tc) = s.tenant_col.and_then(|i| s.schema.columns.get(i)) {
                t = t.with_tenant_column(tc.name.clone());
            }
            scope.push(t);
        }
        tracing::info!(tables = ?stats.tables, elapsed_ms = stats.elapsed.as_millis(), "sandbox opened");
        let pii: Vec<(String, String)> = scoped.iter().flat_map(pii_of).collect();
        let mut audit = AuditTrail::new(tenant.to_string(), opts.actor.clone())
            .with_redactor(opts.redactor)
            .with_pii(pii);
        for sink in opts.audit_sinks {
            audit = audit.with_sink(sink);
        }
        if opts.audit_in_production {
            let db = DbAuditSink::new(opts.prod.clone());
            db.ensure_table().await?;
            audit = audit.with_database(Arc::new(db));
        }
        if opts.clone_rows {
            audit
                .record(AuditKind::sandbox_opened(
                    stats.tables.iter().cloned().collect(),
                ))
                .await?;
        }
        Ok(ShadowDb {
            prod: opts.prod,
            tenant,
            tables: scoped,
            sandbox,
            policy: opts.policy.map_or_else(|| Policy::builtin("dev"), Ok)?,
            scope,
            log: Mutex::new(Vec::new()),
            stats,
            committed: None,
            actor: opts.actor,
            audit,
            pending_audit: Mutex::new(Vec::new()),
            approver: opts.approver,
            approval_timeout: opts.approval_timeout,
            rate_limiter: opts.rate_limiter,
            session: SessionGuard::started_at(opts.session_limits, started),
            last_diff: Mutex::new(None),
            stale_baseline: std::sync::atomic::AtomicBool::new(false),
            pii_digests,
            outside_refs,
        })
    }

    pub(crate) fn sandbox(&self) -> Result<MutexGuard<'_, Sandbox>> {
        lock(&self.sandbox)
    }

    /// The production dialect.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.prod.dialect()
    }

    /// The tenant value.
    #[must_use]
    pub fn tenant(&self) -> &Value {
        &self.tenant
    }

    /// The scoped tables, as named at open.
    #[must_use]
    pub fn table_names(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| t.schema.name.to_string())
            .collect()
    }

    /// The reflected schema of each scoped table.
    #[must_use]
    pub fn schemas(&self) -> Vec<&TableSchema> {
        self.tables.iter().map(|t| &t.schema).collect()
    }

    /// Rows cloned per table and the time it took.
    #[must_use]
    pub fn clone_stats(&self) -> &CloneStats {
        &self.stats
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Every statement run so far, with its policy verdict.
    #[must_use]
    pub fn statement_log(&self) -> Vec<StatementVerdict> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The PII columns of the scope as `(table, column)`.
    #[must_use]
    pub fn pii_columns(&self) -> Vec<(String, String)> {
        self.tables.iter().flat_map(pii_of).collect()
    }

    /// The agent or user id the session acts as.
    #[must_use]
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The session's audit trail (its session id, redactor, PII columns).
    #[must_use]
    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    /// The policy's hits on `changeset`: its changeset rules, and the effect
    /// rule over the whole session (no split of a write into statements that
    /// each leave a row, nor a decoy row inserted first, hides a write of
    /// every row a table held when the sandbox was cloned).
    pub(crate) fn changeset_hits(&self, changeset: &ChangeSet) -> Vec<crate::policy::ChangeSetHit> {
        let mut hits = self.policy.check_changeset(changeset);
        hits.extend(
            self.policy
                .check_whole_tables(changeset, &self.stats.tables),
        );
        hits
    }

    /// The review of `changeset`: its contract checks, the policy's decisions
    /// on the statements run and on the changeset, the PII columns to mask.
    /// This is what [`render_text`](crate::render::render_text) shows and
    /// what an approver is asked about.
    #[must_use]
    pub fn review<'a>(&self, changeset: &'a ChangeSet) -> Review<'a> {
        let hits = self.changeset_hits(changeset);
        let log = self.statement_log();
        let mut block = Vec::new();
        let mut approval = Vec::new();
        let mut notes = Vec::new();
        for hit in log.iter().flat_map(|v| v.hits.iter()) {
            let line = format!("{}: {}", hit.rule, hit.reason);
            match hit.decision {
                Decision::Block => block.push(line),
                Decision::RequireApproval => approval.push(line),
                Decision::Warn => notes.push(line),
                Decision::Allow | Decision::Audit => {}
            }
        }
        for hit in hits {
            match hit.decision {
                Decision::Block => block.push(hit.reason),
                Decision::RequireApproval => approval.push(hit.reason),
                Decision::Warn => notes.push(hit.reason),
                Decision::Allow | Decision::Audit => {}
            }
        }
        for list in [&mut block, &mut approval, &mut notes] {
            let mut seen = std::collections::HashSet::new();
            list.retain(|l| seen.insert(l.clone()));
        }
        Review {
            changeset,
            verdict: verdict_of(changeset, block, approval),
            pii_columns: self.pii_columns(),
            notes,
        }
    }

    /// Records the events that were waiting (a diff's summary) to the audit
    /// sinks. Statements and commits do this themselves; call it when a
    /// session ends after a diff without committing.
    ///
    /// # Errors
    /// The first sink's error.
    pub async fn flush_audit(&self) -> Result<()> {
        let pending: Vec<AuditEvent> = self
            .pending_audit
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for event in &pending {
            self.audit.record_event(event).await?;
        }
        Ok(())
    }

    /// Passes `checked` through, recording a limit breach to the audit trail.
    pub(crate) async fn limit<T>(&self, checked: Result<T>) -> Result<T> {
        if let Err(e) = &checked
            && let Some(kind) = AuditKind::limit_exceeded(e)
            && let Err(audit) = self.audit.record(kind).await
        {
            tracing::error!(error = %crate::render::escape_controls(&audit.to_string()), "a limit breach could not be audited");
        }
        checked
    }

    /// Checks a script against the policy without running it: split where
    /// SQLite splits it, each statement judged as SQLite read it. A script
    /// SQLite cannot prepare (a table outside the scope, a syntax error, a
    /// NUL byte) is judged as the policy's parser splits it.
    #[must_use]
    pub fn check(&self, sql: &str) -> Vec<StatementVerdict> {
        let Ok(sandbox) = self.sandbox() else {
            return self.policy.check_sql(sql, &self.scope);
        };
        match sandbox.prepare_script(sql, None) {
            Ok(script) => script
                .iter()
                .map(|p| {
                    self.policy
                        .check_statement(sql.get(p.text.clone()).unwrap_or_default(), &self.scope)
                })
                .collect(),
            Err(_) => self.policy.check_sql(sql, &self.scope),
        }
    }

    /// Runs the agent's SQL (one statement or a script) in the sandbox.
    ///
    /// The script is split where SQLite splits it, and each statement is
    /// judged by the policy on exactly the text SQLite prepared, which is the
    /// text recorded and run. If any is blocked, nothing runs. The script
    /// runs as one unit: if a statement fails, or its effect is blocked (an
    /// UPDATE or DELETE that changed every row of a table: rules
    /// `update_without_where`, `delete_without_where`), the sandbox is as it
    /// was before. `params` bind the placeholders of each statement that has
    /// any (it must have as many as given).
    ///
    /// # Errors
    /// [`Error::Blocked`] (policy), [`Error::Refused`] (sandbox walls, a NUL
    /// byte), [`Error::Timeout`], [`Error::Statement`].
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        self.run(sql, params).await
    }

    /// Runs a query and returns its rows (the last statement's, for a script).
    ///
    /// # Errors
    /// As [`ShadowDb::execute`].
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<crate::QueryResult> {
        let results = self.run(sql, params).await?;
        Ok(results
            .into_iter()
            .rev()
            .find_map(|r| r.rows)
            .unwrap_or_default())
    }

    async fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        self.flush_audit().await?;
        let outcome = {
            let sandbox = self.sandbox()?;
            self.judge_and_run(&sandbox, sql, params)
        };
        let (verdicts, result) = match outcome {
            Outcome::Limit(e) => return self.limit(Err(e)).await,
            Outcome::Done { verdicts, result } => (verdicts, result),
        };
        // Every statement is on the record, whether it ran or not, with its
        // final decision. What cannot be recorded does not stay.
        if self.audit.is_enabled() {
            for v in &verdicts {
                if let Err(e) = self.audit.record(self.audit.statement(&v.sql, v)).await {
                    if let Ok((_, id)) = &result {
                        self.sandbox()?.undo_script(*id)?;
                    }
                    return Err(e);
                }
            }
        }
        match result {
            Ok((results, id)) => {
                self.sandbox()?.end_script(id)?;
                if let Ok(mut log) = self.log.lock() {
                    log.extend(verdicts);
                }
                Ok(results)
            }
            Err(e) => {
                if matches!(e, Error::Blocked { .. })
                    && let Ok(mut log) = self.log.lock()
                {
                    log.extend(verdicts);
                }
                self.limit(Err(e)).await
            }
        }
    }

    /// Splits, judges and (when nothing is blocked) runs a script, under
    /// the sandbox's lock: the statements judged are the statements run.
    fn judge_and_run(&self, sandbox: &Sandbox, sql: &str, params: &[Value]) -> Outcome {
        let (script, mut verdicts) = match sandbox.prepare_script(sql, Some(params.len())) {
            Ok(script) => {
                let verdicts = script
                    .iter()
                    .map(|p| {
                        self.policy.check_statement(
                            sql.get(p.text.clone()).unwrap_or_default(),
                            &self.scope,
                        )
                    })
                    .collect();
                (Ok(script), verdicts)
            }
            // Nothing of it can run; the policy still names what it would block.
            Err(e) => (Err(e), self.policy.check_sql(sql, &self.scope)),
        };
        // Limits count statements, not calls: a script of five is five.
        for _ in &verdicts {
            let checked = self.session.check_statement().and_then(|_| {
                self.rate_limiter.as_ref().map_or(Ok(()), |l| {
                    l.check_statement(&self.tenant.to_string(), &self.actor)
                })
            });
            if let Err(e) = checked {
                return Outcome::Limit(e);
            }
        }
        let blocked = verdicts
            .iter()
            .find_map(StatementVerdict::blocking_hit)
            .map(|hit| Error::Blocked {
                rule: hit.rule.clone(),
                reason: hit.reason.clone(),
            });
        let script = match (script, blocked) {
            (Ok(script), None) => script,
            // A NUL byte is refused as such, and a limit that stopped SQLite
            // preparing the script is that limit's error: the policy's
            // verdict after it may itself be the limit's doing (no memory
            // left for its deep check's thread). Else the policy's block
            // comes first.
            (
                Err(
                    e @ (Error::Refused(Refusal::NulByte { .. })
                    | Error::MemoryLimit { .. }
                    | Error::Timeout { .. }
                    | Error::SessionTimeLimit { .. }),
                ),
                _,
            )
            | (Err(_) | Ok(_), Some(e))
            | (Err(e), None) => {
                return Outcome::Done {
                    verdicts,
                    result: Err(e),
                };
            }
        };
        let result = sandbox.run_script(script, sql, params, &mut |i, effect| {
            let Some(hit) = self.policy.check_effect(effect) else {
                return Ok(());
            };
            let blocked = (hit.decision == Decision::Block).then(|| Error::Blocked {
                rule: hit.rule.clone(),
                reason: hit.reason.clone(),
            });
            if let Some(v) = verdicts.get_mut(i) {
                v.push_hit(hit);
            }
            blocked.map_or(Ok(()), Err)
        });
        Outcome::Done { verdicts, result }
    }

    /// Reasons from the statements run so far that require approval.
    pub(crate) fn statement_approvals(&self) -> Vec<String> {
        self.statement_log()
            .iter()
            .flat_map(|v| v.hits.iter())
            .filter(|h| h.decision == Decision::RequireApproval)
            .map(|h| format!("{}: {}", h.rule, h.reason))
            .collect()
    }

    /// The row-level difference between the clone and the sandbox now, each
    /// new or changed row checked against its contract, the tenant, and what
    /// production accepts for each column.
    ///
    /// # Errors
    /// [`Error::Sandbox`] if the sandbox cannot be read.
    pub fn diff(&self) -> Result<ChangeSet> {
        let sandbox = self.sandbox()?;
        // A script whose caller went away before recording it is undone.
        sandbox.settle()?;
        if self
            .stale_baseline
            .load(std::sync::atomic::Ordering::Acquire)
        {
            sandbox.rebase()?;
            self.stale_baseline
                .store(false, std::sync::atomic::Ordering::Release);
        }
        // Each change is typed and checked as SQLite finds it.
        let mut changes = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            sandbox.changes_into(i, &mut |raw| {
                changes.extend(self.row_changes(t, raw));
                Ok(())
            })?;
        }
        let not_enforced = self
            .tables
            .iter()
            .flat_map(|t| {
                t.schema
                    .not_enforced
                    .iter()
                    .map(move |n| format!("{}: {n}", t.schema.name))
            })
            .collect();
        let refs = crate::remap::pending_refs(&self.tables);
        crate::remap::check_provisional(&self.tables, &refs, &mut changes);
        let mut cs = ChangeSet::new(changes, not_enforced);
        cs.computed = self
            .tables
            .iter()
            .flat_map(|t| {
                t.schema
                    .columns
                    .iter()
                    .filter(|c| c.computed)
                    .map(|c| (t.schema.name.to_string(), c.name.clone()))
            })
            .collect();
        cs.pending_refs = refs;
        if self.audit.is_enabled()
            && let Ok(mut pending) = self.pending_audit.lock()
        {
            pending.push(self.audit.event(AuditKind::diff_summary(&cs)));
        }
        if let Ok(mut last) = self.last_diff.lock() {
            *last = Some((sandbox.total_changes(), cs.clone()));
        }
        Ok(cs)
    }

    /// Turns one raw (old, new) pair into row changes (a key change is a
    /// delete plus an insert).
    fn row_changes(&self, t: &Scoped, raw: RawChange) -> Vec<RowChange> {
        let RawChange { old, new, names } = raw;
        let mut violations = Vec::new();
        let old = old.map(|v| self.typed_row(t, v, &names, &mut Vec::new()));
        let new = new.map(|v| self.typed_row(t, v, &names, &mut violations));
        let table = t.schema.name.to_string();
        let key_of = |row: &Row| {
            Key(t
                .key
                .iter()
                .filter_map(|&k| t.col(k))
                .map(|c| {
                    (
                        c.name.clone(),
                        row.get(&c.name).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect())
        };
        match (old, new) {
            (Some(old), None) => vec![RowChange {
                table,
                op: Op::Delete,
                key: key_of(&old),
                old: Some(old),
                new: None,
                changed: Vec::new(),
                violations: Vec::new(),
            }],
            (None, Some(new)) => {
                let key = key_of(&new);
                let violations = self.check_new(t, &new, None, violations, &key);
                vec![RowChange {
                    table,
                    op: Op::Insert,
                    key,
                    changed: new.columns().map(str::to_owned).collect(),
                    old: None,
                    new: Some(new),
                    violations,
                }]
            }
            (Some(old), Some(new)) => {
                let (ko, kn) = (key_of(&old), key_of(&new));
                if ko != kn {
                    let violations = self.check_new(t, &new, None, violations, &kn);
                    return vec![
                        RowChange {
                            table: table.clone(),
                            op: Op::Delete,
                            key: ko,
                            old: Some(old),
                            new: None,
                            changed: Vec::new(),
                            violations: Vec::new(),
                        },
                        RowChange {
                            table,
                            op: Op::Insert,
                            key: kn,
                            changed: new.columns().map(str::to_owned).collect(),
                            old: None,
                            new: Some(new),
                            violations,
                        },
                    ];
                }
                // What production computes is never written: a REPLACE that
                // cleared it is no change to it.
                let changed: Vec<String> = old
                    .iter()
                    .zip(new.values())
                    .filter(|((_, a), b)| a != b)
                    .map(|((c, _), _)| c.to_owned())
                    .filter(|c| t.schema.column(c).is_none_or(|col| !col.computed))
                    .collect();
                if changed.is_empty() {
                    // Only representation changed (`1.10` -> `1.1`): not a change.
                    return Vec::new();
                }
                let violations = self.check_new(t, &new, Some(&old), violations, &kn);
                vec![RowChange {
                    table,
                    op: Op::Update,
                    key: kn,
                    old: Some(old),
                    new: Some(new),
                    changed,
                    violations,
                }]
            }
            (None, None) => Vec::new(),
        }
    }

    /// Reads raw sandbox values as their columns' kinds; PII columns are
    /// left out (a non-NULL PII value is a violation: it cannot be written).
    /// `names` are the columns kept, shared by the rows of one diff.
    fn typed_row(
        &self,
        t: &Scoped,
        raw: Vec<Value>,
        names: &std::sync::Arc<[Box<str>]>,
        violations: &mut Vec<Violation>,
    ) -> Row {
        let width = raw.len();
        // Without PII the row keeps every column: typed where it lies.
        let in_place = width == names.len()
            && !t.pii.iter().any(|p| *p)
            && (0..width).all(|pos| {
                t.col(pos)
                    .zip(names.get(pos))
                    .is_some_and(|(c, n)| **n == *c.name)
            });
        if in_place {
            let mut raw = raw;
            for (pos, v) in raw.iter_mut().enumerate() {
                let Some(col) = t.col(pos) else { continue };
                *v = typed_value(col, std::mem::replace(v, Value::Null), violations);
            }
            return Row::with_columns(std::sync::Arc::clone(names), raw);
        }
        let mut values = Vec::with_capacity(width);
        // Whether the columns kept are `names`, checked as they go.
        let mut shared = true;
        for (pos, v) in raw.into_iter().enumerate() {
            let Some(col) = t.col(pos) else { continue };
            if t.pii.get(pos).copied().unwrap_or(false) {
                if !v.is_null() {
                    violations.push(Violation::new(
                        col.name.clone(),
                        Rule::Other("pii".into()),
                        "column is PII and cannot be written",
                    ));
                }
                continue;
            }
            let typed = typed_value(col, v, violations);
            shared = shared && names.get(values.len()).is_some_and(|n| **n == *col.name);
            values.push(typed);
        }
        if values.is_empty() {
            return Row::new();
        }
        let names = if shared && names.len() == values.len() {
            std::sync::Arc::clone(names)
        } else {
            (0..width)
                .filter(|&pos| !t.pii.get(pos).copied().unwrap_or(false))
                .filter_map(|pos| t.col(pos))
                .map(|c| Box::from(c.name.as_str()))
                .collect()
        };
        Row::with_columns(names, values)
    }

    /// Every violation of a new or changed row: decoding, contract, tenant,
    /// and values production would reject.
    pub(crate) fn check_new(
        &self,
        t: &Scoped,
        new: &Row,
        old: Option<&Row>,
        mut violations: Vec<Violation>,
        key: &Key,
    ) -> Vec<Violation> {
        let _ = key;
        // Tenant: every written row carries the scope's tenant.
        if let Some(tc) = t.tenant_col.and_then(|i| t.schema.columns.get(i)) {
            let value = new.get(&tc.name).unwrap_or(&Value::Null);
            if !tenant_eq(value, &self.tenant) {
                let msg = if old.is_some() {
                    "changes the tenant column (rows cannot move to another tenant)"
                } else {
                    "row belongs to another tenant"
                };
                violations.push(Violation::new(
                    tc.name.clone(),
                    Rule::Other("tenant".into()),
                    msg,
                ));
            }
        }
        if let Some(model) = t.model
            && let Err(rv) = model.check_row(new, CheckOptions::sandbox())
        {
            for v in rv.violations {
                // A new row leaves what production computes to production.
                let computed = t.schema.column(&v.column).is_some_and(|c| c.computed);
                if computed && new.get(&v.column).is_none_or(Value::is_null) {
                    continue;
                }
                if !violations
                    .iter()
                    .any(|w| w.column == v.column && w.rule == v.rule)
                {
                    violations.push(v);
                }
            }
        }
        let dialect = self.prod.dialect();
        for (name, value) in new.iter() {
            let changed = old.is_none_or(|o| o.get(name) != Some(value));
            if !changed || violations.iter().any(|v| v.column == name) {
                continue;
            }
            if let Some(col) = t.schema.column(name).filter(|c| !c.computed) {
                if value.is_null() && !col.nullable && !(old.is_none() && col.generated) {
                    violations.push(Violation::new(name, Rule::NotNull, "NULL is not allowed"));
                } else if let Err(e) = prod::check_write(dialect, col, value) {
                    violations.push(Violation::new(
                        name,
                        Rule::Other("production_type".into()),
                        e.0,
                    ));
                }
            }
        }
        violations
    }
}

/// A raw sandbox value as its column's kind; one that does not fit stays as
/// it is, with a type violation.
///
/// A float in a decimal column is what SQLite's `+ - *` make of decimal text:
/// it may have lost digits, so it is refused (the column is `ANY` in the
/// sandbox and keeps the float as such), never read back as if exact.
fn typed_value(col: &schema::ColumnSchema, v: Value, violations: &mut Vec<Violation>) -> Value {
    if col.kind == ColumnKind::Decimal && matches!(v, Value::Float(_)) {
        violations.push(Violation::new(
            col.name.clone(),
            Rule::Other("precision".into()),
            format!(
                "decimal computed in floating point (precision lost): compute exactly with \
                 decimal_add({0}, '1'), decimal_sub, decimal_mul or decimal_round, and write \
                 decimals as text ('1.5')",
                col.name
            ),
        ));
        return v;
    }
    match prod::sqlite_value_as(&col.kind, v) {
        Ok(x) => x,
        Err((x, msg)) => {
            violations.push(Violation::new(col.name.clone(), Rule::Type, msg));
            x
        }
    }
}

/// The PII columns of one scoped table as `(table, column)`.
fn pii_of(t: &Scoped) -> Vec<(String, String)> {
    t.pii
        .iter()
        .enumerate()
        .filter(|(_, p)| **p)
        .filter_map(|(pos, _)| t.col(pos))
        .map(|c| (t.schema.name.to_string(), c.name.clone()))
        .collect()
}

fn lock(sandbox: &Mutex<Sandbox>) -> Result<MutexGuard<'_, Sandbox>> {
    sandbox
        .lock()
        .map_err(|_| Error::Sandbox("the sandbox was poisoned by a panic".into()))
}

/// Checks one table against its contract and builds its scope entry.
fn check_table(
    spec: &TableSpec,
    schema: TableSchema,
    model: Option<&'static Model>,
    allow_uncontracted: bool,
    problems: &mut Vec<SchemaProblem>,
) -> Option<Scoped> {
    let table = spec.name.to_string();
    let before = problems.len();
    if model.is_none() && !spec.read_only && !allow_uncontracted {
        problems.push(SchemaProblem::NoContract {
            table: table.clone(),
        });
    }
    let info = model.map(Model::info);
    // Columns in the sandbox: the contract's, or every column without one.
    let wanted: Vec<(String, bool)> = match info {
        Some(info) => info
            .columns
            .iter()
            .map(|c| (c.name.to_owned(), c.pii))
            .collect(),
        None => schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), false))
            .collect(),
    };
    // The tenant column: the one given for the table, else the contract's.
    let tenant_name = spec
        .tenant_column
        .clone()
        .or_else(|| info.map(|i| i.tenant.to_owned()));
    let mut cols = Vec::new();
    let mut pii = Vec::new();
    for (name, is_pii) in &wanted {
        match schema.columns.iter().position(|c| &c.name == name) {
            Some(i) => {
                cols.push(i);
                pii.push(*is_pii);
            }
            // A missing tenant column is reported once, as such, below.
            None if tenant_name.as_ref() == Some(name) => {}
            None => problems.push(SchemaProblem::ContractColumnMissing {
                table: table.clone(),
                column: name.clone(),
            }),
        }
    }
    if let Some(info) = info {
        for c in info.columns {
            if let Some(col) = schema.column(c.name) {
                match col.kind.family() {
                    Some(family) if family != c.sql_type && !compatible(family, c.sql_type) => {
                        problems.push(SchemaProblem::TypeMismatch {
                            table: table.clone(),
                            column: c.name.to_owned(),
                            contract: c.sql_type.name().to_owned(),
                            production: col.declared_type.clone(),
                        });
                    }
                    _ => {}
                }
            }
        }
        for col in &schema.columns {
            if !col.nullable && !col.has_default && info.column(&col.name).is_none() {
                problems.push(SchemaProblem::RequiredColumnNotInContract {
                    table: table.clone(),
                    column: col.name.clone(),
                });
            }
        }
    }
    for &i in &cols {
        if let Some(col) = schema.columns.get(i)
            && let ColumnKind::Unsupported(declared) = &col.kind
        {
            problems.push(SchemaProblem::UnsupportedType {
                table: table.clone(),
                column: col.name.clone(),
                declared: declared.clone(),
            });
        }
    }
    // Key: the table's primary key, or the row key given for it.
    let key_names: Vec<String> = spec
        .row_key
        .clone()
        .unwrap_or_else(|| schema.primary_key.clone());
    if key_names.is_empty() {
        problems.push(SchemaProblem::NoPrimaryKey {
            table: table.clone(),
        });
    }
    if let (Some(info), None) = (info, &spec.row_key) {
        let contract: Vec<String> = info.primary_key.iter().map(|s| (*s).to_owned()).collect();
        if !key_names.is_empty() && contract != key_names {
            problems.push(SchemaProblem::PrimaryKeyMismatch {
                table: table.clone(),
                contract,
                production: key_names.clone(),
            });
        }
    }
    let mut key = Vec::new();
    for k in &key_names {
        match cols
            .iter()
            .position(|&i| schema.columns.get(i).is_some_and(|c| &c.name == k))
        {
            Some(p) => key.push(p),
            None if schema.column(k).is_none() => {
                problems.push(SchemaProblem::ContractColumnMissing {
                    table: table.clone(),
                    column: k.clone(),
                })
            }
            None => problems.push(SchemaProblem::ContractColumnMissing {
                table: table.clone(),
                column: k.clone(),
            }),
        }
    }
    let tenant_col = match &tenant_name {
        Some(name) => match schema.columns.iter().position(|c| &c.name == name) {
            Some(i) => Some(i),
            None => {
                problems.push(SchemaProblem::TenantColumnMissing {
                    table: table.clone(),
                    column: name.clone(),
                });
                None
            }
        },
        // A table refused for want of a contract needs no tenant problem too.
        None if spec.read_only || (model.is_none() && !allow_uncontracted) => None,
        None => {
            problems.push(SchemaProblem::TenantColumnMissing {
                table: table.clone(),
                column: "(none given: set a tenant column for this table)".into(),
            });
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    let generated_key = match key.as_slice() {
        [only] => cols
            .get(*only)
            .and_then(|&i| schema.columns.get(i))
            .filter(|c| c.generated)
            .and_then(|c| provisional_base(&c.kind)),
        _ => None,
    };
    Some(Scoped {
        sandbox_name: schema.name.name.clone(),
        schema,
        model,
        read_only: spec.read_only,
        tenant_col,
        cols,
        pii,
        key,
        generated_key,
    })
}

/// The problems [`ShadowDb::open`] would report for `schema` scoped as a
/// writable table under `model` (for `shadowdb schema`).
pub(crate) fn contract_problems(schema: &TableSchema, model: &'static Model) -> Vec<SchemaProblem> {
    let spec = TableSpec {
        name: schema.name.clone(),
        read_only: false,
        tenant_column: None,
        row_key: None,
    };
    let mut problems = Vec::new();
    let _ = check_table(&spec, schema.clone(), Some(model), false, &mut problems);
    problems
}

/// Families a contract may declare for a column of another family without
/// loss: an integer column read into a decimal field.
fn compatible(production: SqlType, contract: SqlType) -> bool {
    matches!((production, contract), (SqlType::Int, SqlType::Decimal))
}

fn sandbox_table(s: &Scoped, all: &[Scoped], tenant: &Value) -> SandboxTable {
    let columns = s
        .cols
        .iter()
        .zip(&s.pii)
        .filter_map(|(&i, &pii)| {
            s.schema.columns.get(i).map(|c| SandboxColumn {
                name: c.name.clone(),
                kind: c.kind.clone(),
                nullable: c.nullable,
                pii,
                computed: c.computed,
            })
        })
        .collect();
    let tenant_pos = s
        .tenant_col
        .and_then(|ti| s.cols.iter().position(|&i| i == ti));
    let foreign_keys = s
        .schema
        .foreign_keys
        .iter()
        .filter_map(|fk| {
            let parent = all
                .iter()
                .find(|o| s.schema.names_table(&fk.ref_table, &o.schema))?;
            Some(SandboxFk {
                columns: fk.columns.clone(),
                parent: parent.sandbox_name.clone(),
                parent_columns: fk.ref_columns.clone(),
                on_delete: fk_action(fk.on_delete),
                on_update: fk_action(fk.on_update),
            })
        })
        .collect();
    SandboxTable {
        name: s.sandbox_name.clone(),
        columns,
        key: s.key.clone(),
        read_only: s.read_only,
        generated_key: if s.read_only { None } else { s.generated_key },
        tenant: tenant_pos.map(|p| (p, tenant.clone())),
        foreign_keys,
    }
}

/// Streams one table's tenant rows into the sandbox; PII columns are not read.
/// Production is read and decoded on a task of its own while this one loads
/// the sandbox, so the two overlap.
async fn clone_table(
    prod: &Production,
    s: &Scoped,
    i: usize,
    tenant: &Value,
    sandbox: &Mutex<Sandbox>,
) -> Result<(u64, prod::Digests)> {
    let read: Vec<schema::ColumnSchema> = s
        .cols
        .iter()
        .zip(&s.pii)
        .filter(|(_, pii)| !**pii)
        .filter_map(|(&c, _)| s.schema.columns.get(c).cloned())
        .collect();
    let filter = s
        .tenant_col
        .and_then(|c| s.schema.columns.get(c))
        .map(|tc| (tc.clone(), tenant.clone()));
    let (tx, mut rx) = tokio::sync::mpsc::channel(CLONE_QUEUE);
    // Loaded batches go back to the reader to be filled again.
    let (back, mut spare) = tokio::sync::mpsc::unbounded_channel();
    // PII columns are never read; production's digest of each is, to guard
    // them against lost updates at commit.
    let digests = prod::Digests {
        cols: s
            .cols
            .iter()
            .zip(&s.pii)
            .filter(|(_, pii)| **pii)
            .filter_map(|(&c, _)| s.schema.columns.get(c).cloned())
            .collect(),
        key_at: s
            .key
            .iter()
            .filter_map(|&k| s.col(k))
            .filter_map(|k| read.iter().position(|c| c.name == k.name))
            .collect(),
        by_key: HashMap::new(),
    };
    let (prod, schema) = (prod.clone(), s.schema.clone());
    let mut reader = AbortOnDrop(tokio::spawn(async move {
        let cols: Vec<&schema::ColumnSchema> = read.iter().collect();
        let filter = filter.as_ref().map(|(c, v)| (c, v));
        prod::clone_rows(
            &prod,
            &schema,
            &cols,
            filter,
            CLONE_BATCH,
            &tx,
            &mut spare,
            digests,
        )
        .await
    }));
    // An error here drops the reader, which stops it.
    while let Some(mut rows) = rx.recv().await {
        lock(sandbox)?.load(i, &rows)?;
        rows.clear();
        // The reader may be done and gone: then the batch is simply dropped.
        let _ = back.send(rows);
    }
    (&mut reader.0)
        .await
        .map_err(|e| Error::Sandbox(format!("the clone of {} stopped: {e}", s.schema.name)))?
}

/// Batches of cloned rows in flight between the reader and the sandbox.
const CLONE_QUEUE: usize = 4;

/// A task that is stopped when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
