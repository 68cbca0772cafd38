//! `shadowdb-bench`: shadowdb end to end against the floor (plain batched
//! SQL) and the anchor (SafeAgentDB 0.3.2, the Python library doing the same
//! job), on PostgreSQL and MariaDB.
//!
//! # What runs
//!
//! Per database (`--dbs postgres,mysql`, both by default) it creates a fresh
//! database of its own, `shadowdb_bench`, on the server of `--db`
//! (PostgreSQL) or `--mysql` (MariaDB/MySQL), and drops it at the end. Per N
//! (rows per tenant, `--rows`) it holds there the table
//! `tasks(id bigint primary key, user_id bigint, title text, status text,
//! priority int, updated_at timestamptz)` (on MariaDB `updated_at` is a
//! `TIMESTAMP`) of 3 tenants × N rows, the tenants interleaved. The table is
//! rebuilt before every run, on the server (`generate_series` on PostgreSQL,
//! the `seq_1_to_N` tables of MariaDB's Sequence engine, or batched multi-row
//! inserts where that engine is missing), so even 1,000,000 rows per tenant
//! build in seconds. On PostgreSQL the table is analysed, kept out of
//! autovacuum's reach, and checkpointed, so the rebuild's background work
//! does not land in a measured run. Each system then runs `--runs` times (3
//! by default); in every round each system runs once, and the order rotates
//! from round to round so no system always meets the warmest cache:
//!
//! - **ours**: open a `ShadowDb` on tenant 2 (reflect + clone), the agent's
//!   SQL in the sandbox (UPDATE 10% of the tenant's rows, INSERT 1%, DELETE
//!   1%; see `agent_sql`), diff (with contract checks), commit;
//! - **floor**: plain sqlx, the minimum real work: SELECT the tenant's rows,
//!   then the same inserts, updates and deletes in one transaction, batched.
//!   PostgreSQL: one statement each (`unnest` of arrays, `= ANY`). MariaDB:
//!   multi-row `INSERT .. VALUES`, `UPDATE tasks JOIN (SELECT ? .. UNION ALL
//!   SELECT ? ..) v ON tasks.id = v.id SET ..` (a join on a derived table, so
//!   it can only change rows that exist; 1,000 rows a statement, which
//!   measured faster than the bind limit's 16,383) and `DELETE .. WHERE id IN
//!   (..)`, each statement within MariaDB's 65,535 bind parameters;
//! - **anchor** (PostgreSQL only, N < 1,000,000, not with `--no-anchor`):
//!   SafeAgentDB 0.3.2 doing exactly what ours does, driven by
//!   `bench/anchor/run_anchor.py`: `ShadowDB(engine, tables=["tasks"],
//!   tenant_id=2)` (reflect + clone), the same three agent statements, `diff()`,
//!   `is_valid` (pydantic validation of every changed row against a
//!   `SafeModel` equal to the Rust contract), `commit_to_production(changeset=
//!   ..)`.
//!
//! # The anchor's environment
//!
//! The harness installs the anchor itself: a Python virtual environment in
//! `<target>/shadowdb-bench/venv` (`--anchor-dir` to move it), made with
//! `python3 -m venv` (`--python`), into which pip installs
//! `bench/anchor/requirements.txt`: `safeagentdb==0.3.2`, its PostgreSQL
//! driver `psycopg2-binary`, and its dependencies, all pinned. A venv that
//! already holds exactly those versions is reused (`bench/anchor/check_env.py`
//! checks it); the versions are printed with the results. If the anchor
//! cannot be installed or run, or leaves production with other rows than
//! expected, its row says FAILED and why; the other systems' figures are
//! still reported.
//!
//! How the anchor differs from ours, measured as it is:
//! - its `execute()` takes one statement at a time, so the driver runs the
//!   three statements (the very text ours runs) one by one;
//! - it has a separate validation phase (`is_valid`); ours checks contracts
//!   inside `diff`;
//! - its commit recomputes the diff to compare the reviewed changeset's
//!   fingerprint, validates every row again, reads production before every
//!   INSERT and writes one row per statement (compare-and-swap on the
//!   clone-time values), all in one transaction;
//! - timestamps: its sandbox holds a `timestamptz` as ISO 8601 text with its
//!   offset, and parses the agent's `'2025-01-01 00:00:00+00:00'` back to that
//!   instant, so the same statements give the same rows and no adaptation of
//!   the workload was needed. The expected rows are the same for all three.
//!
//! # Checks and measures
//!
//! After every run production must hold exactly the expected rows, or the
//! run fails: the count, and a SHA-256 over every row
//! (`id,user_id,title,status,priority,epoch seconds` lines in id order),
//! computed in Rust from rows read back in pages of 100,000, identically for
//! both databases, against the same digest computed from the workload's
//! definition. Neither side holds the table in memory.
//!
//! Each system runs in a child process (this binary with a hidden `--child`,
//! or the venv's Python), so each peak memory (`VmHWM`, the process's
//! resident-set high-water mark) is that system's alone, runtime and driver
//! included. The measured processes hold only what their system needs (the
//! floor: the tenant's rows and the changes); the expected digest and the
//! checks run in the parent.
//!
//! # Output
//!
//! One table: per database, N and system, the median of every phase, the
//! total and the peak memory, with the ratios ours/floor and anchor/ours of
//! the median totals. Then the linearity check: for each pair of consecutive
//! N (e.g. 10,000 → 100,000), every system's ratio of median totals, and
//! ours' ratio over the floor's (near 1 means ours scales like the floor).
//! Last, per database and N, our commit against the floor's write, also for
//! the best run of each: on a shared machine medians carry other processes'
//! noise. Progress goes to standard error.
//!
//! ```sh
//! cargo run --release -p shadowdb-bench -- --rows 1000,10000,100000
//! cargo run --release -p shadowdb-bench -- --rows 1000000 --no-anchor --runs 1
//! # elsewhere:
//! cargo run --release -p shadowdb-bench -- --dbs postgres \
//!     --db postgres://user:pass@host/db --runs 5
//! ```
//! `--db` defaults to `$SHADOWDB_BENCH_POSTGRES_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`; `--mysql` to
//! `$SHADOWDB_BENCH_MYSQL_URL`, else `mysql://root@127.0.0.1:3306/test`.

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone as _, Utc};
use clap::Parser;
use safemodel::SafeModel;
use sha2::{Digest as _, Sha256};
use shadowdb::prod::Production;
use shadowdb::{Limits, ShadowDb};
use shadowdb_tests::with_database;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Executor as _, PgPool};

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
#[command(
    about = "shadowdb end to end against plain batched SQL (the floor) and SafeAgentDB 0.3.2 (the anchor), on PostgreSQL and MariaDB"
)]
struct Args {
    /// PostgreSQL URL; the benchmark creates (and drops) its own database on that server.
    #[arg(
        long,
        visible_alias = "postgres",
        env = "SHADOWDB_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    db: String,
    /// MariaDB/MySQL URL; the benchmark creates (and drops) its own database on that server.
    #[arg(
        long,
        env = "SHADOWDB_BENCH_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/test"
    )]
    mysql: String,
    /// Databases to run on, comma-separated: `postgres`, `mysql` (MariaDB).
    #[arg(long, value_delimiter = ',', default_value = "postgres,mysql")]
    dbs: Vec<String>,
    /// Rows per tenant (3 tenants), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    rows: Vec<u64>,
    /// Runs per system and N.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Leave out the anchor (SafeAgentDB 0.3.2); it is always left out at N >= 1,000,000.
    #[arg(long)]
    no_anchor: bool,
    /// The Python that makes the anchor's virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Where the anchor's virtual environment and driver live [default: <target>/shadowdb-bench].
    #[arg(long)]
    anchor_dir: Option<PathBuf>,
    /// Internal: run one system once in this process and print its measures.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// The measured tenant.
const TENANT: i64 = 2;
const STATUSES: [&str; 3] = ["todo", "doing", "done"];
/// The anchor is left out from this N on (it writes row by row).
const ANCHOR_MAX_N: u64 = 1_000_000;
/// MariaDB's (and MySQL's) limit of bind parameters per statement.
const MYSQL_BINDS: usize = 65_535;
/// Rows per batched UPDATE of the floor on MariaDB (4 binds a row, so far
/// within the bind limit): at 100,000 rows per tenant, batches of 1,000
/// wrote faster than batches of 16,383 (the most the bind limit allows),
/// whose `UNION ALL` of 16,383 `SELECT`s costs more to parse and plan.
const MYSQL_UPDATE_ROWS: usize = 1_000;
/// Rows per page when production is read back for the checksum.
const PAGE: i64 = 100_000;
/// `2024-01-01T00:00:00Z`, the epoch second of row 0's `updated_at`.
const BASE_EPOCH: i64 = 1_704_067_200;

/// The anchor's driver, its pinned environment and the environment check.
const ANCHOR_DRIVER: &str = include_str!("../anchor/run_anchor.py");
const ANCHOR_REQUIREMENTS: &str = include_str!("../anchor/requirements.txt");
const ANCHOR_CHECK: &str = include_str!("../anchor/check_env.py");

fn base_time() -> DateTime<Utc> {
    Utc.timestamp_opt(BASE_EPOCH, 0)
        .single()
        .unwrap_or_default()
}

fn update_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A production database kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Postgres,
    MySql,
}

impl Kind {
    fn of(url: &str) -> Res<Kind> {
        match url.split(':').next().unwrap_or("") {
            "postgres" | "postgresql" => Ok(Kind::Postgres),
            "mysql" | "mariadb" => Ok(Kind::MySql),
            other => Err(format!("unsupported URL scheme `{other}:`").into()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::MySql => "MariaDB",
        }
    }
}

/// A connection pool to one database.
#[derive(Debug, Clone)]
enum Pool {
    Pg(PgPool),
    My(MySqlPool),
}

impl Pool {
    async fn connect(url: &str) -> Res<Pool> {
        Ok(match Kind::of(url)? {
            Kind::Postgres => Pool::Pg(PgPoolOptions::new().max_connections(4).connect(url).await?),
            Kind::MySql => Pool::My(
                MySqlPoolOptions::new()
                    .max_connections(4)
                    .connect(&url.replacen("mariadb:", "mysql:", 1))
                    .await?,
            ),
        })
    }

    async fn run(&self, sql: impl Into<String>) -> Res<()> {
        let sql = AssertSqlSafe(sql.into());
        match self {
            Pool::Pg(p) => p.execute(sql).await.map(|_| ())?,
            Pool::My(p) => p.execute(sql).await.map(|_| ())?,
        }
        Ok(())
    }

    async fn close(&self) {
        match self {
            Pool::Pg(p) => p.close().await,
            Pool::My(p) => p.close().await,
        }
    }
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

impl Row {
    /// The columns in table order, the time as Unix seconds.
    fn fields(&self) -> (i64, i64, &str, &str, i32, i64) {
        (
            self.id,
            self.user_id,
            &self.title,
            &self.status,
            self.priority,
            self.updated_at.timestamp(),
        )
    }
}

/// A row as both drivers decode it.
type RowTuple = (i64, i64, String, String, i32, DateTime<Utc>);

impl From<RowTuple> for Row {
    fn from((id, user_id, title, status, priority, updated_at): RowTuple) -> Row {
        Row {
            id,
            user_id,
            title,
            status,
            priority,
            updated_at,
        }
    }
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

fn is_updated(id: i64) -> bool {
    id % 10 == 0
}

fn is_deleted(id: i64) -> bool {
    id % 100 == 1
}

/// A tenant row after the agent's UPDATE.
fn updated(r: &Row) -> Row {
    Row {
        status: "done".to_owned(),
        priority: r.priority + 1,
        updated_at: update_time(),
        ..r.clone()
    }
}

/// The `j`-th (1-based) row the agent inserts.
fn inserted(n: u64, j: i64) -> Row {
    Row {
        id: i64::try_from(3 * n).unwrap_or(i64::MAX) + j,
        user_id: TENANT,
        title: format!("new {j}"),
        status: "todo".to_owned(),
        priority: 3,
        updated_at: update_time(),
    }
}

/// The changes, as a plain program computes them from the tenant's rows.
struct Changes {
    inserts: Vec<Row>,
    updates: Vec<Row>,
    deletes: Vec<i64>,
}

fn changes(n: u64, tenant_rows: &[Row]) -> Changes {
    Changes {
        inserts: (1..=i64::try_from(n / 100).unwrap_or(0))
            .map(|j| inserted(n, j))
            .collect(),
        updates: tenant_rows
            .iter()
            .filter(|r| is_updated(r.id))
            .map(updated)
            .collect(),
        deletes: tenant_rows
            .iter()
            .map(|r| r.id)
            .filter(|&id| is_deleted(id))
            .collect(),
    }
}

/// The agent's SQL, run in the sandbox: the same changes. Three statements,
/// separated by `;` (the anchor's driver splits them there).
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

/// Count and SHA-256 of rows fed in id order, one line each.
#[derive(Default)]
struct RowDigest {
    hasher: Sha256,
    count: i64,
}

impl RowDigest {
    fn push(&mut self, r: &Row) {
        if self.count > 0 {
            self.hasher.update(b"\n");
        }
        let (id, user_id, title, status, priority, at) = r.fields();
        self.hasher
            .update(format!("{id},{user_id},{title},{status},{priority},{at}").as_bytes());
        self.count += 1;
    }

    fn finish(self) -> (i64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

/// Production's rows after a correct run, as `(count, SHA-256)`, computed
/// row by row from the workload's definition.
fn expected(n: u64) -> (i64, String) {
    let mut digest = RowDigest::default();
    for i in 1..=i64::try_from(3 * n).unwrap_or(i64::MAX) {
        let r = initial(i);
        if r.user_id != TENANT {
            digest.push(&r);
        } else if is_updated(i) {
            digest.push(&updated(&r));
        } else if !is_deleted(i) {
            digest.push(&r);
        }
    }
    for j in 1..=i64::try_from(n / 100).unwrap_or(0) {
        digest.push(&inserted(n, j));
    }
    digest.finish()
}

/// Production's rows now, as `(count, SHA-256)`, read back in pages.
async fn actual(pool: &Pool) -> Res<(i64, String)> {
    let mut digest = RowDigest::default();
    let mut last = i64::MIN;
    loop {
        let page: Vec<RowTuple> = match pool {
            Pool::Pg(p) => {
                sqlx::query_as(
                    "SELECT id, user_id, title, status, priority, updated_at FROM tasks \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(last)
                .bind(PAGE)
                .fetch_all(p)
                .await?
            }
            Pool::My(p) => {
                sqlx::query_as(
                    "SELECT id, user_id, title, status, priority, updated_at FROM tasks \
                     WHERE id > ? ORDER BY id LIMIT ?",
                )
                .bind(last)
                .bind(PAGE)
                .fetch_all(p)
                .await?
            }
        };
        let Some(end) = page.last().map(|r| r.0) else {
            break;
        };
        for r in page {
            digest.push(&Row::from(r));
        }
        last = end;
    }
    Ok(digest.finish())
}

/// Rebuilds the table: 3 tenants × `n` rows, indexed on the tenant, analysed.
/// On PostgreSQL the rebuild's own background work is kept out of the
/// measured run, whichever system it is: autovacuum is off for the table
/// (just analysed), and a checkpoint writes the rebuild's dirty pages now
/// (skipped, with a note, where the role may not run one).
async fn reset(pool: &Pool, n: u64) -> Res<()> {
    let total = 3 * n;
    pool.run("DROP TABLE IF EXISTS tasks").await?;
    match pool {
        Pool::Pg(p) => {
            pool.run(
                "CREATE TABLE tasks (id bigint PRIMARY KEY, user_id bigint NOT NULL, title text NOT NULL, \
                 status text NOT NULL, priority int NOT NULL, updated_at timestamptz NOT NULL) \
                 WITH (autovacuum_enabled = off)",
            )
            .await?;
            sqlx::query(
                "INSERT INTO tasks SELECT i, i % 3 + 1, 'task ' || i, (ARRAY['todo', 'doing', 'done'])[(i / 3) % 3 + 1], \
                 i % 5, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' FROM generate_series(1::bigint, $1) AS i",
            )
            .bind(i64::try_from(total)?)
            .execute(p)
            .await?;
            pool.run("CREATE INDEX tasks_user_id ON tasks (user_id)")
                .await?;
            pool.run("VACUUM ANALYZE tasks").await?;
            if let Err(e) = pool.run("CHECKPOINT").await {
                eprintln!("note: no checkpoint after the rebuild ({e})");
            }
        }
        Pool::My(p) => {
            pool.run(
                "CREATE TABLE tasks (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, title TEXT NOT NULL, \
                 status TEXT NOT NULL, priority INT NOT NULL, updated_at TIMESTAMP NOT NULL) ENGINE = InnoDB",
            )
            .await?;
            // FROM_UNIXTIME and the TIMESTAMP column convert with the same
            // session time zone, so the stored instant is exact whatever it is.
            let has_sequence = sqlx::query("SELECT seq FROM seq_1_to_1")
                .fetch_all(p)
                .await
                .is_ok();
            // In slices, so no single statement holds millions of undo records.
            let slice = if has_sequence { 500_000 } else { 5_000 };
            let mut from = 1;
            while from <= total {
                let to = (from + slice - 1).min(total);
                let sql = if has_sequence {
                    format!(
                        "INSERT INTO tasks SELECT seq, seq % 3 + 1, CONCAT('task ', seq), \
                         ELT((seq DIV 3) % 3 + 1, 'todo', 'doing', 'done'), seq % 5, \
                         FROM_UNIXTIME({BASE_EPOCH} + seq) FROM seq_{from}_to_{to}"
                    )
                } else {
                    // No Sequence engine (MySQL): multi-row inserts of
                    // literal rows, all of them numbers and fixed words.
                    let rows: Vec<String> = (from..=to)
                        .map(|i| {
                            let r = initial(i64::try_from(i).unwrap_or(i64::MAX));
                            let (id, user_id, title, status, priority, at) = r.fields();
                            format!(
                                "({id}, {user_id}, '{title}', '{status}', {priority}, \
                                 FROM_UNIXTIME({at}))"
                            )
                        })
                        .collect();
                    format!("INSERT INTO tasks VALUES {}", rows.join(", "))
                };
                pool.run(sql).await?;
                from = to + 1;
            }
            pool.run("CREATE INDEX tasks_user_id ON tasks (user_id)")
                .await?;
            sqlx::query("ANALYZE TABLE tasks").fetch_all(p).await?;
        }
    }
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

/// One run of ours: phases in seconds.
async fn run_ours(url: &str, n: u64) -> Res<Vec<(&'static str, f64)>> {
    let prod: Production = match Pool::connect(url).await? {
        Pool::Pg(p) => p.into(),
        Pool::My(p) => p.into(),
    };
    let t = Instant::now();
    let mut sdb = ShadowDb::builder(prod)
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
    let pool = Pool::connect(url).await?;
    let t = Instant::now();
    let rows: Vec<Row> = match &pool {
        Pool::Pg(p) => sqlx::query_as::<_, RowTuple>(
            "SELECT id, user_id, title, status, priority, updated_at FROM tasks WHERE user_id = $1",
        )
        .bind(TENANT)
        .fetch_all(p)
        .await?,
        Pool::My(p) => sqlx::query_as::<_, RowTuple>(
            "SELECT id, user_id, title, status, priority, updated_at FROM tasks WHERE user_id = ?",
        )
        .bind(TENANT)
        .fetch_all(p)
        .await?,
    }
    .into_iter()
    .map(Row::from)
    .collect();
    let read = t.elapsed();
    let t = Instant::now();
    let c = changes(n, &rows);
    drop(rows);
    match &pool {
        Pool::Pg(p) => write_pg(p, c).await?,
        Pool::My(p) => write_mysql(p, c).await?,
    }
    let write = t.elapsed();
    Ok(vec![
        ("read", read.as_secs_f64()),
        ("write", write.as_secs_f64()),
    ])
}

/// Column vectors of rows, moved out of them.
#[derive(Default)]
struct Columns {
    id: Vec<i64>,
    user_id: Vec<i64>,
    title: Vec<String>,
    status: Vec<String>,
    priority: Vec<i32>,
    updated_at: Vec<DateTime<Utc>>,
}

impl Columns {
    fn of(rows: Vec<Row>) -> Columns {
        let mut c = Columns::default();
        for r in rows {
            c.id.push(r.id);
            c.user_id.push(r.user_id);
            c.title.push(r.title);
            c.status.push(r.status);
            c.priority.push(r.priority);
            c.updated_at.push(r.updated_at);
        }
        c
    }
}

/// The floor's writes on PostgreSQL: one transaction, one statement each.
async fn write_pg(pool: &PgPool, c: Changes) -> Res<()> {
    let mut tx = pool.begin().await?;
    if !c.inserts.is_empty() {
        let i = Columns::of(c.inserts);
        sqlx::query(
            "INSERT INTO tasks (id, user_id, title, status, priority, updated_at) \
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int4[], $6::timestamptz[])",
        )
        .bind(i.id)
        .bind(i.user_id)
        .bind(i.title)
        .bind(i.status)
        .bind(i.priority)
        .bind(i.updated_at)
        .execute(&mut *tx)
        .await?;
    }
    let u = Columns::of(c.updates);
    sqlx::query(
        "UPDATE tasks SET status = v.status, priority = v.priority, updated_at = v.updated_at \
         FROM unnest($1::int8[], $2::text[], $3::int4[], $4::timestamptz[]) AS v(id, status, priority, updated_at) \
         WHERE tasks.id = v.id",
    )
    .bind(u.id)
    .bind(u.status)
    .bind(u.priority)
    .bind(u.updated_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM tasks WHERE id = ANY($1)")
        .bind(&c.deletes)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `count` comma-separated copies of `item`.
fn repeat(item: &str, count: usize) -> String {
    vec![item; count].join(", ")
}

/// The floor's writes on MariaDB: one transaction, multi-row statements
/// as large as the bind limit allows.
async fn write_mysql(pool: &MySqlPool, c: Changes) -> Res<()> {
    let mut tx = pool.begin().await?;
    for chunk in c.inserts.chunks(MYSQL_BINDS / 6) {
        let sql = format!(
            "INSERT INTO tasks (id, user_id, title, status, priority, updated_at) VALUES {}",
            repeat("(?, ?, ?, ?, ?, ?)", chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(r.id)
                .bind(r.user_id)
                .bind(r.title.as_str())
                .bind(r.status.as_str())
                .bind(r.priority)
                .bind(r.updated_at);
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in c.updates.chunks(MYSQL_UPDATE_ROWS) {
        // A join on a derived table: it can only change rows that exist.
        let rest = chunk.len().saturating_sub(1);
        let mut derived = "SELECT ? AS id, ? AS status, ? AS priority, ? AS updated_at".to_owned();
        for _ in 0..rest {
            derived.push_str(" UNION ALL SELECT ?, ?, ?, ?");
        }
        let sql = format!(
            "UPDATE tasks AS t JOIN ({derived}) AS v ON t.id = v.id \
             SET t.status = v.status, t.priority = v.priority, t.updated_at = v.updated_at"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(r.id)
                .bind(r.status.as_str())
                .bind(r.priority)
                .bind(r.updated_at);
        }
        q.execute(&mut *tx).await?;
    }
    for chunk in c.deletes.chunks(MYSQL_BINDS) {
        let sql = format!(
            "DELETE FROM tasks WHERE id IN ({})",
            repeat("?", chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Child mode: one run of one system, measures on stdout (the anchor's
/// driver prints the same line).
async fn child(system: &str, url: &str, n: u64) -> Res<()> {
    let phases = match system {
        "ours" => run_ours(url, n).await?,
        "floor" => run_floor(url, n).await?,
        other => return Err(format!("unknown system `{other}`").into()),
    };
    let mut fields: Vec<String> = phases
        .iter()
        .map(|(name, secs)| format!("\"{name}\": {secs}"))
        .collect();
    fields.push(format!("\"peak_kib\": {}", peak_kib()));
    println!("RESULT {{{}}}", fields.join(", "));
    Ok(())
}

/// The systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Ours,
    Floor,
    Anchor,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Ours => "ours",
            System::Floor => "floor",
            System::Anchor => "anchor",
        }
    }
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

    /// Parses `{"phase": seconds, .., "peak_kib": k}`.
    fn parse(json: &str) -> Res<Measure> {
        let body = json.trim().trim_start_matches('{').trim_end_matches('}');
        let mut m = Measure::default();
        for part in body.split(',') {
            let Some((name, value)) = part.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim().trim_matches('"'), value.trim());
            if name == "peak_kib" {
                m.peak_kib = value.parse()?;
            } else {
                m.phases.push((name.to_owned(), value.parse()?));
            }
        }
        if m.phases.is_empty() {
            return Err(format!("no phases in `{json}`").into());
        }
        Ok(m)
    }
}

/// The measures from a child's output, or what went wrong.
fn measures_of(what: &str, out: &std::process::Output) -> Res<Measure> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
        Some(line) if out.status.success() => Measure::parse(line),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // A Python traceback ends with the error; keep the end.
            let lines: Vec<&str> = stderr.trim().lines().collect();
            let tail = lines.get(lines.len().saturating_sub(6)..).unwrap_or(&[]);
            Err(format!("{what} failed ({}): {}", out.status, tail.join(" | ")).into())
        }
    }
}

fn spawn_child(system: System, url: &str, n: u64) -> Res<Measure> {
    let out = Command::new(std::env::current_exe()?)
        .args([
            "--child",
            system.name(),
            "--db",
            url,
            "--rows",
            &n.to_string(),
        ])
        .output()?;
    measures_of(&format!("{} at N = {n}", system.name()), &out)
}

/// The anchor, installed.
#[derive(Debug, Clone)]
struct Anchor {
    python: PathBuf,
    driver: PathBuf,
    /// Python and package versions, for the report.
    versions: String,
}

impl Anchor {
    /// Makes (or reuses) the venv holding exactly the pinned packages.
    fn install(args: &Args) -> Res<Anchor> {
        let dir = match &args.anchor_dir {
            Some(d) => d.clone(),
            None => {
                let exe = std::env::current_exe()?;
                // <target>/<profile>/shadowdb-bench
                let target = exe
                    .parent()
                    .and_then(Path::parent)
                    .ok_or("cannot find the target directory")?;
                target.join("shadowdb-bench")
            }
        };
        std::fs::create_dir_all(&dir)?;
        let venv = dir.join("venv");
        let python = venv.join("bin").join("python");
        let requirements = dir.join("requirements.txt");
        let check = dir.join("check_env.py");
        let driver = dir.join("run_anchor.py");
        std::fs::write(&requirements, ANCHOR_REQUIREMENTS)?;
        std::fs::write(&check, ANCHOR_CHECK)?;
        std::fs::write(&driver, ANCHOR_DRIVER)?;
        let checked = || -> Res<Result<String, String>> {
            if !python.exists() {
                return Ok(Err("no virtual environment".to_owned()));
            }
            let out = Command::new(&python)
                .arg(&check)
                .arg(&requirements)
                .output()
                .map_err(|e| format!("{}: {e}", python.display()))?;
            let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Ok(match said.strip_prefix("ok ") {
                Some(v) if out.status.success() => Ok(v.to_owned()),
                _ => Err(said),
            })
        };
        if let Ok(versions) = checked()? {
            eprintln!("anchor: reusing {} ({versions})", venv.display());
            return Ok(Anchor {
                python,
                driver,
                versions,
            });
        }
        if !python.exists() {
            eprintln!(
                "anchor: creating a virtual environment in {}",
                venv.display()
            );
            run_checked(Command::new(&args.python).args(["-m", "venv"]).arg(&venv))?;
        }
        eprintln!("anchor: installing {}", requirements.display());
        run_checked(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements),
        )?;
        match checked()? {
            Ok(versions) => Ok(Anchor {
                python,
                driver,
                versions,
            }),
            Err(wrong) => Err(format!("after installing, the venv still differs: {wrong}").into()),
        }
    }

    /// One run of the anchor on `url`.
    fn run(&self, url: &str, n: u64) -> Res<Measure> {
        let mut proc = Command::new(&self.python)
            .arg(&self.driver)
            .args(["--url", url, "--tenant", &TENANT.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.python.display()))?;
        if let Some(mut stdin) = proc.stdin.take() {
            stdin.write_all(agent_sql(n).as_bytes())?;
        }
        let out = proc.wait_with_output()?;
        measures_of(&format!("anchor at N = {n}"), &out)
    }
}

/// Runs `cmd`, failing with its standard error.
fn run_checked(cmd: &mut Command) -> Res<()> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
    .into())
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

/// Medians of each phase, the total and the peak (MiB) over runs.
struct Summary {
    phases: Vec<(String, f64)>,
    total: f64,
    peak_mib: f64,
}

fn summarize(runs: &[Measure]) -> Summary {
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
    let peak_mib = median(runs.iter().map(|m| m.peak_kib as f64 / 1024.0).collect());
    Summary {
        phases,
        total: median(runs.iter().map(Measure::total).collect()),
        peak_mib,
    }
}

impl Summary {
    fn phase(&self, name: &str) -> f64 {
        self.phases
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, s)| *s)
    }
}

/// The fastest run's value of one phase.
fn best(runs: &[Measure], name: &str) -> f64 {
    runs.iter()
        .filter_map(|m| m.phases.iter().find(|(n, _)| n == name).map(|(_, s)| *s))
        .fold(f64::INFINITY, f64::min)
}

fn ms(secs: f64) -> String {
    if secs >= 10.0 {
        format!("{secs:.1} s")
    } else {
        format!("{:.0} ms", secs * 1000.0)
    }
}

/// `1000000` as `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What became of one system at one N on one database.
#[derive(Debug)]
enum Outcome {
    Measured(Vec<Measure>),
    Skipped(String),
    Failed(String),
}

/// One row of the report.
#[derive(Debug)]
struct Cell {
    kind: Kind,
    n: u64,
    system: System,
    outcome: Outcome,
}

/// The bench database on one server: created fresh, dropped at the end.
struct BenchDb {
    admin: Pool,
    pool: Pool,
    url: String,
}

const BENCH_DB: &str = "shadowdb_bench";

impl BenchDb {
    async fn create(server_url: &str) -> Res<BenchDb> {
        let admin = Pool::connect(server_url).await?;
        Self::drop_db(&admin).await?;
        admin.run(format!("CREATE DATABASE {BENCH_DB}")).await?;
        let url = with_database(server_url, BENCH_DB);
        let pool = Pool::connect(&url).await?;
        Ok(BenchDb { admin, pool, url })
    }

    async fn drop_db(admin: &Pool) -> Res<()> {
        match admin {
            Pool::Pg(_) => {
                admin
                    .run(format!("DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
                    .await
            }
            Pool::My(_) => {
                admin
                    .run(format!("DROP DATABASE IF EXISTS {BENCH_DB}"))
                    .await
            }
        }
    }

    async fn finish(self) -> Res<()> {
        self.pool.close().await;
        Self::drop_db(&self.admin).await?;
        self.admin.close().await;
        Ok(())
    }
}

/// Every system at every N on one database.
async fn bench_rows(
    args: &Args,
    kind: Kind,
    db: &BenchDb,
    anchor: Option<&Result<Anchor, String>>,
    cells: &mut Vec<Cell>,
) -> Res<()> {
    for &n in &args.rows {
        let want = expected(n);
        let mut systems = vec![System::Ours, System::Floor];
        let mut anchor_runs = Vec::new();
        let mut anchor_outcome = None;
        match anchor {
            None => {}
            Some(_) if n >= ANCHOR_MAX_N => {
                anchor_outcome = Some(Outcome::Skipped(format!(
                    "skipped at N >= {}",
                    thousands(ANCHOR_MAX_N)
                )));
            }
            Some(Err(e)) => {
                anchor_outcome = Some(Outcome::Failed(format!("not installed: {e}")));
            }
            Some(Ok(_)) => systems.push(System::Anchor),
        }
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        for run in 0..args.runs {
            // Rotate the order, so no system always meets the warmest cache.
            let mut order = systems.clone();
            let turn = run % order.len().max(1);
            order.rotate_left(turn);
            for system in order {
                reset(&db.pool, n).await?;
                let measured = match (system, anchor) {
                    (System::Anchor, Some(Ok(a))) => a.run(&db.url, n),
                    (System::Anchor, _) => Err("the anchor is not installed".into()),
                    _ => spawn_child(system, &db.url, n),
                };
                let checked = match measured {
                    Ok(m) => {
                        let got = actual(&db.pool).await?;
                        if got == want {
                            Ok(m)
                        } else {
                            Err(format!(
                                "{} at N = {n}, run {run}: production holds (count, sha256) {got:?}, expected {want:?}",
                                system.name()
                            ))
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                match checked {
                    Ok(m) => {
                        eprintln!(
                            "{} N = {n} run {run} {}: {} ({:?}, peak {} KiB)",
                            kind.name(),
                            system.name(),
                            ms(m.total()),
                            m.phases,
                            m.peak_kib
                        );
                        match system {
                            System::Ours => ours.push(m),
                            System::Floor => floor.push(m),
                            System::Anchor => anchor_runs.push(m),
                        }
                    }
                    // The anchor failing is a result to report, not a reason
                    // to drop the others' figures; it runs no more at this N.
                    Err(e) if system == System::Anchor => {
                        eprintln!("{}: anchor FAILED: {e}", kind.name());
                        anchor_outcome = Some(Outcome::Failed(e));
                        systems.retain(|&s| s != System::Anchor);
                    }
                    Err(e) => return Err(format!("{}: {e}", kind.name()).into()),
                }
            }
        }
        cells.push(Cell {
            kind,
            n,
            system: System::Ours,
            outcome: Outcome::Measured(ours),
        });
        cells.push(Cell {
            kind,
            n,
            system: System::Floor,
            outcome: Outcome::Measured(floor),
        });
        if anchor.is_some() {
            cells.push(Cell {
                kind,
                n,
                system: System::Anchor,
                outcome: anchor_outcome.unwrap_or(Outcome::Measured(anchor_runs)),
            });
        }
    }
    Ok(())
}

/// The median summary of one cell, if it was measured.
fn summary_of(cells: &[Cell], kind: Kind, n: u64, system: System) -> Option<(&[Measure], Summary)> {
    cells
        .iter()
        .find(|c| c.kind == kind && c.n == n && c.system == system)
        .and_then(|c| match &c.outcome {
            Outcome::Measured(runs) if !runs.is_empty() => Some((runs.as_slice(), summarize(runs))),
            _ => None,
        })
}

/// The printed report.
fn report(
    cells: &[Cell],
    kinds: &[Kind],
    rows: &[u64],
    anchor: Option<&Result<Anchor, String>>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| database | N per tenant | system | phases (median) | total | peak RSS | ratio (total) |\n\
         |---|---:|---|---|---:|---:|---|"
    );
    for c in cells {
        let (kind, n) = (c.kind, c.n);
        let label = format!(
            "| {} | {} | {} |",
            kind.name(),
            thousands(n),
            c.system.name()
        );
        match &c.outcome {
            Outcome::Skipped(why) => {
                let _ = writeln!(out, "{label} {why} | | | |");
            }
            Outcome::Failed(why) => {
                let _ = writeln!(out, "{label} FAILED: {} | | | |", why.replace('|', "/"));
            }
            Outcome::Measured(runs) if runs.is_empty() => {
                let _ = writeln!(out, "{label} no runs | | | |");
            }
            Outcome::Measured(runs) => {
                let s = summarize(runs);
                let list: Vec<String> = s
                    .phases
                    .iter()
                    .map(|(name, secs)| format!("{name} {}", ms(*secs)))
                    .collect();
                let ratio = match c.system {
                    System::Ours => summary_of(cells, kind, n, System::Floor)
                        .map(|(_, f)| format!("ours/floor {:.2}x", s.total / f.total)),
                    System::Anchor => summary_of(cells, kind, n, System::Ours)
                        .map(|(_, o)| format!("anchor/ours {:.1}x", s.total / o.total)),
                    System::Floor => None,
                };
                let _ = writeln!(
                    out,
                    "{label} {} | {} | {:.0} MiB | {} |",
                    list.join(", "),
                    ms(s.total),
                    s.peak_mib,
                    ratio.unwrap_or_default()
                );
            }
        }
    }

    // Linearity: how each system's total grows from one N to the next.
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut linear = String::new();
    for &kind in kinds {
        for pair in sorted.windows(2) {
            let [a, b] = pair else { continue };
            let growth = |system| {
                summary_of(cells, kind, *a, system)
                    .zip(summary_of(cells, kind, *b, system))
                    .map(|((_, x), (_, y))| y.total / x.total)
            };
            let (Some(o), Some(f)) = (growth(System::Ours), growth(System::Floor)) else {
                continue;
            };
            let _ = writeln!(
                linear,
                "| {} | {} → {} | {o:.2}x | {f:.2}x | {:.2} | {} |",
                kind.name(),
                thousands(*a),
                thousands(*b),
                o / f,
                growth(System::Anchor).map_or_else(|| "-".to_owned(), |x| format!("{x:.2}x"))
            );
        }
    }
    if !linear.is_empty() {
        let _ = write!(
            out,
            "\nLinearity (ratio of median totals between consecutive N):\n\n\
             | database | N → N' | ours | floor | ours ÷ floor | anchor |\n|---|---|---:|---:|---:|---:|\n{linear}"
        );
    }

    let mut commits = String::new();
    for &kind in kinds {
        for &n in rows {
            let (Some((or, o)), Some((fr, f))) = (
                summary_of(cells, kind, n, System::Ours),
                summary_of(cells, kind, n, System::Floor),
            ) else {
                continue;
            };
            let (bc, bw) = (best(or, "commit"), best(fr, "write"));
            let _ = writeln!(
                commits,
                "{} N = {}: commit/write {:.2}x ({} / {}; best runs {} / {} = {:.2}x); peak ours/floor {:.2}x",
                kind.name(),
                thousands(n),
                o.phase("commit") / f.phase("write"),
                ms(o.phase("commit")),
                ms(f.phase("write")),
                ms(bc),
                ms(bw),
                bc / bw,
                o.peak_mib / f.peak_mib
            );
        }
    }
    if !commits.is_empty() {
        let _ = writeln!(out, "\n{commits}");
    }
    match anchor {
        Some(Ok(a)) => {
            let _ = writeln!(out, "Anchor: SafeAgentDB via {}.", a.versions);
        }
        Some(Err(e)) if !e.starts_with("not needed") => {
            let _ = writeln!(out, "Anchor: not installed: {e}");
        }
        _ => {}
    }
    out
}

async fn bench(args: &Args) -> Res<()> {
    let mut kinds = Vec::new();
    for name in &args.dbs {
        let kind = match name.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Kind::Postgres,
            "mysql" | "mariadb" => Kind::MySql,
            other => {
                return Err(
                    format!("unknown database `{other}` in --dbs (use postgres, mysql)").into(),
                );
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    // The anchor runs on PostgreSQL only; it is installed only if some N
    // needs it (at N >= 1,000,000 its rows say skipped).
    let anchor = (kinds.contains(&Kind::Postgres) && !args.no_anchor).then(|| {
        if args.rows.iter().all(|&n| n >= ANCHOR_MAX_N) {
            return Err(format!("not needed at N >= {}", thousands(ANCHOR_MAX_N)));
        }
        Anchor::install(args).map_err(|e| {
            eprintln!("anchor: cannot be installed: {e}");
            e.to_string()
        })
    });
    let mut cells = Vec::new();
    for &kind in &kinds {
        let url = match kind {
            Kind::Postgres => &args.db,
            Kind::MySql => &args.mysql,
        };
        let anchor = anchor.as_ref().filter(|_| kind == Kind::Postgres);
        if Kind::of(url)? != kind {
            return Err(format!("the {} URL has the wrong scheme", kind.name()).into());
        }
        let db = BenchDb::create(url).await?;
        let result = bench_rows(args, kind, &db, anchor, &mut cells).await;
        db.finish().await?;
        result?;
    }
    println!("{}", report(&cells, &kinds, &args.rows, anchor.as_ref()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed digest equals the one of the whole table with the
    /// floor's changes applied.
    #[test]
    fn expected_is_the_floor_applied() {
        let n = 1_000;
        let all: Vec<Row> = (1..=3 * 1_000).map(initial).collect();
        let tenant: Vec<Row> = all
            .iter()
            .filter(|r| r.user_id == TENANT)
            .cloned()
            .collect();
        let c = changes(n, &tenant);
        let mut digest = RowDigest::default();
        for r in &all {
            if c.deletes.contains(&r.id) {
                continue;
            }
            match c.updates.iter().find(|u| u.id == r.id) {
                Some(u) => digest.push(u),
                None => digest.push(r),
            }
        }
        for r in &c.inserts {
            digest.push(r);
        }
        assert_eq!(digest.finish(), expected(n));
        assert_eq!(expected(n).0, 3_000 - 10 + 10);
    }

    #[test]
    fn agent_sql_is_three_statements() {
        let sql = agent_sql(1_000);
        let statements: Vec<&str> = sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(statements.len(), 3);
        assert!(statements[2].contains("x < 10)"));
    }

    #[test]
    fn parses_both_result_lines() {
        let m = Measure::parse(r#"{"open": 0.5, "commit": 1e-05, "peak_kib": 1024}"#).unwrap();
        assert_eq!(
            m.phases,
            vec![("open".to_owned(), 0.5), ("commit".to_owned(), 1e-5)]
        );
        assert_eq!(m.peak_kib, 1024);
        assert!(Measure::parse("{}").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(100), "100");
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "b"),
            "mysql://root@127.0.0.1:3306/b?ssl-mode=disabled"
        );
        assert_eq!(base_time().to_rfc3339(), "2024-01-01T00:00:00+00:00");
    }
}
