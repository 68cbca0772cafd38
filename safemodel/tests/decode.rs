//! Strict decoding through derived contracts: every path, every violation exact.

// Test code: a broken expectation should panic, helpers and statics included
// (clippy's allow-*-in-tests covers only #[test] functions).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use regex::Regex;
use safemodel::{
    CheckOptions, Decimal, Error, Json, Row, Rule, SafeEnum, SafeModel, SqlType, ValidationError,
    Value, Violation, registry,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, SafeEnum)]
#[safemodel(rename_all = "snake_case")]
enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

#[derive(Debug, PartialEq, SafeModel)]
#[safemodel(table = "tasks", tenant = "user_id")]
struct Task {
    #[safemodel(primary_key)]
    id: i64,
    user_id: i64,
    #[validate(length(min = 1, max = 200))]
    title: String,
    status: TaskStatus,
    #[safemodel(pii)]
    #[validate(email)]
    email: Option<String>,
}

fn task_row() -> Row {
    Row::new()
        .with("id", 7_i64)
        .with("user_id", 42_i64)
        .with("title", "Write the report")
        .with("status", "in_progress")
        .with("email", "ada@example.com")
}

/// The row with one column's value replaced.
fn task_with(column: &str, value: impl Into<Value>) -> Row {
    task_row().with(column, value)
}

fn violations(
    result: Result<impl std::fmt::Debug, safemodel::RowViolations>,
) -> Vec<(String, Rule)> {
    result
        .unwrap_err()
        .violations
        .into_iter()
        .map(|v| (v.column, v.rule))
        .collect()
}

fn col(column: &str, rule: Rule) -> (String, Rule) {
    (column.to_owned(), rule)
}

#[test]
fn a_good_row_decodes_and_round_trips() {
    let task = Task::from_row(&task_row()).unwrap();
    assert_eq!(
        task,
        Task {
            id: 7,
            user_id: 42,
            title: "Write the report".to_owned(),
            status: TaskStatus::InProgress,
            email: Some("ada@example.com".to_owned()),
        }
    );
    assert_eq!(task.to_row(), task_row());
    assert_eq!(
        task.to_row().columns().collect::<Vec<_>>(),
        ["id", "user_id", "title", "status", "email"]
    );
    assert!(task.validate().is_ok());
    assert!(Task::check_row(&task_row(), CheckOptions::strict()).is_ok());
}

#[test]
fn columns_are_found_in_any_order() {
    let row = Row::new()
        .with("email", Value::Null)
        .with("status", "done")
        .with("title", "t")
        .with("user_id", 1_i64)
        .with("id", 2_i64);
    let task = Task::from_row(&row).unwrap();
    assert_eq!(
        (task.id, task.status, task.email),
        (2, TaskStatus::Done, None)
    );
}

#[test]
fn the_spec_line() {
    let err = Task::from_row(&task_with("status", "yolo_swag")).unwrap_err();
    assert_eq!(
        err.violations,
        [Violation::new(
            "status",
            Rule::Enum,
            "not one of todo, in_progress, done"
        )]
    );
    assert_eq!((err.table.as_str(), err.key.as_str()), ("tasks", "id=7"));
    assert_eq!(
        err.to_string(),
        "tasks[id=7].status: not one of todo, in_progress, done"
    );
}

#[test]
fn enum_text_is_exact() {
    for text in [
        "Todo",
        "TODO",
        " todo",
        "todo ",
        "in-progress",
        "InProgress",
        "",
    ] {
        let err = Task::from_row(&task_with("status", text)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tasks[id=7].status: not one of todo, in_progress, done",
            "{text:?}"
        );
    }
    let err = Task::from_row(&task_with("status", 1_i64)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tasks[id=7].status: expected text, got integer"
    );
}

#[test]
fn wrong_types_are_rejected_not_coerced() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "user_id",
            Value::Text("42".into()),
            "tasks[id=7].user_id: expected integer, got text",
        ),
        (
            "user_id",
            Value::Float(42.0),
            "tasks[id=7].user_id: expected integer, got float",
        ),
        (
            "user_id",
            Value::Bool(true),
            "tasks[id=7].user_id: expected integer, got boolean",
        ),
        (
            "user_id",
            Value::Decimal(Decimal::new("42").unwrap()),
            "tasks[id=7].user_id: expected integer, got decimal",
        ),
        (
            "title",
            Value::Bytes(b"Write".to_vec()),
            "tasks[id=7].title: expected text, got bytes",
        ),
        (
            "title",
            Value::Bytes(vec![0xff, 0xfe]),
            "tasks[id=7].title: expected text, got bytes",
        ),
        (
            "title",
            Value::Int(5),
            "tasks[id=7].title: expected text, got integer",
        ),
        (
            "title",
            Value::Null,
            "tasks[id=7].title: NULL is not allowed",
        ),
        (
            "status",
            Value::Null,
            "tasks[id=7].status: NULL is not allowed",
        ),
    ];
    for (column, value, line) in cases {
        let err = Task::from_row(&task_with(column, value.clone())).unwrap_err();
        assert_eq!(err.to_string(), line, "{column} = {value:?}");
        assert_eq!(err.violations.len(), 1);
    }
    assert_eq!(
        violations(Task::from_row(&task_with("user_id", Value::Null))),
        [col("user_id", Rule::NotNull)]
    );
    assert_eq!(
        violations(Task::from_row(&task_with(
            "title",
            "42".as_bytes().to_vec()
        ))),
        [col("title", Rule::Type)]
    );
}

#[test]
fn null_into_an_option_is_none_and_a_missing_option_column_too() {
    let task = Task::from_row(&task_with("email", Value::Null)).unwrap();
    assert_eq!(task.email, None);
    let row: Row = task_row()
        .iter()
        .filter(|(c, _)| *c != "email")
        .map(|(c, v)| (c, v.clone()))
        .collect();
    assert_eq!(Task::from_row(&row).unwrap().email, None);
}

#[test]
fn missing_and_unknown_columns() {
    let row = Row::new()
        .with("nickname", "x")
        .with("id", 7_i64)
        .with("title", "t")
        .with("status", "todo")
        .with("deleted_at", Value::Null);
    let err = Task::from_row(&row).unwrap_err();
    assert_eq!(
        err.violations,
        [
            Violation::new("user_id", Rule::Missing, "required column is missing"),
            Violation::new(
                "nickname",
                Rule::UnknownColumn,
                "column is not in the contract"
            ),
            Violation::new(
                "deleted_at",
                Rule::UnknownColumn,
                "column is not in the contract"
            ),
        ]
    );
    assert_eq!(
        err.to_string(),
        "tasks[id=7].user_id: required column is missing\n\
         tasks[id=7].nickname: column is not in the contract\n\
         tasks[id=7].deleted_at: column is not in the contract"
    );
    let err = Task::from_row(&Row::new()).unwrap_err();
    assert_eq!(err.key, "id=?");
    assert_eq!(
        violations(Err::<(), _>(err)),
        [
            col("id", Rule::Missing),
            col("user_id", Rule::Missing),
            col("title", Rule::Missing),
            col("status", Rule::Missing)
        ]
    );
}

#[test]
fn a_repeated_column_is_a_violation() {
    let names: Arc<[Box<str>]> = ["id", "user_id", "title", "status", "title"]
        .map(Box::from)
        .into();
    let row = Row::with_columns(
        names,
        vec![
            7_i64.into(),
            42_i64.into(),
            "a".into(),
            "todo".into(),
            "b".into(),
        ],
    );
    let err = Task::from_row(&row).unwrap_err();
    assert_eq!(
        err.violations,
        [Violation::new(
            "title",
            Rule::UnknownColumn,
            "column appears more than once in the row"
        )]
    );
}

#[test]
fn every_violation_of_a_row_in_column_order() {
    let row = Row::new()
        .with("id", "7")
        .with("user_id", 1_i64 << 40)
        .with("title", "")
        .with("status", "Done")
        .with("email", "not an email")
        .with("extra", 1_i64);
    let err = Task::from_row(&row).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tasks[id=\"7\"].id: expected integer, got text\n\
         tasks[id=\"7\"].title: length must be between 1 and 200\n\
         tasks[id=\"7\"].status: not one of todo, in_progress, done\n\
         tasks[id=\"7\"].email: not a valid email address\n\
         tasks[id=\"7\"].extra: column is not in the contract"
    );
    assert_eq!(
        Task::check_row(&row, CheckOptions::sandbox()).unwrap_err(),
        err
    );
}

#[test]
fn overlong_and_empty_text() {
    let long = "x".repeat(201);
    let err = Task::from_row(&task_with("title", long.as_str())).unwrap_err();
    assert_eq!(
        err.violations,
        [Violation::new(
            "title",
            Rule::Length,
            "length must be between 1 and 200"
        )]
    );
    // Length counts characters, not bytes.
    assert!(Task::from_row(&task_with("title", "é".repeat(200).as_str())).is_ok());
    assert_eq!(
        violations(Task::from_row(&task_with("title", ""))),
        [col("title", Rule::Length)]
    );
    // Text is never trimmed: a lone space is one character.
    assert_eq!(Task::from_row(&task_with("title", " ")).unwrap().title, " ");
}

#[test]
fn pii_values_never_reach_a_message() {
    let secret = "ada.lovelace.secret@@example";
    let err = Task::from_row(&task_with("email", secret)).unwrap_err();
    assert_eq!(
        err.violations,
        [Violation::new(
            "email",
            Rule::Email,
            "not a valid email address"
        )]
    );
    assert!(!err.to_string().contains("ada"));
    assert!(!format!("{err:?}").contains("ada"));
    let err = Task::from_row(&task_with(
        "email",
        Value::Bytes(secret.as_bytes().to_vec()),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tasks[id=7].email: expected text, got bytes"
    );
}

#[test]
fn a_sandbox_row_may_lack_pii_columns() {
    #[derive(Debug, SafeModel)]
    #[safemodel(table = "profiles", tenant = "user_id")]
    struct Profile {
        #[safemodel(primary_key)]
        user_id: i64,
        #[safemodel(pii)]
        phone: String,
    }
    let row = Row::new().with("user_id", 3_i64);
    assert!(Profile::check_row(&row, CheckOptions::sandbox()).is_ok());
    let err = Profile::check_row(&row, CheckOptions::strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "profiles[user_id=3].phone: required column is missing"
    );
    assert_eq!(Profile::from_row(&row).unwrap_err(), err);
    // Present PII is still checked, and the value still not shown.
    let err =
        Profile::check_row(&row.with("phone", 5551234_i64), CheckOptions::sandbox()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "profiles[user_id=3].phone: expected text, got integer"
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, SafeEnum)]
enum Plain {
    Alpha,
    #[safemodel(rename = "b")]
    Beta,
}

#[derive(Debug, PartialEq, SafeModel)]
#[safemodel(table = "app.every_type", tenant = "tenant")]
struct EveryType {
    #[safemodel(primary_key)]
    a_i8: i8,
    #[safemodel(primary_key)]
    a_i16: i16,
    a_i32: i32,
    tenant: i64,
    a_u8: u8,
    a_u16: u16,
    a_u32: u32,
    a_u64: u64,
    a_f32: f32,
    a_f64: f64,
    a_bool: bool,
    a_text: String,
    a_bytes: Vec<u8>,
    a_decimal: Decimal,
    a_uuid: uuid::Uuid,
    a_date: NaiveDate,
    a_time: NaiveTime,
    a_timestamp: NaiveDateTime,
    a_timestamptz: DateTime<Utc>,
    a_json_value: serde_json::Value,
    a_json: Json,
    a_enum: Plain,
    #[safemodel(rename = "maybe")]
    a_option: Option<i32>,
}

fn every_row() -> Row {
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let time = NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    Row::new()
        .with("a_i8", -8_i64)
        .with("a_i16", 16_i64)
        .with("a_i32", 32_i64)
        .with("tenant", 42_i64)
        .with("a_u8", 255_i64)
        .with("a_u16", 16_i64)
        .with("a_u32", 32_i64)
        .with("a_u64", i64::MAX)
        .with("a_f32", 0.5_f64)
        .with("a_f64", 0.1_f64)
        .with("a_bool", true)
        .with("a_text", "text")
        .with("a_bytes", vec![0_u8, 0xff])
        .with(
            "a_decimal",
            Decimal::new("123456789012345678901234567890.1234567890").unwrap(),
        )
        .with("a_uuid", uuid::Uuid::from_u128(0x1234))
        .with("a_date", date)
        .with("a_time", time)
        .with("a_timestamp", date.and_time(time))
        .with("a_timestamptz", date.and_time(time).and_utc())
        .with("a_json_value", Json::new(r#"{"n":[1,2]}"#).unwrap())
        .with("a_json", Json::new("12345678901234567890.5").unwrap())
        .with("a_enum", "b")
        .with("maybe", Value::Null)
}

#[test]
fn every_supported_type_decodes_and_encodes() {
    let m = EveryType::from_row(&every_row()).unwrap();
    assert_eq!(
        (m.a_i8, m.a_u8, m.a_u64, m.a_f32),
        (-8, 255, u64::try_from(i64::MAX).unwrap(), 0.5)
    );
    assert_eq!(
        m.a_decimal.as_str(),
        "123456789012345678901234567890.1234567890"
    );
    assert_eq!(m.a_json_value, serde_json::json!({"n": [1, 2]}));
    assert_eq!(m.a_enum, Plain::Beta);
    assert_eq!(m.a_option, None);
    assert_eq!(m.to_row(), every_row());

    let info = EveryType::info();
    assert_eq!(
        (info.table, info.tenant, info.primary_key),
        ("app.every_type", "tenant", &["a_i8", "a_i16"][..])
    );
    assert_eq!(info.type_name, "decode::EveryType");
    let families: Vec<SqlType> = info.columns.iter().map(|c| c.sql_type).collect();
    use SqlType as S;
    assert_eq!(
        families,
        [
            S::Int,
            S::Int,
            S::Int,
            S::Int,
            S::Int,
            S::Int,
            S::Int,
            S::Int,
            S::Float,
            S::Float,
            S::Bool,
            S::Text,
            S::Bytes,
            S::Decimal,
            S::Uuid,
            S::Date,
            S::Time,
            S::Timestamp,
            S::TimestampTz,
            S::Json,
            S::Json,
            S::Text,
            S::Int,
        ]
    );
    let maybe = info.column("maybe").unwrap();
    assert_eq!((maybe.field, maybe.nullable), ("a_option", true));
    assert_eq!(
        info.column("a_enum").unwrap().variants,
        Some(&["Alpha", "b"][..])
    );
    assert!(info.column("a_i8").unwrap().primary_key);
    assert_eq!(info.key_of(&every_row()), "a_i8=-8,a_i16=16");
}

#[test]
fn out_of_range_numbers() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("a_u8", Value::Int(300), "out of range for u8"),
        ("a_u8", Value::Int(-1), "out of range for u8"),
        ("a_i8", Value::Int(300), "out of range for i8"),
        ("a_i8", Value::Int(-129), "out of range for i8"),
        ("a_i32", Value::Int(1 << 40), "out of range for i32"),
        ("a_u64", Value::Int(-1), "out of range for u64"),
        ("a_f32", Value::Float(0.1), "out of range for f32"),
        ("a_f64", Value::Int(1 << 60), "out of range for f64"),
        ("maybe", Value::Int(1 << 40), "out of range for i32"),
    ];
    for (column, value, message) in cases {
        let err = EveryType::from_row(&every_row().with(column, value.clone())).unwrap_err();
        assert_eq!(
            err.violations,
            [Violation::new(column, Rule::OutOfRange, message)],
            "{column} = {value:?}"
        );
    }
    // An integer a float holds exactly is accepted.
    assert_eq!(
        EveryType::from_row(&every_row().with("a_f64", 3_i64))
            .unwrap()
            .a_f64,
        3.0
    );
}

#[test]
fn exact_families_do_not_mix() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "a_decimal",
            Value::Float(1.5),
            "expected decimal, got float",
        ),
        (
            "a_decimal",
            Value::Text("1.5".into()),
            "expected decimal, got text",
        ),
        (
            "a_bytes",
            Value::Text("\\x00ff".into()),
            "expected bytes, got text",
        ),
        ("a_bool", Value::Int(1), "expected boolean, got integer"),
        (
            "a_bool",
            Value::Text("true".into()),
            "expected boolean, got text",
        ),
        (
            "a_uuid",
            Value::Text("00000000-0000-0000-0000-000000001234".into()),
            "expected uuid, got text",
        ),
        (
            "a_date",
            Value::Text("2024-02-29".into()),
            "expected date, got text",
        ),
        (
            "a_timestamptz",
            Value::Timestamp(
                NaiveDate::from_ymd_opt(2024, 1, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap(),
            ),
            "expected timestamptz, got timestamp",
        ),
        (
            "a_json_value",
            Value::Text("{}".into()),
            "expected json, got text",
        ),
        ("a_json", Value::Null, "NULL is not allowed"),
        (
            "a_text",
            Value::Json(Json::new("\"text\"").unwrap()),
            "expected text, got json",
        ),
    ];
    for (column, value, message) in cases {
        let err = EveryType::from_row(&every_row().with(column, value.clone())).unwrap_err();
        assert_eq!(err.violations.len(), 1, "{column} = {value:?}");
        assert_eq!(err.violations[0].column, column);
        assert_eq!(err.violations[0].message, message, "{column} = {value:?}");
        assert_eq!(
            err.to_string(),
            format!("app.every_type[a_i8=-8,a_i16=16].{column}: {message}")
        );
    }
    // An integer is an exact decimal.
    let m = EveryType::from_row(&every_row().with("a_decimal", 12_i64)).unwrap();
    assert_eq!(m.a_decimal.as_str(), "12");
}

static SKU: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z]{3}-\d{4}$").unwrap());

fn not_shouting(text: &str) -> Result<(), ValidationError> {
    if text.chars().any(char::is_lowercase) {
        Ok(())
    } else {
        Err(ValidationError::new("shouting").with_message(format!("{text} is all capitals").into()))
    }
}

fn even(n: &i64) -> Result<(), ValidationError> {
    if n % 2 == 0 {
        Ok(())
    } else {
        Err(ValidationError::new("odd"))
    }
}

#[derive(Debug, PartialEq, SafeModel)]
#[safemodel(table = "products", tenant = "shop_id")]
struct Product {
    #[safemodel(primary_key)]
    #[validate(custom(function = even))]
    id: i64,
    shop_id: i64,
    #[validate(regex(path = *SKU))]
    sku: String,
    #[validate(regex(path = SKU, message = "a SKU looks like ABC-1234"))]
    old_sku: Option<String>,
    #[validate(length(min = 2), custom(function = not_shouting))]
    name: String,
    #[validate(length(max = 5))]
    tag: Option<String>,
    #[validate(length(equal = 2))]
    country: String,
    #[validate(url)]
    homepage: Option<String>,
    #[validate(range(min = 0, max = 100))]
    discount: i32,
    #[validate(range(exclusive_min = 0.0))]
    price: f64,
    #[validate(range(min = 1, exclusive_max = 10))]
    stock: Option<u8>,
    #[safemodel(pii)]
    #[validate(custom(function = not_shouting))]
    owner_name: String,
}

fn product_row() -> Row {
    Row::new()
        .with("id", 2_i64)
        .with("shop_id", 1_i64)
        .with("sku", "ABC-1234")
        .with("old_sku", Value::Null)
        .with("name", "Lamp")
        .with("tag", Value::Null)
        .with("country", "FR")
        .with("homepage", "https://example.com/lamp")
        .with("discount", 0_i64)
        .with("price", 9.5_f64)
        .with("stock", 9_i64)
        .with("owner_name", "Ada")
}

/// A violation of the custom `shouting` rule.
fn shouting(column: &str, message: &str) -> Violation {
    Violation::new(column, Rule::Custom("shouting".into()), message)
}

#[test]
fn every_field_rule() {
    let product = Product::from_row(&product_row()).unwrap();
    assert!(product.validate().is_ok());

    let bad = product_row()
        .with("id", 3_i64)
        .with("sku", "abc-1234")
        .with("old_sku", "nope")
        .with("name", "LAMP")
        .with("tag", "toolong")
        .with("country", "FRA")
        .with("homepage", "not a url")
        .with("discount", 101_i64)
        .with("price", 0.0_f64)
        .with("stock", 10_i64)
        .with("owner_name", "ADA LOVELACE");
    let err = Product::from_row(&bad).unwrap_err();
    assert_eq!(
        err.violations,
        [
            Violation::new("id", Rule::Custom("odd".into()), "failed the `odd` check"),
            Violation::new("sku", Rule::Regex, "does not match the required pattern"),
            Violation::new("old_sku", Rule::Regex, "a SKU looks like ABC-1234"),
            shouting("name", "LAMP is all capitals"),
            Violation::new("tag", Rule::Length, "length must be at most 5"),
            Violation::new("country", Rule::Length, "length must be exactly 2"),
            Violation::new("homepage", Rule::Url, "not a valid URL"),
            Violation::new("discount", Rule::Range, "must be between 0 and 100"),
            Violation::new("price", Rule::Range, "must be greater than 0"),
            Violation::new("stock", Rule::Range, "must be at least 1 and less than 10"),
            // PII: the custom function's message quotes the value, so it is not used.
            shouting("owner_name", "failed the `shouting` check"),
        ]
    );
    assert_eq!(err.key, "id=3");
    assert!(!err.to_string().contains("LOVELACE"));
    assert_eq!(
        violations(Product::from_row(&product_row().with("name", "L"))),
        [
            col("name", Rule::Length),
            col("name", Rule::Custom("shouting".into()))
        ]
    );
    assert_eq!(
        Product::from_row(&product_row().with("name", "l"))
            .unwrap_err()
            .violations,
        [Violation::new(
            "name",
            Rule::Length,
            "length must be at least 2"
        )]
    );
}

#[test]
fn validate_applies_the_rules_to_a_value_built_in_rust() {
    let mut product = Product::from_row(&product_row()).unwrap();
    product.discount = -1;
    product.tag = Some("much too long".into());
    let err = product.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "products[id=2].tag: length must be at most 5\nproducts[id=2].discount: must be between 0 and 100"
    );
    // Rules apply to an Option only when it holds a value.
    product.tag = None;
    product.discount = 0;
    assert!(product.validate().is_ok());
    // A model without rules is always valid.
    let task = Task::from_row(&task_row()).unwrap();
    assert!(task.validate().is_ok());
}

#[derive(Debug, SafeModel)]
#[safemodel(table = "memberships", tenant = "org")]
struct Membership {
    #[safemodel(primary_key)]
    org: String,
    #[safemodel(primary_key, rename = "user")]
    user_id: uuid::Uuid,
    #[safemodel(rename = "type")]
    r#type: String,
}

#[test]
fn composite_text_keys_are_quoted() {
    let row = Row::new()
        .with("org", "acme")
        .with("user", uuid::Uuid::from_u128(1))
        .with("type", 1_i64);
    let err = Membership::from_row(&row).unwrap_err();
    assert_eq!(
        err.to_string(),
        "memberships[org=\"acme\",user=00000000-0000-0000-0000-000000000001].type: expected text, got integer"
    );
    let info = Membership::info();
    assert_eq!(info.primary_key, ["org", "user"]);
    assert_eq!(info.column("type").unwrap().field, "type");
}

#[test]
fn registry_finds_and_validates_every_contract() {
    let reg = registry();
    assert!(reg.check().is_ok());
    let model = reg.get("tasks").unwrap().unwrap();
    assert_eq!(model.info().type_name, "decode::Task");
    assert!(reg.get("nope").unwrap().is_none());
    assert!(reg.tables().any(|t| t == "app.every_type"));
    assert!(reg.validate("tasks", &task_row()).is_ok());
    let err = reg
        .validate("tasks", &task_with("status", "yolo_swag"))
        .unwrap_err();
    assert!(matches!(&err, Error::Violations(v) if v.violations.len() == 1));
    assert_eq!(
        err.to_string(),
        "tasks[id=7].status: not one of todo, in_progress, done"
    );
    assert!(matches!(
        reg.validate("nope", &task_row()),
        Err(Error::UnknownTable { table }) if table == "nope"
    ));
    assert!(model.check_row(&task_row(), CheckOptions::strict()).is_ok());
}

#[test]
fn enum_contract() {
    assert_eq!(
        <TaskStatus as SafeEnum>::VARIANTS,
        ["todo", "in_progress", "done"]
    );
    assert_eq!(
        TaskStatus::from_name("in_progress"),
        Some(TaskStatus::InProgress)
    );
    assert_eq!(TaskStatus::from_name("In_Progress"), None);
    assert_eq!(TaskStatus::Done.name(), "done");
    assert_eq!(
        safemodel::FieldType::to_value(&TaskStatus::Todo),
        Value::Text("todo".into())
    );
    assert_eq!(<Plain as SafeEnum>::VARIANTS, ["Alpha", "b"]);
}
