//! Statement rules: parse the script, then walk the whole syntax tree of each
//! statement (CTEs, subqueries, nested statements) and collect rule hits.
//!
//! What cannot be parsed, or is too large or too deep to walk safely, is
//! blocked before any rule runs (fail closed). The parts:
//! - [`nesting`]: a bound on the parser's recursion, computed from the tokens;
//! - [`visitor`]: the tree walk, statement kinds, reads, joins and functions;
//! - [`writes`]: the targets of INSERT, UPDATE and DELETE, PII columns, WHERE;
//! - [`truth`]: whether a WHERE holds for every row;
//! - [`fold`]: constant folding as SQLite evaluates literals.

mod fold;
mod nesting;
mod truth;
mod visitor;
mod writes;

use sqlparser::ast::{Statement, Visit};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{TokenWithSpan, Tokenizer};

use super::{Decision, Policy, Rule, RuleHit, Scope, StatementKind, StatementVerdict};
use nesting::{MAX_NESTING, Nesting};
use visitor::Analysis;

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

/// Virtual size of the stack for deep scripts (committed only as touched).
const DEEP_STACK: usize = 64 << 20;

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

fn check_statement(policy: &Policy, stmt: &Statement, scope: &Scope) -> StatementVerdict {
    let mut a = Analysis::new(policy, scope);
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

#[cfg(test)]
mod tests;
