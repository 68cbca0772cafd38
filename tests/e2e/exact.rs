//! What the review shows is what production will store: decimal arithmetic
//! in the sandbox is exact or refused, and every value is checked against
//! the production column's declared limits before the transaction. Each
//! refused change leaves production as it was; each accepted one is read
//! back exactly, through a connection of its own.

use safemodel::{Rule, Violation};
use shadowdb::diff::Op;
use shadowdb::prod::Production;
use shadowdb::render::{TextOptions, render_text};
use shadowdb::{Error, ShadowDb};

use crate::common::{
    Kind, TestDb, changed_keys, commit_valid, only_violation, production_type_refusal, run,
};
use crate::each_db;

/// Production's rows read through a new connection: `sql` selects one
/// text column.
async fn fresh(db: &TestDb, sql: &str) -> Vec<String> {
    crate::common::fresh_text(&db.url, sql).await
}

fn as_text(kind: Kind, col: &str) -> String {
    match kind {
        Kind::Postgres => format!("CAST({col} AS text)"),
        Kind::MySql => format!("CAST({col} AS CHAR)"),
        Kind::Sqlite => format!("CAST({col} AS TEXT)"),
    }
}

async fn open(prod: &Production, table: &str) -> ShadowDb {
    crate::common::open_uncontracted(prod, &[table], "org_id", 1_i64).await
}

const FLOAT_DECIMAL: &str = "decimal computed in floating point (precision lost): compute \
     exactly with decimal_add(num, '1'), decimal_sub, decimal_mul or decimal_round, and write \
     decimals as text ('1.5')";

async fn items_setup(db: &TestDb) -> (&'static str, &'static str, &'static str) {
    // (row 1, row 2, row 1 plus one): 30 digits where the column holds them;
    // SQLite keeps a DECIMAL column as a float, so fewer digits there.
    let (ddl, one, two, plus_one) = match db.kind {
        Kind::Postgres => (
            "CREATE TABLE ex_items (id bigint PRIMARY KEY, org_id bigint NOT NULL, note text, num numeric(30,15) NOT NULL)",
            "123456789012345.123456789012345",
            "-987654321098765.432109876543210",
            "123456789012346.123456789012345",
        ),
        Kind::MySql => (
            "CREATE TABLE ex_items (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, note TEXT, num DECIMAL(30,15) NOT NULL)",
            "123456789012345.123456789012345",
            "-987654321098765.432109876543210",
            "123456789012346.123456789012345",
        ),
        Kind::Sqlite => (
            "CREATE TABLE ex_items (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, note TEXT, num DECIMAL(30,15) NOT NULL)",
            "12345.5",
            "-98765.25",
            "12346.5",
        ),
    };
    db.exec(ddl).await;
    db.exec(&format!(
        "INSERT INTO ex_items VALUES (1, 1, 'a', '{one}');
         INSERT INTO ex_items VALUES (2, 1, 'b', '{two}');
         INSERT INTO ex_items VALUES (3, 2, 'c', '1.5')"
    ))
    .await;
    (one, two, plus_one)
}

async fn items(db: &TestDb) -> Vec<String> {
    fresh(
        db,
        &format!(
            "SELECT {} FROM ex_items WHERE id < 3 ORDER BY id",
            as_text(db.kind, "num")
        ),
    )
    .await
}

/// `UPDATE items SET num = num + 1` on 30 digits: SQLite adds in floats.
/// The review refuses the float by table, key, column and rule, the commit
/// is refused and production keeps every digit. `decimal_add` is exact.
#[tokio::test]
async fn decimal_arithmetic_is_exact_or_refused() {
    each_db!("ex_decimal_arith", |db| {
        let (one, two, plus_one) = items_setup(&db).await;
        let before = items(&db).await;
        assert_eq!(before, [one, two].map(String::from), "{:?}", db.kind);

        let mut sdb = open(&db.prod, "ex_items").await;
        run(&sdb, "UPDATE ex_items SET num = num + 1 WHERE id = 1").await;
        let cs = sdb.diff().unwrap();
        assert!(!cs.is_valid());
        assert_eq!(
            only_violation(&cs),
            Violation::new("num", Rule::Other("precision".into()), FLOAT_DECIMAL),
            "{:?}",
            db.kind
        );
        // The review is BLOCKED by that violation, not SAFE with a rounded value.
        let text = render_text(
            &sdb.review(&cs),
            &TextOptions {
                color: false,
                width: 400,
                max_lines: 100,
            },
        );
        assert!(
            text.starts_with(&format!("BLOCKED\n  ex_items[id=1].num: {FLOAT_DECIMAL}\n")),
            "{text}"
        );
        let err = sdb.commit(&cs).await.unwrap_err();
        assert!(matches!(err, Error::Contract(_)), "{err}");
        assert_eq!(
            err.to_string(),
            format!("1 row(s) break their contract:\nex_items[id=1].num: {FLOAT_DECIMAL}")
        );
        assert_eq!(items(&db).await, before, "{:?}", db.kind);

        // The exact way: text in, text out, every digit kept.
        let mut sdb = open(&db.prod, "ex_items").await;
        run(
            &sdb,
            "UPDATE ex_items SET num = decimal_add(num, 1) WHERE id = 1",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{cs:?}");
        assert_eq!(cs.len(), 1, "only the row written: {cs:?}");
        let new = cs.changes()[0].new.as_ref().unwrap();
        assert_eq!(new.get("num").unwrap().to_string(), plus_one);
        sdb.commit(&cs).await.unwrap();
        assert_eq!(
            items(&db).await,
            [plus_one, two].map(String::from),
            "{:?}",
            db.kind
        );
    });
}

/// A cloned decimal nobody touched is no change and no conflict, however
/// many digits it has: an update of another column of its row commits and
/// leaves it byte-identical.
#[tokio::test]
async fn untouched_decimals_are_no_change_and_no_conflict() {
    each_db!("ex_decimal_untouched", |db| {
        items_setup(&db).await;
        let before = items(&db).await;
        let mut sdb = open(&db.prod, "ex_items").await;
        run(
            &sdb,
            "UPDATE ex_items SET note = 'touched' WHERE id = 2; \
             UPDATE ex_items SET num = num WHERE id = 1",
        )
        .await;
        let cs = sdb.diff().unwrap();
        let got = changed_keys(&cs);
        assert_eq!(
            got,
            [(Op::Update, "id=2".to_owned(), vec!["note".to_owned()])],
            "{:?}",
            db.kind
        );
        assert!(cs.is_valid(), "{cs:?}");
        sdb.commit(&cs).await.unwrap();
        assert_eq!(items(&db).await, before, "{:?}", db.kind);
        assert_eq!(
            fresh(&db, "SELECT note FROM ex_items ORDER BY id").await,
            ["a", "touched", "c"].map(String::from)
        );
    });
}

async fn limits_setup(db: &TestDb) {
    match db.kind {
        Kind::Postgres => {
            db.exec(
                "CREATE TYPE ex_mood AS ENUM ('ok', 'sad');
                 CREATE TABLE ex_lim (id bigint PRIMARY KEY, org_id bigint NOT NULL, d52 numeric(5,2), v3 varchar(3), s smallint, e ex_mood, t text, at timestamp(0), j jsonb)",
            )
            .await;
        }
        Kind::MySql => {
            db.exec(
                "CREATE TABLE ex_lim (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, d52 DECIMAL(5,2), v3 VARCHAR(3), s SMALLINT, e ENUM('ok','sad'), t TEXT, at DATETIME, j JSON)",
            )
            .await;
        }
        Kind::Sqlite => {
            db.exec(
                "CREATE TABLE ex_lim (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, d52 DECIMAL(5,2), v3 VARCHAR(3), s SMALLINT, e TEXT, t TEXT, at DATETIME, j JSON)",
            )
            .await;
        }
    }
    db.exec(r#"INSERT INTO ex_lim VALUES (1, 1, '1.25', 'abc', 1, 'ok', 'x', '2024-01-02 03:04:05', '{"a": 1}')"#)
        .await;
}

async fn lim_row(db: &TestDb) -> Vec<String> {
    let cols = ["d52", "v3", "s", "e", "t", "at", "j"]
        .map(|c| as_text(db.kind, c))
        .join(", ");
    let concat = match db.kind {
        Kind::MySql => format!("CONCAT_WS('|', {cols})"),
        _ => cols.replace(", ", " || '|' || "),
    };
    fresh(db, &format!("SELECT {concat} FROM ex_lim WHERE id = 1")).await
}

/// Per dialect, the violation each write gets (`None`: production stores it
/// as written, and the commit does).
fn limit_cases(kind: Kind) -> Vec<(&'static str, &'static str, Option<String>)> {
    let (dec, varchar, small, at) = match kind {
        Kind::Postgres => (
            "numeric(5,2)",
            "character varying(3)",
            "smallint",
            "timestamp(0) without time zone",
        ),
        Kind::MySql => ("decimal(5,2)", "varchar(3)", "smallint(6)", "datetime"),
        Kind::Sqlite => ("", "", "", ""),
    };
    let server = |msg: String| (kind != Kind::Sqlite).then_some(msg);
    vec![
        (
            "UPDATE ex_lim SET d52 = '1.234' WHERE id = 1",
            "d52",
            server(format!(
                "more than 2 digits after the point: {dec} would round it (precision lost); \
                 round it explicitly with decimal_round(value, 2)"
            )),
        ),
        (
            "UPDATE ex_lim SET d52 = '1000' WHERE id = 1",
            "d52",
            server(format!(
                "more than 3 digits before the point: out of range for {dec}"
            )),
        ),
        (
            "UPDATE ex_lim SET d52 = '1234567890.1234567' WHERE id = 1",
            "d52",
            Some(if kind == Kind::Sqlite {
                "more than 15 significant digits: SQLite keeps this DECIMAL column as a \
                 64-bit float, which would round it (precision lost)"
                    .to_owned()
            } else {
                format!(
                    "more than 2 digits after the point: {dec} would round it (precision lost); round it explicitly with decimal_round(value, 2)"
                )
            }),
        ),
        (
            "UPDATE ex_lim SET v3 = 'äöüß' WHERE id = 1",
            "v3",
            server(format!("longer than 3 characters: too long for {varchar}")),
        ),
        (
            "UPDATE ex_lim SET s = 32768 WHERE id = 1",
            "s",
            server(format!("out of range for {small}")),
        ),
        (
            "UPDATE ex_lim SET e = 'meh' WHERE id = 1",
            "e",
            server("not one of ok, sad".to_owned()),
        ),
        (
            "UPDATE ex_lim SET at = '2024-01-02 03:04:05.5' WHERE id = 1",
            "at",
            server(format!(
                "more than 0 fractional second digits: {at} would round them"
            )),
        ),
        (
            r#"UPDATE ex_lim SET j = '{"a": 1, "a": 2}' WHERE id = 1"#,
            "j",
            (kind == Kind::Postgres).then(|| {
                "an object repeats a key: jsonb keeps only the last, so production would not \
                 store what the review shows"
                    .to_owned()
            }),
        ),
        (
            "UPDATE ex_lim SET t = 'a' || char(0) || 'b' WHERE id = 1",
            "t",
            (kind == Kind::Postgres)
                .then(|| "text contains a NUL byte, which PostgreSQL cannot store".to_owned()),
        ),
    ]
}

/// Every value is checked against the column's declared limits before the
/// transaction: a value production would round, reject or could not store
/// is a violation naming the column and the rule, and production is
/// untouched. Multibyte text is counted in characters.
#[tokio::test]
async fn declared_limits_are_violations_before_the_transaction() {
    each_db!("ex_limits", |db| {
        limits_setup(&db).await;
        let before = lim_row(&db).await;
        for (sql, column, want) in limit_cases(db.kind) {
            let Some(msg) = want else { continue };
            let mut sdb = open(&db.prod, "ex_lim").await;
            run(&sdb, sql).await;
            let case = format!("{:?}: {sql}", db.kind);
            let err = production_type_refusal(&mut sdb, column, msg.clone(), &case).await;
            assert_eq!(
                err.to_string(),
                format!("1 row(s) break their contract:\nex_lim[id=1].{column}: {msg}"),
                "{:?}: {sql}",
                db.kind
            );
            assert_eq!(lim_row(&db).await, before, "{:?}: {sql}", db.kind);
        }

        // Three characters of two bytes each fit varchar(3).
        let mut sdb = open(&db.prod, "ex_lim").await;
        run(
            &sdb,
            "UPDATE ex_lim SET v3 = 'äöü', d52 = '-999.99', e = 'sad' WHERE id = 1",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{:?}: {cs:?}", db.kind);
        sdb.commit(&cs).await.unwrap();
        assert_eq!(
            lim_row(&db).await,
            ["-999.99|äöü|1|sad|x|2024-01-02 03:04:05|{\"a\": 1}"],
            "{:?}",
            db.kind
        );
    });
}

/// SQLite stores what its own column declares nothing against: the writes
/// a server would refuse commit there as written.
#[tokio::test]
async fn sqlite_declares_no_length_or_width() {
    let db = TestDb::new(Kind::Sqlite, "ex_limits_sqlite").await.unwrap();
    limits_setup(&db).await;
    let mut sdb = open(&db.prod, "ex_lim").await;
    run(
        &sdb,
        "UPDATE ex_lim SET v3 = 'äöüß', s = 32768, e = 'meh' WHERE id = 1",
    )
    .await;
    commit_valid(&mut sdb).await;
    assert_eq!(
        lim_row(&db).await,
        ["1.25|äöüß|32768|meh|x|2024-01-02 03:04:05|{\"a\": 1}"]
    );
}

/// MariaDB outside strict mode truncates, clamps and rounds without an
/// error. Its sessions here run with `sql_mode = ''` (shown by a direct
/// write that is silently truncated), and shadowdb refuses each such value
/// before the transaction, so production never holds an altered one.
#[tokio::test]
async fn mariadb_non_strict_mode_never_alters_a_value() {
    let Some(db) = TestDb::new(Kind::MySql, "ex_nonstrict").await else {
        return;
    };
    limits_setup(&db).await;
    db.exec("CREATE TABLE ex_small (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL, tiny TINYINT, code CHAR(3), n INT UNSIGNED, ts TIMESTAMP NULL, f FLOAT(7,2))")
        .await;
    db.exec("INSERT INTO ex_small VALUES (1, 1, 1, 'abc', 1, NULL, 1.25)")
        .await;
    let (pool, stored) = crate::common::lax_mysql_write(
        &db.url,
        "INSERT INTO ex_lim (id, org_id, v3, d52) VALUES (9, 2, 'abcdef', '1.239')",
        "SELECT CONCAT_WS('|', v3, CAST(d52 AS CHAR)) FROM ex_lim WHERE id = 9",
    )
    .await;
    // The mode is in force: production itself truncates silently.
    assert_eq!(stored, ["abc|1.24"]);
    let prod = Production::MySql(pool);
    let before = lim_row(&db).await;
    for (sql, column, want) in limit_cases(Kind::MySql) {
        let Some(msg) = want else { continue };
        let mut sdb = open(&prod, "ex_lim").await;
        run(&sdb, sql).await;
        assert!(matches!(
            production_type_refusal(&mut sdb, column, msg, sql).await,
            Error::Contract(_)
        ));
    }
    assert_eq!(lim_row(&db).await, before);

    let small = |sql: &'static str, column: &'static str, msg: &'static str| (sql, column, msg);
    for (sql, column, msg) in [
        small(
            "UPDATE ex_small SET tiny = 128 WHERE id = 1",
            "tiny",
            "out of range for tinyint(4)",
        ),
        small(
            "UPDATE ex_small SET n = -1 WHERE id = 1",
            "n",
            "out of range for int(10) unsigned",
        ),
        small(
            "UPDATE ex_small SET ts = '2040-01-01 00:00:00+00:00' WHERE id = 1",
            "ts",
            "outside 1970-01-01 00:00:01 to 2038-01-19 03:14:07 UTC, the range of timestamp",
        ),
        small(
            "UPDATE ex_small SET f = 1.375 WHERE id = 1",
            "f",
            "more than 2 digits after the point: float(7,2) would round it (precision lost); \
             round it explicitly with decimal_round(value, 2)",
        ),
        small(
            "UPDATE ex_small SET code = 'ab ' WHERE id = 1",
            "code",
            "ends in a space, which char(3) does not keep",
        ),
    ] {
        let mut sdb = open(&prod, "ex_small").await;
        run(&sdb, sql).await;
        assert!(matches!(
            production_type_refusal(&mut sdb, column, msg, sql).await,
            Error::Contract(_)
        ));
    }
    assert_eq!(
        fresh(
            &db,
            "SELECT CONCAT_WS('|', tiny, code, n, COALESCE(ts, 'NULL'), f) FROM ex_small ORDER BY id"
        )
        .await,
        ["1|abc|1|NULL|1.25"]
    );
}
