//! The sandbox's exact decimal functions.
//!
//! SQLite computes `+ - *` in 64-bit floats, and cannot be taught otherwise.
//! A decimal column of the sandbox keeps whatever storage class it is given
//! (`ANY` in a STRICT table), so a float written to it stays a float, and
//! the diff refuses it as "precision lost". These functions are the exact
//! way: they take decimal text (or integers) and return decimal text.
//!
//! - `decimal_add(a, b)`, `decimal_sub(a, b)`: at the larger scale of both
//!   (`decimal_add('1.10', 1)` is `'2.10'`);
//! - `decimal_mul(a, b)`: at the sum of both scales;
//! - `decimal_round(a, n)`: `n` digits after the point, half away from zero;
//! - `decimal_cmp(a, b)`: -1, 0 or 1 (`decimal_cmp('1.10', '1.1')` is 0);
//! - `decimal_sum(a)`: the aggregate, NULLs skipped, NULL over no values.
//!
//! NULL in, NULL out. A float argument is refused: it may already have lost
//! digits. Operands are bounded ([`MAX_DIGITS`]).

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Error};

use crate::value::decimal::{DecimalError, Exact, MAX_DIGITS};

/// The functions' names, for the sandbox's allowlist.
pub(crate) const FUNCTIONS: &[&str] = &[
    "decimal_add",
    "decimal_sub",
    "decimal_mul",
    "decimal_round",
    "decimal_cmp",
    "decimal_sum",
];

/// A function's refusal, as the agent reads it.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse(name: &str, what: impl std::fmt::Display) -> Error {
    Error::UserFunctionError(Box::new(Refused(format!("{name}: {what}"))))
}

/// Argument `i` as an exact decimal; `None` for NULL.
fn arg(ctx: &Context<'_>, name: &str, i: usize) -> rusqlite::Result<Option<Exact>> {
    if i >= ctx.len() {
        return Err(refuse(name, "missing argument"));
    }
    let n = i + 1;
    match ctx.get_raw(i) {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(v) => Ok(Some(Exact::from_int(v))),
        ValueRef::Text(t) => {
            let text = std::str::from_utf8(t).map_err(|_| refuse(name, "text is not UTF-8"))?;
            Exact::parse(text)
                .map(Some)
                .map_err(|e| refuse(name, format!("argument {n} is {e}")))
        }
        ValueRef::Real(_) => Err(refuse(
            name,
            format!(
                "argument {n} is a floating-point value, which may already have lost digits; \
                 write decimals as text ('1.5')"
            ),
        )),
        ValueRef::Blob(_) => Err(refuse(name, format!("argument {n} is a blob"))),
    }
}

fn binary(
    conn: &Connection,
    name: &'static str,
    op: fn(&Exact, &Exact) -> Result<Exact, DecimalError>,
) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        name,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let (Some(a), Some(b)) = (arg(ctx, name, 0)?, arg(ctx, name, 1)?) else {
                return Ok(None);
            };
            op(&a, &b)
                .map(|r| Some(r.to_string()))
                .map_err(|e| refuse(name, format!("the result has {e}")))
        },
    )
}

/// `decimal_sum`: exact, like SQL's `sum` (NULLs skipped, NULL over none).
struct Sum;

impl Aggregate<Option<Exact>, Option<String>> for Sum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Option<Exact>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<Exact>) -> rusqlite::Result<()> {
        let name = "decimal_sum";
        if let Some(v) = arg(ctx, name, 0)? {
            *acc = Some(match acc.take() {
                Some(total) => total
                    .add(&v)
                    .map_err(|e| refuse(name, format!("the result has {e}")))?,
                None => v,
            });
        }
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<Option<Exact>>,
    ) -> rusqlite::Result<Option<String>> {
        Ok(acc.flatten().map(|total| total.to_string()))
    }
}

/// Registers the functions on the sandbox's connection.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_aggregate_function(
        "decimal_sum",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        Sum,
    )?;
    binary(conn, "decimal_add", Exact::add)?;
    binary(conn, "decimal_sub", Exact::sub)?;
    binary(conn, "decimal_mul", Exact::mul)?;
    conn.create_scalar_function(
        "decimal_cmp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let name = "decimal_cmp";
            let (Some(a), Some(b)) = (arg(ctx, name, 0)?, arg(ctx, name, 1)?) else {
                return Ok(None);
            };
            Ok(Some(match a.compare(&b) {
                std::cmp::Ordering::Less => -1_i64,
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 1,
            }))
        },
    )?;
    conn.create_scalar_function(
        "decimal_round",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let name = "decimal_round";
            let Some(a) = arg(ctx, name, 0)? else {
                return Ok(None);
            };
            let places = match ctx.get_raw(1) {
                ValueRef::Null => return Ok(None),
                ValueRef::Integer(p) => usize::try_from(p)
                    .ok()
                    .filter(|p| *p <= MAX_DIGITS)
                    .ok_or_else(|| {
                        refuse(name, format!("places must be between 0 and {MAX_DIGITS}"))
                    })?,
                _ => return Err(refuse(name, "places must be an integer")),
            };
            a.round(places)
                .map(|r| Some(r.to_string()))
                .map_err(|e| refuse(name, format!("the result has {e}")))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(conn: &Connection, sql: &str) -> rusqlite::Result<rusqlite::types::Value> {
        conn.query_row(sql, [], |r| r.get(0))
    }

    #[test]
    fn functions_are_exact_and_refuse_floats() {
        use rusqlite::types::Value as V;
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        assert_eq!(
            eval(
                &conn,
                "SELECT decimal_add('123456789012345.123456789012345', 1)"
            )
            .unwrap(),
            V::Text("123456789012346.123456789012345".into())
        );
        assert_eq!(
            eval(&conn, "SELECT decimal_sub('0.3', '0.1')").unwrap(),
            V::Text("0.2".into())
        );
        assert_eq!(
            eval(&conn, "SELECT decimal_mul('1.5', '-2')").unwrap(),
            V::Text("-3.0".into())
        );
        assert_eq!(
            eval(&conn, "SELECT decimal_round('2.345', 2)").unwrap(),
            V::Text("2.35".into())
        );
        assert_eq!(
            eval(&conn, "SELECT decimal_cmp('1.10', '1.1')").unwrap(),
            V::Integer(0)
        );
        assert_eq!(eval(&conn, "SELECT decimal_add(NULL, 1)").unwrap(), V::Null);
        assert_eq!(
            eval(
                &conn,
                "SELECT decimal_sum(x) FROM (SELECT '0.1' AS x UNION ALL SELECT '0.2' \
                 UNION ALL SELECT NULL UNION ALL SELECT '123456789012345.123456789012345')"
            )
            .unwrap(),
            V::Text("123456789012345.423456789012345".into())
        );
        assert_eq!(
            eval(&conn, "SELECT decimal_sum(x) FROM (SELECT NULL AS x)").unwrap(),
            V::Null
        );
        assert_eq!(
            eval(&conn, "SELECT decimal_sum(x) FROM (SELECT 1 AS x WHERE 0)").unwrap(),
            V::Null
        );
        let err = eval(&conn, "SELECT decimal_add('1', 1.5)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "decimal_add: argument 2 is a floating-point value, which may already have \
             lost digits; write decimals as text ('1.5')"
        );
        let err = eval(&conn, "SELECT decimal_mul('abc', 1)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "decimal_mul: argument 1 is not decimal text"
        );
    }
}
