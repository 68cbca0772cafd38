//! `#[safemodel(..)]` and `#[validate(..)]`: keys, values, unknown and duplicated keys.

use std::collections::BTreeSet;

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;
use syn::{Attribute, Expr, Lit, LitStr, Path, Token};

use crate::ctxt::Errors;

/// Where a `#[safemodel(..)]` attribute sits; each place has its own keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Struct,
    Field,
    Enum,
    Variant,
}

impl Place {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Place::Struct => &["table", "tenant", "crate"],
            Place::Field => &["primary_key", "rename", "pii"],
            Place::Enum => &["rename_all", "crate"],
            Place::Variant => &["rename"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Place::Struct => "a struct",
            Place::Field => "a field",
            Place::Enum => "an enum",
            Place::Variant => "an enum variant",
        }
    }

    /// Where a key that is unknown here belongs, for the hint.
    fn home_of(key: &str) -> Option<&'static str> {
        match key {
            "table" | "tenant" => Some("on the struct"),
            "primary_key" | "pii" => Some("on a field"),
            "rename_all" => Some("on a `SafeEnum` enum"),
            _ => None,
        }
    }
}

/// `#[safemodel(..)]` on the struct.
#[derive(Default)]
pub struct ContainerAttrs {
    pub table: Option<LitStr>,
    pub tenant: Option<LitStr>,
    pub krate: Option<Path>,
    /// The first `#[safemodel]` attribute, where "missing key" errors point.
    pub first_attr: Option<Attribute>,
}

/// `#[safemodel(..)]` on a field.
#[derive(Default)]
pub struct FieldAttrs {
    pub primary_key: Option<Span>,
    pub rename: Option<LitStr>,
    pub pii: Option<Span>,
}

/// `#[safemodel(..)]` on a `SafeEnum` enum.
#[derive(Default)]
pub struct EnumAttrs {
    pub rename_all: Option<RenameAll>,
    pub krate: Option<Path>,
}

/// `#[safemodel(..)]` on an enum variant.
#[derive(Default)]
pub struct VariantAttrs {
    pub rename: Option<LitStr>,
}

pub fn container(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for_each_key(attrs, Place::Struct, errors, |key, meta| {
        match key {
            "table" => out.table = Some(string(meta)?),
            "tenant" => out.tenant = Some(string(meta)?),
            _ => out.krate = Some(crate_path(meta)?),
        }
        Ok(())
    });
    out.first_attr = attrs
        .iter()
        .find(|a| a.path().is_ident("safemodel"))
        .cloned();
    out
}

pub fn field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for_each_key(attrs, Place::Field, errors, |key, meta| {
        match key {
            "primary_key" => out.primary_key = Some(flag(meta)?),
            "pii" => out.pii = Some(flag(meta)?),
            _ => out.rename = Some(string(meta)?),
        }
        Ok(())
    });
    out
}

pub fn enumeration(attrs: &[Attribute], errors: &mut Errors) -> EnumAttrs {
    let mut out = EnumAttrs::default();
    let mut bad_rule = None;
    for_each_key(attrs, Place::Enum, errors, |key, meta| {
        if key == "crate" {
            out.krate = Some(crate_path(meta)?);
        } else {
            let lit = string(meta)?;
            match RenameAll::from_name(&lit.value()) {
                Some(rule) => out.rename_all = Some(rule),
                None => bad_rule = Some(lit),
            }
        }
        Ok(())
    });
    if let Some(lit) = bad_rule {
        errors.error(
            lit.span(),
            format!(
                "unknown rename_all rule {:?}; expected one of {}",
                lit.value(),
                RenameAll::NAMES.join(", ")
            ),
        );
    }
    out
}

pub fn variant(attrs: &[Attribute], errors: &mut Errors) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    for_each_key(attrs, Place::Variant, errors, |_, meta| {
        out.rename = Some(string(meta)?);
        Ok(())
    });
    out
}

/// Calls `on_key` once for each known, first-seen key of every `#[safemodel(..)]`
/// in `attrs`; unknown and repeated keys become errors (all of them).
fn for_each_key(
    attrs: &[Attribute],
    place: Place,
    errors: &mut Errors,
    mut on_key: impl FnMut(&str, &ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    let allowed = place.keys();
    let mut seen = BTreeSet::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("safemodel")) {
        if !matches!(attr.meta, syn::Meta::List(_)) {
            errors.spanned(
                attr,
                format!(
                    "expected #[safemodel(key, ..)]; keys on {}: {}",
                    place.name(),
                    quoted_list(allowed)
                ),
            );
            continue;
        }
        let mut local = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map_or_else(|| path_text(&meta.path), ToString::to_string);
            let Some(key) = allowed.iter().copied().find(|k| *k == key) else {
                let hint = Place::home_of(&key)
                    .map(|home| format!(" (`{key}` goes {home})"))
                    .unwrap_or_default();
                local.error(
                    meta.path.span(),
                    format!(
                        "unknown key `{key}` in #[safemodel(..)] on {}; expected {}{hint}",
                        place.name(),
                        quoted_list(allowed),
                    ),
                );
                return skip_value(&meta);
            };
            if !seen.insert(key) {
                local.error(
                    meta.path.span(),
                    format!("duplicate key `{key}` in #[safemodel(..)]; set it once"),
                );
                return skip_value(&meta);
            }
            on_key(key, &meta)
        });
        if let Err(e) = parsed {
            local.push(e);
        }
        if let Err(e) = local.finish() {
            errors.push(e);
        }
    }
}

/// `key = "text"`.
fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let key = path_text(&meta.path);
    let value = meta.value().map_err(|_| {
        syn::Error::new(
            meta.path.span(),
            format!("`{key}` takes a string: {key} = \"...\""),
        )
    })?;
    let mut expr: Expr = value.parse()?;
    // A string passed through a `macro_rules!` fragment arrives in an invisible group.
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a string: {key} = \"...\""),
        )),
    }
}

/// `crate = "path::to::safemodel"`.
fn crate_path(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    let lit = string(meta)?;
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "`crate` takes the path of the safemodel crate, e.g. crate = \"my_app::safemodel\"",
        )
    })
}

/// A key without value: `primary_key`.
fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<Span> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(meta.path.span())
    } else {
        let key = path_text(&meta.path);
        Err(meta.error(format_args!(
            "`{key}` takes no value: write #[safemodel({key})]"
        )))
    }
}

/// Consumes what follows an unknown key, so parsing goes on after it.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _: proc_macro2::Group = meta.input.parse()?;
    }
    Ok(())
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// `#[safemodel(rename_all = "..")]`: how variant names become column texts
/// (the same rules as serde's `rename_all` on enum variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameAll {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameAll {
    const NAMES: &'static [&'static str] = &[
        "lowercase",
        "UPPERCASE",
        "PascalCase",
        "camelCase",
        "snake_case",
        "SCREAMING_SNAKE_CASE",
        "kebab-case",
        "SCREAMING-KEBAB-CASE",
    ];

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameAll::Lower,
            "UPPERCASE" => RenameAll::Upper,
            "PascalCase" => RenameAll::Pascal,
            "camelCase" => RenameAll::Camel,
            "snake_case" => RenameAll::Snake,
            "SCREAMING_SNAKE_CASE" => RenameAll::ScreamingSnake,
            "kebab-case" => RenameAll::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameAll::ScreamingKebab,
            _ => return None,
        })
    }

    /// The text of a variant named `variant` (a PascalCase identifier).
    pub fn apply(self, variant: &str) -> String {
        match self {
            RenameAll::Pascal => variant.to_owned(),
            RenameAll::Lower => variant.to_ascii_lowercase(),
            RenameAll::Upper => variant.to_ascii_uppercase(),
            RenameAll::Camel => {
                let mut chars = variant.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_lowercase().to_string() + chars.as_str()
                })
            }
            RenameAll::Snake => {
                let mut out = String::with_capacity(variant.len() + 4);
                for (i, ch) in variant.char_indices() {
                    if i > 0 && ch.is_uppercase() {
                        out.push('_');
                    }
                    out.push(ch.to_ascii_lowercase());
                }
                out
            }
            RenameAll::ScreamingSnake => RenameAll::Snake.apply(variant).to_ascii_uppercase(),
            RenameAll::Kebab => RenameAll::Snake.apply(variant).replace('_', "-"),
            RenameAll::ScreamingKebab => RenameAll::ScreamingSnake.apply(variant).replace('_', "-"),
        }
    }
}

/// One `#[validate(..)]` rule of a field.
pub struct Rule {
    pub kind: RuleKind,
    /// The rule's name in the attribute: errors about its type point here.
    pub span: Span,
    /// `message = ".."`: replaces the default message.
    pub message: Option<LitStr>,
}

pub enum RuleKind {
    Length {
        min: Option<Expr>,
        max: Option<Expr>,
        equal: Option<Expr>,
    },
    Range {
        min: Option<Expr>,
        max: Option<Expr>,
        exclusive_min: Option<Expr>,
        exclusive_max: Option<Expr>,
    },
    Email,
    Url,
    /// The regex static, without a leading `*`.
    Regex(Expr),
    Custom(Path),
}

const RULES: &[&str] = &["length", "range", "email", "url", "regex", "custom"];

/// Every `#[validate(..)]` rule in `attrs`, in the order written.
pub fn rules(attrs: &[Attribute], errors: &mut Errors) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("validate")) {
        if !matches!(attr.meta, syn::Meta::List(_)) {
            errors.spanned(
                attr,
                format!(
                    "expected #[validate(rule, ..)] with rules {}",
                    quoted_list(RULES)
                ),
            );
            continue;
        }
        let mut local = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| {
            let name = path_text(&meta.path);
            let span = meta.path.span();
            let Some(name) = RULES.iter().copied().find(|r| *r == name) else {
                local.error(
                    span,
                    format!(
                        "unknown validate rule `{name}`; SafeModel supports {}",
                        quoted_list(RULES)
                    ),
                );
                return skip_value(&meta);
            };
            if !seen.insert(name) {
                local.error(
                    span,
                    format!("duplicate validate rule `{name}`; write it once"),
                );
                return skip_value(&meta);
            }
            if let Some(rule) = rule(name, &meta, &mut local)? {
                out.push(rule);
            }
            Ok(())
        });
        if let Err(e) = parsed {
            local.push(e);
        }
        if let Err(e) = local.finish() {
            errors.push(e);
        }
    }
    out
}

/// The arguments of one rule; `None` when they were wrong (errors recorded).
fn rule(name: &str, meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Option<Rule>> {
    let span = meta.path.span();
    let allowed: &[&str] = match name {
        "length" => &["min", "max", "equal", "message"],
        "range" => &["min", "max", "exclusive_min", "exclusive_max", "message"],
        "regex" => &["path", "message"],
        "custom" => &["function", "message"],
        _ => &["message"],
    };
    let mut args: Vec<(&'static str, Expr, Span)> = Vec::new();
    let mut bad_args = false;
    let empty_parens = meta.input.peek(syn::token::Paren)
        && meta
            .input
            .fork()
            .parse::<proc_macro2::Group>()
            .is_ok_and(|g| g.stream().is_empty());
    if empty_parens {
        let _: proc_macro2::Group = meta.input.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|arg| {
            let key = path_text(&arg.path);
            let arg_span = arg.path.span();
            let Some(key) = allowed.iter().copied().find(|k| *k == key) else {
                errors.error(
                    arg_span,
                    format!(
                        "unknown argument `{key}` of validate rule `{name}`; expected {}",
                        quoted_list(allowed)
                    ),
                );
                bad_args = true;
                return skip_value(&arg);
            };
            if args.iter().any(|(k, ..)| *k == key) {
                errors.error(arg_span, format!("duplicate argument `{key}` of `{name}`"));
                bad_args = true;
                return skip_value(&arg);
            }
            let value: Expr = arg.value()?.parse()?;
            args.push((key, value, arg_span));
            Ok(())
        })?;
    } else if meta.input.peek(Token![=]) {
        return Err(meta.error(format_args!(
            "write #[validate({name}(..))], not {name} = ..",
        )));
    }
    if bad_args {
        // Reported already; "needs `min`.." would only repeat it.
        return Ok(None);
    }
    let mut take = |key: &str| {
        args.iter()
            .position(|(k, ..)| *k == key)
            .map(|i| args.remove(i))
    };
    let message = match take("message") {
        Some((
            _,
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }),
            _,
        )) => Some(s),
        Some((_, other, _)) => {
            errors.error(other.span(), "`message` takes a string: message = \"...\"");
            None
        }
        None => None,
    };
    let kind = match name {
        "length" => {
            let (min, max, equal) = (take("min"), take("max"), take("equal"));
            if let Some((_, _, at)) = &equal
                && (min.is_some() || max.is_some())
            {
                errors.error(*at, "`equal` cannot be combined with `min` or `max`");
                return Ok(None);
            }
            if min.is_none() && max.is_none() && equal.is_none() {
                errors.error(span, "`length` needs `min`, `max` or `equal`");
                return Ok(None);
            }
            RuleKind::Length {
                min: min.map(|a| a.1),
                max: max.map(|a| a.1),
                equal: equal.map(|a| a.1),
            }
        }
        "range" => {
            let kind = RuleKind::Range {
                min: take("min").map(|a| a.1),
                max: take("max").map(|a| a.1),
                exclusive_min: take("exclusive_min").map(|a| a.1),
                exclusive_max: take("exclusive_max").map(|a| a.1),
            };
            if let RuleKind::Range {
                min: None,
                max: None,
                exclusive_min: None,
                exclusive_max: None,
            } = kind
            {
                errors.error(
                    span,
                    "`range` needs `min`, `max`, `exclusive_min` or `exclusive_max`",
                );
                return Ok(None);
            }
            kind
        }
        "email" => RuleKind::Email,
        "url" => RuleKind::Url,
        "regex" => match take("path") {
            Some((_, expr, _)) => RuleKind::Regex(regex_path(expr)?),
            None => {
                errors.error(
                    span,
                    "`regex` needs the regex static: regex(path = *MY_REGEX)",
                );
                return Ok(None);
            }
        },
        _ => match take("function") {
            Some((_, expr, _)) => RuleKind::Custom(function_path(expr)?),
            None => {
                errors.error(
                    span,
                    "`custom` needs a function: custom(function = my_check)",
                );
                return Ok(None);
            }
        },
    };
    Ok(Some(Rule {
        kind,
        span,
        message,
    }))
}

/// `path = *RE`, `path = RE` or `path = "RE"`: the static, dereferenced by the caller.
fn regex_path(expr: Expr) -> syn::Result<Expr> {
    match expr {
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Deref(_),
            expr,
            ..
        }) => Ok(*expr),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => regex_path(s.parse()?),
        other => Ok(other),
    }
}

/// `function = check` or `function = "check"`.
fn function_path(expr: Expr) -> syn::Result<Path> {
    match expr {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse(),
        other => Err(syn::Error::new(
            other.span(),
            "`function` takes the path of a function: custom(function = my_check)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn rename_all_follows_serde() {
        let cases = [
            (RenameAll::Snake, "in_progress"),
            (RenameAll::ScreamingSnake, "IN_PROGRESS"),
            (RenameAll::Kebab, "in-progress"),
            (RenameAll::ScreamingKebab, "IN-PROGRESS"),
            (RenameAll::Camel, "inProgress"),
            (RenameAll::Pascal, "InProgress"),
            (RenameAll::Lower, "inprogress"),
            (RenameAll::Upper, "INPROGRESS"),
        ];
        for (rule, expected) in cases {
            assert_eq!(rule.apply("InProgress"), expected, "{rule:?}");
        }
    }

    #[test]
    fn every_unknown_and_repeated_key_is_reported() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[safemodel(table = "a", colour = "red", table = "b")]),
            parse_quote!(#[safemodel(primary_key, tenant = "t")]),
        ];
        let mut errors = Errors::default();
        let parsed = container(&attrs, &mut errors);
        assert_eq!(parsed.table.map(|t| t.value()).as_deref(), Some("a"));
        assert_eq!(parsed.tenant.map(|t| t.value()).as_deref(), Some("t"));
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            messages,
            [
                "unknown key `colour` in #[safemodel(..)] on a struct; expected `table`, `tenant` or `crate`",
                "duplicate key `table` in #[safemodel(..)]; set it once",
                "unknown key `primary_key` in #[safemodel(..)] on a struct; expected `table`, `tenant` or `crate` (`primary_key` goes on a field)",
            ]
        );
    }

    #[test]
    fn rules_parse_with_their_arguments() {
        let attrs: Vec<Attribute> = vec![parse_quote!(
            #[validate(length(min = 1, max = 200), email, regex(path = *RE, message = "m"), custom(function = "a::b"))]
        )];
        let mut errors = Errors::default();
        let rules = rules(&attrs, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(rules.len(), 4);
        assert!(matches!(
            rules.first().map(|r| &r.kind),
            Some(RuleKind::Length {
                min: Some(_),
                max: Some(_),
                equal: None
            })
        ));
        let regex = rules.get(2).unwrap();
        assert!(matches!(&regex.kind, RuleKind::Regex(Expr::Path(p)) if p.path.is_ident("RE")));
        assert_eq!(regex.message.as_ref().unwrap().value(), "m");
        assert!(
            matches!(&rules.get(3).unwrap().kind, RuleKind::Custom(p) if p.segments.len() == 2)
        );
    }

    #[test]
    fn bad_rules_are_errors() {
        let attrs: Vec<Attribute> = vec![parse_quote!(
            #[validate(contains(pattern = "x"), length(), length(min = 1), range(minimum = 1))]
        )];
        let mut errors = Errors::default();
        let _ = rules(&attrs, &mut errors);
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            messages,
            [
                "unknown validate rule `contains`; SafeModel supports `length`, `range`, `email`, `url`, `regex` or `custom`",
                "`length` needs `min`, `max` or `equal`",
                "duplicate validate rule `length`; write it once",
                "unknown argument `minimum` of validate rule `range`; expected `min`, `max`, `exclusive_min`, `exclusive_max` or `message`",
            ]
        );
    }
}
