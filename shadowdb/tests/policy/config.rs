//! Profiles: built-in ones, `shadowdb.toml`, the environment, and rendering.

use std::path::PathBuf;

use shadowdb::diff::Op;
use shadowdb::policy::{BUILTIN_RULES, ColumnCheck, Decision, Policy, PolicyError, Threshold};

use crate::scope;

fn config_error(text: &str, profile: &str) -> String {
    let err = Policy::from_toml_str(text, profile).unwrap_err();
    assert!(matches!(err, PolicyError::Config { .. }), "{err:?}");
    err.to_string()
}

#[test]
fn builtin_profiles() {
    let dev = Policy::builtin("dev").unwrap();
    assert!(!dev.is_read_only());
    assert!(!dev.requires_approval_for(Op::Delete));
    assert!(dev.thresholds().is_empty());
    for rule in BUILTIN_RULES {
        assert_eq!(dev.rule_decision(rule.id), Some(rule.default));
    }

    let staging = Policy::builtin("staging").unwrap();
    assert!(!staging.is_read_only());
    assert!(staging.requires_approval_for(Op::Delete));
    assert!(!staging.requires_approval_for(Op::Update));
    assert_eq!(
        staging.thresholds(),
        [
            Threshold::new("*", Op::Delete, 10, Decision::RequireApproval),
            Threshold::new("*", Op::Delete, 1000, Decision::Block),
        ]
    );

    let prod = Policy::builtin("prod").unwrap();
    assert!(prod.is_read_only());
    assert!(prod.requires_approval_for(Op::Delete));
    assert!(prod.requires_approval_for(Op::Update));
    assert!(!prod.requires_approval_for(Op::Insert));

    let err = Policy::builtin("production").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown policy profile `production` (known: dev, staging, prod)"
    );
}

const FILE: &str = r#"
default_profile = "staging"

[profiles.staging]
require_approval_for = ["delete", "update"]

[profiles.staging.rules]
select_star = "block"
delete_without_where = "require_approval"

[[profiles.staging.thresholds]]
table = "invoices"
op = "update"
above = 5
decision = "warn"

[[profiles.staging.column_rules]]
name = "non_negative_amounts"
columns = ["amount", "*_cents", "revenue"]
check = "non_negative"
decision = "block"

[profiles.prod.rules]
select_star = "audit"

[profiles.ci]
extends = "prod"
read_only = false

[profiles.clean]
extends = "dev"
"#;

#[test]
fn a_file_extends_the_builtin_profiles() {
    let staging = Policy::from_toml_str(FILE, "staging").unwrap();
    assert_eq!(staging.profile(), "staging");
    assert_eq!(staging.origin(), "shadowdb.toml");
    assert!(staging.requires_approval_for(Op::Update));
    assert_eq!(staging.rule_decision("select_star"), Some(Decision::Block));
    assert_eq!(
        staging.rule_decision("delete_without_where"),
        Some(Decision::RequireApproval)
    );
    assert_eq!(staging.rule_decision("drop"), Some(Decision::Block));
    // The built-in thresholds stay, the file's are added.
    assert_eq!(staging.thresholds().len(), 3);
    assert_eq!(
        staging.thresholds()[2],
        Threshold::new("invoices", Op::Update, 5, Decision::Warn)
    );
    assert_eq!(staging.column_rules().len(), 1);
    assert_eq!(staging.column_rules()[0].check, ColumnCheck::NonNegative);

    let s = scope();
    let v = staging.check_sql("DELETE FROM tasks", &s);
    assert_eq!(v[0].decision, Decision::RequireApproval);
    let v = staging.check_sql("SELECT * FROM tasks", &s);
    assert_eq!(v[0].decision, Decision::Block);
}

#[test]
fn prod_stays_read_only_unless_the_file_says_otherwise() {
    let prod = Policy::from_toml_str(FILE, "prod").unwrap();
    assert!(prod.is_read_only());
    assert_eq!(prod.rule_decision("select_star"), Some(Decision::Audit));
    let ci = Policy::from_toml_str(FILE, "ci").unwrap();
    assert!(!ci.is_read_only());
    assert!(ci.requires_approval_for(Op::Update));
    assert_eq!(ci.rule_decision("select_star"), Some(Decision::Audit));
    let clean = Policy::from_toml_str(FILE, "clean").unwrap();
    assert!(clean.thresholds().is_empty());
    let dev = Policy::from_toml_str(FILE, "dev").unwrap();
    assert_eq!(dev.origin(), "built-in");
}

#[test]
fn profile_selection() {
    let err = Policy::from_toml_str(FILE, "qa").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown policy profile `qa` (known: dev, staging, prod, ci, clean)"
    );
    // No file: the built-in profiles.
    let p = Policy::load(None, Some("prod")).unwrap();
    assert_eq!((p.profile(), p.origin()), ("prod", "built-in"));
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("shadowdb-policy-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let path = temp_file("ok.toml", FILE);
    let p = Policy::load(Some(&path), Some("staging")).unwrap();
    assert_eq!(p.origin(), path.display().to_string());
    assert_eq!(p.rule_decision("select_star"), Some(Decision::Block));

    let bad = temp_file("bad.toml", "[profiles.prod]\nread_only = \"yes\"\n");
    let err = Policy::load(Some(&bad), Some("prod")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: `read_only` in [profiles.prod]: invalid type: string \"yes\", expected a boolean",
            bad.display()
        )
    );
    let missing = std::env::temp_dir().join("shadowdb-policy-does-not-exist.toml");
    let err = Policy::load(Some(&missing), None).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(bad);
}

/// Runs [`env_probe`] in a child process with `SHADOWDB_PROFILE` set: the
/// environment is process-wide, and changing it here would race with other
/// tests (and needs `unsafe` in edition 2024).
fn probe(env: Option<&str>, file: Option<&PathBuf>, expect: &str) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "policy::config::env_probe",
        "--ignored",
        "--test-threads=1",
    ])
    .env("SHADOWDB_PROBE_EXPECT", expect)
    .env_remove("SHADOWDB_PROFILE")
    .env_remove("SHADOWDB_PROBE_FILE");
    if let Some(env) = env {
        cmd.env("SHADOWDB_PROFILE", env);
    }
    if let Some(file) = file {
        cmd.env("SHADOWDB_PROBE_FILE", file);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
#[ignore = "run by `profile_from_the_environment` in a child process"]
fn env_probe() {
    let expect = std::env::var("SHADOWDB_PROBE_EXPECT").unwrap();
    let file = std::env::var_os("SHADOWDB_PROBE_FILE").map(PathBuf::from);
    let p = Policy::load(file.as_deref(), None);
    let got = match p {
        Ok(p) => p.profile().to_owned(),
        Err(e) => e.to_string(),
    };
    assert_eq!(got, expect);
    // The API's choice wins over the environment.
    assert_eq!(
        Policy::load(file.as_deref(), Some("dev"))
            .unwrap()
            .profile(),
        "dev"
    );
}

#[test]
fn profile_from_the_environment() {
    probe(None, None, "dev");
    probe(Some("prod"), None, "prod");
    probe(Some(""), None, "dev");
    probe(
        Some("nope"),
        None,
        "unknown policy profile `nope` (known: dev, staging, prod)",
    );
    let path = temp_file("env.toml", FILE);
    // The file's default_profile, unless the environment names one.
    probe(None, Some(&path), "staging");
    probe(Some("ci"), Some(&path), "ci");
    let _ = std::fs::remove_file(path);
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = "[profiles.prod]\nread_only = true\n\n[profiles.prod.rules]\nselect_star = \"warn\"\ntreshold = \"block\"\n";
    assert_eq!(
        config_error(text, "prod"),
        "shadowdb.toml:6: unknown key `treshold` in [profiles.prod.rules]"
    );
    assert_eq!(
        config_error("[profiles.prod]\nread_onyl = true\n", "prod"),
        "shadowdb.toml:2: in [profiles.prod]: unknown field `read_onyl`, expected one of `extends`, `read_only`, `require_approval_for`, `rules`, `thresholds`, `whole_table_writes`, `column_rules`"
    );
    assert_eq!(
        config_error(
            "\n\n[[profiles.staging.thresholds]]\ntable = \"*\"\nop = \"delete\"\nabove = 3\ndecision = \"warn\"\nmax = 4\n",
            "staging"
        ),
        "shadowdb.toml:8: in [[profiles.staging.thresholds]]: unknown field `max`, expected one of `table`, `op`, `above`, `decision`"
    );
    assert_eq!(
        config_error("profile = \"dev\"\n", "dev"),
        "shadowdb.toml:1: at the top level: unknown field `profile`, expected one of `default_profile`, `profiles`, `audit`, `limits`, `approval`"
    );
    assert_eq!(
        config_error(
            "[[profiles.dev.column_rules]]\nname = \"x\"\ncolumns = [\"a\"]\ncheck = \"positive\"\ndecision = \"block\"\n",
            "dev"
        ),
        "shadowdb.toml:4: unknown check `positive` for `check` in [[profiles.dev.column_rules]] (expected non_negative, immutable or not_null)"
    );
}

#[test]
fn bad_values_are_named_with_their_line() {
    assert_eq!(
        config_error("[profiles.dev.rules]\ndrop = \"blok\"\n", "dev"),
        "shadowdb.toml:2: unknown decision `blok` for `drop` in [profiles.dev.rules] (expected allow, audit, warn, require_approval or block)"
    );
    assert_eq!(
        config_error("[profiles.dev.rules]\nparse_error = \"allow\"\n", "dev"),
        "shadowdb.toml:2: `parse_error` in [profiles.dev.rules]: rule `parse_error` is always `block` (fail closed) and cannot be changed"
    );
    assert_eq!(
        config_error(
            "[profiles.dev]\nrequire_approval_for = [\"delete\", \"drop\"]\n",
            "dev"
        ),
        "shadowdb.toml:2: unknown operation `drop` in `require_approval_for` in [profiles.dev] (expected insert, update or delete)"
    );
    assert_eq!(
        config_error(
            "[[profiles.dev.thresholds]]\nop = \"delete\"\nabove = -1\ndecision = \"warn\"\n",
            "dev"
        ),
        "shadowdb.toml:3: `above` in [[profiles.dev.thresholds]] must be a whole number >= 0"
    );
    assert_eq!(
        config_error(
            "[[profiles.dev.thresholds]]\nop = \"delete\"\nabove = 1\n",
            "dev"
        ),
        "shadowdb.toml:1: in [[profiles.dev.thresholds]]: missing field `decision`"
    );
    assert_eq!(
        config_error("[profiles]\ndev = 3\n", "dev"),
        "shadowdb.toml:2: `dev` in [profiles]: invalid type: integer `3`, expected a table"
    );
    assert_eq!(
        config_error(
            "[profiles.a]\nextends = \"b\"\n[profiles.b]\nextends = \"a\"\n",
            "a"
        ),
        "shadowdb.toml:2: profiles extend each other in a cycle: a -> b -> a"
    );
    assert_eq!(
        config_error("[profiles.a]\nextends = \"zzz\"\n", "a"),
        "shadowdb.toml:2: `extends` in [profiles.a]: unknown profile `zzz`"
    );
    let syntax = config_error("[profiles.dev]\nread_only = \n", "dev");
    assert!(syntax.starts_with("shadowdb.toml:2: "), "{syntax}");
}

#[test]
fn render_shows_the_effective_settings_and_reads_back() {
    let prod = Policy::builtin("prod").unwrap();
    let text = prod.render();
    for needle in [
        "# shadowdb policy in force: profile \"prod\" (from built-in)",
        "[profiles.prod]",
        "read_only = true",
        "require_approval_for = [\"update\", \"delete\"]",
        "[profiles.prod.rules]",
        "delete_without_where = \"block\"",
        "upsert               = \"require_approval\"",
        "select_star          = \"warn\"",
        "[[profiles.prod.thresholds]]\ntable = \"*\"\nop = \"delete\"\nabove = 1000\ndecision = \"block\"",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    for rule in BUILTIN_RULES {
        assert!(text.contains(&format!("\n{}", rule.id)), "{}", rule.id);
    }
    for profile in ["dev", "staging", "prod", "ci"] {
        let policy = Policy::from_toml_str(FILE, profile).unwrap();
        let rendered = policy.render();
        let again = Policy::from_toml_str(&rendered, profile).unwrap();
        assert_eq!(
            again.render(),
            rendered.replace("(from built-in)", "(from shadowdb.toml)")
        );
        assert_eq!(again.thresholds(), policy.thresholds());
        assert_eq!(again.column_rules(), policy.column_rules());
        assert_eq!(again.is_read_only(), policy.is_read_only());
    }
}

#[test]
fn the_example_file_is_valid() {
    let text = include_str!("../../shadowdb.example.toml");
    for profile in ["dev", "staging", "prod"] {
        Policy::from_toml_str(text, profile).unwrap();
    }
}

#[test]
fn whole_table_writes_are_set_by_file_and_api_and_read_back() {
    use shadowdb::policy::{WholeTableWrites, WriteEffect};
    let text = "[profiles.ops]\nextends = \"dev\"\n\n[profiles.ops.rules]\n\
                delete_without_where = \"require_approval\"\n\n\
                [profiles.ops.whole_table_writes]\nabove_rows = 100\nabove_percent = 50\n";
    let policy = Policy::from_toml_str(text, "ops").unwrap();
    assert_eq!(
        policy.whole_table_writes(),
        WholeTableWrites::new().above_rows(100).above_percent(50)
    );
    let rendered = policy.render();
    assert!(
        rendered
            .contains("[profiles.ops.whole_table_writes]\nabove_rows = 100\nabove_percent = 50\n"),
        "{rendered}"
    );
    let again = Policy::from_toml_str(&rendered, "ops").unwrap();
    assert_eq!(again.whole_table_writes(), policy.whole_table_writes());

    let effect = |op, before, changed| WriteEffect {
        op,
        table: "tasks".to_owned(),
        rows_before: before,
        rows_cloned: before,
        rows_changed: changed,
        rows_cloned_changed: changed,
    };
    // Every row of a table of more than one row: the rule's decision.
    let hit = policy.check_effect(&effect(Op::Delete, 3, 3)).unwrap();
    assert_eq!(hit.rule, "delete_without_where");
    assert_eq!(hit.decision, Decision::RequireApproval);
    assert_eq!(
        hit.reason,
        "DELETE from `tasks` removed every one of its 3 rows in the sandbox: \
         a write without a real WHERE, whatever the WHERE says"
    );
    let hit = policy.check_effect(&effect(Op::Update, 1000, 101)).unwrap();
    assert_eq!(
        (hit.rule.as_str(), hit.decision, hit.reason.as_str()),
        (
            "update_without_where",
            Decision::Block,
            "UPDATE of `tasks` changed 101 rows in one statement, more than the profile's 100"
        )
    );
    let hit = policy.check_effect(&effect(Op::Update, 10, 6)).unwrap();
    assert_eq!(
        hit.reason,
        "UPDATE of `tasks` changed 6 of its 10 rows in one statement, more than the profile's 50%"
    );
    assert!(policy.check_effect(&effect(Op::Update, 10, 5)).is_none());
    // One row of a one-row table, and a part of a table, are real WHEREs.
    let dev = Policy::builtin("dev").unwrap();
    assert!(dev.check_effect(&effect(Op::Delete, 1, 1)).is_none());
    assert!(dev.check_effect(&effect(Op::Update, 3, 2)).is_none());
    assert!(dev.check_effect(&effect(Op::Delete, 0, 0)).is_none());

    assert_eq!(
        config_error(
            "[profiles.ops.whole_table_writes]\nabove_percent = 101\n",
            "ops"
        ),
        "shadowdb.toml:2: `above_percent` in [profiles.ops.whole_table_writes] must be between 0 and 100"
    );
    assert_eq!(
        config_error("[profiles.ops.whole_table_writes]\nabove = 1\n", "ops"),
        "shadowdb.toml:2: in [profiles.ops.whole_table_writes]: unknown field `above`, expected `above_rows` or `above_percent`"
    );
}
