//! `#[derive(SafeModel)]` and `#[derive(SafeEnum)]`. See the `safemodel` crate.

use proc_macro::TokenStream;

/// Derives `safemodel::SafeModel`.
#[proc_macro_derive(SafeModel, attributes(safemodel, validate))]
pub fn derive_safe_model(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

/// Derives `safemodel::SafeEnum`.
#[proc_macro_derive(SafeEnum, attributes(safemodel))]
pub fn derive_safe_enum(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
