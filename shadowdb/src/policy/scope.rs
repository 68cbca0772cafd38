//! The tables an agent may touch, and how a name in its SQL is matched to them.

use sqlparser::ast::{Ident, ObjectName};

/// The tables the agent may touch. Anything else is `outside_scope`.
///
/// Matching a name in the agent's SQL to a scoped table:
/// - unquoted identifiers compare ASCII-case-insensitively (as SQLite does);
/// - quoted identifiers (`"TaSks"`, `` `tasks` ``, `[tasks]`) must match the
///   declared spelling exactly, which is stricter than SQLite, never looser;
/// - a schema-qualified name (`main.tasks`, `temp.tasks`, `app.tasks`) matches
///   only a table declared with that same qualified name (`app.tasks`), or a
///   single quoted identifier spelling the whole declared name (`"app.tasks"`);
/// - `sqlite_*` tables and `pragma_*` functions are never in scope, whatever
///   is declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    tables: Vec<ScopedTable>,
}

/// One table of the scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedTable {
    name: String,
    parts: Vec<String>,
    pii: Vec<String>,
    read_only: bool,
    tenant: Option<String>,
}

impl ScopedTable {
    /// A writable table without PII columns, named as in production
    /// (`tasks`, `app.tasks`), case as declared.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let parts = name.split('.').map(str::to_owned).collect();
        ScopedTable {
            name,
            parts,
            pii: Vec::new(),
            read_only: false,
            tenant: None,
        }
    }

    /// The table of a contract: its PII columns and tenant column are taken
    /// from the contract.
    #[must_use]
    pub fn from_table_info(info: &safemodel::TableInfo) -> Self {
        ScopedTable::new(info.table)
            .with_pii(
                info.columns
                    .iter()
                    .filter(|c| c.pii)
                    .map(|c| c.name.to_owned()),
            )
            .with_tenant_column(info.tenant)
    }

    /// The tenant column: every row in the sandbox holds the same tenant, so
    /// a WHERE that tests only this column selects every row (rules
    /// `delete_without_where`, `update_without_where`).
    #[must_use]
    pub fn with_tenant_column(mut self, column: impl Into<String>) -> Self {
        self.tenant = Some(column.into());
        self
    }

    /// The tenant column, if set.
    #[must_use]
    pub fn tenant_column(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Adds PII columns: never cloned into the sandbox, so never written.
    #[must_use]
    pub fn with_pii<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pii.extend(columns.into_iter().map(Into::into));
        self
    }

    /// Marks the table read-only reference data: reads only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The declared name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PII columns.
    #[must_use]
    pub fn pii_columns(&self) -> &[String] {
        &self.pii
    }

    /// Whether the table is read-only reference data.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The PII column named `column` (SQLite compares column names
    /// case-insensitively even when quoted, so this does too: matching more is
    /// the safe side here).
    #[must_use]
    pub fn pii_column(&self, column: &str) -> Option<&str> {
        self.pii
            .iter()
            .find(|p| p.eq_ignore_ascii_case(column))
            .map(String::as_str)
    }

    fn matches(&self, idents: &[&Ident]) -> bool {
        if let [single] = idents
            && single.quote_style.is_some()
            && single.value == self.name
        {
            return true;
        }
        idents.len() == self.parts.len()
            && idents
                .iter()
                .zip(&self.parts)
                .all(|(ident, part)| ident_matches(ident, part))
    }
}

impl Scope {
    /// An empty scope: every table is outside it.
    #[must_use]
    pub fn new() -> Self {
        Scope::default()
    }

    /// Adds a table.
    #[must_use]
    pub fn with_table(mut self, table: ScopedTable) -> Self {
        self.tables.push(table);
        self
    }

    /// Adds a table.
    pub fn push(&mut self, table: ScopedTable) {
        self.tables.push(table);
    }

    /// The tables.
    #[must_use]
    pub fn tables(&self) -> &[ScopedTable] {
        &self.tables
    }

    /// The scoped table a name in the agent's SQL refers to, if any.
    #[must_use]
    pub fn resolve(&self, name: &ObjectName) -> Option<&ScopedTable> {
        let mut idents: Vec<&Ident> = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            idents.push(part.as_ident()?);
        }
        if idents.iter().any(|i| is_reserved(&i.value)) {
            return None;
        }
        self.tables.iter().find(|t| t.matches(&idents))
    }
}

fn ident_matches(ident: &Ident, declared: &str) -> bool {
    if ident.quote_style.is_some() {
        ident.value == declared
    } else {
        ident.value.eq_ignore_ascii_case(declared)
    }
}

/// SQLite's own tables and the PRAGMA table-valued functions.
pub(crate) fn is_reserved(name: &str) -> bool {
    let lower = name.get(..7).map(str::to_ascii_lowercase);
    matches!(lower.as_deref(), Some("sqlite_" | "pragma_"))
}

/// Renders a name as written, for reasons: `app.tasks`.
pub(crate) fn display_name(name: &ObjectName) -> String {
    let mut out = String::new();
    for (i, part) in name.0.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match part.as_ident() {
            Some(ident) => out.push_str(&ident.value),
            None => out.push_str(&part.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(parts: &[(&str, bool)]) -> ObjectName {
        ObjectName::from(
            parts
                .iter()
                .map(|(v, quoted)| {
                    if *quoted {
                        Ident::with_quote('"', *v)
                    } else {
                        Ident::new(*v)
                    }
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn matching() {
        let scope = Scope::new()
            .with_table(ScopedTable::new("tasks"))
            .with_table(ScopedTable::new("app.Projects"));
        assert!(scope.resolve(&name(&[("TASKS", false)])).is_some());
        assert!(scope.resolve(&name(&[("tasks", true)])).is_some());
        assert!(scope.resolve(&name(&[("TaSks", true)])).is_none());
        assert!(
            scope
                .resolve(&name(&[("main", false), ("tasks", false)]))
                .is_none()
        );
        assert!(
            scope
                .resolve(&name(&[("APP", false), ("projects", false)]))
                .is_some()
        );
        assert!(
            scope
                .resolve(&name(&[("app", true), ("projects", true)]))
                .is_none()
        );
        assert!(scope.resolve(&name(&[("app.Projects", true)])).is_some());
        assert!(scope.resolve(&name(&[("projects", false)])).is_none());
    }

    #[test]
    fn reserved_never_in_scope() {
        let scope = Scope::new().with_table(ScopedTable::new("sqlite_master"));
        assert!(scope.resolve(&name(&[("sqlite_master", false)])).is_none());
        assert!(is_reserved("PRAGMA_table_info"));
        assert!(!is_reserved("sqlite"));
    }
}
