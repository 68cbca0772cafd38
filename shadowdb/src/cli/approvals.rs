//! `shadowdb approvals`: review the approval requests that `run
//! --approve-in-db` (or any [`DbApprover`](crate::approve::DbApprover))
//! keeps in production's `shadowdb_approvals` table.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use clap::Args;

use super::audit::{escape, short_time};
use super::{Ctx, DbArg, Exit, Failure, aligned};
use crate::approve::{APPROVALS_TABLE, ApprovalStatus, DbApprovals, StoredApproval};
use crate::error::Error;
use crate::model::TableName;
use crate::prod::{Production, redact_url};
use crate::reflect::reflect;

#[derive(Debug, Clone, Args)]
#[command(group(
    clap::ArgGroup::new("action")
        .required(true)
        .args(["list", "show", "approve", "deny"])
))]
pub(super) struct ApprovalsArgs {
    #[command(flatten)]
    db: DbArg,
    /// List the pending requests: id, age, tenant, who asks, time left, reasons.
    #[arg(long)]
    list: bool,
    /// Show one request: its status, reasons and dashboard.
    #[arg(long, value_name = "ID")]
    show: Option<String>,
    /// Approve a pending request.
    #[arg(long, value_name = "ID")]
    approve: Option<String>,
    /// Deny a pending request (needs --reason).
    #[arg(long, value_name = "ID", requires = "reason")]
    deny: Option<String>,
    /// Why the request is denied.
    #[arg(long, value_name = "TEXT", requires = "deny")]
    reason: Option<String>,
    /// Who decides, on the record (default: $USER).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["list", "show"])]
    by: Option<String>,
}

pub(super) async fn approvals(
    ctx: &mut Ctx<'_, '_>,
    args: &ApprovalsArgs,
) -> Result<Exit, Failure> {
    let prod = super::connect(&args.db.db).await?;
    ctx.detail(&format!(
        "connected to {} ({})",
        redact_url(&args.db.db),
        prod.dialect().name()
    ));
    // Reading creates nothing (and read-only credentials can list): without
    // the table nothing is pending. Deciding does not create it either.
    let exists = table_exists(&prod).await?;
    let approvals = DbApprovals::new(prod);
    let by = || args.by.clone().unwrap_or_else(super::default_actor);

    if args.list {
        return print_pending(ctx, &approvals, exists).await;
    }
    if let Some(id) = &args.show {
        return print_request(ctx, &approvals, exists, id).await;
    }
    let not_pending = |id: &str| {
        Failure::Lib(Error::ApprovalNotPending {
            request_id: id.to_owned(),
        })
    };
    if let Some(id) = &args.approve {
        if !exists {
            return Err(not_pending(id));
        }
        let by = by();
        approvals.approve(id, &by).await?;
        ctx.note(&format!(
            "Approved request {} as {}.",
            escape(id),
            escape(&by)
        ));
        return Ok(Exit::Success);
    }
    if let Some(id) = &args.deny {
        let Some(reason) = &args.reason else {
            return Err(Failure::Usage("--deny needs --reason TEXT".into()));
        };
        if !exists {
            return Err(not_pending(id));
        }
        let by = by();
        approvals.deny(id, &by, reason).await?;
        ctx.note(&format!(
            "Denied request {} as {}.",
            escape(id),
            escape(&by)
        ));
        return Ok(Exit::Success);
    }
    Err(Failure::Usage(
        "give --list, --show ID, --approve ID or --deny ID --reason TEXT".into(),
    ))
}

/// `--list`.
async fn print_pending(
    ctx: &mut Ctx<'_, '_>,
    approvals: &DbApprovals,
    exists: bool,
) -> Result<Exit, Failure> {
    let pending = if exists {
        approvals.list_pending().await?
    } else {
        Vec::new()
    };
    if pending.is_empty() {
        ctx.note("No pending approvals.");
    } else {
        let text = list(&pending, Utc::now());
        ctx.out(&text);
    }
    Ok(Exit::Success)
}

/// `--show ID`.
async fn print_request(
    ctx: &mut Ctx<'_, '_>,
    approvals: &DbApprovals,
    exists: bool,
    id: &str,
) -> Result<Exit, Failure> {
    let stored = if exists {
        approvals.get(id).await?
    } else {
        None
    };
    let Some(stored) = stored else {
        return Err(Failure::NotFound(format!(
            "no approval request {} in {APPROVALS_TABLE}",
            escape(id)
        )));
    };
    let text = show(&stored, Utc::now());
    ctx.out(&text);
    Ok(Exit::Success)
}

async fn table_exists(prod: &Production) -> Result<bool, Failure> {
    let name = TableName::parse(APPROVALS_TABLE);
    Ok(reflect(prod, &name).await?.is_some())
}

/// The pending requests as a table, oldest first.
fn list(pending: &[StoredApproval], now: DateTime<Utc>) -> String {
    let mut rows = vec![
        [
            "ID",
            "AGE",
            "TENANT",
            "REQUESTED BY",
            "TIME LEFT",
            "REASONS",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for a in pending {
        rows.push(vec![
            escape(&a.id),
            span(now - a.created_at),
            escape(&a.tenant),
            escape(&a.requested_by),
            span(a.expires_at - now),
            escape(&a.reasons.join("; ")),
        ]);
    }
    aligned("", &rows)
}

/// One request: who, what, where it stands, why, and its dashboard.
fn show(a: &StoredApproval, now: DateTime<Utc>) -> String {
    let status = match a.status {
        ApprovalStatus::Pending if a.expires_at > now => {
            format!("pending, times out in {}", span(a.expires_at - now))
        }
        ApprovalStatus::Pending => "pending, expired (counts as denied)".to_owned(),
        ApprovalStatus::Approved => format!(
            "approved by {}",
            escape(a.decided_by.as_deref().unwrap_or(""))
        ),
        ApprovalStatus::Denied => format!(
            "denied by {}: {}",
            escape(a.decided_by.as_deref().unwrap_or("")),
            escape(a.reason.as_deref().unwrap_or(""))
        ),
        ApprovalStatus::TimedOut => "timed out (not decided in time: denied)".to_owned(),
    };
    let mut rows = vec![
        vec!["tenant:".to_owned(), escape(&a.tenant)],
        vec!["requested by:".to_owned(), escape(&a.requested_by)],
        vec![
            "asked:".to_owned(),
            format!(
                "{} ({} ago)",
                short_time(&a.created_at),
                span(now - a.created_at)
            ),
        ],
        vec!["status:".to_owned(), status],
    ];
    if let Some(at) = &a.decided_at {
        rows.push(vec!["decided:".to_owned(), short_time(at)]);
    }
    let mut out = format!("Approval request {}\n", escape(&a.id));
    out.push_str(&aligned("  ", &rows));
    out.push_str("Reasons:\n");
    if a.reasons.is_empty() {
        out.push_str("  (none recorded)\n");
    }
    for reason in &a.reasons {
        let _ = writeln!(out, "  - {}", escape(reason));
    }
    if !a.summary.is_empty() {
        out.push('\n');
        // Line by line: the dashboard's own line breaks stay, every other
        // control character (an escape sequence's ESC, a carriage return) is
        // written out.
        for line in a.summary.trim_end_matches('\n').split('\n') {
            out.push_str(&escape(line));
            out.push('\n');
        }
    }
    out
}

/// A span to the second, at most two units: `45s`, `4m 05s`, `2h 10m`,
/// `3d 4h`; `0s` for a negative one.
fn span(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins:02}m")
    } else if mins > 0 {
        format!("{mins}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: ApprovalStatus) -> StoredApproval {
        let created = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        StoredApproval {
            id: "req-1".into(),
            tenant: "42".into(),
            requested_by: "agent\u{1b}[31m-7".into(),
            reasons: vec!["deletes need approval".into(), "10 rows".into()],
            summary: "NEEDS APPROVAL\n\u{1b}[2Jwiped\r\n".into(),
            changeset: "{}".into(),
            status,
            decided_by: Some("ops".into()),
            reason: Some("no\nway".into()),
            created_at: created,
            expires_at: created + chrono::TimeDelta::seconds(300),
            decided_at: None,
        }
    }

    #[test]
    fn spans() {
        let s = |n: i64| span(chrono::TimeDelta::seconds(n));
        assert_eq!(s(-5), "0s");
        assert_eq!(s(45), "45s");
        assert_eq!(s(245), "4m 05s");
        assert_eq!(s(7800), "2h 10m");
        assert_eq!(s(3 * 86_400 + 4 * 3600 + 7), "3d 4h");
    }

    #[test]
    fn lists_and_shows_escaped() {
        let a = stored(ApprovalStatus::Pending);
        let now = a.created_at + chrono::TimeDelta::seconds(12);
        assert_eq!(
            list(std::slice::from_ref(&a), now),
            "ID     AGE  TENANT  REQUESTED BY       TIME LEFT  REASONS\n\
             req-1  12s  42      agent\\u{1b}[31m-7  4m 48s     deletes need approval; 10 rows\n"
        );
        assert_eq!(
            show(&a, now),
            "Approval request req-1\n\
            \x20 tenant:        42\n\
            \x20 requested by:  agent\\u{1b}[31m-7\n\
            \x20 asked:         2026-11-23T10:00:00Z (12s ago)\n\
            \x20 status:        pending, times out in 4m 48s\n\
             Reasons:\n\
            \x20 - deletes need approval\n\
            \x20 - 10 rows\n\
             \n\
             NEEDS APPROVAL\n\
             \\u{1b}[2Jwiped\\r\n"
        );
        let denied = show(&stored(ApprovalStatus::Denied), now);
        assert!(
            denied.contains("  status:        denied by ops: no\\nway\n"),
            "{denied}"
        );
    }
}
