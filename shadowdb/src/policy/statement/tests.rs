//! Unit tests of the folding and the nesting bound.

use sqlparser::ast::{Expr, SetExpr, Statement};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Tokenizer;

use super::fold::numeric_prefix;
use super::nesting::Nesting;
use super::truth::always_true;

fn where_of(sql: &str) -> Expr {
    let stmts = Parser::parse_sql(&SQLiteDialect {}, &format!("SELECT 1 WHERE {sql}")).unwrap();
    let Statement::Query(q) = &stmts[0] else {
        panic!()
    };
    let SetExpr::Select(s) = q.body.as_ref() else {
        panic!()
    };
    s.selection.clone().unwrap()
}

#[test]
fn tautologies() {
    for t in [
        "1",
        "1=1",
        "true",
        "'a'='a'",
        "x=x",
        "t.x = t.x",
        "NOT false",
        "NOT 0",
        "id = 3 OR 1=1",
        "(1=1)",
        "2 > 1",
        "1 + 1 = 2",
        "'1'",
        "1 BETWEEN 0 AND 2",
        "3 IN (1, 2, 3)",
        "NULL IS NULL",
        "x LIKE '%'",
        "EXISTS (SELECT 1)",
        "(SELECT 1)",
        "1=1 AND 2=2",
        "NOT (1=0)",
        "NOT (x <> x)",
        "x >= x",
        "-1",
        "0.5",
        "1 IS NOT NULL",
        "id = 3 OR id = id",
        "1 <> 2",
        "'b' > 'a'",
        "'a' > 1",
        "'x' LIKE 'x'",
        "'Abc' LIKE 'a_C'",
        "'abc' NOT LIKE 'b%'",
        "id IN (1, id)",
        "id BETWEEN id AND id",
        // Spellings the issue found, and SQLite's reading of precedence.
        "~0",
        "abs(1)",
        "abs(-2)",
        "CAST(1 AS INTEGER)",
        "CASE WHEN 1 THEN 1 END",
        "CASE 2 WHEN 1 THEN 0 WHEN 2 THEN 1 END",
        "id = (id)",
        "\"id\" = id",
        "`id` = \"id\"",
        "ID = [id]",
        "0 = 1 < 0",
        "0 = 2 >= 3",
    ] {
        assert!(always_true(&where_of(t), 0), "{t} should be always true");
    }
    for t in [
        "id = 3",
        "1=0",
        "false",
        "NULL",
        "x = y",
        "1=1 AND id = 3",
        "'a'",
        "0",
        "x LIKE 'a%'",
        "EXISTS (SELECT 1 FROM t)",
        "x IS NULL",
        "1 = '1'",
        "9223372036854775807 + 1 = 0",
        "1/0",
        "id IN (1, 2)",
        "'x' LIKE 'y'",
        "'abc' LIKE 'b%'",
        "NULL LIKE '%'",
        "'a' LIKE 'a' ESCAPE '!'",
        "~(-1)",
        "abs(0)",
        "CAST(0 AS INTEGER)",
        "CASE WHEN 0 THEN 1 END",
        "id = (id2)",
        "0 < 1 = 0",
        "\"id\" = 'id'",
    ] {
        assert!(
            !always_true(&where_of(t), 0),
            "{t} should not be always true"
        );
    }
}

#[test]
fn numeric_prefixes() {
    assert_eq!(numeric_prefix("12abc"), 12.0);
    assert_eq!(numeric_prefix("  -1.5e1x"), -15.0);
    assert_eq!(numeric_prefix("abc"), 0.0);
    assert_eq!(numeric_prefix("."), 0.0);
    assert_eq!(numeric_prefix("5."), 5.0);
    assert_eq!(numeric_prefix(".5"), 0.5);
}

#[test]
fn nesting_estimates() {
    let est = |sql: &str| {
        let tokens = Tokenizer::new(&SQLiteDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        Nesting::of(&tokens)
    };
    let n = est("SELECT a, b FROM t WHERE id = 3");
    assert!(n.depth < 8 && n.cost < 8, "{n:?}");
    let n = est("SELECT count(*) FROM tasks WHERE id IN (SELECT id FROM p)");
    assert!(n.cost <= 24, "{n:?}");
    assert!(est(&format!("SELECT 1{}", "+1".repeat(100))).depth > 100);
    let n = est(&format!(
        "INSERT INTO t VALUES {}",
        vec!["(-1, 'a')"; 5000].join(",")
    ));
    assert!(n.depth < 8 && n.cost < 24, "{n:?}");
    let n = est(&format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40)));
    assert!(n.depth >= 80 && n.cost >= 400, "{n:?}");
    assert!(est(&format!("SELECT {}1", "NOT ".repeat(5))).cost > 24);
}
