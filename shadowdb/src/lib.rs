#![doc = include_str!("../../README.md")]

pub mod approve;
pub mod audit;
pub mod cli;
pub mod diff;
mod error;
pub mod limits;
pub mod policy;
pub mod prod;
mod reflect;
mod remap;
pub mod render;
pub mod rollback;
mod sandbox;
pub mod schema;
mod shadow;
mod sync;
pub mod types;
mod value;

pub use error::{Conflict, ConflictKind, DatabaseCause, Error, Refusal, Result, SchemaProblem};
pub use sandbox::{Cut, Limits, QueryResult, StatementResult};
pub use shadow::{CloneStats, OpenOptions, ShadowDb};
pub use sync::{Approval, CommitOptions, CommitReport, GeneratedKey, OnConflict};
