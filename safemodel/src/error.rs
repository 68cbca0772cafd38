//! Errors and violations.

use std::fmt;

/// The one error type of `safemodel`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not an exact decimal number.
    #[error("not a decimal number")]
    InvalidDecimal,
    /// Text that is not one JSON document.
    #[error("not a JSON document")]
    InvalidJson,
    /// A row broke its contract; every violation is listed.
    #[error("{0}")]
    Violations(RowViolations),
    /// Two models were derived for one table.
    #[error("table `{table}` has two contracts: `{first}` and `{second}`")]
    DuplicateModel {
        /// The table both claim.
        table: String,
        /// One model's type name.
        first: &'static str,
        /// The other model's type name.
        second: &'static str,
    },
    /// No model is registered for the table.
    #[error("table `{table}` has no registered contract")]
    UnknownTable {
        /// The table asked for.
        table: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The rule a value broke.
///
/// Rules are names, so a program can match on them; the message says the rest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A value of another type (text `'42'` for an integer column).
    Type,
    /// `NULL` in a column whose field is not an `Option`.
    NotNull,
    /// A column the contract requires is absent from the row.
    Missing,
    /// The row has a column the contract does not declare.
    UnknownColumn,
    /// An integer outside the range of its field's type.
    OutOfRange,
    /// Text that is not one of an enum's variants.
    Enum,
    /// `#[validate(length(..))]`.
    Length,
    /// `#[validate(range(..))]`.
    Range,
    /// `#[validate(email)]`.
    Email,
    /// `#[validate(url)]`.
    Url,
    /// `#[validate(regex(..))]`.
    Regex,
    /// `#[validate(custom(function = ..))]`, with the function's error code.
    Custom(String),
    /// A rule outside `safemodel` (a policy, the tenant guard, ...).
    Other(String),
}

impl Rule {
    /// The rule's name as rendered in messages and JSON.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Rule::Type => "type",
            Rule::NotNull => "not_null",
            Rule::Missing => "missing",
            Rule::UnknownColumn => "unknown_column",
            Rule::OutOfRange => "out_of_range",
            Rule::Enum => "enum",
            Rule::Length => "length",
            Rule::Range => "range",
            Rule::Email => "email",
            Rule::Url => "url",
            Rule::Regex => "regex",
            Rule::Custom(code) | Rule::Other(code) => code,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of one row breaking one rule.
///
/// The message never holds the offending value: the column may be PII, or the
/// value may belong to someone the reader must not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The column (SQL name).
    pub column: String,
    /// The rule broken.
    pub rule: Rule,
    /// What is wrong, without the value.
    pub message: String,
}

impl Violation {
    /// A violation of `rule` on `column`.
    pub fn new(column: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        Violation {
            column: column.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.column, self.message)
    }
}

/// Every violation of one row, with the row's table and primary key.
///
/// Renders one line per violation: `tasks[id=7].status: not one of todo, in_progress, done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowViolations {
    /// The table.
    pub table: String,
    /// The primary key as `col=value` pairs joined by `,` (empty when unknown).
    pub key: String,
    /// Every violation, in column order.
    pub violations: Vec<Violation>,
}

impl fmt::Display for RowViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "{}[{}].{}: {}",
                self.table, self.key, v.column, v.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RowViolations {}
