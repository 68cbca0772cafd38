//! The `SafeModel` trait and the static description of a contract.

use std::fmt::Write as _;

use crate::error::RowViolations;
use crate::row::Row;
use crate::value::{SqlType, Value};

/// One column of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The SQL column name (after `rename`).
    pub name: &'static str,
    /// The Rust field name.
    pub field: &'static str,
    /// The SQL family.
    pub sql_type: SqlType,
    /// Whether `NULL` is accepted (the field is an `Option`).
    pub nullable: bool,
    /// `#[safemodel(pii)]`: never cloned into a sandbox, never shown, never logged.
    pub pii: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// For enum fields, the accepted texts.
    pub variants: Option<&'static [&'static str]>,
}

/// The contract of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableInfo {
    /// The table name as written in `#[safemodel(table = "...")]` (may be `schema.table`).
    pub table: &'static str,
    /// The tenant column.
    pub tenant: &'static str,
    /// The primary key columns, in order.
    pub primary_key: &'static [&'static str],
    /// Every column, in field order.
    pub columns: &'static [ColumnInfo],
    /// The Rust type the contract was derived on.
    pub type_name: &'static str,
}

impl TableInfo {
    /// The column named `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&'static ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The row's primary key as `id=7` (composite: `a=1,b=2`); `?` for a key
    /// column the row lacks. A PII key column shows as `<pii>`.
    #[must_use]
    pub fn key_of(&self, row: &Row) -> String {
        let mut out = String::new();
        for (i, col) in self.primary_key.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let pii = self.column(col).is_some_and(|c| c.pii);
            match row.get(col) {
                _ if pii => {
                    let _ = write!(out, "{col}=<pii>");
                }
                Some(Value::Text(s)) => {
                    let _ = write!(out, "{col}={s:?}");
                }
                Some(v) => {
                    let _ = write!(out, "{col}={v}");
                }
                None => {
                    let _ = write!(out, "{col}=?");
                }
            }
        }
        out
    }
}

/// Options of [`SafeModel::check_row`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckOptions {
    /// A PII column absent from the row is not a violation: a sandbox never
    /// holds PII, so rows from it lack those columns by design.
    pub allow_missing_pii: bool,
}

impl CheckOptions {
    /// Strict: every required column must be present.
    #[must_use]
    pub const fn strict() -> Self {
        CheckOptions {
            allow_missing_pii: false,
        }
    }

    /// For rows that come from a sandbox (PII columns were never cloned).
    #[must_use]
    pub const fn sandbox() -> Self {
        CheckOptions {
            allow_missing_pii: true,
        }
    }
}

/// A row contract for one table. Derive it with `#[derive(SafeModel)]`.
///
/// Decoding is strict (see [`FieldType`](crate::FieldType)) and reports every
/// violation of a row at once: type errors, missing and unknown columns, and
/// the field rules (`#[validate(..)]`) of every column that decoded.
pub trait SafeModel: Sized + 'static {
    /// The static description of the contract.
    fn info() -> &'static TableInfo;

    /// Every violation of `row`, without building the model.
    ///
    /// # Errors
    /// All violations of the row, in column order.
    fn check_row(row: &Row, options: CheckOptions) -> Result<(), RowViolations>;

    /// Decodes a row strictly and applies every field rule.
    ///
    /// # Errors
    /// All violations of the row, in column order.
    fn from_row(row: &Row) -> Result<Self, RowViolations>;

    /// The row for this value, columns in contract order.
    fn to_row(&self) -> Row;

    /// Applies the field rules to a value built in Rust.
    ///
    /// # Errors
    /// All violations, in column order.
    fn validate(&self) -> Result<(), RowViolations>;
}
