//! Text safe to show: control characters and the invisible characters that
//! reorder or hide text, written as escapes. A leaf: the error messages, the
//! review, the audit trail and the logs all use it, and it uses nothing.

use std::borrow::Cow;
use std::fmt::Write as _;

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

#[cfg(test)]
mod tests {
    use super::*;

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
