#!/bin/sh
# Build the static probe into <repo>/target/probe/<host triple>/release/keel-probe (the repo's
# .cargo/config.toml sets build.target, hence the triple).
set -eu
cd "$(dirname "$0")/../.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --manifest-path integration/probe/Cargo.toml --target-dir target/probe
