//! The SQL policy layer: every statement the agent sends is parsed and judged on
//! its syntax tree before it reaches the sandbox, and every changeset is judged
//! before it may commit.
//!
//! The anchors match SQL text with regular expressions, which `DrOp/**/TABLE`, a
//! newline or a quoted identifier gets through. Here the statement is parsed with
//! `sqlparser` (SQLite dialect: the sandbox is SQLite) and the rules walk the
//! whole tree, CTEs, subqueries and nested statements included. What cannot be
//! parsed is blocked (fail closed), and so is every statement kind outside the
//! allowlist `SELECT`/`WITH`/`VALUES`, `INSERT`, `UPDATE`, `DELETE`.
//!
//! ```
//! use shadowdb::policy::{Decision, Policy, Scope, ScopedTable};
//!
//! let policy = Policy::builtin("dev")?;
//! let scope = Scope::new().with_table(ScopedTable::new("tasks").with_pii(["email"]));
//!
//! let ok = policy.check_sql("UPDATE tasks SET title = 'Done' WHERE id = 3", &scope);
//! assert_eq!(ok[0].decision, Decision::Allow);
//!
//! let bad = policy.check_sql("delete FROM Tasks WHERE 1=1 -- all of them", &scope);
//! assert_eq!(bad[0].decision, Decision::Block);
//! assert_eq!(bad[0].hits[0].rule, "delete_without_where");
//! # Ok::<(), shadowdb::policy::PolicyError>(())
//! ```
//!
//! The sandbox's own hardening (SQLite authorizer, limits) stays as the second
//! wall; changeset rules (row-count thresholds, column rules) are the third.

mod changeset;
mod config;
mod effect;
mod rules;
mod scope;
mod statement;

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::diff::{ChangeSet, Op};

pub use crate::error::PolicyError;
pub use changeset::{ColumnCheck, ColumnRule, Threshold};
pub use effect::{WholeTableWrites, WriteEffect};
pub(crate) use rules::Rule;
pub use rules::{BUILTIN_RULES, RuleInfo};
pub use scope::{Scope, ScopedTable};

/// The environment variable that names the profile when the API does not.
pub const PROFILE_ENV: &str = "SHADOWDB_PROFILE";

/// The profile used when neither the API, the environment nor the file names one.
pub const DEFAULT_PROFILE: &str = "dev";

/// The built-in profiles.
pub const BUILTIN_PROFILES: &[&str] = &["dev", "staging", "prod"];

/// What happens to a statement or a changeset. Ordered by strictness:
/// `Allow < Audit < Warn < RequireApproval < Block`; a statement's decision is
/// the strictest of its rules' decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Runs.
    Allow,
    /// Runs and is recorded.
    Audit,
    /// Runs, is recorded and shown to the reviewer.
    Warn,
    /// Runs in the sandbox; the resulting changeset cannot commit without approval.
    RequireApproval,
    /// Does not run: a typed error names the rule and gives a one-line reason.
    Block,
}

impl Decision {
    /// Every decision, least strict first.
    pub const ALL: [Decision; 5] = [
        Decision::Allow,
        Decision::Audit,
        Decision::Warn,
        Decision::RequireApproval,
        Decision::Block,
    ];

    /// `allow`, `audit`, `warn`, `require_approval` or `block` (the spelling of the
    /// config file and of JSON).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Audit => "audit",
            Decision::Warn => "warn",
            Decision::RequireApproval => "require_approval",
            Decision::Block => "block",
        }
    }

    /// Parses [`Decision::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a statement only reads or may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementKind {
    /// A query that changes nothing.
    Read,
    /// Anything else: DML anywhere in the tree (a CTE-wrapped `DELETE` is a
    /// write), DDL, and every statement that is not understood (fail closed).
    Write,
}

/// One rule that fired on a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleHit {
    /// The stable rule id (`drop`, `outside_scope`, ...; see [`BUILTIN_RULES`]).
    pub rule: String,
    /// What the rule decided (after the profile's overrides).
    pub decision: Decision,
    /// One line, naming tables and columns, never values.
    pub reason: String,
}

impl RuleHit {
    /// A hit.
    #[must_use]
    pub fn new(rule: impl Into<String>, decision: Decision, reason: impl Into<String>) -> Self {
        RuleHit {
            rule: rule.into(),
            decision,
            reason: one_line(&reason.into()),
        }
    }
}

/// The verdict on one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementVerdict {
    /// The statement's text. Judged through a sandbox
    /// ([`Policy::check_statement`]): exactly the text SQLite prepared and ran,
    /// comments included. Judged by [`Policy::check_sql`] alone: the statement
    /// as parsed (sqlparser's rendering); for a script that does not parse,
    /// the whole text.
    pub sql: String,
    /// The strictest decision of the hits, `Allow` when none.
    pub decision: Decision,
    /// Every rule that fired, in the order checked.
    pub hits: Vec<RuleHit>,
    /// Read or write.
    pub kind: StatementKind,
}

impl StatementVerdict {
    fn new(sql: String, hits: Vec<RuleHit>, kind: StatementKind) -> Self {
        let decision = strictest(hits.iter().map(|h| h.decision));
        StatementVerdict {
            sql,
            decision,
            hits,
            kind,
        }
    }

    /// Whether the statement may run (anything but `Block`).
    #[must_use]
    pub fn may_run(&self) -> bool {
        self.decision < Decision::Block
    }

    /// The first hit that blocks, if any.
    #[must_use]
    pub fn blocking_hit(&self) -> Option<&RuleHit> {
        self.hits.iter().find(|h| h.decision == Decision::Block)
    }

    /// Adds a hit found after the statement was judged (the effect rule),
    /// and makes the decision the strictest again.
    pub fn push_hit(&mut self, hit: RuleHit) {
        if hit.decision > Decision::Allow && !self.hits.contains(&hit) {
            self.decision = self.decision.max(hit.decision);
            self.hits.push(hit);
        }
    }
}

/// One changeset rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeSetHit {
    /// The rule id: `row_threshold`, `approval_required`, `column_rule:<name>`,
    /// or a custom rule's name.
    pub rule: String,
    /// What the rule decided.
    pub decision: Decision,
    /// One line naming the table, primary key, column and rule, never a value.
    pub reason: String,
    /// The table (as scoped).
    pub table: String,
    /// The primary key (`id=7`), when the hit is about one row.
    pub key: Option<String>,
}

/// The strictest of some decisions, `Allow` for none.
#[must_use]
pub fn strictest(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    decisions.into_iter().max().unwrap_or(Decision::Allow)
}

/// A statement rule written in Rust and registered with
/// [`Policy::add_statement_rule`]. It sees every top-level statement that
/// parsed, with the scope.
pub trait StatementRule: Send + Sync {
    /// The rule id reported in hits.
    fn name(&self) -> &str;
    /// A hit, or `None` when the statement is fine. A hit whose decision is
    /// `Allow` is dropped.
    fn check(&self, stmt: &sqlparser::ast::Statement, scope: &Scope) -> Option<RuleHit>;
}

/// A changeset rule written in Rust and registered with
/// [`Policy::add_changeset_rule`].
pub trait ChangeSetRule: Send + Sync {
    /// The rule id reported in hits.
    fn name(&self) -> &str;
    /// Every hit (hits whose decision is `Allow` are dropped).
    fn check(&self, changes: &ChangeSet) -> Vec<ChangeSetHit>;
}

/// The resolved rules of one profile: what every built-in rule decides, the
/// read-only switch, the operations that need approval, changeset thresholds
/// and column rules, and any custom rules registered in Rust.
pub struct Policy {
    profile: String,
    origin: String,
    read_only: bool,
    require_approval_for: Vec<Op>,
    decisions: [Decision; Rule::ALL.len()],
    thresholds: Vec<Threshold>,
    whole_table_writes: WholeTableWrites,
    column_rules: Vec<ColumnRule>,
    statement_rules: Vec<Box<dyn StatementRule>>,
    changeset_rules: Vec<Box<dyn ChangeSetRule>>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("profile", &self.profile)
            .field("origin", &self.origin)
            .field("read_only", &self.read_only)
            .field("require_approval_for", &self.require_approval_for)
            .field(
                "rules",
                &Rule::ALL
                    .iter()
                    .map(|r| (r.id(), self.decision(*r)))
                    .collect::<Vec<_>>(),
            )
            .field("thresholds", &self.thresholds)
            .field("whole_table_writes", &self.whole_table_writes)
            .field("column_rules", &self.column_rules)
            .field(
                "statement_rules",
                &self
                    .statement_rules
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>(),
            )
            .field("changeset_rules", &self.changeset_rule_names())
            .finish()
    }
}

impl Policy {
    /// The built-in profile `dev`, `staging` or `prod`:
    /// - `dev`: every rule at its default ([`BUILTIN_RULES`]).
    /// - `staging`: `dev` + `require_approval_for = ["delete"]` + per table, more
    ///   than 10 deleted rows need approval and more than 1,000 are blocked.
    /// - `prod`: `staging`'s thresholds, read-only, and deletes and updates need
    ///   approval (should a file turn read-only off).
    ///
    /// # Errors
    /// [`PolicyError::UnknownProfile`] for any other name.
    pub fn builtin(profile: &str) -> Result<Policy, PolicyError> {
        config::builtin(profile).ok_or_else(|| PolicyError::UnknownProfile {
            profile: profile.to_owned(),
            known: BUILTIN_PROFILES.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    /// The profile `profile` of a `shadowdb.toml` text (see the format in
    /// `shadowdb.example.toml`). Errors name `shadowdb.toml` and the line.
    ///
    /// # Errors
    /// [`PolicyError::Config`] for invalid TOML, unknown keys or bad values;
    /// [`PolicyError::UnknownProfile`].
    pub fn from_toml_str(text: &str, profile: &str) -> Result<Policy, PolicyError> {
        config::from_toml(text, "shadowdb.toml", Some(profile))
    }

    /// The policy in force: the profile named by `profile`, else by the
    /// environment variable `SHADOWDB_PROFILE`, else by the file's
    /// `default_profile`, else `dev`; read from the file at `path`, or the
    /// built-in profiles when there is none.
    ///
    /// # Errors
    /// [`PolicyError::Read`], [`PolicyError::Config`], [`PolicyError::UnknownProfile`].
    pub fn load(path: Option<&Path>, profile: Option<&str>) -> Result<Policy, PolicyError> {
        let env = std::env::var(PROFILE_ENV).ok().filter(|p| !p.is_empty());
        let wanted = profile.map(str::to_owned).or(env);
        match path {
            None => Policy::builtin(wanted.as_deref().unwrap_or(DEFAULT_PROFILE)),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                config::from_toml(&text, &path.display().to_string(), wanted.as_deref())
            }
        }
    }

    /// The profile's name.
    #[must_use]
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Where the profile came from (`built-in`, or the file).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether only reads are allowed.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Turns read-only mode on or off.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Whether a changeset holding `op` rows needs approval (`require_approval_for`).
    #[must_use]
    pub fn requires_approval_for(&self, op: Op) -> bool {
        self.require_approval_for.contains(&op)
    }

    /// The operations that need approval.
    #[must_use]
    pub fn approval_ops(&self) -> &[Op] {
        &self.require_approval_for
    }

    /// Sets the operations that need approval.
    pub fn set_require_approval_for(&mut self, ops: impl IntoIterator<Item = Op>) {
        let mut ops: Vec<Op> = ops.into_iter().collect();
        ops.sort();
        ops.dedup();
        self.require_approval_for = ops;
    }

    /// What the built-in rule `rule` decides in this profile.
    #[must_use]
    pub fn rule_decision(&self, rule: &str) -> Option<Decision> {
        Rule::from_id(rule).map(|r| self.decision(r))
    }

    /// Overrides what the built-in rule `rule` decides.
    ///
    /// # Errors
    /// [`PolicyError::UnknownRule`]; [`PolicyError::FixedRule`] for `parse_error`
    /// and `too_complex` below `block`.
    pub fn set_rule(&mut self, rule: &str, decision: Decision) -> Result<(), PolicyError> {
        let r = Rule::from_id(rule).ok_or_else(|| PolicyError::UnknownRule(rule.to_owned()))?;
        self.set_decision(r, decision)
            .map_err(|()| PolicyError::FixedRule(rule.to_owned()))
    }

    /// The changeset row-count thresholds.
    #[must_use]
    pub fn thresholds(&self) -> &[Threshold] {
        &self.thresholds
    }

    /// Adds a row-count threshold.
    pub fn add_threshold(&mut self, threshold: Threshold) {
        self.thresholds.push(threshold);
    }

    /// The thresholds of the effect rule (see [`Policy::check_effect`]).
    #[must_use]
    pub fn whole_table_writes(&self) -> WholeTableWrites {
        self.whole_table_writes
    }

    /// Sets the thresholds of the effect rule: one statement that changes
    /// more rows of a table than these is judged a write without a real
    /// WHERE (as is, always, one that changes every row of a table of more
    /// than one row).
    pub fn set_whole_table_writes(&mut self, limits: WholeTableWrites) {
        self.whole_table_writes = limits;
    }

    /// The column rules.
    #[must_use]
    pub fn column_rules(&self) -> &[ColumnRule] {
        &self.column_rules
    }

    /// Adds a column rule (replacing one of the same name).
    pub fn add_column_rule(&mut self, rule: ColumnRule) {
        self.column_rules.retain(|r| r.name != rule.name);
        self.column_rules.push(rule);
    }

    /// Registers a custom statement rule.
    pub fn add_statement_rule(&mut self, rule: Box<dyn StatementRule>) {
        self.statement_rules.push(rule);
    }

    /// Registers a custom changeset rule.
    pub fn add_changeset_rule(&mut self, rule: Box<dyn ChangeSetRule>) {
        self.changeset_rules.push(rule);
    }

    /// Judges a script: one verdict per statement, in order. A script that does
    /// not parse gives one `Block` verdict (rule `parse_error`, the parser's
    /// message as reason) and nothing of it may run. An empty script gives none.
    #[must_use]
    pub fn check_sql(&self, sql: &str, scope: &Scope) -> Vec<StatementVerdict> {
        statement::check_script(self, sql, scope)
    }

    /// Judges one statement exactly as SQLite split it from a script (`text`
    /// is the text SQLite prepared, comments included). The verdict's `sql`
    /// is that text without its surrounding whitespace. Where this parser
    /// reads another number of statements in it, the verdict is `parse_error`
    /// (block): the statement judged must be the statement run.
    #[must_use]
    pub fn check_statement(&self, text: &str, scope: &Scope) -> StatementVerdict {
        let sql = text
            .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
            .to_owned();
        let mut verdicts = self.check_sql(text, scope);
        if verdicts.len() == 1
            && let Some(mut v) = verdicts.pop()
        {
            v.sql = sql;
            return v;
        }
        let reason = format!(
            "the policy's parser reads {} statements where SQLite reads one",
            verdicts.len()
        );
        StatementVerdict::new(
            sql,
            vec![RuleHit::new(
                Rule::ParseError.id(),
                self.decision(Rule::ParseError),
                reason,
            )],
            StatementKind::Write,
        )
    }

    /// Judges a changeset: row-count thresholds, `require_approval_for`, column
    /// rules, then custom changeset rules.
    #[must_use]
    pub fn check_changeset(&self, changes: &ChangeSet) -> Vec<ChangeSetHit> {
        let mut hits = changeset::check(self, changes);
        for rule in &self.changeset_rules {
            hits.extend(
                rule.check(changes)
                    .into_iter()
                    .filter(|h| h.decision > Decision::Allow)
                    .map(|mut h| {
                        h.reason = one_line(&h.reason);
                        h
                    }),
            );
        }
        hits
    }

    /// The resolved policy as TOML a person can read (and `from_toml_str` can
    /// read back): read-only mode, approvals, every rule's decision, thresholds,
    /// column rules, and the names of custom rules as comments.
    #[must_use]
    pub fn render(&self) -> String {
        config::render(self)
    }

    pub(crate) fn decision(&self, rule: Rule) -> Decision {
        self.decisions
            .get(rule.index())
            .copied()
            .unwrap_or(Decision::Block)
    }

    pub(crate) fn set_decision(&mut self, rule: Rule, decision: Decision) -> Result<(), ()> {
        if rule.info().fixed && decision != Decision::Block {
            return Err(());
        }
        if let Some(slot) = self.decisions.get_mut(rule.index()) {
            *slot = decision;
        }
        Ok(())
    }

    pub(crate) fn statement_rules(&self) -> &[Box<dyn StatementRule>] {
        &self.statement_rules
    }

    pub(crate) fn changeset_rule_names(&self) -> Vec<&str> {
        self.changeset_rules.iter().map(|r| r.name()).collect()
    }

    /// The `dev` defaults under another name.
    pub(crate) fn defaults(profile: &str, origin: &str) -> Policy {
        let mut decisions = [Decision::Block; Rule::ALL.len()];
        for (slot, rule) in decisions.iter_mut().zip(Rule::ALL) {
            *slot = rule.info().default;
        }
        Policy {
            profile: profile.to_owned(),
            origin: origin.to_owned(),
            read_only: false,
            require_approval_for: Vec::new(),
            decisions,
            thresholds: Vec::new(),
            whole_table_writes: WholeTableWrites::default(),
            column_rules: Vec::new(),
            statement_rules: Vec::new(),
            changeset_rules: Vec::new(),
        }
    }

    pub(crate) fn rename(&mut self, profile: &str, origin: &str) {
        profile.clone_into(&mut self.profile);
        origin.clone_into(&mut self.origin);
    }
}

/// Control characters escaped, so a reason stays on one line whatever
/// identifiers the agent wrote.
pub(crate) fn one_line(s: &str) -> String {
    crate::escape::escape_controls(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_table_matches_enum() {
        assert_eq!(BUILTIN_RULES.len(), Rule::ALL.len());
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Rule::from_id(r.id()), Some(*r));
        }
    }

    #[test]
    fn decisions_order_and_names() {
        assert!(Decision::Allow < Decision::Audit);
        assert!(Decision::Audit < Decision::Warn);
        assert!(Decision::Warn < Decision::RequireApproval);
        assert!(Decision::RequireApproval < Decision::Block);
        for d in Decision::ALL {
            assert_eq!(Decision::from_name(d.name()), Some(d));
        }
        assert_eq!(
            serde_json::to_string(&Decision::RequireApproval).unwrap(),
            "\"require_approval\""
        );
    }

    #[test]
    fn one_line_escapes_controls() {
        assert_eq!(one_line("a\nb"), "a\\nb");
        assert_eq!(one_line("plain"), "plain");
    }
}
