//! The shape of `shadowdb.toml`: one serde type per table, every one refusing
//! unknown keys. Values whose meaning is checked later keep their span.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct FileSpec {
    /// The profile used when none is named.
    pub default_profile: Option<Spanned<String>>,
    /// `[profiles.NAME]`, by name (toml gives a table's keys in that order).
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileFile>,
    /// `[audit]`.
    pub audit: Option<AuditFile>,
    /// `[limits]`.
    pub limits: Option<LimitsFile>,
    /// `[approval]`.
    pub approval: Option<ApprovalFile>,
}

/// `[profiles.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct ProfileFile {
    /// The profile this one starts from.
    pub extends: Option<Spanned<String>>,
    /// Only reads.
    pub read_only: Option<bool>,
    /// `insert`, `update`, `delete`.
    pub require_approval_for: Option<Vec<Spanned<String>>>,
    /// Rule id = decision.
    #[serde(default)]
    pub rules: BTreeMap<Spanned<String>, Spanned<String>>,
    /// `[[profiles.NAME.thresholds]]`.
    #[serde(default)]
    pub thresholds: Vec<Spanned<ThresholdFile>>,
    /// `[profiles.NAME.whole_table_writes]`.
    pub whole_table_writes: Option<WholeTableWritesFile>,
    /// `[[profiles.NAME.column_rules]]`.
    #[serde(default)]
    pub column_rules: Vec<Spanned<ColumnRuleFile>>,
}

/// `[[profiles.NAME.thresholds]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct ThresholdFile {
    /// A table name, or `*` (the default).
    pub table: Option<String>,
    /// `insert`, `update`, `delete`.
    pub op: Spanned<String>,
    /// More rows than this.
    pub above: Spanned<Scalar>,
    /// A decision name.
    pub decision: Spanned<String>,
}

/// `[profiles.NAME.whole_table_writes]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct WholeTableWritesFile {
    /// More rows than this in one statement.
    pub above_rows: Option<Spanned<Scalar>>,
    /// More than this percent of a table's rows.
    pub above_percent: Option<Spanned<Scalar>>,
}

/// `[[profiles.NAME.column_rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct ColumnRuleFile {
    /// The rule's name.
    pub name: String,
    /// Column-name patterns.
    pub columns: Spanned<Vec<String>>,
    /// Table-name patterns (default every table).
    #[serde(default)]
    pub tables: Vec<String>,
    /// A check name.
    pub check: Spanned<String>,
    /// A decision name.
    pub decision: Spanned<String>,
}

/// `[audit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct AuditFile {
    /// A JSON Lines file.
    pub file: Option<Spanned<String>>,
    /// Production's `shadowdb_audit` table.
    pub database: Option<bool>,
    /// Only each statement's SHA-256.
    pub hash_sql: Option<bool>,
    /// Regexes to mask.
    pub secret_patterns: Option<Vec<Spanned<String>>>,
    /// Literals and comments masked.
    pub mask_literals: Option<bool>,
}

/// `[limits]`: each field is the key of the same name, documented in
/// `crate::cli`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct LimitsFile {
    pub statements_per_tenant: Option<Spanned<String>>,
    pub statements_per_actor: Option<Spanned<String>>,
    pub commits_per_tenant: Option<Spanned<String>>,
    pub commits_per_actor: Option<Spanned<String>>,
    pub max_statements: Option<Spanned<Scalar>>,
    pub max_session: Option<Spanned<Scalar>>,
    pub max_rows_per_commit: Option<Spanned<Scalar>>,
    pub memory_budget: Option<Spanned<Scalar>>,
    pub max_growth_bytes: Option<Spanned<Scalar>>,
    pub statement_time: Option<Spanned<Scalar>>,
    pub session_statement_time: Option<Spanned<Scalar>>,
    pub max_result_rows: Option<Spanned<Scalar>>,
    pub max_result_bytes: Option<Spanned<Scalar>>,
    pub max_value_bytes: Option<Spanned<Scalar>>,
    pub max_sql_bytes: Option<Spanned<Scalar>>,
    pub max_like_pattern_bytes: Option<Spanned<Scalar>>,
    pub max_call_work: Option<Spanned<Scalar>>,
}

/// `[approval]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct ApprovalFile {
    /// Requests wait in production's `shadowdb_approvals`.
    pub in_database: Option<bool>,
    /// How long a request waits.
    pub timeout: Option<Spanned<Scalar>>,
}

/// A number, or a string with a unit: a count, a size (`"512 MiB"`), a
/// duration (`"5m"`). Its reader says which it takes, and names the TOML type
/// of a value it does not (serde would name Rust's: "expected i64").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// A TOML integer.
    Integer(i64),
    /// A TOML string.
    Text(String),
    /// Another TOML value, kept only to be named in the reader's error.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v)
                    .map_or(Scalar::Other("an integer out of range"), Scalar::Integer))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar::Other("a float"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other("a boolean"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                // A datetime comes as a one-entry map of toml's private name.
                let mut datetime = false;
                while let Some(key) = map.next_key::<String>()? {
                    datetime |= key.contains("datetime");
                    map.next_value::<de::IgnoredAny>()?;
                }
                Ok(Scalar::Other(if datetime {
                    "a datetime"
                } else {
                    "a table"
                }))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}
