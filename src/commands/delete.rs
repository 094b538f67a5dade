//! `delete <id> [--force]`: poststop hooks, cgroup removal, state dir removal. A created
//! container is killed and deleted (as runc does); a running or paused one needs --force, which
//! kills every process in its cgroup (thawing a paused one), waits for them and removes the
//! cgroup.

use crate::bail;
use crate::error::Result;
use crate::lifecycle;
use crate::state::{Container, Status};
use std::path::Path;

pub fn run(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(e) if force && e.kind() == crate::error::Kind::ContainerNotFound => {
            // runc: --force on a missing container succeeds (and cleans up a half-made dir).
            crate::state::validate_id(id)?;
            let _ = std::fs::remove_dir_all(root.join(id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    match c.status() {
        Status::Stopped => {}
        Status::Created => lifecycle::kill_and_wait(&c)?,
        _ if force => lifecycle::kill_and_wait(&c)?,
        s => bail!(
            "cannot delete container {id} that is not stopped: {}",
            s.as_str()
        ),
    }
    lifecycle::destroy(&c)
}
