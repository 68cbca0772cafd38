//! Rendering a [`ChangeSet`] for review: a table for people, JSON for programs.
//!
//! Both renderings take a [`Review`]: the changeset, the [`Verdict`] reached on
//! it (by [`verdict_of`], or by the policy layer), the PII columns to mask and
//! any warnings to show.
//!
//! # Text
//!
//! [`render_text`] writes a banner (`SAFE TO COMMIT`, `BLOCKED` or
//! `NEEDS APPROVAL`, with the reasons), the counts per operation, every delete
//! in words (`This will DELETE 1,234 rows from 'users'`), then one line per
//! changed column:
//!
//! ```text
//! BLOCKED
//!   tasks[id=7].status: not one of todo, in_progress, done
//!   tasks[id=9].title: length must be 1 to 200
//!   tasks[id=9].due_at: missing
//! 1 insert, 1 update in 1 table
//!
//!   TABLE  OP      KEY   COLUMN   OLD   NEW        VALIDATION
//! ~ tasks  UPDATE  id=7  status   todo  yolo_swag  FAIL: not one of todo, in_progress, done
//! + tasks  INSERT  id=9  id             9          FAIL: due_at: missing
//! +                      user_id        42         PASS
//! +                      title          ''         FAIL: length must be 1 to 200
//! +                      status         todo       PASS
//! ```
//!
//! - An UPDATE shows only its changed columns, an INSERT every column of the new
//!   row. A DELETE is one line: its key, and in the OLD column the row's other
//!   columns as `column=value`, cut to fit. One line per deleted row keeps a
//!   mass delete readable, and the values show what would be lost.
//! - `NULL` is `NULL`, text is shown as is (the empty text as `''`, so it does
//!   not read as "no value"), bytes as `\x..`, long values are cut with `…`.
//! - Control characters, and the Unicode bidi controls, are shown escaped
//!   (`\n`, `\u{1b}`): values are written by the agent, and must not be able to
//!   move the cursor, recolour or rewrite the review a person is reading.
//! - A PII column's value is never shown, only `<pii>`.
//! - The table fits [`TextOptions::width`]: the OLD and NEW columns shrink
//!   first, then VALIDATION, KEY, COLUMN and TABLE, each down to a minimum;
//!   past that, every column down to one character (so `PASS`/`FAIL` stays in
//!   view), and then lines are cut. When an old and a new value are both cut
//!   and agree beyond the cut, both are shown from a little before their first
//!   difference (`…ledger and sen…` / `…ledger, and se…`). Widths count East Asian wide characters as two
//!   columns and combining marks as none (a small table of ranges rather than a
//!   dependency: an odd character at worst misaligns one line).
//! - At most [`TextOptions::max_lines`] lines of the table are shown, whole
//!   changes only, then `… and 9,800 more changes (use --format json for all)`.
//! - Then the production constraints the sandbox did not enforce, under
//!   `Not enforced in the sandbox:`, and the notes under `Warnings:`.
//! - Colours ([`TextOptions::color`]) are ANSI styles from `anstyle`: INSERT
//!   green, UPDATE yellow, DELETE red, a failure bold red, the banner green, red
//!   or yellow. Without colour the text holds no escape code at all.
//!
//! The table is laid out here rather than with a table crate: the layout needs
//! only padding, cutting and a width budget, while `comfy-table` would bring in
//! `crossterm` and its own idea of colour and terminal detection.
//!
//! # JSON
//!
//! [`render_json`] and [`render_json_string`] give the same facts as data, with
//! every change (nothing is cut). The shape is stable; `version` changes when it
//! does not stay backwards compatible.
//!
//! ```json
//! {
//!   "version": 1,
//!   "verdict": "blocked",
//!   "reasons": ["tasks[id=7].status: not one of todo, in_progress, done"],
//!   "summary": {
//!     "tables": { "tasks": { "insert": 0, "update": 1, "delete": 0 } },
//!     "insert": 0, "update": 1, "delete": 0, "total": 1
//!   },
//!   "changes": [
//!     {
//!       "operation": "update",
//!       "table": "tasks",
//!       "pk": { "id": 7 },
//!       "old": { "id": 7, "status": "todo", "email": "<pii>" },
//!       "new": { "id": 7, "status": "yolo_swag", "email": "<pii>" },
//!       "changed": ["status"],
//!       "violations": [
//!         { "column": "status", "rule": "enum", "message": "not one of todo, in_progress, done" }
//!       ]
//!     }
//!   ],
//!   "not_enforced": ["tasks: CHECK (due_at > now())"],
//!   "notes": []
//! }
//! ```
//!
//! - `verdict` is `"safe"`, `"blocked"` or `"needs_approval"`; `reasons` is
//!   empty when safe.
//! - `operation` is `"insert"`, `"update"` or `"delete"`; `old` is `null` for an
//!   insert, `new` is `null` for a delete; `changed` lists the changed columns
//!   (every column for an insert, none for a delete).
//! - Values: SQL `NULL` is `null`; booleans, integers and finite floats are
//!   JSON booleans and numbers; a non-finite float is the string `"NaN"`,
//!   `"Infinity"` or `"-Infinity"`; a decimal is a string holding its exact
//!   text (`"12.50"`); text is a string; bytes are a string `"\\x0a1b"`; UUIDs,
//!   dates, times and timestamps are ISO 8601 strings (`"2024-05-01"`,
//!   `"13:45:00"`, `"2024-05-01T13:45:00"`, and for a timestamp with time zone
//!   the instant in UTC, `"2024-05-01T13:45:00Z"`); a JSON column is embedded
//!   as the JSON value itself, numbers with every digit. A PII column's value
//!   is `"<pii>"`.
//! - [`render_json_string`] writes the keys in the order above and row columns
//!   in table order; the [`serde_json::Value`] of [`render_json`] orders object
//!   keys by name.

mod json;
mod text;

pub use json::{render_json, render_json_string};
pub use text::{DEFAULT_MAX_LINES, DEFAULT_WIDTH, TextOptions, render_text};

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::diff::ChangeSet;

/// Text safe for a terminal, a log line or an audit record's text: control
/// characters (a newline, an escape sequence's ESC, a carriage return) and
/// the invisible characters that reorder or hide text (bidi controls,
/// zero-width characters, the byte-order mark) written as escapes: `\n`,
/// `\r`, `\t`, and `\u{1b}` for the others. Every path that shows text
/// an agent or a database wrote uses this one function: the review, error
/// messages on standard error, the audit trail's text, logs.
///
/// ```
/// use shadowdb::render::escape_controls;
/// assert_eq!(escape_controls("a\u{1b}[2J\nb\u{202e}"), "a\\u{1b}[2J\\nb\\u{202e}");
/// ```
#[must_use]
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ch if needs_escape(ch) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
    Cow::Owned(out)
}

/// [`escape_controls`] of each line of a message of several lines, the
/// line breaks kept (an error that lists problems one a line).
#[must_use]
pub fn escape_lines(text: &str) -> String {
    text.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

/// JSON text with every character [`escape_controls`] escapes, that JSON
/// leaves as it is (DEL, C1 controls, bidi and invisible format
/// characters), written as `\uXXXX`: the same JSON value, safe to show on a
/// terminal or in a log. Line breaks and tabs are left alone: in JSON text
/// they are only whitespace between tokens (in strings JSON escapes them).
///
/// ```
/// use shadowdb::render::escape_json_controls;
/// let json = serde_json::to_string("a\u{7f}\u{85}\u{202e}\u{e0041}").unwrap();
/// let safe = escape_json_controls(json);
/// assert_eq!(safe, r#""a\u007f\u0085\u202e\udb40\udc41""#);
/// assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), "a\u{7f}\u{85}\u{202e}\u{e0041}");
/// ```
#[must_use]
pub fn escape_json_controls(json: String) -> String {
    let escaped = |ch: char| needs_escape(ch) && !matches!(ch, '\n' | '\r' | '\t');
    if !json.chars().any(escaped) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for ch in json.chars() {
        if escaped(ch) {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn needs_escape(ch: char) -> bool {
    ch.is_control()
        || matches!(
            ch,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                // line and paragraph separators: a line break to some
                // terminals, editors and log viewers
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{1d173}'..='\u{1d17a}'
                // tag characters: text invisible to a person that a model
                // reading the output still reads
                | '\u{e0000}'..='\u{e007f}'
        )
}

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
    fn is_pii(&self, table: &str, column: &str) -> bool {
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

/// `1234567` as `1,234,567`.
#[must_use]
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// What stands in for a PII value, in text and JSON.
const PII: &str = "<pii>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(123_456), "123,456");
    }

    /// C1 controls, line separators, bidi controls and the invisible
    /// format characters (tags, soft hyphen, interlinear annotations) are
    /// written as escapes; visible text, accents and emoji are kept.
    #[test]
    fn every_invisible_or_controlling_character_is_escaped() {
        let cases = [
            ("a\u{85}b\u{9b}31m", "a\\u{85}b\\u{9b}31m"),
            ("x\u{2028}y\u{2029}z", "x\\u{2028}y\\u{2029}z"),
            (
                "\u{202e}cba\u{2066}\u{2069}",
                "\\u{202e}cba\\u{2066}\\u{2069}",
            ),
            (
                "pay\u{e0041}\u{e0042}\u{e007f}",
                "pay\\u{e0041}\\u{e0042}\\u{e007f}",
            ),
            (
                "so\u{ad}ft\u{180e}\u{206a}",
                "so\\u{ad}ft\\u{180e}\\u{206a}",
            ),
            (
                "\u{fff9}a\u{fffb}\u{1d173}",
                "\\u{fff9}a\\u{fffb}\\u{1d173}",
            ),
            ("café ü 日本 😀 \u{301}", "café ü 日本 😀 \u{301}"),
        ];
        for (text, shown) in cases {
            assert_eq!(escape_controls(text), shown, "{text:?}");
        }
    }
}
