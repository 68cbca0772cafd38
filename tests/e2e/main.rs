//! End-to-end tests against real databases: SQLite always, PostgreSQL and
//! MariaDB when their URLs are set (see `common`).

mod common;
mod fidelity;
mod schema;
mod sandbox;
mod smoke;
mod sync;
