//! A person at a terminal: the dashboard, then `Approve? [y/N]`.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};

use super::{ApprovalDecision, ApprovalRequest, Approver, BoxFuture};
use crate::error::{Error, Result};

/// Shows the request and asks `Approve? [y/N]` on a reader and a writer.
///
/// `y` or `yes` (any case, surrounding blanks ignored) approves; anything else
/// denies: an empty line (the default is no), another answer, the end of
/// input. No answer within the request's timeout is
/// [`ApprovalDecision::TimedOut`].
///
/// The read happens on a thread of its own, so a waiting prompt never blocks
/// the async runtime nor keeps the process alive; a read still waiting after
/// a timeout keeps the reader until a line arrives, and a later request waits
/// for it.
#[derive(Clone)]
pub struct TerminalApprover {
    io: Arc<Mutex<Io>>,
    user: String,
}

struct Io {
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
}

impl std::fmt::Debug for TerminalApprover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalApprover")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl TerminalApprover {
    /// Asks on `input` and `output`; the approver is named after `$USER`
    /// (`terminal` when unset).
    pub fn new(input: impl BufRead + Send + 'static, output: impl Write + Send + 'static) -> Self {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "terminal".to_owned());
        TerminalApprover {
            io: Arc::new(Mutex::new(Io {
                input: Box::new(input),
                output: Box::new(output),
            })),
            user,
        }
    }

    /// Reads standard input and writes to standard error, so standard output
    /// stays free for machine-readable output.
    #[must_use]
    pub fn stdio() -> Self {
        TerminalApprover::new(std::io::BufReader::new(std::io::stdin()), std::io::stderr())
    }

    /// Names whoever answers at this terminal (the `by` of the decision).
    #[must_use]
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }
}

/// The prompt for `request`, as written before the answer is read.
fn prompt(request: &ApprovalRequest) -> String {
    let mut out = String::new();
    if !request.text.is_empty() {
        out.push_str(&request.text);
        if !request.text.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "Approval {} requested by {} for tenant {}",
        request.id, request.requested_by, request.tenant
    ));
    if request.reasons.is_empty() {
        out.push('\n');
    } else {
        out.push_str(":\n");
        for reason in &request.reasons {
            out.push_str(&format!("  - {reason}\n"));
        }
    }
    out.push_str("Approve? [y/N] ");
    out
}

/// The decision for one line read (`None`: end of input).
fn answer(line: Option<&str>, user: &str) -> ApprovalDecision {
    let denied = |reason: &str| ApprovalDecision::Denied {
        by: user.to_owned(),
        reason: reason.to_owned(),
    };
    match line.map(|l| l.trim().to_ascii_lowercase()) {
        None => denied("end of input at the prompt (the default is no)"),
        Some(a) if a.is_empty() => denied("no answer at the prompt (the default is no)"),
        Some(a) if a == "y" || a == "yes" => ApprovalDecision::Approved {
            by: user.to_owned(),
        },
        Some(_) => denied("answered no at the prompt"),
    }
}

fn ask(io: &Mutex<Io>, request: &ApprovalRequest, user: &str) -> Result<ApprovalDecision> {
    let failed = |context: &str, e: std::io::Error| Error::ApprovalFailed {
        context: context.to_owned(),
        source: Some(e),
    };
    let mut io = io.lock().unwrap_or_else(PoisonError::into_inner);
    io.output
        .write_all(prompt(request).as_bytes())
        .and_then(|()| io.output.flush())
        .map_err(|e| failed("writing the prompt", e))?;
    let mut line = String::new();
    let read = io
        .input
        .read_line(&mut line)
        .map_err(|e| failed("reading the answer", e))?;
    if read == 0 {
        // The answer never ended its line: end it, so what follows starts clean.
        let _ = io.output.write_all(b"\n").and_then(|()| io.output.flush());
        return Ok(answer(None, user));
    }
    Ok(answer(Some(&line), user))
}

impl Approver for TerminalApprover {
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> BoxFuture<'a, Result<ApprovalDecision>> {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let io = Arc::clone(&self.io);
            let user = self.user.clone();
            let owned = request.clone();
            // A plain thread, not the runtime's blocking pool: a prompt nobody
            // answers must not keep the runtime from shutting down.
            std::thread::Builder::new()
                .name("shadowdb-approval-prompt".to_owned())
                .spawn(move || {
                    let _ = tx.send(ask(&io, &owned, &user));
                })
                .map_err(|e| Error::ApprovalFailed {
                    context: "starting the prompt".to_owned(),
                    source: Some(e),
                })?;
            match tokio::time::timeout(request.timeout, rx).await {
                Ok(Ok(decision)) => decision,
                Ok(Err(_)) => Err(Error::ApprovalFailed {
                    context: "the prompt stopped without an answer".to_owned(),
                    source: None,
                }),
                Err(_) => Ok(ApprovalDecision::TimedOut),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let yes = ApprovalDecision::Approved { by: "u".into() };
        assert_eq!(answer(Some("y\n"), "u"), yes);
        assert_eq!(answer(Some("  YES \r\n"), "u"), yes);
        assert!(matches!(
            answer(Some("n\n"), "u"),
            ApprovalDecision::Denied { .. }
        ));
        assert!(matches!(
            answer(Some("yep\n"), "u"),
            ApprovalDecision::Denied { .. }
        ));
        assert!(matches!(
            answer(Some("\n"), "u"),
            ApprovalDecision::Denied { .. }
        ));
        assert!(matches!(answer(None, "u"), ApprovalDecision::Denied { .. }));
    }
}
