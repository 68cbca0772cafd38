//! The limits a production column declares, checked before any transaction:
//! a value production would round, truncate, pad, clamp or reject is a
//! violation in the review, never a change the server silently alters.
//!
//! The limits are read from the declared type as the catalog prints it
//! (`numeric(30,15)`, `character varying(20)`, `decimal(5,2) unsigned`,
//! `tinyint(4)`, `datetime(3)`), so reflection needs no other column. What is
//! checked, per dialect:
//! - decimals: digits after the point beyond the scale (production rounds),
//!   digits before it beyond precision minus scale (production rejects, or
//!   MariaDB outside strict mode clamps), negatives in `unsigned`; PostgreSQL's
//!   unconstrained `numeric` has no limit. SQLite keeps a `DECIMAL` column as a
//!   64-bit float: more than 15 significant digits (other than an integer
//!   that fits 64 bits) would be rounded;
//! - text: `varchar(n)`/`char(n)` in characters (both PostgreSQL and MariaDB
//!   count characters, whatever the charset), trailing spaces in `char(n)`
//!   (neither returns them), PostgreSQL's `"char"` (1 byte) and `name`
//!   (63 bytes), MariaDB's `tinytext`/`text`/`mediumtext` in bytes (counted as
//!   UTF-8, which no charset exceeds for the characters it can store);
//! - integers: MariaDB's `tinyint`, `smallint`, `mediumint`, `int`, signed
//!   and unsigned (PostgreSQL's are checked where they are bound);
//! - bytes: MariaDB's `binary(n)` (pads), `varbinary(n)` and the blobs;
//! - floats: MariaDB's `float(M,D)`/`double(M,D)`, which round to `D`
//!   decimals, and infinities, which MariaDB clamps to its largest number;
//! - JSON: an object repeating a key in PostgreSQL's `jsonb`, which keeps
//!   only the last;
//! - times: fractional seconds beyond the column's precision (PostgreSQL
//!   keeps 6 digits unless declared fewer, MariaDB 0 unless declared more),
//!   MariaDB's `TIMESTAMP` range (1970 to 2038) and its `DATE`/`DATETIME`
//!   years (0 to 9999).
//!
//! Messages name the limit, never the value.

use chrono::{Datelike as _, Timelike as _};
use safemodel::Value;

use super::decimal::{Exact, shape};
use crate::model::ColumnSchema;
use crate::types::{ColumnKind, Dialect};

/// Checks `value` against the limits `col` declares in `dialect`; the error
/// is the rule broken.
pub(crate) fn check(dialect: Dialect, col: &ColumnSchema, value: &Value) -> Result<(), String> {
    let declared = col.declared_type.as_str();
    match (&col.kind, value) {
        (ColumnKind::Decimal, Value::Decimal(d)) => decimal(dialect, declared, d.as_str()),
        (ColumnKind::Decimal, Value::Int(i)) => decimal(dialect, declared, &i.to_string()),
        (ColumnKind::Text, Value::Text(s)) => text(dialect, declared, s),
        (
            ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 | ColumnKind::UInt64,
            Value::Int(i),
        ) if dialect == Dialect::MySql => mysql_integer(declared, *i),
        (ColumnKind::Float32 | ColumnKind::Float64, Value::Float(x))
            if dialect == Dialect::MySql && x.is_infinite() =>
        {
            Err(format!(
                "an infinity, which MariaDB does not have: {declared} would store its \
                 largest number instead"
            ))
        }
        (ColumnKind::Float32 | ColumnKind::Float64, Value::Float(x))
            if dialect == Dialect::MySql && declared.contains('(') =>
        {
            mysql_float(&col.kind, declared, *x)
        }
        (ColumnKind::Bytes, Value::Bytes(b)) if dialect == Dialect::MySql => {
            mysql_bytes(declared, b.len())
        }
        (ColumnKind::Json, Value::Json(j))
            if dialect == Dialect::Postgres && declared == "jsonb" =>
        {
            jsonb_keys(j.as_str())
        }
        (ColumnKind::Interval, Value::Text(s)) if dialect == Dialect::Postgres => {
            pg_interval(declared, s)
        }
        (ColumnKind::Array, Value::Text(s)) if dialect == Dialect::Postgres => {
            pg_array(declared, s)
        }
        (ColumnKind::Time, Value::Time(t)) => fraction(dialect, declared, t.nanosecond()),
        (ColumnKind::Date, Value::Date(d)) if dialect == Dialect::MySql => {
            mysql_year(declared, d.year())
        }
        (ColumnKind::Timestamp, Value::Timestamp(t)) => {
            if dialect == Dialect::MySql {
                mysql_year(declared, t.year())?;
            }
            fraction(dialect, declared, t.nanosecond())
        }
        (ColumnKind::TimestampTz, Value::TimestampTz(t)) => {
            if dialect == Dialect::MySql {
                mysql_timestamp_range(declared, t.timestamp())?;
            }
            fraction(dialect, declared, t.nanosecond())
        }
        _ => Ok(()),
    }
}

/// A PostgreSQL array's elements against its element type's limits: an
/// array input rounds `numeric(5,2)[]`, cuts the trailing spaces of
/// `varchar(3)[]`, pads `character(3)[]` and rounds `timestamp(0)[]` without
/// an error, where the same value in a plain column is refused.
fn pg_array(declared: &str, s: &str) -> Result<(), String> {
    let element = declared.trim_end_matches("[]");
    let base = pg_base(element);
    let time = base.starts_with("time");
    let kind = match base {
        "numeric" | "decimal" => ColumnKind::Decimal,
        "character varying" | "varchar" | "character" | "char" | "bpchar" => ColumnKind::Text,
        _ if time => ColumnKind::Time,
        _ => return Ok(()),
    };
    if kind != ColumnKind::Time && !element.contains('(') {
        return Ok(());
    }
    let Some(elements) = pg_array_elements(s) else {
        return Err(format!(
            "not an array literal shadowdb reads ({{a,b}}, quoted or not): the limits \
             of {declared} cannot be checked"
        ));
    };
    for (i, e) in elements.iter().enumerate() {
        let Some(e) = e else { continue };
        let n = i + 1;
        let checked = match kind {
            ColumnKind::Decimal => decimal(Dialect::Postgres, element, e),
            ColumnKind::Time => array_fraction(element, e),
            _ => text(Dialect::Postgres, element, e).and_then(|()| {
                match (base, type_args(element).1) {
                    ("character" | "char" | "bpchar", Some(width))
                        if !longer_than(e, width.saturating_sub(1)) =>
                    {
                        Err(format!(
                            "shorter than {width} characters: {element} pads it with spaces"
                        ))
                    }
                    _ => Ok(()),
                }
            }),
        };
        checked.map_err(|m| format!("element {n}: {m} (in {declared})"))?;
    }
    Ok(())
}

/// Fractional second digits of a time or timestamp element beyond its
/// precision (6 unless declared), counted in its text.
fn array_fraction(element: &str, e: &str) -> Result<(), String> {
    let digits = type_args(element).1.unwrap_or(6);
    let fraction = e
        .split_once('.')
        .map(|(_, f)| f.bytes().take_while(u8::is_ascii_digit).collect::<Vec<_>>())
        .unwrap_or_default();
    let kept = fraction
        .iter()
        .rposition(|b| *b != b'0')
        .map_or(0, |p| p + 1);
    if u64::try_from(kept).unwrap_or(u64::MAX) > digits {
        Err(format!(
            "more than {digits} fractional second digits: {element} would round them"
        ))
    } else {
        Ok(())
    }
}

/// The elements of a PostgreSQL array literal (nested arrays flattened),
/// as its input reads them: unquoted ones trimmed, `NULL` as `None`,
/// backslash escapes applied. `None` for anything else (a dimension
/// decoration, unbalanced braces).
fn pg_array_elements(s: &str) -> Option<Vec<Option<String>>> {
    let mut chars = s.trim().chars().peekable();
    if chars.next()? != '{' {
        return None;
    }
    let mut out = Vec::new();
    let mut depth = 1_usize;
    while depth > 0 {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek().copied()? {
            '{' => {
                chars.next();
                depth += 1;
                continue;
            }
            '}' => {
                chars.next();
                depth -= 1;
            }
            '"' => {
                chars.next();
                let mut e = String::new();
                loop {
                    match chars.next()? {
                        '\\' => e.push(chars.next()?),
                        '"' => break,
                        c => e.push(c),
                    }
                }
                out.push(Some(e));
            }
            _ => {
                let mut e = String::new();
                let mut quoted_end = 0;
                while let Some(c) = chars.next_if(|c| *c != ',' && *c != '}') {
                    if c == '\\' {
                        e.push(chars.next()?);
                        quoted_end = e.len();
                    } else {
                        e.push(c);
                    }
                }
                let trimmed_len = e.trim_end().len().max(quoted_end);
                e.truncate(trimmed_len);
                out.push((!e.eq_ignore_ascii_case("null") || quoted_end > 0).then_some(e));
            }
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if depth > 0 && chars.next_if_eq(&',').is_none() && chars.peek() != Some(&'}') {
            return None;
        }
        if depth == 0 {
            break;
        }
    }
    chars.all(char::is_whitespace).then_some(out)
}

/// `decimal(5,2) unsigned` -> (`decimal`, Some(5), Some(2)).
fn type_args(declared: &str) -> (&str, Option<u64>, Option<u64>) {
    let (base, first, second) = type_args_signed(declared);
    let unsigned = |a: Option<i64>| a.and_then(|a| u64::try_from(a).ok());
    (base, unsigned(first), unsigned(second))
}

/// [`type_args`] keeping signs: PostgreSQL 15 allows `numeric(5,-2)`.
fn type_args_signed(declared: &str) -> (&str, Option<i64>, Option<i64>) {
    let base_end = declared.find(['(', ' ']).unwrap_or(declared.len());
    let base = declared.get(..base_end).unwrap_or(declared).trim();
    let Some((_, rest)) = declared.split_once('(') else {
        return (base, None, None);
    };
    let inner = rest.split_once(')').map_or(rest, |(inner, _)| inner);
    let mut args = inner.split(',').map(|a| a.trim().parse::<i64>().ok());
    (base, args.next().flatten(), args.next().flatten())
}

/// The PostgreSQL base name up to the modifiers (`character varying(20)` ->
/// `character varying`), where the name itself holds spaces.
fn pg_base(declared: &str) -> &str {
    declared.split_once('(').map_or(declared, |(b, _)| b).trim()
}

fn decimal(dialect: Dialect, declared: &str, text: &str) -> Result<(), String> {
    let Some(s) = shape(text) else {
        // NaN and the infinities: refused where they are bound, except on
        // PostgreSQL, whose constrained numeric holds NaN but no infinity.
        let (_, precision, _) = type_args(declared);
        return match dialect {
            Dialect::Postgres if precision.is_some() && text != "NaN" => {
                Err(format!("an infinity does not fit {declared}"))
            }
            _ => Ok(()),
        };
    };
    let (precision, scale, unsigned) = match dialect {
        Dialect::Postgres => match type_args_signed(declared) {
            (_, Some(p), s) => (p, s.unwrap_or(0), false),
            _ => return Ok(()),
        },
        Dialect::MySql => {
            let (_, p, s) = type_args_signed(declared);
            let unsigned = declared.contains(" unsigned") || declared.contains(" zerofill");
            (p.unwrap_or(10), s.unwrap_or(0), unsigned)
        }
        Dialect::Sqlite => return sqlite_decimal(text, s),
    };
    if unsigned && s.negative {
        return Err(format!("a negative number does not fit {declared}"));
    }
    if s.significant == 0 {
        return Ok(());
    }
    // The column keeps value * 10^scale as an integer of `precision` digits.
    let (precision, scale) = (i128::from(precision), i128::from(scale));
    if s.power < -scale {
        return Err(if scale >= 0 {
            format!(
                "more than {scale} digits after the point: {declared} would round it \
                 (precision lost); round it explicitly with decimal_round(value, {scale})"
            )
        } else {
            format!(
                "not a multiple of 1e{}: {declared} would round it (precision lost)",
                -scale
            )
        });
    }
    let top = i128::from(s.significant) + s.power;
    if top + scale > precision {
        return Err(if (0..=precision).contains(&scale) {
            format!(
                "more than {} digits before the point: out of range for {declared}",
                precision - scale
            )
        } else {
            format!("out of range for {declared}")
        });
    }
    Ok(())
}

/// SQLite's NUMERIC affinity keeps an integer that fits 64 bits as is, and
/// anything else as a 64-bit float (15 significant digits kept).
///
/// A float holds 15 digits only within its normal range: beyond it SQLite
/// stores an infinity (`1e400`), zero (`1e-400`) or fewer digits (a
/// subnormal), so the value must read back as the same number.
fn sqlite_decimal(text: &str, s: super::decimal::Shape) -> Result<(), String> {
    if s.significant == 0 {
        return Ok(());
    }
    if s.significant <= 15 {
        if float_keeps(text) {
            return Ok(());
        }
        return Err(
            "outside the range of a 64-bit float: SQLite keeps this DECIMAL column as a \
             float, which would store an infinity, zero or fewer digits (precision lost)"
                .to_owned(),
        );
    }
    let fits_integer = s.frac_digits == 0
        && s.int_digits <= 19
        && Exact::parse(text).is_ok_and(|e| e.to_string().parse::<i64>().is_ok());
    if fits_integer {
        return Ok(());
    }
    Err(
        "more than 15 significant digits: SQLite keeps this DECIMAL column as a \
         64-bit float, which would round it (precision lost)"
            .to_owned(),
    )
}

/// Whether the float nearest `text` is a normal one that reads back as the
/// same number.
fn float_keeps(text: &str) -> bool {
    let Ok(x) = text.parse::<f64>() else {
        return false;
    };
    x.is_normal()
        && matches!(
            (Exact::parse(text), Exact::parse(&super::float::format_float(x))),
            (Ok(a), Ok(b)) if a.compare(&b).is_eq()
        )
}

/// Whether `s` has more than `n` characters, without counting long text twice.
fn longer_than(s: &str, n: u64) -> bool {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    s.len() > n && s.chars().nth(n).is_some()
}

fn text(dialect: Dialect, declared: &str, s: &str) -> Result<(), String> {
    let too_long =
        |n: u64, unit: &str| Err(format!("longer than {n} {unit}: too long for {declared}"));
    let padded = || Err(format!("ends in a space, which {declared} does not keep"));
    match dialect {
        Dialect::Postgres => {
            let (_, n, _) = type_args(declared);
            match pg_base(declared) {
                "character varying" | "varchar" => match n {
                    Some(n) if longer_than(s, n) => too_long(n, "characters"),
                    _ => Ok(()),
                },
                base @ ("character" | "char" | "bpchar") => {
                    let n = n.or((base != "bpchar").then_some(1));
                    match n {
                        Some(n) if longer_than(s, n) => too_long(n, "characters"),
                        _ if s.ends_with(' ') => padded(),
                        _ => Ok(()),
                    }
                }
                "\"char\"" if s.len() > 1 => too_long(1, "byte"),
                "name" if s.len() > 63 => too_long(63, "bytes"),
                _ => Ok(()),
            }
        }
        Dialect::MySql => {
            mysql_charset(declared, s)?;
            let (base, n, _) = type_args(declared);
            let bytes = |max: u64| {
                if u64::try_from(s.len()).unwrap_or(u64::MAX) > max {
                    too_long(max, "bytes")
                } else {
                    Ok(())
                }
            };
            match base {
                "varchar" => match n {
                    Some(n) if longer_than(s, n) => too_long(n, "characters"),
                    _ => Ok(()),
                },
                "char" => {
                    let n = n.unwrap_or(1);
                    if longer_than(s, n) {
                        too_long(n, "characters")
                    } else if s.ends_with(' ') {
                        padded()
                    } else {
                        Ok(())
                    }
                }
                "tinytext" => bytes(255),
                "text" => bytes(65_535),
                "mediumtext" => bytes(16_777_215),
                "longtext" => bytes(4_294_967_295),
                _ => Ok(()),
            }
        }
        Dialect::Sqlite => Ok(()),
    }
}

/// The character set reflection appends to a MariaDB text column's type
/// when it is not `utf8mb4` (`varchar(3) character set utf8mb3`).
pub(crate) const CHARSET_MARK: &str = " character set ";

/// A character the column's character set cannot hold: MariaDB refuses it
/// in strict mode and stores `?` outside it.
fn mysql_charset(declared: &str, s: &str) -> Result<(), String> {
    let Some((_, charset)) = declared.split_once(CHARSET_MARK) else {
        return Ok(());
    };
    let charset = charset.split_whitespace().next().unwrap_or_default();
    let holds: fn(char) -> bool = match charset {
        "utf8mb4" | "utf16" | "utf16le" | "utf32" => return Ok(()),
        "utf8mb3" | "utf8" | "ucs2" => |c| u32::from(c) <= 0xFFFF,
        // MariaDB's latin1 is Windows-1252 with its five unassigned bytes
        // kept as the C1 controls of the same number.
        "latin1" => |c| {
            matches!(u32::from(c), 0..=0x7F | 0xA0..=0xFF | 0x81 | 0x8D | 0x8F | 0x90 | 0x9D)
                || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(c)
        },
        // Other character sets are not mapped here: ASCII is in all of them.
        _ => |c| c.is_ascii(),
    };
    if s.chars().all(holds) {
        Ok(())
    } else {
        Err(format!(
            "holds a character that {charset} cannot store: {declared} would refuse it or \
             store '?' (MariaDB outside strict mode)"
        ))
    }
}

fn mysql_integer(declared: &str, i: i64) -> Result<(), String> {
    let (base, _, _) = type_args(declared);
    let unsigned = declared.contains(" unsigned") || declared.contains(" zerofill");
    let (min, max): (i64, i64) = match (base, unsigned) {
        ("tinyint", false) => (-128, 127),
        ("tinyint", true) => (0, 255),
        ("smallint", false) => (-32_768, 32_767),
        ("smallint", true) => (0, 65_535),
        ("mediumint", false) => (-8_388_608, 8_388_607),
        ("mediumint", true) => (0, 16_777_215),
        ("int" | "integer", false) => (i64::from(i32::MIN), i64::from(i32::MAX)),
        ("int" | "integer", true) => (0, i64::from(u32::MAX)),
        ("bigint", true) => (0, i64::MAX),
        _ => (i64::MIN, i64::MAX),
    };
    if (min..=max).contains(&i) {
        Ok(())
    } else {
        Err(format!("out of range for {declared}"))
    }
}

/// MariaDB's `float(M,D)` and `double(M,D)` round to `D` decimals and
/// clamp to `M` digits: the float's shortest decimal text must fit them as a
/// `decimal(M,D)` would.
fn mysql_float(kind: &ColumnKind, declared: &str, x: f64) -> Result<(), String> {
    let (_, precision, scale) = type_args(declared);
    if precision.is_none() || scale.is_none() || !x.is_finite() {
        return Ok(());
    }
    #[allow(clippy::cast_possible_truncation)] // a float column's value is an f32
    let text = match kind {
        ColumnKind::Float32 => format!("{:?}", x as f32),
        _ => format!("{x:?}"),
    };
    decimal(Dialect::MySql, declared, &text)
}

fn mysql_bytes(declared: &str, len: usize) -> Result<(), String> {
    let (base, n, _) = type_args(declared);
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    let max = match base {
        "binary" => {
            let n = n.unwrap_or(1);
            if len < n {
                return Err(format!(
                    "shorter than {n} bytes: {declared} pads it with zero bytes"
                ));
            }
            n
        }
        "varbinary" => n.unwrap_or(u64::MAX),
        "tinyblob" => 255,
        "blob" => 65_535,
        "mediumblob" => 16_777_215,
        _ => u64::MAX,
    };
    if len > max {
        return Err(format!("longer than {max} bytes: too long for {declared}"));
    }
    Ok(())
}

/// PostgreSQL's `jsonb` keeps the last of an object's repeated keys and
/// drops the others, which the review showed: a repeated key is refused.
fn jsonb_keys(text: &str) -> Result<(), String> {
    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};

    struct Unique;

    impl<'de> DeserializeSeed<'de> for Unique {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Unique)
        }
    }

    impl<'de> Visitor<'de> for Unique {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Unique)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key) {
                    return Err(A::Error::custom("repeated key"));
                }
                map.next_value_seed(Unique)?;
            }
            Ok(())
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    Unique.deserialize(&mut de).map_err(|_| {
        "an object repeats a key: jsonb keeps only the last, so production would not \
         store what the review shows"
            .to_owned()
    })
}

/// MariaDB's `DATE` and `DATETIME` hold years 0 to 9999; outside strict
/// mode anything else becomes a zero date.
fn mysql_year(declared: &str, year: i32) -> Result<(), String> {
    if (0..=9999).contains(&year) {
        Ok(())
    } else {
        Err(format!("a year outside 0 to 9999 does not fit {declared}"))
    }
}

/// MariaDB's `TIMESTAMP` holds 1970-01-01 00:00:01 to 2038-01-19 03:14:07
/// UTC (MariaDB 11.5 on 64 bits reaches 2106; the older bound is kept, a
/// refusal rather than a guess); outside strict mode it stores a zero date
/// for anything else.
fn mysql_timestamp_range(declared: &str, unix_seconds: i64) -> Result<(), String> {
    if (1..=i64::from(i32::MAX)).contains(&unix_seconds) {
        Ok(())
    } else {
        Err(format!(
            "outside 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC, the range of {declared}"
        ))
    }
}

/// PostgreSQL's interval input converts a fraction of a unit into smaller
/// units and truncates what they cannot hold (`0.123 years` is `1 mon`),
/// rounds seconds to the column's precision, and a field list other than
/// one ending in `second` drops the fields below it (`interval year to
/// month` keeps no days). Fractions are accepted in seconds only (a time
/// `01:02:03.5`, `1.5 s`, ISO `PT1.5S`), within the precision.
fn pg_interval(declared: &str, s: &str) -> Result<(), String> {
    let fields = declared
        .strip_prefix("interval")
        .unwrap_or(declared)
        .split('(')
        .next()
        .unwrap_or_default()
        .trim();
    if !fields.is_empty() && !fields.ends_with("second") {
        return Err(format!(
            "{declared} drops the fields below its last, which shadowdb does not check"
        ));
    }
    let digits = type_args(declared).1.unwrap_or(6);
    let tokens: Vec<&str> = s.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        let Some(at) = token.find(['.', ',']) else {
            continue;
        };
        let after = token.get(at + 1..).unwrap_or_default();
        let fraction: &str = after
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or_default();
        let unit = after
            .get(fraction.len()..)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let next = tokens
            .get(i + 1)
            .map(|t| t.to_ascii_lowercase())
            .unwrap_or_default();
        let is_seconds = |u: &str| matches!(u, "s" | "sec" | "secs" | "second" | "seconds");
        let seconds = token.contains(':')
            || is_seconds(&unit)
            || (unit.is_empty() && is_seconds(&next))
            || (unit == "s" && token.to_ascii_uppercase().starts_with('P'));
        if !seconds {
            return Err(format!(
                "a fraction of a unit other than seconds: {declared} converts it and \
                 truncates (write whole units, or seconds)"
            ));
        }
        let kept = fraction.trim_end_matches('0').len();
        if u64::try_from(kept).unwrap_or(u64::MAX) > digits {
            return Err(format!(
                "more than {digits} fractional second digits: {declared} would round them"
            ));
        }
    }
    Ok(())
}

/// Fractional seconds beyond the column's precision.
fn fraction(dialect: Dialect, declared: &str, nanos: u32) -> Result<(), String> {
    let (_, n, _) = type_args(declared);
    let digits = match dialect {
        Dialect::Postgres => n.unwrap_or(6),
        Dialect::MySql => n.unwrap_or(0),
        Dialect::Sqlite => return Ok(()),
    }
    .min(9);
    let unit = 10_u32.pow(9 - u32::try_from(digits).unwrap_or(9));
    // A leap second is 1_000_000_000 nanoseconds and up: only its fraction counts.
    if (nanos % 1_000_000_000).is_multiple_of(unit) {
        Ok(())
    } else {
        Err(format!(
            "more than {digits} fractional second digits: {declared} would round them"
        ))
    }
}

#[cfg(test)]
mod tests;
