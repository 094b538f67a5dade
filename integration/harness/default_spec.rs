//! runc 1.1.5's `runc spec` output, verbatim: the baseline config.json of every test bundle. The
//! same file is what `keel spec` writes (src/spec/default.json), so there is one copy.

pub const RUNC_DEFAULT_SPEC: &str = include_str!("../../src/spec/default.json");
