//! Statement checks beyond the corpus: verdict shapes, kinds, overrides,
//! custom rules and the limits that keep the checker safe.

use shadowdb::policy::{
    Decision, Policy, RuleHit, Scope, ScopedTable, StatementKind, StatementRule, StatementVerdict,
};
use sqlparser::ast::Statement;

use super::corpus::outcome;
use crate::scope;

/// The verdicts of the `dev` profile on `sql`, in the shared scope.
fn dev_verdicts(sql: &str) -> Vec<StatementVerdict> {
    Policy::builtin("dev").unwrap().check_sql(sql, &scope())
}

#[test]
fn one_verdict_per_statement_as_parsed() {
    let v = dev_verdicts(
        "select id from tasks where id = 1 ; /* x */ delete   from tasks where id = 2",
    );
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].sql, "SELECT id FROM tasks WHERE id = 1");
    assert_eq!(v[0].kind, StatementKind::Read);
    assert_eq!(v[0].decision, Decision::Allow);
    assert!(v[0].hits.is_empty());
    assert_eq!(v[1].sql, "DELETE FROM tasks WHERE id = 2");
    assert_eq!(v[1].kind, StatementKind::Write);
    assert!(v[1].may_run());
}

#[test]
fn empty_scripts_give_no_verdicts() {
    let policy = Policy::builtin("dev").unwrap();
    assert!(policy.check_sql("", &scope()).is_empty());
    assert!(policy.check_sql("  \n ", &scope()).is_empty());
    assert!(policy.check_sql("-- nothing", &scope()).is_empty());
}

#[test]
fn parse_errors_block_the_whole_script_with_the_parser_message() {
    let v = dev_verdicts("SELECT id FROM tasks; DR/**/OP TABLE tasks");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].decision, Decision::Block);
    assert_eq!(v[0].kind, StatementKind::Write);
    assert_eq!(v[0].sql, "SELECT id FROM tasks; DR/**/OP TABLE tasks");
    let hit = v[0].blocking_hit().unwrap();
    assert_eq!(hit.rule, "parse_error");
    assert_eq!(
        hit.reason,
        "sql parser error: Expected: an SQL statement, found: DR at Line: 1, Column: 23"
    );
    assert!(!v[0].may_run());
}

#[test]
fn cte_wrapped_writes_are_writes() {
    let policy = Policy::builtin("dev").unwrap();
    let v = policy.check_sql(
        "WITH x AS (SELECT id FROM tasks) DELETE FROM tasks WHERE id IN (SELECT id FROM x)",
        &scope(),
    );
    assert_eq!(v[0].kind, StatementKind::Write);
    assert_eq!(v[0].decision, Decision::Allow);
    let v = policy.check_sql(
        "WITH x AS (SELECT id FROM tasks) SELECT id FROM x",
        &scope(),
    );
    assert_eq!(v[0].kind, StatementKind::Read);
}

#[test]
fn reasons_name_tables_and_columns() {
    let policy = Policy::builtin("dev").unwrap();
    let reasons = |sql: &str| -> Vec<String> {
        policy.check_sql(sql, &scope())[0]
            .hits
            .iter()
            .map(|h| format!("{}: {}", h.rule, h.reason))
            .collect()
    };
    assert_eq!(
        reasons("DELETE FROM Tasks WHERE 1=1"),
        ["delete_without_where: DELETE from `tasks` has a WHERE clause that is always true"]
    );
    assert_eq!(
        reasons("UPDATE tasks SET EMAIL = 'x@y.z' WHERE id = 1"),
        ["pii_write: UPDATE writes `tasks.email`, a PII column"]
    );
    assert_eq!(
        reasons("SELECT id FROM main.tasks JOIN users ON 1"),
        [
            "outside_scope: table `main.tasks` is outside the scope",
            "outside_scope: table `users` is outside the scope",
        ]
    );
    assert_eq!(
        reasons("INSERT INTO tasks VALUES (1)"),
        [
            "pii_write: INSERT into `tasks` without a column list writes every column, PII column `email` included"
        ]
    );
    assert_eq!(
        reasons("DROP TABLE tasks"),
        ["drop: DROP TABLE statements are not allowed"]
    );
    assert_eq!(
        reasons("SELECT * FROM \"ta\nsks\""),
        [
            "select_star: SELECT * reads every column; name the columns",
            "outside_scope: table `ta\\nsks` is outside the scope",
        ]
    );
}

#[test]
fn the_values_written_never_appear_in_reasons() {
    let v = dev_verdicts("UPDATE tasks SET email = 'secret@example.com' WHERE id = 1");
    assert!(v[0].hits.iter().all(|h| !h.reason.contains("secret")));
}

#[test]
fn rules_can_be_relaxed_or_tightened() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy
        .set_rule("delete_without_where", Decision::RequireApproval)
        .unwrap();
    policy.set_rule("select_star", Decision::Allow).unwrap();
    policy.set_rule("union_all", Decision::Block).unwrap();
    let s = scope();
    assert_eq!(
        outcome(&policy.check_sql("DELETE FROM tasks", &s)),
        (
            Decision::RequireApproval,
            Some("delete_without_where".into())
        )
    );
    let v = policy.check_sql("SELECT * FROM tasks", &s);
    assert_eq!(v[0].decision, Decision::Allow);
    assert!(v[0].hits.is_empty());
    assert_eq!(
        outcome(&policy.check_sql("SELECT 1 UNION ALL SELECT 2", &s)),
        (Decision::Block, Some("union_all".into()))
    );
    assert!(policy.set_rule("parse_error", Decision::Allow).is_err());
    assert!(policy.set_rule("too_complex", Decision::Warn).is_err());
    assert!(policy.set_rule("parse_error", Decision::Block).is_ok());
    assert_eq!(
        policy
            .set_rule("nope", Decision::Allow)
            .unwrap_err()
            .to_string(),
        "unknown policy rule `nope`"
    );
}

#[test]
fn read_only_mode_blocks_every_write() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy.set_read_only(true);
    let v = policy.check_sql("INSERT INTO tasks (id, title) VALUES (1, 'x')", &scope());
    assert_eq!(
        v[0].hits,
        [RuleHit::new(
            "read_only",
            Decision::Block,
            "profile `dev` is read-only and this statement writes"
        )]
    );
    let v = policy.check_sql("SELECT id FROM tasks", &scope());
    assert_eq!(v[0].decision, Decision::Allow);
}

#[test]
fn require_approval_for_marks_statements() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy.set_require_approval_for([shadowdb::diff::Op::Update]);
    let v = policy.check_sql("UPDATE tasks SET title = 'x' WHERE id = 1", &scope());
    assert_eq!(v[0].decision, Decision::RequireApproval);
    assert_eq!(
        v[0].hits[0].reason,
        "UPDATE needs approval in profile `dev`"
    );
    // An upsert can update: it needs the approval too.
    let v = policy.check_sql(
        "INSERT INTO tasks (id) VALUES (1) ON CONFLICT(id) DO UPDATE SET title = 'x'",
        &scope(),
    );
    let rules: Vec<&str> = v[0].hits.iter().map(|h| h.rule.as_str()).collect();
    assert_eq!(rules, ["upsert", "approval_required"]);
}

struct NoLimit;

impl StatementRule for NoLimit {
    fn name(&self) -> &str {
        "select_without_limit"
    }
    fn check(&self, stmt: &Statement, _scope: &Scope) -> Option<RuleHit> {
        match stmt {
            Statement::Query(q) if q.limit_clause.is_none() => Some(RuleHit::new(
                self.name(),
                Decision::Audit,
                "SELECT without LIMIT",
            )),
            _ => None,
        }
    }
}

#[test]
fn custom_statement_rules_run_after_the_built_in_ones() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy.add_statement_rule(Box::new(NoLimit));
    let v = policy.check_sql("SELECT id FROM tasks", &scope());
    assert_eq!(v[0].decision, Decision::Audit);
    assert_eq!(v[0].hits[0].rule, "select_without_limit");
    let v = policy.check_sql("SELECT * FROM tasks LIMIT 3", &scope());
    assert_eq!(v[0].decision, Decision::Warn);
    assert!(
        policy
            .render()
            .contains("# custom statement rules (Rust): select_without_limit")
    );
}

#[test]
fn qualified_names_and_case() {
    let scope = Scope::new()
        .with_table(ScopedTable::new("App.Tasks").with_pii(["Email"]))
        .with_table(ScopedTable::new("ref").read_only());
    let policy = Policy::builtin("dev").unwrap();
    for (sql, decision, rule) in [
        ("SELECT id FROM app.tasks", Decision::Allow, None),
        ("SELECT id FROM \"App\".\"Tasks\"", Decision::Allow, None),
        ("SELECT id FROM \"App.Tasks\"", Decision::Allow, None),
        (
            "SELECT id FROM \"app\".\"tasks\"",
            Decision::Block,
            Some("outside_scope"),
        ),
        (
            "SELECT id FROM tasks",
            Decision::Block,
            Some("outside_scope"),
        ),
        (
            "UPDATE app.tasks SET email = 'x' WHERE id = 1",
            Decision::Block,
            Some("pii_write"),
        ),
        (
            "UPDATE ref SET a = 1 WHERE id = 1",
            Decision::Block,
            Some("read_only_table"),
        ),
    ] {
        assert_eq!(
            outcome(&policy.check_sql(sql, &scope)),
            (decision, rule.map(str::to_owned)),
            "{sql}"
        );
    }
}

#[test]
fn deep_but_legal_sql_is_checked_on_a_bigger_stack() {
    let policy = Policy::builtin("dev").unwrap();
    let sql = format!("SELECT id FROM tasks WHERE id = 1{}", " + 1".repeat(1500));
    let v = policy.check_sql(&sql, &scope());
    assert_eq!(v[0].decision, Decision::Allow, "{:?}", v[0].hits);
    let sql = format!(
        "DELETE FROM tasks WHERE {}",
        vec!["id = 1"; 400].join(" OR ") + " OR 1=1"
    );
    assert_eq!(
        outcome(&policy.check_sql(&sql, &scope())),
        (Decision::Block, Some("delete_without_where".into()))
    );
    // Within the inline limit of an unoptimised build, on a 2 MiB test thread.
    let sql = format!("SELECT 1{}", "+1".repeat(20));
    assert_eq!(
        policy.check_sql(&sql, &scope())[0].decision,
        Decision::Allow
    );
}

#[test]
fn too_deep_or_too_large_sql_is_blocked() {
    let policy = Policy::builtin("dev").unwrap();
    let sql = format!("SELECT 1{}", "+1".repeat(5000));
    let v = policy.check_sql(&sql, &scope());
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].hits[0].rule, "too_complex");
    assert_eq!(v[0].decision, Decision::Block);

    let sql = format!("SELECT {}1{}", "(".repeat(300), ")".repeat(300));
    let (decision, rule) = outcome(&policy.check_sql(&sql, &scope()));
    assert_eq!(decision, Decision::Block);
    assert_eq!(rule.as_deref(), Some("parse_error"), "recursion limit");

    let sql = format!(
        "INSERT INTO comments (body) VALUES ('{}')",
        "x".repeat(1 << 20)
    );
    let v = policy.check_sql(&sql, &scope());
    assert_eq!(v[0].hits[0].rule, "too_complex");
    assert_eq!(
        v[0].hits[0].reason,
        "the SQL is 1048615 bytes; at most 1048576 are checked"
    );
}

#[test]
fn big_bulk_inserts_are_fine() {
    let policy = Policy::builtin("dev").unwrap();
    let rows: Vec<String> = (0..5000)
        .map(|i| format!("({i}, 'title {i}', -{i})"))
        .collect();
    let sql = format!(
        "INSERT INTO tasks (id, title, balance) VALUES {}",
        rows.join(", ")
    );
    let v = policy.check_sql(&sql, &scope());
    assert_eq!(v[0].decision, Decision::Allow);
}

#[test]
fn verdicts_serialize_for_programs() {
    let v = dev_verdicts("DELETE FROM tasks");
    let json = serde_json::to_value(&v[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "sql": "DELETE FROM tasks",
            "decision": "block",
            "hits": [{
                "rule": "delete_without_where",
                "decision": "block",
                "reason": "DELETE from `tasks` has no WHERE clause: it removes every row"
            }],
            "kind": "write"
        })
    );
}

#[derive(Debug, safemodel::SafeModel)]
#[safemodel(table = "people", tenant = "org_id")]
#[allow(dead_code)] // only the contract is used
struct Person {
    #[safemodel(primary_key)]
    id: i64,
    org_id: i64,
    name: String,
    #[safemodel(pii)]
    email: Option<String>,
}

#[test]
fn scopes_from_contracts() {
    use safemodel::SafeModel as _;
    let table = ScopedTable::from_table_info(Person::info());
    assert_eq!(table.name(), "people");
    assert_eq!(table.pii_columns(), ["email"]);
    let scope = Scope::new().with_table(table);
    let policy = Policy::builtin("dev").unwrap();
    assert_eq!(
        outcome(&policy.check_sql("UPDATE people SET name = 'x' WHERE id = 1", &scope)),
        (Decision::Allow, None)
    );
    assert_eq!(
        outcome(&policy.check_sql("UPDATE people SET Email = 'x' WHERE id = 1", &scope)),
        (Decision::Block, Some("pii_write".into()))
    );
}

/// Nesting that the parser's recursion limit bounds (subqueries, CASE, NOT,
/// CTEs) must not overflow a 2 MiB test thread in an unoptimised build either.
#[test]
fn nested_constructs_up_to_the_parser_limit() {
    let policy = Policy::builtin("dev").unwrap();
    let s = scope();
    for k in 1..80 {
        let forms = [
            format!("SELECT {}1{}", "(SELECT ".repeat(k), ")".repeat(k)),
            format!(
                "SELECT {}1{}",
                "CASE WHEN 1 THEN ".repeat(k),
                " END".repeat(k)
            ),
            format!("DELETE FROM tasks WHERE {}1", "NOT ".repeat(k)),
            format!("SELECT {}1", "- ".repeat(k)),
            format!(
                "{}SELECT id FROM tasks{}",
                "SELECT * FROM (".repeat(k),
                ")".repeat(k)
            ),
            format!(
                "SELECT id FROM tasks WHERE id IN {}1{}",
                "(SELECT id FROM tasks WHERE id IN (".repeat(k),
                "))".repeat(k)
            ),
            format!(
                "WITH a AS ({}SELECT 1{}) SELECT * FROM a",
                "WITH a AS (".repeat(k),
                ") SELECT * FROM a)".repeat(k)
            ),
            format!(
                "UPDATE tasks SET title = {}'x'{} WHERE id = 1",
                "coalesce(".repeat(k),
                ", 1)".repeat(k)
            ),
        ];
        for sql in &forms {
            let v = policy.check_sql(sql, &s);
            assert!(!v.is_empty(), "{sql}");
        }
    }
}
