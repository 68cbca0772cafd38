//! How a cloned row's columns go into a [`CloneBatch`]: decoded into a
//! [`Value`] first, or, for PostgreSQL's plain binary forms, straight from
//! the wire (the clone reads every value of every row of the tenant).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use safemodel::Value;
use sqlx::{Row as _, ValueRef as _};

use super::batch::CloneBatch;
use super::decode::{DecodeRow, decode_pg};
use crate::model::ColumnSchema;
use crate::types::ColumnKind;

/// How the clone reads the columns of a production row into a
/// [`CloneBatch`]: by default decoded, then pushed.
pub(crate) trait CloneRow: DecodeRow {
    /// How [`CloneRow::clone_into`] reads column `i` of this row and of
    /// every other row of its result (which shares its column types).
    fn plan(&self, _i: usize, _col: &ColumnSchema) -> Wire {
        Wire::Decode
    }

    /// Appends column `i` to `batch` as the sandbox stores it.
    fn clone_into(
        &self,
        i: usize,
        col: &ColumnSchema,
        _wire: Wire,
        batch: &mut CloneBatch,
    ) -> std::result::Result<(), String> {
        push_decoded(&self.decode(i, col)?, batch)
    }
}

/// Appends a decoded value to a clone batch. SQLite stores a bound NaN as
/// NULL: it is refused rather than changed.
fn push_decoded(value: &Value, batch: &mut CloneBatch) -> std::result::Result<(), String> {
    if matches!(value, Value::Float(x) if x.is_nan()) {
        return Err(NAN.to_owned());
    }
    batch.push(value);
    Ok(())
}

impl CloneRow for sqlx::postgres::PgRow {
    fn plan(&self, i: usize, col: &ColumnSchema) -> Wire {
        pg_wire(self, i, col)
    }

    fn clone_into(
        &self,
        i: usize,
        col: &ColumnSchema,
        wire: Wire,
        batch: &mut CloneBatch,
    ) -> std::result::Result<(), String> {
        if wire != Wire::Decode
            && let Some(done) = pg_wire_into(self, i, wire, batch)
        {
            return done;
        }
        push_decoded(&decode_pg(self, i, col)?, batch)
    }
}
impl CloneRow for sqlx::mysql::MySqlRow {}
impl CloneRow for sqlx::sqlite::SqliteRow {}

/// Why a NaN float is not cloned.
const NAN: &str = "a NaN float, which the sandbox (SQLite) cannot hold";

/// How the clone reads a column: decoded into a [`Value`], or (PostgreSQL)
/// straight from its binary wire form, for the types whose form is plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Decode,
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    Uuid,
    Date,
    Timestamp,
    TimestampTz,
}

/// The [`Wire`] of column `i` of a PostgreSQL result: only where the type
/// `decode_pg` reads the column as accepts the column's type, as its
/// `try_get` checks.
fn pg_wire(row: &sqlx::postgres::PgRow, i: usize, col: &ColumnSchema) -> Wire {
    use sqlx::{Column as _, Type};
    type Pg = sqlx::Postgres;
    let Some(c) = row.columns().get(i) else {
        return Wire::Decode;
    };
    let ty = c.type_info();
    match &col.kind {
        ColumnKind::Bool if <bool as Type<Pg>>::compatible(ty) => Wire::Bool,
        ColumnKind::Int16 if <i16 as Type<Pg>>::compatible(ty) => Wire::I16,
        ColumnKind::Int32 if <i32 as Type<Pg>>::compatible(ty) => Wire::I32,
        ColumnKind::Int64 | ColumnKind::UInt64 if <i64 as Type<Pg>>::compatible(ty) => Wire::I64,
        ColumnKind::Float32 if <f32 as Type<Pg>>::compatible(ty) => Wire::F32,
        ColumnKind::Float64 if <f64 as Type<Pg>>::compatible(ty) => Wire::F64,
        ColumnKind::Text | ColumnKind::Interval | ColumnKind::Enum(_) | ColumnKind::Array
            if <String as Type<Pg>>::compatible(ty) =>
        {
            Wire::Text
        }
        ColumnKind::Bytes if <Vec<u8> as Type<Pg>>::compatible(ty) => Wire::Bytes,
        ColumnKind::Uuid if <uuid::Uuid as Type<Pg>>::compatible(ty) => Wire::Uuid,
        ColumnKind::Date if <NaiveDate as Type<Pg>>::compatible(ty) => Wire::Date,
        ColumnKind::Timestamp if <NaiveDateTime as Type<Pg>>::compatible(ty) => Wire::Timestamp,
        ColumnKind::TimestampTz if <DateTime<Utc> as Type<Pg>>::compatible(ty) => Wire::TimestampTz,
        _ => Wire::Decode,
    }
}

/// PostgreSQL's epoch (2000-01-01) in days from the common era and in
/// microseconds from the Unix epoch.
pub(super) const PG_EPOCH_DAYS_FROM_CE: i32 = 730_120;
pub(super) const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Appends column `i` of `row` to `batch` from its binary form, as
/// `decode_pg` then [`CloneBatch::push`] would store it. `None` for anything
/// unexpected (a text form, an odd length, a value out of chrono's range):
/// the caller decodes it the general way, which reports what is wrong.
fn pg_wire_into(
    row: &sqlx::postgres::PgRow,
    i: usize,
    wire: Wire,
    batch: &mut CloneBatch,
) -> Option<std::result::Result<(), String>> {
    let raw = row.try_get_raw(i).ok()?;
    if raw.is_null() {
        batch.push_null();
        return Some(Ok(()));
    }
    if raw.format() != sqlx::postgres::PgValueFormat::Binary {
        return None;
    }
    let b = raw.as_bytes().ok()?;
    let micros = || b.try_into().ok().map(i64::from_be_bytes);
    match wire {
        Wire::Decode => return None,
        Wire::Bool => batch.push_int(i64::from(*b.first()? != 0)),
        Wire::I16 => batch.push_int(i16::from_be_bytes(b.try_into().ok()?).into()),
        Wire::I32 => batch.push_int(i32::from_be_bytes(b.try_into().ok()?).into()),
        Wire::I64 => batch.push_int(i64::from_be_bytes(b.try_into().ok()?)),
        Wire::F32 | Wire::F64 => {
            let x = match wire {
                Wire::F32 => f64::from(f32::from_be_bytes(b.try_into().ok()?)),
                _ => f64::from_be_bytes(b.try_into().ok()?),
            };
            if x.is_nan() {
                return Some(Err(NAN.to_owned()));
            }
            batch.push_real(x);
        }
        Wire::Text => batch.push_text(std::str::from_utf8(b).ok()?),
        Wire::Bytes => batch.push_blob(b),
        Wire::Uuid => batch.push(&Value::Uuid(uuid::Uuid::from_slice(b).ok()?)),
        Wire::Date => {
            let days = i32::from_be_bytes(b.try_into().ok()?);
            let date =
                NaiveDate::from_num_days_from_ce_opt(days.checked_add(PG_EPOCH_DAYS_FROM_CE)?)?;
            batch.push(&Value::Date(date));
        }
        Wire::Timestamp | Wire::TimestampTz => {
            let t = DateTime::from_timestamp_micros(micros()?.checked_add(PG_EPOCH_UNIX_MICROS)?)?;
            batch.push(&match wire {
                Wire::Timestamp => Value::Timestamp(t.naive_utc()),
                _ => Value::TimestampTz(t),
            });
        }
    }
    Some(Ok(()))
}
