//! `shadowdb audit`: the audit trail, from production or a JSON Lines file.

use std::collections::BTreeMap;

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{Args, ValueEnum};

use super::{Ctx, Exit, Failure, aligned, plural};
use crate::audit::{
    ApprovalOutcome, AuditEvent, AuditKind, AuditKindName, AuditQuery, DbAuditSink, OpCounts,
    query_jsonl,
};
use crate::diff::{Counts, Op};
use crate::prod::redact_url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum AuditFormat {
    /// One line per event, for people.
    Text,
    /// JSON Lines: one event per line, as in an audit file.
    Json,
}

#[derive(Debug, Clone, Args)]
pub(super) struct AuditArgs {
    /// Read production's shadowdb_audit table: a postgres://, mysql://,
    /// mariadb:// or sqlite: URL (default: $DATABASE_URL, unless --file).
    // Not clap's `env`: a DATABASE_URL in the environment would then
    // conflict with --file.
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Read a JSON Lines audit file (as `run --audit-file` writes it).
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    file: Option<PathBuf>,
    /// Only this tenant's events.
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// Only this actor's events.
    #[arg(long, value_name = "A")]
    actor: Option<String>,
    /// Only events of this kind.
    #[arg(long, value_name = "KIND", value_parser = kind_parser())]
    kind: Option<AuditKindName>,
    /// Only the events of this session.
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Only the events about this commit (its commit, failure, rollback).
    #[arg(long, value_name = "ID")]
    commit: Option<String>,
    /// Only events at or after TIME: RFC 3339 (2026-11-23T10:00:00Z) or a
    /// date (2026-11-23, midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    since: Option<DateTime<Utc>>,
    /// Only events before TIME (as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    until: Option<DateTime<Utc>>,
    /// How the events are written.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    format: AuditFormat,
    /// At most N events: the newest N (still written oldest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
}

/// `--kind`: one of [`AuditKindName::ALL`], which a usage error lists.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = AuditKindName> {
    PossibleValuesParser::new(AuditKindName::ALL.map(AuditKindName::name)).try_map(|name| {
        AuditKindName::from_name(&name).ok_or_else(|| format!("unknown event kind `{name}`"))
    })
}

/// `--since`/`--until`: an RFC 3339 instant, or a date (midnight UTC).
fn parse_time_arg(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            "expected an RFC 3339 time (2026-11-23T10:00:00Z) or a date (2026-11-23)".to_owned()
        })
}

/// Text shorter than this is never cut further to fit the width.
const MIN_SQL_WIDTH: usize = 20;

pub(super) async fn audit(ctx: &mut Ctx<'_, '_>, args: &AuditArgs) -> Result<Exit, Failure> {
    let mut query = AuditQuery::new();
    if let Some(t) = &args.tenant {
        query = query.tenant(t.clone());
    }
    if let Some(a) = &args.actor {
        query = query.actor(a.clone());
    }
    if let Some(k) = args.kind {
        query = query.kind(k);
    }
    if let Some(s) = &args.session {
        query = query.session(s.clone());
    }
    if let Some(c) = &args.commit {
        query = query.commit(c.clone());
    }
    if let Some(t) = args.since {
        query = query.since(t);
    }
    if let Some(t) = args.until {
        query = query.until(t);
    }

    // A file given wins over a database from DATABASE_URL.
    let env_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let mut events = match (&args.file, args.db.as_ref().or(env_url.as_ref())) {
        (Some(path), _) => query_jsonl(path, &query)?,
        (None, Some(url)) => {
            let prod = super::connect(url).await?;
            ctx.detail(&format!(
                "connected to {} ({})",
                redact_url(url),
                prod.dialect().name()
            ));
            DbAuditSink::new(prod).query(&query).await?
        }
        (None, None) => {
            return Err(Failure::Usage(
                "give --db URL (or set DATABASE_URL), or --file FILE".into(),
            ));
        }
    };
    if let Some(limit) = args.limit {
        let keep = usize::try_from(limit).unwrap_or(usize::MAX);
        let skip = events.len().saturating_sub(keep);
        events.drain(..skip);
    }

    match args.format {
        AuditFormat::Json => {
            let mut out = String::new();
            for event in &events {
                out.push_str(&event.to_json()?);
                out.push('\n');
            }
            ctx.out(&out);
        }
        AuditFormat::Text => {
            if events.is_empty() {
                ctx.note("No events.");
            } else {
                let text = text_lines(&events, ctx.io.text.width);
                ctx.out(&text);
            }
        }
    }
    Ok(Exit::Success)
}

/// One line per event: time, kind, tenant, actor, what happened; the columns
/// aligned, a statement's SQL cut so the line fits `width`.
pub(super) fn text_lines(events: &[AuditEvent], width: usize) -> String {
    let heads: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                short_time(&e.time),
                e.kind.name().to_owned(),
                escape(&e.tenant),
                escape(&e.actor),
            ]
        })
        .collect();
    // The summary starts after the widest head, as `aligned` lays them out.
    let mut widths = [0_usize; 4];
    for head in &heads {
        for (slot, cell) in widths.iter_mut().zip(head) {
            *slot = (*slot).max(cell.chars().count());
        }
    }
    let indent: usize = widths.iter().map(|w| w + 2).sum();
    let room = width.saturating_sub(indent);
    let rows: Vec<Vec<String>> = events
        .iter()
        .zip(heads)
        .map(|(e, mut head)| {
            head.push(summary(&e.kind, room));
            head
        })
        .collect();
    aligned("", &rows)
}

/// An instant to the second, as RFC 3339 (`--since` takes it back).
pub(super) fn short_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What an event says, in one line of at most about `room` characters (only
/// SQL and free text are cut; ids and counts never are).
fn summary(kind: &AuditKind, room: usize) -> String {
    match kind {
        AuditKind::SandboxOpened { row_counts, .. } => opened_summary(row_counts),
        AuditKind::Statement {
            sql,
            sql_sha256,
            decision,
            ..
        } => {
            let name = decision.name();
            let text = match sql {
                Some(sql) => escape(sql),
                None => format!("(SQL not kept; sha256 {sql_sha256})"),
            };
            let room = room.saturating_sub(name.len() + 2).max(MIN_SQL_WIDTH);
            format!("{name}  {}", cut(&text, room))
        }
        AuditKind::DiffSummary { counts } => diff_summary(counts),
        AuditKind::ApprovalRequested {
            request_id,
            reasons,
            ..
        } => {
            let head = format!("request {request_id}: ");
            let room = room.saturating_sub(head.chars().count()).max(MIN_SQL_WIDTH);
            format!("{head}{}", cut(&escape(&reasons.join("; ")), room))
        }
        AuditKind::ApprovalDecided {
            outcome,
            by,
            reason,
            ..
        } => decided_summary(*outcome, by.as_deref(), reason.as_deref()),
        AuditKind::Commit(record) => {
            let counts = record.counts();
            let n = usize::try_from(record.rows_affected).unwrap_or(usize::MAX);
            format!(
                "commit {}: {} ({})",
                escape(&record.commit_id),
                plural(n, "row"),
                table_counts(&counts)
            )
        }
        AuditKind::CommitFailed { reason, .. } => cut(&escape(reason), room.max(MIN_SQL_WIDTH)),
        AuditKind::Rollback {
            commit_id,
            rollback_id,
            rows_affected,
        } => {
            let n = usize::try_from(*rows_affected).unwrap_or(usize::MAX);
            format!(
                "commit {} rolled back by {} ({})",
                escape(commit_id),
                escape(rollback_id),
                plural(n, "row")
            )
        }
        AuditKind::LimitExceeded { limit, detail } => {
            format!("{}: {}", escape(limit), escape(detail))
        }
    }
}

/// `tasks (3 rows), users (1 row)`.
fn opened_summary(row_counts: &BTreeMap<String, u64>) -> String {
    if row_counts.is_empty() {
        return "no table".to_owned();
    }
    row_counts
        .iter()
        .map(|(table, n)| {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            format!("{} ({})", escape(table), plural(n, "row"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The counts of a diff, as [`table_counts`] writes them.
fn diff_summary(counts: &BTreeMap<String, OpCounts>) -> String {
    let counts: BTreeMap<String, Counts> = counts
        .iter()
        .map(|(t, c)| {
            (
                t.clone(),
                Counts {
                    insert: usize::try_from(c.insert).unwrap_or(usize::MAX),
                    update: usize::try_from(c.update).unwrap_or(usize::MAX),
                    delete: usize::try_from(c.delete).unwrap_or(usize::MAX),
                },
            )
        })
        .collect();
    table_counts(&counts)
}

/// `denied by ana: too many rows`.
fn decided_summary(outcome: ApprovalOutcome, by: Option<&str>, reason: Option<&str>) -> String {
    let mut out = match outcome {
        ApprovalOutcome::Approved => "approved".to_owned(),
        ApprovalOutcome::Denied => "denied".to_owned(),
        ApprovalOutcome::TimedOut => "timed out".to_owned(),
    };
    if let Some(by) = by {
        out.push_str(" by ");
        out.push_str(&escape(by));
    }
    if let Some(reason) = reason {
        out.push_str(": ");
        out.push_str(&escape(reason));
    }
    out
}

/// `tasks: 1 insert, 2 updates; users: 1 delete`.
pub(super) fn table_counts(counts: &BTreeMap<String, Counts>) -> String {
    if counts.is_empty() {
        return "no rows".to_owned();
    }
    counts
        .iter()
        .map(|(table, c)| format!("{}: {}", escape(table), op_counts(c)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `1 insert, 2 updates` (the operations that happened).
pub(super) fn op_counts(c: &Counts) -> String {
    let parts: Vec<String> = [Op::Insert, Op::Update, Op::Delete]
        .into_iter()
        .filter(|op| c.of(*op) > 0)
        .map(|op| plural(c.of(op), op.name()))
        .collect();
    if parts.is_empty() {
        "no rows".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Text safe for a terminal ([`crate::render::escape_controls`]).
pub(super) fn escape(text: &str) -> String {
    crate::render::escape_controls(text).into_owned()
}

/// `text` in at most `max` characters, a cut marked with `…`.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_since_and_until() {
        let t = |s: &str| parse_time_arg(s).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2026-11-23T10:00:00Z"),
            Ok("2026-11-23T10:00:00+00:00".into())
        );
        assert_eq!(
            t("2026-11-23T10:00:00+02:00"),
            Ok("2026-11-23T08:00:00+00:00".into())
        );
        assert_eq!(t("2026-11-23"), Ok("2026-11-23T00:00:00+00:00".into()));
        assert!(t("2026-11-23T10:00:00").is_err());
        assert!(t("yesterday").is_err());
    }

    #[test]
    fn escapes_control_characters() {
        assert_eq!(
            escape("a\nb\t\u{1b}[31mc\u{202e}d é"),
            "a\\nb\\t\\u{1b}[31mc\\u{202e}d é"
        );
    }

    #[test]
    fn cuts_to_width() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdefg", 6), "abcde…");
        assert_eq!(cut("éééé", 3), "éé…");
    }

    #[test]
    fn statement_lines_fit_the_width() {
        use crate::policy::Decision;
        let event = |sql: &str| AuditEvent {
            time: crate::audit::parse_time("2026-11-23T10:00:00.5Z").unwrap(),
            session_id: "s".into(),
            tenant: "42".into(),
            actor: "agent-7".into(),
            kind: AuditKind::Statement {
                sql: Some(sql.into()),
                sql_sha256: "00".into(),
                decision: Decision::Allow,
                hits: Vec::new(),
            },
        };
        let long = format!("UPDATE tasks SET title = '{}'", "x".repeat(200));
        let text = text_lines(&[event("SELECT 1;\nSELECT 2"), event(&long)], 80);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2026-11-23T10:00:00Z  statement  42  agent-7  allow  SELECT 1;\\nSELECT 2"
        );
        assert_eq!(lines[1].chars().count(), 80, "{}", lines[1]);
        assert!(lines[1].ends_with("SET title = '…"), "{}", lines[1]);
    }
}
