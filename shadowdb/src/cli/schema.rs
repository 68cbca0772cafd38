//! `shadowdb schema`: tables as reflected, and their contracts.

use clap::Args;
use safemodel::{ColumnInfo, Model};

use super::{Ctx, DbArg, Exit, Failure, aligned};
use crate::model::{FkAction, TableName, TableSchema};
use crate::prod::redact_url;
use crate::reflect::reflect;
use crate::shadow::contract_problems;

#[derive(Debug, Clone, Args)]
pub(super) struct SchemaArgs {
    #[command(flatten)]
    db: DbArg,
    /// The tables to show.
    #[arg(long = "table", value_name = "NAME", required = true, num_args = 1..)]
    tables: Vec<String>,
}

pub(super) async fn schema(ctx: &mut Ctx<'_, '_>, args: &SchemaArgs) -> Result<Exit, Failure> {
    let prod = super::connect(&args.db.db).await?;
    ctx.detail(&format!(
        "connected to {} ({})",
        redact_url(&args.db.db),
        prod.dialect().name()
    ));
    let registry = safemodel::registry();
    let mut missing = false;
    let mut mismatch = false;
    let mut out = String::new();
    for (i, name) in args.tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let table = TableName::parse(name);
        let Some(schema) = reflect(&prod, &table).await? else {
            out.push_str(&format!("{name}: does not exist\n"));
            missing = true;
            continue;
        };
        let model = registry.get(&table.to_string())?;
        mismatch |= describe(&mut out, &schema, model, prod.dialect().name());
    }
    // Names come from production, which may hold any character.
    ctx.out(&crate::render::escape_lines(&out));
    Ok(if missing {
        Exit::Error
    } else if mismatch {
        Exit::Blocked
    } else {
        Exit::Success
    })
}

/// Writes one table; returns whether its contract does not match it.
fn describe(
    out: &mut String,
    schema: &TableSchema,
    model: Option<&'static Model>,
    dialect: &str,
) -> bool {
    out.push_str(&format!("{} ({dialect})\n", schema.name));
    let mut mismatch = false;
    match model {
        None => out.push_str(
            "  contract: none (writes need a #[derive(SafeModel)] contract, or \
             --allow-uncontracted --tenant-column COL)\n",
        ),
        Some(model) => {
            let info = model.info();
            let problems = contract_problems(schema, model);
            if problems.is_empty() {
                out.push_str(&format!(
                    "  contract: {} (tenant column {}): matches\n",
                    info.type_name, info.tenant
                ));
            } else {
                mismatch = true;
                out.push_str(&format!(
                    "  contract: {} (tenant column {}): does NOT match\n",
                    info.type_name, info.tenant
                ));
                for p in problems {
                    out.push_str(&format!("    - {p}\n"));
                }
            }
        }
    }
    let key = if schema.primary_key.is_empty() {
        "none".to_owned()
    } else {
        schema.primary_key.join(", ")
    };
    out.push_str(&format!("  primary key: {key}\n"));
    out.push_str(&aligned("  ", &column_rows(schema, model)));
    for fk in &schema.foreign_keys {
        out.push_str(&format!(
            "  foreign key: ({}) -> {} ({}) on delete {}\n",
            fk.columns.join(", "),
            fk.ref_table,
            fk.ref_columns.join(", "),
            action(fk.on_delete)
        ));
    }
    for note in &schema.not_enforced {
        out.push_str(&format!("  not enforced in the sandbox: {note}\n"));
    }
    mismatch
}

/// The columns, a header first, and what the contract says of each.
fn column_rows(schema: &TableSchema, model: Option<&'static Model>) -> Vec<Vec<String>> {
    let info = model.map(Model::info);
    let mut rows = vec![
        ["COLUMN", "TYPE", "NULL", "DEFAULT", "CONTRACT"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for col in &schema.columns {
        let contract = match info {
            None => String::new(),
            Some(info) => info
                .column(&col.name)
                .map_or_else(|| "-".to_owned(), |c| contract_column(c, info.tenant)),
        };
        rows.push(vec![
            col.name.clone(),
            col.declared_type.clone(),
            if col.nullable { "null" } else { "not null" }.to_owned(),
            if col.generated {
                "generated"
            } else if col.has_default {
                "default"
            } else {
                ""
            }
            .to_owned(),
            contract,
        ]);
    }
    rows
}

/// `integer, primary key`, `text: todo | done`, `text, pii`.
fn contract_column(c: &ColumnInfo, tenant: &str) -> String {
    let mut out = c.sql_type.name().to_owned();
    if c.nullable {
        out.push_str(" null");
    }
    if c.primary_key {
        out.push_str(", primary key");
    }
    if c.name == tenant {
        out.push_str(", tenant");
    }
    if c.pii {
        out.push_str(", pii");
    }
    if let Some(variants) = c.variants {
        out.push_str(": ");
        out.push_str(&variants.join(" | "));
    }
    out
}

fn action(a: FkAction) -> &'static str {
    match a {
        FkAction::Restrict => "restrict",
        FkAction::Cascade => "cascade",
        FkAction::SetNull => "set null",
        FkAction::SetDefault => "set default",
    }
}
