//! Changeset rules: judged on the row diff, before commit.

use std::cmp::Ordering;

use safemodel::{Decimal, Value, compare_decimal};
use serde::Serialize;

use super::{ChangeSetHit, Decision, Policy, Rule};
use crate::diff::{ChangeSet, Op, RowChange};

/// A row-count threshold: more than `above` rows of `op` in one table gives
/// `decision`. `table = "*"` applies to every table, each counted on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Threshold {
    /// A table name (as scoped, case-insensitive) or `*`.
    pub table: String,
    /// The operation counted.
    pub op: Op,
    /// The count that may still pass.
    pub above: usize,
    /// What happens beyond it.
    pub decision: Decision,
}

impl Threshold {
    /// A threshold.
    #[must_use]
    pub fn new(table: impl Into<String>, op: Op, above: usize, decision: Decision) -> Self {
        Threshold {
            table: table.into(),
            op,
            above,
            decision,
        }
    }

    fn applies_to(&self, table: &str) -> bool {
        self.table == "*" || self.table.eq_ignore_ascii_case(table)
    }
}

/// What a column rule checks on every inserted or updated value of the
/// columns it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnCheck {
    /// Integers, floats and exact decimals must be `>= 0` (decimals compared
    /// exactly, never through `f64`; NaN fails). Other types are not checked.
    NonNegative,
    /// An UPDATE must not change the column.
    Immutable,
    /// An INSERT or UPDATE must not set the column to NULL.
    NotNull,
}

impl ColumnCheck {
    /// Every check.
    pub const ALL: [ColumnCheck; 3] = [
        ColumnCheck::NonNegative,
        ColumnCheck::Immutable,
        ColumnCheck::NotNull,
    ];

    /// `non_negative`, `immutable` or `not_null`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ColumnCheck::NonNegative => "non_negative",
            ColumnCheck::Immutable => "immutable",
            ColumnCheck::NotNull => "not_null",
        }
    }

    /// Parses [`ColumnCheck::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<ColumnCheck> {
        ColumnCheck::ALL.into_iter().find(|c| c.name() == name)
    }

    const fn requirement(self) -> &'static str {
        match self {
            ColumnCheck::NonNegative => "must be >= 0",
            ColumnCheck::Immutable => "must not change",
            ColumnCheck::NotNull => "must not be NULL",
        }
    }
}

/// A rule on columns across tables, chosen by name pattern: the seed
/// documents' "glossary policies" (`amount`, `*_cents`, `revenue` >= 0;
/// `email` never changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnRule {
    /// The rule's name; hits are reported as `column_rule:<name>`.
    pub name: String,
    /// Column name patterns: `*` any run of characters, `?` one character,
    /// ASCII case-insensitive (as SQLite column names are).
    pub columns: Vec<String>,
    /// Table name patterns the rule is limited to; empty means every table.
    pub tables: Vec<String>,
    /// What is checked.
    pub check: ColumnCheck,
    /// What a violation gives.
    pub decision: Decision,
}

impl ColumnRule {
    /// A rule on `columns` of every table.
    #[must_use]
    pub fn new<I, S>(
        name: impl Into<String>,
        columns: I,
        check: ColumnCheck,
        decision: Decision,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ColumnRule {
            name: name.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            tables: Vec::new(),
            check,
            decision,
        }
    }

    /// Limits the rule to tables matching `tables`.
    #[must_use]
    pub fn on_tables<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = tables.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the rule covers `table.column`.
    #[must_use]
    pub fn applies_to(&self, table: &str, column: &str) -> bool {
        (self.tables.is_empty() || self.tables.iter().any(|t| glob(t, table)))
            && self.columns.iter().any(|c| glob(c, column))
    }

    fn violated_by(&self, change: &RowChange, column: &str) -> bool {
        match self.check {
            ColumnCheck::Immutable => change.op == Op::Update,
            ColumnCheck::NonNegative => new_value(change, column).is_some_and(is_negative),
            ColumnCheck::NotNull => new_value(change, column).is_some_and(Value::is_null),
        }
    }
}

fn new_value<'a>(change: &'a RowChange, column: &str) -> Option<&'a Value> {
    match change.op {
        Op::Delete => None,
        Op::Insert | Op::Update => change.new.as_ref().and_then(|row| row.get(column)),
    }
}

/// Whether a number is below zero: exact for decimals (`-0.000` is not),
/// NaN and `-Infinity` are, text and other types are not numbers here.
fn is_negative(value: &Value) -> bool {
    match value {
        Value::Int(i) => *i < 0,
        Value::Float(f) => f.is_nan() || *f < 0.0,
        Value::Decimal(d) => match Decimal::new("0") {
            Ok(zero) => match compare_decimal(d, &zero) {
                Some(ord) => ord == Ordering::Less,
                None => d.as_str() != "Infinity",
            },
            Err(_) => d.normalized().starts_with('-') || d.as_str() == "NaN",
        },
        _ => false,
    }
}

/// Glob match, ASCII case-insensitive: `*` any run, `?` one character.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    wildcard(pattern, text, '*', '?')
}

/// Wildcard match, ASCII case-insensitive, with `any` matching any run of
/// characters and `one` exactly one (glob: `*`/`?`, SQL LIKE: `%`/`_`).
/// Backtracks to the last `any` only, so it is linear in practice.
pub(crate) fn wildcard(pattern: &str, text: &str, any: char, one: char) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match (p.get(pi), t.get(ti)) {
            (Some(pc), _) if *pc == any => {
                star = Some((pi, ti));
                pi += 1;
            }
            (Some(pc), Some(tc)) if *pc == one || pc == tc => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == any))
}

pub(crate) fn check(policy: &Policy, changes: &ChangeSet) -> Vec<ChangeSetHit> {
    let mut hits = count_hits(policy, changes);
    hits.extend(column_rule_hits(policy, changes));
    hits
}

/// Per table: read-only mode, row-count thresholds, `require_approval_for`.
fn count_hits(policy: &Policy, changes: &ChangeSet) -> Vec<ChangeSetHit> {
    let mut hits = Vec::new();
    let read_only = policy.decision(Rule::ReadOnly);
    let approval = policy.decision(Rule::ApprovalRequired);
    for (table, counts) in changes.summary() {
        if policy.is_read_only() && counts.total() > 0 && read_only > Decision::Allow {
            hits.push(ChangeSetHit {
                rule: Rule::ReadOnly.id().to_owned(),
                decision: read_only,
                reason: format!(
                    "profile `{}` is read-only and {} row(s) of `{table}` changed",
                    policy.profile(),
                    counts.total()
                ),
                table: table.clone(),
                key: None,
            });
        }
        for op in [Op::Insert, Op::Update, Op::Delete] {
            let n = counts.of(op);
            if n == 0 {
                continue;
            }
            let strictest = policy
                .thresholds()
                .iter()
                .filter(|t| t.op == op && t.applies_to(&table) && n > t.above)
                .max_by_key(|t| (t.decision, t.above));
            if let Some(t) = strictest
                && t.decision > Decision::Allow
            {
                hits.push(ChangeSetHit {
                    rule: "row_threshold".to_owned(),
                    decision: t.decision,
                    reason: format!(
                        "{n} {} row(s) in `{table}`: more than {} (threshold on `{}`)",
                        op.sql_verb(),
                        t.above,
                        t.table
                    ),
                    table: table.clone(),
                    key: None,
                });
            }
            if policy.requires_approval_for(op) && approval > Decision::Allow {
                hits.push(ChangeSetHit {
                    rule: Rule::ApprovalRequired.id().to_owned(),
                    decision: approval,
                    reason: format!(
                        "{n} {} row(s) in `{table}` need approval in profile `{}`",
                        op.sql_verb(),
                        policy.profile()
                    ),
                    table: table.clone(),
                    key: None,
                });
            }
        }
    }
    hits
}

/// Per changed column: the column rules that apply to it and are broken.
fn column_rule_hits(policy: &Policy, changes: &ChangeSet) -> Vec<ChangeSetHit> {
    let mut hits = Vec::new();
    let rules: Vec<&ColumnRule> = policy
        .column_rules()
        .iter()
        .filter(|r| r.decision > Decision::Allow)
        .collect();
    if rules.is_empty() {
        return hits;
    }
    for change in changes.changes() {
        for column in &change.changed {
            for rule in &rules {
                if rule.applies_to(&change.table, column) && rule.violated_by(change, column) {
                    hits.push(ChangeSetHit {
                        rule: format!("column_rule:{}", rule.name),
                        decision: rule.decision,
                        reason: super::one_line(&format!(
                            "{}[{}].{column}: column rule `{}`: {}",
                            change.table,
                            change.key.render(),
                            rule.name,
                            rule.check.requirement()
                        )),
                        table: change.table.clone(),
                        key: Some(change.key.render()),
                    });
                }
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("amount", "AMOUNT"));
        assert!(glob("*_cents", "price_cents"));
        assert!(!glob("*_cents", "cents"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("?d", "id"));
        assert!(!glob("?d", "d"));
        assert!(glob("**x", "x"));
    }

    #[test]
    fn negatives_are_exact() {
        let d = |s: &str| Value::Decimal(Decimal::new(s).unwrap());
        assert!(is_negative(&d("-0.0000000000000000000001")));
        assert!(!is_negative(&d("-0.000")));
        assert!(!is_negative(&d("0")));
        assert!(!is_negative(&d("Infinity")));
        assert!(is_negative(&d("-Infinity")));
        assert!(is_negative(&d("NaN")));
        assert!(is_negative(&Value::Int(-1)));
        assert!(!is_negative(&Value::Float(-0.0)));
        assert!(is_negative(&Value::Float(f64::NAN)));
        assert!(!is_negative(&Value::Text("-5".into())));
    }
}
