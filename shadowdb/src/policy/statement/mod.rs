//! Statement rules: parse the script, then walk the whole syntax tree of each
//! statement (CTEs, subqueries, nested statements) and collect rule hits.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, CastKind, DataType, Delete, Expr, FromTable, FunctionArg,
    FunctionArgExpr, FunctionArguments, Insert, JoinConstraint, JoinOperator, ObjectName,
    OnConflictAction, OnInsert, Query, Select, SelectItem, SetExpr, SetOperator, SetQuantifier,
    SqliteOnConflict, Statement, TableFactor, TableObject, TableWithJoins, UnaryOperator, Update,
    Value, Visit, Visitor,
};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::scope::{ScopedTable, display_name};
use super::{Decision, Policy, Rule, RuleHit, Scope, StatementKind, StatementVerdict};
use crate::diff::Op;

/// Scripts larger than this are not parsed at all.
pub(crate) const MAX_SQL_BYTES: usize = 1 << 20;

/// Up to this parse cost (see [`Nesting`]) a script is checked on the caller's
/// stack; above it, on a thread with [`DEEP_STACK`] bytes of stack.
///
/// sqlparser's recursive descent uses large frames: an unoptimised build
/// overflows a 2 MiB thread stack (the size of test and tokio worker threads)
/// at about 11 nested derived tables or 20 nested `NOT`s, within its own
/// recursion limit of 50. An optimised build reaches that limit first. And
/// chains like `1+1+1...` or `a UNION b UNION c...` are parsed in a loop but
/// built as a left-deep tree, over which `Display`, `Visit`, `Clone` and
/// `PartialEq` recurse: near depth 200 for an unoptimised build, 5,000 for an
/// optimised one. A stack overflow aborts the process, so the cost is bounded
/// before parsing.
const INLINE_COST: usize = if cfg!(debug_assertions) { 24 } else { 400 };

/// Above this nesting depth (see [`Nesting`]) a script is blocked as `too_complex`.
const MAX_NESTING: usize = 2048;

/// Virtual size of the stack for deep scripts (committed only as touched).
const DEEP_STACK: usize = 64 << 20;

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

pub(crate) fn check_script(policy: &Policy, sql: &str, scope: &Scope) -> Vec<StatementVerdict> {
    // SQLite stops reading at a NUL where this parser reads on: the two would
    // judge and run different statements.
    if let Some(offset) = sql.find('\0') {
        return vec![whole_script_blocked(
            policy,
            &sql.replace('\0', "\\0"),
            Rule::ParseError,
            format!(
                "a NUL byte at byte {offset}: SQLite stops reading there, so the whole script is refused"
            ),
        )];
    }
    if sql.len() > MAX_SQL_BYTES {
        return vec![whole_script_blocked(
            policy,
            sql,
            Rule::TooComplex,
            format!(
                "the SQL is {} bytes; at most {MAX_SQL_BYTES} are checked",
                sql.len()
            ),
        )];
    }
    let dialect = SQLiteDialect {};
    let tokens = match Tokenizer::new(&dialect, sql).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(e) => {
            return vec![whole_script_blocked(
                policy,
                sql,
                Rule::ParseError,
                format!("sql parser error: {e}"),
            )];
        }
    };
    let nesting = Nesting::of(&tokens);
    if nesting.cost <= INLINE_COST {
        return parse_and_check(policy, sql, tokens, scope);
    }
    let too_complex = |why: &str| {
        vec![whole_script_blocked(
            policy,
            sql,
            Rule::TooComplex,
            format!("the SQL is nested too deep to check ({why})"),
        )]
    };
    if nesting.depth > MAX_NESTING {
        return too_complex(&format!(
            "depth estimate {}, limit {MAX_NESTING}",
            nesting.depth
        ));
    }
    let outcome = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("shadowdb-policy".to_owned())
            .stack_size(DEEP_STACK)
            .spawn_scoped(s, || parse_and_check(policy, sql, tokens, scope))
            .map(|handle| handle.join())
    });
    match outcome {
        Ok(Ok(verdicts)) => verdicts,
        Ok(Err(_)) => too_complex("the checker failed"),
        Err(_) => too_complex("no thread for a deep check"),
    }
}

fn parse_and_check(
    policy: &Policy,
    sql: &str,
    tokens: Vec<TokenWithSpan>,
    scope: &Scope,
) -> Vec<StatementVerdict> {
    let dialect = SQLiteDialect {};
    let statements = match Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
    {
        Ok(statements) => statements,
        Err(e) => {
            return vec![whole_script_blocked(
                policy,
                sql,
                Rule::ParseError,
                e.to_string(),
            )];
        }
    };
    statements
        .iter()
        .map(|stmt| check_statement(policy, stmt, scope))
        .collect()
}

fn whole_script_blocked(
    policy: &Policy,
    sql: &str,
    rule: Rule,
    reason: String,
) -> StatementVerdict {
    StatementVerdict::new(
        sql.trim().to_owned(),
        vec![RuleHit::new(rule.id(), policy.decision(rule), reason)],
        StatementKind::Write,
    )
}

/// Bounds on what the tokens can make the parser and the tree walks do.
///
/// Parentheses, brackets and braces nest (the parser's recursion limit bounds
/// them too); within one nesting level every operator token (any punctuation,
/// and the keywords that continue an expression or a set operation) may add a
/// level to the tree, until a comma starts a sibling expression. `depth` is the
/// largest sum over the open levels, counting each token once; `cost` weighs
/// the tokens by the stack the parser spends on them (an open parenthesis 10,
/// `NOT` and `CASE` 5, a sign 2, any other operator 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nesting {
    pub(crate) depth: usize,
    pub(crate) cost: usize,
}

impl Nesting {
    pub(crate) fn of(tokens: &[TokenWithSpan]) -> Nesting {
        // Per open level: (depth, cost) added since its last comma.
        let mut levels: Vec<(usize, usize)> = vec![(0, 0)];
        let (mut depth, mut cost) = (0usize, 0usize);
        let mut max = Nesting { depth: 0, cost: 0 };
        for t in tokens {
            let weight = match &t.token {
                Token::Whitespace(_)
                | Token::EOF
                | Token::Number(..)
                | Token::Char(_)
                | Token::SingleQuotedString(_)
                | Token::DoubleQuotedString(_)
                | Token::SingleQuotedByteStringLiteral(_)
                | Token::DoubleQuotedByteStringLiteral(_)
                | Token::NationalStringLiteral(_)
                | Token::EscapedStringLiteral(_)
                | Token::HexStringLiteral(_)
                | Token::Placeholder(_) => 0,
                Token::Word(w) if w.quote_style.is_none() => match w.keyword {
                    Keyword::NOT | Keyword::CASE => 5,
                    k if is_operator_keyword(k) => 1,
                    _ => 0,
                },
                Token::Word(_) => 0,
                Token::Comma => {
                    if let Some((d, c)) = levels.last_mut() {
                        depth = depth.saturating_sub(*d);
                        cost = cost.saturating_sub(*c);
                        (*d, *c) = (0, 0);
                    }
                    0
                }
                Token::SemiColon => {
                    levels.clear();
                    levels.push((0, 0));
                    (depth, cost) = (0, 0);
                    0
                }
                Token::LParen | Token::LBracket | Token::LBrace => {
                    add(&mut levels, &mut depth, &mut cost, 10);
                    levels.push((0, 0));
                    0
                }
                Token::RParen | Token::RBracket | Token::RBrace => {
                    if levels.len() > 1
                        && let Some((d, c)) = levels.pop()
                    {
                        depth = depth.saturating_sub(d);
                        cost = cost.saturating_sub(c);
                    }
                    0
                }
                Token::Minus | Token::Plus | Token::Tilde => 2,
                _ => 1,
            };
            if weight > 0 {
                add(&mut levels, &mut depth, &mut cost, weight);
            }
            max.depth = max.depth.max(depth + levels.len());
            max.cost = max.cost.max(cost + levels.len());
            if max.depth > MAX_NESTING {
                break;
            }
        }
        max
    }
}

fn add(levels: &mut [(usize, usize)], depth: &mut usize, cost: &mut usize, weight: usize) {
    if let Some((d, c)) = levels.last_mut() {
        *d += 1;
        *c += weight;
        *depth += 1;
        *cost += weight;
    }
}

fn is_operator_keyword(k: Keyword) -> bool {
    matches!(
        k,
        Keyword::AND
            | Keyword::OR
            | Keyword::XOR
            | Keyword::NOT
            | Keyword::IS
            | Keyword::NOTNULL
            | Keyword::IN
            | Keyword::BETWEEN
            | Keyword::LIKE
            | Keyword::ILIKE
            | Keyword::RLIKE
            | Keyword::GLOB
            | Keyword::REGEXP
            | Keyword::MATCH
            | Keyword::SIMILAR
            | Keyword::ESCAPE
            | Keyword::COLLATE
            | Keyword::DIV
            | Keyword::AT
            | Keyword::MEMBER
            | Keyword::OVERLAPS
            | Keyword::OPERATOR
            | Keyword::UNION
            | Keyword::EXCEPT
            | Keyword::INTERSECT
            | Keyword::MINUS
            | Keyword::CASE
    )
}

fn check_statement(policy: &Policy, stmt: &Statement, scope: &Scope) -> StatementVerdict {
    let mut a = Analysis {
        policy,
        scope,
        hits: Vec::new(),
        write: false,
        ops: Vec::new(),
        ctes: Vec::new(),
        table_factor_name: None,
        exists_selects: Vec::new(),
    };
    let _ = stmt.visit(&mut a);
    if a.write && policy.is_read_only() {
        a.hit(
            Rule::ReadOnly,
            format!(
                "profile `{}` is read-only and this statement writes",
                policy.profile()
            ),
        );
    }
    let mut ops = std::mem::take(&mut a.ops);
    ops.sort();
    ops.dedup();
    for op in ops {
        if policy.requires_approval_for(op) {
            a.hit(
                Rule::ApprovalRequired,
                format!(
                    "{} needs approval in profile `{}`",
                    op.sql_verb(),
                    policy.profile()
                ),
            );
        }
    }
    for rule in policy.statement_rules() {
        if let Some(hit) = rule.check(stmt, scope)
            && hit.decision > Decision::Allow
        {
            a.push(RuleHit::new(hit.rule, hit.decision, hit.reason));
        }
    }
    let kind = if a.write {
        StatementKind::Write
    } else {
        StatementKind::Read
    };
    StatementVerdict::new(stmt.to_string(), a.hits, kind)
}

struct Analysis<'a> {
    policy: &'a Policy,
    scope: &'a Scope,
    hits: Vec<RuleHit>,
    write: bool,
    ops: Vec<Op>,
    /// CTE names visible at this point, one frame per enclosing query.
    ctes: Vec<Vec<String>>,
    /// The name of the table factor being visited: its relation is checked
    /// once, by the table factor.
    table_factor_name: Option<*const ObjectName>,
    /// `EXISTS (SELECT * ...)`: the star there reads nothing.
    exists_selects: Vec<*const Select>,
}

impl<'a> Analysis<'a> {
    fn hit(&mut self, rule: Rule, reason: String) {
        let decision = self.policy.decision(rule);
        if decision > Decision::Allow {
            self.push(RuleHit::new(rule.id(), decision, reason));
        }
    }

    fn push(&mut self, hit: RuleHit) {
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
    fn read_relation(&mut self, name: &ObjectName) {
        if self.is_cte(name) || self.scope.resolve(name).is_some() {
            return;
        }
        self.outside(name);
    }

    fn outside(&mut self, name: &ObjectName) {
        self.hit(
            Rule::OutsideScope,
            format!("table `{}` is outside the scope", display_name(name)),
        );
    }

    /// The table a write goes to: only a scoped table, never a CTE name.
    fn write_target(&mut self, name: &ObjectName, verb: &str) -> Option<&'a ScopedTable> {
        let scope: &'a Scope = self.scope;
        match scope.resolve(name) {
            None => {
                self.outside(name);
                None
            }
            Some(table) => {
                if table.is_read_only() {
                    self.hit(
                        Rule::ReadOnlyTable,
                        format!(
                            "{verb} on `{}`: the table is read-only reference data",
                            table.name()
                        ),
                    );
                }
                Some(table)
            }
        }
    }

    fn write_targets_of(&mut self, twj: &TableWithJoins, verb: &str) -> Vec<&'a ScopedTable> {
        let mut out: Vec<&'a ScopedTable> = Vec::new();
        let factors = std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation));
        for factor in factors {
            match factor {
                TableFactor::Table {
                    name, args: None, ..
                } => {
                    out.extend(self.write_target(name, verb));
                }
                TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {}
                _ => self.hit(
                    Rule::OutsideScope,
                    format!("{verb} target `{factor}` is not a scoped table"),
                ),
            }
        }
        out
    }

    fn pii_assignments<'t>(
        &mut self,
        targets: &[&ScopedTable],
        columns: impl Iterator<Item = &'t ObjectName>,
        verb: &str,
    ) {
        for column in columns {
            let Some(last) = column.0.last().and_then(|p| p.as_ident()) else {
                continue;
            };
            for table in targets {
                if let Some(pii) = table.pii_column(&last.value) {
                    self.hit(
                        Rule::PiiWrite,
                        format!("{verb} writes `{}.{pii}`, a PII column", table.name()),
                    );
                }
            }
        }
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

    fn insert(&mut self, insert: &Insert) {
        self.write = true;
        self.ops.push(Op::Insert);
        let targets: Vec<&'a ScopedTable> = match &insert.table {
            TableObject::TableName(name) => self.write_target(name, "INSERT").into_iter().collect(),
            TableObject::TableFunction(f) => {
                self.hit(
                    Rule::OutsideScope,
                    format!(
                        "INSERT into table function `{}` is outside the scope",
                        display_name(&f.name)
                    ),
                );
                Vec::new()
            }
            TableObject::TableQuery(_) => {
                self.hit(
                    Rule::OutsideScope,
                    "INSERT into a subquery is outside the scope".to_owned(),
                );
                Vec::new()
            }
        };
        let replace = insert.replace_into || insert.or == Some(SqliteOnConflict::Replace);
        if replace {
            self.ops.extend([Op::Update, Op::Delete]);
            self.hit(
                Rule::Upsert,
                format!(
                    "INSERT OR REPLACE into `{}` deletes and re-inserts existing rows",
                    targets.first().map_or("?", |t| t.name())
                ),
            );
        }
        let writes_values = insert.source.is_some() || !insert.assignments.is_empty();
        if insert.columns.is_empty() && insert.assignments.is_empty() && writes_values {
            for table in &targets {
                if let Some(pii) = table.pii_columns().first() {
                    self.hit(
                        Rule::PiiWrite,
                        format!(
                            "INSERT into `{}` without a column list writes every column, PII column `{pii}` included",
                            table.name()
                        ),
                    );
                }
            }
        }
        self.pii_assignments(&targets, insert.columns.iter(), "INSERT");
        let assigned: Vec<&ObjectName> = insert
            .assignments
            .iter()
            .flat_map(|a| assignment_columns(&a.target))
            .collect();
        self.pii_assignments(&targets, assigned.into_iter(), "INSERT");
        let upsert_sets = match &insert.on {
            Some(OnInsert::OnConflict(conflict)) => match &conflict.action {
                OnConflictAction::DoUpdate(update) => Some(&update.assignments),
                OnConflictAction::DoNothing => None,
            },
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => Some(assignments),
            _ => None,
        };
        if let Some(assignments) = upsert_sets {
            self.ops.push(Op::Update);
            self.hit(
                Rule::Upsert,
                format!(
                    "upsert into `{}` updates existing rows on conflict",
                    targets.first().map_or("?", |t| t.name())
                ),
            );
            let columns: Vec<&ObjectName> = assignments
                .iter()
                .flat_map(|a| assignment_columns(&a.target))
                .collect();
            self.pii_assignments(&targets, columns.into_iter(), "upsert");
        }
    }

    fn update(&mut self, update: &Update) {
        self.write = true;
        self.ops.push(Op::Update);
        let targets = self.write_targets_of(&update.table, "UPDATE");
        let names = target_names(&targets, &update.table);
        if update.or == Some(SqliteOnConflict::Replace) {
            self.ops.push(Op::Delete);
            self.hit(
                Rule::Upsert,
                format!("UPDATE OR REPLACE of `{names}` deletes rows that conflict"),
            );
        }
        let columns: Vec<&ObjectName> = update
            .assignments
            .iter()
            .flat_map(|a| assignment_columns(&a.target))
            .collect();
        self.pii_assignments(&targets, columns.into_iter(), "UPDATE");
        match &update.selection {
            None => self.hit(
                Rule::UpdateWithoutWhere,
                format!("UPDATE of `{names}` has no WHERE clause: it changes every row"),
            ),
            Some(cond) if always_true(cond, 0) => self.hit(
                Rule::UpdateWithoutWhere,
                format!("UPDATE of `{names}` has a WHERE clause that is always true"),
            ),
            Some(cond) if tests_only_tenant(cond, &targets) => self.hit(
                Rule::UpdateWithoutWhere,
                format!(
                    "UPDATE of `{names}` tests only the tenant column, which every row in the sandbox matches"
                ),
            ),
            Some(_) => {}
        }
    }

    fn delete(&mut self, delete: &Delete) {
        self.write = true;
        self.ops.push(Op::Delete);
        let mut targets: Vec<&'a ScopedTable> = Vec::new();
        for name in &delete.tables {
            targets.extend(self.write_target(name, "DELETE"));
        }
        let from = match &delete.from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
        };
        let mut written = Vec::new();
        if delete.tables.is_empty() {
            for twj in from {
                targets.extend(self.write_targets_of(twj, "DELETE"));
                written.push(twj);
            }
        }
        let names = match written.first() {
            Some(twj) => target_names(&targets, twj),
            None => targets
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", "),
        };
        match &delete.selection {
            None => self.hit(
                Rule::DeleteWithoutWhere,
                format!("DELETE from `{names}` has no WHERE clause: it removes every row"),
            ),
            Some(cond) if always_true(cond, 0) => self.hit(
                Rule::DeleteWithoutWhere,
                format!("DELETE from `{names}` has a WHERE clause that is always true"),
            ),
            Some(cond) if tests_only_tenant(cond, &targets) => self.hit(
                Rule::DeleteWithoutWhere,
                format!(
                    "DELETE from `{names}` tests only the tenant column, which every row in the sandbox matches"
                ),
            ),
            Some(_) => {}
        }
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

/// Whether a WHERE names columns and every one of them is the tenant column
/// of a target: the sandbox holds one tenant, so it selects every row.
fn tests_only_tenant(cond: &Expr, targets: &[&ScopedTable]) -> bool {
    struct Columns<'t> {
        tenants: Vec<&'t str>,
        any: bool,
        other: bool,
    }
    impl Visitor for Columns<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let name = match expr {
                Expr::Identifier(ident) => Some(ident),
                Expr::CompoundIdentifier(parts) => parts.last(),
                _ => None,
            };
            if let Some(ident) = name {
                self.any = true;
                if !self
                    .tenants
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&ident.value))
                {
                    self.other = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let tenants: Vec<&str> = targets.iter().filter_map(|t| t.tenant_column()).collect();
    if tenants.is_empty() {
        return false;
    }
    let mut columns = Columns {
        tenants,
        any: false,
        other: false,
    };
    let _ = cond.visit(&mut columns);
    columns.any && !columns.other
}

fn assignment_columns(target: &AssignmentTarget) -> Vec<&ObjectName> {
    match target {
        AssignmentTarget::ColumnName(name) => vec![name],
        AssignmentTarget::Tuple(names) => names.iter().collect(),
    }
}

fn target_names(targets: &[&ScopedTable], twj: &TableWithJoins) -> String {
    if targets.is_empty() {
        return match &twj.relation {
            TableFactor::Table { name, .. } => display_name(name),
            other => other.to_string(),
        };
    }
    targets
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
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

/// Deeper than this, a condition is not folded (the caller's nesting bound
/// keeps trees far shallower; this keeps the folder safe on its own).
const FOLD_DEPTH: usize = 256;

/// Whether a WHERE condition holds for every row: constants that fold to
/// true (`1`, `true`, `'a' = 'a'`, `NOT 0`, `2 > 1`, `1 + 1 = 2`), `OR` with such
/// an operand, `AND` of two such, identical operands (`x = x`, `x >= x`),
/// `x LIKE '%'`, and `EXISTS` of a query without `FROM`. Identical operands
/// count although NULL rows do not match: the statement still reaches (almost)
/// every row, which is what the rule is about.
pub(crate) fn always_true(expr: &Expr, depth: usize) -> bool {
    if depth > FOLD_DEPTH {
        return false;
    }
    let d = depth + 1;
    match expr {
        Expr::Nested(e) => always_true(e, d),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::Or => always_true(left, d) || always_true(right, d),
            BinaryOperator::And => always_true(left, d) && always_true(right, d),
            BinaryOperator::Eq
            | BinaryOperator::LtEq
            | BinaryOperator::GtEq
            | BinaryOperator::Spaceship
                if same_operand(left, right) =>
            {
                true
            }
            _ => fold(expr, d).is_some_and(|c| c.truth() == Some(true)),
        },
        Expr::IsNotDistinctFrom(left, right) if left == right => true,
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => always_false(expr, d),
        Expr::Like {
            negated: false,
            expr,
            pattern,
            ..
        } if matches!(fold(pattern, d), Some(Const::Text(p)) if !p.is_empty() && p.chars().all(|c| c == '%'))
            && fold(expr, d) != Some(Const::Null) =>
        {
            true
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } if fold(expr, d).is_none() && list.iter().any(|item| item == expr.as_ref()) => true,
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } if low == expr && high == expr => true,
        Expr::Exists {
            subquery,
            negated: false,
        } => yields_a_row(subquery),
        _ => fold(expr, d).is_some_and(|c| c.truth() == Some(true)),
    }
}

/// Whether two operands are the same column or expression as SQLite reads
/// them: parentheses dropped, identifiers compared case-insensitively
/// whatever their quotes (`"id"`, `` `id` ``, `[id]` and `id` are one column:
/// the sandbox reads double quotes as identifiers only).
fn same_operand(a: &Expr, b: &Expr) -> bool {
    fn strip(mut e: &Expr) -> &Expr {
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        e
    }
    match (strip(a), strip(b)) {
        (Expr::Identifier(x), Expr::Identifier(y)) => x.value.eq_ignore_ascii_case(&y.value),
        (Expr::CompoundIdentifier(x), Expr::CompoundIdentifier(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.value.eq_ignore_ascii_case(&q.value))
        }
        (x, y) => x == y,
    }
}

/// Whether a condition is false (not NULL) for every row; see [`always_true`].
fn always_false(expr: &Expr, depth: usize) -> bool {
    if depth > FOLD_DEPTH {
        return false;
    }
    let d = depth + 1;
    match expr {
        Expr::Nested(e) => always_false(e, d),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And => always_false(left, d) || always_false(right, d),
            BinaryOperator::Or => always_false(left, d) && always_false(right, d),
            BinaryOperator::NotEq | BinaryOperator::Lt | BinaryOperator::Gt if left == right => {
                true
            }
            _ => fold(expr, d).is_some_and(|c| c.truth() == Some(false)),
        },
        Expr::IsDistinctFrom(left, right) if left == right => true,
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => always_true(expr, d),
        Expr::Exists {
            subquery,
            negated: true,
        } => yields_a_row(subquery),
        _ => fold(expr, d).is_some_and(|c| c.truth() == Some(false)),
    }
}

/// `SELECT <anything>` without FROM, WHERE, HAVING or LIMIT; or `VALUES (..)`.
fn yields_a_row(query: &Query) -> bool {
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return false;
    }
    match query.body.as_ref() {
        SetExpr::Select(s) => s.from.is_empty() && s.selection.is_none() && s.having.is_none(),
        SetExpr::Values(v) => !v.rows.is_empty(),
        _ => false,
    }
}

/// A constant, as SQLite sees literals (booleans are integers).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Const {
    /// SQLite's truth: numbers are true when non-zero, text by its numeric
    /// prefix, NULL is neither.
    fn truth(&self) -> Option<bool> {
        match self {
            Const::Null => None,
            Const::Int(i) => Some(*i != 0),
            Const::Real(f) => Some(*f != 0.0),
            Const::Text(s) => Some(numeric_prefix(s) != 0.0),
        }
    }

    fn number(&self) -> Option<Num> {
        match self {
            Const::Null => None,
            Const::Int(i) => Some(Num::Int(*i)),
            Const::Real(f) => Some(Num::Real(*f)),
            Const::Text(s) => {
                let f = numeric_prefix(s);
                Some(if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)] // integral and in range
                    Num::Int(f as i64)
                } else {
                    Num::Real(f)
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Real(f64),
}

impl Num {
    #[allow(clippy::cast_precision_loss)] // constant folding only, never row values
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Real(f) => f,
        }
    }
}

/// The value of SQLite's text-to-number conversion: the longest numeric prefix
/// after leading spaces, 0 when there is none.
fn numeric_prefix(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let mut any = digits(&mut i);
    if any {
        end = i;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) || any {
            any = true;
            end = i;
        }
    }
    if any && matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if digits(&mut j) {
            end = j;
        }
    }
    t.get(..end)
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Folds a constant expression; `None` when it depends on a row (or is not
/// understood).
pub(crate) fn fold(expr: &Expr, depth: usize) -> Option<Const> {
    if depth > FOLD_DEPTH {
        return None;
    }
    let d = depth + 1;
    match expr {
        Expr::Nested(e) => fold(e, d),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(match n.parse::<i64>() {
                Ok(i) => Const::Int(i),
                Err(_) => Const::Real(n.parse::<f64>().ok()?),
            }),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                Some(Const::Text(s.clone()))
            }
            Value::Boolean(b) => Some(Const::Int(i64::from(*b))),
            Value::Null => Some(Const::Null),
            _ => None,
        },
        Expr::UnaryOp { op, expr } => {
            let c = fold(expr, d)?;
            match op {
                UnaryOperator::Not => Some(match c.truth() {
                    None => Const::Null,
                    Some(t) => Const::Int(i64::from(!t)),
                }),
                UnaryOperator::Plus => Some(c),
                UnaryOperator::Minus => match c.number() {
                    None => Some(Const::Null),
                    Some(Num::Int(i)) => i.checked_neg().map(Const::Int),
                    Some(Num::Real(f)) => Some(Const::Real(-f)),
                },
                UnaryOperator::BitwiseNot => match c.number() {
                    None => Some(Const::Null),
                    Some(Num::Int(i)) => Some(Const::Int(!i)),
                    Some(Num::Real(_)) => None,
                },
                _ => None,
            }
        }
        Expr::BinaryOp { left, op, right } => fold_binary(left, op, right, d),
        Expr::IsNull(e) => fold(e, d).map(|c| Const::Int(i64::from(c == Const::Null))),
        Expr::IsNotNull(e) => fold(e, d).map(|c| Const::Int(i64::from(c != Const::Null))),
        Expr::IsTrue(e) => fold(e, d).map(|c| Const::Int(i64::from(c.truth() == Some(true)))),
        Expr::IsFalse(e) => fold(e, d).map(|c| Const::Int(i64::from(c.truth() == Some(false)))),
        Expr::IsNotTrue(e) => fold(e, d).map(|c| Const::Int(i64::from(c.truth() != Some(true)))),
        Expr::IsNotFalse(e) => fold(e, d).map(|c| Const::Int(i64::from(c.truth() != Some(false)))),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let (x, lo, hi) = (fold(expr, d)?, fold(low, d)?, fold(high, d)?);
            let ge = compare(&x, &lo).map(Ordering::is_ge);
            let le = compare(&x, &hi).map(Ordering::is_le);
            let within = and3(ge, le);
            Some(bool3(if *negated { within.map(|b| !b) } else { within }))
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let x = fold(expr, d)?;
            let mut found = Some(false);
            for item in list {
                let item = fold(item, d)?;
                match compare(&x, &item) {
                    Some(Ordering::Equal) => {
                        found = Some(true);
                        break;
                    }
                    Some(_) => {}
                    None => found = None,
                }
            }
            Some(bool3(if *negated { found.map(|b| !b) } else { found }))
        }
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } => {
            let (x, p) = (fold(expr, d)?, fold(pattern, d)?);
            Some(match (x, p) {
                (Const::Null, _) | (_, Const::Null) => Const::Null,
                (x, p) => {
                    let matched = like(&const_text(&p)?, &const_text(&x)?);
                    Const::Int(i64::from(matched != *negated))
                }
            })
        }
        Expr::Cast {
            kind: CastKind::Cast,
            expr,
            data_type: DataType::Integer(_) | DataType::Int(_),
            format: None,
        } => match fold(expr, d)? {
            Const::Null => Some(Const::Null),
            c => match c.number()? {
                Num::Int(i) => Some(Const::Int(i)),
                Num::Real(_) => None,
            },
        },
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = match operand {
                Some(o) => Some(fold(o, d)?),
                None => None,
            };
            for when in conditions {
                let c = fold(&when.condition, d)?;
                let hit = match &operand {
                    Some(o) => compare(o, &c) == Some(Ordering::Equal),
                    None => c.truth() == Some(true),
                };
                if hit {
                    return fold(&when.result, d);
                }
            }
            match else_result {
                Some(e) => fold(e, d),
                None => Some(Const::Null),
            }
        }
        Expr::Function(f)
            if f.name.0.len() == 1
                && display_name(&f.name).eq_ignore_ascii_case("abs")
                && f.filter.is_none()
                && f.over.is_none()
                && matches!(f.parameters, FunctionArguments::None) =>
        {
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() else {
                return None;
            };
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return None;
            }
            match fold(arg, d)?.number() {
                None => Some(Const::Null),
                Some(Num::Int(i)) => i.checked_abs().map(Const::Int),
                Some(Num::Real(x)) => Some(Const::Real(x.abs())),
            }
        }
        Expr::Subquery(query) if yields_a_row(query) => match query.body.as_ref() {
            SetExpr::Select(s) => match s.projection.as_slice() {
                [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] => {
                    fold(e, d)
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The text SQLite compares for LIKE: text as is, integers in decimal.
fn const_text(c: &Const) -> Option<String> {
    match c {
        Const::Text(s) => Some(s.clone()),
        Const::Int(i) => Some(i.to_string()),
        Const::Real(_) | Const::Null => None,
    }
}

/// SQLite's LIKE without ESCAPE: `%` any run, `_` one character, ASCII
/// case-insensitive.
fn like(pattern: &str, text: &str) -> bool {
    super::changeset::wildcard(pattern, text, '%', '_')
}

fn fold_binary(left: &Expr, op: &BinaryOperator, right: &Expr, d: usize) -> Option<Const> {
    // The parser gives `=` and `<` one precedence and reads `a = b < c` as
    // `(a = b) < c`; SQLite binds `<`, `<=`, `>`, `>=` tighter and reads
    // `a = (b < c)`. Fold what SQLite runs.
    if let (
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq,
        Expr::BinaryOp {
            left: l2,
            op: op2 @ (BinaryOperator::Eq | BinaryOperator::NotEq | BinaryOperator::Spaceship),
            right: r2,
        },
    ) = (op, left)
    {
        let inner = Expr::BinaryOp {
            left: r2.clone(),
            op: op.clone(),
            right: Box::new(right.clone()),
        };
        return fold_binary(l2, op2, &inner, d);
    }
    match op {
        BinaryOperator::And => {
            let (l, r) = (fold(left, d), fold(right, d));
            let (lt, rt) = (l.as_ref().map(Const::truth), r.as_ref().map(Const::truth));
            if lt == Some(Some(false)) || rt == Some(Some(false)) {
                return Some(Const::Int(0));
            }
            Some(bool3(and3(lt?, rt?)))
        }
        BinaryOperator::Or => {
            let (l, r) = (fold(left, d), fold(right, d));
            let (lt, rt) = (l.as_ref().map(Const::truth), r.as_ref().map(Const::truth));
            if lt == Some(Some(true)) || rt == Some(Some(true)) {
                return Some(Const::Int(1));
            }
            let (lt, rt) = (lt?, rt?);
            Some(bool3(match (lt, rt) {
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }))
        }
        BinaryOperator::Eq
        | BinaryOperator::NotEq
        | BinaryOperator::Lt
        | BinaryOperator::LtEq
        | BinaryOperator::Gt
        | BinaryOperator::GtEq => {
            let (l, r) = (fold(left, d)?, fold(right, d)?);
            let ord = compare(&l, &r);
            Some(bool3(ord.map(|o| match op {
                BinaryOperator::Eq => o.is_eq(),
                BinaryOperator::NotEq => o.is_ne(),
                BinaryOperator::Lt => o.is_lt(),
                BinaryOperator::LtEq => o.is_le(),
                BinaryOperator::Gt => o.is_gt(),
                _ => o.is_ge(),
            })))
        }
        BinaryOperator::Spaceship => {
            let (l, r) = (fold(left, d)?, fold(right, d)?);
            Some(Const::Int(i64::from(match (&l, &r) {
                (Const::Null, Const::Null) => true,
                (Const::Null, _) | (_, Const::Null) => false,
                _ => compare(&l, &r) == Some(Ordering::Equal),
            })))
        }
        BinaryOperator::Plus
        | BinaryOperator::Minus
        | BinaryOperator::Multiply
        | BinaryOperator::Divide
        | BinaryOperator::Modulo => {
            let (l, r) = (fold(left, d)?, fold(right, d)?);
            let (Some(a), Some(b)) = (l.number(), r.number()) else {
                return Some(Const::Null);
            };
            arithmetic(a, op, b)
        }
        _ => None,
    }
}

fn arithmetic(a: Num, op: &BinaryOperator, b: Num) -> Option<Const> {
    if let (Num::Int(x), Num::Int(y)) = (a, b) {
        return match op {
            BinaryOperator::Plus => x.checked_add(y).map(Const::Int),
            BinaryOperator::Minus => x.checked_sub(y).map(Const::Int),
            BinaryOperator::Multiply => x.checked_mul(y).map(Const::Int),
            BinaryOperator::Divide if y == 0 => Some(Const::Null),
            BinaryOperator::Divide => x.checked_div(y).map(Const::Int),
            BinaryOperator::Modulo if y == 0 => Some(Const::Null),
            BinaryOperator::Modulo => x.checked_rem(y).map(Const::Int),
            _ => None,
        };
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    let v = match op {
        BinaryOperator::Plus => x + y,
        BinaryOperator::Minus => x - y,
        BinaryOperator::Multiply => x * y,
        BinaryOperator::Divide if y == 0.0 => return Some(Const::Null),
        BinaryOperator::Divide => x / y,
        _ => return None,
    };
    v.is_finite().then_some(Const::Real(v))
}

/// SQLite's order of literals: NULL is incomparable, numbers before text,
/// text by bytes (BINARY collation).
fn compare(a: &Const, b: &Const) -> Option<Ordering> {
    match (a, b) {
        (Const::Null, _) | (_, Const::Null) => None,
        (Const::Text(x), Const::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Const::Text(_), _) => Some(Ordering::Greater),
        (_, Const::Text(_)) => Some(Ordering::Less),
        (Const::Int(x), Const::Int(y)) => Some(x.cmp(y)),
        _ => {
            let (x, y) = (a.number()?.as_f64(), b.number()?.as_f64());
            x.partial_cmp(&y)
        }
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn bool3(b: Option<bool>) -> Const {
    b.map_or(Const::Null, |b| Const::Int(i64::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn where_of(sql: &str) -> Expr {
        let stmts = Parser::parse_sql(&SQLiteDialect {}, &format!("SELECT 1 WHERE {sql}")).unwrap();
        let Statement::Query(q) = &stmts[0] else {
            panic!()
        };
        let SetExpr::Select(s) = q.body.as_ref() else {
            panic!()
        };
        s.selection.clone().unwrap()
    }

    #[test]
    fn tautologies() {
        for t in [
            "1",
            "1=1",
            "true",
            "'a'='a'",
            "x=x",
            "t.x = t.x",
            "NOT false",
            "NOT 0",
            "id = 3 OR 1=1",
            "(1=1)",
            "2 > 1",
            "1 + 1 = 2",
            "'1'",
            "1 BETWEEN 0 AND 2",
            "3 IN (1, 2, 3)",
            "NULL IS NULL",
            "x LIKE '%'",
            "EXISTS (SELECT 1)",
            "(SELECT 1)",
            "1=1 AND 2=2",
            "NOT (1=0)",
            "NOT (x <> x)",
            "x >= x",
            "-1",
            "0.5",
            "1 IS NOT NULL",
            "id = 3 OR id = id",
            "1 <> 2",
            "'b' > 'a'",
            "'a' > 1",
            "'x' LIKE 'x'",
            "'Abc' LIKE 'a_C'",
            "'abc' NOT LIKE 'b%'",
            "id IN (1, id)",
            "id BETWEEN id AND id",
            // Spellings the issue found, and SQLite's reading of precedence.
            "~0",
            "abs(1)",
            "abs(-2)",
            "CAST(1 AS INTEGER)",
            "CASE WHEN 1 THEN 1 END",
            "CASE 2 WHEN 1 THEN 0 WHEN 2 THEN 1 END",
            "id = (id)",
            "\"id\" = id",
            "`id` = \"id\"",
            "ID = [id]",
            "0 = 1 < 0",
            "0 = 2 >= 3",
        ] {
            assert!(always_true(&where_of(t), 0), "{t} should be always true");
        }
        for t in [
            "id = 3",
            "1=0",
            "false",
            "NULL",
            "x = y",
            "1=1 AND id = 3",
            "'a'",
            "0",
            "x LIKE 'a%'",
            "EXISTS (SELECT 1 FROM t)",
            "x IS NULL",
            "1 = '1'",
            "9223372036854775807 + 1 = 0",
            "1/0",
            "id IN (1, 2)",
            "'x' LIKE 'y'",
            "'abc' LIKE 'b%'",
            "NULL LIKE '%'",
            "'a' LIKE 'a' ESCAPE '!'",
            "~(-1)",
            "abs(0)",
            "CAST(0 AS INTEGER)",
            "CASE WHEN 0 THEN 1 END",
            "id = (id2)",
            "0 < 1 = 0",
            "\"id\" = 'id'",
        ] {
            assert!(
                !always_true(&where_of(t), 0),
                "{t} should not be always true"
            );
        }
    }

    #[test]
    fn numeric_prefixes() {
        assert_eq!(numeric_prefix("12abc"), 12.0);
        assert_eq!(numeric_prefix("  -1.5e1x"), -15.0);
        assert_eq!(numeric_prefix("abc"), 0.0);
        assert_eq!(numeric_prefix("."), 0.0);
        assert_eq!(numeric_prefix("5."), 5.0);
        assert_eq!(numeric_prefix(".5"), 0.5);
    }

    #[test]
    fn nesting_estimates() {
        let est = |sql: &str| {
            let tokens = Tokenizer::new(&SQLiteDialect {}, sql)
                .tokenize_with_location()
                .unwrap();
            Nesting::of(&tokens)
        };
        let n = est("SELECT a, b FROM t WHERE id = 3");
        assert!(n.depth < 8 && n.cost < 8, "{n:?}");
        let n = est("SELECT count(*) FROM tasks WHERE id IN (SELECT id FROM p)");
        assert!(n.cost <= 24, "{n:?}");
        assert!(est(&format!("SELECT 1{}", "+1".repeat(100))).depth > 100);
        let n = est(&format!(
            "INSERT INTO t VALUES {}",
            vec!["(-1, 'a')"; 5000].join(",")
        ));
        assert!(n.depth < 8 && n.cost < 24, "{n:?}");
        let n = est(&format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40)));
        assert!(n.depth >= 80 && n.cost >= 400, "{n:?}");
        assert!(est(&format!("SELECT {}1", "NOT ".repeat(5))).cost > 24);
    }
}
