//! Hostile cases against issue 13's "what the review shows is what
//! production will store" and "columns production computes or resolves":
//! values a server would alter silently under its own rules (SQLite's float
//! range, MariaDB's character sets outside strict mode) and provisional keys
//! smuggled out in text. Each is refused by table, key, column and rule,
//! and production, read through a connection of its own, is untouched.

use safemodel::{Rule, Violation};
use shadowdb::prod::Production;
use shadowdb::{Error, ShadowDb};

use crate::common::{Kind, TestDb, commit_diff, commit_valid, production_type_refusal, run};
use crate::each_db;

/// Production's rows through a new connection: `sql` selects one text column.
async fn open(prod: &Production, tables: &[&str]) -> ShadowDb {
    crate::common::open_uncontracted(prod, tables, "org", 1_i64).await
}

/// `sql` in a sandbox of `tables` on `prod` commits (its changeset valid):
/// production's `row` afterwards, read through a new connection to `url`
/// (`row` selects one text column).
async fn commit_and_read(
    prod: &Production,
    url: &str,
    tables: &[&str],
    sql: &str,
    row: &str,
) -> Vec<String> {
    let mut sdb = open(prod, tables).await;
    run(&sdb, sql).await;
    commit_valid(&mut sdb).await;
    crate::common::fresh_text(url, row).await
}

/// SQLite keeps a DECIMAL column as a float: `1e400` became an infinity and
/// `1e-400` zero, though each has one significant digit. Refused now;
/// `1e300` fits and is stored as the same number.
#[tokio::test]
async fn sqlite_decimal_beyond_the_float_range_is_refused() {
    let db = TestDb::new(Kind::Sqlite, "h13_sqlite_range").await.unwrap();
    db.exec(
        "CREATE TABLE h_prices (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, p DECIMAL(30,15));
         INSERT INTO h_prices VALUES (1, 1, '2.5')",
    )
    .await;
    let msg = "outside the range of a 64-bit float: SQLite keeps this DECIMAL column as a \
               float, which would store an infinity, zero or fewer digits (precision lost)";
    for v in ["1e400", "-1e400", "1e-400", "1.5e-310"] {
        let mut sdb = open(&db.prod, &["h_prices"]).await;
        run(&sdb, &format!("UPDATE h_prices SET p = '{v}' WHERE id = 1")).await;
        let err = production_type_refusal(&mut sdb, "p", msg, v).await;
        assert_eq!(
            err.to_string(),
            format!("1 row(s) break their contract:\nh_prices[id=1].p: {msg}"),
            "{v}"
        );
        assert_eq!(
            crate::common::fresh_text(&db.url, "SELECT CAST(p AS TEXT) FROM h_prices").await,
            ["2.5"],
            "{v}"
        );
    }
    assert_eq!(
        commit_and_read(
            &db.prod,
            &db.url,
            &["h_prices"],
            "UPDATE h_prices SET p = '1e300' WHERE id = 1",
            "SELECT CAST(p = 1e300 AS TEXT) FROM h_prices"
        )
        .await,
        ["1"]
    );
}

/// MariaDB outside strict mode stores `?` for a character the column's
/// character set lacks (an emoji in utf8mb3, a CJK character in latin1).
/// Refused by column and rule; characters the set holds are stored as
/// written.
#[tokio::test]
async fn mariadb_character_set_never_replaces_a_character() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "h13_charset",
        "CREATE TABLE h_notes (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, \
           m3 VARCHAR(10) CHARACTER SET utf8mb3, l1 TEXT CHARACTER SET latin1, \
           a CHAR(4) CHARACTER SET ascii, m4 VARCHAR(10));
         INSERT INTO h_notes VALUES (1, 1, 'x', 'x', 'x', 'x')",
    )
    .await
    else {
        return;
    };
    let (pool, stored) = crate::common::lax_mysql_write(
        &db.url,
        "INSERT INTO h_notes (id, org, m3) VALUES (9, 2, 'a😀b')",
        "SELECT m3 FROM h_notes WHERE id = 9",
    )
    .await;
    // The mode is in force: production itself replaces the emoji.
    assert_eq!(stored, ["a?b"]);
    let prod = Production::MySql(pool);
    let row = "SELECT CONCAT_WS('|', m3, l1, a, m4) FROM h_notes WHERE id = 1";
    for (set, column, msg) in [
        (
            "m3 = 'a😀b'",
            "m3",
            "holds a character that utf8mb3 cannot store: varchar(10) character set utf8mb3 \
             would refuse it or store '?' (MariaDB outside strict mode)",
        ),
        (
            "l1 = '東京'",
            "l1",
            "holds a character that latin1 cannot store: text character set latin1 \
             would refuse it or store '?' (MariaDB outside strict mode)",
        ),
        (
            "a = 'é'",
            "a",
            "holds a character that ascii cannot store: char(4) character set ascii \
             would refuse it or store '?' (MariaDB outside strict mode)",
        ),
    ] {
        let mut sdb = open(&prod, &["h_notes"]).await;
        run(&sdb, &format!("UPDATE h_notes SET {set} WHERE id = 1")).await;
        let err = production_type_refusal(&mut sdb, column, msg, set).await;
        assert!(matches!(err, Error::Contract(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("1 row(s) break their contract:\nh_notes[id=1].{column}: {msg}")
        );
        assert_eq!(
            crate::common::fresh_text(&db.url, row).await,
            ["x|x|x|x"],
            "{set}"
        );
    }
    assert_eq!(
        commit_and_read(
            &prod,
            &db.url,
            &["h_notes"],
            "UPDATE h_notes SET m3 = 'äß€中', l1 = 'äß€', a = 'ok', m4 = 'a😀b' WHERE id = 1",
            row
        )
        .await,
        ["äß€中|äß€|ok|a😀b"]
    );
}

/// A provisional key written into a text, decimal or JSON column (no
/// foreign key carries it there) would reach production as the sandbox's
/// number: refused like one in an integer column.
#[tokio::test]
async fn provisional_keys_in_text_are_refused() {
    each_db!("h13_prov_text", |db| {
        let ddl = match db.kind {
            Kind::Sqlite => {
                "CREATE TABLE h_tasks (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, title TEXT NOT NULL);
                 CREATE TABLE h_links (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, ref TEXT, amount DECIMAL(30,2))"
            }
            Kind::Postgres => {
                "CREATE TABLE h_tasks (id bigserial PRIMARY KEY, org bigint NOT NULL, title text NOT NULL);
                 CREATE TABLE h_links (id bigint PRIMARY KEY, org bigint NOT NULL, ref text, amount numeric(30,2))"
            }
            Kind::MySql => {
                "CREATE TABLE h_tasks (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, title TEXT NOT NULL);
                 CREATE TABLE h_links (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, ref TEXT, amount DECIMAL(30,2))"
            }
        };
        db.exec(ddl).await;
        db.exec(
            "INSERT INTO h_tasks (org, title) VALUES (1, 'mine');
             INSERT INTO h_links VALUES (1, 1, 'task:1', 1)",
        )
        .await;
        for set in [
            "ref = 'task:' || last_insert_rowid()",
            "ref = CAST(last_insert_rowid() AS TEXT)",
            "amount = decimal_add(last_insert_rowid(), '0.00')",
        ] {
            let mut sdb = open(&db.prod, &["h_tasks", "h_links"]).await;
            run(
                &sdb,
                &format!(
                    "INSERT INTO h_tasks (title) VALUES ('new'); \
                     UPDATE h_links SET {set} WHERE id = 1"
                ),
            )
            .await;
            let cs = sdb.diff().unwrap();
            let link = cs.changes().iter().find(|c| c.table == "h_links").unwrap();
            let column = if set.starts_with("ref") {
                "ref"
            } else {
                "amount"
            };
            assert!(
                link.violations.contains(&Violation::new(
                    column,
                    Rule::Other("provisional_key".into()),
                    "holds the provisional key of a new row of `h_tasks` in its text: \
                     production will give that row another key"
                )),
                "{:?}: {set}: {:?}",
                db.kind,
                link.violations
            );
            let err = sdb.commit(&cs).await.unwrap_err();
            assert!(matches!(err, Error::Contract(_)), "{err:?}");
            let links = match db.kind {
                Kind::MySql => "SELECT CONCAT(ref, '|', CAST(amount AS CHAR)) FROM h_links",
                _ => "SELECT ref || '|' || CAST(amount AS TEXT) FROM h_links",
            };
            let want = match db.kind {
                Kind::Sqlite => "task:1|1",
                _ => "task:1|1.00",
            };
            assert_eq!(
                crate::common::fresh_text(&db.url, links).await,
                [want],
                "{:?}: {set}",
                db.kind
            );
            assert_eq!(
                crate::common::fresh_text(&db.url, "SELECT title FROM h_tasks ORDER BY id").await,
                ["mine"]
            );
        }
    });
}

/// PostgreSQL's array input rounds `numeric(5,2)[]`, cuts trailing spaces in
/// `varchar(3)[]` and pads `character(3)[]` without an error, where the same
/// value in a plain column is refused: each element is checked against the
/// element type's limits.
#[tokio::test]
async fn postgres_array_elements_are_not_rounded_or_cut() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "h13_pg_arrays",
        "CREATE TABLE h_arr (id bigint PRIMARY KEY, org bigint NOT NULL, \
           nums numeric(5,2)[], tags varchar(3)[], codes character(3)[]);
         INSERT INTO h_arr VALUES (1, 1, '{1.25}', '{abc}', '{xyz}')",
    )
    .await
    else {
        return;
    };
    let row = "SELECT nums::text || '|' || tags::text || '|' || codes::text FROM h_arr";
    assert_eq!(
        crate::common::fresh_text(&db.url, row).await,
        ["{1.25}|{abc}|{xyz}"]
    );
    for (set, column, msg) in [
        (
            "nums = '{1.234}'",
            "nums",
            "element 1: more than 2 digits after the point: numeric(5,2) would round it \
             (precision lost); round it explicitly with decimal_round(value, 2) \
             (in numeric(5,2)[])",
        ),
        (
            "tags = '{ok,\"abc   \"}'",
            "tags",
            "element 2: longer than 3 characters: too long for character varying(3) \
             (in character varying(3)[])",
        ),
        (
            "codes = '{ab}'",
            "codes",
            "element 1: shorter than 3 characters: character(3) pads it with spaces \
             (in character(3)[])",
        ),
    ] {
        let mut sdb = open(&db.prod, &["h_arr"]).await;
        run(&sdb, &format!("UPDATE h_arr SET {set} WHERE id = 1")).await;
        let err = production_type_refusal(&mut sdb, column, msg, set).await;
        assert_eq!(
            err.to_string(),
            format!("1 row(s) break their contract:\nh_arr[id=1].{column}: {msg}")
        );
        assert_eq!(
            crate::common::fresh_text(&db.url, row).await,
            ["{1.25}|{abc}|{xyz}"],
            "{set}"
        );
    }
    assert_eq!(
        commit_and_read(
            &db.prod,
            &db.url,
            &["h_arr"],
            "UPDATE h_arr SET nums = '{-999.99,NULL}', tags = '{\"a,b\"}', codes = '{abc}' WHERE id = 1",
            row
        )
        .await,
        ["{-999.99,NULL}|{\"a,b\"}|{abc}"]
    );
}

/// A foreign key onto `s2.tasks`, a tenant table outside the scope, while a
/// scoped table of another schema is also named `tasks`: tables are one
/// table only when their schema-qualified names are, so the reference is
/// checked at commit (and the sandbox does not take `public.tasks` for its
/// parent).
#[tokio::test]
async fn a_parent_of_the_same_name_in_another_schema_is_outside_the_scope() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "h13_same_name",
        "CREATE SCHEMA s2;
         CREATE TABLE s2.tasks (id bigint PRIMARY KEY, org bigint NOT NULL);
         CREATE TABLE tasks (id bigint PRIMARY KEY, org bigint NOT NULL, title text);
         CREATE TABLE comments (id bigint PRIMARY KEY, org bigint NOT NULL, \
           task_id bigint REFERENCES s2.tasks (id));
         INSERT INTO s2.tasks VALUES (1, 2), (2, 1), (3, 1);
         INSERT INTO tasks VALUES (1, 1, 'mine'), (2, 1, 'also mine');
         INSERT INTO comments VALUES (1, 1, 2)",
    )
    .await
    else {
        return;
    };
    let mut sdb = open(&db.prod, &["tasks", "comments"]).await;
    // s2.tasks 1 is tenant 2's (public.tasks 1 is this tenant's).
    run(&sdb, "UPDATE comments SET task_id = 1 WHERE id = 1").await;
    let err = commit_diff(&mut sdb).await.unwrap_err();
    assert!(matches!(err, Error::TenantBreach { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant breach: comments[id=1]: (task_id) does not reference a row of `s2.tasks` of this tenant"
    );
    let row = "SELECT task_id::text FROM comments";
    assert_eq!(crate::common::fresh_text(&db.url, row).await, ["2"]);
    // s2.tasks 3 is this tenant's, though public.tasks has no row 3.
    assert_eq!(
        commit_and_read(
            &db.prod,
            &db.url,
            &["tasks", "comments"],
            "UPDATE comments SET task_id = 3 WHERE id = 1",
            row
        )
        .await,
        ["3"]
    );
}

/// A PostgreSQL domain over `numeric(5,2)` rounds a written `1.234` and one
/// over `varchar(3)` cuts trailing spaces, without an error: a domain's
/// limits are its base type's, checked like a plain column's.
#[tokio::test]
async fn postgres_domains_keep_their_base_type_limits() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "h13_pg_domains",
        "CREATE DOMAIN h_money AS numeric(5,2) CHECK (VALUE > -1000);
         CREATE DOMAIN h_code AS varchar(3);
         CREATE DOMAIN h_codes AS varchar(3)[];
         CREATE TABLE h_dom (id bigint PRIMARY KEY, org bigint NOT NULL, \
           m h_money, c h_code, cs h_codes);
         INSERT INTO h_dom VALUES (1, 1, 1.25, 'abc', '{abc}')",
    )
    .await
    else {
        return;
    };
    let row = "SELECT m::text || '|' || c::text || '|' || cs::text FROM h_dom";
    assert_eq!(
        crate::common::fresh_text(&db.url, row).await,
        ["1.25|abc|{abc}"]
    );
    for (set, column, msg) in [
        (
            "m = '1.234'",
            "m",
            "more than 2 digits after the point: numeric(5,2) would round it (precision \
             lost); round it explicitly with decimal_round(value, 2)",
        ),
        (
            "c = 'abc   '",
            "c",
            "longer than 3 characters: too long for character varying(3)",
        ),
        (
            "cs = '{abcdef}'",
            "cs",
            "element 1: longer than 3 characters: too long for character varying(3) \
             (in character varying(3)[])",
        ),
    ] {
        let mut sdb = open(&db.prod, &["h_dom"]).await;
        run(&sdb, &format!("UPDATE h_dom SET {set} WHERE id = 1")).await;
        assert!(matches!(
            production_type_refusal(&mut sdb, column, msg, set).await,
            Error::Contract(_)
        ));
        assert_eq!(
            crate::common::fresh_text(&db.url, row).await,
            ["1.25|abc|{abc}"],
            "{set}"
        );
    }
    // Values within the limits commit as written.
    assert_eq!(
        commit_and_read(
            &db.prod,
            &db.url,
            &["h_dom"],
            "UPDATE h_dom SET m = '-999.99', c = 'xy', cs = '{a,b}' WHERE id = 1",
            row
        )
        .await,
        ["-999.99|xy|{a,b}"]
    );
}

/// SQLite's floats overflow to infinity (`1e308 * 10`); MariaDB has none
/// and stored its largest number instead, in any `sql_mode`. Refused.
#[tokio::test]
async fn mariadb_never_receives_an_infinity() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "h13_inf",
        "CREATE TABLE h_f (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, d DOUBLE, f FLOAT);
         INSERT INTO h_f VALUES (1, 1, 1.5, 2.5)",
    )
    .await
    else {
        return;
    };
    let pool = crate::common::lax_mysql_pool(&db.url).await;
    let row = "SELECT CONCAT_WS('|', d, f) FROM h_f";
    for prod in [db.prod.clone(), Production::MySql(pool)] {
        for (set, column, declared) in [
            ("d = 1e308 * 10", "d", "double"),
            ("f = -1e308 * 10", "f", "float"),
        ] {
            let mut sdb = open(&prod, &["h_f"]).await;
            run(&sdb, &format!("UPDATE h_f SET {set} WHERE id = 1")).await;
            let msg = format!(
                "an infinity, which MariaDB does not have: {declared} would store its \
                 largest number instead"
            );
            assert!(matches!(
                production_type_refusal(&mut sdb, column, msg, set).await,
                Error::Contract(_)
            ));
            assert_eq!(
                crate::common::fresh_text(&db.url, row).await,
                ["1.5|2.5"],
                "{set}"
            );
        }
    }
}

/// PostgreSQL's interval input truncates a fraction of a year to whole
/// months (`0.123 years` is `1 mon`) and rounds seconds to microseconds,
/// without an error: refused; whole units and seconds commit as written.
#[tokio::test]
async fn postgres_intervals_are_not_truncated() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "h13_pg_interval",
        "CREATE TABLE h_iv (id bigint PRIMARY KEY, org bigint NOT NULL, iv interval);
         INSERT INTO h_iv VALUES (1, 1, '1 day')",
    )
    .await
    else {
        return;
    };
    let row = "SELECT iv::text FROM h_iv";
    for (v, msg) in [
        (
            "0.123 years",
            "a fraction of a unit other than seconds: interval converts it and truncates \
             (write whole units, or seconds)",
        ),
        (
            "00:00:00.0000001",
            "more than 6 fractional second digits: interval would round them",
        ),
    ] {
        let mut sdb = open(&db.prod, &["h_iv"]).await;
        run(&sdb, &format!("UPDATE h_iv SET iv = '{v}' WHERE id = 1")).await;
        assert!(matches!(
            production_type_refusal(&mut sdb, "iv", msg, v).await,
            Error::Contract(_)
        ));
        assert_eq!(
            crate::common::fresh_text(&db.url, row).await,
            ["1 day"],
            "{v}"
        );
    }
    assert_eq!(
        commit_and_read(
            &db.prod,
            &db.url,
            &["h_iv"],
            "UPDATE h_iv SET iv = '1 year 2 days 1.5 s' WHERE id = 1",
            row
        )
        .await,
        ["1 year 2 days 00:00:01.5"]
    );
}

/// A PostgreSQL pool whose sessions print floats with fewer digits
/// (`extra_float_digits = 0`) and live in another time zone: array text read
/// and written by shadowdb is still production's exact value (every float
/// digit; a timestamp without offset in an array is UTC, as a plain
/// `timestamptz` column's is).
#[tokio::test]
async fn postgres_session_settings_do_not_change_array_text() {
    let Some(db) = TestDb::set_up(
        Kind::Postgres,
        "h13_pg_settings",
        "CREATE TABLE h_set (id bigint PRIMARY KEY, org bigint NOT NULL, \
           fa float8[], ta timestamptz[]);
         INSERT INTO h_set VALUES (1, 1, '{0.30000000000000004}', '{\"2024-01-01 00:00:00+00\"}')",
    )
    .await
    else {
        return;
    };
    let pool = crate::common::session_pool::<sqlx::Postgres>(
        &db.url,
        "SET extra_float_digits = 0; SET TimeZone = 'America/New_York'; \
                     SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'",
    )
    .await;
    let prod = Production::Postgres(pool);
    assert_eq!(
        commit_and_read(
            &prod,
            &db.url,
            &["h_set"],
            "UPDATE h_set SET fa = replace(fa, '}', ',1}'), \
               ta = '{\"2024-03-10 02:30:00\"}' WHERE id = 1",
            "SELECT array_to_string(fa, ',') || '|' || \
               (ta[1] AT TIME ZONE 'UTC')::text FROM h_set"
        )
        .await,
        ["0.30000000000000004,1|2024-03-10 02:30:00"]
    );
}

/// A MariaDB pool whose sessions run with `NO_BACKSLASH_ESCAPES`,
/// `ANSI_QUOTES`, `PIPES_AS_CONCAT` and `PAD_CHAR_TO_FULL_LENGTH`: quotes and
/// backslashes are stored as written, and an untouched `CHAR` column is no
/// conflict.
#[tokio::test]
async fn mariadb_sql_modes_store_text_as_written() {
    let Some(db) = TestDb::set_up(
        Kind::MySql,
        "h13_modes",
        "CREATE TABLE h_modes (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, \
           t TEXT, c CHAR(5));
         INSERT INTO h_modes VALUES (1, 1, 'x', 'ab')",
    )
    .await
    else {
        return;
    };
    let pool = crate::common::session_pool::<sqlx::MySql>(
        &db.url,
        "SET SESSION sql_mode = \
                     'NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT,PAD_CHAR_TO_FULL_LENGTH'",
    )
    .await;
    let prod = Production::MySql(pool);
    assert_eq!(
        commit_and_read(
            &prod,
            &db.url,
            &["h_modes"],
            r#"UPDATE h_modes SET t = 'a\b''c"d\n' WHERE id = 1"#,
            "SELECT CONCAT(HEX(t), '|', HEX(c)) FROM h_modes"
        )
        .await,
        [format!("{}|6162", hex(r#"a\b'c"d\n"#))]
    );
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

/// A child whose composite foreign key `(org, task_id) -> tasks (org, id)`
/// carries a new parent's key is written with the key production gave the
/// parent, on every database (it was refused as a provisional key "without
/// a foreign key").
#[tokio::test]
async fn composite_foreign_keys_carry_the_key_production_assigns() {
    each_db!("h13_composite", |db| {
        let ddl = match db.kind {
            Kind::Sqlite => {
                "CREATE TABLE h_tasks (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, title TEXT NOT NULL, UNIQUE (org, id));
                 CREATE TABLE h_notes (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, task_id INTEGER NOT NULL, body TEXT NOT NULL, \
                   FOREIGN KEY (org, task_id) REFERENCES h_tasks (org, id))"
            }
            Kind::Postgres => {
                "CREATE TABLE h_tasks (id bigserial PRIMARY KEY, org bigint NOT NULL, title text NOT NULL, UNIQUE (org, id));
                 CREATE TABLE h_notes (id bigserial PRIMARY KEY, org bigint NOT NULL, task_id bigint NOT NULL, body text NOT NULL, \
                   FOREIGN KEY (org, task_id) REFERENCES h_tasks (org, id))"
            }
            Kind::MySql => {
                "CREATE TABLE h_tasks (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, title TEXT NOT NULL, UNIQUE (org, id)) ENGINE=InnoDB;
                 CREATE TABLE h_notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, org BIGINT NOT NULL, task_id BIGINT NOT NULL, body TEXT NOT NULL, \
                   FOREIGN KEY (org, task_id) REFERENCES h_tasks (org, id)) ENGINE=InnoDB"
            }
        };
        db.exec(ddl).await;
        db.exec(
            "INSERT INTO h_tasks (org, title) VALUES (1, 'mine');
             INSERT INTO h_tasks (org, title) VALUES (2, 'theirs')",
        )
        .await;
        let mut sdb = open(&db.prod, &["h_tasks", "h_notes"]).await;
        run(
            &sdb,
            "INSERT INTO h_tasks (title) VALUES ('new'); \
             INSERT INTO h_notes (task_id, body) VALUES (last_insert_rowid(), 'on new')",
        )
        .await;
        let cs = sdb.diff().unwrap();
        assert!(cs.is_valid(), "{:?}: {:?}", db.kind, cs.changes());
        sdb.commit(&cs).await.unwrap();
        let notes = match db.kind {
            Kind::MySql => {
                "SELECT CONCAT(n.org, '|', n.task_id, '|', t.title) FROM h_notes n JOIN h_tasks t ON t.id = n.task_id"
            }
            _ => {
                "SELECT n.org || '|' || n.task_id || '|' || t.title FROM h_notes n JOIN h_tasks t ON t.id = n.task_id"
            }
        };
        assert_eq!(
            crate::common::fresh_text(&db.url, notes).await,
            ["1|3|new"],
            "{:?}",
            db.kind
        );
    });
}

/// Every other way of writing a generated column is refused too: an upsert's
/// `DO UPDATE`, `UPDATE .. FROM`, `INSERT OR REPLACE` and `INSERT .. SELECT`
/// naming it; production is untouched.
#[tokio::test]
async fn computed_columns_are_read_only_whatever_the_statement() {
    each_db!("h13_computed", |db| {
        let ddl = match db.kind {
            Kind::Sqlite => {
                "CREATE TABLE h_items (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, qty INTEGER NOT NULL, \
                   total INTEGER GENERATED ALWAYS AS (qty * 2) STORED)"
            }
            Kind::Postgres => {
                "CREATE TABLE h_items (id bigint PRIMARY KEY, org bigint NOT NULL, qty bigint NOT NULL, \
                   total bigint GENERATED ALWAYS AS (qty * 2) STORED)"
            }
            Kind::MySql => {
                "CREATE TABLE h_items (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, qty BIGINT NOT NULL, \
                   total BIGINT AS (qty * 2) STORED)"
            }
        };
        db.exec(ddl).await;
        db.exec("INSERT INTO h_items (id, org, qty) VALUES (1, 1, 1); INSERT INTO h_items (id, org, qty) VALUES (2, 1, 2)")
            .await;
        for sql in [
            "INSERT INTO h_items (id, qty) VALUES (1, 5) ON CONFLICT (id) DO UPDATE SET total = 99",
            "UPDATE h_items SET total = o.qty FROM (SELECT 2 AS id, 7 AS qty) AS o WHERE h_items.id = o.id",
            "INSERT OR REPLACE INTO h_items (id, qty, total) VALUES (1, 5, 99)",
            "INSERT INTO h_items (id, qty, total) SELECT id + 10, qty, 99 FROM h_items",
        ] {
            let sdb = open(&db.prod, &["h_items"]).await;
            let err = sdb.execute(sql, &[]).await.unwrap_err();
            assert!(
                matches!(&err, Error::Refused(shadowdb::Refusal::Computed(c)) if c == "h_items.total"),
                "{:?} {sql}: {err:?}",
                db.kind
            );
            let cs = sdb.diff().unwrap();
            assert!(cs.is_empty(), "{:?} {sql}: {cs:?}", db.kind);
        }
        let rows = match db.kind {
            Kind::MySql => "SELECT CONCAT(id, '|', qty, '|', total) FROM h_items ORDER BY id",
            _ => "SELECT id || '|' || qty || '|' || total FROM h_items ORDER BY id",
        };
        assert_eq!(
            crate::common::fresh_text(&db.url, rows).await,
            ["1|1|2", "2|2|4"],
            "{:?}",
            db.kind
        );
    });
}
