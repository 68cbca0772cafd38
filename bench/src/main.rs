//! `shadowdb-bench`: shadowdb end to end against the floor, plain batched SQL.
//!
//! Per N (rows per tenant) it creates, in a fresh PostgreSQL database of its
//! own (`shadowdb_bench`, created next to the `--db` database and dropped at
//! the end), the table
//! `tasks(id bigint primary key, user_id bigint, title text, status text,
//! priority int, updated_at timestamptz)` holding 3 tenants × N rows, then
//! runs each system `--runs` times, alternating, the table rebuilt before
//! every run:
//!
//! - **ours**: open a `ShadowDb` on tenant 2 (reflect + clone), the agent's
//!   SQL in the sandbox (UPDATE 10% of the tenant's rows, INSERT 1%, DELETE
//!   1%), diff (with contract checks), commit;
//! - **floor**: plain sqlx, the minimum real work: SELECT the tenant's rows,
//!   then the same inserts, updates and deletes in one transaction, one
//!   batched statement each (`unnest` of arrays, `= ANY`).
//!
//! After every run production must hold exactly the expected rows (count and
//! SHA-256 over every row), or the benchmark fails. Each system runs in a
//! child process of this binary, so each peak memory (`VmHWM`, the
//! process's resident-set high-water mark) is that system's alone (runtime
//! and driver included, the same for both).
//!
//! It prints the median of every phase, the total, the peak memory and the
//! ratios ours/floor (total, and our commit against the floor's write, also
//! for the best run of each: on a shared machine medians carry other
//! processes' noise).
//!
//! ```sh
//! cargo run --release -p shadowdb-bench -- --rows 1000,10000,100000
//! # elsewhere:
//! cargo run --release -p shadowdb-bench -- --db postgres://user:pass@host/db --runs 5
//! ```
//! `--db` defaults to `$SHADOWDB_BENCH_POSTGRES_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`.

use std::error::Error;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone as _, Utc};
use clap::Parser;
use safemodel::SafeModel;
use sha2::{Digest as _, Sha256};
use shadowdb::{Limits, ShadowDb};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor as _, PgPool};

type Res<T> = Result<T, Box<dyn Error>>;

/// The contract of the benchmark table.
#[derive(Debug, SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
pub struct Task {
    /// The key.
    #[safemodel(primary_key)]
    pub id: i64,
    /// The tenant.
    pub user_id: i64,
    /// A title.
    #[validate(length(min = 1, max = 200))]
    pub title: String,
    /// `todo`, `doing` or `done`.
    pub status: String,
    /// 0 to 9.
    pub priority: i32,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Parser)]
#[command(about = "shadowdb end to end against plain batched SQL on PostgreSQL")]
struct Args {
    /// PostgreSQL URL; the benchmark creates (and drops) its own database on that server.
    #[arg(
        long,
        env = "SHADOWDB_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    db: String,
    /// Rows per tenant (3 tenants), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    rows: Vec<u64>,
    /// Runs per system and N.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Internal: run one system once in this process and print its measures.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// The measured tenant.
const TENANT: i64 = 2;
const STATUSES: [&str; 3] = ["todo", "doing", "done"];

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn update_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: i64,
    user_id: i64,
    title: String,
    status: String,
    priority: i32,
    updated_at: DateTime<Utc>,
}

/// Row `i` (1-based) of the initial table: tenants interleave, as rows of
/// many tenants do in a shared table.
fn initial(i: i64) -> Row {
    let status = usize::try_from((i / 3) % 3)
        .ok()
        .and_then(|s| STATUSES.get(s))
        .copied()
        .unwrap_or("todo");
    Row {
        id: i,
        user_id: i % 3 + 1,
        title: format!("task {i}"),
        status: status.to_owned(),
        priority: i32::try_from(i % 5).unwrap_or(0),
        updated_at: base_time() + chrono::Duration::seconds(i),
    }
}

/// The changes, as a plain program computes them from the tenant's rows.
struct Changes {
    inserts: Vec<Row>,
    updates: Vec<Row>,
    deletes: Vec<i64>,
}

fn is_updated(id: i64) -> bool {
    id % 10 == 0
}

fn is_deleted(id: i64) -> bool {
    id % 100 == 1
}

fn changes(n: u64, tenant_rows: &[Row]) -> Changes {
    let total = i64::try_from(3 * n).unwrap_or(i64::MAX);
    let inserts = (1..=i64::try_from(n / 100).unwrap_or(0))
        .map(|j| Row {
            id: total + j,
            user_id: TENANT,
            title: format!("new {j}"),
            status: "todo".to_owned(),
            priority: 3,
            updated_at: update_time(),
        })
        .collect();
    let updates = tenant_rows
        .iter()
        .filter(|r| is_updated(r.id))
        .map(|r| Row {
            status: "done".to_owned(),
            priority: r.priority + 1,
            updated_at: update_time(),
            ..r.clone()
        })
        .collect();
    let deletes = tenant_rows
        .iter()
        .map(|r| r.id)
        .filter(|&id| is_deleted(id))
        .collect();
    Changes {
        inserts,
        updates,
        deletes,
    }
}

/// The agent's SQL, run in the sandbox: the same changes.
fn agent_sql(n: u64) -> String {
    let mut sql = "UPDATE tasks SET status = 'done', priority = priority + 1, updated_at = '2025-01-01 00:00:00+00:00' WHERE id % 10 = 0;\n\
                   DELETE FROM tasks WHERE id % 100 = 1;\n"
        .to_owned();
    if n / 100 > 0 {
        let _ = writeln!(
            sql,
            "INSERT INTO tasks (id, user_id, title, status, priority, updated_at) \
             WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {}) \
             SELECT {} + x, {TENANT}, 'new ' || x, 'todo', 3, '2025-01-01 00:00:00+00:00' FROM s",
            n / 100,
            3 * n
        );
    }
    sql
}

/// Production's rows after a correct run, as `(count, SHA-256)`.
fn expected(n: u64) -> (i64, String) {
    let total = i64::try_from(3 * n).unwrap_or(i64::MAX);
    let all: Vec<Row> = (1..=total).map(initial).collect();
    let tenant: Vec<Row> = all
        .iter()
        .filter(|r| r.user_id == TENANT)
        .cloned()
        .collect();
    let c = changes(n, &tenant);
    let mut updates = c.updates.into_iter().peekable();
    let mut rows: Vec<Row> = all
        .into_iter()
        .filter(|r| !(r.user_id == TENANT && is_deleted(r.id)))
        .map(|r| updates.next_if(|u| u.id == r.id).unwrap_or(r))
        .collect();
    rows.extend(c.inserts);
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{},{},{},{},{},{}",
                r.id,
                r.user_id,
                r.title,
                r.status,
                r.priority,
                r.updated_at.timestamp()
            )
        })
        .collect();
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    (
        count,
        hex::encode(Sha256::digest(lines.join("\n").as_bytes())),
    )
}

/// Production's rows now, as `(count, SHA-256)`.
async fn actual(pool: &PgPool) -> Res<(i64, String)> {
    let (count, sum): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), encode(sha256(convert_to(string_agg(
             id || ',' || user_id || ',' || title || ',' || status || ',' || priority || ',' || extract(epoch FROM updated_at)::bigint,
             E'\\n' ORDER BY id), 'UTF8')), 'hex')
         FROM tasks",
    )
    .fetch_one(pool)
    .await?;
    Ok((count, sum.unwrap_or_default()))
}

/// Rebuilds the table: 3 tenants × `n` rows, indexed on the tenant, analysed.
async fn reset(pool: &PgPool, n: u64) -> Res<()> {
    pool.execute("DROP TABLE IF EXISTS tasks").await?;
    pool.execute(
        "CREATE TABLE tasks (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL, \
         status text NOT NULL, priority int NOT NULL, updated_at timestamptz NOT NULL)",
    )
    .await?;
    sqlx::query(
        "INSERT INTO tasks SELECT i, i % 3 + 1, 'task ' || i, (ARRAY['todo', 'doing', 'done'])[(i / 3) % 3 + 1], \
         i % 5, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' FROM generate_series(1::bigint, $1) AS i",
    )
    .bind(i64::try_from(3 * n)?)
    .execute(pool)
    .await?;
    pool.execute("CREATE INDEX tasks_user_id ON tasks (user_id)")
        .await?;
    pool.execute("VACUUM ANALYZE tasks").await?;
    Ok(())
}

/// The resident-set high-water mark of this process, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn connect(url: &str) -> Res<PgPool> {
    Ok(PgPoolOptions::new().max_connections(4).connect(url).await?)
}

/// One run of ours: phases in seconds.
async fn run_ours(url: &str, n: u64) -> Res<Vec<(&'static str, f64)>> {
    let pool = connect(url).await?;
    let t = Instant::now();
    let mut sdb = ShadowDb::builder(pool)
        .table("tasks")
        .tenant(TENANT)
        .limits(Limits {
            statement_time: Duration::from_secs(600),
            ..Limits::default()
        })
        .open()
        .await?;
    let open = t.elapsed();
    let t = Instant::now();
    sdb.execute(&agent_sql(n), &[]).await?;
    let agent = t.elapsed();
    let t = Instant::now();
    let cs = sdb.diff()?;
    let diff = t.elapsed();
    if !cs.is_valid() {
        return Err(format!(
            "the changeset breaks its contract: {:?}",
            cs.changes().iter().find(|c| !c.is_valid())
        )
        .into());
    }
    let t = Instant::now();
    sdb.commit(&cs).await?;
    let commit = t.elapsed();
    Ok(vec![
        ("open", open.as_secs_f64()),
        ("agent", agent.as_secs_f64()),
        ("diff", diff.as_secs_f64()),
        ("commit", commit.as_secs_f64()),
    ])
}

/// One run of the floor: phases in seconds.
async fn run_floor(url: &str, n: u64) -> Res<Vec<(&'static str, f64)>> {
    let pool = connect(url).await?;
    let t = Instant::now();
    let rows: Vec<Row> = sqlx::query_as::<_, (i64, i64, String, String, i32, DateTime<Utc>)>(
        "SELECT id, user_id, title, status, priority, updated_at FROM tasks WHERE user_id = $1",
    )
    .bind(TENANT)
    .fetch_all(&pool)
    .await?
    .into_iter()
    .map(|(id, user_id, title, status, priority, updated_at)| Row {
        id,
        user_id,
        title,
        status,
        priority,
        updated_at,
    })
    .collect();
    let read = t.elapsed();
    let t = Instant::now();
    let c = changes(n, &rows);
    let mut tx = pool.begin().await?;
    if !c.inserts.is_empty() {
        sqlx::query(
            "INSERT INTO tasks (id, user_id, title, status, priority, updated_at) \
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int4[], $6::timestamptz[])",
        )
        .bind(c.inserts.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(c.inserts.iter().map(|r| r.user_id).collect::<Vec<_>>())
        .bind(c.inserts.iter().map(|r| r.title.clone()).collect::<Vec<_>>())
        .bind(c.inserts.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
        .bind(c.inserts.iter().map(|r| r.priority).collect::<Vec<_>>())
        .bind(c.inserts.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE tasks SET status = v.status, priority = v.priority, updated_at = v.updated_at \
         FROM unnest($1::int8[], $2::text[], $3::int4[], $4::timestamptz[]) AS v(id, status, priority, updated_at) \
         WHERE tasks.id = v.id",
    )
    .bind(c.updates.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(c.updates.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
    .bind(c.updates.iter().map(|r| r.priority).collect::<Vec<_>>())
    .bind(c.updates.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM tasks WHERE id = ANY($1)")
        .bind(&c.deletes)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let write = t.elapsed();
    Ok(vec![
        ("read", read.as_secs_f64()),
        ("write", write.as_secs_f64()),
    ])
}

/// Child mode: one run of one system, measures on stdout.
async fn child(system: &str, url: &str, n: u64) -> Res<()> {
    let phases = match system {
        "ours" => run_ours(url, n).await?,
        "floor" => run_floor(url, n).await?,
        other => return Err(format!("unknown system `{other}`").into()),
    };
    let mut line = "RESULT".to_owned();
    for (name, secs) in &phases {
        let _ = write!(line, " {name}={secs}");
    }
    let _ = write!(line, " peak_kib={}", peak_kib());
    println!("{line}");
    Ok(())
}

/// One system's measures of one run.
#[derive(Debug, Clone, Default)]
struct Measure {
    phases: Vec<(String, f64)>,
    peak_kib: u64,
}

impl Measure {
    fn total(&self) -> f64 {
        self.phases.iter().map(|(_, s)| s).sum()
    }
}

fn spawn(system: &str, url: &str, n: u64) -> Res<Measure> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--child", system, "--db", url, "--rows", &n.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        return Err(format!(
            "{system} failed at N = {n}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    };
    let mut m = Measure::default();
    for part in line.split_whitespace() {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        if name == "peak_kib" {
            m.peak_kib = value.parse()?;
        } else {
            m.phases.push((name.to_owned(), value.parse()?));
        }
    }
    Ok(m)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        len if len % 2 == 1 => xs.get(len / 2).copied().unwrap_or(0.0),
        len => {
            (xs.get(len / 2 - 1).copied().unwrap_or(0.0) + xs.get(len / 2).copied().unwrap_or(0.0))
                / 2.0
        }
    }
}

/// Medians of each phase, the total and the peak over runs.
fn summarize(runs: &[Measure]) -> (Vec<(String, f64)>, f64, f64) {
    let names: Vec<String> = runs
        .first()
        .map(|m| m.phases.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let phases = names
        .iter()
        .map(|name| {
            let xs = runs
                .iter()
                .filter_map(|m| m.phases.iter().find(|(n, _)| n == name).map(|(_, s)| *s))
                .collect();
            (name.clone(), median(xs))
        })
        .collect();
    #[allow(clippy::cast_precision_loss)] // KiB counts far below 2^52
    let peak = median(runs.iter().map(|m| m.peak_kib as f64 / 1024.0).collect());
    (
        phases,
        median(runs.iter().map(Measure::total).collect()),
        peak,
    )
}

fn ms(secs: f64) -> String {
    format!("{:.0} ms", secs * 1000.0)
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').unwrap_or(base.len());
    let mut out = format!("{}/{name}", base.get(..cut).unwrap_or(base));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn bench(args: &Args) -> Res<()> {
    if !args.db.starts_with("postgres") {
        return Err("--db must be a postgres:// URL".into());
    }
    let admin = connect(&args.db).await?;
    let name = "shadowdb_bench";
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let url = with_database(&args.db, name);
    let pool = connect(&url).await?;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "| N per tenant | system | phases (median) | total | peak RSS |\n|---:|---|---|---:|---:|"
    );
    let mut ratios = String::new();
    for &n in &args.rows {
        let want = expected(n);
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        for run in 0..args.runs {
            // Alternate which system goes first, so neither always meets a warmer cache.
            let order = if run % 2 == 0 {
                ["ours", "floor"]
            } else {
                ["floor", "ours"]
            };
            for system in order {
                reset(&pool, n).await?;
                let m = spawn(system, &url, n)?;
                let got = actual(&pool).await?;
                if got != want {
                    return Err(format!("{system} at N = {n}, run {run}: production holds {got:?}, expected {want:?}").into());
                }
                eprintln!(
                    "N = {n} run {run} {system}: {} ({:?})",
                    ms(m.total()),
                    m.phases
                );
                if system == "ours" {
                    ours.push(m)
                } else {
                    floor.push(m)
                }
            }
        }
        let (op, ot, opk) = summarize(&ours);
        let (fp, ft, fpk) = summarize(&floor);
        for (system, phases, total, peak) in [("ours", &op, ot, opk), ("floor", &fp, ft, fpk)] {
            let list: Vec<String> = phases
                .iter()
                .map(|(name, s)| format!("{name} {}", ms(*s)))
                .collect();
            let _ = writeln!(
                report,
                "| {n} | {system} | {} | {} | {peak:.0} MiB |",
                list.join(", "),
                ms(total)
            );
        }
        let phase = |p: &[(String, f64)], name: &str| {
            p.iter().find(|(n, _)| n == name).map_or(0.0, |(_, s)| *s)
        };
        // The best run of each too: on a shared machine the medians carry
        // other processes' noise, the best runs less of it.
        let best = |runs: &[Measure], name: &str| {
            runs.iter()
                .filter_map(|m| m.phases.iter().find(|(n, _)| n == name).map(|(_, s)| *s))
                .fold(f64::INFINITY, f64::min)
        };
        let (bc, bw) = (best(&ours, "commit"), best(&floor, "write"));
        let _ = writeln!(
            ratios,
            "N = {n}: total ours/floor {:.2}x; commit/write {:.2}x ({} / {}; best runs {} / {} = {:.2}x); peak {:.2}x",
            ot / ft,
            phase(&op, "commit") / phase(&fp, "write"),
            ms(phase(&op, "commit")),
            ms(phase(&fp, "write")),
            ms(bc),
            ms(bw),
            bc / bw,
            opk / fpk
        );
    }
    println!("{report}\n{ratios}");
    pool.close().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let args = Args::parse();
    match &args.child {
        Some(system) => {
            let n = args.rows.first().copied().ok_or("--rows is empty")?;
            child(system, &args.db, n).await
        }
        None => bench(&args).await,
    }
}
