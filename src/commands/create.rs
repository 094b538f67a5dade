use crate::cli::CreateArgs;
use crate::error::Result;
use std::path::Path;

pub fn run(root: &Path, id: &str, args: &CreateArgs) -> Result<()> {
    crate::spawn::create(root, id, &super::create_options(args, true)).map(drop)
}
