//! Decode and validate rows of a 6-column contract with 2 field rules.
//!
//! `cargo bench -p safemodel --bench decode -- --warm-up-time 1 --measurement-time 3`
//! Criterion reports the time per batch of `BATCH` rows and the throughput in
//! rows (elements) per second; a plain timing loop then prints rows/second.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use safemodel::{Row, SafeEnum, SafeModel, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, SafeEnum)]
#[safemodel(rename_all = "snake_case")]
enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
    #[validate(length(min = 1, max = 200))]
    title: String,
    status: TaskStatus,
    #[validate(range(min = 0, max = 10))]
    priority: i32,
    done_at: Option<chrono::NaiveDateTime>,
}

const BATCH: usize = 1_000;

fn rows() -> Vec<Row> {
    let names: Arc<[Box<str>]> = ["id", "user_id", "title", "status", "priority", "done_at"]
        .map(Box::from)
        .into();
    (0..BATCH)
        .map(|i| {
            let i = i64::try_from(i).unwrap_or_default();
            Row::with_columns(
                Arc::clone(&names),
                vec![
                    Value::Int(i),
                    Value::Int(42),
                    Value::Text(format!("Task number {i}: write the report")),
                    Value::Text(
                        match i % 3 {
                            0 => "todo",
                            1 => "in_progress",
                            _ => "done",
                        }
                        .to_owned(),
                    ),
                    Value::Int(i % 10),
                    Value::Null,
                ],
            )
        })
        .collect()
}

fn decode_all(rows: &[Row]) -> usize {
    rows.iter()
        .filter(|row| Task::from_row(black_box(row)).is_ok())
        .count()
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    assert_eq!(
        decode_all(&rows),
        BATCH,
        "every benchmark row must be valid"
    );
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("from_row, 6 columns, 2 rules", |b| {
        b.iter(|| decode_all(black_box(&rows)));
    });
    group.finish();

    // A plain figure for the closing note: rows per second on one core.
    let rounds = 2_000;
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..rounds {
        ok += decode_all(black_box(&rows));
    }
    let seconds = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a report, not arithmetic
    let per_second = ok as f64 / seconds;
    println!(
        "decode: {:.0} ns/row, {:.0} rows/second ({ok} rows)",
        1e9 / per_second,
        per_second
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
