//! Every supported field type, and `Option<T>` of each.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use safemodel::{Decimal, Json, SafeEnum, SafeModel, SqlType};

#[derive(Debug, Clone, Copy, PartialEq, SafeEnum)]
enum Colour {
    Red,
    Green,
}

#[derive(SafeModel)]
#[safemodel(table = "every_type", tenant = "tenant_id")]
struct EveryType {
    #[safemodel(primary_key)]
    id: i64,
    tenant_id: i64,
    a_i8: i8,
    a_i16: i16,
    a_i32: i32,
    a_u8: u8,
    a_u16: u16,
    a_u32: u32,
    a_u64: u64,
    a_f32: f32,
    a_f64: f64,
    a_bool: bool,
    a_string: String,
    a_bytes: Vec<u8>,
    a_decimal: Decimal,
    a_full_decimal: safemodel::Decimal,
    a_uuid: uuid::Uuid,
    a_date: NaiveDate,
    a_time: NaiveTime,
    a_timestamp: NaiveDateTime,
    a_timestamptz: DateTime<Utc>,
    a_full_timestamptz: chrono::DateTime<chrono::Utc>,
    a_json_value: serde_json::Value,
    a_json: Json,
    a_enum: Colour,
    o_i8: Option<i8>,
    o_i16: Option<i16>,
    o_i32: Option<i32>,
    o_i64: Option<i64>,
    o_u8: Option<u8>,
    o_u16: Option<u16>,
    o_u32: Option<u32>,
    o_u64: Option<u64>,
    o_f32: Option<f32>,
    o_f64: Option<f64>,
    o_bool: Option<bool>,
    o_string: Option<String>,
    o_bytes: Option<Vec<u8>>,
    o_decimal: Option<Decimal>,
    o_uuid: Option<uuid::Uuid>,
    o_date: Option<NaiveDate>,
    o_time: Option<NaiveTime>,
    o_timestamp: Option<NaiveDateTime>,
    o_timestamptz: Option<DateTime<Utc>>,
    o_json_value: Option<serde_json::Value>,
    o_json: Option<Json>,
    o_enum: Option<Colour>,
    o_full_path: std::option::Option<i64>,
}

fn main() {
    let info = EveryType::info();
    assert_eq!(info.columns.len(), 48);
    assert_eq!(
        info.column("a_enum").map(|c| c.sql_type),
        Some(SqlType::Text)
    );
    assert!(
        info.columns
            .iter()
            .filter(|c| c.name.starts_with("o_"))
            .all(|c| c.nullable)
    );
}
