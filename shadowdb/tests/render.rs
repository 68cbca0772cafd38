//! The review renderings: exact text, colour codes, widths and JSON.

// Fixture helpers sit outside `#[test]` functions, where clippy.toml's
// allow-*-in-tests does not reach; a failing unwrap there is a failing test.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use chrono::{NaiveDate, TimeZone, Utc};
use safemodel::{Decimal, Json, Row, Rule, Value, Violation};
use shadowdb::diff::{ChangeSet, Key, RowChange};

mod changes;
use changes::{delete, insert, update};
use shadowdb::render::{
    Review, TextOptions, Verdict, render_json, render_json_string, render_text, verdict_of,
};

// ---------------------------------------------------------------------------
// Inputs.

fn key(pairs: &[(&str, Value)]) -> Key {
    Key(pairs
        .iter()
        .map(|(c, v)| ((*c).to_owned(), v.clone()))
        .collect())
}

fn violating(mut change: RowChange, violations: Vec<Violation>) -> RowChange {
    change.violations = violations;
    change
}

fn dec(text: &str) -> Decimal {
    Decimal::new(text).unwrap()
}

fn task(id: i64, title: &str, status: &str) -> Row {
    Row::new()
        .with("id", id)
        .with("user_id", 42_i64)
        .with("title", title)
        .with("status", status)
}

/// Inserts, updates and deletes on two tables with composite keys.
fn mixed() -> ChangeSet {
    let item_key =
        |order: i64, line: i64| key(&[("order_id", order.into()), ("line", line.into())]);
    let item = |order: i64, line: i64, sku: &str, qty: i64, price: &str| {
        Row::new()
            .with("order_id", order)
            .with("line", line)
            .with("sku", sku)
            .with("qty", qty)
            .with("price", dec(price))
    };
    let member_key =
        |team: &str, user: i64| key(&[("team", team.into()), ("user_id", user.into())]);
    let member = |team: &str, user: i64, role: &str, note: Option<&str>| {
        Row::new()
            .with("team", team)
            .with("user_id", user)
            .with("role", role)
            .with("note", note)
    };
    ChangeSet::new(
        vec![
            insert(
                "order_items",
                item_key(10, 3),
                item(10, 3, "SKU-9", 1, "4.50"),
            ),
            update(
                "order_items",
                item_key(10, 1),
                item(10, 1, "SKU-1", 1, "19.99"),
                item(10, 1, "SKU-1", 2, "18.00"),
            ),
            delete(
                "order_items",
                item_key(10, 2),
                item(10, 2, "SKU-2", 5, "2.00"),
            ),
            update(
                "memberships",
                member_key("core", 7),
                member("core", 7, "member", Some("joined 2023")),
                member("core", 7, "admin", None),
            ),
            insert(
                "memberships",
                member_key("ops", 8),
                member("ops", 8, "member", Some("")),
            ),
        ],
        vec!["order_items: CHECK (price > 0 OR sku LIKE 'FREE-%')".to_owned()],
    )
}

/// A bad status, an empty title and a missing column.
fn bad_tasks() -> ChangeSet {
    ChangeSet::new(
        vec![
            violating(
                update(
                    "tasks",
                    key(&[("id", 7.into())]),
                    task(7, "Write the report", "todo"),
                    task(7, "Write the report", "yolo_swag"),
                ),
                vec![Violation::new(
                    "status",
                    Rule::Enum,
                    "not one of todo, in_progress, done",
                )],
            ),
            violating(
                insert("tasks", key(&[("id", 9.into())]), task(9, "", "todo")),
                vec![
                    Violation::new("title", Rule::Length, "length must be 1 to 200"),
                    Violation::new("due_at", Rule::Missing, "missing"),
                ],
            ),
        ],
        Vec::new(),
    )
}

/// Three deleted tasks.
fn deleted_tasks() -> ChangeSet {
    ChangeSet::new(
        (1..=3)
            .map(|id| {
                delete(
                    "tasks",
                    key(&[("id", id.into())]),
                    task(id, &format!("Task {id}"), "done"),
                )
            })
            .collect(),
        Vec::new(),
    )
}

/// 1,234 deleted users.
fn mass_delete() -> ChangeSet {
    ChangeSet::new(
        (1..=1234_i64)
            .map(|id| {
                delete(
                    "users",
                    key(&[("id", id.into())]),
                    Row::new().with("id", id).with("name", format!("user {id}")),
                )
            })
            .collect(),
        Vec::new(),
    )
}

fn plain(review: &Review) -> String {
    render_text(review, &TextOptions::plain(100))
}

/// A long description, rewritten; one with control characters in it.
fn long_text() -> ChangeSet {
    let long_old = "Collect the quarterly numbers from every region, reconcile them with the ledger and send the summary to finance before Friday";
    let long_new = "Collect the quarterly numbers from every region, reconcile them with the ledger, and send the summary to the CFO by Thursday noon";
    let old = task(5, "Quarterly report", "todo").with("description", long_old);
    let new =
        task(5, "Quarterly report\n\u{1b}[2KSAFE", "in_progress").with("description", long_new);
    ChangeSet::new(
        vec![update("tasks", key(&[("id", 5.into())]), old, new)],
        Vec::new(),
    )
}

/// Email is PII: present here only as if the sandbox had leaked it.
fn with_pii() -> ChangeSet {
    let user = |id: i64, name: &str, email: &str| {
        Row::new()
            .with("id", id)
            .with("name", name)
            .with("email", email)
    };
    ChangeSet::new(
        vec![
            insert(
                "app.users",
                key(&[("id", 1.into())]),
                user(1, "Ada", "ada@example.com"),
            ),
            update(
                "app.users",
                key(&[("id", 2.into())]),
                user(2, "Bob", "bob@example.com"),
                user(2, "Robert", "robert@example.com"),
            ),
            delete(
                "app.users",
                key(&[("id", 3.into())]),
                user(3, "Cy", "cy@example.com"),
            ),
            delete(
                "subscribers",
                key(&[("email", "dee@example.com".into())]),
                Row::new()
                    .with("email", "dee@example.com")
                    .with("plan", "pro"),
            ),
        ],
        Vec::new(),
    )
}

/// One update touching every kind of value.
fn all_kinds() -> ChangeSet {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 13, 45, 0).unwrap();
    let day = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
    let row = |amount: &str, ratio: f64, flag: bool, note: Option<&str>| {
        Row::new()
            .with("id", 1_i64)
            .with("amount", dec(amount))
            .with(
                "payload",
                Json::new(r#"{"n": 12345678901234567890.123456789012345, "tags": ["a"]}"#).unwrap(),
            )
            .with("blob", vec![0x0a_u8, 0x1b])
            .with("at", at)
            .with("day", day)
            .with("starts", day.and_hms_opt(13, 45, 0).unwrap().time())
            .with("local", day.and_hms_milli_opt(13, 45, 0, 500).unwrap())
            .with(
                "ref",
                uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
            )
            .with("ratio", ratio)
            .with("score", 1.5_f64)
            .with("flag", flag)
            .with("note", note)
            .with("email", "eve@example.com")
    };
    ChangeSet::new(
        vec![update(
            "events",
            key(&[("id", 1.into())]),
            row("12.50", f64::NAN, true, None),
            row("12.75", f64::INFINITY, false, Some("checked")),
        )],
        vec!["events: trigger audit_events".to_owned()],
    )
}

fn approval_review(cs: &ChangeSet) -> Review<'_> {
    let mut review = Review::new(cs);
    review.verdict = verdict_of(
        cs,
        Vec::new(),
        vec!["3 rows deleted from 'tasks' (approval needed above 2)".to_owned()],
    );
    review.notes = vec!["statement 2 has no WHERE clause".to_owned()];
    review
}

fn mass_review(cs: &ChangeSet) -> Review<'_> {
    let mut review = Review::new(cs);
    review.verdict = verdict_of(
        cs,
        Vec::new(),
        vec!["1,234 rows deleted from 'users' (approval needed above 100)".to_owned()],
    );
    review
}

fn pii_review(cs: &ChangeSet) -> Review<'_> {
    let mut review = Review::new(cs);
    review.pii_columns = vec![
        ("users".to_owned(), "email".to_owned()),
        ("subscribers".to_owned(), "email".to_owned()),
        ("events".to_owned(), "email".to_owned()),
    ];
    review
}

fn all_kinds_insert() -> ChangeSet {
    let cs = all_kinds();
    let change = cs.changes()[0].clone();
    ChangeSet::new(
        vec![insert("events", change.key, change.new.unwrap())],
        Vec::new(),
    )
}

/// Every fixture, for properties that hold for all of them.
fn all_fixtures() -> Vec<ChangeSet> {
    vec![
        ChangeSet::default(),
        mixed(),
        bad_tasks(),
        deleted_tasks(),
        long_text(),
        mass_delete(),
        with_pii(),
        all_kinds(),
        all_kinds_insert(),
    ]
}

/// An expected text written from its own line.
fn expected(text: &str) -> &str {
    text.strip_prefix('\n').unwrap()
}

fn assert_text(actual: &str, expected_text: &str) {
    let expected_text = expected(expected_text);
    assert!(
        actual == expected_text,
        "rendered text differs\n--- actual ---\n{actual}--- expected ---\n{expected_text}"
    );
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "line wider than {width}: {line:?}"
        );
    }
}

fn coloured(width: usize) -> TextOptions {
    TextOptions {
        color: true,
        ..TextOptions::plain(width)
    }
}

// ---------------------------------------------------------------------------
// Text.

#[test]
fn empty_changeset() {
    let cs = ChangeSet::new(Vec::new(), Vec::new());
    assert_text(&plain(&Review::new(&cs)), EMPTY);
}

const EMPTY: &str = r#"
SAFE TO COMMIT
No changes.
"#;

#[test]
fn safe_mixed_changes_on_two_tables_with_composite_keys() {
    let cs = mixed();
    let review = Review::new(&cs);
    assert_eq!(review.verdict, Verdict::Safe);
    let text = plain(&review);
    assert_text(&text, MIXED);
    assert_fits(&text, 100);
}

const MIXED: &str = r#"
SAFE TO COMMIT
2 inserts, 2 updates, 1 delete in 2 tables
This will DELETE 1 row from 'order_items'

  TABLE        OP      KEY                    COLUMN    OLD                       NEW     VALIDATION
~ memberships  UPDATE  team="core",user_id=7  role      member                    admin   PASS
~                                             note      joined 2023               NULL    PASS
+ memberships  INSERT  team="ops",user_id=8   team                                ops     PASS
+                                             user_id                             8       PASS
+                                             role                                member  PASS
+                                             note                                ''      PASS
~ order_items  UPDATE  order_id=10,line=1     qty       1                         2       PASS
~                                             price     19.99                     18.00   PASS
- order_items  DELETE  order_id=10,line=2               sku=SKU-2, qty=5, price…          PASS
+ order_items  INSERT  order_id=10,line=3     order_id                            10      PASS
+                                             line                                3       PASS
+                                             sku                                 SKU-9   PASS
+                                             qty                                 1       PASS
+                                             price                               4.50    PASS

Not enforced in the sandbox:
  order_items: CHECK (price > 0 OR sku LIKE 'FREE-%')
"#;

#[test]
fn blocked_by_violations() {
    let cs = bad_tasks();
    let review = Review::new(&cs);
    assert_eq!(
        review.verdict,
        Verdict::Blocked(vec![
            "tasks[id=7].status: not one of todo, in_progress, done".to_owned(),
            "tasks[id=9].title: length must be 1 to 200".to_owned(),
            "tasks[id=9].due_at: missing".to_owned(),
        ])
    );
    assert_text(&plain(&review), BLOCKED);
}

const BLOCKED: &str = r#"
BLOCKED
  tasks[id=7].status: not one of todo, in_progress, done
  tasks[id=9].title: length must be 1 to 200
  tasks[id=9].due_at: missing
1 insert, 1 update in 1 table

  TABLE  OP      KEY   COLUMN   OLD   NEW        VALIDATION
~ tasks  UPDATE  id=7  status   todo  yolo_swag  FAIL: not one of todo, in_progress, done
+ tasks  INSERT  id=9  id             9          FAIL: due_at: missing
+                      user_id        42         PASS
+                      title          ''         FAIL: length must be 1 to 200
+                      status         todo       PASS
"#;

#[test]
fn needs_approval_with_warnings() {
    let cs = deleted_tasks();
    assert_text(&plain(&approval_review(&cs)), APPROVAL);
}

const APPROVAL: &str = r#"
NEEDS APPROVAL
  3 rows deleted from 'tasks' (approval needed above 2)
3 deletes in 1 table
This will DELETE 3 rows from 'tasks'

  TABLE  OP      KEY   COLUMN  OLD                                    NEW  VALIDATION
- tasks  DELETE  id=1          user_id=42, title=Task 1, status=done       PASS
- tasks  DELETE  id=2          user_id=42, title=Task 2, status=done       PASS
- tasks  DELETE  id=3          user_id=42, title=Task 3, status=done       PASS

Warnings:
  statement 2 has no WHERE clause
"#;

#[test]
fn long_values_are_cut_to_width_80() {
    let cs = long_text();
    let text = render_text(&Review::new(&cs), &TextOptions::plain(80));
    assert_text(&text, LONG_80);
    assert_fits(&text, 80);
}

// The title and description differ past the cut: both are shown from a
// little before their first difference. The newline and escape code the
// agent wrote into the title are shown, not acted on.
const LONG_80: &str = r#"
SAFE TO COMMIT
1 update in 1 table

  TABLE  OP      KEY   COLUMN       OLD              NEW              VALIDATION
~ tasks  UPDATE  id=5  title        …eport           …eport\n\u{1b}…  PASS
~                      status       todo             in_progress      PASS
~                      description  …edger and sen…  …edger, and se…  PASS
"#;

#[test]
fn control_characters_in_values_are_shown_escaped() {
    let cs = long_text();
    let text = render_text(&Review::new(&cs), &TextOptions::plain(200));
    assert!(text.contains(r"Quarterly report\n\u{1b}[2KSAFE"), "{text}");
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn mass_delete_is_stated_in_words_and_truncated() {
    let cs = mass_delete();
    let review = mass_review(&cs);
    let short = TextOptions {
        max_lines: 4,
        ..TextOptions::plain(100)
    };
    assert_text(&render_text(&review, &short), MASS_DELETE);

    let text = plain(&review);
    assert!(text.contains("\nThis will DELETE 1,234 rows from 'users'\n"));
    let table_lines = text.lines().filter(|l| l.starts_with("- users")).count();
    assert_eq!(table_lines, 200);
    assert!(text.ends_with("\n… and 1,034 more changes (use --format json for all)\n"));

    let one = ChangeSet::new(mass_delete().changes()[..1].to_vec(), Vec::new());
    assert!(plain(&Review::new(&one)).contains("\nThis will DELETE 1 row from 'users'\n"));
}

const MASS_DELETE: &str = r#"
NEEDS APPROVAL
  1,234 rows deleted from 'users' (approval needed above 100)
1,234 deletes in 1 table
This will DELETE 1,234 rows from 'users'

  TABLE  OP      KEY   COLUMN  OLD          NEW  VALIDATION
- users  DELETE  id=1          name=user 1       PASS
- users  DELETE  id=2          name=user 2       PASS
- users  DELETE  id=3          name=user 3       PASS
- users  DELETE  id=4          name=user 4       PASS
… and 1,230 more changes (use --format json for all)
"#;

#[test]
fn only_whole_changes_are_shown() {
    let cs = mixed();
    let opts = TextOptions {
        max_lines: 3,
        ..TextOptions::plain(100)
    };
    let text = render_text(&Review::new(&cs), &opts);
    assert!(text.contains("\n~                                             note    joined 2023  NULL   PASS\n… and 4 more changes (use --format json for all)\n"), "{text}");
    let opts = TextOptions {
        max_lines: 2,
        ..TextOptions::plain(100)
    };
    let text = render_text(&Review::new(&deleted_tasks()), &opts);
    assert!(
        text.contains("\n… and 1 more change (use --format json for all)\n"),
        "{text}"
    );
}

#[test]
fn pii_is_never_shown() {
    let cs = with_pii();
    let review = pii_review(&cs);
    let text = plain(&review);
    assert_text(&text, PII_TEXT);
    let json = render_json_string(&review, false);
    for leaked in ["ada@", "bob@", "robert@", "cy@", "dee@"] {
        assert!(!text.contains(leaked), "{leaked} in text");
        assert!(!json.contains(leaked), "{leaked} in JSON");
    }
    assert_eq!(render_json(&review)["changes"][3]["pk"]["email"], "<pii>");
}

const PII_TEXT: &str = r#"
SAFE TO COMMIT
1 insert, 1 update, 2 deletes in 2 tables
This will DELETE 1 row from 'app.users'
This will DELETE 1 row from 'subscribers'

  TABLE        OP      KEY          COLUMN  OLD                   NEW     VALIDATION
+ app.users    INSERT  id=1         id                            1       PASS
+                                   name                          Ada     PASS
+                                   email                         <pii>   PASS
~ app.users    UPDATE  id=2         name    Bob                   Robert  PASS
~                                   email   <pii>                 <pii>   PASS
- app.users    DELETE  id=3                 name=Cy, email=<pii>          PASS
- subscribers  DELETE  email=<pii>          plan=pro                      PASS
"#;

#[test]
fn values_of_every_kind_as_text() {
    let cs = all_kinds_insert();
    assert_text(&plain(&pii_review(&cs)), KINDS);
    let cs = all_kinds();
    assert_text(&plain(&pii_review(&cs)), KINDS_UPDATE);
}

const KINDS: &str = r#"
SAFE TO COMMIT
1 insert in 1 table

  TABLE   OP      KEY   COLUMN   OLD  NEW                                                 VALIDATION
+ events  INSERT  id=1  id            1                                                   PASS
+                       amount        12.75                                               PASS
+                       payload       {"n": 12345678901234567890.123456789012345, "tags…  PASS
+                       blob          \x0a1b                                              PASS
+                       at            2024-05-01 13:45:00Z                                PASS
+                       day           2024-05-01                                          PASS
+                       starts        13:45:00                                            PASS
+                       local         2024-05-01 13:45:00.500                             PASS
+                       ref           67e55044-10b1-426f-9247-bb680e5fe0c8                PASS
+                       ratio         Infinity                                            PASS
+                       score         1.5                                                 PASS
+                       flag          false                                               PASS
+                       note          checked                                             PASS
+                       email         <pii>                                               PASS
"#;

const KINDS_UPDATE: &str = r#"
SAFE TO COMMIT
1 update in 1 table

  TABLE   OP      KEY   COLUMN  OLD    NEW       VALIDATION
~ events  UPDATE  id=1  amount  12.50  12.75     PASS
~                       ratio   NaN    Infinity  PASS
~                       flag    true   false     PASS
~                       note    NULL   checked   PASS

Not enforced in the sandbox:
  events: trigger audit_events
"#;

#[test]
fn plain_text_has_no_escape_codes() {
    for cs in all_fixtures() {
        for review in [Review::new(&cs), pii_review(&cs), approval_review(&cs)] {
            for width in [20, 80, 100, 300] {
                let text = render_text(&review, &TextOptions::plain(width));
                assert!(!text.contains('\u{1b}'), "{text}");
            }
        }
    }
}

#[test]
fn every_table_line_fits_the_width() {
    for cs in all_fixtures() {
        for width in [20, 40, 60, 80, 120] {
            let text = render_text(&Review::new(&cs), &TextOptions::plain(width));
            let table = text.lines().skip_while(|l| !l.starts_with("  T")); // the header, cut or not
            for line in table.take_while(|l| !l.is_empty() && !l.starts_with('…')) {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
        }
    }
}

#[test]
fn colours_follow_the_operation() {
    let cs = mixed();
    let text = render_text(&Review::new(&cs), &coloured(100));
    assert!(
        text.starts_with("\u{1b}[1m\u{1b}[32mSAFE TO COMMIT\u{1b}[0m\n"),
        "{text:?}"
    );
    assert!(
        text.contains("\n\u{1b}[32m+ memberships  INSERT"),
        "{text:?}"
    );
    assert!(
        text.contains("\n\u{1b}[33m~ memberships  UPDATE"),
        "{text:?}"
    );
    assert!(
        text.contains("\n\u{1b}[31m- order_items  DELETE"),
        "{text:?}"
    );
    assert!(text.contains("\u{1b}[31mThis will DELETE 1 row from 'order_items'\u{1b}[0m"));
    assert!(!text.contains("FAIL"));

    let cs = bad_tasks();
    let text = render_text(&Review::new(&cs), &coloured(100));
    assert!(
        text.starts_with("\u{1b}[1m\u{1b}[31mBLOCKED\u{1b}[0m\n"),
        "{text:?}"
    );
    assert!(
        text.contains(
            "\u{1b}[0m\u{1b}[1m\u{1b}[31mFAIL: not one of todo, in_progress, done\u{1b}[0m\n"
        ),
        "{text:?}"
    );

    let cs = deleted_tasks();
    let text = render_text(&approval_review(&cs), &coloured(100));
    assert!(
        text.starts_with("\u{1b}[1m\u{1b}[33mNEEDS APPROVAL\u{1b}[0m\n"),
        "{text:?}"
    );

    // Without the codes, the coloured text is the plain text.
    let cs = bad_tasks();
    let review = Review::new(&cs);
    let stripped = regex::Regex::new("\u{1b}\\[[0-9;]*m")
        .unwrap()
        .replace_all(&render_text(&review, &coloured(100)), "")
        .into_owned();
    assert_eq!(stripped, plain(&review));
}

// ---------------------------------------------------------------------------
// Verdicts.

#[test]
fn verdict_of_contract_and_policy_reasons() {
    let ok = mixed();
    assert_eq!(verdict_of(&ok, Vec::new(), Vec::new()), Verdict::Safe);
    assert_eq!(
        verdict_of(&ok, Vec::new(), vec!["big".to_owned()]),
        Verdict::NeedsApproval(vec!["big".to_owned()])
    );
    assert_eq!(
        verdict_of(&ok, vec!["no".to_owned()], vec!["big".to_owned()]),
        Verdict::Blocked(vec!["no".to_owned()])
    );
    let bad = bad_tasks();
    let verdict = verdict_of(
        &bad,
        vec!["cross-tenant write".to_owned()],
        vec!["big".to_owned()],
    );
    assert_eq!(verdict.name(), "blocked");
    assert_eq!(verdict.reasons().len(), 4);
    assert_eq!(verdict.reasons()[3], "cross-tenant write");
}

// ---------------------------------------------------------------------------
// JSON.

#[test]
fn json_of_every_kind_of_value() {
    let cs = all_kinds();
    let review = pii_review(&cs);
    let text = render_json_string(&review, true) + "\n";
    assert_text(&text, JSON_KINDS);
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(render_json(&review), parsed);
    // Every digit of the JSON column's number survives.
    assert!(text.contains("\"n\": 12345678901234567890.123456789012345"));
}

const JSON_KINDS: &str = r#"
{
  "version": 1,
  "verdict": "safe",
  "reasons": [],
  "summary": {
    "tables": {
      "events": {
        "insert": 0,
        "update": 1,
        "delete": 0
      }
    },
    "insert": 0,
    "update": 1,
    "delete": 0,
    "total": 1
  },
  "changes": [
    {
      "operation": "update",
      "table": "events",
      "pk": {
        "id": 1
      },
      "old": {
        "id": 1,
        "amount": "12.50",
        "payload": {
          "n": 12345678901234567890.123456789012345,
          "tags": [
            "a"
          ]
        },
        "blob": "\\x0a1b",
        "at": "2024-05-01T13:45:00Z",
        "day": "2024-05-01",
        "starts": "13:45:00",
        "local": "2024-05-01T13:45:00.500",
        "ref": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "ratio": "NaN",
        "score": 1.5,
        "flag": true,
        "note": null,
        "email": "<pii>"
      },
      "new": {
        "id": 1,
        "amount": "12.75",
        "payload": {
          "n": 12345678901234567890.123456789012345,
          "tags": [
            "a"
          ]
        },
        "blob": "\\x0a1b",
        "at": "2024-05-01T13:45:00Z",
        "day": "2024-05-01",
        "starts": "13:45:00",
        "local": "2024-05-01T13:45:00.500",
        "ref": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "ratio": "Infinity",
        "score": 1.5,
        "flag": false,
        "note": "checked",
        "email": "<pii>"
      },
      "changed": [
        "amount",
        "ratio",
        "flag",
        "note"
      ],
      "violations": []
    }
  ],
  "not_enforced": [
    "events: trigger audit_events"
  ],
  "notes": []
}
"#;

#[test]
fn json_of_violations() {
    let cs = bad_tasks();
    let text = render_json_string(&Review::new(&cs), false) + "\n";
    assert_text(&text, JSON_BLOCKED);
}

const JSON_BLOCKED: &str = r#"
{"version":1,"verdict":"blocked","reasons":["tasks[id=7].status: not one of todo, in_progress, done","tasks[id=9].title: length must be 1 to 200","tasks[id=9].due_at: missing"],"summary":{"tables":{"tasks":{"insert":1,"update":1,"delete":0}},"insert":1,"update":1,"delete":0,"total":2},"changes":[{"operation":"update","table":"tasks","pk":{"id":7},"old":{"id":7,"user_id":42,"title":"Write the report","status":"todo"},"new":{"id":7,"user_id":42,"title":"Write the report","status":"yolo_swag"},"changed":["status"],"violations":[{"column":"status","rule":"enum","message":"not one of todo, in_progress, done"}]},{"operation":"insert","table":"tasks","pk":{"id":9},"old":null,"new":{"id":9,"user_id":42,"title":"","status":"todo"},"changed":["id","user_id","title","status"],"violations":[{"column":"title","rule":"length","message":"length must be 1 to 200"},{"column":"due_at","rule":"missing","message":"missing"}]}],"not_enforced":[],"notes":[]}
"#;

#[test]
fn json_holds_every_change() {
    let cs = mass_delete();
    let json = render_json(&mass_review(&cs));
    assert_eq!(json["changes"].as_array().unwrap().len(), 1234);
    assert_eq!(json["summary"]["delete"], 1234);
    assert_eq!(json["verdict"], "needs_approval");
    assert_eq!(json["changes"][1233]["pk"]["id"], 1234);
    assert_eq!(json["changes"][0]["new"], serde_json::Value::Null);
}
