//! Changeset rules: thresholds, approvals, column rules, custom rules.

use safemodel::{Decimal, Row, Value};
use shadowdb::diff::{ChangeSet, Key, Op, RowChange};

use crate::changes;
use shadowdb::policy::{
    ChangeSetHit, ChangeSetRule, ColumnCheck, ColumnRule, Decision, Policy, Threshold,
};

fn key(id: i64) -> Key {
    Key(vec![("id".to_owned(), Value::Int(id))])
}

fn delete(table: &str, id: i64) -> RowChange {
    changes::delete(table, key(id), Row::new().with("id", id))
}

fn insert(table: &str, id: i64, row: Row) -> RowChange {
    changes::insert(table, key(id), Row::new().with("id", id).with_all(row))
}

fn update(table: &str, id: i64, old: Row, new: Row) -> RowChange {
    changes::update(
        table,
        key(id),
        Row::new().with("id", id).with_all(old),
        Row::new().with("id", id).with_all(new),
    )
}

trait WithAll {
    fn with_all(self, other: Row) -> Row;
}

impl WithAll for Row {
    fn with_all(mut self, other: Row) -> Row {
        for (c, v) in other.iter() {
            self.push(c, v.clone());
        }
        self
    }
}

fn deletes(table: &str, n: i64) -> Vec<RowChange> {
    (0..n).map(|i| delete(table, i)).collect()
}

fn summary(hits: &[ChangeSetHit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            format!(
                "{} {} {}{}: {}",
                h.rule,
                h.decision,
                h.table,
                h.key
                    .as_deref()
                    .map(|k| format!("[{k}]"))
                    .unwrap_or_default(),
                h.reason
            )
        })
        .collect()
}

#[test]
fn dev_has_no_changeset_rules() {
    let dev = Policy::builtin("dev").unwrap();
    let cs = ChangeSet::new(deletes("tasks", 5000), Vec::new());
    assert!(dev.check_changeset(&cs).is_empty());
}

#[test]
fn staging_thresholds_per_table() {
    let staging = Policy::builtin("staging").unwrap();
    let cs = ChangeSet::new(deletes("tasks", 10), Vec::new());
    assert_eq!(
        summary(&staging.check_changeset(&cs)),
        [
            "approval_required require_approval tasks: 10 DELETE row(s) in `tasks` need approval in profile `staging`"
        ]
    );
    let mut rows = deletes("tasks", 11);
    rows.extend(deletes("comments", 1001));
    let cs = ChangeSet::new(rows, Vec::new());
    assert_eq!(
        summary(&staging.check_changeset(&cs)),
        [
            "row_threshold block comments: 1001 DELETE row(s) in `comments`: more than 1000 (threshold on `*`)",
            "approval_required require_approval comments: 1001 DELETE row(s) in `comments` need approval in profile `staging`",
            "row_threshold require_approval tasks: 11 DELETE row(s) in `tasks`: more than 10 (threshold on `*`)",
            "approval_required require_approval tasks: 11 DELETE row(s) in `tasks` need approval in profile `staging`",
        ]
    );
}

#[test]
fn table_thresholds_and_read_only() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy.add_threshold(Threshold::new("TASKS", Op::Insert, 2, Decision::Warn));
    let rows: Vec<RowChange> = (0..3).map(|i| insert("tasks", i, Row::new())).collect();
    let cs = ChangeSet::new(rows, Vec::new());
    assert_eq!(
        summary(&policy.check_changeset(&cs)),
        [
            "row_threshold warn tasks: 3 INSERT row(s) in `tasks`: more than 2 (threshold on `TASKS`)"
        ]
    );
    let prod = Policy::builtin("prod").unwrap();
    let hits = prod.check_changeset(&cs);
    assert_eq!(hits[0].rule, "read_only");
    assert_eq!(hits[0].decision, Decision::Block);
    assert_eq!(
        hits[0].reason,
        "profile `prod` is read-only and 3 row(s) of `tasks` changed"
    );
}

fn dec(s: &str) -> Value {
    Value::Decimal(Decimal::new(s).unwrap())
}

#[test]
fn column_rules_name_table_key_column_and_rule_never_the_value() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy.add_column_rule(ColumnRule::new(
        "non_negative_amounts",
        ["amount", "*_cents", "revenue"],
        ColumnCheck::NonNegative,
        Decision::Block,
    ));
    policy.add_column_rule(ColumnRule::new(
        "email_is_immutable",
        ["email"],
        ColumnCheck::Immutable,
        Decision::RequireApproval,
    ));
    policy.add_column_rule(
        ColumnRule::new("titled", ["title"], ColumnCheck::NotNull, Decision::Warn)
            .on_tables(["tasks"]),
    );
    let rows = vec![
        insert(
            "invoices",
            1,
            Row::new()
                .with("amount", dec("-0.0000000000000000000000001"))
                .with("price_cents", -5_i64)
                .with("revenue", dec("123456789012345678901234567890.5"))
                .with("email", "a@b.c"),
        ),
        insert(
            "invoices",
            2,
            Row::new().with("amount", dec("-0.00")).with("revenue", 0.0),
        ),
        update(
            "invoices",
            3,
            Row::new().with("amount", dec("-1")).with("email", "a@b.c"),
            Row::new().with("amount", dec("-1")).with("email", "z@b.c"),
        ),
        update(
            "invoices",
            4,
            Row::new().with("tax_cents", 1_i64),
            Row::new().with("tax_cents", Value::Float(-0.5)),
        ),
        insert("tasks", 5, Row::new().with("title", Value::Null)),
        insert("notes", 6, Row::new().with("title", Value::Null)),
        delete("invoices", 7),
    ];
    let cs = ChangeSet::new(rows, Vec::new());
    let hits = policy.check_changeset(&cs);
    assert_eq!(
        summary(&hits),
        [
            "column_rule:non_negative_amounts block invoices[id=1]: invoices[id=1].amount: column rule `non_negative_amounts`: must be >= 0",
            "column_rule:non_negative_amounts block invoices[id=1]: invoices[id=1].price_cents: column rule `non_negative_amounts`: must be >= 0",
            "column_rule:email_is_immutable require_approval invoices[id=3]: invoices[id=3].email: column rule `email_is_immutable`: must not change",
            "column_rule:non_negative_amounts block invoices[id=4]: invoices[id=4].tax_cents: column rule `non_negative_amounts`: must be >= 0",
            "column_rule:titled warn tasks[id=5]: tasks[id=5].title: column rule `titled`: must not be NULL",
        ]
    );
    for h in &hits {
        assert!(!h.reason.contains("0.0000") && !h.reason.contains("z@b.c"));
    }
}

struct MaxRows(usize);

impl ChangeSetRule for MaxRows {
    fn name(&self) -> &str {
        "max_rows"
    }
    fn check(&self, changes: &ChangeSet) -> Vec<ChangeSetHit> {
        if changes.len() <= self.0 {
            return Vec::new();
        }
        vec![ChangeSetHit {
            rule: self.name().to_owned(),
            decision: Decision::Block,
            reason: format!("{} rows changed, more than {}", changes.len(), self.0),
            table: "*".to_owned(),
            key: None,
        }]
    }
}

#[test]
fn custom_changeset_rules() {
    let mut policy = Policy::builtin("dev").unwrap();
    policy.add_changeset_rule(Box::new(MaxRows(2)));
    let cs = ChangeSet::new(deletes("tasks", 3), Vec::new());
    assert_eq!(
        summary(&policy.check_changeset(&cs)),
        ["max_rows block *: 3 rows changed, more than 2"]
    );
    assert!(
        policy
            .render()
            .contains("# custom changeset rules (Rust): max_rows")
    );
}
