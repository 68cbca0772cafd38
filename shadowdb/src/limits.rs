//! Rate limits per tenant and per actor, and limits on one session.
//!
//! [`RateLimiter`] counts statements and commits per tenant and per actor
//! with the GCRA of the `governor` crate: a rate of `n` per window allows a
//! burst of `n`, then one more each `window / n`. A refusal is
//! [`Error::RateLimited`] with the time after which the same call succeeds.
//!
//! [`SessionGuard`] holds one session to its [`SessionLimits`]: statements,
//! duration and rows per commit, each breach its own error.
//!
//! ```
//! use std::time::Duration;
//! use shadowdb::Error;
//! use shadowdb::limits::{Rate, RateLimiter, RateLimits};
//!
//! let limiter = RateLimiter::new(
//!     RateLimits::new().statements_per_tenant("2/minute".parse()?),
//! );
//! limiter.check_statement("42", "agent-7")?;
//! limiter.check_statement("42", "agent-8")?;
//! let refused = limiter.check_statement("42", "agent-9").unwrap_err();
//! assert!(matches!(refused, Error::RateLimited { retry_after, .. } if retry_after > Duration::ZERO));
//! limiter.check_statement("43", "agent-9")?; // another tenant has its own budget
//! # Ok::<(), Error>(())
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;

use crate::error::{Error, Result};

/// `count` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    window: Duration,
}

impl Rate {
    /// `count` per `window`.
    ///
    /// # Errors
    /// [`Error::Config`] when `count` is zero or `window` is shorter than a
    /// nanosecond per event.
    pub fn new(count: u32, window: Duration) -> Result<Rate> {
        let count = NonZeroU32::new(count)
            .ok_or_else(|| Error::Config("a rate limit allows at least 1 event".to_owned()))?;
        if (window / count.get()).is_zero() {
            return Err(Error::Config(format!(
                "a rate limit of {count} per {window:?} is too fine"
            )));
        }
        Ok(Rate { count, window })
    }

    /// `count` per second.
    ///
    /// # Errors
    /// See [`Rate::new`].
    pub fn per_second(count: u32) -> Result<Rate> {
        Rate::new(count, Duration::from_secs(1))
    }

    /// `count` per minute.
    ///
    /// # Errors
    /// See [`Rate::new`].
    pub fn per_minute(count: u32) -> Result<Rate> {
        Rate::new(count, Duration::from_secs(60))
    }

    /// `count` per hour.
    ///
    /// # Errors
    /// See [`Rate::new`].
    pub fn per_hour(count: u32) -> Result<Rate> {
        Rate::new(count, Duration::from_secs(3600))
    }

    /// Events allowed per window.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The window.
    #[must_use]
    pub fn window(&self) -> Duration {
        self.window
    }

    fn quota(self) -> Quota {
        let period = self.window / self.count.get();
        // `Rate::new` made the period non-zero, so this is never the fallback.
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

/// Parses `30/minute`, `5/10s`, `1000/hour`: a count, `/`, and a window of an
/// optional number and a unit (`ms`, `s`/`sec`/`second`, `m`/`min`/`minute`,
/// `h`/`hour`, `d`/`day`, plurals too).
impl FromStr for Rate {
    type Err = Error;

    fn from_str(s: &str) -> Result<Rate> {
        let bad = || {
            Error::Config(format!(
                "`{s}` is not a rate (write it as `30/minute` or `5/10s`)"
            ))
        };
        let (count, window) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let split = window.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = window.split_at(split);
        let n: u32 = if n.is_empty() {
            1
        } else {
            n.parse().map_err(|_| bad())?
        };
        let unit_len = match unit.trim().trim_end_matches('s') {
            "m" if unit.trim() == "ms" => Duration::from_millis(1),
            "" => Duration::from_secs(1), // `s`, trimmed to nothing
            "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        Rate::new(count, unit_len * n)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.count, self.window.as_millis())
    }
}

/// Which rates apply; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Statements per tenant.
    pub statements_per_tenant: Option<Rate>,
    /// Statements per actor.
    pub statements_per_actor: Option<Rate>,
    /// Commits per tenant.
    pub commits_per_tenant: Option<Rate>,
    /// Commits per actor.
    pub commits_per_actor: Option<Rate>,
}

impl RateLimits {
    /// No limits.
    #[must_use]
    pub fn new() -> Self {
        RateLimits::default()
    }

    /// Limits statements per tenant.
    #[must_use]
    pub fn statements_per_tenant(mut self, rate: Rate) -> Self {
        self.statements_per_tenant = Some(rate);
        self
    }

    /// Limits statements per actor.
    #[must_use]
    pub fn statements_per_actor(mut self, rate: Rate) -> Self {
        self.statements_per_actor = Some(rate);
        self
    }

    /// Limits commits per tenant.
    #[must_use]
    pub fn commits_per_tenant(mut self, rate: Rate) -> Self {
        self.commits_per_tenant = Some(rate);
        self
    }

    /// Limits commits per actor.
    #[must_use]
    pub fn commits_per_actor(mut self, rate: Rate) -> Self {
        self.commits_per_actor = Some(rate);
        self
    }
}

type Keyed = governor::RateLimiter<String, HashMapStateStore<String>, DefaultClock>;

/// One keyed limit and its name in errors.
struct Limit {
    name: &'static str,
    limiter: Keyed,
}

impl Limit {
    fn new(name: &'static str, rate: Option<Rate>) -> Option<Limit> {
        rate.map(|r| Limit {
            name,
            limiter: governor::RateLimiter::hashmap(r.quota()),
        })
    }

    fn check(&self, key: &str, clock: &DefaultClock) -> Result<()> {
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| Error::RateLimited {
                limit: self.name.to_owned(),
                retry_after: not_until.wait_time_from(clock.now()),
            })
    }
}

/// Rate limits shared by every session of a process: keep one in an `Arc`.
pub struct RateLimiter {
    statements_tenant: Option<Limit>,
    statements_actor: Option<Limit>,
    commits_tenant: Option<Limit>,
    commits_actor: Option<Limit>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.limits().map(|l| l.name).collect();
        f.debug_struct("RateLimiter")
            .field("limits", &names)
            .finish_non_exhaustive()
    }
}

/// How many checks between two sweeps of keys whose budget is full again.
const SWEEP_EVERY: u64 = 4096;

impl RateLimiter {
    /// A limiter for `limits`.
    #[must_use]
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            statements_tenant: Limit::new("statements per tenant", limits.statements_per_tenant),
            statements_actor: Limit::new("statements per actor", limits.statements_per_actor),
            commits_tenant: Limit::new("commits per tenant", limits.commits_per_tenant),
            commits_actor: Limit::new("commits per actor", limits.commits_per_actor),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    fn limits(&self) -> impl Iterator<Item = &Limit> {
        [
            &self.statements_tenant,
            &self.statements_actor,
            &self.commits_tenant,
            &self.commits_actor,
        ]
        .into_iter()
        .flatten()
    }

    /// Counts one statement of `actor` for `tenant`.
    ///
    /// # Errors
    /// [`Error::RateLimited`] naming the limit reached (the actor's is checked
    /// first; a call refused by the tenant's limit has used one of the actor's).
    pub fn check_statement(&self, tenant: &str, actor: &str) -> Result<()> {
        self.check(
            &self.statements_actor,
            &self.statements_tenant,
            tenant,
            actor,
        )
    }

    /// Counts one commit of `actor` for `tenant`.
    ///
    /// # Errors
    /// As [`RateLimiter::check_statement`].
    pub fn check_commit(&self, tenant: &str, actor: &str) -> Result<()> {
        self.check(&self.commits_actor, &self.commits_tenant, tenant, actor)
    }

    fn check(
        &self,
        per_actor: &Option<Limit>,
        per_tenant: &Option<Limit>,
        tenant: &str,
        actor: &str,
    ) -> Result<()> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limit in self.limits() {
                limit.limiter.retain_recent();
            }
        }
        if let Some(l) = per_actor {
            l.check(actor, &self.clock)?;
        }
        if let Some(l) = per_tenant {
            l.check(tenant, &self.clock)?;
        }
        Ok(())
    }
}

/// Limits of one session; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLimits {
    /// Statements the agent may send.
    pub max_statements: Option<u64>,
    /// How long the session may last, from its start.
    pub max_duration: Option<Duration>,
    /// Rows one commit may change.
    pub max_rows_per_commit: Option<usize>,
}

impl SessionLimits {
    /// No limits.
    #[must_use]
    pub fn new() -> Self {
        SessionLimits::default()
    }

    /// At most `n` statements.
    #[must_use]
    pub fn max_statements(mut self, n: u64) -> Self {
        self.max_statements = Some(n);
        self
    }

    /// At most `d` from the start.
    #[must_use]
    pub fn max_duration(mut self, d: Duration) -> Self {
        self.max_duration = Some(d);
        self
    }

    /// At most `n` rows per commit.
    #[must_use]
    pub fn max_rows_per_commit(mut self, n: usize) -> Self {
        self.max_rows_per_commit = Some(n);
        self
    }
}

/// Holds one session to its [`SessionLimits`].
#[derive(Debug)]
pub struct SessionGuard {
    limits: SessionLimits,
    started: Instant,
    statements: AtomicU64,
}

impl SessionGuard {
    /// A guard whose session starts now.
    #[must_use]
    pub fn new(limits: SessionLimits) -> Self {
        SessionGuard::started_at(limits, Instant::now())
    }

    /// A guard whose session started at `started`.
    #[must_use]
    pub fn started_at(limits: SessionLimits, started: Instant) -> Self {
        SessionGuard {
            limits,
            started,
            statements: AtomicU64::new(0),
        }
    }

    /// The limits.
    #[must_use]
    pub fn limits(&self) -> &SessionLimits {
        &self.limits
    }

    /// Statements counted so far.
    #[must_use]
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Time since the session started.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Checks the session is within its duration.
    ///
    /// # Errors
    /// [`Error::SessionExpired`].
    pub fn check_alive(&self) -> Result<()> {
        match self.limits.max_duration {
            Some(max) if self.started.elapsed() > max => {
                Err(Error::SessionExpired { max_duration: max })
            }
            _ => Ok(()),
        }
    }

    /// Counts one statement; returns how many there have been, this one included.
    ///
    /// # Errors
    /// [`Error::SessionExpired`], or [`Error::TooManyStatements`] (a refused
    /// statement is not counted).
    pub fn check_statement(&self) -> Result<u64> {
        self.check_alive()?;
        let max = self.limits.max_statements;
        self.statements
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match max {
                Some(max) if n >= max => None,
                _ => Some(n.saturating_add(1)),
            })
            .map(|n| n.saturating_add(1))
            .map_err(|_| Error::TooManyStatements {
                max: max.unwrap_or(0),
            })
    }

    /// Checks a commit of `rows` changed rows.
    ///
    /// # Errors
    /// [`Error::SessionExpired`], or [`Error::CommitTooLarge`].
    pub fn check_commit(&self, rows: usize) -> Result<()> {
        self.check_alive()?;
        match self.limits.max_rows_per_commit {
            Some(max) if rows > max => Err(Error::CommitTooLarge { rows, max }),
            _ => Ok(()),
        }
    }
}

/// The name of the limit `error` reports, or `None` when it reports none:
/// the rate limit's name (`statements per tenant`, ...), `max_statements`,
/// `max_duration`, `max_rows_per_commit`, `statement_time` (the sandbox's
/// per-statement limit), `session_statement_time`, or the memory limit
/// (`memory_budget`, `max_growth_bytes`).
#[must_use]
pub fn limit_of(error: &Error) -> Option<String> {
    Some(match error {
        Error::RateLimited { limit, .. } => limit.clone(),
        Error::TooManyStatements { .. } => "max_statements".to_owned(),
        Error::SessionExpired { .. } => "max_duration".to_owned(),
        Error::CommitTooLarge { .. } => "max_rows_per_commit".to_owned(),
        Error::Timeout { .. } => "statement_time".to_owned(),
        Error::SessionTimeLimit { .. } => "session_statement_time".to_owned(),
        Error::MemoryLimit { limit, .. } => limit.clone(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let r: Rate = "30/minute".parse().unwrap();
        assert_eq!((r.count(), r.window()), (30, Duration::from_secs(60)));
        let r: Rate = "5/10s".parse().unwrap();
        assert_eq!((r.count(), r.window()), (5, Duration::from_secs(10)));
        let r: Rate = "100 / 250ms".parse().unwrap();
        assert_eq!((r.count(), r.window()), (100, Duration::from_millis(250)));
        let r: Rate = "2/hours".parse().unwrap();
        assert_eq!(r.window(), Duration::from_secs(3600));
        let r: Rate = "1/day".parse().unwrap();
        assert_eq!(r.window(), Duration::from_secs(86_400));
        for bad in ["", "0/minute", "x/minute", "3/fortnight", "3", "3/"] {
            assert!(
                matches!(bad.parse::<Rate>(), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
