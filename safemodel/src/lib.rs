//! Row contracts for SQL tables, checked by the compiler and enforced on every row.
//!
//! `#[derive(SafeModel)]` turns a struct into the contract of one table: its
//! tenant column, primary key, column types and field rules. Any row can then
//! be decoded strictly against it, with every violation reported at once.
//!
//! ```
//! use safemodel::{Row, SafeEnum, SafeModel, Value};
//!
//! #[derive(Debug, Clone, Copy, PartialEq, SafeEnum)]
//! #[safemodel(rename_all = "snake_case")]
//! enum TaskStatus { Todo, InProgress, Done }
//!
//! #[derive(Debug, SafeModel)]
//! #[safemodel(table = "tasks", tenant = "user_id")]
//! struct Task {
//!     #[safemodel(primary_key)]
//!     id: i64,
//!     user_id: i64,
//!     #[validate(length(min = 1, max = 200))]
//!     title: String,
//!     status: TaskStatus,
//! }
//!
//! let row = Row::new()
//!     .with("id", 7_i64)
//!     .with("user_id", 42_i64)
//!     .with("title", "Write the report")
//!     .with("status", "yolo_swag");
//! let err = Task::from_row(&row).unwrap_err();
//! assert_eq!(err.to_string(), "tasks[id=7].status: not one of todo, in_progress, done");
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

// The derive writes `::safemodel::..`; this lets the crate's own tests use it.
extern crate self as safemodel;

mod error;
mod field;
mod model;
mod registry;
mod row;
mod value;

#[doc(hidden)]
pub mod __private;

pub use error::{Error, Result, RowViolations, Rule, Violation};
pub use field::{FieldError, FieldType, SafeEnum, TenantType};
pub use model::{CheckOptions, ColumnInfo, SafeModel, TableInfo};
pub use registry::{Model, Registry, registry};
pub use row::Row;
pub use safemodel_derive::{SafeEnum, SafeModel};
/// The error a `#[validate(custom(function = ..))]` function returns; its
/// `code` becomes [`Rule::Custom`], its message (if any) the violation's message.
pub use validator::ValidationError;
pub use value::{Decimal, Json, SqlType, Value, compare_decimal};
