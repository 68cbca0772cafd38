//! The effect rule: a write judged by what it did in the sandbox, which no
//! spelling of its WHERE can fool.
//!
//! The syntactic rules `delete_without_where` and `update_without_where` fold
//! the WHERE clause as the policy's parser reads it. SQLite may read it
//! otherwise (`0 = 1 < 0` is true in SQLite), and there is no end of
//! always-true spellings (`~0`, `abs(1)`, a test of the tenant column). So
//! each UPDATE and DELETE (and each INSERT that can replace or update rows)
//! is also judged after it ran in the sandbox, on the rows of its target table
//! it changed: a statement that changed every row of a table holding more
//! than one row, or more rows than the profile's threshold, counts as a write
//! without a real WHERE, under the same rule id and decision.
//!
//! One statement is not the only way to write a whole table: two DELETEs of
//! half the rows each, or an INSERT of a decoy row before a DELETE of every
//! row but it, stay under the per-statement rule. So the same rule is judged
//! once more on the changeset at review, against the rows each table held
//! when the sandbox was cloned: changes that remove every one of them are a
//! write without a real WHERE too.

use serde::Serialize;

use super::{ChangeSetHit, Decision, Policy, Rule, RuleHit};
use crate::diff::{ChangeSet, Op};

/// Thresholds of the effect rule beyond "every row of a table that held more
/// than one row", which always applies. `None` sets no threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WholeTableWrites {
    /// More than this many rows of one table changed by one statement.
    pub above_rows: Option<u64>,
    /// More than this percentage (0 to 100) of one table's rows changed by
    /// one statement.
    pub above_percent: Option<u8>,
}

impl WholeTableWrites {
    /// No threshold: only a statement that changes every row of a table of
    /// more than one row is caught.
    #[must_use]
    pub fn new() -> Self {
        WholeTableWrites::default()
    }

    /// Also catches a statement that changes more than `rows` rows of a table.
    #[must_use]
    pub fn above_rows(mut self, rows: u64) -> Self {
        self.above_rows = Some(rows);
        self
    }

    /// Also catches a statement that changes more than `percent`% of a
    /// table's rows (values above 100 count as 100).
    #[must_use]
    pub fn above_percent(mut self, percent: u8) -> Self {
        self.above_percent = Some(percent.min(100));
        self
    }
}

/// What one statement did to its target table in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteEffect {
    /// The statement's kind as SQLite prepared it. `Insert` is an INSERT that
    /// can replace or update existing rows (`REPLACE`, `ON CONFLICT DO UPDATE`).
    pub op: Op,
    /// The target table (as the agent names it in the sandbox).
    pub table: String,
    /// Rows the table held before the statement.
    pub rows_before: u64,
    /// Rows of those that were cloned, not inserted by the session: a write
    /// of every one of them is a whole-table write too, whatever decoy rows
    /// were inserted first for the statement to leave.
    pub rows_cloned: u64,
    /// Rows of those the statement itself changed or removed (foreign key
    /// actions and triggers count toward their own tables, not this one).
    pub rows_changed: u64,
    /// Rows of those the statement changed or removed that were cloned.
    pub rows_cloned_changed: u64,
}

impl Policy {
    /// The effect rule on one statement that ran in the sandbox: a hit of
    /// `delete_without_where` (DELETE) or `update_without_where` (UPDATE, and
    /// an INSERT that replaced or updated rows) with the profile's decision
    /// for that rule, when the statement changed every row of a table that
    /// held more than one row, or more than a threshold of
    /// [`Policy::whole_table_writes`].
    #[must_use]
    pub fn check_effect(&self, effect: &WriteEffect) -> Option<RuleHit> {
        let (rule, verb, did) = match effect.op {
            Op::Delete => (Rule::DeleteWithoutWhere, "DELETE from", "removed"),
            Op::Update => (Rule::UpdateWithoutWhere, "UPDATE of", "changed"),
            Op::Insert => (
                Rule::UpdateWithoutWhere,
                "INSERT into",
                "replaced or updated",
            ),
        };
        let decision = self.decision(rule);
        if decision == Decision::Allow {
            return None;
        }
        let (before, changed) = (effect.rows_before, effect.rows_changed);
        let table = &effect.table;
        let limits = self.whole_table_writes();
        let reason = if before > 1 && changed >= before {
            format!(
                "{verb} `{table}` {did} every one of its {before} rows in the sandbox: \
                 a write without a real WHERE, whatever the WHERE says"
            )
        } else if effect.rows_cloned > 1 && effect.rows_cloned_changed >= effect.rows_cloned {
            format!(
                "{verb} `{table}` {did} {changed} of its {before} rows in the sandbox, as many as \
                 the {} it holds that were cloned: a write without a real WHERE, whatever the \
                 WHERE says and whatever rows were inserted first",
                effect.rows_cloned
            )
        } else if let Some(n) = limits.above_rows.filter(|n| changed > *n) {
            format!(
                "{verb} `{table}` {did} {changed} rows in one statement, more than the profile's {n}"
            )
        } else if let Some(p) = limits.above_percent.filter(|p| {
            before > 0 && u128::from(changed) * 100 > u128::from(*p) * u128::from(before)
        }) {
            format!(
                "{verb} `{table}` {did} {changed} of its {before} rows in one statement, \
                 more than the profile's {p}%"
            )
        } else {
            return None;
        };
        Some(RuleHit::new(rule.id(), decision, reason))
    }
}

impl Policy {
    /// The effect rule on a whole changeset: for each table of `baseline`
    /// (its name as the changeset names it, and the rows it held when the
    /// sandbox was cloned) that held more than one row, changes that removed
    /// every one of those rows are a `delete_without_where` hit with the
    /// profile's decision for that rule, however many statements they took
    /// and whatever rows the session inserted meanwhile. Updates of every
    /// row by several statements are edits row by row, not caught here (the
    /// profile's row thresholds are the wall there).
    #[must_use]
    pub fn check_whole_tables(
        &self,
        changes: &ChangeSet,
        baseline: &[(String, u64)],
    ) -> Vec<ChangeSetHit> {
        let summary = changes.summary();
        let mut hits = Vec::new();
        for (table, before) in baseline {
            let before = *before;
            let Some(counts) = summary.get(table).filter(|_| before > 1) else {
                continue;
            };
            let deleted = u64::try_from(counts.of(Op::Delete)).unwrap_or(u64::MAX);
            if deleted < before {
                continue;
            }
            let rule = Rule::DeleteWithoutWhere;
            let decision = self.decision(rule);
            if decision == Decision::Allow {
                continue;
            }
            hits.push(ChangeSetHit {
                rule: rule.id().to_owned(),
                decision,
                reason: format!(
                    "{}: the changes remove every one of the {before} rows `{table}` held \
                     in the sandbox: a write without a real WHERE, over however many statements",
                    rule.id()
                ),
                table: table.clone(),
                key: None,
            });
        }
        hits
    }
}
