//! keel: an OCI container runtime, a drop-in replacement for runc.
//! Parse the command line, dispatch, and report an error exactly once, here.

use keel::{cli, commands, error, log, sys};

use clap::Parser;
use std::io::Write;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            });
        }
    };
    if cli.version {
        println!(
            "keel version {}\ncommit: {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            env!("KEEL_COMMIT"),
            keel::SPEC_VERSION
        );
        return;
    }
    let format = match cli.log_format {
        cli::LogFormat::Text => log::Format::Text,
        cli::LogFormat::Json => log::Format::Json,
    };
    if let Err(e) = log::init(cli.log.as_deref(), format, cli.debug) {
        let _ = writeln!(std::io::stderr(), "{e}");
        std::process::exit(1);
    }
    // Commands that start processes inside containers run from a read-only view of the keel
    // binary (see sys::reexec_from_readonly_mount).
    if matches!(
        cli.command,
        Some(cli::Command::Create { .. } | cli::Command::Run { .. } | cli::Command::Exec(_))
    ) {
        if let Err(e) = sys::reexec_from_readonly_mount() {
            keel::report(&error::Error::from(e).context("re-execute keel from a read-only mount"));
            std::process::exit(1);
        }
    }
    let Some(command) = &cli.command else {
        let _ = writeln!(
            std::io::stderr(),
            "keel: no command given (see `keel --help`)"
        );
        std::process::exit(1);
    };
    let code = match commands::dispatch(&cli, command) {
        Ok(code) => code,
        Err(e) => {
            keel::report(&e);
            1
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
