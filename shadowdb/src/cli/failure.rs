//! Why a command stopped, the exit code of each error, and the hint that
//! goes with some.

use super::Exit;
use crate::error::{Error, SchemaProblem};

/// Why a command stopped.
#[derive(Debug)]
pub(super) enum Failure {
    /// An error of the library.
    Lib(Error),
    /// Invalid arguments found after parsing (exit 2).
    Usage(String),
    /// A file or stream failed.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Something asked for is not there (exit 1).
    NotFound(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Lib(e)
    }
}

impl From<safemodel::Error> for Failure {
    fn from(e: safemodel::Error) -> Self {
        Failure::Lib(Error::Model(e))
    }
}

impl From<crate::policy::PolicyError> for Failure {
    fn from(e: crate::policy::PolicyError) -> Self {
        Failure::Lib(Error::Policy(e))
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Failure::Lib(Error::ConfigFile(e))
    }
}

/// What to do about an error of `command`, when it is not obvious.
pub(super) fn hint(err: &Error, command: &str) -> Option<&'static str> {
    match err {
        Error::Conflict(_) if command == "rollback" => Some(
            "the commit's rows changed in production after it: nothing was rolled back \
             (undo the later change first, or correct the rows by hand)",
        ),
        Error::UnknownCommit { .. } => Some(
            "`shadowdb rollback --list` shows the recorded commits \
             (a trail kept in a file needs --file FILE)",
        ),
        Error::NeedsApproval(_) if command == "rollback" => {
            Some("add --approved-by NAME, or answer the prompt on a terminal")
        }
        Error::Schema(problems)
            if problems
                .iter()
                .any(|p| matches!(p, SchemaProblem::NoContract { .. })) =>
        {
            Some(
                "contracts are Rust types: call shadowdb::cli::main() from a binary that links your \
                 #[derive(SafeModel)] types, or pass --allow-uncontracted --tenant-column COL",
            )
        }
        Error::ApprovalNotPending { .. } => {
            Some("`shadowdb approvals --list` shows the requests still waiting for a decision")
        }
        Error::ApprovalTimedOut { .. } => Some(
            "nobody decided in time: nothing was committed (a reviewer decides with \
             `shadowdb approvals`; --approval-timeout SECS gives them longer)",
        ),
        Error::TooManyStatements { .. }
        | Error::SessionExpired { .. }
        | Error::Timeout { .. }
        | Error::SessionTimeLimit { .. }
        | Error::MemoryLimit { .. } => {
            Some("a limit of the --config file's [limits]: nothing was committed")
        }
        Error::Conflict(_) => Some("production moved on: run the SQL again on a fresh sandbox"),
        _ => None,
    }
}

/// The exit code of an error.
pub(super) fn exit_of(err: &Error) -> Exit {
    match err {
        Error::Conflict(_) => Exit::Conflict,
        Error::NeedsApproval(_) | Error::ApprovalDenied { .. } | Error::ApprovalTimedOut { .. } => {
            Exit::NotApproved
        }
        Error::Blocked { .. }
        | Error::PolicyBlocked(_)
        | Error::Contract(_)
        | Error::TenantBreach { .. }
        | Error::TenantCollation { .. }
        | Error::Cascade { .. }
        | Error::Refused(_)
        | Error::PiiWrite { .. }
        | Error::CommitTooLarge { .. }
        | Error::TooManyStatements { .. }
        | Error::SessionExpired { .. }
        | Error::RateLimited { .. }
        | Error::Timeout { .. }
        | Error::SessionTimeLimit { .. }
        | Error::MemoryLimit { .. }
        | Error::CannotRollBack { .. }
        | Error::AlreadyRolledBack { .. } => Exit::Blocked,
        Error::Schema(problems)
            if !problems
                .iter()
                .all(|p| matches!(p, SchemaProblem::TableMissing { .. })) =>
        {
            Exit::Blocked
        }
        _ => Exit::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(exit_of(&Error::Conflict(Vec::new())), Exit::Conflict);
        assert_eq!(
            exit_of(&Error::NeedsApproval(Vec::new())),
            Exit::NotApproved
        );
        assert_eq!(exit_of(&Error::PolicyBlocked(Vec::new())), Exit::Blocked);
        assert_eq!(exit_of(&Error::TooManyStatements { max: 1 }), Exit::Blocked);
        let not_pending = Error::ApprovalNotPending {
            request_id: "r".into(),
        };
        assert_eq!(exit_of(&not_pending), Exit::Error);
        assert_eq!(
            exit_of(&Error::Schema(vec![SchemaProblem::TableMissing {
                table: "t".into()
            }])),
            Exit::Error
        );
        assert_eq!(
            exit_of(&Error::Schema(vec![SchemaProblem::NoContract {
                table: "t".into()
            }])),
            Exit::Blocked
        );
        assert_eq!(exit_of(&Error::Config("x".into())), Exit::Error);
        let unknown = Error::UnknownCommit {
            commit_id: "c".into(),
        };
        assert_eq!(exit_of(&unknown), Exit::Error);
        let again = Error::AlreadyRolledBack {
            commit_id: "c".into(),
            rollback_id: "r".into(),
        };
        assert_eq!(exit_of(&again), Exit::Blocked);
        // A conflict's hint depends on what conflicted.
        let conflict = Error::Conflict(Vec::new());
        assert_ne!(hint(&conflict, "run"), hint(&conflict, "rollback"));
    }
}
