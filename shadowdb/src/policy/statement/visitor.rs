//! The walk over one statement's whole tree (CTEs, subqueries, nested
//! statements): statement kinds outside the allowlist, relations outside the
//! scope, functions that leave the sandbox, `SELECT *`, joins without a
//! condition, `UNION ALL`. A statement kind it does not know is a write and
//! is blocked (fail closed); the rules on writes are in [`super::writes`].

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, JoinConstraint, JoinOperator, ObjectName, Query, Select, SelectItem,
    SetExpr, SetOperator, SetQuantifier, Statement, TableFactor, Visitor,
};

use crate::diff::Op;
use crate::policy::scope::display_name;
use crate::policy::{Decision, Policy, Rule, RuleHit, Scope};

/// Functions that reach outside the sandbox (files, extensions, other
/// databases). SQLite's authorizer refuses most of them too; this names them.
const FORBIDDEN_FUNCTIONS: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "zipfile",
    "sqlar_compress",
    "sqlar_uncompress",
    "lsmode",
];

/// Table-valued functions that read only their arguments.
const SAFE_TABLE_FUNCTIONS: &[&str] = &["json_each", "json_tree"];

/// What the walk of one statement has found so far: the rule hits, whether
/// it writes, and which operations it performs.
pub(super) struct Analysis<'a> {
    pub(super) policy: &'a Policy,
    pub(super) scope: &'a Scope,
    pub(super) hits: Vec<RuleHit>,
    pub(super) write: bool,
    pub(super) ops: Vec<Op>,
    /// CTE names visible at this point, one frame per enclosing query.
    pub(super) ctes: Vec<Vec<String>>,
    /// The name of the table factor being visited: its relation is checked
    /// once, by the table factor.
    pub(super) table_factor_name: Option<*const ObjectName>,
    /// `EXISTS (SELECT * ...)`: the star there reads nothing.
    pub(super) exists_selects: Vec<*const Select>,
}

impl<'a> Analysis<'a> {
    pub(super) fn new(policy: &'a Policy, scope: &'a Scope) -> Self {
        Analysis {
            policy,
            scope,
            hits: Vec::new(),
            write: false,
            ops: Vec::new(),
            ctes: Vec::new(),
            table_factor_name: None,
            exists_selects: Vec::new(),
        }
    }

    pub(super) fn hit(&mut self, rule: Rule, reason: String) {
        let decision = self.policy.decision(rule);
        if decision > Decision::Allow {
            self.push(RuleHit::new(rule.id(), decision, reason));
        }
    }

    pub(super) fn push(&mut self, hit: RuleHit) {
        if !self.hits.contains(&hit) {
            self.hits.push(hit);
        }
    }

    fn is_cte(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else {
            return false;
        };
        let Some(ident) = part.as_ident() else {
            return false;
        };
        self.ctes
            .iter()
            .flatten()
            .any(|cte| cte.eq_ignore_ascii_case(&ident.value))
    }

    /// A table read (or the relation of a write, seen by the tree walk).
    pub(super) fn read_relation(&mut self, name: &ObjectName) {
        if self.is_cte(name) || self.scope.resolve(name).is_some() {
            return;
        }
        self.outside(name);
    }

    pub(super) fn outside(&mut self, name: &ObjectName) {
        self.hit(
            Rule::OutsideScope,
            format!("table `{}` is outside the scope", display_name(name)),
        );
    }

    fn statement(&mut self, stmt: &Statement) {
        match stmt {
            Statement::Query(_) => {}
            Statement::Insert(insert) => self.insert(insert),
            Statement::Update(update) => self.update(update),
            Statement::Delete(delete) => self.delete(delete),
            Statement::Drop { .. } => self.not_allowed(Rule::Drop, stmt),
            Statement::Truncate(_) => self.not_allowed(Rule::Truncate, stmt),
            Statement::AlterTable(_) | Statement::RenameTable(_) => {
                self.not_allowed(Rule::Alter, stmt);
            }
            Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::CreateTrigger(_)
            | Statement::CreateVirtualTable { .. } => self.not_allowed(Rule::Create, stmt),
            Statement::AttachDatabase { .. }
            | Statement::AttachDuckDBDatabase { .. }
            | Statement::DetachDuckDBDatabase { .. } => self.not_allowed(Rule::Attach, stmt),
            Statement::Pragma { .. } => self.not_allowed(Rule::Pragma, stmt),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => self.not_allowed(Rule::Transaction, stmt),
            Statement::Vacuum(_) => self.not_allowed(Rule::Vacuum, stmt),
            other => {
                let text = other.to_string();
                let rule = match leading_word(&text).as_str() {
                    "DROP" => Rule::Drop,
                    "TRUNCATE" => Rule::Truncate,
                    "ALTER" | "RENAME" => Rule::Alter,
                    "CREATE" => Rule::Create,
                    "ATTACH" | "DETACH" => Rule::Attach,
                    "PRAGMA" => Rule::Pragma,
                    "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
                        Rule::Transaction
                    }
                    "VACUUM" => Rule::Vacuum,
                    _ => Rule::StatementKind,
                };
                self.not_allowed_text(rule, &text);
            }
        }
    }

    fn not_allowed(&mut self, rule: Rule, stmt: &Statement) {
        let text = stmt.to_string();
        self.not_allowed_text(rule, &text);
    }

    fn not_allowed_text(&mut self, rule: Rule, text: &str) {
        self.write = true;
        let word = leading_word(text);
        let reason = match rule {
            Rule::StatementKind => format!(
                "`{word}` statements are not in the allowlist (SELECT, WITH, VALUES, INSERT, UPDATE, DELETE)"
            ),
            Rule::Transaction => {
                "transaction control is the sandbox's job, not the agent's".to_owned()
            }
            _ => format!("{} statements are not allowed", leading_words(text)),
        };
        self.hit(rule, reason);
    }

    fn set_operations(&mut self, body: &SetExpr) {
        if let SetExpr::SetOperation {
            left,
            op,
            set_quantifier,
            right,
        } = body
        {
            if *op == SetOperator::Union
                && matches!(
                    set_quantifier,
                    SetQuantifier::All | SetQuantifier::AllByName
                )
            {
                self.hit(
                    Rule::UnionAll,
                    "UNION ALL keeps duplicate rows; check that is intended".to_owned(),
                );
            }
            self.set_operations(left);
            self.set_operations(right);
        }
    }

    fn select(&mut self, select: &Select) {
        let in_exists = self.exists_selects.iter().any(|p| std::ptr::eq(*p, select));
        if !in_exists
            && select.projection.iter().any(|i| {
                matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            })
        {
            self.hit(
                Rule::SelectStar,
                "SELECT * reads every column; name the columns".to_owned(),
            );
        }
        if select.into.is_some() {
            self.write = true;
            self.hit(Rule::Create, "SELECT INTO creates a table".to_owned());
        }
        if select.from.len() > 1
            && !select
                .selection
                .as_ref()
                .is_some_and(|w| has_join_condition(w, 0))
        {
            self.hit(
                Rule::CartesianJoin,
                format!(
                    "comma join of {} tables without a join condition",
                    select.from.len()
                ),
            );
        }
        for twj in &select.from {
            for join in &twj.joins {
                let constraint = match &join.join_operator {
                    JoinOperator::CrossJoin(_) => {
                        self.hit(
                            Rule::CartesianJoin,
                            format!(
                                "CROSS JOIN {} pairs every row with every row",
                                join.relation
                            ),
                        );
                        continue;
                    }
                    JoinOperator::Join(c)
                    | JoinOperator::Inner(c)
                    | JoinOperator::Left(c)
                    | JoinOperator::LeftOuter(c)
                    | JoinOperator::Right(c)
                    | JoinOperator::RightOuter(c)
                    | JoinOperator::FullOuter(c)
                    | JoinOperator::StraightJoin(c) => c,
                    _ => continue,
                };
                if matches!(constraint, JoinConstraint::None) {
                    self.hit(
                        Rule::CartesianJoin,
                        format!("JOIN {} has no join condition", join.relation),
                    );
                }
            }
        }
    }

    fn table_factor(&mut self, factor: &TableFactor) {
        match factor {
            TableFactor::Table { name, args, .. } => {
                self.table_factor_name = Some(std::ptr::from_ref(name));
                match args {
                    None => self.read_relation(name),
                    Some(_) => {
                        let fname = display_name(name);
                        let safe = name.0.len() == 1
                            && SAFE_TABLE_FUNCTIONS
                                .iter()
                                .any(|f| f.eq_ignore_ascii_case(&fname));
                        if !safe {
                            self.hit(
                                Rule::OutsideScope,
                                format!("table-valued function `{fname}` is outside the scope"),
                            );
                        }
                    }
                }
            }
            TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. }
            | TableFactor::MatchRecognize { .. } => {}
            other => self.hit(
                Rule::OutsideScope,
                format!("table function `{other}` is outside the scope"),
            ),
        }
    }

    fn function(&mut self, name: &ObjectName) {
        let Some(last) = name.0.last().and_then(|p| p.as_ident()) else {
            return;
        };
        if FORBIDDEN_FUNCTIONS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&last.value))
        {
            self.hit(
                Rule::ForbiddenFunction,
                format!(
                    "function `{}` reaches outside the sandbox",
                    last.value.to_ascii_lowercase()
                ),
            );
        }
    }
}

impl Visitor for Analysis<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.statement(statement);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let names = query
            .with
            .as_ref()
            .map(|w| {
                w.cte_tables
                    .iter()
                    .map(|c| c.alias.name.value.clone())
                    .collect()
            })
            .unwrap_or_default();
        self.ctes.push(names);
        self.set_operations(&query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        self.select(select);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        self.table_factor(factor);
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let seen = self
            .table_factor_name
            .take()
            .is_some_and(|p| std::ptr::eq(p, relation));
        if !seen {
            self.read_relation(relation);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) => self.function(&f.name),
            Expr::Exists { subquery, .. } => {
                if let SetExpr::Select(select) = subquery.body.as_ref() {
                    self.exists_selects
                        .push(std::ptr::from_ref(select.as_ref()));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn leading_word(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// `CREATE TABLE`, `DROP VIEW`: the statement's first two words when both are keywords.
fn leading_words(text: &str) -> String {
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("").to_ascii_uppercase();
    match words.next() {
        Some(second)
            if second.len() > 1 && second.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            format!("{first} {second}")
        }
        _ => first,
    }
}

/// Whether a comma join's WHERE relates two different columns (`a.x = b.y`)
/// anywhere in its top-level AND/OR structure.
fn has_join_condition(expr: &Expr, depth: usize) -> bool {
    if depth > 64 {
        return true;
    }
    match expr {
        Expr::Nested(e) => has_join_condition(e, depth + 1),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And | BinaryOperator::Or => {
                has_join_condition(left, depth + 1) || has_join_condition(right, depth + 1)
            }
            BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq => is_column(left) && is_column(right) && left != right,
            _ => false,
        },
        _ => false,
    }
}

fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}
