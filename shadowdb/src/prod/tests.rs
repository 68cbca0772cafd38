use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::connect::url_passwords;
use super::sql::exact_eq;
use super::wire::{PG_EPOCH_DAYS_FROM_CE, PG_EPOCH_UNIX_MICROS};
use super::*;
use crate::model::ColumnSchema;
use crate::types::{ColumnKind, Dialect};
use crate::value::datetime::canonical_timestamp;

#[test]
fn passwords_never_shown() {
    assert_eq!(
        redact_url("postgres://app:s3cret@db.example:5432/prod?sslmode=require"),
        "postgres://app:***@db.example:5432/prod?sslmode=require"
    );
    assert_eq!(
        redact_url("mysql://root@127.0.0.1/test"),
        "mysql://root@127.0.0.1/test"
    );
    assert_eq!(redact_url("sqlite://data.db"), "sqlite://data.db");
    assert_eq!(
        redact_url("postgres://u:p@ss:w@h/db"),
        "postgres://u:***@h/db"
    );
}

#[test]
fn passwords_of_every_url_form_are_removed() {
    let cases = [
        // user:password, plain and percent-encoded
        ("postgres://u:pw1@h:5432/db", "postgres://u:***@h:5432/db"),
        ("postgres://u:p%40ss%2Fw@h/db", "postgres://u:***@h/db"),
        (
            "mysql://root:Secr3t%23@127.0.0.1:3306/test",
            "mysql://root:***@127.0.0.1:3306/test",
        ),
        // a password holding `?`, `/`, `#` or `@` unencoded
        (
            "postgres://root:pa?ss@127.0.0.1:5432/db",
            "postgres://***@127.0.0.1:5432/db",
        ),
        (
            "postgres://root:pa/ss@127.0.0.1:5432/db",
            "postgres://***@127.0.0.1:5432/db",
        ),
        ("postgres://root:12/34@h/db", "postgres://***@h/db"),
        ("postgres://root:pa#ss@h/db", "postgres://***@h/db"),
        ("postgres://root:a@b@h/db", "postgres://root:***@h/db"),
        // secret query parameters, any case, percent-encoded keys
        (
            "postgres://root@127.0.0.1:5432/db?password=SECRET",
            "postgres://root@127.0.0.1:5432/db?password=***",
        ),
        (
            "postgres://h/db?sslmode=require&PASSWORD=x1y2&application_name=a",
            "postgres://h/db?sslmode=require&PASSWORD=***&application_name=a",
        ),
        (
            "postgres://h/db?sslpassword=k3y&sslkey=/etc/key.pem",
            "postgres://h/db?sslpassword=***&sslkey=/etc/key.pem",
        ),
        (
            "postgres://h/db?pass%77ord=zz9",
            "postgres://h/db?pass%77ord=***",
        ),
        (
            "mysql://u@h/db?password=p%3Fw",
            "mysql://u@h/db?password=***",
        ),
        // a fragment is dropped
        ("postgres://u@h/db#frag", "postgres://u@h/db"),
        // no authority
        ("sqlite://data.db", "sqlite://data.db"),
        ("sqlite:data.db?mode=ro", "sqlite:data.db?mode=ro"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("sqlite:x.db?password=hunter2", "sqlite:x.db?password=***"),
        // malformed
        ("not a url hunter2", "(not a database URL)"),
        ("postgres//u:hunter2@h/db", "(not a database URL)"),
        // no scheme: `u` reads as one, and the password as its path
        ("u:hunter2@host/db", "(a database URL)"),
        ("sqlite:u:hunter2@x.db", "(a database URL)"),
    ];
    for (url, shown) in cases {
        let got = redact_url(url);
        assert_eq!(got, shown, "{url}");
        for secret in url_passwords(url) {
            assert!(!got.contains(&secret), "{url} shows {secret}");
        }
    }
    assert_eq!(
        url_passwords("postgres://u:p%40ss@h/db?password=a%26b"),
        vec!["p%40ss", "a%26b", "p@ss", "a&b"]
    );
}

#[test]
fn instants_parse_with_and_without_offset() {
    let a = parse_instant("2024-05-01 12:00:00+02:00").unwrap();
    let b = parse_instant("2024-05-01 10:00:00").unwrap();
    let c = parse_instant("2024-05-01T10:00:00Z").unwrap();
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert!(parse_instant("yesterday").is_none());
}

#[test]
fn postgres_epochs_are_what_sqlx_adds_to() {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    assert_eq!(epoch.num_days_from_ce(), PG_EPOCH_DAYS_FROM_CE);
    assert_eq!(
        epoch
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros(),
        PG_EPOCH_UNIX_MICROS
    );
    // As sqlx decodes: the epoch plus the days or microseconds.
    for us in [
        0_i64,
        1,
        -1,
        86_399_999_999,
        -86_400_000_001,
        790_000_123_456_789,
    ] {
        let sqlx = epoch.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::microseconds(us);
        let ours = DateTime::from_timestamp_micros(us + PG_EPOCH_UNIX_MICROS).unwrap();
        assert_eq!(ours.naive_utc(), sqlx);
    }
    for days in [0_i32, 1, -1, 9_000, -730_000, 2_000_000] {
        let sqlx = epoch + chrono::Duration::days(days.into());
        let ours = NaiveDate::from_num_days_from_ce_opt(days + PG_EPOCH_DAYS_FROM_CE).unwrap();
        assert_eq!(ours, sqlx);
    }
}

#[test]
fn time_text_is_chronos_own() {
    let dates = [
        NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(0, 12, 31).unwrap(),
        NaiveDate::from_ymd_opt(999, 3, 4).unwrap(),
        NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
        NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(-44, 3, 15).unwrap(),
    ];
    let nanos = [
        0,
        1,
        999,
        1_000,
        120_000,
        500_000_000,
        123_456_789,
        999_999_999,
        1_000_000_000,
        1_500_000_000,
    ];
    for d in dates {
        let mut s = String::new();
        push_date(&mut s, d);
        assert_eq!(s, d.format("%Y-%m-%d").to_string());
        for (h, m, sec) in [(0, 0, 0), (9, 5, 7), (23, 59, 59)] {
            for n in nanos {
                let t = NaiveTime::from_hms_nano_opt(h, m, sec, n)
                    .or_else(|| NaiveTime::from_hms_nano_opt(h, m, 59, n))
                    .unwrap();
                let ts = NaiveDateTime::new(d, t);
                let mut s = String::new();
                push_time(&mut s, t);
                assert_eq!(s, t.format("%H:%M:%S%.f").to_string());
                let mut s = String::new();
                push_timestamp(&mut s, ts);
                let want = ts.format("%Y-%m-%d %H:%M:%S%.f").to_string();
                assert_eq!(s, want);
                // Read back: the fast reader agrees with chrono's, or leaves it to it.
                let slow = NaiveDateTime::parse_from_str(&want, "%Y-%m-%d %H:%M:%S%.f").ok();
                if let Some(fast) = canonical_timestamp(want.as_bytes()) {
                    assert_eq!(Some(fast), slow, "{want}");
                }
                assert_eq!(
                    parse_naive_timestamp(&want),
                    slow.or_else(|| {
                        NaiveDateTime::parse_from_str(&want, "%Y-%m-%dT%H:%M:%S%.f").ok()
                    })
                );
                let tz = format!("{want}+00:00");
                let slow = DateTime::parse_from_str(&tz, "%Y-%m-%d %H:%M:%S%.f%:z")
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
                if slow.is_some() {
                    assert_eq!(parse_instant(&tz), slow, "{tz}");
                }
            }
        }
    }
    for odd in [
        "2024-01-01 00:00:00.1234567891",
        "2024-01-01 00:00:00.",
        "2024-1-01 00:00:00",
        "2024-01-01T00:00:00",
        "2024-02-30 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 23:59:60",
        "2024-01-01 00:00:00 ",
        "+2024-01-01 00:00:00",
    ] {
        let fast = canonical_timestamp(odd.as_bytes());
        let slow = NaiveDateTime::parse_from_str(odd, "%Y-%m-%d %H:%M:%S%.f").ok();
        assert!(fast.is_none() || fast == slow, "{odd}");
    }
}

#[test]
fn text_compares_byte_for_byte_and_keeps_the_index() {
    let col = |kind: ColumnKind| ColumnSchema {
        name: "tenant".to_owned(),
        declared_type: "varchar(20)".to_owned(),
        kind,
        nullable: false,
        has_default: false,
        generated: false,
        computed: false,
    };
    let text = col(ColumnKind::Text);
    assert_eq!(
        exact_eq(Dialect::MySql, &text, "`tenant`", "?", "?"),
        "`tenant` = ? AND CAST(CONVERT(`tenant` USING utf8mb4) AS BINARY) = CAST(? AS BINARY)"
    );
    assert_eq!(
        exact_eq(Dialect::Postgres, &text, "\"tenant\"", "$1", "$2"),
        "\"tenant\" = $1 AND \"tenant\"::pg_catalog.text COLLATE pg_catalog.\"C\" = $1::pg_catalog.text COLLATE pg_catalog.\"C\""
    );
    assert_eq!(
        exact_eq(Dialect::Sqlite, &text, "\"tenant\"", "?", "?"),
        "\"tenant\" = ? AND \"tenant\" = ? COLLATE BINARY"
    );
    assert_eq!(exact_eq_binds(Dialect::MySql, &text), 2);
    assert_eq!(exact_eq_binds(Dialect::Postgres, &text), 1);
    let int = col(ColumnKind::Int64);
    assert_eq!(
        exact_eq(Dialect::MySql, &int, "`tenant`", "?", "?"),
        "`tenant` = ?"
    );
    assert_eq!(exact_eq_binds(Dialect::Sqlite, &int), 1);
    assert_eq!(
        guard_cmp(Dialect::Sqlite, &text, "\"tenant\"", "?"),
        "\"tenant\" IS ? COLLATE BINARY"
    );
}

#[test]
fn float_text_is_shortest_exact() {
    assert_eq!(format_float(0.1), "0.1");
    assert_eq!(format_float(3.0), "3");
    assert_eq!(format_float(1e300), "1e300");
}
