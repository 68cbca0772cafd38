//! The `shadowdb` command line, as a library entry point.
//!
//! Contracts are Rust types, so the stock `shadowdb` binary knows none. A
//! binary of your own that links your `#[derive(SafeModel)]` types in and
//! calls [`main`] is the same command line with your contracts registered:
//!
//! ```no_run
//! // src/bin/shadowdb.rs of your application. Your contracts register
//! // themselves when their crate is linked in: if nothing else of it is used
//! // here, name it (`use my_models as _;`) so the linker keeps it.
//! fn main() -> std::process::ExitCode {
//!     shadowdb::cli::main()
//! }
//! ```
//!
//! # Commands
//!
//! - `shadowdb run --db URL --tenant VALUE --table NAME... [--sql FILE|-]
//!   [--dry-run] [--yes] [--format text|json] [--actor NAME]
//!   [--audit-file FILE] [--audit-db] [--approve-in-db [--approval-timeout
//!   SECS]] [--config FILE] [--profile NAME]`: clones the tenant's rows of the
//!   tables into a sandbox, runs the SQL there (every statement through the
//!   policy first), shows the review (text on standard output, or JSON), and
//!   then: with `--dry-run` stops; with `--yes` commits; on a terminal asks
//!   `Apply N changes to production? [y/N]` (default no); otherwise does not
//!   commit and says why. Everything but the review (the prompt, the outcome,
//!   errors) goes to standard error, so `--format json` output stays one JSON
//!   document. A changeset that needs approval is committed after `y` at the
//!   prompt, or with `--yes --approved-by NAME`; `--yes` alone does not approve.
//!   `--actor` names who acts in the audit trail (default `$USER`);
//!   `--audit-file` appends the trail to a JSON Lines file, `--audit-db` keeps
//!   it in production's `shadowdb_audit` table (the commit's record written in
//!   the commit's own transaction). A recorded commit's id is printed, and
//!   `shadowdb rollback` can undo it. With `--approve-in-db`, a changeset
//!   that needs approval is not asked about on the terminal: the commit
//!   stores an approval request in production's `shadowdb_approvals` table
//!   and waits (`Waiting for approval in the database ...` on standard error)
//!   until a reviewer decides with `shadowdb approvals` from another process,
//!   or `--approval-timeout SECS` (default 300) passes; a denial or a timeout
//!   exits 4 and commits nothing. The reviewer's approval stands in for the
//!   confirmation, so this needs neither `--yes` nor a terminal.
//!   `--no-approve-in-db` asks on the terminal even when the `--config` file
//!   says `in_database = true`.
//! - `shadowdb check --sql FILE|- [--table NAME...]`: the policy's decision on
//!   each statement, without a database. The scope is the `--table` tables;
//!   without `--table`, every table the SQL names with an unqualified name (so
//!   only schema-qualified names, `sqlite_*` tables and table-valued functions
//!   are outside it).
//! - `shadowdb schema --db URL --table NAME...`: each table as reflected, and
//!   whether a contract is registered for it and matches.
//! - `shadowdb policy`: the resolved policy as TOML.
//! - `shadowdb audit (--db URL | --file FILE) [--tenant T] [--actor A]
//!   [--kind KIND] [--session ID] [--commit ID] [--since TIME] [--until TIME]
//!   [--format text|json] [--limit N]`: the audit trail, from production's
//!   `shadowdb_audit` table or a JSON Lines file, oldest first. Text: one line
//!   per event (time, kind, tenant, actor, and what happened: a statement's
//!   decision and SQL cut to the line's width, a commit's id and rows, ...),
//!   control characters escaped. JSON: JSON Lines, one event per line as in an
//!   audit file. A TIME is RFC 3339 (`2026-11-23T10:00:00Z`) or a date
//!   (`2026-11-23`, midnight UTC); `--since` is inclusive, `--until`
//!   exclusive. `--limit N` keeps the newest N events. No event matching is
//!   not an error (exit 0; `No events.` on standard error in text).
//! - `shadowdb rollback --db URL ID [--file FILE] [--actor NAME]
//!   [--approved-by NAME] [--yes]`: undoes a recorded commit in one
//!   transaction, if every row it wrote is still as it left it (exit 5
//!   otherwise; exit 3 if it was already rolled back). Commits are read from
//!   production's `shadowdb_audit` table, or with `--file` from a JSON Lines
//!   file (the rollback's record is appended to it). Asks `Roll back commit ID
//!   (N rows)? [y/N]` on a terminal; `--yes` does not ask; without either it
//!   does not roll back. The rollback passes the policy's changeset rules
//!   (`--config`/`--profile`, and `--approved-by` or the prompt for approval)
//!   and `--allow-uncontracted`/`--tenant-column` as for `run`.
//! - `shadowdb rollback --db URL --list [--file FILE]`: the recorded commits,
//!   oldest first, and the rollback that undid each.
//! - `shadowdb approvals --db URL --list`: the approval requests waiting in
//!   production's `shadowdb_approvals` table, oldest first: id, age, tenant,
//!   who asks, time left before it times out, and the reasons. None waiting
//!   is not an error (exit 0; `No pending approvals.` on standard error).
//!   Reading creates nothing: without the table there is nothing pending.
//! - `shadowdb approvals --db URL --show ID`: one request, whatever its
//!   status: who asks, for which tenant, its status or decision, its reasons
//!   and the dashboard it was asked with (control characters escaped).
//! - `shadowdb approvals --db URL --approve ID [--by NAME]` and `--deny ID
//!   --reason TEXT [--by NAME]`: decide a pending request (`--by` defaults to
//!   `$USER`). A request that is unknown, already decided or expired exits 1
//!   (`approval ID is not pending ...`).
//!
//! The tenant value is given as text and read as the tenant column's type:
//! an integer column takes an integer, a `uuid` column a UUID, anything else
//! the text as given.
//!
//! Tables without a contract are refused for writing unless
//! `--allow-uncontracted` is given, with `--tenant-column COL` naming their
//! tenant column; the schema, tenant and policy checks still apply to them.
//!
//! # Settings of `run` in `shadowdb.toml`
//!
//! Besides the policy profiles, the `--config` file may hold three tables
//! that `run` reads (`shadowdb.example.toml` shows them all). Every key is
//! checked: an unknown key or a bad value is an error naming the key, its
//! line and column (`shadowdb.toml:12:1: in [audit]: unknown field `fiel`,
//! expected one of `file`, ...`). A flag given on the command line wins over
//! the file.
//!
//! ```toml
//! [audit]
//! file = "audit.jsonl"         # as --audit-file; relative to the file's directory
//! database = true              # as --audit-db
//! hash_sql = true              # record only each statement's SHA-256
//! secret_patterns = ["(?i)password\\s*=\\s*'([^']*)'"]  # masked (capture groups only, if any)
//! mask_literals = true         # every literal becomes ?, every comment /* *** */
//!
//! [limits]
//! statements_per_tenant = "100/minute"   # rates: COUNT/WINDOW (30/minute, 5/10s, 1000/hour)
//! statements_per_actor = "50/minute"
//! commits_per_tenant = "10/hour"
//! commits_per_actor = "10/hour"
//! max_statements = 500         # statements per run
//! max_session = "30m"          # a run's duration: seconds, or "90s", "30m", "1h30m"
//! max_rows_per_commit = 10000
//! memory_budget = "512 MiB"    # the sandbox's memory: data, temp, sorting, results
//! statement_time = "5s"        # one statement
//! session_statement_time = "60s"  # all statements of a run together
//! max_result_rows = 10000      # a longer result is cut, with a note on standard error
//! max_result_bytes = "32 MiB"
//!
//! [approval]
//! in_database = true           # as --approve-in-db
//! timeout = "5m"               # as --approval-timeout: seconds, or "90s", "5m"
//! ```
//!
//! `--audit-file` replaces `file`; `--audit-db` and `database` each turn the
//! table on; `--approve-in-db`/`--no-approve-in-db` and `--approved-by`
//! replace `in_database`; `--approval-timeout` replaces `timeout`. The rates
//! are counted within one run (one process). A refusal by a limit exits 3
//! and commits nothing.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`run --dry-run`, `check`: safe to commit) |
//! | 1 | error: database, file, configuration |
//! | 2 | usage: invalid arguments |
//! | 3 | blocked by policy, contract or a limit |
//! | 4 | declined, not confirmed, or needs approval |
//! | 5 | conflict: rows changed in production since the clone (or, for `rollback`, since the commit) |
//!
//! # Environment
//!
//! - `DATABASE_URL`: the database when `--db` (or, for `audit`, `--file`) is
//!   not given (keeps credentials out of shell history). A password in a URL
//!   is never printed: not in errors, not with `-v`.
//! - `SHADOWDB_PROFILE`: the policy profile when `--profile` is not given.
//! - `NO_COLOR`: no colour even on a terminal (piped output never has any).
//! - `USER` (else `USERNAME`): the default `--actor`.
//! - `SHADOWDB_ASSUME_TTY=1`: a testing aid: prompt on standard input even
//!   when it is not a terminal, so tests can answer the prompt.
//!
//! Errors are one line, `error: …` (a schema or contract error lists its
//! problems below it); `-v` adds the chain of causes.

mod approvals;
mod audit;
mod check;
mod failure;
mod policy;
mod rollback;
mod run;
mod schema;
mod settings;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal as _, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use self::failure::{Failure, exit_of, hint};
use crate::error::Error;
use crate::render::TextOptions;

/// The environment variable that makes the CLI prompt on standard input even
/// when it is not a terminal (a testing aid).
pub const ASSUME_TTY_ENV: &str = "SHADOWDB_ASSUME_TTY";

/// How the command line ended; [`ExitCode`] through `From`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: an error (database, file, configuration).
    Error,
    /// 2: invalid arguments.
    Usage,
    /// 3: blocked by policy, contract or a limit.
    Blocked,
    /// 4: declined, not confirmed, or needs approval.
    NotApproved,
    /// 5: rows changed in production since the clone.
    Conflict,
}

impl Exit {
    /// The process exit code.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Blocked => 3,
            Exit::NotApproved => 4,
            Exit::Conflict => 5,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// Where the command line reads and writes.
pub struct Io<'a> {
    stdin: Box<dyn BufRead + 'a>,
    stdout: Box<dyn Write + 'a>,
    stderr: Box<dyn Write + 'a>,
    stdin_is_terminal: bool,
    interactive: bool,
    text: TextOptions,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("interactive", &self.interactive)
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl Io<'static> {
    /// The process's standard streams. Interactive (the commit prompt is
    /// shown) when standard input and standard error are terminals, or when
    /// `SHADOWDB_ASSUME_TTY=1`; colour and width as [`TextOptions::for_stdout`].
    #[must_use]
    pub fn std() -> Self {
        let stdin_is_terminal = std::io::stdin().is_terminal();
        let assume = std::env::var_os(ASSUME_TTY_ENV).is_some_and(|v| v == "1");
        Io {
            stdin: Box::new(std::io::stdin().lock()),
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            stdin_is_terminal,
            interactive: assume || (stdin_is_terminal && std::io::stderr().is_terminal()),
            text: TextOptions::for_stdout(),
        }
    }
}

impl<'a> Io<'a> {
    /// Streams of your own: not interactive, plain text 100 columns wide.
    pub fn new(stdin: impl BufRead + 'a, stdout: impl Write + 'a, stderr: impl Write + 'a) -> Self {
        Io {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            stdin_is_terminal: false,
            interactive: false,
            text: TextOptions::plain(crate::render::DEFAULT_WIDTH),
        }
    }

    /// Whether to ask `Apply N changes to production? [y/N]` on these streams.
    #[must_use]
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = interactive;
        self
    }

    /// How the text review is written.
    #[must_use]
    pub fn text_options(mut self, text: TextOptions) -> Self {
        self.text = text;
        self
    }
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success (run --dry-run, check: safe to commit)
  1  error: database, file, configuration
  2  usage: invalid arguments
  3  blocked by policy, contract or a limit
  4  declined, not confirmed, or needs approval
  5  conflict: rows changed in production since the clone (rollback: since the commit)

Environment:
  DATABASE_URL          the database when --db is not given (a password is never printed)
  USER                  the default --actor
  SHADOWDB_PROFILE      the policy profile when --profile is not given
  NO_COLOR              no colour, even on a terminal
  SHADOWDB_ASSUME_TTY   1: prompt on standard input even if it is not a terminal (for tests)";

/// Let an AI agent change a SQL database safely: a sandbox of one tenant's
/// rows, a row diff, contract and policy checks, and an atomic commit.
#[derive(Debug, Parser)]
#[command(name = "shadowdb", version, after_help = EXIT_CODES)]
struct Cli {
    /// More detail: connection, clone sizes, every statement's decision, and
    /// the causes of an error.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL in a sandbox of one tenant's rows, review the change, and commit it.
    #[command(after_help = EXIT_CODES)]
    Run(run::RunArgs),
    /// The policy's decision on each statement of a script (no database needed).
    #[command(after_help = EXIT_CODES)]
    Check(check::CheckArgs),
    /// Tables as reflected, and whether each has a contract that matches.
    #[command(after_help = EXIT_CODES)]
    Schema(schema::SchemaArgs),
    /// Print the resolved policy as TOML.
    #[command(after_help = EXIT_CODES)]
    Policy(policy::PolicyArgs),
    /// List the audit trail: production's shadowdb_audit table, or a JSON Lines file.
    #[command(after_help = EXIT_CODES)]
    Audit(audit::AuditArgs),
    /// Undo a recorded commit (or, with --list, list the recorded commits).
    #[command(after_help = EXIT_CODES)]
    Rollback(rollback::RollbackArgs),
    /// Review approval requests waiting in production's shadowdb_approvals
    /// table (from `run --approve-in-db`): list, show, approve, deny.
    #[command(after_help = EXIT_CODES)]
    Approvals(approvals::ApprovalsArgs),
}

/// The database URL.
#[derive(Debug, Clone, Args)]
struct DbArg {
    /// The production database: postgres://, mysql://, mariadb:// or sqlite: URL.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    db: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A dashboard for people (colour only on a terminal).
    Text,
    /// JSON for programs, in the shape documented in `shadowdb::render`.
    Json,
}

/// Who acts when `--actor` is not given: `$USER`, else `$USERNAME`.
fn default_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| crate::shadow::DEFAULT_ACTOR.to_owned())
}

/// The state of one invocation.
struct Ctx<'i, 'a> {
    io: &'i mut Io<'a>,
    verbose: bool,
    /// Text never to print (the database password, raw and decoded).
    secrets: Vec<String>,
    /// The subcommand (`run`, `rollback`, ...), for hints.
    command: &'static str,
}

impl Ctx<'_, '_> {
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    /// Writes to standard output (the review, the command's result). Not
    /// scrubbed: it holds rows and schemas, never the URL, and replacing a
    /// short password inside JSON could break the document.
    fn out(&mut self, text: &str) {
        let _ = self.io.stdout.write_all(text.as_bytes());
        let _ = self.io.stdout.flush();
    }

    /// Writes one message line to standard error, the password scrubbed
    /// (a second line of defence: no message should hold the URL).
    /// Control characters are escaped line by line ([`crate::render::escape_lines`]):
    /// a message can quote the agent's SQL, which may hold terminal escapes.
    fn note(&mut self, text: &str) {
        let mut text = crate::render::escape_lines(&self.scrub(text));
        text.push('\n');
        let _ = self.io.stderr.write_all(text.as_bytes());
        let _ = self.io.stderr.flush();
    }

    /// A message shown only with `-v`.
    fn detail(&mut self, text: &str) {
        if self.verbose {
            self.note(text);
        }
    }

    /// Reads the SQL: a file, or standard input for `-`.
    fn read_sql(&mut self, path: &std::path::Path) -> Result<String, Failure> {
        if path.as_os_str() == "-" {
            if self.io.stdin_is_terminal {
                self.note("Reading SQL from standard input (end it with Ctrl-D).");
            }
            let mut sql = String::new();
            self.io
                .stdin
                .read_to_string(&mut sql)
                .map_err(|source| Failure::Io {
                    what: "cannot read SQL from standard input".into(),
                    source,
                })?;
            Ok(sql)
        } else {
            std::fs::read_to_string(path).map_err(|source| Failure::Io {
                what: format!("cannot read SQL file {}", path.display()),
                source,
            })
        }
    }

    /// Asks `question [y/N]`; anything but `y`/`yes` (and end of input) is no.
    fn confirm(&mut self, question: &str) -> Result<bool, Failure> {
        let _ = write!(self.io.stderr, "{question} [y/N] ");
        let _ = self.io.stderr.flush();
        let mut answer = String::new();
        let read = self
            .io
            .stdin
            .read_line(&mut answer)
            .map_err(|source| Failure::Io {
                what: "cannot read the answer".into(),
                source,
            })?;
        if read == 0 || !self.io.stdin_is_terminal {
            // No terminal echoed the answer's newline: end the prompt line.
            let _ = writeln!(self.io.stderr);
        }
        let answer = answer.trim().to_ascii_lowercase();
        Ok(answer == "y" || answer == "yes")
    }

    /// Reports a failure and gives its exit code.
    fn fail(&mut self, failure: Failure) -> Exit {
        match failure {
            Failure::Usage(message) => {
                self.note(&format!("error: {message}"));
                Exit::Usage
            }
            Failure::Io { what, source } => {
                self.note(&format!("error: {what}: {source}"));
                Exit::Error
            }
            Failure::NotFound(message) => {
                self.note(&format!("error: {message}"));
                Exit::Error
            }
            Failure::Lib(err) => {
                self.note(&format!("error: {err}"));
                if let Some(hint) = hint(&err, self.command) {
                    self.note(&format!("hint: {hint}"));
                }
                if self.verbose {
                    let mut source = std::error::Error::source(&err);
                    while let Some(cause) = source {
                        self.note(&format!("  caused by: {cause}"));
                        source = cause.source();
                    }
                }
                exit_of(&err)
            }
        }
    }
}

/// Connects to production. A server is tried once directly first: the pool
/// retries a refused connection until its timeout (30 s), while a person at a
/// terminal wants to hear at once that the address is wrong.
async fn connect(url: &str) -> Result<crate::prod::Production, Failure> {
    use sqlx::Connection as _;

    let scheme = url.split(':').next().unwrap_or("");
    let probe = match scheme {
        "postgres" | "postgresql" => match sqlx::PgConnection::connect(url).await {
            Ok(conn) => conn.close().await,
            Err(e) => Err(e),
        },
        "mysql" | "mariadb" => {
            match sqlx::MySqlConnection::connect(&url.replacen("mariadb:", "mysql:", 1)).await {
                Ok(conn) => conn.close().await,
                Err(e) => Err(e),
            }
        }
        _ => Ok(()),
    };
    if let Err(source) = probe {
        let summary = match &source {
            // An I/O error says `Connection refused (os error 111)`: no URL in it.
            sqlx::Error::Io(e) => format!("cannot connect: {e}"),
            other => crate::error::redact(other),
        };
        return Err(Failure::Lib(Error::Database {
            context: Some(format!("connecting to {}", crate::prod::redact_url(url))),
            summary,
            source: Some(source.into()),
        }));
    }
    Ok(crate::prod::Production::connect(url).await?)
}

/// The passwords of a database URL, as written and percent-decoded
/// ([`crate::prod::url_passwords`]).
fn url_secrets(url: &str) -> Vec<String> {
    crate::prod::url_passwords(url)
}

/// Runs the command line with the process's arguments and standard streams,
/// on a runtime of its own; returns the exit code (see the [module docs](self)).
#[must_use]
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {err}"
            );
            return Exit::Error.into();
        }
    };
    let mut io = Io::std();
    runtime.block_on(run(std::env::args_os(), &mut io)).into()
}

/// Runs the command line: `args` as `std::env::args_os()` gives them (the
/// program name first), reading and writing `io`.
pub async fn run(args: impl IntoIterator<Item = OsString>, io: &mut Io<'_>) -> Exit {
    let args: Vec<OsString> = args.into_iter().collect();
    // Every password of every URL given, found before parsing: a URL given
    // where clap did not expect one comes back in clap's own error message.
    let env_url = std::env::var("DATABASE_URL").ok();
    let mut secrets: Vec<String> = args
        .iter()
        .filter_map(|a| a.to_str())
        .chain(env_url.as_deref())
        .flat_map(url_secrets)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mut ctx = Ctx {
        io,
        verbose: false,
        secrets,
        command: "",
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let text = ctx.scrub(&err.render().to_string());
            let stream = if err.use_stderr() {
                &mut ctx.io.stderr
            } else {
                &mut ctx.io.stdout
            };
            let _ = stream.write_all(text.as_bytes());
            let _ = stream.flush();
            return if err.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
        }
    };
    ctx.verbose = cli.verbose > 0;
    ctx.command = match &cli.command {
        Command::Run(_) => "run",
        Command::Check(_) => "check",
        Command::Schema(_) => "schema",
        Command::Policy(_) => "policy",
        Command::Audit(_) => "audit",
        Command::Rollback(_) => "rollback",
        Command::Approvals(_) => "approvals",
    };
    let result = match cli.command {
        Command::Run(args) => run::run(&mut ctx, args).await,
        Command::Check(args) => check::check(&mut ctx, &args),
        Command::Schema(args) => schema::schema(&mut ctx, &args).await,
        Command::Policy(args) => policy::policy(&mut ctx, &args),
        Command::Audit(args) => audit::audit(&mut ctx, &args).await,
        Command::Rollback(args) => rollback::rollback(&mut ctx, args).await,
        Command::Approvals(args) => approvals::approvals(&mut ctx, &args).await,
    };
    match result {
        Ok(exit) => exit,
        Err(failure) => ctx.fail(failure),
    }
}

/// Columns of text aligned with two spaces between them, trailing spaces
/// trimmed, each line prefixed by `indent`.
fn aligned(indent: &str, rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(slot) => *slot = (*slot).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let w = widths.get(i).copied().unwrap_or(0);
            let _ = write!(line, "{cell:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `1 change`, `3 changes`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", crate::render::thousands(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_urls() {
        assert_eq!(
            url_secrets("postgres://postgres:secretpw@127.0.0.1:1/x"),
            vec!["secretpw"]
        );
        assert_eq!(
            url_secrets("postgres://u:p%40ss@h/db?sslmode=disable"),
            vec!["p%40ss", "p@ss"]
        );
        assert!(url_secrets("postgres://u@h/db").is_empty());
        assert!(url_secrets("sqlite:///tmp/x.db").is_empty());
        assert!(url_secrets("sqlite::memory:").is_empty());
    }

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["a".to_owned(), "bb".to_owned(), String::new()],
            vec!["ccc".to_owned(), "d".to_owned(), "e".to_owned()],
        ];
        assert_eq!(aligned("  ", &rows), "  a    bb\n  ccc  d   e\n");
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
