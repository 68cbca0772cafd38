//! The derive's input as a contract: the struct, its fields and their columns;
//! the enum, its variants and their texts.

use proc_macro2::Span;
use syn::spanned::Spanned as _;
use syn::{Data, DeriveInput, Fields, Ident, Path, Type};

use crate::attr::{self, ContainerAttrs, FieldAttrs, Rule};
use crate::ctxt::Errors;
use crate::sql_type::{self, Class};

/// A struct deriving `SafeModel`.
pub struct Model<'a> {
    pub ident: &'a Ident,
    pub attrs: ContainerAttrs,
    pub fields: Vec<Field<'a>>,
}

/// One field: one column.
pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    /// The SQL column name (`rename` or the field name).
    pub column: String,
    /// Where the column name is written (the `rename` string or the field name).
    pub column_span: Span,
    pub attrs: FieldAttrs,
    pub rules: Vec<Rule>,
    pub class: Class<'a>,
}

impl Field<'_> {
    /// The type the rules see: `T` for `Option<T>` (rules apply to `Some` only).
    pub fn value_type(&self) -> &Type {
        match &self.class {
            Class::Option(inner, _) => inner,
            _ => self.ty,
        }
    }

    pub fn is_option(&self) -> bool {
        matches!(self.class, Class::Option(..))
    }
}

/// The `safemodel` crate path generated code uses.
pub fn crate_path(krate: Option<&Path>) -> Path {
    krate
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(::safemodel))
}

impl<'a> Model<'a> {
    /// Reads the struct; shape errors (enum, tuple struct, generics..) are recorded,
    /// and `None` is returned when there are no named fields to read.
    pub fn from_input(input: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let attrs = attr::container(&input.attrs, errors);
        if let Some(attr) = input.attrs.iter().find(|a| a.path().is_ident("validate")) {
            errors.error(
                attr.span(),
                "#[validate(..)] rules go on fields; a SafeModel has no struct-level rules",
            );
        }
        let ident = &input.ident;
        if !input.generics.params.is_empty() {
            errors.spanned(
                &input.generics,
                format!(
                    "SafeModel cannot be derived on a generic type: `{ident}` is the contract of one table, so its columns have one type each; remove the generic parameters"
                ),
            );
        }
        let named = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(fields) => {
                    errors.spanned(
                        fields,
                        format!(
                            "SafeModel cannot be derived on a tuple struct: each column needs a name; give `{ident}` named fields"
                        ),
                    );
                    return None;
                }
                Fields::Unit => {
                    errors.error(
                        ident.span(),
                        format!(
                            "SafeModel cannot be derived on a unit struct: `{ident}` has no columns; give it named fields"
                        ),
                    );
                    return None;
                }
            },
            Data::Enum(e) => {
                errors.error(
                    e.enum_token.span,
                    format!(
                        "SafeModel is derived on a struct with named fields, and `{ident}` is an enum; for a column whose values are the variants of an enum, derive SafeEnum"
                    ),
                );
                return None;
            }
            Data::Union(u) => {
                errors.error(
                    u.union_token.span,
                    "SafeModel is derived on a struct with named fields, not on a union",
                );
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .filter_map(|f| {
                let ident = f.ident.as_ref()?;
                let attrs = attr::field(&f.attrs, errors);
                let rules = attr::rules(&f.attrs, errors);
                let (column, column_span) = match &attrs.rename {
                    Some(lit) => (lit.value(), lit.span()),
                    None => (unraw(ident), ident.span()),
                };
                Some(Field {
                    ident,
                    ty: &f.ty,
                    column,
                    column_span,
                    attrs,
                    rules,
                    class: sql_type::classify(&f.ty),
                })
            })
            .collect();
        Some(Model {
            ident,
            attrs,
            fields,
        })
    }

    pub fn tenant_field(&self) -> Option<&Field<'a>> {
        let tenant = self.attrs.tenant.as_ref()?.value();
        self.fields.iter().find(|f| f.column == tenant)
    }

    pub fn key_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.attrs.primary_key.is_some())
    }
}

/// The identifier as written, without `r#`.
pub fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#")
        .map_or_else(|| text.clone(), str::to_owned)
}

/// An enum deriving `SafeEnum`.
pub struct Enum<'a> {
    pub ident: &'a Ident,
    pub attrs: attr::EnumAttrs,
    pub variants: Vec<Variant<'a>>,
}

/// One variant and the text that stands for it.
pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub text: String,
    /// The `rename` string, or the variant's name.
    pub text_span: Span,
}

impl<'a> Enum<'a> {
    pub fn from_input(input: &'a DeriveInput, errors: &mut Errors) -> Option<Self> {
        let attrs = attr::enumeration(&input.attrs, errors);
        let ident = &input.ident;
        if !input.generics.params.is_empty() {
            errors.spanned(
                &input.generics,
                "SafeEnum cannot be derived on a generic enum; remove the generic parameters",
            );
        }
        let data = match &input.data {
            Data::Enum(data) => data,
            Data::Struct(s) => {
                errors.error(
                    s.struct_token.span,
                    format!(
                        "SafeEnum is derived on a fieldless enum, and `{ident}` is a struct; for a table's contract, derive SafeModel"
                    ),
                );
                return None;
            }
            Data::Union(u) => {
                errors.error(
                    u.union_token.span,
                    "SafeEnum is derived on a fieldless enum, not on a union",
                );
                return None;
            }
        };
        if data.variants.is_empty() {
            errors.error(
                ident.span(),
                format!("`{ident}` has no variants, so no text could be stored in its column"),
            );
        }
        let variants = data
            .variants
            .iter()
            .map(|v| {
                if !matches!(v.fields, Fields::Unit) {
                    errors.spanned(
                        &v.fields,
                        format!(
                            "variant `{}` has fields, and a SafeEnum column stores only the variant's name; remove the fields (or store the data in its own column)",
                            v.ident
                        ),
                    );
                }
                let vattrs = attr::variant(&v.attrs, errors);
                let (text, text_span) = match (&vattrs.rename, attrs.rename_all) {
                    (Some(lit), _) => (lit.value(), lit.span()),
                    (None, Some(rule)) => (rule.apply(&unraw(&v.ident)), v.ident.span()),
                    (None, None) => (unraw(&v.ident), v.ident.span()),
                };
                Variant {
                    ident: &v.ident,
                    text,
                    text_span,
                }
            })
            .collect();
        Some(Enum {
            ident,
            attrs,
            variants,
        })
    }
}
