//! End-to-end tests against real databases: SQLite always, PostgreSQL and
//! MariaDB when their URLs are set (see `common`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic fails the test"
)]

mod collation;
mod common;
mod computed;
mod exact;
mod fidelity;
mod governance;
mod hostile13;
mod hostile_tenant;
mod sandbox;
mod schema;
mod smoke;
mod sync;
