//! `spec [--bundle DIR] [--rootless]`: runc's default config.json, byte for byte.

use crate::bail;
use crate::error::{Context, Result};
use std::path::Path;

const DEFAULT: &str = include_str!("../spec/default.json");
const ROOTLESS: &str = include_str!("../spec/rootless.json");

pub fn run(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    std::fs::write(&path, if rootless { ROOTLESS } else { DEFAULT })
        .with_context(|| format!("write {}", path.display()))
}
