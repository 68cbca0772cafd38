//! The SQL policy engine: the statement corpus, profiles and the config file,
//! changeset rules, and a never-panics property test.

// Helpers outside `#[test]` functions are test code too: a failed unwrap or
// index here is a failed test (clippy.toml only covers `#[test]` bodies).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod changes;

mod policy {
    pub mod changeset;
    pub mod config;
    pub mod corpus;
    pub mod never_panics;
    pub mod statements;
}

use shadowdb::policy::{Decision, Scope, ScopedTable, StatementVerdict};

/// The scope every statement test runs against.
pub fn scope() -> Scope {
    Scope::new()
        .with_table(
            ScopedTable::new("tasks")
                .with_pii(["email", "phone"])
                .with_tenant_column("user_id"),
        )
        .with_table(ScopedTable::new("projects"))
        .with_table(ScopedTable::new("comments"))
        .with_table(ScopedTable::new("app.invoices").with_pii(["billing_email"]))
        .with_table(ScopedTable::new("countries").read_only())
}

/// The strictest decision among a verdict's hits (`Allow` when none hit):
/// what the verdict's own decision must be.
pub fn strictest(v: &StatementVerdict) -> Decision {
    v.hits
        .iter()
        .map(|h| h.decision)
        .max()
        .unwrap_or(Decision::Allow)
}
