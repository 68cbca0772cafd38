//! Constant folding as SQLite evaluates literals: integers, reals, text and
//! NULL, three-valued logic, SQLite's precedence and order of literals.

use std::cmp::Ordering;

use sqlparser::ast::{
    BinaryOperator, CaseWhen, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, SelectItem, SetExpr, UnaryOperator, Value,
};

use super::truth::yields_a_row;
use crate::policy::scope::display_name;

/// Deeper than this, a condition is not folded (the caller's nesting bound
/// keeps trees far shallower; this keeps the folder safe on its own).
pub(super) const FOLD_DEPTH: usize = 256;

/// A constant, as SQLite sees literals (booleans are integers).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Const {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Const {
    /// SQLite's truth: numbers are true when non-zero, text by its numeric
    /// prefix, NULL is neither.
    pub(super) fn truth(&self) -> Option<bool> {
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
pub(super) fn numeric_prefix(s: &str) -> f64 {
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
pub(super) fn fold(expr: &Expr, depth: usize) -> Option<Const> {
    if depth > FOLD_DEPTH {
        return None;
    }
    let d = depth + 1;
    match expr {
        Expr::Nested(e) => fold(e, d),
        Expr::Value(v) => fold_literal(&v.value),
        Expr::UnaryOp { op, expr } => fold_unary(op, fold(expr, d)?),
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
        } => fold_between(expr, low, high, *negated, d),
        Expr::InList {
            expr,
            list,
            negated,
        } => fold_in_list(expr, list, *negated, d),
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } => fold_like(expr, pattern, *negated, d),
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
        } => fold_case(operand.as_deref(), conditions, else_result.as_deref(), d),
        Expr::Function(f)
            if f.name.0.len() == 1
                && display_name(&f.name).eq_ignore_ascii_case("abs")
                && f.filter.is_none()
                && f.over.is_none()
                && matches!(f.parameters, FunctionArguments::None) =>
        {
            fold_abs(&f.args, d)
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

/// A literal: numbers, strings (double-quoted ones too, as SQLite reads an
/// unknown identifier), booleans as integers, NULL.
fn fold_literal(value: &Value) -> Option<Const> {
    match value {
        Value::Number(n, _) => Some(match n.parse::<i64>() {
            Ok(i) => Const::Int(i),
            Err(_) => Const::Real(n.parse::<f64>().ok()?),
        }),
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(Const::Text(s.clone())),
        Value::Boolean(b) => Some(Const::Int(i64::from(*b))),
        Value::Null => Some(Const::Null),
        _ => None,
    }
}

fn fold_unary(op: &UnaryOperator, c: Const) -> Option<Const> {
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

fn fold_between(expr: &Expr, low: &Expr, high: &Expr, negated: bool, d: usize) -> Option<Const> {
    let (x, lo, hi) = (fold(expr, d)?, fold(low, d)?, fold(high, d)?);
    let ge = compare(&x, &lo).map(Ordering::is_ge);
    let le = compare(&x, &hi).map(Ordering::is_le);
    let within = and3(ge, le);
    Some(bool3(if negated { within.map(|b| !b) } else { within }))
}

/// `x [NOT] LIKE p` without ESCAPE.
fn fold_like(expr: &Expr, pattern: &Expr, negated: bool, d: usize) -> Option<Const> {
    let (x, p) = (fold(expr, d)?, fold(pattern, d)?);
    Some(match (x, p) {
        (Const::Null, _) | (_, Const::Null) => Const::Null,
        (x, p) => {
            let matched = like(&const_text(&p)?, &const_text(&x)?);
            Const::Int(i64::from(matched != negated))
        }
    })
}

/// `x IN (..)`: true on an equal item, NULL when an item is incomparable and
/// none is equal; `None` when any item does not fold.
fn fold_in_list(expr: &Expr, list: &[Expr], negated: bool, d: usize) -> Option<Const> {
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
    Some(bool3(if negated { found.map(|b| !b) } else { found }))
}

/// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`: the first branch that
/// matches, every condition before it folded.
fn fold_case(
    operand: Option<&Expr>,
    conditions: &[CaseWhen],
    else_result: Option<&Expr>,
    d: usize,
) -> Option<Const> {
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

/// `abs(x)` with one plain argument.
fn fold_abs(args: &FunctionArguments, d: usize) -> Option<Const> {
    let FunctionArguments::List(list) = args else {
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
    crate::policy::changeset::wildcard(pattern, text, '%', '_')
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
