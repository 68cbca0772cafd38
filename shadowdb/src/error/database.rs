//! The driver error behind an [`Error::Database`](crate::Error::Database),
//! kept so that no message, `Debug` output or error chain can show the row
//! values a database quotes in its own error texts.

use std::fmt;

/// The driver error behind an [`Error::Database`](crate::Error::Database).
///
/// Production's own messages quote row values (MySQL's `Duplicate entry
/// '..' for key ..`, PostgreSQL's `DETAIL: Key (title)=(..) already
/// exists`), possibly another tenant's. So this cause prints, in `Display`
/// and in `Debug`, only what the summary of an
/// [`Error::Database`](crate::Error::Database) says (kind, constraint,
/// SQLSTATE), and ends the `source()` chain: an error chain
/// printed by a logger or a CLI cannot leak them. A program that needs the
/// driver error itself asks for it explicitly with [`DatabaseCause::driver_error`].
pub struct DatabaseCause(sqlx::Error);

impl DatabaseCause {
    /// The SQLSTATE (or MySQL error code), when the database sent one.
    #[must_use]
    pub fn code(&self) -> Option<String> {
        match &self.0 {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// The kind of a database-reported error (unique, foreign key, ..).
    #[must_use]
    pub fn kind(&self) -> Option<sqlx::error::ErrorKind> {
        match &self.0 {
            sqlx::Error::Database(db) => Some(db.kind()),
            _ => None,
        }
    }

    /// The violated constraint's name, when the database names it.
    #[must_use]
    pub fn constraint(&self) -> Option<&str> {
        match &self.0 {
            sqlx::Error::Database(db) => db.constraint(),
            _ => None,
        }
    }

    /// The driver error as sqlx reported it. Its message may quote row
    /// values of any tenant: never show it to an agent or write it to logs.
    #[must_use]
    pub fn driver_error(&self) -> &sqlx::Error {
        &self.0
    }
}

impl From<sqlx::Error> for DatabaseCause {
    fn from(e: sqlx::Error) -> Self {
        DatabaseCause(e)
    }
}

impl fmt::Display for DatabaseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for DatabaseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseCause")
            .field(&redact(&self.0))
            .finish()
    }
}

impl std::error::Error for DatabaseCause {}

/// A summary of a driver error that cannot carry row data.
pub(crate) fn redact(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // The server ended the session (PostgreSQL's admin/crash shutdown,
            // `pg_terminate_backend`, a connection exception; MySQL's `KILL`).
            if matches!(code.as_str(), "57P01" | "57P02" | "57P03" | "70100")
                || code.starts_with("08")
            {
                return format!("connection lost: the server ended the session (SQLSTATE {code})");
            }
            let kind = match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => "unique constraint violated",
                sqlx::error::ErrorKind::ForeignKeyViolation => "foreign key constraint violated",
                sqlx::error::ErrorKind::NotNullViolation => "NOT NULL constraint violated",
                sqlx::error::ErrorKind::CheckViolation => "CHECK constraint violated",
                _ => "database error",
            };
            let constraint = db
                .constraint()
                .map(|c| format!(" `{c}`"))
                .unwrap_or_default();
            if code.is_empty() {
                format!("{kind}{constraint}")
            } else {
                format!("{kind}{constraint} (SQLSTATE {code})")
            }
        }
        sqlx::Error::Io(_) => "connection lost".to_owned(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        sqlx::Error::PoolClosed => "connection pool closed".to_owned(),
        sqlx::Error::Tls(_) => "TLS error".to_owned(),
        sqlx::Error::Protocol(_) => "protocol error (connection lost?)".to_owned(),
        sqlx::Error::RowNotFound => "no row".to_owned(),
        sqlx::Error::ColumnDecode { index, .. } => format!("cannot decode column {index}"),
        sqlx::Error::Configuration(_) => "invalid connection configuration".to_owned(),
        _ => "database error".to_owned(),
    }
}
