//! The session settings shadowdb pins on a production connection while it
//! reads and writes (time zone, character set, float digits, ...), and
//! restores after: values must print and compare the same way on every
//! connection of the user's pool.

use sqlx::Executor;

use crate::error::{Error, Result};

/// MySQL converts TIMESTAMP values to the session time zone: pin it to UTC
/// while shadowdb reads and writes, so instants stay instants.
///
/// The session's character set is pinned to utf8mb4 as well: the driver
/// sends and reads UTF-8, and a session in another character set (`SET
/// NAMES latin1` in a pool's `after_connect`) would take the bound tenant
/// `'acmé'` as `'acmÃ©'`, another tenant's value, and store what nobody
/// reviewed. `PAD_CHAR_TO_FULL_LENGTH` is taken out of the session's
/// `sql_mode` (the rest of it, strictness included, stays): it returns a
/// `CHAR(n)` tenant `'acme'` as `'acme    '`, which is not the tenant's bytes.
pub(super) async fn mysql_utc(
    conn: &mut sqlx::mysql::MySqlConnection,
    context: &str,
) -> Result<()> {
    mysql_pin(conn)
        .await
        .map_err(|e| Error::database(context.to_owned(), e))
}

/// [`mysql_utc`] with the driver's error (for shadowdb's own tables).
pub(crate) async fn mysql_pin(
    conn: &mut sqlx::mysql::MySqlConnection,
) -> std::result::Result<(), sqlx::Error> {
    conn.execute(
        "SET @shadowdb_prev_tz = @@session.time_zone, \
         @shadowdb_prev_csc = @@session.character_set_client, \
         @shadowdb_prev_csr = @@session.character_set_results, \
         @shadowdb_prev_coll = @@session.collation_connection, \
         @shadowdb_prev_mode = @@session.sql_mode, \
         sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@session.sql_mode, ','), \
           ',PAD_CHAR_TO_FULL_LENGTH,', ',')), \
         time_zone = '+00:00', NAMES utf8mb4",
    )
    .await
    .map(|_| ())
}

/// Restores what [`mysql_utc`] pinned.
pub(super) const MYSQL_RESTORE: &str = "SET time_zone = @shadowdb_prev_tz, \
     character_set_client = @shadowdb_prev_csc, \
     character_set_results = @shadowdb_prev_csr, \
     collation_connection = @shadowdb_prev_coll, \
     sql_mode = @shadowdb_prev_mode";

pub(crate) async fn mysql_restore_tz(conn: &mut sqlx::mysql::MySqlConnection) {
    // Best effort: the connection returns to the user's pool as it came.
    let _ = conn.execute(MYSQL_RESTORE).await;
}

/// The PostgreSQL session settings that change how values read as text
/// print (and the bytes the driver exchanges), pinned while shadowdb reads
/// and writes: `client_encoding` (the driver sends and reads UTF-8; a session
/// in `LATIN1` reads another tenant's `'acmÃ©'` as `'acmé'`),
/// `extra_float_digits` (at `-3`, `1.23456789012341` and `...42` print
/// alike, so a float array neither clones exactly nor guards), and the
/// styles of dates, intervals and bytea (so digests and guards print the
/// same way on every connection of the pool). `DateStyle = ISO` keeps the
/// session's day/month order for input. `TimeZone = UTC`: an array's times
/// print, and read without an offset, in it; so production defaults that
/// depend on the session's zone (`current_date`, `localtime`) are computed
/// in UTC during a commit.
const PG_PINNED: [(&str, &str); 6] = [
    ("client_encoding", "UTF8"),
    ("TimeZone", "UTC"),
    ("extra_float_digits", "3"),
    ("DateStyle", "ISO"),
    ("IntervalStyle", "postgres"),
    ("bytea_output", "hex"),
];

/// `SET [LOCAL] name = value; ...` of [`PG_PINNED`].
pub(super) fn pg_pin_sql(local: bool) -> String {
    PG_PINNED
        .iter()
        .map(|(name, value)| {
            format!(
                "SET {}{name} = '{value}'",
                if local { "LOCAL " } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Pins [`PG_PINNED`] on a session of shadowdb's own tables (audit,
/// approvals); returns the previous values for [`pg_restore_encoding`].
pub(crate) async fn pg_pin(
    conn: &mut sqlx::postgres::PgConnection,
) -> std::result::Result<Vec<String>, sqlx::Error> {
    // One round trip each way: the settings as one array, then the SETs.
    let reads: Vec<String> = PG_PINNED
        .iter()
        .map(|(name, _)| format!("pg_catalog.current_setting('{name}')"))
        .collect();
    let prev: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT ARRAY[{}]",
        reads.join(", ")
    )))
    .fetch_one(&mut *conn)
    .await?;
    conn.execute(sqlx::AssertSqlSafe(pg_pin_sql(false))).await?;
    Ok(prev)
}

pub(crate) async fn pg_restore_encoding(conn: &mut sqlx::postgres::PgConnection, prev: &[String]) {
    // Best effort: the connection returns to the user's pool as it came.
    let sets: Vec<String> = PG_PINNED
        .iter()
        .zip(1..)
        .map(|((name, _), n)| format!("pg_catalog.set_config('{name}', ${n}, false)"))
        .collect();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {}", sets.join(", "))));
    for v in prev {
        q = q.bind(v);
    }
    let _ = q.execute(&mut *conn).await;
}
