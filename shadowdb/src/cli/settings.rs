//! The command line's own tables of `shadowdb.toml`: `[audit]`, `[limits]`
//! and `[approval]` (the policy reads `default_profile` and `[profiles]`).
//!
//! Every key is checked as the policy's are: an unknown key, a wrong type or
//! a bad value is an error naming the key, its table and its line.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::Failure;
use crate::Limits;
use crate::audit::Redactor;
use crate::error::Error;
use crate::limits::{Rate, RateLimits, SessionLimits};
use crate::policy::PolicyError;

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

/// The settings of the file at `path`; the defaults without one.
pub(super) fn load(path: Option<&Path>) -> Result<Settings, Failure> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| {
        Failure::Lib(Error::Policy(PolicyError::Read {
            path: path.to_owned(),
            source,
        }))
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    Ok(parse(&text, &path.display().to_string(), base)?)
}

/// Reads the settings of a file's text. `origin` names the file in errors;
/// a relative `[audit] file` is taken relative to `base`.
pub(super) fn parse(text: &str, origin: &str, base: Option<&Path>) -> Result<Settings, Error> {
    let cx = Cx { text, origin };
    cx.file(base).map_err(Error::Policy)
}

struct Cx<'a> {
    text: &'a str,
    origin: &'a str,
}

type Value<'i> = Spanned<DeValue<'i>>;

impl Cx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        self.text
            .get(..span.start)
            .map_or(1, |before| before.matches('\n').count() + 1)
    }

    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> PolicyError {
        PolicyError::Config {
            origin: self.origin.to_owned(),
            line: self.line(span),
            message: crate::policy::one_line(&message.into()),
        }
    }

    fn file(&self, base: Option<&Path>) -> Result<Settings, PolicyError> {
        let doc = DeTable::parse(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.err(&span, e.message().trim().to_owned())
        })?;
        let mut settings = Settings::default();
        for (key, value) in doc.get_ref() {
            match key.get_ref().as_ref() {
                // The policy's: checked where the policy is read.
                "default_profile" | "profiles" => {}
                "audit" => settings.audit = self.audit(value, base)?,
                "limits" => settings.limits = self.limits(value)?,
                "approval" => settings.approval = self.approval(value)?,
                other => {
                    return Err(self.err(
                        &key.span(),
                        format!(
                            "unknown key `{other}` at the top level (expected `default_profile`, \
                             `profiles`, `audit`, `limits` or `approval`)"
                        ),
                    ));
                }
            }
        }
        Ok(settings)
    }

    /// The table `[name]`.
    fn entries<'v, 'i>(
        &self,
        value: &'v Value<'i>,
        name: &str,
    ) -> Result<&'v DeTable<'i>, PolicyError> {
        match value.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.err(
                &value.span(),
                format!("`{name}` must be a table, not {}", kind(other)),
            )),
        }
    }

    fn unknown(&self, key: &Spanned<DeString<'_>>, table: &str, expected: &str) -> PolicyError {
        self.err(
            &key.span(),
            format!(
                "unknown key `{}` in [{table}] (expected {expected})",
                key.get_ref()
            ),
        )
    }

    fn audit(&self, value: &Value<'_>, base: Option<&Path>) -> Result<AuditSettings, PolicyError> {
        let mut out = AuditSettings::default();
        for (key, value) in self.entries(value, "audit")? {
            let k = key.get_ref().as_ref();
            let what = format!("`{k}` in [audit]");
            match k {
                "file" => {
                    let file = self.string(value, &what)?;
                    if file.is_empty() {
                        return Err(self.err(&value.span(), format!("{what} is empty")));
                    }
                    let path = PathBuf::from(file);
                    out.file = Some(match base {
                        Some(base) if path.is_relative() => base.join(path),
                        _ => path,
                    });
                }
                "database" => out.database = self.boolean(value, &what)?,
                "hash_sql" => out.hash_sql = self.boolean(value, &what)?,
                "mask_literals" => out.mask_literals = self.boolean(value, &what)?,
                "secret_patterns" => {
                    let DeValue::Array(items) = value.get_ref() else {
                        return Err(self.err(
                            &value.span(),
                            format!("{what} must be an array, not {}", kind(value.get_ref())),
                        ));
                    };
                    for item in items {
                        let pattern = self.string(item, &what)?;
                        if let Err(Error::Config(message)) = Redactor::new().with_pattern(&pattern)
                        {
                            return Err(self.err(&item.span(), format!("{what}: {message}")));
                        }
                        out.secret_patterns.push(pattern);
                    }
                }
                _ => {
                    return Err(self.unknown(
                        key,
                        "audit",
                        "file, database, hash_sql, secret_patterns or mask_literals",
                    ));
                }
            }
        }
        Ok(out)
    }

    fn limits(&self, value: &Value<'_>) -> Result<LimitSettings, PolicyError> {
        let mut out = LimitSettings::default();
        for (key, value) in self.entries(value, "limits")? {
            let k = key.get_ref().as_ref();
            let what = format!("`{k}` in [limits]");
            let rates = &mut out.rates;
            let session = &mut out.session;
            match k {
                "statements_per_tenant" => {
                    rates.statements_per_tenant = Some(self.rate(value, &what)?)
                }
                "statements_per_actor" => {
                    rates.statements_per_actor = Some(self.rate(value, &what)?)
                }
                "commits_per_tenant" => rates.commits_per_tenant = Some(self.rate(value, &what)?),
                "commits_per_actor" => rates.commits_per_actor = Some(self.rate(value, &what)?),
                "max_statements" => {
                    let n = self.positive(value, &what)?;
                    *session = session.max_statements(n);
                }
                "max_rows_per_commit" => {
                    let n = self.positive(value, &what)?;
                    let n = usize::try_from(n)
                        .map_err(|_| self.err(&value.span(), format!("{what} is too large")))?;
                    *session = session.max_rows_per_commit(n);
                }
                "max_session" => {
                    let d = self.duration(value, &what)?;
                    *session = session.max_duration(d);
                }
                "memory_budget" => out.sandbox.memory_budget = self.bytes(value, &what)?,
                "max_growth_bytes" => out.sandbox.max_growth_bytes = self.bytes(value, &what)?,
                "max_result_bytes" => out.sandbox.max_result_bytes = self.size(value, &what)?,
                "max_value_bytes" => out.sandbox.max_value_bytes = self.size(value, &what)?,
                "max_sql_bytes" => out.sandbox.max_sql_bytes = self.size(value, &what)?,
                "max_like_pattern_bytes" => {
                    out.sandbox.max_like_pattern_bytes = self.size(value, &what)?;
                }
                "max_result_rows" => {
                    let n = self.positive(value, &what)?;
                    out.sandbox.max_result_rows = usize::try_from(n)
                        .map_err(|_| self.err(&value.span(), format!("{what} is too large")))?;
                }
                "max_call_work" => out.sandbox.max_call_work = self.positive(value, &what)?,
                "statement_time" => out.sandbox.statement_time = self.duration(value, &what)?,
                "session_statement_time" => {
                    out.sandbox.session_statement_time = self.duration(value, &what)?;
                }
                _ => {
                    return Err(self.unknown(
                        key,
                        "limits",
                        "statements_per_tenant, statements_per_actor, commits_per_tenant, \
                         commits_per_actor, max_statements, max_session, max_rows_per_commit, \
                         memory_budget, max_growth_bytes, statement_time, session_statement_time, \
                         max_result_rows, max_result_bytes, max_value_bytes, max_sql_bytes, \
                         max_like_pattern_bytes or max_call_work",
                    ));
                }
            }
        }
        Ok(out)
    }

    fn approval(&self, value: &Value<'_>) -> Result<ApprovalSettings, PolicyError> {
        let mut out = ApprovalSettings::default();
        for (key, value) in self.entries(value, "approval")? {
            let k = key.get_ref().as_ref();
            let what = format!("`{k}` in [approval]");
            match k {
                "in_database" => out.in_database = self.boolean(value, &what)?,
                "timeout" => out.timeout = Some(self.duration(value, &what)?),
                _ => return Err(self.unknown(key, "approval", "in_database or timeout")),
            }
        }
        Ok(out)
    }

    fn string(&self, value: &Value<'_>, what: &str) -> Result<String, PolicyError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref().to_owned()),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be a string, not {}", kind(other)),
            )),
        }
    }

    fn boolean(&self, value: &Value<'_>, what: &str) -> Result<bool, PolicyError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be a boolean, not {}", kind(other)),
            )),
        }
    }

    /// A whole number of at least 1.
    fn positive(&self, value: &Value<'_>, what: &str) -> Result<u64, PolicyError> {
        match value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    self.err(&value.span(), format!("{what} must be a whole number >= 1"))
                }),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be an integer, not {}", kind(other)),
            )),
        }
    }

    /// A size in bytes: a whole number, or a string such as `"512 MiB"`,
    /// `"64KiB"`, `"1GiB"` (`KB`, `MB`, `GB` are powers of 1000).
    fn bytes(&self, value: &Value<'_>, what: &str) -> Result<u64, PolicyError> {
        let n = match value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(s) => parse_bytes(s),
            other => {
                return Err(self.err(
                    &value.span(),
                    format!(
                        "{what} must be a size (bytes, or a string like \"512 MiB\"), not {}",
                        kind(other)
                    ),
                ));
            }
        };
        n.filter(|n| *n > 0).ok_or_else(|| {
            self.err(
                &value.span(),
                format!(
                    "{what} is not a size: write bytes (1048576) or a string like \"64 KiB\", \
                     \"512 MiB\", \"1 GiB\" (more than zero)"
                ),
            )
        })
    }

    /// [`Self::bytes`] as a `usize`.
    fn size(&self, value: &Value<'_>, what: &str) -> Result<usize, PolicyError> {
        let n = self.bytes(value, what)?;
        usize::try_from(n).map_err(|_| self.err(&value.span(), format!("{what} is too large")))
    }

    /// A rate: `"30/minute"`.
    fn rate(&self, value: &Value<'_>, what: &str) -> Result<Rate, PolicyError> {
        let text = self.string(value, what)?;
        text.parse::<Rate>().map_err(|e| match e {
            Error::Config(message) => self.err(&value.span(), format!("{what}: {message}")),
            other => self.err(&value.span(), format!("{what}: {other}")),
        })
    }

    /// A duration: whole seconds, or a string such as `"90s"`, `"5m"`, `"1h30m"`.
    fn duration(&self, value: &Value<'_>, what: &str) -> Result<Duration, PolicyError> {
        let d = match value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(Duration::from_secs),
            DeValue::String(s) => parse_duration(s),
            other => {
                return Err(self.err(
                    &value.span(),
                    format!(
                        "{what} must be a duration (seconds, or a string like \"5m\"), not {}",
                        kind(other)
                    ),
                ));
            }
        };
        d.filter(|d| !d.is_zero()).ok_or_else(|| {
            self.err(
                &value.span(),
                format!(
                    "{what} is not a duration: write whole seconds (300) or a string like \
                     \"90s\", \"5m\", \"1h30m\" (more than zero)"
                ),
            )
        })
    }
}

/// `"512 MiB"`, `"64KiB"`, `"1 GiB"`, `"10 MB"`, `"4096"`: a number and an
/// optional unit (`B`, `KiB`, `MiB`, `GiB`, or `KB`, `MB`, `GB` for powers of 1000).
pub(super) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2 days"`: numbers each followed
/// by a unit (`ms`, `s`, `m`, `h`, `d` and their words); a bare number is seconds.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let n: u64 = number.parse().ok()?;
        let after = after.trim_start();
        let letters = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        let unit = match unit.to_ascii_lowercase().as_str() {
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => Duration::from_millis(1),
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "mins" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86_400),
            _ => return None,
        };
        total = total.checked_add(unit.checked_mul(u32::try_from(n).ok()?)?)?;
        rest = after.trim_start();
    }
    Some(total)
}

fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(parse_bytes("1 GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("12 parsecs"), None);
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
    fn unknown_keys_and_bad_values_name_key_and_line() {
        assert_eq!(
            message("[audit]\ndatabase = true\nfiel = \"a\"\n"),
            "shadowdb.toml:3: unknown key `fiel` in [audit] (expected file, database, hash_sql, \
             secret_patterns or mask_literals)"
        );
        assert_eq!(
            message("[limits]\n\nmax_statement = 1\n"),
            "shadowdb.toml:3: unknown key `max_statement` in [limits] (expected \
             statements_per_tenant, statements_per_actor, commits_per_tenant, commits_per_actor, \
             max_statements, max_session, max_rows_per_commit, memory_budget, max_growth_bytes, \
             statement_time, session_statement_time, max_result_rows, max_result_bytes, \
             max_value_bytes, max_sql_bytes, max_like_pattern_bytes or max_call_work)"
        );
        assert_eq!(
            message(
                "[limits]
memory_budget = \"lots\"\n"
            ),
            "shadowdb.toml:2: `memory_budget` in [limits] is not a size: write bytes (1048576) \
             or a string like \"64 KiB\", \"512 MiB\", \"1 GiB\" (more than zero)"
        );
        assert_eq!(
            message("[approval]\ntimeout = 5\nin_db = true\n"),
            "shadowdb.toml:3: unknown key `in_db` in [approval] (expected in_database or timeout)"
        );
        assert_eq!(
            message("[approval]\ntimeout = \"soon\"\n"),
            "shadowdb.toml:2: `timeout` in [approval] is not a duration: write whole seconds \
             (300) or a string like \"90s\", \"5m\", \"1h30m\" (more than zero)"
        );
        assert_eq!(
            message("[limits]\nstatements_per_tenant = \"lots\"\n"),
            "shadowdb.toml:2: `statements_per_tenant` in [limits]: `lots` is not a rate \
             (write it as `30/minute` or `5/10s`)"
        );
        assert_eq!(
            message("[limits]\nmax_statements = 0\n"),
            "shadowdb.toml:2: `max_statements` in [limits] must be a whole number >= 1"
        );
        assert_eq!(
            message("[audit]\ndatabase = \"yes\"\n"),
            "shadowdb.toml:2: `database` in [audit] must be a boolean, not a string"
        );
        assert!(
            message("[audit]\nsecret_patterns = [\"(\"]\n")
                .starts_with("shadowdb.toml:2: `secret_patterns` in [audit]: audit secret pattern `(` is not a valid regex"),
        );
        assert_eq!(
            message("audit = 1\n"),
            "shadowdb.toml:1: `audit` must be a table, not an integer"
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

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).map(|d| d.as_millis());
        assert_eq!(d("300"), Some(300_000));
        assert_eq!(d("90s"), Some(90_000));
        assert_eq!(d("5m"), Some(300_000));
        assert_eq!(d("1h30m"), Some(5_400_000));
        assert_eq!(d("1h 30min"), Some(5_400_000));
        assert_eq!(d("500ms"), Some(500));
        assert_eq!(d("2 days"), Some(172_800_000));
        for bad in ["", "m", "5x", "5m3", "-5s", "1.5h"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }
}
