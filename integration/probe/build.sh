#!/bin/sh
# Build the static probe into <repo>/target/probe/<host triple>/release/keel-probe (the repo's
# .cargo/config.toml sets build.target, hence the triple, and links it statically).
set -eu
cd "$(dirname "$0")/../.."
cargo build --release --manifest-path integration/probe/Cargo.toml --target-dir target/probe
