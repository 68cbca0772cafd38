//! Declared column type -> [`ColumnKind`], per dialect.
//!
//! Pure functions over what the catalog printed, so every rule is unit-tested
//! here without a server. A type that is not listed maps to
//! [`ColumnKind::Unsupported`] carrying the declared type, so opening refuses
//! it with the column named instead of stringifying it.

use crate::types::ColumnKind;

/// What `pg_type` says about a PostgreSQL column's type, after resolving
/// domains to their base type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PgClass {
    /// A base type (`typtype = 'b'`), mapped by its name.
    Base,
    /// A user enum (`typtype = 'e'`), its labels in sort order.
    Enum(Vec<String>),
    /// A true array type (`typcategory = 'A'`).
    Array,
    /// Composite, range, multirange, pseudo types: unsupported.
    Other,
}

/// Maps a PostgreSQL column. `typname` is the base type's name (`int4`,
/// `varchar`, ...; SQL spellings such as `integer` are accepted too),
/// `declared` is `format_type(..)` of the column, kept in `Unsupported`.
pub(crate) fn postgres(declared: &str, typname: &str, class: PgClass) -> ColumnKind {
    match class {
        PgClass::Enum(labels) => ColumnKind::Enum(labels),
        PgClass::Array => ColumnKind::Array,
        PgClass::Base => postgres_builtin(typname)
            .unwrap_or_else(|| ColumnKind::Unsupported(declared.to_owned())),
        PgClass::Other => ColumnKind::Unsupported(declared.to_owned()),
    }
}

/// A built-in PostgreSQL type by `pg_type.typname` or SQL name, type
/// modifiers ignored (`numeric(10,2)`, `timestamp(3) with time zone`).
fn postgres_builtin(name: &str) -> Option<ColumnKind> {
    let name = normalize(&strip_modifiers(name).to_ascii_lowercase());
    if name.ends_with("[]") {
        return Some(ColumnKind::Array);
    }
    Some(match name.as_str() {
        "smallint" | "int2" | "smallserial" | "serial2" => ColumnKind::Int16,
        "integer" | "int" | "int4" | "serial" | "serial4" => ColumnKind::Int32,
        "bigint" | "int8" | "bigserial" | "serial8" => ColumnKind::Int64,
        "numeric" | "decimal" => ColumnKind::Decimal,
        "real" | "float4" => ColumnKind::Float32,
        "double precision" | "float8" => ColumnKind::Float64,
        // `"char"` is the one-byte internal type; text all the same.
        "text" | "varchar" | "character varying" | "char" | "\"char\"" | "character" | "bpchar"
        | "name" | "citext" => ColumnKind::Text,
        "boolean" | "bool" => ColumnKind::Bool,
        "bytea" => ColumnKind::Bytes,
        "uuid" => ColumnKind::Uuid,
        "date" => ColumnKind::Date,
        "time" | "time without time zone" => ColumnKind::Time,
        "timestamp" | "timestamp without time zone" => ColumnKind::Timestamp,
        "timestamptz" | "timestamp with time zone" => ColumnKind::TimestampTz,
        "json" | "jsonb" => ColumnKind::Json,
        n if n == "interval" || n.starts_with("interval ") => ColumnKind::Interval,
        _ => return None,
    })
}

/// Maps a MySQL/MariaDB column from `information_schema.COLUMNS.COLUMN_TYPE`
/// (`int(10) unsigned`, `enum('a','b')`, `decimal(10,2)`). `json_checked` is
/// whether the table has a `json_valid(col)` CHECK on it: MariaDB's `json` is
/// an alias of `longtext` with that check.
pub(crate) fn mysql(column_type: &str, json_checked: bool) -> ColumnKind {
    let lower = column_type.trim().to_ascii_lowercase();
    let base_end = lower.find(['(', ' ']).unwrap_or(lower.len());
    let base = lower.get(..base_end).unwrap_or_default();
    let unsigned = lower.contains(" unsigned") || lower.contains(" zerofill");
    let unsupported = || ColumnKind::Unsupported(column_type.to_owned());
    match base {
        // tinyint(1) is MySQL's boolean (`bool` is an alias of it).
        "tinyint" if !unsigned && display_width(&lower) == Some(1) => ColumnKind::Bool,
        "bool" | "boolean" => ColumnKind::Bool,
        "tinyint" => ColumnKind::Int16,
        "smallint" if unsigned => ColumnKind::Int32,
        "smallint" => ColumnKind::Int16,
        "mediumint" => ColumnKind::Int32,
        "int" | "integer" if unsigned => ColumnKind::Int64,
        "int" | "integer" => ColumnKind::Int32,
        "bigint" if unsigned => ColumnKind::UInt64,
        "bigint" => ColumnKind::Int64,
        "decimal" | "numeric" | "dec" | "fixed" => ColumnKind::Decimal,
        "float" => ColumnKind::Float32,
        "double" | "real" => ColumnKind::Float64,
        "varchar" | "char" | "text" | "tinytext" | "mediumtext" | "longtext" if json_checked => {
            ColumnKind::Json
        }
        "varchar" | "char" | "text" | "tinytext" | "mediumtext" | "longtext" => ColumnKind::Text,
        "enum" => mysql_enum_labels(column_type).map_or_else(unsupported, ColumnKind::Enum),
        "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => {
            ColumnKind::Bytes
        }
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time,
        "datetime" => ColumnKind::Timestamp,
        "timestamp" => ColumnKind::TimestampTz,
        "json" => ColumnKind::Json,
        "uuid" => ColumnKind::Uuid,
        // set, year, bit, geometry types, inet4/inet6, vector, ...
        _ => unsupported(),
    }
}

/// `n` of `type(n)`.
fn display_width(lower: &str) -> Option<u32> {
    let (_, rest) = lower.split_once('(')?;
    let (width, _) = rest.split_once(')')?;
    width.trim().parse().ok()
}

/// The labels of `enum('a','b''c','d\\e')` as MySQL prints `COLUMN_TYPE`:
/// quotes doubled, backslashes escaped. `None` if it is not such a list.
pub(crate) fn mysql_enum_labels(column_type: &str) -> Option<Vec<String>> {
    let text = column_type.trim();
    let open = text.find('(')?;
    if !text.get(..open)?.trim().eq_ignore_ascii_case("enum") {
        return None;
    }
    let mut chars = text.get(open + 1..)?.chars().peekable();
    let mut labels = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next()? != '\'' {
            return None;
        }
        let mut label = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => label.push(match chars.next()? {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'Z' => '\u{1a}',
                    other => other,
                }),
                c => label.push(c),
            }
        }
        labels.push(label);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next()? {
            ',' => {}
            ')' => break,
            _ => return None,
        }
    }
    if chars.any(|c| !c.is_whitespace()) {
        return None;
    }
    Some(labels)
}

/// The column of a MariaDB `json_valid(`col`)` CHECK clause (the check MariaDB
/// adds to a `json` column), or `None` for any other clause.
pub(crate) fn mysql_json_valid_column(clause: &str) -> Option<String> {
    let mut text = clause.trim();
    // MySQL wraps clauses in parentheses.
    while let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        text = inner.trim();
    }
    let prefix = text.get(..11)?;
    if !prefix.eq_ignore_ascii_case("json_valid(") {
        return None;
    }
    let arg = text.get(11..)?.strip_suffix(')')?.trim();
    match arg.strip_prefix('`').and_then(|a| a.strip_suffix('`')) {
        Some(quoted) if !quoted.replace("``", "").contains('`') => Some(quoted.replace("``", "`")),
        Some(_) => None,
        None if !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$') =>
        {
            Some(arg.to_owned())
        }
        None => None,
    }
}

/// The declared type SQLite reports for a column without one.
pub(crate) const SQLITE_NO_TYPE: &str = "(no type)";

/// Maps a SQLite column by its declared type, case-insensitively.
///
/// The names shadowdb gives a meaning (`BOOLEAN`, `DATE`, `DATETIME`,
/// `TIMESTAMP`, `TIMESTAMPTZ`, `TIME`, `UUID`, `JSON`, `DECIMAL`, `NUMERIC`)
/// come first; then SQLite's own affinity rules (datatype3.html, 3.1): `INT`
/// -> integer, `CHAR`/`CLOB`/`TEXT` -> text, `BLOB` -> bytes, `REAL`/`FLOA`/
/// `DOUB` -> float. What is left has NUMERIC affinity, which rewrites values
/// (`'1.10'` -> `1.1`), and a column without a type holds any storage class:
/// both are unsupported.
pub(crate) fn sqlite(declared: &str) -> ColumnKind {
    let upper = normalize(&strip_modifiers(declared).to_ascii_uppercase());
    if upper.is_empty() {
        return ColumnKind::Unsupported(SQLITE_NO_TYPE.to_owned());
    }
    match upper.as_str() {
        "BOOLEAN" | "BOOL" => return ColumnKind::Bool,
        "DATE" => return ColumnKind::Date,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => {
            return ColumnKind::Timestamp;
        }
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => return ColumnKind::TimestampTz,
        "TIME" => return ColumnKind::Time,
        "UUID" => return ColumnKind::Uuid,
        "JSON" | "JSONB" => return ColumnKind::Json,
        "DECIMAL" | "NUMERIC" => return ColumnKind::Decimal,
        _ => {}
    }
    if upper.contains("INT") {
        ColumnKind::Int64
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|k| upper.contains(k)) {
        ColumnKind::Text
    } else if upper.contains("BLOB") {
        ColumnKind::Bytes
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|k| upper.contains(k)) {
        ColumnKind::Float64
    } else {
        ColumnKind::Unsupported(declared.trim().to_owned())
    }
}

/// `numeric(10, 2)` -> `numeric`, `timestamp(3) with time zone` ->
/// `timestamp with time zone` (every parenthesized part removed).
fn strip_modifiers(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0_usize;
    for c in name.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Trims and collapses runs of whitespace to one space.
fn normalize(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnKind as K;

    fn pg(name: &str) -> ColumnKind {
        postgres(name, name, PgClass::Base)
    }

    #[test]
    fn postgres_integers() {
        for (name, kind) in [
            ("smallint", K::Int16),
            ("int2", K::Int16),
            ("integer", K::Int32),
            ("int4", K::Int32),
            ("serial", K::Int32),
            ("bigint", K::Int64),
            ("int8", K::Int64),
            ("bigserial", K::Int64),
        ] {
            assert_eq!(pg(name), kind, "{name}");
        }
    }

    #[test]
    fn postgres_numbers() {
        assert_eq!(pg("numeric(10,2)"), K::Decimal);
        assert_eq!(pg("numeric"), K::Decimal);
        assert_eq!(pg("numeric(40, 10)"), K::Decimal);
        assert_eq!(pg("real"), K::Float32);
        assert_eq!(pg("float4"), K::Float32);
        assert_eq!(pg("double precision"), K::Float64);
        assert_eq!(pg("float8"), K::Float64);
    }

    #[test]
    fn postgres_text() {
        for name in [
            "text",
            "varchar",
            "character varying(20)",
            "character varying",
            "character(3)",
            "char",
            "bpchar",
            "name",
            "citext",
        ] {
            assert_eq!(pg(name), K::Text, "{name}");
        }
    }

    #[test]
    fn postgres_scalars() {
        assert_eq!(pg("boolean"), K::Bool);
        assert_eq!(pg("bool"), K::Bool);
        assert_eq!(pg("bytea"), K::Bytes);
        assert_eq!(pg("uuid"), K::Uuid);
        assert_eq!(pg("date"), K::Date);
        assert_eq!(pg("time without time zone"), K::Time);
        assert_eq!(pg("time(3) without time zone"), K::Time);
        assert_eq!(pg("time"), K::Time);
        assert_eq!(pg("timestamp without time zone"), K::Timestamp);
        assert_eq!(pg("timestamp"), K::Timestamp);
        assert_eq!(pg("timestamp with time zone"), K::TimestampTz);
        assert_eq!(pg("timestamp(6) with time zone"), K::TimestampTz);
        assert_eq!(pg("timestamptz"), K::TimestampTz);
        assert_eq!(pg("interval"), K::Interval);
        assert_eq!(pg("interval year to month"), K::Interval);
        assert_eq!(pg("json"), K::Json);
        assert_eq!(pg("jsonb"), K::Json);
    }

    #[test]
    fn postgres_enums_and_arrays() {
        let labels = vec!["todo".to_owned(), "done".to_owned()];
        assert_eq!(
            postgres("task_status", "task_status", PgClass::Enum(labels.clone())),
            K::Enum(labels)
        );
        for declared in ["text[]", "integer[]", "numeric[]", "money[]"] {
            assert_eq!(postgres(declared, "_x", PgClass::Array), K::Array);
        }
        assert_eq!(pg("text[]"), K::Array);
        assert_eq!(pg("numeric(10,2)[]"), K::Array);
    }

    #[test]
    fn postgres_unsupported() {
        for name in [
            "money",
            "time with time zone",
            "timetz",
            "inet",
            "point",
            "xml",
            "bit(3)",
            "tsvector",
        ] {
            assert_eq!(pg(name), K::Unsupported(name.to_owned()), "{name}");
        }
        // A composite type or range, whatever it is called.
        assert_eq!(
            postgres("app.address", "address", PgClass::Other),
            K::Unsupported("app.address".to_owned())
        );
        assert_eq!(
            postgres("int4range", "int4range", PgClass::Other),
            K::Unsupported("int4range".to_owned())
        );
        // A domain over an unknown base keeps the domain's name.
        assert_eq!(
            postgres("price_money", "money", PgClass::Base),
            K::Unsupported("price_money".to_owned())
        );
    }

    #[test]
    fn mysql_integers_and_bool() {
        for (ty, kind) in [
            ("tinyint(1)", K::Bool),
            ("bool", K::Bool),
            ("boolean", K::Bool),
            ("tinyint(4)", K::Int16),
            ("tinyint", K::Int16),
            ("tinyint(1) unsigned", K::Int16),
            ("tinyint(3) unsigned", K::Int16),
            ("smallint(6)", K::Int16),
            ("smallint(5) unsigned", K::Int32),
            ("mediumint(9)", K::Int32),
            ("mediumint(8) unsigned", K::Int32),
            ("int(11)", K::Int32),
            ("int", K::Int32),
            ("int(10) unsigned", K::Int64),
            ("bigint(20)", K::Int64),
            ("bigint(20) unsigned", K::UInt64),
            ("bigint(20) unsigned zerofill", K::UInt64),
        ] {
            assert_eq!(mysql(ty, false), kind, "{ty}");
        }
    }

    #[test]
    fn mysql_other_scalars() {
        for (ty, kind) in [
            ("decimal(10,2)", K::Decimal),
            ("numeric(40,10)", K::Decimal),
            ("float", K::Float32),
            ("float(7,3)", K::Float32),
            ("double", K::Float64),
            ("real", K::Float64),
            ("varchar(20)", K::Text),
            ("char(3)", K::Text),
            ("text", K::Text),
            ("tinytext", K::Text),
            ("mediumtext", K::Text),
            ("longtext", K::Text),
            ("blob", K::Bytes),
            ("tinyblob", K::Bytes),
            ("mediumblob", K::Bytes),
            ("longblob", K::Bytes),
            ("binary(16)", K::Bytes),
            ("varbinary(255)", K::Bytes),
            ("date", K::Date),
            ("time", K::Time),
            ("time(3)", K::Time),
            ("datetime", K::Timestamp),
            ("datetime(6)", K::Timestamp),
            ("timestamp", K::TimestampTz),
            ("timestamp(6)", K::TimestampTz),
            ("json", K::Json),
            ("uuid", K::Uuid),
            ("UUID", K::Uuid),
        ] {
            assert_eq!(mysql(ty, false), kind, "{ty}");
        }
    }

    #[test]
    fn mysql_json_alias_of_mariadb() {
        assert_eq!(mysql("longtext", true), K::Json);
        assert_eq!(mysql("longtext", false), K::Text);
        // The check says nothing to a non-text column.
        assert_eq!(mysql("int(11)", true), K::Int32);
        assert_eq!(
            mysql_json_valid_column("json_valid(`data`)"),
            Some("data".to_owned())
        );
        assert_eq!(
            mysql_json_valid_column("(json_valid(`da``ta`))"),
            Some("da`ta".to_owned())
        );
        assert_eq!(
            mysql_json_valid_column("JSON_VALID(data)"),
            Some("data".to_owned())
        );
        assert_eq!(mysql_json_valid_column("json_valid(`a`) and `b` > 0"), None);
        assert_eq!(mysql_json_valid_column("`price` > 0"), None);
        assert_eq!(mysql_json_valid_column("json_valid(concat(`a`,`b`))"), None);
    }

    #[test]
    fn mysql_enums() {
        assert_eq!(
            mysql(r"enum('x','y''z','b\\c','d,e',' sp ')", false),
            K::Enum(vec![
                "x".to_owned(),
                "y'z".to_owned(),
                r"b\c".to_owned(),
                "d,e".to_owned(),
                " sp ".to_owned(),
            ])
        );
        assert_eq!(mysql("enum('')", false), K::Enum(vec![String::new()]));
        assert_eq!(mysql_enum_labels("enum('a'"), None);
        assert_eq!(mysql_enum_labels("set('a')"), None);
        assert_eq!(
            mysql("enum(broken", false),
            K::Unsupported("enum(broken".to_owned())
        );
    }

    #[test]
    fn mysql_unsupported() {
        for ty in [
            "set('a','b')",
            "year(4)",
            "bit(3)",
            "geometry",
            "point",
            "inet6",
        ] {
            assert_eq!(mysql(ty, false), K::Unsupported(ty.to_owned()), "{ty}");
        }
    }

    #[test]
    fn sqlite_affinity_rules() {
        for (ty, kind) in [
            ("INTEGER", K::Int64),
            ("int", K::Int64),
            ("BIGINT", K::Int64),
            ("UNSIGNED BIG INT", K::Int64),
            ("TINYINT", K::Int64),
            ("BOOLEAN", K::Bool),
            ("bool", K::Bool),
            ("REAL", K::Float64),
            ("DOUBLE", K::Float64),
            ("double precision", K::Float64),
            ("FLOAT", K::Float64),
            ("DECIMAL(10,2)", K::Decimal),
            ("NUMERIC", K::Decimal),
            ("TEXT", K::Text),
            ("VARCHAR(20)", K::Text),
            ("CHAR(3)", K::Text),
            ("NVARCHAR(100)", K::Text),
            ("CLOB", K::Text),
            ("BLOB", K::Bytes),
            ("UUID", K::Uuid),
            ("DATE", K::Date),
            ("DATETIME", K::Timestamp),
            ("TIMESTAMP", K::Timestamp),
            ("TIMESTAMPTZ", K::TimestampTz),
            ("timestamp with time zone", K::TimestampTz),
            ("TIME", K::Time),
            ("JSON", K::Json),
        ] {
            assert_eq!(sqlite(ty), kind, "{ty}");
        }
    }

    #[test]
    fn sqlite_untyped_and_numeric_affinity_are_unsupported() {
        assert_eq!(sqlite(""), K::Unsupported(SQLITE_NO_TYPE.to_owned()));
        assert_eq!(sqlite("  "), K::Unsupported(SQLITE_NO_TYPE.to_owned()));
        // NUMERIC affinity rewrites values; STRICT's ANY keeps any class.
        assert_eq!(sqlite("MONEY"), K::Unsupported("MONEY".to_owned()));
        assert_eq!(sqlite("ANY"), K::Unsupported("ANY".to_owned()));
        // SQLite's own rule: "POINT" contains INT, so it has integer affinity.
        assert_eq!(sqlite("POINT"), K::Int64);
    }
}
