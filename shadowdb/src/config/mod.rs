//! `shadowdb.toml`, read once: the serde types of the whole file, and
//! [`ConfigError`], which names the file, line and column at fault.
//!
//! This module only knows the file's shape: which keys exist, in which table,
//! of which TOML type (`#[serde(deny_unknown_fields)]` everywhere, so a
//! misspelt key is an error listing the expected ones). What a value means is
//! checked by its reader, which holds the rules:
//!
//! - `default_profile` and `[profiles]`: the policy (`crate::policy`);
//! - `[audit]`, `[limits]` and `[approval]`: the command line's `run`
//!   (`crate::cli`).
//!
//! Both report through `ConfigFile::error`, so every error of the file
//! starts the same: `FILE:LINE:COLUMN:`, then the key and its table
//! (`shadowdb.toml:12:1: in [audit]: unknown field `fiel`, expected one of
//! `file`, ...`; `shadowdb.toml:3:17: `memory_budget` in [limits] is not a size ...`).
//! Values keep their spans ([`toml::Spanned`]) until they are checked for that.
//!
//! The module depends on no other module of the crate, so both readers can
//! depend on it.

mod file;
mod units;

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

pub(crate) use file::{
    ApprovalFile, AuditFile, ColumnRuleFile, FileSpec, LimitsFile, ProfileFile, Scalar,
    ThresholdFile,
};

/// A problem with the configuration file (`shadowdb.toml`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key or value is wrong.
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        /// The file (`shadowdb.toml` when parsed from a string).
        origin: String,
        /// 1-based line of the key or value at fault.
        line: usize,
        /// 1-based column (in characters) of the key or value at fault.
        column: usize,
        /// What is wrong, naming the key and its table.
        message: String,
    },
}

/// A parsed `shadowdb.toml`: its shape checked, its values not yet.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    /// The file's name in errors.
    origin: String,
    /// The text, for the line and column of an error.
    text: String,
    /// The directory relative paths of the file are taken from.
    dir: Option<PathBuf>,
    /// What the file says.
    pub(crate) spec: FileSpec,
}

impl ConfigFile {
    /// Reads and parses the file at `path`.
    pub(crate) fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut file = ConfigFile::parse(text, &path.display().to_string())?;
        file.dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_owned);
        Ok(file)
    }

    /// Parses a file's text; `origin` names it in errors.
    pub(crate) fn parse(text: impl Into<String>, origin: &str) -> Result<ConfigFile, ConfigError> {
        let mut file = ConfigFile {
            origin: origin.to_owned(),
            text: text.into(),
            dir: None,
            spec: FileSpec::default(),
        };
        file.spec = toml::from_str(&file.text).map_err(|e| file.toml_error(&e))?;
        Ok(file)
    }

    /// The file as if read from `dir`.
    #[cfg(test)]
    pub(crate) fn in_dir(mut self, dir: Option<&Path>) -> Self {
        self.dir = dir.map(Path::to_owned);
        self
    }

    /// The directory of the file, for its relative paths.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The file's name in errors.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// An error at `span` of the file (control characters of `message` escaped).
    pub(crate) fn error(&self, span: &Range<usize>, message: &str) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError::Invalid {
            origin: self.origin.clone(),
            line,
            column,
            message: one_line(message),
        }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |nl| nl + 1);
        let column = before.get(start..).map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// toml's error, with the key and table it is about: serde's messages
    /// ("invalid type: string \"yes\", expected a boolean") name neither.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim();
        let Some(span) = e.span() else {
            return self.error(&(0..0), message);
        };
        let place = DeTable::parse(&self.text)
            .ok()
            .and_then(|doc| locate(doc.get_ref(), span.start));
        let message = match place {
            Some(place) => format!("{}: {message}", place.describe()),
            None => message.to_owned(),
        };
        self.error(&span, &message)
    }
}

/// Where in the file's tables an offset lies.
#[derive(Debug, Default)]
struct Place {
    /// The keys of the table, outermost first.
    tables: Vec<String>,
    /// The table is an entry of an array of tables (`[[...]]`).
    array: bool,
    /// The key whose value holds the offset (`None`: the offset is on a key,
    /// or on the table itself).
    key: Option<String>,
}

impl Place {
    fn describe(&self) -> String {
        let table = self
            .tables
            .iter()
            .map(|k| key_text(k))
            .collect::<Vec<_>>()
            .join(".");
        let table = match (table.is_empty(), self.array) {
            (true, _) => "at the top level".to_owned(),
            (false, false) => format!("in [{table}]"),
            (false, true) => format!("in [[{table}]]"),
        };
        match &self.key {
            Some(key) => format!("`{key}` {table}"),
            None => table,
        }
    }
}

/// The innermost key or table of `table` holding `offset`.
fn locate(table: &DeTable<'_>, offset: usize) -> Option<Place> {
    let holds = |span: Range<usize>| span.contains(&offset);
    let inside = |key: &str, inner: Option<Place>, array: bool| {
        inner.map(|mut place| {
            place.tables.insert(0, key.to_owned());
            if place.tables.len() == 1 {
                place.array = array;
            }
            place
        })
    };
    for (key, value) in table {
        let k = key.get_ref().as_ref();
        if holds(key.span()) {
            // On a key: the key is named by the message ("unknown field `x`").
            return Some(Place::default());
        }
        let found = match value.get_ref() {
            DeValue::Table(t) => inside(k, locate(t, offset), false)
                .or_else(|| inside(k, holds(value.span()).then(Place::default), false)),
            DeValue::Array(items) => items.iter().find_map(|item| match item.get_ref() {
                DeValue::Table(t) => inside(k, locate(t, offset), true)
                    .or_else(|| inside(k, holds(item.span()).then(Place::default), true)),
                _ => None,
            }),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        if holds(value.span()) {
            return Some(Place {
                key: Some(k.to_owned()),
                ..Place::default()
            });
        }
    }
    None
}

/// A TOML key: bare when it can be, quoted otherwise.
pub(crate) fn key_text(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        quote(key)
    }
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Control characters escaped, so an error stays on one line whatever keys
/// the file holds. (`crate::render::escape_controls` does the same, but
/// `render` depends on `policy`, which depends on this module.)
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
