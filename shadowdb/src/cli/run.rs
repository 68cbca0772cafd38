//! `shadowdb run`: sandbox, SQL, review, and (maybe) commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use safemodel::{Decimal, Value};

use super::check::verdict_lines;
use super::policy::{PolicyArgs, load_with_settings};
use super::settings::Settings;
use super::{Ctx, DbArg, Exit, Failure, Format, plural};
use crate::ShadowDb;
use crate::approve::{DEFAULT_TIMEOUT, DbApprover};
use crate::audit::{JsonlSink, Redactor};
use crate::diff::Op;
use crate::limits::RateLimiter;
use crate::model::TableName;
use crate::policy::Policy;
use crate::prod::{Production, redact_url};
use crate::reflect::reflect;
use crate::render::{Review, Verdict, render_json_string, render_text};
use crate::sync::{CommitOptions, CommitReport};
use crate::types::ColumnKind;

#[derive(Debug, Clone, Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    db: DbArg,
    /// The tenant whose rows are cloned (read as the tenant column's type).
    #[arg(long, value_name = "VALUE")]
    tenant: String,
    /// A table the SQL may change (repeat, or give several).
    #[arg(long = "table", value_name = "NAME", required = true, num_args = 1..)]
    tables: Vec<String>,
    /// The SQL to run: a file, or - for standard input.
    #[arg(long, value_name = "FILE|-", default_value = "-")]
    sql: PathBuf,
    /// Show the review, commit nothing. Exits 0 if safe to commit, 3 if
    /// blocked, 4 if it needs approval.
    #[arg(long)]
    dry_run: bool,
    /// Commit without asking (a change that needs approval also needs --approved-by).
    #[arg(short, long)]
    yes: bool,
    /// Who approves a change that needs approval, with --yes.
    #[arg(long, value_name = "NAME")]
    approved_by: Option<String>,
    /// How the review is written.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Allow writes to tables without a SafeModel contract (schema, tenant and
    /// policy checks still apply); needs --tenant-column.
    #[arg(long)]
    allow_uncontracted: bool,
    /// The tenant column of the tables without a contract.
    #[arg(long, value_name = "COL", requires = "allow_uncontracted")]
    tenant_column: Option<String>,
    /// Who runs the SQL, in the audit trail and approval requests (default: $USER).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Append the audit trail to this JSON Lines file (created if missing).
    #[arg(long, value_name = "FILE")]
    audit_file: Option<PathBuf>,
    /// Keep the audit trail in production's shadowdb_audit table (created if
    /// missing); the commit's record is written in the commit's transaction.
    #[arg(long)]
    audit_db: bool,
    /// A change that needs approval waits in production's shadowdb_approvals
    /// table until a reviewer decides with `shadowdb approvals` (no prompt).
    #[arg(long, conflicts_with = "approved_by")]
    approve_in_db: bool,
    /// Ask on the terminal (or take --approved-by) even if the --config file
    /// says `[approval] in_database = true`.
    #[arg(long, conflicts_with = "approve_in_db")]
    no_approve_in_db: bool,
    /// How long an approval request waits in the database before it counts
    /// as denied [default: the file's `[approval] timeout`, else 300].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    approval_timeout: Option<u64>,
}

/// What the flags and the `--config` file decide together (a flag given
/// wins over the file).
struct Choices {
    policy: Policy,
    settings: Settings,
    redactor: Option<Redactor>,
    audit_file: Option<PathBuf>,
    audit_db: bool,
    approve_in_db: bool,
    approval_timeout: Duration,
}

impl Choices {
    fn new(args: &RunArgs) -> Result<Choices, Failure> {
        let (policy, settings) = load_with_settings(&args.policy)?;
        Ok(Choices {
            redactor: settings.redactor()?,
            audit_file: args.audit_file.clone().or(settings.audit.file.clone()),
            audit_db: args.audit_db || settings.audit.database,
            approve_in_db: !args.no_approve_in_db
                && (args.approve_in_db
                    || (settings.approval.in_database && args.approved_by.is_none())),
            approval_timeout: args
                .approval_timeout
                .map(Duration::from_secs)
                .or(settings.approval.timeout)
                .unwrap_or(DEFAULT_TIMEOUT),
            policy,
            settings,
        })
    }
}

/// The tables without a contract, and the table and column the tenant is
/// read by (the first contract's, else `--tenant-column` of the first table
/// without one).
struct Contracts {
    uncontracted: Vec<String>,
    tenant_column: Option<(String, String)>,
}

pub(super) async fn run(ctx: &mut Ctx<'_, '_>, args: RunArgs) -> Result<Exit, Failure> {
    let choices = Choices::new(&args)?;
    let sql = ctx.read_sql(&args.sql)?;
    let contracts = contracts(&args)?;

    let prod = super::connect(&args.db.db).await?;
    ctx.detail(&format!(
        "connected to {} ({})",
        redact_url(&args.db.db),
        prod.dialect().name()
    ));
    ctx.detail(&format!(
        "policy: profile `{}` ({})",
        choices.policy.profile(),
        choices.policy.origin()
    ));
    let tenant = tenant_value(&prod, &args.tenant, contracts.tenant_column.as_ref()).await?;
    let recorded = choices.audit_db || choices.audit_file.is_some();
    let approve_in_db = choices.approve_in_db;
    let mut db = open(ctx, &args, choices, &contracts, prod, tenant).await?;

    let executed = db.execute(&sql, &[]).await;
    let log = db.statement_log();
    if ctx.verbose && !log.is_empty() {
        let lines = verdict_lines(&log);
        ctx.note(lines.trim_end());
    }
    for (i, result) in executed.iter().flatten().enumerate() {
        if let Some(cut) = result.rows.as_ref().and_then(|r| r.cut) {
            ctx.note(&format!("note: statement {}: {cut}", i + 1));
        }
    }
    executed?;

    let changeset = db.diff()?;
    let review = db.review(&changeset);
    show_review(ctx, &review, args.format);
    if changeset.is_empty() {
        ctx.note("Nothing to commit.");
        return Ok(Exit::Success);
    }
    let options = match commit_options(ctx, &args, approve_in_db, &review, changeset.len())? {
        Ok(options) => options,
        Err(exit) => return Ok(exit),
    };
    let report = db.commit_with(&changeset, options).await?;
    report_commit(ctx, &report, recorded);
    Ok(Exit::Success)
}

/// Which tables have no contract, and what that needs.
fn contracts(args: &RunArgs) -> Result<Contracts, Failure> {
    let registry = safemodel::registry();
    let mut uncontracted = Vec::new();
    let mut tenant_column = None;
    for table in &args.tables {
        match registry.get(table)? {
            Some(model) => {
                tenant_column
                    .get_or_insert_with(|| (table.clone(), model.info().tenant.to_owned()));
            }
            None => uncontracted.push(table.clone()),
        }
    }
    if args.allow_uncontracted && !uncontracted.is_empty() {
        let Some(col) = &args.tenant_column else {
            return Err(Failure::Usage(format!(
                "`{}` has no contract: --allow-uncontracted needs --tenant-column COL",
                uncontracted.join("`, `")
            )));
        };
        if tenant_column.is_none() {
            tenant_column = uncontracted.first().map(|t| (t.clone(), col.clone()));
        }
    }
    Ok(Contracts {
        uncontracted,
        tenant_column,
    })
}

/// Opens the sandbox as the flags and the file say.
async fn open(
    ctx: &mut Ctx<'_, '_>,
    args: &RunArgs,
    choices: Choices,
    contracts: &Contracts,
    prod: Production,
    tenant: Value,
) -> Result<ShadowDb, Failure> {
    let approver = choices
        .approve_in_db
        .then(|| Arc::new(DbApprover::new(prod.clone())));
    let limits = &choices.settings.limits;
    let mut builder = ShadowDb::builder(prod)
        .tables(args.tables.iter().map(String::as_str))
        .tenant(tenant)
        .policy(choices.policy)
        .allow_uncontracted(args.allow_uncontracted)
        .actor(args.actor.clone().unwrap_or_else(super::default_actor))
        .audit_in_production(choices.audit_db)
        .session_limits(limits.session)
        .limits(limits.sandbox);
    if let Some(path) = &choices.audit_file {
        builder = builder.audit_sink(Arc::new(JsonlSink::open(path)?));
    }
    if let Some(redactor) = choices.redactor {
        builder = builder.redactor(redactor);
    }
    if choices.settings.has_rates() {
        builder = builder.rate_limiter(Arc::new(RateLimiter::new(limits.rates)));
    }
    if let Some(approver) = approver {
        ctx.detail(&format!(
            "approvals: in production's shadowdb_approvals, waiting up to {} s",
            choices.approval_timeout.as_secs_f64()
        ));
        builder = builder
            .approver(approver)
            .approval_timeout(choices.approval_timeout);
    }
    if let Some(col) = &args.tenant_column {
        for table in &contracts.uncontracted {
            builder = builder.tenant_column(table, col);
        }
    }
    let db = builder.open().await?;
    for (table, rows) in &db.clone_stats().tables {
        ctx.detail(&format!(
            "cloned {} of `{table}`",
            plural(usize::try_from(*rows).unwrap_or(usize::MAX), "row")
        ));
    }
    Ok(db)
}

/// The review on standard output.
fn show_review(ctx: &mut Ctx<'_, '_>, review: &Review, format: Format) {
    match format {
        Format::Text => {
            let text = render_text(review, &ctx.io.text);
            ctx.out(&text);
        }
        Format::Json => {
            let mut text = render_json_string(review, true);
            text.push('\n');
            ctx.out(&text);
        }
    }
}

/// Whether to commit a changeset of `changes` rows, and how: the options,
/// or the exit code of not committing (said on standard error).
fn commit_options(
    ctx: &mut Ctx<'_, '_>,
    args: &RunArgs,
    approve_in_db: bool,
    review: &Review,
    changes: usize,
) -> Result<Result<CommitOptions, Exit>, Failure> {
    let verdict_exit = match &review.verdict {
        Verdict::Safe => Exit::Success,
        Verdict::Blocked(_) => Exit::Blocked,
        Verdict::NeedsApproval(_) => Exit::NotApproved,
    };
    if args.dry_run {
        ctx.note("Dry run: nothing was committed.");
        return Ok(Err(verdict_exit));
    }
    if matches!(review.verdict, Verdict::Blocked(_)) {
        ctx.note("Not committed: the change is blocked (see the reasons above).");
        return Ok(Err(Exit::Blocked));
    }
    let needs_approval = matches!(review.verdict, Verdict::NeedsApproval(_));
    let mut options = CommitOptions::new();
    if needs_approval && approve_in_db {
        // The reviewer's decision is the confirmation: the commit asks the
        // DbApprover and waits.
        ctx.note(
            "Waiting for approval in the database \
             (request id shown by `shadowdb approvals --list`)...",
        );
    } else if args.yes {
        if needs_approval {
            let Some(who) = &args.approved_by else {
                ctx.note(
                    "Not committed: the change needs approval, which --yes does not give \
                     (add --approved-by NAME, or answer the prompt on a terminal).",
                );
                return Ok(Err(Exit::NotApproved));
            };
            options = options.approved_by(who.clone());
        }
    } else if ctx.io.interactive {
        let question = format!("Apply {} to production?", plural(changes, "change"));
        if !ctx.confirm(&question)? {
            ctx.note("Not committed: declined.");
            return Ok(Err(Exit::NotApproved));
        }
        if needs_approval {
            let who = args.approved_by.clone().unwrap_or_else(prompt_user);
            options = options.approved_by(who);
        }
    } else {
        ctx.note(
            "Not committed: there is no terminal to ask for confirmation \
             (pass --yes to commit without asking, or --dry-run to only review).",
        );
        return Ok(Err(Exit::NotApproved));
    }
    Ok(Ok(options))
}

/// Who answered the prompt.
pub(super) fn prompt_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown user".to_owned());
    format!("{user} (shadowdb prompt)")
}

/// Reports a commit; `recorded`: the audit trail holds it, so its id (what
/// `shadowdb rollback` takes) is worth showing.
fn report_commit(ctx: &mut Ctx<'_, '_>, report: &CommitReport, recorded: bool) {
    let mut total = 0;
    let mut parts = Vec::new();
    for op in [Op::Insert, Op::Update, Op::Delete] {
        let n: usize = report.rows.values().map(|c| c.of(op)).sum();
        total += n;
        if n > 0 {
            parts.push(plural(n, op.name()));
        }
    }
    ctx.note(&format!(
        "Committed {} to production ({}).",
        plural(total, "change"),
        parts.join(", ")
    ));
    for key in &report.generated_keys {
        ctx.note(&format!(
            "  {}.{}: provisional {} is {} in production",
            key.table, key.column, key.provisional, key.assigned
        ));
    }
    if recorded {
        ctx.note(&format!("Commit id: {}", report.commit_id));
    } else {
        ctx.detail(&format!("commit id {}", report.commit_id));
    }
}

/// The tenant as the tenant column's type: integer, UUID, decimal, else text.
async fn tenant_value(
    prod: &Production,
    text: &str,
    column: Option<&(String, String)>,
) -> Result<Value, Failure> {
    let kind = match column {
        Some((table, col)) => reflect(prod, &TableName::parse(table))
            .await?
            .and_then(|s| {
                s.column(col)
                    .map(|c| (c.kind.clone(), format!("{table}.{col}")))
            }),
        None => None,
    };
    let Some((kind, name)) = kind else {
        // No column to read it by: open reports what is missing.
        return Ok(Value::Text(text.to_owned()));
    };
    let bad = |what: &str| {
        Failure::Usage(format!(
            "--tenant `{text}` is not {what} (the tenant column {name} is)"
        ))
    };
    Ok(match kind {
        ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::UInt64 => {
            Value::Int(text.parse().map_err(|_| bad("an integer"))?)
        }
        ColumnKind::Uuid => Value::Uuid(text.parse().map_err(|_| bad("a UUID"))?),
        ColumnKind::Decimal => match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Decimal(Decimal::new(text).map_err(|_| bad("a decimal"))?),
        },
        _ => Value::Text(text.to_owned()),
    })
}
