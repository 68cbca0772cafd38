//! Statements over tables whose every column is text: the approvals and the
//! audit tables. SQL is written with `?` placeholders and rewritten for
//! PostgreSQL; every value is bound, never spliced. And the text of an
//! instant in those tables and in the trail's JSON, which sorts as the
//! instant does.
//!
//! Both `approve` and `audit` keep a table in production; this module sits
//! below both, so neither imports the other for it.

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use futures_util::TryStreamExt;
use sqlx::Row as _;

use crate::prod::Production;
use crate::types::Dialect;

/// `sql` with each `?` turned into the dialect's placeholder (`$1`, `$2`, ..).
/// Only for shadowdb's own statements, which hold no `?` inside literals.
pub(crate) fn placeholders(dialect: Dialect, sql: &str) -> String {
    if dialect != Dialect::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&dialect.placeholder(n));
        } else {
            out.push(ch);
        }
    }
    out
}

/// An exact text comparison `column = ?`: MySQL compares under the column's
/// collation (`'A' = 'a'`), so there the bytes are compared.
pub(crate) fn text_eq(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::MySql => format!("CAST({column} AS BINARY) = CAST(? AS BINARY)"),
        Dialect::Postgres | Dialect::Sqlite => format!("{column} = ?"),
    }
}

/// A text comparison `column <op> ?` by bytes (timestamps in one fixed format).
pub(crate) fn text_cmp(dialect: Dialect, column: &str, op: &str) -> String {
    match dialect {
        Dialect::MySql => format!("CAST({column} AS BINARY) {op} CAST(? AS BINARY)"),
        Dialect::Postgres => format!("{column} COLLATE pg_catalog.\"C\" {op} ?"),
        Dialect::Sqlite => format!("{column} {op} ?"),
    }
}

/// Runs the macro `$go` (given an executor) on a connection of `$prod`
/// with shadowdb's session settings pinned, and restores them after.
macro_rules! pinned {
    ($prod:expr, $go:ident) => {
        match $prod {
            Production::Postgres(p) => {
                let mut conn = p.acquire().await?;
                let prev = crate::prod::pg_pin(&mut conn).await?;
                let out = $go!(&mut *conn);
                crate::prod::pg_restore_encoding(&mut conn, &prev).await;
                out
            }
            Production::MySql(p) => {
                let mut conn = p.acquire().await?;
                crate::prod::mysql_pin(&mut conn).await?;
                let out = $go!(&mut *conn);
                crate::prod::mysql_restore_tz(&mut conn).await;
                out
            }
            Production::Sqlite(p) => $go!(p),
        }
    };
}

/// Runs a statement with text binds (`None` is NULL); returns rows affected.
/// Like every statement of shadowdb, on a session pinned to UTF-8 (see
/// `prod::pg_pin`, `prod::mysql_pin`): a record read back through a `latin1`
/// session would not be the bytes committed.
pub(crate) async fn execute(
    prod: &Production,
    sql: &str,
    binds: &[Option<&str>],
) -> Result<u64, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(placeholders(prod.dialect(), sql));
    macro_rules! go {
        ($pool:expr) => {{
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.map(str::to_owned));
            }
            q.execute($pool).await.map(|r| r.rows_affected())
        }};
    }
    pinned!(prod, go)
}

/// Runs a query whose columns are all text; each row as `Option<String>`s.
pub(crate) async fn fetch(
    prod: &Production,
    sql: &str,
    binds: &[Option<&str>],
) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(placeholders(prod.dialect(), sql));
    macro_rules! go {
        ($pool:expr) => {{
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.map(str::to_owned));
            }
            let mut rows = q.fetch($pool);
            let mut out = Vec::new();
            while let Some(row) = rows.try_next().await? {
                let mut values = Vec::with_capacity(row.len());
                for i in 0..row.len() {
                    values.push(row.try_get::<Option<String>, _>(i)?);
                }
                out.push(values);
            }
            Ok(out)
        }};
    }
    pinned!(prod, go)
}

/// Runs each DDL statement of `statements`, tolerating a concurrent creator:
/// two processes racing on `CREATE TABLE IF NOT EXISTS` can fail one of them
/// in PostgreSQL (a duplicate catalog row), and the second try sees the table.
pub(crate) async fn create(prod: &Production, statements: &[String]) -> Result<(), sqlx::Error> {
    for sql in statements {
        if execute(prod, sql, &[]).await.is_err() {
            execute(prod, sql, &[]).await?;
        }
    }
    Ok(())
}

/// An instant truncated to whole microseconds, the precision of the trail.
#[must_use]
pub(crate) fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros).unwrap_or(t)
}

/// The trail's text of an instant: `2024-05-01T12:00:00.000000Z`, which sorts
/// as the instant does (years 0 to 9999; later instants are written as the
/// last microsecond of 9999).
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|n| n.and_utc());
    let t = match last {
        Some(last) if *t > last => last,
        _ => *t,
    };
    to_micros(t).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses [`format_time`] (and any RFC 3339 instant).
pub(crate) fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        assert_eq!(
            placeholders(Dialect::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(
            placeholders(Dialect::MySql, "a = ? AND b = ?"),
            "a = ? AND b = ?"
        );
    }

    #[test]
    fn times_have_one_width() {
        let t = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(format_time(&t), "2024-05-01T12:00:00.000000Z");
        let t = parse_time("2024-05-01T12:00:00.123456789Z").unwrap();
        assert_eq!(format_time(&t), "2024-05-01T12:00:00.123456Z");
        assert_eq!(
            format_time(&DateTime::<Utc>::MAX_UTC),
            "9999-12-31T23:59:59.999999Z"
        );
    }
}
