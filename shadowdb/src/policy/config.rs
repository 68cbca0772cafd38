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
//! (`shadowdb.toml:6: unknown key `treshold` in [profiles.prod.rules]`).
//!
//! The file is read by [`crate::config`], which checks the shape of all of
//! it; this module checks what the profiles' values mean and resolves a
//! profile. The tables `[audit]`, `[limits]` and `[approval]` hold settings
//! of the `shadowdb` command line (see [`crate::cli`]), which checks their values.

use toml::Spanned;

use super::changeset::{ColumnCheck, ColumnRule, Threshold};
use super::{BUILTIN_PROFILES, DEFAULT_PROFILE, Decision, Policy, PolicyError, Rule};
use crate::config::{
    ColumnRuleFile, ConfigError, ConfigFile, ProfileFile, ThresholdFile, key_text, quote,
};
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

/// A profile of the file, its values checked.
struct ProfileSpec {
    name: String,
    /// The base profile, and the line of `extends`.
    extends: Option<(String, usize)>,
    read_only: Option<bool>,
    require_approval_for: Option<Vec<Op>>,
    rules: Vec<(Rule, Decision)>,
    thresholds: Vec<Threshold>,
    above_rows: Option<u64>,
    above_percent: Option<u8>,
    column_rules: Vec<ColumnRule>,
}

/// The profiles of a file, checked, ready to resolve one.
struct Profiles {
    origin: String,
    default_profile: Option<String>,
    specs: Vec<ProfileSpec>,
}

/// Reads a file and resolves one profile: `profile`, else the file's
/// `default_profile`, else `dev`.
pub(crate) fn from_toml(
    text: &str,
    origin: &str,
    profile: Option<&str>,
) -> Result<Policy, PolicyError> {
    let file = ConfigFile::parse(text, origin)?;
    Profiles::read(&file)?.resolve(profile)
}

/// A problem of the file, as the policy's API has always reported it: by
/// line (the column is for the command line's [`ConfigError`]).
impl From<ConfigError> for PolicyError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Read { path, source } => PolicyError::Read { path, source },
            ConfigError::Invalid {
                origin,
                line,
                column: _,
                message,
            } => PolicyError::Config {
                origin,
                line,
                message,
            },
        }
    }
}

impl Policy {
    /// As [`Policy::load`], from a file [`crate::config`] has read: a wrong
    /// value of a profile is a [`ConfigError`] (with its column), a profile
    /// that cannot be resolved a [`PolicyError`].
    pub(crate) fn from_config(
        file: &ConfigFile,
        profile: Option<&str>,
    ) -> Result<Policy, crate::Error> {
        let profiles = Profiles::read(file)?;
        let env = std::env::var(super::PROFILE_ENV)
            .ok()
            .filter(|p| !p.is_empty());
        Ok(profiles.resolve(profile.or(env.as_deref()))?)
    }
}

impl Profiles {
    /// The profiles of `file`, every value checked.
    fn read(file: &ConfigFile) -> Result<Profiles, ConfigError> {
        let spec = &file.spec;
        let mut specs = Vec::new();
        for (name, body) in &spec.profiles {
            specs.push(profile(file, name, body)?);
        }
        Ok(Profiles {
            origin: file.origin().to_owned(),
            default_profile: spec.default_profile.as_ref().map(|p| p.get_ref().clone()),
            specs,
        })
    }

    /// The profile `profile`, else the file's `default_profile`, else `dev`.
    fn resolve(&self, profile: Option<&str>) -> Result<Policy, PolicyError> {
        let name = profile
            .map(str::to_owned)
            .or_else(|| self.default_profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        let mut visiting = Vec::new();
        self.resolve_named(&name, &mut visiting)
    }

    fn resolve_named(&self, name: &str, visiting: &mut Vec<String>) -> Result<Policy, PolicyError> {
        let Some(spec) = self.specs.iter().find(|p| p.name == name) else {
            return builtin(name).ok_or_else(|| self.unknown_profile(name));
        };
        if visiting.iter().any(|v| v == name) {
            let line = spec.extends.as_ref().map_or(1, |(_, l)| *l);
            visiting.push(name.to_owned());
            return Err(PolicyError::Config {
                origin: self.origin.clone(),
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
                builtin(name).ok_or_else(|| self.unknown_profile(name))?
            }
            Some((base, line)) => {
                if !BUILTIN_PROFILES.contains(&base.as_str())
                    && !self.specs.iter().any(|p| &p.name == base)
                {
                    return Err(PolicyError::Config {
                        origin: self.origin.clone(),
                        line: *line,
                        message: format!(
                            "`extends` in [profiles.{}]: unknown profile `{base}`",
                            key_text(name)
                        ),
                    });
                }
                self.resolve_named(base, visiting)?
            }
            None => builtin(name).unwrap_or_else(|| Policy::defaults(name, BUILTIN_ORIGIN)),
        };
        visiting.pop();
        policy.rename(name, &self.origin);
        apply(&mut policy, spec);
        Ok(policy)
    }

    fn unknown_profile(&self, name: &str) -> PolicyError {
        let mut known: Vec<String> = BUILTIN_PROFILES.iter().map(|p| (*p).to_owned()).collect();
        for p in &self.specs {
            if !known.contains(&p.name) {
                known.push(p.name.clone());
            }
        }
        PolicyError::UnknownProfile {
            profile: name.to_owned(),
            known,
        }
    }
}

/// A profile of the file applied on top of the one it starts from.
fn apply(policy: &mut Policy, spec: &ProfileSpec) {
    if let Some(read_only) = spec.read_only {
        policy.set_read_only(read_only);
    }
    if let Some(ops) = &spec.require_approval_for {
        policy.set_require_approval_for(ops.iter().copied());
    }
    for (rule, decision) in &spec.rules {
        // Fixed rules were refused below `block` while reading.
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
}

/// `[profiles.NAME]`, its values checked.
fn profile(file: &ConfigFile, name: &str, body: &ProfileFile) -> Result<ProfileSpec, ConfigError> {
    let header = format!("profiles.{}", key_text(name));
    let mut spec = ProfileSpec {
        name: name.to_owned(),
        extends: body
            .extends
            .as_ref()
            .map(|e| (e.get_ref().clone(), file.line(e.span().start))),
        read_only: body.read_only,
        require_approval_for: None,
        rules: Vec::new(),
        thresholds: Vec::new(),
        above_rows: None,
        above_percent: None,
        column_rules: Vec::new(),
    };
    if let Some(items) = &body.require_approval_for {
        let what = format!("`require_approval_for` in [{header}]");
        let ops = items.iter().map(|item| {
            parse_op(item.get_ref()).ok_or_else(|| {
                file.error(
                    &item.span(),
                    &format!(
                        "unknown operation `{}` in {what} (expected insert, update or delete)",
                        item.get_ref()
                    ),
                )
            })
        });
        spec.require_approval_for = Some(ops.collect::<Result<_, _>>()?);
    }
    let rules = format!("{header}.rules");
    for (id, decision) in &body.rules {
        spec.rules.push(rule(file, &rules, id, decision)?);
    }
    let thresholds = format!("[{header}.thresholds]");
    for item in &body.thresholds {
        spec.thresholds
            .push(threshold(file, item.get_ref(), &thresholds)?);
    }
    if let Some(writes) = &body.whole_table_writes {
        let what = |k: &str| format!("`{k}` in [{header}.whole_table_writes]");
        if let Some(n) = &writes.above_rows {
            spec.above_rows = Some(file.count(n, &what("above_rows"))?);
        }
        if let Some(p) = &writes.above_percent {
            let what = what("above_percent");
            let percent = file.count(p, &what)?;
            let percent = u8::try_from(percent).ok().filter(|p| *p <= 100);
            spec.above_percent = Some(percent.ok_or_else(|| {
                file.error(&p.span(), &format!("{what} must be between 0 and 100"))
            })?);
        }
    }
    let column_rules = format!("[{header}.column_rules]");
    for item in &body.column_rules {
        spec.column_rules
            .push(column_rule(file, item.get_ref(), &column_rules)?);
    }
    Ok(spec)
}

/// One entry of `[profiles.NAME.rules]`.
fn rule(
    file: &ConfigFile,
    header: &str,
    id: &Spanned<String>,
    decision: &Spanned<String>,
) -> Result<(Rule, Decision), ConfigError> {
    let name = id.get_ref();
    let Some(rule) = Rule::from_id(name) else {
        return Err(file.error(&id.span(), &format!("unknown key `{name}` in [{header}]")));
    };
    let what = format!("`{name}` in [{header}]");
    let d = parse_decision(file, decision, &what)?;
    if rule.info().fixed && d != Decision::Block {
        return Err(file.error(
            &decision.span(),
            &format!("{what}: rule `{name}` is always `block` (fail closed) and cannot be changed"),
        ));
    }
    Ok((rule, d))
}

fn threshold(
    file: &ConfigFile,
    item: &ThresholdFile,
    header: &str,
) -> Result<Threshold, ConfigError> {
    let what = |k: &str| format!("`{k}` in [{header}]");
    let op = parse_op(item.op.get_ref()).ok_or_else(|| {
        file.error(
            &item.op.span(),
            &format!(
                "unknown operation `{}` for {} (expected insert, update or delete)",
                item.op.get_ref(),
                what("op")
            ),
        )
    })?;
    let above = file.count(&item.above, &what("above"))?;
    Ok(Threshold {
        table: item.table.clone().unwrap_or_else(|| "*".to_owned()),
        op,
        above: usize::try_from(above).unwrap_or(usize::MAX),
        decision: parse_decision(file, &item.decision, &what("decision"))?,
    })
}

fn column_rule(
    file: &ConfigFile,
    item: &ColumnRuleFile,
    header: &str,
) -> Result<ColumnRule, ConfigError> {
    let what = |k: &str| format!("`{k}` in [{header}]");
    let check = ColumnCheck::from_name(item.check.get_ref()).ok_or_else(|| {
        file.error(
            &item.check.span(),
            &format!(
                "unknown check `{}` for {} (expected non_negative, immutable or not_null)",
                item.check.get_ref(),
                what("check")
            ),
        )
    })?;
    if item.columns.get_ref().is_empty() {
        return Err(file.error(
            &item.columns.span(),
            &format!("{} is empty", what("columns")),
        ));
    }
    Ok(ColumnRule {
        name: item.name.clone(),
        columns: item.columns.get_ref().clone(),
        tables: item.tables.clone(),
        check,
        decision: parse_decision(file, &item.decision, &what("decision"))?,
    })
}

fn parse_decision(
    file: &ConfigFile,
    value: &Spanned<String>,
    what: &str,
) -> Result<Decision, ConfigError> {
    let s = value.get_ref();
    Decision::from_name(s).ok_or_else(|| {
        file.error(
            &value.span(),
            &format!(
                "unknown decision `{s}` for {what} (expected allow, audit, warn, require_approval or block)"
            ),
        )
    })
}

fn parse_op(s: &str) -> Option<Op> {
    match s {
        "insert" => Some(Op::Insert),
        "update" => Some(Op::Update),
        "delete" => Some(Op::Delete),
        _ => None,
    }
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
    render_limits(&mut out, policy, &name);
    render_custom(&mut out, policy);
    out
}

/// `[whole_table_writes]`, `[[thresholds]]` and `[[column_rules]]` of [`render`].
fn render_limits(out: &mut String, policy: &Policy, name: &str) {
    use std::fmt::Write as _;

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
}

/// The names of the rules written in Rust, as comments of [`render`].
fn render_custom(out: &mut String, policy: &Policy) {
    use std::fmt::Write as _;

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
}
