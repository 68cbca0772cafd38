//! Text forms of dates and times: chrono's own (`%Y-%m-%d %H:%M:%S%.f`),
//! written without a format string and read on a fast path, because the
//! clone writes, and the diff reads, every date of every row. Both the
//! driver layer and the sandbox use them, so they sit here, below both.

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _, Utc};
use safemodel::Value;

/// `digits` decimal digits of `v`, zero-padded (`v` has no more).
fn push_digits(out: &mut String, v: u32, digits: u32) {
    let mut div = 10_u32.pow(digits.saturating_sub(1));
    while div > 0 {
        out.push(char::from(b'0' + u8::try_from(v / div % 10).unwrap_or(0)));
        div /= 10;
    }
}

/// Appends `d` as chrono's `%Y-%m-%d` writes it, without parsing a format
/// string per value (the clone writes every date of every row).
pub(crate) fn push_date(out: &mut String, d: NaiveDate) {
    match u32::try_from(d.year()) {
        Ok(y) if y <= 9999 => {
            push_digits(out, y, 4);
            out.push('-');
            push_digits(out, d.month(), 2);
            out.push('-');
            push_digits(out, d.day(), 2);
        }
        // Signed and five-digit years, as chrono writes them.
        _ => out.push_str(&d.format("%Y-%m-%d").to_string()),
    }
}

/// Appends `t` as chrono's `%H:%M:%S%.f` writes it: a leap second as `60`,
/// and a fraction of 3, 6 or 9 digits, or none.
pub(crate) fn push_time(out: &mut String, t: NaiveTime) {
    push_digits(out, t.hour(), 2);
    out.push(':');
    push_digits(out, t.minute(), 2);
    out.push(':');
    push_digits(out, t.second() + t.nanosecond() / 1_000_000_000, 2);
    let nano = t.nanosecond() % 1_000_000_000;
    if nano != 0 {
        out.push('.');
        if nano.is_multiple_of(1_000_000) {
            push_digits(out, nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            push_digits(out, nano / 1_000, 6);
        } else {
            push_digits(out, nano, 9);
        }
    }
}

/// Appends `t` as chrono's `%Y-%m-%d %H:%M:%S%.f` writes it.
pub(crate) fn push_timestamp(out: &mut String, t: NaiveDateTime) {
    push_date(out, t.date());
    out.push(' ');
    push_time(out, t.time());
}

/// Reads exactly `YYYY-MM-DD HH:MM:SS`, optionally with `.` and one to nine
/// digits: the sandbox's own form, which chrono's parser reads the same.
/// Anything else (another form, a leap second, an invalid date) is `None`,
/// for the caller to hand to chrono.
pub(crate) fn canonical_timestamp(b: &[u8]) -> Option<NaiveDateTime> {
    let num = |from: usize, to: usize| -> Option<u32> {
        let part = b.get(from..to)?;
        part.iter().try_fold(0_u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b' ') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    let (month, day) = (num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if second > 59 {
        return None;
    }
    let nano = match b.get(19..) {
        Some([]) => 0,
        Some([b'.', digits @ ..]) if (1..=9).contains(&digits.len()) => {
            let len = u32::try_from(digits.len()).ok()?;
            num(20, b.len())? * 10_u32.pow(9 - len)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?;
    Some(NaiveDateTime::new(date, time))
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f]` (or with `T`).
pub(crate) fn parse_naive_timestamp(s: &str) -> Option<NaiveDateTime> {
    if let Some(t) = canonical_timestamp(s.as_bytes()) {
        return Some(t);
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

/// Parses an instant: with an offset (`+02:00`, `Z`), or without one as UTC,
/// SQLite's own convention (`datetime('now')` is UTC without an offset).
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = s
        .as_bytes()
        .strip_suffix(b"+00:00")
        .and_then(canonical_timestamp)
    {
        return Some(t.and_utc());
    }
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let z = s.strip_suffix('Z').unwrap_or(s);
            parse_naive_timestamp(z).map(|n| n.and_utc())
        })
}

/// The sandbox's text of a date or time value (`to_sandbox`): `%Y-%m-%d`,
/// `%H:%M:%S%.f`, `%Y-%m-%d %H:%M:%S%.f`, the latter with `+00:00` for an
/// instant.
pub(crate) fn push_time_text(out: &mut String, v: &Value) {
    match v {
        Value::Date(d) => push_date(out, *d),
        Value::Time(t) => push_time(out, *t),
        Value::Timestamp(t) => push_timestamp(out, *t),
        Value::TimestampTz(t) => {
            push_timestamp(out, t.naive_utc());
            out.push_str("+00:00");
        }
        _ => {}
    }
}
