//! The command line's own tables of `shadowdb.toml`: `[audit]`, `[limits]`
//! and `[approval]` (the policy reads `default_profile` and `[profiles]`).
//!
//! [`crate::config`] reads the file and checks its shape; this module checks
//! what the values of these three tables mean (rates, sizes, durations,
//! regexes), naming the key, its table, its line and column. It sits in `cli`
//! rather than `config` because it builds the types of `limits`, `audit` and
//! the sandbox, which `config` (read by the policy) must not depend on.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use crate::Limits;
use crate::audit::Redactor;
use crate::config::{ApprovalFile, AuditFile, ConfigError, ConfigFile, LimitsFile};
use crate::error::Error;
use crate::limits::{Rate, RateLimits, SessionLimits};

/// `[audit]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct AuditSettings {
    /// `file`: append the trail to this JSON Lines file (a relative path is
    /// relative to the configuration file's directory).
    pub file: Option<PathBuf>,
    /// `database`: keep the trail in production's `shadowdb_audit` table.
    pub database: bool,
    /// `hash_sql`: record only the SHA-256 of each statement's text.
    pub hash_sql: bool,
    /// `secret_patterns`: regexes whose matches (or capture groups) are masked.
    pub secret_patterns: Vec<String>,
    /// `mask_literals`: every literal becomes `?`, every comment `/* *** */`.
    pub mask_literals: bool,
}

/// `[limits]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LimitSettings {
    /// The four rates.
    pub rates: RateLimits,
    /// `max_statements`, `max_session`, `max_rows_per_commit`.
    pub session: SessionLimits,
    /// The sandbox's: `memory_budget`, `statement_time`,
    /// `session_statement_time`, `max_result_rows`, `max_result_bytes`, ...
    pub sandbox: Limits,
}

/// `[approval]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ApprovalSettings {
    /// `in_database`: requests wait in production's `shadowdb_approvals`.
    pub in_database: bool,
    /// `timeout`: how long a request waits.
    pub timeout: Option<Duration>,
}

/// What `run` takes from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Settings {
    pub audit: AuditSettings,
    pub limits: LimitSettings,
    pub approval: ApprovalSettings,
}

impl Settings {
    /// The redactor `[audit]` describes; `None` when it asks for nothing.
    pub(super) fn redactor(&self) -> Result<Option<Redactor>, Error> {
        let a = &self.audit;
        if !a.hash_sql && !a.mask_literals && a.secret_patterns.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            Redactor::new()
                .with_patterns(&a.secret_patterns)?
                .mask_literals(a.mask_literals)
                .hash_only(a.hash_sql),
        ))
    }

    /// Whether `[limits]` sets a rate.
    pub(super) fn has_rates(&self) -> bool {
        self.limits.rates != RateLimits::default()
    }
}

impl Settings {
    /// The settings of a file, every value checked; the defaults for a
    /// table it does not have.
    pub(super) fn read(file: &ConfigFile) -> Result<Settings, ConfigError> {
        let spec = &file.spec;
        Ok(Settings {
            audit: match &spec.audit {
                Some(audit) => audit_settings(file, audit)?,
                None => AuditSettings::default(),
            },
            limits: match &spec.limits {
                Some(limits) => limit_settings(file, limits)?,
                None => LimitSettings::default(),
            },
            approval: match &spec.approval {
                Some(approval) => approval_settings(file, approval)?,
                None => ApprovalSettings::default(),
            },
        })
    }
}

fn audit_settings(file: &ConfigFile, audit: &AuditFile) -> Result<AuditSettings, ConfigError> {
    let what = |k: &str| format!("`{k}` in [audit]");
    let mut out = AuditSettings {
        file: None,
        database: audit.database.unwrap_or(false),
        hash_sql: audit.hash_sql.unwrap_or(false),
        secret_patterns: Vec::new(),
        mask_literals: audit.mask_literals.unwrap_or(false),
    };
    if let Some(path) = &audit.file {
        if path.get_ref().is_empty() {
            return Err(file.error(&path.span(), &format!("{} is empty", what("file"))));
        }
        let path_buf = PathBuf::from(path.get_ref());
        out.file = Some(match file.dir() {
            Some(dir) if path_buf.is_relative() => dir.join(path_buf),
            _ => path_buf,
        });
    }
    for item in audit.secret_patterns.iter().flatten() {
        let pattern = item.get_ref();
        if let Err(Error::Config(message)) = Redactor::new().with_pattern(pattern) {
            let message = format!("{}: {message}", what("secret_patterns"));
            return Err(file.error(&item.span(), &message));
        }
        out.secret_patterns.push(pattern.clone());
    }
    Ok(out)
}

fn limit_settings(file: &ConfigFile, limits: &LimitsFile) -> Result<LimitSettings, ConfigError> {
    let what = |k: &str| format!("`{k}` in [limits]");
    let mut out = LimitSettings::default();
    let rate = |value: &Option<Spanned<String>>, key: &str| {
        value
            .as_ref()
            .map(|v| read_rate(file, v, &what(key)))
            .transpose()
    };
    out.rates.statements_per_tenant = rate(&limits.statements_per_tenant, "statements_per_tenant")?;
    out.rates.statements_per_actor = rate(&limits.statements_per_actor, "statements_per_actor")?;
    out.rates.commits_per_tenant = rate(&limits.commits_per_tenant, "commits_per_tenant")?;
    out.rates.commits_per_actor = rate(&limits.commits_per_actor, "commits_per_actor")?;
    let session = &mut out.session;
    if let Some(n) = &limits.max_statements {
        *session = session.max_statements(file.positive(n, &what("max_statements"))?);
    }
    if let Some(n) = &limits.max_rows_per_commit {
        *session =
            session.max_rows_per_commit(file.positive_usize(n, &what("max_rows_per_commit"))?);
    }
    if let Some(d) = &limits.max_session {
        *session = session.max_duration(file.duration(d, &what("max_session"))?);
    }
    sandbox_limits(file, limits, &mut out.sandbox)?;
    Ok(out)
}

/// The keys of `[limits]` that bound the sandbox.
fn sandbox_limits(
    file: &ConfigFile,
    limits: &LimitsFile,
    out: &mut Limits,
) -> Result<(), ConfigError> {
    let what = |k: &str| format!("`{k}` in [limits]");
    if let Some(v) = &limits.memory_budget {
        out.memory_budget = file.bytes(v, &what("memory_budget"))?;
    }
    if let Some(v) = &limits.max_growth_bytes {
        out.max_growth_bytes = file.bytes(v, &what("max_growth_bytes"))?;
    }
    if let Some(v) = &limits.max_result_bytes {
        out.max_result_bytes = file.size(v, &what("max_result_bytes"))?;
    }
    if let Some(v) = &limits.max_value_bytes {
        out.max_value_bytes = file.size(v, &what("max_value_bytes"))?;
    }
    if let Some(v) = &limits.max_sql_bytes {
        out.max_sql_bytes = file.size(v, &what("max_sql_bytes"))?;
    }
    if let Some(v) = &limits.max_like_pattern_bytes {
        out.max_like_pattern_bytes = file.size(v, &what("max_like_pattern_bytes"))?;
    }
    if let Some(v) = &limits.max_result_rows {
        out.max_result_rows = file.positive_usize(v, &what("max_result_rows"))?;
    }
    if let Some(v) = &limits.max_call_work {
        out.max_call_work = file.positive(v, &what("max_call_work"))?;
    }
    if let Some(v) = &limits.statement_time {
        out.statement_time = file.duration(v, &what("statement_time"))?;
    }
    if let Some(v) = &limits.session_statement_time {
        out.session_statement_time = file.duration(v, &what("session_statement_time"))?;
    }
    Ok(())
}

fn approval_settings(
    file: &ConfigFile,
    approval: &ApprovalFile,
) -> Result<ApprovalSettings, ConfigError> {
    Ok(ApprovalSettings {
        in_database: approval.in_database.unwrap_or(false),
        timeout: approval
            .timeout
            .as_ref()
            .map(|t| file.duration(t, "`timeout` in [approval]"))
            .transpose()?,
    })
}

/// A rate: `"30/minute"`.
fn read_rate(file: &ConfigFile, value: &Spanned<String>, what: &str) -> Result<Rate, ConfigError> {
    value.get_ref().parse::<Rate>().map_err(|e| match e {
        Error::Config(message) => file.error(&value.span(), &format!("{what}: {message}")),
        other => file.error(&value.span(), &format!("{what}: {other}")),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str, origin: &str, dir: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::read(&ConfigFile::parse(text, origin)?.in_dir(dir))
    }

    fn message(text: &str) -> String {
        parse(text, "shadowdb.toml", None)
            .expect_err("an error")
            .to_string()
    }

    #[test]
    fn reads_the_sandbox_limits() {
        let s = parse(
            "[limits]\nmemory_budget = \"256 MiB\"\nmax_result_bytes = 8388608\n\
             max_result_rows = 500\nstatement_time = \"2s\"\nsession_statement_time = \"30s\"\n\
             max_value_bytes = \"4MiB\"\nmax_like_pattern_bytes = 1000\nmax_call_work = 1000000\n\
             max_growth_bytes = \"100 MB\"\nmax_sql_bytes = \"64 KiB\"\n",
            "shadowdb.toml",
            None,
        )
        .expect("parses");
        let l = s.limits.sandbox;
        assert_eq!(l.memory_budget, 256 << 20);
        assert_eq!(l.max_result_bytes, 8 << 20);
        assert_eq!(l.max_result_rows, 500);
        assert_eq!(l.statement_time, Duration::from_secs(2));
        assert_eq!(l.session_statement_time, Duration::from_secs(30));
        assert_eq!(l.max_value_bytes, 4 << 20);
        assert_eq!(l.max_like_pattern_bytes, 1000);
        assert_eq!(l.max_call_work, 1_000_000);
        assert_eq!(l.max_growth_bytes, 100_000_000);
        assert_eq!(l.max_sql_bytes, 64 << 10);
        // Unset keys keep the defaults.
        let d = parse("[limits]\nmax_statements = 3\n", "shadowdb.toml", None).expect("parses");
        assert_eq!(d.limits.sandbox, Limits::default());
    }

    #[test]
    fn reads_every_setting() {
        let text = r#"
default_profile = "staging"

[profiles.staging]
read_only = false

[audit]
file = "trail/audit.jsonl"
database = true
hash_sql = true
secret_patterns = ["(?i)password\\s*=\\s*'([^']*)'"]
mask_literals = true

[limits]
statements_per_tenant = "100/minute"
statements_per_actor = "50/minute"
commits_per_tenant = "10/hour"
commits_per_actor = "5/hour"
max_statements = 500
max_session = "30m"
max_rows_per_commit = 10_000

[approval]
in_database = true
timeout = 90
"#;
        let s = parse(text, "shadowdb.toml", Some(Path::new("/etc/shadowdb"))).expect("parses");
        assert_eq!(
            s.audit.file.as_deref(),
            Some(Path::new("/etc/shadowdb/trail/audit.jsonl"))
        );
        assert!(s.audit.database && s.audit.hash_sql && s.audit.mask_literals);
        assert_eq!(s.audit.secret_patterns.len(), 1);
        let redactor = s.redactor().expect("compiles").expect("a redactor");
        assert!(redactor.is_hash_only());
        assert_eq!(
            s.limits.rates.statements_per_tenant,
            Some("100/minute".parse().expect("a rate"))
        );
        assert_eq!(
            s.limits.rates.commits_per_actor,
            Some("5/hour".parse().expect("a rate"))
        );
        assert_eq!(s.limits.session.max_statements, Some(500));
        assert_eq!(
            s.limits.session.max_duration,
            Some(Duration::from_secs(1800))
        );
        assert_eq!(s.limits.session.max_rows_per_commit, Some(10_000));
        assert!(s.approval.in_database);
        assert_eq!(s.approval.timeout, Some(Duration::from_secs(90)));
        assert!(s.has_rates());

        let s = parse(
            "[audit]\nfile = \"/abs.jsonl\"\n",
            "x",
            Some(Path::new("/etc")),
        )
        .expect("parses");
        assert_eq!(s.audit.file.as_deref(), Some(Path::new("/abs.jsonl")));
        let s = parse("", "x", None).expect("parses");
        assert_eq!(s, Settings::default());
        assert!(s.redactor().expect("none").is_none());
        assert!(!s.has_rates());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_key_line_and_column() {
        assert_eq!(
            message("[audit]\ndatabase = true\nfiel = \"a\"\n"),
            "shadowdb.toml:3:1: in [audit]: unknown field `fiel`, expected one of `file`, \
             `database`, `hash_sql`, `secret_patterns`, `mask_literals`"
        );
        assert_eq!(
            message("[limits]\n\nmax_statement = 1\n"),
            "shadowdb.toml:3:1: in [limits]: unknown field `max_statement`, expected one of \
             `statements_per_tenant`, `statements_per_actor`, `commits_per_tenant`, \
             `commits_per_actor`, `max_statements`, `max_session`, `max_rows_per_commit`, \
             `memory_budget`, `max_growth_bytes`, `statement_time`, `session_statement_time`, \
             `max_result_rows`, `max_result_bytes`, `max_value_bytes`, `max_sql_bytes`, \
             `max_like_pattern_bytes`, `max_call_work`"
        );
        assert_eq!(
            message("[limits]\nmemory_budget = \"lots\"\n"),
            "shadowdb.toml:2:17: `memory_budget` in [limits] is not a size: write bytes \
             (1048576) or a string like \"64 KiB\", \"512 MiB\", \"1 GiB\" (more than zero)"
        );
        assert_eq!(
            message("[limits]\nmemory_budget = true\n"),
            "shadowdb.toml:2:17: `memory_budget` in [limits] must be a size (bytes, or a string \
             like \"512 MiB\"), not a boolean"
        );
        assert_eq!(
            message("[limits]\nstatement_time = 1979-05-27\n"),
            "shadowdb.toml:2:18: `statement_time` in [limits] must be a duration (seconds, or a \
             string like \"5m\"), not a datetime"
        );
        assert_eq!(
            message("[limits]\nmax_call_work = 1.5\n"),
            "shadowdb.toml:2:17: `max_call_work` in [limits] must be an integer, not a float"
        );
        assert_eq!(
            message("[approval]\ntimeout = 5\nin_db = true\n"),
            "shadowdb.toml:3:1: in [approval]: unknown field `in_db`, expected `in_database` or \
             `timeout`"
        );
        assert_eq!(
            message("[approval]\ntimeout = \"soon\"\n"),
            "shadowdb.toml:2:11: `timeout` in [approval] is not a duration: write whole seconds \
             (300) or a string like \"90s\", \"5m\", \"1h30m\" (more than zero)"
        );
        assert_eq!(
            message("[limits]\nstatements_per_tenant = \"lots\"\n"),
            "shadowdb.toml:2:25: `statements_per_tenant` in [limits]: `lots` is not a rate \
             (write it as `30/minute` or `5/10s`)"
        );
        assert_eq!(
            message("[limits]\nmax_statements = 0\n"),
            "shadowdb.toml:2:18: `max_statements` in [limits] must be a whole number >= 1"
        );
        assert_eq!(
            message("[limits]\nmax_statements = \"1\"\n"),
            "shadowdb.toml:2:18: `max_statements` in [limits] must be an integer, not a string"
        );
        assert_eq!(
            message("[audit]\ndatabase = \"yes\"\n"),
            "shadowdb.toml:2:12: `database` in [audit]: invalid type: string \"yes\", expected \
             a boolean"
        );
        assert!(message("[audit]\nsecret_patterns = [\"(\"]\n").starts_with(
            "shadowdb.toml:2:20: `secret_patterns` in [audit]: audit secret pattern `(` is \
                 not a valid regex"
        ),);
        assert_eq!(
            message("audit = 1\n"),
            "shadowdb.toml:1:9: `audit` at the top level: invalid type: integer `1`, expected a \
             table"
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../shadowdb.example.toml");
        let s = parse(text, "shadowdb.example.toml", None).expect("parses");
        assert_eq!(
            s.audit.file.as_deref(),
            Some(Path::new("shadowdb-audit.jsonl"))
        );
        assert_eq!(s.limits.session.max_statements, Some(500));
        // The example shows the sandbox's defaults, as the README documents them.
        assert_eq!(s.limits.sandbox, Limits::default());
        assert_eq!(s.approval.timeout, Some(Duration::from_secs(300)));
        let redactor = s.redactor().expect("compiles").expect("a redactor");
        assert_eq!(
            redactor.redact("UPDATE cfg SET api_key = 'sk-1', password='x'"),
            "UPDATE cfg SET api_key = '***', password='***'"
        );
    }
}
