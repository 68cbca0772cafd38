//! What generated code reaches through `::safemodel::__private`. Not a public API.
//!
//! The derive keeps its output small by calling these helpers: the hot path
//! (column lookup) is `#[inline]`, the paths that build messages are `#[cold]`.

use std::fmt::Display;
use std::sync::{Arc, OnceLock};

pub use crate::field::{FieldError, FieldType, SafeEnum, TenantType, enum_from_value};
pub use crate::registry::Model;
pub use inventory;
pub use validator;

use crate::error::{RowViolations, Rule, Violation};
use crate::model::TableInfo;
use crate::row::Row;
use crate::value::Value;

/// The violation for a required column absent from the row.
#[must_use]
#[cold]
pub fn missing(column: &str) -> Violation {
    Violation::new(column, Rule::Missing, "required column is missing")
}

/// The violation for a column the contract does not declare.
#[must_use]
#[cold]
pub fn unknown_column(column: &str) -> Violation {
    Violation::new(column, Rule::UnknownColumn, "column is not in the contract")
}

/// Compile-time check used by the derive: the tenant field's type can scope rows.
pub const fn assert_tenant_type<T: TenantType>() {}

/// The value of column `name`, expected at `index` (the contract's order, which
/// is also the order of rows read through the contract), else searched by name.
#[inline]
#[must_use]
pub fn lookup<'r>(row: &'r Row, index: usize, name: &str) -> Option<&'r Value> {
    if row
        .column_names()
        .get(index)
        .is_some_and(|column| &**column == name)
    {
        return row.values().get(index);
    }
    row.get(name)
}

/// Appends a violation for every column of `row` the contract does not declare,
/// and for every repetition of one it does, in row order.
///
/// The derive calls it only when the number of matched columns differs from
/// the row's length, so a conforming row never pays for the scan.
#[cold]
pub fn unknown_columns(row: &Row, info: &TableInfo, out: &mut Vec<Violation>) {
    for (index, name) in row.columns().enumerate() {
        if info.column(name).is_none() {
            out.push(unknown_column(name));
        } else if row.position(name) != Some(index) {
            out.push(Violation::new(
                name,
                Rule::UnknownColumn,
                "column appears more than once in the row",
            ));
        }
    }
}

/// Every violation of `row`, with its table and primary key.
#[must_use]
#[cold]
pub fn row_violations(info: &TableInfo, row: &Row, violations: Vec<Violation>) -> RowViolations {
    RowViolations {
        table: info.table.to_owned(),
        key: info.key_of(row),
        violations,
    }
}

/// The shared column names of the rows a model builds ([`crate::SafeModel::to_row`]).
pub type ColumnNames = OnceLock<Arc<[Box<str>]>>;

/// A row of `info`'s columns holding `values` (in contract order); the column
/// names are built once per model and shared by every row.
#[must_use]
pub fn row_of(names: &ColumnNames, info: &TableInfo, values: Vec<Value>) -> Row {
    let names = names.get_or_init(|| info.columns.iter().map(|c| Box::from(c.name)).collect());
    Row::with_columns(Arc::clone(names), values)
}

/// Field-rule bounds, shown as written in the attribute.
struct Bound<'a, T>(&'a str, Option<T>);

impl<T: Display> Bound<'_, T> {
    fn write(&self, parts: &mut Vec<String>) {
        if let Some(v) = &self.1 {
            parts.push(format!("{} {v}", self.0));
        }
    }
}

/// `#[validate(length(..))]` failed.
#[must_use]
#[cold]
pub fn length_violation(
    column: &str,
    min: Option<u64>,
    max: Option<u64>,
    equal: Option<u64>,
    message: Option<&str>,
) -> Violation {
    let text = match (message, min, max, equal) {
        (Some(m), ..) => m.to_owned(),
        (None, _, _, Some(e)) => format!("length must be exactly {e}"),
        (None, Some(lo), Some(hi), None) => format!("length must be between {lo} and {hi}"),
        (None, Some(lo), None, None) => format!("length must be at least {lo}"),
        (None, None, Some(hi), None) => format!("length must be at most {hi}"),
        (None, None, None, None) => "length is not allowed".to_owned(),
    };
    Violation::new(column, Rule::Length, text)
}

/// `#[validate(range(..))]` failed.
#[must_use]
#[cold]
pub fn range_violation<T: Display>(
    column: &str,
    min: Option<T>,
    max: Option<T>,
    exclusive_min: Option<T>,
    exclusive_max: Option<T>,
    message: Option<&str>,
) -> Violation {
    if let Some(m) = message {
        return Violation::new(column, Rule::Range, m);
    }
    let text = match (&min, &max, &exclusive_min, &exclusive_max) {
        (Some(lo), Some(hi), None, None) => format!("must be between {lo} and {hi}"),
        _ => {
            let mut parts = Vec::new();
            Bound("at least", min).write(&mut parts);
            Bound("greater than", exclusive_min).write(&mut parts);
            Bound("at most", max).write(&mut parts);
            Bound("less than", exclusive_max).write(&mut parts);
            format!("must be {}", parts.join(" and "))
        }
    };
    Violation::new(column, Rule::Range, text)
}

/// `#[validate(email)]`, `url` or `regex(..)` failed.
#[must_use]
#[cold]
pub fn rule_violation(column: &str, rule: Rule, message: Option<&str>) -> Violation {
    let text = match (message, &rule) {
        (Some(m), _) => m,
        (None, Rule::Email) => "not a valid email address",
        (None, Rule::Url) => "not a valid URL",
        (None, Rule::Regex) => "does not match the required pattern",
        (None, _) => "breaks a field rule",
    };
    Violation::new(column, rule, text)
}

/// `#[validate(custom(function = ..))]` returned an error: its code is the rule.
///
/// Its message is used only for a non-PII column: a custom function may well
/// quote the value, and a PII value must never reach a message.
#[must_use]
#[cold]
pub fn custom_violation(
    column: &str,
    error: validator::ValidationError,
    pii: bool,
    message: Option<&str>,
) -> Violation {
    let code = error.code.into_owned();
    let text = match (message, error.message) {
        (Some(m), _) => m.to_owned(),
        (None, Some(m)) if !pii => m.into_owned(),
        (None, _) => format!("failed the `{code}` check"),
    };
    Violation::new(column, Rule::Custom(code), text)
}
