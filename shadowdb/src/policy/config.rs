//! Policy profiles: the built-in ones, and `shadowdb.toml`.
//!
//! # The file
//!
//! ```toml
//! # The profile used when neither the API nor SHADOWDB_PROFILE names one
//! # (default: "dev").
//! default_profile = "staging"
//!
//! [profiles.staging]
//! # The profile this one starts from: a built-in one (dev, staging, prod) or
//! # one of this file. Default: the built-in profile of the same name, or `dev`
//! # for a new name. `extends` naming the profile itself means the built-in one.
//! extends = "staging"
//! # Only reads are allowed; every write is blocked (rule `read_only`).
//! read_only = false
//! # Operations whose statements and changesets need approval:
//! # "insert", "update", "delete".
//! require_approval_for = ["delete"]
//!
//! # What a built-in rule decides: "allow" | "audit" | "warn" |
//! # "require_approval" | "block". Keys are rule ids (see BUILTIN_RULES);
//! # `parse_error` and `too_complex` are always "block".
//! [profiles.staging.rules]
//! select_star = "block"
//! delete_without_where = "require_approval"
//!
//! # The effect rule: an UPDATE or DELETE that changed every row of a
//! # sandbox table of more than one row is judged a write without a real
//! # WHERE (rules delete_without_where / update_without_where, with their
//! # decisions), whatever its WHERE says. These also catch one statement
//! # that changed more than `above_rows` rows, or more than `above_percent`
//! # percent of a table's rows. Both optional; default none.
//! [profiles.staging.whole_table_writes]
//! above_rows = 5000
//! above_percent = 50
//!
//! # Row-count thresholds on the changeset, per table: more than `above`
//! # rows of `op` in one table give `decision`. table = "*" means each table.
//! [[profiles.staging.thresholds]]
//! table = "*"
//! op = "delete"
//! above = 10
//! decision = "require_approval"
//!
//! # Column rules across tables, by column-name pattern (`*`, `?`; case-insensitive).
//! # check = "non_negative" | "immutable" | "not_null".
//! [[profiles.staging.column_rules]]
//! name = "non_negative_amounts"
//! columns = ["amount", "*_cents", "revenue"]
//! tables = ["*"]                  # optional, default every table
//! check = "non_negative"
//! decision = "block"
//! ```
//!
//! A profile of the file is applied on top of the profile it starts from:
//! `read_only` and `require_approval_for` replace, `rules` and
//! `whole_table_writes` are merged key by key, `thresholds` are added, `column_rules` are added (one of the same
//! name is replaced). To drop the thresholds of the built-in `staging`, start
//! from `dev` (`extends = "dev"`).
//!
//! Every key is checked: an unknown key, a wrong type or an unknown value is
//! an error naming the key, its table and its line
//! (`shadowdb.toml:12: unknown key `treshold` in [profiles.prod.rules]`).
//!
//! The tables `[audit]`, `[limits]` and `[approval]` hold settings of the
//! `shadowdb` command line (see [`crate::cli`]): the policy passes over them,
//! and the command line checks them as strictly.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::changeset::{ColumnCheck, ColumnRule, Threshold};
use super::{BUILTIN_PROFILES, DEFAULT_PROFILE, Decision, Policy, PolicyError, Rule};
use crate::diff::Op;

const BUILTIN_ORIGIN: &str = "built-in";

/// A built-in profile.
pub(crate) fn builtin(profile: &str) -> Option<Policy> {
    let mut policy = Policy::defaults(profile, BUILTIN_ORIGIN);
    match profile {
        "dev" => {}
        "staging" => {
            policy.set_require_approval_for([Op::Delete]);
            staging_thresholds(&mut policy);
        }
        "prod" => {
            policy.set_read_only(true);
            policy.set_require_approval_for([Op::Delete, Op::Update]);
            staging_thresholds(&mut policy);
        }
        _ => return None,
    }
    Some(policy)
}

fn staging_thresholds(policy: &mut Policy) {
    policy.add_threshold(Threshold::new(
        "*",
        Op::Delete,
        10,
        Decision::RequireApproval,
    ));
    policy.add_threshold(Threshold::new("*", Op::Delete, 1000, Decision::Block));
}

/// A profile as written in the file.
struct ProfileSpec {
    name: String,
    extends: Option<(String, usize)>,
    read_only: Option<bool>,
    require_approval_for: Option<Vec<Op>>,
    rules: Vec<(Rule, Decision)>,
    thresholds: Vec<Threshold>,
    above_rows: Option<u64>,
    above_percent: Option<u8>,
    column_rules: Vec<ColumnRule>,
}

struct FileSpec {
    default_profile: Option<String>,
    profiles: Vec<ProfileSpec>,
}

/// Reads a file and resolves one profile: `profile`, else the file's
/// `default_profile`, else `dev`.
pub(crate) fn from_toml(
    text: &str,
    origin: &str,
    profile: Option<&str>,
) -> Result<Policy, PolicyError> {
    let cx = Cx { text, origin };
    let file = cx.parse_file()?;
    let name = profile
        .map(str::to_owned)
        .or_else(|| file.default_profile.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let mut visiting = Vec::new();
    cx.resolve(&file, &name, &mut visiting)
}

struct Cx<'a> {
    text: &'a str,
    origin: &'a str,
}

type Table<'i> = DeTable<'i>;

impl Cx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        self.text
            .get(..span.start)
            .map_or(1, |before| before.matches('\n').count() + 1)
    }

    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> PolicyError {
        PolicyError::Config {
            origin: self.origin.to_owned(),
            line: self.line(span),
            message: super::one_line(&message.into()),
        }
    }

    fn parse_file(&self) -> Result<FileSpec, PolicyError> {
        let doc = DeTable::parse(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.err(&span, e.message().trim().to_owned())
        })?;
        let mut file = FileSpec {
            default_profile: None,
            profiles: Vec::new(),
        };
        for (key, value) in doc.get_ref() {
            match key.get_ref().as_ref() {
                "default_profile" => {
                    file.default_profile =
                        Some(self.string(value, "`default_profile` at the top level")?);
                }
                // The command line's settings, checked where it reads them
                // (`shadowdb::cli`).
                "audit" | "limits" | "approval" => {}
                "profiles" => {
                    let profiles = self.table(value, "`profiles`")?;
                    for (name, body) in profiles {
                        let name = name.get_ref().as_ref().to_owned();
                        let header = format!("profiles.{}", key_text(&name));
                        let body = self.table(body, &format!("`{header}`"))?;
                        file.profiles.push(self.profile(name, &header, body)?);
                    }
                }
                other => {
                    return Err(self.err(
                        &key.span(),
                        format!(
                            "unknown key `{other}` at the top level (expected `default_profile` or `profiles`)"
                        ),
                    ));
                }
            }
        }
        Ok(file)
    }

    fn profile(
        &self,
        name: String,
        header: &str,
        body: &Table<'_>,
    ) -> Result<ProfileSpec, PolicyError> {
        let mut spec = ProfileSpec {
            name,
            extends: None,
            read_only: None,
            require_approval_for: None,
            rules: Vec::new(),
            thresholds: Vec::new(),
            above_rows: None,
            above_percent: None,
            column_rules: Vec::new(),
        };
        for (key, value) in body {
            let k = key.get_ref().as_ref();
            let what = format!("`{k}` in [{header}]");
            match k {
                "extends" => {
                    spec.extends = Some((self.string(value, &what)?, self.line(&value.span())));
                }
                "read_only" => spec.read_only = Some(self.boolean(value, &what)?),
                "require_approval_for" => {
                    let mut ops = Vec::new();
                    for item in self.array(value, &what)? {
                        let s = self.string(item, &what)?;
                        ops.push(parse_op(&s).ok_or_else(|| {
                            self.err(
                                &item.span(),
                                format!("unknown operation `{s}` in {what} (expected insert, update or delete)"),
                            )
                        })?);
                    }
                    spec.require_approval_for = Some(ops);
                }
                "rules" => {
                    let header = format!("{header}.rules");
                    for (rule, decision) in self.table(value, &format!("`{header}`"))? {
                        let id = rule.get_ref().as_ref();
                        let Some(r) = Rule::from_id(id) else {
                            return Err(
                                self.err(&rule.span(), format!("unknown key `{id}` in [{header}]"))
                            );
                        };
                        let what = format!("`{id}` in [{header}]");
                        let d = self.decision(decision, &what)?;
                        if r.info().fixed && d != Decision::Block {
                            return Err(self.err(
                                &decision.span(),
                                format!("{what}: rule `{id}` is always `block` (fail closed) and cannot be changed"),
                            ));
                        }
                        spec.rules.push((r, d));
                    }
                }
                "thresholds" => {
                    let header = format!("[{header}.thresholds]");
                    for item in self.array(value, &what)? {
                        spec.thresholds.push(self.threshold(item, &header)?);
                    }
                }
                "whole_table_writes" => {
                    let header = format!("{header}.whole_table_writes");
                    for (key, value) in self.table(value, &format!("`{header}`"))? {
                        let k = key.get_ref().as_ref();
                        let what = format!("`{k}` in [{header}]");
                        match k {
                            "above_rows" => {
                                spec.above_rows = Some(
                                    u64::try_from(self.count(value, &what)?).unwrap_or(u64::MAX),
                                );
                            }
                            "above_percent" => {
                                let p = self.count(value, &what)?;
                                spec.above_percent =
                                    Some(u8::try_from(p).ok().filter(|p| *p <= 100).ok_or_else(
                                        || {
                                            self.err(
                                                &value.span(),
                                                format!("{what} must be between 0 and 100"),
                                            )
                                        },
                                    )?);
                            }
                            other => {
                                return Err(self.err(
                                    &key.span(),
                                    format!("unknown key `{other}` in [{header}]"),
                                ));
                            }
                        }
                    }
                }
                "column_rules" => {
                    let header = format!("[{header}.column_rules]");
                    for item in self.array(value, &what)? {
                        spec.column_rules.push(self.column_rule(item, &header)?);
                    }
                }
                other => {
                    return Err(
                        self.err(&key.span(), format!("unknown key `{other}` in [{header}]"))
                    );
                }
            }
        }
        Ok(spec)
    }

    fn threshold(
        &self,
        item: &Spanned<DeValue<'_>>,
        header: &str,
    ) -> Result<Threshold, PolicyError> {
        let body = self.table(item, &format!("each entry of {header}"))?;
        let (mut table, mut op, mut above, mut decision) = (None, None, None, None);
        for (key, value) in body {
            let k = key.get_ref().as_ref();
            let what = format!("`{k}` in [{header}]");
            match k {
                "table" => table = Some(self.string(value, &what)?),
                "op" => {
                    let s = self.string(value, &what)?;
                    op = Some(parse_op(&s).ok_or_else(|| {
                        self.err(
                            &value.span(),
                            format!("unknown operation `{s}` for {what} (expected insert, update or delete)"),
                        )
                    })?);
                }
                "above" => above = Some(self.count(value, &what)?),
                "decision" => decision = Some(self.decision(value, &what)?),
                other => {
                    return Err(
                        self.err(&key.span(), format!("unknown key `{other}` in [{header}]"))
                    );
                }
            }
        }
        let missing = |k: &str| self.err(&item.span(), format!("missing key `{k}` in [{header}]"));
        Ok(Threshold {
            table: table.unwrap_or_else(|| "*".to_owned()),
            op: op.ok_or_else(|| missing("op"))?,
            above: above.ok_or_else(|| missing("above"))?,
            decision: decision.ok_or_else(|| missing("decision"))?,
        })
    }

    fn column_rule(
        &self,
        item: &Spanned<DeValue<'_>>,
        header: &str,
    ) -> Result<ColumnRule, PolicyError> {
        let body = self.table(item, &format!("each entry of {header}"))?;
        let (mut name, mut columns, mut tables, mut check, mut decision) =
            (None, None, Vec::new(), None, None);
        for (key, value) in body {
            let k = key.get_ref().as_ref();
            let what = format!("`{k}` in [{header}]");
            match k {
                "name" => name = Some(self.string(value, &what)?),
                "columns" => columns = Some(self.strings(value, &what)?),
                "tables" => tables = self.strings(value, &what)?,
                "check" => {
                    let s = self.string(value, &what)?;
                    check = Some(ColumnCheck::from_name(&s).ok_or_else(|| {
                        self.err(
                            &value.span(),
                            format!("unknown check `{s}` for {what} (expected non_negative, immutable or not_null)"),
                        )
                    })?);
                }
                "decision" => decision = Some(self.decision(value, &what)?),
                other => {
                    return Err(
                        self.err(&key.span(), format!("unknown key `{other}` in [{header}]"))
                    );
                }
            }
        }
        let missing = |k: &str| self.err(&item.span(), format!("missing key `{k}` in [{header}]"));
        let columns = columns.ok_or_else(|| missing("columns"))?;
        if columns.is_empty() {
            return Err(self.err(&item.span(), format!("`columns` in [{header}] is empty")));
        }
        Ok(ColumnRule {
            name: name.ok_or_else(|| missing("name"))?,
            columns,
            tables,
            check: check.ok_or_else(|| missing("check"))?,
            decision: decision.ok_or_else(|| missing("decision"))?,
        })
    }

    fn table<'v, 'i>(
        &self,
        value: &'v Spanned<DeValue<'i>>,
        what: &str,
    ) -> Result<&'v Table<'i>, PolicyError> {
        match value.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be a table, not {}", kind(other)),
            )),
        }
    }

    fn array<'v, 'i>(
        &self,
        value: &'v Spanned<DeValue<'i>>,
        what: &str,
    ) -> Result<&'v [Spanned<DeValue<'i>>], PolicyError> {
        match value.get_ref() {
            DeValue::Array(a) => Ok(a),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be an array, not {}", kind(other)),
            )),
        }
    }

    fn string(&self, value: &Spanned<DeValue<'_>>, what: &str) -> Result<String, PolicyError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref().to_owned()),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be a string, not {}", kind(other)),
            )),
        }
    }

    fn strings(
        &self,
        value: &Spanned<DeValue<'_>>,
        what: &str,
    ) -> Result<Vec<String>, PolicyError> {
        self.array(value, what)?
            .iter()
            .map(|item| self.string(item, what))
            .collect()
    }

    fn boolean(&self, value: &Spanned<DeValue<'_>>, what: &str) -> Result<bool, PolicyError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be a boolean, not {}", kind(other)),
            )),
        }
    }

    fn count(&self, value: &Spanned<DeValue<'_>>, what: &str) -> Result<usize, PolicyError> {
        match value.get_ref() {
            DeValue::Integer(i) => usize::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
                self.err(&value.span(), format!("{what} must be a whole number >= 0"))
            }),
            other => Err(self.err(
                &value.span(),
                format!("{what} must be an integer, not {}", kind(other)),
            )),
        }
    }

    fn decision(&self, value: &Spanned<DeValue<'_>>, what: &str) -> Result<Decision, PolicyError> {
        let s = self.string(value, what)?;
        Decision::from_name(&s).ok_or_else(|| {
            self.err(
                &value.span(),
                format!("unknown decision `{s}` for {what} (expected allow, audit, warn, require_approval or block)"),
            )
        })
    }

    fn resolve(
        &self,
        file: &FileSpec,
        name: &str,
        visiting: &mut Vec<String>,
    ) -> Result<Policy, PolicyError> {
        let Some(spec) = file.profiles.iter().find(|p| p.name == name) else {
            return builtin(name).ok_or_else(|| unknown_profile(file, name));
        };
        if visiting.iter().any(|v| v == name) {
            let line = spec.extends.as_ref().map_or(1, |(_, l)| *l);
            visiting.push(name.to_owned());
            return Err(PolicyError::Config {
                origin: self.origin.to_owned(),
                line,
                message: format!(
                    "profiles extend each other in a cycle: {}",
                    visiting.join(" -> ")
                ),
            });
        }
        visiting.push(name.to_owned());
        let mut policy = match &spec.extends {
            Some((base, _)) if base == name => {
                builtin(name).ok_or_else(|| unknown_profile(file, name))?
            }
            Some((base, line)) => {
                if !BUILTIN_PROFILES.contains(&base.as_str())
                    && !file.profiles.iter().any(|p| &p.name == base)
                {
                    return Err(PolicyError::Config {
                        origin: self.origin.to_owned(),
                        line: *line,
                        message: format!(
                            "`extends` in [profiles.{}]: unknown profile `{base}`",
                            key_text(name)
                        ),
                    });
                }
                self.resolve(file, base, visiting)?
            }
            None => builtin(name).unwrap_or_else(|| Policy::defaults(name, BUILTIN_ORIGIN)),
        };
        visiting.pop();
        policy.rename(name, self.origin);
        if let Some(read_only) = spec.read_only {
            policy.set_read_only(read_only);
        }
        if let Some(ops) = &spec.require_approval_for {
            policy.set_require_approval_for(ops.iter().copied());
        }
        for (rule, decision) in &spec.rules {
            // Fixed rules were refused below `block` while parsing.
            let _ = policy.set_decision(*rule, *decision);
        }
        for t in &spec.thresholds {
            policy.add_threshold(t.clone());
        }
        let mut writes = policy.whole_table_writes();
        if let Some(n) = spec.above_rows {
            writes.above_rows = Some(n);
        }
        if let Some(p) = spec.above_percent {
            writes.above_percent = Some(p);
        }
        policy.set_whole_table_writes(writes);
        for r in &spec.column_rules {
            policy.add_column_rule(r.clone());
        }
        Ok(policy)
    }
}

fn unknown_profile(file: &FileSpec, name: &str) -> PolicyError {
    let mut known: Vec<String> = BUILTIN_PROFILES.iter().map(|p| (*p).to_owned()).collect();
    for p in &file.profiles {
        if !known.contains(&p.name) {
            known.push(p.name.clone());
        }
    }
    PolicyError::UnknownProfile {
        profile: name.to_owned(),
        known,
    }
}

fn parse_op(s: &str) -> Option<Op> {
    match s {
        "insert" => Some(Op::Insert),
        "update" => Some(Op::Update),
        "delete" => Some(Op::Delete),
        _ => None,
    }
}

fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key_text(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        quote(key)
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let items: Vec<String> = items.into_iter().map(quote).collect();
    format!("[{}]", items.join(", "))
}

/// The resolved policy as TOML that reads back to the same policy.
pub(crate) fn render(policy: &Policy) -> String {
    use std::fmt::Write as _;

    let name = key_text(policy.profile());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# shadowdb policy in force: profile {} (from {})",
        quote(policy.profile()),
        policy.origin()
    );
    let _ = writeln!(
        out,
        "# decisions, least strict first: allow < audit < warn < require_approval < block"
    );
    let _ = writeln!(out, "default_profile = {}", quote(policy.profile()));
    let _ = writeln!(out);
    let _ = writeln!(out, "[profiles.{name}]");
    let _ = writeln!(
        out,
        "# every setting is listed below, so this starts from the plain defaults"
    );
    let _ = writeln!(out, "extends = \"dev\"");
    let _ = writeln!(out, "read_only = {}", policy.is_read_only());
    let _ = writeln!(
        out,
        "require_approval_for = {}",
        quote_list(policy.approval_ops().iter().map(|op| op.name()))
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "[profiles.{name}.rules]");
    let width = Rule::ALL.iter().map(|r| r.id().len()).max().unwrap_or(0);
    for rule in Rule::ALL {
        let info = rule.info();
        let value = quote(policy.decision(rule).name());
        let fixed = if info.fixed { "always block: " } else { "" };
        let _ = writeln!(
            out,
            "{:<width$} = {value:<18} # {fixed}{}",
            info.id, info.description
        );
    }
    let writes = policy.whole_table_writes();
    if writes.above_rows.is_some() || writes.above_percent.is_some() {
        let _ = writeln!(out);
        let _ = writeln!(out, "[profiles.{name}.whole_table_writes]");
        if let Some(n) = writes.above_rows {
            let _ = writeln!(out, "above_rows = {n}");
        }
        if let Some(p) = writes.above_percent {
            let _ = writeln!(out, "above_percent = {p}");
        }
    }
    for t in policy.thresholds() {
        let _ = writeln!(out);
        let _ = writeln!(out, "[[profiles.{name}.thresholds]]");
        let _ = writeln!(out, "table = {}", quote(&t.table));
        let _ = writeln!(out, "op = {}", quote(t.op.name()));
        let _ = writeln!(out, "above = {}", t.above);
        let _ = writeln!(out, "decision = {}", quote(t.decision.name()));
    }
    for r in policy.column_rules() {
        let _ = writeln!(out);
        let _ = writeln!(out, "[[profiles.{name}.column_rules]]");
        let _ = writeln!(out, "name = {}", quote(&r.name));
        let _ = writeln!(
            out,
            "columns = {}",
            quote_list(r.columns.iter().map(String::as_str))
        );
        if !r.tables.is_empty() {
            let _ = writeln!(
                out,
                "tables = {}",
                quote_list(r.tables.iter().map(String::as_str))
            );
        }
        let _ = writeln!(out, "check = {}", quote(r.check.name()));
        let _ = writeln!(out, "decision = {}", quote(r.decision.name()));
    }
    let custom: Vec<&str> = policy.statement_rules().iter().map(|r| r.name()).collect();
    if !custom.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "# custom statement rules (Rust): {}",
            custom.join(", ")
        );
    }
    let custom: Vec<&str> = policy.changeset_rule_names();
    if !custom.is_empty() {
        if policy.statement_rules().is_empty() {
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "# custom changeset rules (Rust): {}",
            custom.join(", ")
        );
    }
    out
}
