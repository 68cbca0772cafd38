//! What of an agent's SQL text reaches the audit trail.

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What stands in for a secret.
const MASK: &str = "***";

/// Redacts SQL text before it is recorded.
///
/// In order: every configured secret pattern is masked with `***` (when a
/// pattern has capture groups, only the groups are masked, so
/// `password\s*=\s*'([^']*)'` keeps `password = '***'`); then, if asked,
/// every string and number literal becomes `?` and every comment `/* *** */`
/// (the shape of the statement stays, no value does). The SHA-256 of the
/// result is always recorded; in hash-only mode it is all that is.
///
/// ```
/// use shadowdb::audit::Redactor;
///
/// let r = Redactor::new().with_pattern(r"(?i)api_key\s*=\s*'([^']*)'")?;
/// assert_eq!(
///     r.redact("UPDATE cfg SET API_KEY = 'sk-123' WHERE id = 1"),
///     "UPDATE cfg SET API_KEY = '***' WHERE id = 1"
/// );
/// let r = Redactor::new().mask_literals(true);
/// assert_eq!(
///     r.redact("UPDATE users SET name = 'Ann' WHERE id = 7 -- fix"),
///     "UPDATE users SET name = ? WHERE id = ? /* *** */"
/// );
/// let r = Redactor::new().hash_only(true);
/// assert_eq!(r.redact_sql("SELECT 1").text, None);
/// # Ok::<(), shadowdb::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
    mask_literals: bool,
    hash_only: bool,
}

/// SQL text as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedSql {
    /// The redacted text, `None` in hash-only mode.
    pub text: Option<String>,
    /// Hex SHA-256 of the redacted text (computed in every mode).
    pub sha256: String,
}

impl Redactor {
    /// Records SQL as written (no pattern, literals kept, text stored).
    #[must_use]
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Adds a secret pattern (Rust `regex` syntax).
    ///
    /// # Errors
    /// [`Error::Config`] when the pattern does not compile.
    pub fn with_pattern(mut self, pattern: &str) -> Result<Self> {
        let re = Regex::new(pattern).map_err(|e| {
            Error::Config(format!(
                "audit secret pattern `{pattern}` is not a valid regex: {e}"
            ))
        })?;
        self.patterns.push(re);
        Ok(self)
    }

    /// Adds secret patterns.
    ///
    /// # Errors
    /// [`Error::Config`] for the first pattern that does not compile.
    pub fn with_patterns<I, S>(self, patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        patterns
            .into_iter()
            .try_fold(self, |r, p| r.with_pattern(p.as_ref()))
    }

    /// Whether every literal becomes `?` and every comment `/* *** */`.
    #[must_use]
    pub fn mask_literals(mut self, on: bool) -> Self {
        self.mask_literals = on;
        self
    }

    /// Whether only the SHA-256 of the (redacted) text is recorded.
    #[must_use]
    pub fn hash_only(mut self, on: bool) -> Self {
        self.hash_only = on;
        self
    }

    /// Whether this redactor records hashes only.
    #[must_use]
    pub fn is_hash_only(&self) -> bool {
        self.hash_only
    }

    /// `sql` with secrets masked (and literals, if configured); in every mode
    /// this is the text whose hash is recorded.
    #[must_use]
    pub fn redact(&self, sql: &str) -> String {
        let mut text = sql.to_owned();
        for re in &self.patterns {
            text = mask_pattern(re, &text);
        }
        if self.mask_literals {
            text = mask_literals(&text);
        }
        text
    }

    /// What is recorded of `sql`.
    #[must_use]
    pub fn redact_sql(&self, sql: &str) -> RedactedSql {
        let text = self.redact(sql);
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        RedactedSql {
            text: (!self.hash_only).then_some(text),
            sha256,
        }
    }
}

/// Masks every match of `re` (its capture groups only, when it has some).
fn mask_pattern(re: &Regex, text: &str) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for caps in re.captures_iter(text) {
        let groups: Vec<_> = caps.iter().skip(1).flatten().collect();
        if groups.is_empty() {
            if let Some(m) = caps.get(0) {
                spans.push((m.start(), m.end()));
            }
        } else {
            spans.extend(groups.iter().map(|m| (m.start(), m.end())));
        }
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        // Nested or overlapping groups: the outer one was masked already.
        if start < at {
            continue;
        }
        out.push_str(text.get(at..start).unwrap_or_default());
        out.push_str(MASK);
        at = end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Replaces string, blob and number literals with `?` and comments with
/// `/* *** */`; identifiers (bare, `"quoted"`, `` `quoted` ``, `[quoted]`) stay.
fn mask_literals(sql: &str) -> String {
    const COMMENT: &str = "/* *** */";
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    let push_run = |out: &mut String, from: usize, to: usize| {
        out.extend(chars.get(from..to.min(chars.len())).unwrap_or_default());
    };
    while let Some(c) = at(i) {
        match c {
            '\'' => {
                i = skip_quoted(&chars, i, '\'');
                out.push('?');
            }
            // Blob literals `x'0a'`, and the other prefixed strings.
            'x' | 'X' | 'e' | 'E' | 'n' | 'N' | 'b' | 'B'
                if at(i + 1) == Some('\'') && !at(i.wrapping_sub(1)).is_some_and(is_ident_char) =>
            {
                i = skip_quoted(&chars, i + 1, '\'');
                out.push('?');
            }
            // A numbered parameter `?1`: kept, it holds no value.
            '?' => {
                let end = skip_while(&chars, i + 1, |d| d.is_ascii_digit());
                push_run(&mut out, i, end);
                i = end;
            }
            '"' | '`' | '[' => {
                let close = match c {
                    '[' => ']',
                    other => other,
                };
                let end = skip_quoted(&chars, i, close);
                push_run(&mut out, i, end);
                i = end;
            }
            '-' if at(i + 1) == Some('-') => {
                i = skip_while(&chars, i, |c| c != '\n');
                out.push_str(COMMENT);
            }
            '/' if at(i + 1) == Some('*') => {
                i = block_comment_end(&chars, i);
                out.push_str(COMMENT);
            }
            c if c.is_ascii_digit()
                || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                i = number_end(&chars, i);
                out.push('?');
            }
            c if is_ident_char(c) || c == '$' || c == '@' || c == ':' => {
                // An identifier or a parameter name: kept whole, digits and all.
                let start = i;
                i = skip_while(&chars, i, |d| is_ident_char(d) || d == '$');
                if i == start {
                    i += 1;
                }
                push_run(&mut out, start, i);
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// The index of the first character from `i` on that is not `keep`.
fn skip_while(chars: &[char], mut i: usize, keep: impl Fn(char) -> bool) -> usize {
    while chars.get(i).copied().is_some_and(&keep) {
        i += 1;
    }
    i
}

/// Skips a quoted run opened at `i`, closed by `close`, doubled quotes
/// escaped (not `]]`); returns the index after the closing quote.
fn skip_quoted(chars: &[char], mut i: usize, close: char) -> usize {
    let at = |i: usize| chars.get(i).copied();
    i += 1;
    while let Some(c) = at(i) {
        i += 1;
        if c == close {
            if at(i) == Some(close) && close != ']' {
                i += 1;
            } else {
                break;
            }
        }
    }
    i
}

/// The index after the `/* .. */` comment opened at `i` (the end of the text
/// when it is not closed).
fn block_comment_end(chars: &[char], mut i: usize) -> usize {
    let at = |i: usize| chars.get(i).copied();
    i += 2;
    while at(i).is_some() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
        i += 1;
    }
    (i + 2).min(chars.len())
}

/// The index after the number starting at `i`: digits, a point, hex digits
/// of `0x..`, an exponent and its sign.
fn number_end(chars: &[char], mut i: usize) -> usize {
    let at = |i: usize| chars.get(i).copied();
    while let Some(d) = at(i) {
        let exponent_sign =
            (d == '+' || d == '-') && at(i.wrapping_sub(1)).is_some_and(|e| e == 'e' || e == 'E');
        if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        let m = |s: &str| mask_literals(s);
        assert_eq!(
            m("INSERT INTO t1(a, \"b'c\") VALUES ('it''s', -12.5e-3, X'0A', 0x1F)"),
            "INSERT INTO t1(a, \"b'c\") VALUES (?, -?, ?, ?)"
        );
        assert_eq!(
            m("SELECT [we'ird], `x'y` FROM t2 /* 'a' */"),
            "SELECT [we'ird], `x'y` FROM t2 /* *** */"
        );
        assert_eq!(
            m("SELECT ?1, :name, @v, $1 FROM t"),
            "SELECT ?1, :name, @v, $1 FROM t"
        );
        assert_eq!(m("SELECT 'unterminated"), "SELECT ?");
        assert_eq!(m("SELECT e'x', col_e FROM t"), "SELECT ?, col_e FROM t");
    }

    #[test]
    fn patterns_mask_groups_or_whole_matches() {
        let r = Redactor::new()
            .with_patterns([r"sk-[A-Za-z0-9]+", r"(?i)password\s*=\s*'([^']*)'"])
            .unwrap();
        assert_eq!(
            r.redact("SELECT 'sk-abc123' WHERE PassWord = 'hunter2'"),
            "SELECT '***' WHERE PassWord = '***'"
        );
        assert!(matches!(
            Redactor::new().with_pattern("("),
            Err(Error::Config(_))
        ));
    }
}
