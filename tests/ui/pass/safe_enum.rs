//! `#[derive(SafeEnum)]`: every `rename_all` rule and per-variant `rename`.

use safemodel::{FieldType, SafeEnum, SqlType};

macro_rules! cased {
    ($name:ident, $rule:literal, $expected:expr) => {
        #[derive(Debug, Clone, Copy, PartialEq, SafeEnum)]
        #[safemodel(rename_all = $rule)]
        enum $name {
            InProgress,
            Done,
        }
        assert_eq!(<$name as SafeEnum>::VARIANTS, $expected);
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, SafeEnum)]
enum Plain {
    Open,
    #[safemodel(rename = "closed-for-good")]
    Closed,
    r#Loop,
}

fn main() {
    cased!(Snake, "snake_case", ["in_progress", "done"]);
    cased!(Lower, "lowercase", ["inprogress", "done"]);
    cased!(Upper, "UPPERCASE", ["INPROGRESS", "DONE"]);
    cased!(Screaming, "SCREAMING_SNAKE_CASE", ["IN_PROGRESS", "DONE"]);
    cased!(Kebab, "kebab-case", ["in-progress", "done"]);
    cased!(
        ScreamingKebab,
        "SCREAMING-KEBAB-CASE",
        ["IN-PROGRESS", "DONE"]
    );
    cased!(Camel, "camelCase", ["inProgress", "done"]);
    cased!(Pascal, "PascalCase", ["InProgress", "Done"]);
    assert_eq!(
        <Plain as SafeEnum>::VARIANTS,
        ["Open", "closed-for-good", "Loop"]
    );
    assert_eq!(Plain::from_name("closed-for-good"), Some(Plain::Closed));
    assert_eq!(<Plain as FieldType>::SQL_TYPE, SqlType::Text);
    assert_eq!(
        <Plain as FieldType>::VARIANTS,
        Some(&["Open", "closed-for-good", "Loop"][..])
    );
}
