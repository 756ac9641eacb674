//! `medic chat`: the console mode. No token and no config needed; with a `medic.toml` its
//! endpoints can be checked.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use crate::commands::Services;
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub(super) fn run(_args: Args, config: Option<&Path>, knowledge_dir: Option<&Path>) -> Result<()> {
    let matcher = Arc::new(super::load_matcher(knowledge_dir)?);
    let config = super::config::load(config)?;
    let checker = Some(Arc::new(crate::checks::Checker::new(Arc::new(config))));
    let services = Services::new(matcher, checker);
    let runtime = super::runtime::runtime(super::runtime::Threads::One)?;
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    runtime.block_on(crate::console::run(
        &services,
        stdin.lock(),
        std::io::stdout().lock(),
        prompt,
    ))
}
