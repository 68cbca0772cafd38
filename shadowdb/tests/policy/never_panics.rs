//! The engine never panics (nor overflows its stack) on arbitrary SQL-ish text.
//!
//! This is a property test with a seeded generator rather than a `cargo fuzz`
//! target: cargo-fuzz needs a nightly toolchain, and this machine has only the
//! one stable toolchain. Token soup is drawn from SQL keywords, operators,
//! identifiers, literals, corpus statements cut and spliced, deep nesting and
//! raw bytes; the run is bounded in time so it stays a few seconds
//! (`SHADOWDB_FUZZ_SECS=600` for a longer run, `SHADOWDB_FUZZ_SEED` for
//! another sequence).

use std::time::{Duration, Instant};

use shadowdb::policy::{Decision, Policy};

use crate::scope;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "IS",
    "IN",
    "BETWEEN",
    "LIKE",
    "GLOB",
    "EXISTS",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "AS",
    "ON",
    "USING",
    "JOIN",
    "LEFT",
    "CROSS",
    "NATURAL",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "RECURSIVE",
    "INSERT",
    "INTO",
    "VALUES",
    "DEFAULT",
    "REPLACE",
    "OR",
    "IGNORE",
    "UPDATE",
    "SET",
    "DELETE",
    "RETURNING",
    "ON",
    "CONFLICT",
    "DO",
    "NOTHING",
    "DROP",
    "TABLE",
    "CREATE",
    "ALTER",
    "ATTACH",
    "DATABASE",
    "DETACH",
    "PRAGMA",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "VACUUM",
    "EXPLAIN",
    "ORDER",
    "BY",
    "GROUP",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "TRUE",
    "FALSE",
    "CAST",
    "COLLATE",
    "ESCAPE",
    "TRIGGER",
    "VIEW",
    "INDEX",
    "TEMP",
    "IF",
    "tasks",
    "projects",
    "users",
    "sqlite_master",
    "main",
    "temp",
    "\"TaSks\"",
    "`tasks`",
    "[tasks]",
    "app.invoices",
    "id",
    "email",
    "title",
    "x",
    "t",
    "count(*)",
    "load_extension",
    "json_each",
    "pragma_table_info",
    "excluded",
];

const PUNCT: &[&str] = &[
    "(", ")", ",", ";", "*", "=", "==", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "/", "%", "||",
    ".", "?", "?1", ":x", "@y", "$z", "1", "0", "-1", "1.5e3", "'a'", "''", "'it''s'", "x'00'",
    "/*", "*/", "--", "\n", "\t", " ", "[", "]", "{", "}", "::", "->", "->>", "~", "&", "|", "^",
    "<<", ">>", "\"", "'", "`", "\\", "\u{0}", "é", "\u{202e}",
];

fn soup(rng: &mut Rng, corpus: &[&str]) -> String {
    let mut out = String::new();
    match rng.below(7) {
        0 => {
            // A corpus statement with a few tokens spliced in or cut out.
            let base = corpus[rng.below(corpus.len())];
            let cut = rng.below(base.len() + 1);
            let cut = (0..=cut)
                .rev()
                .find(|i| base.is_char_boundary(*i))
                .unwrap_or(0);
            out.push_str(&base[..cut]);
            for _ in 0..rng.below(4) {
                out.push(' ');
                let list = if rng.below(2) == 0 { WORDS } else { PUNCT };
                out.push_str(rng.pick(list));
            }
            out.push_str(&base[cut..]);
        }
        1 => {
            // Raw bytes.
            let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
        2 => {
            // Deep nesting and long operator chains.
            let depth = rng.below(400);
            let op = rng.pick(&[
                "+",
                " AND ",
                " OR ",
                "||",
                " UNION SELECT ",
                " IS NOT ",
                "-",
                ".",
            ]);
            out.push_str("SELECT ");
            for _ in 0..rng.below(80) {
                out.push('(');
            }
            out.push('1');
            for _ in 0..depth {
                out.push_str(op);
                out.push('1');
            }
            for _ in 0..rng.below(80) {
                out.push(')');
            }
        }
        3 => {
            // Nesting the parser recurses on: subqueries, derived tables, NOT, CASE.
            let k = rng.below(60);
            let (open, close) = [
                ("(SELECT ", ")"),
                ("SELECT * FROM (", ")"),
                ("NOT ", ""),
                ("CASE WHEN 1 THEN ", " END"),
                ("coalesce(", ", 1)"),
                ("- ", ""),
                ("EXISTS (SELECT ", ")"),
            ][rng.below(7)];
            out.push_str("SELECT id FROM tasks WHERE ");
            out.push_str(&open.repeat(k));
            out.push('1');
            out.push_str(&close.repeat(k));
        }
        _ => {
            for _ in 0..rng.below(40) {
                let list = if rng.below(3) == 0 { PUNCT } else { WORDS };
                out.push_str(rng.pick(list));
                if rng.below(4) != 0 {
                    out.push(' ');
                }
            }
        }
    }
    out
}

#[test]
fn the_engine_never_panics_on_sql_ish_text() {
    let corpus_text = include_str!("../policy_corpus.txt");
    let corpus: Vec<&str> = corpus_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.splitn(4, '|').nth(3))
        .map(str::trim)
        .collect();
    let policies: Vec<Policy> = ["dev", "staging", "prod"]
        .iter()
        .map(|p| Policy::builtin(p).unwrap())
        .collect();
    let scope = scope();
    let seed = std::env::var("SHADOWDB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_5a1e_0bad_cafe_u64);
    let budget = std::env::var("SHADOWDB_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_secs);
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut cases = 0u64;
    let mut blocked = 0u64;
    while start.elapsed() < budget {
        let sql = soup(&mut rng, &corpus);
        let policy = &policies[(cases % 3) as usize];
        for v in policy.check_sql(&sql, &scope) {
            assert_eq!(v.decision, crate::strictest(&v));
            assert!(v.hits.iter().all(|h| !h.reason.contains('\n')), "{sql:?}");
            if v.decision == Decision::Block {
                blocked += 1;
            }
        }
        cases += 1;
    }
    assert!(cases > 1000, "only {cases} cases in the time budget");
    assert!(blocked > 0);
    eprintln!("{cases} SQL-ish strings checked (seed {seed}), {blocked} verdicts blocked");
}
