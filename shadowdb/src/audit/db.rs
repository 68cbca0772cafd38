//! The audit table in the production database.
//!
//! `shadowdb_audit` (created on demand): `seq` (an increasing integer key),
//! then text columns `event_time` (the trail's fixed-width instant),
//! `session_id`, `tenant`, `actor`, `kind`, `commit_id` (see
//! [`AuditKind::commit_id`](super::AuditKind::commit_id)) and `event` (the
//! whole event as JSON, as in a JSON Lines file). The other columns exist to
//! be filtered on.

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::textsql::{self, text_cmp};
use super::{AuditEvent, AuditQuery, AuditSink, format_time};
use crate::approve::BoxFuture;
use crate::error::{Error, Result};
use crate::prod::{Bind, NullAs, PerDialect, ProdTx, Production, per_dialect};
use crate::types::Dialect;

/// The name of the audit table.
pub const AUDIT_TABLE: &str = "shadowdb_audit";

const INSERT: &str = "INSERT INTO shadowdb_audit \
     (event_time, session_id, tenant, actor, kind, commit_id, event) \
     VALUES (?, ?, ?, ?, ?, ?, ?)";

fn ddl(dialect: Dialect) -> Vec<String> {
    let t = AUDIT_TABLE;
    let columns = "event_time {short} NOT NULL, session_id text NOT NULL, tenant text NOT NULL, \
                   actor text NOT NULL, kind {short} NOT NULL, commit_id {key}, event {long} NOT NULL";
    let indexes = [
        format!("CREATE INDEX IF NOT EXISTS {t}_tenant_time ON {t} (tenant, event_time)"),
        format!("CREATE INDEX IF NOT EXISTS {t}_commit ON {t} (commit_id)"),
    ];
    match dialect {
        Dialect::Postgres => {
            let columns = columns
                .replace("{short}", "text")
                .replace("{key}", "text")
                .replace("{long}", "text");
            let mut v = vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (seq bigserial PRIMARY KEY, {columns})"
            )];
            v.extend(indexes);
            v
        }
        Dialect::Sqlite => {
            let columns = columns
                .replace("{short}", "text")
                .replace("{key}", "text")
                .replace("{long}", "text");
            let mut v = vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (seq INTEGER PRIMARY KEY AUTOINCREMENT, {columns})"
            )];
            v.extend(indexes);
            v
        }
        // Indexes inline: MySQL has no CREATE INDEX IF NOT EXISTS.
        Dialect::MySql => {
            let columns = columns
                .replace("{short}", "varchar(32)")
                .replace("{key}", "varchar(255)")
                .replace("{long}", "longtext");
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (seq bigint AUTO_INCREMENT PRIMARY KEY, {columns}, \
                 KEY {t}_tenant_time (tenant(64), event_time), KEY {t}_commit (commit_id)) \
                 CHARACTER SET utf8mb4"
            )]
        }
    }
}

/// Creates the audit table unless it exists. DDL: call it before the
/// transaction that writes commit events (MySQL commits an open transaction
/// on DDL).
///
/// # Errors
/// [`Error::Database`].
pub async fn ensure_audit_table(prod: &Production) -> Result<()> {
    textsql::create(prod, &ddl(prod.dialect()))
        .await
        .map_err(|e| Error::database(format!("creating {AUDIT_TABLE}"), e))
}

/// The values of one row, in [`INSERT`]'s order.
fn row_values(event: &AuditEvent) -> Result<[Option<String>; 7]> {
    Ok([
        Some(format_time(&event.time)),
        Some(event.session_id.clone()),
        Some(event.tenant.clone()),
        Some(event.actor.clone()),
        Some(event.kind.name().to_owned()),
        event.kind.commit_id().map(str::to_owned),
        Some(event.to_json()?),
    ])
}

/// A connection (or, through `&mut *tx`, a transaction) to write an event on.
pub type AuditConn<'c> = PerDialect<
    &'c mut sqlx::PgConnection,
    &'c mut sqlx::MySqlConnection,
    &'c mut sqlx::SqliteConnection,
>;

impl<'c> From<&'c mut sqlx::PgConnection> for AuditConn<'c> {
    fn from(c: &'c mut sqlx::PgConnection) -> Self {
        AuditConn::Postgres(c)
    }
}
impl<'c> From<&'c mut sqlx::MySqlConnection> for AuditConn<'c> {
    fn from(c: &'c mut sqlx::MySqlConnection) -> Self {
        AuditConn::MySql(c)
    }
}
impl<'c> From<&'c mut sqlx::SqliteConnection> for AuditConn<'c> {
    fn from(c: &'c mut sqlx::SqliteConnection) -> Self {
        AuditConn::Sqlite(c)
    }
}

/// Writes `event` to the audit table on `conn`: pass `&mut *tx` to write it
/// in a transaction of your own, so it commits or rolls back with your
/// writes. The table must exist ([`ensure_audit_table`]).
///
/// # Errors
/// [`Error::Database`].
pub async fn insert_event(conn: impl Into<AuditConn<'_>>, event: &AuditEvent) -> Result<()> {
    let values = row_values(event)?;
    let ctx = || format!("writing to {AUDIT_TABLE}");
    let conn = conn.into();
    let sql = textsql::placeholders(conn.dialect(), INSERT);
    per_dialect!(conn, c => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in &values {
            q = q.bind(v.clone());
        }
        q.execute(c)
            .await
            .map_err(|e| Error::database(ctx(), e))?;
    });
    Ok(())
}

/// Writes `event` in the commit's own transaction, so the commit and its
/// record exist together or not at all. The table must exist: call
/// [`ensure_audit_table`] before [`ProdTx::begin`].
#[allow(dead_code, reason = "the commit in sync.rs writes its record with it")]
pub(crate) async fn record_in_tx(tx: &mut ProdTx, event: &AuditEvent) -> Result<()> {
    let dialect = tx.dialect();
    let binds: Vec<Bind> = row_values(event)?
        .into_iter()
        .map(|v| v.map_or(Bind::Null(NullAs::Text), Bind::Text))
        .collect();
    tx.execute(textsql::placeholders(dialect, INSERT), &binds)
        .await
        .map(|_| ())
        .map_err(|e| Error::database(format!("commit: writing to {AUDIT_TABLE}"), e))
}

/// Writes events to the production database's `shadowdb_audit` table,
/// creating it on first use, and reads them back.
#[derive(Debug)]
pub struct DbAuditSink {
    prod: Production,
    ready: OnceCell<()>,
}

impl DbAuditSink {
    /// A sink writing to `prod`.
    #[must_use]
    pub fn new(prod: Production) -> Self {
        DbAuditSink {
            prod,
            ready: OnceCell::new(),
        }
    }

    /// The database.
    #[must_use]
    pub fn production(&self) -> &Production {
        &self.prod
    }

    /// Creates the table unless it exists (once per sink).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn ensure_table(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| ensure_audit_table(&self.prod))
            .await
            .map(|_| ())
    }

    /// The stored events matching `query`, in the order they were written;
    /// none when the table does not exist.
    ///
    /// # Errors
    /// [`Error::Database`], or [`Error::Audit`] for a row that is not an event.
    pub async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        // Reading creates nothing: no table is no events (and read-only
        // credentials can read the trail).
        let name = crate::model::TableName::parse(AUDIT_TABLE);
        if crate::reflect::reflect(&self.prod, &name).await?.is_none() {
            return Ok(Vec::new());
        }
        let dialect = self.prod.dialect();
        let mut conditions: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        // Plain `=`, which indexes serve: under MySQL's case-insensitive
        // collations it matches a superset, and the exact filter below
        // keeps only exact matches.
        let mut eq = |column: &str, value: Option<&str>| {
            if let Some(v) = value {
                conditions.push(format!("{column} = ?"));
                binds.push(v.to_owned());
            }
        };
        eq("tenant", query.tenant.as_deref());
        eq("actor", query.actor.as_deref());
        eq("kind", query.kind.map(|k| k.name()));
        eq("session_id", query.session_id.as_deref());
        eq("commit_id", query.commit_id.as_deref());
        let mut range = |op: &str, t: Option<DateTime<Utc>>| {
            if let Some(t) = t {
                conditions.push(text_cmp(dialect, "event_time", op));
                binds.push(format_time(&t));
            }
        };
        range(">=", query.since);
        range("<", query.until);
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!("SELECT event FROM {AUDIT_TABLE}{filter} ORDER BY seq");
        let binds: Vec<Option<&str>> = binds.iter().map(|b| Some(b.as_str())).collect();
        let rows = textsql::fetch(&self.prod, &sql, &binds)
            .await
            .map_err(|e| Error::database(format!("reading {AUDIT_TABLE}"), e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let json = row.into_iter().next().flatten().unwrap_or_default();
            let event = AuditEvent::from_json(&json)?;
            // Exact text and microsecond times: the same filter as the file's.
            if query.matches(&event) {
                out.push(event);
            }
        }
        Ok(out)
    }
}

impl AuditSink for DbAuditSink {
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.ensure_table().await?;
            let values = row_values(event)?;
            let binds: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            textsql::execute(&self.prod, INSERT, &binds)
                .await
                .map(|_| ())
                .map_err(|e| Error::database(format!("writing to {AUDIT_TABLE}"), e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditKind;

    async fn count(prod: &Production, sql: &str) -> usize {
        textsql::fetch(prod, sql, &[]).await.unwrap().len()
    }

    /// The record and the data it describes commit, or roll back, together.
    #[tokio::test]
    async fn record_in_tx_shares_the_commit() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let prod = Production::Sqlite(pool);
        textsql::execute(&prod, "CREATE TABLE t (id text)", &[])
            .await
            .unwrap();
        ensure_audit_table(&prod).await.unwrap();
        let event = AuditEvent::now(
            "s",
            "42",
            "agent",
            AuditKind::Rollback {
                commit_id: "c1".into(),
                rollback_id: "r1".into(),
                rows_affected: 1,
            },
        );

        let mut tx = ProdTx::begin(&prod).await.unwrap();
        tx.execute("INSERT INTO t VALUES ('x')".into(), &[])
            .await
            .unwrap();
        record_in_tx(&mut tx, &event).await.unwrap();
        tx.rollback().await;
        assert_eq!(count(&prod, "SELECT id FROM t").await, 0);
        assert_eq!(count(&prod, "SELECT event FROM shadowdb_audit").await, 0);

        let mut tx = ProdTx::begin(&prod).await.unwrap();
        tx.execute("INSERT INTO t VALUES ('x')".into(), &[])
            .await
            .unwrap();
        record_in_tx(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&prod, "SELECT id FROM t").await, 1);
        let stored = DbAuditSink::new(prod)
            .query(&AuditQuery::new().commit("c1"))
            .await
            .unwrap();
        assert_eq!(stored, vec![event]);
    }
}
