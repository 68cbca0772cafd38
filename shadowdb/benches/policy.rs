//! Statements checked per second by the SQL policy engine, on a mix of
//! realistic agent statements (reads with joins and aggregates, small writes,
//! a CTE-wrapped delete, upserts) and a few it blocks.
//!
//! `cargo bench -p shadowdb --bench policy -- --warm-up-time 1 --measurement-time 3`
//! Criterion reports the time per pass over the mix and the throughput in
//! statements (elements) per second; a plain timing loop then prints
//! statements/second.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use shadowdb::policy::{Decision, Policy, Scope, ScopedTable};

const MIX: &[&str] = &[
    "SELECT id, title, status FROM tasks WHERE user_id = 42 AND status <> 'done' ORDER BY created_at DESC LIMIT 20",
    "SELECT t.id, t.title, p.name FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = 7",
    "SELECT status, count(*) AS n FROM tasks GROUP BY status HAVING count(*) > 1 ORDER BY n DESC",
    "SELECT p.name, count(t.id) FROM projects p LEFT JOIN tasks t ON t.project_id = p.id GROUP BY p.name",
    "SELECT id FROM tasks WHERE project_id IN (SELECT id FROM projects WHERE archived = 0)",
    "WITH open AS (SELECT id FROM tasks WHERE status = 'todo') SELECT count(*) FROM open",
    "UPDATE tasks SET status = 'done', updated_at = CURRENT_TIMESTAMP WHERE id = 3 AND user_id = 42",
    "UPDATE tasks SET title = 'Write the quarterly report' WHERE id = 12",
    "INSERT INTO tasks (id, title, status, project_id) VALUES (101, 'Call the supplier', 'todo', 3)",
    "INSERT INTO comments (task_id, body) VALUES (101, 'Waiting for the invoice'), (102, 'Done')",
    "DELETE FROM tasks WHERE id = 7",
    "WITH x AS (SELECT id FROM tasks WHERE status = 'archived') DELETE FROM tasks WHERE id IN (SELECT id FROM x)",
    "INSERT INTO tasks (id, title) VALUES (5, 'x') ON CONFLICT(id) DO UPDATE SET title = excluded.title",
    "SELECT * FROM tasks WHERE id = 1",
    "DELETE FROM tasks WHERE id = 3 OR 1=1",
    "UPDATE tasks SET email = 'a@b.c' WHERE id = 1",
    "SELECT name FROM sqlite_master",
    "DROP/**/TABLE tasks",
];

fn scope() -> Scope {
    Scope::new()
        .with_table(ScopedTable::new("tasks").with_pii(["email"]))
        .with_table(ScopedTable::new("projects"))
        .with_table(ScopedTable::new("comments"))
}

fn check_all(policy: &Policy, scope: &Scope) -> usize {
    MIX.iter()
        .map(|sql| policy.check_sql(black_box(sql), scope).len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let policy = Policy::builtin("staging").unwrap_or_else(|e| unreachable!("{e}"));
    let scope = scope();
    let blocked = MIX
        .iter()
        .filter(|sql| {
            policy
                .check_sql(sql, &scope)
                .first()
                .is_some_and(|v| v.decision == Decision::Block)
        })
        .count();
    assert_eq!(blocked, 4, "the mix blocks exactly its 4 bad statements");

    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("check_sql, realistic mix", |b| {
        b.iter(|| check_all(&policy, black_box(&scope)));
    });
    group.finish();

    // A plain figure for the closing note: statements per second on one core.
    let rounds = 2_000;
    let start = Instant::now();
    let mut checked = 0;
    for _ in 0..rounds {
        checked += check_all(&policy, black_box(&scope));
    }
    let seconds = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a report, not arithmetic
    let per_second = checked as f64 / seconds;
    println!(
        "policy: {:.1} µs/statement, {per_second:.0} statements/second ({checked} statements)",
        1e6 / per_second
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
