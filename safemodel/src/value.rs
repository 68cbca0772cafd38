//! SQL values with full fidelity, and the type families a contract speaks in.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::error::Error;

/// The family of SQL types a column belongs to.
///
/// A contract declares one family per column; schema reflection maps each
/// production type (PostgreSQL `numeric(40,10)`, MySQL `decimal`, SQLite `NUMERIC`...)
/// onto one family and refuses to open when the two disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SqlType {
    /// `boolean`, MySQL `tinyint(1)`.
    Bool,
    /// Any integer type up to 64 bits.
    Int,
    /// `real`, `double precision`, `float`.
    Float,
    /// Exact decimals: `numeric`, `decimal`.
    Decimal,
    /// `text`, `varchar`, `char`, database enums.
    Text,
    /// `bytea`, `blob`.
    Bytes,
    /// `uuid`.
    Uuid,
    /// `date`.
    Date,
    /// `time` without time zone.
    Time,
    /// `timestamp` without time zone, MySQL `datetime`.
    Timestamp,
    /// `timestamptz`, MySQL `timestamp`: an instant.
    TimestampTz,
    /// `json`, `jsonb`.
    Json,
}

impl SqlType {
    /// The lower-case name used in messages (`integer`, `decimal`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SqlType::Bool => "boolean",
            SqlType::Int => "integer",
            SqlType::Float => "float",
            SqlType::Decimal => "decimal",
            SqlType::Text => "text",
            SqlType::Bytes => "bytes",
            SqlType::Uuid => "uuid",
            SqlType::Date => "date",
            SqlType::Time => "time",
            SqlType::Timestamp => "timestamp",
            SqlType::TimestampTz => "timestamptz",
            SqlType::Json => "json",
        }
    }

    /// Whether a column of this family can hold a tenant value: rows are scoped
    /// by equality, so floats, booleans, JSON and bytes cannot.
    #[must_use]
    pub const fn can_scope_tenant(self) -> bool {
        matches!(
            self,
            SqlType::Int | SqlType::Text | SqlType::Uuid | SqlType::Decimal
        )
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One SQL value.
///
/// Values are exact: decimals are decimal text (never `f64`), JSON keeps its text
/// (numbers with every digit), timestamps with time zone are instants.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL` (distinct from JSON `null`, which is `Json("null")`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A binary floating-point number.
    Float(f64),
    /// An exact decimal.
    Decimal(Decimal),
    /// Text (valid UTF-8).
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A UUID.
    Uuid(uuid::Uuid),
    /// A calendar date.
    Date(NaiveDate),
    /// A time of day without time zone.
    Time(NaiveTime),
    /// A timestamp without time zone.
    Timestamp(NaiveDateTime),
    /// An instant (timestamp with time zone), held in UTC.
    TimestampTz(DateTime<Utc>),
    /// A JSON document.
    Json(Json),
}

impl Value {
    /// The family of this value, or `None` for `NULL`.
    #[must_use]
    pub fn sql_type(&self) -> Option<SqlType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => SqlType::Bool,
            Value::Int(_) => SqlType::Int,
            Value::Float(_) => SqlType::Float,
            Value::Decimal(_) => SqlType::Decimal,
            Value::Text(_) => SqlType::Text,
            Value::Bytes(_) => SqlType::Bytes,
            Value::Uuid(_) => SqlType::Uuid,
            Value::Date(_) => SqlType::Date,
            Value::Time(_) => SqlType::Time,
            Value::Timestamp(_) => SqlType::Timestamp,
            Value::TimestampTz(_) => SqlType::TimestampTz,
            Value::Json(_) => SqlType::Json,
        })
    }

    /// A short name of what this value is, for messages (`text`, `NULL`, ...).
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        self.sql_type().map_or("NULL", SqlType::name)
    }

    /// Whether this is SQL `NULL`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Equality is SQL-value equality with `NULL = NULL`: decimals compare by number
/// (`1.10 == 1.1`), JSON by document, floats bit for bit (so `NaN == NaN` and a
/// concurrent change from `0.0` to `-0.0` is still a change).
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Decimal(a), Value::Decimal(b)) => a == b,
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Uuid(a), Value::Uuid(b)) => a == b,
            (Value::Date(a), Value::Date(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::TimestampTz(a), Value::TimestampTz(b)) => a == b,
            (Value::Json(a), Value::Json(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// The SQL-ish text of the value, as a reviewer would read it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Decimal(d) => f.write_str(d.as_str()),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("\\x")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Value::Uuid(u) => write!(f, "{u}"),
            Value::Date(d) => write!(f, "{d}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Timestamp(t) => write!(f, "{t}"),
            Value::TimestampTz(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S%.fZ")),
            Value::Json(j) => f.write_str(j.as_str()),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v $(.$conv())?)
            }
        }
    )*};
}

value_from! {
    bool => Bool,
    i64 => Int,
    i32 => Int via into,
    f64 => Float,
    String => Text,
    &str => Text via to_owned,
    Vec<u8> => Bytes,
    uuid::Uuid => Uuid,
    NaiveDate => Date,
    NaiveTime => Time,
    NaiveDateTime => Timestamp,
    DateTime<Utc> => TimestampTz,
    Decimal => Decimal,
    Json => Json,
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// An exact decimal number of any precision, held as its decimal text.
///
/// Built from text, never from a float, so `numeric(40,10)` keeps every digit.
/// The text is kept as given (`1.10` stays `1.10`); equality and hashing compare
/// the number (`1.10 == 1.1`, `-0 == 0`). PostgreSQL's `NaN`, `Infinity` and
/// `-Infinity` are accepted.
#[derive(Clone)]
pub struct Decimal {
    text: Box<str>,
}

impl Decimal {
    /// Parses decimal text: an optional sign, digits, an optional fraction, an
    /// optional exponent (`1.5e3`); or `NaN`, `Infinity`, `-Infinity`.
    ///
    /// # Errors
    /// [`Error::InvalidDecimal`] when the text is anything else (no trimming is done).
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text: String = text.into();
        if is_decimal_text(&text) {
            Ok(Decimal {
                text: text.into_boxed_str(),
            })
        } else {
            Err(Error::InvalidDecimal)
        }
    }

    /// The decimal text, as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number in a canonical form: no exponent, no leading zeros, no
    /// trailing fractional zeros, `0` without sign. Used for equality.
    #[must_use]
    pub fn normalized(&self) -> String {
        normalize_decimal(&self.text)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.text)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text || self.normalized() == other.normalized()
    }
}

impl Eq for Decimal {}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized().hash(state);
    }
}

impl std::str::FromStr for Decimal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Decimal::new(s)
    }
}

impl serde::Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

fn is_decimal_text(s: &str) -> bool {
    if matches!(s, "NaN" | "Infinity" | "-Infinity") {
        return true;
    }
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac_digits = i - frac_start;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        // An exponent that does not fit i32 is refused rather than expanded.
        let exp = s.get(exp_start..i).unwrap_or("");
        if exp.is_empty() || exp.len() > 6 {
            return false;
        }
    }
    i == b.len()
}

fn normalize_decimal(s: &str) -> String {
    if matches!(s, "NaN" | "Infinity" | "-Infinity") {
        return s.to_owned();
    }
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or("")),
        Some(b'+') => (false, s.get(1..).unwrap_or("")),
        _ => (false, s),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(pos) => (
            rest.get(..pos).unwrap_or(""),
            rest.get(pos + 1..)
                .and_then(|e| e.parse::<i64>().ok())
                .unwrap_or(0),
        ),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{int_part}{frac_part}");
    // Position of the decimal point within `digits`, shifted by the exponent.
    let mut point = i64::try_from(int_part.len()).unwrap_or(i64::MAX) + exp;
    if point < 0 {
        let pad = usize::try_from(-point).unwrap_or(0);
        digits = format!("{}{digits}", "0".repeat(pad));
        point = 0;
    }
    let point = usize::try_from(point).unwrap_or(0);
    if point > digits.len() {
        digits.push_str(&"0".repeat(point - digits.len()));
    }
    let (int_digits, frac_digits) = digits.split_at(point.min(digits.len()));
    let int_digits = int_digits.trim_start_matches('0');
    let frac_digits = frac_digits.trim_end_matches('0');
    let int_digits = if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    };
    let mut out = String::with_capacity(int_digits.len() + frac_digits.len() + 2);
    let zero = int_digits == "0" && frac_digits.is_empty();
    if negative && !zero {
        out.push('-');
    }
    out.push_str(int_digits);
    if !frac_digits.is_empty() {
        out.push('.');
        out.push_str(frac_digits);
    }
    out
}

/// A JSON document, held as its text so that numbers keep every digit and a
/// `json` column's text comes back as it was.
///
/// Equality compares documents: identical text, or the same values (object key
/// order and white space aside, numbers by their exact text).
#[derive(Clone)]
pub struct Json {
    text: Box<str>,
}

impl Json {
    /// Checks that `text` is one JSON document and keeps it as is.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] when it is not.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text: String = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|_| Error::InvalidJson)?;
        Ok(Json {
            text: text.into_boxed_str(),
        })
    }

    /// Serializes a `serde_json::Value`.
    #[must_use]
    pub fn from_value(value: &serde_json::Value) -> Self {
        Json {
            text: value.to_string().into_boxed_str(),
        }
    }

    /// The JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Parses the document.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] (cannot happen for a `Json` built by [`Json::new`]).
    pub fn to_value(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_str(&self.text).map_err(|_| Error::InvalidJson)
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Json({})", self.text)
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        if self.text == other.text {
            return true;
        }
        match (self.to_value(), other.to_value()) {
            (Ok(a), Ok(b)) => json_eq(&a, &b),
            _ => false,
        }
    }
}

fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        // Numbers by value of their exact text: 1.0 and 1.00 are one number,
        // 1 and 1.0 too (jsonb itself compares numerically).
        (J::Number(x), J::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            x == y
                || (is_decimal_text(&x)
                    && is_decimal_text(&y)
                    && normalize_decimal(&x) == normalize_decimal(&y))
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Orders decimal texts by number; `None` for NaN or infinities.
#[must_use]
pub fn compare_decimal(a: &Decimal, b: &Decimal) -> Option<Ordering> {
    let (a, b) = (a.normalized(), b.normalized());
    if !is_finite(&a) || !is_finite(&b) {
        return None;
    }
    let (an, bn) = (a.starts_with('-'), b.starts_with('-'));
    if an != bn {
        return Some(if an {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let (a_abs, b_abs) = (a.trim_start_matches('-'), b.trim_start_matches('-'));
    let (ai, af) = a_abs.split_once('.').unwrap_or((a_abs, ""));
    let (bi, bf) = b_abs.split_once('.').unwrap_or((b_abs, ""));
    let ord = ai
        .len()
        .cmp(&bi.len())
        .then_with(|| ai.cmp(bi))
        .then_with(|| af.cmp(bf));
    Some(if an { ord.reverse() } else { ord })
}

fn is_finite(normalized: &str) -> bool {
    !matches!(normalized, "NaN" | "Infinity" | "-Infinity")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_keeps_text_and_compares_by_number() {
        let wide = "123456789012345678901234567890.1234567890";
        let d = Decimal::new(wide).unwrap();
        assert_eq!(d.as_str(), wide);
        assert_eq!(Decimal::new("1.10").unwrap(), Decimal::new("1.1").unwrap());
        assert_eq!(Decimal::new("-0.00").unwrap(), Decimal::new("0").unwrap());
        assert_eq!(
            Decimal::new("1.5e3").unwrap(),
            Decimal::new("1500").unwrap()
        );
        assert_eq!(
            Decimal::new("15e-4").unwrap(),
            Decimal::new("0.0015").unwrap()
        );
        assert_ne!(Decimal::new("1.01").unwrap(), Decimal::new("1.1").unwrap());
    }

    #[test]
    fn decimal_refuses_non_numbers() {
        for bad in [
            "",
            " 1",
            "1 ",
            "1.2.3",
            "abc",
            "--1",
            ".",
            "1e",
            "0x10",
            "1e9999999",
        ] {
            assert!(Decimal::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["0", "-1", "+2", ".5", "5.", "NaN", "Infinity", "-Infinity"] {
            assert!(Decimal::new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn decimal_order() {
        let d = |s| Decimal::new(s).unwrap();
        assert_eq!(
            compare_decimal(&d("-2"), &d("-10")),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_decimal(&d("0.5"), &d("0.25")),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_decimal(&d("100"), &d("99.999")),
            Some(Ordering::Greater)
        );
        assert_eq!(compare_decimal(&d("NaN"), &d("1")), None);
    }

    #[test]
    fn json_keeps_digits_and_compares_documents() {
        let j = Json::new(r#"{"n": 12345678901234567890.123456789012345, "s": "é"}"#).unwrap();
        assert!(j.as_str().contains("12345678901234567890.123456789012345"));
        assert_eq!(
            Json::new(r#"{"a":1,"b":[true,null]}"#).unwrap(),
            Json::new(r#"{ "b": [true, null], "a": 1 }"#).unwrap()
        );
        assert_ne!(Json::new("null").unwrap(), Json::new("0").unwrap());
        assert!(Json::new("{").is_err());
        assert_ne!(Value::Json(Json::new("null").unwrap()), Value::Null);
    }

    #[test]
    fn floats_compare_bitwise() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
    }
}
