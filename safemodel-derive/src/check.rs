//! The rules of a contract: table named, tenant column present and able to
//! scope rows, primary key present, columns distinct and mapped to SQL, no PII key.

use std::collections::BTreeMap;

use crate::ast::{Enum, Model};
use crate::ctxt::Errors;
use crate::sql_type::{self, Class};

pub fn model(model: &Model<'_>, errors: &mut Errors) {
    let ident = model.ident;
    // "Missing key" errors point at the attribute to complete, else the name.
    let attr_tokens = model
        .attrs
        .first_attr
        .as_ref()
        .map_or_else(|| quote::quote!(#ident), quote::ToTokens::to_token_stream);

    match &model.attrs.table {
        None => errors.spanned(
            &attr_tokens,
            format!(
                "`{ident}` names no table: add #[safemodel(table = \"...\")] (a contract is the contract of one table)"
            ),
        ),
        Some(lit) => {
            let table = lit.value();
            if table.is_empty() || table.split('.').any(str::is_empty) {
                errors.error(
                    lit.span(),
                    format!(
                        "table = {table:?} is not a table name: write `table` or `schema.table`"
                    ),
                );
            }
        }
    }

    match &model.attrs.tenant {
        None => errors.spanned(
            &attr_tokens,
            format!(
                "`{ident}` names no tenant column: add #[safemodel(tenant = \"...\")] naming the column that scopes its rows to one tenant"
            ),
        ),
        Some(lit) => match model.tenant_field() {
            None => {
                let tenant = lit.value();
                let renamed = model
                    .fields
                    .iter()
                    .find(|f| crate::ast::unraw(f.ident) == tenant && f.column != tenant);
                let message = match renamed {
                    Some(f) => format!(
                        "tenant = {tenant:?} names no column of `{ident}`: field `{tenant}` is renamed to column {:?}, and `tenant` names the column",
                        f.column
                    ),
                    None => format!("tenant = {tenant:?} names no field of `{ident}`"),
                };
                errors.error(lit.span(), message);
            }
            Some(field) => {
                if let Some(problem) = sql_type::tenant_problem(&field.class) {
                    errors.spanned(
                        field.ty,
                        format!("tenant column `{}` {problem}", field.column),
                    );
                }
                if let Some(pii) = field.attrs.pii {
                    errors.error(
                        pii,
                        format!(
                            "tenant column `{}` cannot be PII: every row is scoped and shown by its tenant, so it cannot be hidden; remove `pii`",
                            field.column
                        ),
                    );
                }
            }
        },
    }

    if model.key_fields().next().is_none() {
        errors.error(
            ident.span(),
            format!(
                "`{ident}` has no primary key: mark its key field(s) with #[safemodel(primary_key)] (rows are matched by key in diffs and writes)"
            ),
        );
    }
    let tenant = model.tenant_field().map(|f| f.ident);
    for field in model.key_fields() {
        if field.is_option() {
            errors.spanned(
                field.ty,
                format!(
                    "primary key column `{}` cannot be an `Option`: a key identifies its row, and NULL identifies none",
                    field.column
                ),
            );
        }
        if let (Some(pii), false) = (field.attrs.pii, tenant == Some(field.ident)) {
            errors.error(
                pii,
                format!(
                    "primary key column `{}` cannot be PII: keys identify rows in diffs, messages and the audit log, so they cannot be hidden; remove `pii`",
                    field.column
                ),
            );
        }
    }

    let mut columns: BTreeMap<&str, &syn::Ident> = BTreeMap::new();
    for field in &model.fields {
        if field.column.is_empty() {
            errors.error(field.column_span, "rename = \"\" is not a column name");
        } else if let Some(first) = columns.insert(&field.column, field.ident) {
            columns.insert(&field.column, first);
            errors.error(
                field.column_span,
                format!(
                    "column `{}` is declared twice in `{ident}` (fields `{first}` and `{}`); each column has one field: rename one",
                    field.column, field.ident
                ),
            );
        }
        if let Class::Unsupported(reason) = &field.class {
            errors.spanned(field.ty, reason);
        }
        if let Class::Option(_, inner) = &field.class
            && let Class::Unsupported(reason) = inner.as_ref()
        {
            errors.spanned(field.ty, reason);
        }
    }
}

pub fn enumeration(item: &Enum<'_>, errors: &mut Errors) {
    let mut texts: BTreeMap<&str, &syn::Ident> = BTreeMap::new();
    for variant in &item.variants {
        if variant.text.is_empty() {
            errors.error(variant.text_span, "rename = \"\" is not a variant text");
        } else if let Some(first) = texts.insert(&variant.text, variant.ident) {
            texts.insert(&variant.text, first);
            errors.error(
                variant.text_span,
                format!(
                    "variants `{first}` and `{}` of `{}` are both stored as {:?}; a text names one variant: rename one",
                    variant.ident, item.ident, variant.text
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{DeriveInput, parse_quote};

    fn errors_of(input: &DeriveInput) -> Vec<String> {
        let mut errors = Errors::default();
        if let Some(m) = Model::from_input(input, &mut errors) {
            model(&m, &mut errors);
        }
        errors
            .finish()
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_good_contract_has_no_errors() {
        let input: DeriveInput = parse_quote! {
            #[safemodel(table = "users", tenant = "id")]
            struct User {
                #[safemodel(primary_key)]
                id: uuid::Uuid,
                #[safemodel(pii, rename = "mail")]
                email: Option<String>,
            }
        };
        assert_eq!(errors_of(&input), Vec::<String>::new());
    }

    #[test]
    fn every_rule_is_reported_at_once() {
        let input: DeriveInput = parse_quote! {
            #[safemodel(table = "", tenant = "owner")]
            struct Task {
                #[safemodel(rename = "title")]
                id: Option<i64>,
                #[safemodel(pii)]
                owner: f64,
                title: String,
                tags: Vec<String>,
            }
        };
        assert_eq!(
            errors_of(&input),
            [
                "table = \"\" is not a table name: write `table` or `schema.table`",
                "tenant column `owner` cannot be a float: rows are scoped by equality, and floats do not compare exactly",
                "tenant column `owner` cannot be PII: every row is scoped and shown by its tenant, so it cannot be hidden; remove `pii`",
                "`Task` has no primary key: mark its key field(s) with #[safemodel(primary_key)] (rows are matched by key in diffs and writes)",
                "column `title` is declared twice in `Task` (fields `id` and `title`); each column has one field: rename one",
                "`Vec<String>` has no SQL mapping: only `Vec<u8>` (bytes) is a column; store a list as JSON (`serde_json::Value` or `safemodel::Json`)",
            ]
        );
    }

    #[test]
    fn tenant_names_a_column_not_a_renamed_field() {
        let input: DeriveInput = parse_quote! {
            #[safemodel(table = "t", tenant = "user_id")]
            struct T {
                #[safemodel(primary_key)]
                id: i64,
                #[safemodel(rename = "uid")]
                user_id: i64,
            }
        };
        assert_eq!(
            errors_of(&input),
            [
                "tenant = \"user_id\" names no column of `T`: field `user_id` is renamed to column \"uid\", and `tenant` names the column"
            ]
        );
    }
}
