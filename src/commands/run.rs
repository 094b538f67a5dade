//! `run`: create + start, then (unless --detach) forward signals to init, proxy the terminal when
//! keel allocated it, wait for init, delete the container (unless --keep) and return the
//! process's exit code (128+N for a signal).

use crate::cli::CreateArgs;
use crate::error::Result;
use std::path::Path;

pub fn run(root: &Path, id: &str, args: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let mut phases = crate::log::Phases::start("run");
    let set = crate::foreground::forwarded_signals(detach)?;
    let created = crate::spawn::create(root, id, &super::create_options(args, detach))?;
    let c = &created.container;
    let master = created
        .console
        .as_ref()
        .map(crate::tty::receive_master)
        .transpose();
    let started = master.and_then(|m| crate::lifecycle::start(c).map(|_| m));
    let master = match started {
        Ok(m) => m,
        Err(e) => {
            // `start` may have destroyed the container already (a failed startContainer hook).
            if c.dir.exists() {
                let _ = crate::lifecycle::kill_and_wait(c);
                let _ = crate::lifecycle::destroy(c);
            }
            return Err(e);
        }
    };
    phases.mark("create+start");
    if detach {
        phases.log();
        return Ok(0);
    }
    let code = crate::foreground::wait_for(c.saved.pid, &set, master)?;
    phases.mark("wait for init");
    if !keep {
        crate::lifecycle::destroy(c)?;
        phases.mark("delete");
    }
    phases.log();
    Ok(code)
}
