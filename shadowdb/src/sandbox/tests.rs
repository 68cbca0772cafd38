//! Unit tests of the sandbox: walls, limits, scripts and the diff's capture.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic fails the test"
)]

use rusqlite::types::Value as SqlValue;

use super::script::parameter_len;
use super::*;

fn col(name: &str, kind: ColumnKind, nullable: bool) -> SandboxColumn {
    SandboxColumn {
        name: name.to_owned(),
        kind,
        nullable,
        pii: false,
        computed: false,
    }
}

fn table(name: &str, columns: Vec<SandboxColumn>, key: Vec<usize>) -> SandboxTable {
    SandboxTable {
        name: name.to_owned(),
        columns,
        key,
        read_only: false,
        generated_key: None,
        tenant: None,
        foreign_keys: Vec::new(),
    }
}

/// `t`: an INTEGER key (the rowid); `s`: a text key (an index); `c`: a
/// composite key; `child`: rows of `t` by foreign key, cascading.
fn sandbox() -> Sandbox {
    let t = table(
        "t",
        vec![
            col("id", ColumnKind::Int64, false),
            col("v", ColumnKind::Text, true),
            col("n", ColumnKind::Int64, true),
        ],
        vec![0],
    );
    let s = table(
        "s",
        vec![
            col("code", ColumnKind::Text, false),
            col("label", ColumnKind::Text, true),
        ],
        vec![0],
    );
    let c = table(
        "c",
        vec![
            col("a", ColumnKind::Int64, false),
            col("b", ColumnKind::Text, false),
            col("x", ColumnKind::Float64, true),
        ],
        vec![0, 1],
    );
    let mut child = table(
        "child",
        vec![
            col("cid", ColumnKind::Text, false),
            col("tid", ColumnKind::Int64, true),
        ],
        vec![0],
    );
    child.foreign_keys.push(SandboxFk {
        columns: vec!["tid".into()],
        parent: "t".into(),
        parent_columns: vec!["id".into()],
        on_delete: "CASCADE",
        on_update: "CASCADE",
    });
    let sb = Sandbox::new(vec![t, s, c, child], Limits::default()).unwrap();
    let text = |s: &str| Value::Text(s.to_owned());
    let batch = |rows: &[Vec<Value>]| {
        let mut b = CloneBatch::default();
        for row in rows {
            for v in row {
                b.push(v);
            }
            b.end_row();
        }
        b
    };
    sb.load(
        0,
        &batch(
            &(1..=40)
                .map(|i| vec![Value::Int(i), text(&format!("v{i}")), Value::Int(i % 3)])
                .collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    sb.load(
        1,
        &batch(
            &(1..=40)
                .map(|i| vec![text(&format!("k{i:02}")), text(&format!("L{i}"))])
                .collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    sb.load(
        2,
        &batch(
            &(1..=40)
                .map(|i| vec![Value::Int(i % 4), text(&format!("b{i}")), Value::Float(0.5)])
                .collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    sb.load(
        3,
        &batch(
            &(1..=40)
                .map(|i| vec![text(&format!("c{i:02}")), Value::Int((i % 10) + 1)])
                .collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    sb.seal().unwrap();
    sb
}

/// The changes of table `i` both ways: from the rows the triggers
/// captured (if they keep its baseline) and from every row, each sorted.
fn both(sb: &Sandbox, i: usize) -> (Option<Vec<String>>, Vec<String>) {
    let canon = |v: Vec<RawChange>| {
        let mut out: Vec<String> = v
            .iter()
            .map(|c| format!("{:?} -> {:?}", c.old, c.new))
            .collect();
        out.sort();
        out
    };
    let t = &sb.tables[i];
    let _in = Internal::new(&sb.walls);
    let compare = |rid| {
        let mut out = Vec::new();
        sb.compare(i, t, rid, &mut |c| {
            out.push(c);
            Ok(())
        })
        .unwrap();
        canon(out)
    };
    let captured = sb.captured[i].map(|rid| compare(Some(rid)));
    let all = compare(None);
    // What a diff returns, whichever way it takes.
    assert_eq!(canon(sb.changes(i).unwrap()), all);
    (captured, all)
}

/// Runs `sql`, then checks every table: the captured rows, where
/// triggers keep the baseline, give exactly what comparing every row does.
fn check(sb: &Sandbox, sql: &str) -> Vec<(Option<Vec<String>>, Vec<String>)> {
    let _ = sb.run(sql, &[]);
    (0..sb.tables.len())
        .map(|i| {
            let (captured, all) = both(sb, i);
            if let Some(captured) = &captured {
                assert_eq!(captured, &all, "table {i} after `{sql}`");
            }
            (captured, all)
        })
        .collect()
}

#[test]
fn a_clone_batch_holds_what_to_sandbox_stores() {
    let values = [
        Value::Null,
        Value::Bool(true),
        Value::Int(-7),
        Value::Float(0.1),
        Value::Decimal(safemodel::Decimal::new("1.10").unwrap()),
        Value::Text("héllo".into()),
        Value::Bytes(vec![0, 1, 255]),
        Value::Uuid(uuid::Uuid::from_u128(
            0x1234_5678_9abc_def0_1234_5678_9abc_def0,
        )),
        Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        Value::Time(chrono::NaiveTime::from_hms_micro_opt(1, 2, 3, 450_000).unwrap()),
        Value::Timestamp(
            chrono::NaiveDate::from_ymd_opt(1999, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1)
                .unwrap(),
        ),
        Value::TimestampTz(chrono::DateTime::from_timestamp(1_700_000_000, 5_000).unwrap()),
        Value::Json(safemodel::Json::new("{\"a\": 1.50}").unwrap()),
    ];
    let mut b = CloneBatch::default();
    for v in &values {
        b.push(v);
    }
    for (v, cell) in values.iter().zip(&b.cells) {
        let got = match *cell {
            Cell::Null => SqlValue::Null,
            Cell::Integer(i) => SqlValue::Integer(i),
            Cell::Real(x) => SqlValue::Real(x),
            Cell::Text(x, y) => SqlValue::Text(b.text[x..y].to_owned()),
            Cell::Blob(x, y) => SqlValue::Blob(b.bytes[x..y].to_vec()),
        };
        assert_eq!(got, to_sandbox(v), "{v:?}");
    }
}

#[test]
fn every_table_with_a_key_is_captured() {
    let sb = sandbox();
    assert!(sb.captured.iter().all(Option::is_some));
    // Its tables stay out of the agent's reach.
    for sql in [
        "SELECT * FROM temp.__base_seen_0",
        "SELECT * FROM __base_seen_1",
        "DROP TRIGGER __base_trigger_update_0",
        "DELETE FROM temp.__base_seen_0",
    ] {
        assert!(sb.run(sql, &[]).is_err(), "{sql}");
    }
}

#[test]
fn a_key_production_does_not_generate_is_never_made_up() {
    let sb = sandbox();
    for sql in [
        "INSERT INTO t (v) VALUES ('no key')",
        "INSERT INTO t VALUES (NULL, 'null key', 1)",
        "INSERT INTO t SELECT NULL, 'selected', 1",
    ] {
        let err = sb.run(sql, &[]).unwrap_err().to_string();
        assert!(err.contains("NOT NULL"), "{sql}: {err}");
    }
    assert!(both(&sb, 0).1.is_empty());
}

#[test]
fn written_rows_are_found_without_comparing_every_row() {
    let sb = sandbox();
    let r = check(
        &sb,
        "UPDATE t SET v = 'x' WHERE id IN (3, 4); DELETE FROM s WHERE code = 'k07'; INSERT INTO c VALUES (9, 'new', NULL)",
    );
    for (i, n) in [(0, 2), (1, 1), (2, 1)] {
        assert_eq!(r[i].1.len(), n, "table {i}");
        assert!(r[i].0.is_some(), "table {i} takes the written-rows path");
    }
    // The same value written again is no change, though the row was written.
    let sb = sandbox();
    let r = check(
        &sb,
        "UPDATE t SET v = v, n = n WHERE id < 10; UPDATE s SET label = label",
    );
    assert!(r[0].1.is_empty() && r[0].0.is_some());
    assert!(r[1].1.is_empty());
    // Written and undone: inserted then deleted, deleted then put back.
    let sb = sandbox();
    let r = check(
        &sb,
        "INSERT INTO t VALUES (100, 'a', 1); DELETE FROM t WHERE id = 100; \
         DELETE FROM t WHERE id = 5; INSERT INTO t VALUES (5, 'v5', 2); \
         DELETE FROM s WHERE code = 'k01'; INSERT INTO s VALUES ('k01', 'changed')",
    );
    assert!(r[0].1.is_empty() && r[0].0.is_some());
    assert_eq!(r[1].1.len(), 1);
}

#[test]
fn deletions_by_truncate_and_replace_are_captured() {
    // Without the triggers SQLite would truncate the table at once.
    let sb = sandbox();
    let r = check(&sb, "DELETE FROM s");
    assert_eq!(r[1].1.len(), 40);
    assert!(r[1].0.is_some());
    // REPLACE deletes the row holding the key.
    for sql in [
        "INSERT OR REPLACE INTO s VALUES ('k03', 'replaced')",
        "REPLACE INTO c VALUES (1, 'b1', 2.5)",
        "INSERT OR REPLACE INTO t VALUES (7, 'seven', 7)",
        "UPDATE OR REPLACE s SET code = 'k09' WHERE code = 'k08'",
    ] {
        let sb = sandbox();
        let r = check(&sb, sql);
        assert!(r.iter().any(|(_, all)| !all.is_empty()), "{sql}");
    }
    // The statement's conflict clause is also the triggers': a row saved
    // once is never saved again, whatever the clause.
    for sql in [
        "UPDATE t SET v = 'a' WHERE id = 1; INSERT OR REPLACE INTO t VALUES (1, 'b', 0)",
        "UPDATE t SET v = 'a' WHERE id = 1; UPDATE OR REPLACE t SET v = 'b' WHERE id = 1",
        "UPDATE t SET v = 'a' WHERE id = 1; UPDATE OR FAIL t SET v = 'b' WHERE id = 1",
        "UPDATE t SET v = 'a' WHERE id = 1; UPDATE OR ROLLBACK t SET v = 'b' WHERE id = 1",
        "INSERT INTO t VALUES (77, 'x', 0); INSERT OR REPLACE INTO t VALUES (77, 'y', 0)",
    ] {
        let sb = sandbox();
        let r = check(&sb, sql);
        assert_eq!(r[0].1.len(), 1, "{sql}: {:?}", r[0].1);
        assert!(
            r[0].1[0].starts_with("Some([Int(1), Text(\"v1\")") || sql.contains("77"),
            "{sql}: {:?}",
            r[0].1
        );
    }
    // Truncated, then as many rows inserted: the count still tells.
    let sb = sandbox();
    let r = check(
        &sb,
        "DELETE FROM s; WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 3) \
         INSERT INTO s SELECT 'k' || printf('%02d', value), 'L' || value FROM n",
    );
    assert_eq!(r[1].1.len(), 37);
}

#[test]
fn rows_that_move_are_compared_by_key() {
    // A key changes: the old key's row is gone, the new one is new.
    for (i, sql) in [
        (0, "UPDATE t SET id = id + 1000 WHERE id = 2"),
        (1, "UPDATE s SET code = 'zz' WHERE code = 'k02'"),
        (2, "UPDATE c SET b = 'moved' WHERE b = 'b2'"),
        (
            1,
            "UPDATE s SET rowid = rowid + 1000, label = 'm' WHERE code = 'k05'",
        ),
        (
            1,
            "UPDATE s SET _rowid_ = 500, label = 'm' WHERE code = 'k06'",
        ),
        (
            0,
            "INSERT INTO t VALUES (3, 'dup', 0) ON CONFLICT (id) DO UPDATE SET id = 333",
        ),
        // Moved, then written again where it lies now.
        (
            1,
            "UPDATE s SET rowid = 500, label = 'm' WHERE code = 'k05'; \
             UPDATE s SET code = 'zz' WHERE code = 'k05'",
        ),
    ] {
        let sb = sandbox();
        let r = check(&sb, sql);
        assert!(!r[i].1.is_empty(), "{sql}");
        assert!(r[i].0.is_some(), "{sql}: the moved row is captured");
    }
    // Foreign key actions write rows of another table.
    let sb = sandbox();
    let r = check(&sb, "DELETE FROM t WHERE id = 2");
    assert_eq!(r[3].1.len(), 4, "children of t[2] deleted by cascade");
    let r = check(&sb, "UPDATE t SET id = 999 WHERE id = 3");
    assert_eq!(r[3].1.len(), 8, "and children of t[3] moved by cascade");
}

#[test]
fn scripts_split_where_sqlite_splits_them() {
    let sb = sandbox();
    let sql =
        ";; SELECT 1; SELECT :a, ?, ?5, @b, $c::d(e), #f ; -- x\n SELECT 'a;b' /* ; */;  -- end";
    let script = sb.prepare_script(sql, None).unwrap();
    let texts: Vec<&str> = script.iter().map(|p| &sql[p.text.clone()]).collect();
    assert_eq!(
        texts,
        [
            ";; SELECT 1;",
            " SELECT :a, ?, ?5, @b, $c::d(e), #f ;",
            " -- x\n SELECT 'a;b' /* ; */;"
        ]
    );
    for (sql, offset) in [("SELECT 1; SELECT 2 -- \0", 22), ("\0", 0)] {
        let err = sb.prepare_script(sql, None).err().unwrap();
        assert!(
            matches!(err, Error::Refused(Refusal::NulByte { offset: o }) if o == offset),
            "{err:?}"
        );
    }
    let err = sb.prepare_script("SELECT ?, ?", Some(1)).err().unwrap();
    assert_eq!(
        err.to_string(),
        "statement failed in the sandbox: the statement has 2 parameters, 1 given"
    );
    assert_eq!(parameter_len(b"?123 "), 4);
    assert_eq!(parameter_len(b":ab::c(d)e"), 9);
    assert_eq!(parameter_len(b":ab::c(d e)"), 8);
    assert_eq!(parameter_len(b"$a(b)c"), 5);
    assert_eq!(parameter_len(b"@\xc3\xa9,"), 3);
    assert_eq!(parameter_len(b"x"), 0);
}

#[test]
fn a_failed_script_leaves_nothing_and_keeps_the_count() {
    let sb = sandbox();
    let r = check(
        &sb,
        "DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (50, 'x', 1); INSERT INTO t VALUES (2, 'dup', 0)",
    );
    assert!(r[0].1.is_empty());
    let r = check(&sb, "UPDATE t SET v = 'ok' WHERE id = 9");
    assert_eq!(r[0].1.len(), 1);
    assert!(r[0].0.is_some(), "the record survives a rolled-back script");
}

#[test]
fn tables_triggers_cannot_follow_keep_a_full_copy() {
    // Every name of the rowid is a column, or the key may be NULL.
    let odd = table(
        "odd",
        vec![
            col("rowid", ColumnKind::Int64, false),
            col("_rowid_", ColumnKind::Text, true),
            col("oid", ColumnKind::Text, true),
        ],
        vec![0],
    );
    let loose = table(
        "loose",
        vec![
            col("k", ColumnKind::Text, true),
            col("v", ColumnKind::Text, true),
        ],
        vec![0],
    );
    let sb = Sandbox::new(vec![odd, loose], Limits::default()).unwrap();
    let mut b = CloneBatch::default();
    for i in 0..5 {
        b.push(&Value::Int(i));
        b.push(&Value::Text(format!("a{i}")));
        b.push(&Value::Null);
        b.end_row();
    }
    sb.load(0, &b).unwrap();
    let mut b = CloneBatch::default();
    for i in 0..5 {
        b.push(&Value::Text(format!("k{i}")));
        b.push(&Value::Null);
        b.end_row();
    }
    sb.load(1, &b).unwrap();
    sb.seal().unwrap();
    assert_eq!(sb.captured, vec![None, None]);
    let r = check(
        &sb,
        "UPDATE odd SET oid = 'x' WHERE rowid = 2; DELETE FROM loose WHERE k = 'k1'; INSERT INTO loose VALUES ('k9', 'v')",
    );
    assert_eq!(r[0].1.len(), 1);
    assert_eq!(r[1].1.len(), 2);
}

#[test]
fn random_scripts_agree_with_comparing_every_row() {
    // A small deterministic generator: no dependency for it.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut sb = sandbox();
    let mut fast = 0;
    for round in 0..600 {
        // Afresh now and then, and after a commit's rebase.
        if round % 50 == 25 {
            sb.rebase().unwrap();
        }
        if round % 8 == 0 {
            sb = sandbox();
        }
        let a = next(60);
        let b = next(60);
        let sql = match next(16) {
            0 => format!("UPDATE t SET v = 'r{round}' WHERE id % 7 = {}", a % 7),
            1 => format!("DELETE FROM t WHERE id = {a}"),
            2 => format!("INSERT INTO t VALUES ({}, 'i{round}', {b})", a + 40),
            3 => format!("INSERT OR REPLACE INTO t VALUES ({a}, 'p{round}', {b})"),
            4 => format!("UPDATE t SET id = {} WHERE id = {a}", b + 100),
            5 => format!("UPDATE s SET label = 'r{round}' WHERE code > 'k{a:02}'"),
            6 => format!("DELETE FROM s WHERE code = 'k{a:02}'"),
            7 => format!("INSERT OR REPLACE INTO s VALUES ('k{a:02}', 'p{round}')"),
            8 => format!("UPDATE s SET code = 'k{b:02}' WHERE code = 'k{a:02}'"),
            9 => format!("UPDATE c SET x = {b}.25 WHERE a = {}", a % 4),
            10 => format!("INSERT OR IGNORE INTO c VALUES ({}, 'b{b}', NULL)", a % 5),
            11 => format!("DELETE FROM c WHERE b = 'b{a}'"),
            12 => ["DELETE FROM child", "DELETE FROM s", "DELETE FROM c"]
                [usize::try_from(a % 3).unwrap()]
            .to_owned(),
            13 => format!("INSERT INTO child VALUES ('n{round}', {})", a + 1),
            14 => format!(
                "UPDATE s SET rowid = {} WHERE code = 'k{a:02}'",
                1000 + round
            ),
            _ => format!(
                "UPDATE t SET n = n + 1 WHERE id = {a}; INSERT INTO t VALUES ({a}, 'fail', 0)"
            ),
        };
        fast += check(&sb, &sql)
            .iter()
            .filter(|(f, all)| f.is_some() && !all.is_empty())
            .count();
    }
    assert!(fast > 100, "only {fast} diffs compared captured rows");
}
