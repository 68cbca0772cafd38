//! Opening a session: the builder's calls resolved, every table reflected
//! and checked against its contract, the sandbox built with each table's
//! walls, the tenant's rows cloned, and the audit trail started.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use safemodel::{Value, registry};

use super::clone::clone_table;
use super::{CloneStats, OpenOptions, ShadowDb, lock, pii_of};
use crate::audit::{AuditKind, AuditTrail, DbAuditSink};
use crate::error::{Error, Result, SchemaProblem};
use crate::limits::SessionGuard;
use crate::model::FkAction;
use crate::policy::{Policy, Scope, ScopedTable};
use crate::prod::{self, Production};
use crate::sandbox::{Sandbox, SandboxColumn, SandboxFk, SandboxTable};
use crate::scope::{Scoped, TableSpec, check_table};
use crate::types::Dialect;

impl ShadowDb {
    pub(super) async fn open(mut opts: OpenOptions) -> Result<ShadowDb> {
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
        let (mut scoped, outside_refs) = opts.scope().await?;
        note_unguarded_pii(opts.prod.dialect(), &mut scoped);
        let sandbox_tables: Vec<SandboxTable> = scoped
            .iter()
            .map(|s| sandbox_table(s, &scoped, &tenant))
            .collect();
        let sandbox = Mutex::new(Sandbox::new(sandbox_tables, opts.limits)?);
        let mut stats = CloneStats::default();
        let mut pii_digests = HashMap::new();
        for (i, s) in scoped.iter().enumerate() {
            let (n, digests) = clone_table(&opts.prod, s, i, &tenant, &sandbox).await?;
            if !digests.cols.is_empty() {
                pii_digests.insert(s.schema.name.to_string(), digests);
            }
            stats.tables.push((s.schema.name.to_string(), n));
        }
        lock(&sandbox)?.seal()?;
        stats.elapsed = started.elapsed();

        let scope = policy_scope(&scoped);
        tracing::info!(tables = ?stats.tables, elapsed_ms = stats.elapsed.as_millis(), "sandbox opened");
        let audit = start_audit(&mut opts, &tenant, &scoped, &stats).await?;
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
}

impl OpenOptions {
    /// The tables in scope, reflected and checked against their contracts,
    /// and the foreign keys onto tenant tables outside the scope. A rollback
    /// scopes its tables with this alone (it clones no rows).
    ///
    /// # Errors
    /// As [`OpenOptions::open`], before the sandbox exists.
    pub(crate) async fn scope(&self) -> Result<(Vec<Scoped>, Vec<crate::sync::OutsideRef>)> {
        let (specs, outside_tenants) = self.resolve_tables()?;
        let mut scoped = scope_tables(&self.prod, &specs, self.allow_uncontracted).await?;
        let outside_refs =
            crate::sync::outside_refs(&self.prod, &mut scoped, &outside_tenants).await?;
        Ok((scoped, outside_refs))
    }
}

/// Reflects each table and checks it against its contract (the one bound to
/// it, else the registry's by the table's name), every problem of every
/// table listed at once.
async fn scope_tables(
    prod: &Production,
    specs: &[TableSpec],
    allow_uncontracted: bool,
) -> Result<Vec<Scoped>> {
    let reg = registry();
    let mut problems = Vec::new();
    let mut scoped = Vec::new();
    for spec in specs {
        let table = spec.name.to_string();
        let Some(schema) = crate::reflect::reflect(prod, &spec.name).await? else {
            problems.push(SchemaProblem::TableMissing { table });
            continue;
        };
        let model = match spec.contract {
            Some(model) => Some(model),
            None => reg.get(&table)?,
        };
        if let Some(s) = check_table(spec, schema, model, allow_uncontracted, &mut problems) {
            scoped.push(s);
        }
    }
    let mut seen = HashSet::new();
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
    Ok(scoped)
}

/// Says, for each writable table, which PII columns a commit cannot guard
/// against concurrent changes where production has no hash to compare them by.
fn note_unguarded_pii(dialect: Dialect, scoped: &mut [Scoped]) {
    if prod::digest_expr(dialect, "x").is_some() {
        return;
    }
    for s in scoped.iter_mut().filter(|s| !s.read_only) {
        let pii: Vec<&str> = s.pii_columns().map(|c| c.name.as_str()).collect();
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

/// The policy's view of the scope: each table's sandbox name, PII columns,
/// tenant column, and whether it is read-only.
fn policy_scope(scoped: &[Scoped]) -> Scope {
    let mut scope = Scope::new();
    for s in scoped {
        let mut t = ScopedTable::new(s.sandbox_name.clone())
            .with_pii(s.pii_columns().map(|c| c.name.clone()));
        if s.read_only {
            t = t.read_only();
        }
        if let Some(tc) = s.tenant_column() {
            t = t.with_tenant_column(tc.name.clone());
        }
        scope.push(t);
    }
    scope
}

/// The session's audit trail with the sinks given (production's table
/// created when missing), the opening recorded unless nothing was cloned.
async fn start_audit(
    opts: &mut OpenOptions,
    tenant: &Value,
    scoped: &[Scoped],
    stats: &CloneStats,
) -> Result<AuditTrail> {
    let pii: Vec<(String, String)> = scoped.iter().flat_map(pii_of).collect();
    let mut audit = AuditTrail::new(tenant.to_string(), opts.actor.clone())
        .with_redactor(std::mem::take(&mut opts.redactor))
        .with_pii(pii);
    for sink in std::mem::take(&mut opts.audit_sinks) {
        audit = audit.with_sink(sink);
    }
    if opts.audit_in_production {
        let db = DbAuditSink::new(opts.prod.clone());
        db.ensure_table().await?;
        audit = audit.with_database(Arc::new(db));
    }
    audit
        .record(AuditKind::sandbox_opened(
            stats.tables.iter().cloned().collect(),
        ))
        .await?;
    Ok(audit)
}

/// A foreign key's action as the sandbox's DDL writes it.
fn fk_action(a: FkAction) -> &'static str {
    match a {
        FkAction::Restrict => "NO ACTION",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
    }
}

/// The sandbox's definition of one scoped table: its columns, key, tenant,
/// and the foreign keys onto other scoped tables.
fn sandbox_table(s: &Scoped, all: &[Scoped], tenant: &Value) -> SandboxTable {
    let columns = s
        .columns_with_pii()
        .map(|(c, pii)| SandboxColumn {
            name: c.name.clone(),
            kind: c.kind.clone(),
            nullable: c.nullable,
            pii,
            computed: c.computed,
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
        key: s.key.iter().map(|p| p.0).collect(),
        read_only: s.read_only,
        generated_key: if s.read_only { None } else { s.generated_key },
        tenant: tenant_pos.map(|p| (p, tenant.clone())),
        foreign_keys,
    }
}
