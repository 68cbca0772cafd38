use super::*;

fn message(text: &str) -> String {
    ConfigFile::parse(text, "shadowdb.toml")
        .expect_err("an error")
        .to_string()
}

#[test]
fn unknown_keys_name_their_table_line_column_and_the_expected_keys() {
    assert_eq!(
        message("profile = \"dev\"\n"),
        "shadowdb.toml:1:1: at the top level: unknown field `profile`, expected one of \
         `default_profile`, `profiles`, `audit`, `limits`, `approval`"
    );
    assert_eq!(
        message("[audit]\ndatabase = true\n  fiel = \"a\"\n"),
        "shadowdb.toml:3:3: in [audit]: unknown field `fiel`, expected one of `file`, \
         `database`, `hash_sql`, `secret_patterns`, `mask_literals`"
    );
    assert_eq!(
        message("\n\n[[profiles.staging.thresholds]]\nop = \"delete\"\nabove = 3\nmax = 4\n"),
        "shadowdb.toml:6:1: in [[profiles.staging.thresholds]]: unknown field `max`, expected \
         one of `table`, `op`, `above`, `decision`"
    );
    assert_eq!(
        message("[profiles.ops]\nwhole_table_writes = { above = 1 }\n"),
        "shadowdb.toml:2:24: in [profiles.ops.whole_table_writes]: unknown field `above`, \
         expected `above_rows` or `above_percent`"
    );
    // A quoted key stays quoted, its control characters escaped.
    assert_eq!(
        message("[profiles.\"a\\nb\"]\nx = 1\n"),
        "shadowdb.toml:2:1: in [profiles.\"a\\nb\"]: unknown field `x`, expected one of \
         `extends`, `read_only`, `require_approval_for`, `rules`, `thresholds`, \
         `whole_table_writes`, `column_rules`"
    );
}

#[test]
fn wrong_types_and_missing_keys_name_the_key() {
    assert_eq!(
        message("audit = 1\n"),
        "shadowdb.toml:1:9: `audit` at the top level: invalid type: integer `1`, expected a table"
    );
    assert_eq!(
        message("[audit]\ndatabase = \"yes\"\n"),
        "shadowdb.toml:2:12: `database` in [audit]: invalid type: string \"yes\", expected a \
         boolean"
    );
    assert_eq!(
        message("[profiles.a]\nrules = { drop = 1 }\n"),
        "shadowdb.toml:2:18: `drop` in [profiles.a.rules]: invalid type: integer `1`, \
         expected a string"
    );
    assert_eq!(
        message("[[profiles.dev.thresholds]]\nop = \"delete\"\nabove = 1\n"),
        "shadowdb.toml:1:1: in [[profiles.dev.thresholds]]: missing field `decision`"
    );
    assert!(
        message("[profiles.dev]\nread_only = \n").starts_with("shadowdb.toml:2:13: "),
        "a syntax error has its place too"
    );
}

#[test]
fn the_example_file_has_the_right_shape() {
    let text = include_str!("../../shadowdb.example.toml");
    let file = ConfigFile::parse(text, "shadowdb.example.toml").expect("parses");
    assert_eq!(
        file.spec
            .default_profile
            .as_ref()
            .map(|p| p.get_ref().as_str()),
        Some("dev")
    );
    let names: Vec<&str> = file.spec.profiles.keys().map(String::as_str).collect();
    assert_eq!(names, ["dev", "prod", "staging"]);
}

#[test]
fn positions_count_characters() {
    let file = ConfigFile::parse("# é\nx = 1", "f").map(|_| ());
    assert!(file.is_err());
    let file = ConfigFile::parse("# é\n", "f").expect("parses");
    let err = file.error(&(5..6), "m").to_string();
    assert_eq!(err, "f:2:1: m");
    let err = file.error(&(4..5), "m").to_string();
    assert_eq!(err, "f:1:4: m");
}
