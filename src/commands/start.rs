//! `start`: release init from the exec fifo, then run the poststart hooks (`lifecycle::start`).

use crate::error::Result;
use crate::state::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    crate::lifecycle::start(&c)
}
