//! The table-driven corpus in `tests/policy_corpus.txt`: every line is a script,
//! a profile, the expected decision and the rule that decides it.

use shadowdb::policy::{Decision, Policy, StatementVerdict};

struct Case {
    line: usize,
    profile: String,
    decision: Decision,
    rule: Option<String>,
    sql: String,
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\0", "\0")
}

fn cases() -> Vec<Case> {
    let text = include_str!("../policy_corpus.txt");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
        assert_eq!(
            fields.len(),
            4,
            "policy_corpus.txt:{line_no}: needs 4 fields"
        );
        let decision = Decision::from_name(fields[1])
            .unwrap_or_else(|| panic!("policy_corpus.txt:{line_no}: bad decision"));
        let rule = (fields[2] != "-").then(|| fields[2].to_owned());
        out.push(Case {
            line: line_no,
            profile: fields[0].to_owned(),
            decision,
            rule,
            sql: unescape(fields[3]),
        });
    }
    out
}

/// The strictest decision of a script and the rule of its first hit with it.
pub fn outcome(verdicts: &[StatementVerdict]) -> (Decision, Option<String>) {
    let decision = verdicts
        .iter()
        .map(|v| v.decision)
        .max()
        .unwrap_or(Decision::Allow);
    let rule = verdicts
        .iter()
        .flat_map(|v| &v.hits)
        .find(|h| h.decision == decision)
        .map(|h| h.rule.clone());
    (decision, rule)
}

#[test]
fn corpus_has_enough_statements() {
    let cases = cases();
    assert!(cases.len() >= 150, "only {} statements", cases.len());
    let allowed = cases
        .iter()
        .filter(|c| c.decision == Decision::Allow)
        .count();
    assert!(allowed >= 50, "only {allowed} allowed statements");
}

#[test]
fn corpus() {
    let scope = crate::scope();
    let mut failures = Vec::new();
    for case in cases() {
        let policy = Policy::builtin(&case.profile).unwrap();
        let verdicts = policy.check_sql(&case.sql, &scope);
        for v in &verdicts {
            assert_eq!(v.decision, crate::strictest(v), "line {}", case.line);
            for h in &v.hits {
                assert!(
                    !h.reason.is_empty() && !h.reason.contains('\n'),
                    "line {}: reason {:?}",
                    case.line,
                    h.reason
                );
            }
        }
        let got = outcome(&verdicts);
        if got != (case.decision, case.rule.clone()) {
            failures.push(format!(
                "policy_corpus.txt:{}: {:?}\n    expected {} {}\n    got      {} {}   hits: {:?}",
                case.line,
                case.sql,
                case.decision,
                case.rule.as_deref().unwrap_or("-"),
                got.0,
                got.1.as_deref().unwrap_or("-"),
                verdicts
                    .iter()
                    .flat_map(|v| v
                        .hits
                        .iter()
                        .map(|h| format!("{}={}: {}", h.rule, h.decision, h.reason)))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
