//! `shadowdb policy`, and the `--config`/`--profile` arguments of every
//! command that judges SQL: the policy in force and, for `run`, the settings
//! of the same file.

use std::path::PathBuf;

use clap::Args;

use super::settings::Settings;
use super::{Ctx, Exit, Failure};
use crate::config::ConfigFile;
use crate::policy::Policy;

/// Which policy.
#[derive(Debug, Clone, Args)]
pub(super) struct PolicyArgs {
    /// A shadowdb.toml with policy profiles, and for `run` the [audit],
    /// [limits] and [approval] settings (default: the built-in profiles).
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// The profile: dev, staging, prod or one of the file's (default:
    /// $SHADOWDB_PROFILE, else the file's default_profile, else dev).
    #[arg(long, value_name = "NAME")]
    pub(super) profile: Option<String>,
}

/// Loads the policy the arguments name. The file's other settings are
/// checked too, so a misspelt key is found by every command that reads it.
pub(super) fn load(args: &PolicyArgs) -> Result<Policy, Failure> {
    load_with_settings(args).map(|(policy, _)| policy)
}

/// Loads the policy the arguments name and the file's settings of `run`.
pub(super) fn load_with_settings(args: &PolicyArgs) -> Result<(Policy, Settings), Failure> {
    let Some(path) = args.config.as_deref() else {
        let policy = Policy::load(None, args.profile.as_deref())?;
        return Ok((policy, Settings::default()));
    };
    let file = ConfigFile::load(path)?;
    let policy = Policy::from_config(&file, args.profile.as_deref())?;
    let settings = Settings::read(&file)?;
    Ok((policy, settings))
}

pub(super) fn policy(ctx: &mut Ctx<'_, '_>, args: &PolicyArgs) -> Result<Exit, Failure> {
    let policy = load(args)?;
    ctx.out(&policy.render());
    Ok(Exit::Success)
}
