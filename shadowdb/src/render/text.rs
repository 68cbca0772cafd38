//! The review as text: a banner, counts, and a table that fits the terminal.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::IsTerminal as _;

use anstyle::{AnsiColor, Style};
use safemodel::{Value, Violation};

use super::{PII, thousands};
use crate::diff::{Op, RowChange};
use crate::review::{Review, Verdict};

/// The width used when it cannot be asked of a terminal.
pub const DEFAULT_WIDTH: usize = 100;

/// The table lines shown before the rest is summed up in one line.
pub const DEFAULT_MAX_LINES: usize = 200;

/// How [`render_text`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOptions {
    /// Whether to write ANSI colours.
    pub color: bool,
    /// The terminal's columns; the table never exceeds them.
    pub width: usize,
    /// At most this many table lines (whole changes only; the first change is
    /// always shown).
    pub max_lines: usize,
}

impl TextOptions {
    /// For writing to standard output: colour only when it is a terminal and
    /// `NO_COLOR` (<https://no-color.org>) is unset or empty (and `TERM` is not
    /// `dumb`); the terminal's width, or [`DEFAULT_WIDTH`] when it is not a
    /// terminal.
    #[must_use]
    pub fn for_stdout() -> Self {
        let is_terminal = std::io::stdout().is_terminal();
        let size = if is_terminal {
            terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
        } else {
            None
        };
        Self::decide(
            is_terminal,
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
            size,
        )
    }

    fn decide(
        is_terminal: bool,
        no_color: Option<&OsStr>,
        term: Option<&OsStr>,
        size: Option<usize>,
    ) -> Self {
        let no_color = no_color.is_some_and(|v| !v.is_empty());
        let dumb = term.is_some_and(|t| t == "dumb");
        TextOptions {
            color: is_terminal && !no_color && !dumb,
            width: size.filter(|w| *w > 0).unwrap_or(DEFAULT_WIDTH),
            max_lines: DEFAULT_MAX_LINES,
        }
    }

    /// No colour, `width` columns.
    #[must_use]
    pub fn plain(width: usize) -> Self {
        TextOptions {
            color: false,
            width,
            max_lines: DEFAULT_MAX_LINES,
        }
    }
}

/// Renders a review for a person; see the [module docs](super) for the layout.
#[must_use]
pub fn render_text(review: &Review, opts: &TextOptions) -> String {
    let paint = Paint { on: opts.color };
    let changeset = review.changeset;
    let mut out = String::new();

    let (banner, style) = match &review.verdict {
        Verdict::Safe => ("SAFE TO COMMIT", green().bold()),
        Verdict::Blocked(_) => ("BLOCKED", red().bold()),
        Verdict::NeedsApproval(_) => ("NEEDS APPROVAL", yellow().bold()),
    };
    line(&mut out, &paint.apply(style, banner));
    for reason in review.verdict.reasons() {
        line(&mut out, &format!("  {}", sanitize(reason)));
    }

    line(&mut out, &counts_line(review));
    for (table, counts) in changeset.summary() {
        if counts.delete > 0 {
            let rows = if counts.delete == 1 { "row" } else { "rows" };
            let text = format!(
                "This will DELETE {} {rows} from '{}'",
                thousands(counts.delete),
                sanitize(&table)
            );
            line(&mut out, &paint.apply(red(), &text));
        }
    }

    if !changeset.is_empty() {
        out.push('\n');
        write_table(&mut out, review, opts, paint);
    }

    write_list(
        &mut out,
        "Not enforced in the sandbox:",
        &changeset.not_enforced,
    );
    write_list(&mut out, "Warnings:", &review.notes);
    out
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

fn write_list(out: &mut String, heading: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push('\n');
    line(out, heading);
    for item in items {
        line(out, &format!("  {}", sanitize(item)));
    }
}

/// `3 inserts, 2 updates, 1 delete in 2 tables`, or `No changes.`
fn counts_line(review: &Review) -> String {
    let changeset = review.changeset;
    if changeset.is_empty() {
        return "No changes.".to_owned();
    }
    let totals = changeset.totals();
    let parts: Vec<String> = [Op::Insert, Op::Update, Op::Delete]
        .into_iter()
        .filter(|op| totals.of(*op) > 0)
        .map(|op| plural(totals.of(op), op.name()))
        .collect();
    format!(
        "{} in {}",
        parts.join(", "),
        plural(changeset.summary().len(), "table")
    )
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

// ---------------------------------------------------------------------------
// The table.

const TABLE: usize = 0;
const OP: usize = 1;
const KEY: usize = 2;
const COLUMN: usize = 3;
const OLD: usize = 4;
const NEW: usize = 5;
const VALIDATION: usize = 6;
const COLUMNS: usize = 7;

const HEADERS: [&str; COLUMNS] = ["TABLE", "OP", "KEY", "COLUMN", "OLD", "NEW", "VALIDATION"];

/// How narrow each column may get before the next one is shrunk.
const MINIMUMS: [usize; COLUMNS] = [5, 6, 6, 6, 8, 8, 10];

/// Which columns give up width, in turn: values first, since they are cut
/// with an ellipsis anyway. The operation keeps its width but as a last resort.
const SHRINK_ORDER: [&[usize]; 5] = [&[OLD, NEW], &[VALIDATION], &[KEY], &[COLUMN], &[TABLE]];

/// The marker and its space.
const MARKER_WIDTH: usize = 2;
const GAP: &str = "  ";

/// One line of the table, before layout.
struct TableLine {
    op: Op,
    cells: [String; COLUMNS],
    failed: bool,
}

fn write_table(out: &mut String, review: &Review, opts: &TextOptions, paint: Paint) {
    let changes = review.changeset.changes();
    let mut rows: Vec<TableLine> = Vec::new();
    let mut shown = 0;
    for change in changes {
        let lines = change_rows(review, change);
        if opts.max_lines == 0 || (shown > 0 && rows.len() + lines.len() > opts.max_lines) {
            break;
        }
        rows.extend(lines);
        shown += 1;
    }

    let widths = layout(&rows, opts.width);
    let header = format_line(" ", &HEADERS.map(str::to_owned), &widths, opts.width);
    line(out, &paint.apply(Style::new().bold(), &header));
    for row in &rows {
        write_row(out, row, &widths, opts.width, paint);
    }

    let rest = changes.len().saturating_sub(shown);
    if rest > 0 {
        let more = if rest == 1 { "change" } else { "changes" };
        line(
            out,
            &format!(
                "… and {} more {more} (use --format json for all)",
                thousands(rest)
            ),
        );
    }
}

fn write_row(
    out: &mut String,
    row: &TableLine,
    widths: &[usize; COLUMNS],
    width: usize,
    paint: Paint,
) {
    let (marker, style) = match row.op {
        Op::Insert => ("+", green()),
        Op::Update => ("~", yellow()),
        Op::Delete => ("-", red()),
    };
    let mut cells = row.cells.clone();
    if row.op == Op::Update {
        // Show where an old and a new value differ, even past the cut.
        let (old, new) = cut_pair(&row.cells[OLD], &row.cells[NEW], widths[OLD], widths[NEW]);
        cells[OLD] = old;
        cells[NEW] = new;
    }
    let text = format_line(marker, &cells, widths, width);
    if !paint.on {
        line(out, &text);
        return;
    }
    // The validation cell starts after the marker, the padded cells and their
    // gaps; it takes its own colour (or none).
    let split = MARKER_WIDTH
        + widths
            .iter()
            .take(VALIDATION)
            .map(|w| w + GAP.len())
            .sum::<usize>();
    let (body, check) = split_at_width(&text, split);
    let check_style = if row.failed {
        red().bold()
    } else {
        Style::new()
    };
    line(
        out,
        &format!(
            "{}{}",
            paint.apply(style, body),
            paint.apply(check_style, check)
        ),
    );
}

/// The marker, then each cell cut and padded to its width; the last cell is
/// not padded, and the line is cut to `width` if the minimums did not fit.
fn format_line(
    marker: &str,
    cells: &[String; COLUMNS],
    widths: &[usize; COLUMNS],
    width: usize,
) -> String {
    let mut text = format!("{marker} ");
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        let cell = cut(cell, *w);
        if i + 1 == COLUMNS {
            text.push_str(&cell);
        } else {
            text.push_str(&cell);
            text.push_str(&" ".repeat(w.saturating_sub(display_width(&cell))));
            text.push_str(GAP);
        }
    }
    let text = text.trim_end();
    cut(text, width).into_owned()
}

/// The width of each column: its widest cell, then shrunk until the table
/// fits `width`.
fn layout(rows: &[TableLine], width: usize) -> [usize; COLUMNS] {
    let mut widths = HEADERS.map(display_width);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(display_width(cell));
        }
    }
    let total = MARKER_WIDTH + widths.iter().sum::<usize>() + GAP.len() * (COLUMNS - 1);
    let mut excess = total.saturating_sub(width);
    for stage in SHRINK_ORDER {
        shrink(&mut widths, &MINIMUMS, stage, &mut excess);
    }
    // Still too wide: any column down to one character, the widest first;
    // what is left over is cut off the line's end.
    shrink(
        &mut widths,
        &[1; COLUMNS],
        &[TABLE, OP, KEY, COLUMN, OLD, NEW, VALIDATION],
        &mut excess,
    );
    widths
}

/// Takes up to `excess` columns of width from the `stage` columns, always
/// from the widest, none below its minimum.
fn shrink(
    widths: &mut [usize; COLUMNS],
    minimums: &[usize; COLUMNS],
    stage: &[usize],
    excess: &mut usize,
) {
    while *excess > 0 {
        let widest = stage
            .iter()
            .filter_map(|&i| {
                let (w, min) = (*widths.get(i)?, *minimums.get(i)?);
                (w > min).then_some((i, w, min))
            })
            .max_by_key(|&(_, w, _)| w);
        let Some((i, w, min)) = widest else {
            return;
        };
        // Down to the next widest of the stage (so two long values end up
        // equally wide), by at least one column.
        let next = stage
            .iter()
            .filter(|&&j| j != i)
            .filter_map(|&j| widths.get(j).copied())
            .max()
            .unwrap_or(0);
        let floor = next.max(min).min(w);
        let step = (w - floor).max(1).min(*excess);
        if let Some(slot) = widths.get_mut(i) {
            *slot = w - step;
        }
        *excess -= step;
    }
}

/// The table lines of one change: one per changed column, one for a delete.
fn change_rows(review: &Review, change: &RowChange) -> Vec<TableLine> {
    let table = &change.table;
    let lines = column_values(review, change);

    // Violations of a shown column go on its line, the others on the first.
    let row_level: Vec<&Violation> = change
        .violations
        .iter()
        .filter(|v| v.column.is_empty() || !lines.iter().any(|(c, _, _)| *c == v.column))
        .collect();
    let key = render_key(review, change);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (column, old, new))| {
            let mut failures: Vec<String> = Vec::new();
            if i == 0 {
                failures.extend(row_level.iter().map(|v| {
                    if v.column.is_empty() {
                        v.message.clone()
                    } else {
                        format!("{}: {}", v.column, v.message)
                    }
                }));
            }
            failures.extend(
                change
                    .violations
                    .iter()
                    .filter(|v| !column.is_empty() && v.column == column)
                    .map(|v| v.message.clone()),
            );
            let failed = !failures.is_empty();
            let check = if failed {
                format!("FAIL: {}", failures.join("; "))
            } else {
                "PASS".to_owned()
            };
            let (table, op, key) = if i == 0 {
                (
                    sanitize(table).into_owned(),
                    change.op.sql_verb().to_owned(),
                    key.clone(),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            TableLine {
                op: change.op,
                cells: [
                    table,
                    op,
                    key,
                    sanitize(&column).into_owned(),
                    old,
                    new,
                    sanitize(&check).into_owned(),
                ],
                failed,
            }
        })
        .collect()
}

/// `(column, old, new)` of each line of one change, at least one: the new
/// row's columns for an insert, the changed columns for an update, the row
/// in words for a delete.
fn column_values(review: &Review, change: &RowChange) -> Vec<(String, String, String)> {
    let table = &change.table;
    let show = |column: &str, value: Option<&Value>| show_value(review, table, column, value);
    let mut lines: Vec<(String, String, String)> = match change.op {
        Op::Insert => change
            .new
            .iter()
            .flat_map(|row| row.iter())
            .map(|(column, value)| (column.to_owned(), String::new(), show(column, Some(value))))
            .collect(),
        Op::Update => change
            .changed
            .iter()
            .map(|column| {
                let old = change.old.as_ref().and_then(|r| r.get(column));
                let new = change.new.as_ref().and_then(|r| r.get(column));
                (column.clone(), show(column, old), show(column, new))
            })
            .collect(),
        Op::Delete => vec![(
            String::new(),
            deleted_summary(review, change),
            String::new(),
        )],
    };
    if lines.is_empty() {
        lines.push((String::new(), String::new(), String::new()));
    }
    lines
}

/// `title=Old, status=done`: the deleted row's columns other than its key.
fn deleted_summary(review: &Review, change: &RowChange) -> String {
    let Some(old) = &change.old else {
        return String::new();
    };
    old.iter()
        .filter(|(column, _)| !change.key.0.iter().any(|(k, _)| k == column))
        .map(|(column, value)| {
            format!(
                "{}={}",
                sanitize(column),
                show_value(review, &change.table, column, Some(value))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key as [`Key::render`](crate::diff::Key::render) writes it, with PII
/// masked.
fn render_key(review: &Review, change: &RowChange) -> String {
    let parts: Vec<String> = change
        .key
        .0
        .iter()
        .map(|(column, value)| {
            let shown = if review.is_pii(&change.table, column) {
                PII.to_owned()
            } else if let Value::Text(s) = value {
                format!("{s:?}")
            } else {
                value.to_string()
            };
            sanitize(&format!("{column}={shown}")).into_owned()
        })
        .collect();
    parts.join(",")
}

/// A value as a reviewer reads it; empty when the row lacks the column.
fn show_value(review: &Review, table: &str, column: &str, value: Option<&Value>) -> String {
    let cs = review.changeset;
    match value {
        None => String::new(),
        Some(_) if review.is_pii(table, column) => PII.to_owned(),
        Some(Value::Null) if cs.computed.iter().any(|(t, c)| t == table && c == column) => {
            "(computed by production)".to_owned()
        }
        Some(Value::Int(i))
            if let Some(p) = cs
                .pending_refs
                .iter()
                .find(|p| p.table == table && p.column == column && *i > p.base) =>
        {
            sanitize(&format!("→ {}[new #{}]", p.parent, i - p.base)).into_owned()
        }
        Some(Value::Text(s)) if s.is_empty() => "''".to_owned(),
        // As in JSON (and PostgreSQL), rather than Rust's `inf`.
        Some(Value::Float(x)) if x.is_infinite() => {
            if *x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
        }
        Some(value) => sanitize(&value.to_string()).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// Characters and widths.

/// Escapes what a terminal would act on rather than show: the one
/// function of every output path ([`crate::escape::escape_controls`]).
fn sanitize(text: &str) -> Cow<'_, str> {
    crate::escape::escape_controls(text)
}

/// Columns a string takes on a terminal.
fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

fn char_width(ch: char) -> usize {
    let c = u32::from(ch);
    let zero = matches!(
        c,
        0x0300..=0x036F
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x200B..=0x200D
            | 0x20D0..=0x20FF
            | 0xFE00..=0xFE0F
            | 0xFE20..=0xFE2F
            | 0xE0100..=0xE01EF
    );
    let wide = matches!(
        c,
        0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF
            | 0x20000..=0x2FFFD
            | 0x30000..=0x3FFFD
    );
    if zero {
        0
    } else if wide {
        2
    } else {
        1
    }
}

/// `text` in at most `width` columns, ending in `…` when cut.
fn cut(text: &str, width: usize) -> Cow<'_, str> {
    if display_width(text) <= width {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = char_width(ch);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    Cow::Owned(out)
}

/// An old and a new value cut to their widths. When both share a beginning
/// longer than the cut, both start at the same place a little before their
/// first difference (`…ledger and se…` / `…ledger, and s…`), so the change
/// itself stays in view.
fn cut_pair(old: &str, new: &str, old_width: usize, new_width: usize) -> (String, String) {
    let width = old_width.min(new_width);
    let same: usize = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| char_width(a))
        .sum();
    let fits = display_width(old) <= old_width && display_width(new) <= new_width;
    if fits || width < 4 || same + 1 < width {
        return (
            cut(old, old_width).into_owned(),
            cut(new, new_width).into_owned(),
        );
    }
    let skip = same - width / 3;
    let window = |text: &str, width: usize| {
        let mut skipped = 0;
        let rest: String = text
            .chars()
            .skip_while(|ch| {
                let before = skipped;
                skipped += char_width(*ch);
                before < skip
            })
            .collect();
        format!("…{}", cut(&rest, width - 1))
    };
    (window(old, old_width), window(new, new_width))
}

/// Splits at a column count (the text is plain: no escape codes).
fn split_at_width(text: &str, width: usize) -> (&str, &str) {
    let mut used = 0;
    for (i, ch) in text.char_indices() {
        if used >= width {
            return (text.get(..i).unwrap_or(text), text.get(i..).unwrap_or(""));
        }
        used += char_width(ch);
    }
    (text, "")
}

// ---------------------------------------------------------------------------
// Colour.

fn green() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into()))
}

fn yellow() -> Style {
    Style::new().fg_color(Some(AnsiColor::Yellow.into()))
}

fn red() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into()))
}

/// Styles text when colour is on; plain text otherwise.
#[derive(Clone, Copy)]
struct Paint {
    on: bool,
}

impl Paint {
    fn apply(self, style: Style, text: &str) -> String {
        if self.on && style != Style::new() && !text.is_empty() {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(TextOptions::decide(true, None, os("xterm"), Some(120)).color);
        assert_eq!(TextOptions::decide(true, None, None, Some(120)).width, 120);
        assert!(!TextOptions::decide(false, None, os("xterm"), None).color);
        assert_eq!(TextOptions::decide(false, None, None, None).width, 100);
        assert!(!TextOptions::decide(true, os("1"), os("xterm"), Some(80)).color);
        // An empty NO_COLOR does not count as set.
        assert!(TextOptions::decide(true, os(""), os("xterm"), Some(80)).color);
        assert!(!TextOptions::decide(true, None, os("dumb"), Some(80)).color);
        assert_eq!(TextOptions::decide(true, None, None, Some(0)).width, 100);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(sanitize("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(sanitize("\u{1b}[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(sanitize("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert!(matches!(sanitize("plain é"), Cow::Borrowed(_)));
    }

    #[test]
    fn widths_and_cutting() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("日本語", 4), "日…");
        assert_eq!(cut("abc", 0), "");
        assert_eq!(split_at_width("ab日cd", 4), ("ab日", "cd"));
    }

    #[test]
    fn shrink_balances_the_widest() {
        let mut widths = [5, 6, 6, 6, 40, 30, 10];
        let mut excess = 25;
        shrink(&mut widths, &MINIMUMS, &[OLD, NEW], &mut excess);
        assert_eq!(excess, 0);
        assert_eq!((widths[OLD], widths[NEW]), (23, 22));
        let mut excess = 100;
        shrink(&mut widths, &MINIMUMS, &[OLD, NEW], &mut excess);
        assert_eq!((widths[OLD], widths[NEW], excess), (8, 8, 71));
    }
}
