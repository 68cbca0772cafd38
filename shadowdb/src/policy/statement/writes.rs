//! The rules on writes: the tables an INSERT, UPDATE or DELETE writes to
//! (scoped, not read-only), the PII columns it sets, and whether its WHERE
//! selects every row of the sandbox.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, Insert, ObjectName, OnConflictAction, OnInsert,
    SqliteOnConflict, TableFactor, TableObject, TableWithJoins, Update, Visit, Visitor,
};

use super::truth::always_true;
use super::visitor::Analysis;
use crate::diff::Op;
use crate::policy::scope::{ScopedTable, display_name};
use crate::policy::{Rule, Scope};

impl<'a> Analysis<'a> {
    /// The table a write goes to: only a scoped table, never a CTE name.
    fn write_target(&mut self, name: &ObjectName, verb: &str) -> Option<&'a ScopedTable> {
        let scope: &'a Scope = self.scope;
        match scope.resolve(name) {
            None => {
                self.outside(name);
                None
            }
            Some(table) => {
                if table.is_read_only() {
                    self.hit(
                        Rule::ReadOnlyTable,
                        format!(
                            "{verb} on `{}`: the table is read-only reference data",
                            table.name()
                        ),
                    );
                }
                Some(table)
            }
        }
    }

    fn write_targets_of(&mut self, twj: &TableWithJoins, verb: &str) -> Vec<&'a ScopedTable> {
        let mut out: Vec<&'a ScopedTable> = Vec::new();
        let factors = std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation));
        for factor in factors {
            match factor {
                TableFactor::Table {
                    name, args: None, ..
                } => {
                    out.extend(self.write_target(name, verb));
                }
                TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {}
                _ => self.hit(
                    Rule::OutsideScope,
                    format!("{verb} target `{factor}` is not a scoped table"),
                ),
            }
        }
        out
    }

    fn pii_assignments<'t>(
        &mut self,
        targets: &[&ScopedTable],
        columns: impl Iterator<Item = &'t ObjectName>,
        verb: &str,
    ) {
        for column in columns {
            let Some(last) = column.0.last().and_then(|p| p.as_ident()) else {
                continue;
            };
            for table in targets {
                if let Some(pii) = table.pii_column(&last.value) {
                    self.hit(
                        Rule::PiiWrite,
                        format!("{verb} writes `{}.{pii}`, a PII column", table.name()),
                    );
                }
            }
        }
    }

    pub(super) fn insert(&mut self, insert: &Insert) {
        self.write = true;
        self.ops.push(Op::Insert);
        let targets: Vec<&'a ScopedTable> = match &insert.table {
            TableObject::TableName(name) => self.write_target(name, "INSERT").into_iter().collect(),
            TableObject::TableFunction(f) => {
                self.hit(
                    Rule::OutsideScope,
                    format!(
                        "INSERT into table function `{}` is outside the scope",
                        display_name(&f.name)
                    ),
                );
                Vec::new()
            }
            TableObject::TableQuery(_) => {
                self.hit(
                    Rule::OutsideScope,
                    "INSERT into a subquery is outside the scope".to_owned(),
                );
                Vec::new()
            }
        };
        let replace = insert.replace_into || insert.or == Some(SqliteOnConflict::Replace);
        if replace {
            self.ops.extend([Op::Update, Op::Delete]);
            self.hit(
                Rule::Upsert,
                format!(
                    "INSERT OR REPLACE into `{}` deletes and re-inserts existing rows",
                    targets.first().map_or("?", |t| t.name())
                ),
            );
        }
        let writes_values = insert.source.is_some() || !insert.assignments.is_empty();
        if insert.columns.is_empty() && insert.assignments.is_empty() && writes_values {
            for table in &targets {
                if let Some(pii) = table.pii_columns().first() {
                    self.hit(
                        Rule::PiiWrite,
                        format!(
                            "INSERT into `{}` without a column list writes every column, PII column `{pii}` included",
                            table.name()
                        ),
                    );
                }
            }
        }
        self.pii_assignments(&targets, insert.columns.iter(), "INSERT");
        let assigned: Vec<&ObjectName> = insert
            .assignments
            .iter()
            .flat_map(|a| assignment_columns(&a.target))
            .collect();
        self.pii_assignments(&targets, assigned.into_iter(), "INSERT");
        let upsert_sets = match &insert.on {
            Some(OnInsert::OnConflict(conflict)) => match &conflict.action {
                OnConflictAction::DoUpdate(update) => Some(&update.assignments),
                OnConflictAction::DoNothing => None,
            },
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => Some(assignments),
            _ => None,
        };
        if let Some(assignments) = upsert_sets {
            self.ops.push(Op::Update);
            self.hit(
                Rule::Upsert,
                format!(
                    "upsert into `{}` updates existing rows on conflict",
                    targets.first().map_or("?", |t| t.name())
                ),
            );
            let columns: Vec<&ObjectName> = assignments
                .iter()
                .flat_map(|a| assignment_columns(&a.target))
                .collect();
            self.pii_assignments(&targets, columns.into_iter(), "upsert");
        }
    }

    pub(super) fn update(&mut self, update: &Update) {
        self.write = true;
        self.ops.push(Op::Update);
        let targets = self.write_targets_of(&update.table, "UPDATE");
        let names = target_names(&targets, &update.table);
        if update.or == Some(SqliteOnConflict::Replace) {
            self.ops.push(Op::Delete);
            self.hit(
                Rule::Upsert,
                format!("UPDATE OR REPLACE of `{names}` deletes rows that conflict"),
            );
        }
        let columns: Vec<&ObjectName> = update
            .assignments
            .iter()
            .flat_map(|a| assignment_columns(&a.target))
            .collect();
        self.pii_assignments(&targets, columns.into_iter(), "UPDATE");
        let subject = format!("UPDATE of `{names}`");
        self.where_clause(
            Rule::UpdateWithoutWhere,
            &subject,
            "it changes every row",
            update.selection.as_ref(),
            &targets,
        );
    }

    pub(super) fn delete(&mut self, delete: &Delete) {
        self.write = true;
        self.ops.push(Op::Delete);
        let mut targets: Vec<&'a ScopedTable> = Vec::new();
        for name in &delete.tables {
            targets.extend(self.write_target(name, "DELETE"));
        }
        let from = match &delete.from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
        };
        let mut written = Vec::new();
        if delete.tables.is_empty() {
            for twj in from {
                targets.extend(self.write_targets_of(twj, "DELETE"));
                written.push(twj);
            }
        }
        let names = match written.first() {
            Some(twj) => target_names(&targets, twj),
            None => targets
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let subject = format!("DELETE from `{names}`");
        self.where_clause(
            Rule::DeleteWithoutWhere,
            &subject,
            "it removes every row",
            delete.selection.as_ref(),
            &targets,
        );
    }

    /// The WHERE of an UPDATE or DELETE (`subject`, the rule it breaks):
    /// missing, always true, or testing only the tenant column, it reaches
    /// every row of the sandbox.
    fn where_clause(
        &mut self,
        rule: Rule,
        subject: &str,
        effect: &str,
        selection: Option<&Expr>,
        targets: &[&ScopedTable],
    ) {
        match selection {
            None => self.hit(rule, format!("{subject} has no WHERE clause: {effect}")),
            Some(cond) if always_true(cond, 0) => self.hit(
                rule,
                format!("{subject} has a WHERE clause that is always true"),
            ),
            Some(cond) if tests_only_tenant(cond, targets) => self.hit(
                rule,
                format!(
                    "{subject} tests only the tenant column, which every row in the sandbox matches"
                ),
            ),
            Some(_) => {}
        }
    }
}

/// Whether a WHERE names columns and every one of them is the tenant column
/// of a target: the sandbox holds one tenant, so it selects every row.
fn tests_only_tenant(cond: &Expr, targets: &[&ScopedTable]) -> bool {
    struct Columns<'t> {
        tenants: Vec<&'t str>,
        any: bool,
        other: bool,
    }
    impl Visitor for Columns<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let name = match expr {
                Expr::Identifier(ident) => Some(ident),
                Expr::CompoundIdentifier(parts) => parts.last(),
                _ => None,
            };
            if let Some(ident) = name {
                self.any = true;
                if !self
                    .tenants
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&ident.value))
                {
                    self.other = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let tenants: Vec<&str> = targets.iter().filter_map(|t| t.tenant_column()).collect();
    if tenants.is_empty() {
        return false;
    }
    let mut columns = Columns {
        tenants,
        any: false,
        other: false,
    };
    let _ = cond.visit(&mut columns);
    columns.any && !columns.other
}

fn assignment_columns(target: &AssignmentTarget) -> Vec<&ObjectName> {
    match target {
        AssignmentTarget::ColumnName(name) => vec![name],
        AssignmentTarget::Tuple(names) => names.iter().collect(),
    }
}

fn target_names(targets: &[&ScopedTable], twj: &TableWithJoins) -> String {
    if targets.is_empty() {
        return match &twj.relation {
            TableFactor::Table { name, .. } => display_name(name),
            other => other.to_string(),
        };
    }
    targets
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}
