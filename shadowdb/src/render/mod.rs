//! Rendering a [`ChangeSet`](crate::diff::ChangeSet) for review: a table for people, JSON for programs.
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

pub use crate::escape::{escape_controls, escape_json_controls, escape_lines};
pub use crate::review::{Review, Verdict, verdict_of};

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
}
