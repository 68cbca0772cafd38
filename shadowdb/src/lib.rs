#![doc = include_str!("../../README.md")]

pub mod cli;
pub mod approve;
pub mod audit;
pub mod diff;
mod error;
pub mod limits;
pub mod policy;
pub mod prod;
pub mod render;
mod sandbox;
mod shadow;
mod sync;
pub mod schema;
pub mod types;

pub use error::{Conflict, ConflictKind, Error, Refusal, Result, SchemaProblem};
pub use sandbox::{Limits, QueryResult, StatementResult};
pub use shadow::{CloneStats, OpenOptions, ShadowDb};
pub use sync::{Approval, CommitOptions, CommitReport, GeneratedKey, OnConflict};

