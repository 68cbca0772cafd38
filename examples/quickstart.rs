//! The whole flow on an embedded SQLite "production" database, no server needed:
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! An agent working for tenant 42 makes one bad write (a status outside the
//! enum) and one cross-tenant insert (a row for tenant 99). The review is
//! BLOCKED and the commit refused; the agent corrects both, the review is
//! SAFE TO COMMIT, the commit applies it in one transaction, and production
//! shows tenants 7 and 99 untouched.
//!
//! The output is deterministic (no ids, no timings): the README quotes it.

use std::error::Error;
use std::path::PathBuf;

use safemodel::{SafeEnum, SafeModel};
use shadowdb::ShadowDb;
use shadowdb::render::{Review, TextOptions, render_text};
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

/// What a task's status may be: nothing else reaches production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SafeEnum)]
#[safemodel(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started.
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished.
    Done,
}

/// The contract of the `tasks` table, checked by the compiler.
#[derive(Debug, SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
pub struct Task {
    /// The key.
    #[safemodel(primary_key)]
    pub id: i64,
    /// The tenant: the agent works for one user.
    pub user_id: i64,
    /// Not empty, at most 200 characters.
    #[validate(length(min = 1, max = 200))]
    pub title: String,
    /// One of the enum's variants.
    pub status: TaskStatus,
}

/// The tenant the agent works for.
const TENANT: i64 = 42;

/// The agent's first attempt.
const AGENT_SQL: &str = "\
UPDATE tasks SET status = 'done' WHERE id = 1;
UPDATE tasks SET status = 'yolo_swag' WHERE id = 2;
INSERT INTO tasks (id, title, status) VALUES (10, 'Plan the sprint', 'todo');
INSERT INTO tasks (id, user_id, title, status) VALUES (11, 99, 'Mine now', 'todo');";

/// The agent's corrections.
const FIX_SQL: &str = "\
UPDATE tasks SET status = 'in_progress' WHERE id = 2;
DELETE FROM tasks WHERE id = 11;";

/// Removes the database file (and SQLite's side files) however the run ends.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn heading(text: &str) {
    // The first heading opens the output; the others follow a blank line.
    static FIRST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    if !FIRST.swap(false, std::sync::atomic::Ordering::Relaxed) {
        println!();
    }
    println!("== {text} ==\n");
}

fn show_sql(sql: &str) {
    for line in sql.lines() {
        println!("  {line}");
    }
}

async fn print_tasks(pool: &SqlitePool) -> Result<(), Box<dyn Error>> {
    let rows: Vec<(i64, i64, String, String)> =
        sqlx::query_as("SELECT id, user_id, title, status FROM tasks ORDER BY user_id, id")
            .fetch_all(pool)
            .await?;
    println!("   id  user_id  title                 status");
    for (id, user_id, title, status) in rows {
        println!("  {id:>3}  {user_id:>7}  {title:<20}  {status}");
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::temp_dir().join(format!("shadowdb-quickstart-{}.db", std::process::id()));
    let _cleanup = TempDb(path.clone());
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await?;
    // Colour on a terminal, plain text in a pipe (and with NO_COLOR).
    let text = TextOptions::for_stdout();

    heading("1. Production: an embedded SQLite database, three tenants");
    sqlx::query(
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
         title TEXT NOT NULL, status TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO tasks VALUES \
         (1, 42, 'Write the report', 'todo'), (2, 42, 'Review the PR', 'todo'), \
         (3, 42, 'Book the venue', 'done'), (4, 7, 'Renew the domain', 'todo'), \
         (5, 7, 'Pay the invoice', 'in_progress'), (6, 99, 'Ship the release', 'todo')",
    )
    .execute(&pool)
    .await?;
    print_tasks(&pool).await?;

    heading("2. A sandbox of tenant 42's rows");
    let mut sandbox = ShadowDb::builder(pool.clone())
        .table("tasks")
        .tenant(TENANT)
        .open()
        .await?;
    for (table, rows) in &sandbox.clone_stats().tables {
        println!("Cloned {rows} rows of `{table}` into an in-memory sandbox.");
    }
    println!("Tenants 7 and 99 never left production.");

    heading("3. The agent's SQL");
    show_sql(AGENT_SQL);
    sandbox.execute(AGENT_SQL, &[]).await?;
    println!();
    let drop_table = "DROP TABLE tasks";
    match sandbox.execute(drop_table, &[]).await {
        Ok(_) => println!("  {drop_table}: ran (unexpected)"),
        Err(err) => println!("  {drop_table}: {err}"),
    }

    heading("4. The review: BLOCKED");
    let changes = sandbox.diff()?;
    print!("{}", render_text(&Review::new(&changes), &text));
    println!();
    match sandbox.commit(&changes).await {
        Ok(_) => println!("Committed (unexpected)."),
        Err(err) => println!("Commit refused, production untouched: {err}"),
    }

    heading("5. The agent corrects its work");
    show_sql(FIX_SQL);
    sandbox.execute(FIX_SQL, &[]).await?;

    heading("6. The review: SAFE TO COMMIT");
    let changes = sandbox.diff()?;
    print!("{}", render_text(&Review::new(&changes), &text));

    heading("7. Commit: one transaction, every row guarded");
    let report = sandbox.commit(&changes).await?;
    let written: usize = report.rows.values().map(|c| c.total()).sum();
    println!("Committed {written} changes.");

    heading("8. Production afterwards");
    print_tasks(&pool).await?;
    println!();
    println!("Tenant 42: task 1 done, task 2 in progress, task 10 added.");
    println!("Tenants 7 and 99: untouched.");

    pool.close().await;
    Ok(())
}
