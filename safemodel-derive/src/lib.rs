//! `#[derive(SafeModel)]` and `#[derive(SafeEnum)]`. See the `safemodel` crate,
//! which re-exports both and documents them.
//!
//! The pipeline is parse (`attr`, `ast`) -> check -> expand; every error is
//! collected and spanned at what the user must edit. The logic works on
//! `proc_macro2`, so it is unit-tested without a compiler in the loop.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod sql_type;

use proc_macro::TokenStream;

/// Derives `safemodel::SafeModel`: the contract of one table, checked at compile time.
///
/// On the struct (named fields, no generics):
/// - `#[safemodel(table = "tasks")]`: the table, as written (`schema.table` allowed).
/// - `#[safemodel(tenant = "user_id")]`: the column (after `rename`) that scopes rows
///   to a tenant. Its type is an integer, `String`, `uuid::Uuid` or
///   `safemodel::Decimal`, never an `Option`; it may be the primary key.
/// - `#[safemodel(crate = "path::to::safemodel")]`: where generated code finds
///   safemodel when it is reached through a re-export.
///
/// On fields:
/// - `#[safemodel(primary_key)]`: part of the key (several fields: a composite key,
///   in field order); not an `Option`.
/// - `#[safemodel(rename = "col")]`: the column name, when it is not the field's.
/// - `#[safemodel(pii)]`: never cloned into a sandbox nor shown; not on the key or tenant.
/// - `#[validate(..)]`: field rules, checked on every decoded row and by `validate`:
///   `length(min = .., max = .., equal = ..)`, `range(min = .., max = ..,
///   exclusive_min = .., exclusive_max = ..)`, `email`, `url`,
///   `regex(path = *STATIC_REGEX)`, `custom(function = path)` (a
///   `fn(&T) -> Result<(), safemodel::ValidationError>`); each takes an optional
///   `message = ".."`. On an `Option<T>` field they apply to `Some` values only.
///
/// A field's type is one of `FieldType`'s implementors; an `Option<T>` field (spelled
/// `Option`) is nullable and may be absent from a row. Any rule broken is a compile
/// error pointing at what to edit.
#[proc_macro_derive(SafeModel, attributes(safemodel, validate))]
pub fn derive_safe_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive_model(&input).into()
}

/// Derives `safemodel::SafeEnum` and `safemodel::FieldType` on a fieldless enum, so
/// that it can be a column stored as text: only its variants' texts decode, exactly
/// (no trimming, no case folding).
///
/// The enum must also derive `Clone` and `Copy` (`SafeEnum: Copy`).
///
/// - `#[safemodel(rename_all = "..")]` on the enum: `snake_case`, `lowercase`,
///   `UPPERCASE`, `PascalCase`, `camelCase`, `SCREAMING_SNAKE_CASE`, `kebab-case`,
///   `SCREAMING-KEBAB-CASE` (serde's rules for variants).
/// - `#[safemodel(rename = "..")]` on a variant: its text.
/// - `#[safemodel(crate = "..")]`: as for `SafeModel`.
#[proc_macro_derive(SafeEnum, attributes(safemodel))]
pub fn derive_safe_enum(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive_enum(&input).into()
}
