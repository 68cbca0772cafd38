//! Whether a WHERE condition holds for every row (or for none), by the
//! shape of the condition and by folding its constants.

use sqlparser::ast::{BinaryOperator, Expr, Query, SetExpr, UnaryOperator};

use super::fold::{Const, FOLD_DEPTH, fold};

/// Whether a WHERE condition holds for every row: constants that fold to
/// true (`1`, `true`, `'a' = 'a'`, `NOT 0`, `2 > 1`, `1 + 1 = 2`), `OR` with such
/// an operand, `AND` of two such, identical operands (`x = x`, `x >= x`),
/// `x LIKE '%'`, and `EXISTS` of a query without `FROM`. Identical operands
/// count although NULL rows do not match: the statement still reaches (almost)
/// every row, which is what the rule is about.
pub(super) fn always_true(expr: &Expr, depth: usize) -> bool {
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
pub(super) fn yields_a_row(query: &Query) -> bool {
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return false;
    }
    match query.body.as_ref() {
        SetExpr::Select(s) => s.from.is_empty() && s.selection.is_none() && s.having.is_none(),
        SetExpr::Values(v) => !v.rows.is_empty(),
        _ => false,
    }
}
