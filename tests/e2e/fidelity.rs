//! Round-trip fidelity of every supported type, per dialect: the values the
//! sandbox holds are exact, and production -> sandbox -> production gives
//! back byte-identical values, both for rows the agent updates (one other
//! column) and for new rows copied from existing ones.
//!
//! Each dialect has one uncontracted table `sb_fid` (`id`, `tenant`, `note`,
//! then one column per type) with a row of maximum values (1), a row of
//! minimum values (2), a row of NULLs (3), a row of edge cases (4) and a row
//! of another tenant (9). Production is compared through SQL text casts.

use safemodel::Value;
use shadowdb::diff::Op;
use shadowdb::prod::Production;
use shadowdb::{Error, ShadowDb};

use crate::common::{Kind, TestDb, changed_keys, query_rows, run};

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn float(x: f64) -> Value {
    Value::Float(x)
}

async fn open(prod: &Production) -> ShadowDb {
    crate::common::uncontracted(prod, &["sb_fid"], "tenant", 1_i64)
        .policy(crate::common::whole_table_updates_allowed())
        .open()
        .await
        .unwrap()
}

/// The sandbox's row `id`, every type column in order.
async fn sandbox_row(sdb: &ShadowDb, cols: &[&str], id: i64) -> Vec<Value> {
    let sql = format!("SELECT {} FROM sb_fid WHERE id = {id}", cols.join(", "));
    let mut rows = query_rows(sdb, &sql).await;
    assert_eq!(rows.len(), 1, "{sql}");
    rows.remove(0)
}

/// Production's rows as text, every type column through `cast`.
async fn snapshot(
    db: &TestDb,
    cols: &[&str],
    cast: fn(&str) -> String,
    filter: &str,
) -> Vec<Vec<String>> {
    let list: Vec<String> = cols.iter().map(|c| cast(c)).collect();
    db.rows(&format!(
        "SELECT id, tenant, {} FROM sb_fid {filter} ORDER BY id",
        list.join(", ")
    ))
    .await
}

/// (b): the agent updates only `note` of every row of the tenant; after the
/// commit every other column is byte-identical. Then the agent copies every
/// row to `id + 100`; after the commit each copy equals its original.
async fn round_trip(
    db: &TestDb,
    prod: &Production,
    cols: &[&str],
    cast: fn(&str) -> String,
    ids: &[i64],
) {
    let before = snapshot(db, cols, cast, "").await;

    let mut sdb = open(prod).await;
    // One statement a row: one that changes every row is a whole-table write.
    for i in ids {
        run(
            &sdb,
            &format!("UPDATE sb_fid SET note = 'touched' WHERE id = {i}"),
        )
        .await;
    }
    let cs = sdb.diff().unwrap();
    let got = changed_keys(&cs);
    let want: Vec<(Op, String, Vec<String>)> = ids
        .iter()
        .map(|i| (Op::Update, format!("id={i}"), vec!["note".to_owned()]))
        .collect();
    assert_eq!(got, want);
    assert!(cs.is_valid(), "{cs:?}");
    sdb.commit(&cs).await.unwrap();
    assert_eq!(
        snapshot(db, cols, cast, "").await,
        before,
        "a column other than `note` changed"
    );
    let notes = db.rows("SELECT id, note FROM sb_fid ORDER BY id").await;
    let want_notes: Vec<Vec<String>> = before
        .iter()
        .map(|r| {
            let id = r[0].clone();
            let note = if r[1] == "1" {
                "touched"
            } else {
                "other tenant"
            };
            vec![id, note.to_owned()]
        })
        .collect();
    assert_eq!(notes, want_notes);

    let mut sdb = open(prod).await;
    let all = cols.join(", ");
    run(
        &sdb,
        &format!("INSERT INTO sb_fid (id, tenant, note, {all}) SELECT id + 100, tenant, 'copy', {all} FROM sb_fid WHERE id < 100"),
    )
    .await;
    let cs = sdb.diff().unwrap();
    assert_eq!(cs.len(), ids.len());
    assert!(cs.changes().iter().all(|c| c.op == Op::Insert));
    assert!(cs.is_valid(), "{cs:?}");
    sdb.commit(&cs).await.unwrap();
    for id in ids {
        let original = snapshot(db, cols, cast, &format!("WHERE id = {id}")).await;
        let copy = snapshot(db, cols, cast, &format!("WHERE id = {}", id + 100)).await;
        assert_eq!(copy.len(), 1);
        for (i, col) in ["id", "tenant"].iter().chain(cols).enumerate().skip(1) {
            assert_eq!(copy[0][i], original[0][i], "row {id}, column {col}");
        }
    }
}

// ---- PostgreSQL -----------------------------------------------------------

const PG_COLS: &[&str] = &[
    "c_small",
    "c_int",
    "c_big",
    "c_num",
    "c_real",
    "c_double",
    "c_text",
    "c_varchar",
    "c_bool",
    "c_bytea",
    "c_bytea_empty",
    "c_uuid",
    "c_date",
    "c_time",
    "c_ts",
    "c_tstz",
    "c_interval",
    "c_json",
    "c_jsonb",
    "c_enum",
    "c_text_arr",
    "c_int_arr",
    "c_num_arr",
];

const PG_JSON: &str = r#"{"name": "Zoë ✓ 日本 🎉",  "big": 123456789012345678901234567890.123456789, "arr": [1, 2.50, null]}"#;

#[tokio::test]
async fn postgres_round_trip() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "sb_fidelity",
        &format!(
        "CREATE TYPE sb_mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE sb_fid (
             id bigint PRIMARY KEY, tenant bigint NOT NULL, note text,
             c_small smallint, c_int integer, c_big bigint, c_num numeric(40,10),
             c_real real, c_double double precision,
             c_text text, c_varchar varchar(50), c_bool boolean,
             c_bytea bytea, c_bytea_empty bytea, c_uuid uuid,
             c_date date, c_time time, c_ts timestamp, c_tstz timestamptz, c_interval interval,
             c_json json, c_jsonb jsonb, c_enum sb_mood,
             c_text_arr text[], c_int_arr int[], c_num_arr numeric[]);
         INSERT INTO sb_fid VALUES (1, 1, 'max',
             32767, 2147483647, 9223372036854775807, '123456789012345678901234567890.0123456789',
             3.4028235e38, 1.7976931348623157e308,
             'Zoë ✓ 日本 🎉 ''quoted'' \\ back', 'varchar', true,
             '\\xdeadbeef00ff', '', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
             '2024-02-29', '23:59:59.999999', '2024-02-29 23:59:59.999999',
             '2024-03-10 12:34:56.789012+05:30', '1 year 2 mons 3 days 04:05:06.789',
             '{PG_JSON}', '{PG_JSON}', 'happy',
             '{{a,\"b c\",NULL,\"d,e\",\"\"}}', '{{1,NULL,-3}}', '{{1.10,NULL,-0.000001}}');
         INSERT INTO sb_fid VALUES (2, 1, 'min',
             -32768, -2147483648, -9223372036854775808, '-999999999999999999999999999999.9999999999',
             -1.17549435e-38, 4.9e-324,
             '', '', false,
             '\\x00', '', '00000000-0000-0000-0000-000000000000',
             '0001-01-01', '00:00:00', '1970-01-01 00:00:00',
             '2024-07-01 09:00:00 America/New_York', '-1 days +02:03:00',
             'null', 'null', 'sad',
             '{{}}', '{{}}', '{{}}');
         INSERT INTO sb_fid (id, tenant, note) VALUES (3, 1, NULL);
         INSERT INTO sb_fid VALUES (4, 1, 'edge',
             0, 0, 0, '0.0000000000',
             '-Infinity', 'Infinity',
             'line
break', ' padded ', NULL,
             NULL, '', NULL,
             '9999-12-31', '12:00:00.5', '2000-01-01 00:00:00.000001',
             '1969-12-31 23:59:59.5-08:00', '0 years',
             '\"just a string\"', '[]', 'ok',
             '{{NULL}}', '{{{{1,2}},{{3,4}}}}', '{{NaN,1e-5}}');
         INSERT INTO sb_fid (id, tenant, note, c_text, c_json) VALUES (9, 2, 'other tenant', 'secret', '{{\"x\": 1}}')"
    ),
    )
    .await
    else {
        return;
    };
    // Production's sessions in a zone east of UTC: the instant is written
    // there without an offset, cloned and committed there too.
    // (sqlx starts every session in UTC; the pool moves each to Kolkata.)
    let kolkata =
        crate::common::session_pool::<sqlx::Postgres>(&db.url, "SET TIME ZONE 'Asia/Kolkata'")
            .await;
    crate::common::direct(
        &kolkata,
        "UPDATE sb_fid SET c_tstz = '2024-03-10 12:34:56.789012' WHERE id = 1",
    )
    .await;
    let prod = Production::Postgres(kolkata.clone());
    let sdb = open(&prod).await;
    assert_eq!(sdb.clone_stats().tables, vec![("sb_fid".to_owned(), 4)]);
    // (a) what the sandbox holds is exact.
    let jsonb = r#"{"arr": [1, 2.50, null], "big": 123456789012345678901234567890.123456789, "name": "Zoë ✓ 日本 🎉"}"#;
    assert_eq!(
        sandbox_row(&sdb, PG_COLS, 1).await,
        vec![
            int(32767),
            int(2147483647),
            int(i64::MAX),
            text("123456789012345678901234567890.0123456789"),
            float(f64::from(f32::MAX)),
            float(f64::MAX),
            text("Zoë ✓ 日本 🎉 'quoted' \\ back"),
            text("varchar"),
            int(1),
            Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
            Value::Bytes(vec![]),
            text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            text("2024-02-29"),
            text("23:59:59.999999"),
            text("2024-02-29 23:59:59.999999"),
            text("2024-03-10 07:04:56.789012+00:00"),
            text("1 year 2 mons 3 days 04:05:06.789"),
            text(PG_JSON),
            text(jsonb),
            text("happy"),
            text(r#"{a,"b c",NULL,"d,e",""}"#),
            text("{1,NULL,-3}"),
            text("{1.10,NULL,-0.000001}"),
        ]
    );
    assert_eq!(
        sandbox_row(&sdb, PG_COLS, 2).await,
        vec![
            int(-32768),
            int(-2147483648),
            int(i64::MIN),
            text("-999999999999999999999999999999.9999999999"),
            float(f64::from(-f32::MIN_POSITIVE)),
            float(f64::from_bits(1)),
            text(""),
            text(""),
            int(0),
            Value::Bytes(vec![0]),
            Value::Bytes(vec![]),
            text("00000000-0000-0000-0000-000000000000"),
            text("0001-01-01"),
            text("00:00:00"),
            text("1970-01-01 00:00:00"),
            text("2024-07-01 13:00:00+00:00"),
            text("-1 days +02:03:00"),
            text("null"),
            text("null"),
            text("sad"),
            text("{}"),
            text("{}"),
            text("{}"),
        ]
    );
    // SQL NULL everywhere, distinct from JSON null above.
    assert_eq!(
        sandbox_row(&sdb, PG_COLS, 3).await,
        vec![Value::Null; PG_COLS.len()]
    );
    assert_eq!(
        sandbox_row(&sdb, PG_COLS, 4).await,
        vec![
            int(0),
            int(0),
            int(0),
            text("0.0000000000"),
            float(f64::NEG_INFINITY),
            float(f64::INFINITY),
            text("line\nbreak"),
            text(" padded "),
            Value::Null,
            Value::Null,
            Value::Bytes(vec![]),
            Value::Null,
            text("9999-12-31"),
            text("12:00:00.500"),
            text("2000-01-01 00:00:00.000001"),
            text("1970-01-01 07:59:59.500+00:00"),
            text("00:00:00"),
            text("\"just a string\""),
            text("[]"),
            text("ok"),
            text("{NULL}"),
            text("{{1,2},{3,4}}"),
            text("{NaN,0.00001}"),
        ]
    );
    assert_eq!(
        query_rows(
            &sdb,
            "SELECT count(*) FROM sb_fid WHERE c_text = 'secret' OR tenant <> 1"
        )
        .await,
        vec![vec![int(0)]]
    );
    drop(sdb);
    // (b) production -> sandbox -> production.
    round_trip(&db, &prod, PG_COLS, |c| format!("{c}::text"), &[1, 2, 3, 4]).await;
    // Spot checks in production's own terms.
    assert_eq!(
        db.rows("SELECT c_num::text, c_big::text, c_json::text, c_json IS NULL, c_tstz = '2024-03-10 07:04:56.789012+00' FROM sb_fid WHERE id IN (101, 102, 103) ORDER BY id").await,
        vec![
            vec!["123456789012345678901234567890.0123456789", "9223372036854775807", PG_JSON, "false", "true"],
            vec!["-999999999999999999999999999999.9999999999", "-9223372036854775808", "null", "false", "false"],
            vec!["NULL", "NULL", "NULL", "true", "NULL"],
        ]
    );
}

// ---- MySQL / MariaDB --------------------------------------------------------

const MY_COLS: &[&str] = &[
    "c_bool",
    "c_tiny",
    "c_small",
    "c_medium",
    "c_int",
    "c_big",
    "c_uint",
    "c_dec",
    "c_double",
    "c_varchar",
    "c_text",
    "c_blob",
    "c_blob_empty",
    "c_date",
    "c_time",
    "c_dt",
    "c_ts",
    "c_json",
    "c_enum",
];

const MY_JSON: &str = r#"{"name": "Zoë ✓ 日本 🎉",  "big": 123456789012345678901234567890.123456789, "arr": [1, 2.50, null]}"#;

fn my_cast(c: &str) -> String {
    match c {
        "c_blob" | "c_blob_empty" => format!("HEX({c})"),
        _ => format!("CAST({c} AS CHAR)"),
    }
}

#[tokio::test]
async fn mysql_round_trip() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "sb_fidelity",
        &format!(
        "CREATE TABLE sb_fid (
             id BIGINT PRIMARY KEY, tenant BIGINT NOT NULL, note TEXT,
             c_bool TINYINT(1), c_tiny TINYINT, c_small SMALLINT, c_medium MEDIUMINT, c_int INT,
             c_big BIGINT, c_uint INT UNSIGNED, c_dec DECIMAL(40,10), c_double DOUBLE,
             c_varchar VARCHAR(100), c_text TEXT, c_blob BLOB, c_blob_empty BLOB,
             c_date DATE, c_time TIME(6), c_dt DATETIME(6), c_ts TIMESTAMP(6) NULL DEFAULT NULL,
             c_json JSON, c_enum ENUM('sad', 'ok', 'happy'));
         INSERT INTO sb_fid VALUES (1, 1, 'max',
             1, 127, 32767, 8388607, 2147483647, 9223372036854775807, 4294967295,
             '123456789012345678901234567890.0123456789', 1.7976931348623157e308,
             'Zoë ✓ 日本 🎉 ''quoted''', 'Trailing space ', X'DEADBEEF00FF', X'',
             '2024-02-29', '23:59:59.999999', '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999999',
             '{MY_JSON}', 'happy');
         INSERT INTO sb_fid VALUES (2, 1, 'min',
             0, -128, -32768, -8388608, -2147483648, -9223372036854775808, 0,
             '-999999999999999999999999999999.9999999999', -2.2250738585072014e-308,
             '', '', X'00', X'',
             '1000-01-01', '00:00:00', '1000-01-01 00:00:00', '1970-01-01 00:00:01',
             'null', 'sad');
         INSERT INTO sb_fid (id, tenant, note) VALUES (3, 1, NULL);
         INSERT INTO sb_fid VALUES (4, 1, 'edge',
             0, 0, 0, 0, 0, 0, 7,
             '0.0000000000', 0.1,
             'A', 'a', X'', X'',
             '9999-12-31', '12:00:00.5', '2000-01-01 00:00:00.000001', '2000-06-30 12:00:00.5',
             '[]', 'ok');
         INSERT INTO sb_fid (id, tenant, note, c_text) VALUES (9, 2, 'other tenant', 'secret')"
    ),
    )
    .await
    else {
        return;
    };
    // Production's sessions at +05:30 (sqlx's default is UTC): the TIMESTAMP
    // is written in that zone, cloned and committed there too.
    let opts: sqlx::mysql::MySqlConnectOptions = db.url.parse().unwrap();
    let ist = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(2)
        .connect_with(opts.timezone(Some("+05:30".to_owned())))
        .await
        .unwrap();
    crate::common::direct(
        &ist,
        "UPDATE sb_fid SET c_ts = '2000-06-30 17:30:00.5' WHERE id = 4",
    )
    .await;
    let prod = Production::MySql(ist.clone());
    let sdb = open(&prod).await;
    assert_eq!(sdb.clone_stats().tables, vec![("sb_fid".to_owned(), 4)]);
    assert_eq!(
        sandbox_row(&sdb, MY_COLS, 1).await,
        vec![
            int(1),
            int(127),
            int(32767),
            int(8388607),
            int(2147483647),
            int(i64::MAX),
            int(4294967295),
            text("123456789012345678901234567890.0123456789"),
            float(f64::MAX),
            text("Zoë ✓ 日本 🎉 'quoted'"),
            text("Trailing space "),
            Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
            Value::Bytes(vec![]),
            text("2024-02-29"),
            text("23:59:59.999999"),
            text("2024-02-29 23:59:59.999999"),
            text("2038-01-19 03:14:07.999999+00:00"),
            text(MY_JSON),
            text("happy"),
        ]
    );
    assert_eq!(
        sandbox_row(&sdb, MY_COLS, 2).await,
        vec![
            int(0),
            int(-128),
            int(-32768),
            int(-8388608),
            int(-2147483648),
            int(i64::MIN),
            int(0),
            text("-999999999999999999999999999999.9999999999"),
            float(-2.2250738585072014e-308),
            text(""),
            text(""),
            Value::Bytes(vec![0]),
            Value::Bytes(vec![]),
            text("1000-01-01"),
            text("00:00:00"),
            text("1000-01-01 00:00:00"),
            text("1970-01-01 00:00:01+00:00"),
            text("null"),
            text("sad"),
        ]
    );
    assert_eq!(
        sandbox_row(&sdb, MY_COLS, 3).await,
        vec![Value::Null; MY_COLS.len()]
    );
    assert_eq!(
        sandbox_row(&sdb, MY_COLS, 4).await,
        vec![
            int(0),
            int(0),
            int(0),
            int(0),
            int(0),
            int(0),
            int(7),
            text("0.0000000000"),
            float(0.1),
            text("A"),
            text("a"),
            Value::Bytes(vec![]),
            Value::Bytes(vec![]),
            text("9999-12-31"),
            text("12:00:00.500"),
            text("2000-01-01 00:00:00.000001"),
            text("2000-06-30 12:00:00.500+00:00"),
            text("[]"),
            text("ok"),
        ]
    );
    drop(sdb);
    round_trip(&db, &prod, MY_COLS, my_cast, &[1, 2, 3, 4]).await;
    // shadowdb gave the connections back in their own zone.
    let zone: String = sqlx::query_scalar("SELECT @@session.time_zone")
        .fetch_one(&ist)
        .await
        .unwrap();
    assert_eq!(zone, "+05:30");
    assert_eq!(
        db.rows("SELECT CAST(c_dec AS CHAR), CAST(c_json AS CHAR), c_json IS NULL FROM sb_fid WHERE id IN (101, 102, 103) ORDER BY id").await,
        vec![
            vec!["123456789012345678901234567890.0123456789", MY_JSON, "0"],
            vec!["-999999999999999999999999999999.9999999999", "null", "0"],
            vec!["NULL", "NULL", "1"],
        ]
    );
}

// ---- SQLite ---------------------------------------------------------------------

const LITE_COLS: &[&str] = &[
    "c_int", "c_real", "c_text", "c_blob", "c_bool", "c_dec", "c_date", "c_time", "c_ts", "c_tstz",
    "c_uuid", "c_json",
];

/// The value with its storage class: identical means identical bytes.
fn lite_cast(c: &str) -> String {
    format!("typeof({c}) || ':' || quote({c})")
}

#[tokio::test]
async fn sqlite_round_trip() {
    let db = TestDb::new(Kind::Sqlite, "sb_fidelity").await.unwrap();
    db.exec(&format!(
        "CREATE TABLE sb_fid (
             id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, note TEXT,
             c_int INTEGER, c_real REAL, c_text TEXT, c_blob BLOB, c_bool BOOLEAN, c_dec DECIMAL(40,10),
             c_date DATE, c_time TIME, c_ts DATETIME, c_tstz TIMESTAMPTZ, c_uuid UUID, c_json JSON);
         INSERT INTO sb_fid VALUES (1, 1, 'max',
             9223372036854775807, 1.7976931348623157e308, 'Zoë ✓ 日本 🎉 ''quoted''', X'DEADBEEF00FF', 1, 12.5,
             '2024-02-29', '23:59:59.999', '2024-02-29 23:59:59.999', '2024-03-10 07:04:56.789+00:00',
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{PG_JSON}');
         INSERT INTO sb_fid VALUES (2, 1, 'min',
             -9223372036854775808, 4.9e-324, '', X'', 0, -7,
             '0001-01-01', '00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00:00',
             '00000000-0000-0000-0000-000000000000', 'null');
         INSERT INTO sb_fid (id, tenant, note) VALUES (3, 1, NULL);
         INSERT INTO sb_fid VALUES (4, 1, 'edge',
             0, -1.5, 'x', X'00', 1, 1.1,
             '9999-12-31', '12:00:00.500', '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00.500+00:00',
             NULL, '[]');
         INSERT INTO sb_fid (id, tenant, note, c_text) VALUES (9, 2, 'other tenant', 'secret')"
    ))
    .await;
    let sdb = open(&db.prod).await;
    assert_eq!(sdb.clone_stats().tables, vec![("sb_fid".to_owned(), 4)]);
    assert_eq!(
        sandbox_row(&sdb, LITE_COLS, 1).await,
        vec![
            int(i64::MAX),
            float(f64::MAX),
            text("Zoë ✓ 日本 🎉 'quoted'"),
            Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
            int(1),
            text("12.5"),
            text("2024-02-29"),
            text("23:59:59.999"),
            text("2024-02-29 23:59:59.999"),
            text("2024-03-10 07:04:56.789+00:00"),
            text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            text(PG_JSON),
        ]
    );
    assert_eq!(
        sandbox_row(&sdb, LITE_COLS, 2).await,
        vec![
            int(i64::MIN),
            float(f64::from_bits(1)),
            text(""),
            Value::Bytes(vec![]),
            int(0),
            text("-7"),
            text("0001-01-01"),
            text("00:00:00"),
            text("1970-01-01 00:00:00"),
            text("1970-01-01 00:00:00+00:00"),
            text("00000000-0000-0000-0000-000000000000"),
            text("null"),
        ]
    );
    assert_eq!(
        sandbox_row(&sdb, LITE_COLS, 3).await,
        vec![Value::Null; LITE_COLS.len()]
    );
    drop(sdb);
    round_trip(&db, &db.prod, LITE_COLS, lite_cast, &[1, 2, 3, 4]).await;
}

/// A `tinyint(1)` is MySQL's boolean, but holds -128..=127: a value other
/// than 0 or 1 cannot be kept as a boolean, so the clone refuses it by name
/// instead of turning it into `true`.
#[tokio::test]
async fn mysql_tinyint1_beyond_a_boolean_is_unclonable() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "sb_fid_tinyint",
        "CREATE TABLE sb_fid (id BIGINT PRIMARY KEY, tenant BIGINT NOT NULL, flag TINYINT(1));
         INSERT INTO sb_fid VALUES (1, 1, 1), (2, 1, 2), (3, 2, 5)",
    )
    .await
    else {
        return;
    };
    let err = crate::common::uncontracted(&db.prod, &["sb_fid"], "tenant", 1_i64)
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unclonable { table, column, reason, .. }
            if table == "sb_fid" && column == "flag" && reason == "a tinyint(1) boolean holding a value other than 0 or 1"),
        "{err:?}"
    );
}

/// `char(n)` pads with spaces PostgreSQL ignores: the sandbox holds the
/// value as PostgreSQL compares it (unpadded), and production gets the same
/// padded bytes back (`octet_length` counts the padding).
#[tokio::test]
async fn postgres_char_round_trip() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "sb_fid_char",
        "CREATE TABLE sb_fid (id bigint PRIMARY KEY, tenant bigint NOT NULL, note text, c_char char(5));
         INSERT INTO sb_fid VALUES (1, 1, 'max', 'ab'), (2, 1, 'min', ''), (3, 1, NULL, NULL), (4, 1, 'edge', 'abcde'), (9, 2, 'other tenant', 'zz')",
    )
    .await
    else {
        return;
    };
    let sdb = open(&db.prod).await;
    let got = query_rows(&sdb, "SELECT c_char FROM sb_fid ORDER BY id").await;
    assert_eq!(
        got,
        vec![
            vec![text("ab")],
            vec![text("")],
            vec![Value::Null],
            vec![text("abcde")]
        ]
    );
    drop(sdb);
    round_trip(
        &db,
        &db.prod,
        &["c_char"],
        |c| format!("{c}::text || '|' || octet_length({c})"),
        &[1, 2, 3, 4],
    )
    .await;
}

/// SQLite turns a bound NaN into NULL, so a NaN float cannot be sandboxed
/// exactly: the clone refuses it by name (a NaN `numeric` is text, and fine).
/// Negative zero is the one float the sandbox does not keep bit for bit.
#[tokio::test]
async fn postgres_float_nan_is_unclonable() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "sb_fid_nan",
        "CREATE TABLE sb_fid (id bigint PRIMARY KEY, tenant bigint NOT NULL, c_num numeric, c_double double precision, c_neg_zero double precision);
         INSERT INTO sb_fid VALUES (1, 1, 'NaN', 1.5, '-0'), (2, 2, 1, 'NaN', 0)",
    )
    .await
    else {
        return;
    };
    let sdb = open(&db.prod).await;
    assert_eq!(
        query_rows(&sdb, "SELECT c_num, c_double, c_neg_zero FROM sb_fid").await,
        // SQLite keeps an integral REAL as an integer, so -0.0 reads back as
        // 0.0: equal in SQL (`-0 = 0` in every dialect, so no false conflict),
        // only the sign of zero is not kept.
        vec![vec![text("NaN"), float(1.5), float(0.0)]]
    );
    drop(sdb);
    db.exec("UPDATE sb_fid SET c_double = 'NaN' WHERE id = 1")
        .await;
    let err = crate::common::uncontracted(&db.prod, &["sb_fid"], "tenant", 1_i64)
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unclonable { table, column, reason, .. }
            if table == "sb_fid" && column == "c_double" && reason == "a NaN float, which the sandbox (SQLite) cannot hold"),
        "{err:?}"
    );
}
