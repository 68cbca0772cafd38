//! The review stage: what was decided about a changeset (the [`Verdict`]) and
//! everything a rendering shows of it (the [`Review`]). The `render` module
//! lays a review out as text or JSON; this one only decides.

use crate::diff::ChangeSet;

/// Whether a changeset may be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing stands in the way.
    Safe,
    /// It must not be committed; one line per reason.
    Blocked(Vec<String>),
    /// It may be committed only with approval; one line per reason.
    NeedsApproval(Vec<String>),
}

impl Verdict {
    /// `safe`, `blocked` or `needs_approval`, as in JSON.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Blocked(_) => "blocked",
            Verdict::NeedsApproval(_) => "needs_approval",
        }
    }

    /// The reasons (none when safe).
    #[must_use]
    pub fn reasons(&self) -> &[String] {
        match self {
            Verdict::Safe => &[],
            Verdict::Blocked(reasons) | Verdict::NeedsApproval(reasons) => reasons,
        }
    }
}

/// Everything a rendering shows: the changeset and what was decided about it.
#[derive(Debug, Clone)]
pub struct Review<'a> {
    /// The changes.
    pub changeset: &'a ChangeSet,
    /// The decision on them.
    pub verdict: Verdict,
    /// `(table, column)` pairs whose values are never shown. Sandbox rows
    /// normally lack these columns; this is the second line of defence.
    pub pii_columns: Vec<(String, String)>,
    /// Warnings to show (policy rules that warn, ...).
    pub notes: Vec<String>,
}

impl<'a> Review<'a> {
    /// A review with the verdict of the contract checks alone
    /// ([`verdict_of`] with no extra reasons), no PII columns and no notes.
    #[must_use]
    pub fn new(changeset: &'a ChangeSet) -> Self {
        Review {
            changeset,
            verdict: verdict_of(changeset, Vec::new(), Vec::new()),
            pii_columns: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Whether `column` of `table` is PII. A qualified and an unqualified name
    /// of one table (`app.users`, `users`) are taken to match: masking one
    /// column too many is harmless, one too few is not.
    pub(crate) fn is_pii(&self, table: &str, column: &str) -> bool {
        self.pii_columns
            .iter()
            .any(|(t, c)| c == column && (t == table || unqualified(t) == unqualified(table)))
    }
}

fn unqualified(table: &str) -> &str {
    table.rsplit('.').next().unwrap_or(table)
}

/// The verdict of a changeset's contract checks, plus the policy's reasons.
///
/// Blocked when any row broke its contract (one reason per violation,
/// `tasks[id=7].status: not one of todo, in_progress, done`) or `extra_block`
/// is not empty; otherwise needs approval when `extra_approval` is not empty;
/// otherwise safe.
#[must_use]
pub fn verdict_of(
    changeset: &ChangeSet,
    extra_block: Vec<String>,
    extra_approval: Vec<String>,
) -> Verdict {
    let mut block: Vec<String> = changeset
        .changes()
        .iter()
        .flat_map(|c| {
            let key = c.key.render();
            c.violations
                .iter()
                .map(move |v| format!("{}[{key}].{}: {}", c.table, v.column, v.message))
        })
        .collect();
    block.extend(extra_block);
    if !block.is_empty() {
        Verdict::Blocked(block)
    } else if !extra_approval.is_empty() {
        Verdict::NeedsApproval(extra_approval)
    } else {
        Verdict::Safe
    }
}
