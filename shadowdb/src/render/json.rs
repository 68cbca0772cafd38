//! The review as JSON, in the shape documented in the [module docs](super).

use std::collections::BTreeMap;

use safemodel::{Row, Value, Violation};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::PII;
use crate::diff::{Counts, RowChange};
use crate::review::Review;

/// The version of the JSON shape.
const VERSION: u32 = 1;

/// The review as a JSON value (object keys in name order).
#[must_use]
pub fn render_json(review: &Review) -> serde_json::Value {
    // Every map key is a string and every value serializes, so this cannot
    // fail; if it ever did, the error is reported in the document itself.
    serde_json::to_value(Document::new(review))
        .unwrap_or_else(|err| serde_json::json!({ "version": VERSION, "error": err.to_string() }))
}

/// The review as JSON text, keys in the documented order, indented when
/// `pretty`.
#[must_use]
pub fn render_json_string(review: &Review, pretty: bool) -> String {
    let document = Document::new(review);
    let text = if pretty {
        serde_json::to_string_pretty(&document)
    } else {
        serde_json::to_string(&document)
    };
    crate::escape::escape_json_controls(text.unwrap_or_else(|err| {
        serde_json::json!({ "version": VERSION, "error": err.to_string() }).to_string()
    }))
}

#[derive(serde::Serialize)]
struct Document<'a> {
    version: u32,
    verdict: &'static str,
    reasons: &'a [String],
    summary: Summary,
    changes: Changes<'a>,
    not_enforced: &'a [String],
    notes: &'a [String],
}

impl<'a> Document<'a> {
    fn new(review: &'a Review<'a>) -> Self {
        let changeset = review.changeset;
        let totals = changeset.totals();
        Document {
            version: VERSION,
            verdict: review.verdict.name(),
            reasons: review.verdict.reasons(),
            summary: Summary {
                tables: changeset.summary(),
                insert: totals.insert,
                update: totals.update,
                delete: totals.delete,
                total: totals.total(),
            },
            changes: Changes(review),
            not_enforced: &changeset.not_enforced,
            notes: &review.notes,
        }
    }
}

#[derive(serde::Serialize)]
struct Summary {
    tables: BTreeMap<String, Counts>,
    insert: usize,
    update: usize,
    delete: usize,
    total: usize,
}

/// Every change, serialized one at a time (no copy of the values).
struct Changes<'a>(&'a Review<'a>);

impl Serialize for Changes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let review = self.0;
        s.collect_seq(
            review
                .changeset
                .changes()
                .iter()
                .map(|change| Change { review, change }),
        )
    }
}

struct Change<'a> {
    review: &'a Review<'a>,
    change: &'a RowChange,
}

impl<'a> Serialize for Change<'a> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Change { review, change } = *self;
        let table = change.table.as_str();
        let columns = |row: &'a Row| Columns {
            review,
            table,
            pairs: row.iter().collect(),
        };
        let mut map = s.serialize_map(Some(7))?;
        map.serialize_entry("operation", change.op.name())?;
        map.serialize_entry("table", table)?;
        map.serialize_entry(
            "pk",
            &Columns {
                review,
                table,
                pairs: change.key.0.iter().map(|(c, v)| (c.as_str(), v)).collect(),
            },
        )?;
        map.serialize_entry("old", &change.old.as_ref().map(columns))?;
        map.serialize_entry("new", &change.new.as_ref().map(columns))?;
        map.serialize_entry("changed", &change.changed)?;
        map.serialize_entry("violations", &Violations(&change.violations))?;
        map.end()
    }
}

/// Columns of one row as an object, in column order, PII masked.
struct Columns<'a> {
    review: &'a Review<'a>,
    table: &'a str,
    pairs: Vec<(&'a str, &'a Value)>,
}

impl Serialize for Columns<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.pairs.len()))?;
        for &(column, value) in &self.pairs {
            if self.review.is_pii(self.table, column) {
                map.serialize_entry(column, PII)?;
            } else {
                map.serialize_entry(column, &JsonValue(value))?;
            }
        }
        map.end()
    }
}

struct Violations<'a>(&'a [Violation]);

impl Serialize for Violations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(OrderedViolation))
    }
}

struct OrderedViolation<'a>(&'a Violation);

impl Serialize for OrderedViolation<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("column", &self.0.column)?;
        map.serialize_entry("rule", self.0.rule.name())?;
        map.serialize_entry("message", &self.0.message)?;
        map.end()
    }
}

/// One SQL value as JSON.
struct JsonValue<'a>(&'a Value);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) if x.is_nan() => s.serialize_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                s.serialize_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Value::Float(x) => s.serialize_f64(*x),
            Value::Decimal(d) => s.serialize_str(d.as_str()),
            Value::Text(t) => s.serialize_str(t),
            Value::Uuid(u) => s.serialize_str(&u.hyphenated().to_string()),
            Value::Date(d) => s.serialize_str(&d.format("%Y-%m-%d").to_string()),
            Value::Time(t) => s.serialize_str(&t.format("%H:%M:%S%.f").to_string()),
            Value::Timestamp(t) => s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
            Value::TimestampTz(t) => {
                s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
            }
            // With serde_json's arbitrary_precision, numbers keep every digit.
            Value::Json(j) => match j.to_value() {
                Ok(doc) => doc.serialize(s),
                Err(_) => s.serialize_str(j.as_str()),
            },
            // `\x0a1b`, PostgreSQL's hex format.
            Value::Bytes(_) => s.serialize_str(&self.0.to_string()),
            // A kind of value added later: its text.
            other => s.serialize_str(&other.to_string()),
        }
    }
}
