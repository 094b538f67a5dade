//! One file per verb: orchestration only. Each returns the process exit code.

pub mod create;
pub mod delete;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

pub fn dispatch(cli: &Cli, command: &Command) -> Result<i32> {
    let root = &cli.root;
    match command {
        Command::Create { id, args } => {
            refuse_systemd(cli)?;
            create::run(root, id, args).map(|_| 0)
        }
        Command::Start { id } => start::run(root, id).map(|_| 0),
        Command::State { id } => state::run(root, id).map(|_| 0),
        Command::Kill { id, signal, all } => {
            kill::run(root, id, signal.as_deref(), *all).map(|_| 0)
        }
        Command::Delete { id, force } => delete::run(root, id, *force).map(|_| 0),
        Command::Run {
            id,
            args,
            detach,
            keep,
        } => {
            refuse_systemd(cli)?;
            run::run(root, id, args, *detach, *keep)
        }
        Command::List { format, quiet } => list::run(root, format, *quiet).map(|_| 0),
        Command::Spec { bundle, rootless } => spec::run(bundle, *rootless).map(|_| 0),
        Command::Exec(args) => exec::run(root, args),
        Command::Ps(_) => not_yet("ps"),
        Command::Pause(_) => not_yet("pause"),
        Command::Resume(_) => not_yet("resume"),
        Command::Update(_) => not_yet("update"),
        Command::Events(_) => not_yet("events"),
        Command::Features(_) => features::run().map(|_| 0),
    }
}

fn refuse_systemd(cli: &Cli) -> Result<()> {
    if cli.systemd_cgroup {
        return Err(Error::msg(
            "--systemd-cgroup: the systemd cgroup driver is not supported by keel yet (use the default cgroupfs driver)",
        ));
    }
    Ok(())
}

fn not_yet(verb: &str) -> Result<i32> {
    Err(Error::msg(format!(
        "`{verb}` is not implemented by keel yet"
    )))
}
