//! Unit tests of the declared-type checks, per dialect.

use super::*;

fn col(kind: ColumnKind, declared: &str) -> ColumnSchema {
    ColumnSchema {
        name: "c".into(),
        declared_type: declared.into(),
        kind,
        nullable: true,
        has_default: false,
        generated: false,
        computed: false,
    }
}

fn dec(s: &str) -> Value {
    Value::Decimal(safemodel::Decimal::new(s).unwrap())
}

fn text_value(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn postgres_intervals_are_not_truncated() {
    let iv = |declared: &str, v: &str| {
        check(
            Dialect::Postgres,
            &col(ColumnKind::Interval, declared),
            &text_value(v),
        )
    };
    for ok in [
        "1 year 2 mons 3 days 04:05:06.123456",
        "1.5 s",
        "1.5 seconds",
        "1.5sec",
        "PT1.5S",
        "-00:00:01.5",
        "3 days",
        "@ 1 hour",
    ] {
        assert_eq!(iv("interval", ok), Ok(()), "{ok}");
    }
    assert_eq!(
        iv("interval", "0.123 years"),
        Err(
            "a fraction of a unit other than seconds: interval converts it and \
             truncates (write whole units, or seconds)"
                .into()
        )
    );
    assert!(iv("interval", "P0.5Y").is_err());
    assert!(iv("interval", "1.5 days").is_err());
    assert_eq!(
        iv("interval", "00:00:01.1234567"),
        Err("more than 6 fractional second digits: interval would round them".into())
    );
    assert_eq!(
        iv("interval second(0)", "1.5 s"),
        Err("more than 0 fractional second digits: interval second(0) would round them".into())
    );
    assert_eq!(
        iv("interval day to second(3)", "1 day 00:00:01.125"),
        Ok(())
    );
    assert_eq!(
        iv("interval year to month", "1 year"),
        Err(
            "interval year to month drops the fields below its last, which shadowdb \
             does not check"
                .into()
        )
    );
}

#[test]
fn postgres_array_elements_keep_their_element_limits() {
    let elems = |s: &str| pg_array_elements(s);
    assert_eq!(
        elems(r#" { 1.5 , "a,\"b" ,NULL, "NULL", {x\ , y}} "#),
        Some(vec![
            Some("1.5".into()),
            Some("a,\"b".into()),
            None,
            Some("NULL".into()),
            Some("x ".into()),
            Some("y".into()),
        ])
    );
    assert_eq!(elems("{}"), Some(vec![]));
    assert_eq!(elems("[0:1]={1,2}"), None);
    assert_eq!(elems("{1,2"), None);
    assert_eq!(elems("{1,2}x"), None);

    let check_pg = |declared: &str, v: &str| {
        check(
            Dialect::Postgres,
            &col(ColumnKind::Array, declared),
            &text_value(v),
        )
    };
    assert_eq!(check_pg("numeric(5,2)[]", "{1.23,NULL,-999.99}"), Ok(()));
    assert_eq!(
        check_pg("numeric(5,2)[]", "{1.23,1.234}"),
        Err(
            "element 2: more than 2 digits after the point: numeric(5,2) would round \
             it (precision lost); round it explicitly with decimal_round(value, 2) \
             (in numeric(5,2)[])"
                .into()
        )
    );
    assert_eq!(
        check_pg("character varying(3)[][]", r#"{{"abc   "}}"#),
        Err(
            "element 1: longer than 3 characters: too long for character varying(3) \
             (in character varying(3)[][])"
                .into()
        )
    );
    assert_eq!(
        check_pg("character(3)[]", "{abc,ab}"),
        Err(
            "element 2: shorter than 3 characters: character(3) pads it with spaces \
             (in character(3)[])"
                .into()
        )
    );
    assert_eq!(
        check_pg(
            "timestamp(0) without time zone[]",
            r#"{"2024-01-01 00:00:00.5"}"#
        ),
        Err(
            "element 1: more than 0 fractional second digits: timestamp(0) without \
             time zone would round them (in timestamp(0) without time zone[])"
                .into()
        )
    );
    assert_eq!(
        check_pg(
            "timestamp with time zone[]",
            r#"{"2024-01-01 00:00:00.1234560+02"}"#
        ),
        Ok(())
    );
    assert_eq!(check_pg("text[]", "[0:1]={a,b}"), Ok(()));
    assert!(check_pg("numeric(5,2)[]", "[0:1]={1,2}").is_err());
}

#[test]
fn decimals_keep_their_scale_and_precision() {
    let pg = col(ColumnKind::Decimal, "numeric(30,15)");
    let ok = |v: &str| check(Dialect::Postgres, &pg, &dec(v));
    assert_eq!(ok("123456789012345.123456789012345"), Ok(()));
    assert_eq!(ok("-123456789012345.123456789012345000"), Ok(()));
    assert_eq!(
        ok("1.1234567890123456"),
        Err(
            "more than 15 digits after the point: numeric(30,15) would round it \
             (precision lost); round it explicitly with decimal_round(value, 15)"
                .into()
        )
    );
    assert_eq!(
        ok("1234567890123456"),
        Err("more than 15 digits before the point: out of range for numeric(30,15)".into())
    );
    assert_eq!(ok("NaN"), Ok(()));
    assert_eq!(
        ok("Infinity"),
        Err("an infinity does not fit numeric(30,15)".into())
    );
    let free = col(ColumnKind::Decimal, "numeric");
    assert_eq!(
        check(Dialect::Postgres, &free, &dec(&"9".repeat(500))),
        Ok(())
    );

    let hundreds = col(ColumnKind::Decimal, "numeric(5,-2)");
    assert_eq!(check(Dialect::Postgres, &hundreds, &dec("1234500")), Ok(()));
    assert_eq!(
        check(Dialect::Postgres, &hundreds, &dec("1234550")),
        Err("not a multiple of 1e2: numeric(5,-2) would round it (precision lost)".into())
    );
    assert_eq!(
        check(Dialect::Postgres, &hundreds, &dec("12345600")),
        Err("out of range for numeric(5,-2)".into())
    );
    let tiny = col(ColumnKind::Decimal, "numeric(3,5)");
    assert_eq!(check(Dialect::Postgres, &tiny, &dec("0.00123")), Ok(()));
    assert!(check(Dialect::Postgres, &tiny, &dec("0.0123")).is_err());
    assert!(check(Dialect::Postgres, &tiny, &dec("0.000123")).is_err());
    assert_eq!(check(Dialect::Postgres, &pg, &dec("0.000")), Ok(()));
    assert_eq!(
        check(Dialect::Postgres, &pg, &dec("100000000000000")),
        Ok(())
    );
    let my = col(ColumnKind::Decimal, "decimal(5,2)");
    assert!(check(Dialect::MySql, &my, &dec("1.234")).is_err());
    assert_eq!(check(Dialect::MySql, &my, &dec("1.230")), Ok(()));
    assert_eq!(check(Dialect::MySql, &my, &dec("999.99")), Ok(()));
    assert!(check(Dialect::MySql, &my, &dec("1000")).is_err());
    assert!(check(Dialect::MySql, &my, &Value::Int(1000)).is_err());
    let plain = col(ColumnKind::Decimal, "decimal(10,0)");
    assert!(check(Dialect::MySql, &plain, &dec("0.5")).is_err());
    let unsigned = col(ColumnKind::Decimal, "decimal(5,2) unsigned");
    assert_eq!(
        check(Dialect::MySql, &unsigned, &dec("-1")),
        Err("a negative number does not fit decimal(5,2) unsigned".into())
    );
    assert_eq!(check(Dialect::MySql, &unsigned, &dec("-0.00")), Ok(()));

    let lite = col(ColumnKind::Decimal, "DECIMAL(40,20)");
    assert_eq!(check(Dialect::Sqlite, &lite, &dec("1.10")), Ok(()));
    assert_eq!(
        check(Dialect::Sqlite, &lite, &dec("9223372036854775807")),
        Ok(())
    );
    assert!(check(Dialect::Sqlite, &lite, &dec("9223372036854775808")).is_err());
    assert!(check(Dialect::Sqlite, &lite, &dec("1234567890.1234567")).is_err());
}

#[test]
fn jsonb_refuses_repeated_keys() {
    let json = |s: &str| Value::Json(safemodel::Json::new(s).unwrap());
    let jsonb = col(ColumnKind::Json, "jsonb");
    assert_eq!(
        check(
            Dialect::Postgres,
            &jsonb,
            &json(r#"{"a": [1, {"b": 2, "c": 3}], "d": null}"#)
        ),
        Ok(())
    );
    assert_eq!(
        check(Dialect::Postgres, &jsonb, &json(r#"{"a": 1, "a": 2}"#)),
        Err(
            "an object repeats a key: jsonb keeps only the last, so production would not \
             store what the review shows"
                .into()
        )
    );
    assert!(
        check(
            Dialect::Postgres,
            &jsonb,
            &json(r#"[{"x": {"a": 1, "a": 1}}]"#)
        )
        .is_err()
    );
    // `json` keeps the text as written.
    let plain = col(ColumnKind::Json, "json");
    assert_eq!(
        check(Dialect::Postgres, &plain, &json(r#"{"a": 1, "a": 2}"#)),
        Ok(())
    );
}

#[test]
fn text_length_counts_characters() {
    let pg = col(ColumnKind::Text, "character varying(3)");
    assert_eq!(check(Dialect::Postgres, &pg, &text_value("äöü")), Ok(()));
    assert_eq!(
        check(Dialect::Postgres, &pg, &text_value("äöüx")),
        Err("longer than 3 characters: too long for character varying(3)".into())
    );
    let my = col(ColumnKind::Text, "varchar(3)");
    assert_eq!(check(Dialect::MySql, &my, &text_value("日本語")), Ok(()));
    assert!(check(Dialect::MySql, &my, &text_value("日本語x")).is_err());
    let pg_char = col(ColumnKind::Text, "character(3)");
    assert_eq!(
        check(Dialect::Postgres, &pg_char, &text_value("ab")),
        Ok(())
    );
    assert_eq!(
        check(Dialect::Postgres, &pg_char, &text_value("ab ")),
        Err("ends in a space, which character(3) does not keep".into())
    );
    let my_char = col(ColumnKind::Text, "char(2)");
    assert!(check(Dialect::MySql, &my_char, &text_value("a ")).is_err());
    let tiny = col(ColumnKind::Text, "tinytext");
    assert!(check(Dialect::MySql, &tiny, &text_value(&"é".repeat(128))).is_err());
    assert_eq!(
        check(Dialect::MySql, &tiny, &text_value(&"e".repeat(255))),
        Ok(())
    );
    let lite = col(ColumnKind::Text, "VARCHAR(2)");
    assert_eq!(check(Dialect::Sqlite, &lite, &text_value("abc")), Ok(()));
}

#[test]
fn mariadb_integers_keep_their_width() {
    let int = |declared: &str, v: i64| {
        check(
            Dialect::MySql,
            &col(ColumnKind::Int16, declared),
            &Value::Int(v),
        )
    };
    assert_eq!(int("tinyint(4)", 127), Ok(()));
    assert_eq!(
        int("tinyint(4)", 128),
        Err("out of range for tinyint(4)".into())
    );
    assert!(int("tinyint(3) unsigned", -1).is_err());
    assert_eq!(int("tinyint(3) unsigned", 255), Ok(()));
    assert!(int("smallint(6)", 32_768).is_err());
    assert!(int("smallint(5) unsigned", 65_536).is_err());
    assert!(int("mediumint(9)", 8_388_608).is_err());
    assert!(int("int(10) unsigned", 4_294_967_296).is_err());
    assert_eq!(int("int unsigned", 4_294_967_295), Ok(()));
    assert!(int("bigint(20) unsigned", -1).is_err());
}

#[test]
fn mariadb_floats_with_decimals_round() {
    let f = col(ColumnKind::Float32, "float(7,2)");
    assert_eq!(
        check(Dialect::MySql, &f, &Value::Float(f64::from(1.1_f32))),
        Ok(())
    );
    assert_eq!(
        check(Dialect::MySql, &f, &Value::Float(f64::from(-12345.25_f32))),
        Ok(())
    );
    assert!(check(Dialect::MySql, &f, &Value::Float(f64::from(1.255_f32))).is_err());
    assert!(check(Dialect::MySql, &f, &Value::Float(123_456.0)).is_err());
    let d = col(ColumnKind::Float64, "double(10,3)");
    assert_eq!(check(Dialect::MySql, &d, &Value::Float(0.125)), Ok(()));
    assert!(check(Dialect::MySql, &d, &Value::Float(0.1234)).is_err());
    let plain = col(ColumnKind::Float64, "double");
    assert_eq!(check(Dialect::MySql, &plain, &Value::Float(0.1234)), Ok(()));
}

#[test]
fn bytes_and_fractions() {
    let bin = col(ColumnKind::Bytes, "binary(4)");
    assert!(check(Dialect::MySql, &bin, &Value::Bytes(vec![1, 2])).is_err());
    assert_eq!(
        check(Dialect::MySql, &bin, &Value::Bytes(vec![1, 2, 3, 4])),
        Ok(())
    );
    let var = col(ColumnKind::Bytes, "varbinary(2)");
    assert!(check(Dialect::MySql, &var, &Value::Bytes(vec![1, 2, 3])).is_err());

    let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
        .unwrap()
        .and_hms_micro_opt(3, 4, 5, 500_000)
        .unwrap();
    let my = col(ColumnKind::Timestamp, "datetime");
    assert_eq!(
        check(Dialect::MySql, &my, &Value::Timestamp(t)),
        Err("more than 0 fractional second digits: datetime would round them".into())
    );
    let my3 = col(ColumnKind::Timestamp, "datetime(3)");
    assert_eq!(check(Dialect::MySql, &my3, &Value::Timestamp(t)), Ok(()));
    let pg = col(ColumnKind::Timestamp, "timestamp without time zone");
    assert_eq!(check(Dialect::Postgres, &pg, &Value::Timestamp(t)), Ok(()));
    let pg0 = col(ColumnKind::Timestamp, "timestamp(0) without time zone");
    assert!(check(Dialect::Postgres, &pg0, &Value::Timestamp(t)).is_err());
    let ts = col(ColumnKind::TimestampTz, "timestamp(6)");
    let at = |y: i32| {
        Value::TimestampTz(
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, y, 1, 1, 0, 0, 0).unwrap(),
        )
    };
    assert_eq!(check(Dialect::MySql, &ts, &at(2037)), Ok(()));
    assert_eq!(
        check(Dialect::MySql, &ts, &at(2039)),
        Err(
            "outside 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC, the range of timestamp(6)"
                .into()
        )
    );
    assert!(check(Dialect::MySql, &ts, &at(1969)).is_err());
    assert_eq!(
        check(
            Dialect::Postgres,
            &col(ColumnKind::TimestampTz, "timestamp with time zone"),
            &at(2039)
        ),
        Ok(())
    );
    let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
    assert_eq!(
        check(
            Dialect::MySql,
            &col(ColumnKind::Date, "date"),
            &Value::Date(far)
        ),
        Err("a year outside 0 to 9999 does not fit date".into())
    );
    assert!(
        check(
            Dialect::MySql,
            &my,
            &Value::Timestamp(far.and_hms_opt(0, 0, 0).unwrap())
        )
        .is_err()
    );
    assert_eq!(
        check(
            Dialect::Postgres,
            &col(ColumnKind::Date, "date"),
            &Value::Date(far)
        ),
        Ok(())
    );
    let nanos = t.with_nanosecond(500_000_001).unwrap();
    assert!(check(Dialect::Postgres, &pg, &Value::Timestamp(nanos)).is_err());
}
