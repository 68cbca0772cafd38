//! The tables in scope: what the caller asked for each ([`TableSpec`]), and
//! each one checked against its contract ([`Scoped`]), every problem listed.
//!
//! It sits below the session (`shadow`) and the diff, which both read a
//! [`Scoped`], so that neither has to reach into the other.
//!
//! A table has one view per stage, each named for what it holds:
//!
//! | type | stage | what it holds |
//! |---|---|---|
//! | [`TableSpec`] | builder | what the caller asked: name, tenant column, row key, contract |
//! | [`TableSchema`] | model / reflect | production's shape: columns, keys, foreign keys |
//! | [`Scoped`] | scope | the table checked against its contract, with its index spaces |
//! | `SandboxTable` | sandbox | the columns and key the sandbox's DDL is made of |
//! | `policy::ScopedTable` | policy | what the policy needs: name, tenant column, PII, read-only |

use safemodel::{Model, SqlType, TableInfo};

use crate::error::SchemaProblem;
use crate::model::{self, TableName, TableSchema};
use crate::types::ColumnKind;
pub(crate) use crate::value::tenant_eq;

/// How one table is to be scoped, as the builder was told.
#[derive(Debug, Clone)]
pub(crate) struct TableSpec {
    pub name: TableName,
    pub read_only: bool,
    /// The tenant column given for it (default: the contract's).
    pub tenant_column: Option<String>,
    /// The row key given for a table without a primary key.
    pub row_key: Option<Vec<String>>,
    /// The contract bound to it by the caller; `None` looks the table up in
    /// safemodel's registry by its bare name.
    pub contract: Option<&'static Model>,
}

impl TableSpec {
    pub(crate) fn new(name: TableName, read_only: bool) -> Self {
        TableSpec {
            name,
            read_only,
            tenant_column: None,
            row_key: None,
            contract: None,
        }
    }
}

/// Where a column stands in production's table: an index into
/// `TableSchema::columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ColumnIx(pub usize);

/// Where a column stands among the sandbox's columns: a position in
/// [`Scoped::cols`] (and in every sandbox row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SandboxPos(pub usize);

/// One table in scope. Its two index spaces have types of their own, so
/// that a position among the sandbox's columns is never taken for an index
/// into production's.
#[derive(Debug, Clone)]
pub(crate) struct Scoped {
    pub schema: TableSchema,
    pub model: Option<&'static Model>,
    pub read_only: bool,
    /// The tenant column, if any.
    pub tenant_col: Option<ColumnIx>,
    /// The sandbox's columns in order.
    pub cols: Vec<ColumnIx>,
    /// PII flags aligned with `cols`.
    pub pii: Vec<bool>,
    /// The key's columns, as positions among the sandbox's.
    pub key: Vec<SandboxPos>,
    /// Provisional key base for a generated single integer key.
    pub generated_key: Option<i64>,
    /// The name the agent uses in the sandbox.
    pub sandbox_name: String,
}

impl Scoped {
    /// The column at a position among the sandbox's.
    pub(crate) fn col(&self, pos: SandboxPos) -> Option<&model::ColumnSchema> {
        self.cols.get(pos.0).and_then(|&i| self.column(i))
    }

    /// The column at an index into production's table.
    pub(crate) fn column(&self, ix: ColumnIx) -> Option<&model::ColumnSchema> {
        self.schema.columns.get(ix.0)
    }

    /// The tenant column, if any.
    pub(crate) fn tenant_column(&self) -> Option<&model::ColumnSchema> {
        self.tenant_col.and_then(|ix| self.column(ix))
    }

    /// The key's columns, in key order.
    pub(crate) fn key_columns(&self) -> impl Iterator<Item = &model::ColumnSchema> + '_ {
        self.key.iter().filter_map(|&p| self.col(p))
    }

    /// The sandbox's columns in order, each with its PII flag.
    pub(crate) fn columns_with_pii(
        &self,
    ) -> impl Iterator<Item = (&model::ColumnSchema, bool)> + '_ {
        self.cols
            .iter()
            .zip(&self.pii)
            .filter_map(|(&i, &pii)| self.column(i).map(|c| (c, pii)))
    }

    /// The PII columns among the sandbox's, in order: never cloned.
    pub(crate) fn pii_columns(&self) -> impl Iterator<Item = &model::ColumnSchema> + '_ {
        self.columns_with_pii()
            .filter(|(_, pii)| *pii)
            .map(|(c, _)| c)
    }
}

/// Checks one table against its contract and builds its scope entry, or
/// pushes every problem found to `problems` and returns `None`.
pub(crate) fn check_table(
    spec: &TableSpec,
    schema: TableSchema,
    model: Option<&'static Model>,
    allow_uncontracted: bool,
    problems: &mut Vec<SchemaProblem>,
) -> Option<Scoped> {
    let table = spec.name.to_string();
    let before = problems.len();
    if model.is_none() && !spec.read_only && !allow_uncontracted {
        problems.push(SchemaProblem::NoContract {
            table: table.clone(),
        });
    }
    let info = model.map(Model::info);
    // The tenant column: the one given for the table, else the contract's.
    let tenant_name = spec
        .tenant_column
        .clone()
        .or_else(|| info.map(|i| i.tenant.to_owned()));
    let (cols, pii) = sandbox_columns(&table, &schema, info, tenant_name.as_deref(), problems);
    if let Some(info) = info {
        check_contract(&table, &schema, info, problems);
    }
    check_supported(&table, &schema, &cols, problems);
    let key = key_positions(&table, spec, &schema, info, &cols, problems);
    // A table refused for want of a contract needs no tenant problem too.
    let tenant_needed = !(spec.read_only || (model.is_none() && !allow_uncontracted));
    let tenant_col = tenant_position(
        &table,
        &schema,
        tenant_name.as_deref(),
        tenant_needed,
        problems,
    );
    if problems.len() > before {
        return None;
    }
    let generated_key = match key.as_slice() {
        [only] => cols
            .get(*only)
            .and_then(|&i| schema.columns.get(i))
            .filter(|c| c.generated)
            .and_then(|c| provisional_base(&c.kind)),
        _ => None,
    };
    Some(Scoped {
        sandbox_name: schema.name.name.clone(),
        schema,
        model,
        read_only: spec.read_only,
        tenant_col: tenant_col.map(ColumnIx),
        cols: cols.into_iter().map(ColumnIx).collect(),
        pii,
        key: key.into_iter().map(SandboxPos).collect(),
        generated_key,
    })
}

/// The sandbox's columns (indices into `schema.columns`) and their PII
/// flags: the contract's columns, or every column without a contract.
fn sandbox_columns(
    table: &str,
    schema: &TableSchema,
    info: Option<&TableInfo>,
    tenant_name: Option<&str>,
    problems: &mut Vec<SchemaProblem>,
) -> (Vec<usize>, Vec<bool>) {
    let wanted: Vec<(String, bool)> = match info {
        Some(info) => info
            .columns
            .iter()
            .map(|c| (c.name.to_owned(), c.pii))
            .collect(),
        None => schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), false))
            .collect(),
    };
    let mut cols = Vec::new();
    let mut pii = Vec::new();
    for (name, is_pii) in &wanted {
        match schema.columns.iter().position(|c| &c.name == name) {
            Some(i) => {
                cols.push(i);
                pii.push(*is_pii);
            }
            // A missing tenant column is reported once, as such, later.
            None if tenant_name == Some(name.as_str()) => {}
            None => problems.push(SchemaProblem::ContractColumnMissing {
                table: table.to_owned(),
                column: name.clone(),
            }),
        }
    }
    (cols, pii)
}

/// The contract's types against production's, and production's required
/// columns against the contract.
fn check_contract(
    table: &str,
    schema: &TableSchema,
    info: &TableInfo,
    problems: &mut Vec<SchemaProblem>,
) {
    for c in info.columns {
        if let Some(col) = schema.column(c.name) {
            match col.kind.family() {
                Some(family) if family != c.sql_type && !compatible(family, c.sql_type) => {
                    problems.push(SchemaProblem::TypeMismatch {
                        table: table.to_owned(),
                        column: c.name.to_owned(),
                        contract: c.sql_type.name().to_owned(),
                        production: col.declared_type.clone(),
                    });
                }
                _ => {}
            }
        }
    }
    for col in &schema.columns {
        if !col.nullable && !col.has_default && info.column(&col.name).is_none() {
            problems.push(SchemaProblem::RequiredColumnNotInContract {
                table: table.to_owned(),
                column: col.name.clone(),
            });
        }
    }
}

/// Every sandbox column's type can be kept exactly.
fn check_supported(
    table: &str,
    schema: &TableSchema,
    cols: &[usize],
    problems: &mut Vec<SchemaProblem>,
) {
    for &i in cols {
        if let Some(col) = schema.columns.get(i)
            && let ColumnKind::Unsupported(declared) = &col.kind
        {
            problems.push(SchemaProblem::UnsupportedType {
                table: table.to_owned(),
                column: col.name.clone(),
                declared: declared.clone(),
            });
        }
    }
}

/// The key's positions within `cols`: the table's primary key (which must
/// be the contract's), or the row key given for it.
fn key_positions(
    table: &str,
    spec: &TableSpec,
    schema: &TableSchema,
    info: Option<&TableInfo>,
    cols: &[usize],
    problems: &mut Vec<SchemaProblem>,
) -> Vec<usize> {
    let key_names: Vec<String> = spec
        .row_key
        .clone()
        .unwrap_or_else(|| schema.primary_key.clone());
    if key_names.is_empty() {
        problems.push(SchemaProblem::NoPrimaryKey {
            table: table.to_owned(),
        });
    }
    if let (Some(info), None) = (info, &spec.row_key) {
        let contract: Vec<String> = info.primary_key.iter().map(|s| (*s).to_owned()).collect();
        if !key_names.is_empty() && contract != key_names {
            problems.push(SchemaProblem::PrimaryKeyMismatch {
                table: table.to_owned(),
                contract,
                production: key_names.clone(),
            });
        }
    }
    let mut key = Vec::new();
    for k in &key_names {
        match cols
            .iter()
            .position(|&i| schema.columns.get(i).is_some_and(|c| &c.name == k))
        {
            Some(p) => key.push(p),
            // Production's own key always exists: a given row key may not.
            None if schema.column(k).is_none() => {
                problems.push(SchemaProblem::RowKeyColumnMissing {
                    table: table.to_owned(),
                    column: k.clone(),
                });
            }
            // The table has it but the contract leaves it out of the sandbox.
            None => problems.push(SchemaProblem::KeyColumnNotInContract {
                table: table.to_owned(),
                column: k.clone(),
            }),
        }
    }
    key
}

/// The tenant column's index in `schema.columns`; `needed` says whether a
/// table without one is a problem.
fn tenant_position(
    table: &str,
    schema: &TableSchema,
    tenant_name: Option<&str>,
    needed: bool,
    problems: &mut Vec<SchemaProblem>,
) -> Option<usize> {
    match tenant_name {
        Some(name) => {
            let found = schema.columns.iter().position(|c| c.name == name);
            if found.is_none() {
                problems.push(SchemaProblem::TenantColumnMissing {
                    table: table.to_owned(),
                    column: name.to_owned(),
                });
            }
            found
        }
        None if !needed => None,
        None => {
            problems.push(SchemaProblem::TenantColumnMissing {
                table: table.to_owned(),
                column: "(none given: set a tenant column for this table)".into(),
            });
            None
        }
    }
}

/// The problems [`ShadowDb::open`](crate::ShadowDb) would report for
/// `schema` scoped as a writable table under `model` (for `shadowdb schema`).
pub(crate) fn contract_problems(schema: &TableSchema, model: &'static Model) -> Vec<SchemaProblem> {
    let spec = TableSpec::new(schema.name.clone(), false);
    let mut problems = Vec::new();
    let _ = check_table(&spec, schema.clone(), Some(model), false, &mut problems);
    problems
}

/// Families a contract may declare for a column of another family without
/// loss: an integer column read into a decimal field.
fn compatible(production: SqlType, contract: SqlType) -> bool {
    matches!((production, contract), (SqlType::Int, SqlType::Decimal))
}

/// Provisional keys start here, by integer width, so they are easy to tell
/// from production's and stay within the column's type.
fn provisional_base(kind: &ColumnKind) -> Option<i64> {
    match kind {
        ColumnKind::Int16 => Some(30_000),
        ColumnKind::Int32 => Some(2_000_000_000),
        ColumnKind::Int64 | ColumnKind::UInt64 => Some(1 << 62),
        _ => None,
    }
}

/// The PII columns of one scoped table as `(table, column)`.
pub(crate) fn pii_of(t: &Scoped) -> Vec<(String, String)> {
    t.pii_columns()
        .map(|c| (t.schema.name.to_string(), c.name.clone()))
        .collect()
}
