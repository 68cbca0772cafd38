//! The generated code: the `SafeModel` / `SafeEnum` impls, the registration,
//! and, when the input breaks a rule, the errors plus a stub impl so that the
//! user sees only the real error and not "SafeModel is not implemented" after it.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{DeriveInput, Path};

use crate::ast::{self, Enum, Field, Model};
use crate::attr::{self, Rule, RuleKind};
use crate::check;
use crate::ctxt::Errors;

/// `#[derive(SafeModel)]`.
pub fn derive_model(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let model = Model::from_input(input, &mut errors);
    if let Some(model) = &model {
        check::model(model, &mut errors);
    }
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => model_impl(&model),
        (Err(error), _) => {
            let mut out = error.to_compile_error();
            out.extend(model_stub(input));
            out
        }
        (Ok(()), None) => TokenStream::new(),
    }
}

/// `#[derive(SafeEnum)]`.
pub fn derive_enum(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let item = Enum::from_input(input, &mut errors);
    if let Some(item) = &item {
        check::enumeration(item, &mut errors);
    }
    match (errors.finish(), item) {
        (Ok(()), Some(item)) => enum_impl(&item),
        (Err(error), _) => {
            let mut out = error.to_compile_error();
            out.extend(enum_stub(input));
            out
        }
        (Ok(()), None) => TokenStream::new(),
    }
}

fn model_impl(model: &Model<'_>) -> TokenStream {
    let krate = ast::crate_path(model.attrs.krate.as_ref());
    let ident = model.ident;
    let name = ident.to_string();
    let table = model.attrs.table.as_ref().map(syn::LitStr::value);
    let tenant = model.attrs.tenant.as_ref().map(syn::LitStr::value);
    let fields = &model.fields;
    let keys = model.key_fields().map(|f| f.column.as_str());

    let columns = fields.iter().map(|f| column_info(&krate, f));
    let decoded = fields
        .iter()
        .enumerate()
        .map(|(i, f)| decode_field(&krate, i, f));
    let rule_fns = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.rules.is_empty())
        .map(|(i, f)| rule_fn(&krate, i, f));
    let slots: Vec<_> = (0..fields.len())
        .map(|i| format_ident!("__safemodel_f{}", i))
        .collect();
    let slot_types = fields.iter().map(|f| f.ty);
    let field_idents: Vec<_> = fields.iter().map(|f| f.ident).collect();
    let to_values = fields.iter().map(|f| {
        let (ty, field) = (f.ty, f.ident);
        quote!(<#ty as #krate::FieldType>::to_value(&self.#field))
    });
    let validate_body = validate_body(&krate, fields);
    let tenant_assert = model.tenant_field().map(|f| {
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            const _: () = #krate::__private::assert_tenant_type::<#ty>();
        }
    });

    quote! {
        const _: () = {
            static __SAFEMODEL_INFO: #krate::TableInfo = #krate::TableInfo {
                table: #table,
                tenant: #tenant,
                primary_key: &[#(#keys),*],
                columns: &[#(#columns),*],
                type_name: ::core::concat!(::core::module_path!(), "::", #name),
            };
            static __SAFEMODEL_COLUMN_NAMES: #krate::__private::ColumnNames =
                #krate::__private::ColumnNames::new();

            // A type without `FieldType` fails at `<T as FieldType>` in the
            // column list, spanned at the field's type, where its
            // `on_unimplemented` message names it (identical errors of the
            // other uses are merged by rustc).
            #tenant_assert

            #(#rule_fns)*

            #[inline]
            fn __safemodel_decode(
                __safemodel_row: &#krate::Row,
                __safemodel_options: #krate::CheckOptions,
            ) -> (
                ::std::vec::Vec<#krate::Violation>,
                (#(::core::option::Option<#slot_types>,)*),
            ) {
                let mut __safemodel_violations = ::std::vec::Vec::new();
                let mut __safemodel_matched: usize = 0;
                #(#decoded)*
                if __safemodel_matched != __safemodel_row.len() {
                    #krate::__private::unknown_columns(
                        __safemodel_row,
                        &__SAFEMODEL_INFO,
                        &mut __safemodel_violations,
                    );
                }
                (__safemodel_violations, (#(#slots,)*))
            }

            #[automatically_derived]
            impl #krate::SafeModel for #ident {
                #[inline]
                fn info() -> &'static #krate::TableInfo {
                    &__SAFEMODEL_INFO
                }

                fn check_row(
                    __safemodel_row: &#krate::Row,
                    __safemodel_options: #krate::CheckOptions,
                ) -> ::core::result::Result<(), #krate::RowViolations> {
                    let (__safemodel_violations, _) =
                        __safemodel_decode(__safemodel_row, __safemodel_options);
                    if __safemodel_violations.is_empty() {
                        ::core::result::Result::Ok(())
                    } else {
                        ::core::result::Result::Err(#krate::__private::row_violations(
                            &__SAFEMODEL_INFO,
                            __safemodel_row,
                            __safemodel_violations,
                        ))
                    }
                }

                fn from_row(
                    __safemodel_row: &#krate::Row,
                ) -> ::core::result::Result<Self, #krate::RowViolations> {
                    let (__safemodel_violations, __safemodel_fields) =
                        __safemodel_decode(__safemodel_row, #krate::CheckOptions::strict());
                    if __safemodel_violations.is_empty() {
                        if let (#(::core::option::Option::Some(#slots),)*) = __safemodel_fields {
                            return ::core::result::Result::Ok(#ident {
                                #(#field_idents: #slots,)*
                            });
                        }
                    }
                    ::core::result::Result::Err(#krate::__private::row_violations(
                        &__SAFEMODEL_INFO,
                        __safemodel_row,
                        __safemodel_violations,
                    ))
                }

                fn to_row(&self) -> #krate::Row {
                    #krate::__private::row_of(
                        &__SAFEMODEL_COLUMN_NAMES,
                        &__SAFEMODEL_INFO,
                        ::std::vec![#(#to_values),*],
                    )
                }

                fn validate(&self) -> ::core::result::Result<(), #krate::RowViolations> {
                    #validate_body
                }
            }

            #krate::__private::inventory::submit! {
                #krate::__private::Model::of::<#ident>()
            }
        };
    }
}

fn column_info(krate: &Path, f: &Field<'_>) -> TokenStream {
    let ty = f.ty;
    let column = &f.column;
    let field = ast::unraw(f.ident);
    let pii = f.attrs.pii.is_some();
    let primary_key = f.attrs.primary_key.is_some();
    let fty = quote_spanned!(ty.span()=> <#ty as #krate::FieldType>);
    quote! {
        #krate::ColumnInfo {
            name: #column,
            field: #field,
            sql_type: #fty::SQL_TYPE,
            nullable: #fty::NULLABLE,
            pii: #pii,
            primary_key: #primary_key,
            variants: #fty::VARIANTS,
        }
    }
}

/// `let __safemodel_fN: Option<T> = ..;`: the decoded value, or `None` with
/// its violation recorded. For an `Option` field an absent column is `Some(None)`.
fn decode_field(krate: &Path, index: usize, f: &Field<'_>) -> TokenStream {
    let ty = f.ty;
    let column = &f.column;
    let slot = format_ident!("__safemodel_f{}", index);
    let missing = if f.is_option() {
        quote!(::core::option::Option::Some(::core::option::Option::None))
    } else if f.attrs.pii.is_some() {
        quote! {{
            if !__safemodel_options.allow_missing_pii {
                __safemodel_violations.push(#krate::__private::missing(#column));
            }
            ::core::option::Option::None
        }}
    } else {
        quote! {{
            __safemodel_violations.push(#krate::__private::missing(#column));
            ::core::option::Option::None
        }}
    };
    let apply_rules = if f.rules.is_empty() {
        quote!()
    } else {
        let rules = format_ident!("__safemodel_rules_{}", index);
        if f.is_option() {
            quote! {
                if let ::core::option::Option::Some(__safemodel_inner) = &__safemodel_value {
                    #rules(__safemodel_inner, &mut __safemodel_violations);
                }
            }
        } else {
            quote!(#rules(&__safemodel_value, &mut __safemodel_violations);)
        }
    };
    let fty = quote_spanned!(ty.span()=> <#ty as #krate::FieldType>);
    quote! {
        let #slot: ::core::option::Option<#ty> =
            match #krate::__private::lookup(__safemodel_row, #index, #column) {
                ::core::option::Option::Some(__safemodel_raw) => {
                    __safemodel_matched += 1;
                    match #fty::from_value(__safemodel_raw) {
                        ::core::result::Result::Ok(__safemodel_value) => {
                            #apply_rules
                            ::core::option::Option::Some(__safemodel_value)
                        }
                        ::core::result::Result::Err(__safemodel_error) => {
                            __safemodel_violations.push(__safemodel_error.at(#column));
                            ::core::option::Option::None
                        }
                    }
                }
                ::core::option::Option::None => #missing,
            };
    }
}

/// `fn __safemodel_rules_N(value: &T, out: &mut Vec<Violation>)`: the field's
/// `#[validate]` rules, shared by decoding and `validate(&self)`.
fn rule_fn(krate: &Path, index: usize, f: &Field<'_>) -> TokenStream {
    let name = format_ident!("__safemodel_rules_{}", index);
    let ty = f.value_type();
    let checks = f.rules.iter().map(|r| rule_check(krate, f, r));
    quote! {
        fn #name(
            __safemodel_value: &#ty,
            __safemodel_out: &mut ::std::vec::Vec<#krate::Violation>,
        ) {
            #(#checks)*
        }
    }
}

fn rule_check(krate: &Path, f: &Field<'_>, rule: &Rule) -> TokenStream {
    let column = &f.column;
    let span = rule.span;
    let message = match &rule.message {
        Some(m) => quote!(::core::option::Option::Some(#m)),
        None => quote!(::core::option::Option::None),
    };
    // The whole call carries the rule's span, so a rule on a type it does
    // not fit is reported at the rule, not at `#[derive]`.
    let validator = respan(quote!(#krate::__private::validator), span);
    match &rule.kind {
        RuleKind::Length { min, max, equal } => {
            let (min, max, equal) = (opt(min.as_ref()), opt(max.as_ref()), opt(equal.as_ref()));
            let call = quote_spanned! {span=>
                #validator::ValidateLength::<u64>::validate_length(
                    __safemodel_value, __safemodel_bounds.0, __safemodel_bounds.1, __safemodel_bounds.2,
                )
            };
            quote! {{
                let __safemodel_bounds: (
                    ::core::option::Option<u64>,
                    ::core::option::Option<u64>,
                    ::core::option::Option<u64>,
                ) = (#min, #max, #equal);
                if !#call {
                    __safemodel_out.push(#krate::__private::length_violation(
                        #column, __safemodel_bounds.0, __safemodel_bounds.1, __safemodel_bounds.2, #message,
                    ));
                }
            }}
        }
        RuleKind::Range {
            min,
            max,
            exclusive_min,
            exclusive_max,
        } => {
            let bounds = [min, max, exclusive_min, exclusive_max].map(|b| opt(b.as_ref()));
            let call = quote_spanned! {span=>
                #validator::ValidateRange::validate_range(
                    __safemodel_value,
                    __safemodel_bounds.0, __safemodel_bounds.1, __safemodel_bounds.2, __safemodel_bounds.3,
                )
            };
            quote! {{
                let __safemodel_bounds = (#(#bounds),*);
                if !#call {
                    __safemodel_out.push(#krate::__private::range_violation(
                        #column,
                        __safemodel_bounds.0, __safemodel_bounds.1, __safemodel_bounds.2, __safemodel_bounds.3,
                        #message,
                    ));
                }
            }}
        }
        RuleKind::Email | RuleKind::Url | RuleKind::Regex(_) => {
            let (call, rule_name) = match &rule.kind {
                RuleKind::Email => (
                    quote_spanned!(span=> #validator::ValidateEmail::validate_email(__safemodel_value)),
                    quote!(Email),
                ),
                RuleKind::Url => (
                    quote_spanned!(span=> #validator::ValidateUrl::validate_url(__safemodel_value)),
                    quote!(Url),
                ),
                RuleKind::Regex(path) => (
                    quote_spanned!(span=> #validator::ValidateRegex::validate_regex(__safemodel_value, &*(#path))),
                    quote!(Regex),
                ),
                _ => return TokenStream::new(),
            };
            quote! {
                if !#call {
                    __safemodel_out.push(#krate::__private::rule_violation(
                        #column, #krate::Rule::#rule_name, #message,
                    ));
                }
            }
        }
        RuleKind::Custom(function) => {
            let pii = f.attrs.pii.is_some();
            let call = quote_spanned!(span=> #function(__safemodel_value));
            quote! {{
                let __safemodel_result: ::core::result::Result<(), #validator::ValidationError> = #call;
                if let ::core::result::Result::Err(__safemodel_error) = __safemodel_result {
                    __safemodel_out.push(#krate::__private::custom_violation(
                        #column, __safemodel_error, #pii, #message,
                    ));
                }
            }}
        }
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                TokenTree::Group(group)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn opt(expr: Option<&syn::Expr>) -> TokenStream {
    match expr {
        Some(e) => quote!(::core::option::Option::Some(#e)),
        None => quote!(::core::option::Option::None),
    }
}

fn validate_body(krate: &Path, fields: &[Field<'_>]) -> TokenStream {
    let calls: Vec<TokenStream> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.rules.is_empty())
        .map(|(i, f)| {
            let rules = format_ident!("__safemodel_rules_{}", i);
            let field = f.ident;
            if f.is_option() {
                quote! {
                    if let ::core::option::Option::Some(__safemodel_inner) = &self.#field {
                        #rules(__safemodel_inner, &mut __safemodel_out);
                    }
                }
            } else {
                quote!(#rules(&self.#field, &mut __safemodel_out);)
            }
        })
        .collect();
    if calls.is_empty() {
        return quote!(::core::result::Result::Ok(()));
    }
    quote! {
        let mut __safemodel_out = ::std::vec::Vec::new();
        #(#calls)*
        if __safemodel_out.is_empty() {
            ::core::result::Result::Ok(())
        } else {
            ::core::result::Result::Err(#krate::__private::row_violations(
                &__SAFEMODEL_INFO,
                &#krate::SafeModel::to_row(self),
                __safemodel_out,
            ))
        }
    }
}

/// A `SafeModel` impl whose bodies never run: emitted next to the errors so
/// that uses of the type do not add "trait not implemented" errors.
fn model_stub(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let krate = ast::crate_path(
        attr::container(&input.attrs, &mut Errors::default())
            .krate
            .as_ref(),
    );
    let ident = &input.ident;
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #krate::SafeModel for #ident {
                fn info() -> &'static #krate::TableInfo {
                    ::core::unreachable!()
                }
                fn check_row(
                    _: &#krate::Row,
                    _: #krate::CheckOptions,
                ) -> ::core::result::Result<(), #krate::RowViolations> {
                    ::core::unreachable!()
                }
                fn from_row(_: &#krate::Row) -> ::core::result::Result<Self, #krate::RowViolations> {
                    ::core::unreachable!()
                }
                fn to_row(&self) -> #krate::Row {
                    ::core::unreachable!()
                }
                fn validate(&self) -> ::core::result::Result<(), #krate::RowViolations> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

fn enum_impl(item: &Enum<'_>) -> TokenStream {
    let krate = ast::crate_path(item.attrs.krate.as_ref());
    let ident = item.ident;
    let texts: Vec<&str> = item.variants.iter().map(|v| v.text.as_str()).collect();
    let variants: Vec<_> = item.variants.iter().map(|v| v.ident).collect();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #krate::SafeEnum for #ident {
                const VARIANTS: &'static [&'static str] = &[#(#texts),*];

                #[inline]
                fn from_name(__safemodel_name: &str) -> ::core::option::Option<Self> {
                    match __safemodel_name {
                        #(#texts => ::core::option::Option::Some(#ident::#variants),)*
                        _ => ::core::option::Option::None,
                    }
                }

                #[inline]
                fn name(self) -> &'static str {
                    match self {
                        #(#ident::#variants => #texts,)*
                    }
                }
            }

            #[automatically_derived]
            impl #krate::FieldType for #ident {
                const SQL_TYPE: #krate::SqlType = #krate::SqlType::Text;
                const VARIANTS: ::core::option::Option<&'static [&'static str]> =
                    ::core::option::Option::Some(<#ident as #krate::SafeEnum>::VARIANTS);

                #[inline]
                fn from_value(
                    __safemodel_value: &#krate::Value,
                ) -> ::core::result::Result<Self, #krate::FieldError> {
                    #krate::__private::enum_from_value::<#ident>(__safemodel_value)
                }

                #[inline]
                fn to_value(&self) -> #krate::Value {
                    #krate::Value::Text(::std::string::String::from(
                        <#ident as #krate::SafeEnum>::name(*self),
                    ))
                }
            }
        };
    }
}

/// `SafeEnum` and `FieldType` impls that never run, for an enum whose derive failed.
fn enum_stub(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() || !matches!(input.data, syn::Data::Enum(_)) {
        return TokenStream::new();
    }
    let krate = ast::crate_path(
        attr::enumeration(&input.attrs, &mut Errors::default())
            .krate
            .as_ref(),
    );
    let ident = &input.ident;
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #krate::SafeEnum for #ident {
                const VARIANTS: &'static [&'static str] = &[];
                fn from_name(_: &str) -> ::core::option::Option<Self> {
                    ::core::unreachable!()
                }
                fn name(self) -> &'static str {
                    ::core::unreachable!()
                }
            }
            #[automatically_derived]
            impl #krate::FieldType for #ident {
                const SQL_TYPE: #krate::SqlType = #krate::SqlType::Text;
                fn from_value(_: &#krate::Value) -> ::core::result::Result<Self, #krate::FieldError> {
                    ::core::unreachable!()
                }
                fn to_value(&self) -> #krate::Value {
                    ::core::unreachable!()
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn flat(tokens: &TokenStream) -> String {
        tokens
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_contract_expands_inside_an_anonymous_const_with_absolute_paths() {
        let input: DeriveInput = parse_quote! {
            #[safemodel(table = "tasks", tenant = "user_id", crate = "my::sm")]
            struct Task {
                #[safemodel(primary_key)]
                id: i64,
                user_id: i64,
                #[validate(length(max = 3))]
                note: Option<String>,
            }
        };
        let out = flat(&derive_model(&input));
        assert!(out.starts_with("const _ : () = {"), "{out}");
        assert!(out.contains("# [automatically_derived] impl my :: sm :: SafeModel for Task"));
        assert!(out.contains("my :: sm :: __private :: inventory :: submit !"));
        assert!(out.contains("my :: sm :: __private :: assert_tenant_type :: < i64 > ()"));
        assert!(out.contains("fn __safemodel_rules_2 (__safemodel_value : & String"));
        assert!(!out.contains("compile_error"));
        assert!(
            !out.contains(":: safemodel ::"),
            "crate = .. is used everywhere"
        );
    }

    #[test]
    fn a_broken_contract_expands_to_its_errors_and_a_stub() {
        let input: DeriveInput = parse_quote! {
            #[safemodel(table = "tasks")]
            struct Task {
                id: i64,
            }
        };
        let out = flat(&derive_model(&input));
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("impl :: safemodel :: SafeModel for Task"));
        assert!(
            !out.contains("inventory"),
            "a broken contract is not registered"
        );
    }

    #[test]
    fn an_enum_maps_each_variant_to_its_text() {
        let input: DeriveInput = parse_quote! {
            #[safemodel(rename_all = "snake_case")]
            enum Status { Todo, InProgress }
        };
        let out = flat(&derive_enum(&input));
        assert!(
            out.contains(
                "const VARIANTS : & 'static [& 'static str] = & [\"todo\" , \"in_progress\"]"
            ),
            "{out}"
        );
        assert!(out.contains(
            "\"in_progress\" => :: core :: option :: Option :: Some (Status :: InProgress)"
        ));
    }
}
