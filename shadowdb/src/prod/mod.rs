//! The production database: a sqlx pool of one of three dialects, and how
//! values are read from it and written back exactly.
//!
//! Values whose exactness the driver's native decoding cannot promise are read
//! as the database's own text (`numeric::text`, `CAST(d AS CHAR)`) and written
//! back as text with a cast, so `numeric(40,10)` keeps every digit and a `json`
//! column keeps its text. Everything else goes through sqlx's native types.
//!
//! The driver layer, one concern a file, each depending only on those above
//! it (and on the leaf codecs of `crate::value`):
//! - this file: [`PerDialect`], the one per-dialect dispatch (pools,
//!   transactions and connections), and [`Production`];
//! - `connect`: connecting, and URLs with their passwords redacted;
//! - `session`: the session settings pinned while shadowdb reads and writes;
//! - `sql`: SQL text (quoted names, exact reads, exact comparisons, digests);
//! - `bind`: values as the driver binds them, one by one or as arrays;
//! - `decode`: production values decoded into [`Value`](safemodel::Value)s;
//! - `batch`, `wire`, `clone`: cloned rows on their way into the sandbox;
//! - `tx`: one transaction on production.

use crate::types::Dialect;

/// `match` on a [`PerDialect`] with one body for the three dialects: the
/// body is typed anew in each arm (a `PgPool` in one, a `SqlitePool` in
/// another), which a closure or a generic function would have to spell out
/// as sqlx trait bounds.
macro_rules! per_dialect {
    ($value:expr, $x:pat => $body:expr) => {
        match $value {
            $crate::prod::PerDialect::Postgres($x) => $body,
            $crate::prod::PerDialect::MySql($x) => $body,
            $crate::prod::PerDialect::Sqlite($x) => $body,
        }
    };
}
pub(crate) use per_dialect;

mod batch;
mod bind;
mod clone;
mod connect;
mod decode;
mod session;
mod sql;
mod tx;
mod wire;

#[cfg(test)]
mod tests;

pub(crate) use batch::{Cell, CloneBatch};
pub(crate) use bind::{
    Bind, BindArray, Elem, NullAs, PgParam, check_write, guard_bind, text_bind, write_bind,
};
pub(crate) use clone::{Digests, clone_rows};
pub use connect::{redact_url, url_passwords};
pub(crate) use decode::{FetchError, sqlite_value_as};
pub(crate) use session::{mysql_pin, mysql_restore_tz, pg_pin, pg_restore_encoding};
pub(crate) use sql::{
    cast_expr, digest_col, digest_expr, digest_of, exact_eq, exact_eq_binds, guard_cmp, guard_expr,
    qualified, read_expr, read_expr_at, value_expr,
};
pub(crate) use tx::ProdTx;
// Kept here for the modules that took them from `prod` before they moved
// to the leaf codecs (and may still, in branches merged after this one).
#[allow(
    unused_imports,
    reason = "paths other modules used; crate::value holds them now"
)]
pub(crate) use crate::value::datetime::{
    parse_instant, parse_naive_timestamp, push_date, push_time, push_timestamp,
};
#[allow(unused_imports, reason = "as above")]
pub(crate) use crate::value::float::format_float;

/// One thing per dialect: a pool ([`Production`]), a transaction
/// (`ProdTx`), a connection (the audit trail's `AuditConn`).
/// Code that does the same in each dialect matches on it once, with one
/// body (see `per_dialect!`).
#[derive(Debug, Clone)]
pub enum PerDialect<P, M, S> {
    /// PostgreSQL.
    Postgres(P),
    /// MySQL or MariaDB.
    MySql(M),
    /// SQLite.
    Sqlite(S),
}

impl<P, M, S> PerDialect<P, M, S> {
    /// The dialect.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        match self {
            PerDialect::Postgres(_) => Dialect::Postgres,
            PerDialect::MySql(_) => Dialect::MySql,
            PerDialect::Sqlite(_) => Dialect::Sqlite,
        }
    }
}

/// A production database reached through sqlx: a pool of one of the three
/// dialects (`Production::Postgres(pool)`, ...), or
/// [`Production::connect`] to a URL.
pub type Production = PerDialect<sqlx::PgPool, sqlx::MySqlPool, sqlx::SqlitePool>;

impl From<sqlx::PgPool> for Production {
    fn from(p: sqlx::PgPool) -> Self {
        Production::Postgres(p)
    }
}
impl From<sqlx::MySqlPool> for Production {
    fn from(p: sqlx::MySqlPool) -> Self {
        Production::MySql(p)
    }
}
impl From<sqlx::SqlitePool> for Production {
    fn from(p: sqlx::SqlitePool) -> Self {
        Production::Sqlite(p)
    }
}
