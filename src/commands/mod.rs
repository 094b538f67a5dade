//! One file per verb: orchestration only. Each returns the process exit code.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::{Cli, Command, CreateArgs};
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
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps::run(root, id, format, ps_args).map(|_| 0),
        Command::Pause { id } => pause::pause(root, id).map(|_| 0),
        Command::Resume { id } => pause::resume(root, id).map(|_| 0),
        Command::Update(args) => update::run(root, args).map(|_| 0),
        Command::Events {
            id,
            stats,
            interval,
        } => events::run(root, id, *stats, interval).map(|_| 0),
        Command::Features => features::run().map(|_| 0),
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

/// The CLI's create flags as the core's options (`detach`: keel returns once it is created).
fn create_options(args: &CreateArgs, detach: bool) -> crate::spawn::CreateOptions<'_> {
    crate::spawn::CreateOptions {
        bundle: &args.bundle,
        console_socket: args.console_socket.as_deref(),
        pid_file: args.pid_file.as_deref(),
        no_pivot: args.no_pivot,
        new_keyring: !args.no_new_keyring,
        preserve_fds: args.preserve_fds,
        detach,
    }
}
