//! `pause <id>` / `resume <id>`: freeze and thaw every process of the container (v1 freezer,
//! v2 cgroup.freeze). As runc: a created or running container can be paused; only a paused one
//! resumed.

use crate::bail;
use crate::error::{Context, Result};
use crate::state::{Container, Status, NOT_RUNNING};
use std::path::Path;

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Created | Status::Running => c.saved.cgroup.freeze(true).context("pause"),
        _ => bail!("{NOT_RUNNING}"),
    }
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Paused => c.saved.cgroup.freeze(false).context("resume"),
        _ => bail!("container not paused"),
    }
}
