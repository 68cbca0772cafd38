//! `shadowdb rollback`: undo a recorded commit, or list the recorded commits.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::audit::{escape, op_counts, short_time, table_counts};
use super::policy::{PolicyArgs, load};
use super::{Ctx, DbArg, Exit, Failure, aligned, plural};
use crate::audit::CommitRecord;
use crate::prod::redact_url;
use crate::rollback::{CommitSummary, Rollback, RollbackReport};

#[derive(Debug, Clone, Args)]
pub(super) struct RollbackArgs {
    #[command(flatten)]
    db: DbArg,
    /// The commit to roll back (its id, as `run` and `--list` show it).
    #[arg(
        value_name = "ID",
        required_unless_present = "list",
        conflicts_with = "list"
    )]
    commit: Option<String>,
    /// List the recorded commits instead, and the rollback that undid each.
    #[arg(long)]
    list: bool,
    /// Read commits from this JSON Lines audit file, and append the rollback's
    /// record to it (default: production's shadowdb_audit table).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Who rolls back, in the audit trail (default: $USER).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Who approves, when the policy requires approval.
    #[arg(long, value_name = "NAME")]
    approved_by: Option<String>,
    /// Roll back without asking.
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Allow tables without a SafeModel contract; needs --tenant-column.
    #[arg(long)]
    allow_uncontracted: bool,
    /// The tenant column of the tables without a contract.
    #[arg(long, value_name = "COL", requires = "allow_uncontracted")]
    tenant_column: Option<String>,
}

pub(super) async fn rollback(ctx: &mut Ctx<'_, '_>, args: RollbackArgs) -> Result<Exit, Failure> {
    let policy = load(&args.policy)?;
    let prod = super::connect(&args.db.db).await?;
    ctx.detail(&format!(
        "connected to {} ({})",
        redact_url(&args.db.db),
        prod.dialect().name()
    ));
    let actor = args.actor.clone().unwrap_or_else(super::default_actor);
    let mut rollback = Rollback::new(prod.clone()).actor(actor).policy(policy);
    if let Some(path) = &args.file {
        rollback = rollback.from_jsonl(path);
    }
    if args.list {
        let commits = rollback.list().await?;
        list(ctx, &commits);
        return Ok(Exit::Success);
    }
    let Some(commit_id) = args.commit.as_deref() else {
        return Err(Failure::Usage("give a commit ID, or --list".into()));
    };

    // The commit, to name its rows in the prompt; `run` checks it all again.
    let (_, record) = rollback.find(commit_id).await?;
    let record = &record;

    rollback = uncontracted(&args, record, rollback)?;

    let question = format!(
        "Roll back commit {} ({})?",
        escape(commit_id),
        plural(record.rows.len(), "row")
    );
    if args.yes {
        if let Some(who) = &args.approved_by {
            rollback = rollback.approved_by(who.clone());
        }
    } else if ctx.io.interactive {
        if !ctx.confirm(&question)? {
            ctx.note("Not rolled back: declined.");
            return Ok(Exit::NotApproved);
        }
        // Used only if the policy requires approval.
        let who = args
            .approved_by
            .clone()
            .unwrap_or_else(super::run::prompt_user);
        rollback = rollback.approved_by(who);
    } else {
        ctx.note(
            "Not rolled back: there is no terminal to ask for confirmation \
             (pass --yes to roll back without asking).",
        );
        return Ok(Exit::NotApproved);
    }

    let report = rollback.run(commit_id).await?;
    report_rollback(ctx, &report);
    Ok(Exit::Success)
}

/// The tables of the commit without a contract, handled as `run` does.
fn uncontracted(
    args: &RollbackArgs,
    record: &CommitRecord,
    mut rollback: Rollback,
) -> Result<Rollback, Failure> {
    let registry = safemodel::registry();
    let mut uncontracted: Vec<&str> = Vec::new();
    for row in &record.rows {
        if registry.get(&row.table)?.is_none() && !uncontracted.contains(&row.table.as_str()) {
            uncontracted.push(&row.table);
        }
    }
    if args.allow_uncontracted && !uncontracted.is_empty() {
        let Some(col) = &args.tenant_column else {
            return Err(Failure::Usage(format!(
                "`{}` has no contract: --allow-uncontracted needs --tenant-column COL",
                uncontracted.join("`, `")
            )));
        };
        for table in &uncontracted {
            rollback = rollback.tenant_column(table, col);
        }
    }
    Ok(rollback.allow_uncontracted(args.allow_uncontracted))
}

/// What was rolled back, on standard error.
fn report_rollback(ctx: &mut Ctx<'_, '_>, report: &RollbackReport) {
    let total: usize = report.rows.values().map(crate::diff::Counts::total).sum();
    let mut text = format!(
        "Rolled back commit {} ({}).\n",
        escape(&report.commit_id),
        plural(total, "row")
    );
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|(table, c)| vec![escape(table), op_counts(c)])
        .collect();
    text.push_str(&aligned("  ", &rows));
    let _ = write!(text, "Rollback id: {}", report.rollback_id);
    ctx.note(&text);
}

/// The recorded commits as a table, oldest first.
fn list(ctx: &mut Ctx<'_, '_>, commits: &[CommitSummary]) {
    if commits.is_empty() {
        ctx.note("No commits recorded.");
        return;
    }
    let mut rows = vec![
        ["TIME", "COMMIT", "TENANT", "ACTOR", "ROWS", "CHANGES", ""]
            .map(str::to_owned)
            .to_vec(),
    ];
    for c in commits {
        let n: usize = c.rows.values().map(crate::diff::Counts::total).sum();
        rows.push(vec![
            short_time(&c.time),
            escape(&c.commit_id),
            escape(&c.tenant),
            escape(&c.actor),
            crate::render::thousands(n),
            table_counts(&c.rows),
            c.rolled_back_by
                .as_ref()
                .map(|r| format!("rolled back by {}", escape(r)))
                .unwrap_or_default(),
        ]);
    }
    let text = aligned("", &rows);
    ctx.out(&text);
}
