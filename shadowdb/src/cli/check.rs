//! `shadowdb check` and `shadowdb policy`: the policy without a database.
//!
//! Without a database there are no columns for SQLite to prepare statements
//! against, so `check` splits a script as the policy's parser does; `run`
//! splits it where SQLite does and judges each prepared statement. A NUL
//! byte, where the two would part, is refused by both.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Args;
use sqlparser::ast::{Ident, ObjectName, TableFactor, Visit, Visitor};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

use super::policy::{PolicyArgs, load};
use super::{Ctx, Exit, Failure, Format, plural};
use crate::policy::{Decision, Policy, Scope, ScopedTable, StatementVerdict, one_line};

#[derive(Debug, Clone, Args)]
pub(super) struct CheckArgs {
    /// The SQL to check: a file, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    sql: PathBuf,
    /// The tables in scope (default: every table the SQL names without a schema).
    #[arg(long = "table", value_name = "NAME", num_args = 1..)]
    tables: Vec<String>,
    /// The tenant column of the tables without a contract, as `run
    /// --allow-uncontracted --tenant-column` names it: a WHERE on it alone
    /// is judged as no WHERE, as `run` judges it.
    #[arg(long, value_name = "COL")]
    tenant_column: Option<String>,
    /// How the decisions are written.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub(super) fn check(ctx: &mut Ctx<'_, '_>, args: &CheckArgs) -> Result<Exit, Failure> {
    let policy = load(&args.policy)?;
    let sql = ctx.read_sql(&args.sql)?;
    let (scope, verdicts) = judge(&policy, &sql, &args.tables, args.tenant_column.as_deref());
    let names: Vec<&str> = scope.tables().iter().map(ScopedTable::name).collect();
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "profile": policy.profile(),
                "origin": policy.origin(),
                "scope": names,
                "statements": verdicts,
            });
            let text = serde_json::to_string_pretty(&doc).map_err(|e| {
                Failure::Lib(crate::Error::Config(format!("cannot write JSON: {e}")))
            })?;
            let text = crate::render::escape_json_controls(text);
            ctx.out(&format!("{text}\n"));
        }
        Format::Text => {
            let mut out = format!(
                "Profile `{}` ({}); scope: {}\n\n",
                policy.profile(),
                policy.origin(),
                if names.is_empty() {
                    "no table".to_owned()
                } else {
                    names.join(", ")
                }
            );
            out.push_str(&verdict_lines(&verdicts));
            out.push('\n');
            out.push_str(&summary(&verdicts));
            out.push('\n');
            // Reasons name the agent's tables and columns, which may hold
            // any character.
            ctx.out(&crate::render::escape_lines(&out));
        }
    }
    Ok(exit_of(&verdicts))
}

/// The scope (the given tables, or every unqualified table the SQL names) and
/// the verdicts under it.
fn judge(
    policy: &Policy,
    sql: &str,
    tables: &[String],
    tenant_column: Option<&str>,
) -> (Scope, Vec<StatementVerdict>) {
    let mut scope = Scope::new();
    let from_sql;
    let names: &[String] = if tables.is_empty() {
        // The policy parses first, within its own limits: only SQL it could
        // parse is parsed again here.
        let first = policy.check_sql(sql, &Scope::new());
        let unparsed = first.iter().any(|v| {
            v.hits
                .iter()
                .any(|h| h.rule == "parse_error" || h.rule == "too_complex")
        });
        if unparsed {
            return (scope, first);
        }
        from_sql = tables_named(sql);
        &from_sql
    } else {
        tables
    };
    let registry = safemodel::registry();
    for name in names {
        let table = match registry.get(name) {
            Ok(Some(model)) => ScopedTable::from_table_info(model.info()),
            _ => match tenant_column {
                Some(column) => ScopedTable::new(name.clone()).with_tenant_column(column),
                None => ScopedTable::new(name.clone()),
            },
        };
        scope.push(table);
    }
    let verdicts = policy.check_sql(sql, &scope);
    (scope, verdicts)
}

/// Every table the SQL names without a schema, in order of appearance;
/// table-valued functions are left out.
fn tables_named(sql: &str) -> Vec<String> {
    #[derive(Default)]
    struct Names {
        tables: Vec<String>,
        functions: Vec<String>,
    }
    fn single(name: &ObjectName) -> Option<&Ident> {
        match name.0.as_slice() {
            [part] => part.as_ident(),
            _ => None,
        }
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
            if let Some(ident) = single(relation) {
                // An unquoted name matches any case, a quoted one only itself.
                let known = if ident.quote_style.is_some() {
                    self.tables.contains(&ident.value)
                } else {
                    self.tables
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&ident.value))
                };
                if !known {
                    self.tables.push(ident.value.clone());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                args: Some(_),
                ..
            } = factor
            {
                self.functions.extend(single(name).map(|i| i.value.clone()));
            }
            ControlFlow::Continue(())
        }
    }
    let Ok(statements) = Parser::parse_sql(&SQLiteDialect {}, sql) else {
        return Vec::new();
    };
    let mut names = Names::default();
    let _ = statements.visit(&mut names);
    let Names { tables, functions } = names;
    // SQLite's own tables are never in scope (the scope ignores them anyway).
    let reserved = |t: &str| {
        let lower = t.to_ascii_lowercase();
        lower.starts_with("sqlite_") || lower.starts_with("pragma_")
    };
    tables
        .into_iter()
        .filter(|t| !functions.contains(t) && !reserved(t))
        .collect()
}

/// The exit code of some verdicts: blocked 3, needs approval 4, else 0.
pub(super) fn exit_of(verdicts: &[StatementVerdict]) -> Exit {
    let worst = crate::policy::strictest(verdicts.iter().map(|v| v.decision));
    match worst {
        Decision::Block => Exit::Blocked,
        Decision::RequireApproval => Exit::NotApproved,
        _ => Exit::Success,
    }
}

/// One block per statement: its number and decision, its text, the rules that fired.
pub(super) fn verdict_lines(verdicts: &[StatementVerdict]) -> String {
    let mut out = String::new();
    for (i, v) in verdicts.iter().enumerate() {
        let _ = writeln!(out, "{}. {}  {}", i + 1, v.decision, one_line(&v.sql));
        for hit in &v.hits {
            let _ = writeln!(out, "   - {} ({}): {}", hit.rule, hit.decision, hit.reason);
        }
    }
    out
}

/// `3 statements: 1 allow, 1 warn, 1 block`.
pub(super) fn summary(verdicts: &[StatementVerdict]) -> String {
    let counts: Vec<String> = Decision::ALL
        .into_iter()
        .filter_map(|d| {
            let n = verdicts.iter().filter(|v| v.decision == d).count();
            (n > 0).then(|| format!("{n} {d}"))
        })
        .collect();
    if counts.is_empty() {
        return "No statements.".to_owned();
    }
    format!(
        "{}: {}",
        plural(verdicts.len(), "statement"),
        counts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_named_leave_out_functions_and_qualified_names() {
        assert_eq!(
            tables_named(
                "SELECT * FROM tasks t JOIN json_each('[1]') ON 1; \
                 INSERT INTO \"Notes\" SELECT * FROM main.secrets; DELETE FROM tasks WHERE id = 1"
            ),
            vec!["tasks", "Notes"]
        );
        assert!(tables_named("not sql at all").is_empty());
    }

    #[test]
    fn default_scope_is_the_named_tables() {
        let policy = Policy::builtin("dev").unwrap();
        let (scope, verdicts) = judge(&policy, "UPDATE tasks SET a = 1 WHERE id = 2", &[], None);
        assert_eq!(scope.tables().len(), 1);
        assert_eq!(verdicts[0].decision, Decision::Allow);
        let (_, verdicts) = judge(&policy, "SELECT 1 FROM main.tasks", &[], None);
        assert_eq!(verdicts[0].decision, Decision::Block);
        let (_, verdicts) = judge(&policy, "SELECT 1 FROM tasks", &["other".to_owned()], None);
        assert_eq!(verdicts[0].hits[0].rule, "outside_scope");
    }
}
