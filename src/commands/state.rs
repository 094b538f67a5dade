use crate::error::Result;
use crate::state::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let st = c.state_json(c.status(), "");
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(())
}
