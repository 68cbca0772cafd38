//! A commit, row by row, as the trail keeps it: each row's key and its whole
//! image before and after, typed values written exactly, PII columns left out.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use safemodel::{Decimal, Json, Row, SqlType, Value};
use serde::{Deserialize, Serialize};

use crate::diff::{ChangeSet, Op};

/// A committed changeset, row by row, with what each row was before and after:
/// enough to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The commit's id.
    pub commit_id: String,
    /// Rows production reported written.
    pub rows_affected: u64,
    /// Each changed row.
    pub rows: Vec<RowImage>,
}

impl CommitRecord {
    /// The record of committing `changeset`. Columns named in `pii`
    /// (`(table, column)`; table `*` for every table; a qualified and an
    /// unqualified name of one table match) are left out of every image, in
    /// case a PII value slipped into a row.
    ///
    /// Inserted rows are recorded with the keys of the changeset: when
    /// production assigned others, set them in the `after` image and `key`.
    #[must_use]
    pub fn new(
        commit_id: impl Into<String>,
        changeset: &ChangeSet,
        rows_affected: u64,
        pii: &[(String, String)],
    ) -> Self {
        let rows = changeset
            .changes()
            .iter()
            .map(|c| {
                let keep = |column: &str| !is_pii(pii, &c.table, column);
                RowImage {
                    table: c.table.clone(),
                    op: c.op,
                    key: c
                        .key
                        .0
                        .iter()
                        .filter(|(col, _)| keep(col))
                        .map(|(col, v)| (col.clone(), image_json(v)))
                        .collect(),
                    before: c.old.as_ref().map(|r| row_image(r, &keep)),
                    after: c.new.as_ref().map(|r| row_image(r, &keep)),
                    resolved: None,
                }
            })
            .collect();
        CommitRecord {
            commit_id: commit_id.into(),
            rows_affected,
            rows,
        }
    }
}

impl CommitRecord {
    /// Rows per table and operation.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<String, crate::diff::Counts> {
        let mut out: BTreeMap<String, crate::diff::Counts> = BTreeMap::new();
        for r in &self.rows {
            let c = out.entry(r.table.clone()).or_default();
            match r.op {
                Op::Insert => c.insert += 1,
                Op::Update => c.update += 1,
                Op::Delete => c.delete += 1,
            }
        }
        out
    }
}

/// One row of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowImage {
    /// The table (as scoped).
    pub table: String,
    /// Insert, update or delete.
    #[serde(with = "op_name")]
    pub op: Op,
    /// The primary key columns and values.
    pub key: serde_json::Map<String, serde_json::Value>,
    /// The row before (`None` for an insert).
    pub before: Option<serde_json::Map<String, serde_json::Value>>,
    /// The row after (`None` for a delete).
    pub after: Option<serde_json::Map<String, serde_json::Value>>,
    /// The table as production resolved it when the commit wrote it
    /// (`public.tasks`): a rollback refuses to write if the name now
    /// resolves elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
}

fn row_image(row: &Row, keep: &dyn Fn(&str) -> bool) -> serde_json::Map<String, serde_json::Value> {
    row.iter()
        .filter(|(col, _)| keep(col))
        .map(|(col, v)| (col.to_owned(), image_json(v)))
        .collect()
}

/// Whether `(table, column)` is in `pii` (table `*` matches every table; a
/// qualified and an unqualified name of one table match: one column too many
/// left out is harmless, one too few is not).
fn is_pii(pii: &[(String, String)], table: &str, column: &str) -> bool {
    let bare = |t: &str| t.rsplit('.').next().unwrap_or(t).to_owned();
    pii.iter()
        .any(|(t, c)| c == column && (t == "*" || t == table || bare(t) == bare(table)))
}

/// A value as it is written in a row image (see the [module docs](crate::audit)).
#[must_use]
pub fn image_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(x) if x.is_nan() => J::from("NaN"),
        Value::Float(x) if x.is_infinite() => {
            J::from(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        Value::Decimal(d) => J::from(d.as_str()),
        Value::Text(s) => J::from(s.as_str()),
        Value::Uuid(u) => J::from(u.hyphenated().to_string()),
        Value::Date(d) => J::from(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => J::from(t.format("%H:%M:%S%.f").to_string()),
        Value::Timestamp(t) => J::from(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Value::TimestampTz(t) => J::from(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()),
        Value::Json(j) => J::from(j.as_str()),
        // `\x0a1b`, as PostgreSQL writes bytes, and any later kind as its text.
        other => J::from(other.to_string()),
    }
}

/// Reads back a value of [`image_json`] for a column of type `ty`.
///
/// # Errors
/// A message (without the value) when `json` is not a value of `ty`.
pub fn image_value(json: &serde_json::Value, ty: SqlType) -> std::result::Result<Value, String> {
    use serde_json::Value as J;
    let wrong = || format!("not a value of type {}", ty.name());
    Ok(match (ty, json) {
        (_, J::Null) => Value::Null,
        (SqlType::Bool, J::Bool(b)) => Value::Bool(*b),
        (SqlType::Int, J::Number(n)) => Value::Int(n.as_i64().ok_or_else(wrong)?),
        (SqlType::Float, J::Number(n)) => {
            Value::Float(n.to_string().parse::<f64>().map_err(|_| wrong())?)
        }
        (SqlType::Float, J::String(s)) => Value::Float(match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => return Err(wrong()),
        }),
        (SqlType::Decimal, J::String(s)) => {
            Value::Decimal(Decimal::new(s.as_str()).map_err(|_| wrong())?)
        }
        (SqlType::Text, J::String(s)) => Value::Text(s.clone()),
        (SqlType::Bytes, J::String(s)) => Value::Bytes(
            s.strip_prefix("\\x")
                .and_then(|h| hex::decode(h).ok())
                .ok_or_else(wrong)?,
        ),
        (SqlType::Uuid, J::String(s)) => {
            Value::Uuid(uuid::Uuid::try_parse(s).map_err(|_| wrong())?)
        }
        (SqlType::Date, J::String(s)) => {
            Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| wrong())?)
        }
        (SqlType::Time, J::String(s)) => {
            Value::Time(NaiveTime::parse_from_str(s, "%H:%M:%S%.f").map_err(|_| wrong())?)
        }
        (SqlType::Timestamp, J::String(s)) => Value::Timestamp(
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| wrong())?,
        ),
        (SqlType::TimestampTz, J::String(s)) => Value::TimestampTz(
            s.strip_suffix('Z')
                .and_then(|n| NaiveDateTime::parse_from_str(n, "%Y-%m-%dT%H:%M:%S%.f").ok())
                .ok_or_else(wrong)?
                .and_utc(),
        ),
        (SqlType::Json, J::String(s)) => Value::Json(Json::new(s.as_str()).map_err(|_| wrong())?),
        _ => return Err(wrong()),
    })
}

mod op_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::diff::Op;

    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub(super) fn serialize<S: Serializer>(op: &Op, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(op.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let name = String::deserialize(d)?;
        [Op::Insert, Op::Update, Op::Delete]
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown operation `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::textsql::parse_time;

    #[test]
    fn images_read_back_exactly() {
        let cases = [
            (Value::Null, SqlType::Text),
            (Value::Bool(true), SqlType::Bool),
            (Value::Int(i64::MIN), SqlType::Int),
            (Value::Float(0.1), SqlType::Float),
            (Value::Float(-0.0), SqlType::Float),
            (Value::Float(1e300), SqlType::Float),
            (Value::Float(f64::NAN), SqlType::Float),
            (Value::Float(f64::NEG_INFINITY), SqlType::Float),
            (
                Value::Decimal(Decimal::new("12345678901234567890.1234567890").unwrap()),
                SqlType::Decimal,
            ),
            (Value::Text("\"quoted\"\n".into()), SqlType::Text),
            (Value::Bytes(vec![0, 10, 255]), SqlType::Bytes),
            (Value::Uuid(uuid::Uuid::new_v4()), SqlType::Uuid),
            (
                Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                SqlType::Date,
            ),
            (
                Value::Time(NaiveTime::from_hms_micro_opt(13, 45, 0, 120).unwrap()),
                SqlType::Time,
            ),
            (
                Value::Timestamp(parse_time("2024-05-01T13:45:00.5Z").unwrap().naive_utc()),
                SqlType::Timestamp,
            ),
            (
                Value::TimestampTz(parse_time("2024-05-01T13:45:00.000001+02:00").unwrap()),
                SqlType::TimestampTz,
            ),
            (
                Value::Json(Json::new(r#"{"b": 1.000000000000000000001, "a": [ ]}"#).unwrap()),
                SqlType::Json,
            ),
        ];
        for (value, ty) in cases {
            let line = serde_json::to_string(&image_json(&value)).unwrap();
            let back: serde_json::Value = serde_json::from_str(&line).unwrap();
            let read = image_value(&back, ty).unwrap();
            assert_eq!(read, value, "{ty}: {line}");
            if let (Value::Json(a), Value::Json(b)) = (&read, &value) {
                assert_eq!(a.as_str(), b.as_str(), "JSON text kept");
            }
        }
        assert_eq!(
            image_value(&serde_json::json!("x"), SqlType::Int),
            Err("not a value of type integer".to_owned())
        );
    }

    #[test]
    fn pii_matching() {
        let pii = vec![
            ("app.users".to_owned(), "email".to_owned()),
            ("*".to_owned(), "ssn".to_owned()),
        ];
        assert!(is_pii(&pii, "users", "email"));
        assert!(is_pii(&pii, "app.users", "email"));
        assert!(is_pii(&pii, "orders", "ssn"));
        assert!(!is_pii(&pii, "orders", "email"));
    }
}
