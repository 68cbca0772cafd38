//! Rust type -> SQL family, syntactically.
//!
//! A derive sees tokens, not types: `Option<T>` is recognised by its spelling
//! (so a type alias of `Option` is just another type), and the final word on
//! any type is the `FieldType` bound in the generated code, whose
//! `on_unimplemented` message names the type. This module adds what the trait
//! alone cannot say well: shapes that can never be a column (references,
//! tuples, maps, `Vec<String>`..) get a message that says what to use instead,
//! and tenant columns of the wrong family get a message naming the rule.

use quote::ToTokens as _;
use syn::{GenericArgument, PathArguments, Type};

/// A field type's SQL family, as far as its spelling tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Int,
    Float,
    Bool,
    Text,
    Bytes,
    Decimal,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
}

/// What the spelling of a field type says.
#[derive(Debug)]
pub enum Class<'a> {
    /// A type of the supported list.
    Known(Family),
    /// `Option<T>`: the column is nullable, and may be absent from a row.
    Option(&'a Type, Box<Class<'a>>),
    /// A path we do not know (a `SafeEnum`, a user `FieldType`): the trait decides.
    Other,
    /// Never a column; the message says why and what to use.
    Unsupported(String),
}

impl Class<'_> {
    /// The family of the column (an `Option`'s inner family).
    #[cfg(test)]
    pub fn family(&self) -> Option<Family> {
        match self {
            Class::Known(f) => Some(*f),
            Class::Option(_, inner) => inner.family(),
            Class::Other | Class::Unsupported(_) => None,
        }
    }
}

/// Classifies `ty` by its spelling.
pub fn classify(ty: &Type) -> Class<'_> {
    match ty {
        Type::Group(g) => classify(&g.elem),
        Type::Paren(p) => classify(&p.elem),
        Type::Path(p) if p.qself.is_none() => classify_path(ty, &p.path),
        Type::Path(_) | Type::Macro(_) => Class::Other,
        Type::Reference(_) => Class::Unsupported(format!(
            "`{}` is a reference; a row contract owns its values: use `String` for text, `Vec<u8>` for bytes",
            type_text(ty)
        )),
        Type::Tuple(t) if t.elems.is_empty() => {
            Class::Unsupported("`()` has no SQL mapping; one field is one column".to_owned())
        }
        Type::Tuple(_) => Class::Unsupported(format!(
            "`{}` is a tuple; one field is one column: give each value its own field",
            type_text(ty)
        )),
        Type::Array(_) | Type::Slice(_) => Class::Unsupported(format!(
            "`{}` has no SQL mapping: use `Vec<u8>` for bytes, or JSON (`serde_json::Value`) for lists",
            type_text(ty)
        )),
        _ => Class::Unsupported(format!(
            "`{}` has no SQL mapping, so it cannot be a SafeModel field",
            type_text(ty)
        )),
    }
}

fn classify_path<'a>(ty: &'a Type, path: &'a syn::Path) -> Class<'a> {
    let Some(last) = path.segments.last() else {
        return Class::Other;
    };
    let name = last.ident.to_string();
    let args = generic_types(&last.arguments);
    let qualifier = path
        .segments
        .iter()
        .rev()
        .nth(1)
        .map(|s| s.ident.to_string());
    let plain = args.is_empty();
    let family = match name.as_str() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" if plain => Family::Int,
        "f32" | "f64" if plain => Family::Float,
        "bool" if plain => Family::Bool,
        "String" if plain => Family::Text,
        "Decimal" if plain => Family::Decimal,
        "Uuid" if plain => Family::Uuid,
        "NaiveDate" if plain => Family::Date,
        "NaiveTime" if plain => Family::Time,
        "NaiveDateTime" if plain => Family::Timestamp,
        "DateTime" => Family::TimestampTz,
        "Json" if plain => Family::Json,
        "Value" if plain && qualifier.as_deref() == Some("serde_json") => Family::Json,
        "Option" => {
            return match args.as_slice() {
                [inner] => match classify(inner) {
                    Class::Option(..) => Class::Unsupported(format!(
                        "`{}` nests `Option`: a column has one NULL; use a single `Option`",
                        type_text(ty)
                    )),
                    class => Class::Option(inner, Box::new(class)),
                },
                _ => Class::Other,
            };
        }
        "Vec" => {
            return match args.as_slice() {
                [inner] if is_ident(inner, "u8") => Class::Known(Family::Bytes),
                _ => Class::Unsupported(format!(
                    "`{}` has no SQL mapping: only `Vec<u8>` (bytes) is a column; store a list as JSON (`serde_json::Value` or `safemodel::Json`)",
                    type_text(ty)
                )),
            };
        }
        "i128" | "u128" if plain => {
            return Class::Unsupported(format!(
                "`{name}` has no SQL mapping: SQL integers have at most 64 bits; use `i64`, or `safemodel::Decimal` for wider numbers"
            ));
        }
        "isize" | "usize" if plain => {
            return Class::Unsupported(format!(
                "`{name}` has no SQL mapping: its width depends on the platform; use `i64`, `u32` or another sized integer"
            ));
        }
        "char" if plain => {
            return Class::Unsupported("`char` has no SQL mapping; use `String`".to_owned());
        }
        "str" if plain => {
            return Class::Unsupported("`str` has no SQL mapping; use `String`".to_owned());
        }
        "HashMap" | "BTreeMap" | "HashSet" | "BTreeSet" | "VecDeque" | "LinkedList"
        | "BinaryHeap" | "IndexMap" | "IndexSet" => {
            return Class::Unsupported(format!(
                "`{}` has no SQL mapping; store a collection as JSON (`serde_json::Value` or `safemodel::Json`)",
                type_text(ty)
            ));
        }
        "Box" | "Rc" | "Arc" | "Cow" | "Cell" | "RefCell" | "Mutex" | "RwLock" => {
            return Class::Unsupported(format!(
                "`{}` has no SQL mapping; use the value type itself",
                type_text(ty)
            ));
        }
        _ => return Class::Other,
    };
    Class::Known(family)
}

/// The type arguments of a path segment (`Option<T>` -> `[T]`).
fn generic_types(args: &PathArguments) -> Vec<&Type> {
    match args {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_ident(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}

/// A type as a user writes it: `HashMap<String, String>`, not `HashMap < String , String >`.
pub fn type_text(ty: &Type) -> String {
    let raw = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let glue_prev = matches!(prev, Some('<' | '&' | ':' | '(' | '['));
            let glue_next = matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']' | ';'));
            if glue_prev || glue_next {
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// Why a column of `class` cannot hold a tenant, when the spelling says so.
/// Other types are left to the `TenantType` bound.
pub fn tenant_problem(class: &Class<'_>) -> Option<&'static str> {
    match class {
        Class::Option(..) => {
            Some("cannot be an `Option`: rows are scoped by `tenant = ?`, and NULL equals nothing")
        }
        Class::Known(Family::Float) => Some(
            "cannot be a float: rows are scoped by equality, and floats do not compare exactly",
        ),
        Class::Known(Family::Bool) => {
            Some("cannot be a bool: two values cannot tell tenants apart")
        }
        Class::Known(Family::Bytes) => {
            Some("cannot be bytes: rows are scoped by equality on a key, not on binary data")
        }
        Class::Known(Family::Json) => Some(
            "cannot be JSON: rows are scoped by equality, and a document has no single equality",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn class(ty: &Type) -> String {
        format!("{:?}", classify(ty).family())
    }

    #[test]
    fn known_types_have_their_family() {
        let cases: [(Type, &str); 8] = [
            (parse_quote!(i64), "Some(Int)"),
            (parse_quote!(Option<u8>), "Some(Int)"),
            (parse_quote!(Vec<u8>), "Some(Bytes)"),
            (
                parse_quote!(::chrono::DateTime<::chrono::Utc>),
                "Some(TimestampTz)",
            ),
            (parse_quote!(serde_json::Value), "Some(Json)"),
            (parse_quote!(Value), "None"),
            (parse_quote!(TaskStatus), "None"),
            (
                parse_quote!(std::option::Option<safemodel::Decimal>),
                "Some(Decimal)",
            ),
        ];
        for (ty, expected) in cases {
            assert_eq!(class(&ty), expected, "{}", type_text(&ty));
        }
    }

    #[test]
    fn impossible_shapes_are_refused_with_a_reason() {
        let cases: [(Type, &str); 6] = [
            (parse_quote!(&'static str), "`&'static str` is a reference"),
            (
                parse_quote!(HashMap<String, String>),
                "`HashMap<String, String>` has no SQL mapping; store a collection as JSON",
            ),
            (
                parse_quote!(Vec<String>),
                "`Vec<String>` has no SQL mapping: only `Vec<u8>`",
            ),
            (parse_quote!((i64, i64)), "`(i64, i64)` is a tuple"),
            (
                parse_quote!(Option<Option<i64>>),
                "`Option<Option<i64>>` nests `Option`",
            ),
            (parse_quote!([u8; 16]), "`[u8; 16]` has no SQL mapping"),
        ];
        for (ty, expected) in cases {
            match classify(&ty) {
                Class::Unsupported(message) => {
                    assert!(message.starts_with(expected), "{message}");
                }
                other => panic!("{} classified as {other:?}", type_text(&ty)),
            }
        }
    }

    #[test]
    fn tenant_families() {
        let option: Type = parse_quote!(Option<i64>);
        assert!(tenant_problem(&classify(&option)).is_some());
        let float: Type = parse_quote!(f64);
        assert!(tenant_problem(&classify(&float)).is_some());
        let uuid: Type = parse_quote!(uuid::Uuid);
        assert!(tenant_problem(&classify(&uuid)).is_none());
    }
}
