//! The library API on PostgreSQL:
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example postgres
//! ```
//!
//! Creates a table `shadowdb_example_invoices` (exact `numeric` amounts, a
//! `uuid` tenant), lets an "agent" change one customer's invoices in a
//! sandbox, reviews the change (contract and policy), commits it in one
//! transaction, and drops the table again.

use std::error::Error;

use safemodel::{Decimal, SafeEnum, SafeModel};
use shadowdb::render::{Review, TextOptions, render_json_string, render_text, verdict_of};
use shadowdb::{CommitOptions, ShadowDb};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// An invoice's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SafeEnum)]
#[safemodel(rename_all = "snake_case")]
pub enum InvoiceState {
    /// Not sent yet.
    Draft,
    /// Sent, not paid.
    Open,
    /// Paid.
    Paid,
}

/// The contract of the example table.
#[derive(Debug, SafeModel)]
#[safemodel(table = "shadowdb_example_invoices", tenant = "customer_id")]
pub struct Invoice {
    /// The key (a `bigserial`: production assigns it to inserted rows).
    #[safemodel(primary_key)]
    pub id: i64,
    /// The tenant.
    pub customer_id: Uuid,
    /// Exact to the cent, never a float.
    pub amount: Decimal,
    /// One of the enum's variants.
    pub state: InvoiceState,
    /// The customer's e-mail: PII, never cloned, never shown.
    #[safemodel(pii)]
    pub email: Option<String>,
}

const TABLE: &str = "shadowdb_example_invoices";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "error: set DATABASE_URL to a PostgreSQL database this example may create a table in, e.g.\n  \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example postgres"
        );
        std::process::exit(2);
    };
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await?;
    println!("Connected to {}", shadowdb::prod::redact_url(&url));

    let ours = Uuid::from_u128(0x42);
    let theirs = Uuid::from_u128(0x99);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, customer_id uuid NOT NULL, \
         amount numeric(12,2) NOT NULL, state text NOT NULL, email text)"
    )))
    .execute(&pool)
    .await?;
    let result = run(&pool, ours, theirs).await;
    // The example's table goes, whatever happened.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {TABLE}")))
        .execute(&pool)
        .await?;
    pool.close().await;
    result
}

async fn run(pool: &sqlx::PgPool, ours: Uuid, theirs: Uuid) -> Result<(), Box<dyn Error>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {TABLE} (customer_id, amount, state, email) VALUES \
         ($1, 120.50, 'open', 'a@example.com'), ($1, 99.99, 'draft', 'a@example.com'), \
         ($2, 5000.00, 'open', 'b@example.com')"
    )))
    .bind(ours)
    .bind(theirs)
    .execute(pool)
    .await?;

    // Only this customer's rows are cloned, without the PII column.
    let mut sandbox = ShadowDb::builder(pool.clone())
        .table(TABLE)
        .tenant(ours)
        .open()
        .await?;

    // The agent's work: mark the open invoice paid, send the draft with a
    // corrected amount, add a new one (its id is provisional until the commit).
    sandbox
        .execute(
            &format!(
                "UPDATE {TABLE} SET state = 'paid' WHERE state = 'open'; \
                 UPDATE {TABLE} SET amount = '89.99', state = 'open' WHERE state = 'draft'; \
                 INSERT INTO {TABLE} (amount, state) VALUES ('42.00', 'open')"
            ),
            &[],
        )
        .await?;

    // The review: contract violations, plus what the policy says about the changeset.
    let changes = sandbox.diff()?;
    let hits = sandbox.policy().check_changeset(&changes);
    let block = hits
        .iter()
        .filter(|h| h.decision == shadowdb::policy::Decision::Block)
        .map(|h| h.reason.clone())
        .collect();
    let approve = hits
        .iter()
        .filter(|h| h.decision == shadowdb::policy::Decision::RequireApproval)
        .map(|h| h.reason.clone())
        .collect();
    let review = Review {
        changeset: &changes,
        verdict: verdict_of(&changes, block, approve),
        pii_columns: sandbox.pii_columns(),
        notes: Vec::new(),
    };
    print!("{}", render_text(&review, &TextOptions::for_stdout()));
    println!("\nThe same as JSON, for programs:");
    println!("{}", render_json_string(&review, true));

    let report = sandbox
        .commit_with(&changes, CommitOptions::new().approved_by("example"))
        .await?;
    for key in &report.generated_keys {
        println!(
            "\n{}.{}: the provisional key {} is {} in production",
            key.table, key.column, key.provisional, key.assigned
        );
    }
    let rows: Vec<(i64, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, amount::text, state FROM {TABLE} WHERE customer_id = $1 ORDER BY id"
    )))
    .bind(ours)
    .fetch_all(pool)
    .await?;
    println!("\nProduction, customer {ours}:");
    for (id, amount, state) in rows {
        println!("  {id:>3}  {amount:>8}  {state}");
    }
    let untouched: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {TABLE} WHERE customer_id = $1 AND amount = 5000.00 AND state = 'open'"
    )))
    .bind(theirs)
    .fetch_one(pool)
    .await?;
    println!("Customer {theirs}: {} invoice, untouched.", untouched.0);
    Ok(())
}
