//! The primary key of a row, as errors and the review name it.

use std::fmt;

use safemodel::Value;

/// The primary key of a row: `(column, value)` in key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Key(pub Vec<(String, Value)>);

impl Key {
    /// Renders as `id=7` or `a=1,b="x"` (text quoted), the form errors use.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, (col, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(col);
            out.push('=');
            match value {
                Value::Text(s) => out.push_str(&format!("{s:?}")),
                other => out.push_str(&other.to_string()),
            }
        }
        out
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
