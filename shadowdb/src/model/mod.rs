//! The model of a production table's shape: [`TableName`], [`TableSchema`]
//! and its columns and foreign keys. Pure data: reading it from a catalog is
//! the job of the `reflect` room, so the driver layer ([`crate::prod`]) can
//! use the model without depending on the reader. Published, with
//! `reflect()`, as `shadowdb::schema`.

use std::fmt;

use crate::types::ColumnKind;

/// A table name, optionally schema-qualified (`app.tasks`). Case is kept as
/// written: `"Tasks"` and `tasks` are different tables on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema (PostgreSQL schema, MySQL database); `None` = the default one.
    pub schema: Option<String>,
    /// The table.
    pub name: String,
}

impl TableName {
    /// Parses `table` or `schema.table` as SQL identifiers: a part in double
    /// quotes (or backticks) may hold dots and quotes (`public."we.ird"`,
    /// `"a""b"`); a bare part is taken as written (case kept). Text that is
    /// not one or two such parts is kept whole as the table's name (which
    /// then names no table).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match parse_identifiers(text).as_deref() {
            Some([name]) => TableName {
                schema: None,
                name: name.clone(),
            },
            Some([schema, name]) => TableName {
                schema: Some(schema.clone()),
                name: name.clone(),
            },
            _ => TableName {
                schema: None,
                name: text.to_owned(),
            },
        }
    }
}

/// The dot-separated parts of a possibly quoted name; `None` when malformed
/// (an unterminated quote, an empty part, text after a closing quote).
fn parse_identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        match chars.peek().copied() {
            Some(open @ ('"' | '`')) => {
                chars.next();
                loop {
                    match chars.next()? {
                        c if c == open => {
                            if chars.peek() == Some(&open) {
                                chars.next();
                                part.push(open);
                            } else {
                                break;
                            }
                        }
                        c => part.push(c),
                    }
                }
                if part.is_empty() {
                    return None;
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    if c == '"' || c == '`' {
                        return None;
                    }
                    part.push(c);
                    chars.next();
                }
                if part.is_empty() {
                    return None;
                }
            }
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// Writes `tasks`, `app.tasks`; a part that would not read back as one
/// identifier (a dot or quote inside, spaces around) in double quotes, so
/// the text parses back to the same name.
impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn part(f: &mut fmt::Formatter<'_>, p: &str) -> fmt::Result {
            let plain = !p.is_empty() && p.trim() == p && !p.contains(['.', '"', '`']);
            if plain {
                f.write_str(p)
            } else {
                write!(f, "\"{}\"", p.replace('"', "\"\""))
            }
        }
        if let Some(s) = &self.schema {
            part(f, s)?;
            f.write_str(".")?;
        }
        part(f, &self.name)
    }
}

/// One reflected column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    /// The column name, case as stored in the catalog.
    pub name: String,
    /// The declared type as the database prints it (`numeric(40,10)`, `varchar(20)`, `integer[]`).
    pub declared_type: String,
    /// How shadowdb reads, keeps and writes it.
    pub kind: ColumnKind,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Whether the column has a default (including generated keys).
    pub has_default: bool,
    /// Whether production generates the value (serial, identity, AUTO_INCREMENT,
    /// SQLite rowid alias): an agent may insert without it.
    pub generated: bool,
    /// Whether production computes the value and refuses writes to it: a
    /// generated column (stored or virtual) or an identity `GENERATED
    /// ALWAYS`. Cloned for reading, read-only in the sandbox, never written
    /// by the sync.
    pub computed: bool,
}

/// What a foreign key does when its parent row is deleted or its key updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkAction {
    /// `NO ACTION` / `RESTRICT`: the statement fails.
    Restrict,
    /// `CASCADE`.
    Cascade,
    /// `SET NULL`.
    SetNull,
    /// `SET DEFAULT`.
    SetDefault,
}

/// A foreign key of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint name, when the database has one.
    pub name: Option<String>,
    /// Columns of the referencing table.
    pub columns: Vec<String>,
    /// The referenced table.
    pub ref_table: TableName,
    /// Referenced columns.
    pub ref_columns: Vec<String>,
    /// On delete of the parent.
    pub on_delete: FkAction,
    /// On update of the parent key.
    pub on_update: FkAction,
}

/// A foreign key of another table that points at this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referencing {
    /// The referencing (child) table.
    pub table: TableName,
    /// The foreign key.
    pub foreign_key: ForeignKey,
}

/// One reflected table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The table.
    pub name: TableName,
    /// Columns in order.
    pub columns: Vec<ColumnSchema>,
    /// Primary key columns in key order (empty if none).
    pub primary_key: Vec<String>,
    /// Foreign keys of this table.
    pub foreign_keys: Vec<ForeignKey>,
    /// Foreign keys of other tables pointing at this one (for cascade checks).
    pub referenced_by: Vec<Referencing>,
    /// Constraints and triggers the sandbox cannot enforce, described for a
    /// reviewer (`CHECK (price > 0)`, `trigger audit_tasks`).
    pub not_enforced: Vec<String>,
    /// The table as production resolved it, schema-qualified (PostgreSQL:
    /// the schema the search path led to; MySQL: the database; SQLite:
    /// `main`). Every statement shadowdb runs on the table names it so.
    pub resolved: TableName,
}

impl TableSchema {
    /// The column named `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// `other` (a table a foreign key names) qualified as production resolves
    /// it: reflection leaves a table unqualified only when it lives in the
    /// same schema as this one.
    #[must_use]
    pub fn resolve_other(&self, other: &TableName) -> TableName {
        match &other.schema {
            Some(_) => other.clone(),
            None => TableName {
                schema: self.resolved.schema.clone(),
                name: other.name.clone(),
            },
        }
    }

    /// Whether `fk_table` (a table a foreign key of this one names) is
    /// `other`: the same schema-qualified table, never merely one of the
    /// same name in another schema.
    #[must_use]
    pub fn names_table(&self, fk_table: &TableName, other: &TableSchema) -> bool {
        self.resolve_other(fk_table) == other.resolved
    }
}

#[cfg(test)]
mod tests {
    use super::TableName;

    fn t(schema: Option<&str>, name: &str) -> TableName {
        TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    #[test]
    fn names_parse_as_sql_identifiers() {
        assert_eq!(TableName::parse("tasks"), t(None, "tasks"));
        assert_eq!(TableName::parse("app.Tasks"), t(Some("app"), "Tasks"));
        assert_eq!(
            TableName::parse("public.\"we.ird\""),
            t(Some("public"), "we.ird")
        );
        assert_eq!(TableName::parse("\"MixedCase\""), t(None, "MixedCase"));
        assert_eq!(TableName::parse("\"a\"\"b\".`c.d`"), t(Some("a\"b"), "c.d"));
        // Malformed: kept whole, so it names no table.
        assert_eq!(TableName::parse("a.b.c"), t(None, "a.b.c"));
        assert_eq!(TableName::parse("\"open"), t(None, "\"open"));
        assert_eq!(TableName::parse("x.\"\""), t(None, "x.\"\""));
    }

    #[test]
    fn names_display_as_they_parse() {
        for (name, shown) in [
            (t(None, "tasks"), "tasks"),
            (t(Some("app"), "Tasks"), "app.Tasks"),
            (t(Some("public"), "we.ird"), "public.\"we.ird\""),
            (t(None, "a\"b"), "\"a\"\"b\""),
        ] {
            assert_eq!(name.to_string(), shown);
            assert_eq!(TableName::parse(shown), name);
        }
    }
}
