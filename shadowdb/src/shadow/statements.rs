//! The agent's statements: a script checked against the policy, or judged
//! and run in the sandbox as one unit, every statement on the record.

use safemodel::Value;

use super::ShadowDb;
use crate::error::{Error, Refusal, Result};
use crate::policy::{Decision, StatementVerdict};
use crate::sandbox::{Sandbox, StatementResult};

/// What [`ShadowDb::judge_and_run`] came to.
enum Outcome {
    /// A session or rate limit refused the script before anything was judged
    /// to run.
    Limit(Error),
    /// The verdicts (final, the effect rule's hits included) and the run's
    /// result: its statements' results and the script id to end.
    Done {
        verdicts: Vec<StatementVerdict>,
        result: Result<(Vec<StatementResult>, u64)>,
    },
}

impl ShadowDb {
    /// Checks a script against the policy without running it: split where
    /// SQLite splits it, each statement judged as SQLite read it. A script
    /// SQLite cannot prepare (a table outside the scope, a syntax error, a
    /// NUL byte) is judged as the policy's parser splits it.
    #[must_use]
    pub fn check(&self, sql: &str) -> Vec<StatementVerdict> {
        let Ok(sandbox) = self.sandbox() else {
            return self.policy.check_sql(sql, &self.scope);
        };
        match sandbox.prepare_script(sql, None) {
            Ok(script) => script
                .iter()
                .map(|p| {
                    self.policy
                        .check_statement(sql.get(p.text.clone()).unwrap_or_default(), &self.scope)
                })
                .collect(),
            Err(_) => self.policy.check_sql(sql, &self.scope),
        }
    }

    /// Runs the agent's SQL (one statement or a script) in the sandbox.
    ///
    /// The script is split where SQLite splits it, and each statement is
    /// judged by the policy on exactly the text SQLite prepared, which is the
    /// text recorded and run. If any is blocked, nothing runs. The script
    /// runs as one unit: if a statement fails, or its effect is blocked (an
    /// UPDATE or DELETE that changed every row of a table: rules
    /// `update_without_where`, `delete_without_where`), the sandbox is as it
    /// was before. `params` bind the placeholders of each statement that has
    /// any (it must have as many as given).
    ///
    /// # Errors
    /// [`Error::Blocked`] (policy), [`Error::Refused`] (sandbox walls, a NUL
    /// byte), [`Error::Timeout`], [`Error::Statement`].
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        self.run(sql, params).await
    }

    /// Runs a query and returns its rows (the last statement's, for a script).
    ///
    /// # Errors
    /// As [`ShadowDb::execute`].
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<crate::QueryResult> {
        let results = self.run(sql, params).await?;
        Ok(results
            .into_iter()
            .rev()
            .find_map(|r| r.rows)
            .unwrap_or_default())
    }

    async fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<StatementResult>> {
        self.flush_audit().await?;
        let outcome = {
            let sandbox = self.sandbox()?;
            self.judge_and_run(&sandbox, sql, params)
        };
        let (verdicts, result) = match outcome {
            Outcome::Limit(e) => return self.limit(Err(e)).await,
            Outcome::Done { verdicts, result } => (verdicts, result),
        };
        // Every statement is on the record, whether it ran or not, with its
        // final decision. What cannot be recorded does not stay.
        if self.audit.is_enabled() {
            for v in &verdicts {
                if let Err(e) = self.audit.record(self.audit.statement(&v.sql, v)).await {
                    if let Ok((_, id)) = &result {
                        self.sandbox()?.undo_script(*id)?;
                    }
                    return Err(e);
                }
            }
        }
        match result {
            Ok((results, id)) => {
                self.sandbox()?.end_script(id)?;
                if let Ok(mut log) = self.log.lock() {
                    log.extend(verdicts);
                }
                Ok(results)
            }
            Err(e) => {
                if matches!(e, Error::Blocked { .. })
                    && let Ok(mut log) = self.log.lock()
                {
                    log.extend(verdicts);
                }
                self.limit(Err(e)).await
            }
        }
    }

    /// Splits, judges and (when nothing is blocked) runs a script, under
    /// the sandbox's lock: the statements judged are the statements run.
    fn judge_and_run(&self, sandbox: &Sandbox, sql: &str, params: &[Value]) -> Outcome {
        let (script, mut verdicts) = match sandbox.prepare_script(sql, Some(params.len())) {
            Ok(script) => {
                let verdicts = script
                    .iter()
                    .map(|p| {
                        self.policy.check_statement(
                            sql.get(p.text.clone()).unwrap_or_default(),
                            &self.scope,
                        )
                    })
                    .collect();
                (Ok(script), verdicts)
            }
            // Nothing of it can run; the policy still names what it would block.
            Err(e) => (Err(e), self.policy.check_sql(sql, &self.scope)),
        };
        // Limits count statements, not calls: a script of five is five.
        for _ in &verdicts {
            let checked = self.session.check_statement().and_then(|_| {
                self.rate_limiter.as_ref().map_or(Ok(()), |l| {
                    l.check_statement(&self.tenant.to_string(), &self.actor)
                })
            });
            if let Err(e) = checked {
                return Outcome::Limit(e);
            }
        }
        let blocked = verdicts
            .iter()
            .find_map(StatementVerdict::blocking_hit)
            .map(|hit| Error::Blocked {
                rule: hit.rule.clone(),
                reason: hit.reason.clone(),
            });
        let script = match (script, blocked) {
            (Ok(script), None) => script,
            // A NUL byte is refused as such, and a limit that stopped SQLite
            // preparing the script is that limit's error: the policy's
            // verdict after it may itself be the limit's doing (no memory
            // left for its deep check's thread). Else the policy's block
            // comes first.
            (
                Err(
                    e @ (Error::Refused(Refusal::NulByte { .. })
                    | Error::MemoryLimit { .. }
                    | Error::Timeout { .. }
                    | Error::SessionTimeLimit { .. }),
                ),
                _,
            )
            | (Err(_) | Ok(_), Some(e))
            | (Err(e), None) => {
                return Outcome::Done {
                    verdicts,
                    result: Err(e),
                };
            }
        };
        let result = sandbox.run_script(script, sql, params, &mut |i, effect| {
            let Some(hit) = self.policy.check_effect(effect) else {
                return Ok(());
            };
            let blocked = (hit.decision == Decision::Block).then(|| Error::Blocked {
                rule: hit.rule.clone(),
                reason: hit.reason.clone(),
            });
            if let Some(v) = verdicts.get_mut(i) {
                v.push_hit(hit);
            }
            blocked.map_or(Ok(()), Err)
        });
        Outcome::Done { verdicts, result }
    }

    /// Reasons from the statements run so far that require approval.
    pub(crate) fn statement_approvals(&self) -> Vec<String> {
        self.statement_log()
            .iter()
            .flat_map(|v| v.hits.iter())
            .filter(|h| h.decision == Decision::RequireApproval)
            .map(|h| format!("{}: {}", h.rule, h.reason))
            .collect()
    }
}
