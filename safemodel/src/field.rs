//! How each Rust field type decodes from and encodes to a [`Value`], strictly.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::error::{Rule, Violation};
use crate::value::{Decimal, Json, SqlType, Value};

/// Why one value could not become a field: the rule and a message without the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The rule broken.
    pub rule: Rule,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// A value of the wrong type.
    #[must_use]
    pub fn wrong_type(expected: SqlType, got: &Value) -> Self {
        if got.is_null() {
            return FieldError {
                rule: Rule::NotNull,
                message: "NULL is not allowed".to_owned(),
            };
        }
        FieldError {
            rule: Rule::Type,
            message: format!("expected {expected}, got {}", got.kind_name()),
        }
    }

    /// An integer or float that its field's type cannot hold.
    #[must_use]
    pub fn out_of_range(type_name: &str) -> Self {
        FieldError {
            rule: Rule::OutOfRange,
            message: format!("out of range for {type_name}"),
        }
    }

    /// Names the column.
    #[must_use]
    pub fn at(self, column: &str) -> Violation {
        Violation::new(column, self.rule, self.message)
    }
}

/// A Rust type that a `SafeModel` field may have: its SQL family and its strict
/// conversion from and to [`Value`].
///
/// No coercion: text `'42'` is not an integer, a float is not a decimal, text
/// is never trimmed. The only conversions accepted are lossless widenings
/// (an integer into a float that holds it exactly, an integer into a decimal).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no SQL mapping, so it cannot be a SafeModel field",
    label = "unsupported field type",
    note = "supported: i8..i64, u8..u64, f32, f64, bool, String, Vec<u8>, safemodel::Decimal, uuid::Uuid, chrono::{{NaiveDate, NaiveTime, NaiveDateTime, DateTime<Utc>}}, serde_json::Value, safemodel::Json, enums deriving SafeEnum, and Option<T> of each"
)]
pub trait FieldType: Sized {
    /// The SQL family of the column.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts `NULL` (`Option<T>`).
    const NULLABLE: bool = false;
    /// For enums: the accepted texts.
    const VARIANTS: Option<&'static [&'static str]> = None;
    /// Strictly decodes a value.
    ///
    /// # Errors
    /// A [`FieldError`] naming the rule broken.
    fn from_value(value: &Value) -> Result<Self, FieldError>;
    /// Encodes the field.
    fn to_value(&self) -> Value;
}

/// A field type whose column can scope rows to a tenant (compared by equality).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a tenant: rows are scoped by equality on the tenant column",
    label = "tenant column of this type",
    note = "a tenant column is an integer, String, uuid::Uuid or safemodel::Decimal, and not an Option"
)]
pub trait TenantType: FieldType {}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl FieldType for $t {
            const SQL_TYPE: SqlType = SqlType::Int;
            fn from_value(value: &Value) -> Result<Self, FieldError> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i)
                        .map_err(|_| FieldError::out_of_range(stringify!($t))),
                    other => Err(FieldError::wrong_type(SqlType::Int, other)),
                }
            }
            fn to_value(&self) -> Value {
                // u64 values above i64::MAX cannot be stored: they saturate, and
                // decoding them back is refused, so none reaches a database silently.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
        impl TenantType for $t {}
    )*};
}
int_field!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Largest integer every `f64` between it and zero holds exactly.
const F64_EXACT_INT: i64 = 1 << 53;

impl FieldType for f64 {
    const SQL_TYPE: SqlType = SqlType::Float;
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::Float(x) => Ok(*x),
            #[allow(clippy::cast_precision_loss)] // checked exact just above
            Value::Int(i) if (-F64_EXACT_INT..=F64_EXACT_INT).contains(i) => Ok(*i as f64),
            Value::Int(_) => Err(FieldError::out_of_range("f64")),
            other => Err(FieldError::wrong_type(SqlType::Float, other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
}

impl FieldType for f32 {
    const SQL_TYPE: SqlType = SqlType::Float;
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        let wide = f64::from_value(value)?;
        #[allow(clippy::cast_possible_truncation)] // checked lossless just below
        let narrow = wide as f32;
        if f64::from(narrow).to_bits() == wide.to_bits() || wide.is_nan() {
            Ok(narrow)
        } else {
            Err(FieldError::out_of_range("f32"))
        }
    }
    fn to_value(&self) -> Value {
        Value::Float(f64::from(*self))
    }
}

macro_rules! simple_field {
    ($($t:ty => $variant:ident, $family:ident;)*) => {$(
        impl FieldType for $t {
            const SQL_TYPE: SqlType = SqlType::$family;
            fn from_value(value: &Value) -> Result<Self, FieldError> {
                match value {
                    Value::$variant(v) => Ok(v.clone()),
                    other => Err(FieldError::wrong_type(SqlType::$family, other)),
                }
            }
            fn to_value(&self) -> Value {
                Value::$variant(self.clone())
            }
        }
    )*};
}
simple_field! {
    bool => Bool, Bool;
    String => Text, Text;
    Vec<u8> => Bytes, Bytes;
    uuid::Uuid => Uuid, Uuid;
    NaiveDate => Date, Date;
    NaiveTime => Time, Time;
    NaiveDateTime => Timestamp, Timestamp;
    DateTime<Utc> => TimestampTz, TimestampTz;
    Json => Json, Json;
}
impl TenantType for String {}
impl TenantType for uuid::Uuid {}

impl FieldType for Decimal {
    const SQL_TYPE: SqlType = SqlType::Decimal;
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::Decimal(d) => Ok(d.clone()),
            // An integer is an exact decimal; a float never is.
            Value::Int(i) => {
                Decimal::new(i.to_string()).map_err(|_| FieldError::out_of_range("decimal"))
            }
            other => Err(FieldError::wrong_type(SqlType::Decimal, other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Decimal(self.clone())
    }
}
impl TenantType for Decimal {}

impl FieldType for serde_json::Value {
    const SQL_TYPE: SqlType = SqlType::Json;
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::Json(j) => j.to_value().map_err(|_| FieldError {
                rule: Rule::Type,
                message: "not a JSON document".to_owned(),
            }),
            other => Err(FieldError::wrong_type(SqlType::Json, other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Json(Json::from_value(self))
    }
}

impl<T: FieldType> FieldType for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;
    const VARIANTS: Option<&'static [&'static str]> = T::VARIANTS;
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
}

/// A fieldless enum stored as text: only its variants' names are accepted.
///
/// Implemented by `#[derive(SafeEnum)]`, which also implements [`FieldType`].
pub trait SafeEnum: Sized + Copy + 'static {
    /// The accepted texts, in declaration order.
    const VARIANTS: &'static [&'static str];
    /// The variant named exactly `name` (no trimming, no case folding).
    fn from_name(name: &str) -> Option<Self>;
    /// This variant's text.
    fn name(self) -> &'static str;
}

/// Decoding shared by every [`SafeEnum`]; the derive's `FieldType` impl calls it.
///
/// # Errors
/// [`Rule::Enum`] for text that is no variant, [`Rule::Type`] for a non-text value.
pub fn enum_from_value<E: SafeEnum>(value: &Value) -> Result<E, FieldError> {
    match value {
        Value::Text(s) => E::from_name(s).ok_or_else(|| FieldError {
            rule: Rule::Enum,
            message: format!("not one of {}", E::VARIANTS.join(", ")),
        }),
        other => Err(FieldError::wrong_type(SqlType::Text, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strict_and_range_checked() {
        assert_eq!(i32::from_value(&Value::Int(7)), Ok(7));
        assert_eq!(
            i32::from_value(&Value::Int(1 << 40)).unwrap_err().rule,
            Rule::OutOfRange
        );
        assert_eq!(
            u8::from_value(&Value::Int(300)).unwrap_err().message,
            "out of range for u8"
        );
        assert_eq!(
            u8::from_value(&Value::Int(-1)).unwrap_err().rule,
            Rule::OutOfRange
        );
        let e = i64::from_value(&Value::Text("42".into())).unwrap_err();
        assert_eq!(
            (e.rule, e.message.as_str()),
            (Rule::Type, "expected integer, got text")
        );
        assert_eq!(
            i64::from_value(&Value::Null).unwrap_err().rule,
            Rule::NotNull
        );
        assert_eq!(Option::<i64>::from_value(&Value::Null), Ok(None));
    }

    #[test]
    fn floats_are_not_decimals() {
        let e = Decimal::from_value(&Value::Float(1.5)).unwrap_err();
        assert_eq!(e.message, "expected decimal, got float");
        assert_eq!(Decimal::from_value(&Value::Int(3)).unwrap().as_str(), "3");
        assert_eq!(
            f32::from_value(&Value::Float(0.1)).unwrap_err().rule,
            Rule::OutOfRange
        );
        assert_eq!(f32::from_value(&Value::Float(0.5)), Ok(0.5));
        assert_eq!(
            f64::from_value(&Value::Int(1 << 60)).unwrap_err().rule,
            Rule::OutOfRange
        );
    }

    #[test]
    fn text_is_not_trimmed() {
        assert_eq!(
            String::from_value(&Value::Text(" a ".into())).unwrap(),
            " a "
        );
        assert_eq!(
            String::from_value(&Value::Bytes(vec![0xff]))
                .unwrap_err()
                .message,
            "expected text, got bytes"
        );
    }
}
